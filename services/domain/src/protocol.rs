//! Protocols: what the organisations of a territory agreed about each step of a pathway, as data
//! (`contracts/protocols/*.toml`). A protocol is versioned and effective-dated, scoped to Ambiti or
//! Distretti, and lists steps: the event that opens a step, the events that close it, the party
//! responsible for closing it, and the deadline. The reconciler measures every pathway against the
//! protocol version in force where and when each step opened.
//!
//! ```toml
//! protocol = "ovest-milanese-magentino"
//! version = 1
//! title = "Dimissioni protette e PUA nel Magentino"
//! example = true                      # the values are examples, not an agreed protocol
//! valid_from = 2026-01-01             # inclusive; valid_until (exclusive) is optional
//! ambiti = ["50032"]                  # and/or distretti = ["22011"]
//!
//! [rules]
//! duplicate_window_days = 30          # a second open pathway of one person within 30 days
//! readmission_window_days = 30        # a readmission within 30 days of the discharge
//!
//! [[steps]]
//! id = "presa_in_carico"
//! kind = "dimissione_protetta"
//! opened_by = ["requested"]
//! closed_by = ["received"]
//! responsible = "comune_of_residence" # or asst, centro
//! deadline = "2 working days"         # or "48 hours", "before expected_discharge",
//!                                     # "by expected_discharge" (the end of that day)
//! finding = "step_overdue"            # what a breach is reported as (the default)
//! when = "needs_sad"                  # optional: open the step only if the pathway needs SAD
//! ```
//! Every way a file can be wrong stops loading with its name and the reason: unknown keys, an
//! event name the kind does not have, an Ambito or Distretto not in the registry, two protocols
//! in force for one Ambito on one day.

use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;
use time::Date;

use crate::calendar::Deadline;
use crate::ids::{AmbitoCode, ComuneId, DistrettoCode, OrgId, PathwayKind};
use crate::pathway::finding::FindingKind;
use crate::pathway::{centro_famiglia, dimissione_protetta, pua, receipt};
use crate::registry::{Registry, Validity};

/// A protocol file that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("protocol file {file}: {reason}")]
pub struct ProtocolError {
    pub file: String,
    pub reason: String,
}

/// One protocol file: a name and its text.
#[derive(Debug, Clone, Copy)]
pub struct ProtocolFile<'a> {
    pub name: &'a str,
    pub contents: &'a str,
}

/// Who must close a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Responsible {
    /// The social service of the Comune where the person lives.
    ComuneOfResidence,
    /// The pathway's ASST: the requesting hospital of a discharge, the PUA's ASST.
    Asst,
    /// The Centro per la Famiglia a family was referred to.
    Centro,
}

impl Responsible {
    fn as_str(self) -> &'static str {
        match self {
            Self::ComuneOfResidence => "comune_of_residence",
            Self::Asst => "asst",
            Self::Centro => "centro",
        }
    }
}

/// A date a pathway carries, which a deadline may count from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateRef {
    /// The expected discharge date of a protected discharge, as last changed.
    ExpectedDischarge,
}

/// When a step is due, as the protocol says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineExpr {
    /// By the end of the n-th working day after the step opened (see [`Deadline::WorkingDays`]).
    WorkingDays(u32),
    /// Within this many hours of elapsed time.
    Hours(u32),
    /// Before the pathway's date begins (local midnight).
    Before(DateRef),
    /// By the end of the pathway's date (the local midnight after it).
    By(DateRef),
}

impl DeadlineExpr {
    /// The calendar's deadline, given the date the pathway carries (if the expression needs one).
    pub fn resolve(self, date: Option<Date>) -> Option<Deadline> {
        Some(match self {
            Self::WorkingDays(n) => Deadline::WorkingDays(n),
            Self::Hours(n) => Deadline::CalendarHours(n),
            Self::Before(_) => Deadline::BeforeDate(date?),
            Self::By(_) => Deadline::BeforeDate(date?.next_day()?),
        })
    }

