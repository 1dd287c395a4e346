//! The projector: one party's inbox (`raccordo.inbox.<party>.>` in `RACCORDO_INBOX`), applied in
//! inbox order to that party's projection.
//!
//! It resumes from the store's checkpoint, never from what the stream believes was delivered, so
//! a projector killed at any instant simply reads again what its last lost batch held
//! (ARCHITECTURE.md §3, invariant 3). Messages are read on a task of their own and applied in
//! batches of whatever has arrived (at most [`BATCH`]) on a blocking thread, so reading from NATS
//! and writing to the store overlap and a rebuild is not paid per message.
//!
//! A message that cannot be applied (it does not parse as a [`Delivery`], or the store refuses
//! its entry) is parked in the dead-letter stream with its reason, and the store's checkpoint is
//! moved past it and the position recorded in one step ([`ProjectionStore::park`]): a restarted
//! projector does not park it again, and a clean rebuild, which parks it too, reaches the same
//! digest as a resumed one (invariant 7).
//!
//! A projector can also be bounded ([`Projector::until`]) to rebuild the projection as the live
//! projector held it when the router had routed the log up to a sequence: `raccordo replay`.

mod store;

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::mem;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use raccordo_domain::ids::{OrgId, PathwayId};
use raccordo_eventlog::inbox::{Delivery, INBOX_STREAM, ROUTED_BY, Received};
use raccordo_eventlog::{Digests, EntryDigest, EventLog, Inbox, LogError, Parked, PathwayDigest};
use raccordo_projections::{Applied, InboxEntry, ListFilter, ProjectionStore, StoreError};
use tokio::sync::{mpsc, watch};

pub use store::{open_store, set_aside_for_rebuild, store_dir};

/// At most this many inbox messages are applied in one transaction.
pub const BATCH: usize = 500;

/// Where a projector stands. `applied` and `parked` count what this projector did since it was
/// made; `checkpoint` is the store's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// The inbox sequence of the last message applied or parked: the store's checkpoint.
    pub checkpoint: u64,
    /// The inbox sequence of the party's last message known: when the projector started, then
    /// each new one it reads.
    pub inbox_last: u64,
    /// Entries that changed the projection (an event delivered twice changes it once).
    pub applied: u64,
    /// Messages parked in the dead-letter stream.
    pub parked: u64,
    /// The checkpoint has reached the party's last inbox message as it was when the projector
    /// started; from then on it follows new messages as they come.
    pub caught_up: bool,
    /// A bounded projector ([`Projector::until`]) stopped here: the inbox sequence of the party's
    /// first message routed by a later event than its bound, left unapplied.
    pub stopped_at: Option<u64>,
}

/// Why a projector stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error("projector of {party}: {doing}: {error}")]
    Log {
        party: OrgId,
        doing: &'static str,
        error: LogError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "projector of {party}: the projection is at inbox sequence {checkpoint}, but the inbox \
         stream ends at {inbox_end}: it was built from another NATS server or stream; rebuild it \
         (raccordo project --party {party} --rebuild)"
    )]
    Ahead {
        party: OrgId,
        checkpoint: u64,
        inbox_end: u64,
    },
    #[error(
        "projector of {party}: the inbox stream ended while following it, at checkpoint {checkpoint}"
    )]
    Ended { party: OrgId, checkpoint: u64 },
    #[error(
        "projector of {party}: the projection is at inbox sequence {checkpoint}, routed by log \
         sequence {routed_by}: already past log sequence {until}; rebuild it into a fresh store"
    )]
    Past {
        party: OrgId,
        checkpoint: u64,
        routed_by: u64,
        until: u64,
    },
    #[error("projector of {party}: the store's worker thread failed: {reason}")]
    Worker { party: OrgId, reason: String },
}

/// One party's projector: its inbox, read from the event log, applied to its store.
pub struct Projector {
    log: EventLog,
    party: OrgId,
    store: Arc<dyn ProjectionStore>,
    /// The name it parks messages under: `projector:<party>`.
    consumer: String,
    progress: watch::Sender<Progress>,
    /// Pathways applied to since their digests were last published.
    touched: Mutex<BTreeSet<PathwayId>>,
    /// Whether the digests of every pathway held have been published since start.
    swept: AtomicBool,
    /// Whether it publishes digests at all (see [`Projector::publishing_digests`]).
    digests: bool,
    /// The digest stream, set up on the first publication.
    digest_stream: tokio::sync::OnceCell<Digests>,
    /// The last log sequence whose routing it applies (see [`Projector::until`]).
    until: Option<u64>,
}

