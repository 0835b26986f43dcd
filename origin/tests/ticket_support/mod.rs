//! Helpers of the TicketWorker tests: a fresh PostgreSQL database per test with one order's
//! tickets in it, a ticket configuration, a fake SMTP server on 127.0.0.1, and a reader that
//! pulls the QR code out of a ticket email.
//!
//! Where the engines are: `ONSALE_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) and `ONSALE_TEST_KAFKA_BROKERS` (default
//! `127.0.0.1:9092`).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use clap::Parser;
use mail_parser::{MessageParser, MimeHeaders};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use onsale_origin::cli::{Cli, Command, TicketArgs, WorkerArgs, WorkerRole};
use onsale_origin::config::TicketConfig;
use onsale_origin::db::SharedDatabase;
use onsale_origin::db::postgres::PostgresDb;
use onsale_origin::pipeline::TicketMessage;
use onsale_shared::{EventId, OrderId, SeatIndex, TicketId};

/// The seed of the ticket signing key in every test, so tests can verify secrets.
pub const TICKET_SEED: [u8; 32] = [11; 32];
pub const FAN_EMAIL: &str = "fan@example.com";
/// An event name with HTML-special characters, to check the HTML part escapes them.
pub const EVENT_NAME: &str = "Summer <Night> & Friends";
/// The order's creation time, with a fraction of a second that the ticket's issue time drops.
pub const ORDERED_AT: &str = "2026-06-01T10:15:30.654321Z";

pub fn admin_database_url() -> String {
    std::env::var("ONSALE_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

pub fn kafka_brokers() -> String {
    std::env::var("ONSALE_TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

pub fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

fn database_url(name: &str) -> String {
    let admin = admin_database_url();
    let base = admin.rsplit_once('/').map(|(base, _)| base).unwrap_or(&admin);
    format!("{base}/{name}")
}

pub fn init_tracing() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_env("ONSALE_TEST_LOG").unwrap_or_else(|_| "warn".into());
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    });
}

/// A migrated database of its own, dropped when this value is dropped.
pub struct TestDatabase {
    pub name: String,
    /// The handle that the ticket worker takes.
    pub database: SharedDatabase,
    /// The same database's pool, for set-up and checks in PostgreSQL's SQL.
    pub pool: PgPool,
}

impl TestDatabase {
    pub async fn create() -> Self {
        init_tracing();
        let mut admin = PgConnection::connect(&admin_database_url())
            .await
            .expect("PostgreSQL at ONSALE_TEST_DATABASE_URL must be running (scripts/services.sh start)");
        let name = format!("onsale_t_{}", random_suffix());
        admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("create test database");
        admin.close().await.expect("close admin connection");
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .connect(&database_url(&name))
            .await
            .expect("connect test database");
        let database: SharedDatabase = std::sync::Arc::new(PostgresDb::new(pool.clone()));
        onsale_origin::db::migrate(&database).await.expect("migrate test database");
        Self { name, database, pool }
    }
}

impl Drop for TestDatabase {
    /// Drops the database from a thread with a runtime of its own, since `Drop` cannot await.
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
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

/// One order of `tickets.len()` seats for an event, as the order path writes it.
pub struct Fixture {
    pub event: EventId,
    pub order: OrderId,
    pub tickets: Vec<TicketMessage>,
    pub ordered_at: DateTime<Utc>,
}

/// Inserts a venue, a plan of 20 seats in zone "Block A", row "3", seats numbered from 1, an
/// event on it, and one order with a ticket for each seat in `seats`.
pub async fn insert_order(db: &PgPool, seats: &[u32]) -> Fixture {
    let suffix = random_suffix();
    let venue: i64 =
        sqlx::query_scalar("INSERT INTO venues (name, city, country) VALUES ($1, 'Lisbon', 'PT') RETURNING id")
            .bind(format!("Test Stadium {suffix}"))
            .fetch_one(db)
            .await
            .expect("insert venue");
    let plan: i64 = sqlx::query_scalar(
        "INSERT INTO seating_plans (venue_id, name, width, height, seat_count, source_sha256)
         VALUES ($1, 'Test plan', 100, 100, 20, $2) RETURNING id",
    )
    .bind(venue)
    .bind(format!("test-{suffix}"))
    .fetch_one(db)
    .await
    .expect("insert seating plan");
    sqlx::query("INSERT INTO plan_categories (plan_id, position, key, color) VALUES ($1, 0, 'Floor', '#336699')")
        .bind(plan)
        .execute(db)
        .await
        .expect("insert plan category");
    sqlx::query(
        "INSERT INTO seats (plan_id, seat_index, guid, zone, row_number, seat_number, x, y, category)
         SELECT $1, i, 'seat-' || i, 'Block A', '3', (i + 1)::TEXT, i * 5, 10, 0 FROM generate_series(0, 19) AS i",
    )
    .bind(plan)
    .execute(db)
    .await
    .expect("insert seats");
    let event: i64 = sqlx::query_scalar(
        "INSERT INTO events (name, venue_id, plan_id, city, local_date, starts_at)
         VALUES ($1, $2, $3, 'Lisbon', '2026-07-18', '2026-07-18T19:30:00Z') RETURNING id",
    )
    .bind(EVENT_NAME)
    .bind(venue)
    .bind(plan)
    .fetch_one(db)
    .await
    .expect("insert event");
    sqlx::query("INSERT INTO event_categories (event_id, key, name, price_cents, currency) VALUES ($1, 'Floor', 'Floor', 5000, 'EUR')")
        .bind(event)
        .execute(db)
        .await
        .expect("insert event category");

    let order = OrderId::random();
    let ordered_at: DateTime<Utc> = ORDERED_AT.parse().expect("order time");
    sqlx::query(
        "INSERT INTO orders (id, event_id, hold_id, fan_id, email, total_cents, currency, payment_ref, created_at)
         VALUES ($1, $2, $3, 'fan1', $4, $5, 'EUR', $6, $7)",
    )
    .bind(order.as_uuid())
    .bind(event)
    .bind(uuid::Uuid::new_v4())
    .bind(FAN_EMAIL)
    .bind(5000 * seats.len() as i64)
    .bind(format!("pay-{suffix}"))
    .bind(ordered_at)
    .execute(db)
    .await
    .expect("insert order");

    let event_id = EventId::new(event).expect("event id");
    let mut tickets = Vec::new();
    for &seat in seats {
        let ticket = TicketId::random();
        sqlx::query("INSERT INTO order_seats (order_id, event_id, seat_index, price_cents) VALUES ($1, $2, $3, 5000)")
            .bind(order.as_uuid())
            .bind(event)
            .bind(seat as i32)
            .execute(db)
            .await
            .expect("insert order seat");
        sqlx::query("INSERT INTO tickets (id, order_id, event_id, seat_index) VALUES ($1, $2, $3, $4)")
            .bind(ticket.as_uuid())
            .bind(order.as_uuid())
            .bind(event)
            .bind(seat as i32)
            .execute(db)
            .await
            .expect("insert ticket");
        tickets.push(TicketMessage {
            ticket_id: ticket,
            order_id: order,
            event_id,
            seat: SeatIndex::new(seat).expect("seat index"),
        });
    }
    Fixture { event: event_id, order, tickets, ordered_at }
}

/// Reads the ticket's `secret`, `email_claimed_at` and `emailed_at` columns.
pub async fn ticket_state(
    db: &PgPool,
    ticket: TicketId,
) -> (Option<String>, Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    sqlx::query_as("SELECT secret, email_claimed_at, emailed_at FROM tickets WHERE id = $1")
        .bind(ticket.as_uuid())
        .fetch_one(db)
        .await
        .expect("read ticket")
}

pub fn signing_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&TICKET_SEED)
}

