//! From wire messages to domain commands. Every field is checked and every problem reported at
//! once, with the field's name, so a caller can fix a request in one go. The codice fiscale is
//! turned into a `subject_ref` here, at the edge, and goes no further.

use std::str::FromStr;

use raccordo_domain::codice_fiscale::CodiceFiscale;
use raccordo_domain::identity::SubjectKey;
use raccordo_domain::ids::{CommandId, IdError, OrgId, PathwayId, SubjectRef};
use raccordo_domain::pathway::centro_famiglia as cpf;
use raccordo_domain::pathway::dimissione_protetta as dp;
use raccordo_domain::pathway::pua;
use raccordo_domain::pathway::{Command, CommandBody, FieldViolation, Participant, Role};
use time::Date;
use time::macros::format_description;

use crate::v1;

type Field<T> = Result<T, Vec<FieldViolation>>;

fn violation<T>(field: &str, description: impl Into<String>) -> Field<T> {
    Err(vec![FieldViolation::new(field, description)])
}

/// Joins the checks of several fields: all their values, or all their violations.
trait AllFields {
    type Out;
    fn all(self) -> Field<Self::Out>;
}

macro_rules! all_fields {
    ($($name:ident),+) => {
        impl<$($name),+> AllFields for ($(Field<$name>,)+) {
            type Out = ($($name,)+);
            #[allow(non_snake_case)]
            fn all(self) -> Field<Self::Out> {
                let ($($name,)+) = self;
                let mut violations = Vec::new();
                $(let $name = $name.map_err(|v| violations.extend(v)).ok();)+
                match ($($name,)+) {
                    ($(Some($name),)+) if violations.is_empty() => Ok(($($name,)+)),
                    _ => Err(violations),
                }
            }
        }
    };
}
all_fields!(A);
all_fields!(A, B);
all_fields!(A, B, C);
all_fields!(A, B, C, D);
all_fields!(A, B, C, D, E);
all_fields!(A, B, C, D, E, F);
all_fields!(A, B, C, D, E, F, G);

fn required(field: &str, value: &str) -> Field<()> {
    if value.trim().is_empty() {
        violation(field, "required")
    } else {
        Ok(())
    }
}

fn id<T: FromStr<Err = IdError>>(field: &str, value: &str) -> Field<T> {
    required(field, value)?;
    value
        .parse()
        .or_else(|e: IdError| violation(field, e.to_string()))
}

fn command_id(value: &str) -> Field<CommandId> {
    id("command_id", value)
}

/// Checks a pathway id given by the caller.
pub fn parse_pathway_id(value: &str) -> Result<PathwayId, Vec<FieldViolation>> {
    id("pathway_id", value)
}

fn date(field: &str, value: &str) -> Field<Date> {
    required(field, value)?;
    Date::parse(value, format_description!("[year]-[month]-[day]"))
        .or_else(|_| violation(field, format!("'{value}' is not a date as YYYY-MM-DD")))
}

fn subject(key: &SubjectKey, value: &str) -> Field<SubjectRef> {
    const FIELD: &str = "codice_fiscale";
    required(FIELD, value)?;
    // The error says what is wrong with the code without repeating it.
    let cf: CodiceFiscale =
        value
            .parse()
            .or_else(|e: raccordo_domain::codice_fiscale::CodiceFiscaleError| {
                violation(FIELD, e.to_string())
            })?;
    Ok(key.subject_ref(&cf))
}

/// Maps a wire enum to its domain value; the unspecified (zero) value and unknown numbers are refused.
fn choice<W: TryFrom<i32>, D>(field: &str, value: i32, map: fn(W) -> Option<D>) -> Field<D> {
    match W::try_from(value).ok().and_then(map) {
        Some(d) => Ok(d),
        None if value == 0 => violation(field, "required"),
        None => violation(field, format!("{value} is not a known value")),
    }
}

fn choices<W: TryFrom<i32>, D>(
    field: &str,
    values: &[i32],
    map: fn(W) -> Option<D>,
) -> Field<Vec<D>> {
    let mut out = Vec::with_capacity(values.len());
    let mut violations = Vec::new();
    for (i, v) in values.iter().enumerate() {
        match choice(&format!("{field}[{i}]"), *v, map) {
            Ok(d) => out.push(d),
            Err(e) => violations.extend(e),
        }
    }
    if violations.is_empty() {
        Ok(out)
    } else {
        Err(violations)
    }
}

