//! Reconciliation, as a pure function of the log: follows every pathway across organisations,
//! opens and closes the steps of the protocol in force, keeps the deadlines, and says what it
//! finds. The reconciler service feeds it the log in order and records what it returns as
//! finding events; `raccordo reconcile --replay` feeds it the same log and compares.
//!
//! Time comes only from the log and from the caller: [`Book::observe`] first fires every deadline
//! that fell at or before the event's time (the latest event time seen, so the log's order decides;
//! a deadline is the first instant at which a step is late, so an act at that instant is late),
//! then applies the event; [`Book::fire`] fires deadlines up to an instant the caller vouches for
//! (the live service: its clock minus a margin, once it has read the whole log). Deadlines fire
//! in the order of their instant, then pathway, then step, so the same log gives the same
//! findings in the same order however it is cut into calls.
//!
//! Findings never depend on earlier findings read back from the log: what was found is kept in
//! the book. That is what lets a replay recompute them and compare.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::calendar::{Calendar, rome_date};
use crate::ids::{AmbitoCode, AsstCode, CentroId, ComuneId, EventId, OrgId, OrgKind, PathwayId};
use crate::ids::{PathwayKind, SubjectRef};
use crate::pathway::dimissione_protetta::{self as dp, Service};
use crate::pathway::finding::{Finding, FindingKind, StepRef};
use crate::pathway::{
    Actor, EventData, Participant, RecordedEvent, Role, centro_famiglia as cf, finding, pua,
};
use crate::protocol::{Condition, DateRef, Protocols, Rules, Step, responsible_org};
use crate::registry::Registry;

/// A finding to record on a pathway, in the name of `recorder`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub pathway: PathwayId,
    pub recorder: Actor,
    pub finding: Finding,
}

/// A step of a protocol, open on a pathway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenStep {
    pub step: StepRef,
    pub finding: FindingKind,
    /// The event that opened it.
    pub opened_by: EventId,
    pub since: OffsetDateTime,
    pub responsible: OrgId,
    /// `None`: the deadline counts from a date the pathway does not carry (yet).
    pub due: Option<OffsetDateTime>,
    /// Reported overdue already: closing it now is reported as closed late.
    pub breached: bool,
}

/// What the reconciler keeps of one pathway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracked {
    pub pathway: PathwayId,
    pub subject_ref: SubjectRef,
    pub residence: ComuneId,
    pub ambito: AmbitoCode,
    /// Where the pathway came from, for telling duplicates from retries: the ward, the PUA's
    /// access channel, the referrer.
    pub channel: String,
    pub asst: Option<AsstCode>,
    pub centro: Option<CentroId>,
    pub opened_at: OffsetDateTime,
    pub ended: bool,
    pub expected_discharge: Option<Date>,
    pub needs_sad: bool,
    pub sad_active: bool,
    pub discharged_on: Option<Date>,
    pub steps: Vec<OpenStep>,
}

/// The reconciler's whole memory: what it tracks, the deadlines, and what it has found. The
/// service keeps it in its own store; a replay builds it afresh.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Book {
    pub pathways: BTreeMap<PathwayId, Tracked>,
    /// Pending deadlines: (due, pathway, step id, opening event).
    pub deadlines: BTreeSet<(OffsetDateTime, PathwayId, String, EventId)>,
    /// Open pathways per person and kind, for possible duplicates.
    #[serde(with = "entries")]
    pub subjects: BTreeMap<(SubjectRef, PathwayKind), BTreeSet<PathwayId>>,
    /// The keys of every finding made.
    pub found: BTreeSet<(PathwayId, String)>,
    /// The latest event time seen: deadlines before it have fired.
    pub clock: Option<OffsetDateTime>,
    /// The last log sequence observed.
    pub sequence: u64,
}

/// What the reconciler needs besides the log.
#[derive(Debug, Clone, Copy)]
pub struct Rulebook<'a> {
    pub protocols: &'a Protocols,
    pub registry: &'a Registry,
    pub calendar: &'a Calendar,
}