    /// The pathway date the deadline counts from, if any.
    pub fn date_ref(self) -> Option<DateRef> {
        match self {
            Self::Before(d) | Self::By(d) => Some(d),
            _ => None,
        }
    }

    fn parse(text: &str) -> Result<DeadlineExpr, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let date_ref = |name: &str| match name {
            "expected_discharge" => Ok(DateRef::ExpectedDischarge),
            other => Err(format!(
                "unknown date '{other}': a deadline can count from expected_discharge"
            )),
        };
        let count = |n: &str| {
            n.parse::<u32>()
                .ok()
                .filter(|n| *n <= 3650)
                .ok_or_else(|| format!("'{n}' is not a number of days or hours up to 3650"))
        };
        match words.as_slice() {
            [n, "working", "day" | "days"] => Ok(Self::WorkingDays(count(n)?)),
            [n, "hour" | "hours"] => Ok(Self::Hours(count(n)?)),
            ["before", date] => Ok(Self::Before(date_ref(date)?)),
            ["by", date] => Ok(Self::By(date_ref(date)?)),
            _ => Err(format!(
                "cannot read the deadline '{text}': write 'N working days', 'N hours', \
                 'before expected_discharge' or 'by expected_discharge'"
            )),
        }
    }
}

impl fmt::Display for DeadlineExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WorkingDays(n) => write!(f, "{n} working days"),
            Self::Hours(n) => write!(f, "{n} hours"),
            Self::Before(DateRef::ExpectedDischarge) => f.write_str("before expected_discharge"),
            Self::By(DateRef::ExpectedDischarge) => f.write_str("by expected_discharge"),
        }
    }
}

/// A condition for opening a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// The protected discharge needs SAD (the request's needs or the agreed plan) and none is
    /// active yet.
    NeedsSad,
}

/// One step of a protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub id: String,
    pub kind: PathwayKind,
    /// Names of the kind's events that open the step.
    pub opened_by: Vec<String>,
    /// Names of the kind's events that close it (`receipt`: the responsible party's receipt of
    /// the event that opened it). A pathway that ends closes every step.
    pub closed_by: Vec<String>,
    pub responsible: Responsible,
    pub deadline: DeadlineExpr,
    pub finding: FindingKind,
    pub when: Option<Condition>,
}

/// The protocol's settings for the findings that are not steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// A second open pathway of the same kind for the same person, from another channel, within
    /// this many days of the first is a possible duplicate.
    pub duplicate_window_days: u32,
    /// A readmission within this many days of a protected discharge is reported.
    pub readmission_window_days: u32,
}

impl Rules {
    /// What applies where no protocol is in force: the pathway is reported as having none, and
    /// these windows (30 days each, the usual readmission measure) still catch the rest.
    pub const FALLBACK: Rules = Rules {
        duplicate_window_days: 30,
        readmission_window_days: 30,
    };
}

/// One version of a protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    pub id: String,
    pub version: u32,
    pub title: String,
    /// The values are examples (no agreed protocol fixes them yet).
    pub example: bool,
    pub validity: Validity,
    /// The Ambiti it covers, those of its Distretti included.
    pub ambiti: BTreeSet<AmbitoCode>,
    pub distretti: BTreeSet<DistrettoCode>,
    pub rules: Rules,
    pub steps: Vec<Step>,
    /// The file it was read from.
    pub file: String,
}

impl Protocol {
    /// Whether the protocol is in force for the Ambito on the date.
    pub fn covers(&self, ambito: &AmbitoCode, on: Date, registry: &Registry) -> bool {
        self.validity.contains(on)
            && (self.ambiti.contains(ambito)
                || registry
                    .distretti_of_ambito(ambito, on)
                    .iter()
                    .any(|d| self.distretti.contains(*d)))
    }
}

