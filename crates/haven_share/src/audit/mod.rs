//! The audit log: hash-chained, signed, append-only, kept by both sides of a consult.
//!
//! # Format
//!
//! JSON lines, one entry a line, each line ending in `\n`:
//!
//! ```text
//! {"seq":0,"time":…,"action":"start","actor":"patient","object":"<session id>","object_sha256":"00…","session":"<session id>","public_key":"<hex>","prev":"00…","hash":"<hex>","sig":"<hex>"}
//! {"seq":1,"time":…,"action":"share","actor":"patient","object":"<share id>","object_sha256":"<hex>","prev":"<hash of 0>","hash":"<hex>","sig":"<hex>"}
//! …
//! {"seq":n,"time":…,"action":"close",…}
//! ```
//!
//! - The first entry (the header) carries the session id and the Ed25519 public key of a key
//!   pair made for this session alone; every entry is signed with it.
//! - `hash` = SHA-256 of the entry's canonical encoding (below), which includes `prev`, the
//!   previous entry's `hash` (zeros for the header): changing, dropping or moving any entry
//!   breaks the chain from there on.
//! - `sig` = Ed25519 signature over the 32 bytes of `hash`.
//! - `object` is an opaque id (a share or object id: `[A-Za-z0-9._:-]`, at most 128
//!   characters), never patient data; `object_sha256` is the digest of the object's bytes.
//! - `actor` is the role's wire name ([`Role`]): `patient`, `clinician` or `therapist`.
//! - `time` is unix seconds given by the caller: nothing here reads a clock (sans-IO), except
//!   [`AuditWriter`], the convenience the app and the headless participant share.
//!
//! Canonical encoding (all integers big-endian): `"haven-audit/1"`, `seq` (u64), `time`
//! (i64), then `action`, `actor`, `object`, `session`, `public_key` (raw 32 bytes, or empty),
//! each as a u32 length and its bytes, then `object_sha256` (32 bytes) and `prev` (32 bytes).
//!
//! Verification with the key in the header proves the log was not changed after it was
//! written by whoever held that session's key; compare [`VerifyReport::public_key`] with the
//! key the peer announced at session start to know it is *that* session's log. A log that
//! ends without a `close` entry may have lost its tail ([`VerifyReport::closed`]).

mod compare;
mod export;
mod writer;

use core::fmt;

use ring::rand::SystemRandom;
use ring::signature::{self, Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use compare::{Compared, Mismatch, compare};
pub use export::export_fhir;
pub use writer::{AuditWriter, MAX_REFUSALS_PER_PEER};

/// Largest log [`verify`] and [`export_fhir`] accept.
pub const MAX_LOG_BYTES: usize = 64 * 1024 * 1024;

/// Longest line accepted (an entry is about 500 bytes).
const MAX_LINE_BYTES: usize = 16 * 1024;

const DOMAIN: &[u8] = b"haven-audit/1";

/// Why the audit log could not be written, read or exported.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuditError {
    /// An object or session id is not an opaque id (`[A-Za-z0-9._:-]{1,128}`).
    #[error("not an opaque id")]
    InvalidId,
    /// `start` is only written by [`AuditLog::start`], `close` only by [`AuditLog::close`].
    #[error("that action cannot be appended")]
    InvalidAction,
    /// The log was closed; nothing more can be appended.
    #[error("the log is closed")]
    Closed,
    /// The cryptography library failed (no randomness, or a key it would not take).
    #[error("signing failed")]
    Crypto,
    /// The log is larger than [`MAX_LOG_BYTES`].
    #[error("log too large: {size} bytes, at most {max}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The log is not intact (export only exports intact logs; [`verify`] says where).
    #[error("the log is broken at line {line}")]
    Broken {
        /// 1-based line of the first break.
        line: usize,
    },
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The header: a session's log begins.
    Start,
    /// The patient shared an object.
    Share,
    /// The clinician opened (viewed) a shared object.
    View,
    /// The patient took a share back.
    Revoke,
    /// The clinician's side deleted a shared object (end, revoke, disconnect).
    Purge,
    /// The clinic kept an object, as the patient allowed.
    Keep,
    /// A share's time ran out (the patient's `--share-for`): the clinician's side deleted it.
    Expire,
    /// The other side announced its own log's key for this consult (`Control::AuditKey`):
    /// `object` names the peer, and `object_sha256` holds the key itself (32 bytes), so this
    /// log says which log of the other side is the true one ([`compare`]).
    #[serde(rename = "peer-key")]
    PeerKey,
    /// This side refused a command from the other side that it may not send (a scene command
    /// from a clinician or an unverified therapist): `object` names the peer and the command
    /// (`p3:scene:fire`), `object_sha256` is the digest of the command's wire encoding.
    Refuse,
    /// The session's log ends.
    Close,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Share => "share",
            Self::View => "view",
            Self::Revoke => "revoke",
            Self::Purge => "purge",
            Self::Keep => "keep",
            Self::Expire => "expire",
            Self::PeerKey => "peer-key",
            Self::Refuse => "refuse",
            Self::Close => "close",
        }
    }
}

