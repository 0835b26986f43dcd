//! The SQLite backend: EventDB and OrderDB in one file that this process opens, with the same
//! tables, UNIQUE constraints and error mapping as PostgreSQL. The migrations under
//! `origin/migrations/sqlite` are compiled in.
//!
//! How it keeps PostgreSQL's guarantees with SQLite's means:
//!
//! - Write-ahead logging, so that reads go on while one connection writes, and
//!   `synchronous=FULL`, so that the WAL is synced to disk at every commit. With `NORMAL` a commit survives a crash of the
//!   process but not of the machine: a power cut can take back the last orders, whose cards
//!   were charged and whose fans were told they have tickets. FULL costs one fsync per order.
//! - Every write transaction starts with `BEGIN IMMEDIATE`, which takes the write lock up front.
//!   A deferred transaction that reads first and writes later can fail with `SQLITE_BUSY` when
//!   another connection wrote in between, and the busy timeout does not help it.
//! - A busy timeout of [`BUSY_TIMEOUT`]: a writer waits that long for the lock, then fails
//!   with `SQLITE_BUSY`, which [`is_busy`] reports, and the API answers 503.
//! - Foreign keys are enforced (SQLite leaves them off unless asked).
//! - Timestamps are RFC 3339 text in UTC with milliseconds (`2023-05-26T23:00:00.000Z`), written
//!   by [`timestamp`] or by SQLite's `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`: one format, so
//!   that text order is time order. UUIDs are hyphenated text, dates `YYYY-MM-DD`, JSON text.
//! - Lists are bound as one JSON array and read with `json_each`, where PostgreSQL binds an array
//!   and uses `UNNEST` or `ANY`; bulk inserts are multi-row `INSERT`s in chunks.
//!
//! - [`events`](self::events): EventDB writes and reads.
//! - [`orders`](self::orders): orders, refunds, ticket claims and the outbox.
//!
//! NOTE: the outbox relay takes a batch without locking its rows (SQLite has no
//! `SKIP LOCKED`), so two processes relaying from one SQLite file can send a message twice.
//! The ticket worker ignores the second copy; one process per file is the supported set-up.

mod events;
mod orders;

use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::SqlitePool;
use sqlx::error::DatabaseError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteError, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{Database, DbResult};
use crate::config::DatabaseConfig;

/// The migrations under `origin/migrations/sqlite`, compiled in.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a connection waits for another connection's write lock before it fails.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The statement that starts a write transaction.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// EventDB and OrderDB in SQLite.
#[derive(Debug, Clone)]
pub struct SqliteDb {
    pool: SqlitePool,
    name: String,
}

impl SqliteDb {
    /// Opens the database of a `sqlite://PATH` or `sqlite::memory:` URL. A file and its
    /// directory are created when missing; connections are made on first use.
    ///
    /// An in-memory database lives in one connection, which the pool keeps open, so that every
    /// query reads the same data. The data is gone when the pool closes.
    pub fn connect_lazy(config: &DatabaseConfig) -> anyhow::Result<Self> {
        let url = config.url();
        let options =
            SqliteConnectOptions::from_str(url).map_err(|err| anyhow::anyhow!("invalid --database-url: {err}"))?;
        let in_memory = is_in_memory(url);
        let pool_options = SqlitePoolOptions::new().acquire_timeout(config.acquire_timeout);

        let (options, pool_options) = if in_memory {
            let pool_options = pool_options.max_connections(1).idle_timeout(None).max_lifetime(None);
            (options.foreign_keys(true), pool_options)
        } else {
            create_parent_directory(options.get_filename())?;
            let options = options
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(BUSY_TIMEOUT)
                .foreign_keys(true);
            (options, pool_options.max_connections(config.max_connections))
        };

        let name = if in_memory {
            static IN_MEMORY: AtomicU64 = AtomicU64::new(0);
            format!("sqlite::memory:#{}", IN_MEMORY.fetch_add(1, Ordering::Relaxed))
        } else {
            format!("sqlite:{}", options.get_filename().display())
        };
        let pool = pool_options.connect_lazy_with(options);
        Ok(Self { pool, name })
    }

    /// Returns the pool, for queries that only SQLite runs, such as test checks.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

fn is_in_memory(url: &str) -> bool {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    rest.starts_with(":memory:") || rest.contains("mode=memory")
}

fn create_parent_directory(file: &Path) -> anyhow::Result<()> {
    match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => std::fs::create_dir_all(parent)
            .with_context(|| format!("creating the directory of the SQLite database {} failed", file.display())),
        _ => Ok(()),
    }
}

