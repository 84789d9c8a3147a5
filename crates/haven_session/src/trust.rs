//! Who is on the other side, the same in every backend: a clinician's or therapist's proof of
//! its clinic credential is the first room event of each connection, and the receiver checks it
//! against the clinic key from its invite and the connection's own DTLS fingerprints
//! ([`haven_signal::clinic`]). A first event that is anything else means no credential. Then
//! each side commits to a random nonce and reveals it once it holds the other's commitment
//! ([`WordsExchange`]); the safety words come from both fingerprints and both nonces.

use std::time::{SystemTime, UNIX_EPOCH};

use haven_proto::control::{self, Control};
use haven_proto::identity::IdentityProof;
use haven_proto::signal::{PeerId, Role};
use haven_signal::clinic::{self, ClinicPublicKey, Identity, NotVerified};

use crate::event::SessionEvent;

/// What the first room event of a connection from a clinician or therapist says.
#[derive(Debug)]
pub(crate) enum FirstEvent {
    /// Its proof.
    Proof(Box<IdentityProof>),
    /// Something else (or something refused): it sent no credential.
    NoProof,
}

/// The first room event of a connection from a peer in `role`, as received: what it says about
/// the sender's identity (`None`: the role has none to prove).
pub(crate) fn first_event(role: Role, event: &SessionEvent) -> Option<FirstEvent> {
    if !matches!(role, Role::Clinician | Role::Therapist) {
        return None;
    }
    Some(match event {
        SessionEvent::Control {
            message: Control::Identity(proof),
            ..
        } => FirstEvent::Proof(proof.clone()),
        _ => FirstEvent::NoProof,
    })
}

/// What it means that a peer in `role` sent no first room event (in the time allowed).
pub(crate) fn nothing_said(role: Role) -> Option<FirstEvent> {
    matches!(role, Role::Clinician | Role::Therapist).then_some(FirstEvent::NoProof)
}

/// The verdict on `peer`, from the first event of a connection whose DTLS fingerprints are
/// `own` (this side's) and `other` (the peer's).
pub(crate) fn verdict(
    peer: PeerId,
    first: &FirstEvent,
    clinic: Option<&ClinicPublicKey>,
    own: &str,
    other: &str,
) -> SessionEvent {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let verdict = match (first, clinic) {
        (_, None) => Err(NotVerified::NoClinic),
        (FirstEvent::Proof(proof), clinic) => clinic::verify(proof, clinic, own, other, now),
        (FirstEvent::NoProof, Some(_)) => Err(NotVerified::NoCredential),
    };
    SessionEvent::PeerVerified { peer, verdict }
}

/// One connection's judge of who a clinician or therapist is: its verdict reaches the
/// application before any room event of that connection does, so no command from the peer is
/// read before it is known whether it may send it. Both ways to a verdict (the first room event
/// arrived, or nothing came in the time allowed) take the same lock, and say the verdict and
/// the event under it.
#[derive(Debug)]
pub(crate) struct Judge {
    peer: PeerId,
    role: Role,
    /// No verdict yet (always false for a role with nothing to prove).
    waiting: std::sync::Mutex<bool>,
}

