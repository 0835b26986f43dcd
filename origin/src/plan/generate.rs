//! The stadium generator: writes a pretix seating plan from tier, section, row and seat counts.
//!
//! A stadium is a ring of tiers around a field shaped like a rounded rectangle. Each tier is cut
//! into sections of equal arc length at its front row. Section ids are `<tier><nn>` (101, 215)
//! and rows are numbered from 1 at the front. Seat 1 is at the right-hand end of a row for a fan
//! facing the field. In concert mode the sections behind the stage are left out (their numbers
//! are skipped, as venues do when they kill seats) and floor sections face the stage.
//!
//! Counts are drawn from ranges by a small seeded generator, so the same spec and seed always
//! give the same bytes, and so the same plan id on import.

use std::f64::consts::PI;
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context, bail};
use clap::ValueEnum;

use super::bowl::{Side, Track};
use super::format::{
    Area, AreaShape, AreaText, Category, Plan, Position, Rectangle, Row, RowNumberPosition, Seat, Size, Zone,
};

/// Distance between seat centers along a row, in canvas pixels.
const SEAT_PITCH: f64 = 10.0;
/// Distance between rows, in canvas pixels.
const ROW_PITCH: f64 = 14.0;
/// Gap left between neighbouring sections along a row (the aisle), in pixels.
const AISLE: f64 = 16.0;
/// Gap between the back row of one tier and the front row of the next (the concourse).
const CONCOURSE: f64 = 50.0;
/// Empty border around the drawing.
const MARGIN: f64 = 40.0;
/// Half-width over half-height of the bowl's inner edge; a football field with its end zones
/// and sideline space is roughly this shape.
const ASPECT: f64 = 1.85;
/// Corner radius over half-height of the bowl's inner edge.
const CORNER: f64 = 0.7;
/// Sections whose centre lies within this angle of the stage direction, seen from the centre of
/// the field, are behind or beside the stage and are left out in concert mode.
const STAGE_KILL_DEGREES: f64 = 35.0;

/// A count or an inclusive range of counts, written `30` or `28-34`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountRange {
    pub min: u32,
    pub max: u32,
}

impl CountRange {
    pub const fn new(min: u32, max: u32) -> Self {
        Self { min, max }
    }

    /// Returns the range with both ends multiplied by `factor`, at least 1.
    fn scaled(self, factor: f64) -> Self {
        let scale = |n: u32| ((f64::from(n) * factor).round() as u32).max(1);
        Self { min: scale(self.min), max: scale(self.max).max(scale(self.min)) }
    }
}

impl FromStr for CountRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parse = |part: &str| {
            part.trim()
                .parse::<u32>()
                .map_err(|_| format!("invalid count {s:?}: expected a number such as 30 or a range such as 28-34"))
        };
        let (min, max) = match s.split_once('-') {
            Some((min, max)) => (parse(min)?, parse(max)?),
            None => {
                let n = parse(s)?;
                (n, n)
            }
        };
        if min == 0 || min > max {
            return Err(format!("invalid count {s:?}: expected 1 or more, with the smaller number first"));
        }
        Ok(Self { min, max })
    }
}

impl fmt::Display for CountRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max { write!(f, "{}", self.min) } else { write!(f, "{}-{}", self.min, self.max) }
    }
}

/// A starting layout, which the other options then change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// A three-tier NFL stadium in end-stage concert mode, about 72,000 seats, after the figures
    /// published for MetLife Stadium's 2023 concerts.
    Metlife,
    /// A three-tier toy stadium of a few hundred seats, for tests and demos.
    Small,
}

/// Position of the stage. The field's long axis runs east–west on the drawing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StageEnd {
    /// No stage: every bowl section is kept (a football layout).
    None,
    East,
    West,
}

impl StageEnd {
    /// Describes the layout in a few words, for plan names.
    pub fn describe(self) -> &'static str {
        match self {
            StageEnd::None => "football layout",
            StageEnd::East => "end stage east",
            StageEnd::West => "end stage west",
        }
    }
}

/// One ring of sections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierSpec {
    pub sections: u32,
    pub rows: CountRange,
    pub seats: CountRange,
}

