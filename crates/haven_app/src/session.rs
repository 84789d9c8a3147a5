//! The bridge between the network and the frame loop, and the lowest module of the room app.
//!
//! It alone turns session events into "down" messages, in `PreUpdate`
//! ([`SessionSystems::Receive`]): [`PeerJoined`], [`PeerConnected`], [`PeerReconnecting`],
//! [`PeerReconnected`], [`PeerLeft`], [`PeerVerified`], [`SafetyWordsKnown`], [`PoseReceived`],
//! [`ControlReceived`] (every room event, with its sender's role: each feature reads the
//! variants it owns), [`ControlRefused`] (one its sender's role may not send), [`ObjectArrived`],
//! [`ObjectProgress`], [`ObjectDelivered`] and [`ObjectCancelled`]. It alone turns "up"
//! requests into network sends, in `PostUpdate` ([`SessionSystems::Send`]): [`SendPose`],
//! [`SendControl`], [`SendControlTo`], [`SendObject`], [`CancelObject`], [`TrustPeer`] and
//! [`LeaveRequested`]. Features run in `Update`, between the two. Voice does not pass through
//! here: it has its own thread (`crate::voice`).
//!
//! The session may be the WebRTC one or the in-memory loopback of tests: both are a
//! [`Session`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bevy::prelude::*;
use haven_proto::Redacted;
use haven_proto::bulk::{ObjectId, ObjectKind};
use haven_proto::control::Control;
use haven_proto::pose::PoseUpdate;
use haven_proto::signal::{PeerId, PeerInfo, Role};
use haven_session::{PeerStats, Session, SessionEvent, StatsRequest};
use haven_signal::clinic::{NotVerified, SafetyWords, Verified};

use crate::button::{Pressed, RoomButton};

/// The most events taken in one frame, so a flood cannot stall a frame.
const EVENTS_PER_FRAME: usize = 2_000;
/// How often connection figures are asked for.
const STATS_EVERY_S: f64 = 1.0;

/// The live session, owned by the app. The mutex is only ever taken by the frame loop.
#[derive(Resource, Debug)]
pub struct SessionLink(pub Mutex<Session>);

impl SessionLink {
    /// The app's link to `session`.
    pub fn new(session: Session) -> Self {
        Self(Mutex::new(session))
    }
}

/// What the session has delivered so far (for the UI and the demo's figures).
#[derive(Resource, Debug, Default, Clone)]
pub struct SessionFigures {
    /// Pose updates received.
    pub poses_received: u64,
    /// Audio packets received (counted here when voice is not split off to its own thread).
    pub audio_frames_received: u64,
    /// Pose updates sent.
    pub poses_sent: u64,
    /// Peers' messages refused so far (malformed, or not their role's to send).
    pub refused: u64,
    /// This peer, once welcomed.
    pub me: Option<PeerInfo>,
    /// Everyone else in the room and their role (connected or still connecting).
    pub people: Vec<PeerInfo>,
    /// Peers whose channels are open.
    pub connected: Vec<PeerId>,
    /// Peers whose connection broke and is being restarted.
    pub reconnecting: Vec<PeerId>,
    /// Peers whose connection could not be rebuilt: the session stopped trying until asked
    /// ([`TryAgain`]).
    pub lost: Vec<PeerId>,
    /// The signaling server cannot be reached just now (the consult goes on; no one new can
    /// join and a broken connection waits to be rebuilt until it is back).
    pub server_lost: bool,
    /// The latest figures of each peer connection.
    pub stats: HashMap<PeerId, PeerStats>,
    /// Why the session ended, if it did.
    pub failed: Option<String>,
    /// Why the TURN relay the server named cannot be used, if it cannot (the consult may
    /// still connect directly).
    pub relay_unavailable: Option<String>,
    /// A group room: voices and avatars go through the clinic's media server.
    pub group: bool,
    /// A group room's media server was lost, and why ([`ReconnectMedia`] tries again).
    pub media_lost: Option<String>,
}

impl SessionFigures {
    /// A peer's role, if the server told us.
    pub fn role_of(&self, peer: PeerId) -> Option<Role> {
        self.people.iter().find(|p| p.id == peer).map(|p| p.role)
    }
}

// --- down: what happened -----------------------------------------------------------------

/// A peer is in the room (its connection is being set up).
#[derive(Message, Clone, Copy, Debug)]
pub struct PeerJoined(pub PeerInfo);