/// The same, owned and shared: what a service keeps to build [`Rulebook`]s from.
#[derive(Debug, Clone)]
pub struct Ruleset {
    pub protocols: std::sync::Arc<Protocols>,
    pub registry: std::sync::Arc<Registry>,
    pub calendar: std::sync::Arc<Calendar>,
}

impl Ruleset {
    /// `protocols` on `registry`, with the embedded Italian calendar.
    pub fn new(protocols: Protocols, registry: std::sync::Arc<Registry>) -> Self {
        Self {
            protocols: std::sync::Arc::new(protocols),
            registry,
            calendar: std::sync::Arc::new(Calendar::embedded().clone()),
        }
    }

    pub fn book(&self) -> Rulebook<'_> {
        Rulebook {
            protocols: &self.protocols,
            registry: &self.registry,
            calendar: &self.calendar,
        }
    }
}

impl Book {
    /// Fires the deadlines up to the event's time, then applies the event. Returns what was
    /// found, in order. An event at or before the last sequence observed has been observed
    /// already: observing it again finds nothing and changes nothing.
    pub fn observe(&mut self, rules: Rulebook<'_>, recorded: &RecordedEvent) -> Vec<Found> {
        let Some(clock) = self.clock_at(recorded) else {
            return Vec::new();
        };
        let mut found = self.fire(rules, clock);
        self.clock = Some(clock);
        self.sequence = self.sequence.max(recorded.sequence);
        found.extend(self.apply(rules, recorded));
        found
    }

    /// Fires, `limit` findings at most, the deadlines that [`Book::observe`] would fire before
    /// taking `recorded` in: called until it finds fewer than `limit`, it leaves `observe` nothing
    /// to fire, and the findings come in the same order. The first event after a long quiet
    /// (the clock moved on by weeks) can have a great many deadlines behind it.
    pub fn fire_before(
        &mut self,
        rules: Rulebook<'_>,
        recorded: &RecordedEvent,
        limit: usize,
    ) -> Vec<Found> {
        match self.clock_at(recorded) {
            Some(clock) => self.fire_at_most(rules, clock, limit),
            None => Vec::new(),
        }
    }

    /// The clock once `recorded` is taken in (it never goes back), or `None` if it has been
    /// observed already.
    fn clock_at(&self, recorded: &RecordedEvent) -> Option<OffsetDateTime> {
        if recorded.sequence <= self.sequence {
            return None;
        }
        let time = recorded.event.time;
        Some(self.clock.map_or(time, |c| c.max(time)))
    }

    /// Fires every pending deadline at or before `until`, in order.
    pub fn fire(&mut self, rules: Rulebook<'_>, until: OffsetDateTime) -> Vec<Found> {
        self.fire_at_most(rules, until, usize::MAX)
    }

    /// Fires the pending deadlines at or before `until`, in order, until `limit` findings are
    /// made: the first part of what [`Book::fire`] would find, the rest left pending for the next
    /// call. A service with a month of deadlines falling due at once records and saves them a
    /// part at a time instead of holding them all.
    pub fn fire_at_most(
        &mut self,
        rules: Rulebook<'_>,
        until: OffsetDateTime,
        limit: usize,
    ) -> Vec<Found> {
        let mut found = Vec::new();
        while found.len() < limit
            && let Some(first) = self.deadlines.first().cloned()
        {
            if first.0 > until {
                break;
            }
            self.deadlines.remove(&first);
            let (due, pathway, step_id, opened_by) = first;
            let Some(tracked) = self.pathways.get_mut(&pathway) else {
                continue;
            };
            let Some(step) = tracked
                .steps
                .iter_mut()
                .find(|s| s.step.step == step_id && s.opened_by == opened_by)
            else {
                continue;
            };
            step.breached = true;
            let mut f = Finding::new(step.finding);
            f.step = Some(step.step.clone());
            f.event_id = Some(step.opened_by.clone());
            f.party = Some(step.responsible.clone());
            f.since = Some(step.since);
            f.due = Some(due);
            f.waited_minutes = Some(minutes(due - step.since));
            let recorder = recorder(rules, tracked);
            self.record(&mut found, pathway.clone(), recorder, f);
        }
        found
    }

