//! Seat holds on the real Redis Cluster, over HTTP.

use std::time::Duration;

use futures::future::join_all;
use onsale_shared::api::HoldResponse;
use onsale_shared::{EventId, SeatIndex};

use crate::common::{TestApp, error_code};

/// Reads the raw value of a seat key.
async fn seat_value(app: &TestApp, event: EventId, seat: u32) -> Option<String> {
    let mut conn = app.redis.connection();
    redis::cmd("GET")
        .arg(app.redis.keys(event).seat(SeatIndex::new(seat).unwrap()))
        .query_async(&mut conn)
        .await
        .expect("GET seat")
}

#[tokio::test]
async fn hold_then_release_frees_seats() {
    let app = TestApp::start().await;
    let event = app.create_event(100).await;
    let fan = app.fan().await;
    let token = app.token(&fan.fan_id, event);

    let response = app.hold(&fan, &token, event, &[1, 2, 3]).await;
    assert_eq!(response.status(), 201);
    let hold: HoldResponse = response.json().await.unwrap();
    assert_eq!(hold.seats.len(), 3);
    // Categories repeat every three seats: 7500 + 10000 + 5000.
    assert_eq!(hold.total_cents, 22_500);
    assert!(hold.expires_at > chrono::Utc::now() + chrono::Duration::seconds(590));
    assert_eq!(seat_value(&app, event, 2).await, Some(format!("h:{}", hold.hold_id)));

    let release = app
        .http
        .delete(app.url(&format!("/events/{event}/holds/{}", hold.hold_id)))
        .header("x-onsale-fan", &fan.session)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(release.status(), 204);
    assert_eq!(seat_value(&app, event, 2).await, None);

    // The release freed the admission's nonce: the same token holds again.
    let again = app.hold(&fan, &token, event, &[2]).await;
    assert_eq!(again.status(), 201);
}

#[tokio::test]
async fn hold_is_all_or_nothing() {
    let app = TestApp::start().await;
    let event = app.create_event(50).await;
    let first = app.fan().await;
    let second = app.fan().await;

    let taken = app.hold(&first, &app.token(&first.fan_id, event), event, &[10]).await;
    assert_eq!(taken.status(), 201);

    let response = app.hold(&second, &app.token(&second.fan_id, event), event, &[8, 9, 10, 11]).await;
    assert_eq!(response.status(), 409);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "seat_unavailable");
    assert_eq!(body["error"]["details"]["seats"], serde_json::json!([10]));
    for seat in [8, 9, 11] {
        assert_eq!(seat_value(&app, event, seat).await, None, "seat {seat} must stay free");
    }
}

#[tokio::test]
async fn racing_fans_never_both_hold() {
    let app = TestApp::start().await;
    let rounds = 1000u32;
    let event = app.create_event(rounds * 6).await;
    let alice = app.fan().await;
    let bob = app.fan().await;

    let mut alice_wins = 0;
    for round in 0..rounds {
        let base = round * 6;
        let alice_seats = [base, base + 1, base + 2, base + 3];
        let bob_seats = [base + 2, base + 3, base + 4, base + 5];
        let alice_token = app.token(&alice.fan_id, event);
        let bob_token = app.token(&bob.fan_id, event);
        // Alternate who is sent first, so each fan wins some rounds.
        let (a, b) = if round % 2 == 0 {
            tokio::join!(
                app.hold(&alice, &alice_token, event, &alice_seats),
                app.hold(&bob, &bob_token, event, &bob_seats)
            )
        } else {
            let (b, a) = tokio::join!(
                app.hold(&bob, &bob_token, event, &bob_seats),
                app.hold(&alice, &alice_token, event, &alice_seats)
            );
            (a, b)
        };
        let (a_status, b_status) = (a.status().as_u16(), b.status().as_u16());
        assert!(
            (a_status, b_status) == (201, 409) || (a_status, b_status) == (409, 201),
            "round {round}: statuses {a_status} and {b_status}"
        );
        let (winner, winner_seats, loser_seats, winner_response) = if a_status == 201 {
            alice_wins += 1;
            ("alice", alice_seats, bob_seats, a)
        } else {
            ("bob", bob_seats, alice_seats, b)
        };
        let hold: HoldResponse = winner_response.json().await.unwrap();
        let held = format!("h:{}", hold.hold_id);
        for seat in winner_seats {
            assert_eq!(
                seat_value(&app, event, seat).await.as_deref(),
                Some(held.as_str()),
                "round {round}: {winner} seat {seat}"
            );
        }
        for seat in loser_seats.iter().filter(|s| !winner_seats.contains(s)) {
            assert_eq!(seat_value(&app, event, *seat).await, None, "round {round}: loser's seat {seat} is held");
        }
    }
    // Both fans must win sometimes, or the race was not a race.
    assert!(alice_wins > 0 && alice_wins < rounds, "alice won {alice_wins} of {rounds}");
}

