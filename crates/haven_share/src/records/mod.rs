//! FHIR R4 records: read what real systems write, summarise it for a clinician, let the
//! patient pick what to share, anonymise it (HIPAA Safe Harbor) and describe the share with a
//! FHIR Consent.
//!
//! # Model
//!
//! Every resource is kept as its `serde_json::Value` (with `preserve_order`), so extensions and
//! unknown fields survive a read→write round trip; typed, read-only views ([`Typed`]) are derived
//! from it on demand. JSON numbers go through `f64`, so a decimal's textual form may change
//! (`7.50` is written `7.5`); its value does not.
//!
//! # The flow
//!
//! ```text
//!  bytes ──parse──▶ Records ──select──▶ Records (collection, self-consistent)
//!                      │                    │
//!                  summarise            anonymise (Safe Harbor, per-share key)
//!                      ▼                    ▼
//!                   Summary ──▶ text     Records ──to_json_bytes──▶ what is sent
//!                                           │
//!                                      consent / provenance / revoke
//! ```
//!
//! # Refused resources
//!
//! A resource that is not what it claims is refused, with [`RecordsError::NotAResource`]: its
//! `resourceType` is not one of FHIR R4's ([`R4_RESOURCE_TYPES`]), or an element breaks its
//! type's shape (an element R4 does not define for a type Haven has a view for, a list that is
//! not a JSON array, an object that is not a JSON object). The checks and the R4 tables live in
//! `shape.rs`; its module docs say exactly what is checked. R4 types without a typed view are
//! still read and shown generically; only their `id`, common elements and `identifier` are
//! checked.
//!
//! One refused resource refuses the whole input, a Bundle included: the error names the
//! resource by position (the `Bundle.entry` index, and the `contained` index for a contained
//! one) and says which element and what R4 expects there, never a value. Leaving the resource
//! out instead would show the patient (and share) a record that is silently less than the file
//! they chose; a refusal is something they see, and can take back to whoever wrote the file.
//!
//! # Patient data
//!
//! [`Records`], [`ResourceRef`], the typed views and the [`Summary`] all carry patient data.
//! None of them prints it: their `Debug` shows counts or `[redacted]`, they have no `Display`,
//! and every string handed out is a [`Redacted`]. Errors never quote the input. Read a value with
//! `.expose()` only to show it to the person in front of the screen, never to a log.

mod anonymise;
mod consent;
mod dates;
mod names;
mod select;
mod shape;
mod share;
mod summary;
mod values;
mod view;

use core::fmt;
use std::collections::{HashMap, HashSet};

use haven_proto::Redacted;
use serde_json::{Map, Value};

pub use anonymise::{AGE_BAND_EXTENSION, AnonKey, AnonymiseOptions, anonymise};
pub use consent::{
    CLINIC_MAY_KEEP_EXTENSION, ConsentData, ConsentRequest, OBJECT_SHA256_SYSTEM, Purpose,
    build_consent, consent_for, object_provenance, provenance, provenance_for, revoke_consent,
};
pub use dates::{format_instant, year_of};
pub use select::{Selector, SelectorParseError};
pub use shape::{ElementName, Expected, Malformed, R4_RESOURCE_TYPES, ResourcePosition};
pub use share::{PreparedShare, ShareMode, prepare_selected, prepare_share};
pub use summary::{Row, Section, SectionKind, Summary, render_text, summarise};
pub use values::{ObsValue, Quantity, codeable_text};
pub use view::{
    AllergyView, ConditionView, DiagnosticReportView, DocumentReferenceView, GenericView,
    ImmunizationView, MedicationView, ObservationView, PatientView, ProcedureView, Typed,
};

/// Limits applied while decoding FHIR JSON. Every limit has a typed error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest input accepted, in bytes.
    pub max_bytes: usize,
    /// Most resources accepted (Bundle entries plus contained resources).
    pub max_resources: usize,
    /// Deepest JSON nesting accepted (objects and arrays). Kept below serde_json's own
    /// recursion limit (128) so that the typed [`RecordsError::TooDeep`] is what callers see.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 32 * 1024 * 1024,
            max_resources: 50_000,
            max_depth: 100,
        }
    }
}

/// Why FHIR input was refused. No variant carries any part of the input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordsError {
    /// The bytes are not JSON (or not UTF-8).
    #[error("not JSON (line {line}, column {column})")]
    NotJson {
        /// 1-based line of the syntax error.
        line: usize,
        /// 1-based column of the syntax error.
        column: usize,
    },
    /// The JSON is not a FHIR resource or Bundle.
    #[error("not FHIR: {why}")]
    NotFhir {
        /// What is missing or wrong (a fixed text, never from the input).
        why: &'static str,
    },
    /// A resource is not what it claims: its `resourceType` is not an R4 resource type, or an
    /// element breaks its type's shape. The whole input is refused.
    #[error("{position} is refused: {why}")]
    NotAResource {
        /// Which resource.
        position: ResourcePosition,
        /// Why (element and type names from Haven's R4 tables, never values).
        why: Malformed,
    },
    /// The input is larger than [`Limits::max_bytes`].
    #[error("input too large: {size} bytes, at most {max}")]
    TooLarge {
        /// The input's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// More resources than [`Limits::max_resources`].
    #[error("too many resources: more than {max}")]
    TooManyResources {
        /// The limit.
        max: usize,
    },
    /// JSON nested deeper than [`Limits::max_depth`].
    #[error("JSON nested too deep: more than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// A selector matched no resource. `index` is the selector's position in the list given.
    #[error("selector #{index} matches no resource")]
    NoMatch {
        /// Position of the selector in the caller's list (0-based).
        index: usize,
    },
    /// The operating system's random source failed.
    #[error("no randomness available")]
    Random,
}

