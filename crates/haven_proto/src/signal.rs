//! Signaling: the JSON messages between a peer and the rendezvous server.
//!
//! Every message is one WebSocket text frame holding one JSON object whose `"type"` names it
//! (kebab-case). The first message a peer sends is [`ClientMessage::Hello`] with its invite, or
//! [`ClientMessage::Resume`] with the resume token of an earlier welcome (its place in the
//! room, kept through a lost connection or a server restart); the server answers
//! [`ServerMessage::Welcome`] or [`ServerMessage::Error`]. After that the
//! server relays offers, answers and ICE candidates between peers of one room, naming the
//! sender, and tells each peer who joins and leaves. Nothing else passes through it.
//!
//! SDP bodies, candidates and invite tokens are [`Redacted`]: they print as `[redacted]`.

use core::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::Redacted;

/// The signaling protocol version: 2 adds resumes (the welcome's `resume`, `grace_secs` and
/// `kept`, and `peer-left`'s `gone`). A server serves a version 1 hello the messages version 1
/// knows ([`ServerMessage::for_version_1`]); any other version gets
/// [`ErrorCode::VersionMismatch`].
pub const SIGNAL_VERSION: u32 = 2;

/// The largest signaling message either side accepts, in bytes.
pub const MAX_SIGNAL_MESSAGE: usize = 64 * 1024;

/// Peers in one room, at most (a mesh of four).
pub const MAX_ROOM_PEERS: usize = 4;

/// People in one group room, at most (their voices and poses through the clinic's media
/// server, [`GroupMedia`]).
pub const MAX_GROUP_PEERS: usize = 12;

/// A peer's id, given by the server and unique on it while the server runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PeerId(pub u64);

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.0)
    }
}

/// A room's id: 1 to 64 characters from `A-Z a-z 0-9 - _`. Room ids appear in logs, so a
/// clinic must not put a patient's name in one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RoomId(String);

/// A room id was empty, too long, or had a character outside `A-Z a-z 0-9 - _`.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[error("a room id is 1 to 64 characters from A-Z a-z 0-9 - _")]
pub struct BadRoomId;

impl RoomId {
    /// The longest room id.
    pub const MAX_LEN: usize = 64;

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for RoomId {
    type Err = BadRoomId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(BadRoomId)
        }
    }
}

impl<'de> Deserialize<'de> for RoomId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a peer is in the consult. The invite names it; the server and every receiving peer
/// check it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The person being seen; owns what is shared.
    Patient,
    /// A clinician at a desktop.
    Clinician,
    /// A clinician who may also run exposure-therapy scenes.
    Therapist,
}

impl Role {
    /// The role's wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Patient => "patient",
            Self::Clinician => "clinician",
            Self::Therapist => "therapist",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name was not `patient`, `clinician` or `therapist`.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[error("a role is patient, clinician or therapist")]
pub struct BadRole;

impl FromStr for Role {
    type Err = BadRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "patient" => Ok(Self::Patient),
            "clinician" => Ok(Self::Clinician),
            "therapist" => Ok(Self::Therapist),
            _ => Err(BadRole),
        }
    }
}

/// Who is in a room, as the server knows them: an id and a role, never a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The peer's id.
    pub id: PeerId,
    /// The peer's role, from its invite.
    pub role: Role,
}

/// A STUN or TURN server, in the shape browsers and aiortc take (`RTCIceServer`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    /// `stun:`, `turn:` or `turns:` URLs.
    pub urls: Vec<String>,
    /// TURN user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<Redacted<String>>,
}

/// Where a group room's voices and poses go: a Janus VideoRoom on the clinic's media server.
/// The signaling server draws the room number and its pin when the room opens, and hands
/// them only to the room's peers; shares never go this way (they stay peer to peer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupMedia {
    /// The media server's WebSocket API (`ws://` or `wss://`).
    pub server: String,
    /// The VideoRoom's number.
    pub room: u64,
    /// What joining the VideoRoom takes; never logged.
    pub pin: Redacted<String>,
    /// People the room holds at most.
    pub size: u8,
    /// The chair this welcome's peer sits in, given by the server, below `size`: `size - 1`
    /// is the head of the table (the clinician's chair), the others the ring's (0 opposite the
    /// head, then alternately to its left and right). A patient takes the lowest chair free,
    /// a clinician or therapist the highest (the head, then the ring's nearest it), so no two
    /// people share one, whoever came and went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chair: Option<u8>,
}

