//! Opus encoding and decoding, configured for conversation.

use thiserror::Error;

use crate::{FrameDuration, SAMPLE_RATE};

/// The largest Opus packet we produce or accept (RFC 6716 allows 1275 bytes per frame).
pub const MAX_PACKET: usize = 1275;

/// Why a frame could not be encoded or decoded.
#[derive(Debug, Error)]
pub enum CodecError {
    /// libopus refused, while doing `what`.
    #[error("opus {what}: {source}")]
    Opus {
        /// What was being done.
        what: &'static str,
        /// libopus's error.
        source: opus::Error,
    },
    /// The encoder takes exactly one frame.
    #[error("a frame is {want} samples, not {got}")]
    FrameLength {
        /// What was given.
        got: usize,
        /// What the encoder takes.
        want: usize,
    },
    /// Larger than any Opus packet.
    #[error("a {0}-byte packet is larger than Opus allows")]
    PacketTooLarge(usize),
}

fn ctx(what: &'static str) -> impl FnOnce(opus::Error) -> CodecError {
    move |source| CodecError::Opus { what, source }
}

/// Encodes one mono frame at a time.
pub struct VoiceEncoder {
    inner: opus::Encoder,
    frame: FrameDuration,
}

impl std::fmt::Debug for VoiceEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceEncoder")
            .field("frame", &self.frame)
            .finish_non_exhaustive()
    }
}

impl VoiceEncoder {
    /// An encoder for speech: VoIP mode, 32 kb/s, in-band FEC tuned for 10 % loss, DTX on.
    pub fn new(frame: FrameDuration) -> Result<Self, CodecError> {
        let mut inner =
            opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip)
                .map_err(ctx("creating the encoder"))?;
        inner
            .set_bitrate(opus::Bitrate::Bits(32_000))
            .map_err(ctx("setting the bitrate"))?;
        inner.set_inband_fec(true).map_err(ctx("turning on FEC"))?;
        inner
            .set_packet_loss_perc(10)
            .map_err(ctx("setting the expected loss"))?;
        inner.set_dtx(true).map_err(ctx("turning on DTX"))?;
        Ok(Self { inner, frame })
    }

    /// The frame length this encoder takes.
    pub fn frame(&self) -> FrameDuration {
        self.frame
    }

    /// Encodes exactly one frame of samples (`frame().samples()` of them).
    pub fn encode(&mut self, pcm: &[i16]) -> Result<Vec<u8>, CodecError> {
        if pcm.len() != self.frame.samples() {
            return Err(CodecError::FrameLength {
                got: pcm.len(),
                want: self.frame.samples(),
            });
        }
        self.inner
            .encode_vec(pcm, MAX_PACKET)
            .map_err(ctx("encoding"))
    }

    /// Whether the last frame was silence sent as DTX (nothing worth sending).
    pub fn in_dtx(&mut self) -> bool {
        self.inner.get_in_dtx().unwrap_or(false)
    }
}

/// The most samples one Opus packet can carry (120 ms at 48 kHz).
pub const MAX_PACKET_SAMPLES: usize = 5760;

/// Decodes packets of any duration, rebuilds lost audio from FEC, and conceals what cannot be
/// rebuilt.
pub struct VoiceDecoder {
    inner: opus::Decoder,
}

impl std::fmt::Debug for VoiceDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceDecoder").finish_non_exhaustive()
    }
}

impl VoiceDecoder {
    /// A mono 48 kHz decoder (a stereo packet is mixed down).
    pub fn new() -> Result<Self, CodecError> {
        Ok(Self {
            inner: opus::Decoder::new(SAMPLE_RATE, opus::Channels::Mono)
                .map_err(ctx("creating the decoder"))?,
        })
    }

    /// How many samples a packet carries, without decoding it.
    pub fn samples_in(packet: &[u8]) -> Result<usize, CodecError> {
        opus::packet::get_nb_samples(packet, SAMPLE_RATE).map_err(ctx("reading a packet's length"))
    }

    /// Decodes a packet (whatever its duration). A malformed packet is an error, not a panic;
    /// the caller conceals instead.
    pub fn decode(&mut self, packet: &[u8]) -> Result<Vec<i16>, CodecError> {
        if packet.len() > MAX_PACKET {
            return Err(CodecError::PacketTooLarge(packet.len()));
        }
        self.run(packet, false, MAX_PACKET_SAMPLES, "decoding")
    }

