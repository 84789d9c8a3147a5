//! DICOM files the patient shares: read under limits, de-identified with the PS3.15 Annex E
//! Basic Application Level Confidentiality Profile before they leave the patient's machine,
//! and turned into display values (one frame at a time, with the file's window/level).
//!
//! - [`DicomFile::open`] checks the size, walks the element structure with a bounded parser
//!   (every length against the bytes really there), parses, and checks that rows × columns ×
//!   frames × samples × bytes fits [`DicomLimits::max_pixel_bytes`], all before any pixel is
//!   decoded.
//! - [`DicomFile::deidentify`] / [`deidentify`]: the profile; the Pixel Data is kept byte for
//!   byte, and [`DeidReport::pixels_may_carry_text`] says when burned-in text cannot be ruled
//!   out.
//! - [`DicomFile::info`] / [`info`]: what to show about a file (no patient values).
//! - [`DicomFile::frame`] / [`render_frame`]: a frame's values after the Modality LUT, for a
//!   texture; [`apply_window`] is the CPU reference of the PS3.3 C.11.2.1.2 linear VOI
//!   function that the window/level shader implements.
//!
//! Pixel formats: native (implicit VR little endian, explicit VR little and big endian), RLE
//! Lossless, JPEG baseline (8-bit); 8 or 16 bits allocated; MONOCHROME1/2, RGB, YBR_FULL, and
//! YBR_FULL_422 when JPEG-coded. Files in other encapsulated transfer syntaxes (JPEG 2000,
//! JPEG-LS, 12-bit JPEG) are de-identified (that never touches the pixels) but not rendered:
//! [`DicomError::UnsupportedTransferSyntax`] or [`DicomError::Decode`]. Deflated files are
//! refused outright (the bounded walk cannot see inside them).

mod annex_e;
mod deid;
mod pixels;
mod scan;

use std::fmt;
use std::ops::Range;

use dicom_core::header::Header as _;
use dicom_core::value::Value;
use dicom_core::{Tag, VR};
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::file::ReadPreamble;
use dicom_object::{FileDicomObject, InMemDicomObject, OpenFileOptions};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use haven_proto::Redacted;

pub use deid::{Applied, DeidAction, DeidKey, DeidReport, Deidentified};
pub use pixels::Rescale;

/// Limits applied before parsing and before decoding pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DicomLimits {
    /// Largest file, in bytes.
    pub max_bytes: usize,
    /// Most bytes of decoded pixels (all frames: rows × columns × frames × samples × bytes).
    pub max_pixel_bytes: u64,
    /// Most frames.
    pub max_frames: u32,
    /// Deepest sequence nesting.
    pub max_depth: usize,
    /// Most elements (all levels, items and delimiters included).
    pub max_elements: usize,
    /// Most pixels in one frame that [`DicomFile::frame`] decodes (its values take 4 bytes a
    /// pixel as `f32`).
    pub max_frame_pixels: u64,
}

impl Default for DicomLimits {
    /// 512 MiB files, 2 GiB of decoded pixels, 10 000 frames, nesting 32, 2 million elements,
    /// 64 MP a frame (8192 × 8192).
    fn default() -> Self {
        Self {
            max_bytes: 512 << 20,
            max_pixel_bytes: 2 << 30,
            max_frames: 10_000,
            max_depth: 32,
            max_elements: 2_000_000,
            max_frame_pixels: 8192 * 8192,
        }
    }
}

