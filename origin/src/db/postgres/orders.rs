//! OrderDB on PostgreSQL: orders in one transaction with their seats, tickets and outbox rows,
//! refunds, the ticket worker's claims, and the outbox relay's batches.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use onsale_shared::api::{OrderView, TicketView};
use onsale_shared::{EventId, FanId, HoldId, OrderId, SeatIndex, TicketId};

use super::{PostgresDb, is_unique_violation};
use crate::db::orders::{InsertOrderError, NewOrder, SaleCounts, seat_index, stored_seat};
use crate::db::outbox::{OutboxBatch, OutboxLease, OutboxMessage};
use crate::db::tickets::TicketForEmail;
use crate::db::{DbResult, OrderDb, OutboxDb, TicketDb};
use crate::pipeline::messages::event_key;
use crate::pipeline::relay::TICKETS;

type OrderRow = (Uuid, i64, Uuid, String, i64, String, DateTime<Utc>);
type TicketRow = (Uuid, i32, String, String, String, String, i64, Option<String>, Option<DateTime<Utc>>);

#[async_trait]
impl OrderDb for PostgresDb {
    async fn insert_order(&self, order: &NewOrder<'_>) -> Result<(), InsertOrderError> {
        match self.write_order(order).await {
            Ok(()) => Ok(()),
            Err(err) if is_unique_violation(&err, "order_seats_one_sale_per_seat") => {
                let seats: Vec<i32> = order.seats.iter().map(|(seat, _)| stored_seat(*seat)).collect();
                let sold: Vec<(i32, Uuid)> = sqlx::query_as(
                    "SELECT seat_index, order_id FROM order_seats WHERE event_id = $1 AND seat_index = ANY($2)",
                )
                .bind(order.event.get())
                .bind(&seats)
                .fetch_all(&self.pool)
                .await?;
                Err(InsertOrderError::SeatSold(
                    sold.into_iter()
                        .filter_map(|(seat, id)| Some((seat_index(seat)?, OrderId::from_uuid(id))))
                        .collect(),
                ))
            }
            Err(err) if is_unique_violation(&err, "orders_hold_id_key") => Err(InsertOrderError::HoldOrdered),
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
        .bind(hold.as_uuid())
        .bind(amount_cents)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn order_for_hold(&self, hold: HoldId) -> DbResult<Option<(OrderId, FanId)>> {
        let row: Option<(Uuid, String)> = sqlx::query_as("SELECT id, fan_id FROM orders WHERE hold_id = $1")
            .bind(hold.as_uuid())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.and_then(|(id, fan)| Some((OrderId::from_uuid(id), fan.parse().ok()?))))
    }

    async fn orders_of_holds(&self, holds: &[HoldId]) -> DbResult<HashMap<HoldId, OrderId>> {
        let ids: Vec<Uuid> = holds.iter().map(HoldId::as_uuid).collect();
        let rows: Vec<(Uuid, Uuid)> = sqlx::query_as("SELECT hold_id, id FROM orders WHERE hold_id = ANY($1)")
            .bind(&ids)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|(hold, order)| (HoldId::from_uuid(hold), OrderId::from_uuid(order))).collect())
    }

    async fn order_view(&self, order: OrderId, fan: &FanId) -> DbResult<Option<OrderView>> {
        let row: Option<OrderRow> = sqlx::query_as(
            "SELECT id, event_id, hold_id, fan_id, total_cents, currency, created_at FROM orders WHERE id = $1",
        )
        .bind(order.as_uuid())
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
        .bind(id)
        .fetch_all(&self.pool)
        .await?;

        let event_id = EventId::new(event_id).map_err(|err| sqlx::Error::Decode(Box::new(err)))?;
        let tickets = tickets
            .into_iter()
            .filter_map(|(ticket, seat, zone, row, number, category, price_cents, secret, emailed_at)| {
                Some(TicketView {
                    ticket_id: TicketId::from_uuid(ticket),
                    seat: seat_index(seat)?,
                    zone,
                    row,
                    number,
                    category,
                    price_cents,
                    secret,
                    emailed: emailed_at.is_some(),
                })
            })
            .collect();
        Ok(Some(OrderView {
            order_id: OrderId::from_uuid(id),
            event_id,
            hold_id: HoldId::from_uuid(hold_id),
            total_cents,
            currency: currency.trim().to_owned(),
            created_at,
            tickets,
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
        let rows: Vec<(i32, Uuid)> = sqlx::query_as("SELECT seat_index, order_id FROM order_seats WHERE event_id = $1")
            .bind(event.get())
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().filter_map(|(seat, order)| Some((seat_index(seat)?, OrderId::from_uuid(order)))).collect())
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

impl PostgresDb {
    /// Writes an order in one transaction of five statements, each row set sent as arrays.
    async fn write_order(&self, order: &NewOrder<'_>) -> Result<(), sqlx::Error> {
        let seat_indexes: Vec<i32> = order.seats.iter().map(|(seat, _)| stored_seat(*seat)).collect();
        let prices: Vec<i64> = order.seats.iter().map(|(_, price)| *price).collect();
        let messages = order.ticket_messages();
        let ticket_ids: Vec<Uuid> = messages.iter().map(|message| message.ticket_id.as_uuid()).collect();
        let payloads: Vec<serde_json::Value> =
            messages.iter().map(|message| serde_json::to_value(message).unwrap_or_default()).collect();

        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO orders (id, event_id, hold_id, fan_id, email, total_cents, currency, payment_ref)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(order.id.as_uuid())
        .bind(order.event.get())
        .bind(order.hold.as_uuid())
        .bind(order.fan.as_str())
        .bind(order.email)
        .bind(order.total_cents())
        .bind(order.currency)
        .bind(order.payment_ref)
        .execute(&mut *tx)
        .await?;

        sqlx::query(
            "INSERT INTO order_seats (order_id, event_id, seat_index, price_cents)
             SELECT $1, $2, seat, price FROM UNNEST($3::INT[], $4::BIGINT[]) AS t (seat, price)",
        )
        .bind(order.id.as_uuid())
        .bind(order.event.get())
        .bind(&seat_indexes)
        .bind(&prices)
        .execute(&mut *tx)
        .await?;

        sqlx::query(
            "INSERT INTO tickets (id, order_id, event_id, seat_index)
             SELECT id, $1, $2, seat FROM UNNEST($3::UUID[], $4::INT[]) AS t (id, seat)",
        )
        .bind(order.id.as_uuid())
        .bind(order.event.get())
        .bind(&ticket_ids)
        .bind(&seat_indexes)
        .execute(&mut *tx)
        .await?;

        sqlx::query(
            "INSERT INTO outbox (topic, message_key, payload)
             SELECT $1, $2, payload FROM UNNEST($3::JSONB[]) AS t (payload)",
        )
        .bind(TICKETS)
        .bind(event_key(order.event))
        .bind(&payloads)
        .execute(&mut *tx)
        .await?;

        tx.commit().await
    }
}

#[async_trait]
impl TicketDb for PostgresDb {
    async fn ticket_for_email(&self, ticket: TicketId) -> DbResult<Option<TicketForEmail>> {
        sqlx::query_as(
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
        .bind(ticket.as_uuid())
        .fetch_optional(&self.pool)
        .await
    }

    async fn store_ticket_secret(&self, ticket: TicketId, secret: &str) -> DbResult<String> {
        let (stored,): (String,) =
            sqlx::query_as("UPDATE tickets SET secret = COALESCE(secret, $2) WHERE id = $1 RETURNING secret")
                .bind(ticket.as_uuid())
                .bind(secret)
                .fetch_one(&self.pool)
                .await?;
        Ok(stored)
    }

    async fn claim_ticket_email(&self, ticket: TicketId, lease: Duration) -> DbResult<Option<DateTime<Utc>>> {
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let claimed: Option<(DateTime<Utc>,)> = sqlx::query_as(
            "UPDATE tickets SET email_claimed_at = now()
             WHERE id = $1 AND emailed_at IS NULL
               AND (email_claimed_at IS NULL OR email_claimed_at < now() - $2 * interval '1 millisecond')
             RETURNING email_claimed_at",
        )
        .bind(ticket.as_uuid())
        .bind(lease_ms)
        .fetch_optional(&self.pool)
        .await?;
        Ok(claimed.map(|(at,)| at))
    }

    async fn release_ticket_claim(&self, ticket: TicketId, claimed_at: DateTime<Utc>) -> DbResult<()> {
        sqlx::query(
            "UPDATE tickets SET email_claimed_at = NULL
             WHERE id = $1 AND emailed_at IS NULL AND email_claimed_at = $2",
        )
        .bind(ticket.as_uuid())
        .bind(claimed_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn record_ticket_emailed(&self, ticket: TicketId) -> DbResult<()> {
        sqlx::query("UPDATE tickets SET emailed_at = now() WHERE id = $1 AND emailed_at IS NULL")
            .bind(ticket.as_uuid())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn is_ticket_emailed(&self, ticket: TicketId) -> DbResult<bool> {
        let (emailed,): (bool,) = sqlx::query_as("SELECT emailed_at IS NOT NULL FROM tickets WHERE id = $1")
            .bind(ticket.as_uuid())
            .fetch_one(&self.pool)
            .await?;
        Ok(emailed)
    }
}

#[async_trait]
impl OutboxDb for PostgresDb {
    async fn lease_outbox(&self, limit: u32) -> DbResult<OutboxBatch> {
        let mut tx = self.pool.begin().await?;
        let rows: Vec<(i64, String, String, serde_json::Value)> = sqlx::query_as(
            "SELECT id, topic, message_key, payload FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let messages = rows
            .into_iter()
            .map(|(id, topic, key, payload)| OutboxMessage {
                id,
                topic,
                key,
                payload: serde_json::to_vec(&payload).unwrap_or_default(),
            })
            .collect();
        Ok(OutboxBatch::new(messages, Box::new(LockedRows { tx })))
    }

    async fn requeue_unsent_tickets(&self) -> DbResult<u64> {
        // The payload is a `TicketMessage` in JSON, as `insert_order` writes it.
        let written = sqlx::query(
            "INSERT INTO outbox (topic, message_key, payload)
             SELECT $1, t.event_id::TEXT,
                    jsonb_build_object('ticket_id', t.id, 'order_id', t.order_id,
                                       'event_id', t.event_id, 'seat', t.seat_index)
             FROM tickets t
             WHERE t.emailed_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.payload ->> 'ticket_id' = t.id::TEXT)
             ORDER BY t.order_id, t.seat_index",
        )
        .bind(TICKETS)
        .execute(&self.pool)
        .await?;
        Ok(written.rows_affected())
    }
}

/// The transaction that holds a batch's rows locked until it is finished.
struct LockedRows {
    tx: Transaction<'static, Postgres>,
}

#[async_trait]
impl OutboxLease for LockedRows {
    async fn finish(self: Box<Self>, delivered: &[i64]) -> Result<(), sqlx::Error> {
        let mut tx = self.tx;
        if !delivered.is_empty() {
            sqlx::query("DELETE FROM outbox WHERE id = ANY($1)").bind(delivered).execute(&mut *tx).await?;
        }
        tx.commit().await
    }
}
