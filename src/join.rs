//! `haven join`: take part in a consult with an invite, in the room window (flat, or the
//! headset with `--xr`). `--headless` is the participant without a window: it sends a voice
//! (WAV, synthetic or silence) and scripted head and hand motion, plays what it hears into a
//! WAV file or the speakers, and prints its figures as JSON (tests, benches, the demo's
//! simulated patient).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bevy::app::AppExit;
use haven_proto::Redacted;
use haven_proto::control::{AvatarChoice, Control};
use haven_proto::signal::{PeerId, Role};
use haven_session::{NetworkPolicy, Session, SessionConfig, SessionEvent};
use haven_share::audit::AuditWriter;
use haven_share::ledger::{Effect, ShareLedger};
use haven_signal::clinic::Identity;
use haven_voice::FrameDuration;
use haven_voice::device::{Microphone, Speakers};
use haven_voice::engine::EngineOptions;
use haven_voice::sink::{NullSink, Sink, WavSink};
use haven_voice::source::{Phrases, Silent, Source, Synthetic, WavSource};
use haven_voice::thread::{VoiceOptions, VoiceThread};
use serde::Serialize;
use tracing::{info, warn};

/// Flags of `haven join`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The invite (from `haven invite`).
    invite: String,
    /// Run without a window: scripted motion, figures as JSON on stdout.
    #[arg(long)]
    headless: bool,
    /// The voice to send: `mic` (the default microphone, with echo cancellation), a WAV file
    /// (48 kHz, 16-bit, mono), `synthetic`, `phrases` (synthetic speech with pauses), or `silent`. Default: `mic` in the window (silence
    /// if there is none), `synthetic` headless.
    #[arg(long)]
    voice_in: Option<String>,
    #[command(flatten)]
    front: crate::room::FrontEndArgs,
    #[command(flatten)]
    share: crate::share::ShareArgs,
    /// Append this side's audit log (shares, views, revokes, purges; no contents) to a file.
    #[arg(long)]
    audit: Option<PathBuf>,
    /// Share what this patient shares with each clinician or therapist who joins after this
    /// patient (those already in the room get it anyway; in the window the patient is asked;
    /// without this flag the headless patient says no).
    #[arg(long, requires = "headless")]
    share_with_newcomers: bool,
    /// Accept every exposure scene a therapist proposes (the demo's simulated patient; without
    /// it the headless patient declines them: a script cannot consent).
    #[arg(long, requires = "headless")]
    accept_scenes: bool,
    /// The scripted patient's SUDS answers, in the order asked, e.g. `40,55,-,30` (`-` leaves
    /// that one unanswered); with it a proposal is accepted once its prediction is answered.
    #[arg(long, requires = "accept_scenes", value_parser = crate::therapy::parse_answers)]
    suds_answers: Option<crate::therapy::Answers>,
    /// The scripted patient's FMS answers, in the order asked.
    #[arg(long, requires = "accept_scenes", value_parser = crate::therapy::parse_answers)]
    fms_answers: Option<crate::therapy::Answers>,
    /// The scripted patient goes to the safe room after the first event, for this long.
    #[arg(long, requires = "accept_scenes", value_parser = humantime::parse_duration)]
    safe_room_after_event: Option<Duration>,
    /// The patient's therapy report goes into this folder (on this machine) after each
    /// scene's closing rating: timeline.json, fhir-bundle.json, suds-chart.png,
    /// gaze-heatmap.png.
    #[arg(long)]
    report: Option<PathBuf>,
    /// The patient says "save": the therapist's side may keep a copy of the report (its FHIR
    /// Bundle, shared with a Consent that allows keeping). Without it, nothing of the report
    /// reaches the therapist's disk.
    #[arg(long, requires = "report")]
    save_report: bool,
    /// The patient's fear ladder (JSON, on this machine): read at the start, saved when it
    /// changes, brought to the next consult.
    #[arg(long)]
    ladder: Option<PathBuf>,
    /// The patient's own words for 0, 25, 50, 75 and 100 on the SUDS slider, comma-separated
    /// (shown on this side only).
    #[arg(long, value_parser = parse_anchors)]
    anchors: Option<[String; 5]>,
    /// A scripted therapist: propose this scene to the patient once connected, e.g.
    /// `heights:6` (scene names in lower case, spaces as dashes), and keep the heartbeat.
    #[arg(long, requires = "headless", value_parser = crate::therapy::parse_proposal)]
    propose: Option<(haven_scenes::SceneId, u8)>,
    /// Take every share back after this long (trials and tests of revocation), e.g. 5s.
    #[arg(long, requires = "headless", value_parser = humantime::parse_duration)]
    revoke_after: Option<Duration>,
    /// Where the clinic keeps shares the patient allowed it to keep (with Consent and
    /// Provenance). Without it nothing shared is ever written to disk.
    #[arg(long, conflicts_with = "headless")]
    keep_dir: Option<PathBuf>,
    /// Where what is heard (all peers mixed) goes: `speakers`, or a WAV file to write.
    #[arg(long)]
    voice_out: Option<PathBuf>,
    /// How long to stay, e.g. 10s (default: until Ctrl-C, or the window is closed).
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// In the window: save a picture of it to this PNG at the end of --duration, then leave.
    #[arg(long, requires = "duration", conflicts_with = "headless")]
    screenshot: Option<PathBuf>,
    /// Opus frame length in ms: 10 (default) or 20.
    #[arg(long = "frame-ms", default_value = "10", value_parser = parse_frame)]
    frame: FrameDuration,
    /// Trust the certificate authorities in this PEM file (repeatable) as well as the
    /// system's, for a server with a real certificate (an invite from a self-signed server
    /// pins its certificate and needs none).
    #[arg(long = "ca")]
    ca: Vec<PathBuf>,
    /// This clinician's or therapist's clinic credential (`haven clinic credential`): proved
    /// to every peer on each connection, so a patient's app can show who vouches for them.
    #[arg(long)]
    identity: Option<PathBuf>,
    /// Use loopback addresses only (tests, one-machine trials).
    #[arg(long)]
    loopback_only: bool,
    /// Reach the others through the TURN relay the server names, never directly: they never
    /// learn this machine's addresses (and tests prove the relay carries the consult).
    #[arg(long)]
    relay_only: bool,
    /// Send no head and hand motion.
    #[arg(long)]
    still: bool,
    /// Hold the head still in the seat, looking the way a window's view starts (the hands at
    /// rest): renders from this pose compare with a window's own view.
    #[arg(long, conflicts_with = "still")]
    hold_seat: bool,
    /// Look about the scene (down over the edge, far to the side, ahead, on a 20 s cycle):
    /// the therapy demo's scripted patient, whose avoidance figures then mean something.
    #[arg(long, requires = "headless", conflicts_with_all = ["still", "hold_seat"])]
    look_about: bool,
    /// With --hold-seat: look this many degrees further down (at the table, the floor).
    #[arg(long, requires = "hold_seat", default_value_t = 0.0)]
    look_down: f32,
    /// Show this name over the avatar; without it the avatar is anonymous (no name, a look
    /// drawn at random for this session). In a group room the other patients see it too.
    #[arg(long, conflicts_with = "anonymous")]
    name: Option<String>,
    /// With --name: the avatar's colour, as #RRGGBB.
    #[arg(long, requires = "name", value_parser = parse_colour)]
    colour: Option<[u8; 3]>,
    /// With --name: how your figure looks, e.g. `skin=medium,hair=black,clothing=#336699`.
    /// Skin: light, fair, medium, olive, brown, deep; hair: black, brown, auburn, blond, grey,
    /// white, none; clothing: navy, teal, green, plum, grey, rust; any of them as #RRGGBB.
    /// It can be changed in the window. Anonymous figures have none.
    #[arg(long, requires = "name", value_parser = parse_look)]
    look: Option<haven_proto::control::Look>,
    /// Join as an anonymous patient: no name, a random look, and a disguised voice.
    #[arg(long)]
    anonymous: bool,
    /// The anonymous look's seed instead of a random one (the demo's renders, which test a
    /// figure's colours against the room's, draw the same figure every time).
    #[arg(long, hide = true, conflicts_with = "name")]
    anonymous_look: Option<u32>,
    /// A patient joining a group room (an invite made with `--group`) has read the notice
    /// that the clinic's media server forwards, and so can hear, everyone's voice; without
    /// it the notice is shown and the patient asked (refused where no one can answer).
    #[arg(long)]
    group_ok: bool,
    /// With --anonymous: send the natural voice after all.
    #[arg(long, requires = "anonymous")]
    no_disguise: bool,
}

