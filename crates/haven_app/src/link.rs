//! The bridge between the network and the frame loop. Each frame drains what the session thread
//! delivered (never waiting) into messages the room's systems read, and sends the local rig's
//! pose (60 Hz), the pointer and the avatar choice out. Voice does not pass through here: it has
//! its own thread ([`crate::voice`]).

use std::collections::HashMap;
use std::sync::Mutex;

use bevy::prelude::*;
use haven_proto::control::{Control, Pointer};
use haven_proto::signal::{PeerId, PeerInfo, Role};
use haven_session::{PeerStats, Session, SessionEvent, StatsRequest};

use crate::avatar::{AvatarChosen, PeerGone, PoseReceived};
use crate::local::{LocalAvatar, LocalHand, LocalHead, rig_pose};
use crate::share::{MyShares, ShareNews};

/// The most events taken in one frame, so a flood cannot stall a frame.
const EVENTS_PER_FRAME: usize = 2_000;
/// How often the local pose goes out.
const POSE_HZ: f64 = 60.0;
/// How often connection figures are asked for.
const STATS_EVERY_S: f64 = 1.0;

/// The live session, owned by the app. The mutex is only ever taken by the frame loop.
#[derive(Resource, Debug)]
pub struct SessionLink(pub Mutex<Session>);

/// What the session has delivered so far (for the UI and the demo's figures).
#[derive(Resource, Debug, Default, Clone)]
pub struct SessionFigures {
    /// Pose updates received.
    pub poses_received: u64,
    /// Audio packets received (counted here when voice is not split off to its own thread).
    pub audio_frames_received: u64,
    /// Pose updates sent.
    pub poses_sent: u64,
    /// This peer, once welcomed.
    pub me: Option<PeerInfo>,
    /// Everyone else in the room and their role (connected or still connecting).
    pub people: Vec<PeerInfo>,
    /// Peers whose channels are open.
    pub connected: Vec<PeerId>,
    /// Peers whose connection broke and is being restarted.
    pub reconnecting: Vec<PeerId>,
    /// The latest figures of each peer connection.
    pub stats: HashMap<PeerId, PeerStats>,
    /// Why the session ended, if it did.
    pub failed: Option<String>,
}

impl SessionFigures {
    /// A peer's role, if the server told us.
    pub fn role_of(&self, peer: PeerId) -> Option<Role> {
        self.people.iter().find(|p| p.id == peer).map(|p| p.role)
    }
}

/// A peer turned its pointer on, moved it (`Some`) or turned it off (`None`).
#[derive(Message, Clone, Copy, Debug)]
pub struct PointerMoved {
    /// Whose.
    pub peer: PeerId,
    /// Where.
    pub pointer: Option<Pointer>,
}

/// A peer said it started or stopped speaking, or (un)muted.
#[derive(Message, Clone, Copy, Debug)]
pub struct VoiceStateChanged {
    /// Who.
    pub peer: PeerId,
    /// Speaking now (`None`: not said in this message).
    pub speaking: Option<bool>,
    /// Muted now (`None`: not said in this message).
    pub muted: Option<bool>,
}

/// Asks to send a room event to every peer (front ends and room systems write it; the link
/// sends it).
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

/// Asks to leave the consult: the session is closed and the app ends.
#[derive(Message, Clone, Copy, Debug, Default)]
pub struct LeaveRequested;

/// Drains the session into messages and sends the local participant out.
#[derive(Debug, Default)]
pub struct LinkPlugin;

/// The link's systems: receive first in the frame, send last.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkSystems {
    /// Session events into messages (`PreUpdate`).
    Receive,
    /// The local pose and room events out (`PostUpdate`).
    Send,
}

