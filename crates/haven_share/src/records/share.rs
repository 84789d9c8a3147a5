//! One call for the patient's side: select, anonymise when asked, write the Consent.

use core::fmt;

use haven_proto::Redacted;
use serde_json::Value;

use super::anonymise::{AnonKey, AnonymiseOptions, anonymise};
use super::consent::{ConsentRequest, build_consent};
use super::select::Selector;
use super::{Records, RecordsError};

/// Whether the clinician sees who the patient is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShareMode {
    /// The records as selected (references kept consistent, nothing else changed).
    Named,
    /// HIPAA Safe Harbor applied, with pseudonymous ids from a fresh per-share key.
    Anonymous,
}

/// A share ready to send: the Bundle's bytes, the records they hold (to preview with
/// [`super::summarise`]) and the share's Consent. `Debug` shows counts only.
pub struct PreparedShare {
    /// What is shared (a `collection` Bundle).
    pub records: Records,
    /// `records` as JSON: the bytes to send (`haven records … --json` prints these).
    pub bundle_json: Redacted<Vec<u8>>,
    /// The FHIR Consent describing the share (send it with the Bundle).
    pub consent: Redacted<Value>,
}

impl fmt::Debug for PreparedShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedShare")
            .field("records", &self.records)
            .field("bundle_bytes", &self.bundle_json.expose().len())
            .finish_non_exhaustive()
    }
}

/// Selects `selectors` from `source` ([`Records::select`]), anonymises in
/// [`ShareMode::Anonymous`] (with a fresh random key, so two shares never link), and builds
/// the Consent ([`build_consent`]) for exactly what is sent.
pub fn prepare_share(
    source: &Records,
    selectors: &[Selector],
    mode: ShareMode,
    request: &ConsentRequest,
) -> Result<PreparedShare, RecordsError> {
    prepare_selected(source.select(selectors)?, mode, request)
}

/// [`prepare_share`] for records already selected (e.g. by position with
/// [`Records::select_positions`], as the patient's picker does).
pub fn prepare_selected(
    shared: Records,
    mode: ShareMode,
    request: &ConsentRequest,
) -> Result<PreparedShare, RecordsError> {
    let records = match mode {
        ShareMode::Named => shared,
        ShareMode::Anonymous => anonymise(
            shared,
            &AnonKey::generate()?,
            &AnonymiseOptions::at(request.now_unix),
        ),
    };
    let consent = build_consent(&records, request);
    let bundle_json = records.to_json_bytes();
    tracing::debug!(
        resources = records.len(),
        bytes = bundle_json.expose().len(),
        anonymous = mode == ShareMode::Anonymous,
        "share prepared"
    );
    Ok(PreparedShare {
        records,
        bundle_json,
        consent,
    })
}

#[cfg(test)]
mod tests {
    use super::super::consent::Purpose;
    use super::super::tests::load;
    use super::super::{Limits, SectionKind, parse, summarise};
    use super::*;

    #[test]
    fn anonymous_json_is_the_bundle_to_send() {
        let source = load("synthea-transaction.json");
        let request = ConsentRequest {
            share_id: "share-1".to_owned(),
            now_unix: 1_767_225_600,
            duration_secs: 1800,
            purpose: Purpose::Treatment,
            clinic_may_keep: false,
        };
        let selectors = [
            Selector::Section(SectionKind::Results),
            Selector::Section(SectionKind::Immunizations),
        ];
        let share =
            prepare_share(&source, &selectors, ShareMode::Anonymous, &request).expect("prepares");
        let text = String::from_utf8(share.bundle_json.expose().clone()).expect("UTF-8");
        assert!(!text.contains("Clemente"), "the patient's name is gone");
        assert!(!format!("{share:?}").contains("Clemente"));
        // The bytes read back as FHIR, and the Consent lists every resource sent.
        let back = parse(share.bundle_json.expose(), &Limits::default()).expect("FHIR");
        assert_eq!(back.len(), share.records.len());
        let data = share.consent.expose()["provision"]["data"]
            .as_array()
            .map(Vec::len);
        assert_eq!(data, Some(back.len()));
        assert!(summarise(&back).section(SectionKind::Results).is_some());
        // Named mode keeps the name.
        let named =
            prepare_share(&source, &selectors, ShareMode::Named, &request).expect("prepares");
        let text = String::from_utf8(named.bundle_json.into_inner()).expect("UTF-8");
        assert!(text.contains("Clemente"));
    }
}
