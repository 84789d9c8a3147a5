//! The consult room, built in code: a floor, four walls, a window with daylight, a table and
//! two chairs, soft lights, a wall display for shared images and a board for shared records
//! (both say "Nothing shared yet" until something is shared: see [`crate::share`]), and how avatars are
//! drawn. Dimensions in metres; the patient's chair faces the clinician's across the table
//! along z.

use bevy::color::palettes::css;
use bevy::prelude::*;

use crate::avatar::{Appearance, AvatarPart, RemoteAvatar, Visibility01};
use crate::pointer::PointerTarget;
use crate::share::PanelTexts;
use crate::voice::VoiceActivity;

/// Where the clinician's eyes are, seated (the flat front end's default view).
pub const CLINICIAN_EYES: Vec3 = Vec3::new(0.0, 1.2, 0.9);
/// Where the patient sits, across the table.
pub const PATIENT_SEAT: Vec3 = Vec3::new(0.0, 0.0, -0.9);
/// The centre of the records board (on the right wall, seen from the clinician's chair).
pub const RECORDS_BOARD: Vec3 = Vec3::new(2.93, 1.5, -0.6);

/// The room and the look of avatars.
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
        .init_resource::<PanelTexts>()
        .add_systems(Startup, build_room)
        .add_systems(
            Update,
            (
                dress_avatars,
                fade_hands,
                label_panels,
                name_tags,
                speaking_rings,
            ),
        );
    }
}

/// A panel on the wall that shows what is shared (empty for now).
#[derive(Component, Debug)]
pub struct SharePanel {
    /// What it is for.
    pub title: &'static str,
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

/// A solid box of the room: drawn, and hit by pointers.
fn solid(size: Vec3) -> PointerTarget {
    PointerTarget {
        half_extents: size / 2.0,
    }
}

fn build_room(
    mut commands: Commands<'_, '_>,
    mut meshes: ResMut<'_, Assets<Mesh>>,
    mut materials: ResMut<'_, Assets<StandardMaterial>>,
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
            Mesh3d(meshes.add(Cuboid::from_size(size))),
            solid(size),
            MeshMaterial3d(wall.clone()),
            Transform::from_translation(at),
        ));
    }
    // The ceiling: it lets the daylight through (it casts no shadow), as if lit by the window.
    commands.spawn((
        Mesh3d(meshes.add(Cuboid::new(6.0, 0.05, 6.0))),
        solid(Vec3::new(6.0, 0.05, 6.0)),
        MeshMaterial3d(wall.clone()),
        Transform::from_xyz(0.0, 2.825, 0.0),
        bevy::light::NotShadowCaster,
    ));
    // A window with daylight on the left wall.
    commands.spawn((
        Mesh3d(meshes.add(Cuboid::new(0.02, 1.3, 1.8))),
        MeshMaterial3d(glass),
        Transform::from_xyz(-2.94, 1.55, 0.0),
    ));
    commands.spawn((
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
        Mesh3d(meshes.add(Cuboid::new(1.4, 0.05, 0.9))),
        solid(Vec3::new(1.4, 0.05, 0.9)),
        MeshMaterial3d(wood.clone()),
        Transform::from_xyz(0.0, 0.74, 0.0),
    ));
    for (x, z) in [(-0.62, -0.38), (0.62, -0.38), (-0.62, 0.38), (0.62, 0.38)] {
        commands.spawn((
            Mesh3d(meshes.add(Cuboid::new(0.05, 0.72, 0.05))),
            MeshMaterial3d(wood.clone()),
            Transform::from_xyz(x, 0.36, z),
        ));
    }
    // Two chairs facing each other.
    for (z, back) in [(PATIENT_SEAT.z, -0.22), (-PATIENT_SEAT.z + 0.05, 0.22)] {
        commands.spawn((
            Mesh3d(meshes.add(Cuboid::new(0.48, 0.08, 0.46))),
            MeshMaterial3d(fabric.clone()),
            Transform::from_xyz(0.0, 0.46, z),
        ));
        commands.spawn((
            Mesh3d(meshes.add(Cuboid::new(0.48, 0.55, 0.06))),
            MeshMaterial3d(fabric.clone()),
            Transform::from_xyz(0.0, 0.76, z + back),
        ));
        commands.spawn((
            Mesh3d(meshes.add(Cuboid::new(0.4, 0.42, 0.4))),
            MeshMaterial3d(wood.clone()),
            Transform::from_xyz(0.0, 0.21, z),
        ));
    }
    // The wall display (images) behind the patient, the board (records) on the right wall.
    commands.spawn((
        SharePanel { title: "Images" },
        Mesh3d(meshes.add(Cuboid::new(1.6, 0.9, 0.03))),
        solid(Vec3::new(1.6, 0.9, 0.03)),
        MeshMaterial3d(panel),
        Transform::from_xyz(0.0, 1.75, -2.93),
    ));
    commands.spawn((
        SharePanel { title: "Records" },
        Mesh3d(meshes.add(Cuboid::new(0.03, 1.0, 1.4))),
        solid(Vec3::new(0.03, 1.0, 1.4)),
        MeshMaterial3d(board),
        Transform::from_translation(RECORDS_BOARD),
    ));
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
            Appearance::Named { colour, .. } => (
                *colour,
                colour.map(|c| (c + 0.2).min(1.0)),
                Vec3::new(0.18, 0.22, 0.19),
            ),
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
            let [r, g, b] = colour;
            let body = materials.add(StandardMaterial {
                base_color: Color::srgb(r * 0.85, g * 0.85, b * 0.85),
                perceptual_roughness: 0.8,
                ..default()
            });
            // In the head's (scaled) frame: about 0.16 m radius, centred 0.46 m below.
            commands.entity(entity).with_child((
                Mesh3d(meshes.add(Capsule3d::new(0.9, 1.2))),
                MeshMaterial3d(body),
                Transform::from_xyz(0.0, -2.2, 0.0).with_scale(Vec3::new(1.0, 1.0, 0.75)),
                AvatarBody,
            ));
        }
        commands.entity(entity).insert(AvatarScale(scale));
    }
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

