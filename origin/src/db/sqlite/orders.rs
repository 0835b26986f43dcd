//! OrderDB on SQLite: orders in one `BEGIN IMMEDIATE` transaction with their seats, tickets and
//! outbox rows, refunds, the ticket worker's claims, and the outbox relay's batches.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use onsale_shared::api::{OrderView, TicketView};
use onsale_shared::{EventId, FanId, HoldId, OrderId, SeatIndex, TicketId};

use super::{BEGIN_WRITE, SqliteDb, is_unique_violation, json_array, parse_uuid, timestamp};
use crate::db::orders::{InsertOrderError, NewOrder, SaleCounts, seat_index, stored_seat};
use crate::db::outbox::{OutboxBatch, OutboxLease, OutboxMessage};
use crate::db::tickets::TicketForEmail;
use crate::db::{DbResult, OrderDb, OutboxDb, TicketDb};
use crate::pipeline::TicketMessage;
use crate::pipeline::messages::event_key;
use crate::pipeline::relay::TICKETS;

/// The columns of the seat guard, as SQLite names them when it fires.
const SEAT_GUARD_COLUMNS: &str = "order_seats.event_id, order_seats.seat_index";
/// The column of the one-order-per-hold constraint, as SQLite names it when it fires.
const HOLD_GUARD_COLUMNS: &str = "orders.hold_id";

/// Rows per multi-row `INSERT` of an order's seats, tickets and outbox messages. An order has a
/// few seats, so one statement per table is the rule, and the chunks only bound the parameter
/// count.
const ORDER_ROW_CHUNK: usize = 1_000;

type OrderRow = (String, i64, String, String, i64, String, DateTime<Utc>);
type TicketRow = (String, i32, String, String, String, String, i64, Option<String>, Option<DateTime<Utc>>);

#[async_trait]
impl OrderDb for SqliteDb {
    async fn insert_order(&self, order: &NewOrder<'_>) -> Result<(), InsertOrderError> {
        match self.write_order(order).await {
            Ok(()) => Ok(()),
            Err(err) if is_unique_violation(&err, SEAT_GUARD_COLUMNS) => {
                let seats: Vec<i32> = order.seats.iter().map(|(seat, _)| stored_seat(*seat)).collect();
                let sold: Vec<(i32, String)> = sqlx::query_as(
                    "SELECT seat_index, order_id FROM order_seats
                     WHERE event_id = $1 AND seat_index IN (SELECT value FROM json_each($2))",
                )
                .bind(order.event.get())
                .bind(json_array(&seats))
                .fetch_all(&self.pool)
                .await?;
                let mut seats_sold = Vec::with_capacity(sold.len());
                for (seat, id) in sold {
                    if let Some(seat) = seat_index(seat) {
                        seats_sold.push((seat, OrderId::from_uuid(parse_uuid(&id)?)));
                    }
                }
                Err(InsertOrderError::SeatSold(seats_sold))
            }
            Err(err) if is_unique_violation(&err, HOLD_GUARD_COLUMNS) => Err(InsertOrderError::HoldOrdered),
            Err(err) => Err(InsertOrderError::Database(err)),
        }
    }

