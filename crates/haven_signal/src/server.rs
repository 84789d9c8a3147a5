//! The signaling server on tokio: TLS 1.3 (rustls), WebSocket (tungstenite), the room state
//! of [`Rooms`] behind one short-held lock, and a task per connection.
//!
//! A connection task owns its socket. Other tasks reach it only through its bounded outbox;
//! a peer too slow to drain its outbox is disconnected rather than allowed to hold up the
//! room. The lock around the rooms is never held across an `.await`.
//!
//! A peer that says bye leaves at once. One whose connection is lost any other way (a network
//! change, a timeout, a slow reader) keeps its seat for the grace period ([`Limits::grace`]):
//! the others are not told, what is sent to it is held, and a resume token (in each welcome)
//! takes the seat back on a new connection. Past the grace it leaves, and the others are told
//! it is gone (`peer-left` with `gone`), which is not the same as a bye: their peer-to-peer
//! connections to it may still be alive.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use haven_proto::signal::{
    ClientMessage, ErrorCode, GroupMedia, IceServer, PeerId, PeerInfo, RoomId, SIGNAL_VERSION,
    ServerMessage,
};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tracing::{Instrument as _, debug, info, info_span, warn};

use crate::cluster::{Cluster, JoinRefused, LocalPeer};
use crate::invite::verify;
use crate::limits::{Limits, TokenBucket};
use crate::resume::{self, Place};
use crate::rooms::Rooms;
use crate::secret::ServerSecret;
use crate::tls::{Fingerprint, TlsError, TlsIdentity};

/// What a server needs to run.
#[derive(Debug)]
pub struct ServerConfig {
    /// Where to listen; port 0 picks a free one.
    pub listen: SocketAddr,
    /// The certificate and key.
    pub identity: TlsIdentity,
    /// The invite-signing key.
    pub secret: ServerSecret,
    /// Per-connection limits.
    pub limits: Limits,
    /// STUN/TURN servers handed to peers in the welcome.
    pub ice_servers: Vec<IceServer>,
    /// A TURN relay whose short-lived credentials each welcome carries (minted per peer).
    pub turn: Option<crate::turn::TurnRelay>,
    /// Keep rooms in Redis, shared with other nodes (`None`: in this process only).
    pub cluster: Option<Cluster>,
    /// The media server (Janus's WebSocket API, `ws://` or `wss://`) that group rooms' voices
    /// and poses go through; `None`: invites for group rooms are refused.
    pub media_server: Option<String>,
    /// Where invite uses and revocations are remembered across restarts (beside the secret);
    /// `None`: in memory only (tests, the demo).
    pub invite_files: Option<crate::ledger::InviteFiles>,
}

/// A bound server, not yet serving.
pub struct SignalServer {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    fingerprint: Fingerprint,
    shared: Arc<Shared>,
    /// What the seats ask of the other nodes (with a cluster).
    bus: Option<mpsc::UnboundedReceiver<Bus>>,
}

/// What a node's seats ask of the cluster, in order, done by its bus task.
#[derive(Debug)]
enum Bus {
    /// A message for a peer that is not seated here.
    Deliver(PeerId, ServerMessage),
    /// An offer, answer or candidate for a peer not seated here (`to`), from a peer seated
    /// here (`from`) in `room`.
    Relay {
        room: RoomId,
        from: PeerId,
        to: PeerId,
        message: ServerMessage,
    },
    /// A peer seated here left (`gone`: its grace ran out).
    Leave(PeerId, bool),
}

struct Shared {
    hub: Mutex<Hub>,
    secret: ServerSecret,
    limits: Limits,
    ice_servers: Vec<IceServer>,
    turn: Option<crate::turn::TurnRelay>,
    cluster: Option<Cluster>,
    media_server: Option<String>,
    ws_config: WebSocketConfig,
    /// The invite files, under a lock of their own: their reads and synced writes never hold
    /// up the rooms' lock (which every relay takes).
    invites: Option<Mutex<crate::ledger::InviteLedger>>,
}

/// A joined peer's seat: where its messages go, or, while it is away, what is held for it.
struct Seat {
    /// Its connection's outbox; `None` while it is away.
    outbox: Option<mpsc::Sender<ServerMessage>>,
    /// Which connection holds the seat: a resume moves it, and the end of the connection it
    /// moved from then changes nothing.
    conn: u64,
    /// What was sent to it while it was away (bounded), delivered when it is back.
    held: VecDeque<ServerMessage>,
    /// Something meant for it was dropped while it was away: a resume does not find its place
    /// as it left it (the welcome says so, and the peer reconciles).
    overflowed: bool,
}

/// Messages parked for peers not attached yet, on one node (see `Hub::parked`).
const MAX_PARKED: usize = 256;

struct Hub {
    rooms: Rooms,
    seats: HashMap<PeerId, Seat>,
    /// With a cluster: the places of the peers seated here (Redis holds the rooms; `rooms`
    /// then holds only revocations).
    clustered: HashMap<PeerId, Place>,
    /// With a cluster: where requests for the other nodes go.
    bus: Option<mpsc::UnboundedSender<Bus>>,
    /// With a cluster: messages for peers Redis has seated here whose connection is not
    /// attached yet (a join between its script and its welcome), oldest first, at most
    /// [`MAX_PARKED`]; delivered after the welcome.
    parked: VecDeque<(PeerId, ServerMessage)>,
    next_conn: u64,
    /// [`Limits::held_while_away`].
    held_max: usize,
    /// [`Limits::outbound_queue`].
    queue: usize,
}

impl Hub {
    /// Queues a message for a peer seated here (see [`Hub::deliver_here`]), or, with a
    /// cluster, sends it to the node that seats it.
    fn deliver(&mut self, to: PeerId, message: ServerMessage) {
        match &self.bus {
            Some(bus) if !self.seats.contains_key(&to) => {
                let _ = bus.send(Bus::Deliver(to, message));
            }
            _ => self.deliver_here(to, message),
        }
    }

