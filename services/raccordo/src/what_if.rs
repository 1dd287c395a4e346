//! `raccordo replay what-if --protocol <file>…`: what the reconciler would have found over the
//! whole history had other protocols been in force (a stricter deadline, a new version, a
//! protocol for a territory that has none), set beside what it finds under the protocols in use.
//! Nothing is written: not to the log, not to any store.
//!
//! The baseline is what `raccordo up` measures against: the built-in protocols, or
//! `--protocols DIR`. Each `--protocol` file stands for its protocol id as a whole: every version
//! of that id leaves the baseline and the versions given come in; an id the baseline lacks comes
//! in beside the others ([`Protocols::replaced_by`]). A new version from a date is thus given
//! together with the old version ended that day, as the files would be kept. The set that comes
//! out must pass start-up's checks, and a file that does not is refused, with its name and the
//! reason, before the log is read.
//!
//! The log is read once, up to its last sequence when the run starts, through a fresh book for
//! each set of protocols ([`raccordo_reconciler::replay_each`]), on the log's own time as
//! `raccordo reconcile --replay` reads it. The findings are matched by what they are about: the
//! pathway and the finding's key (kind, protocol and step, opening event, party, related
//! pathway), never the protocol version or the figures. New ones are found under the what-if
//! only, gone ones under the baseline only; changed ones under both, with other times, minutes
//! or protocol version. Differences are the answer, not a failure: the exit status is 0.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use raccordo_domain::calendar::rome_time;
use raccordo_domain::ids::PathwayId;
use raccordo_domain::pathway::finding::Finding;
use raccordo_domain::protocol::{Protocol, Protocols};
use raccordo_domain::registry::Registry;
use raccordo_reconciler::{Recorded, Replay, Rules};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::attach::{LogArgs, Source};

#[derive(Debug, clap::Args)]
pub struct WhatIfArgs {
    /// A protocol file to measure history against: it stands in for every version of the
    /// protocol with its id (`protocol = "…"`), or comes in beside the others if no protocol has
    /// that id. Give it again for more files (e.g. a version 1 ended on a date and a version 2
    /// from that date).
    #[arg(long = "protocol", value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// A directory with the protocol files in use (default: the protocols built into the binary).
    #[arg(long, value_name = "DIR")]
    pub protocols: Option<PathBuf>,
    /// How to print the differences.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A summary, one `name value` per line, then a table of the differences.
    Text,
    /// One JSON object, the findings as their events carry them.
    Json,
}

/// Runs `raccordo replay what-if`.
pub async fn run(args: WhatIfArgs) -> anyhow::Result<()> {
    let registry = Arc::new(Registry::embedded().clone());
    let baseline = crate::app::protocols(args.protocols.as_deref(), &registry)
        .context("the protocols in use cannot be read (nothing was read from the log)")?;
    let given = crate::app::read_protocols(&args.files, &registry)
        .context("a --protocol file cannot be used (nothing was read from the log)")?;
    let what_if = baseline.replaced_by(given.clone(), &registry).context(
        "the --protocol files do not fit with the protocols in use (a file stands in only \
             for the protocol with its own `protocol` id; nothing was read from the log)",
    )?;
    for p in given.all() {
        tracing::info!(
            protocol = %p.id, version = p.version, valid = %p.validity, steps = p.steps.len(),
            file = %p.file, "what-if protocol loaded"
        );
    }
    let sets = [
        Rules::new(baseline.clone(), registry.clone()),
        Rules::new(what_if.clone(), registry.clone()),
    ];
    let source = Source::find(&args.log, "the log").await?;
    let replays = replay(&source, &sets).await;
    source.close().await;
    let [base, alt]: [Replay; 2] = replays?
        .try_into()
        .expect("one replay for each set of protocols");
    let changes = Changes::between(&base.replayed, &alt.replayed);
    let swaps = swaps(&baseline, &given, args.protocols.is_none());
    let output = match args.format {
        Format::Text => text(&base, &alt, &swaps, &changes),
        Format::Json => json(&base, &alt, &baseline, &what_if, &changes),
    };
    print!("{output}");
    Ok(())
}

/// Both replays, from one reading of the log.
async fn replay(source: &Source, sets: &[Rules]) -> anyhow::Result<Vec<Replay>> {
    let log = source.connect("raccordo-what-if").await?;
    let started = std::time::Instant::now();
    let replays = raccordo_reconciler::replay_each(&log, sets, |at, last| {
        tracing::info!(sequence = at, of = last, "replaying");
    })
    .await
    .context("the replay of the log stopped")?;
    let base = &replays[0];
    tracing::info!(
        events = base.events,
        seconds = format!("{:.2}", started.elapsed().as_secs_f64()),
        "replay done"
    );
    if !base.agrees() {
        let (only_log, only_replay) = base.differences();
        tracing::warn!(
            only_in_log = only_log.len(),
            only_in_replay = only_replay.len(),
            "the replay under the protocols in use does not reproduce the findings in the log: \
             `raccordo reconcile --replay` lists the differences"
        );
    }
    Ok(replays)
}