/// Who did it: the consult's own roles (patient, clinician, therapist), written by their
/// wire names.
pub use haven_proto::signal::Role;

/// An opaque id (a session, share or object id): `[A-Za-z0-9._:-]`, 1 to 128 characters.
/// Never put patient data in one; the character set keeps names and free text out.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectId(String);

impl ObjectId {
    /// Checks and wraps an id.
    pub fn new(id: impl Into<String>) -> Result<Self, AuditError> {
        let id = id.into();
        if valid_id(&id) {
            Ok(Self(id))
        } else {
            Err(AuditError::InvalidId)
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// SHA-256 of an object's bytes, for [`AuditLog::append`].
pub fn object_digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The `object` of a [`Action::Refuse`] entry: the peer and what it sent, as an opaque id
/// (`p3:scene:set-intensity`: characters outside `[A-Za-z0-9._:-]` become `-`, at most 128).
pub fn refusal_id(peer: impl fmt::Display, what: &str) -> String {
    format!("{peer}:{what}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(128)
        .collect()
}

/// One line of the log, as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    seq: u64,
    time: i64,
    action: Action,
    actor: Role,
    object: String,
    object_sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    public_key: Option<String>,
    prev: String,
    hash: String,
    sig: String,
}

fn push_field(buf: &mut Vec<u8>, bytes: &[u8]) {
    // Fields are bounded by MAX_LINE_BYTES, far below u32::MAX.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(bytes);
}

struct Fields<'a> {
    seq: u64,
    time: i64,
    action: Action,
    actor: Role,
    object: &'a str,
    object_sha256: &'a [u8; 32],
    session: &'a str,
    public_key: &'a [u8],
    prev: &'a [u8; 32],
}

fn entry_hash(f: &Fields<'_>) -> [u8; 32] {
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(DOMAIN);
    buf.extend_from_slice(&f.seq.to_be_bytes());
    buf.extend_from_slice(&f.time.to_be_bytes());
    push_field(&mut buf, f.action.name().as_bytes());
    push_field(&mut buf, f.actor.as_str().as_bytes());
    push_field(&mut buf, f.object.as_bytes());
    push_field(&mut buf, f.session.as_bytes());
    push_field(&mut buf, f.public_key);
    buf.extend_from_slice(f.object_sha256);
    buf.extend_from_slice(f.prev);
    Sha256::digest(&buf).into()
}

/// The writing side of a session's log. Sans-IO: each call returns the line to append to
/// the file (ending in `\n`); the caller writes it.
pub struct AuditLog {
    key: Ed25519KeyPair,
    session: ObjectId,
    next_seq: u64,
    last_hash: [u8; 32],
    closed: bool,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog")
            .field("session", &self.session)
            .field("next_seq", &self.next_seq)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Starts a session's log: makes a fresh Ed25519 key pair and returns the log and its
    /// header line. `owner` is the side keeping this log.
    pub fn start(session: ObjectId, owner: Role, now: i64) -> Result<(Self, String), AuditError> {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| AuditError::Crypto)?;
        let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| AuditError::Crypto)?;
        let mut log = Self {
            key,
            session,
            next_seq: 0,
            last_hash: [0; 32],
            closed: false,
        };
        let object = log.session.clone();
        let line = log.write(now, Action::Start, owner, &object, &[0; 32])?;
        Ok((log, line))
    }

    /// The session's public key (32 bytes), to announce to the peer.
    pub fn public_key(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        let pk = self.key.public_key().as_ref();
        if pk.len() == 32 {
            out.copy_from_slice(pk);
        }
        out
    }

