//! The share protocol, once: a sans-IO ledger of what this side shares and what it holds of
//! what others shared, fed with what happened (an offer, a peer connected, a revoke, an object
//! arrived, a peer left, the consult ended, ...) and answering with [`Effect`]s for the caller
//! to apply (send an object, cancel one, say something to one peer, write an audit entry, keep
//! a share, stop showing one, show one). It does no I/O and reads no clock: the room app and
//! the headless participant both drive it, so the protocol exists in one place.
//!
//! The protocol:
//! - The patient's side offers prepared objects ([`ShareLedger::offer`]). Each goes to every
//!   clinician or therapist as it connects: the object on `bulk`, its terms
//!   (`Control::Shared`) on `control`, to that peer only. After a rebuilt connection the terms
//!   and revokes are said again (they may have been lost with the old one). A revoke cancels
//!   what is still on its way and says `Control::Revoked`.
//! - The clinician's side holds what arrives in memory only, shows it once both its terms and
//!   its bytes are here, says `Control::Viewed` when it is shown, and drops it (with
//!   `Control::Purged` to the patient) on revoke; it settles everything from a patient who
//!   leaves, and everything at the end of the consult: kept if the patient allowed it and this
//!   side can keep, purged otherwise.
//! - Both sides audit every share, view, revoke, purge and keep, by object name and digest,
//!   never contents.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use haven_proto::Redacted;
use haven_proto::bulk::{ObjectId, ObjectKind};
use haven_proto::control::{Control, Share};
use haven_proto::signal::PeerId;

use crate::audit::{Action, object_digest};
use crate::offer::Offer;

mod incoming;
mod outgoing;

/// A share as this side knows it: one of its own offers (by position), or an object a peer
/// shared with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShareKey {
    /// This side's offer at this position of [`ShareLedger::outgoing`].
    Mine(usize),
    /// An object a peer shared.
    From(PeerId, ObjectId),
}

impl ShareKey {
    /// The name an audit entry gives it (no patient data: positions and ids only).
    pub fn audit_name(self) -> String {
        match self {
            Self::Mine(i) => format!("share{i}"),
            Self::From(peer, object) => format!("peer{}-object{}", peer.0, object.0),
        }
    }
}

/// What the caller does for the ledger.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Send an object to one peer on `bulk`, with this id.
    SendObject {
        /// To whom.
        to: PeerId,
        /// Its id (unique among this side's objects).
        object: ObjectId,
        /// What it is.
        kind: ObjectKind,
        /// Its bytes.
        data: Redacted<Arc<Vec<u8>>>,
    },
    /// Stop sending an object (what of it is on its way is dropped by the receiver).
    CancelObject {
        /// To whom it was going.
        to: PeerId,
        /// Which.
        object: ObjectId,
    },
    /// Say a room event to one peer only.
    Send {
        /// To whom.
        to: PeerId,
        /// What.
        message: Control,
    },
    /// Append an entry to the audit log.
    Audit {
        /// What happened.
        action: Action,
        /// To which share ([`ShareKey::audit_name`]).
        object: String,
        /// The SHA-256 of its bytes (of nothing when they are not held).
        digest: [u8; 32],
    },
    /// Keep a share the patient allowed the clinic to keep (only when this side can keep):
    /// write it with its Consent and a Provenance, then audit `keep` under `object` if it was
    /// written, `purge` if it could not be.
    Keep {
        /// Its audit name.
        object: String,
        /// What it is.
        kind: ObjectKind,
        /// Its bytes.
        data: Redacted<Arc<Vec<u8>>>,
        /// Its Consent (JSON), the proof that it may be kept.
        consent: Redacted<String>,
    },
    /// Show a share (the clinician's side: it is complete; the patient's side: it was offered).
    /// On the clinician's side, call [`ShareLedger::shown`] once it is on show.
    Show {
        /// Which.
        key: ShareKey,
        /// What it is.
        kind: ObjectKind,
        /// Its bytes.
        data: Redacted<Arc<Vec<u8>>>,
        /// The patient's label.
        label: Redacted<String>,
    },
    /// Whatever shows this share stops: it is no longer held.
    Purge(ShareKey),
    /// A share's time ran out and it was dropped (the display says so; a [`Effect::Purge`]
    /// follows).
    Expired(ShareKey),
    /// A clinician or therapist joined while the patient shares something: ask the patient
    /// whether what they share goes to them too ([`ShareLedger::share_with`] or
    /// [`ShareLedger::decline`]). Nothing goes to them until then.
    AskAboutNewcomer(PeerId),
    /// Tell this peer the key of this side's audit log (`Control::AuditKey`), so each side's
    /// log records the other's ([`crate::audit::compare`]).
    AnnounceAuditKey(PeerId),
    /// A clinician or therapist could not be verified against the patient's clinic: nothing
    /// goes to them unless the patient says to share anyway ([`ShareLedger::trust_anyway`]).
    AskAboutUnverified(PeerId),
}

