//! Rooms and who is in them: the server's only state, kept without I/O so it can be tested
//! step by step.
//!
//! A checked invite joins its holder to the room it names, in the role it names, while the room
//! has fewer than [`MAX_ROOM_PEERS`] peers and the invite has joins left. A resume token
//! takes back a place ([`Rooms::resume`]): the same one while it is held, else a new seat with
//! the same id. Relaying is allowed only between two different peers of one room.

use std::collections::HashMap;

use haven_proto::invite::Invite;
use haven_proto::signal::{
    ErrorCode, MAX_GROUP_PEERS, MAX_ROOM_PEERS, PeerId, PeerInfo, Role, RoomId,
};

use crate::resume::{Place, TTL_SECS};

/// A seat's random number. Without randomness it is 0: a token then stands for the id alone,
/// as ids are never given twice by one run.
pub(crate) fn random_seat() -> u64 {
    let mut bytes = [0; 8];
    let _ = getrandom::fill(&mut bytes);
    u64::from_le_bytes(bytes)
}

#[derive(Debug)]
struct Member {
    room: RoomId,
    role: Role,
    /// The nonce of the invite it joined with.
    nonce: String,
    /// Drawn when it first joined (see [`Place::seat`]).
    seat: u64,
    /// Its invite's expiry.
    invite_exp: u64,
    /// In a group room: the chair it sits in (see [`Rooms::chair_of`]).
    chair: Option<u8>,
}

/// Joins counted per invite nonce, kept until the invite expires.
#[derive(Debug)]
struct Uses {
    count: u32,
    exp: u64,
}

/// A successful join.
#[derive(Debug, PartialEq, Eq)]
pub struct Joined {
    /// The new peer.
    pub peer: PeerInfo,
    /// Who was already in the room (for the welcome, and to tell them).
    pub others: Vec<PeerInfo>,
}

/// A resume that worked.
#[derive(Debug, PartialEq, Eq)]
pub struct Resumed {
    /// The peer, back.
    pub peer: PeerInfo,
    /// The others in its room.
    pub others: Vec<PeerInfo>,
    /// Its place was still held (the others never saw it leave); false: it took a new seat,
    /// and the others are to be told it joined.
    pub kept: bool,
}

/// A group room's place on the media server, drawn when the room opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRoom {
    /// People it holds at most (from the invite that opened it).
    pub size: u8,
    /// The media server's room number.
    pub number: u64,
    /// What joining it there takes; never logged.
    pub pin: haven_proto::Redacted<String>,
}

impl GroupRoom {
    /// A fresh number and pin; `None` without randomness (no room is better than a
    /// guessable one).
    fn draw(size: u8) -> Option<Self> {
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes).ok()?;
        let (number, pin) = bytes.split_at(8);
        Some(Self {
            size,
            // Janus keeps room numbers as JSON numbers: below 2^53, so JavaScript reads them.
            number: u64::from_le_bytes(number.try_into().ok()?) >> 11,
            pin: haven_proto::Redacted::new(pin.iter().map(|b| format!("{b:02x}")).collect()),
        })
    }
}

/// Every room on the server.
#[derive(Debug, Default)]
pub struct Rooms {
    rooms: HashMap<RoomId, Vec<PeerId>>,
    /// The rooms that are group rooms (opened by an invite with `group`).
    groups: HashMap<RoomId, GroupRoom>,
    members: HashMap<PeerId, Member>,
    uses: HashMap<String, Uses>,
    /// Invites revoked by id (`haven invite --revoke`), with their expiry.
    revoked: HashMap<String, u64>,
    /// Peers that said bye, until their tokens could no longer be good: never resumed.
    departed: HashMap<PeerId, u64>,
    next_id: u64,
}

impl Rooms {
    /// No rooms.
    pub fn new() -> Self {
        Self::default()
    }

    /// No rooms; the first peer id given is `first + 1`. A server starts from the time it
    /// started (in milliseconds), so that ids given by an earlier run, which peers take back
    /// with resume tokens, are never given again to someone else.
    pub fn numbered_from(first: u64) -> Self {
        Self {
            next_id: first,
            ..Self::default()
        }
    }

