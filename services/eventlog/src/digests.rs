//! Projection digests: each projector says, pathway by pathway, what it holds (each entry's event
//! id, log sequence and a digest of what it stored), so that the reconciler can recompute what
//! the party should hold from the log and name the first event where the two part. They travel
//! in their own stream, `RACCORDO_DIGESTS`, one subject per party and pathway keeping only the
//! latest message: a digest is a statement about now, and only the last one matters.

use std::time::Duration;

use async_nats::jetstream::stream::{self, DiscardPolicy, StorageType};
use futures::{Stream, StreamExt};
use raccordo_domain::ids::{EventId, OrgId, PathwayId};
use serde::{Deserialize, Serialize};

use crate::{EventLog, LogError};

pub const DIGEST_STREAM: &str = "RACCORDO_DIGESTS";
pub const DIGEST_SUBJECTS: &str = "raccordo.digest";

/// One entry of a party's projection of a pathway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryDigest {
    pub event_id: EventId,
    pub sequence: u64,
    pub digest: String,
}

/// What a party's projection holds of one pathway, in log order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathwayDigest {
    pub party: OrgId,
    pub pathway: PathwayId,
    /// The party's inbox checkpoint when the digest was taken: everything before it is applied.
    pub checkpoint: u64,
    pub entries: Vec<EntryDigest>,
}

fn subject(party: &OrgId, pathway: &PathwayId) -> String {
    format!("{DIGEST_SUBJECTS}.{}.{pathway}", party.subject_token())
}

/// The digest stream, set up.
#[derive(Debug, Clone)]
pub struct Digests {
    log: EventLog,
}

impl EventLog {
    /// Sets up the digest stream if it is missing.
    pub async fn digests(&self) -> Result<Digests, LogError> {
        let config = stream::Config {
            name: DIGEST_STREAM.into(),
            description: Some(
                "raccordo: what each party's projection holds of each pathway (latest only)".into(),
            ),
            subjects: vec![format!("{DIGEST_SUBJECTS}.>")],
            storage: StorageType::File,
            num_replicas: self.config.replicas,
            max_messages_per_subject: 1,
            discard: DiscardPolicy::Old,
            max_age: Duration::from_secs(30 * 24 * 3600),
            ..Default::default()
        };
        self.js
            .get_or_create_stream(config)
            .await
            .map_err(|e| LogError::Stream {
                stream: DIGEST_STREAM.into(),
                reason: e.to_string(),
            })?;
        Ok(Digests { log: self.clone() })
    }
}

impl Digests {
    /// Publishes digests and waits until each is stored.
    pub async fn publish(&self, digests: &[PathwayDigest]) -> Result<(), LogError> {
        let bus = |e: &dyn std::fmt::Display| LogError::Bus(format!("digests: {e}"));
        let mut acks = Vec::with_capacity(digests.len());
        for digest in digests {
            let body = serde_json::to_vec(digest).expect("digests serialise");
            let ack = self
                .log
                .js
                .publish(subject(&digest.party, &digest.pathway), body.into())
                .await
                .map_err(|e| bus(&e))?;
            acks.push(ack);
        }
        for ack in acks {
            ack.await.map_err(|e| bus(&e))?;
        }
        Ok(())
    }

    /// Every digest held now, then each new one as it comes. A message that is not a digest is
    /// given as an error text, never stops the stream.
    pub async fn follow(
        &self,
    ) -> Result<impl Stream<Item = Result<Result<PathwayDigest, String>, LogError>> + use<>, LogError>
    {
        let messages = self
            .log
            .ordered(
                DIGEST_STREAM,
                format!("{DIGEST_SUBJECTS}.>"),
                1,
                "following the digests".into(),
            )
            .await?;
        Ok(messages.map(|message| {
            let (_, message) = message?;
            Ok(serde_json::from_slice::<PathwayDigest>(&message.payload)
                .map_err(|e| format!("{}: not a digest: {e}", message.subject)))
        }))
    }
}
