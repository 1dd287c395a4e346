//! Dimissione protetta: a frail patient leaves hospital with support planned beforehand, agreed
//! between the hospital (ASST, through its COT) and the social services of the Comune of
//! residence (LEPS "dimissioni protette", L.234/2021 c.170).
//!
//! ```text
//! requested ─► received ─► assessed ─► plan_agreed ─► discharged ─► services_active ─► closed
//! discharged: from any step before it (the hospital does not wait for the territory)
//! readmitted: from discharged or services_active; then assessed, discharged or closed again
//! expected_date_changed: any number of times before discharge
//! cancelled: from any open step
//! ```
//! Discharge is the hospital's to record and may come before the social side has acted: the
//! reconciler, not this state machine, flags a discharge without a plan.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::Date;

use super::rules::{
    Participant, Territory, ambito_of, check_participants, denied, non_empty, normalised,
    not_before, not_in_future, not_in_past, permit, valid,
};
use super::{Context, FieldViolation, Rejection, pathway_events, pathway_statuses, require_status};
use crate::ids::{AmbitoCode, AsstCode, ComuneId, OrgId, PathwayId, SubjectRef};
use crate::registry::{Registry, ServiceArea};

/// A service a patient needs, a plan provides or the territory activates.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// Servizio di Assistenza Domiciliare: the Comune's home care.
    Sad,
    /// Cure domiciliari: the ASST's health home care.
    CDom,
    /// A place in a residential facility (RSA, RSD, …).
    Residential,
    /// Support for the family caregiver.
    CaregiverSupport,
}

impl Service {
    fn is_home_service(self) -> bool {
        !matches!(self, Self::Residential)
    }
}

/// Where the patient went on discharge. Home and residential waits are measured separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    Home,
    ResidentialFacility,
    /// Ospedale di Comunità.
    CommunityHospital,
    Deceased,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DateChangeReason {
    ClinicalCondition,
    AwaitingHomeServices,
    AwaitingResidentialPlace,
    FamilyRequest,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// The patient no longer needs a protected discharge.
    NoLongerNeeded,
    PatientRefused,
    PatientDeceased,
    TransferredToAnotherHospital,
    EnteredInError,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The plan is in place and the follow-up is over.
    Completed,
    /// Taken over by another pathway or service.
    HandedOver,
    PatientDeceased,
}

