//! The seat-change pipeline on the real Kafka broker: holds and expiries reach the bitmap, and
//! versions keep replayed or reordered changes from flipping a bit backwards.

use std::time::Duration;

use onsale_origin::pipeline::{ChangeCause, SeatChangeMessage};
use onsale_origin::store::SeatStateChange;
use onsale_shared::api::HoldResponse;
use onsale_shared::{EventId, SeatIndex};

use crate::common::{TestApp, TestOptions, eventually, random_suffix};

fn seat(i: u32) -> SeatIndex {
    SeatIndex::new(i).unwrap()
}

/// Reads the seat topic from the start in a new consumer group until `found` matches.
async fn find_message(app: &TestApp, event: EventId, found: impl Fn(&SeatChangeMessage) -> bool) -> SeatChangeMessage {
    let config = &app.args.kafka;
    let mut consumer =
        app.log.subscribe(&format!("reader-{}", random_suffix()), &config.seat_topic).await.expect("subscribe");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let message = tokio::time::timeout_at(deadline, consumer.next())
            .await
            .expect("timed out reading the seat topic")
            .expect("seat topic message");
        let change: SeatChangeMessage = serde_json::from_slice(&message.payload).expect("seat change JSON");
        assert_eq!(message.key, event.to_string().into_bytes(), "messages are keyed by event");
        if change.event_id == event && found(&change) {
            return change;
        }
    }
}

#[tokio::test]
async fn expired_hold_is_published_and_bit_flips_back() {
    let app = TestApp::start_with(TestOptions { hold_ttl: "2s".into(), ..TestOptions::default() }).await;
    let event = app.create_event(40).await;
    app.state.store.activate_event(event).await.unwrap();
    app.start_notification_worker();
    app.start_expiry_worker();

    let fan = app.fan().await;
    let response = app.hold(&fan, &app.token(&fan.fan_id, event), event, &[5, 6]).await;
    assert_eq!(response.status(), 201);
    let hold: HoldResponse = response.json().await.unwrap();

    eventually(Duration::from_secs(10), "held seats on the bitmap", || async {
        let bitmap = app.bitmap(event).await;
        (bitmap.is_unavailable(seat(5)) && bitmap.is_unavailable(seat(6))).then_some(())
    })
    .await;
    eventually(Duration::from_secs(10), "expired seats free on the bitmap", || async {
        let bitmap = app.bitmap(event).await;
        (!bitmap.is_unavailable(seat(5)) && !bitmap.is_unavailable(seat(6)) && bitmap.count_unavailable() == 0)
            .then_some(())
    })
    .await;

    let expiry = find_message(&app, event, |m| m.cause == ChangeCause::Expiry).await;
    let seats: Vec<u32> = expiry.changes.iter().map(|c| c.seat.get()).collect();
    assert_eq!(seats, vec![5, 6]);
    assert!(expiry.changes.iter().all(|c| !c.unavailable));
    let late_ms = expiry.at_ms - hold.expires_at.timestamp_millis();
    assert!((0..2000).contains(&late_ms), "expiry published {late_ms} ms after the hold expired");
}

#[tokio::test]
async fn old_changes_never_flip_a_bit_back() {
    let app = TestApp::start().await;
    let event = app.create_event(16).await;
    let store = &app.state.store;
    let change = |s: u32, version: u32, unavailable: bool| SeatStateChange { seat: seat(s), version, unavailable };

    assert_eq!(store.apply_changes(event, &[change(3, 2, false), change(4, 1, true)]).await.unwrap(), 2);
    // Version 1 of seat 3 arrives after version 2: skipped. A replay of seat 4's change: skipped.
    assert_eq!(store.apply_changes(event, &[change(3, 1, true), change(4, 1, true)]).await.unwrap(), 0);
    let bitmap = app.bitmap(event).await;
    assert!(!bitmap.is_unavailable(seat(3)));
    assert!(bitmap.is_unavailable(seat(4)));
    assert_eq!(store.apply_changes(event, &[change(4, 2, false)]).await.unwrap(), 1);
    // Read Redis itself: the HTTP route may serve its 200 ms process cache.
    let raw = store.bitmap(event).await.unwrap().unwrap_or_default();
    assert_eq!(onsale_shared::SeatBitmap::from_bytes(16, &raw).unwrap().count_unavailable(), 0);
}

