//! Contract tests of the database traits (`EventDb`, `SearchDb`, `OrderDb`, `TicketDb`,
//! `OutboxDb` and `Database`).
//!
//! Each contract is one function over a fresh, migrated database, run once per backend by
//! `contract_tests!`, so a failure names both: `db::sqlite::second_sale_of_a_seat_is_rejected` or
//! `db::postgres::second_sale_of_a_seat_is_rejected`. The SQLite runs open a file in a new
//! temporary directory through a `sqlite://PATH` URL, as an operator would. The PostgreSQL runs
//! create a database `onsale_t_<random>` on the server of `ONSALE_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`, which `scripts/services.sh start` checks) and drop
//! it when the test ends, passed or failed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgPool, SqlitePool};

use onsale_origin::catalog::Catalog;
use onsale_origin::config::{DatabaseConfig, Secret, TicketConfig};
use onsale_origin::db::{
    EventFilter, InsertOrderError, NewEvent, NewEventCategory, NewOrder, NewVenue, SaleCounts, SharedDatabase,
};
use onsale_origin::pipeline::TicketMessage;
use onsale_origin::pipeline::messages::event_key;
use onsale_origin::pipeline::relay::TICKETS;
use onsale_origin::plan::generate::{Preset, StadiumSpec};
use onsale_origin::plan::{PreparedPlan, ValidPlan, import_plan, import_prepared, source_sha256};
use onsale_origin::seed::{SeedOptions, seed};
use onsale_origin::workers::ticket::{CLAIM_LEASE, Handled, TicketWorker};
use onsale_shared::api::SeatMap;
use onsale_shared::{EventId, FanId, HoldId, OrderId, SeatIndex, TicketId};

/// Runs each named contract against both backends, as `sqlite::<name>` and `postgres::<name>`.
macro_rules! contract_tests {
    ($($contract:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $contract() {
                    super::$contract(super::TestDb::sqlite().await).await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $contract() {
                    super::$contract(super::TestDb::postgres().await).await;
                }
            )+
        }
    };
}

contract_tests!(
    example_plan_reads_back,
    generated_plan_reads_back,
    reimport_finds_plan_by_sha256,
    concurrent_imports_make_one_plan,
    venue_is_created_once,
    events_filter_by_city_and_date,
    event_detail_lists_prices,
    catalog_prices_each_seat,
    order_is_written_with_tickets_and_outbox,
    second_sale_of_a_seat_is_rejected,
    one_order_per_hold,
    order_view_is_for_its_fan_only,
    orders_of_holds_maps_ordered_holds,
    sale_counts_follow_orders,
    delivery_times_cover_every_ticket,
    refund_is_recorded_once,
    outbox_batch_deletes_delivered,
    unsent_tickets_are_requeued_once,
    ticket_row_joins_order_and_seat,
    ticket_claim_has_one_winner,
    ticket_claim_expires_and_releases,
    ticket_worker_emails_each_ticket_once,
    seed_is_idempotent,
    order_survives_reopening_the_database,
);

// ---------------------------------------------------------------------------------------------
// Test databases

fn admin_database_url() -> String {
    std::env::var("ONSALE_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn postgres_url(name: &str) -> String {
    let admin = admin_database_url();
    let base = admin.rsplit_once('/').map(|(base, _)| base).unwrap_or(&admin);
    format!("{base}/{name}")
}

fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

fn config(url: String) -> DatabaseConfig {
    DatabaseConfig { url: Some(Secret::new(url)), max_connections: 8, acquire_timeout: Duration::from_secs(10) }
}

/// A backend's own pool on the test database, for checks of rows that no trait method reads.
enum RawPool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A fresh, migrated database of one test.
struct TestDb {
    /// The handle under test, opened from a URL like the binary opens it.
    database: SharedDatabase,
    config: DatabaseConfig,
    raw: RawPool,
    /// The SQLite file's directory, removed when the test ends.
    _directory: Option<tempfile::TempDir>,
    /// The PostgreSQL database, dropped when the test ends.
    postgres_name: Option<String>,
}

impl TestDb {
    /// Opens a SQLite file in a directory that does not exist yet, so the open must create both.
    async fn sqlite() -> Self {
        let directory = tempfile::tempdir().expect("create a temporary directory");
        let path: PathBuf = directory.path().join("data").join("onsale.db");
        let config = config(format!("sqlite://{}", path.display()));
        let database = onsale_origin::db::connect(&config).await.expect("open the SQLite database");
        onsale_origin::db::migrate(&database).await.expect("migrate the SQLite database");
        assert_eq!(database.backend(), "sqlite");
        let raw = SqlitePool::connect(config.url()).await.expect("open a second SQLite pool");
        Self { database, config, raw: RawPool::Sqlite(raw), _directory: Some(directory), postgres_name: None }
    }

    async fn postgres() -> Self {
        use sqlx::{Connection, Executor, PgConnection};
        let name = format!("onsale_t_{}", random_suffix());
        let mut admin = PgConnection::connect(&admin_database_url())
            .await
            .expect("PostgreSQL at ONSALE_TEST_DATABASE_URL must be running (scripts/services.sh start)");
        admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("create the test database");
        admin.close().await.ok();
        let config = config(postgres_url(&name));
        let database = onsale_origin::db::connect(&config).await.expect("open the PostgreSQL database");
        onsale_origin::db::migrate(&database).await.expect("migrate the PostgreSQL database");
        assert_eq!(database.backend(), "postgres");
        let raw = PgPool::connect(config.url()).await.expect("open a second PostgreSQL pool");
        Self { database, config, raw: RawPool::Postgres(raw), _directory: None, postgres_name: Some(name) }
    }

    /// Closes the handle's pool and opens the database again from the same URL.
    async fn reopen(&mut self) {
        self.database.close().await;
        self.database = onsale_origin::db::connect(&self.config).await.expect("open the database again");
    }

    /// Counts a table's rows through the backend's own pool.
    async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM {table}");
        match &self.raw {
            RawPool::Sqlite(pool) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await,
            RawPool::Postgres(pool) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await,
        }
        .unwrap_or_else(|err| panic!("counting the rows of {table} failed: {err}"))
    }
}

impl Drop for TestDb {
    /// Drops the PostgreSQL database from a thread with a runtime of its own, since `Drop` cannot
    /// await. `WITH (FORCE)` ends the connections that are still open.
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else { return };
        let _ = std::thread::spawn(move || {
            use sqlx::{Connection, Executor, PgConnection};
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&admin_database_url()).await {
                    let _ = admin
                        .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                        .await;
                }
            });
        })
        .join();
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures

