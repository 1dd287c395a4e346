//! The reconciler's findings on the demo's pathways, read from the log once the reconciler has
//! taken in the whole scenario, and printed per kind with one example each.

use std::collections::BTreeMap;

use anyhow::Context as _;
use futures::StreamExt;
use raccordo_domain::ids::{OrgId, PathwayId, PathwayKind};
use raccordo_domain::pathway::EventData;
use raccordo_domain::pathway::finding::{Finding, FindingKind};
use raccordo_eventlog::{EventLog, Stored};

use crate::history::duration;

/// One finding in the log.
#[derive(Debug, Clone)]
pub(crate) struct Logged {
    pub sequence: u64,
    pub pathway: PathwayId,
    pub finding: Finding,
}

/// Every finding in the log after sequence `base`, in log order.
pub(crate) async fn read(log: &EventLog, base: u64) -> anyhow::Result<Vec<Logged>> {
    let last = log
        .last_sequence()
        .await
        .context("the event log does not answer")?;
    let mut found = Vec::new();
    let mut events = Box::pin(log.read_range(base + 1, last).await?);
    while let Some(stored) = events.next().await {
        if let Stored::Event(recorded) = stored?
            && let EventData::Finding(_, finding) = recorded.event.data
        {
            found.push(Logged {
                sequence: recorded.sequence,
                pathway: recorded.event.pathway,
                finding: *finding,
            });
        }
    }
    Ok(found)
}

/// How many findings and the last sequence of one on each pathway.
pub(crate) fn per_pathway(found: &[Logged]) -> BTreeMap<String, (u64, u64)> {
    let mut per = BTreeMap::<String, (u64, u64)>::new();
    for f in found {
        let entry = per.entry(f.pathway.to_string()).or_default();
        entry.0 += 1;
        entry.1 = entry.1.max(f.sequence);
    }
    per
}

fn describe(f: &Logged) -> String {
    let mut parts = vec![f.pathway.to_string()];
    if let Some(step) = &f.finding.step {
        parts.push(format!(
            "step {} ({} v{})",
            step.step, step.protocol, step.version
        ));
    }
    match (&f.finding.party, &f.finding.step) {
        (Some(party), Some(_)) => parts.push(format!("waiting on {party}")),
        (Some(party), None) => parts.push(format!("party {party}")),
        _ => {}
    }
    if f.finding.finding == FindingKind::Divergence
        && let Some(event) = &f.finding.event_id
    {
        parts.push(format!("parts at event {event}"));
    }
    if let Some(minutes) = f.finding.waited_minutes {
        let label = if f.finding.finding == FindingKind::Readmission {
            "after"
        } else {
            "for"
        };
        parts.push(format!("{label} {}", duration(minutes)));
    }
    if let Some(other) = &f.finding.related_pathway {
        parts.push(format!("also open: {other}"));
    }
    parts.join(", ")
}

/// Prints the findings per kind, each with its first example; says which kinds none showed.
pub(crate) fn print(found: &[Logged]) {
    println!();
    println!(
        "Findings of the reconciler ({} in all), by kind, each with its first example",
        found.len()
    );
    let mut by_kind = BTreeMap::<FindingKind, Vec<&Logged>>::new();
    for f in found {
        by_kind.entry(f.finding.finding).or_default().push(f);
    }
    let mut missing = Vec::new();
    for kind in FindingKind::ALL {
        match by_kind.get(&kind) {
            Some(list) => {
                println!(
                    "  {:<34}{:>5}   e.g. {}",
                    kind.as_str(),
                    list.len(),
                    describe(list[0])
                );
            }
            None => missing.push(kind.as_str()),
        }
    }
    if !missing.is_empty() {
        println!("  none of: {}", missing.join(", "));
    }
}

/// A pathway whose protocol deadline was breached, to look at in the operator console.
#[derive(Debug, Clone)]
pub(crate) struct Breached {
    pub pathway: PathwayId,
    /// Who opened the pathway, a party to all of it: whom to sign in as.
    pub org: OrgId,
    /// The breach, in a few words.
    pub what: String,
}

/// A pathway of the demo a step of which went overdue: among the protected discharges (or any
/// kind, if none), the one the most organisations acted on, whose timeline has the most lanes.
pub(crate) async fn breached(log: &EventLog, found: &[Logged]) -> anyhow::Result<Option<Breached>> {
    let overdue: Vec<&Logged> = found
        .iter()
        .filter(|f| f.finding.finding == FindingKind::StepOverdue)
        .collect();
    let discharges: Vec<&Logged> = overdue
        .iter()
        .copied()
        .filter(|f| f.pathway.kind() == PathwayKind::DimissioneProtetta)
        .collect();
    let candidates = if discharges.is_empty() {
        overdue
    } else {
        discharges
    };
    let mut best: Option<(usize, Breached)> = None;
    let mut seen = std::collections::BTreeSet::new();
    for f in candidates {
        if !seen.insert(f.pathway.clone()) {
            continue;
        }
        let history = log.history(&f.pathway).await?;
        let Some(opening) = history.first() else {
            continue;
        };
        let acting: std::collections::BTreeSet<&OrgId> = history
            .iter()
            .filter(|r| !matches!(r.event.data, EventData::Finding(..)))
            .map(|r| &r.event.actor.org)
            .collect();
        if best.as_ref().is_none_or(|(lanes, _)| acting.len() > *lanes) {
            let breached = Breached {
                pathway: f.pathway.clone(),
                org: opening.event.actor.org.clone(),
                what: describe(f),
            };
            best = Some((acting.len(), breached));
        }
    }
    Ok(best.map(|(_, breached)| breached))
}

/// Plays a party whose projection lost an event: publishes, for the first pathway `party` holds
/// with at least three events, the digest its projector would publish had the store lost the
/// second one, then waits (up to 30 s) for the reconciler's divergence finding. Returns the
/// pathway and the event left out.
pub(crate) async fn stage_divergence(
    log: &EventLog,
    party: &super::parties::Party,
) -> anyhow::Result<Option<(PathwayId, raccordo_domain::ids::EventId)>> {
    use raccordo_projections::ListFilter;
    let store = party.store.as_ref();
    let mut staged = None;
    for summary in store.list(&ListFilter::default())? {
        let mut digest =
            raccordo_projector::pathway_digest(store, summary.id, store.checkpoint()?)?;
        if digest.entries.len() < 3 {
            continue;
        }
        let lost = digest.entries.remove(1);
        staged = Some((digest.pathway.clone(), lost.event_id));
        log.digests().await?.publish(&[digest]).await?;
        break;
    }
    let Some((pathway, lost)) = staged else {
        return Ok(None);
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let history = log.history(&pathway).await?;
        let found = history.iter().any(|e| {
            matches!(&e.event.data, EventData::Finding(_, f)
                if f.finding == FindingKind::Divergence && f.party.as_ref() == Some(&party.org))
        });
        if found {
            return Ok(Some((pathway, lost)));
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the reconciler recorded no divergence for {} on {pathway} within 30 s",
            party.org
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
