//! A group room through the media server (Janus VideoRoom): five people, more than a mesh
//! holds, in one network namespace with Janus on a veth address (Janus offers no loopback
//! candidates). In order:
//! 1. a clinician and four patients join with group invites: each hears and sees the other
//!    four through Janus, a patient's share reaches the clinician (over their direct
//!    connection) and never another patient, and two patients never connect directly;
//! 2. Janus is killed while they are in the room: each says the media server was lost;
//! 3. Janus is started again: each (a script tries again every second) publishes again.
//!
//! Needs root, `ip` and Janus (`cargo xtask deps` installs Debian's `janus`); outside CI the
//! test says why it skips when those are missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::relay::{figures, invite_with, served_at, wait_for_line};
use crate::support::{Namespace, Reaped, heavy, run_ip};

const HAVEN: &str = env!("CARGO_BIN_EXE_haven");
/// Janus's (and every process's) address, on a veth pair with both ends in the namespace.
const IP: &str = "10.99.0.1";
/// How long each participant stays at most (Janus is killed before that).
const STAY: &str = "24s";
/// How long everyone is in the room together before Janus is killed: the window the voice
/// and pose counts below are taken in.
const TOGETHER: Duration = Duration::from_secs(6);

/// Where Janus keeps its plugins and transports (Debian's `janus`: under the machine's
/// multiarch directory).
fn janus_lib() -> Option<PathBuf> {
    std::fs::read_dir("/usr/lib")
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("janus"))
        .find(|lib| lib.join("plugins/libjanus_videoroom.so").exists())
}

fn prerequisites() -> Result<(), String> {
    crate::support::need_root()?;
    if janus_lib().is_none() || Command::new("janus").arg("--version").output().is_err() {
        return Err("Janus is not installed (run `cargo xtask deps`)".into());
    }
    Ok(())
}

/// Janus's configuration (`assets/janus`): the VideoRoom plugin and the WebSocket transport
/// on `IP` only.
fn janus_config(dir: &Path) -> PathBuf {
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/janus");
    let lib = janus_lib().expect("checked by prerequisites");
    let fill = |name: &str| {
        std::fs::read_to_string(assets.join(name))
            .expect("a Janus configuration in assets/janus")
            .replace("@CONF@", &dir.display().to_string())
            .replace("@LIB@", &lib.display().to_string())
            .replace("@IP@", IP)
    };
    for (from, to) in [
        ("janus.jcfg.in", "janus.jcfg"),
        ("janus.plugin.videoroom.jcfg", "janus.plugin.videoroom.jcfg"),
        (
            "janus.transport.websockets.jcfg.in",
            "janus.transport.websockets.jcfg",
        ),
    ] {
        std::fs::write(dir.join(to), fill(from)).expect("writes Janus's configuration");
    }
    dir.join("janus.jcfg")
}

fn janus(ns: &Namespace, dir: &Path) -> Reaped {
    let config = janus_config(dir);
    let mut child = Reaped(
        ns.command("janus")
            .arg("-F")
            .arg(dir)
            .arg("-C")
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("janus starts"),
    );
    wait_for_line(
        child.0.stdout.take().expect("stdout"),
        "WebSockets thread started",
        Duration::from_secs(20),
    )
    .expect("Janus's WebSocket API is up");
    child
}

