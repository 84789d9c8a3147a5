//! What the WebRTC backend holds: its peers, the objects it sends, and the notes its
//! callbacks and tasks send to the main loop. The other backend modules add behaviour to
//! these types; this one imports none of them.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use haven_proto::bulk::ObjectId;
use haven_proto::channel;
use haven_proto::signal::{GroupMedia, PeerId, PeerInfo, Role};
use tokio::sync::{Notify, mpsc};
use webrtc::api::API;
use webrtc::data_channel::RTCDataChannel;
use webrtc::ice_transport::ice_candidate::RTCIceCandidateInit;
use webrtc::ice_transport::ice_server::RTCIceServer;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::track::track_local::track_local_static_rtp::TrackLocalStaticRTP;

use crate::command::AudioRoute;
use crate::config::Faults;
use crate::counters::{AudioCounters, VoiceGates};
use crate::life::{Life, LifeTiming};
use crate::queue::EventSender;
use crate::transfer::{Incoming, Outbound};
use crate::trust::{Judge, WordsExchange};
use haven_proto::control::Control;
use haven_signal::clinic::{ClinicPublicKey, Identity};

/// Back-pressure on `bulk`: stop queueing above HIGH, resume below LOW. Every channel of a
/// connection shares one SCTP send queue, and webrtc-sctp holds it to 128 KiB: a send that
/// finds it full waits until it drains. On a slow link (10 % loss drains it at ~20 KB/s) a
/// `bulk` allowed to fill it stalled every pose and room event behind the transfer, and with
/// them the voice (measured by `haven bench faults`: 95 % of the voice concealed during a
/// transfer). HIGH plus one chunk (80 KiB, for one object at a time) leaves the rest of the
/// queue to poses and room events, and still keeps a fast link full.
pub(super) const BULK_HIGH: usize = 64 * 1024;
pub(super) const BULK_LOW: usize = 16 * 1024;
/// The longest a pose waits for room in the send queue before it is dropped (a newer one
/// follows in 10 ms): the main loop, which also sends the voice, never waits on a full queue
/// for a pose.
pub(super) const POSE_SEND_WAIT: Duration = Duration::from_millis(2);
/// The most room events (and cancels) held for one peer while its channels are not open.
pub(super) const MAX_HELD: usize = 256;

/// The sequence number and timestamp of the voice track's next RTP packet. Silence that DTX
/// leaves unsent steps the timestamp only: a gap in sequence numbers means loss (RFC 3550
/// §5.1), so a pause in speech must not make one (a browser counted one lost packet per pause,
/// and Haven's own loss figure did the same).
pub(super) struct AudioClock {
    pub(super) sequence: u16,
    pub(super) timestamp: u32,
    /// The next packet starts a talkspurt (the first, or the first after DTX silence): its
    /// marker bit is set (RFC 3551 §4.1).
    pub(super) talkspurt: bool,
}

impl AudioClock {
    /// Starts at random values, as RFC 3550 asks.
    pub(super) fn new() -> Self {
        let mut bytes = [0u8; 6];
        let _ = getrandom::fill(&mut bytes);
        Self {
            sequence: u16::from_le_bytes([bytes[0], bytes[1]]),
            timestamp: u32::from_le_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]),
            talkspurt: true,
        }
    }

    /// The header fields of the next packet, `samples` long, after `skipped` frames of
    /// `samples` each that were not sent; then moves on past it.
    pub(super) fn next(&mut self, samples: u32, skipped: u16) -> (u16, u32, bool) {
        self.timestamp = self
            .timestamp
            .wrapping_add(samples.wrapping_mul(u32::from(skipped)));
        let marker = self.talkspurt || skipped > 0;
        let header = (self.sequence, self.timestamp, marker);
        self.sequence = self.sequence.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(samples);
        self.talkspurt = false;
        header
    }
}

/// One of a connection's three data channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Pose,
    Control,
    Bulk,
}

impl Kind {
    /// In the order the opener creates them.
    pub(super) const ALL: [Self; 3] = [Self::Pose, Self::Control, Self::Bulk];

