//! Any bytes as FHIR R4 JSON: records or a typed error; what reads also summarises,
//! anonymises and writes without a panic.
#![no_main]

use haven_share::records::{self, AnonKey, AnonymiseOptions, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = records::parse(data, &Limits::default()) {
        let _ = records::render_text(&records::summarise(&parsed));
        let key = AnonKey::generate().expect("randomness");
        let anonymous = records::anonymise(parsed, &key, &AnonymiseOptions::at(1_700_000_000));
        let _ = anonymous.to_json_bytes();
    }
});
