//! `raccordo kpi --ambito <code> --quarter <2026Q1> [--format text|csv|json]`: the LEPS indicators
//! of one Ambito in one calendar quarter, as the Ambito's ATS monitors them (DOMAIN.md §4; the
//! definitions are in [`raccordo_domain::kpi`]).
//!
//! It reads the whole `RACCORDO` log from its first event to the last one stored when it starts,
//! rebuilds each pathway as it goes, and hands every event to the same pure function the router
//! uses ([`raccordo_reconciler::indicators`]): what that gives the Ambito's ATS, its aggregate
//! view, is all the indicators are computed from, so they never rest on more than the ATS may
//! see. A message that is not an event, or an event that does not fit its pathway, is left out as
//! the router leaves it out (it parks it), with a warning.
//!
//! Output on stdout:
//! - `text` (the default): a table, one line per indicator with its value, numerator/denominator
//!   and the target for the quarter's year;
//! - `csv`: a header line, then `ambito,quarter,indicator,value,numerator,denominator,target`;
//! - `json`: one object, the indicators keyed by their id.
//!
//! Values are percentages, days or counts, as each indicator's id says (`…_pct`, `…_days`),
//! rounded to two decimals in csv and json; numerator and denominator are exact. An indicator
//! with nothing to divide by is not applicable: `n/a` in text, an empty value in csv, `null` in
//! json. Progress goes to stderr when reading takes more than a moment.
//!
//! It reaches the log as `raccordo project` does ([`crate::attach`]): `--nats`, or the state
//! folder's embedded nats-server.

use std::fmt::Write as _;
use std::future::Future;
use std::io::IsTerminal;
use std::time::Duration;

use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};
use raccordo_domain::ids::{AmbitoCode, OrgId};
use raccordo_domain::kpi::{Indicators, Measure, Monitor, Quarter};
use raccordo_domain::registry::{Ambito, Registry};
use raccordo_eventlog::EventLog;
use raccordo_reconciler::indicators::{AtsMonitor, Monitors};
use serde_json::json;
use tokio::time::Instant;

use crate::attach::{LogArgs, Source};

/// What `raccordo kpi` logs: its own steps; libraries' warnings.
pub const LOG: &str = "warn,raccordo=info,raccordo_eventlog=info";

/// How often the progress line is printed when stderr is not a terminal.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, clap::Args)]
pub struct KpiArgs {
    /// The Ambito, by its code in the territorial registry, e.g. 50032 (Magentino).
    #[arg(long)]
    pub ambito: AmbitoCode,
    /// The calendar quarter, in Italian local time, e.g. 2026Q1.
    #[arg(long)]
    pub quarter: Quarter,
    /// How to print the indicators.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned table.
    Text,
    /// A header line and one row per indicator.
    Csv,
    /// One JSON object.
    Json,
}

/// Runs `raccordo kpi`: reads the log, computes the indicators and prints them on stdout.
pub async fn run(args: KpiArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let registry = Registry::embedded();
    let Some(ambito) = registry.ambito(&args.ambito) else {
        let codes: Vec<&AmbitoCode> = registry.ambiti().map(|a| &a.code).collect();
        bail!(
            "unknown Ambito {}: the territorial registry (contracts/registry/allegato_c.tsv) has \
             no Ambito with that code; its {} Ambiti have codes from {} to {}, e.g. 50032 for the \
             Magentino",
            args.ambito,
            codes.len(),
            codes.first().map_or("-", |c| c.as_str()),
            codes.last().map_or("-", |c| c.as_str()),
        );
    };
    let ats = OrgId::Ats(ambito.ats.clone());
    let source = Source::find(&args.log, "the log").await?;
    let read = tokio::select! {
        read = async {
            let log = source.connect("raccordo-kpi").await?;
            read_log(&log, registry, &ats).await
        } => read,
        () = shutdown => Err(anyhow::anyhow!("interrupted while reading the log; nothing was printed")),
    };
    source.close().await;
    let read = read?;
    let indicators = read.monitor.indicators(&args.ambito, args.quarter);
    let output = match args.format {
        Format::Text => text(ambito, &indicators, &read),
        Format::Csv => csv(&indicators),
        Format::Json => json(ambito, &indicators, &read),
    };
    print!("{output}");
    Ok(())
}

/// What reading the log came to.
#[derive(Debug)]
struct Read {
    monitor: Monitor,
    /// Events read from the log.
    events: u64,
    /// Of which the ATS receives (in its aggregate view).
    for_ats: u64,
    /// Messages left out: not an event, or an event that does not fit its pathway.
    left_out: u64,
}

/// Reads the log from its first event to its last one now, and folds into a [`Monitor`] every
/// event as `ats` receives it ([`Monitors`], which the operator console reads the log with too).
async fn read_log(log: &EventLog, registry: &Registry, ats: &OrgId) -> anyhow::Result<Read> {
    let last = log.last_sequence().await?;
    tracing::info!(last_sequence = last, %ats, "reading the log");
    let started = Instant::now();
    let mut progress = Progress::start(last);
    let mut monitors = Monitors::of_ats(ats.clone());
    monitors
        .catch_up(log, registry, last, |sequence| progress.at(sequence))
        .await?;
    progress.finish();
    let AtsMonitor {
        monitor,
        events: for_ats,
    } = monitors.of(ats).cloned().unwrap_or_default();
    let read = Read {
        monitor,
        events: monitors.events(),
        for_ats,
        left_out: monitors.left_out(),
    };
    if last > 0 {
        tracing::info!(
            events = read.events,
            for_ats = read.for_ats,
            left_out = read.left_out,
            unattributed = read.monitor.unattributed(),
            seconds = format!("{:.2}", started.elapsed().as_secs_f64()),
            "read the log"
        );
    }
    Ok(read)
}

