//! FHIR records: parse + summarise + select + anonymise a ~1 MB Bundle.
//!
//! The Bundle is the NZ International Patient Summary example (tests/data/fhir/ips-nz-pj.json)
//! repeated with new ids (and references rewritten to match) until it passes 1 MB.
//! Goal: the whole pipeline in at most 20 ms (release).
//!
//! `cargo bench -p haven_share --bench records`

use std::sync::LazyLock;

use haven_share::records::{
    AnonKey, AnonymiseOptions, Limits, Records, SectionKind, Selector, anonymise, parse,
    render_text, summarise,
};
use serde_json::Value;

// The allocator the `haven` binary uses: parsing into a JSON tree is mostly allocation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    divan::main();
}

const NOW: i64 = 1_767_225_600;

/// About 1 MB of real IPS resources with distinct ids.
static BUNDLE: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/fhir/ips-nz-pj.json"
    );
    let source: Value = serde_json::from_slice(&std::fs::read(path).expect("test data is there"))
        .expect("valid JSON");
    let entries = source["entry"].as_array().expect("a Bundle").clone();
    let ids: Vec<String> = entries
        .iter()
        .filter_map(|e| e["resource"]["id"].as_str().map(str::to_owned))
        .collect();
    let template = serde_json::to_string(&entries).expect("serialises");
    let mut all: Vec<Value> = Vec::new();
    let mut size = 0;
    let mut copy = 0;
    while size < 1_000_000 {
        let mut text = template.clone();
        for id in &ids {
            text = text.replace(id.as_str(), &format!("{id}-{copy}"));
        }
        size += text.len();
        let copies: Vec<Value> = serde_json::from_str(&text).expect("still JSON");
        all.extend(copies);
        copy += 1;
    }
    let mut bundle = source;
    bundle["entry"] = Value::Array(all);
    bundle["type"] = Value::from("collection");
    serde_json::to_vec(&bundle).expect("serialises")
});

fn everything() -> Vec<Selector> {
    SectionKind::ALL
        .into_iter()
        .map(Selector::Section)
        .collect()
}

/// What the patient's side runs for `haven records show FILE --anonymous --json` on the whole
/// file: parse, summarise (and render), anonymise everything, write the Bundle to send.
/// (`anonymise` keeps references consistent by itself, so sharing everything needs no
/// selection step.)
#[divan::bench(sample_count = 30)]
fn pipeline(bencher: divan::Bencher<'_, '_>) {
    let bytes = &*BUNDLE;
    let key = AnonKey::from_bytes([7; 32]);
    bencher
        .counter(divan::counter::BytesCount::new(bytes.len()))
        .bench(|| {
            let records = parse(bytes, &Limits::default()).expect("parses");
            let text = render_text(&summarise(&records));
            let anon = anonymise(records, &key, &AnonymiseOptions::at(NOW));
            (text, anon.to_json_bytes())
        });
}

/// The same with the patient's selection in between (here: every section), as
/// `prepare_share` does it: the selection copies what it keeps.
#[divan::bench(sample_count = 30)]
fn pipeline_with_selection(bencher: divan::Bencher<'_, '_>) {
    let bytes = &*BUNDLE;
    let key = AnonKey::from_bytes([7; 32]);
    bencher
        .counter(divan::counter::BytesCount::new(bytes.len()))
        .bench(|| {
            let records = parse(bytes, &Limits::default()).expect("parses");
            let text = render_text(&summarise(&records));
            let shared = records.select(&everything()).expect("selects");
            let anon = anonymise(shared, &key, &AnonymiseOptions::at(NOW));
            (text, anon.to_json_bytes())
        });
}

#[divan::bench(sample_count = 30)]
fn parse_only(bencher: divan::Bencher<'_, '_>) {
    let bytes = &*BUNDLE;
    bencher.bench(|| parse(bytes, &Limits::default()).expect("parses"));
}

#[divan::bench(sample_count = 30)]
fn summarise_only(bencher: divan::Bencher<'_, '_>) {
    let records = parse(&BUNDLE, &Limits::default()).expect("parses");
    bencher.bench(|| render_text(&summarise(&records)));
}

#[divan::bench(sample_count = 30)]
fn select_and_anonymise(bencher: divan::Bencher<'_, '_>) {
    let records = parse(&BUNDLE, &Limits::default()).expect("parses");
    let key = AnonKey::from_bytes([7; 32]);
    bencher.bench(|| {
        let shared: Records = records.select(&everything()).expect("selects");
        anonymise(shared, &key, &AnonymiseOptions::at(NOW)).to_json_bytes()
    });
}

#[divan::bench(sample_count = 30)]
fn select_only(bencher: divan::Bencher<'_, '_>) {
    let records = parse(&BUNDLE, &Limits::default()).expect("parses");
    bencher.bench(|| records.select(&everything()).expect("selects"));
}

#[divan::bench(sample_count = 30)]
fn anonymise_only(bencher: divan::Bencher<'_, '_>) {
    let records = parse(&BUNDLE, &Limits::default()).expect("parses");
    let shared = records.select(&everything()).expect("selects");
    let key = AnonKey::from_bytes([7; 32]);
    bencher
        .with_inputs(|| shared.clone())
        .bench_values(|shared| anonymise(shared, &key, &AnonymiseOptions::at(NOW)));
}

#[divan::bench(sample_count = 30)]
fn write_json_only(bencher: divan::Bencher<'_, '_>) {
    let records = parse(&BUNDLE, &Limits::default()).expect("parses");
    bencher.bench(|| records.to_json_bytes());
}
