//! `raccordo bench history`: one pathway's full history, read as raccordo reads it (batched
//! direct get on the pathway's subject, every event decoded), with a small and with a large log,
//! against one raw direct get of the pathway's last message (one round trip to the server's
//! per-subject index, nothing decoded), and against the same batched direct get with nothing
//! decoded: what the server and the protocol cost, apart from raccordo's decoding.
//!
//! The same pathways (10 to 40 events each: the scenario's steps and their receipts) are read at
//! both sizes: the log is filled to the small size, measured, filled on to the large size and
//! measured again. Fills run on the server's lazy default; the server is restarted with
//! `sync_interval: always` before each measurement.

use std::time::Instant;

use raccordo_domain::ids::PathwayId;
use raccordo_eventlog::codec;

use super::fill::{self, Generator, Shape};
use super::{Bench, Figures, Latencies, Server, say};
use crate::nats::Durability;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Events in the small log.
    #[arg(long, default_value_t = 10_000)]
    pub small: u64,
    /// Events in the large log.
    #[arg(long, default_value_t = 5_000_000)]
    pub large: u64,
    /// Histories read per measurement.
    #[arg(long, default_value_t = 2_000)]
    pub reads: usize,
}

/// The typical pathway's length.
const EVENTS: std::ops::RangeInclusive<u32> = 10..=40;

pub(crate) async fn run(bench: &Bench, mut args: Args) -> anyhow::Result<Figures> {
    if bench.tiny {
        args.small = args.small.min(300);
        args.large = args.large.min(1_500);
        args.reads = args.reads.min(50);
    }
    anyhow::ensure!(
        args.large > args.small,
        "--large ({}) must be more than --small ({})",
        args.large,
        args.small
    );
    let mut figures = Figures::new("history", bench.runs);
    let server = bench.server("log", Durability::ServerDefault).await?;
    say(format!("filling the log with {} events", args.small));
    let small = fill::fill(
        &server.log,
        Generator::new(2167, super::FIRST_DAY, 90, true),
        Shape::Whole,
        args.small,
    )
    .await?;
    let sample: Vec<(PathwayId, u32)> = small
        .pathways
        .iter()
        .filter(|(_, n)| EVENTS.contains(n))
        .cloned()
        .collect();
    anyhow::ensure!(
        !sample.is_empty(),
        "no pathway of 10 to 40 events in the small log"
    );
    let server = server.restart(bench, Durability::Always).await?;
    measure(
        bench,
        &server,
        &sample,
        args.reads,
        "small log",
        &mut figures,
    )
    .await?;

    let server = server.restart(bench, Durability::ServerDefault).await?;
    say(format!("filling the log on to {} events", args.large));
    // Another seed: other pathways, none of the small log's.
    let generator = Generator::new(2168, super::FIRST_DAY, 90, true);
    let large = fill::fill(
        &server.log,
        generator,
        Shape::Whole,
        args.large - small.events,
    )
    .await?;
    let server = server.restart(bench, Durability::Always).await?;
    measure(
        bench,
        &server,
        &sample,
        args.reads,
        "large log",
        &mut figures,
    )
    .await?;
    let p99 = |size: &str| figures.median(&format!("{size}: raccordo history p99"));
    if let (Some(small_p99), Some(large_p99)) = (p99("small log"), p99("large log")) {
        figures.add("p99 large / p99 small (medians)", "", large_p99 / small_p99);
    }
    figures.note(format!(
        "small log: {} events; large log: {} events ({:.0} MiB on disk); each read is one of {} \
         pathways of 10 to 40 events from the small log, the same ones at both sizes",
        small.events,
        small.events + large.events,
        server.store_bytes() as f64 / 1048576.0,
        sample.len()
    ));
    figures.note(
        "fills published raw on the server's lazy default; the reads on sync_interval: always",
    );
    server.stop().await;
    Ok(figures)
}

/// `bench.runs` runs of `reads` history reads, one at a time, then as many raw direct gets, then
/// as many raw batched gets of the whole history.
async fn measure(
    bench: &Bench,
    server: &Server,
    sample: &[(PathwayId, u32)],
    reads: usize,
    size: &str,
    figures: &mut Figures,
) -> anyhow::Result<()> {
    let raw = server.log.raw();
    let stream = server.log.config().stream.clone();
    // One read of each, unmeasured: connections and the server's caches warm, as in service.
    for (id, _) in sample.iter().take(reads) {
        server.log.history(id).await?;
    }
    for run in 1..=bench.runs {
        let mut ours = Latencies::default();
        let mut theirs = Latencies::default();
        let started = Instant::now();
        for (id, events) in sample.iter().cycle().take(reads) {
            let t = Instant::now();
            let history = server.log.history(id).await?;
            ours.push(t.elapsed());
            anyhow::ensure!(
                history.len() == *events as usize,
                "pathway {id}: {} events read, {events} published",
                history.len()
            );
        }
        let ours_seconds = started.elapsed().as_secs_f64();
        for (id, _) in sample.iter().cycle().take(reads) {
            let t = Instant::now();
            raw.last_of_subject(&stream, &codec::subject_of(id)).await?;
            theirs.push(t.elapsed());
        }
        let mut batched = Latencies::default();
        for (id, events) in sample.iter().cycle().take(reads) {
            let t = Instant::now();
            let read = raw.all_of_subject(&stream, &codec::subject_of(id)).await?;
            batched.push(t.elapsed());
            anyhow::ensure!(
                read == *events as usize,
                "pathway {id}: {read} messages read raw, {events} published"
            );
        }
        figures.latencies(&format!("{size}: raccordo history"), &mut ours);
        figures.latencies(&format!("{size}: raw direct get"), &mut theirs);
        figures.latencies(
            &format!("{size}: raw batched get, nothing decoded"),
            &mut batched,
        );
        figures.add(
            format!("{size}: raccordo histories read"),
            "/s",
            reads as f64 / ours_seconds,
        );
        say(format!(
            "{size}, run {run}: p99 raccordo {:.3} ms, raw {:.3} ms, raw batched {:.3} ms",
            ours.quantile_ms(0.99),
            theirs.quantile_ms(0.99),
            batched.quantile_ms(0.99)
        ));
    }
    Ok(())
}
