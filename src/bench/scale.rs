//! `haven bench scale`: a group room through the media server (Janus VideoRoom) at 4, 8 and
//! 12 participants, beside a mesh at its own limit (4), in the same run and on the same
//! machine.
//!
//! Janus offers no loopback candidates, so the run needs an address that is not loopback: as
//! root, the bench makes a network namespace with a veth pair (both ends inside), starts
//! Janus there, and runs itself again inside it (`--inside`), where the participants are
//! sessions of this process and the signaling server is in-process. Each participant sends a
//! pose every 10 ms and an Opus packet every 10 ms; a pose's latency is from its send to its
//! arrival at each other participant (one clock: one process). Janus's CPU is read from
//! `/proc` over the streaming window.
//!
//! How the two paths differ beyond the media server: through Janus poses travel on one
//! ordered, reliable channel per publisher (Janus forwards data that way); in a mesh on an
//! unordered channel with no retransmits.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use haven_proto::signal::{PeerId, Role};
use haven_session::{NetworkPolicy, Session, SessionConfig, SessionEvent};
use haven_signal::ClientTls;
use haven_voice::codec::VoiceEncoder;
use haven_voice::source::{Source as _, Synthetic};
use serde::Serialize;

use super::session::Room;
use super::{percentile, round3};

/// Janus's address in the bench's namespace.
const IP: &str = "10.98.0.1";
/// Streaming before the timed window (see [`stream`]).
const WARM_UP: Duration = Duration::from_secs(1);

/// Each run's figures.
#[derive(Debug, Serialize)]
pub(super) struct Run {
    /// `sfu` (through Janus) or `mesh`.
    path: &'static str,
    participants: usize,
    pose_ms_p50: f64,
    pose_ms_p99: f64,
    /// Poses sent that some participant never received, in percent of those expected.
    poses_lost_pct: f64,
    audio_lost_pct: f64,
    /// Janus's CPU over the streaming window, in percent of one core (SFU runs).
    janus_cpu_pct: Option<f64>,
}

/// The figures: the largest SFU run's, the SFU at 4 and the mesh at 4, and every run.
#[derive(Debug, Serialize)]
pub(super) struct ScaleFigures {
    participants: usize,
    sfu_pose_ms_p50: f64,
    sfu_pose_ms_p99: f64,
    sfu_audio_lost_pct: f64,
    sfu_janus_cpu_pct: Option<f64>,
    sfu_pose_ms_p99_at_4: f64,
    mesh_pose_ms_p50: f64,
    mesh_pose_ms_p99: f64,
    mesh_audio_lost_pct: f64,
    seconds_per_run: u64,
    runs: Vec<Run>,
}

/// Outside the namespace: makes it, starts Janus in it, and runs the bench inside.
pub(super) fn run(seconds: u64, sizes: &[usize], json: bool) -> anyhow::Result<()> {
    let root = Command::new("id").arg("-u").output()?;
    if String::from_utf8_lossy(&root.stdout).trim() != "0" {
        bail!("`haven bench scale` runs Janus in a network namespace of its own: run it as root");
    }
    let lib = janus_lib().context("Janus is not installed (`cargo xtask deps` installs it)")?;
    let ns = format!("haven-scale-{}", std::process::id());
    let net = Netns::create(&ns)?;
    let dir = std::env::temp_dir().join(format!("haven-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config = janus_config(&dir, &lib)?;
    let mut janus = Reap(
        Command::new("ip")
            .args(["netns", "exec", &net.0, "janus", "-F"])
            .arg(&dir)
            .arg("-C")
            .arg(&config)
            .stdout(std::fs::File::create(dir.join("janus.log"))?)
            .stderr(Stdio::null())
            .spawn()
            .context("starting janus")?,
    );
    let ready = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        std::fs::read_to_string(dir.join("janus.log"))
            .is_ok_and(|log| log.contains("WebSockets thread started"))
    });
    if !ready {
        bail!("Janus did not start in 20 s (see {})", dir.display());
    }
    let sizes = sizes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let mut inner = Command::new("ip");
    inner
        .args(["netns", "exec", &net.0])
        .arg(std::env::current_exe()?)
        .args(["bench", "scale", "--seconds", &seconds.to_string()])
        .args(["--sizes", &sizes, "--inside", &format!("ws://{IP}:8188")])
        .args(["--janus-pid", &janus.0.id().to_string()]);
    if json {
        inner.arg("--json");
    }
    let status = inner.status()?;
    let _ = janus.0.kill();
    drop(janus);
    let _ = std::fs::remove_dir_all(&dir);
    drop(net);
    if !status.success() {
        bail!("the bench inside the namespace failed");
    }
    Ok(())
}

