//! Tests of [`super`]: crafted histories of real events (every command decided and evolved as the
//! gateway would), fed to a [`Book`] under the shipped protocols. The only clock is the events'
//! times and the instants given to [`Book::fire`].

use std::sync::OnceLock;

use proptest::prelude::*;
use time::macros::{date, datetime, offset};
use time::{Date, Duration, OffsetDateTime};

use super::*;
use crate::ids::AtsCode;
use crate::pathway::finding::RecordFinding;
use crate::pathway::{Context, Decision, Event, decide};
use crate::testing::{
    Log, complete_uvm, comune, joint_assessment, org, participant, person, pua_plan, rules,
};

// ---- the parties --------------------------------------------------------------------------------

/// ASST Ovest Milanese: its hospital asks for the Magentino's protected discharges, its Casa di
/// Comunità hosts the Magentino's PUA.
const ASST_OVEST_MILANESE: &str = "asst:705";
/// ASST Nord Milano: the same for the Ambito of Cinisello Balsamo.
const ASST_NORD_MILANO: &str = "asst:707";
/// ASST Niguarda, in Milano: readmits a patient discharged elsewhere.
const NIGUARDA: &str = "asst:701";
/// A Comune of the Magentino (Ambito 50032, Distretto 22004).
const MAGENTA: &str = "comune:magenta";
/// Delivers services for the Comuni of the Magentino.
const ASCSP: &str = "ente:ascsp";
/// A Comune of the Ambito of Cinisello Balsamo (50069).
const CINISELLO: &str = "comune:cinisello-balsamo";
/// The Centro per la Famiglia of the Ambito of Cinisello Balsamo.
const OFFICINA: &str = "centro:officina-dei-legami";
/// Monitors both Ambiti; findings are recorded in its name.
const ATS_MILANO: &str = "321";

const MAGENTINO_PROTOCOL: &str = "ovest-milanese-magentino";
const CINISELLO_PROTOCOL: &str = "nord-milano-cinisello";

// ---- time ---------------------------------------------------------------------------------------

/// A Monday with no holiday in its fortnight, in winter time (10:00 in Italy); both shipped
/// protocols are in force.
const MONDAY: OffsetDateTime = datetime!(2026-03-02 09:00 UTC);

fn day(n: i64) -> OffsetDateTime {
    MONDAY + Duration::days(n)
}

/// Long after every deadline of the histories below.
const LATER: OffsetDateTime = datetime!(2026-12-31 00:00 UTC);

fn minutes_between(since: OffsetDateTime, until: OffsetDateTime) -> u64 {
    u64::try_from((until - since).whole_minutes()).expect("until is after since")
}

// ---- the rules ----------------------------------------------------------------------------------

fn ats_recorder() -> Actor {
    let ats: AtsCode = ATS_MILANO.parse().expect("a well-formed ATS code");
    finding::recorder(&ats)
}

// ---- the commands -------------------------------------------------------------------------------

/// A protected discharge of person 1 from the general medicine ward, needing C-DOM only.
fn discharge_request(residence: &str, expected_discharge: Date) -> dp::Request {
    dp::Request {
        subject_ref: person(1),
        ward: "Medicina generale".into(),
        residence: comune(residence),
        expected_discharge,
        needs: vec![Service::CDom],
        lives_alone: true,
        no_caregiver: false,
    }
}

fn request(residence: &str, expected_discharge: Date) -> dp::Command {
    dp::Command::Request(discharge_request(residence, expected_discharge))
}

fn request_needing_sad(residence: &str, expected_discharge: Date) -> dp::Command {
    dp::Command::Request(dp::Request {
        needs: vec![Service::Sad, Service::CDom],
        ..discharge_request(residence, expected_discharge)
    })
}

/// The usual joint assessment: the ward's physician and the Comune's social worker.
fn joint_assessment_with_social_worker(assessed_on: Date) -> dp::Command {
    joint_assessment(
        assessed_on,
        vec![
            participant(ASST_OVEST_MILANESE, Role::Physician),
            participant(MAGENTA, Role::SocialWorker),
        ],
    )
}

fn care_plan(services: Vec<Service>, case_manager: Option<Participant>) -> dp::Command {
    dp::Command::AgreeCarePlan(dp::AgreeCarePlan {
        services,
        case_manager,
    })
}

fn discharged_home(discharged_on: Date) -> dp::Command {
    dp::Command::RecordDischarge(dp::RecordDischarge {
        discharged_on,
        destination: dp::Destination::Home,
    })
}

fn activate(services: Vec<Service>, activated_on: Date) -> dp::Command {
    dp::Command::ActivateHomeServices(dp::ActivateHomeServices {
        services,
        activated_on,
    })
}

fn readmitted(readmitted_on: Date) -> dp::Command {
    dp::Command::RecordReadmission(dp::RecordReadmission { readmitted_on })
}

fn change_expected_date(expected_discharge: Date) -> dp::Command {
    dp::Command::ChangeExpectedDate(dp::ChangeExpectedDate {
        expected_discharge,
        reason: dp::DateChangeReason::AwaitingHomeServices,
    })
}

fn cancel() -> dp::Command {
    dp::Command::Cancel {
        reason: dp::CancelReason::PatientRefused,
    }
}

/// An access of person `subject`, resident in Magenta, to the Magentino's PUA.
fn pua_access(subject: u8, channel: pua::Channel) -> pua::Command {
    pua::Command::RegisterAccess(pua::RegisterAccess {
        subject_ref: person(subject),
        residence: comune(MAGENTA),
        asst: "705".parse().expect("a well-formed ASST code"),
        channel,
    })
}

/// Plays a Magentino PUA intake up to the UVM request: the pathway's id.
fn pua_until_uvm_requested(log: &mut Log, at: OffsetDateTime) -> PathwayId {
    let (intake, _) = log.open(
        ASST_OVEST_MILANESE,
        at,
        pua_access(4, pua::Channel::GeneralPractitioner),
    );
    log.run(
        &intake,
        ASST_OVEST_MILANESE,
        at + Duration::hours(1),
        pua::Command::RecordPreliminaryAssessment {
            triage: pua::Triage::Complex,
        },
    );
    log.run(
        &intake,
        MAGENTA,
        at + Duration::hours(2),
        pua::Command::RequestUvm,
    );
    intake
}

fn referral(subject: u8) -> cf::Command {
    cf::Command::SendReferral(cf::SendReferral {
        subject_ref: person(subject),
        residence: comune(CINISELLO),
        centro: "officina-dei-legami"
            .parse()
            .expect("a well-formed Centro id"),
        referrer: cf::Referrer::ComuneSocialService,
        areas: vec![cf::SupportArea::ParentingSupport],
    })
}

// ---- reconciling --------------------------------------------------------------------------------

fn observe_all(book: &mut Book, events: &[RecordedEvent]) -> Vec<Found> {
    events
        .iter()
        .flat_map(|event| book.observe(rules(), event))
        .collect()
}

/// What a fresh book finds in the whole log, once the deadlines up to `until` have fired.
fn reconcile(log: &Log, until: OffsetDateTime) -> Vec<Found> {
    reconcile_events(&log.events, until)
}

fn reconcile_events(events: &[RecordedEvent], until: OffsetDateTime) -> Vec<Found> {
    let mut book = Book::default();
    let mut found = observe_all(&mut book, events);
    found.extend(book.fire(rules(), until));
    found
}

/// The findings about one step of a protocol, in order.
fn of_step(found: &[Found], step: &str) -> Vec<Finding> {
    found
        .iter()
        .filter(|f| f.finding.step.as_ref().is_some_and(|s| s.step == step))
        .map(|f| f.finding.clone())
        .collect()
}

