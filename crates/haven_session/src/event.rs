//! What a session reports to its front end (the same for every backend).

use haven_proto::Redacted;
use haven_proto::bulk::{Manifest, ObjectId};
use haven_proto::control::Control;
use haven_proto::pose::PoseUpdate;
use haven_proto::signal::{PeerId, PeerInfo, Role, RoomId};
use haven_signal::clinic::{NotVerified, SafetyWords, Verified};

/// A voice packet from a peer, as it came off the wire (the jitter buffer orders it).
#[derive(Clone, Debug)]
pub struct AudioPacket {
    /// RTP timestamp, 48 kHz.
    pub timestamp: u32,
    /// RTP sequence number.
    pub sequence: u16,
    /// One Opus packet.
    pub payload: Vec<u8>,
    /// When it arrived.
    pub arrived: std::time::Instant,
}

impl AudioPacket {
    /// When it arrived, in milliseconds after `start` (a jitter buffer's clock).
    pub fn arrived_ms_since(&self, start: std::time::Instant) -> f64 {
        self.arrived.saturating_duration_since(start).as_secs_f64() * 1000.0
    }
}

/// Figures for one peer connection.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PeerStats {
    /// The peer.
    pub peer: Option<PeerId>,
    /// ICE round-trip time of the selected candidate pair, ms.
    pub rtt_ms: Option<f64>,
    /// Bytes sent and received on this connection (all transports).
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Audio packets received.
    pub audio_packets_received: u64,
    /// Audio packets lost (from sequence gaps).
    pub audio_packets_lost: i64,
    /// Audio interarrival jitter, ms.
    pub audio_jitter_ms: Option<f64>,
    /// Poses to this peer dropped because the connection's send queue was full (a transfer on
    /// a slow link): the newest pose matters, not every one.
    pub poses_dropped: u64,
    /// How this side reaches the peer: the kind of the selected pair's local candidate.
    pub local_path: Option<PathKind>,
    /// The kind of the selected pair's remote candidate.
    pub remote_path: Option<PathKind>,
}

/// What kind of address one end of a connection's selected candidate pair is (RFC 8445).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathKind {
    /// An address of the machine itself.
    Host,
    /// Its address as a STUN server saw it (behind a NAT).
    ServerReflexive,
    /// Its address as the peer saw it.
    PeerReflexive,
    /// An address on a TURN relay: the traffic goes through the relay.
    Relay,
}

impl PathKind {
    /// The short name ICE uses (`host`, `srflx`, `prflx`, `relay`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::ServerReflexive => "srflx",
            Self::PeerReflexive => "prflx",
            Self::Relay => "relay",
        }
    }
}

