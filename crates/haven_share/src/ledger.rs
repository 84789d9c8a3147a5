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
use haven_proto::signal::{PeerId, Role};

use crate::audit::{Action, object_digest};
use crate::offer::Offer;

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

/// The share protocol's state on one side of a consult.
#[derive(Debug, Default)]
pub struct ShareLedger {
    /// This side may write kept shares (a keep folder was given).
    can_keep: bool,
    next_object: u32,
    outgoing: Vec<Outgoing>,
    /// Clinicians and therapists this side's offers go to: those in the room before anything
    /// was shared, and newcomers the patient said yes to.
    recipients: Vec<PeerId>,
    /// Clinicians and therapists who connected while something was shared: they get nothing
    /// until the patient says yes ([`ShareLedger::share_with`]).
    newcomers: Vec<PeerId>,
    /// Newcomers the patient said no to: nothing of this side's goes to them.
    declined: Vec<PeerId>,
    /// The latest time given to [`ShareLedger::tick`], Unix seconds (0: never).
    now: u64,
    incoming: HashMap<(PeerId, ObjectId), Incoming>,
    /// Objects taken back while their bytes may still be on the way.
    revoked: HashSet<(PeerId, ObjectId)>,
    effects: Vec<Effect>,
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

    // --- this side shares -----------------------------------------------------------------

    /// The patient offers a prepared object: it goes to every clinician connected now and to
    /// those who connect later. Returns its position.
    pub fn offer(&mut self, offer: Offer) -> usize {
        let index = self.outgoing.len();
        let key = ShareKey::Mine(index);
        self.effects.push(Effect::Audit {
            action: Action::Share,
            object: key.audit_name(),
            digest: digest_of(&offer.data),
        });
        self.effects.push(Effect::Show {
            key,
            kind: offer.kind,
            data: offer.data.clone(),
            label: offer.label.clone(),
        });
        self.outgoing.push(Outgoing {
            offer,
            sent_to: Vec::new(),
            revoked: false,
            delivered: Vec::new(),
            viewed: false,
            purged: false,
        });
        for peer in self.recipients.clone() {
            self.send_share(index, peer);
        }
        index
    }

    fn send_share(&mut self, index: usize, to: PeerId) {
        let object = ObjectId(self.next_object);
        self.next_object = self.next_object.wrapping_add(1).max(1);
        let share = &mut self.outgoing[index];
        share.sent_to.push((to, object));
        self.effects.push(Effect::SendObject {
            to,
            object,
            kind: share.offer.kind,
            data: share.offer.data.clone(),
        });
        self.effects.push(Effect::Send {
            to,
            message: Control::Shared(share.offer.terms(object)),
        });
    }

    /// A peer's channels opened (a new peer: a participant resuming its own place reconnects,
    /// it does not connect again). A clinician or therapist who arrives before anything is
    /// shared will get what the patient shares from then on. One who arrives while something
    /// is shared is a newcomer: it gets nothing until the patient says yes
    /// ([`Effect::AskAboutNewcomer`]); an invite is a bearer token, and the patient decides
    /// who sees what.
    pub fn peer_connected(&mut self, peer: PeerId, role: Role) {
        if !matches!(role, Role::Clinician | Role::Therapist)
            || self.recipients.contains(&peer)
            || self.newcomers.contains(&peer)
            || self.declined.contains(&peer)
        {
            return;
        }
        if self
            .outgoing
            .iter()
            .any(|s| !s.revoked && !self.expired(&s.offer))
        {
            self.newcomers.push(peer);
            self.effects.push(Effect::AskAboutNewcomer(peer));
        } else {
            self.recipients.push(peer);
        }
    }

