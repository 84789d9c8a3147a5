//! PS3.15 Annex E Basic Application Level Confidentiality Profile, applied to a parsed file.
//!
//! The table ([`super::annex_e::TABLE`]) gives each listed attribute an action; this walker
//! applies it at every nesting level, removes all private elements (odd groups), the whole of
//! the overlay (60xx) and curve (50xx) groups and the group lengths, replaces UIDs with
//! HMAC-derived ones (so references stay consistent inside a file and across the files of one
//! share), and records the de-identification in the data set. Pixel Data is moved across
//! untouched.
//!
//! How the compound actions are resolved (the profile leaves the choice to the implementer,
//! by the attribute's type in the IOD):
//!
//! | action | non-sequence | sequence |
//! |---|---|---|
//! | D | dummy value for the VR | emptied (no items) |
//! | Z, X/Z | emptied (zero length) | emptied |
//! | X | removed | removed |
//! | U | UID replaced | — |
//! | Z/D, X/Z/D | dummy if a date/time, else emptied | emptied |
//! | X/D | dummy if a date/time, else removed | removed |
//! | X/Z/U* | emptied (UIDs replaced) | kept, items walked (their UIDs replaced) |
//!
//! Dates and times become fixed dummies (19000101, 000000), so Longitudinal Temporal
//! Information Modified is set to REMOVED.

use std::collections::BTreeMap;
use std::fmt;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::header::Header as _;
use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Length, Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;
use dicom_object::{FileDicomObject, InMemDicomObject};
use haven_proto::Redacted;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::annex_e::{Action, TABLE};
use super::{BurnedInAnnotation, DicomError};

/// The secret of one share: UIDs are replaced by `2.25.<128 bits of HMAC-SHA-256(key, uid)>`,
/// so the same original UID maps to the same new one in every file of the share, and nobody
/// without the key can map back.
#[derive(Clone, Debug)]
pub struct DeidKey(Redacted<[u8; 32]>);

impl DeidKey {
    /// A fresh random key (one per share).
    pub fn generate() -> Result<Self, DicomError> {
        let mut key = [0_u8; 32];
        getrandom::fill(&mut key).map_err(|_| DicomError::NoRandomness)?;
        Ok(Self(Redacted::new(key)))
    }

    /// A key from known bytes (tests, or a key the share already has).
    pub const fn from_bytes(key: [u8; 32]) -> Self {
        Self(Redacted::new(key))
    }

    /// The replacement for `uid` (trailing padding ignored): "2.25." and the decimal form of
    /// the first 128 bits of HMAC-SHA-256(key, "haven.dicom.uid.v1\0" ‖ uid).
    pub fn uid(&self, uid: &str) -> String {
        let uid = uid.trim_end_matches(['\0', ' ']);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.expose())
            .expect("HMAC-SHA-256 takes a key of any length");
        mac.update(b"haven.dicom.uid.v1\0");
        mac.update(uid.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut first = [0_u8; 16];
        first.copy_from_slice(&digest[..16]);
        format!("2.25.{}", u128::from_be_bytes(first))
    }
}

/// What was done to one attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Applied {
    /// Removed from the data set.
    Removed,
    /// Kept with a zero-length value.
    Emptied,
    /// Replaced with a dummy value.
    Dummy,
    /// UID replaced with the share's HMAC-derived one.
    UidReplaced,
    /// Sequence kept with no items.
    SequenceEmptied,
}

impl fmt::Display for Applied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Removed => "removed",
            Self::Emptied => "emptied",
            Self::Dummy => "replaced with a dummy",
            Self::UidReplaced => "UID replaced",
            Self::SequenceEmptied => "sequence emptied",
        })
    }
}

/// One line of the report: an attribute (by tag and standard keyword), what was done, and
/// how many times (it may occur in several sequence items). No values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeidAction {
    /// Group and element.
    pub tag: (u16, u16),
    /// The standard keyword (e.g. "PatientName"), or the Annex E attribute name.
    pub name: String,
    /// What was done.
    pub applied: Applied,
    /// How many elements (across all nesting levels).
    pub count: usize,
}

