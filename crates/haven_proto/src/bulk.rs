//! Object framing on the reliable, ordered `bulk` data channel.
//!
//! The sender announces an object with a [`Manifest`] (id, kind, size, SHA-256), then sends it
//! as [`Bulk::Chunk`]s of at most [`MAX_CHUNK`] bytes. The receiver acknowledges with
//! [`Bulk::Ack`] (how many bytes from the start it holds). After a reconnect the sender asks
//! with [`Bulk::Resume`] (the same manifest again); the receiver answers with an `Ack` for what
//! it still holds and the sender goes on from there. Either side may [`Bulk::Cancel`]: the
//! sender with [`CancelReason::Revoked`] (the patient took it back), the receiver with
//! `Declined` or `Corrupt`; object ids are chosen by each sender, so the reason says whose
//! object a cancel is about. The receiver checks the hash before anything is
//! shown, and its final `Ack` (every byte) says the object arrived whole.
//!
//! Only a peer whose role [may send objects](may_send_objects) (the patient) sends any: a
//! receiver refuses an object from anyone else at its manifest, before a byte of it is held.
//!
//! Wire form: one byte of [`DATA_VERSION`](crate::DATA_VERSION), then postcard.

use serde::{Deserialize, Serialize};

use crate::framing::{DecodeError, decode_versioned, encode_versioned};
use crate::signal::Role;

/// The largest chunk payload, in bytes (16 KiB: the size every WebRTC stack delivers whole).
pub const MAX_CHUNK: usize = 16 * 1024;
/// The largest `bulk` message: a full chunk plus its header.
pub const MAX_BULK_MESSAGE: usize = MAX_CHUNK + 64;
/// The largest object a peer may announce (256 MiB).
pub const MAX_OBJECT_SIZE: u64 = 256 * 1024 * 1024;

/// An object's id, chosen by its sender: unique among everything that sender sends in the
/// session (a receiver ignores a manifest for an id it has seen cancelled).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectId(pub u32);

/// What an object is, so the receiver picks the right decoder (each with its own limits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ObjectKind {
    /// PNG, JPEG or WebP, metadata stripped.
    Image,
    /// DICOM, de-identified.
    Dicom,
    /// FHIR R4 JSON.
    Fhir,
}

/// Announces an object before its chunks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The object's id.
    pub id: ObjectId,
    /// What it is.
    pub kind: ObjectKind,
    /// Its size in bytes (at most [`MAX_OBJECT_SIZE`]).
    pub size: u64,
    /// SHA-256 of the whole object.
    pub sha256: [u8; 32],
}

/// Why a transfer was cancelled. `Revoked` comes only from the object's sender, the others
/// only from its receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CancelReason {
    /// The patient took it back.
    Revoked,
    /// The receiver does not want it (closed, out of memory budget).
    Declined,
    /// The data did not match its manifest.
    Corrupt,
    /// The sender's role may not send objects ([`may_send_objects`]).
    Forbidden,
}

/// Whether a peer in `role` may send objects on `bulk`: only the patient shares (images,
/// records). Every receiver checks it at the manifest, before it holds any of the object.
pub fn may_send_objects(role: Role) -> bool {
    role == Role::Patient
}

/// A `bulk` message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Bulk {
    /// A new object follows.
    Manifest(Manifest),
    /// Bytes `offset .. offset + data.len()` of an object.
    Chunk {
        /// The object.
        id: ObjectId,
        /// Where these bytes go.
        offset: u64,
        /// At most [`MAX_CHUNK`] bytes.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// The receiver holds the first `received` bytes of the object.
    Ack {
        /// The object.
        id: ObjectId,
        /// Contiguous bytes held from the start.
        received: u64,
    },
    /// Stop sending (or stop expecting) this object.
    Cancel {
        /// The object.
        id: ObjectId,
        /// Why.
        reason: CancelReason,
    },
    /// After a reconnect: the sender would go on with this object. The receiver answers with an
    /// [`Bulk::Ack`] of what it holds (0 when it holds nothing and takes it from the start).
    Resume(Manifest),
}

const KNOWN_KINDS: u32 = 5;

/// Encodes a message.
pub fn encode(message: &Bulk) -> Vec<u8> {
    encode_versioned(message)
}