    /// The session id.
    pub fn session(&self) -> &ObjectId {
        &self.session
    }

    /// The sequence number the next entry will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Appends an entry; returns its line. `object_sha256` is [`object_digest`] of the
    /// object's bytes.
    pub fn append(
        &mut self,
        now: i64,
        action: Action,
        actor: Role,
        object: &ObjectId,
        object_sha256: &[u8; 32],
    ) -> Result<String, AuditError> {
        if matches!(action, Action::Start | Action::Close) {
            return Err(AuditError::InvalidAction);
        }
        self.write(now, action, actor, object, object_sha256)
    }

    /// Closes the log with a final signed entry; nothing can be appended after it.
    pub fn close(&mut self, now: i64, actor: Role) -> Result<String, AuditError> {
        let object = self.session.clone();
        let line = self.write(now, Action::Close, actor, &object, &[0; 32])?;
        self.closed = true;
        Ok(line)
    }

    fn write(
        &mut self,
        now: i64,
        action: Action,
        actor: Role,
        object: &ObjectId,
        object_sha256: &[u8; 32],
    ) -> Result<String, AuditError> {
        if self.closed {
            return Err(AuditError::Closed);
        }
        let header = action == Action::Start;
        let public_key = self.public_key();
        let session = if header { self.session.as_str() } else { "" };
        let pk: &[u8] = if header { &public_key } else { &[] };
        let hash = entry_hash(&Fields {
            seq: self.next_seq,
            time: now,
            action,
            actor,
            object: object.as_str(),
            object_sha256,
            session,
            public_key: pk,
            prev: &self.last_hash,
        });
        let sig = self.key.sign(&hash);
        let entry = Entry {
            seq: self.next_seq,
            time: now,
            action,
            actor,
            object: object.as_str().to_owned(),
            object_sha256: hex::encode(object_sha256),
            session: header.then(|| self.session.as_str().to_owned()),
            public_key: header.then(|| hex::encode(public_key)),
            prev: hex::encode(self.last_hash),
            hash: hex::encode(hash),
            sig: hex::encode(sig.as_ref()),
        };
        // An `Entry` of strings and integers always serialises.
        let mut line = serde_json::to_string(&entry).map_err(|_| AuditError::Crypto)?;
        line.push('\n');
        self.next_seq += 1;
        self.last_hash = hash;
        Ok(line)
    }
}

/// Why the chain breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BreakReason {
    /// The line is not an entry (not JSON, a missing or unknown field, a truncated line).
    MalformedLine,
    /// The first line is not a header (`seq` 0, `start`, with session and public key).
    MissingHeader,
    /// The entry's `seq` is not the next one: an entry is missing or out of order.
    SeqGap {
        /// The seq found.
        found: u64,
    },
    /// `prev` is not the previous entry's hash.
    BadPrevLink,
    /// `hash` does not match the entry's content (the entry was edited).
    HashMismatch,
    /// `sig` is not the session key's signature of `hash`.
    BadSignature,
    /// An entry follows the `close` entry.
    AfterClose,
}

/// Where the chain breaks first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Break {
    /// 1-based line number.
    pub line: usize,
    /// The seq the entry at that line should have had.
    pub seq: u64,
    /// Why.
    pub reason: BreakReason,
}

/// The outcome of [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries verified before the first break (all of them when intact), header included.
    pub entries: usize,
    /// The session id from the header.
    pub session: Option<String>,
    /// The session's public key (hex) from the header.
    pub public_key: Option<String>,
    /// Whether the log ends with a `close` entry (if not, its tail may have been cut).
    pub closed: bool,
    /// The hash of the last verified entry (hex).
    pub last_hash: Option<String>,
    /// The first break, if any.
    pub broken: Option<Break>,
}

impl VerifyReport {
    /// Whether every line verified.
    pub fn intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// Lowercase hex only, as written: an upper-case variant of a hash is another text.
fn strict_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn decode32(hex_str: &str) -> Option<[u8; 32]> {
    if !strict_hex(hex_str) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_str, &mut out).ok()?;
    Some(out)
}

/// A verified entry.
struct Verified {
    entry: Entry,
}

