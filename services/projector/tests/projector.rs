//! The projector on a real nats-server with JetStream and a real sled store on disk: catching up,
//! following until told to stop, what it reports, and what it does with what it cannot apply.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use raccordo_projections::{Opened, ProjectionStore, SledStore};
use raccordo_projector::{BATCH, Progress, Projector, ProjectorError, entry, open_store};
use tempfile::TempDir;

use support::{Bus, COMUNE, ME, Routed, org, pathway};

/// A bus on a state folder of the test's own: the server's data under `nats`, the projections
/// beside it.
async fn started() -> (TempDir, Bus) {
    let state = tempfile::tempdir().unwrap();
    let bus = Bus::start(state.path()).await;
    (state, bus)
}

fn projector_of(bus: &Bus, state: &Path) -> Projector {
    let (store, _) = open_store(state, &org(ME)).unwrap();
    Projector::new(bus.log.clone(), store)
}

#[tokio::test]
async fn catch_up_applies_the_partys_inbox_and_stops_at_its_last_message() {
    let (state, mut bus) = started().await;
    for n in 0..300 {
        let parties: &[&str] = if n % 4 == 0 { &[COMUNE] } else { &[ME, COMUNE] };
        bus.event(n % 41, parties).await;
    }
    let mine_last = bus.last_of(ME).await;
    // Other parties' messages run on well past this party's last one.
    for n in 0..50 {
        bus.event(n, &[COMUNE]).await;
    }
    assert!(bus.last().await > mine_last + 40);

    let projector = projector_of(&bus, state.path());
    let progress = tokio::time::timeout(Duration::from_secs(30), projector.catch_up())
        .await
        .expect("catch_up returns once the party's last message is applied")
        .unwrap();
    assert_eq!(
        progress,
        Progress {
            checkpoint: mine_last,
            inbox_last: mine_last,
            applied: 225,
            parked: 0,
            caught_up: true,
            stopped_at: None,
        }
    );
    assert_eq!(*projector.progress().borrow(), progress);
    let store = projector.store();
    assert_eq!(store.checkpoint().unwrap(), mine_last);
    assert_eq!(store.pathway_count().unwrap(), 41);
    let history = store.history(&pathway(1)).unwrap();
    assert_eq!(history[0].operator.as_deref(), Some("servizio.sociale"));
    assert_eq!(history[0].command_id.as_deref(), Some("cmd-2"));

    // Nothing new: a second catch-up returns at once and changes nothing.
    let digest = store.digest().unwrap();
    let again = projector.catch_up().await.unwrap();
    assert_eq!(again.checkpoint, mine_last);
    assert_eq!(store.digest().unwrap(), digest);

    // Another store fed the same inbox agrees.
    let other = tempfile::tempdir().unwrap();
    let second = projector_of(&bus, other.path());
    second.catch_up().await.unwrap();
    assert_eq!(second.store().digest().unwrap(), digest);
}

#[tokio::test]
async fn an_empty_inbox_is_caught_up_at_once() {
    let (state, mut bus) = started().await;
    bus.event(1, &[COMUNE]).await;
    let projector = projector_of(&bus, state.path());
    let progress = tokio::time::timeout(Duration::from_secs(10), projector.catch_up())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        progress,
        Progress {
            caught_up: true,
            ..Progress::default()
        }
    );
}

#[tokio::test]
async fn run_follows_new_messages_until_shutdown_and_reports_progress() {
    let (state, mut bus) = started().await;
    for n in 0..20 {
        bus.event(n, &[ME]).await;
    }
    let projector = Arc::new(projector_of(&bus, state.path()));
    let mut progress = projector.progress();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn({
        let projector = projector.clone();
        async move {
            projector
                .run(async {
                    let _ = stopped.await;
                })
                .await
        }
    });
    let seen = tokio::time::timeout(
        Duration::from_secs(20),
        progress.wait_for(|p| p.caught_up && p.checkpoint == 20),
    )
    .await
    .unwrap()
    .map(|p| *p)
    .unwrap();
    assert_eq!(seen.applied, 20);

    // Live messages, for this party and others, after it caught up.
    for n in 20..45 {
        bus.event(n, &[COMUNE, ME]).await;
    }
    let last = bus.last_of(ME).await;
    let seen = tokio::time::timeout(
        Duration::from_secs(20),
        progress.wait_for(|p| p.checkpoint == last),
    )
    .await
    .unwrap()
    .map(|p| *p)
    .unwrap();
    assert_eq!(seen.applied, 45);
    assert_eq!(seen.inbox_last, last);
    assert!(seen.caught_up);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("run returns once told to stop")
        .unwrap()
        .unwrap();
    let digest = projector.store().digest().unwrap();
    drop(projector);
    // Stopped in order: the store reopens as it was left.
    let (store, opened) = open_store(state.path(), &org(ME)).unwrap();
    assert_eq!(opened, Opened::Existing { checkpoint: last });
    assert_eq!(store.digest().unwrap(), digest);
}

