//! `haven demo`: the whole thing on one machine. An embedded signaling server on loopback, a
//! simulated patient (its own `haven join --headless --anonymous` process: synthetic,
//! disguised voice and scripted head and hand motion), and the clinician's window joined to
//! the same room. `--headless` runs a fixed number of frames, writes a screenshot, and prints
//! the session's figures as one JSON object on the last line of stdout.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};
use haven_app::voice::VoiceActivity;
use haven_app::{FrontEnd, SessionFigures};
use haven_proto::Redacted;
use haven_proto::control::AvatarChoice;
use haven_proto::signal::Role;
use haven_session::{NetworkPolicy, SessionConfig};
use haven_voice::engine::EngineOptions;

use crate::room::{FrontEndArgs, RoomOptions};
use haven_signal::clinic::ClinicKey;
use haven_signal::{
    InviteRequest, Limits, ServerConfig, ServerSecret, SignalServer, TlsIdentity, issue,
};
use serde::Serialize;

/// Flags of `haven demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Run a fixed number of frames, write a screenshot, print figures as JSON, and exit.
    #[arg(long)]
    headless: bool,
    /// Frames to run with --headless.
    #[arg(long, default_value_t = 120)]
    frames: u32,
    /// Where --headless writes its screenshot (PNG).
    #[arg(long, default_value = "haven-demo.png")]
    screenshot: PathBuf,
    #[command(flatten)]
    front: FrontEndArgs,
    /// Start looking at the records board instead of the patient (for screenshots of it).
    #[arg(long)]
    look_at_records: bool,
    /// The window is the patient's (anonymous, with the sample scan and records in the
    /// "What you share" picker) and the simulated participant is the clinician. With
    /// --headless the ticked items are shared as soon as the clinician is connected.
    #[arg(long)]
    as_patient: bool,
    /// Exposure therapy: the window is a therapist's, with the scene console; the simulated
    /// patient accepts the scenes it is offered. With --headless a short session is scripted
    /// (heights proposed at 6, raised to 9, an announced gust).
    /// With --as-patient: the window is the patient's and the simulated participant a
    /// therapist who proposes `--scene` (the window accepts it).
    #[arg(long)]
    therapy: bool,
    /// With --therapy: the scene proposed, as SCENE:INTENSITY (e.g. `spiders:10`); without it
    /// the therapist's script proposes heights at 6, raises it to 9 and fires a gust.
    #[arg(long, requires = "therapy", value_parser = crate::therapy::parse_proposal)]
    scene: Option<(haven_scenes::SceneId, u8)>,
    /// The simulated participant holds still in its seat, looking ahead (for comparing the
    /// therapist's picture of the patient's view with the patient's own window).
    #[arg(long)]
    hold_seat: bool,
    /// With --therapy and --headless: also save the therapist's picture of what the patient
    /// sees here.
    #[arg(long, requires_all = ["therapy", "headless"], conflicts_with = "as_patient")]
    mirror_screenshot: Option<PathBuf>,
    /// With --therapy and --headless: show every scene at intensity 0 and 10 and save the
    /// patient's view of each in this folder (`heights-0.png` ...), then stop. The simulated
    /// patient holds still in its seat, looking 25° down.
    #[arg(long, requires_all = ["therapy", "headless"], conflicts_with = "as_patient")]
    scene_tour: Option<PathBuf>,
    /// With --therapy: the window looks from the patient's seat, the way the patient faces
    /// (to see the scene as the patient does).
    #[arg(long, requires = "therapy")]
    patient_view: bool,
    /// With --therapy and --headless: a scripted therapy session of about a minute (a
    /// prediction, two asks answered and one left unanswered, an intensity step, an event,
    /// the safe room and back, the end), run to its end whatever --frames says. The simulated
    /// patient writes its report into this folder (timeline.json, fhir-bundle.json,
    /// suds-chart.png, gaze-heatmap.png) and says "save" for the therapist's copy, which the
    /// therapist's side keeps in `therapist-kept/` under it when the consult ends.
    #[arg(long, requires_all = ["therapy", "headless"], conflicts_with_all = ["as_patient", "scene_tour", "scene", "hold_seat"])]
    report: Option<PathBuf>,
    /// With --headless: before the screenshot, save pictures of the other participant's
    /// figure with its mouth open (speaking) and shut (between phrases) in this folder
    /// (`open.png`, `closed.png`, each with a JSON file of where its joints and mouth fall on
    /// the screen).
    #[arg(long, requires = "headless", conflicts_with_all = ["scene_tour", "report"])]
    figure_shots: Option<PathBuf>,
}

