//! The waiting room: joins, the admitter's rate and lease, status, the WebSocket, the prequeue.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::join_all;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use onsale_origin::store::RedisStore;
use onsale_origin::waiting_room::admitter::{Admitter, AdmitterConfig};
use onsale_shared::api::{QueueState, QueueStatus};
use onsale_shared::{EventId, FanId};

use crate::common::{ADMIN_TOKEN, TestApp, TestOptions, error_code, eventually};

async fn join(app: &TestApp, session: &str, event: EventId) -> reqwest::Response {
    app.http
        .post(app.url(&format!("/events/{event}/queue")))
        .header("x-onsale-fan", session)
        .send()
        .await
        .expect("POST queue")
}

async fn status(app: &TestApp, session: &str, event: EventId) -> QueueStatus {
    let response = app
        .http
        .get(app.url(&format!("/events/{event}/queue")))
        .header("x-onsale-fan", session)
        .send()
        .await
        .expect("GET queue");
    assert_eq!(response.status(), 200);
    response.json().await.expect("status body")
}

/// Puts `count` fans in the queue directly, one pipeline per thousand, for rate tests.
async fn fill_queue(store: &RedisStore, event: EventId, count: usize) -> Vec<FanId> {
    let keys = store.keys(event);
    let fans: Vec<FanId> = (0..count).map(|i| format!("load-{i}").parse().unwrap()).collect();
    let mut conn = store.connection();
    for (chunk_index, chunk) in fans.chunks(1000).enumerate() {
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(keys.queue_shard().queue());
        for (i, fan) in chunk.iter().enumerate() {
            cmd.arg((chunk_index * 1000 + i) as i64).arg(fan.as_str());
        }
        cmd.query_async::<()>(&mut conn).await.expect("ZADD");
    }
    fans
}

