//! EventDB on PostgreSQL. A plan import and a venue's events each go in one transaction. The
//! bulk inserts send whole columns as arrays and expand them with `UNNEST`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, QueryBuilder};

use onsale_shared::EventId;
use onsale_shared::api::{EventSummary, PriceCategory, SeatMap};

use super::PostgresDb;
use crate::catalog::EventInfo;
use crate::db::events::{
    EventFilter, MapCategoryRow, MapPlanRow, MapSeatRow, NewEvent, NewEventCategory, NewPlan, NewPlanCategory, NewSeat,
    NewVenue, StoredPlan, SummaryRow, assemble_seat_map, summary_from_row,
};
use crate::db::{DbResult, EventDb, SearchDb};

/// Seats written per `INSERT`: 10,000 rows of 8 array parameters stay well under PostgreSQL's
/// 1 GB parameter limit and keep a 70,000-seat plan to 7 round trips.
const SEAT_CHUNK: usize = 10_000;

#[async_trait]
impl EventDb for PostgresDb {
    async fn find_or_create_venue(&self, venue: &NewVenue<'_>) -> DbResult<(i64, bool)> {
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO venues (name, city, region, country) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name, city) DO NOTHING
             RETURNING id",
        )
        .bind(venue.name)
        .bind(venue.city)
        .bind(venue.region)
        .bind(venue.country)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(id) = inserted {
            return Ok((id, true));
        }
        let id = sqlx::query_scalar("SELECT id FROM venues WHERE name = $1 AND city = $2")
            .bind(venue.name)
            .bind(venue.city)
            .fetch_one(&self.pool)
            .await?;
        Ok((id, false))
    }

    async fn find_plan_by_sha256(&self, sha256: &str) -> DbResult<Option<StoredPlan>> {
        let row: Option<(i64, String, i32)> =
            sqlx::query_as("SELECT id, name, seat_count FROM seating_plans WHERE source_sha256 = $1")
                .bind(sha256)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(id, name, seat_count)| StoredPlan {
            id,
            name,
            seat_count: u32::try_from(seat_count).unwrap_or(0),
        }))
    }

    async fn insert_plan(
        &self,
        plan: &NewPlan<'_>,
        categories: &[NewPlanCategory],
        seats: &[NewSeat<'_>],
    ) -> DbResult<Option<i64>> {
        let mut tx = self.pool.begin().await?;
        let Some(plan_id) = insert_plan_row(&mut tx, plan).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        insert_plan_categories(&mut tx, plan_id, categories).await?;
        insert_seats(&mut tx, plan_id, seats).await?;
        tx.commit().await?;
        Ok(Some(plan_id))
    }

    async fn plan_category_keys(&self, plan_id: i64) -> DbResult<Vec<String>> {
        sqlx::query_scalar("SELECT key FROM plan_categories WHERE plan_id = $1 ORDER BY position")
            .bind(plan_id)
            .fetch_all(&self.pool)
            .await
    }

    async fn event_starts_at_venue(&self, venue_id: i64) -> DbResult<Vec<DateTime<Utc>>> {
        sqlx::query_scalar("SELECT starts_at FROM events WHERE venue_id = $1")
            .bind(venue_id)
            .fetch_all(&self.pool)
            .await
    }

    async fn insert_events(
        &self,
        events: &[NewEvent<'_>],
        categories: &[NewEventCategory<'_>],
    ) -> DbResult<Vec<Option<EventId>>> {
        let mut tx = self.pool.begin().await?;
        let mut ids = Vec::with_capacity(events.len());
        for event in events {
            let id = insert_event(&mut tx, event).await?;
            if let Some(id) = id {
                insert_event_categories(&mut tx, id, categories).await?;
            }
            ids.push(id);
        }
        tx.commit().await?;
        Ok(ids)
    }
}

/// Inserts a plan's row and returns its id, or `None` when a plan with the same SHA-256 exists.
async fn insert_plan_row(conn: &mut PgConnection, plan: &NewPlan<'_>) -> DbResult<Option<i64>> {
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

async fn insert_plan_categories(conn: &mut PgConnection, plan_id: i64, categories: &[NewPlanCategory]) -> DbResult<()> {
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

/// Bulk-inserts a plan's seats with `UNNEST` arrays, [`SEAT_CHUNK`] seats per statement.
async fn insert_seats(conn: &mut PgConnection, plan_id: i64, seats: &[NewSeat<'_>]) -> DbResult<()> {
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

/// Inserts an event and returns its id, or `None` when the venue already has an event at that
/// start time.
async fn insert_event(conn: &mut PgConnection, event: &NewEvent<'_>) -> DbResult<Option<EventId>> {
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

/// Prices plan categories for an event. A category that already has a price keeps it.
async fn insert_event_categories(
    conn: &mut PgConnection,
    event: EventId,
    categories: &[NewEventCategory<'_>],
) -> DbResult<()> {
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

const SUMMARY_SELECT: &str =
    "SELECT e.id, e.name, e.starts_at, e.local_date, v.name, e.city, v.region, v.country, p.seat_count
     FROM events e
     JOIN venues v ON v.id = e.venue_id
     JOIN seating_plans p ON p.id = e.plan_id";

#[async_trait]
impl SearchDb for PostgresDb {
    async fn list_events(&self, filter: &EventFilter) -> DbResult<Vec<EventSummary>> {
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
        let rows: Vec<SummaryRow> = query.build_query_as().fetch_all(&self.pool).await?;
        rows.into_iter().map(summary_from_row).collect()
    }

    async fn event_summary(&self, event: EventId) -> DbResult<Option<EventSummary>> {
        let mut query = QueryBuilder::<Postgres>::new(SUMMARY_SELECT);
        query.push(" WHERE e.id = ").push_bind(event.get());
        let row: Option<SummaryRow> = query.build_query_as().fetch_optional(&self.pool).await?;
        row.map(summary_from_row).transpose()
    }

    async fn event_prices(&self, event: EventId) -> DbResult<Vec<PriceCategory>> {
        let rows: Vec<(String, String, Option<String>, i64, String)> = sqlx::query_as(
            "SELECT ec.key, ec.name, pc.color, ec.price_cents, ec.currency
             FROM event_categories ec
             JOIN events e ON e.id = ec.event_id
             LEFT JOIN plan_categories pc ON pc.plan_id = e.plan_id AND pc.key = ec.key
             WHERE ec.event_id = $1
             ORDER BY pc.position NULLS LAST, ec.key",
        )
        .bind(event.get())
        .fetch_all(&self.pool)
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

    async fn seat_map(&self, event: EventId) -> DbResult<Option<SeatMap>> {
        let plan: Option<MapPlanRow> = sqlx::query_as(
            "SELECT p.id, p.name, p.width, p.height, p.seat_count
             FROM events e JOIN seating_plans p ON p.id = e.plan_id
             WHERE e.id = $1",
        )
        .bind(event.get())
        .fetch_optional(&self.pool)
        .await?;
        let Some(plan) = plan else {
            return Ok(None);
        };
        let plan_id = plan.0;

        let categories: Vec<MapCategoryRow> = sqlx::query_as(
            "SELECT pc.position, pc.key, pc.color, ec.price_cents
             FROM plan_categories pc
             LEFT JOIN event_categories ec ON ec.event_id = $1 AND ec.key = pc.key
             WHERE pc.plan_id = $2
             ORDER BY pc.position",
        )
        .bind(event.get())
        .bind(plan_id)
        .fetch_all(&self.pool)
        .await?;

        let seats: Vec<MapSeatRow> = sqlx::query_as(
            "SELECT seat_index, zone, row_number, seat_number, x, y, category FROM seats WHERE plan_id = $1 ORDER BY seat_index",
        )
        .bind(plan_id)
        .fetch_all(&self.pool)
        .await?;

        Ok(Some(assemble_seat_map(event, plan, categories, seats)))
    }

    async fn event_info(&self, event: EventId) -> DbResult<Option<EventInfo>> {
        let row: Option<(String, DateTime<Utc>, i64)> =
            sqlx::query_as("SELECT name, starts_at, plan_id FROM events WHERE id = $1")
                .bind(event.get())
                .fetch_optional(&self.pool)
                .await?;
        let Some((name, starts_at, plan_id)) = row else {
            return Ok(None);
        };

        let categories: Vec<(i16, Option<i64>, Option<String>)> = sqlx::query_as(
            "SELECT pc.position, ec.price_cents, ec.currency
             FROM plan_categories pc
             LEFT JOIN event_categories ec ON ec.event_id = $1 AND ec.key = pc.key
             WHERE pc.plan_id = $2
             ORDER BY pc.position",
        )
        .bind(event.get())
        .bind(plan_id)
        .fetch_all(&self.pool)
        .await?;

        let seat_categories: Vec<i16> =
            sqlx::query_scalar("SELECT category FROM seats WHERE plan_id = $1 ORDER BY seat_index")
                .bind(plan_id)
                .fetch_all(&self.pool)
                .await?;

        Ok(Some(EventInfo::from_rows(event, name, starts_at, categories, seat_categories)))
    }
}
