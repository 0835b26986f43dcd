//! Seat picking: a fan's choice of adjacent free seats in one row, from the seat map and the
//! availability bitmap.
//!
//! A fan picks a section at random and then the front-most row of it that still has enough
//! adjacent free seats, at a random place in that row, the way fans choose the best seats they
//! can get. Fans who pick the same section therefore compete for the same rows, and the hold
//! path's `seat_unavailable` response gets exercised.

use std::collections::HashSet;
use std::ops::Range;

use rand::Rng;
use rand::seq::SliceRandom;

use onsale_shared::api::SeatMap;
use onsale_shared::{SeatBitmap, SeatIndex};

/// Rows of each section, reduced to the runs of adjacent seats that are for sale.
#[derive(Debug, Clone)]
pub struct SeatPicker {
    sections: Vec<Section>,
}

#[derive(Debug, Clone)]
struct Section {
    /// Rows front to back, in seat map order. Each row is a list of runs of seat indexes.
    rows: Vec<Vec<Range<u32>>>,
}

impl SeatPicker {
    /// Builds the picker from an event's seat map. A seat is for sale when its category exists
    /// in the map and has a price. Neighbours across an unpriced seat are not adjacent.
    pub fn new(map: &SeatMap) -> Self {
        let for_sale: Vec<bool> = map.categories.iter().map(|category| category.price_cents.is_some()).collect();
        let mut sections = Vec::with_capacity(map.zones.len());
        for zone in &map.zones {
            let mut rows = Vec::with_capacity(zone.rows.len());
            for row in &zone.rows {
                let mut runs = Vec::new();
                let mut run_start: Option<u32> = None;
                for (offset, seat) in row.seats.iter().enumerate() {
                    let index = row.first_seat + offset as u32;
                    let sellable = for_sale.get(usize::from(seat.category())).copied().unwrap_or(false);
                    match (sellable, run_start) {
                        (true, None) => run_start = Some(index),
                        (false, Some(start)) => {
                            runs.push(start..index);
                            run_start = None;
                        }
                        _ => {}
                    }
                }
                if let Some(start) = run_start {
                    runs.push(start..row.first_seat + row.seats.len() as u32);
                }
                if !runs.is_empty() {
                    rows.push(runs);
                }
            }
            if !rows.is_empty() {
                sections.push(Section { rows });
            }
        }
        Self { sections }
    }

    /// Number of sections with at least one seat for sale.
    pub fn section_count(&self) -> usize {
        self.sections.len()
    }

    /// Number of seats for sale.
    pub fn seats_for_sale(&self) -> u64 {
        self.sections.iter().flat_map(|section| &section.rows).flatten().map(|run| u64::from(run.end - run.start)).sum()
    }

    /// Picks `count` adjacent seats in one row that the bitmap shows free and that are not in
    /// `excluded`. Sections are tried in random order, and within a section the front-most row
    /// with room wins. Returns `None` when no row anywhere has `count` such seats.
    pub fn pick(
        &self,
        bitmap: &SeatBitmap,
        count: usize,
        excluded: &HashSet<SeatIndex>,
        rng: &mut impl Rng,
    ) -> Option<Vec<SeatIndex>> {
        if count == 0 {
            return None;
        }
        let mut order: Vec<usize> = (0..self.sections.len()).collect();
        order.shuffle(rng);
        let is_free = |index: u32| match SeatIndex::new(index) {
            Ok(seat) => !bitmap.is_unavailable(seat) && !excluded.contains(&seat),
            Err(_) => false,
        };

        for section in order.iter().map(|&i| &self.sections[i]) {
            for runs in &section.rows {
                let starts = free_starts(runs, count, is_free);
                if starts.is_empty() {
                    continue;
                }
                let start = starts[rng.gen_range(0..starts.len())];
                return (start..start + count as u32).map(|index| SeatIndex::new(index).ok()).collect();
            }
        }
        None
    }
}

