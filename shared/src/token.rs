//! Admission tokens: the JWT a fan receives when the waiting room admits them, and which every
//! seat request must carry.
//!
//! Claims: `sub` (fan id), `evt` (event id), `jti` (a random nonce the origin lets back a single
//! live hold and a single order), `iat` and `exp`. The signing algorithm and its key come from
//! configuration; the `alg` in a token's header is only compared with it, never obeyed, so `none`
//! or a switched algorithm fails with [`TokenError::Algorithm`]. Verification takes the current
//! time as an argument, which keeps it free of clocks (tests pass any instant, and the Worker
//! passes JavaScript's clock).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use jwt_compact::alg::{Ed25519, Hs256, Hs256Key};
use jwt_compact::{AlgorithmExt, Claims, Header, TimeOptions, Token, UntrustedToken, ValidationError};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::ids::{EventId, FanId};

/// Token lifetime: an admitted fan has this long to hold and buy.
pub const DEFAULT_LIFETIME: Duration = Duration::minutes(15);
/// Clock skew tolerated between the issuer and a verifier.
pub const DEFAULT_LEEWAY: Duration = Duration::seconds(5);
/// Longest token string accepted. Ours are under 400 bytes; the limit keeps hostile input cheap.
pub const MAX_TOKEN_LEN: usize = 2048;
/// Shortest HS256 secret accepted, in bytes (RFC 7518 asks for at least the hash size).
pub const MIN_HS256_SECRET_LEN: usize = 32;

/// The custom claims of an admission token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionClaims {
    #[serde(rename = "sub")]
    pub fan: FanId,
    #[serde(rename = "evt")]
    pub event: EventId,
    #[serde(rename = "jti")]
    pub nonce: String,
}

/// A token that passed every check of [`TokenVerifier::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAdmission {
    pub claims: AdmissionClaims,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Why a token was rejected. Each case has its own stable error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("no admission token")]
    Missing,
    #[error("admission token is malformed: {0}")]
    Malformed(&'static str),
    #[error("admission token uses algorithm {actual:?}, this deployment expects {expected:?}")]
    Algorithm { expected: String, actual: String },
    #[error("admission token signature does not verify")]
    Signature,
    #[error("admission token expired at {expired_at}")]
    Expired { expired_at: DateTime<Utc> },
    #[error("admission token is for event {token_event}, not {route_event}")]
    WrongEvent { token_event: EventId, route_event: EventId },
    #[error("admission token belongs to another fan")]
    WrongFan,
}

impl TokenError {
    pub fn code(&self) -> ErrorCode {
        match self {
            TokenError::Missing => ErrorCode::AdmissionTokenMissing,
            TokenError::Malformed(_) => ErrorCode::AdmissionTokenMalformed,
            TokenError::Algorithm { .. } => ErrorCode::AdmissionTokenAlgorithm,
            TokenError::Signature => ErrorCode::AdmissionTokenSignature,
            TokenError::Expired { .. } => ErrorCode::AdmissionTokenExpired,
            TokenError::WrongEvent { .. } => ErrorCode::AdmissionTokenWrongEvent,
            TokenError::WrongFan => ErrorCode::AdmissionTokenWrongFan,
        }
    }
}

/// The signing algorithm a deployment uses. Configuration picks it; tokens never do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenAlgorithm {
    #[default]
    Ed25519,
    Hs256,
}

impl std::str::FromStr for TokenAlgorithm {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ed25519" | "eddsa" => Ok(TokenAlgorithm::Ed25519),
            "hs256" => Ok(TokenAlgorithm::Hs256),
            _ => Err(KeyError(format!("unknown token algorithm {s:?}: expected ed25519 or hs256"))),
        }
    }
}

impl fmt::Display for TokenAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenAlgorithm::Ed25519 => "ed25519",
            TokenAlgorithm::Hs256 => "hs256",
        })
    }
}

/// A key that could not be decoded. The message never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

/// Decodes standard or URL-safe base64, with or without padding.
pub fn decode_base64(input: &str) -> Option<Vec<u8>> {
    let trimmed = input.trim();
    STANDARD.decode(trimmed).ok().or_else(|| URL_SAFE_NO_PAD.decode(trimmed.trim_end_matches('=')).ok())
}

