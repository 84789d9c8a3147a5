//! Short-lived TURN credentials for a relay that shares a secret with this server (coturn's
//! `use-auth-secret`, the "TURN REST API" scheme): the user name is `EXPIRY:haven-pN`
//! (seconds since the epoch, then who it was handed to), the password is
//! `base64(HMAC-SHA1(secret, user name))`. The relay checks both from the shared secret alone,
//! so the two never talk; a credential stops working at its expiry.
//!
//! The user name names a peer id and nothing else: the relay logs it.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use haven_proto::Redacted;
use haven_proto::signal::{IceServer, PeerId};
use thiserror::Error;

/// Longest secret file read (a secret is a line of text; anything longer is a wrong file).
const MAX_SECRET_FILE: u64 = 4096;

/// A TURN relay whose credentials this server mints.
#[derive(Clone)]
pub struct TurnRelay {
    /// Its `turn:` URLs, e.g. `turn:192.0.2.7:3478?transport=udp`.
    urls: Vec<String>,
    /// The secret shared with the relay.
    secret: Redacted<Vec<u8>>,
    /// How long a credential works.
    ttl: Duration,
}

impl std::fmt::Debug for TurnRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnRelay")
            .field("urls", &self.urls)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// Why a TURN relay could not be set up.
#[derive(Debug, Error)]
pub enum TurnError {
    /// The secret file could not be read.
    #[error("reading the TURN secret: {0}")]
    Read(#[from] std::io::Error),
    /// The secret file is empty (after trimming), too long, or not text.
    #[error("the TURN secret file must hold one line of text (the relay's static-auth-secret)")]
    BadSecret,
    /// A URL is not a `turn:` URL webrtc-rs can use.
    #[error(
        "a TURN URL looks like turn:HOST:PORT or turn:HOST:PORT?transport=udp (UDP only; `turns:`, TCP and `//` are not supported): {0}"
    )]
    BadUrl(String),
    /// No URL was given.
    #[error("a TURN secret needs at least one --turn-url")]
    NoUrl,
    /// The lifetime is under a minute or longer than a day.
    #[error("a TURN credential's lifetime must be between 1 min and 24 h")]
    BadTtl,
}

impl TurnRelay {
    /// A relay at `urls` sharing `secret`, whose credentials work for `ttl`.
    pub fn new(urls: Vec<String>, secret: Vec<u8>, ttl: Duration) -> Result<Self, TurnError> {
        if urls.is_empty() {
            return Err(TurnError::NoUrl);
        }
        if let Some(bad) = urls.iter().find(|u| !usable_url(u)) {
            return Err(TurnError::BadUrl(bad.clone()));
        }
        if secret.is_empty() {
            return Err(TurnError::BadSecret);
        }
        if ttl < Duration::from_secs(60) || ttl > Duration::from_secs(24 * 3600) {
            return Err(TurnError::BadTtl);
        }
        Ok(Self {
            urls,
            secret: Redacted::new(secret),
            ttl,
        })
    }

    /// Reads the secret from a file: one line of text, as in the relay's configuration
    /// (`static-auth-secret=`); surrounding white space is not part of it.
    pub fn secret_from_file(path: &Path) -> Result<Vec<u8>, TurnError> {
        use std::io::Read as _;
        let mut text = String::new();
        std::fs::File::open(path)?
            .take(MAX_SECRET_FILE + 1)
            .read_to_string(&mut text)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::InvalidData => TurnError::BadSecret,
                _ => TurnError::Read(e),
            })?;
        let secret = text.trim();
        if secret.is_empty() || text.len() as u64 > MAX_SECRET_FILE || secret.contains('\n') {
            return Err(TurnError::BadSecret);
        }
        Ok(secret.as_bytes().to_vec())
    }

    /// The relay with credentials for `peer`, valid from `now` (seconds since the epoch) for
    /// the relay's lifetime.
    pub fn credentials(&self, peer: PeerId, now: u64) -> IceServer {
        let expiry = now.saturating_add(self.ttl.as_secs());
        let username = format!("{expiry}:haven-{peer}");
        let key = ring::hmac::Key::new(
            ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            self.secret.expose(),
        );
        let tag = ring::hmac::sign(&key, username.as_bytes());
        IceServer {
            urls: self.urls.clone(),
            username: Some(username),
            credential: Some(Redacted::new(STANDARD.encode(tag.as_ref()))),
        }
    }
}

