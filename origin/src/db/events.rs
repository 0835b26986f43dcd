//! EventDB queries: venues, seating plans, seats, events and price categories.
//!
//! Writes take a `&mut PgConnection`, so the caller decides the transaction: a plan import and
//! a venue's events each go in one. Reads take the pool.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};

use onsale_shared::EventId;
use onsale_shared::api::{EventSummary, MapCategory, MapRow, MapSeat, MapZone, PriceCategory, SeatMap};

/// Seats written per `INSERT`: 10,000 rows of 8 array parameters stay well under PostgreSQL's
/// 1 GB parameter limit and keep a 70,000-seat plan to 7 round trips.
const SEAT_CHUNK: usize = 10_000;

/// A venue to find or create. Venues are unique by name and city.
#[derive(Debug, Clone)]
pub struct NewVenue<'a> {
    pub name: &'a str,
    pub city: &'a str,
    pub region: &'a str,
    pub country: &'a str,
}

/// Returns the id of the venue with this name and city, creating it if it does not exist, and
/// whether it was created. An existing venue keeps its region and country.
pub async fn find_or_create_venue(conn: &mut PgConnection, venue: &NewVenue<'_>) -> Result<(i64, bool), sqlx::Error> {
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO venues (name, city, region, country) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name, city) DO NOTHING
         RETURNING id",
    )
    .bind(venue.name)
    .bind(venue.city)
    .bind(venue.region)
    .bind(venue.country)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(id) = inserted {
        return Ok((id, true));
    }
    let id = sqlx::query_scalar("SELECT id FROM venues WHERE name = $1 AND city = $2")
        .bind(venue.name)
        .bind(venue.city)
        .fetch_one(&mut *conn)
        .await?;
    Ok((id, false))
}

/// A stored seating plan's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPlan {
    pub id: i64,
    pub name: String,
    pub seat_count: u32,
}

/// Finds the plan imported from a file with this SHA-256 (lowercase hex).
pub async fn find_plan_by_sha256(db: &PgPool, sha256: &str) -> Result<Option<StoredPlan>, sqlx::Error> {
    let row: Option<(i64, String, i32)> =
        sqlx::query_as("SELECT id, name, seat_count FROM seating_plans WHERE source_sha256 = $1")
            .bind(sha256)
            .fetch_optional(db)
            .await?;
    Ok(row.map(|(id, name, seat_count)| StoredPlan { id, name, seat_count: u32::try_from(seat_count).unwrap_or(0) }))
}

/// A seating plan's own row, before its categories and seats.
#[derive(Debug, Clone)]
pub struct NewPlan<'a> {
    pub venue_id: Option<i64>,
    pub name: &'a str,
    pub width: f64,
    pub height: f64,
    pub seat_count: u32,
    pub sha256: &'a str,
    pub areas: &'a serde_json::Value,
}

/// Inserts a plan and returns its id, or `None` when a plan with the same SHA-256 already
/// exists (a concurrent import of the same file won).
pub async fn insert_plan(conn: &mut PgConnection, plan: &NewPlan<'_>) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO seating_plans (venue_id, name, width, height, seat_count, source_sha256, areas)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (source_sha256) DO NOTHING
         RETURNING id",
    )
    .bind(plan.venue_id)
    .bind(plan.name)
    .bind(plan.width)
    .bind(plan.height)
    .bind(i32::try_from(plan.seat_count).unwrap_or(i32::MAX))
    .bind(plan.sha256)
    .bind(plan.areas)
    .fetch_optional(conn)
    .await
}

/// Inserts a plan's categories; each one's position is its index in `categories`.
pub async fn insert_plan_categories(
    conn: &mut PgConnection,
    plan_id: i64,
    categories: &[(String, Option<String>)],
) -> Result<(), sqlx::Error> {
    let positions: Vec<i16> = (0..categories.len()).map(|i| i16::try_from(i).unwrap_or(i16::MAX)).collect();
    let keys: Vec<&str> = categories.iter().map(|(key, _)| key.as_str()).collect();
    let colors: Vec<Option<&str>> = categories.iter().map(|(_, color)| color.as_deref()).collect();
    sqlx::query(
        "INSERT INTO plan_categories (plan_id, position, key, color)
         SELECT $1, position, key, color FROM UNNEST($2::SMALLINT[], $3::TEXT[], $4::TEXT[]) AS t (position, key, color)",
    )
    .bind(plan_id)
    .bind(&positions)
    .bind(&keys)
    .bind(&colors)
    .execute(conn)
    .await?;
    Ok(())
}

