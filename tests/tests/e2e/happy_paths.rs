//! Each pathway kind from its first command to its last, through gRPC, checked after every step
//! through `Pathways.Get` as another party of the pathway sees it: the status, the history in
//! order, which organisation did what, and when (by the virtual clock).

use raccordo_api::v1;
use raccordo_domain::clock::Clock;
use raccordo_tests::{
    CF_BIANCHI, CF_ROSSI, CF_VERDI, Clients, TestApp, access_request, command_id, data_json,
    discharge_request, is_finding, participant, referral, refused, state_json,
};
use serde_json::json;
use time::Duration;
use time::format_description::well_known::Rfc3339;
use tonic::{Code, Response, Status};

/// One event as a party reads it back.
#[derive(Debug, PartialEq)]
struct Seen {
    event_type: String,
    source: String,
    time: String,
    event_id: String,
    sequence: u64,
}

/// Follows one pathway: every accepted step must show up, in order, in what `reader` reads back.
struct Journey<'a> {
    app: &'a TestApp,
    reader: Clients,
    pathway: String,
    expected: Vec<Seen>,
}

impl<'a> Journey<'a> {
    async fn new(app: &'a TestApp, reader: &str) -> Self {
        Self {
            app,
            reader: app.as_org(reader).await,
            pathway: String::new(),
            expected: Vec::new(),
        }
    }

    /// Checks the reply to a step taken by `source`, then the pathway as the reader sees it.
    async fn step(
        &mut self,
        source: &str,
        result: Result<Response<v1::CommandReply>, Status>,
        status: &str,
    ) {
        let reply = result
            .unwrap_or_else(|e| panic!("{source}'s step towards {status} was refused: {e:?}"))
            .into_inner();
        if self.pathway.is_empty() {
            self.pathway = reply.pathway_id.clone();
        }
        assert_eq!(reply.pathway_id, self.pathway);
        assert_eq!(reply.status, status, "the reply's status");
        let now = self.app.clock.now().format(&Rfc3339).unwrap();
        self.expected.push(Seen {
            event_type: reply.event_type.clone(),
            source: source.to_owned(),
            time: now.clone(),
            event_id: reply.event_id.clone(),
            sequence: reply.sequence,
        });

        let pathway = self
            .reader
            .get(&self.pathway)
            .await
            .expect("a party reads the pathway");
        assert_eq!(pathway.status, status, "the status read back");
        // The reconciler's findings are events of the pathway too, recorded a moment after the
        // step that shows them: the history is compared without them.
        assert_eq!(pathway.version, pathway.history.len() as u64);
        assert!(pathway.last_sequence >= reply.sequence);
        assert_eq!(pathway.opened_at, self.expected[0].time);
        assert_eq!(pathway.updated_at, now);
        let seen: Vec<Seen> = pathway
            .history
            .iter()
            .filter(|e| !is_finding(&e.event_type))
            .map(|e| Seen {
                event_type: e.event_type.clone(),
                source: e.source.clone(),
                time: e.time.clone(),
                event_id: e.event_id.clone(),
                sequence: e.sequence,
            })
            .collect();
        assert_eq!(seen, self.expected, "the history read back");
    }

    fn event_types(&self) -> Vec<&str> {
        self.expected
            .iter()
            .map(|s| s.event_type.as_str())
            .collect()
    }

    async fn read(&mut self) -> v1::Pathway {
        self.reader
            .get(&self.pathway)
            .await
            .expect("a party reads the pathway")
    }
}

