//! Tests of receipts: one per event and party, on any pathway kind, changing nothing but the
//! pathway's bookkeeping, and never of a receipt.

use super::*;
use crate::pathway::Event;

/// When the inbox stored the message the tests acknowledge.
fn delivered() -> OffsetDateTime {
    day(0) + Duration::minutes(1)
}

/// The acknowledgement of the pathway's `n`th event, delivered by inbox message `cursor`.
fn ack(trail: &Trail, n: usize, cursor: u64) -> Command {
    receipt::Acknowledge::command(
        trail.pathway().id.clone(),
        trail.history[n].event.id.clone(),
        cursor,
        delivered(),
    )
}

/// `who` acknowledges the pathway's `n`th event, delivered by inbox message `cursor`; the domain
/// must accept. Returns the receipt's event.
fn acknowledged(trail: &mut Trail, who: &str, n: usize, cursor: u64, now: OffsetDateTime) -> Event {
    submitted(trail, who, &ack(trail, n, cursor), now)
}

/// Submits an acknowledgement the domain must accept, returning the receipt's event.
fn submitted(trail: &mut Trail, who: &str, command: &Command, now: OffsetDateTime) -> Event {
    match trail.submit(&org(who), command, now) {
        Ok(Decision::Append(event)) => event,
        other => panic!("{who} acknowledge at {now}: expected a receipt, got {other:?}"),
    }
}

fn not_acknowledgeable(answer: &Result<Decision, Rejection>) -> &str {
    match answer {
        Err(Rejection::NotAcknowledgeable { reason, .. }) => reason,
        other => panic!("expected the event to be refused as not acknowledgeable, got {other:?}"),
    }
}

#[test]
fn a_receipt_names_the_event_its_sender_and_its_delivery_and_is_from_the_party_that_acknowledged() {
    let mut trail = Trail::journey(up_to(discharge_journey(), "received"));
    let request = trail.history[0].event.clone();
    let command = ack(&trail, 0, 17);
    let receipt = submitted(&mut trail, CINISELLO, &command, day(1));

    assert_eq!(
        receipt.data.event_type(),
        "raccordo.dimissione_protetta.receipt.v1"
    );
    assert_eq!(
        receipt.data,
        EventData::Receipt(
            PathwayKind::DimissioneProtetta,
            receipt::Receipt {
                event_id: request.id.clone(),
                event_type: "raccordo.dimissione_protetta.requested.v1".into(),
                sender: org(ASST_NORD_MILANO),
                inbox_cursor: 17,
                delivered_at: delivered(),
            }
        )
    );
    assert_eq!(receipt.actor, actor(&org(CINISELLO)));
    assert_eq!(receipt.time, day(1));
    assert_eq!(receipt.pathway, request.pathway);
    assert_eq!(command.id.as_str(), format!("receipt:{}", request.id));
    assert_eq!(
        receipt.id,
        EventId::derive_on(&org(CINISELLO), &command.id, &request.pathway)
    );
}

#[test]
fn a_receipt_moves_no_status_and_no_turn_only_the_pathway_s_bookkeeping() {
    for journey in journeys() {
        let mut trail = Trail::journey(up_to(journey.clone(), journey[1].status));
        let before = trail.pathway().clone();
        let acknowledger = journey[1].org;
        let command = ack(&trail, 0, 3);
        let receipt = submitted(&mut trail, acknowledger, &command, day(30));
        let after = trail.pathway();

        assert_eq!(after.state, before.state, "{}", receipt.data.event_type());
        assert_eq!(after.status(), before.status());
        assert_eq!(after.state.waiting_on(), before.state.waiting_on());
        assert_eq!(
            after.updated_at, before.updated_at,
            "a receipt is no update"
        );
        assert_eq!(after.opened_at, before.opened_at);
        assert_eq!(after.version, before.version + 1);
        assert_eq!(after.last_sequence, trail.history.last().unwrap().sequence);
        let applied = &after.applied[&receipt.id];
        assert_eq!(applied.event_type, receipt.data.event_type());
        assert_eq!(applied.status_after, before.status());
        assert_eq!(applied.org, org(acknowledger));
        assert_eq!(Pathway::fold(&trail.history), Ok(Some(after.clone())));
    }
}

