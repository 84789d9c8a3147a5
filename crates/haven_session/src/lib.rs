//! Haven's live session: one WebRTC peer connection per remote peer (a mesh of up to four),
//! each with an Opus audio track and three data channels:
//!
//! - `pose`: unordered, no retransmits (quantized head and hands, [`haven_proto::pose`]);
//! - `control`: reliable, ordered (room events, [`haven_proto::control`]);
//! - `bulk`: reliable, ordered, with back-pressure (objects, [`haven_proto::bulk`]).
//!
//! The network runs on its own tokio runtime in its own thread ([`backend`]). The front end
//! (Bevy, a test, the bench) talks to it through two channels: [`Session`]'s methods send
//! commands and never block; [`Session::try_event`] drains what arrived, without waiting.
//! webrtc-rs types never leave this crate, so moving to another WebRTC stack is this crate's
//! change alone.

mod backend;
pub mod simnet;
pub mod transfer;

use std::sync::Arc;
use std::time::Duration;

use haven_proto::bulk::{Manifest, ObjectId, ObjectKind};
use haven_proto::control::Control;
use haven_proto::invite;
use haven_proto::pose::PoseUpdate;
use haven_proto::signal::{PeerId, PeerInfo, Role, RoomId};
use haven_signal::{ClientTls, Fingerprint};
use thiserror::Error;
use tokio::sync::mpsc;

/// Which addresses the session may gather and use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum NetworkPolicy {
    /// Loopback only, UDP over IPv4, no mDNS: tests, the demo and benches.
    LoopbackOnly,
    /// Every interface (mDNS off), plus the STUN/TURN servers from the welcome.
    #[default]
    Any,
}

/// How to join.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// `wss://host:port` of the signaling server.
    pub server_url: String,
    /// The invite string.
    pub token: String,
    /// How to trust the server.
    pub tls: ClientTls,
    /// Which addresses to use.
    pub network: NetworkPolicy,
    /// Bytes of incoming objects held at once, per peer.
    pub bulk_budget: u64,
    /// How quickly a broken connection is noticed and replaced.
    pub timing: ConnectionTiming,
    /// Run on a simulated network instead of the machine's (tests); `None`: the real one.
    pub simulated: Option<simnet::SimulatedNic>,
}

/// How quickly a broken connection is noticed and replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionTiming {
    /// No traffic for this long: ICE says `disconnected`.
    pub disconnected_after: Duration,
    /// No traffic for this long: ICE says `failed`, and the offerer restarts ICE.
    pub failed_after: Duration,
    /// How often ICE checks an idle pair.
    pub keepalive: Duration,
    /// Not connected this long after an ICE restart (or a rebuild): the offerer builds a new
    /// connection.
    pub rebuild_after: Duration,
}

impl Default for ConnectionTiming {
    /// webrtc-rs's ICE timings (5 s, 25 s, 2 s) and 10 s for a restart to work.
    fn default() -> Self {
        Self {
            disconnected_after: Duration::from_secs(5),
            failed_after: Duration::from_secs(25),
            keepalive: Duration::from_secs(2),
            rebuild_after: Duration::from_secs(10),
        }
    }
}

