//! The parties' inboxes: stream `RACCORDO_INBOX`, one subject per party and pathway kind
//! (`raccordo.inbox.<party>.<kind>`), each message one event as that party may see it.
//!
//! Exactly one message per (event, party), also across a router crash: every message names the
//! event whose routing produced it (`raccordo-routed-by`). On restart the router starts again at
//! the event the last inbox message names, and for each party skips what that party's subject
//! already holds from it, so nothing is lost or repeated however long the router was down
//! (JetStream's duplicate window, keyed by event and party, covers the same ground within minutes).

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::header::NATS_MESSAGE_ID;
use async_nats::jetstream::stream::{self, StorageType};
use bytes::Bytes;
use raccordo_domain::ids::{AmbitoCode, OrgId, PathwayKind};
use raccordo_domain::pathway::Event;
use raccordo_domain::routing::View;

use crate::{EventLog, LogError, codec};

pub const INBOX_STREAM: &str = "RACCORDO_INBOX";
pub const INBOX_SUBJECTS: &str = "raccordo.inbox";

/// Sequence of the event in the `RACCORDO` log.
pub const SOURCE_SEQUENCE: &str = "raccordo-source-sequence";
/// Sequence of the event whose routing produced the message (differs on a late party's backfill).
pub const ROUTED_BY: &str = "raccordo-routed-by";
pub const PARTY: &str = "raccordo-party";
/// `full` or `aggregate`.
pub const VIEW: &str = "raccordo-view";
/// The pathway's status right after the event.
pub const STATUS: &str = "raccordo-status";
/// Who the pathway waits on after the event, comma-separated organisation ids.
pub const WAITING_ON: &str = "raccordo-waiting-on";
pub const AMBITO: &str = "raccordo-ambito";

/// The subject of one party's inbox for one pathway kind.
pub fn inbox_subject(party: &OrgId, kind: PathwayKind) -> String {
    format!(
        "{INBOX_SUBJECTS}.{}.{}",
        party.subject_token(),
        kind.subject_token()
    )
}

/// Every inbox subject of one party.
pub fn party_subjects(party: &OrgId) -> String {
    format!("{INBOX_SUBJECTS}.{}.>", party.subject_token())
}

/// One event as one party receives it.
#[derive(Debug, Clone)]
pub struct InboxMessage<'a> {
    pub party: &'a OrgId,
    pub view: View,
    pub event: &'a Event,
    pub body: &'a serde_json::Value,
    pub source_sequence: u64,
    pub routed_by: u64,
    pub status: &'a str,
    pub waiting_on: &'a [OrgId],
    pub ambito: &'a AmbitoCode,
}

impl InboxMessage<'_> {
    fn encode(&self) -> (String, HeaderMap, Bytes) {
        let (event_headers, _) = codec::encode(self.event);
        let aggregate = self.view == View::Aggregate;
        let mut headers = HeaderMap::new();
        for (name, values) in event_headers.iter() {
            // Who acted, by name, is no part of an aggregate view: only the kind of organisation.
            if aggregate && AsRef::<str>::as_ref(name) == codec::OPERATOR {
                continue;
            }
            for value in values {
                headers.append(name.clone(), value.clone());
            }
        }
        if aggregate {
            headers.insert(codec::SOURCE, self.event.actor.org.kind().as_str());
        }
        let id = format!("{}.{}", self.event.id, self.party.subject_token());
        headers.insert(NATS_MESSAGE_ID, id.as_str());
        headers.insert(SOURCE_SEQUENCE, self.source_sequence.to_string().as_str());
        headers.insert(ROUTED_BY, self.routed_by.to_string().as_str());
        headers.insert(PARTY, self.party.to_string().as_str());
        headers.insert(
            VIEW,
            match self.view {
                View::Full => "full",
                View::Aggregate => "aggregate",
            },
        );
        headers.insert(STATUS, self.status);
        let waiting: Vec<String> = self.waiting_on.iter().map(ToString::to_string).collect();
        headers.insert(WAITING_ON, waiting.join(",").as_str());
        headers.insert(AMBITO, self.ambito.as_str());
        let body = serde_json::to_vec(self.body).expect("JSON values always serialise");
        (
            inbox_subject(self.party, self.event.pathway.kind()),
            headers,
            Bytes::from(body),
        )
    }
}

/// A stored inbox message's place: which event it carries and which routing produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub source_sequence: u64,
    pub routed_by: u64,
}

fn stamp(headers: &HeaderMap) -> Option<Stamp> {
    let number = |name: &str| headers.get(name)?.as_str().parse().ok();
    Some(Stamp {
        source_sequence: number(SOURCE_SEQUENCE)?,
        routed_by: number(ROUTED_BY)?,
    })
}

