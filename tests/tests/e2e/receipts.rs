//! Receipts, end to end: `Inbox.Acknowledge` records exactly one receipt event per (event, party)
//! in `RACCORDO` — acknowledged twice, through two gateways at once, or again after a restart and
//! past JetStream's duplicate window — and the router hands it to the sender of the acknowledged
//! event alone. A party acknowledges only its own inbox messages, and never a receipt.

use std::time::Duration;

use async_nats::jetstream::message::StreamMessage;
use raccordo_api::v1;
use raccordo_domain::clock::Clock;
use raccordo_gateway::REPLAYED_HEADER;
use raccordo_tests::{
    CF_ROSSI, TestApp, bad_fields, command_id, discharge_request, header, refused,
};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use tonic::{Code, Response, Status};

fn carrying<'a>(messages: &'a [StreamMessage], event_id: &str) -> Vec<&'a StreamMessage> {
    messages
        .iter()
        .filter(|m| header(m, "ce-id") == event_id)
        .collect()
}

/// The cursor of `party`'s inbox message carrying event `event_id`, once it is routed.
async fn cursor_of(app: &TestApp, party: &str, event_id: &str) -> u64 {
    let own = app.inbox_of(party).await;
    carrying(&own, event_id)[0].sequence
}

/// The receipts in the log, as stored.
async fn receipts(app: &TestApp) -> Vec<StreamMessage> {
    app.stream_messages()
        .await
        .into_iter()
        .filter(|m| header(m, "ce-type").ends_with(".receipt.v1"))
        .collect()
}

fn acknowledge(cursor: u64) -> v1::AcknowledgeRequest {
    v1::AcknowledgeRequest { cursor }
}

fn is_replayed<T>(response: &Response<T>) -> bool {
    response
        .metadata()
        .get(REPLAYED_HEADER)
        .is_some_and(|v| v.to_str().is_ok_and(|v| v == "true"))
}

/// The reply of a first acknowledgement: not marked as replayed.
fn first(result: Result<Response<v1::AcknowledgeReply>, Status>) -> v1::AcknowledgeReply {
    let response = result.expect("the acknowledgement is accepted");
    assert!(!is_replayed(&response), "a first reply is not a replay");
    response.into_inner()
}

/// The reply of a repeated acknowledgement: marked as replayed.
fn replayed(result: Result<Response<v1::AcknowledgeReply>, Status>) -> v1::AcknowledgeReply {
    let response = result.expect("the repeated acknowledgement is answered");
    assert!(
        is_replayed(&response),
        "a repeated acknowledgement's reply carries {REPLAYED_HEADER}: true"
    );
    response.into_inner()
}

/// A Magenta discharge requested by asst:705 and taken in by the Comune: the pathway, the
/// request's event id and the Comune's cursor of it.
async fn magenta_discharge(app: &TestApp) -> (String, String, u64) {
    let mut asst = app.as_org("asst:705").await;
    let mut magenta = app.as_org("comune:magenta").await;
    let requested = asst
        .dimissione
        .request(discharge_request(CF_ROSSI, "magenta", &app.date_in(4)))
        .await
        .unwrap()
        .into_inner();
    magenta
        .dimissione
        .receive(v1::ReceiveDischargeRequest {
            command_id: command_id("receive"),
            pathway_id: requested.pathway_id.clone(),
        })
        .await
        .unwrap();
    let cursor = cursor_of(app, "comune:magenta", &requested.event_id).await;
    (requested.pathway_id, requested.event_id, cursor)
}

