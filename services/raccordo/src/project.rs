//! `raccordo project --party <org id> [--rebuild] [--follow]`: builds one party's projection from
//! its inbox, or brings it up to date, and prints what it came to, one `name value` per line on
//! stdout (`party`, `checkpoint`, `applied`, `parked`, `pathways`, `worklist`, `digest`) for
//! scripts and tests to read. Progress goes to stderr: a bar on a terminal, a line every two
//! seconds otherwise.
//!
//! It reads the NATS `--nats` names; without it, the embedded nats-server of the state folder:
//! the one a running `raccordo up` started (found by its ports file), or, with raccordo stopped,
//! one it starts itself on the folder's data and stops at the end (see [`crate::attach`]). The
//! projection is the same store `raccordo up` keeps, so while `raccordo up` runs it is locked and
//! this command says so instead of touching it: stop `raccordo up`, run `raccordo project`, start
//! it again.

use std::future::Future;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};
use raccordo_domain::clock::{Clock, SystemClock};
use raccordo_domain::ids::OrgId;
use raccordo_projections::ProjectionStore;
use raccordo_projector::{Progress, Projector, open_store, set_aside_for_rebuild};

use crate::attach::{LogArgs, Source};
use tokio::sync::watch;
use tokio::time::Instant;

/// What `raccordo project` logs: its own steps and the projector's; libraries' warnings.
pub const LOG: &str =
    "warn,raccordo=info,raccordo_projector=info,raccordo_projections=info,raccordo_eventlog=info";

/// How often the progress line is printed when stderr is not a terminal.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, clap::Args)]
pub struct ProjectArgs {
    /// The party (organisation) whose projection to build, e.g. asst:705 or comune:magenta.
    #[arg(long)]
    pub party: OrgId,
    /// Move the current projection aside (kept as <dir>.before-rebuild-<UTC time>, never
    /// deleted) and build a new one from inbox sequence 1.
    #[arg(long)]
    pub rebuild: bool,
    /// After catching up, keep following the inbox until SIGINT or SIGTERM.
    #[arg(long)]
    pub follow: bool,
    #[command(flatten)]
    pub log: LogArgs,
}

/// Runs `raccordo project`: catches the party's projection up with its inbox (and follows it
/// with `--follow` until `shutdown`), then prints the summary on stdout.
pub async fn run(
    args: ProjectArgs,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let party = args.party;
    let source = Source::find(&args.log, "the inbox").await?;
    let result = project(
        &party,
        &args.log.state_dir,
        args.rebuild,
        args.follow,
        &source,
        shutdown,
    )
    .await;
    source.close().await;
    result
}

/// Catches `party`'s projection up with its inbox on `source` (and follows it with `follow`
/// until `shutdown`), then prints the summary on stdout.
async fn project(
    party: &OrgId,
    state_dir: &Path,
    rebuild: bool,
    follow: bool,
    source: &Source,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let party = party.clone();
    let log = source.connect("raccordo-project").await?;
    if rebuild {
        set_aside_for_rebuild(state_dir, &party, SystemClock.now())?;
    }
    let (store, _) = open_store(state_dir, &party)?;
    let projector = Projector::new(log, store.clone());
    let display = Display::start(format!("projecting {party}"), projector.progress());
    let started = Instant::now();

    let outcome = if follow {
        projector.run(shutdown).await
    } else {
        tokio::select! {
            outcome = projector.catch_up() => outcome.map(drop),
            () = shutdown => {
                display.finish();
                store.flush()?;
                bail!(
                    "interrupted at inbox sequence {} of {party}'s inbox; run the same command \
                     again to go on from there",
                    store.checkpoint()?
                );
            }
        }
    };
    display.finish();
    outcome?;

    let progress = *projector.progress().borrow();
    let elapsed = started.elapsed();
    tracing::info!(
        %party, applied = progress.applied, parked = progress.parked,
        seconds = format!("{:.2}", elapsed.as_secs_f64()),
        entries_per_second = format!("{:.0}", rate(progress.applied, elapsed)),
        "projection done"
    );
    println!("party {party}");
    println!("checkpoint {}", store.checkpoint()?);
    println!("applied {}", progress.applied);
    println!("parked {}", progress.parked);
    println!("pathways {}", store.pathway_count()?);
    println!("worklist {}", store.worklist()?.len());
    println!("digest {}", store.digest()?);
    Ok(())
}

fn rate(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-3)
}

/// Progress on stderr while a projector works (`raccordo project`, `raccordo replay`).
pub(crate) struct Display {
    task: tokio::task::JoinHandle<()>,
    bar: Option<ProgressBar>,
}

impl Display {
    /// Draws `progress`, each line or the bar headed by `doing` ("projecting asst:705").
    pub(crate) fn start(doing: String, progress: watch::Receiver<Progress>) -> Self {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(0).with_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {pos}/{len} inbox seq, {per_sec}, ETA {eta}",
                )
                .expect("the template is valid")
                .progress_chars("=> "),
            );
            bar.set_message(doing);
            let task = tokio::spawn(draw(bar.clone(), progress));
            Self {
                task,
                bar: Some(bar),
            }
        } else {
            let task = tokio::spawn(report(doing, progress));
            Self { task, bar: None }
        }
    }

    pub(crate) fn finish(&self) {
        self.task.abort();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Keeps the bar at the checkpoint, out of the party's last inbox sequence.
async fn draw(bar: ProgressBar, mut progress: watch::Receiver<Progress>) {
    loop {
        let p = *progress.borrow_and_update();
        bar.set_length(p.inbox_last.max(p.checkpoint));
        bar.set_position(p.checkpoint);
        if progress.changed().await.is_err() {
            return;
        }
    }
}

/// Prints a progress line every two seconds.
async fn report(doing: String, progress: watch::Receiver<Progress>) {
    let started = Instant::now();
    let first = *progress.borrow();
    let mut ticks = tokio::time::interval_at(started + PROGRESS_EVERY, PROGRESS_EVERY);
    loop {
        ticks.tick().await;
        let p = *progress.borrow();
        let elapsed = started.elapsed();
        let done = p.checkpoint.saturating_sub(first.checkpoint);
        let left = p.inbox_last.saturating_sub(p.checkpoint);
        let eta = if p.caught_up {
            "caught up".to_owned()
        } else if p.stopped_at.is_some() {
            "done".to_owned()
        } else if done == 0 {
            "ETA unknown".to_owned()
        } else {
            format!("ETA {:.0}s", left as f64 / rate(done, elapsed))
        };
        let percent = if p.inbox_last == 0 {
            100.0
        } else {
            100.0 * p.checkpoint as f64 / p.inbox_last as f64
        };
        eprintln!(
            "{doing}: inbox sequence {} of {} ({percent:.1}%), {} applied, {} parked, \
             {:.0} entries/s, {eta}",
            p.checkpoint,
            p.inbox_last,
            p.applied,
            p.parked,
            rate(p.applied, elapsed),
        );
    }
}