fn data_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("data").join(file)
}

fn example_plan_bytes() -> Vec<u8> {
    std::fs::read(data_path("pretix_example_plan.json")).expect("read data/pretix_example_plan.json")
}

fn example_plan() -> ValidPlan {
    PreparedPlan::from_bytes(&example_plan_bytes()).expect("the example plan is valid").valid
}

fn day(text: &str) -> NaiveDate {
    text.parse().expect("a date")
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("an RFC 3339 time")
}

fn seat(index: u32) -> SeatIndex {
    SeatIndex::new(index).expect("a seat index")
}

/// The example plan's category prices at [`example_event`], in cents: Front Stalls and Rear
/// Stalls are for sale, Balcony is not.
const FRONT_STALLS_CENTS: i64 = 5_000;
const REAR_STALLS_CENTS: i64 = 7_500;

const EXAMPLE_PRICES: [NewEventCategory<'static>; 2] = [
    NewEventCategory { key: "Front Stalls", name: "Front stalls", price_cents: FRONT_STALLS_CENTS, currency: "EUR" },
    NewEventCategory { key: "Rear Stalls", name: "Rear stalls", price_cents: REAR_STALLS_CENTS, currency: "EUR" },
];

/// An event on the example plan (40 seats in the zones Stalls and Balcony) with
/// [`EXAMPLE_PRICES`].
struct ExampleEvent {
    event: EventId,
    venue_id: i64,
    plan_id: i64,
    plan: ValidPlan,
}

impl ExampleEvent {
    /// Indexes of the seats in the plan category at `position`.
    fn seats_in(&self, position: u16) -> Vec<u32> {
        (0u32..).zip(&self.plan.seats).filter(|(_, seat)| seat.category == position).map(|(i, _)| i).collect()
    }

    /// Returns the price of a seat, or `None` when its category is not for sale.
    fn price(&self, index: u32) -> Option<i64> {
        match self.plan.seats[index as usize].category {
            0 => Some(FRONT_STALLS_CENTS),
            1 => Some(REAR_STALLS_CENTS),
            _ => None,
        }
    }

    /// Builds an order of the given seats, each at its price, on a new hold.
    fn order<'a>(&self, fan: &'a FanId, seats: &[u32]) -> NewOrder<'a> {
        NewOrder {
            id: OrderId::random(),
            event: self.event,
            hold: HoldId::random(),
            fan,
            email: "fan@example.com",
            currency: "EUR",
            payment_ref: "pay-test",
            seats: seats.iter().map(|&index| (seat(index), self.price(index).expect("a priced seat"))).collect(),
        }
    }
}

/// Imports the example plan and creates one event on it, at the venue Demo Hall in Berlin.
async fn example_event(db: &SharedDatabase) -> ExampleEvent {
    let imported = import_plan(db, &example_plan_bytes(), None).await.expect("import the example plan");
    let venue = NewVenue { name: "Demo Hall", city: "Berlin", region: "BE", country: "DE" };
    let (venue_id, _) = db.find_or_create_venue(&venue).await.expect("create the venue");
    let event = NewEvent {
        name: "Demo Night",
        venue_id,
        plan_id: imported.plan.id,
        city: "Berlin",
        local_date: day("2026-07-18"),
        starts_at: at("2026-07-18T18:00:00Z"),
    };
    let ids = db.insert_events(&[event], &EXAMPLE_PRICES).await.expect("create the event");
    ExampleEvent { event: ids[0].expect("a new event"), venue_id, plan_id: imported.plan.id, plan: example_plan() }
}

/// Creates another event on the example event's plan and venue, starting at `starts_at`.
async fn another_event(db: &SharedDatabase, example: &ExampleEvent, starts_at: &str) -> EventId {
    let starts_at = at(starts_at);
    let event = NewEvent {
        name: "Demo Night",
        venue_id: example.venue_id,
        plan_id: example.plan_id,
        city: "Berlin",
        local_date: starts_at.date_naive(),
        starts_at,
    };
    let ids = db.insert_events(&[event], &EXAMPLE_PRICES).await.expect("create the event");
    ids[0].expect("a new event")
}

/// Checks every seat of a seat map against the plan it was imported from, and returns how many
/// seats the map draws.
fn assert_map_matches_plan(map: &SeatMap, plan: &ValidPlan) -> usize {
    let mut next = 0u32;
    for zone in &map.zones {
        for row in &zone.rows {
            assert_eq!(row.first_seat, next, "rows follow each other in seat-index order");
            for (k, drawn) in row.seats.iter().enumerate() {
                let expected = &plan.seats[row.first_seat as usize + k];
                assert_eq!(zone.name, expected.zone, "zone of seat {}", row.first_seat as usize + k);
                assert_eq!(row.number, expected.row, "row of seat {}", row.first_seat as usize + k);
                assert_eq!(drawn.number(), expected.number, "number of seat {}", row.first_seat as usize + k);
                assert_eq!(
                    (drawn.x(), drawn.y()),
                    (expected.x as f32, expected.y as f32),
                    "position of {}",
                    expected.guid
                );
                assert_eq!(drawn.category(), expected.category, "category of {}", expected.guid);
            }
            next += row.seats.len() as u32;
        }
    }
    next as usize
}

/// Decodes every message of one outbox batch and finishes the batch without deleting any.
async fn outbox_messages(db: &SharedDatabase) -> Vec<(i64, String, String, TicketMessage)> {
    let batch = db.lease_outbox(500).await.expect("read the outbox");
    let messages = batch
        .messages
        .iter()
        .map(|message| {
            let ticket: TicketMessage = serde_json::from_slice(&message.payload).expect("a ticket message payload");
            (message.id, message.topic.clone(), message.key.clone(), ticket)
        })
        .collect();
    batch.finish(&[]).await.expect("finish the outbox batch");
    messages
}

