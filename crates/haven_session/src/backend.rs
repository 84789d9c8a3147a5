//! The network side: a tokio runtime on its own thread, the signaling client, and one
//! webrtc-rs peer connection per remote peer. Every webrtc-rs type stays in this file (and the
//! simulated network of `simnet.rs`).
//!
//! Who offers: the newcomer offers to everyone already in the room (it learns them from the
//! welcome; they learn of it from `peer-joined` and wait). The server orders joins, so two
//! peers never offer to each other at once, and ICE restarts are made by the side that made the
//! first offer: there is no glare to resolve.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use haven_proto::bulk::{self, Bulk, CancelReason, Manifest, ObjectId};
use haven_proto::signal::{ClientMessage, IceCandidate, PeerId, PeerInfo, Role, ServerMessage};
use haven_proto::{Redacted, channel, control, pose};
use haven_signal::SignalClient;
use tokio::sync::{Notify, mpsc};
use tracing::{Instrument as _, debug, info, info_span, warn};
use webrtc::api::interceptor_registry::register_default_interceptors;
use webrtc::api::media_engine::{MIME_TYPE_OPUS, MediaEngine};
use webrtc::api::setting_engine::SettingEngine;
use webrtc::api::{API, APIBuilder};
use webrtc::data_channel::RTCDataChannel;
use webrtc::data_channel::data_channel_init::RTCDataChannelInit;
use webrtc::ice::mdns::MulticastDnsMode;
use webrtc::ice::network_type::NetworkType;
use webrtc::ice_transport::ice_candidate::RTCIceCandidateInit;
use webrtc::ice_transport::ice_server::RTCIceServer;
use webrtc::interceptor::registry::Registry;
use webrtc::media::Sample;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::offer_answer_options::RTCOfferOptions;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::rtp_transceiver::rtp_codec::RTCRtpCodecCapability;
use webrtc::stats::StatsReportType;
use webrtc::track::track_local::TrackLocal;
use webrtc::track::track_local::track_local_static_sample::TrackLocalStaticSample;

use crate::transfer::{Incoming, Received, chunks_from, outgoing};
use crate::{AudioPacket, Command, NetworkPolicy, PeerStats, SessionConfig, SessionEvent};

/// Negotiated SCTP stream ids: both sides create the channels, nobody announces them.
const POSE_ID: u16 = 1;
const CONTROL_ID: u16 = 2;
const BULK_ID: u16 = 3;
/// Back-pressure on `bulk`: stop queueing above HIGH, resume below LOW. Poses share the SCTP
/// association with `bulk` and queue behind what is buffered, so HIGH bounds how long a pose
/// can wait behind a transfer (256 KiB at 20 MB/s is 13 ms) while keeping the pipe full.
const BULK_HIGH: usize = 256 * 1024;
const BULK_LOW: usize = 64 * 1024;
/// The most room events (and cancels) held for one peer while its channels are not open.
const MAX_HELD: usize = 256;

