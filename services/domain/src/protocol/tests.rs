//! Tests of [`super`]: the shipped protocols, which one is in force where and when, and every way
//! a protocol file can be wrong, each refused with the file's name and the reason.

use time::Date;
use time::macros::date;

use super::*;

// ---- helpers ------------------------------------------------------------------------------------

/// The name the files under test are given.
const FILE: &str = "prova.v1.toml";

/// A valid protocol with one step, for Ambito 50069 from 2030 (after the shipped Cinisello one
/// begins, so it overlaps it: parse it alone unless the test is about overlaps).
const VALID: &str = r#"
protocol = "prova"
version = 1
title = "Protocollo di prova"
valid_from = 2030-01-01
ambiti = ["50069"]

[rules]
duplicate_window_days = 30
readmission_window_days = 30

[[steps]]
id = "presa-in-carico"
kind = "dimissione_protetta"
opened_by = ["requested"]
closed_by = ["received"]
responsible = "comune_of_residence"
deadline = "2 working days"
"#;

/// The same step again, for appending to [`VALID`].
const SECOND_STEP: &str = r#"
[[steps]]
id = "presa-in-carico"
kind = "dimissione_protetta"
opened_by = ["received"]
closed_by = ["joint_assessment_recorded"]
responsible = "comune_of_residence"
deadline = "5 working days"
"#;

fn registry() -> &'static Registry {
    Registry::embedded()
}

/// `text` with `from` replaced by `to`, which must be there.
fn with(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the protocol text has no {from:?}");
    text.replacen(from, to, 1)
}

/// [`VALID`] with its step made a step of `kind`, opened by `opened_by` and closed by `closed_by`.
fn step_of_kind(kind: &str, opened_by: &str, closed_by: &str) -> String {
    let text = with(VALID, "\"dimissione_protetta\"", &format!("\"{kind}\""));
    let text = with(&text, "[\"requested\"]", &format!("[\"{opened_by}\"]"));
    with(&text, "[\"received\"]", &format!("[\"{closed_by}\"]"))
}

fn parse(files: &[(&str, &str)]) -> Result<Protocols, ProtocolError> {
    let files: Vec<ProtocolFile<'_>> = files
        .iter()
        .map(|(name, contents)| ProtocolFile { name, contents })
        .collect();
    Protocols::parse(&files, registry())
}

/// The shipped files and then `extra`.
fn parse_with_shipped(extra: &[(&str, &str)]) -> Result<Protocols, ProtocolError> {
    let shipped = Protocols::embedded_files()
        .iter()
        .map(|f| (f.name, f.contents));
    let files: Vec<(&str, &str)> = shipped.chain(extra.iter().copied()).collect();
    parse(&files)
}

/// Why [`FILE`] with `contents` is refused; the error names the file, and so does its message.
fn refused(contents: &str) -> String {
    let error = parse(&[(FILE, contents)]).expect_err("the protocol file must be refused");
    assert_eq!(error.file, FILE);
    assert_eq!(
        error.to_string(),
        format!("protocol file {FILE}: {}", error.reason)
    );
    error.reason
}

fn ambito(code: &str) -> AmbitoCode {
    code.parse().expect("a well-formed Ambito code")
}

/// The id of the protocol in force for the Ambito on the date.
fn in_force(protocols: &Protocols, code: &str, on: Date) -> Option<String> {
    protocols
        .in_force(&ambito(code), on, registry())
        .map(|p| p.id.clone())
}

const MAGENTINO: &str = "ovest-milanese-magentino";
const CINISELLO: &str = "nord-milano-cinisello";

// ---- the shipped protocols ----------------------------------------------------------------------

