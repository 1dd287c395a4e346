//! The reconciler's findings on the demo's pathways, read from the log once the reconciler has
//! taken in the whole scenario, and printed per kind with one example each.

use std::collections::BTreeMap;

use anyhow::Context as _;
use futures::StreamExt;
use raccordo_domain::ids::PathwayId;
use raccordo_domain::pathway::EventData;
use raccordo_domain::pathway::finding::{Finding, FindingKind};
use raccordo_eventlog::{EventLog, Stored};

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
    if last <= base {
        return Ok(found);
    }
    let mut events = Box::pin(log.follow(base + 1).await?);
    while let Some(stored) = events.next().await {
        let sequence = match stored? {
            Stored::Event(recorded) => {
                if let EventData::Finding(_, finding) = recorded.event.data {
                    found.push(Logged {
                        sequence: recorded.sequence,
                        pathway: recorded.event.pathway,
                        finding: *finding,
                    });
                }
                recorded.sequence
            }
            Stored::Malformed(parked) => parked.sequence,
        };
        if sequence >= last {
            break;
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
    if let Some(party) = &f.finding.party {
        parts.push(format!("waiting on {party}"));
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

fn duration(minutes: u64) -> String {
    let (days, hours) = (minutes / (24 * 60), minutes % (24 * 60) / 60);
    match (days, hours) {
        (0, h) => format!("{h} h {} min", minutes % 60),
        (d, 0) => format!("{d} d"),
        (d, h) => format!("{d} d {h} h"),
    }
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
