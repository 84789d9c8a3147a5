//! The clinician-readable summary, in the International Patient Summary's sections.
//!
//! Every string in a [`Summary`] is patient data and is held in a [`Redacted`]: read it with
//! `.expose()` to draw it on the records board or print it for `haven records show`, and never
//! pass it to a log macro. `Debug` on these types prints `[redacted]` for every string.

use std::collections::HashMap;

use haven_proto::Redacted;
use serde_json::Value;

use super::dates::short;
use super::values::{ObsValue, codeable_text};
use super::view::Typed;
use super::{Records, RecordsKind};

/// The sections of the summary, which are also the names a patient can select by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SectionKind {
    /// The Patient resource(s).
    Patient,
    /// Conditions.
    Problems,
    /// MedicationStatements and MedicationRequests.
    Medications,
    /// AllergyIntolerances.
    Allergies,
    /// Immunizations.
    Immunizations,
    /// Observations and DiagnosticReports.
    Results,
    /// Procedures.
    Procedures,
    /// Everything else (DocumentReference, Practitioner, Organization, Encounter, …).
    Other,
}

impl SectionKind {
    /// Every section, in the order the summary shows them.
    pub const ALL: [Self; 8] = [
        Self::Patient,
        Self::Problems,
        Self::Medications,
        Self::Allergies,
        Self::Immunizations,
        Self::Results,
        Self::Procedures,
        Self::Other,
    ];

    /// The section a resource type belongs to.
    pub fn of(resource_type: &str) -> Self {
        match resource_type {
            "Patient" => Self::Patient,
            "Condition" => Self::Problems,
            "MedicationStatement" | "MedicationRequest" => Self::Medications,
            "AllergyIntolerance" => Self::Allergies,
            "Immunization" => Self::Immunizations,
            "Observation" | "DiagnosticReport" => Self::Results,
            "Procedure" => Self::Procedures,
            _ => Self::Other,
        }
    }

    /// The name used on the command line (`problems`, `medications`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::Patient => "patient",
            Self::Problems => "problems",
            Self::Medications => "medications",
            Self::Allergies => "allergies",
            Self::Immunizations => "immunizations",
            Self::Results => "results",
            Self::Procedures => "procedures",
            Self::Other => "other",
        }
    }

    /// The heading shown to people.
    pub fn title(self) -> &'static str {
        match self {
            Self::Patient => "Patient",
            Self::Problems => "Problems",
            Self::Medications => "Medications",
            Self::Allergies => "Allergies and intolerances",
            Self::Immunizations => "Immunizations",
            Self::Results => "Results",
            Self::Procedures => "Procedures",
            Self::Other => "Other records",
        }
    }

    /// The section named `name` (as [`SectionKind::name`] writes it, any case).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name))
    }
}

/// One line of the summary.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The resource's selection key (`Type/id`), for "share this one".
    pub key: Redacted<String>,
    /// Position of the resource in [`Records::resources`].
    pub position: usize,
    /// What it is: the code's display text (a problem, a drug, a test).
    pub text: Redacted<String>,
    /// Details: value with unit and reference range, status, dosage, reactions.
    pub detail: Redacted<String>,
    /// The date that matters for it (onset, effective, occurrence), `YYYY-MM-DD` or as
    /// precise as the record is; empty when unknown.
    pub date: Redacted<String>,
    /// Results only: how many earlier values of the same test are in the records.
    pub earlier: usize,
}

/// One section with its rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    /// Which section.
    pub kind: SectionKind,
    /// Its rows, in the records' order (results: one row per test, latest value).
    pub rows: Vec<Row>,
}

/// The summary of some records: IPS-style sections, codes shown by their display text.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// The document's title, when the records are a document.
    pub title: Option<Redacted<String>>,
    /// One line about the patient (name, gender, birth date), when a Patient is present.
    pub patient: Option<Redacted<String>>,
    /// The non-empty sections, in [`SectionKind::ALL`] order (the Patient is in
    /// [`Summary::patient`], not here).
    pub sections: Vec<Section>,
    /// How many resources the records hold.
    pub resource_count: usize,
}

