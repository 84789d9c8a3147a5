//! Ratings: SUDS (how distressed the patient is, 0–100 in steps of 5) and FMS (the fast
//! motion-sickness scale, 0–20), kept apart: sickness is never folded into distress.
//!
//! What is asked, why, and what came back travel as [`crate::record`] entries; the machine
//! that decides when to ask is [`crate::therapy::Therapy`]. This module holds the words.

use serde::{Deserialize, Serialize};

use crate::SceneId;

/// An asked rating with no answer within this long is recorded as *no answer* (never as 0).
pub const ANSWER_WITHIN_MS: u64 = 20_000;
/// SUDS every this long while a scene runs, by default.
pub const DEFAULT_EVERY_MS: u64 = 5 * 60 * 1_000;
/// SUDS this long after each intensity change, when the plan says so.
pub const AFTER_CHANGE_MS: u64 = 60_000;
/// FMS every this long while a scene runs, when the plan says so.
pub const FMS_EVERY_MS: u64 = 2 * 60 * 1_000;
/// An FMS rating at or above this suggests a break.
pub const FMS_BREAK: u8 = 15;
/// The shortest and longest period a plan may set, ms.
pub const PERIOD_RANGE_MS: (u64, u64) = (30_000, 60 * 60 * 1_000);

/// Which scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scale {
    /// Subjective units of distress, 0–100 in steps of 5.
    Suds,
    /// Fast motion-sickness scale, 0–20.
    Fms,
}

impl Scale {
    /// Its top.
    pub fn max(self) -> u8 {
        match self {
            Self::Suds => 100,
            Self::Fms => 20,
        }
    }

    /// Its step.
    pub fn step(self) -> u8 {
        match self {
            Self::Suds => 5,
            Self::Fms => 1,
        }
    }

    /// Whether `value` is on the scale.
    pub fn accepts(self, value: u8) -> bool {
        value <= self.max() && value.is_multiple_of(self.step())
    }

    /// `value` moved by `steps` steps, kept on the scale.
    pub fn nudge(self, value: u8, steps: i32) -> u8 {
        let v = i32::from(value) + steps * i32::from(self.step());
        u8::try_from(v.clamp(0, i32::from(self.max()))).unwrap_or(0)
    }

    /// Its short name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Suds => "SUDS",
            Self::Fms => "FMS",
        }
    }

    /// The question the patient reads.
    pub fn question(self, why: Why) -> &'static str {
        match (self, why) {
            (Self::Suds, Why::Prediction { .. }) => "How bad do you expect this to be?",
            (Self::Suds, _) => "How distressed do you feel right now?",
            (Self::Fms, _) => "How sick do you feel (0 none, 20 frank sickness)?",
        }
    }
}

/// Why a rating was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Why {
    /// The therapist asked.
    Demand,
    /// The plan's period came round.
    Periodic,
    /// A minute after an intensity change.
    AfterChange,
    /// Before a step: how bad the patient expects it to be.
    Prediction {
        /// The step's scene.
        scene: SceneId,
        /// The step's intensity.
        intensity: u8,
    },
    /// The scene ended.
    End,
}

impl Why {
    /// In words, for the console and the report.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Demand => "asked",
            Self::Periodic => "periodic",
            Self::AfterChange => "after a change",
            Self::Prediction { .. } => "prediction",
            Self::End => "at the end",
        }
    }
}

/// Who gave a rating.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// The patient, on their own device.
    Patient,
    /// The therapist typed what the patient said.
    Therapist,
    /// No answer within [`ANSWER_WITHIN_MS`].
    NoAnswer,
}

impl Source {
    /// In words.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Patient => "patient",
            Self::Therapist => "therapist's entry",
            Self::NoAnswer => "no answer",
        }
    }
}

/// An asked rating.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    /// Its number in this consult.
    pub id: u32,
    /// Which scale.
    pub scale: Scale,
    /// Why.
    pub why: Why,
    /// When, ms on the record's clock.
    pub asked: u64,
}

/// When ratings are asked by themselves (the therapist sets it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// SUDS every this long while a scene runs (`None`: only on demand).
    pub every_ms: Option<u64>,
    /// SUDS a minute after each intensity change.
    pub after_change: bool,
    /// FMS every this long while a scene runs (`None`: no FMS).
    pub fms_every_ms: Option<u64>,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            every_ms: Some(DEFAULT_EVERY_MS),
            after_change: true,
            fms_every_ms: None,
        }
    }
}

impl Plan {
    /// Periods within [`PERIOD_RANGE_MS`].
    pub fn sane(&self) -> bool {
        let ok =
            |p: Option<u64>| p.is_none_or(|p| (PERIOD_RANGE_MS.0..=PERIOD_RANGE_MS.1).contains(&p));
        ok(self.every_ms) && ok(self.fms_every_ms)
    }
}

/// What a therapist asks of the ratings (on `control`; only a therapist may send one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Ask now.
    Ask {
        /// Which scale.
        scale: Scale,
    },
    /// Ask how bad the patient expects a step to be.
    Predict {
        /// The step's scene.
        scene: SceneId,
        /// The step's intensity.
        intensity: u8,
    },
    /// When to ask by themselves.
    Plan(Plan),
    /// What the patient said aloud, typed by the therapist: recorded as the therapist's entry
    /// (answering the open prompt of that scale, if one is open).
    Entry {
        /// Which scale.
        scale: Scale,
        /// The value.
        value: u8,
    },
}