#[derive(Debug, Default, Serialize)]
struct JoinFigures {
    seconds: f64,
    peers_seen: usize,
    poses_sent: u64,
    poses_received: u64,
    audio_frames_sent: u64,
    audio_frames_received: u64,
    audio_frames_played: u64,
    audio_frames_concealed: u64,
    controls_received: u64,
    refused: u64,
    shares_sent: u64,
    objects_delivered: u64,
    /// Objects that arrived whole from others (what a patient shared, on this side).
    objects_received: u64,
    shares_viewed: u64,
    shares_purged: u64,
    shares_revoked: u64,
    /// What each clinician's or therapist's credential said ("Verified by …" or why not).
    verdicts: Vec<String>,
    /// The safety words of each connection, as "peer N: six words".
    safety_words: Vec<String>,
    /// Exposure scenes this patient ran, by name.
    scenes_started: Vec<String>,
    /// Scene commands refused (not a verified therapist, out of range, ...).
    scene_commands_refused: u64,
    /// Therapy reports written on this machine.
    reports_written: u32,
    /// Ratings the scripted patient answered.
    ratings_answered: u32,
    /// The path of each connection, as "peer N: LOCAL/REMOTE" (ICE's candidate kinds, e.g.
    /// `relay/relay`), the last time it was seen connected.
    paths: Vec<String>,
    /// Why the TURN relay could not be used, if it could not.
    relay_unavailable: Option<String>,
    /// A group room: this side published to the media server (times, counting reconnects).
    media_server_joined: u32,
    /// Why a group room's media server was lost, the last time it was.
    media_server_lost: Option<String>,
    /// Peers this side heard over 100 voice packets from (the most its figures showed).
    voices_heard: usize,
    /// Peers whose avatar (named or anonymous) arrived.
    avatars_seen: usize,
    /// A group room's patient: the chair of the ring the server gave it.
    group_chair: Option<u8>,
}