/// Seated floor sections in front of the stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloorSpec {
    pub sections: u32,
    pub rows: CountRange,
    pub seats: CountRange,
}

/// Everything that determines a generated plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StadiumSpec {
    pub name: String,
    /// From the field outwards: the first is the 100 level.
    pub tiers: Vec<TierSpec>,
    pub stage: StageEnd,
    pub floor: Option<FloorSpec>,
    pub seed: u64,
}

impl StadiumSpec {
    pub fn preset(preset: Preset) -> Self {
        match preset {
            Preset::Metlife => Self {
                name: "MetLife-style stadium".to_owned(),
                tiers: vec![
                    TierSpec { sections: 48, rows: CountRange::new(25, 34), seats: CountRange::new(24, 30) },
                    TierSpec { sections: 48, rows: CountRange::new(10, 16), seats: CountRange::new(20, 26) },
                    TierSpec { sections: 52, rows: CountRange::new(18, 26), seats: CountRange::new(22, 28) },
                ],
                stage: StageEnd::East,
                floor: Some(FloorSpec { sections: 8, rows: CountRange::new(28, 32), seats: CountRange::new(30, 36) }),
                seed: 1,
            },
            Preset::Small => Self {
                name: "Small stadium".to_owned(),
                tiers: vec![
                    TierSpec { sections: 8, rows: CountRange::new(3, 4), seats: CountRange::new(6, 8) },
                    TierSpec { sections: 8, rows: CountRange::new(2, 3), seats: CountRange::new(6, 8) },
                    TierSpec { sections: 10, rows: CountRange::new(2, 3), seats: CountRange::new(6, 8) },
                ],
                stage: StageEnd::East,
                floor: Some(FloorSpec { sections: 2, rows: CountRange::new(3, 3), seats: CountRange::new(8, 8) }),
                seed: 1,
            },
        }
    }

    /// Checks the limits that section ids and the drawing need.
    pub fn check(&self) -> Result<(), String> {
        if self.tiers.is_empty() || self.tiers.len() > 9 {
            return Err(format!("a stadium needs 1 to 9 tiers, got {}", self.tiers.len()));
        }
        for (i, tier) in self.tiers.iter().enumerate() {
            if !(1..=99).contains(&tier.sections) {
                return Err(format!(
                    "tier {} has {} sections; section ids <tier><nn> allow 1 to 99",
                    i + 1,
                    tier.sections
                ));
            }
        }
        if let Some(floor) = &self.floor {
            if floor.sections == 0 || floor.sections > 99 {
                return Err(format!("{} floor sections requested; allowed are 1 to 99", floor.sections));
            }
            if self.stage == StageEnd::None {
                return Err("floor sections face a stage: choose a stage end (east or west)".to_owned());
            }
        }
        Ok(())
    }

    /// Returns the same stadium with every row range multiplied by `factor`.
    fn with_rows_scaled(&self, factor: f64) -> Self {
        let mut spec = self.clone();
        for tier in &mut spec.tiers {
            tier.rows = tier.rows.scaled(factor);
        }
        if let Some(floor) = &mut spec.floor {
            floor.rows = floor.rows.scaled(factor);
        }
        spec
    }
}

/// Generates the plan of `spec`.
pub fn generate(spec: &StadiumSpec) -> anyhow::Result<Plan> {
    spec.check().map_err(anyhow::Error::msg)?;
    let mut builder = Builder::new(spec);
    let sections = builder.sections();
    Ok(builder.into_plan(sections))
}

/// Counts the seats that [`generate`] would lay out, without writing the plan.
fn generated_seat_count(spec: &StadiumSpec) -> anyhow::Result<usize> {
    spec.check().map_err(anyhow::Error::msg)?;
    let sections = Builder::new(spec).sections();
    Ok(sections.iter().flat_map(|section| &section.rows).map(|row| row.seats.len()).sum())
}

