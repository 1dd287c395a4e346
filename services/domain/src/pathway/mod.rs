//! What every pathway kind shares: the command and event envelopes, the generic pathway state that
//! remembers which commands it has applied, and the single `decide` / `evolve` pair the services
//! call. Each kind's own life (its commands, events, states and transitions) is in its own file.

pub mod centro_famiglia;
pub mod dimissione_protetta;
pub mod finding;
pub mod pua;
pub mod receipt;
mod rules;

use std::collections::BTreeMap;
use std::fmt;

use schemars::Schema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::ids::{CommandId, EventId, OperatorId, OrgId, PathwayId, PathwayKind};
use crate::registry::Registry;

pub use rules::{Participant, Role};

/// Who issued a command: the organisation and the operator acting for it, as authenticated at
/// the edge. Never taken from the request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub org: OrgId,
    pub operator: OperatorId,
}

/// Everything a decision may look at besides the pathway's state.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub actor: &'a Actor,
    pub now: OffsetDateTime,
    pub registry: &'a Registry,
}

/// One command as the domain sees it: typed, authenticated, not yet decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Command {
    pub id: CommandId,
    /// The pathway acted on; `None` for a command that opens a new pathway.
    pub pathway: Option<PathwayId>,
    pub body: CommandBody,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandBody {
    DimissioneProtetta(dimissione_protetta::Command),
    Pua(pua::Command),
    CentroFamiglia(centro_famiglia::Command),
    /// A party acknowledges an event of a pathway of any kind (see [`receipt`]).
    Acknowledge(receipt::Acknowledge),
    /// The reconciler records a finding on a pathway of any kind (see [`finding`]).
    RecordFinding(Box<finding::RecordFinding>),
}

impl CommandBody {
    pub fn kind(&self) -> PathwayKind {
        match self {
            Self::DimissioneProtetta(_) => PathwayKind::DimissioneProtetta,
            Self::Pua(_) => PathwayKind::Pua,
            Self::CentroFamiglia(_) => PathwayKind::CentroFamiglia,
            Self::Acknowledge(a) => a.kind,
            Self::RecordFinding(f) => f.kind,
        }
    }

    /// The command's name as operators read it in errors, e.g. `record_discharge`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::DimissioneProtetta(c) => c.name(),
            Self::Pua(c) => c.name(),
            Self::CentroFamiglia(c) => c.name(),
            Self::Acknowledge(_) => receipt::COMMAND,
            Self::RecordFinding(_) => finding::COMMAND,
        }
    }

    pub fn opens_pathway(&self) -> bool {
        match self {
            Self::DimissioneProtetta(c) => c.opens_pathway(),
            Self::Pua(c) => c.opens_pathway(),
            Self::CentroFamiglia(c) => c.opens_pathway(),
            Self::Acknowledge(_) | Self::RecordFinding(_) => false,
        }
    }
}

impl From<dimissione_protetta::Command> for CommandBody {
    fn from(command: dimissione_protetta::Command) -> Self {
        Self::DimissioneProtetta(command)
    }
}

impl From<pua::Command> for CommandBody {
    fn from(command: pua::Command) -> Self {
        Self::Pua(command)
    }
}

impl From<centro_famiglia::Command> for CommandBody {
    fn from(command: centro_famiglia::Command) -> Self {
        Self::CentroFamiglia(command)
    }
}

impl From<receipt::Acknowledge> for CommandBody {
    fn from(command: receipt::Acknowledge) -> Self {
        Self::Acknowledge(command)
    }
}

impl Command {
    /// A fingerprint of what the command asks for, so that a command id reused for a different
    /// command is caught instead of silently answered with the first command's result.
    pub fn digest(&self) -> String {
        let body = serde_json::to_vec(&(&self.pathway, &self.body))
            .expect("commands always serialise to JSON");
        hex::encode(&Sha256::digest(body)[..16])
    }
}

/// The type-specific content of an event: the JSON body of its bus message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventData {
    DimissioneProtetta(dimissione_protetta::Event),
    Pua(pua::Event),
    CentroFamiglia(centro_famiglia::Event),
    /// A party's receipt of an event, on a pathway of the given kind: every kind has the same.
    Receipt(PathwayKind, receipt::Receipt),
    /// A finding of the reconciler about a pathway of the given kind: every kind has the same.
    Finding(PathwayKind, Box<finding::Finding>),
}

