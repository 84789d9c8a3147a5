//! Rooms kept in Redis, so that several signaling nodes behind one load balancer serve one
//! clinic (`haven serve --redis URL`).
//!
//! Redis holds who is in which room and on which node, and invite use counts; never an SDP.
//! Offers, answers and candidates for a peer on another node go through that node's channel
//! (`haven:bus:NODE`) and are not stored. Every change of a room is one Lua script, so joins
//! and leaves on different nodes are atomic with the capacity and use checks.
//!
//! Keys (all under `haven:`):
//! - `room:ROOM`: set of its peer ids;
//! - `peer:ID`: hash of `room`, `role`, `node`;
//! - `node-peers:NODE`: set of the peer ids a node holds;
//! - `nodes`: set of the nodes that hold (or held) peers;
//! - `alive:NODE`: the node's liveness key, set again every [`BEAT`] to expire after
//!   [`NODE_TTL`]; a node whose key is gone is dead, and the first live node to notice takes
//!   its peers out of their rooms (one script: no one does it twice);
//! - `uses:NONCE`: joins counted for an invite, expiring with it;
//! - `next-peer`: the last peer id given (seeded from the time in ms if missing, so ids from
//!   before a Redis restart are not given again).
//!
//! Every beat a node compares its peers with `node-peers:NODE` ([`Cluster::reconcile`]):
//! those Redis lost (it restarted empty, or a node reaped this one during an outage) are
//! written back; those Redis holds but the node does not (a leave lost while Redis was away)
//! are reported, for the node to take out.
//!
//! This module speaks to Redis only; what a node does with the answers (its seats, its
//! outboxes) is `server`'s.

use std::time::Duration;

use haven_proto::invite::Invite;
use haven_proto::signal::{ErrorCode, MAX_ROOM_PEERS, PeerId, PeerInfo, RoomId, ServerMessage};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands as _, Script};
use thiserror::Error;

/// How often a node says it is alive (and looks for dead ones).
pub const BEAT: Duration = Duration::from_secs(1);
/// A node silent this long is dead.
pub const NODE_TTL: Duration = Duration::from_secs(3);
/// How long a node waits for Redis before it refuses a join.
const REDIS_WAIT: Duration = Duration::from_secs(2);

/// Why Redis could not be used.
#[derive(Debug, Error)]
pub enum ClusterError {
    /// The URL is not a Redis URL (`redis://`, `rediss://`, `unix://`, `redis+unix://`).
    #[error("not a Redis URL (redis://, rediss://, unix:// or redis+unix://): {0}")]
    Url(String),
    /// Redis did not answer, or refused (a wrong password, say).
    #[error("the room store (Redis) is out of reach: {0}")]
    Unreachable(String),
    /// Redis answered something this node does not understand.
    #[error("the room store (Redis) answered something unexpected: {0}")]
    Unexpected(String),
}

impl From<redis::RedisError> for ClusterError {
    fn from(e: redis::RedisError) -> Self {
        // Its text never holds the password (redis-rs prints the kind and the server's words).
        Self::Unreachable(e.to_string())
    }
}

/// Why a join was refused.
#[derive(Debug, Error)]
pub enum JoinRefused {
    /// For a reason a peer can be told (room full, invite used up).
    #[error("{0}")]
    Code(ErrorCode),
    /// Redis could not be asked.
    #[error(transparent)]
    Store(#[from] ClusterError),
}

/// A join Redis took.
#[derive(Debug)]
pub struct ClusterJoined {
    /// The new peer.
    pub peer: PeerInfo,
    /// Who was in the room already, and on which node.
    pub others: Vec<(PeerInfo, String)>,
}

/// A peer to tell something, and the node that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The peer.
    pub peer: PeerId,
    /// Its node.
    pub node: String,
}

/// A peer taken out of its room because its node died, and whom to tell.
#[derive(Debug)]
pub struct Reaped {
    /// The peer that is gone.
    pub gone: PeerId,
    /// Who is left in its room.
    pub tell: Vec<Located>,
}

/// What [`Cluster::reconcile`] found.
#[derive(Debug, Default)]
pub struct Reconciled {
    /// This node's peers Redis had lost, written back.
    pub restored: Vec<PeerId>,
    /// This node's peers Redis had lost and that could not be written back.
    pub refused: Vec<PeerId>,
    /// Peers Redis says this node holds, which it does not.
    pub extra: Vec<PeerId>,
}

/// A local peer, as written back after Redis lost it.
#[derive(Debug, Clone)]
pub struct LocalPeer {
    /// The peer.
    pub peer: PeerInfo,
    /// Its room.
    pub room: RoomId,
}

