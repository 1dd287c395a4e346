//! `raccordo reconcile --replay`: replays the whole log through a fresh reconciler on the log's
//! own time (a virtual clock: each event's time, nothing read from the machine) and sets what it
//! finds beside the findings the log holds. It writes nothing: not to the log, not to the
//! reconciler's store. Same findings in the same order: exit 0; any difference: each is listed
//! and the exit status is 1.
//!
//! It reads the NATS `--nats` names; without it, the state folder's event log, as `raccordo
//! project` does (the running `raccordo up`'s nats-server, or the folder's own, started for the
//! run). The protocols are the ones `raccordo up` uses: the built-in copies, or `--protocols`.

use std::path::PathBuf;

use anyhow::bail;
use raccordo_reconciler::{Recorded, Rules};

use crate::attach::{LogArgs, Source};

/// What `raccordo reconcile` logs: its own steps; libraries' warnings.
pub const LOG: &str = "warn,raccordo=info,raccordo_reconciler=info";

#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    /// Replay the whole log with a virtual clock and compare the findings with those in the log.
    #[arg(long)]
    pub replay: bool,
    #[command(flatten)]
    pub log: LogArgs,
    /// A directory with the protocol files (default: the protocols built into the binary).
    #[arg(long)]
    pub protocols: Option<PathBuf>,
}

pub async fn run(args: ReconcileArgs) -> anyhow::Result<()> {
    if !args.replay {
        bail!(
            "nothing to do: `raccordo reconcile --replay` replays the log and compares the findings \
             (the live reconciler runs inside `raccordo up`)"
        );
    }
    let rules = crate::app::rules(args.protocols.as_deref())?;
    let source = Source::find(&args.log, "the log").await?;
    let result = replay(&source, &rules).await;
    source.close().await;
    result
}

async fn replay(source: &Source, rules: &Rules) -> anyhow::Result<()> {
    let log = source.connect("raccordo-reconcile").await?;
    let started = std::time::Instant::now();
    let replay = raccordo_reconciler::replay(&log, rules, |at, last| {
        tracing::info!(sequence = at, of = last, "replaying");
    })
    .await?;
    tracing::info!(
        events = replay.events,
        seconds = format!("{:.2}", started.elapsed().as_secs_f64()),
        "replay done"
    );
    println!("events {}", replay.events);
    println!("findings_in_log {}", replay.in_log.len());
    println!("findings_replayed {}", replay.replayed.len());
    if replay.agrees() {
        println!("agrees yes");
        return Ok(());
    }
    println!("agrees no");
    let (only_log, only_replay) = replay.differences();
    for r in &only_log {
        println!("only_in_log {}", line(r));
    }
    for r in &only_replay {
        println!("only_in_replay {}", line(r));
    }
    if only_log.is_empty() && only_replay.is_empty() {
        let first = replay
            .in_log
            .iter()
            .zip(&replay.replayed)
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        println!(
            "same findings in another order, from finding #{}",
            first + 1
        );
    }
    bail!(
        "the replay does not reproduce the findings in the log: {} only in the log, {} only in \
         the replay",
        only_log.len(),
        only_replay.len()
    )
}

fn line(r: &Recorded) -> String {
    format!(
        "{} {}",
        r.pathway,
        serde_json::to_string(&r.finding).expect("findings serialise")
    )
}
