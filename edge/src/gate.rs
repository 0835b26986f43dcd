//! The gate decision: forward a request to the origin, or reject it at the edge.
//!
//! A seat route passes only with an `Authorization: Bearer <token>` header whose token verifies
//! with the configured public key, has not expired beyond the leeway and names the event of the
//! path. The checks run in the origin's order and through the same functions
//! ([`bearer_token`], [`TokenVerifier::verify_for`]), so a rejected request gets the status, code,
//! message and details that the origin's `Admitted` extractor would send. The one check the edge
//! leaves out is the fan session: its HMAC secret stays at the origin. So a token that belongs to
//! another fan passes the edge and is rejected by the origin with `admission_token_wrong_fan`,
//! and a request without a session that fails here gets a token code where the origin would have
//! returned `fan_session_missing` first.
//!
//! The header is checked for size before any parsing: a value longer than
//! [`MAX_AUTHORIZATION_LEN`] bytes is rejected as `admission_token_malformed`, as at the origin.
//! Hosts hand the gate the header as a string. workerd decodes the header bytes as UTF-8 and puts
//! U+FFFD in place of each invalid sequence, so a value with U+FFFD is rejected as not UTF-8,
//! which is the origin's response to those bytes; every other value goes through `bearer_token` as
//! its UTF-8 bytes, which are the bytes the origin sees. A host that reads one character per byte
//! differs in one case: a valid token followed by the byte 0xA0 reads as a trailing no-break
//! space, which `bearer_token` trims, so it passes the edge while the origin rejects the raw byte
//! as not UTF-8.

use chrono::{DateTime, Utc};
use onsale_shared::token::{MAX_TOKEN_LEN, TokenError, TokenVerifier, VerifiedAdmission, bearer_token};
use onsale_shared::{ErrorBody, ErrorCode, EventId};

use crate::config::{ConfigError, GateConfig};
use crate::route::{RouteClass, classify, percent_decode};

/// Longest `Authorization` value accepted, in bytes: `Bearer `, then a token of at most
/// [`MAX_TOKEN_LEN`] bytes. The origin applies the same limit in [`bearer_token`].
pub const MAX_AUTHORIZATION_LEN: usize = MAX_TOKEN_LEN + "Bearer ".len();

/// The edge's decision on one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Forward the request to the origin, through the edge cache when its class is cached.
    Forward(RouteClass),
    /// Respond at the edge with this error, so the origin never receives the request.
    Reject(Rejection),
}

/// An error response sent by the edge: the origin's JSON body for the same failure.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    body: ErrorBody,
}

impl Rejection {
    fn token(err: &TokenError) -> Self {
        let body = ErrorBody::new(err.code()).details(serde_json::json!({ "reason": err.to_string() }));
        Self { body }
    }

    /// 400 `invalid_request` for a path value, worded like the origin's `ApiError::invalid`.
    fn invalid(field: &str, value: &str, reason: impl std::fmt::Display) -> Self {
        let value: String = value.chars().take(80).collect();
        let body = ErrorBody::with_message(ErrorCode::InvalidRequest, format!("Invalid {field}: {reason}"))
            .details(serde_json::json!({ "field": field, "value": value }));
        Self { body }
    }

    /// 500 `internal_error`: the edge cannot check tokens (bad configuration or clock), so it
    /// lets no seat request through. The cause is logged by the host, never sent.
    fn internal() -> Self {
        Self { body: ErrorBody::new(ErrorCode::InternalError) }
    }

    pub fn code(&self) -> ErrorCode {
        self.body.error.code
    }

    /// Returns the HTTP status of the code.
    pub fn status(&self) -> u16 {
        self.code().http_status()
    }

    pub fn body(&self) -> &ErrorBody {
        &self.body
    }

