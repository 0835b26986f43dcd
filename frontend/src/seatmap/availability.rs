//! Live availability on the map: which seats a new bitmap changed, how many seats each section
//! has free, and the colours that show it.

use onsale_shared::{SeatBitmap, SeatIndex};

use super::layout::{Rgb, SeatLayout};

/// Colour of a seat that is held or sold.
pub const TAKEN: Rgb = Rgb(0xc9, 0xcd, 0xd3);
/// Colour of a seat the fan picked.
pub const PICKED: Rgb = Rgb(0x11, 0x18, 0x27);
/// Background the map is drawn on.
pub const BACKGROUND: Rgb = Rgb(0xf7, 0xf7, 0xf8);

/// Returns the seat indexes whose bit differs between two bitmaps, in order. Bitmaps of
/// different lengths compare as if the shorter one were padded with free seats.
pub fn changed_seats(old: &SeatBitmap, new: &SeatBitmap) -> Vec<u32> {
    let (old, new) = (old.as_bytes(), new.as_bytes());
    let len = old.len().max(new.len());
    let mut changed = Vec::new();
    for i in 0..len {
        let diff = old.get(i).copied().unwrap_or(0) ^ new.get(i).copied().unwrap_or(0);
        if diff == 0 {
            continue;
        }
        for bit in 0..8 {
            // Bit 0 of a seat index is the byte's most significant bit, as Redis SETBIT numbers it.
            if diff & (0x80 >> bit) != 0 {
                changed.push((i * 8 + bit) as u32);
            }
        }
    }
    changed
}

/// Whether a seat can be picked: a row has it, its category is priced and its bit is clear.
pub fn is_free(layout: &SeatLayout, bitmap: &SeatBitmap, seat: u32) -> bool {
    layout.is_for_sale(seat) && SeatIndex::new(seat).is_ok_and(|index| !bitmap.is_unavailable(index))
}

/// Counts the free seats of every section.
pub fn section_free_counts(layout: &SeatLayout, bitmap: &SeatBitmap) -> Vec<u32> {
    (0..layout.sections.len())
        .map(|section| layout.section_seats(section).filter(|seat| is_free(layout, bitmap, *seat)).count() as u32)
        .collect()
}

/// Sections that contain any of `seats`, each once, in order.
pub fn touched_sections(layout: &SeatLayout, seats: &[u32]) -> Vec<usize> {
    let mut sections: Vec<usize> = seats.iter().filter_map(|seat| layout.section_of(*seat)).collect();
    sections.sort_unstable();
    sections.dedup();
    sections
}

/// Fill colour of a section on the overview: its category colour when every seat is free,
/// fading toward the taken grey as seats go, and the taken grey when none is left.
pub fn section_fill(category: Rgb, free: u32, total: u32) -> Rgb {
    if free == 0 || total == 0 {
        return TAKEN;
    }
    let taken_share = 1.0 - f64::from(free) / f64::from(total);
    // Keep a trace of the category colour until the last seat, so "a few left" stays visible.
    category.mix(TAKEN, taken_share * 0.8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seatmap::layout::tests::small_map;

    fn bitmap(seats: u32, taken: &[u32]) -> SeatBitmap {
        let mut map = SeatBitmap::all_free(seats);
        for seat in taken {
            map.set_unavailable(SeatIndex::new(*seat).unwrap(), true);
        }
        map
    }

    #[test]
    fn diff_lists_flipped_seats_in_order() {
        let old = bitmap(20, &[0, 9]);
        let new = bitmap(20, &[9, 10, 19]);
        assert_eq!(changed_seats(&old, &new), vec![0, 10, 19]);
        assert!(changed_seats(&new, &new).is_empty());
    }

    #[test]
    fn diff_pads_a_shorter_bitmap() {
        let old = SeatBitmap::from_bytes(16, &[]).unwrap();
        let new = bitmap(16, &[15]);
        assert_eq!(changed_seats(&old, &new), vec![15]);
    }

    #[test]
    fn free_counts_skip_taken_and_unpriced_seats() {
        let layout = SeatLayout::new(small_map());
        let map = bitmap(8, &[0, 7]);
        // Section 101: 6 seats, seat 0 taken, seat 5 unpriced. Section 102: seat 7 taken.
        assert_eq!(section_free_counts(&layout, &map), vec![4, 1]);
        assert!(is_free(&layout, &map, 1));
        assert!(!is_free(&layout, &map, 0));
        assert!(!is_free(&layout, &map, 5));
    }

    #[test]
    fn touched_sections_are_unique() {
        let layout = SeatLayout::new(small_map());
        assert_eq!(touched_sections(&layout, &[7, 1, 2, 6]), vec![0, 1]);
        assert!(touched_sections(&layout, &[99]).is_empty());
    }

    #[test]
    fn fill_fades_to_grey() {
        let red = Rgb(200, 0, 0);
        assert_eq!(section_fill(red, 10, 10), red);
        assert_eq!(section_fill(red, 0, 10), TAKEN);
        assert_ne!(section_fill(red, 1, 10), TAKEN, "a few seats left still shows the category");
    }
}
