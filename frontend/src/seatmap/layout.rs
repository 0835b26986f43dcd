//! The seat map in the shape the app draws and searches: sections with their outline, rows and
//! seats in flat arrays indexed by seat index, built once from the API's [`SeatMap`].

use onsale_shared::api::SeatMap;

use super::geometry::{self, Bounds, Point};

/// Marks a seat index that no row of the plan uses.
const NO_SECTION: u16 = u16::MAX;

/// A price category as the map draws it.
#[derive(Debug, Clone, PartialEq)]
pub struct MapStyle {
    pub key: String,
    /// CSS colour of the category; grey when the plan gives none or an unreadable one.
    pub color: Rgb,
    /// `None` when the category is not for sale at this event.
    pub price_cents: Option<i64>,
}

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    pub const GREY: Rgb = Rgb(0x8a, 0x8f, 0x98);

    /// Parses `#rrggbb` or `#rgb`.
    pub fn parse(css: &str) -> Option<Rgb> {
        let hex = css.trim().strip_prefix('#')?;
        let digits: Vec<u8> = hex.chars().map(|c| c.to_digit(16).map(|d| d as u8)).collect::<Option<_>>()?;
        match digits.as_slice() {
            [r, g, b] => Some(Rgb(r * 17, g * 17, b * 17)),
            [r1, r0, g1, g0, b1, b0] => Some(Rgb(r1 * 16 + r0, g1 * 16 + g0, b1 * 16 + b0)),
            _ => None,
        }
    }

    pub fn css(&self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    /// Mixes this colour toward `other`; `t` = 0 keeps this colour, 1 gives `other`.
    pub fn mix(&self, other: Rgb, t: f64) -> Rgb {
        let t = t.clamp(0.0, 1.0);
        let channel = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round() as u8;
        Rgb(channel(self.0, other.0), channel(self.1, other.1), channel(self.2, other.2))
    }
}

/// One row of seats: its seats are `first_seat..first_seat + len`.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub number: String,
    pub first_seat: u32,
    pub len: u32,
    pub section: u16,
}

impl Row {
    pub fn seats(&self) -> std::ops::Range<u32> {
        self.first_seat..self.first_seat + self.len
    }
}

/// One section (a zone of the plan that has seats).
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub name: String,
    /// Short label drawn on the overview: the section number, or the name's initials.
    pub label: String,
    /// Indexes into [`SeatLayout::rows`].
    pub rows: std::ops::Range<usize>,
    pub seat_total: u32,
    pub bounds: Bounds,
    /// Convex hull of the seat positions, counter-clockwise.
    pub outline: Vec<Point>,
    /// Position of the label: the outline's centroid.
    pub label_at: Point,
    /// The category most of its seats have, which colours the section on the overview.
    pub category: u16,
    /// Median distance between neighbouring seats of a row, in plan units.
    pub seat_pitch: f64,
}

/// The seat map, ready to draw and hit-test.
#[derive(Debug, Clone)]
pub struct SeatLayout {
    pub plan_name: String,
    pub bounds: Bounds,
    pub seat_count: u32,
    pub categories: Vec<MapStyle>,
    pub sections: Vec<Section>,
    pub rows: Vec<Row>,
    x: Vec<f32>,
    y: Vec<f32>,
    category: Vec<u16>,
    section: Vec<u16>,
    row: Vec<u32>,
    number: Vec<String>,
}

/// A seat's place and price, for labels and tooltips.
#[derive(Debug, Clone, PartialEq)]
pub struct SeatInfo<'a> {
    pub seat: u32,
    pub section: &'a str,
    pub row: &'a str,
    pub number: &'a str,
    pub category: &'a str,
    pub price_cents: Option<i64>,
}

