//! Parsing and checking a pretix plan, and laying out its seats in seat-index order.
//!
//! serde rejects what the schema rejects (unknown keys, missing keys, wrong types, unknown enum
//! values). [`validate`] then checks what the schema cannot: category references, unique seat
//! GUIDs, unique object UUIDs, unique category names, a non-empty plan, the seat-count limit and
//! sane coordinates. Every rejection names the JSON path of the field at fault.

use std::collections::HashMap;
use std::fmt;

use onsale_shared::{SeatId, SeatIndex};

use super::format::{Area, Plan, Position};

/// Largest absolute coordinate or canvas side accepted, in pixels. Seat maps send coordinates
/// as `f32`, which still resolves 1/16 pixel at this magnitude.
pub const MAX_COORDINATE: f64 = 1_000_000.0;

/// Largest category count: `plan_categories.position` is a `SMALLINT`.
pub const MAX_CATEGORIES: usize = i16::MAX as usize;

/// A plan that was rejected, with the JSON path of the field at fault (for example
/// `zones[1].rows[0].seats[3].category`) and, where there is one, the rejected value as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    pub path: String,
    pub value: Option<String>,
    pub reason: String,
}

impl PlanError {
    fn new(path: impl Into<String>, value: Option<String>, reason: impl Into<String>) -> Self {
        Self { path: path.into(), value, reason: reason.into() }
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(f, "invalid seating plan at {}: {} (value {})", self.path, self.reason, value),
            None => write!(f, "invalid seating plan at {}: {}", self.path, self.reason),
        }
    }
}

impl std::error::Error for PlanError {}

/// One seat with its absolute position. Its seat index is its position in [`ValidPlan::seats`].
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedSeat {
    pub guid: SeatId,
    /// The zone's name, else its `zone_id`, else empty.
    pub zone: String,
    pub row: String,
    pub number: String,
    /// zone.position + row.position + seat.position, as pretix computes it.
    pub x: f64,
    pub y: f64,
    /// Index of the seat's category in [`Plan::categories`].
    pub category: u16,
}

/// A plan that passed every check, with its seats in file order (zone, row, seat).
#[derive(Debug, Clone)]
pub struct ValidPlan {
    pub plan: Plan,
    pub seats: Vec<PlacedSeat>,
}

/// Parses a plan file and checks it.
pub fn parse_plan(bytes: &[u8]) -> Result<ValidPlan, PlanError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let plan: Plan = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| parse_error(&err))?;
    deserializer
        .end()
        .map_err(|err| PlanError::new(".", None, format!("unexpected content after the plan object: {err}")))?;
    let seats = validate(&plan)?;
    Ok(ValidPlan { plan, seats })
}

/// Turns a serde error into a [`PlanError`] whose path ends at the missing or unknown key
/// itself, not at the object that contains it.
fn parse_error(err: &serde_path_to_error::Error<serde_json::Error>) -> PlanError {
    let message = err.inner().to_string();
    // A syntax error can stop inside a key that was never read, which the path shows as `?`.
    let mut path = err.path().to_string().trim_end_matches(".?").to_owned();
    if path.is_empty() || path == "?" {
        path = ".".to_owned();
    }
    let named_key = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split_once('`'))
        .map(|(key, _)| key.to_owned());
    let mut value = None;
    if let Some(key) = named_key {
        let ends_with_key = path == key || path.ends_with(&format!(".{key}"));
        if !ends_with_key {
            path = if path == "." { key.clone() } else { format!("{path}.{key}") };
        }
        if message.starts_with("unknown") {
            value = Some(json_string(&key));
        }
    }
    PlanError::new(path, value, message)
}

/// Writes a string as a JSON literal, cut to 80 characters so an error message stays readable.
fn json_string(value: &str) -> String {
    let short: String = value.chars().take(80).collect();
    serde_json::to_string(&short).unwrap_or_default()
}

