//! `raccordo replay projection` as an operator runs it: the real binary, a real nats-server with
//! JetStream, real sled stores on disk. The log is written by the gateway's own command engine on
//! a virtual clock and routed by the real router; after every event the live projectors of two
//! parties catch up in this process and what they hold is noted. Each replay at a log sequence
//! must come to the digest the live projection had there: "point-in-time rebuild at sequence N
//! equals the live projection's digest when it was at N".
//!
//! Corbetta joins the first pathway late, at its joint assessment, and is then handed the
//! pathway's earlier events: messages carrying event 1 routed by a later event. A rebuild that
//! went by the event's sequence instead of the routing's would hold them too early.

use std::fs;
use std::path::Path;
use std::process::{Command as Process, Output, Stdio};
use std::sync::Arc;
use std::time::Instant;

use raccordo::nats::{EmbeddedNats, locate};
use raccordo_domain::clock::{Clock, VirtualClock};
use raccordo_domain::ids::{ComuneId, EventId, OrgId, PathwayId, PathwayKind, SubjectRef};
use raccordo_domain::pathway::dimissione_protetta as dp;
use raccordo_domain::pathway::{Actor, Command, CommandBody, Participant, Role, pua, receipt};
use raccordo_domain::registry::Registry;
use raccordo_eventlog::{EventLog, LogConfig};
use raccordo_gateway::Engine;
use raccordo_projector::{Projector, open_store};
use raccordo_router::Router;
use time::format_description::well_known::Rfc3339;
use time::macros::{datetime, offset};
use time::{Date, Duration, OffsetDateTime};

/// ASST Ovest Milanese: opens every pathway of the scenario.
const ASST: &str = "asst:705";
const MAGENTA: &str = "comune:magenta";
/// Joins the first pathway late.
const CORBETTA: &str = "comune:corbetta";
/// The parties whose projections are replayed.
const PARTIES: [&str; 2] = [ASST, CORBETTA];

fn org(id: &str) -> OrgId {
    id.parse().unwrap()
}

fn comune(id: &str) -> ComuneId {
    id.parse().unwrap()
}

/// What a live projection held once the router had routed the log up to `sequence`.
struct Seen {
    sequence: u64,
    /// When the event at `sequence` was stamped.
    time: OffsetDateTime,
    /// Per party of [`PARTIES`]: digest and number of pathways.
    live: Vec<(String, u64)>,
}

/// The log written one command at a time, each routed and projected live before the next.
struct Scenario {
    engine: Engine,
    clock: VirtualClock,
    router: Router,
    projectors: Vec<Projector>,
    seen: Vec<Seen>,
}

impl Scenario {
    /// Plays `body` as `who`, `minutes` after the previous command, on `pathway` (`None`: it opens
    /// one); then routes, projects and notes. The pathway and the event appended.
    async fn run(
        &mut self,
        who: &str,
        minutes: i64,
        pathway: Option<&PathwayId>,
        body: impl Into<CommandBody>,
    ) -> (PathwayId, EventId) {
        let command = Command {
            id: format!("replay-test-{}", self.seen.len() + 1)
                .parse()
                .unwrap(),
            pathway: pathway.cloned(),
            body: body.into(),
        };
        self.execute(who, minutes, &command).await
    }

    async fn execute(
        &mut self,
        who: &str,
        minutes: i64,
        command: &Command,
    ) -> (PathwayId, EventId) {
        let now = self.clock.now() + Duration::minutes(minutes);
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
        let sequence = self.engine.log().last_sequence().await.unwrap();
        assert_eq!(self.router.catch_up().await.unwrap(), sequence);
        let mut live = Vec::new();
        for projector in &self.projectors {
            projector.catch_up().await.unwrap();
            let store = projector.store();
            live.push((store.digest().unwrap(), store.pathway_count().unwrap()));
        }
        self.seen.push(Seen {
            sequence,
            time: now,
            live,
        });
        (outcome.pathway, outcome.applied.event_id)
    }
}

fn day(text: &str) -> Date {
    Date::parse(text, &time::format_description::well_known::Iso8601::DATE).unwrap()
}

fn participants(list: &[(&str, Role)]) -> Vec<Participant> {
    list.iter()
        .map(|(id, role)| Participant {
            org: org(id),
            role: *role,
        })
        .collect()
}

fn request(residence: &str, expected: &str, needs: &[dp::Service]) -> dp::Command {
    dp::Command::Request(dp::Request {
        subject_ref: SubjectRef::from_digest([7; 32]),
        ward: "Medicina generale".into(),
        residence: comune(residence),
        expected_discharge: day(expected),
        needs: needs.to_vec(),
        lives_alone: true,
        no_caregiver: false,
    })
}