/// Whether webrtc-rs can use this URL for a relay: `turn:` over UDP, no `//`.
fn usable_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("turn:") else {
        return false;
    };
    let (host_port, query) = rest.split_once('?').unwrap_or((rest, ""));
    // A port, if named, is a port (`[v6]:port` has colons of its own).
    let port_ok = match host_port.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') && !port.ends_with(']') => {
            port.parse::<u16>().is_ok_and(|p| p != 0)
        }
        _ => true,
    };
    !host_port.is_empty()
        && !host_port.starts_with("//")
        && !host_port.starts_with(':')
        && port_ok
        && (query.is_empty() || query == "transport=udp")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay() -> TurnRelay {
        TurnRelay::new(
            vec!["turn:192.0.2.7:3478?transport=udp".to_owned()],
            b"north-wind-42".to_vec(),
            Duration::from_secs(6 * 3600),
        )
        .unwrap()
    }

    #[test]
    fn credentials_are_coturns_rest_scheme() {
        // Reference computed outside Rust: python3 -c "import hmac,hashlib,base64;
        // print(base64.b64encode(hmac.new(b'north-wind-42', b'1700021600:haven-p7',
        // hashlib.sha1).digest()).decode())"
        let server = relay().credentials(PeerId(7), 1_700_000_000);
        assert_eq!(server.username.as_deref(), Some("1700021600:haven-p7"));
        assert_eq!(
            server.credential.as_ref().map(|c| c.expose().as_str()),
            Some("yIXRY01Xh3JyQuBlKgT6+J5evd0=")
        );
        assert_eq!(server.urls, vec!["turn:192.0.2.7:3478?transport=udp"]);
        // Each peer and each moment gets its own.
        assert_ne!(
            relay().credentials(PeerId(8), 1_700_000_000).credential,
            server.credential
        );
        // The password never prints.
        assert!(!format!("{server:?}").contains("yIXR"));
        assert!(!format!("{:?}", relay()).contains("north"));
    }

    #[test]
    fn bad_configuration_is_refused() {
        let secret = || b"s".to_vec();
        let day = Duration::from_secs(3600);
        assert!(matches!(
            TurnRelay::new(vec![], secret(), day),
            Err(TurnError::NoUrl)
        ));
        for bad in [
            "turns:192.0.2.7:5349",
            "turn://192.0.2.7:3478",
            "turn:192.0.2.7:3478?transport=tcp",
            "stun:192.0.2.7:3478",
            "turn:",
            "turn:relay.example.org:abc",
            "turn::3478",
        ] {
            assert!(
                matches!(
                    TurnRelay::new(vec![bad.to_owned()], secret(), day),
                    Err(TurnError::BadUrl(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            TurnRelay::new(vec!["turn:h:1".to_owned()], Vec::new(), day),
            Err(TurnError::BadSecret)
        ));
        assert!(matches!(
            TurnRelay::new(vec!["turn:h:1".to_owned()], secret(), Duration::ZERO),
            Err(TurnError::BadTtl)
        ));
    }

    #[test]
    fn the_secret_file_is_one_trimmed_line() {
        let dir = std::env::temp_dir().join(format!("haven-turn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("turn.secret");
        std::fs::write(&file, "  north-wind-42\n").unwrap();
        assert_eq!(
            TurnRelay::secret_from_file(&file).unwrap(),
            b"north-wind-42"
        );
        for bad in ["\n \n", "two\nlines", &"x".repeat(5000)] {
            std::fs::write(&file, bad).unwrap();
            assert!(
                matches!(
                    TurnRelay::secret_from_file(&file),
                    Err(TurnError::BadSecret)
                ),
                "{bad:.10}"
            );
        }
        std::fs::write(&file, [0xff, 0xfe, b'a']).unwrap();
        assert!(matches!(
            TurnRelay::secret_from_file(&file),
            Err(TurnError::BadSecret)
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