/// One seat row to insert. Its seat index is its position in the slice given to [`insert_seats`].
#[derive(Debug, Clone)]
pub struct NewSeat<'a> {
    pub guid: &'a str,
    pub zone: &'a str,
    pub row: &'a str,
    pub number: &'a str,
    pub x: f64,
    pub y: f64,
    /// Position of the seat's plan category.
    pub category: u16,
}

/// Bulk-inserts a plan's seats with `UNNEST` arrays, [`SEAT_CHUNK`] seats per statement.
pub async fn insert_seats(conn: &mut PgConnection, plan_id: i64, seats: &[NewSeat<'_>]) -> Result<(), sqlx::Error> {
    for (chunk_index, chunk) in seats.chunks(SEAT_CHUNK).enumerate() {
        let first = chunk_index * SEAT_CHUNK;
        let indexes: Vec<i32> = (first..first + chunk.len()).map(|i| i32::try_from(i).unwrap_or(i32::MAX)).collect();
        let guids: Vec<&str> = chunk.iter().map(|seat| seat.guid).collect();
        let zones: Vec<&str> = chunk.iter().map(|seat| seat.zone).collect();
        let rows: Vec<&str> = chunk.iter().map(|seat| seat.row).collect();
        let numbers: Vec<&str> = chunk.iter().map(|seat| seat.number).collect();
        let xs: Vec<f64> = chunk.iter().map(|seat| seat.x).collect();
        let ys: Vec<f64> = chunk.iter().map(|seat| seat.y).collect();
        let categories: Vec<i16> = chunk.iter().map(|seat| i16::try_from(seat.category).unwrap_or(i16::MAX)).collect();
        sqlx::query(
            "INSERT INTO seats (plan_id, seat_index, guid, zone, row_number, seat_number, x, y, category)
             SELECT $1, seat_index, guid, zone, row_number, seat_number, x, y, category
             FROM UNNEST($2::INT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::FLOAT8[], $8::FLOAT8[], $9::SMALLINT[])
                  AS t (seat_index, guid, zone, row_number, seat_number, x, y, category)",
        )
        .bind(plan_id)
        .bind(&indexes)
        .bind(&guids)
        .bind(&zones)
        .bind(&rows)
        .bind(&numbers)
        .bind(&xs)
        .bind(&ys)
        .bind(&categories)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Reads the category keys of a plan, in position order.
pub async fn plan_category_keys(db: &PgPool, plan_id: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT key FROM plan_categories WHERE plan_id = $1 ORDER BY position")
        .bind(plan_id)
        .fetch_all(db)
        .await
}

/// Reads the start times of the events already at a venue.
pub async fn event_starts_at_venue(db: &PgPool, venue_id: i64) -> Result<Vec<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar("SELECT starts_at FROM events WHERE venue_id = $1").bind(venue_id).fetch_all(db).await
}

/// An event to create.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub name: &'a str,
    pub venue_id: i64,
    pub plan_id: i64,
    pub city: &'a str,
    pub local_date: NaiveDate,
    pub starts_at: DateTime<Utc>,
}

/// Inserts an event and returns its id, or `None` when the venue already has an event at that
/// start time.
pub async fn insert_event(conn: &mut PgConnection, event: &NewEvent<'_>) -> Result<Option<EventId>, sqlx::Error> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO events (name, venue_id, plan_id, city, local_date, starts_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (venue_id, starts_at) DO NOTHING
         RETURNING id",
    )
    .bind(event.name)
    .bind(event.venue_id)
    .bind(event.plan_id)
    .bind(event.city)
    .bind(event.local_date)
    .bind(event.starts_at)
    .fetch_optional(conn)
    .await?;
    id.map(|id| EventId::new(id).map_err(|err| sqlx::Error::Decode(Box::new(err)))).transpose()
}