impl Summary {
    /// The section of that kind, if it has rows.
    pub fn section(&self, kind: SectionKind) -> Option<&Section> {
        self.sections.iter().find(|s| s.kind == kind)
    }
}

fn join(parts: &[Option<String>]) -> String {
    parts
        .iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(", ")
}

fn opt_date(v: Option<&ObsValue>) -> String {
    v.map(|v| match v.date() {
        Some(d) => short(d).to_owned(),
        None => v.text(),
    })
    .unwrap_or_default()
}

fn row(
    records: &Records,
    position: usize,
    text: Option<String>,
    detail: String,
    date: String,
) -> Row {
    let key = records
        .get(position)
        .map(|r| r.key().into_inner())
        .unwrap_or_default();
    Row {
        key: Redacted::new(key),
        position,
        text: Redacted::new(text.unwrap_or_else(|| "(no code)".to_owned())),
        detail: Redacted::new(detail),
        date: Redacted::new(date),
        earlier: 0,
    }
}

/// The text of the Medication a statement or request points at: `#id` in `contained`, else
/// a Medication in the records.
fn medication_text(records: &Records, resource: &Value, reference: &str) -> Option<String> {
    let medication = if let Some(local) = reference.strip_prefix('#') {
        resource
            .get("contained")
            .and_then(Value::as_array)
            .and_then(|c| {
                c.iter()
                    .find(|r| r.get("id").and_then(Value::as_str) == Some(local))
            })
    } else {
        records.resolve(reference).map(|r| r.value)
    }?;
    medication.get("code").and_then(codeable_text)
}