#[test]
fn the_shipped_protocols_parse() {
    let protocols = Protocols::embedded(registry()).expect("the shipped protocols parse");
    let ids: Vec<(&str, u32)> = protocols
        .all()
        .iter()
        .map(|p| (p.id.as_str(), p.version))
        .collect();
    assert_eq!(ids, [(MAGENTINO, 1), (CINISELLO, 1)]);
    for protocol in protocols.all() {
        assert!(
            protocol.example,
            "{} is marked as example values",
            protocol.id
        );
        assert!(!protocol.steps.is_empty());
    }
    let magentino = &protocols.all()[0];
    assert_eq!(magentino.file, "ovest-milanese-magentino.v1.toml");
    assert_eq!(magentino.validity.from, date!(2025 - 01 - 01));
    assert_eq!(magentino.validity.until, None);
    assert!(
        magentino.ambiti.is_empty(),
        "the Magentino is covered by its Distretto"
    );
    assert_eq!(
        magentino
            .distretti
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["22004"]
    );
    let sad = magentino
        .steps
        .iter()
        .find(|s| s.id == "dp-sad-alla-dimissione")
        .expect("the Magentino has a SAD step");
    assert_eq!(sad.kind, PathwayKind::DimissioneProtetta);
    assert_eq!(sad.finding, FindingKind::SadNotActivated);
    assert_eq!(sad.when, Some(Condition::NeedsSad));
    assert_eq!(sad.deadline, DeadlineExpr::WorkingDays(0));
    let presa = &magentino.steps[0];
    assert_eq!(presa.id, "dp-presa-in-carico");
    assert_eq!(
        presa.finding,
        FindingKind::StepOverdue,
        "the default finding"
    );
    assert_eq!(presa.responsible, Responsible::ComuneOfResidence);
    let cinisello = &protocols.all()[1];
    assert_eq!(cinisello.validity.from, date!(2026 - 02 - 01));
    assert_eq!(cinisello.steps[0].deadline, DeadlineExpr::Hours(48));
}

#[test]
fn the_magentino_protocol_is_in_force_through_its_distretto_from_2025() {
    let protocols = Protocols::embedded(registry()).expect("the shipped protocols parse");
    let magentino = Some(MAGENTINO.to_owned());
    assert_eq!(in_force(&protocols, "50032", date!(2024 - 12 - 31)), None);
    assert_eq!(
        in_force(&protocols, "50032", date!(2025 - 01 - 01)),
        magentino
    );
    assert_eq!(
        in_force(&protocols, "50032", date!(2026 - 01 - 15)),
        magentino
    );
    assert_eq!(
        in_force(&protocols, "50032", date!(2026 - 02 - 02)),
        magentino
    );
}

#[test]
fn the_cinisello_protocol_is_in_force_from_1_february_2026_only() {
    let protocols = Protocols::embedded(registry()).expect("the shipped protocols parse");
    let cinisello = Some(CINISELLO.to_owned());
    assert_eq!(in_force(&protocols, "50069", date!(2026 - 01 - 15)), None);
    assert_eq!(in_force(&protocols, "50069", date!(2026 - 01 - 31)), None);
    assert_eq!(
        in_force(&protocols, "50069", date!(2026 - 02 - 01)),
        cinisello
    );
    assert_eq!(
        in_force(&protocols, "50069", date!(2026 - 02 - 02)),
        cinisello
    );
}

#[test]
fn an_ambito_no_protocol_names_has_none_in_force() {
    let protocols = Protocols::embedded(registry()).expect("the shipped protocols parse");
    // Milano Città, in nine Distretti, none of them the Magentino's.
    assert_eq!(in_force(&protocols, "50007", date!(2026 - 02 - 02)), None);
}

#[test]
fn a_valid_file_parses_with_the_defaults_filled_in() {
    let protocols = parse(&[(FILE, VALID)]).expect("the protocol is valid");
    let [protocol] = protocols.all() else {
        panic!("one protocol");
    };
    assert_eq!(protocol.file, FILE);
    assert!(!protocol.example, "example is false unless said");
    assert_eq!(protocol.validity.until, None);
    assert_eq!(protocol.steps[0].finding, FindingKind::StepOverdue);
    assert_eq!(protocol.steps[0].when, None);
    assert_eq!(protocol.steps[0].deadline, DeadlineExpr::WorkingDays(2));
}