impl fmt::Display for DeidAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "({:04X},{:04X}) {}: {}",
            self.tag.0, self.tag.1, self.name, self.applied
        )?;
        if self.count > 1 {
            write!(f, " ×{}", self.count)?;
        }
        Ok(())
    }
}

/// What de-identification did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeidReport {
    /// Annex E attributes acted on, in tag order.
    pub actions: Vec<DeidAction>,
    /// Private elements (odd groups) removed, at every level.
    pub private_removed: usize,
    /// Overlay elements (groups 6000-601E) removed.
    pub overlay_removed: usize,
    /// Curve elements (groups 5000-501E) removed.
    pub curve_removed: usize,
    /// What the file said about text burned into the pixels (read before de-identification;
    /// the pixels are never changed).
    pub burned_in_annotation: BurnedInAnnotation,
}

impl DeidReport {
    /// Whether the pixels may still show identifying text: unless the file says
    /// BurnedInAnnotation = NO, nobody has vouched for them.
    pub fn pixels_may_carry_text(&self) -> bool {
        self.burned_in_annotation != BurnedInAnnotation::No
    }

    /// The count of a given outcome.
    pub fn count(&self, applied: Applied) -> usize {
        self.actions
            .iter()
            .filter(|a| a.applied == applied)
            .map(|a| a.count)
            .sum()
    }
}

/// A de-identified file.
#[derive(Clone, PartialEq, Eq)]
pub struct Deidentified {
    /// The new file (preamble, meta group, data set; same transfer syntax).
    pub bytes: Vec<u8>,
    /// What was done.
    pub report: DeidReport,
}

impl fmt::Debug for Deidentified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deidentified")
            .field("bytes", &format_args!("[{} bytes]", self.bytes.len()))
            .field("report", &self.report)
            .finish()
    }
}

const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);

/// The Annex E action for `tag`, if the table lists it.
pub(super) fn action_for(tag: Tag) -> Option<(Action, &'static str)> {
    TABLE
        .binary_search_by(|(g, e, _, _)| (*g, *e).cmp(&(tag.0, tag.1)))
        .ok()
        .map(|i| (TABLE[i].2, TABLE[i].3))
}

/// The standard keyword of a tag, falling back to the table's attribute name.
pub(super) fn keyword(tag: Tag, fallback: &str) -> String {
    StandardDataDictionary
        .by_tag(tag)
        .map_or_else(|| fallback.to_owned(), |e| e.alias().to_owned())
}

fn is_date_time(vr: VR) -> bool {
    matches!(vr, VR::DA | VR::TM | VR::DT)
}

/// A dummy value of the right VR.
fn dummy(vr: VR, key: &DeidKey) -> PrimitiveValue {
    let text = |s: &str| PrimitiveValue::from(s);
    match vr {
        VR::DA => text("19000101"),
        VR::TM => text("000000"),
        VR::DT => text("19000101000000"),
        VR::PN => text("ANONYMIZED"),
        VR::AS => text("000Y"),
        VR::IS | VR::DS => text("0"),
        VR::UI => PrimitiveValue::from(key.uid("haven.dummy")),
        VR::AE | VR::CS | VR::LO | VR::SH | VR::LT | VR::ST | VR::UT | VR::UC => text("ANONYMIZED"),
        VR::US => PrimitiveValue::from(0_u16),
        VR::SS => PrimitiveValue::from(0_i16),
        VR::UL => PrimitiveValue::from(0_u32),
        VR::SL => PrimitiveValue::from(0_i32),
        VR::FL => PrimitiveValue::from(0_f32),
        VR::FD => PrimitiveValue::from(0_f64),
        _ => PrimitiveValue::Empty,
    }
}

#[derive(Default)]
struct Tally {
    actions: BTreeMap<((u16, u16), Applied), (String, usize)>,
    private_removed: usize,
    overlay_removed: usize,
    curve_removed: usize,
}

