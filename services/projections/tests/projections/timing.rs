//! How fast a store applies and answers, for the record: run with
//! `cargo test --release -p raccordo-projections -- --ignored --nocapture timing`.
//! Nothing is asserted on time (ARCHITECTURE.md §6: figures come from benchmark commands).

use std::time::Instant;

use raccordo_projections::{ListFilter, ProjectionStore};

use crate::support::*;

#[test]
#[ignore = "a measurement, not a check: run it in release mode with --nocapture"]
fn timing_apply_100k_entries_in_batches_of_500() {
    let entries = stream(42, 100_000);
    let pathways = entries
        .iter()
        .map(|e| &e.pathway)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let (store, _) = reopen(&dir);

    let started = Instant::now();
    for batch in entries.chunks(500) {
        store.apply(batch).unwrap();
    }
    let applying = started.elapsed();
    let started = Instant::now();
    store.flush().unwrap();
    let flushing = started.elapsed();

    let started = Instant::now();
    let digest = store.digest().unwrap();
    let digesting = started.elapsed();

    let some = entries[entries.len() / 2].pathway.clone();
    let started = Instant::now();
    let history = store.history(&some).unwrap();
    let reading = started.elapsed();

    let started = Instant::now();
    let page = store
        .list(&ListFilter {
            limit: Some(50),
            waiting_on_me: true,
            ..Default::default()
        })
        .unwrap();
    let listing = started.elapsed();

    let started = Instant::now();
    let work = store.worklist().unwrap();
    let working = started.elapsed();

    drop(store);
    let bytes: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().metadata().unwrap().len())
        .sum();
    let started = Instant::now();
    let (store, _) = reopen(&dir);
    let reopening = started.elapsed();
    assert_eq!(store.digest().unwrap(), digest);

    let rate = entries.len() as f64 / applying.as_secs_f64();
    println!(
        "{} entries over {pathways} pathways, batches of 500: apply {applying:.2?} ({rate:.0} entries/s), \
         flush {flushing:.2?}, digest {digesting:.2?}, history of one pathway ({} events) {reading:.2?}, \
         list 50 waiting on me {listing:.2?} ({} found), worklist {working:.2?} ({} items), \
         reopen {reopening:.2?}, {:.1} MiB on disk",
        entries.len(),
        history.len(),
        page.len(),
        work.len(),
        bytes as f64 / (1024.0 * 1024.0),
    );
}