#[test]
fn every_deadline_form_is_read() {
    let read = |text: &str| {
        let contents = with(VALID, "\"2 working days\"", &format!("\"{text}\""));
        let protocols = parse(&[(FILE, &contents)]).expect("the deadline is readable");
        protocols.all()[0].steps[0].deadline
    };
    assert_eq!(read("1 working day"), DeadlineExpr::WorkingDays(1));
    assert_eq!(read("0 working days"), DeadlineExpr::WorkingDays(0));
    assert_eq!(read("48 hours"), DeadlineExpr::Hours(48));
    assert_eq!(read("1 hour"), DeadlineExpr::Hours(1));
    assert_eq!(
        read("before expected_discharge"),
        DeadlineExpr::Before(DateRef::ExpectedDischarge)
    );
    assert_eq!(
        read("by expected_discharge"),
        DeadlineExpr::By(DateRef::ExpectedDischarge)
    );
}

// ---- files that are wrong -----------------------------------------------------------------------

#[test]
fn a_toml_syntax_error_is_refused_with_its_line() {
    let reason = refused(&with(VALID, "version = 1", "version = "));
    assert!(reason.contains("TOML parse error"), "{reason}");
    assert!(reason.contains("line 3"), "{reason}");
}

#[test]
fn an_unknown_key_is_refused() {
    let reason = refused(&with(VALID, "version = 1", "version = 1\nscope = \"all\""));
    assert!(reason.contains("unknown field `scope`"), "{reason}");
}

#[test]
fn an_unknown_key_in_a_step_is_refused() {
    let reason = refused(&with(VALID, "deadline =", "deadlne ="));
    assert!(reason.contains("unknown field `deadlne`"), "{reason}");
}

#[test]
fn an_unknown_key_in_the_rules_is_refused() {
    let reason = refused(&with(
        VALID,
        "readmission_window_days = 30",
        "readmission_window_days = 30\nreadmision_window_days = 30",
    ));
    assert!(
        reason.contains("unknown field `readmision_window_days`"),
        "{reason}"
    );
}

#[test]
fn an_unknown_event_opening_a_step_is_refused_with_the_kinds_events() {
    let reason = refused(&with(VALID, "[\"requested\"]", "[\"requestd\"]"));
    assert_eq!(
        reason,
        "steps[0] (presa-in-carico): opened_by: dimissione_protetta has no event 'requestd' \
         (it has requested, received, joint_assessment_recorded, care_plan_agreed, \
         expected_date_changed, discharged, home_services_activated, readmitted, closed, \
         cancelled)"
    );
}

#[test]
fn a_receipt_cannot_open_a_step() {
    let reason = refused(&with(VALID, "[\"requested\"]", "[\"receipt\"]"));
    assert!(
        reason.starts_with(
            "steps[0] (presa-in-carico): opened_by: dimissione_protetta has no event 'receipt'"
        ),
        "{reason}"
    );
}

#[test]
fn an_unknown_event_closing_a_step_is_refused_with_the_kinds_events_and_receipt() {
    let reason = refused(&with(VALID, "[\"received\"]", "[\"received\", \"seen\"]"));
    assert_eq!(
        reason,
        "steps[0] (presa-in-carico): closed_by: dimissione_protetta has no event 'seen' \
         (it has requested, received, joint_assessment_recorded, care_plan_agreed, \
         expected_date_changed, discharged, home_services_activated, readmitted, closed, \
         cancelled, receipt)"
    );
}

#[test]
fn an_event_of_another_kind_is_refused() {
    let reason = refused(&with(VALID, "[\"requested\"]", "[\"referral_sent\"]"));
    assert!(
        reason.contains("dimissione_protetta has no event 'referral_sent'"),
        "{reason}"
    );
}

#[test]
fn a_step_no_event_opens_is_refused() {
    let reason = refused(&with(VALID, "[\"requested\"]", "[]"));
    assert_eq!(
        reason,
        "steps[0] (presa-in-carico): opened_by names no event"
    );
}

