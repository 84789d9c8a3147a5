//! A consult through a TURN relay (coturn), between two peers that cannot reach each other.
//!
//! Three network namespaces: the patient's (`b`), the clinician's (`a`) and the relay's (`t`).
//! Each peer has one veth link to `t`, and a route to the relay's address (on `t`'s loopback)
//! and nothing else; `t` does not forward. So the only way between the peers is through
//! coturn, which `t` runs beside `haven serve`. In order:
//! 1. no relay running: the two join and never connect (the relay is needed);
//! 2. a relay with another secret: `--relay-only` ends at once with a clear error;
//! 3. the relay with the server's secret: both connect relay/relay, voice goes both ways and a
//!    share arrives and is viewed.
//!
//! Needs root, `ip` and coturn's `turnserver` (`cargo xtask deps` installs it); outside CI the
//! test says why it skips when those are missing.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::{Namespace, Reaped, heavy, run_ip};

const HAVEN: &str = env!("CARGO_BIN_EXE_haven");

/// The relay's (and the signaling server's) address, on `t`'s loopback.
const RELAY_IP: &str = "10.77.0.1";
/// The secret `haven serve` and coturn share.
const SECRET: &str = "north-wind-42";

/// How long each peer stays (bounded; a relayed consult connects in well under a second).
const STAY: &str = "10s";

/// The three namespaces and their links.
struct Net {
    a: Namespace,
    b: Namespace,
    t: Namespace,
}

impl Net {
    fn create() -> Result<Self, String> {
        let net = Self {
            a: Namespace::create("ra")?,
            b: Namespace::create("rb")?,
            t: Namespace::create("rt")?,
        };
        let pid = std::process::id() % 100_000;
        for (side, subnet) in [(&net.a, 1), (&net.b, 2)] {
            // Made in the root namespace, both ends moved at once; names under 16 bytes.
            let (inner, outer) = (format!("hv{pid}{subnet}p"), format!("hv{pid}{subnet}t"));
            run_ip(&[
                "link", "add", &inner, "netns", &side.0, "type", "veth", "peer", "name", &outer,
                "netns", &net.t.0,
            ])?;
            let (peer_ip, relay_side) = (
                format!("10.77.{subnet}.2/24"),
                format!("10.77.{subnet}.1/24"),
            );
            run_ip(&["-n", &side.0, "addr", "add", &peer_ip, "dev", &inner])?;
            run_ip(&["-n", &side.0, "link", "set", &inner, "up"])?;
            run_ip(&["-n", &net.t.0, "addr", "add", &relay_side, "dev", &outer])?;
            run_ip(&["-n", &net.t.0, "link", "set", &outer, "up"])?;
            let via = format!("10.77.{subnet}.1");
            run_ip(&[
                "-n",
                &side.0,
                "route",
                "add",
                &format!("{RELAY_IP}/32"),
                "via",
                &via,
            ])?;
        }
        run_ip(&[
            "-n",
            &net.t.0,
            "addr",
            "add",
            &format!("{RELAY_IP}/32"),
            "dev",
            "lo",
        ])?;
        // No forwarding in `t`: a packet from one peer's link never leaves by the other's.
        let forward = net
            .t
            .command("sysctl")
            .args(["-qw", "net.ipv4.ip_forward=0"])
            .status()
            .map_err(|e| format!("sysctl: {e}"))?;
        if !forward.success() {
            return Err("could not turn forwarding off in the relay's namespace".into());
        }
        Ok(net)
    }
}

fn prerequisites() -> Result<(), String> {
    crate::support::need_root()?;
    let turn = Command::new("turnserver").arg("--help").output();
    if turn.is_err() {
        return Err("coturn's turnserver is not installed (run `cargo xtask deps`)".into());
    }
    Ok(())
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("haven-relay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Waits (bounded) for a line containing `marker` on a child's output; the lines read.
pub(crate) fn wait_for_line(
    out: impl std::io::Read + Send + 'static,
    marker: &'static str,
    within: Duration,
) -> Result<String, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().take(500).map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + within;
    let mut seen = String::new();
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(marker) => return Ok(line),
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
            }
            Err(_) => break,
        }
    }
    Err(format!("no {marker:?} within {within:?}; it said:\n{seen}"))
}

