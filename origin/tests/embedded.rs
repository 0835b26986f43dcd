//! `onsale up` on the embedded engines: no Redis, Kafka or PostgreSQL. A restart keeps events,
//! seats, orders and tickets, gives back the seats of unconfirmed holds, and keeps sold seats
//! sold.

use std::path::Path;
use std::time::Duration;

use onsale_origin::plan::generate::Preset;
use onsale_origin::seed::{SeedOptions, seed};
use onsale_shared::api::{EventList, FanSession, HoldResponse, OrderView, QueueStatus};
use onsale_shared::{EventId, SeatBitmap, SeatIndex};

mod up_support;
use up_support::{RunningUp, up_args};

/// A running `onsale up` on a data directory, with the API's base URL.
struct Running {
    base: String,
    up: RunningUp,
}

impl Running {
    async fn start(data_dir: &Path) -> Self {
        let data_dir = data_dir.to_str().unwrap();
        let args = up_args(&[
            "--data-dir",
            data_dir,
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "false",
            "--auto-open-queues",
            "--hold-ttl",
            "600s",
        ]);
        let up = RunningUp::start(args).await;
        Self { base: format!("{}/api/v1", up.origin), up }
    }

    async fn stop(self) {
        self.up.stop().await;
    }
}

async fn seed_one_date(data_dir: &Path) -> EventId {
    std::fs::create_dir_all(data_dir).unwrap();
    let args = up_args(&["--data-dir", data_dir.to_str().unwrap()]);
    let url = format!("sqlite://{}", data_dir.join("onsale.db").display());
    let mut config = args.serve.database;
    config.url = Some(onsale_origin::config::Secret::new(url));
    let db = onsale_origin::db::connect(&config).await.unwrap();
    onsale_origin::db::migrate(&db).await.unwrap();
    let options = SeedOptions {
        csv: Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/eras_tour_2023_us.csv"),
        only_date: Some("2023-05-26".parse().unwrap()),
        only_venue: None,
        plan_preset: Preset::Small,
        tour_name: "The Eras Tour".to_owned(),
    };
    let report = seed(&db, &options).await.unwrap();
    db.close().await;
    report.events_created[0].id
}

async fn admitted_token(http: &reqwest::Client, base: &str, fan: &FanSession, event: EventId) -> String {
    let url = format!("{base}/events/{event}/queue");
    let joined = http.post(&url).header("x-onsale-fan", &fan.session).send().await.unwrap();
    assert_eq!(joined.status(), 200);
    for _ in 0..200 {
        let status: QueueStatus =
            http.get(&url).header("x-onsale-fan", &fan.session).send().await.unwrap().json().await.unwrap();
        if let QueueStatus::Admitted { token, .. } = status {
            return token;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not admitted within 10 s");
}

async fn hold(
    http: &reqwest::Client,
    base: &str,
    fan: &FanSession,
    token: &str,
    event: EventId,
    seats: &[u32],
) -> reqwest::Response {
    http.post(format!("{base}/events/{event}/holds"))
        .header("x-onsale-fan", &fan.session)
        .bearer_auth(token)
        .json(&serde_json::json!({ "seats": seats }))
        .send()
        .await
        .unwrap()
}

async fn bitmap(http: &reqwest::Client, base: &str, event: EventId) -> SeatBitmap {
    let response = http.get(format!("{base}/events/{event}/availability")).send().await.unwrap();
    let seats: u32 = response.headers()["x-onsale-seat-count"].to_str().unwrap().parse().unwrap();
    SeatBitmap::from_bytes(seats, &response.bytes().await.unwrap()).unwrap()
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn emails(data_dir: &Path) -> usize {
    std::fs::read_dir(data_dir.join("mail"))
        .map(|entries| {
            entries.filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "eml"))).count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_orders_and_sold_seats() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let event = seed_one_date(&data_dir).await;
    let http = reqwest::Client::new();

    let running = Running::start(&data_dir).await;
    let base = running.base.clone();
    let buyer: FanSession = http.post(format!("{base}/fans")).send().await.unwrap().json().await.unwrap();
    let token = admitted_token(&http, &base, &buyer, event).await;
    let held: HoldResponse = hold(&http, &base, &buyer, &token, event, &[0, 1]).await.json().await.unwrap();
    let confirmed = http
        .post(format!("{base}/events/{event}/holds/{}/confirm", held.hold_id))
        .header("x-onsale-fan", &buyer.session)
        .bearer_auth(&token)
        .json(&serde_json::json!({ "email": "fan@example.com", "card_number": "4242424242424242" }))
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 201);
    let order: OrderView = confirmed.json().await.unwrap();

    let browser: FanSession = http.post(format!("{base}/fans")).send().await.unwrap().json().await.unwrap();
    let browser_token = admitted_token(&http, &base, &browser, event).await;
    assert_eq!(hold(&http, &base, &browser, &browser_token, event, &[5]).await.status(), 201);
    eventually("both tickets emailed", || async { emails(&data_dir) == 2 }).await;
    eventually("three seats unavailable on the map", || async {
        bitmap(&http, &base, event).await.count_unavailable() == 3
    })
    .await;
    running.stop().await;

    let running = Running::start(&data_dir).await;
    let base = running.base.clone();
    let events: EventList = http.get(format!("{base}/events")).send().await.unwrap().json().await.unwrap();
    assert_eq!(events.events.len(), 1, "the event is kept");

    // The order and its tickets are kept, and the fan's session still works.
    let again = http
        .get(format!("{base}/orders/{}", order.order_id))
        .header("x-onsale-fan", &buyer.session)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    let again: OrderView = again.json().await.unwrap();
    assert_eq!(again.tickets.len(), 2);
    assert!(again.tickets.iter().all(|ticket| ticket.secret.is_some() && ticket.emailed));

    // Sold seats stay sold; the unconfirmed hold's seat is free again.
    let map = bitmap(&http, &base, event).await;
    assert!(map.is_unavailable(SeatIndex::new(0).unwrap()));
    assert!(map.is_unavailable(SeatIndex::new(1).unwrap()));
    assert!(!map.is_unavailable(SeatIndex::new(5).unwrap()));
    let late: FanSession = http.post(format!("{base}/fans")).send().await.unwrap().json().await.unwrap();
    let late_token = admitted_token(&http, &base, &late, event).await;
    let response = hold(&http, &base, &late, &late_token, event, &[1]).await;
    assert_eq!(response.status(), 409, "a sold seat cannot be held after a restart");
    assert_eq!(hold(&http, &base, &late, &late_token, event, &[5]).await.status(), 201);
    assert_eq!(emails(&data_dir), 2, "no ticket is emailed twice after the restart");
    running.stop().await;
}