/// Builds the summary. Pure and cheap: no I/O, no logging.
pub fn summarise(records: &Records) -> Summary {
    let mut rows: HashMap<SectionKind, Vec<Row>> = HashMap::new();
    let mut patient = None;
    // Results: latest Observation per test, with the count of earlier ones and its date.
    let mut result_order: Vec<String> = Vec::new();
    let mut result_rows: HashMap<String, (Row, usize, String)> = HashMap::new();

    for r in records.resources() {
        let kind = SectionKind::of(r.resource_type);
        let position = r.position();
        let new_row = match r.typed() {
            Typed::Patient(p) => {
                if patient.is_none() {
                    patient = Some(join(&[
                        p.name,
                        p.gender,
                        p.birth_date.map(|d| format!("born {d}")),
                        p.deceased.then(|| "deceased".to_owned()),
                    ]));
                }
                None
            }
            Typed::Condition(c) => Some(row(
                records,
                position,
                c.code,
                join(&[c.clinical_status, c.verification_status, c.severity]),
                opt_date(c.onset.as_ref()),
            )),
            Typed::MedicationStatement(m) | Typed::MedicationRequest(m) => {
                let name = m.medication.or_else(|| {
                    m.medication_reference
                        .as_deref()
                        .and_then(|reference| medication_text(records, r.value, reference))
                });
                Some(row(
                    records,
                    position,
                    name,
                    join(&[m.dosage, m.status]),
                    m.date.as_deref().map(short).unwrap_or_default().to_owned(),
                ))
            }
            Typed::AllergyIntolerance(a) => Some(row(
                records,
                position,
                a.code,
                join(&[
                    a.criticality.map(|c| format!("criticality {c}")),
                    (!a.reactions.is_empty()).then(|| a.reactions.join(", ")),
                    a.clinical_status,
                ]),
                opt_date(a.onset.as_ref()),
            )),
            Typed::Immunization(i) => Some(row(
                records,
                position,
                i.vaccine,
                join(&[i.status]),
                opt_date(i.occurrence.as_ref()),
            )),
            Typed::Procedure(p) => Some(row(
                records,
                position,
                p.code,
                join(&[p.status]),
                opt_date(p.performed.as_ref()),
            )),
            Typed::DiagnosticReport(d) => Some(row(
                records,
                position,
                d.code.map(|c| format!("Report: {c}")),
                join(&[
                    d.conclusion,
                    (d.results > 0).then(|| format!("{} results", d.results)),
                    d.status,
                ]),
                d.effective
                    .as_deref()
                    .map(short)
                    .unwrap_or_default()
                    .to_owned(),
            )),
            Typed::Observation(o) => {
                let mut detail = o.value_text();
                if let Some(range) = o.reference_ranges.first() {
                    detail.push_str(&format!(" (ref {range})"));
                }
                if let Some(flag) = &o.interpretation {
                    detail.push_str(&format!(" [{flag}]"));
                }
                let date = o.effective.clone().unwrap_or_default();
                let group = o.code_key.clone().unwrap_or_else(|| format!("#{position}"));
                let new = row(records, position, o.code, detail, short(&date).to_owned());
                match result_rows.get_mut(&group) {
                    None => {
                        result_order.push(group.clone());
                        result_rows.insert(group, (new, 0, date));
                    }
                    Some((current, count, best)) => {
                        *count += 1;
                        if date > *best {
                            *best = date;
                            *current = new;
                        }
                    }
                }
                None
            }
            Typed::DocumentReference(d) => Some(row(
                records,
                position,
                d.doc_type.map(|t| format!("Document: {t}")),
                join(&[
                    d.description,
                    (!d.content_types.is_empty()).then(|| d.content_types.join(", ")),
                ]),
                d.date.as_deref().map(short).unwrap_or_default().to_owned(),
            )),
            Typed::Other(g) => {
                if g.resource_type == "Composition"
                    && records.kind() == &RecordsKind::Bundle(super::BundleType::Document)
                {
                    // The document's own header: its title is the summary's title.
                    None
                } else {
                    Some(row(
                        records,
                        position,
                        Some(g.resource_type.clone()),
                        g.label.unwrap_or_default(),
                        String::new(),
                    ))
                }
            }
        };
        if let Some(new_row) = new_row {
            rows.entry(kind).or_default().push(new_row);
        }
    }
    // Results: reports in order first, then one row per test.
    let results = rows.entry(SectionKind::Results).or_default();
    for group in result_order {
        if let Some((mut r, earlier, _)) = result_rows.remove(&group) {
            r.earlier = earlier;
            results.push(r);
        }
    }
    let sections = SectionKind::ALL
        .into_iter()
        .filter(|k| *k != SectionKind::Patient)
        .filter_map(|kind| {
            let rows = rows.remove(&kind)?;
            (!rows.is_empty()).then_some(Section { kind, rows })
        })
        .collect();
    Summary {
        title: records.document_title(),
        patient: patient.map(Redacted::new),
        sections,
        resource_count: records.len(),
    }
}

/// Renders the summary as plain text (ASCII punctuation, so any font draws it), for the
/// records board and `haven records show`. The text is patient data: print it to the person,
/// never log it.
pub fn render_text(summary: &Summary) -> Redacted<String> {
    let mut out = String::new();
    if let Some(title) = &summary.title {
        out.push_str(title.expose());
        out.push('\n');
    }
    match &summary.patient {
        Some(p) => {
            out.push_str("Patient: ");
            out.push_str(p.expose());
            out.push('\n');
        }
        None => out.push_str("Patient: (not included)\n"),
    }
    for section in &summary.sections {
        out.push_str(&format!(
            "\n{} ({})\n",
            section.kind.title(),
            section.rows.len()
        ));
        for r in &section.rows {
            out.push_str("  - ");
            out.push_str(r.text.expose());
            if !r.detail.expose().is_empty() {
                out.push_str(": ");
                out.push_str(r.detail.expose());
            }
            if !r.date.expose().is_empty() {
                out.push_str(" | ");
                out.push_str(r.date.expose());
            }
            if r.earlier > 0 {
                out.push_str(&format!(" (+{} earlier)", r.earlier));
            }
            out.push('\n');
        }
    }
    if summary.sections.is_empty() {
        out.push_str("\n(no clinical records)\n");
    }
    Redacted::new(out)
}

