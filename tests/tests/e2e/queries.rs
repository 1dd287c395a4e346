//! `Pathways.Get` and `Pathways.List`, answered from the caller's own projection: a caller reads
//! its own write at once; it lists exactly the pathways routed to it, filtered, newest first and
//! page by page, and never another party's; an ATS sees only the aggregate view of its Ambiti;
//! and a full view rebuilds the state the domain holds.
//!
//! What each party should hold is worked out here by hand from the routing rule
//! (`services/domain/src/routing.rs`) and the domain's default owners of each step, not asked of
//! the router, so that a routing or projection mistake shows as a difference.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use async_nats::jetstream::message::StreamMessage;
use raccordo_api::v1;
use raccordo_domain::clock::Clock;
use raccordo_domain::ids::PathwayId;
use raccordo_domain::pathway::Pathway;
use raccordo_domain::routing::NOT_IN_AGGREGATE;
use raccordo_eventlog::inbox::{PARTY, SOURCE_SEQUENCE};
use raccordo_tests::{
    CF_BIANCHI, CF_ROSSI, CF_VERDI, Clients, ORGS, TestApp, access_request, bad_descriptions,
    bad_fields, command_id, data_json, discharge_request, participant, referral, refused,
    state_json,
};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use tonic::{Code, Response, Status};

const DP: &str = "dimissione_protetta";
const PUA: &str = "pua";
const CF: &str = "centro_famiglia";
const MAGENTINO: &str = "50032";
const CINISELLO: &str = "50069";

fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap()
}

/// The reply to a command that must be accepted.
fn accepted(result: Result<Response<v1::CommandReply>, Status>, what: &str) -> v1::CommandReply {
    result
        .unwrap_or_else(|e| panic!("{what} was refused: {e:?}"))
        .into_inner()
}

fn ids(summaries: &[v1::PathwaySummary]) -> Vec<String> {
    summaries.iter().map(|s| s.id.clone()).collect()
}

/// The ids `party` lists with `filter`, once the projections have settled.
async fn listed(app: &TestApp, party: &str, filter: Filter) -> Vec<String> {
    let page = app
        .as_org(party)
        .await
        .list(filter.request())
        .await
        .unwrap_or_else(|e| panic!("{party} lists with {filter:?}: {e:?}"));
    ids(&page.pathways)
}

/// `Pathways.Get` straight away, without waiting for the projections to settle.
async fn get_at(
    clients: &mut Clients,
    pathway_id: &str,
    min_sequence: u64,
) -> Result<v1::Pathway, Status> {
    let request = v1::GetPathwayRequest {
        pathway_id: pathway_id.to_owned(),
        min_sequence,
    };
    clients
        .pathways
        .get(request)
        .await
        .map(Response::into_inner)
}

/// What `call` answered, and how long it took.
async fn timed<T>(call: impl Future<Output = T>) -> (T, std::time::Duration) {
    let started = Instant::now();
    let answer = call.await;
    (answer, started.elapsed())
}

/// The pathway as the domain rebuilds it from the log.
async fn in_the_log(app: &TestApp, id: &str) -> Pathway {
    let id: PathwayId = id.parse().unwrap();
    let (pathway, _) = app.log.load(&id).await.expect("the log answers");
    pathway.unwrap_or_else(|| panic!("{id} is in the log"))
}

fn header<'a>(message: &'a StreamMessage, name: &str) -> &'a str {
    message
        .headers
        .get(name)
        .map(|v| v.as_str())
        .unwrap_or_else(|| panic!("{name} missing on {}", message.subject))
}

/// The messages of `party`'s inbox about `pathway`, in log order, once everything is routed.
async fn received(app: &TestApp, party: &str, pathway: &str) -> Vec<StreamMessage> {
    app.settle().await;
    let mut own: Vec<StreamMessage> = app
        .inbox_messages()
        .await
        .into_iter()
        .filter(|m| header(m, PARTY) == party && header(m, "ce-subject") == pathway)
        .collect();
    own.sort_by_key(|m| header(m, SOURCE_SEQUENCE).parse::<u64>().unwrap());
    own
}

// ---- a scene of pathways ----------------------------------------------------------------------

/// One pathway as the test expects raccordo to hold it.
#[derive(Debug)]
struct Expected {
    id: String,
    kind: &'static str,
    ambito: &'static str,
    status: String,
    updated_at: OffsetDateTime,
    /// The parties it is routed to, by the routing rule.
    holders: &'static [&'static str],
    /// Whom its next step waits on, by the domain's default owners of each step.
    waiting_on: Vec<&'static str>,
    waiting_since: OffsetDateTime,
}

/// Which pathways a list should return, as a test filters its own expectations.
#[derive(Debug, Clone, Copy, Default)]
struct Filter {
    kind: &'static str,
    status: &'static str,
    ambito: &'static str,
    waiting_on_me: bool,
}

impl Filter {
    fn request(self) -> v1::ListPathwaysRequest {
        v1::ListPathwaysRequest {
            kind: self.kind.into(),
            status: self.status.into(),
            ambito: self.ambito.into(),
            waiting_on_me: self.waiting_on_me,
            ..v1::ListPathwaysRequest::default()
        }
    }

    fn keeps(self, pathway: &Expected, party: &str) -> bool {
        (self.kind.is_empty() || pathway.kind == self.kind)
            && (self.status.is_empty() || pathway.status == self.status)
            && (self.ambito.is_empty() || pathway.ambito == self.ambito)
            && (!self.waiting_on_me || pathway.waiting_on.contains(&party))
    }
}

/// Pathways of every kind in both Ambiti, opened and moved on through gRPC one virtual minute
/// apart, so that newest-first is one order.
struct Scene<'a> {
    app: &'a TestApp,
    pathways: BTreeMap<&'static str, Expected>,
}