    /// The place `peer` holds, for a resume token issued at `now`.
    pub fn place(&self, peer: PeerId, now: u64) -> Option<Place> {
        self.members.get(&peer).map(|m| Place {
            peer,
            room: m.room.clone(),
            role: m.role,
            nonce: m.nonce.clone(),
            seat: m.seat,
            invite_exp: m.invite_exp,
            exp: now
                .saturating_add(TTL_SECS)
                .min(m.invite_exp.saturating_add(TTL_SECS)),
        })
    }

    /// `peer` said bye: its resume tokens are refused from now on (on this run).
    pub fn said_bye(&mut self, peer: PeerId) {
        if let Some(m) = self.members.get(&peer) {
            self.departed
                .insert(peer, m.invite_exp.saturating_add(TTL_SECS));
        }
    }

    /// Takes back the place a resume token names: the same place while it is held (by the
    /// same invite, in the same room and role), else a new seat with the same id, if the
    /// room has space and the invite was not revoked since. Spends no use of the invite.
    pub fn resume(&mut self, place: &Place) -> Result<Resumed, ErrorCode> {
        if self.revoked.contains_key(&place.nonce) || self.departed.contains_key(&place.peer) {
            return Err(ErrorCode::TokenUsed);
        }
        let peer = PeerInfo {
            id: place.peer,
            role: place.role,
        };
        let kept = match self.members.get(&place.peer) {
            Some(m)
                if m.room == place.room
                    && m.role == place.role
                    && m.nonce == place.nonce
                    && m.seat == place.seat =>
            {
                true
            }
            // The id is someone else's now: this token's place is gone.
            Some(_) => return Err(ErrorCode::NoSuchPeer),
            None => false,
        };
        let capacity = self
            .groups
            .get(&place.room)
            .map_or(MAX_ROOM_PEERS, |g| usize::from(g.size));
        let room = self.rooms.entry(place.room.clone()).or_default();
        if !kept && room.len() >= capacity {
            return Err(ErrorCode::RoomFull);
        }
        let others = room
            .iter()
            .filter(|&&other| other != place.peer)
            .map(|&other| PeerInfo {
                id: other,
                role: self.members[&other].role,
            })
            .collect();
        if !kept {
            let chair = self.free_chair(&place.room, place.role);
            let room = self.rooms.entry(place.room.clone()).or_default();
            room.push(place.peer);
            self.members.insert(
                place.peer,
                Member {
                    room: place.room.clone(),
                    role: place.role,
                    nonce: place.nonce.clone(),
                    seat: place.seat,
                    invite_exp: place.invite_exp,
                    chair,
                },
            );
            // Never given again to a newcomer.
            self.next_id = self.next_id.max(place.peer.0);
        }
        Ok(Resumed { peer, others, kept })
    }

    /// Joins already counted for invite `id` (remembered across a restart).
    pub fn remember_uses(&mut self, id: &str, count: u32, exp: u64) {
        self.uses.insert(id.to_owned(), Uses { count, exp });
    }

    /// Invites revoked by id: refused from now on, as used up.
    pub fn set_revoked(&mut self, revoked: HashMap<String, u64>) {
        self.revoked = revoked;
    }

    /// Whether the invite with this nonce was revoked.
    pub fn is_revoked(&self, nonce: &str) -> bool {
        self.revoked.contains_key(nonce)
    }