/// Lists every first seat of `count` adjacent free seats within one of the runs.
fn free_starts(runs: &[Range<u32>], count: usize, is_free: impl Fn(u32) -> bool) -> Vec<u32> {
    let mut starts = Vec::new();
    for run in runs {
        // Length of the stretch of free seats that ends at the current seat.
        let mut free_streak = 0usize;
        for index in run.clone() {
            if is_free(index) {
                free_streak += 1;
            } else {
                free_streak = 0;
            }
            if free_streak >= count {
                starts.push(index + 1 - count as u32);
            }
        }
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;
    use onsale_shared::EventId;
    use onsale_shared::api::{MapCategory, MapRow, MapSeat, MapZone};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    const PRICED: u16 = 0;
    const UNPRICED: u16 = 1;

    fn row(number: &str, first_seat: u32, categories: &[u16]) -> MapRow {
        let seats = categories
            .iter()
            .enumerate()
            .map(|(i, &category)| MapSeat((i + 1).to_string(), i as f32, 0.0, category))
            .collect();
        MapRow { number: number.into(), first_seat, seats }
    }

    /// Section A: row 1 = seats 0..6, row 2 = seats 6..12 with seat 8 unpriced.
    /// Section B: row 1 = seats 12..16.
    fn seat_map() -> SeatMap {
        let category = |key: &str, price: Option<i64>| MapCategory { key: key.into(), color: None, price_cents: price };
        SeatMap {
            event_id: EventId::new(1).unwrap(),
            plan_name: "test".into(),
            width: 100.0,
            height: 100.0,
            seat_count: 16,
            categories: vec![category("Standard", Some(5000)), category("Press", None)],
            zones: vec![
                MapZone {
                    name: "A".into(),
                    rows: vec![
                        row("1", 0, &[PRICED; 6]),
                        row("2", 6, &[PRICED, PRICED, UNPRICED, PRICED, PRICED, PRICED]),
                    ],
                },
                MapZone { name: "B".into(), rows: vec![row("1", 12, &[PRICED; 4])] },
            ],
        }
    }

    fn seat(i: u32) -> SeatIndex {
        SeatIndex::new(i).unwrap()
    }

    fn taken(seats: &[u32]) -> SeatBitmap {
        let mut bitmap = SeatBitmap::all_free(16);
        for &i in seats {
            bitmap.set_unavailable(seat(i), true);
        }
        bitmap
    }

    /// Row ranges of the test map, to check that a pick stays in one row.
    const ROWS: [Range<u32>; 3] = [0..6, 6..12, 12..16];

    #[test]
    fn picker_counts_seats_for_sale() {
        let picker = SeatPicker::new(&seat_map());
        assert_eq!(picker.section_count(), 2);
        assert_eq!(picker.seats_for_sale(), 15);
    }

    #[test]
    fn pick_is_adjacent_free_and_in_one_row() {
        let picker = SeatPicker::new(&seat_map());
        let bitmap = taken(&[1, 4, 13]);
        for rng_seed in 0..200 {
            let mut rng = StdRng::seed_from_u64(rng_seed);
            for count in 1..=4 {
                let Some(picked) = picker.pick(&bitmap, count, &HashSet::new(), &mut rng) else {
                    continue;
                };
                assert_eq!(picked.len(), count, "seed {rng_seed}");
                for pair in picked.windows(2) {
                    assert_eq!(pair[1].get(), pair[0].get() + 1, "seats {picked:?} are not adjacent");
                }
                for s in &picked {
                    assert!(!bitmap.is_unavailable(*s), "seat {s} is taken in the bitmap");
                    assert_ne!(s.get(), 8, "seat 8 is not for sale");
                }
                let first = picked[0].get();
                let last = picked[count - 1].get();
                assert!(ROWS.iter().any(|r| r.contains(&first) && r.contains(&last)), "seats {picked:?} span two rows");
            }
        }
    }

    #[test]
    fn pick_prefers_the_front_row() {
        let picker = SeatPicker::new(&seat_map());
        // Section B has room for 2 only at 14..16, and section A's front row has room at 2..4.
        let bitmap = taken(&[0, 1, 4, 5, 12, 13]);
        for rng_seed in 0..50 {
            let mut rng = StdRng::seed_from_u64(rng_seed);
            let picked = picker.pick(&bitmap, 2, &HashSet::new(), &mut rng).unwrap();
            assert!(picked == vec![seat(2), seat(3)] || picked == vec![seat(14), seat(15)], "picked {picked:?}");
        }
    }

    #[test]
    fn pick_never_spans_an_unpriced_seat() {
        let picker = SeatPicker::new(&seat_map());
        // Only row 2 of section A is left: 6, 7 | unpriced 8 | 9, 10, 11.
        let bitmap = taken(&[0, 1, 2, 3, 4, 5, 12, 13, 14, 15]);
        let mut rng = StdRng::seed_from_u64(7);
        assert_eq!(picker.pick(&bitmap, 3, &HashSet::new(), &mut rng), Some(vec![seat(9), seat(10), seat(11)]));
        assert_eq!(picker.pick(&bitmap, 4, &HashSet::new(), &mut rng), None);
    }

    #[test]
    fn pick_skips_excluded_seats() {
        let picker = SeatPicker::new(&seat_map());
        let bitmap = taken(&[0, 1, 2, 3, 4, 5, 6, 7, 8]);
        let excluded: HashSet<SeatIndex> = [seat(10), seat(13)].into_iter().collect();
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(picker.pick(&bitmap, 2, &excluded, &mut rng), Some(vec![seat(14), seat(15)]));
    }

    #[test]
    fn pick_returns_none_when_full() {
        let picker = SeatPicker::new(&seat_map());
        let bitmap = taken(&(0..16).collect::<Vec<_>>());
        let mut rng = StdRng::seed_from_u64(3);
        assert_eq!(picker.pick(&bitmap, 1, &HashSet::new(), &mut rng), None);
        assert_eq!(picker.pick(&SeatBitmap::all_free(16), 0, &HashSet::new(), &mut rng), None);
        assert_eq!(picker.pick(&SeatBitmap::all_free(16), 7, &HashSet::new(), &mut rng), None);
    }
}
