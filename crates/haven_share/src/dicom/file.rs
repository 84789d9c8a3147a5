//! [`DicomFile`]: a file checked and parsed under [`DicomLimits`], what it is
//! ([`DicomInfo`], no patient values), its frames, and its de-identification.

use std::fmt;
use std::ops::Range;

use dicom_core::header::Header as _;
use dicom_core::value::Value;
use dicom_core::{Tag, VR};
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::file::ReadPreamble;
use dicom_object::{FileDicomObject, InMemDicomObject, OpenFileOptions};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use super::annex_e::Action;
use super::deid::{self, DeidKey, Deidentified};
use super::frame::{DisplayFrame, Frame, Window};
use super::pixels::{self, Geometry, Rescale};
use super::scan;
use super::{BurnedInAnnotation, DicomError, DicomLimits};

/// What a file is, for display: no patient values.
#[derive(Debug, Clone, PartialEq)]
pub struct DicomInfo {
    /// SOP Class UID (a standard constant).
    pub sop_class_uid: Option<String>,
    /// Modality (CT, MR, ...).
    pub modality: Option<String>,
    /// Rows.
    pub rows: u32,
    /// Columns.
    pub cols: u32,
    /// Number of frames.
    pub frames: u32,
    /// Samples per pixel.
    pub samples_per_pixel: u16,
    /// Bits allocated.
    pub bits_allocated: u16,
    /// Bits stored.
    pub bits_stored: u16,
    /// Pixel representation is signed.
    pub signed: bool,
    /// Photometric interpretation.
    pub photometric: String,
    /// Transfer syntax UID.
    pub transfer_syntax_uid: String,
    /// Transfer syntax name, when known.
    pub transfer_syntax_name: &'static str,
    /// Whether this build can decode the pixels (de-identification works either way).
    pub can_render: bool,
    /// Whether there is Pixel Data.
    pub has_pixel_data: bool,
    /// The file's windows (first frame's, for enhanced multi-frame).
    pub windows: Vec<Window>,
    /// The Modality LUT (first frame's, for enhanced multi-frame).
    pub rescale: Rescale,
    /// BurnedInAnnotation.
    pub burned_in_annotation: BurnedInAnnotation,
    /// PatientIdentityRemoved = YES.
    pub patient_identity_removed: bool,
    /// Keywords of the Annex E attributes present with a real value (names only), at any
    /// nesting level; UIDs not counted.
    pub identifying_attributes: Vec<String>,
    /// Private elements (odd groups), all levels.
    pub private_elements: usize,
    /// Overlay (60xx) or curve (50xx) elements at the top level.
    pub overlay_or_curve_elements: usize,
}

/// A parsed, checked DICOM file.
pub struct DicomFile {
    pub(super) file: FileDicomObject<InMemDicomObject>,
    geometry: Geometry,
    max_frame_pixels: u64,
    pixel_range: Option<Range<usize>>,
}

impl fmt::Debug for DicomFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DicomFile")
            .field("geometry", &self.geometry)
            .finish_non_exhaustive()
    }
}

fn sanitize_uid(uid: &str) -> String {
    if uid.len() <= 64 && uid.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
        uid.to_owned()
    } else {
        String::from("(invalid)")
    }
}

fn ts_name(uid: &str) -> Option<&'static str> {
    TransferSyntaxRegistry.get(uid).map(|ts| ts.name())
}

fn int_at(obj: &InMemDicomObject, tag: Tag) -> Option<u32> {
    obj.get(tag).and_then(|e| e.to_int::<u32>().ok())
}

pub(super) fn str_at(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    obj.get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim().to_owned())
}

/// An attribute at the top level, or in the enhanced multi-frame functional groups (the frame's
/// per-frame item first, then the shared one), inside `macro_seq`.
fn functional(obj: &InMemDicomObject, frame: u32, macro_seq: Tag, tag: Tag) -> Option<Vec<f64>> {
    if let Some(v) = obj.get(tag).and_then(|e| e.to_multi_float64().ok()) {
        return Some(v);
    }
    let from_group = |group: &InMemDicomObject| {
        group
            .get(macro_seq)
            .and_then(|e| e.value().items())
            .and_then(|items| items.first())
            .and_then(|item| item.get(tag))
            .and_then(|e| e.to_multi_float64().ok())
    };
    let per_frame = obj
        .get(Tag(0x5200, 0x9230))
        .and_then(|e| e.value().items())
        .and_then(|items| items.get(frame as usize))
        .and_then(from_group);
    per_frame.or_else(|| {
        obj.get(Tag(0x5200, 0x9229))
            .and_then(|e| e.value().items())
            .and_then(|items| items.first())
            .and_then(from_group)
    })
}

