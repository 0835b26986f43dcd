//! EventDB and OrderDB behind five traits with two backends, chosen by the scheme of
//! `--database-url`:
//!
//! - [`postgres`]: PostgreSQL (`postgres://` or `postgresql://`), for production, where several
//!   service instances share one database.
//! - [`sqlite`]: a SQLite file opened by this process (`sqlite://PATH`), for trying onsale out
//!   and single-box events, or a database in memory (`sqlite::memory:`) for tests.
//!
//! One trait per concern. [`EventDb`] writes venues, plans and events, and [`SearchDb`] reads
//! them for the browse pages and the sale paths. [`OrderDb`] writes and reads orders and
//! refunds, [`TicketDb`] claims and records ticket emails, and [`OutboxDb`] hands the ticket
//! messages to the relay. Both backends pass the same contract tests
//! (`origin/tests/contract/db.rs`): an order, its seats, tickets and outbox rows are written in
//! one transaction, and a UNIQUE constraint per seat turns a second sale of a seat into
//! [`InsertOrderError::SeatSold`].
//!
//! Both backends return `sqlx::Error`. [`is_unavailable`] tells a database that is down, busy
//! or out of connections (a 503) from a query that failed (a 500).
//!
//! - [`events`], [`orders`], [`tickets`], [`outbox`]: the rows the traits take and return.

pub mod events;
pub mod orders;
pub mod outbox;
pub mod postgres;
pub mod sqlite;
pub mod tickets;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use onsale_shared::api::{EventSummary, OrderView, PriceCategory, SeatMap};
use onsale_shared::{EventId, FanId, HoldId, OrderId, SeatIndex, TicketId};

use crate::catalog::EventInfo;
use crate::config::DatabaseConfig;

pub use events::{EventFilter, NewEvent, NewEventCategory, NewPlan, NewPlanCategory, NewSeat, NewVenue, StoredPlan};
pub use orders::{InsertOrderError, NewOrder, SaleCounts};
pub use outbox::{OutboxBatch, OutboxMessage};
pub use tickets::TicketForEmail;

pub type DbResult<T> = Result<T, sqlx::Error>;

