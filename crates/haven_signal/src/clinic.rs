//! Who is on the other side, checked end to end: a clinic's signing key, the credentials it
//! issues to its clinicians, the proof that binds a credential to one peer connection, and the
//! safety words both sides can read aloud.
//!
//! The signaling server relays each side's DTLS fingerprint, so whoever controls it could sit
//! between patient and clinician, terminate DTLS on both sides and bridge the channels. Two
//! checks catch that (the wire types and signed bytes are in `haven_proto::identity`):
//! - **The clinic's credential, bound to the connection.** `haven clinic init` makes a clinic
//!   key ([`ClinicKey`]); `haven clinic credential` signs a clinician's name, qualification,
//!   licence, validity and public key ([`ClinicKey::issue`] → [`Identity`]). A patient's invite
//!   carries the clinic's public key ([`ClinicPublicKey`]). On each connection the clinician
//!   signs its own DTLS fingerprint and the one it sees for the patient
//!   ([`Identity::prove`]); the patient checks the chain and that those are the fingerprints of
//!   the connection it has ([`verify`]). A relay in the middle has different fingerprints on
//!   each side and no clinician key to sign its own.
//! - **Safety words** ([`safety_words`]): six words from both fingerprints of a connection,
//!   the same on both ends of one connection and different on the two halves of a relayed one.
//!   Read aloud, they prove no one sits between the two — for a patient whose invite names no
//!   clinic, and between any two participants.
//!
//! Signatures are Ed25519 (ring). Keys are stored as PKCS#8 in files only their owner can read.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use haven_proto::identity::{
    Credential, IdentityProof, MAX_CREDENTIAL_TEXT, PUBLIC_KEY_LEN, SignedCredential,
    binding_bytes, normalize_fingerprint,
};
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use thiserror::Error;

use crate::secret::write_private;

/// Why a key or credential file could not be made, read or written.
#[derive(Debug, Error)]
pub enum ClinicError {
    /// Reading or writing the file.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The file is not a key or credential Haven wrote.
    #[error("not a Haven {0} file")]
    Format(&'static str),
    /// A name, qualification or licence is empty or longer than the limit.
    #[error("{0} must be 1 to {MAX_CREDENTIAL_TEXT} bytes")]
    Text(&'static str),
    /// The system's random source or the key failed.
    #[error("making or using a key failed")]
    Crypto,
}

/// A clinic's public key, as an invite carries it (base64url, 43 characters).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClinicPublicKey(pub [u8; PUBLIC_KEY_LEN]);

impl fmt::Display for ClinicPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for ClinicPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClinicPublicKey({self})")
    }
}

impl FromStr for ClinicPublicKey {
    type Err = ClinicError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = URL_SAFE_NO_PAD
            .decode(s.trim())
            .map_err(|_| ClinicError::Format("clinic public key"))?;
        bytes
            .try_into()
            .map(Self)
            .map_err(|_| ClinicError::Format("clinic public key"))
    }
}

/// A key file as stored: a name, and the PKCS#8 document of an Ed25519 key pair.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClinicFile {
    clinic: String,
    pkcs8: String,
}

/// A clinic's signing key: it issues credentials to the clinic's clinicians.
pub struct ClinicKey {
    name: String,
    pkcs8: Vec<u8>,
    pair: Ed25519KeyPair,
}

impl fmt::Debug for ClinicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClinicKey")
            .field("name", &self.name)
            .field("public", &self.public_key())
            .finish_non_exhaustive()
    }
}

fn text_ok(text: &str) -> bool {
    !text.trim().is_empty() && text.len() <= MAX_CREDENTIAL_TEXT
}

fn new_pkcs8() -> Result<Vec<u8>, ClinicError> {
    Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map(|d| d.as_ref().to_vec())
        .map_err(|_| ClinicError::Crypto)
}

