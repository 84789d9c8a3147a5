//! The session record: what happened in a therapy consult, in order, on the patient's clock
//! (ms since the consult's record began). The patient's app writes it
//! ([`crate::therapy::Therapy`]) and sends each entry to the therapists as it is written, so
//! both sides hold the same timeline. From it: the steps and their figures (predicted vs
//! peak SUDS, the drop from the peak, time at the step), the safe-room spans, and the series
//! a chart draws.
//!
//! Patient data: the ratings are health data. Nothing here is logged.

use serde::{Deserialize, Serialize};

use crate::catalog::{Event, Param, SceneId};
use crate::player::SafeReason;
use crate::ratings::{Plan, Prompt, Scale, Source, Why};

/// One thing that happened.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Entry {
    /// A scene started at an intensity (a step begins).
    Started {
        /// Which.
        scene: SceneId,
        /// At.
        intensity: u8,
    },
    /// The intensity changed (a step begins).
    Intensity {
        /// 0–10.
        intensity: u8,
    },
    /// A parameter pinned at a value (`Some`) or let follow the intensity again (`None`).
    Pinned {
        /// Which.
        param: Param,
        /// Its value.
        value: Option<f32>,
    },
    /// An event happened.
    Event {
        /// What.
        event: Event,
        /// It had a cue 3 s before.
        announced: bool,
    },
    /// The patient went to the safe room.
    SafeRoom {
        /// Why.
        why: SafeReason,
    },
    /// The patient left the safe room.
    LeftSafeRoom,
    /// The scene ended.
    Ended,
    /// A rating was asked.
    Asked(Prompt),
    /// A rating came back (or did not: `value` is `None` for no answer, never 0).
    Rated {
        /// The prompt it answers (`None`: a therapist's entry nothing asked for).
        prompt: Option<u32>,
        /// Which scale.
        scale: Scale,
        /// Why it was asked.
        why: Why,
        /// The value.
        value: Option<u8>,
        /// Who gave it.
        source: Source,
    },
    /// The ratings plan changed.
    Plan(Plan),
    /// Sickness at or above the threshold: the console suggests a break.
    SuggestBreak,
}

impl Entry {
    /// Its kind, for logs (never its values).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Started { .. } => "started",
            Self::Intensity { .. } => "intensity",
            Self::Pinned { .. } => "pinned",
            Self::Event { .. } => "event",
            Self::SafeRoom { .. } => "safe room",
            Self::LeftSafeRoom => "left the safe room",
            Self::Ended => "ended",
            Self::Asked(_) => "asked",
            Self::Rated { .. } => "rated",
            Self::Plan(_) => "plan",
            Self::SuggestBreak => "suggest a break",
        }
    }
}

/// An entry and when, ms since the record began.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stamped {
    /// When.
    pub at: u64,
    /// What.
    pub entry: Entry,
}

/// One rating, as the chart and the report list them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rating {
    /// When it came back (or the wait ran out), ms.
    pub at: u64,
    /// When it was asked, ms (`at` for a therapist's entry nothing asked for).
    pub asked: u64,
    /// Which scale.
    pub scale: Scale,
    /// Why.
    pub why: Why,
    /// The value (`None`: no answer).
    pub value: Option<u8>,
    /// Who gave it.
    pub source: Source,
}

/// One step: a scene at one intensity, from when it began to the next step or the end.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepFigures {
    /// The scene.
    pub scene: SceneId,
    /// The intensity.
    pub intensity: u8,
    /// When it began, ms.
    pub start: u64,
    /// When it ended, ms.
    pub end: u64,
    /// How bad the patient expected it to be (the last prediction for this scene and
    /// intensity asked before it began).
    pub predicted: Option<u8>,
    /// The highest SUDS during it.
    pub peak: Option<u8>,
    /// The last SUDS during it.
    pub last: Option<u8>,
    /// Peak minus predicted: above 0 it was worse than expected, below better (expectancy
    /// violation).
    pub violation: Option<i16>,
    /// Peak minus last: how far distress came down during the step.
    pub drop: Option<i16>,
    /// Whether the last SUDS is at or under half the peak (a hint, never a rule).
    pub half_of_peak: Option<bool>,
    /// Time in the safe room during the step, ms.
    pub safe_ms: u64,
}

/// The record: entries in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Every entry, oldest first.
    pub entries: Vec<Stamped>,
}

