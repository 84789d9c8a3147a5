//! Images the patient shares: PNG, JPEG, WebP, TIFF and BMP, decoded under limits and
//! re-encoded from the pixels alone, so no metadata (EXIF with GPS and serial numbers, XMP,
//! comments, PNG text, ICC profiles, thumbnails, trailing data) leaves the patient's machine.
//!
//! [`strip`] is the one entry point: it sniffs the magic bytes (and refuses a file that claims
//! to be another type), scans the container to name what it carries (names only, never
//! values), checks the header's dimensions and the memory the pixels need against
//! [`ImageLimits`] *before* decoding, applies the EXIF orientation, and re-encodes: JPEG in,
//! JPEG out (quality 90); anything else in, PNG out (lossless).
//!
//! The pixels are not colour-converted: an embedded ICC profile is dropped, not applied.

mod container;
mod display;

use std::fmt;
use std::io::Cursor;
use std::path::Path;

use haven_proto::Redacted;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

pub(crate) use container::jpeg_frame;
pub use display::{RgbaImage, decode_for_display, decode_for_display_with};
pub use image::metadata::Orientation;

/// JPEG quality of the re-encoded output.
pub const JPEG_QUALITY: u8 = 90;

/// The image container formats Haven accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ImageKind {
    /// PNG.
    Png,
    /// JPEG (JFIF or EXIF).
    Jpeg,
    /// WebP (lossy or lossless).
    WebP,
    /// TIFF (baseline, little or big endian).
    Tiff,
    /// Windows bitmap.
    Bmp,
}

impl ImageKind {
    /// The kind a file extension names (case-insensitive, with or without the dot).
    pub fn from_extension(ext: &str) -> Option<Self> {
        let ext = ext.trim_start_matches('.').to_ascii_lowercase();
        Some(match ext.as_str() {
            "png" => Self::Png,
            "jpg" | "jpeg" | "jpe" | "jfif" => Self::Jpeg,
            "webp" => Self::WebP,
            "tif" | "tiff" => Self::Tiff,
            "bmp" | "dib" => Self::Bmp,
            _ => return None,
        })
    }

    /// The kind a path's extension names.
    pub fn from_path(path: &Path) -> Option<Self> {
        path.extension()
            .and_then(|e| e.to_str())
            .and_then(Self::from_extension)
    }

    /// The kind the magic bytes say, or why none of ours.
    pub fn sniff(bytes: &[u8]) -> Result<Self, ImageError> {
        if bytes.is_empty() {
            return Err(ImageError::Empty);
        }
        let head = |n: usize| bytes.get(..n);
        if head(8) == Some(b"\x89PNG\r\n\x1a\n") {
            return Ok(Self::Png);
        }
        if head(3) == Some(&[0xFF, 0xD8, 0xFF]) {
            return Ok(Self::Jpeg);
        }
        if head(4) == Some(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
            return Ok(Self::WebP);
        }
        if matches!(head(4), Some(b"II*\0" | b"MM\0*" | b"II+\0" | b"MM\0+")) {
            return Ok(Self::Tiff);
        }
        if head(2) == Some(b"BM") && bytes.len() >= 26 {
            return Ok(Self::Bmp);
        }
        let what = if matches!(head(6), Some(b"GIF87a" | b"GIF89a")) {
            "GIF"
        } else if bytes.get(4..8) == Some(b"ftyp") {
            match bytes.get(8..12) {
                Some(b"avif" | b"avis") => "AVIF",
                Some(b"heic" | b"heix" | b"mif1" | b"msf1" | b"hevc") => "HEIF/HEIC",
                _ => "an ISO media file",
            }
        } else if head(4) == Some(b"%PDF") {
            "PDF"
        } else if bytes.get(128..132) == Some(b"DICM") {
            "DICOM (use the DICOM path)"
        } else {
            return Err(ImageError::UnknownFormat);
        };
        Err(ImageError::UnsupportedFormat { what })
    }

    /// The usual file extension (no dot).
    pub const fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::WebP => "webp",
            Self::Tiff => "tiff",
            Self::Bmp => "bmp",
        }
    }

    /// The MIME type.
    pub const fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::WebP => "image/webp",
            Self::Tiff => "image/tiff",
            Self::Bmp => "image/bmp",
        }
    }

    const fn image_format(self) -> ImageFormat {
        match self {
            Self::Png => ImageFormat::Png,
            Self::Jpeg => ImageFormat::Jpeg,
            Self::WebP => ImageFormat::WebP,
            Self::Tiff => ImageFormat::Tiff,
            Self::Bmp => ImageFormat::Bmp,
        }
    }
}

