//! A pathway's history on the command line, and the audit trail of such replays.
//!
//! `raccordo replay pathway <id> --as <party> --purpose <care|audit|governance>` replays one
//! pathway's history from the log as the party named may see it for the purpose named
//! ([`raccordo_domain::timeline`]): one lane per organisation with its acts, waits, deadlines and
//! findings, open waits and deadlines measured now. It goes through the same [`Replays`] as gRPC
//! `Pathways.History`, so the replay is recorded in the audit trail (`RACCORDO_AUDIT`, via `cli`)
//! before anything is printed, refused ones too: a refusal exits 1 and says it was recorded. Who
//! replays is `--operator`, by default the login name (`$USER`) when it is a valid operator id.
//!
//! `raccordo audit [--pathway <id>] [--viewer <party>]` lists that trail: who replayed which
//! pathway, for whom, for what, through what, and what came of it.
//!
//! Both print `text` for people (times in Italian local time with their offset) or `json` for
//! programs on stdout, and reach the log as `raccordo reconcile` does ([`Source::find`]): `--nats`,
//! or the state folder's embedded nats-server. The protocols are the ones `raccordo up` uses: the
//! built-in copies, or `--protocols`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use raccordo_domain::calendar::rome_time;
use raccordo_domain::clock::SystemClock;
use raccordo_domain::ids::{EventId, OperatorId, OrgId, PathwayId};
use raccordo_domain::pathway::Actor;
use raccordo_domain::pathway::finding::StepRef;
use raccordo_domain::registry::Registry;
use raccordo_domain::routing::View;
use raccordo_domain::timeline::{Act, Lane, Outcome, Purpose, Timeline, Via};
use raccordo_eventlog::{AUDIT_STREAM, AuditEvent, AuditFilter};
use raccordo_gateway::{ReplayError, Replays};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::attach::{LogArgs, Source};

/// What `raccordo audit` logs: its own steps; libraries' warnings. (`raccordo replay pathway`
/// logs as `raccordo replay` does.)
pub const LOG: &str = "warn,raccordo=info";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people: a history's header and lanes, or a table of the audit trail.
    Text,
    /// For programs: one JSON document.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct PathwayArgs {
    /// The pathway, e.g. dp-0b6f1a523c1e4b8e9d61.
    pub pathway: PathwayId,
    /// The organisation the history is replayed for, e.g. asst:705: it is shown what that
    /// organisation may see of the pathway, nothing more.
    #[arg(long = "as", value_name = "PARTY")]
    pub viewer: OrgId,
    /// Why the history is read: care or audit (for the organisations taking part; audit also
    /// shows who acted and with which command), or governance (the aggregate view; the only
    /// purpose open to an ATS).
    #[arg(long, value_name = "care|audit|governance")]
    pub purpose: Purpose,
    /// Who is replaying, recorded in the audit trail (default: $USER, if it is a valid operator
    /// id: letters, digits and . _ @ -).
    #[arg(long)]
    pub operator: Option<OperatorId>,
    /// How to print the history.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub log: LogArgs,
    /// A directory with the protocol files (default: the protocols built into the binary).
    #[arg(long)]
    pub protocols: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Only the replays of this pathway.
    #[arg(long)]
    pub pathway: Option<PathwayId>,
    /// Only the replays for this organisation, e.g. asst:705.
    #[arg(long, value_name = "PARTY")]
    pub viewer: Option<OrgId>,
    /// How to print the trail.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub log: LogArgs,
}

