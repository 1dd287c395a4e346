//! The projection store on sled: one database directory per party, one tree per kind of record
//! (see `keys` for the layout), and every batch written with its checkpoint in one transaction
//! across the trees.
//!
//! sled commits a multi-tree transaction as one sealed batch of its log, and recovery drops a
//! batch whose seal is missing: after a crash the database holds a prefix of the committed
//! batches, each whole. A batch may be lost if the process dies before sled's next flush (it
//! flushes in the background every half second, and on `flush`), but its checkpoint is lost with
//! it, so the projector reads those entries again from its inbox: it resumes from `checkpoint()`,
//! never from what the inbox stream believes was delivered.

mod keys;
mod open;

use std::collections::HashMap;
use std::fmt;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};

use raccordo_domain::ids::{EventId, OrgId, PathwayId};
use sha2::{Digest, Sha256};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use crate::codec;
use crate::model::{Applied, HistoryEntry, InboxEntry, ListFilter, PathwaySummary, WorkItem};
use crate::store::{ProjectionStore, StoreError, StorePlace};
use crate::summary::{Prepared, work_item};

pub use open::Opened;

/// The layout this build writes and reads. A store of another format is moved aside and rebuilt
/// from the log, like an unreadable one: a projection is disposable, a migration is not worth it.
pub const FORMAT_VERSION: u32 = 2;

/// The trees, in the order the digest takes them.
const TREES: [&str; 7] = [
    "meta", "pathways", "history", "seen", "worklist", "recent", "parked",
];

/// One party's projection in a sled database.
pub struct SledStore {
    party: OrgId,
    dir: PathBuf,
    db: sled::Db,
    trees: Trees,
    /// Applies take it exclusively and multi-key reads shared: sled's iterators are not
    /// snapshots, so without it a list or a digest could see half of a batch. Applies are one at a
    /// time anyway (one projector per party), so it costs nothing on the write side.
    gate: RwLock<()>,
}

struct Trees {
    meta: sled::Tree,
    pathways: sled::Tree,
    history: sled::Tree,
    seen: sled::Tree,
    worklist: sled::Tree,
    recent: sled::Tree,
    parked: sled::Tree,
}

impl Trees {
    fn open(db: &sled::Db) -> sled::Result<Self> {
        let [meta, pathways, history, seen, worklist, recent, parked] = TREES;
        Ok(Self {
            meta: db.open_tree(meta)?,
            pathways: db.open_tree(pathways)?,
            history: db.open_tree(history)?,
            seen: db.open_tree(seen)?,
            worklist: db.open_tree(worklist)?,
            recent: db.open_tree(recent)?,
            parked: db.open_tree(parked)?,
        })
    }

