//! The `haven` command line, as scripts and operators use it.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use haven_proto::invite::parse;
use haven_proto::signal::Role;
use haven_signal::{ClientTls, Fingerprint, SignalClient};

const HAVEN: &str = env!("CARGO_BIN_EXE_haven");

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("haven-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// `haven --version` names the commit the binary was built from (CI builds a clone, so there
/// is always one to name).
#[test]
fn the_version_names_the_commit_it_was_built_from() {
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("git runs: the tests are built from a git checkout");
    assert!(head.status.success(), "not a git checkout");
    let head = String::from_utf8(head.stdout).expect("utf-8");
    let out = Command::new(HAVEN).arg("--version").output().expect("runs");
    let version = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(
        version.trim(),
        format!(
            "haven {} (commit {})",
            env!("CARGO_PKG_VERSION"),
            head.trim()
        )
    );
}

/// A clinic's key and a clinician's credential from the command line: the files are the
/// owner's only, the invite names the clinic, and the credential is the clinic's.
#[test]
fn a_clinic_issues_a_credential_and_a_patients_invite_names_it() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = temp_dir("clinic");
    let ok = |args: &[&str]| {
        let out = Command::new(HAVEN)
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    ok(&[
        "clinic",
        "init",
        "--name",
        "Northside Clinic",
        "--out",
        "clinic",
    ]);
    ok(&[
        "clinic",
        "credential",
        "--clinic",
        "clinic/clinic.key",
        "--name",
        "Dr Ada Byrne",
        "--qualification",
        "GP",
        "--licence",
        "GMC 1",
        "--valid",
        "30days",
        "--out",
        "ada.credential",
    ]);
    for file in ["clinic/clinic.key", "ada.credential"] {
        let mode = std::fs::metadata(dir.join(file))
            .expect("written")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    let public = std::fs::read_to_string(dir.join("clinic/clinic.pub")).expect("clinic.pub");
    let identity =
        haven_signal::clinic::Identity::load(&dir.join("ada.credential")).expect("loads");
    assert_eq!(identity.credential().clinic, "Northside Clinic");
    assert_eq!(
        haven_signal::clinic::ClinicPublicKey(
            identity
                .credential()
                .clinic_key
                .clone()
                .try_into()
                .expect("32 bytes")
        )
        .to_string(),
        public.trim()
    );
    // `haven invite` needs a server secret; one made here stands for the server's.
    std::fs::write(dir.join("haven.secret"), "07".repeat(32)).expect("secret");
    let invite = ok(&[
        "invite",
        "--secret",
        "haven.secret",
        "--server",
        "wss://127.0.0.1:4433",
        "--room",
        "r1",
        "--role",
        "patient",
        "--pin",
        &"ab".repeat(32),
        "--clinic",
        "clinic/clinic.pub",
    ]);
    let token = invite.lines().last().expect("the invite").trim();
    assert_eq!(
        parse(token).expect("an invite").invite.clinic.as_deref(),
        Some(public.trim())
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["invite", "--help"],
        &["bench", "--help"],
        &["bench", "pose", "--help"],
        &["bench", "signal", "--help"],
        &["bench", "room", "--help"],
        &["join", "--help"],
        &["demo", "--help"],
        &["records", "show", "--help"],
        &["image", "strip", "--help"],
        &["image", "deid", "--help"],
        &["image", "info", "--help"],
        &["audit", "verify", "--help"],
        &["audit", "export", "--help"],
        &["audit", "compare", "--help"],
        &["clinic", "init", "--help"],
        &["clinic", "credential", "--help"],
    ] {
        let out = Command::new(HAVEN).args(args).output().expect("runs");
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}

#[test]
fn errors_go_to_stderr_with_a_nonzero_exit() {
    let dir = temp_dir("errors");
    let out = Command::new(HAVEN)
        .args([
            "invite",
            "--server",
            "wss://127.0.0.1:1",
            "--room",
            "r",
            "--role",
            "patient",
            "--secret",
        ])
        .arg(dir.join("missing"))
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no secret"));
    let bad_role = Command::new(HAVEN)
        .args([
            "invite",
            "--server",
            "wss://h:1",
            "--room",
            "r",
            "--role",
            "admin",
        ])
        .output()
        .expect("runs");
    assert!(!bad_role.status.success());
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("patient, clinician or therapist"));
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

/// `haven serve` on a free port, `haven invite` against it, a join with the invite (pinning
/// the certificate the invite names), and a clean stop on Ctrl-C.
#[test]
fn serve_and_invite_work_as_the_readme_says() {
    let dir = temp_dir("serve");
    let secret = dir.join("haven.secret");
    let mut serve = Command::new(HAVEN)
        .args(["serve", "--listen", "127.0.0.1:0", "--secret"])
        .arg(&secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let stdout = serve.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut url = None;
    let mut printed_fp = None;
    for line in lines.by_ref().take(5) {
        let line = line.expect("utf-8");
        if line.contains("fingerprint") {
            printed_fp = line
                .rsplit(' ')
                .next()
                .map(|s| s.parse::<Fingerprint>().expect("a fingerprint"));
        }
        if let Some(at) = line.find("wss://") {
            url = Some(line[at..].trim().to_owned());
            break;
        }
    }
    let url = url.expect("serve prints its wss:// address");
    let printed_fp = printed_fp.expect("serve prints its fingerprint");
    assert!(!url.ends_with(":0"), "the real port is printed: {url}");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&secret)
            .expect("secret exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the secret is private");
    }

    let out = Command::new(HAVEN)
        .args([
            "invite",
            "--server",
            &url,
            "--room",
            "consult-7",
            "--role",
            "clinician",
            "--ttl",
            "30m",
            "--secret",
        ])
        .arg(&secret)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let token = stdout
        .lines()
        .last()
        .expect("a last line")
        .trim()
        .to_owned();
    let invite = parse(&token).expect("the last line is an invite").invite;
    assert_eq!(invite.role, Role::Clinician);
    assert_eq!(invite.room.as_str(), "consult-7");
    let pin: Fingerprint = invite
        .pin
        .as_deref()
        .expect("the invite pins the self-signed cert")
        .parse()
        .expect("hex");
    assert_eq!(pin, printed_fp);

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let welcome = runtime.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(10),
            SignalClient::join(&invite.server_url(), &ClientTls::Pinned(pin), &token),
        )
        .await
        .expect("in time")
        .expect("joins")
        .1
    });
    assert_eq!(welcome.role, Role::Clinician);

    // Ctrl-C stops it cleanly.
    let status = Command::new("kill")
        .args(["-INT", &serve.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut stopped = None;
    for _ in 0..100 {
        if let Some(s) = serve.try_wait().expect("wait") {
            stopped = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let stopped = stopped.unwrap_or_else(|| {
        let _ = serve.kill();
        panic!("haven serve did not stop on Ctrl-C within 10 s")
    });
    assert!(stopped.success(), "{stopped:?}");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

/// The sharing commands on real sample files: the summary, the anonymous FHIR (no identifier
/// of the input left), a stripped image, a de-identified DICOM, and an audit log that verifies
/// until it is edited.
#[test]
fn the_sharing_commands_work_on_real_files() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let dir = temp_dir("share-cli");
    let run = |args: &[&str]| {
        let out = Command::new(HAVEN).args(args).output().expect("runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let ips = format!("{data}/fhir/ips-minimal.json");
    let (ok, summary, _) = run(&["records", "show", &ips]);
    assert!(
        ok && summary.contains("Problems") && summary.contains("DeLarosa"),
        "{summary}"
    );
    let (ok, anonymous, _) = run(&["records", "show", &ips, "--anonymous", "--json"]);
    assert!(ok, "{anonymous}");
    for identifier in ["DeLarosa", "Martha", "1972-05-01", "574687583"] {
        assert!(
            !anonymous.contains(identifier),
            "{identifier} left in the anonymous FHIR"
        );
    }
    let clean = dir.join("clean.jpg");
    let (ok, said, err) = run(&[
        "image",
        "strip",
        &format!("{data}/images/camera_gps_serial.jpg"),
        clean.to_str().expect("utf-8"),
    ]);
    assert!(ok && said.contains("GPS"), "{said}{err}");
    let deid = dir.join("deid.dcm");
    let (ok, said, err) = run(&[
        "image",
        "deid",
        &format!("{data}/dicom/CT_small.dcm"),
        deid.to_str().expect("utf-8"),
    ]);
    assert!(ok && said.contains("PatientName"), "{said}{err}");
    let (ok, info, _) = run(&["image", "info", deid.to_str().expect("utf-8")]);
    assert!(
        ok && info.contains("patient identity removed: true"),
        "{info}"
    );
    assert!(
        info.contains("identifying attributes present: none"),
        "{info}"
    );
    // A wrong type claimed by the extension is refused with a message, not a panic.
    let fake = dir.join("fake.png");
    std::fs::copy(format!("{data}/images/camera_gps_serial.jpg"), &fake).expect("copy");
    let (ok, _, err) = run(&["image", "strip", fake.to_str().expect("utf-8"), "/dev/null"]);
    assert!(
        !ok && err.starts_with("haven:") && !err.contains("panicked"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `haven bench room` runs the room's systems headless and reports its figures.
#[test]
fn the_room_bench_runs() {
    let out = Command::new(HAVEN)
        .args(["bench", "room", "--frames", "100", "--json"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let figures: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(figures["avatars"], 4);
    assert!(
        figures["room_systems_ms_per_frame"].as_f64().is_some(),
        "{figures}"
    );
}

/// A consult on a poor simulated link (10 % loss, 50 ± 30 ms each way) then cut for 5 s
/// (`haven bench faults`, shortened): the object arrives intact, every room event arrives
/// once and in order, the patient never leaves the clinician's room, the session comes back
/// after the cut, and the voice heard is mostly voice. The numeric bounds are far from what a
/// run measures (a debug build on two busy cores: 2 % concealed, gaps of 30 ms, back 1-7 s
/// after the cut, or up to a minute when the data channel's retransmission timer had backed
/// off) so they fail only when something breaks, not when the machine is slow.
#[test]
fn a_consult_on_a_poor_link_keeps_everything_and_survives_a_cut() {
    let out = Command::new(HAVEN)
        .args([
            "bench",
            "faults",
            "--seconds",
            "6",
            "--clean-seconds",
            "2",
            "--object-mb",
            "0.2",
            "--json",
        ])
        .env("HAVEN_LOG", "warn")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();
    let f: serde_json::Value = serde_json::from_str(&last).expect("JSON");
    assert_eq!(f["transfer_intact"], true, "{f}");
    assert_eq!(f["control_in_order"], true, "{f}");
    assert_eq!(f["control_duplicates"], 0, "{f}");
    assert_eq!(f["control_received"], f["control_sent"], "{f}");
    assert_eq!(f["peer_left"], false, "{f}");
    assert!(
        f["packets_lost"].as_u64() > Some(50),
        "loss was simulated: {f}"
    );
    assert!(
        // Most runs are back in 1-7 s; some wait for the data channel's retransmission timer,
        // which backs off during the cut up to 60 s (webrtc-sctp's RTO_MAX): 22-50 s in 3 of
        // 29 runs here, and over 60 s once in CI. The bench waits 90 s.
        f["cut_recovered_s"].as_f64().is_some_and(|s| s < 90.0),
        "back after the cut: {f}"
    );
    // The cut took signaling too: both sides lost it and took their places back.
    assert_eq!(f["signaling_lost"], 2, "{f}");
    assert!(
        f["signaling_back_s"].as_f64().is_some_and(|s| s < 60.0),
        "signaling back after the cut: {f}"
    );
    assert!(
        f["voice_concealed_pct"].as_f64().is_some_and(|p| p < 50.0),
        "mostly voice heard: {f}"
    );
    assert!(
        f["voice_recovered_by_fec"].as_u64() > Some(0),
        "FEC rebuilt lost frames: {f}"
    );
}

/// `haven bench scenes` shows each scene at 10 headless beside the consult room, and times the
/// safe room's key to a black frame (under 300 ms at 90 Hz: 27 frames).
#[test]
fn the_scenes_bench_runs() {
    let out = Command::new(HAVEN)
        .args(["bench", "scenes", "--frames", "100", "--json"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let figures: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let frames = figures["safe_room_key_to_black_frames"]
        .as_u64()
        .expect("a frame count");
    assert!((1..27).contains(&frames), "{figures}");
    assert!(
        figures["spiders_10_frame_us_p50"].as_f64() > Some(0.0),
        "{figures}"
    );
}

/// A running `haven serve`: its address and pin; stopped (Ctrl-C, then waited for) on drop.
struct Served {
    child: std::process::Child,
    url: String,
    /// Printed for a self-signed certificate only.
    pin: Option<Fingerprint>,
}

impl Served {
    fn start(secret: &std::path::Path) -> Self {
        Self::start_with(secret, &[])
    }

    fn start_with(secret: &std::path::Path, extra: &[&std::ffi::OsStr]) -> Self {
        let mut child = Command::new(HAVEN)
            .args(["serve", "--listen", "127.0.0.1:0", "--secret"])
            .arg(secret)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts");
        let stdout = child.stdout.take().expect("stdout");
        let (mut url, mut pin) = (None, None);
        for line in BufReader::new(stdout).lines().take(5).map_while(Result::ok) {
            if line.contains("fingerprint") {
                pin = line.rsplit(' ').next().and_then(|s| s.parse().ok());
            }
            if let Some(at) = line.find("wss://") {
                url = Some(line[at..].trim().to_owned());
                break;
            }
        }
        Self {
            child,
            url: url.expect("an address"),
            pin,
        }
    }

    /// Joins with `token`: `Ok` when welcomed, else the refusal's code.
    fn join(&self, token: &str) -> Result<(), haven_proto::signal::ErrorCode> {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async {
            let joined = tokio::time::timeout(
                Duration::from_secs(10),
                SignalClient::join(
                    &self.url,
                    &ClientTls::Pinned(self.pin.expect("a self-signed server")),
                    token,
                ),
            )
            .await
            .expect("answered in time");
            match joined {
                Ok((client, _)) => {
                    drop(client);
                    Ok(())
                }
                Err(haven_signal::ClientError::Refused { code, .. }) => Err(code),
                Err(e) => panic!("neither welcomed nor refused: {e}"),
            }
        })
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
    }
}

/// Makes an invite; returns (its id, the invite).
fn make_invite(secret: &std::path::Path, url: &str, uses: &str) -> (String, String) {
    invite_in(secret, url, "uses-1", "clinician", &["--uses", uses])
}

/// `haven invite` for `room` and `role` (and `extra` flags); returns (its id, the invite).
fn invite_in(
    secret: &std::path::Path,
    url: &str,
    room: &str,
    role: &str,
    extra: &[&str],
) -> (String, String) {
    let out = Command::new(HAVEN)
        .args(["invite", "--server", url, "--room", room, "--role", role])
        .args(extra)
        .arg("--secret")
        .arg(secret)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let id = text
        .split_whitespace()
        .nth(1)
        .expect("`invite ID for ...`")
        .to_owned();
    let token = text.lines().last().expect("the invite").trim().to_owned();
    (id, token)
}

/// A single-use invite stays used across a restart of the server, and an invite revoked by
/// its id (or by the invite itself) is refused by the running server, without rotating the
/// key.
#[test]
fn invite_uses_survive_a_restart_and_an_invite_can_be_revoked() {
    use haven_proto::signal::ErrorCode;
    let dir = temp_dir("uses");
    let secret = dir.join("haven.secret");
    let served = Served::start(&secret);
    let (_, once) = make_invite(&secret, &served.url, "1");
    assert_eq!(served.join(&once), Ok(()));
    assert_eq!(served.join(&once), Err(ErrorCode::TokenUsed));
    drop(served);
    let served = Served::start(&secret);
    assert_eq!(
        served.join(&once),
        Err(ErrorCode::TokenUsed),
        "a restart does not make a used invite new"
    );
    let revoke = |which: &str| {
        let out = Command::new(HAVEN)
            .args(["invite", "--revoke", which, "--secret"])
            .arg(&secret)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let (id, by_id) = make_invite(&secret, &served.url, "5");
    let (_, by_token) = make_invite(&secret, &served.url, "5");
    assert_eq!(served.join(&by_id), Ok(()));
    revoke(&id);
    revoke(&by_token);
    assert_eq!(
        served.join(&by_id),
        Err(ErrorCode::TokenUsed),
        "revoked by id"
    );
    assert_eq!(
        served.join(&by_token),
        Err(ErrorCode::TokenUsed),
        "revoked by invite"
    );
    drop(served);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

/// A server with a certificate from an authority (a clinic's CA, made here) is joined with
/// `--ca` (its invite pins nothing), and refused without it: the authority is not the
/// system's.
#[test]
fn a_server_certified_by_an_authority_is_joined_with_its_ca() {
    let dir = temp_dir("ca");
    let ca_key = rcgen::KeyPair::generate().expect("a key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Test Clinic CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("the CA");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server_key = rcgen::KeyPair::generate().expect("a key");
    let server_cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("params")
        .signed_by(&server_key, &issuer)
        .expect("signed by the CA");
    let (ca_pem, cert_pem, key_pem) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&ca_pem, ca_cert.pem()).expect("written");
    std::fs::write(&cert_pem, server_cert.pem()).expect("written");
    std::fs::write(&key_pem, server_key.serialize_pem()).expect("written");
    let secret = dir.join("haven.secret");
    let served = Served::start_with(
        &secret,
        &[
            "--cert".as_ref(),
            cert_pem.as_os_str(),
            "--key".as_ref(),
            key_pem.as_os_str(),
        ],
    );
    assert!(
        served.pin.is_none(),
        "a certificate from an authority is not pinned"
    );
    let out = Command::new(HAVEN)
        .args([
            "invite",
            "--server",
            &served.url,
            "--room",
            "ca-1",
            "--role",
            "patient",
        ])
        .arg("--secret")
        .arg(&secret)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .last()
        .expect("the invite")
        .trim()
        .to_owned();
    assert_eq!(parse(&token).expect("an invite").invite.pin, None);
    let join = |ca: Option<&std::path::Path>| {
        let mut cmd = Command::new(HAVEN);
        cmd.args([
            "join",
            "--headless",
            "--loopback-only",
            "--still",
            "--voice-in",
            "silent",
        ])
        .args(["--duration", "3s"]);
        if let Some(ca) = ca {
            cmd.arg("--ca").arg(ca);
        }
        cmd.arg(&token).output().expect("runs")
    };
    let trusted = join(Some(&ca_pem));
    let said = String::from_utf8_lossy(&trusted.stderr).into_owned();
    assert!(
        trusted.status.success() && said.contains("joined"),
        "joined through the CA: {said}"
    );
    let untrusted = join(None);
    let said = String::from_utf8_lossy(&untrusted.stderr).into_owned();
    assert!(
        !untrusted.status.success()
            && said.contains("the session ended")
            && !said.contains(" joined"),
        "refused without the CA: {said}"
    );
    drop(served);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

/// The scene's sound on the patient's side, as its WAV sink recorded it: a scripted therapist
/// (`--propose flying:10`) proposes the cabin at 10, the headless patient accepts, and the
/// engines are heard (both voices are silent: all that plays is the scene); the therapist
/// leaves after 6 s, the patient's
/// app goes to the safe room by itself, and from then on the recording is silent.
#[test]
fn the_scene_sound_plays_for_the_patient_and_the_safe_room_silences_it() {
    use haven_voice::source::{Source as _, WavSource};
    let dir = temp_dir("scene-sound");
    let secret = dir.join("haven.secret");
    let served = Served::start(&secret);
    let invite = |role: &str| invite_in(&secret, &served.url, "scene-sound", role, &[]).1;
    let wav = dir.join("patient.wav");
    let patient = Command::new(HAVEN)
        .args(["join", "--headless", "--loopback-only", "--duration", "14s"])
        .args([
            "--anonymous",
            "--accept-scenes",
            "--voice-in",
            "silent",
            "--voice-out",
        ])
        .arg(&wav)
        .arg(invite("patient"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the patient joins");
    let therapist = Command::new(HAVEN)
        .args(["join", "--headless", "--loopback-only", "--duration", "6s"])
        .args([
            "--name",
            "Therapist",
            "--propose",
            "flying:10",
            "--voice-in",
            "silent",
        ])
        .arg(invite("therapist"))
        .output()
        .expect("the therapist joins");
    assert!(
        therapist.status.success(),
        "{}",
        String::from_utf8_lossy(&therapist.stderr)
    );
    let patient = patient.wait_with_output().expect("the patient ends");
    assert!(
        patient.status.success(),
        "{}",
        String::from_utf8_lossy(&patient.stderr)
    );
    let figures: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&patient.stdout)
            .lines()
            .last()
            .expect("figures"),
    )
    .expect("JSON");
    let mut source = WavSource::open(&wav).expect("a 48 kHz mono WAV");
    let mut pcm = Vec::new();
    while !source.finished() {
        pcm.extend(source.next_frame(480));
    }
    drop(served);
    let _ = std::fs::remove_dir_all(&dir);
    // 100 ms windows: loud ones (the engines) and then, to the end, only silent ones.
    let windows: Vec<f32> = pcm
        .chunks(4_800)
        .map(haven_scenes::sound::level_db)
        .collect();
    let loud = windows.iter().filter(|&&db| db > -45.0).count();
    let last_loud = windows.iter().rposition(|&db| db > -45.0);
    assert!(
        loud >= 20,
        "the engines were heard for only {loud} tenths of a second: {windows:?} {figures}"
    );
    let last_loud = last_loud.expect("some sound");
    let silent_after = windows.len() - 1 - last_loud;
    assert!(
        silent_after >= 20,
        "the safe room was silent for only {silent_after} tenths of a second at the end"
    );
    // Silent means nothing at all: the scene's sound is gone, not quieter.
    let tail = &pcm[(last_loud + 1) * 4_800..];
    assert!(
        tail.iter().all(|&s| s == 0),
        "the safe room is not silent: peak {}",
        tail.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0)
    );
}

/// A patient is told, before joining a group room, that the clinic's media server hears the
/// voices it forwards; without an answer (no terminal, no `--group-ok`) the join stops there,
/// before any connection. A clinician's join is not asked; a group of 13 is refused.
#[test]
fn a_patient_is_told_of_the_media_server_before_joining_a_group_room() {
    let dir = temp_dir("group");
    std::fs::write(dir.join("haven.secret"), "07".repeat(32)).expect("secret");
    let invite = |role: &str, group: &str| {
        Command::new(HAVEN)
            .current_dir(&dir)
            .args(["invite", "--secret", "haven.secret", "--server"])
            // Nothing listens there: a join that got past the notice would fail to connect.
            .args(["wss://127.0.0.1:9", "--room", "circle", "--role", role])
            .args(["--group", group])
            .output()
            .expect("haven invite runs")
    };
    assert!(
        !invite("patient", "13").status.success(),
        "a group is 2 to 12"
    );
    let made = invite("patient", "8");
    assert!(made.status.success());
    let token = String::from_utf8_lossy(&made.stdout)
        .lines()
        .last()
        .expect("an invite")
        .trim()
        .to_owned();
    assert_eq!(parse(&token).expect("an invite").invite.group, Some(8));
    let join = |token: &str, extra: &[&str]| {
        Command::new(HAVEN)
            .args(["join", "--headless", "--duration", "1s"])
            .args(extra)
            .arg(token)
            .stdin(Stdio::null())
            .output()
            .expect("haven join runs")
    };
    let out = join(&token, &[]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "joined without an answer: {said}");
    assert!(
        said.contains("media server") && said.contains("can hear") && said.contains("--group-ok"),
        "{said}"
    );
    assert!(
        !said.contains("connecting") && !said.contains("joining:"),
        "{said}"
    );
    // With the answer given, it goes on to join (and fails only for want of a server).
    let out = join(&token, &["--group-ok"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("can hear") && !said.contains("--group-ok"),
        "{said}"
    );
    assert!(said.contains("joining"), "it tried the server: {said}");
    let _ = std::fs::remove_dir_all(&dir);
}
