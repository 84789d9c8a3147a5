//! The shared laser pointer. The local one comes from the front end ([`LocalPointer`]); it is
//! cast against the room's surfaces, drawn, and sent to the peers (at most 30 times a second,
//! and once more when it turns off). Remote ones arrive as `Control::Pointer` and are drawn in
//! their owner's colour (from [`crate::avatar`]), so everyone sees who points at what.

use std::collections::HashMap;

use bevy::prelude::*;
use haven_proto::control::{Control, Pointer};
use haven_proto::signal::PeerId;

use crate::avatar::{Appearance, RemoteAvatar};
use crate::hit::{HitBox, REACH, first_hit};
use crate::rig::LocalPointer;
use crate::session::{ControlReceived, PeerLeft, SendControl};

/// The most pointer updates sent per second.
const SEND_HZ: f64 = 30.0;

/// Where each remote peer points now.
#[derive(Resource, Debug, Default)]
pub struct RemotePointers(pub HashMap<PeerId, Pointer>);

/// Where the local pointer hits, this frame.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq)]
pub struct LocalPointerHit(pub Option<Vec3>);

/// The shared pointer.
#[derive(Debug, Default)]
pub struct PointerPlugin;

impl Plugin for PointerPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<LocalPointerHit>()
            .init_resource::<RemotePointers>()
            .add_systems(
                Update,
                (
                    (cast_local, send_local).chain(),
                    receive_remote,
                    draw_pointers,
                )
                    .chain(),
            );
    }
}

fn cast_local(
    pointer: Res<'_, LocalPointer>,
    targets: Query<'_, '_, (&HitBox, &GlobalTransform)>,
    mut hit: ResMut<'_, LocalPointerHit>,
) {
    let new = if pointer.active && pointer.direction.is_normalized() {
        first_hit(pointer.origin, pointer.direction, targets)
    } else {
        None
    };
    hit.set_if_neq(LocalPointerHit(new));
}

fn send_local(
    pointer: Res<'_, LocalPointer>,
    hit: Res<'_, LocalPointerHit>,
    time: Res<'_, Time<Real>>,
    mut out: MessageWriter<'_, SendControl>,
    mut last_sent: Local<'_, Option<Pointer>>,
    mut last_at: Local<'_, f64>,
) {
    let now = time.elapsed_secs_f64();
    let current = (pointer.active && pointer.direction.is_normalized()).then(|| Pointer {
        origin: pointer.origin.to_array(),
        direction: pointer.direction.to_array(),
        hit: hit.0.map(|h| h.to_array()),
    });
    let moved = match (&*last_sent, &current) {
        (None, None) => false,
        (Some(a), Some(b)) => {
            Vec3::from(a.origin).distance(Vec3::from(b.origin)) > 0.001
                || Vec3::from(a.direction).angle_between(Vec3::from(b.direction)) > 0.002
        }
        _ => true,
    };
    // Turning off always goes out; moves are paced.
    if moved && (current.is_none() || now - *last_at >= 1.0 / SEND_HZ) {
        *last_at = now;
        *last_sent = current;
        out.write(SendControl(Control::Pointer(current)));
    }
}

fn receive_remote(
    mut controls: MessageReader<'_, '_, ControlReceived>,
    mut gone: MessageReader<'_, '_, PeerLeft>,
    mut pointers: ResMut<'_, RemotePointers>,
) {
    for (peer, pointer) in controls.read().filter_map(|m| match m.message {
        Control::Pointer(pointer) => Some((m.from, pointer)),
        _ => None,
    }) {
        match pointer {
            // Only finite rays inside reason are drawn: a peer's bytes are not trusted.
            Some(p)
                if Vec3::from(p.origin).is_finite()
                    && Vec3::from(p.origin).length() < 20.0
                    && Vec3::from(p.direction).is_normalized()
                    && p.hit.is_none_or(|h| Vec3::from(h).is_finite()) =>
            {
                pointers.0.insert(peer, p);
            }
            _ => {
                pointers.0.remove(&peer);
            }
        }
    }
    for PeerLeft(peer) in gone.read() {
        pointers.0.remove(peer);
    }
}