/// Why a bus message could not be read as an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type '{0}'")]
    UnknownType(String),
    #[error("event type '{event_type}': {reason}")]
    Body { event_type: String, reason: String },
    #[error("missing or invalid header {header}: {reason}")]
    Header {
        header: &'static str,
        reason: String,
    },
}

const TYPE_PREFIX: &str = "raccordo.";
const TYPE_VERSION: &str = ".v1";

impl EventData {
    pub fn kind(&self) -> PathwayKind {
        match self {
            Self::DimissioneProtetta(_) => PathwayKind::DimissioneProtetta,
            Self::Pua(_) => PathwayKind::Pua,
            Self::CentroFamiglia(_) => PathwayKind::CentroFamiglia,
            Self::Receipt(kind, _) | Self::Finding(kind, _) => *kind,
        }
    }

    /// The event's name within its kind, e.g. `requested`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::DimissioneProtetta(e) => e.name(),
            Self::Pua(e) => e.name(),
            Self::CentroFamiglia(e) => e.name(),
            Self::Receipt(..) => receipt::NAME,
            Self::Finding(..) => finding::NAME,
        }
    }

    /// Whether the event is a receipt: bookkeeping that moves no status (see [`receipt`]).
    pub fn is_receipt(&self) -> bool {
        matches!(self, Self::Receipt(..))
    }

    /// Whether the event is a finding of the reconciler (see [`finding`]).
    pub fn is_finding(&self) -> bool {
        matches!(self, Self::Finding(..))
    }

    /// Whether the event is bookkeeping about the pathway (a receipt or a finding) rather than a
    /// step of care: it moves no status and does not count as the pathway being updated.
    pub fn is_bookkeeping(&self) -> bool {
        self.is_receipt() || self.is_finding()
    }

    /// The CloudEvents type, e.g. `raccordo.dimissione_protetta.requested.v1`.
    pub fn event_type(&self) -> String {
        event_type(self.kind(), self.name())
    }

    /// The JSON body carried on the bus (CloudEvents binary mode: the data only).
    pub fn to_body(&self) -> Value {
        let tagged = match self {
            Self::DimissioneProtetta(e) => serde_json::to_value(e),
            Self::Pua(e) => serde_json::to_value(e),
            Self::CentroFamiglia(e) => serde_json::to_value(e),
            // Not tagged by a kind's enum: its body is the receipt itself.
            Self::Receipt(_, r) => return serde_json::to_value(r).expect("receipts serialise"),
            Self::Finding(_, f) => return serde_json::to_value(f).expect("findings serialise"),
        }
        .expect("events always serialise to JSON");
        match tagged {
            Value::Object(map) => map.into_iter().next().map(|(_, v)| v).unwrap_or_default(),
            other => other,
        }
    }

    /// Reads an event from its CloudEvents type and JSON body.
    pub fn from_type_and_body(event_type: &str, body: Value) -> Result<Self, DecodeError> {
        let unknown = || DecodeError::UnknownType(event_type.chars().take(120).collect());
        let (kind, name) = event_type
            .strip_prefix(TYPE_PREFIX)
            .and_then(|t| t.strip_suffix(TYPE_VERSION))
            .and_then(|t| t.split_once('.'))
            .ok_or_else(unknown)?;
        let kind = PathwayKind::from_subject_token(kind).ok_or_else(unknown)?;
        let body_error = |e: serde_json::Error| DecodeError::Body {
            event_type: event_type.to_owned(),
            reason: e.to_string(),
        };
        if name == receipt::NAME {
            return serde_json::from_value(body)
                .map(|r| Self::Receipt(kind, r))
                .map_err(body_error);
        }
        if name == finding::NAME {
            return serde_json::from_value(body)
                .map(|f| Self::Finding(kind, Box::new(f)))
                .map_err(body_error);
        }
        let tagged = Value::Object([(name.to_owned(), body)].into_iter().collect());
        let known = |names: &[&str]| names.contains(&name);
        match kind {
            PathwayKind::DimissioneProtetta if known(dimissione_protetta::Event::NAMES) => {
                serde_json::from_value(tagged).map(Self::DimissioneProtetta)
            }
            PathwayKind::Pua if known(pua::Event::NAMES) => {
                serde_json::from_value(tagged).map(Self::Pua)
            }
            PathwayKind::CentroFamiglia if known(centro_famiglia::Event::NAMES) => {
                serde_json::from_value(tagged).map(Self::CentroFamiglia)
            }
            _ => return Err(unknown()),
        }
        .map_err(body_error)
    }

    /// Every event type with the JSON Schema of its body, for the published contracts.
    pub fn schemas() -> Vec<(String, Schema)> {
        let kinds = [
            (
                PathwayKind::DimissioneProtetta,
                dimissione_protetta::Event::schemas(),
            ),
            (PathwayKind::Pua, pua::Event::schemas()),
            (
                PathwayKind::CentroFamiglia,
                centro_famiglia::Event::schemas(),
            ),
        ];
        // Every kind has the same receipt, published once per kind under the kind's own type.
        let receipt_schema =
            || schemars::SchemaGenerator::default().into_root_schema_for::<receipt::Receipt>();
        let finding_schema =
            || schemars::SchemaGenerator::default().into_root_schema_for::<finding::Finding>();
        kinds
            .into_iter()
            .map(|(kind, mut schemas)| {
                schemas.push((receipt::NAME, receipt_schema()));
                schemas.push((finding::NAME, finding_schema()));
                (kind, schemas)
            })
            .flat_map(|(kind, schemas)| {
                schemas.into_iter().map(move |(name, mut schema)| {
                    let event_type = event_type(kind, name);
                    // Each file names itself: generators would otherwise see three "Closed".
                    schema.insert("$id".into(), format!("{event_type}.schema.json").into());
                    schema.insert("title".into(), event_type.clone().into());
                    (event_type, schema)
                })
            })
            .collect()
    }
}

