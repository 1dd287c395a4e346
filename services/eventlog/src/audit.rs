//! The audit trail of history replays: every time anyone replays a pathway's history (gRPC
//! `Pathways.History`, the console's pathway page, `raccordo replay pathway`), one event
//! `raccordo.audit.history_replayed.v1` is appended to the stream `RACCORDO_AUDIT` before anything
//! is shown, refused attempts included (ARCHITECTURE.md invariant 5).
//!
//! The trail is append-only like the log (no delete, no purge, no age limit) and apart from it: who
//! read a pathway is not an event of the pathway, and must not reach the parties' inboxes. One
//! subject per viewer and pathway, `raccordo.audit.<viewer>.<pathway>`, so that "who read this
//! pathway" (`raccordo.audit.*.<pathway>`) and "what did this organisation read"
//! (`raccordo.audit.<viewer>.>`) are both read through the server's subject index.

use std::sync::atomic::{AtomicU64, Ordering};

use async_nats::HeaderMap;
use async_nats::header::NATS_MESSAGE_ID;
use async_nats::jetstream::stream::{self, StorageType};
use raccordo_domain::ids::{OrgId, PathwayId};
use raccordo_domain::timeline::Replayed;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use time::format_description::well_known::Rfc3339;

use crate::{EventLog, LogError, codec, history};

pub const AUDIT_STREAM: &str = "RACCORDO_AUDIT";
pub const AUDIT_SUBJECTS: &str = "raccordo.audit";
/// The CloudEvents type of an audit event.
pub const HISTORY_REPLAYED: &str = raccordo_domain::timeline::HISTORY_REPLAYED;

/// An audit event as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Its sequence in `RACCORDO_AUDIT`.
    pub sequence: u64,
    /// Its `ce-id`.
    pub id: String,
    pub replayed: Replayed,
}

/// Which audit events to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub viewer: Option<OrgId>,
    pub pathway: Option<PathwayId>,
}

impl AuditFilter {
    fn subject(&self) -> String {
        let viewer = self
            .viewer
            .as_ref()
            .map_or_else(|| "*".to_owned(), OrgId::subject_token);
        let pathway = self
            .pathway
            .as_ref()
            .map_or_else(|| "*".to_owned(), ToString::to_string);
        format!("{AUDIT_SUBJECTS}.{viewer}.{pathway}")
    }
}

/// The audit trail, set up.
#[derive(Debug, Clone)]
pub struct Audit {
    log: EventLog,
}

/// With the record (its instant included) and the process, makes every audit event id unique,
/// even for two identical replays in the same nanosecond.
static COUNTER: AtomicU64 = AtomicU64::new(0);

impl EventLog {
    /// Sets up the audit stream if it is missing.
    pub async fn audit(&self) -> Result<Audit, LogError> {
        let config = stream::Config {
            name: AUDIT_STREAM.into(),
            description: Some("raccordo: every replay of a pathway's history".into()),
            subjects: vec![format!("{AUDIT_SUBJECTS}.>")],
            storage: StorageType::File,
            num_replicas: self.config.replicas,
            deny_delete: true,
            deny_purge: true,
            allow_direct: true,
            ..Default::default()
        };
        self.js
            .get_or_create_stream(config)
            .await
            .map_err(|e| LogError::Stream {
                stream: AUDIT_STREAM.into(),
                reason: e.to_string(),
            })?;
        Ok(Audit { log: self.clone() })
    }
}

impl Audit {
    /// Appends the record of one replay and waits until the server has stored it.
    pub async fn record(&self, replayed: &Replayed) -> Result<AuditEvent, LogError> {
        let bus = |e: &dyn std::fmt::Display| LogError::Bus(format!("audit trail: {e}"));
        let id = {
            let mut digest = sha2::Sha256::new();
            digest.update(serde_json::to_vec(replayed).expect("an audit record serialises"));
            digest.update(std::process::id().to_le_bytes());
            digest.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
            hex::encode(&digest.finalize()[..16])
        };
        let (subject, headers, body) = encode(replayed, &id);
        let ack = self
            .log
            .js
            .publish_with_headers(subject, headers, body.into())
            .await
            .map_err(|e| bus(&e))?
            .await
            .map_err(|e| bus(&e))?;
        Ok(AuditEvent {
            sequence: ack.sequence,
            id,
            replayed: replayed.clone(),
        })
    }

    /// The audit events `filter` selects, in the order they were recorded.
    pub async fn read(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, LogError> {
        history::by_subject(
            &self.log.client,
            AUDIT_STREAM,
            &filter.subject(),
            "audit trail",
            |headers, payload| {
                let sequence = headers
                    .get("Nats-Sequence")
                    .and_then(|v| v.as_str().parse().ok())
                    .unwrap_or(0);
                decode(sequence, headers, payload).map_err(|reason| {
                    LogError::Bus(format!("audit event {sequence} cannot be read: {reason}"))
                })
            },
        )
        .await
    }
}

/// The message recording `replayed` as audit event `id`: its subject, its CloudEvents headers
/// (binary mode, as the pathways' events) and its JSON body.
pub fn encode(replayed: &Replayed, id: &str) -> (String, HeaderMap, Vec<u8>) {
    let body = serde_json::to_vec(replayed).expect("an audit record serialises");
    let mut headers = HeaderMap::new();
    headers.insert(codec::SPECVERSION, "1.0");
    headers.insert(codec::ID, id);
    headers.insert(codec::TYPE, HISTORY_REPLAYED);
    headers.insert(codec::SOURCE, replayed.viewer.to_string().as_str());
    headers.insert(codec::SUBJECT, replayed.pathway.as_str());
    headers.insert(
        codec::TIME,
        replayed
            .at
            .format(&Rfc3339)
            .expect("times within year 0-9999 always format")
            .as_str(),
    );
    headers.insert(codec::CONTENT_TYPE, "application/json");
    headers.insert(codec::OPERATOR, replayed.operator.as_str());
    headers.insert(NATS_MESSAGE_ID, id);
    let subject = AuditFilter {
        viewer: Some(replayed.viewer.clone()),
        pathway: Some(replayed.pathway.clone()),
    }
    .subject();
    (subject, headers, body)
}

/// An audit event read back from the message stored at `sequence`; why not, if it cannot be.
pub fn decode(sequence: u64, headers: &HeaderMap, payload: &[u8]) -> Result<AuditEvent, String> {
    let id = headers
        .get(codec::ID)
        .ok_or_else(|| format!("no {} header", codec::ID))?
        .to_string();
    let replayed = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    Ok(AuditEvent {
        sequence,
        id,
        replayed,
    })
}
