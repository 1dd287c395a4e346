//! The projections `raccordo up` keeps, across a stop and a start: disposable, rebuilt from the
//! log to the same digest when one is deleted while raccordo is stopped.

use raccordo_api::v1;
use raccordo_domain::clock::Clock;
use raccordo_domain::ids::OrgId;
use raccordo_projections::ProjectionStore;
use raccordo_projector::{open_store, store_dir};
use raccordo_tests::{CF_BIANCHI, TestApp, command_id, referral};

/// The digest and the number of pathways of `party`'s projection in a stopped app's state folder.
fn digest_of(state: &std::path::Path, party: &str) -> (String, u64) {
    let party: OrgId = party.parse().unwrap();
    let (store, _) = open_store(state, &party).expect("the projection opens");
    (store.digest().unwrap(), store.pathway_count().unwrap())
}

#[tokio::test]
async fn a_projection_deleted_while_stopped_is_rebuilt_on_the_next_start_to_the_same_digest() {
    let app = TestApp::spawn().await;
    let mut asst = app.as_org("asst:705").await;
    let mut magenta = app.as_org("comune:magenta").await;
    let opened = asst
        .dimissione
        .request(raccordo_tests::discharge_request(
            raccordo_tests::CF_ROSSI,
            "magenta",
            &app.date_in(4),
        ))
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
    let mut cinisello = app.as_org("comune:cinisello-balsamo").await;
    cinisello
        .centro
        .send_referral(referral(
            CF_BIANCHI,
            "cinisello-balsamo",
            "officina-dei-legami",
        ))
        .await
        .unwrap();
    app.settle().await;
    let now = app.clock.now();
    let state = app.stop_keeping_state().await;

    let parties = [
        "comune:magenta",
        "asst:705",
        "ats:321",
        "centro:officina-dei-legami",
    ];
    let before: Vec<(String, u64)> = parties.iter().map(|p| digest_of(state.path(), p)).collect();
    assert_eq!(before[0].1, 1, "the Comune holds its one pathway");
    assert_eq!(before[2].1, 2, "the ATS holds both, in its aggregate view");

    // While raccordo is stopped, the Comune's projection is deleted.
    let magenta: OrgId = "comune:magenta".parse().unwrap();
    std::fs::remove_dir_all(store_dir(state.path(), &magenta)).unwrap();

    // The next start rebuilds it from the log; the others carry on as they were.
    let app = TestApp::spawn_in(state, now).await;
    app.settle().await;
    let mut reader = app.as_org("comune:magenta").await;
    let pathway = reader.get(&opened.pathway_id).await.expect("rebuilt");
    assert_eq!(pathway.status, "received");
    let state = app.stop_keeping_state().await;
    let after: Vec<(String, u64)> = parties.iter().map(|p| digest_of(state.path(), p)).collect();
    assert_eq!(after, before);
}