pub fn event_type(kind: PathwayKind, name: &str) -> String {
    format!("{TYPE_PREFIX}{}.{name}{TYPE_VERSION}", kind.subject_token())
}

/// The statuses a pathway of `kind` can be in, by their wire names.
pub fn statuses(kind: PathwayKind) -> Vec<&'static str> {
    match kind {
        PathwayKind::DimissioneProtetta => dimissione_protetta::Status::ALL
            .iter()
            .map(|s| s.as_str())
            .collect(),
        PathwayKind::Pua => pua::Status::ALL.iter().map(|s| s.as_str()).collect(),
        PathwayKind::CentroFamiglia => centro_famiglia::Status::ALL
            .iter()
            .map(|s| s.as_str())
            .collect(),
    }
}

/// One event with its envelope. On the bus the envelope travels in CloudEvents headers and the
/// data in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: EventId,
    pub pathway: PathwayId,
    pub command_id: CommandId,
    pub command_digest: String,
    pub actor: Actor,
    pub time: OffsetDateTime,
    pub data: EventData,
}

/// An event as read back from the log, with the stream sequence the log gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub sequence: u64,
    pub event: Event,
}

/// What a command already applied to a pathway produced: the answer a retry gets again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub event_id: EventId,
    /// The organisation whose command it was: the event's source.
    pub org: OrgId,
    /// When the event was decided.
    pub time: OffsetDateTime,
    pub sequence: u64,
    pub command_digest: String,
    pub event_type: String,
    pub status_after: &'static str,
}

/// The state of one kind's pathway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KindState {
    DimissioneProtetta(dimissione_protetta::State),
    Pua(pua::State),
    CentroFamiglia(centro_famiglia::State),
}