fn label_panels(
    mut gizmos: Gizmos<'_, '_>,
    texts: Res<'_, PanelTexts>,
    panels: Query<'_, '_, (&SharePanel, &GlobalTransform)>,
    cameras: Query<'_, '_, (&Camera, &GlobalTransform)>,
) {
    // Stroke text is thousands of line segments a frame: a panel that no camera faces is not
    // written at all (the records board sits to the side of the seated view).
    let seen = |at: Vec3| {
        cameras.iter().any(|(camera, eye)| {
            camera.is_active
                && eye
                    .forward()
                    .as_vec3()
                    .dot((at - eye.translation()).normalize_or_zero())
                    > 0.55
        })
    };
    for (panel, at) in &panels {
        let (_, rotation, translation) = at.to_scale_rotation_translation();
        if !cameras.is_empty() && !seen(translation) {
            continue;
        }
        // Face into the room: the display faces +z, the board faces −x.
        let facing = if translation.x > 2.0 {
            Quat::from_rotation_y(-std::f32::consts::FRAC_PI_2)
        } else {
            Quat::IDENTITY
        };
        let front = translation + facing * Vec3::Z * 0.03;
        let on_board = panel.title == "Records";
        let colour = if on_board {
            Color::from(css::DIM_GRAY)
        } else {
            Color::from(css::WHITE_SMOKE)
        };
        let iso = |at: Vec3| Isometry3d::new(at, facing * rotation);
        if !on_board && let Some(progress) = texts.progress.as_ref().or(texts.notice.as_ref()) {
            gizmos.text(
                iso(front - Vec3::Y * 0.52),
                progress,
                0.045,
                Vec2::ZERO,
                Color::from(css::DIM_GRAY),
            );
        }
        match (on_board, &texts.display, &texts.board) {
            // The display's caption goes above the picture, on the wall.
            (false, Some(label), _) => {
                gizmos.text(
                    iso(front + Vec3::Y * 0.52),
                    &ascii(label.expose()),
                    0.06,
                    Vec2::ZERO,
                    Color::from(css::DIM_GRAY),
                );
            }
            // The records' summary fills the board, top down, left aligned.
            (true, _, Some(lines)) => {
                let line_h = 0.029;
                let shown = lines.expose().iter().take(32);
                for (i, line) in shown.enumerate() {
                    let y = 0.46 - i as f32 * line_h;
                    gizmos.text(
                        iso(front + Vec3::Y * y + facing * Vec3::X * -0.66),
                        &ascii(&clip(line, 80)),
                        0.019,
                        Vec2::new(-0.5, 0.0),
                        Color::srgb(0.12, 0.14, 0.18),
                    );
                }
            }
            _ => {
                gizmos.text(
                    iso(front + Vec3::Y * 0.25),
                    panel.title,
                    0.09,
                    Vec2::ZERO,
                    colour,
                );
                gizmos.text(iso(front), "Nothing shared yet", 0.07, Vec2::ZERO, colour);
            }
        }
    }
}

/// At most `max` characters, with "..." when cut.
fn clip(line: &str, max: usize) -> String {
    if line.chars().count() <= max {
        line.to_owned()
    } else {
        let mut cut: String = line.chars().take(max.saturating_sub(3)).collect();
        cut.push_str("...");
        cut
    }
}

/// Stroke-font gizmo text draws ASCII only: the common clinical symbols are spelled out, the
/// rest become `?`.
fn ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            ' '..='~' => out.push(c),
            'µ' | 'μ' => out.push('u'),
            '°' => out.push_str("deg"),
            '–' | '—' | '−' => out.push('-'),
            '’' | '‘' => out.push('\''),
            '“' | '”' => out.push('"'),
            '≥' => out.push_str(">="),
            '≤' => out.push_str("<="),
            '·' | '•' => out.push('*'),
            '\t' => out.push(' '),
            _ => out.push('?'),
        }
    }
    out
}

fn name_tags(
    mut gizmos: Gizmos<'_, '_>,
    avatars: Query<'_, '_, (&Appearance, &Children), With<RemoteAvatar>>,
    heads: Query<'_, '_, (&AvatarPart, &GlobalTransform)>,
) {
    for (appearance, children) in &avatars {
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
    avatars: Query<'_, '_, (&RemoteAvatar, &Children)>,
    heads: Query<'_, '_, (&AvatarPart, &GlobalTransform)>,
) {
    let pulse = 0.5 + 0.5 * (time.elapsed_secs() * 6.0).sin();
    for (avatar, children) in &avatars {
        if !activity.is_speaking(avatar.peer) {
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
