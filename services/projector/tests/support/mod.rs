//! A nats-server of the test's own with the event log and the inboxes on it, and events routed
//! into the inboxes with the router's own `InboxMessage`, so that they are exactly what the router
//! writes. Shared by the projector's tests and by `raccordo project`'s, which take it in with
//! `#[path]`: each uses its own part of it.

use std::path::Path;

use async_nats::HeaderMap;
use raccordo::nats::{EmbeddedNats, locate};
use raccordo_domain::ids::{AmbitoCode, OrgId, PathwayId, PathwayKind};
use raccordo_domain::pathway::{Actor, Event, EventData};
use raccordo_domain::routing::View;
use raccordo_eventlog::inbox::{self, Inbox, InboxMessage};
use raccordo_eventlog::{DEAD_REASON, EventLog, LogConfig};
use serde_json::json;
use time::OffsetDateTime;
use time::macros::datetime;

pub const START: OffsetDateTime = datetime!(2026-03-02 09:00 UTC);
/// The party whose projection the tests build.
pub const ME: &str = "asst:705";
/// Another party, and the one that acts in every event.
pub const COMUNE: &str = "comune:magenta";

pub fn org(text: &str) -> OrgId {
    text.parse().unwrap()
}

/// Pathway `n`, of the kind `n` picks.
pub fn pathway(n: u64) -> PathwayId {
    let kind = PathwayKind::ALL[(n % 3) as usize];
    format!("{}-{n:020x}", kind.prefix()).parse().unwrap()
}

/// Event `source` of pathway `n`: its id is `source` in hex, its time `source` minutes after
/// `START`.
pub fn event(source: u64, n: u64) -> Event {
    let pathway = pathway(n);
    let data = match pathway.kind() {
        PathwayKind::DimissioneProtetta => EventData::from_type_and_body(
            "raccordo.dimissione_protetta.received.v1",
            json!({"received_by": COMUNE}),
        ),
        PathwayKind::Pua => {
            EventData::from_type_and_body("raccordo.pua.uvm_requested.v1", json!({}))
        }
        PathwayKind::CentroFamiglia => {
            EventData::from_type_and_body("raccordo.centro_famiglia.accepted.v1", json!({}))
        }
    }
    .unwrap();
    Event {
        id: format!("{source:032x}").parse().unwrap(),
        pathway,
        command_id: format!("cmd-{source}").parse().unwrap(),
        command_digest: "00".into(),
        actor: Actor {
            org: org(COMUNE),
            operator: "servizio.sociale".parse().unwrap(),
        },
        time: START + time::Duration::minutes(source as i64),
        data,
    }
}

/// One event as the router hands it to its parties; tests change the fields they need.
pub struct Routed {
    /// The log sequence of the event.
    pub source: u64,
    pub event: Event,
    pub body: serde_json::Value,
    pub parties: Vec<(OrgId, View)>,
    pub status: &'static str,
    pub waiting_on: Vec<OrgId>,
    pub ambito: AmbitoCode,
}

impl Routed {
    /// Event `source` of pathway `n` for `parties`, each with the full view: received, waiting
    /// on `ME`, in ambito 50032.
    pub fn new(source: u64, n: u64, parties: &[&str]) -> Self {
        let event = event(source, n);
        Self {
            source,
            body: event.data.to_body(),
            event,
            parties: parties.iter().map(|p| (org(p), View::Full)).collect(),
            status: "received",
            waiting_on: vec![org(ME)],
            ambito: "50032".parse().unwrap(),
        }
    }

    fn messages(&self) -> impl Iterator<Item = InboxMessage<'_>> {
        self.parties.iter().map(|(party, view)| InboxMessage {
            party,
            view: *view,
            event: &self.event,
            body: &self.body,
            source_sequence: self.source,
            routed_by: self.source,
            status: self.status,
            waiting_on: &self.waiting_on,
            ambito: &self.ambito,
        })
    }
}