    /// Time passes (Unix seconds; call it every frame or so). A share whose time is up (its
    /// terms' `until`, the patient's `--share-for`) is dropped on the clinician's side, audited
    /// as expired, the patient told it is gone, and the display told ([`Effect::Expired`]);
    /// an expired share is never kept. On the patient's side an expired offer goes to no
    /// newcomer.
    pub fn tick(&mut self, now_unix: u64) {
        self.now = self.now.max(now_unix);
        let mut expired: Vec<(PeerId, ObjectId)> = self
            .incoming
            .iter()
            .filter(|(_, e)| e.terms.as_ref().is_some_and(|t| t.until <= self.now))
            .map(|(k, _)| *k)
            .collect();
        expired.sort_by_key(|(p, o)| (p.0, o.0));
        for (from, object) in expired {
            let Some(entry) = self.incoming.remove(&(from, object)) else {
                continue;
            };
            // Whatever of it is still on its way is dropped as it lands.
            self.revoked.insert((from, object));
            let key = ShareKey::From(from, object);
            let digest = entry
                .object
                .as_ref()
                .map_or_else(|| object_digest(&[]), |(_, d)| digest_of(d));
            self.effects.push(Effect::Audit {
                action: Action::Expire,
                object: key.audit_name(),
                digest,
            });
            self.effects.push(Effect::Send {
                to: from,
                message: Control::Purged { object },
            });
            self.effects.push(Effect::Expired(key));
            self.effects.push(Effect::Purge(key));
        }
    }

    fn expired(&self, offer: &Offer) -> bool {
        self.now > 0 && offer.until <= self.now
    }

    /// The patient says yes to a newcomer: everything they share now goes to it, and what they
    /// share later too.
    pub fn share_with(&mut self, peer: PeerId) {
        let Some(at) = self.newcomers.iter().position(|&p| p == peer) else {
            return;
        };
        self.newcomers.remove(at);
        self.recipients.push(peer);
        for index in 0..self.outgoing.len() {
            let share = &self.outgoing[index];
            if !share.revoked
                && !self.expired(&share.offer)
                && !share.sent_to.iter().any(|(p, _)| *p == peer)
            {
                self.send_share(index, peer);
            }
        }
    }

    /// The patient says no to a newcomer: nothing of theirs goes to it.
    pub fn decline(&mut self, peer: PeerId) {
        if let Some(at) = self.newcomers.iter().position(|&p| p == peer) {
            self.newcomers.remove(at);
            self.declined.push(peer);
        }
    }

    /// Newcomers waiting for the patient's answer, in the order they arrived.
    pub fn newcomers(&self) -> &[PeerId] {
        &self.newcomers
    }

    /// A peer's connection was rebuilt: room events sent just before may have been lost with
    /// the old one, so this side says again, to that peer only, what it shares and what it
    /// took back.
    pub fn peer_reconnected(&mut self, peer: PeerId) {
        for share in &self.outgoing {
            for &(to, object) in share.sent_to.iter().filter(|(to, _)| *to == peer) {
                let message = if share.revoked {
                    Control::Revoked { object }
                } else {
                    Control::Shared(share.offer.terms(object))
                };
                self.effects.push(Effect::Send { to, message });
            }
        }
    }

    /// The patient takes back the offer at `index`: what is on its way stops, every clinician
    /// who got it is told. A second revoke does nothing.
    pub fn revoke(&mut self, index: usize) {
        let Some(share) = self.outgoing.get_mut(index).filter(|s| !s.revoked) else {
            return;
        };
        share.revoked = true;
        for &(to, object) in &share.sent_to {
            self.effects.push(Effect::CancelObject { to, object });
            self.effects.push(Effect::Send {
                to,
                message: Control::Revoked { object },
            });
        }
        let key = ShareKey::Mine(index);
        self.effects.push(Effect::Audit {
            action: Action::Revoke,
            object: key.audit_name(),
            digest: digest_of(&share.offer.data),
        });
        self.effects.push(Effect::Purge(key));
    }

