//! The reconciler: follows the `RACCORDO` log in order, measures every pathway against the
//! protocol in force (`raccordo_domain::reconcile`, a pure function of the log), and records what
//! it finds as finding events on the pathways, through the same engine and the same optimistic
//! concurrency as the organisations' commands. Its memory (what it tracks of each pathway with its
//! deadlines, the findings made, its place in the log) is in its own sled store, written in
//! one transaction per batch after the batch's findings are in the log: killed at any moment, it
//! starts again from the last batch, finds the same findings again, and the pathways' memory of
//! applied commands keeps each of them one event.
//!
//! Divergences are found apart from the log's order: each projector publishes, pathway by
//! pathway, digests of what its store holds (`raccordo_eventlog::digests`); the reconciler
//! recomputes what the party should hold from the pathway's history in the log with the router's
//! own rule (`raccordo_domain::routing::holdings`) and, where they part, records a `divergence`
//! finding naming the party and the first event they part at. These depend on the projections,
//! not on the log alone, so a replay of the log leaves them out of its comparison.
//!
//! Deadlines fire in two ways, and the log decides both: before each event, every deadline that
//! fell before the event's time; and, once the whole log is read, every deadline more than
//! [`MARGIN`] in the past by the clock. The margin leaves time for a command decided just before
//! a deadline to reach the log, so that the live reconciler and a replay of the log
//! ([`replay`]) find the same findings in the same order.

pub mod indicators;
mod store;

use std::collections::BTreeSet;
use std::future::Future;
use std::mem;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use raccordo_domain::clock::Clock;
use raccordo_domain::ids::PathwayId;
use raccordo_domain::pathway::finding::{self, Finding, FindingKind, RecordFinding};
use raccordo_domain::pathway::{EventData, Pathway, RecordedEvent};
use raccordo_domain::reconcile::{Book, Found};
use raccordo_eventlog::{EventLog, LogError, PathwayDigest, Stored};
use raccordo_gateway::{CommandError, Engine};
use tokio::sync::watch;

pub use store::{Store, StoreError};

/// The name under which the reconciler parks what it cannot read.
const CONSUMER: &str = "reconciler";
/// Events taken in per batch (one store transaction).
const BATCH: usize = 500;
/// How often the clock is looked at for deadlines once the log is read.
const TICK: Duration = Duration::from_millis(250);
/// How far in the past by the clock a deadline must be before it fires without an event after it.
pub const MARGIN: time::Duration = time::Duration::seconds(2);

#[derive(Debug, thiserror::Error)]
pub enum ReconcilerError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("recording a finding on pathway {pathway}: {source}")]
    Record {
        pathway: PathwayId,
        source: CommandError,
    },
}

/// What the reconciler measures against: protocols, territory, calendar.
pub use raccordo_domain::reconcile::Ruleset as Rules;

/// Where the reconciler is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// The last log sequence taken in.
    pub checkpoint: u64,
    /// Findings recorded since start (new ones; those already in the log are not counted).
    pub recorded: u64,
    /// Deadlines pending.
    pub pending: usize,
    /// The clock instant up to which deadlines have fired with the whole log read (unix seconds).
    pub fired_until: i64,
}

pub fn store_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("reconciler")
}

#[derive(Debug)]
pub struct Reconciler {
    log: EventLog,
    engine: Arc<Engine>,
    rules: Rules,
    store: Store,
    clock: Arc<dyn Clock>,
    progress: watch::Sender<Progress>,
}

