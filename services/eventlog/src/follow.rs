//! Reading the log in order from a sequence on, for the services that derive things from it (the
//! router, later the reconciler), and parking what cannot be read in a dead-letter stream with
//! its reason, so that one bad message never stops a consumer.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::stream::{self, StorageType};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use raccordo_domain::pathway::RecordedEvent;

use crate::{EventLog, LogError, codec};

pub const DEAD_STREAM: &str = "RACCORDO_DEAD";
pub const DEAD_SUBJECTS: &str = "raccordo.dead";
/// Why a message was parked.
pub const DEAD_REASON: &str = "raccordo-dead-reason";
/// Where the parked message came from: stream and sequence.
pub const DEAD_STREAM_HEADER: &str = "raccordo-dead-stream";
pub const DEAD_SEQUENCE: &str = "raccordo-dead-sequence";
pub const DEAD_SUBJECT: &str = "raccordo-dead-subject";

/// One stored message of the log, read or not.
#[derive(Debug)]
pub enum Stored {
    Event(RecordedEvent),
    /// A message that is not a raccordo event (a foreign writer, a bug): parked, not applied.
    Malformed(Parked),
}

impl Stored {
    /// The message's sequence in the log.
    pub fn sequence(&self) -> u64 {
        match self {
            Self::Event(recorded) => recorded.sequence,
            Self::Malformed(parked) => parked.sequence,
        }
    }
}

/// A message a consumer could not use, as it was stored, and why.
#[derive(Debug, Clone)]
pub struct Parked {
    pub stream: String,
    pub sequence: u64,
    pub subject: String,
    pub headers: HeaderMap,
    pub payload: Bytes,
    pub reason: String,
}

impl EventLog {
    /// Every message of the log from sequence `from` on, in order, then each new one as it comes.
    pub async fn follow(
        &self,
        from: u64,
    ) -> Result<impl Stream<Item = Result<Stored, LogError>> + use<>, LogError> {
        let name = self.config.stream.clone();
        let filter = format!("{}.>", codec::PATHWAY_SUBJECTS);
        let messages = self
            .ordered(&name, filter, from, "following the log".into())
            .await?;
        Ok(messages.map(move |message| {
            let (sequence, message) = message?;
            let headers = message.headers.clone().unwrap_or_default();
            Ok(
                match codec::decode(&message.subject, &headers, &message.payload, sequence) {
                    Ok(event) => Stored::Event(event),
                    Err(e) => Stored::Malformed(Parked {
                        stream: name.clone(),
                        sequence,
                        subject: message.subject.to_string(),
                        headers,
                        payload: message.payload.clone(),
                        reason: e.to_string(),
                    }),
                },
            )
        }))
    }

    /// Every message of the log from sequence `from` to sequence `to`, both included, in order;
    /// then the stream ends (at once when `to < from`). For the readers that take in the log as it
    /// stands, `to` being its last sequence when they start.
    pub async fn read_range(
        &self,
        from: u64,
        to: u64,
    ) -> Result<impl Stream<Item = Result<Stored, LogError>> + use<>, LogError> {
        let messages = if to >= from {
            Some(Box::pin(self.follow(from).await?))
        } else {
            None
        };
        Ok(futures::stream::unfold(
            messages,
            move |messages| async move {
                let mut messages = messages?;
                let item = messages.next().await?;
                // Never wait for a message past `to`: the stream ends with the one at `to` (or an error).
                let more = item.as_ref().is_ok_and(|stored| stored.sequence() < to);
                Some((item, more.then_some(messages)))
            },
        ))
    }

    /// Parks a message that `consumer` could not use, with the reason, in `RACCORDO_DEAD`.
    pub async fn dead_letter(&self, consumer: &str, message: &Parked) -> Result<(), LogError> {
        let Parked {
            stream: from_stream,
            sequence,
            subject,
            headers,
            payload,
            reason,
        } = message;
        let bus = |e: &dyn std::fmt::Display| LogError::Bus(format!("dead letters: {e}"));
        self.js
            .get_or_create_stream(stream::Config {
                name: DEAD_STREAM.into(),
                description: Some(
                    "raccordo: messages a consumer could not use, with the reason".into(),
                ),
                subjects: vec![format!("{DEAD_SUBJECTS}.>")],
                storage: StorageType::File,
                num_replicas: self.config.replicas,
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            })
            .await
            .map_err(|e| bus(&e))?;
        let mut parked = headers.clone();
        parked.insert(DEAD_REASON, reason.as_str());
        parked.insert(DEAD_STREAM_HEADER, from_stream.as_str());
        parked.insert(DEAD_SEQUENCE, sequence.to_string().as_str());
        parked.insert(DEAD_SUBJECT, subject.as_str());
        // Parked once per consumer, however often it meets the message.
        parked.insert(
            async_nats::header::NATS_MESSAGE_ID,
            format!("{consumer}.{from_stream}.{sequence}").as_str(),
        );
        self.js
            .publish_with_headers(
                format!("{DEAD_SUBJECTS}.{consumer}"),
                parked,
                payload.clone(),
            )
            .await
            .map_err(|e| bus(&e))?
            .await
            .map_err(|e| bus(&e))?;
        tracing::warn!(
            consumer,
            stream = %from_stream,
            sequence,
            %reason,
            "parked a message in the dead-letter stream"
        );
        Ok(())
    }
}