    /// Queues a message for a peer seated here, or holds it while the peer is away; a peer
    /// whose queue is full is cut off (its task sees its outbox close; the peer is then away).
    fn deliver_here(&mut self, to: PeerId, message: ServerMessage) {
        let Some(seat) = self.seats.get_mut(&to) else {
            if self.bus.is_some() {
                if self.parked.len() >= MAX_PARKED {
                    self.parked.pop_front();
                }
                self.parked.push_back((to, message));
            }
            return;
        };
        let message = match &seat.outbox {
            Some(outbox) => match outbox.try_send(message) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(message)) => {
                    warn!(peer = %to, "peer is not reading its messages; disconnecting it");
                    seat.outbox = None;
                    message
                }
                // Its connection just ended: held, like what it had not read yet.
                Err(mpsc::error::TrySendError::Closed(message)) => {
                    seat.outbox = None;
                    message
                }
            },
            None => message,
        };
        if seat.held.len() < self.held_max {
            seat.held.push_back(message);
        } else {
            seat.overflowed = true;
            debug!(peer = %to, "too much held for a peer that is away; one dropped");
        }
    }

    /// Whether `peer`'s seat is away with everything meant for it held (a resume then finds it
    /// as it was left).
    fn intact(&self, peer: PeerId) -> bool {
        self.seats
            .get(&peer)
            .is_some_and(|seat| seat.outbox.is_none() && !seat.overflowed)
    }

    /// Seats `peer` on a new connection (a join, or a resume: what was held comes first);
    /// returns the connection's number and its outbox.
    fn attach(
        &mut self,
        peer: PeerId,
        welcome: ServerMessage,
    ) -> (u64, mpsc::Receiver<ServerMessage>) {
        self.next_conn += 1;
        let conn = self.next_conn;
        let mut held = self
            .seats
            .remove(&peer)
            .map(|seat| seat.held)
            .unwrap_or_default();
        // What came for it between its join and now (a cluster's).
        if self.parked.iter().any(|(to, _)| *to == peer) {
            let (mine, rest): (VecDeque<_>, VecDeque<_>) =
                self.parked.drain(..).partition(|(to, _)| *to == peer);
            self.parked = rest;
            held.extend(mine.into_iter().map(|(_, m)| m));
        }
        let (tx, rx) = mpsc::channel(self.queue + held.len() + 1);
        for message in std::iter::once(welcome).chain(held) {
            tx.try_send(message)
                .expect("a new outbox has room for the welcome and what was held");
        }
        self.seats.insert(
            peer,
            Seat {
                outbox: Some(tx),
                conn,
                held: VecDeque::new(),
                overflowed: false,
            },
        );
        (conn, rx)
    }

    /// Connection `conn` of `peer` ended: a bye leaves the room at once; anything else leaves
    /// the seat held for the grace period (returns true: start it), with what the connection
    /// had not sent (`unsent`, then what was still in its `outbox`) held first. A connection
    /// the seat has moved from changes nothing.
    fn detach(
        &mut self,
        peer: PeerId,
        conn: u64,
        bye: bool,
        unsent: Option<ServerMessage>,
        outbox: &mut mpsc::Receiver<ServerMessage>,
    ) -> bool {
        if self.seats.get(&peer).is_none_or(|seat| seat.conn != conn) {
            return false;
        }
        if bye {
            self.rooms.said_bye(peer);
            self.leave(peer, false);
            return false;
        }
        let held_max = self.held_max;
        let Some(seat) = self.seats.get_mut(&peer) else {
            return false;
        };
        seat.outbox = None;
        outbox.close();
        let mut queued: VecDeque<ServerMessage> = unsent.into_iter().collect();
        while let Ok(message) = outbox.try_recv() {
            queued.push_back(message);
        }
        queued.append(&mut seat.held);
        if queued.len() > held_max {
            queued.truncate(held_max);
            seat.overflowed = true;
        }
        seat.held = queued;
        true
    }

    /// The grace of `peer`'s connection `conn` is over: if the seat was not taken back, the
    /// peer is gone.
    fn expire(&mut self, peer: PeerId, conn: u64) {
        if self
            .seats
            .get(&peer)
            .is_some_and(|seat| seat.conn == conn && seat.outbox.is_none())
        {
            info!(%peer, "not back within the grace period; gone");
            self.leave(peer, true);
        }
    }

    fn leave(&mut self, peer: PeerId, gone: bool) {
        self.seats.remove(&peer);
        if let Some(bus) = &self.bus {
            self.clustered.remove(&peer);
            let _ = bus.send(Bus::Leave(peer, gone));
            return;
        }
        for other in self.rooms.leave(peer) {
            self.deliver(
                other,
                ServerMessage::PeerLeft {
                    peer_id: peer,
                    gone,
                },
            );
        }
    }
}

impl Hub {
    /// The place `peer` holds, for a resume token issued at `now`.
    fn place(&self, peer: PeerId, now: u64) -> Option<Place> {
        self.rooms.place(peer, now).or_else(|| {
            self.clustered.get(&peer).map(|p| Place {
                exp: now
                    .saturating_add(resume::TTL_SECS)
                    .min(p.invite_exp.saturating_add(resume::TTL_SECS)),
                ..p.clone()
            })
        })
    }

    /// The room `peer` is in.
    fn room_of(&self, peer: PeerId) -> Option<&RoomId> {
        self.rooms
            .room_of(peer)
            .or_else(|| self.clustered.get(&peer).map(|p| &p.room))
    }
}

