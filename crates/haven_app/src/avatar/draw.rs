//! How avatars are drawn: each remote avatar's [`Figure`] as a body of unit meshes placed by
//! [`figure::place`], in its appearance's colours (recoloured when a look arrives); name tags
//! over named avatars, and a soft ring over whoever is speaking. The therapy scenes' people
//! are the same figure, seated and still ([`spawn_figure`]).

use bevy::color::palettes::css;
use bevy::prelude::*;

use super::body::{Proportions, Torso};
use super::figure::{self, Bone, FaceState, Paint, Shape};
use super::interp::{AvatarPose, Pose};
use super::look::Palette;
use super::{Appearance, AvatarPart, Figure, RemoteAvatar};
use crate::text::ascii;
use crate::voice::VoiceActivity;

/// Draws avatars (with the renderer's assets; headless apps without them skip it).
#[derive(Debug, Default)]
pub struct AvatarDrawPlugin;

impl Plugin for AvatarDrawPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<FigureMeshes>().add_systems(
            Update,
            (
                (dress_figures, recolour, place_bones).chain(),
                name_tags,
                speaking_rings,
            )
                .after(super::AvatarSystems::Animate),
        );
    }
}

/// The unit meshes every figure is made of.
#[derive(Resource, Clone, Debug)]
pub struct FigureMeshes {
    ball: Handle<Mesh>,
    rod: Handle<Mesh>,
    block: Handle<Mesh>,
}

impl FigureMeshes {
    /// Adds the unit meshes to `meshes`.
    pub fn new(meshes: &mut Assets<Mesh>) -> Self {
        Self {
            ball: meshes.add(Sphere::new(1.0).mesh().uv(24, 16)),
            rod: meshes.add(Cylinder::new(1.0, 1.0).mesh().resolution(16)),
            block: meshes.add(Cuboid::from_size(Vec3::ONE)),
        }
    }

    fn of(&self, shape: Shape) -> Handle<Mesh> {
        match shape {
            Shape::Ball => self.ball.clone(),
            Shape::Rod => self.rod.clone(),
            Shape::Block => self.block.clone(),
        }
    }
}

impl FromWorld for FigureMeshes {
    fn from_world(world: &mut World) -> Self {
        Self::new(&mut world.resource_mut::<Assets<Mesh>>())
    }
}

/// A figure's materials, one per paint, so a new look recolours them in place.
#[derive(Component, Clone, Debug)]
pub struct FigureMaterials(Vec<(Paint, Handle<StandardMaterial>)>);

const PAINTS: [Paint; 8] = [
    Paint::Skin,
    Paint::Hair,
    Paint::Clothing,
    Paint::Lower,
    Paint::Shoes,
    Paint::EyeWhite,
    Paint::Pupil,
    Paint::Mouth,
];

fn colour_of(paint: Paint, palette: &Palette) -> (Color, f32) {
    let srgb = |[r, g, b]: [f32; 3]| Color::srgb(r, g, b);
    match paint {
        Paint::Skin => (srgb(palette.skin), 0.75),
        Paint::Hair => (srgb(palette.hair.unwrap_or(palette.skin)), 0.9),
        Paint::Clothing => (srgb(palette.clothing), 0.85),
        Paint::Lower => (srgb(palette.lower), 0.9),
        Paint::Shoes => (Color::srgb(0.16, 0.15, 0.15), 0.6),
        Paint::EyeWhite => (Color::srgb(0.95, 0.95, 0.93), 0.3),
        Paint::Pupil => (Color::srgb(0.08, 0.07, 0.07), 0.2),
        Paint::Mouth => (Color::srgb(0.30, 0.08, 0.08), 0.6),
    }
}

impl FigureMaterials {
    fn new(materials: &mut Assets<StandardMaterial>, palette: &Palette) -> Self {
        Self(
            PAINTS
                .iter()
                .map(|&paint| {
                    let (base_color, perceptual_roughness) = colour_of(paint, palette);
                    let handle = materials.add(StandardMaterial {
                        base_color,
                        perceptual_roughness,
                        ..default()
                    });
                    (paint, handle)
                })
                .collect(),
        )
    }

    fn of(&self, paint: Paint) -> Handle<StandardMaterial> {
        self.0
            .iter()
            .find(|(p, _)| *p == paint)
            .map(|(_, h)| h.clone())
            .unwrap_or_default()
    }
}

/// The parts of `bones` under `parent`, each placed by `at`.
fn spawn_bones(
    parent: &mut ChildSpawnerCommands<'_>,
    meshes: &FigureMeshes,
    materials: &FigureMaterials,
    bones: &[Bone],
    at: impl Fn(Bone) -> Transform,
) {
    for &bone in bones {
        let (shape, paint) = bone.look();
        parent.spawn((
            bone,
            Mesh3d(meshes.of(shape)),
            MeshMaterial3d(materials.of(paint)),
            at(bone),
        ));
    }
}

/// Remote avatars not drawn yet.
type Undressed = (With<Figure>, Without<FigureMaterials>);

/// Gives each new remote avatar its body.
fn dress_figures(
    mut commands: Commands<'_, '_>,
    meshes: Res<'_, FigureMeshes>,
    mut materials: ResMut<'_, Assets<StandardMaterial>>,
    avatars: Query<'_, '_, (Entity, &Appearance), Undressed>,
) {
    for (entity, appearance) in &avatars {
        let palette = appearance.palette();
        let paints = FigureMaterials::new(&mut materials, &palette);
        // Hair for everyone who could have it; a figure without shows none (scale zero).
        let bones = Bone::all(true);
        commands
            .entity(entity)
            // The root needs visibility for its drawn children to inherit.
            .insert_if_new(Visibility::default())
            .insert(paints.clone())
            .with_children(|parent| {
                spawn_bones(parent, &meshes, &paints, &bones, |_| {
                    Transform::from_scale(Vec3::ZERO)
                });
            });
    }
}

