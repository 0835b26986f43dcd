//! Seating plans in the pretix format: parsing, validation and import into EventDB.

pub mod generate;

use std::path::PathBuf;

use crate::config::DatabaseConfig;

#[derive(Debug, clap::Args)]
pub struct ImportPlanArgs {
    /// The pretix seating-plan JSON file.
    pub file: PathBuf,
    #[command(flatten)]
    pub database: DatabaseConfig,
}

pub async fn run_import(args: ImportPlanArgs) -> anyhow::Result<()> {
    anyhow::bail!("import-plan is not available yet (file {})", args.file.display())
}
