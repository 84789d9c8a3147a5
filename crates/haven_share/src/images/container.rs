//! Small, bounded parsers over image containers: they find the metadata a file carries
//! (to name it in the report) and notice truncation, without decoding any pixels.
//!
//! Every read is bounds-checked against the input; nothing here allocates in proportion to a
//! length field read from the file.

use std::collections::{BTreeMap, BTreeSet};

use super::{ImageError, ImageKind, MetadataKind, Removed};

/// What a container scan found.
#[derive(Default)]
pub(super) struct Found {
    kinds: BTreeMap<MetadataKind, BTreeSet<String>>,
}

impl Found {
    fn add(&mut self, kind: MetadataKind, name: impl Into<String>) {
        self.kinds.entry(kind).or_default().insert(name.into());
    }

    fn mark(&mut self, kind: MetadataKind) {
        self.kinds.entry(kind).or_default();
    }

    /// The report: kinds in a stable order, each with the names found under it.
    pub(super) fn into_removed(self) -> Vec<Removed> {
        self.kinds
            .into_iter()
            .map(|(kind, names)| Removed {
                kind,
                names: names.into_iter().collect(),
            })
            .collect()
    }
}

/// Scans `bytes` (already sniffed as `kind`) for metadata, and checks that the container is
/// whole (`Truncated` when a length or the end marker runs past the end of the input).
pub(super) fn scan(bytes: &[u8], kind: ImageKind) -> Result<Found, ImageError> {
    let mut found = Found::default();
    match kind {
        ImageKind::Jpeg => scan_jpeg(bytes, &mut found)?,
        ImageKind::Png => scan_png(bytes, &mut found)?,
        ImageKind::WebP => scan_webp(bytes, &mut found)?,
        ImageKind::Tiff => scan_tiff(bytes, &mut found),
        ImageKind::Bmp => scan_bmp(bytes, &mut found)?,
    }
    Ok(found)
}

fn be16(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(usize::from(u16::from_be_bytes([s[0], s[1]])))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// The frame header of a JPEG stream (the first SOFn).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JpegFrame {
    /// The SOF marker's low nibble: 0 baseline, 1 extended, 2 progressive, 3 lossless, ...
    pub(crate) process: u8,
    /// Sample precision in bits.
    pub(crate) precision: u8,
    /// Lines (height).
    pub(crate) height: u16,
    /// Samples per line (width).
    pub(crate) width: u16,
    /// Number of components.
    pub(crate) components: u8,
}

/// Walks a JPEG stream's marker segments (also inside the entropy-coded data) and returns the
/// first frame header. Shared with the DICOM reader, which checks an embedded JPEG frame
/// against the data set's Rows/Columns before letting a decoder allocate for it.
pub(crate) fn jpeg_frame(b: &[u8]) -> Result<JpegFrame, ImageError> {
    let mut found = Found::default();
    walk_jpeg(b, &mut found)?.ok_or(ImageError::Malformed {
        format: ImageKind::Jpeg,
        reason: String::from("no frame header").into(),
    })
}

fn scan_jpeg(b: &[u8], found: &mut Found) -> Result<(), ImageError> {
    walk_jpeg(b, found).map(|_| ())
}

const APP1_EXIF: &[u8] = b"Exif\0";
const APP1_XMP: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";
const APP1_XMP_EXT: &[u8] = b"http://ns.adobe.com/xmp/extension/\0";
const APP2_ICC: &[u8] = b"ICC_PROFILE\0";
const APP2_MPF: &[u8] = b"MPF\0";
const APP13_PS: &[u8] = b"Photoshop 3.0\0";