impl SeatLayout {
    /// Builds the layout, taking the seat numbers out of `map` instead of copying 70,000
    /// strings. Seats whose index falls outside `seat_count` grow the arrays; indexes that no
    /// row uses stay empty and are never drawn.
    pub fn new(map: SeatMap) -> SeatLayout {
        let highest_index = map
            .zones
            .iter()
            .flat_map(|zone| &zone.rows)
            .map(|row| row.first_seat as usize + row.seats.len())
            .max()
            .unwrap_or(0);
        let len = highest_index.max(map.seat_count as usize);
        let mut layout = SeatLayout {
            plan_name: map.plan_name,
            bounds: Bounds::EMPTY,
            seat_count: len as u32,
            categories: map
                .categories
                .into_iter()
                .map(|category| MapStyle {
                    color: category.color.as_deref().and_then(Rgb::parse).unwrap_or(Rgb::GREY),
                    key: category.key,
                    price_cents: category.price_cents,
                })
                .collect(),
            sections: Vec::new(),
            rows: Vec::new(),
            x: vec![0.0; len],
            y: vec![0.0; len],
            category: vec![0; len],
            section: vec![NO_SECTION; len],
            row: vec![0; len],
            number: vec![String::new(); len],
        };

        for zone in map.zones {
            if zone.rows.is_empty() || layout.sections.len() >= usize::from(NO_SECTION) {
                continue;
            }
            let section_index = layout.sections.len() as u16;
            let first_row = layout.rows.len();
            let mut points = Vec::new();
            let mut bounds = Bounds::EMPTY;
            let mut category_counts: Vec<u32> = vec![0; layout.categories.len().max(1)];
            let mut pitches = Vec::new();
            for row in zone.rows {
                let row_index = layout.rows.len() as u32;
                let row_len = row.seats.len() as u32;
                let mut previous: Option<Point> = None;
                for (k, seat) in row.seats.iter().enumerate() {
                    let index = row.first_seat as usize + k;
                    let point = (f64::from(seat.x()), f64::from(seat.y()));
                    layout.x[index] = seat.x();
                    layout.y[index] = seat.y();
                    layout.category[index] = seat.category();
                    layout.section[index] = section_index;
                    layout.row[index] = row_index;
                    if let Some(count) = category_counts.get_mut(usize::from(seat.category())) {
                        *count += 1;
                    }
                    if let Some(previous) = previous {
                        pitches.push(geometry::distance(previous, point));
                    }
                    previous = Some(point);
                    bounds.include(point);
                    points.push(point);
                }
                for (k, seat) in row.seats.into_iter().enumerate() {
                    layout.number[row.first_seat as usize + k] = seat.0;
                }
                layout.rows.push(Row {
                    number: row.number,
                    first_seat: row.first_seat,
                    len: row_len,
                    section: section_index,
                });
            }
            let outline = geometry::convex_hull(&points);
            let label_at = geometry::polygon_centroid(&outline).unwrap_or_else(|| bounds.center());
            let category = category_counts
                .iter()
                .enumerate()
                .max_by_key(|(_, count)| **count)
                .map(|(category, _)| category as u16)
                .unwrap_or(0);
            layout.bounds.include((bounds.min_x, bounds.min_y));
            layout.bounds.include((bounds.max_x, bounds.max_y));
            layout.sections.push(Section {
                label: section_label(&zone.name),
                name: zone.name,
                rows: first_row..layout.rows.len(),
                seat_total: points.len() as u32,
                bounds,
                outline,
                label_at,
                category,
                seat_pitch: median(&mut pitches).unwrap_or(1.0).max(1e-6),
            });
        }
        layout
    }

    /// Number of seat slots, including indexes no row uses.
    pub fn len(&self) -> usize {
        self.x.len()
    }

    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// Returns whether a row of the plan has this seat index.
    pub fn has_seat(&self, seat: u32) -> bool {
        self.section.get(seat as usize).is_some_and(|section| *section != NO_SECTION)
    }

    pub fn position(&self, seat: u32) -> Point {
        let i = seat as usize;
        (f64::from(self.x[i]), f64::from(self.y[i]))
    }

    pub fn seat_category(&self, seat: u32) -> u16 {
        self.category[seat as usize]
    }

    /// Returns the section of a seat, or `None` for an index no row uses.
    pub fn section_of(&self, seat: u32) -> Option<usize> {
        self.section.get(seat as usize).filter(|section| **section != NO_SECTION).map(|section| usize::from(*section))
    }