pub(crate) fn run(
    config: SessionConfig,
    commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<SessionEvent>,
    audio_route: crate::AudioRoute,
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

/// What peer-connection callbacks and send tasks tell the main loop (which owns the signaling
/// client). The `u32` is the connection's generation: notes from a connection that has since
/// been replaced are ignored.
enum Internal {
    Candidate(PeerId, u32, RTCIceCandidateInit),
    State(PeerId, u32, RTCPeerConnectionState),
    Open(PeerId, u32),
    Ready(PeerId, u32),
    /// Still not connected, some time after an ICE restart?
    Recheck(PeerId, u32),
    /// The receiver holds this many bytes of an object we send it.
    Acked(PeerId, ObjectId, u64),
    /// The receiver cancelled an object we send it.
    Declined(PeerId, ObjectId),
    /// A send task (its number) found its channel closed.
    Stalled(PeerId, ObjectId, u64),
}

/// How long after our channels open before we send on them. webrtc-rs opens pre-negotiated
/// channels just after the SCTP association is up; data that reaches it in between lands on a
/// stream it then cannot open (and ends its accept loop), so that channel never works. Both
/// sides wait this long after their own open before sending, which keeps each side's first
/// message well clear of the other side's open. (A move to in-band DCEP channels removes the
/// race for good; see docs/ARCHITECTURE.md.)
const SEND_GRACE: Duration = Duration::from_millis(100);

struct Peer {
    info: PeerInfo,
    /// Which connection to this peer this is (a reconnect builds a new one).
    generation: u32,
    /// Reconnecting was reported: say `PeerReconnected` once it works again.
    announce_reconnect: bool,
    /// Room events for this peer alone (share terms, revokes, views) asked for while its
    /// channels were not open: sent when they open. Bounded.
    held_control: Vec<Bytes>,
    /// Objects cancelled while its channels were not open: their `Cancel` goes when they open.
    held_cancels: Vec<ObjectId>,
    pc: Arc<RTCPeerConnection>,
    pose: Arc<RTCDataChannel>,
    control: Arc<RTCDataChannel>,
    bulk: Arc<RTCDataChannel>,
    bulk_low: Arc<Notify>,
    offerer: bool,
    remote_set: bool,
    pending: Vec<RTCIceCandidateInit>,
    open: bool,
    audio: Arc<Mutex<AudioCounters>>,
}

/// An object on its way to a peer. It stays here until the receiver acknowledges every byte,
/// so a transfer broken by a reconnect can go on from what the receiver holds.
struct Sending {
    manifest: Manifest,
    data: Arc<Vec<u8>>,
    /// Bytes the receiver said it holds.
    acked: u64,
    /// The task sending chunks, while one runs.
    task: Option<SendTask>,
    /// A `Resume` went out; the receiver's ack says where to go on.
    resuming: bool,
}

/// A task sending an object's chunks. It is stopped by a flag it reads between messages, never
/// aborted: webrtc-rs numbers a message for ordered delivery before it queues it, so a send
/// cut off in between would leave a hole that holds back everything after it on `bulk`.
struct SendTask {
    number: u64,
    stop: Arc<AtomicBool>,
}

impl SendTask {
    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct AudioCounters {
    received: u64,
    highest_seq: Option<u16>,
    expected: u64,
    jitter_ms: f64,
    last_transit: Option<f64>,
}

fn api(
    network: NetworkPolicy,
    timing: crate::ConnectionTiming,
    simulated: Option<crate::simnet::SimulatedNic>,
) -> Result<API, webrtc::Error> {
    let mut media = MediaEngine::default();
    media.register_default_codecs()?;
    let registry = register_default_interceptors(Registry::new(), &mut media)?;
    let mut settings = SettingEngine::default();
    settings.set_ice_multicast_dns_mode(MulticastDnsMode::Disabled);
    // With trickle ICE the answerer's first check often arrives before its candidate does, so
    // the offerer first knows that path as peer-reflexive; the default 1 s wait before
    // nominating such a pair made every join take a second. On loopback there is nothing
    // better to wait for; elsewhere a short wait still lets a host pair win.
    settings.set_host_acceptance_min_wait(Some(Duration::ZERO));
    settings.set_prflx_acceptance_min_wait(Some(match network {
        NetworkPolicy::LoopbackOnly => Duration::ZERO,
        NetworkPolicy::Any => Duration::from_millis(150),
    }));
    settings.set_ice_timeouts(
        Some(timing.disconnected_after),
        Some(timing.failed_after),
        Some(timing.keepalive),
    );
    if let Some(nic) = simulated {
        // Its own addresses only: no filter, no loopback.
        settings.set_vnet(Some(nic.0));
        settings.set_network_types(vec![NetworkType::Udp4]);
    } else if network == NetworkPolicy::LoopbackOnly {
        settings.set_include_loopback_candidate(true);
        settings.set_ip_filter(Box::new(|ip| ip.is_loopback()));
        settings.set_network_types(vec![NetworkType::Udp4]);
    }
    Ok(APIBuilder::new()
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_setting_engine(settings)
        .build())
}

/// A pre-negotiated channel: reliable and ordered, or unordered with no retransmits.
fn channel_init(id: u16, reliable: bool) -> RTCDataChannelInit {
    RTCDataChannelInit {
        ordered: Some(reliable),
        max_retransmits: (!reliable).then_some(0),
        protocol: Some(channel::PROTOCOL.to_owned()),
        negotiated: Some(id),
        ..Default::default()
    }
}

fn to_webrtc(c: &IceCandidate) -> RTCIceCandidateInit {
    RTCIceCandidateInit {
        candidate: c.candidate.expose().clone(),
        sdp_mid: c.sdp_mid.clone(),
        sdp_mline_index: c.sdp_mline_index,
        username_fragment: c.username_fragment.clone(),
    }
}

fn from_webrtc(c: RTCIceCandidateInit) -> IceCandidate {
    IceCandidate {
        candidate: Redacted::new(c.candidate),
        // webrtc-rs says `""` where it means "not given"; other stacks (aiortc) then match no
        // m-line and drop the candidate, while the index alone finds the bundled one.
        sdp_mid: c.sdp_mid.filter(|mid| !mid.is_empty()),
        sdp_mline_index: c.sdp_mline_index,
        username_fragment: c.username_fragment,
    }
}

struct Backend {
    api: API,
    ice_servers: Vec<RTCIceServer>,
    audio: Arc<TrackLocalStaticSample>,
    peers: HashMap<PeerId, Peer>,
    /// Roles of everyone in the room, as the server told them (welcome and peer-joined).
    roles: HashMap<PeerId, Role>,
    events: mpsc::UnboundedSender<SessionEvent>,
    /// Voice packets go here instead of `events` when a voice thread took them.
    audio_route: crate::AudioRoute,
    internal: mpsc::UnboundedSender<Internal>,
    bulk_budget: u64,
    /// How long an ICE restart (or a rebuilt connection) may take before the side that offered
    /// builds a new connection (new DTLS and SCTP; transfers resume from what arrived).
    rebuild_after: Duration,
    next_generation: u32,
    next_task: u64,
    /// Objects on their way, by receiver.
    sending: HashMap<(PeerId, ObjectId), Sending>,
    /// Objects arriving, by sender; kept across a reconnect, dropped when the peer leaves.
    incoming: HashMap<PeerId, Arc<Mutex<Incoming>>>,
    /// Peers whose channels have opened at least once (`PeerConnected` was said).
    connected_once: std::collections::HashSet<PeerId>,
}

async fn session(
    config: SessionConfig,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<SessionEvent>,
    audio_route: crate::AudioRoute,
) -> Result<(), String> {
    let (mut client, welcome) = SignalClient::join(&config.server_url, &config.tls, &config.token)
        .await
        .map_err(|e| format!("joining: {e}"))?;
    let me = PeerInfo {
        id: welcome.peer_id,
        role: welcome.role,
    };
    let span = info_span!("session", room = %welcome.room, me = %me.id);
    let _ = events.send(SessionEvent::Joined {
        me,
        room: welcome.room.clone(),
        peers: welcome.peers.clone(),
    });
    let (internal_tx, mut internal) = mpsc::unbounded_channel();
    let mut backend = Backend {
        api: api(config.network, config.timing, config.simulated.clone())
            .map_err(|e| format!("WebRTC setup: {e}"))?,
        rebuild_after: config.timing.rebuild_after,
        ice_servers: welcome
            .ice_servers
            .iter()
            .map(|s| RTCIceServer {
                urls: s.urls.clone(),
                username: s.username.clone().unwrap_or_default(),
                credential: s
                    .credential
                    .as_ref()
                    .map(|c| c.expose().clone())
                    .unwrap_or_default(),
            })
            .collect(),
        audio: Arc::new(TrackLocalStaticSample::new(
            RTCRtpCodecCapability {
                mime_type: MIME_TYPE_OPUS.to_owned(),
                clock_rate: 48_000,
                channels: 2,
                sdp_fmtp_line: "minptime=10;useinbandfec=1;usedtx=1".to_owned(),
                rtcp_feedback: vec![],
            },
            "voice".to_owned(),
            "haven".to_owned(),
        )),
        peers: HashMap::new(),
        roles: welcome.peers.iter().map(|p| (p.id, p.role)).collect(),
        events: events.clone(),
        audio_route,
        internal: internal_tx,
        bulk_budget: config.bulk_budget,
        next_generation: 0,
        next_task: 0,
        sending: HashMap::new(),
        incoming: HashMap::new(),
        connected_once: std::collections::HashSet::new(),
    };
    async move {
        // The newcomer offers to everyone already here.
        for peer in &welcome.peers {
            let _ = events.send(SessionEvent::PeerJoined(*peer));
            match backend.add_peer(*peer, true).await {
                Ok(Some(offer)) => {
                    let _ = client
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
        loop {
            tokio::select! {
                message = client.recv() => match message {
                    Ok(message) => {
                        for reply in backend.on_signal(message).await {
                            if client.send(&reply).await.is_err() {
                                return Err("the signaling connection broke".to_owned());
                            }
                        }
                    }
                    Err(haven_signal::ClientError::Refused { code, message }) => {
                        // Non-fatal refusals (a relay to a peer that just left) are logged.
                        if code.closes() {
                            return Err(format!("signaling: {code} ({message})"));
                        }
                        debug!(%code, "signaling refused a message");
                    }
                    Err(e) => return Err(format!("signaling: {e}")),
                },
                Some(note) = internal.recv() => {
                    if let Some(reply) = backend.on_internal(note).await
                        && client.send(&reply).await.is_err()
                    {
                        return Err("the signaling connection broke".to_owned());
                    }
                }
                command = commands.recv() => match command {
                    None | Some(Command::Leave) => break,
                    Some(command) => {
                        if let Some(reply) = backend.on_command(command).await
                            && client.send(&reply).await.is_err()
                        {
                            return Err("the signaling connection broke".to_owned());
                        }
                    }
                },
            }
        }
        let _ = client.bye().await;
        for (_, mut send) in backend.sending.drain() {
            if let Some(task) = send.task.take() {
                task.stop();
            }
        }
        for (_, peer) in backend.peers.drain() {
            let _ = peer.pc.close().await;
        }
        Ok(())
    }
    .instrument(span)
    .await
}

impl Backend {
    /// Sets up a connection to `info`; returns the offer to send when we are the offerer.
    async fn add_peer(
        &mut self,
        info: PeerInfo,
        offerer: bool,
    ) -> Result<Option<String>, webrtc::Error> {
        let id = info.id;
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        let replaced = self.peers.remove(&id);
        let rebuilt = replaced.is_some();
        let (mut held_control, mut held_cancels) = (Vec::new(), Vec::new());
        if let Some(old) = replaced {
            // What was on its way goes on over the new connection, from what arrived; what
            // waited for the old one to open waits for the new one.
            self.pause_sends(id);
            held_control = old.held_control;
            held_cancels = old.held_cancels;
            let _ = old.pc.close().await;
        }
        let pc = Arc::new(
            self.api
                .new_peer_connection(RTCConfiguration {
                    ice_servers: self.ice_servers.clone(),
                    ..Default::default()
                })
                .await?,
        );
        let sender = pc
            .add_track(Arc::clone(&self.audio) as Arc<dyn TrackLocal + Send + Sync>)
            .await?;
        // RTCP must be read for the interceptors (NACK, reports) to work.
        tokio::spawn(async move {
            let mut buf = vec![0u8; 1500];
            while sender.read(&mut buf).await.is_ok() {}
        });
        let pose_dc = pc
            .create_data_channel(channel::POSE, Some(channel_init(POSE_ID, false)))
            .await?;
        let control_dc = pc
            .create_data_channel(channel::CONTROL, Some(channel_init(CONTROL_ID, true)))
            .await?;
        let bulk_dc = pc
            .create_data_channel(channel::BULK, Some(channel_init(BULK_ID, true)))
            .await?;

        let events = self.events.clone();
        pose_dc.on_message(Box::new(move |msg| {
            let event = match pose::decode(&msg.data) {
                Ok(update) => SessionEvent::Pose { from: id, update },
                Err(e) => SessionEvent::Refused {
                    from: id,
                    channel: channel::POSE,
                    why: e.to_string(),
                },
            };
            let _ = events.send(event);
            Box::pin(async {})
        }));

        let events = self.events.clone();
        let role = info.role;
        control_dc.on_message(Box::new(move |msg| {
            let event = match control::decode(&msg.data) {
                Ok(message) if message.allowed_from(role) => SessionEvent::Control {
                    from: id,
                    role,
                    message,
                },
                Ok(message) => SessionEvent::Refused {
                    from: id,
                    channel: channel::CONTROL,
                    why: format!("a {role} may not send {}", message.kind()),
                },
                Err(e) => SessionEvent::Refused {
                    from: id,
                    channel: channel::CONTROL,
                    why: e.to_string(),
                },
            };
            let _ = events.send(event);
            Box::pin(async {})
        }));
        let internal = self.internal.clone();
        control_dc.on_open(Box::new(move || {
            let _ = internal.send(Internal::Open(id, generation));
            Box::pin(async {})
        }));

        let events = self.events.clone();
        let budget = self.bulk_budget;
        let incoming = Arc::clone(
            self.incoming
                .entry(id)
                .or_insert_with(|| Arc::new(Mutex::new(Incoming::new(budget)))),
        );
        let internal = self.internal.clone();
        let reply_dc: Weak<RTCDataChannel> = Arc::downgrade(&bulk_dc);
        bulk_dc.on_message(Box::new(move |msg| {
            let reply = match bulk::decode(&msg.data) {
                Err(e) => {
                    let _ = events.send(SessionEvent::Refused {
                        from: id,
                        channel: channel::BULK,
                        why: e.to_string(),
                    });
                    None
                }
                // About an object we send: for the main loop.
                Ok(Bulk::Ack {
                    id: object,
                    received,
                }) => {
                    let _ = internal.send(Internal::Acked(id, object, received));
                    None
                }
                // A receiver's refusal of an object we send (a sender's own cancel is always
                // `Revoked`; ids are chosen by each sender, so the reason tells them apart).
                Ok(Bulk::Cancel {
                    id: object,
                    reason: CancelReason::Declined | CancelReason::Corrupt,
                }) => {
                    let _ = internal.send(Internal::Declined(id, object));
                    None
                }
                Ok(message) => {
                    let received = incoming
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .on_message(message);
                    match received {
                        Received::Nothing => None,
                        Received::Progress {
                            id: object,
                            received,
                            size,
                        } => {
                            let _ = events.send(SessionEvent::ObjectProgress {
                                from: id,
                                id: object,
                                received,
                                size,
                            });
                            Some(Bulk::Ack {
                                id: object,
                                received,
                            })
                        }
                        Received::Complete { manifest, data } => {
                            let ack = Bulk::Ack {
                                id: manifest.id,
                                received: manifest.size,
                            };
                            let _ = events.send(SessionEvent::ObjectReceived {
                                from: id,
                                manifest,
                                data,
                            });
                            Some(ack)
                        }
                        Received::Refused {
                            id: object,
                            reason,
                            why,
                        } => {
                            let _ = events.send(SessionEvent::ObjectCancelled {
                                peer: id,
                                id: object,
                                why: why.to_owned(),
                            });
                            Some(Bulk::Cancel { id: object, reason })
                        }
                        Received::Cancelled(object) => {
                            let _ = events.send(SessionEvent::ObjectCancelled {
                                peer: id,
                                id: object,
                                why: "cancelled by the sender".to_owned(),
                            });
                            None
                        }
                        Received::Resume { id: object, held } => Some(Bulk::Ack {
                            id: object,
                            received: held,
                        }),
                    }
                }
            };
            let dc = reply_dc.upgrade();
            Box::pin(async move {
                if let (Some(reply), Some(dc)) = (reply, dc) {
                    let _ = dc.send(&Bytes::from(bulk::encode(&reply))).await;
                }
            })
        }));
        let bulk_low = Arc::new(Notify::new());
        bulk_dc.set_buffered_amount_low_threshold(BULK_LOW).await;
        let notify = Arc::clone(&bulk_low);
        bulk_dc
            .on_buffered_amount_low(Box::new(move || {
                notify.notify_one();
                Box::pin(async {})
            }))
            .await;

        let internal = self.internal.clone();
        pc.on_ice_candidate(Box::new(move |candidate| {
            if let Some(c) = candidate.and_then(|c| c.to_json().ok()) {
                let _ = internal.send(Internal::Candidate(id, generation, c));
            }
            Box::pin(async {})
        }));
        let internal = self.internal.clone();
        pc.on_peer_connection_state_change(Box::new(move |state| {
            let _ = internal.send(Internal::State(id, generation, state));
            Box::pin(async {})
        }));
        let events = self.events.clone();
        let route = self.audio_route.clone();
        let counters = Arc::new(Mutex::new(AudioCounters::default()));
        let track_counters = Arc::clone(&counters);
        pc.on_track(Box::new(move |track, _, _| {
            let events = events.clone();
            let route = route.clone();
            let counters = Arc::clone(&track_counters);
            tokio::spawn(async move {
                while let Ok((packet, _)) = track.read_rtp().await {
                    if packet.payload.is_empty() {
                        continue;
                    }
                    let arrived = Instant::now();
                    count_audio(&counters, &packet.header, arrived);
                    let audio = AudioPacket {
                        timestamp: packet.header.timestamp,
                        sequence: packet.header.sequence_number,
                        payload: packet.payload.to_vec(),
                        arrived,
                    };
                    match &route {
                        Some(voice) => {
                            let _ = voice.send((id, audio));
                        }
                        None => {
                            let _ = events.send(SessionEvent::Audio {
                                from: id,
                                packet: audio,
                            });
                        }
                    }
                }
            });
            Box::pin(async {})
        }));

        let offer = if offerer {
            let offer = pc.create_offer(None).await?;
            pc.set_local_description(offer.clone()).await?;
            Some(offer.sdp)
        } else {
            None
        };
        self.peers.insert(
            id,
            Peer {
                info,
                generation,
                announce_reconnect: rebuilt,
                held_control,
                held_cancels,
                pc,
                pose: pose_dc,
                control: control_dc,
                bulk: bulk_dc,
                bulk_low,
                offerer,
                remote_set: false,
                pending: Vec::new(),
                open: false,
                audio: counters,
            },
        );
        Ok(offer)
    }

    /// Acts on a message from the server; returns what to send back.
    async fn on_signal(&mut self, message: ServerMessage) -> Vec<ClientMessage> {
        match message {
            ServerMessage::PeerJoined { peer } => {
                info!(peer = %peer.id, role = %peer.role, "peer joined; waiting for its offer");
                self.roles.insert(peer.id, peer.role);
                let _ = self.events.send(SessionEvent::PeerJoined(peer));
                Vec::new()
            }
            ServerMessage::PeerLeft { peer_id } => {
                self.roles.remove(&peer_id);
                if let Some(peer) = self.peers.remove(&peer_id) {
                    let _ = peer.pc.close().await;
                }
                self.drop_sends(peer_id, "the peer left");
                // What had arrived in part is gone with it.
                self.incoming.remove(&peer_id);
                self.connected_once.remove(&peer_id);
                let _ = self.events.send(SessionEvent::PeerLeft(peer_id));
                Vec::new()
            }
            ServerMessage::Offer { from, sdp } => {
                let needs_peer = match self.peers.get(&from) {
                    None => true,
                    Some(p) if p.offerer => true,
                    // An offer from a new connection (the other side rebuilt it after a
                    // failed ICE restart) has a new DTLS certificate; an ICE restart does not.
                    Some(p) => p.pc.remote_description().await.is_some_and(|current| {
                        dtls_fingerprint(&current.sdp) != dtls_fingerprint(sdp.expose())
                    }),
                };
                if needs_peer {
                    // A newcomer's first offer; its role came in `peer-joined`. An offer from
                    // a peer the server never announced is ignored.
                    let Some(&role) = self.roles.get(&from) else {
                        warn!(peer = %from, "offer from a peer not in the room");
                        return Vec::new();
                    };
                    if let Err(e) = self.add_peer(PeerInfo { id: from, role }, false).await {
                        warn!(peer = %from, error = %e, "could not set up the peer connection");
                        return Vec::new();
                    }
                }
                match self.answer(from, sdp.into_inner()).await {
                    Ok(answer) => vec![ClientMessage::Answer {
                        to: from,
                        sdp: Redacted::new(answer),
                    }],
                    Err(e) => {
                        warn!(peer = %from, error = %e, "could not answer an offer");
                        Vec::new()
                    }
                }
            }
            ServerMessage::Answer { from, sdp } => {
                if let Some(peer) = self.peers.get_mut(&from) {
                    match RTCSessionDescription::answer(sdp.into_inner()) {
                        Ok(desc) => match peer.pc.set_remote_description(desc).await {
                            Ok(()) => {
                                peer.remote_set = true;
                                for c in std::mem::take(&mut peer.pending) {
                                    let _ = peer.pc.add_ice_candidate(c).await;
                                }
                            }
                            Err(e) => warn!(peer = %from, error = %e, "answer refused"),
                        },
                        Err(e) => warn!(peer = %from, error = %e, "malformed answer"),
                    }
                }
                Vec::new()
            }
            ServerMessage::IceCandidate { from, candidate } => {
                if let Some(peer) = self.peers.get_mut(&from) {
                    let c = to_webrtc(&candidate);
                    if peer.remote_set {
                        if let Err(e) = peer.pc.add_ice_candidate(c).await {
                            debug!(peer = %from, error = %e, "candidate refused");
                        }
                    } else {
                        peer.pending.push(c);
                    }
                }
                Vec::new()
            }
            ServerMessage::Welcome { .. } => Vec::new(),
            ServerMessage::Error { code, .. } => {
                debug!(%code, "server error");
                Vec::new()
            }
        }
    }

    async fn answer(&mut self, from: PeerId, sdp: String) -> Result<String, webrtc::Error> {
        let peer = self.peers.get_mut(&from).expect("created above");
        peer.pc
            .set_remote_description(RTCSessionDescription::offer(sdp)?)
            .await?;
        peer.remote_set = true;
        for c in std::mem::take(&mut peer.pending) {
            let _ = peer.pc.add_ice_candidate(c).await;
        }
        let answer = peer.pc.create_answer(None).await?;
        peer.pc.set_local_description(answer.clone()).await?;
        Ok(answer.sdp)
    }

    async fn on_internal(&mut self, note: Internal) -> Option<ClientMessage> {
        // Notes from a connection that was replaced since are stale.
        let current = |peers: &HashMap<PeerId, Peer>, id: &PeerId, generation: u32| {
            peers.get(id).is_some_and(|p| p.generation == generation)
        };
        match note {
            Internal::Candidate(to, generation, c) => {
                current(&self.peers, &to, generation).then(|| ClientMessage::IceCandidate {
                    to,
                    candidate: from_webrtc(c),
                })
            }
            Internal::Open(id, generation) => {
                if current(&self.peers, &id, generation) {
                    let internal = self.internal.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(SEND_GRACE).await;
                        let _ = internal.send(Internal::Ready(id, generation));
                    });
                }
                None
            }
            Internal::Ready(id, generation) => {
                if !current(&self.peers, &id, generation) {
                    return None;
                }
                let peer = self.peers.get_mut(&id)?;
                peer.open = true;
                info!(peer = %id, generation, "channels open");
                let reconnected = std::mem::take(&mut peer.announce_reconnect);
                if self.connected_once.insert(id) {
                    // The first time its channels open, whatever happened before.
                    let _ = self.events.send(SessionEvent::PeerConnected(id));
                } else if reconnected {
                    let _ = self.events.send(SessionEvent::PeerReconnected(id));
                }
                for cancel in std::mem::take(&mut peer.held_cancels) {
                    let cancel = Bulk::Cancel {
                        id: cancel,
                        reason: CancelReason::Revoked,
                    };
                    let _ = peer.bulk.send(&Bytes::from(bulk::encode(&cancel))).await;
                }
                for bytes in std::mem::take(&mut peer.held_control) {
                    let _ = peer.control.send(&bytes).await;
                }
                self.resume_sends(id).await;
                None
            }
            Internal::State(id, generation, state) => {
                debug!(peer = %id, ?state, "connection state");
                if !current(&self.peers, &id, generation) {
                    return None;
                }
                let peer = self.peers.get_mut(&id)?;
                match state {
                    RTCPeerConnectionState::Connected if peer.open && peer.announce_reconnect => {
                        // An ICE restart worked: the same connection goes on.
                        peer.announce_reconnect = false;
                        if self.connected_once.contains(&id) {
                            let _ = self.events.send(SessionEvent::PeerReconnected(id));
                        }
                    }
                    RTCPeerConnectionState::Failed => {
                        if !peer.announce_reconnect {
                            peer.announce_reconnect = true;
                            let _ = self.events.send(SessionEvent::PeerReconnecting(id));
                        }
                        if peer.offerer {
                            return self.restart_ice(id, generation).await;
                        }
                    }
                    _ => {}
                }
                None
            }
            Internal::Recheck(id, generation) => {
                let peer = self.peers.get(&id)?;
                if peer.generation != generation
                    || peer.pc.connection_state() == RTCPeerConnectionState::Connected
                {
                    return None;
                }
                info!(peer = %id, "not connected again in time; building a new connection");
                self.rebuild(id).await
            }
            Internal::Acked(id, object, received) => {
                let send = self.sending.get_mut(&(id, object))?;
                let received = received.min(send.manifest.size);
                send.acked = if send.resuming {
                    // The answer to a resume is what the receiver holds now, even if less than
                    // it acked before (it may have dropped a partial object).
                    received
                } else {
                    send.acked.max(received)
                };
                if send.acked == send.manifest.size {
                    // Every byte arrived and its hash was checked.
                    let send = self.sending.remove(&(id, object))?;
                    if let Some(task) = send.task {
                        task.stop();
                    }
                    let _ = self
                        .events
                        .send(SessionEvent::ObjectSent { to: id, id: object });
                } else if std::mem::take(&mut send.resuming) {
                    let from = send.acked;
                    let _ = self.events.send(SessionEvent::ObjectResumed {
                        to: id,
                        id: object,
                        from,
                    });
                    self.start_send(id, object, Some(from));
                }
                None
            }
            Internal::Declined(id, object) => {
                let send = self.sending.remove(&(id, object))?;
                if let Some(task) = send.task {
                    task.stop();
                }
                let _ = self.events.send(SessionEvent::ObjectCancelled {
                    peer: id,
                    id: object,
                    why: "declined by the receiver".to_owned(),
                });
                None
            }
            Internal::Stalled(id, object, number) => {
                if self.peers.contains_key(&id) {
                    // It goes on when the connection is back (see `resume_sends`); a task
                    // stopped for a new connection says nothing about the one sending now.
                    if let Some(send) = self.sending.get_mut(&(id, object))
                        && send.task.as_ref().is_some_and(|t| t.number == number)
                    {
                        send.task = None;
                    }
                } else if self.sending.remove(&(id, object)).is_some() {
                    let _ = self.events.send(SessionEvent::ObjectCancelled {
                        peer: id,
                        id: object,
                        why: "the channel closed".to_owned(),
                    });
                }
                None
            }
        }
    }

    /// Starts an ICE restart on the connection we offered, and a check that it worked.
    async fn restart_ice(&mut self, id: PeerId, generation: u32) -> Option<ClientMessage> {
        let peer = self.peers.get(&id)?;
        let internal = self.internal.clone();
        let rebuild_after = self.rebuild_after;
        tokio::spawn(async move {
            tokio::time::sleep(rebuild_after).await;
            let _ = internal.send(Internal::Recheck(id, generation));
        });
        let options = RTCOfferOptions {
            ice_restart: true,
            ..Default::default()
        };
        match peer.pc.create_offer(Some(options)).await {
            Ok(offer) if peer.pc.set_local_description(offer.clone()).await.is_ok() => {
                info!(peer = %id, "ICE restart");
                Some(ClientMessage::Offer {
                    to: id,
                    sdp: Redacted::new(offer.sdp),
                })
            }
            _ => {
                warn!(peer = %id, "ICE restart failed");
                None
            }
        }
    }

    /// Replaces the connection to `id` with a new one that we offer. Only the side that made
    /// the first offer does this, so the two sides never both rebuild at once.
    async fn rebuild(&mut self, id: PeerId) -> Option<ClientMessage> {
        let peer = self.peers.get_mut(&id)?;
        if !peer.offerer {
            debug!(peer = %id, "a reconnect is made by the side that offered first");
            return None;
        }
        let info = peer.info;
        if !peer.announce_reconnect {
            let _ = self.events.send(SessionEvent::PeerReconnecting(id));
        }
        match self.add_peer(info, true).await {
            Ok(Some(offer)) => {
                // The new connection gets the same watchdog: if it is not up in time (its
                // offer or answer lost, or it failed before it ever reached `failed`), build
                // another.
                if let Some(generation) = self.peers.get(&id).map(|p| p.generation) {
                    let internal = self.internal.clone();
                    let rebuild_after = self.rebuild_after;
                    tokio::spawn(async move {
                        tokio::time::sleep(rebuild_after).await;
                        let _ = internal.send(Internal::Recheck(id, generation));
                    });
                }
                Some(ClientMessage::Offer {
                    to: id,
                    sdp: Redacted::new(offer),
                })
            }
            Ok(None) => None,
            Err(e) => {
                warn!(peer = %id, error = %e, "could not build a new connection");
                None
            }
        }
    }

    /// Stops the send tasks to `id` (its connection is being replaced); what they were
    /// sending stays, to resume.
    fn pause_sends(&mut self, id: PeerId) {
        for ((to, _), send) in &mut self.sending {
            if *to == id {
                if let Some(task) = send.task.take() {
                    task.stop();
                }
                send.resuming = false;
            }
        }
    }

    /// Asks `id` where to go on with every object that was on its way when its connection
    /// broke (and every object queued while it was down).
    async fn resume_sends(&mut self, id: PeerId) {
        let Some(peer) = self.peers.get(&id) else {
            return;
        };
        for ((to, _), send) in &mut self.sending {
            if *to == id && send.task.is_none() && !send.resuming {
                let resume = Bytes::from(bulk::encode(&Bulk::Resume(send.manifest.clone())));
                if peer.bulk.send(&resume).await.is_ok() {
                    send.resuming = true;
                }
            }
        }
    }

    /// Forgets every object on its way to `id`, saying why.
    fn drop_sends(&mut self, id: PeerId, why: &str) {
        let gone: Vec<_> = self
            .sending
            .keys()
            .filter(|(to, _)| *to == id)
            .copied()
            .collect();
        for key in gone {
            if let Some(mut send) = self.sending.remove(&key)
                && let Some(task) = send.task.take()
            {
                task.stop();
            }
            let _ = self.events.send(SessionEvent::ObjectCancelled {
                peer: id,
                id: key.1,
                why: why.to_owned(),
            });
        }
    }

    /// Starts the task that sends an object's chunks to `to` (with its manifest first when
    /// `from` is `None`, a new object), behind the channel's back-pressure.
    fn start_send(&mut self, to: PeerId, object: ObjectId, from: Option<u64>) {
        let (Some(peer), Some(send)) = (self.peers.get(&to), self.sending.get_mut(&(to, object)))
        else {
            return;
        };
        let dc = Arc::clone(&peer.bulk);
        let low = Arc::clone(&peer.bulk_low);
        let internal = self.internal.clone();
        let manifest = send.manifest.clone();
        let data = Arc::clone(&send.data);
        let number = self.next_task;
        self.next_task += 1;
        let stop = Arc::new(AtomicBool::new(false));
        if let Some(old) = send.task.replace(SendTask {
            number,
            stop: Arc::clone(&stop),
        }) {
            old.stop();
        }
        // Its own task: a big object never holds up poses, control or voice.
        tokio::spawn(async move {
            let messages: Box<dyn Iterator<Item = Bulk> + Send> = match from {
                None => Box::new(outgoing(&manifest, &data)),
                Some(from) => Box::new(chunks_from(&manifest, &data, from)),
            };
            for message in messages {
                while dc.buffered_amount().await > BULK_HIGH && !stop.load(Ordering::Relaxed) {
                    let _ = tokio::time::timeout(Duration::from_millis(100), low.notified()).await;
                }
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                if dc.send(&Bytes::from(bulk::encode(&message))).await.is_err() {
                    let _ = internal.send(Internal::Stalled(to, object, number));
                    return;
                }
            }
        });
    }

    async fn on_command(&mut self, command: Command) -> Option<ClientMessage> {
        match command {
            Command::Pose(bytes) => {
                let bytes = Bytes::from(bytes);
                for peer in self.peers.values().filter(|p| p.open) {
                    let _ = peer.pose.send(&bytes).await;
                }
            }
            Command::Control(bytes) => {
                let bytes = Bytes::from(bytes);
                for peer in self.peers.values().filter(|p| p.open) {
                    let _ = peer.control.send(&bytes).await;
                }
            }
            Command::ControlTo(to, bytes) => match self.peers.get_mut(&to) {
                Some(peer) if peer.open => {
                    let _ = peer.control.send(&Bytes::from(bytes)).await;
                }
                // Connecting or reconnecting: it goes when the channels open.
                Some(peer) if peer.held_control.len() < MAX_HELD => {
                    peer.held_control.push(Bytes::from(bytes));
                }
                Some(_) => warn!(peer = %to, "too many room events held for a peer; one dropped"),
                None => {}
            },
            Command::Audio {
                packet,
                duration,
                skipped,
            } => {
                let sample = Sample {
                    data: Bytes::from(packet),
                    timestamp: SystemTime::now(),
                    duration,
                    prev_dropped_packets: skipped,
                    ..Default::default()
                };
                let _ = self.audio.write_sample(&sample).await;
            }
            Command::Object { to, manifest, data } => {
                let Some(peer) = self.peers.get(&to) else {
                    let _ = self.events.send(SessionEvent::ObjectCancelled {
                        peer: to,
                        id: manifest.id,
                        why: "no such peer".to_owned(),
                    });
                    return None;
                };
                let open = peer.open;
                let id = manifest.id;
                self.sending.insert(
                    (to, id),
                    Sending {
                        manifest,
                        data,
                        acked: 0,
                        task: None,
                        resuming: false,
                    },
                );
                if open {
                    self.start_send(to, id, None);
                }
                // Otherwise it goes with a `Resume` once the connection is open.
            }
            Command::Cancel { to, id } => {
                if let Some(mut send) = self.sending.remove(&(to, id)) {
                    if let Some(task) = send.task.take() {
                        task.stop();
                    }
                    // After the chunks already queued: the receiver drops what it holds. While
                    // the channels are not open it waits for them (before any resume).
                    match self.peers.get_mut(&to) {
                        Some(peer) if peer.open => {
                            let cancel = Bulk::Cancel {
                                id,
                                reason: CancelReason::Revoked,
                            };
                            let _ = peer.bulk.send(&Bytes::from(bulk::encode(&cancel))).await;
                        }
                        Some(peer) if peer.held_cancels.len() < MAX_HELD => {
                            peer.held_cancels.push(id);
                        }
                        _ => {}
                    }
                }
            }
            Command::Reconnect(to) => return self.rebuild(to).await,
            Command::Stats(reply) => {
                let mut all = Vec::new();
                for (&id, peer) in &self.peers {
                    all.push(stats(id, peer).await);
                }
                let _ = reply.send(all);
            }
            Command::Leave => {}
        }
        None
    }
}

/// The DTLS certificate fingerprint an SDP announces (`a=fingerprint:`), which tells a new
/// connection from an ICE restart of the current one.
fn dtls_fingerprint(sdp: &str) -> Option<&str> {
    sdp.lines()
        .find_map(|line| line.trim_end().strip_prefix("a=fingerprint:"))
}

fn count_audio(
    counters: &Mutex<AudioCounters>,
    header: &webrtc::rtp::header::Header,
    arrived: Instant,
) {
    let mut c = counters.lock().unwrap_or_else(|p| p.into_inner());
    c.received += 1;
    let seq = header.sequence_number;
    match c.highest_seq {
        None => c.expected = 1,
        Some(high) => {
            let ahead = seq.wrapping_sub(high);
            if ahead != 0 && ahead < 0x8000 {
                c.expected += u64::from(ahead);
                c.highest_seq = Some(seq);
            }
        }
    }
    if c.highest_seq.is_none() {
        c.highest_seq = Some(seq);
    }
    // RFC 3550 interarrival jitter, in ms (the epoch of `arrived` does not matter).
    thread_local! { static EPOCH: Instant = Instant::now(); }
    let now_ms = EPOCH.with(|e| arrived.saturating_duration_since(*e).as_secs_f64() * 1000.0);
    let transit = now_ms - f64::from(header.timestamp) / 48.0;
    if let Some(last) = c.last_transit {
        let d = (transit - last).abs();
        // Timestamps wrap every 24.8 h at 48 kHz; a jump that large is not jitter.
        if d < 10_000.0 {
            c.jitter_ms += (d - c.jitter_ms) / 16.0;
        }
    }
    c.last_transit = Some(transit);
}

async fn stats(id: PeerId, peer: &Peer) -> PeerStats {
    let report = peer.pc.get_stats().await;
    let mut out = PeerStats {
        peer: Some(id),
        ..Default::default()
    };
    for entry in report.reports.values() {
        if let StatsReportType::CandidatePair(pair) = entry
            && pair.nominated
        {
            out.rtt_ms = Some(pair.current_round_trip_time * 1000.0);
            out.bytes_sent += pair.bytes_sent;
            out.bytes_received += pair.bytes_received;
        }
    }
    let c = peer.audio.lock().unwrap_or_else(|p| p.into_inner());
    out.audio_packets_received = c.received;
    out.audio_packets_lost = c.expected as i64 - c.received as i64;
    out.audio_jitter_ms = (c.received > 1).then_some(c.jitter_ms);
    out
}