const PIXEL_VALUE_TRANSFORMATION: Tag = Tag(0x0028, 0x9145);
const FRAME_VOI_LUT: Tag = Tag(0x0028, 0x9132);

impl DicomFile {
    /// Checks and parses a whole file (preamble, "DICM", meta group, data set).
    pub fn open(bytes: &[u8], limits: &DicomLimits) -> Result<Self, DicomError> {
        if bytes.len() > limits.max_bytes {
            return Err(DicomError::InputTooLarge {
                size: bytes.len(),
                max: limits.max_bytes,
            });
        }
        let scanned = scan::scan(bytes, limits)?;
        let Some(ts_name) = ts_name(&scanned.transfer_syntax) else {
            return Err(DicomError::UnsupportedTransferSyntax {
                uid: sanitize_uid(&scanned.transfer_syntax),
                name: "unknown",
            });
        };
        let file = OpenFileOptions::new()
            .read_preamble(ReadPreamble::Never)
            .from_reader(&bytes[128..])
            .map_err(|e| DicomError::Malformed {
                reason: e.to_string().into(),
            })?;
        let obj: &InMemDicomObject = &file;
        let pixel = obj.get(Tag(0x7FE0, 0x0010));
        let bits_allocated = int_at(obj, Tag(0x0028, 0x0100)).unwrap_or(0) as u16;
        let bits_stored = int_at(obj, Tag(0x0028, 0x0101)).map_or(bits_allocated, |v| v as u16);
        let geometry = Geometry {
            rows: int_at(obj, Tag(0x0028, 0x0010)).unwrap_or(0),
            cols: int_at(obj, Tag(0x0028, 0x0011)).unwrap_or(0),
            frames: int_at(obj, Tag(0x0028, 0x0008)).unwrap_or(1).max(1),
            samples: int_at(obj, Tag(0x0028, 0x0002)).unwrap_or(1) as u16,
            bits_allocated,
            bits_stored,
            high_bit: int_at(obj, Tag(0x0028, 0x0102))
                .map_or(bits_stored.saturating_sub(1), |v| v as u16),
            signed: int_at(obj, Tag(0x0028, 0x0103)) == Some(1),
            planar: int_at(obj, Tag(0x0028, 0x0006)) == Some(1),
            photometric: str_at(obj, Tag(0x0028, 0x0004))
                .unwrap_or_default()
                .to_ascii_uppercase(),
            transfer_syntax: sanitize_uid(&scanned.transfer_syntax),
            transfer_syntax_name: ts_name,
            encapsulated: pixel.is_some_and(|e| matches!(e.value(), Value::PixelSequence(_))),
            has_pixel_data: pixel.is_some(),
        };
        if geometry.has_pixel_data {
            check_pixel_size(&geometry, pixel.map(|e| e.value()), limits)?;
        }
        Ok(Self {
            file,
            geometry,
            max_frame_pixels: limits.max_frame_pixels,
            pixel_range: scanned.pixel_data,
        })
    }

    /// What the file is (no patient values).
    pub fn info(&self) -> DicomInfo {
        let obj: &InMemDicomObject = &self.file;
        let g = &self.geometry;
        let centers = functional(obj, 0, FRAME_VOI_LUT, Tag(0x0028, 0x1050)).unwrap_or_default();
        let widths = functional(obj, 0, FRAME_VOI_LUT, Tag(0x0028, 0x1051)).unwrap_or_default();
        let windows = centers
            .iter()
            .zip(&widths)
            .filter(|(_, w)| **w >= 1.0)
            .map(|(&center, &width)| Window { center, width })
            .collect();
        let mut identifying = std::collections::BTreeSet::new();
        let mut private_elements = 0;
        collect_identifying(obj, &mut identifying, &mut private_elements, 0);
        let overlay_or_curve_elements = obj
            .iter()
            .filter(|e| {
                (0x5000..=0x501E).contains(&e.tag().0) || (0x6000..=0x601E).contains(&e.tag().0)
            })
            .count();
        DicomInfo {
            sop_class_uid: str_at(obj, Tag(0x0008, 0x0016)).map(|u| sanitize_uid(&u)),
            modality: str_at(obj, Tag(0x0008, 0x0060)).filter(|m| {
                m.len() <= 16 && m.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
            }),
            rows: g.rows,
            cols: g.cols,
            frames: g.frames,
            samples_per_pixel: g.samples,
            bits_allocated: g.bits_allocated,
            bits_stored: g.bits_stored,
            signed: g.signed,
            photometric: g.photometric.clone(),
            transfer_syntax_uid: g.transfer_syntax.clone(),
            transfer_syntax_name: g.transfer_syntax_name,
            can_render: TransferSyntaxRegistry
                .get(&g.transfer_syntax)
                .is_some_and(|ts| ts.can_decode_all()),
            has_pixel_data: g.has_pixel_data,
            windows,
            rescale: self.rescale(0),
            burned_in_annotation: deid::burned_in(obj),
            patient_identity_removed: str_at(obj, Tag(0x0012, 0x0062))
                .is_some_and(|v| v.eq_ignore_ascii_case("YES")),
            identifying_attributes: identifying.into_iter().collect(),
            private_elements,
            overlay_or_curve_elements,
        }
    }

