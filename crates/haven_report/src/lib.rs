//! The therapy session report: written on the patient's machine at the end of a therapy
//! consult (theirs), and again from its timeline by `haven report`.
//!
//! - `timeline.json` ([`SessionReport`]): the record (scene, intensity, pins, events with
//!   announced or not, ratings with their source, the plan), the steps' figures, the
//!   safe-room spans, the avoidance figures and the gaze heat map.
//! - `fhir-bundle.json` ([`fhir::bundle`]): a FHIR R4 collection Bundle.
//! - `suds-chart.png` and `gaze-heatmap.png` ([`chart`]).
//!
//! An anonymous patient's report carries no identifier: no name, and times relative to the
//! start of the session with only the year absolute (HIPAA Safe Harbor's dates). A named
//! patient's carries their display name and the start's date and time.
//!
//! Health data throughout: nothing here logs, and errors never quote the input.

pub mod chart;
pub mod fhir;

use std::path::{Path, PathBuf};

use haven_scenes::gaze::{Avoidance, HeatMap};
use haven_scenes::ratings::Plan;
use haven_scenes::record::{Record, Stamped, StepFigures, stamped_sane};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The format's name and version, first in `timeline.json`.
pub const FORMAT: &str = "haven-therapy-session/1";
/// The largest `timeline.json` read, bytes.
pub const MAX_TIMELINE_BYTES: u64 = 16 << 20;
/// The files a report is.
pub const FILES: [&str; 4] = [
    "timeline.json",
    "fhir-bundle.json",
    "suds-chart.png",
    "gaze-heatmap.png",
];

/// Who the report is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// An anonymous patient: only the year of the session.
    Anonymous,
    /// A named patient, by the name they gave.
    Named(String),
}

/// `timeline.json`: everything the rest of the report is made from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionReport {
    /// [`FORMAT`].
    pub format: String,
    /// The year the session took place.
    pub year: i32,
    /// When it started, Unix seconds, for a named patient only (an anonymous patient's
    /// report says the year only).
    pub started_unix: Option<u64>,
    /// The patient's name, for a named patient only.
    pub subject: Option<String>,
    /// How long the record runs, ms.
    pub duration_ms: u64,
    /// The ratings plan at the end.
    pub plan: Option<Plan>,
    /// Every entry of the record, in order; times are ms from the start.
    pub entries: Vec<Stamped>,
    /// Each step's figures.
    pub steps: Vec<StepFigures>,
    /// Safe-room spans (from, to), ms.
    pub safe_room: Vec<(u64, u64)>,
    /// Time in the safe room, ms.
    pub safe_room_ms: u64,
    /// Avoidance read from the head pose.
    pub avoidance: Avoidance,
    /// Where the head pointed during scenes.
    pub heat: HeatMap,
}