/// The price of one plan category at one event.
#[derive(Debug, Clone)]
pub struct NewEventCategory<'a> {
    /// The plan category's key.
    pub key: &'a str,
    /// Name shown to buyers.
    pub name: &'a str,
    pub price_cents: i64,
    /// ISO 4217 code, such as USD.
    pub currency: &'a str,
}

/// Prices plan categories for an event. A category that already has a price keeps it.
pub async fn insert_event_categories(
    conn: &mut PgConnection,
    event: EventId,
    categories: &[NewEventCategory<'_>],
) -> Result<(), sqlx::Error> {
    let keys: Vec<&str> = categories.iter().map(|c| c.key).collect();
    let names: Vec<&str> = categories.iter().map(|c| c.name).collect();
    let prices: Vec<i64> = categories.iter().map(|c| c.price_cents).collect();
    let currencies: Vec<&str> = categories.iter().map(|c| c.currency).collect();
    sqlx::query(
        "INSERT INTO event_categories (event_id, key, name, price_cents, currency)
         SELECT $1, key, name, price, currency FROM UNNEST($2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::TEXT[])
              AS t (key, name, price, currency)
         ON CONFLICT (event_id, key) DO NOTHING",
    )
    .bind(event.get())
    .bind(&keys)
    .bind(&names)
    .bind(&prices)
    .bind(&currencies)
    .execute(conn)
    .await?;
    Ok(())
}

/// Filters of the event browse. Dates are local event dates, both bounds inclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Matched case-insensitively against the whole city name.
    pub city: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub limit: u32,
    pub offset: u32,
}

type SummaryRow = (i64, String, DateTime<Utc>, NaiveDate, String, String, String, String, i32);

const SUMMARY_SELECT: &str =
    "SELECT e.id, e.name, e.starts_at, e.local_date, v.name, e.city, v.region, v.country, p.seat_count
     FROM events e
     JOIN venues v ON v.id = e.venue_id
     JOIN seating_plans p ON p.id = e.plan_id";

fn summary_from_row(row: SummaryRow) -> Result<EventSummary, sqlx::Error> {
    let (id, name, starts_at, local_date, venue, city, region, country, seat_count) = row;
    Ok(EventSummary {
        id: EventId::new(id).map_err(|err| sqlx::Error::Decode(Box::new(err)))?,
        name,
        starts_at,
        local_date,
        venue,
        city,
        region,
        country,
        seat_count: u32::try_from(seat_count).unwrap_or(0),
    })
}

/// Lists the events matching the filter, earliest first.
pub async fn list_events(db: &PgPool, filter: &EventFilter) -> Result<Vec<EventSummary>, sqlx::Error> {
    let mut query = QueryBuilder::<Postgres>::new(SUMMARY_SELECT);
    query.push(" WHERE TRUE");
    // Written as lower(e.city) so the events_city_date index applies.
    if let Some(city) = &filter.city {
        query.push(" AND lower(e.city) = lower(").push_bind(city.clone()).push(")");
    }
    if let Some(from) = filter.from {
        query.push(" AND e.local_date >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        query.push(" AND e.local_date <= ").push_bind(to);
    }
    query.push(" ORDER BY e.starts_at, e.id LIMIT ").push_bind(i64::from(filter.limit));
    query.push(" OFFSET ").push_bind(i64::from(filter.offset));
    let rows: Vec<SummaryRow> = query.build_query_as().fetch_all(db).await?;
    rows.into_iter().map(summary_from_row).collect()
}

/// Reads one event as the browse pages show it, or `None` when it does not exist.
pub async fn event_summary(db: &PgPool, event: EventId) -> Result<Option<EventSummary>, sqlx::Error> {
    let mut query = QueryBuilder::<Postgres>::new(SUMMARY_SELECT);
    query.push(" WHERE e.id = ").push_bind(event.get());
    let row: Option<SummaryRow> = query.build_query_as().fetch_optional(db).await?;
    row.map(summary_from_row).transpose()
}

/// Reads the event's priced categories, in the plan's category order.
pub async fn event_prices(db: &PgPool, event: EventId) -> Result<Vec<PriceCategory>, sqlx::Error> {
    let rows: Vec<(String, String, Option<String>, i64, String)> = sqlx::query_as(
        "SELECT ec.key, ec.name, pc.color, ec.price_cents, ec.currency
         FROM event_categories ec
         JOIN events e ON e.id = ec.event_id
         LEFT JOIN plan_categories pc ON pc.plan_id = e.plan_id AND pc.key = ec.key
         WHERE ec.event_id = $1
         ORDER BY pc.position NULLS LAST, ec.key",
    )
    .bind(event.get())
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(key, name, color, price_cents, currency)| PriceCategory {
            key,
            name,
            color,
            price_cents,
            currency: currency.trim().to_owned(),
        })
        .collect())
}

