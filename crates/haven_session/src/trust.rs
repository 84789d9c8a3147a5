//! Who is on the other side, the same in every backend: a clinician's or therapist's proof of
//! its clinic credential is the first room event of each connection, and the receiver checks it
//! against the clinic key from its invite and the connection's own DTLS fingerprints
//! ([`haven_signal::clinic`]). A first event that is anything else means no credential.

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

/// The safety-words event for a connection.
pub(crate) fn words(peer: PeerId, own: &str, other: &str) -> SessionEvent {
    SessionEvent::SafetyWords {
        peer,
        words: clinic::safety_words(own, other),
    }
}
