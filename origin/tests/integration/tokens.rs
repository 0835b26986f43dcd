//! The admission-token extractor over HTTP: each way a token can be wrong has its own code.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use onsale_shared::token::{AdmissionClaims, SigningKey, TokenAlgorithm, TokenIssuer, random_nonce};
use onsale_shared::{EventId, SeatIndex};

use crate::common::{TestApp, TestOptions, error_code, token_key};

/// Sends a hold with the given Authorization header (or none).
async fn hold_with(app: &TestApp, session: &str, authorization: Option<String>, event: EventId) -> reqwest::Response {
    let mut request = app
        .http
        .post(app.url(&format!("/events/{event}/holds")))
        .header("x-onsale-fan", session)
        .json(&serde_json::json!({ "seats": [1] }));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.expect("POST holds")
}

#[tokio::test]
async fn each_bad_token_gets_its_own_code() {
    let app = TestApp::start().await;
    let event = app.create_event(10).await;
    let other_event = app.create_event(10).await;
    let fan = app.fan().await;
    let other_fan = app.fan().await;
    let now = app.clock.now();

    let valid = app.token(&fan.fan_id, event);
    let claims = valid.split('.').nth(1).unwrap().to_owned();
    let alg_none = format!("{}.{claims}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#));
    let other_algorithm = TokenIssuer::new(token_key(TokenAlgorithm::Hs256)).issue(&fan.fan_id, event, now).token;
    let wrong_key =
        TokenIssuer::new(SigningKey::generate(TokenAlgorithm::Ed25519)).issue(&fan.fan_id, event, now).token;
    let mut tampered_parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
    tampered_parts[2] = URL_SAFE_NO_PAD.encode([0u8; 64]);
    let bad_signature = tampered_parts.join(".");
    // Lifetime 900 s; issued 906 s ago it expired 6 s ago, past the 5 s leeway.
    let expired = app.issuer.issue(&fan.fan_id, event, now - Duration::seconds(906)).token;
    let long_expired = app.issuer.issue(&fan.fan_id, event, now - Duration::seconds(930)).token;
    let within_leeway = app.issuer.issue(&fan.fan_id, event, now - Duration::seconds(903)).token;
    let for_other_event = app.token(&fan.fan_id, other_event);
    let for_other_fan = app.token(&other_fan.fan_id, event);

    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("missing", None, "admission_token_missing"),
        ("empty bearer", Some("Bearer ".into()), "admission_token_missing"),
        ("garbage", Some("Bearer not-a-token".into()), "admission_token_malformed"),
        ("basic scheme", Some(format!("Basic {valid}")), "admission_token_malformed"),
        ("alg none", Some(format!("Bearer {alg_none}")), "admission_token_algorithm"),
        ("other algorithm", Some(format!("Bearer {other_algorithm}")), "admission_token_algorithm"),
        ("wrong key", Some(format!("Bearer {wrong_key}")), "admission_token_signature"),
        ("bad signature", Some(format!("Bearer {bad_signature}")), "admission_token_signature"),
        ("expired past leeway", Some(format!("Bearer {expired}")), "admission_token_expired"),
        ("30 s past expiry", Some(format!("Bearer {long_expired}")), "admission_token_expired"),
        ("other event", Some(format!("Bearer {for_other_event}")), "admission_token_wrong_event"),
        ("other fan", Some(format!("Bearer {for_other_fan}")), "admission_token_wrong_fan"),
        ("oversized", Some(format!("Bearer {}", "a".repeat(9000))), "admission_token_malformed"),
    ];
    for (case, header, code) in cases {
        let response = hold_with(&app, &fan.session, header, event).await;
        assert_eq!(response.status(), 403, "case {case}");
        assert_eq!(error_code(response).await, code, "case {case}");
    }

    // Expired 3 s ago is within the leeway and still admits.
    let response = hold_with(&app, &fan.session, Some(format!("Bearer {within_leeway}")), event).await;
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn fan_session_is_required_and_checked() {
    let app = TestApp::start().await;
    let event = app.create_event(10).await;
    let fan = app.fan().await;
    let token = app.token(&fan.fan_id, event);

    let missing = app
        .http
        .post(app.url(&format!("/events/{event}/holds")))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "seats": [1] }))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(error_code(missing).await, "fan_session_missing");

    let forged = format!("{}.AAAA", fan.fan_id);
    let response = hold_with(&app, &forged, Some(format!("Bearer {token}")), event).await;
    assert_eq!(response.status(), 401);
    assert_eq!(error_code(response).await, "fan_session_invalid");
}

#[tokio::test]
async fn hs256_deployment_accepts_its_own_tokens() {
    let app =
        TestApp::start_with(TestOptions { token_algorithm: TokenAlgorithm::Hs256, ..TestOptions::default() }).await;
    let event = app.create_event(10).await;
    let fan = app.fan().await;
    let token = app.token(&fan.fan_id, event);
    let response = app.hold(&fan, &token, event, &[3]).await;
    assert_eq!(response.status(), 201);

    let ed25519 = TokenIssuer::new(token_key(TokenAlgorithm::Ed25519)).issue(&fan.fan_id, event, app.clock.now()).token;
    let response = app.hold(&fan, &ed25519, event, &[4]).await;
    assert_eq!(error_code(response).await, "admission_token_algorithm");
}

#[tokio::test]
async fn token_for_unknown_event_is_not_found() {
    let app = TestApp::start().await;
    let fan = app.fan().await;
    let event = EventId::new(9_100_000_000_000_000_000).unwrap();
    let claims = AdmissionClaims { fan: fan.fan_id.clone(), event, nonce: random_nonce() };
    let token = app.issuer.issue_claims(claims, app.clock.now()).token;
    let response = app.hold(&fan, &token, event, &[SeatIndex::new(1).unwrap().get()]).await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "event_not_found");
}