/// Why a report could not be read or written. Never quotes the input.
#[derive(Debug, Error)]
pub enum ReportError {
    /// Over [`MAX_TIMELINE_BYTES`].
    #[error("the timeline is over {MAX_TIMELINE_BYTES} bytes")]
    TooLarge,
    /// Not a timeline this build reads.
    #[error("not a Haven therapy timeline ({0})")]
    Malformed(&'static str),
    /// An entry out of range, or too many.
    #[error("the timeline has an entry out of range, or too many")]
    OutOfRange,
    /// Reading or writing a file.
    #[error("{what}: {source}")]
    Io {
        /// What was being done (no file names of the patient's: the report's own names).
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The chart could not be drawn.
    #[error("the chart could not be drawn: {0}")]
    Chart(String),
}

/// The latest start a report may name, Unix seconds (the end of the year 9999).
pub const MAX_STARTED: u64 = 253_402_300_799;

/// The civil year of a Unix time (UTC).
pub fn year_of(unix_s: u64) -> i32 {
    let year = haven_share::records::year_of(i64::try_from(unix_s).unwrap_or(i64::MAX));
    i32::try_from(year).unwrap_or(i32::MAX)
}

/// A Unix time as FHIR's instant, UTC.
pub fn instant(unix_s: u64) -> String {
    haven_share::records::format_instant(i64::try_from(unix_s).unwrap_or(i64::MAX))
}

impl SessionReport {
    /// The report of a record that started at `started_unix` and runs `duration_ms`.
    pub fn new(
        record: &Record,
        duration_ms: u64,
        plan: Option<Plan>,
        avoidance: Avoidance,
        heat: HeatMap,
        subject: &Subject,
        started_unix: u64,
    ) -> Self {
        let end = duration_ms.max(record.last_at());
        let (started, subject) = match subject {
            Subject::Anonymous => (None, None),
            Subject::Named(name) => (Some(started_unix.min(MAX_STARTED)), Some(name.clone())),
        };
        Self {
            format: FORMAT.to_owned(),
            year: year_of(started_unix.min(MAX_STARTED)),
            started_unix: started,
            subject,
            duration_ms: end,
            plan,
            entries: record.entries.clone(),
            steps: record.steps(end),
            safe_room: record.safe_spans(end),
            safe_room_ms: record.safe_ms(end),
            avoidance,
            heat,
        }
    }

    /// The record it was made from.
    pub fn record(&self) -> Record {
        Record {
            entries: self.entries.clone(),
        }
    }

    /// Reads `timeline.json`, checked: its format, sizes and every entry's range. The figures
    /// are worked out again from the entries (a file's own figures are not trusted).
    pub fn parse(bytes: &[u8]) -> Result<Self, ReportError> {
        if bytes.len() as u64 > MAX_TIMELINE_BYTES {
            return Err(ReportError::TooLarge);
        }
        let mut report: Self =
            serde_json::from_slice(bytes).map_err(|_| ReportError::Malformed("not its JSON"))?;
        if report.format != FORMAT {
            return Err(ReportError::Malformed("another format or version"));
        }
        if report.started_unix.is_some_and(|s| s > MAX_STARTED) {
            return Err(ReportError::OutOfRange);
        }
        if report.entries.len() > haven_scenes::record::MAX_ENTRIES
            || !report.entries.iter().all(stamped_sane)
            || report.duration_ms > haven_scenes::record::MAX_AT
            || !report.heat.sane()
            || report.plan.is_some_and(|p| !p.sane())
        {
            return Err(ReportError::OutOfRange);
        }
        let record = report.record();
        let end = report.duration_ms.max(record.last_at());
        report.duration_ms = end;
        report.steps = record.steps(end);
        report.safe_room = record.safe_spans(end);
        report.safe_room_ms = record.safe_ms(end);
        Ok(report)
    }

    /// As `timeline.json`.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

/// Reads a `timeline.json` file (at most [`MAX_TIMELINE_BYTES`]).
pub fn read(path: &Path) -> Result<SessionReport, ReportError> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|source| ReportError::Io {
        what: "opening the timeline",
        source,
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_TIMELINE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| ReportError::Io {
            what: "reading the timeline",
            source,
        })?;
    SessionReport::parse(&bytes)
}

/// Writes the four files of a report into `dir` (made if need be), each whole or not at all
/// (written beside and renamed). Returns their paths.
pub fn write(dir: &Path, report: &SessionReport) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        what: "making the report's folder",
        source,
    })?;
    let bundle = fhir::bundle_json(report);
    let chart = chart::suds_chart(report)?.png()?;
    let heat = chart::heat_map(report)?.png()?;
    let mut written = Vec::new();
    for (name, bytes) in FILES.iter().zip([report.to_json(), bundle, chart, heat]) {
        let path = dir.join(name);
        let part = dir.join(format!(".{name}.part"));
        std::fs::write(&part, &bytes)
            .and_then(|()| std::fs::rename(&part, &path))
            .map_err(|source| ReportError::Io {
                what: "writing the report",
                source,
            })?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
pub(crate) mod tests {
    use haven_scenes::SceneId;
    use haven_scenes::player::SafeReason;
    use haven_scenes::ratings::{Prompt, Scale, Source, Why};
    use haven_scenes::record::Entry;

    use super::*;

    /// A session: a prediction (40), heights at 3, SUDS 60 and 45, an unanswered ask, a gust
    /// (announced), the safe room for 10 s, intensity 5, FMS 16, SUDS 30, the end.
    pub(crate) fn session(subject: &Subject) -> SessionReport {
        let mut r = Record::default();
        let mut id = 0;
        let mut rate = |r: &mut Record, at: u64, scale, why, value: Option<u8>, source| {
            id += 1;
            r.push(
                at - 3_000,
                Entry::Asked(Prompt {
                    id,
                    scale,
                    why,
                    asked: at - 3_000,
                }),
            );
            r.push(
                at,
                Entry::Rated {
                    prompt: Some(id),
                    scale,
                    why,
                    value,
                    source,
                },
            );
        };
        let h3 = Why::Prediction {
            scene: SceneId::Heights,
            intensity: 3,
        };
        rate(&mut r, 5_000, Scale::Suds, h3, Some(40), Source::Patient);
        r.push(
            6_000,
            Entry::Started {
                scene: SceneId::Heights,
                intensity: 3,
            },
        );
        rate(
            &mut r,
            60_000,
            Scale::Suds,
            Why::Demand,
            Some(60),
            Source::Patient,
        );
        rate(
            &mut r,
            120_000,
            Scale::Suds,
            Why::Periodic,
            Some(45),
            Source::Therapist,
        );
        rate(
            &mut r,
            150_000,
            Scale::Suds,
            Why::Demand,
            None,
            Source::NoAnswer,
        );
        r.push(
            160_000,
            Entry::Event {
                event: haven_scenes::Event::Gust,
                announced: true,
            },
        );
        r.push(
            170_000,
            Entry::SafeRoom {
                why: SafeReason::Patient,
            },
        );
        r.push(180_000, Entry::LeftSafeRoom);
        r.push(200_000, Entry::Intensity { intensity: 5 });
        rate(
            &mut r,
            230_000,
            Scale::Fms,
            Why::Periodic,
            Some(16),
            Source::Patient,
        );
        r.push(230_000, Entry::SuggestBreak);
        rate(
            &mut r,
            260_000,
            Scale::Suds,
            Why::AfterChange,
            Some(30),
            Source::Patient,
        );
        r.push(280_000, Entry::Ended);
        let mut heat = HeatMap::default();
        heat.cells[18 * haven_scenes::gaze::HEAT_PITCH + 9] = 50;
        heat.cells[20 * haven_scenes::gaze::HEAT_PITCH + 5] = 10;
        SessionReport::new(
            &r,
            290_000,
            Some(Plan::default()),
            Avoidance {
                on_stimulus: Some(0.6),
                look_aways: 2,
                look_away_ms: 9_000,
                looking_down: Some(0.2),
                stimulus_ms: 200_000,
            },
            heat,
            subject,
            // 2026-12-03T14:00:00Z
            1_796_306_400,
        )
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(instant(0), "1970-01-01T00:00:00Z");
        assert_eq!(instant(1_796_306_400), "2026-12-03T14:00:00Z");
        assert_eq!(instant(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(year_of(1_796_306_400), 2026);
    }

    #[test]
    fn the_timeline_reads_back_and_its_figures_are_worked_out_again() {
        let report = session(&Subject::Named("Robin Example".into()));
        let mut back = SessionReport::parse(&report.to_json()).expect("reads back");
        assert_eq!(back, report);
        // A file's figures are not trusted: they are worked out from the entries.
        back.steps.clear();
        back.safe_room_ms = 1;
        let again = SessionReport::parse(&back.to_json()).expect("reads");
        assert_eq!(again.steps, report.steps);
        assert_eq!(again.safe_room_ms, 10_000);
    }

    #[test]
    fn a_hostile_timeline_gets_a_typed_error() {
        let report = session(&Subject::Anonymous);
        let text = String::from_utf8(report.to_json()).expect("utf-8");
        assert!(matches!(
            SessionReport::parse(&text.as_bytes()[..text.len() / 2]),
            Err(ReportError::Malformed(_))
        ));
        let off = text.replacen("\"value\": 60", "\"value\": 61", 1);
        assert!(matches!(
            SessionReport::parse(off.as_bytes()),
            Err(ReportError::OutOfRange)
        ));
        let far = text.replacen(
            "\"started_unix\": null",
            "\"started_unix\": 99999999999999999",
            1,
        );
        assert_ne!(far, text);
        assert!(matches!(
            SessionReport::parse(far.as_bytes()),
            Err(ReportError::OutOfRange)
        ));
        let other = text.replacen(FORMAT, "haven-therapy-session/9", 1);
        assert!(matches!(
            SessionReport::parse(other.as_bytes()),
            Err(ReportError::Malformed(_))
        ));
        assert!(matches!(
            SessionReport::parse(&vec![b' '; (MAX_TIMELINE_BYTES + 1) as usize]),
            Err(ReportError::TooLarge)
        ));
    }
}
