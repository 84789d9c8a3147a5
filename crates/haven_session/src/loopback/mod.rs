//! An in-memory session backend for tests: a [`LoopbackHub`] hands out [`Session`]s (the same
//! type, with the same API, as the WebRTC backend's) and carries what they send to each other
//! when it is [pumped](LoopbackHub::pump). No thread, no tokio runtime, no clock: a test steps
//! two or three participants side by side and gets the same events every run.
//!
//! What it shares with the WebRTC backend, so a test exercises the real rules:
//! - receipt: the same role checks and decoders (`control` events by
//!   [`Control::allowed_from`](haven_proto::control::Control::allowed_from), objects at their
//!   manifest by [`may_send_objects`](haven_proto::bulk::may_send_objects)), giving the same
//!   [`SessionEvent::Refused`];
//! - objects: the real [`transfer`](crate::transfer) code on both sides (manifest, chunks of
//!   16 KiB, acks every MiB, SHA-256 check, resume after an outage, cancel), giving the same
//!   `ObjectProgress` / `ObjectReceived` / `ObjectSent` / `ObjectResumed` / `ObjectCancelled`;
//! - what waits for a connection: room events for one peer ([`Session::send_control_to`]) and
//!   cancels are held (at most 256 per peer) and sent when its connection opens; objects sent
//!   before it opens go with a resume once it does; poses, room events for everyone and voice
//!   sent while it is not open are dropped, as on a real network.
//!
//! How it steps:
//! - [`LoopbackHub::join`]: the joiner gets [`SessionEvent::Joined`] and a
//!   [`SessionEvent::PeerJoined`] for each peer already there (as the WebRTC backend reports a
//!   welcome); each of those gets `PeerJoined` for the joiner. All at once.
//! - [`LoopbackHub::pump`]: first connects new pairs (`PeerConnected` on both sides), then
//!   takes every participant's queued commands in join order and delivers what they send, then
//!   sends at most [`LoopbackHub::set_bulk_per_pump`] bytes of objects on each directed link
//!   (256 KiB by default, so a big object takes several pumps), and delivers everything in
//!   flight, replies (acks, refusals) included, until nothing is left: between pumps nothing is
//!   in flight.
//! - [`LoopbackHub::cut`] takes a participant off the network (not out of the room, as
//!   `simnet` cuts the media path and leaves signaling): every peer connected to it and the
//!   participant itself get `PeerReconnecting` at once; while cut nothing passes either way
//!   (what is sent meanwhile is dropped or held, as above, and object transfers pause);
//!   [`LoopbackHub::restore`] gives both sides `PeerReconnected`, sends what was held, and
//!   resumes each object from what its receiver holds (`ObjectResumed`), through the real
//!   resume exchange. Joins and leaves still reach a cut participant.
//! - A participant's [`Session::leave`] (or dropping its `Session`) is taken at the next pump:
//!   the others get `PeerLeft`, objects on their way to it are cancelled ("the peer left") and
//!   what had arrived of its objects in part is dropped.
//!
//! Voice: each participant's packets get RTP timestamps and sequence numbers as the WebRTC
//! audio track gives them (skipped DTX frames advance the timestamp), and arrive at
//! [`LoopbackHub::epoch`] plus their media time: a network with no delay and no jitter.
//! [`Session::request_stats`] is answered at the next pump with each peer's bytes and voice
//! figures (round-trip time 0).

mod member;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use haven_proto::bulk::{self, Bulk, CancelReason};
use haven_proto::signal::{PeerId, PeerInfo, Role, RoomId};
use haven_signal::clinic::{ClinicPublicKey, Identity};
use tokio::sync::mpsc;
use tracing::debug;

use self::member::{Member, Wire};
use crate::command::{AudioRoute, Command};
use crate::event::SessionEvent;
use crate::session::{Session, VoiceLink};

/// Bytes of objects sent on each directed link per pump, unless set otherwise.
pub const DEFAULT_BULK_PER_PUMP: usize = 256 * 1024;
/// Bytes of incoming objects each participant holds at once, per peer (as
/// [`SessionConfig::from_invite`](crate::SessionConfig::from_invite) sets it).
pub const DEFAULT_BULK_BUDGET: u64 = 512 * 1024 * 1024;

/// A pair's connection (keyed lower id first).
#[derive(Clone, Copy, Debug, Default)]
struct Link {
    /// `PeerConnected` was said.
    connected: bool,
    /// Messages pass now.
    open: bool,
}