fn role(r: v1::Role) -> Option<Role> {
    use v1::Role as W;
    Some(match r {
        W::Unspecified => return None,
        W::SocialWorker => Role::SocialWorker,
        W::Physician => Role::Physician,
        W::GeneralPractitioner => Role::GeneralPractitioner,
        W::Nurse => Role::Nurse,
        W::Therapist => Role::Therapist,
        W::Psychologist => Role::Psychologist,
        W::Educator => Role::Educator,
        W::Other => Role::Other,
    })
}

fn participant(field: &str, p: &v1::Participant) -> Field<Participant> {
    let (org, role) = (
        id::<OrgId>(&format!("{field}.org"), &p.org),
        choice(&format!("{field}.role"), p.role, role),
    )
        .all()?;
    Ok(Participant { org, role })
}

fn participants(field: &str, ps: &[v1::Participant]) -> Field<Vec<Participant>> {
    let mut out = Vec::with_capacity(ps.len());
    let mut violations = Vec::new();
    for (i, p) in ps.iter().enumerate() {
        match participant(&format!("{field}[{i}]"), p) {
            Ok(p) => out.push(p),
            Err(e) => violations.extend(e),
        }
    }
    if violations.is_empty() {
        Ok(out)
    } else {
        Err(violations)
    }
}

fn optional_participant(field: &str, p: &Option<v1::Participant>) -> Field<Option<Participant>> {
    p.as_ref().map(|p| participant(field, p)).transpose()
}

fn discharge_service(s: v1::DischargeService) -> Option<dp::Service> {
    use v1::DischargeService as W;
    Some(match s {
        W::Unspecified => return None,
        W::Sad => dp::Service::Sad,
        W::CDom => dp::Service::CDom,
        W::Residential => dp::Service::Residential,
        W::CaregiverSupport => dp::Service::CaregiverSupport,
    })
}

/// A wire request that carries one domain command.
pub trait ToCommand {
    fn to_command(&self, key: &SubjectKey) -> Result<Command, Vec<FieldViolation>>;
}

/// A command on an existing pathway: its id, the pathway, and the kind's command.
fn on_pathway(command: &str, pathway: &str, body: Field<CommandBody>) -> Field<Command> {
    let (id, pathway, body) = (command_id(command), parse_pathway_id(pathway), body).all()?;
    Ok(Command {
        id,
        pathway: Some(pathway),
        body,
    })
}

fn opening(command: &str, body: Field<CommandBody>) -> Field<Command> {
    let (id, body) = (command_id(command), body).all()?;
    Ok(Command {
        id,
        pathway: None,
        body,
    })
}

fn dp_body(body: Field<dp::Command>) -> Field<CommandBody> {
    body.map(CommandBody::DimissioneProtetta)
}

fn pua_body(body: Field<pua::Command>) -> Field<CommandBody> {
    body.map(CommandBody::Pua)
}

fn cpf_body(body: Field<cpf::Command>) -> Field<CommandBody> {
    body.map(CommandBody::CentroFamiglia)
}

// ---- dimissione protetta ------------------------------------------------------------------------

impl ToCommand for v1::RequestDischargeRequest {
    fn to_command(&self, key: &SubjectKey) -> Field<Command> {
        let body = (
            subject(key, &self.codice_fiscale),
            Ok(self.ward.clone()), // the domain checks it, with the registry and the dates
            id("residence", &self.residence),
            date("expected_discharge", &self.expected_discharge),
            choices("needs", &self.needs, discharge_service),
        )
            .all()
            .map(
                |(subject_ref, ward, residence, expected_discharge, needs)| {
                    dp::Command::Request(dp::Request {
                        subject_ref,
                        ward,
                        residence,
                        expected_discharge,
                        needs,
                        lives_alone: self.lives_alone,
                        no_caregiver: self.no_caregiver,
                    })
                },
            );
        opening(&self.command_id, dp_body(body))
    }
}

impl ToCommand for v1::ReceiveDischargeRequest {
    fn to_command(&self, _: &SubjectKey) -> Field<Command> {
        on_pathway(
            &self.command_id,
            &self.pathway_id,
            Ok(CommandBody::DimissioneProtetta(dp::Command::Receive)),
        )
    }
}

