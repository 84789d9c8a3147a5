//! Rooms and who is in them: the server's only state, kept without I/O so it can be tested
//! step by step.
//!
//! A checked invite joins its holder to the room it names, in the role it names, while the room
//! has fewer than [`MAX_ROOM_PEERS`] peers and the invite has joins left. Relaying is allowed
//! only between two different peers of one room.

use std::collections::HashMap;

use haven_proto::invite::Invite;
use haven_proto::signal::{ErrorCode, MAX_ROOM_PEERS, PeerId, PeerInfo, Role, RoomId};

#[derive(Debug)]
struct Member {
    room: RoomId,
    role: Role,
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

/// Every room on the server.
#[derive(Debug, Default)]
pub struct Rooms {
    rooms: HashMap<RoomId, Vec<PeerId>>,
    members: HashMap<PeerId, Member>,
    uses: HashMap<String, Uses>,
    /// Invites revoked by id (`haven invite --revoke`), with their expiry.
    revoked: HashMap<String, u64>,
    next_id: u64,
}

impl Rooms {
    /// No rooms.
    pub fn new() -> Self {
        Self::default()
    }

    /// Joins already counted for invite `id` (remembered across a restart).
    pub fn remember_uses(&mut self, id: &str, count: u32, exp: u64) {
        self.uses.insert(id.to_owned(), Uses { count, exp });
    }

    /// Invites revoked by id: refused from now on, as used up.
    pub fn set_revoked(&mut self, revoked: HashMap<String, u64>) {
        self.revoked = revoked;
    }

    /// Joins the holder of a checked invite to its room.
    pub fn join(&mut self, invite: &Invite, now_unix: u64) -> Result<Joined, ErrorCode> {
        self.forget_expired(now_unix);
        if self.revoked.contains_key(&invite.nonce) {
            return Err(ErrorCode::TokenUsed);
        }
        let room = self.rooms.entry(invite.room.clone()).or_default();
        if room.len() >= MAX_ROOM_PEERS {
            if room.is_empty() {
                self.rooms.remove(&invite.room);
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
            }
            return Err(ErrorCode::TokenUsed);
        }
        uses.count += 1;
        self.next_id += 1;
        let id = PeerId(self.next_id);
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
        }
        left
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
