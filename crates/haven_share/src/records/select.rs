//! What the patient shares: resources picked one by one or by section, made self-consistent.
//!
//! # Rules
//!
//! 1. A selector picks resources: `Type/id`, a bare `id`, a `fullUrl`, or a section name
//!    (`problems`, `medications`, `allergies`, `immunizations`, `results`, `procedures`,
//!    `patient`, `other`). A selector that matches nothing is an error
//!    ([`RecordsError::NoMatch`]), so a typo never shares less than the patient thinks.
//! 2. The Patient a picked resource points at is shared too: a record without its subject is
//!    hard to read, and in anonymous mode the Patient is reduced to gender and birth year.
//!    Medications a picked MedicationStatement/Request points at are shared too: they only
//!    name the drug.
//! 3. A document's Composition is not shared by a section (it describes the whole document,
//!    unshared sections included); pick it by id to share it.
//! 4. Every reference inside the shared set either resolves inside it or is cut: its
//!    `reference`, `identifier` and `type` are removed, leaving the `display` (which anonymous
//!    mode removes in turn); a reference left empty is removed, and so is an array left empty.
//!    Nothing dangles towards unshared data.
//! 5. The result is a `collection` Bundle with the original `fullUrl`s.

use core::str::FromStr;
use std::collections::{BTreeSet, HashMap};

use haven_proto::Redacted;
use serde_json::Value;

use super::summary::SectionKind;
use super::{Records, RecordsError, build_index, resolve_in};

/// One choice of the patient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// Every resource of a section.
    Section(SectionKind),
    /// One resource: `Type/id`, a bare `id`, or a `fullUrl` (ids can be identifiers, hence
    /// redacted).
    Resource(Redacted<String>),
}

/// A selector that cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("empty selector")]
pub struct SelectorParseError;

impl FromStr for Selector {
    type Err = SelectorParseError;

    /// A section name (any case), else a resource id.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(SelectorParseError);
        }
        Ok(match SectionKind::from_name(s) {
            Some(kind) => Self::Section(kind),
            None => Self::Resource(Redacted::new(s.to_owned())),
        })
    }
}

impl Records {
    /// The shared set for these selectors: see the module's rules.
    pub fn select(&self, selectors: &[Selector]) -> Result<Self, RecordsError> {
        let mut picked = BTreeSet::new();
        for (index, selector) in selectors.iter().enumerate() {
            let mut matched = false;
            match selector {
                Selector::Section(kind) => {
                    for (i, slot) in self.slots.iter().enumerate() {
                        if SectionKind::of(&slot.resource_type) == *kind
                            && slot.resource_type != "Composition"
                        {
                            picked.insert(i);
                            matched = true;
                        }
                    }
                }
                Selector::Resource(id) => {
                    let id = id.expose();
                    if let Some(i) = self.resolve_slot(id) {
                        picked.insert(i);
                        matched = true;
                    } else {
                        for (i, slot) in self.slots.iter().enumerate() {
                            if slot.id.as_deref() == Some(id.as_str()) {
                                picked.insert(i);
                                matched = true;
                            }
                        }
                    }
                }
            }
            // A section with no resource is no error (nothing to share is what was asked).
            if !matched && matches!(selector, Selector::Resource(_)) {
                return Err(RecordsError::NoMatch { index });
            }
        }
        Ok(self.select_positions(&picked.into_iter().collect::<Vec<_>>()))
    }

    /// The shared set for resources picked by position (as in [`super::Row::position`]);
    /// positions out of range are ignored. Same rules as [`Records::select`].
    pub fn select_positions(&self, positions: &[usize]) -> Self {
        let mut picked: BTreeSet<usize> = positions
            .iter()
            .copied()
            .filter(|&p| p < self.slots.len())
            .collect();
        // Rule 2: the subject Patient and the named Medications come along. They are
        // referenced from the resource's top level (`subject`, `patient`,
        // `medicationReference`, …), so only that level is looked at.
        let mut extra = Vec::new();
        for &i in &picked {
            let Some(map) = self.get(i).and_then(|r| r.value.as_object()) else {
                continue;
            };
            for v in map.values() {
                let Some(reference) = v.get("reference").and_then(Value::as_str) else {
                    continue;
                };
                if let Some(target) = self.resolve_slot(reference)
                    && let Some(slot) = self.slots.get(target)
                    && matches!(slot.resource_type.as_str(), "Patient" | "Medication")
                {
                    extra.push(target);
                }
            }
        }
        picked.extend(extra);

        // Rule 4 while copying: references that leave the shared set are cut.
        let kept: HashMap<String, usize> = {
            let slots: Vec<super::Slot> = picked
                .iter()
                .filter_map(|&i| self.slots.get(i).cloned())
                .collect();
            build_index(&slots)
        };
        let resolves = |r: &str| resolve_in(&kept, r).is_some();
        let entries: Vec<(Option<String>, Value)> = picked
            .iter()
            .filter_map(|&i| {
                let slot = self.slots.get(i)?;
                let value = clone_pruned(self.slot_value(slot)?, &resolves)?;
                Some((slot.full_url.clone(), value))
            })
            .collect();
        let mut shared = Self::collection(entries);
        let mut names = self.names.clone().unwrap_or_default();
        for r in self.resources() {
            super::names::harvest_names(r.value, None, &mut names);
        }
        shared.names = Some(names);
        shared
    }
}

