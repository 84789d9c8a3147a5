//! Group rooms: voices, poses and presence through the clinic's media server (a Janus
//! VideoRoom), on a task of their own.
//!
//! The task holds one Janus session with two connections: a publishing one (this side's
//! Opus track, the same track a mesh connection carries, and one in-band data channel) and,
//! once anyone else publishes, a subscribing one (everyone else's voice and data). Janus
//! opens one data channel per publisher on the subscribing connection, labelled with the
//! publisher's id, and forwards nothing on them until this side's own SCTP has sent
//! something (its `dataready`): so the subscriber opens a channel of its own before it
//! answers. Janus offers again whenever a publisher is added (`subscribe`); the answer keeps
//! the streams that were there.
//!
//! What goes through the media server is what everyone in the room may see and hear: voice,
//! poses, and presence events (`group_public`). A patient's health events and shares, and a
//! clinician's or therapist's commands, go over the direct, data-only connections between a
//! patient and each clinician or therapist (see `meshed` in this module), and are refused if
//! they arrive through the media server.
//!
//! Each publisher's display is the peer id the signaling server gave it; the main loop
//! accepts data only from peers the server says are in the room, with the role it says.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use haven_proto::channel;
use haven_proto::control::Control;
use haven_proto::signal::{GroupMedia, PeerId};
use haven_signal::janus::{self, Janus, JanusError};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};
use tracing::{debug, info, warn};
use webrtc::api::API;
use webrtc::data_channel::RTCDataChannel;
use webrtc::data_channel::data_channel_init::RTCDataChannelInit;
use webrtc::ice_transport::ice_server::RTCIceServer;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::peer_connection::policy::ice_transport_policy::RTCIceTransportPolicy;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::track::track_local::TrackLocal;
use webrtc::track::track_local::track_local_static_rtp::TrackLocalStaticRTP;

use super::channels::read_voice;
use super::state::{Internal, Vouches};
use crate::command::AudioRoute;
use crate::counters::{AudioCounters, VoiceGates};
use crate::queue::EventSender;

/// The first byte of a message on the group channel: what follows.
pub(super) const POSE: u8 = 1;
/// A presence room event ([`group_public`]).
pub(super) const CONTROL: u8 = 2;
/// "I now hear this peer" (its id, 8 bytes big-endian): the peer named sends its presence
/// again, which the sender could not have heard before it subscribed.
pub(super) const HEARS: u8 = 3;
/// The longest the task waits for a connection to Janus to open its data channel.
const OPEN_WAIT: Duration = Duration::from_secs(10);

/// Whether a room event may go through the media server, to everyone in a group room: how a
/// participant appears and what they do with their voice and hands, nothing about anyone's
/// health or any share.
pub(super) fn group_public(message: &Control) -> bool {
    matches!(
        message,
        Control::Avatar(_)
            | Control::Look(_)
            | Control::Hands(_)
            | Control::Pointer(_)
            | Control::Speaking { .. }
            | Control::Muted { .. }
    )
}

/// What the task needs from the backend.
pub(super) struct Parts {
    pub(super) media: GroupMedia,
    pub(super) me: PeerId,
    pub(super) run: u32,
    pub(super) api: Arc<API>,
    pub(super) ice_servers: Vec<RTCIceServer>,
    pub(super) relay_only: bool,
    pub(super) audio: Arc<TrackLocalStaticRTP>,
    pub(super) events: EventSender,
    pub(super) route: AudioRoute,
    /// Whose voices are still handed on (the session's).
    pub(super) gates: VoiceGates,
    pub(super) internal: mpsc::UnboundedSender<Internal>,
    pub(super) counters: Arc<Mutex<HashMap<PeerId, Arc<Mutex<AudioCounters>>>>>,
    pub(super) vouches: Arc<Mutex<Vouches>>,
    pub(super) changed: Arc<Notify>,
}

