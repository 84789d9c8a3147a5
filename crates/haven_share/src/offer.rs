//! Offers: what the patient's side prepares before anything leaves the machine.
//!
//! A file the patient picked is read ([`read_file`]), recognised and prepared
//! ([`prepare_file`]): a picture is stripped of its metadata, a DICOM file de-identified, and
//! either becomes an [`Offer`] at once, or FHIR records are parsed for the patient to pick from
//! ([`Prepared::Records`]); the picked records become an offer with [`records_offer`]
//! (anonymised when the patient is anonymous). Every offer carries its FHIR Consent, made by
//! the one builder for records, pictures and scans ([`crate::records::consent_for`]).
//!
//! Errors never carry patient data or file names: they may be logged.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use haven_proto::Redacted;
use haven_proto::bulk::{ObjectId, ObjectKind};
use haven_proto::control::Share;
pub use haven_proto::control::{MAX_SHARE_CONSENT, MAX_SHARE_LABEL};
use sha2::{Digest, Sha256};

use crate::dicom::{self, DeidKey, DicomError, DicomLimits};
use crate::images::{self, ImageError, ImageKind, ImageLimits};
use crate::records::{self, ConsentData, ConsentRequest, Limits, Records, RecordsError, ShareMode};

/// The largest file [`read_file`] reads.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// The terms the patient set for what they share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShareTerms {
    /// Records are anonymised (HIPAA Safe Harbor) and labels are generic.
    pub anonymous: bool,
    /// The clinic may keep what is shared.
    pub may_keep: bool,
    /// How long a share holds.
    pub share_for: Duration,
}

impl ShareTerms {
    /// The Consent's terms for a share made now (reads the clock).
    pub fn consent_request(&self) -> ConsentRequest {
        self.consent_request_at(unix_now())
    }

    /// The Consent's terms for a share made at `now_unix`, with a fresh random share id.
    pub fn consent_request_at(&self, now_unix: i64) -> ConsentRequest {
        let mut nonce = [0u8; 4];
        let _ = getrandom::fill(&mut nonce);
        ConsentRequest {
            share_id: format!("share-{now_unix:x}-{}", u32::from_le_bytes(nonce)),
            now_unix,
            duration_secs: i64::try_from(self.share_for.as_secs()).unwrap_or(i64::MAX),
            purpose: records::Purpose::Treatment,
            clinic_may_keep: self.may_keep,
        }
    }

    /// Until when a share made now holds, Unix seconds (reads the clock).
    pub fn until(&self) -> u64 {
        self.until_at(unix_now())
    }

