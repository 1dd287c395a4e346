//! `raccordo project` as an operator runs it: the real binary, a real nats-server with JetStream,
//! real sled stores on disk. Inboxes are filled straight into `RACCORDO_INBOX` with the router's
//! own `InboxMessage`, so they are exactly what the router writes.
//!
//! The kill test prints what it did; see it with `--nocapture`.

#[path = "../../projector/tests/support/mod.rs"]
mod support;

#[path = "../../projections/tests/projections/damage.rs"]
mod damage;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use raccordo_domain::ids::AmbitoCode;
use raccordo_domain::routing::View;
use serde_json::json;

use support::{Bus, COMUNE, ME, Routed, org};

/// Where `raccordo project` keeps ME's projection, under its state folder.
const STORE: &str = "projections/asst_705";
const ATS: &str = "ats:321";

/// Publishes `events` events, as the router would: most of them for ME, spread over `pathways`
/// pathways of the three kinds with moving statuses and waits, some also or only for the Comune
/// and the ATS (aggregate view). Pipelined: acks are awaited per chunk.
async fn fill(bus: &mut Bus, events: u64, pathways: u64, seed: u64) {
    let mut rng = Rng::new(seed);
    const CHUNK: u64 = 2_000;
    let statuses = ["requested", "received", "assessed", "planned", "closed"];
    let waits = [
        vec![],
        vec![org(ME)],
        vec![org(COMUNE)],
        vec![org(ME), org(COMUNE)],
    ];
    let ambiti: [AmbitoCode; 2] = ["50032".parse().unwrap(), "50069".parse().unwrap()];
    let mut done = 0;
    while done < events {
        let n = CHUNK.min(events - done);
        let mut chunk: Vec<Routed> = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let mut routed = bus.next(rng.below(pathways), &[]);
            routed.body["note"] = json!({"n": routed.source, "tags": ["a", rng.below(7)]});
            routed.parties = match rng.below(20) {
                0 => vec![(org(COMUNE), View::Full)],
                1 => vec![(org(ME), View::Full), (org(ATS), View::Aggregate)],
                2 => vec![(org(ME), View::Full), (org(COMUNE), View::Full)],
                _ => vec![(org(ME), View::Full)],
            };
            routed.status = statuses[rng.below(5) as usize];
            routed.waiting_on = waits[rng.below(4) as usize].clone();
            routed.ambito = ambiti[rng.below(2) as usize].clone();
            chunk.push(routed);
        }
        bus.publish(&chunk).await;
        done += n;
    }
}

/// A tiny deterministic generator (xorshift64*): the same seed gives the same test.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// `raccordo project` on `state`, with these arguments after `--party ME --state-dir <state>`.
fn command(state: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_raccordo"));
    command
        .args(["project", "--party", ME, "--state-dir"])
        .arg(state)
        .args(args)
        .env_remove("RACCORDO_NATS_URL")
        .env_remove("RACCORDO_STATE_DIR")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    command
}

/// What one finished run printed.
struct Run {
    summary: BTreeMap<String, String>,
    stderr: String,
}

impl Run {
    fn digest(&self) -> &str {
        &self.summary["digest"]
    }

    fn number(&self, name: &str) -> u64 {
        self.summary[name].parse().unwrap()
    }
}

fn finished(output: Output) -> Run {
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        output.status.success(),
        "raccordo project failed ({}):\n{stderr}",
        output.status
    );
    let summary: BTreeMap<String, String> = stdout
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    for name in [
        "party",
        "checkpoint",
        "applied",
        "parked",
        "pathways",
        "worklist",
        "digest",
    ] {
        assert!(summary.contains_key(name), "no {name} line in:\n{stdout}");
    }
    assert_eq!(summary["party"], ME);
    assert_eq!(summary["digest"].len(), 64, "{stdout}");
    Run { summary, stderr }
}

