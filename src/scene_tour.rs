//! The therapy demo's scripts: the patient's window that accepts what the simulated therapist
//! proposes, and the therapist's tour of every scene at intensity 0 and 10, saving what the
//! patient sees in each (the therapist's picture of the patient's view) for render tests.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use bevy::camera::RenderTarget;
use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};
use haven_app::flat::patient_view::PatientViewCamera;
use haven_app::scenes::{PatientAction, Scenes, TherapistAction, now_ms};
use haven_app::session::SessionFigures;
use haven_scenes::player::Phase;
use haven_scenes::{Command, SceneId};

/// The patient's window in the demo says yes to a proposed scene (a real patient presses
/// "Start"; the demo's window has no one to press it), and sends the rating the slider
/// shows when one is asked (a real patient moves it first).
pub(crate) fn accept_proposals(
    scenes: Res<'_, Scenes>,
    draft: Res<'_, haven_app::therapy::RatingDraft>,
    mut out: MessageWriter<'_, PatientAction>,
    mut rate: MessageWriter<'_, haven_app::therapy::RatingInput>,
) {
    if matches!(scenes.player.phase(), Phase::Proposed { .. }) {
        out.write(PatientAction(Command::Accept));
    }
    if draft.prompt.is_some() {
        rate.write(haven_app::therapy::RatingInput::Send);
    }
}

/// Time for a scene to settle after it is shown at its intensity: the fade, and new spiders
/// or listeners walking in from outside the view (4 s).
const SETTLE_MS: u64 = 6_000;

/// How long a step may take before the tour gives up (a stuck step must not hang a test), ms.
const STEP_MS: u64 = 120_000;

/// The tour: each scene at 0 and at 10, one picture of the patient's view each.
#[derive(Resource, Debug)]
pub(crate) struct Tour {
    dir: PathBuf,
    steps: Vec<(SceneId, u8)>,
    at: usize,
    stage: Stage,
    /// When this step began (our time, ms).
    step_began: Option<u64>,
    /// Pictures saved so far (set by the screenshot observers).
    saved: Arc<AtomicU8>,
    /// At the end, the whole window (the console and the picture) goes here.
    screenshot: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Ask for the step's scene.
    Ask,
    /// Asked; waiting until the patient's view shows it, from then (our time, ms).
    Asked(Option<u64>),
    /// A picture is on its way.
    Shooting,
    /// The window's own picture is on its way; the app ends when it is saved.
    Finishing,
}

impl Tour {
    pub(crate) fn new(dir: PathBuf, screenshot: PathBuf) -> Self {
        let steps = SceneId::ALL
            .into_iter()
            .filter(|s| *s != SceneId::SafeRoom)
            .flat_map(|s| [(s, 0), (s, haven_scenes::catalog::MAX_INTENSITY)])
            .collect();
        Self {
            dir,
            steps,
            at: 0,
            stage: Stage::Ask,
            step_began: None,
            saved: Arc::new(AtomicU8::new(0)),
            screenshot,
        }
    }
}

/// The file a step's picture goes to: `heights-0.png`, `public-speaking-10.png`.
pub(crate) fn picture_name(scene: SceneId, intensity: u8) -> String {
    format!(
        "{}-{intensity}.png",
        scene.name().to_lowercase().replace(' ', "-")
    )
}

/// One step of the tour a frame.
#[expect(clippy::too_many_arguments, reason = "one system: the tour in order")]
pub(crate) fn tour(
    mut commands: Commands<'_, '_>,
    time: Res<'_, Time<Real>>,
    figures: Res<'_, SessionFigures>,
    scenes: Res<'_, Scenes>,
    mut tour: ResMut<'_, Tour>,
    mut console: ResMut<'_, haven_app::flat::scene_panel::Console>,
    camera: Query<'_, '_, &RenderTarget, With<PatientViewCamera>>,
    mut out: MessageWriter<'_, TherapistAction>,
    mut exit: MessageWriter<'_, AppExit>,
) {
    let now = now_ms(&time);
    // Whatever happens, the tour ends.
    if now > STEP_MS * (tour.steps.len() as u64 + 1) {
        error!("the scene tour did not finish");
        exit.write(AppExit::error());
        return;
    }
    if figures.connected.is_empty() || figures.poses_received == 0 {
        return;
    }
    let Some(&(scene, intensity)) = tour.steps.get(tour.at) else {
        if tour.stage != Stage::Finishing {
            tour.stage = Stage::Finishing;
            commands
                .spawn(Screenshot::primary_window())
                .observe(save_to_disk(tour.screenshot.clone()))
                .observe(
                    |_: On<'_, '_, ScreenshotCaptured>, mut exit: MessageWriter<'_, AppExit>| {
                        exit.write(AppExit::Success);
                    },
                );
        }
        return;
    };
    let step_began = *tour.step_began.get_or_insert(now);
    if now.saturating_sub(step_began) > STEP_MS {
        error!(
            scene = scene.name(),
            intensity, "the scene tour's step did not finish"
        );
        exit.write(AppExit::error());
        return;
    }
    match tour.stage {
        Stage::Ask => {
            if scenes.player.phase() != Phase::Consult {
                out.write(TherapistAction(Command::End));
            }
            out.write(TherapistAction(Command::Propose { scene, intensity }));
            console.intensity = intensity;
            tour.stage = Stage::Asked(None);
        }
        Stage::Asked(since) => {
            let shown = scenes.player.phase() == Phase::Running
                && scenes.player.showing() == Some(scene)
                && scenes.player.state().intensity == intensity;
            match (shown, since) {
                (false, _) => tour.stage = Stage::Asked(None),
                (true, None) => tour.stage = Stage::Asked(Some(now)),
                (true, Some(t)) if now.saturating_sub(t) >= SETTLE_MS => {
                    let Some(image) = camera.single().ok().and_then(RenderTarget::as_image) else {
                        return;
                    };
                    tour.stage = Stage::Shooting;
                    let saved = Arc::clone(&tour.saved);
                    let path = tour.dir.join(picture_name(scene, intensity));
                    commands
                        .spawn(Screenshot::image(image.clone()))
                        .observe(save_to_disk(path))
                        .observe(move |_: On<'_, '_, ScreenshotCaptured>| {
                            saved.fetch_add(1, Ordering::SeqCst);
                        });
                }
                (true, Some(_)) => {}
            }
        }
        Stage::Finishing => {}
        Stage::Shooting => {
            if usize::from(tour.saved.load(Ordering::SeqCst)) > tour.at {
                info!(scene = scene.name(), intensity, "saved the patient's view");
                tour.at += 1;
                tour.step_began = None;
                tour.stage = Stage::Ask;
            }
        }
    }
}
