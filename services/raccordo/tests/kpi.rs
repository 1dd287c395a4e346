//! `raccordo kpi` as an operator runs it: the real binary reading a real nats-server with
//! JetStream. The log is written by the gateway's own command engine (decide, then append with
//! the pathway's last sequence expected), at chosen instants of a virtual clock, so that it holds
//! exactly what raccordo would have stored. The expected indicators are worked out by hand beside
//! the commands that make them.

use std::path::Path;
use std::process::{Command as Process, Output, Stdio};
use std::sync::Arc;

use raccordo::nats::{EmbeddedNats, locate};
use raccordo_domain::clock::VirtualClock;
use raccordo_domain::ids::{ComuneId, EventId, OrgId, PathwayId, SubjectRef};
use raccordo_domain::pathway::centro_famiglia as cpf;
use raccordo_domain::pathway::dimissione_protetta as dp;
use raccordo_domain::pathway::{Actor, Command, CommandBody, Participant, Role, pua, receipt};
use raccordo_domain::registry::Registry;
use raccordo_eventlog::{EventLog, LogConfig, codec};
use raccordo_gateway::Engine;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::macros::datetime;
use time::{Date, OffsetDateTime};

const MAGENTINO: &str = "50032";
const CINISELLO: &str = "50069";
/// ASST Ovest Milanese, serving the Magentino.
const OVEST_MILANESE: &str = "asst:705";
/// ASST Nord Milano, serving Cinisello Balsamo's Ambito.
const NORD_MILANO: &str = "asst:707";
const MAGENTA: &str = "comune:magenta";
const CORBETTA: &str = "comune:corbetta";
const CINISELLO_BALSAMO: &str = "comune:cinisello-balsamo";
/// A Centro per la Famiglia of the Magentino.
const SPAZIO_FAMIGLIA: &str = "centro:spazio-famiglia-qui-si-puo";
/// The Centro per la Famiglia of Cinisello Balsamo's Ambito.
const OFFICINA: &str = "centro:officina-dei-legami";

fn org(id: &str) -> OrgId {
    id.parse().unwrap()
}

/// Commands played through the gateway's engine, each at its own instant.
struct Scenario {
    engine: Engine,
    clock: VirtualClock,
    /// Events appended, receipts included.
    events: u64,
    receipts: u64,
}

impl Scenario {
    /// Plays `body` as `who` at `now` on `pathway` (`None`: it opens one); the pathway it acted on
    /// and the event it appended.
    async fn run(
        &mut self,
        who: &str,
        now: &str,
        pathway: Option<&PathwayId>,
        body: impl Into<CommandBody>,
    ) -> (PathwayId, EventId) {
        let command = Command {
            id: format!("kpi-test-{}", self.events + 1).parse().unwrap(),
            pathway: pathway.cloned(),
            body: body.into(),
        };
        self.execute(who, at(now), &command).await
    }

    /// `who` acknowledges event `event_id` of `pathway` at `now`: a receipt, which no ATS receives.
    async fn acknowledge(&mut self, who: &str, now: &str, pathway: &PathwayId, event_id: EventId) {
        let command = receipt::Acknowledge::command(pathway.clone(), event_id, 1, at(now));
        self.execute(who, at(now), &command).await;
        self.receipts += 1;
    }

    async fn execute(
        &mut self,
        who: &str,
        now: OffsetDateTime,
        command: &Command,
    ) -> (PathwayId, EventId) {
        self.clock.set(now);
        let actor = Actor {
            org: org(who),
            operator: "operatore.1".parse().unwrap(),
        };
        let outcome = self
            .engine
            .execute(&actor, command, &opentelemetry::Context::new())
            .await
            .unwrap_or_else(|e| panic!("{who} {} at {now}: {e}", command.body.name()));
        assert!(!outcome.replayed);
        self.events += 1;
        (outcome.pathway, outcome.applied.event_id)
    }
}

/// An instant of 2026 in UTC, written `MM-DD hh:mm`.
fn at(month_day_time: &str) -> OffsetDateTime {
    let text = format!("2026-{}:00Z", month_day_time.replace(' ', "T"));
    OffsetDateTime::parse(&text, &Rfc3339).unwrap()
}

/// A calendar date of 2026, written `MM-DD`.
fn day(month_day: &str) -> Date {
    at(&format!("{month_day} 12:00")).date()
}