    fn record(
        &mut self,
        found: &mut Vec<Found>,
        pathway: PathwayId,
        recorder: Option<Actor>,
        f: Finding,
    ) {
        let Some(recorder) = recorder else {
            return;
        };
        if self.found.insert((pathway.clone(), f.key())) {
            found.push(Found {
                pathway,
                recorder,
                finding: f,
            });
        }
    }

    fn apply(&mut self, rules: Rulebook<'_>, recorded: &RecordedEvent) -> Vec<Found> {
        let event = &recorded.event;
        let mut found = Vec::new();
        if event.data.is_finding() {
            return found;
        }
        let opened = open_tracked(event.pathway.clone(), &event.data, event.time);
        let id = event.pathway.clone();
        if let Some(tracked) = opened {
            self.opening(rules, &mut found, tracked, &event.id);
        }
        let Some(mut tracked) = self.pathways.remove(&id) else {
            return found;
        };
        let before_ended = tracked.ended;
        let checks = follow(&mut tracked, &event.data);
        let recorder_actor = recorder(rules, &tracked);
        let window = rules_in_force(rules, &tracked, event.time).readmission_window_days;
        for kind in checks.findings {
            let mut f = Finding::new(kind);
            f.event_id = Some(event.id.clone());
            if kind == FindingKind::Readmission {
                match checks.readmitted_after {
                    Some(after) if after.whole_days() <= i64::from(window) => {
                        f.waited_minutes = Some(minutes(after));
                    }
                    _ => continue,
                }
            }
            self.record(&mut found, id.clone(), recorder_actor.clone(), f);
        }
        // Close the steps this event closes (every step, once the pathway has ended).
        let mut still_open = Vec::new();
        for step in std::mem::take(&mut tracked.steps) {
            let closes = tracked.ended || closes_step(rules, &step, recorded, &tracked);
            if !closes {
                still_open.push(step);
                continue;
            }
            if let Some(due) = step.due {
                self.deadlines.remove(&(
                    due,
                    id.clone(),
                    step.step.step.clone(),
                    step.opened_by.clone(),
                ));
            }
            if step.breached {
                let mut f = Finding::new(FindingKind::OverdueStepClosed);
                f.step = Some(step.step.clone());
                f.event_id = Some(step.opened_by.clone());
                f.party = Some(step.responsible.clone());
                f.since = Some(step.since);
                f.due = step.due;
                f.closed_at = Some(event.time);
                f.waited_minutes = Some(minutes(event.time - step.since));
                self.record(&mut found, id.clone(), recorder_actor.clone(), f);
            }
        }
        tracked.steps = still_open;
        // A moved expected discharge date moves the deadlines that count from it.
        if checks.date_moved {
            let date = tracked.expected_discharge;
            let mut moved = Vec::new();
            for step in tracked.steps.iter_mut().filter(|s| !s.breached) {
                let Some(expr) = step_expr(rules, &step.step) else {
                    continue;
                };
                if expr.date_ref() != Some(DateRef::ExpectedDischarge) {
                    continue;
                }
                let old = step.due;
                step.due = expr.resolve(date).map(|d| {
                    rules
                        .calendar
                        .deadline_after(step.since, d, Some(&tracked.residence))
                });
                moved.push((
                    old,
                    step.due,
                    step.step.step.clone(),
                    step.opened_by.clone(),
                ));
            }
            for (old, new, step, opened_by) in moved {
                if let Some(old) = old {
                    self.deadlines
                        .remove(&(old, id.clone(), step.clone(), opened_by.clone()));
                }
                if let Some(new) = new {
                    self.deadlines.insert((new, id.clone(), step, opened_by));
                }
            }
        }
        // Steps this event opens, under the protocol in force today.
        if !tracked.ended {
            let on = rome_date(event.time);
            if let Some(protocol) = rules
                .protocols
                .in_force(&tracked.ambito, on, rules.registry)
            {
                let opening: Vec<OpenStep> = protocol
                    .steps
                    .iter()
                    .filter(|s| opens(s, &event.data, &tracked))
                    .filter_map(|step| {
                        let at = (protocol.id.clone(), protocol.version);
                        open_step(rules, at, step, &tracked, &event.id, event.time)
                    })
                    .collect();
                for open in opening {
                    if let Some(due) = open.due {
                        self.deadlines.insert((
                            due,
                            id.clone(),
                            open.step.step.clone(),
                            open.opened_by.clone(),
                        ));
                    }
                    tracked.steps.push(open);
                }
            }
        }
        if tracked.ended && !before_ended {
            self.forget_subject(&tracked);
        }
        if tracked.ended && tracked.steps.is_empty() {
            // Nothing more can be found about it: a receipt or a finding on it changes nothing.
            return found;
        }
        self.pathways.insert(id, tracked);
        found
    }

