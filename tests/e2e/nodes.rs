//! Three `haven serve` nodes sharing one Redis (started here, on a unix socket, with a
//! password), as a clinic runs them behind a load balancer:
//! 1. a patient on node 1 and a clinician on node 2 hold a whole consult (offers, answers and
//!    candidates cross nodes through Redis);
//! 2. a room's capacity and an invite's uses hold across nodes;
//! 3. `kill -9` of a node: the others are told its peer is gone, within the node timeout;
//! 4. Redis stopped: a new join is refused with a clear error while the nodes keep their
//!    connections; Redis back (empty): the nodes write their peers back and joins work again.
//!
//! Needs `redis-server` and `redis-cli` (`cargo xtask deps` installs them); outside CI the
//! test says why it skips when they are missing.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use haven_proto::Redacted;
use haven_proto::signal::{ClientMessage, ErrorCode, MAX_ROOM_PEERS, PeerId, Role, ServerMessage};
use haven_signal::client::Welcome;
use haven_signal::{
    ClientError, ClientTls, Fingerprint, InviteRequest, ServerSecret, SignalClient, issue,
};

use crate::support::{Reaped, heavy, now};

const HAVEN: &str = env!("CARGO_BIN_EXE_haven");
const PASSWORD: &str = "clinic-redis-pw";
/// Every key with its values (strings, hashes and sets: all Haven writes).
const DUMP_ALL: &str = "local out = {} \
for _, k in ipairs(redis.call('KEYS', '*')) do \
  table.insert(out, k) \
  local t = redis.call('TYPE', k).ok \
  if t == 'string' then table.insert(out, redis.call('GET', k)) \
  elseif t == 'hash' then for _, v in ipairs(redis.call('HGETALL', k)) do table.insert(out, v) end \
  elseif t == 'set' then for _, v in ipairs(redis.call('SMEMBERS', k)) do table.insert(out, v) end \
  end \
end \
return out";
/// Longest wait for anything here (a dead node is noticed in about 3 s).
const LIMIT: Duration = Duration::from_secs(15);

fn prerequisites() -> Result<(), String> {
    for tool in ["redis-server", "redis-cli"] {
        if Command::new(tool).arg("--version").output().is_err() {
            return Err(format!("{tool} is not installed (run `cargo xtask deps`)"));
        }
    }
    Ok(())
}

struct Redis {
    socket: PathBuf,
    _process: Reaped,
}

impl Redis {
    /// A Redis of the test's own: no port, no persistence, a password.
    fn start(dir: &Path) -> Self {
        let socket = dir.join("redis.sock");
        let _ = std::fs::remove_file(&socket);
        let process = Reaped(
            Command::new("redis-server")
                .args(["--port", "0", "--save", "", "--appendonly", "no"])
                .arg("--unixsocket")
                .arg(&socket)
                .args(["--unixsocketperm", "700", "--requirepass", PASSWORD])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server starts"),
        );
        let redis = Self {
            socket,
            _process: process,
        };
        wait_until("Redis answers", || redis.cli(&["PING"]) == "PONG");
        redis
    }

    fn url(&self) -> String {
        format!("unix://{}?pass={PASSWORD}", self.socket.display())
    }

    fn cli(&self, args: &[&str]) -> String {
        Command::new("redis-cli")
            .arg("-s")
            .arg(&self.socket)
            .args(["--pass", PASSWORD, "--no-auth-warning"])
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    }
}