impl<'a> Scene<'a> {
    /// Records the command that opened pathway `name`, then lets a minute pass.
    fn opened(
        &mut self,
        name: &'static str,
        (kind, ambito): (&'static str, &'static str),
        holders: &'static [&'static str],
        waiting_on: &[&'static str],
        reply: v1::CommandReply,
    ) {
        let now = self.app.clock.now();
        let expected = Expected {
            id: reply.pathway_id,
            kind,
            ambito,
            status: reply.status,
            updated_at: now,
            holders,
            waiting_on: waiting_on.to_vec(),
            waiting_since: now,
        };
        assert!(self.pathways.insert(name, expected).is_none());
        self.app.advance(Duration::minutes(1));
    }

    /// Records a command that moved pathway `name` on, then lets a minute pass.
    fn moved(&mut self, name: &str, waiting_on: &[&'static str], reply: v1::CommandReply) {
        let now = self.app.clock.now();
        let pathway = self.pathways.get_mut(name).unwrap();
        assert_eq!(reply.pathway_id, pathway.id);
        pathway.status = reply.status;
        pathway.updated_at = now;
        if pathway.waiting_on != waiting_on {
            pathway.waiting_on = waiting_on.to_vec();
            pathway.waiting_since = now;
        }
        self.app.advance(Duration::minutes(1));
    }

    fn id(&self, name: &str) -> String {
        self.pathways[name].id.clone()
    }

    fn by_id(&self, id: &str) -> &Expected {
        self.pathways
            .values()
            .find(|p| p.id == id)
            .unwrap_or_else(|| panic!("{id} is not a pathway of the scene"))
    }

    /// The ids `party` should list with `filter`, newest first (last update, then id).
    fn expected(&self, party: &str, filter: Filter) -> Vec<String> {
        let mut held: Vec<&Expected> = self
            .pathways
            .values()
            .filter(|p| p.holders.contains(&party) && filter.keeps(p, party))
            .collect();
        held.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(a.id.cmp(&b.id)));
        held.iter().map(|p| p.id.clone()).collect()
    }

    /// Lists as `party` with `filter`, checks the page against the expected ids and every line
    /// against what the test expects and the domain holds, and returns it.
    async fn check_list(&self, party: &str, filter: Filter) -> Vec<v1::PathwaySummary> {
        let mut clients = self.app.as_org(party).await;
        let page = clients
            .list(filter.request())
            .await
            .unwrap_or_else(|e| panic!("{party} lists with {filter:?}: {e:?}"));
        assert_eq!(
            ids(&page.pathways),
            self.expected(party, filter),
            "{party} lists with {filter:?}"
        );
        assert!(page.next_page_token.is_empty(), "one page holds them all");
        for line in &page.pathways {
            let expected = self.by_id(&line.id);
            assert_eq!(line.kind, expected.kind, "{party}: {line:?}");
            assert_eq!(line.status, expected.status, "{party}: {line:?}");
            assert_eq!(line.ambito, expected.ambito, "{party}: {line:?}");
            assert_eq!(line.updated_at, rfc3339(expected.updated_at));
            assert_eq!(line.waiting_on, expected.waiting_on, "{party}: {line:?}");
            assert_eq!(line.waiting_since, rfc3339(expected.waiting_since));

            // Every party holds these pathways from their first event: its summary is the domain's.
            let domain = in_the_log(self.app, &line.id).await;
            let waiting: Vec<String> = domain
                .state
                .waiting_on()
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(line.waiting_on, waiting, "the domain's owners of the step");
            assert_eq!(line.status, domain.state.status());
            assert_eq!(line.events, domain.version);
            assert_eq!(line.last_sequence, domain.last_sequence);
            assert_eq!(line.opened_at, rfc3339(domain.opened_at));
            assert_eq!(line.updated_at, rfc3339(domain.updated_at));
        }
        page.pathways
    }
}

/// Seven pathways, the three kinds in both Ambiti, each still at its first step.
async fn open_scene(app: &TestApp) -> Scene<'_> {
    let mut scene = Scene {
        app,
        pathways: BTreeMap::new(),
    };
    let mut asst_705 = app.as_org("asst:705").await;
    let mut asst_707 = app.as_org("asst:707").await;
    let mut magenta = app.as_org("comune:magenta").await;
    let mut cinisello = app.as_org("comune:cinisello-balsamo").await;

    // A discharge goes to the requesting ASST, the ASST of the Ambito, the Comune of residence,
    // the bodies delivering any service there (ASCSP for Magenta and Corbetta, not a test party;
    // IPIS for Cinisello Balsamo and Bresso) and the ATS.
    let request = discharge_request(CF_ROSSI, "magenta", &app.date_in(4));
    let reply = accepted(asst_705.dimissione.request(request).await, "dp magenta");
    scene.opened(
        "dp_magenta",
        (DP, MAGENTINO),
        &["asst:705", "comune:magenta", "ats:321"],
        &["comune:magenta"],
        reply,
    );
    let request = discharge_request(CF_VERDI, "corbetta", &app.date_in(5));
    let reply = accepted(asst_705.dimissione.request(request).await, "dp corbetta");
    scene.opened(
        "dp_corbetta",
        (DP, MAGENTINO),
        &["asst:705", "comune:corbetta", "ats:321"],
        &["comune:corbetta"],
        reply,
    );
    let request = discharge_request(CF_BIANCHI, "cinisello-balsamo", &app.date_in(3));
    let reply = accepted(asst_707.dimissione.request(request).await, "dp cinisello");
    scene.opened(
        "dp_cinisello",
        (DP, CINISELLO),
        &[
            "asst:707",
            "comune:cinisello-balsamo",
            "ente:ipis",
            "ats:321",
        ],
        &["comune:cinisello-balsamo"],
        reply,
    );
    // A PUA intake goes to the PUA's ASST, the Comune, its delivering bodies and the ATS.
    let access = access_request(CF_ROSSI, "corbetta", "705");
    let reply = accepted(asst_705.pua.register_access(access).await, "pua corbetta");
    scene.opened(
        "pua_corbetta",
        (PUA, MAGENTINO),
        &["asst:705", "comune:corbetta", "ats:321"],
        &["asst:705"],
        reply,
    );
    let access = access_request(CF_VERDI, "bresso", "707");
    let reply = accepted(asst_707.pua.register_access(access).await, "pua bresso");
    scene.opened(
        "pua_bresso",
        (PUA, CINISELLO),
        &["asst:707", "comune:bresso", "ente:ipis", "ats:321"],
        &["asst:707"],
        reply,
    );
    // A referral goes to the Centro, the referring Comune (here also the Comune of residence),
    // the bodies supporting families there and the ATS.
    let sent = referral(CF_BIANCHI, "cinisello-balsamo", "officina-dei-legami");
    let reply = accepted(cinisello.centro.send_referral(sent).await, "cf cinisello");
    scene.opened(
        "cf_cinisello",
        (CF, CINISELLO),
        &[
            "centro:officina-dei-legami",
            "comune:cinisello-balsamo",
            "ente:ipis",
            "ats:321",
        ],
        &["centro:officina-dei-legami"],
        reply,
    );
    let sent = referral(CF_VERDI, "magenta", "spazio-famiglia-qui-si-puo");
    let reply = accepted(magenta.centro.send_referral(sent).await, "cf magenta");
    scene.opened(
        "cf_magenta",
        (CF, MAGENTINO),
        &[
            "centro:spazio-famiglia-qui-si-puo",
            "comune:magenta",
            "ats:321",
        ],
        &["centro:spazio-famiglia-qui-si-puo"],
        reply,
    );
    scene
}