    pub fn row_of(&self, seat: u32) -> &Row {
        &self.rows[self.row[seat as usize] as usize]
    }

    /// Describes a seat for labels and tooltips, or `None` for an index no row uses.
    pub fn seat_info(&self, seat: u32) -> Option<SeatInfo<'_>> {
        let section = self.section_of(seat)?;
        let category = self.categories.get(usize::from(self.seat_category(seat)));
        Some(SeatInfo {
            seat,
            section: &self.sections[section].name,
            row: &self.row_of(seat).number,
            number: &self.number[seat as usize],
            category: category.map(|category| category.key.as_str()).unwrap_or("Unknown category"),
            price_cents: category.and_then(|category| category.price_cents),
        })
    }

    /// Returns whether the seat is priced, and so for sale at this event.
    pub fn is_for_sale(&self, seat: u32) -> bool {
        self.seat_info(seat).is_some_and(|info| info.price_cents.is_some())
    }

    /// Returns every seat of a section, row by row.
    pub fn section_seats(&self, section: usize) -> impl Iterator<Item = u32> + '_ {
        self.rows[self.sections[section].rows.clone()].iter().flat_map(Row::seats)
    }

    /// Finds the section under a point in plan coordinates: inside its outline, or within half
    /// a seat of it, so that a click on an edge seat still counts.
    pub fn section_at(&self, point: Point) -> Option<usize> {
        let mut best: Option<(usize, f64)> = None;
        for (index, section) in self.sections.iter().enumerate() {
            if !contains(&section.bounds.expanded(section.seat_pitch), point) {
                continue;
            }
            if geometry::point_in_polygon(point, &section.outline) {
                return Some(index);
            }
            let distance = geometry::distance_to_polygon(point, &section.outline);
            if distance <= section.seat_pitch * 0.6 && best.is_none_or(|(_, d)| distance < d) {
                best = Some((index, distance));
            }
        }
        best.map(|(index, _)| index)
    }

    /// Finds the seat of `section` nearest to a point in plan coordinates, if it lies within
    /// `radius` plan units.
    pub fn seat_at(&self, section: usize, point: Point, radius: f64) -> Option<u32> {
        self.section_seats(section)
            .map(|seat| (seat, geometry::distance(point, self.position(seat))))
            .filter(|(_, distance)| *distance <= radius)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(seat, _)| seat)
    }
}

