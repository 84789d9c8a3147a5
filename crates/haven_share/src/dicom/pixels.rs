//! Pixel data to display values: one frame at a time, after the Modality LUT (rescale).
//!
//! Encapsulated frames (RLE, JPEG) are decoded by dicom-pixeldata once their embedded
//! headers have been checked against the data set; native frames are read straight from the
//! Pixel Data. The sample layout (bits stored, high bit, sign, planar configuration) and the
//! colour model are handled here.

use std::panic::{AssertUnwindSafe, catch_unwind};

use dicom_core::Tag;
use dicom_object::{FileDicomObject, InMemDicomObject};
use dicom_pixeldata::PixelDecoder;

use super::DicomError;
use super::frame::{Frame, FramePixels, Window};
use crate::images::jpeg_frame;

/// The Modality LUT: value = stored × slope + intercept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rescale {
    /// Rescale Slope (0028,1053), 1 when absent.
    pub slope: f64,
    /// Rescale Intercept (0028,1052), 0 when absent.
    pub intercept: f64,
}

impl Default for Rescale {
    fn default() -> Self {
        Self {
            slope: 1.0,
            intercept: 0.0,
        }
    }
}

/// Pixel layout read from the data set.
#[derive(Debug, Clone)]
pub(super) struct Geometry {
    pub(super) rows: u32,
    pub(super) cols: u32,
    pub(super) frames: u32,
    pub(super) samples: u16,
    pub(super) bits_allocated: u16,
    pub(super) bits_stored: u16,
    pub(super) high_bit: u16,
    pub(super) signed: bool,
    pub(super) planar: bool,
    pub(super) photometric: String,
    pub(super) transfer_syntax: String,
    pub(super) transfer_syntax_name: &'static str,
    pub(super) encapsulated: bool,
    pub(super) has_pixel_data: bool,
}

const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";

/// Decodes frame `frame` (0-based) of a checked file.
pub(super) fn frame(
    file: &FileDicomObject<InMemDicomObject>,
    geo: &Geometry,
    frame: u32,
    rescale: Rescale,
    window: Option<Window>,
) -> Result<Frame, DicomError> {
    if frame >= geo.frames {
        return Err(DicomError::FrameOutOfRange {
            frame,
            frames: geo.frames,
        });
    }
    match geo.photometric.as_str() {
        "MONOCHROME1" | "MONOCHROME2" if geo.samples == 1 => {}
        "RGB" | "YBR_FULL" | "YBR_FULL_422" | "YBR_ICT" | "YBR_RCT" if geo.samples == 3 => {}
        _ => {
            return Err(DicomError::UnsupportedPixelFormat {
                what: "photometric interpretation or samples per pixel",
            });
        }
    }
    if !matches!(geo.bits_allocated, 8 | 16) {
        return Err(DicomError::UnsupportedPixelFormat {
            what: "bits allocated other than 8 or 16",
        });
    }
    if geo.bits_stored == 0
        || geo.bits_stored > geo.bits_allocated
        || geo.high_bit >= geo.bits_allocated
        || geo.high_bit + 1 < geo.bits_stored
    {
        return Err(DicomError::Malformed {
            reason: String::from("bits stored or high bit out of range").into(),
        });
    }
    if geo.encapsulated {
        check_embedded_jpeg(file, geo, frame)?;
        check_rle_expansion(file, geo, frame)?;
    } else if geo.photometric != "RGB" && geo.photometric != "YBR_FULL" && geo.samples == 3 {
        return Err(DicomError::UnsupportedPixelFormat {
            what: "native subsampled YBR",
        });
    }
    let rle;
    let decoded;
    let data: &[u8] = if geo.transfer_syntax == RLE_LOSSLESS {
        rle = decode_rle_frame(file, geo, frame)?;
        &rle
    } else {
        decoded = catch_unwind(AssertUnwindSafe(|| file.decode_pixel_data_frame(frame)))
            .map_err(|_| DicomError::Decode {
                reason: String::from("the decoder panicked").into(),
            })?
            .map_err(|e| {
                let reason = e.to_string();
                if reason.contains("nsupported") {
                    DicomError::UnsupportedTransferSyntax {
                        uid: geo.transfer_syntax.clone(),
                        name: geo.transfer_syntax_name,
                    }
                } else {
                    DicomError::Decode {
                        reason: reason.into(),
                    }
                }
            })?;
        decoded.data()
    };
    let pixels = geo.rows as usize * geo.cols as usize;
    let bytes_per_sample = usize::from(geo.bits_allocated / 8);
    let need = pixels * usize::from(geo.samples) * bytes_per_sample;
    let Some(data) = data.get(..need) else {
        return Err(DicomError::Malformed {
            reason: String::from("pixel data shorter than the image attributes say").into(),
        });
    };
    // After an encapsulated decode, colour arrives as interleaved RGB.
    let (photometric, planar) = if geo.encapsulated && geo.samples == 3 {
        ("RGB", false)
    } else {
        (geo.photometric.as_str(), geo.planar)
    };
    let sample = |i: usize| -> u32 {
        if bytes_per_sample == 1 {
            u32::from(data[i])
        } else {
            u32::from(u16::from_ne_bytes([data[2 * i], data[2 * i + 1]]))
        }
    };
    let shift = u32::from(geo.high_bit + 1 - geo.bits_stored);
    let mask = if geo.bits_stored >= 32 {
        u32::MAX
    } else {
        (1_u32 << geo.bits_stored) - 1
    };
    let stored = |raw: u32| -> i64 {
        let v = (raw >> shift) & mask;
        if geo.signed && v >> (geo.bits_stored - 1) & 1 == 1 {
            i64::from(v) - (1_i64 << geo.bits_stored)
        } else {
            i64::from(v)
        }
    };
    let pixels_out = if geo.samples == 1 {
        let values = (0..pixels)
            .map(|i| (stored(sample(i)) as f64 * rescale.slope + rescale.intercept) as f32)
            .collect();
        FramePixels::Gray(values)
    } else {
        let to8 = |v: i64| -> u8 {
            let v = v.max(0) as u64;
            let v = if geo.bits_stored > 8 {
                v >> (geo.bits_stored - 8)
            } else {
                v
            };
            v.min(255) as u8
        };
        let at = |p: usize, c: usize| -> u8 {
            let i = if planar { c * pixels + p } else { p * 3 + c };
            to8(stored(sample(i)))
        };
        let mut rgb = Vec::with_capacity(pixels * 3);
        for p in 0..pixels {
            let (a, b, c) = (at(p, 0), at(p, 1), at(p, 2));
            if photometric == "YBR_FULL" {
                rgb.extend_from_slice(&ybr_full_to_rgb(a, b, c));
            } else {
                rgb.extend_from_slice(&[a, b, c]);
            }
        }
        FramePixels::Rgb8(rgb)
    };
    Ok(Frame {
        width: geo.cols,
        height: geo.rows,
        pixels: pixels_out,
        window,
        invert: geo.photometric == "MONOCHROME1",
    })
}

