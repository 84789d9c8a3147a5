//! The STUN and TURN servers a welcome names, and a check that the TURN relay takes the
//! credentials it came with.
//!
//! webrtc-rs only warns (in its log) when a relay refuses an allocation, and then gathers no
//! relay candidate: a peer that needs the relay would just never connect. So once per session
//! (with the first welcome's credentials) this side opens one allocation itself with the same credentials and closes it again, and
//! says plainly what went wrong if it could not.

use std::sync::Arc;
use std::time::Duration;

use haven_signal::client::Welcome;
use tokio::net::UdpSocket;
use webrtc::ice_transport::ice_server::RTCIceServer;
use webrtc::turn::client::{Client, ClientConfig};
use webrtc::util::Conn as _;

/// How long a relay has to grant an allocation (webrtc-rs retransmits for about 40 s; a relay
/// that has not answered in this long is as good as gone for someone waiting to join).
const RELAY_CHECK_WAIT: Duration = Duration::from_secs(8);

/// The welcome's servers, as webrtc-rs takes them.
pub(super) fn ice_servers(welcome: &Welcome) -> Vec<RTCIceServer> {
    welcome
        .ice_servers
        .iter()
        .map(|s| RTCIceServer {
            urls: s.urls.clone(),
            username: s.username.clone().unwrap_or_default(),
            credential: s
                .credential
                .as_ref()
                .map(|c| c.expose().clone())
                .unwrap_or_default(),
        })
        .collect()
}

/// Whether any of them is a TURN relay.
pub(super) fn has_relay(servers: &[RTCIceServer]) -> bool {
    servers
        .iter()
        .any(|s| s.urls.iter().any(|u| u.starts_with("turn:")))
}

/// Opens (and closes) one allocation on each TURN relay in `servers`; the first that fails
/// says why, in words for a person.
pub(super) async fn check(servers: &[RTCIceServer]) -> Result<(), String> {
    for server in servers {
        for url in server.urls.iter().filter(|u| u.starts_with("turn:")) {
            let address = host_port(url);
            allocate(&address, server)
                .await
                .map_err(|why| format!("the TURN relay {address} {why}"))?;
        }
    }
    Ok(())
}

/// `HOST:PORT` of a `turn:HOST[:PORT][?transport=udp]` URL (3478 when it names no port, as
/// ICE takes it).
fn host_port(url: &str) -> String {
    let rest = url.trim_start_matches("turn:");
    let host_port = rest
        .split_once('?')
        .map_or(rest, |(host_port, _)| host_port);
    match host_port.rsplit_once(':') {
        Some((_, port)) if port.parse::<u16>().is_ok() => host_port.to_owned(),
        _ => format!("{host_port}:3478"),
    }
}

async fn allocate(address: &str, server: &RTCIceServer) -> Result<(), String> {
    // The family of the relay's address (a name is taken as IPv4, as webrtc-rs gathers).
    let any = if address.starts_with('[') {
        "[::]:0"
    } else {
        "0.0.0.0:0"
    };
    let socket = UdpSocket::bind(any)
        .await
        .map_err(|e| format!("could not be tried (no UDP socket: {e})"))?;
    let client = Client::new(ClientConfig {
        stun_serv_addr: String::new(),
        turn_serv_addr: address.to_owned(),
        username: server.username.clone(),
        password: server.credential.clone(),
        realm: String::new(),
        software: "haven".to_owned(),
        rto_in_ms: 0,
        conn: Arc::new(socket),
        vnet: None,
    })
    .await
    .map_err(|e| format!("could not be reached ({e})"))?;
    client
        .listen()
        .await
        .map_err(|e| format!("could not be reached ({e})"))?;
    let outcome = match tokio::time::timeout(RELAY_CHECK_WAIT, client.allocate()).await {
        Ok(Ok(relayed)) => {
            // Given back at once (a refresh with lifetime 0).
            let _ = relayed.close().await;
            Ok(())
        }
        Ok(Err(e)) => Err(refusal(&e.to_string())),
        Err(_) => Err(format!(
            "did not answer in {} s (is it running, and is UDP to it allowed?)",
            RELAY_CHECK_WAIT.as_secs()
        )),
    };
    let _ = client.close().await;
    outcome
}

/// What a relay's answer (or silence) means, from webrtc-rs's words for it.
fn refusal(error: &str) -> String {
    if error.contains("401") || error.contains("Unauthorized") {
        format!(
            "refused the credentials the signaling server handed out ({error}): the secret \
             given to `haven serve --turn-secret` must be the relay's static-auth-secret, and the \
             two machines' clocks must agree"
        )
    } else if NO_ANSWER.iter().any(|words| error.contains(words)) {
        // A TURN relay answers a first allocation with a challenge (a realm and a nonce); an
        // answer without one, a refused port or silence is not a relay there.
        format!(
            "did not answer as a TURN relay ({error}): is it running at that address, and is UDP to it allowed?"
        )
    } else {
        format!("refused an allocation ({error})")
    }
}

/// webrtc-rs's words for no relay at that address.
const NO_ANSWER: &[&str] = &[
    "attribute not found",
    "retransmissions failed",
    "transaction closed",
    "Connection refused",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_refusals() {
        assert_eq!(
            host_port("turn:10.0.0.1:3478?transport=udp"),
            "10.0.0.1:3478"
        );
        assert_eq!(
            host_port("turn:relay.example.org:3478"),
            "relay.example.org:3478"
        );
        assert_eq!(
            host_port("turn:relay.example.org"),
            "relay.example.org:3478"
        );
        assert!(refusal("Allocate error response (error 401: Unauthorized)").contains("secret"));
        assert!(!refusal("(error 486: Allocation Quota Reached)").contains("secret"));
        assert!(refusal("attribute not found").contains("is it running"));
        assert!(!has_relay(&[RTCIceServer {
            urls: vec!["stun:10.0.0.1:3478".to_owned()],
            ..Default::default()
        }]));
    }
}