/// Starts the task; returns where its frames go. It ends when that sender is dropped (the
/// session leaves) or the media server is lost; it says which with `Internal::GroupEnded`.
pub(super) fn start(parts: Parts) -> mpsc::UnboundedSender<Bytes> {
    let (out, frames) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let internal = parts.internal.clone();
        let run = parts.run;
        let why = serve(parts, frames).await.err();
        let _ = internal.send(Internal::GroupEnded(run, why));
    });
    out
}

/// Who is behind each publisher and stream, as Janus names them.
#[derive(Default)]
struct Feeds {
    /// Janus publisher id → peer.
    peers: HashMap<u64, PeerId>,
    /// The subscribing connection's mids → peer.
    mids: HashMap<String, PeerId>,
    /// Publishers whose claim is not (yet) vouched for: not listened to.
    pending: HashMap<u64, PeerId>,
}

type SharedFeeds = Arc<Mutex<Feeds>>;

fn lock(feeds: &SharedFeeds) -> std::sync::MutexGuard<'_, Feeds> {
    feeds.lock().unwrap_or_else(|p| p.into_inner())
}

/// The subscribing connection and its handle.
struct Subscriber {
    handle: u64,
    pc: Closing,
    /// Its connection's state, as it changes.
    state: tokio::sync::watch::Receiver<RTCPeerConnectionState>,
}

/// A connection to Janus, closed when dropped (on every way out of the task).
struct Closing(Arc<RTCPeerConnection>);