impl fmt::Debug for Projector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Projector")
            .field("party", &self.party)
            .field("progress", &*self.progress.borrow())
            .finish_non_exhaustive()
    }
}

/// What `store` holds of `pathway`, entry by entry, as its projector publishes it, taken at inbox
/// position `checkpoint`.
pub fn pathway_digest(
    store: &dyn ProjectionStore,
    pathway: PathwayId,
    checkpoint: u64,
) -> Result<PathwayDigest, StoreError> {
    let entries = store
        .history(&pathway)?
        .iter()
        .map(|h| EntryDigest {
            event_id: h.event_id.clone(),
            sequence: h.source_sequence,
            digest: h.digest(),
        })
        .collect();
    Ok(PathwayDigest {
        party: store.party().clone(),
        pathway,
        checkpoint,
        entries,
    })
}

/// How often a following projector publishes the digests of every pathway it holds.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// One message as the reading task hands it over.
// Nearly every item is an entry: boxing it would only add an allocation per message.
#[allow(clippy::large_enum_variant)]
enum Item {
    /// Read and checked; kept whole too, in case the store refuses its entry and it is parked.
    Entry(Received, InboxEntry),
    Malformed(Received, String),
    /// The first message routed by a later event than a bounded projector's bound: not applied.
    Beyond(u64),
    Failed(LogError),
}

/// The reading task, stopped when the projector stops, however it stops.
struct Reader(tokio::task::JoinHandle<()>);

impl Drop for Reader {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Projector {
    /// A projector of `store.party()`'s inbox on `log`.
    pub fn new(log: EventLog, store: Arc<dyn ProjectionStore>) -> Self {
        let party = store.party().clone();
        // Only a first figure for whoever watches: `catch_up` and `run` read the checkpoint
        // again, and fail if it cannot be read.
        let checkpoint = store.checkpoint().unwrap_or_default();
        let (progress, _) = watch::channel(Progress {
            checkpoint,
            ..Progress::default()
        });
        Self {
            log,
            consumer: format!("projector:{party}"),
            party,
            store,
            progress,
            touched: Mutex::new(BTreeSet::new()),
            swept: AtomicBool::new(false),
            digests: false,
            digest_stream: tokio::sync::OnceCell::new(),
            until: None,
        }
    }

    /// Applies only the messages routed by log sequence `routed_by` or earlier: the projection as
    /// the live projector held it once the router had routed the log up to there. The router
    /// routes the log in order, so the inbox holds its messages in `raccordo-routed-by` order and
    /// the projector stops, [`Progress::stopped_at`], at the first one routed later (or, when
    /// there is none yet, at the party's last message, or, following, waits for one). A message
    /// whose `raccordo-routed-by` cannot be read goes with the messages before it.
    ///
    /// A bounded projector looks at history and changes nothing in NATS: it publishes no digests
    /// (the reconciler would take them for the live projection's) and a message it cannot apply
    /// is parked in its store only, not in the dead-letter stream, where the live projector parked
    /// it when it met it. A store already past the bound is refused ([`ProjectorError::Past`]).
    pub fn until(mut self, routed_by: u64) -> Self {
        self.until = Some(routed_by);
        self
    }

    /// Publishes digests of what the store holds for the reconciler's divergence check
    /// (`raccordo_eventlog::digests`): for the pathways of each batch applied once caught up, and
    /// for every pathway once caught up after start and every 10 minutes while following. The
    /// projectors of `raccordo up` do; a one-off rebuild has no reconciler to tell.
    pub fn publishing_digests(mut self) -> Self {
        self.digests = true;
        self
    }

    pub fn store(&self) -> &Arc<dyn ProjectionStore> {
        &self.store
    }