fn public_of(pair: &Ed25519KeyPair) -> [u8; PUBLIC_KEY_LEN] {
    let mut out = [0; PUBLIC_KEY_LEN];
    out.copy_from_slice(pair.public_key().as_ref());
    out
}

impl ClinicKey {
    /// A new clinic key under the clinic's name (which every credential it issues carries).
    pub fn generate(name: &str) -> Result<Self, ClinicError> {
        if !text_ok(name) {
            return Err(ClinicError::Text("the clinic's name"));
        }
        let pkcs8 = new_pkcs8()?;
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| ClinicError::Crypto)?;
        Ok(Self {
            name: name.trim().to_owned(),
            pkcs8,
            pair,
        })
    }

    /// Writes the key to a new file readable by its owner only (it must not exist).
    pub fn save(&self, path: &Path) -> Result<(), ClinicError> {
        let file = ClinicFile {
            clinic: self.name.clone(),
            pkcs8: STANDARD.encode(&self.pkcs8),
        };
        let json = serde_json::to_vec_pretty(&file).map_err(|_| ClinicError::Crypto)?;
        Ok(write_private(path, &json)?)
    }

    /// Reads a key [`ClinicKey::save`] wrote.
    pub fn load(path: &Path) -> Result<Self, ClinicError> {
        let bytes = std::fs::read(path)?;
        let file: ClinicFile =
            serde_json::from_slice(&bytes).map_err(|_| ClinicError::Format("clinic key"))?;
        let pkcs8 = STANDARD
            .decode(&file.pkcs8)
            .map_err(|_| ClinicError::Format("clinic key"))?;
        let pair =
            Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| ClinicError::Format("clinic key"))?;
        if !text_ok(&file.clinic) {
            return Err(ClinicError::Format("clinic key"));
        }
        Ok(Self {
            name: file.clinic,
            pkcs8,
            pair,
        })
    }

    /// The clinic's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public key, for invites.
    pub fn public_key(&self) -> ClinicPublicKey {
        ClinicPublicKey(public_of(&self.pair))
    }

    /// Issues a credential to a new clinician key, valid from `not_before` to `not_after`
    /// (Unix seconds).
    pub fn issue(
        &self,
        name: &str,
        qualification: &str,
        licence: &str,
        not_before: u64,
        not_after: u64,
    ) -> Result<Identity, ClinicError> {
        for (text, what) in [
            (name, "the clinician's name"),
            (qualification, "the qualification"),
            (licence, "the licence"),
        ] {
            if !text_ok(text) {
                return Err(ClinicError::Text(what));
            }
        }
        let pkcs8 = new_pkcs8()?;
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| ClinicError::Crypto)?;
        let credential = Credential {
            clinic: self.name.clone(),
            clinic_key: self.public_key().0.to_vec(),
            name: name.trim().to_owned(),
            qualification: qualification.trim().to_owned(),
            licence: licence.trim().to_owned(),
            not_before,
            not_after: not_after.max(not_before),
            key: public_of(&pair).to_vec(),
        };
        let signature = self.pair.sign(&credential.signed_bytes()).as_ref().to_vec();
        Ok(Identity {
            credential: SignedCredential {
                credential,
                signature,
            },
            pkcs8,
            pair,
        })
    }
}

/// A credential file as stored: the signed credential and the clinician's key pair.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityFile {
    credential: SignedCredential,
    pkcs8: String,
}

/// A clinician's credential and the key it names: what `haven join --identity` uses.
pub struct Identity {
    credential: SignedCredential,
    pkcs8: Vec<u8>,
    pair: Ed25519KeyPair,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("clinic", &self.credential.credential.clinic)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Writes the credential and its key to a new file readable by its owner only.
    pub fn save(&self, path: &Path) -> Result<(), ClinicError> {
        let file = IdentityFile {
            credential: self.credential.clone(),
            pkcs8: STANDARD.encode(&self.pkcs8),
        };
        let json = serde_json::to_vec_pretty(&file).map_err(|_| ClinicError::Crypto)?;
        Ok(write_private(path, &json)?)
    }