/// coturn in `t`, sharing `secret`, ready to allocate.
fn coturn(t: &Namespace, dir: &Path, secret: &str) -> Reaped {
    let mut child = Reaped(
        t.command("turnserver")
            .args([
                "-n",
                "--log-file=stdout",
                "--simple-log",
                "--no-cli",
                "--no-tls",
                "--no-dtls",
                "--no-tcp-relay",
                "--fingerprint",
                "--realm=haven.test",
                "--use-auth-secret",
                "--listening-port=3478",
                "--min-port=49160",
                "--max-port=49200",
            ])
            .arg(format!("--listening-ip={RELAY_IP}"))
            .arg(format!("--relay-ip={RELAY_IP}"))
            .arg(format!("--static-auth-secret={secret}"))
            .arg(format!("--pidfile={}", dir.join("turn.pid").display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("turnserver starts"),
    );
    let out = child.0.stdout.take().expect("stdout");
    wait_for_line(
        out,
        "Relay ports initialization done",
        Duration::from_secs(15),
    )
    .expect("coturn is ready");
    child
}

/// The `wss://` address a `haven serve` child (its stdout piped) says it listens on.
pub(crate) fn served_at(serve: &mut Reaped) -> String {
    let line = wait_for_line(
        serve.0.stdout.take().expect("stdout"),
        "wss://",
        Duration::from_secs(15),
    )
    .expect("serve prints its address");
    line[line.find("wss://").expect("an address")..]
        .trim()
        .to_owned()
}

fn invite(secret: &Path, url: &str, room: &str, role: &str) -> String {
    invite_with(secret, url, room, role, &[])
}

/// `haven invite` with `extra` flags.
pub(crate) fn invite_with(
    secret: &Path,
    url: &str,
    room: &str,
    role: &str,
    extra: &[&str],
) -> String {
    let out = Command::new(HAVEN)
        .args(["invite", "--server", url, "--room", room, "--role", role])
        .args(extra)
        .arg("--secret")
        .arg(secret)
        .output()
        .expect("haven invite runs");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("hv1."))
        .expect("an invite")
        .to_owned()
}

/// `haven join --headless` in `ns` (its figures on stdout, its log in `log`).
fn join(ns: &Namespace, invite: &str, log: &Path, extra: &[&str]) -> std::process::Child {
    ns.command(HAVEN)
        .args(["join", "--headless", "--duration", STAY])
        .args(extra)
        .arg(invite)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("haven join starts")
}

pub(crate) fn figures(out: &std::process::Output, log: &Path) -> serde_json::Value {
    assert!(
        out.status.success(),
        "the join failed: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    serde_json::from_slice(&out.stdout).expect("the join's figures")
}

#[test]
fn a_consult_between_peers_that_cannot_reach_each_other_goes_through_coturn() {
    if let Err(why) = prerequisites() {
        heavy::skipped(&why);
        return;
    }
    let net = Net::create().expect("three namespaces");
    let dir = temp_dir();
    let (haven_secret, turn_secret) = (dir.join("haven.secret"), dir.join("turn.secret"));
    std::fs::write(&turn_secret, format!("{SECRET}\n")).expect("writes the TURN secret");
    let mut serve = Reaped(
        net.t
            .command(HAVEN)
            .args(["serve", "--listen", &format!("{RELAY_IP}:8443")])
            .arg("--secret")
            .arg(&haven_secret)
            .arg("--turn-secret")
            .arg(&turn_secret)
            .args(["--turn-url", &format!("turn:{RELAY_IP}:3478?transport=udp")])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("haven serve starts"),
    );
    let url = served_at(&mut serve);
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let records = demo.join("patient-summary.json");
    let records = records.to_str().expect("utf-8 path");

    // 1. No relay: the peers have no path to each other, and say the relay does not answer.
    {
        let (p_log, c_log) = (dir.join("1-patient.log"), dir.join("1-clinician.log"));
        let clinician = join(
            &net.a,
            &invite(&haven_secret, &url, "alone", "clinician"),
            &c_log,
            &[],
        );
        let patient = join(
            &net.b,
            &invite(&haven_secret, &url, "alone", "patient"),
            &p_log,
            &[],
        );
        for (child, log) in [(patient, &p_log), (clinician, &c_log)] {
            let f = figures(&child.wait_with_output().expect("ran"), log);
            assert_eq!(f["peers_seen"], 0, "connected without a relay: {f}");
            assert_eq!(f["audio_frames_received"], 0, "{f}");
            let why = f["relay_unavailable"].as_str().unwrap_or_default();
            assert!(why.contains("did not answer"), "{f}");
        }
    }

    // 2. A relay that does not share the server's secret: a clear error, at once.
    {
        let _wrong = coturn(&net.t, &dir, "another-secret");
        let log = dir.join("2-patient.log");
        let out = join(
            &net.b,
            &invite(&haven_secret, &url, "wrong", "patient"),
            &log,
            &["--relay-only"],
        )
        .wait_with_output()
        .expect("ran");
        assert!(!out.status.success(), "joined with refused credentials");
        let said = std::fs::read_to_string(&log).expect("its log");
        assert!(
            said.contains("refused the credentials") && said.contains("401"),
            "{said}"
        );
    }

    // 3. The relay with the server's secret: a whole consult through it.
    let _relay = coturn(&net.t, &dir, SECRET);
    let (p_log, c_log) = (dir.join("3-patient.log"), dir.join("3-clinician.log"));
    let clinician = join(
        &net.a,
        &invite(&haven_secret, &url, "relayed", "clinician"),
        &c_log,
        &["--relay-only"],
    );
    let patient = join(
        &net.b,
        &invite(&haven_secret, &url, "relayed", "patient"),
        &p_log,
        &["--relay-only", "--share", records, "--share-with-newcomers"],
    );
    let patient = figures(&patient.wait_with_output().expect("ran"), &p_log);
    let clinician = figures(&clinician.wait_with_output().expect("ran"), &c_log);
    for f in [&patient, &clinician] {
        assert_eq!(f["peers_seen"], 1, "{f}");
        let paths = f["paths"].as_array().expect("paths");
        assert!(
            paths.len() == 1
                && paths[0]
                    .as_str()
                    .is_some_and(|p| p.ends_with(": relay/relay")),
            "not relayed both ways: {f}"
        );
        // 10 ms frames for most of the stay (they start once connected).
        assert!(f["audio_frames_received"].as_u64() > Some(300), "{f}");
        assert!(f["relay_unavailable"].is_null(), "{f}");
    }
    assert_eq!(patient["shares_sent"], 1, "{patient}");
    assert!(patient["shares_viewed"].as_u64() >= Some(1), "{patient}");
    drop(serve);
    heavy::ran();
    let _ = std::fs::remove_dir_all(&dir);
}
