//! Plays the scenario through the real gRPC API: each organisation calls with its own bearer
//! token, the virtual clock moves through the days in event order, and every answer is checked
//! against what the scenario expects (appended, replayed with the first reply, or refused with
//! the right status).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::SocketAddr;

use anyhow::Context as _;
use futures::{StreamExt as _, TryStreamExt as _};
use raccordo_api::ToCommand;
use raccordo_api::v1::centro_famiglia_client::CentroFamigliaClient;
use raccordo_api::v1::dimissione_protetta_client::DimissioneProtettaClient;
use raccordo_api::v1::pathways_client::PathwaysClient;
use raccordo_api::v1::pua_client::PuaClient;
use raccordo_api::v1::{self, CommandReply};
use raccordo_domain::clock::VirtualClock;
use raccordo_domain::codice_fiscale::CodiceFiscale;
use raccordo_domain::identity::SubjectKey;
use raccordo_domain::pathway::{self, FieldViolation};
use raccordo_eventlog::EventLog;
use raccordo_gateway::REPLAYED_HEADER;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Response, Status};

use super::scenario::{
    Command, Expect, Highlight, Moment, Participant, PathwayPlan, Person, Scenario, Step,
};

/// At most this many commands in flight at once, within one hour of simulated time.
const IN_FLIGHT: usize = 8;
/// A progress line every this many simulated days.
const REPORT_EVERY_DAYS: u32 = 10;

/// Adds an organisation's bearer token to every call.
#[derive(Clone)]
pub(crate) struct Bearer(MetadataValue<Ascii>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

pub(crate) type Authed = InterceptedService<Channel, Bearer>;

/// The gRPC clients of one organisation: its desk.
#[derive(Clone)]
pub(crate) struct Desk {
    dimissione: DimissioneProtettaClient<Authed>,
    pua: PuaClient<Authed>,
    centro: CentroFamigliaClient<Authed>,
    pathways: PathwaysClient<Authed>,
}

impl Desk {
    pub fn pathways(&self) -> PathwaysClient<Authed> {
        self.pathways.clone()
    }
}

/// Every organisation's desk, by organisation id, over one shared HTTP/2 connection.
pub(crate) struct Desks(HashMap<String, Desk>);

impl Desks {
    pub async fn connect(addr: SocketAddr, tokens: &[(String, String)]) -> anyhow::Result<Self> {
        let channel = Channel::from_shared(format!("http://{addr}"))?
            .connect()
            .await
            .with_context(|| format!("cannot connect to the gRPC API on {addr}"))?;
        let mut desks = HashMap::new();
        for (org, token) in tokens {
            let bearer = Bearer(format!("Bearer {token}").parse()?);
            desks.insert(
                org.clone(),
                Desk {
                    dimissione: DimissioneProtettaClient::with_interceptor(
                        channel.clone(),
                        bearer.clone(),
                    ),
                    pua: PuaClient::with_interceptor(channel.clone(), bearer.clone()),
                    centro: CentroFamigliaClient::with_interceptor(channel.clone(), bearer.clone()),
                    pathways: PathwaysClient::with_interceptor(channel.clone(), bearer),
                },
            );
        }
        Ok(Self(desks))
    }

    pub fn of(&self, org: &str) -> anyhow::Result<&Desk> {
        self.0
            .get(org)
            .with_context(|| format!("the demo has no token for {org}"))
    }
}

/// What the demo knows of one pathway while playing it.
#[derive(Debug, Default)]
pub(crate) struct PathwayRun {
    /// Given by the reply to the opening command.
    pub id: Option<String>,
    /// The first reply to every command applied, by command id: a retry must get the same.
    replies: HashMap<String, CommandReply>,
    /// The status after the last event appended.
    pub status: String,
    /// Events the pathway's commands appended.
    pub events: u64,
    /// The log sequence of the last of them: reading the pathway back waits for it.
    pub last_sequence: u64,
}

/// What the calls came to.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Command rpcs sent.
    pub commands: u64,
    /// `Pathways.Get` calls sent while playing (all of them mistakes the product refuses).
    pub reads: u64,
    pub appended: u64,
    pub replayed: u64,
    /// Refusals by status code, then by the mistake made.
    pub refused: BTreeMap<String, BTreeMap<&'static str, u64>>,
    /// Applied commands worth naming in the summary, by what they stand for.
    pub highlights: BTreeMap<Highlight, u64>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.commands += other.commands;
        self.reads += other.reads;
        self.appended += other.appended;
        self.replayed += other.replayed;
        for (code, mistakes) in other.refused {
            let ours = self.refused.entry(code).or_default();
            for (why, n) in mistakes {
                *ours.entry(why).or_default() += n;
            }
        }
        for (what, n) in other.highlights {
            *self.highlights.entry(what).or_default() += n;
        }
    }

    pub fn refusals(&self) -> u64 {
        self.refused.values().flat_map(|m| m.values()).sum()
    }
}