/// Why a session could not be set up.
#[derive(Debug, Error)]
pub enum SessionError {
    /// The invite could not be read.
    #[error("invite: {0}")]
    Invite(#[from] invite::InviteError),
    /// The invite pins a malformed fingerprint.
    #[error("the invite's certificate pin is malformed")]
    Pin,
    /// The invite names no pin and no certificate authorities were given.
    #[error("the invite does not pin a certificate; pass certificate authorities")]
    NoTrust,
    /// The backend thread could not start.
    #[error("starting the network thread: {0}")]
    Thread(#[from] std::io::Error),
}

impl SessionConfig {
    /// A configuration from an invite string: server and pin come from the invite.
    pub fn from_invite(token: &str, network: NetworkPolicy) -> Result<Self, SessionError> {
        let parsed = invite::parse(token)?;
        let pin: Fingerprint = parsed
            .invite
            .pin
            .as_deref()
            .ok_or(SessionError::NoTrust)?
            .parse()
            .map_err(|_| SessionError::Pin)?;
        Ok(Self {
            server_url: parsed.invite.server_url(),
            token: token.to_owned(),
            tls: ClientTls::Pinned(pin),
            network,
            bulk_budget: 512 * 1024 * 1024,
            timing: ConnectionTiming::default(),
            simulated: None,
        })
    }
}

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
    },
    /// The server refused or lost us; the session is over.
    Failed(String),
    /// A peer is in the room (its connection is being set up).
    PeerJoined(PeerInfo),
    /// A peer's channels are open: poses, control and bulk flow.
    PeerConnected(PeerId),
    /// A peer's connection broke; an ICE restart (and after 10 s a new connection) is under
    /// way. The peer is still in the room.
    PeerReconnecting(PeerId),
    /// A peer's connection works again after [`SessionEvent::PeerReconnecting`] (or after
    /// [`Session::reconnect`]): the same peer, nothing to set up again. Objects on their way
    /// go on from what the receiver holds.
    PeerReconnected(PeerId),
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
        /// Its bytes (held in memory only).
        data: Vec<u8>,
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
    /// A peer sent something that was refused (malformed, or not allowed for its role). The
    /// session goes on.
    Refused {
        /// From whom.
        from: PeerId,
        /// Which channel.
        channel: &'static str,
        /// Why.
        why: String,
    },
}

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
    Audio {
        packet: Vec<u8>,
        duration: Duration,
        skipped: u16,
    },
    Stats(tokio::sync::oneshot::Sender<Vec<PeerStats>>),
    Leave,
}

/// Where voice packets from peers go: the event queue, or a voice thread's own queue.
pub(crate) type AudioRoute = Option<mpsc::UnboundedSender<(PeerId, AudioPacket)>>;

/// The voice half of a session, for an audio thread that runs on its own clock: packets from
/// every peer come in here (not as [`SessionEvent::Audio`]), and packets go out from here, so
/// voice never waits for the frame loop.
#[derive(Debug)]
pub struct VoiceLink {
    commands: mpsc::UnboundedSender<Command>,
    incoming: mpsc::UnboundedReceiver<(PeerId, AudioPacket)>,
}

impl VoiceLink {
    /// The next voice packet if one has arrived; never waits.
    pub fn try_recv(&mut self) -> Option<(PeerId, AudioPacket)> {
        self.incoming.try_recv().ok()
    }

    /// Sends one Opus packet; see [`Session::send_audio`].
    pub fn send_audio(&self, packet: Vec<u8>, duration: Duration, skipped: u16) {
        let _ = self.commands.send(Command::Audio {
            packet,
            duration,
            skipped,
        });
    }

    /// Whether the session is over (its network thread has stopped).
    pub fn is_closed(&self) -> bool {
        self.commands.is_closed()
    }
}

/// Figures asked for with [`Session::request_stats`]; collect them later without waiting.
#[derive(Debug)]
pub struct StatsRequest(tokio::sync::oneshot::Receiver<Vec<PeerStats>>);

impl StatsRequest {
    /// The figures if they have arrived (`Some(empty)` if the session is gone).
    pub fn try_take(&mut self) -> Option<Vec<PeerStats>> {
        match self.0.try_recv() {
            Ok(all) => Some(all),
            Err(tokio::sync::oneshot::error::TryRecvError::Empty) => None,
            Err(tokio::sync::oneshot::error::TryRecvError::Closed) => Some(Vec::new()),
        }
    }
}

/// A joined (or joining) session. Dropping it leaves the room.
#[derive(Debug)]
pub struct Session {
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedReceiver<SessionEvent>,
    thread: Option<std::thread::JoinHandle<()>>,
    next_object: u32,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Pose(_) => "Pose",
            Self::Control(_) | Self::ControlTo(..) => "Control",
            Self::Object { .. } => "Object",
            Self::Cancel { .. } => "Cancel",
            Self::Reconnect(_) => "Reconnect",
            Self::Audio { .. } => "Audio",
            Self::Stats(_) => "Stats",
            Self::Leave => "Leave",
        })
    }
}

impl Session {
    /// Starts joining on a new network thread; returns at once. [`SessionEvent::Joined`] or
    /// [`SessionEvent::Failed`] follows.
    pub fn start(config: SessionConfig) -> Result<Self, SessionError> {
        Self::spawn(config, None)
    }

