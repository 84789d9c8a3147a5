//! How the scenes look: procedural geometry around the patient's seat, built when the scene
//! shown changes and moved every frame from the player's parameters and the stimuli
//! (`haven_scenes::stimulus`), so the patient's view and a therapist's mirror draw the same.
//!
//! The scene's frame is the patient's: origin at the patient's seat, facing the way the
//! patient faces. Nothing here moves the camera: only the patient's head does (the aircraft's
//! outside moves in turbulence, never the cabin).

use bevy::prelude::*;
use haven_scenes::catalog::Param;
use haven_scenes::{SceneId, stimulus};

use super::Scenes;
use crate::layout::PATIENT_SEAT;

/// Draws the scenes (with the renderer's assets; headless apps without them skip it).
#[derive(Debug, Default)]
pub struct SceneDrawPlugin;

impl Plugin for SceneDrawPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(
            Update,
            (rebuild, animate, cue, audience_voice)
                .chain()
                .after(super::SceneSystems),
        );
    }
}

/// The root of the scene being shown.
#[derive(Component, Debug)]
struct SceneRoot(SceneId);

/// A part that moves with the parameters or the stimuli.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
enum Moving {
    /// The ground far below (heights).
    Ground,
    /// The railing, at the edge (heights), by its kind.
    Railing(u8),
    /// The floor under the chair (heights), by its kind.
    Floor(u8),
    /// The jar (spiders), closed or open.
    Jar(bool),
    /// A spider.
    Spider(usize),
    /// A person in the audience.
    Listener(usize),
    /// A passenger.
    Passenger(usize),
    /// The world outside the aircraft.
    Outside,
}

/// The scene's frame in the room: at the patient's seat, facing the way the patient faces
/// (towards the clinician's side, +z in the room).
fn frame() -> Transform {
    Transform::from_translation(PATIENT_SEAT)
        .with_rotation(Quat::from_rotation_y(std::f32::consts::PI))
}

struct Kit<'a> {
    meshes: &'a mut Assets<Mesh>,
    materials: &'a mut Assets<StandardMaterial>,
    /// The people's unit meshes, made once for the whole scene.
    people: Option<crate::avatar::FigureMeshes>,
}

impl Kit<'_> {
    fn colour(&mut self, colour: Color) -> Handle<StandardMaterial> {
        self.materials.add(StandardMaterial {
            base_color: colour,
            perceptual_roughness: 0.8,
            alpha_mode: if colour.alpha() < 1.0 {
                AlphaMode::Blend
            } else {
                AlphaMode::Opaque
            },
            ..default()
        })
    }

    fn cuboid(&mut self, size: Vec3, colour: Color) -> (Mesh3d, MeshMaterial3d<StandardMaterial>) {
        (
            Mesh3d(self.meshes.add(Cuboid::from_size(size))),
            MeshMaterial3d(self.colour(colour)),
        )
    }

    fn sphere(&mut self, radius: f32, colour: Color) -> (Mesh3d, MeshMaterial3d<StandardMaterial>) {
        (
            Mesh3d(self.meshes.add(Sphere::new(radius))),
            MeshMaterial3d(self.colour(colour)),
        )
    }

    /// A person (a listener, a passenger): the avatars' figure, seated at `at`, facing `yaw`
    /// (0 faces −z), its build and skin varied by `n`.
    fn person(
        &mut self,
        parent: &mut ChildSpawnerCommands<'_>,
        at: Vec3,
        yaw: f32,
        clothes: Color,
        tag: Moving,
        n: usize,
    ) {
        const SKINS: [[f32; 3]; 5] = [
            [0.93, 0.80, 0.70],
            [0.80, 0.62, 0.48],
            [0.62, 0.45, 0.33],
            [0.45, 0.31, 0.22],
            [0.88, 0.72, 0.60],
        ];
        let clothes = clothes.to_srgba();
        let clothes = [clothes.red, clothes.green, clothes.blue];
        let scale = 0.92 + 0.035 * (n % 5) as f32;
        parent
            .spawn((tag, Transform::from_translation(at), Visibility::default()))
            .with_children(|p| {
                let unit = self
                    .people
                    .get_or_insert_with(|| crate::avatar::FigureMeshes::new(self.meshes));
                crate::avatar::spawn_figure(
                    p,
                    unit,
                    self.materials,
                    crate::avatar::SeatedPerson {
                        head: Vec3::new(0.0, 1.17, 0.0),
                        yaw,
                        clothing: clothes,
                        skin: SKINS[(n * 3 + 1) % SKINS.len()],
                        scale,
                    },
                );
            });
    }
}

