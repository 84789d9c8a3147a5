//! The report as a FHIR R4 `collection` Bundle:
//!
//! - a CodeSystem of Haven's own: **no LOINC or SNOMED CT code exists for SUDS**, so SUDS,
//!   a SUDS prediction and the fast motion-sickness scale (FMS) are coded in
//!   [`CODE_SYSTEM`], which the Bundle carries;
//! - a Questionnaire for SUDS (one integer item, 0–100, a slider in steps of 5) and one for
//!   FMS (0–20, steps of 1), with the standard `minValue`, `maxValue`, `itemControl` and
//!   `sliderStepValue` extensions;
//! - a QuestionnaireResponse per rating asked: `completed` with the answer, or `stopped`
//!   with none when no answer came (never 0); a therapist's entry names the therapist as
//!   its source;
//! - an Observation per answer (category `survey`), `derivedFrom` its response;
//! - for a named patient, a Patient with their name, which every response and observation
//!   names as subject. An anonymous patient's Bundle has none, and its times carry the
//!   year only, with the offset from the session's start in an extension.
//!
//! Every reference is a `urn:uuid:` `fullUrl` of the Bundle; the ids are derived from the
//! timeline (the same timeline gives the same Bundle).

use haven_scenes::ratings::{Scale, Source, Why};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::SessionReport;

/// Haven's CodeSystem for what LOINC and SNOMED CT do not code.
pub const CODE_SYSTEM: &str = "urn:haven:fhir:CodeSystem:therapy";
/// The SUDS Questionnaire's canonical URL.
pub const SUDS_QUESTIONNAIRE: &str = "urn:haven:fhir:Questionnaire:suds";
/// The FMS Questionnaire's canonical URL.
pub const FMS_QUESTIONNAIRE: &str = "urn:haven:fhir:Questionnaire:fms";
/// The extension giving a time as ms from the session's start.
pub const OFFSET_EXTENSION: &str = "urn:haven:fhir:StructureDefinition:session-offset";
/// The extension saying why a rating was asked.
pub const WHY_EXTENSION: &str = "urn:haven:fhir:StructureDefinition:rating-reason";

/// A `urn:uuid:` derived from the timeline and a name (version-4 layout, deterministic).
fn uuid(seed: &[u8; 32], name: &str) -> String {
    let mut h = Sha256::new();
    h.update(seed);
    h.update(name.as_bytes());
    let mut b: [u8; 16] = h.finalize()[..16].try_into().unwrap_or([0; 16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

fn code(scale: Scale, why: Why) -> (&'static str, &'static str) {
    match (scale, why) {
        (Scale::Suds, Why::Prediction { .. }) => {
            ("suds-prediction", "SUDS predicted before a step")
        }
        (Scale::Suds, _) => ("suds", "Subjective units of distress (SUDS), 0-100"),
        (Scale::Fms, _) => ("fms", "Fast motion sickness scale (FMS), 0-20"),
    }
}

fn why_code(why: Why) -> &'static str {
    match why {
        Why::Demand => "demand",
        Why::Periodic => "periodic",
        Why::AfterChange => "after-change",
        Why::Prediction { .. } => "prediction",
        Why::End => "end",
    }
}

fn questionnaire(url: &str, scale: Scale, full_url: &str) -> Value {
    let (c, display) = code(scale, Why::Demand);
    json!({
        "fullUrl": full_url,
        "resource": {
            "resourceType": "Questionnaire",
            "url": url,
            "name": format!("Haven{}", scale.name()),
            "title": display,
            "status": "active",
            "subjectType": ["Patient"],
            "code": [{"system": CODE_SYSTEM, "code": c, "display": display}],
            "item": [{
                "linkId": c,
                "text": scale.question(Why::Demand),
                "type": "integer",
                "required": true,
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl",
                        "valueCodeableConcept": {"coding": [{
                            "system": "http://hl7.org/fhir/questionnaire-item-control",
                            "code": "slider"
                        }]}
                    },
                    {"url": "http://hl7.org/fhir/StructureDefinition/minValue", "valueInteger": 0},
                    {"url": "http://hl7.org/fhir/StructureDefinition/maxValue", "valueInteger": scale.max()},
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/questionnaire-sliderStepValue",
                        "valueInteger": scale.step()
                    }
                ]
            }]
        }
    })
}

