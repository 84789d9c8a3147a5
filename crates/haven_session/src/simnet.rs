//! A simulated network (webrtc-rs's virtual network) that peers in one process can share, with
//! delay, jitter and loss, and that a test can cut and restore: a real outage for ICE, DTLS
//! and SCTP, with nothing else on the machine touched (the kernel's netem is not available in
//! these containers). Signaling still goes over the real loopback.
//!
//! Delay and jitter are the virtual router's: every packet waits at least `delay`, and each
//! delivery round waits a further random `0..jitter`, so packets arrive `delay` to
//! `delay + jitter` late and in the order they were sent (the router keeps one queue). Loss is
//! a filter: each packet, either way, is dropped with the given probability (a fixed-seed
//! generator, so a run's losses do not depend on the machine's randomness).

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use webrtc::util::vnet::chunk::Chunk;
use webrtc::util::vnet::net::{Net, NetConfig};
use webrtc::util::vnet::router::{Router, RouterConfig};

/// A virtual router with one address per peer attached to it.
pub struct SimulatedNetwork {
    router: Arc<Mutex<Router>>,
    cut: Arc<AtomicBool>,
    /// Loss, in packets per million.
    loss_ppm: Arc<AtomicU32>,
    /// Packets dropped by loss (not by a cut).
    lost: Arc<AtomicU64>,
    next_host: AtomicU8,
}

/// How a [`SimulatedNetwork`] treats packets.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Conditions {
    /// Every packet waits at least this long.
    pub delay: Duration,
    /// And up to this much more, at random (so `delay + jitter / 2` on average).
    pub jitter: Duration,
    /// The share of packets dropped, each way, from 0 to 1.
    pub loss: f64,
}

impl Conditions {
    /// 10 % loss and 50 ± 30 ms delay: a poor home or hospital Wi-Fi link.
    pub const POOR: Self = Self {
        delay: Duration::from_millis(20),
        jitter: Duration::from_millis(60),
        loss: 0.10,
    };
}

fn ppm(loss: f64) -> u32 {
    (loss.clamp(0.0, 1.0) * 1e6).round() as u32
}

impl std::fmt::Debug for SimulatedNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedNetwork")
            .field("cut", &self.cut.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// One peer's interface on a [`SimulatedNetwork`]; put it in
/// [`SessionConfig::simulated`](crate::SessionConfig::simulated).
#[derive(Clone)]
pub struct SimulatedNic(pub(crate) Arc<Net>);

impl std::fmt::Debug for SimulatedNic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimulatedNic")
    }
}

/// Why a simulated network could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("simulated network: {0}")]
pub struct SimulatedNetworkError(String);

fn failed(e: impl std::fmt::Display) -> SimulatedNetworkError {
    SimulatedNetworkError(e.to_string())
}

impl SimulatedNetwork {
    /// A started router for 10.77.0.0/24 that delivers every packet at once, and drops every
    /// packet while [`Self::cut`] is on.
    pub async fn new() -> Result<Self, SimulatedNetworkError> {
        Self::with(Conditions::default()).await
    }

    /// Like [`Self::new`], with delay, jitter and loss.
    pub async fn with(conditions: Conditions) -> Result<Self, SimulatedNetworkError> {
        let router = Router::new(RouterConfig {
            cidr: "10.77.0.0/24".to_owned(),
            min_delay: conditions.delay,
            max_jitter: conditions.jitter,
            ..Default::default()
        })
        .map_err(failed)?;
        let cut = Arc::new(AtomicBool::new(false));
        let loss_ppm = Arc::new(AtomicU32::new(ppm(conditions.loss)));
        let lost = Arc::new(AtomicU64::new(0));
        let (flag, loss, dropped) = (Arc::clone(&cut), Arc::clone(&loss_ppm), Arc::clone(&lost));
        // xorshift64*, fixed seed.
        let state = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
        router
            .add_chunk_filter(Box::new(move |_: &(dyn Chunk + Send + Sync)| {
                if flag.load(Ordering::Relaxed) {
                    return false;
                }
                let loss = loss.load(Ordering::Relaxed);
                if loss == 0 {
                    return true;
                }
                let mut x = state.load(Ordering::Relaxed);
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                state.store(x, Ordering::Relaxed);
                let draw = (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) % 1_000_000;
                if draw < u64::from(loss) {
                    dropped.fetch_add(1, Ordering::Relaxed);
                    return false;
                }
                true
            }))
            .await;
        let router = Arc::new(Mutex::new(router));
        router.lock().await.start().await.map_err(failed)?;
        Ok(Self {
            router,
            cut,
            loss_ppm,
            lost,
            next_host: AtomicU8::new(2),
        })
    }

    /// Changes the share of packets dropped from now on.
    pub fn set_loss(&self, loss: f64) {
        self.loss_ppm.store(ppm(loss), Ordering::Relaxed);
    }

    /// Packets dropped by loss so far (a cut's are not counted).
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// A new interface on this network, with the next free address.
    pub async fn attach(&self) -> Result<SimulatedNic, SimulatedNetworkError> {
        let host = self.next_host.fetch_add(1, Ordering::Relaxed);
        let ip: IpAddr = [10, 77, 0, host].into();
        let net = Arc::new(Net::new(Some(NetConfig {
            static_ips: vec![ip.to_string()],
            ..Default::default()
        })));
        let nic = net.get_nic().map_err(failed)?;
        self.router
            .lock()
            .await
            .add_net(Arc::clone(&nic))
            .await
            .map_err(failed)?;
        nic.lock()
            .await
            .set_router(Arc::clone(&self.router))
            .await
            .map_err(failed)?;
        Ok(SimulatedNic(net))
    }

    /// Drops every packet from now on (`true`) or lets them through again (`false`).
    pub fn cut(&self, on: bool) {
        self.cut.store(on, Ordering::Relaxed);
    }
}
