//! Echo cancellation: what the speakers play (the far-end mix, after any spatialisation) goes
//! in as the reference, and the microphone's frames come out with that echo removed.
//!
//! Built on `sonora`, a pure-Rust port of WebRTC's audio processing module (AEC3, with its
//! noise suppressor and high-pass filter): the same echo canceller browsers use, with no native
//! build. Frames are 10 ms (480 samples at 48 kHz), mono.

use sonora::config::{EchoCanceller as Aec3, NoiseSuppression};
use sonora::{AudioProcessing, Config, StreamConfig};
use thiserror::Error;

use crate::SAMPLE_RATE;

/// Samples in one frame the canceller takes (10 ms).
pub const AEC_FRAME: usize = 480;

/// Why a frame was not processed.
#[derive(Debug, Error)]
#[error("echo canceller: {0}")]
pub struct EchoError(String);

/// Removes the far end's echo from the microphone.
pub struct EchoCanceller {
    apm: AudioProcessing,
}

impl std::fmt::Debug for EchoCanceller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoCanceller").finish_non_exhaustive()
    }
}

impl Default for EchoCanceller {
    fn default() -> Self {
        Self::new()
    }
}

impl EchoCanceller {
    /// AEC3 with noise suppression, mono 48 kHz.
    pub fn new() -> Self {
        let stream = StreamConfig::new(SAMPLE_RATE, 1);
        let apm = AudioProcessing::builder()
            .config(Config {
                echo_canceller: Some(Aec3::default()),
                noise_suppression: Some(NoiseSuppression::default()),
                ..Default::default()
            })
            .capture_config(stream)
            .render_config(stream)
            .build();
        Self { apm }
    }

    /// What the speakers play now (the far-end mix), one 10 ms frame.
    pub fn render(&mut self, far: &[i16]) -> Result<(), EchoError> {
        let mut out = vec![0i16; far.len()];
        self.apm
            .process_render_i16(far, &mut out)
            .map_err(|e| EchoError(format!("{e:?}")))
    }

    /// A microphone frame (10 ms) with the echo removed. `delay_ms` is the device round trip
    /// (playout buffer + capture buffer) when known; the canceller also estimates it.
    pub fn capture(&mut self, near: &[i16], delay_ms: i32) -> Result<Vec<i16>, EchoError> {
        let _ = self.apm.set_stream_delay_ms(delay_ms);
        let mut out = vec![0i16; near.len()];
        self.apm
            .process_capture_i16(near, &mut out)
            .map_err(|e| EchoError(format!("{e:?}")))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{Source as _, Synthetic};

    fn energy(s: &[i16]) -> f64 {
        s.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>()
    }

    /// The far end's voice comes back into the microphone 30 ms later at half strength, with
    /// nobody speaking locally: after a few seconds to converge, at least 15 dB of it is gone.
    #[test]
    #[expect(clippy::print_stderr, reason = "the test reports the measured ERLE")]
    fn the_far_end_echo_is_removed() {
        let mut aec = EchoCanceller::new();
        let mut far = Synthetic::voice_like(6);
        let delay = 3; // frames
        let mut history: Vec<Vec<i16>> = Vec::new();
        let (mut echo_in, mut echo_out) = (0.0, 0.0);
        for i in 0..800 {
            let frame = far.next_frame(AEC_FRAME);
            aec.render(&frame).expect("render");
            history.push(frame);
            let mic: Vec<i16> = if i >= delay {
                history[i - delay].iter().map(|&v| v / 2).collect()
            } else {
                vec![0; AEC_FRAME]
            };
            let cleaned = aec.capture(&mic, 30).expect("capture");
            if i >= 500 {
                echo_in += energy(&mic);
                echo_out += energy(&cleaned);
            }
        }
        let erle_db = 10.0 * (echo_in / echo_out.max(1.0)).log10();
        eprintln!("AEC3: echo return loss enhancement {erle_db:.1} dB after 5 s");
        assert!(
            erle_db > 15.0,
            "echo return loss enhancement {erle_db:.1} dB"
        );
    }

    /// Local speech with no far end passes through (the canceller must not eat the patient).
    #[test]
    #[expect(clippy::print_stderr, reason = "the test reports the measured level")]
    fn local_speech_passes_when_the_far_end_is_silent() {
        let mut aec = EchoCanceller::new();
        let mut near = Synthetic::voice_like(2);
        let (mut e_in, mut e_out) = (0.0, 0.0);
        for i in 0..300 {
            aec.render(&[0; AEC_FRAME]).expect("render");
            let mic = near.next_frame(AEC_FRAME);
            let cleaned = aec.capture(&mic, 30).expect("capture");
            if i >= 100 {
                e_in += energy(&mic);
                e_out += energy(&cleaned);
            }
        }
        let kept_db = 10.0 * (e_out / e_in).log10();
        eprintln!("AEC3: local speech level change {kept_db:.1} dB");
        assert!(kept_db > -6.0, "local speech lost {kept_db:.1} dB");
    }
}
