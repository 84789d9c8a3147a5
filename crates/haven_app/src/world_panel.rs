//! The in-room buttons, laid out and pressed: every [`RoomButton`] a feature declares stands on
//! the table's edge in front of the local seat, in a row by its `order`, and is pressed with the
//! pointer. In XR this is the session UI (aim the controller's ray, pull the trigger); in the
//! flat window the same buttons answer a click, beside the window's own panel. A press is the
//! pointer turning on while it hits a button.

use bevy::color::palettes::css;
use bevy::prelude::*;

use crate::button::{Pressed, RoomButton};
use crate::hit::{HitBox, first_hit, on_box};
use crate::layout::Seat;
use crate::rig::LocalPointer;

/// Lays out and presses the in-room buttons.
#[derive(Debug, Default)]
pub struct WorldPanelPlugin;

impl Plugin for WorldPanelPlugin {
    fn build(&self, app: &mut App) {
        app.init_gizmo_group::<ButtonLabels>()
            .add_systems(Update, (lay_out, press, label).chain());
    }
}

/// The buttons' labels are drawn in their own gizmo group, so a front end can keep them to the
/// cameras that see the buttons.
#[derive(Default, Reflect, GizmoConfigGroup)]
pub struct ButtonLabels;

const BUTTON: Vec3 = Vec3::new(0.16, 0.07, 0.02);
/// Where the first button stands from the seat's centre line, and the step to the next.
const FIRST_OFFSET: f32 = 0.33;
const STEP: f32 = 0.19;

/// Gives each newly declared button its place, box and look.
fn lay_out(
    mut commands: Commands<'_, '_>,
    seat: Option<Res<'_, Seat>>,
    new: Query<'_, '_, (Entity, &RoomButton), Without<HitBox>>,
    all: Query<'_, '_, &RoomButton>,
    mut meshes: ResMut<'_, Assets<Mesh>>,
    mut materials: ResMut<'_, Assets<StandardMaterial>>,
) {
    if new.is_empty() {
        return;
    }
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
    let mut orders: Vec<u8> = all.iter().map(|b| b.order).collect();
    orders.sort_unstable();
    for (entity, button) in &new {
        let place = orders.iter().position(|&o| o == button.order).unwrap_or(0);
        let at = edge + left * (FIRST_OFFSET + STEP * place as f32);
        commands.entity(entity).insert((
            HitBox::of_size(BUTTON),
            Mesh3d(meshes.add(Cuboid::from_size(BUTTON))),
            MeshMaterial3d(materials.add(StandardMaterial {
                base_color: button.colour,
                perceptual_roughness: 0.6,
                ..default()
            })),
            Transform::from_translation(at).with_rotation(facing),
        ));
    }
}

fn press(
    pointer: Res<'_, LocalPointer>,
    targets: Query<'_, '_, (&HitBox, &GlobalTransform)>,
    buttons: Query<'_, '_, (Entity, &HitBox, &GlobalTransform), With<RoomButton>>,
    mut was_active: Local<'_, bool>,
    mut pressed: MessageWriter<'_, Pressed>,
) {
    let went_on = pointer.active && !*was_active;
    *was_active = pointer.active;
    if !went_on || !pointer.direction.is_normalized() {
        return;
    }
    // Cast here rather than read last frame's hit: the press and its ray are the same frame's.
    let Some(at) = first_hit(pointer.origin, pointer.direction, targets) else {
        return;
    };
    for (entity, target, transform) in &buttons {
        if on_box(at, target, transform) {
            pressed.write(Pressed(entity));
        }
    }
}

fn label(
    mut gizmos: Gizmos<'_, '_, ButtonLabels>,
    buttons: Query<'_, '_, (&RoomButton, &GlobalTransform)>,
) {
    for (button, at) in &buttons {
        let (_, rotation, translation) = at.to_scale_rotation_translation();
        // On the face towards the seat (+z of a button that looks away from it).
        let front = translation + rotation * Vec3::Z * (BUTTON.z / 2.0 + 0.002);
        gizmos.text(
            Isometry3d::new(front, rotation),
            &button.label,
            0.035,
            Vec2::ZERO,
            Color::from(css::BLACK),
        );
    }
}