impl Shared {
    fn hub(&self) -> MutexGuard<'_, Hub> {
        // A panic while holding the lock would be our own bug; the state is still usable.
        self.hub
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 2))
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl SignalServer {
    /// Binds the listening socket.
    pub async fn bind(config: ServerConfig) -> Result<Self, BindError> {
        // An explicit backlog: a burst of joins (a clinic opening its morning consults) must
        // not overflow the accept queue and wait out a SYN retransmit.
        let socket = if config.listen.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(config.listen)?;
        let listener = socket.listen(4096)?;
        let acceptor = TlsAcceptor::from(config.identity.server_config()?);
        let limits = config.limits;
        let ws_config = WebSocketConfig::default()
            .max_message_size(Some(limits.max_message))
            .max_frame_size(Some(limits.max_message))
            .read_buffer_size(4096)
            .write_buffer_size(0);
        // What earlier runs counted and revoked holds: a single-use invite stays used.
        // Ids count from the start time: those an earlier run gave, which peers take back with
        // resume tokens, are never given to anyone else.
        let started_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 2));
        let mut hub = Hub {
            rooms: Rooms::numbered_from(started_ms),
            seats: HashMap::new(),
            clustered: HashMap::new(),
            bus: None,
            parked: VecDeque::new(),
            next_conn: 0,
            held_max: limits.held_while_away,
            queue: limits.outbound_queue,
        };
        let mut invites = None;
        if let Some(files) = config.invite_files {
            let (ledger, remembered) = crate::ledger::InviteLedger::open(files, now_unix())
                .map_err(BindError::InviteState)?;
            for (id, (count, exp)) in &remembered.uses {
                hub.rooms.remember_uses(id, *count, *exp);
            }
            hub.rooms.set_revoked(remembered.revoked);
            invites = Some(Mutex::new(ledger));
        }
        let bus = config.cluster.is_some().then(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            hub.bus = Some(tx);
            rx
        });
        Ok(Self {
            listener,
            acceptor,
            fingerprint: config.identity.fingerprint(),
            bus,
            shared: Arc::new(Shared {
                hub: Mutex::new(hub),
                secret: config.secret,
                limits,
                ice_servers: config.ice_servers,
                turn: config.turn,
                media_server: config.media_server,
                cluster: config.cluster,
                ws_config,
                invites,
            }),
        })
    }

    /// The address it listens on (with the real port when bound to port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The SHA-256 fingerprint of its certificate.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// Serves until `shutdown` completes, then tells every peer and closes (waiting at most
    /// five seconds for connections to close).
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        let (stop_tx, stop_rx) = watch::channel(false);
        if let (Some(cluster), Some(requests)) = (self.shared.cluster.clone(), self.bus.take()) {
            tokio::spawn(
                bus(
                    Arc::clone(&self.shared),
                    cluster.clone(),
                    requests,
                    stop_rx.clone(),
                )
                .instrument(info_span!("bus")),
            );
            tokio::spawn(
                beat(Arc::clone(&self.shared), cluster, stop_rx.clone())
                    .instrument(info_span!("beat")),
            );
        }
        let slots = Arc::new(Semaphore::new(self.shared.limits.max_connections));
        let mut tasks = JoinSet::new();
        let mut next_conn = 0u64;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => {
                    let tcp = match accepted {
                        Ok((tcp, _remote)) => tcp,
                        Err(e) => {
                            // Out of file descriptors, say: back off instead of spinning.
                            warn!(error = %e, "accept failed");
                            sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                        warn!("connection limit reached; refusing a connection");
                        continue;
                    };
                    next_conn += 1;
                    let conn = Connection {
                        shared: Arc::clone(&self.shared),
                        acceptor: self.acceptor.clone(),
                        stop: stop_rx.clone(),
                    };
                    tasks.spawn(
                        async move {
                            conn.serve(tcp).await;
                            drop(slot);
                        }
                        .instrument(info_span!("conn", id = next_conn)),
                    );
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        info!(open = tasks.len(), "shutting down");
        let _ = stop_tx.send(true);
        let drain = async { while tasks.join_next().await.is_some() {} };
        if timeout(Duration::from_secs(5), drain).await.is_err() {
            tasks.abort_all();
        }
    }

    /// Spawns the server on the current runtime; the handle stops it.
    pub fn spawn(self) -> std::io::Result<ServerHandle> {
        let addr = self.local_addr()?;
        let fingerprint = self.fingerprint;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(self.run(async {
            let _ = stopped.await;
        }));
        Ok(ServerHandle {
            addr,
            fingerprint,
            stop: Some(stop),
            task,
        })
    }
}

