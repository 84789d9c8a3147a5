//! A face that speaks and looks, sans I/O: the mouth opens with the voice as heard here,
//! smoothed so it does not chatter, and closes when the participant is muted; the eyes blink at
//! natural, random intervals and look at whoever speaks, else at what the participant points
//! at, else ahead.
//!
//! The eyes are synthesized: no headset here tracks them. So they never stray more than
//! [`MAX_EYE_DEG`] from where the head points, and what the head says (turning away, looking
//! down) still reads from the figure.

use bevy::math::{Quat, Vec3};

/// The voice level at which the mouth starts to open, dBFS.
pub const QUIET_DB: f32 = -50.0;
/// The level at which it is open fully, dBFS.
pub const LOUD_DB: f32 = -22.0;
/// How long the mouth takes to open towards a louder level (seconds, to 63 %).
pub const MOUTH_ATTACK_S: f32 = 0.04;
/// How long it takes to close towards a quieter one (seconds, to 63 %).
pub const MOUTH_RELEASE_S: f32 = 0.09;
/// The longest the mouth takes to come within 10 % of a new level: the lag the tests hold it to.
pub const MOUTH_LAG_S: f32 = 0.25;
/// Changes of opening smaller than this are let go, so a steady voice does not shiver.
const MOUTH_DEADBAND: f32 = 0.03;

/// How open the mouth is (0 closed, 1 open) for a voice level.
pub fn opening_for(level_db: f32) -> f32 {
    ((level_db - QUIET_DB) / (LOUD_DB - QUIET_DB)).clamp(0.0, 1.0)
}

/// The mouth's state between frames.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Mouth {
    target: f32,
    open: f32,
}

impl Mouth {
    /// Moves the mouth on by `dt` seconds, towards the voice heard now (`None`: none heard),
    /// and returns how open it is.
    pub fn update(&mut self, level_db: Option<f32>, muted: bool, dt: f32) -> f32 {
        let heard = if muted {
            0.0
        } else {
            level_db.map_or(0.0, opening_for)
        };
        if (heard - self.target).abs() > MOUTH_DEADBAND || heard == 0.0 {
            self.target = heard;
        }
        let tau = if self.target > self.open {
            MOUTH_ATTACK_S
        } else {
            MOUTH_RELEASE_S
        };
        let k = 1.0 - (-dt.max(0.0) / tau).exp();
        self.open += (self.target - self.open) * k;
        if self.open < 1e-3 {
            self.open = 0.0;
        }
        self.open
    }

    /// How open it is now.
    pub fn open(&self) -> f32 {
        self.open
    }
}

/// The shortest time between two blinks, seconds.
pub const BLINK_MIN_S: f64 = 1.5;
/// The longest, seconds.
pub const BLINK_MAX_S: f64 = 7.5;
/// A blink's length (closing, closed, opening), seconds.
pub const BLINK_S: f64 = 0.15;

/// When the eyes blink: intervals drawn at random (a sum of three uniforms between
/// [`BLINK_MIN_S`] and [`BLINK_MAX_S`], mean 4.5 s: people in conversation blink every 2 to 10
/// seconds), from a seed of its own so two figures never blink together for long.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Blinker {
    state: u64,
    next: f64,
}

impl Blinker {
    /// A blinker whose first blink falls within one interval of `now`.
    pub fn new(seed: u64, now: f64) -> Self {
        let mut b = Self {
            state: seed ^ 0x2545_f491_4f6c_dd1d,
            next: now,
        };
        // The first blink falls anywhere within one interval, so figures start out of step.
        b.next = now + b.unit() * b.interval();
        b
    }

