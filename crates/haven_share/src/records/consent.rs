//! FHIR R4 Consent for each share, its revocation, and the Provenance written when the
//! clinic keeps what was shared.
//!
//! The Consent names the shared resources by the references they have in the shared Bundle,
//! so in anonymous mode it holds pseudonymous ids only. Its `patient` is the shared Patient
//! (pseudonymous in anonymous mode), or absent when no Patient was shared.
//!
//! An anonymous share's Consent is anonymous too (Safe Harbor: no date element but the
//! year): its `dateTime` and `provision.period` are years, and its `id` is a digest of the
//! share id (which may carry the time the share was made). [`consent_for`] does this for
//! records that [`anonymise`](super::anonymise()) made ([`Records::is_anonymised`]);
//! [`ConsentRequest::anonymous_consent`] does it for anything else an anonymous patient
//! shares (a picture, a scan).

use haven_proto::Redacted;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::Records;
use super::dates::{format_instant, year_of};

/// Extension URL on the Consent saying whether the patient ticked "the clinic may keep this".
pub const CLINIC_MAY_KEEP_EXTENSION: &str = "urn:haven:fhir:StructureDefinition:clinic-may-keep";

/// Why the records are shared (v3 ActReason, the codes FHIR's Consent uses for `purpose`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Purpose {
    /// `TREAT`: treatment (the consult).
    #[default]
    Treatment,
    /// `ETREAT`: emergency treatment.
    EmergencyTreatment,
    /// `CAREMGT`: care management.
    CareManagement,
    /// `PATRQT`: the patient asked for it.
    PatientRequested,
}

impl Purpose {
    fn coding(self) -> Value {
        let (code, display) = match self {
            Self::Treatment => ("TREAT", "treatment"),
            Self::EmergencyTreatment => ("ETREAT", "Emergency Treatment"),
            Self::CareManagement => ("CAREMGT", "care management"),
            Self::PatientRequested => ("PATRQT", "patient requested"),
        };
        json!({
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
            "code": code,
            "display": display,
        })
    }
}

/// What a share's Consent says beyond the shared records themselves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentRequest {
    /// The share's opaque id (never patient data); becomes `Consent.id` (characters outside
    /// `A-Z a-z 0-9 - .` are dropped, at most 64 are kept).
    pub share_id: String,
    /// When the patient shared, unix seconds (`dateTime`, and the period's start).
    pub now_unix: i64,
    /// How long the share lasts, in seconds (the period's end).
    pub duration_secs: i64,
    /// Why.
    pub purpose: Purpose,
    /// Whether the patient ticked "the clinic may keep this".
    pub clinic_may_keep: bool,
}

fn fhir_id(raw: &str) -> String {
    let id: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
        .take(64)
        .collect();
    if id.is_empty() {
        "share".to_owned()
    } else {
        id
    }
}

impl Records {
    /// How each resource is referenced inside these records: its `fullUrl`, else `Type/id`.
    pub fn references(&self) -> Vec<Redacted<String>> {
        self.slots
            .iter()
            .map(|slot| {
                Redacted::new(match (&slot.full_url, &slot.id) {
                    (Some(url), _) => url.clone(),
                    (None, Some(id)) => format!("{}/{id}", slot.resource_type),
                    (None, None) => slot.resource_type.clone(),
                })
            })
            .collect()
    }

    /// The reference of the (first) Patient in these records.
    pub fn patient_reference(&self) -> Option<Redacted<String>> {
        let at = self
            .slots
            .iter()
            .position(|s| s.resource_type == "Patient")?;
        self.references().into_iter().nth(at)
    }
}

/// The identifier system naming a shared picture or scan by the SHA-256 of its bytes (hex).
pub const OBJECT_SHA256_SYSTEM: &str = "urn:haven:object-sha256";

/// What a share's Consent covers: the one thing that differs between the Consent of records
/// and that of a picture or scan.
#[derive(Clone, Copy, Debug)]
pub enum ConsentData<'a> {
    /// Shared records: each resource listed by its reference in the shared Bundle, and the
    /// shared Patient (if any) as the Consent's `patient`.
    Records(&'a Records),
    /// A picture or scan, named by the SHA-256 of its bytes ([`OBJECT_SHA256_SYSTEM`]).
    Object {
        /// SHA-256 of the bytes sent.
        sha256: &'a [u8; 32],
        /// What it is, in words that hold no patient data ("image", "DICOM image").
        what: &'static str,
    },
}