fn walk_jpeg(b: &[u8], found: &mut Found) -> Result<Option<JpegFrame>, ImageError> {
    if b.get(0..2) != Some(&[0xFF, 0xD8][..]) {
        return Err(ImageError::Malformed {
            format: ImageKind::Jpeg,
            reason: String::from("no start-of-image marker").into(),
        });
    }
    let mut frame = None;
    let mut i = 2;
    let mut in_scan = false;
    loop {
        // In entropy-coded data, skip to the next marker that is not a stuffed 0xFF00 or RSTn.
        if in_scan {
            loop {
                let Some(&byte) = b.get(i) else {
                    return Err(ImageError::Truncated {
                        format: ImageKind::Jpeg,
                    });
                };
                if byte == 0xFF {
                    match b.get(i + 1) {
                        None => {
                            return Err(ImageError::Truncated {
                                format: ImageKind::Jpeg,
                            });
                        }
                        Some(0x00 | 0xD0..=0xD7) => i += 2,
                        Some(0xFF) => i += 1,
                        Some(_) => break,
                    }
                } else {
                    i += 1;
                }
            }
        }
        // Fill bytes before a marker.
        while b.get(i) == Some(&0xFF) && b.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        match (b.get(i), b.get(i + 1)) {
            (Some(0xFF), Some(&marker)) => {
                i += 2;
                match marker {
                    0xD9 => {
                        // End of image. Anything after it (beyond padding) may be a second
                        // image (MPF, "motion photo") or hidden data: it is not copied.
                        if b[i..].iter().any(|&x| x != 0 && x != 0xFF) {
                            found.mark(MetadataKind::TrailingData);
                        }
                        return Ok(frame);
                    }
                    0x01 | 0xD0..=0xD7 => continue,
                    0xD8 => {
                        return Err(ImageError::Malformed {
                            format: ImageKind::Jpeg,
                            reason: String::from("nested start-of-image").into(),
                        });
                    }
                    _ => {}
                }
                let Some(len) = be16(b, i) else {
                    return Err(ImageError::Truncated {
                        format: ImageKind::Jpeg,
                    });
                };
                if len < 2 {
                    return Err(ImageError::Malformed {
                        format: ImageKind::Jpeg,
                        reason: String::from("segment length below 2").into(),
                    });
                }
                let Some(payload) = b.get(i + 2..i + len) else {
                    return Err(ImageError::Truncated {
                        format: ImageKind::Jpeg,
                    });
                };
                classify_jpeg_segment(marker, payload, found, &mut frame);
                i += len;
                in_scan = marker == 0xDA;
            }
            (None, _) | (Some(0xFF), None) => {
                return Err(ImageError::Truncated {
                    format: ImageKind::Jpeg,
                });
            }
            (Some(_), _) => {
                return Err(ImageError::Malformed {
                    format: ImageKind::Jpeg,
                    reason: String::from("expected a marker").into(),
                });
            }
        }
    }
}

fn classify_jpeg_segment(
    marker: u8,
    payload: &[u8],
    found: &mut Found,
    frame: &mut Option<JpegFrame>,
) {
    match marker {
        0xC0..=0xCF
            if !matches!(marker, 0xC4 | 0xC8 | 0xCC) && frame.is_none() && payload.len() >= 6 =>
        {
            let height = u16::from_be_bytes([payload[1], payload[2]]);
            let width = u16::from_be_bytes([payload[3], payload[4]]);
            *frame = Some(JpegFrame {
                process: marker & 0x0F,
                precision: payload[0],
                height,
                width,
                components: payload[5],
            });
        }
        0xE0 => {
            if payload.starts_with(b"JFIF\0") {
                // Thumbnail width and height at offsets 12 and 13.
                if payload.get(12).is_some_and(|&w| w > 0)
                    && payload.get(13).is_some_and(|&h| h > 0)
                {
                    found.add(MetadataKind::Thumbnail, "JFIF thumbnail");
                }
            } else if payload.starts_with(b"JFXX\0") {
                found.add(MetadataKind::Thumbnail, "JFXX thumbnail");
            } else {
                found.add(MetadataKind::OtherSegment, "APP0");
            }
        }
        0xE1 if payload.starts_with(APP1_EXIF) => {
            // "Exif\0" and one pad byte, then a TIFF structure.
            classify_exif(payload.get(6..).unwrap_or_default(), found);
        }
        0xE1 if payload.starts_with(APP1_XMP) || payload.starts_with(APP1_XMP_EXT) => {
            found.mark(MetadataKind::Xmp);
        }
        0xE2 if payload.starts_with(APP2_ICC) => found.mark(MetadataKind::IccProfile),
        0xE2 if payload.starts_with(APP2_MPF) => {
            found.add(MetadataKind::OtherSegment, "MPF (multi-picture)");
        }
        0xED if payload.starts_with(APP13_PS) => found.mark(MetadataKind::PhotoshopIptc),
        0xEE if payload.starts_with(b"Adobe") => {
            // Colour-transform flags only: dropped with the re-encode, not worth naming.
        }
        0xE1..=0xEF => found.add(MetadataKind::OtherSegment, format!("APP{}", marker - 0xE0)),
        0xFE => found.mark(MetadataKind::Comment),
        _ => {}
    }
}

/// EXIF tags that locate or identify a person or a device, by (context, number).
fn exif_sensitive_kind(tag: exif::Tag) -> Option<MetadataKind> {
    use exif::Tag;
    if tag.context() == exif::Context::Gps {
        return Some(MetadataKind::ExifGps);
    }
    if [Tag::BodySerialNumber, Tag::LensSerialNumber, Tag::ImageUniqueID].contains(&tag)
        // DNG CameraSerialNumber.
        || (tag.context() == exif::Context::Tiff && tag.number() == 0xC62F)
    {
        return Some(MetadataKind::ExifSerial);
    }
    if [Tag::Artist, Tag::CameraOwnerName, Tag::Copyright].contains(&tag)
        // Windows XPAuthor.
        || (tag.context() == exif::Context::Tiff && tag.number() == 0x9C9D)
    {
        return Some(MetadataKind::ExifPerson);
    }
    if tag == Tag::MakerNote {
        return Some(MetadataKind::ExifMakerNote);
    }
    None
}

