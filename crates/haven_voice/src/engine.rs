//! One participant's voice, sans I/O: what the microphone captured becomes packets to send
//! (echo cancelled, disguised if asked, muted if asked, DTX silence skipped), packets from
//! peers become one mixed frame to play, and both sides get a voice-activity level for the
//! speaking indicator. The caller owns the clock (one [`VoiceEngine::capture`] and one
//! [`VoiceEngine::playout`] per frame period) and the devices; `haven join` and the room app
//! drive the same engine.

use std::collections::HashMap;
use std::hash::Hash;

use crate::FrameDuration;
use crate::codec::{CodecError, VoiceEncoder};
use crate::disguise::{DEFAULT_SEMITONES, Disguise};
use crate::echo::{AEC_FRAME, EchoCanceller, EchoError};
use crate::jitter::JitterStats;
use crate::remote::{RemoteVoice, mix_into};

/// A sound played under the voices (a therapy scene's), one frame at a time: it writes the
/// frame's samples (48 kHz mono) into `out`, which starts silent.
pub trait Ambience: Send {
    /// Writes the next frame.
    fn fill(&mut self, out: &mut [i16]);
}

/// The device round trip (output buffer + input buffer) the echo canceller starts from; it
/// refines its own estimate.
const MIC_ROUND_TRIP_MS: i32 = 40;
/// DTX frames skipped in a row before one is sent anyway (keeps the far end's clock fed).
const MAX_SKIPPED: u16 = 40;

/// Why the voice pipeline failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Opus refused.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The echo canceller refused.
    #[error(transparent)]
    Echo(#[from] EchoError),
}

/// How the local voice is processed.
#[derive(Clone, Copy, Debug, Default)]
pub struct EngineOptions {
    /// Frame length.
    pub frame: FrameDuration,
    /// Cancel the echo of what the speakers play (only a real microphone hears it).
    pub echo_cancel: bool,
    /// Shift the pitch (anonymous patients).
    pub disguise: bool,
}

/// A packet ready for the audio track.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// One Opus packet.
    pub packet: Vec<u8>,
    /// DTX frames skipped just before it.
    pub skipped: u16,
}

/// Voice activity from frame levels: on above a threshold, off after a hold time below it, so
/// the indicator does not flicker between syllables.
#[derive(Clone, Copy, Debug, Default)]
pub struct Activity {
    /// Smoothed level, dBFS (−100 for silence).
    pub level_db: f32,
    /// Whether the person is speaking now.
    pub speaking: bool,
    hold_frames: u32,
}

/// Above this a frame counts as speech (dBFS of its RMS).
const SPEECH_DB: f32 = -42.0;
/// How long the indicator stays on after the level drops, in ms.
const HOLD_MS: u64 = 300;

impl Activity {
    fn update(&mut self, pcm: &[i16], frame: FrameDuration) {
        let db = rms_db(pcm);
        // Fast attack, slow release.
        self.level_db = if db > self.level_db {
            db
        } else {
            self.level_db * 0.8 + db * 0.2
        };
        if db > SPEECH_DB {
            self.speaking = true;
            self.hold_frames = (HOLD_MS / frame.millis()) as u32;
        } else if self.hold_frames > 0 {
            self.hold_frames -= 1;
        } else {
            self.speaking = false;
        }
    }
}

/// The RMS of a frame in dBFS (−100 for digital silence).
pub fn rms_db(pcm: &[i16]) -> f32 {
    if pcm.is_empty() {
        return -100.0;
    }
    let energy: f64 = pcm.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let rms = (energy / pcm.len() as f64).sqrt() / 32_768.0;
    if rms <= 1e-5 {
        -100.0
    } else {
        (20.0 * rms.log10()) as f32
    }
}

/// One participant's voice: the encoder for the local side, a [`RemoteVoice`] per peer.
#[derive(Debug)]
pub struct VoiceEngine<K> {
    options: EngineOptions,
    encoder: VoiceEncoder,
    echo: Option<EchoCanceller>,
    disguise: Option<Disguise>,
    voices: HashMap<K, Peer>,
    local: Activity,
    skipped: u16,
    muted: bool,
    sent: u64,
}

#[derive(Debug)]
struct Peer {
    voice: RemoteVoice,
    activity: Activity,
}

impl<K: Copy + Eq + Hash> VoiceEngine<K> {
    /// A new engine.
    pub fn new(options: EngineOptions) -> Result<Self, EngineError> {
        Ok(Self {
            options,
            encoder: VoiceEncoder::new(options.frame)?,
            echo: options.echo_cancel.then(EchoCanceller::new),
            disguise: options.disguise.then(|| Disguise::new(DEFAULT_SEMITONES)),
            voices: HashMap::new(),
            local: Activity::default(),
            skipped: 0,
            muted: false,
            sent: 0,
        })
    }

    /// The frame length.
    pub fn frame(&self) -> FrameDuration {
        self.options.frame
    }

    /// Mutes or unmutes the microphone: muted, nothing is sent at all.
    pub fn set_muted(&mut self, muted: bool) {
        self.muted = muted;
    }

    /// Whether the microphone is muted.
    pub fn muted(&self) -> bool {
        self.muted
    }

