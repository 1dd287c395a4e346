//! PUA intake: a person comes to the Punto Unico di Accesso in an ASST's Casa di Comunità, which
//! works with a social worker of the Comune or Ambito. Simple needs are answered on the spot;
//! complex ones go to a multidimensional assessment (UVM), an individual plan with a case
//! manager, and services.
//!
//! ```text
//! access_registered ─► answered ─────────────────────────────────────────────► closed
//!                   └► complex ─► uvm_requested ─► assessed ─► plan_agreed ─► service_active ─► closed
//! closed: from any open step (with a reason)
//! ```

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::Date;

use super::rules::{
    Participant, Territory, ambito_of, check_participants, denied, non_empty, normalised,
    not_before, not_in_future, permit, valid,
};
use super::{Context, FieldViolation, Rejection, pathway_events, pathway_statuses, require_status};
use crate::ids::{AmbitoCode, AsstCode, ComuneId, OrgId, PathwayId, SubjectRef};
use crate::registry::{Registry, ServiceArea};

/// How the person came to the PUA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The person themself.
    SelfReferral,
    Family,
    GeneralPractitioner,
    Hospital,
    School,
    SocialServices,
}

/// The outcome of the first, preliminary assessment (triage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Triage {
    /// Answered directly by the PUA: information, orientation, a single service.
    SimpleNeed,
    /// Needs a multidimensional assessment.
    Complex,
}

/// Assessment tools used by the UVM.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Tool {
    /// Activities of daily living.
    Adl,
    /// Instrumental activities of daily living.
    Iadl,
    /// Regional frailty and need assessment scale.
    Fna,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanType {
    /// Piano assistenziale individualizzato.
    Pai,
    ProgettoIndividualizzato,
    ProgettoDiVita,
}

/// A service activated under the plan.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PuaService {
    Sad,
    CDom,
    Residential,
    SemiResidential,
    EconomicSupport,
    HomeEducation,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    Completed,
    NeedAnswered,
    Withdrawn,
    Deceased,
    TransferredElsewhere,
}

// ---- commands ---------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegisterAccess {
    pub subject_ref: SubjectRef,
    pub residence: ComuneId,
    /// The ASST whose Casa di Comunità hosts the PUA.
    pub asst: AsstCode,
    pub channel: Channel,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompleteUvm {
    pub assessed_on: Date,
    pub participants: Vec<Participant>,
    pub tools: Vec<Tool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgreePlan {
    pub plan_type: PlanType,
    pub case_manager: Option<Participant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActivateService {
    pub service: PuaService,
    pub activated_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    RegisterAccess(RegisterAccess),
    RecordPreliminaryAssessment { triage: Triage },
    RequestUvm,
    CompleteUvm(CompleteUvm),
    AgreePlan(AgreePlan),
    ActivateService(ActivateService),
    Close { reason: CloseReason },
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Self::RegisterAccess(_) => "register_access",
            Self::RecordPreliminaryAssessment { .. } => "record_preliminary_assessment",
            Self::RequestUvm => "request_uvm",
            Self::CompleteUvm(_) => "complete_uvm",
            Self::AgreePlan(_) => "agree_plan",
            Self::ActivateService(_) => "activate_service",
            Self::Close { .. } => "close",
        }
    }

    pub fn opens_pathway(&self) -> bool {
        matches!(self, Self::RegisterAccess(_))
    }
}

