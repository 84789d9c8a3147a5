//! [`AuditWriter`]: one side's log for one session, as the app and the headless participant
//! keep it: started on the first entry (with a random session id), kept in memory line by
//! line, appended to a file when one is given, and closed with a final entry when dropped.

use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{Action, AuditLog, ObjectId, Role};

/// A session's audit log, written as things happen. Entries carry object ids and digests,
/// never contents. Failures (no randomness, a bad id, a file that cannot be written) are
/// logged and never stop the caller: what was recorded in memory stays.
pub struct AuditWriter {
    log: Option<AuditLog>,
    /// Who keeps it (the actor of its header and of its close entry).
    owner: Role,
    /// Who acts in the entries recorded now.
    role: Role,
    lines: Vec<String>,
    file: Option<File>,
    /// Refusals recorded so far, by peer (at most [`MAX_REFUSALS_PER_PEER`] each).
    refusals: std::collections::HashMap<String, u32>,
}

/// The most refused commands recorded for one peer in a log: a peer that floods cannot flood
/// the log.
pub const MAX_REFUSALS_PER_PEER: u32 = 32;

impl std::fmt::Debug for AuditWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditWriter")
            .field("role", &self.role)
            .field("entries", &self.lines.len())
            .field("to_file", &self.file.is_some())
            .finish_non_exhaustive()
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Whether the file at `path` ends in the middle of a line (its last byte is not `\n`).
fn ends_cut(path: &std::path::Path) -> bool {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let mut last = [0u8; 1];
    File::open(path)
        .and_then(|mut f| {
            if f.metadata()?.len() == 0 {
                return Ok(false);
            }
            f.seek(SeekFrom::End(-1))?;
            f.read_exact(&mut last)?;
            Ok(last[0] != b'\n')
        })
        .unwrap_or(false)
}

impl AuditWriter {
    /// A log kept as `role`, in memory and appended to `path` if given (a file that cannot be
    /// opened is logged, and the log is kept in memory only). Nothing is written until the
    /// first [`record`](Self::record).
    pub fn new(path: Option<PathBuf>, role: Role) -> Self {
        let file = path.and_then(|p| {
            crate::files::private_file(&p, true)
                .and_then(|mut file| {
                    // A line cut short by a crash ends there: the next session starts on a
                    // line of its own, so it still reads as a session.
                    if ends_cut(&p) {
                        file.write_all(b"\n")?;
                    }
                    Ok(file)
                })
                .inspect_err(|e| {
                    tracing::warn!(
                        "the audit log cannot be written ({}); kept in memory",
                        e.kind()
                    );
                })
                .ok()
        });
        Self {
            log: None,
            owner: role,
            role,
            lines: Vec::new(),
            file,
            refusals: std::collections::HashMap::new(),
        }
    }

    /// The role entries are recorded as.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Records later entries as `role` (when the session says it after the log was made).
    /// Before the first entry this also makes `role` the log's owner.
    pub fn set_role(&mut self, role: Role) {
        self.role = role;
        if self.log.is_none() {
            self.owner = role;
        }
    }

    /// The log's lines so far (each without its `\n`).
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// The session id, once the log has started.
    pub fn session(&self) -> Option<&ObjectId> {
        self.log.as_ref().map(AuditLog::session)
    }

    fn push(&mut self, line: &str) {
        let line = line.trim_end().to_owned();
        // One write per line, so a crash cuts at most this line.
        if let Some(file) = self.file.as_mut()
            && let Err(e) = file.write_all(format!("{line}\n").as_bytes())
        {
            tracing::warn!(
                "an audit line could not be written ({}); kept in memory",
                e.kind()
            );
        }
        self.lines.push(line);
    }

    /// Records `action` on `object` (an opaque id, never patient data) whose bytes have the
    /// SHA-256 `digest` ([`super::object_digest`]), now.
    pub fn record(&mut self, action: Action, object: &str, digest: &[u8; 32]) {
        self.record_at(unix_now(), action, object, digest);
    }

    /// Records that a command from `peer` was refused ([`Action::Refuse`]): `what` names it
    /// (`scene:fire`), `encoded` is its wire encoding (only its digest is written). Only the
    /// first [`MAX_REFUSALS_PER_PEER`] of a peer are recorded.
    pub fn refused(&mut self, peer: impl std::fmt::Display, what: &str, encoded: &[u8]) {
        let count = self.refusals.entry(peer.to_string()).or_default();
        if *count >= MAX_REFUSALS_PER_PEER {
            return;
        }
        *count += 1;
        let object = super::refusal_id(peer, what);
        self.record(Action::Refuse, &object, &super::object_digest(encoded));
    }

