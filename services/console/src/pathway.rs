//! `GET /percorsi/{id}?finalita=cura|verifica|governo`: one pathway as the caller may see it for
//! the purpose it names. The page is a replay of the pathway's history through [`Replays`]
//! (`raccordo_gateway`): the history is read from the log, reduced to what the caller may see for
//! that purpose, and the replay is recorded in the audit trail before anything is shown, refused
//! ones too. The purpose is care unless the operator chooses another; an ATS sees pathways in the
//! aggregate view only, so its default (and only) purpose is governance. A pathway the caller holds
//! nothing of is "not found", whether or not it exists.
//!
//! [`Replays`]: raccordo_gateway::Replays

use std::fmt::Write as _;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use raccordo_domain::ids::{OrgId, PathwayId};
use raccordo_domain::routing::View;
use raccordo_domain::timeline::{Purpose, Refusal, Timeline, Via};
use raccordo_eventlog::AuditEvent;
use raccordo_gateway::ReplayError;
use serde::Deserialize;

use crate::auth::Caller;
use crate::html::{self, Section, escape, time_tag, url_encode};
use crate::{Console, labels, timeline};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PathwayQuery {
    #[serde(default)]
    finalita: String,
}

/// The purpose a page is asked for when it does not say.
fn default_purpose(org: &OrgId) -> Purpose {
    match org {
        OrgId::Ats(_) => Purpose::Governance,
        _ => Purpose::Care,
    }
}

pub(crate) async fn page(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<PathwayQuery>,
) -> Response {
    let viewer = caller.viewer(&console);
    let not_found = || {
        html::message(
            StatusCode::NOT_FOUND,
            Some(&viewer),
            "Percorso non trovato",
            &format!(
                "Nessun percorso «{id}» tra i percorsi di {}.",
                caller.actor.org
            ),
        )
    };
    let Ok(pathway) = id.parse::<PathwayId>() else {
        return not_found();
    };
    let purpose = match query.finalita.trim() {
        "" => default_purpose(&caller.actor.org),
        asked => match labels::purpose_from_param(asked) {
            Some(purpose) => purpose,
            None => {
                return html::message(
                    StatusCode::BAD_REQUEST,
                    Some(&viewer),
                    "Finalità non valida",
                    &format!("«{asked}» non è una finalità: cura, verifica o governo."),
                );
            }
        },
    };
    match console
        .replays
        .timeline(&caller.actor, &pathway, purpose, Via::Console)
        .await
    {
        Ok((timeline, audited)) => {
            let body = render(&console, &caller, &timeline, &audited);
            html::respond(
                StatusCode::OK,
                html::page(
                    &format!("Percorso {pathway}"),
                    Some(&viewer),
                    Section::Pathways,
                    &body,
                ),
            )
        }
        Err(ReplayError::Refused {
            refusal: Refusal::NotHeld { .. },
            ..
        }) => not_found(),
        Err(ReplayError::Refused {
            refusal: Refusal::AggregateOnly { .. },
            ..
        }) => {
            let body = format!(
                "<section class=\"message\" data-status=\"403\">\n<h1>Solo per il governo</h1>\n\
                 <p>{org} vede il percorso {pathway} nella vista aggregata, senza dati personali: \
                 la sua storia si può consultare solo con finalità di governo. Anche questa richiesta \
                 è stata registrata.</p>\n<p><a href=\"/percorsi/{pathway}?finalita=governo\">Consulta \
                 per il governo</a></p>\n</section>\n",
                org = escape(&caller.actor.org.to_string()),
            );
            html::respond(
                StatusCode::FORBIDDEN,
                html::page(
                    "Solo per il governo",
                    Some(&viewer),
                    Section::Pathways,
                    &body,
                ),
            )
        }
        Err(ReplayError::Log(error)) => {
            tracing::error!(%pathway, org = %caller.actor.org, %error, "the console could not replay a history");
            html::message(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(&viewer),
                "Storia non disponibile",
                &format!(
                    "Il registro degli eventi non risponde ora, quindi la storia non è stata mostrata: \
                     riprovate tra poco ({error})."
                ),
            )
        }
    }
}