/// Every protocol, all versions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Protocols {
    protocols: Vec<Protocol>,
}

/// The protocol files shipped in `contracts/protocols/`, built into the binary.
const EMBEDDED: &[ProtocolFile<'static>] = &[
    ProtocolFile {
        name: "ovest-milanese-magentino.v1.toml",
        contents: include_str!("../../../contracts/protocols/ovest-milanese-magentino.v1.toml"),
    },
    ProtocolFile {
        name: "nord-milano-cinisello.v1.toml",
        contents: include_str!("../../../contracts/protocols/nord-milano-cinisello.v1.toml"),
    },
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProtocol {
    protocol: String,
    version: u32,
    title: String,
    #[serde(default)]
    example: bool,
    valid_from: toml::value::Datetime,
    valid_until: Option<toml::value::Datetime>,
    #[serde(default)]
    ambiti: Vec<String>,
    #[serde(default)]
    distretti: Vec<String>,
    rules: Rules,
    #[serde(default)]
    steps: Vec<RawStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: String,
    kind: String,
    opened_by: Vec<String>,
    closed_by: Vec<String>,
    responsible: Responsible,
    deadline: String,
    finding: Option<String>,
    when: Option<Condition>,
}

impl Protocols {
    /// The protocols shipped with raccordo.
    pub fn embedded(registry: &Registry) -> Result<Protocols, ProtocolError> {
        Protocols::parse(EMBEDDED, registry)
    }

    /// The shipped files, for tools that show or copy them.
    pub fn embedded_files() -> &'static [ProtocolFile<'static>] {
        EMBEDDED
    }

    /// Reads and checks every file; the first thing wrong stops it, naming the file.
    pub fn parse(
        files: &[ProtocolFile<'_>],
        registry: &Registry,
    ) -> Result<Protocols, ProtocolError> {
        let protocols = files
            .iter()
            .map(|file| {
                parse_one(file, registry).map_err(|reason| ProtocolError {
                    file: file.name.to_owned(),
                    reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        check_overlaps(&protocols, registry)?;
        Ok(Protocols { protocols })
    }

    /// The protocol in force for the Ambito on the date, if any.
    pub fn in_force(
        &self,
        ambito: &AmbitoCode,
        on: Date,
        registry: &Registry,
    ) -> Option<&Protocol> {
        self.protocols
            .iter()
            .find(|p| p.covers(ambito, on, registry))
    }

    pub fn all(&self) -> &[Protocol] {
        &self.protocols
    }

    /// These protocols with `others` in place of the ones they name: every version of a protocol
    /// whose id `others` has leaves, `others`' versions come in (a new id comes in beside the
    /// rest). So `others` says all there is of each of its protocols: a new version from a date
    /// comes with the old one ended that day, as the files are kept. The whole is checked as
    /// [`Protocols::parse`] checks files, so that it could be loaded at start-up; a clash names
    /// the file of `others`.
    pub fn replaced_by(
        &self,
        others: Protocols,
        registry: &Registry,
    ) -> Result<Protocols, ProtocolError> {
        let ids: BTreeSet<String> = others.protocols.iter().map(|p| p.id.clone()).collect();
        let protocols: Vec<Protocol> = self
            .protocols
            .iter()
            .filter(|p| !ids.contains(&p.id))
            .cloned()
            .chain(others.protocols)
            .collect();
        check_overlaps(&protocols, registry)?;
        Ok(Protocols { protocols })
    }
}

fn parse_one(file: &ProtocolFile<'_>, registry: &Registry) -> Result<Protocol, String> {
    let raw: RawProtocol = toml::from_str(file.contents).map_err(|e| e.to_string())?;
    let token = |what: &str, value: &str| {
        let ok = !value.is_empty()
            && value.len() <= 80
            && value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{what} '{value}' must be 1-80 lower-case letters, digits, '-' or '_'"
            ))
        }
    };
    token("protocol", &raw.protocol)?;
    if raw.version == 0 {
        return Err("version must be 1 or more".into());
    }
    if raw.title.trim().is_empty() {
        return Err("title is empty".into());
    }
    let date = |what: &str, value: &toml::value::Datetime| match (value.date, value.time) {
        (Some(d), None) => time::Month::try_from(d.month)
            .ok()
            .and_then(|m| Date::from_calendar_date(i32::from(d.year), m, d.day).ok())
            .ok_or_else(|| format!("{what} {value} is not a calendar date")),
        _ => Err(format!("{what} must be a date (YYYY-MM-DD), not {value}")),
    };
    let validity = Validity {
        from: date("valid_from", &raw.valid_from)?,
        until: raw
            .valid_until
            .as_ref()
            .map(|d| date("valid_until", d))
            .transpose()?,
    };
    if validity.until.is_some_and(|until| until <= validity.from) {
        return Err(format!("valid_until must be after valid_from ({validity})"));
    }
    if raw.ambiti.is_empty() && raw.distretti.is_empty() {
        return Err("the protocol covers no territory: name its ambiti or distretti".into());
    }
    let mut ambiti = BTreeSet::new();
    for code in &raw.ambiti {
        let code: AmbitoCode = code.parse().map_err(|e| format!("ambiti: {e}"))?;
        if registry.ambito(&code).is_none() {
            return Err(format!("ambiti: {code} is not an Ambito of the registry"));
        }
        ambiti.insert(code);
    }
    let mut distretti = BTreeSet::new();
    for code in &raw.distretti {
        let code: DistrettoCode = code.parse().map_err(|e| format!("distretti: {e}"))?;
        if registry.distretto(&code).is_none() {
            return Err(format!(
                "distretti: {code} is not a Distretto of the registry"
            ));
        }
        distretti.insert(code);
    }
    let mut steps: Vec<Step> = Vec::new();
    for (index, raw) in raw.steps.into_iter().enumerate() {
        let at = format!("steps[{index}] ({})", raw.id);
        let step = parse_step(raw).map_err(|reason| format!("{at}: {reason}"))?;
        if steps.iter().any(|s| s.id == step.id) {
            return Err(format!("{at}: two steps have the id '{}'", step.id));
        }
        steps.push(step);
    }
    Ok(Protocol {
        id: raw.protocol,
        version: raw.version,
        title: raw.title,
        example: raw.example,
        validity,
        ambiti,
        distretti,
        rules: raw.rules,
        steps,
        file: file.name.to_owned(),
    })
}

fn event_names(kind: PathwayKind) -> &'static [&'static str] {
    match kind {
        PathwayKind::DimissioneProtetta => dimissione_protetta::Event::NAMES,
        PathwayKind::Pua => pua::Event::NAMES,
        PathwayKind::CentroFamiglia => centro_famiglia::Event::NAMES,
    }
}

fn parse_step(raw: RawStep) -> Result<Step, String> {
    let RawStep {
        id,
        kind,
        opened_by,
        closed_by,
        responsible,
        deadline,
        finding,
        when,
    } = raw;
    if id.is_empty()
        || id.len() > 80
        || !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err("id must be 1-80 lower-case letters, digits, '-' or '_'".into());
    }
    let kind = PathwayKind::from_subject_token(&kind).ok_or_else(|| {
        format!("unknown kind '{kind}': dimissione_protetta, pua or centro_famiglia")
    })?;
    let names = event_names(kind);
    let known = |field: &str, list: &[String], receipt_too: bool| -> Result<(), String> {
        if list.is_empty() {
            return Err(format!("{field} names no event"));
        }
        for name in list {
            let ok = names.contains(&name.as_str()) || (receipt_too && name == receipt::NAME);
            if !ok {
                return Err(format!(
                    "{field}: {kind} has no event '{name}' (it has {}{})",
                    names.join(", "),
                    if receipt_too { ", receipt" } else { "" }
                ));
            }
        }
        Ok(())
    };
    known("opened_by", &opened_by, false)?;
    known("closed_by", &closed_by, true)?;
    let deadline = DeadlineExpr::parse(&deadline)?;
    if deadline.date_ref() == Some(DateRef::ExpectedDischarge)
        && kind != PathwayKind::DimissioneProtetta
    {
        return Err(format!(
            "deadline '{deadline}': only a dimissione_protetta carries an expected discharge date"
        ));
    }
    let fits = match responsible {
        Responsible::ComuneOfResidence => true,
        Responsible::Asst => kind != PathwayKind::CentroFamiglia,
        Responsible::Centro => kind == PathwayKind::CentroFamiglia,
    };
    if !fits {
        return Err(format!(
            "responsible '{}' has no part in a {kind} pathway",
            responsible.as_str()
        ));
    }
    let finding = match finding {
        None => FindingKind::StepOverdue,
        Some(name) => FindingKind::of_step(&name).ok_or_else(|| {
            format!(
                "finding '{name}' is not one a step reports: step_overdue, never_acknowledged, \
                 assessment_without_plan, sad_not_activated or discharge_without_destination"
            )
        })?,
    };
    if when == Some(Condition::NeedsSad) && kind != PathwayKind::DimissioneProtetta {
        return Err("when = \"needs_sad\" applies to a dimissione_protetta only".into());
    }
    Ok(Step {
        id,
        kind,
        opened_by,
        closed_by,
        responsible,
        deadline,
        finding,
        when,
    })
}