/// Generates a plan of `spec` whose seat count comes close to `target` (usually within 1%), by
/// scaling the row counts of every section. Returns the scaled spec with its plan.
pub fn generate_sized(spec: &StadiumSpec, target: u32) -> anyhow::Result<(StadiumSpec, Plan)> {
    let target = target as usize;
    let mut best_spec = spec.clone();
    let mut best_count = generated_seat_count(spec)?;
    let mut current = best_count;
    let mut factor = 1.0;
    for _ in 0..8 {
        let ratio = target as f64 / current.max(1) as f64;
        if (ratio - 1.0).abs() < 0.005 {
            break;
        }
        factor *= ratio;
        let candidate = spec.with_rows_scaled(factor);
        current = generated_seat_count(&candidate)?;
        if current.abs_diff(target) < best_count.abs_diff(target) {
            best_spec = candidate;
            best_count = current;
        }
    }
    let plan = generate(&best_spec)?;
    Ok((best_spec, plan))
}

pub fn seat_count(plan: &Plan) -> usize {
    plan.zones.iter().flat_map(|zone| &zone.rows).map(|row| row.seats.len()).sum()
}

/// SplitMix64: a tiny generator whose output is fixed by its published algorithm, so plans do
/// not change when a dependency's generator does.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick(&mut self, range: CountRange) -> u32 {
        let span = u64::from(range.max - range.min) + 1;
        range.min + (self.next_u64() % span) as u32
    }

    fn uuid(&mut self) -> String {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
    }
}

/// A seat at its absolute position, before the plan is moved onto the canvas.
struct GeneratedSeat {
    number: u32,
    x: f64,
    y: f64,
}

struct GeneratedRow {
    number: u32,
    seats: Vec<GeneratedSeat>,
}

struct GeneratedSection {
    id: String,
    name: String,
    category: &'static str,
    rows: Vec<GeneratedRow>,
}

/// Category names and colours, in the order the plan lists them.
const CATEGORIES: [(&str, &str); 5] = [
    ("Floor", "#8e44ad"),
    ("Lower Bowl", "#c0392b"),
    ("Club", "#d4a017"),
    ("Mezzanine", "#2e86c1"),
    ("Upper Bowl", "#27ae60"),
];

/// Returns the category of a section of `tier` (0-based) out of `tiers`. The first tier is the
/// lower bowl, the last the upper bowl, and any tier between them the mezzanine. The sideline
/// sections of the second tier are the club seats.
fn bowl_category(tier: usize, tiers: usize, side: Side) -> &'static str {
    if tier == 0 {
        "Lower Bowl"
    } else if tier == tiers - 1 {
        "Upper Bowl"
    } else if tier == 1 && side == Side::Sideline {
        "Club"
    } else {
        "Mezzanine"
    }
}

struct Builder<'a> {
    spec: &'a StadiumSpec,
    rng: SplitMix64,
    track: Track,
}

impl<'a> Builder<'a> {
    fn new(spec: &'a StadiumSpec) -> Self {
        let track = Self::track_for(spec);
        Self { spec, rng: SplitMix64(spec.seed), track }
    }

    /// Sizes the field so that the first tier's front row fits its widest sections and the floor
    /// fits between the stage and the far end.
    fn track_for(spec: &StadiumSpec) -> Track {
        // Perimeter of the inner edge per unit of half-height, from ASPECT and CORNER.
        let per_unit = 4.0 * (ASPECT - CORNER) + 4.0 * (1.0 - CORNER) + 2.0 * PI * CORNER;
        let first = &spec.tiers[0];
        let needed = f64::from(first.sections) * (f64::from(first.seats.max) * SEAT_PITCH + AISLE);
        let mut half_height = (needed / per_unit).max(200.0);
        if let Some(floor) = &spec.floor {
            let (across, deep) = floor_grid(floor.sections);
            let block_width = f64::from(floor.seats.max) * SEAT_PITCH + AISLE;
            let block_depth = f64::from(floor.rows.max) * ROW_PITCH + AISLE;
            // The floor spans at most 80% of the field's height and, with the stage, at most
            // 75% of its length.
            half_height = half_height.max(f64::from(across) * block_width / 1.6);
            half_height = half_height.max((f64::from(deep) * block_depth + stage_depth(half_height)) / (1.5 * ASPECT));
        }
        Track { half_width: ASPECT * half_height, half_height, corner: CORNER * half_height }
    }

