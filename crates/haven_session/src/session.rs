//! The front end's handle on a session: commands out, events in, never blocking.

use std::sync::Arc;
use std::time::Duration;

use haven_proto::bulk::{ObjectId, ObjectKind};
use haven_proto::control::Control;
use haven_proto::pose::PoseUpdate;
use haven_proto::signal::PeerId;
use tokio::sync::mpsc;

use crate::command::{AudioRoute, Command};
use crate::config::{SessionConfig, SessionError};
use crate::event::{AudioPacket, PeerStats, SessionEvent};
use crate::queue::EventReceiver;
use crate::{backend, transfer};

/// The voice half of a session, for an audio thread that runs on its own clock: packets from
/// every peer come in here (not as [`SessionEvent::Audio`]), and packets go out from here, so
/// voice never waits for the frame loop.
#[derive(Debug)]
pub struct VoiceLink {
    commands: mpsc::UnboundedSender<Command>,
    incoming: mpsc::Receiver<(PeerId, AudioPacket)>,
}

impl VoiceLink {
    pub(crate) fn new(
        commands: mpsc::UnboundedSender<Command>,
        incoming: mpsc::Receiver<(PeerId, AudioPacket)>,
    ) -> Self {
        Self { commands, incoming }
    }

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

/// The voice thread of `haven_voice` runs over a `VoiceLink`.
impl haven_voice::thread::VoiceTransport for VoiceLink {
    type Peer = PeerId;

    fn try_recv(&mut self) -> Option<(PeerId, haven_voice::thread::ReceivedPacket)> {
        VoiceLink::try_recv(self).map(|(from, packet)| {
            (
                from,
                haven_voice::thread::ReceivedPacket {
                    timestamp: packet.timestamp,
                    sequence: packet.sequence,
                    payload: packet.payload,
                    arrived: packet.arrived,
                },
            )
        })
    }

    fn send(&self, packet: Vec<u8>, duration: Duration, skipped: u16) {
        self.send_audio(packet, duration, skipped);
    }

    fn is_closed(&self) -> bool {
        VoiceLink::is_closed(self)
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
///
/// A session is two queues, whatever carries it: commands to its backend and events from it.
/// The WebRTC backend runs on its own network thread ([`Session::start`]); a
/// [`LoopbackHub`](crate::loopback::LoopbackHub) carries its sessions itself, in memory, when
/// it is pumped (then there is no thread).
#[derive(Debug)]
pub struct Session {
    commands: mpsc::UnboundedSender<Command>,
    events: EventReceiver,
    /// The network thread, for the WebRTC backend; `None` for a hub's session.
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Session {
    /// Starts joining on a new network thread; returns at once. [`SessionEvent::Joined`] or
    /// [`SessionEvent::Failed`] follows.
    pub fn start(config: SessionConfig) -> Result<Self, SessionError> {
        Self::spawn(config, None)
    }

    /// Like [`Session::start`], with voice split off into a [`VoiceLink`] for an audio thread.
    pub fn start_with_voice(config: SessionConfig) -> Result<(Self, VoiceLink), SessionError> {
        let (audio_tx, incoming) = mpsc::channel(crate::command::VOICE_ROUTE_LIMIT);
        let session = Self::spawn(config, Some(audio_tx))?;
        let voice = VoiceLink::new(session.commands.clone(), incoming);
        Ok((session, voice))
    }

    fn spawn(config: SessionConfig, audio: AudioRoute) -> Result<Self, SessionError> {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (event_tx, events) = crate::queue::event_queue();
        let thread = std::thread::Builder::new()
            .name("haven-session".into())
            .spawn(move || backend::run(config, command_rx, event_tx, audio))?;
        Ok(Self {
            commands,
            events,
            thread: Some(thread),
        })
    }

    /// A session whose backend is not a thread of its own (the loopback hub): it reads
    /// `commands` and fills `events` when it is driven.
    pub(crate) fn without_thread(
        commands: mpsc::UnboundedSender<Command>,
        events: EventReceiver,
    ) -> Self {
        Self {
            commands,
            events,
            thread: None,
        }
    }

    /// Another handle on the command queue (for a [`VoiceLink`]).
    pub(crate) fn command_sender(&self) -> mpsc::UnboundedSender<Command> {
        self.commands.clone()
    }

    /// The next event if one has arrived; never waits (for the frame loop).
    pub fn try_event(&mut self) -> Option<SessionEvent> {
        self.events.try_recv()
    }

    /// The next event, waiting at most `limit` (for tests and tools).
    pub async fn next_event(&mut self, limit: Duration) -> Option<SessionEvent> {
        tokio::time::timeout(limit, self.events.recv())
            .await
            .ok()
            .flatten()
    }

    /// Events dropped because the front end did not read them fast enough (a flood of poses,
    /// voice or junk; see [`crate::queue`]).
    pub fn events_dropped(&self) -> crate::queue::Dropped {
        self.events.dropped()
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

    /// Sends an object to one peer over `bulk`, under the id `id`.
    ///
    /// The caller chooses ids (the app's share ledger names each share by its object): an id
    /// must be unique among everything this session sends, to any peer, for the whole session;
    /// never reuse one, not even after the object arrived or was cancelled (a receiver ignores
    /// a manifest for an id it saw cancelled). A second object under an id still on its way to
    /// the same peer is dropped (logged), and the first goes on. Only a patient may send
    /// objects ([`haven_proto::bulk::may_send_objects`]): a receiver refuses anyone else's at
    /// the manifest, and the sender gets [`SessionEvent::ObjectCancelled`].
    pub fn send_object(&self, to: PeerId, id: ObjectId, kind: ObjectKind, data: Arc<Vec<u8>>) {
        let manifest = transfer::manifest_for(id, kind, &data);
        let _ = self.commands.send(Command::Object { to, manifest, data });
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

    /// A group room whose media server was lost ([`SessionEvent::MediaServerLost`]): connect
    /// to it again. Does nothing in a mesh, or while the media server is connected.
    ///
    /// [`SessionEvent::MediaServerLost`]: crate::SessionEvent::MediaServerLost
    pub fn reconnect_media(&self) {
        let _ = self.commands.send(Command::ReconnectMedia);
    }

    /// The patient trusts `peer` although its clinic credential did not check out on its
    /// current connection: room events for it alone and objects, held until now, go. (With a
    /// clinic in the invite, a clinician's or therapist's connection carries those only once
    /// its credential checks out on that very connection, or after this.)
    pub fn trust_anyway(&self, peer: PeerId) {
        let _ = self.commands.send(Command::TrustAnyway(peer));
    }

    /// Figures for every peer connection (a hub's session gets them when the hub is next
    /// pumped).
    pub async fn stats(&self) -> Vec<PeerStats> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.commands.send(Command::Stats(tx)).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Asks for every peer connection's figures without waiting (for the frame loop); a hub
    /// answers at its next pump.
    pub fn request_stats(&self) -> StatsRequest {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let _ = self.commands.send(Command::Stats(tx));
        StatsRequest(rx)
    }

    /// Leaves the room and waits for the network thread to finish (a hub's session has none:
    /// it leaves when the hub is next pumped).
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