/// An in-memory room whose participants' [`Session`]s are carried by [`LoopbackHub::pump`];
/// see the [module](self) for what it does and when.
pub struct LoopbackHub {
    room: RoomId,
    epoch: Instant,
    next_peer: u64,
    bulk_per_pump: usize,
    bulk_budget: u64,
    members: BTreeMap<PeerId, Member>,
    links: BTreeMap<(PeerId, PeerId), Link>,
    wires: BTreeMap<(PeerId, PeerId), VecDeque<Wire>>,
}

impl std::fmt::Debug for LoopbackHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopbackHub")
            .field("room", &self.room)
            .field("peers", &self.members.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn pair(a: PeerId, b: PeerId) -> (PeerId, PeerId) {
    if a < b { (a, b) } else { (b, a) }
}

impl LoopbackHub {
    /// An empty room.
    pub fn new(room: RoomId) -> Self {
        Self {
            room,
            // Read once: arrival times of voice are this plus media time.
            epoch: Instant::now(),
            next_peer: 1,
            bulk_per_pump: DEFAULT_BULK_PER_PUMP,
            bulk_budget: DEFAULT_BULK_BUDGET,
            members: BTreeMap::new(),
            links: BTreeMap::new(),
            wires: BTreeMap::new(),
        }
    }

    /// Sets how many bytes of objects each directed link carries per pump (at least one
    /// chunk goes whatever the setting).
    pub fn set_bulk_per_pump(&mut self, bytes: usize) {
        self.bulk_per_pump = bytes;
    }

    /// Sets how many bytes of incoming objects a participant holds at once, per peer.
    pub fn set_bulk_budget(&mut self, bytes: u64) {
        self.bulk_budget = bytes;
    }

    /// The room.
    pub fn room(&self) -> &RoomId {
        &self.room
    }

    /// Voice packets arrive at this instant plus their media time.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Who is in the room, in join order.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.members.values().map(|m| m.info).collect()
    }

    /// A new participant in `role`; voice packets from peers come as [`SessionEvent::Audio`].
    pub fn join(&mut self, role: Role) -> Session {
        self.add(role, None)
    }

    /// Like [`LoopbackHub::join`], with a clinic credential to prove (a clinician or
    /// therapist) and the clinic to check others against (a patient's invite carries it).
    /// Each participant has a made-up DTLS fingerprint of its own; the proof, the checks and
    /// the safety words are the WebRTC backend's.
    pub fn join_checked(
        &mut self,
        role: Role,
        identity: Option<Arc<Identity>>,
        clinic: Option<ClinicPublicKey>,
    ) -> Session {
        let session = self.add(role, None);
        if let Some(member) = self.members.values_mut().next_back() {
            member.identity = identity;
            member.clinic = clinic;
        }
        session
    }

    /// Like [`LoopbackHub::join`], with voice split off into a [`VoiceLink`].
    pub fn join_with_voice(&mut self, role: Role) -> (Session, VoiceLink) {
        let (audio_tx, incoming) = mpsc::channel(crate::command::VOICE_ROUTE_LIMIT);
        let session = self.add(role, Some(audio_tx));
        let voice = VoiceLink::new(session.command_sender(), incoming);
        (session, voice)
    }

    fn add(&mut self, role: Role, audio_route: AudioRoute) -> Session {
        let me = PeerInfo {
            id: PeerId(self.next_peer),
            role,
        };
        self.next_peer += 1;
        let (commands_tx, commands) = mpsc::unbounded_channel();
        let (events, events_rx) = crate::queue::event_queue();
        let peers = self.peers();
        let _ = events.send(SessionEvent::Joined {
            me,
            room: self.room.clone(),
            peers: peers.clone(),
            // The loopback hub has no group rooms.
            chair: None,
        });
        for peer in &peers {
            let _ = events.send(SessionEvent::PeerJoined(*peer));
        }
        for other in self.members.values() {
            other.say(SessionEvent::PeerJoined(me));
            self.links
                .insert(pair(me.id, other.info.id), Link::default());
        }
        self.members
            .insert(me.id, Member::new(me, commands, events, audio_route));
        Session::without_thread(commands_tx, events_rx)
    }

    /// Takes `peer` off the network: see the [module](self). Nothing in flight to or from it
    /// survives.
    pub fn cut(&mut self, peer: PeerId) {
        let Some(member) = self.members.get_mut(&peer) else {
            return;
        };
        if std::mem::replace(&mut member.cut, true) {
            return;
        }
        self.wires
            .retain(|&(from, to), _| from != peer && to != peer);
        let mut down = Vec::new();
        for (&(a, b), link) in self.links.iter_mut() {
            if (a == peer || b == peer) && link.open {
                link.open = false;
                down.push((a, b));
            }
        }
        for (a, b) in down {
            for (me, other) in [(a, b), (b, a)] {
                if let Some(m) = self.members.get_mut(&me) {
                    m.say(SessionEvent::PeerReconnecting(other));
                    m.pause_sends(other);
                }
            }
        }
    }

    /// Puts `peer` back on the network: see the [module](self).
    pub fn restore(&mut self, peer: PeerId) {
        let Some(member) = self.members.get_mut(&peer) else {
            return;
        };
        if !std::mem::replace(&mut member.cut, false) {
            return;
        }
        let reopen: Vec<_> = self
            .links
            .iter()
            .filter(|&(&(a, b), link)| {
                (a == peer || b == peer) && link.connected && !link.open && !self.is_cut(a, b)
            })
            .map(|(&k, _)| k)
            .collect();
        for (a, b) in reopen {
            self.open(a, b, SessionEvent::PeerReconnected);
        }
    }

    fn is_cut(&self, a: PeerId, b: PeerId) -> bool {
        [a, b]
            .iter()
            .any(|p| self.members.get(p).is_none_or(|m| m.cut))
    }

    /// The link `a`–`b` opens (`say` tells each side about the other): what waited for it
    /// goes, as when channels open.
    fn open(&mut self, a: PeerId, b: PeerId, say: fn(PeerId) -> SessionEvent) {
        let reconnect = self.links.get(&(a, b)).is_some_and(|l| l.connected);
        if let Some(link) = self.links.get_mut(&(a, b)) {
            *link = Link {
                connected: true,
                open: true,
            };
        }
        let about = |p: PeerId| {
            self.members
                .get(&p)
                .map(|m| (m.info.role, m.fingerprint.clone(), m.identity.is_some()))
        };
        let (about_a, about_b) = (about(a), about(b));
        for ((me, other), theirs) in [((a, b), about_b), ((b, a), about_a)] {
            if let Some(m) = self.members.get_mut(&me) {
                m.say(say(other));
                // A new connection (not one coming back after a cut): its first room event.
                let first = match theirs {
                    Some((role, fingerprint, proves)) if !reconnect => {
                        m.connected(other, role, &fingerprint, proves)
                    }
                    _ => Vec::new(),
                };
                let waiting = m.waiting_for(other);
                let wire = self.wires.entry((me, other)).or_default();
                wire.extend(first);
                wire.extend(waiting);
            }
        }
    }

    fn link_open(&self, a: PeerId, b: PeerId) -> bool {
        self.links.get(&pair(a, b)).is_some_and(|l| l.open)
    }

    fn push(&mut self, from: PeerId, to: PeerId, wire: Wire) {
        self.wires.entry((from, to)).or_default().push_back(wire);
    }

    /// Carries everything: see the [module](self).
    pub fn pump(&mut self) {
        // New pairs connect.
        let new: Vec<_> = self
            .links
            .iter()
            .filter(|&(&(a, b), link)| !link.connected && !self.is_cut(a, b))
            .map(|(&k, _)| k)
            .collect();
        for (a, b) in new {
            self.open(a, b, SessionEvent::PeerConnected);
        }
        // Commands, in join order.
        let ids: Vec<PeerId> = self.members.keys().copied().collect();
        for id in ids {
            while let Some(member) = self.members.get_mut(&id) {
                match member.commands.try_recv() {
                    Ok(Command::Leave) | Err(mpsc::error::TryRecvError::Disconnected) => {
                        self.leave(id);
                    }
                    Ok(command) => self.on_command(id, command),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                }
            }
        }
        // Objects, paced.
        let mut out = Vec::new();
        for (&from, m) in self.members.iter_mut() {
            for (to, message) in m.outgoing_objects(self.bulk_per_pump) {
                out.push((from, to, message));
            }
        }
        for (from, to, message) in out {
            self.push(from, to, Wire::Bulk(bulk::encode(&message)));
        }
        self.deliver();
    }

    fn on_command(&mut self, from: PeerId, command: Command) {
        let open_to: Vec<PeerId> = self
            .members
            .keys()
            .copied()
            .filter(|&p| p != from && self.link_open(from, p))
            .collect();
        let known = |to: PeerId| self.links.contains_key(&pair(from, to));
        match command {
            Command::Pose(bytes) => {
                for to in open_to {
                    self.push(from, to, Wire::Pose(bytes.clone()));
                }
            }
            Command::Control(bytes) => {
                for to in open_to {
                    self.push(from, to, Wire::Control(bytes.clone()));
                }
            }
            Command::ControlTo(to, bytes) => {
                if self.link_open(from, to) {
                    self.push(from, to, Wire::Control(bytes));
                } else if known(to)
                    && let Some(m) = self.members.get_mut(&from)
                {
                    m.hold_control(to, bytes);
                }
            }
            Command::Object { to, manifest, data } => {
                let (known, open) = (known(to), self.link_open(from, to));
                let Some(m) = self.members.get_mut(&from) else {
                    return;
                };
                if known {
                    m.send_object(to, manifest, data, open);
                } else {
                    m.say(SessionEvent::ObjectCancelled {
                        peer: to,
                        id: manifest.id,
                        why: "no such peer".to_owned(),
                    });
                }
            }
            Command::Cancel { to, id } => {
                let open = self.link_open(from, to);
                let cancelled = known(to)
                    && self
                        .members
                        .get_mut(&from)
                        .is_some_and(|m| m.cancel(to, id, open));
                if cancelled && open {
                    let cancel = Bulk::Cancel {
                        id,
                        reason: CancelReason::Revoked,
                    };
                    self.push(from, to, Wire::Bulk(bulk::encode(&cancel)));
                }
            }
            Command::Reconnect(to) => self.reconnect(from, to),
            // The hub is a mesh: there is no media server to reconnect to.
            Command::ReconnectMedia => {}
            // The hub judges each credential as its connection opens and carries what the
            // ledger sends; it holds nothing back for a check (the WebRTC backend does).
            Command::TrustAnyway(_) => {}
            Command::Audio {
                packet,
                duration,
                skipped,
            } => {
                let epoch = self.epoch;
                let Some(m) = self.members.get_mut(&from) else {
                    return;
                };
                let audio = m.stamp_audio(packet, duration, skipped, epoch);
                for to in open_to {
                    self.push(from, to, Wire::Audio(audio.clone()));
                }
            }
            Command::Stats(reply) => {
                if let Some(m) = self.members.get(&from) {
                    let others = self.members.keys().copied().filter(|&p| p != from);
                    let _ = reply.send(m.stats(others));
                }
            }
            Command::Leave => self.leave(from),
        }
    }

    /// A reconnect asked by `from`: as in the WebRTC backend, only the side that offered (the
    /// later joiner) rebuilds; its link goes down and up at once, and transfers resume.
    fn reconnect(&mut self, from: PeerId, to: PeerId) {
        let key = pair(from, to);
        if from < to || !self.links.get(&key).is_some_and(|l| l.open) {
            debug!(peer = %to, "a reconnect is made by the side that offered first");
            return;
        }
        for (me, other) in [(from, to), (to, from)] {
            if let Some(m) = self.members.get_mut(&me) {
                m.pause_sends(other);
            }
        }
        if let Some(m) = self.members.get(&from) {
            m.say(SessionEvent::PeerReconnecting(to));
        }
        self.open(key.0, key.1, SessionEvent::PeerReconnected);
    }

    fn leave(&mut self, id: PeerId) {
        if !self.members.contains_key(&id) {
            return;
        }
        // What it sent before it left arrives first (its leave comes after it on the wire).
        self.deliver();
        self.members.remove(&id);
        self.links.retain(|&(a, b), _| a != id && b != id);
        self.wires.retain(|&(from, to), _| from != id && to != id);
        for m in self.members.values_mut() {
            m.forget(id);
            m.say(SessionEvent::PeerLeft(id));
        }
    }

    /// Delivers everything in flight, and what that makes the receivers send back, until
    /// nothing is left.
    fn deliver(&mut self) {
        while let Some((&(from, to), _)) = self.wires.iter().find(|(_, q)| !q.is_empty()) {
            let Some(wire) = self
                .wires
                .get_mut(&(from, to))
                .and_then(VecDeque::pop_front)
            else {
                continue;
            };
            let Some(role) = self.members.get(&from).map(|m| m.info.role) else {
                continue;
            };
            if !self.link_open(from, to) {
                continue;
            }
            let (epoch, budget) = (self.epoch, self.bulk_budget);
            if let Some(m) = self.members.get_mut(&from) {
                m.bytes.entry(to).or_default().0 += wire.len() as u64;
            }
            let reply = self
                .members
                .get_mut(&to)
                .and_then(|m| m.receive(from, role, wire, epoch, budget));
            if let Some(reply) = reply {
                self.push(to, from, reply);
            }
        }
        self.wires.clear();
    }
}

