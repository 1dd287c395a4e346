//! Findings: what the reconciler says about a pathway, recorded on the pathway itself. A finding
//! is a fact about the pathway's history measured against the protocol in force: a step overdue
//! (who was waiting on whom, since when), a request never acknowledged, a possible duplicate, an
//! assessment without a social worker, a discharge without destination, a readmission, a territory
//! with no protocol, a party whose projection parts from the log.
//!
//! ```text
//! any event ─► finding (any number, each kind and key once; any status, terminal ones too)
//! ```
//! Like a receipt, a finding is bookkeeping: it moves no status and changes nobody's turn. It is
//! recorded in the name of the ATS of the pathway's territory (the agency that monitors the
//! pathways, DOMAIN §1) by the operator [`OPERATOR`]; no client can send one, as no gRPC command
//! makes one. Exactly one event per finding comes from the command id, derived from the finding's
//! key (what it is about, never when it was noticed), so that the reconciler may run again, or be
//! replayed, and the pathway's memory of applied commands answers instead of appending twice.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::rules::denied;
use super::{Applied, Command, CommandBody, Context, EventData, Pathway, Rejection};
use crate::ids::{CommandId, EventId, OrgId, OrgKind, PathwayId, PathwayKind};

/// The event's name within each kind: its CloudEvents type is `raccordo.<kind>.finding.v1`.
pub const NAME: &str = "finding";

/// The command name, as errors and logs give it.
pub const COMMAND: &str = "record_finding";

/// The operator the reconciler records findings as.
pub const OPERATOR: &str = "raccordo-reconciler";

/// What a protocol's and a step's names are made of (see `crate::protocol`).
const NAME_PATTERN: &str = "^[a-z0-9_-]{1,80}$";

/// Command ids of this form belong to findings: a client's own command may not take one.
pub(super) const COMMAND_ID_PREFIX: &str = "finding:";

/// What a finding says.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A protocol step was not closed by its deadline: `responsible` is who it waits on.
    StepOverdue,
    /// A step reported overdue has now been closed, `closed_at`, late.
    OverdueStepClosed,
    /// A request or referral was not acknowledged by the party it was for by the deadline.
    NeverAcknowledged,
    /// The same person has another open pathway of the same kind, from another channel.
    PossibleDuplicate,
    /// A multidimensional (UVM/joint) assessment had no Comune or Ambito social worker.
    AssessmentWithoutSocialWorker,
    /// An assessment was followed by no plan within the protocol's limit.
    AssessmentWithoutPlan,
    /// A plan names no case manager.
    PlanWithoutCaseManager,
    /// A protected discharge needing SAD home care had no SAD activated by the deadline.
    SadNotActivated,
    /// The expected discharge date passed with no discharge and no destination recorded.
    DischargeWithoutDestination,
    /// The patient was readmitted within the protocol's window after a protected discharge.
    Readmission,
    /// The pathway's territory had no protocol in force when it opened.
    NoProtocol,
    /// A party's projection of the pathway parts from what the log says it should hold.
    Divergence,
}

