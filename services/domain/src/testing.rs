//! Helpers the domain's test modules share: organisations, people and participants written
//! the way a test reads them.

use time::Date;

use crate::ids::{ComuneId, OrgId, SubjectRef};
use crate::pathway::dimissione_protetta as dp;
use crate::pathway::{Participant, Role, pua};

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
