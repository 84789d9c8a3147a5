//! The local participant, as the room sees it: a head and two hands that a front end moves
//! (the flat window from the mouse and keyboard, the headset from tracking), and a pointer that
//! the front end turns on and aims. The room reads these and never asks which front end runs;
//! the rig's pose goes to the peers at 60 Hz through the session bridge ([`SendPose`]).

use bevy::prelude::*;
use haven_proto::pose::{Placement, PoseUpdate};

use crate::session::{SendPose, SessionFigures, SessionSystems};

/// How often the local pose goes out.
const POSE_HZ: f64 = 60.0;

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

/// The controllers' grips, held or not (the XR front end writes them; the window has none).
/// Both held for half a second is the patient's way to the safe room in the headset.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalGrips {
    /// The left grip is squeezed.
    pub left: bool,
    /// The right grip is squeezed.
    pub right: bool,
}

/// The right controller's thumbstick (or trackpad), up and down, −1 to 1 (the XR front end
/// writes it; the window has none): a flick moves a rating's slider one step.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq)]
pub struct LocalStick {
    /// Up (+) or down (−).
    pub y: f32,
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

/// The local rig: its pointer resource, and its pose sent while someone is connected.
#[derive(Debug, Default)]
pub struct RigPlugin;

impl Plugin for RigPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<LocalPointer>()
            .init_resource::<LocalGrips>()
            .init_resource::<LocalStick>()
            .add_systems(
                PostUpdate,
                send_pose
                    .before(SessionSystems::Send)
                    .before(TransformSystems::Propagate),
            );
    }
}

/// Writes the rig's pose at [`POSE_HZ`] while a peer is connected (after the front end moved
/// it this frame).
fn send_pose(
    time: Res<'_, Time<Real>>,
    figures: Res<'_, SessionFigures>,
    head: Query<'_, '_, &Transform, With<LocalHead>>,
    hands: Query<'_, '_, (&LocalHand, &Transform)>,
    mut out: MessageWriter<'_, SendPose>,
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
    out.write(SendPose(rig_pose(
        head,
        hands.iter().map(|(h, t)| (h.side, h.tracked, *t)),
        *seq,
        ((now * 1000.0) as u64 % 65_536) as u16,
    )));
    *seq = seq.wrapping_add(1);
}