#[test]
fn an_unknown_kind_is_refused() {
    let reason = refused(&with(VALID, "\"dimissione_protetta\"", "\"dimissioni\""));
    assert_eq!(
        reason,
        "steps[0] (presa-in-carico): unknown kind 'dimissioni': dimissione_protetta, pua or \
         centro_famiglia"
    );
}

#[test]
fn an_unreadable_deadline_is_refused() {
    let reason = refused(&with(VALID, "\"2 working days\"", "\"2 workdays\""));
    assert_eq!(
        reason,
        "steps[0] (presa-in-carico): cannot read the deadline '2 workdays': write 'N working \
         days', 'N hours', 'before expected_discharge' or 'by expected_discharge'"
    );
}

#[test]
fn a_deadline_from_an_unknown_date_is_refused() {
    let reason = refused(&with(VALID, "\"2 working days\"", "\"before admission\""));
    assert!(
        reason.contains("unknown date 'admission': a deadline can count from expected_discharge"),
        "{reason}"
    );
}

#[test]
fn a_deadline_beyond_ten_years_is_refused() {
    let reason = refused(&with(VALID, "\"2 working days\"", "\"5000 hours\""));
    assert!(
        reason.contains("'5000' is not a number of days or hours up to 3650"),
        "{reason}"
    );
    let reason = refused(&with(VALID, "\"2 working days\"", "\"-1 working days\""));
    assert!(reason.contains("'-1' is not a number"), "{reason}");
}

#[test]
fn an_expected_discharge_deadline_on_a_pua_step_is_refused() {
    let pua = step_of_kind("pua", "uvm_requested", "uvm_completed");
    assert!(
        parse(&[(FILE, &pua)]).is_ok(),
        "the PUA step itself is valid"
    );
    let reason = refused(&with(
        &pua,
        "\"2 working days\"",
        "\"by expected_discharge\"",
    ));
    assert_eq!(
        reason,
        "steps[0] (presa-in-carico): deadline 'by expected_discharge': only a \
         dimissione_protetta carries an expected discharge date"
    );
}

#[test]
fn a_centro_responsible_for_a_pua_step_is_refused() {
    let pua = step_of_kind(
        "pua",
        "access_registered",
        "preliminary_assessment_recorded",
    );
    let reason = refused(&with(&pua, "\"comune_of_residence\"", "\"centro\""));
    assert_eq!(
        reason,
        "steps[0] (presa-in-carico): responsible 'centro' has no part in a pua pathway"
    );
}

#[test]
fn an_asst_responsible_for_a_centro_famiglia_step_is_refused() {
    let centro = step_of_kind("centro_famiglia", "referral_sent", "accepted");
    assert!(
        parse(&[(FILE, &centro)]).is_ok(),
        "the Centro step itself is valid"
    );
    let reason = refused(&with(&centro, "\"comune_of_residence\"", "\"asst\""));
    assert!(
        reason.ends_with("responsible 'asst' has no part in a centro_famiglia pathway"),
        "{reason}"
    );
}

#[test]
fn an_unknown_responsible_is_refused() {
    let reason = refused(&with(VALID, "\"comune_of_residence\"", "\"comune\""));
    assert!(reason.contains("unknown variant `comune`"), "{reason}");
}

#[test]
fn an_ambito_not_in_the_registry_is_refused() {
    let reason = refused(&with(VALID, "[\"50069\"]", "[\"50016\"]"));
    assert_eq!(reason, "ambiti: 50016 is not an Ambito of the registry");
}

#[test]
fn a_malformed_ambito_code_is_refused() {
    let reason = refused(&with(VALID, "[\"50069\"]", "[\"lom_51\"]"));
    assert!(reason.starts_with("ambiti: "), "{reason}");
    assert!(reason.contains("lom_51"), "{reason}");
}

#[test]
fn a_distretto_not_in_the_registry_is_refused() {
    let reason = refused(&with(
        VALID,
        "ambiti = [\"50069\"]",
        "distretti = [\"22999\"]",
    ));
    assert_eq!(
        reason,
        "distretti: 22999 is not a Distretto of the registry"
    );
}

