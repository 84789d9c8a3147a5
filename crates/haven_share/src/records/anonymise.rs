//! Anonymous mode: HIPAA Safe Harbor (45 CFR 164.514(b)(2)) applied to everything shared,
//! with pseudonymous ids so references still resolve.
//!
//! Safe Harbor asks that each of 18 kinds of identifier go wherever it appears, so the rules
//! below are general: by shape (any Identifier, HumanName, Address or ContactPoint, under any
//! key), by key name (any key that names an identifier: `…Identifier`, `…Id`, `…Ref`,
//! `…Number`, `uid`, …), and in every string that is kept (free text is searched, see the
//! last rows). Codes (`code`, `system`, `version`, `unit`) are never rewritten.
//!
//! # What is removed or generalised (the 18 identifiers)
//!
//! | Safe Harbor (b)(2)(i) | where it appears | what we do |
//! |---|---|---|
//! | (A) names | `name` of Patient and of every resource in `NAMED_TYPES` (Practitioner, RelatedPerson, Organization, Location, Device, …); any HumanName (an object with `family`/`given`/`prefix`, or `text` under a `…name` key) at any depth; `Reference.display`; `Annotation.authorString`; `contact` | removed |
//! | (A) names in free text | every kept string | every word of every name, street, city and named place in the records ([`super::names`]) and every capitalised word after a title (`Dr Smith`, `Mrs. J. Doe`) becomes `[name]` |
//! | (B) geography smaller than a state | any Address (under `address`, `…Address` such as `Claim.accident.locationAddress`, or any object shaped like one) | reduced to `state`, `country`, `use`, `type`; a string `address` (Endpoint, AuditEvent network) removed; `Location.position` removed |
//! | (C) dates but the year | every FHIR date/dateTime/instant string (periods included) | cut to `YYYY` |
//! | (C) dates in free text | `3/4/2019`, `03-04-2019`, `12.04.19`, `2019/03/04`, `2019-03-04T10:00Z`, `03/2019`, `4 March 2019`, `March 4, 2019`, `Feb 12th 2009`, `04-MAR-2019`, `in March` | the year, or `[date]` when none is written |
//! | (C) ages over 89 | `birthDate` (any resource); Age quantities (`…Age`, `valueQuantity` in years); free text (`aged 93`, `93-year-old`, `93 yo`) | birth year removed and an `age-band` extension `90+` added when 90 or older this year; Age values become `>= 90`; `90+` in text |
//! | (D) telephone, (E) fax, (F) email | `telecom`, any ContactPoint (an object whose `system` is `phone`, `fax`, `email`, …), `valueContactPoint` | removed |
//! | (D)–(F) in free text | `021 555 0199`, `(09) 555-0123`, `+64 21 555 0147`, `h.q@example.net`, `phone: …` | `[number]`, `[phone]`, `[email]` |
//! | (G) SSN, (H) MRN, (I) health plan beneficiary, (J) account, (K) certificate/licence numbers, (R) any other unique number or code | every `identifier`, every `…Identifier` (`masterIdentifier`, `preAdmissionIdentifier`, `Device.udiCarrier.deviceIdentifier`), every Identifier-shaped object under any key (`Claim.related.reference`, `Claim.insurance.identifier`, `Coverage.class`); string values of keys ending `Id` (`Coverage.subscriberId`, `MolecularSequence.repository.datasetId`; not `linkId`), `Ref` (`Claim.insurance.preAuthRef`, `ClaimResponse.preAuthRef`, `ExplanationOfBenefit.insurance.preAuthRef`) or `Number` (not `modelNumber`, which names a product); `Coverage.dependent`, `businessArrangement`, any key containing `accession`, `serial` or `licen[cs]e` | removed |
//! | (G)–(K), (R) in free text | `SSN 123-45-6789`, `MRN 884422`, `MRN#884422`, `policy no. KM-7731`, `NHI ZZZ0016`, numbers of 7 or more digits and dotted OIDs/UIDs (`2.25.3141…`) | `[id]`, `[number]` (a number followed by a unit, such as `1 250 000 copies/mL`, stays) |
//! | (L) vehicle identifiers | free text only (`VIN …`, `plate …`) | `[id]` |
//! | (M) device identifiers and serial numbers | `udiCarrier`, `serialNumber`, `lotNumber`, `distinctIdentifier`, `deviceName`; ImagingStudy `identifier` (study UID, accession) and `uid` of every series and instance (any `uid`, `…Uid`, `…UID`) | removed (the SOP class, a code, stays) |
//! | (N) URLs, (O) IP addresses | `url` outside an extension; any string that is only a URL, email or IPv4 address; inside other free text | removed; `[url]`, `[email]`, `[ip]` (coding `system`s and `meta.profile` are kept: they name code systems, not people) |
//! | (P) biometric identifiers, (Q) full-face photographs | `photo`; Attachment `data`, `url`, `title`, `hash`; `presentedForm` | removed |
//! | free text that may hold any of the above | narrative `text.div`; `note`, `comment`, `description`, `patientInstruction`, `conclusion` (the coded `conclusionCode` stays), `title` | narrative replaced by `[narrative removed]`; the others removed |
//!
//! Also removed: `meta` except `profile`, `implicitRules`, `Patient.link`, every extension
//! except race, ethnicity, birth sex and data-absent-reason (an extension such as
//! `patient-mothersMaidenName`, `patient-birthPlace` or `geolocation` carries identifiers).
//! Modifier extensions are kept (dropping one could change a resource's meaning) and scrubbed
//! like everything else. An object left empty is removed.
//!
//! The anonymous Bundle carries the security label `ANONYED` (HL7 v3 ObservationValue,
//! "anonymized") in its `meta` ([`Records::is_anonymised`]); the share's Consent, built from
//! it, then gives its dates as years only (see [`super::consent`]).
//!
//! # What is kept, and why
//!
//! Codes and their display texts, values and units, statuses, gender, state and country,
//! years, dosage text, CodeableConcept texts and `valueString` results: they are what the
//! clinician needs to read the record, and none is on the Safe Harbor list. Free text that is
//! kept loses what the free-text rows above find, and keeps the rest: `5.4 mmol/L`,
//! `2 x 500 mg`, `BP 128/82`, a ratio `3/4` and a year all stay.
//!
//! Residual risk: free text is searched by pattern, so a name that appears nowhere in a
//! structured field and follows no title, a street written out in a note, or an identifier of
//! fewer than 7 digits with no word such as `MRN` before it cannot be recognised. The patient
//! is told that anonymous mode removes identifiers from the fields where records keep them
//! and the patterns above, not from every character.

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

