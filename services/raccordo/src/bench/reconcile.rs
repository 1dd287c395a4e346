//! `raccordo bench reconcile`: the reconciler over a log of open pathways, each with deadlines
//! pending.
//!
//! The log holds only the event that opens each pathway (the scenario's openings, all on one
//! working day, while both example protocols are in force), published raw on the server's lazy
//! default; the server is restarted with `sync_interval: always`. Each run:
//! - reads the whole log raw (ordered consumer, nothing decoded): the baseline;
//! - starts the reconciler service on a new store, its clock at the end of that day, and times
//!   its catch-up to the end of the log; the memory it then holds above what the process held
//!   before, per open pathway; its store's size on disk;
//! - moves the clock a month on, so that every deadline is past, and counts the findings the
//!   service records in the log per second over a fixed window (each is a command of the
//!   reconciler through the gateway's engine, fsynced);
//! - takes the same log into the reconciler's memory alone (the domain's `Book`, no store, no
//!   findings recorded) and fires every deadline: the firing rate of the reconciliation itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use raccordo_domain::clock::VirtualClock;
use raccordo_domain::reconcile::Book;
use raccordo_domain::registry::Registry;
use raccordo_eventlog::Stored;
use raccordo_gateway::Engine;
use raccordo_reconciler::{Reconciler, Store, store_dir};
use time::macros::{date, datetime};

use super::fill::{self, Generator, Shape};
use super::{Bench, Figures, disk_usage, rss, say};
use crate::nats::Durability;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Open pathways in the log.
    #[arg(long, default_value_t = 1_000_000)]
    pub pathways: u64,
    /// How long to count the findings recorded once every deadline is past, in seconds.
    #[arg(long, default_value_t = 20)]
    pub fire_seconds: u64,
}

/// The sizes asked for, or the tiny ones.
fn sized(bench: &Bench, mut args: Args) -> Args {
    if bench.tiny {
        args.pathways = args.pathways.min(300);
        args.fire_seconds = args.fire_seconds.min(2);
    }
    args
}

pub(crate) async fn run(bench: &Bench, args: Args) -> anyhow::Result<Figures> {
    let args = sized(bench, args);
    let mut figures = Figures::new("reconcile", bench.runs);
    let server = bench.server("log", Durability::ServerDefault).await?;
    say(format!("filling the log with {} openings", args.pathways));
    // Monday 2 March 2026: both example protocols are in force.
    let generator = Generator::new(2167, date!(2026 - 03 - 02), 1, false);
    let filled = fill::fill(&server.log, generator, Shape::Openings, args.pathways).await?;
    server.stop().await;
    bench.runs_in_children(&mut figures).await?;
    figures.note(format!(
        "log: {} openings (the scenario's requests, registrations and referrals of one working day)",
        filled.events
    ));
    figures.note(
        "fill published raw on the server's lazy default; each run in a process of its own, on a \
         copy of the filled log, on sync_interval: always",
    );
    Ok(figures)
}

