//! What the server must remember across restarts about invites: how many times each was used,
//! and which were revoked. Without it a restart forgets the counts and a single-use invite
//! works again.
//!
//! Two small files beside the secret, one line per fact, written by appending (each line is one
//! `write` to an `O_APPEND` file, so a crash loses at most that line and never corrupts
//! another; a use is synced to disk before the join goes on):
//! - `SECRET.uses`: `use <invite id> <expiry>` for every join, appended by the server; at start
//!   it is read, expired lines are dropped, and it is rewritten compact (to a temporary file,
//!   then renamed over it: atomic);
//! - `SECRET.revoked`: `revoke <invite id> <expiry>`, appended by `haven invite --revoke`; the
//!   server reads it again whenever it changes.
//!
//! The invite id is the invite's nonce: random, and nothing of the patient. Both files are the
//! server user's only (0600).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tracing::warn;

/// The longest invite id accepted in these files (nonces are 22 characters).
const MAX_ID: usize = 64;

/// The files beside a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InviteFiles {
    /// Joins, appended by the server.
    pub uses: PathBuf,
    /// Revocations, appended by `haven invite --revoke`.
    pub revoked: PathBuf,
}

impl InviteFiles {
    /// The files beside the secret at `secret`.
    pub fn beside(secret: &Path) -> Self {
        let with = |suffix: &str| {
            let mut name = secret.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        };
        Self {
            uses: with(".uses"),
            revoked: with(".revoked"),
        }
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Reads `path`'s lines of `word <id> <expiry>`, keeping those whose expiry plus `kept_past`
/// is after `now`; a line that does not parse is skipped (a torn last line after a crash).
fn read_facts(
    path: &Path,
    word: &str,
    now: u64,
    kept_past: u64,
) -> std::io::Result<Vec<(String, u64)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut parts = line.split(' ');
            let (w, id, exp) = (parts.next()?, parts.next()?, parts.next()?);
            let exp: u64 = exp.parse().ok()?;
            (w == word
                && valid_id(id)
                && parts.next().is_none()
                && exp.saturating_add(kept_past) > now)
                .then(|| (id.to_owned(), exp))
        })
        .collect())
}

fn open_append(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Appends `revoke <id> <expiry>` to the revocations beside a secret (`haven invite
/// --revoke`). The running server refuses the invite from its next join on.
pub fn revoke(files: &InviteFiles, id: &str, exp: u64) -> std::io::Result<()> {
    if !valid_id(id) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "an invite id is letters, digits, - and _",
        ));
    }
    // One write of the whole line, so a reader never sees half of it.
    open_append(&files.revoked)?.write_all(format!("revoke {id} {exp}\n").as_bytes())
}

/// The server's side: joins counted so far, revocations, and the file it appends joins to.
#[derive(Debug)]
pub struct InviteLedger {
    files: InviteFiles,
    uses_file: File,
    /// What the revocations file was (length, modification time) when last read (`None`:
    /// never; `Some(None)`: no file then).
    revoked_seen: Option<Option<(u64, SystemTime)>>,
}

/// What the ledger held at start, for the rooms.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Remembered {
    /// Joins per invite id, with the invite's expiry.
    pub uses: HashMap<String, (u32, u64)>,
    /// Revoked invite ids, with their expiry.
    pub revoked: HashMap<String, u64>,
}

impl InviteLedger {
    /// Opens the files beside a secret at `now`: reads what they remember, rewrites the uses
    /// compact, and keeps the uses file open for appending.
    pub fn open(files: InviteFiles, now: u64) -> std::io::Result<(Self, Remembered)> {
        let mut remembered = Remembered::default();
        for (id, exp) in read_facts(&files.uses, "use", now, 0)? {
            let entry = remembered.uses.entry(id).or_insert((0, exp));
            entry.0 = entry.0.saturating_add(1);
        }
        // Compact: one line per use still counting, written aside and renamed over.
        let compact = files.uses.with_extension("uses.tmp");
        {
            let _ = std::fs::remove_file(&compact);
            let mut out = open_append(&compact)?;
            let mut text = String::new();
            for (id, (count, exp)) in &remembered.uses {
                for _ in 0..*count {
                    text.push_str(&format!("use {id} {exp}\n"));
                }
            }
            out.write_all(text.as_bytes())?;
            out.sync_all()?;
        }
        std::fs::rename(&compact, &files.uses)?;
        let uses_file = open_append(&files.uses)?;
        let mut ledger = Self {
            files,
            uses_file,
            revoked_seen: None,
        };
        remembered.revoked = ledger.revocations(now)?.unwrap_or_default();
        Ok((ledger, remembered))
    }

