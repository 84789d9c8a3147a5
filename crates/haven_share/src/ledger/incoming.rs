//! The receiving side of the ledger: what peers share with this side, held in memory, shown,
//! dropped on revoke, cancel, expiry or departure, kept only when allowed.

use std::sync::Arc;

use haven_proto::Redacted;
use haven_proto::bulk::{ObjectId, ObjectKind};
use haven_proto::control::{Control, Share};
use haven_proto::signal::PeerId;

use super::{Effect, Incoming, ShareKey, ShareLedger, digest_of};
use crate::audit::{Action, object_digest};

impl ShareLedger {
    /// Time passes (Unix seconds; call it every frame or so). A share whose time is up (its
    /// terms' `until`, the patient's `--share-for`) is dropped on the clinician's side, audited
    /// as expired, the patient told it is gone, and the display told ([`Effect::Expired`]);
    /// an expired share is never kept. On the patient's side an expired offer goes to no
    /// newcomer.
    pub fn tick(&mut self, now_unix: u64) {
        self.now = self.now.max(now_unix);
        // No clock (a caller that could not read one): nothing expires.
        if self.now == 0 {
            return;
        }
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
        self.standing.retain(|(p, _)| *p != peer);
        self.clearance.remove(&peer);
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
