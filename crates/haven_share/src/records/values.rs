//! The values inside resources, as a person reads them: CodeableConcept text, Quantity,
//! and the `value[x]` choice of an Observation.
//!
//! They hold patient data in plain `String`s: no `Display`, and `Debug` prints `[redacted]`.

use core::fmt;

use serde_json::Value;

impl fmt::Debug for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Quantity([redacted])")
    }
}

impl fmt::Debug for ObsValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ObsValue([redacted])")
    }
}

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
pub(super) fn concept_key(concept: &Value) -> Option<String> {
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

pub(super) fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

pub(super) fn owned(v: &Value, key: &str) -> Option<String> {
    str_at(v, key).map(str::to_owned)
}

pub(super) fn concept_at(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(codeable_text)
}

pub(super) fn number_text(v: &Value) -> Option<String> {
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
    pub(super) fn from_json(v: &Value) -> Option<Self> {
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

pub(super) fn range_text(low: Option<&Quantity>, high: Option<&Quantity>) -> String {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

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
}
