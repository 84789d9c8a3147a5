//! Making and checking invites: HMAC-SHA256 over the invite's signed part, keyed by the
//! server secret, compared in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use haven_proto::invite::{Invite, TAG_LEN, parse};
use haven_proto::signal::{ErrorCode, Role, RoomId};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

use crate::secret::ServerSecret;

type HmacSha256 = Hmac<Sha256>;

/// Why an invite was refused, with the code the server answers.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum InviteRejected {
    /// Malformed, or the tag does not verify (edited, or made with another key).
    #[error("the invite is not valid for this server")]
    Bad,
    /// Past its expiry.
    #[error("the invite has expired")]
    Expired,
}

impl InviteRejected {
    /// The signaling error code for this refusal.
    pub fn code(self) -> ErrorCode {
        match self {
            Self::Bad => ErrorCode::BadToken,
            Self::Expired => ErrorCode::ExpiredToken,
        }
    }
}

fn tag(secret: &ServerSecret, signed: &str) -> [u8; TAG_LEN] {
    let mut mac = HmacSha256::new_from_slice(secret.key()).expect("HMAC takes keys of any length");
    mac.update(signed.as_bytes());
    mac.finalize().into_bytes().into()
}

/// What an invite is for.
#[derive(Clone, Debug)]
pub struct InviteRequest {
    /// The server's host, as peers will reach it.
    pub host: String,
    /// The server's port.
    pub port: u16,
    /// The room.
    pub room: RoomId,
    /// The role.
    pub role: Role,
    /// Seconds from `now_unix` until it expires.
    pub ttl_secs: u64,
    /// Joins allowed (a reconnect is a join).
    pub uses: u32,
    /// SHA-256 of the server's certificate, hex, when it is self-signed.
    pub pin: Option<String>,
    /// For a patient: the clinic whose clinicians they meet (their credentials are checked
    /// against it).
    pub clinic: Option<crate::clinic::ClinicPublicKey>,
    /// A group room of up to this many people (see [`Invite::group`]).
    pub group: Option<u8>,
}

/// Makes a signed invite string.
pub fn issue(
    secret: &ServerSecret,
    request: InviteRequest,
    now_unix: u64,
) -> Result<String, getrandom::Error> {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce)?;
    let invite = Invite {
        host: request.host,
        port: request.port,
        room: request.room,
        role: request.role,
        exp: now_unix.saturating_add(request.ttl_secs),
        nonce: URL_SAFE_NO_PAD.encode(nonce),
        uses: request.uses,
        pin: request.pin,
        clinic: request.clinic.map(|key| key.to_string()),
        group: request.group,
    };
    Ok(invite.to_token(&tag(secret, &invite.signed_part())))
}

/// Checks an invite's tag (in constant time) and expiry; returns what it says.
pub fn verify(secret: &ServerSecret, token: &str, now_unix: u64) -> Result<Invite, InviteRejected> {
    let parsed = parse(token).map_err(|_| InviteRejected::Bad)?;
    let mut mac = HmacSha256::new_from_slice(secret.key()).expect("HMAC takes keys of any length");
    mac.update(parsed.signed.as_bytes());
    // `verify_slice` compares in constant time.
    mac.verify_slice(&parsed.tag)
        .map_err(|_| InviteRejected::Bad)?;
    if parsed.invite.exp <= now_unix {
        return Err(InviteRejected::Expired);
    }
    Ok(parsed.invite)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(role: Role) -> InviteRequest {
        InviteRequest {
            host: "127.0.0.1".into(),
            port: 4433,
            room: "r1".parse().expect("room"),
            role,
            ttl_secs: 1800,
            uses: 3,
            pin: None,
            clinic: None,
            group: None,
        }
    }

    #[test]
    fn issued_invites_verify_until_they_expire() {
        let secret = ServerSecret::from_bytes([9; 32]);
        let token = issue(&secret, request(Role::Clinician), 1000).expect("random");
        let invite = verify(&secret, &token, 1000).expect("valid");
        assert_eq!(invite.role, Role::Clinician);
        assert_eq!(invite.exp, 2800);
        assert_eq!(
            verify(&secret, &token, 2799).map(|i| i.room.to_string()),
            Ok("r1".into())
        );
        assert_eq!(verify(&secret, &token, 2800), Err(InviteRejected::Expired));
    }

    #[test]
    fn forged_and_foreign_invites_are_refused() {
        let secret = ServerSecret::from_bytes([9; 32]);
        let token = issue(&secret, request(Role::Patient), 1000).expect("random");
        // Another server's key.
        let other = ServerSecret::from_bytes([8; 32]);
        assert_eq!(verify(&other, &token, 1000), Err(InviteRejected::Bad));
        // The role edited in the payload, tag kept.
        let parsed = parse(&token).expect("parses");
        let mut forged = parsed.invite.clone();
        forged.role = Role::Therapist;
        let forged_token = forged.to_token(&parsed.tag);
        assert_eq!(
            verify(&secret, &forged_token, 1000),
            Err(InviteRejected::Bad)
        );
        // One character of the tag changed.
        let mut chars: Vec<char> = token.chars().collect();
        let last = chars.len() - 2;
        chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
        let flipped: String = chars.into_iter().collect();
        assert_eq!(verify(&secret, &flipped, 1000), Err(InviteRejected::Bad));
        assert_eq!(verify(&secret, "garbage", 1000), Err(InviteRejected::Bad));
    }

    #[test]
    fn every_invite_has_a_fresh_nonce() {
        let secret = ServerSecret::from_bytes([1; 32]);
        let a = verify(
            &secret,
            &issue(&secret, request(Role::Patient), 0).expect("r"),
            0,
        );
        let b = verify(
            &secret,
            &issue(&secret, request(Role::Patient), 0).expect("r"),
            0,
        );
        assert_ne!(a.expect("valid").nonce, b.expect("valid").nonce);
    }
}
