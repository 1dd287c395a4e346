//! `GET /indicatori?ambito=<code>&trimestre=<2026Q1>`: an Ambito's LEPS indicators for a quarter,
//! computed as its ATS monitors them (`raccordo kpi` computes the same, with the same reader:
//! [`Monitors`]), as bar charts against their targets and as a table.
//!
//! Who sees which Ambito: see [`Console::ambiti_of`]. The default Ambito is the first of the
//! caller's; the default quarter is the last one in which a pathway of the caller's in that Ambito
//! changed (the current quarter when there is none).
//!
//! [`Monitors`]: raccordo_reconciler::indicators::Monitors

use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use raccordo_domain::calendar::rome_date;
use raccordo_domain::ids::{AmbitoCode, OrgId};
use raccordo_domain::kpi::{Indicator, Indicators, Measure, Quarter, Target};
use raccordo_projections::ListFilter;
use serde::Deserialize;

use crate::auth::Caller;
use crate::html::{self, Section, escape};
use crate::{Console, Halt, labels};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct IndicatorsQuery {
    #[serde(default)]
    ambito: String,
    #[serde(default)]
    trimestre: String,
}

pub(crate) async fn page(
    State(console): State<Console>,
    caller: Caller,
    Query(query): Query<IndicatorsQuery>,
) -> Response {
    let viewer = caller.viewer(&console);
    let ambiti = match console.ambiti_of(&caller) {
        Ok(ambiti) => ambiti,
        Err(halt) => return halt.into_response(),
    };
    let Some(first) = ambiti.first() else {
        return html::message(
            StatusCode::OK,
            Some(&viewer),
            "Indicatori",
            &format!(
                "{} non ha ancora percorsi in nessun Ambito: gli indicatori di un Ambito si vedono \
                 dall'ATS che lo monitora e dalle organizzazioni che vi hanno percorsi.",
                caller.actor.org
            ),
        );
    };
    let ambito = match query.ambito.trim() {
        "" => first.clone(),
        asked => match asked.parse::<AmbitoCode>() {
            Ok(code) if ambiti.contains(&code) => code,
            _ => {
                return html::message(
                    StatusCode::NOT_FOUND,
                    Some(&viewer),
                    "Ambito non disponibile",
                    &format!(
                        "Gli indicatori dell'Ambito «{asked}» non sono tra quelli che {} può vedere.",
                        caller.actor.org
                    ),
                );
            }
        },
    };
    let Some(ats) = console.registry.ambito(&ambito).map(|a| a.ats.clone()) else {
        return html::message(
            StatusCode::NOT_FOUND,
            Some(&viewer),
            "Ambito non disponibile",
            &format!("L'Ambito {ambito} non è nel registro territoriale."),
        );
    };
    let now = console.clock.now();
    let (first_quarter, last_quarter) = match quarters_held(&console, &caller, &ambito) {
        Ok(range) => range,
        Err(halt) => return halt.into_response(),
    };
    let current = Quarter::of(rome_date(now));
    let quarter = match query.trimestre.trim() {
        "" => last_quarter.unwrap_or(current),
        asked => match asked.parse::<Quarter>() {
            Ok(q) => q,
            Err(e) => {
                return html::message(
                    StatusCode::BAD_REQUEST,
                    Some(&viewer),
                    "Trimestre non valido",
                    &format!(
                        "«{asked}» non è un trimestre: scrivete l'anno e il trimestre, come 2026Q1 ({e})."
                    ),
                );
            }
        },
    };

    let ats_org = OrgId::Ats(ats.clone());
    let (indicators, events_for_ats, events_read) = {
        let mut monitors = console.monitors.lock().await;
        let read = async {
            let last = console.log.last_sequence().await?;
            monitors
                .catch_up(&console.log, &console.registry, last, |_| {})
                .await
        };
        if let Err(error) = read.await {
            *monitors = raccordo_reconciler::indicators::Monitors::all();
            tracing::error!(%error, "the console could not read the log for the indicators");
            return html::message(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(&viewer),
                "Indicatori non disponibili",
                &format!("Il registro degli eventi non si è potuto leggere ora: {error}"),
            );
        }
        let of_ats = monitors.of(&ats_org);
        let indicators = of_ats.map_or_else(
            || raccordo_domain::kpi::Monitor::default().indicators(&ambito, quarter),
            |m| m.monitor.indicators(&ambito, quarter),
        );
        (
            indicators,
            of_ats.map_or(0, |m| m.events),
            monitors.events(),
        )
    };

    let mut body = format!(
        "<h1>Indicatori LEPS</h1>\n<p class=\"hint\">Calcolati dagli eventi come li riceve \
         {ats_name} ({ats_org}), che monitora l'Ambito, nella vista aggregata: nessun dato \
         personale. Gli stessi di <code>raccordo kpi</code>; i trimestri sono quelli del \
         calendario italiano.</p>\n",
        ats_name = escape(console.registry.org_name(&ats_org).unwrap_or("")),
    );
    body.push_str(&form(
        &console,
        &ambiti,
        &ambito,
        quarter,
        first_quarter,
        current,
    ));
    let _ = writeln!(
        body,
        "<section id=\"indicatori\" data-ambito=\"{ambito}\" data-quarter=\"{quarter}\">\n\
         <h2>{name}, {quarter_label}</h2>",
        name = escape(&console.ambito_name(&ambito)),
        quarter_label = quarter_label(quarter),
    );
    body.push_str(&charts(&indicators));
    body.push_str(&table(&indicators));
    let _ = writeln!(
        body,
        "<p class=\"hint\">Eventi letti dal registro: {}; ricevuti dall'ATS: {}. \
         n/d: nulla su cui calcolare (mai 0%).</p>\n</section>",
        labels::thousands(events_read),
        labels::thousands(events_for_ats)
    );
    html::respond(
        StatusCode::OK,
        html::page("Indicatori", Some(&viewer), Section::Indicators, &body),
    )
}