    /// Lays out every section: the floor first, then each tier from the field outwards.
    fn sections(&mut self) -> Vec<GeneratedSection> {
        let spec = self.spec;
        let mut sections = Vec::new();
        if let Some(floor) = &spec.floor {
            sections.extend(self.floor_sections(floor));
        }
        let mut front = 0.0;
        for (t, tier) in spec.tiers.iter().enumerate() {
            let needed = f64::from(tier.sections) * (f64::from(tier.seats.max) * SEAT_PITCH + AISLE);
            let perimeter = self.track.perimeter(front);
            if perimeter < needed {
                // The perimeter grows by 2π per pixel of depth, because only the corners grow.
                front += (needed - perimeter) / (2.0 * PI);
            }
            let (tier_sections, back) = self.tier_sections(t, tier, front);
            sections.extend(tier_sections);
            front = back + CONCOURSE;
        }
        sections
    }

    /// Lays out the sections of tier `t` (0-based) with their front row at depth `front`, and
    /// returns them with the depth of the tier's deepest row.
    fn tier_sections(&mut self, t: usize, tier: &TierSpec, front: f64) -> (Vec<GeneratedSection>, f64) {
        let level = t + 1;
        let count = tier.sections as usize;
        let span = 1.0 / count as f64;
        let mut sections = Vec::with_capacity(count);
        let mut deepest = front;
        for i in 0..count {
            // Drawn for every section, kept or not, so a stage change keeps the other sections.
            let rows = self.rng.pick(tier.rows);
            let base_seats = self.rng.pick(tier.seats);

            // Section 01 is centred on the east end; numbers rise clockwise.
            let start = (i as f64 - 0.5) * span;
            let (mid_x, mid_y, side) = self.track.point(start + span / 2.0, front, front);
            if self.behind_stage(mid_x, mid_y) {
                continue;
            }
            let id = format!("{level}{:02}", i + 1);
            let mut section_rows = Vec::with_capacity(rows as usize);
            for r in 0..rows {
                let depth = front + f64::from(r) * ROW_PITCH;
                // Corner sections are wedges, so their rows gain a seat every 4 rows.
                let seats = if side == Side::Corner { (base_seats + r / 4).min(tier.seats.max) } else { base_seats };
                let arc = self.track.perimeter(front) * span;
                let usable = (arc - AISLE).max(SEAT_PITCH) / arc * span;
                let first_u = start + (span - usable) / 2.0;
                // Walking clockwise runs from a fan's right hand to their left while they face
                // the field, so seat 1 is the seat with the smallest `u`.
                let row_seats = (0..seats)
                    .map(|s| {
                        let u = first_u + (f64::from(s) + 0.5) / f64::from(seats) * usable;
                        let (x, y, _) = self.track.point(u, depth, front);
                        GeneratedSeat { number: s + 1, x, y }
                    })
                    .collect();
                section_rows.push(GeneratedRow { number: r + 1, seats: row_seats });
                deepest = deepest.max(depth);
            }
            sections.push(GeneratedSection {
                name: format!("Section {id}"),
                category: bowl_category(t, self.spec.tiers.len(), side),
                id,
                rows: section_rows,
            });
        }
        (sections, deepest)
    }

    fn behind_stage(&self, x: f64, y: f64) -> bool {
        let direction = match self.spec.stage {
            StageEnd::None => return false,
            StageEnd::East => 0.0_f64,
            StageEnd::West => 180.0_f64,
        };
        let angle = y.atan2(x).to_degrees();
        let difference = (angle - direction + 540.0).rem_euclid(360.0) - 180.0;
        difference.abs() <= STAGE_KILL_DEGREES
    }

    /// +1 when the stage is at the east end, -1 at the west end.
    fn stage_sign(&self) -> f64 {
        if self.spec.stage == StageEnd::West { -1.0 } else { 1.0 }
    }

    /// Returns the x of the stage's front edge.
    fn stage_front(&self) -> f64 {
        let back = self.track.half_width - 0.1 * self.track.half_height;
        self.stage_sign() * (back - stage_depth(self.track.half_height))
    }