impl std::ops::Deref for Closing {
    type Target = Arc<RTCPeerConnection>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Drop for Closing {
    fn drop(&mut self) {
        let pc = Arc::clone(&self.0);
        tokio::spawn(async move {
            let _ = pc.close().await;
        });
    }
}

/// What Janus's events ask of the task next.
#[derive(Default)]
struct Next {
    /// Publishers to subscribe to.
    subscribe: Vec<u64>,
    /// The subscribing connection must be made again (Janus gave a stream another owner).
    resubscribe: bool,
}

fn janus_err(e: JanusError) -> String {
    e.to_string()
}

async fn serve(parts: Parts, mut frames: mpsc::UnboundedReceiver<Bytes>) -> Result<(), String> {
    let started = Instant::now();
    let media = parts.media.clone();
    let mut janus = Janus::connect(&media.server).await.map_err(janus_err)?;
    // The room exists once anyone opened it; every peer asks, the first one opens it.
    let admin = janus.attach().await.map_err(janus_err)?;
    let pin = media.pin.expose().clone();
    // The room's secret (what editing, recording, forwarding or destroying it takes) is
    // drawn here and forgotten: no participant, this one included, can do any of that.
    let mut secret = [0u8; 16];
    getrandom::fill(&mut secret).map_err(|e| format!("no randomness for the room: {e}"))?;
    let secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    match janus
        .message(
            "opening the room",
            admin,
            json!({"request": "create", "room": media.room, "pin": pin, "secret": secret,
                   "is_private": true, "publishers": media.size, "audiocodec": "opus",
                   "notify_joining": false, "permanent": false}),
            None,
        )
        .await
    {
        Ok(_)
        | Err(JanusError::Refused {
            code: janus::ROOM_EXISTS,
            ..
        }) => {}
        Err(e) => return Err(janus_err(e)),
    }
    let publisher = janus.attach().await.map_err(janus_err)?;
    let joined = janus
        .message(
            "joining the room",
            publisher,
            json!({"request": "join", "ptype": "publisher", "room": media.room, "pin": pin,
                   "display": parts.me.0.to_string()}),
            None,
        )
        .await
        .map_err(janus_err)?;
    let feeds: SharedFeeds = Arc::default();
    let mut wanted = learn_publishers(
        &feeds,
        &joined["plugindata"]["data"]["publishers"],
        parts.me,
        &parts.vouches,
    );
    let own = joined["plugindata"]["data"]["id"]
        .as_u64()
        .ok_or("the media server gave this side no stream id")?;

    // Publishing: this side's voice track and the group channel.
    let (broke_tx, mut broke) = mpsc::unbounded_channel();
    let pc = Closing(new_connection(&parts, broke_tx.clone()).await?.0);
    let sender = pc
        .add_track(Arc::clone(&parts.audio) as Arc<dyn TrackLocal + Send + Sync>)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let mut buf = vec![0u8; 1500];
        while sender.read(&mut buf).await.is_ok() {}
    });
    let dc = pc
        .create_data_channel(
            "haven-group",
            Some(RTCDataChannelInit {
                ordered: Some(true),
                protocol: Some(channel::PROTOCOL.to_owned()),
                ..Default::default()
            }),
        )
        .await
        .map_err(|e| e.to_string())?;
    let opened = Arc::new(Notify::new());
    {
        let opened = Arc::clone(&opened);
        dc.on_open(Box::new(move || {
            opened.notify_one();
            Box::pin(async {})
        }));
    }
    let offer = local_description(&pc, true).await?;
    let answer = janus
        .message(
            "publishing",
            publisher,
            json!({"request": "configure", "audio": true, "data": true}),
            Some(json!({"type": "offer", "sdp": offer})),
        )
        .await
        .map_err(janus_err)?;
    let sdp = answer["jsep"]["sdp"]
        .as_str()
        .ok_or("the media server sent no answer to this side's offer")?;
    pc.set_remote_description(
        RTCSessionDescription::answer(sdp.to_owned()).map_err(|e| e.to_string())?,
    )
    .await
    .map_err(|e| e.to_string())?;
    tokio::time::timeout(OPEN_WAIT, opened.notified())
        .await
        .map_err(|_| "the connection to the media server did not open".to_owned())?;
    info!(took = ?started.elapsed(), "publishing to the media server");
    let _ = parts.internal.send(Internal::GroupJoined(parts.run, own));

    let mut subscriber: Option<Subscriber> = None;
    let mut keepalive = tokio::time::interval(janus::KEEPALIVE_EVERY);
    keepalive.tick().await;
    let ended = loop {
        if !wanted.is_empty() {
            let feeds_now = std::mem::take(&mut wanted);
            match subscribe(
                &mut janus,
                &parts,
                &feeds,
                &mut subscriber,
                &feeds_now,
                &broke_tx,
            )
            .await
            {
                Ok(next) if next.resubscribe => {
                    wanted = resubscribe(&mut janus, &feeds, &mut subscriber).await;
                }
                Ok(_) => {}
                Err(e) => break Err(e),
            }
        }
        tokio::select! {
            frame = frames.recv() => match frame {
                Some(frame) => {
                    if dc.send(&frame).await.is_err() {
                        break Err("the group channel to the media server closed".to_owned());
                    }
                }
                // The session leaves.
                None => break Ok(()),
            },
            event = janus.next_event() => match event {
                Some(event) => {
                    match on_event(&mut janus, &parts, &feeds, publisher, subscriber.as_ref(), parts.me, event).await {
                        Ok(next) if next.resubscribe => {
                            wanted = resubscribe(&mut janus, &feeds, &mut subscriber).await;
                        }
                        Ok(next) => wanted.extend(next.subscribe),
                        Err(e) => break Err(e),
                    }
                }
                None => break Err("the media server closed the connection".to_owned()),
            },
            () = parts.changed.notified() => {
                let next = vouched(&feeds, &parts.vouches);
                if next.resubscribe {
                    wanted = resubscribe(&mut janus, &feeds, &mut subscriber).await;
                } else {
                    wanted.extend(next.subscribe);
                }
            }
            _ = keepalive.tick() => {
                if janus.keepalive().is_err() {
                    break Err("the media server closed the connection".to_owned());
                }
            }
            Some(state) = broke.recv() => {
                break Err(format!("the connection to the media server {state}"));
            }
        }
    };
    janus.destroy();
    drop((pc, subscriber));
    ended
}

