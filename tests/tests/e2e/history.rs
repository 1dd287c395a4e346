//! Replaying a pathway's history: timelines per viewer and purpose, each replay in the audit
//! trail (`RACCORDO_AUDIT`).

use raccordo_domain::clock::Clock;
use raccordo_domain::pathway::Actor;
use raccordo_domain::timeline::{Purpose, Replayed, Via};
use raccordo_eventlog::AuditFilter;
use raccordo_tests::TestApp;

fn actor(org: &str) -> Actor {
    Actor {
        org: org.parse().expect("an organisation id"),
        operator: "operatore.audit".parse().expect("an operator id"),
    }
}

#[tokio::test]
async fn the_audit_trail_is_read_back_by_pathway_and_by_viewer() {
    let app = TestApp::spawn().await;
    let audit = app.log.audit().await.expect("the audit trail is set up");
    let one = app.open_discharge("magenta").await;
    let two = app.open_discharge("corbetta").await;
    let at = app.clock.now();
    let record = |org: &str, pathway: &str, purpose| Replayed {
        pathway: pathway.parse().expect("a pathway id"),
        viewer: actor(org).org,
        operator: actor(org).operator,
        purpose,
        via: Via::Grpc,
        at,
        refused: None,
        events_shown: 1,
    };
    let written = [
        record("asst:705", &one, Purpose::Care),
        record("comune:magenta", &one, Purpose::Audit),
        record("asst:705", &two, Purpose::Care),
    ];
    for r in &written {
        audit.record(r).await.expect("recorded");
    }
    let of_one = audit
        .read(&AuditFilter {
            pathway: Some(one.parse().unwrap()),
            ..AuditFilter::default()
        })
        .await
        .expect("read by pathway");
    assert_eq!(
        of_one
            .iter()
            .map(|e| e.replayed.clone())
            .collect::<Vec<_>>(),
        written[..2]
    );
    let of_asst = audit
        .read(&AuditFilter {
            viewer: Some("asst:705".parse().unwrap()),
            ..AuditFilter::default()
        })
        .await
        .expect("read by viewer");
    assert_eq!(
        of_asst
            .iter()
            .map(|e| e.replayed.clone())
            .collect::<Vec<_>>(),
        [written[0].clone(), written[2].clone()]
    );
    assert_eq!(audit.read(&AuditFilter::default()).await.unwrap().len(), 3);
    app.stop().await;
}
