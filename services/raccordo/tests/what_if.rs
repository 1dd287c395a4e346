//! `raccordo replay what-if` as an operator runs it: the real binary reading a real nats-server
//! with JetStream. The log is written by the gateway's own command engine on a virtual clock: a
//! week of protected discharges and a PUA access in the Magentino (Distretto 22004, under the
//! shipped `ovest-milanese-magentino` protocol), then the live reconciler takes it in and records
//! its findings there, as `raccordo up` would. A stricter copy of the protocol (the Comune takes a
//! discharge request in within 1 working day instead of 2; the PUA's preliminary assessment within
//! 24 hours instead of 5 working days) must bring exactly the findings worked out by hand beside
//! the commands, and neither it nor a protocol file it refuses may change a byte of the log.
//!
//! Times are UTC; Italy is at +01:00 in February, so a working day ends at 23:00 UTC. No holiday
//! or patron saint's day falls in the week of 2 February 2026.

use std::path::Path;
use std::process::{Command as Process, Output, Stdio};
use std::sync::Arc;
use std::time::Instant;

use async_nats::HeaderMap;
use futures::StreamExt;
use raccordo::nats::{EmbeddedNats, locate};
use raccordo_domain::clock::{Clock, VirtualClock};
use raccordo_domain::ids::{ComuneId, EventId, OrgId, PathwayId, SubjectRef};
use raccordo_domain::pathway::dimissione_protetta as dp;
use raccordo_domain::pathway::{Actor, Command, CommandBody, pua, receipt};
use raccordo_domain::protocol::Protocols;
use raccordo_domain::registry::Registry;
use raccordo_eventlog::{EventLog, LogConfig};
use raccordo_gateway::Engine;
use raccordo_reconciler::{MARGIN, Reconciler, Rules};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const ASST: &str = "asst:705";
const MAGENTA: &str = "comune:magenta";
const CORBETTA: &str = "comune:corbetta";
const BAREGGIO: &str = "comune:bareggio";
const MAGENTINO: &str = "ovest-milanese-magentino";

fn org(id: &str) -> OrgId {
    id.parse().unwrap()
}

fn comune(id: &str) -> ComuneId {
    id.parse().unwrap()
}

/// An instant of February 2026 in UTC, written `DD hh:mm`.
fn at(day_time: &str) -> OffsetDateTime {
    let text = format!("2026-02-{}:00Z", day_time.replace(' ', "T"));
    OffsetDateTime::parse(&text, &Rfc3339).unwrap()
}

/// As the findings carry an instant.
fn rfc3339(day_time: &str) -> String {
    at(day_time).format(&Rfc3339).unwrap()
}

/// Commands played through the gateway's engine, each at its own instant.
struct Scenario {
    engine: Engine,
    clock: VirtualClock,
    commands: usize,
}

impl Scenario {
    /// Plays `body` as `who` at `now` on `pathway` (`None`: it opens one); the pathway it acted
    /// on and the event it appended.
    async fn run(
        &mut self,
        who: &str,
        now: &str,
        pathway: Option<&PathwayId>,
        body: impl Into<CommandBody>,
    ) -> (PathwayId, EventId) {
        let command = Command {
            id: format!("what-if-test-{}", self.commands + 1)
                .parse()
                .unwrap(),
            pathway: pathway.cloned(),
            body: body.into(),
        };
        self.execute(who, now, &command).await
    }

    /// `who` acknowledges event `event_id` of `pathway` at `now`: a receipt.
    async fn acknowledge(&mut self, who: &str, now: &str, pathway: &PathwayId, event_id: EventId) {
        let command = receipt::Acknowledge::command(pathway.clone(), event_id, 1, at(now));
        self.execute(who, now, &command).await;
    }

    async fn execute(&mut self, who: &str, now: &str, command: &Command) -> (PathwayId, EventId) {
        self.clock.set(at(now));
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
        self.commands += 1;
        (outcome.pathway, outcome.applied.event_id)
    }
}

fn request(person: u8, residence: &str) -> dp::Command {
    dp::Command::Request(dp::Request {
        subject_ref: SubjectRef::from_digest([person; 32]),
        ward: "Medicina generale - Ospedale di Magenta".into(),
        residence: comune(residence),
        // Far enough that no deadline counted from it falls within the week.
        expected_discharge: at("20 12:00").date(),
        needs: vec![dp::Service::CDom],
        lives_alone: true,
        no_caregiver: false,
    })
}