async fn admin(app: &TestApp, event: EventId, body: serde_json::Value) -> reqwest::Response {
    app.http
        .post(app.url(&format!("/admin/events/{event}/queue")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .expect("POST admin queue")
}

#[tokio::test]
async fn concurrent_joins_keep_one_place() {
    let app = TestApp::start().await;
    let event = app.create_event(10).await;
    let others = app.fan().await;
    assert_eq!(join(&app, &others.session, event).await.status(), 200);
    let fan = app.fan().await;

    let responses = join_all((0..5).map(|_| join(&app, &fan.session, event))).await;
    let mut positions = HashSet::new();
    for response in responses {
        assert_eq!(response.status(), 200);
        match response.json::<QueueStatus>().await.unwrap() {
            QueueStatus::Queued { position, ahead, .. } => {
                assert_eq!(ahead, position - 1);
                positions.insert(position);
            }
            other => panic!("expected queued, got {other:?}"),
        }
    }
    assert_eq!(positions, HashSet::from([2]));

    let mut conn = app.redis.connection();
    let entries: u64 =
        redis::cmd("ZCARD").arg(app.redis.keys(event).queue_shard().queue()).query_async(&mut conn).await.unwrap();
    assert_eq!(entries, 2);
    let meta = app.state.store.queue_meta(event, QueueState::Open).await.unwrap();
    assert_eq!(meta.joined, 2);
}

#[tokio::test]
async fn admitter_holds_its_rate() {
    let rate = 2000;
    let app = TestApp::start_with(TestOptions { admitter: true, admission_rate: rate, ..TestOptions::default() }).await;
    let event = app.create_event(10).await;
    app.state.store.activate_event(event).await.unwrap();
    fill_queue(&app.redis, event, 20_000).await;

    // Let the admitter take the lease and settle, then measure over 3 s.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let start_meta = app.state.store.queue_meta(event, QueueState::Open).await.unwrap();
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let end_meta = app.state.store.queue_meta(event, QueueState::Open).await.unwrap();
    let elapsed = started.elapsed().as_secs_f64();

    let admitted = (end_meta.admitted - start_meta.admitted) as f64;
    let measured = admitted / elapsed;
    let error = (measured - f64::from(rate)).abs() / f64::from(rate);
    assert!(
        error <= 0.05,
        "admitted {admitted} in {elapsed:.3} s = {measured:.0}/s, {:.1}% off {rate}/s",
        error * 100.0
    );
    assert_eq!(end_meta.waiting + end_meta.admitted, 20_000, "every fan is either waiting or admitted once");
}

#[tokio::test]
async fn two_admitters_never_pop_one_queue() {
    let rate = 1500;
    let app = TestApp::start().await;
    let event = app.create_event(10).await;
    app.state.store.activate_event(event).await.unwrap();
    let fans = fill_queue(&app.redis, event, 10_000).await;

    let shutdown = CancellationToken::new();
    let config = AdmitterConfig::new(rate, QueueState::Open);
    let first = Admitter::new(app.state.store.clone(), app.issuer.clone(), app.clock.clone(), config.clone());
    let second = Admitter::new(app.state.store.clone(), app.issuer.clone(), app.clock.clone(), config);
    let owners = [first.owner().to_owned(), second.owner().to_owned()];
    let admitters = [tokio::spawn(first.run(shutdown.clone())), tokio::spawn(second.run(shutdown.clone()))];

    // Sample the lease holder while both run: exactly one of the two holds it at any time.
    let started = Instant::now();
    let mut conn = app.redis.connection();
    let lease_key = app.redis.keys(event).queue_shard().lease();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start_meta = app.state.store.queue_meta(event, QueueState::Open).await.unwrap();
    let measure_start = Instant::now();
    while started.elapsed() < Duration::from_millis(3500) {
        let holder: Option<String> = redis::cmd("GET").arg(&lease_key).query_async(&mut conn).await.unwrap();
        assert!(holder.as_ref().is_some_and(|h| owners.contains(h)), "lease holder {holder:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let end_meta = app.state.store.queue_meta(event, QueueState::Open).await.unwrap();
    let measured = (end_meta.admitted - start_meta.admitted) as f64 / measure_start.elapsed().as_secs_f64();
    shutdown.cancel();
    // A tick that was under way at the cancel still admits, so wait for both loops to end
    // before counting tokens against the admitted counter.
    for admitter in admitters {
        admitter.await.unwrap();
    }

    // Both popping would double the rate.
    assert!((measured - f64::from(rate)).abs() / f64::from(rate) <= 0.05, "two admitters admitted {measured:.0}/s");

    // Each admitted fan has exactly one token and is gone from the queue.
    let keys = app.redis.keys(event);
    let mut with_token = 0u64;
    for chunk in fans.chunks(500) {
        let mut cmd = redis::cmd("MGET");
        for fan in chunk {
            cmd.arg(keys.queue_shard().admission(fan));
        }
        let tokens: Vec<Option<String>> = cmd.query_async(&mut conn).await.unwrap();
        with_token += tokens.iter().filter(|t| t.is_some()).count() as u64;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let final_meta = app.state.store.queue_meta(event, QueueState::Open).await.unwrap();
    assert_eq!(with_token, final_meta.admitted);
    assert_eq!(final_meta.waiting + final_meta.admitted, fans.len() as u64);
}

#[tokio::test]
async fn admitted_fan_fetches_token_again() {
    let app = TestApp::start_with(TestOptions { admitter: true, ..TestOptions::default() }).await;
    let event = app.create_event(10).await;
    let fan = app.fan().await;
    assert_eq!(join(&app, &fan.session, event).await.status(), 200);

    let token = eventually(Duration::from_secs(5), "admission", || async {
        match status(&app, &fan.session, event).await {
            QueueStatus::Admitted { token, .. } => Some(token),
            _ => None,
        }
    })
    .await;
    // A reconnecting fan gets the same token, from status and from a second join.
    match status(&app, &fan.session, event).await {
        QueueStatus::Admitted { token: again, .. } => assert_eq!(again, token),
        other => panic!("expected admitted, got {other:?}"),
    }
    match join(&app, &fan.session, event).await.json::<QueueStatus>().await.unwrap() {
        QueueStatus::Admitted { token: again, .. } => assert_eq!(again, token),
        other => panic!("expected admitted, got {other:?}"),
    }
    // And the token works.
    assert_eq!(app.hold(&fan, &token, event, &[1]).await.status(), 201);
}

#[tokio::test]
async fn websocket_pushes_position_then_token() {
    let app = TestApp::start_with(TestOptions {
        auto_open: false,
        admitter: true,
        admission_rate: 20,
        ..TestOptions::default()
    })
    .await;
    let event = app.create_event(10).await;
    assert_eq!(admin(&app, event, serde_json::json!({ "action": "open" })).await.status(), 200);
    let ahead = app.fan().await;
    let fan = app.fan().await;
    // Pause so both wait, then resume once the socket is connected.
    assert_eq!(admin(&app, event, serde_json::json!({ "action": "pause" })).await.status(), 200);
    assert_eq!(join(&app, &ahead.session, event).await.status(), 200);
    assert_eq!(join(&app, &fan.session, event).await.status(), 200);

    let url = format!("ws://{}/api/v1/events/{event}/queue/ws?session={}", app.address, fan.session);
    let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.expect("WebSocket connects");
    let first = next_status(&mut socket).await;
    assert!(matches!(first, QueueStatus::Queued { position: 2, paused: true, .. }), "{first:?}");

    assert_eq!(admin(&app, event, serde_json::json!({ "action": "resume" })).await.status(), 200);
    let mut seen = vec![first];
    let token = loop {
        let message =
            tokio::time::timeout(Duration::from_secs(10), next_status(&mut socket)).await.expect("next message");
        if let QueueStatus::Admitted { token, .. } = &message {
            break token.clone();
        }
        seen.push(message);
    };
    assert!(seen.iter().any(|s| matches!(s, QueueStatus::Queued { paused: false, .. })), "{seen:?}");
    assert_eq!(app.hold(&fan, &token, event, &[2]).await.status(), 201);
}

async fn next_status(
    socket: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> QueueStatus {
    loop {
        match socket.next().await.expect("socket open").expect("socket message") {
            Message::Text(text) => return serde_json::from_str(&text).expect("status JSON"),
            Message::Close(_) => panic!("socket closed before a status"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn prequeue_places_early_fans_ahead() {
    let app = TestApp::start_with(TestOptions { auto_open: false, ..TestOptions::default() }).await;
    let event = app.create_event(10).await;
    let mut early = Vec::new();
    for _ in 0..20 {
        let fan = app.fan().await;
        let response = join(&app, &fan.session, event).await;
        assert_eq!(response.json::<QueueStatus>().await.unwrap(), QueueStatus::Prequeue);
        early.push(fan);
    }
    let stranger = app.fan().await;
    assert_eq!(status(&app, &stranger.session, event).await, QueueStatus::NotOpen);

    assert_eq!(admin(&app, event, serde_json::json!({ "action": "open" })).await.status(), 200);
    let late = app.fan().await;
    let late_position = match join(&app, &late.session, event).await.json::<QueueStatus>().await.unwrap() {
        QueueStatus::Queued { position, .. } => position,
        other => panic!("expected queued, got {other:?}"),
    };
    assert_eq!(late_position, 21, "a fan who joins after the open waits behind the prequeue");

    let mut positions = Vec::new();
    for fan in &early {
        match status(&app, &fan.session, event).await {
            QueueStatus::Queued { position, .. } => positions.push(position),
            other => panic!("expected queued, got {other:?}"),
        }
    }
    let mut sorted = positions.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=20).collect::<Vec<u64>>());
    // The draw is random: the order of joining is not kept (1 in 20! to fail by chance).
    assert_ne!(positions, sorted);
}

#[tokio::test]
async fn closed_queue_says_sold_out() {
    let app = TestApp::start().await;
    let event = app.create_event(10).await;
    let waiting = app.fan().await;
    assert_eq!(join(&app, &waiting.session, event).await.status(), 200);
    let response = admin(&app, event, serde_json::json!({ "action": "close" })).await;
    assert_eq!(response.status(), 200);

    let fan = app.fan().await;
    let response = join(&app, &fan.session, event).await;
    assert_eq!(response.status(), 410);
    assert_eq!(error_code(response).await, "sold_out");
    assert_eq!(status(&app, &fan.session, event).await, QueueStatus::SoldOut);
}

#[tokio::test]
async fn operator_api_needs_the_admin_token() {
    let app = TestApp::start().await;
    let event = app.create_event(10).await;
    let response = app
        .http
        .post(app.url(&format!("/admin/events/{event}/queue")))
        .bearer_auth("wrong")
        .json(&serde_json::json!({ "action": "pause" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(error_code(response).await, "admin_unauthorized");

    let response = admin(&app, event, serde_json::json!({ "action": "set_rate", "rate_per_second": 0 })).await;
    assert_eq!(response.status(), 400);
    let response = admin(&app, event, serde_json::json!({ "action": "set_rate", "rate_per_second": 250 })).await;
    assert_eq!(response.status(), 200);
    let stats: serde_json::Value = response.json().await.unwrap();
    assert_eq!(stats["rate_per_second"], 250);
}

#[tokio::test]
async fn queue_figures_count_waiting_fans() {
    let app = TestApp::start().await;
    let event = app.create_event(10).await;
    assert_eq!(admin(&app, event, serde_json::json!({ "action": "open", "rate_per_second": 1 })).await.status(), 200);
    for _ in 0..3 {
        let fan = app.fan().await;
        assert_eq!(join(&app, &fan.session, event).await.status(), 200);
    }
    let figures =
        |token: &'static str| app.http.get(app.url(&format!("/admin/events/{event}/queue"))).bearer_auth(token).send();

    let response = figures("wrong").await.unwrap();
    assert_eq!(response.status(), 401);
    let response = figures(ADMIN_TOKEN).await.unwrap();
    assert_eq!(response.status(), 200);
    let figures: serde_json::Value = response.json().await.unwrap();
    assert_eq!(figures["queue_state"], "open");
    assert_eq!(figures["rate_per_second"], 1);
    assert_eq!(figures["admitted"].as_u64().unwrap() + figures["waiting"].as_u64().unwrap(), 3, "{figures}");
    assert_eq!(figures["seats_sold"], 0);
    assert!(figures.get("sold_not_marked").is_none(), "the oversell checks stay in /stats: {figures}");
}