    /// Where the projector stands, updated after every batch.
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    /// Applies the party's inbox up to the inbox stream's last sequence as it was at the call, then returns.
    pub async fn catch_up(&self) -> Result<Progress, ProjectorError> {
        self.project(false, std::future::pending()).await
    }

    /// Catches up, then follows new messages until `shutdown` completes.
    pub async fn run(
        &self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ProjectorError> {
        self.project(true, shutdown).await.map(drop)
    }

    /// Applies the inbox from the checkpoint on: up to the party's last message as it is now, and
    /// on while `follow`, until `shutdown`.
    async fn project(
        &self,
        follow: bool,
        shutdown: impl Future<Output = ()>,
    ) -> Result<Progress, ProjectorError> {
        let inbox = self
            .log
            .inbox()
            .await
            .map_err(|e| self.log_error("setting up the inbox stream", e))?;
        let target = inbox
            .last_sequence_of(&self.party)
            .await
            .map_err(|e| self.log_error("finding its last inbox message", e))?;
        let inbox_end = inbox
            .last_sequence()
            .await
            .map_err(|e| self.log_error("reading the inbox stream's state", e))?;
        let checkpoint = self.store.checkpoint()?;
        if checkpoint > inbox_end {
            return Err(ProjectorError::Ahead {
                party: self.party.clone(),
                checkpoint,
                inbox_end,
            });
        }
        if let Some(until) = self.until {
            self.check_not_past(&inbox, checkpoint, until).await?;
        }
        self.progress.send_modify(|p| {
            p.checkpoint = checkpoint;
            p.inbox_last = p.inbox_last.max(target);
            p.caught_up = checkpoint >= target;
        });
        tracing::info!(
            party = %self.party, from = checkpoint + 1, to = target,
            "projecting the party's inbox"
        );
        if checkpoint >= target {
            self.caught_up().await?;
            if !follow {
                return Ok(*self.progress.borrow());
            }
        }

        let messages = inbox
            .follow(&self.party, checkpoint + 1)
            .await
            .map_err(|e| self.log_error("reading the inbox", e))?;
        let (tx, mut rx) = mpsc::channel(4 * BATCH);
        let _reader = Reader(tokio::spawn(read(messages, tx, self.until)));
        tokio::pin!(shutdown);
        let mut items = Vec::with_capacity(BATCH);
        let mut sweep =
            tokio::time::interval_at(tokio::time::Instant::now() + SWEEP_EVERY, SWEEP_EVERY);
        loop {
            let progress = *self.progress.borrow();
            if progress.stopped_at.is_some() || !follow && progress.checkpoint >= target {
                break;
            }
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                // Every pathway again now and then: a store that went wrong while nothing came
                // in is found without waiting for a restart.
                _ = sweep.tick(), if follow => {
                    if progress.caught_up {
                        self.swept.store(false, Ordering::SeqCst);
                        self.publish_digests().await?;
                    }
                    continue;
                }
                read = rx.recv_many(&mut items, BATCH) => if read == 0 {
                    return Err(ProjectorError::Ended {
                        party: self.party.clone(),
                        checkpoint: progress.checkpoint,
                    });
                },
            }
            self.process(mem::take(&mut items)).await?;
            let progress = *self.progress.borrow();
            if let Some(stopped_at) = progress.stopped_at {
                tracing::info!(
                    party = %self.party, checkpoint = progress.checkpoint, stopped_at,
                    until = self.until, applied = progress.applied, parked = progress.parked,
                    "the projection has reached its bound"
                );
            } else if !progress.caught_up && progress.checkpoint >= target {
                self.caught_up().await?;
            } else if progress.caught_up {
                self.publish_digests().await?;
            }
        }
        self.flush().await?;
        Ok(*self.progress.borrow())
    }

    /// Refuses a store whose last message was routed after `until`: a bound cannot undo it.
    async fn check_not_past(
        &self,
        inbox: &Inbox,
        checkpoint: u64,
        until: u64,
    ) -> Result<(), ProjectorError> {
        let Some((received, _)) = inbox
            .get(checkpoint)
            .await
            .map_err(|e| self.log_error("reading the message at its checkpoint", e))?
        else {
            return Ok(());
        };
        match routed_by(&received) {
            Some(routed_by) if routed_by > until => Err(ProjectorError::Past {
                party: self.party.clone(),
                checkpoint,
                routed_by,
                until,
            }),
            _ => Ok(()),
        }
    }