    /// Like [`Session::start`], with voice split off into a [`VoiceLink`] for an audio thread.
    pub fn start_with_voice(config: SessionConfig) -> Result<(Self, VoiceLink), SessionError> {
        let (audio_tx, incoming) = mpsc::unbounded_channel();
        let session = Self::spawn(config, Some(audio_tx))?;
        let voice = VoiceLink {
            commands: session.commands.clone(),
            incoming,
        };
        Ok((session, voice))
    }

    fn spawn(config: SessionConfig, audio: AudioRoute) -> Result<Self, SessionError> {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (event_tx, events) = mpsc::unbounded_channel();
        let thread = std::thread::Builder::new()
            .name("haven-session".into())
            .spawn(move || backend::run(config, command_rx, event_tx, audio))?;
        Ok(Self {
            commands,
            events,
            thread: Some(thread),
            next_object: 1,
        })
    }

    /// The next event if one has arrived; never waits (for the frame loop).
    pub fn try_event(&mut self) -> Option<SessionEvent> {
        self.events.try_recv().ok()
    }

    /// The next event, waiting at most `limit` (for tests and tools).
    pub async fn next_event(&mut self, limit: Duration) -> Option<SessionEvent> {
        tokio::time::timeout(limit, self.events.recv())
            .await
            .ok()
            .flatten()
    }

    /// Sends a pose update to every connected peer (dropped for peers not yet connected).
    pub fn send_pose(&self, update: &PoseUpdate) {
        let _ = self
            .commands
            .send(Command::Pose(haven_proto::pose::encode(update)));
    }

    /// Sends a room event to every connected peer.
    pub fn send_control(&self, message: &Control) {
        let _ = self
            .commands
            .send(Command::Control(haven_proto::control::encode(message)));
    }

    /// Sends a room event to one peer only (what is shared goes to whom it is shared with).
    pub fn send_control_to(&self, to: PeerId, message: &Control) {
        let _ = self.commands.send(Command::ControlTo(
            to,
            haven_proto::control::encode(message),
        ));
    }

    /// Sends an object to one peer over `bulk`; returns its id.
    pub fn send_object(&mut self, to: PeerId, kind: ObjectKind, data: Arc<Vec<u8>>) -> ObjectId {
        let id = ObjectId(self.next_object);
        self.next_object += 1;
        let manifest = transfer::manifest_for(id, kind, &data);
        let _ = self.commands.send(Command::Object { to, manifest, data });
        id
    }

    /// Sends one Opus packet of `duration` on the audio track to every peer. `skipped` counts
    /// the frames not sent just before it (DTX silence), so its timestamp steps over them.
    pub fn send_audio(&self, packet: Vec<u8>, duration: Duration, skipped: u16) {
        let _ = self.commands.send(Command::Audio {
            packet,
            duration,
            skipped,
        });
    }

    /// Stops sending object `id` to `to` (the patient revoked it): no more of it goes out, and
    /// the receiver drops what it holds of it. An object that already arrived is not affected
    /// (the revoke itself goes on `control`).
    pub fn cancel_object(&self, to: PeerId, id: ObjectId) {
        let _ = self.commands.send(Command::Cancel { to, id });
    }

    /// Replaces the connection to `peer` with a new one, as after a network change; objects on
    /// their way go on from what the receiver holds. The side that made the first offer
    /// rebuilds (it also does so by itself when an ICE restart has not recovered in 10 s); on
    /// the other side this does nothing.
    pub fn reconnect(&self, peer: PeerId) {
        let _ = self.commands.send(Command::Reconnect(peer));
    }

    /// Figures for every peer connection.
    pub async fn stats(&self) -> Vec<PeerStats> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.commands.send(Command::Stats(tx)).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Asks for every peer connection's figures without waiting (for the frame loop).
    pub fn request_stats(&self) -> StatsRequest {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let _ = self.commands.send(Command::Stats(tx));
        StatsRequest(rx)
    }

    /// Leaves the room and waits for the network thread to finish.
    pub fn leave(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.commands.send(Command::Leave);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop();
    }
}
