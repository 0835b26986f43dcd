//! `onsale seed`: loads tour dates from a CSV file as events.

use crate::config::DatabaseConfig;

#[derive(Debug, clap::Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub database: DatabaseConfig,
}

pub async fn run(_args: SeedArgs) -> anyhow::Result<()> {
    anyhow::bail!("seed is not available yet")
}
