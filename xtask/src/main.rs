//! Project tasks, so that a fresh machine needs two commands:
//!
//! - `cargo xtask demo`: the main job, `haven demo`: an embedded signaling server on loopback,
//!   a simulated patient (synthetic voice, scripted motion, a scan and records shared) and the
//!   clinician's room window (headless under Xvfb with a screenshot when there is no display).
//! - `cargo xtask test`: what CI runs: format check, clippy, the supply-chain checks and the
//!   SBOM (`cargo xtask deny`), every test (heavy ones must run in CI), every fuzz target for
//!   a few seconds.
//! - `cargo xtask fuzz [--seconds N] [TARGET...]`: the fuzz targets, longer.
//! - `cargo xtask deny [--advisories]`: `cargo deny` on licences, bans and sources (and the
//!   RustSec advisories with `--advisories`, where the network reaches GitHub), then the
//!   binary's CycloneDX SBOM in `target/sbom/`.
//!
//! Both first make sure the Debian packages the build needs are installed (with apt-get when
//! run as root; otherwise they say which to install).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context as _, bail};

/// Debian packages the build and tests need (the `opus` crate builds libopus with cmake;
/// Bevy needs ALSA, udev, xkbcommon and Wayland headers; lavapipe renders without a GPU under
/// Xvfb; the OpenXR loader lets the XR front end start or say why it cannot).
const DEBIAN_PACKAGES: &[&str] = &[
    "pkg-config",
    "cmake",
    "libasound2-dev",
    "libudev-dev",
    "libxkbcommon-dev",
    "libwayland-dev",
    "libxkbcommon-x11-0",
    "mesa-vulkan-drivers",
    "libvulkan1",
    "xvfb",
    "xauth",
    "libopenxr-loader1",
    "libopenxr-dev",
    // The TURN relay, the Redis and the media server (Janus, for group rooms) that the relay,
    // nodes and group tests start themselves (no system service is used).
    "coturn",
    "redis-server",
    "redis-tools",
    "janus",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("demo") => demo(&args[1..]),
        Some("deps") => deps(),
        Some("deny") => supply_chain(args.iter().any(|a| a == "--advisories")),
        Some("fuzz") => fuzz_command(&args[1..]),
        _ => {
            say(
                "usage: cargo xtask <demo | test | deps | deny [--advisories] | fuzz [--seconds N] [TARGET...]>",
            );
            say("  demo  run the main job: haven demo (a consult with a simulated patient)");
            say("  test  what CI runs: fmt, clippy, all tests, every fuzz target for 5 s");
            say(
                "  deps  install the Debian and Python packages the build, tests and benchmarks need",
            );
            say("  deny  cargo deny (licences, bans, sources; --advisories too) and the SBOM");
            say("  fuzz  run every fuzz target (or those named) for N seconds each (default 60)");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            say(&format!("xtask: {e:#}"));
            ExitCode::FAILURE
        }
    }
}