/// Drops the subscribing connection (Janus is told), and returns every publisher known, to
/// subscribe to again on a new one.
async fn resubscribe(
    janus: &mut Janus,
    feeds: &SharedFeeds,
    subscriber: &mut Option<Subscriber>,
) -> Vec<u64> {
    if let Some(sub) = subscriber.take() {
        debug!("a stream changed owner: listening to the room on a new connection");
        let _ = janus
            .call(
                "leaving the subscription",
                json!({"janus": "detach", "handle_id": sub.handle}),
            )
            .await;
    }
    let mut feeds = lock(feeds);
    feeds.mids.clear();
    feeds.peers.keys().copied().collect()
}

/// Publishers Janus listed: remembered by id with the peer their display names; returns the
/// ones to subscribe to. This side's own id is skipped (a publisher of an earlier run Janus
/// has not dropped yet), and a peer listed again under a new id is known by the new one.
fn learn_publishers(
    feeds: &SharedFeeds,
    listed: &Value,
    me: PeerId,
    vouches: &Mutex<Vouches>,
) -> Vec<u64> {
    let mut new = Vec::new();
    let mut feeds = lock(feeds);
    let vouches = vouches.lock().unwrap_or_else(|p| p.into_inner());
    for publisher in listed.as_array().into_iter().flatten() {
        let (Some(id), Some(peer)) = (
            publisher["id"].as_u64(),
            publisher["display"]
                .as_str()
                .and_then(|d| d.parse::<u64>().ok())
                .map(PeerId),
        ) else {
            debug!("a publisher without a peer id for display; not subscribed to");
            continue;
        };
        if peer == me {
            continue;
        }
        if !vouches.allows(peer, id) {
            feeds.pending.insert(id, peer);
            continue;
        }
        feeds.pending.remove(&id);
        if feeds.peers.insert(id, peer).is_none() {
            feeds
                .peers
                .retain(|&other, &mut p| p != peer || other == id);
            new.push(id);
        }
    }
    new
}

/// Publishers waiting for a vouch that now have it: listened to from now on. A stream
/// already heard that no longer passes (its peer vouched for another, or it ended) is
/// dropped, and with it the subscription, which is then made again (its tracks stay bound
/// to what they were).
fn vouched(feeds: &SharedFeeds, vouches: &Mutex<Vouches>) -> Next {
    let mut feeds = lock(feeds);
    let vouches = vouches.lock().unwrap_or_else(|p| p.into_inner());
    let stale: Vec<u64> = feeds
        .peers
        .iter()
        .filter(|&(&id, &peer)| !vouches.allows(peer, id))
        .map(|(&id, _)| id)
        .collect();
    let ready: Vec<(u64, PeerId)> = feeds
        .pending
        .iter()
        .filter(|&(&id, &peer)| vouches.allows(peer, id))
        .map(|(&id, &peer)| (id, peer))
        .collect();
    let mut next = Next {
        resubscribe: !stale.is_empty(),
        ..Next::default()
    };
    for id in stale {
        if let Some(peer) = feeds.peers.remove(&id) {
            feeds.pending.insert(id, peer);
        }
    }
    for (id, peer) in ready {
        feeds.pending.remove(&id);
        feeds.peers.insert(id, peer);
        next.subscribe.push(id);
    }
    next
}