    /// A pathway opens: is there a protocol, and does the person have another open pathway of
    /// the same kind from another channel?
    fn opening(
        &mut self,
        rules: Rulebook<'_>,
        found: &mut Vec<Found>,
        tracked: Tracked,
        event_id: &EventId,
    ) {
        let id = tracked.pathway.clone();
        let recorder_actor = recorder(rules, &tracked);
        let on = rome_date(tracked.opened_at);
        let protocol = rules
            .protocols
            .in_force(&tracked.ambito, on, rules.registry);
        if protocol.is_none() {
            let mut f = Finding::new(FindingKind::NoProtocol);
            f.event_id = Some(event_id.clone());
            self.record(found, id.clone(), recorder_actor.clone(), f);
        }
        let window = protocol
            .map_or(Rules::FALLBACK, |p| p.rules)
            .duplicate_window_days;
        let key = (tracked.subject_ref.clone(), id.kind());
        let others: Vec<PathwayId> = self
            .subjects
            .get(&key)
            .into_iter()
            .flatten()
            .filter(|other| {
                self.pathways.get(*other).is_some_and(|o| {
                    o.channel != tracked.channel
                        && (tracked.opened_at - o.opened_at).whole_days() <= i64::from(window)
                })
            })
            .cloned()
            .collect();
        for other in others {
            let mut f = Finding::new(FindingKind::PossibleDuplicate);
            f.event_id = Some(event_id.clone());
            f.related_pathway = Some(other);
            self.record(found, id.clone(), recorder_actor.clone(), f);
        }
        self.subjects.entry(key).or_default().insert(id.clone());
        self.pathways.insert(id, tracked);
    }

    fn forget_subject(&mut self, tracked: &Tracked) {
        let key = (tracked.subject_ref.clone(), tracked.pathway.kind());
        if let Some(set) = self.subjects.get_mut(&key) {
            set.remove(&tracked.pathway);
            if set.is_empty() {
                self.subjects.remove(&key);
            }
        }
    }

    /// How many open steps have a pending deadline.
    pub fn pending(&self) -> usize {
        self.deadlines.len()
    }
}

/// A map whose keys are not strings, (de)serialised as a list of entries so that JSON can hold it.
mod entries {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S, K, V>(map: &BTreeMap<K, V>, serializer: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
        K: Serialize,
        V: Serialize,
    {
        serializer.collect_seq(map)
    }

    pub fn deserialize<'de, D, K, V>(deserializer: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        D: Deserializer<'de>,
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
    {
        Vec::<(K, V)>::deserialize(deserializer).map(|entries| entries.into_iter().collect())
    }
}

fn minutes(d: time::Duration) -> u64 {
    u64::try_from(d.whole_minutes()).unwrap_or(0)
}

/// The rules of the protocol in force for the pathway at `at`, or the fallback.
fn rules_in_force(rules: Rulebook<'_>, tracked: &Tracked, at: OffsetDateTime) -> Rules {
    rules
        .protocols
        .in_force(&tracked.ambito, rome_date(at), rules.registry)
        .map_or(Rules::FALLBACK, |p| p.rules)
}

/// Findings on a pathway are recorded in the name of the ATS of its Ambito.
fn recorder(rules: Rulebook<'_>, tracked: &Tracked) -> Option<Actor> {
    rules
        .registry
        .ats_of_ambito(&tracked.ambito, rome_date(tracked.opened_at))
        .map(finding::recorder)
}

fn step_expr(rules: Rulebook<'_>, step: &StepRef) -> Option<crate::protocol::DeadlineExpr> {
    step_of(rules, step).map(|s| s.deadline)
}

fn step_of<'a>(rules: Rulebook<'a>, step: &StepRef) -> Option<&'a Step> {
    rules
        .protocols
        .all()
        .iter()
        .find(|p| p.id == step.protocol && p.version == step.version)?
        .steps
        .iter()
        .find(|s| s.id == step.step)
}

