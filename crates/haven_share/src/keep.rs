//! Keeping a share the patient allowed the clinic to keep: the object, its Consent (the
//! proof) and a Provenance that points at both, written to the clinic's keep folder.
//!
//! File names are the object's digest only (hex of the first 16 bytes of its SHA-256), never
//! a label or anything else the patient wrote:
//!
//! - `<digest>.img` / `<digest>.dcm` / `<digest>.json`: the object as it arrived;
//! - `<digest>.consent.json`: the patient's Consent, as it arrived;
//! - `<digest>.provenance.json`: a Provenance ([`records::object_provenance`]) whose target is
//!   the object (by its whole SHA-256) and whose source entity is `Consent/<id>`.
//!
//! A Consent that does not allow keeping (not active, or the clinic-may-keep extension false
//! or absent) is refused, and so is the Consent of a picture or scan that names other bytes.

use std::path::{Path, PathBuf};

use haven_proto::bulk::ObjectKind;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::records::{self, OBJECT_SHA256_SYSTEM, Records};

/// The largest Consent [`keep`] reads.
const MAX_CONSENT_BYTES: usize = 64 * 1024;

/// What was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kept {
    /// The object's SHA-256.
    pub sha256: [u8; 32],
    /// The object's file.
    pub object: PathBuf,
    /// The Consent's file.
    pub consent: PathBuf,
    /// The Provenance's file.
    pub provenance: PathBuf,
}

/// Why a share was not kept. Carries no patient data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeepError {
    /// The Consent is not a FHIR Consent (not JSON, too large, or another resource).
    #[error("the share's Consent could not be read")]
    BadConsent,
    /// The Consent does not let the clinic keep it (inactive, or clinic-may-keep not true).
    #[error("the share's Consent does not allow the clinic to keep it")]
    NotAllowed,
    /// The Consent of a picture or scan names other bytes.
    #[error("the share's Consent is for another object")]
    OtherObject,
    /// The files could not be written.
    #[error("the kept share could not be written ({0})")]
    Io(std::io::ErrorKind),
}

impl From<std::io::Error> for KeepError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e.kind())
    }
}

/// The file extension a kept object gets.
pub fn extension(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Image => "img",
        ObjectKind::Dicom => "dcm",
        _ => "json",
    }
}

/// The name stem of a kept object's files: hex of the first 16 bytes of its SHA-256.
pub fn file_stem(sha256: &[u8; 32]) -> String {
    hex::encode(&sha256[..16])
}

/// Whether the Consent names an object by this digest.
fn names_object(consent: &Value, sha256: &str) -> bool {
    consent["provision"]["data"].as_array().is_some_and(|data| {
        data.iter().any(|d| {
            let id = &d["reference"]["identifier"];
            id["system"] == OBJECT_SHA256_SYSTEM && id["value"] == sha256
        })
    })
}

/// Checks `consent_json` allows keeping `data`; returns the parsed Consent.
pub fn check_consent(
    kind: ObjectKind,
    data: &[u8],
    consent_json: &str,
) -> Result<Value, KeepError> {
    if consent_json.len() > MAX_CONSENT_BYTES {
        return Err(KeepError::BadConsent);
    }
    let consent: Value = serde_json::from_str(consent_json).map_err(|_| KeepError::BadConsent)?;
    if consent["resourceType"] != "Consent" {
        return Err(KeepError::BadConsent);
    }
    if !Records::consent_allows_keeping(&consent) {
        return Err(KeepError::NotAllowed);
    }
    if matches!(kind, ObjectKind::Image | ObjectKind::Dicom)
        && !names_object(&consent, &hex::encode(Sha256::digest(data)))
    {
        return Err(KeepError::OtherObject);
    }
    Ok(consent)
}

