//! The receiving side of object transfers (`haven_proto::transfer::Incoming`), stateful: a
//! run of `bulk` messages from one peer, built from the input so that most of them are
//! plausible (manifests with the right hash, chunks in and out of place, resumes, cancels,
//! and now and then arbitrary bytes through the decoder). Whatever the order: no panic, a
//! completed object has the size and SHA-256 its manifest announced and came from a patient,
//! and nothing held is over the memory budget.
#![no_main]

use haven_proto::bulk::{self, Bulk, CancelReason, Manifest, ObjectId, ObjectKind};
use haven_proto::signal::Role;
use haven_proto::transfer::{Incoming, Received, manifest_for};
use libfuzzer_sys::fuzz_target;

/// Small objects and a small budget, so that the fuzzer reaches "over budget" and "whole".
const BUDGET: u64 = 6000;

/// The object `id`'s honest bytes.
fn object(id: u32, size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| (i as u32).wrapping_mul(31).wrapping_add(id) as u8)
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let sender = if data.first().is_some_and(|b| b & 1 == 1) {
        Role::Clinician
    } else {
        Role::Patient
    };
    let mut incoming = Incoming::new(BUDGET, sender);
    let mut sizes: [u64; 4] = [0; 4];
    let mut ops = data.get(1..).unwrap_or_default().chunks(4);
    for _ in 0..256 {
        let Some(op) = ops.next() else { break };
        let [kind, a, b, c] = [0, 1, 2, 3].map(|i| op.get(i).copied().unwrap_or(0));
        let id = u32::from(a & 3);
        let size = u64::from(b) * 16 + u64::from(c & 15);
        let message = match kind % 8 {
            0 | 1 => {
                let mut manifest =
                    manifest_for(ObjectId(id), ObjectKind::Dicom, &object(id, size as usize));
                if kind & 0x80 != 0 {
                    manifest.sha256[0] ^= 1; // a forged hash
                }
                sizes[id as usize] = size;
                Bulk::Manifest(manifest)
            }
            2..=4 => {
                // A chunk of the object as announced: at its place (or off by a little), and
                // sometimes corrupted.
                let whole = object(id, sizes[id as usize] as usize);
                let offset = (u64::from(b) * 37 + u64::from(c)) % (whole.len() as u64 + 2);
                let len = usize::from(c % 200) + 1;
                let from = (offset as usize).min(whole.len());
                let mut piece = whole[from..(from + len).min(whole.len())].to_vec();
                if kind & 0x40 != 0 && !piece.is_empty() {
                    piece[0] ^= 0xff;
                }
                Bulk::Chunk {
                    id: ObjectId(id),
                    offset,
                    data: piece,
                }
            }
            5 => Bulk::Resume(Manifest {
                id: ObjectId(id),
                kind: ObjectKind::Image,
                size,
                sha256: [b; 32],
            }),
            6 => Bulk::Cancel {
                id: ObjectId(id),
                reason: [
                    CancelReason::Revoked,
                    CancelReason::Declined,
                    CancelReason::Corrupt,
                ][usize::from(b % 3)],
            },
            _ => match bulk::decode(op) {
                Ok(message) => message,
                Err(_) => continue,
            },
        };
        match incoming.on_message(message) {
            Received::Complete { manifest, data } => {
                assert_eq!(
                    data.len() as u64,
                    manifest.size,
                    "a whole object has its size"
                );
                assert_eq!(
                    manifest.sha256,
                    *haven_proto::transfer::manifest_for(manifest.id, manifest.kind, &data)
                        .sha256
                        .as_ref(),
                    "a whole object has the hash its manifest announced"
                );
                assert_eq!(
                    sender,
                    Role::Patient,
                    "only a patient's objects are accepted"
                );
            }
            Received::Resume { held, .. } => {
                assert!(held <= BUDGET, "{held} bytes held, over the budget");
            }
            _ => {}
        }
    }
});