    fn rescale(&self, frame: u32) -> Rescale {
        let obj: &InMemDicomObject = &self.file;
        let first = |tag| {
            functional(obj, frame, PIXEL_VALUE_TRANSFORMATION, tag)
                .and_then(|v| v.first().copied())
                .filter(|v: &f64| v.is_finite())
        };
        Rescale {
            slope: first(Tag(0x0028, 0x1053)).unwrap_or(1.0),
            intercept: first(Tag(0x0028, 0x1052)).unwrap_or(0.0),
        }
    }

    fn window(&self, frame: u32) -> Option<Window> {
        let obj: &InMemDicomObject = &self.file;
        let center = functional(obj, frame, FRAME_VOI_LUT, Tag(0x0028, 0x1050))?;
        let width = functional(obj, frame, FRAME_VOI_LUT, Tag(0x0028, 0x1051))?;
        let (&center, &width) = (center.first()?, width.first()?);
        (width >= 1.0 && center.is_finite() && width.is_finite())
            .then_some(Window { center, width })
    }

    /// Number of frames.
    pub fn frames(&self) -> u32 {
        self.geometry.frames
    }

    /// Decodes frame `index` (0-based): values after the Modality LUT, and the file's window.
    pub fn frame(&self, index: u32) -> Result<Frame, DicomError> {
        if !self.geometry.has_pixel_data {
            return Err(DicomError::NoPixelData);
        }
        if !TransferSyntaxRegistry
            .get(&self.geometry.transfer_syntax)
            .is_some_and(|ts| ts.can_decode_all())
        {
            return Err(DicomError::UnsupportedTransferSyntax {
                uid: self.geometry.transfer_syntax.clone(),
                name: self.geometry.transfer_syntax_name,
            });
        }
        let frame_pixels = u64::from(self.geometry.rows) * u64::from(self.geometry.cols);
        if frame_pixels > self.max_frame_pixels {
            return Err(DicomError::TooLarge {
                what: "pixels in a frame",
                size: frame_pixels,
                max: self.max_frame_pixels,
            });
        }
        let rescale = self.rescale(index);
        let window = self.window(index);
        pixels::frame(&self.file, &self.geometry, index, rescale, window)
    }

    /// The byte range of the top-level Pixel Data value in the bytes this was opened from.
    pub fn pixel_data_range(&self) -> Option<Range<usize>> {
        self.pixel_range.clone()
    }

    /// Frame `frame` for display, clamped to the last frame: its values, the window to start
    /// from ([`Frame::default_window`]), whether to invert, and the frame count.
    pub fn display_frame(&self, frame: u32) -> Result<DisplayFrame, DicomError> {
        let frames = self.frames().max(1);
        let index = frame.min(frames - 1);
        let f = self.frame(index)?;
        let window = f.default_window();
        Ok(DisplayFrame {
            width: f.width,
            height: f.height,
            pixels: f.pixels,
            window,
            invert: f.invert,
            frame: index,
            frames,
            burned_in: deid::burned_in(&self.file),
        })
    }

    /// Applies the Basic Application Level Confidentiality Profile and writes the new file.
    pub fn deidentify(self, key: &DeidKey) -> Result<Deidentified, DicomError> {
        deid::deidentify(self.file, key)
    }
}

