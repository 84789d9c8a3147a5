//! Every message that crosses a wire in Haven, with its version.
//!
//! - [`signal`]: the JSON messages between a peer and the signaling server.
//! - [`invite`]: the invite string (its fields and layout; signing lives in `haven_signal`).
//! - [`pose`]: quantized head and hand poses for the unreliable `pose` data channel.
//! - [`control`]: room events for the reliable `control` data channel.
//! - [`bulk`]: object framing (manifest, chunk, ack, cancel) for the `bulk` data channel, and
//!   who may send objects.
//! - [`transfer`]: object transfer over `bulk`, sans I/O: the receiver's assembly and the
//!   sender's chunking and acknowledgements.
//! - [`framing`]: what `control` and `bulk` messages share (version byte, limits, the typed
//!   [`DecodeError`](framing::DecodeError)).
//!
//! This crate is pure: encode, decode, quantize. It does no I/O and reads no clock, so it can
//! be fuzzed and property-tested on its own. Every decoder checks a size limit first and
//! returns a typed error; none of them panics on any input.

pub mod bulk;
pub mod control;
pub mod framing;
pub mod identity;
pub mod invite;
pub mod pose;
pub mod signal;
pub mod transfer;

mod bits;
mod redact;

pub use redact::Redacted;

/// The data-channel wire version carried in the first byte of every `control` and `bulk`
/// message and in the top bits of every `pose` message.
pub const DATA_VERSION: u8 = 1;

/// Labels of the three data channels a Haven peer connection opens, with their versions.
///
/// The label names the channel; the SCTP sub-protocol string carries the version so that a
/// peer speaking another version is refused when the channel opens, not mid-consult.
pub mod channel {
    /// Unordered, no retransmits: [`crate::pose`].
    pub const POSE: &str = "pose";
    /// Reliable, ordered: [`crate::control`].
    pub const CONTROL: &str = "control";
    /// Reliable, ordered, with back-pressure: [`crate::bulk`].
    pub const BULK: &str = "bulk";
    /// The sub-protocol string every Haven data channel announces.
    pub const PROTOCOL: &str = "haven/1";
}
