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
}