    fn unit(&mut self) -> f64 {
        // SplitMix64.
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    fn interval(&mut self) -> f64 {
        let u = (self.unit() + self.unit() + self.unit()) / 3.0;
        BLINK_MIN_S + (BLINK_MAX_S - BLINK_MIN_S) * u
    }

    /// How closed the eyelids are at `now` (0 open, 1 shut); `now` only moves forward.
    pub fn lid(&mut self, now: f64) -> f32 {
        while now >= self.next + BLINK_S {
            self.next += self.interval();
        }
        if now < self.next {
            return 0.0;
        }
        // Down, held, up: a third each.
        let phase = ((now - self.next) / BLINK_S * 3.0) as f32;
        match phase {
            p if p < 1.0 => p,
            p if p < 2.0 => 1.0,
            p => (3.0 - p).clamp(0.0, 1.0),
        }
    }

    /// When the next blink starts (or the one under way started).
    pub fn next_blink(&self) -> f64 {
        self.next
    }
}

/// The farthest the synthesized eyes look from where the head points, degrees.
pub const MAX_EYE_DEG: f32 = 8.0;

/// What a figure's eyes may look at, in order of preference.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GazeTargets {
    /// Whoever else is speaking (their head), nearest the head's direction first.
    pub speaker: Option<Vec3>,
    /// Where the participant's own pointer hits.
    pub pointed: Option<Vec3>,
}