    /// Floor sections in a grid in front of the stage: rows run parallel to the stage, row 1
    /// nearest it, and seat 1 at the right-hand end for a fan facing the stage.
    fn floor_sections(&mut self, floor: &FloorSpec) -> Vec<GeneratedSection> {
        let (across, _) = floor_grid(floor.sections);
        let sign = self.stage_sign();
        let block_width = f64::from(floor.seats.max) * SEAT_PITCH + AISLE;
        let block_depth = f64::from(floor.rows.max) * ROW_PITCH + AISLE;
        let first_row_x = self.stage_front() - sign * 3.0 * ROW_PITCH;
        let mut sections = Vec::with_capacity(floor.sections as usize);
        for i in 0..floor.sections {
            let rows = self.rng.pick(floor.rows);
            let seats = self.rng.pick(floor.seats);
            let column = i % across;
            let rank = i / across;
            // Columns are counted from the fans' right, which is south (+y) when they face east.
            let column_center = (f64::from(across) / 2.0 - f64::from(column) - 0.5) * block_width * sign;
            let row_x0 = first_row_x - sign * f64::from(rank) * block_depth;
            let id = format!("F{}", i + 1);
            let section_rows = (0..rows)
                .map(|r| GeneratedRow {
                    number: r + 1,
                    seats: (0..seats)
                        .map(|s| GeneratedSeat {
                            number: s + 1,
                            x: row_x0 - sign * f64::from(r) * ROW_PITCH,
                            y: column_center + sign * (f64::from(seats) / 2.0 - f64::from(s) - 0.5) * SEAT_PITCH,
                        })
                        .collect(),
                })
                .collect();
            sections.push(GeneratedSection {
                name: format!("Floor {}", i + 1),
                id,
                category: "Floor",
                rows: section_rows,
            });
        }
        sections
    }

    /// Moves everything onto a canvas with its top-left corner at (0, 0) and writes the plan,
    /// with each zone at its first seat and positions rounded to 0.01 px.
    fn into_plan(mut self, sections: Vec<GeneratedSection>) -> Plan {
        let mut min = (-self.track.half_width, -self.track.half_height);
        let mut max = (self.track.half_width, self.track.half_height);
        for seat in sections.iter().flat_map(|section| &section.rows).flat_map(|row| &row.seats) {
            min = (min.0.min(seat.x), min.1.min(seat.y));
            max = (max.0.max(seat.x), max.1.max(seat.y));
        }
        let shift = (MARGIN - min.0, MARGIN - min.1);
        let size = Size {
            width: (max.0 - min.0 + 2.0 * MARGIN).ceil() as i64,
            height: (max.1 - min.1 + 2.0 * MARGIN).ceil() as i64,
        };

        let used: Vec<&str> = CATEGORIES
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| sections.iter().any(|section| section.category == *name))
            .collect();
        let categories = CATEGORIES
            .iter()
            .filter(|(name, _)| used.contains(name))
            .map(|(name, color)| Category { name: (*name).to_owned(), color: Some((*color).to_owned()) })
            .collect();