    /// Reads a file [`Identity::save`] wrote; the key must be the one the credential names.
    pub fn load(path: &Path) -> Result<Self, ClinicError> {
        let bytes = std::fs::read(path)?;
        let file: IdentityFile =
            serde_json::from_slice(&bytes).map_err(|_| ClinicError::Format("credential"))?;
        let pkcs8 = STANDARD
            .decode(&file.pkcs8)
            .map_err(|_| ClinicError::Format("credential"))?;
        let pair =
            Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| ClinicError::Format("credential"))?;
        if !file.credential.credential.well_formed()
            || file.credential.credential.key != pair.public_key().as_ref()
        {
            return Err(ClinicError::Format("credential"));
        }
        Ok(Self {
            credential: file.credential,
            pkcs8,
            pair,
        })
    }

    /// The credential.
    pub fn credential(&self) -> &Credential {
        &self.credential.credential
    }

    /// The proof for one connection: the credential, and a signature over this side's DTLS
    /// fingerprint and the one it sees for the other side.
    pub fn prove(&self, own_fingerprint: &str, other_fingerprint: &str) -> IdentityProof {
        IdentityProof {
            credential: self.credential.clone(),
            binding: self
                .pair
                .sign(&binding_bytes(own_fingerprint, other_fingerprint))
                .as_ref()
                .to_vec(),
        }
    }
}

/// A clinician whose credential checked out on this connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The clinic that vouches for them.
    pub clinic: String,
    /// Their name.
    pub name: String,
    /// Their qualification.
    pub qualification: String,
    /// Their licence.
    pub licence: String,
    /// The credential's end, Unix seconds.
    pub until: u64,
}

impl fmt::Display for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Verified by {}: {}, {}",
            self.clinic, self.name, self.qualification
        )
    }
}

/// Why a clinician or therapist is not verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum NotVerified {
    /// This side's invite names no clinic, so there is nothing to check against.
    #[error("your invite names no clinic to check them against")]
    NoClinic,
    /// They sent no credential (their first room event was something else).
    #[error("they sent no clinic credential")]
    NoCredential,
    /// The credential is from another clinic than the one in this side's invite.
    #[error("their credential is from another clinic")]
    OtherClinic,
    /// The clinic's signature over the credential is wrong: it was made or changed by someone
    /// else.
    #[error("their credential's signature is not the clinic's")]
    Forged,
    /// The credential is not valid now (expired, or not yet valid).
    #[error("their credential is not valid now")]
    Expired,
    /// The credential checks out but is bound to another connection: someone between you
    /// relayed it (or their signature is wrong).
    #[error("their credential is for another connection: someone may be in between")]
    OtherConnection,
}

/// Checks a proof that arrived on a connection whose fingerprints are `own` (this side's) and
/// `other` (the sender's, as the DTLS handshake proved it), against the clinic key from this
/// side's invite, at `now` (Unix seconds).
pub fn verify(
    proof: &IdentityProof,
    clinic: Option<&ClinicPublicKey>,
    own: &str,
    other: &str,
    now: u64,
) -> Result<Verified, NotVerified> {
    let clinic = clinic.ok_or(NotVerified::NoClinic)?;
    let credential = &proof.credential.credential;
    if !proof.well_formed() {
        return Err(NotVerified::Forged);
    }
    if credential.clinic_key != clinic.0 {
        return Err(NotVerified::OtherClinic);
    }
    UnparsedPublicKey::new(&ED25519, &clinic.0)
        .verify(&credential.signed_bytes(), &proof.credential.signature)
        .map_err(|_| NotVerified::Forged)?;
    if now < credential.not_before || now > credential.not_after {
        return Err(NotVerified::Expired);
    }
    // The sender signed (its own, the one it saw for us): ours is `other`'s "other".
    UnparsedPublicKey::new(&ED25519, &credential.key)
        .verify(&binding_bytes(other, own), &proof.binding)
        .map_err(|_| NotVerified::OtherConnection)?;
    Ok(Verified {
        clinic: credential.clinic.clone(),
        name: credential.name.clone(),
        qualification: credential.qualification.clone(),
        licence: credential.licence.clone(),
        until: credential.not_after,
    })
}

