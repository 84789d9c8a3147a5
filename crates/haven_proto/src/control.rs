//! Room events on the reliable, ordered `control` data channel.
//!
//! A message is one byte of [`DATA_VERSION`](crate::DATA_VERSION) followed by the [`Control`] enum in postcard's
//! compact binary form (varint variant index, then the fields; see [`crate::framing`]). Later issues add variants at
//! the end; a receiver that meets a variant it does not know gets
//! [`ControlDecodeError::UnknownKind`] and can skip it without ending the session.
//!
//! Each receiver checks the sender's role before acting ([`Control::allowed_from`]).

use serde::{Deserialize, Serialize};

use crate::Redacted;
use crate::bulk::ObjectId;
use crate::framing::{decode_versioned, encode_versioned};
use crate::identity::IdentityProof;
use crate::signal::Role;

/// The error every data-channel decoder returns, under the name it had when it lived here.
pub use crate::framing::DecodeError as ControlDecodeError;

/// The largest `control` message, in bytes.
pub const MAX_CONTROL_MESSAGE: usize = 16 * 1024;
/// The longest display name, in bytes of UTF-8.
pub const MAX_DISPLAY_NAME: usize = 64;

/// How a participant appears in the room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AvatarChoice {
    /// A name tag and a colour the person picked.
    Named {
        /// Shown over the avatar; may identify the person, so never logged.
        name: Redacted<String>,
        /// sRGB.
        colour: [u8; 3],
    },
    /// A neutral figure, no name tag; its look is drawn at random for each session so two
    /// sessions of the same patient do not match.
    Anonymous {
        /// Picks the look; random per session.
        look: u32,
    },
}

/// A laser pointer: where it starts and where it points, in the room's frame.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pointer {
    /// Ray origin, metres.
    pub origin: [f32; 3],
    /// Ray direction (unit length).
    pub direction: [f32; 3],
    /// Where the sender's ray hit, if it hit something.
    pub hit: Option<[f32; 3]>,
}

/// A room event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Control {
    /// The sender's avatar (sent on connect and on change).
    Avatar(AvatarChoice),
    /// The sender's pointer turned on or moved (`Some`) or off (`None`).
    Pointer(Option<Pointer>),
    /// Voice activity of the sender.
    Speaking {
        /// Whether the sender is speaking now.
        speaking: bool,
    },
    /// The sender muted or unmuted their microphone.
    Muted {
        /// Whether the microphone is muted.
        muted: bool,
    },
    /// The patient shares an object (sent on `bulk` with this id) under a consent. Patient only.
    Shared(Share),
    /// The patient takes a share back: the receiver drops it at once. Patient only.
    Revoked {
        /// The object.
        object: ObjectId,
    },
    /// The clinician opened a shared object (for both sides' audit logs). Clinicians only.
    Viewed {
        /// The object.
        object: ObjectId,
    },
    /// The clinician's side dropped a shared object (revoked, left, or the consult ended).
    /// Clinicians only.
    Purged {
        /// The object.
        object: ObjectId,
    },
    /// A clinician's or therapist's clinic credential, bound to this connection: the first
    /// event on each connection of a participant that has one (`haven_proto::identity`).
    /// Clinicians and therapists only.
    Identity(Box<IdentityProof>),
    /// The Ed25519 public key of the sender's audit log for this consult, announced when the
    /// channels open: each side records the other's, so a log rewritten afterwards under
    /// another key, or with other entries, is caught against the other side's record.
    AuditKey {
        /// 32 bytes.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
    },
    /// The sender's commitment to a random nonce for this connection's safety words
    /// (SHA-256 of it, `haven_signal::clinic::words_commitment`), sent when the channels open.
    WordsCommit {
        /// 32 bytes.
        #[serde(with = "serde_bytes")]
        commit: Vec<u8>,
    },
    /// The sender's nonce, revealed once it has the receiver's commitment: the words come
    /// from both fingerprints and both nonces, so no one in between can choose theirs to match.
    WordsReveal {
        /// 32 bytes.
        #[serde(with = "serde_bytes")]
        nonce: Vec<u8>,
    },
    /// A therapist's scene command (propose, intensity, pin, fire, stop, end): the patient's
    /// app, which runs the scene, applies it or refuses it. Therapists only.
    Scene(haven_scenes::Command),
    /// The scene as the patient's app runs it (on every change and to a therapist who joins):
    /// a therapist's app mirrors it. Patient only.
    SceneState(Box<haven_scenes::SceneState>),
    /// Still here, while a scene runs (1 Hz each way): 5 s without the therapist's sends the
    /// patient to the safe room.
    Heartbeat,
    /// A therapist asks for a rating (now, or a step's prediction), sets when ratings are
    /// asked, or types what the patient said. Therapists only.
    Rating(haven_scenes::ratings::Request),
    /// An entry of the therapy session's record, as the patient's app wrote it (scene, steps,
    /// events, the safe room, ratings asked and answered): the therapist's copy appends it.
    /// Patient only (only the patient answers). Health data: never logged.
    Record(haven_scenes::record::Stamped),
    /// The patient's fear ladder as it stands (on joining and on every change). Patient only.
    Ladder(Box<haven_scenes::ladder::Ladder>),
    /// A therapist's change to the ladder. Therapists only.
    LadderEdit(haven_scenes::ladder::Edit),
    /// How the sender's named figure looks (skin, hair, clothing), sent after
    /// [`Control::Avatar`] and on change. An anonymous participant never sends it, and a
    /// receiver ignores it for an anonymous figure. Older peers skip it as an unknown kind.
    Look(Look),
    /// The shapes of the sender's hands (relaxed, pointing, gripping), on change.
    Hands(HandShapes),
    /// In a group room: the sender's publisher id on the media server, said over the direct
    /// connection (never through the media server), so that the receiver takes only that
    /// stream as the sender's voice and presence; a stream that only claims the sender's
    /// peer id is not listened to.
    GroupFeed {
        /// The media server's id of the sender's published stream.
        feed: u64,
    },
}