#[tokio::test]
async fn an_acknowledgement_records_one_receipt_that_only_the_sender_receives() {
    let app = TestApp::spawn().await;
    let (pathway, request, cursor) = magenta_discharge(&app).await;
    let delivered = app
        .inbox_messages()
        .await
        .into_iter()
        .find(|m| m.sequence == cursor)
        .unwrap()
        .time;
    app.advance(time::Duration::hours(2));
    let mut magenta = app.as_org("comune:magenta").await;
    let reply = first(magenta.inbox.acknowledge(acknowledge(cursor)).await);

    assert_eq!(reply.pathway_id, pathway);
    assert_eq!(reply.acknowledged_event_id, request);
    assert_eq!(
        reply.acknowledged_at,
        app.clock.now().format(&Rfc3339).unwrap()
    );
    let stored = receipts(&app).await;
    assert_eq!(stored.len(), 1);
    let receipt = &stored[0];
    assert_eq!(receipt.sequence, reply.sequence);
    assert_eq!(header(receipt, "ce-id"), reply.receipt_event_id);
    assert_eq!(
        header(receipt, "ce-type"),
        "raccordo.dimissione_protetta.receipt.v1"
    );
    assert_eq!(header(receipt, "ce-source"), "comune:magenta");
    assert_eq!(header(receipt, "ce-subject"), pathway);
    assert_eq!(header(receipt, "ce-time"), reply.acknowledged_at);
    assert_eq!(
        header(receipt, "ce-raccordocommandid"),
        format!("receipt:{request}")
    );
    let body: Value = serde_json::from_slice(&receipt.payload).unwrap();
    assert_eq!(body["event_id"], request.as_str());
    assert_eq!(
        body["event_type"],
        "raccordo.dimissione_protetta.requested.v1"
    );
    assert_eq!(body["sender"], "asst:705");
    assert_eq!(body["inbox_cursor"], cursor);
    let delivered_at =
        time::OffsetDateTime::parse(body["delivered_at"].as_str().unwrap(), &Rfc3339);
    assert_eq!(delivered_at.unwrap(), delivered);

    // A later event of the pathway, routed to every party: once the hospital holds it, the router
    // has routed the receipt too, and the receipt went to the hospital alone.
    let mut asst = app.as_org("asst:705").await;
    let moved = asst
        .dimissione
        .change_expected_date(v1::ChangeExpectedDateRequest {
            command_id: command_id("date"),
            pathway_id: pathway.clone(),
            expected_discharge: app.date_in(6),
            reason: v1::DateChangeReason::AwaitingHomeServices as i32,
        })
        .await
        .unwrap()
        .into_inner();
    cursor_of(&app, "comune:magenta", &moved.event_id).await;
    cursor_of(&app, "asst:705", &moved.event_id).await;
    let holders: Vec<String> = app
        .inbox_messages()
        .await
        .iter()
        .filter(|m| header(m, "ce-id") == reply.receipt_event_id)
        .map(|m| header(m, "raccordo-party").to_owned())
        .collect();
    assert_eq!(holders, ["asst:705"], "the receipt reaches the sender once");
    app.stop().await;
}