/// The findings of one kind, in order.
fn of_kind(found: &[Found], kind: FindingKind) -> Vec<Finding> {
    found
        .iter()
        .filter(|f| f.finding.finding == kind)
        .map(|f| f.finding.clone())
        .collect()
}

fn step_ref(protocol: &str, step: &str) -> Option<StepRef> {
    Some(StepRef {
        protocol: protocol.to_owned(),
        version: 1,
        step: step.to_owned(),
    })
}

/// A finding about an event that showed the problem, with nothing else to say.
fn about(kind: FindingKind, event: &EventId) -> Finding {
    Finding {
        event_id: Some(event.clone()),
        ..Finding::new(kind)
    }
}

/// A step of the Magentino protocol left open past its deadline.
fn magentino_overdue(
    kind: FindingKind,
    step: &str,
    opened_by: &EventId,
    party: &str,
    since: OffsetDateTime,
    due: OffsetDateTime,
) -> Finding {
    Finding {
        finding: kind,
        step: step_ref(MAGENTINO_PROTOCOL, step),
        event_id: Some(opened_by.clone()),
        party: Some(org(party)),
        since: Some(since),
        due: Some(due),
        closed_at: None,
        waited_minutes: Some(minutes_between(since, due)),
        related_pathway: None,
    }
}

// ---- deadlines as the reconciler keeps them ------------------------------------------------------

#[test]
fn two_working_days_from_the_thursday_before_easter_end_with_tuesday() {
    // Easter 2026 is 5 April: Good Friday is a working day in Italy, Easter Monday is not.
    let since = datetime!(2026-04-02 08:00 UTC);
    let mut log = Log::default();
    let (discharge, requested) = log.open(
        ASST_OVEST_MILANESE,
        since,
        request(MAGENTA, date!(2026 - 04 - 20)),
    );
    let due = datetime!(2026-04-07 22:00 UTC);
    assert_eq!(due.to_offset(offset!(+2)), datetime!(2026-04-08 00:00 +2));
    let mut book = Book::default();
    let mut found = observe_all(&mut book, &log.events);
    found.extend(book.fire(rules(), due - Duration::SECOND));
    assert_eq!(
        of_step(&found, "dp-presa-in-carico"),
        [],
        "on time until the end of Tuesday"
    );
    found.extend(book.fire(rules(), due));
    let presa = step_ref(MAGENTINO_PROTOCOL, "dp-presa-in-carico");
    let reported: Vec<Found> = found
        .into_iter()
        .filter(|f| f.finding.step == presa)
        .collect();
    assert_eq!(
        reported,
        [Found {
            pathway: discharge,
            recorder: ats_recorder(),
            finding: Finding {
                finding: FindingKind::StepOverdue,
                step: presa.clone(),
                event_id: Some(requested),
                party: Some(org(MAGENTA)),
                since: Some(since),
                due: Some(due),
                closed_at: None,
                waited_minutes: Some(5 * 24 * 60 + 14 * 60),
                related_pathway: None,
            },
        }]
    );
}

#[test]
fn a_step_closed_just_before_local_midnight_is_on_time() {
    let since = datetime!(2026-04-02 08:00 UTC);
    let mut log = Log::default();
    let (discharge, _) = log.open(
        ASST_OVEST_MILANESE,
        since,
        request(MAGENTA, date!(2026 - 04 - 20)),
    );
    // 23:59:59 on Tuesday 7 April in Italy.
    log.run(
        &discharge,
        MAGENTA,
        datetime!(2026-04-07 21:59:59 UTC),
        dp::Command::Receive,
    );
    assert_eq!(of_step(&reconcile(&log, LATER), "dp-presa-in-carico"), []);
}

#[test]
fn a_step_closed_at_the_instant_it_falls_due_is_late() {
    // The calendar's deadline is the first instant at which the step is late.
    let since = datetime!(2026-04-02 08:00 UTC);
    let due = datetime!(2026-04-07 22:00 UTC);
    let mut log = Log::default();
    let (discharge, requested) = log.open(
        ASST_OVEST_MILANESE,
        since,
        request(MAGENTA, date!(2026 - 04 - 20)),
    );
    log.run(&discharge, MAGENTA, due, dp::Command::Receive);
    let overdue = magentino_overdue(
        FindingKind::StepOverdue,
        "dp-presa-in-carico",
        &requested,
        MAGENTA,
        since,
        due,
    );
    let closed = Finding {
        finding: FindingKind::OverdueStepClosed,
        closed_at: Some(due),
        ..overdue.clone()
    };
    assert_eq!(
        of_step(&reconcile(&log, LATER), "dp-presa-in-carico"),
        [overdue, closed]
    );
}

#[test]
fn working_days_from_new_years_eve_skip_new_years_day_and_the_weekend() {
    // Wednesday 31 December 2025, 15:00 in Italy; 1 January is a holiday, 2 January a Friday.
    let since = datetime!(2025-12-31 14:00 UTC);
    let mut log = Log::default();
    let (_, requested) = log.open(
        ASST_OVEST_MILANESE,
        since,
        request(MAGENTA, date!(2026 - 01 - 20)),
    );
    let found = reconcile(&log, LATER);
    // One working day: Friday 2 January.
    assert_eq!(
        of_step(&found, "dp-conferma-ricezione"),
        [magentino_overdue(
            FindingKind::NeverAcknowledged,
            "dp-conferma-ricezione",
            &requested,
            MAGENTA,
            since,
            datetime!(2026-01-02 23:00 UTC),
        )]
    );
    // Two working days: Friday 2 and Monday 5 January (the Epiphany is on the Tuesday).
    assert_eq!(
        of_step(&found, "dp-presa-in-carico"),
        [magentino_overdue(
            FindingKind::StepOverdue,
            "dp-presa-in-carico",
            &requested,
            MAGENTA,
            since,
            datetime!(2026-01-05 23:00 UTC),
        )]
    );
}

#[test]
fn a_working_day_deadline_across_the_march_clock_change_ends_at_summer_midnight() {
    // Friday 27 March 2026, 10:00 in Italy; the clocks go forward on Sunday 29 March.
    let since = datetime!(2026-03-27 09:00 UTC);
    let mut log = Log::default();
    let (_, requested) = log.open(
        ASST_OVEST_MILANESE,
        since,
        request(MAGENTA, date!(2026 - 03 - 29)),
    );
    let found = reconcile(&log, LATER);
    // The end of Tuesday 31 March is midnight CEST, 22:00 UTC.
    let due = datetime!(2026-03-31 22:00 UTC);
    assert_eq!(due.to_offset(offset!(+2)), datetime!(2026-04-01 00:00 +2));
    assert_eq!(
        of_step(&found, "dp-presa-in-carico"),
        [magentino_overdue(
            FindingKind::StepOverdue,
            "dp-presa-in-carico",
            &requested,
            MAGENTA,
            since,
            due,
        )]
    );
    // Sunday 29 March is the 23-hour day: it ends at midnight CEST, 22:00 UTC.
    assert_eq!(
        of_step(&found, "dp-dimissione-alla-data"),
        [magentino_overdue(
            FindingKind::DischargeWithoutDestination,
            "dp-dimissione-alla-data",
            &requested,
            ASST_OVEST_MILANESE,
            since,
            datetime!(2026-03-29 22:00 UTC),
        )]
    );
}

