//! A client of Janus's WebSocket API (plain JSON, the `janus-protocol` sub-protocol) for its
//! VideoRoom plugin: what a group room's session needs from the clinic's media server.
//!
//! Janus answers a request in two steps: an `ack`, then (for a plugin message) an `event`
//! with the same `transaction`; events it sends on its own (a publisher joined, an offer to
//! renegotiate) carry the handle (`sender`) they are for. [`Janus::call`] waits for its own
//! answer and keeps the rest for [`Janus::next_event`], in order. A session is kept alive by
//! [`Janus::keepalive`] (Janus drops one after 60 s of silence).
//!
//! What crosses this connection is the room's number and pin and the SDPs of this peer's own
//! connections to Janus: never a share (shares stay peer to peer). Nothing of it is logged.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::tls::ClientTls;

/// The largest message read from Janus (an offer for twelve publishers is ~10 KiB).
pub const MAX_JANUS_MESSAGE: usize = 256 * 1024;
/// The longest a request waits for Janus's answer.
pub const ANSWER_WAIT: Duration = Duration::from_secs(10);
/// How often [`Janus::keepalive`] is to be called (Janus's session timeout is 60 s).
pub const KEEPALIVE_EVERY: Duration = Duration::from_secs(20);
/// Events held for [`Janus::next_event`] at most; older ones are dropped beyond it.
const MAX_HELD_EVENTS: usize = 1024;

/// Janus's error code for "a room with that number exists".
pub const ROOM_EXISTS: i64 = 427;
/// Janus's error code for "no such feed" (a publisher that left as it was asked for).
pub const NO_SUCH_FEED: i64 = 428;

/// What went wrong talking to Janus.
#[derive(Debug, Error)]
pub enum JanusError {
    /// The URL is not `ws://HOST[:PORT][/PATH]` or `wss://…`.
    #[error("not a media server URL (ws:// or wss://): {0}")]
    BadUrl(String),
    /// The connection could not be made.
    #[error("could not reach the media server: {0}")]
    Connect(String),
    /// The connection closed.
    #[error("the media server closed the connection")]
    Closed,
    /// No answer in time.
    #[error("the media server did not answer {0} in time")]
    Timeout(&'static str),
    /// Janus, or its plugin, refused a request.
    #[error("the media server refused {what} ({code}: {reason})")]
    Refused {
        /// What was asked.
        what: &'static str,
        /// Janus's error code.
        code: i64,
        /// Janus's words.
        reason: String,
    },
    /// An answer without what it should hold.
    #[error("the media server's answer to {0} was not understood")]
    Protocol(&'static str),
}

/// A Janus session over one WebSocket.
pub struct Janus {
    out: mpsc::UnboundedSender<String>,
    inbox: mpsc::UnboundedReceiver<Value>,
    held: VecDeque<Value>,
    session: u64,
    next_transaction: u64,
}

impl std::fmt::Debug for Janus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Janus")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl Janus {
    /// Connects to `url` and creates a session, within [`ANSWER_WAIT`] for each step.
    /// `wss://` is checked against the system's certificate authorities.
    pub async fn connect(url: &str) -> Result<Self, JanusError> {
        tokio::time::timeout(ANSWER_WAIT, Self::open(url))
            .await
            .map_err(|_| JanusError::Timeout("the connection"))??
            .session()
            .await
    }

    async fn open(url: &str) -> Result<Self, JanusError> {
        let mut request = url
            .into_client_request()
            .map_err(|_| JanusError::BadUrl(url.to_owned()))?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "janus-protocol"
                .parse()
                .map_err(|_| JanusError::BadUrl(url.to_owned()))?,
        );
        let uri = request.uri().clone();
        let tls = match uri.scheme_str() {
            Some("ws") => false,
            Some("wss") => true,
            _ => return Err(JanusError::BadUrl(url.to_owned())),
        };
        let host = uri
            .host()
            .ok_or_else(|| JanusError::BadUrl(url.to_owned()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let connect = |e: &dyn std::fmt::Display| JanusError::Connect(e.to_string());
        let tcp = tokio::time::timeout(ANSWER_WAIT, TcpStream::connect((host.as_str(), port)))
            .await
            .map_err(|_| JanusError::Timeout("the connection"))?
            .map_err(|e| connect(&e))?;
        tcp.set_nodelay(true).map_err(|e| connect(&e))?;
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_JANUS_MESSAGE))
            .max_frame_size(Some(MAX_JANUS_MESSAGE));
        let (out, inbox) = if tls {
            let roots = crate::tls::trusted_roots(&[]).map_err(|e| connect(&e))?;
            let client = ClientTls::Roots(std::sync::Arc::new(roots))
                .client_config()
                .map_err(|e| connect(&e))?;
            let name = rustls_pki_types::ServerName::try_from(host)
                .map_err(|_| JanusError::BadUrl(url.to_owned()))?;
            let stream = TlsConnector::from(client)
                .connect(name, tcp)
                .await
                .map_err(|e| connect(&e))?;
            let (ws, _) =
                tokio_tungstenite::client_async_with_config(request, stream, Some(config))
                    .await
                    .map_err(|e| connect(&e))?;
            pump(ws)
        } else {
            let (ws, _) = tokio_tungstenite::client_async_with_config(request, tcp, Some(config))
                .await
                .map_err(|e| connect(&e))?;
            pump(ws)
        };
        Ok(Self {
            out,
            inbox,
            held: VecDeque::new(),
            session: 0,
            next_transaction: 1,
        })
    }