impl ToCommand for v1::RecordJointAssessmentRequest {
    fn to_command(&self, _: &SubjectKey) -> Field<Command> {
        let body = (
            date("assessed_on", &self.assessed_on),
            participants("participants", &self.participants),
        )
            .all()
            .map(|(assessed_on, participants)| {
                dp::Command::RecordJointAssessment(dp::RecordJointAssessment {
                    assessed_on,
                    participants,
                })
            });
        on_pathway(&self.command_id, &self.pathway_id, dp_body(body))
    }
}

impl ToCommand for v1::AgreeCarePlanRequest {
    fn to_command(&self, _: &SubjectKey) -> Field<Command> {
        let body = (
            choices("services", &self.services, discharge_service),
            optional_participant("case_manager", &self.case_manager),
        )
            .all()
            .map(|(services, case_manager)| {
                dp::Command::AgreeCarePlan(dp::AgreeCarePlan {
                    services,
                    case_manager,
                })
            });
        on_pathway(&self.command_id, &self.pathway_id, dp_body(body))
    }
}

impl ToCommand for v1::ChangeExpectedDateRequest {
    fn to_command(&self, _: &SubjectKey) -> Field<Command> {
        let body = (
            date("expected_discharge", &self.expected_discharge),
            choice("reason", self.reason, |r: v1::DateChangeReason| {
                use v1::DateChangeReason as W;
                Some(match r {
                    W::Unspecified => return None,
                    W::ClinicalCondition => dp::DateChangeReason::ClinicalCondition,
                    W::AwaitingHomeServices => dp::DateChangeReason::AwaitingHomeServices,
                    W::AwaitingResidentialPlace => dp::DateChangeReason::AwaitingResidentialPlace,
                    W::FamilyRequest => dp::DateChangeReason::FamilyRequest,
                    W::Other => dp::DateChangeReason::Other,
                })
            }),
        )
            .all()
            .map(|(expected_discharge, reason)| {
                dp::Command::ChangeExpectedDate(dp::ChangeExpectedDate {
                    expected_discharge,
                    reason,
                })
            });
        on_pathway(&self.command_id, &self.pathway_id, dp_body(body))
    }
}

impl ToCommand for v1::RecordDischargeRequest {
    fn to_command(&self, _: &SubjectKey) -> Field<Command> {
        let body = (
            date("discharged_on", &self.discharged_on),
            choice("destination", self.destination, |d: v1::Destination| {
                use v1::Destination as W;
                Some(match d {
                    W::Unspecified => return None,
                    W::Home => dp::Destination::Home,
                    W::ResidentialFacility => dp::Destination::ResidentialFacility,
                    W::CommunityHospital => dp::Destination::CommunityHospital,
                    W::Deceased => dp::Destination::Deceased,
                    W::Other => dp::Destination::Other,
                })
            }),
        )
            .all()
            .map(|(discharged_on, destination)| {
                dp::Command::RecordDischarge(dp::RecordDischarge {
                    discharged_on,
                    destination,
                })
            });
        on_pathway(&self.command_id, &self.pathway_id, dp_body(body))
    }
}

impl ToCommand for v1::ActivateHomeServicesRequest {
    fn to_command(&self, _: &SubjectKey) -> Field<Command> {
        let body = (
            choices("services", &self.services, discharge_service),
            date("activated_on", &self.activated_on),
        )
            .all()
            .map(|(services, activated_on)| {
                dp::Command::ActivateHomeServices(dp::ActivateHomeServices {
                    services,
                    activated_on,
                })
            });
        on_pathway(&self.command_id, &self.pathway_id, dp_body(body))
    }
}

impl ToCommand for v1::RecordReadmissionRequest {
    fn to_command(&self, _: &SubjectKey) -> Field<Command> {
        let body = date("readmitted_on", &self.readmitted_on).map(|readmitted_on| {
            dp::Command::RecordReadmission(dp::RecordReadmission { readmitted_on })
        });
        on_pathway(&self.command_id, &self.pathway_id, dp_body(body))
    }
}

impl ToCommand for v1::CloseDischargeRequest {
    fn to_command(&self, _: &SubjectKey) -> Field<Command> {
        let body = choice("reason", self.reason, |r: v1::DischargeCloseReason| {
            use v1::DischargeCloseReason as W;
            Some(match r {
                W::Unspecified => return None,
                W::Completed => dp::CloseReason::Completed,
                W::HandedOver => dp::CloseReason::HandedOver,
                W::PatientDeceased => dp::CloseReason::PatientDeceased,
            })
        })
        .map(|reason| dp::Command::Close { reason });
        on_pathway(&self.command_id, &self.pathway_id, dp_body(body))
    }
}

