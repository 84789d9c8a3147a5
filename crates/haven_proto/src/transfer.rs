//! Object transfer over `bulk`, sans I/O: the receiving side's assembly (who may send, limits,
//! order, hash) and the sending side's chunking and acknowledgements ([`Outbound`]). Every
//! session backend (WebRTC, the loopback hub) feeds these with messages and sends what they
//! return; they never touch a socket or a clock. It lives beside the wire format, with no
//! native dependency, so that its fuzz target builds in moments.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::bulk::{self, Bulk, CancelReason, MAX_CHUNK, Manifest, ObjectId};
use crate::signal::Role;
use sha2::{Digest as _, Sha256};

/// Acknowledge at least this often (bytes), so a sender knows where to resume.
pub const ACK_EVERY: u64 = 1024 * 1024;

/// What the receiving side makes of one `bulk` message.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// Nothing to report yet.
    Nothing,
    /// Progress: send this ack back.
    Progress {
        /// The object.
        id: ObjectId,
        /// Bytes held.
        received: u64,
        /// Its size.
        size: u64,
    },
    /// The whole object, its hash checked.
    Complete {
        /// Its manifest.
        manifest: Manifest,
        /// Its bytes.
        data: Vec<u8>,
    },
    /// The object was refused or broken; send this cancel back.
    Refused {
        /// The object.
        id: ObjectId,
        /// Why.
        reason: CancelReason,
        /// For the log and the person (no contents).
        why: &'static str,
    },
    /// The sender cancelled; whatever was held of it is gone.
    Cancelled(ObjectId),
    /// The sender asked to resume after a reconnect: send an ack for `held` bytes back.
    Resume {
        /// The object.
        id: ObjectId,
        /// Bytes held from the start (the whole size for an object that already arrived).
        held: u64,
    },
}

/// How many arrived (and how many dropped) objects each peer's [`Incoming`] remembers, so a
/// resume of one is answered "all here" and the tail of a dropped one is ignored quietly.
const REMEMBER_ARRIVED: usize = 256;

struct Partial {
    manifest: Manifest,
    data: Vec<u8>,
    hasher: Sha256,
    acked: u64,
}

/// Assembles incoming objects from one peer, within a memory budget. It outlives a peer
/// connection (a reconnect builds a new one), so a transfer can resume where it stopped. A
/// peer whose role may not send objects has every object refused at its manifest
/// ([`CancelReason::Forbidden`]), before anything of it is held.
pub struct Incoming {
    /// Whether the sender's role may send objects at all.
    accepts: bool,
    partial: HashMap<ObjectId, Partial>,
    /// Ids and hashes of the last objects that arrived whole.
    arrived: VecDeque<(ObjectId, [u8; 32])>,
    /// Ids of the last objects refused or cancelled: what was already on the way is ignored.
    dropped: VecDeque<ObjectId>,
    budget: u64,
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming")
            .field("objects", &self.partial.len())
            .field("budget", &self.budget)
            .field("accepts", &self.accepts)
            .finish()
    }
}

impl Incoming {
    /// Accepts objects from a peer in role `sender` (if that role
    /// [may send any](bulk::may_send_objects)) while their announced sizes add up to at most
    /// `budget` bytes.
    pub fn new(budget: u64, sender: Role) -> Self {
        Self {
            accepts: bulk::may_send_objects(sender),
            partial: HashMap::new(),
            arrived: VecDeque::new(),
            dropped: VecDeque::new(),
            budget,
        }
    }

    fn in_flight(&self) -> u64 {
        self.partial.values().map(|p| p.manifest.size).sum()
    }

    /// Starts holding a newly announced object; `Err` when it is refused or already whole.
    fn start(&mut self, manifest: Manifest) -> Result<(), Received> {
        let id = manifest.id;
        if self.in_flight() + manifest.size > self.budget {
            return Err(refused(
                id,
                CancelReason::Declined,
                "over the memory budget",
            ));
        }
        let p = Partial {
            // Grows with the data: a manifest alone reserves nothing.
            data: Vec::new(),
            hasher: Sha256::new(),
            acked: 0,
            manifest,
        };
        if p.manifest.size == 0 {
            return Err(self.finish(p));
        }
        self.partial.insert(id, p);
        Ok(())
    }

    /// Takes one decoded message.
    pub fn on_message(&mut self, message: Bulk) -> Received {
        let received = self.take(message);
        if let Received::Refused { id, .. } | Received::Cancelled(id) = received {
            self.remember_dropped(id);
        }
        received
    }