/// Runs `raccordo replay pathway`.
pub async fn replay(args: PathwayArgs) -> anyhow::Result<()> {
    let operator = operator(args.operator, std::env::var("USER").ok())?;
    let rules = crate::app::rules(args.protocols.as_deref())?;
    let registry = rules.registry.clone();
    let actor = Actor {
        org: args.viewer,
        operator,
    };
    let source = Source::find(&args.log, "the log").await?;
    let replayed = async {
        let log = source.connect("raccordo-replay-pathway").await?;
        let replays = Replays::new(log, rules, Arc::new(SystemClock))
            .await
            .context("cannot set up the audit trail; nothing was shown")?;
        Ok::<_, anyhow::Error>(
            replays
                .timeline(&actor, &args.pathway, args.purpose, Via::Cli)
                .await,
        )
    }
    .await;
    source.close().await;
    let (timeline, audited) = match replayed? {
        Ok(shown) => shown,
        Err(ReplayError::Refused { refusal, audited }) => bail!(
            "{refusal}. This refused replay was recorded in the audit trail ({AUDIT_STREAM} \
             sequence {}, event {}).",
            audited.sequence,
            audited.id
        ),
        Err(ReplayError::Log(e)) => {
            return Err(anyhow::Error::new(e).context(format!(
                "cannot replay pathway {}; nothing was shown",
                args.pathway
            )));
        }
    };
    tracing::info!(
        pathway = %timeline.pathway, viewer = %timeline.viewer, operator = %actor.operator,
        purpose = %timeline.purpose, events_shown = audited.replayed.events_shown,
        audit_sequence = audited.sequence, "history replayed and recorded in the audit trail"
    );
    let output = match args.format {
        Format::Text => timeline_text(&timeline, &audited, &registry),
        Format::Json => {
            let document = json!({ "timeline": timeline, "audit": audited });
            let mut text = serde_json::to_string_pretty(&document).expect("JSON serialises");
            text.push('\n');
            text
        }
    };
    print!("{output}");
    Ok(())
}

/// Runs `raccordo audit`.
pub async fn audit(args: AuditArgs) -> anyhow::Result<()> {
    let filter = AuditFilter {
        viewer: args.viewer,
        pathway: args.pathway,
    };
    let source = Source::find(&args.log, "the audit trail").await?;
    let read = async {
        let log = source.connect("raccordo-audit").await?;
        let audit = log.audit().await?;
        Ok::<_, anyhow::Error>(audit.read(&filter).await?)
    }
    .await;
    source.close().await;
    let events = read.context("cannot read the audit trail")?;
    let output = match args.format {
        Format::Text => audit_text(&events, &filter),
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&events).expect("JSON serialises");
            text.push('\n');
            text
        }
    };
    print!("{output}");
    Ok(())
}

/// The operator replaying: the one named, else the login name if it is a valid operator id.
fn operator(given: Option<OperatorId>, user: Option<String>) -> anyhow::Result<OperatorId> {
    if let Some(operator) = given {
        return Ok(operator);
    }
    let advice = "name who is replaying with --operator (e.g. --operator mario.rossi): every \
                  replay of a history is recorded in the audit trail with its operator";
    match user.filter(|u| !u.is_empty()) {
        None => bail!("no operator: $USER is not set; {advice}"),
        Some(user) => user.parse().map_err(|e| {
            anyhow!("no operator: $USER ({user:?}) is not an operator id ({e}); {advice}")
        }),
    }
}

// ---- text ---------------------------------------------------------------------------------------

/// An instant as an Italian operator reads it: local time in Italy, with the weekday and the
/// offset (which says winter or summer time), e.g. `Thu 2026-03-05 10:00 +01:00`.
fn local(instant: OffsetDateTime) -> String {
    rome_time(instant)
        .format(format_description!(
            "[weekday repr:short] [year]-[month]-[day] [hour]:[minute] [offset_hour sign:mandatory]:[offset_minute]"
        ))
        .expect("times within year 0-9999 always format")
}

/// A span of minutes as the operators' tools print it: `4 d 14 h`, `2 d`, `3 h 0 min`.
pub(crate) fn duration(minutes: u64) -> String {
    let (days, hours) = (minutes / (24 * 60), minutes % (24 * 60) / 60);
    match (days, hours) {
        (0, h) => format!("{h} h {} min", minutes % 60),
        (d, 0) => format!("{d} d"),
        (d, h) => format!("{d} d {h} h"),
    }
}

fn step(step: &StepRef) -> String {
    format!("{} ({} v{})", step.step, step.protocol, step.version)
}

/// An event's data on one line: `name: value` pairs, strings unquoted, the rest as JSON.
fn data_line(data: &Value) -> Option<String> {
    let Value::Object(fields) = data else {
        return (!data.is_null()).then(|| data.to_string());
    };
    let pairs: Vec<String> = fields
        .iter()
        .map(|(name, value)| match value {
            Value::String(s) => format!("{name}: {s}"),
            other => format!("{name}: {other}"),
        })
        .collect();
    (!pairs.is_empty()).then(|| pairs.join(", "))
}