/// One of this side's offers.
#[derive(Debug)]
pub struct Outgoing {
    /// The offer.
    pub offer: Offer,
    /// Where it went: the peer and the object id it got there.
    pub sent_to: Vec<(PeerId, ObjectId)>,
    /// Taken back.
    pub revoked: bool,
    /// Objects that arrived whole at a clinician.
    pub delivered: Vec<ObjectId>,
    /// A clinician said it viewed it.
    pub viewed: bool,
    /// A clinician said it dropped it (after a revoke, or when the consult ended for it).
    pub purged: bool,
}

impl Outgoing {
    /// Sent and not yet arrived whole everywhere it went.
    pub fn in_flight(&self) -> bool {
        !self.revoked
            && self
                .sent_to
                .iter()
                .any(|(_, id)| !self.delivered.contains(id))
    }
}

/// A share held on the clinician's side (memory only).
#[derive(Debug, Default)]
pub struct Incoming {
    /// Its terms, once announced.
    pub terms: Option<Share>,
    /// What it is and its bytes, once arrived.
    pub object: Option<(ObjectKind, Redacted<Arc<Vec<u8>>>)>,
    /// Bytes so far, and the size.
    pub progress: (u64, u64),
    /// Handed out to be shown ([`Effect::Show`]).
    pub offered_to_show: bool,
    /// On show (and the view said).
    pub shown: bool,
}

/// Where a clinician or therapist stands with what this side shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Standing {
    /// The patient said yes before it connected ([`ShareLedger::admit`]).
    Admitted,
    /// This side's offers go to it: it was in the room before anything was shared, or the
    /// patient said yes.
    Recipient,
    /// It connected while something was shared: nothing goes to it until the patient says yes
    /// ([`ShareLedger::share_with`]).
    Newcomer,
    /// The patient said no: nothing of this side's goes to it.
    Declined,
}

/// Whether a clinician or therapist is verified against the patient's clinic
/// ([`ShareLedger::require_verified`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Clearance {
    /// Its credential checked out on its current connection.
    Verified,
    /// It did not: nothing goes to it.
    Failed,
    /// It did not, and the patient said to share with it anyway.
    Trusted,
}

/// The share protocol's state on one side of a consult.
#[derive(Debug, Default)]
pub struct ShareLedger {
    /// This side may write kept shares (a keep folder was given).
    can_keep: bool,
    next_object: u32,
    outgoing: Vec<Outgoing>,
    /// Where each clinician or therapist stands with this side's offers, in the order they
    /// came (offers go out in that order).
    standing: Vec<(PeerId, Standing)>,
    /// Offers go only to clinicians verified against the patient's clinic (or trusted anyway).
    verify: bool,
    /// What is known of each one's credential (no entry: nothing yet).
    clearance: HashMap<PeerId, Clearance>,
    /// The latest time given to [`ShareLedger::tick`], Unix seconds (0: never).
    now: u64,
    incoming: HashMap<(PeerId, ObjectId), Incoming>,
    /// Objects taken back while their bytes may still be on the way.
    revoked: HashSet<(PeerId, ObjectId)>,
    effects: Vec<Effect>,
    /// The audit key each peer announced (recorded once each).
    peer_keys: HashMap<PeerId, [u8; 32]>,
    /// Peers this side announced its audit key to.
    announced: HashSet<PeerId>,
}

