//! `onsale demo`: a scripted onsale driven over HTTP and WebSocket against a running platform.

#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

pub async fn run(_args: DemoArgs) -> anyhow::Result<()> {
    anyhow::bail!("demo is not available yet")
}