/// Where the eyes look, as a unit direction in the room: towards the first target there is,
/// but never more than [`MAX_EYE_DEG`] from the head's forward.
pub fn gaze(eyes_at: Vec3, head: Quat, targets: GazeTargets) -> Vec3 {
    let forward = head * Vec3::NEG_Z;
    let Some(want) = targets
        .speaker
        .or(targets.pointed)
        .and_then(|t| (t - eyes_at).try_normalize())
    else {
        return forward;
    };
    let angle = forward.angle_between(want);
    let max = MAX_EYE_DEG.to_radians();
    if angle <= max {
        return want;
    }
    // Turn from forward towards the target by the most the eyes may.
    let axis = forward
        .cross(want)
        .try_normalize()
        .unwrap_or_else(|| (head * Vec3::Y).normalize());
    Quat::from_axis_angle(axis, max) * forward
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A voice-level trace (dBFS, 10 ms steps): silence, speech, silence.
    fn trace() -> Vec<f32> {
        let mut t = vec![-90.0; 50];
        // Speech: syllables at 4 Hz between -40 and -24 dBFS.
        t.extend((0..150).map(|i| -32.0 + 8.0 * ((i as f32) * 0.25).sin()));
        t.extend(vec![-90.0; 60]);
        t
    }

    #[test]
    fn the_mouth_follows_the_voice_within_its_lag_and_closes_when_muted() {
        let dt = 0.01;
        let levels = trace();
        let mut mouth = Mouth::default();
        let opened: Vec<f32> = levels
            .iter()
            .map(|&l| mouth.update(Some(l), false, dt))
            .collect();
        let lag = (MOUTH_LAG_S / dt).round() as usize;
        // Closed in the first silence.
        assert!(opened[..50].iter().all(|&o| o == 0.0));
        // Each moment of the speech is matched within 10 % of the level from no more than
        // the lag before.
        for i in 50 + lag..200 {
            let window = &levels[i - lag..=i];
            let lo = window
                .iter()
                .map(|&l| opening_for(l))
                .fold(f32::MAX, f32::min);
            let hi = window
                .iter()
                .map(|&l| opening_for(l))
                .fold(f32::MIN, f32::max);
            assert!(
                opened[i] >= lo - 0.1 && opened[i] <= hi + 0.1,
                "at {i}: {} outside {lo}..{hi}",
                opened[i]
            );
        }
        // It opened during the speech, and closed within the lag after it.
        assert!(opened[60..200].iter().any(|&o| o > 0.5));
        assert!(
            opened[200 + lag..].iter().all(|&o| o < 0.1),
            "{:?}",
            &opened[200..]
        );
        // It does not chatter: over the speech, fewer direction changes than the syllables'
        // own (four a second, two changes each) plus a few.
        let turns = opened[60..200]
            .windows(3)
            .filter(|w| (w[1] - w[0]) * (w[2] - w[1]) < 0.0)
            .count();
        assert!(turns <= 12, "{turns} turns in 1.4 s");
        // Muted: closed whatever is heard.
        let mut muted = Mouth::default();
        assert!(
            levels
                .iter()
                .all(|&l| muted.update(Some(l), true, dt) == 0.0)
        );
        // Nobody heard: closed.
        assert_eq!(Mouth::default().update(None, false, dt), 0.0);
    }

    #[test]
    fn blinks_fall_at_natural_random_intervals() {
        let mut a = Blinker::new(1, 0.0);
        let mut b = Blinker::new(2, 0.0);
        let mut starts = Vec::new();
        let mut together = 0;
        let mut was_shut = false;
        let dt = 1.0 / 90.0;
        // Ten minutes at 90 frames a second.
        for i in 0..(600.0 / dt) as usize {
            let now = i as f64 * dt;
            let lid = a.lid(now);
            let shut = lid > 0.5;
            if shut && !was_shut {
                starts.push(now);
            }
            was_shut = shut;
            if shut && b.lid(now) > 0.5 {
                together += 1;
            } else {
                b.lid(now);
            }
        }
        let gaps: Vec<f64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            gaps.iter()
                .all(|g| (BLINK_MIN_S - 0.02..=BLINK_MAX_S + 0.02).contains(g)),
            "{gaps:?}"
        );
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        assert!((3.5..5.5).contains(&mean), "mean interval {mean}");
        let per_minute = starts.len() as f64 / 10.0;
        assert!(
            (8.0..20.0).contains(&per_minute),
            "{per_minute} blinks a minute"
        );
        // Random, not a metronome.
        let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
        assert!(sd > 0.5, "intervals barely vary: sd {sd}");
        // Two figures rarely blink at once.
        assert!(
            together < starts.len() * 2,
            "{together} frames shut together"
        );
    }

    #[test]
    fn the_eyes_look_at_the_speaker_within_a_few_degrees_of_the_head() {
        let eyes = Vec3::new(0.0, 1.2, 0.0);
        let head = Quat::IDENTITY;
        // Ahead, with nothing to look at.
        assert!((gaze(eyes, head, GazeTargets::default()) - Vec3::NEG_Z).length() < 1e-5);
        // A speaker nearly ahead: straight at them.
        let near = Vec3::new(0.1, 1.2, -1.5);
        let g = gaze(
            eyes,
            head,
            GazeTargets {
                speaker: Some(near),
                pointed: None,
            },
        );
        assert!((g - (near - eyes).normalize()).length() < 1e-5);
        // A speaker far to the side: towards them, but no more than the limit from the head.
        let side = Vec3::new(1.5, 1.2, -0.5);
        let g = gaze(
            eyes,
            head,
            GazeTargets {
                speaker: Some(side),
                pointed: Some(Vec3::new(-1.0, 1.0, -1.0)),
            },
        );
        let off = g.angle_between(Vec3::NEG_Z).to_degrees();
        assert!((off - MAX_EYE_DEG).abs() < 0.01, "{off}°");
        assert!(g.x > 0.0, "towards the speaker, not the pointer");
        // No speaker: the pointed-at thing.
        let g = gaze(
            eyes,
            head,
            GazeTargets {
                speaker: None,
                pointed: Some(Vec3::new(-1.0, 1.0, -1.0)),
            },
        );
        assert!(g.x < 0.0);
        // Behind the head: still within the limit.
        let g = gaze(
            eyes,
            head,
            GazeTargets {
                speaker: Some(Vec3::new(0.0, 1.2, 2.0)),
                pointed: None,
            },
        );
        assert!(g.angle_between(Vec3::NEG_Z).to_degrees() <= MAX_EYE_DEG + 0.01);
    }
}