fn timeline_text(timeline: &Timeline, audited: &AuditEvent, registry: &Registry) -> String {
    let ambito = registry.ambito(&timeline.ambito).map_or_else(
        || timeline.ambito.to_string(),
        |a| format!("{} {}", a.code, a.name),
    );
    let waiting_on = if timeline.waiting_on.is_empty() {
        "nobody".to_owned()
    } else {
        timeline.waiting_on.join(", ")
    };
    let view = match timeline.view {
        View::Full => "full",
        View::Aggregate => "aggregate (no person, no free text, no operator)",
    };
    let mut out = String::new();
    let mut line = |name: &str, value: &str| {
        let _ = writeln!(out, "{name:<11} {value}");
    };
    line("pathway", timeline.pathway.as_str());
    line("kind", &timeline.kind.to_string());
    line("Ambito", &ambito);
    line("status", &timeline.status);
    line("viewer", &timeline.viewer.to_string());
    line("purpose", timeline.purpose.as_str());
    line("view", view);
    line("opened", &local(timeline.opened_at));
    line("updated", &local(timeline.updated_at));
    line("as of", &local(timeline.as_of));
    line("waiting on", &waiting_on);
    line(
        "audit",
        &format!(
            "recorded as event {} ({AUDIT_STREAM} sequence {})",
            audited.id, audited.sequence
        ),
    );
    // What closed a step, when the viewer holds it: `received`, `closed`, … and where in the log.
    let acts: HashMap<&EventId, &Act> = timeline
        .lanes
        .iter()
        .flat_map(|l| &l.acts)
        .map(|a| (&a.event_id, a))
        .collect();
    for lane in &timeline.lanes {
        out.push('\n');
        lane_text(&mut out, lane, &acts, registry);
    }
    out
}

fn lane_text(out: &mut String, lane: &Lane, acts: &HashMap<&EventId, &Act>, registry: &Registry) {
    let name = lane
        .org
        .parse::<OrgId>()
        .ok()
        .and_then(|org| registry.org_name(&org).map(str::to_owned));
    let _ = match name {
        Some(name) => writeln!(out, "{}  {name}", lane.org),
        None => writeln!(out, "{}", lane.org),
    };
    if !lane.acts.is_empty() {
        let _ = writeln!(out, "  acts");
        let width = lane.acts.iter().map(|a| a.name.len()).max().unwrap_or(0);
        for act in &lane.acts {
            let _ = write!(
                out,
                "    {}  {:<width$}  log #{}",
                local(act.time),
                act.name,
                act.sequence
            );
            if let Some(p) = &act.provenance {
                let _ = write!(out, "  by {} (command {})", p.operator, p.command_id);
            }
            out.push('\n');
            if let Some(data) = data_line(&act.data) {
                let _ = writeln!(out, "      {data}");
            }
        }
    }
    if !lane.waits.is_empty() {
        let _ = writeln!(out, "  waits");
        for wait in &lane.waits {
            let _ = match wait.until {
                Some(until) => writeln!(
                    out,
                    "    {} → {}  {}",
                    local(wait.since),
                    local(until),
                    duration(wait.minutes)
                ),
                None => writeln!(
                    out,
                    "    {} → still waiting  {} so far",
                    local(wait.since),
                    duration(wait.minutes)
                ),
            };
        }
    }
    if !lane.deadlines.is_empty() {
        let _ = writeln!(out, "  deadlines");
        let steps: Vec<String> = lane.deadlines.iter().map(|d| step(&d.step)).collect();
        let width = steps.iter().map(String::len).max().unwrap_or(0);
        for (deadline, step) in lane.deadlines.iter().zip(&steps) {
            let due = deadline.due.map_or_else(
                || "not dated yet".to_owned(),
                |due| format!("due {}", local(due)),
            );
            let _ = write!(
                out,
                "    {step:<width$}  {due}  {}",
                deadline.outcome.as_str()
            );
            match (deadline.outcome, deadline.closed_at) {
                (_, Some(closed)) => {
                    let _ = write!(out, ", closed {}", local(closed));
                    let by = deadline.closed_by.as_ref().and_then(|id| acts.get(id));
                    if let Some(act) = by {
                        let _ = write!(out, " by {} (log #{})", act.name, act.sequence);
                    }
                }
                (Outcome::Overdue, None) => out.push_str(", still open"),
                _ => {}
            }
            out.push('\n');
        }
    }
    if !lane.findings.is_empty() {
        let _ = writeln!(out, "  findings");
        let width = lane
            .findings
            .iter()
            .map(|f| f.finding.as_str().len())
            .max()
            .unwrap_or(0);
        for mark in &lane.findings {
            let _ = write!(
                out,
                "    {}  {:<width$}",
                local(mark.recorded_at),
                mark.finding.as_str()
            );
            if let Some(s) = &mark.step {
                let _ = write!(out, "  {}", s.step);
            }
            if let Some(due) = mark.due {
                let _ = write!(out, ", due {}", local(due));
            }
            if let Some(minutes) = mark.waited_minutes {
                let _ = write!(out, ", waited {}", duration(minutes));
            }
            if let Some(other) = &mark.related_pathway {
                let _ = write!(out, ", other pathway {other}");
            }
            let _ = writeln!(out, "  log #{}", mark.sequence);
        }
    }
}