/// Two protected discharges and a PUA access of the Magentino, about a week of work.
async fn write(s: &mut Scenario) {
    use Role::{Nurse, Physician, SocialWorker};
    use dp::Service::{CDom, Sad};

    let (d1, requested) = s
        .run(
            ASST,
            60,
            None,
            request("magenta", "2026-02-09", &[Sad, CDom]),
        )
        .await;
    let ack = receipt::Acknowledge::command(d1.clone(), requested, 1, s.clock.now());
    s.execute(MAGENTA, 90, &ack).await;
    s.run(MAGENTA, 30, Some(&d1), dp::Command::Receive).await;
    // Corbetta's social worker joins the assessment: Corbetta is handed D1 from its request on.
    s.run(
        ASST,
        60 * 20,
        Some(&d1),
        dp::Command::RecordJointAssessment(dp::RecordJointAssessment {
            assessed_on: day("2026-02-03"),
            participants: participants(&[(ASST, Physician), (CORBETTA, SocialWorker)]),
        }),
    )
    .await;
    let (p1, _) = s
        .run(
            ASST,
            45,
            None,
            pua::Command::RegisterAccess(pua::RegisterAccess {
                subject_ref: SubjectRef::from_digest([8; 32]),
                residence: comune("corbetta"),
                asst: "705".parse().unwrap(),
                channel: pua::Channel::GeneralPractitioner,
            }),
        )
        .await;
    s.run(
        MAGENTA,
        60 * 24,
        Some(&d1),
        dp::Command::AgreeCarePlan(dp::AgreeCarePlan {
            services: vec![Sad, CDom],
            case_manager: None,
        }),
    )
    .await;
    let (d2, _) = s
        .run(ASST, 30, None, request("corbetta", "2026-02-12", &[CDom]))
        .await;
    s.run(
        ASST,
        20,
        Some(&p1),
        pua::Command::RecordPreliminaryAssessment {
            triage: pua::Triage::Complex,
        },
    )
    .await;
    s.run(CORBETTA, 60 * 3, Some(&d2), dp::Command::Receive)
        .await;
    s.run(
        ASST,
        60 * 48,
        Some(&d1),
        dp::Command::RecordDischarge(dp::RecordDischarge {
            discharged_on: day("2026-02-06"),
            destination: dp::Destination::Home,
        }),
    )
    .await;
    s.run(
        ASST,
        60,
        Some(&d2),
        dp::Command::RecordJointAssessment(dp::RecordJointAssessment {
            assessed_on: day("2026-02-06"),
            participants: participants(&[(ASST, Physician), (ASST, Nurse)]),
        }),
    )
    .await;
    s.run(
        MAGENTA,
        60 * 24,
        Some(&d1),
        dp::Command::ActivateHomeServices(dp::ActivateHomeServices {
            services: vec![Sad],
            activated_on: day("2026-02-07"),
        }),
    )
    .await;
}

/// `raccordo replay projection` against `url` with these arguments.
fn replay(url: &str, args: &[&str]) -> Output {
    Process::new(env!("CARGO_BIN_EXE_raccordo"))
        .args(["replay", "projection", "--nats", url])
        .args(args)
        .env_remove("RACCORDO_NATS_URL")
        .env_remove("RACCORDO_STATE_DIR")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A successful run's `name value` lines.
fn summary(output: Output) -> std::collections::BTreeMap<String, String> {
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        output.status.success(),
        "raccordo replay failed ({}):\n{stderr}",
        output.status
    );
    let summary: std::collections::BTreeMap<String, String> = stdout
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    for name in [
        "party",
        "until_sequence",
        "checkpoint",
        "applied",
        "pathways",
        "digest",
    ] {
        assert!(summary.contains_key(name), "no {name} line in:\n{stdout}");
    }
    summary
}