/// The Bundle types of FHIR R4 (`Bundle.type`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BundleType {
    /// `document` (the International Patient Summary is one).
    Document,
    /// `message`.
    Message,
    /// `transaction` (Synthea writes these).
    Transaction,
    /// `transaction-response`.
    TransactionResponse,
    /// `batch`.
    Batch,
    /// `batch-response`.
    BatchResponse,
    /// `history`.
    History,
    /// `searchset` (a server's search result).
    Searchset,
    /// `collection`.
    Collection,
    /// A type this version does not know; kept as written (it is a code, not patient data).
    Other(String),
}

impl BundleType {
    fn from_code(code: &str) -> Self {
        match code {
            "document" => Self::Document,
            "message" => Self::Message,
            "transaction" => Self::Transaction,
            "transaction-response" => Self::TransactionResponse,
            "batch" => Self::Batch,
            "batch-response" => Self::BatchResponse,
            "history" => Self::History,
            "searchset" => Self::Searchset,
            "collection" => Self::Collection,
            other => Self::Other(other.chars().take(64).collect()),
        }
    }

    /// The FHIR code.
    pub fn code(&self) -> &str {
        match self {
            Self::Document => "document",
            Self::Message => "message",
            Self::Transaction => "transaction",
            Self::TransactionResponse => "transaction-response",
            Self::Batch => "batch",
            Self::BatchResponse => "batch-response",
            Self::History => "history",
            Self::Searchset => "searchset",
            Self::Collection => "collection",
            Self::Other(code) => code,
        }
    }
}

/// What the input was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordsKind {
    /// One resource, not in a Bundle.
    Single,
    /// A Bundle of the given type.
    Bundle(BundleType),
}

/// Where one resource sits in [`Records`].
#[derive(Clone)]
struct Slot {
    /// `None` for a single resource (the root), else the index in `root.entry`.
    entry: Option<usize>,
    resource_type: String,
    id: Option<String>,
    full_url: Option<String>,
}

/// Parsed FHIR records: a Bundle (any type) or a single resource, kept whole.
///
/// `Debug` shows the kind and the number of resources only.
#[derive(Clone)]
pub struct Records {
    root: Value,
    kind: RecordsKind,
    slots: Vec<Slot>,
    /// Reference key (`fullUrl` or `Type/id`) to slot index.
    index: HashMap<String, usize>,
    /// Words of the names and places in the records these were selected from (see
    /// `anonymise`), so that free text can lose them even when the Practitioner or the
    /// contact that bore the name is not shared. `None` until a selection collects them.
    names: Option<HashSet<String>>,
}

impl fmt::Debug for Records {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Records")
            .field("kind", &self.kind)
            .field("resources", &self.slots.len())
            .finish()
    }
}

/// One resource inside [`Records`]. `Debug` prints its type only.
#[derive(Clone, Copy)]
pub struct ResourceRef<'a> {
    slot: usize,
    resource_type: &'a str,
    value: &'a Value,
}

impl fmt::Debug for ResourceRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResourceRef({}, [redacted])", self.resource_type)
    }
}

impl<'a> ResourceRef<'a> {
    /// Position of this resource in [`Records::resources`].
    pub fn position(&self) -> usize {
        self.slot
    }

    /// `resourceType` (a FHIR type name, not patient data).
    pub fn resource_type(&self) -> &'a str {
        self.resource_type
    }

    /// `Type/id`, or the `fullUrl` when the resource has no id. Ids can be identifiers
    /// (an MRN is sometimes used as the Patient's id), hence redacted.
    pub fn key(&self) -> Redacted<String> {
        Redacted::new(resource_key(self.resource_type, self.value))
    }

    /// The resource as JSON, whole.
    pub fn json(&self) -> Redacted<&'a Value> {
        Redacted::new(self.value)
    }

    /// A typed read-only view.
    pub fn typed(&self) -> Typed {
        view::typed(self.value)
    }
}

fn resource_key(resource_type: &str, value: &Value) -> String {
    match value.get("id").and_then(Value::as_str) {
        Some(id) => format!("{resource_type}/{id}"),
        None => resource_type.to_owned(),
    }
}

