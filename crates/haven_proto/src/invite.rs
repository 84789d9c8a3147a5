//! The invite string: which server, which room, which role, until when.
//!
//! An invite is `hv1.<payload>.<tag>`: the payload is base64url (no padding) of a JSON object
//! with the server's host and port, the room, the role, the expiry (Unix seconds), a random
//! nonce, how many joins it allows, for a self-signed server its certificate's SHA-256, and for
//! a patient the clinic's public key (to check clinicians against); the tag is base64url of HMAC-SHA256, keyed by the
//! server's secret, over everything before the last dot. Only the server that holds the secret
//! can make or check the tag (`haven_signal::invite`); anyone holding the invite can read where
//! to connect, so an invite carries no name and nothing medical.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::signal::{Role, RoomId};

/// The prefix (and version) of every invite string.
pub const INVITE_PREFIX: &str = "hv1";
/// The longest invite string accepted.
pub const MAX_INVITE_LEN: usize = 1024;
/// Length of the HMAC-SHA256 tag.
pub const TAG_LEN: usize = 32;

/// What an invite says. Signing and checking it is the server's business.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invite {
    /// The signaling server's host name or IP address.
    pub host: String,
    /// The signaling server's port.
    pub port: u16,
    /// The room.
    pub room: RoomId,
    /// The role the holder joins as.
    pub role: Role,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Random, unique per invite; the server counts joins by it.
    pub nonce: String,
    /// How many joins the invite allows (a reconnect is a join).
    pub uses: u32,
    /// SHA-256 of the server's certificate (hex), when the server uses a self-signed one:
    /// the joining peer pins it instead of trusting a certificate authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// The public key (Ed25519, base64url) of the clinic whose clinicians the holder meets: a
    /// patient's app checks each clinician's credential against it (`haven_signal::clinic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clinic: Option<String>,
    /// A group room of up to this many people (2 to
    /// [`MAX_GROUP_PEERS`](crate::signal::MAX_GROUP_PEERS)), whose voices and poses go through
    /// the clinic's media server instead of a mesh. Absent: a consult of up to
    /// [`MAX_ROOM_PEERS`](crate::signal::MAX_ROOM_PEERS), peer to peer. The first invite to
    /// open a room decides which it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<u8>,
}

/// An invite string split into its parts, before its tag is checked.
#[derive(Clone, Debug)]
pub struct ParsedInvite {
    /// What it says (not yet trusted).
    pub invite: Invite,
    /// The bytes the tag covers.
    pub signed: String,
    /// The tag as sent.
    pub tag: [u8; TAG_LEN],
}

/// Why a string is not an invite.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum InviteError {
    /// Longer than [`MAX_INVITE_LEN`].
    #[error("invite is longer than {MAX_INVITE_LEN} characters")]
    TooLong,
    /// Not `hv1.<payload>.<tag>`.
    #[error("not a Haven invite (expected hv1.<payload>.<tag>)")]
    Shape,
    /// The payload or tag is not base64url, or the payload is not the expected JSON.
    #[error("invite payload is malformed")]
    Payload,
    /// The host is empty, too long, or holds characters a host name cannot.
    #[error("invite names an invalid host")]
    Host,
}

impl Invite {
    /// The `wss://` address of the server the invite is for.
    pub fn server_url(&self) -> String {
        if self.host.contains(':') {
            format!("wss://[{}]:{}", self.host, self.port)
        } else {
            format!("wss://{}:{}", self.host, self.port)
        }
    }

    /// The part of the invite string the tag covers: `hv1.<payload>`.
    pub fn signed_part(&self) -> String {
        let json = serde_json::to_vec(self).expect("an invite always serializes");
        format!("{INVITE_PREFIX}.{}", URL_SAFE_NO_PAD.encode(json))
    }

    /// The whole invite string, given the tag over [`Invite::signed_part`].
    pub fn to_token(&self, tag: &[u8; TAG_LEN]) -> String {
        format!("{}.{}", self.signed_part(), URL_SAFE_NO_PAD.encode(tag))
    }
}

