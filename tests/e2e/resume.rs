//! Losing the signaling server mid-consult, over real WebRTC on loopback: the peers reach the
//! server through a relay the test cuts (as a network change does) and points at a restarted
//! server. Media keeps flowing, each side takes its place back with its resume token, nobody
//! is seen to leave; a peer the server gives up on stays while its media works, and leaves
//! only once both are gone for the grace period.

use std::time::{Duration, Instant};

use haven_proto::pose::{Placement, PoseUpdate};
use haven_proto::signal::{PeerId, Role, ServerMessage};
use haven_session::{ConnectionTiming, NetworkPolicy, Session, SessionConfig, SessionEvent};
use haven_signal::{Limits, ServerSecret, TlsIdentity};

use haven_signal::relay::Relay;

use crate::support::{TestServer, logs, start_with};

const LIMIT: Duration = Duration::from_secs(30);

fn pose(seq: u16) -> PoseUpdate {
    PoseUpdate {
        seq,
        sent_at_ms: seq.wrapping_mul(16),
        head: Placement::IDENTITY,
        left_hand: None,
        right_hand: None,
    }
}

fn session(token: &str, timing: ConnectionTiming) -> Session {
    let mut config =
        SessionConfig::from_invite(token, NetworkPolicy::LoopbackOnly).expect("invite");
    config.timing = timing;
    Session::start(config).expect("starts")
}

/// Reads `session`'s events until one matches, within `LIMIT`, while `other` sends a pose
/// every 20 ms (so media flows all along). A peer seen to leave, or a failed session, fails
/// the test: nobody leaves here.
async fn until(
    session: &mut Session,
    other: &Session,
    seq: &mut u16,
    what: &str,
    mut matches: impl FnMut(&SessionEvent) -> bool,
) -> Vec<SessionEvent> {
    let deadline = Instant::now() + LIMIT;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        *seq = seq.wrapping_add(1);
        other.send_pose(&pose(*seq));
        while let Some(event) = session.next_event(Duration::from_millis(20)).await {
            match &event {
                SessionEvent::PeerLeft(p) => panic!("{p} was seen to leave while {what}"),
                SessionEvent::Failed(why) => panic!("the session failed while {what}: {why}"),
                e if matches(e) => {
                    seen.push(event);
                    return seen;
                }
                _ => seen.push(event),
            }
        }
    }
    panic!("not {what} in {LIMIT:?}; events: {seen:?}")
}

fn poses_from(events: &[SessionEvent], peer: PeerId) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, SessionEvent::Pose { from, .. } if *from == peer))
        .count()
}

/// The two sides of a consult, and the pose count the patient sends with.
struct Pair {
    clinician: Session,
    c: PeerId,
    patient: Session,
    p: PeerId,
    seq: u16,
}

impl Pair {
    /// A clinician and a patient (who offers) joined with these invites, connected.
    async fn connect(clinician: &str, patient: &str, timing: ConnectionTiming) -> Self {
        let mut clinician = session(clinician, timing);
        let c = joined(&mut clinician).await;
        let mut patient = session(patient, timing);
        let p = joined(&mut patient).await;
        let mut pair = Self {
            clinician,
            c,
            patient,
            p,
            seq: 0,
        };
        pair.both(
            "connecting",
            |e, other| matches!(e, SessionEvent::PeerConnected(x) if *x == other),
        )
        .await;
        pair
    }

    /// The clinician, then the patient, until each sees `matches(event, the other's id)`.
    async fn both(&mut self, what: &str, matches: impl Fn(&SessionEvent, PeerId) -> bool) {
        let (c, p) = (self.c, self.p);
        until(
            &mut self.clinician,
            &self.patient,
            &mut self.seq,
            what,
            |e| matches(e, p),
        )
        .await;
        until(
            &mut self.patient,
            &self.clinician,
            &mut self.seq,
            what,
            |e| matches(e, c),
        )
        .await;
    }

    /// Poses from the patient that reach the clinician until the first one does.
    async fn poses(&mut self) -> usize {
        let p = self.p;
        let seen = until(
            &mut self.clinician,
            &self.patient,
            &mut self.seq,
            "posing",
            |e| matches!(e, SessionEvent::Pose { from, .. } if *from == p),
        )
        .await;
        poses_from(&seen, p)
    }
}

async fn joined(session: &mut Session) -> PeerId {
    match session.next_event(LIMIT).await {
        Some(SessionEvent::Joined { me, .. }) => me.id,
        other => panic!("expected Joined, got {other:?}"),
    }
}