    async fn caught_up(&self) -> Result<(), ProjectorError> {
        self.flush().await?;
        self.publish_digests().await?;
        self.progress.send_modify(|p| p.caught_up = true);
        let p = *self.progress.borrow();
        tracing::info!(
            party = %self.party, checkpoint = p.checkpoint, applied = p.applied, parked = p.parked,
            "the projection has caught up with the inbox"
        );
        Ok(())
    }

    /// Applies `items` in order: runs of good entries in one transaction each, a malformed
    /// message parked where it stands.
    async fn process(&self, items: Vec<Item>) -> Result<(), ProjectorError> {
        let mut run = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Item::Entry(received, entry) => run.push((received, entry)),
                Item::Malformed(received, reason) => {
                    self.apply(mem::take(&mut run)).await?;
                    self.park(received, reason).await?;
                }
                Item::Beyond(sequence) => {
                    self.apply(run).await?;
                    self.progress.send_modify(|p| {
                        p.stopped_at = Some(sequence);
                        p.inbox_last = p.inbox_last.max(sequence);
                    });
                    return Ok(());
                }
                Item::Failed(error) => {
                    // What was read before the failure is good: keep it.
                    self.apply(run).await?;
                    return Err(self.log_error("reading the inbox", error));
                }
            }
        }
        self.apply(run).await
    }

    async fn apply(&self, run: Vec<(Received, InboxEntry)>) -> Result<(), ProjectorError> {
        if run.is_empty() {
            return Ok(());
        }
        let (received, entries): (Vec<_>, Vec<_>) = run.into_iter().unzip();
        if self.digests {
            self.touched
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(entries.iter().map(|e| e.pathway.clone()));
        }
        let store = self.store.clone();
        let (entries, outcome) = self
            .blocking(move || {
                let outcome = store.apply(&entries);
                (entries, outcome)
            })
            .await?;
        match outcome {
            Ok(applied) => {
                self.advance(applied);
                Ok(())
            }
            // One entry spoils the whole transaction: find it, one entry at a time.
            Err(StoreError::Entry { .. } | StoreError::Conflict { .. }) => {
                for (received, entry) in received.into_iter().zip(entries) {
                    let store = self.store.clone();
                    match self.blocking(move || store.apply(&[entry])).await? {
                        Ok(applied) => self.advance(applied),
                        Err(refused @ (StoreError::Entry { .. } | StoreError::Conflict { .. })) => {
                            let reason = format!("the projection refused it: {refused}");
                            self.park(received, reason).await?;
                        }
                        Err(other) => return Err(other.into()),
                    }
                }
                Ok(())
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Parks a message in the dead-letter stream, then moves the checkpoint past it. In this order
    /// a crash in between parks it again on restart (JetStream drops the repeat within its
    /// duplicate window), where the other order could lose it.
    async fn park(&self, received: Received, reason: String) -> Result<(), ProjectorError> {
        let sequence = received.sequence;
        if sequence <= self.store.checkpoint()? {
            return Ok(());
        }
        let parked = Parked {
            stream: INBOX_STREAM.into(),
            sequence,
            subject: received.subject,
            headers: received.headers,
            payload: received.payload,
            reason,
        };
        if self.until.is_none() {
            self.log
                .dead_letter(&self.consumer, &parked)
                .await
                .map_err(|e| self.log_error("parking a message in the dead-letter stream", e))?;
        } else {
            tracing::warn!(
                party = %self.party, sequence, reason = %parked.reason,
                "parked a message in the replayed projection only (the live projector \
                 dead-lettered it)"
            );
        }
        let store = self.store.clone();
        // Flushed at once: parking is rare, and a park lost to a crash would be parked again.
        self.blocking(move || store.park(sequence).and_then(|_| store.flush()))
            .await??;
        self.progress.send_modify(|p| {
            p.checkpoint = sequence;
            p.inbox_last = p.inbox_last.max(sequence);
            p.parked += 1;
        });
        Ok(())
    }

    /// Publishes what the store holds of each pathway applied to since the last time (of every
    /// pathway it holds, the first time after start), for the reconciler to check against the log.
    async fn publish_digests(&self) -> Result<(), ProjectorError> {
        if !self.digests || self.until.is_some() {
            return Ok(());
        }
        let sweep = !self.swept.swap(true, Ordering::SeqCst);
        let touched = mem::take(&mut *self.touched.lock().unwrap_or_else(PoisonError::into_inner));
        let store = self.store.clone();
        let digests = self
            .blocking(move || -> Result<Vec<PathwayDigest>, StoreError> {
                let ids: Vec<PathwayId> = if sweep {
                    store
                        .list(&ListFilter::default())?
                        .into_iter()
                        .map(|s| s.id)
                        .collect()
                } else {
                    touched.into_iter().collect()
                };
                let checkpoint = store.checkpoint()?;
                ids.into_iter()
                    .map(|pathway| pathway_digest(store.as_ref(), pathway, checkpoint))
                    .collect()
            })
            .await??;
        let stream = self
            .digest_stream
            .get_or_try_init(|| self.log.digests())
            .await
            .map_err(|e| self.log_error("setting up the digest stream", e))?;
        stream
            .publish(&digests)
            .await
            .map_err(|e| self.log_error("publishing the projection's digests", e))
    }

    fn advance(&self, applied: Applied) {
        self.progress.send_modify(|p| {
            p.checkpoint = applied.checkpoint;
            p.inbox_last = p.inbox_last.max(applied.checkpoint);
            p.applied += applied.applied as u64;
        });
    }

    async fn flush(&self) -> Result<(), ProjectorError> {
        let store = self.store.clone();
        self.blocking(move || store.flush()).await??;
        Ok(())
    }

    /// Runs a store call on a blocking thread: sled does disk I/O and must not stall the runtime.
    async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ProjectorError> {
        tokio::task::spawn_blocking(call)
            .await
            .map_err(|e| ProjectorError::Worker {
                party: self.party.clone(),
                reason: e.to_string(),
            })
    }

    fn log_error(&self, doing: &'static str, error: LogError) -> ProjectorError {
        ProjectorError::Log {
            party: self.party.clone(),
            doing,
            error,
        }
    }
}

/// Reads the inbox and checks each message, ahead of the store, until the projector stops
/// listening, the inbox fails or a message is routed after `until`.
async fn read(
    messages: impl futures::Stream<Item = Result<Received, LogError>>,
    tx: mpsc::Sender<Item>,
    until: Option<u64>,
) {
    use futures::StreamExt;

    let beyond = |routed_by: Option<u64>| until.zip(routed_by).is_some_and(|(u, r)| r > u);
    futures::pin_mut!(messages);
    while let Some(message) = messages.next().await {
        let (item, last) = match message {
            Ok(received) => match received.delivery() {
                Ok(delivery) if beyond(Some(delivery.routed_by)) => {
                    (Item::Beyond(received.sequence), true)
                }
                Ok(delivery) => (Item::Entry(received, entry(delivery)), false),
                Err(_) if beyond(routed_by(&received)) => (Item::Beyond(received.sequence), true),
                Err(reason) => (Item::Malformed(received, reason), false),
            },
            Err(error) => (Item::Failed(error), true),
        };
        if tx.send(item).await.is_err() || last {
            return;
        }
    }
}

/// The `raccordo-routed-by` of a message, if it can be read (even when the rest cannot).
fn routed_by(received: &Received) -> Option<u64> {
    received.headers.get(ROUTED_BY)?.as_str().parse().ok()
}

/// The store's entry for a delivery: what the projection keeps of it.
pub fn entry(delivery: Delivery) -> InboxEntry {
    InboxEntry {
        inbox_sequence: delivery.sequence,
        source_sequence: delivery.source_sequence,
        event_id: delivery.event_id,
        event_type: delivery.event_type,
        pathway: delivery.pathway,
        time: delivery.time,
        source: delivery.source,
        operator: delivery.operator,
        command_id: delivery.command_id,
        view: delivery.view,
        status: delivery.status,
        ambito: delivery.ambito,
        waiting_on: delivery.waiting_on,
        body: delivery.body,
    }
}
