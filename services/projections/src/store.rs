//! The port: what raccordo asks of a party's projection, and how it fails. No engine shows here,
//! so the engine can be swapped by touching one module.

use std::fmt;
use std::path::{Path, PathBuf};

use raccordo_domain::ids::{EventId, OrgId, PathwayId};

use crate::model::{Applied, HistoryEntry, InboxEntry, ListFilter, PathwaySummary, WorkItem};

/// One party's projection, fed with its inbox in inbox order.
pub trait ProjectionStore: Send + Sync {
    /// The party whose projection this is, fixed when the store was opened.
    fn party(&self) -> &OrgId;

    /// The inbox sequence of the last entry applied: the projector resumes after it.
    fn checkpoint(&self) -> Result<u64, StoreError>;

    /// Applies `batch` (in inbox order) and moves the checkpoint to its last entry, atomically:
    /// afterwards the store holds either all of the batch or none of it. Entries at or below the
    /// checkpoint are skipped, so a batch replayed after a restart changes nothing; an entry
    /// carrying an event already in the pathway's history is skipped too, but still counts for
    /// the checkpoint.
    fn apply(&self, batch: &[InboxEntry]) -> Result<Applied, StoreError>;

    /// Moves the checkpoint past `inbox_sequence`, an inbox message that could not be applied and
    /// was parked in the dead-letter stream, and records it as parked, atomically: a projector
    /// restarted afterwards does not meet the message again, and a clean rebuild, which parks it
    /// too, reaches the same digest. `false` (and nothing written) when it is at or below the
    /// checkpoint, already passed.
    fn park(&self, inbox_sequence: u64) -> Result<bool, StoreError>;

    /// The inbox sequences parked so far, in order.
    fn parked(&self) -> Result<Vec<u64>, StoreError>;

    fn pathway(&self, id: &PathwayId) -> Result<Option<PathwaySummary>, StoreError>;

    /// How many pathways the projection holds.
    fn pathway_count(&self) -> Result<u64, StoreError>;

    /// The pathway's events as this party saw them, in log order.
    fn history(&self, id: &PathwayId) -> Result<Vec<HistoryEntry>, StoreError>;

    /// The pathways passing `filter`, newest first (`updated_at` descending, then id), from
    /// `filter.after`, at most `filter.limit` of them.
    fn list(&self, filter: &ListFilter) -> Result<Vec<PathwaySummary>, StoreError>;

    /// The pathways waiting on this party, the longest-waiting first (then by id).
    fn worklist(&self) -> Result<Vec<WorkItem>, StoreError>;

    /// SHA-256, in lowercase hex, over everything the projection holds, checkpoint included:
    /// two stores holding the same data give the same digest, whatever batches built them.
    fn digest(&self) -> Result<String, StoreError>;

    /// Makes everything applied so far durable. `apply` alone is atomic but may be lost on a crash
    /// (with its checkpoint, so the projector simply applies it again).
    fn flush(&self) -> Result<(), StoreError>;
}

/// Which store an error is about: the party and the directory. Boxed in every error, so that a
/// `Result` stays small on the happy path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorePlace {
    pub party: OrgId,
    pub dir: PathBuf,
}

impl StorePlace {
    pub(crate) fn boxed(party: &OrgId, dir: &Path) -> Box<Self> {
        Box::new(Self {
            party: party.clone(),
            dir: dir.to_owned(),
        })
    }
}

impl fmt::Display for StorePlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "projection of {} in {}", self.party, self.dir.display())
    }
}

/// Why a projection could not do what was asked. Every message names the party, the directory
/// and the step that failed, so that an operator can act on it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "{at}: the directory is locked by another process (is another projector of {} running?)",
        .at.party
    )]
    Locked { at: Box<StorePlace> },

    #[error("{at}: cannot open it: {reason}")]
    Open { at: Box<StorePlace>, reason: String },

    #[error("{at}: cannot move the unusable store aside to {to} ({why_aside}): {reason}")]
    MoveAside {
        at: Box<StorePlace>,
        to: PathBuf,
        why_aside: String,
        reason: String,
    },

    #[error("{at}: {action} failed: {reason}")]
    Storage {
        at: Box<StorePlace>,
        action: String,
        reason: String,
    },

    #[error(
        "{at}: {what} is unreadable: {reason}; \
         move the directory aside and rebuild the projection from the log"
    )]
    Corrupt {
        at: Box<StorePlace>,
        what: String,
        reason: String,
    },

    #[error(
        "{at}: inbox entry {inbox_sequence} cannot be stored \
         (event {event_id} of pathway {pathway}): {reason}"
    )]
    Entry {
        at: Box<StorePlace>,
        inbox_sequence: u64,
        pathway: PathwayId,
        event_id: EventId,
        reason: String,
    },

    #[error(
        "{at}: inbox entry {inbox_sequence} carries event {event_id} at log sequence \
         {source_sequence} of pathway {pathway}, where the projection holds event {held}: \
         the inbox contradicts the log; rebuild the projection"
    )]
    Conflict {
        at: Box<StorePlace>,
        inbox_sequence: u64,
        pathway: PathwayId,
        source_sequence: u64,
        event_id: EventId,
        held: EventId,
    },
}

impl StoreError {
    /// The store the error is about.
    pub fn place(&self) -> &StorePlace {
        match self {
            Self::Locked { at }
            | Self::Open { at, .. }
            | Self::MoveAside { at, .. }
            | Self::Storage { at, .. }
            | Self::Corrupt { at, .. }
            | Self::Entry { at, .. }
            | Self::Conflict { at, .. } => at,
        }
    }
}