#[test]
fn a_working_day_deadline_across_the_october_clock_change_ends_at_winter_midnight() {
    // Friday 23 October 2026, 10:00 in Italy; the clocks go back on Sunday 25 October.
    let since = datetime!(2026-10-23 08:00 UTC);
    let mut log = Log::default();
    let (_, requested) = log.open(
        ASST_OVEST_MILANESE,
        since,
        request(MAGENTA, date!(2026 - 11 - 20)),
    );
    let due = datetime!(2026-10-27 23:00 UTC);
    assert_eq!(due.to_offset(offset!(+1)), datetime!(2026-10-28 00:00 +1));
    assert_eq!(
        of_step(&reconcile(&log, LATER), "dp-presa-in-carico"),
        [magentino_overdue(
            FindingKind::StepOverdue,
            "dp-presa-in-carico",
            &requested,
            MAGENTA,
            since,
            due,
        )]
    );
}

#[test]
fn forty_eight_hours_across_the_clock_change_are_forty_eight_elapsed_hours() {
    // Cinisello's protocol gives 48 hours. Saturday 28 March 2026, 12:00 CET: 48 hours later the
    // clocks in Italy show 13:00 CEST.
    let since = datetime!(2026-03-28 11:00 UTC);
    let mut log = Log::default();
    let (_, requested) = log.open(
        ASST_NORD_MILANO,
        since,
        request(CINISELLO, date!(2026 - 04 - 20)),
    );
    let due = datetime!(2026-03-30 11:00 UTC);
    assert_eq!(due.to_offset(offset!(+2)), datetime!(2026-03-30 13:00 +2));
    assert_eq!(
        of_step(&reconcile(&log, LATER), "dp-presa-in-carico"),
        [Finding {
            finding: FindingKind::StepOverdue,
            step: step_ref(CINISELLO_PROTOCOL, "dp-presa-in-carico"),
            event_id: Some(requested),
            party: Some(org(CINISELLO)),
            since: Some(since),
            due: Some(due),
            closed_at: None,
            waited_minutes: Some(48 * 60),
            related_pathway: None,
        }]
    );
}

#[test]
fn a_deadline_by_the_expected_discharge_moves_with_the_date() {
    let mut log = Log::default();
    let (discharge, requested) = log.open(
        ASST_OVEST_MILANESE,
        MONDAY,
        request(MAGENTA, date!(2026 - 03 - 10)),
    );
    log.run(
        &discharge,
        ASST_OVEST_MILANESE,
        day(2),
        change_expected_date(date!(2026 - 03 - 13)),
    );
    let mut book = Book::default();
    let mut found = observe_all(&mut book, &log.events);
    // The old deadline, the end of 10 March, passes unreported.
    found.extend(book.fire(rules(), datetime!(2026-03-12 12:00 UTC)));
    assert_eq!(of_step(&found, "dp-dimissione-alla-data"), []);
    found.extend(book.fire(rules(), LATER));
    assert_eq!(
        of_step(&found, "dp-dimissione-alla-data"),
        [magentino_overdue(
            FindingKind::DischargeWithoutDestination,
            "dp-dimissione-alla-data",
            &requested,
            ASST_OVEST_MILANESE,
            MONDAY,
            datetime!(2026-03-13 23:00 UTC),
        )]
    );
}

#[test]
fn a_deadline_before_the_expected_discharge_comes_forward_with_an_earlier_date() {
    let mut log = Log::default();
    let (discharge, _) = log.open(
        ASST_OVEST_MILANESE,
        MONDAY,
        request(MAGENTA, date!(2026 - 03 - 20)),
    );
    let received = log.run(
        &discharge,
        MAGENTA,
        day(0) + Duration::hours(2),
        dp::Command::Receive,
    );
    log.run(
        &discharge,
        ASST_OVEST_MILANESE,
        day(1),
        change_expected_date(date!(2026 - 03 - 05)),
    );
    // The joint assessment is due before 5 March begins, no longer before 20 March.
    assert_eq!(
        of_step(&reconcile(&log, LATER), "dp-valutazione-congiunta"),
        [magentino_overdue(
            FindingKind::StepOverdue,
            "dp-valutazione-congiunta",
            &received,
            MAGENTA,
            day(0) + Duration::hours(2),
            datetime!(2026-03-04 23:00 UTC),
        )]
    );
}

// ---- each finding -------------------------------------------------------------------------------

#[test]
fn a_step_closed_after_its_deadline_is_reported_overdue_then_closed_late() {
    let mut log = Log::default();
    let (discharge, requested) = log.open(
        ASST_OVEST_MILANESE,
        MONDAY,
        request(MAGENTA, date!(2026 - 03 - 20)),
    );
    let closed_at = day(4) + Duration::hours(1);
    log.run(&discharge, MAGENTA, closed_at, dp::Command::Receive);
    // Two working days: Tuesday and Wednesday.
    let due = datetime!(2026-03-04 23:00 UTC);
    let overdue = magentino_overdue(
        FindingKind::StepOverdue,
        "dp-presa-in-carico",
        &requested,
        MAGENTA,
        MONDAY,
        due,
    );
    assert_eq!(overdue.waited_minutes, Some(62 * 60));
    let closed = Finding {
        finding: FindingKind::OverdueStepClosed,
        step: step_ref(MAGENTINO_PROTOCOL, "dp-presa-in-carico"),
        event_id: Some(requested),
        party: Some(org(MAGENTA)),
        since: Some(MONDAY),
        due: Some(due),
        closed_at: Some(closed_at),
        waited_minutes: Some(4 * 24 * 60 + 60),
        related_pathway: None,
    };
    let mut book = Book::default();
    let found = observe_all(&mut book, &log.events);
    assert_eq!(of_step(&found, "dp-presa-in-carico"), [overdue, closed]);
    assert!(
        book.pathways[&discharge]
            .steps
            .iter()
            .all(|s| s.step.step != "dp-presa-in-carico"),
        "the step is closed"
    );
}

#[test]
fn deadlines_fired_a_few_at_a_time_give_the_findings_of_firing_them_at_once() {
    let mut log = Log::default();
    for (n, residence) in [MAGENTA, MAGENTA, MAGENTA].into_iter().enumerate() {
        log.open(
            ASST_OVEST_MILANESE,
            MONDAY + Duration::minutes(n as i64),
            request(residence, date!(2026 - 03 - 20)),
        );
    }
    let mut whole = Book::default();
    observe_all(&mut whole, &log.events);
    let at_once = whole.fire(rules(), LATER);
    assert!(
        at_once.len() >= 3,
        "every request leaves a deadline: {at_once:?}"
    );

    let mut parts = Book::default();
    observe_all(&mut parts, &log.events);
    let mut by_two = Vec::new();
    loop {
        let part = parts.fire_at_most(rules(), LATER, 2);
        assert!(part.len() <= 2);
        if part.is_empty() {
            break;
        }
        by_two.extend(part);
    }
    assert_eq!(by_two, at_once);
    assert_eq!(parts.pending(), 0);
    assert_eq!(parts.pending(), whole.pending());

    // The same deadlines fired by the first event after the quiet: all within `observe`, or a
    // part at a time before it, in the same order either way.
    let before = log.events.len();
    let (late, _) = log.open(
        ASST_OVEST_MILANESE,
        LATER,
        request(MAGENTA, date!(2027 - 01 - 20)),
    );
    let event = log.events.last().unwrap().clone();
    assert_eq!(event.event.pathway, late);
    let quiet = &log.events[..before];
    let mut observed = Book::default();
    observe_all(&mut observed, quiet);
    let in_observe = observed.observe(rules(), &event);
    let mut stepped = Book::default();
    observe_all(&mut stepped, quiet);
    let mut in_parts = Vec::new();
    loop {
        let part = stepped.fire_before(rules(), &event, 2);
        let more = part.len() == 2;
        in_parts.extend(part);
        if !more {
            break;
        }
    }
    in_parts.extend(stepped.observe(rules(), &event));
    assert_eq!(in_parts, in_observe);
    assert_eq!(
        in_parts[..at_once.len()],
        at_once[..],
        "the quiet's deadlines first"
    );
    assert_eq!(stepped.fire_before(rules(), &event, 2), []);
}