type SeatRow = (i32, String, String, String, f64, f64, i16);

/// Reads the event's seat geometry, or `None` when the event does not exist. Zones, rows and
/// seats come in seat-index order. Consecutive seats with the same zone and row number form one
/// [`MapRow`], so the k-th seat of a row always has index `first_seat + k`.
pub async fn seat_map(db: &PgPool, event: EventId) -> Result<Option<SeatMap>, sqlx::Error> {
    let plan: Option<(i64, String, f64, f64, i32)> = sqlx::query_as(
        "SELECT p.id, p.name, p.width, p.height, p.seat_count
         FROM events e JOIN seating_plans p ON p.id = e.plan_id
         WHERE e.id = $1",
    )
    .bind(event.get())
    .fetch_optional(db)
    .await?;
    let Some((plan_id, plan_name, width, height, seat_count)) = plan else {
        return Ok(None);
    };

    let category_rows: Vec<(i16, String, Option<String>, Option<i64>)> = sqlx::query_as(
        "SELECT pc.position, pc.key, pc.color, ec.price_cents
         FROM plan_categories pc
         LEFT JOIN event_categories ec ON ec.event_id = $1 AND ec.key = pc.key
         WHERE pc.plan_id = $2
         ORDER BY pc.position",
    )
    .bind(event.get())
    .bind(plan_id)
    .fetch_all(db)
    .await?;
    // Imported plans number their categories 0..n, but the lookup does not depend on it.
    let mut category_index = std::collections::HashMap::with_capacity(category_rows.len());
    let mut categories = Vec::with_capacity(category_rows.len());
    for (i, (position, key, color, price_cents)) in category_rows.into_iter().enumerate() {
        category_index.insert(position, u16::try_from(i).unwrap_or(u16::MAX));
        categories.push(MapCategory { key, color, price_cents });
    }

    let seats: Vec<SeatRow> = sqlx::query_as(
        "SELECT seat_index, zone, row_number, seat_number, x, y, category FROM seats WHERE plan_id = $1 ORDER BY seat_index",
    )
    .bind(plan_id)
    .fetch_all(db)
    .await?;

    let mut zones: Vec<MapZone> = Vec::new();
    let mut next_index: Option<u32> = None;
    for (seat_index, zone, row, number, x, y, category) in seats {
        let seat_index = u32::try_from(seat_index).unwrap_or(0);
        let seat = MapSeat(number, x as f32, y as f32, category_index.get(&category).copied().unwrap_or(u16::MAX));

        if zones.last().is_none_or(|last| last.name != zone) {
            zones.push(MapZone { name: zone, rows: Vec::new() });
        }
        let Some(current_zone) = zones.last_mut() else {
            continue;
        };
        let continues_row =
            next_index == Some(seat_index) && current_zone.rows.last().is_some_and(|last| last.number == row);
        if continues_row {
            if let Some(current_row) = current_zone.rows.last_mut() {
                current_row.seats.push(seat);
            }
        } else {
            current_zone.rows.push(MapRow { number: row, first_seat: seat_index, seats: vec![seat] });
        }
        next_index = Some(seat_index + 1);
    }

    Ok(Some(SeatMap {
        event_id: event,
        plan_name,
        width,
        height,
        seat_count: u32::try_from(seat_count).unwrap_or(0),
        categories,
        zones,
    }))
}