/// Builds the scene shown when it changes (and removes the one before).
fn rebuild(
    mut commands: Commands<'_, '_>,
    scenes: Res<'_, Scenes>,
    roots: Query<'_, '_, (Entity, &SceneRoot)>,
    mut meshes: Option<ResMut<'_, Assets<Mesh>>>,
    mut materials: Option<ResMut<'_, Assets<StandardMaterial>>>,
) {
    let showing = scenes.drawn;
    if roots.iter().map(|(_, r)| r.0).next() == showing {
        return;
    }
    for (entity, _) in &roots {
        commands.entity(entity).despawn();
    }
    let (Some(scene), Some(meshes), Some(materials)) =
        (showing, meshes.as_deref_mut(), materials.as_deref_mut())
    else {
        return;
    };
    let mut kit = Kit {
        meshes,
        materials,
        people: None,
    };
    let mut root = commands.spawn((SceneRoot(scene), frame(), Visibility::default()));
    root.with_children(|p| {
        // Every scene has its own light (the consult room's go with the room).
        p.spawn((
            DirectionalLight {
                illuminance: if scene == SceneId::SafeRoom {
                    4_000.0
                } else {
                    9_000.0
                },
                shadow_maps_enabled: false,
                ..default()
            },
            // From ahead of the patient and above: what they face is lit.
            Transform::from_xyz(2.0, 6.0, -4.0).looking_at(Vec3::ZERO, Vec3::Y),
        ));
    });
    root.with_children(|p| match scene {
        SceneId::SafeRoom => {
            // Soft, warm, enclosed: a floor, low walls far off, a few cushions of colour.
            p.spawn((
                kit.cuboid(Vec3::new(10.0, 0.02, 10.0), Color::srgb(0.62, 0.74, 0.62)),
                Transform::from_xyz(0.0, -0.01, 0.0),
            ));
            for (x, z, w, d) in [
                (0.0, -5.0, 10.0, 0.2),
                (0.0, 5.0, 10.0, 0.2),
                (-5.0, 0.0, 0.2, 10.0),
                (5.0, 0.0, 0.2, 10.0),
            ] {
                p.spawn((
                    kit.cuboid(Vec3::new(w, 3.0, d), Color::srgb(0.80, 0.86, 0.92)),
                    Transform::from_xyz(x, 1.5, z),
                ));
            }
            for (i, c) in [
                Color::srgb(0.85, 0.72, 0.55),
                Color::srgb(0.60, 0.72, 0.85),
                Color::srgb(0.78, 0.66, 0.80),
            ]
            .into_iter()
            .enumerate()
            {
                p.spawn((
                    kit.sphere(0.35, c),
                    Transform::from_xyz(-1.2 + 1.2 * i as f32, 0.3, -2.2),
                ));
            }
        }
        SceneId::Heights => {
            // The chair's platform, its floor and railing, the tower behind, the ground below.
            for kind in 0..3u8 {
                let colour = [
                    Color::srgb(0.55, 0.55, 0.52),
                    Color::srgb(0.25, 0.27, 0.30),
                    Color::srgba(0.70, 0.85, 0.95, 0.25),
                ][usize::from(kind)];
                p.spawn((
                    Moving::Floor(kind),
                    kit.cuboid(Vec3::new(3.0, 0.05, 3.0), colour),
                    Transform::from_xyz(0.0, -0.03, -1.0),
                    Visibility::Hidden,
                ));
            }
            for kind in 0..3u8 {
                let (height, colour) = [
                    (1.1, Color::srgb(0.35, 0.35, 0.38)),
                    (0.5, Color::srgb(0.35, 0.35, 0.38)),
                    (1.1, Color::srgba(0.75, 0.9, 1.0, 0.2)),
                ][usize::from(kind)];
                p.spawn((
                    Moving::Railing(kind),
                    kit.cuboid(Vec3::new(3.0, height, 0.05), colour),
                    Transform::from_xyz(0.0, height / 2.0, -2.5),
                    Visibility::Hidden,
                ));
            }
            // The tower's face, behind whoever sits across from the patient.
            p.spawn((
                kit.cuboid(Vec3::new(8.0, 200.0, 0.5), Color::srgb(0.78, 0.76, 0.72)),
                Transform::from_xyz(0.0, -97.5, 3.2),
            ));
            p.spawn((
                Moving::Ground,
                kit.cuboid(Vec3::new(600.0, 0.1, 600.0), Color::srgb(0.36, 0.52, 0.30)),
                Transform::from_xyz(0.0, -0.5, 0.0),
            ));
            for i in 0..12 {
                let (x, z) = (
                    (i as f32 * 37.0).sin() * 120.0,
                    -40.0 - (i as f32 * 53.0).cos().abs() * 150.0,
                );
                p.spawn((
                    Moving::Ground,
                    kit.cuboid(
                        Vec3::new(14.0, 30.0 + 5.0 * i as f32, 14.0),
                        Color::srgb(0.6, 0.6, 0.65),
                    ),
                    Transform::from_xyz(x, 0.0, z),
                ));
            }
        }
        SceneId::Spiders => {
            p.spawn((
                kit.cuboid(Vec3::new(1.2, 0.05, 3.2), Color::srgb(0.55, 0.40, 0.28)),
                Transform::from_xyz(0.0, 0.72, -1.8),
            ));
            p.spawn((
                kit.cuboid(Vec3::new(8.0, 0.02, 8.0), Color::srgb(0.70, 0.68, 0.62)),
                Transform::from_xyz(0.0, -0.01, -1.0),
            ));
            p.spawn((
                Moving::Jar(true),
                kit.sphere(0.12, Color::srgba(0.8, 0.9, 1.0, 0.25)),
                Transform::from_xyz(0.0, 0.82, -3.0),
            ));
            for i in 0..8 {
                p.spawn((
                    Moving::Spider(i),
                    kit.sphere(0.5, Color::srgb(0.08, 0.06, 0.05)),
                    Transform::from_xyz(0.0, 0.76, -3.0),
                    Visibility::Hidden,
                ));
            }
        }
        SceneId::Flying => {
            let wall = Color::srgb(0.85, 0.84, 0.80);
            p.spawn((
                kit.cuboid(Vec3::new(3.6, 0.05, 12.0), Color::srgb(0.30, 0.32, 0.40)),
                Transform::from_xyz(0.4, -0.02, -3.0),
            ));
            p.spawn((
                kit.cuboid(Vec3::new(3.6, 0.05, 12.0), wall),
                Transform::from_xyz(0.4, 2.1, -3.0),
            ));
            p.spawn((
                kit.cuboid(Vec3::new(0.05, 2.1, 12.0), wall),
                Transform::from_xyz(2.2, 1.05, -3.0),
            ));
            // The window side, with a window at the patient's shoulder: the outside beyond it.
            p.spawn((
                kit.cuboid(Vec3::new(0.05, 0.7, 12.0), wall),
                Transform::from_xyz(-0.6, 0.35, -3.0),
            ));
            p.spawn((
                kit.cuboid(Vec3::new(0.05, 0.9, 12.0), wall),
                Transform::from_xyz(-0.6, 1.65, -3.0),
            ));
            p.spawn((Moving::Outside, Transform::default(), Visibility::default()))
                .with_children(|o| {
                    o.spawn((
                        kit.cuboid(Vec3::new(0.1, 60.0, 200.0), Color::srgb(0.55, 0.72, 0.92)),
                        Transform::from_xyz(-40.0, 0.0, 0.0),
                    ));
                    for i in 0..10 {
                        o.spawn((
                            kit.sphere(3.0, Color::srgb(0.95, 0.95, 0.97)),
                            Transform::from_xyz(
                                -15.0 - (i % 3) as f32 * 6.0,
                                -4.0 + (i as f32 * 1.7).sin() * 3.0,
                                -40.0 + i as f32 * 9.0,
                            ),
                        ));
                    }
                });
            for row in 0..6 {
                for seat in 0..3 {
                    let at = Vec3::new(
                        -0.2 + seat as f32 * 0.55 + if seat == 2 { 0.6 } else { 0.0 },
                        0.0,
                        -1.0 - row as f32 * 0.85,
                    );
                    p.spawn((
                        kit.cuboid(Vec3::new(0.48, 1.1, 0.12), Color::srgb(0.22, 0.30, 0.52)),
                        Transform::from_translation(at + Vec3::new(0.0, 0.55, 0.3)),
                    ));
                    kit.person(
                        p,
                        at,
                        0.0,
                        Color::srgb(0.45 + 0.08 * seat as f32, 0.40, 0.38),
                        Moving::Passenger(row * 3 + seat),
                        row * 3 + seat,
                    );
                }
            }
        }
        SceneId::Speaking => {
            p.spawn((
                kit.cuboid(Vec3::new(10.0, 0.02, 12.0), Color::srgb(0.45, 0.30, 0.25)),
                Transform::from_xyz(0.0, -0.01, -5.0),
            ));
            p.spawn((
                kit.cuboid(Vec3::new(0.7, 1.1, 0.4), Color::srgb(0.35, 0.22, 0.14)),
                Transform::from_xyz(0.0, 0.55, -0.7),
            ));
            for i in 0..48 {
                // Facing the speaker (+z), the way the scene turns them.
                kit.person(
                    p,
                    Vec3::new(0.0, 0.0, -3.0),
                    std::f32::consts::PI,
                    Color::srgb(
                        0.30 + 0.05 * (i % 4) as f32,
                        0.36,
                        0.46 + 0.04 * (i % 3) as f32,
                    ),
                    Moving::Listener(i),
                    i,
                );
            }
        }
    });
}

