//! `raccordo bench rebuild`: one party's inbox → a new sled projection, as `raccordo project
//! --rebuild` does it, against a raw ordered-consumer read of the same inbox messages.
//!
//! The log is filled with the scenario's pathways and their receipts, then routed into the
//! parties' inboxes by the router, both on the server's lazy default; the server is restarted
//! with `sync_interval: always` before the runs. Each run reads the party's inbox raw, then
//! builds its projection from the first message into a new store (the order alternates between
//! runs), measuring the projector's peak memory and the store's size on disk.

use std::sync::Arc;
use std::time::Instant;

use raccordo_domain::ids::OrgId;
use raccordo_domain::registry::Registry;
use raccordo_eventlog::inbox::{INBOX_STREAM, party_subjects};
use raccordo_projections::ProjectionStore as _;
use raccordo_projector::{Projector, open_store};
use raccordo_router::Router;

use super::fill::{self, Generator, Shape};
use super::{Bench, Figures, disk_usage, peak_rss, reset_peak, rss, say};
use crate::nats::Durability;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Events in the log.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// The party whose projection is rebuilt (default: the ATS of the scenario's Ambiti, whose
    /// inbox holds every event of their pathways but receipts, which the log has none of here).
    #[arg(long, default_value = "ats:321")]
    pub party: OrgId,
}

pub(crate) async fn run(bench: &Bench, mut args: Args) -> anyhow::Result<Figures> {
    if bench.tiny {
        args.events = args.events.min(400);
    }
    let mut figures = Figures::new("rebuild", bench.runs);
    let server = bench.server("log", Durability::ServerDefault).await?;
    say(format!("filling the log with {} events", args.events));
    // No receipts: the ATS receives every other event, so its inbox holds one message per event.
    let generator = Generator::new(2167, super::FIRST_DAY, 90, false);
    let filled = fill::fill(&server.log, generator, Shape::Whole, args.events).await?;
    figures.add(
        "fill: events published raw (lazy sync)",
        "/s",
        filled.events as f64 / filled.seconds,
    );
    say("routing the log into the parties' inboxes");
    let started = Instant::now();
    let mut router =
        Router::new(server.log.clone(), Arc::new(Registry::embedded().clone())).await?;
    router.catch_up().await?;
    figures.add(
        "fill: events routed into the inboxes (lazy sync)",
        "/s",
        filled.events as f64 / started.elapsed().as_secs_f64(),
    );
    server.stop().await;
    bench.runs_in_children(&mut figures).await?;
    figures.note(format!(
        "log: {} events of {} pathways (the demo scenario's), {:.0} MiB as published; \
         {}'s inbox: one message per event",
        filled.events,
        filled.pathways.len(),
        filled.bytes as f64 / 1048576.0,
        args.party
    ));
    figures.note(
        "fill published raw and routed on the server's lazy default; each run in a process of its \
         own, on sync_interval: always",
    );
    Ok(figures)
}

/// One run, in a process of its own: the raw read and the rebuild, in an order that alternates.
pub(crate) async fn measure(bench: &Bench, args: Args, run: u32) -> anyhow::Result<Figures> {
    let mut figures = Figures::new("rebuild", 1);
    let server = bench.server("log", Durability::Always).await?;
    let inbox = server.log.inbox().await?;
    let last = inbox.last_sequence_of(&args.party).await?;
    anyhow::ensure!(
        last > 0,
        "{} has nothing in its inbox: choose a party of the scenario's Ambiti",
        args.party
    );
    let raw = server.log.raw();
    let subjects = party_subjects(&args.party);
    {
        let raw_read = || async {
            let started = Instant::now();
            let (count, bytes) = raw.read(INBOX_STREAM, &subjects, 1, last).await?;
            anyhow::Ok((count, bytes, started.elapsed().as_secs_f64()))
        };
        let dir = bench.dir.join(format!("projection-{run}"));
        let rebuild = || async {
            let (store, _) = open_store(&dir, &args.party)?;
            let before = rss();
            reset_peak();
            let started = Instant::now();
            let progress = Projector::new(server.log.clone(), store.clone())
                .catch_up()
                .await?;
            store.flush()?;
            let seconds = started.elapsed().as_secs_f64();
            let peak = peak_rss().saturating_sub(before);
            drop(store);
            anyhow::Ok((progress, seconds, peak))
        };
        let ((count, bytes, raw_seconds), (progress, seconds, peak)) = if run % 2 == 1 {
            let r = raw_read().await?;
            (r, rebuild().await?)
        } else {
            let p = rebuild().await?;
            (raw_read().await?, p)
        };
        anyhow::ensure!(
            progress.checkpoint == last,
            "the projection stopped at inbox message {} of {last}",
            progress.checkpoint
        );
        let raw_rate = count as f64 / raw_seconds;
        let rate = count as f64 / seconds;
        figures.add("raccordo: messages into the projection", "/s", rate);
        figures.add("raw: ordered-consumer read", "/s", raw_rate);
        figures.add("ratio raccordo/raw", "", rate / raw_rate);
        figures.add("raccordo: time to rebuild", "s", seconds);
        figures.add("raccordo: messages applied", "", progress.applied as f64);
        figures.add("raw: messages read", "", count as f64);
        figures.add("raw: time to read", "s", raw_seconds);
        figures.add(
            "raccordo: peak memory above the process's before",
            "MiB",
            peak as f64 / 1048576.0,
        );
        figures.add(
            "sled store on disk",
            "MiB",
            disk_usage(&dir) as f64 / 1048576.0,
        );
        figures.add("payload read", "MiB", bytes as f64 / 1048576.0);
        if let Some(bytes) = server.rss() {
            figures.add(
                "nats-server resident memory after the run",
                "MiB",
                bytes as f64 / 1048576.0,
            );
        }
        say(format!(
            "run {run}: raccordo {rate:.0} messages/s, raw {raw_rate:.0}/s; {} applied",
            progress.applied
        ));
        std::fs::remove_dir_all(&dir).ok();
    }
    server.stop().await;
    Ok(figures)
}