    fn remember_dropped(&mut self, id: ObjectId) {
        if self.dropped.contains(&id) {
            return;
        }
        if self.dropped.len() == REMEMBER_ARRIVED {
            self.dropped.pop_front();
        }
        self.dropped.push_back(id);
    }

    fn take(&mut self, message: Bulk) -> Received {
        match message {
            // The tail of an object already cancelled or refused (a send that raced the
            // cancel) starts nothing.
            Bulk::Manifest(manifest) if self.dropped.contains(&manifest.id) => Received::Nothing,
            Bulk::Resume(manifest) if self.dropped.contains(&manifest.id) => refused(
                manifest.id,
                CancelReason::Declined,
                "resumed after it was cancelled",
            ),
            // Refused at its announcement: not a byte of it is held.
            Bulk::Manifest(manifest) | Bulk::Resume(manifest) if !self.accepts => refused(
                manifest.id,
                CancelReason::Forbidden,
                "the sender's role may not send objects",
            ),
            Bulk::Manifest(manifest) => {
                let id = manifest.id;
                if self.partial.remove(&id).is_some() {
                    return refused(id, CancelReason::Corrupt, "object id announced twice");
                }
                match self.start(manifest) {
                    Ok(()) => Received::Nothing,
                    Err(done_or_refused) => done_or_refused,
                }
            }
            Bulk::Resume(manifest) => {
                let id = manifest.id;
                if let Some(p) = self.partial.get(&id) {
                    if p.manifest != manifest {
                        self.partial.remove(&id);
                        return refused(id, CancelReason::Corrupt, "resumed as another object");
                    }
                    return Received::Resume {
                        id,
                        held: p.data.len() as u64,
                    };
                }
                if self.arrived.contains(&(id, manifest.sha256)) {
                    return Received::Resume {
                        id,
                        held: manifest.size,
                    };
                }
                // Nothing held (it was announced while the connection broke): from the start.
                match self.start(manifest) {
                    Ok(()) => Received::Resume { id, held: 0 },
                    // An empty object is whole at once (its final ack answers), or refused.
                    Err(done_or_refused) => done_or_refused,
                }
            }
            Bulk::Chunk { id, offset, data } => {
                let Some(p) = self.partial.get_mut(&id) else {
                    if self.dropped.contains(&id) {
                        // The rest of an object already refused or cancelled.
                        return Received::Nothing;
                    }
                    return refused(id, CancelReason::Corrupt, "chunk for an unknown object");
                };
                let end = offset + data.len() as u64;
                let held = p.data.len() as u64;
                if offset > held || end > p.manifest.size {
                    self.partial.remove(&id);
                    return refused(id, CancelReason::Corrupt, "chunk out of place");
                }
                if end <= held {
                    // Sent again after a reconnect: already held.
                    return Received::Nothing;
                }
                // Only the part not yet held (offset ≤ held < end, so this is in range).
                let new = &data[usize::try_from(held - offset).unwrap_or(0)..];
                p.hasher.update(new);
                p.data.extend_from_slice(new);
                if end == p.manifest.size {
                    let p = self.partial.remove(&id).expect("present above");
                    return self.finish(p);
                }
                if end - p.acked >= ACK_EVERY {
                    p.acked = end;
                    return Received::Progress {
                        id,
                        received: end,
                        size: p.manifest.size,
                    };
                }
                Received::Nothing
            }
            Bulk::Cancel { id, .. } => {
                // Remembered even when nothing is held yet: a manifest that raced it is
                // then ignored.
                self.remember_dropped(id);
                if self.partial.remove(&id).is_some() {
                    Received::Cancelled(id)
                } else {
                    Received::Nothing
                }
            }
            // Acks are for the sending side.
            Bulk::Ack { .. } => Received::Nothing,
        }
    }

    fn finish(&mut self, p: Partial) -> Received {
        let digest: [u8; 32] = p.hasher.finalize().into();
        if digest != p.manifest.sha256 {
            return refused(p.manifest.id, CancelReason::Corrupt, "SHA-256 mismatch");
        }
        if self.arrived.len() == REMEMBER_ARRIVED {
            self.arrived.pop_front();
        }
        self.arrived.push_back((p.manifest.id, digest));
        Received::Complete {
            manifest: p.manifest,
            data: p.data,
        }
    }

    /// Drops everything held (the peer left, or the consult ended).
    pub fn purge(&mut self) {
        self.partial.clear();
    }

