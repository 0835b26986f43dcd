//! Kafka stopped mid-sale: holds and orders go on, and once the broker is back the bitmap equals
//! the hold store and every ticket is delivered. The test runs a broker of its own, so stopping
//! it disturbs no other test.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use clap::Parser;
use onsale_origin::config::TicketConfig;
use onsale_origin::payment::TEST_CARD_OK;
use onsale_shared::api::{HoldResponse, OrderView};
use onsale_shared::{EventId, SeatBitmap, SeatIndex};

use crate::common::{TestApp, TestOptions, eventually, random_suffix};

fn services_script() -> PathBuf {
    std::env::var_os("ONSALE_TEST_SERVICES_SCRIPT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/services.sh"))
}

/// A tansu broker on its own port, state directory and storage database.
struct PrivateBroker {
    port: u16,
    dir: tempfile::TempDir,
    database: String,
}

impl PrivateBroker {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let broker = Self { port, dir: tempfile::tempdir().unwrap(), database: format!("tansu_t_{}", random_suffix()) };
        broker.run("kafka-start");
        broker
    }

    fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn run(&self, action: &str) {
        let status = Command::new("bash")
            .arg(services_script())
            .arg(action)
            .env("ONSALE_KAFKA_PORT", self.port.to_string())
            .env("ONSALE_SERVICES_DIR", self.dir.path())
            .env("ONSALE_TANSU_DATABASE", &self.database)
            .status()
            .expect("run scripts/services.sh");
        assert!(status.success(), "scripts/services.sh {action} failed");
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.run("kafka-stop");
        crate::common::drop_database(self.database.clone());
    }
}

#[derive(Parser)]
struct TicketArgs {
    #[command(flatten)]
    tickets: TicketConfig,
}

/// Seats whose key exists in the hold store: the truth the bitmap must show.
async fn truth(app: &TestApp, event: EventId, seats: u32) -> SeatBitmap {
    let keys = app.redis.keys(event);
    let mut conn = app.redis.connection();
    let mut cmd = redis::cmd("MGET");
    for seat in 0..seats {
        cmd.arg(keys.seat(SeatIndex::new(seat).unwrap()));
    }
    let values: Vec<Option<String>> = cmd.query_async(&mut conn).await.unwrap();
    let mut bitmap = SeatBitmap::all_free(seats);
    for (seat, value) in values.iter().enumerate() {
        bitmap.set_unavailable(SeatIndex::new(seat as u32).unwrap(), value.is_some());
    }
    bitmap
}

async fn bitmap_from_redis(app: &TestApp, event: EventId, seats: u32) -> SeatBitmap {
    let raw = app.state.store.bitmap(event).await.unwrap().unwrap_or_default();
    SeatBitmap::from_bytes(seats, &raw).unwrap()
}

async fn buy(app: &TestApp, event: EventId, seats: &[u32]) -> OrderView {
    let fan = app.fan().await;
    let token = app.token(&fan.fan_id, event);
    let response = app.hold(&fan, &token, event, seats).await;
    assert_eq!(response.status(), 201, "hold {seats:?}");
    let hold: HoldResponse = response.json().await.unwrap();
    let response = app
        .http
        .post(app.url(&format!("/events/{event}/holds/{}/confirm", hold.hold_id)))
        .header("x-onsale-fan", &fan.session)
        .bearer_auth(&token)
        .json(&serde_json::json!({ "email": "fan@example.com", "card_number": TEST_CARD_OK }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "confirm {seats:?}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn kafka_outage_loses_nothing() {
    let broker = PrivateBroker::start();
    let app = TestApp::start_with(TestOptions { kafka_brokers: broker.brokers(), ..TestOptions::default() }).await;
    let seats = 200;
    let event = app.create_event(seats).await;
    app.state.store.activate_event(event).await.unwrap();
    app.start_notification_worker();

    let mail_dir = tempfile::tempdir().unwrap();
    let tickets =
        TicketArgs::try_parse_from(["tickets", "--mail-dir", mail_dir.path().to_str().unwrap()]).unwrap().tickets;
    let (log, kafka, db, shutdown) =
        (app.log.clone(), app.args.kafka.clone(), app.state.db.clone(), app.shutdown.clone());
    tokio::spawn(async move { onsale_origin::workers::ticket::run(log, &kafka, &tickets, db, shutdown).await });

    buy(&app, event, &[0, 1]).await;
    eventually(Duration::from_secs(30), "the first tickets before the outage", || async {
        (std::fs::read_dir(mail_dir.path()).unwrap().filter(is_eml).count() == 2).then_some(())
    })
    .await;

    broker.run("kafka-stop");
    // With the broker gone: holds and sales go on.
    for i in 0..20u32 {
        let fan = app.fan().await;
        let response = app.hold(&fan, &app.token(&fan.fan_id, event), event, &[10 + i * 3, 11 + i * 3]).await;
        assert_eq!(response.status(), 201, "hold {i} during the outage");
    }
    for i in 0..5u32 {
        buy(&app, event, &[100 + i * 2, 101 + i * 2]).await;
    }
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox").fetch_one(&app.pool).await.unwrap();
    assert_eq!(pending, 10, "ticket messages wait in the outbox while Kafka is down");

    broker.run("kafka-start");
    let expected = truth(&app, event, seats).await;
    assert_eq!(expected.count_unavailable(), 2 + 40 + 10);
    eventually(Duration::from_secs(60), "the bitmap to equal the hold store", || async {
        (bitmap_from_redis(&app, event, seats).await == expected).then_some(())
    })
    .await;
    eventually(Duration::from_secs(60), "every ticket emailed", || async {
        let emailed: i64 = sqlx::query_scalar("SELECT count(*) FROM tickets WHERE emailed_at IS NOT NULL")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        (emailed == 12).then_some(())
    })
    .await;
    let files = std::fs::read_dir(mail_dir.path()).unwrap().filter(is_eml).count();
    assert_eq!(files, 12, "one email per ticket");
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox").fetch_one(&app.pool).await.unwrap();
    assert_eq!(pending, 0);
}

fn is_eml(entry: &std::io::Result<std::fs::DirEntry>) -> bool {
    entry.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|ext| ext == "eml"))
}