/// Acts on something Janus sent on its own; returns publishers to subscribe to.
async fn on_event(
    janus: &mut Janus,
    parts: &Parts,
    feeds: &SharedFeeds,
    publisher: u64,
    subscriber: Option<&Subscriber>,
    me: PeerId,
    event: Value,
) -> Result<Next, String> {
    let sender = event["sender"].as_u64();
    let listening = subscriber.is_some_and(|s| Some(s.handle) == sender);
    match event["janus"].as_str() {
        Some("hangup") if sender == Some(publisher) => {
            return Err("the media server hung up this side's voice".to_owned());
        }
        // The subscribing connection alone: made again.
        Some("hangup" | "detached") if listening => {
            return Ok(Next {
                resubscribe: true,
                ..Next::default()
            });
        }
        Some("detached") if sender == Some(publisher) => {
            return Err("the media server dropped this side".to_owned());
        }
        Some("timeout") => return Err("the media server timed this side out".to_owned()),
        Some("event") => {}
        _ => return Ok(Next::default()),
    }
    let data = &event["plugindata"]["data"];
    if sender == Some(publisher) {
        if data.get("publishers").is_some() {
            return Ok(Next {
                subscribe: learn_publishers(feeds, &data["publishers"], me, &parts.vouches),
                ..Next::default()
            });
        }
        if let Some(gone) = data["unpublished"].as_u64().or(data["leaving"].as_u64()) {
            let mut feeds = lock(feeds);
            feeds.peers.remove(&gone);
            feeds.pending.remove(&gone);
            // An ended stream is never taken again: another publisher may take its id.
            let mut vouches = parts.vouches.lock().unwrap_or_else(|p| p.into_inner());
            vouches.retired.insert(gone);
            vouches.feeds.retain(|_, feed| *feed != gone);
        }
        return Ok(Next::default());
    }
    if let Some(sub) = subscriber.filter(|_| listening)
        && event.get("jsep").is_some()
    {
        return Ok(Next {
            resubscribe: answer(janus, parts, feeds, sub, &event).await?,
            ..Next::default()
        });
    }
    Ok(Next::default())
}

/// Why a subscription was not made.
enum Refusal {
    /// A publisher asked for has left (Janus's 428).
    NoSuchFeed,
    /// Anything else: the task ends.
    Other(String),
}

impl From<String> for Refusal {
    fn from(why: String) -> Self {
        Self::Other(why)
    }
}

impl From<JanusError> for Refusal {
    fn from(e: JanusError) -> Self {
        match e {
            JanusError::Refused {
                code: janus::NO_SUCH_FEED,
                ..
            } => Self::NoSuchFeed,
            e => Self::Other(e.to_string()),
        }
    }
}

/// Subscribes to `new` publishers: the subscribing connection is made with the first, and
/// renegotiated for each later one. If one of them left meanwhile (Janus refuses the whole
/// request), they are asked for one by one, and the one that left is forgotten.
async fn subscribe(
    janus: &mut Janus,
    parts: &Parts,
    feeds: &SharedFeeds,
    subscriber: &mut Option<Subscriber>,
    new: &[u64],
    broke: &mpsc::UnboundedSender<&'static str>,
) -> Result<Next, String> {
    let mut next = Next::default();
    match subscribe_to(janus, parts, feeds, subscriber, new, broke).await {
        Ok(resubscribe) => next.resubscribe = resubscribe,
        Err(Refusal::Other(why)) => return Err(why),
        Err(Refusal::NoSuchFeed) => {
            for &feed in new {
                match subscribe_to(janus, parts, feeds, subscriber, &[feed], broke).await {
                    Ok(resubscribe) => next.resubscribe |= resubscribe,
                    Err(Refusal::NoSuchFeed) => {
                        debug!("a publisher left as it was subscribed to");
                        lock(feeds).peers.remove(&feed);
                    }
                    Err(Refusal::Other(why)) => return Err(why),
                }
            }
        }
    }
    Ok(next)
}