/// What the network reports to the front end.
#[derive(Debug)]
pub enum SessionEvent {
    /// Welcomed into the room.
    Joined {
        /// This peer.
        me: PeerInfo,
        /// The room.
        room: RoomId,
        /// Who was already there.
        peers: Vec<PeerInfo>,
        /// In a group room: the chair the server gave this side (`GroupMedia::chair`: the
        /// last of the room's size is the head of the table). `None` in a mesh.
        chair: Option<u8>,
    },
    /// A group room's server gave this side another chair than its welcome's: a resume after
    /// the server let its place go (the grace passed) took a new seat in the same room. Front
    /// ends move to it.
    Reseated {
        /// The chair, as in [`SessionEvent::Joined`].
        chair: u8,
    },
    /// The server refused us (or a resume of our place); the session is over.
    Failed(String),
    /// The TURN relay the server named could not be used (it refused the credentials, or did
    /// not answer). With [`SessionConfig::relay_only`](crate::SessionConfig::relay_only) the
    /// session then fails; otherwise it goes on with direct paths only, which a strict network
    /// may block.
    RelayUnavailable {
        /// Why (the relay's answer, or that it did not answer).
        why: String,
    },
    /// A group room: this side's voice and poses go through the clinic's media server, which
    /// forwards everyone else's (and can hear the voices it forwards).
    MediaServerJoined,
    /// A group room's media server was lost (it stopped, or the network to it failed): no
    /// voices or poses until [`Session::reconnect_media`](crate::Session::reconnect_media)
    /// works. Shares, on their direct connections, are not affected.
    MediaServerLost {
        /// What happened, in words for a person.
        why: String,
    },
    /// The connection to the signaling server was lost (a network change, a server restart).
    /// The peer-to-peer connections carry on; it is being taken back in the background.
    SignalingLost,
    /// The connection to the signaling server is back, and with it this peer's place in the
    /// room (the same peer id).
    SignalingBack,
    /// A peer is in the room (its connection is being set up).
    PeerJoined(PeerInfo),
    /// A peer's channels are open: poses, control and bulk flow.
    PeerConnected(PeerId),
    /// A peer's connection broke; an ICE restart (and after 10 s a new connection) is under
    /// way. The peer is still in the room.
    PeerReconnecting(PeerId),
    /// A peer's connection works again after [`SessionEvent::PeerReconnecting`] (or after
    /// [`Session::reconnect`](crate::Session::reconnect)): the same peer, nothing to set up again. Objects on their way
    /// go on from what the receiver holds.
    PeerReconnected(PeerId),
    /// The connection to a peer could not be rebuilt ([`MAX_REBUILDS`](crate::MAX_REBUILDS)
    /// new connections in a row failed): the session stops trying, and says so once. The peer
    /// is still in the room; [`Session::reconnect`](crate::Session::reconnect) tries again.
    PeerLost(PeerId),
    /// A peer left (or its connection was closed).
    PeerLeft(PeerId),
    /// A pose update.
    Pose {
        /// From whom.
        from: PeerId,
        /// The update.
        update: PoseUpdate,
    },
    /// A room event that the sender's role may send.
    Control {
        /// From whom.
        from: PeerId,
        /// Its role.
        role: Role,
        /// The event.
        message: Control,
    },
    /// Part of an object arrived.
    ObjectProgress {
        /// From whom.
        from: PeerId,
        /// The object.
        id: ObjectId,
        /// Bytes held.
        received: u64,
        /// Its size.
        size: u64,
    },
    /// A whole object arrived and its SHA-256 matched.
    ObjectReceived {
        /// From whom.
        from: PeerId,
        /// Its manifest.
        manifest: Manifest,
        /// Its bytes (held in memory only; patient data, so its `Debug` prints nothing of them).
        data: Redacted<Vec<u8>>,
    },
    /// An object we sent arrived whole: the receiver acknowledged every byte after checking
    /// its SHA-256.
    ObjectSent {
        /// To whom.
        to: PeerId,
        /// The object.
        id: ObjectId,
    },
    /// An object we send goes on after a reconnect, from byte `from` (what the receiver held).
    ObjectResumed {
        /// To whom.
        to: PeerId,
        /// The object.
        id: ObjectId,
        /// Where it goes on.
        from: u64,
    },
    /// An object was cancelled or refused, by either side.
    ObjectCancelled {
        /// The other peer.
        peer: PeerId,
        /// The object.
        id: ObjectId,
        /// Why (no contents).
        why: String,
    },
    /// Voice from a peer.
    Audio {
        /// From whom.
        from: PeerId,
        /// The packet.
        packet: AudioPacket,
    },
    /// The words both ends of a connection (new, or rebuilt with new DTLS certificates)
    /// derive from its two DTLS fingerprints and the nonces they exchanged commit-then-reveal
    /// ([`haven_signal::clinic::safety_words`]). Read aloud, they show no one sits in between.
    SafetyWords {
        /// The peer.
        peer: PeerId,
        /// The words.
        words: SafetyWords,
    },
    /// Whether a clinician or therapist is who its clinic says, on this connection: its
    /// credential checked against the clinic key from this side's invite and bound to this
    /// connection's DTLS fingerprints ([`haven_signal::clinic::verify`]). Said for every
    /// connection to one (again after a rebuilt connection).
    PeerVerified {
        /// The peer.
        peer: PeerId,
        /// Who they are, or why that is not known.
        verdict: Result<Verified, NotVerified>,
    },
    /// A peer sent something that was refused (malformed, or not allowed for its role). The
    /// session goes on.
    Refused {
        /// From whom.
        from: PeerId,
        /// Which channel.
        channel: &'static str,
        /// Why.
        why: String,
        /// The room event itself, where it decoded but the sender's role may not send it
        /// (so the app can audit what was refused).
        forbidden: Option<Box<Control>>,
    },
}

/// Whether the `n`th refused message (counting from 1) is worth a log line: the first 32,
/// then the 64th, 128th, 256th... so a peer that floods cannot flood the log.
pub fn worth_logging(n: u64) -> bool {
    n <= 32 || n.is_power_of_two()
}

#[cfg(test)]
mod tests {
    use haven_proto::bulk::ObjectKind;

    use super::*;

    #[test]
    fn a_flood_of_refusals_logs_a_few_lines() {
        let lines = (1..=100_000u64).filter(|&n| worth_logging(n)).count();
        assert_eq!(lines, 32 + 11, "the first 32, then 64 .. 65536");
    }

    /// What a patient shared never reaches a log line through an event's `Debug`.
    #[test]
    fn an_arrived_objects_bytes_never_print() {
        let secret = b"Jane Doe, MRN 123-45-6789".to_vec();
        let event = SessionEvent::ObjectReceived {
            from: PeerId(2),
            manifest: crate::transfer::manifest_for(ObjectId(1), ObjectKind::Fhir, &secret),
            data: Redacted::new(secret.clone()),
        };
        let printed = format!("{event:?}");
        assert!(
            !printed.contains("Jane") && !printed.contains("74, 97, 110"),
            "{printed}"
        );
    }
}
