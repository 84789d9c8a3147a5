//! Remote avatars: an entity per remote peer with a head and two hands, placed every frame from
//! that peer's [`PoseBuffer`], and a whole [`Figure`] animated from them: a body solved from the
//! three tracked points ([`body`]), a mouth that follows the peer's voice as heard here, blinks,
//! and eyes that look at whoever speaks ([`face`]). Poses arrive as [`PoseReceived`], looks as
//! `Control::Avatar` and `Control::Look`, hand shapes as `Control::Hands`, departures as
//! [`PeerLeft`], all from the session bridge. How avatars are drawn is [`draw`]'s job; this
//! module does not need to know where the poses came from. The local participant's own look
//! ([`LocalAvatar`], [`LocalLook`]) goes to each peer as it connects.

pub mod body;
pub mod draw;
pub mod face;
pub mod figure;
pub mod interp;
pub mod look;

use bevy::app::{App, Plugin, Update};
use bevy::ecs::prelude::*;
use bevy::math::Vec3;
use bevy::time::Time;
use bevy::transform::components::Transform;
use haven_proto::control::{AvatarChoice, Control, HandShape, HandShapes, Look};
use haven_proto::pose::PoseUpdate;
use haven_proto::signal::PeerId;

use crate::rig::{LocalGrips, LocalHead, LocalPointer};
use crate::session::{ControlReceived, PeerConnected, PeerLeft, PoseReceived, SendControl};
use crate::voice::VoiceActivity;
use body::{Proportions, Skeleton, Torso};
use face::{Blinker, GazeTargets, Mouth};
use figure::FaceState;
use interp::{AvatarPose, PoseBuffer};
use look::{AnonymousLook, Palette};

pub use draw::{AvatarDrawPlugin, FigureMeshes, SeatedPerson, spawn_figure};

/// How the local participant appears to the others (sent to each peer as it connects).
#[derive(Resource, Clone, Debug)]
pub struct LocalAvatar(pub AvatarChoice);

impl LocalAvatar {
    /// An anonymous look drawn from the operating system's random source, new each session.
    pub fn anonymous() -> Self {
        let mut seed = [0u8; 4];
        // Without randomness every anonymous patient would look alike; that is still private.
        let _ = getrandom::fill(&mut seed);
        Self(AvatarChoice::Anonymous {
            look: u32::from_le_bytes(seed),
        })
    }
}

/// How a named local participant looks (skin, hair, clothing): sent after their
/// [`LocalAvatar`] to each peer as it connects, and again when it changes. Not sent for an
/// anonymous participant.
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalLook(pub Look);

/// A remote participant's avatar (the root of its head and hands).
#[derive(Component, Debug)]
pub struct RemoteAvatar {
    /// Whose.
    pub peer: PeerId,
    buffer: PoseBuffer,
    /// Where the tracked points are shown this frame.
    shown: Option<AvatarPose>,
}

impl RemoteAvatar {
    /// Where the tracked head and hands are shown this frame (none before the first pose).
    pub fn shown(&self) -> Option<&AvatarPose> {
        self.shown.as_ref()
    }
}

/// A remote avatar's whole figure as animated this frame: the body solved from its tracked
/// points, its face (mouth, lids, gaze) and hands. Headless: drawing only reads it.
#[derive(Component, Debug, Default)]
pub struct Figure {
    torso: Torso,
    mouth: Mouth,
    blinker: Option<Blinker>,
    /// The hands' shapes, as the peer last said.
    pub hands: HandShapes,
    /// Where the peer's pointer hits, while it points.
    pub pointed: Option<Vec3>,
    /// The body, once a pose has arrived.
    pub skeleton: Option<Skeleton>,
    /// The face and hands now.
    pub face: FaceState,
}

/// How an avatar appears: a name tag and colour, or an anonymous look with no name.
#[derive(Component, Clone, Debug, PartialEq)]
pub enum Appearance {
    /// A name shown over the head, in a chosen colour (sRGB 0-1).
    Named {
        /// The name (patient data: never logged).
        name: haven_proto::Redacted<String>,
        /// The colour.
        colour: [f32; 3],
        /// The look they chose (skin, hair, clothing), once it arrives.
        look: Option<Look>,
    },
    /// No name; a look drawn from the session's random seed.
    Anonymous(AnonymousLook),
}

impl Appearance {
    /// The colours its figure is drawn in.
    pub fn palette(&self) -> Palette {
        match self {
            Self::Named { colour, look, .. } => look::named_palette(*colour, look.as_ref()),
            Self::Anonymous(l) => Palette::from(*l),
        }
    }