/// Waits (bounded) until every log says `marker`.
fn wait_for_logs(logs: &[PathBuf], marker: &str, within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    for round in 0u32.. {
        let missing: Vec<_> = logs
            .iter()
            .filter(|log| {
                !std::fs::read_to_string(log)
                    .unwrap_or_default()
                    .contains(marker)
            })
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline || round > 1000 {
            return Err(format!("{marker:?} not in {missing:?} within {within:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    unreachable!()
}

#[test]
fn five_people_meet_through_the_media_server_and_shares_stay_between_patient_and_clinician() {
    if let Err(why) = prerequisites() {
        heavy::skipped(&why);
        return;
    }
    let ns = Namespace::create("gr").expect("a namespace");
    let pid = std::process::id() % 100_000;
    let (a, b) = (format!("hg{pid}a"), format!("hg{pid}b"));
    run_ip(&[
        "link", "add", &a, "netns", &ns.0, "type", "veth", "peer", "name", &b, "netns", &ns.0,
    ])
    .expect("a veth pair");
    run_ip(&["-n", &ns.0, "addr", "add", &format!("{IP}/24"), "dev", &a]).expect("address");
    run_ip(&["-n", &ns.0, "link", "set", &a, "up"]).expect("up");
    run_ip(&["-n", &ns.0, "link", "set", &b, "up"]).expect("up");
    let dir = std::env::temp_dir().join(format!("haven-group-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");

    let mut media = janus(&ns, &dir);
    let secret = dir.join("haven.secret");
    let mut serve = Reaped(
        ns.command(HAVEN)
            .args(["serve", "--listen", &format!("{IP}:8443")])
            .arg("--secret")
            .arg(&secret)
            .args(["--media-server", &format!("ws://{IP}:8188")])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("haven serve starts"),
    );
    let url = served_at(&mut serve);
    let records = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/patient-summary.json");
    let records = records.to_str().expect("utf-8 path");
    let group = ["--group", "6"];

    let join = |name: &str, role: &str, extra: &[&str]| {
        let log = dir.join(format!("{name}.log"));
        let child = ns
            .command(HAVEN)
            .args(["join", "--headless", "--duration", STAY])
            .args(if role == "patient" {
                &["--group-ok"][..]
            } else {
                &[]
            })
            .args(extra)
            .arg(invite_with(&secret, &url, "circle", role, &group))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("haven join starts");
        (name.to_owned(), child, log)
    };
    let mut people = vec![join("clinician", "clinician", &[])];
    people.push(join(
        "sharing-patient",
        "patient",
        &["--share", records, "--share-with-newcomers"],
    ));
    for n in 2..=4 {
        people.push(join(&format!("patient-{n}"), "patient", &[]));
    }
    let logs: Vec<PathBuf> = people.iter().map(|(_, _, log)| log.clone()).collect();
    wait_for_logs(
        &logs,
        "publishing through the group's media server",
        Duration::from_secs(30),
    )
    .expect("everyone publishes");
    // Together for a while (the window the counts below come from), then Janus dies.
    std::thread::sleep(TOGETHER);
    media.0.kill().expect("kills Janus");
    let _ = media.0.wait();
    wait_for_logs(&logs, "the media server was lost", Duration::from_secs(10))
        .expect("everyone says so");
    // Back: each session joins it again (the first one there makes the VideoRoom again).
    let _media = janus(&ns, &dir);
    wait_for_logs(
        &logs,
        "connecting to the group's media server again",
        Duration::from_secs(10),
    )
    .expect("everyone tries again");

    let all: Vec<(String, serde_json::Value)> = people
        .into_iter()
        .map(|(name, child, log)| {
            let f = figures(&child.wait_with_output().expect("ran"), &log);
            (name, f)
        })
        .collect();
    // Each patient in a chair of its own, the four lowest of the ring; the clinician at the
    // head of the table (chair 5 of the group's 6).
    let mut chairs: Vec<u64> = all
        .iter()
        .filter(|(name, _)| name != "clinician")
        .filter_map(|(_, f)| f["group_chair"].as_u64())
        .collect();
    chairs.sort_unstable();
    assert_eq!(chairs, [0, 1, 2, 3], "the patients' chairs");
    for (name, f) in all {
        if name == "clinician" {
            assert_eq!(f["group_chair"], 5, "{f}");
        }
        assert_eq!(
            f["media_server_joined"], 2,
            "{name} did not publish again once Janus was back: {f}"
        );
        assert_eq!(
            f["peers_seen"], 4,
            "{name} did not meet the other four: {f}"
        );
        // Each of the four others, over 100 voice packets (1 s of 10 ms frames; about 600
        // each in the 6 s together), and their avatars: presence reaches even those who
        // subscribed after it was first sent.
        assert_eq!(
            f["voices_heard"], 4,
            "{name} did not hear each of the others: {f}"
        );
        assert_eq!(f["avatars_seen"], 4, "{name} did not see each avatar: {f}");
        assert!(f["poses_received"].as_u64() > Some(400), "{name}: {f}");
        let lost = f["media_server_lost"].as_str().unwrap_or_default();
        assert!(
            lost.contains("media server"),
            "{name} did not say the media server was lost: {f}"
        );
        let paths = f["paths"].as_array().map_or(0, Vec::len);
        if name == "clinician" {
            assert_eq!(paths, 4, "a direct connection to each patient: {f}");
            assert_eq!(f["objects_received"], 1, "the patient's record: {f}");
        } else {
            assert_eq!(
                paths, 1,
                "{name}: a direct connection to the clinician only: {f}"
            );
            assert_eq!(f["objects_received"], 0, "{name} got another's share: {f}");
            assert_eq!(f["refused"], 0, "{name}: {f}");
        }
        if name == "sharing-patient" {
            assert_eq!(f["shares_sent"], 1, "to the clinician alone: {f}");
            assert_eq!(f["objects_delivered"], 1, "{f}");
            assert!(f["shares_viewed"].as_u64() >= Some(1), "{f}");
        }
    }
    drop(serve);
    let _ = std::fs::remove_dir_all(&dir);
}
