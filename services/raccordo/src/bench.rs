//! `raccordo bench <suite>`: the performance model of the architecture, measured. Every suite
//! starts its own nats-server (the pinned binary, as `raccordo up` would) in a folder of its own,
//! measures raccordo **and the raw JetStream baseline in the same run on the same server**, and
//! prints each figure's minimum, median and maximum over the runs, with the ratio to the baseline.
//!
//! - `ingest`: gRPC commands of the demo scenario to acknowledged events, with N concurrent
//!   clients each on its own connection, against raw acknowledged publishes of the same messages;
//!   under `sync_interval: always` (what raccordo ships) and under the server's lazy default.
//! - `rebuild`: one party's inbox to a new sled projection, against a raw ordered-consumer read
//!   of the same messages.
//! - `history`: one pathway's history at a small and a large log, against one raw direct get.
//! - `reconcile`: the reconciler taking in a log of open pathways with pending deadlines, against
//!   a raw read of the log; memory per open pathway; deadline firings per second.
//!
//! Logs are filled with events the domain decides from the demo scenario, published raw with many
//! acknowledgements in flight on a server with its lazy default, which is then restarted with
//! `sync_interval: always` for the measurements ([`fill`]). Nothing here asserts on time.

mod figures;
mod fill;
mod history;
mod ingest;
mod rebuild;
mod reconcile;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use raccordo_eventlog::{EventLog, LogConfig};

use crate::nats::{self, Durability, EmbeddedNats};
pub(crate) use figures::{Figures, Latencies};

/// What the suites log (to stderr): warnings only, so that the figures stand out.
pub const LOG: &str = "warn";

/// The scenario's first day, as the demo's (a Monday).
pub(crate) const FIRST_DAY: time::Date = time::macros::date!(2026 - 01 - 12);

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub suite: Suite,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// Where the suites keep their nats-servers and stores, each in `<dir>/<suite>`. A suite's
    /// folder from an earlier run is moved to `<dir>/<suite>.previous` as the suite starts,
    /// replacing an older one; at the full sizes each takes 3 to 4 GiB.
    #[arg(long, default_value = ".raccordo/bench", global = true)]
    pub dir: PathBuf,
    /// Measurement runs; each figure is reported as min / median / max over them.
    #[arg(long, default_value_t = 3, global = true, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// The nats-server binary (default: found under .tools/ or on PATH, as for `raccordo up`).
    #[arg(long, global = true)]
    pub nats_server: Option<PathBuf>,
    /// A few hundred events instead of the full sizes: checks that the suite works, measures
    /// nothing worth reporting (CI runs every suite so).
    #[arg(long, global = true)]
    pub tiny: bool,
    /// `text` (a table) or `json`.
    #[arg(long, default_value = "text", global = true)]
    pub format: Format,
    /// Measures run N alone on the log a parent process prepared in `--dir`, and prints its
    /// figures as JSON: how a suite runs each measurement in a process of its own, so that every
    /// run's memory figures start from a fresh heap.
    #[arg(long, hide = true, global = true)]
    pub measure_run: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Subcommand)]