    /// Its figure's build: a named adult's, or the anonymous figure's fixed one.
    pub fn proportions(&self) -> Proportions {
        match self {
            Self::Named { .. } => Proportions::ADULT,
            Self::Anonymous(_) => Proportions::ANONYMOUS,
        }
    }
}

/// Which part of an avatar an entity is.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AvatarPart {
    /// The head.
    Head,
    /// The left hand.
    LeftHand,
    /// The right hand.
    RightHand,
}

/// How visible a hand is (0 hidden, 1 shown); the renderer fades its material by it.
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct Visibility01(pub f32);

/// The avatar systems, in order: take messages, then place parts, then animate figures.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AvatarSystems {
    /// Messages into avatars (spawn, buffer, appearance, despawn).
    Receive,
    /// Avatars' parts placed for this frame.
    Place,
    /// Figures animated from the placed parts (body, face, gaze).
    Animate,
}

/// Remote avatars driven by the pose channel.
#[derive(Debug, Default)]
pub struct AvatarPlugin;

impl Plugin for AvatarPlugin {
    fn build(&self, app: &mut App) {
        app.configure_sets(
            Update,
            (
                AvatarSystems::Receive,
                AvatarSystems::Place,
                AvatarSystems::Animate,
            )
                .chain(),
        )
        .add_systems(
            Update,
            (receive_poses, apply_appearance, remove_gone)
                .chain()
                .in_set(AvatarSystems::Receive),
        )
        .add_systems(Update, (introduce_ourselves, show_our_hands))
        .add_systems(Update, place_parts.in_set(AvatarSystems::Place))
        .add_systems(Update, animate_figures.in_set(AvatarSystems::Animate));
    }
}

fn spawn_avatar(commands: &mut Commands<'_, '_>, peer: PeerId) -> Entity {
    commands
        .spawn((
            RemoteAvatar {
                peer,
                buffer: PoseBuffer::new(),
                shown: None,
            },
            Figure::default(),
            // Until the peer says otherwise it is anonymous: nothing about it is shown.
            Appearance::Anonymous(AnonymousLook::from_seed(0)),
            Transform::default(),
        ))
        .with_children(|parts| {
            parts.spawn((AvatarPart::Head, Transform::default()));
            parts.spawn((
                AvatarPart::LeftHand,
                Visibility01(1.0),
                Transform::default(),
            ));
            parts.spawn((
                AvatarPart::RightHand,
                Visibility01(1.0),
                Transform::default(),
            ));
        })
        .id()
}

fn receive_poses(
    mut commands: Commands<'_, '_>,
    mut poses: MessageReader<'_, '_, PoseReceived>,
    mut avatars: Query<'_, '_, &mut RemoteAvatar>,
    time: Res<'_, Time>,
    mut pending: Local<'_, Vec<(PeerId, PoseUpdate)>>,
) {
    let now = time.elapsed_secs_f64();
    // Updates for avatars spawned last frame (their entity exists now).
    let waiting = std::mem::take(&mut *pending);
    for (peer, update) in waiting
        .into_iter()
        .chain(poses.read().map(|m| (m.peer, m.update)))
    {
        match avatars.iter_mut().find(|a| a.peer == peer) {
            Some(mut avatar) => avatar.buffer.push(&update, now),
            None => {
                if !pending.iter().any(|(p, _)| *p == peer) {
                    spawn_avatar(&mut commands, peer);
                }
                pending.push((peer, update));
            }
        }
    }
}

/// Tells each peer that connects how we look (everyone else has it already; it is idempotent
/// for them), and everyone when a named participant's look changes.
fn introduce_ourselves(
    mut connected: MessageReader<'_, '_, PeerConnected>,
    avatar: Option<Res<'_, LocalAvatar>>,
    look: Option<Res<'_, LocalLook>>,
    mut out: MessageWriter<'_, SendControl>,
) {
    let named = avatar
        .as_ref()
        .is_some_and(|a| matches!(a.0, AvatarChoice::Named { .. }));
    let mut look_due = look
        .as_ref()
        .is_some_and(|l| l.is_changed() && !l.is_added());
    for _ in connected.read() {
        if let Some(avatar) = &avatar {
            out.write(SendControl(Control::Avatar(avatar.0.clone())));
            look_due = true;
        }
    }
    // An anonymous participant never sends a look: it could stand for them.
    if let (true, true, Some(look)) = (named, look_due, &look) {
        out.write(SendControl(Control::Look(look.0)));
    }
}

