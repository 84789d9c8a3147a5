//! A TCP relay on loopback that stands for the network between peers and a signaling server,
//! for tests and benchmarks: it can be cut (every connection through it closes at once, as
//! when a Wi-Fi network is left, and new ones are refused until it is healed) and pointed at
//! another server (a restarted one).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running relay (see the module). Dropping it stops it.
#[derive(Debug)]
pub struct Relay {
    /// The loopback port it listens on.
    pub port: u16,
    state: Arc<State>,
    task: JoinHandle<()>,
}

#[derive(Debug)]
struct State {
    target: Mutex<SocketAddr>,
    open: AtomicBool,
    cuts: watch::Sender<u64>,
}

impl Relay {
    /// Relays from a new loopback port to `target`.
    pub async fn start(target: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(State {
            target: Mutex::new(target),
            open: AtomicBool::new(true),
            cuts: watch::channel(0).0,
        });
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                // Subscribed before the check: a cut between the two still closes it.
                let mut cut = shared.cuts.subscribe();
                if !shared.open.load(Ordering::SeqCst) {
                    continue;
                }
                let target = *shared.target.lock().unwrap_or_else(PoisonError::into_inner);
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Ok(Self { port, state, task })
    }

    /// Closes every connection through it and refuses new ones.
    pub fn cut(&self) {
        self.state.open.store(false, Ordering::SeqCst);
        self.state.cuts.send_modify(|n| *n += 1);
    }

    /// Lets connections through again, to `target`.
    pub fn heal(&self, target: SocketAddr) {
        *self
            .state
            .target
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = target;
        self.state.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}