fn check_pixel_size(
    g: &Geometry,
    value: Option<&Value<InMemDicomObject>>,
    limits: &DicomLimits,
) -> Result<(), DicomError> {
    if g.frames > limits.max_frames {
        return Err(DicomError::TooLarge {
            what: "number of frames",
            size: u64::from(g.frames),
            max: u64::from(limits.max_frames),
        });
    }
    let bits = u64::from(g.rows)
        * u64::from(g.cols)
        * u64::from(g.frames)
        * u64::from(g.samples)
        * u64::from(g.bits_allocated);
    let bytes = bits.div_ceil(8);
    if bytes > limits.max_pixel_bytes {
        return Err(DicomError::TooLarge {
            what: "decoded pixel size",
            size: bytes,
            max: limits.max_pixel_bytes,
        });
    }
    if let Some(Value::Primitive(p)) = value
        && (p.calculate_byte_len() as u64) < bytes
    {
        return Err(DicomError::Malformed {
            reason: String::from("pixel data shorter than the image attributes say").into(),
        });
    }
    Ok(())
}

/// Dummy values the profile writes: not identifying.
pub(super) const DUMMIES: &[&str] = &[
    "ANONYMIZED",
    "19000101",
    "000000",
    "19000101000000",
    "000Y",
    "0",
];

