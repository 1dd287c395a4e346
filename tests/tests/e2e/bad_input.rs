//! Bad input gets a clear error and changes nothing (ARCHITECTURE.md invariant 7): every refused
//! call leaves the log as it was and answers with the exact status code, with field-level details
//! for invalid fields, the state for an illegal step, and never the fiscal code it was given.

use std::future::Future;

use raccordo_api::v1;
use raccordo_api::v1::dimissione_protetta_client::DimissioneProtettaClient;
use raccordo_api::v1::pathways_client::PathwaysClient;
use raccordo_tests::{
    CF_BIANCHI, CF_ROSSI, CF_VERDI, TestApp, access_request, bad_descriptions, bad_fields,
    command_id, discharge_request, participant, referral, refused,
};
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// Runs a call that must not change the log, and returns its answer.
async fn changes_nothing<T>(app: &TestApp, call: impl Future<Output = T>) -> T {
    let before = app.log_length().await;
    let answer = call.await;
    assert_eq!(
        app.log_length().await,
        before,
        "a refused call appended nothing"
    );
    answer
}

/// Neither the message nor the details of a status repeat `code`, in any case.
fn assert_not_echoed(status: &Status, code: &str) {
    // The first 15 characters alone identify a person.
    let identifying: String = code.to_uppercase().chars().take(15).collect();
    let shown = [
        status.message().to_owned(),
        String::from_utf8_lossy(status.details()).into_owned(),
    ];
    for text in shown {
        assert!(
            !text.to_uppercase().contains(&identifying),
            "the status repeats the fiscal code: {status:?}"
        );
    }
}

#[tokio::test]
async fn an_invalid_codice_fiscale_is_refused_on_its_field_and_never_echoed() {
    let app = TestApp::spawn().await;
    let mut asst_705 = app.as_org("asst:705").await;
    let mut asst_707 = app.as_org("asst:707").await;
    let mut comune = app.as_org("comune:cinisello-balsamo").await;
    let invalid = [
        ("wrong check character", "RSSMRA85T10A562X"),
        ("wrong check character, lower case", "bnclra70a41f205a"),
        ("too short", "RSSMRA85T10A562"),
        ("too long", "VRDGPP80H15E801BX"),
        ("no such month", "RSSMRA85Z10A562S"),
        ("a letter where a digit belongs", "RSSMRAX5T10A562S"),
    ];
    for (why, cf) in invalid {
        let request = discharge_request(cf, "magenta", &app.date_in(3));
        let status = changes_nothing(&app, asst_705.dimissione.request(request)).await;
        let status = refused(status, Code::InvalidArgument);
        assert_eq!(bad_fields(&status), ["codice_fiscale"], "{why}: {status:?}");
        assert_not_echoed(&status, cf);

        let access = access_request(cf, "bresso", "707");
        let status = changes_nothing(&app, asst_707.pua.register_access(access)).await;
        let status = refused(status, Code::InvalidArgument);
        assert_eq!(bad_fields(&status), ["codice_fiscale"], "{why}: {status:?}");
        assert_not_echoed(&status, cf);

        let sent = referral(cf, "cinisello-balsamo", "officina-dei-legami");
        let status = changes_nothing(&app, comune.centro.send_referral(sent)).await;
        let status = refused(status, Code::InvalidArgument);
        assert_eq!(bad_fields(&status), ["codice_fiscale"], "{why}: {status:?}");
        assert_not_echoed(&status, cf);
    }
    assert_eq!(app.log_length().await, 0);
    app.stop().await;
}

