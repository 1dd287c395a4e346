//! Raw JetStream, with none of raccordo's work: what the benchmarks measure raccordo against in the
//! same run, on the same server (`raccordo bench`). Publishing with acknowledgements and nothing
//! else; reading a stream with an ordered consumer and decoding nothing; one direct get, or all of
//! a subject's messages by batched direct get, decoding nothing. Also the fastest honest way to
//! fill a log for a benchmark: events made by the domain, published without the per-pathway
//! concurrency check, many acknowledgements in flight at once.

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::stream::{self, StorageType};
use bytes::Bytes;
use futures::StreamExt;
use raccordo_domain::pathway::Event;

use crate::{EventLog, LogError, codec};

/// One message as published: subject, headers, payload.
#[derive(Debug, Clone)]
pub struct RawMessage {
    pub subject: String,
    pub headers: HeaderMap,
    pub payload: Bytes,
}

impl RawMessage {
    /// An event's message exactly as an append writes it, without the concurrency and trace
    /// headers that belong to one append.
    pub fn of_event(event: &Event) -> Self {
        let (headers, payload) = codec::encode(event);
        Self {
            subject: codec::subject_of(&event.pathway),
            headers,
            payload,
        }
    }

    /// Bytes on the wire: subject, headers and payload.
    pub fn size(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(name, values)| {
                values
                    .iter()
                    .map(|v| AsRef::<str>::as_ref(name).len() + v.as_str().len() + 4)
                    .sum::<usize>()
            })
            .sum();
        self.subject.len() + headers + self.payload.len()
    }
}

/// Raw access to the log's server.
#[derive(Debug, Clone)]
pub struct Raw {
    log: EventLog,
}

impl EventLog {
    pub fn raw(&self) -> Raw {
        Raw { log: self.clone() }
    }
}

fn bus(what: &str) -> impl Fn(&dyn std::fmt::Display) -> LogError + '_ {
    move |e| LogError::Bus(format!("{what}: {e}"))
}

impl Raw {
    /// Creates (or keeps) a stream on `subjects` with the log's own settings: file storage, the
    /// log's duplicate window and replicas, no deletes, direct get.
    pub async fn stream_like_log(&self, name: &str, subjects: &str) -> Result<(), LogError> {
        let config = stream::Config {
            name: name.to_owned(),
            subjects: vec![subjects.to_owned()],
            storage: StorageType::File,
            num_replicas: self.log.config.replicas,
            duplicate_window: self.log.config.duplicate_window,
            deny_delete: true,
            deny_purge: true,
            allow_direct: true,
            ..Default::default()
        };
        self.log
            .js
            .get_or_create_stream(config)
            .await
            .map_err(|e| bus(name)(&e))?;
        Ok(())
    }

    /// Publishes one message; the future resolves to its stream sequence once stored.
    pub async fn publish(
        &self,
        message: RawMessage,
    ) -> Result<impl Future<Output = Result<u64, LogError>> + use<>, LogError> {
        let ack = self
            .log
            .js
            .publish_with_headers(message.subject, message.headers, message.payload)
            .await
            .map_err(|e| bus("raw publish")(&e))?;
        Ok(acknowledged(ack))
    }

    /// Publishes every message with up to `window` acknowledgements outstanding. Returns the
    /// last sequence.
    pub async fn publish_all(
        &self,
        messages: impl IntoIterator<Item = RawMessage>,
        window: usize,
    ) -> Result<u64, LogError> {
        let mut pending: VecDeque<PublishAckFuture> = VecDeque::with_capacity(window);
        let mut last = 0;
        for message in messages {
            if pending.len() >= window
                && let Some(ack) = pending.pop_front()
            {
                last = acknowledged(ack).await?;
            }
            let ack = self
                .log
                .js
                .publish_with_headers(message.subject, message.headers, message.payload)
                .await
                .map_err(|e| bus("raw publish")(&e))?;
            pending.push_back(ack);
        }
        for ack in pending {
            last = acknowledged(ack).await?;
        }
        Ok(last)
    }

