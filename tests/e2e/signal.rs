//! The signaling server, over real TLS 1.3 on loopback.

use std::time::Duration;

use haven_proto::Redacted;
use haven_proto::invite::parse;
use haven_proto::signal::{ClientMessage, ErrorCode, IceCandidate, PeerId, Role, ServerMessage};
use haven_signal::client::Welcome;
use haven_signal::{ClientError, ClientTls, Limits, SignalClient, TlsIdentity};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{WAIT, now, start};

fn offer(to: PeerId, body: &str) -> ClientMessage {
    ClientMessage::Offer {
        to,
        sdp: Redacted::new(body.to_owned()),
    }
}

fn candidate(text: &str) -> IceCandidate {
    IceCandidate {
        candidate: Redacted::new(text.to_owned()),
        sdp_mid: Some("0".into()),
        sdp_mline_index: Some(0),
        username_fragment: None,
    }
}

/// The pair still relays both ways: proof a room was not disturbed.
async fn assert_relays(a: &mut SignalClient, wa: &Welcome, b: &mut SignalClient, wb: &Welcome) {
    a.send(&offer(wb.peer_id, "ping")).await.expect("send");
    assert_eq!(
        b.recv_timeout(WAIT).await.expect("relayed"),
        ServerMessage::Offer {
            from: wa.peer_id,
            sdp: Redacted::new("ping".into())
        }
    );
    b.send(&offer(wa.peer_id, "pong")).await.expect("send");
    assert_eq!(
        a.recv_timeout(WAIT).await.expect("relayed"),
        ServerMessage::Offer {
            from: wb.peer_id,
            sdp: Redacted::new("pong".into())
        }
    );
}

async fn trickle(
    from: &mut SignalClient,
    wfrom: &Welcome,
    to: &mut SignalClient,
    wto: &Welcome,
    text: &str,
) {
    from.send(&ClientMessage::IceCandidate {
        to: wto.peer_id,
        candidate: candidate(text),
    })
    .await
    .expect("send");
    assert_eq!(
        to.recv_timeout(WAIT).await.expect("candidate"),
        ServerMessage::IceCandidate {
            from: wfrom.peer_id,
            candidate: candidate(text)
        }
    );
}

