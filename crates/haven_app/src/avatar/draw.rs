//! How avatars are drawn: meshes and materials from their appearance (an anonymous look or a
//! chosen colour), the torso under the head, hands faded when untracked, name tags over named
//! avatars, and a soft ring over whoever is speaking.

use bevy::color::palettes::css;
use bevy::prelude::*;

use super::{Appearance, AvatarPart, RemoteAvatar, Visibility01};
use crate::text::ascii;
use crate::voice::VoiceActivity;

/// Draws avatars (with the renderer's assets; headless apps without them skip it).
#[derive(Debug, Default)]
pub struct AvatarDrawPlugin;

impl Plugin for AvatarDrawPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(
            Update,
            (dress_avatars, fade_hands, name_tags, speaking_rings)
                .after(super::AvatarSystems::Place),
        );
    }
}

/// Gives new avatar parts their meshes and materials, from their avatar's appearance.
fn dress_avatars(
    mut commands: Commands<'_, '_>,
    mut meshes: ResMut<'_, Assets<Mesh>>,
    mut materials: ResMut<'_, Assets<StandardMaterial>>,
    parts: Query<'_, '_, (Entity, &AvatarPart, &ChildOf), Without<Mesh3d>>,
    avatars: Query<'_, '_, &Appearance, With<RemoteAvatar>>,
) {
    for (entity, part, parent) in &parts {
        let Ok(appearance) = avatars.get(parent.parent()) else {
            continue;
        };
        // The root needs visibility for its drawn children to inherit.
        commands
            .entity(parent.parent())
            .insert_if_new(Visibility::default());
        let (colour, hand_colour, head_scale) = match appearance {
            Appearance::Anonymous(look) => (look.colour, look.hand_colour, look.head_scale),
            Appearance::Named { colour, .. } => (*colour, colour.map(|c| (c + 0.2).min(1.0)), HEAD),
        };
        let (mesh, colour, scale) = match part {
            AvatarPart::Head => (meshes.add(Sphere::new(0.5)), colour, head_scale),
            AvatarPart::LeftHand | AvatarPart::RightHand => (
                meshes.add(Sphere::new(0.5)),
                hand_colour,
                Vec3::new(0.08, 0.05, 0.11),
            ),
        };
        let [r, g, b] = colour;
        let mat = materials.add(StandardMaterial {
            base_color: Color::srgb(r, g, b),
            perceptual_roughness: 0.7,
            alpha_mode: AlphaMode::Blend,
            ..default()
        });
        commands
            .entity(entity)
            .insert((Mesh3d(mesh), MeshMaterial3d(mat)));
        // The body: a rounded column under the head, so the avatar reads as a seated person.
        if *part == AvatarPart::Head {
            commands
                .entity(entity)
                .with_child(body(&mut meshes, &mut materials, colour));
        }
        commands.entity(entity).insert(AvatarScale(scale));
    }
}

/// A named avatar's head size (x, y, z), metres.
const HEAD: Vec3 = Vec3::new(0.18, 0.22, 0.19);

/// The torso under a head, in the head's (scaled) frame: about 0.16 m radius, centred 0.46 m
/// below, a little darker than the head's colour.
fn body(
    meshes: &mut Assets<Mesh>,
    materials: &mut Assets<StandardMaterial>,
    [r, g, b]: [f32; 3],
) -> impl Bundle {
    let material = materials.add(StandardMaterial {
        base_color: Color::srgb(r * 0.85, g * 0.85, b * 0.85),
        perceptual_roughness: 0.8,
        ..default()
    });
    (
        Mesh3d(meshes.add(Capsule3d::new(0.9, 1.2))),
        MeshMaterial3d(material),
        Transform::from_xyz(0.0, -2.2, 0.0).with_scale(Vec3::new(1.0, 1.0, 0.75)),
        AvatarBody,
    )
}

