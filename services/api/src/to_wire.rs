//! From domain values to wire messages.

use prost_types::value::Kind;
use raccordo_domain::ids::{EventId, PathwayId};
use raccordo_domain::pathway::Applied;
use raccordo_eventlog::inbox::Delivery;
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

/// The reply to an acknowledgement of event `acknowledged`: its receipt as `applied` records it, so
/// acknowledging again gets exactly this again.
pub fn acknowledge_reply(
    pathway: &PathwayId,
    acknowledged: &EventId,
    applied: &Applied,
) -> v1::AcknowledgeReply {
    v1::AcknowledgeReply {
        pathway_id: pathway.to_string(),
        acknowledged_event_id: acknowledged.to_string(),
        receipt_event_id: applied.event_id.to_string(),
        sequence: applied.sequence,
        acknowledged_at: rfc3339(applied.time),
    }
}

/// One inbox message as `Inbox.Subscribe` streams it.
pub fn inbox_message(delivery: &Delivery) -> v1::InboxMessage {
    v1::InboxMessage {
        cursor: delivery.sequence,
        event_id: delivery.event_id.to_string(),
        event_type: delivery.event_type.clone(),
        pathway_id: delivery.pathway.to_string(),
        kind: delivery.pathway.kind().to_string(),
        time: rfc3339(delivery.time),
        source: delivery.source.clone(),
        operator: delivery.operator.clone().unwrap_or_default(),
        view: delivery.view.as_str().to_owned(),
        status: delivery.status.clone(),
        waiting_on: delivery
            .waiting_on
            .iter()
            .map(ToString::to_string)
            .collect(),
        ambito: delivery.ambito.to_string(),
        source_sequence: delivery.source_sequence,
        data: Some(to_struct(delivery.body.clone())),
    }
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .expect("times within year 0-9999 always format")
}

pub(crate) fn to_struct(value: Value) -> prost_types::Struct {
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
