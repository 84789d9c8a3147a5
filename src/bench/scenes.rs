//! `haven bench scenes`: CPU time per frame of the room's systems with a therapy scene shown
//! (its drawing and stimuli: the spiders at 10, the full audience at 10, the cabin at 10),
//! headless at 90 Hz, beside the same app in the consult room, measured in the same run; and
//! the frames from the patient's safe-room key to a black frame.

use std::time::Instant;

use bevy::prelude::*;
use haven_app::scenes::{PatientAction, SceneDrawPlugin, SceneFade, ScenePlugin, Scenes};
use haven_app::{SessionFigures, TrustPlugin};
use haven_proto::signal::{PeerId, PeerInfo, Role};
use haven_scenes::player::Sender;
use haven_scenes::{Command, SceneId};
use serde::Serialize;

/// The frame rate of the workload (a headset's).
const HZ: f64 = 90.0;

#[derive(Debug, Serialize)]
pub(super) struct SceneFigures {
    frames: usize,
    /// Median update of the app in the consult room, µs (the reference).
    consult_room_frame_us_p50: f64,
    /// The same app showing the spiders at 10, µs.
    spiders_10_frame_us_p50: f64,
    spiders_10_frame_us_p99: f64,
    /// The public-speaking hall, full, at 10, µs.
    speaking_10_frame_us_p50: f64,
    speaking_10_frame_us_p99: f64,
    /// The cabin at 10, µs.
    flying_10_frame_us_p50: f64,
    /// What the busiest scene adds over the consult room: the difference of the medians, ms.
    busiest_scene_ms_per_frame: f64,
    /// Frames at 90 Hz from the patient's safe-room key to a frame at least 95 % black.
    safe_room_key_to_black_frames: u32,
    /// The same, ms.
    safe_room_key_to_black_ms: f64,
}

fn app(patient: bool) -> App {
    let mut app = super::room::app_at(HZ);
    app.add_plugins((TrustPlugin, ScenePlugin, SceneDrawPlugin));
    if patient {
        app.world_mut().resource_mut::<SessionFigures>().me = Some(PeerInfo {
            id: PeerId(1),
            role: Role::Patient,
        });
    }
    app
}

/// Starts `scene` at `intensity` as a therapist's proposal the patient accepted.
fn start(app: &mut App, scene: SceneId, intensity: u8) {
    let now = app
        .world()
        .resource::<Time>()
        .elapsed()
        .as_millis()
        .try_into()
        .unwrap_or(u64::MAX);
    let mut scenes = app.world_mut().resource_mut::<Scenes>();
    let player = &mut scenes.player;
    let _ = player.apply(
        Sender::Therapist,
        Command::Propose { scene, intensity },
        now,
    );
    let _ = player.apply(Sender::Patient, Command::Accept, now);
}

fn measure(frames: usize, scene: Option<SceneId>) -> Vec<f64> {
    let mut app = app(false);
    app.update();
    if let Some(scene) = scene {
        start(&mut app, scene, 10);
    }
    // Past the fade and the newcomers' walk in.
    let warmup = (HZ * 5.0) as usize;
    let mut times = Vec::with_capacity(frames);
    for frame in 0..frames + warmup {
        let t = Instant::now();
        app.update();
        if frame >= warmup {
            times.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    times.sort_by(f64::total_cmp);
    times
}

/// Frames from the patient's safe-room key (pressed before frame 1) until the fade is at
/// least 95 % black.
fn key_to_black() -> u32 {
    let mut app = app(true);
    app.update();
    start(&mut app, SceneId::Heights, 10);
    for _ in 0..(HZ as usize) {
        app.update();
    }
    app.world_mut()
        .write_message(PatientAction(Command::EnterSafeRoom));
    for frame in 1..=(HZ as u32) {
        app.update();
        let now = app.world().resource::<Time>().elapsed();
        let alpha = app
            .world()
            .resource::<SceneFade>()
            .alpha(u64::try_from(now.as_millis()).unwrap_or(u64::MAX));
        if alpha >= 0.95 {
            return frame;
        }
    }
    u32::MAX
}

pub(super) fn run(frames: usize) -> anyhow::Result<SceneFigures> {
    let frames = frames.max(100);
    let p = super::room::percentile;
    let round = |us: f64| (us * 10.0).round() / 10.0;
    let consult = measure(frames, None);
    let spiders = measure(frames, Some(SceneId::Spiders));
    let speaking = measure(frames, Some(SceneId::Speaking));
    let flying = measure(frames, Some(SceneId::Flying));
    let busiest = [&spiders, &speaking, &flying]
        .iter()
        .map(|t| p(t, 0.5))
        .fold(0.0, f64::max);
    let black = key_to_black();
    anyhow::ensure!(black != u32::MAX, "the safe room never went black");
    Ok(SceneFigures {
        frames,
        consult_room_frame_us_p50: round(p(&consult, 0.5)),
        spiders_10_frame_us_p50: round(p(&spiders, 0.5)),
        spiders_10_frame_us_p99: round(p(&spiders, 0.99)),
        speaking_10_frame_us_p50: round(p(&speaking, 0.5)),
        speaking_10_frame_us_p99: round(p(&speaking, 0.99)),
        flying_10_frame_us_p50: round(p(&flying, 0.5)),
        busiest_scene_ms_per_frame: ((busiest - p(&consult, 0.5)).max(0.0) / 1e3 * 1e4).round()
            / 1e4,
        safe_room_key_to_black_frames: black,
        safe_room_key_to_black_ms: round(f64::from(black) * 1000.0 / HZ),
    })
}

#[cfg(test)]
mod tests {
    /// The safe room's fade is black within 300 ms of the key, at 90 Hz.
    #[test]
    fn the_safe_room_goes_black_within_300_ms() {
        let frames = super::key_to_black();
        assert!(
            f64::from(frames) * 1000.0 / super::HZ < 300.0,
            "{frames} frames"
        );
    }
}