    /// Creates the Janus session (a `call`, so bounded by [`ANSWER_WAIT`]).
    async fn session(mut self) -> Result<Self, JanusError> {
        let created = self.call("a session", json!({"janus": "create"})).await?;
        self.session = created["data"]["id"]
            .as_u64()
            .ok_or(JanusError::Protocol("a session"))?;
        Ok(self)
    }

    /// Sends `request` (its transaction and session filled in) and waits for its answer: the
    /// first message with its transaction that is not an `ack`. Everything else that arrives
    /// meanwhile is kept for [`Janus::next_event`].
    pub async fn call(
        &mut self,
        what: &'static str,
        mut request: Value,
    ) -> Result<Value, JanusError> {
        let transaction = self.next_transaction.to_string();
        self.next_transaction += 1;
        request["transaction"] = json!(transaction);
        if self.session != 0 {
            request["session_id"] = json!(self.session);
        }
        self.out
            .send(request.to_string())
            .map_err(|_| JanusError::Closed)?;
        let deadline = tokio::time::Instant::now() + ANSWER_WAIT;
        loop {
            let message = tokio::time::timeout_at(deadline, self.inbox.recv())
                .await
                .map_err(|_| JanusError::Timeout(what))?
                .ok_or(JanusError::Closed)?;
            if message["transaction"].as_str() != Some(transaction.as_str()) {
                self.hold(message);
                continue;
            }
            if message["janus"] == "ack" {
                continue;
            }
            return refusal(what, message);
        }
    }

    fn hold(&mut self, message: Value) {
        if self.held.len() >= MAX_HELD_EVENTS {
            self.held.pop_front();
        }
        self.held.push_back(message);
    }

    /// Attaches a handle to the VideoRoom plugin.
    pub async fn attach(&mut self) -> Result<u64, JanusError> {
        let attached = self
            .call(
                "attaching to the room plugin",
                json!({"janus": "attach", "plugin": "janus.plugin.videoroom"}),
            )
            .await?;
        attached["data"]["id"]
            .as_u64()
            .ok_or(JanusError::Protocol("attaching to the room plugin"))
    }

    /// Sends a plugin message on `handle` (with a `jsep`, an offer or answer) and waits for
    /// the plugin's answer.
    pub async fn message(
        &mut self,
        what: &'static str,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> Result<Value, JanusError> {
        let mut request = json!({"janus": "message", "handle_id": handle, "body": body});
        if let Some(jsep) = jsep {
            request["jsep"] = jsep;
        }
        self.call(what, request).await
    }