/// Where the demo's own counts are compared with the stream's.
pub(crate) struct Stream<'a> {
    pub log: &'a EventLog,
    /// The stream's last sequence before the demo began (non-zero when joining a used server).
    pub base: u64,
}

impl Stream<'_> {
    pub async fn appended(&self) -> anyhow::Result<u64> {
        let last = self
            .log
            .last_sequence()
            .await
            .context("the event log does not answer")?;
        Ok(last - self.base)
    }
}

/// Plays every step of the scenario in time order and returns what each pathway and call came to.
///
/// `run` prefixes every command id, so that a scenario played again on the same server opens
/// new pathways instead of meeting the old ones.
pub(crate) async fn play(
    scenario: &Scenario,
    desks: &Desks,
    clock: &VirtualClock,
    stream: &Stream<'_>,
    run: &str,
) -> anyhow::Result<(Vec<PathwayRun>, Tally)> {
    let calendar = scenario.calendar;
    let mut runs: Vec<PathwayRun> = scenario
        .pathways
        .iter()
        .map(|_| PathwayRun::default())
        .collect();
    let mut tally = Tally::default();
    // Each pathway's next step, earliest first.
    let mut queue: BinaryHeap<Reverse<(Moment, usize, usize)>> = scenario
        .pathways
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.steps.is_empty())
        .map(|(i, p)| Reverse((p.steps[0].at, i, 0)))
        .collect();
    let mut next_report = REPORT_EVERY_DAYS;
    while let Some(&Reverse((now, _, _))) = queue.peek() {
        while now.day >= next_report {
            report(scenario, next_report, &tally, stream).await?;
            next_report += REPORT_EVERY_DAYS;
        }
        clock.set(calendar.instant(now));
        // This hour's work: for each pathway, its steps due now, one after the other.
        let mut due = Vec::new();
        while let Some(&Reverse((at, pathway, first))) = queue.peek() {
            if at != now {
                break;
            }
            queue.pop();
            let steps = &scenario.pathways[pathway].steps;
            let end = (first..steps.len())
                .find(|&i| steps[i].at != now)
                .unwrap_or(steps.len());
            due.push((pathway, first..end, std::mem::take(&mut runs[pathway])));
        }
        let done: Vec<(usize, usize, PathwayRun, Tally)> = futures::stream::iter(due)
            .map(|(pathway, range, state)| async move {
                let plan = &scenario.pathways[pathway];
                let end = range.end;
                let (state, tally) = play_steps(plan, range, state, desks, scenario, run).await?;
                anyhow::Ok((pathway, end, state, tally))
            })
            .buffer_unordered(IN_FLIGHT)
            .try_collect()
            .await?;
        for (pathway, end, state, played) in done {
            runs[pathway] = state;
            tally.add(played);
            if let Some(step) = scenario.pathways[pathway].steps.get(end) {
                queue.push(Reverse((step.at, pathway, end)));
            }
        }
    }
    while next_report <= calendar.days {
        report(scenario, next_report, &tally, stream).await?;
        next_report += REPORT_EVERY_DAYS;
    }
    if !calendar.days.is_multiple_of(REPORT_EVERY_DAYS) {
        report(scenario, calendar.days, &tally, stream).await?;
    }
    Ok((runs, tally))
}

async fn report(
    scenario: &Scenario,
    day: u32,
    tally: &Tally,
    stream: &Stream<'_>,
) -> anyhow::Result<()> {
    println!(
        "  after {day:>3} days (to {})  {:>6} commands sent  {:>6} events appended",
        scenario.calendar.date(day - 1),
        tally.commands,
        stream.appended().await?
    );
    Ok(())
}

