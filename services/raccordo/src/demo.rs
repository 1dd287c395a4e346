//! `raccordo demo`: a realistic stretch of life in the two Ambiti, played through the real gRPC
//! API of a freshly built application, then read back and summarised.
//!
//! The application is built exactly as `raccordo up` builds it (the embedded nats-server unless
//! `--nats` is given), but on a virtual clock starting on Monday 12 January 2026 at 08:00 in
//! Italy, in a state folder of its own holding a new tokens file (a token for each organisation
//! of the two Ambiti) and subject key, so that `raccordo up --state-dir` there serves what the
//! demo left. The scenario (`scenario.rs`) is generated from the seed; the driver (`driver.rs`)
//! plays it hour by hour; the summary (`summary.rs`) reads every pathway back and checks that the
//! numbers add up. Any answer the scenario did not expect fails the demo, naming the pathway, the
//! step and the status. It ends by naming a pathway with a breached deadline to look at in the
//! operator console, and how to sign in; with `--serve` it keeps raccordo and its console running
//! at the scenario's last moment until Ctrl-C.

pub(crate) mod driver;
mod findings;
mod parties;
pub(crate) mod scenario;
mod summary;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use raccordo_domain::clock::VirtualClock;
use raccordo_domain::ids::OrgKind;
use raccordo_domain::registry::Registry;
use raccordo_eventlog::EventLog;
use time::macros::date;

use crate::app::{Application, Settings, Settled};
use crate::state::{create_tokens, demo_organisations, random_hex};
use driver::{Desks, Stream};
use scenario::{AMBITI, Calendar, Expect, Moment, Scenario};
use summary::Summary;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The demo's own state folder. One left by an earlier run is moved aside to
    /// `<state-dir>.previous` (replacing an older one), never deleted.
    #[arg(long, default_value = ".raccordo/demo")]
    pub state_dir: PathBuf,
    /// How many pathways the scenario opens.
    #[arg(long, default_value_t = 360, value_parser = clap::value_parser!(u32).range(1..))]
    pub pathways: u32,
    /// How many days the scenario spans, from Monday 12 January 2026.
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: u32,
    /// The seed the scenario is generated from: the same seed plays the same commands.
    #[arg(long, default_value_t = 2167)]
    pub seed: u64,
    /// Join this NATS server or cluster (nats://host:port) instead of starting the embedded one.
    #[arg(long)]
    pub nats: Option<String>,
    /// The nats-server binary for the embedded server (default: found under .tools/ or on PATH).
    #[arg(long)]
    pub nats_server: Option<PathBuf>,
    /// Once the scenario is played, keep raccordo running (the gRPC API and the operator console,
    /// on the scenario's last moment) until Ctrl-C, to browse what it came to.
    #[arg(long)]
    pub serve: bool,
    /// Where the operator console listens with --serve.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub console: SocketAddr,
}

/// The tokens file in the state folder, as `raccordo up` reads it.
const TOKENS_FILE: &str = "tokens.csv";

/// The scenario's first day, a Monday.
const FIRST_DAY: time::Date = date!(2026 - 01 - 12);