#[derive(Debug, Default, Serialize)]
struct DemoFigures {
    frames: u32,
    frame_ms_p50: f64,
    frame_ms_p99: f64,
    poses_received: u64,
    audio_frames_received: u64,
    peers_connected: usize,
    xr: bool,
    /// The window patient's shares that reached the clinician (`--as-patient` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    shares_delivered: Option<usize>,
    /// The scene the patient is in, as the therapist's mirror shows it (`--therapy` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    scene: Option<String>,
    /// Its intensity.
    #[serde(skip_serializing_if = "Option::is_none")]
    scene_intensity: Option<u8>,
    screenshot: Option<String>,
    /// The report's files the simulated patient wrote (`--report` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<Vec<String>>,
    /// Files the therapist's side kept of it (the Bundle, its Consent, a Provenance).
    #[serde(skip_serializing_if = "Option::is_none")]
    therapist_kept: Option<usize>,
    /// The scripted session's last step reached (`--report` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    script_step: Option<u8>,
}

/// Kills the simulated participant when the demo ends.
struct Simulated(Child);

impl Drop for Simulated {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Resource)]
struct Headless {
    frames: u32,
    screenshot: PathBuf,
    frame_ms: Vec<f64>,
    /// Where the screenshot stands.
    shot: Arc<Mutex<Shot>>,
    report: Arc<Mutex<DemoFigures>>,
    /// The window is the patient's (it reports what it shared).
    as_patient: bool,
    /// Also save the therapist's picture of the patient's view, here.
    mirror_screenshot: Option<PathBuf>,
    /// The frame at which the other participant's first pose arrived: the `frames` counted
    /// run from there, so a slow start (a busy machine) does not end the demo before the
    /// consult has begun. `None` until then.
    met_at: Option<u32>,
    /// A scripted therapy session runs ([`TherapyScript`]): frames count from its end, and
    /// the demo leaves the consult (so the therapist's side keeps what it may) when done.
    scripted: bool,
}

/// How long the headless demo waits for the other participant before it counts frames anyway
/// (the figures then say nobody came).
const MEET_WITHIN_S: f64 = 60.0;

/// The renderer compiles its pipelines in the background and draws nothing until they are
/// ready (a few seconds on lavapipe), so the demo probes with throwaway screenshots until one
/// shows the room, then takes the one it keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shot {
    /// Nothing asked yet.
    Idle,
    /// A probe is in flight.
    Probing,
    /// The last probe showed the room: take the real one.
    Ready,
    /// The real one is in flight.
    Taking,
}

