//! Replaying a pathway's history for a viewer: the one way gRPC `Pathways.History`, the operator
//! console and `raccordo replay pathway` build a timeline. The history is read from the log (the
//! pathway's own subject, at a cost that does not grow with the log), reduced to what the viewer
//! may see for the purpose it names ([`timeline::build`]), and the replay is appended to the audit
//! trail **before** anything is shown: if the trail cannot be written, nothing is shown. A refused
//! replay is recorded too.

use std::sync::Arc;

use raccordo_domain::clock::Clock;
use raccordo_domain::ids::PathwayId;
use raccordo_domain::pathway::Actor;
use raccordo_domain::reconcile::Ruleset;
use raccordo_domain::timeline::{self, Purpose, Refusal, Replayed, Timeline, Via};
use raccordo_eventlog::{Audit, AuditEvent, EventLog, LogError};

/// Why a replay showed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The viewer may not see it; `audited` is the audit event recording the refusal.
    #[error("{refusal}")]
    Refused {
        refusal: Refusal,
        audited: Box<AuditEvent>,
    },
    /// The log or the audit trail did not answer: nothing was shown.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// Builds timelines and records each replay.
#[derive(Debug, Clone)]
pub struct Replays {
    log: EventLog,
    audit: Audit,
    rules: Ruleset,
    clock: Arc<dyn Clock>,
}

impl Replays {
    /// Sets the audit trail up if it is missing.
    pub async fn new(
        log: EventLog,
        rules: Ruleset,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, LogError> {
        let audit = log.audit().await?;
        Ok(Self {
            log,
            audit,
            rules,
            clock,
        })
    }

    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// `actor` replays `pathway` for `purpose` through `via`: its timeline as of now, and the
    /// audit event recorded for it.
    pub async fn timeline(
        &self,
        actor: &Actor,
        pathway: &PathwayId,
        purpose: Purpose,
        via: Via,
    ) -> Result<(Timeline, AuditEvent), ReplayError> {
        let history = self.log.history(pathway).await?;
        let now = self.clock.now();
        let result = timeline::build(
            self.rules.book(),
            pathway,
            &history,
            &actor.org,
            purpose,
            now,
        );
        let record = Replayed::of(pathway, actor, purpose, via, now, &result);
        let audited = self.audit.record(&record).await?;
        match result {
            Ok(timeline) => Ok((timeline, audited)),
            Err(refusal) => Err(ReplayError::Refused {
                refusal,
                audited: Box::new(audited),
            }),
        }
    }
}