impl ToCommand for v1::CancelDischargeRequest {
    fn to_command(&self, _: &SubjectKey) -> Field<Command> {
        let body = choice("reason", self.reason, |r: v1::CancelReason| {
            use v1::CancelReason as W;
            Some(match r {
                W::Unspecified => return None,
                W::NoLongerNeeded => dp::CancelReason::NoLongerNeeded,
                W::PatientRefused => dp::CancelReason::PatientRefused,
                W::PatientDeceased => dp::CancelReason::PatientDeceased,
                W::TransferredToAnotherHospital => dp::CancelReason::TransferredToAnotherHospital,
                W::EnteredInError => dp::CancelReason::EnteredInError,
            })
        })
        .map(|reason| dp::Command::Cancel { reason });
        on_pathway(&self.command_id, &self.pathway_id, dp_body(body))
    }
}

// ---- PUA ----------------------------------------------------------------------------------------

impl ToCommand for v1::RegisterAccessRequest {
    fn to_command(&self, key: &SubjectKey) -> Field<Command> {
        let body = (
            subject(key, &self.codice_fiscale),
            id("residence", &self.residence),
            id("asst", &self.asst),
            choice("channel", self.channel, |c: v1::Channel| {
                use v1::Channel as W;
                Some(match c {
                    W::Unspecified => return None,
                    W::SelfReferral => pua::Channel::SelfReferral,
                    W::Family => pua::Channel::Family,
                    W::GeneralPractitioner => pua::Channel::GeneralPractitioner,
                    W::Hospital => pua::Channel::Hospital,
                    W::School => pua::Channel::School,
                    W::SocialServices => pua::Channel::SocialServices,
                })
            }),
        )
            .all()
            .map(|(subject_ref, residence, asst, channel)| {
                pua::Command::RegisterAccess(pua::RegisterAccess {
                    subject_ref,
                    residence,
                    asst,
                    channel,
                })
            });
        opening(&self.command_id, pua_body(body))
    }
}

impl ToCommand for v1::RecordPreliminaryAssessmentRequest {
    fn to_command(&self, _: &SubjectKey) -> Field<Command> {
        let body = choice("triage", self.triage, |t: v1::Triage| match t {
            v1::Triage::Unspecified => None,
            v1::Triage::SimpleNeed => Some(pua::Triage::SimpleNeed),
            v1::Triage::Complex => Some(pua::Triage::Complex),
        })
        .map(|triage| pua::Command::RecordPreliminaryAssessment { triage });
        on_pathway(&self.command_id, &self.pathway_id, pua_body(body))
    }
}

impl ToCommand for v1::RequestUvmRequest {
    fn to_command(&self, _: &SubjectKey) -> Field<Command> {
        on_pathway(
            &self.command_id,
            &self.pathway_id,
            Ok(CommandBody::Pua(pua::Command::RequestUvm)),
        )
    }
}

impl ToCommand for v1::CompleteUvmRequest {
    fn to_command(&self, _: &SubjectKey) -> Field<Command> {
        let body = (
            date("assessed_on", &self.assessed_on),
            participants("participants", &self.participants),
            choices("tools", &self.tools, |t: v1::Tool| {
                use v1::Tool as W;
                Some(match t {
                    W::Unspecified => return None,
                    W::Adl => pua::Tool::Adl,
                    W::Iadl => pua::Tool::Iadl,
                    W::Fna => pua::Tool::Fna,
                    W::Other => pua::Tool::Other,
                })
            }),
        )
            .all()
            .map(|(assessed_on, participants, tools)| {
                pua::Command::CompleteUvm(pua::CompleteUvm {
                    assessed_on,
                    participants,
                    tools,
                })
            });
        on_pathway(&self.command_id, &self.pathway_id, pua_body(body))
    }
}

