//! The scenery: the consult room, built in code (a floor, four walls, a window with daylight,
//! a table and two chairs, soft lights, the wall display and the records board as anchors for
//! what is shared), and the [`Environment`] the patient is in. It places things at the
//! anchors of [`crate::layout`] and imports no feature: features draw their own things.

use bevy::prelude::*;

use crate::hit::HitBox;
use crate::layout::{
    Anchor, DISPLAY, DISPLAY_SIZE, PATIENT_SEAT, RECORDS_BOARD, RECORDS_BOARD_SIZE,
};

/// Where the patient is: the consult room, an exposure scene, or the safe room. The consult
/// room's geometry shows only in [`Environment::ConsultRoom`]. A resource, set by whoever
/// switches it; the room follows it in the frame it changes (a Bevy `States` would add a
/// transition schedule to every frame, which on two cores costs more than the room itself).
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Environment {
    /// The consult room.
    #[default]
    ConsultRoom,
    /// An exposure-therapy scene.
    Scene,
    /// The calm room the patient can go to at any moment.
    SafeRoom,
}

/// Part of the consult room's geometry (shown only in [`Environment::ConsultRoom`]).
#[derive(Component, Debug)]
#[require(Visibility)]
pub struct ConsultRoomPart;

/// The room and its environment.
#[derive(Debug, Default)]
pub struct RoomPlugin;

impl Plugin for RoomPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(GlobalAmbientLight {
            color: Color::srgb(1.0, 0.97, 0.92),
            brightness: 250.0,
            affects_lightmapped_meshes: true,
        })
        .insert_resource(ClearColor(Color::srgb(0.80, 0.86, 0.92)))
        .init_resource::<Environment>()
        .add_systems(Startup, build_room)
        .add_systems(Update, show_room.run_if(resource_changed::<Environment>));
    }
}

/// Shows the consult room's geometry in the consult room and hides it elsewhere.
fn show_room(
    environment: Res<'_, Environment>,
    mut parts: Query<'_, '_, &mut Visibility, With<ConsultRoomPart>>,
) {
    let shown = *environment == Environment::ConsultRoom;
    for mut visibility in &mut parts {
        visibility.set_if_neq(if shown {
            Visibility::Inherited
        } else {
            Visibility::Hidden
        });
    }
}

fn material(
    materials: &mut Assets<StandardMaterial>,
    colour: Color,
    roughness: f32,
) -> Handle<StandardMaterial> {
    materials.add(StandardMaterial {
        base_color: colour,
        perceptual_roughness: roughness,
        ..default()
    })
}

/// A solid box of the room: drawn, and hit by rays.
fn solid(size: Vec3) -> HitBox {
    HitBox::of_size(size)
}