/// Frames to wait for the room to appear before the demo gives up on a picture.
const MAX_EXTRA_FRAMES: u32 = 600;

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    // The signaling server, on its own runtime for the whole demo.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let secret = ServerSecret::generate()?;
    let server = runtime.block_on(async {
        SignalServer::bind(ServerConfig {
            listen: "127.0.0.1:0".parse().expect("a valid address"),
            identity: TlsIdentity::self_signed(vec!["localhost".into()])?,
            secret: secret.clone(),
            limits: Limits::default(),
            ice_servers: Vec::new(),
            turn: None,
            cluster: None,
            media_server: None,
            invite_files: None,
        })
        .await?
        .spawn()
        .map_err(anyhow::Error::from)
    })?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    // A demo clinic vouches for the clinician; the patient's invite names it, so the patient's
    // side checks the clinician's credential before anything is shared.
    let clinic = ClinicKey::generate("Haven Demo Clinic")?;
    let credential = clinic.issue(
        "Dr Sam Rivera",
        "General practitioner",
        "DEMO-0001",
        now.saturating_sub(60),
        now + 24 * 3600,
    )?;
    let invite = |role| {
        issue(
            &secret,
            InviteRequest {
                host: "127.0.0.1".into(),
                port: server.addr.port(),
                room: "demo".parse().expect("a valid room id"),
                role,
                ttl_secs: 3600,
                uses: 3,
                pin: Some(server.fingerprint.to_hex()),
                clinic: (role == Role::Patient).then(|| clinic.public_key()),
                group: None,
            },
            now,
        )
    };
    let patient_invite = invite(Role::Patient)?;
    // What the simulated patient shares: a CT image and a patient summary, shipped in the
    // binary, written where the patient process can read them (it strips, de-identifies and
    // anonymises them itself, as a real patient's machine would).
    let samples = std::env::temp_dir().join(format!("haven-demo-{}", std::process::id()));
    std::fs::create_dir_all(&samples)?;
    let ct = samples.join("ct-sample.dcm");
    let summary = samples.join("patient-summary.json");
    std::fs::write(&ct, include_bytes!("../assets/demo/ct-sample.dcm"))?;
    std::fs::write(
        &summary,
        include_bytes!("../assets/demo/patient-summary.json"),
    )?;
    let clinician_invite = invite(Role::Clinician)?;
    let mut simulated = Command::new(std::env::current_exe()?);
    simulated.args([
        "join",
        "--headless",
        "--loopback-only",
        "--voice-in",
        "phrases",
    ]);
    if args.hold_seat || args.scene_tour.is_some() {
        simulated.arg("--hold-seat");
    }
    if args.scene_tour.is_some() {
        // The tour's patient looks down a little: the table's spiders, the drop below.
        simulated.args(["--look-down", "25"]);
    }
    let therapist_invite = invite(Role::Therapist)?;
    if args.therapy && args.as_patient {
        // The simulated therapist, with its credential, proposes the scene; the patient's
        // window accepts it.
        let credential_file = samples.join("therapist.credential");
        let _ = std::fs::remove_file(&credential_file);
        therapist_credential(&clinic, now)?.save(&credential_file)?;
        let (scene, intensity) = args.scene.unwrap_or((haven_scenes::SceneId::Heights, 6));
        simulated.args(["--name", "Therapist", "--colour", "#6a5aa8"]);
        simulated.arg("--identity").arg(&credential_file);
        simulated.arg("--propose").arg(format!(
            "{}:{intensity}",
            scene.name().to_lowercase().replace(' ', "-")
        ));
        simulated.arg(&therapist_invite);
    } else if args.therapy {
        // The simulated patient accepts the scenes the therapist (the window) proposes.
        simulated.args(["--anonymous", "--accept-scenes"]);
        if let Some(dir) = &args.report {
            // Its answers, in order: the prediction, two asks, one left, the closing one;
            // sickness stays low; after the gust it takes 5 s in the safe room.
            simulated.args([
                "--suds-answers",
                "40,55,45,-,30",
                "--fms-answers",
                "2,3,3,2,2",
                "--safe-room-after-event",
                "5s",
                "--save-report",
                "--look-about",
            ]);
            simulated.arg("--report").arg(dir);
        }
        simulated.arg(&patient_invite);
    } else if args.as_patient {
        // The simulated clinician, with its credential; the window's patient shares from its
        // picker.
        let credential_file = samples.join("clinician.credential");
        let _ = std::fs::remove_file(&credential_file);
        credential.save(&credential_file)?;
        simulated.args(["--name", "Clinician", "--colour", "#3c8d7f"]);
        simulated.arg("--identity").arg(&credential_file);
        simulated.arg(&clinician_invite);
    } else {
        // The simulated patient says yes to the clinician who joins (the window).
        simulated.args(["--anonymous", "--share-with-newcomers"]);
        if args.figure_shots.is_some() {
            // A cool blue figure (the palette's [0.40, 0.48, 0.66]): the render test tells it
            // from the warm walls by colour, which one of the greyer looks drawn at random
            // could not always do.
            simulated.args(["--anonymous-look", "18"]);
        }
        simulated
            .arg("--share")
            .arg(&ct)
            .arg("--share")
            .arg(&summary);
        simulated.arg(&patient_invite);
    }
    let simulated = Simulated(
        simulated
            .env(
                "HAVEN_LOG",
                std::env::var("HAVEN_DEMO_CHILD_LOG").unwrap_or("warn".into()),
            )
            .stdout(Stdio::null())
            .spawn()
            .context("starting the simulated participant")?,
    );
    let (role, window_invite, avatar, picker) = if args.therapy && !args.as_patient {
        (
            Role::Therapist,
            therapist_invite.clone(),
            AvatarChoice::Named {
                name: Redacted::new("Therapist".to_owned()),
                colour: [0x6a, 0x5a, 0xa8],
            },
            None,
        )
    } else if args.as_patient {
        // Problems, medications and allergies start ticked; results and the rest do not.
        let share = crate::share::ShareArgs {
            share: vec![ct.clone(), summary.clone()],
            select: ["problems", "medications", "allergies"]
                .map(String::from)
                .to_vec(),
            may_keep: false,
            share_for: Duration::from_secs(3600),
        };
        (
            Role::Patient,
            patient_invite.clone(),
            AvatarChoice::Anonymous {
                look: std::process::id(),
            },
            Some(crate::share::picker(&share, true)?),
        )
    } else {
        (
            Role::Clinician,
            clinician_invite.clone(),
            AvatarChoice::Named {
                name: Redacted::new("Clinician".to_owned()),
                colour: [0x3c, 0x8d, 0x7f],
            },
            None,
        )
    };
    let mut config = SessionConfig::from_invite(&window_invite, NetworkPolicy::LoopbackOnly)?;
    if args.therapy && !args.as_patient {
        config.identity = Some(Arc::new(therapist_credential(&clinic, now)?));
    } else if !args.as_patient {
        config.identity = Some(Arc::new(credential));
    }
    let mut app = crate::room::build(RoomOptions {
        config,
        role,
        look: matches!(avatar, AvatarChoice::Named { .. })
            .then_some(haven_app::avatar::look::DEFAULT_LOOK),
        avatar,
        front: args.front,
        voice: EngineOptions::default(),
        // Headless runs touch no sound devices; a window uses them when there are some.
        source: args
            .headless
            .then(|| Box::new(haven_voice::source::Silent) as Box<dyn haven_voice::source::Source>),
        sink: args
            .headless
            .then(|| Box::new(haven_voice::sink::NullSink) as Box<dyn haven_voice::sink::Sink>),
        title: "Haven — consult room (demo)".to_owned(),
        picker,
        audit: None,
        // The therapist's copy of the report, kept because the patient said "save".
        keep_dir: args.report.as_ref().map(|dir| dir.join("therapist-kept")),
    })?;
    if args.patient_view {
        let eyes = haven_app::layout::PATIENT_SEAT + Vec3::Y * 1.2;
        app.insert_resource(haven_app::layout::Seat {
            eyes,
            looks_at: eyes + Vec3::new(0.0, -0.25, 1.0),
        });
    }
    if args.look_at_records {
        app.insert_resource(haven_app::layout::Seat {
            eyes: haven_app::layout::CLINICIAN_EYES,
            looks_at: haven_app::layout::RECORDS_BOARD,
        });
    }
    let report = Arc::new(Mutex::new(DemoFigures::default()));
    if let Some(dir) = args.scene_tour.as_ref().filter(|_| args.headless) {
        std::fs::create_dir_all(dir)?;
        app.insert_resource(crate::scene_tour::Tour::new(
            dir.clone(),
            args.screenshot.clone(),
        ))
        .add_systems(Update, crate::scene_tour::tour);
    } else if args.headless {
        app.insert_resource(Headless {
            frames: args.frames.max(3),
            screenshot: args.screenshot.clone(),
            frame_ms: Vec::new(),
            shot: Arc::new(Mutex::new(Shot::Idle)),
            report: Arc::clone(&report),
            as_patient: args.as_patient,
            mirror_screenshot: args.mirror_screenshot.clone(),
            met_at: None,
            scripted: args.report.is_some(),
        })
        .add_systems(Last, headless_frames);
        if let Some(dir) = &args.figure_shots {
            std::fs::create_dir_all(dir)?;
            app.insert_resource(crate::figure_shots::FigureShots::new(dir.clone()))
                .add_systems(Last, room_drawn.pipe(crate::figure_shots::take));
        }
        if args.as_patient && !args.therapy {
            app.add_systems(Update, share_when_the_clinician_is_here);
        }
        if args.therapy && args.as_patient {
            app.add_systems(Update, crate::scene_tour::accept_proposals);
        } else if args.report.is_some() {
            app.init_resource::<TherapyScript>()
                .add_systems(Update, run_a_therapy_session);
        } else if args.therapy {
            app.insert_resource(Script(args.scene))
                .add_systems(Update, run_a_short_session);
        }
    }
    app.run();
    if args.headless {
        let mut figures = report
            .lock()
            .map_err(|_| anyhow::anyhow!("report lock poisoned"))?;
        if let Some(dir) = &args.report {
            figures.report = Some(
                haven_report::FILES
                    .iter()
                    .filter(|f| dir.join(f).is_file())
                    .map(|f| (*f).to_owned())
                    .collect(),
            );
            figures.therapist_kept =
                Some(std::fs::read_dir(dir.join("therapist-kept")).map_or(0, |d| d.count()));
        }
        print_figures(&figures)?;
    }
    // The simulated participant leaves before the server stops, so it ends quietly rather than
    // being told the server is going.
    drop(simulated);
    let _ = std::fs::remove_dir_all(&samples);
    runtime.block_on(server.shutdown());
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