/// Runs `raccordo project` to the end on `state` against `url`.
fn project(state: &Path, url: &str, args: &[&str]) -> Run {
    finished(
        command(state, &[&["--nats", url], args].concat())
            .output()
            .unwrap(),
    )
}

/// A child killed when the test ends however it ends, so that none outlives a failure.
struct Killed(Option<Child>);

impl Killed {
    fn spawn(command: &mut Command) -> Self {
        Self(Some(command.spawn().unwrap()))
    }

    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("not taken yet")
    }

    /// The child, no longer killed on drop: the caller waits for it.
    fn take(mut self) -> Child {
        self.0.take().expect("not taken yet")
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The inbox sequence a run said it starts from (its `from=` log field) less one: the checkpoint
/// the run before it left.
fn resumed_from(stderr: &str) -> Option<u64> {
    let line = stderr
        .lines()
        .find(|l| l.contains("projecting the party's inbox"))?;
    let from = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("from="))?;
    from.parse::<u64>().ok().map(|from| from - 1)
}

const KILLS: usize = 24;
/// Events published: about 19 in 20 are for the party, so that its rebuild is of more than
/// [`REBUILT`] events.
const EVENTS: u64 = 106_000;
/// The least number of events the party's rebuild must take in.
const REBUILT: u64 = 100_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_killed_at_random_moments_resumes_to_the_digest_of_a_clean_build() {
    let began = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let mut bus = Bus::start(tmp.path()).await;
    fill(&mut bus, EVENTS, 9_000, 7).await;
    // The Comune's alone: the inbox runs on past ME's last message.
    for n in 0..300 {
        bus.event(1_000_000 + n, &[COMUNE]).await;
    }
    let last_of_me = bus.last_of(ME).await;
    let inbox_end = bus.last().await;
    let filled = began.elapsed();
    println!(
        "filled the inbox: {inbox_end} messages ({last_of_me} is the party's last) in {filled:.1?}"
    );
    assert!(inbox_end >= EVENTS && last_of_me < inbox_end);

    // The clean build, into a state folder of its own, alongside the killed ones.
    let clean_state = tmp.path().join("clean");
    let clean = {
        let url = bus.url().to_owned();
        let state = clean_state.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let run = project(&state, &url, &[]);
            (run, started.elapsed())
        })
    };

    let state = tmp.path().join("killed");
    let logs = tmp.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let mut rng = Rng::new(2026);
    let mut starts = Vec::new();
    let mut kills = 0;
    let killing = Instant::now();
    for round in 0..KILLS {
        let log = logs.join(format!("run-{round}.log"));
        let args: &[&str] = if round == 0 { &["--rebuild"] } else { &[] };
        let mut child = Killed::spawn(
            command(&state, &[&["--nats", bus.url()], args].concat())
                .stdout(Stdio::null())
                .stderr(fs::File::create(&log).unwrap()),
        );
        // From the very start (connecting, opening the store) to well into the work.
        let delay = Duration::from_millis(100 + rng.below(1_400));
        tokio::time::sleep(delay).await;
        if child.child().try_wait().unwrap().is_some() {
            println!("round {round}: finished before its kill at {delay:?}");
            break;
        }
        // SIGKILL: no destructor, no flush, no chance to finish the batch in hand.
        child.child().kill().unwrap();
        child.child().wait().unwrap();
        kills += 1;
        let stderr = fs::read_to_string(&log).unwrap();
        starts.push((round, delay, resumed_from(&stderr)));
    }
    let killed_for = killing.elapsed();

    let finishing = Instant::now();
    let last = project(&state, bus.url(), &[]);
    let finished_in = finishing.elapsed();
    let final_start = resumed_from(&last.stderr);
    let (clean, clean_took) = clean.join().unwrap();

    println!(
        "{kills} SIGKILLs in {killed_for:.1?}; each round: (round, kill after, checkpoint it started from)"
    );
    for (round, delay, from) in &starts {
        println!(
            "  round {round:2}: killed after {:>5} ms, started from {from:?}",
            delay.as_millis()
        );
    }
    println!(
        "final run started from {final_start:?}, finished in {finished_in:.1?}: checkpoint {}, applied {}",
        last.number("checkpoint"),
        last.number("applied")
    );
    println!(
        "clean build: {:.1?}, {} entries applied ({:.0} entries/s); digest {}",
        clean_took,
        clean.number("applied"),
        clean.number("applied") as f64 / clean_took.as_secs_f64(),
        clean.digest()
    );
    println!("whole test: {:.1?}", began.elapsed());

    assert!(kills >= 20, "only {kills} kills landed");
    assert!(
        clean.number("applied") >= REBUILT,
        "the rebuild took in {} events, fewer than {REBUILT}",
        clean.number("applied")
    );
    // The kills landed while work was being done: the checkpoint each run started from never
    // went back and moved on many times.
    let mut seen: Vec<u64> = starts.iter().filter_map(|(_, _, from)| *from).collect();
    seen.extend(final_start);
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "a checkpoint went back: {seen:?}"
    );
    let advances = seen.windows(2).filter(|w| w[0] < w[1]).count();
    assert!(
        advances >= 5 && final_start.is_some_and(|f| f > 0 && f < last_of_me),
        "the killed runs made too little progress to test anything: {seen:?}"
    );
    assert_eq!(last.number("checkpoint"), last_of_me);
    assert_eq!(clean.number("checkpoint"), last_of_me);
    assert_eq!(last.number("parked"), 0);
    assert_eq!(last.summary["pathways"], clean.summary["pathways"]);
    assert_eq!(last.summary["worklist"], clean.summary["worklist"]);
    assert_eq!(last.digest(), clean.digest());
}