/// The `data` entry naming an object by its digest.
pub(crate) fn object_identifier(sha256: &[u8; 32]) -> Value {
    json!({"system": OBJECT_SHA256_SYSTEM, "value": hex::encode(sha256)})
}

/// The Consent for sharing `shared` (the Bundle actually sent: anonymised or not).
/// [`consent_for`] with [`ConsentData::Records`].
pub fn build_consent(shared: &Records, request: &ConsentRequest) -> Redacted<Value> {
    consent_for(ConsentData::Records(shared), request)
}

/// The one Consent builder, for records, pictures and scans alike.
///
/// `status` active, `scope` patient-privacy, `category` LOINC 59284-0 (patient consent),
/// `policyRule` OPTIN, the clinic-may-keep extension, `provision` permit for the consult's
/// clinician (role PRCP, primary information recipient, as in the FHIR R4 Consent examples)
/// to `access` (and `collect`, when the clinic may keep it) the listed `data`, for `purpose`,
/// during `period`. Only `data` (and, for records, `patient`) depends on what is shared.
///
/// For records that [`anonymise`](super::anonymise()) made, this is
/// [`ConsentRequest::anonymous_consent`]: dates are years.
pub fn consent_for(what: ConsentData<'_>, request: &ConsentRequest) -> Redacted<Value> {
    let anonymous = matches!(what, ConsentData::Records(shared) if shared.is_anonymised());
    build(what, request, anonymous)
}

impl ConsentRequest {
    /// The Consent of an anonymous patient's share: [`consent_for`], with `dateTime` and
    /// `provision.period` given as years only (Safe Harbor) and an `id` that does not carry
    /// the share id (a digest of it instead). [`consent_for`] already does this for
    /// anonymised records; call this for a picture or scan an anonymous patient shares.
    pub fn anonymous_consent(&self, what: ConsentData<'_>) -> Redacted<Value> {
        build(what, self, true)
    }
}

/// The id of an anonymous Consent: `share-` and 16 hex digits of SHA-256(share id).
fn anonymous_id(share_id: &str) -> String {
    let digest = Sha256::digest(share_id.as_bytes());
    format!("share-{}", hex::encode(&digest[..8]))
}

fn build(what: ConsentData<'_>, request: &ConsentRequest, anonymous: bool) -> Redacted<Value> {
    let end_unix = request
        .now_unix
        .saturating_add(request.duration_secs.max(0));
    let (start, end, id) = if anonymous {
        (
            format!("{:04}", year_of(request.now_unix)),
            format!("{:04}", year_of(end_unix)),
            anonymous_id(&request.share_id),
        )
    } else {
        (
            format_instant(request.now_unix),
            format_instant(end_unix),
            fhir_id(&request.share_id),
        )
    };
    let mut actions = vec![json!({"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/consentaction",
        "code": "access",
        "display": "Access",
    }]})];
    if request.clinic_may_keep {
        actions.push(json!({"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/consentaction",
            "code": "collect",
            "display": "Collect",
        }]}));
    }
    let (data, patient): (Vec<Value>, _) = match what {
        ConsentData::Records(shared) => (
            shared
                .references()
                .into_iter()
                .map(|r| json!({"meaning": "instance", "reference": {"reference": r.into_inner()}}))
                .collect(),
            shared.patient_reference(),
        ),
        ConsentData::Object { sha256, what } => (
            vec![json!({"meaning": "instance", "reference": {
                "identifier": object_identifier(sha256),
                "display": what,
            }})],
            None,
        ),
    };
    let mut consent = json!({
        "resourceType": "Consent",
        "id": id,
        "extension": [{"url": CLINIC_MAY_KEEP_EXTENSION, "valueBoolean": request.clinic_may_keep}],
        "status": "active",
        "scope": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/consentscope",
            "code": "patient-privacy",
            "display": "Privacy Consent",
        }]},
        "category": [{"coding": [{
            "system": "http://loinc.org",
            "code": "59284-0",
            "display": "Patient Consent",
        }]}],
        "dateTime": start,
        "policyRule": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "OPTIN",
            "display": "opt-in",
        }]},
        "provision": {
            "type": "permit",
            "period": {"start": start, "end": end},
            "actor": [{
                "role": {"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                    "code": "PRCP",
                    "display": "primary information recipient",
                }]},
                "reference": {"display": "consulting clinician"},
            }],
            "action": actions,
            "purpose": [request.purpose.coding()],
            "data": data,
        },
    });
    if let (Some(patient), Some(map)) = (patient, consent.as_object_mut()) {
        let patient = json!({"reference": patient.into_inner()});
        // `patient` sits after `category` in FHIR's element order; JSON order is free, but
        // keep the usual reading order.
        let mut ordered = serde_json::Map::new();
        for (k, v) in core::mem::take(map) {
            let after_category = k == "category";
            ordered.insert(k, v);
            if after_category {
                ordered.insert("patient".into(), patient.clone());
                ordered.insert("performer".into(), json!([patient.clone()]));
            }
        }
        *map = ordered;
    }
    Redacted::new(consent)
}

