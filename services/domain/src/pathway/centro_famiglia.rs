//! Centre-for-Family referral: a Comune social service, a consultorio, a PUA or a school refers a
//! family to a Centro per la Famiglia, which accepts or declines, makes first contact and enrols
//! the family in its interventions. Access and enrolment are different things and are counted
//! apart. Low acuity and a light data profile: nothing here is health data.
//!
//! ```text
//! referral_sent ─► accepted ─► contacted ─► enrolled ─► closed
//!               └► declined          closed: from accepted, contacted or enrolled
//! ```

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::Date;

use super::rules::{
    Territory, ambito_of, denied, non_empty, normalised, not_before, not_in_future, permit, valid,
};
use super::{Context, FieldViolation, Rejection, pathway_events, pathway_statuses, require_status};
use crate::ids::{AmbitoCode, CentroId, ComuneId, OrgId, PathwayId, SubjectRef};
use crate::registry::{Registry, ServiceArea};

/// Who refers the family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Referrer {
    ComuneSocialService,
    /// Consultorio familiare (run by the ASST).
    Consultorio,
    Pua,
    /// Schools are not parties of raccordo: the Centro or the Comune records their referrals.
    School,
}

/// What a Centro per la Famiglia offers.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SupportArea {
    Orientation,
    ParentingSupport,
    ListeningDesk,
    CaregiverSupport,
    FamilyMediation,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeclineReason {
    OutsideCatchment,
    NeedOutOfScope,
    NoCapacity,
    FamilyDeclined,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactMode {
    InPerson,
    Phone,
    Online,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    Completed,
    FamilyWithdrew,
    NotReachable,
    ReferredElsewhere,
}

// ---- commands ---------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendReferral {
    /// The family's reference person, pseudonymously.
    pub subject_ref: SubjectRef,
    pub residence: ComuneId,
    pub centro: CentroId,
    pub referrer: Referrer,
    pub areas: Vec<SupportArea>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordFirstContact {
    pub contacted_on: Date,
    pub mode: ContactMode,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enrol {
    pub interventions: Vec<SupportArea>,
    pub enrolled_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    SendReferral(SendReferral),
    Accept,
    Decline { reason: DeclineReason },
    RecordFirstContact(RecordFirstContact),
    Enrol(Enrol),
    Close { reason: CloseReason },
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Self::SendReferral(_) => "send_referral",
            Self::Accept => "accept",
            Self::Decline { .. } => "decline",
            Self::RecordFirstContact(_) => "record_first_contact",
            Self::Enrol(_) => "enrol",
            Self::Close { .. } => "close",
        }
    }

    pub fn opens_pathway(&self) -> bool {
        matches!(self, Self::SendReferral(_))
    }
}