use super::dates::{find_dates, is_partial_or_full_date, year_of, year_prefix};
use super::names::{
    Found, Kind, NAMED_TYPES, NameSet, Tok, find_names, find_titled_names, gap, harvest_names,
    tokens,
};
use super::{Records, RecordsError, resolve_in};

/// Extension URL of the age band written when the birth year is withheld (age 90 or more).
pub const AGE_BAND_EXTENSION: &str = "urn:haven:fhir:StructureDefinition:age-band";

/// The code system of the security label on an anonymous Bundle.
const SECURITY_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";
/// The security label on an anonymous Bundle: "anonymized".
const ANONYMISED: &str = "ANONYED";

const KEPT_EXTENSIONS: &[&str] = &[
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity",
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex",
    "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
    AGE_BAND_EXTENSION,
];

/// Keys removed wherever they appear, whatever they hold.
const DROPPED_KEYS: &[&str] = &[
    "identifier",
    "telecom",
    "photo",
    "contact",
    "note",
    "comment",
    "description",
    "patientInstruction",
    "conclusion",
    "title",
    "alias",
    "udiCarrier",
    "serialNumber",
    "lotNumber",
    "distinctIdentifier",
    "deviceName",
    "data",
    "hash",
    "presentedForm",
    "implicitRules",
    "position",
    "link",
    "fullUrl",
    "valueAddress",
    "valueHumanName",
    "valueContactPoint",
    "valueIdentifier",
    "authorString",
    "dependent",
    "businessArrangement",
    "uid",
];