impl Record {
    /// Appends an entry (a therapist's copy appends what the patient's app sent, in order).
    pub fn push(&mut self, at: u64, entry: Entry) {
        self.entries.push(Stamped { at, entry });
    }

    /// The time of the last entry (0 when empty).
    pub fn last_at(&self) -> u64 {
        self.entries.last().map_or(0, |s| s.at)
    }

    /// Every rating that came back (or ran out), with when it was asked.
    pub fn ratings(&self) -> Vec<Rating> {
        let asked: std::collections::HashMap<u32, u64> = self
            .entries
            .iter()
            .filter_map(|s| match s.entry {
                Entry::Asked(p) => Some((p.id, p.asked)),
                _ => None,
            })
            .collect();
        self.entries
            .iter()
            .filter_map(|s| match s.entry {
                Entry::Rated {
                    prompt,
                    scale,
                    why,
                    value,
                    source,
                } => Some(Rating {
                    at: s.at,
                    asked: prompt
                        .and_then(|id| asked.get(&id).copied())
                        .map_or(s.at, |a| a.min(s.at)),
                    scale,
                    why,
                    value,
                    source,
                }),
                _ => None,
            })
            .collect()
    }

    /// The prompt with this id.
    pub fn asked(&self, id: u32) -> Option<Prompt> {
        self.entries.iter().find_map(|s| match s.entry {
            Entry::Asked(p) if p.id == id => Some(p),
            _ => None,
        })
    }

    /// Prompts asked and not yet answered (nor run out).
    pub fn open(&self) -> Vec<Prompt> {
        let answered: std::collections::HashSet<u32> = self
            .entries
            .iter()
            .filter_map(|s| match s.entry {
                Entry::Rated { prompt, .. } => prompt,
                _ => None,
            })
            .collect();
        self.entries
            .iter()
            .filter_map(|s| match s.entry {
                Entry::Asked(p) if !answered.contains(&p.id) => Some(p),
                _ => None,
            })
            .collect()
    }

    /// The intensity over time: (from, scene, intensity) at each step, and `None` from each
    /// end (the consult room).
    pub fn intensity(&self) -> Vec<(u64, Option<(SceneId, u8)>)> {
        let mut out = Vec::new();
        let mut scene = None;
        for s in &self.entries {
            match s.entry {
                Entry::Started {
                    scene: sc,
                    intensity,
                } => {
                    scene = Some(sc);
                    out.push((s.at, Some((sc, intensity))));
                }
                Entry::Intensity { intensity } => {
                    if let Some(sc) = scene {
                        out.push((s.at, Some((sc, intensity))));
                    }
                }
                Entry::Ended => {
                    scene = None;
                    out.push((s.at, None));
                }
                _ => {}
            }
        }
        out
    }

    /// The safe-room spans (from, to); one still open ends at `end`.
    pub fn safe_spans(&self, end: u64) -> Vec<(u64, u64)> {
        let mut spans = Vec::new();
        let mut since = None;
        for s in &self.entries {
            match s.entry {
                Entry::SafeRoom { .. } => {
                    since.get_or_insert(s.at);
                }
                Entry::LeftSafeRoom | Entry::Ended => {
                    if let Some(from) = since.take() {
                        spans.push((from, s.at.max(from)));
                    }
                }
                _ => {}
            }
        }
        if let Some(from) = since {
            spans.push((from, end.max(from)));
        }
        spans
    }

    /// Time in the safe room, ms (one span still open ends at `end`).
    pub fn safe_ms(&self, end: u64) -> u64 {
        self.safe_spans(end)
            .iter()
            .map(|(a, b)| b.saturating_sub(*a))
            .sum()
    }

    /// The events, in order: (when, what, announced).
    pub fn events(&self) -> Vec<(u64, Event, bool)> {
        self.entries
            .iter()
            .filter_map(|s| match s.entry {
                Entry::Event { event, announced } => Some((s.at, event, announced)),
                _ => None,
            })
            .collect()
    }