#[tokio::test]
async fn replaying_the_topic_keeps_the_bitmap() {
    let app = TestApp::start().await;
    let event = app.create_event(60).await;
    app.start_notification_worker();

    // Hold, release and hold again, so the topic has changes that a replay would apply backwards.
    let fan = app.fan().await;
    let token = app.token(&fan.fan_id, event);
    let first: HoldResponse = app.hold(&fan, &token, event, &[1, 2]).await.json().await.unwrap();
    let release = app
        .http
        .delete(app.url(&format!("/events/{event}/holds/{}", first.hold_id)))
        .header("x-onsale-fan", &fan.session)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(release.status(), 204);
    assert_eq!(app.hold(&fan, &token, event, &[2, 3]).await.status(), 201);

    let expected = |bitmap: &onsale_shared::SeatBitmap| {
        !bitmap.is_unavailable(seat(1)) && bitmap.is_unavailable(seat(2)) && bitmap.is_unavailable(seat(3))
    };
    eventually(Duration::from_secs(10), "bitmap after hold, release, hold", || async {
        expected(&app.bitmap(event).await).then_some(())
    })
    .await;

    // A second worker in a new group reads the whole topic again from offset 0.
    let mut replay_config = app.args.kafka.clone();
    replay_config.group_prefix = format!("replay-{}", random_suffix());
    let replay = onsale_origin::workers::notification::NotificationWorker::new(
        app.state.store.clone(),
        app.state.catalog.clone(),
    );
    let shutdown = app.shutdown.child_token();
    let replay_shutdown = shutdown.clone();
    let replay_log = app.log.clone();
    tokio::spawn(async move { replay.run(replay_log, &replay_config, replay_shutdown).await });
    tokio::time::sleep(Duration::from_secs(3)).await;
    shutdown.cancel();
    assert!(expected(&app.bitmap(event).await), "a replay flipped a bit backwards");
}

#[tokio::test]
async fn undelivered_change_is_healed_by_a_rebuild() {
    // A broker address that refuses connections: every change fails after the message timeout.
    let app = TestApp::start_with(TestOptions { kafka_brokers: "127.0.0.1:1".into(), ..TestOptions::default() }).await;
    let event = app.create_event(20).await;
    let worker = app.start_notification_worker();
    let fan = app.fan().await;
    assert_eq!(app.hold(&fan, &app.token(&fan.fan_id, event), event, &[7]).await.status(), 201);

    // The publisher flags the event when delivery fails, and the repair loop rebuilds it.
    eventually(Duration::from_secs(15), "bitmap rebuilt without Kafka", || async {
        app.bitmap(event).await.is_unavailable(seat(7)).then_some(())
    })
    .await;
    assert_eq!(worker.rebuild(event).await.unwrap(), 0, "the rebuild left nothing to change");
}

#[tokio::test]
async fn full_producer_queue_never_fails_a_hold() {
    // No broker and room for one buffered message: every later change finds the queue full.
    let app = TestApp::start_with(TestOptions {
        kafka_brokers: "127.0.0.1:1".into(),
        kafka_queue_max_messages: 1,
        ..TestOptions::default()
    })
    .await;
    let event = app.create_event(100).await;
    let worker = app.start_notification_worker();
    for i in 0..20u32 {
        let fan = app.fan().await;
        let response = app.hold(&fan, &app.token(&fan.fan_id, event), event, &[i * 2, i * 2 + 1]).await;
        assert_eq!(response.status(), 201, "hold {i}");
    }
    let failed = app.state.publisher.counters().failed.load(std::sync::atomic::Ordering::Relaxed);
    assert!(failed >= 19, "only {failed} changes were refused by the full queue");
    eventually(Duration::from_secs(10), "bitmap rebuilt with all 40 held seats", || async {
        let raw = app.state.store.bitmap(event).await.unwrap().unwrap_or_default();
        let bitmap = onsale_shared::SeatBitmap::from_bytes(100, &raw).unwrap();
        (bitmap.count_unavailable() == 40).then_some(())
    })
    .await;
    assert_eq!(worker.rebuild(event).await.unwrap(), 0);
}