#[test]
fn a_request_not_acknowledged_by_the_next_working_day_is_reported() {
    let mut log = Log::default();
    let (_, requested) = log.open(
        ASST_OVEST_MILANESE,
        MONDAY,
        request(MAGENTA, date!(2026 - 03 - 20)),
    );
    let found = reconcile(&log, LATER);
    let never = magentino_overdue(
        FindingKind::NeverAcknowledged,
        "dp-conferma-ricezione",
        &requested,
        MAGENTA,
        MONDAY,
        datetime!(2026-03-03 23:00 UTC),
    );
    assert_eq!(never.waited_minutes, Some(38 * 60));
    assert_eq!(of_kind(&found, FindingKind::NeverAcknowledged), [never]);
}

#[test]
fn a_receipt_by_the_responsible_party_in_time_closes_the_step() {
    let mut log = Log::default();
    let (discharge, requested) = log.open(
        ASST_OVEST_MILANESE,
        MONDAY,
        request(MAGENTA, date!(2026 - 03 - 20)),
    );
    log.acknowledge(&discharge, MAGENTA, day(1), &requested);
    assert_eq!(
        of_kind(&reconcile(&log, LATER), FindingKind::NeverAcknowledged),
        []
    );
}

#[test]
fn a_receipt_by_another_party_does_not_close_the_step() {
    let mut log = Log::default();
    let (discharge, requested) = log.open(
        ASST_OVEST_MILANESE,
        MONDAY,
        request(MAGENTA, date!(2026 - 03 - 20)),
    );
    // The body delivering Magenta's services reads the request; Magenta itself never does.
    log.acknowledge(&discharge, ASCSP, day(1), &requested);
    assert_eq!(
        of_kind(&reconcile(&log, LATER), FindingKind::NeverAcknowledged),
        [magentino_overdue(
            FindingKind::NeverAcknowledged,
            "dp-conferma-ricezione",
            &requested,
            MAGENTA,
            MONDAY,
            datetime!(2026-03-03 23:00 UTC),
        )]
    );
}

#[test]
fn a_receipt_of_another_event_does_not_close_the_step() {
    let mut log = Log::default();
    let (discharge, _) = log.open(
        ASST_OVEST_MILANESE,
        MONDAY,
        request(MAGENTA, date!(2026 - 03 - 20)),
    );
    let changed = log.run(
        &discharge,
        ASST_OVEST_MILANESE,
        day(0) + Duration::hours(1),
        change_expected_date(date!(2026 - 03 - 25)),
    );
    log.acknowledge(&discharge, MAGENTA, day(1), &changed);
    assert_eq!(
        of_kind(&reconcile(&log, LATER), FindingKind::NeverAcknowledged).len(),
        1
    );
}

#[test]
fn a_late_receipt_closes_the_step_late() {
    let mut log = Log::default();
    let (discharge, requested) = log.open(
        ASST_OVEST_MILANESE,
        MONDAY,
        request(MAGENTA, date!(2026 - 03 - 20)),
    );
    log.acknowledge(&discharge, MAGENTA, day(2), &requested);
    let due = datetime!(2026-03-03 23:00 UTC);
    assert_eq!(
        of_step(&reconcile(&log, LATER), "dp-conferma-ricezione"),
        [
            magentino_overdue(
                FindingKind::NeverAcknowledged,
                "dp-conferma-ricezione",
                &requested,
                MAGENTA,
                MONDAY,
                due,
            ),
            Finding {
                finding: FindingKind::OverdueStepClosed,
                step: step_ref(MAGENTINO_PROTOCOL, "dp-conferma-ricezione"),
                event_id: Some(requested),
                party: Some(org(MAGENTA)),
                since: Some(MONDAY),
                due: Some(due),
                closed_at: Some(day(2)),
                waited_minutes: Some(2 * 24 * 60),
                related_pathway: None,
            },
        ]
    );
}

/// Two protected discharge requests for person 1, the second `after` the first, from `ward`.
fn two_requests(after: Duration, ward: &str) -> (Log, PathwayId, PathwayId, EventId) {
    let mut log = Log::default();
    let (first, _) = log.open(
        ASST_OVEST_MILANESE,
        MONDAY,
        request(MAGENTA, date!(2026 - 06 - 30)),
    );
    let (second, requested) = log.open(
        ASST_OVEST_MILANESE,
        MONDAY + after,
        dp::Command::Request(dp::Request {
            ward: ward.into(),
            ..discharge_request(MAGENTA, date!(2026 - 06 - 30))
        }),
    );
    (log, first, second, requested)
}

#[test]
fn a_second_request_for_one_person_from_another_ward_is_a_possible_duplicate() {
    let (log, first, second, requested) = two_requests(Duration::days(1), "Cardiologia");
    let found = reconcile(&log, LATER);
    let duplicates: Vec<&Found> = found
        .iter()
        .filter(|f| f.finding.finding == FindingKind::PossibleDuplicate)
        .collect();
    assert_eq!(duplicates.len(), 1);
    assert_eq!(
        duplicates[0].pathway, second,
        "reported on the later pathway"
    );
    assert_eq!(
        duplicates[0].finding,
        Finding {
            related_pathway: Some(first),
            ..about(FindingKind::PossibleDuplicate, &requested)
        }
    );
}

#[test]
fn a_second_request_from_the_same_ward_is_a_retry_not_a_duplicate() {
    let (log, ..) = two_requests(Duration::days(1), "Medicina generale");
    assert_eq!(
        of_kind(&reconcile(&log, LATER), FindingKind::PossibleDuplicate),
        []
    );
}

#[test]
fn a_second_request_on_the_last_day_of_the_window_is_a_possible_duplicate() {
    let (log, ..) = two_requests(Duration::days(30), "Cardiologia");
    assert_eq!(
        of_kind(&reconcile(&log, LATER), FindingKind::PossibleDuplicate).len(),
        1
    );
}

#[test]
fn a_second_request_beyond_the_window_is_not_a_duplicate() {
    let (log, ..) = two_requests(Duration::days(31), "Cardiologia");
    assert_eq!(
        of_kind(&reconcile(&log, LATER), FindingKind::PossibleDuplicate),
        []
    );
}

#[test]
fn a_second_request_after_the_first_ended_is_not_a_duplicate() {
    let mut log = Log::default();
    let (first, _) = log.open(
        ASST_OVEST_MILANESE,
        MONDAY,
        request(MAGENTA, date!(2026 - 03 - 20)),
    );
    log.run(
        &first,
        ASST_OVEST_MILANESE,
        day(0) + Duration::hours(1),
        cancel(),
    );
    log.open(
        ASST_OVEST_MILANESE,
        day(1),
        dp::Command::Request(dp::Request {
            ward: "Cardiologia".into(),
            ..discharge_request(MAGENTA, date!(2026 - 03 - 20))
        }),
    );
    assert_eq!(
        of_kind(&reconcile(&log, LATER), FindingKind::PossibleDuplicate),
        []
    );
}

