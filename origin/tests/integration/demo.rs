//! `onsale demo` end to end: a small scripted onsale against the test platform, which must end
//! with no oversold seat and one email per sold seat.

use clap::Parser;

use onsale_origin::demo::DemoArgs;
use onsale_origin::plan::generate::Preset;
use onsale_origin::seed::{SeedOptions, seed};

use crate::common::{ADMIN_TOKEN, TestApp, TestOptions};

#[derive(Parser)]
struct DemoCommand {
    #[command(flatten)]
    demo: DemoArgs,
}

#[derive(Parser)]
struct TicketCommand {
    #[command(flatten)]
    tickets: onsale_origin::config::TicketConfig,
}

#[tokio::test]
async fn demo_sells_without_oversell() {
    let app = TestApp::start_with(TestOptions {
        auto_open: false,
        admitter: true,
        hold_ttl: "3s".into(),
        ..TestOptions::default()
    })
    .await;
    let options = SeedOptions {
        csv: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/eras_tour_2023_us.csv"),
        only_date: Some("2023-05-26".parse().unwrap()),
        only_venue: None,
        plan_preset: Preset::Small,
        tour_name: "The Eras Tour".to_owned(),
    };
    seed(&app.db, &options).await.expect("seed one tour date");
    app.start_notification_worker();
    app.start_expiry_worker();
    let mail_dir = tempfile::tempdir().unwrap();
    let tickets =
        TicketCommand::try_parse_from(["tickets", "--mail-dir", mail_dir.path().to_str().unwrap()]).unwrap().tickets;
    let (log, kafka, db, shutdown) =
        (app.log.clone(), app.args.kafka.clone(), app.state.db.clone(), app.shutdown.clone());
    tokio::spawn(async move { onsale_origin::workers::ticket::run(log, &kafka, &tickets, db, shutdown).await });

    let url = format!("http://{}", app.address);
    let demo = DemoCommand::try_parse_from([
        "demo",
        "--url",
        url.as_str(),
        "--admin-token",
        ADMIN_TOKEN,
        "--fans",
        "60",
        "--concurrency",
        "30",
        "--timeout",
        "60s",
        "--seed",
        "7",
    ])
    .unwrap()
    .demo;
    onsale_origin::demo::run(demo).await.expect("the demo ends with every check passed");

    let sold: i64 = sqlx::query_scalar("SELECT count(*) FROM order_seats").fetch_one(&app.pool).await.unwrap();
    assert!(sold > 0, "the demo sold nothing");
    let files = std::fs::read_dir(mail_dir.path()).unwrap().count() as i64;
    assert_eq!(files, sold, "one email per sold seat");
}