#[expect(
    clippy::print_stderr,
    reason = "xtask talks to the developer on stderr"
)]
fn say(line: &str) {
    eprintln!("{line}");
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_owned()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

fn run(mut cmd: Command, what: &str) -> anyhow::Result<()> {
    say(&format!("==> {what}"));
    let status = cmd.status().with_context(|| format!("starting: {what}"))?;
    if !status.success() {
        bail!("failed: {what} ({status})");
    }
    Ok(())
}

/// Debian packages for the benchmarks' references only (`cargo xtask deps`; the tests do not
/// need them): Chromium, the browser peer of `haven bench session`.
const BENCH_DEBIAN_PACKAGES: &[&str] = &["chromium"];

/// Python packages for the interop test: aiortc, an independent WebRTC implementation.
const PYTHON_PACKAGES: &[&str] = &["aiortc==1.16.0", "websockets>=13,<18"];

/// Installs what the build, tests and benchmarks need: Debian packages (as root), then the
/// Python packages of the interop test.
fn deps() -> anyhow::Result<()> {
    debian_deps(DEBIAN_PACKAGES)?;
    debian_deps(BENCH_DEBIAN_PACKAGES)?;
    python_deps()
}

fn python_deps() -> anyhow::Result<()> {
    let have = Command::new("python3")
        .args(["-c", "import aiortc, websockets"])
        .stderr(Stdio::null())
        .status();
    match have {
        Ok(status) if status.success() => Ok(()),
        Ok(_) => {
            let mut pip = Command::new("python3");
            pip.args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(PYTHON_PACKAGES);
            run(pip, &format!("pip install {}", PYTHON_PACKAGES.join(" ")))
        }
        Err(_) => {
            say("xtask: no python3; the aiortc interop test will skip (or fail in CI)");
            Ok(())
        }
    }
}

/// Installs missing Debian `packages` when root; otherwise names them.
fn debian_deps(packages: &[&str]) -> anyhow::Result<()> {
    let Ok(out) = Command::new("dpkg-query")
        .args(["-W", "-f=${Package} ${db:Status-Status}\n"])
        .args(packages)
        .stderr(Stdio::null())
        .output()
    else {
        say("xtask: no dpkg here; install the equivalents of these packages yourself:");
        say(&packages.join(" "));
        return Ok(());
    };
    let listed = String::from_utf8_lossy(&out.stdout);
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            !listed
                .lines()
                .any(|l| l.split_once(' ') == Some((p, "installed")))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !is_root {
        say(&format!(
            "xtask: missing Debian packages; install them with:\n  sudo apt-get install -y {}",
            missing.join(" ")
        ));
        return Ok(());
    }
    let mut update = Command::new("apt-get");
    update.args(["update", "-qq"]);
    run(update, "apt-get update")?;
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive");
    run(install, &format!("apt-get install {}", missing.join(" ")))
}

fn test() -> anyhow::Result<()> {
    // The tests' own packages; the benchmarks' references are `deps`'s.
    debian_deps(DEBIAN_PACKAGES)?;
    python_deps()?;
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    run(fmt, "cargo fmt --all --check")?;
    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]);
    run(
        clippy,
        "cargo clippy --workspace --all-targets -- -D warnings",
    )?;
    // The advisory database lives on GitHub, which CI machines cannot reach: `cargo xtask deny
    // --advisories` where there is a network.
    supply_chain(false)?;
    let mut test = cargo();
    test.args(["test", "--workspace", "--locked"]);
    run_tests(test)?;
    // Every fuzz target, briefly, from its kept corpus: they are run, not only compiled.
    fuzz(&[], FUZZ_SECONDS_IN_TEST)
}

/// The heavy tests: each writes a marker when it has done its work, or says why it could not
/// (`tests/e2e/support.rs`, `heavy`). In CI every one must have run.
const HEAVY: &[&str] = &[
    "demo::the_demo_falls_back_from_xr_and_renders_the_room_with_the_patient_in_it",
    "demo::the_patient_shares_from_the_picker_and_sees_the_clinician_across_the_table",
    "demo::the_therapy_demo_runs_a_scene_the_patient_accepted_and_shows_the_drop",
    "demo::the_therapists_picture_of_the_patients_view_matches_the_patients_own",
    "demo::every_scene_at_0_and_at_10_differs_where_its_threat_is",
    "demo::the_scripted_therapy_session_ends_with_the_patients_report_which_regenerates",
    "interop::aiortc_and_haven_exchange_voice_and_messages",
];

/// The names of the markers of `kind` ("ran", "skipped") the tests left, with their contents.
fn markers(dir: &Path, kind: &str) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(dir.join(kind)) else {
        return Vec::new();
    };
    let mut found: Vec<(String, String)> = entries
        .filter_map(Result::ok)
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    found.sort();
    found
}