/// The pathways of the scenario and the events whose steps the stricter protocol judges.
struct Written {
    /// Requested Monday, taken in Wednesday morning: on time for 2 working days (due Wednesday
    /// 23:00), late for 1 (due Tuesday 23:00).
    d1: PathwayId,
    d1_requested: EventId,
    /// Requested Monday, taken in Tuesday morning: on time under both.
    d2: PathwayId,
    /// Requested Tuesday, never acknowledged, taken in Friday: late under both, due Thursday
    /// 23:00 under 2 working days and Wednesday 23:00 under 1.
    d3: PathwayId,
    d3_requested: EventId,
    /// Registered Wednesday 08:00, assessed Thursday 14:00: on time for 5 working days, 6 hours
    /// late for 24 hours.
    p1: PathwayId,
    p1_registered: EventId,
}

async fn write(s: &mut Scenario) -> Written {
    let (d1, d1_requested) = s.run(ASST, "02 08:00", None, request(1, "magenta")).await;
    s.acknowledge(MAGENTA, "02 10:00", &d1, d1_requested.clone())
        .await;
    let (d2, d2_requested) = s.run(ASST, "02 13:00", None, request(2, "corbetta")).await;
    s.acknowledge(CORBETTA, "02 14:00", &d2, d2_requested).await;
    s.run(CORBETTA, "03 08:30", Some(&d2), dp::Command::Receive)
        .await;
    let (d3, d3_requested) = s.run(ASST, "03 09:00", None, request(3, "bareggio")).await;
    let (p1, p1_registered) = s
        .run(
            ASST,
            "04 08:00",
            None,
            pua::Command::RegisterAccess(pua::RegisterAccess {
                subject_ref: SubjectRef::from_digest([4; 32]),
                residence: comune("magenta"),
                asst: "705".parse().unwrap(),
                channel: pua::Channel::GeneralPractitioner,
            }),
        )
        .await;
    s.run(MAGENTA, "04 09:00", Some(&d1), dp::Command::Receive)
        .await;
    s.run(
        ASST,
        "05 14:00",
        Some(&p1),
        pua::Command::RecordPreliminaryAssessment {
            triage: pua::Triage::SimpleNeed,
        },
    )
    .await;
    s.run(BAREGGIO, "06 10:00", Some(&d3), dp::Command::Receive)
        .await;
    Written {
        d1,
        d1_requested,
        d2,
        d3,
        d3_requested,
        p1,
        p1_registered,
    }
}

/// The live reconciler, as `raccordo up` runs it, on the log as the scenario left it: it records
/// its findings there and is stopped once it has taken them in too.
async fn reconcile(log: &EventLog, clock: &VirtualClock, store: &Path) {
    let registry = Arc::new(Registry::embedded().clone());
    let rules = Rules::new(Protocols::embedded(&registry).unwrap(), registry.clone());
    let clock: Arc<dyn Clock> = Arc::new(clock.clone());
    let engine = Arc::new(Engine::new(log.clone(), registry, clock.clone()));
    let reconciler = Arc::new(Reconciler::new(
        log.clone(),
        engine,
        rules,
        raccordo_reconciler::Store::open(store).unwrap(),
        clock.clone(),
    ));
    let mut progress = reconciler.progress();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn({
        let reconciler = reconciler.clone();
        async move {
            reconciler
                .run(async {
                    let _ = stopped.await;
                })
                .await
        }
    });
    loop {
        let last = log.last_sequence().await.unwrap();
        let now = (clock.now() - MARGIN).unix_timestamp();
        progress
            .wait_for(|p| p.checkpoint >= last && p.fired_until >= now)
            .await
            .unwrap();
        if log.last_sequence().await.unwrap() == last {
            break;
        }
    }
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
}

/// One message of a stream as JetStream stores it.
#[derive(Debug, PartialEq)]
struct Stored {
    sequence: u64,
    subject: String,
    headers: HeaderMap,
    payload: Vec<u8>,
    time: OffsetDateTime,
}

/// Everything on the server that a writer could have changed: the streams there are, each one's
/// last sequence, and every message of the log as stored.
#[derive(Debug, PartialEq)]
struct Snapshot {
    streams: Vec<(String, u64, u64)>,
    log: Vec<Stored>,
}

