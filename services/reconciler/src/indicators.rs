//! The LEPS indicators as the ATS monitor them (`raccordo_domain::kpi`), from the log: read in
//! order, each pathway rebuilt as it goes, and every event handed to the router's own rule
//! ([`routing::route`]). What that rule gives an ATS, its aggregate view, is all its indicators are
//! computed from, so they never rest on more than the ATS may see. A message that is not an
//! event, or an event that does not fit its pathway, is left out as the router leaves it out (it
//! parks it), with a warning.
//!
//! [`Monitors`] keeps what it has read: `raccordo kpi` reads the log once, the operator console
//! reads on from where it stopped each time its indicators are asked for.

use std::collections::HashMap;

use futures::StreamExt;
use raccordo_domain::ids::{OrgId, PathwayId};
use raccordo_domain::kpi::{AggregateEvent, KpiError, Monitor};
use raccordo_domain::pathway::{Event, Pathway};
use raccordo_domain::registry::Registry;
use raccordo_domain::routing;
use raccordo_eventlog::{EventLog, LogError, Stored};

/// Why the log could not be read into the indicators.
#[derive(Debug, thiserror::Error)]
pub enum IndicatorsError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("log sequence {sequence}: {source}")]
    Event {
        sequence: u64,
        #[source]
        source: KpiError,
    },
}

/// The events of the log as the ATS receive them, folded into one [`Monitor`] per ATS.
#[derive(Debug, Clone, Default)]
pub struct Monitors {
    /// Only this ATS, if set; every ATS otherwise.
    only: Option<OrgId>,
    /// Each pathway as it stands after the events read so far: what routing needs.
    pathways: HashMap<PathwayId, Pathway>,
    by_ats: HashMap<OrgId, AtsMonitor>,
    read_to: u64,
    events: u64,
    left_out: u64,
}

/// One ATS's monitor and how many events it was given.
#[derive(Debug, Clone, Default)]
pub struct AtsMonitor {
    pub monitor: Monitor,
    /// Events the ATS receives (in its aggregate view) among those read.
    pub events: u64,
}

impl Monitors {
    /// For every ATS.
    pub fn all() -> Self {
        Self::default()
    }

    /// For one ATS only (a reader that reports on one keeps the facts of that one).
    pub fn of_ats(ats: OrgId) -> Self {
        Self {
            only: Some(ats),
            ..Self::default()
        }
    }

    /// The monitor of `ats`, if it received anything of what was read.
    pub fn of(&self, ats: &OrgId) -> Option<&AtsMonitor> {
        self.by_ats.get(ats)
    }

    /// The log sequence read up to.
    pub fn read_to(&self) -> u64 {
        self.read_to
    }

    /// Events read from the log.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Messages left out: not an event, or an event that does not fit its pathway.
    pub fn left_out(&self) -> u64 {
        self.left_out
    }

    /// Reads the log on from where it stopped up to sequence `until`, telling `progress` each
    /// sequence read. On an error the monitors hold part of a batch: start again from
    /// [`Monitors::all`] or [`Monitors::of_ats`].
    pub async fn catch_up(
        &mut self,
        log: &EventLog,
        registry: &Registry,
        until: u64,
        mut progress: impl FnMut(u64),
    ) -> Result<(), IndicatorsError> {
        if until <= self.read_to {
            return Ok(());
        }
        let mut stored = Box::pin(log.read_range(self.read_to + 1, until).await?);
        while let Some(next) = stored.next().await {
            let sequence = match next? {
                Stored::Event(recorded) => {
                    self.events += 1;
                    let id = recorded.event.pathway.clone();
                    let before = self.pathways.remove(&id);
                    match Pathway::evolve(before.clone(), &recorded) {
                        Ok(after) => {
                            for (ats, event) in self.as_received(&after, &recorded.event, registry)
                            {
                                let entry = self.by_ats.entry(ats).or_default();
                                entry.events += 1;
                                entry.monitor.observe(&event).map_err(|source| {
                                    IndicatorsError::Event {
                                        sequence: recorded.sequence,
                                        source,
                                    }
                                })?;
                            }
                            self.pathways.insert(id, after);
                        }
                        Err(e) => {
                            tracing::warn!(sequence = recorded.sequence, reason = %e, "left out an event that does not fit its pathway (the router parks it)");
                            self.left_out += 1;
                            if let Some(before) = before {
                                self.pathways.insert(id, before);
                            }
                        }
                    }
                    recorded.sequence
                }
                Stored::Malformed(parked) => {
                    tracing::warn!(sequence = parked.sequence, reason = %parked.reason, "left out a message that is not an event (the router parks it)");
                    self.left_out += 1;
                    parked.sequence
                }
            };
            self.read_to = sequence;
            progress(sequence);
        }
        Ok(())
    }

    /// `event` as each ATS receives it, if any does: the router's own rule, on the pathway right
    /// after the event. An ATS follows a pathway from its opening event (its Ambito never
    /// changes), so it never joins one late and the router never backfills it.
    fn as_received(
        &self,
        after: &Pathway,
        event: &Event,
        registry: &Registry,
    ) -> Vec<(OrgId, AggregateEvent)> {
        routing::route(after, event, registry)
            .into_iter()
            .filter(|delivery| matches!(delivery.party, OrgId::Ats(_)))
            .filter(|delivery| self.only.as_ref().is_none_or(|ats| *ats == delivery.party))
            .map(|delivery| {
                let received = AggregateEvent {
                    pathway: event.pathway.clone(),
                    event_type: event.data.event_type(),
                    time: event.time,
                    body: delivery.body,
                };
                (delivery.party, received)
            })
            .collect()
    }
}
