//! Writing the pages: escaping, the frame every page shares, dates and durations as an Italian
//! operator reads them (Italian local time), and the response headers. The pages are plain HTML
//! with inline SVG and one stylesheet; no script is served or allowed (`script-src 'none'`).

use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use raccordo_domain::calendar::rome_time;
use raccordo_domain::pathway::Actor;
use time::OffsetDateTime;

/// Text made safe for HTML, in content and in quoted attribute values alike.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A value made safe for a URL's query string.
pub(crate) fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char);
            }
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

/// An instant as the wall clock in Italy showed it: `23/11/2026 07:38`.
pub(crate) fn when(instant: OffsetDateTime) -> String {
    let local = rome_time(instant);
    format!(
        "{:02}/{:02}/{} {:02}:{:02}",
        local.day(),
        u8::from(local.month()),
        local.year(),
        local.hour(),
        local.minute()
    )
}

/// The machine-readable form of an instant, for `<time datetime>`.
pub(crate) fn rfc3339(instant: OffsetDateTime) -> String {
    instant
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `<time>` for an instant.
pub(crate) fn time_tag(instant: OffsetDateTime) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        rfc3339(instant),
        when(instant)
    )
}

/// A length of time: `2 g 3 h`, `5 h 20 min`, `45 min`.
pub(crate) fn duration(minutes: u64) -> String {
    let (days, hours, mins) = (minutes / (24 * 60), minutes % (24 * 60) / 60, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{mins} min"),
        (0, h) => format!("{h} h {mins} min"),
        (d, 0) => format!("{d} g"),
        (d, h) => format!("{d} g {h} h"),
    }
}

/// Which part of the console a page belongs to, for the navigation bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Pathways,
    Findings,
    Indicators,
    None,
}

/// Who is looking, as the frame shows it.
#[derive(Debug, Clone)]
pub(crate) struct Viewer<'a> {
    pub actor: &'a Actor,
    /// The organisation's name in the registry.
    pub name: Option<&'a str>,
    /// Signed in with a session (it can sign out); otherwise with an `Authorization` header.
    pub session: bool,
}

/// A whole page: the frame around `body`.
pub(crate) fn page(
    title: &str,
    viewer: Option<&Viewer<'_>>,
    section: Section,
    body: &str,
) -> String {
    let mut out = String::with_capacity(body.len() + 2048);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"it\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} · raccordo</title>\n<link rel=\"stylesheet\" href=\"/stile.css\">\n</head>\n<body>\n",
        escape(title)
    );
    out.push_str("<header class=\"top\">\n<a class=\"brand\" href=\"/percorsi\">raccordo <span>console operatori</span></a>\n");
    if let Some(viewer) = viewer {
        out.push_str("<nav>\n");
        for (s, href, label) in [
            (Section::Pathways, "/percorsi", "Percorsi"),
            (Section::Findings, "/rilievi", "Rilievi"),
            (Section::Indicators, "/indicatori", "Indicatori"),
        ] {
            let current = if s == section {
                " aria-current=\"page\""
            } else {
                ""
            };
            let _ = writeln!(out, "<a href=\"{href}\"{current}>{label}</a>");
        }
        out.push_str("</nav>\n<div class=\"who\">");
        let _ = write!(
            out,
            "<span class=\"org\" data-org=\"{org}\">{name}<small>{org}</small></span>",
            org = escape(&viewer.actor.org.to_string()),
            name = escape(viewer.name.unwrap_or("")),
        );
        if viewer.session {
            out.push_str(
                "<form method=\"post\" action=\"/uscita\"><button type=\"submit\">Esci</button></form>",
            );
        }
        out.push_str("</div>\n");
    }
    out.push_str("</header>\n<main>\n");
    out.push_str(body);
    out.push_str(
        "</main>\n<footer>raccordo · ogni organizzazione vede solo i propri percorsi; \
         ogni consultazione di una storia è registrata.</footer>\n</body>\n</html>\n",
    );
    out
}

/// The headers every page is sent with: no caching of what a party sees, no framing, no script,
/// nothing loaded from anywhere but raccordo.
fn secure(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// An HTML page with `status`.
pub(crate) fn respond(status: StatusCode, html: String) -> Response {
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        html,
    )
        .into_response();
    secure(&mut response);
    response
}

/// A message page: a title, a paragraph and what to do next.
pub(crate) fn message(
    status: StatusCode,
    viewer: Option<&Viewer<'_>>,
    title: &str,
    text: &str,
) -> Response {
    let body = format!(
        "<section class=\"message\" data-status=\"{}\">\n<h1>{}</h1>\n<p>{}</p>\n\
         <p><a href=\"/percorsi\">Torna alla ricerca dei percorsi</a></p>\n</section>\n",
        status.as_u16(),
        escape(title),
        escape(text)
    );
    respond(status, page(title, viewer, Section::None, &body))
}

/// The stylesheet, served by raccordo itself.
pub(crate) fn stylesheet() -> Response {
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/css; charset=utf-8"),
        )],
        include_str!("stile.css"),
    )
        .into_response();
    secure(&mut response);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=3600"),
    );
    response
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn text_is_escaped_for_content_and_attributes() {
        assert_eq!(
            escape("<a href=\"x\">Rossi & 'C'</a>"),
            "&lt;a href=&quot;x&quot;&gt;Rossi &amp; &#39;C&#39;&lt;/a&gt;"
        );
        assert_eq!(url_encode("2026Q1 a&b/c"), "2026Q1%20a%26b%2Fc");
    }

    #[test]
    fn instants_are_shown_in_italian_local_time() {
        // CET in winter, CEST in summer.
        assert_eq!(when(datetime!(2026-01-12 07:00 UTC)), "12/01/2026 08:00");
        assert_eq!(when(datetime!(2026-07-01 22:30 UTC)), "02/07/2026 00:30");
    }

    #[test]
    fn durations_read_in_days_hours_and_minutes() {
        assert_eq!(duration(45), "45 min");
        assert_eq!(duration(125), "2 h 5 min");
        assert_eq!(duration(3 * 24 * 60), "3 g");
        assert_eq!(duration(3 * 24 * 60 + 150), "3 g 2 h");
    }
}