/// TIFF tags that only describe the pixel layout: not reported for TIFF files.
fn is_tiff_structure(tag: exif::Tag) -> bool {
    use exif::Tag;
    tag.context() == exif::Context::Tiff
        && ([
            Tag::ImageWidth,
            Tag::ImageLength,
            Tag::BitsPerSample,
            Tag::Compression,
            Tag::PhotometricInterpretation,
            Tag::StripOffsets,
            Tag::SamplesPerPixel,
            Tag::RowsPerStrip,
            Tag::StripByteCounts,
            Tag::XResolution,
            Tag::YResolution,
            Tag::PlanarConfiguration,
            Tag::ResolutionUnit,
            Tag::ExifIFDPointer,
            Tag::GPSInfoIFDPointer,
            Tag::InteropIFDPointer,
        ]
        .contains(&tag)
            // NewSubfileType, Predictor, TileWidth/Length/Offsets/ByteCounts, ExtraSamples,
            // SampleFormat.
            || [0x00FE, 0x013D, 0x0142, 0x0143, 0x0144, 0x0145, 0x0152, 0x0153]
                .contains(&tag.number()))
}

/// A tag's name for the report: the EXIF dictionary name, or its number when unknown.
fn tag_name(tag: exif::Tag) -> String {
    let shown = tag.to_string();
    if shown.starts_with("Tag(") {
        format!("tag 0x{:04X}", tag.number())
    } else {
        shown
    }
}

/// Names the EXIF tags in a TIFF-structured EXIF block (names only, never values).
fn classify_exif(tiff: &[u8], found: &mut Found) {
    classify_tiff_tags(tiff, found, false);
}

fn classify_tiff_tags(tiff: &[u8], found: &mut Found, is_tiff_file: bool) {
    let mut reader = exif::Reader::new();
    reader.continue_on_error(true);
    let exif = match reader.read_raw(tiff.to_vec()) {
        Ok(exif) => exif,
        Err(e) => match e.distill_partial_result(|_| {}) {
            Ok(exif) => exif,
            Err(_) => {
                found.add(
                    if is_tiff_file {
                        MetadataKind::TiffTags
                    } else {
                        MetadataKind::Exif
                    },
                    "(unreadable EXIF block)",
                );
                return;
            }
        },
    };
    for field in exif.fields() {
        let tag = field.tag;
        if is_tiff_file && tag.context() == exif::Context::Tiff {
            match tag.number() {
                0x02BC => {
                    found.mark(MetadataKind::Xmp);
                    continue;
                }
                0x8773 => {
                    found.mark(MetadataKind::IccProfile);
                    continue;
                }
                0x83BB | 0x8649 => {
                    found.mark(MetadataKind::PhotoshopIptc);
                    continue;
                }
                _ => {}
            }
            if is_tiff_structure(tag) {
                continue;
            }
        }
        let name = tag_name(tag);
        if field.ifd_num == exif::In::THUMBNAIL {
            found.add(MetadataKind::Thumbnail, "EXIF thumbnail");
            continue;
        }
        if let Some(kind) = exif_sensitive_kind(tag) {
            found.add(kind, name.clone());
        }
        if tag == exif::Tag::Orientation {
            found.add(MetadataKind::Orientation, name);
            continue;
        }
        found.add(
            if is_tiff_file {
                MetadataKind::TiffTags
            } else {
                MetadataKind::Exif
            },
            name,
        );
    }
}

/// The standard PNG text keywords (PNG 3rd ed. 11.3.4.2, and the common registered ones).
/// Other keywords are free text from the file, so they are not echoed into the report.
const PNG_KEYWORDS: &[&str] = &[
    "Title",
    "Author",
    "Description",
    "Copyright",
    "Creation Time",
    "Software",
    "Disclaimer",
    "Warning",
    "Source",
    "Comment",
    "Collection",
    "Artist",
    "Make",
    "Model",
    "Label",
    "date:create",
    "date:modify",
    "date:timestamp",
    "exif:GPSLatitude",
    "exif:GPSLongitude",
];

