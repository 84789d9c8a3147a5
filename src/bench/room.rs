//! `haven bench room`: CPU time per frame of the room's own systems (avatars, interpolation,
//! the full figures: torso, two-bone arm IK, seated legs, the mouth following each voice's
//! level, blinks and gaze; name tags and speaking rings, pointers, voice activity, the
//! session bridge and the rig) with four remote participants updating at 90 Hz, talking in
//! turns, two of them pointing, headless, nothing rendered.
//! The reference is the same app with nobody in the room, measured in the same run.

use std::time::{Duration, Instant};

use bevy::prelude::*;
use haven_app::session::{ControlReceived, PoseReceived};
use haven_app::voice::VoiceActivity;
use haven_app::{
    AvatarDrawPlugin, AvatarPlugin, ButtonPlugin, PointerPlugin, RigPlugin, RoomPlugin,
    SessionPlugin, VoicePlugin,
};
use haven_proto::control::{Control, HandShape, HandShapes, Pointer};
use haven_proto::signal::{PeerId, Role};
use serde::Serialize;

/// The frame rate of the workload (a headset's).
const HZ: f64 = 90.0;
const AVATARS: u32 = 4;

#[derive(Debug, Serialize)]
pub(super) struct RoomFigures {
    frames: usize,
    avatars: u32,
    /// Figures with a skeleton solved at the end of the run, and bones placed (a check that
    /// the workload is the full figures).
    figures_posed: usize,
    bones: usize,
    updates_per_avatar_hz: f64,
    /// Median update of the whole app with four avatars, µs: the room's systems and Bevy's own
    /// schedule overhead together (an upper bound on the room's share).
    frame_us_p50: f64,
    frame_us_p99: f64,
    /// The same app with nobody in the room, µs.
    empty_frame_us_p50: f64,
    /// What four avatars add over an empty room: the difference of the medians, ms.
    room_systems_ms_per_frame: f64,
}

fn app() -> App {
    app_at(HZ)
}

/// The room's plugins on a headless app stepping `hz` frames a second.
pub(super) fn app_at(hz: f64) -> App {
    let mut app = haven_app::stepper::headless_app(Duration::from_secs_f64(1.0 / hz));
    app.add_plugins((
        ButtonPlugin,
        SessionPlugin,
        RigPlugin,
        RoomPlugin,
        VoicePlugin,
        AvatarPlugin,
        AvatarDrawPlugin,
        PointerPlugin,
    ));
    app
}

pub(super) fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted
        .get(((sorted.len().max(1) - 1) as f64 * p).round() as usize)
        .copied()
        .unwrap_or(0.0)
}

/// The frame times (sorted, µs), and how many figures were posed and bones placed at the end.
fn measure(frames: usize, avatars: u32) -> (Vec<f64>, usize, usize) {
    let mut app = app();
    let mut times = Vec::with_capacity(frames);
    let warmup = 90;
    for frame in 0..frames + warmup {
        let t = frame as f32 / HZ as f32;
        {
            let world = app.world_mut();
            for a in 0..avatars {
                let peer = PeerId(u64::from(a) + 1);
                let mut update = crate::sim::seated_pose(
                    t + a as f32,
                    frame as u16,
                    (frame * 11 % 65_536) as u16,
                );
                // Spread the four around the table.
                update.head.position[0] += a as f32 * 0.4 - 0.6;
                world.write_message(PoseReceived { peer, update });
            }
            // They talk in turns (one at a time, a second each, at a voice's level), so mouths
            // open and close and eyes turn to the speaker.
            let speaking = (t as u32) % avatars.max(1);
            let mut voices = world.resource_mut::<VoiceActivity>();
            for a in 0..avatars {
                let level = if a == speaking {
                    -30.0 + 8.0 * (t * 7.0 + a as f32).sin()
                } else {
                    -70.0
                };
                voices.levels.insert(PeerId(u64::from(a) + 1), level);
                voices
                    .speaking
                    .insert(PeerId(u64::from(a) + 1), a == speaking);
            }
            if frame == 0 {
                for a in 0..avatars {
                    world.write_message(ControlReceived {
                        from: PeerId(u64::from(a) + 1),
                        role: Role::Clinician,
                        message: Control::Hands(HandShapes {
                            left: HandShape::Relaxed,
                            right: HandShape::Point,
                        }),
                    });
                }
            }
            // Two of them point, moving.
            for a in 0..avatars.min(2) {
                let dir = Vec3::new((t + a as f32).sin() * 0.3, -0.2, 1.0).normalize();
                world.write_message(ControlReceived {
                    from: PeerId(u64::from(a) + 1),
                    role: Role::Patient,
                    message: Control::Pointer(Some(Pointer {
                        origin: [0.0, 1.0, -0.5],
                        direction: dir.to_array(),
                        hit: Some([0.0, 0.76, 0.2]),
                    })),
                });
            }
        }
        let start = Instant::now();
        app.update();
        if frame >= warmup {
            times.push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    times.sort_by(f64::total_cmp);
    let world = app.world_mut();
    let posed = world
        .query::<&haven_app::avatar::Figure>()
        .iter(world)
        .filter(|f| f.skeleton.is_some())
        .count();
    let bones = world
        .query::<&haven_app::avatar::figure::Bone>()
        .iter(world)
        .count();
    (times, posed, bones)
}

pub(super) fn run(frames: usize) -> anyhow::Result<RoomFigures> {
    let frames = frames.max(100);
    let (empty, ..) = measure(frames, 0);
    let (full, figures_posed, bones) = measure(frames, AVATARS);
    anyhow::ensure!(
        figures_posed == AVATARS as usize && bones > 0,
        "the workload did not pose the figures ({figures_posed} posed, {bones} bones)"
    );
    let p50 = percentile(&full, 0.5);
    let empty_p50 = percentile(&empty, 0.5);
    Ok(RoomFigures {
        frames,
        avatars: AVATARS,
        figures_posed,
        bones,
        updates_per_avatar_hz: HZ,
        frame_us_p50: (p50 * 10.0).round() / 10.0,
        frame_us_p99: (percentile(&full, 0.99) * 10.0).round() / 10.0,
        empty_frame_us_p50: (empty_p50 * 10.0).round() / 10.0,
        room_systems_ms_per_frame: ((p50 - empty_p50).max(0.0) / 1000.0 * 1e4).round() / 1e4,
    })
}