/// Three pathways of the scene one step on: the Magenta discharge received, the Bresso intake
/// triaged as complex, the Cinisello referral accepted.
async fn move_scene_on(scene: &mut Scene<'_>) {
    let app = scene.app;
    let mut magenta = app.as_org("comune:magenta").await;
    let mut asst_707 = app.as_org("asst:707").await;
    let mut officina = app.as_org("centro:officina-dei-legami").await;

    let receive = v1::ReceiveDischargeRequest {
        command_id: command_id("receive"),
        pathway_id: scene.id("dp_magenta"),
    };
    let reply = accepted(magenta.dimissione.receive(receive).await, "receive");
    scene.moved("dp_magenta", &["asst:705", "comune:magenta"], reply);

    let triage = v1::RecordPreliminaryAssessmentRequest {
        command_id: command_id("triage"),
        pathway_id: scene.id("pua_bresso"),
        triage: v1::Triage::Complex as i32,
    };
    let reply = accepted(
        asst_707.pua.record_preliminary_assessment(triage).await,
        "triage",
    );
    scene.moved("pua_bresso", &["asst:707"], reply);

    let accept = v1::AcceptReferralRequest {
        command_id: command_id("accept"),
        pathway_id: scene.id("cf_cinisello"),
    };
    let reply = accepted(officina.centro.accept(accept).await, "accept");
    scene.moved("cf_cinisello", &["centro:officina-dei-legami"], reply);
}

// ---- read your own write ----------------------------------------------------------------------

#[tokio::test]
async fn a_caller_reads_its_own_write_with_min_sequence_and_gives_up_after_5_s() {
    let app = TestApp::spawn().await;
    let mut asst = app.as_org("asst:705").await;
    let mut magenta = app.as_org("comune:magenta").await;

    // Each read follows its command at once, with no settling: `min_sequence` does the waiting.
    let mut pathways = Vec::new();
    for (cf, residence) in [
        (CF_ROSSI, "magenta"),
        (CF_VERDI, "magenta"),
        (CF_BIANCHI, "magenta"),
    ] {
        let request = discharge_request(cf, residence, &app.date_in(4));
        let reply = accepted(asst.dimissione.request(request).await, "request");
        let own = get_at(&mut asst, &reply.pathway_id, reply.sequence)
            .await
            .expect("the ASST reads its own request");
        assert_eq!(own.status, "requested");
        assert_eq!(own.version, 1);
        assert_eq!(own.last_sequence, reply.sequence);
        assert_eq!(own.history[0].event_id, reply.event_id);
        // Another party of the pathway reads it at that sequence too.
        let theirs = get_at(&mut magenta, &reply.pathway_id, reply.sequence)
            .await
            .expect("the Comune reads the request");
        assert_eq!(theirs.last_sequence, reply.sequence);
        pathways.push(reply.pathway_id);
        app.advance(Duration::minutes(1));
    }
    for id in &pathways {
        let receive = v1::ReceiveDischargeRequest {
            command_id: command_id("receive"),
            pathway_id: id.clone(),
        };
        let reply = accepted(magenta.dimissione.receive(receive).await, "receive");
        let own = get_at(&mut magenta, id, reply.sequence)
            .await
            .expect("the Comune reads its own step");
        assert_eq!(own.status, "received");
        assert_eq!(own.version, 2);
        assert_eq!(own.last_sequence, reply.sequence);
        assert_eq!(own.history.last().unwrap().event_id, reply.event_id);
        let theirs = get_at(&mut asst, id, reply.sequence)
            .await
            .expect("the ASST reads the Comune's step");
        assert_eq!(theirs.status, "received");
    }

    // The slow answers, side by side so that the test waits the full time once.
    let held = pathways[0].clone();
    let beyond = app.log_length().await + 1000;
    let mut cormano = app.as_org("comune:cormano").await;
    let ((unreached, waited), (stranger, _), (nowhere, _)) = tokio::join!(
        // A pathway the caller holds, at a sequence the log is far from.
        timed(get_at(&mut asst, &held, beyond)),
        // A pathway that exists, but not for the caller.
        timed(get_at(&mut cormano, &held, beyond)),
        // A pathway that does not exist.
        timed(get_at(&mut magenta, "dp-00000000000000000000", beyond)),
    );
    let status = refused(unreached, Code::Unavailable);
    assert!(
        waited >= std::time::Duration::from_millis(4900),
        "UNAVAILABLE only after the wait, not after {waited:?}"
    );
    assert!(
        waited < std::time::Duration::from_secs(8),
        "the wait is about 5 s, not {waited:?}"
    );
    assert!(status.message().contains(&beyond.to_string()), "{status:?}");
    let status = refused(stranger, Code::NotFound);
    assert!(!status.message().contains("received"), "{status:?}");
    refused(nowhere, Code::NotFound);
    app.stop().await;
}

