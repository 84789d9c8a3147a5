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
//!   texture; [`DicomFile::display_frame`] / [`display_frame`]: the same with the window to
//!   start from, the frame count and the frame clamped to the last one (what a viewer needs);
//!   [`apply_window`] is the CPU reference of the PS3.3 C.11.2.1.2 linear VOI function that
//!   the window/level shader implements.
//!
//! Files by job: `scan` (the bounded structure walk), `file` ([`DicomFile`]: open, info,
//! frames), `frame` (frame values and windowing), `pixels` (pixel data to values), `deid`
//! (the profile's walker) and `annex_e` (the profile's table).
//!
//! Pixel formats: native (implicit VR little endian, explicit VR little and big endian), RLE
//! Lossless, JPEG baseline (8-bit); 8 or 16 bits allocated; MONOCHROME1/2, RGB, YBR_FULL, and
//! YBR_FULL_422 when JPEG-coded. Files in other encapsulated transfer syntaxes (JPEG 2000,
//! JPEG-LS, 12-bit JPEG) are de-identified (that never touches the pixels) but not rendered:
//! [`DicomError::UnsupportedTransferSyntax`] or [`DicomError::Decode`]. Deflated files are
//! refused outright (the bounded walk cannot see inside them).

mod annex_e;
mod deid;
mod file;
mod frame;
mod pixels;
mod scan;

use haven_proto::Redacted;

pub use deid::{Applied, DeidAction, DeidKey, DeidReport, Deidentified};
pub use file::{DicomFile, DicomInfo};
pub use frame::{DisplayFrame, Frame, FramePixels, Window, apply_window, window_linear};
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

impl BurnedInAnnotation {
    /// What the patient is told before a scan is shared, when its pictures may show text
    /// (their name, a date of birth): de-identification cleans the file's attributes, not the
    /// pixels. `None` when the file says its pixels carry no text.
    pub fn caution_for_patient(self) -> Option<&'static str> {
        match self {
            Self::Yes => Some(
                "This scan says text is burned into its picture: it may show your name. \
                 Look at it before you share it.",
            ),
            Self::NotStated => Some(
                "This scan does not say whether text is burned into its picture: it may show \
                 your name. Look at it before you share it.",
            ),
            Self::No => None,
        }
    }

    /// What the clinician's caption adds for such a scan.
    pub fn caution_for_clinician(self) -> Option<&'static str> {
        match self {
            Self::Yes => Some("text is burned into this picture"),
            Self::NotStated => Some("may show text burned into the picture"),
            Self::No => None,
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

/// Opens `bytes` and decodes frame `frame` for display (clamped to the last frame). To page
/// through frames, open once with [`DicomFile::open`] and call [`DicomFile::display_frame`].
pub fn display_frame(
    bytes: &[u8],
    frame: u32,
    limits: &DicomLimits,
) -> Result<DisplayFrame, DicomError> {
    DicomFile::open(bytes, limits)?.display_frame(frame)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use dicom_core::value::PrimitiveValue;
    use dicom_core::{DataElement, Tag, VR};
    use dicom_object::{FileDicomObject, InMemDicomObject};

    use super::*;

    pub(super) fn data(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../../tests/data/dicom/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("test data {path}: {e}"))
    }

    pub(super) fn open(name: &str) -> DicomFile {
        DicomFile::open(&data(name), &DicomLimits::default())
            .unwrap_or_else(|e| panic!("{name}: {e:?}"))
    }

    pub(super) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
    }

    pub(super) fn gray(frame: &Frame) -> &[f32] {
        match &frame.pixels {
            FramePixels::Gray(v) => v,
            FramePixels::Rgb8(_) => panic!("expected a grey frame"),
        }
    }

    pub(super) fn rgb(frame: &Frame) -> &[u8] {
        match &frame.pixels {
            FramePixels::Rgb8(v) => v,
            FramePixels::Gray(_) => panic!("expected a colour frame"),
        }
    }

    pub(super) const ALL: &[&str] = &[
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
    fn display_frames_clamp_to_the_last() {
        let limits = DicomLimits::default();
        let bytes = data("emri_small.dcm");
        let file = open("emri_small.dcm");
        for k in 0..10 {
            let shown = file.display_frame(k).expect("a frame");
            assert_eq!((shown.frame, shown.frames), (k, 10));
            assert_eq!((shown.width, shown.height), (64, 64));
            assert!(shown.window.is_some_and(|w| w.width >= 1.0));
            let frame = file.frame(k).expect("the frame");
            assert!(shown.pixels == frame.pixels, "frame {k}");
            assert_eq!(shown.window, frame.default_window());
        }
        let past = display_frame(&bytes, 99, &limits).expect("clamped");
        assert_eq!((past.frame, past.frames), (9, 10));
        assert!(past.pixels == file.frame(9).expect("last").pixels);
        let ct = display_frame(&data("CT_small.dcm"), 3, &limits).expect("CT");
        assert_eq!((ct.frame, ct.frames), (0, 1));
        assert!(!ct.invert && matches!(ct.pixels, FramePixels::Gray(_)));
        assert!(
            ct.window.is_some(),
            "a window from the values when the file has none"
        );
        assert!(
            display_frame(&data("MR_small_mono1.dcm"), 0, &limits)
                .expect("MR")
                .invert
        );
        assert!(matches!(
            display_frame(&data("MR_small_jp2klossless.dcm"), 0, &limits),
            Err(DicomError::UnsupportedTransferSyntax { .. })
        ));
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