    /// The public key of this consult's log (starting it if it has not started), to announce
    /// to the other side (`Control::AuditKey`). `None` if it cannot start.
    pub fn public_key(&mut self) -> Option<[u8; 32]> {
        self.start(unix_now());
        self.log.as_ref().map(AuditLog::public_key)
    }

    /// Starts the log (its header) if it has not started.
    fn start(&mut self, now: i64) {
        if self.log.is_none() {
            let mut b = [0u8; 8];
            if getrandom::fill(&mut b).is_err() {
                tracing::warn!("the audit log could not start: no randomness");
                return;
            }
            let session = format!("session-{:016x}", u64::from_le_bytes(b));
            self.owner = self.role;
            match ObjectId::new(session).and_then(|s| AuditLog::start(s, self.owner, now)) {
                Ok((log, header)) => {
                    self.log = Some(log);
                    self.push(&header);
                }
                Err(e) => tracing::warn!("the audit log could not start: {e}"),
            }
        }
    }

    /// [`record`](Self::record) at `now` (Unix seconds).
    pub fn record_at(&mut self, now: i64, action: Action, object: &str, digest: &[u8; 32]) {
        self.start(now);
        let role = self.role;
        let Some(log) = self.log.as_mut() else {
            return;
        };
        match ObjectId::new(object).and_then(|id| log.append(now, action, role, &id, digest)) {
            Ok(line) => self.push(&line),
            Err(e) => tracing::warn!("an audit entry could not be written: {e}"),
        }
    }

    /// Closes the log now with its final entry (also done on drop). Nothing is recorded after.
    pub fn close(&mut self) {
        self.close_at(unix_now());
    }

    /// [`close`](Self::close) at `now`.
    pub fn close_at(&mut self, now: i64) {
        let owner = self.owner;
        if let Some(log) = self.log.as_mut() {
            match log.close(now, owner) {
                Ok(line) => self.push(&line),
                Err(super::AuditError::Closed) => {}
                Err(e) => tracing::warn!("the audit log could not be closed: {e}"),
            }
        }
    }
}

impl Drop for AuditWriter {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::super::{object_digest, verify};
    use super::*;

    #[test]
    fn starts_on_the_first_entry_and_closes_on_drop() {
        let path = std::env::temp_dir().join(format!("haven-audit-{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut w = AuditWriter::new(Some(path.clone()), Role::Clinician);
        assert!(w.lines().is_empty() && w.session().is_none());
        let digest = object_digest(b"bytes");
        w.record_at(10, Action::View, "peer1-object2", &digest);
        w.set_role(Role::Therapist);
        w.record_at(11, Action::Purge, "peer1-object2", &digest);
        // Not an opaque id: logged, not recorded.
        w.record_at(12, Action::View, "Jane Doe", &digest);
        assert_eq!(w.lines().len(), 3);
        assert!(w.lines()[0].contains("\"actor\":\"clinician\""));
        assert!(w.lines()[2].contains("\"actor\":\"therapist\""));
        assert!(
            w.session()
                .is_some_and(|s| s.as_str().starts_with("session-"))
        );
        let in_memory = w.lines().join("\n") + "\n";
        let report = verify(in_memory.as_bytes()).expect("verifies");
        assert!(report.intact() && !report.closed, "{report:?}");
        drop(w);
        let on_disk = std::fs::read(&path).expect("the file");
        let report = verify(&on_disk).expect("verifies");
        assert!(report.intact() && report.closed, "{report:?}");
        assert_eq!(report.entries, 4);
        let text = String::from_utf8_lossy(&on_disk);
        assert!(!text.contains("Jane"));
        // The close entry is the owner's (the role when the log started).
        assert!(
            text.lines()
                .last()
                .is_some_and(|l| l.contains("\"actor\":\"clinician\""))
        );
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn memory_only_and_an_empty_log_writes_nothing() {
        let mut w = AuditWriter::new(None, Role::Patient);
        w.close_at(5);
        assert!(w.lines().is_empty());
        w.record_at(6, Action::Share, "share-1", &[1; 32]);
        w.close_at(7);
        w.close_at(8);
        assert_eq!(w.lines().len(), 3);
        let bytes = w.lines().join("\n") + "\n";
        let report = verify(bytes.as_bytes()).expect("verifies");
        assert!(report.intact() && report.closed);
        // An unwritable path keeps the log in memory.
        let mut w = AuditWriter::new(
            Some(PathBuf::from("/nonexistent-dir/haven/audit.jsonl")),
            Role::Patient,
        );
        w.record_at(1, Action::Share, "share-1", &[1; 32]);
        assert_eq!(w.lines().len(), 2);
    }
}
