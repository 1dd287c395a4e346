//! A pathway's timeline drawn for the pathway page: an SVG with one horizontal lane per
//! organisation over a common time axis (acts as dots, waits as bars, the protocol's deadlines as
//! diamonds at their due time coloured by outcome, with the overrun of a breached one, findings as
//! warning triangles), and the same in tables, lane by lane, for reading, for screen readers and
//! for tests. Elements carry stable classes and data attributes: `data-lane="asst:705"`,
//! `class="deadline late"`, `class="finding"`.

use std::fmt::Write as _;

use raccordo_domain::calendar::{rome_date, rome_midnight, rome_time};
use raccordo_domain::ids::{OrgId, OrgKind};
use raccordo_domain::timeline::{Deadline, Lane, Mark, Outcome, Timeline};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use crate::html::{self, escape, time_tag};
use crate::{Console, labels};

const WIDTH: f64 = 1100.0;
/// The column with the lanes' names.
const NAMES: f64 = 200.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 8.0;
const LANE: f64 = 124.0;
const AXIS: f64 = 36.0;
/// Rough width of one character of an 11 px label.
const CHAR: f64 = 6.2;

/// How a lane is named: its organisation's name and id, or the kind of organisation only in the
/// aggregate view.
pub(crate) fn lane_title(console: &Console, lane: &str) -> (String, String) {
    if let Ok(org) = lane.parse::<OrgId>() {
        let name = console
            .registry
            .org_name(&org)
            .map_or_else(|| labels::org_kind(org.kind()).to_owned(), str::to_owned);
        return (name, lane.to_owned());
    }
    match OrgKind::ALL.into_iter().find(|k| k.as_str() == lane) {
        Some(kind) => (labels::org_kind(kind).to_owned(), "vista aggregata".into()),
        None => (lane.to_owned(), String::new()),
    }
}