fn open_source(voice_in: &str) -> anyhow::Result<Box<dyn Source>> {
    Ok(match voice_in {
        "synthetic" => Box::new(Synthetic::voice_like(rand_seed())),
        // Speech in phrases of 2 s with 1 s pauses (the demo's simulated participant).
        "phrases" => Box::new(Phrases::new(
            Synthetic::voice_like(rand_seed()),
            Duration::from_secs(2),
            Duration::from_secs(1),
        )),
        "silent" => Box::new(Silent),
        "mic" => Box::new(Microphone::open().context("--voice-in mic")?),
        path => {
            Box::new(WavSource::open(path.as_ref()).with_context(|| format!("--voice-in {path}"))?)
        }
    })
}

fn open_sink(voice_out: Option<&std::path::Path>) -> anyhow::Result<Option<Box<dyn Sink>>> {
    Ok(match voice_out {
        Some(path) if path.as_os_str() == "speakers" => {
            Some(Box::new(Speakers::open().context("--voice-out speakers")?))
        }
        Some(path) => {
            Some(Box::new(WavSink::create(path).with_context(|| {
                format!("--voice-out {}", path.display())
            })?))
        }
        None => None,
    })
}

fn avatar_of(args: &Args) -> AvatarChoice {
    match &args.name {
        Some(name) => AvatarChoice::Named {
            name: Redacted::new(name.clone()),
            colour: args.colour.unwrap_or([0x4a, 0x90, 0xc2]),
        },
        None => match args.anonymous_look {
            Some(look) => AvatarChoice::Anonymous { look },
            None => haven_app::avatar::LocalAvatar::anonymous().0,
        },
    }
}

fn parse_anchors(s: &str) -> Result<[String; 5], String> {
    let words: Vec<String> = s.split(',').map(|w| w.trim().to_owned()).collect();
    <[String; 5]>::try_from(words)
        .map_err(|_| "five words or phrases, for 0, 25, 50, 75 and 100, comma-separated".to_owned())
}

fn parse_look(s: &str) -> Result<haven_proto::control::Look, String> {
    haven_app::avatar::look::parse_look(s).map_err(|e| e.to_string())
}

/// The named participant's look: `--look`, else the default; none for an anonymous one.
fn look_of(args: &Args) -> Option<haven_proto::control::Look> {
    args.name
        .as_ref()
        .map(|_| args.look.unwrap_or(haven_app::avatar::look::DEFAULT_LOOK))
}