fn build_room(
    mut commands: Commands<'_, '_>,
    mut meshes: ResMut<'_, Assets<Mesh>>,
    mut materials: ResMut<'_, Assets<StandardMaterial>>,
    group: Option<Res<'_, crate::layout::GroupInvite>>,
) {
    let floor = material(&mut materials, Color::srgb(0.62, 0.52, 0.42), 0.8);
    let wall = material(&mut materials, Color::srgb(0.90, 0.88, 0.83), 0.95);
    let wood = material(&mut materials, Color::srgb(0.55, 0.40, 0.28), 0.6);
    let fabric = material(&mut materials, Color::srgb(0.35, 0.48, 0.52), 0.9);
    let panel = material(&mut materials, Color::srgb(0.12, 0.14, 0.17), 0.4);
    let board = material(&mut materials, Color::srgb(0.96, 0.96, 0.94), 0.7);
    let glass = materials.add(StandardMaterial {
        base_color: Color::srgb(0.75, 0.88, 1.0),
        emissive: LinearRgba::rgb(2.0, 2.4, 3.0),
        ..default()
    });

    // Floor 6 × 6 m, walls 2.8 m high.
    commands.spawn((
        ConsultRoomPart,
        Mesh3d(meshes.add(Cuboid::new(6.0, 0.05, 6.0))),
        solid(Vec3::new(6.0, 0.05, 6.0)),
        MeshMaterial3d(floor),
        Transform::from_xyz(0.0, -0.025, 0.0),
    ));
    for (size, at) in [
        (Vec3::new(6.0, 2.8, 0.1), Vec3::new(0.0, 1.4, -3.0)),
        (Vec3::new(6.0, 2.8, 0.1), Vec3::new(0.0, 1.4, 3.0)),
        (Vec3::new(0.1, 2.8, 6.0), Vec3::new(-3.0, 1.4, 0.0)),
        (Vec3::new(0.1, 2.8, 6.0), Vec3::new(3.0, 1.4, 0.0)),
    ] {
        commands.spawn((
            ConsultRoomPart,
            Mesh3d(meshes.add(Cuboid::from_size(size))),
            solid(size),
            MeshMaterial3d(wall.clone()),
            Transform::from_translation(at),
        ));
    }
    // The ceiling: it lets the daylight through (it casts no shadow), as if lit by the window.
    commands.spawn((
        ConsultRoomPart,
        Mesh3d(meshes.add(Cuboid::new(6.0, 0.05, 6.0))),
        solid(Vec3::new(6.0, 0.05, 6.0)),
        MeshMaterial3d(wall.clone()),
        Transform::from_xyz(0.0, 2.825, 0.0),
        bevy::light::NotShadowCaster,
    ));
    // A window with daylight on the left wall.
    commands.spawn((
        ConsultRoomPart,
        Mesh3d(meshes.add(Cuboid::new(0.02, 1.3, 1.8))),
        MeshMaterial3d(glass),
        Transform::from_xyz(-2.94, 1.55, 0.0),
    ));
    commands.spawn((
        ConsultRoomPart,
        DirectionalLight {
            color: Color::srgb(1.0, 0.96, 0.88),
            illuminance: 6_000.0,
            shadow_maps_enabled: true,
            ..default()
        },
        Transform::from_xyz(-3.0, 3.0, 0.5).looking_at(Vec3::new(0.5, 0.0, 0.0), Vec3::Y),
    ));
    // Soft ceiling light.
    commands.spawn((
        ConsultRoomPart,
        PointLight {
            color: Color::srgb(1.0, 0.93, 0.85),
            intensity: 400_000.0,
            range: 12.0,
            shadow_maps_enabled: false,
            ..default()
        },
        Transform::from_xyz(0.0, 2.6, 0.0),
    ));
    // The table between the two chairs.
    commands.spawn((
        ConsultRoomPart,
        Mesh3d(meshes.add(Cuboid::new(1.4, 0.05, 0.9))),
        solid(Vec3::new(1.4, 0.05, 0.9)),
        MeshMaterial3d(wood.clone()),
        Transform::from_xyz(0.0, 0.74, 0.0),
    ));
    for (x, z) in [(-0.62, -0.38), (0.62, -0.38), (-0.62, 0.38), (0.62, 0.38)] {
        commands.spawn((
            ConsultRoomPart,
            Mesh3d(meshes.add(Cuboid::new(0.05, 0.72, 0.05))),
            MeshMaterial3d(wood.clone()),
            Transform::from_xyz(x, 0.36, z),
        ));
    }
    // Two chairs facing each other; in a group room of N, the ring's N - 1 (chairs 0..N-1 of
    // `layout::Seat::group_chair`) turned about the room's centre, and the head's.
    let patients: Vec<(f32, Quat)> = match group.as_deref() {
        Some(group) => (0..usize::from(group.size.saturating_sub(1)).max(1))
            .map(|i| {
                (
                    -crate::layout::GROUP_RING,
                    Quat::from_rotation_y(crate::layout::group_turn(i)),
                )
            })
            .collect(),
        None => vec![(PATIENT_SEAT.z, Quat::IDENTITY)],
    };
    let chairs = patients
        .into_iter()
        .map(|(z, turn)| (z, -0.22, turn))
        .chain([(-PATIENT_SEAT.z + 0.05, 0.22, Quat::IDENTITY)]);
    for (z, back, turn) in chairs {
        let around = Transform::from_rotation(turn);
        commands.spawn((
            ConsultRoomPart,
            Mesh3d(meshes.add(Cuboid::new(0.48, 0.08, 0.46))),
            MeshMaterial3d(fabric.clone()),
            around * Transform::from_xyz(0.0, 0.46, z),
        ));
        commands.spawn((
            ConsultRoomPart,
            Mesh3d(meshes.add(Cuboid::new(0.48, 0.55, 0.06))),
            MeshMaterial3d(fabric.clone()),
            around * Transform::from_xyz(0.0, 0.76, z + back),
        ));
        commands.spawn((
            ConsultRoomPart,
            Mesh3d(meshes.add(Cuboid::new(0.4, 0.42, 0.4))),
            MeshMaterial3d(wood.clone()),
            around * Transform::from_xyz(0.0, 0.21, z),
        ));
    }
    // The wall display (images) behind the patient, the board (records) on the right wall.
    commands.spawn((
        ConsultRoomPart,
        Anchor::Display,
        Mesh3d(meshes.add(Cuboid::from_size(DISPLAY_SIZE))),
        solid(DISPLAY_SIZE),
        MeshMaterial3d(panel),
        Transform::from_translation(DISPLAY),
    ));
    commands.spawn((
        ConsultRoomPart,
        Anchor::RecordsBoard,
        Mesh3d(meshes.add(Cuboid::from_size(RECORDS_BOARD_SIZE))),
        solid(RECORDS_BOARD_SIZE),
        MeshMaterial3d(board),
        Transform::from_translation(RECORDS_BOARD),
    ));
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn hidden(app: &mut App) -> (usize, usize) {
        let mut parts = app
            .world_mut()
            .query_filtered::<&Visibility, With<ConsultRoomPart>>();
        let all: Vec<Visibility> = parts.iter(app.world()).copied().collect();
        let hidden = all.iter().filter(|v| **v == Visibility::Hidden).count();
        (hidden, all.len())
    }

    #[test]
    fn the_consult_room_shows_only_in_the_consult_room() {
        let mut app = crate::stepper::headless_app(Duration::from_millis(10));
        app.add_plugins(RoomPlugin);
        app.update();
        let (none, parts) = hidden(&mut app);
        assert!(parts > 10, "the room was built: {parts} parts");
        assert_eq!(none, 0);
        *app.world_mut().resource_mut::<Environment>() = Environment::SafeRoom;
        app.update();
        assert_eq!(hidden(&mut app), (parts, parts), "all of it hidden");
        *app.world_mut().resource_mut::<Environment>() = Environment::ConsultRoom;
        app.update();
        assert_eq!(hidden(&mut app).0, 0, "back");
    }
}