/// A running server (see [`SignalServer::spawn`]).
#[derive(Debug)]
pub struct ServerHandle {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its certificate's fingerprint.
    pub fingerprint: Fingerprint,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl ServerHandle {
    /// The `wss://` URL clients connect to.
    pub fn url(&self) -> String {
        format!("wss://{}", self.addr)
    }

    /// Stops it and waits until every connection is closed.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The socket could not be bound.
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
    /// The certificate or key was refused.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The files remembering invite uses and revocations cannot be read or written.
    #[error("the invite uses and revocations cannot be kept: {0}")]
    InviteState(std::io::Error),
}

impl From<rustls::Error> for BindError {
    fn from(e: rustls::Error) -> Self {
        Self::Tls(TlsError::Config(e))
    }
}

type Ws = WebSocketStream<TlsStream<TcpStream>>;

/// A seated peer: who, the signaling version it speaks, its connection's number, its outbox.
type Seated = (PeerInfo, u32, u64, mpsc::Receiver<ServerMessage>);

struct Connection {
    shared: Arc<Shared>,
    acceptor: TlsAcceptor,
    stop: watch::Receiver<bool>,
}

/// How a connection ends.
enum End {
    /// Say this error, then close.
    Error(ErrorCode, &'static str),
    /// Close quietly (the peer closed, or the socket failed): its seat is held a while.
    Quiet,
    /// The peer said bye: it leaves the room at once.
    Bye,
}

impl Connection {
    async fn serve(mut self, tcp: TcpStream) {
        let limits = self.shared.limits.clone();
        let deadline = Instant::now() + limits.handshake_timeout;
        let _ = tcp.set_nodelay(true);
        let ws = async {
            let tls = self.acceptor.accept(tcp).await.ok()?;
            tokio_tungstenite::accept_async_with_config(tls, Some(self.shared.ws_config))
                .await
                .ok()
        };
        let Ok(Some(ws)) = tokio::time::timeout_at(deadline, ws).await else {
            debug!("TLS or WebSocket handshake failed or timed out");
            return;
        };
        let (mut sink, mut stream) = ws.split();
        let mut bucket =
            TokenBucket::new(limits.rate_per_sec, limits.burst, Instant::now().into_std());

        // The first message must be a hello, before the deadline.
        let hello = tokio::select! {
            read = tokio::time::timeout_at(deadline, next_text(&mut stream, &mut bucket)) => match read {
                Ok(read) => read,
                Err(_) => Err(End::Error(ErrorCode::Timeout, "no hello in time")),
            },
            _ = self.stop.changed() => Err(End::Error(ErrorCode::ShuttingDown, "the server is stopping")),
        };
        let joined = match hello {
            Ok(text) => self.join(&text).await,
            Err(end) => Err(end),
        };
        let (peer, version, conn, mut outbox) = match joined {
            Ok(joined) => joined,
            Err(end) => {
                close(&mut sink, &mut stream, end).await;
                return;
            }
        };
        let span = info_span!("peer", peer = %peer.id, role = %peer.role);
        let mut unsent = None;
        let end = self
            .session(
                peer.id,
                version,
                &mut sink,
                &mut stream,
                &mut bucket,
                &mut outbox,
                &mut unsent,
            )
            .instrument(span.clone())
            .await;
        match end {
            // The whole server is going: nothing to keep or tell.
            End::Error(ErrorCode::ShuttingDown, _) => {}
            ref end => {
                // A version 1 peer cannot take its seat back: it leaves as if it said bye.
                let bye = matches!(end, End::Bye) || version == 1;
                if self
                    .shared
                    .hub()
                    .detach(peer.id, conn, bye, unsent, &mut outbox)
                {
                    span.in_scope(|| info!("connection lost; its seat is held"));
                    let (shared, grace) = (Arc::clone(&self.shared), self.shared.limits.grace);
                    let mut stop = self.stop.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            () = sleep(grace) => shared.hub().expire(peer.id, conn),
                            // The server is going: nothing to keep or tell.
                            _ = stop.changed() => {}
                        }
                    });
                } else if bye {
                    span.in_scope(|| info!("left"));
                }
            }
        }
        close(&mut sink, &mut stream, end).await;
    }

    /// Checks a hello (or a resume) and seats its peer; returns the peer, the signaling
    /// version it speaks, its connection's number and its outbox, the welcome queued.
    async fn join(&self, text: &str) -> Result<Seated, End> {
        let hello =
            ClientMessage::decode(text).map_err(|e| End::Error(e.code(), "expected a hello"))?;
        let (version, token, resuming) = match hello {
            ClientMessage::Hello { version, token } => (version, token, false),
            ClientMessage::Resume { version, token } => (version, token, true),
            _ => {
                return Err(End::Error(
                    ErrorCode::BadMessage,
                    "the first message must be a hello",
                ));
            }
        };
        // Version 1 peers (before resumes) are served the messages they know.
        let known = version == SIGNAL_VERSION || (version == 1 && !resuming);
        if !known {
            return Err(End::Error(
                ErrorCode::VersionMismatch,
                "this server speaks signaling versions 1 and 2",
            ));
        }
        let now = now_unix();
        if resuming {
            let (peer, conn, rx) = self.resume(token.expose(), now).await?;
            return Ok((peer, version, conn, rx));
        }
        let invite = verify(&self.shared.secret, token.expose(), now).map_err(|e| {
            info!(reason = %e, "invite refused");
            End::Error(e.code(), "the invite was refused")
        })?;
        // Revocations made since the last join (`haven invite --revoke`) count from now.
        let revoked = self.shared.invites.as_ref().and_then(|l| {
            l.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .revocations(now)
                .inspect_err(|e| warn!("the invite revocations cannot be read ({})", e.kind()))
                .ok()
                .flatten()
        });
        if invite.group.is_some() {
            if self.shared.media_server.is_none() {
                info!(room = %invite.room, "a group invite refused: no media server");
                return Err(End::Error(
                    ErrorCode::BadToken,
                    "this server has no media server for group rooms (haven serve --media-server URL)",
                ));
            }
            if self.shared.cluster.is_some() || version == 1 {
                return Err(End::Error(
                    ErrorCode::BadToken,
                    "group rooms are served by a single signaling server, to peers of signaling version 2",
                ));
            }
        }
        if let Some(cluster) = &self.shared.cluster {
            return self
                .join_cluster(cluster, &invite, revoked, version, now)
                .await;
        }
        let mut hub = self.shared.hub();
        if let Some(revoked) = revoked {
            hub.rooms.set_revoked(revoked);
        }
        let joined = hub.rooms.join(&invite, now).map_err(|code| {
            info!(room = %invite.room, %code, "join refused");
            End::Error(code, "the join was refused")
        })?;
        let welcome = self.welcome(&hub, joined.peer, &joined.others, now, false);
        let (conn, rx) = hub.attach(joined.peer.id, welcome);
        for other in &joined.others {
            hub.deliver(other.id, ServerMessage::PeerJoined { peer: joined.peer });
        }
        drop(hub);
        // Remembered (written and synced) outside the rooms' lock.
        if let Some(ledger) = &self.shared.invites {
            ledger
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .record_use(&invite.nonce, invite.exp);
        }
        info!(room = %invite.room, peer = %joined.peer.id, role = %joined.peer.role, peers = joined.others.len() + 1, "joined");
        Ok((joined.peer, version, conn, rx))
    }

    /// Joins the holder of a checked invite through the cluster: Redis seats it (atomically
    /// with the capacity and use checks), this node holds its connection.
    async fn join_cluster(
        &self,
        cluster: &Cluster,
        invite: &haven_proto::invite::Invite,
        revoked: Option<HashMap<String, u64>>,
        version: u32,
        now: u64,
    ) -> Result<Seated, End> {
        {
            let mut hub = self.shared.hub();
            if let Some(revoked) = revoked {
                hub.rooms.set_revoked(revoked);
            }
            if hub.rooms.is_revoked(&invite.nonce) {
                return Err(End::Error(ErrorCode::TokenUsed, "the join was refused"));
            }
        }
        let joined = cluster
            // Ids count from the time in ms where Redis has none (it restarted empty), as a
            // single server's do from its start: never an id given before.
            .join(invite, now_millis())
            .await
            .map_err(|refused| match refused {
                JoinRefused::Code(code) => {
                    info!(room = %invite.room, %code, "join refused");
                    End::Error(code, "the join was refused")
                }
                JoinRefused::Store(e) => {
                    warn!(error = %e, "a join was refused: the room store is out of reach");
                    End::Error(
                        ErrorCode::Unavailable,
                        "the server cannot take joins just now (its room store is out of reach); try again in a minute",
                    )
                }
            })?;
        let peer = joined.peer;
        let others: Vec<PeerInfo> = joined.others.iter().map(|(p, _)| *p).collect();
        let mut hub = self.shared.hub();
        hub.clustered.insert(
            peer.id,
            Place {
                peer: peer.id,
                room: invite.room.clone(),
                role: peer.role,
                nonce: invite.nonce.clone(),
                seat: crate::rooms::random_seat(),
                invite_exp: invite.exp,
                exp: 0,
            },
        );
        let welcome = self.welcome(&hub, peer, &others, now, false);
        let (conn, rx) = hub.attach(peer.id, welcome);
        for other in &others {
            hub.deliver(other.id, ServerMessage::PeerJoined { peer });
        }
        drop(hub);
        info!(room = %invite.room, peer = %peer.id, role = %peer.role, peers = others.len() + 1, node = cluster.node(), "joined");
        Ok((peer, version, conn, rx))
    }

    /// Takes back the seat a resume token names (see [`Rooms::resume`]).
    async fn resume(
        &self,
        token: &str,
        now: u64,
    ) -> Result<(PeerInfo, u64, mpsc::Receiver<ServerMessage>), End> {
        let place = resume::verify(&self.shared.secret, token, now).map_err(|e| {
            info!(reason = %e, "resume token refused");
            End::Error(e.code(), "the resume token was refused")
        })?;
        let revoked = self.shared.invites.as_ref().and_then(|l| {
            l.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .revocations(now)
                .ok()
                .flatten()
        });
        // With a cluster, who else is in the room comes from Redis (before the lock).
        let members = match &self.shared.cluster {
            Some(cluster) => Some(cluster.members(&place.room).await.map_err(|e| {
                warn!(error = %e, "a resume was refused: the room store is out of reach");
                End::Error(
                    ErrorCode::Unavailable,
                    "the server cannot take peers back just now (its room store is out of reach)",
                )
            })?),
            None => None,
        };
        let mut hub = self.shared.hub();
        if let Some(revoked) = revoked {
            hub.rooms.set_revoked(revoked);
        }
        if let Some(members) = members {
            // With a cluster a seat is taken back only on the node that holds it, while it
            // holds it (a load balancer keeps a client on its node).
            let held = hub.clustered.get(&place.peer).is_some_and(|p| {
                p.seat == place.seat && p.room == place.room && !hub.rooms.is_revoked(&p.nonce)
            }) && hub.seats.contains_key(&place.peer);
            if !held {
                info!(room = %place.room, "resume refused: the seat is not held on this node");
                return Err(End::Error(ErrorCode::NoSuchPeer, "the resume was refused"));
            }
            let peer = PeerInfo {
                id: place.peer,
                role: place.role,
            };
            let kept = hub.intact(peer.id);
            let others: Vec<PeerInfo> = members
                .into_iter()
                .map(|(p, _)| p)
                .filter(|p| p.id != peer.id)
                .collect();
            let welcome = self.welcome(&hub, peer, &others, now, kept);
            let (conn, rx) = hub.attach(peer.id, welcome);
            if !kept {
                for other in &others {
                    hub.deliver(other.id, ServerMessage::PeerJoined { peer });
                }
            }
            drop(hub);
            info!(room = %place.room, peer = %peer.id, kept, "resumed");
            return Ok((peer, conn, rx));
        }
        let resumed = hub.rooms.resume(&place).map_err(|code| {
            info!(room = %place.room, %code, "resume refused");
            End::Error(code, "the resume was refused")
        })?;
        // Kept only if the seat was away with everything meant for it held: a seat whose old
        // connection still looked alive, or that dropped something, is a new seat to its
        // peer, which then reconciles (and the others are told it is here).
        let kept = resumed.kept && hub.intact(resumed.peer.id);
        let welcome = self.welcome(&hub, resumed.peer, &resumed.others, now, kept);
        let (conn, rx) = hub.attach(resumed.peer.id, welcome);
        if !kept {
            for other in &resumed.others {
                hub.deliver(other.id, ServerMessage::PeerJoined { peer: resumed.peer });
            }
        }
        drop(hub);
        info!(room = %place.room, peer = %resumed.peer.id, kept, "resumed");
        Ok((resumed.peer, conn, rx))
    }

    /// The welcome for `peer`, with a fresh resume token.
    fn welcome(
        &self,
        hub: &Hub,
        peer: PeerInfo,
        others: &[PeerInfo],
        now: u64,
        kept: bool,
    ) -> ServerMessage {
        let token = hub
            .place(peer.id, now)
            .map(|place| haven_proto::Redacted::new(resume::issue(&self.shared.secret, &place)));
        let room = hub
            .room_of(peer.id)
            .cloned()
            .expect("a seated peer has a room");
        let media = self
            .shared
            .media_server
            .as_ref()
            .zip(hub.rooms.group_of(&room))
            .map(|(server, group)| GroupMedia {
                server: server.clone(),
                room: group.number,
                pin: group.pin.clone(),
                size: group.size,
                chair: hub.rooms.chair_of(peer.id),
            });
        ServerMessage::Welcome {
            version: SIGNAL_VERSION,
            peer_id: peer.id,
            room,
            role: peer.role,
            peers: others.to_vec(),
            ice_servers: self
                .shared
                .ice_servers
                .iter()
                .cloned()
                .chain(
                    self.shared
                        .turn
                        .as_ref()
                        .map(|t| t.credentials(peer.id, now)),
                )
                .collect(),
            resume: token,
            grace_secs: u32::try_from(self.shared.limits.grace.as_secs()).unwrap_or(u32::MAX),
            kept,
            media,
        }
    }

    /// A joined peer's life: relay its messages, deliver its outbox (a message it could not
    /// send is left in `unsent`), ping it.
    #[expect(
        clippy::too_many_arguments,
        reason = "one connection's parts, each used"
    )]
    async fn session(
        &mut self,
        me: PeerId,
        version: u32,
        sink: &mut SplitSink<Ws, Message>,
        stream: &mut SplitStream<Ws>,
        bucket: &mut TokenBucket,
        outbox: &mut mpsc::Receiver<ServerMessage>,
        unsent: &mut Option<ServerMessage>,
    ) -> End {
        let limits = self.shared.limits.clone();
        let mut idle_deadline = Instant::now() + limits.idle_timeout;
        let mut ping_at = Instant::now() + limits.ping_interval;
        loop {
            tokio::select! {
                read = next_frame(stream, bucket) => {
                    idle_deadline = Instant::now() + limits.idle_timeout;
                    let text = match read {
                        Ok(Some(text)) => text,
                        // Alive (it answered our ping): nothing to handle.
                        Ok(None) => continue,
                        // Non-fatal refusals are answered and the session goes on.
                        Err(End::Error(code, why)) if !code.closes() => {
                            if send(sink, &ServerMessage::error(code, why)).await.is_err() {
                                return End::Quiet;
                            }
                            continue;
                        }
                        Err(end) => return end,
                    };
                    match self.handle(me, &text) {
                        Ok(true) => {}
                        Ok(false) => return End::Bye,
                        Err(End::Error(code, why)) if !code.closes() => {
                            if send(sink, &ServerMessage::error(code, why)).await.is_err() {
                                return End::Quiet;
                            }
                        }
                        Err(end) => return end,
                    }
                }
                out = outbox.recv() => match out {
                    Some(message) => {
                        let message = if version == 1 { message.for_version_1() } else { message };
                        if send(sink, &message).await.is_err() {
                            *unsent = Some(message);
                            return End::Quiet;
                        }
                    }
                    None => return End::Error(ErrorCode::RateLimited, "too slow to read its messages"),
                },
                () = sleep_until(ping_at) => {
                    ping_at = Instant::now() + limits.ping_interval;
                    if sink.send(Message::Ping(Default::default())).await.is_err() {
                        return End::Quiet;
                    }
                }
                () = sleep_until(idle_deadline) => {
                    return End::Error(ErrorCode::Timeout, "the connection went quiet");
                }
                _ = self.stop.changed() => {
                    return End::Error(ErrorCode::ShuttingDown, "the server is stopping");
                }
            }
        }
    }

    /// Acts on one message from a joined peer; `Ok(false)` means it said bye.
    fn handle(&self, me: PeerId, text: &str) -> Result<bool, End> {
        let message = ClientMessage::decode(text).map_err(|e| {
            debug!(error = %e, "unreadable message");
            End::Error(e.code(), "unreadable message")
        })?;
        let (to, relayed) = match message {
            ClientMessage::Hello { .. } | ClientMessage::Resume { .. } => {
                return Err(End::Error(ErrorCode::BadMessage, "already joined"));
            }
            ClientMessage::Bye => return Ok(false),
            ClientMessage::Offer { to, sdp } => (to, ServerMessage::Offer { from: me, sdp }),
            ClientMessage::Answer { to, sdp } => (to, ServerMessage::Answer { from: me, sdp }),
            ClientMessage::IceCandidate { to, candidate } => (
                to,
                ServerMessage::IceCandidate {
                    from: me,
                    candidate,
                },
            ),
        };
        let mut hub = self.shared.hub();
        if let Some(bus) = &hub.bus {
            let room = hub.clustered.get(&me).map(|p| p.room.clone());
            let Some(room) = room else {
                return Err(End::Error(ErrorCode::BadMessage, "not in a room"));
            };
            match hub.clustered.get(&to) {
                Some(there) if to != me && there.room == room => {
                    debug!(%to, kind = message_kind(&relayed), "relay");
                    hub.deliver_here(to, relayed);
                }
                Some(_) => {
                    return Err(End::Error(
                        ErrorCode::NoSuchPeer,
                        "that peer is not in your room",
                    ));
                }
                // On another node, if in this room (the bus checks).
                None if to != me => {
                    debug!(%to, kind = message_kind(&relayed), "relay to another node");
                    let _ = bus.send(Bus::Relay {
                        room,
                        from: me,
                        to,
                        message: relayed,
                    });
                }
                None => {
                    return Err(End::Error(
                        ErrorCode::NoSuchPeer,
                        "that peer is not in your room",
                    ));
                }
            }
            return Ok(true);
        }
        hub.rooms.check_relay(me, to).map_err(|code| {
            debug!(%to, %code, "relay refused");
            End::Error(code, "that peer is not in your room")
        })?;
        debug!(%to, kind = message_kind(&relayed), "relay");
        hub.deliver(to, relayed);
        Ok(true)
    }
}

