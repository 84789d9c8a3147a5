//! A shared picture or scan decoded for the wall display, off the frame loop: a picture
//! through `haven_share::images::decode_for_display` (the limits of stripping), a scan's frame
//! through `haven_share::dicom::display_frame` (values after the Modality LUT, its window,
//! whether text may be burned into it). Nothing larger than a GPU takes reaches the renderer.

use bevy::asset::RenderAssetUsages;
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use haven_proto::bulk::ObjectKind;
use haven_share::dicom::{DicomLimits, FramePixels};

/// A decoded picture: its texture, its window (x centre, y width, z invert, w colour) and how
/// many frames the file has.
pub struct Picture {
    pub(super) image: Image,
    pub(super) window: Vec4,
    pub(super) frames: u32,
    /// What the caption adds (a scan whose pixels may show text).
    pub(super) caution: Option<&'static str>,
}

/// The largest texture side every GPU takes (wgpu's default limit); a bigger picture from a
/// peer is refused rather than handed to the renderer.
const MAX_TEXTURE_SIDE: u32 = 8_192;

/// Frame `frame` of a shared picture, for the display.
pub fn picture(kind: ObjectKind, data: &[u8], frame: u32) -> Option<Picture> {
    let (image, window, frames, caution) = picture_any_size(kind, data, frame)?;
    if image.width() > MAX_TEXTURE_SIDE || image.height() > MAX_TEXTURE_SIDE {
        warn!(
            "a shared picture of {}x{} is too large to show (at most {MAX_TEXTURE_SIDE} a side)",
            image.width(),
            image.height()
        );
        return None;
    }
    Some(Picture {
        image,
        window,
        frames,
        caution,
    })
}

/// A decoded picture: its texture, window, frame count and the caption's caution.
type Decoded = (Image, Vec4, u32, Option<&'static str>);

fn picture_any_size(kind: ObjectKind, data: &[u8], frame: u32) -> Option<Decoded> {
    let usage = RenderAssetUsages::RENDER_WORLD;
    match kind {
        ObjectKind::Image => {
            let decoded = haven_share::images::decode_for_display(data)
                .inspect_err(|e| warn!("a shared image could not be shown: {e}"))
                .ok()?;
            let image = Image::new(
                Extent3d {
                    width: decoded.width,
                    height: decoded.height,
                    depth_or_array_layers: 1,
                },
                TextureDimension::D2,
                decoded.rgba,
                TextureFormat::Rgba8UnormSrgb,
                usage,
            );
            Some((image, Vec4::new(0.0, 0.0, 0.0, 1.0), 1, None))
        }
        ObjectKind::Dicom => {
            let frame = haven_share::dicom::display_frame(data, frame, &DicomLimits::default())
                .inspect_err(|e| warn!("a shared DICOM frame could not be shown: {e}"))
                .ok()?;
            let size = Extent3d {
                width: frame.width,
                height: frame.height,
                depth_or_array_layers: 1,
            };
            match frame.pixels {
                FramePixels::Gray(values) => {
                    let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                    let (centre, width) = frame
                        .window
                        .map_or((0.0, 1.0), |w| (w.center as f32, w.width as f32));
                    let invert = if frame.invert { 1.0 } else { 0.0 };
                    Some((
                        Image::new(
                            size,
                            TextureDimension::D2,
                            bytes,
                            TextureFormat::R32Float,
                            usage,
                        ),
                        Vec4::new(centre, width, invert, 0.0),
                        frame.frames,
                        frame.burned_in.caution_for_clinician(),
                    ))
                }
                FramePixels::Rgb8(rgb) => {
                    let rgba = rgb
                        .chunks_exact(3)
                        .flat_map(|p| [p[0], p[1], p[2], 255])
                        .collect();
                    Some((
                        Image::new(
                            size,
                            TextureDimension::D2,
                            rgba,
                            TextureFormat::Rgba8UnormSrgb,
                            usage,
                        ),
                        Vec4::new(0.0, 0.0, 0.0, 1.0),
                        frame.frames,
                        frame.burned_in.caution_for_clinician(),
                    ))
                }
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use haven_proto::Redacted;

    use super::super::display::caption;
    use super::*;

    #[test]
    fn every_frame_of_a_multi_frame_scan_can_be_shown() {
        let data = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/data/dicom/emri_small.dcm"
        ))
        .expect("test data");
        let first = picture(ObjectKind::Dicom, &data, 0).expect("frame 0");
        assert!(first.frames > 1, "a multi-frame file: {}", first.frames);
        let last = picture(ObjectKind::Dicom, &data, first.frames - 1).expect("the last frame");
        assert_eq!(last.frames, first.frames);
        assert_eq!(
            (last.image.width(), last.image.height()),
            (first.image.width(), first.image.height())
        );
        assert_ne!(
            last.image.data, first.image.data,
            "another frame, other values"
        );
        // Past the end: the last frame, not an error.
        assert_eq!(
            first.caution, None,
            "this file says its pixels carry no text"
        );
        let past = picture(ObjectKind::Dicom, &data, first.frames + 5).expect("clamped");
        assert_eq!(past.image.data, last.image.data);
        // A single picture has one frame.
        let single = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/data/dicom/CT_small.dcm"
        ))
        .expect("test data");
        let ct = picture(ObjectKind::Dicom, &single, 0).expect("CT");
        assert_eq!(ct.frames, 1);
        // It does not say whether text is burned into its pixels: the caption says so.
        assert_eq!(ct.caution, Some("may show text burned into the picture"));
        assert_eq!(
            caption(&Redacted::new("Shared scan".to_owned()), 0, 1, ct.caution).expose(),
            "Shared scan - may show text burned into the picture"
        );
        assert_eq!(
            caption(&Redacted::new("Shared scan".to_owned()), 2, 10, None).expose(),
            "Shared scan  (frame 3 of 10: PageUp/PageDown)"
        );
    }
}