// ---- list filters ------------------------------------------------------------------------------

#[tokio::test]
async fn lists_filter_by_kind_status_ambito_and_worklist_newest_first() {
    let app = TestApp::spawn().await;
    let mut scene = open_scene(&app).await;

    let worklist = Filter {
        waiting_on_me: true,
        ..Filter::default()
    };
    // A discharge just requested waits on the Comune of residence, not on the hospital.
    let magenta_list = scene.check_list("comune:magenta", worklist).await;
    assert_eq!(ids(&magenta_list), [scene.id("dp_magenta")]);
    assert_eq!(magenta_list[0].waiting_on, ["comune:magenta"]);
    let asst_list = scene.check_list("asst:705", worklist).await;
    assert_eq!(
        ids(&asst_list),
        [scene.id("pua_corbetta")],
        "the ASST's worklist holds its PUA intake, not the discharge it asked for"
    );

    move_scene_on(&mut scene).await;

    // Once the Comune received it, the discharge waits on both sides.
    let asst_list = scene.check_list("asst:705", worklist).await;
    assert_eq!(
        ids(&asst_list),
        [scene.id("dp_magenta"), scene.id("pua_corbetta")]
    );
    assert_eq!(
        asst_list[0].waiting_on,
        ["asst:705", "comune:magenta"],
        "{asst_list:?}"
    );
    let magenta_list = scene.check_list("comune:magenta", worklist).await;
    assert_eq!(ids(&magenta_list), [scene.id("dp_magenta")]);
    // Waiting on the same party as before the step: still waiting since the first.
    let bresso = scene.check_list("asst:707", worklist).await;
    assert_eq!(ids(&bresso), [scene.id("pua_bresso")]);
    assert_eq!(bresso[0].status, "complex");
    assert_ne!(bresso[0].waiting_since, bresso[0].updated_at);
    assert_eq!(bresso[0].waiting_since, bresso[0].opened_at);

    let filters = [
        Filter::default(),
        worklist,
        Filter {
            kind: DP,
            ..Filter::default()
        },
        Filter {
            kind: PUA,
            ..Filter::default()
        },
        Filter {
            kind: CF,
            ..Filter::default()
        },
        Filter {
            status: "requested",
            ..Filter::default()
        },
        Filter {
            status: "received",
            ..Filter::default()
        },
        Filter {
            kind: PUA,
            status: "complex",
            ..Filter::default()
        },
        Filter {
            kind: CF,
            status: "sent",
            ..Filter::default()
        },
        Filter {
            ambito: MAGENTINO,
            ..Filter::default()
        },
        Filter {
            ambito: CINISELLO,
            ..Filter::default()
        },
        Filter {
            kind: DP,
            ambito: CINISELLO,
            ..Filter::default()
        },
        Filter {
            kind: DP,
            status: "requested",
            ambito: MAGENTINO,
            ..Filter::default()
        },
        // An Ambito of the same ATS with no pathway here.
        Filter {
            ambito: "50007",
            ..Filter::default()
        },
        Filter {
            ambito: MAGENTINO,
            waiting_on_me: true,
            ..Filter::default()
        },
    ];
    for party in ORGS {
        for filter in filters {
            scene.check_list(party, filter).await;
        }
    }

    // A few of those by name, so that the scene cannot pass by holding nothing.
    let ats = "ats:321";
    let pua = Filter {
        kind: PUA,
        ..Filter::default()
    };
    assert_eq!(
        listed(&app, ats, pua).await,
        [scene.id("pua_bresso"), scene.id("pua_corbetta")]
    );
    let requested = Filter {
        status: "requested",
        ..Filter::default()
    };
    assert_eq!(
        listed(&app, ats, requested).await,
        [scene.id("dp_cinisello"), scene.id("dp_corbetta")]
    );
    let cinisello = Filter {
        ambito: CINISELLO,
        ..Filter::default()
    };
    let cinisello_ids = [
        scene.id("cf_cinisello"),
        scene.id("pua_bresso"),
        scene.id("dp_cinisello"),
    ];
    assert_eq!(listed(&app, ats, cinisello).await, cinisello_ids);
    assert_eq!(
        listed(&app, "ente:ipis", Filter::default()).await,
        cinisello_ids
    );
    assert!(listed(&app, ats, worklist).await.is_empty());
    app.stop().await;
}

// ---- isolation ---------------------------------------------------------------------------------

/// The event body a full view holds, as the aggregate view must show it.
fn aggregated(mut body: Value) -> Value {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(fields) => {
                fields.retain(|name, _| !NOT_IN_AGGREGATE.contains(&name.as_str()));
                fields.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut body);
    body
}