/// PS3.3 C.7.6.3.1.2 YBR_FULL to RGB.
fn ybr_full_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let (y, cb, cr) = (f32::from(y), f32::from(cb) - 128.0, f32::from(cr) - 128.0);
    let clamp = |v: f32| v.round().clamp(0.0, 255.0) as u8;
    [
        clamp(y + 1.402 * cr),
        clamp(y - 0.344_136 * cb - 0.714_136 * cr),
        clamp(y + 1.772 * cb),
    ]
}

/// Before a JPEG decoder sees a frame, its frame header must agree with the data set: the
/// decoder sizes its buffers from the JPEG header, the copy-out from the data set.
fn check_embedded_jpeg(
    file: &FileDicomObject<InMemDicomObject>,
    geo: &Geometry,
    frame: u32,
) -> Result<(), DicomError> {
    if !geo.transfer_syntax.starts_with("1.2.840.10008.1.2.4.5")
        && !geo.transfer_syntax.starts_with("1.2.840.10008.1.2.4.7")
    {
        return Ok(());
    }
    let Some(fragments) = file
        .get(Tag(0x7FE0, 0x0010))
        .and_then(|e| e.value().fragments())
    else {
        return Err(DicomError::NoPixelData);
    };
    let first = if fragments.len() == geo.frames as usize {
        fragments.get(frame as usize)
    } else if frame == 0 {
        fragments.first()
    } else {
        // Frames spanning several fragments: the decoder finds them by the offset table.
        return Ok(());
    };
    let Some(first) = first else {
        return Err(DicomError::NoPixelData);
    };
    let sof = jpeg_frame(first).map_err(|_| DicomError::Decode {
        reason: String::from("embedded JPEG without a readable frame header").into(),
    })?;
    if u32::from(sof.width) != geo.cols
        || u32::from(sof.height) != geo.rows
        || u16::from(sof.components) != geo.samples
        || sof.precision > 16
    {
        return Err(DicomError::Decode {
            reason: String::from("embedded JPEG does not match Rows/Columns/Samples").into(),
        });
    }
    Ok(())
}

