//! EventDB on SQLite. A plan import and a venue's events each go in one `BEGIN IMMEDIATE`
//! transaction, and seats are written with multi-row `INSERT`s of [`SEAT_CHUNK`] rows.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use onsale_shared::EventId;
use onsale_shared::api::{EventSummary, PriceCategory, SeatMap};

use super::{BEGIN_WRITE, SqliteDb, timestamp};
use crate::catalog::EventInfo;
use crate::db::events::{
    EventFilter, MapCategoryRow, MapPlanRow, MapSeatRow, NewEvent, NewEventCategory, NewPlan, NewPlanCategory, NewSeat,
    NewVenue, StoredPlan, SummaryRow, assemble_seat_map, summary_from_row,
};
use crate::db::{DbResult, EventDb, SearchDb};

/// Seats per `INSERT`. Each seat binds 9 parameters, so 3,000 seats bind 27,000, under the
/// 32,766 that SQLite allows per statement since version 3.32.
const SEAT_CHUNK: usize = 3_000;

#[async_trait]
impl EventDb for SqliteDb {
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
        let row: Option<(i64, String, i64)> =
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
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let plan_id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO seating_plans (venue_id, name, width, height, seat_count, source_sha256, areas)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (source_sha256) DO NOTHING
             RETURNING id",
        )
        .bind(plan.venue_id)
        .bind(plan.name)
        .bind(plan.width)
        .bind(plan.height)
        .bind(i64::from(plan.seat_count))
        .bind(plan.sha256)
        .bind(plan.areas.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(plan_id) = plan_id else {
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
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let mut ids = Vec::with_capacity(events.len());
        for event in events {
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO events (name, venue_id, plan_id, city, local_date, starts_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (venue_id, starts_at) DO NOTHING
                 RETURNING id",
            )
            .bind(event.name)
            .bind(event.venue_id)
            .bind(event.plan_id)
            .bind(event.city)
            .bind(event.local_date)
            .bind(timestamp(event.starts_at))
            .fetch_optional(&mut *tx)
            .await?;
            let id = id.map(|id| EventId::new(id).map_err(|err| sqlx::Error::Decode(Box::new(err)))).transpose()?;
            if let Some(id) = id {
                insert_event_categories(&mut tx, id, categories).await?;
            }
            ids.push(id);
        }
        tx.commit().await?;
        Ok(ids)
    }
}

async fn insert_plan_categories(
    conn: &mut SqliteConnection,
    plan_id: i64,
    categories: &[NewPlanCategory],
) -> DbResult<()> {
    if categories.is_empty() {
        return Ok(());
    }
    let mut query = QueryBuilder::<Sqlite>::new("INSERT INTO plan_categories (plan_id, position, key, color) ");
    query.push_values(categories.iter().enumerate(), |mut row, (position, (key, color))| {
        row.push_bind(plan_id)
            .push_bind(i64::try_from(position).unwrap_or(i64::MAX))
            .push_bind(key.as_str())
            .push_bind(color.as_deref());
    });
    query.build().execute(conn).await?;
    Ok(())
}

/// Inserts a plan's seats, [`SEAT_CHUNK`] per statement. The statements are not cached, because
/// each is large and runs once.
async fn insert_seats(conn: &mut SqliteConnection, plan_id: i64, seats: &[NewSeat<'_>]) -> DbResult<()> {
    for (chunk_index, chunk) in seats.chunks(SEAT_CHUNK).enumerate() {
        let first = chunk_index * SEAT_CHUNK;
        let mut query = QueryBuilder::<Sqlite>::new(
            "INSERT INTO seats (plan_id, seat_index, guid, zone, row_number, seat_number, x, y, category) ",
        );
        query.push_values(chunk.iter().enumerate(), |mut row, (offset, seat)| {
            row.push_bind(plan_id)
                .push_bind(i64::try_from(first + offset).unwrap_or(i64::MAX))
                .push_bind(seat.guid)
                .push_bind(seat.zone)
                .push_bind(seat.row)
                .push_bind(seat.number)
                .push_bind(seat.x)
                .push_bind(seat.y)
                .push_bind(i64::from(seat.category));
        });
        query.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Prices plan categories for an event. A category that already has a price keeps it.
async fn insert_event_categories(
    conn: &mut SqliteConnection,
    event: EventId,
    categories: &[NewEventCategory<'_>],
) -> DbResult<()> {
    if categories.is_empty() {
        return Ok(());
    }
    let mut query =
        QueryBuilder::<Sqlite>::new("INSERT INTO event_categories (event_id, key, name, price_cents, currency) ");
    query.push_values(categories, |mut row, category| {
        row.push_bind(event.get())
            .push_bind(category.key)
            .push_bind(category.name)
            .push_bind(category.price_cents)
            .push_bind(category.currency);
    });
    query.push(" ON CONFLICT (event_id, key) DO NOTHING");
    query.build().execute(conn).await?;
    Ok(())
}

const SUMMARY_SELECT: &str =
    "SELECT e.id, e.name, e.starts_at, e.local_date, v.name, e.city, v.region, v.country, p.seat_count
     FROM events e
     JOIN venues v ON v.id = e.venue_id
     JOIN seating_plans p ON p.id = e.plan_id";

#[async_trait]
impl SearchDb for SqliteDb {
    async fn list_events(&self, filter: &EventFilter) -> DbResult<Vec<EventSummary>> {
        let mut query = QueryBuilder::<Sqlite>::new(SUMMARY_SELECT);
        query.push(" WHERE TRUE");
        // Written as lower(e.city) so the events_city_date index applies.
        // NOTE: SQLite's lower() folds only ASCII letters, so a city such as "MÜNCHEN" does not
        // match "München" here, where PostgreSQL's lower() may match it, depending on its locale.
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
        let mut query = QueryBuilder::<Sqlite>::new(SUMMARY_SELECT);
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
