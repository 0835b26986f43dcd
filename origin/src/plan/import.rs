//! Importing a checked plan into EventDB: the plan row, its categories and its seats, in one
//! transaction. A file is identified by its SHA-256, so importing it again finds the first import.

use sha2::{Digest, Sha256};

use super::format::Plan;
use super::validate::{PlanError, ValidPlan, parse_plan, validate};
use crate::db::{NewPlan, NewPlanCategory, NewSeat, SharedDatabase, StoredPlan};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Invalid(#[from] PlanError),
    #[error("writing the seating plan to the database failed: {0}")]
    Database(#[from] sqlx::Error),
}

/// The outcome of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedPlan {
    pub plan: StoredPlan,
    /// False when a plan from the same file bytes already existed and nothing was written.
    pub created: bool,
    pub category_count: usize,
}

/// SHA-256 of the file bytes, as lowercase hex.
pub fn source_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A checked plan with the SHA-256 of the file bytes it came from, ready to import.
#[derive(Debug, Clone)]
pub struct PreparedPlan {
    pub valid: ValidPlan,
    pub sha256: String,
}

impl PreparedPlan {
    /// Parses and checks a plan file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PlanError> {
        Ok(Self { valid: parse_plan(bytes)?, sha256: source_sha256(bytes) })
    }

    /// Checks a plan built in memory; `bytes` must be its JSON, so that a later import of that
    /// file finds this plan. Skipping the parse saves time for generated plans.
    pub fn from_plan(plan: Plan, bytes: &[u8]) -> Result<Self, PlanError> {
        let seats = validate(&plan)?;
        Ok(Self { valid: ValidPlan { plan, seats }, sha256: source_sha256(bytes) })
    }
}

/// Parses, checks and imports a plan file, or returns the plan already imported from the same
/// bytes. `venue_id` links a new plan to its venue.
pub async fn import_plan(
    db: &SharedDatabase,
    bytes: &[u8],
    venue_id: Option<i64>,
) -> Result<ImportedPlan, ImportError> {
    let sha256 = source_sha256(bytes);
    // Looked up before parsing, so a repeated import of a large file costs one query.
    if let Some(existing) = db.find_plan_by_sha256(&sha256).await? {
        return Ok(existing_plan(db, existing).await?);
    }
    let prepared = PreparedPlan::from_bytes(bytes)?;
    import_prepared(db, &prepared, venue_id).await
}

/// Imports a checked plan, or returns the plan already imported from the same bytes.
pub async fn import_prepared(
    db: &SharedDatabase,
    prepared: &PreparedPlan,
    venue_id: Option<i64>,
) -> Result<ImportedPlan, ImportError> {
    if let Some(existing) = db.find_plan_by_sha256(&prepared.sha256).await? {
        return Ok(existing_plan(db, existing).await?);
    }
    insert_valid_plan(db, &prepared.valid, &prepared.sha256, venue_id).await
}

async fn existing_plan(db: &SharedDatabase, plan: StoredPlan) -> Result<ImportedPlan, sqlx::Error> {
    let category_count = db.plan_category_keys(plan.id).await?.len();
    Ok(ImportedPlan { plan, created: false, category_count })
}

async fn insert_valid_plan(
    db: &SharedDatabase,
    valid: &ValidPlan,
    sha256: &str,
    venue_id: Option<i64>,
) -> Result<ImportedPlan, ImportError> {
    let plan = &valid.plan;
    let seat_count = u32::try_from(valid.seats.len()).unwrap_or(u32::MAX);
    let areas = areas_json(valid);
    let categories: Vec<NewPlanCategory> =
        plan.categories.iter().map(|category| (category.name.clone(), category.color.clone())).collect();
    let seats: Vec<NewSeat<'_>> = valid
        .seats
        .iter()
        .map(|seat| NewSeat {
            guid: seat.guid.as_str(),
            zone: &seat.zone,
            row: &seat.row,
            number: &seat.number,
            x: seat.x,
            y: seat.y,
            category: seat.category,
        })
        .collect();

    let new_plan = NewPlan {
        venue_id,
        name: &plan.name,
        width: plan.size.width as f64,
        height: plan.size.height as f64,
        seat_count,
        sha256,
        areas: &areas,
    };
    let Some(plan_id) = db.insert_plan(&new_plan, &categories, &seats).await? else {
        // Another import of the same bytes committed between our lookup and our insert.
        let existing = db.find_plan_by_sha256(sha256).await?.ok_or_else(|| sqlx::Error::RowNotFound)?;
        return Ok(existing_plan(db, existing).await?);
    };

    Ok(ImportedPlan {
        plan: StoredPlan { id: plan_id, name: plan.name.clone(), seat_count },
        created: true,
        category_count: categories.len(),
    })
}

/// Collects the zones' areas for `seating_plans.areas`: each area as the file wrote it, with the
/// name and position of its zone, because an area's position is relative to its zone.
fn areas_json(valid: &ValidPlan) -> serde_json::Value {
    let mut areas = Vec::new();
    for zone in &valid.plan.zones {
        for area in zone.areas.iter().flatten() {
            areas.push(serde_json::json!({
                "zone": zone.name.as_ref().or(zone.zone_id.as_ref()),
                "zone_position": zone.position,
                "area": area,
            }));
        }
    }
    serde_json::Value::Array(areas)
}