impl ToCommand for v1::AgreePlanRequest {
    fn to_command(&self, _: &SubjectKey) -> Field<Command> {
        let body = (
            choice("plan_type", self.plan_type, |p: v1::PlanType| {
                use v1::PlanType as W;
                Some(match p {
                    W::Unspecified => return None,
                    W::Pai => pua::PlanType::Pai,
                    W::ProgettoIndividualizzato => pua::PlanType::ProgettoIndividualizzato,
                    W::ProgettoDiVita => pua::PlanType::ProgettoDiVita,
                })
            }),
            optional_participant("case_manager", &self.case_manager),
        )
            .all()
            .map(|(plan_type, case_manager)| {
                pua::Command::AgreePlan(pua::AgreePlan {
                    plan_type,
                    case_manager,
                })
            });
        on_pathway(&self.command_id, &self.pathway_id, pua_body(body))
    }
}

impl ToCommand for v1::ActivateServiceRequest {
    fn to_command(&self, _: &SubjectKey) -> Field<Command> {
        let body = (
            choice("service", self.service, |s: v1::PuaService| {
                use v1::PuaService as W;
                Some(match s {
                    W::Unspecified => return None,
                    W::Sad => pua::PuaService::Sad,
                    W::CDom => pua::PuaService::CDom,
                    W::Residential => pua::PuaService::Residential,
                    W::SemiResidential => pua::PuaService::SemiResidential,
                    W::EconomicSupport => pua::PuaService::EconomicSupport,
                    W::HomeEducation => pua::PuaService::HomeEducation,
                    W::Other => pua::PuaService::Other,
                })
            }),
            date("activated_on", &self.activated_on),
        )
            .all()
            .map(|(service, activated_on)| {
                pua::Command::ActivateService(pua::ActivateService {
                    service,
                    activated_on,
                })
            });
        on_pathway(&self.command_id, &self.pathway_id, pua_body(body))
    }
}

impl ToCommand for v1::ClosePuaRequest {
    fn to_command(&self, _: &SubjectKey) -> Field<Command> {
        let body = choice("reason", self.reason, |r: v1::PuaCloseReason| {
            use v1::PuaCloseReason as W;
            Some(match r {
                W::Unspecified => return None,
                W::Completed => pua::CloseReason::Completed,
                W::NeedAnswered => pua::CloseReason::NeedAnswered,
                W::Withdrawn => pua::CloseReason::Withdrawn,
                W::Deceased => pua::CloseReason::Deceased,
                W::TransferredElsewhere => pua::CloseReason::TransferredElsewhere,
            })
        })
        .map(|reason| pua::Command::Close { reason });
        on_pathway(&self.command_id, &self.pathway_id, pua_body(body))
    }
}

// ---- Centro per la Famiglia -----------------------------------------------------------------------

fn support_area(a: v1::SupportArea) -> Option<cpf::SupportArea> {
    use v1::SupportArea as W;
    Some(match a {
        W::Unspecified => return None,
        W::Orientation => cpf::SupportArea::Orientation,
        W::ParentingSupport => cpf::SupportArea::ParentingSupport,
        W::ListeningDesk => cpf::SupportArea::ListeningDesk,
        W::CaregiverSupport => cpf::SupportArea::CaregiverSupport,
        W::FamilyMediation => cpf::SupportArea::FamilyMediation,
        W::Other => cpf::SupportArea::Other,
    })
}

impl ToCommand for v1::SendReferralRequest {
    fn to_command(&self, key: &SubjectKey) -> Field<Command> {
        let body = (
            subject(key, &self.codice_fiscale),
            id("residence", &self.residence),
            id("centro", &self.centro),
            choice("referrer", self.referrer, |r: v1::Referrer| {
                use v1::Referrer as W;
                Some(match r {
                    W::Unspecified => return None,
                    W::ComuneSocialService => cpf::Referrer::ComuneSocialService,
                    W::Consultorio => cpf::Referrer::Consultorio,
                    W::Pua => cpf::Referrer::Pua,
                    W::School => cpf::Referrer::School,
                })
            }),
            choices("areas", &self.areas, support_area),
        )
            .all()
            .map(|(subject_ref, residence, centro, referrer, areas)| {
                cpf::Command::SendReferral(cpf::SendReferral {
                    subject_ref,
                    residence,
                    centro,
                    referrer,
                    areas,
                })
            });
        opening(&self.command_id, cpf_body(body))
    }
}

impl ToCommand for v1::AcceptReferralRequest {
    fn to_command(&self, _: &SubjectKey) -> Field<Command> {
        on_pathway(
            &self.command_id,
            &self.pathway_id,
            Ok(CommandBody::CentroFamiglia(cpf::Command::Accept)),
        )
    }
}