/// Runs `cargo test`, echoing its output, and closes with one line that adds up every test
/// binary's result: `tests: N passed, M failed, K skipped`. A heavy test that skipped is named
/// with its reason and not counted as passed; in CI a heavy test that did not run fails.
fn run_tests(mut cmd: Command) -> anyhow::Result<()> {
    say("==> cargo test --workspace");
    let marks = target_dir().join("test-markers");
    let _ = std::fs::remove_dir_all(&marks);
    std::fs::create_dir_all(&marks)?;
    let mut child = cmd
        .env("HAVEN_TEST_MARKERS", &marks)
        .stdout(Stdio::piped())
        .spawn()
        .context("starting cargo test")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let (mut passed, mut failed) = (0u64, 0u64);
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        say(&line);
        if let Some(rest) = line.strip_prefix("test result: ") {
            let count = |word: &str| -> u64 {
                rest.split(';')
                    .filter_map(|part| {
                        part.trim()
                            .trim_start_matches("ok. ")
                            .trim_start_matches("FAILED. ")
                            .strip_suffix(word)
                    })
                    .filter_map(|n| n.trim().parse::<u64>().ok())
                    .sum()
            };
            passed += count("passed");
            failed += count("failed");
        }
    }
    let status = child.wait()?;
    let skipped = markers(&marks, "skipped");
    let ran: Vec<String> = markers(&marks, "ran").into_iter().map(|(n, _)| n).collect();
    // A skipped test returned early and libtest counted it as passed: it is not.
    let passed = passed.saturating_sub(skipped.len() as u64);
    say(&format!(
        "tests: {passed} passed, {failed} failed, {} skipped",
        skipped.len()
    ));
    for (name, why) in &skipped {
        say(&format!("  skipped (not passed): {name}: {why}"));
    }
    if !status.success() || failed > 0 {
        bail!("cargo test failed ({status})");
    }
    if passed == 0 {
        bail!("cargo test ran no test");
    }
    if std::env::var_os("CI").is_some() {
        let missing: Vec<&str> = HEAVY
            .iter()
            .copied()
            .filter(|h| !ran.iter().any(|r| r == h))
            .collect();
        if !missing.is_empty() {
            bail!(
                "in CI every heavy test must run; these left no marker that they did: {}",
                missing.join(", ")
            );
        }
    }
    Ok(())
}

/// Seconds each fuzz target runs in `cargo xtask test` (eleven targets: about a minute).
const FUZZ_SECONDS_IN_TEST: u32 = 5;

/// `cargo fuzz`: builds the targets with coverage instrumentation and runs them on libFuzzer.
const CARGO_FUZZ: Tool = Tool {
    name: "cargo-fuzz",
    version: "0.13.1",
};

/// Every fuzz target, as named in `fuzz/Cargo.toml`.
fn fuzz_targets() -> anyhow::Result<Vec<String>> {
    let manifest = std::fs::read_to_string(root().join("fuzz").join("Cargo.toml"))?;
    let mut targets = Vec::new();
    let mut in_bin = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin && let Some(name) = line.strip_prefix("name = ") {
            targets.push(name.trim_matches('"').to_owned());
        }
    }
    if targets.is_empty() {
        bail!("fuzz/Cargo.toml names no fuzz target");
    }
    Ok(targets)
}

/// `cargo xtask fuzz [--seconds N] [TARGET...]`.
fn fuzz_command(args: &[String]) -> anyhow::Result<()> {
    let mut seconds = 60;
    let mut named = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--seconds" {
            seconds = args
                .next()
                .context("--seconds needs a number")?
                .parse()
                .context("--seconds needs a number")?;
        } else {
            named.push(arg.clone());
        }
    }
    fuzz(&named, seconds)
}

/// What one fuzz run reached, from libFuzzer's closing lines.
#[derive(Default)]
struct FuzzFigures {
    runs: u64,
    cov: u64,
    corpus: u64,
}

fn fuzz_figures(stderr: &str) -> FuzzFigures {
    let mut figures = FuzzFigures::default();
    for line in stderr.lines() {
        // "#1234\tDONE   cov: 345 ft: 678 corp: 12/3456b ..."
        if line.starts_with('#') && line.contains("cov:") {
            let field = |key: &str| {
                line.split_whitespace()
                    .skip_while(|w| *w != key)
                    .nth(1)
                    .and_then(|v| v.split('/').next())
                    .and_then(|v| v.parse::<u64>().ok())
            };
            if let Some(runs) = line
                .trim_start_matches('#')
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
            {
                figures.runs = runs;
            }
            figures.cov = field("cov:").unwrap_or(figures.cov);
            figures.corpus = field("corp:").unwrap_or(figures.corpus);
        }
    }
    figures
}

