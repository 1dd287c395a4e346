//! The reconciler, end to end: crafted histories sent through gRPC on the virtual clock, the
//! findings read back from `RACCORDO` as the reconciler recorded them (in the name of the ATS, by
//! `raccordo-reconciler`, one event per finding). Each finding kind it makes, with the values
//! worked out by hand; findings routed like any event; a reconciler run again from nothing, or
//! restarted, appends no finding twice; and a replay of the log finds exactly what was found live.
//!
//! Times: the clock starts on Monday 2 March 2026 at 10:00 in Italy (09:00 UTC, CET). A deadline
//! of "n working days" ends at the local midnight after the n-th working day, "before" a date at
//! the midnight that begins it, "by" a date at the midnight that ends it.

use std::sync::Arc;

use async_nats::jetstream::message::StreamMessage;
use raccordo_api::v1;
use raccordo_domain::clock::Clock;
use raccordo_domain::codice_fiscale::CodiceFiscale;
use raccordo_domain::pathway::finding::{self, Finding, FindingKind, StepRef};
use raccordo_domain::pathway::{EventData, RecordedEvent};
use raccordo_domain::protocol::Protocols;
use raccordo_domain::registry::Registry;
use raccordo_eventlog::{codec, inbox};
use raccordo_reconciler::{Recorded, Rules};
use raccordo_tests::{
    CF_BIANCHI, CF_ROSSI, CF_VERDI, Clients, TestApp, access_request, command_id, data_json,
    discharge_request, header, is_finding, participant, referral,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const MAGENTINO: &str = "ovest-milanese-magentino";

/// A finding as the log holds it: the stored message and the event read back from it.
struct Logged {
    message: StreamMessage,
    recorded: RecordedEvent,
}

impl Logged {
    fn finding(&self) -> &Finding {
        match &self.recorded.event.data {
            EventData::Finding(_, finding) => finding,
            other => panic!("not a finding: {other:?}"),
        }
    }

    fn kind(&self) -> FindingKind {
        self.finding().finding
    }

    fn pathway(&self) -> &str {
        self.recorded.event.pathway.as_str()
    }

    fn event_id(&self) -> &str {
        self.recorded.event.id.as_str()
    }
}

/// Every finding in the log, in log order.
async fn findings(app: &TestApp) -> Vec<Logged> {
    app.stream_messages()
        .await
        .into_iter()
        .filter(|m| is_finding(header(m, "ce-type")))
        .map(|message| {
            let recorded = codec::decode(
                &message.subject,
                &message.headers,
                &message.payload,
                message.sequence,
            )
            .expect("a finding in the log reads back");
            Logged { message, recorded }
        })
        .collect()
}

/// The findings of one kind.
fn of_kind(found: &[Logged], kind: FindingKind) -> Vec<&Logged> {
    found.iter().filter(|f| f.kind() == kind).collect()
}

/// The one finding of `kind` about `pathway`; none or more than one fails the test.
fn the_one<'a>(found: &'a [Logged], kind: FindingKind, pathway: &str) -> &'a Logged {
    let matching: Vec<&Logged> = found
        .iter()
        .filter(|f| f.kind() == kind && f.pathway() == pathway)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "expected one {kind} on {pathway}, found {:?}",
        kinds(found)
    );
    matching[0]
}

fn kinds(found: &[Logged]) -> Vec<(String, FindingKind)> {
    found
        .iter()
        .map(|f| (f.pathway().to_owned(), f.kind()))
        .collect()
}

/// The step of the Magentino protocol, version 1.
fn magentino(step: &str) -> Option<StepRef> {
    Some(StepRef {
        protocol: MAGENTINO.to_owned(),
        version: 1,
        step: step.to_owned(),
    })
}

/// An instant written in Italian local time, held in UTC as the test clock holds time.
fn rome(instant: OffsetDateTime) -> OffsetDateTime {
    instant.to_offset(time::UtcOffset::UTC)
}

fn minutes(d: Duration) -> Option<u64> {
    Some(d.whole_minutes().try_into().unwrap())
}

/// The finding a deadline that passed reports.
fn breach(kind: FindingKind, step: &str, opened_by: &str, party: &str) -> Finding {
    let mut f = Finding::new(kind);
    f.step = magentino(step);
    f.event_id = Some(opened_by.parse().unwrap());
    f.party = Some(party.parse().unwrap());
    f
}