/// A node's link to the others: does what its seats ask of the cluster ([`Bus`]) in order, and
/// delivers what other nodes send to its peers (the channel is opened again at most every
/// second while Redis is away).
async fn bus(
    shared: Arc<Shared>,
    cluster: Cluster,
    mut requests: mpsc::UnboundedReceiver<Bus>,
    mut stop: watch::Receiver<bool>,
) {
    let mut retry = tokio::time::interval(crate::cluster::BEAT);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut channel: Option<redis::aio::PubSubStream> = None;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(request) = requests.recv() => {
                if let Err(e) = on_request(&shared, &cluster, request).await {
                    warn!(error = %e, "a message for another node was dropped");
                }
            }
            Some(message) = next_on(&mut channel) => {
                match Cluster::read(&message) {
                    Some((to, message)) => shared.hub().deliver_here(to, message),
                    None => debug!("an unreadable message on this node's channel"),
                }
            }
            _ = retry.tick(), if channel.is_none() => {
                match cluster.subscribe().await {
                    Ok(opened) => channel = Some(opened),
                    Err(e) => debug!(error = %e, "this node's channel cannot be opened yet"),
                }
            }
        }
    }
}

/// A node's heartbeat, on its own task so that a slow bus never makes it look dead: every
/// [`cluster::BEAT`] it says it is alive, reconciles its peers with Redis (writes back those
/// Redis lost; takes out those Redis holds for it that it does not, seen twice in a row, as a
/// leave lost while Redis was away), and takes the peers of dead nodes out of their rooms.
/// It reaps only after [`cluster::NODE_TTL`] of its own beats going through, so that after
/// an outage the other nodes have beaten again before anyone is called dead.
async fn beat(shared: Arc<Shared>, cluster: Cluster, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(crate::cluster::BEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut healthy_since: Option<Instant> = None;
    let mut reachable = true;
    let mut suspects: Vec<PeerId> = Vec::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => {}
        }
        let outcome = async {
            cluster.beat().await?;
            let locals: Vec<LocalPeer> = shared
                .hub()
                .clustered
                .values()
                .map(|p| LocalPeer {
                    peer: PeerInfo {
                        id: p.peer,
                        role: p.role,
                    },
                    room: p.room.clone(),
                })
                .collect();
            let found = cluster.reconcile(&locals).await?;
            if !found.restored.is_empty() || !found.refused.is_empty() {
                warn!(
                    restored = found.restored.len(),
                    refused = found.refused.len(),
                    "the room store had lost peers of this node; written back"
                );
            }
            // Held by Redis for this node, not here, on two beats in a row: a lost leave.
            let lost: Vec<PeerId> = found
                .extra
                .iter()
                .copied()
                .filter(|p| suspects.contains(p))
                .collect();
            suspects = found.extra;
            for peer in lost {
                info!(%peer, "a leave the room store missed; it left");
                let tell = cluster.leave(peer).await?;
                tell_all(
                    &shared,
                    &cluster,
                    &tell,
                    ServerMessage::PeerLeft {
                        peer_id: peer,
                        gone: true,
                    },
                )
                .await;
            }
            let since = *healthy_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= crate::cluster::NODE_TTL {
                for reaped in cluster.reap().await? {
                    info!(peer = %reaped.gone, "its node is gone; it left");
                    let message = ServerMessage::PeerLeft {
                        peer_id: reaped.gone,
                        gone: true,
                    };
                    tell_all(&shared, &cluster, &reaped.tell, message).await;
                }
            }
            Ok::<(), crate::cluster::ClusterError>(())
        }
        .await;
        match outcome {
            Ok(()) if !reachable => {
                reachable = true;
                info!("the room store is back");
            }
            Ok(()) => {}
            Err(e) => {
                if reachable {
                    warn!(error = %e, "the room store is out of reach: joins are refused until it is back");
                }
                reachable = false;
                healthy_since = None;
            }
        }
    }
}