fn decode_key_bytes<const N: usize>(what: &str, encoded: &str) -> Result<[u8; N], KeyError> {
    let bytes = decode_base64(encoded).ok_or_else(|| KeyError(format!("{what} is not valid base64")))?;
    <[u8; N]>::try_from(bytes.as_slice())
        .map_err(|_| KeyError(format!("{what} must be {N} bytes, got {}", bytes.len())))
}

fn decode_hs256_secret(encoded: &str) -> Result<Vec<u8>, KeyError> {
    let bytes = decode_base64(encoded).ok_or_else(|| KeyError("HS256 secret is not valid base64".into()))?;
    if bytes.len() < MIN_HS256_SECRET_LEN {
        return Err(KeyError(format!(
            "HS256 secret must be at least {MIN_HS256_SECRET_LEN} bytes, got {}",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// Key material for signing tokens. `Debug` prints the algorithm only.
#[derive(Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "a process makes one or two signing keys, so the Ed25519 variant's size costs nothing"
)]
pub enum SigningKey {
    Ed25519(ed25519_dalek::SigningKey),
    Hs256(Vec<u8>),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, redacted)", self.algorithm())
    }
}

impl SigningKey {
    /// Decodes a key: for Ed25519 the 32-byte seed, for HS256 the shared secret, both in base64.
    pub fn from_base64(algorithm: TokenAlgorithm, encoded: &str) -> Result<Self, KeyError> {
        match algorithm {
            TokenAlgorithm::Ed25519 => {
                let seed = decode_key_bytes::<32>("Ed25519 signing key", encoded)?;
                Ok(SigningKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed)))
            }
            TokenAlgorithm::Hs256 => Ok(SigningKey::Hs256(decode_hs256_secret(encoded)?)),
        }
    }

    /// Generates a new random key.
    pub fn generate(algorithm: TokenAlgorithm) -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        match algorithm {
            TokenAlgorithm::Ed25519 => SigningKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&bytes)),
            TokenAlgorithm::Hs256 => SigningKey::Hs256(bytes.to_vec()),
        }
    }

    /// The key in the form [`SigningKey::from_base64`] reads. Handle the result as a secret.
    pub fn to_base64(&self) -> String {
        match self {
            SigningKey::Ed25519(key) => STANDARD.encode(key.to_bytes()),
            SigningKey::Hs256(secret) => STANDARD.encode(secret),
        }
    }

    pub fn algorithm(&self) -> TokenAlgorithm {
        match self {
            SigningKey::Ed25519(_) => TokenAlgorithm::Ed25519,
            SigningKey::Hs256(_) => TokenAlgorithm::Hs256,
        }
    }

    /// The matching verification key: the public key for Ed25519, the secret itself for HS256.
    pub fn verifying_key(&self) -> VerifyingKey {
        match self {
            SigningKey::Ed25519(key) => VerifyingKey::Ed25519(key.verifying_key()),
            SigningKey::Hs256(secret) => VerifyingKey::Hs256(secret.clone()),
        }
    }
}

/// Key material for verifying tokens. `Debug` prints the algorithm only.
#[derive(Clone)]
pub enum VerifyingKey {
    Ed25519(ed25519_dalek::VerifyingKey),
    Hs256(Vec<u8>),
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey({}, redacted)", self.algorithm())
    }
}

impl VerifyingKey {
    /// Decodes a key: for Ed25519 the 32-byte public key, for HS256 the shared secret, in base64.
    pub fn from_base64(algorithm: TokenAlgorithm, encoded: &str) -> Result<Self, KeyError> {
        match algorithm {
            TokenAlgorithm::Ed25519 => {
                let bytes = decode_key_bytes::<32>("Ed25519 public key", encoded)?;
                ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                    .map(VerifyingKey::Ed25519)
                    .map_err(|_| KeyError("Ed25519 public key is not a valid curve point".into()))
            }
            TokenAlgorithm::Hs256 => Ok(VerifyingKey::Hs256(decode_hs256_secret(encoded)?)),
        }
    }

    pub fn algorithm(&self) -> TokenAlgorithm {
        match self {
            VerifyingKey::Ed25519(_) => TokenAlgorithm::Ed25519,
            VerifyingKey::Hs256(_) => TokenAlgorithm::Hs256,
        }
    }

