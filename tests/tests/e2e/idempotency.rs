//! Retried commands (ARCHITECTURE.md invariant 1): the same command id from the same organisation
//! gets the very same reply and appends nothing, at once, long after JetStream's duplicate window,
//! and through a gateway that has never seen the command; the same id reused for a different
//! command is refused.

use std::time::Duration;

use raccordo_api::v1;
use raccordo_gateway::REPLAYED_HEADER;
use raccordo_tests::{
    CF_ROSSI, CF_VERDI, TestApp, access_request, care_events, command_id, discharge_request,
    participant, refused,
};
use tonic::{Code, Response, Status};

/// The reply of a first, accepted command: not marked as replayed.
fn first(result: Result<Response<v1::CommandReply>, Status>) -> v1::CommandReply {
    let response = result.expect("the command is accepted");
    assert!(
        response.metadata().get(REPLAYED_HEADER).is_none(),
        "a first reply is not a replay"
    );
    response.into_inner()
}

/// The reply of a retried command: marked as replayed.
fn replayed(result: Result<Response<v1::CommandReply>, Status>) -> v1::CommandReply {
    let response = result.expect("the retry is answered");
    assert_eq!(
        response
            .metadata()
            .get(REPLAYED_HEADER)
            .and_then(|v| v.to_str().ok()),
        Some("true"),
        "a retried command's reply carries {REPLAYED_HEADER}: true"
    );
    response.into_inner()
}

#[tokio::test]
async fn a_retried_command_gets_the_same_reply_and_appends_nothing() {
    let app = TestApp::spawn().await;
    let mut asst = app.as_org("asst:705").await;
    let mut comune = app.as_org("comune:magenta").await;

    let request = discharge_request(CF_ROSSI, "magenta", &app.date_in(3));
    let opened = first(asst.dimissione.request(request.clone()).await);
    assert_eq!(
        replayed(asst.dimissione.request(request.clone()).await),
        opened
    );
    assert_eq!(app.log_length().await, 1);

    let receive = v1::ReceiveDischargeRequest {
        command_id: command_id("receive"),
        pathway_id: opened.pathway_id.clone(),
    };
    let received = first(comune.dimissione.receive(receive.clone()).await);
    // The retry comes after the pathway moved on: it still gets its own first answer.
    let assessment = v1::RecordJointAssessmentRequest {
        command_id: command_id("assessment"),
        pathway_id: opened.pathway_id.clone(),
        assessed_on: app.today(),
        participants: vec![participant("comune:magenta", v1::Role::SocialWorker)],
    };
    first(comune.dimissione.record_joint_assessment(assessment).await);
    assert_eq!(
        replayed(comune.dimissione.receive(receive.clone()).await),
        received
    );
    assert_eq!(replayed(asst.dimissione.request(request).await), opened);
    assert_eq!(app.log_length().await, 3);

    let pathway = asst.get(&opened.pathway_id).await.unwrap();
    assert_eq!(pathway.history.len(), 3);
    assert_eq!(pathway.status, "assessed");
    app.stop().await;
}