/// The avatars' figure (a head and the torso under it) for the other people a room shows:
/// the therapy scenes' audience and passengers. Spawned under `parent` with the head at
/// `head` (in the parent's frame), in `colour` (the head in `skin`).
pub fn spawn_figure(
    parent: &mut ChildSpawnerCommands<'_>,
    meshes: &mut Assets<Mesh>,
    materials: &mut Assets<StandardMaterial>,
    head: Vec3,
    colour: [f32; 3],
    skin: [f32; 3],
) {
    let [r, g, b] = skin;
    let head_material = materials.add(StandardMaterial {
        base_color: Color::srgb(r, g, b),
        perceptual_roughness: 0.7,
        ..default()
    });
    let torso = body(meshes, materials, colour);
    parent
        .spawn((
            Mesh3d(meshes.add(Sphere::new(0.5))),
            MeshMaterial3d(head_material),
            Transform::from_translation(head).with_scale(HEAD),
        ))
        .with_child(torso);
}

/// The torso under a head.
#[derive(Component, Debug)]
pub struct AvatarBody;

/// A part's size, applied after its pose each frame.
#[derive(Component, Debug)]
pub struct AvatarScale(pub Vec3);

fn fade_hands(
    mut parts: Query<
        '_,
        '_,
        (
            &mut Transform,
            &AvatarScale,
            Option<&Visibility01>,
            &MeshMaterial3d<StandardMaterial>,
        ),
    >,
    mut materials: ResMut<'_, Assets<StandardMaterial>>,
) {
    for (mut transform, scale, visibility, mat) in &mut parts {
        transform.scale = scale.0;
        // Touch the material only when the fade changed: a mutable access re-uploads it.
        let stale = visibility
            .zip(materials.get(&mat.0))
            .is_some_and(|(v, m)| (m.base_color.alpha() - v.0).abs() > 1e-3);
        if let (true, Some(v), Some(mut m)) = (stale, visibility, materials.get_mut(&mat.0)) {
            m.base_color.set_alpha(v.0);
        }
    }
}

fn name_tags(
    mut gizmos: Gizmos<'_, '_>,
    avatars: Query<'_, '_, (&Appearance, &Children, Option<&Visibility>), With<RemoteAvatar>>,
    heads: Query<'_, '_, (&AvatarPart, &GlobalTransform)>,
) {
    for (appearance, children, visibility) in &avatars {
        // A hidden avatar (a therapist the patient keeps out of a scene) has no tag either.
        if visibility == Some(&Visibility::Hidden) {
            continue;
        }
        // Anonymous avatars carry no name tag at all.
        let Appearance::Named { name, .. } = appearance else {
            continue;
        };
        for &child in children {
            if let Ok((AvatarPart::Head, at)) = heads.get(child) {
                let above = at.translation() + Vec3::Y * 0.25;
                gizmos.text(
                    Isometry3d::new(above, Quat::from_rotation_y(std::f32::consts::PI)),
                    &ascii(name.expose()),
                    0.06,
                    Vec2::ZERO,
                    Color::from(css::WHITE),
                );
            }
        }
    }
}

/// A soft ring over the head of whoever is speaking.
fn speaking_rings(
    mut gizmos: Gizmos<'_, '_>,
    activity: Res<'_, VoiceActivity>,
    time: Res<'_, Time>,
    avatars: Query<'_, '_, (&RemoteAvatar, &Children, Option<&Visibility>)>,
    heads: Query<'_, '_, (&AvatarPart, &GlobalTransform)>,
) {
    let pulse = 0.5 + 0.5 * (time.elapsed_secs() * 6.0).sin();
    for (avatar, children, visibility) in &avatars {
        if !activity.is_speaking(avatar.peer) || visibility == Some(&Visibility::Hidden) {
            continue;
        }
        for &child in children {
            if let Ok((AvatarPart::Head, at)) = heads.get(child) {
                let above = at.translation() + Vec3::Y * 0.19;
                let ring =
                    Isometry3d::new(above, Quat::from_rotation_x(std::f32::consts::FRAC_PI_2));
                let colour = Color::srgba(0.35, 0.85, 0.55, 0.55 + 0.45 * pulse);
                gizmos.circle(ring, 0.09, colour);
                gizmos.circle(ring, 0.10 + 0.015 * pulse, colour);
            }
        }
    }
}