/// A peer's channels are open: poses, room events and objects flow.
#[derive(Message, Clone, Copy, Debug)]
pub struct PeerConnected {
    /// Who.
    pub peer: PeerId,
    /// Its role (from the signaling server; `None` if it was never said).
    pub role: Option<Role>,
}

/// A peer's connection broke and is being restarted; it is still in the room.
#[derive(Message, Clone, Copy, Debug)]
pub struct PeerReconnecting(pub PeerId);

/// A peer's connection works again: the same peer, nothing to set up again.
#[derive(Message, Clone, Copy, Debug)]
pub struct PeerReconnected(pub PeerId);

/// A peer left (or its connection was closed for good).
#[derive(Message, Clone, Copy, Debug)]
pub struct PeerLeft(pub PeerId);

/// What the session found of a clinician's or therapist's clinic credential on its current
/// connection (`haven_signal::clinic`).
#[derive(Message, Clone, Debug)]
pub struct PeerVerified {
    /// Who.
    pub peer: PeerId,
    /// Who they are, or why that is not known.
    pub verdict: Result<Verified, NotVerified>,
}

/// The safety words of the current connection to a peer.
#[derive(Message, Clone, Copy, Debug)]
pub struct SafetyWordsKnown {
    /// The peer.
    pub peer: PeerId,
    /// The words.
    pub words: SafetyWords,
}

/// A pose update arrived from a peer.
#[derive(Message, Clone, Debug)]
pub struct PoseReceived {
    /// From whom.
    pub peer: PeerId,
    /// The update.
    pub update: PoseUpdate,
}

/// A room event arrived that the sender's role may send (the session checked it).
#[derive(Message, Clone, Debug)]
pub struct ControlReceived {
    /// From whom.
    pub from: PeerId,
    /// Its role.
    pub role: Role,
    /// The event.
    pub message: Control,
}

/// A room event the session refused because the sender's role may not send it (a clinician's
/// scene command): features that guard such events audit it. Malformed ones are only logged.
#[derive(Message, Clone, Debug)]
pub struct ControlRefused {
    /// From whom.
    pub from: PeerId,
    /// The event.
    pub message: Control,
}

/// A whole object arrived and its SHA-256 matched (the session takes objects only from a
/// role that may send them).
#[derive(Message, Clone, Debug)]
pub struct ObjectArrived {
    /// From whom.
    pub from: PeerId,
    /// The object.
    pub object: ObjectId,
    /// What it is.
    pub kind: ObjectKind,
    /// Its bytes (memory only).
    pub data: Redacted<Arc<Vec<u8>>>,
}

/// Part of an object arrived.
#[derive(Message, Clone, Copy, Debug)]
pub struct ObjectProgress {
    /// From whom.
    pub from: PeerId,
    /// The object.
    pub object: ObjectId,
    /// Bytes held.
    pub received: u64,
    /// Its size.
    pub size: u64,
}

/// One of ours arrived whole: the receiver acknowledged every byte.
#[derive(Message, Clone, Copy, Debug)]
pub struct ObjectDelivered {
    /// To whom.
    pub to: PeerId,
    /// The object.
    pub object: ObjectId,
}

/// A transfer was cancelled or refused, by either side.
#[derive(Message, Clone, Copy, Debug)]
pub struct ObjectCancelled {
    /// The other peer.
    pub peer: PeerId,
    /// The object.
    pub object: ObjectId,
}

// --- up: what to do ------------------------------------------------------------------------

/// Asks to send the local pose to every connected peer.
#[derive(Message, Clone, Debug)]
pub struct SendPose(pub PoseUpdate);

/// Asks to send a room event to every peer.
#[derive(Message, Clone, Debug)]
pub struct SendControl(pub Control);

/// Asks to send a room event to one peer only (share terms, views, purges).
#[derive(Message, Clone, Debug)]
pub struct SendControlTo {
    /// To whom.
    pub to: PeerId,
    /// What.
    pub message: Control,
}

/// Asks to send an object to one peer on `bulk`.
#[derive(Message, Clone, Debug)]
pub struct SendObject {
    /// To whom.
    pub to: PeerId,
    /// Its id, unique among this side's objects.
    pub object: ObjectId,
    /// What it is.
    pub kind: ObjectKind,
    /// Its bytes.
    pub data: Redacted<Arc<Vec<u8>>>,
}