    /// The public key in base64; `None` for HS256, whose key is a secret.
    pub fn public_base64(&self) -> Option<String> {
        match self {
            VerifyingKey::Ed25519(key) => Some(STANDARD.encode(key.to_bytes())),
            VerifyingKey::Hs256(_) => None,
        }
    }
}

/// Creates a random nonce: 128 bits, base64url without padding (22 characters).
pub fn random_nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs admission tokens.
#[derive(Debug, Clone)]
pub struct TokenIssuer {
    key: SigningKey,
    lifetime: Duration,
}

impl TokenIssuer {
    pub fn new(key: SigningKey) -> Self {
        Self { key, lifetime: DEFAULT_LIFETIME }
    }

    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Signs a token for `fan` at `event`, issued at `now`, with a fresh nonce.
    pub fn issue(&self, fan: &FanId, event: EventId, now: DateTime<Utc>) -> IssuedToken {
        let claims = AdmissionClaims { fan: fan.clone(), event, nonce: random_nonce() };
        self.issue_claims(claims, now)
    }

    /// Signs a token with the given claims. Tests use it to build tokens for any case.
    pub fn issue_claims(&self, claims: AdmissionClaims, now: DateTime<Utc>) -> IssuedToken {
        // JWT timestamps are whole seconds; truncate so that `expires_at` equals what a verifier reads.
        let now = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
        let expires_at = now + self.lifetime;
        let mut jwt_claims = Claims::new(claims.clone());
        jwt_claims.issued_at = Some(now);
        jwt_claims.expiration = Some(expires_at);
        let header = Header::empty().with_token_type("JWT");
        let signed = match &self.key {
            SigningKey::Ed25519(key) => Ed25519.token(&header, &jwt_claims, key),
            SigningKey::Hs256(secret) => Hs256.token(&header, &jwt_claims, &Hs256Key::new(secret)),
        };
        // Serializing claims made of strings and integers cannot fail.
        let token = signed.unwrap_or_default();
        IssuedToken { token, claims, issued_at: now, expires_at }
    }
}

/// A freshly signed token with the facts the waiting room stores beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub token: String,
    pub claims: AdmissionClaims,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Verifies admission tokens with one configured key and algorithm.
#[derive(Debug, Clone)]
pub struct TokenVerifier {
    key: VerifyingKey,
    leeway: Duration,
}

impl TokenVerifier {
    pub fn new(key: VerifyingKey) -> Self {
        Self { key, leeway: DEFAULT_LEEWAY }
    }

    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    pub fn leeway(&self) -> Duration {
        self.leeway
    }

    pub fn algorithm(&self) -> TokenAlgorithm {
        self.key.algorithm()
    }

    /// Checks shape, algorithm, signature and expiry (with the leeway) at the instant `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<VerifiedAdmission, TokenError> {
        if token.is_empty() {
            return Err(TokenError::Missing);
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed("token is too long"));
        }
        let untrusted = UntrustedToken::new(token).map_err(|_| TokenError::Malformed("not a compact JWT"))?;
        let validated: Result<Token<AdmissionClaims>, ValidationError> = match &self.key {
            VerifyingKey::Ed25519(key) => Ed25519.validator(key).validate(&untrusted),
            VerifyingKey::Hs256(secret) => Hs256.validator(&Hs256Key::new(secret)).validate(&untrusted),
        };
        let token = validated.map_err(map_validation_error)?;
        let claims = token.claims();

        let expires_at = claims.expiration.ok_or(TokenError::Malformed("no exp claim"))?;
        let issued_at = claims.issued_at.ok_or(TokenError::Malformed("no iat claim"))?;
        let options = TimeOptions::new(self.leeway, move || now);
        claims.validate_expiration(&options).map_err(|err| match err {
            ValidationError::Expired => TokenError::Expired { expired_at: expires_at },
            _ => TokenError::Malformed("invalid exp claim"),
        })?;

        Ok(VerifiedAdmission { claims: claims.custom.clone(), issued_at, expires_at })
    }

    /// [`TokenVerifier::verify`], then checks that the token is for `event` and, when the caller is
    /// known, for `fan`.
    pub fn verify_for(
        &self,
        token: &str,
        event: EventId,
        fan: Option<&FanId>,
        now: DateTime<Utc>,
    ) -> Result<VerifiedAdmission, TokenError> {
        let verified = self.verify(token, now)?;
        if verified.claims.event != event {
            return Err(TokenError::WrongEvent { token_event: verified.claims.event, route_event: event });
        }
        if let Some(fan) = fan
            && &verified.claims.fan != fan
        {
            return Err(TokenError::WrongFan);
        }
        Ok(verified)
    }
}