    /// Rebuilds `samples` lost just before `next_packet` from the FEC it carries.
    pub fn recover(&mut self, next_packet: &[u8], samples: usize) -> Result<Vec<i16>, CodecError> {
        self.run(
            next_packet,
            true,
            samples.min(MAX_PACKET_SAMPLES),
            "recovering from FEC",
        )
    }

    /// Makes up `samples` of audio that never arrived (Opus packet-loss concealment).
    pub fn conceal(&mut self, samples: usize) -> Result<Vec<i16>, CodecError> {
        self.run(&[], false, samples.min(MAX_PACKET_SAMPLES), "concealing")
    }

    fn run(
        &mut self,
        packet: &[u8],
        fec: bool,
        samples: usize,
        what: &'static str,
    ) -> Result<Vec<i16>, CodecError> {
        let mut out = vec![0i16; samples];
        let n = self
            .inner
            .decode(packet, &mut out, fec)
            .map_err(ctx(what))?;
        out.truncate(n);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{Source as _, Synthetic};

    /// Normalised cross-correlation at the best lag in `0..max_lag`.
    pub(crate) fn best_correlation(a: &[i16], b: &[i16], max_lag: usize) -> f64 {
        (0..max_lag)
            .map(|lag| {
                let n = a.len().min(b.len().saturating_sub(lag));
                let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
                for i in 0..n {
                    let (x, y) = (f64::from(a[i]), f64::from(b[i + lag]));
                    ab += x * y;
                    aa += x * x;
                    bb += y * y;
                }
                if aa == 0.0 || bb == 0.0 {
                    0.0
                } else {
                    ab / (aa * bb).sqrt()
                }
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn speech_like_signal_survives_encode_and_decode() {
        let frame = FrameDuration::Ms10;
        let mut enc = VoiceEncoder::new(frame).expect("encoder");
        let mut dec = VoiceDecoder::new().expect("decoder");
        let mut src = Synthetic::voice_like(7);
        let (mut sent, mut got) = (Vec::new(), Vec::new());
        for _ in 0..100 {
            let pcm = src.next_frame(frame.samples());
            let packet = enc.encode(&pcm).expect("encodes");
            assert!(
                packet.len() < 200,
                "{} bytes for 10 ms at 32 kb/s",
                packet.len()
            );
            got.extend(dec.decode(&packet).expect("decodes"));
            sent.extend(pcm);
        }
        // Opus delays by its look-ahead (6.5 ms = 312 samples at 48 kHz).
        let c = best_correlation(&sent[4800..], &got[4800..], 1000);
        assert!(c > 0.8, "correlation {c}");
    }

    #[test]
    fn loss_is_recovered_or_concealed_and_junk_is_an_error() {
        let frame = FrameDuration::Ms20;
        let mut enc = VoiceEncoder::new(frame).expect("encoder");
        let mut dec = VoiceDecoder::new().expect("decoder");
        let mut src = Synthetic::voice_like(1);
        let packets: Vec<_> = (0..10)
            .map(|_| {
                enc.encode(&src.next_frame(frame.samples()))
                    .expect("encodes")
            })
            .collect();
        assert_eq!(VoiceDecoder::samples_in(&packets[0]).expect("parses"), 960);
        assert_eq!(dec.decode(&packets[0]).expect("decodes").len(), 960);
        assert_eq!(dec.recover(&packets[2], 960).expect("fec").len(), 960);
        assert_eq!(dec.conceal(480).expect("plc").len(), 480);
        // Junk never panics: it is an error, or at most one packet's worth of samples.
        for junk in [&[0xffu8; 3][..], &[0x00], &[0x7c, 0x01, 0x02], &[0xfc; 40]] {
            if let Ok(pcm) = dec.decode(junk) {
                assert!(pcm.len() <= MAX_PACKET_SAMPLES);
            }
        }
        assert!(dec.decode(&[0u8; MAX_PACKET + 1]).is_err());
        assert!(enc.encode(&[0; 100]).is_err());
    }
}