/// The first and last quarter in which a pathway of the caller's in `ambito` opened or changed.
fn quarters_held(
    console: &Console,
    caller: &Caller,
    ambito: &AmbitoCode,
) -> Result<(Option<Quarter>, Option<Quarter>), Halt> {
    let store = console.store_of(caller)?;
    let filter = ListFilter {
        ambito: Some(ambito.clone()),
        ..ListFilter::default()
    };
    let held = store
        .list(&filter)
        .map_err(|e| Halt::from(console.store_failed(caller, &e)))?;
    let quarter = |t| Quarter::of(rome_date(t));
    Ok((
        held.iter().map(|s| s.opened_at).min().map(quarter),
        held.iter().map(|s| s.updated_at).max().map(quarter),
    ))
}

fn quarter_label(q: Quarter) -> String {
    let months = [
        "gennaio-marzo",
        "aprile-giugno",
        "luglio-settembre",
        "ottobre-dicembre",
    ];
    format!(
        "{} trimestre {} ({})",
        ["primo", "secondo", "terzo", "quarto"][usize::from(q.number() - 1)],
        q.year(),
        months[usize::from(q.number() - 1)]
    )
}

fn next(q: Quarter) -> Quarter {
    if q.number() == 4 {
        Quarter::new(q.year() + 1, 1).unwrap_or(q)
    } else {
        Quarter::new(q.year(), q.number() + 1).unwrap_or(q)
    }
}

fn form(
    console: &Console,
    ambiti: &[AmbitoCode],
    ambito: &AmbitoCode,
    quarter: Quarter,
    first: Option<Quarter>,
    current: Quarter,
) -> String {
    let mut out = String::from(
        "<form method=\"get\" action=\"/indicatori\" class=\"search\" id=\"scelta\">\n<label>Ambito <select name=\"ambito\">\n",
    );
    for code in ambiti {
        let _ = writeln!(
            out,
            "<option value=\"{code}\"{}>{}</option>",
            if code == ambito { " selected" } else { "" },
            escape(&console.ambito_name(code))
        );
    }
    out.push_str("</select></label>\n<label>Trimestre <select name=\"trimestre\">\n");
    let from = first.unwrap_or(current).min(quarter).min(current);
    let to = current.max(quarter);
    let mut options = Vec::new();
    let mut q = from;
    while q <= to && options.len() < 60 {
        options.push(q);
        q = next(q);
    }
    for q in options.iter().rev() {
        let _ = writeln!(
            out,
            "<option value=\"{q}\"{}>{q}</option>",
            if *q == quarter { " selected" } else { "" }
        );
    }
    out.push_str("</select></label>\n<button type=\"submit\">Mostra</button>\n</form>\n");
    out
}