/// Walks the log; calls `each` on every verified entry; returns the report.
fn walk(bytes: &[u8], mut each: impl FnMut(&Verified)) -> Result<VerifyReport, AuditError> {
    if bytes.len() > MAX_LOG_BYTES {
        return Err(AuditError::TooLarge {
            size: bytes.len(),
            max: MAX_LOG_BYTES,
        });
    }
    let mut report = VerifyReport {
        entries: 0,
        session: None,
        public_key: None,
        closed: false,
        last_hash: None,
        broken: None,
    };
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // The final `\n` leaves one empty piece; a file cut mid-line leaves a partial one.
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let mut key: Option<signature::UnparsedPublicKey<[u8; 32]>> = None;
    let mut prev = [0u8; 32];
    let mut closed = false;
    for (i, raw) in lines.iter().enumerate() {
        let line = i + 1;
        let seq = i as u64;
        let fail = |reason| Break { line, seq, reason };
        if closed {
            report.broken = Some(fail(BreakReason::AfterClose));
            break;
        }
        let parsed: Option<Entry> = (raw.len() <= MAX_LINE_BYTES)
            .then(|| serde_json::from_slice(raw).ok())
            .flatten();
        let Some(entry) = parsed else {
            report.broken = Some(fail(if i == 0 {
                BreakReason::MissingHeader
            } else {
                BreakReason::MalformedLine
            }));
            break;
        };
        let (Some(object_sha256), Some(stored_prev), Some(hash)) = (
            decode32(&entry.object_sha256),
            decode32(&entry.prev),
            decode32(&entry.hash),
        ) else {
            report.broken = Some(fail(BreakReason::MalformedLine));
            break;
        };
        let Some(sig) = strict_hex(&entry.sig)
            .then(|| hex::decode(&entry.sig).ok())
            .flatten()
        else {
            report.broken = Some(fail(BreakReason::MalformedLine));
            break;
        };
        let header_key = entry.public_key.as_deref().and_then(decode32);
        if i == 0 {
            let ok = entry.seq == 0
                && entry.action == Action::Start
                && entry.session.as_deref().is_some_and(valid_id)
                && header_key.is_some();
            match (ok, header_key) {
                (true, Some(pk)) => {
                    key = Some(signature::UnparsedPublicKey::new(&signature::ED25519, pk));
                    report.session = entry.session.clone();
                    report.public_key = entry.public_key.clone();
                }
                _ => {
                    report.broken = Some(fail(BreakReason::MissingHeader));
                    break;
                }
            }
        } else if entry.action == Action::Start
            || entry.session.is_some()
            || entry.public_key.is_some()
        {
            // A second header inside the chain.
            report.broken = Some(fail(BreakReason::MalformedLine));
            break;
        }
        if entry.seq != seq {
            report.broken = Some(fail(BreakReason::SeqGap { found: entry.seq }));
            break;
        }
        if stored_prev != prev {
            report.broken = Some(fail(BreakReason::BadPrevLink));
            break;
        }
        let pk_bytes = header_key.unwrap_or([0; 32]);
        let computed = entry_hash(&Fields {
            seq: entry.seq,
            time: entry.time,
            action: entry.action,
            actor: entry.actor,
            object: &entry.object,
            object_sha256: &object_sha256,
            session: entry.session.as_deref().unwrap_or(""),
            public_key: if header_key.is_some() { &pk_bytes } else { &[] },
            prev: &stored_prev,
        });
        if computed != hash {
            report.broken = Some(fail(BreakReason::HashMismatch));
            break;
        }
        let signed = key.as_ref().is_some_and(|k| k.verify(&hash, &sig).is_ok());
        if !signed {
            report.broken = Some(fail(BreakReason::BadSignature));
            break;
        }
        closed = entry.action == Action::Close;
        prev = hash;
        report.entries += 1;
        report.last_hash = Some(entry.hash.clone());
        each(&Verified { entry });
    }
    report.closed = closed && report.broken.is_none();
    if lines.is_empty() {
        report.broken = Some(Break {
            line: 1,
            seq: 0,
            reason: BreakReason::MissingHeader,
        });
    }
    Ok(report)
}

/// Verifies a whole log: says whether the chain is intact and, if not, the first line where
/// it breaks and why. `Err` only for input over [`MAX_LOG_BYTES`]; everything else, however
/// malformed, is a report.
pub fn verify(bytes: &[u8]) -> Result<VerifyReport, AuditError> {
    walk(bytes, |_| {})
}

