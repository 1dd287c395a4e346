//! Tests of [`super`]: one crafted protected discharge in the Magentino, its findings recorded as
//! the reconciler records them, read by each kind of viewer for each purpose. Deadlines are worked
//! out by hand from the shipped example protocol (`ovest-milanese-magentino`) and the calendar.

use time::macros::{date, datetime};
use time::{Duration, OffsetDateTime};

use super::*;
use crate::ids::AtsCode;
use crate::pathway::Role;
use crate::pathway::dimissione_protetta::{self as dp, Service};
use crate::pathway::finding::{self, RecordFinding};
use crate::testing::{Log, comune, joint_assessment, org, participant, person, rules};

const ASST: &str = "asst:705";
const MAGENTA: &str = "comune:magenta";
const ATS: &str = "ats:321";

/// Monday 2 March 2026, 10:00 in Italy (winter time).
const MONDAY: OffsetDateTime = datetime!(2026-03-02 09:00 UTC);

fn day(n: i64) -> OffsetDateTime {
    MONDAY + Duration::days(n)
}

/// The log with a reconciler beside it: after each act, what the reconciler finds up to `at` is
/// recorded on the pathway in the name of the ATS, as the service does.
struct Scenario {
    log: Log,
    book: Book,
}

impl Scenario {
    fn settle(&mut self, at: OffsetDateTime) {
        let mut found = Vec::new();
        for recorded in self.log.events.clone() {
            found.extend(self.book.observe(rules(), &recorded));
        }
        found.extend(self.book.fire(rules(), at));
        let recorder: AtsCode = "321".parse().expect("an ATS code");
        for f in found {
            assert_eq!(f.recorder, finding::recorder(&recorder));
            let command = RecordFinding::command(f.pathway.clone(), f.finding);
            self.log.submit(&f.recorder, at, &command);
        }
    }
}

struct Crafted {
    log: Log,
    pathway: PathwayId,
    requested: EventId,
    received: EventId,
}

/// A protected discharge from ASST Ovest Milanese for a resident of Magenta, expected home on
/// Monday 9 March: acknowledged within the hour, taken in late on Thursday (the protocol gives the
/// Comune two working days: Tuesday and Wednesday), jointly assessed on Friday.
fn crafted() -> Crafted {
    let mut s = Scenario {
        log: Log::default(),
        book: Book::default(),
    };
    let (pathway, requested) = s.log.open(
        ASST,
        day(0),
        dp::Command::Request(dp::Request {
            subject_ref: person(1),
            ward: "Medicina generale".into(),
            residence: comune(MAGENTA),
            expected_discharge: date!(2026 - 03 - 09),
            needs: vec![Service::CDom],
            lives_alone: true,
            no_caregiver: false,
        }),
    );
    s.log
        .acknowledge(&pathway, MAGENTA, day(0) + Duration::hours(1), &requested);
    s.settle(day(3) - Duration::hours(1));
    let received = s.log.run(&pathway, MAGENTA, day(3), dp::Command::Receive);
    s.settle(day(3) + Duration::minutes(1));
    s.log.run(
        &pathway,
        MAGENTA,
        day(4),
        joint_assessment(
            date!(2026 - 03 - 06),
            vec![
                participant(ASST, Role::Physician),
                participant(MAGENTA, Role::SocialWorker),
            ],
        ),
    );
    s.settle(day(4) + Duration::minutes(1));
    Crafted {
        log: s.log,
        pathway,
        requested,
        received,
    }
}

/// Friday 7 March at noon: after the assessment, before the plan's deadline.
const AS_OF: OffsetDateTime = datetime!(2026-03-07 12:00 UTC);

fn timeline(c: &Crafted, viewer: &str, purpose: Purpose, as_of: OffsetDateTime) -> Timeline {
    build(
        rules(),
        &c.pathway,
        &c.log.events,
        &org(viewer),
        purpose,
        as_of,
    )
    .unwrap_or_else(|e| panic!("{viewer} for {purpose}: {e}"))
}

fn lane<'t>(timeline: &'t Timeline, name: &str) -> &'t Lane {
    timeline
        .lanes
        .iter()
        .find(|l| l.org == name)
        .unwrap_or_else(|| panic!("no lane {name} in {:?}", lane_names(timeline)))
}

fn lane_names(timeline: &Timeline) -> Vec<&str> {
    timeline.lanes.iter().map(|l| l.org.as_str()).collect()
}

fn act_names(lane: &Lane) -> Vec<&str> {
    lane.acts.iter().map(|a| a.name.as_str()).collect()
}

fn steps(
    lane: &Lane,
) -> Vec<(
    &str,
    Option<OffsetDateTime>,
    Option<OffsetDateTime>,
    Outcome,
)> {
    lane.deadlines
        .iter()
        .map(|d| (d.step.step.as_str(), d.due, d.closed_at, d.outcome))
        .collect()
}

