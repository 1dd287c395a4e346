//! Who is looking: the same bearer tokens as the gRPC API ([`Tokens`]), and nothing else decides
//! the organisation and the operator. An operator signs in by pasting its token into the sign-in
//! form; the console then keeps a session on the server (a random id in a cookie: `HttpOnly`,
//! `SameSite=Strict`, `Path=/`), so the token itself never sits in the browser. Programs may send
//! `Authorization: Bearer <token>` with every request instead. Each request looks the token up
//! again, so a session ends as soon as its token leaves the tokens file the console was given.
//!
//! A session lasts [`SESSION_HOURS`] hours on the application's clock, or until it signs out.

use std::collections::HashMap;
use std::io::Read as _;
use std::sync::Mutex;

use axum::Form;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use raccordo_domain::pathway::Actor;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::Console;
use crate::html::{self, Section, Viewer, escape};

/// The session cookie's name.
pub(crate) const COOKIE: &str = "raccordo_sessione";

/// How long a session lasts.
pub(crate) const SESSION_HOURS: i64 = 12;

/// The sessions open on this console, by id.
#[derive(Debug, Default)]
pub(crate) struct Sessions(Mutex<HashMap<String, Session>>);

#[derive(Debug)]
struct Session {
    token: String,
    expires: OffsetDateTime,
}

impl Sessions {
    /// Opens a session for `token`: its id, or `None` if no random id could be drawn.
    fn open(&self, token: &str, now: OffsetDateTime) -> Option<String> {
        let id = random_id()?;
        let mut sessions = self.0.lock().unwrap_or_else(|e| e.into_inner());
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(
            id.clone(),
            Session {
                token: token.to_owned(),
                expires: now + time::Duration::hours(SESSION_HOURS),
            },
        );
        Some(id)
    }

    /// The token of a session still open.
    fn token(&self, id: &str, now: OffsetDateTime) -> Option<String> {
        let sessions = self.0.lock().unwrap_or_else(|e| e.into_inner());
        sessions
            .get(id)
            .filter(|s| s.expires > now)
            .map(|s| s.token.clone())
    }

    fn close(&self, id: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
}

/// 32 random bytes from the operating system, as hex.
fn random_id() -> Option<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| tracing::error!(error = %e, "cannot read /dev/urandom for a session id"))
        .ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The session id the request's cookie carries, if any.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// The authenticated caller of a page.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub actor: Actor,
    /// Signed in through a session (rather than an `Authorization` header).
    pub session: bool,
}

impl Caller {
    /// How the page frame shows the caller.
    pub(crate) fn viewer<'a>(&'a self, console: &'a Console) -> Viewer<'a> {
        Viewer {
            actor: &self.actor,
            name: console.registry.org_name(&self.actor.org),
            session: self.session,
        }
    }
}

impl FromRequestParts<Console> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Response> {
        let next = parts
            .uri
            .path_and_query()
            .map_or("/percorsi", |p| p.as_str())
            .to_owned();
        if let Some(authorization) = parts.headers.get(header::AUTHORIZATION) {
            let token = authorization
                .to_str()
                .ok()
                .and_then(|h| h.strip_prefix("Bearer "));
            return match token.and_then(|t| console.tokens.actor(t)) {
                Some(actor) => Ok(Self {
                    actor,
                    session: false,
                }),
                None => Err(sign_in_page(
                    StatusCode::UNAUTHORIZED,
                    Some(
                        "Il token dell'intestazione Authorization non è riconosciuto: \
                          usate «Authorization: Bearer <token>» con un token del file dei token.",
                    ),
                    &next,
                )),
            };
        }
        let Some(id) = session_cookie(&parts.headers) else {
            return Err(sign_in_page(
                StatusCode::UNAUTHORIZED,
                Some(
                    "Per consultare la console serve l'accesso: incollate il token della vostra organizzazione.",
                ),
                &next,
            ));
        };
        let now = console.clock.now();
        match console
            .sessions
            .token(id, now)
            .and_then(|token| console.tokens.actor(&token))
        {
            Some(actor) => Ok(Self {
                actor,
                session: true,
            }),
            None => Err(sign_in_page(
                StatusCode::UNAUTHORIZED,
                Some("La sessione è scaduta o non è più valida: accedete di nuovo."),
                &next,
            )),
        }
    }
}

/// Where to go after signing in: a page of the console, never another site.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            n
        }
        _ => "/percorsi",
    }
}

