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

/// Gives each newly declared button its box and look, and lays out the whole row again
/// whenever a button comes or goes (so one that comes later never stands on another).
fn lay_out(
    mut commands: Commands<'_, '_>,
    seat: Option<Res<'_, Seat>>,
    new: Query<'_, '_, (Entity, &RoomButton), Without<HitBox>>,
    mut all: Query<'_, '_, (Entity, &RoomButton, &mut Transform)>,
    mut gone: RemovedComponents<'_, '_, RoomButton>,
    mut meshes: ResMut<'_, Assets<Mesh>>,
    mut materials: ResMut<'_, Assets<StandardMaterial>>,
) {
    let removed = gone.read().count() > 0;
    if new.is_empty() && !removed {
        return;
    }
    for (entity, button) in &new {
        commands.entity(entity).insert((
            HitBox::of_size(BUTTON),
            Mesh3d(meshes.add(Cuboid::from_size(BUTTON))),
            MeshMaterial3d(materials.add(StandardMaterial {
                base_color: button.colour,
                perceptual_roughness: 0.6,
                ..default()
            })),
        ));
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
    // In order, ties by entity: each button its own place.
    let mut row: Vec<(u8, Entity)> = all.iter().map(|(e, b, _)| (b.order, e)).collect();
    row.sort_unstable();
    for (place, (_, entity)) in row.iter().enumerate() {
        if let Ok((_, _, mut at)) = all.get_mut(*entity) {
            let next =
                Transform::from_translation(edge + left * (FIRST_OFFSET + STEP * place as f32))
                    .with_rotation(facing);
            if *at != next {
                *at = next;
            }
        }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn place(app: &mut App, label: &str) -> Vec3 {
        let world = app.world_mut();
        world
            .query::<(&RoomButton, &Transform)>()
            .iter(world)
            .find(|(b, _)| b.label == label)
            .map(|(_, t)| t.translation)
            .expect("the button is there")
    }

    /// A button that comes later (the patient's "Safe room" during a scene) takes its place in
    /// the row, the others move up, none stands on another; and when it goes they close up.
    #[test]
    fn a_button_that_comes_later_never_stands_on_another() {
        let mut app = crate::stepper::headless_app(Duration::from_millis(10));
        app.add_plugins(WorldPanelPlugin)
            .init_resource::<LocalPointer>()
            .add_message::<Pressed>();
        for (label, order) in [("Mute", 0), ("Leave", 255)] {
            app.world_mut().spawn(RoomButton {
                label: label.to_owned(),
                colour: Color::WHITE,
                order,
            });
        }
        app.update();
        let leave_before = place(&mut app, "Leave");
        let later = app
            .world_mut()
            .spawn(RoomButton {
                label: "Safe room".to_owned(),
                colour: Color::WHITE,
                order: 5,
            })
            .id();
        app.update();
        let (mute, safe, leave) = (
            place(&mut app, "Mute"),
            place(&mut app, "Safe room"),
            place(&mut app, "Leave"),
        );
        assert!(mute.distance(safe) >= STEP * 0.99, "{mute} {safe}");
        assert!(safe.distance(leave) >= STEP * 0.99, "{safe} {leave}");
        assert_eq!(safe, leave_before, "it takes the place after Mute");
        app.world_mut().entity_mut(later).despawn();
        app.update();
        assert_eq!(place(&mut app, "Leave"), leave_before, "Leave closes up");
    }
}
