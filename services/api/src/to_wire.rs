//! From domain values to wire messages.

use prost_types::value::Kind;
use raccordo_domain::ids::PathwayId;
use raccordo_domain::pathway::{Applied, Pathway, RecordedEvent};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::v1;

/// The reply to an accepted command; a retried command gets exactly this again.
pub fn command_reply(pathway: &PathwayId, applied: &Applied) -> v1::CommandReply {
    v1::CommandReply {
        pathway_id: pathway.to_string(),
        event_id: applied.event_id.to_string(),
        sequence: applied.sequence,
        event_type: applied.event_type.clone(),
        status: applied.status_after.to_owned(),
    }
}

/// A pathway's state and history as the `Pathways` service returns it.
pub fn pathway_message(pathway: &Pathway, history: &[RecordedEvent]) -> v1::Pathway {
    v1::Pathway {
        id: pathway.id.to_string(),
        kind: pathway.kind().to_string(),
        status: pathway.status().to_owned(),
        opened_at: rfc3339(pathway.opened_at),
        updated_at: rfc3339(pathway.updated_at),
        version: pathway.version,
        last_sequence: pathway.last_sequence,
        state: Some(to_struct(pathway.state.to_json())),
        history: history.iter().map(history_event).collect(),
    }
}

fn history_event(recorded: &RecordedEvent) -> v1::HistoryEvent {
    let event = &recorded.event;
    v1::HistoryEvent {
        sequence: recorded.sequence,
        event_id: event.id.to_string(),
        event_type: event.data.event_type(),
        time: rfc3339(event.time),
        source: event.actor.org.to_string(),
        operator: event.actor.operator.to_string(),
        command_id: event.command_id.to_string(),
        data: Some(to_struct(event.data.to_body())),
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .expect("times within year 0-9999 always format")
}

fn to_struct(value: Value) -> prost_types::Struct {
    match to_value(value).kind {
        Some(Kind::StructValue(s)) => s,
        other => prost_types::Struct {
            fields: [("value".to_owned(), prost_types::Value { kind: other })].into(),
        },
    }
}

fn to_value(value: Value) -> prost_types::Value {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s),
        Value::Array(items) => Kind::ListValue(prost_types::ListValue {
            values: items.into_iter().map(to_value).collect(),
        }),
        Value::Object(map) => Kind::StructValue(prost_types::Struct {
            fields: map.into_iter().map(|(k, v)| (k, to_value(v))).collect(),
        }),
    };
    prost_types::Value { kind: Some(kind) }
}
