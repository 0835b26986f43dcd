//! The pretix seating-plan JSON format as serde types.
//!
//! The model follows pretix's `seating-plan.schema.json` (the revision with a required `size`,
//! `uuid`, `zone_id`, `row_label`, `seat_label`, `row_number_position`, `start_direction`,
//! `radius` and shaped areas). That schema sets `additionalProperties: false` on every object, so
//! every struct here rejects unknown keys. Optional keys are `Option`s and are left out when
//! written; only the keys whose schema type includes `null` accept an explicit `null`. What the schema cannot check (category references, unique ids, sane numbers) is
//! checked in [`super::validate`].

use serde::{Deserialize, Deserializer, Serialize};

/// A whole seating plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub name: String,
    pub categories: Vec<Category>,
    pub zones: Vec<Zone>,
    pub size: Size,
}

/// Canvas size in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Size {
    #[serde(deserialize_with = "integer")]
    pub width: i64,
    #[serde(deserialize_with = "integer")]
    pub height: i64,
}

/// A seat category. Seats refer to it by `name`, and each event prices it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub color: Option<String>,
}

/// A top-level group of rows, such as a stadium section or a balcony.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub name: Option<String>,
    /// pretix's editor uses it only to generate seat GUIDs, and falls back to `name` without it.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub zone_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub uuid: Option<String>,
    pub position: Position,
    pub rows: Vec<Row>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub areas: Option<Vec<Area>>,
}

/// A row of seats. Its position is relative to its zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    pub row_number: String,
    /// Text label of the row, with `%s` standing for `row_number` (for example "Row %s").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_label: Option<String>,
    /// Text label of each seat, with `%s` standing for `seat_number`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_number_position: Option<RowNumberPosition>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub uuid: Option<String>,
    /// Optional in the schema; pretix's code reads it as (0, 0) when it is missing.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub position: Option<Position>,
    pub seats: Vec<Seat>,
}

/// Position of the row number in a drawing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RowNumberPosition {
    Start,
    End,
    Both,
}

/// One seat. Its position is relative to its row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seat {
    /// Stable id, unique across the plan, never shown to buyers.
    pub seat_guid: String,
    pub seat_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_direction: Option<StartDirection>,
    /// Drawn size of the seat; pretix draws 10 without it.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional_integer")]
    pub radius: Option<i64>,
    pub position: Position,
    /// Name of one of the plan's categories.
    pub category: String,
}

/// Marks a seat as a start point for booking seats in order along its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StartDirection {
    #[serde(rename = "<")]
    Left,
    #[serde(rename = ">")]
    Right,
    #[serde(rename = "<>")]
    Both,
}

/// A decoration of a zone: a stage, a field, a label. None of its keys is required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Area {
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub shape: Option<AreaShape>,
    /// Anchor point, relative to the zone.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub position: Option<Position>,
    /// Degrees clockwise around `position`.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub rotation: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub border_color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub rectangle: Option<Rectangle>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub circle: Option<Circle>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub ellipse: Option<Ellipse>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub polygon: Option<Polygon>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub text: Option<AreaText>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AreaShape {
    Polygon,
    Rectangle,
    Ellipse,
    Circle,
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rectangle {
    #[serde(deserialize_with = "integer")]
    pub width: i64,
    #[serde(deserialize_with = "integer")]
    pub height: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Circle {
    #[serde(deserialize_with = "integer")]
    pub radius: i64,
}

/// An ellipse with its x and y radii.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ellipse {
    pub radius: Position,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Polygon {
    pub points: Vec<Position>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AreaText {
    pub text: String,
    pub position: Position,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub color: Option<String>,
    /// Font size; pretix draws 16 without it.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional_integer")]
    pub size: Option<i64>,
}

/// A point in canvas pixels. Zone positions are absolute, row positions are relative to the
/// zone and seat positions relative to the row.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Position {
    pub x: f64,
    pub y: f64,
}

impl Position {
    pub const ORIGIN: Position = Position { x: 0.0, y: 0.0 };
}

/// Reads a JSON Schema `integer`, which, unlike a Rust integer, includes numbers such as `600.0`.
fn integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let number = serde_json::Number::deserialize(deserializer)?;
    if let Some(value) = number.as_i64() {
        return Ok(value);
    }
    match number.as_f64() {
        Some(value) if value.fract() == 0.0 && value.abs() < 9.0e15 => Ok(value as i64),
        _ => Err(serde::de::Error::custom(format_args!("invalid number {number}, expected an integer"))),
    }
}

fn optional_integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    integer(deserializer).map(Some)
}

/// Reads an optional key whose schema type does not include `null`: a missing key is `None`
/// (through `#[serde(default)]`), and an explicit `null` is rejected like any other wrong type.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}