fn collect_identifying(
    obj: &InMemDicomObject,
    names: &mut std::collections::BTreeSet<String>,
    private: &mut usize,
    depth: usize,
) {
    if depth > 64 {
        return;
    }
    for elem in obj.iter() {
        let tag = elem.tag();
        if tag.0 % 2 == 1 {
            *private += 1;
            continue;
        }
        if let Some(items) = elem.value().items() {
            if let Some((_, name)) = deid::action_for(tag)
                && !items.is_empty()
                && tag != Tag(0x0008, 0x1140)
                && tag != Tag(0x0008, 0x2112)
            {
                names.insert(deid::keyword(tag, name));
            }
            for item in items {
                collect_identifying(item, names, private, depth + 1);
            }
            continue;
        }
        let Some((action, name)) = deid::action_for(tag) else {
            continue;
        };
        if matches!(action, Action::U) || elem.vr() == VR::UI {
            continue;
        }
        let text = elem
            .to_str()
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        let empty = match elem.value() {
            Value::Primitive(p) => p.calculate_byte_len() == 0 || text.is_empty(),
            _ => false,
        };
        if !empty && !DUMMIES.contains(&text.as_str()) {
            names.insert(deid::keyword(tag, name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Window;
    use super::super::tests::{gray, open, rgb};
    use super::*;

    #[test]
    fn info_describes_each_sample() {
        let ct = open("CT_small.dcm").info();
        assert_eq!(
            (
                ct.rows,
                ct.cols,
                ct.frames,
                ct.bits_allocated,
                ct.bits_stored
            ),
            (128, 128, 1, 16, 16)
        );
        assert_eq!(ct.modality.as_deref(), Some("CT"));
        assert!(ct.signed);
        assert_eq!(
            ct.rescale,
            Rescale {
                slope: 1.0,
                intercept: -1024.0
            }
        );
        assert_eq!(ct.transfer_syntax_uid, "1.2.840.10008.1.2.1");
        assert!(ct.can_render);
        assert!(
            ct.identifying_attributes
                .contains(&String::from("PatientName"))
        );
        assert!(
            ct.identifying_attributes
                .contains(&String::from("PatientID"))
        );
        assert!(ct.private_elements > 0);
        assert_eq!(ct.burned_in_annotation, BurnedInAnnotation::NotStated);
        // Debug output of the info carries names, never the values.
        assert!(!format!("{ct:?}").contains("CompressedSamples"));

        let mr = open("MR_small_implicit.dcm").info();
        assert_eq!(mr.transfer_syntax_uid, "1.2.840.10008.1.2");
        assert_eq!(
            mr.windows,
            vec![Window {
                center: 600.0,
                width: 1600.0
            }]
        );
        let rle = open("MR_small_RLE.dcm").info();
        assert_eq!(rle.transfer_syntax_uid, "1.2.840.10008.1.2.5");
        let multi = open("emri_small.dcm").info();
        assert_eq!(
            (multi.frames, multi.bits_allocated, multi.bits_stored),
            (10, 16, 12)
        );
        assert_eq!(multi.burned_in_annotation, BurnedInAnnotation::No);
        let ybr = open("examples_ybr_color.dcm").info();
        assert_eq!((ybr.frames, ybr.samples_per_pixel), (30, 3));
        assert_eq!(ybr.photometric, "YBR_FULL_422");
        assert_eq!(ybr.transfer_syntax_uid, "1.2.840.10008.1.2.4.50");
        let overlay = open("examples_overlay.dcm").info();
        assert!(overlay.overlay_or_curve_elements > 0);
        assert_eq!(overlay.windows.len(), 2);
        let j2k = open("MR_small_jp2klossless.dcm").info();
        assert!(!j2k.can_render);
    }

    #[test]
    fn frames_decode_to_rescaled_values() {
        // Hand-checked against pydicom 3.0.2: stored 175, 1928, 1043 with intercept -1024.
        let ct = open("CT_small.dcm").frame(0).expect("CT decodes");
        assert_eq!((ct.width, ct.height), (128, 128));
        let v = gray(&ct);
        assert_eq!(v[0], -849.0);
        assert_eq!(v[64 * 128 + 64], 904.0);
        assert_eq!(v[100 * 128 + 20], 19.0);
        assert_eq!(ct.window, None);

        // The same MR image, native implicit VR and RLE: identical values.
        let implicit = open("MR_small_implicit.dcm")
            .frame(0)
            .expect("implicit decodes");
        let rle = open("MR_small_RLE.dcm").frame(0).expect("RLE decodes");
        assert!(implicit == rle, "RLE and native differ");
        assert_eq!(gray(&implicit)[10 * 64 + 10], 760.0);
        assert_eq!(gray(&implicit)[32 * 64 + 40], 1281.0);
        assert_eq!(
            implicit.window,
            Some(Window {
                center: 600.0,
                width: 1600.0
            })
        );
        assert!(!implicit.invert);
        let big = open("MR_small_bigendian.dcm")
            .frame(0)
            .expect("explicit big endian decodes");
        assert!(implicit == big, "big endian and little endian differ");
        let mono1 = open("MR_small_mono1.dcm")
            .frame(0)
            .expect("MONOCHROME1 decodes");
        assert!(mono1.invert);
        assert!(gray(&mono1) == gray(&implicit));

        // Multi-frame, 12 bits stored in 16.
        let emri = open("emri_small.dcm");
        let f5 = emri.frame(5).expect("frame 5");
        assert_eq!(gray(&f5)[32 * 64 + 32], 66.0);
        emri.frame(9).expect("last frame");
        assert!(matches!(
            emri.frame(10),
            Err(DicomError::FrameOutOfRange {
                frame: 10,
                frames: 10
            })
        ));

        // Colour: RLE 2-frame, native RGB.
        let sc = open("SC_rgb_rle_2frame.dcm");
        let f0 = sc.frame(0).expect("frame 0");
        let f1 = sc.frame(1).expect("frame 1");
        assert_eq!(&rgb(&f0)[(5 * 100 + 5) * 3..][..3], &[255, 0, 0]);
        assert_eq!(&rgb(&f1)[(50 * 100 + 50) * 3..][..3], &[127, 127, 0]);
        let odd = open("SC_rgb_small_odd.dcm").frame(0).expect("3×3 RGB");
        assert_eq!(&rgb(&odd)[(3 + 1) * 3..][..3], &[63, 87, 176]);

        // JPEG baseline, YBR_FULL: close to the lossless RLE of the same picture.
        let jpeg = open("SC_rgb_jpeg_dcmtk.dcm")
            .frame(0)
            .expect("JPEG decodes");
        let diff: u64 = rgb(&jpeg)
            .iter()
            .zip(rgb(&f0))
            .map(|(a, b)| u64::from(a.abs_diff(*b)))
            .sum();
        let mean = diff as f64 / rgb(&f0).len() as f64;
        assert!(mean < 4.0, "JPEG vs RLE mean difference {mean}");

        // Multi-frame JPEG baseline YBR_FULL_422.
        let ybr = open("examples_ybr_color.dcm");
        let last = ybr.frame(29).expect("last JPEG frame");
        assert_eq!(
            (last.width, last.height, rgb(&last).len()),
            (320, 240, 320 * 240 * 3)
        );

        // 12-bit overlay file renders; JPEG 2000 is refused with a typed error.
        open("examples_overlay.dcm")
            .frame(0)
            .expect("overlay file decodes");
        assert!(matches!(
            open("MR_small_jp2klossless.dcm").frame(0),
            Err(DicomError::UnsupportedTransferSyntax { .. })
        ));
        // 12-bit JPEG (process 4): decoded if the decoder can, a typed error if not.
        match open("JPEG-lossy.dcm").frame(0) {
            Ok(frame) => assert_eq!((frame.width, frame.height), (256, 1024)),
            Err(e) => assert!(
                matches!(
                    e,
                    DicomError::Decode { .. } | DicomError::UnsupportedTransferSyntax { .. }
                ),
                "{e:?}"
            ),
        }
    }
}
