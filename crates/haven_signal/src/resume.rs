//! Resume tokens: a joined peer's claim to its place in a room (its id, room and role, and the
//! invite it joined with), signed with the server secret like an invite. The server keeps no
//! copy: any run of the server holding the same secret honours it, so peers take their places
//! back after a restart. A resume is not a join: it spends no use of the invite, but an invite
//! revoked since stops it, and so does a bye. A token is good for [`TTL_SECS`] from its
//! welcome, and never past the invite's own expiry plus that: renewing it on each resume
//! cannot keep a place open for ever, and a revocation is kept as long.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use haven_proto::signal::{PeerId, Role, RoomId};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::invite::InviteRejected;
use crate::secret::ServerSecret;

type HmacSha256 = Hmac<Sha256>;

/// What tells a resume token from an invite (whose signed part starts otherwise): neither can
/// stand for the other.
const PREFIX: &str = "hr1";

/// The longest token read (a room id is at most 64 characters, a nonce 22).
pub const MAX_TOKEN: usize = 256;

/// How long a resume token is good for at least, from its welcome (a consult may outlast its
/// invite).
pub const TTL_SECS: u64 = 4 * 3600;

/// A place in a room, as a resume token carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// The peer's id.
    pub peer: PeerId,
    /// Its room.
    pub room: RoomId,
    /// Its role.
    pub role: Role,
    /// The nonce of the invite it joined with (a revocation of that invite stops resumes).
    pub nonce: String,
    /// A random number drawn when the peer first joined: the token stands for that seat, not
    /// for whoever holds its id later.
    pub seat: u64,
    /// The invite's expiry: no token for this place is good past it plus [`TTL_SECS`].
    pub invite_exp: u64,
    /// Unix seconds after which the token is refused.
    pub exp: u64,
}

impl Place {
    fn signed_part(&self) -> String {
        format!(
            "{PREFIX}.{}.{}.{}.{}.{:x}.{}.{}",
            self.peer.0,
            self.room,
            self.role.as_str(),
            self.nonce,
            self.seat,
            self.invite_exp,
            self.exp
        )
    }
}

fn mac(secret: &ServerSecret, signed: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.key()).expect("HMAC takes keys of any length");
    mac.update(signed.as_bytes());
    mac
}

/// The token for `place`.
pub fn issue(secret: &ServerSecret, place: &Place) -> String {
    let signed = place.signed_part();
    let tag = mac(secret, &signed).finalize().into_bytes();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// Checks a token's tag (in constant time) and expiry; returns the place it names.
pub fn verify(secret: &ServerSecret, token: &str, now_unix: u64) -> Result<Place, InviteRejected> {
    if token.len() > MAX_TOKEN {
        return Err(InviteRejected::Bad);
    }
    let (signed, tag) = token.rsplit_once('.').ok_or(InviteRejected::Bad)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| InviteRejected::Bad)?;
    mac(secret, signed)
        .verify_slice(&tag)
        .map_err(|_| InviteRejected::Bad)?;
    // Signed by this server: the fields are its own, still read with care.
    let mut fields = signed.split('.');
    let [
        Some(PREFIX),
        Some(peer),
        Some(room),
        Some(role),
        Some(nonce),
        Some(seat),
        Some(invite_exp),
        Some(exp),
        None,
    ] = std::array::from_fn(|_| fields.next())
    else {
        return Err(InviteRejected::Bad);
    };
    let place = Place {
        peer: PeerId(peer.parse().map_err(|_| InviteRejected::Bad)?),
        room: room.parse().map_err(|_| InviteRejected::Bad)?,
        role: role.parse().map_err(|_| InviteRejected::Bad)?,
        nonce: nonce.to_owned(),
        seat: u64::from_str_radix(seat, 16).map_err(|_| InviteRejected::Bad)?,
        invite_exp: invite_exp.parse().map_err(|_| InviteRejected::Bad)?,
        exp: exp.parse().map_err(|_| InviteRejected::Bad)?,
    };
    if place.exp <= now_unix {
        return Err(InviteRejected::Expired);
    }
    Ok(place)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn place() -> Place {
        Place {
            peer: PeerId(1_764_790_000_007),
            room: "consult-7".parse().expect("room"),
            role: Role::Patient,
            nonce: "q2Xy-_0aBcDeFgHiJkLmNo".into(),
            seat: u64::MAX - 5,
            invite_exp: 900,
            exp: 1000,
        }
    }

    #[test]
    fn a_token_gives_back_its_place_until_it_expires() {
        let secret = ServerSecret::from_bytes([7; 32]);
        let token = issue(&secret, &place());
        assert!(token.len() <= MAX_TOKEN, "{}", token.len());
        assert_eq!(verify(&secret, &token, 999), Ok(place()));
        assert_eq!(verify(&secret, &token, 1000), Err(InviteRejected::Expired));
    }

    #[test]
    fn edited_and_foreign_tokens_are_refused() {
        let secret = ServerSecret::from_bytes([7; 32]);
        let token = issue(&secret, &place());
        let other = ServerSecret::from_bytes([8; 32]);
        assert_eq!(verify(&other, &token, 0), Err(InviteRejected::Bad));
        // Another peer's id, another role: the tag no longer matches.
        let edited = token.replacen("1764790000007", "1764790000008", 1);
        assert_eq!(verify(&secret, &edited, 0), Err(InviteRejected::Bad));
        let edited = token.replacen("patient", "therapist", 1);
        assert_eq!(verify(&secret, &edited, 0), Err(InviteRejected::Bad));
        assert_eq!(verify(&secret, "", 0), Err(InviteRejected::Bad));
        assert_eq!(
            verify(&secret, &"a.".repeat(200), 0),
            Err(InviteRejected::Bad)
        );
        // An invite is not a resume token.
        let invite = crate::invite::issue(
            &secret,
            crate::invite::InviteRequest {
                host: "h".into(),
                port: 1,
                room: "consult-7".parse().expect("room"),
                role: Role::Patient,
                ttl_secs: 60,
                uses: 1,
                pin: None,
                clinic: None,
                group: None,
            },
            0,
        )
        .expect("randomness");
        assert_eq!(verify(&secret, &invite, 0), Err(InviteRejected::Bad));
    }

    proptest! {
        #[test]
        fn arbitrary_tokens_never_panic(s in ".{0,300}") {
            let _ = verify(&ServerSecret::from_bytes([7; 32]), &s, 0);
        }
    }
}