#[tokio::test]
async fn a_command_retried_after_the_duplicate_window_is_still_applied_once() {
    let app = TestApp::spawn_with(Duration::from_secs(1)).await;
    let mut asst = app.as_org("asst:705").await;
    let mut comune = app.as_org("comune:magenta").await;
    let request = discharge_request(CF_ROSSI, "magenta", &app.date_in(3));
    let opened = first(asst.dimissione.request(request.clone()).await);
    let receive = v1::ReceiveDischargeRequest {
        command_id: command_id("receive"),
        pathway_id: opened.pathway_id.clone(),
    };
    let received = first(comune.dimissione.receive(receive.clone()).await);

    // JetStream forgets message ids in real time, not by the virtual clock.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    app.advance(time::Duration::days(40));

    assert_eq!(
        replayed(asst.dimissione.request(request.clone()).await),
        opened
    );
    assert_eq!(
        replayed(comune.dimissione.receive(receive.clone()).await),
        received
    );
    assert_eq!(app.log_length().await, 2);

    // A gateway that never saw either command (restarted, or another replica) answers the same
    // from the log alone.
    let peer = app.spawn_peer().await;
    let mut asst = peer.as_org("asst:705").await;
    let mut comune = peer.as_org("comune:magenta").await;
    assert_eq!(replayed(asst.dimissione.request(request).await), opened);
    assert_eq!(replayed(comune.dimissione.receive(receive).await), received);
    assert_eq!(app.log_length().await, 2);
    let pathway = asst.get(&opened.pathway_id).await.unwrap();
    assert_eq!(care_events(&pathway), 2);
    peer.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn a_command_id_reused_for_a_different_command_is_refused() {
    let app = TestApp::spawn().await;
    let mut asst = app.as_org("asst:705").await;

    let request = discharge_request(CF_ROSSI, "magenta", &app.date_in(3));
    let opened = first(asst.dimissione.request(request.clone()).await);
    let other_patient = v1::RequestDischargeRequest {
        codice_fiscale: CF_VERDI.into(),
        ..request.clone()
    };
    let status = refused(
        asst.dimissione.request(other_patient).await,
        Code::AlreadyExists,
    );
    assert!(status.message().contains(&request.command_id), "{status:?}");
    assert!(!status.message().contains(CF_VERDI), "{status:?}");
    let other_date = v1::RequestDischargeRequest {
        expected_discharge: app.date_in(5),
        ..request.clone()
    };
    refused(
        asst.dimissione.request(other_date).await,
        Code::AlreadyExists,
    );
    assert_eq!(app.log_length().await, 1);

    let change = v1::ChangeExpectedDateRequest {
        command_id: command_id("change"),
        pathway_id: opened.pathway_id.clone(),
        expected_discharge: app.date_in(6),
        reason: v1::DateChangeReason::ClinicalCondition as i32,
    };
    first(asst.dimissione.change_expected_date(change.clone()).await);
    let another_date = v1::ChangeExpectedDateRequest {
        expected_discharge: app.date_in(7),
        ..change.clone()
    };
    refused(
        asst.dimissione.change_expected_date(another_date).await,
        Code::AlreadyExists,
    );
    let another_reason = v1::ChangeExpectedDateRequest {
        reason: v1::DateChangeReason::FamilyRequest as i32,
        ..change.clone()
    };
    refused(
        asst.dimissione.change_expected_date(another_reason).await,
        Code::AlreadyExists,
    );
    assert_eq!(app.log_length().await, 2);
    // The original is still answered as before.
    replayed(asst.dimissione.change_expected_date(change).await);
    assert_eq!(app.log_length().await, 2);
    app.stop().await;
}

/// A command id belongs to the organisation that sent it and to the pathway it acts on: the same
/// id from another organisation, or on another pathway, is another command with its own event.
#[tokio::test]
async fn command_ids_are_scoped_to_the_organisation_and_the_pathway() {
    let app = TestApp::spawn_with(Duration::from_secs(1)).await;
    let mut asst = app.as_org("asst:705").await;
    let mut comune = app.as_org("comune:magenta").await;
    let first_pathway = app.open_discharge("magenta").await;
    let second_pathway = app.open_discharge("corbetta").await;
    assert_ne!(first_pathway, second_pathway);

    let shared = command_id("shared");
    let cancel = |pathway: &str| v1::CancelDischargeRequest {
        command_id: shared.clone(),
        pathway_id: pathway.to_owned(),
        reason: v1::CancelReason::PatientRefused as i32,
    };
    let receive = v1::ReceiveDischargeRequest {
        command_id: shared.clone(),
        pathway_id: first_pathway.clone(),
    };
    let received = first(comune.dimissione.receive(receive).await);
    let cancelled = first(asst.dimissione.cancel(cancel(&first_pathway)).await);
    assert_ne!(received.event_id, cancelled.event_id);

    // Within JetStream's duplicate window, and after it.
    let on_second = first(asst.dimissione.cancel(cancel(&second_pathway)).await);
    assert_ne!(on_second.event_id, cancelled.event_id);
    assert_eq!(on_second.pathway_id, second_pathway);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let third_pathway = app.open_discharge("magenta").await;
    let on_third = first(asst.dimissione.cancel(cancel(&third_pathway)).await);
    assert_eq!(on_third.status, "cancelled");

    let ids: Vec<String> = app
        .stream_messages()
        .await
        .iter()
        .map(|m| m.headers.get("ce-id").unwrap().as_str().to_owned())
        .collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        ids.len(),
        "every event has an id of its own: {ids:?}"
    );
    assert_eq!(ids.len(), 7);
    app.stop().await;
}

