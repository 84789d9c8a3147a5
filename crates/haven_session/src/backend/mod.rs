//! The WebRTC backend: a tokio runtime on its own thread, the signaling client, and one
//! webrtc-rs peer connection per remote peer. Every webrtc-rs type stays in this module (and
//! the simulated network of `simnet.rs`).
//!
//! Who offers: the newcomer offers to everyone already in the room (it learns them from the
//! welcome; they learn of it from `peer-joined` and wait). The server orders joins, so two
//! peers never offer to each other at once, and ICE restarts and rebuilds are made by the side
//! that offered the connection. The one exception, a connection whose channels did not open,
//! is rebuilt by the answerer only one period after the offerer would have (see `reconnect`),
//! so the two do not offer at once in the case where both miss channels.
//!
//! Its parts, each adding to the types of [`state`] (which imports none of them):
//! - this file: the runtime, the main loop, and what it does with commands and notes;
//! - [`peer`]: the WebRTC API, setting up a peer connection, and the signaling exchange;
//! - [`channels`]: the three data channels (opened in band) and the audio track of one
//!   connection, wired to the shared receive rules;
//! - [`reconnect`]: connection state, ICE restarts and rebuilt connections;
//! - [`signaling`]: the connection to the server, taken back when lost, and who counts as
//!   left when both it and a peer's media are gone;
//! - [`relay`]: the welcome's STUN and TURN servers, and a check that the relay takes the
//!   credentials it came with;
//! - [`send`]: the sender's side of object transfers;
//! - [`stats`]: figures per connection;
//! - [`group`]: a group room's voices, poses and presence through the media server (Janus),
//!   on a task of its own; the connections above then carry shares and health events only,
//!   between a patient and each clinician or therapist.

mod channels;
mod group;
mod peer;
mod reconnect;
mod relay;
mod send;
mod signaling;
mod state;
mod stats;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use haven_proto::Redacted;
use haven_proto::control::Control;
use haven_proto::signal::{ClientMessage, PeerId, PeerInfo, Role};
use haven_signal::SignalClient;
use tokio::sync::mpsc;
use tracing::{Instrument as _, debug, info_span, warn};
use webrtc::api::media_engine::MIME_TYPE_OPUS;
use webrtc::rtp::header::Header;
use webrtc::rtp::packet::Packet;
use webrtc::rtp_transceiver::rtp_codec::RTCRtpCodecCapability;
use webrtc::track::track_local::TrackLocalWriter as _;
use webrtc::track::track_local::track_local_static_rtp::TrackLocalStaticRTP;

use self::signaling::Link;
use self::state::{AudioClock, Backend, Internal, Kind, MAX_HELD, POSE_SEND_WAIT};
use crate::command::{AudioRoute, Command};
use crate::config::SessionConfig;
use crate::event::SessionEvent;
use crate::life::{Life, LifeTiming};
use crate::queue::EventSender;

