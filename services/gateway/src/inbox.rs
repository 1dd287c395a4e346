//! The `Inbox` service: a party's case software follows its own inbox over gRPC and acknowledges
//! what it received. `Subscribe` streams the caller's messages of `RACCORDO_INBOX`, from a cursor
//! on and then live; `Acknowledge` turns one of them into a receipt event on its pathway, through
//! the engine like any command, so the receipt is appended exactly once per event and party.

use std::sync::Arc;

use futures::StreamExt;
use opentelemetry_sdk::trace::SdkTracer;
use raccordo_api::v1::{self, inbox_server};
use raccordo_api::{acknowledge_reply, inbox_message};
use raccordo_domain::pathway::{FieldViolation, receipt};
use raccordo_eventlog::Inbox;
use raccordo_eventlog::inbox::INBOX_SUBJECTS;
use tokio::sync::{OnceCell, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status};

use crate::REPLAYED_HEADER;
use crate::auth::caller;
use crate::engine::Engine;
use crate::services::command_trace;
use crate::status::{CommandError, invalid};

/// How many messages a subscription holds ready for a slow client before it waits for it.
const BUFFER: usize = 64;

/// The `Inbox` gRPC service.
#[derive(Debug, Clone)]
pub struct InboxService {
    engine: Arc<Engine>,
    tracer: Arc<SdkTracer>,
    /// The inbox stream, set up on first use (the router may not have created it yet).
    inbox: Arc<OnceCell<Inbox>>,
    /// Turns true when the gateway stops: open subscriptions end, so that shutdown can drain.
    stopping: watch::Receiver<bool>,
}

impl InboxService {
    /// The service acknowledging through `engine`; its subscriptions end when `stopping` turns true.
    pub fn new(
        engine: Arc<Engine>,
        tracer: Arc<SdkTracer>,
        stopping: watch::Receiver<bool>,
    ) -> Self {
        Self {
            engine,
            tracer,
            inbox: Arc::new(OnceCell::new()),
            stopping,
        }
    }

    async fn inbox(&self) -> Result<&Inbox, Status> {
        let inbox = self
            .inbox
            .get_or_try_init(|| self.engine.log().inbox())
            .await
            .map_err(CommandError::from)?;
        Ok(inbox)
    }
}

#[tonic::async_trait]
impl inbox_server::Inbox for InboxService {
    type SubscribeStream = ReceiverStream<Result<v1::InboxMessage, Status>>;

    async fn subscribe(
        &self,
        request: Request<v1::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let org = caller(&request)?.org;
        let from = request.get_ref().from_cursor;
        let messages = self
            .inbox()
            .await?
            .follow(&org, from)
            .await
            .map_err(CommandError::from)?;
        tracing::info!(%org, from, "inbox subscription started");
        let (tx, rx) = mpsc::channel(BUFFER);
        let mut stopping = self.stopping.clone();
        tokio::spawn(async move {
            let mut messages = std::pin::pin!(messages);
            loop {
                let next = tokio::select! {
                    () = tx.closed() => break,
                    _ = stopping.wait_for(|stop| *stop) => break,
                    next = messages.next() => next,
                };
                let item = match next {
                    None => break,
                    Some(Err(e)) => {
                        tracing::warn!(%org, error = %e, "inbox subscription lost the stream");
                        Err(Status::from(CommandError::from(e)))
                    }
                    Some(Ok(received)) => match received.delivery() {
                        Ok(delivery) if delivery.party == org => Ok(inbox_message(&delivery)),
                        Ok(delivery) => {
                            tracing::error!(%org, cursor = received.sequence, party = %delivery.party,
                                "inbox subscription met another party's message; not sent");
                            continue;
                        }
                        Err(reason) => {
                            // The party's projector parks it in the dead-letter stream.
                            tracing::warn!(%org, cursor = received.sequence, %reason,
                                "skipped a malformed inbox message");
                            continue;
                        }
                    },
                };
                let failed = item.is_err();
                tokio::select! {
                    sent = tx.send(item) => if sent.is_err() { break },
                    _ = stopping.wait_for(|stop| *stop) => break,
                }
                if failed {
                    break;
                }
            }
            tracing::info!(%org, "inbox subscription ended");
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn acknowledge(
        &self,
        request: Request<v1::AcknowledgeRequest>,
    ) -> Result<Response<v1::AcknowledgeReply>, Status> {
        let actor = caller(&request)?;
        let cursor = request.get_ref().cursor;
        if cursor == 0 {
            return Err(invalid(&[FieldViolation::new(
                "cursor",
                "0 is no inbox message (cursors start at 1): pass the cursor of a message \
                 Subscribe gave you",
            )]));
        }
        // NOT_FOUND alike for no message and another party's: what others hold is not the
        // caller's business.
        let not_found =
            || Status::not_found(format!("your inbox holds no message at cursor {cursor}"));
        let Some((received, delivered_at)) = self
            .inbox()
            .await?
            .get(cursor)
            .await
            .map_err(CommandError::from)?
        else {
            return Err(not_found());
        };
        let own = format!("{INBOX_SUBJECTS}.{}.", actor.org.subject_token());
        if !received.subject.starts_with(&own) {
            tracing::info!(org = %actor.org, cursor,
                "acknowledgement refused: the message is not in the caller's inbox");
            return Err(not_found());
        }
        let delivery = received.delivery().map_err(|reason| {
            tracing::error!(org = %actor.org, cursor, %reason, "an inbox message cannot be read");
            Status::internal(format!(
                "your inbox message at cursor {cursor} cannot be read ({reason}); it is parked \
                 for an operator"
            ))
        })?;
        let command = receipt::Acknowledge::command(
            delivery.pathway.clone(),
            delivery.event_id.clone(),
            cursor,
            delivered_at,
        );
        let trace = command_trace(&self.tracer, request.metadata(), receipt::COMMAND);
        let outcome = self
            .engine
            .execute(&actor, &command, &trace)
            .await
            .inspect_err(|e| {
                tracing::info!(org = %actor.org, operator = %actor.operator, cursor,
                    pathway = %delivery.pathway, event = %delivery.event_id, error = %e,
                    "acknowledgement refused");
            })?;
        tracing::info!(
            org = %actor.org,
            operator = %actor.operator,
            cursor,
            pathway = %outcome.pathway,
            event = %delivery.event_id,
            sequence = outcome.applied.sequence,
            replayed = outcome.replayed,
            "acknowledgement recorded"
        );
        let reply = acknowledge_reply(&outcome.pathway, &delivery.event_id, &outcome.applied);
        let mut response = Response::new(reply);
        if outcome.replayed {
            response
                .metadata_mut()
                .insert(REPLAYED_HEADER, MetadataValue::from_static("true"));
        }
        Ok(response)
    }
}