#[test]
fn two_pua_accesses_of_one_person_from_different_channels_are_possible_duplicates() {
    let mut log = Log::default();
    let (first, _) = log.open(
        ASST_OVEST_MILANESE,
        MONDAY,
        pua_access(5, pua::Channel::GeneralPractitioner),
    );
    let (second, registered) = log.open(
        ASST_OVEST_MILANESE,
        day(3),
        pua_access(5, pua::Channel::SocialServices),
    );
    log.open(
        ASST_OVEST_MILANESE,
        day(4),
        pua_access(5, pua::Channel::SocialServices),
    );
    let found = reconcile(&log, LATER);
    let duplicates: Vec<(PathwayId, Finding)> = found
        .into_iter()
        .filter(|f| f.finding.finding == FindingKind::PossibleDuplicate)
        .map(|f| (f.pathway, f.finding))
        .collect();
    // The third access comes from the same channel as the second: only the first differs,
    // and the third is a duplicate of it too.
    assert_eq!(duplicates.len(), 2);
    assert_eq!(
        duplicates[0],
        (
            second,
            Finding {
                related_pathway: Some(first.clone()),
                ..about(FindingKind::PossibleDuplicate, &registered)
            }
        )
    );
    assert_eq!(duplicates[1].1.related_pathway, Some(first));
}

#[test]
fn a_joint_assessment_without_a_municipal_social_worker_is_reported() {
    let mut log = Log::default();
    let (discharge, _) = log.open(
        ASST_OVEST_MILANESE,
        MONDAY,
        request(MAGENTA, date!(2026 - 03 - 20)),
    );
    log.run(
        &discharge,
        MAGENTA,
        day(0) + Duration::hours(1),
        dp::Command::Receive,
    );
    // The hospital's own social worker is not the Comune's.
    let assessed = log.run(
        &discharge,
        ASST_OVEST_MILANESE,
        day(1),
        joint_assessment(
            day(1).date(),
            vec![
                participant(ASST_OVEST_MILANESE, Role::Physician),
                participant(ASST_OVEST_MILANESE, Role::SocialWorker),
            ],
        ),
    );
    assert_eq!(
        of_kind(
            &reconcile(&log, LATER),
            FindingKind::AssessmentWithoutSocialWorker
        ),
        [about(FindingKind::AssessmentWithoutSocialWorker, &assessed)]
    );
}

#[test]
fn a_uvm_without_a_municipal_social_worker_is_reported() {
    let mut log = Log::default();
    let intake = pua_until_uvm_requested(&mut log, MONDAY);
    let completed = log.run(
        &intake,
        ASST_OVEST_MILANESE,
        day(2),
        complete_uvm(
            day(2).date(),
            vec![
                participant(ASST_OVEST_MILANESE, Role::Physician),
                participant(ASST_OVEST_MILANESE, Role::Nurse),
            ],
        ),
    );
    assert_eq!(
        of_kind(
            &reconcile(&log, LATER),
            FindingKind::AssessmentWithoutSocialWorker
        ),
        [about(
            FindingKind::AssessmentWithoutSocialWorker,
            &completed
        )]
    );
}

#[test]
fn an_assessment_with_a_social_worker_of_the_comune_or_its_delivering_body_is_not_reported() {
    let mut log = Log::default();
    let (discharge, _) = log.open(
        ASST_OVEST_MILANESE,
        MONDAY,
        request(MAGENTA, date!(2026 - 03 - 20)),
    );
    log.run(
        &discharge,
        MAGENTA,
        day(0) + Duration::hours(1),
        dp::Command::Receive,
    );
    log.run(
        &discharge,
        ASST_OVEST_MILANESE,
        day(1),
        joint_assessment_with_social_worker(day(1).date()),
    );
    let intake = pua_until_uvm_requested(&mut log, day(1));
    log.run(
        &intake,
        ASST_OVEST_MILANESE,
        day(2),
        complete_uvm(
            day(2).date(),
            vec![
                participant(ASST_OVEST_MILANESE, Role::Physician),
                participant(ASCSP, Role::SocialWorker),
            ],
        ),
    );
    assert_eq!(
        of_kind(
            &reconcile(&log, LATER),
            FindingKind::AssessmentWithoutSocialWorker
        ),
        []
    );
}

#[test]
fn an_assessment_not_followed_by_a_plan_in_three_working_days_is_reported() {
    let mut log = Log::default();
    let (discharge, _) = log.open(
        ASST_OVEST_MILANESE,
        MONDAY,
        request(MAGENTA, date!(2026 - 03 - 20)),
    );
    log.run(
        &discharge,
        MAGENTA,
        day(0) + Duration::hours(3),
        dp::Command::Receive,
    );
    let assessed_at = day(1) + Duration::hours(1);
    let assessed = log.run(
        &discharge,
        ASST_OVEST_MILANESE,
        assessed_at,
        joint_assessment_with_social_worker(day(1).date()),
    );
    // Wednesday, Thursday, Friday.
    let due = datetime!(2026-03-06 23:00 UTC);
    assert_eq!(
        of_kind(&reconcile(&log, LATER), FindingKind::AssessmentWithoutPlan),
        [magentino_overdue(
            FindingKind::AssessmentWithoutPlan,
            "dp-progetto-dopo-valutazione",
            &assessed,
            MAGENTA,
            assessed_at,
            due,
        )]
    );
    log.run(
        &discharge,
        MAGENTA,
        due - Duration::HOUR,
        care_plan(
            vec![Service::CDom],
            Some(participant(MAGENTA, Role::SocialWorker)),
        ),
    );
    assert_eq!(
        of_kind(&reconcile(&log, LATER), FindingKind::AssessmentWithoutPlan),
        [],
        "a plan in time"
    );
}

#[test]
fn a_care_plan_without_a_case_manager_is_reported() {
    let mut log = Log::default();
    let (discharge, _) = log.open(
        ASST_OVEST_MILANESE,
        MONDAY,
        request(MAGENTA, date!(2026 - 03 - 20)),
    );
    log.run(
        &discharge,
        MAGENTA,
        day(0) + Duration::hours(1),
        dp::Command::Receive,
    );
    log.run(
        &discharge,
        ASST_OVEST_MILANESE,
        day(1),
        joint_assessment_with_social_worker(day(1).date()),
    );
    let planned = log.run(
        &discharge,
        MAGENTA,
        day(2),
        care_plan(vec![Service::CDom], None),
    );
    assert_eq!(
        of_kind(&reconcile(&log, LATER), FindingKind::PlanWithoutCaseManager),
        [about(FindingKind::PlanWithoutCaseManager, &planned)]
    );
}

#[test]
fn a_pua_plan_without_a_case_manager_is_reported_and_one_with_is_not() {
    let mut log = Log::default();
    let intake = pua_until_uvm_requested(&mut log, MONDAY);
    log.run(
        &intake,
        ASST_OVEST_MILANESE,
        day(2),
        complete_uvm(
            day(2).date(),
            vec![
                participant(ASST_OVEST_MILANESE, Role::Physician),
                participant(MAGENTA, Role::SocialWorker),
            ],
        ),
    );
    let without = log.run(&intake, MAGENTA, day(3), pua_plan(None));
    log.run(
        &intake,
        MAGENTA,
        day(4),
        pua_plan(Some(participant(MAGENTA, Role::SocialWorker))),
    );
    assert_eq!(
        of_kind(&reconcile(&log, LATER), FindingKind::PlanWithoutCaseManager),
        [about(FindingKind::PlanWithoutCaseManager, &without)]
    );
}

/// A Magentino patient needing SAD, discharged home on Tuesday 10 March at 11:00 in Italy: the
/// log, the pathway, and the discharge event.
fn discharged_needing_sad() -> (Log, PathwayId, EventId) {
    let mut log = Log::default();
    let (discharge, _) = log.open(
        ASST_OVEST_MILANESE,
        MONDAY,
        request_needing_sad(MAGENTA, date!(2026 - 03 - 10)),
    );
    let discharged = log.run(
        &discharge,
        ASST_OVEST_MILANESE,
        day(8) + Duration::hours(1),
        discharged_home(day(8).date()),
    );
    (log, discharge, discharged)
}