impl Tally {
    fn record(&mut self, tag: Tag, name: &str, applied: Applied) {
        self.actions
            .entry(((tag.0, tag.1), applied))
            .or_insert_with(|| (keyword(tag, name), 0))
            .1 += 1;
    }
}

type Element = DataElement<InMemDicomObject, dicom_object::mem::InMemFragment>;

fn replace_uids(value: Value<InMemDicomObject>, key: &DeidKey) -> Value<InMemDicomObject> {
    match value {
        Value::Primitive(p) => {
            let uids: Vec<String> = p.to_multi_str().iter().map(|u| key.uid(u)).collect();
            Value::Primitive(PrimitiveValue::Strs(uids.into()))
        }
        other => other,
    }
}

fn walk(obj: InMemDicomObject, key: &DeidKey, tally: &mut Tally, depth: usize) -> InMemDicomObject {
    let mut kept: Vec<Element> = Vec::new();
    for elem in obj {
        let tag = elem.tag();
        if tag.0 % 2 == 1 {
            tally.private_removed += 1;
            continue;
        }
        if (0x6000..=0x601E).contains(&tag.0) {
            tally.overlay_removed += 1;
            continue;
        }
        if (0x5000..=0x501E).contains(&tag.0) {
            tally.curve_removed += 1;
            continue;
        }
        if tag.1 == 0x0000 {
            // Group length: stale once anything changes; retired in data sets.
            continue;
        }
        if tag == PIXEL_DATA && depth == 0 {
            kept.push(elem);
            continue;
        }
        let vr = elem.vr();
        let is_sq = matches!(elem.value(), Value::Sequence(_));
        let Some((action, name)) = action_for(tag) else {
            kept.push(if is_sq {
                walk_sequence(elem, key, tally, depth)
            } else {
                elem
            });
            continue;
        };
        let empty_sequence = || {
            DataElement::new(
                tag,
                VR::SQ,
                Value::from(DataSetSequence::new(
                    Vec::<InMemDicomObject>::new(),
                    Length::UNDEFINED,
                )),
            )
        };
        let outcome = match (action, is_sq) {
            (Action::X | Action::XOrD, true) => None,
            (Action::XOrZOrUStar, true) => {
                kept.push(walk_sequence(elem, key, tally, depth));
                continue;
            }
            (_, true) => Some((empty_sequence(), Applied::SequenceEmptied)),
            (Action::X, false) => None,
            (Action::U, false) if vr == VR::UI => Some((
                DataElement::new(tag, vr, replace_uids(elem.into_value(), key)),
                Applied::UidReplaced,
            )),
            (Action::D, false) => Some((DataElement::new(tag, vr, dummy(vr, key)), Applied::Dummy)),
            (Action::ZOrD | Action::XOrZOrD | Action::XOrD, false) if is_date_time(vr) => {
                Some((DataElement::new(tag, vr, dummy(vr, key)), Applied::Dummy))
            }
            (Action::XOrD, false) => None,
            (Action::XOrZOrUStar, false) if vr == VR::UI => Some((
                DataElement::new(tag, vr, replace_uids(elem.into_value(), key)),
                Applied::UidReplaced,
            )),
            (
                Action::Z
                | Action::ZOrD
                | Action::XOrZ
                | Action::XOrZOrD
                | Action::XOrZOrUStar
                | Action::U,
                false,
            ) => Some((
                DataElement::new(tag, vr, PrimitiveValue::Empty),
                Applied::Emptied,
            )),
        };
        match outcome {
            Some((new, applied)) => {
                tally.record(tag, name, applied);
                kept.push(new);
            }
            None => tally.record(tag, name, Applied::Removed),
        }
    }
    InMemDicomObject::from_element_iter(kept)
}

