//! One remote voice on the playout clock: its jitter buffer and its decoder together, and the
//! mix of several voices into one frame.

use crate::FrameDuration;
use crate::codec::{CodecError, VoiceDecoder};
use crate::jitter::{JitterBuffer, JitterStats, Playout};

/// A remote peer's voice, ready to be asked for one frame per frame period.
#[derive(Debug)]
pub struct RemoteVoice {
    jitter: JitterBuffer,
    decoder: VoiceDecoder,
    frame: FrameDuration,
    decode_errors: u64,
}

impl RemoteVoice {
    /// An empty voice for frames of `frame`.
    pub fn new(frame: FrameDuration) -> Result<Self, CodecError> {
        Ok(Self {
            jitter: JitterBuffer::new(frame),
            decoder: VoiceDecoder::new(frame)?,
            frame,
            decode_errors: 0,
        })
    }

    /// A packet off the wire.
    pub fn push(&mut self, rtp_timestamp: u32, payload: Vec<u8>, arrival_ms: f64) {
        self.jitter.push(rtp_timestamp, payload, arrival_ms);
    }

    /// The next frame and the index of the frame it plays (RTP timestamp / frame length), or
    /// `None` while the buffer is filling. A packet that does not decode is concealed.
    pub fn next_frame(&mut self) -> Option<(Vec<i16>, u64)> {
        let playout = self.jitter.pop();
        let index = self.jitter.playing_index()?;
        let pcm = match playout {
            Playout::Wait => return None,
            Playout::Packet(p) => self.decoder.decode(&p),
            Playout::Recover(p) => self.decoder.recover(&p),
            Playout::Conceal => self.decoder.conceal(),
        };
        let pcm = pcm.unwrap_or_else(|_| {
            self.decode_errors += 1;
            self.decoder
                .conceal()
                .unwrap_or_else(|_| vec![0; self.frame.samples()])
        });
        Some((pcm, index))
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
        let mut indices = Vec::new();
        for i in 0..50u32 {
            let packet = enc.encode(&src.next_frame(480)).expect("encodes");
            voice.push(9_600 + i * 480, packet, f64::from(i) * 10.0);
            if let Some((pcm, index)) = voice.next_frame() {
                assert_eq!(pcm.len(), 480);
                indices.push(index);
            }
        }
        assert!(indices.len() >= 45, "{} frames played", indices.len());
        // Frame indices count from the first timestamp seen: no frame was skipped.
        assert_eq!(
            indices[0] % 1_000_000,
            ((1u64 << 32) + 9_600) / 480 % 1_000_000
        );
        assert!(indices.windows(2).all(|w| w[1] == w[0] + 1));
        assert_eq!(voice.decode_errors(), 0);
    }

    #[test]
    fn mixing_saturates() {
        let mut mix = vec![30_000i16, -30_000, 5];
        mix_into(&mut mix, &[10_000, -10_000, 5]);
        assert_eq!(mix, [i16::MAX, i16::MIN, 10]);
    }
}
