//! The end of the demo: each party's own projection, once the router and the projectors have
//! taken in everything the scenario appended: how many pathways it holds, how many wait on it
//! (its worklist), and the digest of the whole projection.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use raccordo_domain::ids::OrgId;
use raccordo_projections::{ListFilter, ProjectionStore};

use crate::app::Settled;

/// How long the router and the projectors get to take in the last events.
const SETTLE: Duration = Duration::from_secs(60);

/// One party's projection.
pub(crate) struct Party {
    pub org: OrgId,
    pub store: Arc<dyn ProjectionStore>,
}

/// What one party's projection holds.
struct Held {
    pathways: usize,
    worklist: usize,
    digest: String,
}

/// Waits until every event in the log has been routed and every party's projector has applied
/// its inbox up to there, then prints each party's projection.
pub(crate) async fn print(settled: &mut Settled, parties: &[Party]) -> anyhow::Result<()> {
    tokio::time::timeout(SETTLE, settled.wait())
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "the projections did not take in the demo's events within {} s",
                SETTLE.as_secs()
            )
        })??;
    println!();
    println!("Each party's own projection (what it received, in sled)");
    println!(
        "  {:<38}{:>9}{:>10}   digest",
        "party", "pathways", "worklist"
    );
    for party in parties {
        let held = held(party.store.as_ref())
            .with_context(|| format!("cannot read the projection of {}", party.org))?;
        println!(
            "  {:<38}{:>9}{:>10}   {}",
            party.org.to_string(),
            held.pathways,
            held.worklist,
            held.digest
        );
    }
    Ok(())
}

fn held(store: &dyn ProjectionStore) -> anyhow::Result<Held> {
    Ok(Held {
        pathways: store.list(&ListFilter::default())?.len(),
        worklist: store.worklist()?.len(),
        digest: store.digest()?,
    })
}