    pub(super) fn label(self) -> &'static str {
        match self {
            Self::Pose => channel::POSE,
            Self::Control => channel::CONTROL,
            Self::Bulk => channel::BULK,
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// A connection's data channels as they appear and open. Nothing is sent on any of them until
/// all three are open on this side ([`Links::ready`]).
pub(super) struct Links {
    channels: [Option<Arc<RTCDataChannel>>; 3],
    opened: [bool; 3],
    /// Woken when `bulk`'s buffer drains below [`BULK_LOW`].
    pub(super) bulk_low: Arc<Notify>,
}

impl Links {
    pub(super) fn new(bulk_low: Arc<Notify>) -> Self {
        Self {
            channels: [None, None, None],
            opened: [false; 3],
            bulk_low,
        }
    }

    /// The channel of `kind` is here (created by us, or taken from the peer).
    pub(super) fn take(&mut self, kind: Kind, dc: Arc<RTCDataChannel>) {
        self.channels[kind.index()] = Some(dc);
    }

    /// The channel of `kind` opened on this side.
    pub(super) fn opened(&mut self, kind: Kind) {
        self.opened[kind.index()] = true;
    }

    /// All three are here and open.
    pub(super) fn ready(&self) -> bool {
        self.channels.iter().all(Option::is_some) && self.opened.iter().all(|&o| o)
    }

    /// Which are not open yet (for the log).
    pub(super) fn missing(&self) -> Vec<&'static str> {
        Kind::ALL
            .into_iter()
            .filter(|k| self.channels[k.index()].is_none() || !self.opened[k.index()])
            .map(Kind::label)
            .collect()
    }

    pub(super) fn get(&self, kind: Kind) -> Option<&Arc<RTCDataChannel>> {
        self.channels[kind.index()].as_ref()
    }

    /// Sends on `kind`'s channel; an error when it is not here or the send failed.
    pub(super) async fn send(&self, kind: Kind, bytes: &Bytes) -> Result<(), ()> {
        match self.get(kind) {
            Some(dc) => dc.send(bytes).await.map(drop).map_err(drop),
            None => Err(()),
        }
    }
}

/// How long after its channels open a clinician or therapist may take to send its first room
/// event (its credential's proof, sent as soon as its own channels open) before this side
/// says it sent none.
pub(super) const FIRST_EVENT_WAIT: Duration = Duration::from_secs(10);

/// What peer-connection callbacks and send tasks tell the main loop (which owns the signaling
/// client). The `u32` is the connection's generation: notes from a connection that has since
/// been replaced are ignored.
pub(super) enum Internal {
    Candidate(PeerId, u32, RTCIceCandidateInit),
    State(PeerId, u32, RTCPeerConnectionState),
    /// A channel the peer opened was taken (the answering side).
    Channel(PeerId, u32, Kind, Arc<RTCDataChannel>),
    /// A channel opened on this side.
    Open(PeerId, u32, Kind),
    /// The receiver holds this many bytes of an object we send it.
    Acked(PeerId, ObjectId, u64),
    /// The receiver cancelled an object we send it (why, for the event).
    Declined(PeerId, ObjectId, &'static str),
    /// A send task (its number) found its channel closed.
    Stalled(PeerId, ObjectId, u64),
    /// The verdict on that connection (said already) verified the peer.
    Verified(PeerId, u32),
    /// That connection's clinician or therapist said nothing in `FIRST_EVENT_WAIT`.
    Silent(PeerId, u32),
    /// A safety-words commitment or nonce arrived on that connection.
    Words(PeerId, u32, Control),
    /// Whether the TURN relay granted an allocation with the welcome's credentials.
    RelayChecked(Result<(), String>),
    /// A message on a group room's channel from that peer, through the media server (the
    /// `u32` is the group task's run).
    GroupData(u32, PeerId, Bytes),
    /// The media server opened that peer's channel to this side (that run of the task).
    GroupOpen(u32, PeerId),
    /// That run of the group task publishes to the media server, as this stream (its id).
    GroupJoined(u32, u64),
    /// A peer said, over that connection of ours to it, which media server stream is its own
    /// (`Control::GroupFeed`).
    Vouched(PeerId, u32, u64),
    /// That run of the group task ended: the session left (`None`), or why the media server
    /// was lost.
    GroupEnded(u32, Option<String>),
}

pub(super) struct Peer {
    pub(super) info: PeerInfo,
    /// Which connection to this peer this is (a reconnect builds a new one).
    pub(super) generation: u32,
    /// Room events for this peer alone (share terms, revokes, views) asked for while its
    /// channels were not open: sent when they open. Bounded.
    pub(super) held_control: Vec<Bytes>,
    /// Objects cancelled while its channels were not open: their `Cancel` goes when they open.
    pub(super) held_cancels: Vec<ObjectId>,
    pub(super) pc: Arc<RTCPeerConnection>,
    pub(super) links: Links,
    /// This side offered the current connection (and so makes its ICE restarts).
    pub(super) offerer: bool,
    pub(super) remote_set: bool,
    pub(super) pending: Vec<RTCIceCandidateInit>,
    /// All three channels are open (`links.ready()`, and what waited for that was done).
    pub(super) open: bool,
    pub(super) audio: Arc<Mutex<AudioCounters>>,
    /// Who a clinician or therapist is on this connection (its control callback and the
    /// `FIRST_EVENT_WAIT` timer race for the verdict; the judge says it once).
    pub(super) judge: Arc<Judge>,
    /// This connection may carry what waits for this peer: room events for it alone and
    /// objects. False for a clinician or therapist on each new connection while this side
    /// checks credentials (a clinic is configured), until its proof checks out on this very
    /// connection or the patient trusts it anyway: so a connection that replaced a verified
    /// one (a rebuild, or a relay the server slipped in) gets nothing unchecked.
    pub(super) checked: bool,
    /// This connection's safety-words exchange.
    pub(super) words: WordsExchange,
    /// Poses to it dropped because the send queue had no room for them in time.
    pub(super) poses_dropped: u64,
    /// A group room's stream it vouched for on this connection before the connection was
    /// checked: taken once it is.
    pub(super) unchecked_vouch: Option<u64>,
}

/// An object on its way to a peer (its sans-I/O state in [`Outbound`]), and the task sending
/// it.
pub(super) struct Sending {
    pub(super) out: Outbound,
    /// The task sending chunks, while one runs.
    pub(super) task: Option<SendTask>,
}

/// A task sending an object's chunks. It is stopped by a flag it reads between messages, never
/// aborted: webrtc-rs numbers a message for ordered delivery before it queues it, so a send
/// cut off in between would leave a hole that holds back everything after it on `bulk`.
pub(super) struct SendTask {
    pub(super) number: u64,
    pub(super) stop: Arc<AtomicBool>,
}

impl SendTask {
    pub(super) fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Whether two peers of a group room hold a direct connection: all do but two patients (shares
/// and health events go between a patient and each clinician or therapist; clinicians and
/// therapists vouch for their streams to each other that way).
pub(super) fn meshed(mine: Role, theirs: Role) -> bool {
    !(mine == Role::Patient && theirs == Role::Patient)
}

/// What the main loop keeps of a group room.
pub(super) struct Group {
    pub(super) media: GroupMedia,
    /// To the running task (frames for the group channel); `None` while none runs.
    pub(super) out: Option<mpsc::UnboundedSender<Bytes>>,
    /// Which run of the task is current: notes from an earlier one are ignored.
    pub(super) run: u32,
    /// Peers heard from through the media server, who have no direct connection: said
    /// connected once.
    pub(super) seen: HashSet<PeerId>,
    /// Each publisher's voice counters, by peer (for the session's figures); new for each run.
    pub(super) audio: Arc<Mutex<HashMap<PeerId, Arc<Mutex<AudioCounters>>>>>,
    /// The latest presence event of each kind this side sent through the media server
    /// (avatar, look, muted, ...): sent again to a peer that says it now hears this side.
    pub(super) presence: Vec<(&'static str, Bytes)>,
    /// This side's stream on the media server, once it publishes: said to every peer it
    /// holds a direct connection to.
    pub(super) my_feed: Option<u64>,
    /// Which streams the task may take as whose (shared with it); `changed` wakes it.
    pub(super) vouches: Arc<Mutex<Vouches>>,
    pub(super) changed: Arc<Notify>,
}

/// What the group task may believe of a stream that claims to be a peer's (its display):
/// nothing of a peer the server has not named; for a peer this side holds a direct
/// connection to, only the stream that peer named over it; for any other (two patients),
/// the claim.
#[derive(Debug, Default)]
pub(super) struct Vouches {
    /// Peers in the room: whether each must vouch for its stream (a direct connection).
    pub(super) known: HashMap<PeerId, bool>,
    /// The stream each peer vouched for.
    pub(super) feeds: HashMap<PeerId, u64>,
    /// Streams that ended: never taken again, whoever vouched for them (Janus lets a
    /// publisher choose its id).
    pub(super) retired: HashSet<u64>,
}

impl Vouches {
    /// Whether `feed`, claiming `peer`, is to be listened to as `peer`.
    pub(super) fn allows(&self, peer: PeerId, feed: u64) -> bool {
        if self.retired.contains(&feed) {
            return false;
        }
        match self.known.get(&peer) {
            None => false,
            Some(false) => true,
            Some(true) => self.feeds.get(&peer) == Some(&feed),
        }
    }
}

impl Group {
    pub(super) fn new(media: GroupMedia) -> Self {
        Self {
            media,
            out: None,
            run: 0,
            seen: HashSet::new(),
            audio: Arc::default(),
            presence: Vec::new(),
            my_feed: None,
            vouches: Arc::default(),
            changed: Arc::default(),
        }
    }
}

pub(super) struct Backend {
    pub(super) api: Arc<API>,
    /// This side, as the server named it.
    pub(super) me: PeerInfo,
    /// A group room's media path (the welcome's `media`); `None` in a mesh.
    pub(super) group: Option<Group>,
    pub(super) ice_servers: Vec<RTCIceServer>,
    /// Relayed candidates only (`SessionConfig::relay_only`).
    pub(super) relay_only: bool,
    /// The one audio track every connection carries; Haven writes its RTP packets itself.
    pub(super) audio: Arc<TrackLocalStaticRTP>,
    pub(super) audio_clock: AudioClock,
    pub(super) peers: HashMap<PeerId, Peer>,
    /// Roles of everyone in the room, as the server told them (welcome and peer-joined).
    pub(super) roles: HashMap<PeerId, Role>,
    pub(super) events: EventSender,
    /// Voice packets go here instead of `events` when a voice thread took them.
    pub(super) audio_route: AudioRoute,
    /// Whose voices are still handed on: a gate open for each peer in `roles`, closed as it
    /// leaves.
    pub(super) voice_gates: VoiceGates,
    pub(super) internal: mpsc::UnboundedSender<Internal>,
    pub(super) bulk_budget: u64,
    pub(super) faults: Faults,
    /// Each peer's connection life (`crate::life`): what to do when its connection breaks,
    /// its channels do not open, signaling goes, and when it has left. It outlives each
    /// connection to the peer.
    pub(super) lives: HashMap<PeerId, Life>,
    /// The times its lives keep.
    pub(super) life_timing: LifeTiming,
    /// Peers whose first connection a fault was put in (once each).
    pub(super) faulted: HashSet<PeerId>,
    pub(super) next_generation: u32,
    pub(super) next_task: u64,
    /// Objects on their way, by receiver.
    pub(super) sending: HashMap<(PeerId, ObjectId), Sending>,
    /// Objects arriving, by sender; kept across a reconnect, dropped when the peer leaves.
    pub(super) incoming: HashMap<PeerId, Arc<Mutex<Incoming>>>,
    /// This side's clinic credential, proved on each connection.
    pub(super) identity: Option<Arc<Identity>>,
    /// The clinic whose credentials this side checks.
    pub(super) clinic: Option<ClinicPublicKey>,
    /// The signaling server is reachable (see `signaling`); a new life starts knowing it.
    pub(super) signaling_up: bool,
}

impl Backend {
    /// Whether this side holds a direct connection to a peer in `role`: always in a mesh; in a
    /// group room, between a patient and a clinician or therapist only.
    pub(super) fn meshed(&self, role: Role) -> bool {
        self.group.is_none() || meshed(self.me.role, role)
    }

    /// Whether a peer in `role` must prove its credential on each connection before anything
    /// waiting for it goes.
    pub(super) fn needs_check(&self, role: Role) -> bool {
        self.clinic.is_some() && matches!(role, Role::Clinician | Role::Therapist)
    }
}
