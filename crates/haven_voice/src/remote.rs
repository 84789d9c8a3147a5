//! One remote voice on the playout clock: its jitter buffer and its decoder together, and the
//! mix of several voices into one frame.

use std::collections::VecDeque;

use crate::FrameDuration;
use crate::codec::{CodecError, VoiceDecoder};
use crate::jitter::{JitterBuffer, JitterStats, Playout};

/// A remote peer's voice, ready to be asked for one frame per frame period. The peer's
/// packets may be of any duration; they are decoded whole and played out a frame at a time.
#[derive(Debug)]
pub struct RemoteVoice {
    jitter: JitterBuffer,
    decoder: VoiceDecoder,
    frame: FrameDuration,
    /// Decoded samples not yet played, and the timestamp of the first of them.
    pcm: VecDeque<i16>,
    pcm_ts: u64,
    decode_errors: u64,
}

impl RemoteVoice {
    /// An empty voice played out in frames of `frame`.
    pub fn new(frame: FrameDuration) -> Result<Self, CodecError> {
        Ok(Self {
            jitter: JitterBuffer::new(),
            decoder: VoiceDecoder::new()?,
            frame,
            pcm: VecDeque::new(),
            pcm_ts: 0,
            decode_errors: 0,
        })
    }

    /// A packet off the wire. One whose length cannot be read is dropped (and counted).
    pub fn push(&mut self, rtp_timestamp: u32, payload: Vec<u8>, arrival_ms: f64) {
        match VoiceDecoder::samples_in(&payload) {
            Ok(samples) => self
                .jitter
                .push(rtp_timestamp, samples as u32, payload, arrival_ms),
            Err(_) => self.decode_errors += 1,
        }
    }

    /// The next frame and the timestamp (extended, 48 kHz) of its first sample, or `None`
    /// while the buffer is filling. A packet that does not decode is concealed.
    pub fn next_frame(&mut self) -> Option<(Vec<i16>, u64)> {
        let want = self.frame.samples();
        while self.pcm.len() < want {
            let (decoded, expected) = match self.jitter.pop() {
                Playout::Wait => {
                    if self.pcm.is_empty() {
                        return None;
                    }
                    // Mid-stream underrun while refilling: pad this frame with silence.
                    self.pcm.resize(want, 0);
                    break;
                }
                Playout::Packet(p) => {
                    let expected = VoiceDecoder::samples_in(&p).unwrap_or(want);
                    (self.decoder.decode(&p), expected)
                }
                Playout::Recover { next, samples } => (
                    self.decoder.recover(&next, samples as usize),
                    samples as usize,
                ),
                Playout::Conceal(samples) => {
                    (self.decoder.conceal(samples as usize), samples as usize)
                }
            };
            let pcm = decoded.unwrap_or_else(|_| {
                self.decode_errors += 1;
                self.decoder
                    .conceal(expected)
                    .unwrap_or_else(|_| vec![0; expected])
            });
            if self.pcm.is_empty() {
                // The buffer's playout point is now just past what was decoded.
                self.pcm_ts = self
                    .jitter
                    .next_timestamp()
                    .map_or(self.pcm_ts, |end| end.saturating_sub(pcm.len() as u64));
            }
            self.pcm.extend(pcm);
        }
        let ts = self.pcm_ts;
        let frame: Vec<i16> = self.pcm.drain(..want).collect();
        self.pcm_ts += want as u64;
        Some((frame, ts))
    }

    /// The depth the jitter buffer aims for, in milliseconds.
    pub fn target_ms(&self) -> f64 {
        self.jitter.target_ms()
    }

    /// The jitter buffer's counters.
    pub fn stats(&self) -> JitterStats {
        self.jitter.stats()
    }

    /// Packets that arrived but did not decode.
    pub fn decode_errors(&self) -> u64 {
        self.decode_errors
    }
}

/// Adds `frame` into `mix`, saturating.
pub fn mix_into(mix: &mut [i16], frame: &[i16]) {
    for (m, s) in mix.iter_mut().zip(frame) {
        *m = m.saturating_add(*s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::VoiceEncoder;
    use crate::source::{Source as _, Synthetic};

    #[test]
    fn a_voice_fills_then_plays_frames_in_order() {
        let frame = FrameDuration::Ms10;
        let mut enc = VoiceEncoder::new(frame).expect("encoder");
        let mut voice = RemoteVoice::new(frame).expect("voice");
        let mut src = Synthetic::voice_like(2);
        let mut starts = Vec::new();
        for i in 0..50u32 {
            let packet = enc.encode(&src.next_frame(480)).expect("encodes");
            voice.push(9_600 + i * 480, packet, f64::from(i) * 10.0);
            if let Some((pcm, ts)) = voice.next_frame() {
                assert_eq!(pcm.len(), 480);
                starts.push(ts);
            }
        }
        assert!(starts.len() >= 45, "{} frames played", starts.len());
        // The first frame played is the first sent, and none was skipped.
        assert_eq!(starts[0] % (1 << 32), 9_600);
        assert!(starts.windows(2).all(|w| w[1] == w[0] + 480));
        assert_eq!(voice.decode_errors(), 0);
    }

    #[test]
    fn twenty_ms_packets_play_out_as_ten_ms_frames() {
        let mut enc = VoiceEncoder::new(FrameDuration::Ms20).expect("encoder");
        let mut voice = RemoteVoice::new(FrameDuration::Ms10).expect("voice");
        let mut src = Synthetic::voice_like(4);
        let mut played = 0;
        for i in 0..30u32 {
            let packet = enc.encode(&src.next_frame(960)).expect("encodes");
            voice.push(i * 960, packet, f64::from(i) * 20.0);
            for _ in 0..2 {
                if voice.next_frame().is_some() {
                    played += 1;
                }
            }
        }
        assert!(played >= 55, "{played} frames of 10 ms");
        assert_eq!(voice.stats().concealed, 0);
    }

    #[test]
    fn mixing_saturates() {
        let mut mix = vec![30_000i16, -30_000, 5];
        mix_into(&mut mix, &[10_000, -10_000, 5]);
        assert_eq!(mix, [i16::MAX, i16::MIN, 10]);
    }
}