/// A session description body (SDP text). Never logged.
pub type Sdp = Redacted<String>;

/// An ICE candidate, in the shape browsers and aiortc use (`RTCIceCandidateInit`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidate {
    /// The `candidate:` attribute line; empty marks the end of candidates.
    pub candidate: Redacted<String>,
    /// The media stream identification tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    /// The index of the m-line.
    #[serde(
        default,
        rename = "sdpMLineIndex",
        skip_serializing_if = "Option::is_none"
    )]
    pub sdp_mline_index: Option<u16>,
    /// The ICE username fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_fragment: Option<String>,
}

/// What a peer sends to the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ClientMessage {
    /// The first message: join the room the invite names, in the role it names.
    Hello {
        /// [`SIGNAL_VERSION`].
        version: u32,
        /// The invite string.
        token: Redacted<String>,
    },
    /// The first message instead of a hello: take back the place an earlier welcome gave
    /// (after the connection to the server was lost, or the server restarted).
    Resume {
        /// [`SIGNAL_VERSION`].
        version: u32,
        /// The welcome's `resume` token.
        token: Redacted<String>,
    },
    /// An SDP offer for one peer of the room.
    Offer {
        /// The peer it is for.
        to: PeerId,
        /// The offer.
        sdp: Sdp,
    },
    /// An SDP answer for one peer of the room.
    Answer {
        /// The peer it is for.
        to: PeerId,
        /// The answer.
        sdp: Sdp,
    },
    /// A trickled ICE candidate for one peer of the room.
    IceCandidate {
        /// The peer it is for.
        to: PeerId,
        /// The candidate.
        candidate: IceCandidate,
    },
    /// Leaving the room; the server closes the connection after it.
    Bye,
}

/// What the server sends to a peer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ServerMessage {
    /// The hello was accepted.
    Welcome {
        /// [`SIGNAL_VERSION`].
        version: u32,
        /// This peer's id.
        peer_id: PeerId,
        /// The room joined.
        room: RoomId,
        /// This peer's role, from its invite.
        role: Role,
        /// Who was already in the room. The newcomer makes the offers.
        peers: Vec<PeerInfo>,
        /// STUN and TURN servers to use.
        ice_servers: Vec<IceServer>,
        /// The token that takes this place back ([`ClientMessage::Resume`]); never logged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<Redacted<String>>,
        /// How long the server keeps the place of a peer whose connection to it was lost, in
        /// seconds (its messages are held for it meanwhile, and the others are not told).
        #[serde(default, skip_serializing_if = "is_zero")]
        grace_secs: u32,
        /// A resume found the place still held: the others never saw this peer leave, and
        /// whoever joined since will offer (what they sent meanwhile follows this welcome).
        /// False for a hello, and for a resume that had to take a new seat (the grace had
        /// passed, or the server restarted): then this peer offers, as a newcomer does, to
        /// whoever it has no connection to.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        kept: bool,
        /// A group room: voices and poses go through this media server, and peer-to-peer
        /// connections carry shares only, between a patient and a clinician or therapist.
        /// Absent: a mesh, everything peer to peer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media: Option<GroupMedia>,
    },
    /// A peer joined the room.
    PeerJoined {
        /// Who.
        peer: PeerInfo,
    },
    /// A peer left the room or was disconnected.
    PeerLeft {
        /// Who.
        peer_id: PeerId,
        /// It did not say bye: its connection to the server was lost and not taken back within
        /// the grace period. Its peer-to-peer connections may still be alive.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        gone: bool,
    },
    /// An SDP offer from a peer of the room.
    Offer {
        /// The sender.
        from: PeerId,
        /// The offer.
        sdp: Sdp,
    },
    /// An SDP answer from a peer of the room.
    Answer {
        /// The sender.
        from: PeerId,
        /// The answer.
        sdp: Sdp,
    },
    /// A trickled ICE candidate from a peer of the room.
    IceCandidate {
        /// The sender.
        from: PeerId,
        /// The candidate.
        candidate: IceCandidate,
    },
    /// Something was refused. Codes that end the connection are followed by a close.
    Error {
        /// What went wrong, from a closed set.
        code: ErrorCode,
        /// A sentence for a person; never holds a token, SDP or name.
        message: String,
    },
}