// ---- events -----------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferralSent {
    pub subject_ref: SubjectRef,
    pub residence: ComuneId,
    pub ambito: AmbitoCode,
    pub centro: CentroId,
    pub referrer: Referrer,
    #[schemars(length(min = 1))]
    #[schemars(extend("uniqueItems" = true))]
    pub areas: Vec<SupportArea>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Accepted {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Declined {
    pub reason: DeclineReason,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FirstContactMade {
    #[schemars(schema_with = "crate::pathway::date_schema")]
    pub contacted_on: Date,
    pub mode: ContactMode,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Enrolled {
    #[schemars(length(min = 1))]
    #[schemars(extend("uniqueItems" = true))]
    pub interventions: Vec<SupportArea>,
    #[schemars(schema_with = "crate::pathway::date_schema")]
    pub enrolled_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Closed {
    pub reason: CloseReason,
}

pathway_events! {
    /// What can happen to a referral to a Centro per la Famiglia.
    pub enum Event {
        ReferralSent(ReferralSent) = "referral_sent",
        Accepted(Accepted) = "accepted",
        Declined(Declined) = "declined",
        FirstContactMade(FirstContactMade) = "first_contact_made",
        Enrolled(Enrolled) = "enrolled",
        Closed(Closed) = "closed",
    }
}

// ---- state ------------------------------------------------------------------------------------

pathway_statuses! {
    pub enum Status {
        Sent = "sent",
        Accepted = "accepted",
        Declined = "declined",
        Contacted = "contacted",
        Enrolled = "enrolled",
        Closed = "closed",
    }
    terminal: [Declined, Closed]
}

use Status as S;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct State {
    pub status: Status,
    pub subject_ref: SubjectRef,
    pub residence: ComuneId,
    pub ambito: AmbitoCode,
    pub centro: CentroId,
    pub referrer: Referrer,
    pub referred_by: OrgId,
    pub sent_on: Date,
    pub areas: Vec<SupportArea>,
    pub decline: Option<DeclineReason>,
    pub first_contact: Option<FirstContactMade>,
    pub interventions: Vec<SupportArea>,
}

impl State {
    /// The Centro, whoever sent the referral, and the social side of the family's territory.
    pub fn is_party(&self, org: &OrgId, registry: &Registry, on: Date) -> bool {
        let territory = Territory {
            residence: &self.residence,
            ambito: &self.ambito,
        };
        matches!(org, OrgId::Centro(c) if *c == self.centro)
            || *org == self.referred_by
            || territory.is_any_social_side(registry, org, on)
    }

    /// Who the next step waits on: the Centro, until the family is enrolled.
    pub fn waiting_on(&self) -> Vec<OrgId> {
        match self.status {
            S::Sent | S::Accepted | S::Contacted => vec![OrgId::Centro(self.centro.clone())],
            S::Enrolled | S::Declined | S::Closed => Vec::new(),
        }
    }

    pub fn check_invariants(&self) -> Result<(), String> {
        let fail = |what: &str| Err(format!("{} but {what}", self.status));
        match self.status {
            S::Declined if self.decline.is_none() => fail("no reason"),
            S::Contacted if self.first_contact.is_none() => fail("no first contact"),
            S::Enrolled if self.interventions.is_empty() || self.first_contact.is_none() => {
                fail("no interventions or first contact")
            }
            _ if self.areas.is_empty() => fail("no support areas"),
            _ => Ok(()),
        }
    }
}

// ---- decide -----------------------------------------------------------------------------------

pub fn decide(
    state: Option<&State>,
    command: &Command,
    pathway: &PathwayId,
    ctx: &Context<'_>,
) -> Result<super::EventData, Rejection> {
    let Some(state) = state else {
        return match command {
            Command::SendReferral(c) => send_referral(c, pathway, ctx),
            _ => Err(Rejection::NotFound(pathway.clone())),
        };
    };
    let name = command.name();
    let org = &ctx.actor.org;
    let today = ctx.now.date();
    permit(
        matches!(org, OrgId::Centro(c) if *c == state.centro),
        org,
        pathway,
        name,
        || format!("only the Centro per la Famiglia '{}' may", state.centro),
    )?;
    let status = |allowed: &[Status]| {
        require_status(pathway, state.status, state.status.as_str(), name, allowed)
    };
    let event = match command {
        Command::SendReferral(_) => {
            return Err(Rejection::invalid(
                "pathway_id",
                format!("pathway {pathway} already exists"),
            ));
        }
        Command::Accept => {
            status(&[S::Sent])?;
            Event::Accepted(Accepted {})
        }
        Command::Decline { reason } => {
            status(&[S::Sent])?;
            Event::Declined(Declined { reason: *reason })
        }
        Command::RecordFirstContact(c) => {
            status(&[S::Accepted])?;
            let mut violations = not_in_future(c.contacted_on, today, "contacted_on");
            violations.extend(not_before(
                c.contacted_on,
                state.sent_on,
                "contacted_on",
                "the referral",
            ));
            valid(violations)?;
            Event::FirstContactMade(FirstContactMade {
                contacted_on: c.contacted_on,
                mode: c.mode,
            })
        }
        Command::Enrol(c) => {
            status(&[S::Contacted])?;
            let mut violations = non_empty(&c.interventions, "interventions", "intervention");
            violations.extend(not_in_future(c.enrolled_on, today, "enrolled_on"));
            if let Some(contact) = &state.first_contact {
                violations.extend(not_before(
                    c.enrolled_on,
                    contact.contacted_on,
                    "enrolled_on",
                    "the first contact",
                ));
            }
            valid(violations)?;
            Event::Enrolled(Enrolled {
                interventions: normalised(c.interventions.clone()),
                enrolled_on: c.enrolled_on,
            })
        }
        Command::Close { reason } => {
            status(&[S::Accepted, S::Contacted, S::Enrolled])?;
            Event::Closed(Closed { reason: *reason })
        }
    };
    Ok(super::EventData::CentroFamiglia(event))
}

fn send_referral(
    c: &SendReferral,
    pathway: &PathwayId,
    ctx: &Context<'_>,
) -> Result<super::EventData, Rejection> {
    let org = &ctx.actor.org;
    let today = ctx.now.date();
    let registry = ctx.registry;
    let mut violations = non_empty(&c.areas, "areas", "support area");
    if !registry.org_active(&OrgId::Centro(c.centro.clone()), today) {
        violations.push(FieldViolation::new(
            "centro",
            format!("unknown Centro per la Famiglia '{}'", c.centro),
        ));
    }
    let ambito = ambito_of(registry, &c.residence, today, "residence");
    if let Err(Rejection::Invalid(v)) = &ambito {
        violations.extend(v.iter().cloned());
    }
    valid(violations)?;
    let ambito = ambito?;
    let territory = Territory {
        residence: &c.residence,
        ambito: &ambito,
    };
    let social = territory.is_social_side(registry, org, ServiceArea::SocialService, today)
        || territory.is_social_side(registry, org, ServiceArea::FamilySupport, today);
    let serving_asst =
        matches!(org, OrgId::Asst(a) if territory.is_serving_asst(registry, a, today));
    let allowed = match c.referrer {
        Referrer::ComuneSocialService => social,
        Referrer::Consultorio => serving_asst,
        Referrer::Pua => social || serving_asst,
        Referrer::School => social || matches!(org, OrgId::Centro(id) if *id == c.centro),
    };
    if !allowed {
        return Err(denied(
            org,
            pathway,
            "send_referral",
            format!(
                "a referral from a {:?} for a resident of {} is sent by {}",
                c.referrer,
                c.residence,
                match c.referrer {
                    Referrer::ComuneSocialService => "the social services of the person's Ambito",
                    Referrer::Consultorio => "an ASST serving the person's Ambito",
                    Referrer::Pua => "the PUA's ASST or the social services of the person's Ambito",
                    Referrer::School =>
                        "the Centro itself or the social services of the person's Ambito",
                }
            ),
        ));
    }
    Ok(super::EventData::CentroFamiglia(Event::ReferralSent(
        ReferralSent {
            subject_ref: c.subject_ref.clone(),
            residence: c.residence.clone(),
            ambito,
            centro: c.centro.clone(),
            referrer: c.referrer,
            areas: normalised(c.areas.clone()),
        },
    )))
}

// ---- evolve -----------------------------------------------------------------------------------

pub fn evolve(
    state: Option<State>,
    event: &Event,
    envelope: &super::Event,
) -> Result<State, String> {
    let Some(mut s) = state else {
        let Event::ReferralSent(e) = event else {
            return Err("a referral must open with 'referral_sent'".into());
        };
        return Ok(State {
            status: S::Sent,
            subject_ref: e.subject_ref.clone(),
            residence: e.residence.clone(),
            ambito: e.ambito.clone(),
            centro: e.centro.clone(),
            referrer: e.referrer,
            referred_by: envelope.actor.org.clone(),
            sent_on: envelope.time.date(),
            areas: e.areas.clone(),
            decline: None,
            first_contact: None,
            interventions: Vec::new(),
        });
    };
    match event {
        Event::ReferralSent(_) => return Err("the pathway is already open".into()),
        Event::Accepted(_) => s.status = S::Accepted,
        Event::Declined(e) => {
            s.decline = Some(e.reason);
            s.status = S::Declined;
        }
        Event::FirstContactMade(e) => {
            s.first_contact = Some(e.clone());
            s.status = S::Contacted;
        }
        Event::Enrolled(e) => {
            s.interventions = e.interventions.clone();
            s.status = S::Enrolled;
        }
        Event::Closed(_) => s.status = S::Closed,
    }
    Ok(s)
}