/// Plays the demo; with `--serve`, serves on until `shutdown` completes.
pub async fn run(args: DemoArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    // Wall-clock time, to say how long the demo took: nothing in the product reads it.
    let started = Instant::now();
    let calendar = Calendar {
        start: FIRST_DAY,
        days: args.days,
    };
    let scenario = scenario::generate(args.seed, args.pathways as usize, calendar);
    set_aside(&args.state_dir)?;

    let clock = VirtualClock::new(calendar.instant(Moment::FIRST));
    std::fs::create_dir_all(&args.state_dir).with_context(|| {
        format!(
            "cannot create the state folder {}",
            args.state_dir.display()
        )
    })?;
    let tokens = create_tokens(
        &args.state_dir.join(TOKENS_FILE),
        demo_organisations(Registry::embedded(), FIRST_DAY),
    )?;
    let mut settings = Settings::new(&args.state_dir, Arc::new(clock.clone()));
    settings.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.console = args.serve.then_some(args.console);
    settings.nats_url = args.nats.clone();
    settings.nats_server = args.nats_server.clone();
    let app = Application::build(settings).await?;
    let grpc = app.grpc_addr();
    let console = app.console_addr();
    let log = app.log().clone();
    let parties: Vec<parties::Party> = app
        .parties()
        .into_iter()
        .filter_map(|org| {
            let store = app.projection(&org)?;
            Some(parties::Party { org, store })
        })
        .collect();
    let mut settled = app.settled();
    print_header(&scenario, &args, (grpc, console), app.nats_url());

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let tokens: Vec<(String, String)> = tokens
        .into_iter()
        .map(|(org, token)| (org.to_string(), token))
        .collect();
    let outcome = play_and_summarise(
        &scenario,
        grpc,
        &tokens,
        &clock,
        &log,
        (&mut settled, &parties),
        started,
    )
    .await;
    let outcome = match outcome {
        Ok(breached) => {
            let look = Look {
                breached: breached.as_ref(),
                state_dir: &args.state_dir,
                console,
                console_after: args.console,
            };
            look.print();
            if console.is_some() {
                shutdown.await;
            }
            Ok(())
        }
        Err(e) => Err(e),
    };
    let _ = stop.send(());
    let served = server.await.context("the gRPC server task panicked")?;
    outcome?;
    served?;
    println!("\nraccordo stopped cleanly.");
    Ok(())
}

async fn play_and_summarise(
    scenario: &Scenario,
    grpc: SocketAddr,
    tokens: &[(String, String)],
    clock: &VirtualClock,
    log: &EventLog,
    (settled, parties): (&mut Settled, &[parties::Party]),
    started: Instant,
) -> anyhow::Result<Option<findings::Breached>> {
    let desks = Desks::connect(grpc, tokens).await?;
    let stream = Stream {
        log,
        base: log
            .last_sequence()
            .await
            .context("the event log does not answer")?,
    };
    // Command ids are the client's idempotency keys: a run of its own keeps a scenario played
    // again on a server that already holds one from meeting the old pathways.
    let run = random_hex(4)?;
    let playing = Instant::now();
    let (runs, tally) = driver::play(scenario, &desks, clock, &stream, &run).await?;
    let played_in = playing.elapsed();
    // A party whose projection went wrong (its store lost an event), played by publishing the
    // digest such a projector would publish: the reconciler must name the party and the event.
    settled.wait().await?;
    let diverging = parties
        .iter()
        .find(|p| p.org.kind() == OrgKind::Comune)
        .context("the demo has a Comune")?;
    let staged = findings::stage_divergence(log, diverging).await?;
    // The reconciler's findings are events too: wait until it has said all it has to say.
    settled.wait_for_reconciler().await?;
    let found = findings::read(log, stream.base).await?;
    let appended = stream.appended().await?;
    let (statuses, events_read) =
        summary::read_back(scenario, &runs, &desks, &findings::per_pathway(&found)).await?;
    let summary = Summary {
        scenario,
        tally: &tally,
        statuses: &statuses,
        events_read,
        appended,
        findings: found.len() as u64,
        played_in,
        wall_clock: started.elapsed(),
    };
    summary.print();
    findings::print(&found);
    if let Some((pathway, lost)) = &staged {
        println!(
            "  (the divergence was staged: a digest of {pathway} as {} would publish it had its \
             store lost event {lost})",
            diverging.org
        );
    }
    parties::print(settled, parties).await?;
    summary.check()?;
    findings::breached(log, &found).await
}