/// A named figure's colours, sRGB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Look {
    /// The face's and hands' colour.
    pub skin: [u8; 3],
    /// The hair's colour; `None` for none.
    pub hair: Option<[u8; 3]>,
    /// The clothing's colour.
    pub clothing: [u8; 3],
}

/// What a hand is doing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum HandShape {
    /// Open and at rest.
    #[default]
    Relaxed,
    /// The index finger out (the pointer is on).
    Point,
    /// Closed (the controller's grip is squeezed).
    Grip,
}

/// Both hands' shapes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandShapes {
    /// The left hand.
    pub left: HandShape,
    /// The right hand.
    pub right: HandShape,
}

/// A share's terms, as the patient set them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    /// The object on `bulk`.
    pub object: ObjectId,
    /// What it is, in the patient's words ("Knee X-ray"): patient data.
    pub label: Redacted<String>,
    /// The FHIR Consent resource (JSON) that describes this share: who may see what, for
    /// what purpose, until when. Patient data.
    pub consent: Redacted<String>,
    /// The clinic may keep it after the consult (with its Consent and a Provenance).
    pub may_keep: bool,
    /// Until when the share holds, Unix seconds.
    pub until: u64,
}

/// The longest share label, in bytes of UTF-8.
pub const MAX_SHARE_LABEL: usize = 200;
/// The longest Consent carried by a share, in bytes (the message itself is at most
/// [`MAX_CONTROL_MESSAGE`]).
pub const MAX_SHARE_CONSENT: usize = 12 * 1024;

/// The number of [`Control`] variants this build knows.
const KNOWN_KINDS: u32 = 22;

impl Control {
    /// Whether a peer in `role` may send this event. Every receiver checks it before acting.
    /// The events so far are about the sender's own presence, which every role may announce;
    /// scene, SUDS and consent events (later issues) are where roles differ.
    pub fn allowed_from(&self, role: Role) -> bool {
        match self {
            Self::Avatar(_)
            | Self::Pointer(_)
            | Self::Speaking { .. }
            | Self::Muted { .. }
            | Self::AuditKey { .. }
            | Self::WordsCommit { .. }
            | Self::WordsReveal { .. }
            | Self::Look(_)
            | Self::Hands(_)
            | Self::GroupFeed { .. } => {
                matches!(role, Role::Patient | Role::Clinician | Role::Therapist)
            }
            // What is shared is the patient's to give and to take back; the scene runs on the
            // patient's device.
            Self::Shared(_)
            | Self::Revoked { .. }
            | Self::SceneState(_)
            | Self::Record(_)
            | Self::Ladder(_) => role == Role::Patient,
            // Only a therapist runs a scene (and, where the patient's invite names a clinic,
            // only a verified one: the patient's app checks that).
            Self::Scene(_) | Self::Rating(_) | Self::LadderEdit(_) => role == Role::Therapist,
            Self::Heartbeat => matches!(role, Role::Patient | Role::Therapist),
            Self::Viewed { .. } | Self::Purged { .. } | Self::Identity(_) => {
                matches!(role, Role::Clinician | Role::Therapist)
            }
        }
    }

