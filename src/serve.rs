//! `haven serve`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use haven_proto::signal::IceServer;
use haven_signal::{Limits, ServerConfig, ServerSecret, SignalServer, TlsIdentity};
use tracing::{info, warn};

/// Flags of `haven serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// The invite-signing key; created (mode 0600) with a fresh key if missing.
    #[arg(long, default_value = "haven.secret")]
    secret: PathBuf,
    /// PEM certificate chain. Without it the server uses a self-signed certificate kept beside
    /// the secret (SECRET.tls.pem) and prints its fingerprint.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// PEM private key for --cert.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Extra names (host names or IPs) for the self-signed certificate.
    #[arg(long = "name")]
    names: Vec<String>,
    /// STUN or TURN URL handed to peers (repeatable), e.g. stun:stun.example.org:3478.
    #[arg(long = "ice-server")]
    ice_servers: Vec<String>,
    /// The secret shared with a TURN relay (coturn's `static-auth-secret`), one line in a
    /// file: each joining peer gets its own short-lived credentials for the --turn-url relay.
    #[arg(long, requires = "turn_urls")]
    turn_secret: Option<PathBuf>,
    /// The TURN relay's URL (repeatable), e.g. turn:192.0.2.7:3478?transport=udp. UDP only.
    #[arg(long = "turn-url", requires = "turn_secret")]
    turn_urls: Vec<String>,
    /// How long a TURN credential works, e.g. 6h (a consult that resumes after it gets new
    /// ones; a credential only needs to outlive the allocation it opens).
    #[arg(long, default_value = "6h", value_parser = humantime::parse_duration)]
    turn_ttl: std::time::Duration,
    /// Run as one node of several: rooms, invite use counts and the relay between nodes go
    /// through this Redis (`rediss://` for TLS, or `unix:///run/redis.sock`; a password as
    /// `redis://:PASSWORD@host` or `unix:///path?pass=PASSWORD`). Every node needs the same
    /// --secret and the same certificate (--cert/--key, or a copy of SECRET.tls.pem) and
    /// revocation file. Offers and answers cross Redis's channels: use `rediss://` or a
    /// socket. Read from the environment variable HAVEN_REDIS if not given here (keeps a
    /// password out of the process list).
    #[arg(long, value_parser = redacted)]
    redis: Option<haven_proto::Redacted<String>>,
    /// The media server for group rooms (up to 12 people, invites made with `haven invite
    /// --group N`): Janus's WebSocket API as the peers reach it, e.g. ws://10.0.0.5:8188
    /// (`wss://` across networks). Voices and poses of a group room go through it; shares
    /// never do. Without it, group invites are refused.
    #[arg(long, value_parser = media_server_url, conflicts_with = "redis")]
    media_server: Option<String>,
}

/// A media server URL: `ws://` or `wss://`, with a host.
fn media_server_url(s: &str) -> Result<String, String> {
    let rest = s
        .strip_prefix("ws://")
        .or_else(|| s.strip_prefix("wss://"))
        .ok_or("a media server URL starts ws:// or wss://")?;
    if rest.is_empty() || rest.starts_with('/') || rest.chars().any(char::is_whitespace) {
        return Err("a media server URL names a host, e.g. ws://10.0.0.5:8188".to_owned());
    }
    Ok(s.to_owned())
}

/// A value that may hold a password, kept out of `Debug`.
fn redacted(s: &str) -> Result<haven_proto::Redacted<String>, String> {
    Ok(haven_proto::Redacted::new(s.to_owned()))
}

/// Where the self-signed identity lives for a given secret file.
pub(crate) fn self_signed_path(secret: &std::path::Path) -> PathBuf {
    let mut name = secret.as_os_str().to_owned();
    name.push(".tls.pem");
    PathBuf::from(name)
}

#[expect(
    clippy::print_stdout,
    reason = "scripts read the address line from stdout"
)]
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let secret = ServerSecret::load_or_create(&args.secret)?;
    let identity = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => TlsIdentity::from_pem_files(cert, key)?,
        _ => {
            let mut names = vec![
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
                "::1".to_owned(),
            ];
            if !args.listen.ip().is_unspecified() {
                names.push(args.listen.ip().to_string());
            }
            names.extend(args.names.iter().cloned());
            TlsIdentity::load_or_create_self_signed(&self_signed_path(&args.secret), names)?
        }
    };
    let self_signed = identity.self_signed;
    let turn = args
        .turn_secret
        .as_deref()
        .map(|file| {
            let secret = haven_signal::turn::TurnRelay::secret_from_file(file)
                .with_context(|| format!("--turn-secret {}", file.display()))?;
            haven_signal::turn::TurnRelay::new(args.turn_urls.clone(), secret, args.turn_ttl)
                .context("--turn-url")
        })
        .transpose()?;
    match rlimit::increase_nofile_limit(65_536) {
        Ok(n) if n < 4096 => warn!(
            limit = n,
            "few file descriptors: few connections can be held"
        ),
        Ok(_) => {}
        Err(e) => warn!(error = %e, "could not raise the file-descriptor limit"),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let redis = args
            .redis
            .as_ref()
            .map(|u| u.expose().clone())
            .or_else(|| std::env::var("HAVEN_REDIS").ok().filter(|u| !u.is_empty()));
        let cluster = match redis {
            Some(url) => {
                let cluster = haven_signal::cluster::Cluster::connect(&url)
                    .await
                    .context("--redis")?;
                info!(
                    node = cluster.node(),
                    "a node of a cluster: rooms are kept in Redis"
                );
                Some(cluster)
            }
            None => None,
        };
        let server = SignalServer::bind(ServerConfig {
            listen: args.listen,
            identity,
            secret,
            limits: Limits::default(),
            ice_servers: args
                .ice_servers
                .into_iter()
                .map(|url| IceServer {
                    urls: vec![url],
                    username: None,
                    credential: None,
                })
                .collect(),
            turn,
            cluster,
            media_server: args.media_server,
            // Joins counted and invites revoked are remembered beside the secret.
            invite_files: Some(haven_signal::ledger::InviteFiles::beside(&args.secret)),
        })
        .await?;
        let addr = server.local_addr()?;
        let fingerprint = server.fingerprint();
        if self_signed {
            println!("certificate SHA-256 fingerprint (self-signed): {fingerprint}");
        }
        println!("haven signaling listening on wss://{addr}");
        info!(%addr, "listening; Ctrl-C stops");
        server.run(shutdown_signal()).await;
        info!("stopped");
        anyhow::Ok(())
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
