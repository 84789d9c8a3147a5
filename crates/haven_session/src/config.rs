//! How to join: the signaling server, the invite, trust, addresses and timings.

use std::sync::Arc;
use std::time::Duration;

use haven_proto::invite;
use haven_signal::clinic::{ClinicPublicKey, Identity};
use haven_signal::{ClientTls, Fingerprint};
use thiserror::Error;

use crate::simnet;

/// Which addresses the session may gather and use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum NetworkPolicy {
    /// Loopback only, UDP over IPv4, no mDNS: tests, the demo and benches.
    LoopbackOnly,
    /// Every interface (mDNS off), plus the STUN/TURN servers from the welcome.
    #[default]
    Any,
}

/// How to join.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// `wss://host:port` of the signaling server.
    pub server_url: String,
    /// The invite string.
    pub token: String,
    /// How to trust the server.
    pub tls: ClientTls,
    /// Which addresses to use.
    pub network: NetworkPolicy,
    /// Bytes of incoming objects held at once, per peer.
    pub bulk_budget: u64,
    /// How quickly a broken connection is noticed and replaced.
    pub timing: ConnectionTiming,
    /// Run on a simulated network instead of the machine's (tests); `None`: the real one.
    pub simulated: Option<simnet::SimulatedNic>,
    /// This participant's clinic credential (a clinician or therapist): proved to every peer
    /// as the first room event of each connection.
    pub identity: Option<Arc<Identity>>,
    /// The clinic whose credentials this side checks clinicians and therapists against (from
    /// the invite).
    pub clinic: Option<ClinicPublicKey>,
    /// Use relayed paths only (through the TURN relay the server names): the other peers
    /// never learn this machine's addresses. Without a relay nothing connects.
    pub relay_only: bool,
    /// Faults a test puts in on purpose; none by default.
    pub faults: Faults,
    /// The invite makes a group room of this size (its `group`): only then is a welcome that
    /// names a media server taken (the patient was told of it before joining); a welcome that
    /// names one for any other invite ends the session.
    pub group: Option<u8>,
}

/// Faults a test puts in to watch the session recover from them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// On the answering side, refuse (never wire, then close) the data channel with this label on
    /// the first connection to each peer: the channel never opens, as when webrtc-rs loses
    /// one, and the connection must be noticed and rebuilt.
    pub refuse_first_channel: Option<&'static str>,
}

/// How quickly a broken connection is noticed and replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionTiming {
    /// No traffic for this long: ICE says `disconnected`.
    pub disconnected_after: Duration,
    /// No traffic for this long: ICE says `failed`, and the offerer restarts ICE.
    pub failed_after: Duration,
    /// How often ICE checks an idle pair.
    pub keepalive: Duration,
    /// Not connected this long after an ICE restart (or a rebuild): the offerer builds a new
    /// connection.
    pub rebuild_after: Duration,
    /// Connected this long with a data channel still not open: the connection is rebuilt.
    pub channels_within: Duration,
}

impl Default for ConnectionTiming {
    /// webrtc-rs's ICE timings (5 s, 25 s, 2 s), 10 s for a restart to work and 5 s for the
    /// channels to open once connected (they open in milliseconds: an SCTP handshake and one
    /// open message each way).
    fn default() -> Self {
        Self {
            disconnected_after: Duration::from_secs(5),
            failed_after: Duration::from_secs(25),
            keepalive: Duration::from_secs(2),
            rebuild_after: Duration::from_secs(10),
            channels_within: Duration::from_secs(5),
        }
    }
}

/// Why a session could not be set up.
#[derive(Debug, Error)]
pub enum SessionError {
    /// The invite could not be read.
    #[error("invite: {0}")]
    Invite(#[from] invite::InviteError),
    /// The invite pins a malformed fingerprint.
    #[error("the invite's certificate pin is malformed")]
    Pin,
    /// The invite's clinic key is malformed.
    #[error("the invite's clinic key is malformed")]
    Clinic,
    /// The invite names no pin, and no certificate authority was found (none in the system,
    /// none given with `--ca`).
    #[error(
        "the invite does not pin a certificate and no certificate authority was found; pass --ca FILE"
    )]
    NoTrust,
    /// A certificate authority file could not be read.
    #[error(transparent)]
    Roots(#[from] haven_signal::TlsError),
    /// The backend thread could not start.
    #[error("starting the network thread: {0}")]
    Thread(#[from] std::io::Error),
}

impl SessionConfig {
    /// A configuration from an invite string: server and pin come from the invite.
    pub fn from_invite(token: &str, network: NetworkPolicy) -> Result<Self, SessionError> {
        Self::from_invite_with(token, network, &[])
    }

    /// Like [`SessionConfig::from_invite`]; an invite that pins no certificate (a server with
    /// a real one) is trusted through the system's certificate authorities and those in the
    /// PEM files `ca` (`haven join --ca FILE`).
    pub fn from_invite_with(
        token: &str,
        network: NetworkPolicy,
        ca: &[&std::path::Path],
    ) -> Result<Self, SessionError> {
        let parsed = invite::parse(token)?;
        let clinic = parsed
            .invite
            .clinic
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|_| SessionError::Clinic)?;
        let tls = match parsed.invite.pin.as_deref() {
            Some(pin) => {
                let pin: Fingerprint = pin.parse().map_err(|_| SessionError::Pin)?;
                ClientTls::Pinned(pin)
            }
            None => {
                let roots = haven_signal::tls::trusted_roots(ca)?;
                if roots.is_empty() {
                    return Err(SessionError::NoTrust);
                }
                ClientTls::Roots(Arc::new(roots))
            }
        };
        Ok(Self {
            server_url: parsed.invite.server_url(),
            token: token.to_owned(),
            tls,
            network,
            bulk_budget: 512 * 1024 * 1024,
            timing: ConnectionTiming::default(),
            simulated: None,
            identity: None,
            clinic,
            relay_only: false,
            faults: Faults::default(),
            group: parsed.invite.group,
        })
    }
}