/// Every key at any depth of `value`.
fn keys(value: &Value, into: &mut BTreeSet<String>) {
    match value {
        Value::Object(fields) => {
            for (name, inner) in fields {
                into.insert(name.clone());
                keys(inner, into);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| keys(v, into)),
        _ => {}
    }
}

#[tokio::test]
async fn a_party_reads_only_its_own_pathways_and_an_ats_only_its_aggregate_view() {
    let app = TestApp::spawn().await;
    let mut scene = open_scene(&app).await;
    move_scene_on(&mut scene).await;

    // Every party, every pathway: read if routed to it, and otherwise not even known to exist.
    for party in ORGS {
        let mut clients = app.as_org(party).await;
        let all = clients
            .list(v1::ListPathwaysRequest::default())
            .await
            .unwrap();
        assert_eq!(
            ids(&all.pathways),
            scene.expected(party, Filter::default()),
            "{party} lists exactly its pathways"
        );
        for (name, pathway) in &scene.pathways {
            let read = clients.get(&pathway.id).await;
            if pathway.holders.contains(party) {
                let read = read.unwrap_or_else(|e| panic!("{party} reads {name}: {e:?}"));
                assert_eq!(read.id, pathway.id);
                assert_eq!(read.status, pathway.status);
                let view = if party.starts_with("ats:") {
                    "aggregate"
                } else {
                    "full"
                };
                assert_eq!(read.view, view, "{party} reads {name}");
            } else {
                let status = refused(read, Code::NotFound);
                assert!(
                    !status.message().contains(&pathway.status),
                    "{party} learns the status of {name}: {status:?}"
                );
            }
        }
    }
    // Across Ambiti, said plainly: no party of one Ambito lists a pathway of the other, and
    // Cormano, where no pathway here lives, holds nothing at all.
    let of_ambito = |ambito: &str| -> BTreeSet<String> {
        scene
            .pathways
            .values()
            .filter(|p| p.ambito == ambito)
            .map(|p| p.id.clone())
            .collect()
    };
    let sides = [
        (
            CINISELLO,
            &[
                "asst:707",
                "comune:cinisello-balsamo",
                "comune:bresso",
                "ente:ipis",
                "centro:officina-dei-legami",
            ][..],
        ),
        (
            MAGENTINO,
            &[
                "asst:705",
                "comune:magenta",
                "comune:corbetta",
                "centro:spazio-famiglia-qui-si-puo",
            ][..],
        ),
    ];
    for (ambito, parties) in sides {
        let other = if ambito == MAGENTINO {
            CINISELLO
        } else {
            MAGENTINO
        };
        let strangers = of_ambito(other);
        for party in parties {
            let all = listed(&app, party, Filter::default()).await;
            assert!(!all.is_empty(), "{party} holds its own Ambito's pathways");
            assert!(
                all.iter().all(|id| !strangers.contains(id)),
                "{party} of {ambito} lists a pathway of {other}: {all:?}"
            );
        }
    }
    assert!(
        listed(&app, "comune:cormano", Filter::default())
            .await
            .is_empty()
    );

    // The ATS of both Ambiti sees every pathway, without a person, a ward or who acted; a
    // full view of the same pathway shows what was left out.
    let mut ats = app.as_org("ats:321").await;
    for (name, pathway) in &scene.pathways {
        let aggregate = ats.get(&pathway.id).await.unwrap();
        assert_eq!(aggregate.view, "aggregate");
        assert!(aggregate.state.is_none(), "no state from an aggregate view");
        assert_eq!(aggregate.ambito, pathway.ambito);
        let full_party = pathway.holders[0];
        let full = app.as_org(full_party).await.get(&pathway.id).await.unwrap();
        assert_eq!(full.view, "full");
        assert_eq!(aggregate.version, full.version, "{name}");
        assert_eq!(aggregate.history.len(), full.history.len(), "{name}");
        for (seen, whole) in aggregate.history.iter().zip(&full.history) {
            assert_eq!(seen.event_id, whole.event_id);
            assert_eq!(seen.event_type, whole.event_type);
            let kind = whole.source.split(':').next().unwrap();
            assert_eq!(seen.source, kind, "{name}: only the kind of who acted");
            assert!(!whole.operator.is_empty() && !whole.command_id.is_empty());
            assert_eq!(seen.operator, "", "{name}");
            assert_eq!(seen.command_id, "", "{name}");
            let data = data_json(seen);
            let mut present = BTreeSet::new();
            keys(&data, &mut present);
            for field in NOT_IN_AGGREGATE {
                assert!(!present.contains(*field), "{name}: {field} in {data}");
            }
            assert_eq!(data, aggregated(data_json(whole)), "{name}");
        }
    }
    // The opening events carry the person, the residence (discharges) and the ward: the
    // comparison above is not empty.
    let full = app
        .as_org("asst:705")
        .await
        .get(&scene.id("dp_magenta"))
        .await
        .unwrap();
    let opening = data_json(&full.history[0]);
    assert!(
        opening.get("subject_ref").is_some()
            && opening.get("residence").is_some()
            && opening.get("ward").is_some(),
        "{opening}"
    );

    // Another ATS (Insubria) holds nothing of ATS Milano's Ambiti.
    let mut insubria = app.as_org("ats:322").await;
    let listed = insubria
        .list(v1::ListPathwaysRequest::default())
        .await
        .unwrap();
    assert!(listed.pathways.is_empty(), "{listed:?}");
    for pathway in scene.pathways.values() {
        refused(insubria.get(&pathway.id).await, Code::NotFound);
    }
    app.stop().await;
}

// ---- paging ------------------------------------------------------------------------------------

/// Every page of a list, following `next_page_token` to the end.
async fn pages(clients: &mut Clients, page_size: u32) -> Vec<v1::ListPathwaysResponse> {
    let mut pages = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = clients
            .list(v1::ListPathwaysRequest {
                page_size,
                page_token,
                ..v1::ListPathwaysRequest::default()
            })
            .await
            .expect("a page is served");
        page_token = page.next_page_token.clone();
        pages.push(page);
        if page_token.is_empty() {
            return pages;
        }
        assert!(pages.len() < 100, "the pages never end");
    }
}