#[tokio::test]
async fn a_protected_discharge_goes_from_the_ward_request_to_closure() {
    let app = TestApp::spawn().await;
    let mut asst = app.as_org("asst:705").await;
    let mut comune = app.as_org("comune:magenta").await;
    // The Comune of residence follows every step in its own projection, the hospital's too.
    let mut journey = Journey::new(&app, "comune:magenta").await;

    let first_expected = app.date_in(4);
    let request = discharge_request(CF_ROSSI, "magenta", &first_expected);
    journey
        .step(
            "asst:705",
            asst.dimissione.request(request).await,
            "requested",
        )
        .await;
    let id = journey.pathway.clone();
    assert!(id.starts_with("dp-"), "{id}");

    app.advance(Duration::hours(2));
    let receive = v1::ReceiveDischargeRequest {
        command_id: command_id("receive"),
        pathway_id: id.clone(),
    };
    journey
        .step(
            "comune:magenta",
            comune.dimissione.receive(receive).await,
            "received",
        )
        .await;

    app.advance(Duration::days(1));
    let assessment = v1::RecordJointAssessmentRequest {
        command_id: command_id("assessment"),
        pathway_id: id.clone(),
        assessed_on: app.today(),
        participants: vec![
            participant("asst:705", v1::Role::Physician),
            participant("comune:magenta", v1::Role::SocialWorker),
        ],
    };
    journey
        .step(
            "asst:705",
            asst.dimissione.record_joint_assessment(assessment).await,
            "assessed",
        )
        .await;

    app.advance(Duration::hours(3));
    let plan = v1::AgreeCarePlanRequest {
        command_id: command_id("plan"),
        pathway_id: id.clone(),
        services: vec![
            v1::DischargeService::Sad as i32,
            v1::DischargeService::CDom as i32,
        ],
        case_manager: Some(participant("comune:magenta", v1::Role::SocialWorker)),
    };
    journey
        .step(
            "comune:magenta",
            comune.dimissione.agree_care_plan(plan).await,
            "plan_agreed",
        )
        .await;

    app.advance(Duration::hours(1));
    let postponed = app.date_in(6);
    let change = v1::ChangeExpectedDateRequest {
        command_id: command_id("postpone"),
        pathway_id: id.clone(),
        expected_discharge: postponed.clone(),
        reason: v1::DateChangeReason::AwaitingHomeServices as i32,
    };
    journey
        .step(
            "asst:705",
            asst.dimissione.change_expected_date(change).await,
            "plan_agreed",
        )
        .await;

    app.advance(Duration::days(2));
    let brought_forward = app.date_in(2);
    let change = v1::ChangeExpectedDateRequest {
        command_id: command_id("bring-forward"),
        pathway_id: id.clone(),
        expected_discharge: brought_forward.clone(),
        reason: v1::DateChangeReason::ClinicalCondition as i32,
    };
    journey
        .step(
            "asst:705",
            asst.dimissione.change_expected_date(change).await,
            "plan_agreed",
        )
        .await;

    app.advance(Duration::days(2));
    let discharged_on = app.today();
    assert_eq!(discharged_on, brought_forward);
    let discharge = v1::RecordDischargeRequest {
        command_id: command_id("discharge"),
        pathway_id: id.clone(),
        discharged_on: discharged_on.clone(),
        destination: v1::Destination::Home as i32,
    };
    journey
        .step(
            "asst:705",
            asst.dimissione.record_discharge(discharge).await,
            "discharged",
        )
        .await;

    app.advance(Duration::days(1));
    // Health home care is the ASST's to activate, not the Comune's.
    let before = app.log_length().await;
    let c_dom_by_comune = v1::ActivateHomeServicesRequest {
        command_id: command_id("c-dom"),
        pathway_id: id.clone(),
        services: vec![v1::DischargeService::CDom as i32],
        activated_on: app.today(),
    };
    refused(
        comune
            .dimissione
            .activate_home_services(c_dom_by_comune)
            .await,
        Code::PermissionDenied,
    );
    assert_eq!(app.log_length().await, before);
    let sad = v1::ActivateHomeServicesRequest {
        command_id: command_id("sad"),
        pathway_id: id.clone(),
        services: vec![v1::DischargeService::Sad as i32],
        activated_on: app.today(),
    };
    journey
        .step(
            "comune:magenta",
            comune.dimissione.activate_home_services(sad).await,
            "services_active",
        )
        .await;
    app.advance(Duration::hours(2));
    let c_dom = v1::ActivateHomeServicesRequest {
        command_id: command_id("c-dom"),
        pathway_id: id.clone(),
        services: vec![v1::DischargeService::CDom as i32],
        activated_on: app.today(),
    };
    journey
        .step(
            "asst:705",
            asst.dimissione.activate_home_services(c_dom).await,
            "services_active",
        )
        .await;

    app.advance(Duration::days(30));
    let close = v1::CloseDischargeRequest {
        command_id: command_id("close"),
        pathway_id: id.clone(),
        reason: v1::DischargeCloseReason::Completed as i32,
    };
    journey
        .step(
            "comune:magenta",
            comune.dimissione.close(close).await,
            "closed",
        )
        .await;

    assert_eq!(
        journey.event_types(),
        [
            "raccordo.dimissione_protetta.requested.v1",
            "raccordo.dimissione_protetta.received.v1",
            "raccordo.dimissione_protetta.joint_assessment_recorded.v1",
            "raccordo.dimissione_protetta.care_plan_agreed.v1",
            "raccordo.dimissione_protetta.expected_date_changed.v1",
            "raccordo.dimissione_protetta.expected_date_changed.v1",
            "raccordo.dimissione_protetta.discharged.v1",
            "raccordo.dimissione_protetta.home_services_activated.v1",
            "raccordo.dimissione_protetta.home_services_activated.v1",
            "raccordo.dimissione_protetta.closed.v1",
        ]
    );
    let pathway = journey.read().await;
    assert_eq!(pathway.kind, "dimissione_protetta");
    // Each date change names the date it replaced.
    assert_eq!(
        data_json(&pathway.history[4]),
        json!({ "previous": first_expected, "expected_discharge": postponed, "reason": "awaiting_home_services" })
    );
    assert_eq!(
        data_json(&pathway.history[5]),
        json!({ "previous": postponed, "expected_discharge": brought_forward, "reason": "clinical_condition" })
    );
    assert_eq!(
        data_json(&pathway.history[1]),
        json!({ "received_by": "comune:magenta" })
    );
    let state = state_json(&pathway);
    assert_eq!(state["status"], "closed");
    assert_eq!(state["asst"], "705");
    assert_eq!(state["ambito"], "50032");
    assert_eq!(state["received_by"], "comune:magenta");
    assert_eq!(state["expected_discharge"], brought_forward.as_str());
    assert_eq!(
        state["discharge"],
        json!({ "discharged_on": discharged_on, "destination": "home" })
    );
    assert_eq!(state["home_services"], json!(["sad", "c_dom"]));
    assert_eq!(
        state["plan"]["case_manager"],
        json!({ "org": "comune:magenta", "role": "social_worker" })
    );
    app.stop().await;
}