    /// One of this side's objects arrived whole at `to` (every byte acknowledged).
    pub fn delivered(&mut self, to: PeerId, object: ObjectId) {
        for share in &mut self.outgoing {
            if share.sent_to.contains(&(to, object)) && !share.delivered.contains(&object) {
                share.delivered.push(object);
            }
        }
    }

    /// A clinician said it viewed (`Control::Viewed`) or dropped (`Control::Purged`) one of
    /// this side's objects.
    pub fn acknowledged(&mut self, from: PeerId, object: ObjectId, viewed: bool) {
        self.effects.push(Effect::Audit {
            action: if viewed { Action::View } else { Action::Purge },
            object: ShareKey::From(from, object).audit_name(),
            digest: object_digest(&[]),
        });
        for share in &mut self.outgoing {
            if share.sent_to.contains(&(from, object)) {
                if viewed {
                    share.viewed = true;
                } else {
                    share.purged = true;
                }
            }
        }
    }

    // --- what peers share with this side ------------------------------------------------------

    /// A patient announced a share's terms.
    pub fn announced(&mut self, from: PeerId, terms: Share) {
        let key = (from, terms.object);
        if self.revoked.contains(&key) {
            return;
        }
        // Already over: never held, never shown (the next tick tells the patient).
        let over = self.now > 0 && terms.until <= self.now;
        self.incoming.entry(key).or_default().terms = Some(terms);
        if over {
            self.tick(self.now);
        } else {
            self.offer_to_show(key);
        }
    }

    /// A patient's object arrived whole (its SHA-256 checked).
    pub fn arrived(
        &mut self,
        from: PeerId,
        object: ObjectId,
        kind: ObjectKind,
        data: Redacted<Arc<Vec<u8>>>,
    ) {
        let key = (from, object);
        // Taken back while on its way: dropped as it lands.
        if self.revoked.contains(&key) {
            self.effects.push(Effect::Audit {
                action: Action::Purge,
                object: ShareKey::From(from, object).audit_name(),
                digest: digest_of(&data),
            });
            return;
        }
        let size = data.expose().len() as u64;
        let entry = self.incoming.entry(key).or_default();
        entry.object = Some((kind, data));
        entry.progress = (size, size);
        self.offer_to_show(key);
    }

    /// Part of a patient's object arrived.
    pub fn progress(&mut self, from: PeerId, object: ObjectId, received: u64, size: u64) {
        // Only for a share already known (announced or arrived): progress alone holds nothing.
        if let Some(entry) = self.incoming.get_mut(&(from, object))
            && entry.object.is_none()
        {
            entry.progress = (received, size);
        }
    }

    fn offer_to_show(&mut self, key: (PeerId, ObjectId)) {
        let Some(entry) = self.incoming.get_mut(&key) else {
            return;
        };
        if let (Some(terms), Some((kind, data)), false) =
            (&entry.terms, &entry.object, entry.offered_to_show)
            && (self.now == 0 || terms.until > self.now)
        {
            entry.offered_to_show = true;
            self.effects.push(Effect::Show {
                key: ShareKey::From(key.0, key.1),
                kind: *kind,
                data: data.clone(),
                label: terms.label.clone(),
            });
        }
    }

    /// A share handed out with [`Effect::Show`] is on show: the patient is told it was viewed,
    /// and it is audited. Once per share.
    pub fn shown(&mut self, key: ShareKey) {
        let ShareKey::From(from, object) = key else {
            return;
        };
        let Some(entry) = self.incoming.get_mut(&(from, object)) else {
            return;
        };
        if entry.shown {
            return;
        }
        entry.shown = true;
        let digest = entry
            .object
            .as_ref()
            .map_or_else(|| object_digest(&[]), |(_, d)| digest_of(d));
        self.effects.push(Effect::Send {
            to: from,
            message: Control::Viewed { object },
        });
        self.effects.push(Effect::Audit {
            action: Action::View,
            object: key.audit_name(),
            digest,
        });
    }

