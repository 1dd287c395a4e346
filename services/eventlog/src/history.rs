//! A pathway's history through JetStream's batched direct get: the server walks its per-subject
//! index from a sequence and streams back up to a batch of the subject's messages, then an
//! end-of-batch marker. The cost depends on the pathway's length, not the log's; no consumer
//! is created (per-subject consumers on a high-cardinality stream are slow).

use std::time::Duration;

use futures::StreamExt;
use raccordo_domain::ids::PathwayId;
use raccordo_domain::pathway::RecordedEvent;

use crate::{LogError, codec};

/// Messages asked for per request; a typical pathway has 10 to 40 events.
const BATCH: usize = 256;
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) async fn read(
    client: &async_nats::Client,
    stream: &str,
    pathway: &PathwayId,
) -> Result<Vec<RecordedEvent>, LogError> {
    let what = format!("history of {pathway}");
    by_subject(
        client,
        stream,
        &codec::subject_of(pathway),
        &what,
        |headers, payload| {
            codec::decode_stored(headers, payload).map_err(|e| LogError::Decode {
                sequence: headers
                    .get("Nats-Sequence")
                    .and_then(|v| v.as_str().parse().ok())
                    .unwrap_or(0),
                source: e,
            })
        },
    )
    .await
}

/// Every message of `stream` on `subject` (wildcards allowed), in order, each read by `decode`
/// from its headers and payload; `what` names the read in errors. Ends at the last message stored
/// when the server answers: never waits for more.
pub(crate) async fn by_subject<T>(
    client: &async_nats::Client,
    stream: &str,
    subject: &str,
    what: &str,
    mut decode: impl FnMut(&async_nats::HeaderMap, &[u8]) -> Result<T, LogError>,
) -> Result<Vec<T>, LogError> {
    let api = format!("$JS.API.DIRECT.GET.{stream}");
    let bus = |e: &dyn std::fmt::Display| LogError::Bus(format!("{what}: {e}"));
    let mut items = Vec::new();
    let mut from = 1;
    loop {
        let inbox = client.new_inbox();
        let mut replies = client.subscribe(inbox.clone()).await.map_err(|e| bus(&e))?;
        let request = serde_json::json!({ "seq": from, "next_by_subj": subject, "batch": BATCH });
        client
            .publish_with_reply(api.clone(), inbox, request.to_string().into())
            .await
            .map_err(|e| bus(&e))?;
        let mut received = 0;
        let more = loop {
            let reply = tokio::time::timeout(REPLY_TIMEOUT, replies.next())
                .await
                .map_err(|_| bus(&"no reply within 10 s"))?
                .ok_or_else(|| bus(&"reply subscription closed"))?;
            match reply.status.map(|s| s.as_u16()) {
                // End of batch: the server says how many matching messages remain.
                Some(204) => {
                    let pending = reply
                        .headers
                        .as_ref()
                        .and_then(|h| h.get("Nats-Num-Pending"))
                        .and_then(|v| v.as_str().parse::<u64>().ok())
                        .unwrap_or(0);
                    break pending > 0;
                }
                // Nothing (more) on the subject.
                Some(404) => break false,
                Some(code) => {
                    return Err(bus(&format!(
                        "status {code} {}",
                        reply.description.unwrap_or_default()
                    )));
                }
                None => {
                    let headers = reply
                        .headers
                        .as_ref()
                        .ok_or_else(|| bus(&"a stored message came back without headers"))?;
                    let sequence: u64 = headers
                        .get("Nats-Sequence")
                        .and_then(|v| v.as_str().parse().ok())
                        .ok_or_else(|| bus(&"a stored message came back without its sequence"))?;
                    items.push(decode(headers, &reply.payload)?);
                    from = sequence + 1;
                    received += 1;
                }
            }
        };
        if !more || received == 0 {
            return Ok(items);
        }
    }
}