/// An id for the page's anchors: `asst:705` is `asst-705`.
fn slug(lane: &str) -> String {
    lane.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The span of time the drawing covers, and where an instant falls on it.
struct Scale {
    start: OffsetDateTime,
    end: OffsetDateTime,
}

impl Scale {
    fn of(timeline: &Timeline) -> Self {
        let mut times = vec![timeline.opened_at, timeline.updated_at];
        for lane in &timeline.lanes {
            times.extend(lane.acts.iter().map(|a| a.time));
            for w in &lane.waits {
                times.push(w.since);
                times.push(w.until.unwrap_or(timeline.as_of));
            }
            for d in &lane.deadlines {
                times.push(d.since);
                times.extend(d.due);
                times.push(end_of(d, timeline.as_of));
            }
            times.extend(lane.findings.iter().map(|f| f.recorded_at));
        }
        let first = times.iter().copied().min().unwrap_or(timeline.opened_at);
        let last = times.iter().copied().max().unwrap_or(timeline.as_of);
        let span = (last - first).max(Duration::hours(1));
        let pad = span / 40;
        Self {
            start: first - pad,
            end: first + span + pad,
        }
    }

    fn x(&self, t: OffsetDateTime) -> f64 {
        let total = (self.end - self.start).as_seconds_f64();
        let at = (t - self.start).as_seconds_f64().clamp(0.0, total);
        NAMES + at / total * (WIDTH - NAMES - RIGHT)
    }

    /// The instants to mark on the axis, with their labels: whole hours or local midnights, no
    /// more than about ten.
    fn ticks(&self) -> Vec<(OffsetDateTime, String)> {
        let span = self.end - self.start;
        let hours = [1, 3, 6, 12];
        if let Some(step) = hours
            .into_iter()
            .map(Duration::hours)
            .find(|step| span / *step <= 10.0)
        {
            let first = self
                .start
                .replace_minute(0)
                .and_then(|t| t.replace_second(0));
            let first = first
                .and_then(|t| t.replace_nanosecond(0))
                .unwrap_or(self.start);
            let mut t = first + Duration::hours(1);
            let mut out = Vec::new();
            while t < self.end {
                let local = rome_time(t);
                if i64::from(local.hour()) % step.whole_hours() == 0 {
                    let label = if local.hour() == 0 {
                        day_month(t)
                    } else {
                        format!("{:02}:{:02}", local.hour(), local.minute())
                    };
                    out.push((t, label));
                }
                t += Duration::hours(1);
            }
            if let Some((t, label)) = out.first_mut() {
                *label = format!("{} {label}", day_month(*t));
            }
            return out;
        }
        let days = [1, 2, 7, 14, 30, 61, 91, 182, 365];
        let step = days
            .into_iter()
            .find(|d| span / Duration::days(*d) <= 10.0)
            .unwrap_or(730);
        let mut date = rome_date(self.start);
        let mut out = Vec::new();
        loop {
            date = date.next_day().unwrap_or(date);
            let midnight = rome_midnight(date);
            if midnight >= self.end {
                break;
            }
            let keep = match step {
                1 => true,
                2 => date.ordinal().is_multiple_of(2),
                7 | 14 => date.weekday() == time::Weekday::Monday,
                _ => date.day() == 1,
            };
            if keep {
                out.push((midnight, day_month(midnight)));
            }
        }
        if step == 14 {
            out = out.into_iter().step_by(2).collect();
        }
        out
    }
}

fn day_month(t: OffsetDateTime) -> String {
    let local = rome_time(t);
    format!("{:02}/{:02}", local.day(), u8::from(local.month()))
}

/// Where a deadline's line ends: when it was closed, or now while it is open.
fn end_of(d: &Deadline, as_of: OffsetDateTime) -> OffsetDateTime {
    d.closed_at.unwrap_or(as_of)
}

/// For labels in x order (their left and right ends), the first of `rows` rows where each fits
/// after the last label put there; `None` where none has room (the label is left out, its
/// element keeps its tooltip).
fn label_rows(spans: &[(f64, f64)], rows: usize) -> Vec<Option<usize>> {
    let mut order: Vec<usize> = (0..spans.len()).collect();
    order.sort_by(|a, b| spans[*a].0.total_cmp(&spans[*b].0));
    let mut ends = vec![f64::MIN; rows];
    let mut out = vec![None; spans.len()];
    for i in order {
        let (left, right) = spans[i];
        if let Some(row) = (0..rows).find(|r| ends[*r] + 4.0 <= left) {
            ends[row] = right;
            out[i] = Some(row);
        }
    }
    out
}

fn deadline_title(d: &Deadline) -> String {
    let mut title = format!(
        "{}: {} ({} v{}). Aperto il {}",
        labels::outcome(d.outcome),
        labels::step(&d.step.step),
        d.step.protocol,
        d.step.version,
        html::when(d.since)
    );
    match d.due {
        Some(due) => {
            let _ = write!(title, ", scadenza {}", html::when(due));
        }
        None => title.push_str(", senza scadenza per ora"),
    }
    if let Some(closed) = d.closed_at {
        let _ = write!(title, ", chiuso il {}", html::when(closed));
    }
    title
}

fn finding_title(f: &Mark) -> String {
    let mut title = format!(
        "Rilievo: {}, registrato il {}",
        labels::finding(f.finding),
        html::when(f.recorded_at)
    );
    if let Some(step) = &f.step {
        let _ = write!(title, "; passo {}", labels::step(&step.step));
    }
    if let Some(due) = f.due {
        let _ = write!(title, "; scadenza {}", html::when(due));
    }
    if let Some(minutes) = f.waited_minutes {
        let _ = write!(title, "; attesa {}", html::duration(minutes));
    }
    title
}

/// The timeline as an SVG drawing.
pub(crate) fn svg(console: &Console, timeline: &Timeline) -> String {
    let scale = Scale::of(timeline);
    let lanes = timeline.lanes.len().max(1) as f64;
    let height = TOP + lanes * LANE + AXIS;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timeline\" id=\"timeline\" \
         viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-labelledby=\"timeline-title\">\n\
         <title id=\"timeline-title\">Linea del tempo del percorso {}: una corsia per \
         organizzazione</title>",
        escape(timeline.pathway.as_str())
    );
    for (i, _) in timeline.lanes.iter().enumerate() {
        let y = TOP + i as f64 * LANE;
        let _ = writeln!(
            out,
            "<rect class=\"lane-bg{}\" x=\"0\" y=\"{y}\" width=\"{WIDTH}\" height=\"{LANE}\"/>",
            if i % 2 == 1 { " odd" } else { "" }
        );
    }
    let bottom = TOP + lanes * LANE;
    out.push_str("<g class=\"axis\">\n");
    let _ = writeln!(
        out,
        "<line class=\"axis-line\" x1=\"{NAMES}\" y1=\"{bottom}\" x2=\"{}\" y2=\"{bottom}\"/>",
        WIDTH - RIGHT
    );
    for (t, label) in scale.ticks() {
        let x = scale.x(t);
        let _ = writeln!(
            out,
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{bottom}\"/>\
             <text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\">{}</text>",
            bottom + 16.0,
            escape(&label)
        );
    }
    out.push_str("</g>\n");
    if timeline.as_of <= scale.end {
        let x = scale.x(timeline.as_of);
        let _ = writeln!(
            out,
            "<g class=\"now\"><line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{bottom}\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\">situazione al {}</text></g>",
            bottom + 30.0,
            escape(&html::when(timeline.as_of))
        );
    }
    for (i, lane) in timeline.lanes.iter().enumerate() {
        let y = TOP + i as f64 * LANE;
        lane_svg(&mut out, console, &scale, timeline, lane, y);
    }
    out.push_str("</svg>\n");
    out
}