#[test]
fn a_protocol_covering_no_territory_is_refused() {
    let reason = refused(&with(VALID, "ambiti = [\"50069\"]", ""));
    assert!(reason.contains("covers no territory"), "{reason}");
}

#[test]
fn valid_until_on_or_before_valid_from_is_refused() {
    let same_day = with(
        VALID,
        "valid_from = 2030-01-01",
        "valid_from = 2030-01-01\nvalid_until = 2030-01-01",
    );
    let reason = refused(&same_day);
    assert!(
        reason.starts_with("valid_until must be after valid_from"),
        "{reason}"
    );
    let earlier = with(
        VALID,
        "valid_from = 2030-01-01",
        "valid_from = 2030-01-01\nvalid_until = 2029-06-30",
    );
    let reason = refused(&earlier);
    assert!(
        reason.starts_with("valid_until must be after valid_from"),
        "{reason}"
    );
}

#[test]
fn a_date_with_a_time_is_refused() {
    let reason = refused(&with(
        VALID,
        "valid_from = 2030-01-01",
        "valid_from = 2030-01-01T08:00:00",
    ));
    assert!(
        reason.starts_with("valid_from must be a date (YYYY-MM-DD)"),
        "{reason}"
    );
}

#[test]
fn two_steps_with_one_id_are_refused() {
    let reason = refused(&format!("{VALID}{SECOND_STEP}"));
    assert_eq!(
        reason,
        "steps[1] (presa-in-carico): two steps have the id 'presa-in-carico'"
    );
}

#[test]
fn a_finding_no_step_reports_is_refused() {
    let reason = refused(&with(
        VALID,
        "deadline = \"2 working days\"",
        "deadline = \"2 working days\"\nfinding = \"readmission\"",
    ));
    assert_eq!(
        reason,
        "steps[0] (presa-in-carico): finding 'readmission' is not one a step reports: \
         step_overdue, never_acknowledged, assessment_without_plan, sad_not_activated or \
         discharge_without_destination"
    );
}

#[test]
fn needs_sad_on_a_step_of_another_kind_is_refused() {
    let centro = step_of_kind("centro_famiglia", "referral_sent", "accepted");
    let reason = refused(&with(
        &centro,
        "deadline = \"2 working days\"",
        "deadline = \"2 working days\"\nwhen = \"needs_sad\"",
    ));
    assert!(
        reason.contains("applies to a dimissione_protetta only"),
        "{reason}"
    );
}

// ---- protocols that overlap -----------------------------------------------------------------------

#[test]
fn two_protocols_in_force_for_one_ambito_on_overlapping_dates_are_refused() {
    let first = with(
        VALID,
        "valid_from = 2030-01-01",
        "valid_from = 2025-01-01\nvalid_until = 2026-01-01",
    );
    let second = with(
        &with(VALID, "\"prova\"", "\"altra\""),
        "valid_from = 2030-01-01",
        "valid_from = 2025-12-31\nvalid_until = 2026-02-01",
    );
    let error = parse(&[("prima.v1.toml", &first), ("seconda.v1.toml", &second)])
        .expect_err("the two overlap on 31 December 2025");
    assert_eq!(error.file, "seconda.v1.toml");
    assert!(error.reason.contains("altra v1"), "{error}");
    assert!(error.reason.contains("prova v1"), "{error}");
    assert!(error.reason.contains("in prima.v1.toml"), "{error}");
    assert!(
        error.reason.contains("are both in force for Ambito 50069"),
        "{error}"
    );
}

#[test]
fn a_protocol_ending_the_day_the_next_begins_does_not_overlap_it() {
    let first = with(
        VALID,
        "valid_from = 2030-01-01",
        "valid_from = 2025-01-01\nvalid_until = 2026-01-01",
    );
    let second = with(
        &with(VALID, "\"prova\"", "\"altra\""),
        "valid_from = 2030-01-01",
        "valid_from = 2026-01-01\nvalid_until = 2026-02-01",
    );
    let protocols = parse(&[("prima.v1.toml", &first), ("seconda.v1.toml", &second)])
        .expect("one ends as the other begins");
    assert_eq!(
        in_force(&protocols, "50069", date!(2025 - 12 - 31)).as_deref(),
        Some("prova")
    );
    assert_eq!(
        in_force(&protocols, "50069", date!(2026 - 01 - 01)).as_deref(),
        Some("altra")
    );
    assert_eq!(in_force(&protocols, "50069", date!(2026 - 02 - 01)), None);
}

