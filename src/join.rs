//! `haven join`: take part in a consult with an invite. Until the room app lands, this is the
//! headless participant: it sends a voice (WAV, synthetic or silence) and scripted head and hand
//! motion, plays what it hears into a WAV file, and prints its figures as JSON.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use haven_proto::Redacted;
use haven_proto::control::{AvatarChoice, Control};
use haven_proto::signal::PeerId;
use haven_session::{NetworkPolicy, Session, SessionConfig, SessionEvent};
use haven_voice::FrameDuration;
use haven_voice::codec::VoiceEncoder;
use haven_voice::device::{Microphone, Speakers};
use haven_voice::disguise::{DEFAULT_SEMITONES, Disguise};
use haven_voice::echo::{AEC_FRAME, EchoCanceller};
use haven_voice::remote::{RemoteVoice, mix_into};
use haven_voice::sink::{NullSink, Sink, WavSink};
use haven_voice::source::{Silent, Source, Synthetic, WavSource};
use serde::Serialize;
use tracing::{info, warn};

/// The device round trip (output buffer + input buffer) the echo canceller starts from; it
/// refines its own estimate.
const MIC_ROUND_TRIP_MS: i32 = 40;

/// Flags of `haven join`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The invite (from `haven invite`).
    invite: String,
    /// Run without a window. Required for now: the room window arrives with the room app.
    #[arg(long)]
    headless: bool,
    /// The voice to send: `mic` (the default microphone, with echo cancellation), a WAV file
    /// (48 kHz, 16-bit, mono), `synthetic`, or `silent`.
    #[arg(long, default_value = "synthetic")]
    voice_in: String,
    /// Where what is heard (all peers mixed) goes: `speakers`, or a WAV file to write.
    #[arg(long)]
    voice_out: Option<PathBuf>,
    /// How long to stay, e.g. 10s (default: until Ctrl-C).
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Opus frame length in ms: 10 (default) or 20.
    #[arg(long = "frame-ms", default_value = "10", value_parser = parse_frame)]
    frame: FrameDuration,
    /// Use loopback addresses only (tests, one-machine trials).
    #[arg(long)]
    loopback_only: bool,
    /// Send no head and hand motion.
    #[arg(long)]
    still: bool,
    /// Show this name over the avatar; without it the avatar is anonymous (no name, a look
    /// drawn at random for this session).
    #[arg(long, conflicts_with = "anonymous")]
    name: Option<String>,
    /// Join as an anonymous patient: no name, a random look, and a disguised voice.
    #[arg(long)]
    anonymous: bool,
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
}