    /// Each step's figures; a step still under way ends at `end`.
    pub fn steps(&self, end: u64) -> Vec<StepFigures> {
        let marks = self.intensity();
        let ratings = self.ratings();
        let spans = self.safe_spans(end);
        let mut steps = Vec::new();
        for (i, (start, at)) in marks.iter().enumerate() {
            let Some((scene, intensity)) = *at else {
                continue;
            };
            let stop = marks.get(i + 1).map_or(end, |(t, _)| *t).max(*start);
            // The prediction: asked for this scene and intensity, after the previous step began.
            let since = if i == 0 { 0 } else { marks[i - 1].0 };
            let predicted = ratings
                .iter()
                .filter(|r| {
                    r.why == Why::Prediction { scene, intensity }
                        && r.asked >= since
                        && r.asked <= *start
                })
                .filter_map(|r| r.value)
                .next_back();
            // A rating belongs to the step it was asked in; the closing one, asked as the
            // scene ended, to the step that ended.
            let during: Vec<u8> = ratings
                .iter()
                .filter(|r| {
                    r.scale == Scale::Suds
                        && !matches!(r.why, Why::Prediction { .. })
                        && ((r.asked >= *start && r.asked < stop)
                            || (r.why == Why::End && r.asked == stop))
                })
                .filter_map(|r| r.value)
                .collect();
            let peak = during.iter().copied().max();
            let last = during.last().copied();
            let safe_ms = spans
                .iter()
                .map(|(a, b)| (*b).min(stop).saturating_sub((*a).max(*start)))
                .sum();
            steps.push(StepFigures {
                scene,
                intensity,
                start: *start,
                end: stop,
                predicted,
                peak,
                last,
                violation: peak
                    .zip(predicted)
                    .map(|(p, e)| i16::from(p) - i16::from(e)),
                drop: peak.zip(last).map(|(p, l)| i16::from(p) - i16::from(l)),
                half_of_peak: peak
                    .zip(last)
                    .map(|(p, l)| u16::from(l) * 2 <= u16::from(p)),
                safe_ms,
            });
        }
        steps
    }
}

/// The longest record a peer may send (entries).
pub const MAX_ENTRIES: usize = 20_000;
/// The latest time an entry may carry, ms (about 35 years: no overflow when times are added).
pub const MAX_AT: u64 = 1 << 40;

/// A stamped entry a receiver can keep: [`entry_sane`], and times within [`MAX_AT`] (a
/// prompt asked no later than it is stamped).
pub fn stamped_sane(stamped: &Stamped) -> bool {
    stamped.at <= MAX_AT
        && entry_sane(&stamped.entry)
        && match stamped.entry {
            Entry::Asked(p) => p.asked <= stamped.at,
            _ => true,
        }
}

/// An entry a receiver can keep: values on their scales, finite numbers.
pub fn entry_sane(entry: &Entry) -> bool {
    match *entry {
        Entry::Started { intensity, .. } | Entry::Intensity { intensity } => {
            intensity <= crate::catalog::MAX_INTENSITY
        }
        Entry::Pinned { value, .. } => value.is_none_or(f32::is_finite),
        Entry::Asked(p) => why_sane(p.why),
        Entry::Rated {
            scale, value, why, ..
        } => value.is_none_or(|v| scale.accepts(v)) && why_sane(why),
        Entry::Plan(plan) => plan.sane(),
        Entry::Event { .. }
        | Entry::SafeRoom { .. }
        | Entry::LeftSafeRoom
        | Entry::Ended
        | Entry::SuggestBreak => true,
    }
}

