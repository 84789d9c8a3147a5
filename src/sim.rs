//! A scripted participant: head and hand motion that looks like a person seated in the
//! patient's chair, facing the clinician across the table (+z), in conversation (slow sway,
//! nods, gestures), for headless joins, the demo and benches. [`across_the_table`] seats the
//! same motion in the clinician's chair.

use haven_proto::pose::{Placement, PoseUpdate};

fn quat_yaw_pitch(yaw: f32, pitch: f32) -> [f32; 4] {
    let (sy, cy) = (yaw * 0.5).sin_cos();
    let (sp, cp) = (pitch * 0.5).sin_cos();
    // yaw about y, then pitch about x
    [cy * sp, sy * cp, -sy * sp, cy * cp]
}

/// The scripted pose at `t` seconds, with sequence number `seq`.
pub(crate) fn seated_pose(t: f32, seq: u16, sent_at_ms: u16) -> PoseUpdate {
    let head = [
        0.03 * (t * 0.7).sin(),
        1.2 + 0.01 * (t * 1.3).sin(),
        -0.95 + 0.02 * (t * 0.5).sin(),
    ];
    let gesture = (t * 1.1).sin().max(0.0);
    // Facing +z: yaw half a turn.
    let facing = std::f32::consts::PI;
    PoseUpdate {
        seq,
        sent_at_ms,
        head: Placement {
            position: head,
            orientation: quat_yaw_pitch(facing + 0.25 * (t * 0.4).sin(), 0.08 * (t * 2.1).sin()),
        },
        // Hands rest near the table's edge; the right one gestures now and then.
        left_hand: Some(Placement {
            position: [
                head[0] + 0.22,
                0.80 + 0.02 * (t * 0.9).sin(),
                head[2] + 0.42,
            ],
            orientation: quat_yaw_pitch(facing - 0.3, -0.6),
        }),
        right_hand: Some(Placement {
            position: [
                head[0] - 0.22 - 0.1 * gesture,
                0.80 + 0.25 * gesture,
                head[2] + 0.42 + 0.05 * gesture,
            ],
            orientation: quat_yaw_pitch(facing + 0.3 - 0.5 * gesture, -0.6 + 0.8 * gesture),
        }),
    }
}

/// Held still in the patient's chair, the head exactly where a patient's window starts its
/// view (so a render from this pose compares with that window's), tipped `look_down_deg`
/// further down, the hands at rest.
pub(crate) fn held_in_seat(look_down_deg: f32, seq: u16, sent_at_ms: u16) -> PoseUpdate {
    use haven_app::layout::Seat;
    let mut view =
        haven_app::flat::FlatView::seated(Seat::for_role(haven_proto::signal::Role::Patient));
    view.pitch -= look_down_deg.to_radians();
    let view = view.transform();
    let mut pose = seated_pose(0.0, seq, sent_at_ms);
    pose.head = Placement {
        position: view.translation.to_array(),
        orientation: view.rotation.to_array(),
    };
    pose
}

/// `update` turned half a turn about the room's vertical axis: the same motion from the chair
/// across the table (the clinician's, for a scripted clinician).
pub(crate) fn across_the_table(update: PoseUpdate) -> PoseUpdate {
    each_placement(update, |p| {
        let [x, y, z] = p.position;
        p.position = [-x, y, -z];
        // q' = yaw(π) · q, with yaw(π) = (0, 1, 0, 0) in (x, y, z, w).
        let [qx, qy, qz, qw] = p.orientation;
        p.orientation = [qz, qw, -qx, -qy];
    })
}

/// `update` with `move_it` applied to the head and to each hand it carries.
fn each_placement(mut update: PoseUpdate, move_it: impl Fn(&mut Placement)) -> PoseUpdate {
    move_it(&mut update.head);
    for hand in [update.left_hand.as_mut(), update.right_hand.as_mut()]
        .into_iter()
        .flatten()
    {
        move_it(hand);
    }
    update
}