/// Plays some consecutive steps of one pathway, in order.
async fn play_steps(
    plan: &PathwayPlan,
    range: std::ops::Range<usize>,
    mut state: PathwayRun,
    desks: &Desks,
    scenario: &Scenario,
    run: &str,
) -> anyhow::Result<(PathwayRun, Tally)> {
    let mut tally = Tally::default();
    for index in range {
        let step = &plan.steps[index];
        let failure = |what: String| {
            let day = scenario.calendar.date(step.at.day);
            anyhow::anyhow!(
                "pathway #{} ({}{}, resident of {}), step {} of {}: {} by {} (command id {run}-{}) \
                 on {day} at {}:00 Italian time: {what}",
                plan.number,
                plan.kind.subject_token(),
                state
                    .id
                    .as_deref()
                    .map(|id| format!(" {id}"))
                    .unwrap_or_default(),
                plan.residence,
                index + 1,
                plan.steps.len(),
                step.command.rpc(),
                step.by,
                step.command_id,
                step.at.hour,
            )
        };
        let answer = call(desks.of(&step.by)?, step, state.id.as_deref(), run).await;
        if step.command == Command::ReadPathway {
            tally.reads += 1;
        } else {
            tally.commands += 1;
        }
        match (step.expect, answer) {
            (Expect::Appended, Ok(Answer::Reply { reply, replayed })) => {
                if replayed {
                    return Err(failure(
                        "a new command was answered as a replay: nothing was appended".into(),
                    ));
                }
                match &state.id {
                    Some(id) if *id != reply.pathway_id => {
                        return Err(failure(format!(
                            "the reply names pathway {}",
                            reply.pathway_id
                        )));
                    }
                    Some(_) => {}
                    None => state.id = Some(reply.pathway_id.clone()),
                }
                state.status.clone_from(&reply.status);
                state.events += 1;
                state.last_sequence = reply.sequence;
                state.replies.insert(step.command_id.clone(), reply);
                tally.appended += 1;
                if let Some(what) = step.command.highlight() {
                    *tally.highlights.entry(what).or_default() += 1;
                }
            }
            (Expect::Replayed, Ok(Answer::Reply { reply, replayed })) => {
                let first = state
                    .replies
                    .get(&step.command_id)
                    .ok_or_else(|| failure("re-sent before it was first sent".into()))?;
                if !replayed {
                    return Err(failure(format!(
                        "the retry was not marked `{REPLAYED_HEADER}: true`"
                    )));
                }
                if reply != *first {
                    return Err(failure(format!(
                        "the retry got {reply:?}, the first call {first:?}"
                    )));
                }
                tally.replayed += 1;
            }
            (Expect::Refused { code, why }, Err(status)) if status.code() == code => {
                *tally
                    .refused
                    .entry(format!("{code:?}"))
                    .or_default()
                    .entry(why)
                    .or_default() += 1;
            }
            (Expect::Refused { code, why }, Ok(_)) => {
                return Err(failure(format!(
                    "expected a refusal ({code:?}: {why}), but the command was accepted"
                )));
            }
            (Expect::Refused { code, why }, Err(status)) => {
                return Err(failure(format!(
                    "expected {code:?} ({why}), got {:?}: {}",
                    status.code(),
                    status.message()
                )));
            }
            (_, Ok(Answer::Read)) => {
                return Err(failure("a read where a command was expected".into()));
            }
            (_, Err(status)) => {
                return Err(failure(format!(
                    "refused with {:?}: {}",
                    status.code(),
                    status.message()
                )));
            }
        }
    }
    Ok((state, tally))
}

enum Answer {
    Reply { reply: CommandReply, replayed: bool },
    Read,
}

fn fiscal_code(person: Person) -> String {
    CodiceFiscale::synthetic(person.0).expose().to_owned()
}

fn participant(p: &Participant) -> v1::Participant {
    v1::Participant {
        org: p.org.clone(),
        role: p.role as i32,
    }
}

