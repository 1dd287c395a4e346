//! What a projection takes in (inbox entries) and what it answers with (summaries, histories,
//! worklist items), independent of the engine that stores them.
//!
//! The stored forms are these structs serialised as JSON; `codec` makes that encoding canonical,
//! because the projection's digest is computed over the stored bytes.

use raccordo_domain::ids::{AmbitoCode, EventId, OrgId, PathwayId, PathwayKind};
use raccordo_domain::routing::View;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

/// One event as this party received it, at one position of its inbox stream.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxEntry {
    /// Sequence in the party's inbox stream: what the checkpoint counts.
    pub inbox_sequence: u64,
    /// Sequence of the event in the RACCORDO log: orders a pathway's history.
    pub source_sequence: u64,
    pub event_id: EventId,
    /// CloudEvents type, e.g. `raccordo.dimissione_protetta.requested.v1`.
    pub event_type: String,
    pub pathway: PathwayId,
    pub time: OffsetDateTime,
    /// Who acted: an organisation's text, or only its kind in the aggregate view.
    pub source: String,
    /// The operator who acted; `None` in the aggregate view, which names no one.
    pub operator: Option<String>,
    /// The client's command id the event came from.
    pub command_id: Option<String>,
    pub view: View,
    /// The pathway's status right after the event.
    pub status: String,
    /// The person's Ambito, kept so that lists can be filtered by it.
    pub ambito: AmbitoCode,
    /// Who the pathway waits on right after the event.
    pub waiting_on: Vec<OrgId>,
    /// The event's data as this party may see it.
    pub body: Value,
}

/// Where a pathway stands, as this party knows it.
///
/// The current fields (status, ambito, waiting_on, updated_at, last_event_type) come from the
/// entry latest in log order (`last_sequence`), so an earlier event handed over late (the backfill
/// of a party joining a pathway) adds to the history and the count without moving the pathway back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathwaySummary {
    pub id: PathwayId,
    pub kind: PathwayKind,
    pub status: String,
    pub ambito: AmbitoCode,
    /// Time of the pathway's earliest event this party holds.
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    /// Time of the pathway's latest event this party holds.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// How many of the pathway's events this party holds.
    pub events: u64,
    pub last_event_type: String,
    /// Sorted and without repeats: it is a set, and its order must not change the digest.
    pub waiting_on: Vec<OrgId>,
    /// Since when `waiting_on` has held: the time of the event that last changed it.
    #[serde(with = "time::serde::rfc3339")]
    pub waiting_since: OffsetDateTime,
    /// Log sequence of the earliest event held.
    pub first_sequence: u64,
    /// Log sequence of the latest event held: the one the current fields come from.
    pub last_sequence: u64,
}

/// One event of a pathway's history, as this party saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub source_sequence: u64,
    pub event_id: EventId,
    pub event_type: String,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub source: String,
    /// The operator who acted; `None` in the aggregate view.
    pub operator: Option<String>,
    pub command_id: Option<String>,
    /// Whether `body` is the whole event or the aggregate view of it.
    pub view: View,
    pub body: Value,
}

/// A pathway waiting on this party: one line of its worklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkItem {
    pub pathway: PathwayId,
    pub kind: PathwayKind,
    pub status: String,
    pub ambito: AmbitoCode,
    /// Since when the pathway has waited on the same set of parties.
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub last_event_type: String,
}

/// Which pathways a list returns, newest first (`updated_at` descending, then id ascending).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub kind: Option<PathwayKind>,
    pub status: Option<String>,
    pub ambito: Option<AmbitoCode>,
    /// Only the pathways waiting on this party.
    pub waiting_on_me: bool,
    /// At most this many; all when `None`.
    pub limit: Option<usize>,
    /// Start after this position: the cursor of the previous page's last summary.
    pub after: Option<ListCursor>,
}

/// A position in the newest-first order of pathways. It names a place, not a pathway, so a
/// pathway updated between two pages is neither skipped twice nor repeated at the old place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    pub updated_at: OffsetDateTime,
    pub id: PathwayId,
}

impl ListCursor {
    /// The position right after `summary`.
    pub fn after(summary: &PathwaySummary) -> Self {
        Self {
            updated_at: summary.updated_at,
            id: summary.id.clone(),
        }
    }
}

impl ListFilter {
    /// Whether `summary` passes the filter for `party` (the cursor and limit aside).
    pub(crate) fn matches(&self, summary: &PathwaySummary, party: &OrgId) -> bool {
        self.kind.is_none_or(|kind| kind == summary.kind)
            && self.status.as_ref().is_none_or(|s| *s == summary.status)
            && self.ambito.as_ref().is_none_or(|a| *a == summary.ambito)
            && (!self.waiting_on_me || summary.waiting_on.contains(party))
    }
}

/// What one `apply` did with its batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// Entries that changed the projection.
    pub applied: usize,
    /// Entries at or below the checkpoint: already applied before (a replay after a restart).
    pub replayed: usize,
    /// Entries carrying an event the pathway's history already holds (delivered twice, e.g.
    /// once live and once as backfill). They still move the checkpoint.
    pub duplicates: usize,
    /// The checkpoint after the batch.
    pub checkpoint: u64,
}

impl Applied {
    pub fn skipped(&self) -> usize {
        self.replayed + self.duplicates
    }
}