/// The sign-in form, with `problem` said above it.
pub(crate) fn sign_in_page(status: StatusCode, problem: Option<&str>, next: &str) -> Response {
    let problem = problem.map_or_else(String::new, |p| {
        format!("<p class=\"problem\" role=\"alert\">{}</p>\n", escape(p))
    });
    let body = format!(
        "<section class=\"sign-in\">\n<h1>Accesso alla console</h1>\n{problem}\
         <p>Incollate il token della vostra organizzazione: è lo stesso che usano i vostri \
         programmi per l'API gRPC (il primo campo della vostra riga nel file dei token, \
         <code>tokens.csv</code>). Il token decide l'organizzazione e quello che vedete.</p>\n\
         <form method=\"post\" action=\"/accesso\" id=\"accesso\">\n\
         <label for=\"token\">Token</label>\n\
         <input type=\"password\" id=\"token\" name=\"token\" autocomplete=\"off\" required>\n\
         <input type=\"hidden\" name=\"dopo\" value=\"{next}\">\n\
         <button type=\"submit\">Accedi</button>\n</form>\n</section>\n",
        next = escape(safe_next(Some(next))),
    );
    html::respond(status, html::page("Accesso", None, Section::None, &body))
}

/// `GET /accesso`.
pub(crate) async fn sign_in_form(
    axum::extract::Query(query): axum::extract::Query<NextQuery>,
) -> Response {
    sign_in_page(StatusCode::OK, None, safe_next(query.dopo.as_deref()))
}

#[derive(Debug, Deserialize)]
pub(crate) struct NextQuery {
    dopo: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SignIn {
    #[serde(default)]
    token: String,
    dopo: Option<String>,
}

/// `POST /accesso`: a known token opens a session and goes on to the page asked for.
pub(crate) async fn sign_in(State(console): State<Console>, Form(form): Form<SignIn>) -> Response {
    let next = safe_next(form.dopo.as_deref());
    let Some(actor) = console.tokens.actor(&form.token) else {
        tracing::info!("console sign-in with an unknown token");
        return sign_in_page(
            StatusCode::UNAUTHORIZED,
            Some(
                "Token non riconosciuto: controllate di averlo copiato per intero dal file dei token.",
            ),
            next,
        );
    };
    let Some(id) = console
        .sessions
        .open(form.token.trim(), console.clock.now())
    else {
        return html::message(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            "Accesso non riuscito",
            "La console non ha potuto aprire una sessione; riprovate tra poco.",
        );
    };
    tracing::info!(org = %actor.org, operator = %actor.operator, "console sign-in");
    let cookie = format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/");
    let mut response = Redirect::to(next).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `POST /uscita`: closes the session and clears the cookie.
pub(crate) async fn sign_out(State(console): State<Console>, headers: HeaderMap) -> Response {
    if let Some(id) = session_cookie(&headers) {
        console.sessions.close(id);
    }
    let mut response = Redirect::to("/accesso").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "raccordo_sessione=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
        ),
    );
    response
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn a_session_holds_its_token_until_it_expires_or_closes() {
        let sessions = Sessions::default();
        let now = datetime!(2026-03-02 09:00 UTC);
        let id = sessions.open("token-token-token-token-1", now).unwrap();
        assert_eq!(id.len(), 64);
        assert_eq!(
            sessions
                .token(&id, now + time::Duration::hours(1))
                .as_deref(),
            Some("token-token-token-token-1")
        );
        assert_eq!(
            sessions.token(&id, now + time::Duration::hours(SESSION_HOURS)),
            None
        );
        let other = sessions.open("token-token-token-token-2", now).unwrap();
        sessions.close(&other);
        assert_eq!(sessions.token(&other, now), None);
        assert_eq!(sessions.token("made-up", now), None);
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; raccordo_sessione=abc; b=2"),
        );
        assert_eq!(session_cookie(&headers), Some("abc"));
    }

    #[test]
    fn signing_in_goes_on_to_a_page_of_the_console_only() {
        assert_eq!(
            safe_next(Some("/percorsi/dp-1?finalita=cura")),
            "/percorsi/dp-1?finalita=cura"
        );
        assert_eq!(safe_next(Some("//evil.example")), "/percorsi");
        assert_eq!(safe_next(Some("https://evil.example")), "/percorsi");
        assert_eq!(safe_next(Some("/\\evil.example")), "/percorsi");
        assert_eq!(safe_next(Some("/percorsi\r\nSet-Cookie: x")), "/percorsi");
        assert_eq!(safe_next(None), "/percorsi");
    }
}