// ---- output -------------------------------------------------------------------------------------

/// A value for csv and json: two decimals at most.
fn rounded(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn text(ambito: &Ambito, indicators: &Indicators, read: &Read) -> String {
    let quarter = indicators.quarter;
    let rows: Vec<[String; 4]> = indicators
        .lines()
        .map(|(indicator, measure, target)| {
            let value = match (measure, measure.value()) {
                (_, None) => "n/a".to_owned(),
                (Measure::Share { .. }, Some(v)) => format!("{v:.1}%"),
                (Measure::MeanDays { .. }, Some(v)) => format!("{v:.1}"),
                (Measure::Count(n), _) => n.to_string(),
            };
            let fraction = measure
                .fraction()
                .map_or_else(String::new, |(n, d)| format!("{n}/{d}"));
            let target = target.map_or_else(|| "-".to_owned(), |t| t.to_string());
            [indicator.label().to_owned(), value, fraction, target]
        })
        .collect();
    let header = ["indicator", "value", "num/den", "target"].map(str::to_owned);
    let mut widths = [0; 4];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = format!(
        "LEPS indicators of Ambito {} {} (ATS {}), {quarter}: {} to {}\n\n",
        ambito.code,
        ambito.name,
        ambito.ats,
        quarter.first_day(),
        quarter.last_day()
    );
    for row in std::iter::once(&header).chain(&rows) {
        let [label, value, fraction, target] = row;
        let line = format!(
            "{label:<w0$}  {value:>w1$}  {fraction:>w2$}  {target}",
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let _ = write!(
        out,
        "\nFrom {} events of the log, {} of them in the aggregate view of ATS {}",
        read.events, read.for_ats, ambito.ats
    );
    if read.left_out > 0 {
        let _ = write!(
            out,
            "; {} messages left out (see the warnings)",
            read.left_out
        );
    }
    out.push_str(". n/a: nothing to divide by.\n");
    out
}

fn csv(indicators: &Indicators) -> String {
    let mut out = String::from("ambito,quarter,indicator,value,numerator,denominator,target\n");
    for (indicator, measure, target) in indicators.lines() {
        let value = measure
            .value()
            .map_or_else(String::new, |v| rounded(v).to_string());
        let (numerator, denominator) = measure
            .fraction()
            .map_or((String::new(), String::new()), |(n, d)| {
                (n.to_string(), d.to_string())
            });
        let target = target.map_or_else(String::new, |t| t.to_string());
        let row = [
            indicators.ambito.to_string(),
            indicators.quarter.to_string(),
            indicator.id().to_owned(),
            value,
            numerator,
            denominator,
            target,
        ];
        let row: Vec<String> = row.iter().map(|cell| csv_field(cell)).collect();
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

/// A csv field, quoted when it holds a comma, a quote or a line break (RFC 4180).
fn csv_field(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_owned()
    }
}

fn json(ambito: &Ambito, indicators: &Indicators, read: &Read) -> String {
    let quarter = indicators.quarter;
    let lines: serde_json::Map<String, serde_json::Value> = indicators
        .lines()
        .map(|(indicator, measure, target)| {
            let value = match measure {
                Measure::Count(n) => json!(n),
                _ => json!(measure.value().map(rounded)),
            };
            let (numerator, denominator) = measure.fraction().unzip();
            let line = json!({
                "label": indicator.label(),
                "value": value,
                "numerator": numerator,
                "denominator": denominator,
                "target": target.map(|t| t.to_string()),
            });
            (indicator.id().to_owned(), line)
        })
        .collect();
    let object = json!({
        "ambito": ambito.code,
        "ambito_name": ambito.name,
        "ats": ambito.ats,
        "quarter": quarter.to_string(),
        "first_day": quarter.first_day().to_string(),
        "last_day": quarter.last_day().to_string(),
        "indicators": lines,
        "events_read": read.events,
        "events_for_ats": read.for_ats,
        "messages_left_out": read.left_out,
    });
    let mut out = serde_json::to_string_pretty(&object).expect("JSON values always serialise");
    out.push('\n');
    out
}

// ---- progress -----------------------------------------------------------------------------------

/// Progress on stderr while the log is read: a bar on a terminal, a line every two seconds
/// otherwise (none at all when reading takes less).
struct Progress {
    last: u64,
    bar: Option<ProgressBar>,
    next_line: Instant,
}

impl Progress {
    fn start(last: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(last).with_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {pos}/{len} events, {per_sec}, ETA {eta}",
                )
                .expect("the template is valid")
                .progress_chars("=> "),
            );
            bar.set_message("reading the log");
            bar
        });
        Self {
            last,
            bar,
            next_line: Instant::now() + PROGRESS_EVERY,
        }
    }

    fn at(&mut self, sequence: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(sequence);
        } else if Instant::now() >= self.next_line {
            self.next_line += PROGRESS_EVERY;
            eprintln!(
                "reading the log: sequence {sequence} of {} ({:.1}%)",
                self.last,
                100.0 * sequence as f64 / self.last as f64
            );
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