impl fmt::Display for ImageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Png => "PNG",
            Self::Jpeg => "JPEG",
            Self::WebP => "WebP",
            Self::Tiff => "TIFF",
            Self::Bmp => "BMP",
        })
    }
}

/// Limits applied before any pixel is decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLimits {
    /// Largest input file, in bytes.
    pub max_input_bytes: usize,
    /// Widest image, in pixels.
    pub max_width: u32,
    /// Tallest image, in pixels.
    pub max_height: u32,
    /// Most pixels (width × height).
    pub max_pixels: u64,
    /// Most memory for decoded pixels, in bytes. The decoded image must fit twice (the image
    /// and its rotated copy when the orientation asks for one).
    pub max_alloc_bytes: u64,
}

impl Default for ImageLimits {
    /// 64 MiB files; up to 20 000 px a side and 100 MP (a 50 MP phone photo fits); 1 GiB of
    /// decoded pixels.
    fn default() -> Self {
        Self {
            max_input_bytes: 64 << 20,
            max_width: 20_000,
            max_height: 20_000,
            max_pixels: 100_000_000,
            max_alloc_bytes: 1 << 30,
        }
    }
}

/// A kind of metadata found in (and so removed from) an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum MetadataKind {
    /// EXIF block (names lists every tag found).
    Exif,
    /// EXIF GPS tags: where the picture was taken.
    ExifGps,
    /// EXIF serial numbers and unique ids of the camera, lens or image.
    ExifSerial,
    /// EXIF tags naming people (artist, camera owner, copyright holder).
    ExifPerson,
    /// EXIF maker note: vendor data, often with serial numbers.
    ExifMakerNote,
    /// The EXIF orientation tag (applied to the pixels, then dropped).
    Orientation,
    /// An embedded thumbnail (EXIF IFD1, JFIF/JFXX), which may show the uncropped picture.
    Thumbnail,
    /// XMP packet.
    Xmp,
    /// ICC colour profile (can name a device; dropped, not applied).
    IccProfile,
    /// Photoshop image resources / IPTC.
    PhotoshopIptc,
    /// PNG text chunks (tEXt, zTXt, iTXt) and the tIME chunk.
    PngText,
    /// JPEG comment (COM) segment.
    Comment,
    /// TIFF tags other than the pixel layout (TIFF input only).
    TiffTags,
    /// Other segments or chunks (APPn, unknown PNG or WebP chunks).
    OtherSegment,
    /// Data after the end of the image (a second image, or hidden data).
    TrailingData,
}

impl fmt::Display for MetadataKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Exif => "EXIF",
            Self::ExifGps => "EXIF GPS location",
            Self::ExifSerial => "EXIF camera serial",
            Self::ExifPerson => "EXIF person names",
            Self::ExifMakerNote => "EXIF maker note",
            Self::Orientation => "EXIF orientation (applied to the pixels)",
            Self::Thumbnail => "embedded thumbnail",
            Self::Xmp => "XMP",
            Self::IccProfile => "ICC profile",
            Self::PhotoshopIptc => "Photoshop/IPTC",
            Self::PngText => "PNG text chunks",
            Self::Comment => "JPEG comment",
            Self::TiffTags => "TIFF tags",
            Self::OtherSegment => "other metadata segments",
            Self::TrailingData => "data after the end of the image",
        })
    }
}

/// One kind of metadata that was removed, with the names (tags, keywords, segments) found
/// under it. Names come from fixed dictionaries; values are never copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    /// What it was.
    pub kind: MetadataKind,
    /// Tag names, standard keywords or segment names (may be empty).
    pub names: Vec<String>,
}

impl fmt::Display for Removed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.names.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}: {}", self.kind, self.names.join(", "))
        }
    }
}