    /// Records one join of invite `id` (expiring at `exp`). A failure is logged: the join
    /// goes on (the count in memory holds until a restart).
    pub fn record_use(&mut self, id: &str, exp: u64) {
        if !valid_id(id) {
            return;
        }
        if let Err(e) = self
            .uses_file
            .write_all(format!("use {id} {exp}\n").as_bytes())
            .and_then(|()| self.uses_file.sync_data())
        {
            warn!(
                "an invite's use could not be remembered ({}); a restart forgets it",
                e.kind()
            );
        }
    }

    /// The revocations if the file changed since the last look (`None`: unchanged).
    pub fn revocations(&mut self, now: u64) -> std::io::Result<Option<HashMap<String, u64>>> {
        // Length and time together: an append within the clock's tick still changes the
        // length (the file only grows).
        let seen = match std::fs::metadata(&self.files.revoked) {
            Ok(m) => m.modified().ok().map(|t| (m.len(), t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        if self.revoked_seen == Some(seen) {
            return Ok(None);
        }
        // Kept as long as a resume token of the invite could be good.
        let facts = read_facts(&self.files.revoked, "revoke", now, crate::resume::TTL_SECS)?;
        // Only once it was read: a failed read is tried again at the next join.
        self.revoked_seen = Some(seen);
        Ok(Some(facts.into_iter().collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(name: &str) -> InviteFiles {
        let dir = std::env::temp_dir().join(format!("haven-ledger-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        InviteFiles::beside(&dir.join("haven.secret"))
    }

    #[test]
    fn uses_and_revocations_outlive_a_restart_and_expire() {
        let files = files("restart");
        let (mut ledger, first) = InviteLedger::open(files.clone(), 100).expect("opens");
        assert_eq!(first, Remembered::default());
        ledger.record_use("aaaa", 500);
        ledger.record_use("aaaa", 500);
        ledger.record_use("bbbb", 150);
        ledger.record_use("bad id with spaces", 500);
        revoke(&files, "cccc", 900).expect("revokes");
        assert!(revoke(&files, "no spaces allowed", 900).is_err());
        drop(ledger);
        // A torn last line (a crash mid-write) is skipped.
        let mut torn = open_append(&files.uses).expect("opens");
        write!(torn, "use dddd").expect("writes");
        let (_, again) = InviteLedger::open(files.clone(), 200).expect("opens");
        assert_eq!(again.uses.get("aaaa"), Some(&(2, 500)));
        assert_eq!(again.uses.get("bbbb"), None, "expired at 150");
        assert_eq!(again.uses.len(), 1);
        assert_eq!(again.revoked.get("cccc"), Some(&900));
        // The uses file was rewritten compact: two lines.
        let text = std::fs::read_to_string(&files.uses).expect("reads");
        assert_eq!(text.lines().count(), 2, "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            for path in [&files.uses, &files.revoked] {
                let mode = std::fs::metadata(path).expect("there").permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{}", path.display());
            }
        }
    }

    #[test]
    fn a_revocation_is_seen_once_when_the_file_changes() {
        let files = files("seen");
        let (mut ledger, _) = InviteLedger::open(files.clone(), 0).expect("opens");
        assert_eq!(
            ledger.revocations(0).expect("reads"),
            None,
            "no file, nothing new"
        );
        assert_eq!(ledger.revocations(0).expect("reads"), None, "still none");
        revoke(&files, "eeee", 10).expect("revokes");
        let seen = ledger.revocations(0).expect("reads").expect("changed");
        assert!(seen.contains_key("eeee"));
        assert_eq!(ledger.revocations(0).expect("reads"), None, "unchanged");
    }
}