/// `update` (a patient's, seated in the 1:1 chair) moved to chair `index` of a group room's
/// ring (a patient's, or a clinician's or therapist's when the head is taken): pushed back to
/// the ring and turned about the room's vertical axis, as
/// [`haven_app::layout::Seat::group_patient`] seats a window.
pub(crate) fn in_group_seat(update: PoseUpdate, index: usize) -> PoseUpdate {
    use bevy::math::{Quat, Vec3};
    use haven_app::layout::{GROUP_RING, PATIENT_SEAT, group_turn};
    let turn = Quat::from_rotation_y(group_turn(index));
    let back = Vec3::new(0.0, 0.0, PATIENT_SEAT.z + GROUP_RING);
    each_placement(update, |p| {
        let at = turn * (Vec3::from_array(p.position) - back);
        p.position = at.to_array();
        p.orientation = (turn * Quat::from_array(p.orientation)).to_array();
    })
}

/// The scripted patient of a therapy demo, looking about a heights scene on a 20 s cycle:
/// 8 s down over the edge (35° down), 4 s far to the side (90°: a look away), 8 s ahead.
pub(crate) fn looking_about(t: f32, seq: u16, sent_at_ms: u16) -> PoseUpdate {
    let mut pose = seated_pose(t, seq, sent_at_ms);
    let facing = std::f32::consts::PI;
    let (yaw, pitch) = match t % 20.0 {
        c if c < 8.0 => (0.0, -35f32.to_radians()),
        c if c < 12.0 => (90f32.to_radians(), 0.0),
        _ => (0.0, 0.0),
    };
    // With a person's small movements around each.
    pose.head.orientation = quat_yaw_pitch(
        facing + yaw + 0.12 * (t * 0.7).sin(),
        pitch + 0.08 * (t * 1.3).sin(),
    );
    pose
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_patient_sits_where_the_window_would_seat_them() {
        use haven_app::layout::Seat;
        let here = seated_pose(0.0, 0, 0);
        for index in 0..11 {
            let there = in_group_seat(here, index);
            let seat = Seat::group_patient(index);
            let head = bevy::math::Vec3::from_array(there.head.position);
            // The head within a hand's breadth of the seat's eyes (the scripted sway).
            assert!(
                head.distance(seat.eyes) < 0.1,
                "{index}: {head} vs {}",
                seat.eyes
            );
        }
        // Neighbours never share a chair.
        let heads: Vec<_> = (0..11)
            .map(|i| bevy::math::Vec3::from_array(in_group_seat(here, i).head.position))
            .collect();
        for (i, a) in heads.iter().enumerate() {
            for b in &heads[i + 1..] {
                assert!(a.distance(*b) > 0.6, "{a} {b}");
            }
        }
    }

    #[test]
    fn across_the_table_faces_the_patient_chair() {
        let here = seated_pose(0.0, 0, 0);
        let there = across_the_table(here);
        // Seated on the other side of the table, at the same height.
        assert!((there.head.position[2] + here.head.position[2]).abs() < 1e-6);
        assert!(there.head.position[2] > 0.5);
        assert_eq!(there.head.position[1], here.head.position[1]);
        // Looking along -z (towards the patient's chair): the head's forward (-z local) turned.
        let forward = |q: [f32; 4]| {
            let [x, y, z, w] = q;
            // The image of (0, 0, -1) under q.
            [
                -(2.0 * (x * z + w * y)),
                -(2.0 * (y * z - w * x)),
                -(1.0 - 2.0 * (x * x + y * y)),
            ]
        };
        let f_here = forward(here.head.orientation);
        let f_there = forward(there.head.orientation);
        assert!(f_here[2] > 0.5, "the patient looks towards +z: {f_here:?}");
        assert!(
            f_there[2] < -0.5,
            "the clinician looks towards -z: {f_there:?}"
        );
        let norm: f32 = there.head.orientation.iter().map(|c| c * c).sum();
        assert!((norm - 1.0).abs() < 1e-5);
    }
}