/// One session of a log file that holds several (a file used for several consults, or
/// reopened after a crash: each session starts with its own header and key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionReport {
    /// The 1-based line of the file its header is on.
    pub first_line: usize,
    /// Its lines, in the file.
    pub lines: usize,
    /// Its verification; a break's line is the file's line.
    pub report: VerifyReport,
}

impl SessionReport {
    /// Every line verified and it ends with its `close` entry.
    pub fn whole(&self) -> bool {
        self.report.intact() && self.report.closed
    }

    /// Every line verified but it has no `close` entry: the session was cut short (a crash, a
    /// killed process) or its tail was removed.
    pub fn cut_short(&self) -> bool {
        self.report.intact() && !self.report.closed
    }
}

/// Whether a line is a session's header (`seq` 0, `start`, with a session id).
fn is_header(line: &[u8]) -> bool {
    line.len() <= MAX_LINE_BYTES
        && serde_json::from_slice::<Entry>(line)
            .is_ok_and(|e| e.seq == 0 && e.action == Action::Start && e.session.is_some())
}

/// Verifies a log file as the sequence of sessions it holds: each header starts a session,
/// verified on its own ([`verify`]); what comes before the first header is a session with
/// no header (reported broken). `Err` only for input over [`MAX_LOG_BYTES`].
pub fn verify_sessions(bytes: &[u8]) -> Result<Vec<SessionReport>, AuditError> {
    Ok(sessions_with_entries(bytes)?
        .into_iter()
        .map(|(report, _)| report)
        .collect())
}

/// What one verified entry says, for comparing logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Said {
    pub(crate) action: Action,
    pub(crate) actor: Role,
    pub(crate) object: String,
    pub(crate) digest: [u8; 32],
}