/// The same command id for two commands that each open a pathway, of different kinds, is not
/// a retry of the first: it is refused as a reused id or accepted as a command of its own, and
/// either way no two events share an id, within JetStream's duplicate window or after it.
#[tokio::test]
async fn a_command_id_reused_to_open_a_pathway_of_another_kind_is_not_a_retry() {
    let app = TestApp::spawn_with(Duration::from_secs(1)).await;
    let mut asst = app.as_org("asst:705").await;
    for wait in [Duration::ZERO, Duration::from_millis(2_100)] {
        let before = app.log_length().await;
        let request = discharge_request(CF_ROSSI, "magenta", &app.date_in(3));
        let opened = first(asst.dimissione.request(request.clone()).await);
        tokio::time::sleep(wait).await;
        // ASST 705 also runs the PUA of the Magentino.
        let access = v1::RegisterAccessRequest {
            command_id: request.command_id.clone(),
            ..access_request(CF_ROSSI, "magenta", "705")
        };
        match asst.pua.register_access(access).await {
            Ok(reply) => {
                let reply = reply.into_inner();
                assert_ne!(
                    reply.event_id, opened.event_id,
                    "after {wait:?}: two events share an id"
                );
                assert_eq!(app.log_length().await, before + 2);
            }
            Err(status) => {
                assert_eq!(
                    status.code(),
                    Code::AlreadyExists,
                    "after {wait:?}: {status:?}"
                );
                assert_eq!(app.log_length().await, before + 1);
            }
        }
    }
    app.stop().await;
}

/// A client that retries before the first answer came back: both calls are answered alike, one
/// of them as a replay, and one event is appended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_racing_its_original_appends_one_event() {
    let app = TestApp::spawn().await;
    let mut first_try = app.as_org("asst:705").await;
    let mut retry = app.as_org("asst:705").await;
    for _ in 0..10 {
        let before = app.log_length().await;
        let request = discharge_request(CF_ROSSI, "magenta", &app.date_in(3));
        let (a, b) = tokio::join!(
            first_try.dimissione.request(request.clone()),
            retry.dimissione.request(request)
        );
        let (a, b) = (a.expect("answered"), b.expect("answered"));
        let replays = [&a, &b]
            .iter()
            .filter(|r| r.metadata().get(REPLAYED_HEADER).is_some())
            .count();
        assert_eq!(replays, 1, "exactly one of the two is a replay");
        let opened = a.into_inner();
        assert_eq!(b.into_inner(), opened);
        assert_eq!(app.log_length().await, before + 1);

        let change = v1::ChangeExpectedDateRequest {
            command_id: command_id("change"),
            pathway_id: opened.pathway_id.clone(),
            expected_discharge: app.date_in(5),
            reason: v1::DateChangeReason::ClinicalCondition as i32,
        };
        let (a, b) = tokio::join!(
            first_try.dimissione.change_expected_date(change.clone()),
            retry.dimissione.change_expected_date(change)
        );
        assert_eq!(
            a.expect("answered").into_inner(),
            b.expect("answered").into_inner()
        );
        assert_eq!(app.log_length().await, before + 2);
    }
    app.stop().await;
}
