//! `onsale seed` on the 2023 US tour CSV under `data/`: every date once, idempotent, one plan
//! per venue. Needs PostgreSQL (see `plan_support`).

mod plan_support;

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};

use onsale_origin::plan::generate::Preset;
use onsale_origin::seed::{SeedOptions, read_tour_dates, seed};
use plan_support::{TestDb, tour_csv};

fn options(preset: Preset) -> SeedOptions {
    SeedOptions {
        csv: tour_csv(),
        only_date: None,
        only_venue: None,
        plan_preset: preset,
        tour_name: "The Eras Tour".to_owned(),
    }
}

/// Rows of the CSV, counted by a CSV reader independent of the seed code.
fn csv_rows() -> usize {
    csv::Reader::from_path(tour_csv()).unwrap().records().count()
}

#[test]
fn csv_has_every_date_once() {
    let dates = read_tour_dates(&tour_csv()).unwrap();
    assert_eq!(dates.len(), csv_rows());
    assert_eq!(dates.len(), 53, "the 2023 US leg");
    let days: Vec<NaiveDate> = dates.iter().map(|date| date.date).collect();
    assert!(days.windows(2).all(|pair| pair[0] < pair[1]), "dates are sorted and unique");
    let metlife = dates.iter().find(|date| date.venue == "MetLife Stadium").unwrap();
    assert_eq!(metlife.capacity, Some(72_545));
    assert!(dates.iter().any(|date| date.capacity.is_none()), "empty capacities read as None");
}

#[tokio::test]
async fn seed_loads_every_date_once() {
    let db = TestDb::create().await;
    let expected = csv_rows();

    let first = seed(&db.database, &options(Preset::Small)).await.unwrap();
    assert_eq!(first.dates_selected, expected);
    assert_eq!(first.events_created.len(), expected);
    assert_eq!(first.events_existing, 0);
    assert_eq!(first.venues_created, 20);
    assert_eq!(first.plans_created, 20, "one plan per venue");
    assert_eq!(db.count("SELECT count(*) FROM events").await, expected as i64);
    assert_eq!(db.count("SELECT count(*) FROM venues").await, 20);
    assert_eq!(db.count("SELECT count(DISTINCT plan_id) FROM events").await, 20);
    assert_eq!(
        db.count(
            "SELECT count(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM event_categories c WHERE c.event_id = e.id)"
        )
        .await,
        0,
        "every event has prices"
    );
    let categories = db.count("SELECT count(*) FROM event_categories").await;
    let seats = db.count("SELECT count(*) FROM seats").await;

    let second = seed(&db.database, &options(Preset::Small)).await.unwrap();
    assert!(second.events_created.is_empty());
    assert_eq!(second.events_existing, expected);
    assert_eq!((second.venues_created, second.plans_created), (0, 0));
    assert_eq!(db.count("SELECT count(*) FROM events").await, expected as i64);
    assert_eq!(db.count("SELECT count(*) FROM seating_plans").await, 20);
    assert_eq!(db.count("SELECT count(*) FROM event_categories").await, categories);
    assert_eq!(db.count("SELECT count(*) FROM seats").await, seats);
    db.drop().await;
}

/// Event name, city, local date and start, with its venue's name, region and country.
type EventRow = (String, String, NaiveDate, DateTime<Utc>, String, String, String);

