//! `raccordo replay pathway` and `raccordo audit` as an operator runs them: the real binary on a
//! real nats-server with JetStream. The log is written by the gateway's own command engine on a
//! virtual clock, and the findings are recorded as the live reconciler records them (its book
//! fed every event and fired as the clock moves, each finding through the engine in the name of
//! the ATS).
//!
//! The pathway: a protected discharge of a Magenta resident from ASST Ovest Milanese, requested
//! on Monday 2 February 2026 at 10:00 in Italy, acknowledged by the Comune within the hour but
//! taken in only on Thursday at 10:00 (the Magentino's example protocol gives two working days:
//! Tuesday and Wednesday), then assessed, planned, discharged home with C-DOM and closed. Being
//! closed, nothing of it depends on when the test runs, except the `as of` instant.

use std::process::{Command as Process, Output, Stdio};
use std::sync::Arc;

use raccordo::nats::{EmbeddedNats, locate};
use raccordo_domain::clock::VirtualClock;
use raccordo_domain::ids::{ComuneId, EventId, OrgId, PathwayId, SubjectRef};
use raccordo_domain::pathway::dimissione_protetta as dp;
use raccordo_domain::pathway::finding::RecordFinding;
use raccordo_domain::pathway::{Actor, Command, CommandBody, Participant, Role, receipt};
use raccordo_domain::protocol::Protocols;
use raccordo_domain::reconcile::Book;
use raccordo_domain::registry::Registry;
use raccordo_eventlog::{EventLog, LogConfig};
use raccordo_gateway::Engine;
use raccordo_reconciler::Rules;
use serde_json::Value;
use time::macros::{date, datetime};
use time::{Duration, OffsetDateTime};

const ASST: &str = "asst:705";
const MAGENTA: &str = "comune:magenta";
const ATS: &str = "ats:321";
/// Who replays, on the command line.
const OPERATOR: &str = "giulia.bianchi";

fn org(id: &str) -> OrgId {
    id.parse().unwrap()
}

/// The log written one command at a time, the reconciler's book kept beside it.
struct Scenario {
    engine: Engine,
    clock: VirtualClock,
    rules: Rules,
    book: Book,
    pathway: Option<PathwayId>,
    commands: usize,
}

impl Scenario {
    /// Plays `body` as `who` at `at` on the pathway (opening it the first time); then lets the
    /// reconciler see it. The event appended.
    async fn run(
        &mut self,
        who: &str,
        at: OffsetDateTime,
        body: impl Into<CommandBody>,
    ) -> EventId {
        self.commands += 1;
        let command = Command {
            id: format!("pathway-test-{}", self.commands).parse().unwrap(),
            pathway: self.pathway.clone(),
            body: body.into(),
        };
        self.execute(who, at, &command).await
    }

    async fn execute(&mut self, who: &str, at: OffsetDateTime, command: &Command) -> EventId {
        self.clock.set(at);
        let actor = Actor {
            org: org(who),
            operator: "operatore.1".parse().unwrap(),
        };
        let outcome = self
            .engine
            .execute(&actor, command, &opentelemetry::Context::new())
            .await
            .unwrap_or_else(|e| panic!("{who} {} at {at}: {e}", command.body.name()));
        self.pathway = Some(outcome.pathway);
        self.reconcile(at).await;
        outcome.applied.event_id
    }

    /// What the live reconciler does by `at`: takes in every event, fires the deadlines passed,
    /// records each finding through the engine.
    async fn reconcile(&mut self, at: OffsetDateTime) {
        self.clock.set(at);
        let pathway = self.pathway.clone().unwrap();
        let history = self.engine.log().history(&pathway).await.unwrap();
        let mut found = Vec::new();
        for recorded in &history {
            found.extend(self.book.observe(self.rules.book(), recorded));
        }
        found.extend(self.book.fire(self.rules.book(), at));
        for f in found {
            let command = RecordFinding::command(f.pathway, f.finding);
            self.engine
                .execute(&f.recorder, &command, &opentelemetry::Context::new())
                .await
                .unwrap();
        }
    }
}