#[tokio::test]
async fn acknowledging_again_appends_nothing_and_gets_the_same_reply() {
    let app = TestApp::spawn().await;
    let (_, _, cursor) = magenta_discharge(&app).await;
    let mut magenta = app.as_org("comune:magenta").await;
    let reply = first(magenta.inbox.acknowledge(acknowledge(cursor)).await);
    let length = app.log_length().await;

    app.advance(time::Duration::days(3));
    for _ in 0..2 {
        assert_eq!(
            replayed(magenta.inbox.acknowledge(acknowledge(cursor)).await),
            reply
        );
    }
    assert_eq!(app.log_length().await, length);
    assert_eq!(receipts(&app).await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn two_gateways_acknowledging_at_once_append_one_receipt() {
    let app = TestApp::spawn().await;
    let peer = app.spawn_peer().await;
    let (_, _, cursor) = magenta_discharge(&app).await;
    let mut here = app.as_org("comune:magenta").await;
    let mut there = peer.as_org("comune:magenta").await;

    let (a, b) = tokio::join!(
        here.inbox.acknowledge(acknowledge(cursor)),
        there.inbox.acknowledge(acknowledge(cursor)),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        [is_replayed(&a), is_replayed(&b)]
            .iter()
            .filter(|r| !**r)
            .count(),
        1,
        "exactly one of the two appended"
    );
    assert_eq!(a.into_inner(), b.into_inner());
    assert_eq!(receipts(&app).await.len(), 1);
    peer.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn acknowledging_after_a_restart_and_past_the_duplicate_window_appends_nothing() {
    let app = TestApp::spawn_with(Duration::from_secs(1)).await;
    let (_, _, cursor) = magenta_discharge(&app).await;
    let mut magenta = app.as_org("comune:magenta").await;
    let reply = first(magenta.inbox.acknowledge(acknowledge(cursor)).await);

    // JetStream forgets message ids in real time, not by the virtual clock.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    app.advance(time::Duration::days(90));

    // Gateways that never saw the acknowledgement, as after a restart, answer from the log alone.
    for _ in 0..2 {
        let restarted = app.spawn_peer().await;
        let mut magenta = restarted.as_org("comune:magenta").await;
        assert_eq!(
            replayed(magenta.inbox.acknowledge(acknowledge(cursor)).await),
            reply
        );
        restarted.stop().await;
    }
    assert_eq!(
        replayed(magenta.inbox.acknowledge(acknowledge(cursor)).await),
        reply
    );
    assert_eq!(receipts(&app).await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn another_partys_cursor_is_not_found_and_appends_nothing() {
    let app = TestApp::spawn().await;
    let (pathway, _, cursor) = magenta_discharge(&app).await;
    let length = app.log_length().await;
    let past_the_end = app.inbox_messages().await.len() as u64 + 1_000;

    let mut cinisello = app.as_org("comune:cinisello-balsamo").await;
    let theirs = refused(
        cinisello.inbox.acknowledge(acknowledge(cursor)).await,
        Code::NotFound,
    );
    let nothing = refused(
        cinisello.inbox.acknowledge(acknowledge(past_the_end)).await,
        Code::NotFound,
    );
    // Nothing tells another party's message from no message at all.
    assert_eq!(
        theirs.message(),
        nothing
            .message()
            .replace(&past_the_end.to_string(), &cursor.to_string())
    );
    for revealing in [pathway.as_str(), "magenta", "asst:705", "dimissione"] {
        assert!(
            !theirs.message().contains(revealing),
            "{}",
            theirs.message()
        );
    }
    assert_eq!(app.log_length().await, length);
    assert!(receipts(&app).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_receipt_is_never_acknowledged() {
    let app = TestApp::spawn().await;
    let (_, _, cursor) = magenta_discharge(&app).await;
    let mut magenta = app.as_org("comune:magenta").await;
    let reply = first(magenta.inbox.acknowledge(acknowledge(cursor)).await);
    let receipt_cursor = cursor_of(&app, "asst:705", &reply.receipt_event_id).await;
    let length = app.log_length().await;

    let mut asst = app.as_org("asst:705").await;
    let status = refused(
        asst.inbox.acknowledge(acknowledge(receipt_cursor)).await,
        Code::FailedPrecondition,
    );
    assert!(
        status.message().contains("receipts are never acknowledged"),
        "{}",
        status.message()
    );
    assert_eq!(app.log_length().await, length);
    app.stop().await;
}

#[tokio::test]
async fn a_cursor_of_zero_is_invalid_and_an_ats_acknowledges_nothing() {
    let app = TestApp::spawn().await;
    let (_, request, _) = magenta_discharge(&app).await;
    let length = app.log_length().await;

    let mut magenta = app.as_org("comune:magenta").await;
    let status = refused(
        magenta.inbox.acknowledge(acknowledge(0)).await,
        Code::InvalidArgument,
    );
    assert_eq!(bad_fields(&status), ["cursor"]);

    let ats_cursor = cursor_of(&app, "ats:321", &request).await;
    let mut ats = app.as_org("ats:321").await;
    refused(
        ats.inbox.acknowledge(acknowledge(ats_cursor)).await,
        Code::PermissionDenied,
    );
    assert_eq!(app.log_length().await, length);
    app.stop().await;
}