impl Reconciler {
    pub fn new(
        log: EventLog,
        engine: Arc<Engine>,
        rules: Rules,
        store: Store,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            log,
            engine,
            rules,
            store,
            clock,
            progress: watch::Sender::new(Progress::default()),
        }
    }

    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    /// Reconciles from where the store left off, then each new event as it comes, firing
    /// deadlines as the clock passes them, until `shutdown`.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), ReconcilerError> {
        let mut book = self.store.load()?;
        let from = book.sequence + 1;
        tracing::info!(
            from,
            tracked = book.pathways.len(),
            pending = book.pending(),
            "reconciler started"
        );
        self.report(&book, None);
        let mut events = Box::pin(self.log.follow(from).await?);
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            let mut batch = Vec::new();
            tokio::select! {
                () = &mut shutdown => break,
                next = events.next() => match next {
                    Some(stored) => batch.push(stored?),
                    None => break,
                },
                _ = tick.tick() => {
                    if self.log.last_sequence().await? <= book.sequence {
                        // A part at a time, each recorded and saved before the next: many
                        // deadlines falling due at once (a reconciler back after a long stop)
                        // are neither held in memory nor lost to a crash all together, and an
                        // event that comes meanwhile is taken in between parts.
                        let until = self.clock.now() - MARGIN;
                        let found = book.fire_at_most(self.rules.book(), until, BATCH);
                        let more = found.len() == BATCH;
                        self.record_and_save(&mut book, found, BTreeSet::new()).await?;
                        self.report(&book, (!more).then_some(until));
                        if more {
                            tick.reset_immediately();
                        }
                    }
                    continue;
                }
            }
            // Take whatever else is ready without waiting, up to a batch.
            while batch.len() < BATCH {
                match futures::FutureExt::now_or_never(events.next()) {
                    Some(Some(stored)) => batch.push(stored?),
                    _ => break,
                }
            }
            let mut found = Vec::new();
            let mut touched = BTreeSet::new();
            for stored in batch {
                match stored {
                    Stored::Event(recorded) => {
                        self.fire_before(&mut book, &recorded, &mut found, &mut touched)
                            .await?;
                        touched.insert(recorded.event.pathway.clone());
                        found.extend(book.observe(self.rules.book(), &recorded));
                    }
                    Stored::Malformed(parked) => {
                        self.log.dead_letter(CONSUMER, &parked).await?;
                        book.sequence = book.sequence.max(parked.sequence);
                    }
                }
            }
            self.record_and_save(&mut book, found, touched).await?;
            self.report(&book, None);
        }
        self.store.flush().await?;
        tracing::info!(checkpoint = book.sequence, "reconciler stopped");
        Ok(())
    }

    /// Records the findings, in order, then saves what the batch changed.
    /// Fires the deadlines due before `recorded` a part at a time: after a long quiet there can
    /// be a great many. Whenever the batch's findings fill a part, they go to the log (what the
    /// batch found before first) and the store is saved with them, so that no more than a part is
    /// held in memory and the store never counts a finding the log has not got.
    async fn fire_before(
        &self,
        book: &mut Book,
        recorded: &RecordedEvent,
        found: &mut Vec<Found>,
        touched: &mut BTreeSet<PathwayId>,
    ) -> Result<(), ReconcilerError> {
        loop {
            let part = book.fire_before(self.rules.book(), recorded, BATCH);
            let more = part.len() == BATCH;
            found.extend(part);
            if found.len() >= BATCH {
                self.record_and_save(book, mem::take(found), mem::take(touched))
                    .await?;
                self.report(book, None);
            }
            if !more {
                return Ok(());
            }
        }
    }

    async fn record_and_save(
        &self,
        book: &mut Book,
        found: Vec<Found>,
        mut touched: BTreeSet<PathwayId>,
    ) -> Result<(), ReconcilerError> {
        let mut keys = Vec::with_capacity(found.len());
        let mut recorded = 0;
        for f in found {
            let key = f.finding.key();
            if self.record(&f).await? {
                recorded += 1;
            }
            touched.insert(f.pathway.clone());
            keys.push((f.pathway, key));
        }
        if touched.is_empty() && keys.is_empty() {
            return Ok(());
        }
        self.store.save(book, &touched, &keys)?;
        self.progress.send_modify(|p| p.recorded += recorded);
        Ok(())
    }

    /// Appends one finding; `false` if the log had it already.
    async fn record(&self, found: &Found) -> Result<bool, ReconcilerError> {
        let command = RecordFinding::command(found.pathway.clone(), found.finding.clone());
        let trace = opentelemetry::Context::new();
        match self.engine.execute(&found.recorder, &command, &trace).await {
            Ok(outcome) => {
                if !outcome.replayed {
                    tracing::info!(
                        pathway = %found.pathway,
                        finding = %found.finding.finding,
                        party = found.finding.party.as_ref().map(ToString::to_string),
                        "finding recorded"
                    );
                }
                Ok(!outcome.replayed)
            }
            // Recorded before with other details (a protocol file changed under a running
            // history): the log keeps the first; a replay reports the difference.
            Err(CommandError::Rejected(rejection)) => {
                tracing::warn!(pathway = %found.pathway, %rejection, "finding not recorded");
                Ok(false)
            }
            Err(source) => Err(ReconcilerError::Record {
                pathway: found.pathway.clone(),
                source,
            }),
        }
    }

    /// Checks every projection digest published (those held now, then each new one) against
    /// the log, until `shutdown`, and records a divergence finding where a party parts from it.
    pub async fn check_digests(
        &self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ReconcilerError> {
        let inbox = self.log.inbox().await?;
        let mut digests = Box::pin(self.log.digests().await?.follow().await?);
        tokio::pin!(shutdown);
        loop {
            let digest = tokio::select! {
                () = &mut shutdown => return Ok(()),
                next = digests.next() => match next {
                    Some(digest) => digest?,
                    None => return Ok(()),
                },
            };
            let digest = match digest {
                Ok(digest) => digest,
                Err(reason) => {
                    tracing::warn!(%reason, "a message of the digest stream left aside");
                    continue;
                }
            };
            // A party with inbox messages still to apply will publish again once it has.
            if inbox.last_sequence_of(&digest.party).await? > digest.checkpoint {
                continue;
            }
            let history = self.log.history(&digest.pathway).await?;
            if let Some(found) = divergence(&self.rules, &history, &digest) {
                self.record(&found).await?;
            }
        }
    }

    fn report(&self, book: &Book, fired_until: Option<time::OffsetDateTime>) {
        self.progress.send_modify(|p| {
            p.checkpoint = book.sequence;
            p.pending = book.pending();
            if let Some(until) = fired_until {
                p.fired_until = until.unix_timestamp();
            }
        });
    }
}

