//! Support for the plan, seed and search tests: a fresh, migrated PostgreSQL database per test,
//! and paths to the files under `data/`.
//!
//! The server comes from `ONSALE_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). Each test creates a database `onsale_t_<random>`
//! next to the one named there and drops it when the test calls [`TestDb::drop`]. A test that
//! fails leaves its database behind for inspection.

#![allow(dead_code)]

pub mod search_http;

use std::path::PathBuf;

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};

use onsale_origin::db::SharedDatabase;
use onsale_origin::db::postgres::PostgresDb;

pub fn admin_database_url() -> String {
    std::env::var("ONSALE_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn database_url(name: &str) -> String {
    let admin = admin_database_url();
    let base = admin.rsplit_once('/').map(|(base, _)| base).unwrap_or(&admin);
    format!("{base}/{name}")
}

/// A migrated database that belongs to one test.
pub struct TestDb {
    /// The handle that the code under test takes.
    pub database: SharedDatabase,
    /// The same database's pool, for checks in PostgreSQL's SQL.
    pub pool: PgPool,
    pub name: String,
}

impl TestDb {
    pub async fn create() -> Self {
        let name = format!("onsale_t_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let mut admin = PgConnection::connect(&admin_database_url())
            .await
            .expect("PostgreSQL must be running at ONSALE_TEST_DATABASE_URL");
        admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("create the test database");
        admin.close().await.ok();
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect(&database_url(&name))
            .await
            .expect("connect to the test database");
        let database: SharedDatabase = std::sync::Arc::new(PostgresDb::new(pool.clone()));
        onsale_origin::db::migrate(&database).await.expect("migrate the test database");
        Self { database, pool, name }
    }

    /// Returns a database config for the commands' `run` functions, which open their own pool.
    pub fn config(&self) -> onsale_origin::config::DatabaseConfig {
        onsale_origin::config::DatabaseConfig {
            url: Some(onsale_origin::config::Secret::new(database_url(&self.name))),
            max_connections: 4,
            acquire_timeout: std::time::Duration::from_secs(10),
        }
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.expect(sql)
    }

    pub async fn drop(self) {
        self.pool.close().await;
        let mut admin = PgConnection::connect(&admin_database_url()).await.expect("connect to PostgreSQL");
        admin
            .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)))
            .await
            .expect("drop the test database");
    }
}

/// Returns the path of a file under the repository's `data/` folder.
pub fn data_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("data").join(file)
}

pub fn example_plan_bytes() -> Vec<u8> {
    std::fs::read(data_path("pretix_example_plan.json")).expect("read data/pretix_example_plan.json")
}

pub fn example_plan_json() -> serde_json::Value {
    serde_json::from_slice(&example_plan_bytes()).expect("the example plan is JSON")
}

pub fn tour_csv() -> PathBuf {
    data_path("eras_tour_2023_us.csv")
}