/// Whether a measure meets a target it can be checked against.
fn meets(measure: Measure, target: Option<Target>) -> Option<bool> {
    match (target?, measure.value()?) {
        (Target::AtLeastPercent(p), value) => Some(value >= f64::from(p)),
        _ => None,
    }
}

fn value_text(measure: Measure) -> String {
    match (measure, measure.value()) {
        (_, None) => "n/d".into(),
        (Measure::Share { .. }, Some(v)) => format!("{v:.1}%").replace('.', ","),
        (Measure::MeanDays { .. }, Some(v)) => format!("{v:.1}").replace('.', ","),
        (Measure::Count(n), _) => labels::thousands(n),
    }
}

const CHART_WIDTH: f64 = 760.0;
const BAR_LABELS: f64 = 230.0;
const BAR_ROW: f64 = 34.0;

/// One horizontal bar chart: each bar scaled to `max`, with a target line where there is one.
fn bar_chart(
    id: &str,
    title: &str,
    rows: &[(Indicator, Measure, Option<f64>, Option<bool>)],
    max: f64,
) -> String {
    let height = 16.0 + rows.len() as f64 * BAR_ROW + 8.0;
    let plot = CHART_WIDTH - BAR_LABELS - 70.0;
    let x = |v: f64| BAR_LABELS + (v / max).clamp(0.0, 1.0) * plot;
    let mut out = format!(
        "<figure class=\"chart\" id=\"{id}\">\n<figcaption>{title}</figcaption>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {CHART_WIDTH} {height}\" role=\"img\" \
         aria-label=\"{title}\">\n"
    );
    for (i, (indicator, measure, target, met)) in rows.iter().enumerate() {
        let y = 12.0 + i as f64 * BAR_ROW;
        let class = match met {
            Some(true) => "bar met",
            Some(false) => "bar below",
            None => "bar",
        };
        let _ = write!(
            out,
            "<g class=\"indicator\" data-indicator=\"{id}\">\
             <text class=\"bar-label\" x=\"{lx}\" y=\"{ty:.1}\">{label}</text>\
             <rect class=\"bar-track\" x=\"{BAR_LABELS}\" y=\"{y:.1}\" width=\"{plot:.1}\" height=\"20\"/>",
            id = indicator.id(),
            lx = BAR_LABELS - 8.0,
            ty = y + 14.0,
            label = escape(labels::indicator_short(*indicator)),
        );
        match measure.value() {
            Some(v) => {
                let _ = write!(
                    out,
                    "<rect class=\"{class}\" x=\"{BAR_LABELS}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"20\">\
                     <title>{full}: {text}</title></rect>\
                     <text class=\"bar-value\" x=\"{vx:.1}\" y=\"{ty:.1}\">{text}</text>",
                    w = (x(v) - BAR_LABELS).max(1.0),
                    full = escape(labels::indicator(*indicator)),
                    text = value_text(*measure),
                    vx = x(v) + 6.0,
                    ty = y + 14.0,
                );
            }
            None => {
                let _ = write!(
                    out,
                    "<text class=\"bar-value none\" x=\"{:.1}\" y=\"{:.1}\">n/d</text>",
                    BAR_LABELS + 6.0,
                    y + 14.0
                );
            }
        }
        if let Some(t) = target {
            let tx = x(*t);
            let _ = write!(
                out,
                "<line class=\"target\" x1=\"{tx:.1}\" y1=\"{:.1}\" x2=\"{tx:.1}\" y2=\"{:.1}\">\
                 <title>obiettivo {t}%</title></line>",
                y - 4.0,
                y + 24.0
            );
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n</figure>\n");
    out
}

fn charts(indicators: &Indicators) -> String {
    let year = indicators.quarter.year();
    let row = |i: Indicator| {
        let measure = indicators.get(i);
        let target = match i.target(year) {
            Some(Target::AtLeastPercent(p)) => Some(f64::from(p)),
            _ => None,
        };
        (i, measure, target, meets(measure, i.target(year)))
    };
    let shares: Vec<_> = [
        Indicator::SocialWorkerPresent,
        Indicator::PlansPerAssessment,
        Indicator::ReceivedBeforeDischarge,
        Indicator::SadAfterDischarge,
    ]
    .into_iter()
    .map(row)
    .collect();
    let waits: Vec<_> = [Indicator::WaitHome, Indicator::WaitResidential]
        .into_iter()
        .map(row)
        .collect();
    let counts: Vec<_> = [
        Indicator::DischargesInRaccordo,
        Indicator::FamilyCentreAccesses,
        Indicator::FamilyCentreEnrolments,
    ]
    .into_iter()
    .map(row)
    .collect();
    let max_of = |rows: &[(Indicator, Measure, Option<f64>, Option<bool>)]| {
        rows.iter()
            .filter_map(|r| r.1.value())
            .fold(1.0_f64, f64::max)
            * 1.1
    };
    let mut out = String::from("<div class=\"charts\">\n");
    out.push_str(&bar_chart(
        "grafico-quote",
        "Quote (%) e obiettivi LEPS dell'anno (linea)",
        &shares,
        100.0,
    ));
    out.push_str(&bar_chart(
        "grafico-attese",
        "Attesa media per la dimissione protetta (giorni): deve calare ogni anno",
        &waits,
        max_of(&waits),
    ));
    out.push_str(&bar_chart(
        "grafico-conteggi",
        "Conteggi del trimestre",
        &counts,
        max_of(&counts),
    ));
    out.push_str("</div>\n");
    out
}

fn table(indicators: &Indicators) -> String {
    let mut out = format!(
        "<table class=\"indicators\" id=\"tabella-indicatori\">\n<thead><tr><th>Indicatore</th>\
         <th>Valore</th><th>Numeratore / denominatore</th><th>Obiettivo {}</th><th>Esito</th></tr></thead>\n<tbody>\n",
        indicators.quarter.year()
    );
    for (indicator, measure, target) in indicators.lines() {
        let fraction = measure
            .fraction()
            .map_or_else(|| "—".to_owned(), |(n, d)| format!("{n} / {d}"));
        let (class, verdict) = match meets(measure, target) {
            Some(true) => ("met", "raggiunto"),
            Some(false) => ("below", "non raggiunto"),
            None => ("", "—"),
        };
        let _ = writeln!(
            out,
            "<tr class=\"indicator {class}\" data-indicator=\"{id}\"><td>{label}</td>\
             <td class=\"num\">{value}</td><td class=\"num\">{fraction}</td><td>{target}</td><td>{verdict}</td></tr>",
            id = indicator.id(),
            label = escape(labels::indicator(indicator)),
            value = value_text(measure),
            target = target.map_or_else(|| "—".to_owned(), labels::target),
        );
    }
    out.push_str("</tbody>\n</table>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_the_italian_way_and_targets_are_checked() {
        let share = Measure::Share {
            numerator: 70,
            denominator: 84,
        };
        assert_eq!(value_text(share), "83,3%");
        assert_eq!(
            value_text(Measure::Share {
                numerator: 0,
                denominator: 0
            }),
            "n/d"
        );
        assert_eq!(value_text(Measure::Count(11_000)), "11.000");
        assert_eq!(meets(share, Some(Target::AtLeastPercent(75))), Some(true));
        assert_eq!(meets(share, Some(Target::AtLeastPercent(100))), Some(false));
        assert_eq!(meets(share, Some(Target::Falling)), None);
    }

    #[test]
    fn quarters_follow_each_other() {
        let q: Quarter = "2026Q4".parse().unwrap();
        assert_eq!(next(q).to_string(), "2027Q1");
        assert_eq!(
            quarter_label("2026Q1".parse().unwrap()),
            "primo trimestre 2026 (gennaio-marzo)"
        );
    }
}