fn lane_svg(
    out: &mut String,
    console: &Console,
    scale: &Scale,
    timeline: &Timeline,
    lane: &Lane,
    y: f64,
) {
    let (name, id) = lane_title(console, &lane.org);
    let short: String = if name.chars().count() > 28 {
        name.chars().take(27).chain(['…']).collect()
    } else {
        name.clone()
    };
    let _ = writeln!(
        out,
        "<g class=\"lane\" data-lane=\"{org}\" id=\"lane-{slug}\" transform=\"translate(0 {y})\">\n\
         <text class=\"lane-name\" x=\"10\" y=\"34\">{short}<title>{name}</title></text>\n\
         <text class=\"lane-id\" x=\"10\" y=\"52\">{id}</text>",
        org = escape(&lane.org),
        slug = slug(&lane.org),
        short = escape(&short),
        name = escape(&name),
        id = escape(&id),
    );
    for w in &lane.waits {
        let (x1, x2) = (scale.x(w.since), scale.x(w.until.unwrap_or(timeline.as_of)));
        let width = (x2 - x1).max(2.0);
        let open = if w.until.is_none() { " open" } else { "" };
        let text = format!("in attesa {}", html::duration(w.minutes));
        let _ = write!(
            out,
            "<rect class=\"wait{open}\" x=\"{x1:.1}\" y=\"30\" width=\"{width:.1}\" height=\"18\" rx=\"3\">\
             <title>In attesa di questa organizzazione dal {}{}: {}</title></rect>",
            html::when(w.since),
            w.until.map_or_else(
                || " (ancora in attesa)".to_owned(),
                |u| format!(" al {}", html::when(u))
            ),
            html::duration(w.minutes),
        );
        if width > text.len() as f64 * CHAR + 8.0 {
            let _ = write!(
                out,
                "<text class=\"wait-label\" x=\"{:.1}\" y=\"43\">{}</text>",
                x1 + 4.0,
                escape(&text)
            );
        }
        out.push('\n');
    }
    let acts: Vec<(f64, String)> = lane
        .acts
        .iter()
        .map(|a| (scale.x(a.time), labels::event(&a.name).to_owned()))
        .collect();
    let spans: Vec<(f64, f64)> = acts
        .iter()
        .map(|(x, label)| text_span(*x - 3.0, label))
        .collect();
    let rows = label_rows(&spans, 2);
    for (((act, (x, label)), row), (left, _)) in lane.acts.iter().zip(&acts).zip(rows).zip(&spans) {
        let _ = write!(
            out,
            "<g class=\"act\" data-event=\"{name}\" data-sequence=\"{seq}\">\
             <circle cx=\"{x:.1}\" cy=\"39\" r=\"6\"/>\
             <title>{label}, {when}</title>",
            name = escape(&act.name),
            seq = act.sequence,
            label = escape(label),
            when = html::when(act.time),
        );
        if let Some(row) = row {
            let _ = write!(
                out,
                "<text class=\"act-label\" x=\"{left:.1}\" y=\"{}\">{}</text>",
                62 + 12 * row,
                escape(label)
            );
        }
        out.push_str("</g>\n");
    }
    deadlines_svg(out, scale, timeline, lane);
    let mut last = f64::MIN;
    for f in &lane.findings {
        // Findings recorded together are set side by side rather than on top of each other.
        let x = scale.x(f.recorded_at).max(last + 12.0);
        last = x;
        let _ = writeln!(
            out,
            "<g class=\"finding\" data-finding=\"{kind}\" data-sequence=\"{seq}\">\
             <path d=\"M{x:.1} 6 l8 14 l-16 0 z\"/>\
             <text class=\"finding-mark\" x=\"{x:.1}\" y=\"18\">!</text>\
             <title>{title}</title></g>",
            kind = f.finding.as_str(),
            seq = f.sequence,
            title = escape(&finding_title(f)),
        );
    }
    out.push_str("</g>\n");
}