/// Inside the namespace: the runs.
pub(super) fn inside(
    media_server: &str,
    janus_pid: Option<u32>,
    seconds: u64,
    sizes: &[usize],
) -> anyhow::Result<ScaleFigures> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let room = Room::start_with_media(Some(media_server.to_owned())).await?;
        let window = Duration::from_secs(seconds);
        let mut runs = vec![measure(&room, None, 4, window, None).await?];
        let mut wanted: Vec<usize> = sizes.to_vec();
        if !wanted.contains(&4) {
            wanted.insert(0, 4);
        }
        for n in wanted {
            runs.push(measure(&room, Some(n), n, window, janus_pid).await?);
        }
        room.server.shutdown().await;
        let mesh = &runs[0];
        let at_4 = runs
            .iter()
            .find(|r| r.path == "sfu" && r.participants == 4)
            .context("an SFU run at 4")?;
        let largest = runs
            .iter()
            .filter(|r| r.path == "sfu")
            .max_by_key(|r| r.participants)
            .context("an SFU run")?;
        Ok(ScaleFigures {
            participants: largest.participants,
            sfu_pose_ms_p50: largest.pose_ms_p50,
            sfu_pose_ms_p99: largest.pose_ms_p99,
            sfu_audio_lost_pct: largest.audio_lost_pct,
            sfu_janus_cpu_pct: largest.janus_cpu_pct,
            sfu_pose_ms_p99_at_4: at_4.pose_ms_p99,
            mesh_pose_ms_p50: mesh.pose_ms_p50,
            mesh_pose_ms_p99: mesh.pose_ms_p99,
            mesh_audio_lost_pct: mesh.audio_lost_pct,
            seconds_per_run: seconds,
            runs,
        })
    })
}

/// When each participant sent each pose (by sender and sequence number).
type Sent = Arc<Mutex<HashMap<(PeerId, u16), Instant>>>;

/// One run: `n` participants (a clinician and patients) in a room of their own, through the
/// media server when `group` says its size, else a mesh.
async fn measure(
    room: &Room,
    group: Option<usize>,
    n: usize,
    window: Duration,
    janus_pid: Option<u32>,
) -> anyhow::Result<Run> {
    let path = if group.is_some() { "sfu" } else { "mesh" };
    let name = format!("scale-{path}-{n}");
    let size = group.map(u8::try_from).transpose()?;
    let sent: Sent = Arc::default();
    let mut people = Vec::new();
    for i in 0..n {
        let role = if i == 0 {
            Role::Clinician
        } else {
            Role::Patient
        };
        let token = room.invite_to(role, &name, size)?;
        let mut config = SessionConfig::from_invite(&token, NetworkPolicy::Any)?;
        config.tls = ClientTls::Pinned(room.server.fingerprint);
        people.push(Session::start(config)?);
    }
    // Everyone connected to everyone (and publishing, through the media server).
    let mut ids = Vec::new();
    for session in &mut people {
        ids.push(ready(session, n - 1, group.is_some()).await?);
    }
    let cpu_before = janus_pid.filter(|_| group.is_some()).and_then(cpu_ticks);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (session, me) in people.into_iter().zip(ids) {
        tasks.push(tokio::spawn(stream(session, me, Arc::clone(&sent), window)));
    }
    let mut latencies = Vec::new();
    let mut sessions = Vec::new();
    for task in tasks {
        let (session, mut got) = task.await.context("a participant")??;
        latencies.append(&mut got);
        sessions.push(session);
    }
    let elapsed = started.elapsed().as_secs_f64();
    // `/proc` counts in USER_HZ, which Linux fixes at 100 per second.
    let janus_cpu_pct = cpu_before
        .zip(janus_pid.and_then(cpu_ticks))
        .map(|(a, b)| round3(100.0 * b.saturating_sub(a) as f64 / 100.0 / elapsed));
    let (mut lost, mut received) = (0i64, 0u64);
    for session in &sessions {
        for stats in session.stats().await {
            // RFC 3550's cumulative loss: duplicates make it negative.
            lost += stats.audio_packets_lost.max(0);
            received += stats.audio_packets_received;
        }
    }
    for session in sessions {
        session.leave();
    }
    let expected = sent.lock().expect("not poisoned").len() * (n - 1);
    latencies.sort_by(f64::total_cmp);
    Ok(Run {
        path,
        participants: n,
        pose_ms_p50: round3(percentile(&latencies, 0.5)),
        pose_ms_p99: round3(percentile(&latencies, 0.99)),
        poses_lost_pct: round3(
            100.0 * expected.saturating_sub(latencies.len()) as f64 / expected.max(1) as f64,
        ),
        audio_lost_pct: round3(100.0 * lost as f64 / (lost as f64 + received as f64).max(1.0)),
        janus_cpu_pct,
    })
}

/// Waits (30 s at most) for `others` peers connected, and for the media server in a group;
/// returns this participant's id.
async fn ready(session: &mut Session, others: usize, group: bool) -> anyhow::Result<PeerId> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut me, mut connected, mut published) = (None, 0, !group);
    while me.is_none() || connected < others || !published {
        let left = deadline.saturating_duration_since(Instant::now());
        match session.next_event(left).await {
            Some(SessionEvent::Joined { me: info, .. }) => me = Some(info.id),
            Some(SessionEvent::PeerConnected(_)) => connected += 1,
            Some(SessionEvent::MediaServerJoined) => published = true,
            Some(SessionEvent::MediaServerLost { why }) => bail!("media server lost: {why}"),
            Some(SessionEvent::Failed(why)) => bail!("session failed: {why}"),
            Some(_) => {}
            None => bail!("{connected} of {others} connected in 30 s (published: {published})"),
        }
    }
    me.context("joined")
}