#[cfg(test)]
mod tests {
    use super::super::tests::load;
    use super::*;

    fn texts(summary: &Summary, kind: SectionKind) -> Vec<String> {
        summary
            .section(kind)
            .map(|s| s.rows.iter().map(|r| r.text.expose().clone()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn ips_document_summary() {
        let summary = summarise(&load("ips-minimal.json"));
        assert!(summary.title.is_some());
        let patient = summary
            .patient
            .as_ref()
            .expect("a patient")
            .expose()
            .clone();
        assert!(patient.contains("female"), "{patient}");
        assert!(!texts(&summary, SectionKind::Problems).is_empty());
        assert!(!texts(&summary, SectionKind::Medications).is_empty());
        assert!(!texts(&summary, SectionKind::Allergies).is_empty());
        // The Composition is the header, not an "other" row.
        assert!(
            !texts(&summary, SectionKind::Other)
                .iter()
                .any(|t| t == "Composition")
        );
        let text = render_text(&summary).into_inner();
        assert!(text.contains("Medications ("), "{text}");
        assert!(text.is_ascii() || !text.contains('\u{2014}'));
    }

    #[test]
    fn medication_reference_resolves_to_its_name() {
        // The minimal IPS names its drug through a Medication resource in the Bundle.
        let summary = summarise(&load("ips-minimal.json"));
        let meds = texts(&summary, SectionKind::Medications);
        assert!(meds.iter().all(|m| m != "(no code)"), "{meds:?}");
        // And through `contained` in the HL7 example.
        let summary = summarise(&load("medicationstatementexample1.json"));
        let meds = texts(&summary, SectionKind::Medications);
        assert_eq!(meds, ["Tylenol PM"]);
    }

    #[test]
    fn results_show_the_latest_value_per_test() {
        let summary = summarise(&load("synthea-transaction.json"));
        let results = summary.section(SectionKind::Results).expect("results");
        let weight = results
            .rows
            .iter()
            .find(|r| r.text.expose() == "Body Weight")
            .expect("a weight row");
        assert!(weight.earlier >= 1, "Synthea has several weights");
        assert!(
            weight.detail.expose().ends_with("kg"),
            "{}",
            weight.detail.expose()
        );
        assert!(
            weight.date.expose().starts_with("2018"),
            "latest of the three visits"
        );
        // One row per test.
        let names: Vec<&String> = results
            .rows
            .iter()
            .map(|r| r.text.expose())
            .filter(|t| !t.starts_with("Report: "))
            .collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        let text = render_text(&summary).into_inner();
        assert!(text.contains("Immunizations ("));
        assert!(
            text.contains("Other records ("),
            "Claims and Encounters are shown generically"
        );
    }

    #[test]
    fn all_sections_of_the_nz_ips() {
        let summary = summarise(&load("ips-nz-pj.json"));
        for kind in [
            SectionKind::Problems,
            SectionKind::Medications,
            SectionKind::Allergies,
            SectionKind::Immunizations,
            SectionKind::Results,
            SectionKind::Procedures,
        ] {
            assert!(summary.section(kind).is_some(), "{kind:?}");
        }
        let text = render_text(&summary).into_inner();
        assert!(!text.contains("(no code)"), "{text}");
    }

    #[test]
    fn section_names_round_trip() {
        for kind in SectionKind::ALL {
            assert_eq!(SectionKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(
            SectionKind::from_name("Results"),
            Some(SectionKind::Results)
        );
        assert_eq!(SectionKind::from_name("nope"), None);
    }
}