/// Where a label starting at `left` lies, moved left to end inside the drawing if it would not.
fn text_span(left: f64, label: &str) -> (f64, f64) {
    let width = label.chars().count() as f64 * CHAR;
    let left = left.min(WIDTH - 4.0 - width).max(NAMES);
    (left, left + width)
}

/// The protocol's deadlines of a lane, each on one of three rows: its window from the step's
/// opening to its due time, the overrun of a breached one (to its closing, or now), a diamond at
/// the due time in the outcome's colour, and the step's name after it.
fn deadlines_svg(out: &mut String, scale: &Scale, timeline: &Timeline, lane: &Lane) {
    let placed: Vec<(f64, f64, f64, (f64, f64))> = lane
        .deadlines
        .iter()
        .map(|d| {
            let start = scale.x(d.since);
            let mark = scale.x(d.due.unwrap_or(d.since));
            let end = scale.x(end_of(d, timeline.as_of)).max(mark);
            let label = labels::step(&d.step.step);
            let width = label.chars().count() as f64 * CHAR;
            // After the deadline's line, or before its diamond where the drawing ends too soon.
            let left = if end + 10.0 + width <= WIDTH - 4.0 {
                end + 10.0
            } else {
                (mark - 10.0 - width).max(NAMES)
            };
            (start, mark, end, (left, left + width))
        })
        .collect();
    let spans: Vec<(f64, f64)> = placed
        .iter()
        .map(|(start, _, end, (left, right))| (start.min(*left), end.max(*right)))
        .collect();
    let rows = label_rows(&spans, 3);
    for ((d, (start, mark, end, (left, _))), row) in lane.deadlines.iter().zip(&placed).zip(rows) {
        let outcome = d.outcome.as_str();
        let y = 84 + 13 * row.unwrap_or(2);
        let _ = write!(
            out,
            "<g class=\"deadline {outcome}{breach}\" data-step=\"{step}\" data-outcome=\"{outcome}\">\
             <title>{title}</title>",
            breach = if d.outcome.is_breach() { " breach" } else { "" },
            step = escape(&d.step.step),
            title = escape(&deadline_title(d)),
        );
        if d.due.is_some() {
            let _ = write!(
                out,
                "<line class=\"window\" x1=\"{start:.1}\" y1=\"{y}\" x2=\"{mark:.1}\" y2=\"{y}\"/>"
            );
            if d.outcome.is_breach() {
                let _ = write!(
                    out,
                    "<line class=\"overrun\" x1=\"{mark:.1}\" y1=\"{y}\" x2=\"{end:.1}\" y2=\"{y}\"/>"
                );
            }
        }
        let _ = write!(
            out,
            "<path d=\"M{mark:.1} {} l6 6 l-6 6 l-6 -6 z\"/>",
            y - 6
        );
        // Where the rows are full the name is left out: the tooltip and the table have it.
        if row.is_some() {
            let _ = write!(
                out,
                "<text class=\"deadline-label\" x=\"{left:.1}\" y=\"{}\">{}</text>",
                y + 4,
                escape(&labels::step(&d.step.step)),
            );
        }
        out.push_str("</g>\n");
    }
}