    /// Until when a share made at `now_unix` holds, Unix seconds.
    pub fn until_at(&self, now_unix: i64) -> u64 {
        u64::try_from(now_unix)
            .unwrap_or(0)
            .saturating_add(self.share_for.as_secs())
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A prepared object the patient offers (already stripped, de-identified or anonymised), with its terms.
#[derive(Clone, Debug)]
pub struct Offer {
    /// What it is.
    pub kind: ObjectKind,
    /// Its bytes, ready to send.
    pub data: Redacted<Arc<Vec<u8>>>,
    /// What the patient calls it (generic when the patient is anonymous).
    pub label: Redacted<String>,
    /// The Consent resource (JSON) that goes with it.
    pub consent: Redacted<String>,
    /// Whether the clinic may keep it.
    pub may_keep: bool,
    /// Until when the share holds, Unix seconds.
    pub until: u64,
    /// What the patient should know before sharing it (a scan whose pixels may show text:
    /// [`crate::dicom::BurnedInAnnotation::caution_for_patient`]); never patient data.
    pub caution: Option<&'static str>,
}

impl Offer {
    /// The terms announced with it on `control`.
    pub fn terms(&self, object: ObjectId) -> Share {
        Share {
            object,
            label: self.label.clone(),
            consent: self.consent.clone(),
            may_keep: self.may_keep,
            until: self.until,
        }
    }

    /// Its Consent as revoked at `now_unix` ([`records::revoke_consent`]: `inactive`, the
    /// period ending now), for the patient's own record of what they took back.
    pub fn revoked_consent(&self, now_unix: i64) -> Result<Redacted<String>, OfferError> {
        let consent: serde_json::Value = serde_json::from_str(self.consent.expose())?;
        let revoked = records::revoke_consent(&consent, now_unix);
        Ok(Redacted::new(serde_json::to_string(revoked.expose())?))
    }
}

/// Why something cannot be offered (no patient data and no file name in it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OfferError {
    /// The file could not be read.
    #[error("the file cannot be read ({0})")]
    Unreadable(std::io::ErrorKind),
    /// The file is over [`MAX_FILE_BYTES`].
    #[error("{size} bytes, over the {max}-byte limit")]
    FileTooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The picture could not be stripped.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The DICOM file could not be de-identified.
    #[error(transparent)]
    Dicom(#[from] DicomError),
    /// The records could not be read, selected or anonymised.
    #[error(transparent)]
    Records(#[from] RecordsError),
    /// The Consent would not fit in one share.
    #[error("its Consent lists too much for one share ({0} bytes); share fewer records at once")]
    ConsentTooLong(usize),
    /// The Consent could not be written or read back.
    #[error("the Consent could not be written: {0}")]
    Json(#[from] serde_json::Error),
}

/// An offer of prepared bytes with its Consent, the label cut to the wire's limit and, for an
/// anonymous patient, replaced by a generic one (a file name can carry a name).
pub fn make_offer(
    kind: ObjectKind,
    data: Arc<Vec<u8>>,
    consent: String,
    label: &str,
    terms: &ShareTerms,
) -> Result<Offer, OfferError> {
    if consent.len() > MAX_SHARE_CONSENT {
        return Err(OfferError::ConsentTooLong(consent.len()));
    }
    let mut label = if terms.anonymous {
        match kind {
            ObjectKind::Fhir => "Shared records".to_owned(),
            ObjectKind::Dicom => "Shared scan".to_owned(),
            _ => "Shared picture".to_owned(),
        }
    } else {
        label.to_owned()
    };
    while label.len() > MAX_SHARE_LABEL {
        label.pop();
    }
    Ok(Offer {
        kind,
        data: Redacted::new(data),
        label: Redacted::new(label),
        consent: Redacted::new(consent),
        may_keep: terms.may_keep,
        until: terms.until(),
        caution: None,
    })
}

/// What a prepared object is called in its Consent.
fn consent_noun(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Dicom => "DICOM image",
        ObjectKind::Fhir => "records",
        _ => "image",
    }
}

/// An offer of a prepared picture or scan, with its Consent made now (the object named by
/// the SHA-256 of `data`).
pub fn object_offer(
    kind: ObjectKind,
    data: Arc<Vec<u8>>,
    label: &str,
    terms: &ShareTerms,
) -> Result<Offer, OfferError> {
    let sha256: [u8; 32] = Sha256::digest(data.as_slice()).into();
    let what = ConsentData::Object {
        sha256: &sha256,
        what: consent_noun(kind),
    };
    let request = terms.consent_request();
    // An anonymous patient's Consent carries years only (Safe Harbor's dates).
    let consent = if terms.anonymous {
        request.anonymous_consent(what)
    } else {
        records::consent_for(what, &request)
    };
    let consent = serde_json::to_string(consent.expose())?;
    make_offer(kind, data, consent, label, terms)
}

/// An offer of records already selected: anonymised when the terms say so, with a Consent for
/// exactly what is sent.
pub fn records_offer(
    selected: Records,
    label: &str,
    terms: &ShareTerms,
) -> Result<Offer, OfferError> {
    let mode = if terms.anonymous {
        ShareMode::Anonymous
    } else {
        ShareMode::Named
    };
    let prepared = records::prepare_selected(selected, mode, &terms.consent_request())?;
    let consent = serde_json::to_string(prepared.consent.expose())?;
    make_offer(
        ObjectKind::Fhir,
        Arc::new(prepared.bundle_json.into_inner()),
        consent,
        label,
        terms,
    )
}

/// A file prepared on the patient's machine.
#[derive(Debug)]
pub enum Prepared {
    /// A picture (stripped) or a scan (de-identified), ready to offer. Its Consent says now;
    /// make a new one ([`object_offer`]) when the patient shares it later.
    Object(Offer),
    /// FHIR records, kept whole on this machine until the patient picks what to share
    /// ([`records_offer`]).
    Records {
        /// What the patient calls them (from the file's name).
        label: Redacted<String>,
        /// The records.
        records: Records,
    },
}

/// Reads a file to share, up to [`MAX_FILE_BYTES`], with errors that do not name it.
pub fn read_file(path: &Path) -> Result<Vec<u8>, OfferError> {
    let size = std::fs::metadata(path)
        .map_err(|e| OfferError::Unreadable(e.kind()))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(OfferError::FileTooLarge {
            size,
            max: MAX_FILE_BYTES,
        });
    }
    std::fs::read(path).map_err(|e| OfferError::Unreadable(e.kind()))
}

/// The label a file's name suggests: its stem with `_` and `-` as spaces ("knee_x-ray.jpg"
/// → "knee x ray"); "Shared item" when there is none.
pub fn label_from_name(name: &str) -> String {
    Path::new(name)
        .file_stem()
        .map(|s| s.to_string_lossy().replace(['_', '-'], " "))
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "Shared item".to_owned())
}

/// Prepares one file's bytes: a DICOM file (the `DICM` magic, or a `.dcm` name) is
/// de-identified with `deid_key`, a `.json` file is read as FHIR records to pick from, and
/// anything else is stripped as a picture (its name's extension must agree with its bytes).
/// `name_hint` is the file's name: its extension picks the path, its stem the label
/// ([`label_from_name`]). Errors name neither the file nor anything in it.
pub fn prepare_file(
    bytes: Vec<u8>,
    name_hint: &str,
    terms: &ShareTerms,
    deid_key: &DeidKey,
) -> Result<Prepared, OfferError> {
    let label = label_from_name(name_hint);
    let ext = Path::new(name_hint).extension();
    let is_dicom =
        bytes.get(128..132) == Some(b"DICM") || ext.is_some_and(|e| e.eq_ignore_ascii_case("dcm"));
    let is_json = ext.is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let (kind, data, caution) = if is_dicom {
        let done = dicom::deidentify(&bytes, deid_key, &DicomLimits::default())?;
        let caution = done.report.burned_in_annotation.caution_for_patient();
        (ObjectKind::Dicom, done.bytes, caution)
    } else if is_json {
        let records = records::parse(&bytes, &Limits::default())?;
        return Ok(Prepared::Records {
            label: Redacted::new(label),
            records,
        });
    } else {
        let claimed = ImageKind::from_path(Path::new(name_hint));
        let stripped = images::strip(&bytes, claimed, &ImageLimits::default())?;
        (ObjectKind::Image, stripped.bytes, None)
    };
    let mut offer = object_offer(kind, Arc::new(data), &label, terms)?;
    offer.caution = caution;
    Ok(Prepared::Object(offer))
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn data(path: &str) -> Vec<u8> {
        let path = format!("{}/../../tests/data/{path}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("test data {path}: {e}"))
    }

    fn terms(anonymous: bool, may_keep: bool) -> ShareTerms {
        ShareTerms {
            anonymous,
            may_keep,
            share_for: Duration::from_secs(60),
        }
    }

    fn key() -> DeidKey {
        DeidKey::generate().expect("randomness")
    }

    fn consent(offer: &Offer) -> Value {
        serde_json::from_str(offer.consent.expose()).expect("JSON")
    }

    #[test]
    fn each_kind_of_file_is_prepared() {
        let t = terms(false, true);
        let Prepared::Object(picture) = prepare_file(
            data("images/camera_gps_serial.jpg"),
            "camera_gps-serial.jpg",
            &t,
            &key(),
        )
        .expect("a picture") else {
            panic!("not an object")
        };
        assert_eq!(picture.kind, ObjectKind::Image);
        assert_eq!(picture.label.expose(), "camera gps serial");
        assert!(
            images::metadata(picture.data.expose())
                .expect("JPEG")
                .is_empty()
        );
        let c = consent(&picture);
        let digest = hex::encode(Sha256::digest(picture.data.expose().as_slice()));
        assert_eq!(
            c["provision"]["data"][0]["reference"]["identifier"]["value"],
            digest.as_str()
        );
        assert!(Records::consent_allows_keeping(&c));
        assert!(picture.may_keep);

        let Prepared::Object(scan) =
            prepare_file(data("dicom/CT_small.dcm"), "ct.dcm", &t, &key()).expect("a scan")
        else {
            panic!("not an object")
        };
        assert_eq!(scan.kind, ObjectKind::Dicom);
        let info = dicom::info(scan.data.expose(), &DicomLimits::default()).expect("DICOM");
        assert!(info.patient_identity_removed);
        // Its pixels are not said to be free of text: the patient is told before sharing.
        assert_eq!(
            scan.caution,
            dicom::BurnedInAnnotation::NotStated.caution_for_patient()
        );
        assert!(
            picture.caution.is_none(),
            "a picture's pixels were re-encoded"
        );
        let Prepared::Object(clean) =
            prepare_file(data("dicom/emri_small.dcm"), "mr.dcm", &t, &key()).expect("a scan")
        else {
            panic!("not an object")
        };
        assert_eq!(
            clean.caution, None,
            "this one says its pixels carry no text"
        );

        let Prepared::Records { label, records } =
            prepare_file(data("fhir/ips-minimal.json"), "my-records.json", &t, &key())
                .expect("records")
        else {
            panic!("not records")
        };
        assert_eq!(label.expose(), "my records");
        let offer = records_offer(records, label.expose(), &terms(true, false)).expect("offer");
        assert_eq!(offer.kind, ObjectKind::Fhir);
        assert_eq!(offer.label.expose(), "Shared records");
        assert!(!Records::consent_allows_keeping(&consent(&offer)));
    }

    #[test]
    fn errors_name_neither_the_file_nor_its_content() {
        let whole = data("images/camera_gps_serial.jpg");
        let cut = whole[..whole.len() / 3].to_vec();
        let name = "Jane Doe knee.jpg";
        let e = prepare_file(cut, name, &terms(false, false), &key()).expect_err("refused");
        assert!(!format!("{e} {e:?}").contains("Jane"), "{e}");
        // A picture whose name claims another type is refused.
        let e = prepare_file(whole, "Jane.png", &terms(false, false), &key()).expect_err("no");
        assert!(matches!(e, OfferError::Image(ImageError::Mismatch { .. })));
        assert!(!format!("{e} {e:?}").contains("Jane"));
        let e = prepare_file(b"{".to_vec(), "Jane.json", &terms(false, false), &key())
            .expect_err("not JSON");
        assert!(matches!(e, OfferError::Records(_)));
        let missing = Path::new("/nonexistent/Jane Doe.jpg");
        let e = read_file(missing).expect_err("no file");
        assert!(!format!("{e} {e:?}").contains("Jane"));
    }

    #[test]
    fn anonymous_labels_are_generic_and_cut_to_the_wire() {
        let data = Arc::new(vec![1, 2, 3]);
        let long = "é".repeat(MAX_SHARE_LABEL);
        let named = object_offer(
            ObjectKind::Image,
            Arc::clone(&data),
            &long,
            &terms(false, false),
        )
        .expect("offer");
        assert!(named.label.expose().len() <= MAX_SHARE_LABEL);
        assert!(named.label.expose().chars().all(|c| c == 'é'));
        let anon = object_offer(ObjectKind::Dicom, data, "Jane's scan", &terms(true, false))
            .expect("offer");
        assert_eq!(anon.label.expose(), "Shared scan");
        let share = anon.terms(ObjectId(7));
        assert_eq!(share.object, ObjectId(7));
        assert_eq!(share.consent.expose(), anon.consent.expose());
        assert_eq!((share.may_keep, share.until), (anon.may_keep, anon.until));
        // An anonymous patient's Consent says the year only, like the records it describes.
        let c = consent(&anon);
        let date = c["dateTime"].as_str().expect("a date");
        assert_eq!(date.len(), 4, "a year: {date}");
        let named_date = consent(&named)["dateTime"].as_str().map_or(0, str::len);
        assert!(named_date > 4, "a named patient's Consent keeps its time");
        let too_long = make_offer(
            ObjectKind::Fhir,
            Arc::new(Vec::new()),
            "x".repeat(MAX_SHARE_CONSENT + 1),
            "records",
            &terms(false, false),
        );
        assert!(matches!(too_long, Err(OfferError::ConsentTooLong(_))));
    }

    #[test]
    fn a_revoked_offer_has_an_inactive_consent() {
        let offer = object_offer(
            ObjectKind::Image,
            Arc::new(vec![9; 10]),
            "x",
            &terms(false, true),
        )
        .expect("offer");
        let revoked: Value =
            serde_json::from_str(offer.revoked_consent(0).expect("revoked").expose())
                .expect("JSON");
        assert_eq!(revoked["status"], "inactive");
        assert_eq!(
            revoked["provision"]["period"]["end"],
            "1970-01-01T00:00:00Z"
        );
        assert!(!Records::consent_allows_keeping(&revoked));
        assert_eq!(revoked["id"], consent(&offer)["id"]);
    }
}