    /// The patient took a share back: it is dropped now (and whatever of it arrives later),
    /// and the patient is told. Said again after a reconnect, it changes nothing.
    pub fn revoked(&mut self, from: PeerId, object: ObjectId) {
        if !self.revoked.insert((from, object)) {
            return;
        }
        let data = self
            .incoming
            .remove(&(from, object))
            .and_then(|e| e.object)
            .map(|(_, d)| d);
        let key = ShareKey::From(from, object);
        let digest = data.as_ref().map_or_else(|| object_digest(&[]), digest_of);
        for action in [Action::Revoke, Action::Purge] {
            self.effects.push(Effect::Audit {
                action,
                object: key.audit_name(),
                digest,
            });
        }
        self.effects.push(Effect::Send {
            to: from,
            message: Control::Purged { object },
        });
        self.effects.push(Effect::Purge(key));
    }

    /// A transfer was cancelled or refused (by either side). Nothing of it is kept on the
    /// receiving side; the sending side keeps its offer as sent, not delivered (sending it
    /// again would only be refused again).
    pub fn cancelled(&mut self, peer: PeerId, object: ObjectId) {
        if let Some(entry) = self.incoming.remove(&(peer, object)) {
            let key = ShareKey::From(peer, object);
            let digest = entry
                .object
                .as_ref()
                .map_or_else(|| object_digest(&[]), |(_, d)| digest_of(d));
            self.effects.push(Effect::Audit {
                action: Action::Purge,
                object: key.audit_name(),
                digest,
            });
            self.effects.push(Effect::Purge(key));
        }
    }

    /// A peer left: what it shared with this side is settled (kept if allowed, else purged);
    /// this side's offers stop going to it.
    pub fn peer_left(&mut self, peer: PeerId) {
        self.recipients.retain(|&p| p != peer);
        self.newcomers.retain(|&p| p != peer);
        self.declined.retain(|&p| p != peer);
        let mut keys: Vec<_> = self
            .incoming
            .keys()
            .filter(|(p, _)| *p == peer)
            .copied()
            .collect();
        keys.sort_by_key(|k| k.1.0);
        for key in keys {
            if let Some(entry) = self.incoming.remove(&key) {
                self.settle(key, entry);
            }
        }
    }

    /// The consult ends for this side (it leaves, or the app closes): every share held is
    /// settled now and each patient is told it was dropped.
    pub fn end_of_consult(&mut self) {
        let mut held: Vec<_> = self.incoming.drain().collect();
        held.sort_by_key(|((p, o), _)| (p.0, o.0));
        for (key, entry) in held {
            self.settle(key, entry);
            self.effects.push(Effect::Send {
                to: key.0,
                message: Control::Purged { object: key.1 },
            });
        }
    }

    /// Keeps (if allowed and this side can) or purges one share.
    fn settle(&mut self, key: (PeerId, ObjectId), entry: Incoming) {
        let share_key = ShareKey::From(key.0, key.1);
        let object = share_key.audit_name();
        match (entry.terms, entry.object) {
            (Some(terms), Some((kind, data)))
                if terms.may_keep
                    && self.can_keep
                    && !data.expose().is_empty()
                    && (self.now == 0 || terms.until > self.now) =>
            {
                self.effects.push(Effect::Keep {
                    object,
                    kind,
                    data,
                    consent: terms.consent,
                });
            }
            (_, object_data) => {
                let digest = object_data
                    .as_ref()
                    .map_or_else(|| object_digest(&[]), |(_, d)| digest_of(d));
                self.effects.push(Effect::Audit {
                    action: Action::Purge,
                    object,
                    digest,
                });
            }
        }
        self.effects.push(Effect::Purge(share_key));
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(ledger.drain_effects().count(), 0, "nothing shared yet");
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
        assert_eq!(asked, vec![Effect::AskAboutNewcomer(PeerId(3))]);
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