fn host_ok(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'_'))
}

/// Splits an invite string and reads its payload. The tag is returned, not checked.
pub fn parse(token: &str) -> Result<ParsedInvite, InviteError> {
    if token.len() > MAX_INVITE_LEN {
        return Err(InviteError::TooLong);
    }
    let token = token.trim();
    let (signed, tag_b64) = token.rsplit_once('.').ok_or(InviteError::Shape)?;
    let (prefix, payload_b64) = signed.split_once('.').ok_or(InviteError::Shape)?;
    if prefix != INVITE_PREFIX {
        return Err(InviteError::Shape);
    }
    let tag: [u8; TAG_LEN] = URL_SAFE_NO_PAD
        .decode(tag_b64)
        .map_err(|_| InviteError::Payload)?
        .try_into()
        .map_err(|_| InviteError::Payload)?;
    let json = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| InviteError::Payload)?;
    let invite: Invite = serde_json::from_slice(&json).map_err(|_| InviteError::Payload)?;
    if !host_ok(&invite.host) {
        return Err(InviteError::Host);
    }
    Ok(ParsedInvite {
        invite,
        signed: signed.to_owned(),
        tag,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::framing::hostile;

    fn sample() -> Invite {
        Invite {
            host: "127.0.0.1".into(),
            port: 8443,
            room: "room-1".parse().expect("valid room"),
            role: Role::Patient,
            exp: 1_800_000_000,
            nonce: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            uses: 5,
            pin: None,
            clinic: None,
            group: None,
        }
    }

    #[test]
    fn round_trips_and_is_url_safe() {
        let inv = sample();
        let token = inv.to_token(&[7; TAG_LEN]);
        assert!(token.starts_with("hv1."));
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')),
            "{token}"
        );
        let parsed = parse(&token).expect("parses");
        assert_eq!(parsed.invite, inv);
        assert_eq!(parsed.tag, [7; TAG_LEN]);
        assert_eq!(parsed.signed, inv.signed_part());
        assert_eq!(inv.server_url(), "wss://127.0.0.1:8443");
    }

    #[test]
    fn malformed_invites_are_refused() {
        let token = sample().to_token(&[1; TAG_LEN]);
        assert_eq!(parse("hello").unwrap_err(), InviteError::Shape);
        assert_eq!(
            parse(&token.replacen("hv1", "hv2", 1)).unwrap_err(),
            InviteError::Shape
        );
        assert_eq!(
            parse(&format!("{token}AA")).unwrap_err(),
            InviteError::Payload
        );
        assert_eq!(parse(&"a".repeat(2000)).unwrap_err(), InviteError::TooLong);
        let mut bad_host = sample();
        bad_host.host = "evil.example/path".into();
        assert_eq!(
            parse(&bad_host.to_token(&[0; TAG_LEN])).unwrap_err(),
            InviteError::Host
        );
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_panic(s in ".{0,1200}") {
            let _ = parse(&s);
        }

        /// A real invite's JSON edited (then encoded as an invite is): past the prefix, the
        /// base64 and the tag's shape, into the field checks. A typed error, or an invite
        /// whose fields pass the checks and that writes out to the same.
        #[test]
        fn edited_invites_never_panic(edits in hostile::edits(), tag in any::<[u8; TAG_LEN]>()) {
            let json = serde_json::to_vec(&sample()).expect("serialises");
            let json = hostile::apply(json, 0, &edits);
            let token = format!(
                "{INVITE_PREFIX}.{}.{}",
                URL_SAFE_NO_PAD.encode(&json),
                URL_SAFE_NO_PAD.encode(tag)
            );
            if let Ok(parsed) = parse(&token) {
                prop_assert!(host_ok(&parsed.invite.host));
                let again = parse(&parsed.invite.to_token(&parsed.tag)).expect("re-encodes");
                prop_assert_eq!(again.invite, parsed.invite);
            }
        }
    }
}