/// The Bundle (see the [module](self)).
pub fn bundle(report: &SessionReport) -> Value {
    let seed: [u8; 32] = Sha256::digest(report.to_json()).into();
    let started = report.started_unix;
    // A time: the instant for a named patient, the year for an anonymous one.
    let when = |ms: u64| match started {
        Some(s) => crate::instant(s.saturating_add(ms / 1000)),
        None => format!("{:04}", report.year),
    };
    let offset = |ms: u64| {
        json!({"url": OFFSET_EXTENSION, "valueDuration": {
            "value": ms as f64 / 1000.0,
            "unit": "s",
            "system": "http://unitsofmeasure.org",
            "code": "s"
        }})
    };
    let code_system = uuid(&seed, "CodeSystem");
    let suds_q = uuid(&seed, "Questionnaire/suds");
    let fms_q = uuid(&seed, "Questionnaire/fms");
    let mut entries = vec![
        json!({
            "fullUrl": code_system,
            "resource": {
                "resourceType": "CodeSystem",
                "url": CODE_SYSTEM,
                "name": "HavenTherapy",
                "title": "Haven therapy ratings (no LOINC or SNOMED CT code exists for SUDS)",
                "status": "active",
                "content": "complete",
                "concept": [
                    {"code": "suds", "display": code(Scale::Suds, Why::Demand).1},
                    {"code": "suds-prediction", "display": code(Scale::Suds, Why::Prediction {
                        scene: haven_scenes::SceneId::Heights, intensity: 0 }).1},
                    {"code": "fms", "display": code(Scale::Fms, Why::Demand).1}
                ]
            }
        }),
        questionnaire(SUDS_QUESTIONNAIRE, Scale::Suds, &suds_q),
        questionnaire(FMS_QUESTIONNAIRE, Scale::Fms, &fms_q),
    ];
    let patient = report.subject.as_ref().map(|name| {
        let url = uuid(&seed, "Patient");
        entries.push(json!({
            "fullUrl": url,
            "resource": {"resourceType": "Patient", "name": [{"text": name}]}
        }));
        url
    });
    for (i, rating) in report.record().ratings().iter().enumerate() {
        let response = uuid(&seed, &format!("QuestionnaireResponse/{i}"));
        let (c, display) = code(rating.scale, rating.why);
        let questionnaire = match rating.scale {
            Scale::Suds => SUDS_QUESTIONNAIRE,
            Scale::Fms => FMS_QUESTIONNAIRE,
        };
        let mut qr = json!({
            "resourceType": "QuestionnaireResponse",
            "extension": [
                offset(rating.at),
                {"url": WHY_EXTENSION, "valueCode": why_code(rating.why)}
            ],
            "questionnaire": questionnaire,
            "status": if rating.value.is_some() { "completed" } else { "stopped" },
            "authored": when(rating.at),
        });
        if let Some(p) = &patient {
            qr["subject"] = json!({"reference": p});
        }
        match (rating.source, &patient) {
            (Source::Patient, Some(p)) => qr["source"] = json!({"reference": p}),
            (Source::Therapist, _) => {
                qr["source"] = json!({"display": "the therapist, typing what the patient said"});
            }
            _ => {}
        }
        if let Some(v) = rating.value {
            qr["item"] = json!([{
                "linkId": if rating.scale == Scale::Suds { "suds" } else { "fms" },
                "answer": [{"valueInteger": v}]
            }]);
        }
        entries.push(json!({"fullUrl": response, "resource": qr}));
        let Some(v) = rating.value else {
            continue;
        };
        let mut obs = json!({
            "resourceType": "Observation",
            "extension": [offset(rating.at)],
            "status": "final",
            "category": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "survey",
                "display": "Survey"
            }]}],
            "code": {"coding": [{"system": CODE_SYSTEM, "code": c, "display": display}], "text": display},
            "effectiveDateTime": when(rating.at),
            "valueInteger": v,
            "derivedFrom": [{"reference": response}],
        });
        if let Some(p) = &patient {
            obs["subject"] = json!({"reference": p});
        }
        entries.push(json!({
            "fullUrl": uuid(&seed, &format!("Observation/{i}")),
            "resource": obs
        }));
    }
    json!({
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": when(report.duration_ms),
        "entry": entries
    })
}

/// The Bundle as JSON bytes (what is written, and what a "save" shares).
pub fn bundle_json(report: &SessionReport) -> Vec<u8> {
    serde_json::to_vec_pretty(&bundle(report)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use haven_share::records::{Limits, parse};

    use super::*;
    use crate::Subject;
    use crate::tests::session;

    fn references(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, x) in map {
                    if k == "reference" {
                        out.push(x.as_str().unwrap_or_default().to_owned());
                    }
                    references(x, out);
                }
            }
            Value::Array(xs) => xs.iter().for_each(|x| references(x, out)),
            _ => {}
        }
    }

    #[test]
    fn the_bundle_parses_back_with_havens_reader_and_every_reference_resolves() {
        let report = session(&Subject::Named("Robin Example".into()));
        let bundle = bundle(&report);
        let bytes = serde_json::to_vec(&bundle).expect("json");
        let records = parse(&bytes, &Limits::default()).expect("Haven's reader takes it");
        let mut refs = Vec::new();
        references(&bundle, &mut refs);
        assert!(refs.len() >= 10, "{} references", refs.len());
        for r in &refs {
            assert!(
                records.resolve(r).is_some(),
                "a reference that resolves to nothing"
            );
        }
        let types: Vec<&str> = records.resources().map(|r| r.resource_type()).collect();
        let count = |t: &str| types.iter().filter(|x| **x == t).count();
        // 6 ratings asked: one response each; 5 answered: one observation each.
        assert_eq!(count("QuestionnaireResponse"), 6);
        assert_eq!(count("Observation"), 5);
        assert_eq!(count("Questionnaire"), 2);
        assert_eq!(count("CodeSystem"), 1);
        assert_eq!(count("Patient"), 1);
        let stopped = bundle["entry"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|e| e["resource"]["status"] == "stopped")
            .count();
        assert_eq!(stopped, 1, "no answer is a stopped response, not a 0");
        assert_eq!(
            bundle,
            super::bundle(&report),
            "the same timeline, the same Bundle"
        );
    }

    #[test]
    fn an_anonymous_bundle_names_no_one_and_dates_only_the_year() {
        let named = session(&Subject::Named("Robin Example".into()));
        let anonymous = session(&Subject::Anonymous);
        let text = serde_json::to_string(&bundle(&anonymous)).expect("json");
        assert!(!text.contains("Robin"));
        assert!(!text.contains("\"resourceType\":\"Patient\""));
        assert!(!text.contains("2026-"), "no date beyond the year");
        assert!(text.contains("\"2026\""));
        let timeline = String::from_utf8(anonymous.to_json()).expect("utf-8");
        assert!(!timeline.contains("Robin") && !timeline.contains("2026-"));
        let named_text = serde_json::to_string(&bundle(&named)).expect("json");
        assert!(
            named_text.contains("Robin Example") && named_text.contains("2026-12-03T14:01:00Z")
        );
    }
}