/// The closed set of signaling error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// Not JSON, not an object, an unknown `"type"`, a binary frame, or a message out of turn.
    BadMessage,
    /// Over [`MAX_SIGNAL_MESSAGE`].
    TooLarge,
    /// The invite is malformed, its tag does not verify, or it is for another server.
    BadToken,
    /// The invite's expiry has passed.
    ExpiredToken,
    /// The invite has been used as many times as it allows.
    TokenUsed,
    /// The room already holds [`MAX_ROOM_PEERS`] peers.
    RoomFull,
    /// The sender's role may not do this.
    Forbidden,
    /// The named peer is not in the sender's room.
    NoSuchPeer,
    /// Too many messages too fast.
    RateLimited,
    /// The hello's version is not [`SIGNAL_VERSION`].
    VersionMismatch,
    /// No hello in time, or the connection went quiet.
    Timeout,
    /// The server is stopping.
    ShuttingDown,
    /// The server cannot take joins just now (its room store is out of reach); try again.
    Unavailable,
}

impl ErrorCode {
    /// Every code, for exhaustive tests and documentation.
    pub const ALL: [Self; 13] = [
        Self::BadMessage,
        Self::TooLarge,
        Self::BadToken,
        Self::ExpiredToken,
        Self::TokenUsed,
        Self::RoomFull,
        Self::Forbidden,
        Self::NoSuchPeer,
        Self::RateLimited,
        Self::VersionMismatch,
        Self::Timeout,
        Self::ShuttingDown,
        Self::Unavailable,
    ];

    /// The code's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadMessage => "bad-message",
            Self::TooLarge => "too-large",
            Self::BadToken => "bad-token",
            Self::ExpiredToken => "expired-token",
            Self::TokenUsed => "token-used",
            Self::RoomFull => "room-full",
            Self::Forbidden => "forbidden",
            Self::NoSuchPeer => "no-such-peer",
            Self::RateLimited => "rate-limited",
            Self::VersionMismatch => "version-mismatch",
            Self::Timeout => "timeout",
            Self::ShuttingDown => "shutting-down",
            Self::Unavailable => "unavailable",
        }
    }

    /// Whether the server closes the connection after sending this code.
    pub fn closes(self) -> bool {
        !matches!(self, Self::BadMessage | Self::NoSuchPeer | Self::Forbidden)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a signaling message could not be read.
#[derive(Debug, Error)]
pub enum SignalDecodeError {
    /// Over [`MAX_SIGNAL_MESSAGE`].
    #[error("signaling message of {0} bytes is over the {MAX_SIGNAL_MESSAGE}-byte limit")]
    TooLarge(usize),
    /// Not a JSON object with a string `"type"`.
    #[error("signaling message is not a JSON object with a \"type\"")]
    NotAnObject,
    /// A `"type"` this version does not know.
    #[error("unknown signaling message type")]
    UnknownType,
    /// A known type with missing, extra or ill-typed fields.
    #[error("malformed signaling message: {0}")]
    Malformed(String),
}

impl SignalDecodeError {
    /// The code the server answers this error with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::TooLarge(_) => ErrorCode::TooLarge,
            _ => ErrorCode::BadMessage,
        }
    }
}

const CLIENT_TYPES: &[&str] = &["hello", "resume", "offer", "answer", "ice-candidate", "bye"];
const SERVER_TYPES: &[&str] = &[
    "welcome",
    "peer-joined",
    "peer-left",
    "offer",
    "answer",
    "ice-candidate",
    "error",
];

fn decode<T: serde::de::DeserializeOwned>(
    text: &str,
    known: &[&str],
) -> Result<T, SignalDecodeError> {
    if text.len() > MAX_SIGNAL_MESSAGE {
        return Err(SignalDecodeError::TooLarge(text.len()));
    }
    #[derive(Deserialize)]
    struct Probe<'a> {
        #[serde(rename = "type", borrow)]
        kind: std::borrow::Cow<'a, str>,
    }
    let probe: Probe<'_> =
        serde_json::from_str(text).map_err(|_| SignalDecodeError::NotAnObject)?;
    if !known.contains(&probe.kind.as_ref()) {
        return Err(SignalDecodeError::UnknownType);
    }
    // serde_json's messages name fields and positions, never values, so they are safe to
    // show; the input itself is never echoed.
    serde_json::from_str(text).map_err(|e| SignalDecodeError::Malformed(e.to_string()))
}

impl ClientMessage {
    /// Reads a message from a peer, with the size limit applied first.
    pub fn decode(text: &str) -> Result<Self, SignalDecodeError> {
        decode(text, CLIENT_TYPES)
    }

