//! Turning a command into at most one event: load the pathway, decide, append with the
//! pathway's last sequence as the expectation, and on a conflict decide again on fresh state.
//! A command already applied is answered from the pathway's memory, at any later time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use raccordo_domain::clock::Clock;
use raccordo_domain::ids::PathwayId;
use raccordo_domain::pathway::{
    self, Actor, Applied, Command, Context, Decision, Pathway, RecordedEvent,
};
use raccordo_domain::registry::Registry;
use raccordo_eventlog::{AppendError, EventLog};

use crate::status::CommandError;

/// How many times a command is decided again after losing a race before the caller is told to retry.
const MAX_ATTEMPTS: usize = 8;
/// Pathways kept in memory between commands; the log stays the truth, this only saves reads.
const CACHE_CAPACITY: usize = 100_000;

/// What an accepted command came to.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub pathway: PathwayId,
    pub applied: Applied,
    /// The command had been applied before: nothing was appended this time.
    pub replayed: bool,
}

#[derive(Debug)]
pub struct Engine {
    log: EventLog,
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
    cache: Mutex<HashMap<PathwayId, Pathway>>,
}

impl Engine {
    pub fn new(log: EventLog, registry: Arc<Registry>, clock: Arc<dyn Clock>) -> Self {
        Self {
            log,
            registry,
            clock,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn log(&self) -> &EventLog {
        &self.log
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    pub async fn execute(
        &self,
        actor: &Actor,
        command: &Command,
        trace: &opentelemetry::Context,
    ) -> Result<Outcome, CommandError> {
        let pathway_id = pathway::target(command, &actor.org)?;
        let mut fresh = false;
        for _ in 0..MAX_ATTEMPTS {
            let current = if fresh {
                self.reload(&pathway_id).await?
            } else {
                self.cached_or_load(&pathway_id).await?
            };
            let ctx = Context {
                actor,
                now: self.clock.now(),
                registry: &self.registry,
            };
            let event = match pathway::decide(current.as_ref(), command, &ctx) {
                Ok(Decision::AlreadyApplied(applied)) => {
                    return Ok(Outcome {
                        pathway: pathway_id,
                        applied,
                        replayed: true,
                    });
                }
                Ok(Decision::Append(event)) => event,
                // A refusal must hold on the log's latest state, not on a cached copy.
                Err(rejection) if !fresh => {
                    tracing::debug!(pathway = %pathway_id, %rejection, "refused on cached state; checking fresh state");
                    fresh = true;
                    continue;
                }
                Err(rejection) => return Err(rejection.into()),
            };
            let expected = current.as_ref().map_or(0, |p| p.last_sequence);
            match self.log.append(&event, expected, trace).await {
                Ok(appended) if !appended.duplicate => {
                    let recorded = RecordedEvent {
                        sequence: appended.sequence,
                        event,
                    };
                    let next = Pathway::evolve(current, &recorded)
                        .map_err(raccordo_eventlog::LogError::from)?;
                    let applied = next.applied[&recorded.event.id].clone();
                    self.remember(next);
                    return Ok(Outcome {
                        pathway: pathway_id,
                        applied,
                        replayed: false,
                    });
                }
                // Stored by an earlier attempt whose answer was lost: answer from the log.
                Ok(_) => fresh = true,
                Err(AppendError::Conflict(_)) => {
                    tracing::debug!(pathway = %pathway_id, command = command.body.name(), "lost a race; deciding again");
                    fresh = true;
                }
                Err(AppendError::Bus(e)) => return Err(CommandError::Append(e)),
            }
        }
        Err(CommandError::Contended(pathway_id.to_string()))
    }

    async fn cached_or_load(&self, pathway: &PathwayId) -> Result<Option<Pathway>, CommandError> {
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(pathway)
            .cloned();
        match cached {
            Some(p) => Ok(Some(p)),
            None => self.reload(pathway).await,
        }
    }

    async fn reload(&self, pathway: &PathwayId) -> Result<Option<Pathway>, CommandError> {
        let (state, _) = self.log.load(pathway).await?;
        if let Some(p) = &state {
            self.remember(p.clone());
        }
        Ok(state)
    }

    fn remember(&self, pathway: Pathway) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHE_CAPACITY && !cache.contains_key(&pathway.id) {
            // Terminal pathways are the cheapest to forget: few commands reach them again.
            let victim = cache
                .iter()
                .find(|(_, p)| p.state.is_terminal())
                .or_else(|| cache.iter().next())
                .map(|(id, _)| id.clone());
            if let Some(id) = victim {
                cache.remove(&id);
            }
        }
        // Never replace a newer copy with an older one read concurrently.
        match cache.get(&pathway.id) {
            Some(known) if known.last_sequence > pathway.last_sequence => {}
            _ => {
                cache.insert(pathway.id.clone(), pathway);
            }
        }
    }
}