#[tokio::test]
async fn a_pua_intake_goes_from_access_to_closure_through_a_uvm() {
    let app = TestApp::spawn().await;
    let mut asst = app.as_org("asst:707").await;
    let mut comune = app.as_org("comune:bresso").await;
    let mut journey = Journey::new(&app, "comune:bresso").await;

    let access = access_request(CF_VERDI, "bresso", "707");
    journey
        .step(
            "asst:707",
            asst.pua.register_access(access).await,
            "access_registered",
        )
        .await;
    let id = journey.pathway.clone();
    assert!(id.starts_with("pua-"), "{id}");

    app.advance(Duration::hours(1));
    let triage = v1::RecordPreliminaryAssessmentRequest {
        command_id: command_id("triage"),
        pathway_id: id.clone(),
        triage: v1::Triage::Complex as i32,
    };
    journey
        .step(
            "asst:707",
            asst.pua.record_preliminary_assessment(triage).await,
            "complex",
        )
        .await;

    app.advance(Duration::minutes(30));
    let uvm = v1::RequestUvmRequest {
        command_id: command_id("uvm"),
        pathway_id: id.clone(),
    };
    journey
        .step("asst:707", asst.pua.request_uvm(uvm).await, "uvm_requested")
        .await;

    app.advance(Duration::days(6));
    let assessed_on = app.today();
    let completed = v1::CompleteUvmRequest {
        command_id: command_id("uvm-done"),
        pathway_id: id.clone(),
        assessed_on: assessed_on.clone(),
        participants: vec![
            participant("asst:707", v1::Role::Nurse),
            participant("asst:707", v1::Role::GeneralPractitioner),
            participant("comune:bresso", v1::Role::SocialWorker),
        ],
        tools: vec![v1::Tool::Iadl as i32, v1::Tool::Adl as i32],
    };
    journey
        .step(
            "comune:bresso",
            comune.pua.complete_uvm(completed).await,
            "assessed",
        )
        .await;

    app.advance(Duration::days(3));
    let plan = v1::AgreePlanRequest {
        command_id: command_id("pai"),
        pathway_id: id.clone(),
        plan_type: v1::PlanType::Pai as i32,
        case_manager: Some(participant("comune:bresso", v1::Role::SocialWorker)),
    };
    journey
        .step("asst:707", asst.pua.agree_plan(plan).await, "plan_agreed")
        .await;

    app.advance(Duration::days(5));
    let service = v1::ActivateServiceRequest {
        command_id: command_id("service"),
        pathway_id: id.clone(),
        service: v1::PuaService::Sad as i32,
        activated_on: app.today(),
    };
    journey
        .step(
            "comune:bresso",
            comune.pua.activate_service(service).await,
            "service_active",
        )
        .await;

    app.advance(Duration::days(90));
    let close = v1::ClosePuaRequest {
        command_id: command_id("close"),
        pathway_id: id.clone(),
        reason: v1::PuaCloseReason::Completed as i32,
    };
    journey
        .step("asst:707", asst.pua.close(close).await, "closed")
        .await;

    assert_eq!(
        journey.event_types(),
        [
            "raccordo.pua.access_registered.v1",
            "raccordo.pua.preliminary_assessment_recorded.v1",
            "raccordo.pua.uvm_requested.v1",
            "raccordo.pua.uvm_completed.v1",
            "raccordo.pua.plan_agreed.v1",
            "raccordo.pua.service_activated.v1",
            "raccordo.pua.closed.v1",
        ]
    );
    let pathway = journey.read().await;
    assert_eq!(pathway.kind, "pua");
    let state = state_json(&pathway);
    assert_eq!(state["ambito"], "50069");
    assert_eq!(state["asst"], "707");
    assert_eq!(state["channel"], "general_practitioner");
    assert_eq!(state["triage"], "complex");
    assert_eq!(state["uvm"]["assessed_on"], assessed_on.as_str());
    assert_eq!(state["uvm"]["tools"], json!(["adl", "iadl"]));
    assert_eq!(
        state["uvm"]["participants"][2],
        json!({ "org": "comune:bresso", "role": "social_worker" })
    );
    assert_eq!(
        state["plan"],
        json!({ "plan_type": "pai", "case_manager": { "org": "comune:bresso", "role": "social_worker" } })
    );
    assert_eq!(state["services"], json!(["sad"]));
    app.stop().await;
}