/// One subscription request; whether the subscribing connection must be made again.
async fn subscribe_to(
    janus: &mut Janus,
    parts: &Parts,
    feeds: &SharedFeeds,
    subscriber: &mut Option<Subscriber>,
    new: &[u64],
    broke: &mpsc::UnboundedSender<&'static str>,
) -> Result<bool, Refusal> {
    let streams: Vec<Value> = new.iter().map(|feed| json!({"feed": feed})).collect();
    let started = Instant::now();
    let sub = match subscriber {
        Some(sub) => sub,
        None => {
            let handle = janus.attach().await?;
            let (pc, state) = new_connection(parts, broke.clone()).await?;
            let pc = Closing(pc);
            wire_subscriber(&pc, parts, feeds);
            // Janus forwards data only once this side's SCTP has sent something.
            let own = pc
                .create_data_channel("haven-subscriber", None)
                .await
                .map_err(|e| e.to_string())?;
            own.on_message(Box::new(|_| Box::pin(async {})));
            let offer = janus
                .message(
                    "listening to the room",
                    handle,
                    json!({"request": "join", "ptype": "subscriber", "room": parts.media.room,
                           "pin": parts.media.pin.expose(), "streams": streams}),
                    None,
                )
                .await?;
            let sub = subscriber.insert(Subscriber { handle, pc, state });
            answer(janus, parts, feeds, sub, &offer).await?;
            debug!(took = ?started.elapsed(), publishers = new.len(), "listening to the room");
            return Ok(false);
        }
    };
    let offer = janus
        .message(
            "listening to a newcomer",
            sub.handle,
            json!({"request": "subscribe", "streams": streams}),
            None,
        )
        .await?;
    debug!(took = ?started.elapsed(), publishers = new.len(), "listening to more of the room");
    // The offer comes with the answer, or as an event of its own (taken by `on_event`).
    if offer.get("jsep").is_some() {
        return Ok(answer(janus, parts, feeds, sub, &offer).await?);
    }
    Ok(false)
}

/// Answers Janus's offer for the subscribing connection (the first, or a renegotiation),
/// after noting which peer each stream is; once the connection is up, each peer newly heard
/// is said (`GroupOpen`). True when Janus gave a stream already heard to another peer: a
/// track webrtc-rs took stays bound to its first sender, so the connection must be made
/// again (nothing is answered).
async fn answer(
    janus: &mut Janus,
    parts: &Parts,
    feeds: &SharedFeeds,
    sub: &Subscriber,
    offer: &Value,
) -> Result<bool, String> {
    let mut heard = Vec::new();
    {
        let mut feeds = lock(feeds);
        for stream in offer["plugindata"]["data"]["streams"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let peer = stream["feed_id"]
                .as_u64()
                .and_then(|feed| feeds.peers.get(&feed).copied());
            if let (Some(mid), Some(peer)) = (stream["mid"].as_str(), peer) {
                match feeds.mids.insert(mid.to_owned(), peer) {
                    None => heard.push(peer),
                    Some(before) if before == peer => {}
                    Some(_) => return Ok(true),
                }
            }
        }
    }
    let sdp = offer["jsep"]["sdp"]
        .as_str()
        .ok_or("the media server's offer had no SDP")?;
    sub.pc
        .set_remote_description(
            RTCSessionDescription::offer(sdp.to_owned()).map_err(|e| e.to_string())?,
        )
        .await
        .map_err(|e| e.to_string())?;
    let answer = local_description(&sub.pc, false).await?;
    janus
        .message(
            "starting to listen",
            sub.handle,
            json!({"request": "start"}),
            Some(json!({"type": "answer", "sdp": answer})),
        )
        .await
        .map_err(janus_err)?;
    tokio::time::timeout(
        OPEN_WAIT,
        sub.state
            .clone()
            .wait_for(|s| *s == RTCPeerConnectionState::Connected),
    )
    .await
    .map_err(|_| "the connection from the media server did not open".to_owned())?
    .map_err(|_| "the connection from the media server closed".to_owned())?;
    heard.sort_unstable();
    heard.dedup();
    for peer in heard {
        let _ = parts.internal.send(Internal::GroupOpen(parts.run, peer));
    }
    Ok(false)
}