    /// Every tree with its name, in `TREES` order.
    fn all(&self) -> [(&'static str, &sled::Tree); 7] {
        let [meta, pathways, history, seen, worklist, recent, parked] = TREES;
        [
            (meta, &self.meta),
            (pathways, &self.pathways),
            (history, &self.history),
            (seen, &self.seen),
            (worklist, &self.worklist),
            (recent, &self.recent),
            (parked, &self.parked),
        ]
    }
}

/// Why a transaction gave up, to be told as a `StoreError` once it has.
enum Abort {
    Conflict {
        inbox_sequence: u64,
        pathway: PathwayId,
        source_sequence: u64,
        event_id: EventId,
        held: EventId,
    },
    Corrupt {
        what: String,
        reason: String,
    },
    CheckpointMoved {
        expected: u64,
        found: u64,
    },
}

type TxResult<T> = Result<T, ConflictableTransactionError<Abort>>;

impl SledStore {
    fn new(party: &OrgId, dir: &Path, db: sled::Db, trees: Trees) -> Self {
        Self {
            party: party.clone(),
            dir: dir.to_owned(),
            db,
            trees,
            gate: RwLock::new(()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn place(&self) -> Box<StorePlace> {
        StorePlace::boxed(&self.party, &self.dir)
    }

    fn storage(&self, action: impl Into<String>, e: impl fmt::Display) -> StoreError {
        StoreError::Storage {
            at: self.place(),
            action: action.into(),
            reason: e.to_string(),
        }
    }

    fn corrupt(&self, what: impl Into<String>, reason: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            at: self.place(),
            what: what.into(),
            reason: reason.into(),
        }
    }

    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        what: impl FnOnce() -> String,
        bytes: &[u8],
    ) -> Result<T, StoreError> {
        codec::from_bytes(bytes).map_err(|reason| self.corrupt(what(), reason))
    }

    fn summary(&self, id: &PathwayId) -> Result<Option<PathwaySummary>, StoreError> {
        let bytes = self
            .trees
            .pathways
            .get(keys::pathway(id))
            .map_err(|e| self.storage(format!("reading pathway {id}"), e))?;
        bytes
            .map(|b| self.decode(|| format!("the summary of pathway {id}"), &b))
            .transpose()
    }

    /// The entries of `batch` past `checkpoint`, checked and encoded, and the checkpoint after
    /// them. An entry at or below the highest sequence before it is a replay, also inside the
    /// batch, so the checkpoint never moves back.
    fn prepare<'a>(
        &self,
        batch: &'a [InboxEntry],
        checkpoint: u64,
    ) -> Result<(Vec<Prepared<'a>>, u64), StoreError> {
        let mut reached = checkpoint;
        let mut fresh = Vec::new();
        for entry in batch {
            if entry.inbox_sequence <= reached {
                continue;
            }
            reached = entry.inbox_sequence;
            let prepared = Prepared::new(entry).map_err(|reason| StoreError::Entry {
                at: self.place(),
                inbox_sequence: entry.inbox_sequence,
                pathway: entry.pathway.clone(),
                event_id: entry.event_id.clone(),
                reason,
            })?;
            fresh.push(prepared);
        }
        Ok((fresh, reached))
    }

    fn abort_error(&self, abort: Abort) -> StoreError {
        match abort {
            Abort::Conflict {
                inbox_sequence,
                pathway,
                source_sequence,
                event_id,
                held,
            } => StoreError::Conflict {
                at: self.place(),
                inbox_sequence,
                pathway,
                source_sequence,
                event_id,
                held,
            },
            Abort::Corrupt { what, reason } => self.corrupt(what, reason),
            Abort::CheckpointMoved { expected, found } => self.storage(
                "applying a batch",
                format!(
                    "the checkpoint moved from {expected} to {found} underneath \
                     (is another process writing this store?)"
                ),
            ),
        }
    }
}

impl fmt::Debug for SledStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SledStore")
            .field("party", &self.party)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        // sled would lose what it has not flushed yet; the projector would apply it again, but a
        // store closed in order should reopen exactly as it was.
        if let Err(e) = self.db.flush() {
            tracing::warn!(party = %self.party, dir = %self.dir.display(), error = %e,
                "flushing the projection on close failed; the projector will re-apply the tail");
        }
    }
}

fn corrupt_in_tx<T>(what: impl FnOnce() -> String, reason: String) -> TxResult<T> {
    sled::transaction::abort(Abort::Corrupt {
        what: what(),
        reason,
    })
}

fn decode_in_tx<T: serde::de::DeserializeOwned>(
    what: impl FnOnce() -> String,
    bytes: &[u8],
) -> TxResult<T> {
    match codec::from_bytes(bytes) {
        Ok(value) => Ok(value),
        Err(reason) => corrupt_in_tx(what, reason),
    }
}

/// The checkpoint as a transaction sees it, which must still be `expected`, the one its batch
/// was prepared against.
fn checkpoint_in_tx(meta: &TransactionalTree, expected: u64) -> TxResult<()> {
    let found = match meta.get(keys::CHECKPOINT)? {
        Some(bytes) => keys::u64_value(&bytes)
            .or_else(|reason| corrupt_in_tx(|| "the checkpoint".to_owned(), reason))?,
        None => 0,
    };
    if found != expected {
        return sled::transaction::abort(Abort::CheckpointMoved { expected, found });
    }
    Ok(())
}

