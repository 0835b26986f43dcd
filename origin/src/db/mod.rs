//! PostgreSQL: EventDB ([`events`]) and OrderDB ([`orders`]), one pool, migrations embedded in
//! the binary.

pub mod events;
pub mod orders;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::config::DatabaseConfig;

/// The migrations under `origin/migrations`, compiled in.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Opens the pool. Connections are made lazily, so a service starts while PostgreSQL is down
/// and answers 503 until it is back.
pub fn connect_lazy(config: &DatabaseConfig) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout)
        .connect_lazy(config.url.expose())
        .map_err(|err| anyhow::anyhow!("invalid --database-url: {err}"))?;
    Ok(pool)
}

/// Opens the pool and checks that PostgreSQL answers.
pub async fn connect(config: &DatabaseConfig) -> anyhow::Result<PgPool> {
    let pool = connect_lazy(config)?;
    sqlx::query("SELECT 1")
        .execute(&pool)
        .await
        .map_err(|err| anyhow::anyhow!("connecting to PostgreSQL failed: {err}"))?;
    Ok(pool)
}

/// Applies pending migrations.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.map_err(|err| anyhow::anyhow!("database migration failed: {err}"))?;
    Ok(())
}

/// Whether an error is a PostgreSQL unique violation on the named constraint.
pub fn is_unique_violation(err: &sqlx::Error, constraint: &str) -> bool {
    err.as_database_error()
        .is_some_and(|db| db.code().as_deref() == Some("23505") && db.constraint() == Some(constraint))
}