fn refused(result: Result<impl std::fmt::Debug, ClientError>) -> ErrorCode {
    match result {
        Err(ClientError::Refused { code, .. }) => code,
        other => panic!("expected a refusal with a code, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_relay_offer_answer_and_candidates_both_ways() {
    let server = start(Limits::default()).await;
    let (mut a, wa, mut b, wb) = server.pair("consult-1").await;
    assert_eq!(wa.role, Role::Clinician);
    assert!(wa.peers.is_empty());
    assert_eq!(wb.role, Role::Patient);
    assert_eq!(wb.peers.len(), 1);
    assert_eq!(wb.peers[0].id, wa.peer_id);
    assert_eq!(wb.room.as_str(), "consult-1");

    // The newcomer offers; the other answers; both trickle candidates.
    b.send(&offer(wa.peer_id, "v=0 offer")).await.expect("send");
    assert_eq!(
        a.recv_timeout(WAIT).await.expect("offer"),
        ServerMessage::Offer {
            from: wb.peer_id,
            sdp: Redacted::new("v=0 offer".into())
        }
    );
    a.send(&ClientMessage::Answer {
        to: wb.peer_id,
        sdp: Redacted::new("v=0 answer".into()),
    })
    .await
    .expect("send");
    assert_eq!(
        b.recv_timeout(WAIT).await.expect("answer"),
        ServerMessage::Answer {
            from: wa.peer_id,
            sdp: Redacted::new("v=0 answer".into())
        }
    );
    trickle(
        &mut a,
        &wa,
        &mut b,
        &wb,
        "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host",
    )
    .await;
    trickle(
        &mut b,
        &wb,
        &mut a,
        &wa,
        "candidate:2 1 udp 2130706431 127.0.0.1 50001 typ host",
    )
    .await;

    // Leaving is announced.
    b.bye().await.expect("bye");
    assert_eq!(
        a.recv_timeout(WAIT).await.expect("peer-left"),
        ServerMessage::PeerLeft {
            peer_id: wb.peer_id,
            gone: false
        }
    );
    server.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_invites_and_a_fifth_peer_are_refused_and_the_room_goes_on() {
    let server = start(Limits::default()).await;
    let (mut a, wa, mut b, wb) = server.pair("room-a").await;

    // A forged role: the payload edited to "therapist", the tag kept.
    let parsed = parse(&server.invite("room-a", Role::Patient)).expect("parses");
    let mut forged = parsed.invite.clone();
    forged.role = Role::Therapist;
    assert_eq!(
        refused(server.join_with(&forged.to_token(&parsed.tag)).await),
        ErrorCode::BadToken
    );

    // A token edited to name another room.
    let mut moved = parse(&server.invite("room-b", Role::Clinician))
        .expect("parses")
        .invite;
    moved.room = "room-a".parse().expect("room");
    assert_eq!(
        refused(server.join_with(&moved.to_token(&parsed.tag)).await),
        ErrorCode::BadToken
    );

    // An expired token.
    let old = server.invite_at("room-a", Role::Patient, 60, 5, now() - 3600);
    assert_eq!(
        refused(server.join_with(&old).await),
        ErrorCode::ExpiredToken
    );

    // A token from another server's secret.
    let other = start(Limits::default()).await;
    let foreign = other.invite_at("room-a", Role::Patient, 600, 5, now());
    assert_eq!(
        refused(server.join_with(&foreign).await),
        ErrorCode::BadToken
    );

    // A valid token for another room joins that room, and cannot reach this one.
    let (mut c, _wc) = server.join("room-b", Role::Clinician).await;
    c.send(&offer(wa.peer_id, "intrude")).await.expect("send");
    assert_eq!(refused(c.recv_timeout(WAIT).await), ErrorCode::NoSuchPeer);

    // An invite used up.
    let once = server.invite_at("room-c", Role::Patient, 600, 1, now());
    let (first, _) = server.join_with(&once).await.expect("first use");
    first.bye().await.expect("bye");
    assert_eq!(refused(server.join_with(&once).await), ErrorCode::TokenUsed);

    // Two more fill room-a to four; the fifth is refused.
    let (_c3, _) = server.join("room-a", Role::Therapist).await;
    let (_c4, _) = server.join("room-a", Role::Clinician).await;
    assert_eq!(
        refused(
            server
                .join_with(&server.invite("room-a", Role::Patient))
                .await
        ),
        ErrorCode::RoomFull
    );

    // The members saw only the two real joins, and still relay.
    for peer in [&mut a, &mut b] {
        for _ in 0..2 {
            assert!(matches!(
                peer.recv_timeout(WAIT).await.expect("joined"),
                ServerMessage::PeerJoined { .. }
            ));
        }
    }
    assert_relays(&mut a, &wa, &mut b, &wb).await;
    server.handle.shutdown().await;
    other.handle.shutdown().await;
}

/// Each abuse gets its code (or, for a frame too large to read, at least a close), and a
/// second room relays throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_clients_are_answered_and_other_rooms_go_on() {
    let server = start(Limits::default()).await;
    let (mut a, wa, mut b, wb) = server.pair("calm").await;

    // A 1 MiB message.
    let (mut big, _) = server.join("noisy-1", Role::Patient).await;
    let _ = big.send_raw(Message::text("x".repeat(1024 * 1024))).await;
    match big.recv_timeout(WAIT).await {
        Err(ClientError::Refused {
            code: ErrorCode::TooLarge,
            ..
        })
        | Err(ClientError::Closed)
        | Err(ClientError::WebSocket(_)) => {}
        other => panic!("a 1 MiB message must be refused or closed, got {other:?}"),
    }
    assert_relays(&mut a, &wa, &mut b, &wb).await;

    // Invalid JSON, a binary frame, an unknown type: answered, and the connection stays.
    let (mut odd, _) = server.join("noisy-2", Role::Patient).await;
    odd.send_raw(Message::text("{not json"))
        .await
        .expect("send");
    assert_eq!(refused(odd.recv_timeout(WAIT).await), ErrorCode::BadMessage);
    odd.send_raw(Message::binary(vec![1u8, 2, 3]))
        .await
        .expect("send");
    assert_eq!(refused(odd.recv_timeout(WAIT).await), ErrorCode::BadMessage);
    odd.send_raw(Message::text(r#"{"type":"take-over"}"#))
        .await
        .expect("send");
    assert_eq!(refused(odd.recv_timeout(WAIT).await), ErrorCode::BadMessage);
    assert_relays(&mut a, &wa, &mut b, &wb).await;

    // A burst over the rate limit: refused with its code, then closed.
    let (mut flood, _) = server.join("noisy-3", Role::Patient).await;
    for _ in 0..300 {
        if flood
            .send_raw(Message::text(r#"{"type":"nope"}"#))
            .await
            .is_err()
        {
            break;
        }
    }
    let mut saw_rate_limit = false;
    for _ in 0..400 {
        match flood.recv_timeout(WAIT).await {
            Err(ClientError::Refused {
                code: ErrorCode::RateLimited,
                ..
            }) => saw_rate_limit = true,
            Err(ClientError::Refused {
                code: ErrorCode::BadMessage,
                ..
            }) => {}
            Err(_) => break,
            Ok(m) => panic!("unexpected {m:?}"),
        }
    }
    assert!(
        saw_rate_limit,
        "the flood was not answered with rate-limited"
    );
    assert_relays(&mut a, &wa, &mut b, &wb).await;

    // A message before the hello ends the connection with bad-message.
    let mut early = SignalClient::connect(&server.handle.url(), &server.tls)
        .await
        .expect("connects");
    early.send(&ClientMessage::Bye).await.expect("send");
    assert_eq!(
        refused(early.recv_timeout(WAIT).await),
        ErrorCode::BadMessage
    );

    // Another protocol version.
    let mut future = SignalClient::connect(&server.handle.url(), &server.tls)
        .await
        .expect("connects");
    future
        .send(&ClientMessage::Hello {
            version: 99,
            token: Redacted::new(server.invite("x", Role::Patient)),
        })
        .await
        .expect("send");
    assert_eq!(
        refused(future.recv_timeout(WAIT).await),
        ErrorCode::VersionMismatch
    );
    assert_relays(&mut a, &wa, &mut b, &wb).await;
    server.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_to_peers_outside_the_room_are_refused() {
    let server = start(Limits::default()).await;
    let (mut a, wa, mut b, wb) = server.pair("inside").await;
    let (_c, wc) = server.join("outside", Role::Patient).await;
    for to in [wc.peer_id, PeerId(987_654), wa.peer_id] {
        a.send(&offer(to, "x")).await.expect("send");
        assert_eq!(
            refused(a.recv_timeout(WAIT).await),
            ErrorCode::NoSuchPeer,
            "to {to}"
        );
    }
    // Refusals do not end the session.
    assert_relays(&mut a, &wa, &mut b, &wb).await;
    server.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_peer_that_answers_pings_stays_joined() {
    // A consult can go minutes without signaling traffic: answering the server's pings must
    // keep the peer in the room (found by the demo: peers were dropped after the idle timeout).
    let limits = Limits {
        idle_timeout: Duration::from_millis(600),
        ping_interval: Duration::from_millis(150),
        ..Limits::default()
    };
    let server = start(limits).await;
    let (mut a, wa) = server.join("quiet", Role::Patient).await;
    let (mut b, wb) = server.join("quiet", Role::Clinician).await;
    let joined = a.recv_timeout(WAIT).await;
    assert!(
        matches!(joined, Ok(ServerMessage::PeerJoined { .. })),
        "{joined:?}"
    );
    // Both only read (answering pings) for four idle timeouts: nothing arrives, nobody leaves.
    let (ra, rb) = tokio::join!(
        a.recv_timeout(Duration::from_millis(2_400)),
        b.recv_timeout(Duration::from_millis(2_400))
    );
    assert!(matches!(ra, Err(ClientError::Timeout)), "{ra:?}");
    assert!(matches!(rb, Err(ClientError::Timeout)), "{rb:?}");
    assert_relays(&mut a, &wa, &mut b, &wb).await;
    server.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_time_out_and_shutdown_is_announced() {
    let limits = Limits {
        handshake_timeout: Duration::from_millis(400),
        idle_timeout: Duration::from_millis(600),
        ping_interval: Duration::from_secs(30),
        ..Limits::default()
    };
    let server = start(limits).await;
    // No hello in time.
    let mut mute = SignalClient::connect(&server.handle.url(), &server.tls)
        .await
        .expect("connects");
    assert_eq!(refused(mute.recv_timeout(WAIT).await), ErrorCode::Timeout);
    // Joined, then silent past the idle timeout (pings go unanswered while nobody reads,
    // and the ping interval is longer than the idle timeout anyway).
    let (mut quiet, _) = server.join("q", Role::Patient).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(refused(quiet.recv_timeout(WAIT).await), ErrorCode::Timeout);
    // Shutdown tells the peers that are left.
    let (mut last, _) = server.join("q", Role::Patient).await;
    server.handle.shutdown().await;
    assert_eq!(
        refused(last.recv_timeout(WAIT).await),
        ErrorCode::ShuttingDown
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_pin_the_certificate_and_speak_only_tls_1_3() {
    let server = start(Limits::default()).await;
    let wrong = ClientTls::Pinned(haven_signal::Fingerprint([0; 32]));
    let err = SignalClient::connect(&server.handle.url(), &wrong)
        .await
        .expect_err("wrong pin");
    assert!(
        matches!(err, ClientError::Io(_) | ClientError::WebSocket(_)),
        "{err:?}"
    );

    // A TLS 1.2-only client is refused at the handshake.
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(
            TlsIdentity::self_signed(vec!["x".into()])
                .expect("rcgen")
                .certificate()
                .clone(),
        )
        .expect("root");
    let tls12 = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .expect("tls 1.2 config")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(server.handle.addr)
        .await
        .expect("tcp");
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls12));
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    assert!(
        connector.connect(name, tcp).await.is_err(),
        "TLS 1.2 must be refused"
    );
    server.handle.shutdown().await;
}

/// The server holds 1 000 joined, idle connections and still relays between two more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_a_thousand_idle_connections_and_still_relays() {
    let _ = rlimit::increase_nofile_limit(8192);
    let server = start(Limits::default()).await;
    let mut held = Vec::with_capacity(1000);
    for batch in 0..(1000 / 50) {
        let joins: Vec<_> = (0..50)
            .map(|i| {
                let n = batch * 50 + i;
                let token = server.invite(&format!("idle-{}", n / 4), Role::Patient);
                let (url, tls) = (server.handle.url(), server.tls.clone());
                tokio::spawn(async move {
                    tokio::time::timeout(
                        Duration::from_secs(30),
                        SignalClient::join(&url, &tls, &token),
                    )
                    .await
                })
            })
            .collect();
        for join in joins {
            held.push(
                join.await
                    .expect("task")
                    .expect("in time")
                    .expect("joins")
                    .0,
            );
        }
    }
    assert_eq!(held.len(), 1000);
    let (mut a, wa, mut b, wb) = server.pair("busy-server").await;
    assert_relays(&mut a, &wa, &mut b, &wb).await;
    // And one of the held connections is still served.
    let (mut x, _) = (held.pop().expect("held"), ());
    x.send(&offer(PeerId(1), "still here?"))
        .await
        .expect("send");
    assert!(matches!(
        x.recv_timeout(WAIT).await,
        Ok(_) | Err(ClientError::Refused { .. })
    ));
    drop(held);
    server.handle.shutdown().await;
}