/// One finding as the log holds it, or as a replay finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub pathway: PathwayId,
    pub finding: Finding,
}

/// What a replay of the whole log came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// Events read.
    pub events: u64,
    /// The latest event time read: the deadlines at or before it have fired, later ones not
    /// (the replay goes by the log's own time, never the machine's clock).
    pub until: Option<time::OffsetDateTime>,
    /// The findings the log holds, in log order.
    pub in_log: Vec<Recorded>,
    /// The findings the replay found, in the order it found them.
    pub replayed: Vec<Recorded>,
}

impl Replay {
    /// Whether the replay found exactly the findings in the log, in the same order.
    pub fn agrees(&self) -> bool {
        self.in_log == self.replayed
    }

    /// The findings only the log has, and those only the replay found.
    pub fn differences(&self) -> (Vec<&Recorded>, Vec<&Recorded>) {
        let only_log = self
            .in_log
            .iter()
            .filter(|r| !self.replayed.contains(r))
            .collect();
        let only_replay = self
            .replayed
            .iter()
            .filter(|r| !self.in_log.contains(r))
            .collect();
        (only_log, only_replay)
    }
}

/// Replays the whole log as it stands through a fresh book, on the log's own time, and sets what
/// it finds beside the findings the log holds. Touches nothing. `progress` is told the sequence
/// reached, every batch.
pub async fn replay(
    log: &EventLog,
    rules: &Rules,
    progress: impl Fn(u64, u64),
) -> Result<Replay, ReconcilerError> {
    let mut replays = replay_each(log, std::slice::from_ref(rules), progress).await?;
    Ok(replays.pop().expect("one replay for one set of rules"))
}