/// Reads FHIR R4 JSON: a Bundle of any type or a single resource.
///
/// Checks, in this order, the size, the nesting depth, the JSON syntax, the FHIR shape (the
/// Bundle's, then each resource's R4 type and shape, see [`RecordsError::NotAResource`]) and
/// the resource count. Never panics on any input.
pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Records, RecordsError> {
    if bytes.len() > limits.max_bytes {
        return Err(RecordsError::TooLarge {
            size: bytes.len(),
            max: limits.max_bytes,
        });
    }
    check_depth(bytes, limits.max_depth)?;
    let root: Value = serde_json::from_slice(bytes).map_err(|e| {
        if e.is_eof() || e.is_syntax() || e.is_io() {
            RecordsError::NotJson {
                line: e.line(),
                column: e.column(),
            }
        } else {
            // Only a recursion-limit error is left for `Value`; our own check runs first.
            RecordsError::TooDeep {
                max: limits.max_depth,
            }
        }
    })?;
    Records::from_value(root, limits)
}

/// Fails with [`RecordsError::TooDeep`] when arrays/objects nest deeper than `max`.
/// A byte scan that knows JSON strings, so brackets inside strings do not count.
fn check_depth(bytes: &[u8], max: usize) -> Result<(), RecordsError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return Err(RecordsError::TooDeep { max });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn count_contained(resource: &Value) -> usize {
    resource
        .get("contained")
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}

impl Records {
    /// Builds records from JSON already parsed. Applies the shape and count checks of
    /// [`parse`] (size and depth are the caller's business here).
    pub fn from_value(root: Value, limits: &Limits) -> Result<Self, RecordsError> {
        let Some(obj) = root.as_object() else {
            return Err(RecordsError::NotFhir {
                why: "the top level is not a JSON object",
            });
        };
        let Some(resource_type) = obj.get("resourceType").and_then(Value::as_str) else {
            return Err(RecordsError::NotFhir {
                why: "no resourceType",
            });
        };
        let mut slots = Vec::new();
        let mut total = 0usize;
        let kind = if resource_type == "Bundle" {
            let kind = match obj.get("type") {
                Some(Value::String(code)) => BundleType::from_code(code),
                Some(_) => {
                    return Err(RecordsError::NotFhir {
                        why: "Bundle.type is not a string",
                    });
                }
                None => {
                    return Err(RecordsError::NotFhir {
                        why: "Bundle without type",
                    });
                }
            };
            let entries = match obj.get("entry") {
                None => &[][..],
                Some(Value::Array(entries)) => entries.as_slice(),
                Some(_) => {
                    return Err(RecordsError::NotFhir {
                        why: "Bundle.entry is not an array",
                    });
                }
            };
            for (i, entry) in entries.iter().enumerate() {
                let Some(entry) = entry.as_object() else {
                    return Err(RecordsError::NotFhir {
                        why: "a Bundle entry is not an object",
                    });
                };
                let full_url = entry
                    .get("fullUrl")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                // Entries without a resource (a deleted version in a history, a response) are
                // kept for the round trip but are not resources.
                let Some(resource) = entry.get("resource") else {
                    continue;
                };
                let rt =
                    shape::check_resource(resource, ResourcePosition::entry(i)).map_err(refused)?;
                total = total
                    .saturating_add(1)
                    .saturating_add(count_contained(resource));
                if total > limits.max_resources {
                    return Err(RecordsError::TooManyResources {
                        max: limits.max_resources,
                    });
                }
                slots.push(Slot {
                    entry: Some(i),
                    resource_type: rt.to_owned(),
                    id: resource
                        .get("id")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    full_url,
                });
            }
            // The Bundle's own elements, once its entries are known to be resources.
            shape::check_resource(&root, ResourcePosition::ROOT).map_err(refused)?;
            RecordsKind::Bundle(kind)
        } else {
            let resource_type =
                shape::check_resource(&root, ResourcePosition::ROOT).map_err(refused)?;
            total = 1usize.saturating_add(count_contained(&root));
            if total > limits.max_resources {
                return Err(RecordsError::TooManyResources {
                    max: limits.max_resources,
                });
            }
            slots.push(Slot {
                entry: None,
                resource_type: resource_type.to_owned(),
                id: obj.get("id").and_then(Value::as_str).map(str::to_owned),
                full_url: None,
            });
            RecordsKind::Single
        };
        let index = build_index(&slots);
        Ok(Self {
            root,
            kind,
            slots,
            index,
            names: None,
        })
    }

    /// A Bundle or a single resource.
    pub fn kind(&self) -> &RecordsKind {
        &self.kind
    }

    /// Number of resources (entries without a resource are not counted).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there is no resource at all (an empty Bundle).
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The resources, in input order.
    pub fn resources(&self) -> impl Iterator<Item = ResourceRef<'_>> + '_ {
        (0..self.slots.len()).filter_map(|i| self.get(i))
    }

