//! Anonymous mode: HIPAA Safe Harbor (45 CFR 164.514(b)(2)) applied to everything shared,
//! with pseudonymous ids so references still resolve.
//!
//! # What is removed or generalised (the 18 identifiers)
//!
//! | Safe Harbor identifier | what we do |
//! |---|---|
//! | names | every HumanName (`name` of Patient, Practitioner, RelatedPerson, `contact`, …) removed; `name` of Organization, Location, Practitioner(Role), CareTeam, Device, HealthcareService, Endpoint, Group, … removed; `Reference.display` removed (it often holds a name) |
//! | geography smaller than a state | every Address reduced to `state`, `country`, `use`, `type` (line, city, district, postalCode, text, period dropped); `Location.position` dropped |
//! | dates (all but the year), ages over 89 | every FHIR date/dateTime/instant string anywhere (periods included) cut to `YYYY`; `birthDate` to `YYYY`, or removed and replaced by an `age-band` extension `90+` when the patient is 90 or older this year; Age quantities over 89 years become `>= 90` |
//! | phone, fax, email | every `telecom` removed |
//! | SSN, MRN, health plan, account, certificate/licence numbers, any other unique number | every `identifier` (and `…Identifier`, e.g. `targetIdentifier`) removed, at any depth |
//! | vehicle and device identifiers | `udiCarrier`, `serialNumber`, `lotNumber`, `distinctIdentifier`, `deviceName` removed |
//! | URLs, IP addresses, emails in other places | `url` outside an extension removed; any other string that contains `://`, `www.`, `@`, or is an IPv4 address is removed (coding `system`s and `meta.profile` are kept: they name code systems, not people) |
//! | biometric ids, full-face photos | `photo` removed; Attachment `data`, `url`, `title` and `hash` removed; `presentedForm` removed |
//! | free text that may hold any of the above | narrative `text.div` replaced by `[narrative removed]`; `note`, `comment`, `description`, `patientInstruction`, `conclusion` (the coded `conclusionCode` stays), `title` removed |
//!
//! Also removed: `meta` except `profile`, `implicitRules`, `Patient.link`, every extension
//! except race, ethnicity, birth sex and data-absent-reason (an extension such as
//! `patient-mothersMaidenName`, `patient-birthPlace` or `geolocation` carries identifiers).
//! Modifier extensions are kept (dropping one could change a resource's meaning) and scrubbed
//! like everything else.
//!
//! # What is kept, and why
//!
//! Codes and their display texts, values and units, statuses, gender, state and country,
//! years, dosage text, CodeableConcept texts and `valueString` results: they are what the
//! clinician needs to read the record, and none is on the Safe Harbor list.
//!
//! Free text that is kept (a Condition coded only by its text, a dosage text, a
//! `valueString`) can still name someone ("relies on caregiver Cindy"): every word of every
//! person's name, every street, city and district, and every named organisation or place in
//! the records the share was selected from is replaced by `[name]` wherever it appears in a
//! kept string. Residual risk: a name that appears nowhere in a structured field cannot be
//! recognised, so the patient is told that anonymous mode removes identifiers from the fields
//! where records keep them, not from every character.

//! # Pseudonymous ids
//!
//! Each resource gets `id` = a UUID made from HMAC-SHA256(per-share key, its original
//! `fullUrl` or `Type/id`), `fullUrl = urn:uuid:<that id>`, and every reference that resolves
//! inside the shared set is rewritten to `urn:uuid:<id>`; one that does not is cut (see
//! [`super::select`]). Contained resources keep their local `#id`s. The key is random per
//! share ([`AnonKey::generate`]), so two shares of the same record cannot be linked by id.

use core::fmt;
use std::collections::HashSet;

use ring::hmac;
use serde_json::{Map, Value};

use super::dates::{is_partial_or_full_date, year_of, year_prefix};
use super::names::{NAMED_TYPES, NameSet, harvest_names, redact_names};
use super::{Records, RecordsError, resolve_in};

/// Extension URL of the age band written when the birth year is withheld (age 90 or more).
pub const AGE_BAND_EXTENSION: &str = "urn:haven:fhir:StructureDefinition:age-band";

