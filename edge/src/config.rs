//! The gate's configuration: the token algorithm, the public key and the expiry leeway.
//!
//! The Worker reads them from `[vars]` in `wrangler.toml`, because a public key is not a secret.
//! The Lambda@Edge package has them built in as `config.json`, because Lambda@Edge functions have
//! no environment variables. Both hosts use the same field names, in upper case for the Worker.

use onsale_shared::token::{DEFAULT_LEEWAY, TokenAlgorithm, TokenVerifier, VerifyingKey};
use serde::{Deserialize, Serialize};

/// Largest leeway accepted, in seconds. The origin's default is 5; more than a few minutes would
/// keep expired admissions alive.
pub const MAX_LEEWAY_SECS: u32 = 300;

/// The gate's settings, in the form of `config.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateConfig {
    /// Signing algorithm of admission tokens; the edge accepts `ed25519` only.
    pub token_algorithm: String,
    /// The Ed25519 public key in base64: the `Public key for the edge gate` line of
    /// `onsale keygen`, or the public half of the origin's `ONSALE_TOKEN_SIGNING_KEY`.
    pub token_public_key: String,
    /// Clock skew tolerated on expiry, in seconds. It must equal the origin's `--token-leeway`,
    /// 5 seconds unless changed.
    #[serde(default)]
    pub token_leeway_seconds: Option<u32>,
}

/// A configuration the gate cannot run with. The message names what to fix and never contains
/// key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid edge gate configuration: {0}")]
pub struct ConfigError(pub String);

impl GateConfig {
    /// Reads the configuration from the Worker's variables `TOKEN_ALGORITHM`, `TOKEN_PUBLIC_KEY`
    /// and `TOKEN_LEEWAY_SECONDS` (optional), given by a lookup function.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let token_leeway_seconds = match lookup("TOKEN_LEEWAY_SECONDS").filter(|value| !value.trim().is_empty()) {
            Some(value) => Some(value.trim().parse::<u32>().map_err(|_| {
                ConfigError(format!("TOKEN_LEEWAY_SECONDS is {value:?}; expected a whole number of seconds"))
            })?),
            None => None,
        };
        Ok(Self {
            token_algorithm: lookup("TOKEN_ALGORITHM").unwrap_or_else(|| "ed25519".to_owned()),
            token_public_key: lookup("TOKEN_PUBLIC_KEY").unwrap_or_default(),
            token_leeway_seconds,
        })
    }

    /// Builds the verifier. Only Ed25519 is accepted: an HS256 deployment would have to give the
    /// edge its shared secret, and anyone with that secret can mint tokens.
    pub fn verifier(&self) -> Result<TokenVerifier, ConfigError> {
        let algorithm: TokenAlgorithm = self.token_algorithm.parse().map_err(|err| ConfigError(format!("{err}")))?;
        if algorithm != TokenAlgorithm::Ed25519 {
            return Err(ConfigError(format!(
                "token algorithm {algorithm} needs the shared secret at the edge; the edge verifies ed25519 tokens only"
            )));
        }
        if self.token_public_key.trim().is_empty() {
            return Err(ConfigError(
                "the token public key is empty; set it to the public key that `onsale keygen` prints".to_owned(),
            ));
        }
        let key = VerifyingKey::from_base64(algorithm, &self.token_public_key)
            .map_err(|err| ConfigError(format!("the token public key is not usable: {err}")))?;

        let leeway = match self.token_leeway_seconds {
            Some(seconds) if seconds > MAX_LEEWAY_SECS => {
                return Err(ConfigError(format!(
                    "token leeway of {seconds} s is above the maximum of {MAX_LEEWAY_SECS} s"
                )));
            }
            Some(seconds) => chrono::Duration::seconds(i64::from(seconds)),
            None => DEFAULT_LEEWAY,
        };
        Ok(TokenVerifier::new(key).with_leeway(leeway))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use onsale_shared::token::SigningKey;

    fn public_key() -> String {
        SigningKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&[7; 32])).verifying_key().public_base64().unwrap()
    }

    fn config(algorithm: &str, key: &str, leeway: Option<u32>) -> GateConfig {
        GateConfig { token_algorithm: algorithm.into(), token_public_key: key.into(), token_leeway_seconds: leeway }
    }

    #[test]
    fn ed25519_key_builds_a_verifier() {
        let verifier = config("ed25519", &public_key(), None).verifier().unwrap();
        assert_eq!(verifier.algorithm(), TokenAlgorithm::Ed25519);
        assert_eq!(verifier.leeway(), DEFAULT_LEEWAY);
        let verifier = config("EdDSA", &public_key(), Some(10)).verifier().unwrap();
        assert_eq!(verifier.leeway(), chrono::Duration::seconds(10));
    }

    #[test]
    fn hs256_is_rejected() {
        let err = config("hs256", &"A".repeat(44), None).verifier().unwrap_err();
        assert!(err.to_string().contains("ed25519 tokens only"), "{err}");
    }

    #[test]
    fn bad_keys_and_leeways_are_rejected() {
        assert!(config("ed25519", "", None).verifier().unwrap_err().to_string().contains("empty"));
        assert!(config("ed25519", "not base64!", None).verifier().is_err());
        assert!(config("ed25519", "AAAA", None).verifier().is_err());
        assert!(config("rsa", &public_key(), None).verifier().is_err());
        assert!(config("ed25519", &public_key(), Some(MAX_LEEWAY_SECS + 1)).verifier().is_err());
    }

    #[test]
    fn vars_are_read_with_defaults() {
        let key = public_key();
        let vars = |name: &str| match name {
            "TOKEN_PUBLIC_KEY" => Some(key.clone()),
            "TOKEN_LEEWAY_SECONDS" => Some(" 7 ".to_owned()),
            _ => None,
        };
        let config = GateConfig::from_vars(vars).unwrap();
        assert_eq!(config.token_algorithm, "ed25519");
        assert_eq!(config.token_leeway_seconds, Some(7));
        let bad = GateConfig::from_vars(|name| (name == "TOKEN_LEEWAY_SECONDS").then(|| "5s".to_owned()));
        assert!(bad.unwrap_err().to_string().contains("5s"));
    }
}
