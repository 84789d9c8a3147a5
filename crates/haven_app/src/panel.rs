//! The session panel in the room: two buttons (mute, leave) standing on the table's edge in
//! front of the local seat, used with the pointer. In XR this is the session UI (aim the
//! controller's ray, pull the trigger); in the flat window the same buttons answer a click,
//! beside the window's own panel. A press is the pointer turning on while it hits a button.

use bevy::color::palettes::css;
use bevy::prelude::*;

use crate::link::LeaveRequested;
use crate::local::{LocalPointer, Seat};
use crate::pointer::{PointerTarget, first_hit};
use crate::voice::{SetMuted, VoiceActivity};

/// What a button in the room does.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorldButton {
    /// Mutes or unmutes the microphone.
    Mute,
    /// Leaves the consult.
    Leave,
}

/// The in-room session panel.
#[derive(Debug, Default)]
pub struct WorldPanelPlugin;

impl Plugin for WorldPanelPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Startup, spawn_panel)
            .add_systems(Update, (press, label));
    }
}

const BUTTON: Vec3 = Vec3::new(0.16, 0.07, 0.02);

fn spawn_panel(
    mut commands: Commands<'_, '_>,
    seat: Option<Res<'_, Seat>>,
    mut meshes: ResMut<'_, Assets<Mesh>>,
    mut materials: ResMut<'_, Assets<StandardMaterial>>,
) {
    let seat = seat.map(|s| *s).unwrap_or_default();
    // Standing on the table's near edge (the table spans z −0.45..0.45), to the seat's left,
    // facing the seat. The seats face each other along z, so the buttons stay axis-aligned.
    let towards = if seat.looks_at.z < seat.eyes.z {
        Vec3::NEG_Z
    } else {
        Vec3::Z
    };
    let left = Vec3::Y.cross(towards);
    let edge = Vec3::new(seat.eyes.x, 0.80, -towards.z * 0.36);
    let facing = Transform::IDENTITY.looking_to(towards, Vec3::Y).rotation;
    for (button, offset, colour) in [
        (WorldButton::Mute, 0.33, Color::srgb(0.90, 0.92, 0.93)),
        (WorldButton::Leave, 0.52, Color::srgb(0.80, 0.33, 0.30)),
    ] {
        let at = edge + left * offset;
        commands.spawn((
            button,
            PointerTarget {
                half_extents: BUTTON / 2.0,
            },
            Mesh3d(meshes.add(Cuboid::from_size(BUTTON))),
            MeshMaterial3d(materials.add(StandardMaterial {
                base_color: colour,
                perceptual_roughness: 0.6,
                ..default()
            })),
            Transform::from_translation(at).with_rotation(facing),
        ));
    }
}

fn press(
    pointer: Res<'_, LocalPointer>,
    targets: Query<'_, '_, (&PointerTarget, &GlobalTransform)>,
    buttons: Query<'_, '_, (&WorldButton, &PointerTarget, &GlobalTransform)>,
    activity: Res<'_, VoiceActivity>,
    mut was_active: Local<'_, bool>,
    mut mute: MessageWriter<'_, SetMuted>,
    mut leave: MessageWriter<'_, LeaveRequested>,
) {
    let pressed = pointer.active && !*was_active;
    *was_active = pointer.active;
    if !pressed || !pointer.direction.is_normalized() {
        return;
    }
    // Cast here rather than read last frame's hit: the press and its ray are the same frame's.
    let Some(at) = first_hit(pointer.origin, pointer.direction, targets) else {
        return;
    };
    for (button, target, transform) in &buttons {
        let local = (at - transform.translation()).abs();
        if local.cmple(target.half_extents + Vec3::splat(1e-3)).all() {
            match button {
                WorldButton::Mute => {
                    mute.write(SetMuted(!activity.muted));
                }
                WorldButton::Leave => {
                    leave.write(LeaveRequested);
                }
            }
        }
    }
}

fn label(
    mut gizmos: Gizmos<'_, '_>,
    activity: Res<'_, VoiceActivity>,
    buttons: Query<'_, '_, (&WorldButton, &GlobalTransform)>,
) {
    for (button, at) in &buttons {
        let (_, rotation, translation) = at.to_scale_rotation_translation();
        let text = match button {
            WorldButton::Mute if activity.muted => "Unmute",
            WorldButton::Mute => "Mute",
            WorldButton::Leave => "Leave",
        };
        // On the face towards the seat (+z of a button that looks away from it).
        let front = translation + rotation * Vec3::Z * (BUTTON.z / 2.0 + 0.002);
        gizmos.text(
            Isometry3d::new(front, rotation),
            text,
            0.035,
            Vec2::ZERO,
            Color::from(css::BLACK),
        );
    }
}
