//! What the scenario came to: every pathway read back through `Pathways.Get` from the projection
//! of an organisation taking part in it, counted by kind and status, checked against the demo's own replies and
//! against the stream, and printed with the totals.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, ensure};
use futures::{StreamExt as _, TryStreamExt as _};
use raccordo_api::v1;
use raccordo_domain::ids::PathwayKind;

use super::driver::{Desks, PathwayRun, Tally};
use super::scenario::Scenario;

/// Pathways by kind, then by status.
pub(crate) type Statuses = BTreeMap<PathwayKind, BTreeMap<String, u64>>;

/// Reads every pathway the demo opened, as the organisation that opened it, and checks that its
/// kind, status and number of events are what the replies to its commands said.
pub(crate) async fn read_back(
    scenario: &Scenario,
    runs: &[PathwayRun],
    desks: &Desks,
    findings: &BTreeMap<String, (u64, u64)>,
) -> anyhow::Result<(Statuses, u64)> {
    let opened = scenario
        .pathways
        .iter()
        .zip(runs)
        .filter_map(|(plan, run)| run.id.as_ref().map(|id| (plan, run, id.clone())));
    let read: Vec<_> = futures::stream::iter(opened)
        .map(|(plan, run, id)| async move {
            let reader = plan.opener();
            // The reconciler's findings on it are events of the pathway too.
            let (found, last_found) = findings.get(&id).copied().unwrap_or_default();
            let pathway = desks
                .of(reader)?
                .pathways()
                .get(v1::GetPathwayRequest {
                    pathway_id: id.clone(),
                    // Its projection may be a moment behind the last reply: wait for it.
                    min_sequence: run.last_sequence.max(last_found),
                })
                .await
                .map_err(|s| {
                    anyhow::anyhow!(
                        "pathway #{} {id}: Pathways.Get as {reader} was refused with {:?}: {}",
                        plan.number,
                        s.code(),
                        s.message()
                    )
                })?
                .into_inner();
            let expected = (
                plan.kind.subject_token(),
                run.status.as_str(),
                run.events + found,
            );
            let found = (pathway.kind.as_str(), pathway.status.as_str(), pathway.version);
            ensure!(
                expected == found,
                "pathway #{} {id} reads as (kind, status, events) {found:?}, but its replies said {expected:?}",
                plan.number
            );
            anyhow::Ok((plan.kind, pathway.status, pathway.version))
        })
        .buffer_unordered(8)
        .try_collect()
        .await?;
    let mut statuses = Statuses::new();
    let mut events = 0;
    for (kind, status, version) in read {
        *statuses.entry(kind).or_default().entry(status).or_default() += 1;
        events += version;
    }
    Ok((statuses, events))
}

/// Everything the summary says.
pub(crate) struct Summary<'a> {
    pub scenario: &'a Scenario,
    pub tally: &'a Tally,
    pub statuses: &'a Statuses,
    /// Events on the demo's pathways, as read back.
    pub events_read: u64,
    /// How much the stream grew.
    pub appended: u64,
    /// Findings the reconciler recorded on the demo's pathways.
    pub findings: u64,
    pub played_in: Duration,
    pub wall_clock: Duration,
}

impl Summary<'_> {
    /// The cheap checks that the numbers add up; the first that fails is the error.
    pub fn check(&self) -> anyhow::Result<()> {
        let t = self.tally;
        if self.appended != t.appended + self.findings {
            bail!(
                "the stream grew by {} events, but {} commands were applied and {} findings \
                 recorded: something appended without a command, or a refusal or a retry appended",
                self.appended,
                t.appended,
                self.findings
            );
        }
        ensure!(
            self.events_read == t.appended + self.findings,
            "the pathways read back hold {} events, but {} commands were applied and {} findings \
             recorded",
            self.events_read,
            t.appended,
            self.findings
        );
        ensure!(
            t.commands + t.reads == t.appended + t.replayed + t.refusals(),
            "{} calls sent, but {} applied + {} replayed + {} refused",
            t.commands + t.reads,
            t.appended,
            t.replayed,
            t.refusals()
        );
        let read: u64 = self.statuses.values().flat_map(|s| s.values()).sum();
        ensure!(
            read == self.scenario.pathways.len() as u64,
            "{read} pathways read back, but the scenario opened {}",
            self.scenario.pathways.len()
        );
        Ok(())
    }

    pub fn print(&self) {
        let t = self.tally;
        println!();
        println!("Pathways, read back with Pathways.Get by an organisation taking part in each");
        for kind in PathwayKind::ALL {
            let Some(statuses) = self.statuses.get(&kind) else {
                continue;
            };
            let total: u64 = statuses.values().sum();
            let mut by_count: Vec<(&String, &u64)> = statuses.iter().collect();
            by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let detail: Vec<String> = by_count.iter().map(|(s, n)| format!("{s} {n}")).collect();
            println!(
                "  {:<22}{total:>5}   {}",
                kind.subject_token(),
                detail.join(", ")
            );
        }
        println!("  {:<22}{:>5}", "all kinds", self.scenario.pathways.len());

        println!();
        println!("What happened along the way");
        for (what, n) in &t.highlights {
            println!("  {:<72}{n:>5}", what.label());
        }
        println!(
            "  {:<72}{:>5}",
            "persons with more than one pathway",
            self.scenario.persons_in_several_pathways()
        );

        println!();
        println!("Totals");
        let seconds = self.wall_clock.as_secs_f64();
        println!("  {:<28}{:>7}", "pathways", self.scenario.pathways.len());
        println!("  {:<28}{:>7}", "commands sent", t.commands);
        println!(
            "  {:<28}{:>7}   = {} commands applied + {} findings: exactly one event each",
            "events appended", self.appended, t.appended, self.findings
        );
        println!(
            "  {:<28}{:>7}   same command id: same reply, `raccordo-replayed: true`, nothing appended",
            "duplicates answered", t.replayed
        );
        println!(
            "  {:<28}{:>7}   nothing appended",
            "expected refusals",
            t.refusals()
        );
        for (code, mistakes) in &t.refused {
            let n: u64 = mistakes.values().sum();
            println!("    {code:<26}{n:>7}");
            for (why, n) in mistakes {
                println!("      {n:>3}  {why}");
            }
        }
        println!(
            "  {:<28}{:>7.1} s   (the scenario played in {:.1} s: {:.0} commands/s)",
            "wall-clock time",
            seconds,
            self.played_in.as_secs_f64(),
            t.commands as f64 / self.played_in.as_secs_f64().max(1e-3)
        );
    }
}
