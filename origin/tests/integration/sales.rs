//! Confirmations: payment, the order transaction, the UNIQUE guard, late payments, a database
//! outage.

use std::time::Duration;

use onsale_origin::payment::{TEST_CARD_DECLINED, TEST_CARD_OK};
use onsale_shared::api::{FanSession, HoldResponse, OrderView};
use onsale_shared::{EventId, SeatIndex};

use crate::common::{TestApp, TestOptions, error_code, eventually};

async fn confirm(
    app: &TestApp,
    fan: &FanSession,
    token: &str,
    event: EventId,
    hold: &HoldResponse,
    card: &str,
) -> reqwest::Response {
    app.http
        .post(app.url(&format!("/events/{event}/holds/{}/confirm", hold.hold_id)))
        .header("x-onsale-fan", &fan.session)
        .bearer_auth(token)
        .json(&serde_json::json!({ "email": "fan@example.com", "card_number": card }))
        .send()
        .await
        .expect("POST confirm")
}

async fn seat_value(app: &TestApp, event: EventId, seat: u32) -> Option<String> {
    let mut conn = app.redis.connection();
    redis::cmd("GET")
        .arg(app.redis.keys(event).seat(SeatIndex::new(seat).unwrap()))
        .query_async(&mut conn)
        .await
        .unwrap()
}

async fn count(app: &TestApp, sql: &'static str, event: EventId) -> i64 {
    sqlx::query_scalar(sql).bind(event.get()).fetch_one(&app.pool).await.unwrap()
}

async fn hold(app: &TestApp, fan: &FanSession, token: &str, event: EventId, seats: &[u32]) -> HoldResponse {
    let response = app.hold(fan, token, event, seats).await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

#[tokio::test]
async fn confirm_writes_order_and_spends_admission() {
    let app = TestApp::start().await;
    let event = app.create_event(30).await;
    let fan = app.fan().await;
    let token = app.token(&fan.fan_id, event);
    let held = hold(&app, &fan, &token, event, &[3, 4]).await;

    let response = confirm(&app, &fan, &token, event, &held, TEST_CARD_OK).await;
    assert_eq!(response.status(), 201);
    let order: OrderView = response.json().await.unwrap();
    assert_eq!(order.tickets.len(), 2);
    assert_eq!(order.total_cents, held.total_cents);
    assert_eq!(order.hold_id, held.hold_id);
    assert_eq!(seat_value(&app, event, 3).await, Some(format!("s:{}", order.order_id)));
    assert_eq!(count(&app, "SELECT count(*) FROM order_seats WHERE event_id = $1", event).await, 2);
    assert_eq!(count(&app, "SELECT count(*) FROM tickets WHERE event_id = $1", event).await, 2);

    // A retried confirmation returns the same order and charges nothing more.
    let retry = confirm(&app, &fan, &token, event, &held, TEST_CARD_OK).await;
    assert_eq!(retry.status(), 200);
    assert_eq!(retry.json::<OrderView>().await.unwrap().order_id, order.order_id);
    assert_eq!(count(&app, "SELECT count(*) FROM orders WHERE event_id = $1", event).await, 1);

    // The admission bought once; it cannot hold again.
    let again = app.hold(&fan, &token, event, &[10]).await;
    assert_eq!(again.status(), 403);
    assert_eq!(error_code(again).await, "admission_token_used");

    // The fan can read the order; another fan cannot.
    let own = app
        .http
        .get(app.url(&format!("/orders/{}", order.order_id)))
        .header("x-onsale-fan", &fan.session)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
    let stranger = app.fan().await;
    let other = app
        .http
        .get(app.url(&format!("/orders/{}", order.order_id)))
        .header("x-onsale-fan", &stranger.session)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    assert_eq!(error_code(other).await, "order_not_found");
}

#[tokio::test]
async fn declined_card_keeps_the_hold() {
    let app = TestApp::start().await;
    let event = app.create_event(10).await;
    let fan = app.fan().await;
    let token = app.token(&fan.fan_id, event);
    let held = hold(&app, &fan, &token, event, &[1]).await;

    let declined = confirm(&app, &fan, &token, event, &held, TEST_CARD_DECLINED).await;
    assert_eq!(declined.status(), 402);
    assert_eq!(error_code(declined).await, "payment_declined");
    assert_eq!(seat_value(&app, event, 1).await, Some(format!("h:{}", held.hold_id)));

    let paid = confirm(&app, &fan, &token, event, &held, "4242 4242 4242 4242").await;
    assert_eq!(paid.status(), 201);
}

#[tokio::test]
async fn checkout_input_is_checked() {
    let app = TestApp::start().await;
    let event = app.create_event(10).await;
    let fan = app.fan().await;
    let token = app.token(&fan.fan_id, event);
    let held = hold(&app, &fan, &token, event, &[1]).await;
    let url = app.url(&format!("/events/{event}/holds/{}/confirm", held.hold_id));
    for (email, card, field) in [("not-an-email", TEST_CARD_OK, "email"), ("fan@example.com", "1234", "card_number")] {
        let response = app
            .http
            .post(&url)
            .header("x-onsale-fan", &fan.session)
            .bearer_auth(&token)
            .json(&serde_json::json!({ "email": email, "card_number": card }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["details"]["field"], field);
    }

    let stranger = app.fan().await;
    let other_token = app.token(&stranger.fan_id, event);
    let response = confirm(&app, &stranger, &other_token, event, &held, TEST_CARD_OK).await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "hold_not_found");
}

#[tokio::test]
async fn second_sale_forced_past_redis_is_seat_sold() {
    let app = TestApp::start().await;
    let event = app.create_event(20).await;
    let first = app.fan().await;
    let first_token = app.token(&first.fan_id, event);
    let first_hold = hold(&app, &first, &first_token, event, &[5]).await;
    let order: OrderView =
        confirm(&app, &first, &first_token, event, &first_hold, TEST_CARD_OK).await.json().await.unwrap();

    // Redis loses the sale (as a failover could), so a second fan can hold the seat.
    let mut conn = app.redis.connection();
    redis::cmd("DEL")
        .arg(app.redis.keys(event).seat(SeatIndex::new(5).unwrap()))
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    let second = app.fan().await;
    let second_token = app.token(&second.fan_id, event);
    let second_hold = hold(&app, &second, &second_token, event, &[5, 6]).await;

    let response = confirm(&app, &second, &second_token, event, &second_hold, TEST_CARD_OK).await;
    assert_eq!(response.status(), 409);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "seat_sold");
    assert_eq!(body["error"]["details"]["seats"], serde_json::json!([5]));

    assert_eq!(count(&app, "SELECT count(*) FROM order_seats WHERE event_id = $1 AND seat_index = 5", event).await, 1);
    assert_eq!(count(&app, "SELECT count(*) FROM orders WHERE event_id = $1", event).await, 1);
    assert_eq!(count(&app, "SELECT count(*) FROM refunds WHERE event_id = $1", event).await, 1);
    // Redis shows the seat sold to the first order again, and the rest of the hold is released.
    assert_eq!(seat_value(&app, event, 5).await, Some(format!("s:{}", order.order_id)));
    assert_eq!(seat_value(&app, event, 6).await, None);
}

