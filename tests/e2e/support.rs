//! A signaling server in the test process, and invites for it.

use std::process::{Child, Command};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use haven_proto::signal::{Role, ServerMessage};
use haven_signal::client::Welcome;
use haven_signal::server::ServerHandle;
use haven_signal::{
    ClientError, ClientTls, InviteRequest, Limits, ServerConfig, ServerSecret, SignalClient,
    SignalServer, TlsIdentity, issue,
};

pub(crate) const WAIT: Duration = Duration::from_secs(5);

pub(crate) struct TestServer {
    pub(crate) handle: ServerHandle,
    pub(crate) secret: ServerSecret,
    pub(crate) tls: ClientTls,
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

pub(crate) async fn start(limits: Limits) -> TestServer {
    let secret = ServerSecret::generate().expect("randomness");
    let identity = TlsIdentity::self_signed(vec!["localhost".into()]).expect("rcgen");
    start_with(limits, secret, identity).await
}

/// A server with this secret and certificate (a restart of another).
pub(crate) async fn start_with(
    limits: Limits,
    secret: ServerSecret,
    identity: TlsIdentity,
) -> TestServer {
    let server = SignalServer::bind(ServerConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        identity,
        secret: secret.clone(),
        limits,
        ice_servers: Vec::new(),
        turn: None,
        cluster: None,
        media_server: None,
        invite_files: None,
    })
    .await
    .expect("binds");
    let handle = server.spawn().expect("spawns");
    let tls = ClientTls::Pinned(handle.fingerprint);
    TestServer {
        handle,
        secret,
        tls,
    }
}

impl TestServer {
    pub(crate) fn invite_at(
        &self,
        room: &str,
        role: Role,
        ttl_secs: u64,
        uses: u32,
        now: u64,
    ) -> String {
        self.invite_full(room, role, ttl_secs, uses, now, None)
    }

    /// An invite that names the clinic whose clinicians the holder checks.
    pub(crate) fn invite_for_clinic(
        &self,
        room: &str,
        role: Role,
        clinic: haven_signal::clinic::ClinicPublicKey,
    ) -> String {
        self.invite_full(room, role, 600, 5, now(), Some(clinic))
    }

    fn invite_full(
        &self,
        room: &str,
        role: Role,
        ttl_secs: u64,
        uses: u32,
        now: u64,
        clinic: Option<haven_signal::clinic::ClinicPublicKey>,
    ) -> String {
        issue(
            &self.secret,
            InviteRequest {
                host: "127.0.0.1".into(),
                port: self.handle.addr.port(),
                room: room.parse().expect("room"),
                role,
                ttl_secs,
                uses,
                pin: Some(self.handle.fingerprint.to_hex()),
                clinic,
                group: None,
            },
            now,
        )
        .expect("randomness")
    }

    pub(crate) fn invite(&self, room: &str, role: Role) -> String {
        self.invite_at(room, role, 600, 5, now())
    }

    /// An invite that reaches this server through a relay (`haven_signal::relay`) on `port`.
    pub(crate) fn invite_through(&self, port: u16, room: &str, role: Role) -> String {
        issue(
            &self.secret,
            InviteRequest {
                host: "127.0.0.1".into(),
                port,
                room: room.parse().expect("room"),
                role,
                ttl_secs: 600,
                uses: 1,
                pin: Some(self.handle.fingerprint.to_hex()),
                clinic: None,
                group: None,
            },
            now(),
        )
        .expect("randomness")
    }

    pub(crate) async fn join_with(
        &self,
        token: &str,
    ) -> Result<(SignalClient, Welcome), ClientError> {
        tokio::time::timeout(
            WAIT,
            SignalClient::join(&self.handle.url(), &self.tls, token),
        )
        .await
        .map_err(|_| ClientError::Timeout)?
    }

    pub(crate) async fn join(&self, room: &str, role: Role) -> (SignalClient, Welcome) {
        self.join_with(&self.invite(room, role))
            .await
            .expect("joins")
    }

    /// Two peers in a room, the first told of the second.
    pub(crate) async fn pair(&self, room: &str) -> (SignalClient, Welcome, SignalClient, Welcome) {
        let (mut a, wa) = self.join(room, Role::Clinician).await;
        let (b, wb) = self.join(room, Role::Patient).await;
        let joined = a.recv_timeout(WAIT).await.expect("peer-joined");
        assert_eq!(
            joined,
            ServerMessage::PeerJoined {
                peer: haven_proto::signal::PeerInfo {
                    id: wb.peer_id,
                    role: Role::Patient
                }
            }
        );
        (a, wa, b, wb)
    }
}

/// Logs when `HAVEN_TEST_LOG` names a filter (e.g. `haven_session=debug`): into the test's
/// own output, or, with `HAVEN_TEST_LOG_STDERR` set, straight to stderr (every test's lines,
/// with their threads, for a failure that shows only when tests run side by side).
pub(crate) fn logs() {
    if let Ok(filter) = std::env::var("HAVEN_TEST_LOG") {
        let builder =
            tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new(filter));
        let _ = if std::env::var_os("HAVEN_TEST_LOG_STDERR").is_some() {
            builder.with_writer(std::io::stderr).try_init()
        } else {
            builder.with_test_writer().try_init()
        };
    }
}

/// Normalised cross-correlation of two equally long runs of samples (0 when either is silent).
fn ncc(a: &[f64], b: &[f64]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        ab / (aa * bb).sqrt()
    }
}

