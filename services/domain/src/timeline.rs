//! A pathway's timeline as one party may see it for one purpose: one lane per organisation, with
//! what it did, when the pathway waited on it and for how long, the protocol's deadlines it was
//! responsible for (met, late, pending or overdue) and the reconciler's findings about it. It is
//! what an operator reads to answer "what happened to this pathway, who was waiting on whom, and
//! since when?".
//!
//! Pure, like the rest of the domain: built from the pathway's history (the log's events, in
//! order), the rules the reconciler uses and the instant open waits and deadlines are measured at.
//!
//! **What a viewer may see.** The events shown are exactly those the router gives the viewer
//! ([`routing::holdings`]), in the view it gives them; a viewer that holds nothing of the pathway
//! gets [`Refusal::NotHeld`], the same answer whether or not the pathway exists. The purpose
//! narrows further, never widens:
//! - [`Purpose::Care`], for the organisations taking part: what each one did and the content of the
//!   events;
//! - [`Purpose::Audit`], for them too: the same, and for each event who acted (the operator), the
//!   command id and the event's log position, to find out what happened;
//! - [`Purpose::Governance`], for anyone holding the pathway, and the only one for an ATS: the
//!   aggregate view, with no person, no free text, no operator, and lanes named by the kind of
//!   organisation only.
//!
//! Waits and deadlines are computed from the whole history (they are facts of the protocol, not of
//! one party's copy), findings are the finding events the viewer holds.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::ids::{AmbitoCode, EventId, OperatorId, OrgId, PathwayId, PathwayKind};
use crate::pathway::finding::{FindingKind, StepRef};
use crate::pathway::{EventData, Pathway, RecordedEvent};
use crate::reconcile::{Book, OpenStep, Rulebook};
use crate::routing::{self, View};

/// Why a history is read: every replay of a history names one, and it decides what is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Carrying on the care of the person: the events' content.
    Care,
    /// Finding out what happened: the content and who acted, with which command.
    Audit,
    /// Monitoring and programming: the aggregate view only.
    Governance,
}

impl Purpose {
    pub const ALL: [Self; 3] = [Self::Care, Self::Audit, Self::Governance];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Care => "care",
            Self::Audit => "audit",
            Self::Governance => "governance",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Purpose {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("'{s}' is not a purpose: use care, audit or governance"))
    }
}

/// Why a viewer is not shown a timeline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The viewer holds no event of the pathway (or there is no such pathway: the answer is the
    /// same, so that it says nothing about pathways the viewer has no part in).
    #[error("{viewer} holds no event of pathway {pathway}")]
    NotHeld { viewer: OrgId, pathway: PathwayId },
    /// The viewer sees the pathway in the aggregate view only (an ATS) and asked for more.
    #[error(
        "{viewer} sees pathway {pathway} in the aggregate view only: its history can be replayed \
         for governance, not for {purpose}"
    )]
    AggregateOnly {
        viewer: OrgId,
        pathway: PathwayId,
        purpose: Purpose,
    },
}

/// A pathway's timeline as one viewer may see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    pub pathway: PathwayId,
    pub kind: PathwayKind,
    pub ambito: AmbitoCode,
    /// Where the pathway stands after its whole history.
    pub status: String,
    pub viewer: OrgId,
    pub purpose: Purpose,
    /// The view the events are shown in: `full`, or `aggregate` for governance.
    pub view: View,
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// The instant open waits and deadlines are measured at.
    #[serde(with = "time::serde::rfc3339")]
    pub as_of: OffsetDateTime,
    /// The lanes the pathway waits on now, sorted.
    pub waiting_on: Vec<String>,
    /// One per organisation, in the order they first appear in the history.
    pub lanes: Vec<Lane>,
}

/// One organisation's part in a pathway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lane {
    /// The organisation, `kind:code`; its kind alone in the aggregate view.
    pub org: String,
    /// What it did, in log order.
    pub acts: Vec<Act>,
    /// When the pathway waited on it.
    pub waits: Vec<Wait>,
    /// The protocol's steps it was responsible for, in the order they opened.
    pub deadlines: Vec<Deadline>,
    /// The findings about it, in log order.
    pub findings: Vec<Mark>,
}

