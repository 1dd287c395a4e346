//! `Pathways.Get` and `Pathways.List`, answered from the caller's own projection (ARCHITECTURE.md
//! §3): a party sees exactly what it was sent, so it never sees a pathway it has no part in, and
//! an ATS, whose projection holds the aggregate view, never sees a person. `Pathways.History`
//! replays a pathway's history from the log through [`Replays`], which records every replay in
//! the audit trail before anything is sent.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use raccordo_api::queries::{
    history_items, history_request, list_filter, page_token, pathway_summary, projected_pathway,
};
use raccordo_api::{parse_pathway_id, v1};
use raccordo_domain::ids::{OrgId, PathwayId};
use raccordo_domain::pathway::{Actor, Event, EventData, Pathway, RecordedEvent};
use raccordo_domain::routing::View;
use raccordo_domain::timeline::Via;
use raccordo_projections::{HistoryEntry, PathwaySummary, ProjectionStore, StoreError};
use serde_json::Value;
use tonic::{Request, Response, Status};

use crate::auth::caller;
use crate::replays::Replays;
use crate::status::invalid;

/// How long `Get` waits, at most, for the caller's projection to reach `min_sequence`.
const READ_YOUR_WRITE_WAIT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(10);

/// Whether a party's projection has taken in everything of the log up to a sequence: every event
/// up to there routed, and the party's projector past every inbox message that routing wrote for
/// it. Lets `Get` with `min_sequence` answer at once when the event at that sequence went to
/// others only (a receipt goes to the sender, not to the party that acknowledged).
pub trait Freshness: Send + Sync + fmt::Debug {
    fn has_taken_in<'a>(&'a self, party: &'a OrgId, log_sequence: u64) -> BoxFuture<'a, bool>;
}

/// The projections queries are answered from, one per party.
#[derive(Clone, Default)]
pub struct Projections {
    stores: Arc<HashMap<OrgId, Arc<dyn ProjectionStore>>>,
    freshness: Option<Arc<dyn Freshness>>,
}

impl Projections {
    pub fn new(stores: impl IntoIterator<Item = Arc<dyn ProjectionStore>>) -> Self {
        let stores = stores
            .into_iter()
            .map(|store| (store.party().clone(), store))
            .collect();
        Self {
            stores: Arc::new(stores),
            freshness: None,
        }
    }

    /// Also asks `freshness` whether a projection has taken in the log up to a `min_sequence`.
    pub fn with_freshness(mut self, freshness: Arc<dyn Freshness>) -> Self {
        self.freshness = Some(freshness);
        self
    }

    /// The projection of `party`, if this raccordo keeps one.
    pub fn of(&self, party: &OrgId) -> Option<&Arc<dyn ProjectionStore>> {
        self.stores.get(party)
    }
}

impl fmt::Debug for Projections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parties: Vec<String> = self.stores.keys().map(ToString::to_string).collect();
        parties.sort_unstable();
        f.debug_struct("Projections")
            .field("parties", &parties)
            .finish()
    }
}

fn store_status(error: StoreError) -> Status {
    match error {
        StoreError::Corrupt { .. } | StoreError::Conflict { .. } | StoreError::Entry { .. } => {
            tracing::error!(%error, "a projection cannot be read");
            Status::internal(error.to_string())
        }
        _ => Status::unavailable(error.to_string()),
    }
}

/// The `Pathways` service.
#[derive(Debug, Clone)]
pub struct PathwaysService {
    projections: Projections,
    replays: Replays,
}

impl PathwaysService {
    pub fn new(projections: Projections, replays: Replays) -> Self {
        Self {
            projections,
            replays,
        }
    }

    fn store_of(&self, org: &OrgId) -> Result<&Arc<dyn ProjectionStore>, Status> {
        self.projections.of(org).ok_or_else(|| {
            Status::unavailable(format!(
                "this raccordo keeps no projection of {org}; \
                 add {org} to the organisations it serves and restart it"
            ))
        })
    }

