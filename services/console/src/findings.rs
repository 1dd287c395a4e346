//! `GET /rilievi?tipo=<finding kind>`: the reconciler's findings on the caller's pathways, as its
//! own projection holds them (finding events reach every party of a pathway), newest first, with
//! how many of each kind and a link to each pathway. An ATS holds them in its aggregate view:
//! without the related pathway.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use raccordo_domain::ids::{PathwayId, PathwayKind};
use raccordo_domain::pathway::finding::{Finding, FindingKind};
use raccordo_projections::{ListFilter, ProjectionStore, StoreError};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::auth::Caller;
use crate::html::{self, Section, escape, time_tag};
use crate::{Console, labels};

/// Findings shown on one page, the newest.
const SHOWN: usize = 500;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct FindingsQuery {
    #[serde(default)]
    tipo: String,
}

/// One finding as the caller holds it.
struct Held {
    time: OffsetDateTime,
    sequence: u64,
    pathway: PathwayId,
    kind: PathwayKind,
    finding: Finding,
}

/// Every finding event in the caller's projection, newest first.
fn held(store: &dyn ProjectionStore) -> Result<Vec<Held>, StoreError> {
    let mut found = Vec::new();
    for summary in store.list(&ListFilter::default())? {
        for entry in store.history(&summary.id)? {
            if !entry.event_type.ends_with(".finding.v1") {
                continue;
            }
            match serde_json::from_value::<Finding>(entry.body) {
                Ok(finding) => found.push(Held {
                    time: entry.time,
                    sequence: entry.source_sequence,
                    pathway: summary.id.clone(),
                    kind: summary.kind,
                    finding,
                }),
                Err(e) => tracing::warn!(
                    pathway = %summary.id, event = %entry.event_id, error = %e,
                    "a finding in a projection does not read as one; left out of the console"
                ),
            }
        }
    }
    found.sort_by_key(|h| std::cmp::Reverse((h.time, h.sequence)));
    Ok(found)
}

pub(crate) async fn page(
    State(console): State<Console>,
    caller: Caller,
    Query(query): Query<FindingsQuery>,
) -> Response {
    let viewer = caller.viewer(&console);
    let store = match console.store_of(&caller) {
        Ok(store) => store,
        Err(halt) => return halt.into_response(),
    };
    let kind = match query.tipo.trim() {
        "" => None,
        asked => match FindingKind::ALL.into_iter().find(|k| k.as_str() == asked) {
            Some(kind) => Some(kind),
            None => {
                return html::message(
                    StatusCode::BAD_REQUEST,
                    Some(&viewer),
                    "Tipo di rilievo non valido",
                    &format!("«{asked}» non è un tipo di rilievo."),
                );
            }
        },
    };
    let all = match held(store.as_ref()) {
        Ok(all) => all,
        Err(e) => return console.store_failed(&caller, &e),
    };
    let mut counts = BTreeMap::<FindingKind, usize>::new();
    for h in &all {
        *counts.entry(h.finding.finding).or_default() += 1;
    }
    let shown: Vec<&Held> = all
        .iter()
        .filter(|h| kind.is_none_or(|k| h.finding.finding == k))
        .collect();

    let mut body = format!(
        "<h1>Rilievi</h1>\n<p class=\"hint\">I rilievi del riconciliatore sui percorsi di {}, \
         dal più recente: scadenze del protocollo superate, richieste mai confermate, possibili \
         duplicati e gli altri controlli. Ogni rilievo è un evento del percorso.</p>\n\
         <nav class=\"filters\" id=\"tipi-di-rilievo\">\n",
        escape(&caller.actor.org.to_string())
    );
    let _ = writeln!(
        body,
        "<a href=\"/rilievi\"{}>Tutti <span class=\"count\">{}</span></a>",
        if kind.is_none() {
            " aria-current=\"page\""
        } else {
            ""
        },
        all.len()
    );
    for (k, n) in &counts {
        let _ = writeln!(
            body,
            "<a href=\"/rilievi?tipo={code}\" data-finding=\"{code}\"{current}>{label} <span class=\"count\">{n}</span></a>",
            code = k.as_str(),
            current = if kind == Some(*k) {
                " aria-current=\"page\""
            } else {
                ""
            },
            label = labels::finding(*k),
        );
    }
    body.push_str("</nav>\n");
    if shown.is_empty() {
        body.push_str("<p class=\"empty\" id=\"rilievi\">Nessun rilievo.</p>\n");
    } else {
        body.push_str(
            "<table class=\"findings-list\" id=\"rilievi\">\n<thead><tr><th>Registrato il</th>\
             <th>Rilievo</th><th>Percorso</th><th>Tipo</th><th>Passo</th><th>Riguarda</th>\
             <th>In attesa dal</th><th>Scadenza</th><th>Attesa</th><th>Altro percorso</th></tr></thead>\n<tbody>\n",
        );
        for h in shown.iter().take(SHOWN) {
            row(&mut body, h);
        }
        body.push_str("</tbody>\n</table>\n");
        if shown.len() > SHOWN {
            let _ = writeln!(
                body,
                "<p class=\"hint\">Mostrati i {SHOWN} più recenti di {}: scegliete un tipo per vedere gli altri.</p>",
                shown.len()
            );
        }
    }
    html::respond(
        StatusCode::OK,
        html::page("Rilievi", Some(&viewer), Section::Findings, &body),
    )
}

fn row(out: &mut String, h: &Held) {
    let f = &h.finding;
    let dash = || "—".to_owned();
    let _ = writeln!(
        out,
        "<tr class=\"finding\" data-finding=\"{code}\" data-pathway=\"{pathway}\"><td>{when}</td>\
         <td>{label}</td><td><a href=\"/percorsi/{pathway}\">{pathway}</a></td><td>{kind}</td>\
         <td>{step}</td><td>{party}</td><td>{since}</td><td>{due}</td><td class=\"nowrap\">{waited}</td><td>{related}</td></tr>",
        code = f.finding.as_str(),
        pathway = escape(h.pathway.as_str()),
        when = time_tag(h.time),
        label = labels::finding(f.finding),
        kind = labels::kind(h.kind),
        step = f
            .step
            .as_ref()
            .map_or_else(dash, |s| escape(&labels::step(&s.step))),
        party = f
            .party
            .as_ref()
            .map_or_else(dash, |p| escape(&p.to_string())),
        since = f.since.map_or_else(dash, time_tag),
        due = f.due.map_or_else(dash, time_tag),
        waited = f.waited_minutes.map_or_else(dash, html::duration),
        related = f.related_pathway.as_ref().map_or_else(dash, |p| {
            format!("<a href=\"/percorsi/{0}\">{0}</a>", escape(p.as_str()))
        }),
    );
}