/// Writes a share the clinic may keep into `dir` (created if needed): the object, its Consent
/// and a Provenance recorded at `now_unix`. Refuses, writing nothing, when the Consent does
/// not allow it ([`check_consent`]).
pub fn keep(
    dir: &Path,
    kind: ObjectKind,
    data: &[u8],
    consent_json: &str,
    now_unix: i64,
) -> Result<Kept, KeepError> {
    let consent = check_consent(kind, data, consent_json)?;
    let sha256: [u8; 32] = Sha256::digest(data).into();
    let stem = file_stem(&sha256);
    let provenance = records::object_provenance(&sha256, &consent, now_unix);
    let provenance_json =
        serde_json::to_vec_pretty(provenance.expose()).map_err(|_| KeepError::BadConsent)?;
    crate::files::private_dir(dir)?;
    let kept = Kept {
        sha256,
        object: dir.join(format!("{stem}.{}", extension(kind))),
        consent: dir.join(format!("{stem}.consent.json")),
        provenance: dir.join(format!("{stem}.provenance.json")),
    };
    write_private(&kept.object, data)?;
    write_private(&kept.consent, consent_json.as_bytes())?;
    write_private(&kept.provenance, &provenance_json)?;
    Ok(kept)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::io::Write::write_all(&mut crate::files::private_file(path, false)?, bytes)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::offer::{ShareTerms, object_offer};

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "haven-keep-{name}-{}-{:x}",
                std::process::id(),
                Sha256::digest(name.as_bytes())[0]
            ));
            let _ = std::fs::remove_dir_all(&dir);
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn offer(may_keep: bool, data: &[u8]) -> crate::offer::Offer {
        let terms = ShareTerms {
            anonymous: false,
            may_keep,
            share_for: Duration::from_secs(3600),
        };
        object_offer(
            ObjectKind::Image,
            Arc::new(data.to_vec()),
            "Jane's knee",
            &terms,
        )
        .expect("an offer")
    }

    #[test]
    fn keeps_object_consent_and_provenance_under_the_digest() {
        let dir = TempDir::new("ok");
        let data = b"a stripped picture".to_vec();
        let offer = offer(true, &data);
        let kept = keep(
            &dir.0,
            ObjectKind::Image,
            &data,
            offer.consent.expose(),
            1_767_226_000,
        )
        .expect("kept");
        let digest = hex::encode(Sha256::digest(&data));
        let stem = &digest[..32];
        let mut names: Vec<String> = std::fs::read_dir(&dir.0)
            .expect("the folder")
            .map(|e| {
                e.expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                format!("{stem}.consent.json"),
                format!("{stem}.img"),
                format!("{stem}.provenance.json"),
            ]
        );
        assert_eq!(std::fs::read(&kept.object).expect("object"), data);
        assert_eq!(
            std::fs::read_to_string(&kept.consent).expect("consent"),
            *offer.consent.expose()
        );
        let consent: Value = serde_json::from_str(offer.consent.expose()).expect("JSON");
        let prov: Value =
            serde_json::from_slice(&std::fs::read(&kept.provenance).expect("provenance"))
                .expect("JSON");
        assert_eq!(prov["resourceType"], "Provenance");
        let id = consent["id"].as_str().expect("an id");
        assert_eq!(
            prov["entity"][0]["what"]["reference"],
            format!("Consent/{id}")
        );
        assert_eq!(
            prov["target"][0]["identifier"]["system"],
            OBJECT_SHA256_SYSTEM
        );
        assert_eq!(prov["target"][0]["identifier"]["value"], digest.as_str());
        assert_eq!(prov["recorded"], "2026-01-01T00:06:40Z");
        assert!(
            !String::from_utf8_lossy(&std::fs::read(&kept.provenance).expect("p")).contains("Jane")
        );
    }

    #[test]
    fn a_consent_without_permission_is_refused() {
        let dir = TempDir::new("refused");
        let data = b"a stripped picture".to_vec();
        let no = offer(false, &data);
        let e = keep(&dir.0, ObjectKind::Image, &data, no.consent.expose(), 0);
        assert!(matches!(e, Err(KeepError::NotAllowed)), "{e:?}");
        // Without the extension at all.
        let mut consent: Value = serde_json::from_str(no.consent.expose()).expect("JSON");
        consent.as_object_mut().expect("object").remove("extension");
        let e = keep(&dir.0, ObjectKind::Image, &data, &consent.to_string(), 0);
        assert!(matches!(e, Err(KeepError::NotAllowed)));
        // Revoked.
        let yes = offer(true, &data);
        let revoked = yes.revoked_consent(0).expect("revoked");
        let e = keep(&dir.0, ObjectKind::Image, &data, revoked.expose(), 0);
        assert!(matches!(e, Err(KeepError::NotAllowed)));
        // For other bytes.
        let e = keep(&dir.0, ObjectKind::Image, b"other", yes.consent.expose(), 0);
        assert!(matches!(e, Err(KeepError::OtherObject)));
        // Not a Consent.
        let e = keep(
            &dir.0,
            ObjectKind::Image,
            &data,
            "{\"resourceType\":\"Patient\"}",
            0,
        );
        assert!(matches!(e, Err(KeepError::BadConsent)));
        assert!(!dir.0.exists(), "nothing was written");
    }
}