fn render(console: &Console, caller: &Caller, t: &Timeline, audited: &AuditEvent) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<article class=\"pathway\" id=\"percorso\" data-pathway=\"{id}\" data-view=\"{view}\" \
         data-purpose=\"{purpose}\">\n<h1>Percorso <code>{id}</code></h1>\n\
         <p class=\"audited\" id=\"consultazione-registrata\" data-audit-sequence=\"{seq}\">\
         Questa consultazione è registrata: {org} ha consultato la storia con finalità «{purpose_label}» \
         (registro delle consultazioni, n. {seq}).</p>",
        id = escape(t.pathway.as_str()),
        view = t.view.as_str(),
        purpose = t.purpose.as_str(),
        seq = audited.sequence,
        org = escape(&caller.actor.org.to_string()),
        purpose_label = escape(labels::purpose_param(t.purpose)),
    );
    let waiting = if t.waiting_on.is_empty() {
        "<span class=\"none\">nessuno</span>".to_owned()
    } else {
        t.waiting_on
            .iter()
            .map(|lane| {
                let (name, id) = timeline::lane_title(console, lane);
                format!(
                    "<span data-lane=\"{}\">{}{}</span>",
                    escape(lane),
                    escape(&name),
                    if id.is_empty() {
                        String::new()
                    } else {
                        format!(" <small>{}</small>", escape(&id))
                    }
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        out,
        "<dl class=\"facts\">\n<div><dt>Tipo</dt><dd>{kind}</dd></div>\n\
         <div><dt>Ambito</dt><dd>{ambito}</dd></div>\n\
         <div><dt>Stato</dt><dd data-status=\"{status}\">{status_label}</dd></div>\n\
         <div><dt>Aperto il</dt><dd>{opened}</dd></div>\n\
         <div><dt>Aggiornato il</dt><dd>{updated}</dd></div>\n\
         <div><dt>In attesa di</dt><dd id=\"in-attesa-di\">{waiting}</dd></div>\n\
         <div><dt>Situazione al</dt><dd>{as_of}</dd></div>\n\
         <div><dt>Vista</dt><dd>{view}</dd></div>\n</dl>",
        kind = labels::kind(t.kind),
        ambito = escape(&console.ambito_name(&t.ambito)),
        status = escape(&t.status),
        status_label = escape(labels::status(&t.status)),
        opened = time_tag(t.opened_at),
        updated = time_tag(t.updated_at),
        as_of = time_tag(t.as_of),
        view = match t.view {
            View::Full => "completa",
            View::Aggregate => "aggregata: senza persona, testo libero né operatori",
        },
    );
    out.push_str(&purpose_form(caller, t));
    let _ = writeln!(
        out,
        "<section id=\"linea-del-tempo\">\n<h2>Linea del tempo</h2>\n\
         <p class=\"hint\">Una corsia per organizzazione: i suoi atti, quando il percorso l'ha \
         attesa, le scadenze del protocollo di cui risponde e i rilievi che la riguardano. \
         Passate sopra un elemento per i dettagli; le tabelle sotto dicono lo stesso per esteso.</p>\n\
         <div class=\"scroll\">\n{}</div>\n{}</section>",
        timeline::svg(console, t),
        timeline::legend()
    );
    let _ = writeln!(
        out,
        "<section id=\"corsie\">\n<h2>Corsie: le organizzazioni ({})</h2>\n{}</section>\n</article>",
        t.lanes.len(),
        timeline::tables(console, t)
    );
    out
}

/// The choice of purpose: a new consultation, recorded like the first.
fn purpose_form(caller: &Caller, t: &Timeline) -> String {
    let allowed: Vec<Purpose> = match caller.actor.org {
        OrgId::Ats(_) => vec![Purpose::Governance],
        _ => Purpose::ALL.to_vec(),
    };
    let mut out = format!(
        "<form method=\"get\" action=\"/percorsi/{}\" class=\"purpose\">\n\
         <label>Finalità della consultazione <select name=\"finalita\">\n",
        url_encode(t.pathway.as_str())
    );
    for p in allowed {
        let _ = writeln!(
            out,
            "<option value=\"{}\"{}>{}</option>",
            labels::purpose_param(p),
            if p == t.purpose { " selected" } else { "" },
            escape(labels::purpose(p))
        );
    }
    out.push_str(
        "</select></label>\n<button type=\"submit\">Consulta</button>\n\
         <small>Ogni consultazione è registrata con chi l'ha fatta e perché.</small>\n</form>\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ats_looks_for_governance_and_the_others_for_care_unless_they_say() {
        assert_eq!(
            default_purpose(&"ats:321".parse().unwrap()),
            Purpose::Governance
        );
        assert_eq!(default_purpose(&"asst:705".parse().unwrap()), Purpose::Care);
        assert_eq!(labels::purpose_from_param("verifica"), Some(Purpose::Audit));
        assert_eq!(
            labels::purpose_from_param("governance"),
            Some(Purpose::Governance)
        );
        assert_eq!(labels::purpose_from_param("curiosità"), None);
    }
}
