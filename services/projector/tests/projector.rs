//! The projector on a real nats-server with JetStream and a real sled store on disk: catching up,
//! following until told to stop, what it reports, and what it does with what it cannot apply.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use futures::StreamExt;
use raccordo::nats::{EmbeddedNats, locate};
use raccordo_domain::ids::{AmbitoCode, EventId, OrgId, PathwayId, PathwayKind};
use raccordo_domain::pathway::{Actor, Event, EventData};
use raccordo_domain::routing::View;
use raccordo_eventlog::inbox::{self, Inbox, InboxMessage};
use raccordo_eventlog::{DEAD_REASON, EventLog, LogConfig};
use raccordo_projections::{Opened, ProjectionStore, SledStore};
use raccordo_projector::{BATCH, Progress, Projector, ProjectorError, entry, open_store};
use serde_json::json;
use tempfile::TempDir;
use time::OffsetDateTime;
use time::macros::datetime;

const START: OffsetDateTime = datetime!(2026-03-02 09:00 UTC);
const ME: &str = "asst:705";
const OTHER: &str = "comune:magenta";

fn org(text: &str) -> OrgId {
    text.parse().unwrap()
}

/// A nats-server of its own, the event log on it and a state folder.
struct Bus {
    /// A child process, killed when the test ends.
    _server: EmbeddedNats,
    log: EventLog,
    inbox: Inbox,
    dir: TempDir,
    /// Log sequences handed out so far: every event gets the next one.
    source: u64,
}

impl Bus {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let binary = locate(None).expect("run scripts/nats-server.sh first");
        let server = EmbeddedNats::start(&binary, &dir.path().join("nats"))
            .await
            .unwrap();
        let log = EventLog::connect(server.url(), LogConfig::default())
            .await
            .unwrap();
        let inbox = log.inbox().await.unwrap();
        Self {
            _server: server,
            log,
            inbox,
            dir,
            source: 0,
        }
    }

    fn state(&self) -> &Path {
        self.dir.path()
    }

    /// Publishes, as the router would, one event of pathway `n` (of the kind `n` picks) for each
    /// of `parties`, and returns the event.
    async fn event(&mut self, n: u64, parties: &[&str]) -> Event {
        self.source += 1;
        let event = event(self.source, n);
        let body = event.data.to_body();
        let waiting = [org(ME)];
        let ambito: AmbitoCode = "50032".parse().unwrap();
        let parties: Vec<OrgId> = parties.iter().map(|p| org(p)).collect();
        let messages: Vec<InboxMessage<'_>> = parties
            .iter()
            .map(|party| InboxMessage {
                party,
                view: View::Full,
                event: &event,
                body: &body,
                source_sequence: self.source,
                routed_by: self.source,
                status: "received",
                waiting_on: &waiting,
                ambito: &ambito,
            })
            .collect();
        self.inbox.publish(&messages).await.unwrap();
        event
    }

    /// Publishes a message that is not a valid inbox message on `party`'s subject.
    async fn garbage(&self, party: &str, reason: &str) -> u64 {
        let js = async_nats::jetstream::new(self.log.client().clone());
        let mut headers = HeaderMap::new();
        headers.insert(inbox::PARTY, party);
        headers.insert("test-note", reason);
        let subject = inbox::inbox_subject(&org(party), PathwayKind::Pua);
        js.publish_with_headers(subject, headers, "{}".into())
            .await
            .unwrap()
            .await
            .unwrap()
            .sequence
    }

    async fn last(&self) -> u64 {
        self.inbox.last_sequence().await.unwrap()
    }

    /// The dead letters parked by `party`'s projector, as (inbox sequence, reason).
    async fn dead(&self, party: &str) -> Vec<(u64, String)> {
        let js = async_nats::jetstream::new(self.log.client().clone());
        let Ok(mut stream) = js.get_stream("RACCORDO_DEAD").await else {
            return Vec::new();
        };
        let last = stream.info().await.unwrap().state.last_sequence;
        let mut found = Vec::new();
        for sequence in 1..=last {
            let message = stream.get_raw_message(sequence).await.unwrap();
            if message.subject.as_str() != format!("raccordo.dead.projector:{party}") {
                continue;
            }
            let header = |name: &str| message.headers.get(name).unwrap().as_str().to_owned();
            found.push((
                header("raccordo-dead-sequence").parse().unwrap(),
                header(DEAD_REASON),
            ));
        }
        found
    }
}

fn pathway(n: u64) -> PathwayId {
    let kind = PathwayKind::ALL[(n % 3) as usize];
    format!("{}-{n:020x}", kind.prefix()).parse().unwrap()
}

fn event(source: u64, n: u64) -> Event {
    let pathway = pathway(n);
    let data = match pathway.kind() {
        PathwayKind::DimissioneProtetta => EventData::from_type_and_body(
            "raccordo.dimissione_protetta.received.v1",
            json!({"received_by": "comune:magenta"}),
        ),
        PathwayKind::Pua => {
            EventData::from_type_and_body("raccordo.pua.uvm_requested.v1", json!({}))
        }
        PathwayKind::CentroFamiglia => {
            EventData::from_type_and_body("raccordo.centro_famiglia.accepted.v1", json!({}))
        }
    }
    .unwrap();
    Event {
        id: format!("{source:032x}").parse::<EventId>().unwrap(),
        pathway,
        command_id: format!("cmd-{source}").parse().unwrap(),
        command_digest: "00".into(),
        actor: Actor {
            org: org(OTHER),
            operator: "servizio.sociale".parse().unwrap(),
        },
        time: START + time::Duration::minutes(source as i64),
        data,
    }
}

