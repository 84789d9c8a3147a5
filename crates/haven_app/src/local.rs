//! The local participant, as the room sees it: a head and two hands that a front end moves
//! (the flat window from the mouse and keyboard, the headset from tracking), and a pointer that
//! the front end turns on and aims. The room reads these and never asks which front end runs;
//! [`crate::link`] sends them to the peers.

use bevy::prelude::*;
use haven_proto::control::AvatarChoice;
use haven_proto::pose::{Placement, PoseUpdate};
use haven_proto::signal::Role;

use crate::room::{CLINICIAN_EYES, PATIENT_SEAT};

/// The local head (the camera in the flat front end, the headset in XR). Its `Transform` is in
/// the room's frame.
#[derive(Component, Debug, Default)]
pub struct LocalHead;

/// Which hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Left.
    Left,
    /// Right.
    Right,
}

/// A local hand. Its `Transform` is in the room's frame; `tracked` is false when the front end
/// does not know where it is (a controller put down), and peers then fade it out.
#[derive(Component, Debug)]
pub struct LocalHand {
    /// Which one.
    pub side: Side,
    /// Whether its pose is known now.
    pub tracked: bool,
}

/// The local laser pointer: on while the user points (mouse button held, controller trigger
/// pressed), from `origin` along `direction` in the room's frame.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq)]
pub struct LocalPointer {
    /// Whether it is on.
    pub active: bool,
    /// Where the ray starts.
    pub origin: Vec3,
    /// Where it points (unit length).
    pub direction: Vec3,
}

/// How the local participant appears to the others (sent on connect).
#[derive(Resource, Clone, Debug)]
pub struct LocalAvatar(pub AvatarChoice);

/// Where the local participant sits: the patient in the patient's chair, everyone else across
/// the table. Front ends start the view (flat) or place the tracking space (XR) here.
#[derive(Resource, Clone, Copy, Debug, PartialEq)]
pub struct Seat {
    /// Seated eye height and place, room frame.
    pub eyes: Vec3,
    /// What a seated person looks at: the other chair's face height.
    pub looks_at: Vec3,
}

impl Seat {
    /// The seat of a role.
    pub fn for_role(role: Role) -> Self {
        let patient_eyes = PATIENT_SEAT + Vec3::Y * 1.2;
        match role {
            Role::Patient => Self {
                eyes: patient_eyes,
                looks_at: Vec3::new(0.0, 1.15, CLINICIAN_EYES.z),
            },
            Role::Clinician | Role::Therapist => Self {
                eyes: CLINICIAN_EYES,
                looks_at: PATIENT_SEAT + Vec3::Y * 1.05,
            },
        }
    }
}

impl Default for Seat {
    fn default() -> Self {
        Self::for_role(Role::Clinician)
    }
}

/// Spawns the local rig (head and hands) at a seat; front ends then move it.
pub fn spawn_rig(commands: &mut Commands<'_, '_>, eyes: Transform) {
    commands.spawn((LocalHead, eyes));
    for side in [Side::Left, Side::Right] {
        commands.spawn((
            LocalHand {
                side,
                tracked: true,
            },
            Transform::from_translation(eyes.translation),
        ));
    }
}

fn placement(t: &Transform) -> Placement {
    Placement {
        position: t.translation.to_array(),
        orientation: t.rotation.normalize().to_array(),
    }
}

/// The pose update the rig stands for now.
pub fn rig_pose(
    head: &Transform,
    hands: impl IntoIterator<Item = (Side, bool, Transform)>,
    seq: u16,
    sent_at_ms: u16,
) -> PoseUpdate {
    let mut update = PoseUpdate {
        seq,
        sent_at_ms,
        head: placement(head),
        left_hand: None,
        right_hand: None,
    };
    for (side, tracked, t) in hands {
        let p = tracked.then(|| placement(&t));
        match side {
            Side::Left => update.left_hand = p,
            Side::Right => update.right_hand = p,
        }
    }
    update
}