fn parse_colour(s: &str) -> Result<[u8; 3], String> {
    let hex = s.trim().trim_start_matches('#');
    if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err("a colour is #RRGGBB, e.g. #3c8d7f".to_owned());
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|e| e.to_string());
    Ok([byte(0)?, byte(2)?, byte(4)?])
}

/// What a patient is told before joining a group room.
pub(crate) const GROUP_NOTICE: &str = "This is a group room. Everyone's voice and movements go \
through the clinic's media server, which passes them on to the others: that server can hear \
what is said. What you share (records, images) does not go through it: it goes straight to \
the clinicians and therapists, never to the other patients. The others see you as an \
anonymous figure unless you give a name (a name goes through the media server too).";

/// A patient's consent to a group room's media server, before joining: given with
/// `--group-ok`, or asked on the terminal.
#[expect(
    clippy::print_stderr,
    reason = "the notice is for the person at the terminal"
)]
fn group_consent(args: &Args) -> anyhow::Result<()> {
    let invite = haven_proto::invite::parse(args.invite.trim())?.invite;
    if invite.group.is_none() || invite.role != Role::Patient {
        return Ok(());
    }
    eprintln!("{GROUP_NOTICE}");
    if args.group_ok {
        return Ok(());
    }
    use std::io::IsTerminal as _;
    if !std::io::stdin().is_terminal() {
        bail!(
            "a group room's notice needs an answer: run again with --group-ok once the patient has read it"
        );
    }
    eprint!("Join the group? [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
        bail!("not joined: the patient said no to the group room");
    }
    Ok(())
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    group_consent(&args)?;
    let network = if args.loopback_only {
        NetworkPolicy::LoopbackOnly
    } else {
        NetworkPolicy::Any
    };
    let ca: Vec<&std::path::Path> = args.ca.iter().map(PathBuf::as_path).collect();
    let mut config = SessionConfig::from_invite_with(args.invite.trim(), network, &ca)?;
    config.relay_only = args.relay_only;
    if let Some(path) = &args.identity {
        config.identity = Some(Arc::new(
            Identity::load(path).with_context(|| format!("--identity {}", path.display()))?,
        ));
    }
    if !args.headless {
        return window(args, config);
    }
    let source = open_source(args.voice_in.as_deref().unwrap_or("synthetic"))?;
    let sink = open_sink(args.voice_out.as_deref())?.unwrap_or_else(|| Box::new(NullSink));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let figures = runtime.block_on(participate(config, args.frame, source, sink, &args))?;
    report(&figures)
}

/// The room window, joined.
fn window(args: Args, config: SessionConfig) -> anyhow::Result<()> {
    let role = haven_proto::invite::parse(args.invite.trim())
        .context("reading the invite")?
        .invite
        .role;
    let source = args.voice_in.as_deref().map(open_source).transpose()?;
    let sink = open_sink(args.voice_out.as_deref())?;
    let picker = (!args.share.share.is_empty())
        .then(|| crate::share::picker(&args.share, args.anonymous))
        .transpose()?;
    let mut app = crate::room::build(crate::room::RoomOptions {
        config,
        role,
        avatar: avatar_of(&args),
        look: look_of(&args),
        front: args.front,
        voice: EngineOptions {
            frame: args.frame,
            echo_cancel: source.is_none() || args.voice_in.as_deref() == Some("mic"),
            disguise: args.anonymous && !args.no_disguise,
        },
        source,
        sink,
        title: "Haven — consult room".to_owned(),
        picker,
        audit: args.audit.clone(),
        keep_dir: args.keep_dir.clone(),
    })?;
    app.insert_resource(haven_app::therapy::TherapySettings {
        report_dir: args.report.clone(),
        ladder_file: args.ladder.clone(),
        save_for_therapist: args.save_report,
        anchors: args.anchors.clone(),
    });
    if let Some(stay) = args.duration {
        app.insert_resource(Stay {
            until: stay,
            screenshot: args.screenshot.clone(),
            taken: Arc::default(),
        })
        .add_systems(bevy::app::Update, leave_when_done);
    }
    match app.run() {
        AppExit::Success => Ok(()),
        AppExit::Error(code) => bail!("the room window ended with an error ({code})"),
    }
}

/// The window's `--duration` (and `--screenshot`).
#[derive(bevy::prelude::Resource)]
struct Stay {
    until: Duration,
    screenshot: Option<PathBuf>,
    /// The picture was asked for (`Some`), and saved (`Some(true)`).
    taken: Arc<std::sync::Mutex<Option<bool>>>,
}

