//! The stadium generator: writes a pretix seating plan from tier, section, row and seat counts.

#[derive(Debug, clap::Args)]
pub struct GenerateVenueArgs {}

pub fn run(_args: GenerateVenueArgs) -> anyhow::Result<()> {
    anyhow::bail!("generate-venue is not available yet")
}
