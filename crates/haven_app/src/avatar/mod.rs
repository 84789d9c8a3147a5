//! Remote avatars: an entity per remote peer with a head and two hands, placed every frame from
//! that peer's [`PoseBuffer`]. Poses arrive as [`PoseReceived`], looks as `Control::Avatar`,
//! departures as [`PeerLeft`], all from the session bridge. How avatars are drawn is
//! [`draw`]'s job; this module does not need to know where the poses came from. The local
//! participant's own look ([`LocalAvatar`]) goes to each peer as it connects.

pub mod draw;
pub mod interp;
pub mod look;

use bevy::app::{App, Plugin, Update};
use bevy::ecs::prelude::*;
use bevy::time::Time;
use bevy::transform::components::Transform;
use haven_proto::control::{AvatarChoice, Control};
use haven_proto::pose::PoseUpdate;
use haven_proto::signal::PeerId;

use crate::session::{ControlReceived, PeerConnected, PeerLeft, PoseReceived, SendControl};
use interp::PoseBuffer;
use look::AnonymousLook;

pub use draw::{AvatarDrawPlugin, spawn_figure};

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

/// A remote participant's avatar (the root of its head and hands).
#[derive(Component, Debug)]
pub struct RemoteAvatar {
    /// Whose.
    pub peer: PeerId,
    buffer: PoseBuffer,
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
    },
    /// No name; a look drawn from the session's random seed.
    Anonymous(AnonymousLook),
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

/// The avatar systems, in order: take messages, then place parts.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AvatarSystems {
    /// Messages into avatars (spawn, buffer, appearance, despawn).
    Receive,
    /// Avatars' parts placed for this frame.
    Place,
}

/// Remote avatars driven by the pose channel.
#[derive(Debug, Default)]
pub struct AvatarPlugin;

impl Plugin for AvatarPlugin {
    fn build(&self, app: &mut App) {
        app.configure_sets(
            Update,
            (AvatarSystems::Receive, AvatarSystems::Place).chain(),
        )
        .add_systems(
            Update,
            (receive_poses, apply_appearance, remove_gone)
                .chain()
                .in_set(AvatarSystems::Receive),
        )
        .add_systems(Update, introduce_ourselves)
        .add_systems(Update, place_parts.in_set(AvatarSystems::Place));
    }
}

fn spawn_avatar(commands: &mut Commands<'_, '_>, peer: PeerId) -> Entity {
    commands
        .spawn((
            RemoteAvatar {
                peer,
                buffer: PoseBuffer::new(),
            },
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
/// for them).
fn introduce_ourselves(
    mut connected: MessageReader<'_, '_, PeerConnected>,
    avatar: Option<Res<'_, LocalAvatar>>,
    mut out: MessageWriter<'_, SendControl>,
) {
    for _ in connected.read() {
        if let Some(avatar) = &avatar {
            out.write(SendControl(Control::Avatar(avatar.0.clone())));
        }
    }
}

fn apply_appearance(
    mut controls: MessageReader<'_, '_, ControlReceived>,
    mut avatars: Query<'_, '_, (&RemoteAvatar, &mut Appearance)>,
    // Choices for peers whose avatar does not exist yet (the choice is sent on connect and
    // often arrives before the first pose), applied once it does.
    mut waiting: Local<'_, Vec<(PeerId, AvatarChoice)>>,
) {
    waiting.extend(controls.read().filter_map(|m| match &m.message {
        Control::Avatar(choice) => Some((m.from, choice.clone())),
        _ => None,
    }));
    waiting.retain(|(peer, choice)| {
        let Some((_, mut appearance)) = avatars.iter_mut().find(|(a, _)| a.peer == *peer) else {
            return true;
        };
        *appearance = match choice {
            AvatarChoice::Named { name, colour } => Appearance::Named {
                name: name.clone(),
                colour: colour.map(|c| f32::from(c) / 255.0),
            },
            AvatarChoice::Anonymous { look } => {
                Appearance::Anonymous(AnonymousLook::from_seed(*look))
            }
        };
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
}
