//! A simulated network (webrtc-rs's virtual network) that peers in one process can share, and
//! that a test can cut and restore: a real outage for ICE, DTLS and SCTP, with nothing else on
//! the machine touched. Signaling still goes over the real loopback.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use tokio::sync::Mutex;
use webrtc::util::vnet::chunk::Chunk;
use webrtc::util::vnet::net::{Net, NetConfig};
use webrtc::util::vnet::router::{Router, RouterConfig};

/// A virtual router with one address per peer attached to it.
pub struct SimulatedNetwork {
    router: Arc<Mutex<Router>>,
    cut: Arc<AtomicBool>,
    next_host: AtomicU8,
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
    /// A started router for 10.77.0.0/24 that drops every packet while [`Self::cut`] is on.
    pub async fn new() -> Result<Self, SimulatedNetworkError> {
        let router = Router::new(RouterConfig {
            cidr: "10.77.0.0/24".to_owned(),
            ..Default::default()
        })
        .map_err(failed)?;
        let cut = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&cut);
        router
            .add_chunk_filter(Box::new(move |_: &(dyn Chunk + Send + Sync)| {
                !flag.load(Ordering::Relaxed)
            }))
            .await;
        let router = Arc::new(Mutex::new(router));
        router.lock().await.start().await.map_err(failed)?;
        Ok(Self {
            router,
            cut,
            next_host: AtomicU8::new(2),
        })
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
