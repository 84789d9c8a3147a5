//! A scripted participant: head and hand motion that looks like a seated person in
//! conversation (slow sway, nods, gestures), for headless joins, the demo and benches.

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
        -0.9 + 0.02 * (t * 0.5).sin(),
    ];
    let gesture = (t * 1.1).sin().max(0.0);
    PoseUpdate {
        seq,
        sent_at_ms,
        head: Placement {
            position: head,
            orientation: quat_yaw_pitch(0.25 * (t * 0.4).sin(), 0.08 * (t * 2.1).sin()),
        },
        left_hand: Some(Placement {
            position: [
                head[0] - 0.25,
                0.85 + 0.02 * (t * 0.9).sin(),
                head[2] - 0.25,
            ],
            orientation: quat_yaw_pitch(0.3, -0.6),
        }),
        right_hand: Some(Placement {
            position: [
                head[0] + 0.25 + 0.1 * gesture,
                0.85 + 0.25 * gesture,
                head[2] - 0.3 - 0.1 * gesture,
            ],
            orientation: quat_yaw_pitch(-0.3 + 0.5 * gesture, -0.6 + 0.8 * gesture),
        }),
    }
}