fn findings(lane: &Lane) -> Vec<(FindingKind, Option<&str>, Option<OffsetDateTime>)> {
    lane.findings
        .iter()
        .map(|m| (m.finding, m.step.as_ref().map(|s| s.step.as_str()), m.due))
        .collect()
}

/// Thursday 5 March, 00:00 in Italy: the end of the second working day after Monday.
const TAKE_IN_DUE: OffsetDateTime = datetime!(2026-03-04 23:00 UTC);

#[test]
fn the_hospital_sees_one_lane_per_organisation_with_acts_waits_deadlines_and_findings() {
    let c = crafted();
    let t = timeline(&c, ASST, Purpose::Care, AS_OF);
    assert_eq!(t.pathway, c.pathway);
    assert_eq!(t.status, "assessed");
    assert_eq!(t.view, View::Full);
    assert_eq!(t.ambito.to_string(), "50032");
    assert_eq!(lane_names(&t), [ASST, MAGENTA]);
    assert_eq!(t.waiting_on, [ASST, MAGENTA]);

    let asst = lane(&t, ASST);
    assert_eq!(act_names(asst), ["requested"]);
    assert_eq!(asst.acts[0].event_id, c.requested);
    assert_eq!(asst.acts[0].data["ward"], "Medicina generale");
    assert_eq!(asst.acts[0].provenance, None);
    // Waited on from the take-in (received: the hospital now owes the assessment with the
    // Comune), still waited on at the as-of instant: 2 days 3 hours.
    assert_eq!(
        asst.waits,
        [Wait {
            since: day(3),
            until: None,
            minutes: 2 * 24 * 60 + 3 * 60,
        }]
    );
    // Home by the end of 9 March: midnight in Italy, still ahead.
    assert_eq!(
        steps(asst),
        [(
            "dp-dimissione-alla-data",
            Some(datetime!(2026-03-09 23:00 UTC)),
            None,
            Outcome::Pending
        )]
    );
    assert!(asst.findings.is_empty());

    let magenta = lane(&t, MAGENTA);
    // The hospital holds the Comune's receipt of its request (receipts go to the sender).
    assert_eq!(
        act_names(magenta),
        ["receipt", "received", "joint_assessment_recorded"]
    );
    assert_eq!(
        magenta.waits,
        [Wait {
            since: day(0),
            until: None,
            minutes: 5 * 24 * 60 + 3 * 60,
        }]
    );
    assert_eq!(
        steps(magenta),
        [
            (
                "dp-presa-in-carico",
                Some(TAKE_IN_DUE),
                Some(day(3)),
                Outcome::Late
            ),
            (
                "dp-conferma-ricezione",
                Some(datetime!(2026-03-03 23:00 UTC)),
                Some(day(0) + Duration::hours(1)),
                Outcome::Met
            ),
            (
                "dp-valutazione-congiunta",
                Some(datetime!(2026-03-08 23:00 UTC)),
                Some(day(4)),
                Outcome::Met
            ),
            // Opened on Friday: Monday, Tuesday, Wednesday; due at Thursday's midnight.
            (
                "dp-progetto-dopo-valutazione",
                Some(datetime!(2026-03-11 23:00 UTC)),
                None,
                Outcome::Pending
            ),
        ]
    );
    assert_eq!(magenta.deadlines[0].opened_by, c.requested);
    assert_eq!(magenta.deadlines[0].closed_by.as_ref(), Some(&c.received));
    assert_eq!(
        findings(magenta),
        [
            (
                FindingKind::StepOverdue,
                Some("dp-presa-in-carico"),
                Some(TAKE_IN_DUE)
            ),
            (
                FindingKind::OverdueStepClosed,
                Some("dp-presa-in-carico"),
                Some(TAKE_IN_DUE)
            ),
        ]
    );
    assert_eq!(magenta.findings[0].recorded_at, day(3) - Duration::hours(1));
    assert_eq!(magenta.findings[0].about.as_ref(), Some(&c.requested));
}

#[test]
fn the_comune_does_not_see_its_own_receipt_and_later_deadlines_turn_overdue() {
    let c = crafted();
    let later = datetime!(2026-03-20 12:00 UTC);
    let t = timeline(&c, MAGENTA, Purpose::Care, later);
    assert_eq!(lane_names(&t), [ASST, MAGENTA]);
    assert_eq!(
        act_names(lane(&t, MAGENTA)),
        ["received", "joint_assessment_recorded"]
    );
    let outcomes: Vec<(&str, Outcome)> = t
        .lanes
        .iter()
        .flat_map(|l| &l.deadlines)
        .map(|d| (d.step.step.as_str(), d.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("dp-dimissione-alla-data", Outcome::Overdue),
            ("dp-presa-in-carico", Outcome::Late),
            ("dp-conferma-ricezione", Outcome::Met),
            ("dp-valutazione-congiunta", Outcome::Met),
            ("dp-progetto-dopo-valutazione", Outcome::Overdue),
        ]
    );
    assert!(outcomes.iter().any(|(_, o)| o.is_breach()));
}