fn enums<T: Copy + Into<i32>>(values: &[T]) -> Vec<i32> {
    values.iter().map(|v| (*v).into()).collect()
}

/// One command step as its gRPC request; `None` for a read.
pub(crate) fn wire(step: &Step, pathway: Option<&str>, run: &str) -> Option<Wire> {
    let command_id = format!("{run}-{}", step.command_id);
    let pathway_id = pathway.unwrap_or_default().to_owned();
    Some(match &step.command {
        Command::RequestDischarge {
            patient,
            ward,
            residence,
            expected_discharge,
            needs,
            lives_alone,
            no_caregiver,
        } => Wire::RequestDischarge(v1::RequestDischargeRequest {
            command_id,
            codice_fiscale: fiscal_code(*patient),
            ward: ward.clone(),
            residence: (*residence).to_owned(),
            expected_discharge: expected_discharge.to_string(),
            needs: enums(needs),
            lives_alone: *lives_alone,
            no_caregiver: *no_caregiver,
        }),
        Command::ReceiveDischarge => Wire::ReceiveDischarge(v1::ReceiveDischargeRequest {
            command_id,
            pathway_id,
        }),
        Command::RecordJointAssessment {
            assessed_on,
            participants,
        } => Wire::RecordJointAssessment(v1::RecordJointAssessmentRequest {
            command_id,
            pathway_id,
            assessed_on: assessed_on.to_string(),
            participants: participants.iter().map(participant).collect(),
        }),
        Command::AgreeCarePlan {
            services,
            case_manager,
        } => Wire::AgreeCarePlan(v1::AgreeCarePlanRequest {
            command_id,
            pathway_id,
            services: enums(services),
            case_manager: case_manager.as_ref().map(participant),
        }),
        Command::ChangeExpectedDate {
            expected_discharge,
            reason,
        } => Wire::ChangeExpectedDate(v1::ChangeExpectedDateRequest {
            command_id,
            pathway_id,
            expected_discharge: expected_discharge.to_string(),
            reason: (*reason).into(),
        }),
        Command::RecordDischarge {
            discharged_on,
            destination,
        } => Wire::RecordDischarge(v1::RecordDischargeRequest {
            command_id,
            pathway_id,
            discharged_on: discharged_on.to_string(),
            destination: (*destination).into(),
        }),
        Command::ActivateHomeServices {
            services,
            activated_on,
        } => Wire::ActivateHomeServices(v1::ActivateHomeServicesRequest {
            command_id,
            pathway_id,
            services: enums(services),
            activated_on: activated_on.to_string(),
        }),
        Command::RecordReadmission { readmitted_on } => {
            Wire::RecordReadmission(v1::RecordReadmissionRequest {
                command_id,
                pathway_id,
                readmitted_on: readmitted_on.to_string(),
            })
        }
        Command::CloseDischarge { reason } => Wire::CloseDischarge(v1::CloseDischargeRequest {
            command_id,
            pathway_id,
            reason: (*reason).into(),
        }),
        Command::CancelDischarge { reason } => Wire::CancelDischarge(v1::CancelDischargeRequest {
            command_id,
            pathway_id,
            reason: (*reason).into(),
        }),
        Command::RegisterAccess {
            person,
            residence,
            asst,
            channel,
        } => Wire::RegisterAccess(v1::RegisterAccessRequest {
            command_id,
            codice_fiscale: fiscal_code(*person),
            residence: (*residence).to_owned(),
            asst: (*asst).to_owned(),
            channel: (*channel).into(),
        }),
        Command::RecordPreliminaryAssessment { triage } => {
            Wire::RecordPreliminaryAssessment(v1::RecordPreliminaryAssessmentRequest {
                command_id,
                pathway_id,
                triage: (*triage).into(),
            })
        }
        Command::RequestUvm => Wire::RequestUvm(v1::RequestUvmRequest {
            command_id,
            pathway_id,
        }),
        Command::CompleteUvm {
            assessed_on,
            participants,
            tools,
        } => Wire::CompleteUvm(v1::CompleteUvmRequest {
            command_id,
            pathway_id,
            assessed_on: assessed_on.to_string(),
            participants: participants.iter().map(participant).collect(),
            tools: enums(tools),
        }),
        Command::AgreePlan {
            plan_type,
            case_manager,
        } => Wire::AgreePlan(v1::AgreePlanRequest {
            command_id,
            pathway_id,
            plan_type: (*plan_type).into(),
            case_manager: case_manager.as_ref().map(participant),
        }),
        Command::ActivateService {
            service,
            activated_on,
        } => Wire::ActivateService(v1::ActivateServiceRequest {
            command_id,
            pathway_id,
            service: (*service).into(),
            activated_on: activated_on.to_string(),
        }),
        Command::ClosePua { reason } => Wire::ClosePua(v1::ClosePuaRequest {
            command_id,
            pathway_id,
            reason: (*reason).into(),
        }),
        Command::SendReferral {
            family,
            residence,
            centro,
            referrer,
            areas,
        } => Wire::SendReferral(v1::SendReferralRequest {
            command_id,
            codice_fiscale: fiscal_code(*family),
            residence: (*residence).to_owned(),
            centro: (*centro).to_owned(),
            referrer: (*referrer).into(),
            areas: enums(areas),
        }),
        Command::AcceptReferral => Wire::AcceptReferral(v1::AcceptReferralRequest {
            command_id,
            pathway_id,
        }),
        Command::DeclineReferral { reason } => Wire::DeclineReferral(v1::DeclineReferralRequest {
            command_id,
            pathway_id,
            reason: (*reason).into(),
        }),
        Command::RecordFirstContact { contacted_on, mode } => {
            Wire::RecordFirstContact(v1::RecordFirstContactRequest {
                command_id,
                pathway_id,
                contacted_on: contacted_on.to_string(),
                mode: (*mode).into(),
            })
        }
        Command::Enrol {
            interventions,
            enrolled_on,
        } => Wire::Enrol(v1::EnrolRequest {
            command_id,
            pathway_id,
            interventions: enums(interventions),
            enrolled_on: enrolled_on.to_string(),
        }),
        Command::CloseReferral { reason } => Wire::CloseReferral(v1::CloseReferralRequest {
            command_id,
            pathway_id,
            reason: (*reason).into(),
        }),
        Command::ReadPathway => return None,
    })
}