/// Monday 2 February 2026 at `hour`:00 UTC, `days` later (Italy is an hour ahead, CET).
fn day(days: i64, hour: u8) -> OffsetDateTime {
    datetime!(2026-02-02 00:00 UTC) + Duration::days(days) + Duration::hours(hour.into())
}

fn participant(id: &str, role: Role) -> Participant {
    Participant { org: org(id), role }
}

/// Writes the pathway; its id.
async fn write(s: &mut Scenario) -> PathwayId {
    let requested = s
        .run(
            ASST,
            day(0, 9),
            dp::Command::Request(dp::Request {
                subject_ref: SubjectRef::from_digest([7; 32]),
                ward: "Medicina generale - Ospedale di Magenta".into(),
                residence: "magenta".parse::<ComuneId>().unwrap(),
                expected_discharge: date!(2026 - 02 - 09),
                needs: vec![dp::Service::CDom],
                lives_alone: true,
                no_caregiver: false,
            }),
        )
        .await;
    let pathway = s.pathway.clone().unwrap();
    let ack = receipt::Acknowledge::command(pathway.clone(), requested, 1, day(0, 9));
    s.execute(MAGENTA, day(0, 10), &ack).await;
    // Thursday 09:00 in Italy: the take-in was due at Wednesday's midnight.
    s.reconcile(day(3, 8)).await;
    s.run(MAGENTA, day(3, 9), dp::Command::Receive).await;
    s.run(
        ASST,
        day(4, 9),
        dp::Command::RecordJointAssessment(dp::RecordJointAssessment {
            assessed_on: date!(2026 - 02 - 06),
            participants: vec![
                participant(ASST, Role::Physician),
                participant(MAGENTA, Role::SocialWorker),
            ],
        }),
    )
    .await;
    s.run(
        MAGENTA,
        day(7, 8),
        dp::Command::AgreeCarePlan(dp::AgreeCarePlan {
            services: vec![dp::Service::CDom],
            case_manager: Some(participant(MAGENTA, Role::SocialWorker)),
        }),
    )
    .await;
    s.run(
        ASST,
        day(7, 10),
        dp::Command::RecordDischarge(dp::RecordDischarge {
            discharged_on: date!(2026 - 02 - 09),
            destination: dp::Destination::Home,
        }),
    )
    .await;
    s.run(
        ASST,
        day(8, 9),
        dp::Command::ActivateHomeServices(dp::ActivateHomeServices {
            services: vec![dp::Service::CDom],
            activated_on: date!(2026 - 02 - 10),
        }),
    )
    .await;
    s.run(
        MAGENTA,
        day(9, 9),
        dp::Command::Close {
            reason: dp::CloseReason::Completed,
        },
    )
    .await;
    pathway
}