/// `b` delayed by `lag` against `a`, over their overlap.
fn ncc_at(a: &[f64], b: &[f64], lag: usize) -> f64 {
    let n = a.len().min(b.len().saturating_sub(lag));
    ncc(&a[..n], &b[lag..lag + n])
}

fn to_f64(s: &[i16]) -> Vec<f64> {
    s.iter().map(|&v| f64::from(v)).collect()
}

/// 8× decimated (block means), for coarse delay searches.
fn coarse(s: &[i16]) -> Vec<f64> {
    s.chunks(8)
        .map(|c| c.iter().map(|&v| f64::from(v)).sum::<f64>() / 8.0)
        .collect()
}

/// The delay of `heard` against `sent`, to within 8 samples.
fn best_lag(sent: &[i16], heard: &[i16], max_lag: usize) -> usize {
    let (a, b) = (coarse(sent), coarse(heard));
    (0..=max_lag / 8)
        .max_by(|&x, &y| ncc_at(&a, &b, x).total_cmp(&ncc_at(&a, &b, y)))
        .unwrap_or(0)
        * 8
}

/// The best normalised cross-correlation of `heard` against `sent`, over delays of `heard` up
/// to `max_lag` samples: a coarse search, then a fine one around it.
pub(crate) fn correlation(sent: &[i16], heard: &[i16], max_lag: usize) -> f64 {
    let best = best_lag(sent, heard, max_lag);
    let (a, b) = (to_f64(sent), to_f64(heard));
    (best.saturating_sub(16)..=best + 16)
        .map(|lag| ncc_at(&a, &b, lag))
        .fold(0.0, f64::max)
}

/// How well `heard` carries `sent`, robust to what a jitter buffer legitimately does (a frame
/// concealed or dropped shifts what follows by a few milliseconds): `sent` is cut into 250 ms
/// windows, each voiced window is matched at its own best delay near the overall one, and the
/// median of those correlations is returned.
pub(crate) fn voice_match(sent: &[i16], heard: &[i16], max_lag: usize) -> f64 {
    const WINDOW: usize = 12_000;
    const SLACK: usize = 960; // 20 ms either way
    let overall = best_lag(sent, heard, max_lag);
    let (a, b) = (to_f64(sent), to_f64(heard));
    let energy = |s: &[f64]| s.iter().map(|v| v * v).sum::<f64>() / s.len() as f64;
    let loud = energy(&a);
    let mut scores: Vec<f64> = a
        .chunks_exact(WINDOW)
        .enumerate()
        .filter(|(_, w)| energy(w) > loud * 0.25)
        .map(|(i, w)| {
            let at = i * WINDOW + overall;
            (at.saturating_sub(SLACK)..=at + SLACK)
                .step_by(2)
                .filter(|&lag| lag + WINDOW <= b.len())
                .map(|lag| ncc(w, &b[lag..lag + WINDOW]))
                .fold(0.0, f64::max)
        })
        .collect();
    if scores.is_empty() {
        return 0.0;
    }
    scores.sort_by(f64::total_cmp);
    scores[scores.len() / 2]
}

/// Heavy tests (renders under Xvfb, the aiortc interop) say that they ran, or why they could
/// not, as files in the folder `HAVEN_TEST_MARKERS` names (`cargo xtask test` sets it): its
/// closing summary names every skip and never counts one as passed, and in CI (`CI` set) a
/// heavy test that left no "ran" marker fails the run, so one that silently did nothing
/// cannot pass. The marker is named after the test (its thread's name).
pub(crate) mod heavy {
    use std::path::PathBuf;

    fn marker(kind: &str) -> Option<PathBuf> {
        let dir = PathBuf::from(std::env::var_os("HAVEN_TEST_MARKERS")?).join(kind);
        std::fs::create_dir_all(&dir).ok()?;
        let name = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_owned();
        Some(dir.join(name))
    }

    /// The heavy test did its work.
    pub(crate) fn ran() {
        if let Some(path) = marker("ran") {
            std::fs::write(path, b"").expect("writes the test's marker");
        }
    }

    /// The heavy test cannot run here, for `why`: a failure in CI; elsewhere said, and marked
    /// so that the summary does not count it as passed.
    #[expect(clippy::print_stderr, reason = "say why the test did not run")]
    pub(crate) fn skipped(why: &str) {
        let name = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_owned();
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} cannot run in CI: {why}"
        );
        eprintln!("skipping {name}: {why}");
        if let Some(path) = marker("skipped") {
            std::fs::write(path, why).expect("writes the test's marker");
        }
    }
}

/// A network namespace of the test's own, holding only loopback (up) until a test adds
/// links; deleted (with whatever links it holds) when dropped.
pub(crate) struct Namespace(pub(crate) String);

impl Namespace {
    /// `haven-TAG-PID`: a test's own name, unique to this run.
    pub(crate) fn create(tag: &str) -> Result<Self, String> {
        let name = format!("haven-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        run_ip(&["netns", "add", &name])?;
        let ns = Self(name);
        run_ip(&["-n", &ns.0, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// `program` run inside the namespace.
    pub(crate) fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.0, program]);
        cmd
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Whether this runs as root (network namespaces need it).
pub(crate) fn need_root() -> Result<(), String> {
    let id = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&id.stdout).trim() == "0" {
        Ok(())
    } else {
        Err("not root (network namespaces need it)".into())
    }
}

/// Runs `ip ARGS`; its error output if it fails.
pub(crate) fn run_ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Kills a child process when the test ends, however it ends.
pub(crate) struct Reaped(pub(crate) Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