    /// Keeps the session alive (fire and forget: its `ack` is dropped with other answers).
    pub fn keepalive(&mut self) -> Result<(), JanusError> {
        let request = json!({"janus": "keepalive", "session_id": self.session,
                             "transaction": "keepalive"});
        self.out
            .send(request.to_string())
            .map_err(|_| JanusError::Closed)
    }

    /// The next message Janus sent on its own (an event, a hangup, a media report), in order;
    /// `None` once the connection has closed.
    pub async fn next_event(&mut self) -> Option<Value> {
        loop {
            let message = match self.held.pop_front() {
                Some(message) => message,
                None => self.inbox.recv().await?,
            };
            // Answers nobody waits for (keepalives' acks, late answers) are not events.
            if message["janus"] == "ack" || message["transaction"] == "keepalive" {
                continue;
            }
            return Some(message);
        }
    }

    /// Ends the session (best effort).
    pub fn destroy(&mut self) {
        let request = json!({"janus": "destroy", "session_id": self.session,
                             "transaction": "destroy"});
        let _ = self.out.send(request.to_string());
    }
}

/// An answer as a result: Janus's `error`, or the plugin's `error` in its data, is a refusal.
fn refusal(what: &'static str, answer: Value) -> Result<Value, JanusError> {
    if answer["janus"] == "error" {
        return Err(JanusError::Refused {
            what,
            code: answer["error"]["code"].as_i64().unwrap_or_default(),
            reason: text(&answer["error"]["reason"]),
        });
    }
    let data = &answer["plugindata"]["data"];
    if data.get("error").is_some() || data.get("error_code").is_some() {
        return Err(JanusError::Refused {
            what,
            code: data["error_code"].as_i64().unwrap_or_default(),
            reason: text(&data["error"]),
        });
    }
    Ok(answer)
}

/// Janus's words, bounded (they come from the server; a hostile one could send a book).
fn text(value: &Value) -> String {
    let s = value.as_str().unwrap_or("no reason given");
    s.chars().take(200).collect()
}

/// Moves frames between the WebSocket and two channels, on two tasks that end with it.
fn pump<S>(
    ws: WebSocketStream<S>,
) -> (
    mpsc::UnboundedSender<String>,
    mpsc::UnboundedReceiver<Value>,
)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut stream) = ws.split();
    let (out, mut to_send) = mpsc::unbounded_channel::<String>();
    let (arrived, inbox) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(text) = to_send.recv().await {
            if sink.send(Message::text(text)).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            match message {
                Message::Text(text) => match serde_json::from_str::<Value>(text.as_str()) {
                    Ok(value) if value.is_object() => {
                        if arrived.send(value).is_err() {
                            break;
                        }
                    }
                    _ => {
                        tracing::debug!("a message from the media server that is not a JSON object")
                    }
                },
                Message::Close(_) => break,
                _ => {}
            }
        }
    });
    (out, inbox)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn janus_and_plugin_errors_are_refusals_with_their_code() {
        let core = json!({"janus": "error", "error": {"code": 458, "reason": "No such session"}});
        match refusal("x", core) {
            Err(JanusError::Refused {
                code: 458, reason, ..
            }) => assert_eq!(reason, "No such session"),
            other => panic!("{other:?}"),
        }
        let plugin = json!({"janus": "success", "plugindata": {"data": {
            "videoroom": "event", "error_code": 427, "error": "Room 7 already exists"}}});
        assert!(matches!(
            refusal("x", plugin),
            Err(JanusError::Refused {
                code: ROOM_EXISTS,
                ..
            })
        ));
        let fine = json!({"janus": "success", "plugindata": {"data": {"videoroom": "created"}}});
        assert!(refusal("x", fine).is_ok());
        let long = json!({"janus": "error", "error": {"code": 1, "reason": "x".repeat(10_000)}});
        match refusal("x", long) {
            Err(JanusError::Refused { reason, .. }) => assert_eq!(reason.len(), 200),
            other => panic!("{other:?}"),
        }
    }
}