    /// Reads `stream`'s messages on `filter` from sequence `from` up to `to` (included) with an
    /// ordered consumer, decoding nothing; returns how many messages and payload bytes it read.
    pub async fn read(
        &self,
        stream: &str,
        filter: &str,
        from: u64,
        to: u64,
    ) -> Result<(u64, u64), LogError> {
        let what = format!("raw read of {stream}");
        let bus = bus(&what);
        let mut messages = self.ordered(stream, filter, from, &what).await?;
        let (mut count, mut bytes) = (0u64, 0u64);
        while let Some(message) = messages.next().await {
            let message = message.map_err(|e| bus(&e))?;
            count += 1;
            bytes += message.payload.len() as u64;
            let sequence = message.info().map_err(|e| bus(&e))?.stream_sequence;
            if sequence >= to {
                break;
            }
        }
        Ok((count, bytes))
    }

    /// The messages of `stream` from `from` to `to` (included), as stored: what a baseline
    /// publishes again.
    pub async fn messages(
        &self,
        stream: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<RawMessage>, LogError> {
        let what = format!("copy of {stream}");
        let bus = bus(&what);
        let mut messages = self.ordered(stream, "", from, &what).await?;
        let mut out = Vec::new();
        while to >= from
            && let Some(message) = messages.next().await
        {
            let message = message.map_err(|e| bus(&e))?;
            let sequence = message.info().map_err(|e| bus(&e))?.stream_sequence;
            out.push(RawMessage {
                subject: message.subject.to_string(),
                headers: message.headers.clone().unwrap_or_default(),
                payload: message.payload.clone(),
            });
            if sequence >= to {
                break;
            }
        }
        Ok(out)
    }

    /// An ordered consumer's messages of `stream` on `filter` (every subject if empty) from `from`.
    async fn ordered(
        &self,
        stream: &str,
        filter: &str,
        from: u64,
        what: &str,
    ) -> Result<pull::Ordered, LogError> {
        let bus = bus(what);
        let stream = self.log.js.get_stream(stream).await.map_err(|e| bus(&e))?;
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: filter.to_owned(),
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: from.max(1),
                },
                ..Default::default()
            })
            .await
            .map_err(|e| bus(&e))?;
        consumer.messages().await.map_err(|e| bus(&e))
    }

    /// The last message on `subject` in `stream`, by direct get: one round trip to the server's
    /// per-subject index. Returns its sequence.
    pub async fn last_of_subject(&self, stream: &str, subject: &str) -> Result<u64, LogError> {
        let what = format!("direct get on {subject}");
        let bus = bus(&what);
        let stream = self.log.js.get_stream(stream).await.map_err(|e| bus(&e))?;
        let message = stream
            .direct_get_last_for_subject(subject)
            .await
            .map_err(|e| bus(&e))?;
        Ok(message.sequence)
    }

    /// Every message on `subject` in `stream`, by the batched direct get a history read uses
    /// (the same requests on the same connection), nothing decoded: how many there are.
    pub async fn all_of_subject(&self, stream: &str, subject: &str) -> Result<usize, LogError> {
        let what = format!("batched direct get on {subject}");
        let messages =
            crate::history::by_subject(&self.log.client, stream, subject, &what, |_, _| Ok(()))
                .await?;
        Ok(messages.len())
    }

    /// The last sequence of `stream` (0 when empty).
    pub async fn last_sequence(&self, stream: &str) -> Result<u64, LogError> {
        let bus = bus(stream);
        let mut stream = self.log.js.get_stream(stream).await.map_err(|e| bus(&e))?;
        let info = stream.info().await.map_err(|e| bus(&e))?;
        Ok(info.state.last_sequence)
    }
}

async fn acknowledged(ack: PublishAckFuture) -> Result<u64, LogError> {
    // A publish that is never acknowledged is an error, not a hang.
    match tokio::time::timeout(Duration::from_secs(60), ack).await {
        Ok(Ok(ack)) => Ok(ack.sequence),
        Ok(Err(e)) => Err(LogError::Bus(format!("raw publish: {e}"))),
        Err(_) => Err(LogError::Bus(
            "raw publish: no acknowledgement within 60 s".into(),
        )),
    }
}