#[test]
fn acknowledging_an_event_again_from_any_message_at_any_time_gets_the_first_receipt() {
    let mut trail = Trail::journey(up_to(discharge_journey(), "received"));
    let first = ack(&trail, 0, 17);
    let receipt = submitted(&mut trail, CINISELLO, &first, day(1));
    let applied = trail.pathway().applied[&receipt.id].clone();
    let settled = trail.pathway().clone();

    let later = ack(&trail, 0, 90_000);
    for (command, now) in [(&first, day(1)), (&later, day(400)), (&first, day(900))] {
        let again = trail.submit(&org(CINISELLO), command, now);
        assert_eq!(again, Ok(Decision::AlreadyApplied(applied.clone())));
    }
    assert_eq!(trail.pathway(), &settled, "nothing appended");
}

#[test]
fn each_party_acknowledges_an_event_once_for_itself() {
    let mut trail = Trail::journey(up_to(discharge_journey(), "assessed"));
    let assessment = 2;
    let by_comune = acknowledged(&mut trail, CINISELLO, assessment, 5, day(2));
    let by_ipis = acknowledged(&mut trail, IPIS, assessment, 6, day(2));
    // The hospital's software acknowledges its own event: a receipt too, routed to nobody.
    let by_sender = acknowledged(&mut trail, ASST_NORD_MILANO, assessment, 7, day(2));
    let ids: BTreeSet<&EventId> = [&by_comune.id, &by_ipis.id, &by_sender.id].into();
    assert_eq!(ids.len(), 3, "one receipt per party");
    assert_eq!(trail.pathway().status(), "assessed");
}

#[test]
fn a_receipt_is_never_acknowledged() {
    let mut trail = Trail::journey(up_to(discharge_journey(), "received"));
    let command = ack(&trail, 0, 17);
    submitted(&mut trail, CINISELLO, &command, day(1));
    let settled = trail.pathway().clone();

    let of_receipt = ack(&trail, 2, 18);
    let answer = trail.submit(&org(ASST_NORD_MILANO), &of_receipt, day(1));
    let reason = not_acknowledgeable(&answer);
    assert!(
        reason.contains("receipts are never acknowledged"),
        "{reason}"
    );
    assert!(
        reason.contains("raccordo.dimissione_protetta.receipt.v1"),
        "{reason}"
    );
    assert_eq!(trail.pathway(), &settled);
}

#[test]
fn an_event_of_another_pathway_cannot_be_acknowledged() {
    let trail = Trail::journey(up_to(discharge_journey(), "received"));
    let other = Trail::journey(up_to(pua_journey(), "access_registered"));
    let command = receipt::Acknowledge::command(
        trail.pathway().id.clone(),
        other.history[0].event.id.clone(),
        4,
        delivered(),
    );
    let answer = trail.answer(&org(CINISELLO), &command, day(1));
    let reason = not_acknowledgeable(&answer);
    assert!(reason.contains("not an event of this pathway"), "{reason}");
    let Err(refused) = answer else { unreachable!() };
    assert!(
        refused
            .to_string()
            .contains(&trail.pathway().id.to_string()),
        "{refused}"
    );
}

#[test]
fn acknowledging_on_a_pathway_never_opened_is_not_found() {
    let opened = Trail::journey(up_to(discharge_journey(), "requested"));
    let never = unopened(PathwayKind::DimissioneProtetta);
    let command = receipt::Acknowledge::command(
        never.clone(),
        opened.history[0].event.id.clone(),
        4,
        delivered(),
    );
    let answer = Trail::default().answer(&org(CINISELLO), &command, day(1));
    assert_eq!(answer, Err(Rejection::NotFound(never)));
}

#[test]
fn an_ats_acknowledges_nothing() {
    let trail = Trail::journey(up_to(discharge_journey(), "received"));
    let answer = trail.answer(&org(ATS_MILANO), &ack(&trail, 0, 4), day(1));
    assert_not_permitted(&answer, ATS_MILANO, "acknowledge");
}

#[test]
fn an_inbox_cursor_of_zero_is_refused_naming_the_field() {
    let trail = Trail::journey(up_to(discharge_journey(), "received"));
    let answer = trail.answer(&org(CINISELLO), &ack(&trail, 0, 0), day(1));
    assert_eq!(invalid_fields(answer), ["inbox_cursor"]);
}