/// One node's link to Redis.
#[derive(Clone)]
pub struct Cluster {
    node: String,
    client: redis::Client,
    conn: ConnectionManager,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: only the node is printed.
        f.debug_struct("Cluster")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

const JOIN: &str = r"
local room_key = 'haven:room:' .. ARGV[1]
if redis.call('SCARD', room_key) >= tonumber(ARGV[6]) then
  return redis.error_reply('ROOMFULL the room is full')
end
local uses_key = 'haven:uses:' .. ARGV[3]
if tonumber(redis.call('GET', uses_key) or '0') >= tonumber(ARGV[4]) then
  return redis.error_reply('TOKENUSED the invite is used up')
end
redis.call('INCR', uses_key)
redis.call('EXPIREAT', uses_key, ARGV[5])
redis.call('SETNX', 'haven:next-peer', ARGV[7])
local id = redis.call('INCR', 'haven:next-peer')
local out = {id}
for _, other in ipairs(redis.call('SMEMBERS', room_key)) do
  local found = redis.call('HMGET', 'haven:peer:' .. other, 'role', 'node')
  if found[1] and found[2] then
    table.insert(out, other)
    table.insert(out, found[1])
    table.insert(out, found[2])
  end
end
redis.call('SADD', room_key, id)
redis.call('HSET', 'haven:peer:' .. id, 'room', ARGV[1], 'role', ARGV[2], 'node', ARGV[8])
redis.call('SADD', 'haven:node-peers:' .. ARGV[8], id)
redis.call('SADD', 'haven:nodes', ARGV[8])
return out
";

/// A Lua function the scripts that take peers out share: `take_out(peer)` takes the peer out
/// of its room and its node's set, and returns who is left in the room, each with its node
/// (flat), or `nil` if it held no place.
macro_rules! take_out_lua {
    () => {
        r"
local function take_out(peer)
  local peer_key = 'haven:peer:' .. peer
  local found = redis.call('HMGET', peer_key, 'room', 'node')
  if not found[1] then return nil end
  local room_key = 'haven:room:' .. found[1]
  redis.call('SREM', room_key, peer)
  redis.call('DEL', peer_key)
  if found[2] then redis.call('SREM', 'haven:node-peers:' .. found[2], peer) end
  local tell = {}
  for _, other in ipairs(redis.call('SMEMBERS', room_key)) do
    local node = redis.call('HGET', 'haven:peer:' .. other, 'node')
    if node then
      table.insert(tell, other)
      table.insert(tell, node)
    end
  end
  return tell
end
"
    };
}

/// Takes a peer out of its room; returns who is left there, each with its node.
const LEAVE: &str = concat!(take_out_lua!(), "return take_out(ARGV[1]) or {}\n");

/// A dead node's peers out of their rooms: `gone, n, (peer, node) * n, ...`. Does nothing if
/// the node is alive after all.
const REAP: &str = concat!(
    take_out_lua!(),
    r"
if redis.call('EXISTS', 'haven:alive:' .. ARGV[1]) == 1 then return {} end
local out = {}
for _, gone in ipairs(redis.call('SMEMBERS', 'haven:node-peers:' .. ARGV[1])) do
  local tell = take_out(gone)
  if tell then
    table.insert(out, gone)
    table.insert(out, #tell / 2)
    for _, v in ipairs(tell) do table.insert(out, v) end
  end
end
redis.call('DEL', 'haven:node-peers:' .. ARGV[1])
redis.call('SREM', 'haven:nodes', ARGV[1])
return out
"
);

/// Writes a node's peer back (after Redis lost it), if its room has space and its id is not
/// someone else's.
const RESTORE: &str = r"
local holder = redis.call('HGET', 'haven:peer:' .. ARGV[2], 'node')
if holder and holder ~= ARGV[4] then return 0 end
local room_key = 'haven:room:' .. ARGV[1]
if redis.call('SISMEMBER', room_key, ARGV[2]) == 0 and
   redis.call('SCARD', room_key) >= tonumber(ARGV[5]) then
  return 0
end
redis.call('SADD', room_key, ARGV[2])
redis.call('HSET', 'haven:peer:' .. ARGV[2], 'room', ARGV[1], 'role', ARGV[3], 'node', ARGV[4])
redis.call('SADD', 'haven:node-peers:' .. ARGV[4], ARGV[2])
redis.call('SADD', 'haven:nodes', ARGV[4])
if redis.call('GET', 'haven:next-peer') == false or
   tonumber(redis.call('GET', 'haven:next-peer')) < tonumber(ARGV[2]) then
  redis.call('SET', 'haven:next-peer', ARGV[2])
end
return 1
";

impl Cluster {
    /// Connects to Redis at `url` as a new node (a random name).
    pub async fn connect(url: &str) -> Result<Self, ClusterError> {
        let client =
            redis::Client::open(url).map_err(|e| ClusterError::Url(e.category().into()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_WAIT))
            .set_response_timeout(Some(REDIS_WAIT))
            .set_number_of_retries(1);
        let conn = tokio::time::timeout(
            REDIS_WAIT * 2,
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        .map_err(|_| ClusterError::Unreachable("no answer".into()))??;
        let mut bytes = [0u8; 8];
        let _ = getrandom::fill(&mut bytes);
        let node = hex::encode(bytes);
        let cluster = Self { node, client, conn };
        cluster.beat().await?;
        Ok(cluster)
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The channel this node listens on.
    pub fn channel(node: &str) -> String {
        format!("haven:bus:{node}")
    }

    /// Joins the holder of a checked invite to its room, on this node. `first_id` seeds the
    /// peer ids if Redis has none (the time in ms).
    pub async fn join(&self, invite: &Invite, first_id: u64) -> Result<ClusterJoined, JoinRefused> {
        let reply: Result<Vec<String>, redis::RedisError> = Script::new(JOIN)
            .arg(invite.room.as_str())
            .arg(invite.role.as_str())
            .arg(&invite.nonce)
            .arg(invite.uses)
            .arg(invite.exp)
            .arg(MAX_ROOM_PEERS)
            .arg(first_id)
            .arg(&self.node)
            .invoke_async(&mut self.conn.clone())
            .await;
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) if e.code() == Some("ROOMFULL") => {
                return Err(JoinRefused::Code(ErrorCode::RoomFull));
            }
            Err(e) if e.code() == Some("TOKENUSED") => {
                return Err(JoinRefused::Code(ErrorCode::TokenUsed));
            }
            Err(e) => return Err(JoinRefused::Store(e.into())),
        };
        let (id, rest) = reply
            .split_first()
            .ok_or_else(|| ClusterError::Unexpected("an empty join".into()))?;
        let mut others = Vec::new();
        for triple in rest.chunks(3) {
            let [peer, role, node] = triple else {
                return Err(ClusterError::Unexpected("a short join".into()).into());
            };
            others.push((
                PeerInfo {
                    id: parse_peer(peer)?,
                    role: role
                        .parse()
                        .map_err(|_| ClusterError::Unexpected("a role".into()))?,
                },
                node.clone(),
            ));
        }
        Ok(ClusterJoined {
            peer: PeerInfo {
                id: parse_peer(id)?,
                role: invite.role,
            },
            others,
        })
    }

    /// Takes `peer` out of its room; who is left, to be told.
    pub async fn leave(&self, peer: PeerId) -> Result<Vec<Located>, ClusterError> {
        let reply: Vec<String> = Script::new(LEAVE)
            .arg(peer.0)
            .invoke_async(&mut self.conn.clone())
            .await?;
        pairs(&reply)
    }

    /// The room and node of `peer`, if it is in one.
    pub async fn locate(&self, peer: PeerId) -> Result<Option<(RoomId, String)>, ClusterError> {
        let (room, node): (Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(format!("haven:peer:{}", peer.0))
            .arg("room")
            .arg("node")
            .query_async(&mut self.conn.clone())
            .await?;
        match (room, node) {
            (Some(room), Some(node)) => Ok(Some((
                room.parse()
                    .map_err(|_| ClusterError::Unexpected("a room".into()))?,
                node,
            ))),
            _ => Ok(None),
        }
    }

    /// Sends `message` for `to` to the node that holds it.
    pub async fn publish(
        &self,
        node: &str,
        to: PeerId,
        message: &ServerMessage,
    ) -> Result<(), ClusterError> {
        let _: i64 = self
            .conn
            .clone()
            .publish(
                Self::channel(node),
                format!("{}\n{}", to.0, message.encode()),
            )
            .await?;
        Ok(())
    }

    /// Says this node is alive.
    pub async fn beat(&self) -> Result<(), ClusterError> {
        let mut conn = self.conn.clone();
        let ttl = u64::try_from(NODE_TTL.as_millis()).unwrap_or(u64::MAX);
        let ((), _): ((), i64) = redis::pipe()
            .set_options(
                format!("haven:alive:{}", self.node),
                1,
                redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(ttl)),
            )
            .sadd("haven:nodes", &self.node)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Compares this node's peers (`locals`) with what Redis holds for it: writes back those
    /// it lost, and returns them with those it could not write back (their room filled up,
    /// or their id is someone else's now) and those Redis holds that this node does not.
    pub async fn reconcile(&self, locals: &[LocalPeer]) -> Result<Reconciled, ClusterError> {
        let held: Vec<u64> = self
            .conn
            .clone()
            .smembers(format!("haven:node-peers:{}", self.node))
            .await?;
        let missing: Vec<LocalPeer> = locals
            .iter()
            .filter(|l| !held.contains(&l.peer.id.0))
            .cloned()
            .collect();
        let (restored, refused) = self.restore(&missing).await?;
        Ok(Reconciled {
            restored,
            refused,
            extra: held
                .into_iter()
                .map(PeerId)
                .filter(|id| !locals.iter().any(|l| l.peer.id == *id))
                .collect(),
        })
    }

    /// Writes peers back; those written, and those refused.
    async fn restore(
        &self,
        peers: &[LocalPeer],
    ) -> Result<(Vec<PeerId>, Vec<PeerId>), ClusterError> {
        let (mut restored, mut refused) = (Vec::new(), Vec::new());
        for local in peers {
            let taken: i64 = Script::new(RESTORE)
                .arg(local.room.as_str())
                .arg(local.peer.id.0)
                .arg(local.peer.role.as_str())
                .arg(&self.node)
                .arg(MAX_ROOM_PEERS)
                .invoke_async(&mut self.conn.clone())
                .await?;
            if taken == 0 {
                refused.push(local.peer.id);
            } else {
                restored.push(local.peer.id);
            }
        }
        Ok((restored, refused))
    }

    /// Who is in `room`, and on which node.
    pub async fn members(&self, room: &RoomId) -> Result<Vec<(PeerInfo, String)>, ClusterError> {
        let mut conn = self.conn.clone();
        let ids: Vec<u64> = conn
            .smembers(format!("haven:room:{}", room.as_str()))
            .await?;
        let mut out = Vec::new();
        for id in ids {
            let (role, node): (Option<String>, Option<String>) = redis::cmd("HMGET")
                .arg(format!("haven:peer:{id}"))
                .arg("role")
                .arg("node")
                .query_async(&mut conn)
                .await?;
            if let (Some(role), Some(node)) = (role, node) {
                let role = role
                    .parse()
                    .map_err(|_| ClusterError::Unexpected("a role".into()))?;
                out.push((
                    PeerInfo {
                        id: PeerId(id),
                        role,
                    },
                    node,
                ));
            }
        }
        Ok(out)
    }

    /// Takes the peers of every dead node out of their rooms; who is gone and whom to tell.
    pub async fn reap(&self) -> Result<Vec<Reaped>, ClusterError> {
        let mut conn = self.conn.clone();
        let nodes: Vec<String> = conn.smembers("haven:nodes").await?;
        let mut all = Vec::new();
        for node in nodes.iter().filter(|n| **n != self.node) {
            let alive: bool = conn.exists(format!("haven:alive:{node}")).await?;
            if alive {
                continue;
            }
            let reply: Vec<String> = Script::new(REAP).arg(node).invoke_async(&mut conn).await?;
            let mut rest = reply.as_slice();
            while let [gone, count, tail @ ..] = rest {
                let count: usize = count
                    .parse()
                    .map_err(|_| ClusterError::Unexpected("a count".into()))?;
                let (tell, tail) = tail
                    .split_at_checked(count * 2)
                    .ok_or_else(|| ClusterError::Unexpected("a short reap".into()))?;
                all.push(Reaped {
                    gone: parse_peer(gone)?,
                    tell: pairs(tell)?,
                });
                rest = tail;
            }
        }
        Ok(all)
    }

    /// This node's channel: `(to, message)` for each message another node sends here.
    pub async fn subscribe(&self) -> Result<redis::aio::PubSubStream, ClusterError> {
        let open = async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(Self::channel(&self.node)).await?;
            Ok::<_, ClusterError>(pubsub.into_on_message())
        };
        tokio::time::timeout(REDIS_WAIT, open)
            .await
            .map_err(|_| ClusterError::Unreachable("no answer".into()))?
    }

    /// A message from the channel: for whom, and what (`None`: not one of ours).
    pub fn read(message: &redis::Msg) -> Option<(PeerId, ServerMessage)> {
        let payload: String = message.get_payload().ok()?;
        let (to, text) = payload.split_once('\n')?;
        Some((PeerId(to.parse().ok()?), ServerMessage::decode(text).ok()?))
    }
}

fn parse_peer(s: &str) -> Result<PeerId, ClusterError> {
    s.parse()
        .map(PeerId)
        .map_err(|_| ClusterError::Unexpected("a peer id".into()))
}

fn pairs(flat: &[String]) -> Result<Vec<Located>, ClusterError> {
    flat.chunks(2)
        .map(|pair| match pair {
            [peer, node] => Ok(Located {
                peer: parse_peer(peer)?,
                node: node.clone(),
            }),
            _ => Err(ClusterError::Unexpected("an odd list".into())),
        })
        .collect()
}