/// How the what-if's findings differ from the baseline's.
#[derive(Debug, Default)]
struct Changes<'a> {
    /// Found under the what-if only, in the order it found them.
    new: Vec<&'a Recorded>,
    /// Found under the baseline only, in the order it found them.
    gone: Vec<&'a Recorded>,
    /// Found under both, told differently: (baseline, what-if), in the what-if's order.
    changed: Vec<(&'a Recorded, &'a Recorded)>,
    unchanged: usize,
}

/// What makes two findings one: the pathway and what the finding is about ([`Finding::key`]:
/// kind, protocol and step, opening event, party, related pathway), never the protocol version
/// or the figures.
fn identity(r: &Recorded) -> (PathwayId, String) {
    (r.pathway.clone(), r.finding.key())
}

impl<'a> Changes<'a> {
    fn between(baseline: &'a [Recorded], what_if: &'a [Recorded]) -> Self {
        let before: BTreeMap<_, &Recorded> = baseline.iter().map(|r| (identity(r), r)).collect();
        let after: BTreeSet<_> = what_if.iter().map(identity).collect();
        let mut changes = Changes {
            gone: baseline
                .iter()
                .filter(|r| !after.contains(&identity(r)))
                .collect(),
            ..Changes::default()
        };
        for r in what_if {
            match before.get(&identity(r)) {
                None => changes.new.push(r),
                Some(b) if b.finding == r.finding => changes.unchanged += 1,
                Some(b) => changes.changed.push((b, r)),
            }
        }
        changes
    }
}

/// What differs between two findings with one identity: (field, baseline, what-if), as shown.
fn differences(before: &Finding, after: &Finding) -> Vec<(&'static str, String, String)> {
    let version = |f: &Finding| f.step.as_ref().map(|s| format!("v{}", s.version));
    let minutes = |f: &Finding| f.waited_minutes.map(|m| m.to_string());
    [
        ("version", version(before), version(after)),
        ("since", before.since.map(local), after.since.map(local)),
        ("due", before.due.map(local), after.due.map(local)),
        (
            "closed_at",
            before.closed_at.map(local),
            after.closed_at.map(local),
        ),
        ("waited_minutes", minutes(before), minutes(after)),
    ]
    .into_iter()
    .filter(|(_, a, b)| a != b)
    .map(|(field, a, b)| (field, shown(a), shown(b)))
    .collect()
}

fn shown(value: Option<String>) -> String {
    value.unwrap_or_else(|| "-".to_owned())
}

/// An instant as an operator in Italy reads it: the local time there, to the minute, with its
/// offset.
fn local(instant: OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute] [offset_hour sign:mandatory]:[offset_minute]"
    );
    rome_time(instant)
        .format(&format)
        .unwrap_or_else(|_| instant.to_string())
}