impl Plugin for LinkPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<SessionFigures>()
            .add_message::<PointerMoved>()
            .add_message::<VoiceStateChanged>()
            .add_message::<SendControl>()
            .add_message::<SendControlTo>()
            .add_message::<LeaveRequested>()
            .add_systems(
                PreUpdate,
                (poll_session, poll_stats)
                    .in_set(LinkSystems::Receive)
                    .run_if(resource_exists::<SessionLink>),
            )
            .add_systems(
                PostUpdate,
                (
                    (send_pose, send_controls, send_shares).run_if(resource_exists::<SessionLink>),
                    leave,
                )
                    .chain()
                    .in_set(LinkSystems::Send)
                    .before(TransformSystems::Propagate),
            );
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "a system fanning out to its messages"
)]
fn poll_session(
    link: Res<'_, SessionLink>,
    avatar: Option<Res<'_, LocalAvatar>>,
    mut figures: ResMut<'_, SessionFigures>,
    mut poses: MessageWriter<'_, PoseReceived>,
    mut chosen: MessageWriter<'_, AvatarChosen>,
    mut gone: MessageWriter<'_, PeerGone>,
    mut pointers: MessageWriter<'_, PointerMoved>,
    mut voice: MessageWriter<'_, VoiceStateChanged>,
    mut shares: MessageWriter<'_, ShareNews>,
) {
    let Ok(mut session) = link.0.try_lock() else {
        return;
    };
    for _ in 0..EVENTS_PER_FRAME {
        let Some(event) = session.try_event() else {
            break;
        };
        match event {
            SessionEvent::Joined { me, peers, .. } => {
                figures.me = Some(me);
                figures.people = peers;
            }
            SessionEvent::PeerJoined(info) => {
                figures.people.retain(|p| p.id != info.id);
                figures.people.push(info);
            }
            SessionEvent::Pose { from, update } => {
                figures.poses_received += 1;
                poses.write(PoseReceived { peer: from, update });
            }
            SessionEvent::Control { from, message, .. } => match message {
                Control::Avatar(choice) => {
                    chosen.write(AvatarChosen { peer: from, choice });
                }
                Control::Pointer(pointer) => {
                    pointers.write(PointerMoved {
                        peer: from,
                        pointer,
                    });
                }
                Control::Speaking { speaking } => {
                    voice.write(VoiceStateChanged {
                        peer: from,
                        speaking: Some(speaking),
                        muted: None,
                    });
                }
                Control::Muted { muted } => {
                    voice.write(VoiceStateChanged {
                        peer: from,
                        speaking: None,
                        muted: Some(muted),
                    });
                }
                Control::Shared(share) => {
                    shares.write(ShareNews::Announced { from, share });
                }
                Control::Revoked { object } => {
                    shares.write(ShareNews::Revoked { from, object });
                }
                Control::Viewed { object } => {
                    shares.write(ShareNews::Acknowledged {
                        from,
                        object,
                        viewed: true,
                    });
                }
                Control::Purged { object } => {
                    shares.write(ShareNews::Acknowledged {
                        from,
                        object,
                        viewed: false,
                    });
                }
                // Kinds this build has no part for yet (scenes).
                _ => {}
            },
            // Objects are the patient's to give: from anyone else they are dropped.
            SessionEvent::ObjectReceived {
                from,
                manifest,
                data,
            } => {
                if figures.role_of(from) == Some(Role::Patient) {
                    shares.write(ShareNews::Arrived {
                        from,
                        object: manifest.id,
                        kind: manifest.kind,
                        data: haven_proto::Redacted::new(std::sync::Arc::new(data)),
                    });
                } else {
                    warn!(peer = %from, "an object from a peer that is not the patient was dropped");
                }
            }
            SessionEvent::ObjectSent { to, id } => {
                shares.write(ShareNews::Delivered { to, object: id });
            }
            SessionEvent::ObjectCancelled { peer, id, .. } => {
                shares.write(ShareNews::Cancelled { peer, object: id });
            }
            SessionEvent::ObjectProgress {
                from,
                id,
                received,
                size,
            } => {
                shares.write(ShareNews::Progress {
                    from,
                    object: id,
                    received,
                    size,
                });
            }
            SessionEvent::Audio { .. } => figures.audio_frames_received += 1,
            SessionEvent::PeerConnected(p) => {
                figures.reconnecting.retain(|&c| c != p);
                if !figures.connected.contains(&p) {
                    figures.connected.push(p);
                }
                // Tell the newcomer how we look (everyone else has it already; it is
                // idempotent for them).
                if let Some(avatar) = &avatar {
                    session.send_control(&Control::Avatar(avatar.0.clone()));
                }
            }
            SessionEvent::PeerReconnecting(p) if !figures.reconnecting.contains(&p) => {
                figures.reconnecting.push(p);
            }
            SessionEvent::PeerReconnected(p) => {
                figures.reconnecting.retain(|&c| c != p);
                shares.write(ShareNews::Reconnected { peer: p });
            }
            SessionEvent::PeerLeft(p) => {
                figures.connected.retain(|&c| c != p);
                figures.reconnecting.retain(|&c| c != p);
                figures.people.retain(|c| c.id != p);
                figures.stats.remove(&p);
                gone.write(PeerGone(p));
            }
            SessionEvent::Failed(why) => figures.failed = Some(why),
            _ => {}
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

fn send_pose(
    link: Res<'_, SessionLink>,
    time: Res<'_, Time<Real>>,
    mut figures: ResMut<'_, SessionFigures>,
    head: Query<'_, '_, &Transform, With<LocalHead>>,
    hands: Query<'_, '_, (&LocalHand, &Transform)>,
    mut next_at: Local<'_, f64>,
    mut seq: Local<'_, u16>,
) {
    let now = time.elapsed_secs_f64();
    if figures.connected.is_empty() || now < *next_at {
        return;
    }
    let Ok(head) = head.single() else {
        return;
    };
    // Keep the cadence without bursting after a slow frame.
    *next_at = (*next_at + 1.0 / POSE_HZ).max(now);
    let update = rig_pose(
        head,
        hands.iter().map(|(h, t)| (h.side, h.tracked, *t)),
        *seq,
        ((now * 1000.0) as u64 % 65_536) as u16,
    );
    *seq = seq.wrapping_add(1);
    if let Ok(session) = link.0.try_lock() {
        session.send_pose(&update);
        figures.poses_sent += 1;
    }
}

fn send_controls(
    link: Res<'_, SessionLink>,
    mut requests: MessageReader<'_, '_, SendControl>,
    mut targeted: MessageReader<'_, '_, SendControlTo>,
) {
    let Ok(session) = link.0.try_lock() else {
        return;
    };
    for SendControl(message) in requests.read() {
        session.send_control(message);
    }
    for SendControlTo { to, message } in targeted.read() {
        // A revoke also stops what of the object is still on its way.
        if let Control::Revoked { object } = message {
            session.cancel_object(*to, *object);
        }
        session.send_control_to(*to, message);
    }
}

/// Sends each share the local patient offers to every clinician that has not got it yet
/// (clinicians who connect later get it when they do).
fn send_shares(
    link: Res<'_, SessionLink>,
    figures: Res<'_, SessionFigures>,
    mut mine: ResMut<'_, MyShares>,
) {
    let clinicians: Vec<PeerId> = figures
        .connected
        .iter()
        .copied()
        .filter(|&p| matches!(figures.role_of(p), Some(Role::Clinician | Role::Therapist)))
        .collect();
    if clinicians.is_empty()
        || !mine.0.iter().any(|s| {
            !s.revoked
                && clinicians
                    .iter()
                    .any(|c| !s.sent_to.iter().any(|(p, _)| p == c))
        })
    {
        return;
    }
    let Ok(mut session) = link.0.try_lock() else {
        return;
    };
    // Recording where a share went is not a change of what is shared: nothing re-shows it.
    for share in mine
        .bypass_change_detection()
        .0
        .iter_mut()
        .filter(|s| !s.revoked)
    {
        for &peer in &clinicians {
            if share.sent_to.iter().any(|(p, _)| *p == peer) {
                continue;
            }
            let object = session.send_object(
                peer,
                share.offer.kind,
                std::sync::Arc::clone(share.offer.data.expose()),
            );
            session.send_control_to(
                peer,
                &Control::Shared(haven_proto::control::Share {
                    object,
                    label: share.offer.label.clone(),
                    consent: share.offer.consent.clone(),
                    may_keep: share.offer.may_keep,
                    until: share.offer.until,
                }),
            );
            share.sent_to.push((peer, object));
        }
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