/// Returns a path for a new mail directory under the system temporary directory. The
/// directory does not exist yet.
pub fn temporary_mail_dir() -> PathBuf {
    std::env::temp_dir().join(format!("onsale-ticket-mail-{}", random_suffix()))
}

/// Parses `onsale worker ticket` flags as an operator would pass them: the test signing key,
/// `mail_dir`, the Kafka broker of the tests with fresh topics and consumer group named after
/// `suffix`, and `smtp_url` when given. Without `smtp_url` emails go to `mail_dir`.
pub fn ticket_args(suffix: &str, mail_dir: &Path, smtp_url: Option<String>) -> TicketArgs {
    let key = base64::engine::general_purpose::STANDARD.encode(TICKET_SEED);
    let mut argv = vec![
        "onsale".to_owned(),
        "worker".to_owned(),
        "ticket".to_owned(),
        format!("--database-url={}", admin_database_url()),
        format!("--kafka-brokers={}", kafka_brokers()),
        format!("--seat-topic=test.seats.{suffix}"),
        format!("--ticket-topic=test.tickets.{suffix}"),
        format!("--kafka-group-prefix=test.{suffix}"),
        "--kafka-partitions=2".to_owned(),
        format!("--ticket-signing-key={key}"),
        format!("--mail-dir={}", mail_dir.display()),
    ];
    if let Some(url) = smtp_url {
        argv.push(format!("--smtp-url={url}"));
    }
    match Cli::try_parse_from(argv).expect("ticket worker arguments parse").command {
        Command::Worker(WorkerArgs { role: WorkerRole::Ticket(args) }) => args,
        other => panic!("expected the ticket worker, got {other:?}"),
    }
}