fn map_validation_error(err: ValidationError) -> TokenError {
    match err {
        ValidationError::AlgorithmMismatch { expected, actual } => TokenError::Algorithm { expected, actual },
        ValidationError::InvalidSignatureLen { .. }
        | ValidationError::MalformedSignature(_)
        | ValidationError::InvalidSignature => TokenError::Signature,
        ValidationError::MalformedClaims(_) => TokenError::Malformed("claims do not match the admission schema"),
        ValidationError::NoClaim(_) => TokenError::Malformed("a required claim is missing"),
        ValidationError::Expired | ValidationError::NotMature => TokenError::Malformed("invalid time claims"),
        _ => TokenError::Malformed("token does not validate"),
    }
}

/// Reads the token from an `Authorization: Bearer <token>` header value.
pub fn bearer_token(header_value: &[u8]) -> Result<&str, TokenError> {
    if header_value.len() > MAX_TOKEN_LEN + 7 {
        return Err(TokenError::Malformed("authorization header is too long"));
    }
    let value =
        std::str::from_utf8(header_value).map_err(|_| TokenError::Malformed("authorization header is not UTF-8"))?;
    // HTTP stacks trim trailing whitespace, so "Bearer " arrives as "Bearer": a scheme without a token.
    if value.trim().eq_ignore_ascii_case("bearer") {
        return Err(TokenError::Missing);
    }
    let (scheme, token) = value.split_once(' ').ok_or(TokenError::Malformed("expected 'Bearer <token>'"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(TokenError::Malformed("expected 'Bearer <token>'"));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(TokenError::Missing);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn fan(s: &str) -> FanId {
        s.parse().unwrap()
    }

    fn event(id: i64) -> EventId {
        EventId::new(id).unwrap()
    }

    const T0: i64 = 1_700_000_000;

    fn ed_pair() -> (TokenIssuer, TokenVerifier) {
        let key = SigningKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&[7; 32]));
        let verifier = TokenVerifier::new(key.verifying_key());
        (TokenIssuer::new(key), verifier)
    }

    fn hs_pair() -> (TokenIssuer, TokenVerifier) {
        let key = SigningKey::Hs256(vec![9; 32]);
        let verifier = TokenVerifier::new(key.verifying_key());
        (TokenIssuer::new(key), verifier)
    }

    #[test]
    fn round_trip_both_algorithms() {
        for (issuer, verifier) in [ed_pair(), hs_pair()] {
            let issued = issuer.issue(&fan("f1"), event(3), at(T0));
            let verified = verifier.verify_for(&issued.token, event(3), Some(&fan("f1")), at(T0 + 60)).unwrap();
            assert_eq!(verified.claims, issued.claims);
            assert_eq!(verified.expires_at, at(T0 + 900));
            assert_eq!(verified.issued_at, at(T0));
        }
    }

    #[test]
    fn expiry_honours_leeway() {
        let (issuer, verifier) = ed_pair();
        let token = issuer.issue(&fan("f1"), event(3), at(T0)).token;
        assert!(verifier.verify(&token, at(T0 + 900 + 5)).is_ok());
        assert!(matches!(verifier.verify(&token, at(T0 + 900 + 6)), Err(TokenError::Expired { .. })));
        assert!(matches!(verifier.verify(&token, at(T0 + 930)), Err(TokenError::Expired { .. })));
    }

    #[test]
    fn other_algorithm_is_rejected() {
        let (ed_issuer, ed_verifier) = ed_pair();
        let (hs_issuer, hs_verifier) = hs_pair();
        let hs_token = hs_issuer.issue(&fan("f1"), event(3), at(T0)).token;
        let ed_token = ed_issuer.issue(&fan("f1"), event(3), at(T0)).token;
        assert_eq!(ed_verifier.verify(&hs_token, at(T0)).unwrap_err().code(), ErrorCode::AdmissionTokenAlgorithm);
        assert_eq!(hs_verifier.verify(&ed_token, at(T0)).unwrap_err().code(), ErrorCode::AdmissionTokenAlgorithm);
    }

    #[test]
    fn alg_none_is_rejected() {
        let (issuer, verifier) = ed_pair();
        let token = issuer.issue(&fan("f1"), event(3), at(T0)).token;
        let claims = token.split('.').nth(1).unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let forged = format!("{header}.{claims}.");
        let err = verifier.verify(&forged, at(T0)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::AdmissionTokenAlgorithm, "{err}");
    }

    #[test]
    fn tampered_claims_fail_signature() {
        let (issuer, verifier) = ed_pair();
        let token = issuer.issue(&fan("f1"), event(3), at(T0)).token;
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        parts[1] = URL_SAFE_NO_PAD.encode(claims.replace("\"f1\"", "\"f2\""));
        let err = verifier.verify(&parts.join("."), at(T0)).unwrap_err();
        assert_eq!(err, TokenError::Signature);
    }

    #[test]
    fn wrong_key_fails_signature() {
        let (issuer, _) = ed_pair();
        let other = TokenVerifier::new(SigningKey::generate(TokenAlgorithm::Ed25519).verifying_key());
        let token = issuer.issue(&fan("f1"), event(3), at(T0)).token;
        assert_eq!(other.verify(&token, at(T0)).unwrap_err(), TokenError::Signature);
    }

    #[test]
    fn wrong_event_and_fan_are_rejected() {
        let (issuer, verifier) = ed_pair();
        let token = issuer.issue(&fan("f1"), event(3), at(T0)).token;
        let err = verifier.verify_for(&token, event(4), Some(&fan("f1")), at(T0)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::AdmissionTokenWrongEvent);
        let err = verifier.verify_for(&token, event(3), Some(&fan("f2")), at(T0)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::AdmissionTokenWrongFan);
    }

    #[test]
    fn garbage_is_malformed_never_a_panic() {
        let (_, verifier) = ed_pair();
        let inputs = ["x", "a.b.c", "...", "eyJ.eyJ.", "\u{0}\u{1}", "a.b.c.d.e", &"A".repeat(3000)];
        for input in inputs {
            let err = verifier.verify(input, at(T0)).unwrap_err();
            assert_eq!(err.code(), ErrorCode::AdmissionTokenMalformed, "input {input:?}");
        }
        assert_eq!(verifier.verify("", at(T0)).unwrap_err(), TokenError::Missing);
    }

    #[test]
    fn token_without_exp_is_malformed() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let verifier = TokenVerifier::new(VerifyingKey::Ed25519(key.verifying_key()));
        let mut claims = Claims::new(AdmissionClaims { fan: fan("f1"), event: event(3), nonce: "n".into() });
        claims.issued_at = Some(at(T0));
        let token = Ed25519.token(&Header::empty(), &claims, &key).unwrap();
        assert_eq!(verifier.verify(&token, at(T0)).unwrap_err(), TokenError::Malformed("no exp claim"));
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer_token(b"Bearer abc").unwrap(), "abc");
        assert_eq!(bearer_token(b"bearer abc").unwrap(), "abc");
        assert!(bearer_token(b"Basic abc").is_err());
        assert_eq!(bearer_token(b"Bearer").unwrap_err(), TokenError::Missing);
        assert_eq!(bearer_token(b"Bearer  ").unwrap_err(), TokenError::Missing);
        assert!(bearer_token(&[0xff, 0xfe]).is_err());
        assert!(bearer_token(&vec![b'a'; 10_000]).is_err());
    }

    #[test]
    fn keys_parse_and_reject_bad_lengths() {
        let key = SigningKey::generate(TokenAlgorithm::Ed25519);
        let again = SigningKey::from_base64(TokenAlgorithm::Ed25519, &key.to_base64()).unwrap();
        assert_eq!(again.to_base64(), key.to_base64());
        assert!(SigningKey::from_base64(TokenAlgorithm::Ed25519, "AAAA").is_err());
        assert!(SigningKey::from_base64(TokenAlgorithm::Hs256, "c2hvcnQ=").is_err());
        assert!(format!("{key:?}").contains("redacted"));
        let public = key.verifying_key().public_base64().unwrap();
        assert!(VerifyingKey::from_base64(TokenAlgorithm::Ed25519, &public).is_ok());
    }
}