/// The result of [`strip`]: pixels only, re-encoded.
#[derive(Clone, PartialEq, Eq)]
pub struct Stripped {
    /// The re-encoded file.
    pub bytes: Vec<u8>,
    /// Its format: JPEG for JPEG input, PNG otherwise.
    pub format: ImageKind,
    /// The input's format (sniffed).
    pub input_format: ImageKind,
    /// Width after orientation.
    pub width: u32,
    /// Height after orientation.
    pub height: u32,
    /// The EXIF orientation that was applied to the pixels.
    pub orientation: Orientation,
    /// What the input carried and the output does not.
    pub removed: Vec<Removed>,
}

impl fmt::Debug for Stripped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stripped")
            .field("bytes", &format_args!("[{} bytes]", self.bytes.len()))
            .field("format", &self.format)
            .field("input_format", &self.input_format)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("orientation", &self.orientation)
            .field("removed", &self.removed)
            .finish()
    }
}

/// Why an image was refused. Messages carry no file content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// The input is empty.
    #[error("the image file is empty")]
    Empty,
    /// The input is larger than [`ImageLimits::max_input_bytes`].
    #[error("the image file is {size} bytes, over the {max}-byte limit")]
    InputTooLarge {
        /// Input size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The magic bytes match none of the supported formats.
    #[error("not a PNG, JPEG, WebP, TIFF or BMP file")]
    UnknownFormat,
    /// A recognised format that Haven does not take.
    #[error("{what} images are not supported")]
    UnsupportedFormat {
        /// The format recognised.
        what: &'static str,
    },
    /// The caller (file extension) claims one format, the bytes are another.
    #[error("the file claims to be {claimed} but its content is {actual}")]
    Mismatch {
        /// What the caller claimed.
        claimed: ImageKind,
        /// What the bytes are.
        actual: ImageKind,
    },
    /// The header's dimensions are over the limits (a decompression bomb, or just too big).
    #[error("the {format} image is {width}×{height} pixels, over the limits")]
    DimensionsTooLarge {
        /// Format.
        format: ImageKind,
        /// Claimed width.
        width: u32,
        /// Claimed height.
        height: u32,
    },
    /// The decoded pixels would need more memory than allowed.
    #[error("the {format} image needs {needed} bytes to decode, over the {max}-byte limit")]
    MemoryLimit {
        /// Format.
        format: ImageKind,
        /// Bytes needed.
        needed: u64,
        /// The limit.
        max: u64,
    },
    /// The file ends early.
    #[error("the {format} file is truncated")]
    Truncated {
        /// Format.
        format: ImageKind,
    },
    /// The file is damaged or uses a feature the decoder lacks. The decoder's own message is
    /// kept redacted (it is not expected to hold patient data, but it is not ours to vouch for).
    #[error("the {format} file could not be decoded")]
    Malformed {
        /// Format.
        format: ImageKind,
        /// The decoder's message; read with `expose()` when debugging.
        reason: Redacted<String>,
    },
    /// Re-encoding failed.
    #[error("could not encode the {format} output")]
    Encode {
        /// Output format.
        format: ImageKind,
        /// The encoder's message.
        reason: Redacted<String>,
    },
}

/// Strips every bit of metadata from an image by decoding it under `limits`, applying its
/// EXIF orientation and re-encoding the pixels.
///
/// `claimed` is what the caller believes the file is (usually from its extension, see
/// [`ImageKind::from_path`]); when given and the magic bytes disagree, the file is refused.
pub fn strip(
    bytes: &[u8],
    claimed: Option<ImageKind>,
    limits: &ImageLimits,
) -> Result<Stripped, ImageError> {
    if bytes.len() > limits.max_input_bytes {
        return Err(ImageError::InputTooLarge {
            size: bytes.len(),
            max: limits.max_input_bytes,
        });
    }
    let kind = ImageKind::sniff(bytes)?;
    if let Some(claimed) = claimed
        && claimed != kind
    {
        return Err(ImageError::Mismatch {
            claimed,
            actual: kind,
        });
    }
    let found = container::scan(bytes, kind)?;
    let (mut image, orientation) = decode(bytes, kind, limits)?;
    image.apply_orientation(orientation);
    let (width, height) = (image.width(), image.height());
    let format = if kind == ImageKind::Jpeg {
        ImageKind::Jpeg
    } else {
        ImageKind::Png
    };
    let out = encode(&image, format)?;
    let removed = found.into_removed();
    tracing::debug!(
        input = %kind,
        output = %format,
        width,
        height,
        removed = removed.len(),
        "image stripped"
    );
    Ok(Stripped {
        bytes: out,
        format,
        input_format: kind,
        width,
        height,
        orientation,
        removed,
    })
}