/// The gRPC request of one command.
#[derive(Debug, Clone)]
pub(crate) enum Wire {
    RequestDischarge(v1::RequestDischargeRequest),
    ReceiveDischarge(v1::ReceiveDischargeRequest),
    RecordJointAssessment(v1::RecordJointAssessmentRequest),
    AgreeCarePlan(v1::AgreeCarePlanRequest),
    ChangeExpectedDate(v1::ChangeExpectedDateRequest),
    RecordDischarge(v1::RecordDischargeRequest),
    ActivateHomeServices(v1::ActivateHomeServicesRequest),
    RecordReadmission(v1::RecordReadmissionRequest),
    CloseDischarge(v1::CloseDischargeRequest),
    CancelDischarge(v1::CancelDischargeRequest),
    RegisterAccess(v1::RegisterAccessRequest),
    RecordPreliminaryAssessment(v1::RecordPreliminaryAssessmentRequest),
    RequestUvm(v1::RequestUvmRequest),
    CompleteUvm(v1::CompleteUvmRequest),
    AgreePlan(v1::AgreePlanRequest),
    ActivateService(v1::ActivateServiceRequest),
    ClosePua(v1::ClosePuaRequest),
    SendReferral(v1::SendReferralRequest),
    AcceptReferral(v1::AcceptReferralRequest),
    DeclineReferral(v1::DeclineReferralRequest),
    RecordFirstContact(v1::RecordFirstContactRequest),
    Enrol(v1::EnrolRequest),
    CloseReferral(v1::CloseReferralRequest),
}

