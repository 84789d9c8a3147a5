//! Names in free text: every word of every person's name, street, city, district and named
//! organisation or place in the records is harvested, and replaced by `[name]` wherever it
//! appears in a string anonymous mode keeps (see the anonymise module's "What is kept").

use std::collections::HashSet;

use serde_json::{Map, Value};

/// FNV-1a: the name words are few and short; SipHash's strength is not needed here.
#[derive(Default)]
struct Fnv(u64);

impl core::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// The name words, with a first-byte filter in front of the set.
pub(super) struct NameSet<'a> {
    first: [bool; 256],
    set: HashSet<&'a str, core::hash::BuildHasherDefault<Fnv>>,
}

impl<'a> NameSet<'a> {
    pub(super) fn new(names: &'a HashSet<String>) -> Self {
        let mut first = [false; 256];
        let mut set = HashSet::with_capacity_and_hasher(names.len(), Default::default());
        for n in names {
            if let Some(&b) = n.as_bytes().first() {
                first[usize::from(b)] = true;
            }
            set.insert(n.as_str());
        }
        Self { first, set }
    }

    fn contains(&self, word: &str) -> bool {
        word.as_bytes()
            .first()
            .is_some_and(|&b| self.first[usize::from(b)])
            && self.set.contains(word)
    }
}

/// Words too common in organisation names to be worth cutting from clinical text.
const GENERIC_WORDS: &[&str] = &[
    "and",
    "care",
    "center",
    "centre",
    "clinic",
    "community",
    "department",
    "family",
    "general",
    "group",
    "health",
    "healthcare",
    "hospital",
    "inc",
    "laboratory",
    "llc",
    "medical",
    "medicine",
    "of",
    "practice",
    "service",
    "services",
    "the",
    "university",
];

fn words(s: &str) -> impl Iterator<Item = (usize, &str)> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(move |w| {
            // `w` is a sub-slice of `s`: its offset is the pointer difference.
            (w.as_ptr() as usize - s.as_ptr() as usize, w)
        })
}

fn add_words(s: &str, out: &mut HashSet<String>) {
    for (_, w) in words(s) {
        if w.chars().count() >= 3
            && !w.chars().all(|c| c.is_ascii_digit())
            && !GENERIC_WORDS.contains(&w.to_ascii_lowercase().as_str())
        {
            out.insert(w.to_owned());
        }
    }
}

/// Collects, from the resources that hold them (Patient and the [`NAMED_TYPES`]), the words
/// of every person's name, every address's street, city and district, and every named
/// organisation's or place's name.
pub(super) fn harvest_names(resource: &Value, _key: Option<&str>, out: &mut HashSet<String>) {
    let holds_names = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .is_some_and(|rt| rt == "Patient" || NAMED_TYPES.contains(&rt));
    if holds_names {
        harvest_walk(resource, None, out);
    }
}

fn harvest_walk(value: &Value, key: Option<&str>, out: &mut HashSet<String>) {
    match value {
        Value::Object(map) => {
            if is_human_name(map) {
                for part in ["family", "text"] {
                    if let Some(Value::String(s)) = map.get(part) {
                        add_words(s, out);
                    }
                }
                if let Some(Value::Array(given)) = map.get("given") {
                    given
                        .iter()
                        .filter_map(Value::as_str)
                        .for_each(|s| add_words(s, out));
                }
            }
            if key == Some("address") {
                for part in ["city", "district", "text"] {
                    if let Some(Value::String(s)) = map.get(part) {
                        add_words(s, out);
                    }
                }
                if let Some(Value::Array(lines)) = map.get("line") {
                    lines
                        .iter()
                        .filter_map(Value::as_str)
                        .for_each(|s| add_words(s, out));
                }
            }
            if let Some(Value::String(rt)) = map.get("resourceType")
                && NAMED_TYPES.contains(&rt.as_str())
                && let Some(Value::String(name)) = map.get("name")
            {
                add_words(name, out);
            }
            for (k, child) in map {
                harvest_walk(child, Some(k), out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| harvest_walk(i, key, out)),
        _ => {}
    }
}

/// `s` with every word found in `names` replaced by `[name]`, or `None` when there is none.
pub(super) fn redact_names(s: &str, names: &NameSet<'_>) -> Option<String> {
    if names.set.is_empty() {
        return None;
    }
    let mut out: Option<String> = None;
    let mut copied = 0;
    for (at, w) in words(s) {
        if names.contains(w) {
            let buf = out.get_or_insert_with(|| String::with_capacity(s.len()));
            buf.push_str(&s[copied..at]);
            buf.push_str("[name]");
            copied = at + w.len();
        }
    }
    let mut out = out?;
    out.push_str(&s[copied..]);
    Some(out)
}

/// Resources whose string `name` names a person, a place or a care provider.
pub(super) const NAMED_TYPES: &[&str] = &[
    "Organization",
    "Location",
    "Practitioner",
    "PractitionerRole",
    "RelatedPerson",
    "Person",
    "CareTeam",
    "Device",
    "HealthcareService",
    "Endpoint",
    "Group",
    "InsurancePlan",
    "Account",
    "OrganizationAffiliation",
];

pub(super) fn is_human_name(map: &Map<String, Value>) -> bool {
    map.contains_key("family")
        || map.contains_key("given")
        || (map.contains_key("prefix") && !map.contains_key("code"))
}
