//! haven_share: what the patient shows, prepared on the patient's machine before anything
//! leaves it, and what the clinician's side holds (in memory), keeps (only when the patient
//! allowed it) and audits. No Bevy, no network: the room app and the headless participant
//! both call it.
//!
//! - [`offer`]: the patient's side. A `--share` file read and recognised, a picture stripped,
//!   a DICOM file de-identified, FHIR records parsed to pick from; an [`offer::Offer`] (bytes,
//!   label, Consent, terms) for a picture, a scan or picked records (anonymised for an
//!   anonymous patient), with the share's Consent made by the one builder
//!   ([`records::consent_for`]).
//! - [`ledger`]: the share protocol as a sans-IO state machine: what this side offers and what
//!   it holds of others' shares, answering events with effects (send, say, audit, keep, show,
//!   ask the patient about a newcomer).
//! - [`keep`]: a share the patient allowed the clinic to keep, written under its digest with
//!   its Consent (the proof, checked) and a Provenance pointing at both.
//! - [`records`]: FHIR R4 JSON (Bundles of every type, the IPS document, single resources):
//!   typed reading of the common clinical resources, everything else kept whole; a
//!   clinician-readable summary; selection; Safe Harbor anonymisation; Consent, its
//!   revocation and the Provenance of what is kept.
//! - [`images`]: PNG/JPEG/WebP/TIFF/BMP decoded under limits and re-encoded without metadata;
//!   the same limits when a shared picture is decoded for display.
//! - [`dicom`]: DICOM reading under limits, the PS3.15 Basic Confidentiality Profile, and
//!   frames for display with the file's window/level.
//! - [`audit`]: the hash-chained, signed, append-only log of shares, views, revokes, purges
//!   and keeps, by patient, clinician or therapist; exportable as FHIR AuditEvent; and
//!   [`audit::AuditWriter`], one side's log for a session (in memory, optionally a file).
//! - [`files`]: what this crate writes on disk (kept shares, audit logs) is the owner's only
//!   (0600 files, 0700 folders).

pub mod audit;
pub mod dicom;
pub mod files;
pub mod images;
pub mod keep;
pub mod ledger;
pub mod offer;
pub mod records;
