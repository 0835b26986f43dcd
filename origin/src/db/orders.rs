//! OrderDB: writing an order with its seats, tickets and outbox messages in one transaction,
//! and reading orders back.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use onsale_shared::api::{OrderView, TicketView};
use onsale_shared::{EventId, FanId, HoldId, OrderId, SeatIndex, TicketId};

use super::is_unique_violation;
use crate::pipeline::TicketMessage;
use crate::pipeline::messages::event_key;
use crate::pipeline::relay::TICKETS;

/// An order ready to be written.
#[derive(Debug, Clone)]
pub struct NewOrder<'a> {
    pub id: OrderId,
    pub event: EventId,
    pub hold: HoldId,
    pub fan: &'a FanId,
    pub email: &'a str,
    pub currency: &'a str,
    pub payment_ref: &'a str,
    /// Seats with their price in cents.
    pub seats: Vec<(SeatIndex, i64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum InsertOrderError {
    /// The UNIQUE guard fired: these seats already belong to another order.
    #[error("seats already sold: {0:?}")]
    SeatSold(Vec<(SeatIndex, OrderId)>),
    /// This hold already has an order (a concurrent or retried confirmation wrote it).
    #[error("hold already has an order")]
    HoldOrdered,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Writes the order, its seats, one ticket per seat and one outbox message per ticket, all or
/// nothing.
pub async fn insert_order(db: &PgPool, order: &NewOrder<'_>) -> Result<(), InsertOrderError> {
    match write_order(db, order).await {
        Ok(()) => Ok(()),
        Err(err) if is_unique_violation(&err, "order_seats_one_sale_per_seat") => {
            let seats: Vec<i32> = order.seats.iter().map(|(seat, _)| seat.get() as i32).collect();
            let sold: Vec<(i32, Uuid)> = sqlx::query_as(
                "SELECT seat_index, order_id FROM order_seats WHERE event_id = $1 AND seat_index = ANY($2)",
            )
            .bind(order.event.get())
            .bind(&seats)
            .fetch_all(db)
            .await?;
            Err(InsertOrderError::SeatSold(
                sold.into_iter()
                    .filter_map(|(seat, id)| {
                        Some((SeatIndex::new(u32::try_from(seat).ok()?).ok()?, OrderId::from_uuid(id)))
                    })
                    .collect(),
            ))
        }
        Err(err) if is_unique_violation(&err, "orders_hold_id_key") => Err(InsertOrderError::HoldOrdered),
        Err(err) => Err(InsertOrderError::Database(err)),
    }
}

async fn write_order(db: &PgPool, order: &NewOrder<'_>) -> Result<(), sqlx::Error> {
    let total: i64 = order.seats.iter().map(|(_, price)| price).sum();
    let seat_indexes: Vec<i32> = order.seats.iter().map(|(seat, _)| seat.get() as i32).collect();
    let prices: Vec<i64> = order.seats.iter().map(|(_, price)| *price).collect();
    let tickets: Vec<TicketId> = order.seats.iter().map(|_| TicketId::random()).collect();
    let ticket_ids: Vec<Uuid> = tickets.iter().map(TicketId::as_uuid).collect();

    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO orders (id, event_id, hold_id, fan_id, email, total_cents, currency, payment_ref)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(order.id.as_uuid())
    .bind(order.event.get())
    .bind(order.hold.as_uuid())
    .bind(order.fan.as_str())
    .bind(order.email)
    .bind(total)
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

    let payloads: Vec<serde_json::Value> = tickets
        .iter()
        .zip(&order.seats)
        .map(|(ticket, (seat, _))| {
            serde_json::to_value(TicketMessage {
                ticket_id: *ticket,
                order_id: order.id,
                event_id: order.event,
                seat: *seat,
            })
            .unwrap_or_default()
        })
        .collect();
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

/// Records a charge that was given back, for reconciliation with the payment provider.
pub async fn record_refund(
    db: &PgPool,
    payment_ref: &str,
    event: EventId,
    hold: HoldId,
    amount_cents: i64,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refunds (payment_ref, event_id, hold_id, amount_cents, reason) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (payment_ref) DO NOTHING",
    )
    .bind(payment_ref)
    .bind(event.get())
    .bind(hold.as_uuid())
    .bind(amount_cents)
    .bind(reason)
    .execute(db)
    .await?;
    Ok(())
}

/// The order id of a hold's order, with its fan, if one exists.
pub async fn order_for_hold(db: &PgPool, hold: HoldId) -> Result<Option<(OrderId, FanId)>, sqlx::Error> {
    let row: Option<(Uuid, String)> = sqlx::query_as("SELECT id, fan_id FROM orders WHERE hold_id = $1")
        .bind(hold.as_uuid())
        .fetch_optional(db)
        .await?;
    Ok(row.and_then(|(id, fan)| Some((OrderId::from_uuid(id), fan.parse().ok()?))))
}

type OrderRow = (Uuid, i64, Uuid, String, i64, String, DateTime<Utc>);
type TicketRow = (Uuid, i32, String, String, String, String, i64, Option<String>, Option<DateTime<Utc>>);

/// An order with its tickets and their seats, if it belongs to `fan`.
pub async fn order_view(db: &PgPool, order: OrderId, fan: &FanId) -> Result<Option<OrderView>, sqlx::Error> {
    let row: Option<OrderRow> = sqlx::query_as(
        "SELECT id, event_id, hold_id, fan_id, total_cents, currency, created_at FROM orders WHERE id = $1",
    )
    .bind(order.as_uuid())
    .fetch_optional(db)
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
    .fetch_all(db)
    .await?;

    let event_id = EventId::new(event_id).map_err(|err| sqlx::Error::Decode(Box::new(err)))?;
    let tickets = tickets
        .into_iter()
        .filter_map(|(ticket, seat, zone, row, number, category, price_cents, secret, emailed_at)| {
            Some(TicketView {
                ticket_id: TicketId::from_uuid(ticket),
                seat: SeatIndex::new(u32::try_from(seat).ok()?).ok()?,
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

/// Sale figures of one event from OrderDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SaleCounts {
    pub orders: u64,
    pub seats_sold: u64,
    pub tickets_emailed: u64,
    pub seats_sold_twice: u64,
}

pub async fn sale_counts(db: &PgPool, event: EventId) -> Result<SaleCounts, sqlx::Error> {
    let (orders, seats_sold, tickets_emailed, seats_sold_twice): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT
            (SELECT count(*) FROM orders WHERE event_id = $1),
            (SELECT count(*) FROM order_seats WHERE event_id = $1),
            (SELECT count(*) FROM tickets WHERE event_id = $1 AND emailed_at IS NOT NULL),
            (SELECT count(*) FROM (SELECT seat_index FROM order_seats WHERE event_id = $1
                                   GROUP BY seat_index HAVING count(*) > 1) AS twice)",
    )
    .bind(event.get())
    .fetch_one(db)
    .await?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(SaleCounts {
        orders: count(orders),
        seats_sold: count(seats_sold),
        tickets_emailed: count(tickets_emailed),
        seats_sold_twice: count(seats_sold_twice),
    })
}

/// Every sold seat of an event with its order.
pub async fn sold_seats(db: &PgPool, event: EventId) -> Result<Vec<(SeatIndex, OrderId)>, sqlx::Error> {
    let rows: Vec<(i32, Uuid)> = sqlx::query_as("SELECT seat_index, order_id FROM order_seats WHERE event_id = $1")
        .bind(event.get())
        .fetch_all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(seat, order)| Some((SeatIndex::new(u32::try_from(seat).ok()?).ok()?, OrderId::from_uuid(order))))
        .collect())
}