/// The subscribing connection's voices (by mid) and data channels (by publisher id) go to
/// the peers they are from.
fn wire_subscriber(pc: &Arc<RTCPeerConnection>, parts: &Parts, feeds: &SharedFeeds) {
    let (events, route) = (parts.events.clone(), parts.route.clone());
    let (track_feeds, counters) = (Arc::clone(feeds), Arc::clone(&parts.counters));
    let gates = parts.gates.clone();
    pc.on_track(Box::new(move |track, _, transceiver| {
        let (events, route) = (events.clone(), route.clone());
        let gates = gates.clone();
        let (feeds, counters) = (Arc::clone(&track_feeds), Arc::clone(&counters));
        Box::pin(async move {
            let mid = transceiver.mid();
            let peer = mid.and_then(|mid| lock(&feeds).mids.get(mid.as_str()).copied());
            let Some(peer) = peer else {
                warn!("a voice from the media server that no publisher owns; not played");
                return;
            };
            let Some(gate) = gates.get(peer) else {
                debug!(%peer, "a voice from the media server of a peer never in the room; not played");
                return;
            };
            let counted = Arc::clone(
                counters
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(peer)
                    .or_insert_with(|| Arc::new(Mutex::new(AudioCounters::new(Instant::now())))),
            );
            tokio::spawn(read_voice(track, peer, events, route, counted, gate));
        })
    }));
    let (internal, run, feeds) = (parts.internal.clone(), parts.run, Arc::clone(feeds));
    pc.on_data_channel(Box::new(move |dc: Arc<RTCDataChannel>| {
        let peer = dc
            .label()
            .parse::<u64>()
            .ok()
            .and_then(|feed| lock(&feeds).peers.get(&feed).copied());
        let internal = internal.clone();
        Box::pin(async move {
            let Some(peer) = peer else {
                debug!("a data channel from the media server that no publisher owns; ignored");
                return;
            };
            // Janus opened this publisher's channel to us: its poses and presence flow.
            let _ = internal.send(Internal::GroupOpen(run, peer));
            dc.on_message(Box::new(move |message| {
                let _ = internal.send(Internal::GroupData(run, peer, message.data));
                Box::pin(async {})
            }));
        })
    }));
}

/// A connection to Janus, whose breaking is said on `broke`; with its state as it changes.
async fn new_connection(
    parts: &Parts,
    broke: mpsc::UnboundedSender<&'static str>,
) -> Result<
    (
        Arc<RTCPeerConnection>,
        tokio::sync::watch::Receiver<RTCPeerConnectionState>,
    ),
    String,