// ---- commands ---------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    pub subject_ref: SubjectRef,
    /// The ward or unit asking, e.g. "Medicina generale - Ospedale di Magenta".
    pub ward: String,
    pub residence: ComuneId,
    pub expected_discharge: Date,
    pub needs: Vec<Service>,
    pub lives_alone: bool,
    pub no_caregiver: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordJointAssessment {
    pub assessed_on: Date,
    pub participants: Vec<Participant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgreeCarePlan {
    pub services: Vec<Service>,
    pub case_manager: Option<Participant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeExpectedDate {
    pub expected_discharge: Date,
    pub reason: DateChangeReason,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordDischarge {
    pub discharged_on: Date,
    pub destination: Destination,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActivateHomeServices {
    pub services: Vec<Service>,
    pub activated_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordReadmission {
    pub readmitted_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    Request(Request),
    Receive,
    RecordJointAssessment(RecordJointAssessment),
    AgreeCarePlan(AgreeCarePlan),
    ChangeExpectedDate(ChangeExpectedDate),
    RecordDischarge(RecordDischarge),
    ActivateHomeServices(ActivateHomeServices),
    RecordReadmission(RecordReadmission),
    Close { reason: CloseReason },
    Cancel { reason: CancelReason },
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Request(_) => "request",
            Self::Receive => "receive",
            Self::RecordJointAssessment(_) => "record_joint_assessment",
            Self::AgreeCarePlan(_) => "agree_care_plan",
            Self::ChangeExpectedDate(_) => "change_expected_date",
            Self::RecordDischarge(_) => "record_discharge",
            Self::ActivateHomeServices(_) => "activate_home_services",
            Self::RecordReadmission(_) => "record_readmission",
            Self::Close { .. } => "close",
            Self::Cancel { .. } => "cancel",
        }
    }

    pub fn opens_pathway(&self) -> bool {
        matches!(self, Self::Request(_))
    }
}

// ---- events -----------------------------------------------------------------------------------

/// An ASST ward asks the territory to prepare a protected discharge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Requested {
    pub subject_ref: SubjectRef,
    /// The requesting ASST: the only one that records the discharge.
    pub asst: AsstCode,
    #[schemars(length(min = 1, max = 120))]
    pub ward: String,
    pub residence: ComuneId,
    /// The Ambito of the Comune of residence on the day of the request: who is asked to act.
    pub ambito: AmbitoCode,
    #[schemars(schema_with = "crate::pathway::date_schema")]
    pub expected_discharge: Date,
    #[schemars(extend("uniqueItems" = true))]
    pub needs: Vec<Service>,
    pub lives_alone: bool,
    pub no_caregiver: bool,
}

/// The social side of the person's territory has taken the request in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Received {
    pub received_by: OrgId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JointAssessmentRecorded {
    #[schemars(schema_with = "crate::pathway::date_schema")]
    pub assessed_on: Date,
    #[schemars(length(min = 1))]
    pub participants: Vec<Participant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CarePlanAgreed {
    #[schemars(length(min = 1))]
    #[schemars(extend("uniqueItems" = true))]
    pub services: Vec<Service>,
    pub case_manager: Option<Participant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedDateChanged {
    #[schemars(schema_with = "crate::pathway::date_schema")]
    pub previous: Date,
    #[schemars(schema_with = "crate::pathway::date_schema")]
    pub expected_discharge: Date,
    pub reason: DateChangeReason,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Discharged {
    #[schemars(schema_with = "crate::pathway::date_schema")]
    pub discharged_on: Date,
    pub destination: Destination,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HomeServicesActivated {
    #[schemars(length(min = 1))]
    #[schemars(extend("uniqueItems" = true))]
    pub services: Vec<Service>,
    #[schemars(schema_with = "crate::pathway::date_schema")]
    pub activated_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Readmitted {
    #[schemars(schema_with = "crate::pathway::date_schema")]
    pub readmitted_on: Date,
    pub asst: AsstCode,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Closed {
    pub reason: CloseReason,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cancelled {
    pub reason: CancelReason,
}

pathway_events! {
    /// What can happen to a protected discharge.
    pub enum Event {
        Requested(Requested) = "requested",
        Received(Received) = "received",
        JointAssessmentRecorded(JointAssessmentRecorded) = "joint_assessment_recorded",
        CarePlanAgreed(CarePlanAgreed) = "care_plan_agreed",
        ExpectedDateChanged(ExpectedDateChanged) = "expected_date_changed",
        Discharged(Discharged) = "discharged",
        HomeServicesActivated(HomeServicesActivated) = "home_services_activated",
        Readmitted(Readmitted) = "readmitted",
        Closed(Closed) = "closed",
        Cancelled(Cancelled) = "cancelled",
    }
}

// ---- state ------------------------------------------------------------------------------------

pathway_statuses! {
    pub enum Status {
        Requested = "requested",
        Received = "received",
        Assessed = "assessed",
        PlanAgreed = "plan_agreed",
        Discharged = "discharged",
        ServicesActive = "services_active",
        Readmitted = "readmitted",
        Closed = "closed",
        Cancelled = "cancelled",
    }
    terminal: [Closed, Cancelled]
}

use Status as S;

/// Every status in which the patient is still in hospital.
const BEFORE_DISCHARGE: &[Status] = &[
    S::Requested,
    S::Received,
    S::Assessed,
    S::PlanAgreed,
    S::Readmitted,
];
const OPEN: &[Status] = &[
    S::Requested,
    S::Received,
    S::Assessed,
    S::PlanAgreed,
    S::Discharged,
    S::ServicesActive,
    S::Readmitted,
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct State {
    pub status: Status,
    pub subject_ref: SubjectRef,
    pub asst: AsstCode,
    pub ward: String,
    pub residence: ComuneId,
    pub ambito: AmbitoCode,
    pub requested_on: Date,
    pub expected_discharge: Date,
    pub needs: Vec<Service>,
    pub lives_alone: bool,
    pub no_caregiver: bool,
    pub received_by: Option<OrgId>,
    pub assessment: Option<JointAssessmentRecorded>,
    pub plan: Option<CarePlanAgreed>,
    pub discharge: Option<Discharged>,
    pub home_services: Vec<Service>,
    /// Every readmission, with the ASST that readmitted the patient (maybe another hospital).
    pub readmissions: Vec<Readmitted>,
}

impl State {
    fn territory(&self) -> Territory<'_> {
        Territory {
            residence: &self.residence,
            ambito: &self.ambito,
        }
    }

    /// The requesting ASST, the ASST serving the Ambito, the social side of the territory, and
    /// whoever took part in the assessment or manages the plan.
    pub fn is_party(&self, org: &OrgId, registry: &Registry, on: Date) -> bool {
        let territory = self.territory();
        let named = self
            .assessment
            .iter()
            .flat_map(|a| &a.participants)
            .chain(self.plan.iter().flat_map(|p| &p.case_manager))
            .any(|p| p.org == *org);
        named
            || match org {
                OrgId::Asst(a) => *a == self.asst || territory.is_serving_asst(registry, a, on),
                _ => territory.is_any_social_side(registry, org, on),
            }
    }

    /// Who the next step waits on: the default owners of each step, before any local protocol
    /// (the reconciler's) says more. Sorted, no repeats.
    pub fn waiting_on(&self) -> Vec<OrgId> {
        let hospital = OrgId::Asst(self.asst.clone());
        // The social side is whoever took the request in, or else the Comune of residence.
        let social = self
            .received_by
            .clone()
            .unwrap_or_else(|| OrgId::Comune(self.residence.clone()));
        let owners = match self.status {
            S::Requested => vec![social],
            S::Received | S::Assessed => vec![hospital, social],
            S::PlanAgreed | S::Readmitted => vec![hospital],
            S::Discharged => match self.discharge.as_ref().map(|d| d.destination) {
                Some(Destination::Home) => {
                    let needs_cdom = self
                        .plan
                        .as_ref()
                        .map_or(&self.needs, |p| &p.services)
                        .contains(&Service::CDom);
                    if needs_cdom {
                        vec![hospital, social]
                    } else {
                        vec![social]
                    }
                }
                _ => Vec::new(),
            },
            S::ServicesActive | S::Closed | S::Cancelled => Vec::new(),
        };
        normalised(owners)
    }

    pub fn check_invariants(&self) -> Result<(), String> {
        let fail = |what: &str| Err(format!("{} but {what}", self.status));
        match self.status {
            S::Assessed if self.assessment.is_none() => fail("no assessment"),
            S::PlanAgreed if self.plan.is_none() || self.assessment.is_none() => {
                fail("no plan or no assessment")
            }
            S::Discharged | S::ServicesActive if self.discharge.is_none() => fail("no discharge"),
            S::ServicesActive
                if self.home_services.is_empty()
                    || self.discharge.as_ref().map(|d| d.destination)
                        != Some(Destination::Home) =>
            {
                fail("no home services after a discharge home")
            }
            S::Readmitted if self.readmissions.is_empty() || self.discharge.is_none() => {
                fail("no earlier discharge and readmission")
            }
            _ if self.needs.windows(2).any(|w| w[0] >= w[1]) => fail("needs not a sorted set"),
            _ if self.home_services.windows(2).any(|w| w[0] >= w[1]) => {
                fail("home services not a sorted set")
            }
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
            Command::Request(request) => request_discharge(request, pathway, ctx),
            _ => Err(Rejection::NotFound(pathway.clone())),
        };
    };
    let name = command.name();
    let org = &ctx.actor.org;
    let today = ctx.now.date();
    let registry = ctx.registry;
    let territory = state.territory();
    let is_requesting_asst = matches!(org, OrgId::Asst(a) if *a == state.asst);
    let is_social = territory.is_social_side(registry, org, ServiceArea::SocialService, today);
    let either_side = || {
        permit(is_requesting_asst || is_social, org, pathway, name, || {
            format!(
                "only the requesting ASST {} or the social services of Ambito {} may",
                state.asst, state.ambito
            )
        })
    };
    let hospital_only = || {
        permit(is_requesting_asst, org, pathway, name, || {
            format!("only the requesting ASST {} may", state.asst)
        })
    };
    let status = |allowed: &[Status]| {
        require_status(pathway, state.status, state.status.as_str(), name, allowed)
    };

    let event = match command {
        Command::Request(_) => {
            return Err(Rejection::invalid(
                "pathway_id",
                format!("pathway {pathway} already exists"),
            ));
        }
        Command::Receive => {
            permit(is_social, org, pathway, name, || {
                format!(
                    "only a Comune of Ambito {} or the body delivering social services for {} may",
                    state.ambito, state.residence
                )
            })?;
            // The hospital may discharge before the territory has acted; the Comune can still
            // take the case in afterwards, once.
            if state.received_by.is_some() {
                return Err(Rejection::IllegalTransition {
                    pathway: pathway.clone(),
                    status: state.status.as_str(),
                    command: name,
                    allowed: "it has not been received yet".into(),
                });
            }
            status(OPEN)?;
            Event::Received(Received {
                received_by: org.clone(),
            })
        }
        Command::RecordJointAssessment(c) => {
            either_side()?;
            status(&[S::Received, S::Assessed, S::Readmitted])?;
            let mut violations =
                check_participants(registry, &c.participants, "participants", today);
            violations.extend(non_empty(&c.participants, "participants", "participant"));
            violations.extend(not_in_future(c.assessed_on, today, "assessed_on"));
            valid(violations)?;
            Event::JointAssessmentRecorded(JointAssessmentRecorded {
                assessed_on: c.assessed_on,
                participants: c.participants.clone(),
            })
        }
        Command::AgreeCarePlan(c) => {
            either_side()?;
            status(&[S::Assessed, S::PlanAgreed])?;
            let mut violations = non_empty(&c.services, "services", "service");
            if let Some(cm) = &c.case_manager {
                violations.extend(check_participants(
                    registry,
                    std::slice::from_ref(cm),
                    "case_manager",
                    today,
                ));
            }
            valid(violations)?;
            Event::CarePlanAgreed(CarePlanAgreed {
                services: normalised(c.services.clone()),
                case_manager: c.case_manager.clone(),
            })
        }
        Command::ChangeExpectedDate(c) => {
            hospital_only()?;
            status(BEFORE_DISCHARGE)?;
            if c.expected_discharge == state.expected_discharge {
                return Err(Rejection::invalid(
                    "expected_discharge",
                    format!("is already {}", state.expected_discharge),
                ));
            }
            valid(not_in_past(
                c.expected_discharge,
                today,
                "expected_discharge",
            ))?;
            Event::ExpectedDateChanged(ExpectedDateChanged {
                previous: state.expected_discharge,
                expected_discharge: c.expected_discharge,
                reason: c.reason,
            })
        }
        Command::RecordDischarge(c) => {
            hospital_only()?;
            status(BEFORE_DISCHARGE)?;
            let mut violations = not_in_future(c.discharged_on, today, "discharged_on");
            violations.extend(not_before(
                c.discharged_on,
                state.requested_on,
                "discharged_on",
                "the request",
            ));
            if let Some(readmitted) = state.readmissions.last().map(|r| r.readmitted_on) {
                violations.extend(not_before(
                    c.discharged_on,
                    readmitted,
                    "discharged_on",
                    "the readmission",
                ));
            }
            valid(violations)?;
            Event::Discharged(Discharged {
                discharged_on: c.discharged_on,
                destination: c.destination,
            })
        }
        Command::ActivateHomeServices(c) => {
            let health = matches!(org, OrgId::Asst(a) if *a == state.asst || territory.is_serving_asst(registry, a, today));
            let social =
                is_social || territory.is_social_side(registry, org, ServiceArea::HomeCare, today);
            permit(health || social, org, pathway, name, || {
                format!(
                    "only the social services of Ambito {} or an ASST serving it may",
                    state.ambito
                )
            })?;
            status(&[S::Discharged, S::ServicesActive])?;
            let discharge = state
                .discharge
                .as_ref()
                .filter(|d| d.destination == Destination::Home);
            let Some(discharge) = discharge else {
                return Err(Rejection::IllegalTransition {
                    pathway: pathway.clone(),
                    status: state.status.as_str(),
                    command: name,
                    allowed: "the patient was discharged home".into(),
                });
            };
            for service in &c.services {
                let allowed = match service {
                    Service::CDom => health,
                    _ => social,
                };
                permit(allowed, org, pathway, name, || match service {
                    Service::CDom => "C-DOM is activated by the ASST".to_owned(),
                    _ => format!(
                        "{service:?} is activated by the social services of Ambito {}",
                        state.ambito
                    ),
                })?;
            }
            let mut violations = not_in_future(c.activated_on, today, "activated_on");
            violations.extend(not_before(
                c.activated_on,
                discharge.discharged_on,
                "activated_on",
                "the discharge",
            ));
            violations.extend(non_empty(&c.services, "services", "service"));
            for (i, service) in c.services.iter().enumerate() {
                if !service.is_home_service() {
                    violations.push(FieldViolation::new(
                        format!("services[{i}]"),
                        "a residential place is not a home service",
                    ));
                }
            }
            valid(violations)?;
            Event::HomeServicesActivated(HomeServicesActivated {
                services: normalised(c.services.clone()),
                activated_on: c.activated_on,
            })
        }
        Command::RecordReadmission(c) => {
            let OrgId::Asst(asst) = org else {
                return Err(denied(
                    org,
                    pathway,
                    name,
                    "only an ASST records a readmission",
                ));
            };
            status(&[S::Discharged, S::ServicesActive])?;
            let discharge = state
                .discharge
                .as_ref()
                .filter(|d| d.destination != Destination::Deceased);
            let Some(discharge) = discharge else {
                return Err(Rejection::IllegalTransition {
                    pathway: pathway.clone(),
                    status: state.status.as_str(),
                    command: name,
                    allowed: "the patient left hospital alive".into(),
                });
            };
            let mut violations = not_in_future(c.readmitted_on, today, "readmitted_on");
            violations.extend(not_before(
                c.readmitted_on,
                discharge.discharged_on,
                "readmitted_on",
                "the discharge",
            ));
            valid(violations)?;
            Event::Readmitted(Readmitted {
                readmitted_on: c.readmitted_on,
                asst: asst.clone(),
            })
        }
        Command::Close { reason } => {
            either_side()?;
            status(&[S::Discharged, S::ServicesActive, S::Readmitted])?;
            Event::Closed(Closed { reason: *reason })
        }
        Command::Cancel { reason } => {
            either_side()?;
            status(OPEN)?;
            Event::Cancelled(Cancelled { reason: *reason })
        }
    };
    Ok(super::EventData::DimissioneProtetta(event))
}

fn request_discharge(
    request: &Request,
    pathway: &PathwayId,
    ctx: &Context<'_>,
) -> Result<super::EventData, Rejection> {
    let org = &ctx.actor.org;
    let today = ctx.now.date();
    let OrgId::Asst(asst) = org else {
        return Err(denied(
            org,
            pathway,
            "request",
            "only an ASST requests a protected discharge",
        ));
    };
    let mut violations = Vec::new();
    let ward = request.ward.trim();
    if ward.is_empty() || ward.chars().count() > 120 {
        violations.push(FieldViolation::new(
            "ward",
            "required, at most 120 characters",
        ));
    }
    if !ctx.registry.org_active(org, today) {
        violations.push(FieldViolation::new(
            "asst",
            format!("unknown ASST '{asst}'"),
        ));
    }
    violations.extend(not_in_past(
        request.expected_discharge,
        today,
        "expected_discharge",
    ));
    let ambito = ambito_of(ctx.registry, &request.residence, today, "residence");
    if let Err(Rejection::Invalid(v)) = &ambito {
        violations.extend(v.iter().cloned());
    }
    valid(violations)?;
    Ok(super::EventData::DimissioneProtetta(Event::Requested(
        Requested {
            subject_ref: request.subject_ref.clone(),
            asst: asst.clone(),
            ward: ward.to_owned(),
            residence: request.residence.clone(),
            ambito: ambito?,
            expected_discharge: request.expected_discharge,
            needs: normalised(request.needs.clone()),
            lives_alone: request.lives_alone,
            no_caregiver: request.no_caregiver,
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
        let Event::Requested(r) = event else {
            return Err("a protected discharge must open with 'requested'".into());
        };
        return Ok(State {
            status: S::Requested,
            subject_ref: r.subject_ref.clone(),
            asst: r.asst.clone(),
            ward: r.ward.clone(),
            residence: r.residence.clone(),
            ambito: r.ambito.clone(),
            requested_on: envelope.time.date(),
            expected_discharge: r.expected_discharge,
            needs: r.needs.clone(),
            lives_alone: r.lives_alone,
            no_caregiver: r.no_caregiver,
            received_by: None,
            assessment: None,
            plan: None,
            discharge: None,
            home_services: Vec::new(),
            readmissions: Vec::new(),
        });
    };
    match event {
        Event::Requested(_) => return Err("the pathway is already open".into()),
        Event::Received(e) => {
            s.received_by = Some(e.received_by.clone());
            if s.status == S::Requested {
                s.status = S::Received;
            }
        }
        Event::JointAssessmentRecorded(e) => {
            s.assessment = Some(e.clone());
            s.status = S::Assessed;
        }
        Event::CarePlanAgreed(e) => {
            s.plan = Some(e.clone());
            s.status = S::PlanAgreed;
        }
        Event::ExpectedDateChanged(e) => s.expected_discharge = e.expected_discharge,
        Event::Discharged(e) => {
            s.discharge = Some(e.clone());
            s.home_services.clear();
            s.status = S::Discharged;
        }
        Event::HomeServicesActivated(e) => {
            s.home_services = normalised([s.home_services, e.services.clone()].concat());
            s.status = S::ServicesActive;
        }
        Event::Readmitted(e) => {
            s.readmissions.push(e.clone());
            s.status = S::Readmitted;
        }
        Event::Closed(_) => s.status = S::Closed,
        Event::Cancelled(_) => s.status = S::Cancelled,
    }
    Ok(s)
}