    /// The event's name, for logs (never its contents).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Avatar(_) => "avatar",
            Self::Pointer(_) => "pointer",
            Self::Speaking { .. } => "speaking",
            Self::Muted { .. } => "muted",
            Self::Shared(_) => "shared",
            Self::Revoked { .. } => "revoked",
            Self::Viewed { .. } => "viewed",
            Self::Purged { .. } => "purged",
            Self::Identity(_) => "identity",
            Self::AuditKey { .. } => "audit-key",
            Self::WordsCommit { .. } => "words-commit",
            Self::WordsReveal { .. } => "words-reveal",
            Self::Scene(_) => "scene",
            Self::SceneState(_) => "scene-state",
            Self::Heartbeat => "heartbeat",
            Self::Rating(_) => "rating",
            Self::Record(_) => "record",
            Self::Ladder(_) => "ladder",
            Self::LadderEdit(_) => "ladder-edit",
            Self::Look(_) => "look",
            Self::Hands(_) => "hands",
            Self::GroupFeed { .. } => "group-feed",
        }
    }
}

/// Encodes an event.
pub fn encode(message: &Control) -> Vec<u8> {
    encode_versioned(message)
}

/// Decodes an event; any bytes give an event or a typed error.
pub fn decode(bytes: &[u8]) -> Result<Control, ControlDecodeError> {
    let message: Control = decode_versioned(bytes, MAX_CONTROL_MESSAGE, KNOWN_KINDS)?;
    if let Control::Avatar(AvatarChoice::Named { name, .. }) = &message
        && name.expose().len() > MAX_DISPLAY_NAME
    {
        return Err(ControlDecodeError::Invalid("display name too long"));
    }
    if let Control::Pointer(Some(p)) = &message
        && !p
            .origin
            .iter()
            .chain(&p.direction)
            .chain(p.hit.iter().flatten())
            .all(|v| v.is_finite())
    {
        // A NaN or infinite ray would reach the other side's renderer.
        return Err(ControlDecodeError::Invalid("pointer not finite"));
    }
    if let Control::Shared(share) = &message
        && (share.label.expose().len() > MAX_SHARE_LABEL
            || share.consent.expose().len() > MAX_SHARE_CONSENT)
    {
        return Err(ControlDecodeError::Invalid(
            "share label or consent id too long",
        ));
    }
    if let Control::Identity(proof) = &message
        && !proof.well_formed()
    {
        return Err(ControlDecodeError::Invalid(
            "identity proof has a field of the wrong size",
        ));
    }
    if let Control::SceneState(state) = &message
        && !scene_state_sane(state)
    {
        return Err(ControlDecodeError::Invalid(
            "scene state out of range (intensity, list lengths, a value not finite)",
        ));
    }
    if let Control::Record(stamped) = &message
        && !haven_scenes::record::stamped_sane(stamped)
    {
        return Err(ControlDecodeError::Invalid(
            "record entry out of range (a rating off its scale, an intensity over 10)",
        ));
    }
    if let Control::Ladder(ladder) = &message
        && ladder.check().is_err()
    {
        return Err(ControlDecodeError::Invalid("fear ladder out of range"));
    }
    if let Control::Rating(haven_scenes::ratings::Request::Plan(plan)) = &message
        && !plan.sane()
    {
        return Err(ControlDecodeError::Invalid("rating plan out of range"));
    }
    if let Control::AuditKey { key: bytes }
    | Control::WordsCommit { commit: bytes }
    | Control::WordsReveal { nonce: bytes } = &message
        && bytes.len() != 32
    {
        return Err(ControlDecodeError::Invalid(
            "a key, commitment or nonce is not 32 bytes",
        ));
    }
    Ok(message)
}