const KEPT_EXTENSIONS: &[&str] = &[
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity",
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex",
    "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
    AGE_BAND_EXTENSION,
];

/// Keys removed wherever they appear (and every `…Identifier`, such as `targetIdentifier`).
fn dropped_key(key: &str) -> bool {
    key.ends_with("Identifier")
        || matches!(
            key,
            "identifier"
                | "telecom"
                | "photo"
                | "contact"
                | "note"
                | "comment"
                | "description"
                | "patientInstruction"
                | "conclusion"
                | "title"
                | "alias"
                | "udiCarrier"
                | "serialNumber"
                | "lotNumber"
                | "distinctIdentifier"
                | "deviceName"
                | "data"
                | "hash"
                | "presentedForm"
                | "implicitRules"
                | "position"
                | "link"
                | "fullUrl"
                | "valueAddress"
                | "valueHumanName"
                | "valueContactPoint"
                | "valueIdentifier"
        )
}

/// The per-share secret that makes pseudonymous ids. `Debug` prints `[redacted]`.
#[derive(Clone)]
pub struct AnonKey([u8; 32]);

impl fmt::Debug for AnonKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AnonKey([redacted])")
    }
}

impl AnonKey {
    /// A fresh random key from the operating system. Use one per share.
    pub fn generate() -> Result<Self, RecordsError> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|_| RecordsError::Random)?;
        Ok(Self(key))
    }

    /// A key from given bytes (tests, or a key the caller derived itself).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

/// What anonymisation needs to know about "now".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnonymiseOptions {
    /// The current year, to tell who is 90 or older.
    pub current_year: i64,
}

impl AnonymiseOptions {
    /// Options for a share made at `now` (unix seconds).
    pub fn at(now_unix: i64) -> Self {
        Self {
            current_year: year_of(now_unix),
        }
    }
}