pub(crate) fn run(
    config: SessionConfig,
    commands: mpsc::UnboundedReceiver<Command>,
    events: EventSender,
    audio_route: AudioRoute,
) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("haven-net")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = events.send(SessionEvent::Failed(format!("no runtime: {e}")));
            return;
        }
    };
    runtime.block_on(async move {
        if let Err(why) = session(config, commands, events.clone(), audio_route).await {
            let _ = events.send(SessionEvent::Failed(why));
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
}

async fn session(
    config: SessionConfig,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: EventSender,
    audio_route: AudioRoute,
) -> Result<(), String> {
    let (client, welcome) = SignalClient::join(&config.server_url, &config.tls, &config.token)
        .await
        .map_err(|e| format!("joining: {e}"))?;
    // A media server this invite did not announce would hear voices no one agreed to send it.
    if welcome.media.is_some() != config.group.is_some() {
        let _ = client;
        return Err(if config.group.is_some() {
            "the invite is for a group room, but the server names no media server for it".to_owned()
        } else {
            "the server named a media server for a consult whose invite is not for a group room: \
             not joined (voices would go through a server no one agreed to)"
                .to_owned()
        });
    }
    let mut link = Link::new(client, &welcome, &config.server_url, &config.tls);
    let me = PeerInfo {
        id: welcome.peer_id,
        role: welcome.role,
    };
    let span = info_span!("session", room = %welcome.room, me = %me.id);
    let _ = events.send(SessionEvent::Joined {
        me,
        room: welcome.room.clone(),
        peers: welcome.peers.clone(),
        chair: welcome.media.as_ref().and_then(|m| m.chair),
    });
    let (internal_tx, mut internal) = mpsc::unbounded_channel();
    let mut backend = Backend {
        api: Arc::new(
            peer::api(
                config.network,
                config.timing,
                config.simulated.clone(),
                config.relay_only,
            )
            .map_err(|e| format!("WebRTC setup: {e}"))?,
        ),
        me,
        group: welcome.media.clone().map(state::Group::new),
        relay_only: config.relay_only,
        faults: config.faults,
        faulted: HashSet::new(),
        lives: HashMap::new(),
        life_timing: LifeTiming {
            rebuild_after: config.timing.rebuild_after,
            channels_within: config.timing.channels_within,
            grace: signaling::grace_of(&welcome),
            max_rebuilds: crate::MAX_REBUILDS,
        },
        ice_servers: relay::ice_servers(&welcome),
        audio: Arc::new(TrackLocalStaticRTP::new(
            RTCRtpCodecCapability {
                mime_type: MIME_TYPE_OPUS.to_owned(),
                clock_rate: 48_000,
                channels: 2,
                sdp_fmtp_line: peer::OPUS_FMTP.to_owned(),
                rtcp_feedback: vec![],
            },
            "voice".to_owned(),
            "haven".to_owned(),
        )),
        audio_clock: AudioClock::new(),
        peers: HashMap::new(),
        roles: welcome.peers.iter().map(|p| (p.id, p.role)).collect(),
        events: events.clone(),
        audio_route,
        voice_gates: crate::counters::VoiceGates::open_for(welcome.peers.iter().map(|p| p.id)),
        internal: internal_tx,
        bulk_budget: config.bulk_budget,
        next_generation: 0,
        next_task: 0,
        sending: HashMap::new(),
        incoming: HashMap::new(),
        identity: config.identity.clone(),
        clinic: config.clinic,
        signaling_up: true,
    };
    if relay::has_relay(&backend.ice_servers) {
        // Said while the connections are set up (they use the relay whatever it says).
        let servers = backend.ice_servers.clone();
        let tx = backend.internal.clone();
        tokio::spawn(async move {
            let _ = tx.send(Internal::RelayChecked(relay::check(&servers).await));
        });
    } else if config.relay_only {
        return Err(
            "relayed paths only were asked for, but the signaling server names no TURN relay \
             (`haven serve --turn-secret FILE --turn-url URL`)"
                .to_owned(),
        );
    }
    backend.start_group();
    async move {
        // The newcomer offers to everyone already here (in a group room, to those it holds
        // a direct connection to).
        for peer in &welcome.peers {
            let _ = events.send(SessionEvent::PeerJoined(*peer));
            if !backend.meshed(peer.role) {
                continue;
            }
            match backend.add_peer(*peer, true).await {
                Ok(Some(offer)) => {
                    let _ = link
                        .send(&ClientMessage::Offer {
                            to: peer.id,
                            sdp: Redacted::new(offer),
                        })
                        .await;
                }
                Ok(None) => {}
                Err(e) => {
                    warn!(peer = %peer.id, error = %e, "could not set up the peer connection")
                }
            }
        }
        let mut ended = Ok(());
        loop {
            // What to send to the server this turn.
            let mut replies = Vec::new();
            let deadline = backend.next_deadline();
            tokio::select! {
                message = Link::recv(&mut link.client) => match message {
                    Ok(message) => replies = backend.on_signal(message).await,
                    // Non-fatal refusals (a relay to a peer that just left) are logged.
                    Err(haven_signal::ClientError::Refused { code, .. }) if !code.closes() => {
                        debug!(%code, "signaling refused a message");
                    }
                    // Lost (or told to go: a server stopping, a timeout): the consult goes on
                    // and the place is taken back in the background.
                    Err(e) => {
                        debug!(error = %e, "the signaling connection ended");
                        if let Err(why) = link.lost() {
                            ended = Err(why);
                            break;
                        }
                        backend.on_signaling_lost();
                    }
                },
                tried = Link::retried(&mut link.retry) => match tried {
                    Ok((client, welcome)) => {
                        link.back(client, &welcome);
                        replies = backend.on_signaling_back(&welcome).await;
                    }
                    Err(e) => {
                        if let Err(why) = link.failed(&e) {
                            ended = Err(why);
                            break;
                        }
                    }
                },
                () = sleep_until(deadline) => {
                    replies = backend.on_deadline(std::time::Instant::now()).await;
                }
                Some(note) = internal.recv() => {
                    if let Internal::RelayChecked(Err(why)) = &note {
                        let _ = events.send(SessionEvent::RelayUnavailable { why: why.clone() });
                        if backend.relay_only {
                            ended = Err(format!("no relayed path: {why}"));
                            break;
                        }
                    }
                    replies.extend(backend.on_internal(note).await);
                }
                command = commands.recv() => match command {
                    None | Some(Command::Leave) => break,
                    Some(command) => replies.extend(backend.on_command(command).await),
                },
            }
            // Whatever this turn changed of who is in the room.
            backend.refresh_vouches();
            for reply in replies {
                if !link.send(&reply).await {
                    if let Err(why) = link.lost() {
                        ended = Err(why);
                    }
                    backend.on_signaling_lost();
                    break;
                }
            }
            if ended.is_err() {
                break;
            }
        }
        link.bye().await;
        // The group task ends when its sender goes, and leaves the media server.
        backend.group = None;
        for (_, mut send) in backend.sending.drain() {
            if let Some(task) = send.task.take() {
                task.stop();
            }
        }
        for (_, peer) in backend.peers.drain() {
            let _ = peer.pc.close().await;
        }
        ended
    }
    .instrument(span)
    .await
}

/// Until `at` (a life's deadline); never, without one.
async fn sleep_until(at: Option<std::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

impl Backend {
    /// A frame for the group channel (dropped while the media server is lost).
    fn to_group(&self, tag: u8, bytes: &[u8]) {
        if let Some(out) = self.group.as_ref().and_then(|g| g.out.as_ref()) {
            let mut frame = Vec::with_capacity(bytes.len() + 1);
            frame.push(tag);
            frame.extend_from_slice(bytes);
            let _ = out.send(Bytes::from(frame));
        }
    }

    async fn on_internal(&mut self, note: Internal) -> Vec<ClientMessage> {
        match note {
            Internal::Acked(id, object, received) => {
                self.on_acked(id, object, received);
                Vec::new()
            }
            Internal::Declined(id, object, why) => {
                self.on_declined(id, object, why);
                Vec::new()
            }
            Internal::Stalled(id, object, number) => {
                self.on_stalled(id, object, number);
                Vec::new()
            }
            Internal::RelayChecked(outcome) => {
                match outcome {
                    Ok(()) => debug!("the TURN relay granted an allocation"),
                    Err(why) => warn!(%why, "the TURN relay cannot be used"),
                }
                Vec::new()
            }
            Internal::GroupData(run, from, bytes) => {
                self.on_group_data(run, from, &bytes);
                Vec::new()
            }
            Internal::GroupOpen(run, from) => {
                // Everyone is told this side now hears `from`: `from` sends its presence
                // again (what it sent before this side subscribed never came).
                if self.group_peer_connected(run, from).is_some() {
                    self.to_group(group::HEARS, &from.0.to_be_bytes());
                }
                Vec::new()
            }
            Internal::GroupJoined(run, feed) => {
                let Some(group) = self.group.as_mut().filter(|g| g.run == run) else {
                    return Vec::new();
                };
                group.my_feed = Some(feed);
                let _ = self.events.send(SessionEvent::MediaServerJoined);
                // Each peer with a direct connection learns which stream is this side's: now
                // where the connection is open and checked, else first thing when it is.
                let said = Bytes::from(haven_proto::control::encode(&Control::GroupFeed { feed }));
                for peer in self.peers.values().filter(|p| p.open && p.checked) {
                    let _ = peer.links.send(Kind::Control, &said).await;
                }
                Vec::new()
            }
            Internal::Vouched(id, generation, feed) => {
                match self
                    .peers
                    .get_mut(&id)
                    .filter(|p| p.generation == generation)
                {
                    Some(peer) if peer.checked => self.vouched(id, feed),
                    // Taken once the connection's credential checks out (or is trusted).
                    Some(peer) => peer.unchecked_vouch = Some(feed),
                    None => {}
                }
                Vec::new()
            }
            Internal::GroupEnded(run, why) => {
                if let Some(group) = self.group.as_mut().filter(|g| g.run == run) {
                    group.out = None;
                    group.my_feed = None;
                    if let Some(why) = why {
                        warn!(%why, "the media server was lost");
                        let _ = self.events.send(SessionEvent::MediaServerLost { why });
                    }
                }
                Vec::new()
            }
            note => self.on_connection_note(note).await,
        }
    }

    /// A room event for `to` alone, on its direct connection: now, or when its channels open
    /// (and the connection is checked).
    async fn control_to(&mut self, to: PeerId, bytes: Vec<u8>) {
        match self.peers.get_mut(&to) {
            Some(peer) if peer.open && peer.checked => {
                let _ = peer.links.send(Kind::Control, &Bytes::from(bytes)).await;
            }
            Some(peer) if peer.held_control.len() < MAX_HELD => {
                peer.held_control.push(Bytes::from(bytes));
            }
            Some(_) => warn!(peer = %to, "too many room events held for a peer; one dropped"),
            None => {}
        }
    }

    /// `id` (its connection checked) vouched for its stream `feed`: the group task may take
    /// that stream as `id`'s.
    pub(super) fn vouched(&self, id: PeerId, feed: u64) {
        if let Some(group) = &self.group {
            group
                .vouches
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .feeds
                .insert(id, feed);
            group.changed.notify_one();
        }
    }

    /// Tells the group task who is in the room, and who must vouch for its stream (see
    /// `state::Vouches`), when that changed. Called every turn of the main loop.
    pub(super) fn refresh_vouches(&self) {
        let Some(group) = &self.group else {
            return;
        };
        let mut vouches = group.vouches.lock().unwrap_or_else(|p| p.into_inner());
        let must_vouch = |role| state::meshed(self.me.role, role);
        // Nothing allocated on the turns (most of them) where no one came or went.
        if vouches.known.len() == self.roles.len()
            && self
                .roles
                .iter()
                .all(|(peer, &role)| vouches.known.get(peer) == Some(&must_vouch(role)))
        {
            return;
        }
        let known: HashMap<PeerId, bool> = self
            .roles
            .iter()
            .map(|(&peer, &role)| (peer, must_vouch(role)))
            .collect();
        vouches.feeds.retain(|peer, _| known.contains_key(peer));
        vouches.known = known;
        drop(vouches);
        group.changed.notify_one();
    }

    /// Starts a group room's task, if this is a group room and none runs.
    fn start_group(&mut self) {
        let Some(group) = self.group.as_mut().filter(|g| g.out.is_none()) else {
            return;
        };
        group.run = group.run.wrapping_add(1);
        // Counters of an earlier run's streams would mix two RTP clocks.
        group.audio = Arc::default();
        group.my_feed = None;
        group.out = Some(group::start(group::Parts {
            media: group.media.clone(),
            me: self.me.id,
            run: group.run,
            api: Arc::clone(&self.api),
            ice_servers: self.ice_servers.clone(),
            relay_only: self.relay_only,
            audio: Arc::clone(&self.audio),
            events: self.events.clone(),
            route: self.audio_route.clone(),
            gates: self.voice_gates.clone(),
            internal: self.internal.clone(),
            counters: Arc::clone(&group.audio),
            vouches: Arc::clone(&group.vouches),
            changed: Arc::clone(&group.changed),
        }));
        self.refresh_vouches();
    }

    /// Keeps the latest presence event of its kind, to send again to whoever starts hearing
    /// this side.
    fn remember_presence(&mut self, bytes: &[u8]) {
        let (Some(group), Ok(message)) = (self.group.as_mut(), haven_proto::control::decode(bytes))
        else {
            return;
        };
        let kind = message.kind();
        let bytes = Bytes::copy_from_slice(bytes);
        match group.presence.iter_mut().find(|(k, _)| *k == kind) {
            Some(kept) => kept.1 = bytes,
            None => group.presence.push((kind, bytes)),
        }
    }

    /// Sends this side's presence again through the media server.
    fn send_presence_again(&self) {
        let Some(group) = &self.group else {
            return;
        };
        for (_, bytes) in &group.presence {
            self.to_group(group::CONTROL, bytes);
        }
    }

    /// `from`'s channel through the media server opened, or a message came on it: said
    /// connected the first time, for a peer this side holds no direct connection to (whose
    /// connection says so otherwise). Its role, if it is in the room and the run is current.
    fn group_peer_connected(&mut self, run: u32, from: PeerId) -> Option<Role> {
        let group = self.group.as_mut().filter(|g| g.run == run)?;
        let Some(&role) = self.roles.get(&from) else {
            debug!(peer = %from, "group data from a peer not in the room; dropped");
            return None;
        };
        if from == self.me.id {
            return None;
        }
        if !state::meshed(self.me.role, role) && group.seen.insert(from) {
            let _ = self.events.send(SessionEvent::PeerConnected(from));
        }
        Some(role)
    }

    /// A message through the media server: from a peer the server says is in the room, a
    /// pose or a presence event its role may send; anything else is refused.
    fn on_group_data(&mut self, run: u32, from: PeerId, bytes: &[u8]) {
        let Some(role) = self.group_peer_connected(run, from) else {
            return;
        };
        let refused = |why: &str| SessionEvent::Refused {
            from,
            channel: haven_proto::channel::CONTROL,
            why: why.to_owned(),
            forbidden: None,
        };
        let event = match bytes.split_first() {
            Some((&group::HEARS, heard)) => {
                if heard == self.me.id.0.to_be_bytes() {
                    self.send_presence_again();
                }
                return;
            }
            Some((&group::POSE, pose)) => crate::receive::pose_event(from, pose),
            Some((&group::CONTROL, message)) => {
                match crate::receive::control_event(from, role, message) {
                    SessionEvent::Control { message, .. } if !group::group_public(&message) => {
                        refused("only presence events come through the media server")
                    }
                    event => event,
                }
            }
            _ => refused("not a group room message"),
        };
        let _ = self.events.send(event);
    }

    async fn on_command(&mut self, command: Command) -> Vec<ClientMessage> {
        match command {
            Command::Pose(bytes) if self.group.is_some() => {
                self.to_group(group::POSE, &bytes);
            }
            Command::Control(bytes)
                if self.group.is_some()
                    && haven_proto::control::decode(&bytes)
                        .is_ok_and(|m| group::group_public(&m)) =>
            {
                self.to_group(group::CONTROL, &bytes);
                self.remember_presence(&bytes);
            }
            Command::ReconnectMedia => self.start_group(),
            Command::Pose(bytes) => {
                let bytes = Bytes::from(bytes);
                for peer in self.peers.values_mut().filter(|p| p.open) {
                    let send = peer.links.send(Kind::Pose, &bytes);
                    if tokio::time::timeout(POSE_SEND_WAIT, send).await.is_err() {
                        peer.poses_dropped += 1;
                    }
                }
            }
            Command::Control(bytes) => {
                let bytes = Bytes::from(bytes);
                for peer in self.peers.values().filter(|p| p.open) {
                    let _ = peer.links.send(Kind::Control, &bytes).await;
                }
            }
            Command::ControlTo(to, bytes) => self.control_to(to, bytes).await,
            Command::Audio {
                packet,
                duration,
                skipped,
            } => {
                // 48 kHz: the RTP clock of Opus, whatever the frame length.
                let samples = (duration.as_micros() * 48 / 1000) as u32;
                let (sequence_number, timestamp, marker) = self.audio_clock.next(samples, skipped);
                let packet = Packet {
                    header: Header {
                        version: 2,
                        marker,
                        sequence_number,
                        timestamp,
                        // Each connection's own SSRC and payload type are put in as it is
                        // written to that connection.
                        ..Default::default()
                    },
                    payload: Bytes::from(packet),
                };
                let _ = self.audio.write_rtp(&packet).await;
            }
            Command::Object { to, manifest, data } => self.send_object(to, manifest, data),
            Command::Cancel { to, id } => self.cancel_object(to, id).await,
            Command::Reconnect(to) => {
                // Asked for: a fresh count of tries.
                let actions = self
                    .lives
                    .get_mut(&to)
                    .map(Life::reconnect)
                    .unwrap_or_default();
                return self.act(to, actions).await;
            }
            Command::TrustAnyway(peer) => self.trust(peer).await,
            Command::Stats(reply) => {
                let _ = reply.send(self.stats().await);
            }
            Command::Leave => {}
        }
        Vec::new()
    }
}