> {
    let pc = Arc::new(
        parts
            .api
            .new_peer_connection(RTCConfiguration {
                ice_servers: parts.ice_servers.clone(),
                ice_transport_policy: if parts.relay_only {
                    RTCIceTransportPolicy::Relay
                } else {
                    RTCIceTransportPolicy::All
                },
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())?,
    );
    let (states, state) = tokio::sync::watch::channel(RTCPeerConnectionState::New);
    pc.on_peer_connection_state_change(Box::new(move |state| {
        states.send_replace(state);
        // Disconnected may come back by itself (ICE keeps checking); failed does not.
        let said = match state {
            RTCPeerConnectionState::Failed => Some("failed"),
            _ => None,
        };
        if let Some(said) = said {
            let _ = broke.send(said);
        }
        Box::pin(async {})
    }));
    Ok((pc, state))
}

/// Sets this side's offer (or answer) and waits for its candidates (Janus takes them in the
/// description; it does not trickle here).
async fn local_description(pc: &RTCPeerConnection, offer: bool) -> Result<String, String> {
    let description = if offer {
        pc.create_offer(None).await
    } else {
        pc.create_answer(None).await
    }
    .map_err(|e| e.to_string())?;
    let mut gathered = pc.gathering_complete_promise().await;
    pc.set_local_description(description)
        .await
        .map_err(|e| e.to_string())?;
    tokio::time::timeout(OPEN_WAIT, gathered.recv())
        .await
        .map_err(|_| "gathering candidates for the media server took too long".to_owned())?;
    pc.local_description()
        .await
        .map(|d| d.sdp)
        .ok_or_else(|| "no local description".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::state::meshed;
    use haven_proto::control::AvatarChoice;
    use haven_proto::signal::Role;

    #[test]
    fn two_patients_never_hold_a_direct_connection() {
        use Role::*;
        assert!(meshed(Patient, Clinician) && meshed(Therapist, Patient));
        assert!(!meshed(Patient, Patient));
        // Clinicians and therapists hold one to each other (to vouch for their streams).
        assert!(meshed(Clinician, Therapist));
    }

    #[test]
    fn health_events_and_commands_never_go_through_the_media_server() {
        assert!(group_public(&Control::Avatar(AvatarChoice::Anonymous {
            look: 3
        })));
        assert!(group_public(&Control::Muted { muted: true }));
        assert!(!group_public(&Control::Heartbeat));
        assert!(!group_public(&Control::Revoked {
            object: haven_proto::bulk::ObjectId(1)
        }));
        assert!(!group_public(&Control::AuditKey { key: vec![0; 32] }));
    }

    /// Vouches that know one peer in the room, with a direct connection to this side or not.
    fn knowing(peer: PeerId, direct: bool) -> Mutex<Vouches> {
        let mut vouches = Vouches::default();
        vouches.known.insert(peer, direct);
        Mutex::new(vouches)
    }

    #[test]
    fn publishers_are_known_by_the_peer_id_they_display() {
        let feeds = SharedFeeds::default();
        // Peer 5 is in the room with no direct connection to this side: its claim stands.
        let vouches = knowing(PeerId(5), false);
        let listed = json!([{"id": 71, "display": "5"}, {"id": 72, "display": "Mallory"},
                            {"id": 73}, {"display": "6"}]);
        assert_eq!(
            learn_publishers(&feeds, &listed, PeerId(9), &vouches),
            vec![71]
        );
        assert_eq!(lock(&feeds).peers.get(&71), Some(&PeerId(5)));
        // Listed again (Janus repeats itself): not subscribed to twice.
        assert!(learn_publishers(&feeds, &listed, PeerId(9), &vouches).is_empty());
        // This side's own earlier publisher is never listened to; a peer listed again under
        // a new id (it published again) is known by the new one alone.
        let again = json!([{"id": 80, "display": "9"}, {"id": 81, "display": "5"}]);
        assert_eq!(
            learn_publishers(&feeds, &again, PeerId(9), &vouches),
            vec![81]
        );
        assert_eq!(lock(&feeds).peers.len(), 1);
        assert_eq!(lock(&feeds).peers.get(&81), Some(&PeerId(5)));
    }

    #[test]
    fn a_stream_that_claims_a_directly_connected_peer_waits_for_its_vouch() {
        let feeds = SharedFeeds::default();
        // Peer 3 (say the clinician) has a direct connection to this side; peer 4 is not
        // named by the server at all.
        let vouches = knowing(PeerId(3), true);
        let listed = json!([{"id": 30, "display": "3"}, {"id": 31, "display": "3"},
                            {"id": 40, "display": "4"}]);
        assert!(learn_publishers(&feeds, &listed, PeerId(9), &vouches).is_empty());
        assert!(vouched(&feeds, &vouches).subscribe.is_empty());
        // Peer 3 says, over its direct connection, that stream 31 is its own: the impostor
        // (30) stays unheard, and so does the unknown peer's.
        vouches
            .lock()
            .expect("not poisoned")
            .feeds
            .insert(PeerId(3), 31);
        let next = vouched(&feeds, &vouches);
        assert_eq!((next.subscribe, next.resubscribe), (vec![31], false));
        assert_eq!(lock(&feeds).peers.get(&31), Some(&PeerId(3)));
        assert!(!lock(&feeds).peers.contains_key(&30));
        assert!(!lock(&feeds).peers.contains_key(&40));
        // Stream 31 ends; an impostor publishes under its id: never taken again.
        {
            let mut v = vouches.lock().expect("not poisoned");
            v.retired.insert(31);
        }
        let next = vouched(&feeds, &vouches);
        assert!(next.resubscribe, "the heard stream is dropped");
        assert!(!lock(&feeds).peers.contains_key(&31));
        let again = json!([{"id": 31, "display": "3"}]);
        assert!(learn_publishers(&feeds, &again, PeerId(9), &vouches).is_empty());
    }
}