impl KindState {
    pub fn status(&self) -> &'static str {
        match self {
            Self::DimissioneProtetta(s) => s.status.as_str(),
            Self::Pua(s) => s.status.as_str(),
            Self::CentroFamiglia(s) => s.status.as_str(),
        }
    }

    pub fn is_terminal(&self) -> bool {
        match self {
            Self::DimissioneProtetta(s) => s.status.is_terminal(),
            Self::Pua(s) => s.status.is_terminal(),
            Self::CentroFamiglia(s) => s.status.is_terminal(),
        }
    }

    /// The kind's state as JSON, for readers of the API.
    pub fn to_json(&self) -> Value {
        match self {
            Self::DimissioneProtetta(s) => serde_json::to_value(s),
            Self::Pua(s) => serde_json::to_value(s),
            Self::CentroFamiglia(s) => serde_json::to_value(s),
        }
        .expect("states always serialise to JSON")
    }

    /// Whether an organisation takes part in the pathway, and so may read its person-level
    /// history. An ATS never does: it sees aggregates only.
    pub fn is_party(&self, org: &OrgId, registry: &Registry, on: time::Date) -> bool {
        match self {
            Self::DimissioneProtetta(s) => s.is_party(org, registry, on),
            Self::Pua(s) => s.is_party(org, registry, on),
            Self::CentroFamiglia(s) => s.is_party(org, registry, on),
        }
    }

    /// The Ambito of the person the pathway is about.
    pub fn ambito(&self) -> &crate::ids::AmbitoCode {
        match self {
            Self::DimissioneProtetta(s) => &s.ambito,
            Self::Pua(s) => &s.ambito,
            Self::CentroFamiglia(s) => &s.ambito,
        }
    }

    /// Who the pathway waits on now, for worklists: "who is waiting on whom".
    pub fn waiting_on(&self) -> Vec<OrgId> {
        match self {
            Self::DimissioneProtetta(s) => s.waiting_on(),
            Self::Pua(s) => s.waiting_on(),
            Self::CentroFamiglia(s) => s.waiting_on(),
        }
    }

    /// The kind's own consistency rules; a state for which this fails is a bug, never data.
    pub fn check_invariants(&self) -> Result<(), String> {
        match self {
            Self::DimissioneProtetta(s) => s.check_invariants(),
            Self::Pua(s) => s.check_invariants(),
            Self::CentroFamiglia(s) => s.check_invariants(),
        }
    }
}

/// A pathway as rebuilt from its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pathway {
    pub id: PathwayId,
    pub opened_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// Stream sequence of the pathway's last event: the expected last subject sequence of the next append.
    pub last_sequence: u64,
    /// How many events the pathway holds.
    pub version: u64,
    /// Every command the pathway has applied, by event id, so that a retry at any later time,
    /// long after the bus's duplicate window, is answered without appending.
    pub applied: BTreeMap<EventId, Applied>,
    pub state: KindState,
}

/// What a command comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // short-lived: boxing the event would only add an allocation
pub enum Decision {
    /// A new event to append.
    Append(Event),
    /// The command was applied before: here is what it produced.
    AlreadyApplied(Applied),
}

/// One field of a request that is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// Why a command was refused. Each variant maps to exactly one gRPC status at the edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("invalid command: {}", describe(.0))]
    Invalid(Vec<FieldViolation>),
    #[error("pathway {pathway} is {status}: {command} is allowed only when it is {allowed}")]
    IllegalTransition {
        pathway: PathwayId,
        status: &'static str,
        command: &'static str,
        allowed: String,
    },
    #[error("{org} may not {command} on pathway {pathway}: {reason}")]
    NotPermitted {
        org: OrgId,
        pathway: PathwayId,
        command: &'static str,
        reason: String,
    },
    #[error("no pathway {0}")]
    NotFound(PathwayId),
    #[error("command id {command_id} was already used for a different command (event {event_id})")]
    CommandIdReused {
        command_id: CommandId,
        event_id: EventId,
    },
    /// An acknowledgement of an event the pathway does not hold, or of a receipt.
    #[error("event {event_id} of pathway {pathway} cannot be acknowledged: {reason}")]
    NotAcknowledgeable {
        pathway: PathwayId,
        event_id: EventId,
        reason: String,
    },
}

fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Rejection {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, description)])
    }
}

/// The log holds an event that does not fit the pathway it is on. The log was written by
/// `decide`, so this means a foreign writer or a bug; it is reported, never papered over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pathway {pathway}: event {event_id} ({event_type}) cannot follow: {reason}")]
pub struct EvolveError {
    pub pathway: PathwayId,
    pub event_id: EventId,
    pub event_type: String,
    pub reason: String,
}

