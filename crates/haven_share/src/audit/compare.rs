//! Comparing one side's audit log with the other side's, to catch a log rewritten after the
//! consult.
//!
//! Each side's log is signed with a key made for that consult alone, so a log can be rewritten
//! only by making a new key (or, by someone who kept the old one, by signing again). At the
//! start of the consult each side announces its key to the other (`Control::AuditKey`), and
//! each records the other's in its own log (a `peer-key` entry). So:
//! - a log rewritten under a new key no longer opens with the key the other side recorded
//!   ([`Mismatch::TheirKeyUnknown`], [`Mismatch::MyKeyUnknown`]);
//! - a log re-signed with the old key but with views dropped or added disagrees with the other
//!   side's record of the same views: the patient's side records each view the clinician said,
//!   by object id and digest, as the clinician's side does ([`Mismatch::Views`]);
//! - a clinician's log that names an object the patient never shared is caught by its digest
//!   ([`Mismatch::NeverShared`]).

use std::collections::HashMap;
use std::fmt;

use super::{Action, AuditError, Role, Said, SessionReport, object_digest, sessions_with_entries};

/// What comparing two logs found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compared {
    /// Each log's sessions, as [`super::verify_sessions`] reports them.
    pub mine: Vec<SessionReport>,
    /// The other log's.
    pub theirs: Vec<SessionReport>,
    /// Sessions (my index, their index) that recorded each other's key: the two sides of one
    /// consult.
    pub matched: Vec<(usize, usize)>,
    /// Everything that does not agree.
    pub mismatches: Vec<Mismatch>,
}

impl Compared {
    /// Every session whole, at least one consult matched, and nothing that disagrees.
    pub fn agree(&self) -> bool {
        self.mismatches.is_empty()
            && !self.matched.is_empty()
            && self
                .mine
                .iter()
                .chain(&self.theirs)
                .all(SessionReport::whole)
    }
}

/// Where two logs disagree (sessions by their position in their file, from 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// My session recorded a key for the other side that opens none of their sessions: their
    /// log is not the one they kept in that consult (rewritten under another key, or another
    /// consult's).
    TheirKeyUnknown {
        /// My session.
        mine: usize,
    },
    /// Their session recorded a key for me that opens none of my sessions.
    MyKeyUnknown {
        /// Their session.
        theirs: usize,
    },
    /// Only one side of a consult recorded the other's key: the other's log never says which
    /// log of this side is the true one, so nothing in it can be checked against this side's
    /// (a side that never announced or never recorded a key, or a log written afterwards that
    /// names the key it was told).
    KeyNotRecorded {
        /// My session.
        mine: usize,
        /// Their session.
        theirs: usize,
    },
    /// The two sides of one consult record different views (by object id and digest).
    Views {
        /// My session.
        mine: usize,
        /// Their session.
        theirs: usize,
        /// Views only my side records.
        only_mine: usize,
        /// Views only theirs records.
        only_theirs: usize,
    },
    /// The clinician's side names objects whose digests the patient's side never shared.
    NeverShared {
        /// My session.
        mine: usize,
        /// Their session.
        theirs: usize,
        /// How many entries.
        entries: usize,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TheirKeyUnknown { mine } => write!(
                f,
                "session {} of mine recorded a key for the other side that opens none of their sessions: their log was rewritten, or is another consult's",
                mine + 1
            ),
            Self::MyKeyUnknown { theirs } => write!(
                f,
                "session {} of theirs recorded a key for me that opens none of my sessions: my log was rewritten, or is another consult's",
                theirs + 1
            ),
            Self::KeyNotRecorded { mine, theirs } => write!(
                f,
                "sessions {} (mine) and {} (theirs): only one of them recorded the other's key, so neither vouches for the other",
                mine + 1,
                theirs + 1
            ),
            Self::Views {
                mine,
                theirs,
                only_mine,
                only_theirs,
            } => write!(
                f,
                "sessions {} (mine) and {} (theirs) record different views: {only_mine} only in mine, {only_theirs} only in theirs",
                mine + 1,
                theirs + 1
            ),
            Self::NeverShared {
                mine,
                theirs,
                entries,
            } => write!(
                f,
                "sessions {} (mine) and {} (theirs): {entries} entries on the clinician's side name objects the patient never shared",
                mine + 1,
                theirs + 1
            ),
        }
    }
}

/// One session, as comparing needs it.
struct Side {
    report: SessionReport,
    said: Vec<Said>,
}

impl Side {
    fn key(&self) -> Option<String> {
        self.report.report.public_key.clone()
    }

    fn owner(&self) -> Option<Role> {
        self.said.first().map(|s| s.actor)
    }

    /// The peer names (`peerN`) this session recorded, by the key each announced.
    fn peers(&self) -> impl Iterator<Item = (String, &str)> {
        self.said
            .iter()
            .filter(|s| s.action == Action::PeerKey)
            .map(|s| (hex::encode(s.digest), s.object.as_str()))
    }