/// A look that changed (a named participant's choice arriving, or changed) recolours its
/// figure.
fn recolour(
    avatars: Query<'_, '_, (&Appearance, &FigureMaterials), Changed<Appearance>>,
    mut materials: ResMut<'_, Assets<StandardMaterial>>,
) {
    for (appearance, paints) in &avatars {
        let palette = appearance.palette();
        for (paint, handle) in &paints.0 {
            if let Some(mut m) = materials.get_mut(handle) {
                m.base_color = colour_of(*paint, &palette).0;
            }
        }
    }
}

/// Places each figure's parts for this frame.
fn place_bones(
    avatars: Query<'_, '_, (&Figure, &Appearance, &Children)>,
    mut bones: Query<'_, '_, (&Bone, &mut Transform)>,
) {
    for (figure, appearance, children) in &avatars {
        let Some(skeleton) = &figure.skeleton else {
            continue;
        };
        let proportions = appearance.proportions();
        let bald = appearance.palette().hair.is_none();
        for &child in children {
            let Ok((bone, mut transform)) = bones.get_mut(child) else {
                continue;
            };
            *transform = if *bone == Bone::Hair && bald {
                Transform::from_scale(Vec3::ZERO)
            } else {
                figure::place(*bone, skeleton, &figure.face, &proportions)
            };
        }
    }
}

/// A seated, still person for [`spawn_figure`].
#[derive(Clone, Copy, Debug)]
pub struct SeatedPerson {
    /// Where the head is, in the parent's frame.
    pub head: Vec3,
    /// Which way it faces (radians about +y; 0 faces the parent's −z).
    pub yaw: f32,
    /// The clothing's colour (sRGB 0-1).
    pub clothing: [f32; 3],
    /// The skin's.
    pub skin: [f32; 3],
    /// Its size, as a share of an adult's.
    pub scale: f32,
}

/// A person for the therapy scenes (a listener, a passenger): the avatars' figure, seated
/// under `parent`, hands in the lap.
pub fn spawn_figure(
    parent: &mut ChildSpawnerCommands<'_>,
    unit: &FigureMeshes,
    materials: &mut Assets<StandardMaterial>,
    person: SeatedPerson,
) {
    let SeatedPerson {
        head,
        yaw,
        clothing,
        skin,
        scale,
    } = person;
    let palette = Palette {
        skin,
        hair: Some(skin.map(|c| c * 0.3)),
        clothing,
        lower: clothing.map(|c| c * 0.45 + 0.08),
    };
    let paints = FigureMaterials::new(materials, &palette);
    let proportions = Proportions::ADULT.scaled(scale);
    let still = Pose {
        position: head,
        rotation: Quat::from_rotation_y(yaw),
    };
    let pose = AvatarPose {
        head: still,
        left: (still, 0.0),
        right: (still, 0.0),
    };
    let skeleton = Torso::default().update(&pose, 0.0, &proportions);
    let face = FaceState::default();
    spawn_bones(parent, unit, &paints, &Bone::all(true), |bone| {
        figure::place(bone, &skeleton, &face, &proportions)
    });
}

/// How a name tag at `at` is turned to read from `viewer` (the local head): about the
/// vertical only, its face towards the viewer. Without a viewer, or right above one, it faces
/// the patient's 1:1 chair.
fn facing_the_viewer(at: Vec3, viewer: Option<Vec3>) -> Quat {
    let towards = viewer.map_or(Vec3::ZERO, |v| (v - at).with_y(0.0));
    if towards.length_squared() < 1e-6 {
        return Quat::from_rotation_y(std::f32::consts::PI);
    }
    Quat::from_rotation_y(towards.x.atan2(towards.z))
}

fn name_tags(
    mut gizmos: Gizmos<'_, '_>,
    avatars: Query<'_, '_, (&Appearance, &Children, Option<&Visibility>), With<RemoteAvatar>>,
    heads: Query<'_, '_, (&AvatarPart, &GlobalTransform)>,
    viewer: Query<'_, '_, &GlobalTransform, With<crate::rig::LocalHead>>,
) {
    // Each tag reads from where the local participant is: from across the table, and from
    // every chair of a group room's ring.
    let viewer = viewer.iter().next().map(GlobalTransform::translation);
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
                    Isometry3d::new(above, facing_the_viewer(above, viewer)),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A name tag turns to face whoever looks at it: as before from the patient's 1:1 chair,
    /// and from the clinician's side, and from the side, its face towards the viewer.
    #[test]
    fn a_name_tag_faces_the_local_viewer() {
        let tag = Vec3::new(0.0, 1.6, 0.9);
        let from_patient = facing_the_viewer(tag, Some(Vec3::new(0.0, 1.2, -0.9)));
        assert!(from_patient.angle_between(Quat::from_rotation_y(std::f32::consts::PI)) < 1e-5);
        for viewer in [
            Vec3::new(0.0, 1.2, 2.0),
            Vec3::new(1.4, 1.2, 0.9),
            Vec3::new(-0.7, 1.2, -0.3),
        ] {
            let face = facing_the_viewer(tag, Some(viewer)) * Vec3::Z;
            let towards = (viewer - tag).with_y(0.0).normalize();
            assert!(face.dot(towards) > 0.9999, "{viewer}: faces {face}");
        }
        assert_eq!(
            facing_the_viewer(tag, None),
            Quat::from_rotation_y(std::f32::consts::PI)
        );
    }
}