#[tokio::test]
async fn with_raccordo_stopped_it_runs_the_state_folders_own_nats_server() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    // The event log where `raccordo up` keeps it, in <state>/nats.
    let mut bus = Bus::start(&state).await;
    fill(&mut bus, 500, 50, 8).await;
    let clean = project(&tmp.path().join("clean"), bus.url(), &[]);
    // `raccordo up` stopped: its nats-server with it.
    bus.stop().await;

    let run = finished(command(&state, &[]).output().unwrap());
    assert!(
        run.stderr
            .contains("started the state folder's nats-server for this run"),
        "{}",
        run.stderr
    );
    assert_eq!(run.number("checkpoint"), clean.number("checkpoint"));
    assert_eq!(run.digest(), clean.digest());
    // It stopped that server again: nothing answers there any more, and no ports file is left.
    let ports: Vec<_> = fs::read_dir(state.join("nats").join("run"))
        .map(|dir| dir.filter_map(Result::ok).collect())
        .unwrap_or_default();
    assert!(ports.is_empty(), "left behind: {ports:?}");
}

#[tokio::test]
async fn a_deleted_store_is_rebuilt_to_the_same_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bus = Bus::start(tmp.path()).await;
    fill(&mut bus, 2_000, 200, 1).await;
    let state = tmp.path().join("state");
    let first = project(&state, bus.url(), &[]);
    assert_eq!(first.number("checkpoint"), bus.last_of(ME).await);

    fs::remove_dir_all(state.join(STORE)).unwrap();
    let again = project(&state, bus.url(), &[]);
    assert!(
        again.stderr.contains("created a new projection"),
        "{}",
        again.stderr
    );
    assert_eq!(again.number("applied"), first.number("applied"));
    assert_eq!(again.digest(), first.digest());
}