#[tokio::test]
async fn a_malformed_message_is_parked_once_and_the_projector_goes_on() {
    let (state, mut bus) = started().await;
    for n in 0..5 {
        bus.event(n, &[ME]).await;
    }
    // No CloudEvents headers at all.
    let bad = bus.garbage(ME, &[]).await;
    // A message for another party, malformed too: not this projector's business.
    bus.garbage(COMUNE, &[]).await;
    // The same log position of one pathway holding another event: the store refuses it.
    bus.event(7, &[ME]).await;
    let clash = bus.last().await + 1;
    let mut impostor = Routed::new(bus.source, 7, &[ME]);
    impostor.event.id = "ffffffffffffffffffffffffffffffff".parse().unwrap();
    impostor.waiting_on.clear();
    bus.publish(&[impostor]).await;
    for n in 10..15 {
        bus.event(n, &[ME]).await;
    }

    let projector = projector_of(&bus, state.path());
    let progress = projector.catch_up().await.unwrap();
    assert_eq!(progress.applied, 11);
    assert_eq!(progress.parked, 2);
    assert_eq!(progress.checkpoint, bus.last().await);
    assert_eq!(projector.store().parked().unwrap(), [bad, clash]);
    let dead = bus.dead(ME).await;
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert_eq!(dead[0].0, bad);
    assert!(dead[0].1.contains("header"), "{}", dead[0].1);
    assert_eq!(dead[1].0, clash);
    assert!(
        dead[1].1.starts_with("the projection refused it")
            && dead[1].1.contains("contradicts the log"),
        "{}",
        dead[1].1
    );
    let digest = projector.store().digest().unwrap();
    drop(projector);

    // Restarted: nothing parked again.
    let restarted = projector_of(&bus, state.path());
    let progress = restarted.catch_up().await.unwrap();
    assert_eq!((progress.applied, progress.parked), (0, 0));
    assert_eq!(bus.dead(ME).await.len(), 2);
    // A clean rebuild parks the same messages (JetStream drops the repeated dead letters) and
    // reaches the same digest.
    let clean = tempfile::tempdir().unwrap();
    let rebuilt = projector_of(&bus, clean.path());
    let progress = rebuilt.catch_up().await.unwrap();
    assert_eq!((progress.applied, progress.parked), (11, 2));
    assert_eq!(rebuilt.store().digest().unwrap(), digest);
    assert_eq!(bus.dead(ME).await.len(), 2);
}