/// Six words both ends of one connection derive from its two DTLS fingerprints and a random
/// nonce from each side, exchanged commit-then-reveal on the connection ([`words_commitment`]):
/// each side reveals its nonce only once it holds the other's commitment. A relay in the middle
/// has two connections, so the two people see different words unless it makes them match; but
/// it must commit to its own nonces before it learns the victims', so it gets one try, with a
/// chance of 2^-48, instead of searching for certificates whose words collide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SafetyWords(pub [&'static str; 6]);

impl fmt::Display for SafetyWords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

/// What a side sends before its nonce: SHA-256 of a context string and the nonce.
pub fn words_commitment(nonce: &[u8; 32]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(b"haven words commitment v1\0");
    hash.update(nonce);
    hash.finalize().into()
}

/// The safety words of a connection between the side with fingerprint `a` and nonce
/// `a_nonce` and the side with `b` and `b_nonce` (the two sides in either order).
pub fn safety_words(a: &str, a_nonce: &[u8; 32], b: &str, b_nonce: &[u8; 32]) -> SafetyWords {
    let (a, b) = (normalize_fingerprint(a), normalize_fingerprint(b));
    let (first, second) = if a <= b {
        ((a, a_nonce), (b, b_nonce))
    } else {
        ((b, b_nonce), (a, a_nonce))
    };
    let mut hash = Sha256::new();
    hash.update(b"haven safety words v2\0");
    for (fingerprint, nonce) in [first, second] {
        hash.update((fingerprint.len() as u32).to_be_bytes());
        hash.update(fingerprint.as_bytes());
        hash.update(nonce);
    }
    let digest = hash.finalize();
    SafetyWords(std::array::from_fn(|i| WORDS[usize::from(digest[i])]))
}

/// 256 short, common, calm English words, each unlike the others when read aloud.
#[rustfmt::skip]
const WORDS: [&str; 256] = [
    "acorn", "actor", "adult", "agent", "album", "alley", "amber", "angle", "apple", "apron",
    "arena", "atlas", "attic", "award", "bacon", "badge", "bagel", "baker", "bamboo", "banjo",
    "barley", "basil", "basket", "beach", "beard", "beetle", "bench", "berry", "bison",
    "blanket", "blossom", "bottle", "bramble", "bread", "brick", "bridge", "broom", "bucket",
    "buffalo", "bugle", "butter", "button", "cabin", "cactus", "camel", "candle", "canoe",
    "canyon", "carbon", "carpet", "carrot", "castle", "cedar", "cello", "chalk", "cherry",
    "chess", "chimney", "cider", "circus", "citrus", "cliff", "clock", "clover", "cobalt",
    "cocoa", "comet", "copper", "coral", "cotton", "cradle", "crane", "crayon", "crown",
    "cuckoo", "cupcake", "curtain", "cushion", "daisy", "dancer", "delta", "denim", "desert",
    "diamond", "dinner", "dolphin", "donkey", "drum", "eagle", "easel", "echo", "elbow",
    "ember", "emerald", "engine", "falcon", "feather", "fence", "ferry", "fiddle", "field",
    "fig", "flame", "flute", "forest", "fossil", "fountain", "fox", "garden", "garlic",
    "gazelle", "geyser", "ginger", "glacier", "goblet", "goose", "granite", "grape", "gravel",
    "guitar", "hammer", "harbor", "harp", "hazel", "helmet", "heron", "hiker", "honey", "husky",
    "igloo", "island", "ivory", "jacket", "jasmine", "jelly", "jigsaw", "jungle", "kayak",
    "kettle", "kiwi", "koala", "ladder", "lagoon", "lantern", "lemon", "lentil", "lily",
    "lobster", "locket", "lotus", "lumber", "magnet", "mango", "maple", "marble", "meadow",
    "melon", "mirror", "mitten", "mosaic", "moss", "muffin", "mustard", "napkin", "nectar",
    "needle", "nickel", "noodle", "nutmeg", "oasis", "ocean", "olive", "onion", "orbit",
    "orchid", "otter", "oyster", "paddle", "palace", "panda", "parrot", "pasta", "peach",
    "pebble", "pepper", "piano", "pickle", "pigeon", "pillow", "pine", "planet", "plum",
    "pocket", "pony", "poppy", "potato", "prism", "pumpkin", "puzzle", "quail", "quartz",
    "quilt", "rabbit", "radish", "reef", "ribbon", "river", "robin", "rocket", "saddle",
    "salmon", "sandal", "saucer", "scarf", "shell", "sherbet", "silver", "sketch", "sled",
    "snail", "socket", "spoon", "squash", "statue", "stone", "sugar", "summit", "sunset",
    "swan", "tablet", "tango", "teapot", "thistle", "toast", "tomato", "torch", "tractor",
    "trumpet", "tulip", "tunnel", "turtle", "umbrella", "valley", "velvet", "violin", "waffle",
    "walnut", "walrus", "whale", "whistle", "willow", "window", "wizard", "yogurt", "zebra",
    "zipper",
];

