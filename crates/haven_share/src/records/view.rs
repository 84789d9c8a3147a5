//! Typed, read-only views of the common clinical resources, derived from their JSON.
//!
//! The views hold patient data in plain `String`s. They have no `Display`, and their `Debug`
//! prints `[redacted]`, so they cannot reach a log line by accident.

use core::fmt;

use serde_json::Value;

use super::values::{
    ObsValue, Quantity, codeable_text, concept_at, concept_key, owned, range_text, str_at,
};

macro_rules! redacted_debug {
    ($($ty:ident),* $(,)?) => {$(
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($ty), "([redacted])"))
            }
        }
    )*};
}

redacted_debug!(
    PatientView,
    ConditionView,
    ObservationView,
    MedicationView,
    AllergyView,
    ImmunizationView,
    ProcedureView,
    DiagnosticReportView,
    DocumentReferenceView,
    GenericView,
);

/// A typed view of one resource.
#[derive(Debug, Clone, PartialEq)]
pub enum Typed {
    /// Patient.
    Patient(PatientView),
    /// Condition.
    Condition(ConditionView),
    /// Observation.
    Observation(ObservationView),
    /// MedicationStatement.
    MedicationStatement(MedicationView),
    /// MedicationRequest.
    MedicationRequest(MedicationView),
    /// AllergyIntolerance.
    AllergyIntolerance(AllergyView),
    /// Immunization.
    Immunization(ImmunizationView),
    /// Procedure.
    Procedure(ProcedureView),
    /// DiagnosticReport.
    DiagnosticReport(DiagnosticReportView),
    /// DocumentReference.
    DocumentReference(DocumentReferenceView),
    /// Any other resource, kept whole and shown generically.
    Other(GenericView),
}

/// Patient.
#[derive(Clone, PartialEq)]
pub struct PatientView {
    /// The official name (else the first), as `text` or given + family.
    pub name: Option<String>,
    /// `gender`.
    pub gender: Option<String>,
    /// `birthDate`.
    pub birth_date: Option<String>,
    /// Whether `deceased[x]` says so.
    pub deceased: bool,
}

/// Condition (a problem or a past illness).
#[derive(Clone, PartialEq)]
pub struct ConditionView {
    /// `code`.
    pub code: Option<String>,
    /// `clinicalStatus`.
    pub clinical_status: Option<String>,
    /// `verificationStatus`.
    pub verification_status: Option<String>,
    /// `severity`.
    pub severity: Option<String>,
    /// `onset[x]`.
    pub onset: Option<ObsValue>,
    /// `abatement[x]`.
    pub abatement: Option<ObsValue>,
    /// `recordedDate`.
    pub recorded: Option<String>,
}

/// Observation (a result, a vital sign, a social-history item).
#[derive(Clone, PartialEq)]
pub struct ObservationView {
    /// `code`, for people.
    pub code: Option<String>,
    /// `system|code` of `code` (groups the same test).
    pub code_key: Option<String>,
    /// `status`.
    pub status: Option<String>,
    /// `category` (the first).
    pub category: Option<String>,
    /// `value[x]`.
    pub value: Option<ObsValue>,
    /// `dataAbsentReason`.
    pub data_absent: Option<String>,
    /// `component[]`: code and `value[x]`.
    pub components: Vec<(Option<String>, Option<ObsValue>)>,
    /// `referenceRange[]`, for people (`low–high`, else its text).
    pub reference_ranges: Vec<String>,
    /// `interpretation` (the first).
    pub interpretation: Option<String>,
    /// `effective[x]` (a dateTime, or a period's start), else `issued`.
    pub effective: Option<String>,
}