/// The tracked record of a pathway an event opens, or `None` if the event opens none.
fn open_tracked(pathway: PathwayId, data: &EventData, time: OffsetDateTime) -> Option<Tracked> {
    let base = |subject_ref: &SubjectRef,
                residence: &ComuneId,
                ambito: &AmbitoCode,
                channel: String| Tracked {
        pathway: pathway.clone(),
        subject_ref: subject_ref.clone(),
        residence: residence.clone(),
        ambito: ambito.clone(),
        channel,
        asst: None,
        centro: None,
        opened_at: time,
        ended: false,
        expected_discharge: None,
        needs_sad: false,
        sad_active: false,
        discharged_on: None,
        steps: Vec::new(),
    };
    match data {
        EventData::DimissioneProtetta(dp::Event::Requested(r)) => {
            let mut t = base(
                &r.subject_ref,
                &r.residence,
                &r.ambito,
                format!("ward {} / {}", r.asst, r.ward),
            );
            t.asst = Some(r.asst.clone());
            t.expected_discharge = Some(r.expected_discharge);
            t.needs_sad = r.needs.contains(&Service::Sad);
            Some(t)
        }
        EventData::Pua(pua::Event::AccessRegistered(a)) => {
            let channel = serde_json::to_value(a.channel)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let mut t = base(
                &a.subject_ref,
                &a.residence,
                &a.ambito,
                format!("pua {channel}"),
            );
            t.asst = Some(a.asst.clone());
            Some(t)
        }
        EventData::CentroFamiglia(cf::Event::ReferralSent(r)) => {
            let referrer = serde_json::to_value(r.referrer)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let mut t = base(
                &r.subject_ref,
                &r.residence,
                &r.ambito,
                format!("referral {referrer}"),
            );
            t.centro = Some(r.centro.clone());
            Some(t)
        }
        _ => None,
    }
}

/// What following one event tells the rules.
#[derive(Debug, Default)]
struct Checks {
    findings: Vec<FindingKind>,
    date_moved: bool,
    readmitted_after: Option<time::Duration>,
}

fn has_social_worker(participants: &[Participant]) -> bool {
    participants.iter().any(|p| {
        p.role == Role::SocialWorker
            && matches!(
                p.org.kind(),
                OrgKind::Comune | OrgKind::Ambito | OrgKind::Ente
            )
    })
}

/// Brings the tracked record up to date with one event and says which event-borne findings it
/// shows.
fn follow(tracked: &mut Tracked, data: &EventData) -> Checks {
    let mut checks = Checks::default();
    match data {
        EventData::DimissioneProtetta(e) => match e {
            dp::Event::JointAssessmentRecorded(a) if !has_social_worker(&a.participants) => {
                checks
                    .findings
                    .push(FindingKind::AssessmentWithoutSocialWorker);
            }
            dp::Event::CarePlanAgreed(p) => {
                if p.services.contains(&Service::Sad) {
                    tracked.needs_sad = true;
                }
                if p.case_manager.is_none() {
                    checks.findings.push(FindingKind::PlanWithoutCaseManager);
                }
            }
            dp::Event::ExpectedDateChanged(c) => {
                tracked.expected_discharge = Some(c.expected_discharge);
                checks.date_moved = true;
            }
            dp::Event::Discharged(d) => {
                tracked.discharged_on = Some(d.discharged_on);
                // Home services start afresh with each discharge, as in the pathway's state.
                tracked.sad_active = false;
            }
            dp::Event::HomeServicesActivated(h) if h.services.contains(&Service::Sad) => {
                tracked.sad_active = true;
            }
            dp::Event::Readmitted(r) => {
                if let Some(discharged) = tracked.discharged_on {
                    checks.readmitted_after = Some(r.readmitted_on - discharged);
                    checks.findings.push(FindingKind::Readmission);
                }
                // The patient is in hospital again: a new discharge is to come.
                tracked.discharged_on = None;
            }
            dp::Event::Closed(_) | dp::Event::Cancelled(_) => tracked.ended = true,
            _ => {}
        },
        EventData::Pua(e) => match e {
            pua::Event::UvmCompleted(u) if !has_social_worker(&u.participants) => {
                checks
                    .findings
                    .push(FindingKind::AssessmentWithoutSocialWorker);
            }
            pua::Event::PlanAgreed(p) if p.case_manager.is_none() => {
                checks.findings.push(FindingKind::PlanWithoutCaseManager);
            }
            pua::Event::Closed(_) => tracked.ended = true,
            _ => {}
        },
        EventData::CentroFamiglia(e) => {
            if matches!(e, cf::Event::Closed(_) | cf::Event::Declined(_)) {
                tracked.ended = true;
            }
        }
        EventData::Receipt(..) | EventData::Finding(..) => {}
    }
    checks
}