        let mut zones = vec![self.field_zone(shift)];
        for section in sections {
            zones.push(self.section_zone(section, shift));
        }
        Plan { name: self.spec.name.clone(), categories, zones, size }
    }

    /// Builds a zone without seats that draws the field and, in concert mode, the stage.
    fn field_zone(&mut self, shift: (f64, f64)) -> Zone {
        let center = Position { x: round2(shift.0), y: round2(shift.1) };
        let field_half_width = self.track.half_width - 0.35 * self.track.half_height;
        let field_half_height = 0.75 * self.track.half_height;
        let mut areas = vec![Area {
            shape: Some(AreaShape::Rectangle),
            position: Some(Position { x: round2(-field_half_width), y: round2(-field_half_height) }),
            rotation: None,
            color: Some("#3a7d44".to_owned()),
            border_color: Some("#2d5f34".to_owned()),
            uuid: Some(self.rng.uuid()),
            rectangle: Some(Rectangle {
                width: (2.0 * field_half_width).round() as i64,
                height: (2.0 * field_half_height).round() as i64,
            }),
            circle: None,
            ellipse: None,
            polygon: None,
            text: None,
        }];
        if self.spec.stage != StageEnd::None {
            let depth = stage_depth(self.track.half_height);
            let front = self.stage_front();
            let left = if self.spec.stage == StageEnd::East { front } else { front - depth };
            let half_span = 0.5 * self.track.half_height;
            areas.push(Area {
                shape: Some(AreaShape::Rectangle),
                position: Some(Position { x: round2(left), y: round2(-half_span) }),
                rotation: None,
                color: Some("#222222".to_owned()),
                border_color: Some("#000000".to_owned()),
                uuid: Some(self.rng.uuid()),
                rectangle: Some(Rectangle { width: depth.round() as i64, height: (2.0 * half_span).round() as i64 }),
                circle: None,
                ellipse: None,
                polygon: None,
                text: None,
            });
            areas.push(Area {
                shape: Some(AreaShape::Text),
                position: Some(Position { x: round2(left + depth / 2.0), y: 0.0 }),
                rotation: None,
                color: None,
                border_color: None,
                uuid: Some(self.rng.uuid()),
                rectangle: None,
                circle: None,
                ellipse: None,
                polygon: None,
                text: Some(AreaText {
                    text: "STAGE".to_owned(),
                    position: Position::ORIGIN,
                    color: Some("#ffffff".to_owned()),
                    size: Some(24),
                }),
            });
        }
        Zone {
            name: Some("Field".to_owned()),
            zone_id: Some("field".to_owned()),
            uuid: Some(self.rng.uuid()),
            position: center,
            rows: Vec::new(),
            areas: Some(areas),
        }
    }

    fn section_zone(&mut self, section: GeneratedSection, shift: (f64, f64)) -> Zone {
        let anchor =
            section.rows.first().and_then(|row| row.seats.first()).map(|seat| (seat.x, seat.y)).unwrap_or_default();
        let zone_position = Position { x: round2(anchor.0 + shift.0), y: round2(anchor.1 + shift.1) };
        let rows = section
            .rows
            .into_iter()
            .map(|row| {
                let first = row.seats.first().map(|seat| (seat.x, seat.y)).unwrap_or(anchor);
                let row_position = Position {
                    x: round2(first.0 + shift.0 - zone_position.x),
                    y: round2(first.1 + shift.1 - zone_position.y),
                };
                let seats = row
                    .seats
                    .into_iter()
                    .map(|seat| Seat {
                        seat_guid: format!("{}-{}-{}", section.id, row.number, seat.number),
                        seat_number: seat.number.to_string(),
                        uuid: None,
                        start_direction: None,
                        radius: None,
                        position: Position {
                            x: round2(seat.x + shift.0 - zone_position.x - row_position.x),
                            y: round2(seat.y + shift.1 - zone_position.y - row_position.y),
                        },
                        category: section.category.to_owned(),
                    })
                    .collect();
                Row {
                    row_number: row.number.to_string(),
                    row_label: Some("Row %s".to_owned()),
                    seat_label: Some("Seat %s".to_owned()),
                    row_number_position: Some(RowNumberPosition::Both),
                    uuid: Some(self.rng.uuid()),
                    position: Some(row_position),
                    seats,
                }
            })
            .collect();
        Zone {
            name: Some(section.name),
            zone_id: Some(section.id),
            uuid: Some(self.rng.uuid()),
            position: zone_position,
            rows,
            areas: None,
        }
    }
}

/// Depth of the stage, from the bowl's half-height.
fn stage_depth(half_height: f64) -> f64 {
    0.3 * half_height
}