/// Moves what moves: the ground with the height, the railing and floor by kind, the spiders,
/// the audience, the passengers, the sky outside the aircraft.
fn animate(
    time: Res<'_, Time<Real>>,
    scenes: Res<'_, Scenes>,
    roots: Query<'_, '_, &SceneRoot>,
    mut parts: Query<'_, '_, (&Moving, &mut Transform, &mut Visibility)>,
) {
    let Some(root) = roots.iter().next() else {
        return;
    };
    // The scene on its way out (until the fade is at black) stays as it was.
    if scenes.player.showing() != Some(root.0) {
        return;
    }
    let now = scenes.player_time(super::now_ms(&time));
    let values = scenes.player.values(now);
    let value = |p: Param| {
        values
            .iter()
            .find(|(q, _)| *q == p)
            .map_or(0.0, |(_, v)| *v)
    };
    let state = scenes.player.state();
    let scene_time = now.saturating_sub(state.started);
    let seed = state.seed;
    let (spiders, listeners) = match root.0 {
        SceneId::Spiders => (
            stimulus::spiders(
                seed,
                &values,
                &scenes.player.entered(Param::SpiderCount, 8),
                scene_time,
            ),
            Vec::new(),
        ),
        SceneId::Speaking => (
            Vec::new(),
            stimulus::audience(
                seed,
                &values,
                &scenes.player.entered(Param::AudienceSize, 48),
                scene_time,
            ),
        ),
        _ => (Vec::new(), Vec::new()),
    };
    let shown = |on: bool| {
        if on {
            Visibility::Inherited
        } else {
            Visibility::Hidden
        }
    };
    for (part, mut at, mut visibility) in &mut parts {
        match *part {
            Moving::Ground => at.translation.y = -value(Param::HeightM),
            Moving::Floor(kind) => {
                visibility.set_if_neq(shown(value(Param::Floor).round() as u8 == kind));
            }
            Moving::Railing(kind) => {
                visibility.set_if_neq(shown(value(Param::Railing).round() as u8 == kind));
            }
            Moving::Jar(_) => {
                let nearness = value(Param::Nearness);
                at.translation.z = -(3.0 - 2.6 * nearness);
                visibility.set_if_neq(shown(value(Param::Jar) < 1.5));
            }
            Moving::Spider(i) => match spiders.get(i) {
                Some(s) => {
                    visibility.set_if_neq(Visibility::Inherited);
                    at.translation = Vec3::from_array(s.position);
                    at.rotation = Quat::from_rotation_y(s.heading);
                    at.scale = Vec3::new(s.size_m, s.size_m * 0.4, s.size_m * 0.8);
                }
                None => {
                    visibility.set_if_neq(Visibility::Hidden);
                }
            },
            Moving::Listener(i) => match listeners.get(i) {
                Some(l) => {
                    visibility.set_if_neq(Visibility::Inherited);
                    at.translation = Vec3::from_array(l.seat);
                    // Facing the speaker, or turned away.
                    at.rotation = Quat::from_rotation_y(l.look_away);
                }
                None => {
                    visibility.set_if_neq(Visibility::Hidden);
                }
            },
            Moving::Passenger(i) => {
                let filled = (value(Param::Fullness) * 18.0).round() as usize;
                // Seats fill from the back: the ones nearest the patient last.
                visibility.set_if_neq(shown(17 - i.min(17) < filled));
            }
            Moving::Outside => {
                let strength = state
                    .events
                    .iter()
                    .map(|e| match e.event {
                        haven_scenes::Event::TurbulenceStrong => 1.0,
                        haven_scenes::Event::TurbulenceLight => 0.4,
                        _ => 0.0,
                    })
                    .fold(0.1 * value(Param::Weather), f32::max);
                let (offset, roll) = stimulus::turbulence(seed, strength, scene_time);
                at.translation = Vec3::from_array(offset);
                at.rotation = Quat::from_rotation_z(roll);
            }
        }
    }
}