/// RLE Lossless expands at most 64 times (a 2-byte replicate run gives 128 bytes), so a frame
/// whose fragment is far too small for its Rows × Columns is refused before the decoder
/// allocates and fills a frame-sized buffer from next to nothing.
fn check_rle_expansion(
    file: &FileDicomObject<InMemDicomObject>,
    geo: &Geometry,
    frame: u32,
) -> Result<(), DicomError> {
    if geo.transfer_syntax != RLE_LOSSLESS {
        return Ok(());
    }
    let Some(fragments) = file
        .get(Tag(0x7FE0, 0x0010))
        .and_then(|e| e.value().fragments())
    else {
        return Err(DicomError::NoPixelData);
    };
    let compressed: usize = if fragments.len() == geo.frames as usize {
        fragments.get(frame as usize).map_or(0, Vec::len)
    } else {
        fragments.iter().map(Vec::len).sum()
    };
    let decoded = u64::from(geo.rows)
        * u64::from(geo.cols)
        * u64::from(geo.samples)
        * u64::from(geo.bits_allocated / 8);
    if decoded > 64 * compressed as u64 + 128 {
        return Err(DicomError::Decode {
            reason: String::from("RLE fragment too short for the frame size").into(),
        });
    }
    Ok(())
}

fn rle_error(reason: &str) -> DicomError {
    DicomError::Decode {
        reason: reason.to_owned().into(),
    }
}

/// Decodes one RLE Lossless frame (PS3.5 Annex G) into interleaved native-endian samples.
/// Every offset and run is checked: a damaged fragment gives an error, never a panic or a
/// buffer larger than the frame.
fn decode_rle_frame(
    file: &FileDicomObject<InMemDicomObject>,
    geo: &Geometry,
    frame: u32,
) -> Result<Vec<u8>, DicomError> {
    let Some(fragments) = file
        .get(Tag(0x7FE0, 0x0010))
        .and_then(|e| e.value().fragments())
    else {
        return Err(DicomError::NoPixelData);
    };
    // PS3.5 A.4.2: one fragment a frame.
    if fragments.len() != geo.frames as usize {
        return Err(rle_error("RLE needs one fragment a frame"));
    }
    let fragment = fragments
        .get(frame as usize)
        .ok_or(DicomError::NoPixelData)?;
    let u32_at = |at: usize| -> Option<usize> {
        let b = fragment.get(at..at + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let bytes_per_sample = usize::from(geo.bits_allocated / 8);
    let samples = usize::from(geo.samples);
    let segments = samples * bytes_per_sample;
    if u32_at(0) != Some(segments) || segments > 15 {
        return Err(rle_error("RLE segment count does not match the samples"));
    }
    let mut bounds = Vec::with_capacity(segments + 1);
    for i in 0..segments {
        bounds.push(u32_at(4 + 4 * i).ok_or_else(|| rle_error("short RLE header"))?);
    }
    bounds.push(fragment.len());
    if bounds[0] < 64 || bounds.windows(2).any(|w| w[0] > w[1]) {
        return Err(rle_error("bad RLE segment offsets"));
    }
    let pixels = geo.rows as usize * geo.cols as usize;
    let mut out = vec![0_u8; pixels * segments];
    let native_le = cfg!(target_endian = "little");
    let mut plane = Vec::with_capacity(pixels);
    for segment in 0..segments {
        plane.clear();
        unpack_bits(
            &fragment[bounds[segment]..bounds[segment + 1]],
            pixels,
            &mut plane,
        )?;
        // Segments run sample by sample, most significant byte first.
        let sample = segment / bytes_per_sample;
        let significance = bytes_per_sample - 1 - segment % bytes_per_sample;
        let byte = if native_le {
            significance
        } else {
            bytes_per_sample - 1 - significance
        };
        for (p, &value) in plane.iter().enumerate() {
            out[(p * samples + sample) * bytes_per_sample + byte] = value;
        }
    }
    Ok(out)
}

/// PackBits, stopping at `want` bytes; fewer is an error.
fn unpack_bits(mut input: &[u8], want: usize, out: &mut Vec<u8>) -> Result<(), DicomError> {
    while out.len() < want {
        let Some((&header, rest)) = input.split_first() else {
            return Err(rle_error("RLE segment too short"));
        };
        input = rest;
        let header = header as i8;
        if header >= 0 {
            let n = header as usize + 1;
            let Some(literal) = input.get(..n) else {
                return Err(rle_error("RLE literal run past the segment"));
            };
            out.extend_from_slice(&literal[..n.min(want - out.len())]);
            input = &input[n..];
        } else if header != -128 {
            let Some((&value, rest)) = input.split_first() else {
                return Err(rle_error("RLE replicate run past the segment"));
            };
            input = rest;
            let n = (1 - i16::from(header)) as usize;
            let n = n.min(want - out.len());
            out.resize(out.len() + n, value);
        }
    }
    Ok(())
}