    /// The resource at `position` (as in [`ResourceRef::position`]).
    pub fn get(&self, position: usize) -> Option<ResourceRef<'_>> {
        let slot = self.slots.get(position)?;
        let value = self.slot_value(slot)?;
        Some(ResourceRef {
            slot: position,
            resource_type: &slot.resource_type,
            value,
        })
    }

    fn slot_value<'a>(&'a self, slot: &Slot) -> Option<&'a Value> {
        match slot.entry {
            None => Some(&self.root),
            Some(i) => self.root.get("entry")?.get(i)?.get("resource"),
        }
    }

    /// The whole input as JSON (the Bundle, or the single resource).
    pub fn json(&self) -> Redacted<&Value> {
        Redacted::new(&self.root)
    }

    /// Writes the records back as JSON. Extensions and unknown fields are kept.
    pub fn to_json_bytes(&self) -> Redacted<Vec<u8>> {
        // Serialising a `Value` to a Vec cannot fail: keys are strings and there is no I/O.
        Redacted::new(serde_json::to_vec(&self.root).unwrap_or_default())
    }

    /// Finds the resource a FHIR reference points at: a `fullUrl` (`urn:uuid:…`, an absolute
    /// URL), `Type/id`, or an absolute URL ending in `Type/id` (optionally `/_history/n`).
    /// Contained references (`#id`) and conditional references (`Type?query`) resolve to none.
    pub fn resolve(&self, reference: &str) -> Option<ResourceRef<'_>> {
        self.resolve_slot(reference).and_then(|i| self.get(i))
    }

    fn resolve_slot(&self, reference: &str) -> Option<usize> {
        resolve_in(&self.index, reference)
    }

    /// The Composition's title, when the input is a document.
    pub fn document_title(&self) -> Option<Redacted<String>> {
        if self.kind != RecordsKind::Bundle(BundleType::Document) {
            return None;
        }
        self.resources()
            .find(|r| r.resource_type == "Composition")
            .and_then(|r| r.value.get("title"))
            .and_then(Value::as_str)
            .map(|t| Redacted::new(t.to_owned()))
    }

    /// Builds a `collection` Bundle from `(fullUrl, resource)` pairs.
    fn collection(entries: Vec<(Option<String>, Value)>) -> Self {
        let mut bundle = Map::new();
        bundle.insert("resourceType".into(), Value::from("Bundle"));
        bundle.insert("type".into(), Value::from("collection"));
        let mut slots = Vec::with_capacity(entries.len());
        let mut out = Vec::with_capacity(entries.len());
        for (i, (full_url, resource)) in entries.into_iter().enumerate() {
            let resource_type = resource
                .get("resourceType")
                .and_then(Value::as_str)
                .unwrap_or("Resource")
                .to_owned();
            let id = resource
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let mut entry = Map::new();
            if let Some(url) = &full_url {
                entry.insert("fullUrl".into(), Value::from(url.clone()));
            }
            entry.insert("resource".into(), resource);
            out.push(Value::Object(entry));
            slots.push(Slot {
                entry: Some(i),
                resource_type,
                id,
                full_url,
            });
        }
        bundle.insert("entry".into(), Value::Array(out));
        let index = build_index(&slots);
        Self {
            root: Value::Object(bundle),
            kind: RecordsKind::Bundle(BundleType::Collection),
            slots,
            index,
            names: None,
        }
    }
}

fn refused((position, why): (ResourcePosition, Malformed)) -> RecordsError {
    RecordsError::NotAResource { position, why }
}

fn is_type_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
}

fn build_index(slots: &[Slot]) -> HashMap<String, usize> {
    let mut index = HashMap::with_capacity(slots.len() * 2);
    for (i, slot) in slots.iter().enumerate() {
        if let Some(id) = &slot.id {
            index
                .entry(format!("{}/{}", slot.resource_type, id))
                .or_insert(i);
        }
        if let Some(url) = &slot.full_url {
            index.entry(url.clone()).or_insert(i);
        }
    }
    index
}

fn resolve_in(index: &HashMap<String, usize>, reference: &str) -> Option<usize> {
    if reference.starts_with('#') || reference.contains('?') {
        return None;
    }
    if let Some(&i) = index.get(reference) {
        return Some(i);
    }
    // `…/Type/id` or `…/Type/id/_history/n`: try the last `Type/id`.
    let trimmed = match reference.find("/_history/") {
        Some(at) => &reference[..at],
        None => reference,
    };
    let mut parts = trimmed.rsplitn(3, '/');
    let id = parts.next()?;
    let rt = parts.next()?;
    if !is_type_name(rt) {
        return None;
    }
    index.get(&format!("{rt}/{id}")).copied()
}

