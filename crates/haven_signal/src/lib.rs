//! Haven's rendezvous server and its client.
//!
//! The server introduces the peers of a consult and nothing more: a peer connects over
//! WebSocket on TLS 1.3, says hello with a signed invite, and is placed in the room the invite
//! names with the role it names (or takes back its place with a resume token, after its
//! connection was lost or the server restarted). From then on the server relays SDP offers, answers and ICE
//! candidates to a named peer of the same room, and tells each peer who joins and leaves. It
//! stores nothing but its rooms, keeps nothing medical, and logs room and peer ids only.
//!
//! - [`invite`]: making and checking signed invites ([`ServerSecret`] holds the key).
//! - [`rooms`]: the room state machine, sans I/O.
//! - [`resume`]: resume tokens, a peer's signed claim to its place in a room.
//! - [`ledger`]: invite uses and revocations remembered across restarts (files beside the
//!   secret).
//! - [`server`]: the tokio server with its limits.
//! - [`cluster`]: rooms kept in Redis, for several server nodes behind one load balancer.
//! - [`tls`]: certificates (files or a fresh self-signed one) and the client's pinning.
//! - [`client`]: a signaling client, used by `haven` and by tests.
//! - [`turn`]: short-lived credentials for a TURN relay (coturn's shared-secret scheme),
//!   handed out in each welcome.
//! - [`janus`]: a client of the media server (Janus VideoRoom) that group rooms use.
//! - [`relay`]: a TCP relay that tests and benchmarks cut, standing for the network under
//!   signaling.

pub mod client;
pub mod clinic;
pub mod cluster;
pub mod invite;
pub mod janus;
pub mod ledger;
pub mod limits;
pub mod relay;
pub mod resume;
pub mod rooms;
pub mod secret;
pub mod server;
pub mod tls;
pub mod turn;

pub use client::{ClientError, SignalClient};
pub use invite::{InviteRejected, InviteRequest, issue, verify};
pub use limits::Limits;
pub use secret::{SecretError, ServerSecret};
pub use server::{ServerConfig, SignalServer};
pub use tls::{ClientTls, Fingerprint, TlsError, TlsIdentity};
