//! Text in the room. Real records are written in curly quotes, dashes, accented names and Greek
//! units, so what a participant shared is drawn in a real font ([`Page`], DejaVu Sans: Latin,
//! Greek, Cyrillic and common punctuation) onto a texture. Labels the app writes itself (button
//! names, "Nothing shared yet") may use the stroke font of gizmos, which is ASCII only ([`ascii`]).

use ab_glyph::{Font as _, FontRef, GlyphId, PxScale, ScaleFont as _, point};
use bevy::asset::RenderAssetUsages;
use bevy::image::{ImageFilterMode, ImageSampler, ImageSamplerDescriptor};
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};

/// At most `max` characters, with "..." when cut.
pub fn clip(line: &str, max: usize) -> String {
    if line.chars().count() <= max {
        line.to_owned()
    } else {
        let mut cut: String = line.chars().take(max.saturating_sub(3)).collect();
        cut.push_str("...");
        cut
    }
}

/// Stroke-font gizmo text draws ASCII only: the common clinical symbols are spelled out, the
/// rest become `?`.
pub fn ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            ' '..='~' => out.push(c),
            'µ' | 'μ' => out.push('u'),
            '°' => out.push_str("deg"),
            '–' | '—' | '−' => out.push('-'),
            '’' | '‘' => out.push('\''),
            '“' | '”' => out.push('"'),
            '≥' => out.push_str(">="),
            '≤' => out.push_str("<="),
            '·' | '•' => out.push('*'),
            '\t' => out.push(' '),
            _ => out.push('?'),
        }
    }
    out
}

/// The font the room's text is drawn in: the same DejaVu Sans the window and the report use
/// (embedded in the binary; these machines have no system fonts).
pub fn font() -> Option<FontRef<'static>> {
    FontRef::try_from_slice(haven_report::chart::FONT).ok()
}

/// The characters of `text` the room's font has no glyph for (control characters aside).
pub fn missing_glyphs(text: &str) -> Vec<char> {
    let Some(font) = font() else {
        return text.chars().collect();
    };
    text.chars()
        .filter(|c| !c.is_control() && font.glyph_id(*c) == GlyphId(0))
        .collect()
}

/// A page of text drawn into a texture: lines top down, left aligned, each clipped to the
/// width with an ellipsis, as many as fit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Page {
    /// The texture's size, pixels.
    pub size: UVec2,
    /// The font's size (em height), pixels.
    pub px: f32,
    /// From one line's baseline to the next, pixels.
    pub line_px: f32,
    /// Blank border, pixels.
    pub margin: f32,
    /// The text's colour (sRGB, straight alpha).
    pub ink: [u8; 4],
    /// The background (sRGB, straight alpha; transparent lets the surface show).
    pub paper: [u8; 4],
    /// Each line centred (else left aligned).
    pub centred: bool,
}

impl Page {
    /// How many lines fit.
    pub fn lines_that_fit(&self) -> usize {
        let usable = self.size.y as f32 - 2.0 * self.margin;
        if usable < self.px {
            0
        } else {
            1 + ((usable - self.px) / self.line_px).floor() as usize
        }
    }

