//! The test harness: a platform on a real Redis Cluster, Kafka broker and PostgreSQL, served
//! on a random port of 127.0.0.1, with a fresh database per test.
//!
//! Where the engines are: `ONSALE_TEST_REDIS_CLUSTER` (comma-separated node URLs),
//! `ONSALE_TEST_KAFKA_BROKERS` and `ONSALE_TEST_DATABASE_URL`. `scripts/services.sh env` prints
//! them; the defaults match what `scripts/services.sh start` runs.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use clap::Parser;
use rand::Rng;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

use onsale_origin::app::{Platform, serve_http};
use onsale_origin::cli::{Cli, Command, ServeArgs};
use onsale_origin::clock::Clock;
use onsale_origin::db::SharedDatabase;
use onsale_origin::db::postgres::PostgresDb;
use onsale_origin::http::AppState;
use onsale_origin::pipeline::log::SharedLog;
use onsale_origin::store::RedisStore;
use onsale_origin::workers::expiry::ExpiryWorker;
use onsale_origin::workers::notification::NotificationWorker;
use onsale_shared::api::{FanSession, HoldRequest};
use onsale_shared::token::{SigningKey, TokenAlgorithm, TokenIssuer};
use onsale_shared::{EventId, FanId, SeatBitmap, SeatIndex};

pub const ADMIN_TOKEN: &str = "test-admin-token";
/// A fixed admission-token key, so tests can mint tokens the platform accepts.
pub const TOKEN_SEED: [u8; 32] = [42; 32];

pub fn redis_urls() -> String {
    std::env::var("ONSALE_TEST_REDIS_CLUSTER")
        .unwrap_or_else(|_| (7000..7006).map(|port| format!("redis://127.0.0.1:{port}")).collect::<Vec<_>>().join(","))
}

pub fn kafka_brokers() -> String {
    std::env::var("ONSALE_TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

pub fn admin_database_url() -> String {
    std::env::var("ONSALE_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

pub fn database_url(name: &str) -> String {
    let admin = admin_database_url();
    let base = admin.rsplit_once('/').map(|(base, _)| base).unwrap_or(&admin);
    format!("{base}/{name}")
}

/// The host and port of the test PostgreSQL.
fn database_address() -> SocketAddr {
    let admin = admin_database_url();
    let host_port = admin.split('@').nth(1).and_then(|rest| rest.split('/').next()).unwrap_or("127.0.0.1:5432");
    host_port.parse().expect("ONSALE_TEST_DATABASE_URL must name an IP address and port")
}

pub fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// Name of the migrated template database, derived from the migrations so a schema change
/// makes a new template.
fn template_name() -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for migration in onsale_origin::db::postgres::MIGRATOR.iter() {
        for byte in migration.checksum.iter() {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("onsale_tmpl_{:012x}", hash & 0xffff_ffff_ffff)
}

/// Creates a fresh, migrated database cloned from the template and returns its name.
pub async fn create_database() -> String {
    let mut admin = PgConnection::connect(&admin_database_url())
        .await
        .expect("PostgreSQL at ONSALE_TEST_DATABASE_URL must be running (scripts/services.sh start)");
    let template = template_name();
    // Test binaries run in parallel: one creates the template, the others wait on the lock.
    admin.execute("SELECT pg_advisory_lock(815)").await.expect("advisory lock");
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&template)
        .fetch_one(&mut admin)
        .await
        .expect("query pg_database");
    if !exists {
        admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {template}"))).await.expect("create template");
        let mut conn = PgConnection::connect(&database_url(&template)).await.expect("connect template");
        onsale_origin::db::postgres::MIGRATOR.run(&mut conn).await.expect("migrate template");
        conn.close().await.expect("close template");
    }
    let name = format!("onsale_t_{}", random_suffix());
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name} TEMPLATE {template}")))
        .await
        .expect("create test database");
    admin.execute("SELECT pg_advisory_unlock(815)").await.expect("advisory unlock");

    // Event ids key Redis state that outlives the database, so start them at a random point.
    let mut conn = PgConnection::connect(&database_url(&name)).await.expect("connect test database");
    let start: i64 = rand::thread_rng().gen_range(1_000_000_000..4_000_000_000_000_000);
    conn.execute(sqlx::AssertSqlSafe(format!("ALTER TABLE events ALTER COLUMN id RESTART WITH {start}")))
        .await
        .expect("restart event ids");
    name
}

/// Drops a test database, from a thread of its own since `Drop` cannot await.
pub fn drop_database(name: String) {
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            if let Ok(mut admin) = PgConnection::connect(&admin_database_url()).await {
                let _ =
                    admin.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await;
            }
        });
    })
    .join();
}