#[expect(clippy::print_stdout, reason = "the figures are the command's output")]
fn print_figures(figures: &DemoFigures) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(figures)?);
    Ok(())
}

/// The headless patient presses "Share ticked" once the clinician is there.
fn share_when_the_clinician_is_here(
    figures: Res<'_, SessionFigures>,
    mut picks: MessageWriter<'_, haven_app::sharing::picker::PickerAction>,
    mut pressed: Local<'_, bool>,
) {
    if !*pressed && !figures.connected.is_empty() {
        *pressed = true;
        picks.write(haven_app::sharing::picker::PickerAction::ShareTicked);
    }
}

/// The demo clinic's credential for the therapist.
fn therapist_credential(
    clinic: &ClinicKey,
    now: u64,
) -> anyhow::Result<haven_signal::clinic::Identity> {
    Ok(clinic.issue(
        "Dr Sam Rivera",
        "Clinical psychologist",
        "DEMO-0002",
        now.saturating_sub(60),
        now + 24 * 3600,
    )?)
}

/// The scene the therapist's script proposes (`--scene`), if not the default show.
#[derive(Resource)]
struct Script(Option<(haven_scenes::SceneId, u8)>);

/// The headless therapy demo's script: once the patient is here, propose heights at 6; once
/// it runs, raise it to 9 over 3 s and fire an announced gust. With `--scene`, propose that
/// and nothing more.
fn run_a_short_session(
    script: Res<'_, Script>,
    figures: Res<'_, SessionFigures>,
    scenes: Res<'_, haven_app::scenes::Scenes>,
    mut console: ResMut<'_, haven_app::flat::scene_panel::Console>,
    mut step: Local<'_, u8>,
    mut out: MessageWriter<'_, haven_app::scenes::TherapistAction>,
) {
    use haven_app::scenes::TherapistAction;
    use haven_scenes::player::Phase;
    use haven_scenes::{Command, Event, SceneId};
    match *step {
        0 if figures.connected.len() == 1 && figures.poses_received > 0 => {
            let (scene, intensity) = script.0.unwrap_or((SceneId::Heights, 6));
            console.intensity = intensity;
            out.write(TherapistAction(Command::Propose { scene, intensity }));
            *step = if script.0.is_some() { 2 } else { 1 };
        }
        1 if scenes.player.phase() == Phase::Running => {
            console.intensity = 9;
            out.write(TherapistAction(Command::SetIntensity {
                intensity: 9,
                ramp_ms: 3_000,
            }));
            out.write(TherapistAction(Command::Fire {
                event: Event::Gust,
                announce: true,
            }));
            *step = 2;
        }
        _ => {}
    }
}