/// One event, as the viewer may see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Act {
    /// The event's position in the log.
    pub sequence: u64,
    pub event_id: EventId,
    /// The CloudEvents type, e.g. `raccordo.dimissione_protetta.requested.v1`.
    pub event_type: String,
    /// The event's name within its kind, e.g. `requested`.
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The event's data as the viewer may see it.
    pub data: Value,
    /// Who acted and with which command: for an audit only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
}

/// Who acted, for an audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    pub operator: String,
    pub command_id: String,
}

/// A stretch of time the pathway waited on one organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wait {
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    /// `None`: it still waits.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub until: Option<OffsetDateTime>,
    /// Until `until`, or until the timeline's `as_of` while it still waits.
    pub minutes: u64,
}

/// How a step's deadline stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Closed before its deadline (or closed with no deadline to meet).
    Met,
    /// Closed at or after its deadline.
    Late,
    /// Open, its deadline still ahead.
    Pending,
    /// Open past its deadline.
    Overdue,
    /// Open, counting from a date the pathway does not carry yet.
    Undated,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Met => "met",
            Self::Late => "late",
            Self::Pending => "pending",
            Self::Overdue => "overdue",
            Self::Undated => "undated",
        }
    }

    /// Whether the deadline was or is breached.
    pub fn is_breach(self) -> bool {
        matches!(self, Self::Late | Self::Overdue)
    }
}

/// A step of the protocol in force, with its deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    pub step: StepRef,
    /// What a breach is reported as.
    pub finding: FindingKind,
    /// The event that opened the step.
    pub opened_by: EventId,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub due: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
    /// The event that closed the step (the pathway's end closes every open step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<EventId>,
    pub outcome: Outcome,
}

/// A finding of the reconciler, as recorded in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// The finding event's position in the log.
    pub sequence: u64,
    pub event_id: EventId,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
    pub finding: FindingKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<StepRef>,
    /// The event it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<EventId>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub due: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waited_minutes: Option<u64>,
    /// The other pathway of a possible duplicate or a readmission; never in the aggregate view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related_pathway: Option<PathwayId>,
}

/// Through what a history was replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// gRPC `Pathways.History`.
    Grpc,
    /// The operator console's pathway page.
    Console,
    /// `raccordo replay pathway` on the command line.
    Cli,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::Console => "console",
            Self::Cli => "cli",
        }
    }
}

/// One replay of a pathway's history, as the audit trail records it: who asked, for which
/// organisation, for which purpose, when, through what, and whether it was shown
/// (ARCHITECTURE.md invariant 5: every replay of a history is recorded, refused ones too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Replayed {
    /// The pathway whose history was asked for.
    pub pathway: PathwayId,
    /// The organisation the history was replayed for: what it may see decides what was shown.
    pub viewer: OrgId,
    /// Who asked, for the viewer: the operator of the gRPC caller's token, of the console's
    /// session, or named on the command line.
    pub operator: OperatorId,
    pub purpose: Purpose,
    pub via: Via,
    /// When it was replayed: the instant open waits and deadlines were measured at.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(schema_with = "crate::pathway::date_time_schema")]
    pub at: OffsetDateTime,
    /// Absent: the timeline was shown; otherwise why it was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub refused: Option<String>,
    /// How many events the viewer was shown: acts and findings (0 when refused).
    pub events_shown: u64,
}

/// The CloudEvents type of the audit event recording a [`Replayed`].
pub const HISTORY_REPLAYED: &str = "raccordo.audit.history_replayed.v1";

impl Replayed {
    /// The JSON Schema of the audit event's body, as published in `contracts/events/`.
    pub fn schema() -> Schema {
        let mut schema = schemars::SchemaGenerator::default().into_root_schema_for::<Self>();
        schema.insert(
            "$id".into(),
            format!("{HISTORY_REPLAYED}.schema.json").into(),
        );
        schema.insert("title".into(), HISTORY_REPLAYED.into());
        schema
    }

    /// The record of `actor` replaying `pathway` for `purpose` at `at`, with what came of it.
    pub fn of(
        pathway: &PathwayId,
        actor: &crate::pathway::Actor,
        purpose: Purpose,
        via: Via,
        at: OffsetDateTime,
        result: &Result<Timeline, Refusal>,
    ) -> Self {
        let (refused, events_shown) = match result {
            Ok(timeline) => (None, timeline.events_shown()),
            Err(refusal) => (Some(refusal.to_string()), 0),
        };
        Self {
            pathway: pathway.clone(),
            viewer: actor.org.clone(),
            operator: actor.operator.clone(),
            purpose,
            via,
            at,
            refused,
            events_shown,
        }
    }
}