fn walk_sequence(elem: Element, key: &DeidKey, tally: &mut Tally, depth: usize) -> Element {
    let tag = elem.tag();
    let vr = elem.vr();
    let items: Vec<InMemDicomObject> = elem
        .into_value()
        .into_items()
        .map(|items| {
            items
                .into_iter()
                .map(|item| walk(item, key, tally, depth + 1))
                .collect()
        })
        .unwrap_or_default();
    DataElement::new(
        tag,
        vr,
        Value::from(DataSetSequence::new(items, Length::UNDEFINED)),
    )
}

/// Reads BurnedInAnnotation (0028,0301).
pub(super) fn burned_in(obj: &InMemDicomObject) -> BurnedInAnnotation {
    match obj.get(Tag(0x0028, 0x0301)).and_then(|e| e.to_str().ok()) {
        Some(v) if v.trim().eq_ignore_ascii_case("YES") => BurnedInAnnotation::Yes,
        Some(v) if v.trim().eq_ignore_ascii_case("NO") => BurnedInAnnotation::No,
        _ => BurnedInAnnotation::NotStated,
    }
}

/// Applies the profile to a parsed file and writes the result.
pub(super) fn deidentify(
    file: FileDicomObject<InMemDicomObject>,
    key: &DeidKey,
) -> Result<Deidentified, DicomError> {
    let burned_in_annotation = burned_in(&file);
    let mut meta = file.meta().clone();
    let mut tally = Tally::default();
    let mut obj = walk(file.into_inner(), key, &mut tally, 0);

    // Record what was done (PS3.15 E.1.1; PS3.3 C.7.1.1.1.1 and C.12.1).
    obj.put(DataElement::new(
        Tag(0x0012, 0x0062),
        VR::CS,
        PrimitiveValue::from("YES"),
    ));
    obj.put(DataElement::new(
        Tag(0x0012, 0x0063),
        VR::LO,
        PrimitiveValue::from("Haven: PS3.15 Basic Application Confidentiality Profile"),
    ));
    let code = InMemDicomObject::from_element_iter([
        DataElement::new(Tag(0x0008, 0x0100), VR::SH, PrimitiveValue::from("113100")),
        DataElement::new(Tag(0x0008, 0x0102), VR::SH, PrimitiveValue::from("DCM")),
        DataElement::new(
            Tag(0x0008, 0x0104),
            VR::LO,
            PrimitiveValue::from("Basic Application Confidentiality Profile"),
        ),
    ]);
    obj.put(DataElement::new(
        Tag(0x0012, 0x0064),
        VR::SQ,
        Value::from(DataSetSequence::new(vec![code], Length::UNDEFINED)),
    ));
    obj.put(DataElement::new(
        Tag(0x0028, 0x0303),
        VR::CS,
        PrimitiveValue::from("REMOVED"),
    ));

    // The meta group: the instance UID follows the data set's; AE titles go.
    meta.media_storage_sop_instance_uid = key.uid(&meta.media_storage_sop_instance_uid);
    meta.source_application_entity_title = None;
    meta.sending_application_entity_title = None;
    meta.receiving_application_entity_title = None;
    meta.private_information_creator_uid = None;
    meta.private_information = None;
    tally.record(
        Tag(0x0002, 0x0003),
        "Media Storage SOP Instance UID",
        Applied::UidReplaced,
    );

    let mut out_file = obj.with_exact_meta(meta);
    out_file.update_meta(|_| {});
    let mut bytes = Vec::new();
    out_file
        .write_all(&mut bytes)
        .map_err(|e| DicomError::Encode {
            reason: e.to_string().into(),
        })?;

    let actions = tally
        .actions
        .into_iter()
        .map(|((tag, applied), (name, count))| DeidAction {
            tag,
            name,
            applied,
            count,
        })
        .collect();
    let report = DeidReport {
        actions,
        private_removed: tally.private_removed,
        overlay_removed: tally.overlay_removed,
        curve_removed: tally.curve_removed,
        burned_in_annotation,
    };
    tracing::debug!(
        actions = report.actions.len(),
        private_removed = report.private_removed,
        overlay_removed = report.overlay_removed,
        "DICOM de-identified"
    );
    Ok(Deidentified { bytes, report })
}