#[cfg(test)]
mod tests {
    use super::*;

    const PATIENT_FP: &str = "sha-256 AA:BB";
    const CLINICIAN_FP: &str = "sha-256 CC:DD";

    fn clinic() -> ClinicKey {
        ClinicKey::generate("Northside Clinic").expect("key")
    }

    #[test]
    fn a_credential_bound_to_this_connection_verifies() {
        let clinic = clinic();
        let dr = clinic
            .issue(
                "Dr Ada Byrne",
                "Consultant psychiatrist",
                "GMC 123",
                100,
                200,
            )
            .expect("issued");
        let proof = dr.prove(CLINICIAN_FP, PATIENT_FP);
        let verified = verify(
            &proof,
            Some(&clinic.public_key()),
            PATIENT_FP,
            CLINICIAN_FP,
            150,
        )
        .expect("verifies");
        assert_eq!(
            verified.to_string(),
            "Verified by Northside Clinic: Dr Ada Byrne, Consultant psychiatrist"
        );
    }

    #[test]
    fn each_way_of_not_being_the_clinicians_is_caught() {
        let clinic = clinic();
        let key = clinic.public_key();
        let dr = clinic
            .issue("Dr Ada Byrne", "GP", "1", 100, 200)
            .expect("issued");
        let proof = dr.prove(CLINICIAN_FP, PATIENT_FP);
        let check = |p: &IdentityProof, clinic: Option<&ClinicPublicKey>, own, other, now| {
            verify(p, clinic, own, other, now).map(|_| ())
        };
        assert_eq!(
            check(&proof, None, PATIENT_FP, CLINICIAN_FP, 150),
            Err(NotVerified::NoClinic)
        );
        // A relay in the middle: the patient sees the relay's fingerprint, not the clinician's.
        assert_eq!(
            check(&proof, Some(&key), PATIENT_FP, "sha-256 EE:FF", 150),
            Err(NotVerified::OtherConnection)
        );
        // ...or the clinician saw the relay's, not the patient's.
        assert_eq!(
            check(&proof, Some(&key), "sha-256 EE:FF", CLINICIAN_FP, 150),
            Err(NotVerified::OtherConnection)
        );
        assert_eq!(
            check(&proof, Some(&key), PATIENT_FP, CLINICIAN_FP, 201),
            Err(NotVerified::Expired)
        );
        assert_eq!(
            check(&proof, Some(&key), PATIENT_FP, CLINICIAN_FP, 99),
            Err(NotVerified::Expired)
        );
        // Another clinic's credential, however genuine.
        let other = ClinicKey::generate("Elsewhere").expect("key");
        let stranger = other.issue("Dr B", "GP", "2", 100, 200).expect("issued");
        assert_eq!(
            check(
                &stranger.prove(CLINICIAN_FP, PATIENT_FP),
                Some(&key),
                PATIENT_FP,
                CLINICIAN_FP,
                150
            ),
            Err(NotVerified::OtherClinic)
        );
        // A credential changed after the clinic signed it, or one made up under its key.
        let mut changed = proof.clone();
        changed.credential.credential.qualification = "Surgeon".into();
        assert_eq!(
            check(&changed, Some(&key), PATIENT_FP, CLINICIAN_FP, 150),
            Err(NotVerified::Forged)
        );
        let mut made_up = stranger.prove(CLINICIAN_FP, PATIENT_FP);
        made_up.credential.credential.clinic_key = key.0.to_vec();
        assert_eq!(
            check(&made_up, Some(&key), PATIENT_FP, CLINICIAN_FP, 150),
            Err(NotVerified::Forged)
        );
    }