#[tokio::test]
async fn one_nonce_backs_one_hold_under_concurrency() {
    let app = TestApp::start().await;
    let event = app.create_event(200).await;
    let fan = app.fan().await;
    let token = app.token(&fan.fan_id, event);

    let seats: Vec<[u32; 1]> = (0..50u32).map(|i| [i * 2]).collect();
    let responses = join_all(seats.iter().map(|seat| app.hold(&fan, &token, event, seat))).await;
    let mut created = 0;
    let mut used = 0;
    for response in responses {
        match response.status().as_u16() {
            201 => created += 1,
            403 => {
                assert_eq!(error_code(response).await, "admission_token_used");
                used += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(used, 49);
}

#[tokio::test]
async fn hold_survives_script_flush() {
    let app = TestApp::start().await;
    let event = app.create_event(20).await;
    let fan = app.fan().await;
    let first = app.hold(&fan, &app.token(&fan.fan_id, event), event, &[1]).await;
    assert_eq!(first.status(), 201);

    // SCRIPT FLUSH goes to every primary; the next call meets NOSCRIPT and loads the script again.
    let mut conn = app.redis.connection();
    redis::cmd("SCRIPT").arg("FLUSH").query_async::<()>(&mut conn).await.expect("SCRIPT FLUSH");

    let other = app.fan().await;
    let second = app.hold(&other, &app.token(&other.fan_id, event), event, &[2]).await;
    assert_eq!(second.status(), 201);
}

#[tokio::test]
async fn invalid_hold_requests_name_the_problem() {
    let app = TestApp::start().await;
    let event = app.create_event(30).await;
    let fan = app.fan().await;
    let token = app.token(&fan.fan_id, event);

    let cases: [(&[u32], u16, &str); 4] = [
        (&[], 400, "invalid_request"),
        (&[1, 2, 3, 4, 5, 6, 7, 8, 9], 400, "too_many_seats"),
        (&[1, 1], 400, "invalid_seat"),
        (&[30], 400, "invalid_seat"),
    ];
    for (seats, status, code) in cases {
        let response = app.hold(&fan, &token, event, seats).await;
        assert_eq!(response.status(), status, "seats {seats:?}");
        assert_eq!(error_code(response).await, code, "seats {seats:?}");
    }

    let url = app.url(&format!("/events/{event}/holds"));
    let not_json = app
        .http
        .post(&url)
        .header("x-onsale-fan", &fan.session)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    assert_eq!(error_code(not_json).await, "invalid_request");

    let negative = app
        .http
        .post(&url)
        .header("x-onsale-fan", &fan.session)
        .bearer_auth(&token)
        .json(&serde_json::json!({ "seats": [-1] }))
        .send()
        .await
        .unwrap();
    assert_eq!(negative.status(), 400);

    let huge = app
        .http
        .post(&url)
        .header("x-onsale-fan", &fan.session)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(format!("{{\"seats\":[{}1]}}", "1,".repeat(20_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    assert_eq!(error_code(huge).await, "payload_too_large");

    let bad_event = app
        .http
        .post(app.url("/events/abc/holds"))
        .header("x-onsale-fan", &fan.session)
        .bearer_auth(&token)
        .json(&serde_json::json!({ "seats": [1] }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_event.status(), 400);
    let body: serde_json::Value = bad_event.json().await.unwrap();
    assert_eq!(body["error"]["details"]["field"], "event_id");
    assert_eq!(body["error"]["details"]["value"], "abc");

    // Nothing was held by any of these.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let valid = app.hold(&fan, &token, event, &[1]).await;
    assert_eq!(valid.status(), 201);
}