/// The legend under the drawing.
pub(crate) fn legend() -> String {
    let mut out = String::from("<ul class=\"legend\">\n");
    out.push_str("<li><span class=\"key act\"></span>atto di un'organizzazione</li>\n");
    out.push_str(
        "<li><span class=\"key wait\"></span>il percorso attende questa organizzazione</li>\n",
    );
    for outcome in [
        Outcome::Met,
        Outcome::Late,
        Outcome::Pending,
        Outcome::Overdue,
    ] {
        let _ = writeln!(
            out,
            "<li><span class=\"key deadline {}\"></span>{}</li>",
            outcome.as_str(),
            labels::outcome(outcome)
        );
    }
    out.push_str("<li><span class=\"key finding\"></span>rilievo del riconciliatore</li>\n</ul>\n");
    out
}

/// An event's data as a short list of fields.
fn details(data: &Value) -> String {
    let Value::Object(fields) = data else {
        return escape(&value_text(data));
    };
    if fields.is_empty() {
        return String::new();
    }
    let mut out = String::from("<dl class=\"data\">");
    for (name, value) in fields {
        let _ = write!(
            out,
            "<dt>{}</dt><dd>{}</dd>",
            escape(labels::field(name)),
            escape(&value_text(value))
        );
    }
    out.push_str("</dl>");
    out
}

fn value_text(value: &Value) -> String {
    match value {
        Value::Null => "—".into(),
        Value::Bool(true) => "sì".into(),
        Value::Bool(false) => "no".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string_text(s),
        Value::Array(items) if items.is_empty() => "nessuno".into(),
        Value::Array(items) => items.iter().map(value_text).collect::<Vec<_>>().join(", "),
        Value::Object(fields) => match (fields.get("org"), fields.get("role")) {
            (Some(Value::String(org)), Some(Value::String(role))) => {
                format!("{org} ({})", labels::value(role))
            }
            _ => fields
                .iter()
                .map(|(k, v)| format!("{}: {}", labels::field(k), value_text(v)))
                .collect::<Vec<_>>()
                .join("; "),
        },
    }
}

/// A date (`2026-03-09`) or an instant as Italians write them; an enumeration's value by its
/// Italian name; any other text as it is.
fn string_text(s: &str) -> String {
    let date = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(s, &date) {
        return format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year());
    }
    if let Ok(t) = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return html::when(t);
    }
    labels::value(s).to_owned()
}

/// The lanes as tables: what each organisation did, when the pathway waited on it, its
/// deadlines and the findings about it.
pub(crate) fn tables(console: &Console, timeline: &Timeline) -> String {
    let audit = timeline.purpose == raccordo_domain::timeline::Purpose::Audit;
    let mut out = String::new();
    for lane in &timeline.lanes {
        let (name, id) = lane_title(console, &lane.org);
        let _ = writeln!(
            out,
            "<section class=\"lane-detail\" data-lane=\"{org}\" id=\"corsia-{slug}\">\n\
             <h3>{name} <small>{id}</small></h3>",
            org = escape(&lane.org),
            slug = slug(&lane.org),
            name = escape(&name),
            id = escape(&id),
        );
        acts_table(&mut out, lane, audit);
        waits_table(&mut out, lane);
        deadlines_table(&mut out, lane);
        findings_table(&mut out, lane);
        out.push_str("</section>\n");
    }
    out
}

