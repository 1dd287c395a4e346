//! Filling a log for a benchmark by the fastest honest means. The events are the ones raccordo
//! would append: the demo scenario's commands (those it expects to be applied), turned into
//! domain commands exactly as the gateway turns their gRPC requests, decided by the domain on the
//! pathway's state at the step's moment; with, if asked, the receipt of every event by each party
//! that takes part and received it in full, as a party's case software acknowledges what reaches
//! its inbox. They are published raw (no per-pathway concurrency check, many acknowledgements in
//! flight) on a server left to its lazy default, which the suites restart with `sync_interval:
//! always` before measuring.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::{Context as _, anyhow};
use raccordo_domain::identity::SubjectKey;
use raccordo_domain::ids::{OrgId, OrgKind, PathwayId};
use raccordo_domain::pathway::receipt::Acknowledge;
use raccordo_domain::pathway::{self, Actor, Context, Decision, Event, Pathway, RecordedEvent};
use raccordo_domain::registry::Registry;
use raccordo_domain::routing::{self, View};
use raccordo_eventlog::EventLog;
use raccordo_eventlog::raw::RawMessage;
use time::{Date, Duration};
use tokio::sync::mpsc;

use super::say;
use crate::demo::driver::wire;
use crate::demo::scenario::{self, Calendar, Command, Expect, PathwayPlan};
use crate::state::operator_of;

/// Pathways generated at a time.
const CHUNK: usize = 1_000;
/// Acknowledgements in flight while filling.
const WINDOW: usize = 4_096;

/// Makes pathways of the demo scenario into events, chunk after chunk.
#[derive(Debug)]
pub(crate) struct Generator {
    registry: &'static Registry,
    key: SubjectKey,
    seed: u64,
    calendar: Calendar,
    receipts: bool,
    chunk: u64,
    sequence: u64,
}

/// One pathway's events, in order.
#[derive(Debug)]
pub(crate) struct Generated {
    pub events: Vec<Event>,
}

impl Generator {
    /// Pathways over `days` days from `start`, with the receipts of their events if `receipts`.
    pub fn new(seed: u64, start: Date, days: u32, receipts: bool) -> Self {
        Self {
            registry: Registry::embedded(),
            key: SubjectKey::from_bytes(&[0x5a; SubjectKey::MIN_BYTES])
                .expect("a key of the minimum length"),
            seed,
            calendar: Calendar { start, days },
            receipts,
            chunk: 0,
            sequence: 0,
        }
    }

    /// The next `n` pathways, laid out as `shape` asks.
    pub fn pathways(&mut self, n: usize, shape: Shape) -> anyhow::Result<Vec<Generated>> {
        self.chunk += 1;
        let scenario = scenario::generate(
            self.seed.wrapping_add(self.chunk.wrapping_mul(7919)),
            n,
            self.calendar,
        );
        let run = format!("s{}b{}", self.seed, self.chunk);
        let limit = match shape {
            Shape::Whole => usize::MAX,
            Shape::Openings => 1,
        };
        scenario
            .pathways
            .iter()
            .map(|plan| self.play(plan, &run, limit))
            .collect()
    }

    /// Decides a pathway's steps one after the other, up to `limit` steps.
    fn play(&mut self, plan: &PathwayPlan, run: &str, limit: usize) -> anyhow::Result<Generated> {
        let mut state: Option<Pathway> = None;
        let mut events = Vec::new();
        let steps = plan
            .steps
            .iter()
            .filter(|s| s.expect == Expect::Appended && s.command != Command::ReadPathway)
            .take(limit);
        for step in steps {
            let id = state.as_ref().map(|p| p.id.to_string());
            let request = wire(step, id.as_deref(), run)
                .ok_or_else(|| anyhow!("step {} is no command", step.command_id))?;
            let command = request
                .to_command(&self.key)
                .map_err(|v| anyhow!("step {} is not a valid command: {v:?}", step.command_id))?;
            let org: OrgId = step.by.parse().map_err(|e| anyhow!("{}: {e}", step.by))?;
            let now = self.calendar.instant(step.at);
            let event = self.decide(state.as_ref(), &command, org, now)?;
            state = Some(self.apply(state, &event)?);
            events.push(event.clone());
            if self.receipts {
                let after = state.as_ref().expect("just applied");
                let pathway_id = after.id.clone();
                let parties: Vec<OrgId> = routing::route(after, &event, self.registry)
                    .into_iter()
                    .filter(|d| {
                        d.view == View::Full
                            && d.party != event.actor.org
                            && d.party.kind() != OrgKind::Ats
                    })
                    .map(|d| d.party)
                    .collect();
                for (i, party) in parties.into_iter().enumerate() {
                    let delivered = now + Duration::seconds(30);
                    self.sequence += 1;
                    let ack = Acknowledge::command(
                        pathway_id.clone(),
                        event.id.clone(),
                        self.sequence,
                        delivered,
                    );
                    let at = now + Duration::minutes(2 + i as i64);
                    let receipt = self.decide(state.as_ref(), &ack, party, at)?;
                    state = Some(self.apply(state, &receipt)?);
                    events.push(receipt);
                }
            }
        }
        anyhow::ensure!(
            state.is_some(),
            "pathway #{} has no step to apply",
            plan.number
        );
        Ok(Generated { events })
    }

