//! `Inbox.Subscribe`, end to end: a party's case software gets exactly its own inbox messages —
//! the ones stored in `RACCORDO_INBOX` on its subjects — in order, from any cursor, then live, and
//! never another party's.

use std::time::Duration;

use async_nats::jetstream::message::StreamMessage;
use raccordo_api::v1;
use raccordo_tests::{
    CF_BIANCHI, CF_ROSSI, CF_VERDI, Clients, TestApp, command_id, discharge_request, header,
    inbox_data_json, referral,
};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tonic::Streaming;

/// How long a subscription is given to show a message that must not come.
const QUIET: Duration = Duration::from_millis(400);

async fn subscribe(clients: &mut Clients, from_cursor: u64) -> Streaming<v1::InboxMessage> {
    clients
        .inbox
        .subscribe(v1::SubscribeRequest { from_cursor })
        .await
        .expect("the subscription starts")
        .into_inner()
}

/// The next `n` messages of a subscription.
async fn next(stream: &mut Streaming<v1::InboxMessage>, n: usize) -> Vec<v1::InboxMessage> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        let message = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} messages came within 10 s", got.len()))
            .expect("the subscription carries on")
            .expect("the subscription stays open");
        got.push(message);
    }
    got
}

/// Whether the subscription stays quiet for a while.
async fn quiet(stream: &mut Streaming<v1::InboxMessage>) -> bool {
    tokio::time::timeout(QUIET, stream.message()).await.is_err()
}