/// What the `--protocol` files did to the protocols in use, one line each: which versions of an
/// id they replaced with which, or that they added one.
fn swaps(baseline: &Protocols, given: &Protocols, built_in: bool) -> Vec<String> {
    let describe = |p: &Protocol, built_in: bool| {
        format!(
            "v{} {} ({}{})",
            p.version,
            p.validity,
            p.file,
            if built_in { ", built in" } else { "" }
        )
    };
    let ids: BTreeSet<&str> = given.all().iter().map(|p| p.id.as_str()).collect();
    ids.into_iter()
        .map(|id| {
            let list = |protocols: &Protocols, built_in: bool| {
                protocols
                    .all()
                    .iter()
                    .filter(|p| p.id == id)
                    .map(|p| describe(p, built_in))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let old = list(baseline, built_in);
            let new = list(given, false);
            if old.is_empty() {
                format!("protocol {id} added: {new}")
            } else {
                format!("protocol {id} replaced: {old} -> {new}")
            }
        })
        .collect()
}

fn text(base: &Replay, alt: &Replay, swaps: &[String], changes: &Changes<'_>) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!("events {}", base.events));
    line(format!(
        "until {}",
        base.until.map_or_else(|| "-".to_owned(), local)
    ));
    line(format!("findings_in_log {}", base.in_log.len()));
    line(format!("findings_baseline {}", base.replayed.len()));
    line(format!("findings_what_if {}", alt.replayed.len()));
    line(format!("baseline_agrees_with_log {}", agreement(base)));
    for swap in swaps {
        line(swap.clone());
    }
    line(format!("new {}", changes.new.len()));
    line(format!("gone {}", changes.gone.len()));
    line(format!("changed {}", changes.changed.len()));
    line(format!("unchanged {}", changes.unchanged));
    let mut rows: Vec<[String; 7]> = Vec::new();
    let row = |change: &str, r: &Recorded, detail: String| {
        let f = &r.finding;
        [
            change.to_owned(),
            r.pathway.to_string(),
            f.finding.to_string(),
            f.step.as_ref().map_or("-".to_owned(), |s| s.step.clone()),
            f.party.as_ref().map_or("-".to_owned(), ToString::to_string),
            shown(f.due.map(local)),
            detail,
        ]
    };
    for r in &changes.new {
        rows.push(row("new", r, facts(&r.finding)));
    }
    for r in &changes.gone {
        rows.push(row("gone", r, facts(&r.finding)));
    }
    for (b, a) in &changes.changed {
        let detail = differences(&b.finding, &a.finding)
            .into_iter()
            .map(|(field, old, new)| format!("{field} {old} -> {new}"))
            .collect::<Vec<_>>()
            .join("; ");
        rows.push(row("changed", a, detail));
    }
    if !rows.is_empty() {
        let header = [
            "change", "pathway", "finding", "step", "party", "due", "details",
        ]
        .map(str::to_owned);
        let mut widths = [0; 7];
        for r in std::iter::once(&header).chain(&rows) {
            for (w, cell) in widths.iter_mut().zip(r) {
                *w = (*w).max(cell.chars().count());
            }
        }
        line(String::new());
        for r in std::iter::once(&header).chain(&rows) {
            let cells: Vec<String> = r
                .iter()
                .zip(widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            line(cells.join("  ").trim_end().to_owned());
        }
    }
    out
}

/// The figures of a finding beside its due time, for a new or gone one.
fn facts(f: &Finding) -> String {
    let mut parts = Vec::new();
    if let Some(since) = f.since {
        parts.push(format!("since {}", local(since)));
    }
    if let Some(closed) = f.closed_at {
        parts.push(format!("closed_at {}", local(closed)));
    }
    if let Some(minutes) = f.waited_minutes {
        parts.push(format!("waited_minutes {minutes}"));
    }
    if let Some(related) = &f.related_pathway {
        parts.push(format!("related_pathway {related}"));
    }
    parts.join("; ")
}

/// Whether the baseline found what the log holds: `yes`, or `no` with how far apart they are.
fn agreement(base: &Replay) -> String {
    if base.agrees() {
        return "yes".to_owned();
    }
    let (only_log, only_replay) = base.differences();
    format!(
        "no ({} only in the log, {} only in the replay; `raccordo reconcile --replay` lists them)",
        only_log.len(),
        only_replay.len()
    )
}

fn json(
    base: &Replay,
    alt: &Replay,
    baseline: &Protocols,
    what_if: &Protocols,
    changes: &Changes<'_>,
) -> String {
    let protocols = |set: &Protocols| {
        set.all()
            .iter()
            .map(|p| {
                json!({
                    "protocol": p.id,
                    "version": p.version,
                    "valid_from": p.validity.from.to_string(),
                    "valid_until": p.validity.until.map(|d| d.to_string()),
                    "file": p.file,
                })
            })
            .collect::<Vec<_>>()
    };
    let finding = |r: &Recorded| json!({ "pathway": r.pathway, "finding": r.finding });
    let (only_log, only_replay) = base.differences();
    let object = json!({
        "events": base.events,
        "until": base.until.and_then(|t| t.format(&Rfc3339).ok()),
        "findings_in_log": base.in_log.len(),
        "baseline": {
            "protocols": protocols(baseline),
            "findings": base.replayed.len(),
            "agrees_with_log": base.agrees(),
            "only_in_log": only_log.len(),
            "only_in_replay": only_replay.len(),
        },
        "what_if": {
            "protocols": protocols(what_if),
            "findings": alt.replayed.len(),
        },
        "counts": {
            "new": changes.new.len(),
            "gone": changes.gone.len(),
            "changed": changes.changed.len(),
            "unchanged": changes.unchanged,
        },
        "new": changes.new.iter().map(|r| finding(r)).collect::<Vec<_>>(),
        "gone": changes.gone.iter().map(|r| finding(r)).collect::<Vec<_>>(),
        "changed": changes.changed.iter().map(|(b, a)| json!({
            "pathway": a.pathway,
            "before": b.finding,
            "after": a.finding,
            "differs": differences(&b.finding, &a.finding)
                .into_iter()
                .map(|(field, _, _)| field)
                .collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    let mut out = serde_json::to_string_pretty(&object).expect("JSON values always serialise");
    out.push('\n');
    out
}
