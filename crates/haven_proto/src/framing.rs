//! The framing that `control` and `bulk` messages share: one byte of
//! [`DATA_VERSION`], then the message in postcard's compact binary form (varint variant index
//! first), checked against a size limit and the number of message kinds this build knows.

use serde::Serialize;
use thiserror::Error;

use crate::DATA_VERSION;

/// Why bytes on a data channel were not a message (shared by `control` and `bulk`; also
/// reachable as `control::ControlDecodeError`).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// Over the channel's limit.
    #[error("data-channel message of {size} bytes is over the {limit}-byte limit")]
    TooLarge {
        /// What arrived.
        size: usize,
        /// The channel's limit.
        limit: usize,
    },
    /// Empty.
    #[error("empty data-channel message")]
    Empty,
    /// Another wire version.
    #[error("data-channel version {0} is not supported (this build speaks {DATA_VERSION})")]
    UnsupportedVersion(u8),
    /// A message kind from a newer peer; skip it.
    #[error("unknown message kind {0}")]
    UnknownKind(u32),
    /// The fields do not parse, or bytes are left over.
    #[error("malformed data-channel message")]
    Malformed,
    /// The fields parse but break a rule of the format (a limit, a range).
    #[error("invalid data-channel message: {0}")]
    Invalid(&'static str),
}

/// Writes `version | postcard(value)`.
pub(crate) fn encode_versioned<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![DATA_VERSION];
    postcard::to_io(value, &mut out).expect("postcard writes to a Vec without failing");
    out
}

/// Reads `version | postcard(value)`, checking the limit, the version, the kind and that no
/// bytes are left over.
pub(crate) fn decode_versioned<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    limit: usize,
    known_kinds: u32,
) -> Result<T, DecodeError> {
    if bytes.len() > limit {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            limit,
        });
    }
    let (&version, body) = bytes.split_first().ok_or(DecodeError::Empty)?;
    if version != DATA_VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let (kind, _) = postcard::take_from_bytes::<u32>(body).map_err(|_| DecodeError::Malformed)?;
    if kind >= known_kinds {
        return Err(DecodeError::UnknownKind(kind));
    }
    match postcard::take_from_bytes::<T>(body) {
        Ok((value, [])) => Ok(value),
        _ => Err(DecodeError::Malformed),
    }
}

/// Inputs for the "hostile bytes never panic" property tests that reach the decoders: a valid
/// message with a few edits after its version byte (a byte changed, bytes cut off, inserted or
/// repeated), so that most pass the version check and the outer layout and reach the field
/// decoders, where arbitrary bytes rarely get.
#[cfg(test)]
pub(crate) mod hostile {
    use proptest::prelude::*;

    /// One edit: where (taken modulo the length), what, and which kind.
    pub(crate) type Edit = (usize, u8, u8);

    pub(crate) fn edits() -> impl Strategy<Value = Vec<Edit>> {
        prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..5), 1..6)
    }

    /// `valid` with `edits` applied to everything after its first `keep` bytes.
    pub(crate) fn apply(mut bytes: Vec<u8>, keep: usize, edits: &[Edit]) -> Vec<u8> {
        for &(at, byte, kind) in edits {
            let span = bytes.len().saturating_sub(keep);
            let at = keep + if span == 0 { 0 } else { at % span };
            match kind {
                0 if at < bytes.len() => bytes[at] = byte,
                1 if at < bytes.len() => bytes[at] ^= 1 << (byte % 8),
                2 => bytes.truncate(at.max(keep)),
                3 => bytes.insert(at.min(bytes.len()), byte),
                _ => {
                    // A length or count made huge: the varint's high bits set.
                    let at = at.min(bytes.len());
                    bytes.splice(at..at, [0xff, 0xff, 0xff, 0x0f]);
                }
            }
        }
        bytes
    }
}
