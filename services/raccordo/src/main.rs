//! `raccordo`: runs the service (`up`: the gRPC API and the operator console), the demo scenario
//! (`demo`), builds one party's projection from its inbox (`project`) or as it was at a point of
//! history (`replay projection`), replays a pathway's history for a party (`replay pathway`) and
//! lists the audit trail of such replays (`audit`), checks the reconciler (`reconcile`, `replay
//! what-if`), or computes an Ambito's LEPS indicators (`kpi`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use raccordo::app::{Application, Settings};
use raccordo::{bench, demo, history, kpi, project, reconcile, replay, telemetry};
use raccordo_domain::clock::SystemClock;

/// mimalloc instead of glibc's malloc: sled's page cache and the NATS client's per-message header
/// maps allocate and free small blocks by the million, and glibc's allocator spent a third of a
/// projection rebuild on it (see docs/PERFORMANCE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "raccordo",
    version,
    about = "Event-sourced hand-offs between Comuni, ATS and ASST"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run raccordo: the gRPC API and the operator console on the event log (an embedded
    /// nats-server unless --nats is given).
    Up(UpArgs),
    /// Play a realistic 90-day scenario through the real gRPC API and print what it came to.
    Demo(demo::DemoArgs),
    /// Build one party's projection from its inbox, or bring it up to date, and print its digest.
    Project(project::ProjectArgs),
    /// Rebuild what a party saw at a point of the log's history, replay a pathway's history, or
    /// see what the reconciler would have found under other protocols; the log is never touched.
    Replay(replay::ReplayArgs),
    /// Replay the whole log through the reconciler on a virtual clock and compare its findings.
    Reconcile(reconcile::ReconcileArgs),
    /// Compute the LEPS indicators of one Ambito in one quarter from the log, as its ATS sees them.
    Kpi(kpi::KpiArgs),
    /// List the audit trail: every replay of a pathway's history, who asked, for whom and why.
    Audit(history::AuditArgs),
    /// Measure raccordo against raw JetStream on the same server, in the same run: ingest,
    /// rebuild, history, reconcile (see docs/PERFORMANCE.md).
    Bench(bench::BenchArgs),
}

#[derive(Debug, clap::Args)]
struct UpArgs {
    /// The state folder: embedded server data, subject key, tokens file.
    #[arg(long, default_value = ".raccordo", env = "RACCORDO_STATE_DIR")]
    state_dir: PathBuf,
    /// Join this NATS server or cluster (nats://host:port) instead of starting the embedded one.
    #[arg(long, env = "RACCORDO_NATS_URL")]
    nats: Option<String>,
    /// The nats-server binary for the embedded server (default: found under .tools/ or on PATH).
    #[arg(long)]
    nats_server: Option<PathBuf>,
    /// Where the gRPC API listens.
    #[arg(long, default_value = "127.0.0.1:50051", env = "RACCORDO_LISTEN")]
    listen: SocketAddr,
    /// Where the operator console (the web page) listens.
    #[arg(long, default_value = "127.0.0.1:8080", env = "RACCORDO_CONSOLE")]
    console: SocketAddr,
    /// A directory with the registry files (default: the registry built into the binary).
    #[arg(long)]
    registry: Option<PathBuf>,
    /// A directory with the protocol files, *.toml (default: the protocols built into the binary,
    /// those of contracts/protocols/). A file that does not parse stops start-up.
    #[arg(long)]
    protocols: Option<PathBuf>,
    /// The tokens file, token,org,operator per line (default: <state-dir>/tokens.csv, created if missing).
    #[arg(long)]
    tokens: Option<PathBuf>,
    /// JetStream's duplicate window for the RACCORDO stream, in seconds.
    #[arg(long, default_value_t = 120)]
    duplicate_window_secs: u64,
    /// Replicas of the RACCORDO stream when raccordo creates it (3 on a 3-node cluster).
    #[arg(long, default_value_t = 1)]
    replicas: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(match cli.command {
        Cmd::Up(_) => telemetry::SERVICE,
        Cmd::Demo(_) => telemetry::DEMO,
        Cmd::Project(_) => project::LOG,
        Cmd::Replay(_) => replay::LOG,
        Cmd::Reconcile(_) => reconcile::LOG,
        Cmd::Kpi(_) => kpi::LOG,
        Cmd::Audit(_) => history::LOG,
        Cmd::Bench(_) => bench::LOG,
    });
    let result = match cli.command {
        Cmd::Up(args) => up(args).await,
        Cmd::Demo(args) => demo::run(args, stop_signal()).await,
        Cmd::Project(args) => project::run(args, stop_signal()).await,
        Cmd::Replay(args) => replay::run(args).await,
        Cmd::Reconcile(args) => reconcile::run(args).await,
        Cmd::Kpi(args) => kpi::run(args, stop_signal()).await,
        Cmd::Audit(args) => history::audit(args).await,
        Cmd::Bench(args) => bench::run(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The cause chain is what an operator acts on; a backtrace is not.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    let clock = Arc::new(SystemClock);
    let mut settings = Settings::new(&args.state_dir, clock);
    settings.nats_url = args.nats;
    settings.nats_server = args.nats_server;
    settings.listen = args.listen;
    settings.console = Some(args.console);
    settings.registry_dir = args.registry;
    settings.protocols_dir = args.protocols;
    settings.duplicate_window = Duration::from_secs(args.duplicate_window_secs);
    settings.replicas = args.replicas;
    if let Some(path) = &args.tokens {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the tokens file {}: {e}", path.display()))?;
        settings.tokens = Some(raccordo_gateway::Tokens::parse(
            &path.display().to_string(),
            &text,
        )?);
    }
    let app = Application::build(settings).await?;
    let console = app
        .console_addr()
        .map(|addr| format!("http://{addr}/"))
        .unwrap_or_default();
    tracing::info!(grpc = %app.grpc_addr(), %console, nats = app.nats_url(), "raccordo is up; Ctrl-C stops it");
    app.run_until_stopped(stop_signal()).await
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM, so that an interactive stop and a service manager's
/// stop both drain calls and shut the embedded server down cleanly.
async fn stop_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM can be handled");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("stopping");
}