/// The trees as one transaction sees them.
struct Tx<'t> {
    meta: &'t TransactionalTree,
    pathways: &'t TransactionalTree,
    history: &'t TransactionalTree,
    seen: &'t TransactionalTree,
    worklist: &'t TransactionalTree,
    recent: &'t TransactionalTree,
}

/// A pathway the batch has touched: its summary as the batch has left it so far, and the index
/// keys it held before the batch. Summaries and index keys are written once per pathway when the
/// batch ends, whatever number of its entries the batch holds: an index write is most of the
/// cost of an entry, and a key written and removed again within the batch is no write at all.
struct Touched {
    summary: PathwaySummary,
    old_recent: Option<Vec<u8>>,
    old_work: Option<Vec<u8>>,
}

impl Tx<'_> {
    /// Applies one fresh entry; `false` if its event was already held (a duplicate).
    fn apply(
        &self,
        party: &OrgId,
        entry: &Prepared<'_>,
        touched: &mut HashMap<PathwayId, Touched>,
    ) -> TxResult<bool> {
        let InboxEntry {
            inbox_sequence,
            source_sequence,
            ref event_id,
            ref pathway,
            ..
        } = *entry.entry;
        // A party may receive an event twice (live, and again as backfill when it joins): it is
        // known by its id, whatever else the second delivery says. The same log position holding
        // another event means the inbox and the log disagree, which no skip can mend.
        let seen = keys::seen(pathway, event_id);
        if self.seen.get(&seen)?.is_some() {
            return Ok(false);
        }
        let history = keys::history(pathway, source_sequence);
        if let Some(held) = self.history.get(&history)? {
            let held: HistoryEntry = decode_in_tx(
                || format!("event {source_sequence} of pathway {pathway}"),
                &held,
            )?;
            return sled::transaction::abort(Abort::Conflict {
                inbox_sequence,
                pathway: pathway.clone(),
                source_sequence,
                event_id: event_id.clone(),
                held: held.event_id,
            });
        }
        self.history
            .insert(history, entry.history_bytes.as_slice())?;
        self.seen.insert(seen, &source_sequence.to_be_bytes())?;

        // The summary as this batch left it, or as the store holds it, with the index keys it
        // held before the batch.
        let (before, old_recent, old_work) = match touched.remove(pathway) {
            Some(t) => (Some(t.summary), t.old_recent, t.old_work),
            None => {
                let before: Option<PathwaySummary> =
                    match self.pathways.get(keys::pathway(pathway))? {
                        Some(bytes) => Some(decode_in_tx(
                            || format!("the summary of pathway {pathway}"),
                            &bytes,
                        )?),
                        None => None,
                    };
                let old_recent = before.as_ref().map(|b| keys::recent(b.updated_at, pathway));
                let old_work = before
                    .as_ref()
                    .filter(|b| b.waiting_on.contains(party))
                    .map(|b| keys::worklist(b.waiting_since, pathway));
                (before, old_recent, old_work)
            }
        };
        touched.insert(
            pathway.clone(),
            Touched {
                summary: entry.next_summary(before),
                old_recent,
                old_work,
            },
        );
        Ok(true)
    }

    /// Writes the summaries of the pathways the batch touched, and moves their index keys where
    /// their time has moved (only there: a key that stays put costs nothing).
    fn finish(&self, party: &OrgId, touched: &HashMap<PathwayId, Touched>) -> TxResult<()> {
        for (pathway, t) in touched {
            let encoded = match codec::to_bytes(&t.summary) {
                Ok(bytes) => bytes,
                Err(reason) => {
                    return corrupt_in_tx(|| format!("the summary of {pathway}"), reason);
                }
            };
            self.pathways.insert(keys::pathway(pathway), encoded)?;

            let new_recent = keys::recent(t.summary.updated_at, pathway);
            if t.old_recent.as_ref() != Some(&new_recent) {
                if let Some(old) = &t.old_recent {
                    self.recent.remove(old.as_slice())?;
                }
                self.recent.insert(new_recent, &[])?;
            }

            let item = work_item(&t.summary, party);
            let new_work = item
                .as_ref()
                .map(|item| keys::worklist(item.since, pathway));
            if let Some(old) = &t.old_work
                && new_work.as_ref() != Some(old)
            {
                self.worklist.remove(old.as_slice())?;
            }
            if let (Some(key), Some(item)) = (new_work, item) {
                let encoded = match codec::to_bytes(&item) {
                    Ok(bytes) => bytes,
                    Err(reason) => {
                        return corrupt_in_tx(|| format!("the worklist item of {pathway}"), reason);
                    }
                };
                self.worklist.insert(key, encoded)?;
            }
        }
        Ok(())
    }
}