pub fn init_tracing() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_env("ONSALE_TEST_LOG").unwrap_or_else(|_| "warn".into());
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    });
}

/// Options of a test platform.
#[derive(Debug, Clone)]
pub struct TestOptions {
    pub admitter: bool,
    pub auto_open: bool,
    pub admission_rate: u32,
    pub hold_ttl: String,
    pub max_seats: u32,
    pub token_algorithm: TokenAlgorithm,
    pub kafka_brokers: String,
    pub database_max_connections: u32,
    pub database_acquire_timeout: String,
    /// Connect the platform to PostgreSQL through a [`DatabaseProxy`] the test can cut.
    pub database_proxy: bool,
    pub kafka_queue_max_messages: u32,
    /// Redis node URLs, comma-separated; the shared test cluster when `None`.
    pub redis_urls: Option<String>,
}

impl Default for TestOptions {
    fn default() -> Self {
        Self {
            admitter: false,
            auto_open: true,
            admission_rate: 5000,
            hold_ttl: "600s".into(),
            max_seats: 8,
            token_algorithm: TokenAlgorithm::Ed25519,
            kafka_brokers: kafka_brokers(),
            database_max_connections: 10,
            database_acquire_timeout: "3s".into(),
            database_proxy: false,
            kafka_queue_max_messages: 200_000,
            redis_urls: None,
        }
    }
}

pub struct TestApp {
    pub address: SocketAddr,
    pub base: String,
    pub http: reqwest::Client,
    pub state: AppState,
    /// A handle of the test's own on the platform's database.
    pub db: SharedDatabase,
    /// The same database's pool, for checks in PostgreSQL's SQL.
    pub pool: PgPool,
    pub database_name: String,
    pub args: ServeArgs,
    pub issuer: TokenIssuer,
    pub clock: Clock,
    pub shutdown: CancellationToken,
    pub database_proxy: Option<DatabaseProxy>,
    /// A connection of the test's own to the platform's Redis, for Redis-specific checks.
    pub redis: RedisStore,
    /// The platform's event log.
    pub log: SharedLog,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        drop_database(self.database_name.clone());
    }
}

pub fn token_key(algorithm: TokenAlgorithm) -> SigningKey {
    match algorithm {
        TokenAlgorithm::Ed25519 => SigningKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&TOKEN_SEED)),
        TokenAlgorithm::Hs256 => SigningKey::Hs256(TOKEN_SEED.to_vec()),
    }
}

/// Builds `onsale serve` arguments the way an operator would pass them.
pub fn serve_args(database_url: &str, namespace: &str, options: &TestOptions) -> ServeArgs {
    let suffix = random_suffix();
    let key = token_key(options.token_algorithm).to_base64();
    let mut argv = vec![
        "onsale".to_owned(),
        "serve".to_owned(),
        format!("--database-url={database_url}"),
        format!("--database-max-connections={}", options.database_max_connections),
        format!("--database-acquire-timeout={}", options.database_acquire_timeout),
        format!("--redis-url={}", options.redis_urls.clone().unwrap_or_else(redis_urls)),
        format!("--redis-namespace={namespace}"),
        format!("--kafka-brokers={}", options.kafka_brokers),
        format!("--seat-topic=test.seats.{suffix}"),
        format!("--ticket-topic=test.tickets.{suffix}"),
        format!("--kafka-group-prefix=test.{suffix}"),
        "--kafka-partitions=2".to_owned(),
        format!("--kafka-queue-max-messages={}", options.kafka_queue_max_messages),
        format!("--token-algorithm={}", options.token_algorithm),
        format!("--token-signing-key={key}"),
        format!("--session-secret={}", SigningKey::Hs256(vec![7; 32]).to_base64()),
        format!("--admin-token={ADMIN_TOKEN}"),
        format!("--hold-ttl={}", options.hold_ttl),
        format!("--max-seats-per-order={}", options.max_seats),
        format!("--admission-rate={}", options.admission_rate),
        "--listen=127.0.0.1:0".to_owned(),
    ];
    if options.auto_open {
        argv.push("--auto-open-queues".to_owned());
    }
    if !options.admitter {
        argv.push("--no-admitter".to_owned());
    }
    match Cli::try_parse_from(argv).expect("serve arguments parse").command {
        Command::Serve(args) => args,
        other => panic!("expected serve, got {other:?}"),
    }
}