/// What the local hands do, from the rig: a squeezed grip grips; the pointer's hand points
/// while the pointer is on (the right hand: the controller's ray, or the window's pointer).
pub fn local_hand_shapes(pointer: &LocalPointer, grips: &LocalGrips) -> HandShapes {
    let shape = |grip: bool, point: bool| {
        if grip {
            HandShape::Grip
        } else if point {
            HandShape::Point
        } else {
            HandShape::Relaxed
        }
    };
    HandShapes {
        left: shape(grips.left, false),
        right: shape(grips.right, pointer.active),
    }
}

/// Sends the local hands' shapes when they change, and to each peer that connects.
fn show_our_hands(
    mut connected: MessageReader<'_, '_, PeerConnected>,
    pointer: Option<Res<'_, LocalPointer>>,
    grips: Option<Res<'_, LocalGrips>>,
    mut sent: Local<'_, HandShapes>,
    mut out: MessageWriter<'_, SendControl>,
) {
    let now = local_hand_shapes(
        &pointer.map(|p| *p).unwrap_or_default(),
        &grips.map(|g| *g).unwrap_or_default(),
    );
    let someone_new = connected.read().count() > 0;
    if now != *sent || (someone_new && now != HandShapes::default()) {
        *sent = now;
        out.write(SendControl(Control::Hands(now)));
    }
}

/// How many avatar messages may wait for their avatars (four kinds for 16 peers).
const MAX_WAITING: usize = 64;

fn apply_appearance(
    mut controls: MessageReader<'_, '_, ControlReceived>,
    mut avatars: Query<'_, '_, (&RemoteAvatar, &mut Appearance, &mut Figure)>,
    // Choices, looks and hands for peers whose avatar does not exist yet (they are sent on
    // connect and often arrive before the first pose), applied in order once it does.
    mut waiting: Local<'_, Vec<(PeerId, Control)>>,
    mut left: MessageReader<'_, '_, PeerLeft>,
) {
    let incoming = controls.read().filter_map(|m| match &m.message {
        Control::Avatar(_) | Control::Look(_) | Control::Hands(_) | Control::Pointer(_) => {
            Some((m.from, m.message.clone()))
        }
        _ => None,
    });
    // Only the newest of each kind per peer waits (a peer that never sends a pose cannot grow
    // the list), at most `MAX_WAITING` in all, and none for a peer that left.
    for (peer, message) in incoming {
        let kind = std::mem::discriminant(&message);
        waiting.retain(|(p, m)| !(*p == peer && std::mem::discriminant(m) == kind));
        waiting.push((peer, message));
    }
    for PeerLeft(gone) in left.read() {
        waiting.retain(|(p, _)| p != gone);
    }
    let excess = waiting.len().saturating_sub(MAX_WAITING);
    waiting.drain(..excess);
    waiting.retain(|(peer, message)| {
        let Some((_, mut appearance, mut figure)) =
            avatars.iter_mut().find(|(a, _, _)| a.peer == *peer)
        else {
            // A pointer for an avatar not seen yet is stale by the time it is.
            return !matches!(message, Control::Pointer(_));
        };
        match message {
            Control::Avatar(AvatarChoice::Named { name, colour }) => {
                // A choice is sent again on every connection: keep the look already known.
                let known = match &*appearance {
                    Appearance::Named { look, .. } => *look,
                    Appearance::Anonymous(_) => None,
                };
                *appearance = Appearance::Named {
                    name: name.clone(),
                    colour: colour.map(|c| f32::from(c) / 255.0),
                    look: known,
                };
            }
            Control::Avatar(AvatarChoice::Anonymous { look }) => {
                *appearance = Appearance::Anonymous(AnonymousLook::from_seed(*look));
            }
            // A look for an anonymous figure is ignored: it would give the patient a skin
            // tone and hair.
            Control::Look(chosen) => {
                if let Appearance::Named { look, .. } = &mut *appearance {
                    *look = Some(*chosen);
                }
            }
            Control::Hands(hands) => figure.hands = *hands,
            Control::Pointer(pointer) => {
                figure.pointed = pointer.and_then(|p| p.hit).map(Vec3::from);
            }
            _ => {}
        }
        false
    });
}