fn pseudonym(key: &hmac::Key, original: &str) -> String {
    let tag = hmac::sign(key, original.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&tag.as_ref()[..16]);
    // Shape it as a version-4, RFC 4122 variant UUID.
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Applies Safe Harbor to `records` (normally the output of [`Records::select`], which it
/// consumes: the anonymous copy is made in place) and returns the anonymous `collection`
/// Bundle. See the module documentation for every rule.
pub fn anonymise(records: Records, key: &AnonKey, options: &AnonymiseOptions) -> Records {
    let key = hmac::Key::new(hmac::HMAC_SHA256, &key.0);
    let Records {
        mut root,
        slots,
        index,
        names,
        ..
    } = records;
    let names = match names {
        Some(names) => names,
        None => {
            let mut names = HashSet::new();
            for slot in &slots {
                if let Some(value) = slot_value(&root, slot.entry) {
                    harvest_names(value, None, &mut names);
                }
            }
            names
        }
    };
    let ids: Vec<String> = slots
        .iter()
        .enumerate()
        .map(|(i, slot)| {
            let original = match (&slot.full_url, &slot.id) {
                (Some(url), _) => url.clone(),
                (None, Some(id)) => format!("{}/{id}", slot.resource_type),
                (None, None) => format!("#{i}"),
            };
            pseudonym(&key, &original)
        })
        .collect();
    let rewrite = |reference: &str| -> Option<String> {
        resolve_in(&index, reference)
            .and_then(|j| ids.get(j))
            .map(|new| format!("urn:uuid:{new}"))
    };
    let ctx = Ctx {
        options,
        names: NameSet::new(&names),
        rewrite: &rewrite,
    };

    let entries = slots
        .iter()
        .enumerate()
        .filter_map(|(i, slot)| {
            let mut resource = take_slot_value(&mut root, slot.entry)?;
            scrub_resource(&mut resource, &ctx);
            let id = ids.get(i)?;
            if let Some(map) = resource.as_object_mut() {
                map.insert("id".into(), Value::from(id.clone()));
            }
            Some((Some(format!("urn:uuid:{id}")), resource))
        })
        .collect();
    Records::collection(entries)
}

fn slot_value(root: &Value, entry: Option<usize>) -> Option<&Value> {
    match entry {
        None => Some(root),
        Some(i) => root.get("entry")?.get(i)?.get("resource"),
    }
}

fn take_slot_value(root: &mut Value, entry: Option<usize>) -> Option<Value> {
    match entry {
        None => Some(core::mem::take(root)),
        Some(i) => Some(core::mem::take(
            root.get_mut("entry")?.get_mut(i)?.get_mut("resource")?,
        )),
    }
}

/// What the walk needs besides the value.
struct Ctx<'a> {
    options: &'a AnonymiseOptions,
    /// Words of the names and places found in the records, to cut out of free text.
    names: NameSet<'a>,
    /// A reference's pseudonymous form, or `None` when it leaves the shared set.
    rewrite: &'a dyn Fn(&str) -> Option<String>,
}

fn removed_narrative() -> Value {
    let mut map = Map::new();
    map.insert("status".into(), Value::from("generated"));
    map.insert(
        "div".into(),
        Value::from("<div xmlns=\"http://www.w3.org/1999/xhtml\">[narrative removed]</div>"),
    );
    Value::Object(map)
}

/// Resource-level rules, then the generic walk.
fn scrub_resource(resource: &mut Value, ctx: &Ctx<'_>) {
    let options = ctx.options;
    let Some(map) = resource.as_object_mut() else {
        return;
    };
    let resource_type = map
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if map.get("text").is_some_and(Value::is_object) {
        map.insert("text".into(), removed_narrative());
    }
    if let Some(Value::Object(meta)) = map.get_mut("meta") {
        meta.retain(|k, _| k == "profile");
        if meta.is_empty() {
            map.remove("meta");
        }
    }
    if NAMED_TYPES.contains(&resource_type.as_str()) || resource_type == "Patient" {
        map.remove("name");
    }
    if resource_type == "Patient"
        && let Some(birth) = map.get("birthDate").and_then(Value::as_str)
    {
        let year: Option<i64> = year_prefix(birth).and_then(|y| y.parse().ok());
        match year {
            Some(y) if options.current_year - y >= 90 => {
                map.remove("birthDate");
                let band = serde_json::json!({"url": AGE_BAND_EXTENSION, "valueString": "90+"});
                match map.get_mut("extension") {
                    Some(Value::Array(ext)) => ext.push(band),
                    _ => {
                        map.insert("extension".into(), Value::Array(vec![band]));
                    }
                }
            }
            Some(y) => {
                map.insert("birthDate".into(), Value::from(format!("{y:04}")));
            }
            None => {
                map.remove("birthDate");
            }
        }
    }
    let _ = scrub(resource, None, ctx);
}

fn is_ipv4(s: &str) -> bool {
    let mut parts = 0;
    for p in s.split('.') {
        parts += 1;
        if parts > 4 || p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    parts == 4
}

fn looks_like_locator(s: &str) -> bool {
    let b = s.as_bytes();
    if !b.iter().any(|&c| matches!(c, b':' | b'@' | b'.')) {
        return false;
    }
    s.contains("://") || s.contains("www.") || s.contains('@') || is_ipv4(s)
}

/// The generic walk. `key` is the key this value sits under in its parent object.
/// Returns whether the parent should remove it.
fn scrub(value: &mut Value, key: Option<&str>, ctx: &Ctx<'_>) -> bool {
    match value {
        Value::String(s) => {
            if is_partial_or_full_date(s) {
                let year = s[..4].to_owned();
                *s = year;
                return false;
            }
            let structural = matches!(
                key,
                Some("system" | "profile" | "reference" | "url" | "resourceType" | "div")
            );
            if structural {
                return false;
            }
            if looks_like_locator(s) {
                return true;
            }
            if let Some(clean) = redact_names(s, &ctx.names) {
                *s = clean;
            }
            false
        }
        Value::Array(items) => {
            let before = items.len();
            if matches!(key, Some("extension")) {
                // Top-level extension URLs are absolute; a complex extension's parts have
                // relative names (`ombCategory`, `text`) and live or die with their parent.
                items.retain(|ext| {
                    ext.get("url")
                        .and_then(Value::as_str)
                        .is_some_and(|u| KEPT_EXTENSIONS.contains(&u) || !u.contains(':'))
                });
            }
            items.retain_mut(|item| !scrub(item, key, ctx));
            before > 0 && items.is_empty()
        }
        Value::Object(map) => {
            let in_extension = matches!(key, Some("extension" | "modifierExtension"));
            // One pass over the keys instead of a lookup per question.
            let (mut resource, mut human, mut coded, mut display, mut reference, mut prefix) =
                (false, false, false, false, false, false);
            for k in map.keys() {
                match k.as_str() {
                    "resourceType" => resource = true,
                    "family" | "given" => human = true,
                    "prefix" => prefix = true,
                    "code" | "system" => coded = true,
                    "display" => display = true,
                    "reference" => reference = true,
                    _ => {}
                }
            }
            if human || (prefix && !coded) {
                // A HumanName.
                return true;
            }
            // A contained resource gets the resource-level rules too.
            if resource && key == Some("contained") {
                scrub_resource_shallow(map);
            }
            if key == Some("address") {
                map.retain(|k, _| matches!(k.as_str(), "state" | "country" | "use" | "type"));
                return !map.contains_key("state") && !map.contains_key("country");
            }
            if reference {
                let mut dangling = false;
                if let Some(Value::String(r)) = map.get_mut("reference")
                    && !r.starts_with('#')
                {
                    match (ctx.rewrite)(r) {
                        Some(new) => *r = new,
                        None => dangling = true,
                    }
                }
                if dangling {
                    map.remove("reference");
                    map.remove("identifier");
                    map.remove("type");
                }
            }
            // A Reference's display often names a person or a place (a Coding's does not).
            if display && !coded {
                map.remove("display");
            }
            if (reference || display) && !coded && map.is_empty() {
                return true;
            }
            if key.is_some_and(|k| k.ends_with("Age")) {
                cap_age(map);
            }
            map.retain(|k, _| !dropped_key(k) && (k != "url" || in_extension));
            let dead: Vec<String> = map
                .iter_mut()
                .filter_map(|(k, child)| {
                    if k == "text" && child.is_object() {
                        // A narrative (resources only have object `text`).
                        *child = removed_narrative();
                        return None;
                    }
                    scrub(child, Some(k), ctx).then(|| k.clone())
                })
                .collect();
            for k in dead {
                map.remove(&k);
            }
            // An extension left with only its url says nothing: drop it.
            in_extension && map.len() <= 1
        }
        _ => false,
    }
}

fn scrub_resource_shallow(map: &mut Map<String, Value>) {
    let resource_type = map
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if NAMED_TYPES.contains(&resource_type.as_str()) || resource_type == "Patient" {
        map.remove("name");
    }
    if let Some(Value::Object(meta)) = map.get_mut("meta") {
        meta.retain(|k, _| k == "profile");
    }
}

/// An Age over 89 years becomes `>= 90`.
fn cap_age(map: &mut Map<String, Value>) {
    let years = matches!(
        map.get("code")
            .or_else(|| map.get("unit"))
            .and_then(Value::as_str),
        Some("a" | "yr" | "year" | "years")
    );
    if years
        && map
            .get("value")
            .and_then(Value::as_f64)
            .is_some_and(|v| v > 89.0)
    {
        map.insert("value".into(), Value::from(90));
        map.insert("comparator".into(), Value::from(">="));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::json;

    use super::super::names::is_human_name;
    use super::super::summary::SectionKind;
    use super::super::tests::{data, load};
    use super::super::{Selector, for_each_reference, summarise};
    use super::*;

    const OPTS: AnonymiseOptions = AnonymiseOptions { current_year: 2026 };

    fn no_rewrite(_: &str) -> Option<String> {
        None
    }

    fn ctx() -> Ctx<'static> {
        static NONE: std::sync::OnceLock<HashSet<String>> = std::sync::OnceLock::new();
        Ctx {
            options: &OPTS,
            names: NameSet::new(NONE.get_or_init(HashSet::new)),
            rewrite: &no_rewrite,
        }
    }

    /// Every identifier the input holds, by the list the brief gives: name parts, address
    /// line/city/postalCode, telecom values, identifier values, birthDate, full dates, URLs
    /// (fullUrls, attachment URLs, references with an id), ids with digits.
    fn identifiers(v: &Value, key: Option<&str>, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(map) => {
                let mut take = |s: &Value| {
                    if let Some(s) = s.as_str() {
                        out.insert(s.to_owned());
                    }
                };
                if is_human_name(map) {
                    for part in ["family", "text"] {
                        map.get(part).map(&mut take);
                    }
                    if let Some(Value::Array(given)) = map.get("given") {
                        given.iter().for_each(&mut take);
                    }
                }
                if key == Some("address") {
                    for part in ["city", "postalCode", "district", "text"] {
                        map.get(part).map(&mut take);
                    }
                    if let Some(Value::Array(lines)) = map.get("line") {
                        lines.iter().for_each(&mut take);
                    }
                }
                if matches!(key, Some("telecom" | "identifier")) {
                    map.get("value").map(&mut take);
                }
                for k in ["birthDate", "fullUrl", "url"] {
                    if k != "url" || key == Some("attachment") {
                        map.get(k).map(&mut take);
                    }
                }
                // Resource ids (a contained resource's local `#id` is no identifier).
                if let Some(Value::String(id)) = map.get("id")
                    && map.contains_key("resourceType")
                    && matches!(key, None | Some("resource"))
                    && id.len() >= 6
                    && id.bytes().any(|b| b.is_ascii_digit())
                {
                    out.insert(id.clone());
                }
                for (k, child) in map {
                    identifiers(child, Some(k), out);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| identifiers(i, key, out)),
            Value::String(s) => {
                if is_partial_or_full_date(s) && s.len() >= 10 {
                    out.insert(s[..10].to_owned());
                }
                if key == Some("reference") && s.contains('/') {
                    out.insert(s.clone());
                }
            }
            _ => {}
        }
    }

    fn anonymous_json(name: &str) -> (String, Records) {
        let records = load(name);
        let all: Vec<Selector> = SectionKind::ALL
            .into_iter()
            .map(Selector::Section)
            .collect();
        let shared = records.select(&all).expect("selects");
        let anon = anonymise(shared, &AnonKey::from_bytes([1; 32]), &OPTS);
        let text = String::from_utf8(anon.to_json_bytes().into_inner()).expect("UTF-8");
        (text, anon)
    }

    #[test]
    fn anonymous_output_contains_none_of_the_input_identifiers() {
        let mut checked = 0;
        for name in [
            "ips-minimal.json",
            "ips-nz-pj.json",
            "synthea-transaction.json",
            "patient-example.json",
            "documentreference-example.json",
            "bundle-collection-diagnosticreport.json",
            "bundle-searchset-pulseox.json",
            "immunization-example.json",
            "medicationrequest0301.json",
        ] {
            let input: Value = serde_json::from_slice(&data(name)).expect("JSON");
            let mut found = BTreeSet::new();
            identifiers(&input, None, &mut found);
            assert!(
                !found.is_empty(),
                "{name}: the input has identifiers to look for"
            );
            let (selected, _) = anonymous_json(name);
            // Also without a selection first (all of it, Composition included).
            let whole = anonymise(load(name), &AnonKey::from_bytes([4; 32]), &OPTS);
            let whole = String::from_utf8(whole.to_json_bytes().into_inner()).expect("UTF-8");
            let output = format!("{selected}\n{whole}");
            for identifier in found.iter().filter(|s| s.chars().count() >= 3) {
                // A short one (an NPI of "520") is looked for as a whole JSON string, else it
                // would be found inside unrelated numbers.
                let needle = if identifier.chars().count() < 6 {
                    format!("\"{identifier}\"")
                } else {
                    identifier.clone()
                };
                assert!(
                    !output.contains(&needle),
                    "{name}: an input identifier ({} chars) is in the anonymous output",
                    identifier.len()
                );
            }
            checked += found.len();
        }
        assert!(checked > 200, "{checked} identifiers checked");
    }

    #[test]
    fn references_still_resolve_with_pseudonymous_ids() {
        for name in [
            "ips-nz-pj.json",
            "synthea-transaction.json",
            "ips-minimal.json",
        ] {
            let (_, anon) = anonymous_json(name);
            let mut count = 0;
            for r in anon.resources() {
                let json = r.json().into_inner().clone();
                let id = json["id"].as_str().expect("an id");
                assert_eq!(id.len(), 36, "a UUID");
                for_each_reference(&json, &mut |reference| {
                    count += 1;
                    assert!(reference.starts_with("urn:uuid:") || reference.starts_with('#'));
                    assert!(reference.starts_with('#') || anon.resolve(reference).is_some());
                });
            }
            assert!(count > 0, "{name}: some references kept");
            let summary = summarise(&anon);
            assert!(!summary.sections.is_empty());
        }
    }

    #[test]
    fn two_shares_do_not_link() {
        let records = load("ips-minimal.json");
        let a = anonymise(records.clone(), &AnonKey::from_bytes([1; 32]), &OPTS);
        let b = anonymise(records.clone(), &AnonKey::from_bytes([2; 32]), &OPTS);
        let ids = |r: &Records| -> BTreeSet<String> {
            r.resources().map(|x| x.key().into_inner()).collect()
        };
        assert!(ids(&a).is_disjoint(&ids(&b)));
        // The same key gives the same ids (consistent inside one share).
        let again = anonymise(records.clone(), &AnonKey::from_bytes([1; 32]), &OPTS);
        assert_eq!(ids(&a), ids(&again));
        assert!(AnonKey::generate().is_ok());
        assert_eq!(
            format!("{:?}", AnonKey::from_bytes([9; 32])),
            "AnonKey([redacted])"
        );
    }

    #[test]
    fn dates_become_years_and_the_very_old_become_90_plus() {
        let (text, _) = anonymous_json("patient-example.json");
        assert!(text.contains("[narrative removed]"));
        let (text, anon) = anonymous_json("ips-minimal.json");
        let patient = anon
            .resources()
            .find(|r| r.resource_type() == "Patient")
            .expect("the patient");
        let birth = patient.json().expose()["birthDate"]
            .as_str()
            .expect("a year");
        assert_eq!(birth.len(), 4);
        assert!(!text.contains("T14:30"), "no times left");

        let old = json!({"resourceType": "Patient", "id": "p", "birthDate": "1930-02-03",
            "deceasedDateTime": "2020-05-06T07:08:09Z",
            "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName", "valueString": "Smith"}]});
        let records = Records::from_value(old, &super::super::Limits::default()).expect("FHIR");
        let anon = anonymise(records.clone(), &AnonKey::from_bytes([3; 32]), &OPTS);
        let json = anon.get(0).expect("patient").json().into_inner().clone();
        assert!(json.get("birthDate").is_none());
        assert_eq!(json["deceasedDateTime"], "2020");
        assert_eq!(
            json["extension"],
            json!([{"url": AGE_BAND_EXTENSION, "valueString": "90+"}])
        );

        let mut age = json!({"onsetAge": {"value": 93, "unit": "years", "system": "http://unitsofmeasure.org", "code": "a"}});
        let _ = scrub(&mut age, None, &ctx());
        assert_eq!(age["onsetAge"]["value"], 90);
        assert_eq!(age["onsetAge"]["comparator"], ">=");
    }

    #[test]
    fn keeps_what_the_clinician_needs() {
        let (text, anon) = anonymous_json("ips-nz-pj.json");
        let summary = summarise(&anon);
        for kind in [
            SectionKind::Problems,
            SectionKind::Medications,
            SectionKind::Allergies,
            SectionKind::Immunizations,
            SectionKind::Results,
        ] {
            assert!(summary.section(kind).is_some(), "{kind:?}");
        }
        assert!(
            text.contains("http://snomed.info/sct"),
            "code systems are kept"
        );
        // Addresses keep at most state and country.
        let mut v = json!({"address": [{"line": ["1 Main St"], "city": "X", "state": "MA", "postalCode": "02101", "country": "US"}]});
        let _ = scrub(&mut v, None, &ctx());
        assert_eq!(v, json!({"address": [{"state": "MA", "country": "US"}]}));
        let mut v = json!({"valueString": "see http://10.0.0.1/x", "ip": "10.0.0.1", "mail": "a@b.c", "system": "http://loinc.org"});
        let _ = scrub(&mut v, None, &ctx());
        assert_eq!(v, json!({"system": "http://loinc.org"}));
    }
}
