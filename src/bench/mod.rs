//! `haven bench`: fixed workloads that print figures, each beside a reference measured in the
//! same run where there is one. Build with `--release` for figures worth quoting.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use haven_proto::Redacted;
use haven_proto::pose::{self, Placement, PoseUpdate};
use haven_proto::signal::{ClientMessage, PeerId, Role, ServerMessage};
use haven_signal::{ClientTls, Fingerprint, InviteRequest, ServerSecret, SignalClient, issue};
use serde::Serialize;

mod chromium;
pub(crate) mod faults;
mod room;
mod scale;
mod scenes;
mod session;

/// Flags of `haven bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// What to measure; without one, the live-session workload.
    #[command(subcommand)]
    workload: Option<Workload>,
    /// Print one JSON object instead of lines.
    #[arg(long, global = true)]
    json: bool,
}

/// What to measure.
#[derive(Debug, clap::Subcommand)]
enum Workload {
    /// The live session on loopback: join time, pose round trip and loss, voice pipeline
    /// delay, Opus encode cost, 20 MB bulk throughput; aiortc's figures beside them when it
    /// is installed (run as root: it runs in a loopback-only network namespace).
    Session {
        /// Pose round trips to time.
        #[arg(long, default_value_t = 600)]
        poses: usize,
    },
    /// CPU time per frame of the room's own systems with 4 remote avatars at 90 Hz, headless
    /// (nothing rendered), beside the same app with an empty room.
    Room {
        /// Frames to time.
        #[arg(long, default_value_t = 2000)]
        frames: usize,
    },
    /// CPU time per frame with a therapy scene shown (spiders, the full hall, the cabin, each
    /// at 10), headless at 90 Hz, beside the consult room; frames from the safe-room key to
    /// black.
    Scenes {
        /// Frames to time per scene.
        #[arg(long, default_value_t = 2000)]
        frames: usize,
    },
    /// A bad network, simulated: 10 % loss and 50 ± 30 ms delay each way, then everything
    /// cut for 5 s. Voice gaps heard, avatar freezes and jumps, an object's transfer, room
    /// events' order, the time to come back; a clean simulated link's figures beside them.
    Faults {
        /// Seconds of streaming on the poor link.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Seconds of the same on a clean link first (the reference).
        #[arg(long, default_value_t = 5)]
        clean_seconds: u64,
        /// Megabytes of the object sent over the poor link (SCTP moves ~20 KB/s there, so
        /// 20 MB takes about 17 minutes).
        #[arg(long, default_value_t = 2.0)]
        object_mb: f64,
    },
    /// A group room through the media server (Janus) at 4, 8 and 12 participants, beside a
    /// mesh of 4 in the same run: pose latency end to end, poses and voice lost, Janus's CPU.
    /// Runs as root (Janus in a network namespace of its own).
    Scale {
        /// Seconds of streaming per run.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Group sizes to run besides 4 (2 to 12).
        #[arg(long, value_delimiter = ',', default_values_t = [8, 12],
              value_parser = clap::value_parser!(u8).range(2..=12))]
        sizes: Vec<u8>,
        /// Inside the namespace: the media server to use (the bench runs itself with it).
        #[arg(long, hide = true)]
        inside: Option<String>,
        /// Inside the namespace: Janus's process, for its CPU time.
        #[arg(long, hide = true, requires = "inside")]
        janus_pid: Option<u32>,
    },
    /// Pose wire size, worst quantization error, encode+decode time (JSON as the reference).
    Pose,
    /// Signaling: connections held, memory per connection, join→welcome latency under
    /// concurrent joins, relay round trip. Runs `haven serve` as a child on loopback.
    Signal {
        /// Idle joined connections to hold.
        #[arg(long, default_value_t = 1000)]
        connections: usize,
        /// Joins started at the same moment, for the latency figures.
        #[arg(long, default_value_t = 100)]
        concurrent_joins: usize,
        /// Run the same workload a second time against a node that keeps its rooms in a
        /// Redis the bench starts (`redis-server` on a unix socket, with a password), and
        /// report both (`redis_*` figures).
        #[arg(long)]
        with_redis: bool,
    },
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    match args.workload.unwrap_or(Workload::Session { poses: 600 }) {
        Workload::Session { poses } => report(&session::run(poses)?, args.json),
        Workload::Pose => report(&pose_bench(), args.json),
        Workload::Scale {
            seconds,
            sizes,
            inside: None,
            ..
        } => scale::run(seconds, &widen(&sizes), args.json),
        Workload::Scale {
            seconds,
            sizes,
            inside: Some(media_server),
            janus_pid,
        } => report(
            &scale::inside(&media_server, janus_pid, seconds, &widen(&sizes))?,
            args.json,
        ),
        Workload::Faults {
            seconds,
            clean_seconds,
            object_mb,
        } => report(
            &faults::run(faults::Plan {
                seconds,
                clean_seconds,
                object_bytes: (object_mb * 1e6) as usize,
            })?,
            args.json,
        ),
        Workload::Room { frames } => report(&room::run(frames)?, args.json),
        Workload::Scenes { frames } => report(&scenes::run(frames)?, args.json),
        Workload::Signal {
            connections,
            concurrent_joins,
            with_redis,
        } => {
            let memory = signal_bench(connections, concurrent_joins, None)?;
            let redis = if with_redis {
                let redis = LocalRedis::start()?;
                Some(signal_bench(
                    connections,
                    concurrent_joins,
                    Some(&redis.url),
                )?)
            } else {
                None
            };
            report(&SignalRun { memory, redis }, args.json)
        }
    }
}