#[test]
fn a_discharge_needing_sad_with_none_activated_by_the_end_of_the_day_is_reported() {
    let (log, _, discharged) = discharged_needing_sad();
    assert_eq!(
        of_kind(&reconcile(&log, LATER), FindingKind::SadNotActivated),
        [magentino_overdue(
            FindingKind::SadNotActivated,
            "dp-sad-alla-dimissione",
            &discharged,
            MAGENTA,
            day(8) + Duration::hours(1),
            datetime!(2026-03-10 23:00 UTC),
        )]
    );
}

#[test]
fn sad_activated_on_the_day_of_the_discharge_is_not_reported() {
    let (mut log, discharge, _) = discharged_needing_sad();
    log.run(
        &discharge,
        MAGENTA,
        day(8) + Duration::hours(6),
        activate(vec![Service::Sad], day(8).date()),
    );
    assert_eq!(
        of_kind(&reconcile(&log, LATER), FindingKind::SadNotActivated),
        []
    );
}

#[test]
fn home_services_without_sad_do_not_close_the_sad_step() {
    let (mut log, discharge, _) = discharged_needing_sad();
    log.run(
        &discharge,
        ASST_OVEST_MILANESE,
        day(8) + Duration::hours(6),
        activate(vec![Service::CDom], day(8).date()),
    );
    assert_eq!(
        of_kind(&reconcile(&log, LATER), FindingKind::SadNotActivated).len(),
        1
    );
}

#[test]
fn a_discharge_needing_no_sad_opens_no_sad_step() {
    let mut log = Log::default();
    let (discharge, _) = log.open(
        ASST_OVEST_MILANESE,
        MONDAY,
        request(MAGENTA, date!(2026 - 03 - 10)),
    );
    log.run(
        &discharge,
        ASST_OVEST_MILANESE,
        day(8),
        discharged_home(day(8).date()),
    );
    assert_eq!(
        of_step(&reconcile(&log, LATER), "dp-sad-alla-dimissione"),
        []
    );
}

#[test]
fn sad_in_the_agreed_plan_is_needed_too() {
    let mut log = Log::default();
    let (discharge, _) = log.open(
        ASST_OVEST_MILANESE,
        MONDAY,
        request(MAGENTA, date!(2026 - 03 - 10)),
    );
    log.run(
        &discharge,
        MAGENTA,
        day(0) + Duration::hours(1),
        dp::Command::Receive,
    );
    log.run(
        &discharge,
        ASST_OVEST_MILANESE,
        day(1),
        joint_assessment_with_social_worker(day(1).date()),
    );
    log.run(
        &discharge,
        MAGENTA,
        day(2),
        care_plan(
            vec![Service::Sad, Service::CDom],
            Some(participant(MAGENTA, Role::SocialWorker)),
        ),
    );
    let discharged = log.run(
        &discharge,
        ASST_OVEST_MILANESE,
        day(8),
        discharged_home(day(8).date()),
    );
    let found = of_kind(&reconcile(&log, LATER), FindingKind::SadNotActivated);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].event_id, Some(discharged));
}

#[test]
fn a_patient_readmitted_and_discharged_again_needs_sad_again() {
    let (mut log, discharge, _) = discharged_needing_sad();
    log.run(
        &discharge,
        MAGENTA,
        day(8) + Duration::hours(6),
        activate(vec![Service::Sad], day(8).date()),
    );
    log.run(&discharge, NIGUARDA, day(12), readmitted(day(12).date()));
    let again = log.run(
        &discharge,
        ASST_OVEST_MILANESE,
        day(15),
        discharged_home(day(15).date()),
    );
    let found = of_kind(&reconcile(&log, LATER), FindingKind::SadNotActivated);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].event_id, Some(again));
}

#[test]
fn an_expected_discharge_date_passed_without_a_discharge_is_reported() {
    let mut log = Log::default();
    let (_, requested) = log.open(
        ASST_OVEST_MILANESE,
        MONDAY,
        request(MAGENTA, date!(2026 - 03 - 05)),
    );
    let found = reconcile(&log, LATER);
    assert_eq!(
        of_kind(&found, FindingKind::DischargeWithoutDestination),
        [magentino_overdue(
            FindingKind::DischargeWithoutDestination,
            "dp-dimissione-alla-data",
            &requested,
            ASST_OVEST_MILANESE,
            MONDAY,
            datetime!(2026-03-05 23:00 UTC),
        )]
    );
}

#[test]
fn a_discharge_on_the_expected_date_is_not_reported() {
    let mut log = Log::default();
    let (discharge, _) = log.open(
        ASST_OVEST_MILANESE,
        MONDAY,
        request(MAGENTA, date!(2026 - 03 - 05)),
    );
    log.run(
        &discharge,
        ASST_OVEST_MILANESE,
        datetime!(2026-03-05 21:00 UTC),
        discharged_home(date!(2026 - 03 - 05)),
    );
    assert_eq!(
        of_kind(
            &reconcile(&log, LATER),
            FindingKind::DischargeWithoutDestination
        ),
        []
    );
}

/// A Magentino patient discharged on 5 March and readmitted at Niguarda `after` days later.
fn readmitted_after(days: i64) -> (Log, EventId) {
    let mut log = Log::default();
    let (discharge, _) = log.open(
        ASST_OVEST_MILANESE,
        MONDAY,
        request(MAGENTA, date!(2026 - 03 - 05)),
    );
    log.run(
        &discharge,
        ASST_OVEST_MILANESE,
        day(3),
        discharged_home(day(3).date()),
    );
    let readmission = log.run(
        &discharge,
        NIGUARDA,
        day(3 + days),
        readmitted(day(3 + days).date()),
    );
    (log, readmission)
}

#[test]
fn a_readmission_within_the_window_is_reported() {
    let (log, readmission) = readmitted_after(15);
    assert_eq!(
        of_kind(&reconcile(&log, LATER), FindingKind::Readmission),
        [Finding {
            waited_minutes: Some(15 * 24 * 60),
            ..about(FindingKind::Readmission, &readmission)
        }]
    );
}

#[test]
fn a_readmission_on_the_last_day_of_the_window_is_reported() {
    let (log, _) = readmitted_after(30);
    assert_eq!(
        of_kind(&reconcile(&log, LATER), FindingKind::Readmission).len(),
        1
    );
}

#[test]
fn a_readmission_beyond_the_window_is_not_reported() {
    let (log, _) = readmitted_after(31);
    assert_eq!(
        of_kind(&reconcile(&log, LATER), FindingKind::Readmission),
        []
    );
}

#[test]
fn a_pathway_opened_before_its_territorys_protocol_is_in_force_has_none() {
    // Cinisello Balsamo's protocol begins on 1 February 2026.
    let mut log = Log::default();
    let (discharge, requested) = log.open(
        ASST_NORD_MILANO,
        datetime!(2026-01-15 09:00 UTC),
        request(CINISELLO, date!(2026 - 01 - 23)),
    );
    assert_eq!(
        reconcile(&log, LATER),
        [Found {
            pathway: discharge,
            recorder: ats_recorder(),
            finding: about(FindingKind::NoProtocol, &requested),
        }],
        "and no step: there is no protocol to have steps"
    );
}