    /// Views of objects shared by or with `peer`, as (object id, digest).
    fn views_with(&self, peer: &str) -> Vec<(String, [u8; 32])> {
        let prefix = format!("{peer}-");
        let mut views: Vec<_> = self
            .said
            .iter()
            .filter(|s| s.action == Action::View)
            .filter_map(|s| {
                s.object
                    .strip_prefix(&prefix)
                    .map(|object| (object.to_owned(), s.digest))
            })
            .collect();
        views.sort_unstable();
        views
    }
}

fn sides(bytes: &[u8]) -> Result<Vec<Side>, AuditError> {
    Ok(sessions_with_entries(bytes)?
        .into_iter()
        .map(|(report, said)| Side { report, said })
        .collect())
}

/// How many of `a` are not matched in `b` (both sorted).
fn unmatched(a: &[(String, [u8; 32])], b: &[(String, [u8; 32])]) -> usize {
    let mut left: HashMap<&(String, [u8; 32]), usize> = HashMap::new();
    for v in b {
        *left.entry(v).or_default() += 1;
    }
    a.iter()
        .filter(|v| match left.get_mut(v) {
            Some(n) if *n > 0 => {
                *n -= 1;
                false
            }
            _ => true,
        })
        .count()
}

/// Compares my log file with the other side's (each may hold several sessions).
pub fn compare(mine: &[u8], theirs: &[u8]) -> Result<Compared, AuditError> {
    let (mine, theirs) = (sides(mine)?, sides(theirs)?);
    let mut matched = Vec::new();
    let mut mismatches = Vec::new();
    let opens = |sessions: &[Side], key: &str| {
        sessions
            .iter()
            .position(|s| s.key().as_deref() == Some(key))
    };
    for (m, session) in mine.iter().enumerate() {
        for (key, _) in session.peers() {
            match opens(&theirs, &key) {
                Some(t) => {
                    if !matched.contains(&(m, t)) {
                        matched.push((m, t));
                    }
                }
                None => mismatches.push(Mismatch::TheirKeyUnknown { mine: m }),
            }
        }
    }
    for (t, session) in theirs.iter().enumerate() {
        for (key, _) in session.peers() {
            match opens(&mine, &key) {
                Some(m) => {
                    if !matched.contains(&(m, t)) {
                        matched.push((m, t));
                    }
                }
                None => mismatches.push(Mismatch::MyKeyUnknown { theirs: t }),
            }
        }
    }
    let empty = object_digest(&[]);
    for &(m, t) in &matched {
        let (a, b) = (&mine[m], &theirs[t]);
        // What each calls the other: the peer-key entry that holds the other's key.
        let name_in = |side: &Side, other: &Side| {
            let key = other.key();
            side.peers()
                .find(|(k, _)| Some(k) == key.as_ref())
                .map(|(_, name)| name.to_owned())
        };
        let (Some(b_in_a), Some(a_in_b)) = (name_in(a, b), name_in(b, a)) else {
            mismatches.push(Mismatch::KeyNotRecorded { mine: m, theirs: t });
            continue;
        };
        let (views_a, views_b) = (a.views_with(&b_in_a), b.views_with(&a_in_b));
        let (only_mine, only_theirs) =
            (unmatched(&views_a, &views_b), unmatched(&views_b, &views_a));
        if only_mine + only_theirs > 0 {
            mismatches.push(Mismatch::Views {
                mine: m,
                theirs: t,
                only_mine,
                only_theirs,
            });
        }
        // The clinician's side names only objects the patient shared.
        let (patient, clinician, patient_name) = match (a.owner(), b.owner()) {
            (Some(Role::Patient), _) => (a, b, a_in_b),
            (_, Some(Role::Patient)) => (b, a, b_in_a),
            _ => continue,
        };
        let shared: Vec<[u8; 32]> = patient
            .said
            .iter()
            .filter(|s| s.action == Action::Share)
            .map(|s| s.digest)
            .collect();
        let prefix = format!("{patient_name}-");
        let entries = clinician
            .said
            .iter()
            .filter(|s| s.object.starts_with(&prefix) && s.digest != empty)
            .filter(|s| !shared.contains(&s.digest))
            .count();
        if entries > 0 {
            mismatches.push(Mismatch::NeverShared {
                mine: m,
                theirs: t,
                entries,
            });
        }
    }
    Ok(Compared {
        mine: mine.into_iter().map(|s| s.report).collect(),
        theirs: theirs.into_iter().map(|s| s.report).collect(),
        matched,
        mismatches,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{AuditLog, ObjectId};
    use super::*;

    fn id(s: &str) -> ObjectId {
        ObjectId::new(s).expect("an id")
    }

    /// A log: a header, then `entries`, then a close.
    fn log(
        log: &mut AuditLog,
        header: String,
        owner: Role,
        entries: &[(Action, &str, [u8; 32])],
    ) -> Vec<u8> {
        let mut out = header;
        for (i, (action, object, digest)) in entries.iter().enumerate() {
            out.push_str(
                &log.append(100 + i as i64, *action, owner, &id(object), digest)
                    .expect("appends"),
            );
        }
        out.push_str(&log.close(200, owner).expect("closes"));
        out.into_bytes()
    }

    #[test]
    fn two_true_logs_agree_and_a_rewritten_one_is_caught() {
        let scan = object_digest(b"the scan");
        let (mut p, p_head) = AuditLog::start(id("session-p"), Role::Patient, 1).expect("starts");
        let (mut c, c_head) = AuditLog::start(id("session-c"), Role::Clinician, 1).expect("starts");
        let (p_key, c_key) = (p.public_key(), c.public_key());
        let patient = log(
            &mut p,
            p_head,
            Role::Patient,
            &[
                (Action::PeerKey, "peer2", c_key),
                (Action::Share, "share0", scan),
                (Action::View, "peer2-object1", scan),
            ],
        );
        let clinician_entries = [
            (Action::PeerKey, "peer1", p_key),
            (Action::View, "peer1-object1", scan),
            (Action::Purge, "peer1-object1", scan),
        ];
        let clinician = log(&mut c, c_head.clone(), Role::Clinician, &clinician_entries);
        let both = compare(&patient, &clinician).expect("compares");
        assert!(both.agree(), "{both:?}");
        assert_eq!(both.matched, vec![(0, 0)]);

        // Rewritten under a new key (the view dropped): the key the patient recorded opens
        // none of its sessions.
        let (mut forged, forged_head) =
            AuditLog::start(id("session-c"), Role::Clinician, 1).expect("starts");
        let rewritten = log(
            &mut forged,
            forged_head,
            Role::Clinician,
            &[clinician_entries[0], clinician_entries[2]],
        );
        let caught = compare(&patient, &rewritten).expect("compares");
        assert!(!caught.agree());
        assert!(
            caught
                .mismatches
                .contains(&Mismatch::TheirKeyUnknown { mine: 0 }),
            "{caught:?}"
        );

        // A clinician's log that never recorded the patient's key (its side never said one,
        // or it was written afterwards with the key it was told): nothing vouches for it.
        let (mut silent, silent_head) =
            AuditLog::start(id("session-c"), Role::Clinician, 1).expect("starts");
        let silent_key = silent.public_key();
        let unrecorded = log(
            &mut silent,
            silent_head,
            Role::Clinician,
            &[(Action::View, "peer1-object1", scan)],
        );
        let (mut p2, p2_head) = AuditLog::start(id("session-p"), Role::Patient, 1).expect("starts");
        let patient2 = log(
            &mut p2,
            p2_head,
            Role::Patient,
            &[
                (Action::PeerKey, "peer2", silent_key),
                (Action::Share, "share0", scan),
            ],
        );
        let caught = compare(&patient2, &unrecorded).expect("compares");
        assert!(!caught.agree(), "{caught:?}");
        assert_eq!(
            caught.mismatches,
            vec![Mismatch::KeyNotRecorded { mine: 0, theirs: 0 }]
        );
    }

    /// A log signed with the key the other side recorded (by someone who kept the key, or a
    /// side that wrote what did not happen) but that disagrees with the other side's record.
    #[test]
    fn a_log_under_the_right_key_that_tells_another_story_is_caught() {
        let scan = object_digest(b"the scan");
        let other = object_digest(b"something never shared");
        let (mut p, p_head) = AuditLog::start(id("session-p"), Role::Patient, 1).expect("starts");
        let (mut c, c_head) = AuditLog::start(id("session-c"), Role::Clinician, 1).expect("starts");
        let (p_key, c_key) = (p.public_key(), c.public_key());
        let patient = log(
            &mut p,
            p_head,
            Role::Patient,
            &[
                (Action::PeerKey, "peer2", c_key),
                (Action::Share, "share0", scan),
            ],
        );
        // The clinician's log claims a view the patient's side was never told of, and names an
        // object the patient never shared.
        let clinician = log(
            &mut c,
            c_head,
            Role::Clinician,
            &[
                (Action::PeerKey, "peer1", p_key),
                (Action::View, "peer1-object1", scan),
                (Action::Keep, "peer1-object2", other),
            ],
        );
        let caught = compare(&patient, &clinician).expect("compares");
        assert_eq!(
            caught.mismatches,
            vec![
                Mismatch::Views {
                    mine: 0,
                    theirs: 0,
                    only_mine: 0,
                    only_theirs: 1
                },
                Mismatch::NeverShared {
                    mine: 0,
                    theirs: 0,
                    entries: 1
                }
            ]
        );
        // The other way round, the same disagreement from the clinician's side.
        let reversed = compare(&clinician, &patient).expect("compares");
        assert_eq!(reversed.mismatches.len(), 2, "{reversed:?}");
        assert!(!reversed.agree());
    }
}