#[cfg(test)]
mod tests {
    use dicom_core::value::PrimitiveValue;

    use super::super::file::{DUMMIES, str_at};
    use super::super::tests::{ALL, contains, data, open};
    use super::super::{DicomFile, DicomLimits};
    use super::*;

    fn deid(name: &str, key: &DeidKey) -> (Vec<u8>, Deidentified) {
        let input = data(name);
        let out = super::super::deidentify(&input, key, &DicomLimits::default())
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        (input, out)
    }

    fn top_str(file: &DicomFile, tag: Tag) -> Option<String> {
        str_at(&file.file, tag)
    }

    #[test]
    fn deidentified_files_keep_no_identifier_and_the_same_pixels() {
        let key = DeidKey::from_bytes([7; 32]);
        for &name in ALL {
            let (input, out) = deid(name, &key);
            let before = DicomFile::open(&input, &DicomLimits::default()).expect("input opens");
            let after = DicomFile::open(&out.bytes, &DicomLimits::default())
                .unwrap_or_else(|e| panic!("{name}: output does not reopen: {e:?}"));
            let info = after.info();
            assert_eq!(info.identifying_attributes, Vec::<String>::new(), "{name}");
            assert_eq!(info.private_elements, 0, "{name}");
            assert_eq!(info.overlay_or_curve_elements, 0, "{name}");
            assert!(info.patient_identity_removed, "{name}");

            // The original name and ID strings are nowhere in the output outside the pixel
            // data (where a 3-digit ID such as "204" can occur by chance; also skipped in
            // the new decimal UIDs by requiring 4 characters or more).
            let pixels = after.pixel_data_range().expect("pixels");
            let outside: Vec<u8> = [&out.bytes[..pixels.start], &out.bytes[pixels.end..]].concat();
            for tag in [Tag(0x0010, 0x0010), Tag(0x0010, 0x0020)] {
                if let Some(v) = top_str(&before, tag).filter(|v| v.len() >= 4) {
                    assert!(
                        !contains(&outside, v.as_bytes()),
                        "{name}: {tag} value left"
                    );
                }
            }
            // Every Annex E attribute at the top level got its action.
            for elem in before.file.iter() {
                let tag = elem.tag();
                let Some((action, _)) = action_for(tag) else {
                    continue;
                };
                let now = after.file.get(tag);
                let is_sq = elem.value().items().is_some();
                match action {
                    Action::X => assert!(now.is_none(), "{name}: {tag} kept"),
                    Action::Z | Action::XOrZ if !is_sq => {
                        let now = now.unwrap_or_else(|| panic!("{name}: {tag} gone"));
                        assert!(
                            matches!(now.value(), Value::Primitive(p) if p.calculate_byte_len() == 0),
                            "{name}: {tag} not emptied"
                        );
                    }
                    Action::U => {
                        let now = now.unwrap_or_else(|| panic!("{name}: {tag} gone"));
                        let old = elem
                            .to_str()
                            .expect("uid")
                            .trim_end_matches('\0')
                            .to_owned();
                        let new = now.to_str().expect("uid").into_owned();
                        if !old.is_empty() {
                            assert_ne!(old, new, "{name}: {tag}");
                            assert!(new.starts_with("2.25."), "{name}: {tag} {new}");
                        }
                    }
                    _ => {
                        if let Some(now) = now
                            && !is_sq
                        {
                            let text = now
                                .to_str()
                                .map(|s| s.trim().to_owned())
                                .unwrap_or_default();
                            assert!(
                                text.is_empty() || DUMMIES.contains(&text.as_str()),
                                "{name}: {tag}"
                            );
                        }
                    }
                }
            }
            // The meta group's instance UID follows the data set's.
            assert_eq!(
                after
                    .file
                    .meta()
                    .media_storage_sop_instance_uid
                    .trim_end_matches('\0'),
                top_str(&after, Tag(0x0008, 0x0018)).expect("SOP Instance UID"),
                "{name}"
            );
            // Pixel data byte for byte, and the decoded frames too.
            let (a, b) = (
                before.pixel_data_range().expect("pixels"),
                after.pixel_data_range().expect("pixels"),
            );
            assert!(input[a] == out.bytes[b], "{name}: pixel data changed");
            if let Ok(frame) = before.frame(0) {
                assert!(
                    after.frame(0).expect("output frame") == frame,
                    "{name}: frame differs"
                );
            }
            assert!(out.report.count(Applied::UidReplaced) > 0, "{name}");
        }
    }

