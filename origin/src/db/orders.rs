//! OrderDB rows: an order to write with its seats, tickets and outbox messages, the outcomes of
//! writing it, and the sale figures read back. The queries live in the backends.

use onsale_shared::{EventId, FanId, HoldId, OrderId, SeatIndex, TicketId};

use crate::pipeline::TicketMessage;

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

impl NewOrder<'_> {
    /// Sum of the seat prices, in cents.
    pub fn total_cents(&self) -> i64 {
        self.seats.iter().map(|(_, price)| price).sum()
    }

    /// Draws a ticket id for each seat and returns the ticket message of each, in seat order.
    /// Each message is the payload of one outbox row.
    pub fn ticket_messages(&self) -> Vec<TicketMessage> {
        self.seats
            .iter()
            .map(|(seat, _)| TicketMessage {
                ticket_id: TicketId::random(),
                order_id: self.id,
                event_id: self.event,
                seat: *seat,
            })
            .collect()
    }
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

/// Sale figures of one event from OrderDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SaleCounts {
    pub orders: u64,
    pub seats_sold: u64,
    pub tickets_emailed: u64,
    pub seats_sold_twice: u64,
}

impl SaleCounts {
    /// Builds the figures from the four counts a backend read, in field order.
    pub(crate) fn from_counts((orders, seats_sold, tickets_emailed, seats_sold_twice): (i64, i64, i64, i64)) -> Self {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Self {
            orders: count(orders),
            seats_sold: count(seats_sold),
            tickets_emailed: count(tickets_emailed),
            seats_sold_twice: count(seats_sold_twice),
        }
    }
}

/// Reads a seat index stored as a database integer, or returns `None` when it is out of range.
pub(crate) fn seat_index(stored: i32) -> Option<SeatIndex> {
    SeatIndex::new(u32::try_from(stored).ok()?).ok()
}

/// Converts a seat index to the integer the database stores.
pub(crate) fn stored_seat(seat: SeatIndex) -> i32 {
    i32::try_from(seat.get()).unwrap_or(i32::MAX)
}