/// Writes an order and returns its tickets' messages from the outbox.
async fn order_with_tickets(db: &SharedDatabase, order: &NewOrder<'_>) -> Vec<TicketMessage> {
    db.insert_order(order).await.expect("write the order");
    outbox_messages(db)
        .await
        .into_iter()
        .map(|(_, _, _, message)| message)
        .filter(|message| message.order_id == order.id)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// EventDb and SearchDb

async fn example_plan_reads_back(db: TestDb) {
    let db = &db.database;
    let bytes = example_plan_bytes();
    let imported = import_plan(db, &bytes, None).await.unwrap();
    assert!(imported.created);
    assert_eq!(imported.plan.seat_count, 40);
    assert_eq!(imported.category_count, 3);
    assert_eq!(imported.plan.name, "Demo Hall (example, 40 seats)");

    let found = db.find_plan_by_sha256(&source_sha256(&bytes)).await.unwrap();
    assert_eq!(found.as_ref(), Some(&imported.plan));
    assert_eq!(db.find_plan_by_sha256(&source_sha256(b"other bytes")).await.unwrap(), None);
    let keys = db.plan_category_keys(imported.plan.id).await.unwrap();
    assert_eq!(keys, ["Front Stalls", "Rear Stalls", "Balcony"]);

    let example = example_event(db).await;
    assert_eq!(example.plan_id, imported.plan.id, "the event reuses the imported plan");
    let map = db.seat_map(example.event).await.unwrap().expect("the event's seat map");
    assert_eq!(map.event_id, example.event);
    assert_eq!(map.plan_name, "Demo Hall (example, 40 seats)");
    assert_eq!((map.width, map.height, map.seat_count), (480.0, 420.0, 40));
    let zones: Vec<&str> = map.zones.iter().map(|zone| zone.name.as_str()).collect();
    assert_eq!(zones, ["Stalls", "Balcony"]);
    assert_eq!(assert_map_matches_plan(&map, &example.plan), 40, "every seat appears once");

    let categories: Vec<(&str, Option<&str>, Option<i64>)> =
        map.categories.iter().map(|c| (c.key.as_str(), c.color.as_deref(), c.price_cents)).collect();
    assert_eq!(
        categories,
        [
            ("Front Stalls", Some("#d94f4f"), Some(FRONT_STALLS_CENTS)),
            ("Rear Stalls", Some("#4f7fd9"), Some(REAR_STALLS_CENTS)),
            ("Balcony", Some("#3fa34d"), None),
        ]
    );
}

async fn generated_plan_reads_back(db: TestDb) {
    let db = &db.database;
    let plan = onsale_origin::plan::generate::generate(&StadiumSpec::preset(Preset::Small)).unwrap();
    let mut bytes = serde_json::to_vec(&plan).unwrap();
    bytes.push(b'\n');
    let prepared = PreparedPlan::from_plan(plan, &bytes).unwrap();
    let seat_count = prepared.valid.seats.len();
    assert!(seat_count > 300, "the small preset has a few hundred seats, got {seat_count}");

    let imported = import_prepared(db, &prepared, None).await.unwrap();
    assert!(imported.created);
    assert_eq!(imported.plan.seat_count as usize, seat_count);
    let again = import_plan(db, &bytes, None).await.unwrap();
    assert!(!again.created, "the file of a generated plan finds the plan");
    assert_eq!(again.plan, imported.plan);

    let keys = db.plan_category_keys(imported.plan.id).await.unwrap();
    let expected_keys: Vec<&str> = prepared.valid.plan.categories.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(keys, expected_keys);

    let (venue_id, _) = db
        .find_or_create_venue(&NewVenue { name: "Small Stadium", city: "Springfield", region: "IL", country: "US" })
        .await
        .unwrap();
    let event = NewEvent {
        name: "Opening Night",
        venue_id,
        plan_id: imported.plan.id,
        city: "Springfield",
        local_date: day("2026-05-01"),
        starts_at: at("2026-05-02T00:00:00Z"),
    };
    let prices: Vec<NewEventCategory<'_>> =
        keys.iter().map(|key| NewEventCategory { key, name: key, price_cents: 1_000, currency: "USD" }).collect();
    let event = db.insert_events(&[event], &prices).await.unwrap()[0].unwrap();
    let map = db.seat_map(event).await.unwrap().unwrap();
    assert_eq!(map.seat_count as usize, seat_count);
    assert_eq!(
        (map.width, map.height),
        (prepared.valid.plan.size.width as f64, prepared.valid.plan.size.height as f64)
    );
    assert_eq!(assert_map_matches_plan(&map, &prepared.valid), seat_count);
    assert!(map.categories.iter().all(|c| c.price_cents == Some(1_000)));
}

async fn reimport_finds_plan_by_sha256(db: TestDb) {
    let first = import_plan(&db.database, &example_plan_bytes(), None).await.unwrap();
    let second = import_plan(&db.database, &example_plan_bytes(), None).await.unwrap();
    assert!(first.created);
    assert!(!second.created);
    assert_eq!(second.plan, first.plan);
    assert_eq!(second.category_count, 3);
    assert_eq!(db.count("seating_plans").await, 1);
    assert_eq!(db.count("plan_categories").await, 3);
    assert_eq!(db.count("seats").await, 40);

    // A changed byte is another file, and so another plan.
    let mut changed = example_plan_bytes();
    changed.push(b'\n');
    let third = import_plan(&db.database, &changed, None).await.unwrap();
    assert!(third.created);
    assert_ne!(third.plan.id, first.plan.id);
    assert_eq!(db.count("seats").await, 80);
}

async fn concurrent_imports_make_one_plan(db: TestDb) {
    let bytes = example_plan_bytes();
    let imports: Vec<_> = (0..4)
        .map(|_| {
            let (database, bytes) = (db.database.clone(), bytes.clone());
            tokio::spawn(async move { import_plan(&database, &bytes, None).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for import in imports {
        outcomes.push(import.await.unwrap().expect("every import succeeds"));
    }
    assert!(outcomes.iter().all(|outcome| outcome.plan == outcomes[0].plan), "one plan: {outcomes:?}");
    assert_eq!(outcomes.iter().filter(|outcome| outcome.created).count(), 1, "one import wrote it");
    assert_eq!(db.count("seating_plans").await, 1);
    assert_eq!(db.count("seats").await, 40);
}

async fn venue_is_created_once(db: TestDb) {
    let db = &db.database;
    let venue = NewVenue { name: "MetLife Stadium", city: "East Rutherford", region: "NJ", country: "US" };
    let (id, created) = db.find_or_create_venue(&venue).await.unwrap();
    assert!(created);
    let renamed_region = NewVenue { region: "New Jersey", ..venue.clone() };
    assert_eq!(db.find_or_create_venue(&renamed_region).await.unwrap(), (id, false));
    let elsewhere = NewVenue { city: "Elsewhere", ..venue };
    let (other, created) = db.find_or_create_venue(&elsewhere).await.unwrap();
    assert!(created, "venues are unique by name and city");
    assert_ne!(other, id);
}

async fn events_filter_by_city_and_date(db: TestDb) {
    let db = &db.database;
    let plan = import_plan(db, &example_plan_bytes(), None).await.unwrap().plan;
    let arena = NewVenue { name: "Arena", city: "Springfield", region: "IL", country: "US" };
    let (arena, _) = db.find_or_create_venue(&arena).await.unwrap();
    let dome = NewVenue { name: "Dome", city: "Shelbyville", region: "IL", country: "US" };
    let (dome, _) = db.find_or_create_venue(&dome).await.unwrap();
    let event = |venue_id: i64, city: &'static str, date: &str, starts_at: &str| NewEvent {
        name: "Tour",
        venue_id,
        plan_id: plan.id,
        city,
        local_date: day(date),
        starts_at: at(starts_at),
    };

    // Inserted out of date order, to see the list sort them.
    let springfield = [
        event(arena, "Springfield", "2026-05-03", "2026-05-03T23:00:00Z"),
        event(arena, "Springfield", "2026-05-01", "2026-05-01T23:00:00Z"),
        event(arena, "Springfield", "2026-05-02", "2026-05-02T23:00:00Z"),
    ];
    let ids = db.insert_events(&springfield, &EXAMPLE_PRICES).await.unwrap();
    assert!(ids.iter().all(Option::is_some), "{ids:?}");
    let shelbyville = [event(dome, "Shelbyville", "2026-05-02", "2026-05-03T01:00:00Z")];
    let shelbyville_id = db.insert_events(&shelbyville, &[]).await.unwrap()[0].unwrap();

    let list = async |filter: EventFilter| -> Vec<(String, NaiveDate)> {
        let events = db.list_events(&EventFilter { limit: 50, ..filter }).await.unwrap();
        events.into_iter().map(|event| (event.city, event.local_date)).collect()
    };
    let all = list(EventFilter::default()).await;
    assert_eq!(
        all,
        [
            ("Springfield".to_owned(), day("2026-05-01")),
            ("Springfield".to_owned(), day("2026-05-02")),
            ("Shelbyville".to_owned(), day("2026-05-02")),
            ("Springfield".to_owned(), day("2026-05-03")),
        ],
        "earliest start first"
    );
    let by_city = |city: &str| EventFilter { city: Some(city.to_owned()), ..EventFilter::default() };
    assert_eq!(list(by_city("springfield")).await.len(), 3, "the city matches case-insensitively");
    assert_eq!(list(by_city("SHELBYVILLE")).await.len(), 1);
    assert!(list(by_city("Spring")).await.is_empty(), "the city matches as a whole");

    let one_day = EventFilter { from: Some(day("2026-05-02")), to: Some(day("2026-05-02")), ..EventFilter::default() };
    assert_eq!(list(one_day).await.len(), 2, "both bounds are inclusive");
    let city_and_from = EventFilter { from: Some(day("2026-05-02")), ..by_city("Springfield") };
    assert_eq!(
        list(city_and_from).await,
        [("Springfield".to_owned(), day("2026-05-02")), ("Springfield".to_owned(), day("2026-05-03"))]
    );
    let to_only = EventFilter { to: Some(day("2026-05-01")), ..EventFilter::default() };
    assert_eq!(list(to_only).await.len(), 1);

    let page = db.list_events(&EventFilter { limit: 2, offset: 1, ..EventFilter::default() }).await.unwrap();
    let page: Vec<NaiveDate> = page.iter().map(|event| event.local_date).collect();
    assert_eq!(page, [day("2026-05-02"), day("2026-05-02")]);

    let summary = db.event_summary(shelbyville_id).await.unwrap().expect("the event");
    assert_eq!(summary.id, shelbyville_id);
    assert_eq!((summary.name.as_str(), summary.venue.as_str(), summary.city.as_str()), ("Tour", "Dome", "Shelbyville"));
    assert_eq!((summary.region.as_str(), summary.country.as_str()), ("IL", "US"));
    assert_eq!((summary.local_date, summary.starts_at), (day("2026-05-02"), at("2026-05-03T01:00:00Z")));
    assert_eq!(summary.seat_count, 40);

    // A second event at the same venue and start is not created, but the others in the call are.
    let again = [
        event(arena, "Springfield", "2026-05-01", "2026-05-01T23:00:00Z"),
        event(arena, "Springfield", "2026-05-04", "2026-05-04T23:00:00Z"),
    ];
    let ids = db.insert_events(&again, &EXAMPLE_PRICES).await.unwrap();
    assert_eq!(ids[0], None);
    assert!(ids[1].is_some());
    let mut starts = db.event_starts_at_venue(arena).await.unwrap();
    starts.sort();
    let expected: Vec<DateTime<Utc>> =
        ["2026-05-01T23:00:00Z", "2026-05-02T23:00:00Z", "2026-05-03T23:00:00Z", "2026-05-04T23:00:00Z"]
            .map(at)
            .to_vec();
    assert_eq!(starts, expected);
}

async fn event_detail_lists_prices(db: TestDb) {
    let example = example_event(&db.database).await;
    let db = &db.database;
    let prices = db.event_prices(example.event).await.unwrap();
    let prices: Vec<(&str, &str, Option<&str>, i64, &str)> = prices
        .iter()
        .map(|p| (p.key.as_str(), p.name.as_str(), p.color.as_deref(), p.price_cents, p.currency.as_str()))
        .collect();
    assert_eq!(
        prices,
        [
            ("Front Stalls", "Front stalls", Some("#d94f4f"), FRONT_STALLS_CENTS, "EUR"),
            ("Rear Stalls", "Rear stalls", Some("#4f7fd9"), REAR_STALLS_CENTS, "EUR"),
        ],
        "priced categories in plan order; Balcony is not for sale"
    );

    // A second pricing of the same event keeps the first prices.
    let event = NewEvent {
        name: "Demo Night",
        venue_id: example.venue_id,
        plan_id: example.plan_id,
        city: "Berlin",
        local_date: day("2026-07-18"),
        starts_at: at("2026-07-18T18:00:00Z"),
    };
    assert_eq!(db.insert_events(&[event], &[]).await.unwrap(), [None]);

    let missing = EventId::new(i64::MAX).unwrap();
    assert!(db.event_summary(missing).await.unwrap().is_none());
    assert!(db.event_prices(missing).await.unwrap().is_empty());
    assert!(db.seat_map(missing).await.unwrap().is_none());
    assert!(db.event_info(missing).await.unwrap().is_none());
}

async fn catalog_prices_each_seat(db: TestDb) {
    let example = example_event(&db.database).await;
    let db = &db.database;
    let info = db.event_info(example.event).await.unwrap().expect("the event's sale facts");
    assert_eq!(info.id, example.event);
    assert_eq!((info.name.as_str(), info.starts_at), ("Demo Night", at("2026-07-18T18:00:00Z")));
    assert_eq!(info.seat_count, 40);
    assert_eq!(info.currency, "EUR");
    for index in 0..40 {
        assert_eq!(info.price(seat(index)), example.price(index), "price of seat {index}");
    }
    assert!(!example.seats_in(2).is_empty(), "the plan has unpriced Balcony seats");
    assert_eq!(info.price(seat(40)), None, "a seat past the plan");

    let cached = Catalog::new(db.clone()).event(example.event).await.unwrap().expect("the cached event");
    assert_eq!(cached.seat_count, 40);
    assert_eq!(cached.price(seat(0)), example.price(0));

    // An event without prices sells nothing, in the default currency.
    let unpriced = NewEvent {
        name: "Rehearsal",
        venue_id: example.venue_id,
        plan_id: example.plan_id,
        city: "Berlin",
        local_date: day("2026-07-17"),
        starts_at: at("2026-07-17T18:00:00Z"),
    };
    let unpriced = db.insert_events(&[unpriced], &[]).await.unwrap()[0].unwrap();
    let info = db.event_info(unpriced).await.unwrap().unwrap();
    assert_eq!(info.currency, "USD");
    assert!((0..40).all(|index| info.price(seat(index)).is_none()));
}

// ---------------------------------------------------------------------------------------------
// OrderDb

async fn order_is_written_with_tickets_and_outbox(db: TestDb) {
    let example = example_event(&db.database).await;
    let fan = FanId::random();
    let seats: Vec<u32> =
        example.seats_in(0).into_iter().take(2).chain(example.seats_in(1).into_iter().take(1)).collect();
    let order = example.order(&fan, &seats);
    let started = Utc::now();
    db.database.insert_order(&order).await.unwrap();

    assert_eq!(db.database.order_for_hold(order.hold).await.unwrap(), Some((order.id, fan.clone())));
    let view = db.database.order_view(order.id, &fan).await.unwrap().expect("the fan's order");
    assert_eq!((view.order_id, view.event_id, view.hold_id), (order.id, example.event, order.hold));
    assert_eq!(view.total_cents, 2 * FRONT_STALLS_CENTS + REAR_STALLS_CENTS);
    assert_eq!(view.currency, "EUR");
    let age = view.created_at - started;
    assert!(
        age > chrono::Duration::seconds(-5) && age < chrono::Duration::seconds(60),
        "created at {}",
        view.created_at
    );
    assert_eq!(view.tickets.len(), 3);
    let mut sorted_seats = seats.clone();
    sorted_seats.sort();
    for (ticket, &index) in view.tickets.iter().zip(&sorted_seats) {
        let expected = &example.plan.seats[index as usize];
        assert_eq!(ticket.seat, seat(index), "tickets come in seat order");
        assert_eq!(
            (ticket.zone.as_str(), ticket.row.as_str(), ticket.number.as_str()),
            (expected.zone.as_str(), expected.row.as_str(), expected.number.as_str())
        );
        let category = if expected.category == 0 { "Front Stalls" } else { "Rear Stalls" };
        assert_eq!(ticket.category, category);
        assert_eq!(Some(ticket.price_cents), example.price(index));
        assert_eq!((ticket.secret.as_deref(), ticket.emailed), (None, false));
    }

    let mut sold = db.database.sold_seats(example.event).await.unwrap();
    sold.sort();
    let expected: Vec<(SeatIndex, OrderId)> = sorted_seats.iter().map(|&index| (seat(index), order.id)).collect();
    assert_eq!(sold, expected);

    let outbox = outbox_messages(&db.database).await;
    assert_eq!(outbox.len(), 3, "one outbox message per ticket");
    let ticket_ids: BTreeSet<TicketId> = view.tickets.iter().map(|ticket| ticket.ticket_id).collect();
    let mut outbox_seats = Vec::new();
    for (_, topic, key, message) in &outbox {
        assert_eq!(topic, TICKETS);
        assert_eq!(key, &event_key(example.event));
        assert_eq!((message.order_id, message.event_id), (order.id, example.event));
        assert!(ticket_ids.contains(&message.ticket_id), "the message names a ticket of the order");
        outbox_seats.push(message.seat.get());
    }
    outbox_seats.sort();
    assert_eq!(outbox_seats, sorted_seats);

    assert_eq!(db.count("orders").await, 1);
    assert_eq!(db.count("order_seats").await, 3);
    assert_eq!(db.count("tickets").await, 3);
    assert_eq!(db.count("outbox").await, 3);
}

async fn second_sale_of_a_seat_is_rejected(db: TestDb) {
    let example = example_event(&db.database).await;
    let front = example.seats_in(0);
    let (a, b, c) = (front[0], front[1], front[2]);
    let first_fan = FanId::random();
    let first = example.order(&first_fan, &[a, b]);
    db.database.insert_order(&first).await.unwrap();

    let second_fan = FanId::random();
    let second = example.order(&second_fan, &[b, c]);
    match db.database.insert_order(&second).await {
        Err(InsertOrderError::SeatSold(sold)) => {
            assert_eq!(sold, [(seat(b), first.id)], "the error names the seat and the order that has it")
        }
        other => panic!("expected SeatSold for seat {b}, got {other:?}"),
    }

    // Nothing of the second order was written.
    assert_eq!(db.database.order_for_hold(second.hold).await.unwrap(), None);
    assert_eq!(db.database.order_view(second.id, &second_fan).await.unwrap(), None);
    let mut sold = db.database.sold_seats(example.event).await.unwrap();
    sold.sort();
    assert_eq!(sold, [(seat(a), first.id), (seat(b), first.id)], "seat {c} stays unsold");
    let counts = db.database.sale_counts(example.event).await.unwrap();
    assert_eq!(counts, SaleCounts { orders: 1, seats_sold: 2, tickets_emailed: 0, seats_sold_twice: 0 });
    let outbox = outbox_messages(&db.database).await;
    assert_eq!(outbox.len(), 2);
    assert!(outbox.iter().all(|(_, _, _, message)| message.order_id == first.id), "no message of the second order");
    assert_eq!(db.count("orders").await, 1);
    assert_eq!(db.count("order_seats").await, 2);
    assert_eq!(db.count("tickets").await, 2);

    // The seat alone is refused too, and the free seat sells.
    let third = example.order(&second_fan, &[b]);
    assert!(
        matches!(db.database.insert_order(&third).await, Err(InsertOrderError::SeatSold(sold)) if sold == [(seat(b), first.id)])
    );
    let fourth = example.order(&second_fan, &[c]);
    db.database.insert_order(&fourth).await.unwrap();
    assert_eq!(db.database.sale_counts(example.event).await.unwrap().seats_sold, 3);
}

async fn one_order_per_hold(db: TestDb) {
    let example = example_event(&db.database).await;
    let front = example.seats_in(0);
    let fan = FanId::random();
    let first = example.order(&fan, &[front[0]]);
    db.database.insert_order(&first).await.unwrap();

    let retry = NewOrder { id: OrderId::random(), seats: vec![(seat(front[1]), FRONT_STALLS_CENTS)], ..first.clone() };
    match db.database.insert_order(&retry).await {
        Err(InsertOrderError::HoldOrdered) => {}
        other => panic!("expected HoldOrdered, got {other:?}"),
    }
    assert_eq!(db.database.order_for_hold(first.hold).await.unwrap(), Some((first.id, fan.clone())));
    assert_eq!(db.database.order_view(retry.id, &fan).await.unwrap(), None);
    assert_eq!(db.database.sold_seats(example.event).await.unwrap(), [(seat(front[0]), first.id)]);
    assert_eq!(db.count("tickets").await, 1);
    assert_eq!(db.count("outbox").await, 1);
}

async fn order_view_is_for_its_fan_only(db: TestDb) {
    let example = example_event(&db.database).await;
    let fan = FanId::random();
    let order = example.order(&fan, &[example.seats_in(1)[0]]);
    db.database.insert_order(&order).await.unwrap();
    assert!(db.database.order_view(order.id, &fan).await.unwrap().is_some());
    assert_eq!(db.database.order_view(order.id, &FanId::random()).await.unwrap(), None, "another fan's order");
    assert_eq!(db.database.order_view(OrderId::random(), &fan).await.unwrap(), None, "a missing order");
}

async fn orders_of_holds_maps_ordered_holds(db: TestDb) {
    let example = example_event(&db.database).await;
    let front = example.seats_in(0);
    let fan = FanId::random();
    let first = example.order(&fan, &[front[0]]);
    let second = example.order(&fan, &[front[1], front[2]]);
    db.database.insert_order(&first).await.unwrap();
    db.database.insert_order(&second).await.unwrap();
    let unordered = HoldId::random();

    let orders = db.database.orders_of_holds(&[first.hold, unordered, second.hold]).await.unwrap();
    assert_eq!(orders, HashMap::from([(first.hold, first.id), (second.hold, second.id)]));
    assert!(db.database.orders_of_holds(&[]).await.unwrap().is_empty());
    assert!(db.database.orders_of_holds(&[unordered]).await.unwrap().is_empty());
}

async fn sale_counts_follow_orders(db: TestDb) {
    let example = example_event(&db.database).await;
    let other = another_event(&db.database, &example, "2026-07-19T18:00:00Z").await;
    let empty = another_event(&db.database, &example, "2026-07-20T18:00:00Z").await;
    let front = example.seats_in(0);
    let fan = FanId::random();
    let tickets = order_with_tickets(&db.database, &example.order(&fan, &[front[0], front[1]])).await;
    db.database.insert_order(&example.order(&fan, &[front[2]])).await.unwrap();
    let other_order = NewOrder { event: other, ..example.order(&fan, &[front[0]]) };
    db.database.insert_order(&other_order).await.unwrap();
    db.database.record_ticket_emailed(tickets[0].ticket_id).await.unwrap();

    assert_eq!(
        db.database.sale_counts(example.event).await.unwrap(),
        SaleCounts { orders: 2, seats_sold: 3, tickets_emailed: 1, seats_sold_twice: 0 }
    );
    assert_eq!(
        db.database.sale_counts(other).await.unwrap(),
        SaleCounts { orders: 1, seats_sold: 1, tickets_emailed: 0, seats_sold_twice: 0 },
        "the same seat index at another event is another seat"
    );
    assert_eq!(db.database.sale_counts(empty).await.unwrap(), SaleCounts::default());
}

async fn delivery_times_cover_every_ticket(db: TestDb) {
    let example = example_event(&db.database).await;
    let other = another_event(&db.database, &example, "2026-07-19T18:00:00Z").await;
    let front = example.seats_in(0);
    let fan = FanId::random();
    let tickets = order_with_tickets(&db.database, &example.order(&fan, &[front[0], front[1]])).await;
    let other_order = NewOrder { event: other, ..example.order(&fan, &[front[0]]) };
    db.database.insert_order(&other_order).await.unwrap();
    assert_eq!(db.database.ticket_delivery_millis(example.event).await.unwrap(), vec![None, None]);

    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    db.database.record_ticket_emailed(tickets[0].ticket_id).await.unwrap();
    let mut times = db.database.ticket_delivery_millis(example.event).await.unwrap();
    times.sort();
    assert_eq!(times.len(), 2, "{times:?}");
    assert_eq!(times[0], None, "the second ticket is not emailed yet");
    let emailed = times[1].expect("the first ticket is emailed");
    assert!((15..60_000).contains(&emailed), "delivery took {emailed} ms");
    assert_eq!(db.database.ticket_delivery_millis(other).await.unwrap(), vec![None], "another event's ticket");
}

async fn refund_is_recorded_once(db: TestDb) {
    let example = example_event(&db.database).await;
    let hold = HoldId::random();
    db.database.record_refund("pay-1", example.event, hold, 5_000, "seat already sold").await.unwrap();
    db.database.record_refund("pay-1", example.event, hold, 5_000, "seat already sold").await.unwrap();
    assert_eq!(db.count("refunds").await, 1, "a second record of one payment is ignored");
    db.database.record_refund("pay-2", example.event, hold, 7_500, "hold expired").await.unwrap();
    assert_eq!(db.count("refunds").await, 2);
}

// ---------------------------------------------------------------------------------------------
// OutboxDb

async fn outbox_batch_deletes_delivered(db: TestDb) {
    let example = example_event(&db.database).await;
    let front = example.seats_in(0);
    let fan = FanId::random();
    let first = example.order(&fan, &[front[0], front[1]]);
    let second = example.order(&fan, &[front[2]]);
    db.database.insert_order(&first).await.unwrap();
    db.database.insert_order(&second).await.unwrap();

    let batch = db.database.lease_outbox(2).await.unwrap();
    assert_eq!(batch.messages.len(), 2, "at most the limit");
    let ids: Vec<i64> = batch.messages.iter().map(|message| message.id).collect();
    assert!(ids[0] < ids[1], "oldest first");
    for message in &batch.messages {
        let ticket: TicketMessage = serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(ticket.order_id, first.id, "the first order's messages are the oldest");
    }
    batch.finish(&ids[..1]).await.unwrap();

    let batch = db.database.lease_outbox(500).await.unwrap();
    let remaining: Vec<i64> = batch.messages.iter().map(|message| message.id).collect();
    assert_eq!(remaining.len(), 2, "the undelivered message stays");
    assert_eq!(remaining[0], ids[1]);
    batch.finish(&remaining).await.unwrap();

    let batch = db.database.lease_outbox(500).await.unwrap();
    assert!(batch.messages.is_empty());
    batch.finish(&[]).await.unwrap();
    assert_eq!(db.count("outbox").await, 0);
    assert_eq!(db.count("tickets").await, 3, "delivering a message keeps its ticket");
}

async fn unsent_tickets_are_requeued_once(db: TestDb) {
    let example = example_event(&db.database).await;
    let seats = example.seats_in(0);
    let fan = FanId::random();
    let order = example.order(&fan, &[seats[0], seats[1]]);
    db.database.insert_order(&order).await.unwrap();

    // The relay delivered the messages, then the in-process log died with its process.
    let batch = db.database.lease_outbox(500).await.unwrap();
    let delivered: Vec<i64> = batch.messages.iter().map(|message| message.id).collect();
    let originals: Vec<TicketMessage> =
        batch.messages.iter().map(|message| serde_json::from_slice(&message.payload).unwrap()).collect();
    batch.finish(&delivered).await.unwrap();
    assert_eq!(db.count("outbox").await, 0);

    assert_eq!(db.database.requeue_unsent_tickets().await.unwrap(), 2);
    assert_eq!(db.database.requeue_unsent_tickets().await.unwrap(), 0, "a waiting message is not written twice");
    let batch = db.database.lease_outbox(500).await.unwrap();
    let mut requeued: Vec<TicketMessage> =
        batch.messages.iter().map(|message| serde_json::from_slice(&message.payload).unwrap()).collect();
    let mut expected = originals;
    requeued.sort_by_key(|ticket| ticket.ticket_id);
    expected.sort_by_key(|ticket| ticket.ticket_id);
    assert_eq!(requeued, expected, "the same messages as the order wrote");
    for message in &batch.messages {
        assert_eq!(message.key, order.event.to_string());
    }
    batch.finish(&[]).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// TicketDb

async fn ticket_row_joins_order_and_seat(db: TestDb) {
    let example = example_event(&db.database).await;
    let index = example.seats_in(1)[0];
    let fan = FanId::random();
    let order = example.order(&fan, &[index]);
    let tickets = order_with_tickets(&db.database, &order).await;
    let ticket = tickets[0].ticket_id;
    let view = db.database.order_view(order.id, &fan).await.unwrap().unwrap();

    let row = db.database.ticket_for_email(ticket).await.unwrap().expect("the ticket");
    let expected = &example.plan.seats[index as usize];
    assert_eq!((row.order_id, row.event_id, row.seat_index), (order.id.as_uuid(), example.event.get(), index as i32));
    assert_eq!((row.secret.as_deref(), row.emailed_at), (None, None));
    assert_eq!(row.email, "fan@example.com");
    assert_eq!(row.ordered_at, view.created_at);
    assert_eq!(
        (row.event_name.as_str(), row.starts_at, row.local_date),
        ("Demo Night", at("2026-07-18T18:00:00Z"), day("2026-07-18"))
    );
    assert_eq!((row.venue_name.as_str(), row.venue_city.as_str()), ("Demo Hall", "Berlin"));
    assert_eq!(
        (row.zone.as_deref(), row.row_number.as_deref(), row.seat_number.as_deref()),
        (Some(expected.zone.as_str()), Some(expected.row.as_str()), Some(expected.number.as_str()))
    );
    assert!(db.database.ticket_for_email(TicketId::random()).await.unwrap().is_none());

    // The first stored secret wins.
    assert_eq!(db.database.store_ticket_secret(ticket, "first").await.unwrap(), "first");
    assert_eq!(db.database.store_ticket_secret(ticket, "second").await.unwrap(), "first");
    let view = db.database.order_view(order.id, &fan).await.unwrap().unwrap();
    assert_eq!(view.tickets[0].secret.as_deref(), Some("first"));
}

async fn ticket_claim_has_one_winner(db: TestDb) {
    let example = example_event(&db.database).await;
    let seats: Vec<u32> = example.seats_in(0).into_iter().take(8).collect();
    assert_eq!(seats.len(), 8);
    let fan = FanId::random();
    let tickets = order_with_tickets(&db.database, &example.order(&fan, &seats)).await;

    for message in &tickets {
        let claimers: Vec<_> = (0..2)
            .map(|_| {
                let (database, ticket) = (db.database.clone(), message.ticket_id);
                tokio::spawn(async move { database.claim_ticket_email(ticket, CLAIM_LEASE).await })
            })
            .collect();
        let mut winners = 0;
        for claimer in claimers {
            if claimer.await.unwrap().expect("a claim runs").is_some() {
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "exactly one of two concurrent claims of {} wins", message.ticket_id);
        db.database.record_ticket_emailed(message.ticket_id).await.unwrap();
        assert!(db.database.is_ticket_emailed(message.ticket_id).await.unwrap());
        assert_eq!(
            db.database.claim_ticket_email(message.ticket_id, Duration::ZERO).await.unwrap(),
            None,
            "an emailed ticket is never claimed"
        );
    }
    assert_eq!(db.database.sale_counts(example.event).await.unwrap().tickets_emailed, 8);
    assert!(matches!(db.database.is_ticket_emailed(TicketId::random()).await, Err(sqlx::Error::RowNotFound)));
}

async fn ticket_claim_expires_and_releases(db: TestDb) {
    let example = example_event(&db.database).await;
    let fan = FanId::random();
    let tickets = order_with_tickets(&db.database, &example.order(&fan, &[example.seats_in(0)[0]])).await;
    let ticket = tickets[0].ticket_id;
    let db = &db.database;

    let first = db.claim_ticket_email(ticket, CLAIM_LEASE).await.unwrap().expect("the first claim");
    assert!((Utc::now() - first).num_seconds().abs() < 60, "claimed at {first}");
    assert_eq!(db.claim_ticket_email(ticket, CLAIM_LEASE).await.unwrap(), None, "a live claim blocks others");

    // Releasing with another claim's time changes nothing, and releasing one's own frees the ticket.
    db.release_ticket_claim(ticket, first - chrono::Duration::seconds(1)).await.unwrap();
    assert_eq!(db.claim_ticket_email(ticket, CLAIM_LEASE).await.unwrap(), None);
    db.release_ticket_claim(ticket, first).await.unwrap();
    let second = db.claim_ticket_email(ticket, CLAIM_LEASE).await.unwrap().expect("a claim after the release");

    // A claim older than the lease is taken over.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let third = db.claim_ticket_email(ticket, Duration::from_millis(5)).await.unwrap().expect("a claim past the lease");
    assert!(third > second);
    db.release_ticket_claim(ticket, second).await.unwrap();
    assert_eq!(db.claim_ticket_email(ticket, CLAIM_LEASE).await.unwrap(), None, "the stale release left the new claim");

    db.record_ticket_emailed(ticket).await.unwrap();
    let emailed_at = db.ticket_for_email(ticket).await.unwrap().unwrap().emailed_at.expect("the send time");
    tokio::time::sleep(Duration::from_millis(20)).await;
    db.record_ticket_emailed(ticket).await.unwrap();
    assert_eq!(
        db.ticket_for_email(ticket).await.unwrap().unwrap().emailed_at,
        Some(emailed_at),
        "the first send time stays"
    );
    db.release_ticket_claim(ticket, third).await.unwrap();
    assert_eq!(db.claim_ticket_email(ticket, Duration::ZERO).await.unwrap(), None);
}

async fn ticket_worker_emails_each_ticket_once(db: TestDb) {
    let example = example_event(&db.database).await;
    let seats: Vec<u32> = example.seats_in(1).into_iter().take(6).collect();
    let fan = FanId::random();
    let tickets = order_with_tickets(&db.database, &example.order(&fan, &seats)).await;
    let mail = tempfile::tempdir().unwrap();
    let config = TicketConfig {
        signing_key: Some(Secret::new(base64_seed())),
        smtp_url: None,
        mail_dir: Some(mail.path().to_path_buf()),
        mail_from: "onsale tickets <tickets@onsale.invalid>".to_owned(),
    };
    let workers: Vec<TicketWorker> =
        (0..2).map(|_| TicketWorker::from_config(&config, db.database.clone()).expect("a file worker")).collect();

    let mut sent: BTreeMap<TicketId, usize> = BTreeMap::new();
    for message in &tickets {
        let runs: Vec<_> = workers
            .iter()
            .map(|worker| {
                let (worker, message) = (worker.clone(), message.clone());
                tokio::spawn(async move { worker.handle(&message).await })
            })
            .collect();
        // Both runs finish before any retry, so the worker that held the claim has recorded its
        // send by the time the other one tries again.
        let mut outcomes = Vec::new();
        for run in runs {
            outcomes.push(run.await.unwrap().expect("handling succeeds"));
        }
        for (worker, mut outcome) in workers.iter().zip(outcomes) {
            if outcome == Handled::ClaimedElsewhere {
                // The other worker held the claim and has recorded the send, so this worker finds
                // the ticket emailed.
                outcome = worker.handle(message).await.expect("handling succeeds");
            }
            if outcome == Handled::Sent {
                *sent.entry(message.ticket_id).or_default() += 1;
            } else {
                assert_eq!(outcome, Handled::AlreadySent);
            }
        }
    }
    assert_eq!(sent.len(), tickets.len(), "every ticket was sent");
    assert!(sent.values().all(|&count| count == 1), "each ticket was sent once: {sent:?}");
    let files = std::fs::read_dir(mail.path()).unwrap().filter(|entry| entry.is_ok()).count();
    assert_eq!(files, tickets.len(), "one email file per ticket");
    for message in &tickets {
        assert!(db.database.is_ticket_emailed(message.ticket_id).await.unwrap());
    }
}

/// Returns a fixed ticket signing seed, as base64.
fn base64_seed() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode([11u8; 32])
}

// ---------------------------------------------------------------------------------------------
// Seed and durability

async fn seed_is_idempotent(db: TestDb) {
    let options = SeedOptions {
        csv: data_path("eras_tour_2023_us.csv"),
        only_date: None,
        only_venue: Some("MetLife Stadium".to_owned()),
        plan_preset: Preset::Small,
        tour_name: "The Eras Tour".to_owned(),
    };
    let first = seed(&db.database, &options).await.unwrap();
    assert_eq!(first.dates_selected, 3);
    assert_eq!(first.events_created.len(), 3);
    assert_eq!((first.venues_created, first.plans_created, first.events_existing), (1, 1, 0));
    let plan_ids: BTreeSet<i64> = first.events_created.iter().map(|event| event.plan_id).collect();
    assert_eq!(plan_ids.len(), 1, "the venue's dates share one plan");

    let second = seed(&db.database, &options).await.unwrap();
    assert!(second.events_created.is_empty());
    assert_eq!((second.venues_created, second.plans_created, second.events_existing), (0, 0, 3));
    assert_eq!(db.count("events").await, 3);
    assert_eq!(db.count("seating_plans").await, 1);

    let filter = EventFilter { city: Some("East Rutherford".to_owned()), limit: 10, ..EventFilter::default() };
    let events = db.database.list_events(&filter).await.unwrap();
    let dates: Vec<String> = events.iter().map(|event| event.local_date.to_string()).collect();
    assert_eq!(dates, ["2023-05-26", "2023-05-27", "2023-05-28"]);
    assert_eq!(events[0].starts_at, at("2023-05-26T23:00:00Z"), "19:00 in New Jersey");
    let prices = db.database.event_prices(events[0].id).await.unwrap();
    assert!(!prices.is_empty() && prices.iter().all(|price| price.currency == "USD"));
}

async fn order_survives_reopening_the_database(mut db: TestDb) {
    let example = example_event(&db.database).await;
    let seats: Vec<u32> = example.seats_in(0).into_iter().take(3).collect();
    let fan = FanId::random();
    let order = example.order(&fan, &seats);
    let tickets = order_with_tickets(&db.database, &order).await;
    let before = db.database.order_view(order.id, &fan).await.unwrap().unwrap();

    db.reopen().await;
    let after = db.database.order_view(order.id, &fan).await.unwrap().expect("the order after reopening");
    assert_eq!(after, before);
    let mut sold = db.database.sold_seats(example.event).await.unwrap();
    sold.sort();
    let expected: Vec<(SeatIndex, OrderId)> = seats.iter().map(|&index| (seat(index), order.id)).collect();
    assert_eq!(sold, expected);
    for message in &tickets {
        let row = db.database.ticket_for_email(message.ticket_id).await.unwrap().expect("the ticket after reopening");
        assert_eq!(row.seat_index, message.seat.get() as i32);
    }
    assert_eq!(outbox_messages(&db.database).await.len(), 3, "the outbox rows survive too");
    let second = example.order(&fan, &[seats[0]]);
    assert!(
        matches!(db.database.insert_order(&second).await, Err(InsertOrderError::SeatSold(_))),
        "the seat guard holds after reopening"
    );
}
