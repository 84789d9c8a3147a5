//! What a [`Session`](crate::Session) asks of its backend (the WebRTC one or the loopback hub).

use std::sync::Arc;
use std::time::Duration;

use haven_proto::bulk::{Manifest, ObjectId};
use haven_proto::signal::PeerId;
use tokio::sync::mpsc;

use crate::event::{AudioPacket, PeerStats};

pub(crate) enum Command {
    Pose(Vec<u8>),
    Control(Vec<u8>),
    ControlTo(PeerId, Vec<u8>),
    Object {
        to: PeerId,
        manifest: Manifest,
        data: Arc<Vec<u8>>,
    },
    Cancel {
        to: PeerId,
        id: ObjectId,
    },
    Reconnect(PeerId),
    /// A group room: connect to the media server again (after `MediaServerLost`).
    ReconnectMedia,
    /// The patient trusts a clinician whose credential did not check out on its current
    /// connection: what waits for it goes.
    TrustAnyway(PeerId),
    Audio {
        packet: Vec<u8>,
        duration: Duration,
        skipped: u16,
    },
    Stats(tokio::sync::oneshot::Sender<Vec<PeerStats>>),
    Leave,
}

/// Where voice packets from peers go: the event queue, or a voice thread's own queue.
/// Voice packets held for the voice thread at most (20 s of 10 ms packets from one peer):
/// more, while it does not read, are dropped.
pub(crate) const VOICE_ROUTE_LIMIT: usize = 2000;

pub(crate) type AudioRoute = Option<mpsc::Sender<(PeerId, AudioPacket)>>;

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Pose(_) => "Pose",
            Self::Control(_) | Self::ControlTo(..) => "Control",
            Self::Object { .. } => "Object",
            Self::Cancel { .. } => "Cancel",
            Self::Reconnect(_) => "Reconnect",
            Self::ReconnectMedia => "ReconnectMedia",
            Self::TrustAnyway(_) => "TrustAnyway",
            Self::Audio { .. } => "Audio",
            Self::Stats(_) => "Stats",
            Self::Leave => "Leave",
        })
    }
}
