//! Sources of captured audio for when there is no microphone.

use std::path::Path;

use thiserror::Error;

/// Gives frames of 48 kHz mono samples.
pub trait Source: Send {
    /// The next `samples` samples.
    fn next_frame(&mut self, samples: usize) -> Vec<i16>;
}

/// Silence.
#[derive(Debug, Default)]
pub struct Silent;

impl Source for Silent {
    fn next_frame(&mut self, samples: usize) -> Vec<i16> {
        vec![0; samples]
    }
}

/// A synthetic voice-like signal: a gliding fundamental with harmonics and formant-like
/// weighting, in syllables with short pauses. Deterministic for a given seed, so a receiver
/// can compare what it decodes with what was sent.
#[derive(Debug)]
pub struct Synthetic {
    t: u64,
    seed: u32,
    phase: f64,
}

impl Synthetic {
    /// A voice-like signal; `seed` varies its pitch.
    pub fn voice_like(seed: u32) -> Self {
        Self {
            t: 0,
            seed,
            phase: 0.0,
        }
    }
}

impl Source for Synthetic {
    fn next_frame(&mut self, samples: usize) -> Vec<i16> {
        let rate = f64::from(crate::SAMPLE_RATE);
        let base = 110.0 + f64::from(self.seed % 7) * 15.0;
        (0..samples)
            .map(|_| {
                let secs = self.t as f64 / rate;
                self.t += 1;
                // 250 ms syllables, the last 50 ms of each silent.
                let in_syllable = secs % 0.25;
                let envelope = if in_syllable < 0.2 {
                    (std::f64::consts::PI * in_syllable / 0.2).sin()
                } else {
                    0.0
                };
                let f0 = base * (1.0 + 0.15 * (secs * 2.0 * std::f64::consts::PI * 0.7).sin());
                self.phase = (self.phase + f0 / rate) % 1.0;
                let p = self.phase * 2.0 * std::f64::consts::PI;
                let mut v = 0.0;
                for (k, w) in [(1.0, 1.0), (2.0, 0.6), (3.0, 0.45), (5.0, 0.3), (8.0, 0.15)] {
                    v += w * (p * k).sin();
                }
                (v / 2.5 * envelope * 12_000.0) as i16
            })
            .collect()
    }
}

/// Another source spoken in phrases: `speak` of it, then `pause` of silence, over and over,
/// the way people talk (the demo's simulated participant, so the speaking indicator and the
/// avatar's mouth are seen to stop between phrases).
#[derive(Debug)]
pub struct Phrases<S> {
    inner: S,
    /// Samples into the current phrase and pause.
    at: u64,
    speak: u64,
    pause: u64,
}

impl<S: Source> Phrases<S> {
    /// `inner` spoken for `speak`, then `pause` of silence.
    pub fn new(inner: S, speak: std::time::Duration, pause: std::time::Duration) -> Self {
        let samples = |d: std::time::Duration| {
            (d.as_secs_f64() * f64::from(crate::SAMPLE_RATE)).round() as u64
        };
        Self {
            inner,
            at: 0,
            speak: samples(speak).max(1),
            pause: samples(pause),
        }
    }
}

impl<S: Source> Source for Phrases<S> {
    fn next_frame(&mut self, samples: usize) -> Vec<i16> {
        let mut frame = self.inner.next_frame(samples);
        for sample in &mut frame {
            if self.at >= self.speak {
                *sample = 0;
            }
            self.at = (self.at + 1) % (self.speak + self.pause);
        }
        frame
    }
}

/// Why a WAV file cannot be a source.
#[derive(Debug, Error)]
pub enum WavError {
    /// Unreadable, or not a WAV file.
    #[error("WAV: {0}")]
    Read(#[from] hound::Error),
    /// Not 48 kHz 16-bit mono.
    #[error(
        "WAV must be 48 kHz, 16-bit, mono (this one is {rate} Hz, {bits}-bit, {channels} channel(s))"
    )]
    Format {
        /// Its sample rate.
        rate: u32,
        /// Its bits per sample.
        bits: u16,
        /// Its channel count.
        channels: u16,
    },
    /// Longer than the limit (10 minutes).
    #[error("WAV is longer than 10 minutes")]
    TooLong,
}

/// A WAV file (48 kHz, 16-bit, mono), played once and then silence.
#[derive(Debug)]
pub struct WavSource {
    samples: Vec<i16>,
    at: usize,
}

impl WavSource {
    /// Reads the whole file (at most 10 minutes).
    pub fn open(path: &Path) -> Result<Self, WavError> {
        let reader = hound::WavReader::open(path)?;
        let spec = reader.spec();
        if spec.sample_rate != crate::SAMPLE_RATE
            || spec.bits_per_sample != 16
            || spec.channels != 1
            || spec.sample_format != hound::SampleFormat::Int
        {
            return Err(WavError::Format {
                rate: spec.sample_rate,
                bits: spec.bits_per_sample,
                channels: spec.channels,
            });
        }
        if reader.duration() > crate::SAMPLE_RATE * 600 {
            return Err(WavError::TooLong);
        }
        let samples = reader
            .into_samples::<i16>()
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { samples, at: 0 })
    }

    /// Whether every sample has been given.
    pub fn finished(&self) -> bool {
        self.at >= self.samples.len()
    }
}

impl Source for WavSource {
    fn next_frame(&mut self, samples: usize) -> Vec<i16> {
        let end = (self.at + samples).min(self.samples.len());
        let mut frame = self.samples[self.at..end].to_vec();
        self.at = end;
        frame.resize(samples, 0);
        frame
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn phrases_speak_then_pause_in_turn() {
        let mut phrases = Phrases::new(
            Synthetic::voice_like(3),
            Duration::from_millis(200),
            Duration::from_millis(100),
        );
        // 10 ms frames: 20 of speech, 10 of silence, twice over.
        let loud: Vec<bool> = (0..60)
            .map(|_| {
                phrases
                    .next_frame(480)
                    .iter()
                    .any(|&s| s.unsigned_abs() > 1000)
            })
            .collect();
        for (i, &l) in loud.iter().enumerate() {
            let speaking = i % 30 < 20;
            // (A syllable's quiet tail may fall inside a phrase: only pauses must be silent.)
            if !speaking {
                assert!(!l, "frame {i} should be silent");
            }
        }
        assert!(loud[..20].iter().filter(|&&l| l).count() >= 14);
        assert!(loud[30..50].iter().filter(|&&l| l).count() >= 14);
    }
}
