//! The rules every pathway kind shares: who counts as which party (the social side of a person's
//! territory, the ASST serving it, the participants of an assessment) and the common checks on a
//! command's fields. The kind files are written with these, so that "the Comune's side" or "a date
//! in the future" means the same everywhere.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::Date;

use super::{FieldViolation, Rejection};
use crate::ids::{AmbitoCode, AsstCode, ComuneId, OrgId, PathwayId};
use crate::registry::{Registry, ServiceArea};

/// Someone taking part in an assessment or named as case manager, by organisation and role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Participant {
    pub org: OrgId,
    pub role: Role,
}

/// The professional role of a participant.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Assistente sociale.
    SocialWorker,
    /// Hospital or specialist physician.
    Physician,
    /// Medico di medicina generale.
    GeneralPractitioner,
    Nurse,
    /// Physiotherapist, occupational therapist and the like.
    Therapist,
    Psychologist,
    Educator,
    Other,
}

/// The territory a pathway belongs to: where the person lives.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Territory<'a> {
    pub residence: &'a ComuneId,
    pub ambito: &'a AmbitoCode,
}

impl Territory<'_> {
    /// A Comune of the person's Ambito, or a body delivering `area` for the person's Comune.
    pub fn is_social_side(
        &self,
        registry: &Registry,
        org: &OrgId,
        area: ServiceArea,
        on: Date,
    ) -> bool {
        match org {
            OrgId::Comune(c) => registry.comuni_of_ambito(self.ambito, on).contains(&c),
            OrgId::Ente(e) => registry
                .delivering_bodies(self.residence, area, on)
                .contains(&e),
            _ => false,
        }
    }

    /// The social side for any service area: who on the Comune's side may follow the pathway.
    pub fn is_any_social_side(&self, registry: &Registry, org: &OrgId, on: Date) -> bool {
        ServiceArea::ALL
            .into_iter()
            .any(|area| self.is_social_side(registry, org, area, on))
    }

    /// An ASST whose territory includes the person's Ambito.
    pub fn is_serving_asst(&self, registry: &Registry, asst: &AsstCode, on: Date) -> bool {
        registry.asst_of_ambito(self.ambito, on).contains(&asst)
    }
}

/// Resolves the Ambito of a person's Comune of residence, or says which field is wrong.
pub(crate) fn ambito_of(
    registry: &Registry,
    residence: &ComuneId,
    on: Date,
    field: &str,
) -> Result<AmbitoCode, Rejection> {
    registry
        .ambito_of_comune(residence, on)
        .cloned()
        .ok_or_else(|| {
            Rejection::invalid(
                field,
                format!("unknown Comune '{residence}' (not in the territorial registry on {on})"),
            )
        })
}

/// Checks that every participant names an organisation active in the registry.
pub(crate) fn check_participants(
    registry: &Registry,
    participants: &[Participant],
    field: &str,
    on: Date,
) -> Vec<FieldViolation> {
    participants
        .iter()
        .enumerate()
        .filter(|(_, p)| !registry.org_active(&p.org, on))
        .map(|(i, p)| {
            FieldViolation::new(
                format!("{field}[{i}].org"),
                format!("unknown organisation '{}'", p.org),
            )
        })
        .collect()
}

/// Turns collected field violations into a rejection, or lets the command through.
pub(crate) fn valid(violations: Vec<FieldViolation>) -> Result<(), Rejection> {
    if violations.is_empty() {
        Ok(())
    } else {
        Err(Rejection::Invalid(violations))
    }
}

/// Refuses `command` unless `allowed` holds, naming who tried and why not.
pub(crate) fn permit(
    allowed: bool,
    org: &OrgId,
    pathway: &PathwayId,
    command: &'static str,
    reason: impl FnOnce() -> String,
) -> Result<(), Rejection> {
    if allowed {
        Ok(())
    } else {
        Err(denied(org, pathway, command, reason()))
    }
}

pub(crate) fn denied(
    org: &OrgId,
    pathway: &PathwayId,
    command: &'static str,
    reason: impl Into<String>,
) -> Rejection {
    Rejection::NotPermitted {
        org: org.clone(),
        pathway: pathway.clone(),
        command,
        reason: reason.into(),
    }
}

/// Sorts and de-duplicates a list given in a command, so equal sets compare equal.
pub(crate) fn normalised<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items.dedup();
    items
}

pub(crate) fn not_in_future(date: Date, today: Date, field: &str) -> Vec<FieldViolation> {
    if date > today {
        vec![FieldViolation::new(
            field,
            format!("{date} is in the future (today is {today})"),
        )]
    } else {
        Vec::new()
    }
}

pub(crate) fn not_in_past(date: Date, today: Date, field: &str) -> Vec<FieldViolation> {
    if date < today {
        vec![FieldViolation::new(
            field,
            format!("{date} is in the past (today is {today})"),
        )]
    } else {
        Vec::new()
    }
}

/// A date that must not come before an earlier step of the pathway.
pub(crate) fn not_before(
    date: Date,
    earlier: Date,
    field: &str,
    step: &str,
) -> Vec<FieldViolation> {
    if date < earlier {
        vec![FieldViolation::new(
            field,
            format!("{date} is before {step} ({earlier})"),
        )]
    } else {
        Vec::new()
    }
}

/// A required list given empty.
pub(crate) fn non_empty<T>(items: &[T], field: &str, what: &str) -> Vec<FieldViolation> {
    if items.is_empty() {
        vec![FieldViolation::new(
            field,
            format!("at least one {what} is required"),
        )]
    } else {
        Vec::new()
    }
}