/// Decides what a command comes to on a pathway (`None`: the pathway has no events yet).
pub fn decide(
    pathway: Option<&Pathway>,
    command: &Command,
    ctx: &Context<'_>,
) -> Result<Decision, Rejection> {
    check_command_id(command)?;
    let event_id = event_id(command, &ctx.actor.org);
    let digest = command.digest();
    if let Some(applied) = pathway.and_then(|p| p.applied.get(&event_id)) {
        return if applied.command_digest == digest {
            Ok(Decision::AlreadyApplied(applied.clone()))
        } else {
            Err(Rejection::CommandIdReused {
                command_id: command.id.clone(),
                event_id,
            })
        };
    }
    let pathway_id = target(command, &ctx.actor.org)?;
    if let Some(p) = pathway
        && p.id != pathway_id
    {
        return Err(Rejection::invalid(
            "pathway_id",
            format!("the state given is of pathway {}, not {pathway_id}", p.id),
        ));
    }
    let state = pathway.map(|p| &p.state);
    let data = match (&command.body, state) {
        (CommandBody::DimissioneProtetta(c), None) => {
            dimissione_protetta::decide(None, c, &pathway_id, ctx)
        }
        (CommandBody::DimissioneProtetta(c), Some(KindState::DimissioneProtetta(s))) => {
            dimissione_protetta::decide(Some(s), c, &pathway_id, ctx)
        }
        (CommandBody::Pua(c), None) => pua::decide(None, c, &pathway_id, ctx),
        (CommandBody::Pua(c), Some(KindState::Pua(s))) => pua::decide(Some(s), c, &pathway_id, ctx),
        (CommandBody::CentroFamiglia(c), None) => {
            centro_famiglia::decide(None, c, &pathway_id, ctx)
        }
        (CommandBody::CentroFamiglia(c), Some(KindState::CentroFamiglia(s))) => {
            centro_famiglia::decide(Some(s), c, &pathway_id, ctx)
        }
        (CommandBody::Acknowledge(c), _) => match pathway {
            Some(p) => receipt::decide(p, c, ctx),
            None => Err(Rejection::NotFound(pathway_id.clone())),
        },
        (CommandBody::RecordFinding(c), _) => match pathway {
            Some(p) => finding::decide(p, c, ctx),
            None => Err(Rejection::NotFound(pathway_id.clone())),
        },
        _ => {
            return Err(Rejection::invalid(
                "pathway_id",
                format!(
                    "pathway {pathway_id} is not a {} pathway",
                    command.body.kind()
                ),
            ));
        }
    }?;
    Ok(Decision::Append(Event {
        id: event_id,
        pathway: pathway_id,
        command_id: command.id.clone(),
        command_digest: digest,
        actor: ctx.actor.clone(),
        time: ctx.now,
        data,
    }))
}

/// Command id prefixes kept for commands whose id is derived from what they ask: a client's own
/// command may not take one.
const DERIVED_ID_PREFIXES: [(&str, &str); 2] = [
    (receipt::COMMAND_ID_PREFIX, "receipts"),
    (finding::COMMAND_ID_PREFIX, "the reconciler's findings"),
];

/// Refuses a command id that does not fit its command: an acknowledgement carries the id derived
/// from the acknowledged event, a finding the id its key gives, and no other command may take an
/// id of theirs. Deriving the id is what makes each of them one event, however often it is sent.
fn check_command_id(command: &Command) -> Result<(), Rejection> {
    let derived = match &command.body {
        CommandBody::Acknowledge(ack) => Some((
            receipt::command_id(&ack.event_id),
            format!("an acknowledgement of event {}", ack.event_id),
        )),
        CommandBody::RecordFinding(f) => {
            Some((finding::command_id(&f.finding), "a finding".to_owned()))
        }
        _ => None,
    };
    match derived {
        Some((id, what)) if command.id != id => Err(Rejection::invalid(
            "command_id",
            format!("{what} has command id {id}, derived from what it asks"),
        )),
        Some(_) => Ok(()),
        None => match DERIVED_ID_PREFIXES
            .iter()
            .find(|(prefix, _)| command.id.as_str().starts_with(prefix))
        {
            Some((prefix, owner)) => Err(Rejection::invalid(
                "command_id",
                format!(
                    "command ids starting with '{prefix}' are kept for {owner}: choose another, \
                     e.g. a UUID"
                ),
            )),
            None => Ok(()),
        },
    }
}

