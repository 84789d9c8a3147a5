//! A signaling client: connect over TLS 1.3, say hello with an invite, then send and receive
//! [`ClientMessage`]s and [`ServerMessage`]s.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use haven_proto::Redacted;
use haven_proto::signal::{
    ClientMessage, ErrorCode, IceServer, MAX_SIGNAL_MESSAGE, PeerId, PeerInfo, Role, RoomId,
    SIGNAL_VERSION, ServerMessage,
};
use rustls::pki_types::ServerName;
use thiserror::Error;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::tls::{ClientTls, TlsError};

/// Why the client failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// Not a `wss://host:port` URL.
    #[error("not a wss:// URL: {0}")]
    BadUrl(String),
    /// TCP failed.
    #[error("connection failed: {0}")]
    Io(#[from] std::io::Error),
    /// TLS could not be configured.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The WebSocket failed (including a TLS handshake the server's certificate failed).
    #[error("WebSocket: {0}")]
    WebSocket(#[from] tungstenite::Error),
    /// The server refused with a code.
    #[error("refused by the server: {code} ({message})")]
    Refused {
        /// The code.
        code: ErrorCode,
        /// The server's sentence.
        message: String,
    },
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
    /// The server sent something this client cannot read.
    #[error("unexpected message from the server: {0}")]
    Protocol(String),
    /// Nothing arrived in time.
    #[error("timed out")]
    Timeout,
}

/// What the server said on joining.
#[derive(Clone, Debug, PartialEq)]
pub struct Welcome {
    /// This peer's id.
    pub peer_id: PeerId,
    /// The room.
    pub room: RoomId,
    /// This peer's role.
    pub role: Role,
    /// Who was already there.
    pub peers: Vec<PeerInfo>,
    /// STUN/TURN servers.
    pub ice_servers: Vec<IceServer>,
    /// What takes this place back after the connection is lost ([`SignalClient::resume`]);
    /// `None` from a server that keeps no places.
    pub resume: Option<Redacted<String>>,
    /// How long the server holds the place of a peer whose connection was lost.
    pub grace: Duration,
    /// A resume found the place still held (see [`ServerMessage::Welcome`]).
    pub kept: bool,
    /// A group room's media server (see [`ServerMessage::Welcome`]); `None` for a mesh.
    pub media: Option<haven_proto::signal::GroupMedia>,
}

/// A connection to a signaling server.
#[derive(Debug)]
pub struct SignalClient {
    ws: WebSocketStream<TlsStream<TcpStream>>,
}

impl SignalClient {
    /// Connects to `wss://host:port` and completes the TLS and WebSocket handshakes.
    pub async fn connect(url: &str, tls: &ClientTls) -> Result<Self, ClientError> {
        let request = url
            .into_client_request()
            .map_err(|_| ClientError::BadUrl(url.to_owned()))?;
        let uri = request.uri();
        if uri.scheme_str() != Some("wss") {
            return Err(ClientError::BadUrl(url.to_owned()));
        }
        let host = uri
            .host()
            .ok_or_else(|| ClientError::BadUrl(url.to_owned()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(443);
        let tcp = TcpStream::connect((host.as_str(), port)).await?;
        tcp.set_nodelay(true)?;
        let name =
            ServerName::try_from(host.clone()).map_err(|_| ClientError::BadUrl(url.to_owned()))?;
        let connector = TlsConnector::from(tls.client_config()?);
        let stream = connector.connect(name, tcp).await?;
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_SIGNAL_MESSAGE))
            .max_frame_size(Some(MAX_SIGNAL_MESSAGE));
        let (ws, _) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await?;
        Ok(Self { ws })
    }

    /// Connects and joins with an invite; returns once welcomed (or refused).
    pub async fn join(
        url: &str,
        tls: &ClientTls,
        token: &str,
    ) -> Result<(Self, Welcome), ClientError> {
        let mut client = Self::connect(url, tls).await?;
        let welcome = client.hello(token).await?;
        Ok((client, welcome))
    }

    /// Connects and takes back the place of an earlier welcome with its resume token.
    pub async fn resume(
        url: &str,
        tls: &ClientTls,
        token: &str,
    ) -> Result<(Self, Welcome), ClientError> {
        let mut client = Self::connect(url, tls).await?;
        client
            .send(&ClientMessage::Resume {
                version: SIGNAL_VERSION,
                token: Redacted::new(token.to_owned()),
            })
            .await?;
        let welcome = client.welcome().await?;
        Ok((client, welcome))
    }

    /// Says hello with an invite and waits for the welcome.
    pub async fn hello(&mut self, token: &str) -> Result<Welcome, ClientError> {
        self.send(&ClientMessage::Hello {
            version: SIGNAL_VERSION,
            token: Redacted::new(token.to_owned()),
        })
        .await?;
        self.welcome().await
    }

    async fn welcome(&mut self) -> Result<Welcome, ClientError> {
        match self.recv().await? {
            ServerMessage::Welcome {
                peer_id,
                room,
                role,
                peers,
                ice_servers,
                resume,
                grace_secs,
                kept,
                media,
                ..
            } => Ok(Welcome {
                peer_id,
                room,
                role,
                peers,
                ice_servers,
                resume,
                grace: Duration::from_secs(grace_secs.into()),
                kept,
                media,
            }),
            other => Err(ClientError::Protocol(format!("{other:?}"))),
        }
    }

    /// Sends a message.
    pub async fn send(&mut self, message: &ClientMessage) -> Result<(), ClientError> {
        self.send_raw(Message::text(message.encode())).await
    }

    /// Sends any WebSocket frame (tests use it to send what a well-behaved client would not).
    pub async fn send_raw(&mut self, frame: Message) -> Result<(), ClientError> {
        Ok(self.ws.send(frame).await?)
    }

    /// The next message from the server. A server error becomes [`ClientError::Refused`];
    /// pings are answered on the way.
    pub async fn recv(&mut self) -> Result<ServerMessage, ClientError> {
        self.recv_heard_within(None).await
    }

    /// [`SignalClient::recv`], giving up ([`ClientError::Timeout`]) when nothing at all (not
    /// even the server's ping, every 20 s) arrives for `silence`: a connection lost without a
    /// reset (a server host gone, a NAT that forgot it, Wi-Fi gone) is noticed.
    pub async fn recv_heard_within(
        &mut self,
        silence: Option<Duration>,
    ) -> Result<ServerMessage, ClientError> {
        loop {
            let next = self.ws.next();
            let frame = match silence {
                Some(limit) => tokio::time::timeout(limit, next)
                    .await
                    .map_err(|_| ClientError::Timeout)?,
                None => next.await,
            };
            let frame = frame.ok_or(ClientError::Closed)??;
            match frame {
                Message::Text(text) => {
                    return match ServerMessage::decode(text.as_str()) {
                        Ok(ServerMessage::Error { code, message }) => {
                            Err(ClientError::Refused { code, message })
                        }
                        Ok(message) => Ok(message),
                        Err(e) => Err(ClientError::Protocol(e.to_string())),
                    };
                }
                Message::Close(_) => return Err(ClientError::Closed),
                Message::Binary(_) => return Err(ClientError::Protocol("binary frame".into())),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }

    /// [`SignalClient::recv`] with a time limit.
    pub async fn recv_timeout(&mut self, limit: Duration) -> Result<ServerMessage, ClientError> {
        tokio::time::timeout(limit, self.recv())
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    /// Says bye and closes.
    pub async fn bye(mut self) -> Result<(), ClientError> {
        self.send(&ClientMessage::Bye).await?;
        let _ = self.ws.close(None).await;
        Ok(())
    }
}