impl ProjectionStore for SledStore {
    fn party(&self) -> &OrgId {
        &self.party
    }

    fn checkpoint(&self) -> Result<u64, StoreError> {
        let bytes = self
            .trees
            .meta
            .get(keys::CHECKPOINT)
            .map_err(|e| self.storage("reading the checkpoint", e))?
            .ok_or_else(|| self.corrupt("the checkpoint", "it is missing"))?;
        keys::u64_value(&bytes).map_err(|reason| self.corrupt("the checkpoint", reason))
    }

    fn apply(&self, batch: &[InboxEntry]) -> Result<Applied, StoreError> {
        let _gate = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        let before = self.checkpoint()?;
        let (fresh, reached) = self.prepare(batch, before)?;
        let replayed = batch.len() - fresh.len();
        if fresh.is_empty() {
            return Ok(Applied {
                replayed,
                checkpoint: before,
                ..Applied::default()
            });
        }
        let t = &self.trees;
        let outcome = (
            &t.meta,
            &t.pathways,
            &t.history,
            &t.seen,
            &t.worklist,
            &t.recent,
        )
            .transaction(|(meta, pathways, history, seen, worklist, recent)| {
                let tx = Tx {
                    meta,
                    pathways,
                    history,
                    seen,
                    worklist,
                    recent,
                };
                checkpoint_in_tx(tx.meta, before)?;
                let mut applied = 0;
                let mut touched = HashMap::new();
                for entry in &fresh {
                    if tx.apply(&self.party, entry, &mut touched)? {
                        applied += 1;
                    }
                }
                tx.finish(&self.party, &touched)?;
                tx.meta.insert(keys::CHECKPOINT, &reached.to_be_bytes())?;
                Ok(applied)
            });
        let applied = outcome.map_err(|e| match e {
            TransactionError::Abort(abort) => self.abort_error(abort),
            TransactionError::Storage(e) => self.storage(
                format!(
                    "applying inbox entries {} to {reached}",
                    fresh[0].entry.inbox_sequence
                ),
                e,
            ),
        })?;
        Ok(Applied {
            applied,
            replayed,
            duplicates: fresh.len() - applied,
            checkpoint: reached,
        })
    }

    fn park(&self, inbox_sequence: u64) -> Result<bool, StoreError> {
        let _gate = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        let before = self.checkpoint()?;
        if inbox_sequence <= before {
            return Ok(false);
        }
        let t = &self.trees;
        (&t.meta, &t.parked)
            .transaction(|(meta, parked)| {
                checkpoint_in_tx(meta, before)?;
                parked.insert(&inbox_sequence.to_be_bytes(), &[])?;
                meta.insert(keys::CHECKPOINT, &inbox_sequence.to_be_bytes())?;
                Ok(())
            })
            .map_err(|e| match e {
                TransactionError::Abort(abort) => self.abort_error(abort),
                TransactionError::Storage(e) => {
                    self.storage(format!("parking inbox entry {inbox_sequence}"), e)
                }
            })?;
        Ok(true)
    }

    fn parked(&self) -> Result<Vec<u64>, StoreError> {
        self.trees
            .parked
            .iter()
            .keys()
            .map(|key| {
                let key = key.map_err(|e| self.storage("reading the parked entries", e))?;
                keys::u64_value(&key).map_err(|reason| self.corrupt("a parked entry", reason))
            })
            .collect()
    }

