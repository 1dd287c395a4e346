//! The operator console: a web page served by `raccordo up` on its own listener, for the
//! operators of each organisation. It shows a party exactly its own view, and nothing it needs is
//! fetched from anywhere but raccordo: server-rendered HTML, inline SVG, one stylesheet, no
//! script.
//!
//! - **Percorsi** (`/percorsi`): the caller's pathways, searched by id, kind, status, Ambito or
//!   "waiting on us", from the caller's own projection (what `Pathways.List` answers from).
//! - **Percorso** (`/percorsi/{id}`): one pathway's timeline, one lane per organisation over a
//!   common time axis (acts, waits, the protocol's deadlines met or breached, findings), and the
//!   same in tables. Every view is a replay of the history through [`Replays`], recorded in the
//!   audit trail before it is shown, for the purpose the operator names.
//! - **Rilievi** (`/rilievi`): the findings the caller's projection holds, newest first.
//! - **Indicatori** (`/indicatori`): an Ambito's LEPS indicators for a quarter, as its ATS sees
//!   them, beside their targets.
//!
//! Access ([`auth`]): the bearer tokens of the gRPC API, through a sign-in form and a server-side
//! session, or an `Authorization: Bearer` header. Labels are Italian ([`labels`]), code English.

mod auth;
mod findings;
mod html;
mod indicators;
mod labels;
mod pathway;
mod search;
mod timeline;

use std::collections::BTreeSet;
use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use raccordo_domain::clock::Clock;
use raccordo_domain::ids::{AmbitoCode, OrgId};
use raccordo_domain::registry::Registry;
use raccordo_eventlog::EventLog;
use raccordo_gateway::{Projections, Replays, Tokens};
use raccordo_projections::{ListFilter, ProjectionStore, StoreError};
use raccordo_reconciler::indicators::Monitors;
use tokio::net::TcpListener;

use crate::auth::{Caller, Sessions};

/// A page that ends a request early (a refusal, a failure), boxed to keep results small.
#[derive(Debug)]
pub(crate) struct Halt(Box<Response>);

impl From<Response> for Halt {
    fn from(response: Response) -> Self {
        Self(Box::new(response))
    }
}

impl IntoResponse for Halt {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// Everything the console needs: what the gRPC gateway has, and the log for the indicators.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// Who may look: the same tokens as the gRPC API.
    pub tokens: Tokens,
    /// Each party's projection, searched for its pathways and findings.
    pub projections: Projections,
    /// Timelines of histories, each replay recorded in the audit trail.
    pub replays: Replays,
    /// The log, read for the indicators as each ATS sees it.
    pub log: EventLog,
    pub registry: Arc<Registry>,
    pub clock: Arc<dyn Clock>,
}

/// The console's shared state.
#[derive(Debug, Clone)]
pub(crate) struct Console(Arc<Inner>);

#[derive(Debug)]
pub(crate) struct Inner {
    pub tokens: Tokens,
    pub projections: Projections,
    pub replays: Replays,
    pub log: EventLog,
    pub registry: Arc<Registry>,
    pub clock: Arc<dyn Clock>,
    pub sessions: Sessions,
    /// What the ATS have been given of the log so far, read on at each indicators page.
    pub monitors: tokio::sync::Mutex<Monitors>,
}

impl Deref for Console {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Serves the console on `listener` until `shutdown` completes, then finishes the requests in
/// hand.
pub async fn serve(
    config: ConsoleConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(config))
        .with_graceful_shutdown(shutdown)
        .await
}

fn router(config: ConsoleConfig) -> Router {
    let console = Console(Arc::new(Inner {
        tokens: config.tokens,
        projections: config.projections,
        replays: config.replays,
        log: config.log,
        registry: config.registry,
        clock: config.clock,
        sessions: Sessions::default(),
        monitors: tokio::sync::Mutex::new(Monitors::all()),
    }));
    Router::new()
        .route("/", get(|| async { Redirect::to("/percorsi") }))
        .route("/stile.css", get(|| async { html::stylesheet() }))
        .route("/accesso", get(auth::sign_in_form).post(auth::sign_in))
        .route("/uscita", post(auth::sign_out))
        .route("/percorsi", get(search::page))
        .route("/percorsi/{id}", get(pathway::page))
        .route("/rilievi", get(findings::page))
        .route("/indicatori", get(indicators::page))
        .fallback(not_found)
        .with_state(console)
}

async fn not_found() -> Response {
    html::message(
        StatusCode::NOT_FOUND,
        None,
        "Pagina non trovata",
        "La console non ha una pagina a questo indirizzo.",
    )
}

impl Console {
    /// The caller's own projection: all a page may read of the caller's pathways.
    pub(crate) fn store_of(&self, caller: &Caller) -> Result<&Arc<dyn ProjectionStore>, Halt> {
        self.projections.of(&caller.actor.org).ok_or_else(|| {
            Halt::from(html::message(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(&caller.viewer(self)),
                "Vista non disponibile",
                &format!(
                    "Questo raccordo non tiene la vista di {}: aggiungete l'organizzazione a \
                     quelle che serve e riavviatelo.",
                    caller.actor.org
                ),
            ))
        })
    }

    /// A projection that cannot be read, as a page.
    pub(crate) fn store_failed(&self, caller: &Caller, error: &StoreError) -> Response {
        tracing::error!(org = %caller.actor.org, %error, "the console cannot read a projection");
        html::message(
            StatusCode::SERVICE_UNAVAILABLE,
            Some(&caller.viewer(self)),
            "Vista non leggibile",
            &format!(
                "La vista di {} non si può leggere ora: {error}",
                caller.actor.org
            ),
        )
    }

    /// The Ambiti whose indicators the caller may see, in code order: an ATS, the Ambiti it
    /// monitors; any other organisation, the Ambiti of the pathways it holds, and its own (the
    /// Ambito of a Comune, an Ufficio di Piano's, those an ASST serves). The indicators are
    /// aggregates, computed as the ATS sees the pathways: nobody learns a person from them.
    pub(crate) fn ambiti_of(&self, caller: &Caller) -> Result<Vec<AmbitoCode>, Halt> {
        let today = raccordo_domain::calendar::rome_date(self.clock.now());
        let mut ambiti = BTreeSet::new();
        match &caller.actor.org {
            OrgId::Ats(ats) => {
                ambiti.extend(
                    self.registry
                        .ambiti()
                        .filter(|a| a.ats == *ats)
                        .map(|a| a.code.clone()),
                );
                return Ok(ambiti.into_iter().collect());
            }
            OrgId::Ambito(code) => {
                ambiti.insert(code.clone());
            }
            OrgId::Comune(comune) => {
                ambiti.extend(self.registry.ambito_of_comune(comune, today).cloned());
            }
            OrgId::Asst(asst) => {
                ambiti.extend(
                    self.registry
                        .ambiti_of_asst(asst, today)
                        .into_iter()
                        .cloned(),
                );
            }
            OrgId::Ente(_) | OrgId::Centro(_) => {}
        }
        let store = self.store_of(caller)?;
        let held = store
            .list(&ListFilter::default())
            .map_err(|e| Halt::from(self.store_failed(caller, &e)))?;
        ambiti.extend(held.into_iter().map(|s| s.ambito));
        Ok(ambiti.into_iter().collect())
    }

    /// An Ambito as the pages name it: `50032 Magentino`.
    pub(crate) fn ambito_name(&self, code: &AmbitoCode) -> String {
        match self.registry.ambito(code) {
            Some(a) => format!("{} {}", a.code, a.name),
            None => code.to_string(),
        }
    }
}