// ---- events -----------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessRegistered {
    pub subject_ref: SubjectRef,
    pub residence: ComuneId,
    pub ambito: AmbitoCode,
    pub asst: AsstCode,
    pub channel: Channel,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PreliminaryAssessmentRecorded {
    pub triage: Triage,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UvmRequested {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UvmCompleted {
    #[schemars(schema_with = "crate::pathway::date_schema")]
    pub assessed_on: Date,
    #[schemars(length(min = 1))]
    pub participants: Vec<Participant>,
    #[schemars(length(min = 1))]
    #[schemars(extend("uniqueItems" = true))]
    pub tools: Vec<Tool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanAgreed {
    pub plan_type: PlanType,
    pub case_manager: Option<Participant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceActivated {
    pub service: PuaService,
    #[schemars(schema_with = "crate::pathway::date_schema")]
    pub activated_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Closed {
    pub reason: CloseReason,
}

pathway_events! {
    /// What can happen to a PUA intake.
    pub enum Event {
        AccessRegistered(AccessRegistered) = "access_registered",
        PreliminaryAssessmentRecorded(PreliminaryAssessmentRecorded) = "preliminary_assessment_recorded",
        UvmRequested(UvmRequested) = "uvm_requested",
        UvmCompleted(UvmCompleted) = "uvm_completed",
        PlanAgreed(PlanAgreed) = "plan_agreed",
        ServiceActivated(ServiceActivated) = "service_activated",
        Closed(Closed) = "closed",
    }
}

// ---- state ------------------------------------------------------------------------------------

pathway_statuses! {
    pub enum Status {
        AccessRegistered = "access_registered",
        /// A simple need, answered by the PUA itself.
        Answered = "answered",
        Complex = "complex",
        UvmRequested = "uvm_requested",
        Assessed = "assessed",
        PlanAgreed = "plan_agreed",
        ServiceActive = "service_active",
        Closed = "closed",
    }
    terminal: [Closed]
}

use Status as S;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct State {
    pub status: Status,
    pub subject_ref: SubjectRef,
    pub residence: ComuneId,
    pub ambito: AmbitoCode,
    pub asst: AsstCode,
    pub channel: Channel,
    pub registered_on: Date,
    pub triage: Option<Triage>,
    pub uvm: Option<UvmCompleted>,
    pub plan: Option<PlanAgreed>,
    pub services: Vec<PuaService>,
}

impl State {
    /// The PUA's ASST, the social side of the territory, and whoever took part in the UVM or
    /// manages the plan.
    pub fn is_party(&self, org: &OrgId, registry: &Registry, on: Date) -> bool {
        let territory = Territory {
            residence: &self.residence,
            ambito: &self.ambito,
        };
        let named = self
            .uvm
            .iter()
            .flat_map(|u| &u.participants)
            .chain(self.plan.iter().flat_map(|p| &p.case_manager))
            .any(|p| p.org == *org);
        named
            || matches!(org, OrgId::Asst(a) if *a == self.asst)
            || territory.is_any_social_side(registry, org, on)
    }

    /// Who the next step waits on, by default: the PUA triages and asks for the UVM, the UVM
    /// needs both sides, the plan's case manager (or the Comune) activates the services.
    pub fn waiting_on(&self) -> Vec<OrgId> {
        let pua = OrgId::Asst(self.asst.clone());
        let comune = OrgId::Comune(self.residence.clone());
        let owners = match self.status {
            S::AccessRegistered | S::Answered | S::Complex => vec![pua],
            S::UvmRequested | S::Assessed => vec![pua, comune],
            S::PlanAgreed => vec![
                self.plan
                    .as_ref()
                    .and_then(|p| p.case_manager.as_ref())
                    .map_or(comune, |cm| cm.org.clone()),
            ],
            S::ServiceActive | S::Closed => Vec::new(),
        };
        normalised(owners)
    }

    pub fn check_invariants(&self) -> Result<(), String> {
        let fail = |what: &str| Err(format!("{} but {what}", self.status));
        match self.status {
            S::Answered if self.triage != Some(Triage::SimpleNeed) => fail("not a simple need"),
            S::Complex | S::UvmRequested if self.triage != Some(Triage::Complex) => {
                fail("not complex")
            }
            S::Assessed if self.uvm.is_none() => fail("no UVM"),
            S::PlanAgreed if self.plan.is_none() || self.uvm.is_none() => fail("no plan or UVM"),
            S::ServiceActive if self.plan.is_none() || self.services.is_empty() => {
                fail("no plan or service")
            }
            _ if self.services.windows(2).any(|w| w[0] >= w[1]) => {
                fail("services not a sorted set")
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
            Command::RegisterAccess(c) => register_access(c, pathway, ctx),
            _ => Err(Rejection::NotFound(pathway.clone())),
        };
    };
    let name = command.name();
    let org = &ctx.actor.org;
    let today = ctx.now.date();
    let registry = ctx.registry;
    let territory = Territory {
        residence: &state.residence,
        ambito: &state.ambito,
    };
    let is_pua = matches!(org, OrgId::Asst(a) if *a == state.asst)
        || territory.is_social_side(registry, org, ServiceArea::SocialService, today);
    permit(is_pua, org, pathway, name, || {
        format!(
            "only the PUA of ASST {} or the social services of Ambito {} may",
            state.asst, state.ambito
        )
    })?;
    let status = |allowed: &[Status]| {
        require_status(pathway, state.status, state.status.as_str(), name, allowed)
    };
    let event = match command {
        Command::RegisterAccess(_) => {
            return Err(Rejection::invalid(
                "pathway_id",
                format!("pathway {pathway} already exists"),
            ));
        }
        Command::RecordPreliminaryAssessment { triage } => {
            status(&[S::AccessRegistered])?;
            Event::PreliminaryAssessmentRecorded(PreliminaryAssessmentRecorded { triage: *triage })
        }
        Command::RequestUvm => {
            status(&[S::Complex])?;
            Event::UvmRequested(UvmRequested {})
        }
        Command::CompleteUvm(c) => {
            status(&[S::UvmRequested])?;
            let mut violations =
                check_participants(registry, &c.participants, "participants", today);
            violations.extend(non_empty(&c.participants, "participants", "participant"));
            violations.extend(non_empty(&c.tools, "tools", "assessment tool"));
            violations.extend(not_in_future(c.assessed_on, today, "assessed_on"));
            violations.extend(not_before(
                c.assessed_on,
                state.registered_on,
                "assessed_on",
                "the access",
            ));
            valid(violations)?;
            Event::UvmCompleted(UvmCompleted {
                assessed_on: c.assessed_on,
                participants: c.participants.clone(),
                tools: normalised(c.tools.clone()),
            })
        }
        Command::AgreePlan(c) => {
            status(&[S::Assessed, S::PlanAgreed])?;
            if let Some(cm) = &c.case_manager {
                valid(check_participants(
                    registry,
                    std::slice::from_ref(cm),
                    "case_manager",
                    today,
                ))?;
            }
            Event::PlanAgreed(PlanAgreed {
                plan_type: c.plan_type,
                case_manager: c.case_manager.clone(),
            })
        }
        Command::ActivateService(c) => {
            status(&[S::PlanAgreed, S::ServiceActive])?;
            let mut violations = not_in_future(c.activated_on, today, "activated_on");
            violations.extend(not_before(
                c.activated_on,
                state.registered_on,
                "activated_on",
                "the access",
            ));
            valid(violations)?;
            Event::ServiceActivated(ServiceActivated {
                service: c.service,
                activated_on: c.activated_on,
            })
        }
        Command::Close { reason } => {
            let open: Vec<Status> = S::ALL
                .iter()
                .copied()
                .filter(|s| !s.is_terminal())
                .collect();
            status(&open)?;
            Event::Closed(Closed { reason: *reason })
        }
    };
    Ok(super::EventData::Pua(event))
}

fn register_access(
    c: &RegisterAccess,
    pathway: &PathwayId,
    ctx: &Context<'_>,
) -> Result<super::EventData, Rejection> {
    let org = &ctx.actor.org;
    let today = ctx.now.date();
    let ambito = ambito_of(ctx.registry, &c.residence, today, "residence")?;
    let territory = Territory {
        residence: &c.residence,
        ambito: &ambito,
    };
    if !territory.is_serving_asst(ctx.registry, &c.asst, today) {
        return Err(Rejection::Invalid(vec![FieldViolation::new(
            "asst",
            format!(
                "ASST '{}' does not serve Ambito {ambito} of {}",
                c.asst, c.residence
            ),
        )]));
    }
    let allowed = match org {
        OrgId::Asst(a) => *a == c.asst,
        _ => territory.is_social_side(ctx.registry, org, ServiceArea::SocialService, today),
    };
    if !allowed {
        return Err(denied(
            org,
            pathway,
            "register_access",
            format!(
                "only ASST {} or the social services of Ambito {ambito} register access at this PUA",
                c.asst
            ),
        ));
    }
    Ok(super::EventData::Pua(Event::AccessRegistered(
        AccessRegistered {
            subject_ref: c.subject_ref.clone(),
            residence: c.residence.clone(),
            ambito,
            asst: c.asst.clone(),
            channel: c.channel,
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
        let Event::AccessRegistered(e) = event else {
            return Err("a PUA intake must open with 'access_registered'".into());
        };
        return Ok(State {
            status: S::AccessRegistered,
            subject_ref: e.subject_ref.clone(),
            residence: e.residence.clone(),
            ambito: e.ambito.clone(),
            asst: e.asst.clone(),
            channel: e.channel,
            registered_on: envelope.time.date(),
            triage: None,
            uvm: None,
            plan: None,
            services: Vec::new(),
        });
    };
    match event {
        Event::AccessRegistered(_) => return Err("the pathway is already open".into()),
        Event::PreliminaryAssessmentRecorded(e) => {
            s.triage = Some(e.triage);
            s.status = match e.triage {
                Triage::SimpleNeed => S::Answered,
                Triage::Complex => S::Complex,
            };
        }
        Event::UvmRequested(_) => s.status = S::UvmRequested,
        Event::UvmCompleted(e) => {
            s.uvm = Some(e.clone());
            s.status = S::Assessed;
        }
        Event::PlanAgreed(e) => {
            s.plan = Some(e.clone());
            s.status = S::PlanAgreed;
        }
        Event::ServiceActivated(e) => {
            s.services = normalised([s.services, vec![e.service]].concat());
            s.status = S::ServiceActive;
        }
        Event::Closed(_) => s.status = S::Closed,
    }
    Ok(s)
}
