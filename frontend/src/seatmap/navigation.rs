//! Keyboard navigation among the seats of a zoomed section, following the ARIA grid pattern:
//! the section's rows are the grid's rows, in plan order, and the seats of a row its cells.

use super::geometry;
use super::layout::SeatLayout;

/// A focus move that a key requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// The previous seat of the row.
    Previous,
    /// The next seat of the row.
    Next,
    /// The nearest seat of the previous row.
    RowAbove,
    /// The nearest seat of the next row.
    RowBelow,
    /// The first seat of the row.
    RowStart,
    /// The last seat of the row.
    RowEnd,
}

/// Maps a `KeyboardEvent.key` value to a move.
pub fn move_for_key(key: &str) -> Option<Move> {
    match key {
        "ArrowLeft" => Some(Move::Previous),
        "ArrowRight" => Some(Move::Next),
        "ArrowUp" => Some(Move::RowAbove),
        "ArrowDown" => Some(Move::RowBelow),
        "Home" => Some(Move::RowStart),
        "End" => Some(Move::RowEnd),
        _ => None,
    }
}

/// Returns the seat that focus moves to from `seat`, or `None` at the edge of the section.
pub fn next_seat(layout: &SeatLayout, seat: u32, movement: Move) -> Option<u32> {
    let section = layout.section_of(seat)?;
    let row = layout.row_of(seat);
    let seats = row.seats();
    match movement {
        Move::Previous => (seat > seats.start).then(|| seat - 1),
        Move::Next => (seat + 1 < seats.end).then(|| seat + 1),
        Move::RowStart => Some(seats.start),
        Move::RowEnd => Some(seats.end - 1),
        Move::RowAbove | Move::RowBelow => {
            let rows = layout.sections[section].rows.clone();
            let here = rows.clone().find(|index| layout.rows[*index].seats().contains(&seat))?;
            let target = if movement == Move::RowAbove {
                here.checked_sub(1).filter(|index| rows.contains(index))?
            } else {
                Some(here + 1).filter(|index| rows.contains(index))?
            };
            let from = layout.position(seat);
            layout.rows[target].seats().min_by(|a, b| {
                geometry::distance(from, layout.position(*a)).total_cmp(&geometry::distance(from, layout.position(*b)))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seatmap::layout::tests::small_map;

    #[test]
    fn keys_map_to_moves() {
        assert_eq!(move_for_key("ArrowLeft"), Some(Move::Previous));
        assert_eq!(move_for_key("End"), Some(Move::RowEnd));
        assert_eq!(move_for_key("Enter"), None);
    }

    #[test]
    fn moves_stay_within_row_and_section() {
        let layout = SeatLayout::new(small_map());
        assert_eq!(next_seat(&layout, 1, Move::Next), Some(2));
        assert_eq!(next_seat(&layout, 2, Move::Next), None, "end of the row");
        assert_eq!(next_seat(&layout, 0, Move::Previous), None, "start of the row");
        assert_eq!(next_seat(&layout, 1, Move::RowBelow), Some(4), "the seat below by position");
        assert_eq!(next_seat(&layout, 4, Move::RowAbove), Some(1));
        assert_eq!(next_seat(&layout, 0, Move::RowAbove), None, "first row of the section");
        assert_eq!(next_seat(&layout, 4, Move::RowBelow), None, "last row; the next section is not entered");
        assert_eq!(next_seat(&layout, 4, Move::RowStart), Some(3));
        assert_eq!(next_seat(&layout, 3, Move::RowEnd), Some(5));
    }
}