#[test]
fn an_audit_names_the_operator_and_the_command_of_every_act() {
    let c = crafted();
    let t = timeline(&c, ASST, Purpose::Audit, AS_OF);
    let acts: Vec<&Act> = t.lanes.iter().flat_map(|l| &l.acts).collect();
    assert_eq!(acts.len(), 4);
    for act in acts {
        let provenance = act.provenance.as_ref().expect("an audit shows provenance");
        assert_eq!(provenance.operator, "operatore.1");
        let event = &c
            .log
            .events
            .iter()
            .find(|r| r.sequence == act.sequence)
            .expect("the act is an event of the log")
            .event;
        assert_eq!(provenance.command_id, event.command_id.to_string());
        assert_eq!(act.event_id, event.id);
    }
}

#[test]
fn the_ats_gets_the_aggregate_view_for_governance_and_nothing_for_care_or_audit() {
    let c = crafted();
    for purpose in [Purpose::Care, Purpose::Audit] {
        let refused = build(
            rules(),
            &c.pathway,
            &c.log.events,
            &org(ATS),
            purpose,
            AS_OF,
        );
        assert_eq!(
            refused,
            Err(Refusal::AggregateOnly {
                viewer: org(ATS),
                pathway: c.pathway.clone(),
                purpose
            })
        );
    }
    let t = timeline(&c, ATS, Purpose::Governance, AS_OF);
    assert_eq!(t.view, View::Aggregate);
    // Lanes by kind of organisation; no receipt (not monitoring data); no operator.
    assert_eq!(lane_names(&t), ["asst", "comune"]);
    assert_eq!(t.waiting_on, ["asst", "comune"]);
    assert_eq!(act_names(lane(&t, "asst")), ["requested"]);
    assert_eq!(
        act_names(lane(&t, "comune")),
        ["received", "joint_assessment_recorded"]
    );
    assert_eq!(lane(&t, "comune").deadlines.len(), 4);
    assert_eq!(lane(&t, "comune").findings.len(), 2);
    let json = serde_json::to_string(&t).expect("a timeline serialises");
    for person_level in [
        "subject_ref",
        "ward",
        "Medicina",
        "residence",
        "operator",
        "operatore",
        "command_id",
        &person(1).to_string(),
    ] {
        assert!(
            !json.contains(person_level),
            "the ATS's timeline holds {person_level}: {json}"
        );
    }
}

#[test]
fn a_party_taking_part_can_ask_for_the_aggregate_view_too() {
    let c = crafted();
    let t = timeline(&c, MAGENTA, Purpose::Governance, AS_OF);
    assert_eq!(t.view, View::Aggregate);
    assert_eq!(lane_names(&t), ["asst", "comune"]);
    let json = serde_json::to_string(&t).expect("a timeline serialises");
    assert!(!json.contains("subject_ref") && !json.contains("operatore"));
}

#[test]
fn a_party_with_no_part_and_a_pathway_with_no_history_are_refused_alike() {
    let c = crafted();
    let outsider = org("asst:707");
    assert_eq!(
        build(
            rules(),
            &c.pathway,
            &c.log.events,
            &outsider,
            Purpose::Care,
            AS_OF
        ),
        Err(Refusal::NotHeld {
            viewer: outsider.clone(),
            pathway: c.pathway.clone()
        })
    );
    assert_eq!(
        build(rules(), &c.pathway, &[], &org(ASST), Purpose::Care, AS_OF),
        Err(Refusal::NotHeld {
            viewer: org(ASST),
            pathway: c.pathway.clone()
        })
    );
}

#[test]
fn purposes_read_from_their_names_and_nothing_else() {
    for purpose in Purpose::ALL {
        assert_eq!(purpose.as_str().parse(), Ok(purpose));
    }
    assert_eq!(
        "cura".parse::<Purpose>(),
        Err("'cura' is not a purpose: use care, audit or governance".to_owned())
    );
}

#[test]
fn a_timeline_reads_back_from_json() {
    let c = crafted();
    let t = timeline(&c, ASST, Purpose::Audit, AS_OF);
    let json = serde_json::to_string(&t).expect("serialises");
    let back: Timeline = serde_json::from_str(&json).expect("reads back");
    assert_eq!(back, t);
}
