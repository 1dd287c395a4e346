//! The router: follows the `RACCORDO` log in order and writes each event into the inbox of every
//! party entitled to it, as that party may see it (the rule is `raccordo_domain::routing`). A
//! party that joins a pathway late is first handed the pathway's earlier events.
//!
//! It keeps no state of its own that matters: where to resume is read back from the inbox stream
//! (the last message names the event whose routing produced it), and a pathway's state is rebuilt
//! from its history when it is not in memory. So it can be stopped or killed at any moment and
//! started again, and every (event, party) ends up in the inbox exactly once.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use raccordo_domain::ids::{OrgId, PathwayId};
use raccordo_domain::pathway::{Pathway, RecordedEvent};
use raccordo_domain::registry::Registry;
use raccordo_domain::routing::{self, View};
use raccordo_eventlog::{EventLog, Inbox, InboxMessage, LogError, Parked, Stored};
use tokio::sync::watch;

/// The name under which the router parks what it cannot route.
const CONSUMER: &str = "router";

#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error(transparent)]
    Log(#[from] LogError),
}

/// One message to write, owning what it carries.
#[derive(Debug, Clone)]
struct Planned {
    party: OrgId,
    view: View,
    event: RecordedEvent,
    body: serde_json::Value,
    status: &'static str,
    waiting_on: Vec<OrgId>,
}

#[derive(Debug)]
pub struct Router {
    log: EventLog,
    inbox: Inbox,
    registry: Arc<Registry>,
    pathways: HashMap<PathwayId, Pathway>,
    routed: Option<watch::Sender<u64>>,
}

impl Router {
    pub async fn new(log: EventLog, registry: Arc<Registry>) -> Result<Self, RouterError> {
        let inbox = log.inbox().await?;
        Ok(Self {
            log,
            inbox,
            registry,
            pathways: HashMap::new(),
            routed: None,
        })
    }

    /// Tells `routed` the log sequence of each event once every inbox message it produced is
    /// stored (or it is parked): whoever waits on it knows the inboxes are complete up to there.
    pub fn report_to(mut self, routed: watch::Sender<u64>) -> Self {
        self.routed = Some(routed);
        self
    }

