//! The projection's rules, apart from any storage engine: how one inbox entry turns the
//! pathway's summary, its history line and its worklist item into the next ones.

use raccordo_domain::ids::OrgId;

use crate::codec;
use crate::model::{HistoryEntry, InboxEntry, PathwaySummary, WorkItem};

/// An entry checked and normalised for storing (see `codec`): what a transaction writes can no
/// longer fail to encode.
#[derive(Debug)]
pub(crate) struct Prepared<'a> {
    pub entry: &'a InboxEntry,
    pub history: HistoryEntry,
    pub history_bytes: Vec<u8>,
    waiting_on: Vec<OrgId>,
}

impl<'a> Prepared<'a> {
    pub(crate) fn new(entry: &'a InboxEntry) -> Result<Self, String> {
        let history = HistoryEntry {
            source_sequence: entry.source_sequence,
            event_id: entry.event_id.clone(),
            event_type: entry.event_type.clone(),
            time: codec::utc(entry.time)?,
            source: entry.source.clone(),
            operator: entry.operator.clone(),
            command_id: entry.command_id.clone(),
            view: entry.view,
            body: codec::canonical(&entry.body),
        };
        let history_bytes = codec::to_bytes(&history)?;
        Ok(Self {
            entry,
            history,
            history_bytes,
            waiting_on: codec::set_of(&entry.waiting_on),
        })
    }

    /// The pathway's summary once this entry is applied over `before`.
    pub(crate) fn next_summary(&self, before: Option<PathwaySummary>) -> PathwaySummary {
        let entry = self.entry;
        let time = self.history.time;
        let Some(mut summary) = before else {
            return PathwaySummary {
                id: entry.pathway.clone(),
                kind: entry.pathway.kind(),
                status: entry.status.clone(),
                ambito: entry.ambito.clone(),
                opened_at: time,
                updated_at: time,
                events: 1,
                last_event_type: entry.event_type.clone(),
                waiting_on: self.waiting_on.clone(),
                waiting_since: time,
                first_sequence: entry.source_sequence,
                last_sequence: entry.source_sequence,
            };
        };
        summary.events += 1;
        if entry.source_sequence > summary.last_sequence {
            if summary.waiting_on != self.waiting_on {
                summary.waiting_on = self.waiting_on.clone();
                summary.waiting_since = time;
            }
            summary.status = entry.status.clone();
            summary.ambito = entry.ambito.clone();
            summary.updated_at = time;
            summary.last_event_type = entry.event_type.clone();
            summary.last_sequence = entry.source_sequence;
        } else if entry.source_sequence < summary.first_sequence {
            // An earlier event handed over late (backfill): it is the new start of the history
            // but says nothing about where the pathway stands now, which a later event already
            // told. Since when the current set has held stays as first learnt: the run of events
            // with that set may or may not reach back to this one, and only the events in between
            // could tell.
            summary.opened_at = time;
            summary.first_sequence = entry.source_sequence;
        }
        summary
    }
}

/// The worklist item of `summary`, if it waits on `party`.
pub(crate) fn work_item(summary: &PathwaySummary, party: &OrgId) -> Option<WorkItem> {
    summary.waiting_on.contains(party).then(|| WorkItem {
        pathway: summary.id.clone(),
        kind: summary.kind,
        status: summary.status.clone(),
        ambito: summary.ambito.clone(),
        since: summary.waiting_since,
        updated_at: summary.updated_at,
        last_event_type: summary.last_event_type.clone(),
    })
}