/// Sends `message` to each of `peers` (here or on their nodes); one that fails does not stop
/// the others.
async fn tell_all(
    shared: &Shared,
    cluster: &Cluster,
    peers: &[crate::cluster::Located],
    message: ServerMessage,
) {
    for to in peers {
        if let Err(e) = send_to(shared, cluster, &to.node, to.peer, message.clone()).await {
            warn!(peer = %to.peer, error = %e, "a message for another node was dropped");
        }
    }
}

/// The next message on this node's channel; never, while there is none (or it ended: it is
/// opened again at the next beat).
async fn next_on(channel: &mut Option<redis::aio::PubSubStream>) -> Option<redis::Msg> {
    let Some(stream) = channel else {
        return std::future::pending().await;
    };
    let next = stream.next().await;
    if next.is_none() {
        *channel = None;
    }
    next
}

async fn on_request(
    shared: &Shared,
    cluster: &Cluster,
    request: Bus,
) -> Result<(), crate::cluster::ClusterError> {
    match request {
        Bus::Deliver(to, message) => {
            if let Some((_, node)) = cluster.locate(to).await? {
                send_to(shared, cluster, &node, to, message).await?;
            }
        }
        Bus::Relay {
            room,
            from,
            to,
            message,
        } => match cluster.locate(to).await? {
            Some((there, node)) if there == room => {
                send_to(shared, cluster, &node, to, message).await?;
            }
            // Answered as a single server answers it (not fatal: the session goes on).
            _ => {
                debug!(%to, "relay refused: that peer is not in the room");
                shared.hub().deliver_here(
                    from,
                    ServerMessage::error(ErrorCode::NoSuchPeer, "that peer is not in your room"),
                );
            }
        },
        Bus::Leave(peer, gone) => {
            // If this fails, the beat finds the peer held for this node and not here, and
            // takes it out then.
            let tell = cluster.leave(peer).await?;
            tell_all(
                shared,
                cluster,
                &tell,
                ServerMessage::PeerLeft {
                    peer_id: peer,
                    gone,
                },
            )
            .await;
        }
    }
    Ok(())
}

