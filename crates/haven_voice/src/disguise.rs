//! Voice disguise for anonymous patients: a pitch shift of the whole spectrum (the voice's
//! pitch and its formants move together), done with a phase vocoder (`pitch_shift`).
//!
//! What it does: the voice sounds like a different, lower (or higher) voice, and stays
//! intelligible at the default shift. What it does not do: it is not a guarantee of anonymity.
//! Word choice, accent, rhythm and the content of speech pass through untouched, and a
//! determined listener with a recording and speaker-identification tools may still link the
//! voice to a person (shifting back by the same amount largely undoes it). It makes casual
//! recognition harder; it is not a cryptographic protection.

use std::collections::VecDeque;

use pitch_shift::{RawState, Shifter, TOTAL_F32};

use crate::SAMPLE_RATE;

/// The vocoder's hop, in samples.
const HOP: usize = 128;
/// The default shift: three semitones down.
pub const DEFAULT_SEMITONES: f32 = -3.0;

/// Shifts a stream of frames by a fixed number of semitones, adding the vocoder's delay.
pub struct Disguise {
    shifter: Shifter<Box<RawState>>,
    semitones: f32,
    input: VecDeque<f32>,
    output: VecDeque<i16>,
}

impl std::fmt::Debug for Disguise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Disguise")
            .field("semitones", &self.semitones)
            .finish_non_exhaustive()
    }
}

impl Disguise {
    /// A disguise shifting by `semitones` (clamped to ±12).
    pub fn new(semitones: f32) -> Self {
        let state: Box<RawState> = vec![0.0f32; TOTAL_F32]
            .into_boxed_slice()
            .try_into()
            .expect("exactly TOTAL_F32 floats");
        Self {
            shifter: Shifter::new(state),
            semitones: semitones.clamp(-12.0, 12.0),
            input: VecDeque::new(),
            output: VecDeque::new(),
        }
    }

    /// Shifts one frame; the result has the same length (silence until the vocoder fills).
    pub fn process(&mut self, frame: &[i16]) -> Vec<i16> {
        self.input
            .extend(frame.iter().map(|&s| f32::from(s) / 32768.0));
        let mut hop = [0.0f32; HOP];
        while self.input.len() >= HOP {
            for (h, s) in hop.iter_mut().zip(self.input.drain(..HOP)) {
                *h = s;
            }
            let shifted = self
                .shifter
                .shift(&hop, self.semitones, HOP, SAMPLE_RATE as f32);
            self.output.extend(
                shifted
                    .iter()
                    .map(|&s| (s * 32767.0).clamp(-32768.0, 32767.0) as i16),
            );
        }
        let mut out: Vec<i16> = self
            .output
            .drain(..frame.len().min(self.output.len()))
            .collect();
        // Lead the output with silence until the vocoder has produced enough.
        if out.len() < frame.len() {
            let mut padded = vec![0; frame.len() - out.len()];
            padded.append(&mut out);
            out = padded;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The strongest frequency of a signal, by a plain DFT over a range (Hz).
    fn peak_hz(s: &[i16], lo: usize, hi: usize) -> usize {
        (lo..hi)
            .max_by_key(|&f| {
                let w = 2.0 * std::f64::consts::PI * f as f64 / f64::from(SAMPLE_RATE);
                let (mut re, mut im) = (0.0, 0.0);
                for (n, &v) in s.iter().enumerate() {
                    re += f64::from(v) * (w * n as f64).cos();
                    im += f64::from(v) * (w * n as f64).sin();
                }
                (re * re + im * im) as u64
            })
            .expect("a range")
    }

    #[test]
    fn a_tone_comes_out_lower_by_the_shift_and_as_strong() {
        let mut d = Disguise::new(-3.0);
        let tone: Vec<i16> = (0..48_000)
            .map(|n| {
                (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * n as f64 / 48_000.0).sin()) as i16
            })
            .collect();
        let out: Vec<i16> = tone.chunks(480).flat_map(|f| d.process(f)).collect();
        assert_eq!(out.len(), tone.len());
        let tail = &out[24_000..28_800];
        // 440 Hz three semitones down is 370 Hz.
        let f = peak_hz(tail, 300, 500);
        assert!((360..=380).contains(&f), "peak at {f} Hz");
        let rms = |s: &[i16]| {
            (s.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
        };
        let ratio = rms(tail) / rms(&tone[24_000..28_800]);
        assert!((0.5..2.0).contains(&ratio), "level ratio {ratio}");
    }
}
