//! haven_share: what the patient shows, prepared on the patient's machine before anything
//! leaves it, and what the clinician's side keeps (in memory) and audits.
//!
//! - [`records`]: FHIR R4 JSON (Bundles of every type, the IPS document, single resources):
//!   typed reading of the common clinical resources, everything else kept whole; a
//!   clinician-readable summary; selection; Safe Harbor anonymisation; Consent.
//! - [`images`]: PNG/JPEG/WebP/TIFF/BMP decoded under limits and re-encoded without metadata.
//! - [`dicom`]: DICOM reading under limits, PS3.15 Basic Confidentiality Profile, pixels for
//!   display with the file's window/level.
//! - [`audit`]: the hash-chained, signed, append-only log of shares, views, revokes and purges,
//!   exportable as FHIR AuditEvent.

pub mod audit;
pub mod dicom;
pub mod images;
pub mod records;