    /// Routes from where the inbox left off, then each new event as it comes, until `shutdown`.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), RouterError> {
        let resume = self.inbox.last().await?.map(|stamp| stamp.routed_by);
        let mut events = Box::pin(self.log.follow(resume.unwrap_or(1)).await?);
        tracing::info!(from = resume.unwrap_or(1), "router started");
        // Everything before the event it resumes at is routed in full.
        if let Some(resume) = resume {
            self.report(resume - 1);
        }
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                next = events.next() => match next {
                    Some(stored) => self.handle(stored?, resume).await?,
                    None => return Ok(()),
                },
            }
        }
    }

    /// Routes every event the log holds now, then returns the last sequence routed.
    pub async fn catch_up(&mut self) -> Result<u64, RouterError> {
        let last = self.log.last_sequence().await?;
        let resume = self.inbox.last().await?.map(|stamp| stamp.routed_by);
        let from = resume.unwrap_or(1);
        if last < from {
            return Ok(last);
        }
        let mut events = Box::pin(self.log.read_range(from, last).await?);
        while let Some(stored) = events.next().await {
            self.handle(stored?, resume).await?;
        }
        Ok(last)
    }

    async fn handle(&mut self, stored: Stored, resume: Option<u64>) -> Result<(), RouterError> {
        let sequence = match stored {
            Stored::Event(recorded) => {
                let sequence = recorded.sequence;
                let resuming = resume == Some(sequence);
                self.route(recorded, resuming).await?;
                sequence
            }
            Stored::Malformed(parked) => {
                self.log.dead_letter(CONSUMER, &parked).await?;
                parked.sequence
            }
        };
        self.report(sequence);
        Ok(())
    }

    /// Reports that the log is routed up to `sequence`, if anyone asked.
    fn report(&self, sequence: u64) {
        if let Some(routed) = &self.routed {
            routed.send_if_modified(|last| {
                let newer = sequence > *last;
                *last = (*last).max(sequence);
                newer
            });
        }
    }

    /// Writes one event to its parties' inboxes. `resuming`: this event may be partly written
    /// already (the router stopped while writing it); what a party already holds is skipped.
    async fn route(&mut self, recorded: RecordedEvent, resuming: bool) -> Result<(), RouterError> {
        let id = recorded.event.pathway.clone();
        let before = self.state_before(&recorded).await?;
        let after = match Pathway::evolve(before.clone(), &recorded) {
            Ok(after) => after,
            Err(e) => {
                let (headers, payload) = raccordo_eventlog::codec::encode(&recorded.event);
                let parked = Parked {
                    stream: self.log.config().stream.clone(),
                    sequence: recorded.sequence,
                    subject: raccordo_eventlog::codec::subject_of(&id),
                    headers,
                    payload,
                    reason: e.to_string(),
                };
                self.log.dead_letter(CONSUMER, &parked).await?;
                return Ok(());
            }
        };
        let mut planned = self.backfill(before.as_ref(), &after, &recorded).await?;
        for delivery in routing::route(&after, &recorded.event, &self.registry) {
            planned.push(Planned {
                party: delivery.party,
                view: delivery.view,
                event: recorded.clone(),
                body: delivery.body,
                status: after.status(),
                waiting_on: after.state.waiting_on(),
            });
        }
        if resuming {
            planned = self.not_yet_written(planned, recorded.sequence).await?;
        }
        let ambito = after.state.ambito().clone();
        let messages: Vec<InboxMessage<'_>> = planned
            .iter()
            .map(|p| InboxMessage {
                party: &p.party,
                view: p.view,
                event: &p.event.event,
                body: &p.body,
                source_sequence: p.event.sequence,
                routed_by: recorded.sequence,
                status: p.status,
                waiting_on: &p.waiting_on,
                ambito: &ambito,
            })
            .collect();
        self.inbox.publish(&messages).await?;
        tracing::debug!(pathway = %id, sequence = recorded.sequence, messages = messages.len(), "routed");
        self.pathways.insert(id, after);
        Ok(())
    }

    /// The earlier events of the pathway, for each party that joins it with this event, each as
    /// that party may see it and with the pathway's status as it stood after that event.
    async fn backfill(
        &self,
        before: Option<&Pathway>,
        after: &Pathway,
        recorded: &RecordedEvent,
    ) -> Result<Vec<Planned>, RouterError> {
        let joined = routing::joined(before, after, &self.registry);
        if joined.is_empty() {
            return Ok(Vec::new());
        }
        let history = self.log.history(&after.id).await?;
        let mut states = Vec::new();
        let mut state: Option<Pathway> = None;
        for earlier in history.iter().filter(|e| e.sequence < recorded.sequence) {
            let next = Pathway::evolve(state, earlier).map_err(LogError::from)?;
            states.push((earlier, next.status(), next.state.waiting_on()));
            state = Some(next);
        }
        let mut planned = Vec::new();
        for (party, view) in joined {
            for (earlier, status, waiting_on) in &states {
                if !routing::is_for(&earlier.event, &party, view) {
                    continue;
                }
                planned.push(Planned {
                    party: party.clone(),
                    view,
                    event: (*earlier).clone(),
                    body: routing::view_of(&earlier.event, view),
                    status,
                    waiting_on: waiting_on.clone(),
                });
            }
        }
        Ok(planned)
    }

    /// Drops what each party's inbox already holds from the routing of event `sequence`.
    async fn not_yet_written(
        &self,
        planned: Vec<Planned>,
        sequence: u64,
    ) -> Result<Vec<Planned>, RouterError> {
        let mut written: HashMap<OrgId, u64> = HashMap::new();
        for p in &planned {
            if written.contains_key(&p.party) {
                continue;
            }
            let last = self
                .inbox
                .last_for(&p.party, p.event.event.pathway.kind())
                .await?
                .filter(|stamp| stamp.routed_by == sequence)
                .map_or(0, |stamp| stamp.source_sequence);
            written.insert(p.party.clone(), last);
        }
        Ok(planned
            .into_iter()
            .filter(|p| p.event.sequence > written[&p.party])
            .collect())
    }

    /// The pathway as it stood before `recorded`: from memory, or rebuilt from its history.
    async fn state_before(
        &mut self,
        recorded: &RecordedEvent,
    ) -> Result<Option<Pathway>, RouterError> {
        let id = &recorded.event.pathway;
        if let Some(p) = self.pathways.get(id)
            && p.last_sequence < recorded.sequence
        {
            return Ok(Some(p.clone()));
        }
        let history = self.log.history(id).await?;
        let earlier = history.iter().filter(|e| e.sequence < recorded.sequence);
        Ok(Pathway::fold(earlier).map_err(LogError::from)?)
    }
}