/// Delivers here if `node` is this one, else publishes to it.
async fn send_to(
    shared: &Shared,
    cluster: &Cluster,
    node: &str,
    to: PeerId,
    message: ServerMessage,
) -> Result<(), crate::cluster::ClusterError> {
    if node == cluster.node() {
        shared.hub().deliver_here(to, message);
        Ok(())
    } else {
        cluster.publish(node, to, &message).await
    }
}

fn message_kind(m: &ServerMessage) -> &'static str {
    match m {
        ServerMessage::Offer { .. } => "offer",
        ServerMessage::Answer { .. } => "answer",
        ServerMessage::IceCandidate { .. } => "ice-candidate",
        _ => "other",
    }
}

/// The next text message, with the rate limit applied to every frame.
async fn next_text(stream: &mut SplitStream<Ws>, bucket: &mut TokenBucket) -> Result<String, End> {
    loop {
        if let Some(text) = next_frame(stream, bucket).await? {
            return Ok(text);
        }
    }
}

/// The next frame that matters: a text message (`Some`), or a sign of life (`None`: a pong to
/// our ping, or a ping), which keeps a joined connection from timing out while nobody speaks.
async fn next_frame(
    stream: &mut SplitStream<Ws>,
    bucket: &mut TokenBucket,
) -> Result<Option<String>, End> {
    loop {
        let frame = match stream.next().await {
            None => return Err(End::Quiet),
            Some(Ok(frame)) => frame,
            Some(Err(tungstenite::Error::Capacity(_))) => {
                return Err(End::Error(ErrorCode::TooLarge, "message over 64 KiB"));
            }
            Some(Err(e)) => {
                debug!(error = %e, "WebSocket error");
                return Err(End::Quiet);
            }
        };
        if !bucket.take(Instant::now().into_std()) {
            return Err(End::Error(ErrorCode::RateLimited, "too many messages"));
        }
        match frame {
            Message::Text(text) => return Ok(Some(text.as_str().to_owned())),
            Message::Binary(_) => {
                return Err(End::Error(
                    ErrorCode::BadMessage,
                    "binary frames are not accepted",
                ));
            }
            Message::Close(_) => return Err(End::Quiet),
            Message::Ping(_) | Message::Pong(_) => return Ok(None),
            Message::Frame(_) => {}
        }
    }
}

