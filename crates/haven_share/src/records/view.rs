//! Typed, read-only views of the common clinical resources, derived from their JSON.
//!
//! The views hold patient data in plain `String`s. They have no `Display`, and their `Debug`
//! prints `[redacted]`, so they cannot reach a log line by accident.

use core::fmt;

use serde_json::Value;

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
    Quantity,
    ObsValue,
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

/// The text a person should read for a CodeableConcept: its `text`, else the first
/// `coding[].display`, else the first `coding[].code`.
pub fn codeable_text(concept: &Value) -> Option<String> {
    if let Some(text) = concept.get("text").and_then(Value::as_str)
        && !text.trim().is_empty()
    {
        return Some(text.to_owned());
    }
    let codings = concept.get("coding").and_then(Value::as_array)?;
    codings
        .iter()
        .find_map(|c| c.get("display").and_then(Value::as_str))
        .or_else(|| {
            codings
                .iter()
                .find_map(|c| c.get("code").and_then(Value::as_str))
        })
        .map(str::to_owned)
}

/// A key that groups the same test: the first coding's `system|code`, else the text.
pub(crate) fn concept_key(concept: &Value) -> Option<String> {
    let coding = concept
        .get("coding")
        .and_then(Value::as_array)
        .and_then(|c| {
            c.iter()
                .find(|c| c.get("code").and_then(Value::as_str).is_some())
        });
    if let Some(coding) = coding {
        let system = coding.get("system").and_then(Value::as_str).unwrap_or("");
        let code = coding.get("code").and_then(Value::as_str).unwrap_or("");
        return Some(format!("{system}|{code}"));
    }
    codeable_text(concept)
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn owned(v: &Value, key: &str) -> Option<String> {
    str_at(v, key).map(str::to_owned)
}

fn concept_at(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(codeable_text)
}

fn number_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// A FHIR Quantity (also Age, Duration, Count, Distance, SimpleQuantity, Money).
#[derive(Clone, PartialEq)]
pub struct Quantity {
    /// The number, as written.
    pub value: Option<String>,
    /// `<`, `<=`, `>=`, `>` when given.
    pub comparator: Option<String>,
    /// The unit for people (`unit`, else the UCUM `code`, else `currency`).
    pub unit: Option<String>,
}

impl Quantity {
    fn from_json(v: &Value) -> Option<Self> {
        v.as_object()?;
        Some(Self {
            value: v.get("value").and_then(number_text),
            comparator: owned(v, "comparator"),
            unit: owned(v, "unit")
                .or_else(|| owned(v, "code"))
                .or_else(|| owned(v, "currency")),
        })
    }

    /// `"< 5 mg/dL"`.
    pub fn text(&self) -> String {
        let mut out = String::new();
        if let Some(c) = &self.comparator {
            out.push_str(c);
            out.push(' ');
        }
        out.push_str(self.value.as_deref().unwrap_or("?"));
        if let Some(u) = &self.unit
            && !u.is_empty()
        {
            out.push(' ');
            out.push_str(u);
        }
        out
    }
}

/// A choice-type value (`value[x]`, `onset[x]`, `occurrence[x]`, `effective[x]`, …).
#[derive(Clone, PartialEq)]
pub enum ObsValue {
    /// `Quantity` and its profiles (Age, Duration, Count, Distance, SimpleQuantity, Money).
    Quantity(Quantity),
    /// `CodeableConcept` (shown by its text) or `Coding`.
    CodeableConcept(String),
    /// `string`, `markdown`, `code`, `uri`.
    String(String),
    /// `boolean`.
    Boolean(bool),
    /// `integer`, `positiveInt`, `unsignedInt`.
    Integer(i64),
    /// `decimal`, as written.
    Decimal(String),
    /// `Range`.
    Range {
        /// Low end.
        low: Option<Quantity>,
        /// High end.
        high: Option<Quantity>,
    },
    /// `Ratio`.
    Ratio {
        /// Numerator.
        numerator: Option<Quantity>,
        /// Denominator.
        denominator: Option<Quantity>,
    },
    /// `Period`.
    Period {
        /// Start.
        start: Option<String>,
        /// End.
        end: Option<String>,
    },
    /// `dateTime`, `date`, `instant`.
    DateTime(String),
    /// `time`.
    Time(String),
    /// `SampledData` (a waveform; not shown).
    SampledData,
    /// A `Reference` (shown by its display).
    Reference(Option<String>),
    /// Any other type (its FHIR type name).
    Other(String),
}

impl ObsValue {
    /// Reads `{prefix}{Type}` from a JSON object, e.g. `valueQuantity` for prefix `value`.
    pub(crate) fn choice(obj: &Value, prefix: &str) -> Option<Self> {
        let map = obj.as_object()?;
        map.iter().find_map(|(key, v)| {
            let ty = key.strip_prefix(prefix)?;
            ty.starts_with(|c: char| c.is_ascii_uppercase())
                .then(|| Self::from_typed(ty, v))
                .flatten()
        })
    }

    fn from_typed(ty: &str, v: &Value) -> Option<Self> {
        Some(match ty {
            "Quantity" | "Age" | "Duration" | "Count" | "Distance" | "SimpleQuantity" | "Money" => {
                Self::Quantity(Quantity::from_json(v)?)
            }
            "CodeableConcept" => Self::CodeableConcept(codeable_text(v)?),
            "Coding" => Self::CodeableConcept(
                str_at(v, "display")
                    .or_else(|| str_at(v, "code"))?
                    .to_owned(),
            ),
            "String" | "Markdown" | "Code" | "Uri" | "Url" | "Canonical" | "Id" | "Oid" => {
                Self::String(v.as_str()?.to_owned())
            }
            "Boolean" => Self::Boolean(v.as_bool()?),
            "Integer" | "PositiveInt" | "UnsignedInt" => Self::Integer(v.as_i64()?),
            "Decimal" => Self::Decimal(number_text(v)?),
            "Range" => Self::Range {
                low: v.get("low").and_then(Quantity::from_json),
                high: v.get("high").and_then(Quantity::from_json),
            },
            "Ratio" => Self::Ratio {
                numerator: v.get("numerator").and_then(Quantity::from_json),
                denominator: v.get("denominator").and_then(Quantity::from_json),
            },
            "Period" => Self::Period {
                start: owned(v, "start"),
                end: owned(v, "end"),
            },
            "DateTime" | "Date" | "Instant" => Self::DateTime(v.as_str()?.to_owned()),
            "Time" => Self::Time(v.as_str()?.to_owned()),
            "SampledData" => Self::SampledData,
            "Reference" => Self::Reference(owned(v, "display")),
            other => Self::Other(other.chars().take(64).collect()),
        })
    }

    /// The value for people: `"7.5 %"`, `"Positive"`, `"120-140 mmHg"`, `"1 mg / 1 d"`.
    pub fn text(&self) -> String {
        match self {
            Self::Quantity(q) => q.text(),
            Self::CodeableConcept(s) | Self::String(s) | Self::Decimal(s) | Self::Time(s) => {
                s.clone()
            }
            Self::DateTime(s) => super::dates::short(s).to_owned(),
            Self::Boolean(b) => if *b { "yes" } else { "no" }.to_owned(),
            Self::Integer(i) => i.to_string(),
            Self::Range { low, high } => range_text(low.as_ref(), high.as_ref()),
            Self::Ratio {
                numerator,
                denominator,
            } => format!(
                "{} / {}",
                numerator
                    .as_ref()
                    .map_or_else(|| "?".to_owned(), Quantity::text),
                denominator
                    .as_ref()
                    .map_or_else(|| "?".to_owned(), Quantity::text)
            ),
            Self::Period { start, end } => match (start, end) {
                (Some(s), Some(e)) => {
                    format!("{} to {}", super::dates::short(s), super::dates::short(e))
                }
                (Some(s), None) => format!("since {}", super::dates::short(s)),
                (None, Some(e)) => format!("until {}", super::dates::short(e)),
                (None, None) => String::new(),
            },
            Self::SampledData => "(waveform)".to_owned(),
            Self::Reference(display) => display.clone().unwrap_or_default(),
            Self::Other(ty) => format!("({ty})"),
        }
    }

    /// A date to sort or show by: a dateTime, or a period's start (else its end).
    pub(crate) fn date(&self) -> Option<&str> {
        match self {
            Self::DateTime(s) => Some(s),
            Self::Period { start, end } => start.as_deref().or(end.as_deref()),
            _ => None,
        }
    }
}

fn range_text(low: Option<&Quantity>, high: Option<&Quantity>) -> String {
    match (low, high) {
        (Some(l), Some(h)) if l.unit == h.unit => {
            format!("{}-{}", l.value.as_deref().unwrap_or("?"), h.text())
        }
        (Some(l), Some(h)) => format!("{} - {}", l.text(), h.text()),
        (Some(l), None) => format!(">= {}", l.text()),
        (None, Some(h)) => format!("<= {}", h.text()),
        (None, None) => String::new(),
    }
}

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
    use serde_json::json;

    use super::super::tests::load;
    use super::*;

    fn only(name: &str) -> Typed {
        let records = load(name);
        records.get(0).expect("one resource").typed()
    }

    #[test]
    fn codeable_concept_text_preference() {
        let both = json!({"text": "Hay fever", "coding": [{"code": "X", "display": "Rhinitis"}]});
        assert_eq!(codeable_text(&both).as_deref(), Some("Hay fever"));
        let display = json!({"coding": [{"code": "X"}, {"code": "Y", "display": "Rhinitis"}]});
        assert_eq!(codeable_text(&display).as_deref(), Some("Rhinitis"));
        let code = json!({"coding": [{"system": "s", "code": "X"}]});
        assert_eq!(codeable_text(&code).as_deref(), Some("X"));
        assert_eq!(codeable_text(&json!({})), None);
        assert_eq!(concept_key(&code).as_deref(), Some("s|X"));
    }

    #[test]
    fn every_value_choice_type() {
        let cases = [
            (
                json!({"valueQuantity": {"value": 7.5, "unit": "%"}}),
                "7.5 %",
            ),
            (
                json!({"valueQuantity": {"value": 5, "comparator": "<", "code": "mg/dL"}}),
                "< 5 mg/dL",
            ),
            (
                json!({"valueCodeableConcept": {"coding": [{"display": "Positive"}]}}),
                "Positive",
            ),
            (json!({"valueString": "A+"}), "A+"),
            (json!({"valueBoolean": true}), "yes"),
            (json!({"valueInteger": 3}), "3"),
            (
                json!({"valueRange": {"low": {"value": 1, "unit": "g"}, "high": {"value": 2, "unit": "g"}}}),
                "1-2 g",
            ),
            (
                json!({"valueRatio": {"numerator": {"value": 1, "unit": "mg"}, "denominator": {"value": 1, "unit": "d"}}}),
                "1 mg / 1 d",
            ),
            (
                json!({"valuePeriod": {"start": "2020-01-01T10:00:00Z", "end": "2020-02-01"}}),
                "2020-01-01 to 2020-02-01",
            ),
            (
                json!({"valueDateTime": "2020-01-01T10:00:00Z"}),
                "2020-01-01",
            ),
            (json!({"valueTime": "10:00:00"}), "10:00:00"),
            (json!({"valueSampledData": {}}), "(waveform)"),
        ];
        for (json, text) in cases {
            let v = ObsValue::choice(&json, "value").expect("a value");
            assert_eq!(v.text(), text);
        }
        assert!(ObsValue::choice(&json!({"valuex": 1}), "value").is_none());
        assert!(ObsValue::choice(&json!({"valueQuantity": 1}), "value").is_none());
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