fn participants(list: &[(&str, Role)]) -> Vec<Participant> {
    list.iter()
        .map(|(id, role)| Participant {
            org: org(id),
            role: *role,
        })
        .collect()
}

/// A Comune by its id in the registry, e.g. `magenta`.
fn comune(id: &str) -> ComuneId {
    id.parse().unwrap()
}

fn request(residence: &str, expected: Date, needs: &[dp::Service]) -> dp::Command {
    dp::Command::Request(dp::Request {
        subject_ref: SubjectRef::from_digest([7; 32]),
        ward: "Medicina generale".into(),
        residence: comune(residence),
        expected_discharge: expected,
        needs: needs.to_vec(),
        lives_alone: true,
        no_caregiver: false,
    })
}

fn joint_assessment(on: Date, who: &[(&str, Role)]) -> dp::Command {
    dp::Command::RecordJointAssessment(dp::RecordJointAssessment {
        assessed_on: on,
        participants: participants(who),
    })
}

fn discharge(on: Date, destination: dp::Destination) -> dp::Command {
    dp::Command::RecordDischarge(dp::RecordDischarge {
        discharged_on: on,
        destination,
    })
}

fn home_services(services: &[dp::Service], on: Date) -> dp::Command {
    dp::Command::ActivateHomeServices(dp::ActivateHomeServices {
        services: services.to_vec(),
        activated_on: on,
    })
}

fn access(residence: &str) -> pua::Command {
    pua::Command::RegisterAccess(pua::RegisterAccess {
        subject_ref: SubjectRef::from_digest([8; 32]),
        residence: comune(residence),
        asst: "705".parse().unwrap(),
        channel: pua::Channel::GeneralPractitioner,
    })
}

fn uvm(on: Date, who: &[(&str, Role)]) -> pua::Command {
    pua::Command::CompleteUvm(pua::CompleteUvm {
        assessed_on: on,
        participants: participants(who),
        tools: vec![pua::Tool::Adl, pua::Tool::Iadl],
    })
}

fn referral(residence: &str, centro: &str) -> cpf::Command {
    let OrgId::Centro(centro) = org(centro) else {
        panic!("{centro} is not a Centro per la Famiglia");
    };
    cpf::Command::SendReferral(cpf::SendReferral {
        subject_ref: SubjectRef::from_digest([9; 32]),
        residence: comune(residence),
        centro,
        referrer: cpf::Referrer::ComuneSocialService,
        areas: vec![cpf::SupportArea::ParentingSupport],
    })
}

fn first_contact(on: Date) -> cpf::Command {
    cpf::Command::RecordFirstContact(cpf::RecordFirstContact {
        contacted_on: on,
        mode: cpf::ContactMode::InPerson,
    })
}

fn enrol(on: Date) -> cpf::Command {
    cpf::Command::Enrol(cpf::Enrol {
        interventions: vec![cpf::SupportArea::ParentingSupport],
        enrolled_on: on,
    })
}