    async fn record_refund(
        &self,
        payment_ref: &str,
        event: EventId,
        hold: HoldId,
        amount_cents: i64,
        reason: &str,
    ) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO refunds (payment_ref, event_id, hold_id, amount_cents, reason) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (payment_ref) DO NOTHING",
        )
        .bind(payment_ref)
        .bind(event.get())
        .bind(hold.to_string())
        .bind(amount_cents)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn order_for_hold(&self, hold: HoldId) -> DbResult<Option<(OrderId, FanId)>> {
        let row: Option<(String, String)> = sqlx::query_as("SELECT id, fan_id FROM orders WHERE hold_id = $1")
            .bind(hold.to_string())
            .fetch_optional(&self.pool)
            .await?;
        let Some((id, fan)) = row else {
            return Ok(None);
        };
        let id = OrderId::from_uuid(parse_uuid(&id)?);
        Ok(fan.parse().ok().map(|fan| (id, fan)))
    }

    async fn orders_of_holds(&self, holds: &[HoldId]) -> DbResult<HashMap<HoldId, OrderId>> {
        let ids: Vec<String> = holds.iter().map(HoldId::to_string).collect();
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT hold_id, id FROM orders WHERE hold_id IN (SELECT value FROM json_each($1))")
                .bind(json_array(&ids))
                .fetch_all(&self.pool)
                .await?;
        let mut orders = HashMap::with_capacity(rows.len());
        for (hold, order) in rows {
            orders.insert(HoldId::from_uuid(parse_uuid(&hold)?), OrderId::from_uuid(parse_uuid(&order)?));
        }
        Ok(orders)
    }

    async fn order_view(&self, order: OrderId, fan: &FanId) -> DbResult<Option<OrderView>> {
        let row: Option<OrderRow> = sqlx::query_as(
            "SELECT id, event_id, hold_id, fan_id, total_cents, currency, created_at FROM orders WHERE id = $1",
        )
        .bind(order.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some((id, event_id, hold_id, order_fan, total_cents, currency, created_at)) = row else {
            return Ok(None);
        };
        if order_fan != fan.as_str() {
            return Ok(None);
        }
        let tickets: Vec<TicketRow> = sqlx::query_as(
            "SELECT t.id, t.seat_index, s.zone, s.row_number, s.seat_number, pc.key, os.price_cents, t.secret, t.emailed_at
             FROM tickets t
             JOIN order_seats os ON os.event_id = t.event_id AND os.seat_index = t.seat_index
             JOIN events e ON e.id = t.event_id
             JOIN seats s ON s.plan_id = e.plan_id AND s.seat_index = t.seat_index
             JOIN plan_categories pc ON pc.plan_id = s.plan_id AND pc.position = s.category
             WHERE t.order_id = $1
             ORDER BY t.seat_index",
        )
        .bind(&id)
        .fetch_all(&self.pool)
        .await?;

        let event_id = EventId::new(event_id).map_err(|err| sqlx::Error::Decode(Box::new(err)))?;
        let mut views = Vec::with_capacity(tickets.len());
        for (ticket, seat, zone, row, number, category, price_cents, secret, emailed_at) in tickets {
            let Some(seat) = seat_index(seat) else {
                continue;
            };
            views.push(TicketView {
                ticket_id: TicketId::from_uuid(parse_uuid(&ticket)?),
                seat,
                zone,
                row,
                number,
                category,
                price_cents,
                secret,
                emailed: emailed_at.is_some(),
            });
        }
        Ok(Some(OrderView {
            order_id: OrderId::from_uuid(parse_uuid(&id)?),
            event_id,
            hold_id: HoldId::from_uuid(parse_uuid(&hold_id)?),
            total_cents,
            currency: currency.trim().to_owned(),
            created_at,
            tickets: views,
        }))
    }

    async fn sale_counts(&self, event: EventId) -> DbResult<SaleCounts> {
        let counts: (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT
                (SELECT count(*) FROM orders WHERE event_id = $1),
                (SELECT count(*) FROM order_seats WHERE event_id = $1),
                (SELECT count(*) FROM tickets WHERE event_id = $1 AND emailed_at IS NOT NULL),
                (SELECT count(*) FROM (SELECT seat_index FROM order_seats WHERE event_id = $1
                                       GROUP BY seat_index HAVING count(*) > 1) AS twice)",
        )
        .bind(event.get())
        .fetch_one(&self.pool)
        .await?;
        Ok(SaleCounts::from_counts(counts))
    }

    async fn sold_seats(&self, event: EventId) -> DbResult<Vec<(SeatIndex, OrderId)>> {
        let rows: Vec<(i32, String)> =
            sqlx::query_as("SELECT seat_index, order_id FROM order_seats WHERE event_id = $1")
                .bind(event.get())
                .fetch_all(&self.pool)
                .await?;
        let mut sold = Vec::with_capacity(rows.len());
        for (seat, order) in rows {
            if let Some(seat) = seat_index(seat) {
                sold.push((seat, OrderId::from_uuid(parse_uuid(&order)?)));
            }
        }
        Ok(sold)
    }

    async fn ticket_delivery_millis(&self, event: EventId) -> DbResult<Vec<Option<i64>>> {
        let rows: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT o.created_at, t.emailed_at FROM tickets t JOIN orders o ON o.id = t.order_id WHERE t.event_id = $1",
        )
        .bind(event.get())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(ordered, emailed)| crate::db::delivery_millis(ordered, emailed)).collect())
    }
}