#[test]
fn events_of_an_ended_pathway_are_still_acknowledged() {
    for journey in journeys() {
        let mut trail = Trail::journey(journey.clone());
        assert!(trail.pathway().state.is_terminal());
        let last = trail.history.len() - 1;
        let receipt = acknowledged(&mut trail, journey[0].org, last, 9, day(200));
        assert!(receipt.data.is_receipt());
        assert!(trail.pathway().state.is_terminal());
    }
}

#[test]
fn command_ids_of_receipts_are_kept_for_receipts() {
    let trail = Trail::journey(up_to(discharge_journey(), "requested"));
    let taken = "receipt:mine".parse().expect("a well-formed command id");
    let receive = trail.command_with_id(taken, dp::Command::Receive);
    let answer = trail.answer(&org(CINISELLO), &receive, day(1));
    assert_eq!(invalid_fields(answer), ["command_id"]);

    let mut forged = ack(&trail, 0, 4);
    forged.id = "my-own-id".parse().expect("a well-formed command id");
    let answer = trail.answer(&org(CINISELLO), &forged, day(1));
    assert_eq!(invalid_fields(answer), ["command_id"]);
}

#[test]
fn every_kind_has_a_receipt_that_reads_back_from_its_type_and_body() {
    let types: BTreeSet<String> = EventData::schemas().into_iter().map(|(t, _)| t).collect();
    for journey in journeys() {
        let mut trail = Trail::journey(up_to(journey.clone(), journey[0].status));
        let kind = trail.pathway().kind();
        assert!(
            !receipt::is_receipt_type(&trail.history[0].event.data.event_type()),
            "{kind}"
        );
        let receipt = acknowledged(&mut trail, CINISELLO, 0, 2, day(1));
        let data = &receipt.data;
        let event_type = data.event_type();
        assert_eq!(event_type, format!("raccordo.{kind}.receipt.v1"));
        assert!(receipt::is_receipt_type(&event_type));
        assert!(types.contains(&event_type), "{event_type} has a schema");
        let body = data.to_body();
        assert_eq!(body["inbox_cursor"], 2);
        assert_eq!(body["delivered_at"], "2026-03-02T09:01:00Z");
        assert_eq!(
            EventData::from_type_and_body(&event_type, body),
            Ok(data.clone())
        );
    }
    for names in [dp::Event::NAMES, pua::Event::NAMES, cpf::Event::NAMES] {
        assert!(!names.contains(&receipt::NAME), "{names:?}");
    }
}

#[test]
fn evolve_refuses_a_receipt_that_does_not_fit_the_pathway() {
    let mut trail = Trail::journey(up_to(discharge_journey(), "received"));
    let received = trail.pathway().clone();
    let command = ack(&trail, 0, 17);
    let good = submitted(&mut trail, CINISELLO, &command, day(1));
    let elsewhere = "elsewhere".parse().expect("a well-formed command id");
    let unknown = EventId::derive(&org(CINISELLO), &elsewhere, PathwayKind::Pua);
    // A receipt as it could reach the log from a foreign writer: a fresh id, and `change` made.
    let forged = |change: &dyn Fn(&mut receipt::Receipt)| {
        let mut event = good.clone();
        event.id = EventId::derive_on(&org(CORMANO), &elsewhere, &event.pathway);
        let EventData::Receipt(_, r) = &mut event.data else {
            unreachable!("a receipt")
        };
        change(r);
        RecordedEvent {
            sequence: 100,
            event,
        }
    };
    let cases: [(Option<&Pathway>, RecordedEvent, &str); 4] = [
        (None, forged(&|_| {}), "cannot open with a receipt"),
        (
            Some(&received),
            forged(&|r| r.event_id = unknown.clone()),
            "not an earlier event",
        ),
        (
            Some(&received),
            forged(&|r| r.sender = org(CORMANO)),
            "holds it as",
        ),
        (
            Some(trail.pathway()),
            forged(&|r| r.event_id = good.id.clone()),
            "receipts are never acknowledged",
        ),
    ];
    for (pathway, recorded, reason) in cases {
        let refused = Pathway::evolve(pathway.cloned(), &recorded)
            .expect_err("the receipt does not fit the pathway");
        assert!(refused.reason.contains(reason), "{refused}");
    }
    let fits = forged(&|_| {});
    assert!(Pathway::evolve(Some(received), &fits).is_ok());
}
