//! Seating plans in the pretix format: parsing, validation and import into EventDB.
//!
//! - [`format`]: serde types of the pretix seating-plan JSON.
//! - [`validate`]: parsing with JSON paths in every error, the checks the schema cannot make,
//!   and the seats laid out in seat-index order with absolute coordinates.
//! - [`import`]: one transaction that writes the plan, its categories and its seats.
//! - [`generate`]: the stadium generator behind `onsale generate-venue`, drawing sections on
//!   the bowl curves of `bowl`.

mod bowl;
pub mod format;
pub mod generate;
pub mod import;
pub mod validate;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use crate::config::DatabaseConfig;
use crate::db::NewVenue;

pub use import::{ImportError, ImportedPlan, PreparedPlan, import_plan, import_prepared, source_sha256};
pub use validate::{PlacedSeat, PlanError, ValidPlan, parse_plan};

#[derive(Debug, clap::Args)]
pub struct ImportPlanArgs {
    /// The pretix seating-plan JSON file.
    pub file: PathBuf,
    /// Venue that the plan belongs to; it is created unless a venue of this name exists in --city.
    #[arg(long, env = "ONSALE_PLAN_VENUE", requires = "city")]
    pub venue: Option<String>,
    /// City of --venue.
    #[arg(long, env = "ONSALE_PLAN_CITY", requires = "venue")]
    pub city: Option<String>,
    /// State, province or region of a new --venue.
    #[arg(long, env = "ONSALE_PLAN_REGION", default_value = "")]
    pub region: String,
    /// Country code of a new --venue, such as US.
    #[arg(long, env = "ONSALE_PLAN_COUNTRY", default_value = "")]
    pub country: String,
    #[command(flatten)]
    pub database: DatabaseConfig,
}

/// `onsale import-plan`: imports a plan file into an already migrated database and prints the
/// plan id and seat count.
pub async fn run_import(args: ImportPlanArgs) -> anyhow::Result<()> {
    let bytes = std::fs::read(&args.file).with_context(|| format!("reading {} failed", args.file.display()))?;
    let db = crate::db::connect(&args.database).await?;

    let venue_id = match (&args.venue, &args.city) {
        (Some(name), Some(city)) => {
            let venue = NewVenue { name, city, region: &args.region, country: &args.country };
            let (id, created) = db.find_or_create_venue(&venue).await?;
            if created {
                println!("created venue {id} {name:?} in {city}");
            }
            Some(id)
        }
        _ => None,
    };

    let started = Instant::now();
    let imported = import_plan(&db, &bytes, venue_id)
        .await
        .with_context(|| format!("importing {} failed", args.file.display()))?;
    let plan = &imported.plan;
    if imported.created {
        println!(
            "imported seating plan {} {:?}: {} seats in {} categories ({} ms)",
            plan.id,
            plan.name,
            plan.seat_count,
            imported.category_count,
            started.elapsed().as_millis()
        );
    } else {
        println!(
            "seating plan {} {:?} ({} seats) was already imported from this file; nothing changed",
            plan.id, plan.name, plan.seat_count
        );
    }
    Ok(())
}