/// The real binary against `url`, as operator `user` ($USER), with these arguments.
fn raccordo(url: &str, user: Option<&str>, args: &[&str]) -> Output {
    let mut command = Process::new(env!("CARGO_BIN_EXE_raccordo"));
    command
        .args(args)
        .args(["--nats", url])
        .env_remove("RACCORDO_NATS_URL")
        .env_remove("RACCORDO_STATE_DIR")
        .env_remove("USER")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    if let Some(user) = user {
        command.env("USER", user);
    }
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "raccordo failed ({}):\n{stderr}",
        output.status
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// A refused run's stderr: exit 1, nothing on stdout.
fn refused(output: &Output) -> String {
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(output.stdout.is_empty(), "{stderr}");
    stderr
}

/// The text output with its two lines that depend on the run (when, and which audit event)
/// checked and replaced by placeholders.
fn stable(text: &str) -> String {
    text.lines()
        .map(|line| {
            if line.starts_with("as of ") {
                "as of       <now>".to_owned()
            } else if let Some(rest) = line.strip_prefix("audit       recorded as event ") {
                assert!(rest.contains(" (RACCORDO_AUDIT sequence "), "{line}");
                "audit       recorded as event <id> (RACCORDO_AUDIT sequence <n>)".to_owned()
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// What the hospital reads for care. Times in Italian local time (CET, +01:00 all February).
const ASST_CARE: &str = "\
pathway     <pathway>
kind        dimissione_protetta
Ambito      50032 Magentino
status      closed
viewer      asst:705
purpose     care
view        full
opened      Mon 2026-02-02 10:00 +01:00
updated     Wed 2026-02-11 10:00 +01:00
as of       <now>
waiting on  nobody
audit       recorded as event <id> (RACCORDO_AUDIT sequence <n>)

asst:705  ASST OVEST MILANESE
  acts
    Mon 2026-02-02 10:00 +01:00  requested                  log #1
      subject_ref: 0707070707070707070707070707070707070707070707070707070707070707, asst: 705, ward: Medicina generale - Ospedale di Magenta, residence: magenta, ambito: 50032, expected_discharge: 2026-02-09, needs: [\"c_dom\"], lives_alone: true, no_caregiver: false
    Fri 2026-02-06 10:00 +01:00  joint_assessment_recorded  log #6
      assessed_on: 2026-02-06, participants: [{\"org\":\"asst:705\",\"role\":\"physician\"},{\"org\":\"comune:magenta\",\"role\":\"social_worker\"}]
    Mon 2026-02-09 11:00 +01:00  discharged                 log #8
      discharged_on: 2026-02-09, destination: home
    Tue 2026-02-10 10:00 +01:00  home_services_activated    log #9
      services: [\"c_dom\"], activated_on: 2026-02-10
  waits
    Thu 2026-02-05 10:00 +01:00 → Tue 2026-02-10 10:00 +01:00  5 d
  deadlines
    dp-dimissione-alla-data (ovest-milanese-magentino v1)  due Tue 2026-02-10 00:00 +01:00  met, closed Mon 2026-02-09 11:00 +01:00 by discharged (log #8)

comune:magenta  Magenta
  acts
    Mon 2026-02-02 11:00 +01:00  receipt           log #2
      event_id: <requested>, event_type: raccordo.dimissione_protetta.requested.v1, sender: asst:705, inbox_cursor: 1, delivered_at: 2026-02-02T09:00:00Z
    Thu 2026-02-05 10:00 +01:00  received          log #4
      received_by: comune:magenta
    Mon 2026-02-09 09:00 +01:00  care_plan_agreed  log #7
      services: [\"c_dom\"], case_manager: {\"org\":\"comune:magenta\",\"role\":\"social_worker\"}
    Wed 2026-02-11 10:00 +01:00  closed            log #10
      reason: completed
  waits
    Mon 2026-02-02 10:00 +01:00 → Mon 2026-02-09 09:00 +01:00  6 d 23 h
    Mon 2026-02-09 11:00 +01:00 → Tue 2026-02-10 10:00 +01:00  23 h 0 min
  deadlines
    dp-presa-in-carico (ovest-milanese-magentino v1)            due Thu 2026-02-05 00:00 +01:00  late, closed Thu 2026-02-05 10:00 +01:00 by received (log #4)
    dp-conferma-ricezione (ovest-milanese-magentino v1)         due Wed 2026-02-04 00:00 +01:00  met, closed Mon 2026-02-02 11:00 +01:00 by receipt (log #2)
    dp-valutazione-congiunta (ovest-milanese-magentino v1)      due Mon 2026-02-09 00:00 +01:00  met, closed Fri 2026-02-06 10:00 +01:00 by joint_assessment_recorded (log #6)
    dp-progetto-dopo-valutazione (ovest-milanese-magentino v1)  due Thu 2026-02-12 00:00 +01:00  met, closed Mon 2026-02-09 09:00 +01:00 by care_plan_agreed (log #7)
  findings
    Thu 2026-02-05 09:00 +01:00  step_overdue         dp-presa-in-carico, due Thu 2026-02-05 00:00 +01:00, waited 2 d 14 h  log #3
    Thu 2026-02-05 10:00 +01:00  overdue_step_closed  dp-presa-in-carico, due Thu 2026-02-05 00:00 +01:00, waited 3 d  log #5
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pathways_history_is_printed_for_each_viewer_and_every_replay_is_in_the_audit_trail() {
    let began = std::time::Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let binary = locate(None).expect("run scripts/nats-server.sh first");
    let server = EmbeddedNats::start(&binary, &tmp.path().join("nats"))
        .await
        .unwrap();
    let url = server.url().to_owned();
    let log = EventLog::connect(&url, LogConfig::default()).await.unwrap();
    let registry = Arc::new(Registry::embedded().clone());
    let clock = VirtualClock::new(day(0, 9));
    let mut scenario = Scenario {
        engine: Engine::new(log.clone(), registry.clone(), Arc::new(clock.clone())),
        clock,
        rules: Rules::new(Protocols::embedded(&registry).unwrap(), registry),
        book: Book::default(),
        pathway: None,
        commands: 0,
    };
    let pathway = write(&mut scenario).await;
    let history = log.history(&pathway).await.unwrap();
    assert_eq!(history.len(), 10, "eight commands, two findings");
    let requested = history[0].event.id.to_string();
    let id = pathway.to_string();
    eprintln!("wrote the pathway in {:.1}s", began.elapsed().as_secs_f64());

    let replay = |viewer: &str, purpose: &str, format: &str, user: Option<&str>| {
        raccordo(
            &url,
            user,
            &[
                "replay",
                "pathway",
                &id,
                "--as",
                viewer,
                "--purpose",
                purpose,
                "--format",
                format,
            ],
        )
    };

    // The hospital, for care, as text: each lane's acts, waits, deadlines and findings.
    let text = stdout(&replay(ASST, "care", "text", Some(OPERATOR)));
    let expected = ASST_CARE
        .replace("<pathway>", &id)
        .replace("<requested>", &requested);
    assert_eq!(stable(&text), expected, "as printed:\n{text}");

    // The same as JSON: the timeline and the audit event recording the replay.
    let json: Value = serde_json::from_str(&stdout(&replay(ASST, "care", "json", Some(OPERATOR))))
        .expect("--format json prints JSON");
    let timeline = &json["timeline"];
    assert_eq!(timeline["pathway"], id.as_str());
    assert_eq!(timeline["viewer"], ASST);
    assert_eq!(timeline["purpose"], "care");
    assert_eq!(timeline["view"], "full");
    assert_eq!(timeline["status"], "closed");
    let lanes: Vec<&str> = timeline["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["org"].as_str().unwrap())
        .collect();
    assert_eq!(lanes, [ASST, MAGENTA]);
    let late = &timeline["lanes"][1]["deadlines"][0];
    assert_eq!(late["step"]["step"], "dp-presa-in-carico");
    assert_eq!(late["due"], "2026-02-04T23:00:00Z");
    assert_eq!(late["closed_at"], "2026-02-05T09:00:00Z");
    assert_eq!(late["outcome"], "late");
    assert_eq!(
        timeline["lanes"][1]["findings"].as_array().unwrap().len(),
        2
    );
    let audit = &json["audit"];
    assert_eq!(audit["replayed"]["viewer"], ASST);
    assert_eq!(audit["replayed"]["operator"], OPERATOR);
    assert_eq!(audit["replayed"]["via"], "cli");
    assert_eq!(audit["replayed"]["events_shown"], 10);
    assert_eq!(audit["replayed"]["at"], timeline["as_of"]);
    assert!(audit["replayed"].get("refused").is_none());

    // The Comune, for an audit: not its own receipt; who acted, with which command.
    let text = stdout(&replay(MAGENTA, "audit", "text", Some(OPERATOR)));
    let magenta = stable(&text);
    assert!(
        magenta.contains("viewer      comune:magenta\npurpose     audit\n"),
        "{text}"
    );
    assert!(!magenta.contains("  receipt "), "{text}");
    assert!(
        magenta.contains(
            "    Thu 2026-02-05 10:00 +01:00  received          log #4  by operatore.1 (command pathway-test-2)\n"
        ),
        "{text}"
    );
    assert!(magenta.contains("step_overdue"), "{text}");
    let json: Value =
        serde_json::from_str(&stdout(&replay(MAGENTA, "audit", "json", Some(OPERATOR)))).unwrap();
    let acts: Vec<&Value> = json["timeline"]["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["acts"].as_array().unwrap())
        .collect();
    assert_eq!(acts.len(), 7);
    for act in acts {
        assert_eq!(act["provenance"]["operator"], "operatore.1", "{act}");
        let sequence = act["sequence"].as_u64().unwrap();
        let event = &history[usize::try_from(sequence).unwrap() - 1].event;
        assert_eq!(act["provenance"]["command_id"], event.command_id.as_str());
    }
    assert_eq!(json["audit"]["replayed"]["purpose"], "audit");
    assert_eq!(json["audit"]["replayed"]["events_shown"], 9);

    // An ATS asking for care: refused, exit 1, and recorded all the same.
    let stderr = refused(&replay(ATS, "care", "text", Some(OPERATOR)));
    assert!(
        stderr.contains(&format!(
            "error: {ATS} sees pathway {id} in the aggregate view only: its history can be \
             replayed for governance, not for care. This refused replay was recorded in the \
             audit trail (RACCORDO_AUDIT sequence 5"
        )),
        "{stderr}"
    );
    // No operator to record: refused before anything is read or recorded.
    let stderr = refused(&replay(ASST, "care", "text", None));
    assert!(
        stderr.contains("no operator: $USER is not set; name who is replaying with --operator"),
        "{stderr}"
    );
    let stderr = refused(&replay(ASST, "care", "text", Some("Giulia Bianchi")));
    assert!(stderr.contains("--operator"), "{stderr}");
    // --operator wins over $USER.
    let named = raccordo(
        &url,
        Some(OPERATOR),
        &[
            "replay",
            "pathway",
            &id,
            "--as",
            ATS,
            "--purpose",
            "governance",
            "--operator",
            "coordinatore.ats",
        ],
    );
    let governance = stable(&stdout(&named));
    assert!(governance.contains("\nasst\n  acts\n"), "{governance}");
    assert!(!governance.contains("operatore"), "{governance}");

    // The trail, as raccordo audit lists it: every replay, via cli, the refused one too.
    let trail = stdout(&raccordo(&url, None, &["audit", "--pathway", &id]));
    let rows: Vec<Vec<&str>> = trail
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        rows[0],
        [
            "sequence",
            "time",
            "pathway",
            "viewer",
            "operator",
            "purpose",
            "via",
            "outcome",
            "events",
            "why refused"
        ],
        "{trail}"
    );
    let summary: Vec<Vec<&str>> = rows[1..]
        .iter()
        .map(|r| {
            let mut cells = vec![r[0], r[3], r[4], r[5], r[6], r[7], r[8]];
            cells.extend(r.get(9));
            cells
        })
        .collect();
    let refusal = format!(
        "{ATS} sees pathway {id} in the aggregate view only: its history can be replayed for \
         governance, not for care"
    );
    assert_eq!(
        summary,
        [
            vec!["1", ASST, OPERATOR, "care", "cli", "shown", "10"],
            vec!["2", ASST, OPERATOR, "care", "cli", "shown", "10"],
            vec!["3", MAGENTA, OPERATOR, "audit", "cli", "shown", "9"],
            vec!["4", MAGENTA, OPERATOR, "audit", "cli", "shown", "9"],
            vec!["5", ATS, OPERATOR, "care", "cli", "refused", "0", &refusal],
            vec![
                "6",
                ATS,
                "coordinatore.ats",
                "governance",
                "cli",
                "shown",
                "9"
            ],
        ],
        "{trail}"
    );
    assert!(rows[1..].iter().all(|r| r[2] == id), "{trail}");
    let json: Value = serde_json::from_str(&stdout(&raccordo(
        &url,
        None,
        &["audit", "--viewer", ATS, "--format", "json"],
    )))
    .unwrap();
    let of_ats = json.as_array().unwrap();
    assert_eq!(of_ats.len(), 2);
    assert_eq!(of_ats[0]["sequence"], 5);
    assert_eq!(of_ats[0]["replayed"]["refused"], refusal.as_str());
    assert_eq!(of_ats[1]["replayed"]["purpose"], "governance");
    let none = stdout(&raccordo(&url, None, &["audit", "--viewer", "asst:707"]));
    assert_eq!(none, "no replay for asst:707 recorded in the audit trail\n");

    eprintln!("done in {:.1}s", began.elapsed().as_secs_f64());
    server.stop().await;
}