    /// Joins the holder of a checked invite to its room.
    pub fn join(&mut self, invite: &Invite, now_unix: u64) -> Result<Joined, ErrorCode> {
        self.forget_expired(now_unix);
        if self.revoked.contains_key(&invite.nonce) {
            return Err(ErrorCode::TokenUsed);
        }
        if invite
            .group
            .is_some_and(|size| !(2..=MAX_GROUP_PEERS).contains(&usize::from(size)))
        {
            return Err(ErrorCode::BadToken);
        }
        let room = self.rooms.entry(invite.room.clone()).or_default();
        // The invite that opens a room decides whether it is a group room, and of what size;
        // every later one must say the same (a patient is told of the media server by their
        // own invite, and each side draws the room's chairs and finds the head of the table
        // from the size its invite says).
        if room.is_empty() {
            if let Some(size) = invite.group {
                let Some(drawn) = GroupRoom::draw(size) else {
                    self.rooms.remove(&invite.room);
                    return Err(ErrorCode::Unavailable);
                };
                self.groups.insert(invite.room.clone(), drawn);
            }
        } else if self.groups.get(&invite.room).map(|g| g.size) != invite.group {
            return Err(ErrorCode::BadToken);
        }
        let capacity = self
            .groups
            .get(&invite.room)
            .map_or(MAX_ROOM_PEERS, |g| usize::from(g.size));
        if room.len() >= capacity {
            if room.is_empty() {
                self.rooms.remove(&invite.room);
                self.groups.remove(&invite.room);
            }
            return Err(ErrorCode::RoomFull);
        }
        let uses = self.uses.entry(invite.nonce.clone()).or_insert(Uses {
            count: 0,
            exp: invite.exp,
        });
        if uses.count >= invite.uses {
            if room.is_empty() {
                self.rooms.remove(&invite.room);
                self.groups.remove(&invite.room);
            }
            return Err(ErrorCode::TokenUsed);
        }
        uses.count += 1;
        self.next_id += 1;
        let id = PeerId(self.next_id);
        let chair = self.free_chair(&invite.room, invite.role);
        let room = self.rooms.entry(invite.room.clone()).or_default();
        let others = room
            .iter()
            .map(|&other| PeerInfo {
                id: other,
                role: self.members[&other].role,
            })
            .collect();
        room.push(id);
        self.members.insert(
            id,
            Member {
                room: invite.room.clone(),
                role: invite.role,
                nonce: invite.nonce.clone(),
                seat: random_seat(),
                invite_exp: invite.exp,
                chair,
            },
        );
        Ok(Joined {
            peer: PeerInfo {
                id,
                role: invite.role,
            },
            others,
        })
    }

    /// Whether `from` may send to `to`: both present, different, in the same room.
    pub fn check_relay(&self, from: PeerId, to: PeerId) -> Result<(), ErrorCode> {
        let sender = self.members.get(&from).ok_or(ErrorCode::BadMessage)?;
        match self.members.get(&to) {
            Some(receiver) if to != from && receiver.room == sender.room => Ok(()),
            _ => Err(ErrorCode::NoSuchPeer),
        }
    }

    /// Removes a peer; returns who is left in its room (to be told).
    pub fn leave(&mut self, peer: PeerId) -> Vec<PeerId> {
        let Some(member) = self.members.remove(&peer) else {
            return Vec::new();
        };
        let Some(room) = self.rooms.get_mut(&member.room) else {
            return Vec::new();
        };
        room.retain(|&p| p != peer);
        let left = room.clone();
        if room.is_empty() {
            self.rooms.remove(&member.room);
            self.groups.remove(&member.room);
        }
        left
    }

    /// The chair `peer` sits in, in a group room of size N: chairs `0..N`, where `N - 1` is
    /// the head of the table (the clinician's) and the others the ring's (0 opposite the head,
    /// then alternately to its left and right; the room app's `layout::group_turn`). A patient
    /// takes the lowest chair free when it joins, a clinician or therapist the highest, and
    /// keeps it while it stays: so one who comes after another left takes a chair left free,
    /// never a taken one, and a room of N seats N. `None` in a mesh room.
    pub fn chair_of(&self, peer: PeerId) -> Option<u8> {
        self.members.get(&peer).and_then(|m| m.chair)
    }

    /// The chair free in `room` for a newcomer in `role`, if `room` is a group room.
    fn free_chair(&self, room: &RoomId, role: Role) -> Option<u8> {
        let size = self.groups.get(room)?.size;
        let taken: Vec<u8> = self
            .rooms
            .get(room)
            .into_iter()
            .flatten()
            .filter_map(|p| self.members.get(p).and_then(|m| m.chair))
            .collect();
        let free = |c: &u8| !taken.contains(c);
        match role {
            Role::Patient => (0..size).find(free),
            Role::Clinician | Role::Therapist => (0..size).rev().find(free),
        }
    }

    /// The group room `room` is, if it is one.
    pub fn group_of(&self, room: &RoomId) -> Option<&GroupRoom> {
        self.groups.get(room)
    }

    /// The room a peer is in.
    pub fn room_of(&self, peer: PeerId) -> Option<&RoomId> {
        self.members.get(&peer).map(|m| &m.room)
    }

