//! The connection to the signaling server, kept. When it is lost (a network change, a server
//! restart) the peer-to-peer connections carry on while it is taken back in the background
//! with the welcome's resume token, trying again with backoff. Then who came and went while
//! it was away is reconciled with the connections held: a connection that works is kept
//! whatever the server forgot, and a peer counts as left only once both its signaling and its
//! media have been gone for the grace period.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};

use haven_proto::Redacted;
use haven_proto::signal::{ClientMessage, ErrorCode, PeerId, ServerMessage};
use haven_signal::client::Welcome;
use haven_signal::{ClientError, ClientTls, SignalClient};
use tracing::{debug, info, warn};

use super::state::Backend;
use crate::event::SessionEvent;

/// The first wait before trying the server again; it doubles with each failed try.
const FIRST_RETRY: Duration = Duration::from_millis(250);
/// The longest wait between tries.
const LONGEST_RETRY: Duration = Duration::from_secs(5);
/// One try (TCP, TLS, WebSocket, resume, welcome) gets this long.
const TRY_WITHIN: Duration = Duration::from_secs(10);
/// The grace when the server names none (an older server): the longest it may be.
pub(super) const DEFAULT_GRACE: Duration = Duration::from_secs(30);
/// Nothing at all from the server (it pings every 20 s) for this long: the connection is lost,
/// even without a reset (a server host gone, a NAT that forgot it, a Wi-Fi network left).
const SILENCE: Duration = Duration::from_secs(50);

type Retry = Pin<Box<dyn Future<Output = Result<(SignalClient, Welcome), ClientError>> + Send>>;

/// The wait before try `attempt` (from 0): doubling from [`FIRST_RETRY`] to
/// [`LONGEST_RETRY`], less up to a fifth at random so that the peers of a restarted server do
/// not all come back in the same instant.
pub(super) fn backoff(attempt: u32) -> Duration {
    let full = FIRST_RETRY
        .saturating_mul(1 << attempt.min(16))
        .min(LONGEST_RETRY);
    let spread = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        % 1000;
    full - full / 5 * spread / 1000
}

/// Whether a refusal of a resume means the place is gone for good (the invite was revoked, the
/// token is not this server's, the room filled up), rather than a server not ready yet.
fn refused_for_good(error: &ClientError) -> bool {
    matches!(
        error,
        ClientError::Refused { code, .. } if !matches!(
            code,
            ErrorCode::ShuttingDown | ErrorCode::Timeout | ErrorCode::RateLimited | ErrorCode::Unavailable
        )
    )
}

/// The connection to the server, or the tries to take it back.
pub(super) struct Link {
    /// While it is up.
    pub(super) client: Option<SignalClient>,
    /// The try under way, while it is down.
    pub(super) retry: Option<Retry>,
    url: String,
    tls: ClientTls,
    /// The latest welcome's resume token (`None`: an older server, nothing to take back).
    resume: Option<Redacted<String>>,
    /// Failed tries since it was lost.
    attempt: u32,
}

impl Link {
    pub(super) fn new(client: SignalClient, welcome: &Welcome, url: &str, tls: &ClientTls) -> Self {
        Self {
            client: Some(client),
            retry: None,
            url: url.to_owned(),
            tls: tls.clone(),
            resume: welcome.resume.clone(),
            attempt: 0,
        }
    }

    /// The next message from the server; never, while it is down.
    pub(super) async fn recv(
        client: &mut Option<SignalClient>,
    ) -> Result<ServerMessage, ClientError> {
        match client {
            Some(client) => client.recv_heard_within(Some(SILENCE)).await,
            None => std::future::pending().await,
        }
    }

    /// The end of the try under way; never, while there is none.
    pub(super) async fn retried(
        retry: &mut Option<Retry>,
    ) -> Result<(SignalClient, Welcome), ClientError> {
        match retry {
            Some(retry) => retry.await,
            None => std::future::pending().await,
        }
    }

    /// Sends `message`; while the server is down it is dropped (a connection that needs it is
    /// rebuilt when the server is back). Returns false when sending found it lost.
    pub(super) async fn send(&mut self, message: &ClientMessage) -> bool {
        let Some(client) = &mut self.client else {
            debug!(kind = message.kind(), "no signaling: not sent");
            return true;
        };
        client.send(message).await.is_ok()
    }

    /// The connection was lost: the first try to take it back is scheduled. `Err`: it cannot
    /// be (the server gave no resume token).
    pub(super) fn lost(&mut self) -> Result<(), String> {
        self.client = None;
        self.attempt = 0;
        if self.resume.is_none() {
            return Err("the signaling connection broke, and the server gave no way back".into());
        }
        self.schedule();
        Ok(())
    }

    /// A try failed: `Err(why)` if it cannot work (the place is gone for good), else the next
    /// is scheduled.
    pub(super) fn failed(&mut self, error: &ClientError) -> Result<(), String> {
        self.retry = None;
        if refused_for_good(error) {
            return Err(format!(
                "the server refused to take this peer back: {error}"
            ));
        }
        debug!(attempt = self.attempt, %error, "the signaling server is still out of reach");
        self.attempt = self.attempt.saturating_add(1);
        self.schedule();
        Ok(())
    }

    /// Back: the new connection, and the new welcome's token for the next time.
    pub(super) fn back(&mut self, client: SignalClient, welcome: &Welcome) {
        self.retry = None;
        self.client = Some(client);
        self.attempt = 0;
        if welcome.resume.is_some() {
            self.resume = welcome.resume.clone();
        }
    }