fn why_sane(why: Why) -> bool {
    match why {
        Why::Prediction { intensity, .. } => intensity <= crate::catalog::MAX_INTENSITY,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rated(record: &mut Record, at: u64, id: u32, why: Why, value: Option<u8>) {
        record.push(
            at,
            Entry::Asked(Prompt {
                id,
                scale: Scale::Suds,
                why,
                asked: at.saturating_sub(2_000),
            }),
        );
        record.push(
            at,
            Entry::Rated {
                prompt: Some(id),
                scale: Scale::Suds,
                why,
                value,
                source: if value.is_some() {
                    Source::Patient
                } else {
                    Source::NoAnswer
                },
            },
        );
    }

    /// A fixed timeline: prediction 40, then heights 3 from 10 s with SUDS 60 (peak), 45,
    /// 30; a safe-room visit of 5 s; intensity 5 at 100 s with prediction 50 asked before it,
    /// SUDS 40 and no answer; the end at 160 s.
    fn fixed() -> Record {
        let mut r = Record::default();
        let h3 = Why::Prediction {
            scene: SceneId::Heights,
            intensity: 3,
        };
        let h5 = Why::Prediction {
            scene: SceneId::Heights,
            intensity: 5,
        };
        rated(&mut r, 8_000, 1, h3, Some(40));
        r.push(
            10_000,
            Entry::Started {
                scene: SceneId::Heights,
                intensity: 3,
            },
        );
        rated(&mut r, 30_000, 2, Why::Demand, Some(60));
        r.push(
            40_000,
            Entry::SafeRoom {
                why: SafeReason::Patient,
            },
        );
        r.push(45_000, Entry::LeftSafeRoom);
        rated(&mut r, 60_000, 3, Why::Periodic, Some(45));
        rated(&mut r, 90_000, 4, Why::Demand, Some(30));
        rated(&mut r, 98_000, 5, h5, Some(50));
        r.push(100_000, Entry::Intensity { intensity: 5 });
        rated(&mut r, 130_000, 6, Why::AfterChange, Some(40));
        rated(&mut r, 150_000, 7, Why::Demand, None);
        r.push(160_000, Entry::Ended);
        r
    }

    #[test]
    fn step_figures_are_exact_on_a_fixed_timeline() {
        let steps = fixed().steps(200_000);
        assert_eq!(steps.len(), 2);
        let first = steps[0];
        assert_eq!((first.start, first.end), (10_000, 100_000));
        assert_eq!(first.predicted, Some(40));
        assert_eq!(first.peak, Some(60));
        assert_eq!(first.last, Some(30));
        assert_eq!(first.violation, Some(20), "worse than expected by 20");
        assert_eq!(first.drop, Some(30));
        assert_eq!(first.half_of_peak, Some(true), "30 is half of 60");
        assert_eq!(first.safe_ms, 5_000);
        let second = steps[1];
        assert_eq!((second.start, second.end), (100_000, 160_000));
        assert_eq!(second.predicted, Some(50));
        assert_eq!(second.peak, Some(40), "no answer is not a rating");
        assert_eq!(second.last, Some(40));
        assert_eq!(second.violation, Some(-10), "better than expected");
        assert_eq!(second.drop, Some(0));
        assert_eq!(second.half_of_peak, Some(false));
        assert_eq!(second.safe_ms, 0);
    }

    #[test]
    fn the_open_prompts_safe_spans_and_intensity_line() {
        let mut r = fixed();
        r.push(
            170_000,
            Entry::Asked(Prompt {
                id: 8,
                scale: Scale::Fms,
                why: Why::Periodic,
                asked: 170_000,
            }),
        );
        assert_eq!(r.open().iter().map(|p| p.id).collect::<Vec<_>>(), vec![8]);
        assert_eq!(r.safe_spans(200_000), vec![(40_000, 45_000)]);
        r.push(
            180_000,
            Entry::SafeRoom {
                why: SafeReason::TherapistLeft,
            },
        );
        assert_eq!(r.safe_ms(190_000), 15_000, "an open span ends at `end`");
        assert_eq!(
            r.intensity(),
            vec![
                (10_000, Some((SceneId::Heights, 3))),
                (100_000, Some((SceneId::Heights, 5))),
                (160_000, None)
            ]
        );
        let no_answer = r.ratings().into_iter().find(|x| x.value.is_none());
        assert_eq!(no_answer.map(|x| x.source), Some(Source::NoAnswer));
    }

    /// A peer's (or a file's) spans out of order end where they began: no underflow.
    #[test]
    fn a_safe_room_left_before_it_was_entered_counts_nothing() {
        let mut r = Record::default();
        r.push(
            1_000,
            Entry::SafeRoom {
                why: SafeReason::Patient,
            },
        );
        r.push(0, Entry::LeftSafeRoom);
        assert_eq!(r.safe_spans(10), vec![(1_000, 1_000)]);
        assert_eq!(r.safe_ms(10), 0);
        assert_eq!(r.steps(10).len(), 0);
    }

    #[test]
    fn entries_off_their_scales_are_not_sane() {
        let bad = Entry::Rated {
            prompt: None,
            scale: Scale::Suds,
            why: Why::Demand,
            value: Some(42),
            source: Source::Patient,
        };
        assert!(!entry_sane(&bad), "SUDS goes in steps of 5");
        let fms = Entry::Rated {
            prompt: None,
            scale: Scale::Fms,
            why: Why::Periodic,
            value: Some(21),
            source: Source::Patient,
        };
        assert!(!entry_sane(&fms));
        assert!(!entry_sane(&Entry::Intensity { intensity: 11 }));
        assert!(!entry_sane(&Entry::Pinned {
            param: Param::Wind,
            value: Some(f32::NAN)
        }));
        assert!(entry_sane(&Entry::Intensity { intensity: 10 }));
    }
}