#[tokio::test]
async fn late_payment_takes_free_seats_again() {
    let app = TestApp::start_with(TestOptions { hold_ttl: "1s".into(), ..TestOptions::default() }).await;
    let event = app.create_event(10).await;
    let fan = app.fan().await;
    let token = app.token(&fan.fan_id, event);
    let held = hold(&app, &fan, &token, event, &[2]).await;
    eventually(Duration::from_secs(5), "the hold's key to expire", || async {
        seat_value(&app, event, 2).await.is_none().then_some(())
    })
    .await;

    let response = confirm(&app, &fan, &token, event, &held, TEST_CARD_OK).await;
    assert_eq!(response.status(), 201);
    let order: OrderView = response.json().await.unwrap();
    assert_eq!(seat_value(&app, event, 2).await, Some(format!("s:{}", order.order_id)));
}

#[tokio::test]
async fn late_payment_is_refunded_when_seat_went_elsewhere() {
    let app = TestApp::start_with(TestOptions { hold_ttl: "1s".into(), ..TestOptions::default() }).await;
    let event = app.create_event(10).await;
    let slow = app.fan().await;
    let slow_token = app.token(&slow.fan_id, event);
    let held = hold(&app, &slow, &slow_token, event, &[2, 3]).await;
    eventually(Duration::from_secs(5), "the hold's keys to expire", || async {
        seat_value(&app, event, 3).await.is_none().then_some(())
    })
    .await;
    let quick = app.fan().await;
    hold(&app, &quick, &app.token(&quick.fan_id, event), event, &[3]).await;

    let response = confirm(&app, &slow, &slow_token, event, &held, TEST_CARD_OK).await;
    assert_eq!(response.status(), 409);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "hold_expired");
    assert_eq!(body["error"]["details"]["seats"], serde_json::json!([3]));
    assert_eq!(count(&app, "SELECT count(*) FROM refunds WHERE event_id = $1", event).await, 1);
    assert_eq!(count(&app, "SELECT count(*) FROM orders WHERE event_id = $1", event).await, 0);
    // Seat 2 was not taken by anyone, and the failed claim left it alone.
    assert_eq!(seat_value(&app, event, 2).await, None);
}

#[tokio::test]
async fn database_outage_is_503_and_writes_nothing() {
    let app = TestApp::start_with(TestOptions {
        database_proxy: true,
        database_acquire_timeout: "1s".into(),
        ..TestOptions::default()
    })
    .await;
    let event = app.create_event(10).await;
    let fan = app.fan().await;
    let token = app.token(&fan.fan_id, event);
    let held = hold(&app, &fan, &token, event, &[4]).await;

    let proxy = app.database_proxy.as_ref().unwrap();
    proxy.cut();
    let response = confirm(&app, &fan, &token, event, &held, TEST_CARD_OK).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("retry-after").is_some(), "503 without Retry-After");
    assert_eq!(error_code(response).await, "service_unavailable");
    // The hold keeps its seats and its TTL; nothing was written.
    assert_eq!(seat_value(&app, event, 4).await, Some(format!("h:{}", held.hold_id)));
    assert_eq!(count(&app, "SELECT count(*) FROM orders WHERE event_id = $1", event).await, 0);

    proxy.restore();
    let response = eventually(Duration::from_secs(10), "confirmation after the database returns", || async {
        let response = confirm(&app, &fan, &token, event, &held, TEST_CARD_OK).await;
        (response.status() != 503).then_some(response)
    })
    .await;
    assert_eq!(response.status(), 201);
}