/// Decodes a message and checks the format's limits (chunk size, object size, offsets).
pub fn decode(bytes: &[u8]) -> Result<Bulk, DecodeError> {
    let message: Bulk = decode_versioned(bytes, MAX_BULK_MESSAGE, KNOWN_KINDS)?;
    match &message {
        Bulk::Manifest(m) | Bulk::Resume(m) if m.size > MAX_OBJECT_SIZE => {
            Err(DecodeError::Invalid("object larger than the limit"))
        }
        Bulk::Chunk { data, .. } if data.len() > MAX_CHUNK => {
            Err(DecodeError::Invalid("chunk larger than the limit"))
        }
        Bulk::Chunk { offset, data, .. }
            if offset.saturating_add(data.len() as u64) > MAX_OBJECT_SIZE =>
        {
            Err(DecodeError::Invalid("chunk beyond the largest object"))
        }
        _ => Ok(message),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::framing::hostile;

    fn bulk() -> impl Strategy<Value = Bulk> {
        let id = any::<u32>().prop_map(ObjectId);
        prop_oneof![
            (id.clone(), 0..=MAX_OBJECT_SIZE, any::<[u8; 32]>(), 0..3u8).prop_map(
                |(id, size, sha256, k)| Bulk::Manifest(Manifest {
                    id,
                    kind: [ObjectKind::Image, ObjectKind::Dicom, ObjectKind::Fhir][usize::from(k)],
                    size,
                    sha256
                })
            ),
            (
                id.clone(),
                0..MAX_OBJECT_SIZE / 2,
                prop::collection::vec(any::<u8>(), 0..2048)
            )
                .prop_map(|(id, offset, data)| Bulk::Chunk { id, offset, data }),
            (id.clone(), any::<u64>()).prop_map(|(id, received)| Bulk::Ack { id, received }),
            id.clone().prop_map(|id| Bulk::Cancel {
                id,
                reason: CancelReason::Revoked
            }),
            (id, 0..=MAX_OBJECT_SIZE, any::<[u8; 32]>()).prop_map(|(id, size, sha256)| {
                Bulk::Resume(Manifest {
                    id,
                    kind: ObjectKind::Dicom,
                    size,
                    sha256,
                })
            }),
        ]
    }

    proptest! {
        #[test]
        fn round_trips(m in bulk()) {
            prop_assert_eq!(decode(&encode(&m)).expect("round trip"), m);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes);
        }

        /// Valid frames edited past their version byte: a typed error, or a frame within
        /// the format's limits that reads back the same.
        #[test]
        fn edited_frames_never_panic(m in bulk(), edits in hostile::edits()) {
            let bytes = hostile::apply(encode(&m), 1, &edits);
            if let Ok(read) = decode(&bytes) {
                if let Bulk::Chunk { data, offset, .. } = &read {
                    prop_assert!(data.len() <= MAX_CHUNK && *offset <= MAX_OBJECT_SIZE);
                }
                prop_assert_eq!(decode(&encode(&read)).expect("re-encodes"), read);
            }
        }
    }

    #[test]
    fn only_the_patient_sends_objects_and_a_refusal_says_so() {
        assert!(may_send_objects(Role::Patient));
        for role in [Role::Clinician, Role::Therapist] {
            assert!(!may_send_objects(role), "{role}");
        }
        let refusal = Bulk::Cancel {
            id: ObjectId(3),
            reason: CancelReason::Forbidden,
        };
        assert_eq!(decode(&encode(&refusal)).expect("round trip"), refusal);
    }

    #[test]
    fn a_full_chunk_fits_the_message_limit() {
        let m = Bulk::Chunk {
            id: ObjectId(u32::MAX),
            offset: MAX_OBJECT_SIZE - MAX_CHUNK as u64,
            data: vec![0xa5; MAX_CHUNK],
        };
        let bytes = encode(&m);
        assert!(bytes.len() <= MAX_BULK_MESSAGE, "{} bytes", bytes.len());
        assert_eq!(decode(&bytes).expect("decodes"), m);
    }

    #[test]
    fn limits_are_enforced() {
        let big = encode(&Bulk::Manifest(Manifest {
            id: ObjectId(1),
            kind: ObjectKind::Image,
            size: MAX_OBJECT_SIZE + 1,
            sha256: [0; 32],
        }));
        assert!(matches!(decode(&big), Err(DecodeError::Invalid(_))));
        let big_resume = encode(&Bulk::Resume(Manifest {
            id: ObjectId(1),
            kind: ObjectKind::Image,
            size: MAX_OBJECT_SIZE + 1,
            sha256: [0; 32],
        }));
        assert!(matches!(decode(&big_resume), Err(DecodeError::Invalid(_))));
        let past_end = encode(&Bulk::Chunk {
            id: ObjectId(1),
            offset: u64::MAX - 1,
            data: vec![1, 2, 3],
        });
        assert!(matches!(decode(&past_end), Err(DecodeError::Invalid(_))));
        // A length prefix that promises more than arrives is malformed, not a huge allocation.
        let mut lying = encode(&Bulk::Chunk {
            id: ObjectId(1),
            offset: 0,
            data: vec![1; 10],
        });
        lying.truncate(lying.len() - 5);
        assert_eq!(decode(&lying), Err(DecodeError::Malformed));
    }
}
