//! `haven`: the one binary. `serve` runs the signaling server, `invite` makes invites, `join`
//! takes part in a consult, `bench` measures. Nothing clever lives here: each subcommand reads its flags and calls a crate.

mod bench;
mod clinic;
mod demo;
mod figure_shots;
mod invite;
mod join;
mod report;
mod room;
mod scene_tour;
mod serve;
mod share;
mod sim;
mod therapy;

/// mimalloc: parsing shared records into JSON trees is mostly allocation, and it cut the
/// records pipeline by about a fifth against the system allocator (`benches/records.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Haven: a private VR consult room.
#[derive(Debug, Parser)]
#[command(
    name = "haven",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("HAVEN_COMMIT"), ")"),
    about,
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the signaling server (WebSocket over TLS 1.3). It introduces peers and relays SDP
    /// and ICE only.
    Serve(serve::Args),
    /// Print a signed invite to a room, for one role.
    Invite(invite::Args),
    /// The clinic's signing key and its clinicians' credentials (checked by patients).
    Clinic(clinic::Args),
    /// Join a consult with an invite: the room window (flat or --xr), or --headless.
    Join(Box<join::Args>),
    /// The whole thing on one machine: signaling, a simulated patient, the clinician's room.
    Demo(demo::Args),
    /// Measure Haven (run a `--release` build for figures worth quoting).
    Bench(bench::Args),
    /// FHIR records: a readable summary, or what a share would send.
    Records(share::RecordsArgs),
    /// Images: strip metadata, de-identify DICOM, describe DICOM.
    Image(share::ImageArgs),
    /// Audit logs: verify the hash chain, export as FHIR AuditEvent.
    Audit(share::AuditArgs),
    /// A therapy session's report again from its timeline.json: the timeline, the FHIR
    /// Bundle, the SUDS chart and the gaze heat map.
    Report(report::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let (filter, ignored) = log_filter(std::env::var("HAVEN_LOG").ok().as_deref());
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if !ignored.is_empty() {
        tracing::warn!(
            ?ignored,
            "HAVEN_LOG: only levels and Haven's own targets are taken; these were ignored"
        );
    }
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Invite(args) => invite::run(args),
        Command::Clinic(args) => clinic::run(args),
        Command::Join(args) => join::run(*args),
        Command::Demo(args) => demo::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Report(args) => report::run(args),
        Command::Records(args) => share::records(args),
        Command::Image(args) => share::image(args),
        Command::Audit(args) => share::audit(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            #[expect(clippy::print_stderr, reason = "the binary reports its own failure")]
            {
                eprintln!("haven: {e:#}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// Haven's own log targets: `HAVEN_LOG` sets their level. Every other target (webrtc-rs and
/// its DTLS, ICE, STUN, RTP and SCTP crates, tungstenite, rustls, wgpu, Bevy, ...) is capped at
/// `warn` whatever `HAVEN_LOG` asks: their trace output prints tokens, SDP and packet bytes,
/// and Haven cannot vouch for what they log.
const OWN_TARGETS: &[&str] = &[
    "haven",
    "haven_app",
    "haven_proto",
    "haven_session",
    "haven_share",
    "haven_signal",
    "haven_voice",
    "haven_xr",
];

/// Other crates' chatter below `warn` too: webrtc-rs logs every closed socket at `warn` when
/// a peer leaves, and its DTLS a warning for each extension of a browser's hello it does not
/// know (DTLS 1.3's); the GPU stack its adapter details. Targets are the crates' library
/// names: webrtc-rs's DTLS logs as `dtls`, not `webrtc_dtls`.
const QUIET: &str = "webrtc=error,webrtc_ice=error,webrtc_sctp=error,dtls=error,\
webrtc_srtp=error,webrtc_mdns=error,webrtc_data=error,webrtc_util=error,interceptor=error,\
turn=error,stun=error,wgpu_core=error,wgpu_hal=error,winit=error";

/// The filter: `warn` (and [`QUIET`]) for everything, and for Haven's own targets `info` or
/// the level `HAVEN_LOG` gives. `HAVEN_LOG` is a level (`debug`), or `target=level` directives
/// of which only those naming one of Haven's targets are taken.
fn log_filter(user: Option<&str>) -> (String, Vec<String>) {
    let mut ignored = Vec::new();
    let mut levels: Vec<(String, String)> = OWN_TARGETS
        .iter()
        .map(|t| ((*t).to_owned(), "info".to_owned()))
        .collect();
    for directive in user
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        let is_level = |l: &str| l.parse::<tracing_subscriber::filter::LevelFilter>().is_ok();
        let own = |target: &str| {
            OWN_TARGETS
                .iter()
                .any(|t| target == *t || target.starts_with(&format!("{t}::")))
        };
        match directive.split_once('=') {
            // A level for all of Haven's targets.
            None if is_level(directive) => {
                for (_, level) in &mut levels {
                    directive.clone_into(level);
                }
            }
            // A bare target: everything it logs.
            None if own(directive) => levels.push((directive.to_owned(), "trace".to_owned())),
            Some((target, level)) if own(target) && is_level(level) => {
                levels.push((target.to_owned(), level.to_owned()));
            }
            // Another crate's target, a span filter or a typo: ignored (said at start).
            _ => ignored.push(directive.to_owned()),
        }
    }
    let own: Vec<String> = levels.iter().map(|(t, l)| format!("{t}={l}")).collect();
    (format!("warn,{QUIET},{}", own.join(",")), ignored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haven_log_reaches_havens_targets_only() {
        let (all, _) = log_filter(Some("trace"));
        assert!(all.starts_with("warn,"), "{all}");
        assert!(
            all.contains("haven_session=trace") && all.contains("haven=trace"),
            "{all}"
        );
        assert!(
            !all.contains("tungstenite") && !all.contains("dtls=trace"),
            "{all}"
        );
        let (named, ignored) = log_filter(Some(
            "tungstenite=trace,webrtc_dtls=trace,haven_app::session=debug",
        ));
        assert_eq!(ignored, ["tungstenite=trace", "webrtc_dtls=trace"]);
        assert!(
            !named.contains("tungstenite") && !named.contains("webrtc_dtls=trace"),
            "{named}"
        );
        assert!(named.contains("haven_app::session=debug"), "{named}");
        assert!(log_filter(None).0.contains("haven_share=info"));
        // A bare target of Haven's is everything it logs, not a level named after it.
        let (bare, ignored) = log_filter(Some("haven_session,nonsense"));
        assert!(
            bare.contains("haven_session=trace") && bare.contains("haven_app=info"),
            "{bare}"
        );
        assert_eq!(ignored, ["nonsense"]);
        // webrtc-rs's DTLS (library `dtls`) is held to errors: its warnings about a
        // browser's hello are noise.
        assert!(log_filter(None).0.contains(",dtls=error,"));
        // Every directive parses.
        for f in [all, named, bare, log_filter(None).0] {
            assert!(EnvFilter::try_new(&f).is_ok(), "{f}");
        }
    }
}
