//! OrderDB rows of the ticket worker: a ticket with everything its email shows.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

/// A ticket with everything its email shows, from one query over OrderDB and EventDB. The seat
/// columns are `None` when the seat is missing from the event's seating plan.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TicketForEmail {
    pub order_id: Uuid,
    pub event_id: i64,
    pub seat_index: i32,
    pub secret: Option<String>,
    pub emailed_at: Option<DateTime<Utc>>,
    pub email: String,
    pub ordered_at: DateTime<Utc>,
    pub event_name: String,
    pub starts_at: DateTime<Utc>,
    pub local_date: NaiveDate,
    pub venue_name: String,
    pub venue_city: String,
    pub zone: Option<String>,
    pub row_number: Option<String>,
    pub seat_number: Option<String>,
}