/// The id of the event a command of `org` produces. A command id is remembered by the pathway it
/// acts on, so the same id on two pathways is two commands; an opening command has no pathway
/// yet, and its id alone names the pathway it opens.
pub fn event_id(command: &Command, org: &OrgId) -> EventId {
    match &command.pathway {
        Some(pathway) => EventId::derive_on(org, &command.id, pathway),
        None => EventId::derive(org, &command.id, command.body.kind()),
    }
}

/// The pathway a command acts on: derived from the command for an opening command, given otherwise.
pub fn target(command: &Command, org: &OrgId) -> Result<PathwayId, Rejection> {
    let kind = command.body.kind();
    match (&command.pathway, command.body.opens_pathway()) {
        (None, true) => Ok(PathwayId::derive(
            kind,
            &EventId::derive(org, &command.id, kind),
        )),
        (Some(_), true) => Err(Rejection::invalid(
            "pathway_id",
            format!(
                "{} opens a new pathway: leave pathway_id empty",
                command.body.name()
            ),
        )),
        (None, false) => Err(Rejection::invalid("pathway_id", "required")),
        (Some(id), false) if id.kind() != kind => Err(Rejection::invalid(
            "pathway_id",
            format!("{id} is a {} pathway, not {kind}", id.kind()),
        )),
        (Some(id), false) => Ok(id.clone()),
    }
}

/// A pathway's bookkeeping while its state is being evolved.
struct Header {
    id: PathwayId,
    opened_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    last_sequence: u64,
    version: u64,
    applied: BTreeMap<EventId, Applied>,
}

impl Pathway {
    /// Folds one recorded event into the pathway (`None`: the event opens it).
    pub fn evolve(
        pathway: Option<Pathway>,
        recorded: &RecordedEvent,
    ) -> Result<Pathway, EvolveError> {
        let event = &recorded.event;
        let fail = |reason: String| EvolveError {
            pathway: event.pathway.clone(),
            event_id: event.id.clone(),
            event_type: event.data.event_type(),
            reason,
        };
        if let Some(p) = &pathway {
            if p.id != event.pathway {
                return Err(fail(format!("it belongs to pathway {}", p.id)));
            }
            if recorded.sequence <= p.last_sequence {
                return Err(fail(format!(
                    "its sequence {} is not after the pathway's last, {}",
                    recorded.sequence, p.last_sequence
                )));
            }
            if p.applied.contains_key(&event.id) {
                return Err(fail("the same event id is already applied".into()));
            }
        }
        let (mut base, prior) = match pathway {
            Some(p) => {
                let Pathway {
                    id,
                    opened_at,
                    updated_at,
                    last_sequence,
                    version,
                    applied,
                    state,
                } = p;
                let header = Header {
                    id,
                    opened_at,
                    updated_at,
                    last_sequence,
                    version,
                    applied,
                };
                (header, Some(state))
            }
            None => (
                Header {
                    id: event.pathway.clone(),
                    opened_at: event.time,
                    updated_at: event.time,
                    last_sequence: 0,
                    version: 0,
                    applied: BTreeMap::new(),
                },
                None,
            ),
        };
        let state = match (&event.data, prior) {
            (EventData::DimissioneProtetta(e), None) => {
                dimissione_protetta::evolve(None, e, event).map(KindState::DimissioneProtetta)
            }
            (EventData::DimissioneProtetta(e), Some(KindState::DimissioneProtetta(s))) => {
                dimissione_protetta::evolve(Some(s), e, event).map(KindState::DimissioneProtetta)
            }
            (EventData::Pua(e), None) => pua::evolve(None, e, event).map(KindState::Pua),
            (EventData::Pua(e), Some(KindState::Pua(s))) => {
                pua::evolve(Some(s), e, event).map(KindState::Pua)
            }
            (EventData::CentroFamiglia(e), None) => {
                centro_famiglia::evolve(None, e, event).map(KindState::CentroFamiglia)
            }
            (EventData::CentroFamiglia(e), Some(KindState::CentroFamiglia(s))) => {
                centro_famiglia::evolve(Some(s), e, event).map(KindState::CentroFamiglia)
            }
            (EventData::Receipt(..), None) => Err("a pathway cannot open with a receipt".into()),
            (EventData::Receipt(kind, r), Some(state)) if *kind == base.id.kind() => {
                receipt::check(&base.applied, r).map(|()| state)
            }
            (EventData::Finding(..), None) => Err("a pathway cannot open with a finding".into()),
            (EventData::Finding(kind, f), Some(state)) if *kind == base.id.kind() => {
                finding::check(&base.applied, f).map(|()| state)
            }
            _ => Err("the event is of another pathway kind".to_owned()),
        }
        .map_err(fail)?;
        // Receipts and findings are bookkeeping: the pathway was not updated by them, only its ledger.
        if !event.data.is_bookkeeping() {
            base.updated_at = event.time;
        }
        base.last_sequence = recorded.sequence;
        base.version += 1;
        base.applied.insert(
            event.id.clone(),
            Applied {
                event_id: event.id.clone(),
                org: event.actor.org.clone(),
                time: event.time,
                sequence: recorded.sequence,
                command_digest: event.command_digest.clone(),
                event_type: event.data.event_type(),
                status_after: state.status(),
            },
        );
        let Header {
            id,
            opened_at,
            updated_at,
            last_sequence,
            version,
            applied,
        } = base;
        Ok(Pathway {
            id,
            opened_at,
            updated_at,
            last_sequence,
            version,
            applied,
            state,
        })
    }
    /// Rebuilds a pathway from its whole history.
    pub fn fold<'a>(
        history: impl IntoIterator<Item = &'a RecordedEvent>,
    ) -> Result<Option<Pathway>, EvolveError> {
        history
            .into_iter()
            .try_fold(None, |p, e| Pathway::evolve(p, e).map(Some))
    }

    pub fn kind(&self) -> PathwayKind {
        self.id.kind()
    }

    pub fn status(&self) -> &'static str {
        self.state.status()
    }
}