#[tokio::test]
async fn seeded_events_start_at_seven_pm_local() {
    let db = TestDb::create().await;
    let mut subset = options(Preset::Small);
    subset.only_venue = Some("metlife stadium".to_owned());
    let report = seed(&db.database, &subset).await.unwrap();
    assert_eq!(report.events_created.len(), 3);

    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT e.name, e.city, e.local_date, e.starts_at, v.name, v.region, v.country
         FROM events e JOIN venues v ON v.id = e.venue_id ORDER BY e.starts_at",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let (name, city, local_date, starts_at, venue, region, country) = &rows[0];
    assert_eq!(name, "The Eras Tour | MetLife Stadium");
    assert_eq!(
        (city.as_str(), venue.as_str(), region.as_str(), country.as_str()),
        ("East Rutherford", "MetLife Stadium", "NJ", "US")
    );
    assert_eq!(local_date.to_string(), "2023-05-26");
    // 19:00 EDT (UTC-4).
    assert_eq!(starts_at.to_rfc3339(), "2023-05-26T23:00:00+00:00");

    let prices: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT ec.key, ec.price_cents, ec.currency FROM event_categories ec WHERE ec.event_id = $1 ORDER BY ec.price_cents",
    )
    .bind(report.events_created[0].id.get())
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(prices.first().map(|p| (p.0.as_str(), p.1)), Some(("Upper Bowl", 4_900)));
    assert_eq!(prices.last().map(|p| (p.0.as_str(), p.1)), Some(("Floor", 44_900)));
    assert!(prices.iter().all(|p| p.2 == "USD"));
    db.drop().await;
}

#[tokio::test]
async fn subset_then_all_shares_the_plan() {
    let db = TestDb::create().await;
    let mut one_day = options(Preset::Small);
    one_day.only_date = Some("2023-08-05".parse().unwrap());
    let first = seed(&db.database, &one_day).await.unwrap();
    assert_eq!(first.events_created.len(), 1);
    assert_eq!(first.events_created[0].venue, "SoFi Stadium");

    let all = seed(&db.database, &options(Preset::Small)).await.unwrap();
    assert_eq!(all.events_created.len(), csv_rows() - 1);
    assert_eq!(all.events_existing, 1);
    assert_eq!(all.plans_created, 19, "SoFi's plan is found again, not made twice");
    assert_eq!(db.count("SELECT count(*) FROM seating_plans").await, 20);
    assert_eq!(
        db.count("SELECT count(DISTINCT plan_id) FROM events WHERE city = 'Inglewood'").await,
        1,
        "all six SoFi dates on one plan"
    );
    db.drop().await;
}

#[tokio::test]
async fn filter_without_match_is_an_error() {
    let db = TestDb::create().await;
    let mut nothing = options(Preset::Small);
    nothing.only_venue = Some("Wembley Stadium".to_owned());
    let err = seed(&db.database, &nothing).await.unwrap_err();
    assert!(err.to_string().contains("no row"), "{err}");
    assert_eq!(db.count("SELECT count(*) FROM venues").await, 0);
    db.drop().await;
}

#[tokio::test]
async fn metlife_plan_matches_reported_capacity() {
    let db = TestDb::create().await;
    let mut metlife = options(Preset::Metlife);
    metlife.only_venue = Some("MetLife Stadium".to_owned());
    let report = seed(&db.database, &metlife).await.unwrap();
    assert_eq!(report.events_created.len(), 3);
    let seats = report.events_created[0].seat_count;
    // The CSV reports 72,545 a night (217,635 over three nights).
    assert!((f64::from(seats) / 72_545.0 - 1.0).abs() < 0.01, "{seats} seats");
    db.drop().await;
}

#[tokio::test]
async fn full_tour_seeds_within_a_minute() {
    let db = TestDb::create().await;
    let started = Instant::now();
    let report = seed(&db.database, &options(Preset::Metlife)).await.unwrap();
    let elapsed = started.elapsed();
    eprintln!(
        "seeded {} events on {} plans with {} seats in {:.1} s",
        report.events_created.len(),
        report.plans_created,
        report.seats_written,
        elapsed.as_secs_f64()
    );
    assert_eq!(report.events_created.len(), csv_rows());
    assert!(report.seats_written >= 20 * 60_000, "{} seats", report.seats_written);
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");

    let again = Instant::now();
    let second = seed(&db.database, &options(Preset::Metlife)).await.unwrap();
    assert!(second.events_created.is_empty());
    assert!(again.elapsed() < Duration::from_secs(5), "a repeated seed only looks up, took {:?}", again.elapsed());
    db.drop().await;
}
