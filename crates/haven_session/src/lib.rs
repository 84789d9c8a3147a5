//! Haven's live session: one WebRTC peer connection per remote peer (a mesh of up to four),
//! each with an Opus audio track and three data channels:
//!
//! - `pose`: unordered, no retransmits (quantized head and hands, [`haven_proto::pose`]);
//! - `control`: reliable, ordered (room events, [`haven_proto::control`]);
//! - `bulk`: reliable, ordered, with back-pressure (objects, [`haven_proto::bulk`]).
//!
//! The network runs on its own tokio runtime in its own thread (the `backend` module). The
//! front end (Bevy, a test, the bench) talks to it through two channels: [`Session`]'s methods
//! send commands and never block; [`Session::try_event`] drains what arrived, without waiting.
//! webrtc-rs types never leave the backend (and [`simnet`]), so moving to another WebRTC stack
//! is that module's change alone.
//!
//! What a peer may send is checked on receipt, the same way by every backend: room events by
//! [`Control::allowed_from`](haven_proto::control::Control::allowed_from), objects at their
//! manifest by [`may_send_objects`](haven_proto::bulk::may_send_objects). Objects travel
//! through [`transfer`] (manifest, chunks, acks, SHA-256, resume, cancel).
//!
//! Each remote peer's connection life (restarts, rebuilds, giving up, the signaling server
//! lost and back, when a peer has left) is a sans-I/O state machine, `life`, which the WebRTC
//! backend drives and its tests drive on a fake clock.
//!
//! [`loopback`] is a second backend for tests: a [`LoopbackHub`](loopback::LoopbackHub) hands
//! out the same [`Session`]s, carried in memory and stepped by the caller, with no thread, no
//! runtime and no clock. Voice packets from peers can be split off into a [`VoiceLink`], which
//! is a [`haven_voice::thread::VoiceTransport`] for `haven_voice`'s voice thread.

mod backend;
mod command;
mod config;
mod counters;
mod event;
mod life;
pub mod loopback;
pub mod queue;
mod receive;
mod session;
pub mod simnet;
mod trust;

/// Object transfer, sans I/O (in `haven_proto`, beside the wire format it speaks).
pub use haven_proto::transfer;

pub use config::{ConnectionTiming, Faults, NetworkPolicy, SessionConfig, SessionError};
pub use event::{AudioPacket, PathKind, PeerStats, SessionEvent, worth_logging};
pub use session::{Session, StatsRequest, VoiceLink};

/// New connections to one peer that may fail in a row (each after
/// [`ConnectionTiming::rebuild_after`]; about a minute and a half with the defaults, after ICE
/// has failed) before the session gives up on it and says [`SessionEvent::PeerLost`].
pub const MAX_REBUILDS: u32 = 6;
