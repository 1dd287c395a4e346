//! Receipts: the delivery ledger every pathway kind shares. A party's case software acknowledges an
//! event it found in its inbox, and the acknowledgement becomes a `receipt` event on the pathway:
//! which party received which event, from whom, and when it was delivered. The receipt's own
//! envelope says who acknowledged it and when.
//!
//! ```text
//! any event but a receipt ─► receipt (one per event and party; any status, terminal ones too)
//! ```
//! A receipt is bookkeeping, not a step of care: it moves no status and changes nobody's turn.
//! Exactly one receipt per (event, party) comes from the command id, which is derived from the
//! acknowledged event, so that the pathway's memory of applied commands answers every later
//! acknowledgement with the first receipt, however late it comes. Receipts are never acknowledged
//! themselves: two parties' software acknowledging each other's receipts would never stop.
//!
//! The edge establishes the delivery: it reads the inbox message the caller names, checks that it
//! sits in the caller's own inbox, and hands its sequence and storage time to the command. This
//! module checks what the pathway itself knows: that the event is one of its own, and no receipt.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::rules::denied;
use super::{Applied, Command, CommandBody, Context, EventData, Pathway, Rejection, event_type};
use crate::ids::{CommandId, EventId, OrgId, OrgKind, PathwayId, PathwayKind};

/// The event's name within each kind: its CloudEvents type is `raccordo.<kind>.receipt.v1`.
pub const NAME: &str = "receipt";

/// The command name, as errors and logs give it.
pub const COMMAND: &str = "acknowledge";

/// Command ids of this form belong to receipts: a client's own command may not take one.
pub(super) const COMMAND_ID_PREFIX: &str = "receipt:";

/// What a receipt's `event_type` may hold: the CloudEvents type of an event of any kind.
const EVENT_TYPE_PATTERN: &str =
    r"^raccordo\.(dimissione_protetta|pua|centro_famiglia)\.[a-z_]+\.v[0-9]+$";

// ---- command ----------------------------------------------------------------------------------

/// A party acknowledges an event delivered to its inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Acknowledge {
    /// The kind of the pathway acknowledged on (the command's pathway id names it too).
    pub kind: PathwayKind,
    /// The event acknowledged.
    pub event_id: EventId,
    /// The inbox message that delivered the event: its sequence in `RACCORDO_INBOX`.
    // The digest of a command covers what it asks for: acknowledging the same event again, from
    // whichever message, asks for the same receipt and gets the first one back.
    #[serde(skip)]
    pub inbox_cursor: u64,
    /// When the inbox stored that message.
    #[serde(skip)]
    pub delivered_at: OffsetDateTime,
}

impl Acknowledge {
    /// The command acknowledging event `event_id` of `pathway`, delivered by inbox message
    /// `inbox_cursor` at `delivered_at`. Its id is derived from the event (see [`command_id`]).
    pub fn command(
        pathway: PathwayId,
        event_id: EventId,
        inbox_cursor: u64,
        delivered_at: OffsetDateTime,
    ) -> Command {
        Command {
            id: command_id(&event_id),
            body: CommandBody::Acknowledge(Self {
                kind: pathway.kind(),
                event_id,
                inbox_cursor,
                delivered_at,
            }),
            pathway: Some(pathway),
        }
    }
}

/// The command id of every acknowledgement of `event_id`: with the acknowledging organisation and
/// the pathway it gives the receipt's event id, so one party's receipt of one event is one event.
pub fn command_id(event_id: &EventId) -> CommandId {
    format!("{COMMAND_ID_PREFIX}{event_id}")
        .parse()
        .expect("the prefix and an event id always make a well-formed command id")
}

/// Whether a CloudEvents type is the type of a receipt, of any kind.
pub fn is_receipt_type(ce_type: &str) -> bool {
    PathwayKind::ALL
        .into_iter()
        .any(|kind| event_type(kind, NAME) == ce_type)
}

// ---- event ------------------------------------------------------------------------------------

/// A party received an event and acknowledged it. The envelope names the party (its source and
/// operator) and the time of the acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The event acknowledged, an event of the same pathway.
    pub event_id: EventId,
    /// Its CloudEvents type.
    #[schemars(pattern(EVENT_TYPE_PATTERN))]
    pub event_type: String,
    /// The organisation that issued the acknowledged event: the receipt is delivered to it.
    pub sender: OrgId,
    /// The inbox message that delivered the event to the party: its sequence in `RACCORDO_INBOX`.
    #[schemars(range(min = 1))]
    pub inbox_cursor: u64,
    /// When the inbox stored that message (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(schema_with = "super::date_time_schema")]
    pub delivered_at: OffsetDateTime,
}

// ---- decide and evolve --------------------------------------------------------------------------

/// Decides an acknowledgement on an existing pathway.
pub(super) fn decide(
    pathway: &Pathway,
    ack: &Acknowledge,
    ctx: &Context<'_>,
) -> Result<EventData, Rejection> {
    let org = &ctx.actor.org;
    if org.kind() == OrgKind::Ats {
        return Err(denied(
            org,
            &pathway.id,
            COMMAND,
            "an ATS follows pathways through their aggregate view and acts on none; receipts are \
             for the parties that take part",
        ));
    }
    if ack.inbox_cursor == 0 {
        return Err(Rejection::invalid(
            "inbox_cursor",
            "0 is no inbox message: inbox sequences start at 1",
        ));
    }
    let refuse = |reason: String| Rejection::NotAcknowledgeable {
        pathway: pathway.id.clone(),
        event_id: ack.event_id.clone(),
        reason,
    };
    let acknowledged = pathway
        .applied
        .get(&ack.event_id)
        .ok_or_else(|| refuse("it is not an event of this pathway".into()))?;
    if is_receipt_type(&acknowledged.event_type) {
        return Err(refuse(format!(
            "it is a receipt ({}); receipts are never acknowledged",
            acknowledged.event_type
        )));
    }
    Ok(EventData::Receipt(
        ack.kind,
        Receipt {
            event_id: ack.event_id.clone(),
            event_type: acknowledged.event_type.clone(),
            sender: acknowledged.org.clone(),
            inbox_cursor: ack.inbox_cursor,
            delivered_at: ack.delivered_at,
        },
    ))
}

/// Checks a receipt read from the log against the pathway it is on: it must acknowledge one of the
/// pathway's earlier events, not a receipt, and name that event's type and sender.
pub(super) fn check(
    applied: &std::collections::BTreeMap<EventId, Applied>,
    receipt: &Receipt,
) -> Result<(), String> {
    let Some(acknowledged) = applied.get(&receipt.event_id) else {
        return Err(format!(
            "it acknowledges event {}, which is not an earlier event of the pathway",
            receipt.event_id
        ));
    };
    if is_receipt_type(&acknowledged.event_type) {
        return Err(format!(
            "it acknowledges receipt {}; receipts are never acknowledged",
            receipt.event_id
        ));
    }
    if acknowledged.event_type != receipt.event_type || acknowledged.org != receipt.sender {
        return Err(format!(
            "it names event {} as {} from {}, but the pathway holds it as {} from {}",
            receipt.event_id,
            receipt.event_type,
            receipt.sender,
            acknowledged.event_type,
            acknowledged.org
        ));
    }
    Ok(())
}