#[tokio::test]
async fn pages_follow_one_another_without_loss_or_repeat() {
    let app = TestApp::spawn().await;
    let mut asst = app.as_org("asst:705").await;
    let mut magenta = app.as_org("comune:magenta").await;

    // Seven discharges, some opened in the same instant, so that a page can end inside a run of
    // equal update times and the id has to decide.
    let mut opened: Vec<(OffsetDateTime, String)> = Vec::new();
    let cfs = [CF_ROSSI, CF_VERDI, CF_BIANCHI];
    for (n, same_instant) in [3, 1, 2, 1].into_iter().enumerate() {
        for k in 0..same_instant {
            let request = discharge_request(cfs[(n + k) % 3], "magenta", &app.date_in(4));
            let reply = accepted(asst.dimissione.request(request).await, "request");
            opened.push((app.clock.now(), reply.pathway_id));
        }
        app.advance(Duration::minutes(1));
    }
    let newest_first = |opened: &[(OffsetDateTime, String)]| -> Vec<String> {
        let mut sorted = opened.to_vec();
        sorted.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        sorted.into_iter().map(|(_, id)| id).collect()
    };
    let expected = newest_first(&opened);

    let one_page = asst.list(v1::ListPathwaysRequest::default()).await.unwrap();
    assert_eq!(ids(&one_page.pathways), expected);
    assert!(one_page.next_page_token.is_empty());

    let paged = pages(&mut asst, 3).await;
    let sizes: Vec<usize> = paged.iter().map(|p| p.pathways.len()).collect();
    assert_eq!(sizes, [3, 3, 1]);
    assert!(!paged[0].next_page_token.is_empty() && !paged[1].next_page_token.is_empty());
    assert!(paged[2].next_page_token.is_empty());
    let all: Vec<String> = paged.iter().flat_map(|p| ids(&p.pathways)).collect();
    assert_eq!(
        all, expected,
        "the pages, one after another, are the one page"
    );
    // The second page ends inside the run of three opened at once: the third starts with the
    // last of them.
    assert_eq!(
        paged[1].pathways[2].updated_at,
        paged[2].pathways[0].updated_at
    );
    // A page as large as the list has no next page; the largest page allowed is served.
    let exact = pages(&mut asst, 7).await;
    assert_eq!(exact.len(), 1);
    assert_eq!(ids(&exact[0].pathways), expected);
    assert_eq!(ids(&pages(&mut asst, 1000).await[0].pathways), expected);

    // The pathway the next-page token was made from is updated between two pages: it moves to
    // the top, and the following pages neither repeat it nor lose the ones after it.
    let first = asst
        .list(v1::ListPathwaysRequest {
            page_size: 3,
            ..v1::ListPathwaysRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&first.pathways), expected[..3]);
    let moved = first.pathways[2].id.clone();
    let receive = v1::ReceiveDischargeRequest {
        command_id: command_id("receive"),
        pathway_id: moved.clone(),
    };
    accepted(magenta.dimissione.receive(receive).await, "receive");
    let mut rest = Vec::new();
    let mut page_token = first.next_page_token.clone();
    while !page_token.is_empty() {
        let page = asst
            .list(v1::ListPathwaysRequest {
                page_size: 3,
                page_token,
                ..v1::ListPathwaysRequest::default()
            })
            .await
            .unwrap();
        rest.extend(ids(&page.pathways));
        page_token = page.next_page_token;
    }
    assert_eq!(rest, expected[3..], "the rest, neither lost nor repeated");
    let fresh = asst.list(v1::ListPathwaysRequest::default()).await.unwrap();
    assert_eq!(
        fresh.pathways[0].id, moved,
        "the updated pathway is now the newest"
    );
    assert_eq!(fresh.pathways[0].status, "received");

    // A pathway not reached yet is updated between two pages: it moves ahead of the place the
    // token names, so this walk through the pages does not meet it again (a fresh first page
    // shows it); every other pathway still comes exactly once, in order.
    let before = ids(&fresh.pathways);
    let first = asst
        .list(v1::ListPathwaysRequest {
            page_size: 3,
            ..v1::ListPathwaysRequest::default()
        })
        .await
        .unwrap();
    let oldest = before.last().unwrap().clone();
    // Later than anything before it, so the update is the newest whatever the ids.
    app.advance(Duration::minutes(1));
    let receive = v1::ReceiveDischargeRequest {
        command_id: command_id("receive"),
        pathway_id: oldest.clone(),
    };
    accepted(magenta.dimissione.receive(receive).await, "receive");
    let mut walked = ids(&first.pathways);
    let mut page_token = first.next_page_token;
    while !page_token.is_empty() {
        let page = asst
            .list(v1::ListPathwaysRequest {
                page_size: 3,
                page_token,
                ..v1::ListPathwaysRequest::default()
            })
            .await
            .unwrap();
        walked.extend(ids(&page.pathways));
        page_token = page.next_page_token;
    }
    let distinct: BTreeSet<&String> = walked.iter().collect();
    assert_eq!(distinct.len(), walked.len(), "nothing repeated: {walked:?}");
    let others: Vec<&String> = walked.iter().filter(|id| **id != oldest).collect();
    let expected_others: Vec<&String> = before.iter().filter(|id| **id != oldest).collect();
    assert_eq!(
        others, expected_others,
        "every other pathway once, in order"
    );
    let fresh = asst.list(v1::ListPathwaysRequest::default()).await.unwrap();
    assert_eq!(fresh.pathways[0].id, oldest);
    app.stop().await;
}

