//! Interop with an independent WebRTC implementation: aiortc (Python) joins through
//! `haven serve`, and `haven join` connects to it. Voice goes both ways (each side's recording
//! must match what the other sent), and so do data-channel messages (aiortc encodes poses and
//! control events from the wire format's description; Haven's arrive intact).
//!
//! Everything runs inside a network namespace that holds only loopback, so no stack can reach
//! or send from another address. Needs root, `ip`, and Python with aiortc (`cargo xtask deps`
//! installs it); outside CI the test says why it skips when those are missing.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use haven_voice::sink::{Sink as _, WavSink};
use haven_voice::source::{Source as _, Synthetic, WavSource};

use crate::support::{Namespace, Reaped, heavy, voice_match};

const HAVEN: &str = env!("CARGO_BIN_EXE_haven");

fn prerequisites() -> Result<(), String> {
    crate::support::need_root()?;
    let py = Command::new("python3")
        .args(["-c", "import aiortc, websockets"])
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if !py.status.success() {
        return Err("python3 cannot import aiortc and websockets (run `cargo xtask deps`)".into());
    }
    Ok(())
}

/// Lines from a child's stdout, read on a thread so the test can wait with a deadline.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "a peer did not finish within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `seconds` of speech-like sound, silent for the 10 ms frames in `silent` (where the sender's
/// encoder goes to DTX and sends nothing).
fn write_wav(path: &Path, seed: u32, seconds: usize, silent: std::ops::Range<usize>) -> Vec<i16> {
    let mut source = Synthetic::voice_like(seed);
    let mut sink = WavSink::create(path).expect("creates the WAV");
    let mut all = Vec::new();
    for i in 0..seconds * 100 {
        let mut frame = source.next_frame(480);
        if silent.contains(&i) {
            frame.fill(0);
        }
        sink.play(&frame);
        all.extend(frame);
    }
    sink.finish().expect("finishes the WAV");
    all
}

fn read_wav(path: &Path) -> Vec<i16> {
    let mut wav = WavSource::open(path).expect("a 48 kHz mono WAV");
    let mut all = Vec::new();
    while !wav.finished() {
        all.extend(wav.next_frame(480));
    }
    all
}

