//! Commands racing on one pathway (ARCHITECTURE.md invariant 2): exactly one of two conflicting
//! commands wins and the other is refused naming the state it lost to; compatible commands are
//! all applied, one after the other, and none is lost.

use raccordo_api::v1;
use raccordo_tests::{
    TestApp, care_events, command_id, data_json, participant, refused, state_json,
};
use tonic::{Code, Response, Status};

const ROUNDS: usize = 20;

/// Of two racing commands, the one that won and the status of the one that lost.
fn winner_and_loser<'a>(
    a: (&'a str, Result<Response<v1::CommandReply>, Status>),
    b: (&'a str, Result<Response<v1::CommandReply>, Status>),
) -> (&'a str, v1::CommandReply, Status) {
    match (a, b) {
        ((name, Ok(won)), (_, Err(lost))) | ((_, Err(lost)), (name, Ok(won))) => {
            (name, won.into_inner(), lost)
        }
        (a, b) => panic!("expected exactly one winner, got {a:?} and {b:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_and_decline_at_the_same_moment_append_exactly_one_event() {
    let app = TestApp::spawn().await;
    // Two desks of the same Centro, each on its own connection.
    let mut desk_a = app.as_org("centro:officina-dei-legami").await;
    let mut desk_b = app.as_org("centro:officina-dei-legami").await;
    let mut reader = app.as_org("comune:cinisello-balsamo").await;
    let mut wins = (0, 0);
    for _ in 0..ROUNDS {
        let id = app.open_referral("officina-dei-legami").await;
        let before = app.log_length().await;
        let accept = v1::AcceptReferralRequest {
            command_id: command_id("accept"),
            pathway_id: id.clone(),
        };
        let decline = v1::DeclineReferralRequest {
            command_id: command_id("decline"),
            pathway_id: id.clone(),
            reason: v1::DeclineReason::NoCapacity as i32,
        };
        let (accepted, declined) =
            tokio::join!(desk_a.centro.accept(accept), desk_b.centro.decline(decline));
        let (status, won, lost) = winner_and_loser(("accepted", accepted), ("declined", declined));
        match status {
            "accepted" => wins.0 += 1,
            _ => wins.1 += 1,
        }

        assert_eq!(
            app.log_length().await,
            before + 1,
            "exactly one event appended"
        );
        assert_eq!(won.status, status);
        assert_eq!(lost.code(), Code::FailedPrecondition, "{lost:?}");
        assert!(
            lost.message().contains(&format!("is {status}")) && lost.message().contains(&id),
            "the refusal names the pathway and the state it lost to: {lost:?}"
        );
        let pathway = reader.get(&id).await.expect("the referrer reads it");
        assert_eq!(pathway.status, status);
        assert_eq!(pathway.history.len(), 2);
        assert_eq!(pathway.history[1].event_id, won.event_id);
    }
    println!("accept won {} rounds, decline won {}", wins.0, wins.1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_comuni_racing_to_receive_through_two_gateways_append_exactly_one_event() {
    let app = TestApp::spawn().await;
    // A second gateway on the same stream: the race is settled by the log, not by shared memory.
    let peer = app.spawn_peer().await;
    let mut magenta = app.as_org("comune:magenta").await;
    let mut corbetta = peer.as_org("comune:corbetta").await;
    let mut reader = app.as_org("asst:705").await;
    for _ in 0..ROUNDS {
        let id = app.open_discharge("magenta").await;
        let before = app.log_length().await;
        let by_magenta = v1::ReceiveDischargeRequest {
            command_id: command_id("receive"),
            pathway_id: id.clone(),
        };
        let by_corbetta = v1::ReceiveDischargeRequest {
            command_id: command_id("receive"),
            pathway_id: id.clone(),
        };
        let (a, b) = tokio::join!(
            magenta.dimissione.receive(by_magenta),
            corbetta.dimissione.receive(by_corbetta)
        );
        let (receiver, won, lost) = winner_and_loser(("comune:magenta", a), ("comune:corbetta", b));

        assert_eq!(
            app.log_length().await,
            before + 1,
            "exactly one event appended"
        );
        assert_eq!(won.status, "received");
        assert_eq!(lost.code(), Code::FailedPrecondition, "{lost:?}");
        assert!(lost.message().contains("is received"), "{lost:?}");
        let pathway = reader.get(&id).await.expect("the requesting ASST reads it");
        assert_eq!(pathway.history.len(), 2);
        assert_eq!(pathway.history[1].source, receiver);
        assert_eq!(pathway.history[1].event_id, won.event_id);
    }
    peer.stop().await;
    app.stop().await;
}

/// Compatible commands that race are decided again on fresh state, so every one is applied and
/// each sees the one before it: the chain of `previous` dates has no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_date_changes_are_all_applied_in_some_order_without_a_lost_update() {
    const CHANGES: i64 = 6;
    let app = TestApp::spawn().await;
    let id = app.open_discharge("magenta").await;
    let first_expected = app.date_in(4);
    let mut tasks = Vec::new();
    for day in 0..CHANGES {
        // Each on its own connection, so that they really arrive together.
        let mut asst = app.as_org("asst:705").await;
        let change = v1::ChangeExpectedDateRequest {
            command_id: command_id("change"),
            pathway_id: id.clone(),
            expected_discharge: app.date_in(10 + day),
            reason: v1::DateChangeReason::ClinicalCondition as i32,
        };
        tasks.push(tokio::spawn(async move {
            asst.dimissione.change_expected_date(change).await
        }));
    }
    for task in tasks {
        let reply = task.await.expect("the task ends");
        reply.expect("every compatible change is applied");
    }

    let mut asst = app.as_org("asst:705").await;
    let pathway = asst.get(&id).await.expect("the ASST reads it");
    assert_eq!(pathway.history.len() as i64, 1 + CHANGES);
    let mut expected = serde_json::Value::from(first_expected);
    let mut dates = Vec::new();
    for event in &pathway.history[1..] {
        let data = data_json(event);
        assert_eq!(
            data["previous"], expected,
            "each change follows the one before it"
        );
        expected = data["expected_discharge"].clone();
        dates.push(expected.clone());
    }
    dates.sort_by_key(|d| d.as_str().unwrap_or_default().to_owned());
    dates.dedup();
    assert_eq!(dates.len() as i64, CHANGES, "every change was applied once");
    assert_eq!(state_json(&pathway)["expected_discharge"], expected);

    // A change to the date it already has is refused, whoever sends it.
    let again = v1::ChangeExpectedDateRequest {
        command_id: command_id("change"),
        pathway_id: id.clone(),
        expected_discharge: expected.as_str().unwrap().to_owned(),
        reason: v1::DateChangeReason::Other as i32,
    };
    refused(
        asst.dimissione.change_expected_date(again).await,
        Code::InvalidArgument,
    );
    app.stop().await;
}

/// Two gateways on one stream each keep pathways in memory; neither may decide on a copy that
/// the other has made stale.
#[tokio::test]
async fn a_gateway_with_a_stale_copy_decides_on_the_log() {
    let app = TestApp::spawn().await;
    let peer = app.spawn_peer().await;
    let mut magenta_on_peer = peer.as_org("comune:magenta").await;
    let mut asst_on_peer = peer.as_org("asst:705").await;
    let mut asst = app.as_org("asst:705").await;
    let receive = |id: &str| v1::ReceiveDischargeRequest {
        command_id: command_id("receive"),
        pathway_id: id.to_owned(),
    };

    // Legal on the peer's copy ("received"), illegal on the log ("cancelled").
    let id = app.open_discharge("magenta").await;
    magenta_on_peer
        .dimissione
        .receive(receive(&id))
        .await
        .expect("received");
    let cancel = v1::CancelDischargeRequest {
        command_id: command_id("cancel"),
        pathway_id: id.clone(),
        reason: v1::CancelReason::TransferredToAnotherHospital as i32,
    };
    asst.dimissione.cancel(cancel).await.expect("cancelled");
    let before = app.log_length().await;
    let discharge = v1::RecordDischargeRequest {
        command_id: command_id("discharge"),
        pathway_id: id.clone(),
        discharged_on: app.today(),
        destination: v1::Destination::Home as i32,
    };
    let status = refused(
        asst_on_peer.dimissione.record_discharge(discharge).await,
        Code::FailedPrecondition,
    );
    assert!(status.message().contains("is cancelled"), "{status:?}");
    assert_eq!(app.log_length().await, before);

    // Illegal on the peer's copy ("received"), legal on the log ("assessed").
    let id = app.open_discharge("magenta").await;
    magenta_on_peer
        .dimissione
        .receive(receive(&id))
        .await
        .expect("received");
    let assessment = v1::RecordJointAssessmentRequest {
        command_id: command_id("assessment"),
        pathway_id: id.clone(),
        assessed_on: app.today(),
        participants: vec![participant("asst:705", v1::Role::Physician)],
    };
    asst.dimissione
        .record_joint_assessment(assessment)
        .await
        .expect("assessed");
    let plan = v1::AgreeCarePlanRequest {
        command_id: command_id("plan"),
        pathway_id: id.clone(),
        services: vec![v1::DischargeService::Sad as i32],
        case_manager: None,
    };
    let reply = magenta_on_peer
        .dimissione
        .agree_care_plan(plan)
        .await
        .expect("the plan follows the assessment the peer had not seen")
        .into_inner();
    assert_eq!(reply.status, "plan_agreed");
    assert_eq!(care_events(&asst.get(&id).await.unwrap()), 4);
    peer.stop().await;
    app.stop().await;
}