/// `Inbox.Acknowledge` answers with the receipt's log sequence, but a receipt goes to the sender
/// of the acknowledged event alone, never back to the party that acknowledged: that party's
/// projection will never hold the pathway at that sequence, however long it waits, though it
/// holds everything of the pathway it ever will.
#[tokio::test]
async fn the_party_that_acknowledged_reads_the_pathway_at_its_receipt_at_once() {
    let app = TestApp::spawn().await;
    let mut asst = app.as_org("asst:705").await;
    let mut magenta = app.as_org("comune:magenta").await;
    let request = discharge_request(CF_ROSSI, "magenta", &app.date_in(4));
    let requested = accepted(asst.dimissione.request(request).await, "request");
    let id = requested.pathway_id;
    let cursor = received(&app, "comune:magenta", &id).await[0].sequence;
    let ack = magenta
        .inbox
        .acknowledge(v1::AcknowledgeRequest { cursor })
        .await
        .expect("the Comune acknowledges the request")
        .into_inner();

    let started = Instant::now();
    let read = get_at(&mut magenta, &id, ack.sequence).await;
    let waited = started.elapsed();
    let read = read.expect("the Comune reads the pathway after its own acknowledgement");
    assert!(
        waited < std::time::Duration::from_secs(1),
        "no wait for a receipt that is not the Comune's to hold: {waited:?}"
    );
    assert_eq!(read.last_sequence, requested.sequence);
    // The hospital, to which the receipt goes, reads the pathway at the receipt.
    let read = get_at(&mut asst, &id, ack.sequence).await.unwrap();
    assert_eq!(read.last_sequence, ack.sequence);
    app.stop().await;
}

// ---- bad requests ------------------------------------------------------------------------------

#[tokio::test]
async fn a_bad_list_request_names_every_bad_field_at_once() {
    let app = TestApp::spawn().await;
    let mut asst = app.as_org("asst:705").await;

    let everything_wrong = v1::ListPathwaysRequest {
        kind: "ricovero".into(),
        status: "lost".into(),
        ambito: "magentino".into(),
        waiting_on_me: true,
        page_size: 5000,
        page_token: "yesterday".into(),
    };
    let status = refused(asst.list(everything_wrong).await, Code::InvalidArgument);
    assert_eq!(
        bad_fields(&status),
        ["kind", "status", "ambito", "page_size", "page_token"],
        "{status:?}"
    );
    let descriptions = bad_descriptions(&status);
    for (description, shown) in
        descriptions
            .iter()
            .zip(["ricovero", "lost", "magentino", "5000", "yesterday"])
    {
        assert!(description.contains(shown), "{description:?}");
    }

    // A status of another kind is wrong only with that kind.
    let other_kind = v1::ListPathwaysRequest {
        kind: CF.into(),
        status: "uvm_requested".into(),
        ambito: "51032".into(),
        page_size: 1001,
        page_token: "1.dp-xyz".into(),
        ..v1::ListPathwaysRequest::default()
    };
    let status = refused(asst.list(other_kind).await, Code::InvalidArgument);
    assert_eq!(
        bad_fields(&status),
        ["status", "ambito", "page_size", "page_token"],
        "{status:?}"
    );
    assert!(
        bad_descriptions(&status)[0].contains("uvm_requested"),
        "{status:?}"
    );

    // Each alone, against a request that is otherwise fine.
    let fine = v1::ListPathwaysRequest {
        kind: PUA.into(),
        status: "uvm_requested".into(),
        ambito: MAGENTINO.into(),
        waiting_on_me: false,
        page_size: 1000,
        page_token: String::new(),
    };
    asst.list(fine.clone()).await.expect("a good request");
    let alone = [
        (
            "kind",
            v1::ListPathwaysRequest {
                kind: "dimissione".into(),
                status: String::new(),
                ..fine.clone()
            },
        ),
        (
            "status",
            v1::ListPathwaysRequest {
                kind: DP.into(),
                status: "uvm_requested".into(),
                ..fine.clone()
            },
        ),
        (
            "ambito",
            v1::ListPathwaysRequest {
                ambito: "5003".into(),
                ..fine.clone()
            },
        ),
        (
            "page_size",
            v1::ListPathwaysRequest {
                page_size: 1001,
                ..fine.clone()
            },
        ),
    ];
    for (field, request) in alone {
        let status = refused(asst.list(request).await, Code::InvalidArgument);
        assert_eq!(bad_fields(&status), [field], "{status:?}");
    }
    for garbage in [
        "yesterday",
        "12.",
        ".dp-00000000000000000000",
        "soon.dp-00000000000000000000",
        "12.not-a-pathway",
        "99999999999999999999999999999999999999.dp-00000000000000000000",
    ] {
        let request = v1::ListPathwaysRequest {
            page_token: garbage.into(),
            ..fine.clone()
        };
        let status = refused(asst.list(request).await, Code::InvalidArgument);
        assert_eq!(bad_fields(&status), ["page_token"], "{garbage}: {status:?}");
    }
    app.stop().await;
}

// ---- the state rebuilt from the projection -----------------------------------------------------

/// Checks `party`'s read of `pathway` against the events its inbox was given and the state the
/// domain rebuilds from the log, and returns the read.
async fn check_full_read(app: &TestApp, party: &str, pathway: &str) -> v1::Pathway {
    let read = app.as_org(party).await.get(pathway).await.unwrap();
    assert_eq!(read.view, "full", "{party}");
    let given = received(app, party, pathway).await;
    let given_events: Vec<(u64, &str)> = given
        .iter()
        .map(|m| {
            (
                header(m, SOURCE_SEQUENCE).parse().unwrap(),
                header(m, "ce-id"),
            )
        })
        .collect();
    let history: Vec<(u64, &str)> = read
        .history
        .iter()
        .map(|e| (e.sequence, e.event_id.as_str()))
        .collect();
    assert_eq!(
        history, given_events,
        "{party}: the history is what it was given"
    );
    assert_eq!(read.version, given.len() as u64, "{party}");
    assert_eq!(
        read.last_sequence,
        given_events.last().unwrap().0,
        "{party}"
    );

    let domain = in_the_log(app, pathway).await;
    assert_eq!(read.status, domain.state.status(), "{party}");
    assert_eq!(
        state_json(&read),
        domain.state.to_json(),
        "{party}: the state is the domain's"
    );
    read
}