    /// Whether part of object `id` is held.
    pub fn holds(&self, id: ObjectId) -> bool {
        self.partial.contains_key(&id)
    }
}

fn refused(id: ObjectId, reason: CancelReason, why: &'static str) -> Received {
    Received::Refused { id, reason, why }
}

/// What an object's sender makes of the receiver's acknowledgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckOutcome {
    /// Nothing to do (progress noted).
    Nothing,
    /// Every byte arrived and its hash was checked: the object is delivered.
    Delivered,
    /// The answer to a resume: go on from this byte.
    ResumeFrom(u64),
}

/// An object on its way, on the sending side. It is kept until the receiver acknowledges every
/// byte, so a transfer broken by a reconnect can go on from what the receiver holds.
#[derive(Debug)]
pub struct Outbound {
    manifest: Manifest,
    data: Arc<Vec<u8>>,
    /// Bytes the receiver said it holds.
    acked: u64,
    /// A `Resume` went out; the receiver's ack says where to go on.
    resuming: bool,
}

impl Outbound {
    /// A new object to send.
    pub fn new(manifest: Manifest, data: Arc<Vec<u8>>) -> Self {
        Self {
            manifest,
            data,
            acked: 0,
            resuming: false,
        }
    }

    /// Its manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Its bytes.
    pub fn data(&self) -> &Arc<Vec<u8>> {
        &self.data
    }

    /// Bytes the receiver said it holds.
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Whether a resume was asked and not answered yet.
    pub fn resuming(&self) -> bool {
        self.resuming
    }

    /// After a reconnect: the `Resume` to send; the receiver's ack says where to go on.
    pub fn resume(&mut self) -> Bulk {
        self.resuming = true;
        Bulk::Resume(self.manifest.clone())
    }

    /// The connection broke (again): a resume asked before is not waited for.
    pub fn pause(&mut self) {
        self.resuming = false;
    }

    /// The receiver holds `received` bytes from the start.
    pub fn on_ack(&mut self, received: u64) -> AckOutcome {
        let received = received.min(self.manifest.size);
        self.acked = if self.resuming {
            // The answer to a resume is what the receiver holds now, even if less than it
            // acked before (it may have dropped a partial object).
            received
        } else {
            self.acked.max(received)
        };
        if self.acked == self.manifest.size {
            AckOutcome::Delivered
        } else if std::mem::take(&mut self.resuming) {
            AckOutcome::ResumeFrom(self.acked)
        } else {
            AckOutcome::Nothing
        }
    }
}

/// Why the receiver cancelled an object we send, for the sender's
/// `ObjectCancelled` (no contents).
pub fn refusal_why(reason: CancelReason) -> &'static str {
    match reason {
        CancelReason::Forbidden => "refused by the receiver: this role may not send objects",
        _ => "declined by the receiver",
    }
}

/// The messages that send `data` as a new object: its manifest, then every chunk.
pub fn outgoing<'a>(manifest: &'a Manifest, data: &'a [u8]) -> impl Iterator<Item = Bulk> + 'a {
    std::iter::once(Bulk::Manifest(manifest.clone())).chain(chunks_from(manifest, data, 0))
}

/// The chunks of `data` from byte `from` on (an acknowledged offset, when resuming).
pub fn chunks_from<'a>(
    manifest: &'a Manifest,
    data: &'a [u8],
    from: u64,
) -> impl Iterator<Item = Bulk> + 'a {
    let start = usize::try_from(from).unwrap_or(usize::MAX).min(data.len());
    data[start..]
        .chunks(MAX_CHUNK)
        .enumerate()
        .map(move |(i, chunk)| Bulk::Chunk {
            id: manifest.id,
            offset: (start + i * MAX_CHUNK) as u64,
            data: chunk.to_vec(),
        })
}

/// A manifest for `data`.
pub fn manifest_for(id: ObjectId, kind: bulk::ObjectKind, data: &[u8]) -> Manifest {
    Manifest {
        id,
        kind,
        size: data.len() as u64,
        sha256: Sha256::digest(data).into(),
    }
}

#[cfg(test)]
mod tests {
    use crate::bulk::ObjectKind;

    use super::*;