/// The Consent revoked at `now_unix`: `status` becomes `inactive` and the provision's period
/// ends now (if it ended later). The clinician's side then drops the share. An anonymous
/// Consent (dates as years) stays so: its period ends this year.
pub fn revoke_consent(consent: &Value, now_unix: i64) -> Redacted<Value> {
    let mut revoked = consent.clone();
    let year_only = consent
        .get("dateTime")
        .and_then(Value::as_str)
        .is_some_and(|d| d.len() == 4);
    let now = if year_only {
        format!("{:04}", year_of(now_unix))
    } else {
        format_instant(now_unix)
    };
    if let Some(map) = revoked.as_object_mut() {
        map.insert("status".into(), Value::from("inactive"));
        if let Some(Value::Object(provision)) = map.get_mut("provision") {
            let period = provision.entry("period").or_insert_with(|| json!({}));
            if let Some(period) = period.as_object_mut() {
                let ends_later = period
                    .get("end")
                    .and_then(Value::as_str)
                    .is_none_or(|end| end > now.as_str());
                if ends_later {
                    period.insert("end".into(), Value::from(now));
                }
            }
        }
    }
    Redacted::new(revoked)
}

/// The Provenance the clinic writes when it keeps shared records (only allowed when the
/// Consent says `clinic-may-keep`): `target` the kept resources. See [`provenance_for`].
pub fn provenance(kept: &Records, consent: &Value, now_unix: i64) -> Redacted<Value> {
    let targets: Vec<Value> = kept
        .references()
        .into_iter()
        .map(|r| json!({"reference": r.into_inner()}))
        .collect();
    provenance_for(targets, consent, now_unix)
}

/// The Provenance the clinic writes when it keeps a shared object as it was sent (a picture,
/// a scan or a records Bundle): `target` the object by its SHA-256 identifier
/// ([`OBJECT_SHA256_SYSTEM`]). See [`provenance_for`].
pub fn object_provenance(sha256: &[u8; 32], consent: &Value, now_unix: i64) -> Redacted<Value> {
    provenance_for(
        vec![json!({"identifier": object_identifier(sha256)})],
        consent,
        now_unix,
    )
}

/// The Provenance of kept things (`targets`, FHIR References): `recorded` now, activity
/// CREATE, reason treatment, the clinic as custodian, and the patient's Consent (by its `id`,
/// `Consent/<id>`) as the source entity: the Consent is the proof the clinic may keep them.
pub fn provenance_for(targets: Vec<Value>, consent: &Value, now_unix: i64) -> Redacted<Value> {
    let consent_ref = format!(
        "Consent/{}",
        consent.get("id").and_then(Value::as_str).unwrap_or("share")
    );
    Redacted::new(json!({
        "resourceType": "Provenance",
        "target": targets,
        "recorded": format_instant(now_unix),
        "reason": [{"coding": [Purpose::Treatment.coding()]}],
        "activity": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
            "code": "CREATE",
            "display": "create",
        }]},
        "agent": [{
            "type": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                "code": "custodian",
                "display": "Custodian",
            }]},
            "who": {"display": "the clinic"},
        }],
        "entity": [{
            "role": "source",
            "what": {"reference": consent_ref},
        }],
    }))
}

impl Records {
    /// Whether a Consent lets the clinic keep what was shared: active, with the
    /// `clinic-may-keep` extension true.
    pub fn consent_allows_keeping(consent: &Value) -> bool {
        consent.get("status").and_then(Value::as_str) == Some("active")
            && consent
                .get("extension")
                .and_then(Value::as_array)
                .is_some_and(|ext| {
                    ext.iter().any(|e| {
                        e.get("url").and_then(Value::as_str) == Some(CLINIC_MAY_KEEP_EXTENSION)
                            && e.get("valueBoolean").and_then(Value::as_bool) == Some(true)
                    })
                })
    }
}