fn contains(bounds: &Bounds, (x, y): Point) -> bool {
    x >= bounds.min_x && x <= bounds.max_x && y >= bounds.min_y && y <= bounds.max_y
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

/// Returns the overview label of a section: the last word when it contains a digit ("Section
/// 101" gives "101", "Floor 3" gives "F3"), else the initials of its words.
pub fn section_label(name: &str) -> String {
    let last = name.split_whitespace().last().unwrap_or_default();
    if last.chars().any(|c| c.is_ascii_digit()) {
        let prefix = if name.to_ascii_lowercase().starts_with("floor") { "F" } else { "" };
        return format!("{prefix}{last}");
    }
    name.split_whitespace().filter_map(|word| word.chars().next()).collect::<String>().to_uppercase()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use onsale_shared::EventId;
    use onsale_shared::api::{MapCategory, MapRow, MapSeat, MapZone};

    /// Builds a plan with a seatless field zone, a 2 × 3 section and a 1 × 2 section.
    pub(crate) fn small_map() -> SeatMap {
        let seat = |n: &str, x: f32, y: f32, category: u16| MapSeat(n.to_owned(), x, y, category);
        SeatMap {
            event_id: EventId::new(1).unwrap(),
            plan_name: "Test".to_owned(),
            width: 200.0,
            height: 100.0,
            seat_count: 8,
            categories: vec![
                MapCategory {
                    key: "Lower Bowl".to_owned(),
                    color: Some("#c0392b".to_owned()),
                    price_cents: Some(24_900),
                },
                MapCategory { key: "Suite".to_owned(), color: None, price_cents: None },
            ],
            zones: vec![
                MapZone { name: "Field".to_owned(), rows: vec![] },
                MapZone {
                    name: "Section 101".to_owned(),
                    rows: vec![
                        MapRow {
                            number: "1".to_owned(),
                            first_seat: 0,
                            seats: vec![seat("1", 10.0, 10.0, 0), seat("2", 20.0, 10.0, 0), seat("3", 30.0, 10.0, 0)],
                        },
                        MapRow {
                            number: "2".to_owned(),
                            first_seat: 3,
                            seats: vec![seat("1", 10.0, 20.0, 0), seat("2", 20.0, 20.0, 0), seat("3", 30.0, 20.0, 1)],
                        },
                    ],
                },
                MapZone {
                    name: "Section 102".to_owned(),
                    rows: vec![MapRow {
                        number: "A".to_owned(),
                        first_seat: 6,
                        seats: vec![seat("7", 100.0, 50.0, 0), seat("8", 110.0, 50.0, 0)],
                    }],
                },
            ],
        }
    }

    #[test]
    fn layout_indexes_every_seat() {
        let layout = SeatLayout::new(small_map());
        assert_eq!(layout.sections.len(), 2, "the seatless field zone is skipped");
        assert_eq!(layout.len(), 8);
        assert_eq!(layout.sections[0].seat_total, 6);
        assert_eq!(layout.sections[1].seat_total, 2);
        assert_eq!(layout.rows.iter().map(|row| row.len).collect::<Vec<_>>(), vec![3, 3, 2]);
        assert_eq!(layout.section_of(4), Some(0));
        assert_eq!(layout.section_of(7), Some(1));
        assert_eq!(layout.position(7), (110.0, 50.0));
        assert_eq!(layout.section_seats(0).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(layout.sections[0].seat_pitch, 10.0);
        assert_eq!(layout.sections[0].label, "101");
    }

    #[test]
    fn seat_info_names_section_row_and_price() {
        let layout = SeatLayout::new(small_map());
        let info = layout.seat_info(4).unwrap();
        assert_eq!((info.section, info.row, info.number), ("Section 101", "2", "2"));
        assert_eq!((info.category, info.price_cents), ("Lower Bowl", Some(24_900)));
        assert!(layout.is_for_sale(4));
        assert!(!layout.is_for_sale(5), "an unpriced category is not for sale");
        assert_eq!(layout.seat_info(99), None);
    }

    #[test]
    fn hit_tests_find_sections_and_seats() {
        let layout = SeatLayout::new(small_map());
        assert_eq!(layout.section_at((20.0, 15.0)), Some(0), "inside the outline");
        assert_eq!(layout.section_at((20.0, 24.0)), Some(0), "just past an edge seat");
        assert_eq!(layout.section_at((60.0, 30.0)), None, "between sections");
        assert_eq!(layout.section_at((105.0, 50.0)), Some(1), "a one-row section");
        assert_eq!(layout.seat_at(0, (21.0, 19.0), 5.0), Some(4));
        assert_eq!(layout.seat_at(0, (15.0, 15.0), 5.0), None, "nothing within the radius");
    }

    #[test]
    fn gaps_in_seat_indexes_stay_empty() {
        let mut map = small_map();
        map.zones[2].rows[0].first_seat = 10;
        let layout = SeatLayout::new(map);
        assert_eq!(layout.len(), 12);
        assert!(!layout.has_seat(7));
        assert!(layout.has_seat(11));
        assert_eq!(layout.seat_info(7), None);
    }

    #[test]
    fn colours_parse_and_mix() {
        assert_eq!(Rgb::parse("#c0392b"), Some(Rgb(0xc0, 0x39, 0x2b)));
        assert_eq!(Rgb::parse("#fff"), Some(Rgb(255, 255, 255)));
        assert_eq!(Rgb::parse("red"), None);
        assert_eq!(Rgb(0, 0, 0).mix(Rgb(200, 100, 50), 0.5), Rgb(100, 50, 25));
        assert_eq!(Rgb(1, 2, 3).css(), "#010203");
    }

    #[test]
    fn labels_are_short() {
        assert_eq!(section_label("Section 101"), "101");
        assert_eq!(section_label("Floor 3"), "F3");
        assert_eq!(section_label("Club Level"), "CL");
    }
}
