//! The sharing side of the ledger: the patient's offers, who they go to (the clinicians in
//! the room, newcomers the patient says yes to), revokes, deliveries and what the clinicians
//! say back.

use haven_proto::bulk::ObjectId;
use haven_proto::control::Control;
use haven_proto::signal::{PeerId, Role};

use super::{Clearance, Effect, Outgoing, ShareKey, ShareLedger, Standing, digest_of};
use crate::audit::{Action, object_digest};
use crate::offer::Offer;

impl ShareLedger {
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
        let recipients: Vec<PeerId> = self
            .standing
            .iter()
            .filter(|(p, s)| *s == Standing::Recipient && self.cleared(*p))
            .map(|(p, _)| *p)
            .collect();
        for peer in recipients {
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
        if self.announced.insert(peer) {
            self.effects.push(Effect::AnnounceAuditKey(peer));
        }
        if !matches!(role, Role::Clinician | Role::Therapist) {
            return;
        }
        match self.standing(peer) {
            // The patient said yes before it connected ([`ShareLedger::admit`]).
            Some(Standing::Admitted) => self.send_all_to(peer),
            Some(_) => {}
            None if self
                .outgoing
                .iter()
                .any(|s| !s.revoked && !self.expired(&s.offer)) =>
            {
                self.stand(peer, Standing::Newcomer);
                self.effects.push(Effect::AskAboutNewcomer(peer));
            }
            None => self.stand(peer, Standing::Recipient),
        }
    }

    /// The patient says yes, in advance, to a clinician or therapist who is in the room but not
    /// connected yet (the peers named when the patient joined: `join --headless --share`
    /// shares with whoever is already there): when it connects it gets what is shared.
    pub fn admit(&mut self, peer: PeerId) {
        if self.standing(peer).is_none() {
            self.stand(peer, Standing::Admitted);
        }
    }

    /// The patient says yes to a newcomer: everything they share now goes to it, and what they
    /// share later too.
    pub fn share_with(&mut self, peer: PeerId) {
        if self.standing(peer) == Some(Standing::Newcomer) {
            self.send_all_to(peer);
        }
    }

    /// Makes `peer` a recipient and sends it every offer still held that it has not got (once
    /// it is cleared, when clinicians must be verified).
    fn send_all_to(&mut self, peer: PeerId) {
        self.stand(peer, Standing::Recipient);
        if !self.cleared(peer) {
            return;
        }
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

    /// Offers go only to clinicians and therapists whose clinic credential checked out
    /// ([`ShareLedger::peer_verified`]) or whom the patient trusts anyway: set when the
    /// patient's invite names their clinic.
    pub fn require_verified(&mut self) {
        self.verify = true;
    }

    /// What the session found of `peer`'s credential on its current connection. Verified: what
    /// waits for it goes. Not: nothing more goes to it, and the patient is asked
    /// ([`Effect::AskAboutUnverified`]) unless they already said to trust it.
    pub fn peer_verified(&mut self, peer: PeerId, verified: bool) {
        if !self.verify {
            return;
        }
        let before = self.clearance.get(&peer).copied();
        if verified {
            self.clearance.insert(peer, Clearance::Verified);
            if self.standing(peer) == Some(Standing::Recipient) {
                self.send_all_to(peer);
            }
        } else if before != Some(Clearance::Trusted) {
            self.clearance.insert(peer, Clearance::Failed);
            if before != Some(Clearance::Failed) {
                self.effects.push(Effect::AskAboutUnverified(peer));
            }
        }
    }

    /// The patient says to share with a clinician or therapist who could not be verified.
    pub fn trust_anyway(&mut self, peer: PeerId) {
        if self.clearance.get(&peer) == Some(&Clearance::Failed) {
            self.clearance.insert(peer, Clearance::Trusted);
            if self.standing(peer) == Some(Standing::Recipient) {
                self.send_all_to(peer);
            }
        }
    }

    /// Clinicians and therapists that could not be verified and are not trusted anyway, in
    /// the order they came.
    pub fn unverified(&self) -> Vec<PeerId> {
        if !self.verify {
            return Vec::new();
        }
        self.standing
            .iter()
            .map(|(p, _)| *p)
            .chain(self.clearance.keys().copied())
            .filter(|p| self.clearance.get(p) == Some(&Clearance::Failed))
            .fold(Vec::new(), |mut seen, p| {
                if !seen.contains(&p) {
                    seen.push(p);
                }
                seen
            })
    }

    /// The patient says no to a newcomer: nothing of theirs goes to it.
    pub fn decline(&mut self, peer: PeerId) {
        if self.standing(peer) == Some(Standing::Newcomer) {
            self.stand(peer, Standing::Declined);
        }
    }

    /// Newcomers waiting for the patient's answer, in the order they arrived.
    pub fn newcomers(&self) -> Vec<PeerId> {
        self.standing
            .iter()
            .filter(|(_, s)| *s == Standing::Newcomer)
            .map(|(p, _)| *p)
            .collect()
    }

    /// A peer's connection was rebuilt: room events sent just before may have been lost with
    /// the old one, so this side says again, to that peer only, what it shares and what it
    /// took back.
    pub fn peer_reconnected(&mut self, peer: PeerId) {
        if !self.cleared(peer) {
            return;
        }
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

    /// A peer announced its audit log's key: recorded in this side's log (once per peer and
    /// key), so the two logs can be compared later.
    pub fn peer_audit_key(&mut self, from: PeerId, key: &[u8]) {
        let Ok(key) = <[u8; 32]>::try_from(key) else {
            return;
        };
        if self.peer_keys.insert(from, key) == Some(key) {
            return;
        }
        self.effects.push(Effect::Audit {
            action: Action::PeerKey,
            object: format!("peer{}", from.0),
            digest: key,
        });
    }

    /// A clinician said it viewed (`Control::Viewed`) or dropped (`Control::Purged`) one of
    /// this side's objects.
    pub fn acknowledged(&mut self, from: PeerId, object: ObjectId, viewed: bool) {
        // The digest of what went to it as `object`, as the clinician's side records it.
        let digest = self
            .outgoing
            .iter()
            .find(|s| s.sent_to.contains(&(from, object)))
            .map_or_else(|| object_digest(&[]), |s| digest_of(&s.offer.data));
        self.effects.push(Effect::Audit {
            action: if viewed { Action::View } else { Action::Purge },
            object: ShareKey::From(from, object).audit_name(),
            digest,
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
}