#[tokio::test]
async fn a_full_view_rebuilds_the_state_the_domain_holds() {
    let app = TestApp::spawn().await;
    let mut asst = app.as_org("asst:705").await;
    let mut magenta = app.as_org("comune:magenta").await;

    let first_date = app.date_in(4);
    let request = discharge_request(CF_ROSSI, "magenta", &first_date);
    let requested = accepted(asst.dimissione.request(request).await, "request");
    let id = requested.pathway_id.clone();
    app.advance(Duration::hours(1));
    let receive = v1::ReceiveDischargeRequest {
        command_id: command_id("receive"),
        pathway_id: id.clone(),
    };
    accepted(magenta.dimissione.receive(receive).await, "receive");
    app.advance(Duration::hours(20));
    // Corbetta's social worker takes part in the assessment: it joins late, and is handed the
    // earlier events.
    let assessment = v1::RecordJointAssessmentRequest {
        command_id: command_id("assessment"),
        pathway_id: id.clone(),
        assessed_on: app.today(),
        participants: vec![
            participant("asst:705", v1::Role::Physician),
            participant("comune:corbetta", v1::Role::SocialWorker),
        ],
    };
    accepted(
        asst.dimissione.record_joint_assessment(assessment).await,
        "assessment",
    );
    app.advance(Duration::hours(2));
    let plan = v1::AgreeCarePlanRequest {
        command_id: command_id("plan"),
        pathway_id: id.clone(),
        services: vec![
            v1::DischargeService::Sad as i32,
            v1::DischargeService::CDom as i32,
        ],
        case_manager: Some(participant("comune:magenta", v1::Role::SocialWorker)),
    };
    accepted(magenta.dimissione.agree_care_plan(plan).await, "plan");
    app.advance(Duration::hours(1));
    let postponed = app.date_in(6);
    let change = v1::ChangeExpectedDateRequest {
        command_id: command_id("postpone"),
        pathway_id: id.clone(),
        expected_discharge: postponed.clone(),
        reason: v1::DateChangeReason::AwaitingHomeServices as i32,
    };
    let changed = accepted(
        asst.dimissione.change_expected_date(change).await,
        "postpone",
    );
    assert_eq!(changed.status, "plan_agreed");
    // The Comune acknowledges the request: the receipt goes to the hospital alone.
    app.advance(Duration::minutes(5));
    let cursor = received(&app, "comune:magenta", &id)
        .await
        .iter()
        .find(|m| header(m, "ce-id") == requested.event_id)
        .expect("the request is in the Comune's inbox")
        .sequence;
    magenta
        .inbox
        .acknowledge(v1::AcknowledgeRequest { cursor })
        .await
        .expect("the Comune acknowledges the request");

    let mut reads = BTreeMap::new();
    for party in ["asst:705", "comune:magenta", "comune:corbetta"] {
        reads.insert(party, check_full_read(&app, party, &id).await);
    }
    let state = state_json(&reads["comune:corbetta"]);
    assert_eq!(state["status"], "plan_agreed");
    assert_eq!(state["expected_discharge"], postponed.as_str());
    assert_ne!(postponed, first_date);
    assert_eq!(state["plan"]["services"], json!(["sad", "c_dom"]));
    assert_eq!(
        state["plan"]["case_manager"],
        json!({ "org": "comune:magenta", "role": "social_worker" })
    );
    assert_eq!(
        state["assessment"]["participants"],
        json!([
            { "org": "asst:705", "role": "physician" },
            { "org": "comune:corbetta", "role": "social_worker" },
        ])
    );
    // Five steps for the Comuni; the hospital holds the receipt besides.
    assert_eq!(reads["comune:magenta"].version, 5);
    assert_eq!(reads["comune:corbetta"].version, 5);
    assert_eq!(reads["asst:705"].version, 6);
    assert!(
        reads["asst:705"].history[5]
            .event_type
            .ends_with(".receipt.v1"),
        "{:?}",
        reads["asst:705"].history[5]
    );
    // Corbetta joined at the assessment yet holds the pathway from its first event.
    assert_eq!(
        reads["comune:corbetta"].opened_at,
        reads["asst:705"].opened_at
    );
    assert_eq!(
        reads["comune:corbetta"].history[0].event_id,
        requested.event_id
    );

    // The ATS rebuilds no state: it holds no person, and no receipt.
    let aggregate = app.as_org("ats:321").await.get(&id).await.unwrap();
    assert!(aggregate.state.is_none());
    assert_eq!(aggregate.version, 5);
    assert_eq!(aggregate.status, "plan_agreed");

    // A body that never acted rebuilds a PUA intake's state too, and a Centro its referral's.
    let mut asst_707 = app.as_org("asst:707").await;
    let access = access_request(CF_VERDI, "bresso", "707");
    let pua = accepted(asst_707.pua.register_access(access).await, "access");
    app.advance(Duration::hours(1));
    let triage = v1::RecordPreliminaryAssessmentRequest {
        command_id: command_id("triage"),
        pathway_id: pua.pathway_id.clone(),
        triage: v1::Triage::Complex as i32,
    };
    accepted(
        asst_707.pua.record_preliminary_assessment(triage).await,
        "triage",
    );
    let read = check_full_read(&app, "ente:ipis", &pua.pathway_id).await;
    assert_eq!(state_json(&read)["status"], "complex");
    let sent = app.open_referral("officina-dei-legami").await;
    let read = check_full_read(&app, "centro:officina-dei-legami", &sent).await;
    assert_eq!(state_json(&read)["status"], "sent");
    app.stop().await;
}
