//! Helpers the domain's test modules share: organisations, people and participants written
//! the way a test reads them.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use time::{Date, OffsetDateTime};

use crate::calendar::Calendar;
use crate::ids::{ComuneId, EventId, OrgId, PathwayId, SubjectRef};
use crate::pathway::dimissione_protetta as dp;
use crate::pathway::{
    Actor, Command, CommandBody, Context, Decision, Event, Participant, Pathway, RecordedEvent,
    Role, decide, pua, receipt,
};
use crate::protocol::Protocols;
use crate::reconcile::Rulebook;
use crate::registry::Registry;

pub(crate) fn org(id: &str) -> OrgId {
    id.parse().expect("a well-formed organisation id")
}

/// A person, pseudonymously: a different `n` is a different person.
pub(crate) fn person(n: u8) -> SubjectRef {
    SubjectRef::from_digest([n; 32])
}

pub(crate) fn participant(org_id: &str, role: Role) -> Participant {
    Participant {
        org: org(org_id),
        role,
    }
}

/// The Comune of an organisation id written `comune:<code>`.
pub(crate) fn comune(id: &str) -> ComuneId {
    match org(id) {
        OrgId::Comune(comune) => comune,
        other => panic!("{other} is not a Comune"),
    }
}

pub(crate) fn joint_assessment(assessed_on: Date, participants: Vec<Participant>) -> dp::Command {
    dp::Command::RecordJointAssessment(dp::RecordJointAssessment {
        assessed_on,
        participants,
    })
}

/// A UVM with the usual tools (ADL, IADL).
pub(crate) fn complete_uvm(assessed_on: Date, participants: Vec<Participant>) -> pua::Command {
    pua::Command::CompleteUvm(pua::CompleteUvm {
        assessed_on,
        participants,
        tools: vec![pua::Tool::Adl, pua::Tool::Iadl],
    })
}

/// A PAI, with or without a case manager.
pub(crate) fn pua_plan(case_manager: Option<Participant>) -> pua::Command {
    pua::Command::AgreePlan(pua::AgreePlan {
        plan_type: pua::PlanType::Pai,
        case_manager,
    })
}

/// A log as the gateway writes it: every command decided on the pathway's state and evolved
/// into it, each event recorded with the next sequence, pathways interleaved in call order.
#[derive(Debug, Default)]
pub(crate) struct Log {
    pub(crate) pathways: BTreeMap<PathwayId, Pathway>,
    pub(crate) events: Vec<RecordedEvent>,
}

impl Log {
    /// `who` opens a pathway at `at`: its id and the id of the opening event.
    pub(crate) fn open(
        &mut self,
        who: &str,
        at: OffsetDateTime,
        body: impl Into<CommandBody>,
    ) -> (PathwayId, EventId) {
        let command = Command {
            id: self.next_command_id(),
            pathway: None,
            body: body.into(),
        };
        let event = self.submit(&operator(who), at, &command);
        (event.pathway.clone(), event.id.clone())
    }

    /// `who` acts on `pathway` at `at`: the event's id.
    pub(crate) fn run(
        &mut self,
        pathway: &PathwayId,
        who: &str,
        at: OffsetDateTime,
        body: impl Into<CommandBody>,
    ) -> EventId {
        let command = Command {
            id: self.next_command_id(),
            pathway: Some(pathway.clone()),
            body: body.into(),
        };
        self.submit(&operator(who), at, &command).id.clone()
    }

    /// `who` acknowledges `event` of `pathway` at `at`, as its software does on finding it in
    /// its inbox.
    pub(crate) fn acknowledge(
        &mut self,
        pathway: &PathwayId,
        who: &str,
        at: OffsetDateTime,
        event: &EventId,
    ) -> EventId {
        let cursor = self.events.len() as u64 + 1;
        let command = receipt::Acknowledge::command(pathway.clone(), event.clone(), cursor, at);
        self.submit(&operator(who), at, &command).id.clone()
    }

    fn next_command_id(&self) -> crate::ids::CommandId {
        format!("cmd-{}", self.events.len())
            .parse()
            .expect("a well-formed command id")
    }

    pub(crate) fn submit(
        &mut self,
        actor: &Actor,
        at: OffsetDateTime,
        command: &Command,
    ) -> &Event {
        let ctx = Context {
            actor,
            now: at,
            registry: Registry::embedded(),
        };
        let state = command.pathway.as_ref().and_then(|p| self.pathways.get(p));
        let name = command.body.name();
        let decision = decide(state, command, &ctx)
            .unwrap_or_else(|e| panic!("{} {name} at {at}: {e}", actor.org));
        let Decision::Append(event) = decision else {
            panic!("{} {name} at {at}: already applied", actor.org);
        };
        let recorded = RecordedEvent {
            sequence: self.events.len() as u64 + 1,
            event,
        };
        let before = self.pathways.remove(&recorded.event.pathway);
        let after = Pathway::evolve(before, &recorded)
            .unwrap_or_else(|e| panic!("decide accepted an event that evolve refuses: {e}"));
        self.pathways.insert(after.id.clone(), after);
        self.events.push(recorded);
        &self.events.last().expect("just pushed").event
    }
}

pub(crate) fn operator(who: &str) -> Actor {
    Actor {
        org: org(who),
        operator: "operatore.1".parse().expect("a well-formed operator id"),
    }
}

/// The shipped protocols, the embedded registry and calendar.
pub(crate) fn rules() -> Rulebook<'static> {
    static PROTOCOLS: OnceLock<Protocols> = OnceLock::new();
    let registry = Registry::embedded();
    Rulebook {
        protocols: PROTOCOLS
            .get_or_init(|| Protocols::embedded(registry).expect("the shipped protocols parse")),
        registry,
        calendar: Calendar::embedded(),
    }
}