/// Asks to stop sending an object (the receiver drops what it holds of it).
#[derive(Message, Clone, Copy, Debug)]
pub struct CancelObject {
    /// To whom it was going.
    pub to: PeerId,
    /// Which.
    pub object: ObjectId,
}

/// Try again to reach a peer whose connection was lost (F5 in the window).
#[derive(Message, Clone, Copy, Debug)]
pub struct TryAgain(pub PeerId);

/// Connect to a group room's media server again, after it was lost (F5 in the window).
#[derive(Message, Clone, Copy, Debug)]
pub struct ReconnectMedia;

/// The patient trusts a clinician or therapist whose clinic credential did not check out:
/// the session stops holding back what waits for its connection.
#[derive(Message, Clone, Copy, Debug)]
pub struct TrustPeer(pub PeerId);

/// Asks to leave the consult: the session is closed (after this frame's sends) and the app
/// ends.
#[derive(Message, Clone, Copy, Debug, Default)]
pub struct LeaveRequested;

/// The bridge: session events in, requests out.
#[derive(Debug, Default)]
pub struct SessionPlugin;

/// The bridge's systems: receive first in the frame, send last.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionSystems {
    /// Session events into messages (`PreUpdate`).
    Receive,
    /// Requests out to the network (`PostUpdate`).
    Send,
}

impl Plugin for SessionPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<SessionFigures>()
            .add_message::<PeerJoined>()
            .add_message::<PeerConnected>()
            .add_message::<PeerReconnecting>()
            .add_message::<PeerReconnected>()
            .add_message::<PeerLeft>()
            .add_message::<PeerVerified>()
            .add_message::<SafetyWordsKnown>()
            .add_message::<PoseReceived>()
            .add_message::<ControlReceived>()
            .add_message::<ControlRefused>()
            .add_message::<ObjectArrived>()
            .add_message::<ObjectProgress>()
            .add_message::<ObjectDelivered>()
            .add_message::<ObjectCancelled>()
            .add_message::<SendPose>()
            .add_message::<SendControl>()
            .add_message::<SendControlTo>()
            .add_message::<SendObject>()
            .add_message::<CancelObject>()
            .add_message::<TrustPeer>()
            .add_message::<TryAgain>()
            .add_message::<ReconnectMedia>()
            .add_message::<LeaveRequested>()
            .add_message::<Pressed>()
            .add_systems(Startup, add_leave_button)
            .add_systems(Update, press_leave)
            .add_systems(
                PreUpdate,
                (poll_session, poll_stats)
                    .in_set(SessionSystems::Receive)
                    .run_if(resource_exists::<SessionLink>),
            )
            .add_systems(
                PostUpdate,
                (send.run_if(resource_exists::<SessionLink>), leave)
                    .chain()
                    .in_set(SessionSystems::Send)
                    .before(TransformSystems::Propagate),
            );
    }
}

/// Every down message, for [`poll_session`].
#[derive(bevy::ecs::system::SystemParam)]
struct Down<'w> {
    joined: MessageWriter<'w, PeerJoined>,
    connected: MessageWriter<'w, PeerConnected>,
    reconnecting: MessageWriter<'w, PeerReconnecting>,
    reconnected: MessageWriter<'w, PeerReconnected>,
    left: MessageWriter<'w, PeerLeft>,
    verified: MessageWriter<'w, PeerVerified>,
    words: MessageWriter<'w, SafetyWordsKnown>,
    poses: MessageWriter<'w, PoseReceived>,
    controls: MessageWriter<'w, ControlReceived>,
    refused: MessageWriter<'w, ControlRefused>,
    arrived: MessageWriter<'w, ObjectArrived>,
    progress: MessageWriter<'w, ObjectProgress>,
    delivered: MessageWriter<'w, ObjectDelivered>,
    cancelled: MessageWriter<'w, ObjectCancelled>,
}

