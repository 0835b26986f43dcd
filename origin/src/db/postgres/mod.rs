//! The PostgreSQL backend: one pool shared by every instance's EventDB and OrderDB queries, the
//! migrations under `origin/migrations/postgres` compiled in.
//!
//! - [`events`](self::events): EventDB writes and reads, with bulk inserts through `UNNEST`.
//! - [`orders`](self::orders): orders, refunds, ticket claims and the outbox, whose batches are
//!   locked with `FOR UPDATE SKIP LOCKED` so several relays can run.

mod events;
mod orders;

use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use super::{Database, DbResult};
use crate::config::DatabaseConfig;

/// The migrations under `origin/migrations/postgres`, compiled in.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// EventDB and OrderDB in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresDb {
    pool: PgPool,
    name: String,
}

impl PostgresDb {
    /// Wraps a pool.
    pub fn new(pool: PgPool) -> Self {
        let options = pool.connect_options();
        let name = format!(
            "postgres://{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default()
        );
        Self { pool, name }
    }

    /// Opens a pool whose connections are made on first use.
    pub fn connect_lazy(config: &DatabaseConfig) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            .connect_lazy(config.url())
            .map_err(|err| anyhow::anyhow!("invalid --database-url: {err}"))?;
        Ok(Self::new(pool))
    }

    /// Returns the pool, for queries that only PostgreSQL runs, such as test set-up.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl Database for PostgresDb {
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
        "postgres"
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// Returns whether an error is a PostgreSQL unique violation on the named constraint.
fn is_unique_violation(err: &sqlx::Error, constraint: &str) -> bool {
    err.as_database_error()
        .is_some_and(|db| db.code().as_deref() == Some("23505") && db.constraint() == Some(constraint))
}
