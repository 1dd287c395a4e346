//! The router, end to end: every party's inbox holds each event of the pathways it takes part in,
//! exactly once, as its role may see it — also across a router that starts again, and past a
//! message in the log that is no event at all.

use std::collections::{BTreeMap, BTreeSet};

use async_nats::jetstream::message::StreamMessage;
use raccordo_api::v1;
use raccordo_domain::ids::{OrgId, PathwayId};
use raccordo_domain::pathway::Pathway;
use raccordo_domain::registry::Registry;
use raccordo_domain::routing::{self, NOT_IN_AGGREGATE};
use raccordo_eventlog::inbox::{INBOX_STREAM, PARTY, VIEW};
use raccordo_tests::{
    CF_BIANCHI, CF_ROSSI, CF_VERDI, TestApp, access_request, command_id, discharge_request, header,
    participant, referral,
};

/// Waits until the router has routed the last event of the log.
async fn routed(app: &TestApp) -> Vec<StreamMessage> {
    app.settle().await;
    app.inbox_messages().await
}

/// Two discharges and a PUA intake in two Ambiti, and a referral: the Comune of Corbetta is named
/// in a Magenta assessment, so it joins that pathway late.
async fn traffic(app: &TestApp) -> Vec<String> {
    let mut asst705 = app.as_org("asst:705").await;
    let mut asst707 = app.as_org("asst:707").await;
    let mut magenta = app.as_org("comune:magenta").await;
    let mut cinisello = app.as_org("comune:cinisello-balsamo").await;

    let magenta_dp = asst705
        .dimissione
        .request(discharge_request(CF_ROSSI, "magenta", &app.date_in(4)))
        .await
        .unwrap()
        .into_inner()
        .pathway_id;
    magenta
        .dimissione
        .receive(v1::ReceiveDischargeRequest {
            command_id: command_id("receive"),
            pathway_id: magenta_dp.clone(),
        })
        .await
        .unwrap();
    magenta
        .dimissione
        .record_joint_assessment(v1::RecordJointAssessmentRequest {
            command_id: command_id("assess"),
            pathway_id: magenta_dp.clone(),
            assessed_on: app.today(),
            participants: vec![
                participant("asst:705", v1::Role::Physician),
                participant("comune:corbetta", v1::Role::SocialWorker),
            ],
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
    let bresso_pua = asst707
        .pua
        .register_access(access_request(CF_BIANCHI, "bresso", "707"))
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
    vec![magenta_dp, cinisello_dp, bresso_pua, referral]
}

#[tokio::test]
async fn each_party_holds_each_event_of_its_pathways_exactly_once() {
    let app = TestApp::spawn().await;
    let pathways = traffic(&app).await;
    let inbox = routed(&app).await;
    let registry = Registry::embedded();

    // (event id, party) -> how many messages carry it.
    let mut held: BTreeMap<(String, String), usize> = BTreeMap::new();
    for message in &inbox {
        *held
            .entry((
                header(message, "ce-id").to_owned(),
                header(message, PARTY).to_owned(),
            ))
            .or_default() += 1;
    }
    assert!(
        held.values().all(|n| *n == 1),
        "an event reached a party twice: {held:?}"
    );

    let mut expected = BTreeSet::new();
    for id in &pathways {
        let id: PathwayId = id.parse().unwrap();
        let (state, history) = app.log.load(&id).await.unwrap();
        let state: Pathway = state.unwrap();
        for (party, _) in routing::parties(&state, registry, state.updated_at.date()) {
            for event in &history {
                expected.insert((event.event.id.to_string(), party.to_string()));
            }
        }
    }
    let held: BTreeSet<_> = held.into_keys().collect();
    assert_eq!(
        held, expected,
        "the inboxes hold exactly the parties' events"
    );
    assert!(
        expected.iter().any(|(_, party)| party == "comune:corbetta"),
        "Corbetta, named late, holds the Magenta pathway's history"
    );
    app.stop().await;
}

#[tokio::test]
async fn no_party_receives_another_territorys_events_and_the_ats_no_person() {
    let app = TestApp::spawn().await;
    let pathways = traffic(&app).await;
    let inbox = routed(&app).await;
    let cinisello: BTreeSet<&str> = pathways[1..].iter().map(String::as_str).collect();
    for message in &inbox {
        let party: OrgId = header(message, PARTY).parse().unwrap();
        let pathway = header(message, "ce-subject");
        assert!(
            message
                .subject
                .starts_with(&format!("raccordo.inbox.{}.", party.subject_token())),
            "{} on {}",
            party,
            message.subject
        );
        if party.to_string() == "comune:magenta" || party.to_string() == "asst:705" {
            assert!(!cinisello.contains(pathway), "{party} received {pathway}");
        }
        if party.to_string().starts_with("centro:") {
            assert!(pathway.starts_with("cpf-"), "a Centro received {pathway}");
        }
        let body = String::from_utf8_lossy(&message.payload);
        if party.to_string() == "ats:321" {
            assert_eq!(header(message, VIEW), "aggregate");
            for field in NOT_IN_AGGREGATE {
                assert!(
                    !body.contains(&format!("\"{field}\"")),
                    "the ATS got {field}: {body}"
                );
            }
            assert!(message.headers.get("ce-raccordooperator").is_none());
            assert!(
                !header(message, "ce-source").contains(':'),
                "the ATS got who acted"
            );
        } else {
            assert_eq!(header(message, VIEW), "full");
        }
        for cf in [CF_ROSSI, CF_VERDI, CF_BIANCHI] {
            assert!(
                !body.to_uppercase().contains(cf),
                "a fiscal code in an inbox"
            );
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_router_started_again_writes_nothing_twice_and_parks_what_is_no_event() {
    let app = TestApp::spawn().await;
    traffic(&app).await;
    let before = routed(&app).await.len();

    // A second router, with nothing in memory, resumes where the inbox says and adds nothing.
    let mut again = raccordo_router::Router::new(
        app.log.clone(),
        std::sync::Arc::new(Registry::embedded().clone()),
    )
    .await
    .unwrap();
    again.catch_up().await.unwrap();
    assert_eq!(app.messages_of(INBOX_STREAM).await.len(), before);

    // Something that is no raccordo event lands in the log: it is parked with its reason, and
    // the events after it are still routed.
    app.log
        .client()
        .publish(
            "raccordo.pathway.pua.pua-00000000000000000000",
            "not an event".into(),
        )
        .await
        .unwrap();
    app.log.client().flush().await.unwrap();
    let mut asst = app.as_org("asst:707").await;
    asst.pua
        .register_access(access_request(CF_VERDI, "cormano", "707"))
        .await
        .unwrap();
    let inbox = routed(&app).await;
    assert!(
        inbox.len() > before,
        "the event after the bad message was routed"
    );
    // The router parks it (and so does the reconciler, under its own name).
    let dead: Vec<_> = app
        .messages_of(raccordo_eventlog::DEAD_STREAM)
        .await
        .into_iter()
        .filter(|m| m.subject.as_str() == "raccordo.dead.router")
        .collect();
    assert_eq!(dead.len(), 1);
    assert!(
        header(&dead[0], raccordo_eventlog::DEAD_REASON).contains("ce-specversion"),
        "{:?}",
        dead[0].headers
    );
    app.stop().await;
}