#[test]
fn a_pathway_opened_once_the_protocol_is_in_force_has_one() {
    let mut log = Log::default();
    log.open(
        ASST_NORD_MILANO,
        datetime!(2026-02-02 09:00 UTC),
        request(CINISELLO, date!(2026 - 02 - 20)),
    );
    let found = reconcile(&log, LATER);
    assert_eq!(of_kind(&found, FindingKind::NoProtocol), []);
    assert!(
        found
            .iter()
            .all(|f| f.finding.step.as_ref().unwrap().protocol == CINISELLO_PROTOCOL)
    );
}

// ---- pathways that end --------------------------------------------------------------------------

#[test]
fn no_step_is_reported_once_the_pathway_is_cancelled() {
    let mut log = Log::default();
    let (discharge, _) = log.open(
        ASST_OVEST_MILANESE,
        MONDAY,
        request_needing_sad(MAGENTA, date!(2026 - 03 - 10)),
    );
    log.run(
        &discharge,
        ASST_OVEST_MILANESE,
        day(0) + Duration::hours(4),
        cancel(),
    );
    let mut book = Book::default();
    let mut found = observe_all(&mut book, &log.events);
    found.extend(book.fire(rules(), LATER));
    assert_eq!(found, []);
    assert_eq!(book.pending(), 0);
    assert!(book.pathways.is_empty(), "nothing more to follow");
    assert!(book.subjects.is_empty());
}

#[test]
fn no_step_is_reported_once_a_pua_intake_is_closed() {
    let mut log = Log::default();
    let intake = pua_until_uvm_requested(&mut log, MONDAY);
    log.run(
        &intake,
        ASST_OVEST_MILANESE,
        day(1),
        pua::Command::Close {
            reason: pua::CloseReason::Withdrawn,
        },
    );
    assert_eq!(reconcile(&log, LATER), []);
}

#[test]
fn no_step_is_reported_once_a_referral_is_declined() {
    let mut log = Log::default();
    let (referral, _) = log.open(CINISELLO, MONDAY, referral(6));
    log.run(
        &referral,
        OFFICINA,
        day(0) + Duration::hours(2),
        cf::Command::Decline {
            reason: cf::DeclineReason::NoCapacity,
        },
    );
    assert_eq!(reconcile(&log, LATER), []);
}

#[test]
fn an_overdue_step_is_closed_late_when_the_pathway_is_cancelled_and_nothing_fires_after() {
    let mut log = Log::default();
    let (discharge, requested) = log.open(
        ASST_OVEST_MILANESE,
        MONDAY,
        request(MAGENTA, date!(2026 - 03 - 20)),
    );
    let cancelled_at = day(2) + Duration::hours(1);
    log.run(&discharge, ASST_OVEST_MILANESE, cancelled_at, cancel());
    let found = reconcile(&log, LATER);
    // The request was never acknowledged by Tuesday's end; the cancellation ends the wait.
    let never = magentino_overdue(
        FindingKind::NeverAcknowledged,
        "dp-conferma-ricezione",
        &requested,
        MAGENTA,
        MONDAY,
        datetime!(2026-03-03 23:00 UTC),
    );
    let ended = Finding {
        finding: FindingKind::OverdueStepClosed,
        closed_at: Some(cancelled_at),
        waited_minutes: Some(minutes_between(MONDAY, cancelled_at)),
        ..never.clone()
    };
    let findings: Vec<Finding> = found.into_iter().map(|f| f.finding).collect();
    assert_eq!(findings, [never, ended]);
}

// ---- the book -----------------------------------------------------------------------------------

/// A history with something of everything, in time order: pathways of all three kinds in both
/// Ambiti (one before Cinisello's protocol), interleaved, steps closed in time and late, every event-borne finding, and the March
/// clock change. The instant after which nothing more falls due is [`LATER`].
fn busy_log() -> Log {
    let mut log = Log::default();
    log.open(
        ASST_NORD_MILANO,
        datetime!(2026-01-20 09:00 UTC),
        dp::Command::Request(dp::Request {
            subject_ref: person(7),
            ..discharge_request(CINISELLO, date!(2026 - 01 - 30))
        }),
    );
    let (a, a_requested) = log.open(
        ASST_OVEST_MILANESE,
        MONDAY,
        request_needing_sad(MAGENTA, date!(2026 - 03 - 10)),
    );
    let (b, _) = log.open(
        ASST_NORD_MILANO,
        MONDAY + Duration::minutes(30),
        dp::Command::Request(dp::Request {
            subject_ref: person(2),
            ..discharge_request(CINISELLO, date!(2026 - 03 - 06))
        }),
    );
    log.acknowledge(&a, MAGENTA, MONDAY + Duration::hours(1), &a_requested);
    let c = pua_until_uvm_requested(&mut log, MONDAY + Duration::hours(2));
    let (d, _) = log.open(
        ASST_OVEST_MILANESE,
        day(1) - Duration::hours(1),
        dp::Command::Request(dp::Request {
            ward: "Cardiologia".into(),
            ..discharge_request(MAGENTA, date!(2026 - 03 - 20))
        }),
    );
    log.run(&a, MAGENTA, day(1), dp::Command::Receive);
    log.run(
        &a,
        ASST_OVEST_MILANESE,
        day(2) + Duration::hours(1),
        joint_assessment(
            day(2).date(),
            vec![participant(ASST_OVEST_MILANESE, Role::Physician)],
        ),
    );
    log.run(
        &b,
        CINISELLO,
        day(3) + Duration::hours(1),
        dp::Command::Receive,
    );
    log.run(
        &d,
        ASST_OVEST_MILANESE,
        day(4) + Duration::hours(1),
        cancel(),
    );
    log.run(
        &a,
        MAGENTA,
        day(7) + Duration::hours(1),
        care_plan(vec![Service::Sad, Service::CDom], None),
    );
    log.run(
        &a,
        ASST_OVEST_MILANESE,
        day(8) + Duration::hours(1),
        discharged_home(day(8).date()),
    );
    log.run(
        &a,
        MAGENTA,
        day(9),
        activate(vec![Service::Sad], day(9).date()),
    );
    log.run(
        &c,
        ASST_OVEST_MILANESE,
        day(10) + Duration::hours(1),
        complete_uvm(
            day(10).date(),
            vec![participant(ASST_OVEST_MILANESE, Role::Physician)],
        ),
    );
    log.run(&a, NIGUARDA, day(18), readmitted(day(18).date()));
    let (e, _) = log.open(CINISELLO, day(23), referral(6));
    log.run(
        &e,
        OFFICINA,
        day(28) + Duration::hours(1),
        cf::Command::Accept,
    );
    log
}

#[test]
fn the_busy_log_finds_something_of_every_kind_but_divergence() {
    let found = reconcile(&busy_log(), LATER);
    for kind in FindingKind::ALL {
        let expected = kind != FindingKind::Divergence;
        assert_eq!(
            !of_kind(&found, kind).is_empty(),
            expected,
            "{kind} in {found:#?}"
        );
    }
}

#[test]
fn observing_the_same_history_again_finds_nothing_and_changes_nothing() {
    let log = busy_log();
    let mut book = Book::default();
    let first = observe_all(&mut book, &log.events);
    assert!(!first.is_empty());
    let before = book.clone();
    let again = observe_all(&mut book, &log.events);
    assert_eq!(again, []);
    assert_eq!(book, before);
}

#[test]
fn each_finding_is_made_once_however_often_its_deadline_is_fired() {
    let log = busy_log();
    let mut book = Book::default();
    let mut found = observe_all(&mut book, &log.events);
    found.extend(book.fire(rules(), LATER));
    assert_eq!(book.fire(rules(), LATER), []);
    let mut keys: Vec<(PathwayId, String)> = found
        .iter()
        .map(|f| (f.pathway.clone(), f.finding.key()))
        .collect();
    let count = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), count, "no key twice");
    assert_eq!(book.found.len(), count);
}