fn poll_session(
    link: Res<'_, SessionLink>,
    mut figures: ResMut<'_, SessionFigures>,
    mut down: Down<'_>,
    group: Option<Res<'_, crate::layout::GroupInvite>>,
    mut commands: Commands<'_, '_>,
) {
    let Ok(mut session) = link.0.try_lock() else {
        return;
    };
    for _ in 0..EVENTS_PER_FRAME {
        let Some(event) = session.try_event() else {
            break;
        };
        match event {
            SessionEvent::Joined {
                me, peers, chair, ..
            } => {
                // In a group room, everyone sits in the chair the server gave them.
                if let (Some(group), Some(chair)) = (group.as_deref(), chair) {
                    commands.insert_resource(crate::layout::Seat::group_chair(chair, group.size));
                }
                figures.me = Some(me);
                for info in &peers {
                    down.joined.write(PeerJoined(*info));
                }
                figures.people = peers;
            }
            SessionEvent::Reseated { chair } => {
                if let Some(group) = group.as_deref() {
                    commands.insert_resource(crate::layout::Seat::group_chair(chair, group.size));
                }
            }
            SessionEvent::PeerJoined(info) => {
                figures.people.retain(|p| p.id != info.id);
                figures.people.push(info);
                down.joined.write(PeerJoined(info));
            }
            SessionEvent::PeerConnected(peer) => {
                figures.reconnecting.retain(|&c| c != peer);
                figures.lost.retain(|&c| c != peer);
                if !figures.connected.contains(&peer) {
                    figures.connected.push(peer);
                }
                let role = figures.role_of(peer);
                down.connected.write(PeerConnected { peer, role });
            }
            SessionEvent::PeerReconnecting(peer) => {
                if !figures.reconnecting.contains(&peer) {
                    figures.reconnecting.push(peer);
                }
                down.reconnecting.write(PeerReconnecting(peer));
            }
            SessionEvent::PeerLost(peer) => {
                figures.reconnecting.retain(|&c| c != peer);
                if !figures.lost.contains(&peer) {
                    figures.lost.push(peer);
                }
            }
            SessionEvent::PeerReconnected(peer) => {
                figures.reconnecting.retain(|&c| c != peer);
                figures.lost.retain(|&c| c != peer);
                down.reconnected.write(PeerReconnected(peer));
            }
            SessionEvent::PeerLeft(peer) => {
                figures.connected.retain(|&c| c != peer);
                figures.lost.retain(|&c| c != peer);
                figures.reconnecting.retain(|&c| c != peer);
                figures.people.retain(|c| c.id != peer);
                figures.stats.remove(&peer);
                down.left.write(PeerLeft(peer));
            }
            SessionEvent::Pose { from, update } => {
                figures.poses_received += 1;
                down.poses.write(PoseReceived { peer: from, update });
            }
            SessionEvent::Control {
                from,
                role,
                message,
            } => {
                down.controls.write(ControlReceived {
                    from,
                    role,
                    message,
                });
            }
            SessionEvent::ObjectReceived {
                from,
                manifest,
                data,
            } => {
                down.arrived.write(ObjectArrived {
                    from,
                    object: manifest.id,
                    kind: manifest.kind,
                    data: Redacted::new(Arc::new(data.into_inner())),
                });
            }
            SessionEvent::ObjectProgress {
                from,
                id,
                received,
                size,
            } => {
                down.progress.write(ObjectProgress {
                    from,
                    object: id,
                    received,
                    size,
                });
            }
            SessionEvent::ObjectSent { to, id } => {
                down.delivered.write(ObjectDelivered { to, object: id });
            }
            SessionEvent::ObjectCancelled { peer, id, .. } => {
                down.cancelled.write(ObjectCancelled { peer, object: id });
            }
            SessionEvent::Audio { .. } => figures.audio_frames_received += 1,
            SessionEvent::Refused {
                from,
                channel,
                why,
                forbidden,
            } => {
                figures.refused += 1;
                if haven_session::worth_logging(figures.refused) {
                    warn!(peer = %from, channel, why, refused = figures.refused, "refused a peer's message");
                }
                if let Some(message) = forbidden {
                    down.refused.write(ControlRefused {
                        from,
                        message: *message,
                    });
                }
            }
            SessionEvent::PeerVerified { peer, verdict } => {
                down.verified.write(PeerVerified { peer, verdict });
            }
            SessionEvent::SafetyWords { peer, words } => {
                down.words.write(SafetyWordsKnown { peer, words });
            }
            SessionEvent::Failed(why) => figures.failed = Some(why),
            // The session logs it; the window says it.
            SessionEvent::RelayUnavailable { why } => figures.relay_unavailable = Some(why),
            SessionEvent::MediaServerJoined => {
                figures.group = true;
                figures.media_lost = None;
            }
            SessionEvent::MediaServerLost { why } => figures.media_lost = Some(why),
            SessionEvent::SignalingLost => figures.server_lost = true,
            SessionEvent::SignalingBack => figures.server_lost = false,
            SessionEvent::ObjectResumed { .. } => {}
        }
    }
}