/// At the end of the stay: the picture when asked for (once saved, the window closes), else
/// the window closes.
fn leave_when_done(
    time: bevy::prelude::Res<'_, bevy::prelude::Time<bevy::prelude::Real>>,
    stay: bevy::prelude::Res<'_, Stay>,
    mut commands: bevy::prelude::Commands<'_, '_>,
) {
    use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};
    if time.elapsed() < stay.until {
        return;
    }
    let Some(path) = &stay.screenshot else {
        commands.write_message(AppExit::Success);
        return;
    };
    let mut taken = stay.taken.lock().unwrap_or_else(|p| p.into_inner());
    match *taken {
        None => {
            *taken = Some(false);
            let done = Arc::clone(&stay.taken);
            commands
                .spawn(Screenshot::primary_window())
                .observe(save_to_disk(path.clone()))
                .observe(move |_: bevy::prelude::On<'_, '_, ScreenshotCaptured>| {
                    *done.lock().unwrap_or_else(|p| p.into_inner()) = Some(true);
                });
        }
        Some(true) => {
            commands.write_message(AppExit::Success);
        }
        Some(false) => {}
    }
}

fn parse_frame(s: &str) -> Result<FrameDuration, String> {
    match s {
        "10" => Ok(FrameDuration::Ms10),
        "20" => Ok(FrameDuration::Ms20),
        _ => Err("Opus frames here are 10 or 20 ms".to_owned()),
    }
}

fn rand_seed() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.subsec_nanos())
}

#[expect(clippy::print_stdout, reason = "the figures are the command's output")]
fn report(figures: &JoinFigures) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(figures)?);
    Ok(())
}

