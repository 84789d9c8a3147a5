//! Object transfer over `bulk`, sans I/O: the receiving side's assembly (limits, order, hash)
//! and the sending side's chunking. The backend feeds these with bytes and sends what they
//! return; they never touch a socket or a clock.

use std::collections::HashMap;

use haven_proto::bulk::{Bulk, CancelReason, MAX_CHUNK, Manifest, ObjectId};
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
}

struct Partial {
    manifest: Manifest,
    data: Vec<u8>,
    hasher: Sha256,
    acked: u64,
}

/// Assembles incoming objects from one peer, within a memory budget.
pub struct Incoming {
    partial: HashMap<ObjectId, Partial>,
    budget: u64,
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming")
            .field("objects", &self.partial.len())
            .field("budget", &self.budget)
            .finish()
    }
}

impl Incoming {
    /// Accepts objects while their announced sizes add up to at most `budget` bytes.
    pub fn new(budget: u64) -> Self {
        Self {
            partial: HashMap::new(),
            budget,
        }
    }

    fn in_flight(&self) -> u64 {
        self.partial.values().map(|p| p.manifest.size).sum()
    }

    /// Takes one decoded message.
    pub fn on_message(&mut self, message: Bulk) -> Received {
        match message {
            Bulk::Manifest(manifest) => {
                let id = manifest.id;
                if self.partial.contains_key(&id) {
                    self.partial.remove(&id);
                    return refused(id, CancelReason::Corrupt, "object id announced twice");
                }
                if self.in_flight() + manifest.size > self.budget {
                    return refused(id, CancelReason::Declined, "over the memory budget");
                }
                if manifest.size == 0 {
                    return self.finish(Partial {
                        manifest,
                        data: Vec::new(),
                        hasher: Sha256::new(),
                        acked: 0,
                    });
                }
                self.partial.insert(
                    id,
                    Partial {
                        // Grows with the data: a manifest alone reserves nothing.
                        data: Vec::new(),
                        hasher: Sha256::new(),
                        acked: 0,
                        manifest,
                    },
                );
                Received::Nothing
            }
            Bulk::Chunk { id, offset, data } => {
                let Some(p) = self.partial.get_mut(&id) else {
                    return refused(id, CancelReason::Corrupt, "chunk for an unknown object");
                };
                let end = offset + data.len() as u64;
                if offset != p.data.len() as u64 || end > p.manifest.size {
                    self.partial.remove(&id);
                    return refused(id, CancelReason::Corrupt, "chunk out of place");
                }
                p.hasher.update(&data);
                p.data.extend_from_slice(&data);
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
                self.partial.remove(&id);
                Received::Cancelled(id)
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
        Received::Complete {
            manifest: p.manifest,
            data: p.data,
        }
    }

    /// Drops everything held (the peer left, or the consult ended).
    pub fn purge(&mut self) {
        self.partial.clear();
    }
}

fn refused(id: ObjectId, reason: CancelReason, why: &'static str) -> Received {
    Received::Refused { id, reason, why }
}

/// The messages that send `data` as object `id`, from byte `from` on (0, or an acked offset
/// when resuming).
pub fn outgoing<'a>(
    manifest: &'a Manifest,
    data: &'a [u8],
    from: u64,
) -> impl Iterator<Item = Bulk> + 'a {
    let start = usize::try_from(from).unwrap_or(usize::MAX).min(data.len());
    let head = (from == 0).then(|| Bulk::Manifest(manifest.clone()));
    head.into_iter().chain(
        data[start..]
            .chunks(MAX_CHUNK)
            .enumerate()
            .map(move |(i, chunk)| Bulk::Chunk {
                id: manifest.id,
                offset: (start + i * MAX_CHUNK) as u64,
                data: chunk.to_vec(),
            }),
    )
}

/// A manifest for `data`.
pub fn manifest_for(id: ObjectId, kind: haven_proto::bulk::ObjectKind, data: &[u8]) -> Manifest {
    Manifest {
        id,
        kind,
        size: data.len() as u64,
        sha256: Sha256::digest(data).into(),
    }
}

#[cfg(test)]
mod tests {
    use haven_proto::bulk::ObjectKind;

    use super::*;

    fn object(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn an_object_arrives_whole_with_acks_on_the_way() {
        let data = object(3 * 1024 * 1024 + 17);
        let m = manifest_for(ObjectId(1), ObjectKind::Image, &data);
        let mut inc = Incoming::new(64 * 1024 * 1024);
        let mut acks = 0;
        let mut done = None;
        for msg in outgoing(&m, &data, 0) {
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
        let mut inc = Incoming::new(1 << 20);
        let last = outgoing(&m, &data, 0).map(|msg| inc.on_message(msg)).last();
        assert!(matches!(
            last,
            Some(Received::Refused {
                reason: CancelReason::Corrupt,
                ..
            })
        ));

        // A gap: the second chunk skipped.
        let m = manifest_for(ObjectId(3), ObjectKind::Image, &data);
        let mut msgs = outgoing(&m, &data, 0);
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
        let mut small = Incoming::new(1000);
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
    fn resuming_sends_only_the_rest() {
        let data = object(50_000);
        let m = manifest_for(ObjectId(5), ObjectKind::Fhir, &data);
        let rest: Vec<_> = outgoing(&m, &data, 32_768).collect();
        assert!(matches!(rest[0], Bulk::Chunk { offset: 32_768, .. }));
        assert_eq!(rest.len(), 2);
    }
}