/// Checks what every finding carries: recorded in the name of the pathway's ATS by the
/// reconciler, under the command id its key gives, on the pathway's own subject.
fn assert_recorded_by_the_reconciler(logged: &Logged, ats: &str) {
    let m = &logged.message;
    let kind = logged.recorded.event.pathway.kind().subject_token();
    assert_eq!(header(m, "ce-type"), format!("raccordo.{kind}.finding.v1"));
    assert_eq!(header(m, "ce-source"), ats);
    assert_eq!(header(m, "ce-raccordooperator"), finding::OPERATOR);
    assert_eq!(header(m, "ce-subject"), logged.pathway());
    assert_eq!(
        header(m, "ce-raccordocommandid"),
        finding::command_id(logged.finding()).as_str()
    );
}

/// The rules `raccordo up` runs the reconciler with: the shipped protocols, registry, calendar.
fn shipped_rules() -> Rules {
    let registry = Arc::new(Registry::embedded().clone());
    let protocols = Protocols::embedded(&registry).expect("the shipped protocols load");
    Rules::new(protocols, registry)
}

fn accepted(result: Result<tonic::Response<v1::CommandReply>, tonic::Status>) -> v1::CommandReply {
    result.expect("the command is accepted").into_inner()
}

/// asst:705 asks for a protected discharge of a Magenta resident, expected in `days` days.
async fn request(app: &TestApp, asst: &mut Clients, cf: &str, days: i64) -> v1::CommandReply {
    let request = discharge_request(cf, "magenta", &app.date_in(days));
    accepted(asst.dimissione.request(request).await)
}

async fn receive(comune: &mut Clients, pathway: &str) -> v1::CommandReply {
    let receive = v1::ReceiveDischargeRequest {
        command_id: command_id("receive"),
        pathway_id: pathway.to_owned(),
    };
    accepted(comune.dimissione.receive(receive).await)
}

async fn assess(
    app: &TestApp,
    by: &mut Clients,
    pathway: &str,
    participants: Vec<v1::Participant>,
) -> v1::CommandReply {
    let assessment = v1::RecordJointAssessmentRequest {
        command_id: command_id("assessment"),
        pathway_id: pathway.to_owned(),
        assessed_on: app.today(),
        participants,
    };
    accepted(by.dimissione.record_joint_assessment(assessment).await)
}

async fn agree_plan(
    by: &mut Clients,
    pathway: &str,
    services: &[v1::DischargeService],
    case_manager: Option<v1::Participant>,
) -> v1::CommandReply {
    let plan = v1::AgreeCarePlanRequest {
        command_id: command_id("plan"),
        pathway_id: pathway.to_owned(),
        services: services.iter().map(|s| *s as i32).collect(),
        case_manager,
    };
    accepted(by.dimissione.agree_care_plan(plan).await)
}

async fn discharge_home(app: &TestApp, asst: &mut Clients, pathway: &str) -> v1::CommandReply {
    let discharge = v1::RecordDischargeRequest {
        command_id: command_id("discharge"),
        pathway_id: pathway.to_owned(),
        discharged_on: app.today(),
        destination: v1::Destination::Home as i32,
    };
    accepted(asst.dimissione.record_discharge(discharge).await)
}

fn hospital_staff_only() -> Vec<v1::Participant> {
    vec![
        participant("asst:705", v1::Role::Physician),
        participant("asst:705", v1::Role::Nurse),
    ]
}

fn with_social_worker() -> Vec<v1::Participant> {
    vec![
        participant("asst:705", v1::Role::Physician),
        participant("comune:magenta", v1::Role::SocialWorker),
    ]
}

/// A PUA intake of a Bresso resident at asst:707 taken to a UVM the ASST held without a social
/// worker, then a plan without a case manager: (pathway, UVM event id, plan event id).
async fn pua_without_social_worker_or_case_manager(app: &TestApp) -> (String, String, String) {
    let mut asst = app.as_org("asst:707").await;
    let access = accepted(
        asst.pua
            .register_access(access_request(CF_VERDI, "bresso", "707"))
            .await,
    );
    let id = access.pathway_id;
    let triage = v1::RecordPreliminaryAssessmentRequest {
        command_id: command_id("triage"),
        pathway_id: id.clone(),
        triage: v1::Triage::Complex as i32,
    };
    accepted(asst.pua.record_preliminary_assessment(triage).await);
    let uvm = v1::RequestUvmRequest {
        command_id: command_id("uvm"),
        pathway_id: id.clone(),
    };
    accepted(asst.pua.request_uvm(uvm).await);
    let completed = v1::CompleteUvmRequest {
        command_id: command_id("uvm-done"),
        pathway_id: id.clone(),
        assessed_on: app.today(),
        participants: vec![
            participant("asst:707", v1::Role::Nurse),
            participant("asst:707", v1::Role::GeneralPractitioner),
        ],
        tools: vec![v1::Tool::Adl as i32],
    };
    let uvm = accepted(asst.pua.complete_uvm(completed).await);
    let plan = v1::AgreePlanRequest {
        command_id: command_id("pai"),
        pathway_id: id.clone(),
        plan_type: v1::PlanType::Pai as i32,
        case_manager: None,
    };
    let plan = accepted(asst.pua.agree_plan(plan).await);
    (id, uvm.event_id, plan.event_id)
}