async fn send(
    sink: &mut SplitSink<Ws, Message>,
    message: &ServerMessage,
) -> Result<(), tungstenite::Error> {
    sink.send(Message::text(message.encode())).await
}

/// Says why (if there is a why), then does the WebSocket closing handshake: the peer's
/// remaining messages are read and dropped until its close arrives (at most a second), so
/// that the socket is not reset with the error still unread on the peer's side.
async fn close(sink: &mut SplitSink<Ws, Message>, stream: &mut SplitStream<Ws>, end: End) {
    let frame = match end {
        End::Quiet | End::Bye => None,
        End::Error(code, why) => {
            let _ = timeout(
                Duration::from_secs(1),
                send(sink, &ServerMessage::error(code, why)),
            )
            .await;
            Some(CloseFrame {
                code: match code {
                    ErrorCode::TooLarge => CloseCode::Size,
                    ErrorCode::ShuttingDown => CloseCode::Away,
                    _ => CloseCode::Policy,
                },
                reason: code.as_str().into(),
            })
        }
    };
    let _ = timeout(Duration::from_secs(1), async {
        let _ = sink.send(Message::Close(frame)).await;
        while let Some(Ok(message)) = stream.next().await {
            if message.is_close() {
                break;
            }
        }
        let _ = sink.close().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use haven_proto::signal::RoomId;

    use super::*;

    fn hub(held_max: usize) -> Hub {
        Hub {
            rooms: Rooms::numbered_from(0),
            seats: HashMap::new(),
            clustered: HashMap::new(),
            bus: None,
            parked: VecDeque::new(),
            next_conn: 0,
            held_max,
            queue: 4,
        }
    }

    fn note(n: u64) -> ServerMessage {
        ServerMessage::PeerLeft {
            peer_id: PeerId(n),
            gone: false,
        }
    }

    fn welcome() -> ServerMessage {
        ServerMessage::Welcome {
            version: SIGNAL_VERSION,
            peer_id: PeerId(1),
            room: "r".parse::<RoomId>().expect("room"),
            role: haven_proto::signal::Role::Patient,
            peers: Vec::new(),
            ice_servers: Vec::new(),
            resume: None,
            grace_secs: 30,
            kept: true,
            media: None,
        }
    }

    fn drain(rx: &mut mpsc::Receiver<ServerMessage>) -> Vec<ServerMessage> {
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    /// What a lost connection had not sent (the message it failed on, then its queue) and what
    /// came while it was away all follow the new connection's welcome, in order; the seat is
    /// intact, so the resume is `kept`.
    #[test]
    fn nothing_meant_for_a_lost_peer_is_lost() {
        let mut hub = hub(8);
        let peer = PeerId(1);
        let (conn, mut rx) = hub.attach(peer, welcome());
        assert_eq!(drain(&mut rx), vec![welcome()]);
        hub.deliver(peer, note(1));
        hub.deliver(peer, note(2));
        // The connection failed sending note 0 (taken from its queue before).
        assert!(hub.detach(peer, conn, false, Some(note(0)), &mut rx));
        hub.deliver(peer, note(3));
        assert!(hub.intact(peer));
        let (_, mut back) = hub.attach(peer, welcome());
        assert_eq!(
            drain(&mut back),
            vec![welcome(), note(0), note(1), note(2), note(3)]
        );
        // The old connection's end after a move changes nothing.
        assert!(!hub.detach(peer, conn, false, None, &mut rx));
    }

    /// Too much held: the seat is not intact (the resume is not `kept`, so the peer reconciles).
    #[test]
    fn an_overflow_is_remembered() {
        let mut hub = hub(2);
        let peer = PeerId(1);
        let (conn, mut rx) = hub.attach(peer, welcome());
        drain(&mut rx);
        assert!(hub.detach(peer, conn, false, None, &mut rx));
        for n in 0..3 {
            hub.deliver(peer, note(n));
        }
        assert!(!hub.intact(peer));
        let (_, mut back) = hub.attach(peer, welcome());
        assert_eq!(drain(&mut back), vec![welcome(), note(0), note(1)]);
        // A live connection's seat is not intact either (a resume over a half-open one).
        assert!(!hub.intact(peer));
    }
}