/// Returns the ticket configuration of [`ticket_args`] with a fresh suffix.
pub fn ticket_config(mail_dir: &Path, smtp_url: Option<String>) -> TicketConfig {
    ticket_args(&random_suffix(), mail_dir, smtp_url).tickets
}

/// Lists the names of the `.eml` files in `dir`, sorted, without temporary files.
pub fn eml_files(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .map(|entry| entry.expect("read mail directory").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".eml") && !name.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// Lists every entry in `dir`, temporary files included.
pub fn all_files(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.map(|entry| entry.expect("read mail directory").file_name().to_string_lossy().into_owned()).collect()
}

/// Decodes the QR code of the inline PNG image in a raw ticket email and returns its text.
pub fn qr_text_from_email(raw: &[u8]) -> String {
    let message = MessageParser::default().parse(raw).expect("email parses");
    let png = message
        .attachments()
        .find(|part| part.content_type().is_some_and(|t| t.c_type == "image" && t.subtype() == Some("png")))
        .expect("email has a PNG attachment")
        .contents()
        .to_vec();
    decode_qr(&png)
}

/// Decodes the one QR code in a PNG image.
pub fn decode_qr(png: &[u8]) -> String {
    let image = image::load_from_memory(png).expect("PNG decodes").to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "expected one QR code in the image");
    let (_meta, text) = grids[0].decode().expect("QR code decodes");
    text
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

/// A minimal SMTP server on 127.0.0.1 that stores every message it accepts. A test can make it
/// reply to `MAIL FROM` with an error, and delay its reply to the end of `DATA`.
pub struct FakeSmtp {
    pub address: SocketAddr,
    state: Arc<SmtpState>,
}

#[derive(Default)]
struct SmtpState {
    /// The reply to `MAIL FROM` while failing, such as `451 4.3.0 Try again later`.
    failure: Mutex<Option<String>>,
    /// Delay before the reply that accepts a message.
    accept_delay: Mutex<Duration>,
    received: Mutex<Vec<Vec<u8>>>,
    /// Transactions rejected because of `failure`.
    rejected: Mutex<u32>,
}

impl FakeSmtp {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake SMTP server");
        let address = listener.local_addr().expect("fake SMTP address");
        let state = Arc::new(SmtpState::default());
        let accept_state = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let state = accept_state.clone();
                tokio::spawn(async move {
                    let _ = serve_session(stream, state).await;
                });
            }
        });
        Self { address, state }
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.address)
    }

    /// Makes the server reply `reply` to every `MAIL FROM`, or accept mail again with `None`.
    pub fn fail_with(&self, reply: Option<&str>) {
        *self.state.failure.lock().unwrap() = reply.map(str::to_owned);
    }

    pub fn delay_accept(&self, delay: Duration) {
        *self.state.accept_delay.lock().unwrap() = delay;
    }

    /// Returns the raw messages accepted so far, dot-unstuffed.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.state.received.lock().unwrap().clone()
    }

    pub fn rejected(&self) -> u32 {
        *self.state.rejected.lock().unwrap()
    }
}

async fn serve_session(stream: tokio::net::TcpStream, state: Arc<SmtpState>) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    writer.write_all(b"220 fake.test ESMTP\r\n").await?;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        let reply = if command.starts_with("EHLO") || command.starts_with("HELO") {
            "250 fake.test".to_owned()
        } else if command.starts_with("MAIL FROM") {
            let failure = state.failure.lock().unwrap().clone();
            match failure {
                Some(reply) => {
                    *state.rejected.lock().unwrap() += 1;
                    reply
                }
                None => "250 2.1.0 OK".to_owned(),
            }
        } else if command.starts_with("RCPT TO") {
            "250 2.1.5 OK".to_owned()
        } else if command == "DATA" {
            writer.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
            let message = read_data(&mut reader).await?;
            let delay = *state.accept_delay.lock().unwrap();
            tokio::time::sleep(delay).await;
            state.received.lock().unwrap().push(message);
            "250 2.0.0 queued".to_owned()
        } else if command == "QUIT" {
            writer.write_all(b"221 2.0.0 bye\r\n").await?;
            return Ok(());
        } else if command == "RSET" || command == "NOOP" {
            "250 2.0.0 OK".to_owned()
        } else {
            "502 5.5.2 command not implemented".to_owned()
        };
        writer.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
}

/// Reads a `DATA` body up to the line with a single dot, undoing dot-stuffing.
async fn read_data(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> std::io::Result<Vec<u8>> {
    let mut message = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed in DATA"));
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(message);
        }
        let unstuffed = if line.starts_with(b"..") { &line[1..] } else { &line[..] };
        message.extend_from_slice(unstuffed);
    }
}