async fn participate(
    config: SessionConfig,
    frame: FrameDuration,
    source: Box<dyn Source>,
    sink: Box<dyn Sink>,
    args: &Args,
) -> anyhow::Result<JoinFigures> {
    let avatar = avatar_of(args);
    // The share protocol is the ledger's, as in the room app: offers go to each clinician as
    // it connects; what a patient shares with us is held in memory and purged at the end.
    let mut shares = ShareLedger::new(false);
    // An invite that names the clinic: only its verified clinicians get what is shared.
    if config.clinic.is_some() {
        shares.require_verified();
    }
    for offer in crate::share::offers(&args.share, args.anonymous)? {
        shares.offer(offer);
    }
    let invited_as = haven_proto::invite::parse(args.invite.trim())?.invite.role;
    let mut audit = AuditWriter::new(args.audit.clone(), invited_as);
    let mut roles: HashMap<PeerId, Role> = HashMap::new();
    let mut revoked = false;
    let mut own_role: Option<Role> = None;
    let group_size = config.group;
    let script = crate::therapy::PatientScript {
        suds: args.suds_answers.clone().unwrap_or_default().0.into(),
        fms: args.fms_answers.clone().unwrap_or_default().0.into(),
        safe_room_after_event: args
            .safe_room_after_event
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
    };
    let report_to = args.report.clone().map(|dir| crate::therapy::ReportTo {
        dir,
        save: args.save_report,
        subject: match &avatar {
            AvatarChoice::Named { name, .. } => haven_report::Subject::Named(name.expose().clone()),
            AvatarChoice::Anonymous { .. } => haven_report::Subject::Anonymous,
        },
    });
    let mut scene = crate::therapy::HeadlessScene::new(args.accept_scenes, script, report_to);
    let mut therapist = crate::therapy::HeadlessTherapist::new(args.propose);
    let (mut session, link) = Session::start_with_voice(config)?;
    // Voice on its own thread and clock (haven_voice's runner, as in the room app); it starts
    // capturing once someone is there to hear it (a WAV starts playing then).
    let voice = VoiceThread::spawn(
        VoiceOptions {
            engine: EngineOptions {
                frame,
                // Echo only comes back through a microphone; files and synthetic voices have
                // no path.
                echo_cancel: args.voice_in.as_deref() == Some("mic"),
                disguise: args.anonymous && !args.no_disguise,
            },
            live: false,
        },
        source,
        sink,
        link,
    )?;
    // The scene's sound plays under the voices (silent unless a scene runs).
    voice.set_ambience(Box::new(haven_app::scenes::sound::SceneAmbience::new(
        scene.sound.clone(),
    )));
    let mut figures = JoinFigures::default();
    let mut seen = std::collections::HashSet::new();
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(frame.millis()));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut connected = 0usize;
    let mut seq = 0u16;
    let mut ticks = 0u64;
    let mut speaking = false;
    let mut paths: std::collections::BTreeMap<PeerId, String> = Default::default();
    let mut voices: HashMap<PeerId, u64> = HashMap::new();
    let mut avatars = std::collections::HashSet::new();
    // A group room's media server lost: a script has no one to press F5, so it tries again
    // a second after each loss (for as long as it stays).
    let mut media_retry: Option<Instant> = None;
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {}
        }
        if args.duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        if media_retry.is_some_and(|at| Instant::now() >= at) {
            media_retry = None;
            info!("connecting to the group's media server again");
            session.reconnect_media();
        }
        while let Some(event) = session.try_event() {
            match event {
                SessionEvent::Joined {
                    me,
                    room,
                    peers,
                    chair,
                } => {
                    info!(%room, me = %me.id, role = %me.role, already_here = peers.len(), "joined");
                    own_role = Some(me.role);
                    // As the window seats a group room's people: in the chair the server gave
                    // (none in a mesh).
                    figures.group_chair = chair;
                    audit.set_role(me.role);
                    roles.extend(peers.iter().map(|p| (p.id, p.role)));
                    // What this patient shares goes to the clinicians already in the room;
                    // one who joins later is a newcomer (`--share-with-newcomers`).
                    for p in peers.iter().filter(|p| p.role != Role::Patient) {
                        shares.admit(p.id);
                    }
                }
                SessionEvent::Reseated { chair } => {
                    info!(chair, "the server gave this side another chair");
                    figures.group_chair = Some(chair);
                }
                SessionEvent::PeerJoined(info) => {
                    roles.insert(info.id, info.role);
                }
                SessionEvent::ObjectSent { to, id } => {
                    figures.objects_delivered += 1;
                    shares.delivered(to, id);
                }
                SessionEvent::ObjectReceived {
                    from,
                    manifest,
                    data,
                } => {
                    figures.objects_received += 1;
                    shares.arrived(
                        from,
                        manifest.id,
                        manifest.kind,
                        Redacted::new(Arc::new(data.into_inner())),
                    );
                }
                SessionEvent::ObjectProgress {
                    from,
                    id,
                    received,
                    size,
                } => {
                    shares.progress(from, id, received, size);
                }
                SessionEvent::ObjectCancelled { peer, id, .. } => shares.cancelled(peer, id),
                SessionEvent::Failed(why) => bail!("the session ended: {why}"),
                // The session logs it; the figures say it.
                SessionEvent::RelayUnavailable { why } => figures.relay_unavailable = Some(why),
                SessionEvent::MediaServerJoined => {
                    info!("publishing through the group's media server");
                    figures.media_server_joined += 1;
                }
                // The session logs it; the figures say it.
                SessionEvent::MediaServerLost { why } => {
                    figures.media_server_lost = Some(why);
                    media_retry = Some(Instant::now() + Duration::from_secs(1));
                }
                SessionEvent::PeerConnected(p) => {
                    connected += 1;
                    voice.set_live(true);
                    seen.insert(p);
                    info!(peer = %p, "connected");
                    session.send_control(&Control::Avatar(avatar.clone()));
                    if let Some(look) = look_of(args) {
                        session.send_control(&Control::Look(look));
                    }
                    // What the patient shares goes to each clinician as it arrives.
                    if let Some(&role) = roles.get(&p) {
                        shares.peer_connected(p, role);
                    }
                    therapist.connected(p, roles.get(&p).copied());
                }
                SessionEvent::PeerLeft(p) => {
                    scene.left(p);
                    therapist.left(p);
                    connected = connected.saturating_sub(1);
                    shares.peer_left(p);
                    voice.forget(p);
                    voice.set_live(connected > 0);
                    info!(peer = %p, "left");
                }
                SessionEvent::PeerVerified { peer, verdict } => {
                    match &verdict {
                        Ok(v) => info!(%peer, clinic = %v.clinic, "verified by the clinic"),
                        Err(why) => warn!(%peer, %why, "not verified"),
                    }
                    shares.peer_verified(peer, verdict.is_ok());
                    if roles.get(&peer) == Some(&Role::Therapist) {
                        let trusted = matches!(
                            verdict,
                            Ok(_) | Err(haven_signal::clinic::NotVerified::NoClinic)
                        );
                        scene.therapist(peer, trusted);
                    }
                    figures.verdicts.push(match verdict {
                        Ok(v) => v.to_string(),
                        Err(why) => format!("not verified: {why}"),
                    });
                }
                SessionEvent::SafetyWords { peer, words } => {
                    figures.safety_words.push(format!("peer {peer}: {words}"));
                }
                SessionEvent::PeerReconnecting(p) => info!(peer = %p, "reconnecting"),
                SessionEvent::PeerLost(p) => warn!(
                    peer = %p,
                    "the connection could not be rebuilt; check the network (Wi-Fi, VPN, firewall)"
                ),
                SessionEvent::PeerReconnected(p) => {
                    info!(peer = %p, "reconnected");
                    shares.peer_reconnected(p);
                }
                SessionEvent::Pose { .. } => figures.poses_received += 1,
                SessionEvent::Control {
                    from,
                    role,
                    message,
                } => {
                    figures.controls_received += 1;
                    if own_role == Some(Role::Patient) {
                        scene.on_control(from, role, &message, &mut audit);
                    }
                    match message {
                        Control::Avatar(_) => {
                            avatars.insert(from);
                        }
                        Control::Viewed { object } => {
                            figures.shares_viewed += 1;
                            shares.acknowledged(from, object, true);
                        }
                        Control::Purged { object } => {
                            figures.shares_purged += 1;
                            shares.acknowledged(from, object, false);
                        }
                        Control::Shared(terms) => shares.announced(from, terms),
                        Control::Revoked { object } => shares.revoked(from, object),
                        Control::AuditKey { key } => shares.peer_audit_key(from, &key),
                        _ => {}
                    }
                }
                SessionEvent::Refused {
                    from,
                    channel,
                    why,
                    forbidden,
                } => {
                    figures.refused += 1;
                    if haven_session::worth_logging(figures.refused) {
                        warn!(peer = %from, channel, why, refused = figures.refused, "refused a message");
                    }
                    if let Some(message) = forbidden
                        && own_role == Some(Role::Patient)
                    {
                        scene.refused_by_session(from, &message, &mut audit);
                    }
                }
                _ => {}
            }
        }
        if !revoked && args.revoke_after.is_some_and(|d| started.elapsed() >= d) {
            revoked = true;
            // Whatever of it is still on its way stops; what arrived is purged on the
            // clinician's side when the revoke arrives.
            for index in 0..shares.outgoing().len() {
                let share = &shares.outgoing()[index];
                if !share.revoked {
                    figures.shares_revoked += share.sent_to.len() as u64;
                }
                shares.revoke(index);
            }
        }
        shares.tick(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        );
        apply_share_effects(
            &mut shares,
            &session,
            &mut audit,
            &mut figures,
            args.share_with_newcomers,
        );
        if own_role == Some(Role::Patient)
            && let Some(offer) = scene.step(&session)
        {
            shares.offer(offer);
        }
        if own_role == Some(Role::Therapist) {
            therapist.step(&session);
        }
        // The speaking indicator others show for us.
        if let Some(now) = voice.try_snapshot().map(|v| v.local_speaking)
            && now != speaking
            && connected > 0
        {
            speaking = now;
            session.send_control(&Control::Speaking { speaking });
        }
        // Scripted motion at half the frame rate (50 Hz at 10 ms frames).
        ticks += 1;
        // Each connection's path, about once a second.
        if connected > 0 && ticks.is_multiple_of(100) {
            for stats in session.stats().await {
                if let Some(peer) = stats.peer {
                    let most = voices.entry(peer).or_default();
                    *most = (*most).max(stats.audio_packets_received);
                }
                if let (Some(peer), Some(local), Some(remote)) =
                    (stats.peer, stats.local_path, stats.remote_path)
                {
                    paths.insert(peer, format!("{}/{}", local.as_str(), remote.as_str()));
                }
            }
        }
        if !args.still && connected > 0 && ticks.is_multiple_of(2) {
            let t = started.elapsed().as_secs_f32();
            let sent_at = (started.elapsed().as_millis() % 65_536) as u16;
            let pose = if args.hold_seat {
                crate::sim::held_in_seat(args.look_down, seq, sent_at)
            } else if args.look_about {
                crate::sim::looking_about(t, seq, sent_at)
            } else {
                crate::sim::seated_pose(t, seq, sent_at)
            };
            if own_role == Some(Role::Patient) {
                scene.head(pose.head.orientation);
            }
            // A scripted clinician or therapist sits across the table from the patient; in a
            // group room, each in the chair the server gave: the head's, or one of the ring's.
            let staff = own_role.is_some_and(|r| r != Role::Patient);
            session.send_pose(&match figures.group_chair.zip(group_size) {
                Some((chair, size)) if !haven_app::layout::is_head_chair(chair, size) => {
                    crate::sim::in_group_seat(pose, usize::from(chair))
                }
                Some(_) => crate::sim::across_the_table(pose),
                None if staff => crate::sim::across_the_table(pose),
                None => pose,
            });
            seq = seq.wrapping_add(1);
            figures.poses_sent += 1;
        }
    }
    figures.voices_heard = voices.values().filter(|&&n| n > 100).count();
    figures.avatars_seen = avatars.len();
    figures.paths = paths
        .into_iter()
        .map(|(peer, path)| format!("peer {peer}: {path}"))
        .collect();
    let heard = voice.stop();
    figures.audio_frames_sent = heard.frames_sent;
    figures.audio_frames_received = heard.frames_received;
    figures.audio_frames_played = heard.frames_played;
    figures.audio_frames_concealed = heard.frames_concealed;
    // The consult ends for us: what was shared with us is purged, and each patient told.
    shares.end_of_consult();
    apply_share_effects(
        &mut shares,
        &session,
        &mut audit,
        &mut figures,
        args.share_with_newcomers,
    );
    // Leaving: the report as it stands, on this machine (nothing offered: the consult is over).
    scene.leaving();
    figures.scenes_started = std::mem::take(&mut scene.scenes_started);
    figures.scene_commands_refused = scene.refused;
    figures.reports_written = scene.reports_written;
    figures.ratings_answered = scene.ratings_answered;
    figures.seconds = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    figures.peers_seen = seen.len();
    session.leave();
    Ok(figures)
}