#[cfg(test)]
mod tests {
    use haven_proto::bulk::ObjectKind;
    use haven_proto::control::{Control, Share};
    use haven_proto::pose::{Placement, PoseUpdate};
    use haven_proto::{Redacted, channel};

    use std::sync::Arc;
    use std::time::Duration;

    use haven_proto::bulk::ObjectId;

    use super::*;
    use crate::event::AudioPacket;

    fn pose() -> PoseUpdate {
        PoseUpdate {
            seq: 1,
            sent_at_ms: 0,
            head: Placement::IDENTITY,
            left_hand: None,
            right_hand: None,
        }
    }

    fn room() -> RoomId {
        "consult-7".parse().expect("a room id")
    }

    /// What a session said, less the safety words, their exchange and the verdicts every new
    /// connection brings (`trust`'s own tests look at those).
    fn drain(session: &mut Session) -> Vec<SessionEvent> {
        std::iter::from_fn(|| session.try_event())
            .filter(|e| {
                !matches!(
                    e,
                    SessionEvent::SafetyWords { .. }
                        | SessionEvent::PeerVerified { .. }
                        | SessionEvent::Control {
                            message: Control::WordsCommit { .. } | Control::WordsReveal { .. },
                            ..
                        }
                )
            })
            .collect()
    }