    #[test]
    fn keys_and_credentials_survive_their_files_which_only_their_owner_reads() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("haven-clinic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let clinic = clinic();
        clinic.save(&dir.join("clinic.key")).expect("saved");
        let again = ClinicKey::load(&dir.join("clinic.key")).expect("loads");
        assert_eq!(again.public_key(), clinic.public_key());
        assert_eq!(again.name(), "Northside Clinic");
        let dr = again.issue("Dr A", "GP", "1", 0, 10).expect("issued");
        dr.save(&dir.join("dr.credential")).expect("saved");
        let dr = Identity::load(&dir.join("dr.credential")).expect("loads");
        let proof = dr.prove(CLINICIAN_FP, PATIENT_FP);
        verify(
            &proof,
            Some(&clinic.public_key()),
            PATIENT_FP,
            CLINICIAN_FP,
            5,
        )
        .expect("verifies after the round trip");
        for file in ["clinic.key", "dr.credential"] {
            let mode = std::fs::metadata(dir.join(file))
                .expect("there")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
        assert!(
            clinic.save(&dir.join("clinic.key")).is_err(),
            "never overwrites a key"
        );
        assert!(matches!(
            ClinicKey::load(&dir.join("dr.credential")),
            Err(ClinicError::Format(_))
        ));
        let key: ClinicPublicKey = clinic.public_key().to_string().parse().expect("parses");
        assert_eq!(key, clinic.public_key());
        assert!("not a key".parse::<ClinicPublicKey>().is_err());
        std::fs::remove_dir_all(&dir).expect("cleaned");
    }

    #[test]
    fn safety_words_match_on_one_connection_and_differ_across_a_relay() {
        let (p, c) = ([1; 32], [2; 32]);
        let here = safety_words(PATIENT_FP, &p, CLINICIAN_FP, &c);
        assert_eq!(here, safety_words("SHA-256 cc:dd", &c, "sha-256 aa:bb", &p));
        // The patient's half and the clinician's half of a relayed consult.
        let patient_half = safety_words(PATIENT_FP, &p, "sha-256 EE:01", &[3; 32]);
        let clinician_half = safety_words("sha-256 EE:02", &[4; 32], CLINICIAN_FP, &c);
        assert_ne!(patient_half, clinician_half);
        assert_ne!(here, patient_half);
        // Each nonce counts, and a commitment binds its nonce.
        assert_ne!(here, safety_words(PATIENT_FP, &p, CLINICIAN_FP, &[5; 32]));
        assert_ne!(words_commitment(&p), words_commitment(&c));
        let mut distinct = WORDS.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 256, "no word twice");
    }
}
