//! `GET /percorsi`: the caller's pathways, from its own projection, newest first, filtered by
//! kind, status, Ambito and "waiting on us", 50 to a page; or straight to one pathway by its id.

use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use raccordo_domain::ids::{AmbitoCode, OrgId, PathwayId, PathwayKind};
use raccordo_domain::pathway::statuses;
use raccordo_projections::{ListCursor, ListFilter, PathwaySummary};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::auth::Caller;
use crate::html::{self, Section, escape, time_tag, url_encode};
use crate::{Console, labels};

/// Pathways on one page.
const PAGE: usize = 50;

/// The search form's fields, as the address carries them.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SearchQuery {
    #[serde(default)]
    id: String,
    #[serde(default)]
    tipo: String,
    #[serde(default)]
    stato: String,
    #[serde(default)]
    ambito: String,
    #[serde(default)]
    in_attesa: String,
    /// Where the previous page ended: `<updated_at in ns>~<pathway id>`.
    #[serde(default)]
    dopo: String,
}

/// The search, checked: what to list, or what is wrong with the form.
struct Search {
    filter: ListFilter,
    problems: Vec<String>,
}

fn parse(query: &SearchQuery) -> Search {
    let mut problems = Vec::new();
    let kind = match query.tipo.trim() {
        "" => None,
        token => PathwayKind::from_subject_token(token).or_else(|| {
            problems.push(format!("«{token}» non è un tipo di percorso."));
            None
        }),
    };
    let status = match query.stato.trim() {
        "" => None,
        status => {
            let kinds: Vec<PathwayKind> = kind.map_or(PathwayKind::ALL.to_vec(), |k| vec![k]);
            if !kinds.iter().any(|k| statuses(*k).contains(&status)) {
                problems.push(format!(
                    "«{}» non è uno stato di {}.",
                    labels::status(status),
                    kind.map_or("nessun tipo di percorso", labels::kind)
                ));
            }
            Some(status.to_owned())
        }
    };
    let ambito = match query.ambito.trim() {
        "" => None,
        code => code
            .parse::<AmbitoCode>()
            .map_err(|_| {
                problems.push(format!(
                    "«{code}» non è il codice di un Ambito (es. 50032)."
                ))
            })
            .ok(),
    };
    let after = match query.dopo.trim() {
        "" => None,
        cursor => {
            let parsed = cursor.split_once('~').and_then(|(nanos, id)| {
                Some(ListCursor {
                    updated_at: OffsetDateTime::from_unix_timestamp_nanos(nanos.parse().ok()?)
                        .ok()?,
                    id: id.parse().ok()?,
                })
            });
            if parsed.is_none() {
                problems.push(
                    "La posizione della pagina non è valida: ricominciate la ricerca.".into(),
                );
            }
            parsed
        }
    };
    Search {
        filter: ListFilter {
            kind,
            status,
            ambito,
            waiting_on_me: !query.in_attesa.trim().is_empty(),
            limit: Some(PAGE + 1),
            after,
        },
        problems,
    }
}

fn cursor_of(summary: &PathwaySummary) -> String {
    format!(
        "{}~{}",
        summary.updated_at.unix_timestamp_nanos(),
        summary.id
    )
}