/// Sends a pose and a voice packet every 10 ms for a second of warm-up (not timed: through
/// the media server, a direct connection can say connected before the subscription that
/// carries its poses is up) and then `window`, and times every pose of the window that
/// arrives; then half a second more to take in what is on its way.
async fn stream(
    session: Session,
    me: PeerId,
    sent: Sent,
    window: Duration,
) -> anyhow::Result<(Session, Vec<f64>)> {
    let mut session = session;
    let mut encoder = VoiceEncoder::new(haven_voice::FrameDuration::Ms10)?;
    let frame = Synthetic::voice_like(me.0 as u32).next_frame(480);
    let packet = encoder.encode(&frame)?;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let warm = Instant::now() + WARM_UP;
    let started = warm;
    let end = started + window + Duration::from_millis(500);
    let mut seq = 0u16;
    let mut got = Vec::new();
    while Instant::now() < end {
        tokio::select! {
            _ = tick.tick() => {
                let now = Instant::now();
                if now < started || now - started < window {
                    let update = crate::sim::seated_pose(seq as f32 * 0.01, seq, seq.wrapping_mul(10));
                    if now >= started {
                        sent.lock().expect("not poisoned").insert((me, seq), now);
                    }
                    session.send_pose(&update);
                    session.send_audio(packet.clone(), Duration::from_millis(10), 0);
                    seq = seq.wrapping_add(1);
                }
            }
            event = session.next_event(Duration::from_millis(20)) => {
                if let Some(SessionEvent::Pose { from, update }) = event {
                    let at = sent.lock().expect("not poisoned").get(&(from, update.seq)).copied();
                    if let Some(at) = at {
                        got.push(at.elapsed().as_secs_f64() * 1000.0);
                    }
                }
            }
        }
    }
    Ok((session, got))
}

/// Janus's user and system CPU time so far, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name (which may hold spaces) in parentheses: utime and stime are
    // fields 14 and 15, the 12th and 13th after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Where Janus keeps its plugins (Debian's `janus`, under the multiarch directory).
fn janus_lib() -> Option<PathBuf> {
    std::fs::read_dir("/usr/lib")
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("janus"))
        .find(|lib| lib.join("plugins/libjanus_videoroom.so").exists())
}

/// Janus's configuration from `assets/janus`, filled in for this run.
fn janus_config(dir: &Path, lib: &Path) -> anyhow::Result<PathBuf> {
    let fill = |text: &str| {
        text.replace("@CONF@", &dir.display().to_string())
            .replace("@LIB@", &lib.display().to_string())
            .replace("@IP@", IP)
    };
    std::fs::write(
        dir.join("janus.jcfg"),
        fill(include_str!("../../assets/janus/janus.jcfg.in")),
    )?;
    std::fs::write(
        dir.join("janus.plugin.videoroom.jcfg"),
        include_str!("../../assets/janus/janus.plugin.videoroom.jcfg"),
    )?;
    std::fs::write(
        dir.join("janus.transport.websockets.jcfg"),
        fill(include_str!(
            "../../assets/janus/janus.transport.websockets.jcfg.in"
        )),
    )?;
    Ok(dir.join("janus.jcfg"))
}

/// A namespace with loopback up and a veth pair whose one end holds [`IP`]; deleted when
/// dropped.
struct Netns(String);

impl Netns {
    fn create(name: &str) -> anyhow::Result<Self> {
        let ip = |args: &[&str]| -> anyhow::Result<()> {
            let out = Command::new("ip").args(args).output()?;
            if !out.status.success() {
                bail!(
                    "ip {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Ok(())
        };
        let _ = Command::new("ip").args(["netns", "del", name]).output();
        ip(&["netns", "add", name])?;
        let ns = Self(name.to_owned());
        let pid = std::process::id() % 100_000;
        let (a, b) = (format!("hs{pid}a"), format!("hs{pid}b"));
        ip(&["-n", name, "link", "set", "lo", "up"])?;
        ip(&[
            "link", "add", &a, "netns", name, "type", "veth", "peer", "name", &b, "netns", name,
        ])?;
        ip(&["-n", name, "addr", "add", &format!("{IP}/24"), "dev", &a])?;
        ip(&["-n", name, "link", "set", &a, "up"])?;
        ip(&["-n", name, "link", "set", &b, "up"])?;
        Ok(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// A child killed and reaped when dropped.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_cpu_time_grows_while_we_spin() {
        // Our own process, spinning: its CPU time grows (within 5 s even on a busy machine).
        let pid = std::process::id();
        let before = cpu_ticks(pid).expect("our own /proc stat");
        let start = Instant::now();
        let mut x = 0u64;
        while cpu_ticks(pid).expect("again") <= before {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "no CPU time counted"
            );
            for _ in 0..100_000 {
                x = x.wrapping_add(std::hint::black_box(1));
            }
        }
        assert!(x > 0);
    }
}