/// Writes the scenario into the log. Instants are of 2026, in UTC ([`at`]); Rome is two hours
/// ahead from 29 March, so 31 March 22:00 UTC is already 1 April there.
async fn write(s: &mut Scenario) {
    use Role::{Educator, Nurse, Physician, SocialWorker};
    use dp::Destination::{Home, ResidentialFacility};
    use dp::Service::{CDom, Residential, Sad};

    // D1, Magentino: requested 2 February, home 9 February (7 days); received first; assessed
    // with Corbetta's social worker; SAD needed and activated. Magenta acknowledges the request:
    // a receipt, which the ATS never receives.
    let (d1, requested) = s
        .run(
            OVEST_MILANESE,
            "02-02 09:00",
            None,
            request("magenta", day("02-09"), &[Sad, CDom]),
        )
        .await;
    s.acknowledge(MAGENTA, "02-02 14:00", &d1, requested).await;
    s.run(MAGENTA, "02-02 15:00", Some(&d1), dp::Command::Receive)
        .await;
    s.run(
        OVEST_MILANESE,
        "02-04 11:00",
        Some(&d1),
        joint_assessment(
            day("02-04"),
            &[(OVEST_MILANESE, Physician), (CORBETTA, SocialWorker)],
        ),
    )
    .await;
    s.run(
        MAGENTA,
        "02-05 10:00",
        Some(&d1),
        dp::Command::AgreeCarePlan(dp::AgreeCarePlan {
            services: vec![Sad, CDom],
            case_manager: None,
        }),
    )
    .await;
    s.run(
        OVEST_MILANESE,
        "02-09 10:00",
        Some(&d1),
        discharge(day("02-09"), Home),
    )
    .await;
    s.run(
        MAGENTA,
        "02-10 10:00",
        Some(&d1),
        home_services(&[Sad], day("02-10")),
    )
    .await;

    // D2, Magentino: requested 20 March, to a facility 31 March (11 days); received first;
    // assessed by the hospital alone.
    let (d2, _) = s
        .run(
            OVEST_MILANESE,
            "03-20 10:00",
            None,
            request("corbetta", day("03-31"), &[Residential]),
        )
        .await;
    s.run(CORBETTA, "03-21 09:00", Some(&d2), dp::Command::Receive)
        .await;
    s.run(
        OVEST_MILANESE,
        "03-25 10:00",
        Some(&d2),
        joint_assessment(
            day("03-25"),
            &[(OVEST_MILANESE, Physician), (OVEST_MILANESE, Nurse)],
        ),
    )
    .await;
    s.run(
        OVEST_MILANESE,
        "03-31 20:00",
        Some(&d2),
        discharge(day("03-31"), ResidentialFacility),
    )
    .await;

    // D3, Magentino: requested at 00:30 on 1 April in Rome, home 3 April: 2 days, in Q2 (3 days
    // by the UTC date). SAD needed, never activated.
    let (d3, _) = s
        .run(
            OVEST_MILANESE,
            "03-31 22:30",
            None,
            request("magenta", day("04-03"), &[Sad]),
        )
        .await;
    s.run(MAGENTA, "04-02 08:00", Some(&d3), dp::Command::Receive)
        .await;
    s.run(
        OVEST_MILANESE,
        "04-03 09:00",
        Some(&d3),
        discharge(day("04-03"), Home),
    )
    .await;

    // D4, Magentino: requested 30 March, home 31 March (1 day) before the Comune took it in.
    let (d4, _) = s
        .run(
            OVEST_MILANESE,
            "03-30 08:00",
            None,
            request("magenta", day("03-31"), &[CDom]),
        )
        .await;
    s.run(
        OVEST_MILANESE,
        "03-31 21:00",
        Some(&d4),
        discharge(day("03-31"), Home),
    )
    .await;
    s.run(MAGENTA, "03-31 22:10", Some(&d4), dp::Command::Receive)
        .await;

    // D5, Magentino: requested 27 March; received at 00:05 on 1 April in Rome; the discharge
    // home on 31 March (4 days) recorded the morning after: received after the day of the
    // discharge, so not beforehand (by the UTC date it would be). SAD activated.
    let (d5, _) = s
        .run(
            OVEST_MILANESE,
            "03-27 09:00",
            None,
            request("magenta", day("03-31"), &[Sad]),
        )
        .await;
    s.run(MAGENTA, "03-31 22:05", Some(&d5), dp::Command::Receive)
        .await;
    s.run(
        OVEST_MILANESE,
        "04-01 08:00",
        Some(&d5),
        discharge(day("03-31"), Home),
    )
    .await;
    s.run(
        MAGENTA,
        "04-01 09:00",
        Some(&d5),
        home_services(&[Sad], day("04-01")),
    )
    .await;

    // P1, Magentino: UVM on 20 January with Magenta's social worker, then a plan.
    let (p1, _) = s
        .run(OVEST_MILANESE, "01-15 09:00", None, access("magenta"))
        .await;
    s.run(
        OVEST_MILANESE,
        "01-15 10:00",
        Some(&p1),
        pua::Command::RecordPreliminaryAssessment {
            triage: pua::Triage::Complex,
        },
    )
    .await;
    s.run(MAGENTA, "01-16 09:00", Some(&p1), pua::Command::RequestUvm)
        .await;
    s.run(
        OVEST_MILANESE,
        "01-20 09:00",
        Some(&p1),
        uvm(
            day("01-20"),
            &[(OVEST_MILANESE, Nurse), (MAGENTA, SocialWorker)],
        ),
    )
    .await;
    s.run(
        MAGENTA,
        "01-22 10:00",
        Some(&p1),
        pua::Command::AgreePlan(pua::AgreePlan {
            plan_type: pua::PlanType::Pai,
            case_manager: None,
        }),
    )
    .await;

    // P2, Magentino: UVM on 31 March, recorded at 00:15 on 1 April in Rome: a Q1 assessment;
    // Magenta sent an educator, not a social worker; no plan.
    let (p2, _) = s
        .run(OVEST_MILANESE, "03-02 09:00", None, access("magenta"))
        .await;
    s.run(
        OVEST_MILANESE,
        "03-02 10:00",
        Some(&p2),
        pua::Command::RecordPreliminaryAssessment {
            triage: pua::Triage::Complex,
        },
    )
    .await;
    s.run(MAGENTA, "03-03 09:00", Some(&p2), pua::Command::RequestUvm)
        .await;
    s.run(
        OVEST_MILANESE,
        "03-31 22:15",
        Some(&p2),
        uvm(
            day("03-31"),
            &[(OVEST_MILANESE, Physician), (MAGENTA, Educator)],
        ),
    )
    .await;

    // C1, Magentino: first contact 20 January, enrolled 1 February.
    let (c1, _) = s
        .run(
            MAGENTA,
            "01-10 09:00",
            None,
            referral("magenta", SPAZIO_FAMIGLIA),
        )
        .await;
    s.run(
        SPAZIO_FAMIGLIA,
        "01-12 09:00",
        Some(&c1),
        cpf::Command::Accept,
    )
    .await;
    s.run(
        SPAZIO_FAMIGLIA,
        "01-20 09:00",
        Some(&c1),
        first_contact(day("01-20")),
    )
    .await;
    s.run(
        SPAZIO_FAMIGLIA,
        "02-01 09:00",
        Some(&c1),
        enrol(day("02-01")),
    )
    .await;

    // C2, Magentino: first contact 31 March, recorded at 00:30 on 1 April in Rome; enrolled
    // 7 April.
    let (c2, _) = s
        .run(
            MAGENTA,
            "03-25 09:00",
            None,
            referral("corbetta", SPAZIO_FAMIGLIA),
        )
        .await;
    s.run(
        SPAZIO_FAMIGLIA,
        "03-26 09:00",
        Some(&c2),
        cpf::Command::Accept,
    )
    .await;
    s.run(
        SPAZIO_FAMIGLIA,
        "03-31 22:30",
        Some(&c2),
        first_contact(day("03-31")),
    )
    .await;
    s.run(
        SPAZIO_FAMIGLIA,
        "04-07 09:00",
        Some(&c2),
        enrol(day("04-07")),
    )
    .await;

    // D6, Cinisello: requested 10 January, home 12 January (2 days), received that afternoon,
    // after the discharge. SAD needed, not activated.
    let (d6, _) = s
        .run(
            NORD_MILANO,
            "01-10 09:00",
            None,
            request("cinisello-balsamo", day("01-12"), &[Sad]),
        )
        .await;
    s.run(
        NORD_MILANO,
        "01-12 11:00",
        Some(&d6),
        discharge(day("01-12"), Home),
    )
    .await;
    s.run(
        CINISELLO_BALSAMO,
        "01-12 16:00",
        Some(&d6),
        dp::Command::Receive,
    )
    .await;

    // C3, Cinisello: a first contact, no enrolment.
    let (c3, _) = s
        .run(
            CINISELLO_BALSAMO,
            "01-05 09:00",
            None,
            referral("bresso", OFFICINA),
        )
        .await;
    s.run(OFFICINA, "01-06 09:00", Some(&c3), cpf::Command::Accept)
        .await;
    s.run(
        OFFICINA,
        "01-08 09:00",
        Some(&c3),
        first_contact(day("01-08")),
    )
    .await;
}