/// Each session of a log file with its verified entries.
pub(crate) fn sessions_with_entries(
    bytes: &[u8],
) -> Result<Vec<(SessionReport, Vec<Said>)>, AuditError> {
    if bytes.len() > MAX_LOG_BYTES {
        return Err(AuditError::TooLarge {
            size: bytes.len(),
            max: MAX_LOG_BYTES,
        });
    }
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let mut starts: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| is_header(l))
        .map(|(i, _)| i)
        .collect();
    if starts.first() != Some(&0) {
        starts.insert(0, 0);
    }
    let mut sessions = Vec::new();
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(lines.len());
        let mut segment = lines[start..end].join(&b'\n');
        segment.push(b'\n');
        let mut said = Vec::new();
        let mut report = walk(&segment, |v| {
            said.push(Said {
                action: v.entry.action,
                actor: v.entry.actor,
                object: v.entry.object.clone(),
                digest: decode32(&v.entry.object_sha256).unwrap_or([0; 32]),
            });
        })?;
        if let Some(b) = report.broken.as_mut() {
            b.line += start;
        }
        sessions.push((
            SessionReport {
                first_line: start + 1,
                lines: end - start,
                report,
            },
            said,
        ));
    }
    Ok(sessions)
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;

    use super::*;

    pub(super) fn id(s: &str) -> ObjectId {
        ObjectId::new(s).expect("a valid id")
    }

    /// A log of a header, `n` entries and a close; returns its lines.
    pub(super) fn sample(n: u64) -> (AuditLog, Vec<String>) {
        let (mut log, header) =
            AuditLog::start(id("session-1"), Role::Patient, 1_767_225_600).expect("starts");
        let mut lines = vec![header];
        let actions = [
            Action::Share,
            Action::View,
            Action::Keep,
            Action::Revoke,
            Action::Purge,
        ];
        for i in 0..n {
            let action = actions[(i as usize) % actions.len()];
            let actor = if action == Action::Share || action == Action::Revoke {
                Role::Patient
            } else {
                Role::Clinician
            };
            let digest = object_digest(format!("object {i}").as_bytes());
            lines.push(
                log.append(
                    1_767_225_600 + i as i64,
                    action,
                    actor,
                    &id(&format!("share-{i}")),
                    &digest,
                )
                .expect("appends"),
            );
        }
        lines.push(log.close(1_767_229_200, Role::Patient).expect("closes"));
        (log, lines)
    }

    pub(super) fn joined(lines: &[String]) -> Vec<u8> {
        lines.concat().into_bytes()
    }

    fn broken_at(bytes: &[u8]) -> Break {
        verify(bytes).expect("verifies").broken.expect("broken")
    }

    #[test]
    fn an_intact_log_verifies() {
        let (log, lines) = sample(6);
        let report = verify(&joined(&lines)).expect("verifies");
        assert!(report.intact(), "{report:?}");
        assert_eq!(report.entries, 8);
        assert!(report.closed);
        assert_eq!(report.session.as_deref(), Some("session-1"));
        assert_eq!(report.public_key, Some(hex::encode(log.public_key())));
        // Without the close entry: intact, but not closed.
        let report = verify(&joined(&lines[..lines.len() - 1])).expect("verifies");
        assert!(report.intact() && !report.closed);
    }

    #[test]
    fn an_edited_field_fails_at_that_entry() {
        let (_, lines) = sample(6);
        for k in 1..=6usize {
            for (from, to) in [
                ("\"time\":", "\"time\":1"),
                ("\"actor\":\"patient\"", "\"actor\":\"clinician\""),
                ("\"actor\":\"clinician\"", "\"actor\":\"patient\""),
                ("share-", "shore-"),
            ] {
                let mut edited = lines.clone();
                if !edited[k].contains(from) {
                    continue;
                }
                edited[k] = edited[k].replacen(from, to, 1);
                let b = broken_at(&joined(&edited));
                assert_eq!((b.line, b.seq), (k + 1, k as u64), "{from}");
                assert_eq!(b.reason, BreakReason::HashMismatch);
            }
        }
    }

    #[test]
    fn a_rehashed_edit_fails_on_its_signature() {
        let (_, lines) = sample(4);
        let k = 2;
        let mut entry: Entry = serde_json::from_str(lines[k].trim_end()).expect("an entry");
        entry.action = Action::Purge;
        let fields = Fields {
            seq: entry.seq,
            time: entry.time,
            action: entry.action,
            actor: entry.actor,
            object: &entry.object,
            object_sha256: &decode32(&entry.object_sha256).expect("hex"),
            session: "",
            public_key: &[],
            prev: &decode32(&entry.prev).expect("hex"),
        };
        entry.hash = hex::encode(entry_hash(&fields));
        let mut edited = lines.clone();
        edited[k] = serde_json::to_string(&entry).expect("serialises") + "\n";
        let b = broken_at(&joined(&edited));
        assert_eq!(
            (b.line, b.seq, b.reason),
            (k + 1, k as u64, BreakReason::BadSignature)
        );
    }

    #[test]
    fn a_forged_signature_is_caught() {
        let (_, lines) = sample(4);
        let k = 3;
        let mut entry: Entry = serde_json::from_str(lines[k].trim_end()).expect("an entry");
        // A valid signature of the same hash by another key.
        let (other, _) = AuditLog::start(id("other"), Role::Patient, 0).expect("starts");
        entry.sig = hex::encode(
            other
                .key
                .sign(&decode32(&entry.hash).expect("hex"))
                .as_ref(),
        );
        let mut edited = lines.clone();
        edited[k] = serde_json::to_string(&entry).expect("serialises") + "\n";
        let b = broken_at(&joined(&edited));
        assert_eq!((b.line, b.seq, b.reason), (4, 3, BreakReason::BadSignature));
    }

    #[test]
    fn a_deleted_line_is_a_missing_entry() {
        let (_, mut lines) = sample(5);
        lines.remove(3);
        let b = broken_at(&joined(&lines));
        assert_eq!(
            (b.line, b.seq, b.reason),
            (4, 3, BreakReason::SeqGap { found: 4 })
        );
    }

    #[test]
    fn a_reordered_line_is_caught_where_it_moved() {
        let (_, mut lines) = sample(5);
        lines.swap(2, 3);
        let b = broken_at(&joined(&lines));
        assert_eq!(
            (b.line, b.seq, b.reason),
            (3, 2, BreakReason::SeqGap { found: 3 })
        );
    }

    #[test]
    fn a_truncated_last_line_is_malformed() {
        let (_, lines) = sample(3);
        let mut bytes = joined(&lines);
        bytes.truncate(bytes.len() - 40);
        let b = broken_at(&bytes);
        assert_eq!(
            (b.line, b.seq, b.reason),
            (5, 4, BreakReason::MalformedLine)
        );
    }

    #[test]
    fn bad_prev_link_and_headers() {
        let (_, lines) = sample(3);
        // A second log's entry spliced in with the right seq still has the wrong prev.
        let (_, other) = sample(3);
        let mut spliced = lines.clone();
        spliced[2] = other[2].clone();
        let b = broken_at(&joined(&spliced));
        assert_eq!((b.line, b.reason), (3, BreakReason::BadPrevLink));
        // No header.
        let b = broken_at(&joined(&lines[1..]));
        assert_eq!((b.line, b.reason), (1, BreakReason::MissingHeader));
        let b = broken_at(b"");
        assert_eq!((b.line, b.reason), (1, BreakReason::MissingHeader));
        // Something after close.
        let mut after = lines.clone();
        after.push(lines[1].clone());
        let b = broken_at(&joined(&after));
        assert_eq!(b.reason, BreakReason::AfterClose);
    }

    #[test]
    fn ids_and_actions_are_checked() {
        assert_eq!(ObjectId::new("Jane Doe"), Err(AuditError::InvalidId));
        assert_eq!(ObjectId::new(""), Err(AuditError::InvalidId));
        assert_eq!(ObjectId::new("x".repeat(129)), Err(AuditError::InvalidId));
        let (mut log, _) = sample(1);
        let digest = [0; 32];
        assert_eq!(
            log.append(0, Action::View, Role::Clinician, &id("a"), &digest),
            Err(AuditError::Closed)
        );
        let (mut log, _) = AuditLog::start(id("s"), Role::Clinician, 0).expect("starts");
        assert_eq!(
            log.append(0, Action::Start, Role::Clinician, &id("a"), &digest),
            Err(AuditError::InvalidAction)
        );
        assert!(!format!("{log:?}").contains("key"));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
            let _ = verify(&bytes);
            let _ = export_fhir(&bytes);
        }

        #[test]
        fn any_single_byte_flip_is_caught(at in 0usize..10_000, bit in 0u8..8) {
            let (_, lines) = sample(3);
            let mut bytes = joined(&lines);
            let at = at % bytes.len();
            bytes[at] ^= 1 << bit;
            let report = verify(&bytes).expect("verifies");
            // Every byte is covered by the hash, the signature or the syntax.
            prop_assert!(!report.intact());
        }
    }

    #[test]
    fn a_file_of_several_sessions_verifies_each_and_says_which_was_cut_short() {
        use super::writer::AuditWriter;
        let path =
            std::env::temp_dir().join(format!("haven-sessions-{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&path);
        // A first consult that crashed (never closed), a second that closed, a third whole.
        let mut first = AuditWriter::new(Some(path.clone()), Role::Clinician);
        first.record_at(10, Action::View, "peer1-object1", &[1; 32]);
        std::mem::forget(first);
        for t in [20, 30] {
            let mut w = AuditWriter::new(Some(path.clone()), Role::Clinician);
            w.record_at(t, Action::View, "peer1-object2", &[2; 32]);
            w.close_at(t + 1);
        }
        let bytes = std::fs::read(&path).expect("written");
        let sessions = verify_sessions(&bytes).expect("reads");
        assert_eq!(sessions.len(), 3, "{sessions:?}");
        assert!(sessions[0].cut_short(), "{:?}", sessions[0]);
        assert!(sessions[1].whole() && sessions[2].whole());
        assert_eq!(sessions[1].first_line, 3);
        // A whole-file verify stops at the second header; the sessions view does not.
        assert!(!verify(&bytes).expect("reads").intact());
        // An edit in the second session is found there, at the file's line.
        let text = String::from_utf8(bytes).expect("utf-8");
        let edited = text.replacen("peer1-object2", "peer1-object9", 1);
        let sessions = verify_sessions(edited.as_bytes()).expect("reads");
        assert!(sessions[0].cut_short() && sessions[2].whole());
        let broken = sessions[1].report.broken.as_ref().expect("broken");
        assert_eq!(
            (broken.line, broken.reason.clone()),
            (4, BreakReason::HashMismatch)
        );
        let _ = std::fs::remove_file(&path);
    }
}