    fn object(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn an_object_arrives_whole_with_acks_on_the_way() {
        let data = object(3 * 1024 * 1024 + 17);
        let m = manifest_for(ObjectId(1), ObjectKind::Image, &data);
        let mut inc = Incoming::new(64 * 1024 * 1024, Role::Patient);
        let mut acks = 0;
        let mut done = None;
        for msg in outgoing(&m, &data) {
            match inc.on_message(msg) {
                Received::Progress { .. } => acks += 1,
                Received::Complete { manifest, data } => done = Some((manifest, data)),
                Received::Nothing => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(acks, 3);
        let (manifest, got) = done.expect("complete");
        assert_eq!(manifest, m);
        assert_eq!(got, data);
    }

    #[test]
    fn corruption_gaps_and_budget_are_refused() {
        let data = object(100_000);
        let mut m = manifest_for(ObjectId(2), ObjectKind::Image, &data);
        // A forged hash.
        m.sha256[0] ^= 1;
        let mut inc = Incoming::new(1 << 20, Role::Patient);
        let last = outgoing(&m, &data).map(|msg| inc.on_message(msg)).last();
        assert!(matches!(
            last,
            Some(Received::Refused {
                reason: CancelReason::Corrupt,
                ..
            })
        ));

        // A gap: the second chunk skipped.
        let m = manifest_for(ObjectId(3), ObjectKind::Image, &data);
        let mut msgs = outgoing(&m, &data);
        assert_eq!(
            inc.on_message(msgs.next().expect("manifest")),
            Received::Nothing
        );
        inc.on_message(msgs.next().expect("chunk 0"));
        let _skipped = msgs.next();
        assert!(matches!(
            inc.on_message(msgs.next().expect("chunk 2")),
            Received::Refused { .. }
        ));

        // Over budget.
        let mut small = Incoming::new(1000, Role::Patient);
        let m = manifest_for(ObjectId(4), ObjectKind::Image, &data);
        assert!(matches!(
            small.on_message(Bulk::Manifest(m)),
            Received::Refused {
                reason: CancelReason::Declined,
                ..
            }
        ));
    }

    #[test]
    fn a_broken_transfer_resumes_where_it_stopped() {
        let data = object(ACK_EVERY as usize * 2 + 50_000);
        let m = manifest_for(ObjectId(5), ObjectKind::Dicom, &data);
        let mut inc = Incoming::new(64 << 20, Role::Patient);
        // The connection breaks after 70 chunks (about 1.1 MiB); the sender saw one ack.
        let mut acked = 0;
        for msg in outgoing(&m, &data).take(71) {
            if let Received::Progress { received, .. } = inc.on_message(msg) {
                acked = received;
            }
        }
        assert_eq!(acked, ACK_EVERY);
        let held = 70 * MAX_CHUNK as u64;
        assert_eq!(
            inc.on_message(Bulk::Resume(m.clone())),
            Received::Resume { id: m.id, held }
        );
        // The sender goes on from its last ack (behind what is held): the overlap is skipped.
        let mut done = None;
        for msg in chunks_from(&m, &data, acked) {
            if let Received::Complete { data, .. } = inc.on_message(msg) {
                done = Some(data);
            }
        }
        assert_eq!(done.expect("complete after the resume"), data);
        // Asked again (its final ack was lost), the object is all here.
        assert_eq!(
            inc.on_message(Bulk::Resume(m.clone())),
            Received::Resume {
                id: m.id,
                held: m.size
            }
        );
    }

    #[test]
    fn a_resume_of_an_unknown_object_starts_it_and_a_changed_one_is_refused() {
        let data = object(40_000);
        let m = manifest_for(ObjectId(6), ObjectKind::Image, &data);
        let mut inc = Incoming::new(1 << 20, Role::Patient);
        assert_eq!(
            inc.on_message(Bulk::Resume(m.clone())),
            Received::Resume { id: m.id, held: 0 }
        );
        let mut last = Received::Nothing;
        for msg in chunks_from(&m, &data, 0) {
            last = inc.on_message(msg);
        }
        assert!(matches!(last, Received::Complete { .. }), "{last:?}");

        let m = manifest_for(ObjectId(7), ObjectKind::Image, &data);
        let mut chunks = outgoing(&m, &data);
        inc.on_message(chunks.next().expect("manifest"));
        inc.on_message(chunks.next().expect("chunk 0"));
        let mut changed = m.clone();
        changed.sha256[3] ^= 0xff;
        assert!(matches!(
            inc.on_message(Bulk::Resume(changed)),
            Received::Refused {
                reason: CancelReason::Corrupt,
                ..
            }
        ));
        assert!(!inc.holds(m.id));
        // A chunk that skips ahead of what is held is still a gap.
        let m = manifest_for(ObjectId(8), ObjectKind::Image, &data);
        inc.on_message(Bulk::Manifest(m.clone()));
        let ahead = chunks_from(&m, &data, MAX_CHUNK as u64)
            .next()
            .expect("chunk 1");
        assert!(matches!(inc.on_message(ahead), Received::Refused { .. }));
    }

    #[test]
    fn a_cancel_drops_what_is_held_and_only_that() {
        let data = object(40_000);
        let m = manifest_for(ObjectId(9), ObjectKind::Fhir, &data);
        let mut inc = Incoming::new(1 << 20, Role::Patient);
        let mut msgs = outgoing(&m, &data);
        inc.on_message(msgs.next().expect("manifest"));
        inc.on_message(msgs.next().expect("chunk 0"));
        let cancel = |id| Bulk::Cancel {
            id,
            reason: CancelReason::Revoked,
        };
        assert_eq!(inc.on_message(cancel(m.id)), Received::Cancelled(m.id));
        assert!(!inc.holds(m.id));
        // The rest of it, already on the way, is ignored, not assembled or refused again.
        assert_eq!(
            inc.on_message(msgs.next().expect("chunk 1")),
            Received::Nothing
        );
        assert!(!inc.holds(m.id));
        // A chunk for an object never announced is still an error.
        let stray = chunks_from(&m, &data, 0).next().expect("chunk 0");
        let Bulk::Chunk { offset, data, .. } = stray else {
            unreachable!("chunks_from yields chunks")
        };
        assert!(matches!(
            inc.on_message(Bulk::Chunk {
                id: ObjectId(77),
                offset,
                data
            }),
            Received::Refused { .. }
        ));
        // A cancel for nothing held yet is not news, but the object it names is not started
        // by a manifest that raced it, nor resumed.
        assert_eq!(inc.on_message(cancel(ObjectId(99))), Received::Nothing);
        let late = Manifest {
            id: ObjectId(99),
            ..m.clone()
        };
        assert_eq!(
            inc.on_message(Bulk::Manifest(late.clone())),
            Received::Nothing
        );
        assert!(!inc.holds(ObjectId(99)));
        assert!(matches!(
            inc.on_message(Bulk::Resume(late)),
            Received::Refused {
                reason: CancelReason::Declined,
                ..
            }
        ));
    }

    #[test]
    fn a_role_that_may_not_send_objects_is_refused_at_the_manifest() {
        let data = object(100_000);
        let m = manifest_for(ObjectId(10), ObjectKind::Image, &data);
        for role in [Role::Clinician, Role::Therapist] {
            let mut inc = Incoming::new(1 << 20, role);
            let mut msgs = outgoing(&m, &data);
            assert_eq!(
                inc.on_message(msgs.next().expect("manifest")),
                refused(
                    m.id,
                    CancelReason::Forbidden,
                    "the sender's role may not send objects"
                )
            );
            assert!(!inc.holds(m.id));
            // The chunks already on the way are ignored quietly: no second refusal per chunk.
            for msg in msgs {
                assert_eq!(inc.on_message(msg), Received::Nothing);
            }
            assert!(!inc.holds(m.id));
            // Nor can a resume start it.
            let other = manifest_for(ObjectId(11), ObjectKind::Image, &data);
            assert!(matches!(
                inc.on_message(Bulk::Resume(other)),
                Received::Refused {
                    reason: CancelReason::Forbidden,
                    ..
                }
            ));
        }
    }

    #[test]
    fn the_sender_is_done_at_the_final_ack_and_resumes_from_what_is_held() {
        let data = Arc::new(object(50_000));
        let m = manifest_for(ObjectId(12), ObjectKind::Fhir, &data);
        let mut out = Outbound::new(m.clone(), Arc::clone(&data));
        assert_eq!(out.on_ack(20_000), AckOutcome::Nothing);
        // A stale, smaller ack does not move it back.
        assert_eq!(out.on_ack(10_000), AckOutcome::Nothing);
        assert_eq!(out.acked(), 20_000);
        assert_eq!(out.resume(), Bulk::Resume(m.clone()));
        // The answer to a resume is taken as is, even below the last ack.
        assert_eq!(out.on_ack(16_384), AckOutcome::ResumeFrom(16_384));
        assert!(!out.resuming());
        assert_eq!(out.on_ack(m.size + 5), AckOutcome::Delivered);
    }
}