/// Stores on a pathway subject a message that is no event, as a foreign writer might: the tool
/// leaves it out, as the router parks it, and carries on.
async fn garbage(log: &EventLog) {
    let js = async_nats::jetstream::new(log.client().clone());
    let subject = format!(
        "{}.dimissione_protetta.dp-00000000000000000000",
        codec::PATHWAY_SUBJECTS
    );
    js.publish(subject, "{\"not\": \"an event\"}".into())
        .await
        .unwrap()
        .await
        .unwrap();
}

/// `raccordo kpi` with `args`, to the end.
fn kpi(args: &[&str]) -> Output {
    Process::new(env!("CARGO_BIN_EXE_raccordo"))
        .arg("kpi")
        .args(args)
        .env_remove("RACCORDO_NATS_URL")
        .env_remove("RACCORDO_STATE_DIR")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn succeeded(output: Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "raccordo kpi failed ({}):\n{stderr}",
        output.status
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn the_indicators_of_a_crafted_log_are_the_hand_computed_ones_in_json_csv_and_text() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    // Where `raccordo up` keeps its embedded server for the state folder, ports file included.
    let binary = locate(None).expect("run scripts/nats-server.sh first");
    let server = EmbeddedNats::start(&binary, &state.join("nats"))
        .await
        .unwrap();
    let url = server.url().to_owned();
    let log = EventLog::connect(&url, LogConfig::default()).await.unwrap();
    let clock = VirtualClock::new(datetime!(2026-01-01 00:00 UTC));
    let mut scenario = Scenario {
        engine: Engine::new(
            log.clone(),
            Arc::new(Registry::embedded().clone()),
            Arc::new(clock.clone()),
        ),
        clock,
        events: 0,
        receipts: 0,
    };
    write(&mut scenario).await;
    garbage(&log).await;

    let json: Value = serde_json::from_str(&succeeded(kpi(&[
        "--nats",
        &url,
        "--ambito",
        MAGENTINO,
        "--quarter",
        "2026Q1",
        "--format",
        "json",
    ])))
    .unwrap();
    assert_eq!(json["ambito"], MAGENTINO);
    assert_eq!(json["ambito_name"], "Magentino");
    assert_eq!(json["ats"], "321");
    assert_eq!(json["quarter"], "2026Q1");
    assert_eq!(
        (json["first_day"].as_str(), json["last_day"].as_str()),
        (Some("2026-01-01"), Some("2026-03-31"))
    );
    // Every event of the log is of ATS 321's Ambiti; the receipt is for Magenta's sender alone.
    assert_eq!(json["events_read"], scenario.events);
    assert_eq!(json["events_for_ats"], scenario.events - scenario.receipts);
    assert_eq!(json["messages_left_out"], 1, "the message that is no event");
    let mut indicators = json["indicators"].clone();
    for line in indicators.as_object_mut().unwrap().values_mut() {
        assert!(line["label"].is_string());
        line.as_object_mut().unwrap().remove("label");
    }
    assert_eq!(
        indicators,
        json!({
            // D1 (Corbetta's social worker), D2, P1 (Magenta's social worker), P2 (an educator).
            "social_worker_present_pct": {"value": 50.0, "numerator": 2, "denominator": 4, "target": ">= 75%"},
            // P1 of P1 and P2.
            "plans_per_assessment_pct": {"value": 50.0, "numerator": 1, "denominator": 2, "target": ">= 60%"},
            // D1 7 days, D4 1 day, D5 4 days.
            "wait_discharge_home_days": {"value": 4.0, "numerator": 12, "denominator": 3, "target": "falling year on year"},
            // D2 11 days.
            "wait_discharge_residential_days": {"value": 11.0, "numerator": 11, "denominator": 1, "target": "falling year on year"},
            // D1, D2, D4, D5.
            "discharges_in_raccordo": {"value": 4, "numerator": null, "denominator": null, "target": "rising year on year"},
            // D1 and D2; D4 received after its discharge, D5 on the day after it (local time).
            "discharges_received_before_pct": {"value": 50.0, "numerator": 2, "denominator": 4, "target": null},
            // D1 and D5 needed SAD and got it; D4 did not need it.
            "sad_after_discharge_pct": {"value": 100.0, "numerator": 2, "denominator": 2, "target": ">= 50%"},
            // C1, and C2 on 31 March.
            "family_centre_accesses": {"value": 2, "numerator": null, "denominator": null, "target": "11000 a year, whole region"},
            // C1.
            "family_centre_enrolments": {"value": 1, "numerator": null, "denominator": null, "target": null},
        })
    );

    // The next quarter: no assessments (not applicable, not 0%); D3 from its local request date.
    let csv = succeeded(kpi(&[
        "--nats",
        &url,
        "--ambito",
        MAGENTINO,
        "--quarter",
        "2026Q2",
        "--format",
        "csv",
    ]));
    assert_eq!(
        csv,
        "ambito,quarter,indicator,value,numerator,denominator,target\n\
         50032,2026Q2,social_worker_present_pct,,0,0,>= 75%\n\
         50032,2026Q2,plans_per_assessment_pct,,0,0,>= 60%\n\
         50032,2026Q2,wait_discharge_home_days,2,2,1,falling year on year\n\
         50032,2026Q2,wait_discharge_residential_days,,0,0,falling year on year\n\
         50032,2026Q2,discharges_in_raccordo,1,,,rising year on year\n\
         50032,2026Q2,discharges_received_before_pct,100,1,1,\n\
         50032,2026Q2,sad_after_discharge_pct,0,0,1,>= 50%\n\
         50032,2026Q2,family_centre_accesses,0,,,\"11000 a year, whole region\"\n\
         50032,2026Q2,family_centre_enrolments,1,,,\n"
    );
    // The other Ambito: its own pathways only.
    let csv = succeeded(kpi(&[
        "--nats",
        &url,
        "--ambito",
        CINISELLO,
        "--quarter",
        "2026Q1",
        "--format",
        "csv",
    ]));
    assert_eq!(
        csv,
        "ambito,quarter,indicator,value,numerator,denominator,target\n\
         50069,2026Q1,social_worker_present_pct,,0,0,>= 75%\n\
         50069,2026Q1,plans_per_assessment_pct,,0,0,>= 60%\n\
         50069,2026Q1,wait_discharge_home_days,2,2,1,falling year on year\n\
         50069,2026Q1,wait_discharge_residential_days,,0,0,falling year on year\n\
         50069,2026Q1,discharges_in_raccordo,1,,,rising year on year\n\
         50069,2026Q1,discharges_received_before_pct,0,0,1,\n\
         50069,2026Q1,sad_after_discharge_pct,0,0,1,>= 50%\n\
         50069,2026Q1,family_centre_accesses,1,,,\"11000 a year, whole region\"\n\
         50069,2026Q1,family_centre_enrolments,0,,,\n"
    );

    // Without --nats: the running server of the state folder, found by its ports file; the text
    // table by default.
    let output = kpi(&[
        "--state-dir",
        state.to_str().unwrap(),
        "--ambito",
        MAGENTINO,
        "--quarter",
        "2026Q1",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let text = succeeded(output);
    assert!(
        stderr.contains("using the nats-server of the running `raccordo up`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("left out a message that is not an event"),
        "{stderr}"
    );
    // Each row: the label, then the value, numerator/denominator and target.
    let row = |label: &str| {
        let line = text
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no line for {label} in:\n{text}"));
        line[label.len()..]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(
        text.starts_with("LEPS indicators of Ambito 50032 Magentino (ATS 321), 2026Q1"),
        "{text}"
    );
    assert_eq!(
        row("assessments with a Comune/Ambito social worker"),
        "50.0% 2/4 >= 75%"
    );
    assert_eq!(
        row("mean wait for protected discharge home (days)"),
        "4.0 12/3 falling year on year"
    );
    assert_eq!(
        row("protected discharges handled in raccordo"),
        "4 rising year on year"
    );
    assert_eq!(
        row("of which taken in by the social side beforehand"),
        "50.0% 2/4 -"
    );
    server.stop().await;
}

#[test]
fn an_unknown_ambito_or_a_bad_quarter_is_refused_before_reading_anything() {
    let nowhere = Path::new("/nonexistent/raccordo-state");
    let state = nowhere.to_str().unwrap();
    let output = kpi(&[
        "--state-dir",
        state,
        "--ambito",
        "50000",
        "--quarter",
        "2026Q1",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error: unknown Ambito 50000: the territorial registry"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());

    let output = kpi(&[
        "--state-dir",
        state,
        "--ambito",
        MAGENTINO,
        "--quarter",
        "2026Q5",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("'2026Q5' is not a quarter: a year has quarters Q1 to Q4"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());

    let output = kpi(&[
        "--state-dir",
        state,
        "--ambito",
        MAGENTINO,
        "--quarter",
        "Q1-2026",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("as in 2026Q1"), "{stderr}");

    let output = kpi(&[
        "--state-dir",
        state,
        "--ambito",
        MAGENTINO,
        "--quarter",
        "2026Q1",
        "--format",
        "xml",
    ]);
    assert!(!output.status.success());
}