#[test]
fn a_protocol_overlapping_a_shipped_one_is_refused() {
    let error = parse_with_shipped(&[(FILE, VALID)])
        .expect_err("Cinisello's shipped protocol is open-ended");
    assert_eq!(error.file, FILE);
    assert!(error.reason.contains(CINISELLO), "{error}");
    assert!(
        error.reason.contains("nord-milano-cinisello.v1.toml"),
        "{error}"
    );
    assert!(error.reason.contains("Ambito 50069"), "{error}");
}

#[test]
fn a_protocol_for_a_distretto_overlapping_one_for_its_ambito_is_refused() {
    // Distretto 22008 PARCO NORD holds the Ambito of Cinisello Balsamo, whose shipped protocol
    // begins on 1 February 2026.
    let by_distretto = with(
        &with(VALID, "ambiti = [\"50069\"]", "distretti = [\"22008\"]"),
        "valid_from = 2030-01-01",
        "valid_from = 2026-01-01\nvalid_until = 2026-03-01",
    );
    let error =
        parse_with_shipped(&[(FILE, &by_distretto)]).expect_err("February 2026 is covered twice");
    assert_eq!(error.file, FILE);
    assert!(error.reason.contains("Ambito 50069"), "{error}");
}

#[test]
fn a_protocol_for_an_ambito_overlapping_one_for_its_distretto_is_refused() {
    // The shipped Magentino protocol covers Distretto 22004, that is the Ambito 50032.
    let by_ambito = with(
        &with(VALID, "ambiti = [\"50069\"]", "ambiti = [\"50032\"]"),
        "valid_from = 2030-01-01",
        "valid_from = 2024-01-01\nvalid_until = 2025-01-02",
    );
    let error =
        parse_with_shipped(&[(FILE, &by_ambito)]).expect_err("1 January 2025 is covered twice");
    assert!(error.reason.contains(MAGENTINO), "{error}");
    assert!(error.reason.contains("Ambito 50032"), "{error}");
}

#[test]
fn a_protocol_for_an_ambito_before_its_distretto_protocol_begins_is_accepted() {
    let before = with(
        &with(VALID, "ambiti = [\"50069\"]", "ambiti = [\"50032\"]"),
        "valid_from = 2030-01-01",
        "valid_from = 2024-01-01\nvalid_until = 2025-01-01",
    );
    let protocols = parse_with_shipped(&[(FILE, &before)]).expect("no day is covered twice");
    assert_eq!(
        in_force(&protocols, "50032", date!(2024 - 12 - 31)).as_deref(),
        Some("prova")
    );
    assert_eq!(
        in_force(&protocols, "50032", date!(2025 - 01 - 01)).as_deref(),
        Some(MAGENTINO)
    );
}

#[test]
fn one_protocol_version_in_two_files_is_refused() {
    let later = with(VALID, "valid_from = 2030-01-01", "valid_from = 2031-01-01");
    let earlier = with(
        VALID,
        "valid_from = 2030-01-01",
        "valid_from = 2029-01-01\nvalid_until = 2030-01-01",
    );
    let error =
        parse(&[("a.toml", &earlier), ("b.toml", &later)]).expect_err("prova version 1 twice");
    assert_eq!(error.file, "b.toml");
    assert_eq!(error.reason, "protocol prova version 1 is also in a.toml");
}

// ---- protocols in place of others (raccordo replay what-if) --------------------------------------

/// The shipped Magentino file with `from` replaced by `to`.
fn magentino_with(from: &str, to: &str) -> String {
    let shipped = Protocols::embedded_files()
        .iter()
        .find(|f| f.name.starts_with(MAGENTINO))
        .expect("the Magentino file ships");
    with(shipped.contents, from, to)
}

