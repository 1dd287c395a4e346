//! Events on the bus: CloudEvents 1.0 in binary mode over NATS headers, with the event's data as
//! the JSON body, so that case software in any language can read them with a stock NATS client.

use async_nats::HeaderMap;
use async_nats::header::NATS_MESSAGE_ID;
use bytes::Bytes;
use raccordo_domain::ids::{PathwayId, PathwayKind};
use raccordo_domain::pathway::{Actor, DecodeError, Event, EventData, RecordedEvent};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub const SPECVERSION: &str = "ce-specversion";
pub const ID: &str = "ce-id";
pub const TYPE: &str = "ce-type";
pub const SOURCE: &str = "ce-source";
pub const SUBJECT: &str = "ce-subject";
pub const TIME: &str = "ce-time";
pub const CONTENT_TYPE: &str = "content-type";
/// CloudEvents extension attributes (lowercase letters and digits only, as the spec requires).
pub const OPERATOR: &str = "ce-raccordooperator";
pub const COMMAND_ID: &str = "ce-raccordocommandid";
pub const COMMAND_DIGEST: &str = "ce-raccordocommanddigest";

/// The prefix of every pathway subject: `raccordo.pathway.<kind>.<pathway id>`.
pub const PATHWAY_SUBJECTS: &str = "raccordo.pathway";

/// The subject that holds one pathway's events, and nothing else.
pub fn subject_of(pathway: &PathwayId) -> String {
    format!(
        "{PATHWAY_SUBJECTS}.{}.{pathway}",
        pathway.kind().subject_token()
    )
}

/// The wildcard subject of every pathway of one kind.
pub fn subjects_of_kind(kind: PathwayKind) -> String {
    format!("{PATHWAY_SUBJECTS}.{}.*", kind.subject_token())
}

/// The headers and body of an event's bus message (without the trace context or the
/// concurrency headers, which belong to one particular append).
pub fn encode(event: &Event) -> (HeaderMap, Bytes) {
    let mut headers = HeaderMap::new();
    headers.insert(SPECVERSION, "1.0");
    headers.insert(ID, event.id.as_str());
    headers.insert(TYPE, event.data.event_type().as_str());
    headers.insert(SOURCE, event.actor.org.to_string().as_str());
    headers.insert(SUBJECT, event.pathway.as_str());
    headers.insert(TIME, rfc3339(event.time).as_str());
    headers.insert(CONTENT_TYPE, "application/json");
    headers.insert(OPERATOR, event.actor.operator.as_str());
    headers.insert(COMMAND_ID, event.command_id.as_str());
    headers.insert(COMMAND_DIGEST, event.command_digest.as_str());
    headers.insert(NATS_MESSAGE_ID, event.id.as_str());
    let body = serde_json::to_vec(&event.data.to_body()).expect("JSON values always serialise");
    (headers, Bytes::from(body))
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .expect("times within year 0-9999 always format")
}

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, DecodeError> {
    headers
        .get(name)
        .map(|v| v.as_str())
        .ok_or(DecodeError::Header {
            header: name,
            reason: "missing".into(),
        })
}

fn parsed<T, E: std::fmt::Display>(
    headers: &HeaderMap,
    name: &'static str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, DecodeError> {
    parse(header(headers, name)?).map_err(|e| DecodeError::Header {
        header: name,
        reason: e.to_string(),
    })
}

/// Reads an event back from a stored message. `subject` is the NATS subject it was stored
/// under, which must agree with the event's own pathway.
pub fn decode(
    subject: &str,
    headers: &HeaderMap,
    body: &[u8],
    sequence: u64,
) -> Result<RecordedEvent, DecodeError> {
    let spec = header(headers, SPECVERSION)?;
    if spec != "1.0" {
        return Err(DecodeError::Header {
            header: SPECVERSION,
            reason: format!("unsupported version '{spec}'"),
        });
    }
    let pathway: PathwayId = parsed(headers, SUBJECT, str::parse)?;
    if subject != subject_of(&pathway) {
        return Err(DecodeError::Header {
            header: SUBJECT,
            reason: format!("pathway {pathway} does not belong on subject {subject}"),
        });
    }
    let event_type = header(headers, TYPE)?;
    let body: serde_json::Value = serde_json::from_slice(body).map_err(|e| DecodeError::Body {
        event_type: event_type.to_owned(),
        reason: format!("not JSON: {e}"),
    })?;
    let data = EventData::from_type_and_body(event_type, body)?;
    if data.kind() != pathway.kind() {
        return Err(DecodeError::Header {
            header: TYPE,
            reason: format!("a {} event on a {} pathway", data.kind(), pathway.kind()),
        });
    }
    let event = Event {
        id: parsed(headers, ID, str::parse)?,
        pathway,
        command_id: parsed(headers, COMMAND_ID, str::parse)?,
        command_digest: header(headers, COMMAND_DIGEST)?.to_owned(),
        actor: Actor {
            org: parsed(headers, SOURCE, str::parse)?,
            operator: parsed(headers, OPERATOR, str::parse)?,
        },
        time: parsed(headers, TIME, |t| OffsetDateTime::parse(t, &Rfc3339))?,
        data,
    };
    Ok(RecordedEvent { sequence, event })
}

/// Reads an event from a direct-get reply, whose headers also name the stored subject and sequence.
pub fn decode_stored(headers: &HeaderMap, body: &[u8]) -> Result<RecordedEvent, DecodeError> {
    let subject = header(headers, "Nats-Subject")?;
    let sequence = parsed(headers, "Nats-Sequence", str::parse::<u64>)?;
    decode(subject, headers, body, sequence)
}