fn print_header(
    scenario: &Scenario,
    args: &DemoArgs,
    (grpc, console): (SocketAddr, Option<SocketAddr>),
    nats: &str,
) {
    let steps = scenario.pathways.iter().flat_map(|p| &p.steps);
    let (mut new, mut again, mut mistakes) = (0, 0, 0);
    for step in steps {
        match step.expect {
            Expect::Appended => new += 1,
            Expect::Replayed => again += 1,
            Expect::Refused { .. } => mistakes += 1,
        }
    }
    let ambiti: Vec<String> = AMBITI
        .iter()
        .map(|a| format!("{} {}", a.code, a.name))
        .collect();
    println!(
        "raccordo demo: seed {}, {} pathways over {} days from Monday {} in the Ambiti {}",
        scenario.seed,
        scenario.pathways.len(),
        scenario.calendar.days,
        scenario.calendar.start,
        ambiti.join(" and ")
    );
    println!(
        "  gRPC API on {grpc}, event log on {nats} ({}), state in {}",
        if args.nats.is_some() {
            "joined"
        } else {
            "embedded nats-server"
        },
        args.state_dir.display()
    );
    if let Some(console) = console {
        println!("  operator console on http://{console}/");
    }
    println!(
        "  {new} commands to apply, {again} to send again, {mistakes} mistakes the product must refuse"
    );
    println!();
}

/// Where to look at the demo in the operator console: a pathway with a breached deadline, who to
/// sign in as, and the console's address (live with `--serve`; otherwise how to serve it).
struct Look<'a> {
    breached: Option<&'a findings::Breached>,
    state_dir: &'a Path,
    /// The console of this run, when it serves on.
    console: Option<SocketAddr>,
    /// Where `raccordo up` serves the console by default, to browse after the demo.
    console_after: SocketAddr,
}

impl Look<'_> {
    fn print(&self) {
        let tokens = self.state_dir.join(TOKENS_FILE);
        let base = format!("http://{}", self.console.unwrap_or(self.console_after));
        println!();
        println!("Operator console");
        let (page, org) = match self.breached {
            Some(b) => {
                println!("  a pathway with a breached deadline: {}", b.what);
                (format!("{base}/percorsi/{}", b.pathway), b.org.to_string())
            }
            None => {
                println!(
                    "  no deadline was breached in this run; the findings are listed at /rilievi"
                );
                (format!("{base}/rilievi"), "any organisation".to_owned())
            }
        };
        if self.console.is_none() {
            let binary = std::env::args().next().unwrap_or_else(|| "raccordo".into());
            println!(
                "  raccordo stops now; to browse what the demo left, serve its state folder with\n    \
                 {binary} up --state-dir {}\n  (or play the demo with --serve, which keeps it running)",
                self.state_dir.display()
            );
        }
        println!("  open {page}");
        println!(
            "  and sign in as {org} with its token: the first field of its line in {}",
            tokens.display()
        );
        if self.console.is_some() {
            println!(
                "  raccordo keeps running at the scenario's last moment (console on {base}/); \
                 Ctrl-C stops it"
            );
        }
    }
}

/// Moves the state folder of an earlier run aside to `<dir>.previous`, replacing an older one,
/// so the demo (or a bench suite) starts from nothing without deleting the last run's data
/// unannounced.
pub(crate) fn set_aside(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let name = dir.file_name().with_context(|| {
        format!(
            "the state folder {} has no name to derive a .previous from",
            dir.display()
        )
    })?;
    let mut previous_name = name.to_owned();
    previous_name.push(".previous");
    let previous = dir.with_file_name(previous_name);
    if previous.exists() {
        std::fs::remove_dir_all(&previous).with_context(|| {
            format!(
                "cannot remove {}, the folder of the run before last",
                previous.display()
            )
        })?;
        tracing::info!(path = %previous.display(), "removed the folder of the run before last");
    }
    std::fs::rename(dir, &previous).with_context(|| {
        format!(
            "cannot move {} aside to {}",
            dir.display(),
            previous.display()
        )
    })?;
    tracing::info!(
        from = %dir.display(),
        to = %previous.display(),
        "moved the last demo's state folder aside; this run starts from an empty one"
    );
    Ok(())
}