    /// The pathway's summary once the projection holds it at `min_sequence` or later, or has
    /// taken in the whole log up to there (what it holds then is all it will ever hold of that
    /// point), waiting up to [`READ_YOUR_WRITE_WAIT`] for it.
    async fn summary_at(
        &self,
        store: &dyn ProjectionStore,
        id: &PathwayId,
        min_sequence: u64,
    ) -> Result<Option<PathwaySummary>, Status> {
        let started = tokio::time::Instant::now();
        loop {
            let summary = store.pathway(id).map_err(store_status)?;
            let reached = summary
                .as_ref()
                .is_some_and(|s| s.last_sequence >= min_sequence);
            if reached || min_sequence == 0 {
                return Ok(summary);
            }
            if let Some(freshness) = &self.projections.freshness
                && freshness.has_taken_in(store.party(), min_sequence).await
            {
                // Read again: the projector may have applied more since the first read.
                return store.pathway(id).map_err(store_status);
            }
            if started.elapsed() >= READ_YOUR_WRITE_WAIT {
                return match summary {
                    // Not a pathway of the caller's, as far as its projection knows: say no more.
                    None => Ok(None),
                    Some(s) => Err(Status::unavailable(format!(
                        "the projection of {} holds pathway {id} up to sequence {}, not yet {min_sequence}; retry shortly",
                        store.party(),
                        s.last_sequence
                    ))),
                };
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// The kind's state rebuilt from the history a party holds: possible when the party was given the
/// whole events (not the aggregate view) from the one opening the pathway on, none missing.
fn rebuild_state(id: &PathwayId, history: &[HistoryEntry]) -> Option<Value> {
    let mut pathway: Option<Pathway> = None;
    for entry in history {
        if entry.view != View::Full {
            return None;
        }
        let event = Event {
            id: entry.event_id.clone(),
            pathway: id.clone(),
            command_id: entry.command_id.as_deref()?.parse().ok()?,
            command_digest: String::new(),
            actor: Actor {
                org: entry.source.parse().ok()?,
                operator: entry.operator.as_deref()?.parse().ok()?,
            },
            time: entry.time,
            data: EventData::from_type_and_body(&entry.event_type, entry.body.clone()).ok()?,
        };
        let recorded = RecordedEvent {
            sequence: entry.source_sequence,
            event,
        };
        pathway = Some(Pathway::evolve(pathway, &recorded).ok()?);
    }
    pathway.map(|p| p.state.to_json())
}

#[tonic::async_trait]
impl v1::pathways_server::Pathways for PathwaysService {
    type HistoryStream = futures::stream::Iter<std::vec::IntoIter<Result<v1::HistoryItem, Status>>>;

    async fn get(
        &self,
        request: Request<v1::GetPathwayRequest>,
    ) -> Result<Response<v1::Pathway>, Status> {
        let actor = caller(&request)?;
        let request = request.get_ref();
        let id = parse_pathway_id(&request.pathway_id).map_err(|v| invalid(&v))?;
        let store = self.store_of(&actor.org)?;
        let Some(summary) = self
            .summary_at(store.as_ref(), &id, request.min_sequence)
            .await?
        else {
            tracing::info!(org = %actor.org, pathway = %id, "read of a pathway not in the caller's projection");
            return Err(Status::not_found(format!(
                "pathway {id} is not among the pathways of {}",
                actor.org
            )));
        };
        let history = store.history(&id).map_err(store_status)?;
        let state = rebuild_state(&id, &history);
        Ok(Response::new(projected_pathway(&summary, &history, state)))
    }

    async fn list(
        &self,
        request: Request<v1::ListPathwaysRequest>,
    ) -> Result<Response<v1::ListPathwaysResponse>, Status> {
        let actor = caller(&request)?;
        let filter = list_filter(request.get_ref()).map_err(|v| invalid(&v))?;
        let page_size = filter.limit.map_or(usize::MAX, |n| n - 1);
        let store = self.store_of(&actor.org)?;
        let mut found = store.list(&filter).map_err(store_status)?;
        let next_page_token = if found.len() > page_size {
            found.truncate(page_size);
            found.last().map(page_token).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(v1::ListPathwaysResponse {
            pathways: found.iter().map(pathway_summary).collect(),
            next_page_token,
        }))
    }

    async fn history(
        &self,
        request: Request<v1::HistoryRequest>,
    ) -> Result<Response<Self::HistoryStream>, Status> {
        let actor = caller(&request)?;
        let (pathway, purpose) = history_request(request.get_ref()).map_err(|v| invalid(&v))?;
        let replayed = self
            .replays
            .timeline(&actor, &pathway, purpose, Via::Grpc)
            .await;
        let (timeline, audited) = match replayed {
            Ok(shown) => shown,
            Err(error) => {
                tracing::info!(org = %actor.org, operator = %actor.operator, %pathway, %purpose,
                    %error, "history replay not shown");
                return Err(error.into());
            }
        };
        tracing::info!(org = %actor.org, operator = %actor.operator, %pathway, %purpose,
            events_shown = audited.replayed.events_shown, audit_sequence = audited.sequence,
            "history replayed");
        let items = history_items(&timeline, &audited);
        Ok(Response::new(futures::stream::iter(
            items.into_iter().map(Ok).collect::<Vec<_>>(),
        )))
    }
}