fn audit_text(events: &[AuditEvent], filter: &AuditFilter) -> String {
    if events.is_empty() {
        let mut scope = Vec::new();
        if let Some(p) = &filter.pathway {
            scope.push(format!("of pathway {p}"));
        }
        if let Some(v) = &filter.viewer {
            scope.push(format!("for {v}"));
        }
        return format!(
            "no replay {}recorded in the audit trail\n",
            scope.iter().map(|s| format!("{s} ")).collect::<String>()
        );
    }
    let header = [
        "sequence", "time", "pathway", "viewer", "operator", "purpose", "via", "outcome", "events",
    ];
    let rows: Vec<[String; 9]> = events
        .iter()
        .map(|e| {
            let r = &e.replayed;
            [
                e.sequence.to_string(),
                local(r.at),
                r.pathway.to_string(),
                r.viewer.to_string(),
                r.operator.to_string(),
                r.purpose.to_string(),
                r.via.as_str().to_owned(),
                if r.refused.is_some() {
                    "refused"
                } else {
                    "shown"
                }
                .to_owned(),
                r.events_shown.to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut put = |cells: &[&str], why: Option<&str>| {
        let mut line = String::new();
        for (cell, width) in cells.iter().zip(widths) {
            let _ = write!(line, "{cell:<width$}  ");
        }
        if let Some(why) = why {
            line.push_str(why);
        }
        let _ = writeln!(out, "{}", line.trim_end());
    };
    put(&header, Some("why refused"));
    for (row, event) in rows.iter().zip(events) {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        put(&cells, event.replayed.refused.as_deref());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn instants_read_in_italian_local_time_across_the_clock_change() {
        assert_eq!(
            local(datetime!(2026-03-05 09:00 UTC)),
            "Thu 2026-03-05 10:00 +01:00"
        );
        assert_eq!(
            local(datetime!(2026-03-30 09:00 UTC)),
            "Mon 2026-03-30 11:00 +02:00"
        );
    }

    #[test]
    fn durations_read_in_days_and_hours_or_hours_and_minutes() {
        assert_eq!(duration(40), "0 h 40 min");
        assert_eq!(duration(3 * 60), "3 h 0 min");
        assert_eq!(duration((3 * 24 + 3) * 60 + 59), "3 d 3 h");
        assert_eq!(duration(2 * 24 * 60), "2 d");
    }

    #[test]
    fn the_operator_is_the_one_named_else_a_valid_login_name() {
        let named: OperatorId = "mario.rossi".parse().unwrap();
        assert_eq!(
            operator(Some(named.clone()), Some("root".into())).unwrap(),
            named
        );
        assert_eq!(
            operator(None, Some("giulia".into())).unwrap().as_str(),
            "giulia"
        );
        for user in [None, Some(String::new()), Some("Mario Rossi".into())] {
            let error = operator(None, user).unwrap_err().to_string();
            assert!(error.contains("--operator"), "{error}");
        }
    }
}