    fn schedule(&mut self) {
        let Some(token) = self.resume.clone() else {
            return;
        };
        let (url, tls, wait) = (self.url.clone(), self.tls.clone(), backoff(self.attempt));
        self.retry = Some(Box::pin(async move {
            tokio::time::sleep(wait).await;
            tokio::time::timeout(TRY_WITHIN, SignalClient::resume(&url, &tls, token.expose()))
                .await
                .map_err(|_| ClientError::Timeout)?
        }));
    }

    /// Says bye, if the server is there to hear it.
    pub(super) async fn bye(self) {
        if let Some(client) = self.client {
            let _ = client.bye().await;
        }
    }
}

impl Backend {
    /// The server is out of reach: connections carry on; each life judges, from now on, whether
    /// its peer has left.
    pub(super) fn on_signaling_lost(&mut self) {
        warn!("lost the signaling server; the consult goes on while it is taken back");
        self.signaling_up = false;
        let _ = self.events.send(SessionEvent::SignalingLost);
        let now = Instant::now();
        for life in self.lives.values_mut() {
            life.signaling_lost(now);
        }
    }

    /// The server is back, with our place (the same id). Returns what to send: offers for
    /// the connections this side now makes.
    pub(super) async fn on_signaling_back(&mut self, welcome: &Welcome) -> Vec<ClientMessage> {
        info!(
            kept = welcome.kept,
            peers = welcome.peers.len(),
            "the signaling server is back"
        );
        self.signaling_up = true;
        // Fresh relay credentials: connections rebuilt from now on use them.
        self.ice_servers = super::relay::ice_servers(welcome);
        let grace = grace_of(welcome);
        self.life_timing.grace = grace;
        let _ = self.events.send(SessionEvent::SignalingBack);
        for p in &welcome.peers {
            self.roles.insert(p.id, p.role);
            self.voice_gates.open(p.id);
        }
        // A new seat in the same group room may be another chair: where this side sits now.
        // (A server that restarted makes a new VideoRoom, which this side does not follow.)
        if let (Some(group), Some(media)) = (self.group.as_mut(), welcome.media.as_ref())
            && media.room == group.media.room
            && media.size == group.media.size
            && let Some(chair) = media.chair
            && group.media.chair != Some(chair)
        {
            group.media.chair = Some(chair);
            let _ = self.events.send(SessionEvent::Reseated { chair });
        }
        let now = Instant::now();
        let mut out = Vec::new();
        // Each peer held: listed by the server or not (yet: after a restart peers come back
        // one by one); a broken connection is rebuilt by the side that offered it.
        let held: Vec<PeerId> = self.lives.keys().copied().collect();
        for id in held {
            let listed = welcome.peers.iter().any(|p| p.id == id);
            let Some(life) = self.lives.get_mut(&id) else {
                continue;
            };
            life.set_grace(grace);
            let actions = life.signaling_back(now, listed);
            out.extend(self.act(id, actions).await);
        }
        if !welcome.kept {
            // A new seat: whoever we have no connection to, we offer to, as a newcomer does.
            // (With the place kept, those who came meanwhile offer to us.)
            for p in welcome.peers.clone() {
                if self.lives.contains_key(&p.id) {
                    continue;
                }
                let _ = self.events.send(SessionEvent::PeerJoined(p));
                match self.add_peer(p, true).await {
                    Ok(Some(offer)) => out.push(ClientMessage::Offer {
                        to: p.id,
                        sdp: Redacted::new(offer),
                    }),
                    Ok(None) => {}
                    Err(e) => {
                        warn!(peer = %p.id, error = %e, "could not set up the peer connection");
                    }
                }
            }
        }
        out
    }
}

/// The grace a welcome names, at most [`DEFAULT_GRACE`] (none named: that).
pub(super) fn grace_of(welcome: &Welcome) -> Duration {
    if welcome.grace > Duration::ZERO {
        welcome.grace.min(DEFAULT_GRACE)
    } else {
        DEFAULT_GRACE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_ceiling_and_never_waits_less_than_four_fifths() {
        let waits: Vec<Duration> = (0..10).map(backoff).collect();
        assert!(
            waits[0] > Duration::from_millis(199) && waits[0] <= FIRST_RETRY,
            "{waits:?}"
        );
        assert!(waits[2] > Duration::from_millis(799) && waits[2] <= Duration::from_secs(1));
        assert!(waits.iter().all(|w| *w <= LONGEST_RETRY), "{waits:?}");
        assert!(waits[9] >= LONGEST_RETRY / 5 * 4, "{waits:?}");
        assert!(backoff(u32::MAX) <= LONGEST_RETRY);
    }

    #[test]
    fn only_a_server_not_ready_is_tried_again() {
        let refused = |code| ClientError::Refused {
            code,
            message: String::new(),
        };
        assert!(!refused_for_good(&refused(ErrorCode::ShuttingDown)));
        assert!(!refused_for_good(&ClientError::Closed));
        assert!(!refused_for_good(&ClientError::Timeout));
        assert!(refused_for_good(&refused(ErrorCode::TokenUsed)));
        assert!(refused_for_good(&refused(ErrorCode::BadToken)));
        assert!(refused_for_good(&refused(ErrorCode::RoomFull)));
    }
}
