//! The report's pictures, drawn by plotters into memory (its bitmap backend, with DejaVu Sans
//! embedded: these machines have no system fonts) and encoded as PNG by `image`.
//!
//! - [`suds_chart`]: above, SUDS over the session (0–100; predictions as triangles, a rating
//!   asked with no answer as a grey cross at the top, never at 0), the intensity as a step
//!   line on its own axis (0–10), each event as a tick from the top, safe-room spans shaded;
//!   below, apart, FMS (0–20) with its break line at 15.
//! - [`heat_map`]: where the head pointed during scenes, yaw by pitch.

use std::sync::Once;

use haven_scenes::gaze::{HEAT_PITCH, HEAT_YAW};
use haven_scenes::ratings::{FMS_BREAK, Scale, Why};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::{ReportError, SessionReport};

/// DejaVu Sans (Bitstream Vera licence, with DejaVu's changes in the public domain: see
/// `assets/README.md`): Latin, Greek, Cyrillic and the common punctuation. The one font
/// Haven embeds: the charts draw with it, and the room's window writes its panels in it.
pub const FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// SUDS.
pub const SUDS: RGBColor = RGBColor(31, 100, 200);
/// A prediction.
pub const PREDICTION: RGBColor = RGBColor(235, 140, 20);
/// The intensity.
pub const INTENSITY: RGBColor = RGBColor(40, 150, 80);
/// An event's tick.
pub const EVENT: RGBColor = RGBColor(150, 60, 170);
/// The safe room's shade.
pub const SAFE: RGBColor = RGBColor(205, 236, 226);
/// FMS.
pub const FMS: RGBColor = RGBColor(210, 45, 45);
/// No answer.
pub const NO_ANSWER: RGBColor = RGBColor(140, 140, 140);

fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // An embedded font that does not load is a build defect: the tests draw text.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Where a plot's data lands in the picture.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlotMap {
    /// Pixel columns of the plot area (left, right).
    pub x_px: (i32, i32),
    /// Pixel rows (top, bottom).
    pub y_px: (i32, i32),
    /// Data range along x.
    pub x: (f64, f64),
    /// Data range along y.
    pub y: (f64, f64),
}

impl PlotMap {
    fn of<X, Y>(
        area: &DrawingArea<BitMapBackend<'_>, Cartesian2d<X, Y>>,
        x: (f64, f64),
        y: (f64, f64),
    ) -> Self
    where
        X: Ranged<ValueType = f64>,
        Y: Ranged<ValueType = f64>,
    {
        let (xs, ys) = area.get_pixel_range();
        Self {
            x_px: (xs.start, xs.end),
            y_px: (ys.start, ys.end),
            x,
            y,
        }
    }

    /// The pixel of a data point.
    pub fn pixel(&self, x: f64, y: f64) -> (i32, i32) {
        let fx = (x - self.x.0) / (self.x.1 - self.x.0);
        let fy = (y - self.y.0) / (self.y.1 - self.y.0);
        (
            self.x_px.0 + (fx * f64::from(self.x_px.1 - self.x_px.0)) as i32,
            self.y_px.1 - (fy * f64::from(self.y_px.1 - self.y_px.0)) as i32,
        )
    }
}

/// A picture in memory.
#[derive(Clone, Debug)]
pub struct Picture {
    /// Width, px.
    pub width: u32,
    /// Height, px.
    pub height: u32,
    /// RGB, row by row.
    pub rgb: Vec<u8>,
    /// The main plot's mapping.
    pub plot: PlotMap,
    /// The lower plot's (FMS), when there is one.
    pub lower: Option<PlotMap>,
}

impl Picture {
    /// The colour at a pixel.
    pub fn at(&self, x: i32, y: i32) -> Option<[u8; 3]> {
        let (x, y) = (u32::try_from(x).ok()?, u32::try_from(y).ok()?);
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = ((y * self.width + x) * 3) as usize;
        Some([self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]])
    }

    /// Whether `colour` is within `r` px of `(x, y)`.
    pub fn near(&self, (x, y): (i32, i32), r: i32, colour: RGBColor) -> bool {
        (-r..=r).any(|dy| {
            (-r..=r).any(|dx| self.at(x + dx, y + dy) == Some([colour.0, colour.1, colour.2]))
        })
    }

    /// As PNG.
    pub fn png(&self) -> Result<Vec<u8>, ReportError> {
        let image = image::RgbImage::from_raw(self.width, self.height, self.rgb.clone())
            .ok_or_else(|| ReportError::Chart("the buffer is not the picture's size".into()))?;
        let mut out = std::io::Cursor::new(Vec::new());
        image
            .write_to(&mut out, image::ImageFormat::Png)
            .map_err(|e| ReportError::Chart(e.to_string()))?;
        Ok(out.into_inner())
    }
}