pub(crate) async fn page(
    State(console): State<Console>,
    caller: Caller,
    Query(query): Query<SearchQuery>,
) -> Response {
    let store = match console.store_of(&caller) {
        Ok(store) => store,
        Err(halt) => return halt.into_response(),
    };
    let viewer = caller.viewer(&console);
    let id = query.id.trim();
    if !id.is_empty() {
        let found = match id.parse::<PathwayId>() {
            Ok(id) => match store.pathway(&id) {
                Ok(summary) => summary.map(|s| s.id),
                Err(e) => return console.store_failed(&caller, &e),
            },
            Err(_) => None,
        };
        if let Some(id) = found {
            return Redirect::to(&format!("/percorsi/{id}")).into_response();
        }
    }
    let ambiti = match console.ambiti_of(&caller) {
        Ok(ambiti) => ambiti,
        Err(halt) => return halt.into_response(),
    };
    let search = parse(&query);
    let mut body = String::from("<h1>Ricerca percorsi</h1>\n");
    body.push_str(&form(&console, &query, &ambiti));
    if !id.is_empty() {
        let _ = writeln!(
            body,
            "<p class=\"problem\" role=\"alert\">Nessun percorso «{}» tra i percorsi di {}.</p>",
            escape(id),
            escape(&caller.actor.org.to_string())
        );
    }
    if !search.problems.is_empty() {
        body.push_str("<ul class=\"problem\" role=\"alert\">\n");
        for p in &search.problems {
            let _ = writeln!(body, "<li>{}</li>", escape(p));
        }
        body.push_str("</ul>\n");
        return html::respond(
            StatusCode::BAD_REQUEST,
            html::page("Ricerca percorsi", Some(&viewer), Section::Pathways, &body),
        );
    }
    let mut found = match store.list(&search.filter) {
        Ok(found) => found,
        Err(e) => return console.store_failed(&caller, &e),
    };
    let more = found.len() > PAGE;
    found.truncate(PAGE);
    body.push_str(&results(&console, &caller.actor.org, &found));
    if more && let Some(last) = found.last() {
        let _ = writeln!(
            body,
            "<p class=\"pages\"><a rel=\"next\" href=\"/percorsi?tipo={}&amp;stato={}&amp;ambito={}&amp;in_attesa={}&amp;dopo={}\">Pagina successiva</a></p>",
            url_encode(query.tipo.trim()),
            url_encode(query.stato.trim()),
            url_encode(query.ambito.trim()),
            url_encode(query.in_attesa.trim()),
            url_encode(&cursor_of(last)),
        );
    }
    html::respond(
        StatusCode::OK,
        html::page("Ricerca percorsi", Some(&viewer), Section::Pathways, &body),
    )
}

fn selected(yes: bool) -> &'static str {
    if yes { " selected" } else { "" }
}

fn form(console: &Console, query: &SearchQuery, ambiti: &[AmbitoCode]) -> String {
    let mut out = String::from(
        "<form method=\"get\" action=\"/percorsi\" class=\"search\" id=\"ricerca\">\n\
         <label>Identificativo <input type=\"search\" name=\"id\" placeholder=\"dp-…, pua-…, cpf-…\"",
    );
    let _ = writeln!(out, " value=\"{}\"></label>", escape(query.id.trim()));
    out.push_str("<label>Tipo <select name=\"tipo\">\n<option value=\"\">tutti</option>\n");
    for kind in PathwayKind::ALL {
        let _ = writeln!(
            out,
            "<option value=\"{}\"{}>{}</option>",
            kind.subject_token(),
            selected(query.tipo == kind.subject_token()),
            labels::kind(kind)
        );
    }
    out.push_str("</select></label>\n<label>Stato <select name=\"stato\">\n<option value=\"\">tutti</option>\n");
    for kind in PathwayKind::ALL {
        let _ = writeln!(out, "<optgroup label=\"{}\">", labels::kind(kind));
        for status in statuses(kind) {
            let _ = writeln!(
                out,
                "<option value=\"{status}\"{}>{}</option>",
                selected(query.stato == status),
                escape(labels::status(status))
            );
        }
        out.push_str("</optgroup>\n");
    }
    out.push_str("</select></label>\n<label>Ambito <select name=\"ambito\">\n<option value=\"\">tutti</option>\n");
    for code in ambiti {
        let _ = writeln!(
            out,
            "<option value=\"{code}\"{}>{}</option>",
            selected(query.ambito == code.as_str()),
            escape(&console.ambito_name(code))
        );
    }
    let _ = write!(
        out,
        "</select></label>\n<label class=\"check\"><input type=\"checkbox\" name=\"in_attesa\" value=\"1\"{}> \
         solo quelli in attesa di noi</label>\n<button type=\"submit\">Cerca</button>\n</form>\n",
        if query.in_attesa.trim().is_empty() {
            ""
        } else {
            " checked"
        }
    );
    out
}

