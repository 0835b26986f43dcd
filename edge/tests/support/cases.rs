//! The shared (token, time) table of `edge/tests/gate_cases.json`: minting its tokens and
//! checking each case with the origin's verifier and with the edge gate.
//!
//! Included by `tests/gate_cases.rs` (fixed instant and key) and `examples/gate_cases.rs` (the
//! current instant and the key of a running origin, for the Lambda@Edge and Worker runners).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use onsale_edge::{Decision, Gate, GateConfig};
use onsale_shared::token::{
    AdmissionClaims, DEFAULT_LEEWAY, SigningKey, TokenAlgorithm, TokenError, TokenIssuer, TokenVerifier, bearer_token,
};
use onsale_shared::{EventId, FanId};
use serde::{Deserialize, Serialize};

/// The table as committed.
pub const SPEC_JSON: &str = include_str!("../gate_cases.json");

#[derive(Debug, Deserialize)]
pub struct Spec {
    pub cases: Vec<CaseSpec>,
}

#[derive(Debug, Deserialize)]
pub struct CaseSpec {
    pub name: String,
    pub header: HeaderSpec,
    pub expect: String,
    #[serde(default = "default_true")]
    pub real_clock: bool,
}

fn default_true() -> bool {
    true
}

/// How a case's `Authorization` header is made.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HeaderSpec {
    None,
    Token {
        #[serde(default = "default_scheme")]
        scheme: String,
        #[serde(default)]
        signer: Signer,
        #[serde(default)]
        event: EventChoice,
        /// Seconds from the minting instant to the token's `iat`.
        #[serde(default = "default_issued_at")]
        issued_at: i64,
        /// Flip a character of the claims after signing.
        #[serde(default)]
        tamper: bool,
    },
    Text {
        value: String,
    },
    Repeat {
        prefix: String,
        fill: String,
        /// Length of the whole header value, in bytes.
        bytes: usize,
    },
    Bytes {
        prefix: String,
        hex: String,
    },
}

fn default_scheme() -> String {
    "Bearer".to_owned()
}

fn default_issued_at() -> i64 {
    -60
}

#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Signer {
    /// The deployment's Ed25519 key.
    #[default]
    Issuer,
    /// Another Ed25519 key.
    OtherKey,
    /// HS256 with a random secret.
    Hs256,
    /// The issuer's claims under `{"alg":"none"}` and no signature.
    AlgNone,
}

#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EventChoice {
    /// The event in the request path.
    #[default]
    Route,
    /// Another event.
    Other,
}

/// The minted table: concrete header bytes and instants, as the JavaScript runners read it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Minted {
    pub event: i64,
    pub fan: String,
    pub token_algorithm: String,
    pub public_key: String,
    pub leeway_seconds: u32,
    pub minted_at_ms: i64,
    pub cases: Vec<MintedCase>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MintedCase {
    pub name: String,
    /// The header value's bytes in standard base64, or `null` for no header.
    pub authorization_base64: Option<String>,
    /// The instant to check the case at, in milliseconds since the Unix epoch.
    pub now_ms: i64,
    /// Whether a runner on the real clock can check this case shortly after minting.
    pub real_clock: bool,
    /// `pass`, or the stable error code.
    pub expect: String,
}

impl MintedCase {
    pub fn header_bytes(&self) -> Option<Vec<u8>> {
        self.authorization_base64.as_ref().map(|encoded| STANDARD.decode(encoded).expect("minted header is base64"))
    }
}

/// Mints every case of the committed table at `now`, for `event` and `fan`, with `key`.
pub fn mint(key: &SigningKey, event: EventId, fan: &FanId, now: DateTime<Utc>) -> Minted {
    // JWT times are whole seconds, so a case on the leeway edge is exact only at a whole second.
    let now = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
    let spec: Spec = serde_json::from_str(SPEC_JSON).expect("gate_cases.json is valid");
    let cases = spec
        .cases
        .iter()
        .map(|case| MintedCase {
            name: case.name.clone(),
            authorization_base64: header_for(&case.header, key, event, fan, now).map(|bytes| STANDARD.encode(bytes)),
            now_ms: now.timestamp_millis(),
            real_clock: case.real_clock,
            expect: case.expect.clone(),
        })
        .collect();
    Minted {
        event: event.get(),
        fan: fan.to_string(),
        token_algorithm: TokenAlgorithm::Ed25519.to_string(),
        public_key: key.verifying_key().public_base64().expect("an Ed25519 key has a public key"),
        leeway_seconds: DEFAULT_LEEWAY.num_seconds() as u32,
        minted_at_ms: now.timestamp_millis(),
        cases,
    }
}