fn err<E: std::fmt::Display>(e: E) -> ReportError {
    ReportError::Chart(e.to_string())
}

/// The SUDS chart (see the [module](self)).
pub fn suds_chart(report: &SessionReport) -> Result<Picture, ReportError> {
    fonts();
    let (width, height) = (960u32, 620u32);
    let mut rgb = vec![255u8; (width * height * 3) as usize];
    // The session and a little room after it (at least half a minute across).
    let minutes = (report.duration_ms as f64 / 60_000.0 * 1.04).max(0.5);
    let m = |ms: u64| ms as f64 / 60_000.0;
    let record = report.record();
    let ratings = record.ratings();
    let (plot, lower) = {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (top, bottom) = root.split_vertically(440);
        let mut chart = ChartBuilder::on(&top)
            .caption(
                "Distress (SUDS) and intensity over the session",
                ("sans-serif", 22),
            )
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(52)
            .right_y_label_area_size(52)
            .build_cartesian_2d(0f64..minutes, 0f64..100f64)
            .map_err(err)?
            .set_secondary_coord(0f64..minutes, 0f64..10f64);
        chart
            .configure_mesh()
            .x_desc("minutes from the start")
            .y_desc("SUDS (0-100)")
            .light_line_style(WHITE)
            .draw()
            .map_err(err)?;
        chart
            .configure_secondary_axes()
            .y_desc("intensity (0-10)")
            .draw()
            .map_err(err)?;
        chart
            .draw_series(
                report
                    .safe_room
                    .iter()
                    .map(|(a, b)| Rectangle::new([(m(*a), 0.0), (m(*b), 100.0)], SAFE.filled())),
            )
            .map_err(err)?
            .label("safe room")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], SAFE.filled()));
        // The intensity: a step line per scene, nothing in the consult room.
        let mut segments: Vec<Vec<(f64, f64)>> = Vec::new();
        for (at, level) in record.intensity() {
            match (level, segments.last_mut()) {
                (Some((_, i)), Some(seg)) if !seg.is_empty() => {
                    let last = seg.last().map_or(0.0, |p| p.1);
                    seg.push((m(at), last));
                    seg.push((m(at), f64::from(i)));
                }
                (Some((_, i)), _) => segments.push(vec![(m(at), f64::from(i))]),
                (None, Some(seg)) => {
                    let last = seg.last().map_or(0.0, |p| p.1);
                    seg.push((m(at), last));
                    segments.push(Vec::new());
                }
                (None, None) => {}
            }
        }
        if let Some(seg) = segments.last_mut()
            && let Some(&(_, last)) = seg.last()
        {
            seg.push((m(report.duration_ms), last));
        }
        for (i, seg) in segments.into_iter().filter(|s| !s.is_empty()).enumerate() {
            let series = chart
                .draw_secondary_series(LineSeries::new(seg, INTENSITY.stroke_width(3)))
                .map_err(err)?;
            if i == 0 {
                series.label("intensity").legend(|(x, y)| {
                    PathElement::new([(x, y), (x + 16, y)], INTENSITY.stroke_width(3))
                });
            }
        }
        // Events: a tick down from the top.
        chart
            .draw_series(record.events().into_iter().map(|(at, _, _)| {
                PathElement::new([(m(at), 100.0), (m(at), 90.0)], EVENT.stroke_width(3))
            }))
            .map_err(err)?
            .label("event")
            .legend(|(x, y)| {
                PathElement::new([(x + 8, y - 6), (x + 8, y + 6)], EVENT.stroke_width(3))
            });
        let suds: Vec<(f64, f64)> = ratings
            .iter()
            .filter(|r| r.scale == Scale::Suds && !matches!(r.why, Why::Prediction { .. }))
            .filter_map(|r| r.value.map(|v| (m(r.at), f64::from(v))))
            .collect();
        chart
            .draw_series(LineSeries::new(suds.clone(), SUDS.stroke_width(3)))
            .map_err(err)?
            .label("SUDS")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], SUDS.stroke_width(3)));
        chart
            .draw_series(suds.iter().map(|p| Circle::new(*p, 5, SUDS.filled())))
            .map_err(err)?;
        chart
            .draw_series(
                ratings
                    .iter()
                    .filter(|r| matches!(r.why, Why::Prediction { .. }))
                    .filter_map(|r| {
                        r.value.map(|v| {
                            TriangleMarker::new((m(r.at), f64::from(v)), 8, PREDICTION.filled())
                        })
                    }),
            )
            .map_err(err)?
            .label("predicted")
            .legend(|(x, y)| TriangleMarker::new((x + 8, y), 6, PREDICTION.filled()));
        chart
            .draw_series(
                ratings
                    .iter()
                    .filter(|r| r.value.is_none() && r.scale == Scale::Suds)
                    .map(|r| Cross::new((m(r.at), 96.0), 6, NO_ANSWER.stroke_width(2))),
            )
            .map_err(err)?
            .label("no answer")
            .legend(|(x, y)| Cross::new((x + 8, y), 5, NO_ANSWER.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(err)?;
        let plot = PlotMap::of(chart.plotting_area(), (0.0, minutes), (0.0, 100.0));
        let lower = fms_panel(&bottom, report, minutes)?;
        root.present().map_err(err)?;
        (plot, lower)
    };
    Ok(Picture {
        width,
        height,
        rgb,
        plot,
        lower: Some(lower),
    })
}