/// One run, in a process of its own, on a copy of the filled log (a run appends findings).
pub(crate) async fn measure(bench: &Bench, args: Args, run: u32) -> anyhow::Result<Figures> {
    let args = sized(bench, args);
    let mut figures = Figures::new("reconcile", 1);
    let copy = format!("log-run{run}");
    super::copy_dir(&bench.dir.join("log"), &bench.dir.join(&copy))?;
    let server = bench.server(&copy, Durability::Always).await?;
    let last = server.log.last_sequence().await?;
    let raw = server.log.raw();
    let stream = server.log.config().stream.clone();
    let rules = crate::app::rules(None)?;
    // The evening of that day, Italian time: every deadline still ahead.
    let evening = datetime!(2026-03-02 19:00 UTC);
    {
        let started = Instant::now();
        let (count, _) = raw.read(&stream, "raccordo.pathway.>", 1, last).await?;
        let raw_rate = count as f64 / started.elapsed().as_secs_f64();

        let dir = bench.dir.join(format!("reconciler-{run}"));
        let clock = VirtualClock::new(evening);
        let reconciler = Arc::new(Reconciler::new(
            server.log.clone(),
            Arc::new(Engine::new(
                server.log.clone(),
                Arc::new(Registry::embedded().clone()),
                Arc::new(clock.clone()),
            )),
            rules.clone(),
            Store::open(&store_dir(&dir))?,
            Arc::new(clock.clone()),
        ));
        let mut progress = reconciler.progress();
        let before = rss();
        let started = Instant::now();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let service = {
            let reconciler = reconciler.clone();
            tokio::spawn(async move {
                reconciler
                    .run(async {
                        let _ = stopped.await;
                    })
                    .await
            })
        };
        progress.wait_for(|p| p.checkpoint >= last).await?;
        let seconds = started.elapsed().as_secs_f64();
        let pending = progress.borrow().pending;
        let recorded_in_catch_up = progress.borrow().recorded;
        let held = rss().saturating_sub(before);
        figures.add(
            "raccordo: catch-up, events taken in",
            "/s",
            count as f64 / seconds,
        );
        figures.add("raw: ordered-consumer read of the log", "/s", raw_rate);
        figures.add("ratio raccordo/raw", "", count as f64 / seconds / raw_rate);
        figures.add("raccordo: time to catch up", "s", seconds);
        figures.add("raw: events read", "", count as f64);
        figures.add("deadlines pending after catch-up", "", pending as f64);
        figures.add(
            "findings recorded during catch-up",
            "",
            recorded_in_catch_up as f64,
        );
        figures.add(
            "memory held per open pathway (process RSS growth)",
            "bytes",
            held as f64 / last as f64,
        );
        figures.add(
            "open pathways per GiB at that rate",
            "",
            (1u64 << 30) as f64 / (held as f64 / last as f64).max(1.0),
        );
        figures.add(
            "reconciler store on disk",
            "MiB",
            disk_usage(&store_dir(&dir)) as f64 / 1048576.0,
        );

        // Every deadline past: the service fires them and records each finding in the log.
        let from = server.log.last_sequence().await?;
        clock.set(evening + time::Duration::days(31));
        let window = Duration::from_secs(args.fire_seconds);
        tokio::time::sleep(window).await;
        let recorded = server.log.last_sequence().await? - from;
        figures.add(
            "raccordo: findings recorded in the log once due",
            "/s",
            recorded as f64 / window.as_secs_f64(),
        );
        let _ = stop.send(());
        service.abort();
        let _ = service.await;
        drop(reconciler);

        // The reconciliation itself, in memory.
        let mut book = Book::default();
        let started = Instant::now();
        let mut events = Box::pin(server.log.read_range(1, last).await?);
        while let Some(stored) = events.next().await {
            if let Stored::Event(recorded) = stored? {
                book.observe(rules.book(), &recorded);
            }
        }
        let observe = started.elapsed().as_secs_f64();
        let pending = book.pending();
        let started = Instant::now();
        let fired = book.fire(rules.book(), evening + time::Duration::days(31));
        let fire = started.elapsed().as_secs_f64();
        figures.add(
            "in memory: log read and taken in",
            "/s",
            last as f64 / observe,
        );
        figures.add("in memory: deadlines fired", "/s", pending as f64 / fire);
        figures.add("in memory: findings made", "", fired.len() as f64);
        say(format!(
            "run {run}: catch-up {:.0} events/s (raw {raw_rate:.0}/s), {pending} deadlines, {recorded} findings recorded in {}s",
            count as f64 / seconds,
            args.fire_seconds
        ));
        drop(book);
        std::fs::remove_dir_all(&dir).ok();
    }
    server.stop().await;
    std::fs::remove_dir_all(bench.dir.join(&copy)).ok();
    Ok(figures)
}