/// EventDB writes, and the lookups that import-plan and seed make before writing.
#[async_trait]
pub trait EventDb: Send + Sync {
    /// Returns the id of the venue with this name and city, creating it if it does not exist,
    /// and whether it was created. An existing venue keeps its region and country.
    async fn find_or_create_venue(&self, venue: &NewVenue<'_>) -> DbResult<(i64, bool)>;

    /// Finds the plan imported from a file with this SHA-256 (lowercase hex).
    async fn find_plan_by_sha256(&self, sha256: &str) -> DbResult<Option<StoredPlan>>;

    /// Inserts a plan with its categories and seats in one transaction, and returns its id, or
    /// `None` when a plan with the same SHA-256 already exists (a concurrent import of the same
    /// file won) and nothing was written. A category's position and a seat's index are their
    /// indexes in `categories` and `seats`.
    async fn insert_plan(
        &self,
        plan: &NewPlan<'_>,
        categories: &[NewPlanCategory],
        seats: &[NewSeat<'_>],
    ) -> DbResult<Option<i64>>;

    /// Reads the category keys of a plan, in position order.
    async fn plan_category_keys(&self, plan_id: i64) -> DbResult<Vec<String>>;

    /// Reads the start times of the events already at a venue.
    async fn event_starts_at_venue(&self, venue_id: i64) -> DbResult<Vec<DateTime<Utc>>>;

    /// Inserts events, each priced with `categories`, in one transaction. Returns each event's
    /// id in the order of `events`, or `None` where the venue already has an event at that start
    /// time.
    async fn insert_events(
        &self,
        events: &[NewEvent<'_>],
        categories: &[NewEventCategory<'_>],
    ) -> DbResult<Vec<Option<EventId>>>;
}

/// EventDB reads: the browse pages, the seat map and what the sale paths cache.
#[async_trait]
pub trait SearchDb: Send + Sync {
    /// Lists the events matching the filter, earliest first.
    async fn list_events(&self, filter: &EventFilter) -> DbResult<Vec<EventSummary>>;

    /// Reads one event as the browse pages show it, or `None` when it does not exist.
    async fn event_summary(&self, event: EventId) -> DbResult<Option<EventSummary>>;

    /// Reads the event's priced categories, in the plan's category order.
    async fn event_prices(&self, event: EventId) -> DbResult<Vec<PriceCategory>>;

    /// Reads the event's seat geometry, or `None` when the event does not exist. Zones, rows
    /// and seats come in seat-index order.
    async fn seat_map(&self, event: EventId) -> DbResult<Option<SeatMap>>;

    /// Reads what the hold and confirm paths need about an event: each seat's price and the
    /// currency. `None` when the event does not exist.
    async fn event_info(&self, event: EventId) -> DbResult<Option<EventInfo>>;
}

/// OrderDB: orders, their sold seats, and refunds.
#[async_trait]
pub trait OrderDb: Send + Sync {
    /// Writes the order, its seats, one ticket per seat and one outbox message per ticket, all
    /// or nothing.
    async fn insert_order(&self, order: &NewOrder<'_>) -> Result<(), InsertOrderError>;

    /// Records a charge that was given back, for reconciliation with the payment provider. A
    /// second record of the same payment is ignored.
    async fn record_refund(
        &self,
        payment_ref: &str,
        event: EventId,
        hold: HoldId,
        amount_cents: i64,
        reason: &str,
    ) -> DbResult<()>;

    /// Returns the id of a hold's order with its fan, if one exists.
    async fn order_for_hold(&self, hold: HoldId) -> DbResult<Option<(OrderId, FanId)>>;

    /// Returns the orders of those of the given holds that have one.
    async fn orders_of_holds(&self, holds: &[HoldId]) -> DbResult<HashMap<HoldId, OrderId>>;

    /// Reads an order with its tickets and their seats, if it belongs to `fan`.
    async fn order_view(&self, order: OrderId, fan: &FanId) -> DbResult<Option<OrderView>>;

    /// Counts an event's orders, sold seats, emailed tickets and seats sold more than once.
    async fn sale_counts(&self, event: EventId) -> DbResult<SaleCounts>;

    /// Lists every sold seat of an event with its order.
    async fn sold_seats(&self, event: EventId) -> DbResult<Vec<(SeatIndex, OrderId)>>;

    /// Returns, for each of an event's tickets, the time from its order's commit to its email
    /// in milliseconds, or `None` while the email is not written.
    async fn ticket_delivery_millis(&self, event: EventId) -> DbResult<Vec<Option<i64>>>;
}

/// Milliseconds from `ordered` to `emailed`, `None` when the ticket is not emailed yet.
pub(crate) fn delivery_millis(ordered: DateTime<Utc>, emailed: Option<DateTime<Utc>>) -> Option<i64> {
    emailed.map(|emailed| (emailed - ordered).num_milliseconds())
}

/// OrderDB as the ticket worker uses it: one email per ticket, however often its message
/// arrives.
#[async_trait]
pub trait TicketDb: Send + Sync {
    /// Reads a ticket with its order, event, venue and seat, or `None` when it does not exist.
    async fn ticket_for_email(&self, ticket: TicketId) -> DbResult<Option<TicketForEmail>>;

    /// Stores `secret` unless the ticket has one, and returns the stored one.
    async fn store_ticket_secret(&self, ticket: TicketId, secret: &str) -> DbResult<String>;

    /// Claims the ticket for sending, in one atomic step. Returns the claim time, or `None`
    /// when the ticket was emailed or has a claim younger than `lease`.
    async fn claim_ticket_email(&self, ticket: TicketId, lease: Duration) -> DbResult<Option<DateTime<Utc>>>;

    /// Clears the claim made at `claimed_at`, unless the ticket was emailed or claimed again.
    async fn release_ticket_claim(&self, ticket: TicketId, claimed_at: DateTime<Utc>) -> DbResult<()>;

    /// Records that the ticket was emailed; a second record keeps the first time.
    async fn record_ticket_emailed(&self, ticket: TicketId) -> DbResult<()>;

    /// Returns whether the ticket was emailed. Fails with `RowNotFound` for a missing ticket.
    async fn is_ticket_emailed(&self, ticket: TicketId) -> DbResult<bool>;
}

/// The outbox of ticket messages.
#[async_trait]
pub trait OutboxDb: Send + Sync {
    /// Takes up to `limit` of the oldest outbox messages. Until the batch is finished, other
    /// relays on PostgreSQL skip them; on SQLite they do not (see [`sqlite`]).
    async fn lease_outbox(&self, limit: u32) -> DbResult<OutboxBatch>;

    /// Writes an outbox message for every ticket that is not emailed and has none waiting.
    /// After a restart on the in-process event log, whose messages died with the process, this
    /// sends those tickets again. Returns how many messages were written.
    async fn requeue_unsent_tickets(&self) -> DbResult<u64>;
}

/// EventDB and OrderDB in one database.
#[async_trait]
pub trait Database: EventDb + SearchDb + OrderDb + TicketDb + OutboxDb {
    /// Checks that the database answers.
    async fn ping(&self) -> DbResult<()>;

    /// Applies the backend's pending migrations.
    async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError>;

    /// Closes every connection; later calls fail with `PoolClosed`.
    async fn close(&self);

    /// The backend's name, for logs: `postgres` or `sqlite`.
    fn backend(&self) -> &'static str;

    /// A name that tells this database from others in the same process, without credentials,
    /// such as `postgres://127.0.0.1:5432/onsale` or `sqlite:/var/lib/onsale/onsale.db`.
    fn name(&self) -> &str;
}

/// A shared handle to whichever database the configuration selected.
pub type SharedDatabase = Arc<dyn Database>;

/// The database engine of a `--database-url`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// Reads the engine from the URL's scheme. The error never contains the URL, which may
    /// hold a password.
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        let scheme = url.split_once(':').map(|(scheme, _)| scheme.to_ascii_lowercase()).unwrap_or_default();
        match scheme.as_str() {
            "postgres" | "postgresql" => Ok(Self::Postgres),
            "sqlite" => Ok(Self::Sqlite),
            _ => anyhow::bail!(
                "invalid --database-url: expected a URL that starts with postgres://, postgresql://, \
                 sqlite://PATH or sqlite::memory:"
            ),
        }
    }
}

/// Opens the database that `config.url` names. PostgreSQL connections are made lazily, so a
/// service starts while PostgreSQL is down and answers 503 until it is back. A SQLite file and
/// its directory are created when missing.
pub fn connect_lazy(config: &DatabaseConfig) -> anyhow::Result<SharedDatabase> {
    Ok(match Backend::from_url(config.url())? {
        Backend::Postgres => Arc::new(postgres::PostgresDb::connect_lazy(config)?),
        Backend::Sqlite => Arc::new(sqlite::SqliteDb::connect_lazy(config)?),
    })
}

/// Opens the database and checks that it answers.
pub async fn connect(config: &DatabaseConfig) -> anyhow::Result<SharedDatabase> {
    let db = connect_lazy(config)?;
    db.ping().await.map_err(|err| anyhow::anyhow!("connecting to the {} database failed: {err}", db.backend()))?;
    Ok(db)
}

/// Applies pending migrations.
pub async fn migrate(db: &SharedDatabase) -> anyhow::Result<()> {
    db.migrate().await.map_err(|err| anyhow::anyhow!("{} database migration failed: {err}", db.backend()))
}

/// Returns whether an error means that the database is down, busy or out of connections, so
/// that the same request may succeed later: a 503, not a 500.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => sqlite::is_busy(db.as_ref()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_follows_the_url_scheme() {
        assert_eq!(Backend::from_url("postgres://postgres@127.0.0.1:5432/onsale").unwrap(), Backend::Postgres);
        assert_eq!(Backend::from_url("postgresql://u:p@db.internal/onsale").unwrap(), Backend::Postgres);
        assert_eq!(Backend::from_url("sqlite://var/onsale.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::from_url("sqlite:///var/lib/onsale/onsale.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::from_url("sqlite::memory:").unwrap(), Backend::Sqlite);
    }

    #[test]
    fn unknown_scheme_error_hides_the_url() {
        let err = Backend::from_url("mysql://admin:hunter2@db/onsale").unwrap_err().to_string();
        assert!(err.contains("postgres://"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        assert!(Backend::from_url("onsale.db").is_err());
    }
}