impl Timeline {
    /// How many events the timeline shows: acts and findings.
    pub fn events_shown(&self) -> u64 {
        self.lanes
            .iter()
            .map(|l| (l.acts.len() + l.findings.len()) as u64)
            .sum()
    }
}

/// The timeline of `pathway`, whose whole history is `history` (in log order; empty if there is
/// no such pathway), as `viewer` may see it for `purpose`, with open waits and deadlines measured
/// at `as_of`.
pub fn build(
    rules: Rulebook<'_>,
    pathway: &PathwayId,
    history: &[RecordedEvent],
    viewer: &OrgId,
    purpose: Purpose,
    as_of: OffsetDateTime,
) -> Result<Timeline, Refusal> {
    let pathway_id = pathway.clone();
    let not_held = || Refusal::NotHeld {
        viewer: viewer.clone(),
        pathway: pathway_id.clone(),
    };
    let held = routing::holdings(history, rules.registry)
        .remove(viewer)
        .filter(|held| !held.is_empty())
        .ok_or_else(not_held)?;
    let given = held[0].view;
    if given == View::Aggregate && purpose != Purpose::Governance {
        return Err(Refusal::AggregateOnly {
            viewer: viewer.clone(),
            pathway: pathway_id,
            purpose,
        });
    }
    let view = if purpose == Purpose::Governance {
        View::Aggregate
    } else {
        given
    };

    let mut lanes = Lanes { view, all: vec![] };
    let by_sequence: HashMap<u64, &RecordedEvent> =
        history.iter().map(|r| (r.sequence, r)).collect();
    let actor_of: HashMap<&EventId, &OrgId> = history
        .iter()
        .map(|r| (&r.event.id, &r.event.actor.org))
        .collect();
    // The acts and findings the viewer holds, in log order.
    for h in &held {
        let Some(recorded) = by_sequence.get(&h.sequence) else {
            continue;
        };
        let event = &recorded.event;
        if view == View::Aggregate && !routing::is_for(event, viewer, View::Aggregate) {
            continue;
        }
        if let EventData::Finding(_, finding) = &event.data {
            let about = finding.event_id.as_ref().and_then(|id| actor_of.get(id));
            let Some(org) = finding.party.as_ref().or(about.copied()) else {
                continue;
            };
            lanes.of(org).findings.push(Mark {
                sequence: recorded.sequence,
                event_id: event.id.clone(),
                recorded_at: event.time,
                finding: finding.finding,
                step: finding.step.clone(),
                about: finding.event_id.clone(),
                due: finding.due,
                waited_minutes: finding.waited_minutes,
                related_pathway: finding
                    .related_pathway
                    .clone()
                    .filter(|_| view == View::Full),
            });
            continue;
        }
        let data = if view == h.view {
            h.body.clone()
        } else {
            routing::view_of(event, view)
        };
        let provenance = (purpose == Purpose::Audit).then(|| Provenance {
            operator: event.actor.operator.to_string(),
            command_id: event.command_id.to_string(),
        });
        lanes.of(&event.actor.org).acts.push(Act {
            sequence: recorded.sequence,
            event_id: event.id.clone(),
            event_type: event.data.event_type(),
            name: event.data.name().to_owned(),
            time: event.time,
            data,
            provenance,
        });
    }

    // Waits and deadlines, from the whole history.
    let mut state: Option<Pathway> = None;
    let mut waiting: Vec<(OrgId, OffsetDateTime)> = Vec::new();
    let mut book = Book::default();
    let mut steps: Vec<Deadline> = Vec::new();
    let mut responsible: Vec<OrgId> = Vec::new();
    for recorded in history {
        let Ok(after) = Pathway::evolve(state.take(), recorded) else {
            break;
        };
        let time = recorded.event.time;
        let now_waiting = after.state.waiting_on();
        for (org, since) in std::mem::take(&mut waiting) {
            if now_waiting.contains(&org) {
                waiting.push((org, since));
            } else {
                lanes.of(&org).waits.push(wait(since, Some(time), as_of));
            }
        }
        for org in now_waiting {
            if !waiting.iter().any(|(o, _)| *o == org) {
                waiting.push((org, time));
            }
        }
        state = Some(after);

        let before = open_steps(&book, &pathway_id);
        book.observe(rules, recorded);
        let after = open_steps(&book, &pathway_id);
        for step in &before {
            let key = (&step.step.step, &step.opened_by);
            let Some(index) = steps
                .iter()
                .position(|d| (&d.step.step, &d.opened_by) == key && d.closed_at.is_none())
            else {
                continue;
            };
            match after.iter().find(|s| (&s.step.step, &s.opened_by) == key) {
                Some(still) => steps[index].due = still.due,
                None => {
                    steps[index].closed_at = Some(time);
                    steps[index].closed_by = Some(recorded.event.id.clone());
                }
            }
        }
        for step in after.iter().filter(|s| {
            !before
                .iter()
                .any(|b| (&b.step.step, &b.opened_by) == (&s.step.step, &s.opened_by))
        }) {
            responsible.push(step.responsible.clone());
            steps.push(Deadline {
                step: step.step.clone(),
                finding: step.finding,
                opened_by: step.opened_by.clone(),
                since: step.since,
                due: step.due,
                closed_at: None,
                closed_by: None,
                outcome: Outcome::Pending,
            });
        }
    }
    for (org, since) in &waiting {
        lanes.of(org).waits.push(wait(*since, None, as_of));
    }
    for (mut deadline, org) in steps.into_iter().zip(responsible) {
        deadline.outcome = outcome(&deadline, as_of);
        lanes.of(&org).deadlines.push(deadline);
    }

    let Some(state) = state else {
        return Err(not_held());
    };
    let mut waiting_on: Vec<String> = waiting.iter().map(|(org, _)| lanes.name(org)).collect();
    waiting_on.sort();
    waiting_on.dedup();
    for lane in &mut lanes.all {
        lane.waits.sort_by_key(|w| w.since);
    }
    Ok(Timeline {
        kind: pathway_id.kind(),
        pathway: pathway_id,
        ambito: state.state.ambito().clone(),
        status: state.status().to_owned(),
        viewer: viewer.clone(),
        purpose,
        view,
        opened_at: state.opened_at,
        updated_at: state.updated_at,
        as_of,
        waiting_on,
        lanes: lanes.all,
    })
}

