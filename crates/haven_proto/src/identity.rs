//! Who is on the other side: a clinic's credential for a clinician, and the proof, sent on
//! `control` as the first room event of each connection, that binds it to that connection.
//!
//! These are the wire types and the exact bytes each signature covers; making and checking the
//! signatures (Ed25519) is `haven_signal::clinic`'s business. The scheme:
//! - a clinic has an Ed25519 key; a patient's invite carries its public key;
//! - the clinic signs a [`Credential`] for each clinician: name, qualification, licence,
//!   validity, and the clinician's own Ed25519 public key ([`Credential::signed_bytes`]);
//! - on each connection the clinician signs both DTLS certificate fingerprints, its own and the
//!   one it sees for the patient ([`binding_bytes`]), and sends that with its credential as
//!   `Control::Identity`. The patient's side checks the chain against the clinic key from its
//!   invite and the fingerprints against the connection it really has: a relay in between
//!   (a compromised signaling server that terminates DTLS on both sides) holds neither the
//!   clinician's key nor the fingerprints the clinician signed.

use serde::{Deserialize, Serialize};

/// The longest clinic name, clinician name, qualification or licence, in bytes of UTF-8.
pub const MAX_CREDENTIAL_TEXT: usize = 128;
/// The longest DTLS fingerprint accepted in a binding (`sha-512` in hex with colons is 191).
pub const MAX_FINGERPRINT: usize = 200;
/// Ed25519 public keys are 32 bytes.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Ed25519 signatures are 64 bytes.
pub const SIGNATURE_LEN: usize = 64;

/// What a clinic vouches for: a clinician's name, qualification, licence and key, for a time.
/// Not patient data (a clinician's professional identity is what the patient must see).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// The clinic's name, as it signed it.
    pub clinic: String,
    /// The clinic's Ed25519 public key (the one that signed this credential).
    #[serde(with = "serde_bytes")]
    pub clinic_key: Vec<u8>,
    /// The clinician's name.
    pub name: String,
    /// Their qualification ("Consultant psychiatrist").
    pub qualification: String,
    /// Their licence or registration number.
    pub licence: String,
    /// Valid from, Unix seconds.
    pub not_before: u64,
    /// Valid until, Unix seconds.
    pub not_after: u64,
    /// The clinician's Ed25519 public key: it signs each connection's binding.
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
}

/// The context the clinic's signature over a credential starts with.
const CREDENTIAL_CONTEXT: &[u8] = b"haven credential v1\0";
/// The context the clinician's signature over a connection starts with.
const BINDING_CONTEXT: &[u8] = b"haven connection binding v1\0";

impl Credential {
    /// The bytes the clinic signs: a context string, then the credential in postcard form
    /// (deterministic for a given credential).
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut bytes = CREDENTIAL_CONTEXT.to_vec();
        bytes.extend(postcard::to_allocvec(self).expect("a credential always serializes"));
        bytes
    }

    /// Whether every text and key has the size it must (checked before any signature).
    pub fn well_formed(&self) -> bool {
        [&self.clinic, &self.name, &self.qualification, &self.licence]
            .iter()
            .all(|t| !t.is_empty() && t.len() <= MAX_CREDENTIAL_TEXT)
            && self.clinic_key.len() == PUBLIC_KEY_LEN
            && self.key.len() == PUBLIC_KEY_LEN
            && self.not_before <= self.not_after
    }
}

/// A credential and the clinic's signature over [`Credential::signed_bytes`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCredential {
    /// What the clinic vouches for.
    pub credential: Credential,
    /// Ed25519, by the clinic's key.
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

/// `Control::Identity`: a credential, and the clinician's signature binding it to one
/// connection ([`binding_bytes`] of its own fingerprint and the one it sees for the receiver).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityProof {
    /// The clinic's credential.
    pub credential: SignedCredential,
    /// Ed25519, by the credential's key, over [`binding_bytes`].
    #[serde(with = "serde_bytes")]
    pub binding: Vec<u8>,
}

impl IdentityProof {
    /// Whether every part has the size it must.
    pub fn well_formed(&self) -> bool {
        self.credential.credential.well_formed()
            && self.credential.signature.len() == SIGNATURE_LEN
            && self.binding.len() == SIGNATURE_LEN
    }
}

/// The bytes a clinician signs for one connection: a context string, its own DTLS fingerprint,
/// and the one it sees for the other side (each as SDP writes it, `sha-256 AB:CD:…`, with its
/// length first so the two cannot be shifted into each other).
pub fn binding_bytes(own: &str, other: &str) -> Vec<u8> {
    let mut bytes = BINDING_CONTEXT.to_vec();
    for fingerprint in [own, other] {
        let fingerprint = normalize_fingerprint(fingerprint);
        bytes.extend((fingerprint.len() as u32).to_be_bytes());
        bytes.extend(fingerprint.as_bytes());
    }
    bytes
}

/// A DTLS fingerprint as SDP writes it (`sha-256 ab:cd:…`), in one spelling: the algorithm in
/// lower case, the hex in upper case, single spaces.
pub fn normalize_fingerprint(fingerprint: &str) -> String {
    let mut parts = fingerprint.split_whitespace();
    let algorithm = parts.next().unwrap_or_default().to_ascii_lowercase();
    let value = parts.next().unwrap_or_default().to_ascii_uppercase();
    format!("{algorithm} {value}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential() -> Credential {
        Credential {
            clinic: "Northside Clinic".into(),
            clinic_key: vec![1; 32],
            name: "Dr A".into(),
            qualification: "GP".into(),
            licence: "123".into(),
            not_before: 10,
            not_after: 20,
            key: vec![2; 32],
        }
    }

    #[test]
    fn what_is_signed_changes_with_every_field() {
        let base = credential().signed_bytes();
        let mut other = credential();
        other.name = "Dr B".into();
        assert_ne!(other.signed_bytes(), base);
        let mut other = credential();
        other.not_after = 21;
        assert_ne!(other.signed_bytes(), base);
        assert!(base.starts_with(CREDENTIAL_CONTEXT));
    }

    #[test]
    fn a_binding_names_both_fingerprints_in_order_whatever_their_spelling() {
        let a = binding_bytes("sha-256 ab:cd", "SHA-256 EF:01");
        assert_eq!(a, binding_bytes("SHA-256 AB:CD", "sha-256  ef:01"));
        assert_ne!(a, binding_bytes("sha-256 EF:01", "sha-256 AB:CD"));
    }

    #[test]
    fn sizes_are_checked() {
        assert!(credential().well_formed());
        let mut bad = credential();
        bad.key = vec![0; 31];
        assert!(!bad.well_formed());
        let mut bad = credential();
        bad.name = "x".repeat(MAX_CREDENTIAL_TEXT + 1);
        assert!(!bad.well_formed());
        let mut bad = credential();
        bad.not_before = 30;
        assert!(!bad.well_formed());
    }
}