#[tokio::test]
async fn unknown_places_and_organisations_are_refused_on_their_field() {
    let app = TestApp::spawn().await;
    let mut asst_705 = app.as_org("asst:705").await;
    let mut asst_707 = app.as_org("asst:707").await;
    let mut comune = app.as_org("comune:cinisello-balsamo").await;

    let expect_field = |status: Result<tonic::Response<v1::CommandReply>, Status>, field: &str| {
        let status = refused(status, Code::InvalidArgument);
        assert_eq!(bad_fields(&status), [field], "{status:?}");
    };

    for residence in ["roma", "Magenta", "magenta centro"] {
        let request = discharge_request(CF_ROSSI, residence, &app.date_in(3));
        let status = changes_nothing(&app, asst_705.dimissione.request(request)).await;
        expect_field(status, "residence");
    }
    // Milano is a real Comune, but no Comune row of the registry puts it in an Ambito.
    let access = access_request(CF_VERDI, "milano", "707");
    expect_field(
        changes_nothing(&app, asst_707.pua.register_access(access)).await,
        "residence",
    );
    for asst in [
        "799", // well formed, but no such ASST
        "705", // a real ASST, but it does not serve Bresso's Ambito
        "7x5", // not an ASST code at all
        "7055", "",
    ] {
        let access = access_request(CF_VERDI, "bresso", asst);
        let status = changes_nothing(&app, asst_707.pua.register_access(access)).await;
        expect_field(status, "asst");
    }
    let sent = referral(CF_BIANCHI, "cinisello-balsamo", "centro-che-non-esiste");
    expect_field(
        changes_nothing(&app, comune.centro.send_referral(sent)).await,
        "centro",
    );

    // Participants must name organisations of the registry.
    let id = app.open_discharge("magenta").await;
    let mut magenta = app.as_org("comune:magenta").await;
    let receive = v1::ReceiveDischargeRequest {
        command_id: command_id("receive"),
        pathway_id: id.clone(),
    };
    magenta.dimissione.receive(receive).await.expect("received");
    let assessment = |participants| v1::RecordJointAssessmentRequest {
        command_id: command_id("assessment"),
        pathway_id: id.clone(),
        assessed_on: app.today(),
        participants,
    };
    let unknown = assessment(vec![
        participant("asst:705", v1::Role::Physician),
        participant("comune:atlantide", v1::Role::SocialWorker),
    ]);
    let status = changes_nothing(&app, magenta.dimissione.record_joint_assessment(unknown)).await;
    expect_field(status, "participants[1].org");
    let malformed = assessment(vec![participant("hospital:1", v1::Role::Unspecified)]);
    let status = changes_nothing(&app, magenta.dimissione.record_joint_assessment(malformed)).await;
    let status = refused(status, Code::InvalidArgument);
    assert_eq!(
        bad_fields(&status),
        ["participants[0].org", "participants[0].role"]
    );
    app.stop().await;
}