/// Checks what the schema cannot, and returns the seats in seat-index order.
pub fn validate(plan: &Plan) -> Result<Vec<PlacedSeat>, PlanError> {
    check_size(plan)?;
    let categories = check_categories(plan)?;
    check_uuids(plan)?;

    let seat_count: usize = plan.zones.iter().flat_map(|zone| &zone.rows).map(|row| row.seats.len()).sum();
    if seat_count == 0 {
        return Err(PlanError::new("zones", None, "the plan has no seats"));
    }
    if seat_count > SeatIndex::MAX_SEATS as usize {
        return Err(PlanError::new(
            "zones",
            Some(seat_count.to_string()),
            format!("the plan has more than {} seats", SeatIndex::MAX_SEATS),
        ));
    }

    let mut seats = Vec::with_capacity(seat_count);
    let mut guid_paths: HashMap<SeatId, String> = HashMap::with_capacity(seat_count);
    for (z, zone) in plan.zones.iter().enumerate() {
        let zone_path = format!("zones[{z}]");
        check_position(&format!("{zone_path}.position"), zone.position)?;
        for (a, area) in zone.areas.iter().flatten().enumerate() {
            check_area(&format!("{zone_path}.areas[{a}]"), area)?;
        }
        let zone_label = zone.name.clone().or_else(|| zone.zone_id.clone()).unwrap_or_default();

        for (r, row) in zone.rows.iter().enumerate() {
            let row_path = format!("{zone_path}.rows[{r}]");
            let row_position = row.position.unwrap_or(Position::ORIGIN);
            check_position(&format!("{row_path}.position"), row_position)?;

            for (s, seat) in row.seats.iter().enumerate() {
                let seat_path = format!("{row_path}.seats[{s}]");
                check_position(&format!("{seat_path}.position"), seat.position)?;

                let guid: SeatId = seat.seat_guid.parse().map_err(|err: onsale_shared::IdError| {
                    PlanError::new(format!("{seat_path}.seat_guid"), Some(json_string(&seat.seat_guid)), err.reason)
                })?;
                let category = *categories.get(seat.category.as_str()).ok_or_else(|| {
                    PlanError::new(
                        format!("{seat_path}.category"),
                        Some(json_string(&seat.category)),
                        "no category of this name in `categories`",
                    )
                })?;
                let x = zone.position.x + row_position.x + seat.position.x;
                let y = zone.position.y + row_position.y + seat.position.y;
                if !(x.abs() <= MAX_COORDINATE && y.abs() <= MAX_COORDINATE) {
                    return Err(PlanError::new(
                        format!("{seat_path}.position"),
                        Some(format!("{{\"x\": {x}, \"y\": {y}}} (absolute)")),
                        format!("zone, row and seat positions must add up to within ±{MAX_COORDINATE}"),
                    ));
                }

                if let Some(first) = guid_paths.get(&guid) {
                    return Err(PlanError::new(
                        format!("{seat_path}.seat_guid"),
                        Some(json_string(&seat.seat_guid)),
                        format!("duplicate seat_guid, first used at {first}"),
                    ));
                }
                guid_paths.insert(guid.clone(), seat_path);
                seats.push(PlacedSeat {
                    guid,
                    zone: zone_label.clone(),
                    row: row.row_number.clone(),
                    number: seat.seat_number.clone(),
                    x,
                    y,
                    category,
                });
            }
        }
    }
    Ok(seats)
}

fn check_size(plan: &Plan) -> Result<(), PlanError> {
    for (name, value) in [("width", plan.size.width), ("height", plan.size.height)] {
        if value <= 0 || value as f64 > MAX_COORDINATE {
            return Err(PlanError::new(
                format!("size.{name}"),
                Some(value.to_string()),
                format!("must be between 1 and {MAX_COORDINATE} pixels"),
            ));
        }
    }
    Ok(())
}