    /// Rooms with at least one peer.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// Peers in all rooms.
    pub fn peer_count(&self) -> usize {
        self.members.len()
    }

    fn forget_expired(&mut self, now_unix: u64) {
        // Expired invites are refused before they get here, so their counts can go.
        if self.uses.len() > 1024 {
            self.uses.retain(|_, u| u.exp > now_unix);
        }
        if self.departed.len() > 1024 {
            self.departed.retain(|_, until| *until > now_unix);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(room: &str, role: Role, nonce: &str, uses: u32) -> Invite {
        Invite {
            host: "h".into(),
            port: 1,
            room: room.parse().expect("room"),
            role,
            exp: 100,
            nonce: nonce.into(),
            uses,
            pin: None,
            clinic: None,
            group: None,
        }
    }

    #[test]
    fn peers_join_with_their_invites_role_and_see_each_other() {
        let mut rooms = Rooms::new();
        let a = rooms
            .join(&invite("r", Role::Clinician, "a", 1), 0)
            .expect("joins");
        assert!(a.others.is_empty());
        let b = rooms
            .join(&invite("r", Role::Patient, "b", 1), 0)
            .expect("joins");
        assert_eq!(b.peer.role, Role::Patient);
        assert_eq!(b.others, vec![a.peer]);
        assert_eq!(rooms.check_relay(a.peer.id, b.peer.id), Ok(()));
        assert_eq!(rooms.check_relay(b.peer.id, a.peer.id), Ok(()));
        assert_eq!(
            rooms.check_relay(a.peer.id, a.peer.id),
            Err(ErrorCode::NoSuchPeer)
        );
    }

    #[test]
    fn the_invite_that_opens_a_room_makes_it_a_group_of_its_size() {
        let mut rooms = Rooms::new();
        let group = |nonce: &str, size| Invite {
            group: Some(size),
            ..invite("g", Role::Patient, nonce, 1)
        };
        assert_eq!(
            rooms.join(&group("big", 13), 0),
            Err(ErrorCode::BadToken),
            "a group is 2 to 12"
        );
        assert_eq!(rooms.join(&group("one", 1), 0), Err(ErrorCode::BadToken));
        let first = rooms.join(&group("n0", 6), 0).expect("opens the group");
        let drawn = rooms.group_of(&"g".parse().expect("room")).cloned();
        let drawn = drawn.expect("a group room");
        assert_eq!(drawn.size, 6);
        assert!(drawn.number < 1 << 53 && drawn.pin.expose().len() == 32);
        // An invite that does not say the room is a group is refused (its holder was not
        // told of the media server), and so is one that says another size; group invites of
        // its size join it, up to that size.
        assert_eq!(
            rooms.join(&invite("g", Role::Patient, "plain", 1), 0),
            Err(ErrorCode::BadToken)
        );
        assert_eq!(rooms.join(&group("other", 12), 0), Err(ErrorCode::BadToken));
        for i in 1..6 {
            rooms
                .join(&group(&format!("n{i}"), 6), 0)
                .expect("room in the group");
        }
        assert_eq!(
            rooms.join(&group("n6", 6), 0),
            Err(ErrorCode::RoomFull),
            "the opener's size holds"
        );
        // A mesh room stays a mesh: a group invite to it is refused.
        let to_mesh = |nonce: &str| Invite {
            room: "m".parse().expect("room"),
            ..group(nonce, 12)
        };
        rooms
            .join(&invite("m", Role::Patient, "m0", 1), 0)
            .expect("mesh");
        assert_eq!(rooms.join(&to_mesh("m1"), 0), Err(ErrorCode::BadToken));
        assert!(rooms.group_of(&"m".parse().expect("room")).is_none());
        // Empty, the group is forgotten: the next opener draws a new room and pin.
        let g: RoomId = "g".parse().expect("room");
        let members: Vec<_> = rooms
            .members
            .iter()
            .filter(|(_, m)| m.room == g)
            .map(|(&p, _)| p)
            .collect();
        assert!(members.contains(&first.peer.id));
        for p in members {
            rooms.leave(p);
        }
        assert!(rooms.group_of(&g).is_none());
        rooms.join(&group("n7", 3), 0).expect("opens again");
        assert_ne!(
            rooms.group_of(&g).map(|r| r.pin.expose().clone()),
            Some(drawn.pin.expose().clone())
        );
    }

    /// In a group room each patient takes the lowest chair free and each clinician or
    /// therapist the highest (the head of the table first): one who comes after another left
    /// takes a chair left free, never a taken one; a resume that kept its place keeps its
    /// chair; a mesh room has none.
    #[test]
    fn group_chairs_are_never_shared() {
        let mut rooms = Rooms::new();
        let join = |rooms: &mut Rooms, role, nonce: &str| {
            let invite = Invite {
                group: Some(8),
                ..invite("g", role, nonce, 1)
            };
            rooms.join(&invite, 0).expect("joins").peer.id
        };
        let clinician = join(&mut rooms, Role::Clinician, "c");
        let patients: Vec<PeerId> = (0..4)
            .map(|i| join(&mut rooms, Role::Patient, &format!("p{i}")))
            .collect();
        let therapist = join(&mut rooms, Role::Therapist, "t");
        let chairs = |rooms: &Rooms, peers: &[PeerId]| -> Vec<Option<u8>> {
            peers.iter().map(|&p| rooms.chair_of(p)).collect()
        };
        assert_eq!(
            chairs(&rooms, &[clinician, therapist]),
            [Some(7), Some(6)],
            "the head, then the ring's chair nearest it"
        );
        assert_eq!(
            chairs(&rooms, &patients),
            [Some(0), Some(1), Some(2), Some(3)]
        );
        // Chair 1 is left free; the next patient takes it, the one after takes chair 4.
        rooms.leave(patients[1]);
        let next = join(&mut rooms, Role::Patient, "p4");
        let after = join(&mut rooms, Role::Patient, "p5");
        assert_eq!(chairs(&rooms, &[next, after]), [Some(1), Some(4)]);
        // The head left free: the next clinician takes it. The room is full, each in a chair
        // of their own.
        rooms.leave(clinician);
        let back = join(&mut rooms, Role::Clinician, "c2");
        assert_eq!(rooms.chair_of(back), Some(7));
        let last = join(&mut rooms, Role::Patient, "p6");
        assert_eq!(rooms.chair_of(last), Some(5));
        let mut all: Vec<Option<u8>> = rooms.members.values().map(|m| m.chair).collect();
        all.sort_unstable();
        assert_eq!(all, (0..8).map(Some).collect::<Vec<_>>());
        // A resume of a held place keeps its chair.
        let place = rooms.place(patients[2], 0).expect("held");
        assert!(rooms.resume(&place).expect("resumes").kept);
        assert_eq!(rooms.chair_of(patients[2]), Some(2));
        // After a restart, a resumed patient takes the lowest chair free there.
        let mut restarted = Rooms::new();
        join(&mut restarted, Role::Patient, "q0");
        assert!(!restarted.resume(&place).expect("a new seat").kept);
        assert_eq!(restarted.chair_of(place.peer), Some(1));
        // A mesh room's people have none.
        let mesh = rooms
            .join(&invite("m", Role::Patient, "m0", 1), 0)
            .expect("mesh");
        assert_eq!(rooms.chair_of(mesh.peer.id), None);
    }

    #[test]
    fn a_fifth_peer_is_refused_and_the_four_stay() {
        let mut rooms = Rooms::new();
        let ids: Vec<_> = (0..4)
            .map(|i| rooms.join(&invite("r", Role::Patient, &format!("n{i}"), 1), 0))
            .map(|j| j.expect("joins").peer.id)
            .collect();
        assert_eq!(
            rooms.join(&invite("r", Role::Patient, "n4", 1), 0),
            Err(ErrorCode::RoomFull)
        );
        assert_eq!(rooms.peer_count(), 4);
        // The refused join did not spend the invite: it works once there is room.
        assert_eq!(rooms.leave(ids[0]).len(), 3);
        assert!(rooms.join(&invite("r", Role::Patient, "n4", 1), 0).is_ok());
    }

    #[test]
    fn invites_are_spent_by_joins_not_by_leaving() {
        let mut rooms = Rooms::new();
        let inv = invite("r", Role::Patient, "n", 2);
        let first = rooms.join(&inv, 0).expect("first use");
        rooms.leave(first.peer.id);
        rooms.join(&inv, 0).expect("second use (a reconnect)");
        assert_eq!(rooms.join(&inv, 0), Err(ErrorCode::TokenUsed));
    }

    #[test]
    fn a_resume_takes_back_the_same_place_or_a_new_seat_with_the_same_id() {
        let mut rooms = Rooms::numbered_from(5000);
        let inv = invite("r", Role::Patient, "n", 1);
        let a = rooms.join(&inv, 0).expect("joins");
        assert_eq!(a.peer.id, PeerId(5001));
        let b = rooms
            .join(&invite("r", Role::Clinician, "c", 1), 0)
            .expect("joins");
        assert_eq!(rooms.place(a.peer.id, 0).expect("a place").exp, TTL_SECS);
        let place = rooms.place(a.peer.id, 200).expect("a place");
        assert_eq!(place.exp, 100 + TTL_SECS, "capped by the invite's expiry");
        // Held: kept, no new use of the single-use invite.
        let back = rooms.resume(&place).expect("resumes");
        assert!(back.kept);
        assert_eq!(back.others, vec![b.peer]);
        assert_eq!(rooms.peer_count(), 2);
        // After a restart (or the grace): a new seat with the same id.
        let mut restarted = Rooms::numbered_from(9000);
        let back = restarted.resume(&place).expect("resumes");
        assert!(!back.kept);
        assert_eq!(back.peer, a.peer);
        assert!(back.others.is_empty());
        let again = restarted.resume(&place).expect("and again, now held");
        assert!(again.kept);
        // A token does not stand for another role or invite, nor past a revocation.
        let mut forged = place.clone();
        forged.role = Role::Therapist;
        assert_eq!(restarted.resume(&forged), Err(ErrorCode::NoSuchPeer));
        // Another seat under the same id (a clock stepped back, another run): not this one.
        let mut other_seat = place.clone();
        other_seat.seat ^= 1;
        assert_eq!(restarted.resume(&other_seat), Err(ErrorCode::NoSuchPeer));
        restarted.set_revoked(HashMap::from([("n".to_owned(), 99)]));
        assert_eq!(restarted.resume(&place), Err(ErrorCode::TokenUsed));
        // A bye ends the place: its token no longer takes it back.
        let c = rooms.place(b.peer.id, 0).expect("a place");
        rooms.said_bye(b.peer.id);
        rooms.leave(b.peer.id);
        assert_eq!(rooms.resume(&c), Err(ErrorCode::TokenUsed));
    }

    #[test]
    fn a_resume_needs_space_and_newcomers_never_get_a_resumed_id() {
        let mut rooms = Rooms::numbered_from(0);
        let ids: Vec<_> = (0..4)
            .map(|i| rooms.join(&invite("r", Role::Patient, &format!("n{i}"), 1), 0))
            .map(|j| j.expect("joins").peer.id)
            .collect();
        let place = Place {
            peer: PeerId(70),
            room: "r".parse().expect("room"),
            role: Role::Patient,
            nonce: "old".into(),
            seat: 7,
            invite_exp: 99,
            exp: 99,
        };
        assert_eq!(rooms.resume(&place), Err(ErrorCode::RoomFull));
        rooms.leave(ids[0]);
        assert!(!rooms.resume(&place).expect("space now").kept);
        rooms.leave(ids[1]);
        let next = rooms
            .join(&invite("r", Role::Patient, "n9", 1), 0)
            .expect("joins");
        assert_eq!(next.peer.id, PeerId(71), "past the resumed id");
    }

    #[test]
    fn relays_cross_no_room_boundary() {
        let mut rooms = Rooms::new();
        let a = rooms
            .join(&invite("r1", Role::Clinician, "a", 1), 0)
            .expect("joins");
        let b = rooms
            .join(&invite("r2", Role::Patient, "b", 1), 0)
            .expect("joins");
        assert_eq!(
            rooms.check_relay(a.peer.id, b.peer.id),
            Err(ErrorCode::NoSuchPeer)
        );
        assert_eq!(
            rooms.check_relay(a.peer.id, PeerId(999)),
            Err(ErrorCode::NoSuchPeer)
        );
        assert_eq!(rooms.room_count(), 2);
        rooms.leave(a.peer.id);
        rooms.leave(b.peer.id);
        assert_eq!(rooms.room_count(), 0, "empty rooms are forgotten");
    }
}