fn remove_gone(
    mut commands: Commands<'_, '_>,
    mut gone: MessageReader<'_, '_, PeerLeft>,
    avatars: Query<'_, '_, (Entity, &RemoteAvatar)>,
) {
    for PeerLeft(peer) in gone.read() {
        for (entity, avatar) in &avatars {
            if avatar.peer == *peer {
                commands.entity(entity).despawn();
            }
        }
    }
}

fn place_parts(
    time: Res<'_, Time>,
    mut avatars: Query<'_, '_, (&mut RemoteAvatar, &Children)>,
    mut parts: Query<'_, '_, (&AvatarPart, &mut Transform, Option<&mut Visibility01>)>,
) {
    let now = time.elapsed_secs_f64();
    for (mut avatar, children) in &mut avatars {
        let Some(pose) = avatar.buffer.sample(now) else {
            continue;
        };
        avatar.shown = Some(pose);
        for &child in children {
            let Ok((part, mut transform, visibility)) = parts.get_mut(child) else {
                continue;
            };
            let (p, shown) = match part {
                AvatarPart::Head => (pose.head, 1.0),
                AvatarPart::LeftHand => pose.left,
                AvatarPart::RightHand => pose.right,
            };
            transform.translation = p.position;
            transform.rotation = p.rotation;
            if let Some(mut v) = visibility {
                v.0 = shown;
            }
        }
    }
}

/// Where a figure's eyes are, from its head.
fn eyes_of(pose: &AvatarPose, p: &Proportions) -> Vec3 {
    pose.head.position + pose.head.rotation * Vec3::new(0.0, p.head.y * 0.18, -p.head.z * 0.8)
}

