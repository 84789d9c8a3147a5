//! `haven invite`.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use haven_proto::signal::{Role, RoomId};
use haven_signal::{Fingerprint, InviteRequest, ServerSecret, TlsIdentity, issue};

/// Flags of `haven invite`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The server's secret file (the one `haven serve --secret` uses).
    #[arg(long, default_value = "haven.secret")]
    secret: PathBuf,
    /// The server as peers reach it: wss://HOST:PORT.
    #[arg(long)]
    server: String,
    /// The room: 1-64 of A-Z a-z 0-9 - _ (it appears in server logs: no names).
    #[arg(long)]
    room: RoomId,
    /// The role the holder joins as.
    #[arg(long, value_parser = parse_role)]
    role: Role,
    /// How long the invite is valid, e.g. 30m, 2h.
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
    ttl: Duration,
    /// Joins the invite allows (a reconnect is a join).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    uses: u32,
    /// SHA-256 fingerprint of a self-signed server certificate to pin. Default: the one
    /// `haven serve` keeps beside the secret, if any.
    #[arg(long)]
    pin: Option<Fingerprint>,
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse().map_err(|e| format!("{e}"))
}

fn split_server(url: &str) -> anyhow::Result<(String, u16)> {
    let rest = url
        .strip_prefix("wss://")
        .context("--server must be wss://HOST:PORT")?
        .trim_end_matches('/');
    let (host, port) = rest
        .rsplit_once(':')
        .context("--server must name a port: wss://HOST:PORT")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        bail!("--server names no host");
    }
    Ok((
        host.to_owned(),
        port.parse().context("--server port is not a number")?,
    ))
}

#[expect(clippy::print_stdout, reason = "the invite is the command's output")]
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    if !args.secret.exists() {
        bail!(
            "no secret at {} (start `haven serve --secret {}` once, or pass the server's secret)",
            args.secret.display(),
            args.secret.display()
        );
    }
    let secret = ServerSecret::load_or_create(&args.secret)?;
    let (host, port) = split_server(&args.server)?;
    if args.ttl.is_zero() {
        bail!("--ttl must be longer than zero");
    }
    let pin = match args.pin {
        Some(pin) => Some(pin),
        None => {
            let kept = crate::serve::self_signed_path(&args.secret);
            if kept.exists() {
                Some(TlsIdentity::from_pem_files(&kept, &kept)?.fingerprint())
            } else {
                None
            }
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs();
    let token = issue(
        &secret,
        InviteRequest {
            host,
            port,
            room: args.room.clone(),
            role: args.role,
            ttl_secs: args.ttl.as_secs().max(1),
            uses: args.uses,
            pin: pin.map(|p| p.to_hex()),
        },
        now,
    )
    .context("no randomness for the invite's nonce")?;
    println!(
        "invite for a {} in room {}, valid {}, {} join(s):",
        args.role,
        args.room,
        humantime::format_duration(args.ttl),
        args.uses
    );
    println!("{token}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_split_into_host_and_port() {
        assert_eq!(
            split_server("wss://127.0.0.1:8443").expect("ok"),
            ("127.0.0.1".into(), 8443)
        );
        assert_eq!(
            split_server("wss://[::1]:9/").expect("ok"),
            ("::1".into(), 9)
        );
        assert!(split_server("https://x:1").is_err());
        assert!(split_server("wss://x").is_err());
        assert!(split_server("wss://:1").is_err());
    }
}
