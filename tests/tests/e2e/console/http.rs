//! A small HTTP/1.1 client for the console's tests (hyper's own), which follows no redirect: a
//! test sees each answer exactly as the console gave it.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE};
use hyper::{HeaderMap, Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use raccordo_tests::token_of;

/// How a request says who is asking.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `Cookie: <name=value>`.
    Cookie(String),
}

impl Auth {
    /// The bearer token of `org` in the tests.
    pub fn of(org: &str) -> Self {
        Self::Bearer(token_of(org))
    }
}

/// The console at one address.
pub struct Http {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// An answer: its status, headers and body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("an ASCII header").to_owned())
    }
}

/// A value for an `application/x-www-form-urlencoded` body.
fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Http {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    async fn send(&self, request: Request<Full<Bytes>>) -> Reply {
        let response = self
            .client
            .request(request)
            .await
            .expect("the console answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("the body is read")
            .to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8(body.to_vec()).expect("the console writes UTF-8"),
        }
    }

    pub async fn get(&self, path: &str, auth: Auth) -> Reply {
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(format!("{}{path}", self.base));
        request = match auth {
            Auth::None => request,
            Auth::Bearer(token) => request.header(AUTHORIZATION, format!("Bearer {token}")),
            Auth::Cookie(cookie) => request.header(COOKIE, cookie),
        };
        self.send(request.body(Full::default()).expect("a valid request"))
            .await
    }

    /// Posts a form, with a session cookie if given.
    pub async fn post_form(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> Reply {
        let body: Vec<String> = fields
            .iter()
            .map(|(name, value)| format!("{}={}", form_encode(name), form_encode(value)))
            .collect();
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(format!("{}{path}", self.base))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        self.send(
            request
                .body(Full::new(Bytes::from(body.join("&"))))
                .expect("a valid request"),
        )
        .await
    }
}
