//! Entries, parties and stores for the tests: a fresh store on disk in a temporary directory, and
//! deterministic entry streams shaped like a party's inbox (several pathways interleaved, waits
//! that move between parties, events delivered twice, earlier events handed over late).

use std::path::Path;

use raccordo_domain::ids::{AmbitoCode, EventId, OrgId, PathwayId, PathwayKind};
use raccordo_domain::routing::View;
use raccordo_projections::{InboxEntry, Opened, ProjectionStore, SledStore};
use serde_json::json;
use tempfile::TempDir;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

pub const START: OffsetDateTime = datetime!(2025-03-03 9:00 UTC);
pub const ME: &str = "asst:705";
pub const COMUNE: &str = "comune:magenta";
pub const ENTE: &str = "ente:ipis";
pub const AMBITI: [&str; 2] = ["50032", "50017"];
pub const STATUSES: [&str; 5] = ["requested", "received", "assessed", "planned", "closed"];

pub fn me() -> OrgId {
    ME.parse().unwrap()
}

pub fn orgs(texts: &[&str]) -> Vec<OrgId> {
    texts.iter().map(|t| t.parse().unwrap()).collect()
}

pub fn ambito(text: &str) -> AmbitoCode {
    text.parse().unwrap()
}

pub fn pathway(kind: PathwayKind, n: u64) -> PathwayId {
    format!("{}-{n:020x}", kind.prefix()).parse().unwrap()
}

pub fn dp(n: u64) -> PathwayId {
    pathway(PathwayKind::DimissioneProtetta, n)
}

pub fn event_id(source_sequence: u64) -> EventId {
    format!("{source_sequence:032x}").parse().unwrap()
}

pub fn minutes(n: u64) -> OffsetDateTime {
    START + Duration::minutes(n as i64)
}

/// The entry of log event `source` of `pathway` at inbox position `inbox`, at minute `source`,
/// waiting on nobody; tests change what they need with struct update syntax.
pub fn entry(inbox: u64, source: u64, pathway: &PathwayId) -> InboxEntry {
    InboxEntry {
        inbox_sequence: inbox,
        source_sequence: source,
        event_id: event_id(source),
        event_type: format!("raccordo.{}.step.v1", pathway.kind().subject_token()),
        pathway: pathway.clone(),
        time: minutes(source),
        source: ME.into(),
        operator: Some("cot.operatore".into()),
        command_id: Some(format!("cmd-{source}")),
        view: View::Full,
        status: STATUSES[0].into(),
        ambito: ambito(AMBITI[0]),
        waiting_on: Vec::new(),
        body: json!({
            "pathway": pathway.as_str(),
            "note": {"seq": source, "list": [source, "x", {"b": true, "a": null}]},
        }),
    }
}

/// A fresh store of `ME` in a new temporary directory (kept alive by the returned guard).
pub fn fresh() -> (TempDir, SledStore) {
    let tmp = tempfile::tempdir().unwrap();
    let (store, opened) = SledStore::open(&tmp.path().join("store"), &me()).unwrap();
    assert_eq!(opened, Opened::Created);
    (tmp, store)
}

pub fn reopen(dir: &Path) -> (SledStore, Opened) {
    SledStore::open(dir, &me()).unwrap()
}

/// The digest of a clean store fed `entries` in one batch.
pub fn clean_digest(entries: &[InboxEntry]) -> String {
    let (_tmp, store) = fresh();
    store.apply(entries).unwrap();
    store.digest().unwrap()
}

/// A tiny deterministic generator (xorshift64*), so that a child process and its parent, or two
/// runs, build the same stream without a random-number crate.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// What the next position of an inbox carries.
#[derive(Debug, Clone, Copy)]
pub enum Op {
    /// A new event of pathway `pathway` (an index into a small pool), delivered now.
    Event {
        pathway: u16,
        status: u8,
        waiting: u8,
    },
    /// A new event held back, to be handed over later (a backfill).
    Hold {
        pathway: u16,
        status: u8,
        waiting: u8,
    },
    /// The oldest held event, handed over now.
    Release,
    /// An already delivered event, delivered again (index into the delivered ones).
    Again(u16),
}

const WAITS: [&[&str]; 5] = [&[], &[ME], &[COMUNE], &[ME, COMUNE], &[COMUNE, ME, ME]];

/// The inbox `ops` describe: positions 1, 2, … in order; log sequences rising with each new event.
pub fn inbox(ops: &[Op]) -> Vec<InboxEntry> {
    let mut entries: Vec<InboxEntry> = Vec::new();
    let mut held = std::collections::VecDeque::new();
    let mut source = 0;
    let mut new_event = |pathway: u16, status: u8, waiting: u8| {
        source += 1;
        let kind = PathwayKind::ALL[usize::from(pathway) % 3];
        let id = self::pathway(kind, u64::from(pathway));
        InboxEntry {
            status: STATUSES[usize::from(status) % STATUSES.len()].into(),
            waiting_on: orgs(WAITS[usize::from(waiting) % WAITS.len()]),
            ambito: ambito(AMBITI[usize::from(pathway) % 2]),
            ..entry(0, source, &id)
        }
    };
    for op in ops {
        let next = match *op {
            Op::Event {
                pathway,
                status,
                waiting,
            } => Some(new_event(pathway, status, waiting)),
            Op::Hold {
                pathway,
                status,
                waiting,
            } => {
                held.push_back(new_event(pathway, status, waiting));
                None
            }
            Op::Release => held.pop_front(),
            Op::Again(n) => {
                (!entries.is_empty()).then(|| entries[usize::from(n) % entries.len()].clone())
            }
        };
        if let Some(mut next) = next {
            next.inbox_sequence = entries.len() as u64 + 1;
            entries.push(next);
        }
    }
    entries
}

/// A deterministic inbox of `n` entries over about `n / 8` pathways.
pub fn stream(seed: u64, n: usize) -> Vec<InboxEntry> {
    let mut rng = Rng::new(seed);
    let pool = (n as u64 / 8).clamp(1, u64::from(u16::MAX));
    let mut ops = Vec::with_capacity(n + n / 10);
    let (mut len, mut held) = (0, 0);
    while len < n {
        let pathway = rng.below(pool) as u16;
        let status = rng.below(5) as u8;
        let waiting = rng.below(5) as u8;
        let op = match rng.below(100) {
            0..=3 if len > 0 => Op::Again(rng.below(u64::from(u16::MAX)) as u16),
            4..=6 => Op::Hold {
                pathway,
                status,
                waiting,
            },
            7..=9 => Op::Release,
            _ => Op::Event {
                pathway,
                status,
                waiting,
            },
        };
        match op {
            Op::Hold { .. } => held += 1,
            Op::Release if held == 0 => {}
            Op::Release => {
                held -= 1;
                len += 1;
            }
            Op::Event { .. } | Op::Again(_) => len += 1,
        }
        ops.push(op);
    }
    inbox(&ops)
}
