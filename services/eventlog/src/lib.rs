//! The event log on NATS JetStream: the only code in raccordo that knows NATS.
//!
//! One stream, `RACCORDO`, holds every event; each pathway has a subject of its own, so that
//! `Nats-Expected-Last-Subject-Sequence` gives optimistic concurrency per pathway and a pathway's
//! history is read through the server's per-subject index, at a cost that does not grow with the
//! log. Events are never deleted: the stream denies deletes and purges.

pub mod audit;
pub mod codec;
pub mod digests;
mod follow;
mod history;
pub mod inbox;
pub mod raw;
mod trace;

use std::time::Duration;

use async_nats::header::NATS_EXPECTED_LAST_SUBJECT_SEQUENCE;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::stream::{self, StorageType};
use async_nats::jetstream::{self, Context};
use raccordo_domain::ids::PathwayId;
use raccordo_domain::pathway::{DecodeError, Event, EvolveError, Pathway, RecordedEvent};

pub use audit::{AUDIT_STREAM, Audit, AuditEvent, AuditFilter};
pub use digests::{DIGEST_STREAM, Digests, EntryDigest, PathwayDigest};
pub use follow::{DEAD_REASON, DEAD_STREAM, Parked, Stored};
pub use inbox::{Inbox, InboxMessage, Stamp};
pub use trace::{extract_trace, inject_trace};

/// How the log's stream is set up.
#[derive(Debug, Clone)]
pub struct LogConfig {
    pub stream: String,
    /// How long JetStream itself drops a repeated `Nats-Msg-Id`. Retries after it are still
    /// answered without appending, from the pathway's own memory of applied commands.
    pub duplicate_window: Duration,
    /// Copies of the stream in a cluster (1 on a single server).
    pub replicas: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            stream: "RACCORDO".into(),
            duplicate_window: Duration::from_secs(120),
            replicas: 1,
        }
    }
}

/// A connection to NATS: one URL, or several separated by commas for a cluster.
async fn client(url: &str, name: &str) -> Result<async_nats::Client, LogError> {
    let servers: Vec<&str> = url
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    async_nats::ConnectOptions::new()
        .name(name)
        .connect(servers)
        .await
        .map_err(|e| LogError::Connect {
            url: url.to_owned(),
            reason: e.to_string(),
        })
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot reach NATS at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error(
        "nats-server {found} is too old: raccordo needs 2.11 or later (batched direct get of a pathway's history)"
    )]
    ServerTooOld { found: String },
    #[error(
        "JetStream is not enabled on the NATS server, or the stream {stream} cannot be set up: {reason}"
    )]
    Stream { stream: String, reason: String },
    #[error("the event log did not answer: {0}")]
    Bus(String),
    #[error("stream message {sequence} cannot be read: {source}")]
    Decode {
        sequence: u64,
        #[source]
        source: DecodeError,
    },
    #[error(transparent)]
    Evolve(#[from] EvolveError),
}

/// Why an append did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Another event reached the pathway first: decide again on fresh state.
    #[error("pathway {0} changed since it was read")]
    Conflict(PathwayId),
    #[error("the event log did not take the event: {0}")]
    Bus(String),
}

/// What the log did with an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub sequence: u64,
    /// JetStream had already stored a message with this event id (within its duplicate window).
    pub duplicate: bool,
}

/// A connection to the event log.
#[derive(Debug, Clone)]
pub struct EventLog {
    client: async_nats::Client,
    js: Context,
    config: LogConfig,
}

impl EventLog {
    /// Connects to NATS (one URL, or several separated by commas for a cluster) and makes sure
    /// the stream exists with raccordo's settings.
    pub async fn connect(url: &str, config: LogConfig) -> Result<Self, LogError> {
        Self::open(client(url, "raccordo").await?, config).await
    }

    /// Connects to the log of a running deployment as it is: the stream's duplicate window and
    /// replicas are the service's configuration, which a tool (`raccordo project`) keeps instead
    /// of resetting them to the defaults; the defaults if there is no stream yet.
    pub async fn attach(url: &str, name: &str) -> Result<Self, LogError> {
        let client = client(url, name).await?;
        let mut config = LogConfig::default();
        if let Ok(mut stream) = jetstream::new(client.clone())
            .get_stream(&config.stream)
            .await
            && let Ok(info) = stream.info().await
        {
            config.duplicate_window = info.config.duplicate_window;
            config.replicas = info.config.num_replicas;
        }
        Self::open(client, config).await
    }

