//! A scripted participant: head and hand motion that looks like a person seated in the
//! patient's chair, facing the clinician across the table (+z), in conversation (slow sway,
//! nods, gestures), for headless joins, the demo and benches.

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