/// A scene state a mirror can run: intensity 0–10, short lists, finite values.
fn scene_state_sane(state: &haven_scenes::SceneState) -> bool {
    state.intensity <= haven_scenes::catalog::MAX_INTENSITY
        && state.ramps.len() <= 16
        && state.pins.len() <= 16
        && state.pending.len() <= 64
        && state.events.len() <= 64
        && state
            .ramps
            .iter()
            .all(|r| r.from.is_finite() && r.to.is_finite())
        && state.pins.iter().all(|(_, v)| v.is_finite())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::DATA_VERSION;
    use crate::framing::hostile;

    fn control() -> impl Strategy<Value = Control> {
        let v3 = prop::array::uniform3(-100.0f32..100.0);
        prop_oneof![
            ("[a-zA-Z ]{0,64}", any::<[u8; 3]>()).prop_map(|(n, colour)| Control::Avatar(
                AvatarChoice::Named {
                    name: Redacted::new(n),
                    colour
                }
            )),
            any::<u32>().prop_map(|look| Control::Avatar(AvatarChoice::Anonymous { look })),
            prop::option::of((v3.clone(), v3.clone(), prop::option::of(v3))).prop_map(|p| {
                Control::Pointer(p.map(|(origin, direction, hit)| Pointer {
                    origin,
                    direction,
                    hit,
                }))
            }),
            any::<bool>().prop_map(|speaking| Control::Speaking { speaking }),
            any::<bool>().prop_map(|muted| Control::Muted { muted }),
            (
                "[a-zA-Z ]{0,64}",
                "[a-z0-9-]{0,64}",
                any::<u32>(),
                any::<bool>(),
                any::<u64>()
            )
                .prop_map(|(label, consent, id, may_keep, until)| Control::Shared(
                    Share {
                        object: ObjectId(id),
                        label: Redacted::new(label),
                        consent: Redacted::new(consent),
                        may_keep,
                        until,
                    }
                )),
            any::<u32>().prop_map(|id| Control::Revoked {
                object: ObjectId(id)
            }),
            any::<u32>().prop_map(|id| Control::Viewed {
                object: ObjectId(id)
            }),
            any::<u32>().prop_map(|id| Control::Purged {
                object: ObjectId(id)
            }),
            any::<[u8; 32]>().prop_map(|key| Control::AuditKey { key: key.to_vec() }),
            any::<[u8; 32]>().prop_map(|c| Control::WordsCommit { commit: c.to_vec() }),
            any::<[u8; 32]>().prop_map(|n| Control::WordsReveal { nonce: n.to_vec() }),
            Just(Control::Heartbeat),
            (0u8..=20).prop_map(
                |value| Control::Rating(haven_scenes::ratings::Request::Entry {
                    scale: haven_scenes::ratings::Scale::Fms,
                    value
                })
            ),
            (0u64..1 << 40, 0u8..=20, any::<u32>()).prop_map(|(at, v, id)| Control::Record(
                haven_scenes::record::Stamped {
                    at,
                    entry: haven_scenes::record::Entry::Rated {
                        prompt: Some(id),
                        scale: haven_scenes::ratings::Scale::Suds,
                        why: haven_scenes::ratings::Why::Demand,
                        value: Some(v * 5),
                        source: haven_scenes::ratings::Source::Patient,
                    }
                }
            )),
            (0u8..=10, 0u8..=20).prop_map(|(intensity, p)| {
                let mut ladder = haven_scenes::ladder::Ladder::default();
                ladder
                    .add(haven_scenes::ladder::Step {
                        scene: haven_scenes::SceneId::Spiders,
                        intensity,
                        pins: Vec::new(),
                        predicted: p * 5,
                    })
                    .expect("a sane step");
                Control::Ladder(Box::new(ladder))
            }),
            any::<u8>().prop_map(|i| Control::LadderEdit(haven_scenes::ladder::Edit::Reach(i))),
            (
                any::<[u8; 3]>(),
                prop::option::of(any::<[u8; 3]>()),
                any::<[u8; 3]>()
            )
                .prop_map(|(skin, hair, clothing)| Control::Look(Look {
                    skin,
                    hair,
                    clothing
                })),
            (0..3u8, 0..3u8).prop_map(|(l, r)| {
                let shape = |i| match i {
                    0 => HandShape::Relaxed,
                    1 => HandShape::Point,
                    _ => HandShape::Grip,
                };
                Control::Hands(HandShapes {
                    left: shape(l),
                    right: shape(r),
                })
            }),
            any::<u64>().prop_map(|feed| Control::GroupFeed { feed }),
            (0u8..=10, 0u32..10_000).prop_map(|(intensity, ramp_ms)| Control::Scene(
                haven_scenes::Command::SetIntensity { intensity, ramp_ms }
            )),
            any::<u64>().prop_map(|seed| Control::SceneState(Box::new(
                haven_scenes::ScenePlayer::new(seed, 0).state().clone()
            ))),
            ("[a-zA-Z ]{1,64}", any::<u64>(), any::<[u8; 32]>()).prop_map(|(name, t, key)| {
                Control::Identity(Box::new(IdentityProof {
                    credential: crate::identity::SignedCredential {
                        credential: crate::identity::Credential {
                            clinic: "Clinic".into(),
                            clinic_key: key.to_vec(),
                            name: name.clone(),
                            qualification: name.clone(),
                            licence: name,
                            not_before: t / 2,
                            not_after: t,
                            key: key.to_vec(),
                        },
                        signature: vec![7; 64],
                    },
                    binding: vec![9; 64],
                }))
            }),
        ]
    }

    proptest! {
        #[test]
        fn round_trips(m in control()) {
            prop_assert_eq!(decode(&encode(&m)).expect("round trip"), m);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }

        /// Valid messages edited past their version byte reach the field decoders: a typed
        /// error or a message that reads back the same, never a panic.
        #[test]
        fn edited_messages_never_panic(m in control(), edits in hostile::edits()) {
            let bytes = hostile::apply(encode(&m), 1, &edits);
            if let Ok(read) = decode(&bytes) {
                prop_assert_eq!(decode(&encode(&read)).expect("re-encodes"), read);
            }
        }
    }

    #[test]
    fn a_pointer_that_is_not_finite_is_refused() {
        let ray = |v: f32| {
            Control::Pointer(Some(Pointer {
                origin: [0.0, 1.0, v],
                direction: [0.0, 0.0, -1.0],
                hit: None,
            }))
        };
        assert!(decode(&encode(&ray(0.5))).is_ok());
        for bad in [f32::NAN, f32::INFINITY] {
            assert_eq!(
                decode(&encode(&ray(bad))).unwrap_err(),
                ControlDecodeError::Invalid("pointer not finite")
            );
        }
    }

    #[test]
    fn only_a_therapist_runs_a_scene_and_only_the_patient_says_its_state() {
        let stop = Control::Scene(haven_scenes::Command::Stop);
        assert!(stop.allowed_from(Role::Therapist));
        assert!(!stop.allowed_from(Role::Clinician));
        assert!(!stop.allowed_from(Role::Patient));
        let state = Control::SceneState(Box::new(
            haven_scenes::ScenePlayer::new(1, 0).state().clone(),
        ));
        assert!(state.allowed_from(Role::Patient));
        assert!(!state.allowed_from(Role::Therapist));
        assert!(Control::Heartbeat.allowed_from(Role::Therapist));
        assert!(!Control::Heartbeat.allowed_from(Role::Clinician));
    }

    #[test]
    fn only_a_therapist_asks_only_the_patient_answers_and_ratings_stay_on_their_scales() {
        use haven_scenes::ratings::{Request, Scale, Source, Why};
        use haven_scenes::record::{Entry, Stamped};
        let ask = Control::Rating(Request::Ask { scale: Scale::Suds });
        assert!(ask.allowed_from(Role::Therapist));
        assert!(!ask.allowed_from(Role::Patient));
        assert!(!ask.allowed_from(Role::Clinician));
        let rated = |value| {
            Control::Record(Stamped {
                at: 1,
                entry: Entry::Rated {
                    prompt: Some(1),
                    scale: Scale::Suds,
                    why: Why::Demand,
                    value,
                    source: Source::Patient,
                },
            })
        };
        assert!(rated(Some(40)).allowed_from(Role::Patient));
        assert!(!rated(Some(40)).allowed_from(Role::Therapist));
        assert!(!rated(Some(40)).allowed_from(Role::Clinician));
        assert!(matches!(
            decode(&encode(&rated(Some(105)))),
            Err(ControlDecodeError::Invalid(_))
        ));
        assert!(matches!(
            decode(&encode(&rated(Some(41)))),
            Err(ControlDecodeError::Invalid(_))
        ));
        assert_eq!(decode(&encode(&rated(None))), Ok(rated(None)));
        // A prompt stamped after its own time, or at the end of time, is refused.
        let asked = |at: u64, asked: u64| {
            Control::Record(Stamped {
                at,
                entry: Entry::Asked(haven_scenes::ratings::Prompt {
                    id: 1,
                    scale: Scale::Suds,
                    why: Why::Demand,
                    asked,
                }),
            })
        };
        assert!(matches!(
            decode(&encode(&asked(u64::MAX, u64::MAX))),
            Err(ControlDecodeError::Invalid(_))
        ));
        assert!(matches!(
            decode(&encode(&asked(5, 9))),
            Err(ControlDecodeError::Invalid(_))
        ));
        assert!(decode(&encode(&asked(9, 5))).is_ok());
        let edit = Control::LadderEdit(haven_scenes::ladder::Edit::Remove(0));
        assert!(edit.allowed_from(Role::Therapist));
        assert!(!edit.allowed_from(Role::Patient));
    }

    #[test]
    fn only_the_patient_shares_and_revokes() {
        let share = Control::Shared(Share {
            object: ObjectId(1),
            label: Redacted::new("x".into()),
            consent: Redacted::new("{}".into()),
            may_keep: false,
            until: 0,
        });
        assert!(share.allowed_from(Role::Patient));
        assert!(!share.allowed_from(Role::Clinician));
        assert!(
            !Control::Revoked {
                object: ObjectId(1)
            }
            .allowed_from(Role::Therapist)
        );
        assert!(
            !Control::Viewed {
                object: ObjectId(1)
            }
            .allowed_from(Role::Patient)
        );
        assert!(
            Control::Purged {
                object: ObjectId(1)
            }
            .allowed_from(Role::Clinician)
        );
        let long = Control::Shared(Share {
            object: ObjectId(1),
            label: Redacted::new("x".repeat(MAX_SHARE_LABEL + 1)),
            consent: Redacted::new("{}".into()),
            may_keep: false,
            until: 0,
        });
        assert!(matches!(
            decode(&encode(&long)),
            Err(ControlDecodeError::Invalid(_))
        ));
    }

    /// A build from before the looks and hands kinds (19 kinds) skips them as unknown, so
    /// sending them to an older peer never ends its session.
    #[test]
    fn looks_and_hands_are_skipped_by_older_peers() {
        let look = encode(&Control::Look(Look {
            skin: [200, 160, 130],
            hair: None,
            clothing: [40, 60, 90],
        }));
        let hands = encode(&Control::Hands(HandShapes {
            left: HandShape::Grip,
            right: HandShape::Point,
        }));
        assert_eq!(
            decode_versioned::<Control>(&look, MAX_CONTROL_MESSAGE, 19),
            Err(ControlDecodeError::UnknownKind(19))
        );
        assert_eq!(
            decode_versioned::<Control>(&hands, MAX_CONTROL_MESSAGE, 19),
            Err(ControlDecodeError::UnknownKind(20))
        );
        assert!(matches!(decode(&look), Ok(Control::Look(_))));
        assert!(matches!(decode(&hands), Ok(Control::Hands(_))));
    }

    #[test]
    fn compact_on_the_wire() {
        assert_eq!(
            encode(&Control::Speaking { speaking: true }),
            [DATA_VERSION, 2, 1]
        );
    }

    #[test]
    fn unknown_kinds_versions_and_junk_are_typed() {
        assert_eq!(decode(&[]), Err(ControlDecodeError::Empty));
        assert_eq!(
            decode(&[9, 0]),
            Err(ControlDecodeError::UnsupportedVersion(9))
        );
        assert_eq!(
            decode(&[DATA_VERSION, 42, 0]),
            Err(ControlDecodeError::UnknownKind(42))
        );
        assert_eq!(
            decode(&[DATA_VERSION, 2]),
            Err(ControlDecodeError::Malformed)
        );
        assert_eq!(
            decode(&[DATA_VERSION, 2, 1, 0]),
            Err(ControlDecodeError::Malformed)
        );
        let huge = vec![DATA_VERSION; MAX_CONTROL_MESSAGE + 1];
        assert!(matches!(
            decode(&huge),
            Err(ControlDecodeError::TooLarge { .. })
        ));
        let long_name = encode(&Control::Avatar(AvatarChoice::Named {
            name: Redacted::new("x".repeat(65)),
            colour: [0; 3],
        }));
        assert!(matches!(
            decode(&long_name),
            Err(ControlDecodeError::Invalid(_))
        ));
    }
}