#[async_trait]
impl Database for SqliteDb {
    async fn ping(&self) -> DbResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        MIGRATOR.run(&self.pool).await
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// Returns whether a database error is SQLite's `SQLITE_BUSY` or `SQLITE_LOCKED`: another
/// connection held the lock past the busy timeout.
pub fn is_busy(err: &dyn DatabaseError) -> bool {
    const SQLITE_BUSY: i32 = 5;
    const SQLITE_LOCKED: i32 = 6;
    let Some(err) = err.try_downcast_ref::<SqliteError>() else {
        return false;
    };
    // The code is the extended result code, whose low byte is the primary code.
    let primary = err.code().and_then(|code| code.parse::<i32>().ok()).map(|code| code & 0xff);
    matches!(primary, Some(SQLITE_BUSY | SQLITE_LOCKED))
}

/// Returns whether an error is a SQLite UNIQUE violation on exactly these columns, written as
/// SQLite names them in the message, such as `orders.hold_id`. SQLite reports the columns of a
/// UNIQUE constraint, never its name.
fn is_unique_violation(err: &sqlx::Error, columns: &str) -> bool {
    err.as_database_error().is_some_and(|db| {
        db.kind() == sqlx::error::ErrorKind::UniqueViolation
            && db.message().strip_prefix("UNIQUE constraint failed: ") == Some(columns)
    })
}

/// Formats a time as the schema stores it: RFC 3339 in UTC with milliseconds.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Encodes values as one JSON array, for `json_each`.
fn json_array<T: serde::Serialize>(values: &[T]) -> String {
    serde_json::to_string(values).unwrap_or_else(|_| "[]".to_owned())
}

/// Reads a UUID stored as hyphenated text.
fn parse_uuid(text: &str) -> DbResult<uuid::Uuid> {
    uuid::Uuid::parse_str(text).map_err(|err| sqlx::Error::Decode(Box::new(err)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn config(url: String) -> DatabaseConfig {
        DatabaseConfig { url: Some(Secret::new(url)), max_connections: 4, acquire_timeout: Duration::from_secs(5) }
    }

    async fn pragma<T>(pool: &SqlitePool, name: &str) -> T
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Send + Unpin,
    {
        let sql = format!("PRAGMA {name}");
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(pool)
            .await
            .unwrap_or_else(|err| panic!("PRAGMA {name} failed: {err}"))
    }

    #[tokio::test]
    async fn file_database_syncs_every_commit() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("new").join("onsale.db");
        let db = SqliteDb::connect_lazy(&config(format!("sqlite://{}", path.display()))).unwrap();
        db.ping().await.unwrap();
        assert!(path.exists(), "the file and its directory are created");
        assert_eq!(pragma::<String>(&db.pool, "journal_mode").await, "wal");
        assert_eq!(pragma::<i64>(&db.pool, "synchronous").await, 2, "2 is FULL");
        assert_eq!(pragma::<i64>(&db.pool, "foreign_keys").await, 1);
        assert_eq!(pragma::<i64>(&db.pool, "busy_timeout").await, BUSY_TIMEOUT.as_millis() as i64);
        assert_eq!(db.name(), format!("sqlite:{}", path.display()));
    }

    #[tokio::test]
    async fn in_memory_database_is_one_database() {
        let db = SqliteDb::connect_lazy(&config("sqlite::memory:".to_owned())).unwrap();
        db.migrate().await.unwrap();
        let venue = crate::db::NewVenue { name: "Hall", city: "Lisbon", region: "", country: "PT" };
        let (id, created) = crate::db::EventDb::find_or_create_venue(&db, &venue).await.unwrap();
        assert!(created);
        assert_eq!(crate::db::EventDb::find_or_create_venue(&db, &venue).await.unwrap(), (id, false));
        let other = SqliteDb::connect_lazy(&config("sqlite::memory:".to_owned())).unwrap();
        assert_ne!(db.name(), other.name(), "two in-memory databases have two names");
    }

    #[tokio::test]
    async fn held_write_lock_is_unavailable() {
        let directory = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", directory.path().join("onsale.db").display());
        let db = SqliteDb::connect_lazy(&config(url.clone())).unwrap();
        db.migrate().await.unwrap();
        let mut writer = db.pool.begin_with(BEGIN_WRITE).await.unwrap();
        sqlx::query("INSERT INTO venues (name, city) VALUES ('Hall', 'Lisbon')").execute(&mut *writer).await.unwrap();

        // A second writer that waits 100 ms for the lock instead of the default.
        let options = SqliteConnectOptions::from_str(&url).unwrap().busy_timeout(Duration::from_millis(100));
        let impatient = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.unwrap();
        let err = sqlx::query("INSERT INTO venues (name, city) VALUES ('Arena', 'Porto')")
            .execute(&impatient)
            .await
            .expect_err("the write lock is held");
        assert!(crate::db::is_unavailable(&err), "SQLITE_BUSY is a 503: {err}");
        let api = crate::http::ApiError::from(err);
        assert_eq!(api.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);

        writer.rollback().await.unwrap();
        let constraint = sqlx::query("INSERT INTO venues (name, city) VALUES ('', 'Porto')").execute(&impatient).await;
        assert!(!crate::db::is_unavailable(&constraint.expect_err("an empty name is rejected")));
    }

    #[test]
    fn timestamps_have_one_format() {
        let at: DateTime<Utc> = "2023-05-26T23:00:00Z".parse().unwrap();
        assert_eq!(timestamp(at), "2023-05-26T23:00:00.000Z");
        let at: DateTime<Utc> = "2026-06-01T10:15:30.654321Z".parse().unwrap();
        assert_eq!(timestamp(at), "2026-06-01T10:15:30.654Z");
    }
}