    /// The RGBA pixels (row-major, sRGB) of `lines` on this page.
    pub fn pixels<S: AsRef<str>>(&self, lines: &[S]) -> Vec<u8> {
        let (w, h) = (self.size.x as usize, self.size.y as usize);
        let mut out = Vec::with_capacity(w * h * 4);
        for _ in 0..w * h {
            out.extend_from_slice(&self.paper);
        }
        let Some(font) = font() else {
            return out;
        };
        let scaled = font.as_scaled(PxScale::from(self.px));
        let right = self.size.x as f32 - self.margin;
        let ellipsis = font.glyph_id('…');
        for (i, line) in lines.iter().take(self.lines_that_fit()).enumerate() {
            let baseline = self.margin + scaled.ascent() + i as f32 * self.line_px;
            // Lay out, then cut at the last glyph that leaves room for the ellipsis.
            let mut placed: Vec<(GlyphId, f32)> = Vec::new();
            let mut x = self.margin;
            let mut previous = None;
            for c in line.as_ref().chars().filter(|c| !c.is_control()) {
                let id = font.glyph_id(c);
                if let Some(p) = previous {
                    x += scaled.kern(p, id);
                }
                placed.push((id, x));
                x += scaled.h_advance(id);
                previous = Some(id);
            }
            if x > right {
                let room = right - scaled.h_advance(ellipsis);
                let keep = placed
                    .iter()
                    .position(|(id, at)| at + scaled.h_advance(*id) > room)
                    .unwrap_or(placed.len());
                placed.truncate(keep);
                let at = placed
                    .last()
                    .map_or(self.margin, |(id, at)| at + scaled.h_advance(*id));
                placed.push((ellipsis, at));
                x = at + scaled.h_advance(ellipsis);
            }
            let shift = if self.centred {
                ((right - x) / 2.0).max(0.0)
            } else {
                0.0
            };
            for (id, at) in placed {
                let glyph = id.with_scale_and_position(self.px, point(at + shift, baseline));
                let Some(outline) = font.outline_glyph(glyph) else {
                    continue; // a space
                };
                let bounds = outline.px_bounds();
                outline.draw(|gx, gy, coverage| {
                    let px = bounds.min.x as i64 + i64::from(gx);
                    let py = bounds.min.y as i64 + i64::from(gy);
                    if px < 0 || py < 0 || px >= w as i64 || py >= h as i64 {
                        return;
                    }
                    let at = (py as usize * w + px as usize) * 4;
                    blend(&mut out[at..at + 4], self.ink, coverage.clamp(0.0, 1.0));
                });
            }
        }
        out
    }

    /// `lines` on this page, as a texture with its mipmaps (text seen from across the room
    /// is drawn from a smaller copy, not sampled into broken strokes) and anisotropic
    /// filtering (the board is read at an angle).
    pub fn image<S: AsRef<str>>(&self, lines: &[S]) -> Image {
        let mut image = Image::new(
            Extent3d {
                width: self.size.x,
                height: self.size.y,
                depth_or_array_layers: 1,
            },
            TextureDimension::D2,
            self.pixels(lines),
            TextureFormat::Rgba8UnormSrgb,
            RenderAssetUsages::RENDER_WORLD,
        );
        let (data, levels) = with_mipmaps(image.data.take().unwrap_or_default(), self.size);
        image.data = Some(data);
        image.texture_descriptor.mip_level_count = levels;
        image.sampler = ImageSampler::Descriptor(ImageSamplerDescriptor {
            mag_filter: ImageFilterMode::Linear,
            min_filter: ImageFilterMode::Linear,
            mipmap_filter: ImageFilterMode::Linear,
            anisotropy_clamp: 8,
            ..default()
        });
        image
    }
}

/// `level0` (RGBA8, `size`) followed by each smaller level down to 1×1, each a 2×2 box
/// average of the one before (in premultiplied alpha, so transparent paper does not darken
/// the ink's edges); and how many levels that is.
fn with_mipmaps(level0: Vec<u8>, size: UVec2) -> (Vec<u8>, u32) {
    let mut all = level0;
    let (mut w, mut h) = (size.x as usize, size.y as usize);
    let mut start = 0;
    let mut levels = 1;
    while w > 1 || h > 1 {
        let (nw, nh) = ((w / 2).max(1), (h / 2).max(1));
        let mut next = Vec::with_capacity(nw * nh * 4);
        for y in 0..nh {
            for x in 0..nw {
                let mut sum = [0.0f32; 4];
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let (sx, sy) = ((2 * x + dx).min(w - 1), (2 * y + dy).min(h - 1));
                    let p = &all[start + (sy * w + sx) * 4..][..4];
                    let a = f32::from(p[3]) / 255.0;
                    for k in 0..3 {
                        sum[k] += f32::from(p[k]) * a;
                    }
                    sum[3] += a;
                }
                let a = sum[3] / 4.0;
                for k in 0..3 {
                    let c = if sum[3] > 0.0 { sum[k] / sum[3] } else { 0.0 };
                    next.push(c.round().clamp(0.0, 255.0) as u8);
                }
                next.push((a * 255.0).round().clamp(0.0, 255.0) as u8);
            }
        }
        start = all.len();
        all.extend_from_slice(&next);
        (w, h) = (nw, nh);
        levels += 1;
    }
    (all, levels)
}