fn header_for(spec: &HeaderSpec, key: &SigningKey, event: EventId, fan: &FanId, now: DateTime<Utc>) -> Option<Vec<u8>> {
    match spec {
        HeaderSpec::None => None,
        HeaderSpec::Text { value } => Some(value.as_bytes().to_vec()),
        HeaderSpec::Repeat { prefix, fill, bytes } => {
            let mut value = prefix.clone();
            while value.len() < *bytes {
                value.push_str(fill);
            }
            value.truncate(*bytes);
            Some(value.into_bytes())
        }
        HeaderSpec::Bytes { prefix, hex } => {
            let mut value = prefix.as_bytes().to_vec();
            value.extend(decode_hex(hex));
            Some(value)
        }
        HeaderSpec::Token { scheme, signer, event: choice, issued_at, tamper } => {
            let token_event = match choice {
                EventChoice::Route => event,
                EventChoice::Other => EventId::new(event.get() + 1).expect("event ids are positive"),
            };
            let at = now + chrono::Duration::seconds(*issued_at);
            let mut token = sign(key, *signer, token_event, fan, at);
            if *tamper {
                token = tamper_claims(&token);
            }
            Some(format!("{scheme} {token}").into_bytes())
        }
    }
}

fn sign(key: &SigningKey, signer: Signer, event: EventId, fan: &FanId, at: DateTime<Utc>) -> String {
    let claims = AdmissionClaims { fan: fan.clone(), event, nonce: onsale_shared::token::random_nonce() };
    match signer {
        Signer::Issuer => TokenIssuer::new(key.clone()).issue_claims(claims, at).token,
        Signer::OtherKey => {
            TokenIssuer::new(SigningKey::generate(TokenAlgorithm::Ed25519)).issue_claims(claims, at).token
        }
        Signer::Hs256 => TokenIssuer::new(SigningKey::generate(TokenAlgorithm::Hs256)).issue_claims(claims, at).token,
        Signer::AlgNone => {
            let valid = TokenIssuer::new(key.clone()).issue_claims(claims, at).token;
            let payload = valid.split('.').nth(1).expect("a JWT has a payload");
            let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
            format!("{header}.{payload}.")
        }
    }
}

/// Changes the fan in the claims, keeping the original signature.
fn tamper_claims(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let claims =
        String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).expect("claims are base64")).expect("claims are UTF-8");
    let mut claims: serde_json::Value = serde_json::from_str(&claims).expect("claims are JSON");
    claims["sub"] = serde_json::Value::String("someone-else".to_owned());
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{}.{claims}.{}", parts[0], parts[2])
}

fn decode_hex(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex in gate_cases.json")).collect()
}

/// Returns the verdict of the origin's checks (`Admitted` in `origin/src/http/extract.rs`, without the
/// fan session): the header bytes through `bearer_token`, then `verify_for` with the path's event.
pub fn origin_verdict(verifier: &TokenVerifier, header: Option<&[u8]>, event: EventId, now: DateTime<Utc>) -> String {
    let result = header
        .ok_or(TokenError::Missing)
        .and_then(|bytes| bearer_token(bytes))
        .and_then(|token| verifier.verify_for(token, event, None, now));
    match result {
        Ok(_) => "pass".to_owned(),
        Err(err) => err.code().as_str().to_owned(),
    }
}

/// Returns the verdict of the edge gate, given the header as workerd reads it: decoded as UTF-8, with
/// U+FFFD in place of each invalid sequence.
pub fn edge_verdict(gate: &Gate, header: Option<&[u8]>, event: EventId, now_ms: i64) -> String {
    let decoded = header.map(String::from_utf8_lossy);
    let path = format!("/api/v1/events/{event}/holds");
    match gate.decide("POST", &path, decoded.as_deref(), now_ms as f64) {
        Decision::Forward(_) => "pass".to_owned(),
        Decision::Reject(rejection) => rejection.code().as_str().to_owned(),
    }
}

/// One row of a verdict table.
#[derive(Debug, Serialize)]
pub struct Row {
    pub name: String,
    pub expect: String,
    pub origin: String,
    pub edge: String,
}

impl Row {
    pub fn agrees(&self) -> bool {
        self.origin == self.expect && self.edge == self.expect
    }
}

/// Runs every minted case through the origin's verifier and the edge gate, both with the minted
/// public key only.
pub fn check(minted: &Minted) -> Vec<Row> {
    let config = GateConfig {
        token_algorithm: minted.token_algorithm.clone(),
        token_public_key: minted.public_key.clone(),
        token_leeway_seconds: Some(minted.leeway_seconds),
    };
    let verifier = config.verifier().expect("minted configuration is valid");
    let gate = Gate::new(&config);
    let event = EventId::new(minted.event).expect("minted event id is valid");
    minted
        .cases
        .iter()
        .map(|case| {
            let header = case.header_bytes();
            let now = DateTime::from_timestamp_millis(case.now_ms).expect("minted instant is valid");
            Row {
                name: case.name.clone(),
                expect: case.expect.clone(),
                origin: origin_verdict(&verifier, header.as_deref(), event, now),
                edge: edge_verdict(&gate, header.as_deref(), event, case.now_ms),
            }
        })
        .collect()
}

/// Renders the table as text, one case a line.
pub fn render(rows: &[Row]) -> String {
    let mut out = format!("{:<40} {:<30} {:<30} {:<30}\n", "case", "expected", "origin verifier", "edge gate");
    for row in rows {
        let mark = if row.agrees() { "" } else { "  <- differs" };
        out.push_str(&format!("{:<40} {:<30} {:<30} {:<30}{mark}\n", row.name, row.expect, row.origin, row.edge));
    }
    out
}
