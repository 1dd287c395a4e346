//! `raccordo replay`: history replayed without being touched. `replay what-if` (findings under
//! other protocols) lives in [`crate::what_if`]; this module holds the subcommands and `replay
//! projection`.
//!
//! `raccordo replay projection --party <org id> --until <sequence|RFC 3339 time> --into <dir>`:
//! rebuilds one party's projection as it was at a point of the log's history, into a fresh store
//! of its own, and prints what it came to, one `name value` per line on stdout (`party`,
//! `until_sequence`, `checkpoint`, `applied`, `parked`, `pathways`, `digest`). Progress goes to
//! stderr as for `raccordo project`.
//!
//! "At log sequence N" means as the live projector held the projection once the router had routed
//! the log up to N: every inbox message of the party routed by event N or earlier, in inbox order
//! ([`Projector::until`]). The party's live projection is never opened, so this runs beside a
//! running `raccordo up`; the NATS is found as `raccordo project` finds it ([`Source::find`]).
//!
//! A time stands for the last event of the log stamped (`ce-time`) at or before it. The log is
//! read whole to find it: event times follow the clocks of the gateways that accepted the
//! commands, not the log's order, so a binary search over the stream could land on the wrong
//! event.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context as _, bail};
use futures::StreamExt;
use raccordo_domain::ids::OrgId;
use raccordo_eventlog::{EventLog, Stored};
use raccordo_projections::{ProjectionStore, SledStore};
use raccordo_projector::Projector;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::time::Instant;

use crate::attach::{LogArgs, Source};
use crate::project::Display;

/// What `raccordo replay` logs: its own steps and the projector's; libraries' warnings.
pub const LOG: &str = crate::project::LOG;

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    #[command(subcommand)]
    pub what: Replay,
}

#[derive(Debug, clap::Subcommand)]
pub enum Replay {
    /// Rebuild one party's projection as it was at a log sequence or time, into a new directory.
    Projection(ProjectionArgs),
    /// Replay one pathway's history as a party may see it for a purpose (recorded in the audit trail).
    Pathway(crate::history::PathwayArgs),
    /// Replay the reconciler over the whole log under other protocols and print how its
    /// findings differ (new, gone, changed); the log and every store are left as they are.
    WhatIf(crate::what_if::WhatIfArgs),
}

#[derive(Debug, clap::Args)]
pub struct ProjectionArgs {
    /// The party (organisation) whose projection to rebuild, e.g. asst:705 or comune:magenta.
    #[arg(long)]
    pub party: OrgId,
    /// The point of history: a log sequence (e.g. 1200), or an RFC 3339 time (e.g.
    /// 2026-03-01T12:00:00+01:00) standing for the last event of the log stamped at or before it.
    #[arg(long)]
    pub until: Until,
    /// The directory of the new store: missing or empty (the party's live projection is never
    /// touched).
    #[arg(long)]
    pub into: PathBuf,
    #[command(flatten)]
    pub log: LogArgs,
}

/// The point of the log's history to rebuild at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    Sequence(u64),
    Time(OffsetDateTime),
}

impl FromStr for Until {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return text
                .parse()
                .map(Until::Sequence)
                .map_err(|e| format!("{text} is no log sequence: {e}"));
        }
        OffsetDateTime::parse(text, &Rfc3339)
            .map(Until::Time)
            .map_err(|e| {
                format!(
                    "{text:?} is neither a log sequence (a whole number) nor an RFC 3339 time \
                     such as 2026-03-01T12:00:00+01:00 ({e})"
                )
            })
    }
}

/// Runs `raccordo replay`.
pub async fn run(args: ReplayArgs) -> anyhow::Result<()> {
    match args.what {
        Replay::Projection(args) => projection(args).await,
        Replay::Pathway(args) => crate::history::replay(args).await,
        Replay::WhatIf(args) => crate::what_if::run(args).await,
    }
}

async fn projection(args: ProjectionArgs) -> anyhow::Result<()> {
    let party = args.party;
    refuse_unless_empty(&args.into)?;
    let source = Source::find(&args.log, "the log").await?;
    let result = async {
        let log = source.connect("raccordo-replay").await?;
        let until = resolve(&log, args.until).await?;
        rebuild(log, &party, until, &args.into).await
    }
    .await;
    source.close().await;
    result
}

