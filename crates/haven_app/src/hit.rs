//! Ray casts against the room's solid boxes: what the shared pointer lands on and which in-room
//! button a controller's ray presses. Anything solid carries a [`HitBox`].

use bevy::prelude::*;

/// How far a ray reaches when it hits nothing, metres.
pub const REACH: f32 = 8.0;

/// A box in the room that rays hit (axis-aligned, centred on the entity's translation).
#[derive(Component, Clone, Copy, Debug)]
pub struct HitBox {
    /// Half its size along each axis, metres.
    pub half_extents: Vec3,
}

impl HitBox {
    /// A box of this size.
    pub fn of_size(size: Vec3) -> Self {
        Self {
            half_extents: size / 2.0,
        }
    }
}

/// Where a ray first enters an axis-aligned box, as a distance along the ray (slab method).
pub fn ray_box(origin: Vec3, direction: Vec3, centre: Vec3, half: Vec3) -> Option<f32> {
    let inv = direction.recip();
    let t1 = (centre - half - origin) * inv;
    let t2 = (centre + half - origin) * inv;
    let near = t1.min(t2).max_element();
    let far = t1.max(t2).min_element();
    (far >= near.max(0.0) && near.is_finite()).then_some(near.max(0.0))
}

/// `point` in the frame of a box placed at `at` (its rotation and place; its scale is not
/// the box's size, which the [`HitBox`] holds).
fn into_box(point: Vec3, at: &GlobalTransform) -> (Vec3, Quat) {
    let (_, rotation, translation) = at.to_scale_rotation_translation();
    let inverse = rotation.inverse();
    (inverse * (point - translation), inverse)
}

/// The nearest hit of a ray on the room's boxes (each turned as its transform turns it),
/// within [`REACH`].
pub fn first_hit<'a>(
    origin: Vec3,
    direction: Vec3,
    targets: impl IntoIterator<Item = (&'a HitBox, &'a GlobalTransform)>,
) -> Option<Vec3> {
    targets
        .into_iter()
        .filter_map(|(t, at)| {
            let (local, inverse) = into_box(origin, at);
            ray_box(local, inverse * direction, Vec3::ZERO, t.half_extents)
        })
        .filter(|&d| d <= REACH)
        .min_by(f32::total_cmp)
        .map(|d| origin + direction * d)
}

/// Whether a point lies on a box (within a millimetre).
pub fn on_box(point: Vec3, target: &HitBox, at: &GlobalTransform) -> bool {
    into_box(point, at)
        .0
        .abs()
        .cmple(target.half_extents + Vec3::splat(1e-3))
        .all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rays_hit_the_nearest_face() {
        let d = ray_box(
            Vec3::ZERO,
            Vec3::NEG_Z,
            Vec3::new(0.0, 0.0, -3.0),
            Vec3::splat(0.5),
        );
        assert!((d.expect("hits") - 2.5).abs() < 1e-5);
        assert_eq!(
            ray_box(
                Vec3::ZERO,
                Vec3::Z,
                Vec3::new(0.0, 0.0, -3.0),
                Vec3::splat(0.5)
            ),
            None,
            "behind the ray"
        );
        assert_eq!(
            ray_box(
                Vec3::ZERO,
                Vec3::X,
                Vec3::new(0.0, 0.0, -3.0),
                Vec3::splat(0.5)
            ),
            None,
            "beside the ray"
        );
        // From inside a box the hit is where the ray starts.
        assert_eq!(
            ray_box(Vec3::ZERO, Vec3::X, Vec3::ZERO, Vec3::splat(1.0)),
            Some(0.0)
        );
    }

    /// A turned box (a panel facing the seat at an angle) is hit where it is, not where its
    /// axis-aligned bounds would be.
    #[test]
    fn a_turned_box_is_hit_on_its_own_faces() {
        // 1 m wide, 1 cm thick, turned 60° about y, 1 m ahead.
        let board = HitBox::of_size(Vec3::new(1.0, 0.2, 0.01));
        let at = GlobalTransform::from(
            Transform::from_xyz(0.0, 0.0, -1.0).with_rotation(Quat::from_rotation_y(1.047)),
        );
        // Its right end swings towards the viewer: a ray 0.4 m to the side meets it nearer.
        let aim = |x: f32| {
            let dir = (Vec3::new(x, 0.0, -1.0 - x * 1.047_f32.tan())).normalize();
            first_hit(Vec3::ZERO, dir, [(&board, &at)])
        };
        let hit = aim(0.2).expect("hits the board");
        assert!(on_box(hit, &board, &at), "{hit}");
        // Straight ahead 5 cm off the centre line, past its thickness: the aligned slab would
        // have missed or hit elsewhere; the turned one is hit at its own face.
        let beside = Vec3::new(0.45, 0.0, -1.0);
        assert!(!on_box(beside, &board, &at), "off the turned board");
        let along = Vec3::new(0.4 * 1.047_f32.cos(), 0.0, -1.0 - 0.4 * 1.047_f32.sin());
        assert!(on_box(along, &board, &at), "on the turned board");
    }
}
