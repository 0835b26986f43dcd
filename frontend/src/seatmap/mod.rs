//! The seat map's logic, free of the browser so that it builds and tests natively.
//!
//! - [`geometry`]: bounding boxes, convex hulls, point-in-polygon, the canvas viewport.
//! - [`layout`]: sections, rows and seats from the API's seat map, and hit-testing.
//! - [`availability`]: bitmap diffs, free seats per section, availability colours.
//! - [`navigation`]: arrow-key moves among a section's seats.
//!
//! This module also contains the picking rules and the words that describe a seat.

pub mod availability;
pub mod geometry;
pub mod layout;
pub mod navigation;

use crate::format::format_price;
use layout::SeatInfo;

/// The state of a seat for the fan: free to pick, picked, or taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatStatus {
    Available,
    Picked,
    /// Held or sold by someone, or not for sale at this event.
    Taken,
}

impl SeatStatus {
    pub fn describe(self) -> &'static str {
        match self {
            SeatStatus::Available => "available",
            SeatStatus::Picked => "selected",
            SeatStatus::Taken => "not available",
        }
    }
}

/// Describes a seat for screen readers and tooltips:
/// `Section 101, row 12, seat 5, Lower Bowl, $249.00, available`.
pub fn seat_label(info: &SeatInfo<'_>, currency: &str, status: SeatStatus) -> String {
    format!("{}, {}", seat_description(info, currency), status.describe())
}

/// Describes a seat with its price: `Section 101, row 12, seat 5, Lower Bowl, $249.00`.
pub fn seat_description(info: &SeatInfo<'_>, currency: &str) -> String {
    let price = match info.price_cents {
        Some(cents) => format_price(cents, currency),
        None => "not for sale".to_owned(),
    };
    format!("{}, row {}, seat {}, {}, {}", info.section, info.row, info.number, info.category, price)
}

/// The reason a seat could not be added to the fan's pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickError {
    /// The pick already has the per-order maximum.
    Limit(u32),
    /// The seat is held, sold or not for sale.
    Taken,
}

impl PickError {
    pub fn message(self) -> String {
        match self {
            PickError::Limit(max) => {
                format!("You can pick up to {max} seats per order. Remove a seat before you add another.")
            }
            PickError::Taken => "This seat is not available. Pick a coloured seat.".to_owned(),
        }
    }
}

/// Adds `seat` to the pick, or removes it when it is already there. A taken seat can still be
/// removed, since it may have been picked before someone else held it.
pub fn toggle_pick(pick: &[u32], seat: u32, free: bool, max: u32) -> Result<Vec<u32>, PickError> {
    if pick.contains(&seat) {
        return Ok(pick.iter().copied().filter(|picked| *picked != seat).collect());
    }
    if !free {
        return Err(PickError::Taken);
    }
    if pick.len() as u32 >= max {
        return Err(PickError::Limit(max));
    }
    let mut next = pick.to_vec();
    next.push(seat);
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use layout::SeatLayout;
    use layout::tests::small_map;

    #[test]
    fn label_names_everything_a_fan_needs() {
        let layout = SeatLayout::new(small_map());
        let info = layout.seat_info(4).unwrap();
        assert_eq!(
            seat_label(&info, "USD", SeatStatus::Available),
            "Section 101, row 2, seat 2, Lower Bowl, $249.00, available"
        );
        let unpriced = layout.seat_info(5).unwrap();
        assert!(seat_label(&unpriced, "USD", SeatStatus::Taken).ends_with("Suite, not for sale, not available"));
    }

    #[test]
    fn picking_respects_limit_and_availability() {
        assert_eq!(toggle_pick(&[], 3, true, 2), Ok(vec![3]));
        assert_eq!(toggle_pick(&[3], 3, true, 2), Ok(vec![]), "a second click removes the seat");
        assert_eq!(toggle_pick(&[3], 4, false, 2), Err(PickError::Taken));
        assert_eq!(toggle_pick(&[3], 3, false, 2), Ok(vec![]), "a taken seat can be removed");
        assert_eq!(toggle_pick(&[3, 4], 5, true, 2), Err(PickError::Limit(2)));
        assert!(PickError::Limit(8).message().contains("up to 8 seats"));
    }
}