#[tokio::test]
async fn missing_fields_are_all_listed_at_once() {
    let app = TestApp::spawn().await;
    let mut asst = app.as_org("asst:705").await;
    let mut comune = app.as_org("comune:cinisello-balsamo").await;

    let request = v1::RequestDischargeRequest {
        command_id: String::new(),
        expected_discharge: String::new(),
        needs: vec![
            v1::DischargeService::Sad as i32,
            v1::DischargeService::Unspecified as i32,
        ],
        ..discharge_request(CF_ROSSI, "magenta", "")
    };
    let status = changes_nothing(&app, asst.dimissione.request(request)).await;
    let status = refused(status, Code::InvalidArgument);
    assert_eq!(
        bad_fields(&status),
        ["command_id", "expected_discharge", "needs[1]"]
    );
    assert!(
        bad_descriptions(&status).iter().all(|d| d == "required"),
        "{status:?}"
    );
    for field in ["command_id", "expected_discharge", "needs[1]"] {
        assert!(
            status.message().contains(field),
            "the message lists {field}: {status:?}"
        );
    }

    // The shape of every field is checked first; what the fields mean (the ward, a known
    // Comune, a date that fits the clock) is checked, all together, once they have a shape.
    let empty = v1::RequestDischargeRequest::default();
    let status = refused(
        changes_nothing(&app, asst.dimissione.request(empty)).await,
        Code::InvalidArgument,
    );
    assert_eq!(
        bad_fields(&status),
        [
            "command_id",
            "codice_fiscale",
            "residence",
            "expected_discharge"
        ]
    );

    let status = refused(
        changes_nothing(
            &app,
            asst.dimissione
                .record_discharge(v1::RecordDischargeRequest::default()),
        )
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(
        bad_fields(&status),
        ["command_id", "pathway_id", "discharged_on", "destination"]
    );

    let status = refused(
        changes_nothing(
            &app,
            comune
                .centro
                .send_referral(v1::SendReferralRequest::default()),
        )
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(
        bad_fields(&status),
        [
            "command_id",
            "codice_fiscale",
            "residence",
            "centro",
            "referrer"
        ]
    );

    // An enum value this server does not know is not taken for "unspecified".
    let id = app.open_discharge("magenta").await;
    let discharge = v1::RecordDischargeRequest {
        command_id: command_id("discharge"),
        pathway_id: id.clone(),
        discharged_on: app.today(),
        destination: 42,
    };
    let status = refused(
        changes_nothing(&app, asst.dimissione.record_discharge(discharge)).await,
        Code::InvalidArgument,
    );
    assert_eq!(bad_fields(&status), ["destination"]);
    assert!(bad_descriptions(&status)[0].contains("42"), "{status:?}");

    let plan = v1::AgreeCarePlanRequest {
        command_id: String::new(),
        pathway_id: id,
        services: vec![v1::DischargeService::Sad as i32],
        case_manager: Some(v1::Participant::default()),
    };
    let status = refused(
        changes_nothing(&app, asst.dimissione.agree_care_plan(plan)).await,
        Code::InvalidArgument,
    );
    assert_eq!(
        bad_fields(&status),
        ["command_id", "case_manager.org", "case_manager.role"]
    );
    app.stop().await;
}

#[tokio::test]
async fn dates_must_be_real_and_fit_the_virtual_clock() {
    let app = TestApp::spawn().await;
    let mut asst = app.as_org("asst:705").await;
    for (why, date) in [
        ("yesterday", app.date_in(-1)),
        ("not ISO 8601", "06/03/2026".to_owned()),
        ("no such day", "2026-02-30".to_owned()),
    ] {
        let request = discharge_request(CF_ROSSI, "magenta", &date);
        let status = refused(
            changes_nothing(&app, asst.dimissione.request(request)).await,
            Code::InvalidArgument,
        );
        assert_eq!(
            bad_fields(&status),
            ["expected_discharge"],
            "{why}: {status:?}"
        );
    }

    let id = app.open_discharge("magenta").await;
    for (why, date) in [
        ("tomorrow", app.date_in(1)),
        ("before the request", app.date_in(-1)),
    ] {
        let discharge = v1::RecordDischargeRequest {
            command_id: command_id("discharge"),
            pathway_id: id.clone(),
            discharged_on: date,
            destination: v1::Destination::Home as i32,
        };
        let status = refused(
            changes_nothing(&app, asst.dimissione.record_discharge(discharge)).await,
            Code::InvalidArgument,
        );
        assert_eq!(bad_fields(&status), ["discharged_on"], "{why}: {status:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_illegal_step_is_a_failed_precondition_naming_the_state() {
    let app = TestApp::spawn().await;
    let mut asst = app.as_org("asst:705").await;
    let mut comune = app.as_org("comune:magenta").await;
    let id = app.open_discharge("magenta").await;
    let cancel = v1::CancelDischargeRequest {
        command_id: command_id("cancel"),
        pathway_id: id.clone(),
        reason: v1::CancelReason::PatientRefused as i32,
    };
    asst.dimissione.cancel(cancel).await.expect("cancelled");

    let discharge = v1::RecordDischargeRequest {
        command_id: command_id("discharge"),
        pathway_id: id.clone(),
        discharged_on: app.today(),
        destination: v1::Destination::Home as i32,
    };
    let status = refused(
        changes_nothing(&app, asst.dimissione.record_discharge(discharge)).await,
        Code::FailedPrecondition,
    );
    assert!(
        status.message().contains(&format!("{id} is cancelled")),
        "the message names the pathway and its state: {status:?}"
    );
    let details = status.get_error_details();
    let violation = &details
        .precondition_failure()
        .expect("precondition failure details")
        .violations[0];
    assert_eq!(violation.subject, id);
    assert!(violation.description.contains("cancelled"), "{violation:?}");

    let receive = v1::ReceiveDischargeRequest {
        command_id: command_id("receive"),
        pathway_id: id.clone(),
    };
    let status = refused(
        changes_nothing(&app, comune.dimissione.receive(receive)).await,
        Code::FailedPrecondition,
    );
    assert!(status.message().contains("cancelled"), "{status:?}");

    // Closing a discharge that has not happened yet.
    let open = app.open_discharge("magenta").await;
    let close = v1::CloseDischargeRequest {
        command_id: command_id("close"),
        pathway_id: open.clone(),
        reason: v1::DischargeCloseReason::Completed as i32,
    };
    let status = refused(
        changes_nothing(&app, comune.dimissione.close(close)).await,
        Code::FailedPrecondition,
    );
    assert!(status.message().contains("is requested"), "{status:?}");

    // A UVM before the triage said the need is complex.
    let mut pua = app.as_org("asst:707").await;
    let access = pua
        .pua
        .register_access(access_request(CF_VERDI, "bresso", "707"))
        .await
        .expect("registered")
        .into_inner();
    let uvm = v1::RequestUvmRequest {
        command_id: command_id("uvm"),
        pathway_id: access.pathway_id,
    };
    let status = refused(
        changes_nothing(&app, pua.pua.request_uvm(uvm)).await,
        Code::FailedPrecondition,
    );
    assert!(status.message().contains("access_registered"), "{status:?}");
    app.stop().await;
}

#[tokio::test]
async fn acting_on_another_organisations_pathway_is_permission_denied() {
    let app = TestApp::spawn().await;
    let magentino = app.open_discharge("magenta").await;
    let referral_id = app.open_referral("officina-dei-legami").await;

    let mut asst_707 = app.as_org("asst:707").await;
    let discharge = v1::RecordDischargeRequest {
        command_id: command_id("discharge"),
        pathway_id: magentino.clone(),
        discharged_on: app.today(),
        destination: v1::Destination::Home as i32,
    };
    let status = refused(
        changes_nothing(&app, asst_707.dimissione.record_discharge(discharge)).await,
        Code::PermissionDenied,
    );
    assert!(status.message().contains("asst:707"), "{status:?}");

    let mut bresso = app.as_org("comune:bresso").await;
    let receive = v1::ReceiveDischargeRequest {
        command_id: command_id("receive"),
        pathway_id: magentino.clone(),
    };
    let status = refused(
        changes_nothing(&app, bresso.dimissione.receive(receive)).await,
        Code::PermissionDenied,
    );
    assert!(status.message().contains("comune:bresso"), "{status:?}");

    let mut other_centro = app.as_org("centro:spazio-famiglia-qui-si-puo").await;
    let accept = v1::AcceptReferralRequest {
        command_id: command_id("accept"),
        pathway_id: referral_id.clone(),
    };
    refused(
        changes_nothing(&app, other_centro.centro.accept(accept)).await,
        Code::PermissionDenied,
    );

    // A Comune refers families of its own Ambito only.
    let from_elsewhere = referral(CF_BIANCHI, "cinisello-balsamo", "officina-dei-legami");
    let mut magenta = app.as_org("comune:magenta").await;
    refused(
        changes_nothing(&app, magenta.centro.send_referral(from_elsewhere)).await,
        Code::PermissionDenied,
    );

    // The Comune follows the discharge but the date is the hospital's to move.
    let change = v1::ChangeExpectedDateRequest {
        command_id: command_id("change"),
        pathway_id: magentino.clone(),
        expected_discharge: app.date_in(9),
        reason: v1::DateChangeReason::FamilyRequest as i32,
    };
    refused(
        changes_nothing(&app, magenta.dimissione.change_expected_date(change)).await,
        Code::PermissionDenied,
    );
    // Only an ASST asks for a protected discharge.
    let request = discharge_request(CF_ROSSI, "magenta", &app.date_in(3));
    refused(
        changes_nothing(&app, magenta.dimissione.request(request)).await,
        Code::PermissionDenied,
    );
    // A Comune registers access only for the residents of its own Ambito.
    let access = access_request(CF_VERDI, "magenta", "705");
    refused(
        changes_nothing(&app, bresso.pua.register_access(access)).await,
        Code::PermissionDenied,
    );
    // The ATS monitors; it does not act on a person's pathway.
    let mut ats = app.as_org("ats:321").await;
    let cancel = v1::CancelDischargeRequest {
        command_id: command_id("cancel"),
        pathway_id: magentino.clone(),
        reason: v1::CancelReason::EnteredInError as i32,
    };
    refused(
        changes_nothing(&app, ats.dimissione.cancel(cancel)).await,
        Code::PermissionDenied,
    );
    app.stop().await;
}

/// A stranger to a pathway learns nothing about its state from a refusal: permission is
/// checked before the step's preconditions.
#[tokio::test]
async fn a_stranger_is_denied_before_the_state_is_checked() {
    let app = TestApp::spawn().await;
    let magentino = app.open_discharge("magenta").await;
    let mut bresso = app.as_org("comune:bresso").await;
    let sad = v1::ActivateHomeServicesRequest {
        command_id: command_id("sad"),
        pathway_id: magentino.clone(),
        services: vec![v1::DischargeService::Sad as i32],
        activated_on: app.today(),
    };
    let status = refused(
        changes_nothing(&app, bresso.dimissione.activate_home_services(sad)).await,
        Code::PermissionDenied,
    );
    assert!(!status.message().contains("requested"), "{status:?}");
    let close = v1::CloseDischargeRequest {
        command_id: command_id("close"),
        pathway_id: magentino.clone(),
        reason: v1::DischargeCloseReason::Completed as i32,
    };
    let status = refused(
        changes_nothing(&app, bresso.dimissione.close(close)).await,
        Code::PermissionDenied,
    );
    assert!(!status.message().contains("requested"), "{status:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_caller_without_a_known_bearer_token_is_unauthenticated() {
    let app = TestApp::spawn().await;
    let id = app.open_discharge("magenta").await;
    let before = app.log_length().await;

    let mut anonymous = DimissioneProtettaClient::new(app.channel().await);
    let request = discharge_request(CF_ROSSI, "magenta", &app.date_in(3));
    refused(
        anonymous.request(request.clone()).await,
        Code::Unauthenticated,
    );
    let mut anonymous_reader = PathwaysClient::new(app.channel().await);
    let get = v1::GetPathwayRequest {
        pathway_id: id.clone(),
        min_sequence: 0,
    };
    refused(anonymous_reader.get(get).await, Code::Unauthenticated);

    for authorization in [
        "Bearer not-a-token-anyone-was-given",
        "Bearer ",
        "Basic YXNzdDo3MDU=",
        "test-token-asst-705",
    ] {
        let mut caller = app.with_authorization(authorization).await;
        refused(
            caller.dimissione.request(request.clone()).await,
            Code::Unauthenticated,
        );
        refused(caller.get(&id).await, Code::Unauthenticated);
    }
    assert_eq!(app.log_length().await, before);
    app.stop().await;
}

#[tokio::test]
async fn a_pathway_is_read_only_by_its_parties() {
    let app = TestApp::spawn().await;
    let id = app.open_discharge("magenta").await;

    for party in ["asst:705", "comune:magenta"] {
        let mut clients = app.as_org(party).await;
        let pathway = clients
            .get(&id)
            .await
            .unwrap_or_else(|e| panic!("{party}: {e:?}"));
        assert_eq!(pathway.id, id);
        assert_eq!(pathway.view, "full");
        assert!(pathway.state.is_some(), "{party} rebuilds the state");
    }
    // Not in their projections: the same answer as for a pathway that does not exist, so a
    // stranger learns nothing, not even that the pathway exists.
    for stranger in [
        "comune:bresso",
        "asst:707",
        "ente:ipis",
        "centro:officina-dei-legami",
    ] {
        let mut clients = app.as_org(stranger).await;
        let status = refused(clients.get(&id).await, Code::NotFound);
        assert!(
            !status.message().contains("requested"),
            "{stranger}: {status:?}"
        );
        let listed = clients
            .list(v1::ListPathwaysRequest::default())
            .await
            .unwrap();
        assert!(listed.pathways.is_empty(), "{stranger} lists {listed:?}");
    }
    // The ATS reads its aggregate view: where the pathway stands, never who the person is or who
    // acted.
    let mut ats = app.as_org("ats:321").await;
    let aggregate = ats
        .get(&id)
        .await
        .expect("the ATS reads its aggregate view");
    assert_eq!(aggregate.view, "aggregate");
    assert_eq!(aggregate.status, "requested");
    assert!(aggregate.state.is_none(), "no state from an aggregate view");
    for event in &aggregate.history {
        assert_eq!(event.source, "asst");
        assert!(event.operator.is_empty() && event.command_id.is_empty());
        let data = raccordo_tests::data_json(event);
        assert!(data.get("subject_ref").is_none(), "{data}");
        assert!(data.get("residence").is_none(), "{data}");
        assert!(data.get("ward").is_none(), "{data}");
    }

    let mut asst = app.as_org("asst:705").await;
    refused(asst.get("dp-00000000000000000000").await, Code::NotFound);
    for malformed in ["", "dp-xyz", "dp-0000000000000000000G", "pathway"] {
        let status = refused(asst.get(malformed).await, Code::InvalidArgument);
        assert_eq!(
            bad_fields(&status),
            ["pathway_id"],
            "{malformed:?}: {status:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_command_on_a_pathway_that_does_not_exist_or_is_of_another_kind_is_refused() {
    let app = TestApp::spawn().await;
    let mut magenta = app.as_org("comune:magenta").await;
    let receive = v1::ReceiveDischargeRequest {
        command_id: command_id("receive"),
        pathway_id: "dp-00000000000000000000".into(),
    };
    refused(
        changes_nothing(&app, magenta.dimissione.receive(receive)).await,
        Code::NotFound,
    );

    let discharge = app.open_discharge("magenta").await;
    let mut centro = app.as_org("centro:officina-dei-legami").await;
    let accept = v1::AcceptReferralRequest {
        command_id: command_id("accept"),
        pathway_id: discharge,
    };
    let status = refused(
        changes_nothing(&app, centro.centro.accept(accept)).await,
        Code::InvalidArgument,
    );
    assert_eq!(bad_fields(&status), ["pathway_id"]);
    app.stop().await;
}

/// A caller fixes a request in one go: problems found by the registry (an unknown Comune, a date
/// in the past) are listed together with the missing fields, not one round trip later.
#[tokio::test]
async fn missing_fields_and_unknown_places_are_listed_together() {
    let app = TestApp::spawn().await;
    let mut asst = app.as_org("asst:705").await;
    let request = v1::RequestDischargeRequest {
        ward: String::new(),
        ..discharge_request(CF_ROSSI, "roma", &app.date_in(-1))
    };
    let status = refused(
        changes_nothing(&app, asst.dimissione.request(request)).await,
        Code::InvalidArgument,
    );
    let mut fields = bad_fields(&status);
    fields.sort();
    assert_eq!(
        fields,
        ["expected_discharge", "residence", "ward"],
        "{status:?}"
    );
    app.stop().await;
}