/// Whether the room has been drawn (a probe showed it), for the figure's pictures.
fn room_drawn(state: Res<'_, Headless>) -> bool {
    *state.shot.lock().unwrap_or_else(|p| p.into_inner()) == Shot::Ready
}

/// Counts frames; at the last one asks for a screenshot and exits once it is on disk.
#[expect(
    clippy::too_many_arguments,
    reason = "one system: the headless demo's report"
)]
fn headless_frames(
    mut commands: Commands<'_, '_>,
    mut state: ResMut<'_, Headless>,
    time: Res<'_, Time<Real>>,
    figures: Res<'_, SessionFigures>,
    voice: Res<'_, VoiceActivity>,
    front: Res<'_, FrontEnd>,
    sharing: Res<'_, haven_app::sharing::Sharing>,
    scenes: Res<'_, haven_app::scenes::Scenes>,
    script: Option<Res<'_, TherapyScript>>,
    figure_shots: Option<Res<'_, crate::figure_shots::FigureShots>>,
    mirror: Query<
        '_,
        '_,
        &bevy::camera::RenderTarget,
        With<haven_app::flat::patient_view::PatientViewCamera>,
    >,
) {
    // Real time: virtual time caps a frame's delta at 250 ms.
    state.frame_ms.push(time.delta_secs_f64() * 1000.0);
    let frames = state.frame_ms.len() as u32;
    // Fill the report every frame, so it is whole whenever the app stops.
    let mut sorted = state.frame_ms[1..].to_vec();
    sorted.sort_by(f64::total_cmp);
    let pick = |p: f64| {
        sorted
            .get(((sorted.len().max(1) - 1) as f64 * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    if let Ok(mut r) = state.report.lock() {
        *r = DemoFigures {
            frames,
            frame_ms_p50: (pick(0.5) * 1000.0).round() / 1000.0,
            frame_ms_p99: (pick(0.99) * 1000.0).round() / 1000.0,
            poses_received: figures.poses_received,
            audio_frames_received: voice.packets_received,
            peers_connected: figures.connected.len(),
            xr: *front == FrontEnd::Xr,
            // Only the patient's window shares anything.
            shares_delivered: state.as_patient.then(|| {
                sharing
                    .ledger
                    .outgoing()
                    .iter()
                    .filter(|s| !s.delivered.is_empty())
                    .count()
            }),
            scene: scenes.player.showing().map(|s| s.name().to_owned()),
            scene_intensity: scenes
                .player
                .showing()
                .map(|_| scenes.player.state().intensity),
            screenshot: r.screenshot.clone(),
            report: None,
            therapist_kept: None,
            script_step: script.as_ref().map(|s| s.step),
        };
    }
    // A scripted session runs to its end first.
    if state.scripted && !script.as_ref().is_some_and(|s| s.done()) {
        return;
    }
    if state.met_at.is_none()
        && (figures.poses_received > 0 || time.elapsed_secs_f64() > MEET_WITHIN_S)
    {
        state.met_at = Some(frames);
    }
    let Some(met_at) = state.met_at else {
        return;
    };
    let frames = frames - met_at;
    if frames < state.frames {
        return;
    }
    let mut shot = state.shot.lock().unwrap_or_else(|p| p.into_inner());
    match *shot {
        Shot::Idle if frames < state.frames + MAX_EXTRA_FRAMES => {
            *shot = Shot::Probing;
            let probe = Arc::clone(&state.shot);
            commands.spawn(Screenshot::primary_window()).observe(
                move |captured: On<'_, '_, ScreenshotCaptured>| {
                    let drawn = captured
                        .image
                        .data
                        .as_ref()
                        .is_some_and(|d| d.iter().filter(|&&b| b > 16).count() > d.len() / 4);
                    *probe.lock().unwrap_or_else(|p| p.into_inner()) =
                        if drawn { Shot::Ready } else { Shot::Idle };
                },
            );
        }
        Shot::Idle => {
            // The renderer never drew the room: say so rather than hang.
            *shot = Shot::Taking;
            tracing::error!("the room was not drawn within {MAX_EXTRA_FRAMES} extra frames");
            commands.write_message(AppExit::error());
        }
        // The figure's pictures first, when asked for.
        Shot::Ready if figure_shots.is_some_and(|f| !f.done()) => {}
        Shot::Ready => {
            *shot = Shot::Taking;
            let path = state.screenshot.clone();
            let report = Arc::clone(&state.report);
            let shown = path.display().to_string();
            // The therapist's picture of the patient's view, in the same frame; the app ends
            // when every picture asked for is saved.
            let pending = Arc::new(std::sync::atomic::AtomicU8::new(1));
            let scripted = state.scripted;
            let done = |pending: Arc<std::sync::atomic::AtomicU8>| {
                move |_: On<'_, '_, ScreenshotCaptured>,
                      mut exit: MessageWriter<'_, AppExit>,
                      mut leave: MessageWriter<'_, haven_app::session::LeaveRequested>| {
                    if pending.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) == 1 {
                        if scripted {
                            // Leave the consult: the therapist's side keeps what the patient
                            // allowed, purges the rest, and the app ends.
                            leave.write(haven_app::session::LeaveRequested);
                        } else {
                            exit.write(AppExit::Success);
                        }
                    }
                }
            };
            if let (Some(mirror), Some(image)) = (
                &state.mirror_screenshot,
                mirror
                    .single()
                    .ok()
                    .and_then(bevy::camera::RenderTarget::as_image),
            ) {
                pending.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                commands
                    .spawn(Screenshot::image(image.clone()))
                    .observe(save_to_disk(mirror.clone()))
                    .observe(done(Arc::clone(&pending)));
            }
            commands
                .spawn(Screenshot::primary_window())
                .observe(save_to_disk(path))
                .observe(move |_: On<'_, '_, ScreenshotCaptured>| {
                    if let Ok(mut r) = report.lock() {
                        r.screenshot = Some(shown.clone());
                    }
                })
                .observe(done(pending));
        }
        Shot::Probing | Shot::Taking => {}
    }
}

/// The scripted therapy session's progress (`demo --therapy --headless --report`).
#[derive(Resource, Debug, Default)]
struct TherapyScript {
    step: u8,
    /// When the current step began, ms of the app's clock.
    since: u64,
}

impl TherapyScript {
    /// The last step: the report's share has reached the therapist's side.
    const DONE: u8 = 7;
    /// The whole script ends within this long, or the demo says why it stopped.
    const WITHIN_MS: u64 = 150_000;

    fn done(&self) -> bool {
        self.step >= Self::DONE
    }
}

/// The scripted therapy session, as the therapist's console would run it: the plan (FMS
/// every 30 s), heights proposed at 3 (the patient predicts, then accepts), an ask answered,
/// another answered, a third left unanswered, the intensity raised to 5 with an announced
/// gust (the patient takes 5 s in the safe room after it), the end once the unanswered ask has
/// run out and the patient is back, and the closing rating. Done when the report the patient
/// offered (with its "save") has arrived.
#[expect(
    clippy::too_many_arguments,
    reason = "one system: the script over the consult's state"
)]
fn run_a_therapy_session(
    time: Res<'_, Time<Real>>,
    figures: Res<'_, SessionFigures>,
    scenes: Res<'_, haven_app::scenes::Scenes>,
    therapy: Res<'_, haven_app::therapy::Therapy>,
    sharing: Res<'_, haven_app::sharing::Sharing>,
    mut script: ResMut<'_, TherapyScript>,
    mut ask: MessageWriter<'_, haven_app::therapy::AskRating>,
    mut out: MessageWriter<'_, haven_app::scenes::TherapistAction>,
    mut exit: MessageWriter<'_, AppExit>,
) {
    use haven_app::scenes::TherapistAction;
    use haven_app::therapy::AskRating;
    use haven_scenes::player::Phase;
    use haven_scenes::ratings::{Plan, Request, Scale, Why};
    use haven_scenes::record::Entry;
    use haven_scenes::{Command, Event, SceneId};
    let now = u64::try_from(time.elapsed().as_millis()).unwrap_or(u64::MAX);
    if script.done() {
        return;
    }
    if now > TherapyScript::WITHIN_MS {
        tracing::error!(
            step = script.step,
            "the scripted therapy session did not finish in time"
        );
        script.step = TherapyScript::DONE;
        exit.write(AppExit::error());
        return;
    }
    let record = therapy.record();
    let asked_answered = record
        .ratings()
        .iter()
        .filter(|r| r.why == Why::Demand && r.scale == Scale::Suds)
        .count();
    let waited = now.saturating_sub(script.since);
    let next = match script.step {
        0 if figures.connected.len() == 1 && figures.poses_received > 0 => {
            ask.write(AskRating(Request::Plan(Plan {
                fms_every_ms: Some(30_000),
                after_change: false,
                ..Plan::default()
            })));
            out.write(TherapistAction(Command::Propose {
                scene: SceneId::Heights,
                intensity: 3,
            }));
            true
        }
        1 if scenes.player.phase() == Phase::Running && waited >= 3_000 => {
            ask.write(AskRating(Request::Ask { scale: Scale::Suds }));
            true
        }
        2 | 3 if asked_answered >= usize::from(script.step - 1) && waited >= 2_000 => {
            ask.write(AskRating(Request::Ask { scale: Scale::Suds }));
            true
        }
        4 if waited >= 2_000 => {
            ask.write(AskRating(Request::Ask { scale: Scale::Fms }));
            out.write(TherapistAction(Command::SetIntensity {
                intensity: 5,
                ramp_ms: 3_000,
            }));
            out.write(TherapistAction(Command::Fire {
                event: Event::Gust,
                announce: true,
            }));
            true
        }
        5 if asked_answered >= 3
            && record
                .entries
                .iter()
                .any(|s| s.entry == Entry::LeftSafeRoom)
            && scenes.player.phase() == Phase::Running =>
        {
            out.write(TherapistAction(Command::End));
            true
        }
        6 if sharing
            .ledger
            .incoming()
            .any(|(_, e)| e.object.is_some() && e.terms.as_ref().is_some_and(|t| t.may_keep)) =>
        {
            true
        }
        _ => false,
    };
    if next {
        script.step += 1;
        script.since = now;
    }
}
