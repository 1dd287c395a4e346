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
use raccordo_domain::ids::{
    AmbitoCode, CommandId, EventId, OperatorId, OrgId, OrgKind, PathwayId, PathwayKind,
};
use raccordo_domain::pathway::Event;
use raccordo_domain::routing::View;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

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
            // Who acted, by name or by the ids of its own commands, is no part of an aggregate
            // view: only the kind of organisation.
            if aggregate
                && [codec::OPERATOR, codec::COMMAND_ID, codec::COMMAND_DIGEST]
                    .contains(&AsRef::<str>::as_ref(name))
            {
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
        headers.insert(VIEW, self.view.as_str());
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

/// One inbox message read back, parsed and checked: what a party's projector applies and what the
/// gRPC inbox stream hands to a party's software.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Sequence of the message in the `RACCORDO_INBOX` stream.
    pub sequence: u64,
    /// The party the message is for; it agrees with the subject it was stored under.
    pub party: OrgId,
    pub event_id: EventId,
    /// CloudEvents type, e.g. `raccordo.dimissione_protetta.requested.v1`.
    pub event_type: String,
    pub pathway: PathwayId,
    pub time: OffsetDateTime,
    /// Who acted: the organisation id as text in the full view, only its kind (`asst`, `comune`,
    /// …) in the aggregate view.
    pub source: String,
    /// The operator who acted; absent in the aggregate view.
    pub operator: Option<String>,
    /// The client's command id the event came from; absent in the aggregate view.
    pub command_id: Option<String>,
    /// Sequence of the event in the `RACCORDO` log.
    pub source_sequence: u64,
    /// Sequence of the event whose routing produced the message (a late party's backfill is
    /// routed by a later event than the one it carries).
    pub routed_by: u64,
    pub view: View,
    /// The pathway's status right after the event.
    pub status: String,
    pub ambito: AmbitoCode,
    /// Who the pathway waits on right after the event.
    pub waiting_on: Vec<OrgId>,
    /// The event's data as this party may see it: always a JSON object.
    pub body: serde_json::Value,
}