fn projector_of(bus: &Bus, state: &Path) -> Projector {
    let (store, _) = open_store(state, &org(ME)).unwrap();
    Projector::new(bus.log.clone(), store)
}

#[tokio::test]
async fn catch_up_applies_the_partys_inbox_and_stops_at_its_last_message() {
    let mut bus = Bus::start().await;
    for n in 0..300 {
        let parties: &[&str] = if n % 4 == 0 { &[OTHER] } else { &[ME, OTHER] };
        bus.event(n % 41, parties).await;
    }
    let mine_last = bus.inbox.last_sequence_of(&org(ME)).await.unwrap();
    // Other parties' messages run on well past this party's last one.
    for n in 0..50 {
        bus.event(n, &[OTHER]).await;
    }
    assert!(bus.last().await > mine_last + 40);

    let projector = projector_of(&bus, bus.state());
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
    let mut bus = Bus::start().await;
    bus.event(1, &[OTHER]).await;
    let projector = projector_of(&bus, bus.state());
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
    let mut bus = Bus::start().await;
    for n in 0..20 {
        bus.event(n, &[ME]).await;
    }
    let projector = Arc::new(projector_of(&bus, bus.state()));
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
        bus.event(n, &[OTHER, ME]).await;
    }
    let last = bus.inbox.last_sequence_of(&org(ME)).await.unwrap();
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
    let (store, opened) = open_store(bus.state(), &org(ME)).unwrap();
    assert_eq!(opened, Opened::Existing { checkpoint: last });
    assert_eq!(store.digest().unwrap(), digest);
}

#[tokio::test]
async fn a_malformed_message_is_parked_once_and_the_projector_goes_on() {
    let mut bus = Bus::start().await;
    for n in 0..5 {
        bus.event(n, &[ME]).await;
    }
    let bad = bus.garbage(ME, "no cloud event").await;
    // A message for another party, malformed too: not this projector's business.
    bus.garbage(OTHER, "not mine").await;
    // The same log position of one pathway holding another event: the store refuses it.
    let event = bus.event(7, &[ME]).await;
    let clash = bus.last().await + 1;
    {
        let mut impostor = event.clone();
        impostor.id = "ffffffffffffffffffffffffffffffff".parse().unwrap();
        let body = impostor.data.to_body();
        let ambito: AmbitoCode = "50032".parse().unwrap();
        let me = org(ME);
        bus.inbox
            .publish(&[InboxMessage {
                party: &me,
                view: View::Full,
                event: &impostor,
                body: &body,
                source_sequence: bus.source,
                routed_by: bus.source,
                status: "received",
                waiting_on: &[],
                ambito: &ambito,
            }])
            .await
            .unwrap();
    }
    for n in 10..15 {
        bus.event(n, &[ME]).await;
    }

    let projector = projector_of(&bus, bus.state());
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
    let restarted = projector_of(&bus, bus.state());
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
    let mut bus = Bus::start().await;
    for n in 0..3 {
        bus.event(n, &[ME]).await;
    }
    // A projection of another, longer inbox (another server): its checkpoint is past this end.
    let dir = bus.state().join("projections").join("asst_705");
    {
        let (store, _) = SledStore::open(&dir, &org(ME)).unwrap();
        store.park(50).unwrap();
    }
    let projector = projector_of(&bus, bus.state());
    let error = projector.catch_up().await.unwrap_err();
    assert!(matches!(error, ProjectorError::Ahead { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("inbox sequence 50"), "{message}");
    assert!(message.contains("--rebuild"), "{message}");
}

/// The inbox as a stream of deliveries, for the record: what the gRPC inbox stream will read.
#[tokio::test]
async fn the_inbox_reads_back_as_deliveries() {
    let mut bus = Bus::start().await;
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
    let bus = Bus::start().await;
    let me = org(ME);
    let ambito: AmbitoCode = "50032".parse().unwrap();
    let waiting = [org(ME)];
    let mut source = 0;
    while source < events {
        let chunk: Vec<Event> = (source + 1..=(source + 2_000).min(events))
            .map(|s| event(s, s % (events / 8).max(1)))
            .collect();
        source += chunk.len() as u64;
        let bodies: Vec<_> = chunk.iter().map(|e| e.data.to_body()).collect();
        let messages: Vec<InboxMessage<'_>> = chunk
            .iter()
            .zip(&bodies)
            .map(|(event, body)| InboxMessage {
                party: &me,
                view: View::Full,
                event,
                body,
                source_sequence: u64::from_str_radix(event.id.as_str(), 16).unwrap(),
                routed_by: u64::from_str_radix(event.id.as_str(), 16).unwrap(),
                status: "received",
                waiting_on: &waiting,
                ambito: &ambito,
            })
            .collect();
        bus.inbox.publish(&messages).await.unwrap();
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
