//! Remote avatars: an entity per remote peer with a head and two hands, placed every frame from
//! that peer's [`PoseBuffer`]. What arrives on the `pose` channel comes in as
//! [`PoseReceived`] messages; who leaves, as [`PeerGone`]. Rendering (meshes, materials, the
//! name tag) hangs off these entities and does not need to know where the poses came from.

use bevy::app::{App, Plugin, Update};
use bevy::ecs::prelude::*;
use bevy::time::Time;
use bevy::transform::components::Transform;
use haven_proto::control::AvatarChoice;
use haven_proto::pose::PoseUpdate;
use haven_proto::signal::PeerId;

use crate::interp::PoseBuffer;
use crate::look::AnonymousLook;

/// A pose update arrived from a peer.
#[derive(Message, Clone, Debug)]
pub struct PoseReceived {
    /// From whom.
    pub peer: PeerId,
    /// The update.
    pub update: PoseUpdate,
}

/// A peer chose how it appears.
#[derive(Message, Clone, Debug)]
pub struct AvatarChosen {
    /// Who.
    pub peer: PeerId,
    /// Named or anonymous.
    pub choice: AvatarChoice,
}

/// A peer left; its avatar goes.
#[derive(Message, Clone, Copy, Debug)]
pub struct PeerGone(pub PeerId);

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
        app.add_message::<PoseReceived>()
            .add_message::<AvatarChosen>()
            .add_message::<PeerGone>()
            .configure_sets(
                Update,
                (AvatarSystems::Receive, AvatarSystems::Place).chain(),
            )
            .add_systems(
                Update,
                (receive_poses, apply_appearance, remove_gone)
                    .chain()
                    .in_set(AvatarSystems::Receive),
            )
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

fn apply_appearance(
    mut chosen: MessageReader<'_, '_, AvatarChosen>,
    mut avatars: Query<'_, '_, (&RemoteAvatar, &mut Appearance)>,
    // Choices for peers whose avatar does not exist yet (the choice is sent on connect and
    // often arrives before the first pose), applied once it does.
    mut waiting: Local<'_, Vec<(PeerId, AvatarChoice)>>,
) {
    waiting.extend(chosen.read().map(|m| (m.peer, m.choice.clone())));
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
    mut gone: MessageReader<'_, '_, PeerGone>,
    avatars: Query<'_, '_, (Entity, &RemoteAvatar)>,
) {
    for PeerGone(peer) in gone.read() {
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
        app.add_plugins((TaskPoolPlugin::default(), TimePlugin, AvatarPlugin))
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

        app.world_mut().write_message(PeerGone(peer));
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
        app.world_mut().write_message(AvatarChosen {
            peer: PeerId(3),
            choice: AvatarChoice::Anonymous { look: 42 },
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
        app.world_mut().write_message(AvatarChosen {
            peer: PeerId(1),
            choice: AvatarChoice::Anonymous { look: 1_234 },
        });
        app.world_mut().write_message(AvatarChosen {
            peer: PeerId(2),
            choice: AvatarChoice::Anonymous { look: 98_765 },
        });
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

        app.world_mut().write_message(AvatarChosen {
            peer: PeerId(1),
            choice: AvatarChoice::Named {
                name: Redacted::new("Dr Osei".into()),
                colour: [255, 0, 0],
            },
        });
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