/// Refuses a `--into` that holds anything: the rebuild is of a fresh store, and whatever is
/// there (a live projection, an earlier replay) is not this command's to change.
fn refuse_unless_empty(into: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(into).map(|mut entries| entries.next().is_none()) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => bail!(
            "--into {}: cannot use it for the rebuilt projection: {e}",
            into.display()
        ),
        Ok(false) => bail!(
            "--into {} is not empty: the rebuild goes into a new store; name a missing or empty \
             directory (nothing was written)",
            into.display()
        ),
        Ok(true) => Ok(()),
    }
}

/// The log sequence `until` stands for, checked against the log as it is.
async fn resolve(log: &EventLog, until: Until) -> anyhow::Result<u64> {
    let last = log
        .last_sequence()
        .await
        .context("cannot read the log's last sequence")?;
    if last == 0 {
        bail!("the log holds no events yet: there is no history to replay (nothing was written)");
    }
    match until {
        Until::Sequence(n) if (1..=last).contains(&n) => Ok(n),
        Until::Sequence(n) => bail!(
            "--until {n}: the log's sequences run from 1 to its last, {last} (nothing was written)"
        ),
        Until::Time(time) => {
            let started = Instant::now();
            let found = last_at_or_before(log, time, last).await?;
            let shown = time.format(&Rfc3339).unwrap_or_else(|_| time.to_string());
            match found {
                Some(n) => {
                    tracing::info!(
                        until = %shown, sequence = n, log_last = last,
                        seconds = format!("{:.2}", started.elapsed().as_secs_f64()),
                        "found the last event of the log stamped at or before the time"
                    );
                    Ok(n)
                }
                None => bail!(
                    "--until {shown}: no event of the log (sequences 1 to {last}) is stamped at \
                     or before that time (nothing was written)"
                ),
            }
        }
    }
}

/// The highest sequence, up to `last`, of an event stamped at or before `time`. Every event is
/// read: stamps are not in log order. A message that is no event has no stamp to go by.
async fn last_at_or_before(
    log: &EventLog,
    time: OffsetDateTime,
    last: u64,
) -> anyhow::Result<Option<u64>> {
    let events = log
        .read_range(1, last)
        .await
        .context("cannot read the log to find the time")?;
    futures::pin_mut!(events);
    let mut found = None;
    while let Some(stored) = events.next().await {
        if let Stored::Event(recorded) = stored.context("cannot read the log to find the time")?
            && recorded.event.time <= time
        {
            found = Some(recorded.sequence);
        }
    }
    Ok(found)
}

/// Rebuilds `party`'s projection at log sequence `until` into a new store at `into`, then prints
/// the summary on stdout.
async fn rebuild(log: EventLog, party: &OrgId, until: u64, into: &Path) -> anyhow::Result<()> {
    // Checked again: a directory filled since the first look is not ours either.
    refuse_unless_empty(into)?;
    let (store, _) = SledStore::open(into, party)
        .with_context(|| format!("cannot create the store at --into {}", into.display()))?;
    tracing::info!(
        %party, until, into = %into.display(),
        "rebuilding the projection as it was when the log was routed up to this sequence"
    );
    let store = std::sync::Arc::new(store);
    let projector = Projector::new(log, store.clone()).until(until);
    let display = Display::start(format!("replaying {party} to log sequence {until}"), {
        projector.progress()
    });
    let started = Instant::now();
    let outcome = projector.catch_up().await;
    display.finish();
    let progress = outcome.with_context(|| {
        format!(
            "the rebuild stopped; {} holds a partial projection: remove it before trying again",
            into.display()
        )
    })?;
    store.flush()?;
    tracing::info!(
        %party, until, checkpoint = progress.checkpoint, stopped_at = progress.stopped_at,
        applied = progress.applied, parked = progress.parked,
        seconds = format!("{:.2}", started.elapsed().as_secs_f64()),
        "replay done"
    );
    println!("party {party}");
    println!("until_sequence {until}");
    println!("checkpoint {}", store.checkpoint()?);
    println!("applied {}", progress.applied);
    println!("parked {}", progress.parked);
    println!("pathways {}", store.pathway_count()?);
    println!("digest {}", store.digest()?);
    Ok(())
}