/// `ink` over `pixel` with `coverage` (straight alpha; good enough in sRGB for text).
fn blend(pixel: &mut [u8], ink: [u8; 4], coverage: f32) {
    let a = coverage * f32::from(ink[3]) / 255.0;
    let under = f32::from(pixel[3]) / 255.0;
    let out_a = a + under * (1.0 - a);
    for k in 0..3 {
        let mixed = if out_a > 0.0 {
            (f32::from(ink[k]) * a + f32::from(pixel[k]) * under * (1.0 - a)) / out_a
        } else {
            0.0
        };
        pixel[k] = mixed.round().clamp(0.0, 255.0) as u8;
    }
    pixel[3] = (out_a * 255.0).round().clamp(0.0, 255.0) as u8;
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: Page = Page {
        size: UVec2::new(400, 120),
        px: 20.0,
        line_px: 26.0,
        margin: 6.0,
        ink: [0, 0, 0, 255],
        paper: [255, 255, 255, 0],
        centred: false,
    };

    /// Inked pixels in the band of line `i`, between columns `from` and `to`.
    fn ink_in(pixels: &[u8], page: &Page, i: usize, from: u32, to: u32) -> usize {
        let top = (page.margin + i as f32 * page.line_px) as u32;
        let bottom = (top + page.line_px as u32).min(page.size.y);
        (top..bottom)
            .flat_map(|y| (from..to).map(move |x| (x, y)))
            .filter(|(x, y)| pixels[((y * page.size.x + x) * 4 + 3) as usize] > 128)
            .count()
    }

    /// Every character of the demo's records and of a multilingual fixture has a glyph in the
    /// font the room draws shared text in, and drawing such a line puts ink where its letters
    /// are, none past the right margin when it is too long (it ends in an ellipsis).
    #[test]
    fn records_are_drawn_in_a_font_that_has_their_characters() {
        let sample = include_str!("../../../assets/demo/patient-summary.json");
        let fixture = "Doesn’t leave the house much… “Müller”, Zoë, Ångström, Łódź, \
                       François — 5 µg/L, 37 °C, ±2 %, Δ, Ω, α-blocker, Иванов Пётр, \
                       ‘quoted’ – ≤ ≥ × ÷ € £ ¼ ½ № ™";
        let missing = missing_glyphs(&format!("{sample}{fixture}"));
        assert!(missing.is_empty(), "no glyph for {missing:?}");
        assert_eq!(missing_glyphs("漢"), vec!['漢'], "the check can fail");
        // The board's own marks (tick boxes, paging, warnings) are in it too.
        assert_eq!(missing_glyphs("☐☑▲▼⚠…"), Vec::<char>::new());

        let pixels = PAGE.pixels(&["’µΔ Пётр", "", &"long line ".repeat(20)]);
        assert!(
            ink_in(&pixels, &PAGE, 0, 0, 120) > 60,
            "the first line is drawn"
        );
        assert_eq!(
            ink_in(&pixels, &PAGE, 1, 0, 400),
            0,
            "an empty line stays blank"
        );
        assert!(
            ink_in(&pixels, &PAGE, 2, 300, 394) > 20,
            "a long line reaches the edge"
        );
        assert_eq!(
            ink_in(&pixels, &PAGE, 2, 395, 400),
            0,
            "and is cut before the margin"
        );
        // A character without a glyph would draw the box; the curly apostrophe is not one.
        let apostrophe = PAGE.pixels(&["’"]);
        let boxed = PAGE.pixels(&["漢"]);
        assert!(
            ink_in(&apostrophe, &PAGE, 0, 0, 40) * 3 < ink_in(&boxed, &PAGE, 0, 0, 40),
            "a tick is much less ink than a missing-glyph box"
        );
        assert_eq!(PAGE.lines_that_fit(), 4);
        // Its mipmaps go down to one pixel, and a smaller level still holds the ink.
        let image = PAGE.image(&["’µΔ Пётр"]);
        let levels = image.texture_descriptor.mip_level_count;
        assert_eq!(levels, 9, "400×120 down to 1×1");
        let data = image.data.expect("pixels");
        let level1 = &data[400 * 120 * 4..][..200 * 60 * 4];
        assert!(level1.chunks(4).filter(|p| p[3] > 64).count() > 15);
    }
}