#[tokio::test]
async fn a_family_referral_is_accepted_contacted_enrolled_and_closed() {
    let app = TestApp::spawn().await;
    let mut comune = app.as_org("comune:cinisello-balsamo").await;
    let mut centro = app.as_org("centro:officina-dei-legami").await;
    // IPIS delivers family support for Cinisello Balsamo, so it is a party too.
    let mut journey = Journey::new(&app, "ente:ipis").await;

    let referral = referral(CF_BIANCHI, "cinisello-balsamo", "officina-dei-legami");
    journey
        .step(
            "comune:cinisello-balsamo",
            comune.centro.send_referral(referral).await,
            "sent",
        )
        .await;
    let id = journey.pathway.clone();
    assert!(id.starts_with("cpf-"), "{id}");

    app.advance(Duration::days(2));
    let accept = v1::AcceptReferralRequest {
        command_id: command_id("accept"),
        pathway_id: id.clone(),
    };
    journey
        .step(
            "centro:officina-dei-legami",
            centro.centro.accept(accept).await,
            "accepted",
        )
        .await;

    app.advance(Duration::days(3));
    let contact = v1::RecordFirstContactRequest {
        command_id: command_id("contact"),
        pathway_id: id.clone(),
        contacted_on: app.date_in(-1),
        mode: v1::ContactMode::Phone as i32,
    };
    journey
        .step(
            "centro:officina-dei-legami",
            centro.centro.record_first_contact(contact).await,
            "contacted",
        )
        .await;

    app.advance(Duration::days(7));
    let enrol = v1::EnrolRequest {
        command_id: command_id("enrol"),
        pathway_id: id.clone(),
        interventions: vec![
            v1::SupportArea::ParentingSupport as i32,
            v1::SupportArea::ListeningDesk as i32,
        ],
        enrolled_on: app.today(),
    };
    journey
        .step(
            "centro:officina-dei-legami",
            centro.centro.enrol(enrol).await,
            "enrolled",
        )
        .await;

    app.advance(Duration::days(120));
    let close = v1::CloseReferralRequest {
        command_id: command_id("close"),
        pathway_id: id.clone(),
        reason: v1::ReferralCloseReason::Completed as i32,
    };
    journey
        .step(
            "centro:officina-dei-legami",
            centro.centro.close(close).await,
            "closed",
        )
        .await;

    assert_eq!(
        journey.event_types(),
        [
            "raccordo.centro_famiglia.referral_sent.v1",
            "raccordo.centro_famiglia.accepted.v1",
            "raccordo.centro_famiglia.first_contact_made.v1",
            "raccordo.centro_famiglia.enrolled.v1",
            "raccordo.centro_famiglia.closed.v1",
        ]
    );
    let pathway = journey.read().await;
    assert_eq!(pathway.kind, "centro_famiglia");
    let state = state_json(&pathway);
    assert_eq!(state["centro"], "officina-dei-legami");
    assert_eq!(state["referrer"], "comune_social_service");
    assert_eq!(state["referred_by"], "comune:cinisello-balsamo");
    assert_eq!(state["areas"], json!(["orientation", "parenting_support"]));
    assert_eq!(
        state["interventions"],
        json!(["parenting_support", "listening_desk"])
    );
    assert_eq!(state["first_contact"]["mode"], "phone");
    // The referring Comune and the Centro read the same history.
    let by_comune = comune
        .get(&id)
        .await
        .expect("the referring Comune reads it");
    let by_centro = centro.get(&id).await.expect("the Centro reads it");
    assert_eq!(by_comune.history, pathway.history);
    assert_eq!(by_centro.history, pathway.history);
    app.stop().await;
}