impl ToCommand for v1::DeclineReferralRequest {
    fn to_command(&self, _: &SubjectKey) -> Field<Command> {
        let body = choice("reason", self.reason, |r: v1::DeclineReason| {
            use v1::DeclineReason as W;
            Some(match r {
                W::Unspecified => return None,
                W::OutsideCatchment => cpf::DeclineReason::OutsideCatchment,
                W::NeedOutOfScope => cpf::DeclineReason::NeedOutOfScope,
                W::NoCapacity => cpf::DeclineReason::NoCapacity,
                W::FamilyDeclined => cpf::DeclineReason::FamilyDeclined,
            })
        })
        .map(|reason| cpf::Command::Decline { reason });
        on_pathway(&self.command_id, &self.pathway_id, cpf_body(body))
    }
}

impl ToCommand for v1::RecordFirstContactRequest {
    fn to_command(&self, _: &SubjectKey) -> Field<Command> {
        let body = (
            date("contacted_on", &self.contacted_on),
            choice("mode", self.mode, |m: v1::ContactMode| {
                use v1::ContactMode as W;
                Some(match m {
                    W::Unspecified => return None,
                    W::InPerson => cpf::ContactMode::InPerson,
                    W::Phone => cpf::ContactMode::Phone,
                    W::Online => cpf::ContactMode::Online,
                })
            }),
        )
            .all()
            .map(|(contacted_on, mode)| {
                cpf::Command::RecordFirstContact(cpf::RecordFirstContact { contacted_on, mode })
            });
        on_pathway(&self.command_id, &self.pathway_id, cpf_body(body))
    }
}

impl ToCommand for v1::EnrolRequest {
    fn to_command(&self, _: &SubjectKey) -> Field<Command> {
        let body = (
            choices("interventions", &self.interventions, support_area),
            date("enrolled_on", &self.enrolled_on),
        )
            .all()
            .map(|(interventions, enrolled_on)| {
                cpf::Command::Enrol(cpf::Enrol {
                    interventions,
                    enrolled_on,
                })
            });
        on_pathway(&self.command_id, &self.pathway_id, cpf_body(body))
    }
}

impl ToCommand for v1::CloseReferralRequest {
    fn to_command(&self, _: &SubjectKey) -> Field<Command> {
        let body = choice("reason", self.reason, |r: v1::ReferralCloseReason| {
            use v1::ReferralCloseReason as W;
            Some(match r {
                W::Unspecified => return None,
                W::Completed => cpf::CloseReason::Completed,
                W::FamilyWithdrew => cpf::CloseReason::FamilyWithdrew,
                W::NotReachable => cpf::CloseReason::NotReachable,
                W::ReferredElsewhere => cpf::CloseReason::ReferredElsewhere,
            })
        })
        .map(|reason| cpf::Command::Close { reason });
        on_pathway(&self.command_id, &self.pathway_id, cpf_body(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SubjectKey {
        SubjectKey::from_bytes(&[7; 32]).unwrap()
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let request = v1::RequestDischargeRequest {
            command_id: String::new(),
            codice_fiscale: "RSSMRA85T10A562X".into(),
            ward: " ".into(),
            residence: "Magenta".into(),
            expected_discharge: "10/03/2026".into(),
            needs: vec![1, 0, 99],
            lives_alone: true,
            no_caregiver: false,
        };
        let violations = request.to_command(&key()).unwrap_err();
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "command_id",
                "codice_fiscale",
                "residence",
                "expected_discharge",
                "needs[1]",
                "needs[2]"
            ]
        );
        assert!(
            violations
                .iter()
                .all(|v| !v.description.contains("RSSMRA85T10A562X"))
        );
    }

    #[test]
    fn a_valid_request_becomes_a_command_without_the_fiscal_code() {
        let request = v1::RequestDischargeRequest {
            command_id: "c-1".into(),
            codice_fiscale: "rssmra85t10a562s".into(),
            ward: "Medicina generale".into(),
            residence: "magenta".into(),
            expected_discharge: "2026-03-10".into(),
            needs: vec![v1::DischargeService::Sad as i32],
            lives_alone: true,
            no_caregiver: false,
        };
        let command = request.to_command(&key()).unwrap();
        let json = serde_json::to_string(&command).unwrap();
        assert!(!json.to_uppercase().contains("RSSMRA85T10A562S"));
        assert!(command.pathway.is_none());
        assert_eq!(command.body.name(), "request");
    }
}