/// A consult through a relay: the relay is cut (every signaling connection closes and new ones
/// are refused) and healed; later the server itself is stopped and another started with the
/// same secret and certificate. Through both, poses keep arriving, each side says the server
/// was lost and is back, nobody is seen to leave, and afterwards signaling works (a new
/// connection is negotiated through it): each time with the same peer ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consult_goes_on_through_a_lost_server_and_a_restarted_one() {
    logs();
    let dir = std::env::temp_dir().join(format!("haven-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let cert = dir.join("cert");
    let identity = || TlsIdentity::load_or_create_self_signed(&cert, vec!["localhost".into()]);
    let secret = ServerSecret::generate().expect("randomness");
    let server: TestServer = start_with(
        Limits::default(),
        secret.clone(),
        identity().expect("a cert"),
    )
    .await;
    let relay = Relay::start(server.handle.addr).await.expect("a relay");
    let timing = ConnectionTiming::default();
    let mut pair = Pair::connect(
        &server.invite_through(relay.port, "resume", Role::Clinician),
        &server.invite_through(relay.port, "resume", Role::Patient),
        timing,
    )
    .await;
    let c = pair.c;

    // The network under signaling goes: media does not.
    relay.cut();
    pair.both("told", |e, _| matches!(e, SessionEvent::SignalingLost))
        .await;
    assert!(pair.poses().await >= 1, "poses stopped with signaling");
    relay.heal(server.handle.addr);
    pair.both("back", |e, _| matches!(e, SessionEvent::SignalingBack))
        .await;
    // Signaling works again, with the same ids: a new connection is negotiated through it.
    pair.patient.reconnect(c);
    pair.both(
        "reconnected",
        |e, other| matches!(e, SessionEvent::PeerReconnected(x) if *x == other),
    )
    .await;

    // The server restarts: a new process holding the same secret and certificate.
    relay.cut();
    server.handle.shutdown().await;
    let restarted = start_with(Limits::default(), secret, identity().expect("the cert")).await;
    pair.both("told", |e, _| matches!(e, SessionEvent::SignalingLost))
        .await;
    relay.heal(restarted.handle.addr);
    pair.both("back", |e, _| matches!(e, SessionEvent::SignalingBack))
        .await;
    assert!(pair.poses().await >= 1);
    // Both are in the restarted server's room, under their old ids: it relays between them.
    pair.patient.reconnect(c);
    pair.both(
        "reconnected",
        |e, other| matches!(e, SessionEvent::PeerReconnected(x) if *x == other),
    )
    .await;
    let Pair {
        clinician, patient, ..
    } = pair;
    patient.leave();
    clinician.leave();
    restarted.handle.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The patient's signaling is cut for good (the grace is 2 s here). The server gives its place
/// up and tells the room it is gone; the clinician's session keeps the patient while their
/// media works (poses still arrive, no one is seen to leave). When the patient's media goes
/// too, the clinician's session says the patient left once the grace has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_the_server_lost_stays_while_its_media_works_and_leaves_when_both_are_gone() {
    logs();
    let grace = Duration::from_secs(2);
    let limits = Limits {
        grace,
        ..Limits::default()
    };
    let secret = ServerSecret::generate().expect("randomness");
    let identity = TlsIdentity::self_signed(vec!["localhost".into()]).expect("rcgen");
    let server = start_with(limits, secret, identity).await;
    let relay = Relay::start(server.handle.addr).await.expect("a relay");
    // ICE gives up quickly, so that media loss is seen in seconds.
    let timing = ConnectionTiming {
        disconnected_after: Duration::from_secs(1),
        failed_after: Duration::from_secs(2),
        keepalive: Duration::from_millis(300),
        ..ConnectionTiming::default()
    };
    let pair = Pair::connect(
        &server.invite("gone", Role::Clinician),
        &server.invite_through(relay.port, "gone", Role::Patient),
        timing,
    )
    .await;
    let Pair {
        mut clinician,
        patient,
        p,
        mut seq,
        ..
    } = pair;
    // An observer in the room hears when the server gives the patient up.
    let (mut observer, _) = server.join("gone", Role::Clinician).await;
    relay.cut();
    let deadline = Instant::now() + LIMIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match observer.recv_timeout(left).await {
            Ok(ServerMessage::PeerLeft { peer_id, gone }) if peer_id == p => {
                assert!(gone, "a lost connection is not a bye");
                break;
            }
            Ok(_) => {}
            Err(e) => panic!("the server did not give the patient up: {e}"),
        }
    }
    // Its media works: it stays, and its poses keep coming (for twice the grace).
    let until_then = Instant::now() + grace * 2;
    let mut poses = 0;
    while Instant::now() < until_then {
        seq = seq.wrapping_add(1);
        patient.send_pose(&pose(seq));
        while let Some(event) = clinician.next_event(Duration::from_millis(20)).await {
            match event {
                SessionEvent::PeerLeft(x) => panic!("{x} left while its media works"),
                SessionEvent::Pose { from, .. } if from == p => poses += 1,
                _ => {}
            }
        }
    }
    assert!(
        poses > 10,
        "only {poses} poses while the server had lost the patient"
    );
    // Now its media goes too (the app is closed; its bye cannot reach the server).
    let gone_at = Instant::now();
    drop(patient);
    let deadline = gone_at + LIMIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match clinician.next_event(left).await {
            Some(SessionEvent::PeerLeft(x)) if x == p => break,
            Some(SessionEvent::Failed(why)) => panic!("{why}"),
            Some(_) => {}
            None => panic!("the patient was never seen to leave"),
        }
    }
    assert!(
        gone_at.elapsed() >= grace,
        "left after {:?}, before the grace",
        gone_at.elapsed()
    );
    drop(observer);
    clinician.leave();
    server.handle.shutdown().await;
}