#[tokio::test]
async fn a_corrupted_store_is_moved_aside_loudly_and_rebuilt_to_the_same_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bus = Bus::start(tmp.path()).await;
    fill(&mut bus, 2_000, 200, 2).await;
    let state = tmp.path().join("state");
    let first = project(&state, bus.url(), &[]);

    damage::garble(&state.join(STORE));
    let again = project(&state, bus.url(), &[]);
    let aside = state.join(format!("{STORE}.corrupt-1"));
    let line = again
        .stderr
        .lines()
        .find(|l| l.contains("WARN") && l.contains("moved it aside"))
        .unwrap_or_else(|| panic!("no warning of the recovery in:\n{}", again.stderr));
    assert!(line.contains(&aside.display().to_string()), "{line}");
    assert!(line.contains("reason="), "{line}");
    assert!(aside.join("db").exists());
    assert_eq!(again.digest(), first.digest());
}

#[tokio::test]
async fn a_malformed_message_is_parked_with_its_reason_once_and_the_rest_applied() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bus = Bus::start(tmp.path()).await;
    fill(&mut bus, 500, 50, 3).await;
    let bad = bus.garbage(ME, &[("ce-specversion", "1.0")]).await;
    fill(&mut bus, 500, 50, 4).await;
    let state = tmp.path().join("state");

    let first = project(&state, bus.url(), &[]);
    assert_eq!(first.number("parked"), 1);
    assert_eq!(first.number("checkpoint"), bus.last_of(ME).await);
    let dead = bus.dead(ME).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].0, bad);
    assert_eq!(dead[0].1, "header ce-id is missing");

    // Restarted, and brought up to date with more: nothing parked again.
    fill(&mut bus, 100, 50, 5).await;
    let again = project(&state, bus.url(), &[]);
    assert_eq!(again.number("parked"), 0);
    assert!(again.number("applied") > 0);
    assert_eq!(bus.dead(ME).await.len(), 1);

    // A clean build parks it too, and agrees.
    let clean = project(&tmp.path().join("clean"), bus.url(), &[]);
    assert_eq!(clean.number("parked"), 1);
    assert_eq!(clean.digest(), again.digest());
}

#[tokio::test]
async fn without_nats_or_a_running_raccordo_up_it_fails_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let output = command(tmp.path(), &[]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("error: no NATS to read the inbox from")
            && stderr.contains("raccordo up")
            && stderr.contains("--nats"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());

    // A URL where nothing listens.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("nats://{}", free.local_addr().unwrap());
    drop(free);
    let output = command(tmp.path(), &["--nats", &url]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!("error: cannot reach NATS at {url}")),
        "{stderr}"
    );
    assert!(!tmp.path().join("projections").exists());
}

#[tokio::test]
async fn it_uses_the_nats_of_raccordo_up_on_the_same_state_folder_and_respects_its_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    // Where `raccordo up` keeps its embedded server: the ports file is under <state>/nats/run.
    let mut bus = Bus::start(&state).await;
    fill(&mut bus, 300, 30, 6).await;

    let mut follower = Killed::spawn(
        command(&state, &["--follow"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    // Once it has caught up, the store is its own.
    let store = state.join(STORE);
    wait_until(|| store.join("db").exists()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let output = command(&state, &[]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("error: ") && stderr.contains("locked") && stderr.contains(ME),
        "{stderr}"
    );
    let output = command(&state, &["--rebuild"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8(output.stderr).unwrap().contains("locked"));
    assert!(store.exists());

    // Live messages reach the follower; SIGTERM stops it in order, with its summary.
    fill(&mut bus, 50, 30, 7).await;
    let last = bus.last_of(ME).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pid = nix::unistd::Pid::from_raw(follower.child().id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let run = finished(follower.take().wait_with_output().unwrap());
    assert_eq!(run.number("checkpoint"), last);
    assert!(
        run.stderr
            .contains("using the nats-server of the running `raccordo up`")
    );

    // Stopped: a rebuild moves it aside, keeps it, and builds the same projection again.
    let rebuilt = finished(command(&state, &["--rebuild"]).output().unwrap());
    assert_eq!(rebuilt.digest(), run.digest());
    let kept: Vec<PathBuf> = fs::read_dir(state.join("projections"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("asst_705.before-rebuild-")
        })
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].join("db").exists());
}

async fn wait_until(mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gave up waiting after 10 s");
}