impl FindingKind {
    pub const ALL: [FindingKind; 12] = [
        Self::StepOverdue,
        Self::OverdueStepClosed,
        Self::NeverAcknowledged,
        Self::PossibleDuplicate,
        Self::AssessmentWithoutSocialWorker,
        Self::AssessmentWithoutPlan,
        Self::PlanWithoutCaseManager,
        Self::SadNotActivated,
        Self::DischargeWithoutDestination,
        Self::Readmission,
        Self::NoProtocol,
        Self::Divergence,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::StepOverdue => "step_overdue",
            Self::OverdueStepClosed => "overdue_step_closed",
            Self::NeverAcknowledged => "never_acknowledged",
            Self::PossibleDuplicate => "possible_duplicate",
            Self::AssessmentWithoutSocialWorker => "assessment_without_social_worker",
            Self::AssessmentWithoutPlan => "assessment_without_plan",
            Self::PlanWithoutCaseManager => "plan_without_case_manager",
            Self::SadNotActivated => "sad_not_activated",
            Self::DischargeWithoutDestination => "discharge_without_destination",
            Self::Readmission => "readmission",
            Self::NoProtocol => "no_protocol",
            Self::Divergence => "divergence",
        }
    }

    /// The finding kinds a protocol step may report when it is breached.
    pub fn of_step(name: &str) -> Option<FindingKind> {
        [
            Self::StepOverdue,
            Self::NeverAcknowledged,
            Self::AssessmentWithoutPlan,
            Self::SadNotActivated,
            Self::DischargeWithoutDestination,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for FindingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The protocol step a finding measures against: the version in force when the step opened.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct StepRef {
    #[schemars(pattern(NAME_PATTERN))]
    pub protocol: String,
    #[schemars(range(min = 1))]
    pub version: u32,
    #[schemars(pattern(NAME_PATTERN))]
    pub step: String,
}

/// A finding about a pathway. Which fields are present depends on the kind; every one of them
/// is a fact of the history (times of events, deadlines computed from them), never the moment the
/// reconciler happened to notice, so that a replay finds exactly the same findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub finding: FindingKind,
    /// The protocol step, for a finding about a deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<StepRef>,
    /// The event the finding is about: the one that opened the step, or that showed the problem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<EventId>,
    /// The organisation the finding concerns: who the step waits on, who did not acknowledge,
    /// whose projection parts from the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party: Option<OrgId>,
    /// Since when the party was waited on (the opening event's time).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    #[schemars(schema_with = "super::date_time_schema")]
    pub since: Option<OffsetDateTime>,
    /// The deadline, for a finding about one.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    #[schemars(schema_with = "super::date_time_schema")]
    pub due: Option<OffsetDateTime>,
    /// When an overdue step was closed at last.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    #[schemars(schema_with = "super::date_time_schema")]
    pub closed_at: Option<OffsetDateTime>,
    /// How long the party had been waited on: until the deadline for an overdue step, until it
    /// was closed for one closed late; from the discharge to the readmission for a readmission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waited_minutes: Option<u64>,
    /// The other pathway, for a possible duplicate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related_pathway: Option<PathwayId>,
}

impl Finding {
    /// A finding of `kind` with nothing else said yet.
    pub fn new(kind: FindingKind) -> Finding {
        Finding {
            finding: kind,
            step: None,
            event_id: None,
            party: None,
            since: None,
            due: None,
            closed_at: None,
            waited_minutes: None,
            related_pathway: None,
        }
    }

    /// What the finding is about, which makes it one finding however often it is found: its
    /// kind, step, event, party and related pathway, never its times (a deadline moved by a
    /// protocol change is the same finding, reported differently, and a replay says so).
    pub fn key(&self) -> String {
        let part = |value: Option<String>| value.unwrap_or_default();
        [
            self.finding.as_str().to_owned(),
            part(
                self.step
                    .as_ref()
                    .map(|s| format!("{}/{}", s.protocol, s.step)),
            ),
            part(self.event_id.as_ref().map(ToString::to_string)),
            part(self.party.as_ref().map(ToString::to_string)),
            part(self.related_pathway.as_ref().map(ToString::to_string)),
        ]
        .join("|")
    }
}

// ---- command ----------------------------------------------------------------------------------

/// The reconciler records a finding on a pathway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordFinding {
    pub kind: PathwayKind,
    pub finding: Finding,
}

impl RecordFinding {
    /// The command recording `finding` on `pathway`, with the command id its key gives.
    pub fn command(pathway: PathwayId, finding: Finding) -> Command {
        Command {
            id: command_id(&finding),
            body: CommandBody::RecordFinding(Box::new(Self {
                kind: pathway.kind(),
                finding,
            })),
            pathway: Some(pathway),
        }
    }
}

/// The command id of a finding: derived from its key, so the same finding is one event.
pub fn command_id(finding: &Finding) -> CommandId {
    let digest = Sha256::digest(finding.key().as_bytes());
    format!("{COMMAND_ID_PREFIX}{}", hex::encode(&digest[..16]))
        .parse()
        .expect("the prefix and a hex digest always make a well-formed command id")
}

// ---- decide and evolve --------------------------------------------------------------------------

/// Decides a finding on an existing pathway: only the reconciler, in the name of an ATS, records
/// one, and the event it names must be one of the pathway's.
pub(super) fn decide(
    pathway: &Pathway,
    command: &RecordFinding,
    ctx: &Context<'_>,
) -> Result<EventData, Rejection> {
    let org = &ctx.actor.org;
    if org.kind() != OrgKind::Ats || ctx.actor.operator.as_str() != OPERATOR {
        return Err(denied(
            org,
            &pathway.id,
            COMMAND,
            "findings are recorded by raccordo's reconciler alone",
        ));
    }
    check(&pathway.applied, &command.finding).map_err(|reason| {
        Rejection::invalid(
            "finding.event_id",
            format!("{reason} (pathway {})", pathway.id),
        )
    })?;
    Ok(EventData::Finding(
        command.kind,
        Box::new(command.finding.clone()),
    ))
}

/// Checks a finding read from the log against its pathway: the event it names is one of the
/// pathway's earlier events.
pub(super) fn check(
    applied: &std::collections::BTreeMap<EventId, Applied>,
    finding: &Finding,
) -> Result<(), String> {
    match &finding.event_id {
        Some(id) if !applied.contains_key(id) => Err(format!(
            "the finding names event {id}, which is not an earlier event of the pathway"
        )),
        _ => Ok(()),
    }
}

/// The organisation findings on a pathway of `ambito`'s territory are recorded in the name of.
pub fn recorder(ats: &crate::ids::AtsCode) -> super::Actor {
    super::Actor {
        org: OrgId::Ats(ats.clone()),
        operator: OPERATOR
            .parse()
            .expect("the reconciler's operator name is a well-formed operator id"),
    }
}