/// Animates each figure: its body from the tracked points, its mouth from its voice as heard
/// here, its blinks, and its gaze (whoever else speaks, else where it points, else ahead).
fn animate_figures(
    time: Res<'_, Time>,
    activity: Option<Res<'_, VoiceActivity>>,
    local: Query<'_, '_, &Transform, With<LocalHead>>,
    mut avatars: Query<'_, '_, (&RemoteAvatar, &Appearance, &mut Figure)>,
) {
    let now = time.elapsed_secs_f64();
    let dt = time.delta_secs();
    let activity = activity.as_deref();
    // Who speaks, and where their heads are.
    let mut speakers: Vec<(Option<PeerId>, Vec3)> = avatars
        .iter()
        .filter(|(a, _, _)| activity.is_some_and(|v| v.is_speaking(a.peer)))
        .filter_map(|(a, _, _)| a.shown.map(|s| (Some(a.peer), s.head.position)))
        .collect();
    if activity.is_some_and(|v| v.local_speaking)
        && let Some(head) = local.iter().next()
    {
        speakers.push((None, head.translation));
    }
    for (avatar, appearance, mut figure) in &mut avatars {
        let Some(pose) = avatar.shown else {
            continue;
        };
        let proportions = appearance.proportions();
        let figure = &mut *figure;
        figure.skeleton = Some(figure.torso.update(&pose, dt, &proportions));
        let level = activity.and_then(|v| v.levels.get(&avatar.peer).copied());
        let muted = activity
            .and_then(|v| v.muted_peers.get(&avatar.peer).copied())
            .unwrap_or(false);
        figure.face.mouth = figure.mouth.update(level, muted, dt);
        let seed = avatar.peer.0.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        figure.face.lid = figure
            .blinker
            .get_or_insert_with(|| Blinker::new(seed, now))
            .lid(now);
        let forward = pose.head.rotation * Vec3::NEG_Z;
        let eyes = eyes_of(&pose, &proportions);
        // Of the others speaking, the one nearest where the head points.
        let speaker = speakers
            .iter()
            .filter(|(peer, _)| *peer != Some(avatar.peer))
            .map(|(_, at)| *at)
            .max_by(|a, b| {
                let ahead = |t: &Vec3| forward.dot((*t - eyes).normalize_or_zero());
                ahead(a).total_cmp(&ahead(b))
            });
        let targets = GazeTargets {
            speaker,
            pointed: figure.pointed,
        };
        figure.face.gaze = face::gaze(eyes, pose.head.rotation, targets);
        figure.face.hands = [figure.hands.left, figure.hands.right];
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bevy::app::TaskPoolPlugin;
    use bevy::math::Vec3;
    use bevy::time::{TimePlugin, TimeUpdateStrategy};
    use haven_proto::Redacted;
    use haven_proto::pose::Placement;

    use super::*;

    fn app() -> App {
        let mut app = App::new();
        app.add_plugins((
            TaskPoolPlugin::default(),
            TimePlugin,
            crate::session::SessionPlugin,
            AvatarPlugin,
        ))
        .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(
            10,
        )));
        app
    }

    fn update(seq: u16, x: f32) -> PoseUpdate {
        PoseUpdate {
            seq,
            sent_at_ms: seq * 10,
            head: Placement {
                position: [x, 1.6, -1.0],
                orientation: [0.0, 0.0, 0.0, 1.0],
            },
            left_hand: Some(Placement {
                position: [x - 0.3, 1.1, -0.8],
                orientation: [0.0, 0.0, 0.0, 1.0],
            }),
            right_hand: None,
        }
    }

    fn chosen(from: PeerId, choice: AvatarChoice) -> ControlReceived {
        ControlReceived {
            from,
            role: haven_proto::signal::Role::Patient,
            message: Control::Avatar(choice),
        }
    }

    #[test]
    fn the_local_anonymous_look_is_drawn_at_random() {
        let looks: std::collections::HashSet<u32> = (0..8)
            .map(|_| match LocalAvatar::anonymous().0 {
                AvatarChoice::Anonymous { look } => look,
                AvatarChoice::Named { .. } => unreachable!("anonymous() is anonymous"),
            })
            .collect();
        // Eight draws of 32 random bits: all alike only if the source is broken.
        assert!(looks.len() > 1, "{looks:?}");
    }

    fn head_of(app: &mut App) -> Option<Vec3> {
        let mut q = app.world_mut().query::<(&AvatarPart, &Transform)>();
        q.iter(app.world())
            .find(|(p, _)| **p == AvatarPart::Head)
            .map(|(_, t)| t.translation)
    }

    #[test]
    fn poses_in_move_the_avatar_and_leaving_removes_it() {
        let mut app = app();
        let peer = PeerId(7);
        for i in 0..40u16 {
            app.world_mut().write_message(PoseReceived {
                peer,
                update: update(i, f32::from(i) * 0.01),
            });
            app.update();
        }
        let head = head_of(&mut app).expect("an avatar was spawned");
        // Shown ~50 ms (5 updates) behind the newest (x = 0.39).
        assert!((0.30..0.38).contains(&head.x), "head at {head}");
        assert!((head.y - 1.6).abs() < 1e-4);
        let mut hands = app.world_mut().query::<(&AvatarPart, &Visibility01)>();
        let right = hands
            .iter(app.world())
            .find(|(p, _)| **p == AvatarPart::RightHand)
            .map(|(_, v)| v.0)
            .expect("a right hand");
        assert!(right < 1.0, "the untracked right hand is fading: {right}");
        assert_eq!(
            app.world_mut()
                .query::<&RemoteAvatar>()
                .iter(app.world())
                .count(),
            1
        );

        app.world_mut().write_message(PeerLeft(peer));
        app.update();
        assert_eq!(
            app.world_mut()
                .query::<&RemoteAvatar>()
                .iter(app.world())
                .count(),
            0
        );
        assert_eq!(head_of(&mut app), None, "its parts went with it");
    }

    /// The avatar choice is sent on connect and often arrives before the first pose.
    #[test]
    fn a_choice_that_arrives_before_the_first_pose_still_applies() {
        let mut app = app();
        app.world_mut().write_message(ControlReceived {
            from: PeerId(3),
            role: haven_proto::signal::Role::Patient,
            message: Control::Avatar(AvatarChoice::Anonymous { look: 42 }),
        });
        app.update();
        app.world_mut().write_message(PoseReceived {
            peer: PeerId(3),
            update: update(1, 0.0),
        });
        app.update();
        app.update();
        let mut q = app.world_mut().query::<&Appearance>();
        let looks: Vec<_> = q.iter(app.world()).cloned().collect();
        assert_eq!(
            looks,
            vec![Appearance::Anonymous(AnonymousLook::from_seed(42))]
        );
    }

    #[test]
    fn an_anonymous_avatar_has_no_name_and_differs_between_sessions() {
        let mut app = app();
        app.world_mut().write_message(PoseReceived {
            peer: PeerId(1),
            update: update(1, 0.0),
        });
        app.world_mut().write_message(PoseReceived {
            peer: PeerId(2),
            update: update(1, 1.0),
        });
        app.update();
        app.world_mut()
            .write_message(chosen(PeerId(1), AvatarChoice::Anonymous { look: 1_234 }));
        app.world_mut()
            .write_message(chosen(PeerId(2), AvatarChoice::Anonymous { look: 98_765 }));
        app.update();
        let mut q = app.world_mut().query::<(&RemoteAvatar, &Appearance)>();
        let looks: Vec<_> = q
            .iter(app.world())
            .map(|(a, l)| (a.peer, l.clone()))
            .collect();
        assert_eq!(looks.len(), 2);
        for (_, look) in &looks {
            assert!(
                matches!(look, Appearance::Anonymous(_)),
                "no name tag: {look:?}"
            );
        }
        assert_ne!(
            looks[0].1, looks[1].1,
            "two sessions' patients look different"
        );

        app.world_mut().write_message(chosen(
            PeerId(1),
            AvatarChoice::Named {
                name: Redacted::new("Dr Osei".into()),
                colour: [255, 0, 0],
            },
        ));
        app.update();
        let named = q
            .iter(app.world())
            .find(|(a, _)| a.peer == PeerId(1))
            .map(|(_, l)| l.clone())
            .expect("avatar 1");
        assert!(matches!(
            named,
            Appearance::Named {
                colour: [1.0, 0.0, 0.0],
                ..
            }
        ));
        assert!(
            !format!("{named:?}").contains("Osei"),
            "names never reach Debug output"
        );
    }

    fn hands_sent(app: &mut App) -> Vec<HandShapes> {
        app.world_mut()
            .resource_mut::<Messages<SendControl>>()
            .drain()
            .filter_map(|m| match m.0 {
                Control::Hands(h) => Some(h),
                _ => None,
            })
            .collect()
    }

    /// The local hands' shapes go out when the grips or the pointer change (and only then),
    /// and a peer's shapes reach its figure.
    #[test]
    fn hand_shapes_follow_the_grips_and_the_pointer_both_ways() {
        let mut app = app();
        app.init_resource::<LocalPointer>()
            .init_resource::<LocalGrips>();
        app.update();
        assert_eq!(hands_sent(&mut app), vec![], "relaxed hands are not news");
        app.insert_resource(LocalGrips {
            left: true,
            right: false,
        });
        app.world_mut().resource_mut::<LocalPointer>().active = true;
        app.update();
        app.update();
        assert_eq!(
            hands_sent(&mut app),
            vec![HandShapes {
                left: HandShape::Grip,
                right: HandShape::Point,
            }],
            "sent once"
        );
        app.insert_resource(LocalGrips {
            left: false,
            right: true,
        });
        app.update();
        assert_eq!(
            hands_sent(&mut app),
            vec![HandShapes {
                left: HandShape::Relaxed,
                right: HandShape::Grip,
            }],
            "a grip wins over the pointer"
        );

        let peer = PeerId(4);
        let shapes = HandShapes {
            left: HandShape::Point,
            right: HandShape::Grip,
        };
        app.world_mut().write_message(ControlReceived {
            from: peer,
            role: haven_proto::signal::Role::Clinician,
            message: Control::Hands(shapes),
        });
        app.world_mut().write_message(PoseReceived {
            peer,
            update: update(1, 0.0),
        });
        app.update();
        app.update();
        let mut q = app.world_mut().query::<(&RemoteAvatar, &Figure)>();
        let got: Vec<HandShapes> = q.iter(app.world()).map(|(_, f)| f.hands).collect();
        assert_eq!(got, vec![shapes]);
    }

    fn looks_sent(app: &mut App) -> usize {
        app.world_mut()
            .resource_mut::<Messages<SendControl>>()
            .drain()
            .filter(|m| matches!(m.0, Control::Look(_)))
            .count()
    }

    /// A named participant's look goes out when they change it (the window's buttons); an
    /// anonymous participant's never does, whatever the resource says.
    #[test]
    fn a_changed_look_is_sent_by_named_participants_only() {
        for (named, expected) in [(true, 1), (false, 0)] {
            let mut app = app();
            let avatar = if named {
                LocalAvatar(AvatarChoice::Named {
                    name: Redacted::new("Dr Osei".into()),
                    colour: [10, 20, 30],
                })
            } else {
                LocalAvatar::anonymous()
            };
            app.insert_resource(avatar)
                .insert_resource(LocalLook(look::DEFAULT_LOOK));
            app.update();
            app.update();
            assert_eq!(looks_sent(&mut app), 0, "nothing new yet");
            app.world_mut().resource_mut::<LocalLook>().0.skin = look::SKINS[0].1;
            app.update();
            assert_eq!(looks_sent(&mut app), expected, "named: {named}");
        }
    }
}