/// A copy of `value` with the references that do not resolve cut (`resolves` says which do;
/// `#local` ones are kept; see rule 4). `None` when `value` itself is cut.
fn clone_pruned(value: &Value, resolves: &dyn Fn(&str) -> bool) -> Option<Value> {
    match value {
        Value::Object(map) => {
            let dangling = match map.get("reference") {
                Some(Value::String(r)) => !r.starts_with('#') && !resolves(r),
                _ => false,
            };
            if dangling && !map.contains_key("display") {
                return None;
            }
            let mut out = serde_json::Map::with_capacity(map.len());
            for (k, child) in map {
                if dangling && matches!(k.as_str(), "reference" | "identifier" | "type") {
                    continue;
                }
                if let Some(child) = clone_pruned(child, resolves) {
                    out.insert(k.clone(), child);
                }
            }
            Some(Value::Object(out))
        }
        Value::Array(items) => {
            let out: Vec<Value> = items
                .iter()
                .filter_map(|i| clone_pruned(i, resolves))
                .collect();
            (items.is_empty() || !out.is_empty()).then_some(Value::Array(out))
        }
        other => Some(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::load;
    use super::super::{BundleType, RecordsKind, for_each_reference, summarise};
    use super::*;

    fn sel(s: &str) -> Selector {
        s.parse().expect("a selector")
    }

    fn all_references_resolve(records: &Records) {
        for r in records.resources() {
            for_each_reference(r.json().expose(), &mut |reference| {
                assert!(
                    reference.starts_with('#') || records.resolve(reference).is_some(),
                    "a dangling reference in {}",
                    r.resource_type()
                );
            });
        }
    }

    #[test]
    fn parses_selectors() {
        assert_eq!(sel("Problems"), Selector::Section(SectionKind::Problems));
        assert_eq!(
            sel(" Patient/1 "),
            Selector::Resource(Redacted::new("Patient/1".to_owned()))
        );
        assert!("  ".parse::<Selector>().is_err());
    }

    #[test]
    fn by_section_brings_the_patient_and_resolves() {
        let records = load("ips-nz-pj.json");
        let shared = records.select(&[sel("allergies")]).expect("selects");
        assert_eq!(shared.kind(), &RecordsKind::Bundle(BundleType::Collection));
        let types: Vec<&str> = shared.resources().map(|r| r.resource_type()).collect();
        assert_eq!(
            types.iter().filter(|t| **t == "AllergyIntolerance").count(),
            2
        );
        assert!(types.contains(&"Patient"), "{types:?}");
        assert!(!types.contains(&"Composition"));
        assert!(!types.contains(&"Practitioner"));
        all_references_resolve(&shared);
        let summary = summarise(&shared);
        assert!(summary.section(SectionKind::Problems).is_none());
        assert!(summary.section(SectionKind::Allergies).is_some());
    }

    #[test]
    fn by_id_in_every_form() {
        let records = load("synthea-transaction.json");
        let condition = records
            .resources()
            .find(|r| r.resource_type() == "Condition")
            .expect("a condition");
        let key = condition.key().into_inner();
        let bare = key.split('/').nth(1).expect("Type/id").to_owned();
        for selector in [
            key.clone(),
            bare,
            format!("urn:uuid:{}", key.split('/').nth(1).expect("id")),
        ] {
            let shared = records.select(&[sel(&selector)]).expect("selects");
            let types: Vec<&str> = shared.resources().map(|r| r.resource_type()).collect();
            assert_eq!(types, ["Patient", "Condition"]);
            all_references_resolve(&shared);
        }
        assert_eq!(
            records
                .select(&[sel("problems"), sel("Condition/nope")])
                .err(),
            Some(RecordsError::NoMatch { index: 1 })
        );
    }

    #[test]
    fn dangling_references_are_cut_not_left() {
        // A DiagnosticReport without its Observations: its result[] must go.
        let records = load("bundle-collection-diagnosticreport.json");
        let report = records
            .resources()
            .find(|r| r.resource_type() == "DiagnosticReport")
            .expect("a report");
        let shared = records
            .select(&[Selector::Resource(report.key())])
            .expect("selects");
        let json = shared
            .get(0)
            .expect("the report")
            .json()
            .into_inner()
            .clone();
        assert!(json.get("result").is_none(), "result[] emptied and removed");
        all_references_resolve(&shared);
        // With the results, they stay.
        let shared = records
            .select(&[Selector::Resource(report.key()), sel("results")])
            .expect("selects");
        let report = shared
            .resources()
            .find(|r| r.resource_type() == "DiagnosticReport")
            .expect("the report");
        assert_eq!(
            report.json().expose()["result"].as_array().map(Vec::len),
            Some(17)
        );
        all_references_resolve(&shared);
    }

    #[test]
    fn display_survives_a_cut_reference() {
        let v = serde_json::json!({
            "performer": [{"reference": "Practitioner/1", "display": "Dr A"}, {"reference": "Practitioner/2"}],
            "subject": {"reference": "Patient/9", "identifier": {"value": "123"}}
        });
        let copy = clone_pruned(&v, &|_| false);
        assert_eq!(
            copy,
            Some(serde_json::json!({"performer": [{"display": "Dr A"}]}))
        );
    }

    #[test]
    fn select_everything_of_the_synthea_bundle() {
        let records = load("synthea-transaction.json");
        let all: Vec<Selector> = SectionKind::ALL
            .into_iter()
            .map(Selector::Section)
            .collect();
        let shared = records.select(&all).expect("selects");
        assert_eq!(shared.len(), records.len());
        all_references_resolve(&shared);
    }
}
