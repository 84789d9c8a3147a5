//! `haven invite`.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use haven_proto::signal::{Role, RoomId};
use haven_signal::clinic::{ClinicKey, ClinicPublicKey};
use haven_signal::{Fingerprint, InviteRequest, ServerSecret, TlsIdentity, issue};

/// Flags of `haven invite`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The server's secret file (the one `haven serve --secret` uses).
    #[arg(long, default_value = "haven.secret")]
    secret: PathBuf,
    /// The server as peers reach it: wss://HOST:PORT.
    #[arg(long, required_unless_present = "revoke")]
    server: Option<String>,
    /// The room: 1-64 of A-Z a-z 0-9 - _ (it appears in server logs: no names).
    #[arg(long, required_unless_present = "revoke")]
    room: Option<RoomId>,
    /// The role the holder joins as.
    #[arg(long, value_parser = parse_role, required_unless_present = "revoke")]
    role: Option<Role>,
    /// Revoke an invite instead of making one: the invite itself, or the id `haven invite`
    /// printed for it. The server refuses it from its next join on (no key rotation needed).
    /// Ids are base64url and may begin with `-`, so the value is taken as it is.
    #[arg(long, allow_hyphen_values = true, conflicts_with_all = ["server", "room", "role"])]
    revoke: Option<String>,
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
    /// The clinic whose clinicians the holder meets (its `clinic.pub`, or its key file from
    /// `haven clinic init`): the patient's app checks each clinician's credential against it.
    #[arg(long, conflicts_with = "revoke")]
    clinic: Option<PathBuf>,
    /// Makes the room a group room of up to N people (2–12; the first invite to open a room
    /// decides): voices and poses go through the server's media server (`haven serve
    /// --media-server`), shares stay peer to peer between patients and clinicians.
    #[arg(long, value_name = "N", conflicts_with = "revoke",
          value_parser = clap::value_parser!(u8).range(2..=12))]
    group: Option<u8>,
}

/// A clinic's public key from its `.pub` file (the key as text) or its key file.
pub(crate) fn clinic_key(path: &std::path::Path) -> anyhow::Result<ClinicPublicKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the clinic key {}", path.display()))?;
    if let Ok(key) = text.trim().parse::<ClinicPublicKey>() {
        return Ok(key);
    }
    Ok(ClinicKey::load(path)
        .with_context(|| {
            format!(
                "{} is neither a clinic.pub nor a clinic key",
                path.display()
            )
        })?
        .public_key())
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
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs();
    if let Some(which) = &args.revoke {
        return revoke(&secret, &args.secret, which.trim(), now);
    }
    let (Some(server), Some(room), Some(role)) = (&args.server, &args.room, args.role) else {
        bail!("--server, --room and --role are needed to make an invite");
    };
    let (host, port) = split_server(server)?;
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
    let token = issue(
        &secret,
        InviteRequest {
            host,
            port,
            room: room.clone(),
            role,
            ttl_secs: args.ttl.as_secs().max(1),
            uses: args.uses,
            pin: pin.map(|p| p.to_hex()),
            clinic: args.clinic.as_deref().map(clinic_key).transpose()?,
            group: args.group,
        },
        now,
    )
    .context("no randomness for the invite's nonce")?;
    let id = haven_proto::invite::parse(&token)
        .map(|p| p.invite.nonce)
        .context("the invite just made reads back")?;
    println!(
        "invite {id} for a {role} in room {room}, valid {}, {} join(s) (revoke it with \
         `haven invite --revoke {id}`):",
        humantime::format_duration(args.ttl),
        args.uses
    );
    println!("{token}");
    Ok(())
}

/// How long a revocation by id alone is kept (the invite's own expiry is not known then; no
/// invite lives longer than this).
const REVOKE_BY_ID_FOR: u64 = 400 * 24 * 3600;

#[expect(
    clippy::print_stdout,
    reason = "the confirmation is the command's output"
)]
fn revoke(
    secret: &ServerSecret,
    path: &std::path::Path,
    which: &str,
    now: u64,
) -> anyhow::Result<()> {
    // An invite string is checked against the key (its id and expiry then come from it); a
    // bare id is taken as it is.
    let (id, exp) = if which.starts_with("hv1.") {
        let invite = haven_signal::verify(secret, which, now).map_err(|e| {
            anyhow::anyhow!("not an invite of this server, or no longer valid: {e}")
        })?;
        (invite.nonce, invite.exp)
    } else {
        (which.to_owned(), now + REVOKE_BY_ID_FOR)
    };
    haven_signal::ledger::revoke(&haven_signal::ledger::InviteFiles::beside(path), &id, exp)
        .context("writing the revocation beside the secret")?;
    println!("invite {id} revoked: the server refuses it from its next join");
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

    /// An invite's id is base64url, so one in 64 begins with `-`: `--revoke` takes it as
    /// its value, not as a flag (CI once drew such an id).
    #[test]
    fn an_id_that_begins_with_a_hyphen_is_revoked_not_read_as_a_flag() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        let cli =
            <Cli as clap::Parser>::try_parse_from(["invite", "--revoke", "-GxQ2", "--secret", "s"])
                .expect("parses");
        assert_eq!(cli.args.revoke.as_deref(), Some("-GxQ2"));
        assert_eq!(cli.args.secret, PathBuf::from("s"));
    }
}
