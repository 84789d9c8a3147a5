//! Haven's voice pipeline, without a sound card when there is none.
//!
//! - [`codec`]: Opus at 48 kHz mono, 10 ms frames by default (20 ms option), in-band FEC and
//!   DTX on.
//! - [`jitter`]: an adaptive jitter buffer (sans I/O: it is given arrival times and asked for
//!   the next frame on the playout clock) that hides loss with FEC or Opus concealment.
//! - [`remote`]: one remote voice (its jitter buffer and decoder) and the mix of several.
//! - [`source`]: what is captured when there is no microphone: silence, a synthetic voice-like
//!   signal, or a WAV file; [`sink`] the same for playback.
//!
//! - [`device`]: the microphone and speakers (cpal), for when there is a sound card.
//! - [`echo`]: echo cancellation (WebRTC's AEC3, via the pure-Rust `sonora`) fed with what the
//!   speakers play.
//! - [`disguise`]: a pitch shift for anonymous patients (and what it does not protect against).
//! - [`engine`]: one participant's whole voice path (capture → packets, packets → mix, voice
//!   activity, mute), driven by the caller's clock.
//! - [`thread`]: that engine on its own thread and 10 ms (or 20 ms) clock, over any
//!   [`VoiceTransport`](thread::VoiceTransport) (haven_session's `VoiceLink` is one), for the
//!   room app and `haven join --headless` alike.
//!
//! The jitter estimate ([`jitter::InterarrivalJitter`], RFC 3550) lives here and haven_session
//! uses it for its per-peer figures too. This crate knows nothing of sessions or Bevy.

#[cfg(feature = "native")]
pub mod codec;
#[cfg(feature = "native")]
pub mod device;
#[cfg(feature = "native")]
pub mod disguise;
#[cfg(feature = "native")]
pub mod echo;
#[cfg(feature = "native")]
pub mod engine;
pub mod jitter;
#[cfg(feature = "native")]
pub mod remote;
#[cfg(feature = "native")]
pub mod sink;
#[cfg(feature = "native")]
pub mod source;
#[cfg(feature = "native")]
pub mod thread;

/// Opus runs at 48 kHz here, always.
pub const SAMPLE_RATE: u32 = 48_000;

/// How long one frame lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FrameDuration {
    /// 10 ms: the default, for the lowest delay.
    #[default]
    Ms10,
    /// 20 ms: fewer packets, a little more delay.
    Ms20,
}

impl FrameDuration {
    /// Samples per frame at 48 kHz.
    pub const fn samples(self) -> usize {
        match self {
            Self::Ms10 => 480,
            Self::Ms20 => 960,
        }
    }

    /// Milliseconds per frame.
    pub const fn millis(self) -> u64 {
        match self {
            Self::Ms10 => 10,
            Self::Ms20 => 20,
        }
    }
}