#[tokio::test]
async fn a_declined_referral_ends_there_with_its_reason() {
    let app = TestApp::spawn().await;
    let mut comune = app.as_org("comune:cinisello-balsamo").await;
    let mut centro = app.as_org("centro:officina-dei-legami").await;
    let mut journey = Journey::new(&app, "comune:cinisello-balsamo").await;

    let referral = referral(CF_BIANCHI, "cinisello-balsamo", "officina-dei-legami");
    journey
        .step(
            "comune:cinisello-balsamo",
            comune.centro.send_referral(referral).await,
            "sent",
        )
        .await;
    let id = journey.pathway.clone();

    app.advance(Duration::days(1));
    let decline = v1::DeclineReferralRequest {
        command_id: command_id("decline"),
        pathway_id: id.clone(),
        reason: v1::DeclineReason::NoCapacity as i32,
    };
    journey
        .step(
            "centro:officina-dei-legami",
            centro.centro.decline(decline).await,
            "declined",
        )
        .await;
    assert_eq!(
        journey.event_types(),
        [
            "raccordo.centro_famiglia.referral_sent.v1",
            "raccordo.centro_famiglia.declined.v1",
        ]
    );
    let pathway = journey.read().await;
    assert_eq!(
        data_json(&pathway.history[1]),
        json!({ "reason": "no_capacity" })
    );
    assert_eq!(state_json(&pathway)["decline"], "no_capacity");

    // Declined is final: the Centro cannot change its mind on the same referral.
    let before = app.log_length().await;
    let accept = v1::AcceptReferralRequest {
        command_id: command_id("accept"),
        pathway_id: id.clone(),
    };
    let status = refused(centro.centro.accept(accept).await, Code::FailedPrecondition);
    assert!(status.message().contains("declined"), "{status:?}");
    assert_eq!(app.log_length().await, before);
    app.stop().await;
}