/// Columns and ranks of the floor grid: about twice as many ranks as columns, because the
/// floor is longer than it is wide.
fn floor_grid(sections: u32) -> (u32, u32) {
    let across = ((f64::from(sections) / 2.0).sqrt().ceil() as u32).max(1);
    (across, sections.div_ceil(across))
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

#[derive(Debug, clap::Args)]
pub struct GenerateVenueArgs {
    /// Starting layout; the options below change it.
    #[arg(long, env = "ONSALE_VENUE_PRESET", value_enum, default_value_t = Preset::Metlife)]
    pub preset: Preset,
    /// Name of the plan. Default: the preset's name.
    #[arg(long, env = "ONSALE_VENUE_NAME")]
    pub name: Option<String>,
    /// Sections per tier, comma-separated from the 100 level outwards (for example 48,48,52).
    /// Sets the number of tiers.
    #[arg(long, env = "ONSALE_VENUE_SECTIONS", value_delimiter = ',')]
    pub sections: Option<Vec<u32>>,
    /// Rows per section, one count or range per tier (for example 26-36,10-16,18-26), or one
    /// for every tier.
    #[arg(long, env = "ONSALE_VENUE_ROWS", value_delimiter = ',')]
    pub rows: Option<Vec<CountRange>>,
    /// Seats per row, one count or range per tier (for example 28-34), or one for every tier.
    #[arg(long, env = "ONSALE_VENUE_SEATS", value_delimiter = ',')]
    pub seats: Option<Vec<CountRange>>,
    /// End of the field with the stage. The sections behind the stage are left out.
    #[arg(long, env = "ONSALE_VENUE_STAGE", value_enum)]
    pub stage: Option<StageEnd>,
    /// Seated floor sections in front of the stage; 0 for none.
    #[arg(long, env = "ONSALE_VENUE_FLOOR_SECTIONS")]
    pub floor_sections: Option<u32>,
    /// Rows per floor section, a count or a range.
    #[arg(long, env = "ONSALE_VENUE_FLOOR_ROWS")]
    pub floor_rows: Option<CountRange>,
    /// Seats per floor row, a count or a range.
    #[arg(long, env = "ONSALE_VENUE_FLOOR_SEATS")]
    pub floor_seats: Option<CountRange>,
    /// Seed of the counts drawn from ranges; the same options and seed write the same file.
    #[arg(long, env = "ONSALE_VENUE_SEED", default_value_t = 1)]
    pub seed: u64,
    /// Scale every section's rows so the plan has about this many seats.
    #[arg(long, env = "ONSALE_VENUE_TARGET_SEATS")]
    pub target_seats: Option<u32>,
    /// File to write the plan to. Default: standard output.
    #[arg(long, short, env = "ONSALE_VENUE_OUTPUT")]
    pub output: Option<PathBuf>,
    /// Indent the JSON for reading; the default is compact.
    #[arg(long, env = "ONSALE_VENUE_PRETTY", default_value_t = false)]
    pub pretty: bool,
}

impl GenerateVenueArgs {
    /// Returns the preset with every given option applied.
    pub fn spec(&self) -> anyhow::Result<StadiumSpec> {
        let mut spec = StadiumSpec::preset(self.preset);
        spec.seed = self.seed;
        if let Some(stage) = self.stage {
            spec.stage = stage;
        }
        spec.name = match &self.name {
            Some(name) => name.clone(),
            None => format!("{}, {}", spec.name, spec.stage.describe()),
        };

        let tier_count = self.sections.as_ref().map_or(spec.tiers.len(), Vec::len);
        let per_tier = |values: &Option<Vec<CountRange>>,
                        option: &str,
                        tier: usize|
         -> anyhow::Result<Option<CountRange>> {
            match values.as_deref() {
                None => Ok(None),
                Some([one]) => Ok(Some(*one)),
                Some(list) if list.len() == tier_count => Ok(Some(list[tier])),
                Some(list) => bail!("--{option} has {} values; give one, or one per tier ({tier_count})", list.len()),
            }
        };
        let preset_tiers = spec.tiers.clone();
        let mut tiers = Vec::with_capacity(tier_count);
        for t in 0..tier_count {
            let base = preset_tiers.get(t).or(preset_tiers.last()).cloned().context("the preset has no tiers")?;
            tiers.push(TierSpec {
                sections: self.sections.as_ref().map_or(base.sections, |sections| sections[t]),
                rows: per_tier(&self.rows, "rows", t)?.unwrap_or(base.rows),
                seats: per_tier(&self.seats, "seats", t)?.unwrap_or(base.seats),
            });
        }
        spec.tiers = tiers;

        let default_floor = StadiumSpec::preset(self.preset).floor.unwrap_or(FloorSpec {
            sections: 4,
            rows: CountRange::new(20, 25),
            seats: CountRange::new(24, 30),
        });
        match self.floor_sections {
            Some(0) => spec.floor = None,
            Some(sections) => spec.floor = Some(FloorSpec { sections, ..spec.floor.clone().unwrap_or(default_floor) }),
            None => {}
        }
        if let Some(floor) = &mut spec.floor {
            floor.rows = self.floor_rows.unwrap_or(floor.rows);
            floor.seats = self.floor_seats.unwrap_or(floor.seats);
        } else if self.floor_rows.is_some() || self.floor_seats.is_some() {
            bail!("--floor-rows and --floor-seats need floor sections (--floor-sections)");
        }
        if spec.stage == StageEnd::None && spec.floor.is_some() && self.floor_sections.is_none() {
            // The preset's floor faces a stage; without a stage the field stays empty.
            spec.floor = None;
        }
        spec.check().map_err(anyhow::Error::msg)?;
        Ok(spec)
    }
}

/// `onsale generate-venue`: writes the plan to `--output` or standard output and a one-line
/// summary to standard error.
pub fn run(args: GenerateVenueArgs) -> anyhow::Result<()> {
    let spec = args.spec()?;
    let plan = match args.target_seats {
        Some(target) => generate_sized(&spec, target)?.1,
        None => generate(&spec)?,
    };
    let mut bytes = if args.pretty { serde_json::to_vec_pretty(&plan)? } else { serde_json::to_vec(&plan)? };
    // The same bytes go to a file and to standard output, so both import as the same plan.
    bytes.push(b'\n');
    match &args.output {
        Some(path) => std::fs::write(path, &bytes).with_context(|| format!("writing {} failed", path.display()))?,
        None => std::io::stdout().lock().write_all(&bytes)?,
    }
    let sections = plan.zones.iter().filter(|zone| !zone.rows.is_empty()).count();
    eprintln!(
        "generated {:?}: {} seats in {} sections, {} x {} px",
        plan.name,
        seat_count(&plan),
        sections,
        plan.size.width,
        plan.size.height
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_range_parses() {
        assert_eq!("28-34".parse::<CountRange>().unwrap(), CountRange::new(28, 34));
        assert_eq!("30".parse::<CountRange>().unwrap(), CountRange::new(30, 30));
        for bad in ["", "0", "34-28", "a-b", "-3"] {
            assert!(bad.parse::<CountRange>().is_err(), "input {bad:?}");
        }
    }

    #[test]
    fn seat_one_is_on_the_right() {
        let plan = generate(&StadiumSpec::preset(Preset::Small)).unwrap();
        let center_y = plan.size.height as f64 / 2.0;
        // A zone below the field's centre line is on the south side, where fans face north
        // and their right hand points east (+x).
        let south = plan
            .zones
            .iter()
            .filter(|zone| zone.name.as_deref().is_some_and(|name| name.starts_with("Section 1")))
            .find(|zone| zone.position.y > center_y + 100.0 && zone.rows[0].seats.len() > 1)
            .expect("a south sideline section");
        let row = &south.rows[0];
        assert_eq!(row.seats[0].seat_number, "1");
        assert!(row.seats[0].position.x > row.seats[1].position.x, "seat 1 must be east of seat 2 on the south side");
    }

    #[test]
    fn stage_end_drops_sections() {
        let mut spec = StadiumSpec::preset(Preset::Small);
        spec.floor = None;
        spec.stage = StageEnd::None;
        let football = seat_count(&generate(&spec).unwrap());
        spec.stage = StageEnd::West;
        let concert = seat_count(&generate(&spec).unwrap());
        assert!(concert < football, "{concert} seats with a stage, {football} without");
    }

    #[test]
    fn floor_needs_a_stage() {
        let mut spec = StadiumSpec::preset(Preset::Small);
        spec.stage = StageEnd::None;
        assert!(generate(&spec).unwrap_err().to_string().contains("stage"));
    }
}