fn acts_table(out: &mut String, lane: &Lane, audit: bool) {
    if lane.acts.is_empty() {
        out.push_str("<p class=\"none\">Nessun atto di questa organizzazione.</p>\n");
        return;
    }
    let _ = write!(
        out,
        "<table class=\"acts\"><caption>Atti ({})</caption>\n<thead><tr><th>Quando</th>\
         <th>Evento</th><th>Dettagli</th>{}</tr></thead>\n<tbody>\n",
        lane.acts.len(),
        if audit {
            "<th>Operatore</th><th>Comando</th><th>Posizione nel registro</th>"
        } else {
            ""
        }
    );
    for a in &lane.acts {
        let _ = write!(
            out,
            "<tr class=\"act\" data-event=\"{name}\" data-sequence=\"{seq}\"><td>{when}</td>\
             <td>{label}</td><td>{details}</td>",
            name = escape(&a.name),
            seq = a.sequence,
            when = time_tag(a.time),
            label = escape(labels::event(&a.name)),
            details = details(&a.data),
        );
        if audit {
            let (operator, command) = a
                .provenance
                .as_ref()
                .map_or(("", ""), |p| (p.operator.as_str(), p.command_id.as_str()));
            let _ = write!(
                out,
                "<td class=\"provenance\">{}</td><td class=\"provenance\"><code>{}</code></td><td class=\"num\">{}</td>",
                escape(operator),
                escape(command),
                a.sequence
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

fn waits_table(out: &mut String, lane: &Lane) {
    if lane.waits.is_empty() {
        out.push_str(
            "<p class=\"none\">Il percorso non ha mai atteso questa organizzazione.</p>\n",
        );
        return;
    }
    out.push_str(
        "<table class=\"waits\"><caption>In attesa di questa organizzazione</caption>\n\
         <thead><tr><th>Dal</th><th>Al</th><th>Durata</th></tr></thead>\n<tbody>\n",
    );
    for w in &lane.waits {
        let _ = writeln!(
            out,
            "<tr class=\"wait{}\"><td>{}</td><td>{}</td><td>{}</td></tr>",
            if w.until.is_none() { " open" } else { "" },
            time_tag(w.since),
            w.until
                .map_or_else(|| "ancora in attesa".to_owned(), time_tag),
            html::duration(w.minutes)
        );
    }
    out.push_str("</tbody></table>\n");
}

fn deadlines_table(out: &mut String, lane: &Lane) {
    if lane.deadlines.is_empty() {
        out.push_str(
            "<p class=\"none\">Nessuna scadenza del protocollo per questa organizzazione.</p>\n",
        );
        return;
    }
    out.push_str(
        "<table class=\"deadlines\"><caption>Scadenze del protocollo</caption>\n<thead><tr>\
         <th>Passo</th><th>Protocollo</th><th>Aperto il</th><th>Scadenza</th><th>Chiuso il</th>\
         <th>Esito</th></tr></thead>\n<tbody>\n",
    );
    for d in &lane.deadlines {
        let outcome = d.outcome.as_str();
        let _ = writeln!(
            out,
            "<tr class=\"deadline {outcome}{breach}\" data-step=\"{step}\" data-outcome=\"{outcome}\">\
             <td title=\"{step}\">{step_label}</td><td>{protocol} v{version}</td><td>{since}</td>\
             <td>{due}</td><td>{closed}</td><td class=\"outcome\">{label}</td></tr>",
            breach = if d.outcome.is_breach() { " breach" } else { "" },
            step = escape(&d.step.step),
            step_label = escape(&labels::step(&d.step.step)),
            protocol = escape(&d.step.protocol),
            version = d.step.version,
            since = time_tag(d.since),
            due = d.due.map_or_else(|| "—".to_owned(), time_tag),
            closed = d.closed_at.map_or_else(|| "aperto".to_owned(), time_tag),
            label = labels::outcome(d.outcome),
        );
    }
    out.push_str("</tbody></table>\n");
}

fn findings_table(out: &mut String, lane: &Lane) {
    if lane.findings.is_empty() {
        out.push_str("<p class=\"none\">Nessun rilievo su questa organizzazione.</p>\n");
        return;
    }
    out.push_str(
        "<table class=\"findings\"><caption>Rilievi</caption>\n<thead><tr><th>Registrato il</th>\
         <th>Rilievo</th><th>Passo</th><th>Scadenza</th><th>Attesa</th><th>Altro percorso</th>\
         </tr></thead>\n<tbody>\n",
    );
    for f in &lane.findings {
        let _ = writeln!(
            out,
            "<tr class=\"finding\" data-finding=\"{kind}\" data-sequence=\"{seq}\"><td>{when}</td>\
             <td>{label}</td><td>{step}</td><td>{due}</td><td>{waited}</td><td>{related}</td></tr>",
            kind = f.finding.as_str(),
            seq = f.sequence,
            when = time_tag(f.recorded_at),
            label = labels::finding(f.finding),
            step = f
                .step
                .as_ref()
                .map_or_else(|| "—".to_owned(), |s| escape(&labels::step(&s.step))),
            due = f.due.map_or_else(|| "—".to_owned(), time_tag),
            waited = f
                .waited_minutes
                .map_or_else(|| "—".to_owned(), html::duration),
            related = f.related_pathway.as_ref().map_or_else(
                || "—".to_owned(),
                |p| format!("<a href=\"/percorsi/{0}\">{0}</a>", escape(p.as_str()))
            ),
        );
    }
    out.push_str("</tbody></table>\n");
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn labels_take_the_first_row_with_room_or_none() {
        let spans = [(0.0, 50.0), (20.0, 60.0), (30.0, 80.0), (100.0, 120.0)];
        assert_eq!(label_rows(&spans, 2), [Some(0), Some(1), None, Some(0)]);
    }

    #[test]
    fn ticks_fall_on_local_midnights_over_days_and_on_hours_within_one() {
        let scale = Scale {
            start: datetime!(2026-03-02 09:00 UTC),
            end: datetime!(2026-03-08 09:00 UTC),
        };
        let ticks = scale.ticks();
        assert_eq!(ticks.len(), 6);
        assert_eq!(ticks[0].0, datetime!(2026-03-03 00:00 +01:00));
        assert_eq!(ticks[0].1, "03/03");
        let scale = Scale {
            start: datetime!(2026-07-01 06:10 UTC),
            end: datetime!(2026-07-01 11:00 UTC),
        };
        let ticks = scale.ticks();
        assert_eq!(ticks[0].1, "01/07 09:00");
        assert_eq!(ticks.len(), 4);
        assert!(scale.x(scale.start) >= NAMES && scale.x(scale.end) <= WIDTH - RIGHT);
    }

    #[test]
    fn data_reads_in_italian() {
        let data = serde_json::json!({
            "expected_discharge": "2026-03-09",
            "needs": ["sad", "c_dom"],
            "lives_alone": true,
            "participants": [{"org": "comune:magenta", "role": "social_worker"}],
        });
        let text = details(&data);
        assert!(
            text.contains("<dt>Dimissione prevista</dt><dd>09/03/2026</dd>"),
            "{text}"
        );
        assert!(text.contains("<dd>SAD, C-DOM</dd>"), "{text}");
        assert!(text.contains("<dd>sì</dd>"), "{text}");
        assert!(
            text.contains("comune:magenta (assistente sociale)"),
            "{text}"
        );
    }
}
