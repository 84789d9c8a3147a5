//! A frame's values, ready for a texture, and the PS3.3 linear VOI window the display applies
//! to them (the WGSL shader mirrors [`window_linear`]).

use std::fmt;

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

/// A frame for display: its values, the window to start from (the file's, or one spanning
/// the values), whether to invert, and where it sits among the file's frames.
#[derive(Debug, Clone, PartialEq)]
pub struct DisplayFrame {
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// The values.
    pub pixels: FramePixels,
    /// The window to show it with first ([`Frame::default_window`]); `None` for colour.
    pub window: Option<Window>,
    /// MONOCHROME1: low values are white; invert after windowing.
    pub invert: bool,
    /// Which frame this is (0-based, after clamping).
    pub frame: u32,
    /// How many frames the file has (at least 1).
    pub frames: u32,
    /// What the file says about text burned into its pixels.
    pub burned_in: super::BurnedInAnnotation,
}

#[cfg(test)]
mod tests {
    use super::super::tests::open;
    use super::*;

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
}