#[test]
fn the_reconcilers_own_findings_read_back_from_the_log_change_nothing() {
    let log = busy_log();
    let expected = reconcile(&log, LATER);
    // The service records what it finds as soon as it finds it: the log it reads next holds the
    // findings right after the event that revealed them.
    let mut book = Book::default();
    let mut with_findings: Vec<RecordedEvent> = Vec::new();
    let mut found = Vec::new();
    let append = |events: &mut Vec<RecordedEvent>, event: Event| {
        let sequence = events.len() as u64 + 1;
        events.push(RecordedEvent { sequence, event });
        events.last().expect("just pushed").clone()
    };
    for recorded in &log.events {
        let event = append(&mut with_findings, recorded.event.clone());
        let new = book.observe(rules(), &event);
        for f in &new {
            let finding = finding_event(&log, f, recorded.event.time);
            let event = append(&mut with_findings, finding);
            assert_eq!(book.observe(rules(), &event), []);
        }
        found.extend(new);
    }
    found.extend(book.fire(rules(), LATER));
    assert_eq!(found, expected);
    assert!(with_findings.iter().any(|e| e.event.data.is_finding()));
    assert_eq!(reconcile_events(&with_findings, LATER), expected);
}

/// The event recording `found` on its pathway at `at`, as the reconciler service decides it.
fn finding_event(log: &Log, found: &Found, at: OffsetDateTime) -> Event {
    let command = RecordFinding::command(found.pathway.clone(), found.finding.clone());
    let ctx = Context {
        actor: &found.recorder,
        now: at,
        registry: Registry::embedded(),
    };
    match decide(log.pathways.get(&found.pathway), &command, &ctx) {
        Ok(Decision::Append(event)) => event,
        other => panic!("recording {found:?}: {other:?}"),
    }
}

#[test]
fn a_book_read_back_from_json_continues_identically() {
    let log = busy_log();
    let (first, rest) = log.events.split_at(log.events.len() / 2);
    let mut book = Book::default();
    observe_all(&mut book, first);
    book.fire(rules(), rest[0].event.time);
    let json = serde_json::to_string(&book).expect("a book serialises to JSON");
    let mut read_back: Book = serde_json::from_str(&json).expect("and reads back");
    assert_eq!(read_back, book);
    let mut found = observe_all(&mut book, rest);
    found.extend(book.fire(rules(), LATER));
    let mut found_read_back = observe_all(&mut read_back, rest);
    found_read_back.extend(read_back.fire(rules(), LATER));
    assert_eq!(found_read_back, found);
    assert_eq!(read_back, book);
}

// ---- determinism --------------------------------------------------------------------------------

/// Feeds the log, calling `fire` before each event at the instants `cuts` gives for it: fractions
/// (in thousandths) of the time from the previous event (a day before the first) to this one, so
/// never later than the next event, as the service promises.
fn reconcile_cut(log: &Log, cuts: &[Vec<u16>]) -> (Vec<Found>, Book) {
    let mut book = Book::default();
    let mut found = Vec::new();
    let mut previous = log.events[0].event.time - Duration::DAY;
    for (recorded, fractions) in log.events.iter().zip(cuts) {
        let next = recorded.event.time;
        let gap = (next - previous).whole_seconds();
        for fraction in fractions {
            let until = previous + Duration::seconds(gap * i64::from(*fraction) / 1000);
            assert!(until <= next);
            found.extend(book.fire(rules(), until));
        }
        found.extend(book.observe(rules(), recorded));
        previous = next;
    }
    found.extend(book.fire(rules(), LATER));
    (found, book)
}

fn busy() -> &'static (Log, Vec<Found>, Book) {
    static BUSY: OnceLock<(Log, Vec<Found>, Book)> = OnceLock::new();
    BUSY.get_or_init(|| {
        let log = busy_log();
        let no_cuts = vec![Vec::new(); log.events.len()];
        let (found, book) = reconcile_cut(&log, &no_cuts);
        (log, found, book)
    })
}

#[test]
fn firing_at_every_event_instant_finds_the_same() {
    let (log, expected, _) = busy();
    let at_each_event = vec![vec![1000]; log.events.len()];
    assert_eq!(&reconcile_cut(log, &at_each_event).0, expected);
}

proptest! {
    #[test]
    fn the_same_log_cut_anywhere_gives_the_same_findings_in_the_same_order(
        cuts in proptest::collection::vec(
            proptest::collection::vec(0u16..=1000, 0..3).prop_map(|mut v| {
                v.sort_unstable();
                v
            }),
            busy().0.events.len(),
        )
    ) {
        let (log, expected, expected_book) = busy();
        let (found, book) = reconcile_cut(log, &cuts);
        prop_assert_eq!(&found, expected);
        prop_assert_eq!(&book, expected_book);
    }
}

// ---- protocol versions --------------------------------------------------------------------------

/// The shipped Magentino protocol as version 1 until Thursday 5 March 2026, and a version 2 from
/// then on that gives the Comune five working days instead of two to take a request in.
fn two_versions() -> Protocols {
    let v1 = crate::protocol::Protocols::embedded_files()
        .iter()
        .find(|f| f.name.starts_with(MAGENTINO_PROTOCOL))
        .expect("the Magentino protocol ships")
        .contents;
    let v1_until = v1.replace(
        "valid_from = 2025-01-01",
        "valid_from = 2025-01-01\nvalid_until = 2026-03-05",
    );
    let v2 = v1
        .replace("version = 1", "version = 2")
        .replace("valid_from = 2025-01-01", "valid_from = 2026-03-05")
        .replacen(
            "deadline = \"2 working days\"",
            "deadline = \"5 working days\"",
            1,
        );
    assert_ne!(v1, v2, "the second version differs");
    let files = [
        crate::protocol::ProtocolFile {
            name: "magentino.v1.toml",
            contents: &v1_until,
        },
        crate::protocol::ProtocolFile {
            name: "magentino.v2.toml",
            contents: &v2,
        },
    ];
    Protocols::parse(&files, Registry::embedded()).expect("the two versions parse")
}

#[test]
fn a_step_is_measured_against_the_protocol_version_in_force_when_it_opened() {
    let protocols = two_versions();
    let rules = Rulebook {
        protocols: &protocols,
        ..rules()
    };
    let mut log = Log::default();
    // Opened on Monday 2 March under version 1: due at the end of Wednesday 4 March.
    let (_, before) = log.open(
        ASST_OVEST_MILANESE,
        day(0),
        request(MAGENTA, day(20).date()),
    );
    // Opened on Friday 6 March under version 2: five working days, to the end of Friday 13 March.
    let (_, after) = log.open(
        ASST_OVEST_MILANESE,
        day(4),
        request(MAGENTA, day(20).date()),
    );
    let mut book = Book::default();
    let mut found: Vec<Found> = log
        .events
        .iter()
        .flat_map(|event| book.observe(rules, event))
        .collect();
    found.extend(book.fire(rules, LATER));
    let presa: Vec<(EventId, u32, OffsetDateTime)> = found
        .iter()
        .filter(|f| f.finding.finding == FindingKind::StepOverdue)
        .filter_map(|f| {
            let step = f.finding.step.as_ref()?;
            (step.step == "dp-presa-in-carico").then(|| {
                (
                    f.finding.event_id.clone().expect("names its event"),
                    step.version,
                    f.finding.due.expect("has a deadline"),
                )
            })
        })
        .collect();
    assert_eq!(
        presa,
        [
            (before, 1, datetime!(2026-03-04 23:00 UTC)),
            (after, 2, datetime!(2026-03-13 23:00 UTC)),
        ]
    );
}
