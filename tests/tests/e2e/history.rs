//! Replaying a pathway's history: timelines per viewer and purpose over gRPC `Pathways.History`,
//! and each replay in the audit trail (`RACCORDO_AUDIT`).
//!
//! The pathway is crafted through gRPC on the virtual clock, and the reconciler records its
//! findings on it as it does live. Times: the clock starts on Monday 2 March 2026 at 10:00 in Italy
//! (09:00 UTC, CET). The Magentino's example protocol gives the Comune one working day to
//! acknowledge the request and two to take it in: "n working days" end at the local midnight after
//! the n-th working day.

use futures::TryStreamExt;
use raccordo_api::v1;
use raccordo_api::v1::history_item::Item;
use raccordo_domain::clock::Clock;
use raccordo_domain::codice_fiscale::CodiceFiscale;
use raccordo_domain::pathway::Actor;
use raccordo_domain::timeline::{Purpose, Replayed, Via};
use raccordo_eventlog::{AuditEvent, AuditFilter};
use raccordo_tests::{
    CF_ROSSI, TestApp, act_data_json, bad_fields, command_id, discharge_request, header,
    is_finding, refused, subject_key,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use tonic::{Code, Status};

const ASST: &str = "asst:705";
const MAGENTA: &str = "comune:magenta";
const ATS: &str = "ats:321";
/// The operator of every test token.
const OPERATOR: &str = "operatore.test";

/// Thursday 5 March, 13:00 in Italy: when the histories are replayed.
const AS_OF: OffsetDateTime = datetime!(2026-03-05 12:00 UTC);

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

/// The crafted pathway: its id and the event ids of what was done on it.
struct Crafted {
    pathway: String,
    requested: String,
    receipt: String,
    received: String,
}

/// asst:705 asks for a protected discharge of a Magenta resident on Monday, home expected on
/// Monday 9 March. The Comune's case software acknowledges the request within the hour, but the
/// Comune takes it in only on Thursday at 10:00, a morning late: the reconciler records the step
/// overdue at Thursday 09:00 and closed late at 10:00. The clock is then left at [`AS_OF`].
async fn crafted(app: &TestApp) -> Crafted {
    let mut asst = app.as_org(ASST).await;
    let mut magenta = app.as_org(MAGENTA).await;
    let requested = asst
        .dimissione
        .request(discharge_request(CF_ROSSI, "magenta", &app.date_in(7)))
        .await
        .expect("the request is accepted")
        .into_inner();
    let pathway = requested.pathway_id.clone();

    app.advance(Duration::hours(1));
    let cursor = app
        .inbox_of(MAGENTA)
        .await
        .iter()
        .find(|m| header(m, "ce-id") == requested.event_id)
        .expect("the request reaches the Comune's inbox")
        .sequence;
    let receipt = magenta
        .inbox
        .acknowledge(v1::AcknowledgeRequest { cursor })
        .await
        .expect("the acknowledgement is accepted")
        .into_inner();

    app.clock.set(datetime!(2026-03-05 08:00 UTC));
    app.settle().await;
    app.advance(Duration::hours(1));
    let received = magenta
        .dimissione
        .receive(v1::ReceiveDischargeRequest {
            command_id: command_id("receive"),
            pathway_id: pathway.clone(),
        })
        .await
        .expect("the take-in is accepted")
        .into_inner();
    // Waits for the reconciler too: its findings are in the log once this returns.
    app.settle().await;
    app.clock.set(AS_OF);
    app.settle().await;
    let findings: Vec<String> = app
        .stream_messages()
        .await
        .iter()
        .filter(|m| is_finding(header(m, "ce-type")) && header(m, "ce-subject") == pathway)
        .map(|m| {
            serde_json::from_slice::<serde_json::Value>(&m.payload).unwrap()["finding"].to_string()
        })
        .collect();
    assert_eq!(
        findings,
        ["\"step_overdue\"", "\"overdue_step_closed\""],
        "the reconciler's findings on the crafted pathway"
    );
    Crafted {
        pathway,
        requested: requested.event_id,
        receipt: receipt.receipt_event_id,
        received: received.event_id,
    }
}

/// A history as `History` streamed it.
#[derive(Debug)]
struct Streamed {
    header: v1::TimelineHeader,
    /// Every item after the header, in order.
    entries: Vec<Item>,
}

fn lane_of(item: &Item) -> (&str, &'static str) {
    match item {
        Item::Header(_) => ("", "header"),
        Item::Act(a) => (&a.lane, "act"),
        Item::Wait(w) => (&w.lane, "wait"),
        Item::Deadline(d) => (&d.lane, "deadline"),
        Item::Finding(f) => (&f.lane, "finding"),
    }
}

impl Streamed {
    /// Lane and kind of each entry, in the order streamed.
    fn order(&self) -> Vec<(&str, &'static str)> {
        self.entries.iter().map(lane_of).collect()
    }

    fn acts(&self, lane: &str) -> Vec<&v1::TimelineAct> {
        self.entries
            .iter()
            .filter_map(|i| match i {
                Item::Act(a) if a.lane == lane => Some(a),
                _ => None,
            })
            .collect()
    }

    fn act_names(&self, lane: &str) -> Vec<&str> {
        self.acts(lane).iter().map(|a| a.name.as_str()).collect()
    }

    fn all_acts(&self) -> Vec<&v1::TimelineAct> {
        self.entries
            .iter()
            .filter_map(|i| match i {
                Item::Act(a) => Some(a),
                _ => None,
            })
            .collect()
    }

    /// (since, until, minutes) of each wait of `lane`.
    fn waits(&self, lane: &str) -> Vec<(&str, &str, u64)> {
        self.entries
            .iter()
            .filter_map(|i| match i {
                Item::Wait(w) if w.lane == lane => {
                    Some((w.since.as_str(), w.until.as_str(), w.minutes))
                }
                _ => None,
            })
            .collect()
    }

    /// (step, due, closed at, outcome) of each deadline of `lane`.
    fn deadlines(&self, lane: &str) -> Vec<(&str, &str, &str, &str)> {
        self.entries
            .iter()
            .filter_map(|i| match i {
                Item::Deadline(d) if d.lane == lane => Some((
                    d.step.as_ref().map_or("", |s| s.step.as_str()),
                    d.due.as_str(),
                    d.closed_at.as_str(),
                    d.outcome.as_str(),
                )),
                _ => None,
            })
            .collect()
    }

    fn findings(&self, lane: &str) -> Vec<&v1::TimelineFinding> {
        self.entries
            .iter()
            .filter_map(|i| match i {
                Item::Finding(f) if f.lane == lane => Some(f),
                _ => None,
            })
            .collect()
    }
}

/// `Pathways.History` of `pathway` as `org` for `purpose`, the whole stream read.
async fn history(
    app: &TestApp,
    org: &str,
    pathway: &str,
    purpose: &str,
) -> Result<Streamed, Status> {
    let mut clients = app.as_org(org).await;
    let request = v1::HistoryRequest {
        pathway_id: pathway.to_owned(),
        purpose: purpose.to_owned(),
    };
    let items: Vec<v1::HistoryItem> = clients
        .pathways
        .history(request)
        .await?
        .into_inner()
        .try_collect()
        .await?;
    let mut items = items
        .into_iter()
        .map(|i| i.item.expect("every streamed item holds something"));
    let Some(Item::Header(header)) = items.next() else {
        panic!("the stream does not open with the header");
    };
    let entries: Vec<Item> = items.collect();
    assert!(
        entries.iter().all(|i| !matches!(i, Item::Header(_))),
        "one header only"
    );
    Ok(Streamed { header, entries })
}

fn shown(result: Result<Streamed, Status>, who: &str) -> Streamed {
    result.unwrap_or_else(|status| panic!("{who}: {status:?}"))
}

/// The audit trail of one pathway, in the order recorded.
async fn trail(app: &TestApp, pathway: &str) -> Vec<AuditEvent> {
    app.log
        .audit()
        .await
        .expect("the audit trail is set up")
        .read(&AuditFilter {
            pathway: Some(pathway.parse().unwrap()),
            ..AuditFilter::default()
        })
        .await
        .expect("the audit trail reads back")
}

/// What the trail must record of a replay by `viewer` through gRPC, at [`AS_OF`].
fn replayed(
    pathway: &str,
    viewer: &str,
    purpose: Purpose,
    refused: Option<String>,
    events_shown: u64,
) -> Replayed {
    Replayed {
        pathway: pathway.parse().unwrap(),
        viewer: viewer.parse().unwrap(),
        operator: OPERATOR.parse().unwrap(),
        purpose,
        via: Via::Grpc,
        at: AS_OF,
        refused,
        events_shown,
    }
}

/// The header names this replay's audit event.
fn assert_audited_by(streamed: &Streamed, event: &AuditEvent) {
    assert_eq!(streamed.header.audit_event_id, event.id);
    assert_eq!(streamed.header.audit_sequence, event.sequence);
}

/// Thursday 5 March, 00:00 in Italy: the end of the second working day after Monday.
const TAKE_IN_DUE: &str = "2026-03-04T23:00:00Z";

#[tokio::test]
async fn each_viewer_is_streamed_the_history_its_purpose_allows_and_each_replay_is_audited() {
    let app = TestApp::spawn().await;
    let c = crafted(&app).await;

    // The hospital, for care: one lane per organisation, its acts, waits, deadlines, findings.
    let asst = shown(history(&app, ASST, &c.pathway, "care").await, ASST);
    let h = &asst.header;
    assert_eq!(h.pathway, c.pathway);
    assert_eq!(h.kind, "dimissione_protetta");
    assert_eq!(h.ambito, "50032");
    assert_eq!(h.status, "received");
    assert_eq!((h.viewer.as_str(), h.purpose.as_str()), (ASST, "care"));
    assert_eq!(h.view, "full");
    assert_eq!(h.opened_at, "2026-03-02T09:00:00Z");
    assert_eq!(h.updated_at, "2026-03-05T09:00:00Z");
    assert_eq!(h.as_of, "2026-03-05T12:00:00Z");
    assert_eq!(h.waiting_on, [ASST, MAGENTA]);
    assert_eq!(h.lanes, [ASST, MAGENTA]);
    // Lane by lane; in each, acts, waits, deadlines, findings.
    assert_eq!(
        asst.order(),
        [
            (ASST, "act"),
            (ASST, "wait"),
            (ASST, "deadline"),
            (MAGENTA, "act"),
            (MAGENTA, "act"),
            (MAGENTA, "wait"),
            (MAGENTA, "deadline"),
            (MAGENTA, "deadline"),
            (MAGENTA, "deadline"),
            (MAGENTA, "finding"),
            (MAGENTA, "finding"),
        ]
    );
    let request = &asst.acts(ASST)[0];
    assert_eq!(request.name, "requested");
    assert_eq!(request.event_id, c.requested);
    assert_eq!(
        request.event_type,
        "raccordo.dimissione_protetta.requested.v1"
    );
    assert_eq!(request.time, "2026-03-02T09:00:00Z");
    assert_eq!(
        act_data_json(request)["ward"],
        "Medicina generale - Ospedale di Magenta"
    );
    assert!(asst.all_acts().iter().all(|a| a.provenance.is_none()));
    // The hospital holds the Comune's receipt of its request (receipts go to the sender).
    assert_eq!(asst.act_names(MAGENTA), ["receipt", "received"]);
    assert_eq!(
        [
            &asst.acts(MAGENTA)[0].event_id,
            &asst.acts(MAGENTA)[1].event_id
        ],
        [&c.receipt, &c.received]
    );
    // Waited on from the take-in (the hospital now owes the joint assessment), 3 hours so far;
    // the Comune since the request, 3 days and 3 hours so far.
    assert_eq!(asst.waits(ASST), [("2026-03-05T09:00:00Z", "", 180)]);
    assert_eq!(
        asst.waits(MAGENTA),
        [("2026-03-02T09:00:00Z", "", (3 * 24 + 3) * 60)]
    );
    // Home by the end of Monday 9 March, local time: ahead.
    assert_eq!(
        asst.deadlines(ASST),
        [(
            "dp-dimissione-alla-data",
            "2026-03-09T23:00:00Z",
            "",
            "pending"
        )]
    );
    assert_eq!(
        asst.deadlines(MAGENTA),
        [
            // Two working days (Tuesday, Wednesday): taken in on Thursday at 10:00, late.
            (
                "dp-presa-in-carico",
                TAKE_IN_DUE,
                "2026-03-05T09:00:00Z",
                "late"
            ),
            // One working day: acknowledged on Monday at 11:00, in time.
            (
                "dp-conferma-ricezione",
                "2026-03-03T23:00:00Z",
                "2026-03-02T10:00:00Z",
                "met"
            ),
            // Before the expected discharge: the midnight that begins Monday 9 March.
            (
                "dp-valutazione-congiunta",
                "2026-03-08T23:00:00Z",
                "",
                "pending"
            ),
        ]
    );
    let late = asst
        .entries
        .iter()
        .find_map(|i| match i {
            Item::Deadline(d) if d.outcome == "late" => Some(d),
            _ => None,
        })
        .unwrap();
    let step = late.step.as_ref().unwrap();
    assert_eq!(
        (step.protocol.as_str(), step.version),
        ("ovest-milanese-magentino", 1)
    );
    assert_eq!(late.finding, "step_overdue");
    assert_eq!(
        (late.opened_by.as_str(), late.closed_by.as_str()),
        (c.requested.as_str(), c.received.as_str())
    );
    let findings = asst.findings(MAGENTA);
    let kinds: Vec<&str> = findings.iter().map(|f| f.finding.as_str()).collect();
    assert_eq!(kinds, ["step_overdue", "overdue_step_closed"]);
    for f in &findings {
        assert_eq!(f.step.as_ref().unwrap().step, "dp-presa-in-carico");
        assert_eq!(f.about, c.requested);
        assert_eq!(f.due, TAKE_IN_DUE);
    }
    // Found at Thursday 09:00, past the deadline by Monday 10:00 to Thursday 00:00; closed an
    // hour later, after 72 hours in all.
    assert_eq!(findings[0].recorded_at, "2026-03-05T08:00:00Z");
    assert_eq!(findings[1].recorded_at, "2026-03-05T09:00:00Z");
    assert_eq!(findings[0].waited_minutes, Some(62 * 60));
    assert_eq!(findings[1].waited_minutes, Some(72 * 60));
    assert!(findings[1].sequence > findings[0].sequence);

    // The Comune, for care: the same lanes, without its own receipt (it goes to the sender).
    let magenta = shown(history(&app, MAGENTA, &c.pathway, "care").await, MAGENTA);
    assert_eq!(magenta.header.lanes, [ASST, MAGENTA]);
    assert_eq!(magenta.act_names(ASST), ["requested"]);
    assert_eq!(magenta.act_names(MAGENTA), ["received"]);
    assert_eq!(magenta.findings(MAGENTA).len(), 2);
    assert_eq!(magenta.deadlines(MAGENTA), asst.deadlines(MAGENTA));

    // The hospital, for an audit: who acted and with which command, for every act.
    let audit = shown(history(&app, ASST, &c.pathway, "audit").await, ASST);
    assert_eq!(audit.header.purpose, "audit");
    let stored = app.stream_messages().await;
    let acts = audit.all_acts();
    assert_eq!(acts.len(), 3);
    for act in acts {
        let provenance = act
            .provenance
            .as_ref()
            .unwrap_or_else(|| panic!("no provenance for {}", act.name));
        let message = stored
            .iter()
            .find(|m| m.sequence == act.sequence)
            .expect("an act is an event of the log");
        assert_eq!(header(message, "ce-id"), act.event_id);
        assert_eq!(provenance.operator, OPERATOR);
        assert_eq!(provenance.operator, header(message, "ce-raccordooperator"));
        assert_eq!(
            provenance.command_id,
            header(message, "ce-raccordocommandid")
        );
    }
    assert_eq!(
        audit.acts(MAGENTA)[0]
            .provenance
            .as_ref()
            .unwrap()
            .command_id,
        format!("receipt:{}", c.requested)
    );

    // The ATS, for governance: the aggregate view, lanes named by kind, nothing of the person.
    let ats = shown(history(&app, ATS, &c.pathway, "governance").await, ATS);
    assert_eq!(ats.header.view, "aggregate");
    assert_eq!(ats.header.lanes, ["asst", "comune"]);
    assert_eq!(ats.header.waiting_on, ["asst", "comune"]);
    assert_eq!(ats.act_names("asst"), ["requested"]);
    assert_eq!(ats.act_names("comune"), ["received"]);
    assert_eq!(ats.deadlines("comune"), asst.deadlines(MAGENTA));
    assert_eq!(ats.findings("comune").len(), 2);
    let content = format!("{:?}", (&ats.header, &ats.entries));
    let pseudonym = subject_key()
        .subject_ref(&CF_ROSSI.parse::<CodiceFiscale>().unwrap())
        .to_string();
    for person_level in [
        "subject_ref",
        "ward",
        "Medicina",
        "residence",
        "operator",
        OPERATOR,
        "command_id",
        "receipt:",
        &pseudonym,
    ] {
        assert!(
            !content.contains(person_level),
            "the ATS's history holds {person_level}: {content}"
        );
    }

    // Each replay recorded once, before it was shown, with the operator of the caller's token.
    let recorded = trail(&app, &c.pathway).await;
    let records: Vec<Replayed> = recorded.iter().map(|e| e.replayed.clone()).collect();
    assert_eq!(
        records,
        [
            replayed(&c.pathway, ASST, Purpose::Care, None, 5),
            replayed(&c.pathway, MAGENTA, Purpose::Care, None, 4),
            replayed(&c.pathway, ASST, Purpose::Audit, None, 5),
            replayed(&c.pathway, ATS, Purpose::Governance, None, 4),
        ]
    );
    for (streamed, event) in [&asst, &magenta, &audit, &ats].into_iter().zip(&recorded) {
        assert_audited_by(streamed, event);
    }
    app.stop().await;
}

#[tokio::test]
async fn refused_replays_are_audited_too_and_bad_requests_name_their_fields() {
    let app = TestApp::spawn().await;
    let c = crafted(&app).await;

    // An ATS replays for governance only.
    for purpose in ["care", "audit"] {
        let status = refused(
            history(&app, ATS, &c.pathway, purpose).await,
            Code::PermissionDenied,
        );
        assert_eq!(
            status.message(),
            format!(
                "{ATS} sees pathway {} in the aggregate view only: its history can be replayed \
                 for governance, not for {purpose}",
                c.pathway
            )
        );
    }
    // An ASST with no part in the pathway, and a pathway that does not exist: the same answer.
    let status = refused(
        history(&app, "asst:707", &c.pathway, "care").await,
        Code::NotFound,
    );
    assert_eq!(
        status.message(),
        format!("asst:707 holds no event of pathway {}", c.pathway)
    );
    let nowhere = "dp-00000000000000000000";
    let status = refused(history(&app, ASST, nowhere, "care").await, Code::NotFound);
    assert_eq!(
        status.message(),
        format!("{ASST} holds no event of pathway {nowhere}")
    );

    // Bad input is refused before the history is read: nothing to record.
    let status = refused(
        history(&app, ASST, &c.pathway, "cura").await,
        Code::InvalidArgument,
    );
    assert_eq!(bad_fields(&status), ["purpose"]);
    assert!(
        status
            .message()
            .contains("'cura' is not a purpose: use care, audit or governance"),
        "{status:?}"
    );
    let status = refused(
        history(&app, ASST, "dp-nope", "").await,
        Code::InvalidArgument,
    );
    assert_eq!(bad_fields(&status), ["pathway_id", "purpose"]);
    let status = refused(history(&app, ASST, "", "care").await, Code::InvalidArgument);
    assert_eq!(bad_fields(&status), ["pathway_id"]);

    let refusal = |purpose: &str| {
        Some(format!(
            "{ATS} sees pathway {} in the aggregate view only: its history can be replayed for \
             governance, not for {purpose}",
            c.pathway
        ))
    };
    let records: Vec<Replayed> = trail(&app, &c.pathway)
        .await
        .into_iter()
        .map(|e| e.replayed)
        .collect();
    assert_eq!(
        records,
        [
            replayed(&c.pathway, ATS, Purpose::Care, refusal("care"), 0),
            replayed(&c.pathway, ATS, Purpose::Audit, refusal("audit"), 0),
            replayed(
                &c.pathway,
                "asst:707",
                Purpose::Care,
                Some(format!("asst:707 holds no event of pathway {}", c.pathway)),
                0
            ),
        ]
    );
    let records: Vec<Replayed> = trail(&app, nowhere)
        .await
        .into_iter()
        .map(|e| e.replayed)
        .collect();
    assert_eq!(
        records,
        [replayed(
            nowhere,
            ASST,
            Purpose::Care,
            Some(format!("{ASST} holds no event of pathway {nowhere}")),
            0
        )]
    );
    app.stop().await;
}