#[expect(clippy::print_stdout, reason = "the figures are the command's output")]
fn report<T: Serialize>(figures: &T, json: bool) -> anyhow::Result<()> {
    let value = serde_json::to_value(figures)?;
    if json {
        println!("{value}");
    } else if let serde_json::Value::Object(map) = value {
        for (k, v) in map {
            println!("{k:>40}  {v}");
        }
    }
    Ok(())
}

/// aiortc's figures, from `tests/interop/aiortc_bench.py` run in a loopback-only network
/// namespace.
#[derive(Debug, serde::Deserialize)]
pub(super) struct AiortcReference {
    pub(super) join_ms: f64,
    pub(super) bulk_mb_per_s: f64,
}

/// Runs aiortc's reference workload when it can (root for the namespace, python3 with
/// aiortc); says why not otherwise.
pub(super) fn aiortc_reference() -> Option<AiortcReference> {
    const SCRIPT: &str = include_str!("../../tests/interop/aiortc_bench.py");
    let attempt = || -> anyhow::Result<AiortcReference> {
        let root = Command::new("id").arg("-u").output()?;
        if String::from_utf8_lossy(&root.stdout).trim() != "0" {
            bail!("not root, so no loopback-only namespace for it");
        }
        let dir = std::env::temp_dir().join(format!("haven-bench-aiortc-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let script = dir.join("aiortc_bench.py");
        std::fs::write(&script, SCRIPT)?;
        let ns = format!("haven-bench-{}", std::process::id());
        let ip = |args: &[&str]| Command::new("ip").args(args).output();
        let _ = ip(&["netns", "del", &ns]);
        if !ip(&["netns", "add", &ns])?.status.success() {
            bail!("ip netns add failed");
        }
        let _ = ip(&["-n", &ns, "link", "set", "lo", "up"]);
        let out = Command::new("ip")
            .args(["netns", "exec", &ns, "timeout", "180", "python3"])
            .arg(&script)
            .output();
        let _ = ip(&["netns", "del", &ns]);
        let _ = std::fs::remove_dir_all(&dir);
        let out = out?;
        if !out.status.success() {
            bail!(
                "aiortc_bench.py failed: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            );
        }
        let last = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or("")
            .to_owned();
        Ok(serde_json::from_str(&last)?)
    };
    match attempt() {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(error = %e, "no aiortc reference figures");
            None
        }
    }
}

fn widen(sizes: &[u8]) -> Vec<usize> {
    sizes.iter().map(|&n| usize::from(n)).collect()
}

pub(super) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub(super) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[derive(Serialize)]
struct PoseFigures {
    pose_bytes_per_update: usize,
    pose_bytes_head_only: usize,
    pose_worst_position_mm: f64,
    pose_worst_orientation_deg: f64,
    pose_encode_decode_ns: f64,
    json_reference_bytes: usize,
    json_reference_encode_decode_ns: f64,
    bytes_ratio_vs_json: f64,
    speed_ratio_vs_json: f64,
}

fn sample_pose(i: u32) -> PoseUpdate {
    let t = i as f32 * 0.011;
    let q = |a: f32| {
        let (s, c) = (a * 0.5).sin_cos();
        let n = (1.0f32 + 0.09 + 0.04).sqrt();
        [s * 0.3 / n, s / n, s * 0.2 / n, c]
    };
    let unit = |v: [f32; 4]| {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.map(|x| x / n)
    };
    PoseUpdate {
        seq: i as u16,
        sent_at_ms: (i * 11) as u16,
        head: Placement {
            position: [t.sin() * 0.2, 1.6 + (t * 3.0).sin() * 0.02, -0.5],
            orientation: unit(q(t.sin())),
        },
        left_hand: Some(Placement {
            position: [-0.3 + t.cos() * 0.1, 1.1, -0.8],
            orientation: unit(q(t * 2.0)),
        }),
        right_hand: Some(Placement {
            position: [0.3, 1.1 + t.sin() * 0.15, -0.8],
            orientation: unit(q(-t)),
        }),
    }
}

fn pose_bench() -> PoseFigures {
    let updates: Vec<PoseUpdate> = (0..10_000).map(sample_pose).collect();
    let mut worst = (0.0f64, 0.0f64);
    for u in &updates {
        let (p, r) = pose::round_trip_error(u).unwrap_or((f64::INFINITY, f64::INFINITY));
        worst = (worst.0.max(p), worst.1.max(r));
    }
    // The same three poses as JSON floats: what a naive sender puts on the wire.
    let as_json = |u: &PoseUpdate| {
        let poses: Vec<([f32; 3], [f32; 4])> = [Some(u.head), u.left_hand, u.right_hand]
            .into_iter()
            .flatten()
            .map(|p| (p.position, p.orientation))
            .collect();
        serde_json::to_vec(&(u.seq, u.sent_at_ms, poses)).expect("numbers serialize")
    };
    type Poses = (u16, u16, Vec<([f32; 3], [f32; 4])>);
    let time = |f: &dyn Fn(&PoseUpdate) -> usize| {
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let start = Instant::now();
            let mut sink = 0usize;
            for u in &updates {
                sink = sink.wrapping_add(f(std::hint::black_box(u)));
            }
            std::hint::black_box(sink);
            best = best.min(start.elapsed().as_nanos() as f64 / updates.len() as f64);
        }
        best
    };
    let ours = time(&|u| match pose::decode(&pose::encode(u)) {
        Ok(back) => usize::from(back.seq),
        Err(_) => 0,
    });
    let reference = time(&|u| {
        let bytes = as_json(u);
        serde_json::from_slice::<Poses>(&bytes).map_or(0, |p| usize::from(p.0))
    });
    let bytes = pose::encode(&updates[0]).len();
    let json_bytes = as_json(&updates[0]).len();
    let head_only = pose::encode(&PoseUpdate {
        left_hand: None,
        right_hand: None,
        ..updates[0]
    })
    .len();
    PoseFigures {
        pose_bytes_per_update: bytes,
        pose_bytes_head_only: head_only,
        pose_worst_position_mm: round3(worst.0 * 1000.0),
        pose_worst_orientation_deg: round3(worst.1 * 1000.0) / 1000.0,
        pose_encode_decode_ns: round3(ours),
        json_reference_bytes: json_bytes,
        json_reference_encode_decode_ns: round3(reference),
        bytes_ratio_vs_json: round3(bytes as f64 / json_bytes as f64),
        speed_ratio_vs_json: round3(reference / ours),
    }
}

#[derive(Serialize)]
struct SignalFigures {
    connections_held: usize,
    server_rss_idle_mib: f64,
    server_rss_loaded_mib: f64,
    server_kib_per_connection: f64,
    concurrent_joins: usize,
    connect_ms_p50: f64,
    connect_ms_p99: f64,
    join_to_welcome_ms_p50: f64,
    join_to_welcome_ms_p99: f64,
    relay_round_trip_ms_p50: f64,
    relay_round_trip_ms_p99: f64,
}

/// `bench signal`: the in-memory server, and (with `--with-redis`) the same workload on a
/// node that keeps its rooms in Redis.
#[derive(Serialize)]
struct SignalRun {
    #[serde(flatten)]
    memory: SignalFigures,
    /// The same figures for a node on Redis.
    #[serde(skip_serializing_if = "Option::is_none")]
    redis: Option<SignalFigures>,
}

/// A Redis of the bench's own: a unix socket in a temporary folder, a password, no
/// persistence; stopped when dropped.
struct LocalRedis {
    url: String,
    _child: Child_,
}

impl LocalRedis {
    fn start() -> anyhow::Result<Self> {
        let unique = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
        let dir = std::env::temp_dir().join(format!("haven-redis-{}-{unique}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let socket = dir.join("redis.sock");
        let password = format!("{unique:x}");
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--save",
                "",
                "--appendonly",
                "no",
                "--unixsocket",
            ])
            .arg(&socket)
            .args(["--unixsocketperm", "700", "--requirepass", &password])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting redis-server (cargo xtask deps installs it)")?;
        let child = Child_ { child, dir };
        for _ in 0..100 {
            if socket.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if !socket.exists() {
            bail!("redis-server did not open its socket");
        }
        Ok(Self {
            url: format!("unix://{}?pass={password}", socket.display()),
            _child: child,
        })
    }
}

struct Child_ {
    child: Child,
    dir: PathBuf,
}

impl Drop for Child_ {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn rss_kib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context("reading the server's memory (needs Linux /proc)")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS")?;
    let kib: f64 = line
        .split_whitespace()
        .nth(1)
        .context("no VmRSS figure")?
        .parse()?;
    Ok(kib)
}

/// Starts `haven serve` on a free loopback port; returns it with its URL and fingerprint.
/// With `secret`, the server shares that secret (and its certificate): another node.
fn start_server(
    redis: Option<&str>,
    secret: Option<&Path>,
) -> anyhow::Result<(Child_, String, Fingerprint, PathBuf)> {
    let unique = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let dir = std::env::temp_dir().join(format!("haven-bench-{}-{unique}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let secret = secret.map_or_else(|| dir.join("secret"), Path::to_path_buf);
    let mut child = Command::new(std::env::current_exe()?)
        .args(["serve", "--listen", "127.0.0.1:0", "--secret"])
        .arg(&secret)
        .env("HAVEN_LOG", "warn")
        .env("HAVEN_REDIS", redis.unwrap_or_default())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting haven serve")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let guard = Child_ { child, dir };
    let mut url = None;
    let mut fingerprint = None;
    for line in BufReader::new(stdout).lines().take(10) {
        let line = line?;
        if let Some(fp) = line
            .split(": ")
            .nth(1)
            .filter(|_| line.contains("fingerprint"))
        {
            fingerprint = Some(fp.trim().parse::<Fingerprint>()?);
        }
        if let Some(at) = line.find("wss://") {
            url = Some(line[at..].trim().to_owned());
            break;
        }
    }
    let (Some(url), Some(fp)) = (url, fingerprint) else {
        bail!("haven serve did not print its address and fingerprint");
    };
    Ok((guard, url, fp, secret))
}

fn signal_bench(
    connections: usize,
    concurrent: usize,
    redis: Option<&str>,
) -> anyhow::Result<SignalFigures> {
    let _ = rlimit::increase_nofile_limit(65_536);
    let (server, url, fingerprint, secret_path) = start_server(redis, None)?;
    // On Redis, the relay's second peer is on a second node: its round trips cross Redis.
    let second = redis
        .map(|redis| start_server(Some(redis), Some(&secret_path)))
        .transpose()?;
    let relay_url = second.as_ref().map_or_else(|| url.clone(), |s| s.1.clone());
    let pid = server.child.id();
    let secret = ServerSecret::load_or_create(&secret_path)?;
    let (host, port) = {
        let rest = url.trim_start_matches("wss://");
        let (h, p) = rest.rsplit_once(':').context("url has a port")?;
        (h.to_owned(), p.parse::<u16>()?)
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let invite = |room: String| {
        issue(
            &secret,
            InviteRequest {
                host: host.clone(),
                port,
                room: room.parse().expect("bench room ids are valid"),
                role: Role::Clinician,
                ttl_secs: 3600,
                uses: 1,
                pin: None,
                clinic: None,
                group: None,
            },
            now,
        )
        .expect("randomness")
    };
    let tls = ClientTls::Pinned(fingerprint);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let rss_idle = rss_kib(pid)?;

        // Hold `connections` joined peers, four to a room, opened 64 at a time.
        let mut held = Vec::with_capacity(connections);
        for batch in (0..connections).collect::<Vec<_>>().chunks(64) {
            let joins = batch.iter().map(|&i| {
                let token = invite(format!("held-{}", i / 4));
                let (url, tls) = (url.clone(), tls.clone());
                tokio::spawn(async move { SignalClient::join(&url, &tls, &token).await })
            });
            for join in joins {
                held.push(join.await??.0);
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss_loaded = rss_kib(pid)?;

        // Concurrent joins: all start together; connect and hello→welcome timed apart.
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(concurrent));
        let tasks: Vec<_> = (0..concurrent)
            .map(|i| {
                let token = invite(format!("burst-{}", i / 4));
                let (url, tls, start) = (url.clone(), tls.clone(), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    let t0 = Instant::now();
                    let mut client = SignalClient::connect(&url, &tls).await?;
                    let t1 = Instant::now();
                    client.hello(&token).await?;
                    let t2 = Instant::now();
                    anyhow::Ok((
                        client,
                        (t1 - t0).as_secs_f64() * 1e3,
                        (t2 - t1).as_secs_f64() * 1e3,
                    ))
                })
            })
            .collect();
        let mut connect = Vec::new();
        let mut welcome = Vec::new();
        let mut burst = Vec::new();
        for t in tasks {
            let (client, c, w) = t.await??;
            connect.push(c);
            welcome.push(w);
            burst.push(client);
        }
        connect.sort_by(f64::total_cmp);
        welcome.sort_by(f64::total_cmp);

        // Relay round trips between two fresh peers while everything else is held.
        let (mut a, wa) = SignalClient::join(&url, &tls, &invite("relay".into())).await?;
        let (mut b, wb) = SignalClient::join(&relay_url, &tls, &invite("relay".into())).await?;
        a.recv_timeout(Duration::from_secs(5)).await?; // peer-joined
        // 80 round trips: within the per-connection burst allowance (100 messages).
        let mut rtt = Vec::new();
        for _ in 0..80 {
            let t0 = Instant::now();
            a.send(&offer(wb.peer_id)).await?;
            b.recv_timeout(Duration::from_secs(5)).await?;
            b.send(&offer(wa.peer_id)).await?;
            let back = a.recv_timeout(Duration::from_secs(5)).await?;
            if !matches!(back, ServerMessage::Offer { .. }) {
                bail!("unexpected relay reply");
            }
            rtt.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        rtt.sort_by(f64::total_cmp);
        drop((held, burst));
        Ok(SignalFigures {
            connections_held: connections,
            server_rss_idle_mib: round3(rss_idle / 1024.0),
            server_rss_loaded_mib: round3(rss_loaded / 1024.0),
            server_kib_per_connection: round3((rss_loaded - rss_idle) / connections.max(1) as f64),
            concurrent_joins: concurrent,
            connect_ms_p50: round3(percentile(&connect, 0.5)),
            connect_ms_p99: round3(percentile(&connect, 0.99)),
            join_to_welcome_ms_p50: round3(percentile(&welcome, 0.5)),
            join_to_welcome_ms_p99: round3(percentile(&welcome, 0.99)),
            relay_round_trip_ms_p50: round3(percentile(&rtt, 0.5)),
            relay_round_trip_ms_p99: round3(percentile(&rtt, 0.99)),
        })
    })
}

fn offer(to: PeerId) -> ClientMessage {
    ClientMessage::Offer {
        to,
        sdp: Redacted::new("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\n".repeat(20)),
    }
}