async fn snapshot(log: &EventLog) -> Snapshot {
    let js = async_nats::jetstream::new(log.client().clone());
    let mut names: Vec<String> = js.stream_names().map(|name| name.unwrap()).collect().await;
    names.sort();
    let mut streams = Vec::new();
    for name in names {
        let mut stream = js.get_stream(&name).await.unwrap();
        let state = stream.info().await.unwrap().state.clone();
        streams.push((name, state.messages, state.last_sequence));
    }
    let raccordo = js.get_stream("RACCORDO").await.unwrap();
    let mut messages = Vec::new();
    for sequence in 1..=log.last_sequence().await.unwrap() {
        let m = raccordo.get_raw_message(sequence).await.unwrap();
        messages.push(Stored {
            sequence: m.sequence,
            subject: m.subject.to_string(),
            headers: m.headers,
            payload: m.payload.to_vec(),
            time: m.time,
        });
    }
    Snapshot {
        streams,
        log: messages,
    }
}

/// `raccordo replay what-if` against `url` with these arguments, to its end.
fn what_if(url: &str, args: &[&str]) -> Output {
    Process::new(env!("CARGO_BIN_EXE_raccordo"))
        .args(["replay", "what-if", "--nats", url])
        .args(args)
        .env_remove("RACCORDO_NATS_URL")
        .env_remove("RACCORDO_STATE_DIR")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn succeeded(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "raccordo replay what-if failed ({}):\n{stderr}",
        output.status
    );
    assert!(
        stderr.contains("replaying"),
        "no progress on stderr:\n{stderr}"
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// A refused run's stderr: exit status 1, nothing on stdout, and the log never read.
fn refused(output: &Output) -> String {
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(output.stdout.is_empty(), "{stderr}");
    assert!(!stderr.contains("replaying"), "the log was read:\n{stderr}");
    stderr
}

/// The shipped Magentino protocol with each `(from, to)` replaced; `from` must be there once.
fn magentino_with(edits: &[(&str, &str)]) -> String {
    let shipped = Protocols::embedded_files()
        .iter()
        .find(|f| f.name.starts_with(MAGENTINO))
        .unwrap();
    edits
        .iter()
        .fold(shipped.contents.to_owned(), |text, (from, to)| {
            assert_eq!(text.matches(from).count(), 1, "{from:?}");
            text.replace(from, to)
        })
}

/// The stricter protocol: the same id and version, two deadlines shorter.
fn stricter() -> String {
    magentino_with(&[
        (
            "id = \"dp-presa-in-carico\"\nkind = \"dimissione_protetta\"\nopened_by = [\"requested\"]\nclosed_by = [\"received\"]\nresponsible = \"comune_of_residence\"\ndeadline = \"2 working days\"",
            "id = \"dp-presa-in-carico\"\nkind = \"dimissione_protetta\"\nopened_by = [\"requested\"]\nclosed_by = [\"received\"]\nresponsible = \"comune_of_residence\"\ndeadline = \"1 working day\"",
        ),
        (
            "responsible = \"asst\"\ndeadline = \"5 working days\"",
            "responsible = \"asst\"\ndeadline = \"24 hours\"",
        ),
    ])
}

/// A finding as `--format json` prints it.
#[allow(clippy::too_many_arguments)]
fn finding(
    kind: &str,
    step: &str,
    event: &EventId,
    party: &str,
    since: &str,
    due: &str,
    closed_at: Option<&str>,
    waited_minutes: u64,
) -> Value {
    let mut f = json!({
        "finding": kind,
        "step": { "protocol": MAGENTINO, "version": 1, "step": step },
        "event_id": event.to_string(),
        "party": party,
        "since": rfc3339(since),
        "due": rfc3339(due),
        "waited_minutes": waited_minutes,
    });
    if let Some(closed_at) = closed_at {
        f["closed_at"] = json!(rfc3339(closed_at));
    }
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stricter_protocol_brings_exactly_the_new_findings_and_leaves_the_log_as_it_was() {
    let began = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let binary = locate(None).expect("run scripts/nats-server.sh first");
    let server = EmbeddedNats::start(&binary, &tmp.path().join("nats"))
        .await
        .unwrap();
    let url = server.url().to_owned();
    let log = EventLog::connect(&url, LogConfig::default()).await.unwrap();
    let registry = Arc::new(Registry::embedded().clone());
    let clock = VirtualClock::new(at("02 07:00"));
    let mut scenario = Scenario {
        engine: Engine::new(log.clone(), registry, Arc::new(clock.clone())),
        clock: clock.clone(),
        commands: 0,
    };
    let w = write(&mut scenario).await;
    reconcile(&log, &clock, &tmp.path().join("reconciler")).await;
    let before = snapshot(&log).await;
    // The commands, then the three findings of the shipped protocol: D3 never acknowledged,
    // overdue, closed late.
    assert_eq!(before.log.len(), scenario.commands + 3);
    eprintln!(
        "wrote and reconciled {} events in {:.1}s",
        before.log.len(),
        began.elapsed().as_secs_f64()
    );

    let file = tmp.path().join("magentino-stricter.toml");
    std::fs::write(&file, stricter()).unwrap();
    let file = file.to_str().unwrap();
    let run = Instant::now();
    let output = what_if(&url, &["--protocol", file, "--format", "json"]);
    eprintln!(
        "raccordo replay what-if --format json: {:.2}s",
        run.elapsed().as_secs_f64()
    );
    let got: Value = serde_json::from_str(&succeeded(&output)).unwrap();

    assert_eq!(got["events"], json!(before.log.len()));
    assert_eq!(got["until"], json!(rfc3339("06 10:00")));
    assert_eq!(got["findings_in_log"], json!(3));
    assert_eq!(got["baseline"]["findings"], json!(3));
    assert_eq!(got["baseline"]["agrees_with_log"], json!(true));
    assert_eq!(got["what_if"]["findings"], json!(7));
    let magentino = |set: &str| {
        got[set]["protocols"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["protocol"] == MAGENTINO)
            .map(|p| p["file"].clone())
    };
    assert_eq!(
        magentino("baseline"),
        Some(json!("ovest-milanese-magentino.v1.toml"))
    );
    assert_eq!(magentino("what_if"), Some(json!(file)));
    assert_eq!(
        got["counts"],
        json!({ "new": 4, "gone": 0, "changed": 2, "unchanged": 1 })
    );

    let presa = "dp-presa-in-carico";
    let preliminare = "pua-valutazione-preliminare";
    // D1: due at the end of Tuesday, taken in at 09:00 on Wednesday. P1: due 24 hours after it
    // was registered, assessed 6 hours after that. In the order the reconciler finds them.
    let new = json!([
        {
            "pathway": w.d1,
            "finding": finding("step_overdue", presa, &w.d1_requested, MAGENTA,
                "02 08:00", "03 23:00", None, 39 * 60),
        },
        {
            "pathway": w.d1,
            "finding": finding("overdue_step_closed", presa, &w.d1_requested, MAGENTA,
                "02 08:00", "03 23:00", Some("04 09:00"), 49 * 60),
        },
        {
            "pathway": w.p1,
            "finding": finding("step_overdue", preliminare, &w.p1_registered, ASST,
                "04 08:00", "05 08:00", None, 24 * 60),
        },
        {
            "pathway": w.p1,
            "finding": finding("overdue_step_closed", preliminare, &w.p1_registered, ASST,
                "04 08:00", "05 08:00", Some("05 14:00"), 30 * 60),
        },
    ]);
    assert_eq!(got["new"], new, "{:#}", got["new"]);
    assert_eq!(got["gone"], json!([]));
    // D3: late under both, due a working day earlier under the stricter one.
    let changed = json!([
        {
            "pathway": w.d3,
            "before": finding("step_overdue", presa, &w.d3_requested, BAREGGIO,
                "03 09:00", "05 23:00", None, 62 * 60),
            "after": finding("step_overdue", presa, &w.d3_requested, BAREGGIO,
                "03 09:00", "04 23:00", None, 38 * 60),
            "differs": ["due", "waited_minutes"],
        },
        {
            "pathway": w.d3,
            "before": finding("overdue_step_closed", presa, &w.d3_requested, BAREGGIO,
                "03 09:00", "05 23:00", Some("06 10:00"), 73 * 60),
            "after": finding("overdue_step_closed", presa, &w.d3_requested, BAREGGIO,
                "03 09:00", "04 23:00", Some("06 10:00"), 73 * 60),
            "differs": ["due"],
        },
    ]);
    assert_eq!(got["changed"], changed, "{:#}", got["changed"]);
    // D2 was on time under both.
    let text = got.to_string();
    assert!(!text.contains(w.d2.as_str()), "{got:#}");

    // The same answer for an operator's eyes.
    let output = what_if(&url, &["--protocol", file]);
    let stdout = succeeded(&output);
    for line in [
        "findings_in_log 3",
        "baseline_agrees_with_log yes",
        "new 4",
        "gone 0",
        "changed 2",
        "unchanged 1",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "no {line:?} in:\n{stdout}"
        );
    }
    let row = |change: &str, pathway: &PathwayId, kind: &str| {
        stdout
            .lines()
            .find(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                words.first() == Some(&change)
                    && words.get(1) == Some(&pathway.as_str())
                    && words.get(2) == Some(&kind)
            })
            .unwrap_or_else(|| panic!("no {change} {kind} row for {pathway} in:\n{stdout}"))
            .to_owned()
    };
    let d1 = row("new", &w.d1, "step_overdue");
    for part in [
        presa,
        MAGENTA,
        "2026-02-04 00:00 +01:00",
        "since 2026-02-02 09:00 +01:00",
    ] {
        assert!(d1.contains(part), "{d1}");
    }
    let d3 = row("changed", &w.d3, "step_overdue");
    assert!(
        d3.contains("due 2026-02-06 00:00 +01:00 -> 2026-02-05 00:00 +01:00"),
        "{d3}"
    );
    assert!(d3.contains("waited_minutes 3720 -> 2280"), "{d3}");

    assert_eq!(snapshot(&log).await, before, "the what-if changed the log");
    server.stop().await;
    eprintln!("done in {:.1}s", began.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protocol_file_that_cannot_be_used_is_refused_with_its_name_and_the_log_is_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let binary = locate(None).expect("run scripts/nats-server.sh first");
    let server = EmbeddedNats::start(&binary, &tmp.path().join("nats"))
        .await
        .unwrap();
    let url = server.url().to_owned();
    let log = EventLog::connect(&url, LogConfig::default()).await.unwrap();
    let clock = VirtualClock::new(at("02 07:00"));
    let mut scenario = Scenario {
        engine: Engine::new(
            log.clone(),
            Arc::new(Registry::embedded().clone()),
            Arc::new(clock.clone()),
        ),
        clock,
        commands: 0,
    };
    write(&mut scenario).await;
    let before = snapshot(&log).await;

    // A typo in an event name.
    let typo = tmp.path().join("typo.toml");
    std::fs::write(
        &typo,
        magentino_with(&[("closed_by = [\"received\"]", "closed_by = [\"recieved\"]")]),
    )
    .unwrap();
    let stderr = refused(&what_if(&url, &["--protocol", typo.to_str().unwrap()]));
    assert!(
        stderr.contains(&format!(
            "protocol file {}: steps[0] (dp-presa-in-carico): closed_by: dimissione_protetta has \
             no event 'recieved'",
            typo.display()
        )),
        "{stderr}"
    );

    // Valid alone, but under another id it would be in force in the Magentino beside the
    // shipped protocol, which it does not replace.
    let other = tmp.path().join("magentino-bis.toml");
    std::fs::write(
        &other,
        magentino_with(&[(
            "protocol = \"ovest-milanese-magentino\"",
            "protocol = \"magentino-bis\"",
        )]),
    )
    .unwrap();
    let stderr = refused(&what_if(
        &url,
        &["--protocol", other.to_str().unwrap(), "--format", "json"],
    ));
    assert!(
        stderr.contains(&format!(
            "protocol file {}: magentino-bis v1",
            other.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("in ovest-milanese-magentino.v1.toml) are both in force for Ambito 50032"),
        "{stderr}"
    );
    assert!(
        stderr.contains("a file stands in only for the protocol with its own `protocol` id"),
        "{stderr}"
    );

    // A file that is not there.
    let missing = tmp.path().join("missing.toml");
    let stderr = refused(&what_if(&url, &["--protocol", missing.to_str().unwrap()]));
    assert!(
        stderr.contains(&format!(
            "cannot read the protocol file {}",
            missing.display()
        )),
        "{stderr}"
    );

    // No --protocol at all.
    let output = what_if(&url, &[]);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--protocol <FILE>"), "{stderr}");

    assert_eq!(
        snapshot(&log).await,
        before,
        "a refused what-if changed the log"
    );
    server.stop().await;
}