#[test]
fn aiortc_and_haven_exchange_voice_and_messages() {
    if let Err(why) = prerequisites() {
        heavy::skipped(&why);
        return;
    }
    let ns = Namespace::create("it").expect("a network namespace");
    let dir: PathBuf = std::env::temp_dir().join(format!("haven-interop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (haven_in, py_in) = (dir.join("haven_in.wav"), dir.join("py_in.wav"));
    let (haven_out, py_out) = (dir.join("haven_out.wav"), dir.join("py_out.wav"));
    // Haven's side pauses for a second (DTX): aiortc must count no packet lost for it.
    let haven_sent = write_wav(&haven_in, 3, 4, 150..250);
    let py_sent = write_wav(&py_in, 11, 4, 0..0);

    let secret = dir.join("secret");
    let mut serve = Reaped(
        ns.command(HAVEN)
            .args(["serve", "--listen", "127.0.0.1:0", "--secret"])
            .arg(&secret)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts haven serve"),
    );
    let serve_lines = lines(&mut serve.0);
    let url = loop {
        let line = serve_lines
            .recv_timeout(Duration::from_secs(20))
            .expect("serve says where it listens");
        if let Some(at) = line.find("wss://") {
            break line[at..].trim().to_owned();
        }
    };
    let invite = |role: &str| {
        let out = Command::new(HAVEN)
            .args([
                "invite", "--server", &url, "--room", "interop", "--role", role, "--secret",
            ])
            .arg(&secret)
            .output()
            .expect("runs haven invite");
        assert!(out.status.success());
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .lines()
            .last()
            .expect("an invite")
            .to_owned()
    };
    let (patient, clinician) = (invite("patient"), invite("clinician"));

    // aiortc joins first and answers; Haven joins second and offers.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/aiortc_peer.py");
    let mut python = Reaped(
        ns.command("python3")
            .arg(&script)
            .args(["--invite", &patient, "--seconds", "9", "--send"])
            .arg(&py_in)
            .arg("--record")
            .arg(&py_out)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starts the aiortc peer"),
    );
    let py_lines = lines(&mut python.0);
    let welcomed = py_lines
        .recv_timeout(Duration::from_secs(30))
        .expect("aiortc is welcomed");
    assert!(welcomed.contains("welcomed"), "{welcomed}");

    let haven = ns
        .command(HAVEN)
        .args([
            "join",
            "--headless",
            "--loopback-only",
            "--duration",
            "6s",
            "--voice-in",
        ])
        .arg(&haven_in)
        .arg("--voice-out")
        .arg(&haven_out)
        .arg(&clinician)
        .env("HAVEN_LOG", "warn")
        .stderr(Stdio::inherit())
        .output()
        .expect("runs haven join");
    assert!(haven.status.success(), "haven join failed");
    let haven_seen: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&haven.stdout)
            .lines()
            .last()
            .expect("figures"),
    )
    .expect("haven join prints JSON");

    assert!(
        wait_exit(&mut python.0, Duration::from_secs(60)).success(),
        "the aiortc peer failed"
    );
    let py_report = py_lines.try_iter().last().expect("the aiortc peer reports");
    let py_seen: serde_json::Value = serde_json::from_str(&py_report).expect("JSON");

    // Messages, aiortc → Haven: its hand-encoded poses and two control events, none refused.
    assert!(
        haven_seen["poses_received"].as_u64() >= Some(100),
        "{haven_seen}"
    );
    assert_eq!(haven_seen["controls_received"], 2, "{haven_seen}");
    assert_eq!(haven_seen["refused"], 0, "{haven_seen}");
    // Haven → aiortc: 33-byte pose updates of version 1, and Haven's avatar choice (control
    // message: version 1, variant 0 = avatar, 1 = anonymous).
    assert_eq!(py_seen["connected"], true, "{py_seen}");
    assert!(py_seen["poses_received"].as_u64() >= Some(100), "{py_seen}");
    assert_eq!(py_seen["pose_first_bytes_ok"], true, "{py_seen}");
    // A pause in Haven's speech (DTX) steps the RTP timestamp only: aiortc saw no loss.
    assert!(
        py_seen["audio_packets_received"].as_u64() > Some(100),
        "{py_seen}"
    );
    assert_eq!(py_seen["audio_packets_lost"], 0, "{py_seen}");
    // Haven opened its channels in band, with the settings each needs.
    assert_eq!(py_seen["channel_settings_ok"], true, "{py_seen}");
    assert_eq!(
        py_seen["channels_taken"],
        serde_json::json!(["pose", "control", "bulk"]),
        "{py_seen}"
    );
    assert!(
        py_seen["pose_lengths"]
            .as_array()
            .is_some_and(|l| l.iter().all(|n| n == 33)),
        "{py_seen}"
    );
    let controls = py_seen["controls_received"].as_array().expect("a list");
    assert!(
        controls
            .iter()
            .any(|c| c.as_str().is_some_and(|h| h.starts_with("010001"))),
        "{py_seen}"
    );

    // Voice both ways: each recording matches what the other side sent.
    let heard_by_aiortc = read_wav(&py_out);
    let heard_by_haven = read_wav(&haven_out);
    let to_aiortc = voice_match(&haven_sent[..3 * 48_000], &heard_by_aiortc, 48_000);
    let to_haven = voice_match(&py_sent[..3 * 48_000], &heard_by_haven, 96_000);
    #[expect(clippy::print_stderr, reason = "the test reports what it measured")]
    {
        eprintln!("voice match: Haven → aiortc {to_aiortc:.2}, aiortc → Haven {to_haven:.2}");
    }
    assert!(
        to_aiortc > 0.7,
        "aiortc heard Haven with a match of {to_aiortc:.2}"
    );
    assert!(
        to_haven > 0.7,
        "Haven heard aiortc with a match of {to_haven:.2}"
    );
    drop(serve);
    let _ = std::fs::remove_dir_all(&dir);
    heavy::ran();
}