/// Runs each fuzz target (all, or those `named`) for `seconds`, on libFuzzer without a
/// sanitizer (Rust's own checks, with debug assertions, on the stable toolchain), from its
/// kept corpus (`fuzz/corpus/TARGET`) and the test files that suit it; what a run finds new
/// goes to a scratch corpus under the target folder, never into the repository. A crash fails
/// with the input's path.
fn fuzz(named: &[String], seconds: u32) -> anyhow::Result<()> {
    let fuzz_bin = tool(&CARGO_FUZZ)?;
    let all = fuzz_targets()?;
    let targets: Vec<String> = if named.is_empty() {
        all
    } else {
        if let Some(unknown) = named.iter().find(|n| !all.contains(n)) {
            bail!("no fuzz target {unknown}; there are: {}", all.join(", "));
        }
        named.to_vec()
    };
    let scratch = target_dir().join("fuzz-corpus");
    let fuzz_target_dir = target_dir().join("fuzz");
    let mut build = Command::new(&fuzz_bin);
    build
        .current_dir(root())
        .args(["fuzz", "build", "-s", "none", "--target-dir"])
        .arg(&fuzz_target_dir);
    run(build, "cargo fuzz build (all targets, instrumented)")?;
    for target in &targets {
        let work = scratch.join(target);
        std::fs::create_dir_all(&work)?;
        let kept = root().join("fuzz").join("corpus").join(target);
        let artifacts = target_dir().join("fuzz-artifacts").join(target);
        std::fs::create_dir_all(&artifacts)?;
        let mut cmd = Command::new(&fuzz_bin);
        cmd.current_dir(root())
            .args(["fuzz", "run", "-s", "none", "--target-dir"])
            .arg(&fuzz_target_dir)
            .arg(target)
            .arg(&work);
        if kept.is_dir() {
            cmd.arg(&kept);
        }
        // Real files for the decoders of files.
        let seeds = match target.as_str() {
            "records" => Some("fhir"),
            "dicom" => Some("dicom"),
            "image" => Some("images"),
            _ => None,
        };
        if let Some(seeds) = seeds {
            cmd.arg(root().join("tests").join("data").join(seeds));
        }
        cmd.arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .arg("-print_final_stats=1");
        say(&format!("==> fuzz {target} for {seconds} s"));
        let out = cmd
            .output()
            .with_context(|| format!("starting fuzz target {target}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            for line in stderr
                .lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
            {
                say(line);
            }
            bail!(
                "fuzz target {target} found a failure; the input is in {}",
                artifacts.display()
            );
        }
        let f = fuzz_figures(&stderr);
        say(&format!(
            "fuzz {target}: {} runs in {seconds} s, coverage {} edges, corpus {}",
            f.runs, f.cov, f.corpus
        ));
        if f.runs == 0 {
            bail!("fuzz target {target} ran no input");
        }
    }
    Ok(())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// A cargo subcommand the checks need, at a pinned version.
struct Tool {
    name: &'static str,
    version: &'static str,
}

/// `cargo deny`: licences, bans, sources and advisories, configured in `deny.toml`.
const CARGO_DENY: Tool = Tool {
    name: "cargo-deny",
    version: "0.20.2",
};
/// `cargo cyclonedx`: the CycloneDX project's SBOM generator for cargo.
const CARGO_CYCLONEDX: Tool = Tool {
    name: "cargo-cyclonedx",
    version: "0.5.9",
};

/// The tool's binary, installed from crates.io (`--locked`, its pinned version) into the
/// target folder the first time (about two minutes each on two cores).
fn tool(tool: &Tool) -> anyhow::Result<PathBuf> {
    let tools = target_dir().join("tools");
    let root = tools.join(format!("{}-{}", tool.name, tool.version));
    let bin = root.join("bin").join(tool.name);
    if !bin.exists() {
        let mut install = cargo();
        install
            .args(["install", "--locked", "--version", tool.version, "--root"])
            .arg(&root)
            .arg(tool.name)
            // Its own build folder: the project's stays as it is.
            .env("CARGO_TARGET_DIR", tools.join("build"));
        run(
            install,
            &format!("cargo install {}@{}", tool.name, tool.version),
        )?;
    }
    Ok(bin)
}

/// `cargo deny` on licences, bans and sources (and advisories when asked), then the SBOM.
fn supply_chain(advisories: bool) -> anyhow::Result<()> {
    let deny = tool(&CARGO_DENY)?;
    let mut check = Command::new(&deny);
    check.current_dir(root());
    if advisories {
        check.args(["check"]);
        run(
            check,
            "cargo deny check (advisories, licences, bans, sources)",
        )?;
    } else {
        // `cargo deny --offline` reads `cargo metadata`, which needs every platform's crates
        // in the local registry, not only this one's: fetch them first (a no-op when there).
        let mut fetch = cargo();
        fetch.args(["fetch", "--locked"]);
        run(fetch, "cargo fetch --locked")?;
        check.args(["--offline", "check", "licenses", "bans", "sources"]);
        run(check, "cargo deny check licenses bans sources")?;
    }
    let sbom = sbom()?;
    say(&format!("SBOM: {}", sbom.display()));
    Ok(())
}

/// The `haven` binary's CycloneDX SBOM (JSON, spec 1.5, every dependency that goes into it,
/// build-time ones left out), as `target/sbom/haven-<commit>.cdx.json`, checked against
/// `Cargo.lock`.
fn sbom() -> anyhow::Result<PathBuf> {
    let cyclonedx = tool(&CARGO_CYCLONEDX)?;
    let mut make = Command::new(&cyclonedx);
    make.current_dir(root()).args([
        "cyclonedx",
        "--format",
        "json",
        "--spec-version",
        "1.5",
        "--describe",
        "binaries",
        "--no-build-deps",
        "-q",
    ]);
    run(make, "cargo cyclonedx")?;
    // It writes one file per binary beside each manifest: keep the binary's, drop the rest.
    let made = root().join("haven_bin.cdx.json");
    let _ = std::fs::remove_file(root().join("xtask").join("xtask_bin.cdx.json"));
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        );
    let dir = target_dir().join("sbom");
    std::fs::create_dir_all(&dir)?;
    let sbom = dir.join(format!("haven-{commit}.cdx.json"));
    std::fs::rename(&made, &sbom)
        .with_context(|| format!("cargo cyclonedx wrote no {}", made.display()))?;
    check_sbom(&sbom)?;
    Ok(sbom)
}

/// The SBOM describes `haven`, and lists the crates that carry its security (TLS, DTLS, crypto,
/// DICOM, images) at the versions `Cargo.lock` pins; every component it lists is in the lock.
fn check_sbom(path: &Path) -> anyhow::Result<()> {
    let bom: serde_json::Value = serde_json::from_slice(&std::fs::read(path)?)?;
    let lock = std::fs::read_to_string(root().join("Cargo.lock"))?;
    let mut locked = std::collections::HashSet::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_owned());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take()) {
            locked.insert(format!("{n}@{}", v.trim_matches('"')));
        }
    }
    if bom["bomFormat"] != "CycloneDX" || bom["metadata"]["component"]["name"] != "haven" {
        bail!("{} is not a CycloneDX SBOM of haven", path.display());
    }
    let listed: Vec<String> = bom["components"]
        .as_array()
        .context("the SBOM lists no components")?
        .iter()
        .map(|c| {
            format!(
                "{}@{}",
                c["name"].as_str().unwrap_or_default(),
                c["version"].as_str().unwrap_or_default()
            )
        })
        .collect();
    if let Some(stray) = listed.iter().find(|c| !locked.contains(*c)) {
        bail!("the SBOM lists {stray}, which Cargo.lock does not");
    }
    for key in [
        "ring",
        "rustls",
        "webrtc",
        "dtls",
        "opus",
        "dicom-object",
        "image",
    ] {
        let pinned = locked
            .iter()
            .filter(|l| l.split('@').next() == Some(key))
            .collect::<Vec<_>>();
        if !pinned.iter().any(|p| listed.contains(p)) {
            bail!("the SBOM does not list {key} at the version Cargo.lock pins ({pinned:?})");
        }
    }
    say(&format!("SBOM lists {} components", listed.len()));
    Ok(())
}