/// Polls `done` every 100 ms for at most [`LIMIT`].
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {LIMIT:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Node {
    port: u16,
    process: Reaped,
}

/// A node on a free port, sharing `secret` (and so its self-signed certificate) and Redis.
fn node(secret: &Path, redis: &Redis) -> (Node, Fingerprint) {
    let mut process = Reaped(
        Command::new(HAVEN)
            .args(["serve", "--listen", "127.0.0.1:0", "--secret"])
            .arg(secret)
            .env("HAVEN_REDIS", redis.url())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("haven serve starts"),
    );
    let stdout = process.0.stdout.take().expect("stdout");
    let (mut port, mut fingerprint) = (None, None);
    for line in BufReader::new(stdout).lines().take(5).map_while(Result::ok) {
        if line.contains("fingerprint") {
            fingerprint = line.rsplit(' ').next().and_then(|f| f.parse().ok());
        }
        if let Some(at) = line.rfind(':')
            && line.contains("wss://")
        {
            port = line[at + 1..].trim().parse().ok();
            break;
        }
    }
    (
        Node {
            port: port.expect("the node prints its address"),
            process,
        },
        fingerprint.expect("the node prints its fingerprint"),
    )
}

struct Clinic {
    secret: ServerSecret,
    fingerprint: Fingerprint,
    tls: ClientTls,
}

impl Clinic {
    fn invite(&self, node: &Node, room: &str, role: Role, uses: u32) -> String {
        issue(
            &self.secret,
            InviteRequest {
                host: "127.0.0.1".into(),
                port: node.port,
                room: room.parse().expect("room"),
                role,
                ttl_secs: 600,
                uses,
                pin: Some(self.fingerprint.to_hex()),
                clinic: None,
                group: None,
            },
            now(),
        )
        .expect("randomness")
    }

    async fn join(
        &self,
        node: &Node,
        room: &str,
        role: Role,
    ) -> Result<(SignalClient, Welcome), ClientError> {
        self.join_with(node, &self.invite(node, room, role, 5))
            .await
    }

    async fn join_with(
        &self,
        node: &Node,
        token: &str,
    ) -> Result<(SignalClient, Welcome), ClientError> {
        let url = format!("wss://127.0.0.1:{}", node.port);
        tokio::time::timeout(LIMIT, SignalClient::join(&url, &self.tls, token))
            .await
            .map_err(|_| ClientError::Timeout)?
    }
}

/// The next message that is not a `peer-joined`.
async fn next_not_joined(client: &mut SignalClient) -> ServerMessage {
    loop {
        match client.recv_timeout(LIMIT).await.expect("a message") {
            ServerMessage::PeerJoined { .. } => {}
            other => return other,
        }
    }
}

fn refused(result: Result<(SignalClient, Welcome), ClientError>) -> ErrorCode {
    match result {
        Err(ClientError::Refused { code, .. }) => code,
        Err(other) => panic!("refused in another way: {other}"),
        Ok(_) => panic!("joined"),
    }
}

/// A consult of two `haven join --headless` on two nodes.
fn consult(clinic: &Clinic, patient_node: &Node, clinician_node: &Node, dir: &Path) {
    let join = |token: String, log: &str| {
        Command::new(HAVEN)
            .args(["join", "--headless", "--loopback-only", "--duration", "8s"])
            .arg(token)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join(log)).expect("log file"))
            .spawn()
            .expect("haven join starts")
    };
    let clinician = join(
        clinic.invite(clinician_node, "consult", Role::Clinician, 1),
        "clinician.log",
    );
    let patient = join(
        clinic.invite(patient_node, "consult", Role::Patient, 1),
        "patient.log",
    );
    for (child, log) in [(patient, "patient.log"), (clinician, "clinician.log")] {
        let out = child.wait_with_output().expect("ran");
        let said = std::fs::read_to_string(dir.join(log)).unwrap_or_default();
        assert!(out.status.success(), "{said}");
        let f: serde_json::Value = serde_json::from_slice(&out.stdout).expect("figures");
        assert_eq!(f["peers_seen"], 1, "{f}");
        assert!(f["audio_frames_received"].as_u64() > Some(300), "{f}");
        assert!(f["poses_received"].as_u64() > Some(100), "{f}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_rooms_through_redis() {
    if let Err(why) = prerequisites() {
        heavy::skipped(&why);
        return;
    }
    let dir = std::env::temp_dir().join(format!("haven-nodes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let redis = Redis::start(&dir);
    let secret_file = dir.join("haven.secret");
    // One after another: the first creates the secret and certificate the others load.
    let (n1, fingerprint) = node(&secret_file, &redis);
    let (n2, _) = node(&secret_file, &redis);
    let (mut n3, _) = node(&secret_file, &redis);
    let clinic = Clinic {
        secret: ServerSecret::load_or_create(&secret_file).expect("the nodes' secret"),
        fingerprint,
        tls: ClientTls::Pinned(fingerprint),
    };

    // 1. A whole consult across two nodes.
    consult(&clinic, &n1, &n2, &dir);

    // 2. Capacity and uses hold across nodes.
    let nodes = [&n1, &n2, &n3, &n1];
    let mut full = Vec::new();
    for (i, n) in nodes.iter().enumerate().take(MAX_ROOM_PEERS) {
        let role = if i == 0 {
            Role::Patient
        } else {
            Role::Clinician
        };
        full.push(clinic.join(n, "full", role).await.expect("joins"));
    }
    assert_eq!(
        refused(clinic.join(&n2, "full", Role::Clinician).await),
        ErrorCode::RoomFull
    );
    let once = clinic.invite(&n1, "once", Role::Patient, 1);
    let (first, _) = clinic.join_with(&n1, &once).await.expect("the first use");
    // The same invite at another node (behind a load balancer every invite names the
    // balancer, and any node may take it).
    assert_eq!(
        refused(clinic.join_with(&n3, &once).await),
        ErrorCode::TokenUsed,
        "a used invite is used on every node"
    );
    drop(first);
    for (client, _) in full {
        let _ = client.bye().await;
    }

    // 3. A node killed: its peer is gone for the others. C on node 3, D on node 1; an offer
    // crosses first.
    let (mut d, _) = clinic
        .join(&n1, "r2", Role::Clinician)
        .await
        .expect("joins");
    let (mut c, wc) = clinic.join(&n3, "r2", Role::Patient).await.expect("joins");
    assert_eq!(wc.peers.len(), 1);
    let d_id = wc.peers[0].id;
    c.send(&ClientMessage::Offer {
        to: d_id,
        sdp: Redacted::new("v=0 across nodes".into()),
    })
    .await
    .expect("sends");
    match next_not_joined(&mut d).await {
        ServerMessage::Offer { from, sdp } => {
            assert_eq!(from, wc.peer_id);
            assert_eq!(sdp.expose(), "v=0 across nodes");
        }
        other => panic!("expected the offer, got {other:?}"),
    }
    // A relay to a peer of another room, on another node, is refused as on one server.
    let (_x, wx) = clinic
        .join(&n2, "elsewhere", Role::Patient)
        .await
        .expect("joins");
    d.send(&ClientMessage::Offer {
        to: wx.peer_id,
        sdp: Redacted::new("v=0 wrong room".into()),
    })
    .await
    .expect("sends");
    match d.recv_timeout(LIMIT).await {
        Err(ClientError::Refused { code, .. }) => assert_eq!(code, ErrorCode::NoSuchPeer),
        other => panic!("expected no-such-peer, got {other:?}"),
    }
    // The offer crossed Redis's channel and was not kept: every key and value Redis holds is
    // rooms, peers, nodes and counts.
    let everything = redis.cli(&["EVAL", DUMP_ALL, "0"]);
    assert!(
        everything.contains("haven:room:r2") && everything.contains("clinician"),
        "{everything}"
    );
    assert!(!everything.contains("v=0"), "an SDP was kept: {everything}");
    let killed_at = Instant::now();
    n3.process.0.kill().expect("kill -9 node 3");
    let _ = n3.process.0.wait();
    match next_not_joined(&mut d).await {
        ServerMessage::PeerLeft { peer_id, gone } => {
            assert_eq!(peer_id, wc.peer_id);
            assert!(gone, "a dead node's peer is gone, not said bye");
        }
        other => panic!("expected peer-left, got {other:?}"),
    }
    assert!(
        killed_at.elapsed() < Duration::from_secs(8),
        "noticed in {:?}",
        killed_at.elapsed()
    );
    drop(c);

    // 4. Redis stopped: joins refused clearly; D's connection stays.
    drop(redis);
    let code = refused(clinic.join(&n1, "r3", Role::Patient).await);
    assert_eq!(code, ErrorCode::Unavailable);
    // Redis back, empty: node 1 writes D back, and a newcomer finds D.
    let redis = Redis::start(&dir);
    wait_until("node 1 writes its peer back", || {
        redis.cli(&["SISMEMBER", "haven:room:r2", &d_id.0.to_string()]) == "1"
    });
    let (_e, we) = clinic
        .join(&n1, "r2", Role::Patient)
        .await
        .expect("joins again");
    assert_eq!(
        we.peers.iter().map(|p| p.id).collect::<Vec<PeerId>>(),
        vec![d_id],
        "the room as it was"
    );
    match d.recv_timeout(LIMIT).await.expect("a message") {
        ServerMessage::PeerJoined { peer } => assert_eq!(peer.id, we.peer_id),
        other => panic!("D still connected and told: got {other:?}"),
    }
    drop((n1, n2, n3));
    heavy::ran();
    let _ = std::fs::remove_dir_all(&dir);
}