fn draw_pointers(
    mut gizmos: Gizmos<'_, '_>,
    pointer: Res<'_, LocalPointer>,
    hit: Res<'_, LocalPointerHit>,
    remote: Res<'_, RemotePointers>,
    avatars: Query<'_, '_, (&RemoteAvatar, &Appearance)>,
) {
    let mut beam = |origin: Vec3, direction: Vec3, hit: Option<Vec3>, colour: Color| {
        let end = hit.unwrap_or(origin + direction * REACH);
        gizmos.line(origin, end, colour);
        if let Some(h) = hit {
            gizmos.sphere(Isometry3d::from_translation(h), 0.025, colour);
            gizmos.sphere(Isometry3d::from_translation(h), 0.012, colour);
        }
    };
    if pointer.active {
        beam(
            pointer.origin,
            pointer.direction,
            hit.0,
            Color::srgb(0.1, 0.75, 0.7),
        );
    }
    for (peer, p) in &remote.0 {
        let colour = avatars
            .iter()
            .find(|(a, _)| a.peer == *peer)
            .map(|(_, look)| match look {
                Appearance::Named {
                    colour: [r, g, b], ..
                } => Color::srgb(*r, *g, *b),
                Appearance::Anonymous(l) => {
                    let [r, g, b] = l.colour;
                    Color::srgb(r, g, b)
                }
            })
            .unwrap_or(Color::srgb(0.95, 0.55, 0.2));
        beam(
            Vec3::from(p.origin),
            Vec3::from(p.direction),
            p.hit.map(Vec3::from),
            colour,
        );
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bevy::gizmos::{AppGizmoBuilder as _, GizmoAsset};
    use bevy::time::TimeUpdateStrategy;

    use super::*;
    use crate::avatar::AvatarPlugin;
    use crate::rig::RigPlugin;
    use crate::session::SessionPlugin;

    fn app() -> App {
        let mut app = App::new();
        app.add_plugins((
            TaskPoolPlugin::default(),
            bevy::time::TimePlugin,
            TransformPlugin,
            AssetPlugin::default(),
        ))
        .init_asset::<GizmoAsset>()
        .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(
            10,
        )));
        app.init_gizmo_group::<DefaultGizmoConfigGroup>();
        app.add_plugins((SessionPlugin, RigPlugin, AvatarPlugin, PointerPlugin));
        // A wall 3 m ahead.
        app.world_mut().spawn((
            HitBox {
                half_extents: Vec3::new(3.0, 1.5, 0.05),
            },
            Transform::from_xyz(0.0, 1.4, -3.0),
        ));
        app
    }

    fn sent(app: &mut App) -> Vec<Option<Pointer>> {
        app.world_mut()
            .resource_mut::<Messages<SendControl>>()
            .drain()
            .filter_map(|SendControl(c)| match c {
                Control::Pointer(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_local_pointer_hits_the_wall_is_paced_and_says_when_it_stops() {
        let mut app = app();
        app.update();
        assert!(sent(&mut app).is_empty(), "nothing while off");
        // On and sweeping for 1 s at 100 frames/s.
        let mut all = Vec::new();
        for i in 0..100 {
            let x = i as f32 * 0.01;
            *app.world_mut().resource_mut::<LocalPointer>() = LocalPointer {
                active: true,
                origin: Vec3::new(0.0, 1.2, 0.0),
                direction: Vec3::new(x, 0.0, -1.0).normalize(),
            };
            app.update();
            all.extend(sent(&mut app));
        }
        let hit = app
            .world()
            .resource::<LocalPointerHit>()
            .0
            .expect("hits the wall");
        assert!((hit.z + 2.95).abs() < 1e-3, "on the wall's face: {hit}");
        // Paced at 30/s: about 30 updates for a second of motion (frames are 10 ms).
        assert!((25..=40).contains(&all.len()), "{} updates", all.len());
        assert!(all.iter().all(|p| p.is_some_and(|p| p.hit.is_some())));
        // Off: one `None`, at once.
        app.world_mut().resource_mut::<LocalPointer>().active = false;
        app.update();
        assert_eq!(sent(&mut app), vec![None]);
        app.update();
        assert!(sent(&mut app).is_empty());
    }

    #[test]
    fn remote_pointers_are_kept_until_turned_off_and_bad_rays_are_ignored() {
        use haven_proto::signal::PeerId;
        let mut app = app();
        let ray = |direction: [f32; 3]| ControlReceived {
            from: PeerId(7),
            role: haven_proto::signal::Role::Patient,
            message: Control::Pointer(Some(Pointer {
                origin: [0.0, 1.0, 0.0],
                direction,
                hit: None,
            })),
        };
        app.world_mut().write_message(ray([0.0, 0.0, -1.0]));
        app.update();
        assert!(
            app.world()
                .resource::<RemotePointers>()
                .0
                .contains_key(&PeerId(7))
        );
        app.world_mut().write_message(ray([f32::NAN, 0.0, -1.0]));
        app.update();
        assert!(
            app.world().resource::<RemotePointers>().0.is_empty(),
            "a NaN ray is dropped"
        );
        app.world_mut().write_message(ray([0.0, 0.0, -1.0]));
        app.update();
        app.world_mut().write_message(PeerLeft(PeerId(7)));
        app.update();
        assert!(
            app.world().resource::<RemotePointers>().0.is_empty(),
            "gone with its peer"
        );
    }
}
