//! Who is calling: a bearer token, looked up in the tokens file, names the organisation and the
//! operator acting for it. The identity comes from the token only, never from the request body.
//!
//! The tokens file has one line per token, `token,org,operator` (e.g.
//! `3f9c…,asst:705,coordinatore.cot`); blank lines and lines starting with `#` are ignored.

use std::collections::HashMap;
use std::sync::Arc;

use raccordo_domain::ids::{OperatorId, OrgId};
use raccordo_domain::pathway::Actor;
use tonic::{Request, Status};

/// Why a tokens file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct TokensError {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

/// Tokens are at least this long, so that they cannot be guessed.
pub const MIN_TOKEN_LEN: usize = 24;

/// The bearer tokens the gateway accepts.
#[derive(Clone, Default)]
pub struct Tokens(Arc<HashMap<String, Actor>>);

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens({} callers)", self.0.len())
    }
}

impl Tokens {
    /// Parses a tokens file's contents; `file` names it in errors.
    pub fn parse(file: &str, contents: &str) -> Result<Self, TokensError> {
        let mut map = HashMap::new();
        for (i, line) in contents.lines().enumerate() {
            let error = |reason: String| TokensError {
                file: file.to_owned(),
                line: i + 1,
                reason,
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let [token, org, operator] = fields[..] else {
                return Err(error(format!(
                    "expected token,org,operator but found {} fields",
                    fields.len()
                )));
            };
            if token.len() < MIN_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(error(format!(
                    "a token must be at least {MIN_TOKEN_LEN} printable characters"
                )));
            }
            let org: OrgId = org.parse().map_err(|e| error(format!("{e}")))?;
            let operator: OperatorId = operator.parse().map_err(|e| error(format!("{e}")))?;
            if map
                .insert(token.to_owned(), Actor { org, operator })
                .is_some()
            {
                return Err(error("the same token appears twice".into()));
            }
        }
        Ok(Self(Arc::new(map)))
    }

    pub fn from_actors(entries: impl IntoIterator<Item = (String, Actor)>) -> Self {
        Self(Arc::new(entries.into_iter().collect()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The organisations that hold a token, each once, sorted.
    pub fn organisations(&self) -> Vec<OrgId> {
        let mut orgs: Vec<OrgId> = self.0.values().map(|a| a.org.clone()).collect();
        orgs.sort();
        orgs.dedup();
        orgs
    }

    /// The caller a bearer token names, if it is one of the tokens (surrounding blanks aside).
    pub fn actor(&self, token: &str) -> Option<Actor> {
        self.0.get(token.trim()).cloned()
    }

    /// The tonic interceptor: puts the caller's [`Actor`] into the request, or refuses the call.
    pub fn authenticate(&self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let header = request.metadata().get("authorization").ok_or_else(|| {
            Status::unauthenticated("missing 'authorization: Bearer <token>' header")
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| {
                Status::unauthenticated("the authorization header must be 'Bearer <token>'")
            })?;
        let actor = self
            .actor(token)
            .ok_or_else(|| Status::unauthenticated("unknown bearer token"))?;
        request.extensions_mut().insert(actor);
        Ok(request)
    }
}

/// The authenticated caller of a request that passed [`Tokens::authenticate`].
pub fn caller<T>(request: &Request<T>) -> Result<Actor, Status> {
    request
        .extensions()
        .get::<Actor>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("the call was not authenticated"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_tokens_file_maps_tokens_to_callers() {
        let tokens = Tokens::parse(
            "tokens.csv",
            &format!("# who may call\n\n{TOKEN},asst:705,coordinatore.cot\n"),
        )
        .unwrap();
        assert_eq!(tokens.len(), 1);
        let mut request = Request::new(());
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
        let request = tokens.authenticate(request).unwrap();
        assert_eq!(caller(&request).unwrap().org.to_string(), "asst:705");
    }

    #[test]
    fn a_bad_line_is_reported_with_its_number() {
        let error = Tokens::parse(
            "tokens.csv",
            &format!("{TOKEN},asst:705,a\nshort,asst:705,b\n"),
        )
        .unwrap_err();
        assert_eq!((error.file.as_str(), error.line), ("tokens.csv", 2));
        let error = Tokens::parse("tokens.csv", &format!("{TOKEN},hospital:1,a\n")).unwrap_err();
        assert!(error.reason.contains("organisation id"), "{error}");
    }

    #[test]
    fn unknown_or_missing_tokens_are_refused() {
        let tokens = Tokens::parse("t", &format!("{TOKEN},asst:705,a")).unwrap();
        let status = tokens.authenticate(Request::new(())).unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
        let mut request = Request::new(());
        request.metadata_mut().insert(
            "authorization",
            "Bearer nope-nope-nope-nope-nope-nope".parse().unwrap(),
        );
        assert_eq!(
            tokens.authenticate(request).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
    }
}