fn poll_stats(
    link: Res<'_, SessionLink>,
    time: Res<'_, Time<Real>>,
    mut figures: ResMut<'_, SessionFigures>,
    mut pending: Local<'_, Option<StatsRequest>>,
    mut last: Local<'_, f64>,
) {
    if let Some(request) = pending.as_mut()
        && let Some(all) = request.try_take()
    {
        *pending = None;
        for s in all {
            if let Some(peer) = s.peer {
                figures.stats.insert(peer, s);
            }
        }
    }
    let now = time.elapsed_secs_f64();
    if pending.is_none() && now - *last >= STATS_EVERY_S {
        *last = now;
        if let Ok(session) = link.0.try_lock() {
            *pending = Some(session.request_stats());
        }
    }
}

/// Every up request, for [`send`].
#[derive(bevy::ecs::system::SystemParam)]
struct Up<'w, 's> {
    poses: MessageReader<'w, 's, SendPose>,
    controls: MessageReader<'w, 's, SendControl>,
    targeted: MessageReader<'w, 's, SendControlTo>,
    objects: MessageReader<'w, 's, SendObject>,
    cancels: MessageReader<'w, 's, CancelObject>,
    trusted: MessageReader<'w, 's, TrustPeer>,
    try_again: MessageReader<'w, 's, TryAgain>,
    reconnect_media: MessageReader<'w, 's, ReconnectMedia>,
}

fn send(link: Res<'_, SessionLink>, mut figures: ResMut<'_, SessionFigures>, mut up: Up<'_, '_>) {
    let Ok(session) = link.0.try_lock() else {
        return;
    };
    for SendPose(update) in up.poses.read() {
        session.send_pose(update);
        figures.poses_sent += 1;
    }
    for SendControl(message) in up.controls.read() {
        session.send_control(message);
    }
    // Objects before the terms that announce them, cancels before the revokes that explain
    // them: the order the ledger wrote them in.
    for SendObject {
        to,
        object,
        kind,
        data,
    } in up.objects.read()
    {
        session.send_object(*to, *object, *kind, Arc::clone(data.expose()));
    }
    for CancelObject { to, object } in up.cancels.read() {
        session.cancel_object(*to, *object);
    }
    for TrustPeer(peer) in up.trusted.read() {
        session.trust_anyway(*peer);
    }
    for TryAgain(peer) in up.try_again.read() {
        if figures.lost.contains(peer) {
            session.reconnect(*peer);
            figures.lost.retain(|c| c != peer);
            if !figures.reconnecting.contains(peer) {
                figures.reconnecting.push(*peer);
            }
        }
    }
    if up.reconnect_media.read().count() > 0 && figures.media_lost.take().is_some() {
        session.reconnect_media();
    }
    for SendControlTo { to, message } in up.targeted.read() {
        session.send_control_to(*to, message);
    }
}

/// The in-room leave button.
#[derive(Component, Debug)]
struct LeaveButton;

fn add_leave_button(mut commands: Commands<'_, '_>) {
    commands.spawn((
        LeaveButton,
        RoomButton {
            label: "Leave".to_owned(),
            colour: Color::srgb(0.80, 0.33, 0.30),
            order: u8::MAX,
        },
    ));
}

fn press_leave(
    mut pressed: MessageReader<'_, '_, Pressed>,
    buttons: Query<'_, '_, (), With<LeaveButton>>,
    mut leave: MessageWriter<'_, LeaveRequested>,
) {
    if pressed.read().any(|Pressed(b)| buttons.contains(*b)) {
        leave.write(LeaveRequested);
    }
}

fn leave(
    mut commands: Commands<'_, '_>,
    mut requests: MessageReader<'_, '_, LeaveRequested>,
    mut figures: ResMut<'_, SessionFigures>,
    mut exit: MessageWriter<'_, AppExit>,
) {
    if requests.read().count() == 0 {
        return;
    }
    // Dropping the session says goodbye to the server and closes every connection.
    commands.remove_resource::<SessionLink>();
    figures.connected.clear();
    figures.failed = Some("you left the consult".to_owned());
    exit.write(AppExit::Success);
}