pub enum Suite {
    /// gRPC commands → acknowledged events, N concurrent clients, vs raw acknowledged publish.
    Ingest(ingest::Args),
    /// One party's inbox → a new sled projection, vs a raw ordered-consumer read.
    Rebuild(rebuild::Args),
    /// One pathway's history at a small and at a large log, vs one raw direct get.
    History(history::Args),
    /// The reconciler over open pathways with pending deadlines, vs a raw read of the log.
    Reconcile(reconcile::Args),
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let common = args.common;
    let binary = nats::locate(common.nats_server.as_deref())?;
    let name = match &args.suite {
        Suite::Ingest(_) => "ingest",
        Suite::Rebuild(_) => "rebuild",
        Suite::History(_) => "history",
        Suite::Reconcile(_) => "reconcile",
    };
    let dir = common.dir.join(name);
    let bench = Bench {
        binary,
        dir,
        runs: common.runs,
        tiny: common.tiny,
        measure_run: common.measure_run,
    };
    if let Some(run) = bench.measure_run {
        let figures = match args.suite {
            Suite::Rebuild(a) => rebuild::measure(&bench, a, run).await?,
            Suite::Reconcile(a) => reconcile::measure(&bench, a, run).await?,
            _ => anyhow::bail!("--measure-run is for the rebuild and reconcile suites"),
        };
        println!("{}", serde_json::to_string(&figures.json())?);
        return Ok(());
    }
    // An earlier run's folder goes to `<suite>.previous`, as the demo's state folder does.
    crate::demo::set_aside(&bench.dir)?;
    std::fs::create_dir_all(&bench.dir)
        .with_context(|| format!("cannot create {}", bench.dir.display()))?;
    eprintln!(
        "raccordo bench {name}: {} run(s){}, in {}",
        bench.runs,
        if bench.tiny { ", tiny sizes" } else { "" },
        bench.dir.display()
    );
    let started = Instant::now();
    let figures = match args.suite {
        Suite::Ingest(a) => ingest::run(&bench, a).await?,
        Suite::Rebuild(a) => rebuild::run(&bench, a).await?,
        Suite::History(a) => history::run(&bench, a).await?,
        Suite::Reconcile(a) => reconcile::run(&bench, a).await?,
    };
    match common.format {
        Format::Text => print!("{}", figures.table()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&figures.json())?),
    }
    eprintln!(
        "raccordo bench {name}: done in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One suite's settings.
#[derive(Debug)]
pub(crate) struct Bench {
    binary: PathBuf,
    pub dir: PathBuf,
    pub runs: u32,
    pub tiny: bool,
    measure_run: Option<u32>,
}

impl Bench {
    /// Measures each run in a child process (this binary, with the same arguments and
    /// `--measure-run N`) on what this process prepared, and adds its figures.
    pub async fn runs_in_children(&self, figures: &mut Figures) -> anyhow::Result<()> {
        let exe = std::env::current_exe().context("cannot find raccordo's own binary")?;
        let args: Vec<String> = std::env::args().skip(1).collect();
        for run in 1..=self.runs {
            let child = tokio::process::Command::new(&exe)
                .args(&args)
                .args(["--measure-run", &run.to_string()])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("cannot start run {run}"))?;
            let output = child.wait_with_output().await?;
            anyhow::ensure!(
                output.status.success(),
                "run {run} failed ({})",
                output.status
            );
            let report: serde_json::Value = serde_json::from_slice(&output.stdout)
                .with_context(|| format!("run {run} printed no report"))?;
            figures.merge(&report);
        }
        Ok(())
    }
}

/// A nats-server of a suite, with the log on it.
#[derive(Debug)]
pub(crate) struct Server {
    nats: EmbeddedNats,
    pub log: EventLog,
    dir: PathBuf,
}

impl Bench {
    /// Starts a server (its store under `<dir>/<name>`, kept if there) and connects the log.
    pub async fn server(&self, name: &str, durability: Durability) -> anyhow::Result<Server> {
        let dir = self.dir.join(name);
        let nats = EmbeddedNats::start_with(&self.binary, &dir, durability).await?;
        let log = EventLog::connect(nats.url(), LogConfig::default()).await?;
        Ok(Server { nats, log, dir })
    }
}

impl Server {
    pub fn url(&self) -> &str {
        self.nats.url()
    }

    /// Stops the server and starts it again on the same store with `durability`.
    pub async fn restart(self, bench: &Bench, durability: Durability) -> anyhow::Result<Server> {
        let name = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        drop(self.log);
        self.nats.stop().await;
        bench.server(&name, durability).await
    }

    /// The server process's resident memory, in bytes.
    pub fn rss(&self) -> Option<u64> {
        self.nats
            .pid()
            .and_then(|pid| status_field(&format!("/proc/{pid}/status"), "VmRSS:"))
    }

    /// Bytes the server's JetStream store takes on disk.
    pub fn store_bytes(&self) -> u64 {
        disk_usage(&self.dir.join("jetstream"))
    }

    pub async fn stop(self) {
        drop(self.log);
        self.nats.stop().await;
    }
}

/// A field of a `/proc/.../status` file in bytes (the file gives kB).
fn status_field(path: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// This process's resident memory, in bytes.
pub(crate) fn rss() -> u64 {
    status_field("/proc/self/status", "VmRSS:").unwrap_or(0)
}

/// This process's peak resident memory since the last [`reset_peak`], in bytes.
pub(crate) fn peak_rss() -> u64 {
    status_field("/proc/self/status", "VmHWM:").unwrap_or(0)
}

/// Starts measuring the peak resident memory afresh (Linux: `5` to `/proc/self/clear_refs`).
pub(crate) fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Copies a directory tree (a stopped server's store, so that each run starts from the same log).
pub(crate) fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))?
    {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Bytes the files under `dir` take on disk (allocated blocks, not apparent sizes).
pub(crate) fn disk_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.metadata() {
            Ok(m) if m.is_dir() => disk_usage(&entry.path()),
            Ok(m) => m.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

/// A progress line on stderr.
pub(crate) fn say(line: impl std::fmt::Display) {
    eprintln!("  {line}");
}