/// Whether `step` opens on this event of this pathway.
fn opens(step: &Step, data: &EventData, tracked: &Tracked) -> bool {
    step.kind == data.kind()
        && !data.is_bookkeeping()
        && step.opened_by.iter().any(|n| n == data.name())
        && match step.when {
            None => true,
            Some(Condition::NeedsSad) => tracked.needs_sad && !tracked.sad_active,
        }
}

fn open_step(
    rules: Rulebook<'_>,
    (protocol, version): (String, u32),
    step: &Step,
    tracked: &Tracked,
    opened_by: &EventId,
    at: OffsetDateTime,
) -> Option<OpenStep> {
    let responsible = responsible_org(
        step.responsible,
        &tracked.residence,
        tracked.asst.as_ref(),
        tracked.centro.as_ref(),
    )?;
    let date = match step.deadline.date_ref() {
        Some(DateRef::ExpectedDischarge) => tracked.expected_discharge,
        None => None,
    };
    let due = step.deadline.resolve(date).map(|d| {
        rules
            .calendar
            .deadline_after(at, d, Some(&tracked.residence))
    });
    Some(OpenStep {
        step: StepRef {
            protocol,
            version,
            step: step.id.clone(),
        },
        finding: step.finding,
        opened_by: opened_by.clone(),
        since: at,
        responsible,
        due,
        breached: false,
    })
}

/// Whether this event closes the open step.
fn closes_step(
    rules: Rulebook<'_>,
    open: &OpenStep,
    recorded: &RecordedEvent,
    tracked: &Tracked,
) -> bool {
    let event = &recorded.event;
    let Some(step) = step_of(rules, &open.step) else {
        return false;
    };
    match &event.data {
        EventData::Receipt(_, r) => {
            step.closed_by
                .iter()
                .any(|n| n == crate::pathway::receipt::NAME)
                && r.event_id == open.opened_by
                && event.actor.org == open.responsible
        }
        EventData::Finding(..) => false,
        data => {
            step.closed_by.iter().any(|n| n == data.name())
                && (open.finding != FindingKind::SadNotActivated || tracked.sad_active)
        }
    }
}

#[cfg(test)]
mod tests;

impl Book {
    /// Puts back a pathway as a store kept it: its pending deadlines and, while it is open, its
    /// place among the person's pathways come with it.
    pub fn restore(&mut self, tracked: Tracked) {
        for step in tracked.steps.iter().filter(|s| !s.breached) {
            if let Some(due) = step.due {
                self.deadlines.insert((
                    due,
                    tracked.pathway.clone(),
                    step.step.step.clone(),
                    step.opened_by.clone(),
                ));
            }
        }
        if !tracked.ended {
            self.subjects
                .entry((tracked.subject_ref.clone(), tracked.pathway.kind()))
                .or_default()
                .insert(tracked.pathway.clone());
        }
        self.pathways.insert(tracked.pathway.clone(), tracked);
    }
}