/// Names the metadata an image carries, without decoding it (what [`strip`] would remove).
/// Useful to check an output: a stripped file reports nothing.
pub fn metadata(bytes: &[u8]) -> Result<Vec<Removed>, ImageError> {
    let kind = ImageKind::sniff(bytes)?;
    Ok(container::scan(bytes, kind)?.into_removed())
}

fn decode(
    bytes: &[u8],
    kind: ImageKind,
    limits: &ImageLimits,
) -> Result<(DynamicImage, Orientation), ImageError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), kind.image_format());
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(limits.max_width);
    image_limits.max_image_height = Some(limits.max_height);
    image_limits.max_alloc = Some(limits.max_alloc_bytes);
    reader.limits(image_limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| map_decode_error(e, kind, limits))?;
    let (width, height) = decoder.dimensions();
    if width > limits.max_width
        || height > limits.max_height
        || u64::from(width) * u64::from(height) > limits.max_pixels
    {
        return Err(ImageError::DimensionsTooLarge {
            format: kind,
            width,
            height,
        });
    }
    let needed = decoder.total_bytes().saturating_mul(2);
    if needed > limits.max_alloc_bytes {
        return Err(ImageError::MemoryLimit {
            format: kind,
            needed,
            max: limits.max_alloc_bytes,
        });
    }
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image =
        DynamicImage::from_decoder(decoder).map_err(|e| map_decode_error(e, kind, limits))?;
    Ok((image, orientation))
}

fn map_decode_error(e: image::ImageError, kind: ImageKind, limits: &ImageLimits) -> ImageError {
    match e {
        image::ImageError::Limits(limit) => match limit.kind() {
            image::error::LimitErrorKind::DimensionError => ImageError::DimensionsTooLarge {
                format: kind,
                width: limits.max_width.saturating_add(1),
                height: limits.max_height.saturating_add(1),
            },
            _ => ImageError::MemoryLimit {
                format: kind,
                needed: limits.max_alloc_bytes.saturating_add(1),
                max: limits.max_alloc_bytes,
            },
        },
        image::ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            ImageError::Truncated { format: kind }
        }
        other => ImageError::Malformed {
            format: kind,
            reason: other.to_string().into(),
        },
    }
}