/// The main job: `haven demo` — an embedded signaling server on loopback, a simulated patient,
/// and the clinician's window. With no display it runs headless under Xvfb and says where the
/// screenshot is.
fn demo(extra: &[String]) -> anyhow::Result<()> {
    debian_deps(DEBIAN_PACKAGES)?;
    python_deps()?;
    let mut build = cargo();
    build.args(["build", "--bin", "haven"]);
    run(build, "cargo build --bin haven")?;
    let target = target_dir();
    let haven = target.join("debug").join("haven");
    let has_display =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if has_display {
        let mut demo = Command::new(&haven);
        demo.arg("demo").args(extra);
        return run(demo, "haven demo (close the window to stop)");
    }
    let state = target.join("demo");
    std::fs::create_dir_all(&state)?;
    let shot = state.join("haven-demo.png");
    say("No display here: running the demo headless under Xvfb (software rendering, slow).");
    let mut demo = Command::new("xvfb-run");
    demo.args(["-a", "-s", "-screen 0 1280x720x24"])
        .arg(&haven)
        .args(["demo", "--headless", "--frames", "60", "--screenshot"])
        .arg(&shot)
        .args(extra);
    run(demo, "xvfb-run haven demo --headless")?;
    say(&format!(
        "The room as the clinician saw it: {}",
        shot.display()
    ));
    Ok(())
}