    /// The JSON text.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("signaling messages always serialize")
    }

    /// The message's wire type, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Hello { .. } => "hello",
            Self::Resume { .. } => "resume",
            Self::Offer { .. } => "offer",
            Self::Answer { .. } => "answer",
            Self::IceCandidate { .. } => "ice-candidate",
            Self::Bye => "bye",
        }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl ServerMessage {
    /// The message as a version 1 peer knows it (its decoder refuses fields it does not
    /// know): no resume token, grace or `kept` in a welcome, no `gone` in a `peer-left`.
    #[must_use]
    pub fn for_version_1(self) -> Self {
        match self {
            Self::Welcome {
                peer_id,
                room,
                role,
                peers,
                ice_servers,
                ..
            } => Self::Welcome {
                version: 1,
                peer_id,
                room,
                role,
                peers,
                ice_servers,
                resume: None,
                grace_secs: 0,
                kept: false,
                media: None,
            },
            Self::PeerLeft { peer_id, .. } => Self::PeerLeft {
                peer_id,
                gone: false,
            },
            other => other,
        }
    }

    /// Reads a message from the server, with the size limit applied first.
    pub fn decode(text: &str) -> Result<Self, SignalDecodeError> {
        decode(text, SERVER_TYPES)
    }

    /// The JSON text.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("signaling messages always serialize")
    }

    /// An error message.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Error {
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn wire_shape_matches_the_documented_json() {
        let hello = ClientMessage::Hello {
            version: 1,
            token: Redacted::new("hv1.abc.def".into()),
        };
        assert_eq!(
            hello.encode(),
            r#"{"type":"hello","version":1,"token":"hv1.abc.def"}"#
        );
        let ice = ServerMessage::IceCandidate {
            from: PeerId(3),
            candidate: IceCandidate {
                candidate: Redacted::new("candidate:1 1 udp 1 127.0.0.1 5000 typ host".into()),
                sdp_mid: Some("0".into()),
                sdp_mline_index: Some(0),
                username_fragment: None,
            },
        };
        assert_eq!(
            ice.encode(),
            r#"{"type":"ice-candidate","from":3,"candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}"#
        );
        // What an older peer sends and expects still reads: the new welcome fields have
        // defaults, and a bye-leave says nothing more.
        let older = ServerMessage::decode(
            r#"{"type":"welcome","version":1,"peer_id":1,"room":"r","role":"patient","peers":[],"ice_servers":[]}"#,
        )
        .expect("an older welcome");
        assert!(matches!(
            older,
            ServerMessage::Welcome {
                resume: None,
                grace_secs: 0,
                kept: false,
                media: None,
                ..
            }
        ));
        assert_eq!(
            ServerMessage::PeerLeft {
                peer_id: PeerId(2),
                gone: false
            }
            .encode(),
            r#"{"type":"peer-left","peer_id":2}"#
        );
        // And what a version 2 server sends a version 1 peer is exactly what it knows.
        let v2 = ServerMessage::Welcome {
            version: SIGNAL_VERSION,
            peer_id: PeerId(1),
            room: "r".parse().expect("room"),
            role: Role::Patient,
            peers: Vec::new(),
            ice_servers: Vec::new(),
            resume: Some(Redacted::new("hr1.x".into())),
            grace_secs: 30,
            kept: true,
            media: None,
        };
        assert_eq!(
            v2.for_version_1().encode(),
            r#"{"type":"welcome","version":1,"peer_id":1,"room":"r","role":"patient","peers":[],"ice_servers":[]}"#
        );
        assert_eq!(
            ServerMessage::PeerLeft {
                peer_id: PeerId(2),
                gone: true
            }
            .for_version_1()
            .encode(),
            r#"{"type":"peer-left","peer_id":2}"#
        );
        let err = ServerMessage::error(ErrorCode::RoomFull, "room is full");
        assert_eq!(
            err.encode(),
            r#"{"type":"error","code":"room-full","message":"room is full"}"#
        );
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).expect("codes serialize");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn debug_never_shows_sdp_or_tokens() {
        let offer = ClientMessage::Offer {
            to: PeerId(1),
            sdp: Redacted::new("v=0 o=- 1 1 IN IP4 10.0.0.7".into()),
        };
        let shown = format!("{offer:?}");
        assert!(!shown.contains("10.0.0.7"), "{shown}");
        let hello = ClientMessage::Hello {
            version: 1,
            token: Redacted::new("hv1.secret".into()),
        };
        assert!(!format!("{hello:?}").contains("secret"));
    }

    #[test]
    fn bad_input_gets_typed_errors() {
        let big = format!(
            r#"{{"type":"bye","pad":"{}"}}"#,
            "x".repeat(MAX_SIGNAL_MESSAGE)
        );
        assert!(matches!(
            ClientMessage::decode(&big),
            Err(SignalDecodeError::TooLarge(_))
        ));
        assert!(matches!(
            ClientMessage::decode("not json"),
            Err(SignalDecodeError::NotAnObject)
        ));
        assert!(matches!(
            ClientMessage::decode("[1,2]"),
            Err(SignalDecodeError::NotAnObject)
        ));
        assert!(matches!(
            ClientMessage::decode(r#"{"type":"launch-missiles"}"#),
            Err(SignalDecodeError::UnknownType)
        ));
        // A server-only type from a client is unknown, not malformed.
        assert!(matches!(
            ClientMessage::decode(r#"{"type":"welcome"}"#),
            Err(SignalDecodeError::UnknownType)
        ));
        assert!(matches!(
            ClientMessage::decode(r#"{"type":"offer","to":"x","sdp":"v=0"}"#),
            Err(SignalDecodeError::Malformed(_))
        ));
        assert!(matches!(
            ClientMessage::decode(r#"{"type":"offer","to":1,"sdp":"v=0","extra":1}"#),
            Err(SignalDecodeError::Malformed(_))
        ));
        assert!(matches!(
            ServerMessage::decode(
                r#"{"type":"welcome","version":1,"peer_id":1,"room":"bad room!","role":"patient","peers":[],"ice_servers":[]}"#
            ),
            Err(SignalDecodeError::Malformed(_))
        ));
    }

    #[test]
    fn room_ids_are_checked() {
        assert!("clinic-7_room".parse::<RoomId>().is_ok());
        assert!("".parse::<RoomId>().is_err());
        assert!("a b".parse::<RoomId>().is_err());
        assert!("é".parse::<RoomId>().is_err());
        assert!("x".repeat(65).parse::<RoomId>().is_err());
    }

    fn client_message() -> impl Strategy<Value = ClientMessage> {
        let to = any::<u64>().prop_map(PeerId);
        prop_oneof![
            (any::<u32>(), ".{0,200}").prop_map(|(version, t)| ClientMessage::Hello {
                version,
                token: Redacted::new(t)
            }),
            (to.clone(), ".{0,500}").prop_map(|(to, s)| ClientMessage::Offer {
                to,
                sdp: Redacted::new(s)
            }),
            (to.clone(), ".{0,500}").prop_map(|(to, s)| ClientMessage::Answer {
                to,
                sdp: Redacted::new(s)
            }),
            (
                to,
                ".{0,100}",
                proptest::option::of(".{0,4}"),
                proptest::option::of(any::<u16>())
            )
                .prop_map(|(to, c, mid, idx)| ClientMessage::IceCandidate {
                    to,
                    candidate: IceCandidate {
                        candidate: Redacted::new(c),
                        sdp_mid: mid,
                        sdp_mline_index: idx,
                        username_fragment: None,
                    }
                }),
            (any::<u32>(), ".{0,200}").prop_map(|(version, t)| ClientMessage::Resume {
                version,
                token: Redacted::new(t)
            }),
            Just(ClientMessage::Bye),
        ]
    }

    proptest! {
        #[test]
        fn client_messages_round_trip(m in client_message()) {
            prop_assert_eq!(ClientMessage::decode(&m.encode()).expect("round trip"), m);
        }

        #[test]
        fn arbitrary_text_never_panics(s in ".{0,300}") {
            let _ = ClientMessage::decode(&s);
            let _ = ServerMessage::decode(&s);
        }

        #[test]
        fn arbitrary_json_objects_never_panic(
            kind in prop_oneof![Just("hello".to_owned()), Just("offer".to_owned()), Just("welcome".to_owned()), Just("error".to_owned()), ".{0,8}"],
            fields in proptest::collection::vec(("[a-z_]{1,10}", any::<i64>()), 0..5),
        ) {
            let mut obj = serde_json::Map::new();
            obj.insert("type".into(), kind.into());
            for (k, v) in fields {
                obj.insert(k, v.into());
            }
            let text = serde_json::Value::Object(obj).to_string();
            let _ = ClientMessage::decode(&text);
            let _ = ServerMessage::decode(&text);
        }
    }
}