    /// Returns the response body as JSON: `{"error":{"code","message","details"}}`.
    pub fn body_json(&self) -> String {
        // An ErrorBody is strings and a JSON value, which always serialize; the fallback keeps
        // the code even so.
        serde_json::to_string(&self.body)
            .unwrap_or_else(|_| format!(r#"{{"error":{{"code":"{}","message":""}}}}"#, self.code()))
    }
}

/// The headers every edge rejection carries, as (name, value) pairs. `no-store` as at the origin,
/// so no cache keeps an error.
pub const REJECTION_HEADERS: [(&str, &str); 2] = [("content-type", "application/json"), ("cache-control", "no-store")];

/// Converts the host's clock reading (JavaScript's `Date.now()`, milliseconds since the Unix epoch)
/// to an instant. Returns `None` for a reading that is not a finite time in chrono's range.
pub fn clock_from_millis(millis: f64) -> Option<DateTime<Utc>> {
    if !millis.is_finite() || millis.abs() > i64::MAX as f64 {
        return None;
    }
    DateTime::from_timestamp_millis(millis as i64)
}

/// The gate of one deployment: a token verifier built from the configuration, or the reason none
/// could be built. Without a verifier every seat request is rejected with 500.
#[derive(Debug, Clone)]
pub struct Gate {
    verifier: Result<TokenVerifier, ConfigError>,
}

impl Gate {
    pub fn new(config: &GateConfig) -> Self {
        Self { verifier: config.verifier() }
    }

    pub fn from_verifier(verifier: TokenVerifier) -> Self {
        Self { verifier: Ok(verifier) }
    }

    /// Builds a gate that rejects every seat request, for a host whose configuration could not be
    /// read.
    pub fn misconfigured(error: ConfigError) -> Self {
        Self { verifier: Err(error) }
    }

    /// Returns why the gate cannot check tokens, if it cannot. Hosts log it.
    pub fn config_error(&self) -> Option<&ConfigError> {
        self.verifier.as_ref().err()
    }

    /// Decides a request from its method, its path (without the query), its `Authorization`
    /// header as the host read it, and the host's clock in milliseconds since the Unix epoch.
    pub fn decide(&self, method: &str, path: &str, authorization: Option<&str>, now_millis: f64) -> Decision {
        match classify(method, path) {
            RouteClass::Seat { event } => match self.check_admission(&event, authorization, now_millis) {
                Ok(_) => Decision::Forward(RouteClass::Seat { event }),
                Err(rejection) => Decision::Reject(rejection),
            },
            other => Decision::Forward(other),
        }
    }

    /// Checks a seat request for the event whose raw path segment is `event_segment`.
    pub fn check_admission(
        &self,
        event_segment: &str,
        authorization: Option<&str>,
        now_millis: f64,
    ) -> Result<VerifiedAdmission, Rejection> {
        // The origin's order: the path's event id, then (at the origin only) the fan session, then
        // the token.
        let event = parse_event(event_segment)?;
        let verifier = self.verifier.as_ref().map_err(|_| Rejection::internal())?;
        let now = clock_from_millis(now_millis).ok_or_else(Rejection::internal)?;

        let header = authorization.ok_or_else(|| Rejection::token(&TokenError::Missing))?;
        let header = check_header(header).map_err(|err| Rejection::token(&err))?;
        let token = bearer_token(header.as_bytes()).map_err(|err| Rejection::token(&err))?;
        verifier.verify_for(token, event, None, now).map_err(|err| Rejection::token(&err))
    }
}

/// Parses the event id segment as the origin's `EventPath` extractor does: percent-decoded, then
/// [`EventId::from_str`](std::str::FromStr).
fn parse_event(segment: &str) -> Result<EventId, Rejection> {
    let decoded = percent_decode(segment)
        .ok_or_else(|| Rejection::invalid("path", segment, "the path is not valid percent-encoded UTF-8"))?;
    decoded.parse::<EventId>().map_err(|err| Rejection::invalid("event_id", &decoded, err))
}

/// Checks the size and the characters of a header value before it is parsed.
fn check_header(value: &str) -> Result<&str, TokenError> {
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Err(TokenError::Malformed("authorization header is too long"));
    }
    if value.contains(char::REPLACEMENT_CHARACTER) {
        return Err(TokenError::Malformed("authorization header is not UTF-8"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use onsale_shared::FanId;
    use onsale_shared::token::{SigningKey, TokenIssuer};

    use super::*;

    const T0: i64 = 1_700_000_000;

    fn issuer() -> TokenIssuer {
        TokenIssuer::new(SigningKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&[7; 32])))
    }

    fn gate() -> Gate {
        Gate::from_verifier(TokenVerifier::new(issuer().verifying_key()))
    }

    fn token(event: i64, issued_at: i64) -> String {
        let fan: FanId = "f1".parse().unwrap();
        let issued_at = DateTime::from_timestamp(issued_at, 0).unwrap();
        issuer().issue(&fan, EventId::new(event).unwrap(), issued_at).token
    }

    fn millis(seconds: i64) -> f64 {
        (seconds * 1000) as f64
    }

    fn rejected_code(decision: Decision) -> ErrorCode {
        match decision {
            Decision::Reject(rejection) => rejection.code(),
            Decision::Forward(class) => panic!("expected a rejection, got Forward({class:?})"),
        }
    }

    #[test]
    fn valid_token_forwards() {
        let header = format!("Bearer {}", token(7, T0));
        let decision = gate().decide("POST", "/api/v1/events/7/holds", Some(&header), millis(T0 + 60));
        assert_eq!(decision, Decision::Forward(RouteClass::Seat { event: "7".into() }));
    }

    #[test]
    fn each_failure_has_the_origin_code() {
        let gate = gate();
        let path = "/api/v1/events/7/holds/h1/confirm";
        let now = millis(T0 + 60);
        let valid = token(7, T0);
        // Another character in the middle of the signature keeps the base64 valid.
        let mut tampered = valid.clone().into_bytes();
        let middle = tampered.len() - 20;
        tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        let cases: Vec<(Option<String>, ErrorCode)> = vec![
            (None, ErrorCode::AdmissionTokenMissing),
            (Some("Bearer".into()), ErrorCode::AdmissionTokenMissing),
            (Some(format!("Basic {valid}")), ErrorCode::AdmissionTokenMalformed),
            (Some("Bearer not-a-jwt".into()), ErrorCode::AdmissionTokenMalformed),
            (Some(format!("Bearer {}", token(8, T0))), ErrorCode::AdmissionTokenWrongEvent),
            (Some(format!("Bearer {}", token(7, T0 - 906))), ErrorCode::AdmissionTokenExpired),
            (Some(format!("Bearer {tampered}")), ErrorCode::AdmissionTokenSignature),
            (Some(format!("Bearer {}", "A".repeat(MAX_TOKEN_LEN + 1))), ErrorCode::AdmissionTokenMalformed),
        ];
        for (header, expected) in cases {
            let decision = gate.decide("POST", path, header.as_deref(), now);
            assert_eq!(rejected_code(decision), expected, "header {header:?}");
        }
    }

    #[test]
    fn alg_none_is_rejected() {
        let valid = token(7, T0);
        let claims = valid.split('.').nth(1).unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let forged = format!("Bearer {header}.{claims}.");
        let decision = gate().decide("POST", "/api/v1/events/7/holds", Some(&forged), millis(T0));
        assert_eq!(rejected_code(decision), ErrorCode::AdmissionTokenAlgorithm);
    }

    #[test]
    fn leeway_matches_the_origin() {
        let header = format!("Bearer {}", token(7, T0));
        let path = "/api/v1/events/7/holds";
        let expires = T0 + 900;
        assert!(matches!(gate().decide("POST", path, Some(&header), millis(expires + 5)), Decision::Forward(_)));
        let late = gate().decide("POST", path, Some(&header), millis(expires + 5) + 1.0);
        assert_eq!(rejected_code(late), ErrorCode::AdmissionTokenExpired);
    }

    #[test]
    fn oversized_and_non_utf8_headers_are_malformed() {
        let gate = gate();
        let path = "/api/v1/events/7/holds";
        let cases = [
            (format!("Bearer {}", "A".repeat(10 * 1024)), "too long"),
            (format!("Bearer {}", "€".repeat(MAX_AUTHORIZATION_LEN / 3 + 1)), "too long"),
            // Bytes C3 28 FF as workerd reads them: U+FFFD for each invalid sequence.
            ("Bearer \u{fffd}(\u{fffd}".to_owned(), "not UTF-8"),
            // The same bytes read one character per byte: valid UTF-8 once re-encoded, and not a JWT.
            ("Bearer \u{c3}(\u{ff}".to_owned(), "not a compact JWT"),
            ("Bearer €".to_owned(), "not a compact JWT"),
        ];
        for (header, reason) in cases {
            let Decision::Reject(rejection) = gate.decide("POST", path, Some(&header), millis(T0)) else {
                panic!("expected a rejection for {header:?}");
            };
            assert_eq!(rejection.code(), ErrorCode::AdmissionTokenMalformed, "{header:?}");
            let details = rejection.body().error.details["reason"].as_str().unwrap().to_owned();
            assert!(details.ends_with(reason), "{details}");
        }
    }

    #[test]
    fn unicode_whitespace_is_trimmed_as_at_the_origin() {
        // bearer_token trims Unicode whitespace around the token, at the origin and here.
        let header = format!("Bearer {}\u{a0}", token(7, T0));
        assert!(matches!(
            gate().decide("POST", "/api/v1/events/7/holds", Some(&header), millis(T0)),
            Decision::Forward(_)
        ));
    }

    #[test]
    fn bad_event_path_is_invalid_request() {
        let header = format!("Bearer {}", token(7, T0));
        for path in ["/api/v1/events/abc/holds", "/api/v1/events/0/holds", "/api/v1/events/%ff/holds"] {
            let decision = gate().decide("POST", path, Some(&header), millis(T0));
            let Decision::Reject(rejection) = decision else { panic!("expected a rejection for {path}") };
            assert_eq!(rejection.code(), ErrorCode::InvalidRequest, "{path}");
            assert_eq!(rejection.status(), 400);
        }
        let encoded = gate().decide("POST", "/api/v1/events/%37/holds", Some(&header), millis(T0));
        assert!(matches!(encoded, Decision::Forward(_)));
    }

    #[test]
    fn rejection_body_is_the_origin_shape() {
        let decision = gate().decide("POST", "/api/v1/events/7/holds", None, millis(T0));
        let Decision::Reject(rejection) = decision else { panic!("expected a rejection") };
        assert_eq!(rejection.status(), 403);
        let json: serde_json::Value = serde_json::from_str(&rejection.body_json()).unwrap();
        assert_eq!(json["error"]["code"], "admission_token_missing");
        assert_eq!(json["error"]["message"], ErrorCode::AdmissionTokenMissing.default_message());
        assert_eq!(json["error"]["details"]["reason"], "no admission token");
    }

    #[test]
    fn misconfigured_gate_lets_no_seat_request_through() {
        let gate = Gate::misconfigured(ConfigError("no key".into()));
        let header = format!("Bearer {}", token(7, T0));
        let decision = gate.decide("POST", "/api/v1/events/7/holds", Some(&header), millis(T0));
        assert_eq!(rejected_code(decision), ErrorCode::InternalError);
        let browse = gate.decide("GET", "/api/v1/events/7/seats", None, millis(T0));
        assert_eq!(browse, Decision::Forward(RouteClass::Browse));
    }

    #[test]
    fn bad_clock_lets_no_seat_request_through() {
        let header = format!("Bearer {}", token(7, T0));
        for reading in [f64::NAN, f64::INFINITY, -f64::INFINITY, 1e300] {
            let decision = gate().decide("POST", "/api/v1/events/7/holds", Some(&header), reading);
            assert_eq!(rejected_code(decision), ErrorCode::InternalError, "{reading}");
        }
        assert_eq!(clock_from_millis(1_700_000_000_123.0).unwrap().timestamp_millis(), 1_700_000_000_123);
    }

    #[test]
    fn hostile_input_never_panics() {
        // A fixed xorshift stream: the same inputs on every run.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let gate = gate();
        let alphabet: Vec<char> = "ABCabc0189-_.=/% \u{0}\u{7f}\u{80}\u{ff}\u{100}€😀Bearer".chars().collect();
        let paths = ["/api/v1/events/7/holds", "/api/v1/events/%/holds", "/api/v1/events/7", "/", ""];
        for round in 0..5_000 {
            let len = (next() % 700) as usize;
            let header: String = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
            let header = if round % 2 == 0 { format!("Bearer {header}") } else { header };
            let path = paths[round % paths.len()];
            let now = f64::from_bits(next());
            let _ = gate.decide("POST", path, Some(&header), now);
            let _ = gate.decide("POST", &header, None, millis(T0));
        }
    }
}