/// Calls `f` on every `Reference.reference` string inside `value`.
#[cfg(test)]
fn for_each_reference<'a>(value: &'a Value, f: &mut dyn FnMut(&'a str)) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if key == "reference" {
                    if let Value::String(s) = child {
                        f(s);
                    }
                } else {
                    for_each_reference(child, f);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                for_each_reference(item, f);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    use proptest::prelude::*;

    use super::*;

    pub(crate) fn data(name: &str) -> Vec<u8> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/data/fhir")
            .join(name);
        std::fs::read(&path).expect("test data file is in the repository")
    }

    pub(crate) fn load(name: &str) -> Records {
        parse(&data(name), &Limits::default()).expect("test data is valid FHIR")
    }

    pub(crate) const ALL: &[&str] = &[
        "allergyintolerance-example.json",
        "bundle-collection-diagnosticreport.json",
        "bundle-searchset-pulseox.json",
        "condition-example.json",
        "documentreference-example.json",
        "immunization-example.json",
        "ips-minimal.json",
        "ips-nz-pj.json",
        "medicationrequest0301.json",
        "medicationstatementexample1.json",
        "molecularsequence-example.json",
        "observation-example.json",
        "patient-example.json",
        "procedure-synthea.json",
        "synthea-transaction.json",
    ];

    #[test]
    fn reads_every_bundle_type_and_single_resources() {
        let cases = [
            (
                "ips-minimal.json",
                RecordsKind::Bundle(BundleType::Document),
            ),
            ("ips-nz-pj.json", RecordsKind::Bundle(BundleType::Document)),
            (
                "bundle-collection-diagnosticreport.json",
                RecordsKind::Bundle(BundleType::Collection),
            ),
            (
                "bundle-searchset-pulseox.json",
                RecordsKind::Bundle(BundleType::Searchset),
            ),
            (
                "synthea-transaction.json",
                RecordsKind::Bundle(BundleType::Transaction),
            ),
            ("patient-example.json", RecordsKind::Single),
        ];
        for (name, kind) in cases {
            let records = load(name);
            assert_eq!(records.kind(), &kind, "{name}");
            assert!(!records.is_empty(), "{name}");
        }
        assert_eq!(load("ips-nz-pj.json").len(), 55);
        assert_eq!(load("synthea-transaction.json").len(), 70);
    }

    #[test]
    fn round_trip_keeps_everything() {
        for name in ALL {
            let bytes = data(name);
            let original: Value = serde_json::from_slice(&bytes).expect("valid JSON");
            let records = load(name);
            let written = records.to_json_bytes().into_inner();
            let again: Value = serde_json::from_slice(&written).expect("we write JSON");
            assert!(again == original, "{name}: round trip changed the JSON");
            // And a second read gives the same records.
            let reread = parse(&written, &Limits::default()).expect("reads back");
            assert_eq!(reread.len(), records.len());
        }
        // Extensions specifically (Synthea's Patient carries several).
        let records = load("synthea-transaction.json");
        let patient = records
            .resources()
            .find(|r| r.resource_type() == "Patient")
            .expect("a patient");
        let ext = patient.json().expose()["extension"]
            .as_array()
            .map_or(0, Vec::len);
        assert!(ext >= 5);
    }

    #[test]
    fn resolves_references_of_every_form() {
        let records = load("synthea-transaction.json");
        let patient = records
            .resources()
            .find(|r| r.resource_type() == "Patient")
            .expect("a patient");
        let id = patient.json().expose()["id"]
            .as_str()
            .expect("id")
            .to_owned();
        for reference in [
            format!("urn:uuid:{id}"),
            format!("Patient/{id}"),
            format!("https://example.org/fhir/Patient/{id}/_history/2"),
        ] {
            let found = records.resolve(&reference).expect("resolves");
            assert_eq!(found.position(), patient.position());
        }
        assert!(records.resolve("#contained").is_none());
        assert!(records.resolve("Practitioner?identifier=x|1").is_none());
        assert!(records.resolve("Patient/nope").is_none());
    }

    #[test]
    fn limits_have_typed_errors() {
        let bytes = data("ips-minimal.json");
        let small = Limits {
            max_bytes: 100,
            ..Limits::default()
        };
        assert!(matches!(
            parse(&bytes, &small),
            Err(RecordsError::TooLarge { .. })
        ));
        let few = Limits {
            max_resources: 3,
            ..Limits::default()
        };
        assert_eq!(
            parse(&bytes, &few).err(),
            Some(RecordsError::TooManyResources { max: 3 })
        );
        let deep = format!(
            "{{\"resourceType\":\"Basic\",\"x\":{}{}}}",
            "[".repeat(500),
            "]".repeat(500)
        );
        assert_eq!(
            parse(deep.as_bytes(), &Limits::default()).err(),
            Some(RecordsError::TooDeep { max: 100 })
        );
        // Brackets inside strings do not count.
        let fine = format!(
            "{{\"resourceType\":\"Basic\",\"x\":\"{}\"}}",
            "[".repeat(500)
        );
        assert!(parse(fine.as_bytes(), &Limits::default()).is_ok());
        assert!(matches!(
            parse(b"{\"resourceType\":", &Limits::default()),
            Err(RecordsError::NotJson { .. })
        ));
        for (bad, why) in [
            (&b"[]"[..], "the top level is not a JSON object"),
            (b"{\"a\":1}", "no resourceType"),
            (b"{\"resourceType\":\"Bundle\"}", "Bundle without type"),
            (
                b"{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":{}}",
                "Bundle.entry is not an array",
            ),
        ] {
            assert_eq!(
                parse(bad, &Limits::default()).err(),
                Some(RecordsError::NotFhir { why }),
            );
        }
        for (bad, position, why) in [
            (
                &b"{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{\"resource\":{}}]}"[..],
                ResourcePosition::entry(0),
                Malformed::NoResourceType,
            ),
            (
                b"{\"resourceType\":\"no such\"}",
                ResourcePosition::ROOT,
                Malformed::UnknownType { name: None },
            ),
        ] {
            assert_eq!(
                parse(bad, &Limits::default()).err(),
                Some(RecordsError::NotAResource { position, why }),
            );
        }
    }

    /// `parse` of a JSON value.
    fn parse_json(value: &Value) -> Result<Records, RecordsError> {
        parse(
            &serde_json::to_vec(value).expect("serialises"),
            &Limits::default(),
        )
    }

    /// A collection Bundle of `resources`.
    fn bundle_of(resources: Vec<Value>) -> Value {
        let entry: Vec<Value> = resources
            .into_iter()
            .map(|resource| serde_json::json!({ "resource": resource }))
            .collect();
        serde_json::json!({"resourceType": "Bundle", "type": "collection", "entry": entry})
    }

    fn refusal(value: &Value) -> (ResourcePosition, Malformed, String) {
        match parse_json(value) {
            Err(e @ RecordsError::NotAResource { .. }) => {
                let text = e.to_string();
                let RecordsError::NotAResource { position, why } = e else {
                    unreachable!("matched above")
                };
                (position, why, text)
            }
            other => panic!("expected NotAResource, got {other:?}"),
        }
    }

    #[test]
    fn every_fixture_file_still_parses() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/fhir");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("test data folder") {
            let path = entry.expect("folder entry").path();
            if path.extension().is_some_and(|e| e == "json") {
                let bytes = std::fs::read(&path).expect("readable");
                if let Err(e) = parse(&bytes, &Limits::default()) {
                    panic!("{}: {e}", path.display());
                }
                seen += 1;
            }
        }
        assert!(seen >= ALL.len());
    }

    #[test]
    fn a_patient_with_bundle_elements_is_refused_with_its_position() {
        let observation = serde_json::json!({
            "resourceType": "Observation", "status": "final",
            "code": {"text": "weight"}, "valueQuantity": {"value": 70, "unit": "kg"}
        });
        let patient = serde_json::json!({
            "resourceType": "Patient", "id": "p1",
            "name": [{"family": "Zebedee"}],
            "type": "collection", "entry": [{"resource": {"resourceType": "Basic"}}]
        });
        let (position, why, text) = refusal(&bundle_of(vec![observation, patient.clone()]));
        assert_eq!(position, ResourcePosition::entry(1));
        assert_eq!(
            why,
            Malformed::UnknownElement {
                resource_type: "Patient",
                element: Some("type"),
                index: 3,
            }
        );
        assert_eq!(
            text,
            "Bundle entry #1 is refused: `type` (key #3) is not an element of Patient"
        );
        assert!(!text.contains("Zebedee") && !text.contains("collection"));
        // Alone, too.
        let (position, _, _) = refusal(&patient);
        assert_eq!(position, ResourcePosition::ROOT);
        // A key that is no element name anywhere is named by its index only.
        let (_, why, text) = refusal(&serde_json::json!({
            "resourceType": "Patient", "Zebedee Smith": "1970-01-01"
        }));
        assert_eq!(
            why,
            Malformed::UnknownElement {
                resource_type: "Patient",
                element: None,
                index: 1,
            }
        );
        assert!(
            !text.contains("Zebedee") && !text.contains("1970"),
            "{text}"
        );
    }

    #[test]
    fn an_identifier_that_is_not_a_list_is_refused() {
        let wrong = |resource_type, element, item, expected| Malformed::WrongKind {
            resource_type,
            element,
            underscore: false,
            item,
            expected,
        };
        let mrn = serde_json::json!({"system": "urn:mrn", "value": "MRN-884422"});
        let (position, why, text) = refusal(&serde_json::json!({
            "resourceType": "Patient", "identifier": mrn
        }));
        assert_eq!(position, ResourcePosition::ROOT);
        assert_eq!(why, wrong("Patient", "identifier", None, Expected::List));
        assert_eq!(
            text,
            "the top-level resource is refused: Patient.identifier is not a list"
        );
        assert!(!text.contains("884422"));
        // A list of something else than Identifiers.
        let (_, why, _) = refusal(&serde_json::json!({
            "resourceType": "Condition", "identifier": [{"value": "a"}, "MRN-884422"]
        }));
        assert_eq!(
            why,
            wrong("Condition", "identifier", Some(1), Expected::Object)
        );
        // Types without a view: identifier 0..* must be a list...
        let (position, why, _) = refusal(&bundle_of(vec![
            serde_json::json!({"resourceType": "Encounter", "identifier": mrn}),
        ]));
        assert_eq!(position, ResourcePosition::entry(0));
        assert_eq!(why, wrong("Encounter", "identifier", None, Expected::List));
        // ...and 0..1 must be one object (Composition, Bundle).
        let composition = |identifier: Value| {
            bundle_of(vec![serde_json::json!({
                "resourceType": "Composition", "identifier": identifier
            })])
        };
        assert!(parse_json(&composition(mrn.clone())).is_ok());
        let (_, why, _) = refusal(&composition(Value::Array(vec![mrn.clone()])));
        assert_eq!(
            why,
            wrong("Composition", "identifier", None, Expected::Object)
        );
        let (position, why, _) = refusal(&serde_json::json!({
            "resourceType": "Bundle", "type": "collection", "identifier": [mrn]
        }));
        assert_eq!(position, ResourcePosition::ROOT);
        assert_eq!(why, wrong("Bundle", "identifier", None, Expected::Object));
        // `id` is a string.
        let (_, why, _) = refusal(&serde_json::json!({"resourceType": "Goal", "id": 7}));
        assert_eq!(why, wrong("Goal", "id", None, Expected::String));
    }

    #[test]
    fn elements_of_the_wrong_kind_are_refused() {
        let cases = [
            // A single complex element that is a list.
            (
                serde_json::json!({"resourceType": "Observation", "code": [{"text": "x"}]}),
                "Observation.code is not an object",
            ),
            // A single primitive that is an object.
            (
                serde_json::json!({"resourceType": "Patient", "birthDate": {"y": 1970}}),
                "Patient.birthDate is not a string, number or boolean",
            ),
            // A primitive's `_` companion.
            (
                serde_json::json!({"resourceType": "Patient", "_birthDate": "1970"}),
                "Patient._birthDate is not an object",
            ),
            // `_` is only for primitives.
            (
                serde_json::json!({"resourceType": "Patient", "_name": {}}),
                "key #1 is not an element of Patient",
            ),
            // A choice form R4 does not allow.
            (
                serde_json::json!({"resourceType": "Observation", "valueDecimal": 1.5}),
                "key #1 is not an element of Observation",
            ),
            // A choice form of the wrong kind.
            (
                serde_json::json!({"resourceType": "Observation", "valueQuantity": "70 kg"}),
                "Observation.valueQuantity is not an object",
            ),
            (
                serde_json::json!({"resourceType": "AllergyIntolerance", "category": "food"}),
                "AllergyIntolerance.category is not a list",
            ),
            // Common DomainResource elements, on any type.
            (
                serde_json::json!({"resourceType": "CarePlan", "extension": {}}),
                "CarePlan.extension is not a list",
            ),
        ];
        for (resource, expected) in cases {
            let (_, _, text) = refusal(&resource);
            assert_eq!(
                text,
                format!("the top-level resource is refused: {expected}"),
                "{resource}"
            );
        }
        // The allowed forms are accepted.
        for ok in [
            serde_json::json!({"resourceType": "Patient", "birthDate": "1970",
                "_birthDate": {"extension": []}, "deceasedBoolean": false,
                "multipleBirthInteger": 2}),
            serde_json::json!({"resourceType": "Observation", "valueString": "x",
                "_valueString": {"id": "a"}, "effectivePeriod": {}}),
            serde_json::json!({"resourceType": "MedicationRequest",
                "instantiatesUri": ["urn:a", null], "_instantiatesUri": [null, {}]}),
        ] {
            assert!(parse_json(&ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn a_made_up_resource_type_is_refused() {
        let (position, why, text) = refusal(&bundle_of(vec![
            serde_json::json!({"resourceType": "Patient"}),
            serde_json::json!({"resourceType": "Basic"}),
            serde_json::json!({"resourceType": "Pateint", "name": [{"family": "Zebedee"}]}),
        ]));
        assert_eq!(position, ResourcePosition::entry(2));
        assert_eq!(
            why,
            Malformed::UnknownType {
                name: Some("Pateint".into())
            }
        );
        assert_eq!(
            text,
            "Bundle entry #2 is refused: `Pateint` is not a FHIR R4 resource type"
        );
        // An R5-only type is not R4 (and, being no near miss of one, is not quoted).
        let (_, why, _) = refusal(&serde_json::json!({"resourceType": "ArtifactAssessment"}));
        assert!(matches!(why, Malformed::UnknownType { name: None }));
        // Not an object at all.
        let (position, why, _) = refusal(&serde_json::json!({
            "resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": {"resourceType": "Basic"}}, {"resource": "Patient/1"}]
        }));
        assert_eq!(position, ResourcePosition::entry(1));
        assert_eq!(why, Malformed::NotAnObject);
    }

    #[test]
    fn a_resource_type_that_is_not_a_name_is_not_quoted() {
        let long = "Patient".repeat(20);
        for claimed in [
            "Zoë Ångström, born 1970-01-01",
            "Zebedee Smith",
            "Smith",
            "Zoë",
            long.as_str(),
            "",
        ] {
            let (_, why, text) = refusal(&bundle_of(vec![
                serde_json::json!({"resourceType": claimed}),
            ]));
            assert_eq!(why, Malformed::UnknownType { name: None }, "{claimed}");
            assert_eq!(
                text,
                "Bundle entry #0 is refused: its resourceType is not a FHIR R4 resource type (not quoted)"
            );
        }
    }

    #[test]
    fn a_contained_resource_is_checked_too() {
        let (position, why, text) = refusal(&bundle_of(vec![
            serde_json::json!({"resourceType": "Basic"}),
            serde_json::json!({
                "resourceType": "MedicationStatement",
                "contained": [
                    {"resourceType": "Medication", "id": "m"},
                    {"resourceType": "Patient", "identifier": {"value": "MRN-884422"}}
                ],
                "medicationReference": {"reference": "#m"}
            }),
        ]));
        assert_eq!(
            position,
            ResourcePosition {
                entry: Some(1),
                contained: Some(1)
            }
        );
        assert!(matches!(
            why,
            Malformed::WrongKind {
                resource_type: "Patient",
                element: "identifier",
                ..
            }
        ));
        assert!(
            text.starts_with("Bundle entry #1, contained resource #1 is refused: "),
            "{text}"
        );
    }

    #[test]
    fn r4_types_without_a_view_still_read_generically() {
        let care_plan = serde_json::json!({
            "resourceType": "CarePlan", "id": "cp", "status": "active", "intent": "plan",
            "identifier": [{"value": "1"}], "title": "Walking plan",
            "subject": {"reference": "Patient/p"},
            // Elements Haven has no table for are not refused on these types.
            "activity": [{"detail": {"status": "in-progress"}}]
        });
        let goal = serde_json::json!({
            "resourceType": "Goal", "lifecycleStatus": "active",
            "description": {"text": "Walk 5 km"}, "subject": {"reference": "Patient/p"}
        });
        let records = parse_json(&bundle_of(vec![care_plan.clone(), goal])).expect("reads");
        assert_eq!(records.len(), 2);
        for resource in records.resources() {
            assert!(
                matches!(resource.typed(), Typed::Other(_)),
                "{}",
                resource.resource_type()
            );
        }
        let single = parse_json(&care_plan).expect("reads");
        assert!(matches!(
            single.get(0).expect("one").typed(),
            Typed::Other(_)
        ));
    }

    #[test]
    fn debug_output_never_shows_patient_data() {
        let records = load("ips-minimal.json");
        let debug = format!("{records:?}");
        assert!(!debug.contains("Martha"));
        let patient = records
            .resources()
            .find(|r| r.resource_type() == "Patient")
            .expect("a patient");
        let debug = format!("{patient:?} {:?} {:?}", patient.typed(), patient.key());
        assert!(
            !debug.contains("Martha") && !debug.contains("DeLarosa"),
            "{debug}"
        );
        let summary = summarise(&records);
        let debug = format!("{summary:?}");
        assert!(
            !debug.contains("Martha") && !debug.contains("Anastrozole"),
            "{debug}"
        );
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-zA-Z0-9:/#?._ -]{0,12}".prop_map(Value::from),
            prop_oneof![
                Just("Patient"),
                Just("Bundle"),
                Just("Observation"),
                Just("Patient/1"),
                Just("urn:uuid:1"),
                Just("1999-12-31"),
                Just("document"),
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(
                    (
                        prop_oneof![
                            Just("resourceType".to_owned()),
                            Just("type".to_owned()),
                            Just("entry".to_owned()),
                            Just("resource".to_owned()),
                            Just("fullUrl".to_owned()),
                            Just("id".to_owned()),
                            Just("reference".to_owned()),
                            Just("subject".to_owned()),
                            Just("code".to_owned()),
                            Just("valueQuantity".to_owned()),
                            Just("effectiveDateTime".to_owned()),
                            Just("name".to_owned()),
                            Just("text".to_owned()),
                            Just("contained".to_owned()),
                            "[a-z]{1,8}",
                        ],
                        inner
                    ),
                    0..6
                )
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&bytes, &Limits::default());
        }

        #[test]
        fn arbitrary_resources_in_a_bundle_never_panic(
            types in prop::collection::vec(
                prop_oneof![
                    Just("Patient"), Just("Observation"), Just("Condition"),
                    Just("MedicationStatement"), Just("MedicationRequest"),
                    Just("AllergyIntolerance"), Just("Immunization"), Just("Procedure"),
                    Just("DiagnosticReport"), Just("DocumentReference"), Just("Composition"),
                    Just("Organization"), Just("Basic"),
                ],
                1..6,
            ),
            bodies in prop::collection::vec(arb_json(), 1..6),
        ) {
            let entries: Vec<Value> = types
                .iter()
                .zip(bodies)
                .enumerate()
                .map(|(i, (rt, body))| {
                    let mut resource = match body {
                        Value::Object(map) => map,
                        other => [("value".to_owned(), other)].into_iter().collect(),
                    };
                    resource.insert("resourceType".into(), Value::from(*rt));
                    resource.insert("id".into(), Value::from(i.to_string()));
                    serde_json::json!({"fullUrl": format!("urn:uuid:{i}"), "resource": resource})
                })
                .collect();
            let bundle = serde_json::json!({"resourceType": "Bundle", "type": "document", "entry": entries});
            exercise(&serde_json::to_vec(&bundle).expect("serialises"));
        }

        #[test]
        fn arbitrary_json_never_panics(value in arb_json()) {
            exercise(&serde_json::to_vec(&value).expect("serialises"));
        }
    }

    /// Runs every entry point on `bytes`; none may panic.
    fn exercise(bytes: &[u8]) {
        {
            let bytes = bytes.to_vec();
            if let Ok(records) = parse(&bytes, &Limits::default()) {
                let summary = summarise(&records);
                let _ = render_text(&summary);
                let selectors = [Selector::Section(SectionKind::Other)];
                let _ = records.select(&selectors);
                let _ = records.select_positions(&[0, 1, 99]);
                let all: Vec<Selector> = SectionKind::ALL
                    .iter()
                    .copied()
                    .map(Selector::Section)
                    .collect();
                let key = AnonKey::from_bytes([7; 32]);
                let opts = AnonymiseOptions { current_year: 2026 };
                if let Ok(shared) = records.select(&all) {
                    let anon = anonymise(shared, &key, &opts);
                    let _ = anon.to_json_bytes();
                    let _ = summarise(&anon);
                }
                let _ = anonymise(records, &key, &opts);
            }
        }
    }
}