/// The lanes, in the order their organisations first appear.
struct Lanes {
    view: View,
    all: Vec<Lane>,
}

impl Lanes {
    fn name(&self, org: &OrgId) -> String {
        match self.view {
            View::Full => org.to_string(),
            View::Aggregate => org.kind().as_str().to_owned(),
        }
    }

    fn of(&mut self, org: &OrgId) -> &mut Lane {
        let name = self.name(org);
        let index = match self.all.iter().position(|lane| lane.org == name) {
            Some(index) => index,
            None => {
                self.all.push(Lane {
                    org: name,
                    acts: vec![],
                    waits: vec![],
                    deadlines: vec![],
                    findings: vec![],
                });
                self.all.len() - 1
            }
        };
        &mut self.all[index]
    }
}

fn open_steps(book: &Book, pathway: &PathwayId) -> Vec<OpenStep> {
    book.pathways
        .get(pathway)
        .map(|tracked| tracked.steps.clone())
        .unwrap_or_default()
}

fn wait(since: OffsetDateTime, until: Option<OffsetDateTime>, as_of: OffsetDateTime) -> Wait {
    let end = until.unwrap_or(as_of);
    Wait {
        since,
        until,
        minutes: u64::try_from((end - since).whole_minutes()).unwrap_or(0),
    }
}

fn outcome(deadline: &Deadline, as_of: OffsetDateTime) -> Outcome {
    match (deadline.closed_at, deadline.due) {
        (Some(closed), Some(due)) if closed >= due => Outcome::Late,
        (Some(_), _) => Outcome::Met,
        (None, None) => Outcome::Undated,
        (None, Some(due)) if due <= as_of => Outcome::Overdue,
        (None, Some(_)) => Outcome::Pending,
    }
}

#[cfg(test)]
mod tests;
