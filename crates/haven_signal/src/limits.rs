//! The server's limits, and the token bucket that enforces the message rate.

use std::time::{Duration, Instant};

use haven_proto::signal::MAX_SIGNAL_MESSAGE;

/// What one connection may do. The defaults suit a clinic's consults; tests shorten them.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The largest WebSocket message (and frame), in bytes.
    pub max_message: usize,
    /// Messages per second a connection may send, sustained.
    pub rate_per_sec: f64,
    /// Messages a connection may send in a burst (ICE trickle comes in bursts).
    pub burst: f64,
    /// From TCP accept to a hello being answered.
    pub handshake_timeout: Duration,
    /// A connection that sends nothing (not even a pong) for this long is closed.
    pub idle_timeout: Duration,
    /// How often the server pings a quiet connection.
    pub ping_interval: Duration,
    /// Messages queued for one slow peer before it is dropped.
    pub outbound_queue: usize,
    /// Connections held at once; more are closed at accept.
    pub max_connections: usize,
    /// How long a peer whose connection was lost keeps its place (the others are not told,
    /// and what is sent to it is held) before it counts as gone. At most 30 s: a consult's
    /// other peers wait no longer to learn that someone left.
    pub grace: Duration,
    /// Messages held for a peer while it is away; more are dropped (its peers rebuild what
    /// they cannot finish).
    pub held_while_away: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message: MAX_SIGNAL_MESSAGE,
            rate_per_sec: 50.0,
            burst: 100.0,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            ping_interval: Duration::from_secs(20),
            outbound_queue: 64,
            max_connections: 10_000,
            grace: Duration::from_secs(30),
            held_while_away: 256,
        }
    }
}

/// A token bucket: `burst` tokens, refilled at `rate` per second; one message takes one.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: f64, now: Instant) -> Self {
        Self {
            tokens: burst,
            rate,
            burst,
            last: now,
        }
    }

    /// Takes a token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 5.0, t0);
        assert_eq!((0..8).filter(|_| b.take(t0)).count(), 5);
        // 0.5 s later: five more tokens, no more.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!((0..8).filter(|_| b.take(t1)).count(), 5);
        // A long pause refills only up to the burst.
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!((0..8).filter(|_| b.take(t2)).count(), 5);
    }
}