impl TestApp {
    pub async fn start() -> Self {
        Self::start_with(TestOptions::default()).await
    }

    pub async fn start_with(options: TestOptions) -> Self {
        init_tracing();
        let database_name = create_database().await;
        let namespace = format!("test-{}", random_suffix());
        let proxy = if options.database_proxy { Some(DatabaseProxy::start(database_address()).await) } else { None };
        let platform_database_url = match &proxy {
            Some(proxy) => {
                database_url(&database_name).replace(&database_address().to_string(), &proxy.address.to_string())
            }
            None => database_url(&database_name),
        };
        let args = serve_args(&platform_database_url, &namespace, &options);
        let clock = Clock::system();
        let shutdown = CancellationToken::new();
        let platform = Platform::start(&args, clock.clone(), shutdown.clone()).await.expect("platform starts");
        let router = platform.router(args.http.max_body_bytes);
        let log = platform.log.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("local address");
        tokio::spawn(serve_http(listener, router, shutdown.clone()));

        let pool = PgPoolOptions::new()
            .max_connections(5)
            .connect(&database_url(&database_name))
            .await
            .expect("connect test database");
        let db: SharedDatabase = std::sync::Arc::new(PostgresDb::new(pool.clone()));
        let issuer = TokenIssuer::new(token_key(options.token_algorithm));
        let redis = RedisStore::connect(&args.redis).await.expect("connect Redis");
        Self {
            address,
            base: format!("http://{address}/api/v1"),
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("http client"),
            state: platform.state,
            db,
            pool,
            database_name,
            args,
            issuer,
            clock,
            shutdown,
            database_proxy: proxy,
            redis,
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates an event on a grid plan of `seats` seats; seat i is in category i % 3, priced
    /// 5000, 7500 and 10000 cents.
    pub async fn create_event(&self, seats: u32) -> EventId {
        create_event(&self.pool, seats).await
    }

    /// Starts a fan session over the API.
    pub async fn fan(&self) -> FanSession {
        let response = self.http.post(self.url("/fans")).send().await.expect("POST /fans");
        assert_eq!(response.status(), 201);
        response.json().await.expect("fan session body")
    }

    /// Mints an admission token directly, as the admitter would.
    pub fn token(&self, fan: &FanId, event: EventId) -> String {
        self.issuer.issue(fan, event, self.clock.now()).token
    }

    /// Starts a notification worker on this platform's topic, until the app is dropped.
    pub fn start_notification_worker(&self) -> NotificationWorker {
        let worker = NotificationWorker::new(self.state.store.clone(), self.state.catalog.clone());
        let runner = worker.clone();
        let kafka = self.args.kafka.clone();
        let log = self.log.clone();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move { runner.run(log, &kafka, shutdown).await.expect("notification worker") });
        worker
    }

    /// Starts an expiry worker, until the app is dropped.
    pub fn start_expiry_worker(&self) {
        let worker = ExpiryWorker::new(self.state.store.clone(), self.state.db.clone(), self.state.publisher.clone());
        tokio::spawn(worker.run(self.shutdown.clone()));
    }

    /// The availability bitmap over HTTP.
    pub async fn bitmap(&self, event: EventId) -> SeatBitmap {
        let response =
            self.http.get(self.url(&format!("/events/{event}/availability"))).send().await.expect("GET availability");
        assert_eq!(response.status(), 200);
        let seat_count: u32 = response
            .headers()
            .get("x-onsale-seat-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("seat count header");
        let bytes = response.bytes().await.expect("bitmap body");
        SeatBitmap::from_bytes(seat_count, &bytes).expect("bitmap length")
    }

    /// `POST /events/{id}/holds` with the given fan and token.
    pub async fn hold(&self, session: &FanSession, token: &str, event: EventId, seats: &[u32]) -> reqwest::Response {
        let seats: Vec<SeatIndex> = seats.iter().map(|s| SeatIndex::new(*s).expect("seat index")).collect();
        self.http
            .post(self.url(&format!("/events/{event}/holds")))
            .header("x-onsale-fan", &session.session)
            .bearer_auth(token)
            .json(&HoldRequest { seats })
            .send()
            .await
            .expect("POST holds")
    }
}

/// Inserts a venue, a grid plan, an event and its prices.
pub async fn create_event(db: &PgPool, seats: u32) -> EventId {
    let suffix = random_suffix();
    let venue: i64 = sqlx::query_scalar(
        "INSERT INTO venues (name, city, region, country) VALUES ($1, 'Testville', 'TS', 'US') RETURNING id",
    )
    .bind(format!("Test Arena {suffix}"))
    .fetch_one(db)
    .await
    .expect("insert venue");
    let plan: i64 = sqlx::query_scalar(
        "INSERT INTO seating_plans (venue_id, name, width, height, seat_count, source_sha256)
         VALUES ($1, 'Grid', 1000, 1000, $2, $3) RETURNING id",
    )
    .bind(venue)
    .bind(seats as i32)
    .bind(format!("test-{suffix}"))
    .fetch_one(db)
    .await
    .expect("insert plan");
    for (position, key) in ["Floor", "Lower", "Upper"].iter().enumerate() {
        sqlx::query("INSERT INTO plan_categories (plan_id, position, key, color) VALUES ($1, $2, $3, '#888888')")
            .bind(plan)
            .bind(position as i16)
            .bind(key)
            .execute(db)
            .await
            .expect("insert category");
    }
    let indexes: Vec<i32> = (0..seats as i32).collect();
    sqlx::query(
        "INSERT INTO seats (plan_id, seat_index, guid, zone, row_number, seat_number, x, y, category)
         SELECT $1, i, 'S-' || i, 'Section ' || (i / 100 + 1), ((i % 100) / 10 + 1)::TEXT, (i % 10 + 1)::TEXT,
                (i % 100) * 10, (i / 100) * 10, (i % 3)::SMALLINT
         FROM UNNEST($2::INT[]) AS t (i)",
    )
    .bind(plan)
    .bind(&indexes)
    .execute(db)
    .await
    .expect("insert seats");
    let event: i64 = sqlx::query_scalar(
        "INSERT INTO events (name, venue_id, plan_id, city, local_date, starts_at)
         VALUES ('Test Show', $1, $2, 'Testville', '2023-05-26', '2023-05-26T23:00:00Z') RETURNING id",
    )
    .bind(venue)
    .bind(plan)
    .fetch_one(db)
    .await
    .expect("insert event");
    for (key, price) in [("Floor", 5000i64), ("Lower", 7500), ("Upper", 10000)] {
        sqlx::query(
            "INSERT INTO event_categories (event_id, key, name, price_cents, currency) VALUES ($1, $2, $2, $3, 'USD')",
        )
        .bind(event)
        .bind(key)
        .bind(price)
        .execute(db)
        .await
        .expect("insert price");
    }
    EventId::new(event).expect("event id")
}

/// Reads a JSON error body's code.
pub async fn error_code(response: reqwest::Response) -> String {
    let status = response.status();
    let body: serde_json::Value =
        response.json().await.unwrap_or_else(|err| panic!("error body of {status} is not JSON: {err}"));
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {body}")).to_owned()
}

/// Polls `check` every 50 ms until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A TCP proxy in front of PostgreSQL that a test can cut, to see the platform without its
/// database, and restore.
pub struct DatabaseProxy {
    pub address: SocketAddr,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Bumped on each cut; connections of an older generation close themselves.
    generation: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
}

impl DatabaseProxy {
    pub async fn start(target: SocketAddr) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let address = listener.local_addr().expect("proxy address");
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (generation, _) = tokio::sync::watch::channel(0u64);
        let generation = std::sync::Arc::new(generation);
        let accept_cut = cut.clone();
        let accept_generation = generation.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { return };
                if accept_cut.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let mut cut_signal = accept_generation.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut_signal.changed() => {}
                    }
                });
            }
        });
        Self { address, cut, generation }
    }

    /// Closes every proxied connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    pub fn restore(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}