impl SqliteDb {
    /// Writes an order in one write transaction: the order row, then one multi-row `INSERT` each
    /// for its seats, its tickets and its outbox messages.
    async fn write_order(&self, order: &NewOrder<'_>) -> Result<(), sqlx::Error> {
        let messages = order.ticket_messages();
        let order_id = order.id.to_string();

        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        sqlx::query(
            "INSERT INTO orders (id, event_id, hold_id, fan_id, email, total_cents, currency, payment_ref)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&order_id)
        .bind(order.event.get())
        .bind(order.hold.to_string())
        .bind(order.fan.as_str())
        .bind(order.email)
        .bind(order.total_cents())
        .bind(order.currency)
        .bind(order.payment_ref)
        .execute(&mut *tx)
        .await?;

        for chunk in order.seats.chunks(ORDER_ROW_CHUNK) {
            let mut query =
                QueryBuilder::<Sqlite>::new("INSERT INTO order_seats (order_id, event_id, seat_index, price_cents) ");
            query.push_values(chunk, |mut row, (seat, price)| {
                row.push_bind(&order_id).push_bind(order.event.get()).push_bind(stored_seat(*seat)).push_bind(*price);
            });
            query.build().execute(&mut *tx).await?;
        }
        insert_tickets(&mut tx, &order_id, &messages).await?;
        insert_outbox(&mut tx, &messages).await?;

        tx.commit().await
    }
}

async fn insert_tickets(conn: &mut SqliteConnection, order_id: &str, messages: &[TicketMessage]) -> DbResult<()> {
    for chunk in messages.chunks(ORDER_ROW_CHUNK) {
        let mut query = QueryBuilder::<Sqlite>::new("INSERT INTO tickets (id, order_id, event_id, seat_index) ");
        query.push_values(chunk, |mut row, message| {
            row.push_bind(message.ticket_id.to_string())
                .push_bind(order_id)
                .push_bind(message.event_id.get())
                .push_bind(stored_seat(message.seat));
        });
        query.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Writes one outbox row per ticket message, keyed by the event like every TicketStream message.
async fn insert_outbox(conn: &mut SqliteConnection, messages: &[TicketMessage]) -> DbResult<()> {
    for chunk in messages.chunks(ORDER_ROW_CHUNK) {
        let mut query = QueryBuilder::<Sqlite>::new("INSERT INTO outbox (topic, message_key, payload) ");
        query.push_values(chunk, |mut row, message| {
            row.push_bind(TICKETS)
                .push_bind(event_key(message.event_id))
                .push_bind(serde_json::to_string(message).unwrap_or_default());
        });
        query.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// SQLite's current time in the schema's timestamp format, as an SQL expression.
macro_rules! now_sql {
    () => {
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
    };
}

#[async_trait]
impl TicketDb for SqliteDb {
    async fn ticket_for_email(&self, ticket: TicketId) -> DbResult<Option<TicketForEmail>> {
        let row = sqlx::query(
            "SELECT t.order_id, t.event_id, t.seat_index, t.secret, t.emailed_at,
                    o.email, o.created_at AS ordered_at,
                    e.name AS event_name, e.starts_at, e.local_date,
                    v.name AS venue_name, v.city AS venue_city,
                    s.zone, s.row_number, s.seat_number
             FROM tickets t
             JOIN orders o ON o.id = t.order_id
             JOIN events e ON e.id = t.event_id
             JOIN venues v ON v.id = e.venue_id
             LEFT JOIN seats s ON s.plan_id = e.plan_id AND s.seat_index = t.seat_index
             WHERE t.id = $1",
        )
        .bind(ticket.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(ticket_from_row).transpose()
    }

    async fn store_ticket_secret(&self, ticket: TicketId, secret: &str) -> DbResult<String> {
        sqlx::query_scalar("UPDATE tickets SET secret = COALESCE(secret, $2) WHERE id = $1 RETURNING secret")
            .bind(ticket.to_string())
            .bind(secret)
            .fetch_one(&self.pool)
            .await
    }

    async fn claim_ticket_email(&self, ticket: TicketId, lease: Duration) -> DbResult<Option<DateTime<Utc>>> {
        // A strftime modifier such as "-120.000 seconds": the claims older than the lease.
        let lease_modifier = format!("-{}.{:03} seconds", lease.as_secs(), lease.subsec_millis());
        sqlx::query_scalar(concat!(
            "UPDATE tickets SET email_claimed_at = ",
            now_sql!(),
            " WHERE id = $1 AND emailed_at IS NULL
               AND (email_claimed_at IS NULL OR email_claimed_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', $2))
             RETURNING email_claimed_at"
        ))
        .bind(ticket.to_string())
        .bind(lease_modifier)
        .fetch_optional(&self.pool)
        .await
    }

    async fn release_ticket_claim(&self, ticket: TicketId, claimed_at: DateTime<Utc>) -> DbResult<()> {
        sqlx::query(
            "UPDATE tickets SET email_claimed_at = NULL
             WHERE id = $1 AND emailed_at IS NULL AND email_claimed_at = $2",
        )
        .bind(ticket.to_string())
        .bind(timestamp(claimed_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn record_ticket_emailed(&self, ticket: TicketId) -> DbResult<()> {
        sqlx::query(concat!("UPDATE tickets SET emailed_at = ", now_sql!(), " WHERE id = $1 AND emailed_at IS NULL"))
            .bind(ticket.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn is_ticket_emailed(&self, ticket: TicketId) -> DbResult<bool> {
        sqlx::query_scalar("SELECT emailed_at IS NOT NULL FROM tickets WHERE id = $1")
            .bind(ticket.to_string())
            .fetch_one(&self.pool)
            .await
    }
}

fn ticket_from_row(row: &SqliteRow) -> DbResult<TicketForEmail> {
    Ok(TicketForEmail {
        order_id: parse_uuid(&row.try_get::<String, _>("order_id")?)?,
        event_id: row.try_get("event_id")?,
        seat_index: row.try_get("seat_index")?,
        secret: row.try_get("secret")?,
        emailed_at: row.try_get("emailed_at")?,
        email: row.try_get("email")?,
        ordered_at: row.try_get("ordered_at")?,
        event_name: row.try_get("event_name")?,
        starts_at: row.try_get("starts_at")?,
        local_date: row.try_get("local_date")?,
        venue_name: row.try_get("venue_name")?,
        venue_city: row.try_get("venue_city")?,
        zone: row.try_get("zone")?,
        row_number: row.try_get("row_number")?,
        seat_number: row.try_get("seat_number")?,
    })
}

#[async_trait]
impl OutboxDb for SqliteDb {
    async fn lease_outbox(&self, limit: u32) -> DbResult<OutboxBatch> {
        let rows: Vec<(i64, String, String, String)> =
            sqlx::query_as("SELECT id, topic, message_key, payload FROM outbox ORDER BY id LIMIT $1")
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
        let messages = rows
            .into_iter()
            .map(|(id, topic, key, payload)| OutboxMessage { id, topic, key, payload: payload.into_bytes() })
            .collect();
        Ok(OutboxBatch::new(messages, Box::new(UnlockedRows { pool: self.pool.clone() })))
    }

    async fn requeue_unsent_tickets(&self) -> DbResult<u64> {
        // The payload is a `TicketMessage` in JSON, as `insert_order` writes it.
        let written = sqlx::query(
            "INSERT INTO outbox (topic, message_key, payload)
             SELECT $1, CAST(t.event_id AS TEXT),
                    json_object('ticket_id', t.id, 'order_id', t.order_id,
                                'event_id', t.event_id, 'seat', t.seat_index)
             FROM tickets t
             WHERE t.emailed_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM outbox o WHERE json_extract(o.payload, '$.ticket_id') = t.id)
             ORDER BY t.order_id, t.seat_index",
        )
        .bind(TICKETS)
        .execute(&self.pool)
        .await?;
        Ok(written.rows_affected())
    }
}

/// A batch read without a lock; finishing it deletes what was delivered.
struct UnlockedRows {
    pool: SqlitePool,
}

#[async_trait]
impl OutboxLease for UnlockedRows {
    async fn finish(self: Box<Self>, delivered: &[i64]) -> Result<(), sqlx::Error> {
        if delivered.is_empty() {
            return Ok(());
        }
        sqlx::query("DELETE FROM outbox WHERE id IN (SELECT value FROM json_each($1))")
            .bind(json_array(delivered))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
