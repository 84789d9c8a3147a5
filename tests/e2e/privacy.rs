//! What never reaches a log: a whole consult (a named patient sharing a scan and records with a
//! named clinician) with `HAVEN_LOG=trace` on every process, and not one line of any process's
//! log holds an invite token, an SDP body or candidate, a name, or a word of the records.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const HAVEN: &str = env!("CARGO_BIN_EXE_haven");

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("haven-privacy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Kills the process if the test ends early.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn invite(secret: &Path, url: &str, role: &str) -> String {
    let out = Command::new(HAVEN)
        .args([
            "invite",
            "--server",
            url,
            "--room",
            "private-1",
            "--role",
            role,
        ])
        .args(["--ttl", "10m", "--secret"])
        .arg(secret)
        .env("HAVEN_LOG", "trace")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .last()
        .expect("the invite")
        .trim()
        .to_owned()
}

fn join(invite: &str, name: &str, log: &Path, extra: &[&str]) -> Child {
    Command::new(HAVEN)
        .args([
            "join",
            "--headless",
            "--loopback-only",
            "--voice-in",
            "silent",
        ])
        .args(["--duration", "10s", "--name", name])
        .args(extra)
        .arg(invite)
        .env("HAVEN_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("starts")
}

#[test]
fn a_consult_at_trace_level_logs_no_token_sdp_name_or_record() {
    let dir = temp_dir("trace");
    let secret = dir.join("haven.secret");
    let server_log = dir.join("serve.log");
    let mut serve = Running(
        Command::new(HAVEN)
            .args(["serve", "--listen", "127.0.0.1:0", "--secret"])
            .arg(&secret)
            .env("HAVEN_LOG", "trace")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&server_log).expect("log file"))
            .spawn()
            .expect("starts"),
    );
    let stdout = serve.0.stdout.take().expect("stdout");
    let url = BufReader::new(stdout)
        .lines()
        .take(5)
        .map_while(Result::ok)
        .find_map(|l| l.find("wss://").map(|at| l[at..].trim().to_owned()))
        .expect("serve prints its address");
    let patient_invite = invite(&secret, &url, "patient");
    let clinician_invite = invite(&secret, &url, "clinician");
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let (patient_log, clinician_log) = (dir.join("patient.log"), dir.join("clinician.log"));
    let clinician = join(&clinician_invite, "Doctor Osei", &clinician_log, &[]);
    let ct = demo.join("ct-sample.dcm");
    let records = demo.join("patient-summary.json");
    let patient = join(
        &patient_invite,
        "Jane Example",
        &patient_log,
        &[
            "--share",
            ct.to_str().expect("utf-8 path"),
            "--share",
            records.to_str().expect("utf-8 path"),
            "--share-with-newcomers",
        ],
    );
    let patient = patient.wait_with_output().expect("the patient ran");
    let clinician = clinician.wait_with_output().expect("the clinician ran");
    assert!(patient.status.success() && clinician.status.success());
    // The consult really happened: both shares went, and the clinician's side held and
    // viewed them.
    let figures: serde_json::Value =
        serde_json::from_slice(&patient.stdout).expect("the patient's figures");
    assert_eq!(figures["shares_sent"], 2, "{figures}");
    assert!(figures["shares_viewed"].as_u64() >= Some(2), "{figures}");
    drop(serve);

    let mut forbidden: Vec<String> = vec![
        patient_invite.clone(),
        clinician_invite.clone(),
        "Jane".into(),
        "Example".into(),
        "Osei".into(),
        "v=0".into(),
        "a=fingerprint".into(),
        "a=ice-pwd".into(),
        "candidate:".into(),
        "Fuimaono".into(),
        "Iosefa".into(),
        "Flucloxacillin".into(),
        "Postconcussion".into(),
        "walking frame".into(),
    ];
    // An invite's signature alone is as good as the invite.
    for token in [&patient_invite, &clinician_invite] {
        forbidden.push(token.rsplit('.').next().expect("a tag").to_owned());
    }
    let mut lines = 0;
    for log in [&server_log, &patient_log, &clinician_log] {
        let text = std::fs::read_to_string(log).expect("the log");
        assert!(
            text.lines()
                .any(|l| l.contains("TRACE") || l.contains("DEBUG")),
            "trace was on for Haven's own targets: {}",
            log.display()
        );
        for line in text.lines() {
            lines += 1;
            for secret in &forbidden {
                assert!(
                    !line.contains(secret.as_str()),
                    "{} holds {secret:?}: {line}",
                    log.display()
                );
            }
        }
    }
    assert!(lines > 20, "the logs were written: {lines} lines");
    let _ = std::fs::remove_dir_all(&dir);
}