/// A nats-server of the test's own, started the way `raccordo up` starts its embedded one, with
/// the event log and the inboxes on it.
pub struct Bus {
    /// A child process, killed when the test ends.
    server: EmbeddedNats,
    pub log: EventLog,
    pub inbox: Inbox,
    /// Log sequences handed out so far: every event gets the next one.
    pub source: u64,
}

impl Bus {
    /// A server whose data (and ports file) live under `<state>/nats`, where `raccordo up` keeps
    /// them for its state folder `state`.
    pub async fn start(state: &Path) -> Self {
        let binary = locate(None).expect("run scripts/nats-server.sh first");
        let server = EmbeddedNats::start(&binary, &state.join("nats"))
            .await
            .unwrap();
        let log = EventLog::connect(server.url(), LogConfig::default())
            .await
            .unwrap();
        let inbox = log.inbox().await.unwrap();
        Self {
            server,
            log,
            inbox,
            source: 0,
        }
    }

    /// Stops the server, as stopping `raccordo up` stops its embedded one.
    #[allow(dead_code)] // used by `raccordo project`'s tests only
    pub async fn stop(self) {
        self.server.stop().await;
    }

    /// The server's address, for a child process; the projector's tests reach it through the log.
    #[allow(dead_code)] // used by `raccordo project`'s tests only
    pub fn url(&self) -> &str {
        self.server.url()
    }

    /// The next event of pathway `n` for `parties`, as [`Routed::new`] makes it, not published.
    pub fn next(&mut self, n: u64, parties: &[&str]) -> Routed {
        self.source += 1;
        Routed::new(self.source, n, parties)
    }

    /// Publishes, as the router would, the next event of pathway `n` for each of `parties`, and
    /// returns the event.
    pub async fn event(&mut self, n: u64, parties: &[&str]) -> Event {
        let routed = self.next(n, parties);
        self.publish(std::slice::from_ref(&routed)).await;
        routed.event
    }

    /// Publishes `routed` in one pipelined batch, as the router would.
    pub async fn publish(&self, routed: &[Routed]) {
        let messages: Vec<InboxMessage<'_>> = routed.iter().flat_map(Routed::messages).collect();
        self.inbox.publish(&messages).await.unwrap();
    }

    /// Publishes on `party`'s inbox subject a message that is no inbox message: `headers` and
    /// nothing else beside the party's. Its inbox sequence.
    pub async fn garbage(&self, party: &str, headers: &[(&str, &str)]) -> u64 {
        let js = async_nats::jetstream::new(self.log.client().clone());
        let mut map = HeaderMap::new();
        map.insert(inbox::PARTY, party);
        for (name, value) in headers {
            map.insert(*name, *value);
        }
        let subject = inbox::inbox_subject(&org(party), PathwayKind::Pua);
        js.publish_with_headers(subject, map, "{\"not\": \"an event\"}".into())
            .await
            .unwrap()
            .await
            .unwrap()
            .sequence
    }

    /// The last inbox sequence, of any party.
    pub async fn last(&self) -> u64 {
        self.inbox.last_sequence().await.unwrap()
    }

    /// The inbox sequence of `party`'s last message.
    pub async fn last_of(&self, party: &str) -> u64 {
        self.inbox.last_sequence_of(&org(party)).await.unwrap()
    }

    /// The dead letters parked by `party`'s projector, as (inbox sequence, reason).
    pub async fn dead(&self, party: &str) -> Vec<(u64, String)> {
        let js = async_nats::jetstream::new(self.log.client().clone());
        let Ok(mut stream) = js.get_stream("RACCORDO_DEAD").await else {
            return Vec::new();
        };
        let last = stream.info().await.unwrap().state.last_sequence;
        let mut found = Vec::new();
        for sequence in 1..=last {
            let message = stream.get_raw_message(sequence).await.unwrap();
            if message.subject.as_str() != format!("raccordo.dead.projector:{party}") {
                continue;
            }
            let header = |name: &str| message.headers.get(name).unwrap().as_str().to_owned();
            found.push((
                header("raccordo-dead-sequence").parse().unwrap(),
                header(DEAD_REASON),
            ));
        }
        found
    }
}