/// The inbox stream.
#[derive(Debug, Clone)]
pub struct Inbox {
    log: EventLog,
}

impl EventLog {
    /// Sets up the inbox stream if it is missing.
    pub async fn inbox(&self) -> Result<Inbox, LogError> {
        let config = stream::Config {
            name: INBOX_STREAM.into(),
            description: Some("raccordo: each party's events, as that party may see them".into()),
            subjects: vec![format!("{INBOX_SUBJECTS}.>")],
            storage: StorageType::File,
            num_replicas: self.config.replicas,
            duplicate_window: Duration::from_secs(120),
            deny_delete: true,
            deny_purge: true,
            allow_direct: true,
            ..Default::default()
        };
        self.js
            .get_or_create_stream(config)
            .await
            .map_err(|e| LogError::Stream {
                stream: INBOX_STREAM.into(),
                reason: e.to_string(),
            })?;
        Ok(Inbox { log: self.clone() })
    }
}

impl Inbox {
    /// Publishes messages and waits until JetStream has stored every one.
    pub async fn publish(&self, messages: &[InboxMessage<'_>]) -> Result<(), LogError> {
        let mut acks = Vec::with_capacity(messages.len());
        for message in messages {
            let (subject, headers, body) = message.encode();
            let ack = self
                .log
                .js
                .publish_with_headers(subject, headers, body)
                .await
                .map_err(|e| LogError::Bus(format!("inbox of {}: {e}", message.party)))?;
            acks.push(ack);
        }
        for ack in acks {
            ack.await
                .map_err(|e| LogError::Bus(format!("inbox: {e}")))?;
        }
        Ok(())
    }

    /// The stamp of the last message in the whole inbox stream: where the router resumes.
    pub async fn last(&self) -> Result<Option<Stamp>, LogError> {
        let bus = |e: &dyn std::fmt::Display| LogError::Bus(format!("inbox: {e}"));
        let stream = self.stream().await?;
        let last = self.last_sequence().await?;
        if last == 0 {
            return Ok(None);
        }
        let message = stream.direct_get(last).await.map_err(|e| bus(&e))?;
        Ok(stamp(&message.headers))
    }

    /// The stamp of the last message on one party's subject for one kind.
    pub async fn last_for(
        &self,
        party: &OrgId,
        kind: PathwayKind,
    ) -> Result<Option<Stamp>, LogError> {
        let bus = |e: &dyn std::fmt::Display| LogError::Bus(format!("inbox of {party}: {e}"));
        let stream = self.stream().await?;
        match stream
            .direct_get_last_for_subject(inbox_subject(party, kind))
            .await
        {
            Ok(message) => Ok(stamp(&message.headers)),
            Err(e) if e.kind() == async_nats::jetstream::stream::DirectGetErrorKind::NotFound => {
                Ok(None)
            }
            Err(e) => Err(bus(&e)),
        }
    }
}

/// One stored inbox message, as the party's projector reads it.
#[derive(Debug, Clone)]
pub struct Received {
    pub sequence: u64,
    pub subject: String,
    pub headers: HeaderMap,
    pub payload: Bytes,
}

impl Inbox {
    async fn stream(&self) -> Result<async_nats::jetstream::stream::Stream, LogError> {
        self.log
            .js
            .get_stream(INBOX_STREAM)
            .await
            .map_err(|e| LogError::Bus(format!("inbox: {e}")))
    }

    /// One party's inbox messages from inbox sequence `from` on, in order, then each new one.
    pub async fn follow(
        &self,
        party: &OrgId,
        from: u64,
    ) -> Result<impl futures::Stream<Item = Result<Received, LogError>> + use<>, LogError> {
        use futures::StreamExt;

        let messages = self
            .log
            .ordered(
                INBOX_STREAM,
                party_subjects(party),
                from,
                format!("inbox of {party}"),
            )
            .await?;
        Ok(messages.map(|message| {
            let (sequence, message) = message?;
            Ok(Received {
                sequence,
                subject: message.subject.to_string(),
                headers: message.headers.clone().unwrap_or_default(),
                payload: message.payload.clone(),
            })
        }))
    }

    /// The sequence of the last message in the inbox stream (0 when empty).
    pub async fn last_sequence(&self) -> Result<u64, LogError> {
        let mut stream = self.stream().await?;
        let info = stream
            .info()
            .await
            .map_err(|e| LogError::Bus(format!("inbox: {e}")))?;
        Ok(info.state.last_sequence)
    }
}