fn versions(protocols: &Protocols) -> Vec<(String, u32, String)> {
    protocols
        .all()
        .iter()
        .map(|p| (p.id.clone(), p.version, p.file.clone()))
        .collect()
}

#[test]
fn a_protocol_in_place_of_a_shipped_one_replaces_it_and_leaves_the_others() {
    let shipped = Protocols::embedded(registry()).expect("the shipped protocols parse");
    let stricter = magentino_with(
        "deadline = \"2 working days\"",
        "deadline = \"1 working day\"",
    );
    let others = parse(&[("stricter.toml", &stricter)]).expect("a valid file");
    let replaced = shipped
        .replaced_by(others, registry())
        .expect("the stricter file stands in for the shipped one");
    assert_eq!(
        versions(&replaced),
        [
            (
                CINISELLO.to_owned(),
                1,
                "nord-milano-cinisello.v1.toml".to_owned()
            ),
            (MAGENTINO.to_owned(), 1, "stricter.toml".to_owned()),
        ]
    );
    let magentino = replaced
        .in_force(&ambito("50032"), date!(2026 - 02 - 02), registry())
        .expect("the Magentino has a protocol");
    assert_eq!(magentino.steps[0].deadline, DeadlineExpr::WorkingDays(1));
    // The shipped set itself is as it was.
    assert_eq!(shipped, Protocols::embedded(registry()).unwrap());
}

#[test]
fn every_version_of_the_id_leaves_and_all_the_given_ones_come_in() {
    // A second version from March 2026, with the first ended that day: both are given.
    let first = magentino_with(
        "valid_from = 2025-01-01",
        "valid_from = 2025-01-01\nvalid_until = 2026-03-01",
    );
    let second = with(
        &with(
            &magentino_with("version = 1", "version = 2"),
            "valid_from = 2025-01-01",
            "valid_from = 2026-03-01",
        ),
        "deadline = \"2 working days\"",
        "deadline = \"24 hours\"",
    );
    let others = parse(&[("v1.toml", &first), ("v2.toml", &second)]).expect("valid files");
    let replaced = Protocols::embedded(registry())
        .unwrap()
        .replaced_by(others, registry())
        .expect("v1 ends as v2 begins");
    let magentino = |on: Date| {
        let p = replaced
            .in_force(&ambito("50032"), on, registry())
            .expect("covered");
        (p.version, p.steps[0].deadline)
    };
    assert_eq!(
        magentino(date!(2026 - 02 - 28)),
        (1, DeadlineExpr::WorkingDays(2))
    );
    assert_eq!(
        magentino(date!(2026 - 03 - 01)),
        (2, DeadlineExpr::Hours(24))
    );
}

#[test]
fn a_new_protocol_comes_in_beside_the_shipped_ones() {
    let others = parse(&[(FILE, VALID)]).expect("a valid file");
    let error = Protocols::embedded(registry())
        .unwrap()
        .replaced_by(others, registry())
        .expect_err("prova overlaps Cinisello's open-ended protocol in 2030");
    assert_eq!(error.file, FILE);
    assert!(error.reason.contains(CINISELLO), "{error}");
    assert!(error.reason.contains("Ambito 50069"), "{error}");

    let before = with(
        &with(VALID, "ambiti = [\"50069\"]", "ambiti = [\"50032\"]"),
        "valid_from = 2030-01-01",
        "valid_from = 2024-01-01\nvalid_until = 2025-01-01",
    );
    let others = parse(&[(FILE, &before)]).expect("a valid file");
    let replaced = Protocols::embedded(registry())
        .unwrap()
        .replaced_by(others, registry())
        .expect("no day is covered twice");
    assert_eq!(replaced.all().len(), 3);
    assert_eq!(
        in_force(&replaced, "50032", date!(2024 - 12 - 31)).as_deref(),
        Some("prova")
    );
    assert_eq!(
        in_force(&replaced, "50032", date!(2025 - 01 - 01)).as_deref(),
        Some(MAGENTINO)
    );
}