    fn me(session: &mut Session) -> PeerId {
        match session.try_event() {
            Some(SessionEvent::Joined { me, .. }) => me.id,
            other => panic!("expected Joined first, got {other:?}"),
        }
    }

    fn pattern(n: usize) -> Arc<Vec<u8>> {
        Arc::new((0..n).map(|i| (i * 7 % 253) as u8).collect())
    }

    /// A patient and a clinician, connected, their join events read.
    fn consult(hub: &mut LoopbackHub) -> (Session, PeerId, Session, PeerId) {
        let mut patient = hub.join(Role::Patient);
        let p = me(&mut patient);
        let mut clinician = hub.join(Role::Clinician);
        let c = me(&mut clinician);
        hub.pump();
        drain(&mut patient);
        drain(&mut clinician);
        (patient, p, clinician, c)
    }

    #[test]
    fn two_then_three_join_and_connect() {
        let mut hub = LoopbackHub::new(room());
        let mut patient = hub.join(Role::Patient);
        let mut clinician = hub.join(Role::Clinician);
        let (p, c) = (PeerId(1), PeerId(2));
        let joined = drain(&mut clinician);
        assert!(
            matches!(
                &joined[..],
                [SessionEvent::Joined { me, peers, .. }, SessionEvent::PeerJoined(info)]
                    if me.id == c && me.role == Role::Clinician
                    && peers.len() == 1 && peers[0].id == p && info.id == p
            ),
            "{joined:?}"
        );
        let seen = drain(&mut patient);
        assert!(
            matches!(
                &seen[..],
                [SessionEvent::Joined { peers, .. }, SessionEvent::PeerJoined(info)]
                    if peers.is_empty() && info.id == c && info.role == Role::Clinician
            ),
            "{seen:?}"
        );
        hub.pump();
        assert!(matches!(&drain(&mut patient)[..], [SessionEvent::PeerConnected(x)] if *x == c));
        assert!(matches!(&drain(&mut clinician)[..], [SessionEvent::PeerConnected(x)] if *x == p));

        let mut therapist = hub.join(Role::Therapist);
        let t = me(&mut therapist);
        assert_eq!(hub.peers().len(), 3);
        hub.pump();
        let events = drain(&mut therapist);
        let connected: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::PeerConnected(x) => Some(*x),
                _ => None,
            })
            .collect();
        assert_eq!(connected, [p, c]);
        for s in [&mut patient, &mut clinician] {
            let events = drain(s);
            assert!(
                matches!(
                    &events[..],
                    [SessionEvent::PeerJoined(i), SessionEvent::PeerConnected(x)]
                        if i.id == t && *x == t
                ),
                "{events:?}"
            );
        }
        // Nothing more happens on an idle pump.
        hub.pump();
        assert!(drain(&mut patient).is_empty());
    }

    #[test]
    fn control_is_routed_and_checked_by_role_and_poses_and_voice_arrive() {
        let mut hub = LoopbackHub::new(room());
        let (mut patient, p, mut clinician, c) = consult(&mut hub);
        let mut therapist = hub.join(Role::Therapist);
        let t = me(&mut therapist);
        hub.pump();
        drain(&mut patient);
        drain(&mut clinician);
        drain(&mut therapist);

        // To everyone.
        patient.send_control(&Control::Speaking { speaking: true });
        // To one peer.
        patient.send_control_to(t, &Control::Muted { muted: true });
        // A clinician may not revoke the patient's share.
        clinician.send_control(&Control::Revoked {
            object: ObjectId(1),
        });
        patient.send_pose(&pose());
        hub.pump();
        let at_clinician = drain(&mut clinician);
        assert!(
            matches!(
                &at_clinician[..],
                [
                    SessionEvent::Control { from, role: Role::Patient, message: Control::Speaking { speaking: true } },
                    SessionEvent::Pose { from: pf, .. },
                ] if *from == p && *pf == p
            ),
            "{at_clinician:?}"
        );
        let at_therapist = drain(&mut therapist);
        assert_eq!(at_therapist.len(), 4, "{at_therapist:?}");
        assert!(matches!(
            &at_therapist[1],
            SessionEvent::Control {
                message: Control::Muted { muted: true },
                ..
            }
        ));
        // Links deliver in turn (the patient's, then the clinician's), each in order.
        assert!(matches!(&at_therapist[2], SessionEvent::Pose { .. }));
        assert!(
            matches!(
                &at_therapist[3],
                SessionEvent::Refused { from, channel: channel::CONTROL, why, .. }
                    if *from == c && why.contains("clinician")
            ),
            "{at_therapist:?}"
        );
        let at_patient = drain(&mut patient);
        assert!(
            matches!(
                &at_patient[..],
                [SessionEvent::Refused { from, channel: channel::CONTROL, .. }] if *from == c
            ),
            "{at_patient:?}"
        );
        // Garbage on `control` is refused with the decoder's typed error; the session goes on.
        let _ = clinician
            .command_sender()
            .send(Command::Control(vec![9, 9, 9]));
        patient.send_control(&Control::Shared(Share {
            object: ObjectId(4),
            label: Redacted::new("x".into()),
            consent: Redacted::new("{}".into()),
            may_keep: false,
            until: 0,
        }));
        hub.pump();
        let events = drain(&mut therapist);
        assert!(
            matches!(&events[0], SessionEvent::Control { from, message: Control::Shared(_), .. } if *from == p)
        );
        assert!(
            matches!(&events[1], SessionEvent::Refused { from, channel: channel::CONTROL, .. } if *from == c)
        );

        // Voice, as the audio track would stamp it: DTX-skipped frames advance the timestamp.
        patient.send_audio(vec![1, 2, 3], Duration::from_millis(10), 0);
        patient.send_audio(vec![4], Duration::from_millis(10), 2);
        hub.pump();
        let audio: Vec<AudioPacket> = drain(&mut clinician)
            .into_iter()
            .filter_map(|e| match e {
                SessionEvent::Audio { from, packet } if from == p => Some(packet),
                _ => None,
            })
            .collect();
        assert_eq!(audio.len(), 2);
        assert_eq!((audio[0].timestamp, audio[0].sequence), (0, 0));
        assert_eq!((audio[1].timestamp, audio[1].sequence), (3 * 480, 1));
        assert_eq!(
            audio[1].arrived - audio[0].arrived,
            Duration::from_millis(30)
        );
        assert_eq!(audio[1].payload, [4]);
        // Stats are answered at the next pump.
        let mut request = clinician.request_stats();
        assert_eq!(request.try_take(), None);
        hub.pump();
        let stats = request.try_take().expect("answered");
        let from_patient = stats
            .iter()
            .find(|s| s.peer == Some(p))
            .expect("the patient's figures");
        assert_eq!(from_patient.audio_packets_received, 2);
        assert_eq!(from_patient.audio_jitter_ms, Some(0.0));
        assert!(from_patient.bytes_received > 0);
    }

    #[test]
    fn an_object_arrives_whole_with_progress_and_the_sender_hears_it_did() {
        let mut hub = LoopbackHub::new(room());
        let (mut patient, p, mut clinician, c) = consult(&mut hub);
        let data = pattern(1_500_000);
        patient.send_object(c, ObjectId(41), ObjectKind::Image, Arc::clone(&data));
        let mut progress = Vec::new();
        let mut arrived = None;
        let mut sent = false;
        for _ in 0..20 {
            hub.pump();
            for e in drain(&mut clinician) {
                match e {
                    SessionEvent::ObjectProgress {
                        from,
                        id,
                        received,
                        size,
                    } => {
                        assert_eq!((from, id, size), (p, ObjectId(41), data.len() as u64));
                        progress.push(received);
                    }
                    SessionEvent::ObjectReceived {
                        from,
                        manifest,
                        data,
                    } => {
                        assert_eq!(from, p);
                        arrived = Some((manifest, data.into_inner()));
                    }
                    other => panic!("{other:?}"),
                }
            }
            for e in drain(&mut patient) {
                match e {
                    SessionEvent::ObjectSent { to, id } => {
                        assert_eq!((to, id), (c, ObjectId(41)));
                        sent = true;
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
        // 256 KiB a pump: an ack at 1 MiB, on the way.
        assert_eq!(progress, [crate::transfer::ACK_EVERY]);
        let (manifest, got) = arrived.expect("arrived");
        assert_eq!(manifest.kind, ObjectKind::Image);
        assert_eq!(&got, data.as_ref());
        assert!(sent, "the sender never heard it arrived");
    }

    #[test]
    fn a_cancel_mid_way_drops_what_the_receiver_holds() {
        let mut hub = LoopbackHub::new(room());
        let (mut patient, _, mut clinician, c) = consult(&mut hub);
        patient.send_object(c, ObjectId(1), ObjectKind::Dicom, pattern(3_000_000));
        for _ in 0..5 {
            hub.pump();
        }
        assert!(matches!(
            &drain(&mut clinician)[..],
            [SessionEvent::ObjectProgress { .. }]
        ));
        patient.cancel_object(c, ObjectId(1));
        hub.pump();
        let events = drain(&mut clinician);
        assert!(
            matches!(
                &events[..],
                [SessionEvent::ObjectCancelled { id: ObjectId(1), why, .. }] if why.contains("sender")
            ),
            "{events:?}"
        );
        for _ in 0..20 {
            hub.pump();
        }
        assert!(drain(&mut clinician).is_empty());
        assert!(drain(&mut patient).is_empty());
    }

    #[test]
    fn a_clinicians_object_is_refused_at_its_manifest() {
        let mut hub = LoopbackHub::new(room());
        let (mut patient, p, mut clinician, c) = consult(&mut hub);
        clinician.send_object(p, ObjectId(5), ObjectKind::Fhir, pattern(2_000_000));
        for _ in 0..12 {
            hub.pump();
        }
        let at_patient = drain(&mut patient);
        assert!(
            matches!(
                &at_patient[..],
                [SessionEvent::Refused { from, channel: channel::BULK, .. }] if *from == c
            ),
            "{at_patient:?}"
        );
        let at_clinician = drain(&mut clinician);
        assert!(
            matches!(
                &at_clinician[..],
                [SessionEvent::ObjectCancelled { peer, id: ObjectId(5), why }]
                    if *peer == p && why.contains("role")
            ),
            "{at_clinician:?}"
        );
        // Nothing of it was held: only the manifest and the first pump's chunks crossed.
        assert!(!hub.members[&p].incoming[&c].holds(ObjectId(5)));
    }

    #[test]
    fn a_duplicate_id_in_flight_is_dropped_and_the_first_goes_on() {
        let mut hub = LoopbackHub::new(room());
        let (mut patient, _, mut clinician, c) = consult(&mut hub);
        let first = pattern(600_000);
        patient.send_object(c, ObjectId(9), ObjectKind::Image, Arc::clone(&first));
        hub.pump();
        patient.send_object(c, ObjectId(9), ObjectKind::Image, pattern(10));
        for _ in 0..5 {
            hub.pump();
        }
        let got: Vec<_> = drain(&mut clinician)
            .into_iter()
            .filter_map(|e| match e {
                SessionEvent::ObjectReceived { data, .. } => Some(data.into_inner()),
                _ => None,
            })
            .collect();
        assert_eq!(got, [first.as_ref().clone()]);
        assert!(matches!(
            &drain(&mut patient)[..],
            [SessionEvent::ObjectSent { .. }]
        ));
    }

    #[test]
    fn a_cut_participant_reconnects_and_its_transfer_resumes() {
        let mut hub = LoopbackHub::new(room());
        let (mut patient, p, mut clinician, c) = consult(&mut hub);
        let data = pattern(2_500_000);
        patient.send_object(c, ObjectId(3), ObjectKind::Dicom, Arc::clone(&data));
        for _ in 0..5 {
            hub.pump();
        }
        hub.cut(c);
        assert!(matches!(&drain(&mut patient)[..], [SessionEvent::PeerReconnecting(x)] if *x == c));
        let events = drain(&mut clinician);
        assert!(
            matches!(
                &events[..],
                [SessionEvent::ObjectProgress { .. }, SessionEvent::PeerReconnecting(x)] if *x == p
            ),
            "{events:?}"
        );
        // Nothing passes while cut: poses and room events for everyone are dropped; a room
        // event for the clinician alone is held.
        patient.send_pose(&pose());
        patient.send_control(&Control::Speaking { speaking: true });
        patient.send_control_to(c, &Control::Muted { muted: false });
        for _ in 0..10 {
            hub.pump();
        }
        assert!(drain(&mut clinician).is_empty());
        assert!(drain(&mut patient).is_empty());

        hub.restore(c);
        assert!(matches!(&drain(&mut patient)[..], [SessionEvent::PeerReconnected(x)] if *x == c));
        let mut arrived = None;
        let mut muted = false;
        for _ in 0..20 {
            hub.pump();
            for e in drain(&mut clinician) {
                match e {
                    SessionEvent::PeerReconnected(x) => assert_eq!(x, p),
                    SessionEvent::Control {
                        message: Control::Muted { .. },
                        ..
                    } => muted = true,
                    SessionEvent::ObjectProgress { .. } => {}
                    SessionEvent::ObjectReceived { data, .. } => arrived = Some(data.into_inner()),
                    other => panic!("{other:?}"),
                }
            }
        }
        assert!(muted, "the held room event was not sent on restore");
        assert_eq!(arrived.expect("arrived after the restore"), *data);
        let at_patient = drain(&mut patient);
        // It went on from what the receiver held (5 pumps of 256 KiB), not from the start.
        assert!(
            matches!(
                &at_patient[..],
                [SessionEvent::ObjectResumed { from, .. }, SessionEvent::ObjectSent { .. }]
                    if *from == 5 * DEFAULT_BULK_PER_PUMP as u64
            ),
            "{at_patient:?}"
        );
    }

    #[test]
    fn leaving_tells_the_others_and_cancels_what_was_on_its_way() {
        let mut hub = LoopbackHub::new(room());
        let (mut patient, p, mut clinician, c) = consult(&mut hub);
        let (mut therapist, _voice) = hub.join_with_voice(Role::Therapist);
        let t = me(&mut therapist);
        hub.pump();
        drain(&mut patient);
        drain(&mut clinician);
        drain(&mut therapist);
        patient.send_object(c, ObjectId(2), ObjectKind::Image, pattern(1_000_000));
        hub.pump();
        clinician.leave();
        hub.pump();
        let events = drain(&mut patient);
        assert!(
            matches!(
                &events[..],
                [SessionEvent::ObjectCancelled { peer, id: ObjectId(2), .. }, SessionEvent::PeerLeft(x)]
                    if *peer == c && *x == c
            ),
            "{events:?}"
        );
        assert!(matches!(&drain(&mut therapist)[..], [SessionEvent::PeerLeft(x)] if *x == c));
        // Dropping a session leaves too.
        drop(therapist);
        hub.pump();
        assert!(matches!(&drain(&mut patient)[..], [SessionEvent::PeerLeft(x)] if *x == t));
        assert_eq!(hub.peers().len(), 1);
        // An object for someone who left is cancelled at once.
        patient.send_object(c, ObjectId(3), ObjectKind::Image, pattern(10));
        hub.pump();
        assert!(matches!(
            &drain(&mut patient)[..],
            [SessionEvent::ObjectCancelled {
                id: ObjectId(3),
                ..
            }]
        ));
        let _ = p;
    }

    #[test]
    fn a_voice_link_takes_the_packets_and_closes_with_the_hub() {
        let mut hub = LoopbackHub::new(room());
        let (mut patient, voice) = hub.join_with_voice(Role::Patient);
        let p = me(&mut patient);
        let (mut clinician, mut heard) = hub.join_with_voice(Role::Clinician);
        let _ = me(&mut clinician);
        hub.pump();
        voice.send_audio(vec![7; 20], Duration::from_millis(20), 0);
        hub.pump();
        let (from, packet) = heard.try_recv().expect("a packet");
        assert_eq!((from, packet.payload.len()), (p, 20));
        assert!(
            !drain(&mut clinician)
                .iter()
                .any(|e| matches!(e, SessionEvent::Audio { .. }))
        );
        assert!(!heard.is_closed());
        drop(hub);
        assert!(heard.is_closed());
        // A hub's session leaves without blocking or panicking, hub or no hub.
        patient.leave();
    }

    #[test]
    fn the_voice_loop_talks_over_hub_voice_links() {
        use haven_voice::engine::EngineOptions;
        use haven_voice::sink::NullSink;
        use haven_voice::source::{Silent, Synthetic};
        use haven_voice::thread::VoiceLoop;

        let mut hub = LoopbackHub::new(room());
        let (mut patient, patient_link) = hub.join_with_voice(Role::Patient);
        let p = me(&mut patient);
        let (mut clinician, clinician_link) = hub.join_with_voice(Role::Clinician);
        let _ = me(&mut clinician);
        hub.pump();
        let start = hub.epoch();
        let mut talker = VoiceLoop::new(
            EngineOptions::default(),
            Box::new(Synthetic::voice_like(2)),
            Box::new(NullSink),
            patient_link,
            start,
        )
        .expect("engine");
        let mut listener = VoiceLoop::new(
            EngineOptions::default(),
            Box::new(Silent),
            Box::new(NullSink),
            clinician_link,
            start,
        )
        .expect("engine");
        let mut heard = false;
        for _ in 0..100 {
            talker.turn(true, false);
            hub.pump();
            listener.turn(true, false);
            heard |= listener.snapshot(true).peers.get(&p) == Some(&true);
        }
        let figures = listener.snapshot(true).figures;
        assert!(heard, "the clinician never heard the patient speak");
        assert_eq!(
            figures.frames_received,
            talker.snapshot(true).figures.frames_sent
        );
        assert!(figures.frames_played >= 90, "{figures:?}");
    }
}