#[tokio::test]
async fn a_request_not_taken_in_by_its_deadline_is_overdue_once_then_closed_late() {
    let app = TestApp::spawn().await;
    let mut asst = app.as_org("asst:705").await;
    let mut magenta = app.as_org("comune:magenta").await;
    let requested = request(&app, &mut asst, CF_ROSSI, 4).await;
    let id = requested.pathway_id.clone();
    let since = app.clock.now();
    // "2 working days" from Monday: the end of Wednesday 4 March, local time (CET).
    let due = datetime!(2026-03-05 00:00 +01:00);

    app.clock.set(rome(due - Duration::minutes(1)));
    app.settle().await;
    let found = findings(&app).await;
    assert!(
        of_kind(&found, FindingKind::StepOverdue).is_empty(),
        "not late a minute before the deadline: {:?}",
        kinds(&found)
    );
    // The receipt was due a working day earlier, at the end of Tuesday: that one is late.
    let unacknowledged = the_one(&found, FindingKind::NeverAcknowledged, &id);
    let mut expected = breach(
        FindingKind::NeverAcknowledged,
        "dp-conferma-ricezione",
        &requested.event_id,
        "comune:magenta",
    );
    expected.since = Some(since);
    expected.due = Some(datetime!(2026-03-04 00:00 +01:00));
    expected.waited_minutes = minutes(Duration::hours(38));
    assert_eq!(unacknowledged.finding(), &expected);

    let morning = rome(datetime!(2026-03-05 09:00 +01:00));
    app.clock.set(morning);
    app.settle().await;
    let found = findings(&app).await;
    let overdue = the_one(&found, FindingKind::StepOverdue, &id);
    let mut expected = breach(
        FindingKind::StepOverdue,
        "dp-presa-in-carico",
        &requested.event_id,
        "comune:magenta",
    );
    expected.since = Some(since);
    expected.due = Some(due);
    // Monday 10:00 to Thursday 00:00, local time.
    expected.waited_minutes = minutes(Duration::hours(62));
    assert_eq!(overdue.finding(), &expected);
    assert_recorded_by_the_reconciler(overdue, "ats:321");
    assert_eq!(overdue.recorded.event.time, morning);
    let body: serde_json::Value = serde_json::from_slice(&overdue.message.payload).unwrap();
    assert_eq!(body["finding"], "step_overdue");
    assert_eq!(body["party"], "comune:magenta");
    assert_eq!(body["since"], "2026-03-02T09:00:00Z");
    assert_eq!(body["due"], "2026-03-04T23:00:00Z");
    assert_eq!(body["waited_minutes"], 3720);

    // Routed like any event: the Comune it is about holds it in its inbox and its projection,
    // the ATS in its aggregate view.
    let in_inbox: Vec<_> = app
        .inbox_of("comune:magenta")
        .await
        .into_iter()
        .filter(|m| header(m, "ce-id") == overdue.event_id())
        .collect();
    assert_eq!(in_inbox.len(), 1, "the Comune's inbox holds it once");
    assert_eq!(header(&in_inbox[0], inbox::VIEW), "full");
    let as_comune = magenta.get(&id).await.unwrap();
    assert!(
        as_comune
            .history
            .iter()
            .any(|e| e.event_id == overdue.event_id()),
        "the Comune's projection holds the finding"
    );
    let mut ats = app.as_org("ats:321").await;
    let as_ats = ats.get(&id).await.unwrap();
    assert_eq!(as_ats.view, "aggregate");
    let seen = as_ats
        .history
        .iter()
        .find(|e| e.event_id == overdue.event_id())
        .expect("the ATS's aggregate view holds the finding");
    assert_eq!(seen.event_type, "raccordo.dimissione_protetta.finding.v1");
    assert_eq!(data_json(seen)["finding"], "step_overdue");
    assert_eq!(data_json(seen)["due"], "2026-03-04T23:00:00Z");

    // The Comune takes the request in at last, an hour later: the step is closed, late.
    app.advance(Duration::hours(1));
    let received = receive(&mut magenta, &id).await;
    app.settle().await;
    let found = findings(&app).await;
    assert_eq!(of_kind(&found, FindingKind::StepOverdue).len(), 1);
    let closed = the_one(&found, FindingKind::OverdueStepClosed, &id);
    let mut expected = breach(
        FindingKind::OverdueStepClosed,
        "dp-presa-in-carico",
        &requested.event_id,
        "comune:magenta",
    );
    expected.since = Some(since);
    expected.due = Some(due);
    expected.closed_at = Some(morning + Duration::hours(1));
    // Monday 10:00 to Thursday 10:00.
    expected.waited_minutes = minutes(Duration::hours(72));
    assert_eq!(closed.finding(), &expected);
    assert_recorded_by_the_reconciler(closed, "ats:321");
    assert!(closed.message.sequence > received.sequence);
    // The receipt never came: that step stays open, reported once.
    assert_eq!(of_kind(&found, FindingKind::NeverAcknowledged).len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn an_assessment_without_a_social_worker_and_a_plan_without_a_case_manager_are_reported() {
    let app = TestApp::spawn().await;
    let mut asst = app.as_org("asst:705").await;
    let mut magenta = app.as_org("comune:magenta").await;
    let requested = request(&app, &mut asst, CF_ROSSI, 4).await;
    let dp = requested.pathway_id.clone();
    receive(&mut magenta, &dp).await;
    app.advance(Duration::hours(3));
    let assessed = assess(&app, &mut asst, &dp, hospital_staff_only()).await;
    app.advance(Duration::hours(3));
    let planned = agree_plan(&mut magenta, &dp, &[v1::DischargeService::CDom], None).await;
    // In the Ambito of Cinisello Balsamo, whose protocol is in force since 1 February.
    let (pua, uvm, pua_plan) = pua_without_social_worker_or_case_manager(&app).await;
    app.settle().await;

    let found = findings(&app).await;
    for (pathway, kind, event) in [
        (&dp, FindingKind::AssessmentWithoutSocialWorker, &assessed),
        (&dp, FindingKind::PlanWithoutCaseManager, &planned),
    ] {
        let logged = the_one(&found, kind, pathway);
        let mut expected = Finding::new(kind);
        expected.event_id = Some(event.event_id.parse().unwrap());
        assert_eq!(logged.finding(), &expected);
        assert_recorded_by_the_reconciler(logged, "ats:321");
        assert!(logged.message.sequence > event.sequence);
    }
    for (kind, event) in [
        (FindingKind::AssessmentWithoutSocialWorker, &uvm),
        (FindingKind::PlanWithoutCaseManager, &pua_plan),
    ] {
        let logged = the_one(&found, kind, &pua);
        let mut expected = Finding::new(kind);
        expected.event_id = Some(event.parse().unwrap());
        assert_eq!(logged.finding(), &expected);
        // ATS Città Metropolitana di Milano monitors both Ambiti.
        assert_recorded_by_the_reconciler(logged, "ats:321");
    }
    assert!(
        of_kind(&found, FindingKind::NoProtocol).is_empty(),
        "both Ambiti have a protocol in March 2026: {:?}",
        kinds(&found)
    );
    // An assessment with the Comune's social worker and a plan with a case manager are not.
    let second = request(&app, &mut asst, CF_BIANCHI, 4).await;
    receive(&mut magenta, &second.pathway_id).await;
    assess(&app, &mut asst, &second.pathway_id, with_social_worker()).await;
    agree_plan(
        &mut magenta,
        &second.pathway_id,
        &[v1::DischargeService::Sad],
        Some(participant("comune:magenta", v1::Role::SocialWorker)),
    )
    .await;
    app.settle().await;
    let found = findings(&app).await;
    assert!(
        found.iter().all(|f| f.pathway() != second.pathway_id),
        "{:?}",
        kinds(&found)
    );
    app.stop().await;
}

#[tokio::test]
async fn deadlines_from_the_assessment_and_the_discharge_dates_are_reported_then_closed_late() {
    let app = TestApp::spawn().await;
    let mut asst = app.as_org("asst:705").await;
    let mut magenta = app.as_org("comune:magenta").await;
    let since = app.clock.now();
    // Expected on Wednesday 4 March; taken in and assessed with the Comune at once.
    let requested = request(&app, &mut asst, CF_ROSSI, 2).await;
    let id = requested.pathway_id.clone();
    receive(&mut magenta, &id).await;
    let assessed = assess(&app, &mut asst, &id, with_social_worker()).await;

    let friday = rome(datetime!(2026-03-06 09:00 +01:00));
    app.clock.set(friday);
    app.settle().await;
    let found = findings(&app).await;
    // Not discharged by the end of the expected day.
    let mut expected = breach(
        FindingKind::DischargeWithoutDestination,
        "dp-dimissione-alla-data",
        &requested.event_id,
        "asst:705",
    );
    expected.since = Some(since);
    expected.due = Some(datetime!(2026-03-05 00:00 +01:00));
    expected.waited_minutes = minutes(Duration::hours(62));
    let late_discharge = the_one(&found, FindingKind::DischargeWithoutDestination, &id);
    assert_eq!(late_discharge.finding(), &expected);
    // No plan within 3 working days of the assessment: by the end of Thursday.
    let mut expected = breach(
        FindingKind::AssessmentWithoutPlan,
        "dp-progetto-dopo-valutazione",
        &assessed.event_id,
        "comune:magenta",
    );
    expected.since = Some(since);
    expected.due = Some(datetime!(2026-03-06 00:00 +01:00));
    expected.waited_minutes = minutes(Duration::hours(86));
    assert_eq!(
        the_one(&found, FindingKind::AssessmentWithoutPlan, &id).finding(),
        &expected
    );
    // The joint assessment came in time: nothing about it.
    assert!(
        !of_kind(&found, FindingKind::StepOverdue)
            .iter()
            .any(|f| f.pathway() == id),
        "{:?}",
        kinds(&found)
    );

    // The plan at 9:00 local, the discharge home at 11:00: both close their steps late, and the
    // discharge opens the Comune's home care, due by the end of the day.
    agree_plan(
        &mut magenta,
        &id,
        &[v1::DischargeService::Sad, v1::DischargeService::CDom],
        Some(participant("comune:magenta", v1::Role::SocialWorker)),
    )
    .await;
    app.advance(Duration::hours(2));
    let discharged = discharge_home(&app, &mut asst, &id).await;
    let discharged_at = app.clock.now();
    app.settle().await;
    let found = findings(&app).await;
    let closed: Vec<(Option<String>, Option<OffsetDateTime>, Option<u64>)> =
        of_kind(&found, FindingKind::OverdueStepClosed)
            .iter()
            .map(|f| {
                let f = f.finding();
                let step = f.step.as_ref().map(|s| s.step.clone());
                (step, f.closed_at, f.waited_minutes)
            })
            .collect();
    assert_eq!(
        closed,
        [
            (
                Some("dp-progetto-dopo-valutazione".to_owned()),
                Some(friday),
                minutes(Duration::hours(95))
            ),
            (
                Some("dp-dimissione-alla-data".to_owned()),
                Some(discharged_at),
                minutes(Duration::hours(97))
            ),
        ]
    );
    assert!(of_kind(&found, FindingKind::SadNotActivated).is_empty());

    app.clock.set(rome(datetime!(2026-03-09 09:00 +01:00)));
    app.settle().await;
    let found = findings(&app).await;
    let mut expected = breach(
        FindingKind::SadNotActivated,
        "dp-sad-alla-dimissione",
        &discharged.event_id,
        "comune:magenta",
    );
    expected.since = Some(discharged_at);
    expected.due = Some(datetime!(2026-03-07 00:00 +01:00));
    expected.waited_minutes = minutes(Duration::hours(13));
    assert_eq!(
        the_one(&found, FindingKind::SadNotActivated, &id).finding(),
        &expected
    );

    let sad = v1::ActivateHomeServicesRequest {
        command_id: command_id("sad"),
        pathway_id: id.clone(),
        services: vec![v1::DischargeService::Sad as i32],
        activated_on: app.today(),
    };
    accepted(magenta.dimissione.activate_home_services(sad).await);
    app.settle().await;
    let found = findings(&app).await;
    let last = found.last().unwrap();
    assert_eq!(last.kind(), FindingKind::OverdueStepClosed);
    assert_eq!(last.finding().step, magentino("dp-sad-alla-dimissione"));
    assert_eq!(last.finding().closed_at, Some(app.clock.now()));
    // Friday 11:00 to Monday 9:00.
    assert_eq!(last.finding().waited_minutes, minutes(Duration::hours(70)));
    for f in &found {
        assert_recorded_by_the_reconciler(f, "ats:321");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_second_request_from_another_ward_is_a_possible_duplicate_and_a_readmission_is_reported()
{
    let app = TestApp::spawn().await;
    let mut asst = app.as_org("asst:705").await;
    let mut magenta = app.as_org("comune:magenta").await;
    let first = request(&app, &mut asst, CF_ROSSI, 0).await;

    app.advance(Duration::hours(1));
    let mut other_ward = discharge_request(CF_ROSSI, "magenta", &app.date_in(3));
    other_ward.ward = "Ortopedia - Ospedale di Abbiategrasso".into();
    let second = accepted(asst.dimissione.request(other_ward).await);
    assert_ne!(second.pathway_id, first.pathway_id);

    receive(&mut magenta, &first.pathway_id).await;
    discharge_home(&app, &mut asst, &first.pathway_id).await;
    app.advance(Duration::days(3));
    let readmission = v1::RecordReadmissionRequest {
        command_id: command_id("readmission"),
        pathway_id: first.pathway_id.clone(),
        readmitted_on: app.today(),
    };
    let readmitted = accepted(asst.dimissione.record_readmission(readmission).await);
    app.settle().await;

    let found = findings(&app).await;
    let duplicate = the_one(&found, FindingKind::PossibleDuplicate, &second.pathway_id);
    let mut expected = Finding::new(FindingKind::PossibleDuplicate);
    expected.event_id = Some(second.event_id.parse().unwrap());
    expected.related_pathway = Some(first.pathway_id.parse().unwrap());
    assert_eq!(duplicate.finding(), &expected);
    assert_eq!(
        of_kind(&found, FindingKind::PossibleDuplicate).len(),
        1,
        "the first request is no duplicate of the one after it: {:?}",
        kinds(&found)
    );
    let again = the_one(&found, FindingKind::Readmission, &first.pathway_id);
    let mut expected = Finding::new(FindingKind::Readmission);
    expected.event_id = Some(readmitted.event_id.parse().unwrap());
    expected.waited_minutes = minutes(Duration::days(3));
    assert_eq!(again.finding(), &expected);
    // The ATS sees the duplicate, but not which pathway it duplicates (no person-level link).
    let mut ats = app.as_org("ats:321").await;
    let as_ats = ats.get(&second.pathway_id).await.unwrap();
    let seen = as_ats
        .history
        .iter()
        .find(|e| e.event_id == duplicate.event_id())
        .expect("the ATS holds the finding");
    assert_eq!(data_json(seen)["finding"], "possible_duplicate");
    assert!(data_json(seen).get("related_pathway").is_none());
    app.stop().await;
}

#[tokio::test]
async fn a_pathway_opened_before_its_territory_has_a_protocol_is_reported_as_having_none() {
    // Tuesday 13 January 2026: the Cinisello protocol is in force from 1 February.
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_in(dir, datetime!(2026-01-13 09:00 UTC)).await;
    let mut bresso_pua = app.as_org("asst:707").await;
    let mut cinisello = app.as_org("comune:cinisello-balsamo").await;
    let mut magentino = app.as_org("asst:705").await;
    let access = accepted(
        bresso_pua
            .pua
            .register_access(access_request(CF_VERDI, "bresso", "707"))
            .await,
    );
    let referred = accepted(
        cinisello
            .centro
            .send_referral(referral(
                CF_BIANCHI,
                "cinisello-balsamo",
                "officina-dei-legami",
            ))
            .await,
    );
    // The Magentino's protocol is in force since 2025.
    let discharge = request(&app, &mut magentino, CF_ROSSI, 4).await;

    app.clock.set(datetime!(2026-02-02 09:00 UTC));
    let february = accepted(
        bresso_pua
            .pua
            .register_access(access_request(CF_ROSSI, "cormano", "707"))
            .await,
    );
    app.settle().await;

    let found = findings(&app).await;
    for opened in [&access, &referred] {
        let none = the_one(&found, FindingKind::NoProtocol, &opened.pathway_id);
        let mut expected = Finding::new(FindingKind::NoProtocol);
        expected.event_id = Some(opened.event_id.parse().unwrap());
        assert_eq!(none.finding(), &expected);
        assert_recorded_by_the_reconciler(none, "ats:321");
    }
    assert_eq!(
        of_kind(&found, FindingKind::NoProtocol).len(),
        2,
        "the Magentino discharge and the February access have a protocol: {:?}",
        kinds(&found)
    );
    for covered in [&discharge, &february] {
        assert!(
            !found
                .iter()
                .any(|f| f.pathway() == covered.pathway_id && f.kind() == FindingKind::NoProtocol)
        );
    }
    // Without a protocol no step opens, so no deadline of the January pathways ever fires.
    assert!(
        found
            .iter()
            .filter(|f| f.pathway() == access.pathway_id || f.pathway() == referred.pathway_id)
            .all(|f| f.kind() == FindingKind::NoProtocol),
        "{:?}",
        kinds(&found)
    );
    app.stop().await;
}

/// What [`busy_history`] left open.
struct Busy {
    /// Taken in by the Comune two days late, on Thursday; expected on Friday 6 March.
    ignored: v1::CommandReply,
    /// Taken in at once, assessed without a social worker, planned without a case manager;
    /// expected on Monday 9 March.
    rushed: v1::CommandReply,
}

/// Two Magenta discharges and a Bresso PUA intake, over three days on the virtual clock; the
/// first discharge is taken in late. Leaves the clock at Thursday 5 March, 10:00 local time.
async fn busy_history(app: &TestApp) -> Busy {
    let mut asst = app.as_org("asst:705").await;
    let mut magenta = app.as_org("comune:magenta").await;
    let ignored = request(app, &mut asst, CF_ROSSI, 4).await;
    app.advance(Duration::minutes(20));
    let rushed = request(app, &mut asst, CF_BIANCHI, 7).await;
    receive(&mut magenta, &rushed.pathway_id).await;
    app.advance(Duration::hours(3));
    assess(app, &mut asst, &rushed.pathway_id, hospital_staff_only()).await;
    app.advance(Duration::hours(3));
    agree_plan(
        &mut magenta,
        &rushed.pathway_id,
        &[v1::DischargeService::CDom],
        None,
    )
    .await;
    pua_without_social_worker_or_case_manager(app).await;
    app.clock.set(rome(datetime!(2026-03-04 12:00 +01:00)));
    app.settle().await;
    app.clock.set(rome(datetime!(2026-03-05 09:00 +01:00)));
    app.settle().await;
    app.advance(Duration::hours(1));
    receive(&mut magenta, &ignored.pathway_id).await;
    app.settle().await;
    Busy { ignored, rushed }
}

/// What identifies the findings in the log: their sequences and event ids, in order.
fn ids(found: &[Logged]) -> Vec<(u64, String)> {
    found
        .iter()
        .map(|f| (f.message.sequence, f.event_id().to_owned()))
        .collect()
}

#[tokio::test]
async fn a_reconciler_run_again_from_nothing_or_restarted_appends_no_finding_twice() {
    let app = TestApp::spawn().await;
    let busy = busy_history(&app).await;
    let before = findings(&app).await;
    assert!(
        [
            FindingKind::StepOverdue,
            FindingKind::OverdueStepClosed,
            FindingKind::NeverAcknowledged,
            FindingKind::AssessmentWithoutSocialWorker,
            FindingKind::PlanWithoutCaseManager,
        ]
        .iter()
        .all(|kind| !of_kind(&before, *kind).is_empty()),
        "{:?}",
        kinds(&before)
    );
    let length = app.stream_messages().await.len();
    let now = app.clock.now();

    // Its store deleted, the reconciler reads the whole log again and finds it all again: the
    // pathways remember the findings' command ids, and nothing is appended.
    let dir = app.stop_keeping_state().await;
    std::fs::remove_dir_all(dir.path().join("reconciler")).unwrap();
    let app = TestApp::spawn_in(dir, now).await;
    app.settle().await;
    assert!(app.state_dir().join("reconciler").exists());
    assert_eq!(ids(&findings(&app).await), ids(&before));
    assert_eq!(app.stream_messages().await.len(), length);

    // It kept the deadlines still pending: the ignored discharge's joint assessment was due
    // before its expected day, Friday 6 March.
    app.clock.set(rome(datetime!(2026-03-06 09:00 +01:00)));
    app.settle().await;
    let after_rerun = findings(&app).await;
    assert_eq!(
        after_rerun.len(),
        before.len() + 1,
        "{:?}",
        kinds(&after_rerun)
    );
    assert_eq!(ids(&after_rerun[..before.len()]), ids(&before));
    let new = after_rerun.last().unwrap();
    assert_eq!(new.pathway(), busy.ignored.pathway_id);
    assert_eq!(new.finding().step, magentino("dp-valutazione-congiunta"));

    // Restarted with its store: the same, and the next deadline fires once.
    let now = app.clock.now();
    let length = app.stream_messages().await.len();
    let dir = app.stop_keeping_state().await;
    let app = TestApp::spawn_in(dir, now).await;
    app.settle().await;
    assert_eq!(ids(&findings(&app).await), ids(&after_rerun));
    assert_eq!(app.stream_messages().await.len(), length);
    app.clock.set(rome(datetime!(2026-03-07 09:00 +01:00)));
    app.settle().await;
    let after_restart = findings(&app).await;
    assert_eq!(ids(&after_restart[..after_rerun.len()]), ids(&after_rerun));
    let new: Vec<(String, FindingKind)> = kinds(&after_restart[after_rerun.len()..]);
    assert_eq!(
        new,
        [(
            busy.ignored.pathway_id.clone(),
            FindingKind::DischargeWithoutDestination
        )]
    );
    assert!(
        !after_restart
            .iter()
            .any(|f| f.pathway() == busy.rushed.pathway_id
                && f.kind() == FindingKind::DischargeWithoutDestination),
        "the other discharge is expected on Monday 9 March"
    );
    app.stop().await;
}

/// A replay of the whole log, which must find exactly the findings the log holds, in order.
async fn agreeing_replay(app: &TestApp) -> raccordo_reconciler::Replay {
    let replay = raccordo_reconciler::replay(&app.log, &shipped_rules(), |_, _| {})
        .await
        .expect("the log replays");
    let (only_log, only_replay) = replay.differences();
    assert!(
        replay.agrees(),
        "only in the log: {only_log:#?}\nonly in the replay: {only_replay:#?}"
    );
    replay
}

#[tokio::test]
async fn the_findings_made_live_are_the_findings_a_replay_of_the_log_makes() {
    let app = TestApp::spawn().await;
    let busy = busy_history(&app).await;
    let mut asst = app.as_org("asst:705").await;
    let mut magenta = app.as_org("comune:magenta").await;

    // A third discharge, expected on Tuesday 10 March: to be taken in by the end of Monday.
    app.clock.set(rome(datetime!(2026-03-05 14:00 +01:00)));
    let third = request(&app, &mut asst, CF_VERDI, 5).await;
    app.settle().await;

    // The rushed discharge goes home on Monday: the Comune's home care is due by the end of it.
    app.clock.set(rome(datetime!(2026-03-09 11:00 +01:00)));
    discharge_home(&app, &mut asst, &busy.rushed.pathway_id).await;
    app.settle().await;

    // The third is taken in one second after its deadline: the reconciler, which leaves a margin
    // before firing on the clock, learns of the lateness from the event itself, as a replay does.
    let due = datetime!(2026-03-10 00:00 +01:00);
    app.clock.set(rome(due + Duration::seconds(1)));
    let late = receive(&mut magenta, &third.pathway_id).await;

    // The rushed discharge comes back to hospital on Wednesday.
    app.clock.set(rome(datetime!(2026-03-11 08:00 +01:00)));
    let readmission = v1::RecordReadmissionRequest {
        command_id: command_id("readmission"),
        pathway_id: busy.rushed.pathway_id.clone(),
        readmitted_on: app.today(),
    };
    accepted(asst.dimissione.record_readmission(readmission).await);
    app.settle().await;
    app.advance(Duration::days(30));
    app.settle().await;

    let live = findings(&app).await;
    let third_late = of_kind(&live, FindingKind::StepOverdue)
        .into_iter()
        .find(|f| f.pathway() == third.pathway_id)
        .expect("the third discharge was taken in late");
    assert_eq!(third_late.finding().due, Some(due));
    assert!(third_late.message.sequence > late.sequence);
    for kind in [
        FindingKind::StepOverdue,
        FindingKind::OverdueStepClosed,
        FindingKind::NeverAcknowledged,
        FindingKind::AssessmentWithoutSocialWorker,
        FindingKind::PlanWithoutCaseManager,
        FindingKind::DischargeWithoutDestination,
        FindingKind::SadNotActivated,
        FindingKind::Readmission,
    ] {
        assert!(
            !of_kind(&live, kind).is_empty(),
            "no {kind} in {:?}",
            kinds(&live)
        );
    }

    // Healthy projections never part from the log (a replay, which reads the log alone, leaves
    // divergences out of its comparison).
    assert!(of_kind(&live, FindingKind::Divergence).is_empty());
    let replay = agreeing_replay(&app).await;
    let in_log: Vec<Recorded> = live
        .iter()
        .map(|f| Recorded {
            pathway: f.recorded.event.pathway.clone(),
            finding: f.finding().clone(),
        })
        .collect();
    assert_eq!(replay.in_log, in_log);
    assert_eq!(
        replay.events,
        app.stream_messages().await.len() as u64,
        "the replay read the whole log"
    );
    app.stop().await;
}

/// More deadlines fall due at once than the reconciler fires in one part (500 findings), on the
/// clock and before a new event: it records and saves them a part at a time, and the log ends
/// up with every one of them, each once, in the order a replay of the log finds them.
#[tokio::test]
async fn more_deadlines_due_at_once_than_one_part_holds_are_all_recorded_in_order() {
    let app = TestApp::spawn().await;
    let mut asst = app.as_org("asst:705").await;
    const REQUESTS: u64 = 300;
    for seed in 0..REQUESTS {
        let cf = CodiceFiscale::synthetic(1_000 + seed);
        request(&app, &mut asst, cf.expose(), 20).await;
    }
    app.settle().await;
    assert!(findings(&app).await.is_empty(), "nothing is due yet");

    // Sixty days on, a new request comes at once: the deadlines behind it fire before it is
    // taken in, whether the clock's tick or the event reaches the reconciler first.
    app.advance(Duration::days(60));
    let cf = CodiceFiscale::synthetic(999);
    request(&app, &mut asst, cf.expose(), 20).await;
    app.settle().await;
    let live = findings(&app).await;
    assert!(
        live.len() > 500,
        "every request leaves deadlines past due: {} findings",
        live.len()
    );
    let replay = agreeing_replay(&app).await;
    assert_eq!(replay.in_log.len(), live.len());
    let mut keys: Vec<_> = live
        .iter()
        .map(|f| (f.pathway().to_owned(), f.finding().key()))
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), live.len(), "no finding recorded twice");
    app.stop().await;
}