impl Judge {
    /// The judge of a new connection to `peer`, in `role`.
    pub(crate) fn new(peer: PeerId, role: Role) -> Self {
        Self {
            peer,
            role,
            waiting: std::sync::Mutex::new(matches!(role, Role::Clinician | Role::Therapist)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, bool> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// No verdict yet: the fingerprints are worth fetching before `deliver`.
    pub(crate) fn waiting(&self) -> bool {
        *self.lock()
    }

    /// `event`, a room event of the connection, arrived: through `say`, the verdict first when
    /// it is the first (judged against `clinic` and the connection's `fingerprints`, this
    /// side's then the peer's; none: no proof can match), then the event. Returns whether a
    /// verdict was said and it verified the peer.
    pub(crate) fn deliver(
        &self,
        event: SessionEvent,
        clinic: Option<&ClinicPublicKey>,
        fingerprints: Option<&(String, String)>,
        mut say: impl FnMut(SessionEvent),
    ) -> bool {
        let mut waiting = self.lock();
        let mut verified = false;
        if std::mem::take(&mut *waiting)
            && let Some(said) = first_event(self.role, &event)
        {
            let verdict = self.judge(&said, clinic, fingerprints);
            verified = matches!(verdict, SessionEvent::PeerVerified { verdict: Ok(_), .. });
            say(verdict);
        }
        say(event);
        verified
    }

    /// Nothing came in the time allowed: the verdict, through `say`, unless one was said.
    pub(crate) fn silence(
        &self,
        clinic: Option<&ClinicPublicKey>,
        fingerprints: Option<&(String, String)>,
        say: impl FnOnce(SessionEvent),
    ) {
        let mut waiting = self.lock();
        if std::mem::take(&mut *waiting)
            && let Some(said) = nothing_said(self.role)
        {
            say(self.judge(&said, clinic, fingerprints));
        }
    }

    fn judge(
        &self,
        said: &FirstEvent,
        clinic: Option<&ClinicPublicKey>,
        fingerprints: Option<&(String, String)>,
    ) -> SessionEvent {
        let (own, other) = fingerprints.map_or(("", ""), |(o, t)| (o.as_str(), t.as_str()));
        verdict(self.peer, said, clinic, own, other)
    }
}

/// The room event that proves this side's credential on a connection.
pub(crate) fn proof(identity: &Identity, own: &str, other: &str) -> Vec<u8> {
    control::encode(&Control::Identity(Box::new(identity.prove(own, other))))
}

/// One connection's safety-words exchange: commit, then reveal once the other side's
/// commitment is here (so neither side, nor anyone in between, can choose its nonce after
/// seeing the other's).
#[derive(Debug)]
pub(crate) struct WordsExchange {
    nonce: [u8; 32],
    /// Our commitment went out (our channels opened).
    committed: bool,
    their_commit: Option<[u8; 32]>,
    revealed: bool,
    done: bool,
}

impl WordsExchange {
    /// A new connection's exchange, with a fresh nonce.
    pub(crate) fn new() -> Self {
        let mut nonce = [0; 32];
        // Without randomness the words still match end to end; they only lose their defence
        // against a relay that could then predict the nonce: said, not hidden.
        if getrandom::fill(&mut nonce).is_err() {
            tracing::warn!("no randomness for the safety words' nonce: a relay could predict it");
        }
        Self {
            nonce,
            committed: false,
            their_commit: None,
            revealed: false,
            done: false,
        }
    }

    /// Our channels opened: what to send (our commitment, and our nonce if theirs is here).
    pub(crate) fn open(&mut self) -> Vec<Vec<u8>> {
        if self.committed {
            return Vec::new();
        }
        self.committed = true;
        let mut out = vec![control::encode(&Control::WordsCommit {
            commit: clinic::words_commitment(&self.nonce).to_vec(),
        })];
        out.extend(self.reveal());
        out
    }

    fn reveal(&mut self) -> Option<Vec<u8>> {
        (self.committed && self.their_commit.is_some() && !self.revealed).then(|| {
            self.revealed = true;
            control::encode(&Control::WordsReveal {
                nonce: self.nonce.to_vec(),
            })
        })
    }

    /// Their commitment arrived (the first counts): our nonce, if ours went out already.
    pub(crate) fn on_commit(&mut self, commit: &[u8]) -> Option<Vec<u8>> {
        if self.their_commit.is_none() {
            self.their_commit = <[u8; 32]>::try_from(commit).ok();
        }
        self.reveal()
    }

    /// Their nonce arrived: the words, once, if it is the one they committed to.
    pub(crate) fn on_reveal(
        &mut self,
        peer: PeerId,
        nonce: &[u8],
        own: &str,
        other: &str,
    ) -> Option<SessionEvent> {
        let nonce = <[u8; 32]>::try_from(nonce).ok()?;
        if self.done
            || !self.revealed
            || self.their_commit != Some(clinic::words_commitment(&nonce))
        {
            return None;
        }
        self.done = true;
        Some(SessionEvent::SafetyWords {
            peer,
            words: clinic::safety_words(own, &self.nonce, other, &nonce),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(bytes: &[Vec<u8>]) -> Vec<Control> {
        bytes
            .iter()
            .map(|b| control::decode(b).expect("decodes"))
            .collect()
    }

    fn words(event: Option<SessionEvent>) -> clinic::SafetyWords {
        match event {
            Some(SessionEvent::SafetyWords { words, .. }) => words,
            other => panic!("{other:?}"),
        }
    }

    /// Two honest ends agree whatever the order of opening; a reveal that does not match the
    /// commitment, or comes before ours went out, gives no words.
    #[test]
    fn both_ends_get_the_same_words_and_only_from_the_committed_nonce() {
        let (mut a, mut b) = (WordsExchange::new(), WordsExchange::new());
        let from_a = a.open();
        assert_eq!(
            from_a.len(),
            1,
            "a commitment only: no commitment of b's yet"
        );
        // b opens later: it already holds a's commitment, so it reveals at once.
        let Control::WordsCommit { commit } = &sent(&from_a)[0] else {
            panic!()
        };
        assert!(
            b.on_commit(commit).is_none(),
            "b's own commitment has not gone out"
        );
        let from_b = sent(&b.open());
        let [
            Control::WordsCommit { commit: b_commit },
            Control::WordsReveal { nonce: b_nonce },
        ] = &from_b[..]
        else {
            panic!("{from_b:?}")
        };
        // A forged nonce before the real one is ignored.
        assert!(a.on_commit(b_commit).is_some(), "a reveals now");
        assert!(
            a.on_reveal(PeerId(2), &[9; 32], "sha-256 AA", "sha-256 BB")
                .is_none()
        );
        let at_a = words(a.on_reveal(PeerId(2), b_nonce, "sha-256 AA", "sha-256 BB"));
        let a_nonce = a.nonce;
        let at_b = words(b.on_reveal(PeerId(1), &a_nonce, "sha-256 BB", "sha-256 AA"));
        assert_eq!(at_a, at_b);
        assert!(
            a.on_reveal(PeerId(2), b_nonce, "sha-256 AA", "sha-256 BB")
                .is_none(),
            "once"
        );
    }

    fn control(message: Control) -> SessionEvent {
        SessionEvent::Control {
            from: PeerId(4),
            role: Role::Therapist,
            message,
        }
    }

    fn said(judge: &Judge, event: SessionEvent) -> Vec<String> {
        let mut out = Vec::new();
        judge.deliver(event, None, None, |e| out.push(format!("{e:?}")));
        out
    }

    /// A therapist's verdict comes before its first room event and only once; silence after a
    /// verdict says nothing; a patient has no verdict at all.
    #[test]
    fn the_verdict_comes_first_and_once() {
        let judge = Judge::new(PeerId(4), Role::Therapist);
        assert!(judge.waiting());
        let first = said(&judge, control(Control::Heartbeat));
        assert_eq!(first.len(), 2, "{first:?}");
        assert!(first[0].starts_with("PeerVerified"), "{first:?}");
        assert!(first[1].contains("Heartbeat"), "{first:?}");
        assert!(!judge.waiting());
        assert_eq!(said(&judge, control(Control::Heartbeat)).len(), 1);
        let mut late = Vec::new();
        judge.silence(None, None, |e| late.push(e));
        assert!(late.is_empty(), "{late:?}");

        let quiet = Judge::new(PeerId(4), Role::Therapist);
        let mut verdicts = Vec::new();
        quiet.silence(None, None, |e| verdicts.push(format!("{e:?}")));
        assert_eq!(verdicts.len(), 1, "{verdicts:?}");
        assert_eq!(said(&quiet, control(Control::Heartbeat)).len(), 1);

        let patient = Judge::new(PeerId(4), Role::Patient);
        assert!(!patient.waiting());
        assert_eq!(said(&patient, control(Control::Heartbeat)).len(), 1);
    }
}