fn encode(image: &DynamicImage, format: ImageKind) -> Result<Vec<u8>, ImageError> {
    let mut out = Vec::new();
    let result = match format {
        ImageKind::Jpeg => {
            let encoder = JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY);
            // JPEG carries 8-bit luma or RGB only.
            match image {
                DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) => {
                    image.write_with_encoder(encoder)
                }
                DynamicImage::ImageLumaA8(_)
                | DynamicImage::ImageLuma16(_)
                | DynamicImage::ImageLumaA16(_) => {
                    DynamicImage::ImageLuma8(image.to_luma8()).write_with_encoder(encoder)
                }
                _ => DynamicImage::ImageRgb8(image.to_rgb8()).write_with_encoder(encoder),
            }
        }
        _ => {
            let encoder =
                PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive);
            match image {
                DynamicImage::ImageRgb32F(_) => {
                    DynamicImage::ImageRgb16(image.to_rgb16()).write_with_encoder(encoder)
                }
                DynamicImage::ImageRgba32F(_) => {
                    DynamicImage::ImageRgba16(image.to_rgba16()).write_with_encoder(encoder)
                }
                _ => image.write_with_encoder(encoder),
            }
        }
    };
    result.map_err(|e| ImageError::Encode {
        format,
        reason: e.to_string().into(),
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn data(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../../tests/data/images/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("test data {path}: {e}"))
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    fn names(removed: &[Removed], kind: MetadataKind) -> Vec<String> {
        removed
            .iter()
            .find(|r| r.kind == kind)
            .map(|r| r.names.clone())
            .unwrap_or_default()
    }

    fn has(removed: &[Removed], kind: MetadataKind) -> bool {
        removed.iter().any(|r| r.kind == kind)
    }

    /// The strings the exiftool-written test files carry in their metadata.
    const SECRETS: &[&[u8]] = &[
        b"HVNSERIAL0042",
        b"HVNLENS0777",
        b"HavenTestCam",
        b"HVNCOMMENT",
        b"Test Creator",
        b"Test Artist",
        b"Crayon",
        b"Png Author",
    ];

    fn assert_clean(out: &Stripped) {
        for secret in SECRETS {
            assert!(
                !contains(&out.bytes, secret),
                "{} left in output",
                String::from_utf8_lossy(secret)
            );
        }
        assert_eq!(metadata(&out.bytes).expect("output rescans"), Vec::new());
        // The exif crate finds no EXIF in the output either.
        let exif = exif::Reader::new().read_from_container(&mut Cursor::new(&out.bytes));
        assert!(exif.is_err(), "EXIF still readable in the output");
    }

    #[test]
    fn jpeg_with_gps_and_serial_is_stripped_oriented_and_kept() {
        let input = data("camera_gps_serial.jpg");
        // The input really carries what the test claims.
        let exif = exif::Reader::new()
            .read_from_container(&mut Cursor::new(&input))
            .expect("input has EXIF");
        assert!(
            exif.get_field(exif::Tag::GPSLatitude, exif::In::PRIMARY)
                .is_some()
        );
        assert!(
            exif.get_field(exif::Tag::BodySerialNumber, exif::In::PRIMARY)
                .is_some()
        );
        assert!(contains(&input, b"HVNSERIAL0042"));

        let out = strip(&input, Some(ImageKind::Jpeg), &ImageLimits::default()).expect("strips");
        assert_eq!(out.format, ImageKind::Jpeg);
        assert_eq!(out.orientation, Orientation::Rotate90);
        // 160×120 stored, "rotate 90 CW" to show: 120×160.
        assert_eq!((out.width, out.height), (120, 160));
        let gps = names(&out.removed, MetadataKind::ExifGps);
        assert!(gps.contains(&String::from("GPSLatitude")), "{gps:?}");
        assert!(gps.contains(&String::from("GPSLongitude")), "{gps:?}");
        let serial = names(&out.removed, MetadataKind::ExifSerial);
        assert!(
            serial.contains(&String::from("BodySerialNumber")),
            "{serial:?}"
        );
        assert!(
            serial.contains(&String::from("LensSerialNumber")),
            "{serial:?}"
        );
        assert!(names(&out.removed, MetadataKind::ExifPerson).contains(&String::from("Artist")));
        for kind in [
            MetadataKind::Xmp,
            MetadataKind::IccProfile,
            MetadataKind::Comment,
        ] {
            assert!(
                has(&out.removed, kind),
                "{kind} not reported: {:?}",
                out.removed
            );
        }
        // The report holds names only.
        let report = format!("{:?}", out.removed);
        for secret in SECRETS {
            assert!(!report.contains(std::str::from_utf8(secret).expect("ascii")));
        }
        assert_clean(&out);

        // Pixels preserved: the output matches the input rotated, up to JPEG re-encoding.
        let mut reference = image::load_from_memory(&input).expect("decodes").to_rgb8();
        reference = image::imageops::rotate90(&reference);
        let got = image::load_from_memory(&out.bytes)
            .expect("output decodes")
            .to_rgb8();
        assert_eq!(got.dimensions(), reference.dimensions());
        let diff: u64 = got
            .as_raw()
            .iter()
            .zip(reference.as_raw())
            .map(|(a, b)| u64::from(a.abs_diff(*b)))
            .sum();
        let mean = diff as f64 / got.as_raw().len() as f64;
        assert!(mean < 3.0, "mean pixel difference {mean}");
        // The white marker block (stored top-left) is now top-right.
        let px = got.get_pixel(120 - 5, 5);
        assert!(px.0.iter().all(|&c| c > 230), "{px:?}");
    }

    #[test]
    fn png_text_exif_xmp_icc_are_removed_losslessly() {
        let input = data("meta.png");
        let out = strip(
            &input,
            ImageKind::from_extension("png"),
            &ImageLimits::default(),
        )
        .expect("strips");
        assert_eq!(out.format, ImageKind::Png);
        let text = names(&out.removed, MetadataKind::PngText);
        for keyword in ["Author", "Comment", "Artist", "Make", "Model"] {
            assert!(text.contains(&keyword.to_owned()), "{text:?}");
        }
        assert!(names(&out.removed, MetadataKind::ExifGps).contains(&String::from("GPSLatitude")));
        assert!(has(&out.removed, MetadataKind::ExifSerial));
        assert!(has(&out.removed, MetadataKind::Xmp));
        assert!(has(&out.removed, MetadataKind::IccProfile));
        assert_clean(&out);
        let a = image::load_from_memory(&input).expect("decodes").to_rgb8();
        let b = image::load_from_memory(&out.bytes)
            .expect("decodes")
            .to_rgb8();
        assert!(a == b, "PNG pixels must be identical");
    }

    #[test]
    fn webp_and_tiff_become_clean_png_with_the_same_pixels() {
        for (name, kind) in [
            ("meta.webp", ImageKind::WebP),
            ("meta.tiff", ImageKind::Tiff),
        ] {
            let input = data(name);
            let out = strip(&input, Some(kind), &ImageLimits::default()).expect(name);
            assert_eq!(out.input_format, kind);
            assert_eq!(out.format, ImageKind::Png);
            assert!(
                has(&out.removed, MetadataKind::ExifGps),
                "{name}: {:?}",
                out.removed
            );
            assert!(
                has(&out.removed, MetadataKind::ExifSerial),
                "{name}: {:?}",
                out.removed
            );
            assert!(
                has(&out.removed, MetadataKind::Xmp),
                "{name}: {:?}",
                out.removed
            );
            assert!(
                has(&out.removed, MetadataKind::IccProfile),
                "{name}: {:?}",
                out.removed
            );
            assert_clean(&out);
            // The WebP's EXIF (copied from the camera JPEG) says "rotate 90".
            let mut reference = image::load_from_memory(&input).expect("decodes");
            reference.apply_orientation(out.orientation);
            let got = image::load_from_memory(&out.bytes).expect("decodes");
            assert!(
                reference.to_rgba8() == got.to_rgba8(),
                "{name}: pixels must be identical"
            );
        }
        let tiff = strip(&data("meta.tiff"), None, &ImageLimits::default()).expect("tiff");
        let tags = names(&tiff.removed, MetadataKind::TiffTags);
        assert!(tags.contains(&String::from("Make")), "{tags:?}");
        assert!(!tags.contains(&String::from("StripOffsets")), "{tags:?}");
    }

    #[test]
    fn bmp_strips_to_png() {
        let img =
            image::RgbImage::from_fn(7, 5, |x, y| image::Rgb([x as u8 * 30, y as u8 * 40, 9]));
        let mut bmp = Vec::new();
        DynamicImage::ImageRgb8(img.clone())
            .write_to(&mut Cursor::new(&mut bmp), ImageFormat::Bmp)
            .expect("encodes");
        let out = strip(&bmp, Some(ImageKind::Bmp), &ImageLimits::default()).expect("strips");
        assert_eq!((out.format, out.width, out.height), (ImageKind::Png, 7, 5));
        assert!(out.removed.is_empty());
        assert!(
            image::load_from_memory(&out.bytes)
                .expect("decodes")
                .to_rgb8()
                == img
        );
    }

    #[test]
    fn a_file_claiming_another_type_is_refused() {
        let jpeg = data("camera_gps_serial.jpg");
        let err = strip(&jpeg, Some(ImageKind::Png), &ImageLimits::default()).unwrap_err();
        assert!(
            matches!(
                err,
                ImageError::Mismatch {
                    claimed: ImageKind::Png,
                    actual: ImageKind::Jpeg
                }
            ),
            "{err:?}"
        );
        assert!(matches!(
            strip(b"GIF89a\x01\x00\x01\x00", None, &ImageLimits::default()),
            Err(ImageError::UnsupportedFormat { what: "GIF" })
        ));
        assert!(matches!(
            strip(b"hello, this is text", None, &ImageLimits::default()),
            Err(ImageError::UnknownFormat)
        ));
        assert!(matches!(
            strip(b"", None, &ImageLimits::default()),
            Err(ImageError::Empty)
        ));
        assert_eq!(ImageKind::from_extension(".JPEG"), Some(ImageKind::Jpeg));
        assert_eq!(
            ImageKind::from_path(Path::new("a/b.tif")),
            Some(ImageKind::Tiff)
        );
    }

    #[test]
    fn truncated_files_give_a_typed_error() {
        for (name, kind) in [
            ("camera_gps_serial.jpg", ImageKind::Jpeg),
            ("meta.png", ImageKind::Png),
            ("meta.webp", ImageKind::WebP),
        ] {
            let input = data(name);
            for keep in [input.len() / 2, input.len() - 3, 40] {
                let err = strip(&input[..keep], None, &ImageLimits::default()).unwrap_err();
                assert!(
                    matches!(&err, ImageError::Truncated { format } if *format == kind),
                    "{name} cut at {keep}: {err:?}"
                );
            }
        }
        // TIFF has no end marker: a cut one fails in the decoder, still typed.
        let tiff = data("meta.tiff");
        let err = strip(&tiff[..tiff.len() / 2], None, &ImageLimits::default()).unwrap_err();
        assert!(
            matches!(
                err,
                ImageError::Truncated { .. } | ImageError::Malformed { .. }
            ),
            "{err:?}"
        );
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFF_u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }

    /// A 60-byte PNG whose header claims `width`×`height` RGBA pixels.
    fn bomb_png(width: u32, height: u32) -> Vec<u8> {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&width.to_be_bytes());
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
        png_chunk(&mut png, b"IHDR", &ihdr);
        // zlib stream of a few zero bytes.
        png_chunk(
            &mut png,
            b"IDAT",
            &[0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
        );
        png_chunk(&mut png, b"IEND", &[]);
        png
    }

    #[test]
    fn decompression_bombs_are_refused_before_decoding() {
        let started = Instant::now();
        let err = strip(
            &bomb_png(100_000, 100_000),
            Some(ImageKind::Png),
            &ImageLimits::default(),
        )
        .unwrap_err();
        assert!(
            matches!(err, ImageError::DimensionsTooLarge { .. }),
            "{err:?}"
        );
        // Within the side limits but 16 000 × 16 000 RGBA = 1 GiB of pixels.
        let err = strip(&bomb_png(16_000, 16_000), None, &ImageLimits::default()).unwrap_err();
        assert!(
            matches!(
                err,
                ImageError::DimensionsTooLarge { .. } | ImageError::MemoryLimit { .. }
            ),
            "{err:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );

        // A real small file that inflates: 4000×4000 grey zeros compress to a few kB and
        // need 16 MB (32 MB with the rotation reserve); allow 8 MiB.
        let mut png = Vec::new();
        DynamicImage::ImageLuma8(image::GrayImage::new(4000, 4000))
            .write_with_encoder(PngEncoder::new_with_quality(
                &mut png,
                CompressionType::Fast,
                FilterType::NoFilter,
            ))
            .expect("encodes");
        assert!(png.len() < 200_000, "{}", png.len());
        let limits = ImageLimits {
            max_alloc_bytes: 8 << 20,
            ..ImageLimits::default()
        };
        let started = Instant::now();
        let err = strip(&png, None, &limits).unwrap_err();
        assert!(
            matches!(
                err,
                ImageError::MemoryLimit {
                    needed: 32_000_000,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            started.elapsed() < Duration::from_millis(200),
            "{:?}",
            started.elapsed()
        );

        let limits = ImageLimits {
            max_input_bytes: 1000,
            ..ImageLimits::default()
        };
        assert!(matches!(
            strip(&png, None, &limits),
            Err(ImageError::InputTooLarge { max: 1000, .. })
        ));
    }

    #[test]
    fn errors_and_debug_carry_no_content() {
        let out = strip(
            &data("camera_gps_serial.jpg"),
            None,
            &ImageLimits::default(),
        )
        .expect("strips");
        let shown = format!("{out:?}");
        assert!(shown.contains("bytes]"), "{shown}");
        let err = ImageError::Malformed {
            format: ImageKind::Png,
            reason: String::from("x").into(),
        };
        assert!(format!("{err:?}").contains("[redacted]"));
    }

    #[test]
    fn mutated_files_never_panic() {
        let limits = ImageLimits::default();
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for name in [
            "camera_gps_serial.jpg",
            "meta.png",
            "meta.webp",
            "meta.tiff",
        ] {
            let original = data(name);
            for _ in 0..60 {
                let mut bytes = original.clone();
                for _ in 0..1 + next() % 4 {
                    let span = if next().is_multiple_of(2) {
                        600.min(bytes.len())
                    } else {
                        bytes.len()
                    };
                    let at = (next() as usize) % span;
                    bytes[at] = next() as u8;
                }
                let _ = strip(&bytes, None, &limits);
                let _ = metadata(&bytes);
            }
        }
    }
}