impl Wire {
    /// Sends the request with the desk's clients.
    pub async fn send(self, desk: &Desk) -> Result<Response<CommandReply>, Status> {
        match self {
            Wire::RequestDischarge(r) => desk.dimissione.clone().request(r).await,
            Wire::ReceiveDischarge(r) => desk.dimissione.clone().receive(r).await,
            Wire::RecordJointAssessment(r) => {
                desk.dimissione.clone().record_joint_assessment(r).await
            }
            Wire::AgreeCarePlan(r) => desk.dimissione.clone().agree_care_plan(r).await,
            Wire::ChangeExpectedDate(r) => desk.dimissione.clone().change_expected_date(r).await,
            Wire::RecordDischarge(r) => desk.dimissione.clone().record_discharge(r).await,
            Wire::ActivateHomeServices(r) => {
                desk.dimissione.clone().activate_home_services(r).await
            }
            Wire::RecordReadmission(r) => desk.dimissione.clone().record_readmission(r).await,
            Wire::CloseDischarge(r) => desk.dimissione.clone().close(r).await,
            Wire::CancelDischarge(r) => desk.dimissione.clone().cancel(r).await,
            Wire::RegisterAccess(r) => desk.pua.clone().register_access(r).await,
            Wire::RecordPreliminaryAssessment(r) => {
                desk.pua.clone().record_preliminary_assessment(r).await
            }
            Wire::RequestUvm(r) => desk.pua.clone().request_uvm(r).await,
            Wire::CompleteUvm(r) => desk.pua.clone().complete_uvm(r).await,
            Wire::AgreePlan(r) => desk.pua.clone().agree_plan(r).await,
            Wire::ActivateService(r) => desk.pua.clone().activate_service(r).await,
            Wire::ClosePua(r) => desk.pua.clone().close(r).await,
            Wire::SendReferral(r) => desk.centro.clone().send_referral(r).await,
            Wire::AcceptReferral(r) => desk.centro.clone().accept(r).await,
            Wire::DeclineReferral(r) => desk.centro.clone().decline(r).await,
            Wire::RecordFirstContact(r) => desk.centro.clone().record_first_contact(r).await,
            Wire::Enrol(r) => desk.centro.clone().enrol(r).await,
            Wire::CloseReferral(r) => desk.centro.clone().close(r).await,
        }
    }

    /// The domain command the gateway makes of the request.
    pub fn to_command(&self, key: &SubjectKey) -> Result<pathway::Command, Vec<FieldViolation>> {
        match self {
            Wire::RequestDischarge(r) => r.to_command(key),
            Wire::ReceiveDischarge(r) => r.to_command(key),
            Wire::RecordJointAssessment(r) => r.to_command(key),
            Wire::AgreeCarePlan(r) => r.to_command(key),
            Wire::ChangeExpectedDate(r) => r.to_command(key),
            Wire::RecordDischarge(r) => r.to_command(key),
            Wire::ActivateHomeServices(r) => r.to_command(key),
            Wire::RecordReadmission(r) => r.to_command(key),
            Wire::CloseDischarge(r) => r.to_command(key),
            Wire::CancelDischarge(r) => r.to_command(key),
            Wire::RegisterAccess(r) => r.to_command(key),
            Wire::RecordPreliminaryAssessment(r) => r.to_command(key),
            Wire::RequestUvm(r) => r.to_command(key),
            Wire::CompleteUvm(r) => r.to_command(key),
            Wire::AgreePlan(r) => r.to_command(key),
            Wire::ActivateService(r) => r.to_command(key),
            Wire::ClosePua(r) => r.to_command(key),
            Wire::SendReferral(r) => r.to_command(key),
            Wire::AcceptReferral(r) => r.to_command(key),
            Wire::DeclineReferral(r) => r.to_command(key),
            Wire::RecordFirstContact(r) => r.to_command(key),
            Wire::Enrol(r) => r.to_command(key),
            Wire::CloseReferral(r) => r.to_command(key),
        }
    }
}

/// Sends one step as its gRPC call.
async fn call(
    desk: &Desk,
    step: &Step,
    pathway: Option<&str>,
    run: &str,
) -> Result<Answer, Status> {
    let Some(wire) = wire(step, pathway, run) else {
        desk.pathways
            .clone()
            .get(v1::GetPathwayRequest {
                pathway_id: pathway.unwrap_or_default().to_owned(),
                min_sequence: 0,
            })
            .await?;
        return Ok(Answer::Read);
    };
    let response = wire.send(desk).await?;
    let replayed = response
        .metadata()
        .get(REPLAYED_HEADER)
        .is_some_and(|v| v == "true");
    Ok(Answer::Reply {
        reply: response.into_inner(),
        replayed,
    })
}