/// Checks that category names are unique and returns each name's index.
fn check_categories(plan: &Plan) -> Result<HashMap<&str, u16>, PlanError> {
    if plan.categories.len() > MAX_CATEGORIES {
        return Err(PlanError::new(
            "categories",
            Some(plan.categories.len().to_string()),
            format!("a plan may have at most {MAX_CATEGORIES} categories"),
        ));
    }
    let mut indexes = HashMap::with_capacity(plan.categories.len());
    for (i, category) in plan.categories.iter().enumerate() {
        // The count check above keeps every index within u16.
        let index = i as u16;
        if let Some(first) = indexes.insert(category.name.as_str(), index) {
            return Err(PlanError::new(
                format!("categories[{i}].name"),
                Some(json_string(&category.name)),
                format!("duplicate category name, first used at categories[{first}]"),
            ));
        }
    }
    Ok(indexes)
}

/// Checks that every `uuid` is unique across zones, rows, seats and areas, as pretix requires.
fn check_uuids(plan: &Plan) -> Result<(), PlanError> {
    let mut seen: HashMap<&str, String> = HashMap::new();
    for (z, zone) in plan.zones.iter().enumerate() {
        claim_uuid(&mut seen, zone.uuid.as_ref(), || format!("zones[{z}]"))?;
        for (a, area) in zone.areas.iter().flatten().enumerate() {
            claim_uuid(&mut seen, area.uuid.as_ref(), || format!("zones[{z}].areas[{a}]"))?;
        }
        for (r, row) in zone.rows.iter().enumerate() {
            claim_uuid(&mut seen, row.uuid.as_ref(), || format!("zones[{z}].rows[{r}]"))?;
            for (s, seat) in row.seats.iter().enumerate() {
                claim_uuid(&mut seen, seat.uuid.as_ref(), || format!("zones[{z}].rows[{r}].seats[{s}]"))?;
            }
        }
    }
    Ok(())
}

/// Records the uuid of the object at `path`, or rejects it when an earlier object has it.
fn claim_uuid<'p>(
    seen: &mut HashMap<&'p str, String>,
    uuid: Option<&'p String>,
    path: impl FnOnce() -> String,
) -> Result<(), PlanError> {
    let Some(uuid) = uuid else {
        return Ok(());
    };
    let path = path();
    if let Some(first) = seen.get(uuid.as_str()) {
        return Err(PlanError::new(
            format!("{path}.uuid"),
            Some(json_string(uuid)),
            format!("duplicate uuid, first used at {first}"),
        ));
    }
    seen.insert(uuid.as_str(), path);
    Ok(())
}

fn check_number(path: &str, value: f64) -> Result<(), PlanError> {
    if value.is_finite() && value.abs() <= MAX_COORDINATE {
        Ok(())
    } else {
        Err(PlanError::new(path, Some(value.to_string()), format!("must be a finite number within ±{MAX_COORDINATE}")))
    }
}

fn check_position(path: &str, position: Position) -> Result<(), PlanError> {
    check_number(&format!("{path}.x"), position.x)?;
    check_number(&format!("{path}.y"), position.y)
}

/// Checks the numbers of a decoration. Areas are stored for drawing only, so nothing else about
/// them matters to a sale.
fn check_area(path: &str, area: &Area) -> Result<(), PlanError> {
    if let Some(position) = area.position {
        check_position(&format!("{path}.position"), position)?;
    }
    if let Some(rotation) = area.rotation {
        check_number(&format!("{path}.rotation"), rotation)?;
    }
    if let Some(ellipse) = &area.ellipse {
        check_position(&format!("{path}.ellipse.radius"), ellipse.radius)?;
    }
    if let Some(polygon) = &area.polygon {
        for (p, point) in polygon.points.iter().enumerate() {
            check_position(&format!("{path}.polygon.points[{p}]"), *point)?;
        }
    }
    if let Some(text) = &area.text {
        check_position(&format!("{path}.text.position"), text.position)?;
    }
    Ok(())
}