impl Received {
    /// Parses the message into a [`Delivery`], checking every header it needs and that the
    /// message sits on the subject of the party and pathway kind it names. The error names the
    /// header or field that is missing or wrong, for the dead-letter stream and the operator.
    pub fn delivery(&self) -> Result<Delivery, String> {
        let headers = &self.headers;
        let party: OrgId = parsed(headers, PARTY, str::parse)?;
        let kind = self.subject_kind(&party)?;

        let spec = required(headers, codec::SPECVERSION)?;
        if spec != "1.0" {
            return Err(format!(
                "header {}: unsupported CloudEvents version '{}'",
                codec::SPECVERSION,
                clip(spec)
            ));
        }
        let event_id: EventId = parsed(headers, codec::ID, str::parse)?;
        let pathway: PathwayId = parsed(headers, codec::SUBJECT, str::parse)?;
        if pathway.kind() != kind {
            return Err(format!(
                "header {}: pathway {pathway} is a {} pathway, on the {kind} subject {}",
                codec::SUBJECT,
                pathway.kind(),
                self.subject
            ));
        }
        let event_type = required(headers, codec::TYPE)?;
        let type_prefix = format!("raccordo.{}.", kind.subject_token());
        if !event_type.starts_with(&type_prefix) || event_type.len() == type_prefix.len() {
            return Err(format!(
                "header {}: '{}' is not an event type of a {kind} pathway (raccordo.{}.<name>.v<n>)",
                codec::TYPE,
                clip(event_type),
                kind.subject_token()
            ));
        }
        let time = parsed(headers, codec::TIME, |t| OffsetDateTime::parse(t, &Rfc3339))?;

        let view = match required(headers, VIEW)? {
            "full" => View::Full,
            "aggregate" => View::Aggregate,
            other => {
                return Err(format!(
                    "header {VIEW}: '{}' is neither 'full' nor 'aggregate'",
                    clip(other)
                ));
            }
        };
        let source = required(headers, codec::SOURCE)?;
        let operator = optional(headers, codec::OPERATOR);
        match view {
            View::Full => {
                source
                    .parse::<OrgId>()
                    .map_err(|e| format!("header {}: {e}", codec::SOURCE))?;
                let operator = operator.ok_or_else(|| missing(codec::OPERATOR))?;
                operator
                    .parse::<OperatorId>()
                    .map_err(|e| format!("header {}: {e}", codec::OPERATOR))?;
            }
            View::Aggregate => {
                // Least data: the aggregate view names only the kind of organisation that acted.
                if !OrgKind::ALL.iter().any(|k| k.as_str() == source) {
                    return Err(format!(
                        "header {}: '{}' is not a kind of organisation, as the aggregate view \
                         must carry",
                        codec::SOURCE,
                        clip(source)
                    ));
                }
                if operator.is_some() {
                    return Err(format!(
                        "header {}: present in an aggregate view, which must not name the operator",
                        codec::OPERATOR
                    ));
                }
            }
        }
        let command_id = optional(headers, codec::COMMAND_ID)
            .map(|id| {
                id.parse::<CommandId>()
                    .map(String::from)
                    .map_err(|e| format!("header {}: {e}", codec::COMMAND_ID))
            })
            .transpose()?;

        let source_sequence: u64 = parsed(headers, SOURCE_SEQUENCE, str::parse)?;
        if source_sequence == 0 {
            return Err(format!(
                "header {SOURCE_SEQUENCE}: 0 is no sequence of the log (they start at 1)"
            ));
        }
        let routed_by: u64 = parsed(headers, ROUTED_BY, str::parse)?;
        if routed_by < source_sequence {
            return Err(format!(
                "header {ROUTED_BY}: {routed_by} is before the event it carries \
                 ({SOURCE_SEQUENCE} {source_sequence}); an event is routed at or after its place"
            ));
        }
        let status = required(headers, STATUS)?;
        if status.is_empty() {
            return Err(format!("header {STATUS}: empty"));
        }
        let ambito: AmbitoCode = parsed(headers, AMBITO, str::parse)?;
        let waiting_on = optional(headers, WAITING_ON)
            .ok_or_else(|| missing(WAITING_ON))?
            .split(',')
            .filter(|org| !org.is_empty())
            .map(|org| {
                org.parse::<OrgId>()
                    .map_err(|e| format!("header {WAITING_ON}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;

        let body: serde_json::Value =
            serde_json::from_slice(&self.payload).map_err(|e| format!("body: not JSON: {e}"))?;
        if !body.is_object() {
            return Err(format!(
                "body: the event's data must be a JSON object, found {}",
                json_kind(&body)
            ));
        }

        Ok(Delivery {
            sequence: self.sequence,
            party,
            event_id,
            event_type: event_type.to_owned(),
            pathway,
            time,
            source: source.to_owned(),
            operator: operator.map(str::to_owned),
            command_id,
            source_sequence,
            routed_by,
            view,
            status: status.to_owned(),
            ambito,
            waiting_on,
            body,
        })
    }

    /// The pathway kind of the subject, which must be `raccordo.inbox.<party>.<kind>` for `party`.
    fn subject_kind(&self, party: &OrgId) -> Result<PathwayKind, String> {
        let expected = format!("{INBOX_SUBJECTS}.<party>.<kind>");
        let rest = self
            .subject
            .strip_prefix(INBOX_SUBJECTS)
            .and_then(|rest| rest.strip_prefix('.'))
            .ok_or_else(|| {
                format!(
                    "subject {} is not an inbox subject ({expected})",
                    self.subject
                )
            })?;
        let Some((token, kind)) = rest.split_once('.') else {
            return Err(format!(
                "subject {} is not an inbox subject ({expected})",
                self.subject
            ));
        };
        if token != party.subject_token() {
            return Err(format!(
                "header {PARTY}: {party} (token {}) is not the party of subject {}",
                party.subject_token(),
                self.subject
            ));
        }
        PathwayKind::from_subject_token(kind).ok_or_else(|| {
            format!(
                "subject {}: '{}' is not a pathway kind",
                self.subject,
                clip(kind)
            )
        })
    }
}

fn missing(name: &str) -> String {
    format!("header {name} is missing")
}

fn optional<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|value| value.as_str())
}

fn required<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, String> {
    optional(headers, name).ok_or_else(|| missing(name))
}

fn parsed<T, E: std::fmt::Display>(
    headers: &HeaderMap,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, String> {
    let value = required(headers, name)?;
    parse(value).map_err(|e| format!("header {name} '{}': {e}", clip(value)))
}

/// A value cut short enough for an error message: a pasted blob must not flood a log line.
fn clip(value: &str) -> String {
    if value.chars().count() <= 80 {
        value.to_owned()
    } else {
        value.chars().take(80).chain("…".chars()).collect()
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
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

    /// The inbox sequence of one party's last message, on any of its subjects (0 when it has
    /// none): how far its projector reads to be caught up, however far other parties' messages
    /// run on after it.
    pub async fn last_sequence_of(&self, party: &OrgId) -> Result<u64, LogError> {
        use async_nats::jetstream::stream::LastRawMessageErrorKind;

        let stream = self.stream().await?;
        match stream
            .get_last_raw_message_by_subject(&party_subjects(party))
            .await
        {
            Ok(message) => Ok(message.sequence),
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(0),
            Err(e) => Err(LogError::Bus(format!("inbox of {party}: {e}"))),
        }
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

    /// The inbox message at `sequence`, read directly (no consumer), with the time the inbox
    /// stored it: when the event was delivered to its party. `None` if the stream holds no
    /// message there (0, past the end).
    pub async fn get(&self, sequence: u64) -> Result<Option<(Received, OffsetDateTime)>, LogError> {
        use async_nats::jetstream::stream::DirectGetErrorKind;

        if sequence == 0 {
            return Ok(None);
        }
        let stream = self.stream().await?;
        match stream.direct_get(sequence).await {
            Ok(message) => Ok(Some((
                Received {
                    sequence: message.sequence,
                    subject: message.subject.to_string(),
                    headers: message.headers,
                    payload: message.payload,
                },
                message.time,
            ))),
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(None),
            Err(e) => Err(LogError::Bus(format!("inbox message {sequence}: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use raccordo_domain::pathway::{Actor, EventData};
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    fn org(text: &str) -> OrgId {
        text.parse().unwrap()
    }

    fn event() -> Event {
        Event {
            id: "0123456789abcdef0123456789abcdef".parse().unwrap(),
            pathway: "dp-0123456789abcdef0123".parse().unwrap(),
            command_id: "cmd-42".parse().unwrap(),
            command_digest: "ffee".into(),
            actor: Actor {
                org: org("comune:magenta"),
                operator: "servizio.sociale".parse().unwrap(),
            },
            time: datetime!(2026-03-02 10:15:30.5 +1),
            data: EventData::from_type_and_body(
                "raccordo.dimissione_protetta.received.v1",
                json!({"received_by": "comune:magenta"}),
            )
            .unwrap(),
        }
    }

    /// The message the router writes for `party` with `view`, as the projector reads it back.
    fn received(party: &OrgId, view: View) -> Received {
        let event = event();
        let body = json!({"received_by": "comune:magenta", "nested": {"b": 1, "a": [1, 2]}});
        let waiting = [org("asst:705"), org("ente:ipis")];
        let ambito: AmbitoCode = "50032".parse().unwrap();
        let (subject, headers, payload) = InboxMessage {
            party,
            view,
            event: &event,
            body: &body,
            source_sequence: 17,
            routed_by: 21,
            status: "received",
            waiting_on: &waiting,
            ambito: &ambito,
        }
        .encode();
        Received {
            sequence: 9,
            subject,
            headers,
            payload,
        }
    }

    fn full() -> Received {
        received(&org("asst:705"), View::Full)
    }

    fn without(mut message: Received, header: &str) -> Received {
        let mut headers = HeaderMap::new();
        for (name, values) in message.headers.iter() {
            if AsRef::<str>::as_ref(name) != header {
                for value in values {
                    headers.append(name.clone(), value.clone());
                }
            }
        }
        message.headers = headers;
        message
    }

    fn with(mut message: Received, header: &'static str, value: &str) -> Received {
        message.headers.insert(header, value);
        message
    }

    fn refused(message: Received) -> String {
        match message.delivery() {
            Ok(delivery) => panic!("accepted a malformed message: {delivery:?}"),
            Err(reason) => reason,
        }
    }

    #[test]
    fn a_full_view_message_reads_back_as_written() {
        let delivery = full().delivery().unwrap();
        let event = event();
        assert_eq!(
            delivery,
            Delivery {
                sequence: 9,
                party: org("asst:705"),
                event_id: event.id.clone(),
                event_type: "raccordo.dimissione_protetta.received.v1".into(),
                pathway: event.pathway.clone(),
                time: event.time,
                source: "comune:magenta".into(),
                operator: Some("servizio.sociale".into()),
                command_id: Some("cmd-42".into()),
                source_sequence: 17,
                routed_by: 21,
                view: View::Full,
                status: "received".into(),
                ambito: "50032".parse().unwrap(),
                waiting_on: vec![org("asst:705"), org("ente:ipis")],
                body: json!({"received_by": "comune:magenta", "nested": {"b": 1, "a": [1, 2]}}),
            }
        );
    }

    #[test]
    fn an_aggregate_view_message_names_only_the_kind_that_acted_and_no_operator_or_command() {
        let delivery = received(&org("ats:321"), View::Aggregate)
            .delivery()
            .unwrap();
        assert_eq!(delivery.view, View::Aggregate);
        assert_eq!(delivery.party, org("ats:321"));
        assert_eq!(delivery.source, "comune");
        assert_eq!(delivery.operator, None);
        assert_eq!(delivery.command_id, None);
    }

    #[test]
    fn nobody_waiting_reads_as_an_empty_list() {
        let delivery = with(full(), WAITING_ON, "").delivery().unwrap();
        assert!(delivery.waiting_on.is_empty());
    }

    #[test]
    fn every_required_header_missing_is_named() {
        for header in [
            PARTY,
            codec::SPECVERSION,
            codec::ID,
            codec::TYPE,
            codec::SOURCE,
            codec::SUBJECT,
            codec::TIME,
            codec::OPERATOR,
            SOURCE_SEQUENCE,
            ROUTED_BY,
            VIEW,
            STATUS,
            WAITING_ON,
            AMBITO,
        ] {
            let reason = refused(without(full(), header));
            assert_eq!(reason, format!("header {header} is missing"));
        }
        // The command id is optional, but never malformed.
        assert_eq!(
            without(full(), codec::COMMAND_ID)
                .delivery()
                .unwrap()
                .command_id,
            None
        );
    }

    #[test]
    fn every_malformed_header_is_named_with_its_value() {
        let cases: [(&'static str, &str); 13] = [
            (PARTY, "asst:999"),
            (codec::SPECVERSION, "0.3"),
            (codec::ID, "not-hex"),
            (codec::TYPE, "raccordo.pua.closed.v1"),
            (codec::SOURCE, "someone"),
            (codec::SUBJECT, "dp-xyz"),
            (codec::TIME, "yesterday"),
            (codec::OPERATOR, "has space"),
            (codec::COMMAND_ID, "has space"),
            (SOURCE_SEQUENCE, "-1"),
            (VIEW, "partial"),
            (WAITING_ON, "asst:705,nobody"),
            (AMBITO, "123"),
        ];
        for (header, value) in cases {
            let reason = refused(with(full(), header, value));
            assert!(
                reason.starts_with(&format!("header {header}")),
                "{header}={value}: {reason}"
            );
        }
        for (header, value) in [(ROUTED_BY, "x"), (STATUS, "")] {
            let reason = refused(with(full(), header, value));
            assert!(reason.starts_with(&format!("header {header}")), "{reason}");
        }
        let reason = refused(with(full(), SOURCE_SEQUENCE, "0"));
        assert!(reason.contains("0 is no sequence"), "{reason}");
        let reason = refused(with(full(), ROUTED_BY, "16"));
        assert!(
            reason.starts_with(&format!("header {ROUTED_BY}: 16 is before")),
            "{reason}"
        );
    }

    #[test]
    fn the_party_must_be_the_subject_s_party() {
        let reason = refused(with(full(), PARTY, "asst:707"));
        assert_eq!(
            reason,
            "header raccordo-party: asst:707 (token asst_707) is not the party of subject \
             raccordo.inbox.asst_705.dimissione_protetta"
        );
    }

    #[test]
    fn the_subject_must_be_an_inbox_subject_of_the_pathway_s_kind() {
        let mut message = full();
        message.subject = "raccordo.inbox.asst_705.pua".into();
        let reason = refused(message);
        assert!(
            reason.starts_with("header ce-subject: pathway dp-0123456789abcdef0123 is a dimissione_protetta pathway"),
            "{reason}"
        );
        let mut message = full();
        message.subject = "raccordo.inbox.asst_705.unknown".into();
        assert_eq!(
            refused(message),
            "subject raccordo.inbox.asst_705.unknown: 'unknown' is not a pathway kind"
        );
        let mut message = full();
        message.subject = "raccordo.pathway.dimissione_protetta.x".into();
        assert!(
            refused(message).starts_with(
                "subject raccordo.pathway.dimissione_protetta.x is not an inbox subject"
            )
        );
    }

    #[test]
    fn an_aggregate_view_naming_an_organisation_or_an_operator_is_refused() {
        let aggregate = received(&org("ats:321"), View::Aggregate);
        let reason = refused(with(aggregate.clone(), codec::SOURCE, "comune:magenta"));
        assert!(
            reason.starts_with("header ce-source: 'comune:magenta' is not a kind"),
            "{reason}"
        );
        let reason = refused(with(aggregate, codec::OPERATOR, "someone"));
        assert!(reason.starts_with("header ce-raccordooperator: present in an aggregate view"));
    }

    #[test]
    fn the_body_must_be_a_json_object() {
        let mut message = full();
        message.payload = Bytes::from_static(b"{not json");
        assert!(refused(message).starts_with("body: not JSON: "));
        let mut message = full();
        message.payload = Bytes::from_static(b"[1, 2]");
        assert_eq!(
            refused(message),
            "body: the event's data must be a JSON object, found an array"
        );
    }
}
