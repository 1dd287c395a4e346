//! Divergence: a party's projection that parts from the log is named by a finding on the pathway,
//! with the party and the first event where they part. The projection is tampered with on disk
//! while raccordo is stopped; on the next start its projector publishes what it holds, and the
//! reconciler recomputes what it should hold from the log.

use std::time::{Duration, Instant};

use raccordo_api::v1;
use raccordo_domain::clock::Clock;
use raccordo_domain::ids::OrgId;
use raccordo_projector::store_dir;
use raccordo_tests::{CF_ROSSI, TestApp, command_id, discharge_request, header};
use serde_json::Value;

/// The divergence findings in the log: (pathway, party, event) of each.
async fn divergences(app: &TestApp) -> Vec<(String, String, String)> {
    app.stream_messages()
        .await
        .iter()
        .filter(|m| header(m, "ce-type").ends_with(".finding.v1"))
        .filter_map(|m| {
            let body: Value = serde_json::from_slice(&m.payload).ok()?;
            (body["finding"] == "divergence").then(|| {
                (
                    header(m, "ce-subject").to_owned(),
                    body["party"].as_str().unwrap_or_default().to_owned(),
                    body["event_id"].as_str().unwrap_or_default().to_owned(),
                )
            })
        })
        .collect()
}

/// Rewrites the body of the history entry of `event_id` on `pathway` in `party`'s stopped
/// projection, as a faulty disk or a hand-made repair would.
fn tamper(state: &std::path::Path, party: &str, pathway: &str, event_id: &str) {
    let party: OrgId = party.parse().unwrap();
    let db = sled::open(store_dir(state, &party)).expect("the projection opens");
    let history = db.open_tree("history").expect("the history tree");
    let (key, mut entry) = history
        .scan_prefix(pathway.as_bytes())
        .map(|item| item.expect("readable"))
        .map(|(key, value)| (key, serde_json::from_slice::<Value>(&value).unwrap()))
        .find(|(_, entry)| entry["event_id"] == event_id)
        .expect("the party holds the event");
    entry["body"]["expected_discharge"] = "2031-01-01".into();
    history
        .insert(key, serde_json::to_vec(&entry).unwrap())
        .unwrap();
    db.flush().unwrap();
}

#[tokio::test]
async fn a_projection_tampered_with_is_named_at_the_changed_event_and_only_once() {
    let app = TestApp::spawn().await;
    let mut asst = app.as_org("asst:705").await;
    let mut magenta = app.as_org("comune:magenta").await;
    let opened = asst
        .dimissione
        .request(discharge_request(CF_ROSSI, "magenta", &app.date_in(6)))
        .await
        .unwrap()
        .into_inner();
    magenta
        .dimissione
        .receive(v1::ReceiveDischargeRequest {
            command_id: command_id("receive"),
            pathway_id: opened.pathway_id.clone(),
        })
        .await
        .unwrap();
    app.settle().await;
    let now = app.clock.now();
    let state = app.stop_keeping_state().await;
    tamper(
        state.path(),
        "comune:magenta",
        &opened.pathway_id,
        &opened.event_id,
    );

    let app = TestApp::spawn_in(state, now).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let found = loop {
        let found = divergences(&app).await;
        if !found.is_empty() || Instant::now() > deadline {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        found,
        [(
            opened.pathway_id.clone(),
            "comune:magenta".to_owned(),
            opened.event_id.clone()
        )],
        "one divergence, naming the tampered party, pathway and event"
    );

    // The finding reaches the Comune like any event: its projection publishes again, still
    // parting at the same event, and the reconciler records nothing more. The other parties
    // hold what they should: no divergence names them.
    app.settle().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(divergences(&app).await, found);
    let state = app.stop_keeping_state().await;
    let app = TestApp::spawn_in(state, now).await;
    app.settle().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        divergences(&app).await,
        found,
        "a restart finds it again, once"
    );
    app.stop().await;
}