#[tokio::test]
async fn a_projection_ahead_of_the_inbox_is_refused_with_what_to_do() {
    let (state, mut bus) = started().await;
    for n in 0..3 {
        bus.event(n, &[ME]).await;
    }
    // A projection of another, longer inbox (another server): its checkpoint is past this end.
    let dir = state.path().join("projections").join("asst_705");
    {
        let (store, _) = SledStore::open(&dir, &org(ME)).unwrap();
        store.park(50).unwrap();
    }
    let projector = projector_of(&bus, state.path());
    let error = projector.catch_up().await.unwrap_err();
    assert!(matches!(error, ProjectorError::Ahead { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("inbox sequence 50"), "{message}");
    assert!(message.contains("--rebuild"), "{message}");
}

#[tokio::test]
async fn a_bounded_projector_stops_where_the_live_one_stood_when_that_event_was_routed() {
    let (state, mut bus) = started().await;
    let party = |n: u64| -> &[&str] {
        if n.is_multiple_of(3) {
            &[COMUNE]
        } else {
            &[ME, COMUNE]
        }
    };
    for n in 1..=20 {
        bus.event(n % 7, party(n)).await;
    }
    let live = projector_of(&bus, state.path());
    live.catch_up().await.unwrap();
    let (at_20, digest_at_20) = (bus.last_of(ME).await, live.store().digest().unwrap());
    for n in 21..=30 {
        bus.event(n % 7, party(n)).await;
    }

    let other = tempfile::tempdir().unwrap();
    let (store, _) = open_store(other.path(), &org(ME)).unwrap();
    let bounded = Projector::new(bus.log.clone(), store.clone()).until(20);
    let progress = bounded.catch_up().await.unwrap();
    assert_eq!(progress.checkpoint, at_20);
    let stopped_at = progress.stopped_at.expect("messages routed later follow");
    assert!(stopped_at > at_20, "{progress:?}");
    assert!(!progress.caught_up);
    assert_eq!(store.digest().unwrap(), digest_at_20);
    drop(bounded);

    // What is applied cannot be taken back by a lower bound.
    let error = Projector::new(bus.log.clone(), store.clone())
        .until(10)
        .catch_up()
        .await
        .unwrap_err();
    assert!(matches!(error, ProjectorError::Past { .. }), "{error}");
    assert!(
        error.to_string().contains("past log sequence 10"),
        "{error}"
    );
    // Unbounded, the same store goes on to where the live one is.
    live.catch_up().await.unwrap();
    Projector::new(bus.log.clone(), store.clone())
        .catch_up()
        .await
        .unwrap();
    assert_eq!(store.digest().unwrap(), live.store().digest().unwrap());
}

/// The inbox as a stream of deliveries, for the record: what the gRPC inbox stream will read.
#[tokio::test]
async fn the_inbox_reads_back_as_deliveries() {
    let (_state, mut bus) = started().await;
    let event = bus.event(3, &[ME]).await;
    let mut messages = bus.inbox.follow(&org(ME), 1).await.unwrap();
    let received = messages.next().await.unwrap().unwrap();
    let delivery = received.delivery().unwrap();
    assert_eq!(delivery.event_id, event.id);
    assert_eq!(delivery.pathway, event.pathway);
    assert_eq!(delivery.waiting_on, [org(ME)]);
    assert_eq!(delivery.operator.as_deref(), Some("servizio.sociale"));
}

/// How fast a rebuild goes, side by side with its two parts alone, for the record: reading and
/// parsing the inbox (the raw ordered-consumer read) and applying the entries to the store. A
/// rebuild close to the slower of the two is not paid per message. Run with
/// `cargo test --release -p raccordo-projector -- --ignored --nocapture timing`
/// (`RACCORDO_TIMING_EVENTS` sets the size, 50 000 by default). Nothing is asserted on time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check: run it in release mode with --nocapture"]
async fn timing_rebuild_against_reading_and_storing_alone() {
    let events: u64 = std::env::var("RACCORDO_TIMING_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50_000);
    let (_state, mut bus) = started().await;
    let me = org(ME);
    let pathways = (events / 8).max(1);
    while bus.source < events {
        let chunk: Vec<Routed> = (0..2_000.min(events - bus.source))
            .map(|_| bus.next((bus.source + 1) % pathways, &[ME]))
            .collect();
        bus.publish(&chunk).await;
    }

    let started = std::time::Instant::now();
    let mut messages = bus.inbox.follow(&me, 1).await.unwrap();
    let mut entries = Vec::with_capacity(events as usize);
    while (entries.len() as u64) < events {
        let received = messages.next().await.unwrap().unwrap();
        entries.push(entry(received.delivery().unwrap()));
    }
    drop(messages);
    let reading = started.elapsed();

    let scratch = tempfile::tempdir().unwrap();
    let (store, _) = open_store(scratch.path(), &me).unwrap();
    let started = std::time::Instant::now();
    for batch in entries.chunks(BATCH) {
        store.apply(batch).unwrap();
    }
    store.flush().unwrap();
    let storing = started.elapsed();
    let digest = store.digest().unwrap();
    drop(store);

    let fresh = tempfile::tempdir().unwrap();
    let projector = projector_of(&bus, fresh.path());
    let started = std::time::Instant::now();
    let progress = projector.catch_up().await.unwrap();
    let rebuilding = started.elapsed();
    assert_eq!(progress.applied, events);
    assert_eq!(projector.store().digest().unwrap(), digest);

    let rate = |d: Duration| events as f64 / d.as_secs_f64();
    println!(
        "{events} inbox messages: read and parse {reading:.2?} ({:.0}/s), store alone in batches \
         of {BATCH} {storing:.2?} ({:.0}/s), rebuild {rebuilding:.2?} ({:.0}/s) = {:.2}x the time \
         of the store alone, {:.2}x the time of reading alone",
        rate(reading),
        rate(storing),
        rate(rebuilding),
        rebuilding.as_secs_f64() / storing.as_secs_f64(),
        rebuilding.as_secs_f64() / reading.as_secs_f64(),
    );
}