impl fmt::Display for Pathway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.id, self.status())
    }
}

/// Declares a kind's event enum: serde names each variant after its published event name, and
/// the enum lists its names and the JSON Schema of each body, so the contracts cannot drift.
macro_rules! pathway_events {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident($body:ty) = $wire:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant($body),)+
        }

        impl $name {
            pub const NAMES: &'static [&'static str] = &[$($wire),+];

            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $wire,)+
                }
            }

            pub fn schemas() -> Vec<(&'static str, schemars::Schema)> {
                vec![$(($wire, schemars::SchemaGenerator::default().into_root_schema_for::<$body>()),)+]
            }
        }
    };
}
pub(crate) use pathway_events;

/// Declares a kind's status enum with its wire names and which statuses end the pathway.
macro_rules! pathway_statuses {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal,)+ } terminal: [$($terminal:ident),*]) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)+
                }
            }

            pub fn is_terminal(self) -> bool {
                matches!(self, $(Self::$terminal)|*)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use pathway_statuses;

/// Refuses `command` unless the pathway's status is one of `allowed`.
pub(crate) fn require_status<S: Copy + PartialEq + fmt::Display>(
    pathway: &PathwayId,
    status: S,
    status_name: &'static str,
    command: &'static str,
    allowed: &[S],
) -> Result<(), Rejection> {
    if allowed.contains(&status) {
        Ok(())
    } else {
        Err(Rejection::IllegalTransition {
            pathway: pathway.clone(),
            status: status_name,
            command,
            allowed: allowed
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

/// Dates travel as ISO 8601 calendar dates, `YYYY-MM-DD`.
pub(crate) fn date_schema(_: &mut schemars::SchemaGenerator) -> Schema {
    schemars::json_schema!({ "type": "string", "format": "date" })
}

/// Instants travel as RFC 3339 date-times.
pub(crate) fn date_time_schema(_: &mut schemars::SchemaGenerator) -> Schema {
    schemars::json_schema!({ "type": "string", "format": "date-time" })
}

#[cfg(test)]
mod tests;