impl JoinFigures {
    fn count(&mut self, voice: &RemoteVoice) {
        let s = voice.stats();
        self.audio_frames_played += s.played + s.recovered;
        self.audio_frames_concealed += s.concealed;
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    if !args.headless {
        bail!(
            "the room window arrives with the room app; run `haven join --headless INVITE` for now"
        );
    }
    let mut source: Box<dyn Source> = match args.voice_in.as_str() {
        "synthetic" => Box::new(Synthetic::voice_like(rand_seed())),
        "silent" => Box::new(Silent),
        "mic" => Box::new(Microphone::open().context("--voice-in mic")?),
        path => {
            Box::new(WavSource::open(path.as_ref()).with_context(|| format!("--voice-in {path}"))?)
        }
    };
    let mut sink: Box<dyn Sink> = match &args.voice_out {
        Some(path) if path.as_os_str() == "speakers" => {
            Box::new(Speakers::open().context("--voice-out speakers")?)
        }
        Some(path) => Box::new(
            WavSink::create(path).with_context(|| format!("--voice-out {}", path.display()))?,
        ),
        None => Box::new(NullSink),
    };
    let network = if args.loopback_only {
        NetworkPolicy::LoopbackOnly
    } else {
        NetworkPolicy::Any
    };
    let config = SessionConfig::from_invite(args.invite.trim(), network)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let figures = runtime.block_on(participate(
        config,
        args.frame,
        source.as_mut(),
        sink.as_mut(),
        &args,
    ))?;
    drop(sink);
    report(&figures)
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
    source: &mut dyn Source,
    sink: &mut dyn Sink,
    args: &Args,
) -> anyhow::Result<JoinFigures> {
    let avatar = match &args.name {
        Some(name) => AvatarChoice::Named {
            name: Redacted::new(name.clone()),
            colour: [0x4a, 0x90, 0xc2],
        },
        None => AvatarChoice::Anonymous { look: rand_seed() },
    };
    let mut session = Session::start(config)?;
    let mut encoder = VoiceEncoder::new(frame)?;
    // Echo only comes back through a microphone; files and synthetic voices have no echo path.
    let mut echo = (args.voice_in == "mic").then(EchoCanceller::new);
    let mut disguise =
        (args.anonymous && !args.no_disguise).then(|| Disguise::new(DEFAULT_SEMITONES));
    let mut voices: HashMap<PeerId, RemoteVoice> = HashMap::new();
    let mut figures = JoinFigures::default();
    let mut seen = std::collections::HashSet::new();
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(frame.millis()));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut connected = 0usize;
    let mut skipped = 0u16;
    let mut seq = 0u16;
    let mut ticks = 0u64;
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
        while let Some(event) = session.try_event() {
            match event {
                SessionEvent::Joined { me, room, peers } => {
                    info!(%room, me = %me.id, role = %me.role, already_here = peers.len(), "joined");
                }
                SessionEvent::Failed(why) => bail!("the session ended: {why}"),
                SessionEvent::PeerConnected(p) => {
                    connected += 1;
                    seen.insert(p);
                    info!(peer = %p, "connected");
                    session.send_control(&Control::Avatar(avatar.clone()));
                }
                SessionEvent::PeerLeft(p) => {
                    connected = connected.saturating_sub(1);
                    if let Some(voice) = voices.remove(&p) {
                        figures.count(&voice);
                    }
                    info!(peer = %p, "left");
                }
                SessionEvent::Pose { .. } => figures.poses_received += 1,
                SessionEvent::Control { .. } => figures.controls_received += 1,
                SessionEvent::Audio { from, packet } => {
                    figures.audio_frames_received += 1;
                    if let std::collections::hash_map::Entry::Vacant(slot) = voices.entry(from) {
                        slot.insert(RemoteVoice::new(frame)?);
                    }
                    let voice = voices.get_mut(&from).expect("inserted above");
                    let arrived = packet
                        .arrived
                        .saturating_duration_since(started)
                        .as_secs_f64()
                        * 1000.0;
                    voice.push(packet.timestamp, packet.payload, arrived);
                }
                SessionEvent::Refused { from, channel, why } => {
                    figures.refused += 1;
                    warn!(peer = %from, channel, why, "refused a message");
                }
                _ => {}
            }
        }
        // Capture → encode → send, once someone is there to hear it (a WAV starts playing
        // then); frames of DTX silence are skipped and counted.
        if connected > 0 {
            let mut pcm = source.next_frame(frame.samples());
            if let Some(echo) = echo.as_mut() {
                pcm = pcm
                    .chunks(AEC_FRAME)
                    .map(|chunk| echo.capture(chunk, MIC_ROUND_TRIP_MS))
                    .collect::<Result<Vec<_>, _>>()?
                    .concat();
            }
            if let Some(disguise) = disguise.as_mut() {
                pcm = disguise.process(&pcm);
            }
            let packet = encoder.encode(&pcm)?;
            if encoder.in_dtx() && skipped < 40 {
                skipped += 1;
            } else {
                session.send_audio(packet, Duration::from_millis(frame.millis()), skipped);
                skipped = 0;
                figures.audio_frames_sent += 1;
            }
        }
        // Scripted motion at half the frame rate (50 Hz at 10 ms frames).
        ticks += 1;
        if !args.still && connected > 0 && ticks.is_multiple_of(2) {
            let t = started.elapsed().as_secs_f32();
            session.send_pose(&crate::sim::seated_pose(
                t,
                seq,
                (started.elapsed().as_millis() % 65_536) as u16,
            ));
            seq = seq.wrapping_add(1);
            figures.poses_sent += 1;
        }
        // Playout: one frame from every voice, mixed.
        let mut mix = vec![0i16; frame.samples()];
        for voice in voices.values_mut() {
            if let Some((pcm, _)) = voice.next_frame() {
                mix_into(&mut mix, &pcm);
            }
        }
        sink.play(&mix);
        // What the speakers play is the echo canceller's reference.
        if let Some(echo) = echo.as_mut() {
            for chunk in mix.chunks(AEC_FRAME) {
                echo.render(chunk)?;
            }
        }
    }
    for voice in voices.values() {
        figures.count(voice);
    }
    figures.seconds = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    figures.peers_seen = seen.len();
    session.leave();
    Ok(figures)
}
