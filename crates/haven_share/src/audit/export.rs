//! The log as FHIR R4: a `collection` Bundle of AuditEvent resources, one per entry.

use serde_json::{Value, json};

use super::{Action, AuditError, Entry, Role, walk};
use crate::records::format_instant;

fn event_type(action: Action) -> (&'static str, &'static str, &'static str) {
    // (DICOM DCM audit event type code, display, FHIR AuditEvent.action)
    match action {
        Action::Start => ("110120", "Application Start", "E"),
        Action::Close => ("110121", "Application Stop", "E"),
        Action::Share => ("110106", "Export", "C"),
        Action::View => ("110110", "Patient Record", "R"),
        Action::Revoke => ("110110", "Patient Record", "U"),
        Action::Purge => ("110110", "Patient Record", "D"),
        Action::Keep => ("110107", "Import", "C"),
        Action::Expire => ("110110", "Patient Record", "D"),
        Action::PeerKey => ("110114", "User Authentication", "E"),
        Action::Refuse => ("110113", "Security Alert", "E"),
    }
}

fn audit_event(e: &Entry, session: &str) -> Value {
    let (code, display, action) = event_type(e.action);
    let (role_code, role_display) = match e.actor {
        Role::Patient => ("PAT", "patient"),
        Role::Clinician | Role::Therapist => ("PROV", "healthcare provider"),
    };
    json!({
        "resourceType": "AuditEvent",
        "id": format!("{}-{}", fhir_id(session), e.seq),
        "type": {
            "system": "http://dicom.nema.org/resources/ontology/DCM",
            "code": code,
            "display": display,
        },
        "subtype": [{
            "system": "urn:haven:audit-action",
            "code": e.action.name(),
        }],
        "action": action,
        "recorded": format_instant(e.time),
        "outcome": "0",
        "agent": [{
            "role": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-RoleClass",
                "code": role_code,
                "display": role_display,
            }]}],
            "who": {"display": e.actor.as_str()},
            "requestor": true,
        }],
        "source": {
            "site": session,
            "observer": {"display": "haven"},
        },
        "entity": [{
            "what": {"identifier": {"system": "urn:haven:object", "value": e.object}},
            "type": {
                "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                "code": "2",
                "display": "System Object",
            },
            "detail": [
                {"type": "seq", "valueString": e.seq.to_string()},
                {"type": "object-sha256", "valueString": e.object_sha256},
                {"type": "chain-prev", "valueString": e.prev},
                {"type": "chain-hash", "valueString": e.hash},
                {"type": "signature-ed25519", "valueString": e.sig},
            ],
        }],
    })
}

fn fhir_id(raw: &str) -> String {
    raw.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
        .take(48)
        .collect()
}

/// Exports an intact log as a FHIR R4 Bundle (`collection`) of AuditEvent resources, one per
/// entry: `type` (DICOM audit event type), `subtype` (the Haven action), `action`
/// (C/R/U/D/E), `recorded`, `outcome`, `agent` with its role, `entity.what` = the object's
/// id, and the chain (seq, object digest, prev, hash, signature) in `entity.detail`.
/// A broken log is refused with [`AuditError::Broken`]: run [`super::verify`] to see why.
pub fn export_fhir(bytes: &[u8]) -> Result<Value, AuditError> {
    let mut entries = Vec::new();
    let report = walk(bytes, |v| entries.push(v.entry.clone()))?;
    if let Some(b) = report.broken {
        return Err(AuditError::Broken { line: b.line });
    }
    let session = report.session.unwrap_or_default();
    let events: Vec<Value> = entries
        .iter()
        .map(|e| json!({"resource": audit_event(e, &session)}))
        .collect();
    Ok(json!({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": events,
    }))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{joined, sample};
    use super::*;

    #[test]
    fn exports_audit_events() {
        let (_, lines) = sample(5);
        let bundle = export_fhir(&joined(&lines)).expect("exports");
        assert_eq!(bundle["type"], "collection");
        let entries = bundle["entry"].as_array().expect("entries");
        assert_eq!(entries.len(), 7);
        let share = &entries[1]["resource"];
        assert_eq!(share["resourceType"], "AuditEvent");
        assert_eq!(share["action"], "C");
        assert_eq!(share["subtype"][0]["code"], "share");
        assert_eq!(share["recorded"], "2026-01-01T00:00:00Z");
        assert_eq!(share["agent"][0]["role"][0]["coding"][0]["code"], "PAT");
        assert_eq!(share["entity"][0]["what"]["identifier"]["value"], "share-0");
        let view = &entries[2]["resource"];
        assert_eq!(view["action"], "R");
        let chain: Entry = serde_json::from_str(lines[1].trim_end()).expect("an entry");
        assert_eq!(
            share["entity"][0]["detail"][3]["valueString"],
            chain.hash.as_str()
        );
        // A broken log is not exported.
        let mut broken = lines.clone();
        broken.remove(2);
        assert_eq!(
            export_fhir(&joined(&broken)),
            Err(AuditError::Broken { line: 3 })
        );
    }

    #[test]
    fn a_therapist_is_named_as_one() {
        let (mut log, header) =
            super::super::AuditLog::start(super::super::tests::id("s"), Role::Therapist, 0)
                .expect("starts");
        let line = log
            .append(
                1,
                Action::View,
                Role::Therapist,
                &super::super::tests::id("share-1"),
                &[0; 32],
            )
            .expect("appends");
        assert!(line.contains("\"actor\":\"therapist\""), "{line}");
        let bundle = export_fhir((header + &line).as_bytes()).expect("exports");
        let view = &bundle["entry"][1]["resource"];
        assert_eq!(view["agent"][0]["who"]["display"], "therapist");
        assert_eq!(view["agent"][0]["role"][0]["coding"][0]["code"], "PROV");
    }
}