/// JSON numbers as a `google.protobuf.Struct` carries them: all floating point.
fn as_struct_numbers(value: Value) -> Value {
    match value {
        Value::Number(n) => n.as_f64().map_or(Value::Null, Value::from),
        Value::Array(items) => items.into_iter().map(as_struct_numbers).collect(),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k, as_struct_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Checks a streamed message against the stored one, field by field.
fn same(streamed: &v1::InboxMessage, stored: &StreamMessage) {
    let what = format!("cursor {}", stored.sequence);
    assert_eq!(streamed.cursor, stored.sequence, "{what}");
    assert_eq!(streamed.event_id, header(stored, "ce-id"), "{what}");
    assert_eq!(streamed.event_type, header(stored, "ce-type"), "{what}");
    assert_eq!(streamed.pathway_id, header(stored, "ce-subject"), "{what}");
    let kind = stored.subject.rsplit('.').next().unwrap();
    assert_eq!(streamed.kind, kind, "{what}");
    let time = |t: &str| OffsetDateTime::parse(t, &Rfc3339).unwrap();
    assert_eq!(
        time(&streamed.time),
        time(header(stored, "ce-time")),
        "{what}"
    );
    assert_eq!(streamed.source, header(stored, "ce-source"), "{what}");
    let operator = stored
        .headers
        .get("ce-raccordooperator")
        .map_or("", |v| v.as_str());
    assert_eq!(streamed.operator, operator, "{what}");
    assert_eq!(streamed.view, header(stored, "raccordo-view"), "{what}");
    assert_eq!(streamed.status, header(stored, "raccordo-status"), "{what}");
    assert_eq!(
        streamed.waiting_on.join(","),
        header(stored, "raccordo-waiting-on"),
        "{what}"
    );
    assert_eq!(streamed.ambito, header(stored, "raccordo-ambito"), "{what}");
    assert_eq!(
        streamed.source_sequence.to_string(),
        header(stored, "raccordo-source-sequence"),
        "{what}"
    );
    let body: Value = serde_json::from_slice(&stored.payload).unwrap();
    assert_eq!(inbox_data_json(streamed), as_struct_numbers(body), "{what}");
}

/// A Magenta discharge taken in by the Comune and acknowledged by it (so the hospital holds a
/// receipt), a Cinisello discharge and a Cinisello referral: the pathways opened.
async fn traffic(app: &TestApp) -> [String; 3] {
    let mut asst705 = app.as_org("asst:705").await;
    let mut asst707 = app.as_org("asst:707").await;
    let mut magenta = app.as_org("comune:magenta").await;
    let mut cinisello = app.as_org("comune:cinisello-balsamo").await;

    let requested = asst705
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
    let request_cursor = app
        .inbox_of("comune:magenta")
        .await
        .iter()
        .find(|m| header(m, "ce-id") == requested.event_id)
        .expect("the Comune holds the request")
        .sequence;
    magenta
        .inbox
        .acknowledge(v1::AcknowledgeRequest {
            cursor: request_cursor,
        })
        .await
        .unwrap();
    let cinisello_dp = asst707
        .dimissione
        .request(discharge_request(
            CF_VERDI,
            "cinisello-balsamo",
            &app.date_in(4),
        ))
        .await
        .unwrap()
        .into_inner()
        .pathway_id;
    let referral = cinisello
        .centro
        .send_referral(referral(
            CF_BIANCHI,
            "cinisello-balsamo",
            "officina-dei-legami",
        ))
        .await
        .unwrap()
        .into_inner()
        .pathway_id;
    app.settle().await;
    [requested.pathway_id, cinisello_dp, referral]
}

#[tokio::test]
async fn subscribing_from_zero_gets_exactly_the_callers_inbox_in_order() {
    let app = TestApp::spawn().await;
    traffic(&app).await;
    for party in [
        "asst:705",
        "comune:magenta",
        "comune:cinisello-balsamo",
        "centro:officina-dei-legami",
        "ats:321",
    ] {
        let stored = app.inbox_of(party).await;
        assert!(!stored.is_empty(), "{party} holds messages");
        let mut clients = app.as_org(party).await;
        let mut stream = subscribe(&mut clients, 0).await;
        let streamed = next(&mut stream, stored.len()).await;
        for (streamed, stored) in streamed.iter().zip(&stored) {
            same(streamed, stored);
        }
        assert!(quiet(&mut stream).await, "{party} got more than its inbox");
    }
    // The hospital's inbox holds the Comune's receipt of its request, as the router wrote it.
    let hospital = app.inbox_of("asst:705").await;
    assert!(
        hospital
            .iter()
            .any(|m| header(m, "ce-type") == "raccordo.dimissione_protetta.receipt.v1")
    );
    app.stop().await;
}

#[tokio::test]
async fn a_subscription_resumes_from_any_cursor() {
    let app = TestApp::spawn().await;
    traffic(&app).await;
    let stored = app.inbox_of("asst:705").await;
    assert!(stored.len() >= 3, "{} messages", stored.len());
    let mut hospital = app.as_org("asst:705").await;

    // From a message's own cursor (inclusive), and from a cursor between two of the hospital's
    // messages, which holds other parties' messages: both resume at the next message it holds.
    for from in [stored[1].sequence, stored[0].sequence + 1] {
        let mut stream = subscribe(&mut hospital, from).await;
        let streamed = next(&mut stream, stored.len() - 1).await;
        for (streamed, stored) in streamed.iter().zip(&stored[1..]) {
            same(streamed, stored);
        }
        assert!(quiet(&mut stream).await, "from {from}");
    }
    // Past the last message: nothing yet.
    let last = stored.last().unwrap().sequence;
    let mut stream = subscribe(&mut hospital, last + 1).await;
    assert!(quiet(&mut stream).await);
    app.stop().await;
}

#[tokio::test]
async fn a_subscription_delivers_new_messages_as_they_arrive() {
    let app = TestApp::spawn().await;
    let [magenta_dp, ..] = traffic(&app).await;
    let stored = app.inbox_of("asst:705").await;
    let mut hospital = app.as_org("asst:705").await;
    let mut stream = subscribe(&mut hospital, 0).await;
    next(&mut stream, stored.len()).await;

    // A pathway of another territory does not reach the Magenta hospital; its own pathway's next
    // event does, as soon as the router has written it.
    let mut asst707 = app.as_org("asst:707").await;
    asst707
        .dimissione
        .request(discharge_request(CF_BIANCHI, "bresso", &app.date_in(5)))
        .await
        .unwrap();
    let mut magenta = app.as_org("comune:magenta").await;
    let assessed = magenta
        .dimissione
        .record_joint_assessment(v1::RecordJointAssessmentRequest {
            command_id: command_id("assess"),
            pathway_id: magenta_dp.clone(),
            assessed_on: app.today(),
            participants: vec![raccordo_tests::participant(
                "comune:magenta",
                v1::Role::SocialWorker,
            )],
        })
        .await
        .unwrap()
        .into_inner();
    let live = next(&mut stream, 1).await.remove(0);
    assert_eq!(live.event_id, assessed.event_id);
    assert_eq!(live.pathway_id, magenta_dp);
    assert_eq!(
        live.event_type,
        "raccordo.dimissione_protetta.joint_assessment_recorded.v1"
    );
    assert_eq!(live.status, "assessed");
    assert_eq!(live.source, "comune:magenta");
    assert_eq!(live.view, "full");
    assert!(live.cursor > stored.last().unwrap().sequence);
    app.settle().await;
    same(&live, app.inbox_of("asst:705").await.last().unwrap());
    assert!(quiet(&mut stream).await);
    // The gateway stops with the subscription still open: the subscription ends, shutdown does not
    // wait for the client.
    app.stop().await;
    let ended = tokio::time::timeout(Duration::from_secs(10), stream.message()).await;
    assert!(
        !matches!(ended, Ok(Ok(Some(_)))),
        "no message after shutdown"
    );
}

#[tokio::test]
async fn a_party_never_receives_another_partys_messages() {
    let app = TestApp::spawn().await;
    let [magenta_dp, cinisello_dp, referral] = traffic(&app).await;
    let mut magenta = app.as_org("comune:magenta").await;
    let mut cinisello = app.as_org("comune:cinisello-balsamo").await;
    let mut ats = app.as_org("ats:321").await;
    let magenta_count = app.inbox_of("comune:magenta").await.len();
    let cinisello_count = app.inbox_of("comune:cinisello-balsamo").await.len();
    let ats_count = app.inbox_of("ats:321").await.len();
    let mut magenta_stream = subscribe(&mut magenta, 0).await;
    let mut cinisello_stream = subscribe(&mut cinisello, 0).await;
    let mut ats_stream = subscribe(&mut ats, 0).await;

    let got_magenta = next(&mut magenta_stream, magenta_count).await;
    let got_cinisello = next(&mut cinisello_stream, cinisello_count).await;
    let got_ats = next(&mut ats_stream, ats_count).await;
    assert!(quiet(&mut magenta_stream).await && quiet(&mut cinisello_stream).await);
    assert!(got_magenta.iter().all(|m| m.pathway_id == magenta_dp));
    assert!(
        got_cinisello
            .iter()
            .all(|m| m.pathway_id == cinisello_dp || m.pathway_id == referral)
    );
    let magenta_cursors: Vec<u64> = got_magenta.iter().map(|m| m.cursor).collect();
    assert!(
        got_cinisello
            .iter()
            .all(|m| !magenta_cursors.contains(&m.cursor))
    );
    // The ATS follows both Ambiti through the aggregate view only.
    for message in &got_ats {
        assert_eq!(message.view, "aggregate");
        assert!(message.operator.is_empty(), "{message:?}");
        assert!(!message.source.contains(':'), "{message:?}");
        let data = inbox_data_json(message);
        for field in raccordo_domain::routing::NOT_IN_AGGREGATE {
            assert!(data.get(field).is_none(), "{field} in {data}");
        }
        assert!(!message.event_type.ends_with(".receipt.v1"));
    }
    app.stop().await;
}