/// The cue of an announced event, where the patient looks: ahead of the seat, at eye height,
/// in both front ends, until the event happens.
fn cue(mut gizmos: Gizmos<'_, '_>, time: Res<'_, Time<Real>>, scenes: Res<'_, Scenes>) {
    let Some((event, until)) = scenes.cue else {
        return;
    };
    let now = super::now_ms(&time);
    let seconds = until.saturating_sub(now).div_ceil(1000);
    let at = frame().transform_point(Vec3::new(0.0, 1.45, -1.4));
    gizmos.text(
        Isometry3d::new(at, frame().rotation),
        &format!("In {seconds} s: {}", event.name()),
        0.05,
        Vec2::ZERO,
        Color::srgb(1.0, 0.95, 0.70),
    );
}

/// With the patient's choice "a voice in the audience", while the therapist speaks a ring
/// shows over the front-row listener nearest the lectern: the voice has a face in the hall.
fn audience_voice(
    mut gizmos: Gizmos<'_, '_>,
    time: Res<'_, Time<Real>>,
    scenes: Res<'_, Scenes>,
    figures: Res<'_, crate::session::SessionFigures>,
    activity: Option<Res<'_, crate::voice::VoiceActivity>>,
    listeners: Query<'_, '_, (&Moving, &GlobalTransform, &InheritedVisibility)>,
) {
    if scenes.presence != super::TherapistPresence::InAudience
        || scenes.drawn != Some(SceneId::Speaking)
    {
        return;
    }
    let speaking = figures.people.iter().any(|p| {
        p.role == haven_proto::signal::Role::Therapist
            && activity.as_ref().is_some_and(|a| a.is_speaking(p.id))
    });
    if !speaking {
        return;
    }
    let Some(head) = listeners
        .iter()
        .filter(|(m, _, v)| matches!(m, Moving::Listener(_)) && v.get())
        .map(|(_, at, _)| at.translation())
        .min_by(|a, b| {
            a.distance_squared(PATIENT_SEAT)
                .total_cmp(&b.distance_squared(PATIENT_SEAT))
        })
    else {
        return;
    };
    let pulse = 0.5 + 0.5 * (time.elapsed_secs() * 6.0).sin();
    let ring = Isometry3d::new(
        head + Vec3::Y * 1.38,
        Quat::from_rotation_x(std::f32::consts::FRAC_PI_2),
    );
    let colour = Color::srgba(0.35, 0.85, 0.55, 0.55 + 0.45 * pulse);
    gizmos.circle(ring, 0.09, colour);
    gizmos.circle(ring, 0.10 + 0.015 * pulse, colour);
}