fn digest_of(data: &Redacted<Arc<Vec<u8>>>) -> [u8; 32] {
    object_digest(data.expose())
}

impl ShareLedger {
    /// A ledger; `can_keep`: this side writes shares the patient allowed it to keep.
    pub fn new(can_keep: bool) -> Self {
        Self {
            can_keep,
            next_object: 1,
            ..Self::default()
        }
    }

    /// The effects of what was fed in so far, in order; the caller applies them.
    pub fn drain_effects(&mut self) -> std::vec::Drain<'_, Effect> {
        self.effects.drain(..)
    }

    /// This side's offers, by position.
    pub fn outgoing(&self) -> &[Outgoing] {
        &self.outgoing
    }

    /// What this side holds of what peers shared.
    pub fn incoming(&self) -> impl Iterator<Item = ((PeerId, ObjectId), &Incoming)> {
        self.incoming.iter().map(|(k, v)| (*k, v))
    }

    /// The bytes of a share still held (a revoked offer or a dropped share: none).
    pub fn data(&self, key: ShareKey) -> Option<(ObjectKind, &Redacted<Arc<Vec<u8>>>)> {
        match key {
            ShareKey::Mine(i) => self
                .outgoing
                .get(i)
                .filter(|s| !s.revoked)
                .map(|s| (s.offer.kind, &s.offer.data)),
            ShareKey::From(peer, object) => self
                .incoming
                .get(&(peer, object))
                .and_then(|e| e.object.as_ref())
                .map(|(kind, data)| (*kind, data)),
        }
    }

    /// Whether a share is still held: one of this side's offers not taken back, or a peer's
    /// share not dropped.
    pub fn holds(&self, key: ShareKey) -> bool {
        match key {
            ShareKey::Mine(i) => self.outgoing.get(i).is_some_and(|s| !s.revoked),
            ShareKey::From(peer, object) => self.incoming.contains_key(&(peer, object)),
        }
    }

    /// Bytes arrived and expected of the shares on their way here.
    pub fn receiving(&self) -> (u64, u64) {
        self.incoming
            .values()
            .filter(|e| e.object.is_none() && e.progress.1 > 0)
            .fold((0, 0), |(g, t), e| (g + e.progress.0, t + e.progress.1))
    }

    fn standing(&self, peer: PeerId) -> Option<Standing> {
        self.standing
            .iter()
            .find(|(p, _)| *p == peer)
            .map(|(_, s)| *s)
    }

    /// Puts `peer` at `standing` (where it was, or last).
    fn stand(&mut self, peer: PeerId, standing: Standing) {
        match self.standing.iter_mut().find(|(p, _)| *p == peer) {
            Some((_, s)) => *s = standing,
            None => self.standing.push((peer, standing)),
        }
    }

    /// Whether this side's offers may go to `peer` as far as its credential goes.
    fn cleared(&self, peer: PeerId) -> bool {
        !self.verify
            || matches!(
                self.clearance.get(&peer),
                Some(Clearance::Verified | Clearance::Trusted)
            )
    }

    fn expired(&self, offer: &Offer) -> bool {
        self.now > 0 && offer.until <= self.now
    }
}

#[cfg(test)]
mod tests {
    use haven_proto::signal::Role;

    use super::*;

    const PATIENT: PeerId = PeerId(5);
    const CLINICIAN: PeerId = PeerId(1);

