//! EventDB rows: what import-plan and seed write (venues, seating plans, seats, events and
//! prices) and how the rows read back become the browse pages and the seat map. The queries
//! live in the backends, and both share the types and the assembly here.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};

use onsale_shared::EventId;
use onsale_shared::api::{EventSummary, MapCategory, MapRow, MapSeat, MapZone, SeatMap};

/// A venue to find or create. Venues are unique by name and city.
#[derive(Debug, Clone)]
pub struct NewVenue<'a> {
    pub name: &'a str,
    pub city: &'a str,
    pub region: &'a str,
    pub country: &'a str,
}

/// A stored seating plan's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPlan {
    pub id: i64,
    pub name: String,
    pub seat_count: u32,
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

/// A plan category to insert: its key and its color. Its position is its index in the slice
/// given to [`EventDb::insert_plan`](super::EventDb::insert_plan).
pub type NewPlanCategory = (String, Option<String>);

/// One seat row to insert. Its seat index is its position in the slice given to
/// [`EventDb::insert_plan`](super::EventDb::insert_plan).
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

/// An event summary as the backends read it: id, name, start, local date, venue name, city,
/// region, country and seat count.
pub(crate) type SummaryRow = (i64, String, DateTime<Utc>, NaiveDate, String, String, String, String, i32);

pub(crate) fn summary_from_row(row: SummaryRow) -> Result<EventSummary, sqlx::Error> {
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

/// The plan row behind an event's seat map: id, name, width, height and seat count.
pub(crate) type MapPlanRow = (i64, String, f64, f64, i32);

/// A plan category with the event's price: position, key, color and price in cents (`None`
/// when the category is not for sale at the event).
pub(crate) type MapCategoryRow = (i16, String, Option<String>, Option<i64>);

/// One seat of a seat map: seat index, zone, row number, seat number, x, y and category
/// position.
pub(crate) type MapSeatRow = (i32, String, String, String, f64, f64, i16);

/// Builds an event's seat map from its plan, categories and seats. `seats` must come in
/// seat-index order. Consecutive seats with the same zone and row number form one [`MapRow`], so
/// the k-th seat of a row always has index `first_seat + k`.
pub(crate) fn assemble_seat_map(
    event: EventId,
    plan: MapPlanRow,
    category_rows: Vec<MapCategoryRow>,
    seats: Vec<MapSeatRow>,
) -> SeatMap {
    let (_, plan_name, width, height, seat_count) = plan;

    // Imported plans number their categories 0..n, but the lookup does not depend on it.
    let mut category_index = HashMap::with_capacity(category_rows.len());
    let mut categories = Vec::with_capacity(category_rows.len());
    for (i, (position, key, color, price_cents)) in category_rows.into_iter().enumerate() {
        category_index.insert(position, u16::try_from(i).unwrap_or(u16::MAX));
        categories.push(MapCategory { key, color, price_cents });
    }

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

    SeatMap {
        event_id: event,
        plan_name,
        width,
        height,
        seat_count: u32::try_from(seat_count).unwrap_or(0),
        categories,
        zones,
    }
}
