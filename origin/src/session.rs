//! Fan sessions: a fan id with an HMAC-SHA256 tag, `<fan id>.<tag in base64url>`. The origin
//! issues one per `POST /api/v1/fans` and checks it on every fan request, which is how a seat
//! route knows the caller is the fan the admission token names.
//!
//! NOTE: this stands in for the box office's own login. A deployment with accounts replaces
//! `FanSessions::verify` with its session check and keeps the rest.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use onsale_shared::{ErrorCode, FanId};

use crate::config::Secret;

type HmacSha256 = Hmac<Sha256>;

/// Longest session string accepted: a 64-character fan id, a dot and a 43-character tag.
const MAX_SESSION_LEN: usize = 128;

#[derive(Clone)]
pub struct FanSessions {
    secret: Vec<u8>,
}

impl std::fmt::Debug for FanSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FanSessions(redacted)")
    }
}

impl FanSessions {
    pub fn new(secret: Vec<u8>) -> Self {
        Self { secret }
    }

    /// Reads the configured secret, or makes a random one.
    pub fn from_config(secret: Option<&Secret>) -> anyhow::Result<Self> {
        match secret {
            Some(encoded) => {
                let bytes = onsale_shared::token::decode_base64(encoded.expose())
                    .ok_or_else(|| anyhow::anyhow!("--session-secret is not valid base64"))?;
                anyhow::ensure!(bytes.len() >= 32, "--session-secret must be at least 32 bytes, got {}", bytes.len());
                Ok(Self::new(bytes))
            }
            None => {
                tracing::warn!("no session secret configured: using a random one, so fan sessions end at restart");
                let mut bytes = vec![0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
                Ok(Self::new(bytes))
            }
        }
    }

    fn mac(&self, fan: &FanId) -> HmacSha256 {
        // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
        let mut mac =
            HmacSha256::new_from_slice(&self.secret).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(b"onsale-fan-session\0");
        mac.update(fan.as_str().as_bytes());
        mac
    }

    pub fn issue(&self, fan: &FanId) -> String {
        let tag = self.mac(fan).finalize().into_bytes();
        format!("{fan}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// Checks a session string and returns its fan.
    pub fn verify(&self, session: &str) -> Result<FanId, ErrorCode> {
        if session.is_empty() {
            return Err(ErrorCode::FanSessionMissing);
        }
        if session.len() > MAX_SESSION_LEN {
            return Err(ErrorCode::FanSessionInvalid);
        }
        let (fan, tag) = session.rsplit_once('.').ok_or(ErrorCode::FanSessionInvalid)?;
        let fan: FanId = fan.parse().map_err(|_| ErrorCode::FanSessionInvalid)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| ErrorCode::FanSessionInvalid)?;
        self.mac(&fan).verify_slice(&tag).map_err(|_| ErrorCode::FanSessionInvalid)?;
        Ok(fan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_then_verify() {
        let sessions = FanSessions::new(vec![1; 32]);
        let fan: FanId = "fan-7".parse().unwrap();
        let session = sessions.issue(&fan);
        assert_eq!(sessions.verify(&session).unwrap(), fan);
    }

    #[test]
    fn other_fan_or_secret_fails() {
        let sessions = FanSessions::new(vec![1; 32]);
        let session = sessions.issue(&"fan-7".parse().unwrap());
        let (_, tag) = session.rsplit_once('.').unwrap();
        assert_eq!(sessions.verify(&format!("fan-8.{tag}")), Err(ErrorCode::FanSessionInvalid));
        assert_eq!(FanSessions::new(vec![2; 32]).verify(&session), Err(ErrorCode::FanSessionInvalid));
    }

    #[test]
    fn garbage_is_invalid() {
        let sessions = FanSessions::new(vec![1; 32]);
        for input in ["x", ".", "a.b", "fan.!!!", &"a".repeat(500)] {
            assert_eq!(sessions.verify(input), Err(ErrorCode::FanSessionInvalid), "{input}");
        }
        assert_eq!(sessions.verify(""), Err(ErrorCode::FanSessionMissing));
    }
}