/// Applies the share ledger's effects for the participant without a window: sends go to the
/// session, audit entries to the log; what it is shown it "sees" at once (it is a scripted
/// stand-in with no screen), and it keeps nothing.
fn apply_share_effects(
    shares: &mut ShareLedger,
    session: &Session,
    audit: &mut AuditWriter,
    figures: &mut JoinFigures,
    share_with_newcomers: bool,
) {
    // Seeing a share yields more effects (the view said and audited): bounded rounds.
    for _ in 0..4 {
        let effects: Vec<Effect> = shares.drain_effects().collect();
        if effects.is_empty() {
            return;
        }
        for effect in effects {
            match effect {
                Effect::SendObject {
                    to,
                    object,
                    kind,
                    data,
                } => {
                    session.send_object(to, object, kind, Arc::clone(data.expose()));
                    figures.shares_sent += 1;
                }
                Effect::CancelObject { to, object } => session.cancel_object(to, object),
                Effect::AnnounceAuditKey(to) => {
                    if let Some(key) = audit.public_key() {
                        session.send_control_to(to, &Control::AuditKey { key: key.to_vec() });
                    }
                }
                Effect::Send { to, message } => session.send_control_to(to, &message),
                Effect::Audit {
                    action,
                    object,
                    digest,
                } => audit.record(action, &object, &digest),
                Effect::Keep { object, data, .. } => {
                    let digest = haven_share::audit::object_digest(data.expose());
                    audit.record(haven_share::audit::Action::Purge, &object, &digest);
                }
                Effect::Show { key, .. } => shares.shown(key),
                Effect::Purge(_) => {}
                Effect::Expired(_) => info!("a share's time ran out: it was removed"),
                Effect::AskAboutNewcomer(peer) if share_with_newcomers => shares.share_with(peer),
                Effect::AskAboutNewcomer(peer) => {
                    info!(%peer, "a clinician joined; what is shared is not shared with them (no --share-with-newcomers)");
                    shares.decline(peer);
                }
                // Without a patient to ask, an unverified clinician gets nothing.
                Effect::AskAboutUnverified(peer) => {
                    warn!(%peer, "not verified by the patient's clinic: nothing is shared with them");
                }
            }
        }
    }
}