    fn offer(label: &str, may_keep: bool) -> Offer {
        Offer {
            kind: ObjectKind::Fhir,
            data: Redacted::new(Arc::new(label.as_bytes().to_vec())),
            label: Redacted::new(label.to_owned()),
            consent: Redacted::new(r#"{"resourceType":"Consent"}"#.to_owned()),
            may_keep,
            until: 0,
            caution: None,
        }
    }

    fn terms(object: u32, may_keep: bool) -> Share {
        offer("Summary", may_keep).terms(ObjectId(object))
    }

    fn actions(effects: &[Effect]) -> Vec<Action> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Audit { action, .. } => Some(*action),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_offer_goes_to_the_clinicians_in_the_room_and_newcomers_only_when_the_patient_says_so() {
        let mut ledger = ShareLedger::new(false);
        ledger.peer_connected(PeerId(7), Role::Patient);
        ledger.peer_connected(CLINICIAN, Role::Clinician);
        ledger.peer_connected(CLINICIAN, Role::Clinician);
        assert_eq!(
            ledger.drain_effects().collect::<Vec<_>>(),
            vec![
                Effect::AnnounceAuditKey(PeerId(7)),
                Effect::AnnounceAuditKey(CLINICIAN)
            ],
            "nothing shared yet; each peer told this side's audit key once"
        );
        ledger.offer(offer("a", false));
        let sent: Vec<_> = ledger.drain_effects().collect();
        assert_eq!(actions(&sent), vec![Action::Share]);
        let sent: Vec<_> = sent
            .into_iter()
            .filter(|e| matches!(e, Effect::SendObject { .. } | Effect::Send { .. }))
            .collect();
        assert_eq!(sent.len(), 2, "once, to the clinician only: {sent:?}");
        let Effect::SendObject { to, object, .. } = &sent[0] else {
            panic!("{sent:?}")
        };
        assert_eq!(*to, CLINICIAN);
        assert!(
            matches!(&sent[1], Effect::Send { to, message: Control::Shared(s) } if *to == CLINICIAN && s.object == *object)
        );
        // A therapist connecting later is a newcomer: the patient is asked, and nothing goes
        // to it until they say yes; then it gets it, under another id.
        ledger.peer_connected(PeerId(3), Role::Therapist);
        let asked: Vec<_> = ledger.drain_effects().collect();
        assert_eq!(
            asked,
            vec![
                Effect::AnnounceAuditKey(PeerId(3)),
                Effect::AskAboutNewcomer(PeerId(3))
            ]
        );
        ledger.share_with(PeerId(3));
        let later: Vec<_> = ledger.drain_effects().collect();
        assert!(
            matches!(&later[0], Effect::SendObject { to, object: o, .. } if *to == PeerId(3) && o != object)
        );
        // One declined gets nothing, not even what is shared later.
        ledger.peer_connected(PeerId(4), Role::Clinician);
        ledger.decline(PeerId(4));
        ledger.offer(offer("b", false));
        let effects: Vec<_> = ledger.drain_effects().collect();
        assert!(
            !effects.iter().any(|e| matches!(e, Effect::SendObject { to, .. } | Effect::Send { to, .. } if *to == PeerId(4))),
            "{effects:?}"
        );
    }

    fn sent_to(effects: &[Effect]) -> Vec<PeerId> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::SendObject { to, .. } => Some(*to),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn when_the_invite_names_a_clinic_only_verified_clinicians_get_shares() {
        let mut ledger = ShareLedger::new(false);
        ledger.require_verified();
        let (verified, forged, late) = (PeerId(1), PeerId(2), PeerId(3));
        ledger.peer_connected(verified, Role::Clinician);
        ledger.peer_connected(forged, Role::Clinician);
        ledger.peer_connected(late, Role::Therapist);
        ledger.offer(offer("a", false));
        assert!(
            sent_to(&ledger.drain_effects().collect::<Vec<_>>()).is_empty(),
            "nothing before a verdict"
        );
        ledger.peer_verified(verified, true);
        assert_eq!(
            sent_to(&ledger.drain_effects().collect::<Vec<_>>()),
            vec![verified]
        );
        ledger.peer_verified(forged, false);
        ledger.peer_verified(forged, false);
        let asked: Vec<_> = ledger.drain_effects().collect();
        assert_eq!(
            asked,
            vec![Effect::AskAboutUnverified(forged)],
            "asked once"
        );
        assert_eq!(ledger.unverified(), vec![forged]);
        // What is shared later still goes to the verified one only.
        ledger.offer(offer("b", false));
        assert_eq!(
            sent_to(&ledger.drain_effects().collect::<Vec<_>>()),
            vec![verified]
        );
        // The patient says to share anyway: both offers go.
        ledger.trust_anyway(forged);
        assert_eq!(
            sent_to(&ledger.drain_effects().collect::<Vec<_>>()),
            vec![forged, forged]
        );
        assert!(ledger.unverified().is_empty());
        // A verdict that comes later is not undone by a second failure of a trusted peer,
        // and one who never proves anything gets nothing.
        ledger.peer_verified(forged, false);
        assert_eq!(ledger.drain_effects().count(), 0);
        assert!(!ledger.outgoing()[0].sent_to.iter().any(|(p, _)| *p == late));
    }

    #[test]
    fn a_revoke_cancels_says_so_and_happens_once() {
        let mut ledger = ShareLedger::new(false);
        ledger.peer_connected(CLINICIAN, Role::Clinician);
        ledger.offer(offer("a", false));
        let _ = ledger.drain_effects().count();
        ledger.revoke(0);
        ledger.revoke(0);
        let effects: Vec<_> = ledger.drain_effects().collect();
        assert!(matches!(
            effects[0],
            Effect::CancelObject { to: CLINICIAN, .. }
        ));
        assert!(matches!(
            effects[1],
            Effect::Send {
                to: CLINICIAN,
                message: Control::Revoked { .. }
            }
        ));
        assert_eq!(actions(&effects), vec![Action::Revoke]);
        assert_eq!(effects.last(), Some(&Effect::Purge(ShareKey::Mine(0))));
        assert!(!ledger.holds(ShareKey::Mine(0)));
    }

    #[test]
    fn a_share_is_shown_once_terms_and_bytes_are_both_here_in_either_order() {
        for terms_first in [true, false] {
            let mut ledger = ShareLedger::new(false);
            let data = Redacted::new(Arc::new(b"x".to_vec()));
            if terms_first {
                ledger.announced(PATIENT, terms(3, false));
                assert_eq!(ledger.drain_effects().count(), 0);
                ledger.arrived(PATIENT, ObjectId(3), ObjectKind::Fhir, data);
            } else {
                ledger.arrived(PATIENT, ObjectId(3), ObjectKind::Fhir, data);
                assert_eq!(ledger.drain_effects().count(), 0);
                ledger.announced(PATIENT, terms(3, false));
            }
            let shown: Vec<_> = ledger.drain_effects().collect();
            assert!(
                matches!(&shown[..], [Effect::Show { key, .. }] if *key == ShareKey::From(PATIENT, ObjectId(3)))
            );
            ledger.shown(ShareKey::From(PATIENT, ObjectId(3)));
            ledger.shown(ShareKey::From(PATIENT, ObjectId(3)));
            let viewed: Vec<_> = ledger.drain_effects().collect();
            assert_eq!(actions(&viewed), vec![Action::View]);
            assert_eq!(viewed.len(), 2, "one view said, one audited: {viewed:?}");
        }
    }

    #[test]
    fn what_lands_after_its_revoke_is_dropped() {
        let mut ledger = ShareLedger::new(true);
        ledger.announced(PATIENT, terms(6, true));
        ledger.revoked(PATIENT, ObjectId(6));
        let _ = ledger.drain_effects().count();
        ledger.arrived(
            PATIENT,
            ObjectId(6),
            ObjectKind::Fhir,
            Redacted::new(Arc::new(b"late".to_vec())),
        );
        assert_eq!(
            actions(&ledger.drain_effects().collect::<Vec<_>>()),
            vec![Action::Purge]
        );
        assert!(!ledger.holds(ShareKey::From(PATIENT, ObjectId(6))));
    }

    #[test]
    fn a_patient_who_leaves_takes_everything_except_what_may_be_kept() {
        let mut ledger = ShareLedger::new(true);
        for (object, may_keep) in [(1, false), (2, true)] {
            ledger.announced(PATIENT, terms(object, may_keep));
            ledger.arrived(
                PATIENT,
                ObjectId(object),
                ObjectKind::Fhir,
                Redacted::new(Arc::new(vec![object as u8])),
            );
        }
        let _ = ledger.drain_effects().count();
        ledger.peer_left(PATIENT);
        let effects: Vec<_> = ledger.drain_effects().collect();
        assert_eq!(actions(&effects), vec![Action::Purge]);
        assert_eq!(
            effects
                .iter()
                .filter(|e| matches!(e, Effect::Keep { object, .. } if object == "peer5-object2"))
                .count(),
            1
        );
        assert_eq!(ledger.incoming().count(), 0);
        // Without a keep folder nothing is kept.
        let mut ledger = ShareLedger::new(false);
        ledger.announced(PATIENT, terms(2, true));
        ledger.arrived(
            PATIENT,
            ObjectId(2),
            ObjectKind::Fhir,
            Redacted::new(Arc::new(vec![2])),
        );
        ledger.end_of_consult();
        let effects: Vec<_> = ledger.drain_effects().collect();
        assert!(!effects.iter().any(|e| matches!(e, Effect::Keep { .. })));
        assert_eq!(actions(&effects), vec![Action::Purge]);
        assert!(effects.contains(&Effect::Send {
            to: PATIENT,
            message: Control::Purged {
                object: ObjectId(2)
            }
        }));
    }

    #[test]
    fn a_share_whose_time_is_up_is_dropped_audited_as_expired_and_never_kept() {
        let mut ledger = ShareLedger::new(true);
        let mut first = terms(4, true);
        first.until = 1_000;
        ledger.tick(500);
        ledger.announced(PATIENT, first);
        ledger.arrived(
            PATIENT,
            ObjectId(4),
            ObjectKind::Fhir,
            Redacted::new(Arc::new(vec![4])),
        );
        assert!(
            ledger
                .drain_effects()
                .any(|e| matches!(e, Effect::Show { .. }))
        );
        ledger.tick(999);
        assert_eq!(ledger.drain_effects().count(), 0, "not yet");
        ledger.tick(1_000);
        let effects: Vec<_> = ledger.drain_effects().collect();
        assert_eq!(actions(&effects), vec![Action::Expire]);
        assert!(effects.contains(&Effect::Send {
            to: PATIENT,
            message: Control::Purged {
                object: ObjectId(4)
            }
        }));
        assert!(effects.contains(&Effect::Expired(ShareKey::From(PATIENT, ObjectId(4)))));
        assert_eq!(ledger.incoming().count(), 0);
        // What lands after its time is up is dropped; the end of the consult keeps nothing.
        ledger.arrived(
            PATIENT,
            ObjectId(4),
            ObjectKind::Fhir,
            Redacted::new(Arc::new(vec![4])),
        );
        ledger.end_of_consult();
        assert!(
            !ledger
                .drain_effects()
                .any(|e| matches!(e, Effect::Keep { .. }))
        );
        // Terms already over when they arrive: never shown, never kept.
        let mut late = terms(5, true);
        late.until = 1_000;
        ledger.announced(PATIENT, late);
        ledger.arrived(
            PATIENT,
            ObjectId(5),
            ObjectKind::Fhir,
            Redacted::new(Arc::new(vec![5])),
        );
        ledger.peer_left(PATIENT);
        let effects: Vec<_> = ledger.drain_effects().collect();
        assert!(
            !effects
                .iter()
                .any(|e| matches!(e, Effect::Show { .. } | Effect::Keep { .. })),
            "{effects:?}"
        );
    }
}