/// Who a pathway waits on, as a list item each; the caller itself stands out.
pub(crate) fn waiting_list(console: &Console, waiting_on: &[OrgId], me: &OrgId) -> String {
    if waiting_on.is_empty() {
        return "<span class=\"none\">nessuno</span>".into();
    }
    let items: Vec<String> = waiting_on
        .iter()
        .map(|org| {
            let name = console
                .registry
                .org_name(org)
                .map_or_else(String::new, |n| format!(" title=\"{}\"", escape(n)));
            let us = if org == me { " class=\"us\"" } else { "" };
            format!(
                "<span{us}{name} data-org=\"{org}\">{org}</span>",
                org = escape(&org.to_string())
            )
        })
        .collect();
    items.join(", ")
}

fn results(console: &Console, me: &OrgId, found: &[PathwaySummary]) -> String {
    if found.is_empty() {
        return "<p class=\"empty\" id=\"risultati\">Nessun percorso corrisponde alla ricerca.</p>\n"
            .into();
    }
    let mut out = String::from(
        "<table class=\"results\" id=\"risultati\">\n<thead><tr><th>Percorso</th><th>Tipo</th>\
         <th>Ambito</th><th>Stato</th><th>Aperto il</th><th>Aggiornato il</th>\
         <th>In attesa di</th><th>Eventi</th></tr></thead>\n<tbody>\n",
    );
    for s in found {
        let _ = writeln!(
            out,
            "<tr class=\"pathway\" data-pathway=\"{id}\" data-status=\"{status}\">\
             <td><a href=\"/percorsi/{id}\">{id}</a></td><td>{kind}</td><td>{ambito}</td>\
             <td>{status_label}</td><td>{opened}</td><td>{updated}</td><td>{waiting}</td>\
             <td class=\"num\">{events}</td></tr>",
            id = escape(s.id.as_str()),
            status = escape(&s.status),
            kind = labels::kind(s.kind),
            ambito = escape(&console.ambito_name(&s.ambito)),
            status_label = escape(labels::status(&s.status)),
            opened = time_tag(s.opened_at),
            updated = time_tag(s.updated_at),
            waiting = waiting_list(console, &s.waiting_on, me),
            events = s.events,
        );
    }
    out.push_str("</tbody>\n</table>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_is_checked_field_by_field() {
        let query = SearchQuery {
            tipo: "dimissione_protetta".into(),
            stato: "enrolled".into(),
            ambito: "Magentino".into(),
            ..SearchQuery::default()
        };
        let search = parse(&query);
        assert_eq!(search.filter.kind, Some(PathwayKind::DimissioneProtetta));
        assert_eq!(search.problems.len(), 2, "{:?}", search.problems);

        let query = SearchQuery {
            stato: "requested".into(),
            ambito: "50032".into(),
            in_attesa: "1".into(),
            ..SearchQuery::default()
        };
        let search = parse(&query);
        assert!(search.problems.is_empty(), "{:?}", search.problems);
        assert!(search.filter.waiting_on_me);
        assert_eq!(search.filter.limit, Some(PAGE + 1));
    }

    #[test]
    fn a_page_cursor_reads_back() {
        let summary_cursor = "1772442000000000000~dp-0123456789abcdef0123";
        let query = SearchQuery {
            dopo: summary_cursor.into(),
            ..SearchQuery::default()
        };
        let search = parse(&query);
        assert!(search.problems.is_empty(), "{:?}", search.problems);
        let after = search.filter.after.unwrap();
        assert_eq!(after.id.as_str(), "dp-0123456789abcdef0123");
        assert_eq!(after.updated_at.unix_timestamp(), 1_772_442_000);
    }
}
