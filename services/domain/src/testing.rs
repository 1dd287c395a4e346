//! Helpers the domain's test modules share: organisations, people and participants written
//! the way a test reads them.

use crate::ids::{OrgId, SubjectRef};
use crate::pathway::{Participant, Role};

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