/// Whether `key` contains `needle` (ASCII lower case), ignoring ASCII case.
fn contains_ignore_case(key: &str, needle: &str) -> bool {
    key.as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// A string, or a non-empty array of strings.
fn is_stringy(value: &Value) -> bool {
    match value {
        Value::String(_) => true,
        Value::Array(items) => !items.is_empty() && items.iter().all(Value::is_string),
        _ => false,
    }
}

/// Whether the entry `key: value` of an object is removed (see the module's table, rows G–M).
fn dropped(key: &str, value: &Value) -> bool {
    if DROPPED_KEYS.contains(&key)
        || key.ends_with("Identifier")
        || key.ends_with("Uid")
        || key.ends_with("UID")
        || contains_ignore_case(key, "accession")
        || contains_ignore_case(key, "serial")
        || contains_ignore_case(key, "licence")
        || contains_ignore_case(key, "license")
    {
        return true;
    }
    // A string under a key that names an identifier: `subscriberId`, `preAuthRef`,
    // `…Number`. (An object there, such as MolecularSequence's coded `referenceSeqId`, is a
    // code and is walked like any other.)
    is_stringy(value)
        && ((key.ends_with("Id") && key != "linkId")
            || key.ends_with("Ref")
            || (key.ends_with("Number") && key != "modelNumber"))
}

/// An Identifier (or Coverage.class) under any key: a string `value` with a `system`, `type`,
/// `use` or `assigner`, and nothing an Identifier does not have.
fn is_identifier(map: &Map<String, Value>) -> bool {
    map.get("value").is_some_and(Value::is_string)
        && ["system", "type", "use", "assigner"]
            .iter()
            .any(|k| map.contains_key(*k))
        && map.keys().all(|k| {
            matches!(
                k.as_str(),
                "id" | "extension"
                    | "use"
                    | "type"
                    | "system"
                    | "value"
                    | "period"
                    | "assigner"
                    | "name"
            )
        })
}

/// A ContactPoint under any key.
fn is_contact_point(map: &Map<String, Value>) -> bool {
    map.contains_key("value")
        && matches!(
            map.get("system").and_then(Value::as_str),
            Some("phone" | "fax" | "email" | "pager" | "url" | "sms" | "other")
        )
}

/// An Address under any key: one of its street-level parts, and nothing it does not have.
fn is_address(map: &Map<String, Value>) -> bool {
    ["line", "city", "district", "postalCode"]
        .iter()
        .any(|k| map.contains_key(*k))
        && map.keys().all(|k| {
            matches!(
                k.as_str(),
                "id" | "extension"
                    | "use"
                    | "type"
                    | "text"
                    | "line"
                    | "city"
                    | "district"
                    | "state"
                    | "postalCode"
                    | "country"
                    | "period"
            )
        })
}

fn address_key(key: &str) -> bool {
    key == "address" || key.ends_with("Address")
}

/// A HumanName with only a `text` (or `use`, `period`) under a `name` key.
fn is_text_name(key: &str, map: &Map<String, Value>) -> bool {
    (key == "name" || key.ends_with("Name"))
        && map.contains_key("text")
        && map.keys().all(|k| {
            matches!(
                k.as_str(),
                "id" | "extension" | "use" | "text" | "suffix" | "period"
            )
        })
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

impl Records {
    /// Whether these records are the output of [`anonymise`] (their Bundle carries the
    /// security label `ANONYED`). A Consent built for them gives years only.
    pub fn is_anonymised(&self) -> bool {
        self.root
            .get("meta")
            .and_then(|m| m.get("security"))
            .and_then(Value::as_array)
            .is_some_and(|labels| {
                labels.iter().any(|l| {
                    l.get("system").and_then(Value::as_str) == Some(SECURITY_SYSTEM)
                        && l.get("code").and_then(Value::as_str) == Some(ANONYMISED)
                })
            })
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
/// Bundle, labelled `ANONYED`. See the module documentation for every rule.
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
    let mut anonymous = Records::collection(entries);
    if let Some(bundle) = anonymous.root.as_object_mut() {
        let label = serde_json::json!({"security": [{
            "system": SECURITY_SYSTEM,
            "code": ANONYMISED,
            "display": "anonymized",
        }]});
        // `meta` sits after `resourceType` in FHIR's element order.
        let mut ordered = Map::new();
        for (k, v) in core::mem::take(bundle) {
            let after = k == "resourceType";
            ordered.insert(k, v);
            if after {
                ordered.insert("meta".into(), label.clone());
            }
        }
        *bundle = ordered;
    }
    anonymous
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
    let Some(map) = resource.as_object_mut() else {
        return;
    };
    if map.get("text").is_some_and(Value::is_object) {
        map.insert("text".into(), removed_narrative());
    }
    scrub_resource_shallow(map, ctx.options);
    let _ = scrub(resource, None, ctx);
}

/// The rules for a whole resource (top-level or contained): its `name` when it names someone
/// or something, `meta`, and `birthDate` (year, or the 90+ band).
fn scrub_resource_shallow(map: &mut Map<String, Value>, options: &AnonymiseOptions) {
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
        if meta.is_empty() {
            map.remove("meta");
        }
    }
    if let Some(birth) = map.get("birthDate").and_then(Value::as_str) {
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
}

/// What happens to a kept string.
#[derive(Debug, PartialEq, Eq)]
enum Text {
    /// Nothing in it to remove.
    Unchanged,
    /// Parts replaced.
    Changed(String),
    /// It was only a locator (URL, email, IP address): remove it.
    Removed,
}

/// Free text with every Safe Harbor identifier the patterns find replaced (the table's
/// free-text rows). Earlier finders win where two overlap.
fn redact_text(s: &str, ctx: &Ctx<'_>) -> Text {
    let mut found = Vec::new();
    let toks = tokens(s);
    find_locators(s, &toks, &mut found);
    if !found.is_empty() {
        let mut rest = s.to_owned();
        for f in found.iter().rev() {
            if rest.is_char_boundary(f.start) && rest.is_char_boundary(f.end) {
                rest.replace_range(f.start..f.end, "");
            }
        }
        if !rest.chars().any(char::is_alphanumeric) {
            return Text::Removed;
        }
    }
    let mut r = Redactor::new(s, toks);
    r.add(found);
    r.step(find_dates);
    r.step(find_keyed_ids);
    r.step(find_numbers);
    r.step(find_old_ages);
    r.step(find_titled_names);
    r.step(|s, _, out| find_names(s, &ctx.names, out));
    match r.finish() {
        Some(s) => Text::Changed(s),
        None => Text::Unchanged,
    }
}

/// Collects what the finders find in one string, each finder seeing the string with what
/// the ones before it found blanked out (`_`), so no two findings overlap.
struct Redactor<'s> {
    original: &'s str,
    masked: Option<String>,
    found: Vec<Found>,
    /// The tokens of the masked text, until something more is masked.
    toks: Option<Vec<Tok>>,
}

impl<'s> Redactor<'s> {
    fn new(original: &'s str, toks: Vec<Tok>) -> Self {
        Self {
            original,
            masked: None,
            found: Vec::new(),
            toks: Some(toks),
        }
    }

    fn add(&mut self, found: Vec<Found>) {
        for f in found {
            let text = self.masked.as_deref().unwrap_or(self.original);
            let fits = f.start < f.end
                && f.end <= text.len()
                && text.is_char_boundary(f.start)
                && text.is_char_boundary(f.end)
                && !self
                    .found
                    .iter()
                    .any(|g| f.start < g.end && g.start < f.end);
            if !fits {
                continue;
            }
            let masked = self.masked.get_or_insert_with(|| self.original.to_owned());
            masked.replace_range(f.start..f.end, &"_".repeat(f.end - f.start));
            self.found.push(f);
            self.toks = None;
        }
    }

    fn step(&mut self, finder: impl FnOnce(&str, &[Tok], &mut Vec<Found>)) {
        let text = self.masked.as_deref().unwrap_or(self.original);
        let toks = self.toks.get_or_insert_with(|| tokens(text));
        let mut found = Vec::new();
        finder(text, toks, &mut found);
        self.add(found);
    }

    fn finish(mut self) -> Option<String> {
        if self.found.is_empty() {
            return None;
        }
        self.found.sort_by_key(|f| f.start);
        let mut out = String::with_capacity(self.original.len());
        let mut copied = 0;
        for f in &self.found {
            out.push_str(&self.original[copied..f.start]);
            out.push_str(&f.with);
            copied = f.end;
        }
        out.push_str(&self.original[copied..]);
        Some(out)
    }
}

/// Where a URL, an email address or a host name that started at `start` ends.
fn locator_end(s: &str, start: usize) -> usize {
    let len = s[start..]
        .find(|c: char| c.is_whitespace() || matches!(c, '"' | '<' | '>' | '\'' | '`'))
        .unwrap_or(s.len() - start);
    let mut end = start + len;
    while end > start && s[..end].ends_with(['.', ',', ';', ':', ')', ']', '!', '?']) {
        end -= 1;
    }
    end
}

/// URLs (`scheme://…`, `www.…`), email addresses and IPv4 addresses in free text.
fn find_locators(s: &str, toks: &[Tok], out: &mut Vec<Found>) {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(at) = s[from..].find("://").map(|at| at + from) {
        let mut start = at;
        while start > 0
            && (b[start - 1].is_ascii_alphanumeric() || matches!(b[start - 1], b'+' | b'.' | b'-'))
        {
            start -= 1;
        }
        let end = locator_end(s, at + 3).max(at + 3);
        out.push(Found::new(start, end, "[url]"));
        from = end;
    }
    let mut from = 0;
    while let Some(at) = s[from..].find("www.").map(|at| at + from) {
        let end = locator_end(s, at).max(at + 4);
        if at == 0 || !b[at - 1].is_ascii_alphanumeric() {
            out.push(Found::new(at, end, "[url]"));
        }
        from = end;
    }
    for (at, _) in s.match_indices('@') {
        let local =
            |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-');
        let start = at - b[..at].iter().rev().take_while(|c| local(c)).count();
        let domain = b[at + 1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-'))
            .count();
        let mut end = at + 1 + domain;
        while end > at + 1 && b[end - 1] == b'.' {
            end -= 1;
        }
        if start < at && s[at + 1..end].contains('.') {
            out.push(Found::new(start, end, "[email]"));
        }
    }
    // IPv4: four numbers of up to three digits joined by dots, and no more.
    for i in 0..toks.len().saturating_sub(3) {
        let quad = &toks[i..i + 4];
        let dotted = (1..4).all(|k| gap(s, toks, i + k) == ".");
        let octets = quad
            .iter()
            .all(|t| t.len() <= 3 && t.number(s).is_some_and(|n| n <= 255));
        let alone = (i == 0 || !matches!(gap(s, toks, i), "." | "-"))
            && (i + 4 >= toks.len() || !matches!(gap(s, toks, i + 4), "." | "-"));
        if dotted && octets && alone {
            out.push(Found::new(quad[0].start, quad[3].end, "[ip]"));
        }
    }
}

/// Words after which a number is an identifier, with how many digits it needs to be taken
/// (2 after a word that only names identifiers, 3 after a general one, 5 after a phone word,
/// so `pH 7.35` stays).
fn id_keyword(word: &str) -> Option<(usize, &'static str)> {
    if word.len() > 13 {
        return None;
    }
    let lower = word.to_ascii_lowercase();
    match lower.as_str() {
        "mrn" | "ssn" | "sin" | "nhi" | "nhs" | "medicare" | "medicaid" | "mbi" | "hicn"
        | "passport" | "licence" | "license" | "lic" | "serial" | "sn" | "lot" | "batch"
        | "udi" | "uid" | "oid" | "accession" | "acc" | "acct" | "account" | "policy"
        | "member" | "subscriber" | "beneficiary" | "claim" | "vin" | "plate" | "rego"
        | "registration" | "certificate" | "cert" | "npi" | "dea" | "ird" | "tin" | "ein"
        | "chart" | "record" | "insurance" | "preauth" | "authorisation" | "authorization"
        | "auth" | "voucher" => Some((2, "[id]")),
        "id" | "ids" | "identifier" | "number" | "num" | "nr" | "no" => Some((3, "[id]")),
        "phone" | "tel" | "telephone" | "ph" | "fax" | "mobile" | "mob" | "cell" | "pager"
        | "call" | "text" | "ring" | "contact" => Some((5, "[phone]")),
        _ => None,
    }
}

/// Whether the gap `g` may join two parts of one number or code.
fn joins(g: &str, both_numbers: bool) -> bool {
    match g {
        "" | "-" | "/" | "." => true,
        " " | ") " | ")" | " (" | "(" | " - " | ")-" => both_numbers,
        _ => false,
    }
}

/// The tokens from `i` that make one number or code (`KM-7731-2048`, `021 555 0199`,
/// `(09) 555-0123`): the last token's index.
fn code_run(s: &str, toks: &[Tok], i: usize) -> usize {
    let mut j = i;
    while let Some(next) = toks.get(j + 1) {
        let both = toks[j].kind == Kind::Num && next.kind == Kind::Num;
        if !joins(gap(s, toks, j + 1), both) {
            break;
        }
        j += 1;
    }
    j
}

fn digits_in(s: &str, toks: &[Tok], from: usize, to: usize) -> usize {
    toks[from..=to]
        .iter()
        .filter(|t| t.kind == Kind::Num)
        .map(|t| t.text(s).len())
        .sum()
}

/// A decimal or a range of decimals (`3.5-5.0`), not an identifier.
fn decimalish(s: &str, toks: &[Tok], from: usize, to: usize) -> bool {
    toks[from..=to].iter().all(|t| t.kind == Kind::Num)
        && (from + 1..=to).any(|j| gap(s, toks, j) == ".")
        && (from + 1..=to).all(|j| matches!(gap(s, toks, j), "." | "-"))
        && digits_in(s, toks, from, to) < 7
}

/// Where a found number starts: with the `+` or `(` written just before it.
fn with_prefix(s: &str, start: usize) -> usize {
    if s[..start].ends_with(['+', '(']) {
        start - 1
    } else {
        start
    }
}

/// An identifier after a word that says what it is: `MRN 884422`, `MRN#884422`,
/// `SSN: 123-45-6789`, `policy no. KM-7731-2048`, `phone (09) 555-0123`. The word stays.
fn find_keyed_ids(s: &str, toks: &[Tok], out: &mut Vec<Found>) {
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        let keyword = match t.kind {
            Kind::Word => id_keyword(t.text(s)),
            Kind::Num => None,
        };
        // `#884422`: a hash sign before a number is a general keyword.
        let hashed = t.kind == Kind::Num && s[..t.start].ends_with('#');
        let (min_digits, with, mut j) = match (keyword, hashed) {
            (Some((min, with)), _) => {
                // `no` only as `no.`, `no:` or `no#`.
                if t.text(s).eq_ignore_ascii_case("no") && !s[t.end..].starts_with(['.', ':', '#'])
                {
                    i += 1;
                    continue;
                }
                (min, with, i + 1)
            }
            (None, true) => (3, "[id]", i),
            (None, false) => {
                i += 1;
                continue;
            }
        };
        if !hashed {
            // Skip further keywords (`medical record number is 884422`), then the value.
            while let Some(next) = toks.get(j) {
                let g = gap(s, toks, j);
                let ok_gap = g.len() <= 3
                    && g.bytes().all(|b| {
                        matches!(b, b' ' | b':' | b'#' | b'.' | b'=' | b'-' | b'(' | b'+')
                    });
                if !ok_gap {
                    j = toks.len();
                    break;
                }
                let filler = next.kind == Kind::Word
                    && (id_keyword(next.text(s)).is_some()
                        || next.text(s).eq_ignore_ascii_case("is"))
                    && !(toks.get(j + 1).is_some() && gap(s, toks, j + 1).is_empty());
                if !filler {
                    break;
                }
                j += 1;
            }
        }
        let Some(&first) = toks.get(j) else {
            i += 1;
            continue;
        };
        let last = code_run(s, toks, j);
        let digits = digits_in(s, toks, j, last);
        // After a general word (`number 300 mg`), a measurement is no identifier.
        let measured = min_digits > 2 && unit_follows(s, toks[last].end);
        if digits >= min_digits && !decimalish(s, toks, j, last) && !measured {
            out.push(Found::new(
                with_prefix(s, first.start),
                toks[last].end,
                with,
            ));
            i = last + 1;
        } else {
            i += 1;
        }
    }
}

/// Words that say the number before them is a measurement, not an identifier.
const UNITS: &[&str] = &[
    "x", "copies", "copy", "cells", "cell", "iu", "u", "units", "unit", "mg", "g", "mcg", "ug",
    "µg", "ng", "pg", "kg", "ml", "l", "dl", "mmol", "umol", "µmol", "nmol", "pmol", "mol", "meq",
    "cfu", "per", "bpm", "mmhg", "cm", "mm", "m", "km", "kcal", "cal", "steps", "times", "tablets",
    "tabs", "doses", "k", "mu", "miu", "ms", "s", "min", "h", "hr", "hours", "days",
];

fn unit_follows(s: &str, end: usize) -> bool {
    let rest = s[end..].trim_start();
    if rest.starts_with(['/', '%', '^', '*', '\u{d7}']) {
        return true;
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_alphabetic())
        .collect::<String>()
        .to_lowercase();
    UNITS.contains(&word.as_str())
}

/// Numbers that are identifiers by their shape, with no word before them: 7 or more digits in
/// a row, a phone number (groups of digits, the last of 3 or more, 7 to 15 digits in all:
/// `021 555 0199`, `(09) 555-0123`, `123-45-6789`), or a dotted OID/UID of 7 or more digits.
/// A number followed by a unit stays (`1 250 000 copies/mL`).
fn find_numbers(s: &str, toks: &[Tok], out: &mut Vec<Found>) {
    let mut i = 0;
    while i < toks.len() {
        if toks[i].kind != Kind::Num {
            i += 1;
            continue;
        }
        let mut last = i;
        while toks.get(last + 1).is_some_and(|t| t.kind == Kind::Num)
            && joins(gap(s, toks, last + 1), true)
            && gap(s, toks, last + 1) != "/"
            && !gap(s, toks, last + 1).is_empty()
        {
            last += 1;
        }
        let groups = &toks[i..=last];
        let digits: usize = groups.iter().map(Tok::len).sum();
        let long = groups.iter().any(|t| t.len() >= 7);
        let dotted = groups.len() >= 3 && (i + 1..=last).all(|j| gap(s, toks, j) == ".");
        let phone = groups.len() >= 2
            && (7..=15).contains(&digits)
            && groups.last().is_some_and(|t| t.len() >= 3)
            && groups[1..].iter().all(|t| t.len() >= 2);
        if (long || (dotted && digits >= 7) || phone) && !unit_follows(s, toks[last].end) {
            out.push(Found::new(
                with_prefix(s, toks[i].start),
                toks[last].end,
                "[number]",
            ));
        }
        i = last + 1;
    }
}

/// An age over 89 in free text (`aged 93`, `age: 95`, `93 years`, `93-year-old`, `93 yo`,
/// `93 y/o`) becomes `90+`.
fn find_old_ages(s: &str, toks: &[Tok], out: &mut Vec<Found>) {
    for (i, t) in toks.iter().enumerate() {
        if !(2..=3).contains(&t.len()) || !t.number(s).is_some_and(|n| (90..=150).contains(&n)) {
            continue;
        }
        let years_after = toks.get(i + 1).is_some_and(|n| {
            matches!(gap(s, toks, i + 1), "" | " " | "-")
                && matches!(
                    n.text(s).to_ascii_lowercase().as_str(),
                    "y" | "yo" | "yr" | "yrs" | "year" | "years" | "yoa"
                )
        });
        let age_before = i > 0
            && matches!(gap(s, toks, i), " " | ": " | ":" | " of ")
            && matches!(
                toks[i - 1].text(s).to_ascii_lowercase().as_str(),
                "aged" | "age"
            );
        if years_after || age_before {
            out.push(Found::new(t.start, t.end, "90+"));
        }
    }
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
            if key.is_some_and(address_key) {
                // Endpoint.address, AuditEvent's network address: a URL or an IP address.
                return true;
            }
            // Codes, code systems, references and element ids are not free text.
            let structural = matches!(
                key,
                Some(
                    "system"
                        | "profile"
                        | "reference"
                        | "url"
                        | "resourceType"
                        | "div"
                        | "code"
                        | "unit"
                        | "version"
                        | "id"
                        | "linkId"
                )
            );
            if structural {
                return false;
            }
            match redact_text(s, ctx) {
                Text::Unchanged => false,
                Text::Changed(clean) => {
                    *s = clean;
                    false
                }
                Text::Removed => true,
            }
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
            if human || (prefix && !coded) || key.is_some_and(|k| is_text_name(k, map)) {
                // A HumanName.
                return true;
            }
            if !resource && (is_identifier(map) || is_contact_point(map)) {
                return true;
            }
            // A contained resource gets the resource-level rules too.
            if resource && key == Some("contained") {
                scrub_resource_shallow(map, ctx.options);
            }
            if !resource && (key.is_some_and(address_key) || is_address(map)) {
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
            if key.is_some_and(|k| k.ends_with("Age") || k == "valueQuantity") {
                cap_age(map);
            }
            let before = map.len();
            map.retain(|k, v| !dropped(k, v) && (k != "url" || in_extension));
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
            // An extension left with only its url says nothing, and an object left with
            // nothing says nothing: drop them.
            (in_extension && map.len() <= 1) || (before > 0 && map.is_empty())
        }
        _ => false,
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
    /// line/city/postalCode (under `address` or `…Address`), telecom values, identifier
    /// values (under `identifier`, or any object with a string `value` and a `system` or
    /// `type`: `Claim.related.reference`, `Coverage.class`), identifier strings under other
    /// names (`subscriberId`, `dependent`, `preAuthRef`, `businessArrangement`, ImagingStudy
    /// `uid`s, Device `udiCarrier` parts, `serialNumber`, `lotNumber`), birthDate, full dates,
    /// URLs (fullUrls, attachment URLs, references with an id), ids with digits. Written
    /// apart from the rules under test, by FHIR's element names.
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
                if key.is_some_and(|k| k == "address" || k.ends_with("Address")) {
                    for part in ["city", "postalCode", "district", "text"] {
                        map.get(part).map(&mut take);
                    }
                    if let Some(Value::Array(lines)) = map.get("line") {
                        lines.iter().for_each(&mut take);
                    }
                }
                if matches!(key, Some("telecom" | "identifier"))
                    || (map.get("value").is_some_and(Value::is_string)
                        && (map.contains_key("system") || map.contains_key("type")))
                {
                    map.get("value").map(&mut take);
                }
                for k in [
                    "subscriberId",
                    "dependent",
                    "businessArrangement",
                    "uid",
                    "serialNumber",
                    "lotNumber",
                    "deviceIdentifier",
                    "carrierHRF",
                    "carrierAIDC",
                ] {
                    map.get(k).map(&mut take);
                }
                if let Some(Value::Array(refs)) = map.get("preAuthRef") {
                    refs.iter().for_each(&mut take);
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
            "safe-harbor-gaps.json",
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

    /// Issue 11, defect 7: identifiers under other names, in other shapes and in free text.
    #[test]
    fn safe_harbor_gaps_are_closed() {
        let name = "safe-harbor-gaps.json";
        let whole = anonymise(load(name), &AnonKey::from_bytes([4; 32]), &OPTS);
        let text = String::from_utf8(whole.to_json_bytes().into_inner()).expect("UTF-8");
        let (selected, _) = anonymous_json(name);
        for output in [&text, &selected] {
            for planted in [
                // Coverage
                "SUB-55102-A",
                "DEP-4471",
                "MBR-7731-2048",
                "GRP-90817",
                "Larchmont",
                // Claim
                "PA-2019-77154",
                "PA-2019-77155",
                "BA-66120",
                "INS-CLM-3321",
                "PRIOR-CLM-31415",
                "CLM-0042-9917",
                "Quarry",
                "Fernleigh",
                "48219",
                // ImagingStudy: study, series and instance UIDs, accession
                "271828182845904523536028747135266249775",
                "314159265358979323846264338327950288419",
                "161803398874989484820458683436563811772",
                "ACC-55120934",
                // Device
                "09504000059118",
                "SN-A33-9041",
                "A33-9041",
                "LOT7731",
                // Patient and Practitioner
                "Quillfeather",
                "Harriet",
                "Odile",
                "Tamsin",
                "Oyelaran",
                "0147",
                "harriet.q",
                "1961-07",
                "DL-QF-770412",
                "MCNZ-318877",
                "QUAL-55-0917",
                "0800 555",
                // Free text
                "3/4/2019",
                "4 March",
                "March 18",
                "2019/03/25",
                "03-04-2019",
                "12.04.19",
                "Feb 12",
                "Smith",
                "Okonkwo",
                "Vance",
                "021 555",
                "0199",
                "555-0123",
                "0188",
                "884422",
                "123-45-6789",
                "6789",
                "KM-7731",
                "h.quill",
                "example.org",
                "example.net",
                "10.20.30.40",
                "aged 93",
            ] {
                assert!(
                    !output.contains(planted),
                    "a planted identifier ({} chars) survived",
                    planted.len()
                );
            }
            // No date has more than its year.
            let bundle: Value = serde_json::from_str(output).expect("JSON");
            let mut dated = Vec::new();
            collect_strings(&bundle, &mut |s| {
                if is_partial_or_full_date(s) {
                    dated.push(s.len());
                }
            });
            assert!(
                dated.is_empty(),
                "{} dates with more than a year",
                dated.len()
            );
        }
        // What the clinician needs is kept: values, units, codes and their systems, the SOP
        // class, the device model, and clinical free text.
        for kept in [
            "\"value\":5.4",
            "mmol/L",
            "http://loinc.org",
            "15074-8",
            "http://snomed.info/sct",
            "44054006",
            "33747003",
            "818981001",
            "urn:oid:1.2.840.10008.5.1.4.1.1.2",
            "GX-200",
            "2 x 500 mg twice daily with meals",
            "metformin 500 mg tablet",
            "HbA1c 48 mmol/mol, glucose 5.4 mmol/L, metformin 2 x 500 mg daily, BP 128/82.",
            "Type 2 diabetes, diagnosed 2009 by Dr. [name], ph [phone]",
            "\"birthDate\":\"1961\"",
        ] {
            assert!(text.contains(kept), "{kept} is kept");
        }
        let comment = whole
            .resources()
            .find(|r| r.json().expose().get("valueString").is_some())
            .expect("the comment");
        assert_eq!(
            comment.json().expose()["valueString"],
            "Seen 2019 and 2019 by Dr [name] (follow-up 2019, letter dated 2019, review [date]); \
             call [phone] or [number], email [email], MRN [id], SSN [id], policy no. [id], \
             study UID [id], portal [url], host [ip]; father aged 90+ lives with her. \
             HbA1c 48 mmol/mol, glucose 5.4 mmol/L, metformin 2 x 500 mg daily, BP 128/82."
        );
        // Every resource is there, and every reference still resolves inside the share.
        assert_eq!(whole.len(), 11);
        let mut count = 0;
        for r in whole.resources() {
            for_each_reference(r.json().expose(), &mut |reference| {
                count += 1;
                assert!(reference.starts_with("urn:uuid:"));
                assert!(whole.resolve(reference).is_some());
            });
        }
        assert_eq!(count, 13, "every reference kept");
        assert!(whole.is_anonymised());
        assert!(!load(name).is_anonymised());
    }

    fn collect_strings<'a>(v: &'a Value, f: &mut dyn FnMut(&'a str)) {
        match v {
            Value::String(s) => f(s),
            Value::Array(items) => items.iter().for_each(|i| collect_strings(i, f)),
            Value::Object(map) => map.values().for_each(|c| collect_strings(c, f)),
            _ => {}
        }
    }

    /// The free-text finders slice strings by byte offsets: any text, multi-byte characters
    /// next to digits, `@`, `://` and titles included, must not make them panic.
    #[test]
    fn free_text_never_panics() {
        const PARTS: &[&str] = &[
            "3",
            "12",
            "2019",
            "/",
            "-",
            ".",
            ":",
            " ",
            "@",
            "://",
            "www.",
            "é",
            "ü",
            "日",
            "\u{1F600}",
            "Dr",
            "March",
            "MRN",
            "#",
            "(",
            ")",
            "+",
            "aged",
            "93",
            "yo",
            "T",
            "Z",
            "x",
            "mg",
            "_",
            "\u{2019}",
            "a",
            "B",
            ",",
        ];
        let names: HashSet<String> = ["Smith".to_owned(), "é".to_owned()].into();
        let ctx = Ctx {
            options: &OPTS,
            names: NameSet::new(&names),
            rewrite: &no_rewrite,
        };
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut s = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 12) as usize;
            for k in 0..len {
                let pick = (seed.rotate_left(5 * k as u32) % PARTS.len() as u64) as usize;
                s.push_str(PARTS[pick]);
            }
            let _ = redact_text(&s, &ctx);
        }
    }

    /// Identifiers under any key, in any shape; codes under keys that look like identifiers
    /// stay.
    #[test]
    fn identifiers_go_by_name_and_by_shape() {
        let mut v = json!({
            "subscriberId": "S1",
            "datasetId": "D1",
            "preAuthRef": ["P1", "P2"],
            "accessionNumber": "A1",
            "fooNumber": "N1",
            "modelNumber": "M-1",
            "linkId": "1.2",
            "dependent": "01",
            "studyUid": "1.2.3",
            "serialNo": "X",
            "driversLicense": "L",
            "referenceSeqId": {"coding": [{"system": "http://www.ncbi.nlm.nih.gov/nuccore", "code": "NC_000001.11"}]},
            "related": [{"reference": {"system": "urn:x", "value": "R1"}, "relationship": {"text": "prior"}}],
            "class": [{"type": {"text": "group"}, "value": "G1", "name": "Staff plan"}],
            "logical": {"identifier": {"value": "L1"}},
            "contactPoint": {"system": "phone", "value": "555 0100"},
            "network": {"address": "10.0.0.9", "type": "2"},
            "locationAddress": {"line": ["1 Road"], "city": "Town", "state": "MA"},
            "place": {"city": "Town", "country": "US"},
            "guardian": {"name": {"text": "Pat Guardian"}},
            "progress": [{"authorString": "Pat", "text": "ok"}],
            "quantity": {"value": 5, "system": "http://unitsofmeasure.org", "code": "mg"}
        });
        let _ = scrub(&mut v, None, &ctx());
        assert_eq!(
            v,
            json!({
                "modelNumber": "M-1",
                "linkId": "1.2",
                "referenceSeqId": {"coding": [{"system": "http://www.ncbi.nlm.nih.gov/nuccore", "code": "NC_000001.11"}]},
                "related": [{"relationship": {"text": "prior"}}],
                "network": {"type": "2"},
                "locationAddress": {"state": "MA"},
                "place": {"country": "US"},
                "progress": [{"text": "ok"}],
                "quantity": {"value": 5, "system": "http://unitsofmeasure.org", "code": "mg"}
            })
        );
    }

    fn redact(s: &str) -> Text {
        redact_text(s, &ctx())
    }

    /// Free text: each Safe Harbor pattern is found, and clinical text is left alone.
    #[test]
    fn free_text_loses_identifiers_and_keeps_clinical_values() {
        for (input, expected) in [
            (
                "seen 3/4/2019 by Dr Smith, call 021 555 0199, MRN 884422",
                "seen 2019 by Dr [name], call [phone], MRN [id]",
            ),
            ("3/4/2019", "2019"),
            ("on 03-04-2019", "on 2019"),
            ("on 4 March 2019", "on 2019"),
            ("on March 4, 2019", "on 2019"),
            ("on 2019/03/04", "on 2019"),
            ("at 2019-03-04T10:00:00+13:00 then", "at 2019 then"),
            ("on 12.04.19", "on [date]"),
            ("on 3/4/19", "on [date]"),
            ("on the 4th of March", "on the [date]"),
            ("since March 2019", "since 2019"),
            ("since 03/2019", "since 2019"),
            ("since 2019-03", "since 2019"),
            ("04-MAR-2019 result", "2019 result"),
            ("Feb 12th 2009", "2009"),
            ("admitted in March", "admitted in [date]"),
            ("ring (09) 555-0123", "ring [phone]"),
            ("or (09) 555-0123", "or [number]"),
            ("+64 21 555 0147", "[number]"),
            ("1234567", "[number]"),
            ("SSN 123-45-6789", "SSN [id]"),
            ("ssn: 123 45 6789", "ssn: [id]"),
            ("123-45-6789", "[number]"),
            ("MRN#884422", "MRN#[id]"),
            (
                "medical record number is 884422",
                "medical record number is [id]",
            ),
            ("ref #884422", "ref #[id]"),
            ("NHI ZZZ0016", "NHI [id]"),
            ("VIN 1HGCM82633A004352", "VIN [id]"),
            ("UID 1.2.840.113619.2.55.3", "UID [id]"),
            ("series 1.2.840.113619.2.55.3 done", "series [number] done"),
            ("mail a.b@example.org now", "mail [email] now"),
            ("see www.example.org.", "see [url]."),
            ("from 192.168.0.12 too", "from [ip] too"),
            ("father aged 93", "father aged 90+"),
            ("a 93-year-old", "a 90+-year-old"),
            ("95 yo", "90+ yo"),
            ("Mrs. J. Doe-Smith came", "Mrs. [name] came"),
        ] {
            assert_eq!(redact(input), Text::Changed(expected.to_owned()), "{input}");
        }
        for whole in ["a.b@example.org", "https://x.example/p?q=1", "10.0.0.1"] {
            assert_eq!(redact(whole), Text::Removed, "{whole}");
        }
        for clinical in [
            "5.4 mmol/L",
            "2 x 500 mg",
            "BP 128/82, HR 72",
            "take 3/4 tablet",
            "1/2048 titre",
            "pH 7.35",
            "Number of episodes: 3",
            "dose number 2",
            "number 300 mg",
            "DR Grade 2",
            "May cause drowsiness",
            "dec dose to 5 mg",
            "HbA1c 48 mmol/mol",
            "viral load 1 250 000 copies/mL",
            "viral load 1250000 copies/mL",
            "Ref range 3.5-5.0",
            "COVID-19 in 2019",
            "LOINC 2345-7",
            "ICD E11.9",
            "score 7/10",
            "120 80 72",
            "aged 45",
            "Hb 135 g/L",
            "Dr review",
            "glucose 5.4 6.1 7.2 8.0",
        ] {
            assert_eq!(redact(clinical), Text::Unchanged, "{clinical}");
        }
        // Codes are never free text.
        let mut v = json!({"coding": [{"system": "http://snomed.info/sct", "code": "38341003", "display": "Hypertension"}]});
        let before = v.clone();
        let _ = scrub(&mut v, None, &ctx());
        assert_eq!(v, before);
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
        // A string that is only a locator goes; one inside other text is replaced.
        let mut v = json!({"valueString": "see http://10.0.0.1/x", "ip": "10.0.0.1", "mail": "a@b.c", "system": "http://loinc.org"});
        let _ = scrub(&mut v, None, &ctx());
        assert_eq!(
            v,
            json!({"valueString": "see [url]", "system": "http://loinc.org"})
        );
    }
}