fn fms_panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    report: &SessionReport,
    minutes: f64,
) -> Result<PlotMap, ReportError> {
    let m = |ms: u64| ms as f64 / 60_000.0;
    let mut chart = ChartBuilder::on(area)
        .caption(
            "Motion sickness (FMS), apart from distress",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(52)
        .right_y_label_area_size(52)
        .build_cartesian_2d(0f64..minutes, 0f64..20f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .y_desc("FMS (0-20)")
        .y_labels(5)
        .light_line_style(WHITE)
        .draw()
        .map_err(err)?;
    let line = f64::from(FMS_BREAK);
    chart
        .draw_series(LineSeries::new(
            [(0.0, line), (minutes, line)],
            RGBColor(190, 190, 190).stroke_width(1),
        ))
        .map_err(err)?;
    let fms: Vec<(f64, f64)> = report
        .record()
        .ratings()
        .iter()
        .filter(|r| r.scale == Scale::Fms)
        .filter_map(|r| r.value.map(|v| (m(r.at), f64::from(v))))
        .collect();
    chart
        .draw_series(LineSeries::new(fms.clone(), FMS.stroke_width(3)))
        .map_err(err)?;
    chart
        .draw_series(fms.iter().map(|p| Circle::new(*p, 5, FMS.filled())))
        .map_err(err)?;
    Ok(PlotMap::of(
        chart.plotting_area(),
        (0.0, minutes),
        (0.0, 20.0),
    ))
}

/// A count's colour on the heat map: white for none, then pale yellow to dark red.
pub fn heat_colour(count: u32, max: u32) -> RGBColor {
    if count == 0 || max == 0 {
        return WHITE;
    }
    let t = (f64::from(count) / f64::from(max)).clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(lerp(255.0, 150.0), lerp(230.0, 10.0), lerp(140.0, 30.0))
}

/// The gaze heat map (see the [module](self)).
pub fn heat_map(report: &SessionReport) -> Result<Picture, ReportError> {
    fonts();
    let (width, height) = (880u32, 520u32);
    let mut rgb = vec![255u8; (width * height * 3) as usize];
    let max = report.heat.cells.iter().copied().max().unwrap_or(0);
    let plot = {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Where the head pointed during scenes (the head, not the eyes)",
                ("sans-serif", 20),
            )
            .margin(14)
            .x_label_area_size(36)
            .y_label_area_size(52)
            .build_cartesian_2d(-180f64..180f64, -90f64..90f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("degrees to the left (+) or right (-) of ahead")
            .y_desc("degrees up (+) or down (-)")
            .disable_mesh()
            .draw()
            .map_err(err)?;
        let cells = (0..HEAT_YAW).flat_map(|y| (0..HEAT_PITCH).map(move |p| (y, p)));
        chart
            .draw_series(cells.map(|(y, p)| {
                let x0 = -180.0 + 10.0 * y as f64;
                let y0 = -90.0 + 10.0 * p as f64;
                Rectangle::new(
                    [(x0, y0), (x0 + 10.0, y0 + 10.0)],
                    heat_colour(report.heat.at(y, p), max).filled(),
                )
            }))
            .map_err(err)?;
        chart
            .draw_series([
                PathElement::new([(-180.0, 0.0), (180.0, 0.0)], RGBColor(170, 170, 170)),
                PathElement::new([(0.0, -90.0), (0.0, 90.0)], RGBColor(170, 170, 170)),
            ])
            .map_err(err)?;
        let plot = PlotMap::of(chart.plotting_area(), (-180.0, 180.0), (-90.0, 90.0));
        // The scale: one sample is a tenth of a second.
        let seconds = f64::from(max) * haven_scenes::gaze::SAMPLE_MS as f64 / 1000.0;
        let (x, y) = (plot.x_px.1 - 330, plot.y_px.0 + 8);
        for (i, count) in [max / 4, max / 2, max].into_iter().enumerate() {
            let x0 = x + 40 * i as i32;
            root.draw(&Rectangle::new(
                [(x0, y), (x0 + 30, y + 14)],
                heat_colour(count.max(1), max.max(1)).filled(),
            ))
            .map_err(err)?;
        }
        root.draw(&Text::new(
            format!("brief ... {seconds:.1} s in one 10° cell"),
            (x + 124, y),
            ("sans-serif", 14),
        ))
        .map_err(err)?;
        root.present().map_err(err)?;
        plot
    };
    Ok(Picture {
        width,
        height,
        rgb,
        plot,
        lower: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Subject;
    use crate::tests::session;

    /// Each series' colour is where the data says: SUDS 60 at 1 min, 45 at 2 min and 30 at
    /// 4.33 min; the prediction 40 at 5 s; the intensity at 3 (30 on the SUDS axis) at 1.5
    /// min and at 5 at 4 min; the gust's tick at 2.67 min; the safe room's shade at 2.92
    /// min; FMS 16 at 3.83 min below; and no SUDS dot at 2.5 min, where no answer came.
    #[test]
    fn the_chart_has_each_series_where_the_data_puts_it() {
        let report = session(&Subject::Anonymous);
        let chart = suds_chart(&report).expect("drawn");
        let p = chart.plot;
        let m = |ms: f64| ms / 60_000.0;
        assert!(chart.near(p.pixel(m(60_000.0), 60.0), 3, SUDS));
        assert!(chart.near(p.pixel(m(120_000.0), 45.0), 3, SUDS));
        assert!(chart.near(p.pixel(m(260_000.0), 30.0), 3, SUDS));
        assert!(
            !chart.near(p.pixel(m(150_000.0), 0.0), 4, SUDS),
            "no answer is not 0"
        );
        assert!(chart.near(p.pixel(m(150_000.0), 96.0), 4, NO_ANSWER));
        assert!(chart.near(p.pixel(m(5_000.0), 40.0), 4, PREDICTION));
        assert!(chart.near(p.pixel(m(90_000.0), 30.0), 2, INTENSITY));
        assert!(chart.near(p.pixel(m(240_000.0), 50.0), 2, INTENSITY));
        assert!(!chart.near(p.pixel(m(90_000.0), 50.0), 3, INTENSITY));
        assert!(chart.near(p.pixel(m(160_000.0), 95.0), 2, EVENT));
        assert!(chart.near(p.pixel(m(175_000.0), 70.0), 1, SAFE));
        assert!(!chart.near(p.pixel(m(100_000.0), 70.0), 3, SAFE));
        let lower = chart.lower.expect("the FMS panel");
        assert!(chart.near(lower.pixel(m(230_000.0), 16.0), 3, FMS));
        assert!(
            !chart.near(p.pixel(m(230_000.0), 80.0), 6, FMS),
            "FMS is not on the SUDS plot"
        );
        let png = chart.png().expect("png");
        assert_eq!(&png[1..4], b"PNG");
        // Text was drawn (the embedded font loaded): dark pixels above the plot.
        let caption = (0..p.y_px.0)
            .flat_map(|y| (0..chart.width as i32).map(move |x| (x, y)))
            .filter(|&(x, y)| chart.at(x, y).is_some_and(|c| c.iter().all(|v| *v < 80)))
            .count();
        assert!(caption > 200, "{caption} dark caption pixels");
    }

    #[test]
    fn the_heat_map_is_hottest_where_the_head_pointed_most() {
        let report = session(&Subject::Anonymous);
        let map = heat_map(&report).expect("drawn");
        // 50 samples in the cell at yaw 0..10, pitch 0..10; 10 at yaw 20..30, pitch -40..-30.
        assert!(map.near(map.plot.pixel(5.0, 5.0), 1, heat_colour(50, 50)));
        assert!(map.near(map.plot.pixel(25.0, -35.0), 1, heat_colour(10, 50)));
        assert!(map.near(map.plot.pixel(-100.0, 50.0), 1, WHITE));
    }
}