    #[test]
    fn uids_are_consistent_within_a_share_and_differ_across_shares() {
        let key = DeidKey::from_bytes([1; 32]);
        let study = Tag(0x0020, 0x000D);
        let (_, a) = deid("MR_small_implicit.dcm", &key);
        let (_, b) = deid("MR_small_RLE.dcm", &key);
        let (_, c) = deid("MR_small_implicit.dcm", &DeidKey::from_bytes([2; 32]));
        let uid = |bytes: &[u8]| {
            let f = DicomFile::open(bytes, &DicomLimits::default()).expect("opens");
            top_str(&f, study).expect("study uid")
        };
        assert_eq!(
            uid(&a.bytes),
            uid(&b.bytes),
            "one share, one study: same new UID"
        );
        assert_ne!(uid(&a.bytes), uid(&c.bytes));
        assert!(uid(&a.bytes).len() <= 64);
        assert_eq!(key.uid("1.2.3"), key.uid("1.2.3\0"));
        assert!(!format!("{key:?}").contains('1'), "{key:?}");
        assert!(DeidKey::generate().is_ok());
    }

    #[test]
    fn deidentification_records_itself_and_reports_without_values() {
        let key = DeidKey::from_bytes([3; 32]);
        let (_, out) = deid("CT_small.dcm", &key);
        let file = DicomFile::open(&out.bytes, &DicomLimits::default()).expect("opens");
        assert_eq!(top_str(&file, Tag(0x0012, 0x0062)).as_deref(), Some("YES"));
        assert!(top_str(&file, Tag(0x0012, 0x0063)).is_some());
        let code = file
            .file
            .get(Tag(0x0012, 0x0064))
            .and_then(|e| e.value().items())
            .and_then(|items| items.first())
            .expect("code sequence item");
        assert_eq!(str_at(code, Tag(0x0008, 0x0100)).as_deref(), Some("113100"));
        assert_eq!(str_at(code, Tag(0x0008, 0x0102)).as_deref(), Some("DCM"));
        let report = &out.report;
        assert!(report.private_removed > 0);
        assert!(
            report.pixels_may_carry_text(),
            "not stated must not read as clean"
        );
        let names: Vec<&str> = report.actions.iter().map(|a| a.name.as_str()).collect();
        for expected in [
            "PatientName",
            "PatientID",
            "StudyInstanceUID",
            "InstitutionName",
        ] {
            assert!(
                names.contains(&expected),
                "{expected} missing from {names:?}"
            );
        }
        let shown = format!(
            "{out:?} {}",
            report
                .actions
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        );
        assert!(
            !shown.contains("CompressedSamples") && !shown.contains("1CT1"),
            "{shown}"
        );

        let (_, overlay) = deid("examples_overlay.dcm", &key);
        assert!(overlay.report.overlay_removed > 0);
        let (_, emri) = deid("emri_small.dcm", &key);
        assert!(!emri.report.pixels_may_carry_text());

        // BurnedInAnnotation YES is reported.
        let mut file = open("CT_small.dcm").file;
        file.put(DataElement::new(
            Tag(0x0028, 0x0301),
            VR::CS,
            PrimitiveValue::from("YES"),
        ));
        let mut bytes = Vec::new();
        file.write_all(&mut bytes).expect("writes");
        let out = super::super::deidentify(&bytes, &key, &DicomLimits::default()).expect("deid");
        assert_eq!(out.report.burned_in_annotation, BurnedInAnnotation::Yes);
        assert!(out.report.pixels_may_carry_text());
    }
}