fn scan_png(b: &[u8], found: &mut Found) -> Result<(), ImageError> {
    let mut i = 8;
    loop {
        let (Some(len), Some(kind)) = (be32(b, i), b.get(i + 4..i + 8)) else {
            return Err(ImageError::Truncated {
                format: ImageKind::Png,
            });
        };
        let len = len as usize;
        let Some(data) = b.get(i + 8..(i + 8).saturating_add(len)) else {
            return Err(ImageError::Truncated {
                format: ImageKind::Png,
            });
        };
        if b.len() < (i + 12).saturating_add(len) {
            return Err(ImageError::Truncated {
                format: ImageKind::Png,
            });
        }
        match kind {
            b"IEND" => {
                if b.len() > i + 12 + len {
                    found.mark(MetadataKind::TrailingData);
                }
                return Ok(());
            }
            b"tEXt" | b"zTXt" | b"iTXt" => {
                let keyword_end = data.iter().position(|&c| c == 0).unwrap_or(data.len());
                let keyword = String::from_utf8_lossy(&data[..keyword_end.min(79)]);
                if keyword == "XML:com.adobe.xmp" {
                    found.mark(MetadataKind::Xmp);
                } else if keyword.starts_with("Raw profile type exif")
                    || keyword.starts_with("Raw profile type APP1")
                {
                    found.add(MetadataKind::Exif, "(ImageMagick raw EXIF profile)");
                } else if keyword.starts_with("Raw profile type iptc")
                    || keyword.starts_with("Raw profile type 8bim")
                {
                    found.mark(MetadataKind::PhotoshopIptc);
                } else if keyword.starts_with("Raw profile type xmp") {
                    found.mark(MetadataKind::Xmp);
                } else if PNG_KEYWORDS.contains(&keyword.as_ref()) {
                    found.add(MetadataKind::PngText, keyword);
                } else {
                    found.add(MetadataKind::PngText, "(other keyword)");
                }
            }
            b"eXIf" => classify_exif(data, found),
            b"iCCP" => found.mark(MetadataKind::IccProfile),
            b"tIME" => found.add(MetadataKind::PngText, "tIME (modification time)"),
            // Critical chunks and the ancillary ones that only describe pixels or display.
            b"IHDR" | b"PLTE" | b"IDAT" | b"tRNS" | b"gAMA" | b"cHRM" | b"sRGB" | b"sBIT"
            | b"bKGD" | b"pHYs" | b"hIST" | b"sPLT" | b"cICP" | b"mDCV" | b"cLLI" | b"acTL"
            | b"fcTL" | b"fdAT" => {}
            other => {
                let name = if other.iter().all(u8::is_ascii_alphabetic) {
                    String::from_utf8_lossy(other).into_owned()
                } else {
                    String::from("(unnamed)")
                };
                found.add(MetadataKind::OtherSegment, name);
            }
        }
        i += 12 + len;
    }
}

fn scan_webp(b: &[u8], found: &mut Found) -> Result<(), ImageError> {
    let Some(riff_len) = le32(b, 4) else {
        return Err(ImageError::Truncated {
            format: ImageKind::WebP,
        });
    };
    let end = (riff_len as usize).saturating_add(8);
    if end > b.len() {
        return Err(ImageError::Truncated {
            format: ImageKind::WebP,
        });
    }
    if end < b.len() && b[end..].iter().any(|&x| x != 0) {
        found.mark(MetadataKind::TrailingData);
    }
    let mut i = 12;
    while i + 8 <= end {
        let kind = &b[i..i + 4];
        let Some(len) = le32(b, i + 4) else { break };
        let len = len as usize;
        let Some(data) = b.get(i + 8..(i + 8).saturating_add(len)) else {
            return Err(ImageError::Truncated {
                format: ImageKind::WebP,
            });
        };
        match kind {
            b"EXIF" => {
                let tiff = data.strip_prefix(b"Exif\0\0").unwrap_or(data);
                classify_exif(tiff, found);
            }
            b"XMP " => found.mark(MetadataKind::Xmp),
            b"ICCP" => found.mark(MetadataKind::IccProfile),
            b"VP8 " | b"VP8L" | b"VP8X" | b"ALPH" | b"ANIM" | b"ANMF" => {}
            other => {
                let name = if other
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b' ')
                {
                    String::from_utf8_lossy(other).trim_end().to_owned()
                } else {
                    String::from("(unnamed)")
                };
                found.add(MetadataKind::OtherSegment, name);
            }
        }
        i = (i + 8).saturating_add(len).saturating_add(len & 1);
    }
    Ok(())
}

fn scan_tiff(b: &[u8], found: &mut Found) {
    classify_tiff_tags(b, found, true);
}

fn scan_bmp(b: &[u8], found: &mut Found) -> Result<(), ImageError> {
    let (Some(file_size), Some(header_size)) = (le32(b, 2), le32(b, 14)) else {
        return Err(ImageError::Truncated {
            format: ImageKind::Bmp,
        });
    };
    if file_size as usize > b.len() {
        return Err(ImageError::Truncated {
            format: ImageKind::Bmp,
        });
    }
    // BITMAPV5HEADER with bV5CSType = PROFILE_EMBEDDED ('MBED').
    if header_size >= 124 && le32(b, 14 + 56) == Some(0x4D42_4544) {
        found.mark(MetadataKind::IccProfile);
    }
    Ok(())
}