    fn decide(
        &self,
        state: Option<&Pathway>,
        command: &pathway::Command,
        org: OrgId,
        now: time::OffsetDateTime,
    ) -> anyhow::Result<Event> {
        let actor = Actor {
            operator: operator_of(&org),
            org,
        };
        let ctx = Context {
            actor: &actor,
            now,
            registry: self.registry,
        };
        match pathway::decide(state, command, &ctx) {
            Ok(Decision::Append(event)) => Ok(event),
            Ok(Decision::AlreadyApplied(_)) => Err(anyhow!(
                "command {} was applied already",
                command.id.as_str()
            )),
            Err(rejection) => Err(anyhow!(
                "the domain refused command {} by {}: {rejection}",
                command.id.as_str(),
                actor.org
            )),
        }
    }

    fn apply(&mut self, state: Option<Pathway>, event: &Event) -> anyhow::Result<Pathway> {
        self.sequence += 1;
        let recorded = RecordedEvent {
            sequence: self.sequence,
            event: event.clone(),
        };
        Ok(Pathway::evolve(state, &recorded)?)
    }
}

/// What a fill published.
#[derive(Debug, Default)]
pub(crate) struct Filled {
    pub events: u64,
    /// Events per pathway, for the pathways that have any.
    pub pathways: Vec<(PathwayId, u32)>,
    /// Bytes published: subjects, headers and payloads.
    pub bytes: u64,
    pub seconds: f64,
}

/// How a chunk of pathways is laid out in the log.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape {
    /// Whole pathways, their events interleaved in time order as a log holds them.
    Whole,
    /// Only the event that opens each pathway.
    Openings,
}

/// Publishes `events` generated events (exactly: the last chunk is cut) on `log`, with a progress
/// line every so often. Generation runs on a thread of its own, ahead of publishing.
pub(crate) async fn fill(
    log: &EventLog,
    mut generator: Generator,
    shape: Shape,
    events: u64,
) -> anyhow::Result<Filled> {
    let started = Instant::now();
    let (tx, mut rx) = mpsc::channel::<anyhow::Result<Vec<Event>>>(4);
    let producer = std::thread::spawn(move || {
        let mut made = 0u64;
        while made < events {
            let batch = generator.pathways(CHUNK, shape).map(|pathways| {
                let mut batch: Vec<Event> = pathways.into_iter().flat_map(|p| p.events).collect();
                batch.sort_by_key(|e| e.time);
                batch.truncate(usize::try_from(events - made).unwrap_or(usize::MAX));
                batch
            });
            let failed = batch.is_err();
            made += batch.as_ref().map_or(0, |b| b.len() as u64);
            if tx.blocking_send(batch).is_err() || failed {
                break;
            }
        }
    });
    let raw = log.raw();
    let mut filled = Filled::default();
    let mut counts: HashMap<PathwayId, u32> = HashMap::new();
    let mut order: Vec<PathwayId> = Vec::new();
    let mut next_report = Instant::now();
    while let Some(batch) = rx.recv().await {
        let batch = batch.context("generating the fill's events")?;
        let mut messages = Vec::with_capacity(batch.len());
        for event in &batch {
            let count = counts.entry(event.pathway.clone()).or_insert_with(|| {
                order.push(event.pathway.clone());
                0
            });
            *count += 1;
            let message = RawMessage::of_event(event);
            filled.bytes += message.size() as u64;
            messages.push(message);
        }
        filled.events += messages.len() as u64;
        raw.publish_all(messages, WINDOW).await?;
        if Instant::now() >= next_report {
            say(format!(
                "filled {} of {events} events ({:.0} events/s)",
                filled.events,
                filled.events as f64 / started.elapsed().as_secs_f64()
            ));
            next_report = Instant::now() + std::time::Duration::from_secs(10);
        }
    }
    producer
        .join()
        .map_err(|_| anyhow!("the event generator panicked"))?;
    filled.pathways = order
        .into_iter()
        .map(|id| {
            let n = counts[&id];
            (id, n)
        })
        .collect();
    filled.seconds = started.elapsed().as_secs_f64();
    Ok(filled)
}