    /// Uses an existing connection; sets the stream up if it is missing.
    pub async fn open(client: async_nats::Client, config: LogConfig) -> Result<Self, LogError> {
        let version = client.server_info().version;
        if !at_least(&version, (2, 11)) {
            return Err(LogError::ServerTooOld { found: version });
        }
        let js = jetstream::new(client.clone());
        let wanted = stream::Config {
            name: config.stream.clone(),
            description: Some("raccordo: every event of every integrated-care pathway".into()),
            subjects: vec![format!("{}.>", codec::PATHWAY_SUBJECTS)],
            storage: StorageType::File,
            num_replicas: config.replicas,
            duplicate_window: config.duplicate_window,
            deny_delete: true,
            deny_purge: true,
            allow_direct: true,
            ..Default::default()
        };
        let stream_error = |e: &dyn std::fmt::Display| LogError::Stream {
            stream: config.stream.clone(),
            reason: e.to_string(),
        };
        let mut stream = js
            .get_or_create_stream(wanted.clone())
            .await
            .map_err(|e| stream_error(&e))?;
        let info = stream.info().await.map_err(|e| stream_error(&e))?;
        if info.config.duplicate_window != wanted.duplicate_window {
            js.update_stream(wanted)
                .await
                .map_err(|e| stream_error(&e))?;
        }
        Ok(Self { client, js, config })
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Appends an event if its pathway's last stored sequence is still `expected_last`
    /// (0: the pathway has no events yet).
    pub async fn append(
        &self,
        event: &Event,
        expected_last: u64,
        trace: &opentelemetry::Context,
    ) -> Result<Appended, AppendError> {
        let (mut headers, body) = codec::encode(event);
        headers.insert(
            NATS_EXPECTED_LAST_SUBJECT_SEQUENCE,
            expected_last.to_string().as_str(),
        );
        inject_trace(trace, &mut headers);
        let ack = self
            .js
            .publish_with_headers(codec::subject_of(&event.pathway), headers, body)
            .await
            .map_err(|e| AppendError::Bus(e.to_string()))?
            .await;
        match ack {
            Ok(ack) => Ok(Appended {
                sequence: ack.sequence,
                duplicate: ack.duplicate,
            }),
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                Err(AppendError::Conflict(event.pathway.clone()))
            }
            Err(e) => Err(AppendError::Bus(e.to_string())),
        }
    }

    /// Every event of one pathway, in order.
    pub async fn history(&self, pathway: &PathwayId) -> Result<Vec<RecordedEvent>, LogError> {
        history::read(&self.client, &self.config.stream, pathway).await
    }

    /// A pathway rebuilt from the log, with the history it was rebuilt from.
    pub async fn load(
        &self,
        pathway: &PathwayId,
    ) -> Result<(Option<Pathway>, Vec<RecordedEvent>), LogError> {
        let history = self.history(pathway).await?;
        let state = Pathway::fold(&history)?;
        Ok((state, history))
    }

    /// The sequence of the last message in the stream (0 when empty).
    pub async fn last_sequence(&self) -> Result<u64, LogError> {
        let mut stream = self
            .js
            .get_stream(&self.config.stream)
            .await
            .map_err(|e| LogError::Bus(e.to_string()))?;
        let info = stream
            .info()
            .await
            .map_err(|e| LogError::Bus(e.to_string()))?;
        Ok(info.state.last_sequence)
    }
}

/// A stored message with its stream sequence, as an ordered reader yields it.
pub(crate) type Sequenced = (u64, async_nats::jetstream::Message);

impl EventLog {
    /// Every message of `stream` on subjects `filter`, from sequence `from` on, in order, then
    /// each new one: an ordered consumer, which the server recreates by itself after a gap.
    pub(crate) async fn ordered(
        &self,
        stream: &str,
        filter: String,
        from: u64,
        what: String,
    ) -> Result<impl futures::Stream<Item = Result<Sequenced, LogError>> + use<>, LogError> {
        use async_nats::jetstream::consumer::{DeliverPolicy, pull};
        use futures::StreamExt;

        let bus = |e: &dyn std::fmt::Display| LogError::Bus(format!("{what}: {e}"));
        let stream = self.js.get_stream(stream).await.map_err(|e| bus(&e))?;
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: filter,
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: from.max(1),
                },
                ..Default::default()
            })
            .await
            .map_err(|e| bus(&e))?;
        let messages = consumer.messages().await.map_err(|e| bus(&e))?;
        Ok(messages.map(move |message| {
            let bus = |e: &dyn std::fmt::Display| LogError::Bus(format!("{what}: {e}"));
            let message = message.map_err(|e| bus(&e))?;
            let sequence = message.info().map_err(|e| bus(&e))?.stream_sequence;
            Ok((sequence, message))
        }))
    }
}

/// Compares a server version such as `2.12.1` with a (major, minor) minimum.
fn at_least(version: &str, min: (u64, u64)) -> bool {
    let mut parts = version
        .trim_start_matches('v')
        .split(['.', '-'])
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    (major, minor) >= min
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_versions_compare_by_major_and_minor() {
        assert!(at_least("2.12.1", (2, 11)));
        assert!(at_least("2.11.0", (2, 11)));
        assert!(!at_least("2.9.25", (2, 11)));
        assert!(!at_least("2.10.26", (2, 11)));
        assert!(at_least("3.0.0-beta", (2, 11)));
    }
}