impl ObservationView {
    /// The value for people: `value[x]`, else the components joined, else the reason it is
    /// absent.
    pub fn value_text(&self) -> String {
        if let Some(v) = &self.value {
            return v.text();
        }
        if !self.components.is_empty() {
            return self
                .components
                .iter()
                .map(|(code, v)| {
                    format!(
                        "{}: {}",
                        code.as_deref().unwrap_or("?"),
                        v.as_ref().map_or_else(|| "-".to_owned(), ObsValue::text)
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
        }
        self.data_absent
            .as_ref()
            .map_or_else(String::new, |r| format!("(absent: {r})"))
    }
}

/// MedicationStatement or MedicationRequest.
#[derive(Clone, PartialEq)]
pub struct MedicationView {
    /// `medication[x]`: the CodeableConcept's text, else the Reference's display.
    pub medication: Option<String>,
    /// `medicationReference.reference`, to resolve against the Bundle or `contained`.
    pub medication_reference: Option<String>,
    /// `status`.
    pub status: Option<String>,
    /// `dosage[]` / `dosageInstruction[]` texts joined.
    pub dosage: Option<String>,
    /// `effective[x]` (statement) or `authoredOn` (request), else `dateAsserted`.
    pub date: Option<String>,
}

/// AllergyIntolerance.
#[derive(Clone, PartialEq)]
pub struct AllergyView {
    /// `code`.
    pub code: Option<String>,
    /// `clinicalStatus`.
    pub clinical_status: Option<String>,
    /// `criticality`.
    pub criticality: Option<String>,
    /// `category[]`.
    pub category: Vec<String>,
    /// `reaction[].manifestation[]`.
    pub reactions: Vec<String>,
    /// `onset[x]`.
    pub onset: Option<ObsValue>,
}

/// Immunization.
#[derive(Clone, PartialEq)]
pub struct ImmunizationView {
    /// `vaccineCode`.
    pub vaccine: Option<String>,
    /// `status`.
    pub status: Option<String>,
    /// `occurrence[x]`.
    pub occurrence: Option<ObsValue>,
}

/// Procedure.
#[derive(Clone, PartialEq)]
pub struct ProcedureView {
    /// `code`.
    pub code: Option<String>,
    /// `status`.
    pub status: Option<String>,
    /// `performed[x]`.
    pub performed: Option<ObsValue>,
}

/// DiagnosticReport.
#[derive(Clone, PartialEq)]
pub struct DiagnosticReportView {
    /// `code`.
    pub code: Option<String>,
    /// `status`.
    pub status: Option<String>,
    /// `effective[x]`, else `issued`.
    pub effective: Option<String>,
    /// `conclusion`, else `conclusionCode[]`.
    pub conclusion: Option<String>,
    /// How many `result[]` Observations it lists.
    pub results: usize,
}

/// DocumentReference.
#[derive(Clone, PartialEq)]
pub struct DocumentReferenceView {
    /// `type`.
    pub doc_type: Option<String>,
    /// `status`.
    pub status: Option<String>,
    /// `date`, else `context.period.start`.
    pub date: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `content[].attachment.contentType`.
    pub content_types: Vec<String>,
}

/// Any other resource.
#[derive(Clone, PartialEq)]
pub struct GenericView {
    /// `resourceType`.
    pub resource_type: String,
    /// The best label found (`code`, `type`, `title`, `name`, `description`), if any.
    pub label: Option<String>,
}

fn choice_date(v: &Value, prefix: &str) -> Option<String> {
    ObsValue::choice(v, prefix).and_then(|c| c.date().map(str::to_owned))
}

fn human_name(name: &Value) -> Option<String> {
    if let Some(text) = str_at(name, "text") {
        return Some(text.to_owned());
    }
    let mut parts: Vec<&str> = Vec::new();
    if let Some(given) = name.get("given").and_then(Value::as_array) {
        parts.extend(given.iter().filter_map(Value::as_str));
    }
    if let Some(family) = str_at(name, "family") {
        parts.push(family);
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

fn texts_of(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(codeable_text).collect())
        .unwrap_or_default()
}

fn dosage_text(v: &Value, key: &str) -> Option<String> {
    let dosages = v.get(key).and_then(Value::as_array)?;
    let texts: Vec<String> = dosages
        .iter()
        .filter_map(|d| {
            str_at(d, "text")
                .map(str::to_owned)
                .or_else(|| str_at(d, "patientInstruction").map(str::to_owned))
        })
        .collect();
    (!texts.is_empty()).then(|| texts.join("; "))
}

fn generic_label(v: &Value) -> Option<String> {
    for key in ["code", "type", "vaccineCode", "category"] {
        match v.get(key) {
            Some(c @ Value::Object(_)) => {
                if let Some(t) = codeable_text(c) {
                    return Some(t);
                }
            }
            Some(Value::Array(items)) => {
                if let Some(t) = items.iter().find_map(codeable_text) {
                    return Some(t);
                }
            }
            _ => {}
        }
    }
    for key in ["title", "name", "description"] {
        if let Some(s) = str_at(v, key) {
            return Some(s.to_owned());
        }
    }
    None
}

/// Derives the typed view of one resource.
pub(crate) fn typed(v: &Value) -> Typed {
    let resource_type = str_at(v, "resourceType").unwrap_or("");
    match resource_type {
        "Patient" => {
            let names = v.get("name").and_then(Value::as_array);
            let name = names.and_then(|names| {
                names
                    .iter()
                    .find(|n| str_at(n, "use") == Some("official"))
                    .or_else(|| names.first())
                    .and_then(human_name)
            });
            Typed::Patient(PatientView {
                name,
                gender: owned(v, "gender"),
                birth_date: owned(v, "birthDate"),
                deceased: v.get("deceasedBoolean").and_then(Value::as_bool) == Some(true)
                    || v.get("deceasedDateTime").is_some(),
            })
        }
        "Condition" => Typed::Condition(ConditionView {
            code: concept_at(v, "code"),
            clinical_status: concept_at(v, "clinicalStatus"),
            verification_status: concept_at(v, "verificationStatus"),
            severity: concept_at(v, "severity"),
            onset: ObsValue::choice(v, "onset"),
            abatement: ObsValue::choice(v, "abatement"),
            recorded: owned(v, "recordedDate"),
        }),
        "Observation" => {
            let components = v
                .get("component")
                .and_then(Value::as_array)
                .map(|cs| {
                    cs.iter()
                        .map(|c| (concept_at(c, "code"), ObsValue::choice(c, "value")))
                        .collect()
                })
                .unwrap_or_default();
            let reference_ranges = v
                .get("referenceRange")
                .and_then(Value::as_array)
                .map(|rs| {
                    rs.iter()
                        .filter_map(|r| {
                            let low = r.get("low").and_then(Quantity::from_json);
                            let high = r.get("high").and_then(Quantity::from_json);
                            let text = range_text(low.as_ref(), high.as_ref());
                            if text.is_empty() {
                                owned(r, "text")
                            } else {
                                Some(text)
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            Typed::Observation(ObservationView {
                code: concept_at(v, "code"),
                code_key: v.get("code").and_then(concept_key),
                status: owned(v, "status"),
                category: v
                    .get("category")
                    .and_then(Value::as_array)
                    .and_then(|c| c.iter().find_map(codeable_text)),
                value: ObsValue::choice(v, "value"),
                data_absent: concept_at(v, "dataAbsentReason"),
                components,
                reference_ranges,
                interpretation: v
                    .get("interpretation")
                    .and_then(Value::as_array)
                    .and_then(|c| c.iter().find_map(codeable_text)),
                effective: choice_date(v, "effective").or_else(|| owned(v, "issued")),
            })
        }
        "MedicationStatement" | "MedicationRequest" => {
            let statement = resource_type == "MedicationStatement";
            let view = MedicationView {
                medication: v
                    .get("medicationCodeableConcept")
                    .and_then(codeable_text)
                    .or_else(|| {
                        v.get("medicationReference")
                            .and_then(|r| owned(r, "display"))
                    }),
                medication_reference: v
                    .get("medicationReference")
                    .and_then(|r| owned(r, "reference")),
                status: owned(v, "status"),
                dosage: dosage_text(
                    v,
                    if statement {
                        "dosage"
                    } else {
                        "dosageInstruction"
                    },
                ),
                date: if statement {
                    choice_date(v, "effective").or_else(|| owned(v, "dateAsserted"))
                } else {
                    owned(v, "authoredOn")
                },
            };
            if statement {
                Typed::MedicationStatement(view)
            } else {
                Typed::MedicationRequest(view)
            }
        }
        "AllergyIntolerance" => Typed::AllergyIntolerance(AllergyView {
            code: concept_at(v, "code"),
            clinical_status: concept_at(v, "clinicalStatus"),
            criticality: owned(v, "criticality"),
            category: v
                .get("category")
                .and_then(Value::as_array)
                .map(|c| {
                    c.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            reactions: v
                .get("reaction")
                .and_then(Value::as_array)
                .map(|rs| {
                    rs.iter()
                        .flat_map(|r| texts_of(r, "manifestation"))
                        .collect()
                })
                .unwrap_or_default(),
            onset: ObsValue::choice(v, "onset"),
        }),
        "Immunization" => Typed::Immunization(ImmunizationView {
            vaccine: concept_at(v, "vaccineCode"),
            status: owned(v, "status"),
            occurrence: ObsValue::choice(v, "occurrence"),
        }),
        "Procedure" => Typed::Procedure(ProcedureView {
            code: concept_at(v, "code"),
            status: owned(v, "status"),
            performed: ObsValue::choice(v, "performed"),
        }),
        "DiagnosticReport" => Typed::DiagnosticReport(DiagnosticReportView {
            code: concept_at(v, "code"),
            status: owned(v, "status"),
            effective: choice_date(v, "effective").or_else(|| owned(v, "issued")),
            conclusion: owned(v, "conclusion").or_else(|| {
                let codes = texts_of(v, "conclusionCode");
                (!codes.is_empty()).then(|| codes.join(", "))
            }),
            results: v
                .get("result")
                .and_then(Value::as_array)
                .map_or(0, Vec::len),
        }),
        "DocumentReference" => Typed::DocumentReference(DocumentReferenceView {
            doc_type: concept_at(v, "type"),
            status: owned(v, "status"),
            date: owned(v, "date").or_else(|| {
                v.get("context")
                    .and_then(|c| c.get("period"))
                    .and_then(|p| owned(p, "start"))
            }),
            description: owned(v, "description"),
            content_types: v
                .get("content")
                .and_then(Value::as_array)
                .map(|cs| {
                    cs.iter()
                        .filter_map(|c| c.get("attachment").and_then(|a| owned(a, "contentType")))
                        .collect()
                })
                .unwrap_or_default(),
        }),
        other => Typed::Other(GenericView {
            resource_type: other.to_owned(),
            label: generic_label(v),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::load;
    use super::*;

    fn only(name: &str) -> Typed {
        let records = load(name);
        records.get(0).expect("one resource").typed()
    }

    #[test]
    fn typed_views_of_the_hl7_examples() {
        let Typed::Patient(p) = only("patient-example.json") else {
            panic!("a Patient");
        };
        assert_eq!(p.name.as_deref(), Some("Peter James Chalmers"));
        assert_eq!(p.birth_date.as_deref(), Some("1974-12-25"));

        let Typed::Condition(c) = only("condition-example.json") else {
            panic!("a Condition");
        };
        assert_eq!(c.code.as_deref(), Some("Burnt Ear"));
        assert!(c.onset.is_some());

        let Typed::Observation(o) = only("observation-example.json") else {
            panic!("an Observation");
        };
        assert_eq!(o.code.as_deref(), Some("Body Weight"));
        assert_eq!(o.value_text(), "185 lbs");

        let Typed::MedicationStatement(m) = only("medicationstatementexample1.json") else {
            panic!("a MedicationStatement");
        };
        assert_eq!(m.medication_reference.as_deref(), Some("#med0309"));
        assert!(m.dosage.is_some());

        let Typed::MedicationRequest(m) = only("medicationrequest0301.json") else {
            panic!("a MedicationRequest");
        };
        assert!(m.date.is_some());

        let Typed::AllergyIntolerance(a) = only("allergyintolerance-example.json") else {
            panic!("an AllergyIntolerance");
        };
        assert_eq!(a.criticality.as_deref(), Some("high"));
        assert!(!a.reactions.is_empty());

        let Typed::Immunization(i) = only("immunization-example.json") else {
            panic!("an Immunization");
        };
        assert!(i.vaccine.is_some());
        assert!(matches!(i.occurrence, Some(ObsValue::DateTime(_))));

        let Typed::Procedure(p) = only("procedure-synthea.json") else {
            panic!("a Procedure");
        };
        assert!(matches!(p.performed, Some(ObsValue::Period { .. })));

        let Typed::DocumentReference(d) = only("documentreference-example.json") else {
            panic!("a DocumentReference");
        };
        assert_eq!(d.content_types, ["application/hl7-v3+xml"]);

        let Typed::Other(g) = only("molecularsequence-example.json") else {
            panic!("generic");
        };
        assert_eq!(g.resource_type, "MolecularSequence");
    }

    #[test]
    fn components_and_reference_ranges() {
        let records = load("synthea-transaction.json");
        let bp = records
            .resources()
            .filter_map(|r| match r.typed() {
                Typed::Observation(o) if !o.components.is_empty() => Some(o),
                _ => None,
            })
            .next()
            .expect("a blood pressure");
        assert_eq!(bp.components.len(), 2);
        assert!(bp.value_text().contains("mm[Hg]"), "components shown");

        let records = load("bundle-collection-diagnosticreport.json");
        let ranged = records
            .resources()
            .filter_map(|r| match r.typed() {
                Typed::Observation(o) if !o.reference_ranges.is_empty() => Some(o),
                _ => None,
            })
            .count();
        assert!(ranged > 5);
        let report = records
            .resources()
            .find_map(|r| match r.typed() {
                Typed::DiagnosticReport(d) => Some(d),
                _ => None,
            })
            .expect("a report");
        assert_eq!(report.results, 17);
    }
}
