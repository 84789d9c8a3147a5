//! The scenes' sound, synthesized: a pure function of scene, parameters, events and the sample
//! clock, so it needs no audio files and the same state always sounds the same. Mono, 48 kHz,
//! 16-bit, as the voice playout it is mixed into (so the echo canceller hears it and the
//! patient's microphone does not send it back).
//!
//! What each scene sounds like (kept quiet under speech: the loudest bed is about −20 dBFS):
//! - heights: wind (low-passed noise) rising with `Wind`; a gust swells it for its length;
//! - spiders: near silence; faint ticks of feet when they move near;
//! - flying: the engines' hum (two detuned low tones and rumble) with `EngineNoise`; rumble
//!   with turbulence; the chime's two tones; the doors' thud;
//! - public speaking: the hall's murmur with `AudienceSize`; a cough, a ringing phone,
//!   murmurs, applause;
//! - the safe room and the consult room: silence.

use crate::catalog::{Event, Param, SceneId};

/// Samples a second.
pub const SAMPLE_RATE: u32 = 48_000;

/// What is sounding: the scene, its parameters now, and the events that happen, with the
/// scene time (ms) each began. `None` scene: silence.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Soundscape {
    /// The scene shown; `None` (or the safe room) is silent.
    pub scene: Option<SceneId>,
    /// Its parameters now.
    pub values: Vec<(Param, f32)>,
    /// Events sounding, with the scene time (ms) each began.
    pub events: Vec<(Event, u64)>,
    /// The scene's seed (the noise differs per scene run, identically on both sides).
    pub seed: u64,
}

impl Soundscape {
    /// Whether it makes any sound at all.
    pub fn silent(&self) -> bool {
        matches!(self.scene, None | Some(SceneId::SafeRoom))
    }
}

impl crate::ScenePlayer {
    /// What the scene sounds like at `now`: the scene shown (silent in the safe room and the
    /// consult room), its parameters now, and the events still sounding.
    pub fn soundscape(&self, now: u64) -> Soundscape {
        let scene = self.showing();
        Soundscape {
            scene,
            values: if scene.is_some() {
                self.values(now)
            } else {
                Vec::new()
            },
            events: self
                .state()
                .events
                .iter()
                .filter(|h| h.at + h.event.duration_ms() > now)
                .map(|h| (h.event, h.at))
                .collect(),
            seed: self.state().seed,
        }
    }
}

/// A continuous synthesizer: keeps the filters' state between frames so the sound has no
/// clicks at frame edges.
#[derive(Clone, Debug, Default)]
pub struct SceneSound {
    /// Low-pass state for the wind and rumble.
    low: f32,
    /// A slower low-pass for the murmur.
    murmur: f32,
}

fn param(values: &[(Param, f32)], p: Param) -> f32 {
    values
        .iter()
        .find(|(q, _)| *q == p)
        .map_or(0.0, |(_, v)| *v)
}

/// White noise in −1..1 from a counter (splitmix64): the same seed and sample, the same value.
fn noise(seed: u64, n: u64) -> f32 {
    let mut z = seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 40) as f32 / (1u64 << 23) as f32 - 1.0
}

/// A tone of `hz` at `t` seconds.
fn tone(t: f64, hz: f64) -> f32 {
    (t * std::f64::consts::TAU * hz).sin() as f32
}

/// `sin(t · rate)`: a slow modulation.
fn osc(t: f64, rate: f64) -> f32 {
    (t * rate).sin() as f32
}

/// How far into an event `t_ms` is (0..1), or `None` outside it.
fn within(event: Event, began: u64, t_ms: u64) -> Option<f32> {
    let d = event.duration_ms();
    (t_ms >= began && t_ms < began + d).then(|| (t_ms - began) as f32 / d as f32)
}

/// A smooth swell over an event's length: up, hold, down.
fn swell(k: f32) -> f32 {
    (k * std::f32::consts::PI).sin().max(0.0)
}