    fn pathway(&self, id: &PathwayId) -> Result<Option<PathwaySummary>, StoreError> {
        self.summary(id)
    }

    fn pathway_count(&self) -> Result<u64, StoreError> {
        let _gate = self.gate.read().unwrap_or_else(PoisonError::into_inner);
        let mut count = 0;
        for key in self.trees.pathways.iter().keys() {
            key.map_err(|e| self.storage("counting pathways", e))?;
            count += 1;
        }
        Ok(count)
    }

    fn history(&self, id: &PathwayId) -> Result<Vec<HistoryEntry>, StoreError> {
        let _gate = self.gate.read().unwrap_or_else(PoisonError::into_inner);
        self.trees
            .history
            .scan_prefix(keys::history_prefix(id))
            .values()
            .map(|value| {
                let value =
                    value.map_err(|e| self.storage(format!("reading history of {id}"), e))?;
                self.decode(|| format!("an event in the history of {id}"), &value)
            })
            .collect()
    }

    fn list(&self, filter: &ListFilter) -> Result<Vec<PathwaySummary>, StoreError> {
        let _gate = self.gate.read().unwrap_or_else(PoisonError::into_inner);
        let limit = filter.limit.unwrap_or(usize::MAX);
        let mut page = Vec::new();
        if limit == 0 {
            return Ok(page);
        }
        let start = match &filter.after {
            Some(cursor) => Bound::Excluded(keys::recent(cursor.updated_at, &cursor.id)),
            None => Bound::Unbounded,
        };
        for key in self.trees.recent.range((start, Bound::Unbounded)).keys() {
            let key = key.map_err(|e| self.storage("listing pathways", e))?;
            let id = keys::pathway_of_recent(&key)
                .map_err(|reason| self.corrupt("a key of the recent index", reason))?;
            // The kind is in the id: no need to read a summary the filter would drop.
            if filter.kind.is_some_and(|kind| kind != id.kind()) {
                continue;
            }
            let summary = self
                .summary(&id)?
                .ok_or_else(|| self.corrupt(format!("the summary of {id}"), "it is missing"))?;
            if filter.matches(&summary, &self.party) {
                page.push(summary);
                if page.len() == limit {
                    break;
                }
            }
        }
        Ok(page)
    }

    fn worklist(&self) -> Result<Vec<WorkItem>, StoreError> {
        let _gate = self.gate.read().unwrap_or_else(PoisonError::into_inner);
        self.trees
            .worklist
            .iter()
            .values()
            .map(|value| {
                let value = value.map_err(|e| self.storage("reading the worklist", e))?;
                self.decode(|| "a worklist item".to_owned(), &value)
            })
            .collect()
    }

    /// SHA-256 over the trees in `TREES` order; for each, its name's length (u64 BE) and name,
    /// then each record in key order as 0x01, key length (u64 BE), key, value length (u64 BE),
    /// value, and 0x00 to close the tree. The lengths and markers make the input unambiguous:
    /// no two different contents hash the same bytes.
    fn digest(&self) -> Result<String, StoreError> {
        let _gate = self.gate.read().unwrap_or_else(PoisonError::into_inner);
        let mut hash = Sha256::new();
        for (name, tree) in self.trees.all() {
            hash.update((name.len() as u64).to_be_bytes());
            hash.update(name.as_bytes());
            for record in tree.iter() {
                let (key, value) =
                    record.map_err(|e| self.storage(format!("reading tree {name}"), e))?;
                hash.update([1]);
                hash.update((key.len() as u64).to_be_bytes());
                hash.update(&key);
                hash.update((value.len() as u64).to_be_bytes());
                hash.update(&value);
            }
            hash.update([0]);
        }
        Ok(hex::encode(hash.finalize()))
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db
            .flush()
            .map(drop)
            .map_err(|e| self.storage("flushing to disk", e))
    }
}
