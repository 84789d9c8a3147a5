//! Names in free text: every word of every person's name, street, city, district and named
//! organisation or place in the records is harvested, and replaced by `[name]` wherever it
//! appears in a string anonymous mode keeps (see the anonymise module's "What is kept"); so
//! is every capitalised word after a title (`Dr Smith`, `Mrs. J. Doe`), named or not.
//!
//! Also the small free-text toolkit the other free-text rules share: [`tokens`] and [`Found`].

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

/// Every word of `s` found in `names`, to become `[name]`.
pub(super) fn find_names(s: &str, names: &NameSet<'_>, out: &mut Vec<Found>) {
    if names.set.is_empty() {
        return;
    }
    for (at, w) in words(s) {
        if names.contains(w) {
            out.push(Found::new(at, at + w.len(), "[name]"));
        }
    }
}

/// Titles that come before a person's name in clinical text (case as written: `DR` is
/// diabetic retinopathy, `MS` multiple sclerosis).
const TITLES: &[&str] = &[
    "Dr",
    "Doctor",
    "Mr",
    "Mrs",
    "Ms",
    "Miss",
    "Mx",
    "Prof",
    "Professor",
    "Nurse",
];

/// The name after every title in `s` (`Dr Smith`, `Dr. J. Smith-Jones`, `Mrs O'Neil`): up to
/// three capitalised words or initials, to become `[name]` (the title stays).
pub(super) fn find_titled_names(s: &str, toks: &[Tok], out: &mut Vec<Found>) {
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        if t.kind != Kind::Word || !TITLES.contains(&t.text(s)) {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        let mut last = None;
        while j < toks.len() && j - i <= 4 {
            let between = gap(s, toks, j);
            let joins = if last.is_none() {
                matches!(between, " " | ". " | ".")
            } else {
                matches!(between, " " | ". " | "." | "-" | "'" | "\u{2019}")
            };
            let w = toks[j];
            let capital = w.kind == Kind::Word && w.text(s).starts_with(char::is_uppercase);
            if !joins || !capital {
                break;
            }
            last = Some(j);
            j += 1;
        }
        match last {
            Some(l) => {
                out.push(Found::new(toks[i + 1].start, toks[l].end, "[name]"));
                i = l + 1;
            }
            None => i += 1,
        }
    }
}

/// A stretch of a kept string to replace, by byte offsets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Found {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) with: String,
}

impl Found {
    pub(super) fn new(start: usize, end: usize, with: impl Into<String>) -> Self {
        Self {
            start,
            end,
            with: with.into(),
        }
    }
}

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// A run of letters.
    Word,
    /// A run of ASCII digits.
    Num,
}

/// A run of letters or of ASCII digits in a string (`04MAR2019` is three tokens); what lies
/// between two tokens is their [`gap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Tok {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) kind: Kind,
}

impl Tok {
    pub(super) fn text<'s>(&self, s: &'s str) -> &'s str {
        &s[self.start..self.end]
    }

    /// Its value, when it is a number of at most 9 digits.
    pub(super) fn number(&self, s: &str) -> Option<u32> {
        if self.kind == Kind::Num && self.len() <= 9 {
            self.text(s).parse().ok()
        } else {
            None
        }
    }

    pub(super) fn len(&self) -> usize {
        self.end - self.start
    }
}

/// The letter and digit runs of `s`, in order.
pub(super) fn tokens(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut current: Option<(usize, Kind)> = None;
    for (i, c) in s.char_indices() {
        let kind = if c.is_ascii_digit() {
            Some(Kind::Num)
        } else if c.is_alphabetic() {
            Some(Kind::Word)
        } else {
            None
        };
        match current {
            Some((_, k)) if Some(k) == kind => {}
            Some((start, k)) => {
                out.push(Tok {
                    start,
                    end: i,
                    kind: k,
                });
                current = kind.map(|k| (i, k));
            }
            None => current = kind.map(|k| (i, k)),
        }
    }
    if let Some((start, kind)) = current {
        out.push(Tok {
            start,
            end: s.len(),
            kind,
        });
    }
    out
}

/// What lies between token `j - 1` and token `j` (empty for `j == 0`).
pub(super) fn gap<'s>(s: &'s str, toks: &[Tok], j: usize) -> &'s str {
    match j.checked_sub(1) {
        Some(i) => &s[toks[i].end..toks[j].start],
        None => "",
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_titled_names() {
        let s = "04MAR2019 Dr. J. Smith-Jones, Mrs O'Neil and Dr review";
        let toks = tokens(s);
        let texts: Vec<&str> = toks.iter().take(3).map(|t| t.text(s)).collect();
        assert_eq!(texts, ["04", "MAR", "2019"]);
        assert_eq!(gap(s, &toks, 3), " ");
        let mut found = Vec::new();
        find_titled_names(s, &toks, &mut found);
        let names: Vec<&str> = found.iter().map(|f| &s[f.start..f.end]).collect();
        assert_eq!(names, ["J. Smith-Jones", "O'Neil"]);
    }
}