/// Why a DICOM file was refused. Messages carry no file content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DicomError {
    /// The file is over [`DicomLimits::max_bytes`].
    #[error("the DICOM file is {size} bytes, over the {max}-byte limit")]
    InputTooLarge {
        /// File size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// No "DICM" after the 128-byte preamble.
    #[error("not a DICOM file (no DICM preamble)")]
    NotDicom,
    /// The file ends early.
    #[error("the DICOM file is truncated")]
    Truncated,
    /// The structure is broken (lengths, items, required attributes).
    #[error("the DICOM file is malformed")]
    Malformed {
        /// What is wrong; read with `expose()` when debugging.
        reason: Redacted<String>,
    },
    /// A transfer syntax that cannot be read (deflate), or whose pixels cannot be decoded here.
    #[error("unsupported transfer syntax {name} ({uid})")]
    UnsupportedTransferSyntax {
        /// The UID (digits and dots only; anything else is replaced).
        uid: String,
        /// Its name, when known.
        name: &'static str,
    },
    /// Something is over a limit (decoded pixel size, frames, elements, nesting).
    #[error("the DICOM file's {what} ({size}) is over the limit ({max})")]
    TooLarge {
        /// What.
        what: &'static str,
        /// How much.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The file has no Pixel Data.
    #[error("the DICOM file has no pixel data")]
    NoPixelData,
    /// A frame number past the last frame.
    #[error("frame {frame} requested, the file has {frames}")]
    FrameOutOfRange {
        /// Requested (0-based).
        frame: u32,
        /// Number of frames.
        frames: u32,
    },
    /// A pixel layout this renderer does not take.
    #[error("unsupported pixel format: {what}")]
    UnsupportedPixelFormat {
        /// What.
        what: &'static str,
    },
    /// The pixel decoder failed.
    #[error("the pixel data could not be decoded")]
    Decode {
        /// The decoder's message; read with `expose()` when debugging.
        reason: Redacted<String>,
    },
    /// Writing the de-identified file failed.
    #[error("the de-identified file could not be written")]
    Encode {
        /// The writer's message.
        reason: Redacted<String>,
    },
    /// The operating system gave no random bytes for a key.
    #[error("no randomness available for a de-identification key")]
    NoRandomness,
}

/// What a file says about text burned into its pixels (BurnedInAnnotation, 0028,0301).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BurnedInAnnotation {
    /// YES: the pixels carry identifying text.
    Yes,
    /// NO.
    No,
    /// Absent or another value: unknown.
    NotStated,
}

/// A VOI window: centre and width in modality units (after rescale).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Window Center.
    pub center: f64,
    /// Window Width (≥ 1).
    pub width: f64,
}

/// A frame's values.
#[derive(Clone, PartialEq)]
pub enum FramePixels {
    /// One value a pixel, after the Modality LUT (rescale), row by row: for a single-channel
    /// float texture (R32Float) windowed in the shader.
    Gray(Vec<f32>),
    /// Interleaved 8-bit RGB, row by row (colour is not windowed).
    Rgb8(Vec<u8>),
}

impl fmt::Debug for FramePixels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Gray(v) => write!(f, "Gray([{} values])", v.len()),
            Self::Rgb8(v) => write!(f, "Rgb8([{} bytes])", v.len()),
        }
    }
}

/// One frame, ready for a texture.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// The values.
    pub pixels: FramePixels,
    /// The file's window for this frame (the first, when several), if any.
    pub window: Option<Window>,
    /// MONOCHROME1: low values are white; invert after windowing.
    pub invert: bool,
}

