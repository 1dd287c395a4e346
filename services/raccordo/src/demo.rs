//! The demo scenario (being written).

#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

pub async fn run(_: DemoArgs) -> anyhow::Result<()> {
    anyhow::bail!("the demo is not written yet")
}
