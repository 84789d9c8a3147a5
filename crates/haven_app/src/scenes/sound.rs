//! The scene's sound on the patient's side: the frame loop says what is sounding
//! ([`SoundShared::set`]), and the voice thread synthesizes it ([`SceneAmbience`], a
//! `haven_scenes::sound::SceneSound`) under the voices in its playout, so the echo canceller
//! hears it and the microphone does not send it back. The safe room is silent from the next
//! voice frame (10 or 20 ms): no network is involved.
//!
//! Time: the sound's clock is the scene player's (ms), carried forward by the voice thread's
//! own sample count between updates, and moved forward only when it falls more than 100 ms
//! behind (so the sound has no clicks from frame jitter, and never jumps back).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use haven_scenes::sound::{SAMPLE_RATE, SceneSound, Soundscape};

/// Samples a millisecond.
const PER_MS: u64 = SAMPLE_RATE as u64 / 1000;

/// How far the voice thread's count may drift from the player's clock before it is reset.
const DRIFT_MS: u64 = 100;

#[derive(Debug, Default)]
struct Timed {
    scape: Soundscape,
    /// The player's time (ms) at `at`.
    player_ms: u64,
    at: Option<Instant>,
}

/// What is sounding now, shared by the frame loop (writes) and the voice thread (reads).
#[derive(Clone, Debug, Default)]
pub struct SoundShared(Arc<Mutex<Timed>>);

impl SoundShared {
    /// Sounding `scape`, at the player's time `player_ms` now.
    pub fn set(&self, scape: Soundscape, player_ms: u64) {
        let mut timed = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        timed.scape = scape;
        timed.player_ms = player_ms;
        timed.at = Some(Instant::now());
    }
}

/// The voice thread's side: synthesizes what [`SoundShared`] says.
#[derive(Debug)]
pub struct SceneAmbience {
    shared: SoundShared,
    synth: SceneSound,
    /// The last soundscape read (kept when the lock is busy).
    scape: Soundscape,
    /// The next sample, on the player's clock.
    sample: u64,
}

impl SceneAmbience {
    /// Plays what `shared` says.
    pub fn new(shared: SoundShared) -> Self {
        Self {
            shared,
            synth: SceneSound::new(),
            scape: Soundscape::default(),
            sample: 0,
        }
    }
}

impl haven_voice::thread::Ambience for SceneAmbience {
    fn fill(&mut self, out: &mut [i16]) {
        if let Ok(timed) = self.shared.0.try_lock() {
            if timed.scape != self.scape {
                self.scape.clone_from(&timed.scape);
            }
            if let Some(at) = timed.at {
                let elapsed = u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX);
                let expected = timed.player_ms.saturating_add(elapsed);
                // Only forwards: the frame loop's clock skips what a long frame took, so it can
                // fall behind this count; a jump back would be heard.
                let counted = self.sample / PER_MS;
                if expected > counted + DRIFT_MS {
                    self.sample = expected * PER_MS;
                }
            }
        }
        self.synth.fill(&self.scape, self.sample, out);
        self.sample += out.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use haven_scenes::SceneId;
    use haven_scenes::sound::level_db;
    use haven_voice::thread::Ambience as _;

    use super::*;

    /// What the voice thread plays follows what the frame loop sets: the flying scene's
    /// engines, then (the safe room) silence from the very next frame.
    #[test]
    fn the_safe_room_silences_the_scene_from_the_next_frame() {
        let shared = SoundShared::default();
        let mut ambience = SceneAmbience::new(shared.clone());
        shared.set(
            Soundscape {
                scene: Some(SceneId::Flying),
                values: SceneId::Flying.parameters(10),
                events: Vec::new(),
                seed: 1,
            },
            5_000,
        );
        let mut frame = vec![0i16; 480];
        let mut loud = Vec::new();
        for _ in 0..50 {
            ambience.fill(&mut frame);
            loud.extend_from_slice(&frame);
        }
        assert!(level_db(&loud) > -40.0, "{} dBFS", level_db(&loud));
        shared.set(
            Soundscape {
                scene: Some(SceneId::SafeRoom),
                ..Soundscape::default()
            },
            5_500,
        );
        ambience.fill(&mut frame);
        assert!(frame.iter().all(|&s| s == 0));
    }
}
