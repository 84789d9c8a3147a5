//! Pictures for display on the clinician's side: decoded under the same [`ImageLimits`] as
//! stripping, oriented, as 8-bit RGBA for a texture.

use std::fmt;

use super::{ImageError, ImageKind, ImageLimits, decode};

/// A decoded picture: 8-bit RGBA, row by row.
#[derive(Clone, PartialEq, Eq)]
pub struct RgbaImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width × height × 4` bytes, row by row, no padding.
    pub rgba: Vec<u8>,
}

impl fmt::Debug for RgbaImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RgbaImage")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("rgba", &format_args!("[{} bytes]", self.rgba.len()))
            .finish()
    }
}

/// Decodes a shared picture for display under [`ImageLimits::default`]: the limits
/// [`super::strip`] applies on the patient's side. See [`decode_for_display_with`].
pub fn decode_for_display(bytes: &[u8]) -> Result<RgbaImage, ImageError> {
    decode_for_display_with(bytes, &ImageLimits::default())
}

/// Decodes a picture (PNG, JPEG, WebP, TIFF or BMP, sniffed from its bytes) under `limits`,
/// applies its EXIF orientation (a stripped picture has none) and converts it to RGBA.
pub fn decode_for_display_with(
    bytes: &[u8],
    limits: &ImageLimits,
) -> Result<RgbaImage, ImageError> {
    if bytes.len() > limits.max_input_bytes {
        return Err(ImageError::InputTooLarge {
            size: bytes.len(),
            max: limits.max_input_bytes,
        });
    }
    let kind = ImageKind::sniff(bytes)?;
    let (mut image, orientation) = decode(bytes, kind, limits)?;
    image.apply_orientation(orientation);
    let rgba = image.into_rgba8();
    Ok(RgbaImage {
        width: rgba.width(),
        height: rgba.height(),
        rgba: rgba.into_raw(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::strip;
    use super::*;

    fn data(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../../tests/data/images/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("test data {path}: {e}"))
    }

    #[test]
    fn a_stripped_picture_decodes_for_display() {
        let stripped = strip(
            &data("camera_gps_serial.jpg"),
            None,
            &ImageLimits::default(),
        )
        .expect("strips");
        let shown = decode_for_display(&stripped.bytes).expect("decodes");
        assert_eq!(
            (shown.width, shown.height),
            (stripped.width, stripped.height)
        );
        assert_eq!(
            shown.rgba.len(),
            shown.width as usize * shown.height as usize * 4
        );
        assert!(format!("{shown:?}").contains("bytes]"));
    }

    #[test]
    fn the_strip_limits_apply() {
        let bytes = data("camera_gps_serial.jpg");
        let small = ImageLimits {
            max_width: 4,
            max_height: 4,
            ..ImageLimits::default()
        };
        assert!(matches!(
            decode_for_display_with(&bytes, &small),
            Err(ImageError::DimensionsTooLarge { .. })
        ));
        let tiny = ImageLimits {
            max_input_bytes: 10,
            ..ImageLimits::default()
        };
        assert!(matches!(
            decode_for_display_with(&bytes, &tiny),
            Err(ImageError::InputTooLarge { .. })
        ));
        assert!(matches!(
            decode_for_display(b"not a picture"),
            Err(ImageError::UnknownFormat)
        ));
        let cut = &bytes[..bytes.len() / 3];
        assert!(decode_for_display(cut).is_err());
    }
}