    /// One captured frame in; a packet to send out, or `None` (muted, or DTX silence skipped).
    pub fn capture(&mut self, mut pcm: Vec<i16>) -> Result<Option<Outgoing>, EngineError> {
        if let Some(echo) = self.echo.as_mut() {
            pcm = pcm
                .chunks(AEC_FRAME)
                .map(|chunk| echo.capture(chunk, MIC_ROUND_TRIP_MS))
                .collect::<Result<Vec<_>, _>>()?
                .concat();
        }
        if self.muted {
            self.local.update(&[], self.options.frame);
            return Ok(None);
        }
        self.local.update(&pcm, self.options.frame);
        if let Some(disguise) = self.disguise.as_mut() {
            pcm = disguise.process(&pcm);
        }
        let packet = self.encoder.encode(&pcm)?;
        if self.encoder.in_dtx() && self.skipped < MAX_SKIPPED {
            self.skipped += 1;
            return Ok(None);
        }
        let skipped = std::mem::take(&mut self.skipped);
        self.sent += 1;
        Ok(Some(Outgoing { packet, skipped }))
    }

    /// A packet from a peer (`arrival_ms` on the caller's clock).
    pub fn push(&mut self, from: K, rtp_timestamp: u32, payload: Vec<u8>, arrival_ms: f64) {
        let frame = self.options.frame;
        if let std::collections::hash_map::Entry::Vacant(slot) = self.voices.entry(from) {
            match RemoteVoice::new(frame) {
                Ok(voice) => {
                    slot.insert(Peer {
                        voice,
                        activity: Activity::default(),
                    });
                }
                Err(_) => return,
            }
        }
        if let Some(peer) = self.voices.get_mut(&from) {
            peer.voice.push(rtp_timestamp, payload, arrival_ms);
        }
    }

    /// Forgets a peer that left; returns its playout figures.
    pub fn remove(&mut self, peer: K) -> Option<JitterStats> {
        self.voices.remove(&peer).map(|p| p.voice.stats())
    }

    /// One frame from every voice, mixed, for the speakers; it also becomes the echo
    /// canceller's reference.
    pub fn playout(&mut self) -> Result<Vec<i16>, EngineError> {
        self.playout_with(None)
    }

    /// [`playout`](Self::playout) with a room sound under the voices (a therapy scene's):
    /// mixed in before the echo canceller's reference is taken, so the microphone does not
    /// send it back.
    pub fn playout_with(
        &mut self,
        ambience: Option<&mut (dyn Ambience + 'static)>,
    ) -> Result<Vec<i16>, EngineError> {
        let frame = self.options.frame;
        let mut mix = vec![0i16; frame.samples()];
        if let Some(ambience) = ambience {
            ambience.fill(&mut mix);
        }
        for peer in self.voices.values_mut() {
            match peer.voice.next_frame() {
                Some((pcm, _)) => {
                    peer.activity.update(&pcm, frame);
                    mix_into(&mut mix, &pcm);
                }
                None => peer.activity.update(&[], frame),
            }
        }
        if let Some(echo) = self.echo.as_mut() {
            for chunk in mix.chunks(AEC_FRAME) {
                echo.render(chunk)?;
            }
        }
        Ok(mix)
    }

    /// The local voice's activity (after echo cancellation, before disguise).
    pub fn local_activity(&self) -> Activity {
        self.local
    }

    /// Each peer's voice activity.
    pub fn activity(&self) -> impl Iterator<Item = (K, Activity)> + '_ {
        self.voices.iter().map(|(&k, p)| (k, p.activity))
    }

    /// Each peer's playout figures.
    pub fn stats(&self) -> impl Iterator<Item = (K, JitterStats)> + '_ {
        self.voices.iter().map(|(&k, p)| (k, p.voice.stats()))
    }

    /// Packets sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{Silent, Source, Synthetic};

    #[test]
    fn packets_cross_and_the_far_side_sees_speech_then_silence() {
        let frame = FrameDuration::Ms10;
        let mut talker = VoiceEngine::<u8>::new(EngineOptions::default()).expect("engine");
        let mut listener = VoiceEngine::<u8>::new(EngineOptions::default()).expect("engine");
        let mut voice = Synthetic::voice_like(7);
        let mut silence = Silent;
        let mut ts = 0u32;
        let mut heard_speaking = false;
        for i in 0..300u32 {
            // 1.5 s of voice, then 1.5 s of silence.
            let pcm = if i < 150 {
                voice.next_frame(frame.samples())
            } else {
                silence.next_frame(frame.samples())
            };
            if let Some(out) = talker.capture(pcm).expect("capture") {
                ts = ts.wrapping_add(480 * (u32::from(out.skipped) + 1));
                listener.push(1, ts, out.packet, f64::from(i) * 10.0);
            }
            listener.playout().expect("playout");
            let speaking = listener.activity().any(|(_, a)| a.speaking);
            if (60..150).contains(&i) {
                heard_speaking |= speaking;
            }
        }
        assert!(heard_speaking, "the listener never saw the talker speak");
        assert!(
            !listener.activity().any(|(_, a)| a.speaking),
            "still 'speaking' after 1.5 s of silence"
        );
        assert!(talker.local_activity().level_db < SPEECH_DB);
        // DTX: most of the silent half was not sent.
        assert!(talker.sent() < 220, "sent {}", talker.sent());
    }

    #[test]
    fn muted_sends_nothing_and_shows_no_activity() {
        let mut engine = VoiceEngine::<u8>::new(EngineOptions::default()).expect("engine");
        engine.set_muted(true);
        let mut voice = Synthetic::voice_like(3);
        for _ in 0..50 {
            assert_eq!(
                engine.capture(voice.next_frame(480)).expect("capture"),
                None
            );
        }
        assert!(!engine.local_activity().speaking);
        assert_eq!(engine.sent(), 0);
    }

    #[test]
    fn levels() {
        assert_eq!(rms_db(&[0; 480]), -100.0);
        let full: Vec<i16> = (0..480)
            .map(|i| if i % 2 == 0 { 32_767 } else { -32_767 })
            .collect();
        assert!(rms_db(&full).abs() < 0.01);
    }
}