#[cfg(test)]
mod tests {
    use super::super::anonymise::{AnonKey, AnonymiseOptions, anonymise};
    use super::super::dates::is_partial_or_full_date;
    use super::super::tests::load;
    use super::super::{SectionKind, Selector, ShareMode, prepare_share};
    use super::*;

    fn request(keep: bool) -> ConsentRequest {
        ConsentRequest {
            share_id: "share-01 9/x".to_owned(),
            now_unix: 1_767_225_600,
            duration_secs: 3600,
            purpose: Purpose::Treatment,
            clinic_may_keep: keep,
        }
    }

    #[test]
    fn consent_lists_the_shared_data_pseudonymously() {
        let records = load("ips-nz-pj.json");
        let shared = records
            .select(&[Selector::Section(SectionKind::Allergies)])
            .expect("selects");
        let anon = anonymise(
            shared,
            &AnonKey::from_bytes([5; 32]),
            &AnonymiseOptions::at(1_767_225_600),
        );
        let consent = build_consent(&anon, &request(false)).into_inner();
        assert_eq!(consent["resourceType"], "Consent");
        assert_eq!(consent["id"], anonymous_id("share-01 9/x"));
        assert_eq!(consent["status"], "active");
        assert_eq!(consent["scope"]["coding"][0]["code"], "patient-privacy");
        assert_eq!(consent["provision"]["type"], "permit");
        assert_eq!(consent["provision"]["purpose"][0]["code"], "TREAT");
        // Anonymous: years only.
        assert_eq!(consent["dateTime"], "2026");
        assert_eq!(consent["provision"]["period"]["start"], "2026");
        assert_eq!(consent["provision"]["period"]["end"], "2026");
        let patient = consent["patient"]["reference"].as_str().expect("a patient");
        assert!(patient.starts_with("urn:uuid:"));
        assert!(anon.resolve(patient).is_some());
        let data = consent["provision"]["data"].as_array().expect("data");
        assert_eq!(data.len(), anon.len());
        for d in data {
            let r = d["reference"]["reference"].as_str().expect("a reference");
            assert!(anon.resolve(r).is_some());
        }
        assert!(!Records::consent_allows_keeping(&consent));
        let actions = consent["provision"]["action"].as_array().map(Vec::len);
        assert_eq!(actions, Some(1));
    }

    fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::String(s) => out.push(s),
            Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
            Value::Object(map) => map.values().for_each(|c| strings(c, out)),
            _ => {}
        }
    }

    /// Issue 11, defect 7: an anonymous share's Consent has no month, day or time, and its
    /// id does not carry the share id (which holds the time the share was made).
    #[test]
    fn an_anonymous_consent_has_years_only() {
        let source = load("safe-harbor-gaps.json");
        let req = ConsentRequest {
            share_id: "share-6955c2a4-123456".to_owned(),
            now_unix: 1_767_225_600 + 86_400 * 40 + 3_723,
            duration_secs: 7_200,
            purpose: Purpose::Treatment,
            clinic_may_keep: true,
        };
        let all: Vec<Selector> = SectionKind::ALL
            .into_iter()
            .map(Selector::Section)
            .collect();
        let share = prepare_share(&source, &all, ShareMode::Anonymous, &req).expect("prepares");
        let digest = [3u8; 32];
        let object = ConsentData::Object {
            sha256: &digest,
            what: "image",
        };
        for consent in [
            share.consent.expose().clone(),
            req.anonymous_consent(object).into_inner(),
            revoke_consent(share.consent.expose(), req.now_unix + 60).into_inner(),
        ] {
            assert_eq!(consent["dateTime"], "2026");
            let period = &consent["provision"]["period"];
            assert_eq!(
                (&period["start"], &period["end"]),
                (&json!("2026"), &json!("2026"))
            );
            let id = consent["id"].as_str().expect("an id");
            assert!(id.starts_with("share-") && !id.contains("6955c2a4"));
            let mut all = Vec::new();
            strings(&consent, &mut all);
            for s in all {
                assert!(
                    !is_partial_or_full_date(s),
                    "a date with more than its year"
                );
                assert!(
                    !s.contains("02-10") && !s.contains("01:02"),
                    "no day or time"
                );
            }
        }
        // Revoked across the new year, it still gives the year only.
        let new_year_eve = ConsentRequest {
            now_unix: 1_798_761_000,
            ..req.clone()
        };
        let late = prepare_share(&source, &all, ShareMode::Anonymous, &new_year_eve)
            .expect("prepares")
            .consent
            .into_inner();
        assert_eq!(late["provision"]["period"]["end"], "2027");
        let revoked = revoke_consent(&late, new_year_eve.now_unix + 60).into_inner();
        assert_eq!(revoked["status"], "inactive");
        assert_eq!(revoked["provision"]["period"]["end"], "2026");
        // The share's Consent still lists what was sent, and keeping is still allowed.
        assert!(Records::consent_allows_keeping(share.consent.expose()));
        let data = share.consent.expose()["provision"]["data"]
            .as_array()
            .map(Vec::len);
        assert_eq!(data, Some(share.records.len()));
        // Named shares keep the exact instant.
        let named = prepare_share(&source, &all, ShareMode::Named, &req).expect("prepares");
        assert_eq!(named.consent.expose()["dateTime"], "2026-02-10T01:02:03Z");
        assert_eq!(named.consent.expose()["id"], "share-6955c2a4-123456");
    }

    #[test]
    fn keep_revoke_and_provenance() {
        let records = load("ips-minimal.json");
        let consent = build_consent(&records, &request(true)).into_inner();
        assert!(Records::consent_allows_keeping(&consent));
        assert_eq!(
            consent["provision"]["action"].as_array().map(Vec::len),
            Some(2)
        );

        let revoked = revoke_consent(&consent, 1_767_227_000).into_inner();
        assert_eq!(revoked["status"], "inactive");
        assert_eq!(
            revoked["provision"]["period"]["end"],
            "2026-01-01T00:23:20Z"
        );
        assert!(!Records::consent_allows_keeping(&revoked));
        // Revoking after the end leaves the end as it was.
        let late = revoke_consent(&consent, 1_767_300_000).into_inner();
        assert_eq!(late["provision"]["period"]["end"], "2026-01-01T01:00:00Z");

        let prov = provenance(&records, &consent, 1_767_226_000).into_inner();
        assert_eq!(prov["resourceType"], "Provenance");
        assert_eq!(prov["target"].as_array().map(Vec::len), Some(records.len()));
        assert_eq!(prov["entity"][0]["what"]["reference"], "Consent/share-019x");
        assert_eq!(prov["recorded"], "2026-01-01T00:06:40Z");
    }

    /// Pictures, scans and records get the same Consent but for `data` (and the records'
    /// `patient`/`performer`).
    #[test]
    fn one_consent_for_records_and_objects() {
        let records = load("ips-minimal.json");
        for keep in [false, true] {
            let req = request(keep);
            let of_records = build_consent(&records, &req).into_inner();
            let digest = [7u8; 32];
            let of_picture = consent_for(
                ConsentData::Object {
                    sha256: &digest,
                    what: "image",
                },
                &req,
            )
            .into_inner();
            let strip = |mut c: Value| {
                let map = c.as_object_mut().expect("an object");
                map.remove("patient");
                map.remove("performer");
                map.get_mut("provision")
                    .and_then(Value::as_object_mut)
                    .expect("a provision")
                    .remove("data");
                c
            };
            assert_eq!(strip(of_records.clone()), strip(of_picture.clone()));
            assert_eq!(
                of_picture["provision"]["actor"][0]["role"]["coding"][0]["code"],
                "PRCP"
            );
            let data = &of_picture["provision"]["data"];
            assert_eq!(data.as_array().map(Vec::len), Some(1));
            let id = &data[0]["reference"]["identifier"];
            assert_eq!(id["system"], OBJECT_SHA256_SYSTEM);
            assert_eq!(id["value"], hex::encode(digest));
            assert_eq!(Records::consent_allows_keeping(&of_picture), keep);
            let prov = object_provenance(&digest, &of_picture, 1_767_226_000).into_inner();
            assert_eq!(
                prov["target"][0]["identifier"]["value"],
                hex::encode(digest)
            );
            assert_eq!(prov["entity"][0]["what"]["reference"], "Consent/share-019x");
        }
    }
}