/// Two protocols in force for one Ambito on one day would make deadlines depend on file order.
fn check_overlaps(protocols: &[Protocol], registry: &Registry) -> Result<(), ProtocolError> {
    let reach = |p: &Protocol| -> BTreeSet<AmbitoCode> {
        let mut ambiti = p.ambiti.clone();
        for ambito in registry.ambiti() {
            let in_distretto = registry
                .distretti()
                .filter(|d| p.distretti.contains(&d.code))
                .any(|d| {
                    [p.validity.from]
                        .into_iter()
                        .chain(p.validity.until.and_then(|u| u.previous_day()))
                        .any(|on| {
                            registry
                                .distretti_of_ambito(&ambito.code, on)
                                .contains(&&d.code)
                        })
                });
            if in_distretto {
                ambiti.insert(ambito.code.clone());
            }
        }
        ambiti
    };
    for (i, a) in protocols.iter().enumerate() {
        for b in &protocols[i + 1..] {
            if a.id == b.id && a.version == b.version {
                return Err(ProtocolError {
                    file: b.file.clone(),
                    reason: format!(
                        "protocol {} version {} is also in {}",
                        a.id, a.version, a.file
                    ),
                });
            }
            let shared: Vec<String> = reach(a)
                .intersection(&reach(b))
                .map(ToString::to_string)
                .collect();
            if a.validity.overlaps(&b.validity) && !shared.is_empty() {
                return Err(ProtocolError {
                    file: b.file.clone(),
                    reason: format!(
                        "{} v{} ({}) and {} v{} ({}, in {}) are both in force for Ambito {}: \
                         end one before the other begins (valid_until)",
                        b.id,
                        b.version,
                        b.validity,
                        a.id,
                        a.version,
                        a.validity,
                        a.file,
                        shared.join(", ")
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The organisation a step waits on, given who the pathway's parties are.
pub fn responsible_org(
    responsible: Responsible,
    residence: &ComuneId,
    asst: Option<&crate::ids::AsstCode>,
    centro: Option<&crate::ids::CentroId>,
) -> Option<OrgId> {
    match responsible {
        Responsible::ComuneOfResidence => Some(OrgId::Comune(residence.clone())),
        Responsible::Asst => asst.cloned().map(OrgId::Asst),
        Responsible::Centro => centro.cloned().map(OrgId::Centro),
    }
}

#[cfg(test)]
mod tests;