/// A refused run's stderr; nothing was created at `into`.
fn refused(output: Output, into: &Path) -> String {
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!output.status.success(), "accepted:\n{stderr}");
    assert!(output.stdout.is_empty(), "{stderr}");
    assert!(!into.exists(), "{} was created:\n{stderr}", into.display());
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_point_in_time_rebuild_at_sequence_n_equals_the_live_projections_digest_at_n() {
    let began = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let binary = locate(None).expect("run scripts/nats-server.sh first");
    let server = EmbeddedNats::start(&binary, &state.join("nats"))
        .await
        .unwrap();
    let url = server.url().to_owned();
    let log = EventLog::connect(&url, LogConfig::default()).await.unwrap();
    let registry = Arc::new(Registry::embedded().clone());
    let clock = VirtualClock::new(datetime!(2026-02-02 08:00 UTC));
    let mut projectors = Vec::new();
    for party in PARTIES {
        let (store, _) = open_store(&state, &org(party)).unwrap();
        projectors.push(Projector::new(log.clone(), store));
    }
    let mut scenario = Scenario {
        engine: Engine::new(log.clone(), registry.clone(), Arc::new(clock.clone())),
        clock,
        router: Router::new(log.clone(), registry).await.unwrap(),
        projectors,
        seen: Vec::new(),
    };
    write(&mut scenario).await;
    let seen = &scenario.seen;
    let last = seen.last().unwrap().sequence;
    assert_eq!(last, seen.len() as u64, "one event per command");
    // Corbetta saw nothing before the joint assessment, then D1 from its first event on.
    let joined = 4;
    assert_eq!(seen[joined - 2].live[1].1, 0);
    assert_eq!(seen[joined - 1].live[1].1, 1);
    let corbetta = scenario.projectors[1].store();
    let pathways = corbetta.list(&Default::default()).unwrap();
    let d1 = pathways
        .iter()
        .find(|p| p.id.kind() == PathwayKind::DimissioneProtetta)
        .unwrap();
    assert_eq!(corbetta.history(&d1.id).unwrap()[0].source_sequence, 1);
    eprintln!(
        "wrote and projected {last} events live in {:.1}s",
        began.elapsed().as_secs_f64()
    );

    // Every point of history, for both parties; the live stores stay open (and locked) in this
    // process all along, which the replay never touches.
    let replays = Instant::now();
    let mut runs = 0;
    for point in seen {
        for (party, (digest, pathways)) in PARTIES.iter().zip(&point.live) {
            let into = tmp.path().join(format!(
                "replay-{}-{}",
                party.replace(':', "_"),
                point.sequence
            ));
            let got = summary(replay(
                &url,
                &[
                    "--party",
                    party,
                    "--until",
                    &point.sequence.to_string(),
                    "--into",
                    into.to_str().unwrap(),
                    "--state-dir",
                    state.to_str().unwrap(),
                ],
            ));
            runs += 1;
            assert_eq!(got["party"], *party);
            assert_eq!(got["until_sequence"], point.sequence.to_string());
            assert_eq!(
                &got["digest"], digest,
                "{party} at log sequence {}",
                point.sequence
            );
            assert_eq!(got["pathways"], pathways.to_string());
            assert!(into.is_dir());
        }
    }
    eprintln!("{runs} replays in {:.1}s", replays.elapsed().as_secs_f64());

    // A time stands for the last event stamped at or before it, in any offset: a quarter of an
    // hour after the sixth event (the seventh came half an hour after it), in Italian winter time.
    let sixth = &seen[5];
    let time = (sixth.time + Duration::minutes(15))
        .to_offset(offset!(+1))
        .format(&Rfc3339)
        .unwrap();
    let into = tmp.path().join("replay-by-time");
    let got = summary(replay(
        &url,
        &[
            "--party",
            ASST,
            "--until",
            &time,
            "--into",
            into.to_str().unwrap(),
        ],
    ));
    assert_eq!(got["until_sequence"], sixth.sequence.to_string(), "{time}");
    assert_eq!(got["digest"], sixth.live[0].0);
    // Exactly an event's stamp includes that event.
    let into = tmp.path().join("replay-at-a-stamp");
    let got = summary(replay(
        &url,
        &[
            "--party",
            CORBETTA,
            "--until",
            &seen[joined - 1].time.format(&Rfc3339).unwrap(),
            "--into",
            into.to_str().unwrap(),
        ],
    ));
    assert_eq!(got["until_sequence"], joined.to_string());
    assert_eq!(got["digest"], seen[joined - 1].live[1].0);

    // Bad input: refused clearly, nothing written.
    let into = tmp.path().join("never");
    let args = |until: &str, party: &str| {
        vec![
            "--party".to_owned(),
            party.to_owned(),
            "--until".to_owned(),
            until.to_owned(),
            "--into".to_owned(),
            into.to_str().unwrap().to_owned(),
        ]
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        replay(&url, &args)
    };
    for until in ["0", &(last + 1).to_string()] {
        let stderr = refused(run(args(until, ASST)), &into);
        assert!(
            stderr.contains(&format!(
                "the log's sequences run from 1 to its last, {last}"
            )),
            "{stderr}"
        );
    }
    let stderr = refused(run(args("yesterday", ASST)), &into);
    assert!(
        stderr.contains("--until") && stderr.contains("RFC 3339"),
        "{stderr}"
    );
    let stderr = refused(run(args("2026-02-02T08:59:59Z", ASST)), &into);
    assert!(
        stderr.contains(&format!("no event of the log (sequences 1 to {last})")),
        "{stderr}"
    );
    let stderr = refused(run(args("3", "asst-705")), &into);
    assert!(stderr.contains("--party"), "{stderr}");
    let full = tmp.path().join("full");
    fs::create_dir(&full).unwrap();
    fs::write(full.join("notes.txt"), "mine").unwrap();
    let output = replay(
        &url,
        &[
            "--party",
            ASST,
            "--until",
            "3",
            "--into",
            full.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("is not empty"), "{stderr}");
    let left: Vec<_> = fs::read_dir(&full)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["notes.txt"]);
    assert_eq!(fs::read_to_string(full.join("notes.txt")).unwrap(), "mine");

    // The live projections are as they were.
    for (projector, live) in scenario.projectors.iter().zip(&seen.last().unwrap().live) {
        assert_eq!(projector.store().digest().unwrap(), live.0);
    }
    eprintln!("done in {:.1}s", began.elapsed().as_secs_f64());
    drop(scenario);
    server.stop().await;
}