impl Frame {
    /// The smallest and largest value (grey frames).
    pub fn value_range(&self) -> Option<(f32, f32)> {
        let FramePixels::Gray(values) = &self.pixels else {
            return None;
        };
        values.iter().fold(None, |acc, &v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
    }

    /// The file's window, or one spanning the values when the file has none.
    pub fn default_window(&self) -> Option<Window> {
        self.window.or_else(|| {
            self.value_range().map(|(lo, hi)| Window {
                center: (f64::from(lo) + f64::from(hi) + 1.0) / 2.0,
                width: (f64::from(hi) - f64::from(lo) + 1.0).max(1.0),
            })
        })
    }
}

/// The linear VOI LUT function of PS3.3 C.11.2.1.2.1, normalised to 0..=1:
///
/// - x ≤ c − 0.5 − (w − 1)/2 → 0
/// - x > c − 0.5 + (w − 1)/2 → 1
/// - else ((x − (c − 0.5)) / (w − 1) + 0.5)
///
/// `width` below 1 is taken as 1 (a threshold at c − 0.5). The WGSL shader mirrors this.
pub fn window_linear(x: f64, center: f64, width: f64) -> f64 {
    let width = width.max(1.0);
    let c = center - 0.5;
    let half = (width - 1.0) / 2.0;
    if x <= c - half {
        0.0
    } else if x > c + half {
        1.0
    } else if width <= 1.0 {
        // Not reached: with w = 1 the two bounds coincide.
        1.0
    } else {
        ((x - c) / (width - 1.0) + 0.5).clamp(0.0, 1.0)
    }
}

/// Windows a frame to 8-bit grey, one byte a pixel (rounded; inverted for MONOCHROME1).
/// An RGB frame is returned as its RGB bytes: colour is not windowed.
pub fn apply_window(frame: &Frame, center: f64, width: f64) -> Vec<u8> {
    match &frame.pixels {
        FramePixels::Gray(values) => values
            .iter()
            .map(|&x| {
                let y = (window_linear(f64::from(x), center, width) * 255.0).round() as u8;
                if frame.invert { 255 - y } else { y }
            })
            .collect(),
        FramePixels::Rgb8(rgb) => rgb.clone(),
    }
}

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

/// Pixel layout read from the data set.
#[derive(Debug, Clone)]
pub(crate) struct Geometry {
    rows: u32,
    cols: u32,
    frames: u32,
    samples: u16,
    bits_allocated: u16,
    bits_stored: u16,
    high_bit: u16,
    signed: bool,
    planar: bool,
    photometric: String,
    transfer_syntax: String,
    transfer_syntax_name: &'static str,
    encapsulated: bool,
    has_pixel_data: bool,
}

/// A parsed, checked DICOM file.
pub struct DicomFile {
    file: FileDicomObject<InMemDicomObject>,
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

fn str_at(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
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
const DUMMIES: &[&str] = &[
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
        if matches!(action, deid::Action::U) || elem.vr() == VR::UI {
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

/// Opens `bytes` and describes it. See [`DicomFile::info`].
pub fn info(bytes: &[u8], limits: &DicomLimits) -> Result<DicomInfo, DicomError> {
    Ok(DicomFile::open(bytes, limits)?.info())
}

/// Opens `bytes` and decodes one frame. To show several frames, open once with
/// [`DicomFile::open`] and call [`DicomFile::frame`].
pub fn render_frame(bytes: &[u8], frame: u32, limits: &DicomLimits) -> Result<Frame, DicomError> {
    DicomFile::open(bytes, limits)?.frame(frame)
}

/// Opens `bytes` and applies the Basic Application Level Confidentiality Profile with the
/// share's `key`. See [`DicomFile::deidentify`].
pub fn deidentify(
    bytes: &[u8],
    key: &DeidKey,
    limits: &DicomLimits,
) -> Result<Deidentified, DicomError> {
    DicomFile::open(bytes, limits)?.deidentify(key)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use dicom_core::value::PrimitiveValue;
    use dicom_core::{DataElement, VR};

    use super::*;

    fn data(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../../tests/data/dicom/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("test data {path}: {e}"))
    }

    fn open(name: &str) -> DicomFile {
        DicomFile::open(&data(name), &DicomLimits::default())
            .unwrap_or_else(|e| panic!("{name}: {e:?}"))
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
    }

    fn gray(frame: &Frame) -> &[f32] {
        match &frame.pixels {
            FramePixels::Gray(v) => v,
            FramePixels::Rgb8(_) => panic!("expected a grey frame"),
        }
    }

    fn rgb(frame: &Frame) -> &[u8] {
        match &frame.pixels {
            FramePixels::Rgb8(v) => v,
            FramePixels::Gray(_) => panic!("expected a colour frame"),
        }
    }

    const ALL: &[&str] = &[
        "CT_small.dcm",
        "JPEG-lossy.dcm",
        "MR_small_RLE.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_implicit.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_mono1.dcm",
        "SC_rgb_jpeg_dcmtk.dcm",
        "SC_rgb_rle_2frame.dcm",
        "SC_rgb_small_odd.dcm",
        "emri_small.dcm",
        "examples_overlay.dcm",
        "examples_ybr_color.dcm",
    ];

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

    #[test]
    fn window_matches_hand_computed_values() {
        // c = 40, w = 400: c - 0.5 = 39.5, (w - 1)/2 = 199.5.
        let frame = Frame {
            width: 6,
            height: 1,
            pixels: FramePixels::Gray(vec![-1000.0, -160.0, -159.0, 0.0, 40.0, 239.0]),
            window: None,
            invert: false,
        };
        // -159: (-198.5/399 + 0.5) × 255 = 0.64 → 1; 0: (-39.5/399 + 0.5) × 255 = 102.26 → 102;
        // 40: (0.5/399 + 0.5) × 255 = 127.82 → 128; 239: (199.5/399 + 0.5) × 255 = 255.
        assert_eq!(
            apply_window(&frame, 40.0, 400.0),
            vec![0, 0, 1, 102, 128, 255]
        );
        assert_eq!(window_linear(240.0, 40.0, 400.0), 1.0);
        // Width 1: a threshold at c - 0.5.
        assert_eq!(window_linear(99.5, 100.0, 1.0), 0.0);
        assert_eq!(window_linear(99.6, 100.0, 1.0), 1.0);
        let inverted = Frame {
            invert: true,
            ..frame.clone()
        };
        assert_eq!(
            apply_window(&inverted, 40.0, 400.0),
            vec![255, 255, 254, 153, 127, 0]
        );
        // The file's window on a real frame: MR 600/1600 at value 760 → (160.5/1599 + 0.5) × 255.
        let mr = open("MR_small_implicit.dcm").frame(0).expect("decodes");
        let Window { center, width } = mr.window.expect("file window");
        let out = apply_window(&mr, center, width);
        assert_eq!(
            out[10 * 64 + 10],
            ((160.5 / 1599.0 + 0.5) * 255.0_f64).round() as u8
        );
        let default = Frame {
            window: None,
            ..mr.clone()
        }
        .default_window()
        .expect("from range");
        assert!(default.width >= 1.0);
    }

    fn deid(name: &str, key: &DeidKey) -> (Vec<u8>, Deidentified) {
        let input = data(name);
        let out = deidentify(&input, key, &DicomLimits::default())
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
                let Some((action, _)) = deid::action_for(tag) else {
                    continue;
                };
                let now = after.file.get(tag);
                let is_sq = elem.value().items().is_some();
                match action {
                    deid::Action::X => assert!(now.is_none(), "{name}: {tag} kept"),
                    deid::Action::Z | deid::Action::XOrZ if !is_sq => {
                        let now = now.unwrap_or_else(|| panic!("{name}: {tag} gone"));
                        assert!(
                            matches!(now.value(), Value::Primitive(p) if p.calculate_byte_len() == 0),
                            "{name}: {tag} not emptied"
                        );
                    }
                    deid::Action::U => {
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
        let out = deidentify(&bytes, &key, &DicomLimits::default()).expect("deid");
        assert_eq!(out.report.burned_in_annotation, BurnedInAnnotation::Yes);
        assert!(out.report.pixels_may_carry_text());
    }

    fn with(name: &str, edit: impl FnOnce(&mut FileDicomObject<InMemDicomObject>)) -> Vec<u8> {
        let mut file = open(name).file;
        edit(&mut file);
        let mut bytes = Vec::new();
        file.write_all(&mut bytes).expect("writes");
        bytes
    }

    #[test]
    fn hostile_files_fail_fast_with_typed_errors() {
        let limits = DicomLimits::default();
        let started = Instant::now();
        let png = std::fs::read(format!(
            "{}/../../tests/data/images/meta.png",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("png");
        assert!(matches!(
            DicomFile::open(&png, &limits),
            Err(DicomError::NotDicom)
        ));
        assert!(matches!(
            DicomFile::open(b"DICM", &limits),
            Err(DicomError::NotDicom)
        ));
        // "DICM" in place, garbage after it.
        let mut fake = vec![0_u8; 128];
        fake.extend_from_slice(b"DICM\x02\x00\x10\x00UI\xff\xff");
        assert!(
            matches!(DicomFile::open(&fake, &limits), Err(DicomError::Truncated)),
            "{:?}",
            DicomFile::open(&fake, &limits)
        );

        // Cut anywhere: truncated (or, cut inside the meta group's last value, malformed).
        for name in ["CT_small.dcm", "MR_small_RLE.dcm", "examples_ybr_color.dcm"] {
            let bytes = data(name);
            for keep in [140, 300, bytes.len() / 3, bytes.len() / 2, bytes.len() - 1] {
                let err = DicomFile::open(&bytes[..keep], &limits).unwrap_err();
                assert!(
                    matches!(err, DicomError::Truncated | DicomError::Malformed { .. }),
                    "{name} cut at {keep}: {err:?}"
                );
            }
        }
        let err = DicomFile::open(&data("MR_truncated.dcm"), &limits).unwrap_err();
        assert!(
            matches!(err, DicomError::Truncated | DicomError::Malformed { .. }),
            "{err:?}"
        );

        // An element claiming 4 GB in a 10 kB file: refused before the parser allocates.
        let mut bytes = data("MR_small_implicit.dcm");
        let at = bytes
            .windows(4)
            .position(|w| w == [0x10, 0x00, 0x10, 0x00])
            .expect("PatientName");
        bytes[at + 4..at + 8].copy_from_slice(&0xFFFF_FFF0_u32.to_le_bytes());
        assert!(matches!(
            DicomFile::open(&bytes, &limits),
            Err(DicomError::Truncated)
        ));

        // Absurd dimensions: refused before any pixel is decoded.
        let huge = with("MR_small_implicit.dcm", |f| {
            f.put(DataElement::new(
                Tag(0x0028, 0x0010),
                VR::US,
                PrimitiveValue::from(65535_u16),
            ));
            f.put(DataElement::new(
                Tag(0x0028, 0x0011),
                VR::US,
                PrimitiveValue::from(65535_u16),
            ));
            f.put(DataElement::new(
                Tag(0x0028, 0x0008),
                VR::IS,
                PrimitiveValue::from("9999"),
            ));
        });
        let err = DicomFile::open(&huge, &limits).unwrap_err();
        assert!(
            matches!(
                err,
                DicomError::TooLarge {
                    what: "number of frames" | "decoded pixel size",
                    ..
                }
            ),
            "{err:?}"
        );
        let big = with("MR_small_implicit.dcm", |f| {
            f.put(DataElement::new(
                Tag(0x0028, 0x0010),
                VR::US,
                PrimitiveValue::from(65535_u16),
            ));
            f.put(DataElement::new(
                Tag(0x0028, 0x0011),
                VR::US,
                PrimitiveValue::from(65535_u16),
            ));
        });
        let err = DicomFile::open(
            &big,
            &DicomLimits {
                max_pixel_bytes: 1 << 30,
                ..limits.clone()
            },
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                DicomError::TooLarge {
                    what: "decoded pixel size",
                    ..
                }
            ),
            "{err:?}"
        );
        // Dimensions bigger than the pixel data: malformed, not a panic.
        let lying = with("MR_small_implicit.dcm", |f| {
            f.put(DataElement::new(
                Tag(0x0028, 0x0010),
                VR::US,
                PrimitiveValue::from(128_u16),
            ));
        });
        assert!(matches!(
            DicomFile::open(&lying, &limits),
            Err(DicomError::Malformed { .. })
        ));
        // An embedded JPEG whose header disagrees with Rows/Columns: typed error, not a panic.
        let jpeg_lies = with("SC_rgb_jpeg_dcmtk.dcm", |f| {
            f.put(DataElement::new(
                Tag(0x0028, 0x0010),
                VR::US,
                PrimitiveValue::from(50_u16),
            ));
        });
        let err = DicomFile::open(&jpeg_lies, &limits)
            .and_then(|f| f.frame(0))
            .unwrap_err();
        assert!(matches!(err, DicomError::Decode { .. }), "{err:?}");

        // Nesting bomb: 200 nested undefined-length sequences.
        let mut nested = data("MR_small_implicit.dcm");
        let meta_end = {
            let f = DicomFile::open(&nested, &limits).expect("opens");
            drop(f);
            // Append at the end of the data set (after Pixel Data): implicit VR LE.
            nested.len()
        };
        let mut bomb = Vec::new();
        for _ in 0..200 {
            bomb.extend_from_slice(&[0x08, 0x00, 0x15, 0x11, 0xFF, 0xFF, 0xFF, 0xFF]); // SQ
            bomb.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]); // item
        }
        nested.splice(meta_end..meta_end, bomb);
        let err = DicomFile::open(&nested, &limits).unwrap_err();
        assert!(
            matches!(
                err,
                DicomError::TooLarge {
                    what: "sequence nesting",
                    ..
                }
            ),
            "{err:?}"
        );

        let err = DicomFile::open(
            &data("CT_small.dcm"),
            &DicomLimits {
                max_bytes: 1000,
                ..limits.clone()
            },
        )
        .unwrap_err();
        assert!(matches!(err, DicomError::InputTooLarge { .. }));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        // Error messages carry no file content.
        assert_eq!(
            DicomError::Malformed {
                reason: String::from("Jane").into()
            }
            .to_string(),
            "the DICOM file is malformed"
        );
    }

    /// A small deterministic PRNG for the mutation test.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn mutated_files_never_panic() {
        let key = DeidKey::from_bytes([5; 32]);
        let limits = DicomLimits::default();
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        for name in [
            "CT_small.dcm",
            "MR_small_implicit.dcm",
            "MR_small_RLE.dcm",
            "SC_rgb_jpeg_dcmtk.dcm",
            "SC_rgb_rle_2frame.dcm",
            "emri_small.dcm",
        ] {
            let original = data(name);
            for _ in 0..300 {
                let mut bytes = original.clone();
                // Flip a few bytes, mostly in the header area where the structure is.
                for _ in 0..1 + xorshift(&mut state) % 4 {
                    let span = if xorshift(&mut state).is_multiple_of(2) {
                        1200.min(bytes.len())
                    } else {
                        bytes.len()
                    };
                    let at = (xorshift(&mut state) as usize) % span;
                    bytes[at] = xorshift(&mut state) as u8;
                }
                let started = Instant::now();
                let opened = DicomFile::open(&bytes, &limits);
                if let Ok(file) = opened {
                    let _ = file.info();
                    let _ = file.frame(0);
                    let _ = file.deidentify(&key);
                }
                // Bounded work: a mutated length must never send the parser off for long.
                assert!(
                    started.elapsed() < Duration::from_secs(2),
                    "{name}: {:?}",
                    started.elapsed()
                );
            }
        }
    }
}