impl SceneSound {
    /// A synthesizer at rest.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fills `out` with the sound of `scape` from sample `start` (counted at [`SAMPLE_RATE`]
    /// from the scene's start). Silence for a silent soundscape (and the filters settle).
    pub fn fill(&mut self, scape: &Soundscape, start: u64, out: &mut [i16]) {
        if scape.silent() {
            out.fill(0);
            self.low = 0.0;
            self.murmur = 0.0;
            return;
        }
        let scene = scape.scene.unwrap_or(SceneId::SafeRoom);
        let v = |p| param(&scape.values, p);
        for (i, sample) in out.iter_mut().enumerate() {
            let n = start + i as u64;
            // In f64: an f32 second count loses the samples' steps after a few minutes.
            let t = n as f64 / f64::from(SAMPLE_RATE);
            let t_ms = n * 1000 / u64::from(SAMPLE_RATE);
            let white = noise(scape.seed, n);
            // One-pole low-passes: ~300 Hz and ~80 Hz.
            self.low += 0.04 * (white - self.low);
            self.murmur += 0.01 * (white - self.murmur);
            let mut s = 0.0f32;
            let event = |e: Event| {
                scape
                    .events
                    .iter()
                    .filter(|(x, _)| *x == e)
                    .find_map(|(x, began)| within(*x, *began, t_ms))
            };
            match scene {
                SceneId::Heights => {
                    let wind = v(Param::Wind).clamp(0.0, 1.0);
                    let gust = event(Event::Gust).map_or(0.0, swell);
                    let sway = 0.6 + 0.4 * osc(t, 0.23);
                    s += self.low * (0.05 + 0.35 * wind * sway + 0.5 * gust);
                    if let Some(k) = event(Event::RailingWobble) {
                        // A metallic rattle: a fast tone, fading.
                        s += 0.08 * (1.0 - k) * tone(t, 420.0) * osc(t, 25.0).abs();
                    }
                }
                SceneId::Spiders => {
                    let near = v(Param::Nearness).clamp(0.0, 1.0);
                    let moving = v(Param::Movement).clamp(0.0, 1.0);
                    // Ticks of feet: sparse single-sample clicks, more when near and moving.
                    if noise(scape.seed ^ 0x5151, n) > 1.0 - 0.002 * near * moving {
                        s += 0.15 * near;
                    }
                }
                SceneId::Flying => {
                    let engines = v(Param::EngineNoise).clamp(0.0, 1.0);
                    let hum = 0.5 * tone(t, 92.0) + 0.4 * tone(t, 93.7);
                    s += engines * (0.06 * hum + 0.25 * self.murmur);
                    let rough = event(Event::TurbulenceStrong)
                        .map(|k| 0.9 * swell(k))
                        .or_else(|| event(Event::TurbulenceLight).map(|k| 0.4 * swell(k)))
                        .unwrap_or(0.0);
                    s += rough * self.murmur * 1.5;
                    if let Some(k) = event(Event::Chime) {
                        let f = if k < 0.4 { 880.0 } else { 660.0 };
                        s += 0.1 * (1.0 - k) * tone(t, f);
                    }
                    if let Some(k) = event(Event::DoorsClose).filter(|k| *k < 0.1) {
                        s += 0.4 * (1.0 - k * 10.0) * self.murmur;
                    }
                    for e in [Event::Taxi, Event::TakeOff, Event::Landing] {
                        if let Some(k) = event(e) {
                            s += 0.15 * swell(k) * self.low;
                        }
                    }
                }
                SceneId::Speaking => {
                    let people = (v(Param::AudienceSize) / 48.0).clamp(0.0, 1.0);
                    let babble = 0.5 + 0.5 * osc(t, 3.1) * osc(t + 0.92, 1.7);
                    s += self.murmur * 0.4 * people * babble;
                    if let Some(k) = event(Event::Murmurs) {
                        s += self.murmur * 0.8 * swell(k);
                    }
                    if let Some(k) = event(Event::Cough).filter(|k| *k < 0.3) {
                        s += 0.25 * (1.0 - k / 0.3) * white;
                    }
                    if let Some(k) = event(Event::PhoneRings) {
                        // Two tones, rung in bursts.
                        let on = (k * 12.0).fract() < 0.5;
                        if on {
                            s += 0.07 * (tone(t, 1000.0) + tone(t, 1300.0));
                        }
                    }
                    if let Some(k) = event(Event::Applause) {
                        s += 0.35 * swell(k) * white * osc(t, 40.0).abs();
                    }
                }
                SceneId::SafeRoom => {}
            }
            *sample = (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16;
        }
    }
}

/// The root-mean-square level of `pcm` in dBFS (−100 for silence): for tests and figures.
pub fn level_db(pcm: &[i16]) -> f32 {
    if pcm.is_empty() {
        return -100.0;
    }
    let mean = pcm.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / pcm.len() as f64;
    let rms = mean.sqrt() / f64::from(i16::MAX);
    if rms <= 0.0 {
        -100.0
    } else {
        (20.0 * rms.log10()).max(-100.0) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scape(scene: SceneId, intensity: u8) -> Soundscape {
        Soundscape {
            scene: Some(scene),
            values: scene.parameters(intensity),
            events: Vec::new(),
            seed: 7,
        }
    }

    fn second(scape: &Soundscape) -> Vec<i16> {
        let mut out = vec![0; SAMPLE_RATE as usize];
        SceneSound::new().fill(scape, 0, &mut out);
        out
    }

    #[test]
    fn the_safe_room_and_the_consult_room_are_silent() {
        for s in [
            Soundscape::default(),
            Soundscape {
                scene: Some(SceneId::SafeRoom),
                ..Soundscape::default()
            },
        ] {
            assert!(second(&s).iter().all(|&x| x == 0));
        }
    }

    #[test]
    fn louder_as_the_intensity_rises_and_never_above_a_quiet_bed() {
        for scene in [SceneId::Heights, SceneId::Flying, SceneId::Speaking] {
            let calm = level_db(&second(&scape(scene, 0)));
            let hard = level_db(&second(&scape(scene, 10)));
            assert!(hard > calm + 3.0, "{scene:?}: {calm:.1} → {hard:.1} dBFS");
            assert!(
                hard < -15.0,
                "{scene:?} at 10 is {hard:.1} dBFS: too loud under speech"
            );
        }
    }

    #[test]
    fn an_event_is_heard_while_it_lasts() {
        let mut s = scape(SceneId::Speaking, 0);
        let quiet = level_db(&second(&s));
        s.events.push((Event::PhoneRings, 0));
        let ringing = level_db(&second(&s));
        assert!(ringing > quiet + 10.0, "{quiet:.1} → {ringing:.1} dBFS");
        // After it ends (6 s), quiet again.
        let mut late = vec![0; SAMPLE_RATE as usize];
        SceneSound::new().fill(&s, u64::from(SAMPLE_RATE) * 7, &mut late);
        assert!((level_db(&late) - quiet).abs() < 3.0);
    }

    /// An hour into the app's clock the tones are as clean as at its start (the sample clock
    /// is kept in f64): the phone's two tones, rung at 0 and at 1 h, sound the same.
    #[test]
    fn an_hour_in_the_tones_are_as_at_the_start() {
        let hour = u64::from(SAMPLE_RATE) * 3_600;
        let ring = |at: u64| {
            let s = Soundscape {
                events: vec![(Event::PhoneRings, at / u64::from(SAMPLE_RATE / 1000))],
                ..scape(SceneId::Speaking, 0)
            };
            let mut out = vec![0; 4_800];
            SceneSound::new().fill(&s, at, &mut out);
            out
        };
        let (early, late) = (ring(0), ring(hour));
        // Stair-steps from a coarse clock show as runs of equal samples.
        let steps = late.windows(2).filter(|w| w[0] == w[1]).count();
        assert!(steps < 200, "{steps} repeated samples in 4800");
        assert!((level_db(&early) - level_db(&late)).abs() < 1.0);
    }

    #[test]
    fn the_same_state_sounds_the_same() {
        let s = scape(SceneId::Flying, 6);
        assert_eq!(second(&s), second(&s));
        let mut other = s.clone();
        other.seed = 8;
        assert_ne!(second(&s), second(&other));
    }
}