/// Replays the whole log as it stands, read once, through a fresh book for each set of rules
/// (`raccordo replay what-if`: the protocols in use and others), so that every replay measures
/// exactly the same events, even while the log grows. One [`Replay`] per set of rules, in their
/// order. Touches nothing. `progress` is told the sequence reached, every batch.
pub async fn replay_each(
    log: &EventLog,
    rules: &[Rules],
    progress: impl Fn(u64, u64),
) -> Result<Vec<Replay>, ReconcilerError> {
    let last = log.last_sequence().await?;
    let mut books = vec![Book::default(); rules.len()];
    let mut results = vec![
        Replay {
            events: 0,
            until: None,
            in_log: Vec::new(),
            replayed: Vec::new(),
        };
        rules.len()
    ];
    let mut events = Box::pin(log.read_range(1, last).await?);
    while let Some(stored) = events.next().await {
        let stored = stored?;
        let sequence = stored.sequence();
        if let Stored::Event(recorded) = stored {
            for ((book, rules), result) in books.iter_mut().zip(rules).zip(&mut results) {
                take_in(book, rules, &recorded, result);
            }
        }
        if sequence % 1000 == 0 || sequence >= last {
            progress(sequence, last);
        }
    }
    for (book, result) in books.iter().zip(&mut results) {
        result.until = book.clock;
    }
    Ok(results)
}

fn take_in(book: &mut Book, rules: &Rules, recorded: &RecordedEvent, result: &mut Replay) {
    result.events += 1;
    if let EventData::Finding(_, finding) = &recorded.event.data
        && finding.finding != FindingKind::Divergence
    {
        result.in_log.push(Recorded {
            pathway: recorded.event.pathway.clone(),
            finding: finding.as_ref().clone(),
        });
    }
    result.replayed.extend(
        book.observe(rules.book(), recorded)
            .into_iter()
            .map(|f| Recorded {
                pathway: f.pathway,
                finding: f.finding,
            }),
    );
}

/// Where a party's digest of a pathway parts from what the log says it should hold: the first
/// position, in log order up to the last event the party holds, whose event or digest differs.
/// Events after the last one it holds may be on their way and are not judged.
pub fn divergence(
    rules: &Rules,
    history: &[RecordedEvent],
    digest: &PathwayDigest,
) -> Option<Found> {
    let pathway = Pathway::fold(history).ok().flatten()?;
    let held_until = digest.entries.iter().map(|e| e.sequence).max().unwrap_or(0);
    let expected: Vec<(raccordo_domain::ids::EventId, u64, String)> =
        raccordo_domain::routing::holdings(history, &rules.registry)
            .remove(&digest.party)
            .unwrap_or_default()
            .into_iter()
            .filter(|h| h.sequence <= held_until)
            .map(|h| {
                let d = raccordo_projections::entry_digest(&h.event_id, h.view, &h.body);
                (h.event_id, h.sequence, d)
            })
            .collect();
    let held: Vec<(raccordo_domain::ids::EventId, u64, String)> = digest
        .entries
        .iter()
        .map(|e| (e.event_id.clone(), e.sequence, e.digest.clone()))
        .collect();
    let at = (0..expected.len().max(held.len())).find(|i| expected.get(*i) != held.get(*i))?;
    let event_id = expected
        .get(at)
        .or(held.get(at))
        .map(|(id, _, _)| id.clone())
        .filter(|id| pathway.applied.contains_key(id));
    let ambito = pathway.state.ambito();
    let on = pathway.opened_at.date();
    let ats = rules.registry.ats_of_ambito(ambito, on)?;
    let mut f = Finding::new(FindingKind::Divergence);
    f.party = Some(digest.party.clone());
    f.event_id = event_id;
    Some(Found {
        pathway: pathway.id.clone(),
        recorder: finding::recorder(ats),
        finding: f,
    })
}
