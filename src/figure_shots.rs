//! `haven demo --headless --figure-shots DIR`: pictures of the other participant's figure for
//! the render test. Once the room is drawn, the window saves `open.png` at a frame where the
//! figure's mouth is open (it is speaking) and `closed.png` at one where it is shut (between
//! phrases), each with a JSON file of where the figure's joints and mouth fall on the screen
//! in that very frame, and the figure's colours. Then the demo takes its usual screenshot.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};
use haven_app::avatar::body::BodySide;
use haven_app::avatar::figure::{Bone, place};
use haven_app::avatar::{Appearance, Figure};
use haven_app::flat::FlatCamera;
use serde::Serialize;

/// Frames to wait for each picture before the demo gives up.
const MAX_FRAMES: u32 = 900;

/// Where the figure pictures stand.
#[derive(Resource, Debug)]
pub(crate) struct FigureShots {
    dir: PathBuf,
    /// The next picture to take: 0 open, 1 closed, 2 done.
    next: u8,
    /// Pictures captured (a window takes one screenshot at a time: the next waits for this).
    captured: Arc<AtomicU8>,
    waited: u32,
}

impl FigureShots {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            next: 0,
            captured: Arc::new(AtomicU8::new(0)),
            waited: 0,
        }
    }

    /// Whether both pictures are taken (captured, so the window is free for the next).
    pub(crate) fn done(&self) -> bool {
        self.next >= 2 && self.captured.load(Ordering::SeqCst) >= self.next
    }
}

/// Where the figure falls on the screen, in pixels from the top left.
#[derive(Debug, Serialize)]
struct Placed {
    /// How open the mouth is in this frame, 0–1.
    mouth_open: f32,
    /// The mouth's centre.
    mouth: [f32; 2],
    /// Half the mouth's width and half its height when fully open.
    mouth_half: [f32; 2],
    /// The chest's centre.
    chest: [f32; 2],
    /// Left, right.
    shoulders: [[f32; 2]; 2],
    /// Left, right.
    elbows: [[f32; 2]; 2],
    /// Left, right.
    hands: [[f32; 2]; 2],
    /// A box on the screen that holds the whole torso (chest, belly, hips): min x, min y,
    /// max x, max y. What lies outside it is not the torso.
    torso: [f32; 4],
    /// The clothing's colour, sRGB 0–255.
    clothing: [u8; 3],
    /// The face's.
    skin: [u8; 3],
}

/// Takes the two pictures, when the room is drawn (`drawn`).
pub(crate) fn take(
    In(drawn): In<bool>,
    mut commands: Commands<'_, '_>,
    mut shots: ResMut<'_, FigureShots>,
    cameras: Query<'_, '_, (&Camera, &GlobalTransform), With<FlatCamera>>,
    figures: Query<'_, '_, (&Figure, &Appearance)>,
    mut exit: MessageWriter<'_, AppExit>,
) {
    if !drawn || shots.next >= 2 || shots.captured.load(Ordering::SeqCst) < shots.next {
        return;
    }
    shots.waited += 1;
    if shots.waited > MAX_FRAMES {
        tracing::error!(
            "the figure's mouth was not seen {} within {MAX_FRAMES} frames",
            if shots.next == 0 { "open" } else { "shut" }
        );
        shots.next = 2;
        shots.captured.store(2, Ordering::SeqCst);
        exit.write(AppExit::error());
        return;
    }
    let (Ok((camera, eye)), Some((figure, appearance))) = (cameras.single(), figures.iter().next())
    else {
        return;
    };
    let Some(skeleton) = &figure.skeleton else {
        return;
    };
    let mouth = figure.face.mouth;
    let wanted = if shots.next == 0 {
        mouth > 0.55
    } else {
        mouth == 0.0
    };
    if !wanted {
        return;
    }
    let at = |p: Vec3| {
        camera
            .world_to_viewport(eye, p)
            .map_or([-1.0, -1.0], |v| v.to_array())
    };
    let proportions = appearance.proportions();
    let h = proportions.head;
    let head = skeleton.head;
    let mouth_at = head.position + head.rotation * Vec3::new(0.0, -h.y * 0.46, -h.z * 0.8);
    let [mx, my] = at(mouth_at);
    let [wx, _] = at(mouth_at + head.rotation * Vec3::X * h.x * 0.36);
    let [_, hy] = at(mouth_at + head.rotation * Vec3::Y * h.y * 0.235);
    let palette = appearance.palette();
    let byte = |c: [f32; 3]| c.map(|v| (v * 255.0).round() as u8);
    let side = |f: &dyn Fn(BodySide) -> Vec3| BodySide::BOTH.map(|s| at(f(s)));
    // Each torso part (a ball scaled) sampled all over its surface, on the screen: the box
    // of its silhouette.
    let mut torso = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
    for bone in [Bone::Chest, Bone::Belly, Bone::Hips] {
        let part = place(bone, skeleton, &figure.face, &proportions);
        for i in 0..32 {
            for j in 0..=16 {
                let around = i as f32 * std::f32::consts::TAU / 32.0;
                let down = j as f32 * std::f32::consts::PI / 16.0;
                let unit = Vec3::new(
                    around.cos() * down.sin(),
                    down.cos(),
                    around.sin() * down.sin(),
                );
                let [x, y] = at(part.translation + part.rotation * (unit * part.scale));
                torso = [
                    torso[0].min(x),
                    torso[1].min(y),
                    torso[2].max(x),
                    torso[3].max(y),
                ];
            }
        }
    }
    let placed = Placed {
        mouth_open: mouth,
        mouth: [mx, my],
        mouth_half: [(wx - mx).abs(), (hy - my).abs()],
        chest: at(skeleton.pelvis.lerp(skeleton.neck_base, 0.7)),
        shoulders: side(&|s| skeleton.arms[s.index()].shoulder),
        elbows: side(&|s| skeleton.arms[s.index()].elbow),
        hands: side(&|s| skeleton.arms[s.index()].hand.position),
        torso,
        clothing: byte(palette.clothing),
        skin: byte(palette.skin),
    };
    let name = if shots.next == 0 { "open" } else { "closed" };
    let captured = Arc::clone(&shots.captured);
    let json = serde_json::to_string_pretty(&placed).unwrap_or_default();
    if let Err(e) = std::fs::write(shots.dir.join(format!("{name}.json")), json) {
        tracing::error!("figure shots: {e}");
    }
    commands
        .spawn(Screenshot::primary_window())
        .observe(save_to_disk(shots.dir.join(format!("{name}.png"))))
        .observe(move |_: On<'_, '_, ScreenshotCaptured>| {
            captured.fetch_add(1, Ordering::SeqCst);
        });
    shots.next += 1;
    shots.waited = 0;
}
