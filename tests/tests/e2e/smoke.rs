//! A first request through the whole stack.

use raccordo_api::v1;
use raccordo_tests::TestApp;

#[tokio::test]
async fn a_discharge_request_is_appended_and_read_back() {
    let app = TestApp::spawn().await;
    let mut asst = app.as_org("asst:705").await;
    let reply = asst
        .dimissione
        .request(v1::RequestDischargeRequest {
            command_id: "smoke-1".into(),
            codice_fiscale: "RSSMRA85T10A562S".into(),
            ward: "Medicina generale - Ospedale di Magenta".into(),
            residence: "magenta".into(),
            expected_discharge: "2026-03-06".into(),
            needs: vec![v1::DischargeService::Sad as i32],
            lives_alone: true,
            no_caregiver: true,
        })
        .await
        .expect("the request is accepted")
        .into_inner();
    assert_eq!(reply.status, "requested");
    assert_eq!(reply.sequence, 1);
    let pathway = asst
        .pathways
        .get(v1::GetPathwayRequest { pathway_id: reply.pathway_id.clone() })
        .await
        .expect("the pathway is readable")
        .into_inner();
    assert_eq!(pathway.history.len(), 1);
    assert_eq!(pathway.history[0].event_type, "raccordo.dimissione_protetta.requested.v1");
    app.stop().await;
}
