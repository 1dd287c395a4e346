//! The LEPS indicators an ATS monitors (DOMAIN.md §4), per Ambito and per calendar quarter, as
//! pure functions of the events as the ATS holds them: each event's envelope and the aggregate
//! view of its body that routing gives the ATS ([`crate::routing::view_of`] with
//! [`View::Aggregate`](crate::routing::View::Aggregate)). Nothing here needs more than that view:
//! no person, no Comune of residence, no free text.
//!
//! [`Monitor::observe`] folds the events, in log order, into the few facts per pathway that the
//! indicators need; [`Monitor::indicators`] computes the indicators of one Ambito and quarter
//! from them; [`indicators`] does both for a list of events. So a reader of a long log keeps
//! facts, not events, and can answer for any Ambito and quarter of its ATS at the end.
//!
//! What every indicator shares:
//! - The Ambito of a pathway is the one on its opening event (`requested`, `access_registered`,
//!   `referral_sent`), the Ambito of the person's residence when the pathway opened. An event of a
//!   pathway whose opening event was not observed is counted in [`Monitor::unattributed`] and
//!   otherwise left out: it cannot be given an Ambito.
//! - Quarters are calendar quarters in Italian local time ([`Quarter`]). The dates in event bodies
//!   (`assessed_on`, `discharged_on`, …) are local calendar dates already; an event's own time is
//!   read in Italian local time ([`crate::calendar::rome_offset`]).
//! - A *protected discharge* is the first `discharged` event of a dimissione protetta pathway:
//!   the discharge the request prepared. A discharge after a readmission ends a new hospital stay
//!   and is not counted again.
//! - Ratios and means with nothing to divide by are not applicable ([`Measure::value`] is `None`),
//!   never 0% and never NaN.
//! - Only the event types listed in [`READ`] are read; every other type (receipts, a `finding`
//!   kind added later, a `v2`) is skipped without error.
//!
//! The targets are those of the strategic LEPS of the regional guidelines 2025-2027
//! (DGR XII/2167, 001:L1005-1049) and the regional target for the Centri per la Famiglia
//! (000:L286-304); a year outside 2025-2027 has none.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use time::{Date, Month, OffsetDateTime};

use crate::calendar::rome_date;
use crate::ids::{AmbitoCode, OrgKind, PathwayId};
use crate::pathway::dimissione_protetta::{Destination, Service};
use crate::pathway::{Participant, Role};

// ---- quarters -----------------------------------------------------------------------------------

/// A calendar quarter, written `2026Q1`: January to March, April to June, July to September,
/// October to December, in Italian local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quarter {
    year: i32,
    /// 1 to 4.
    number: u8,
}

/// Why a text is not a quarter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuarterError {
    #[error("'{0}' is not a quarter: write the year and the quarter, as in 2026Q1")]
    Format(String),
    #[error("'{0}' is not a quarter: a year has quarters Q1 to Q4")]
    Number(String),
}

impl Quarter {
    /// Quarter `number` (1 to 4) of `year` (0 to 9999).
    pub fn new(year: i32, number: u8) -> Result<Self, QuarterError> {
        if !(0..=9999).contains(&year) {
            return Err(QuarterError::Format(format!("{year}Q{number}")));
        }
        if !(1..=4).contains(&number) {
            return Err(QuarterError::Number(format!("{year}Q{number}")));
        }
        Ok(Self { year, number })
    }

    /// The quarter a local calendar date falls in.
    pub fn of(date: Date) -> Self {
        Self {
            year: date.year(),
            number: (u8::from(date.month()) - 1) / 3 + 1,
        }
    }

    /// The quarter an instant falls in, in Italian local time: 2026-03-31T22:00Z is already
    /// 1 April in Rome, so 2026Q2.
    pub fn of_instant(instant: OffsetDateTime) -> Self {
        Self::of(rome_date(instant))
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn number(self) -> u8 {
        self.number
    }

    pub fn first_day(self) -> Date {
        Date::from_calendar_date(self.year, self.first_month(), 1)
            .expect("the first day of a quarter of years 0 to 9999 is a date")
    }

    pub fn last_day(self) -> Date {
        let month = self.first_month().nth_next(2);
        Date::from_calendar_date(self.year, month, month.length(self.year))
            .expect("the last day of a quarter of years 0 to 9999 is a date")
    }

    pub fn contains(self, date: Date) -> bool {
        Self::of(date) == self
    }

    fn first_month(self) -> Month {
        Month::January.nth_next(3 * (self.number - 1))
    }
}

impl FromStr for Quarter {
    type Err = QuarterError;

    fn from_str(s: &str) -> Result<Self, QuarterError> {
        let shown = || s.chars().take(40).collect::<String>();
        let (year, number) = s
            .split_once(['Q', 'q'])
            .ok_or_else(|| QuarterError::Format(shown()))?;
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if year.len() != 4 || !digits(year) || !digits(number) {
            return Err(QuarterError::Format(shown()));
        }
        let year = year.parse().map_err(|_| QuarterError::Format(shown()))?;
        match number {
            "1" | "2" | "3" | "4" => Self::new(year, number.parse().unwrap_or_default()),
            _ => Err(QuarterError::Number(shown())),
        }
    }
}

impl fmt::Display for Quarter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}Q{}", self.year, self.number)
    }
}

// ---- the input: events as the ATS holds them ------------------------------------------------------

/// One event as the ATS holds it: the envelope its inbox keeps and the aggregate view of the body.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateEvent {
    pub pathway: PathwayId,
    /// The CloudEvents type, e.g. `raccordo.dimissione_protetta.discharged.v1`.
    pub event_type: String,
    /// When the event was decided.
    pub time: OffsetDateTime,
    /// The body as the aggregate view gives it.
    pub body: Value,
}

const DISCHARGE_REQUESTED: &str = "raccordo.dimissione_protetta.requested.v1";
const DISCHARGE_RECEIVED: &str = "raccordo.dimissione_protetta.received.v1";
const JOINT_ASSESSMENT_RECORDED: &str = "raccordo.dimissione_protetta.joint_assessment_recorded.v1";
const DISCHARGED: &str = "raccordo.dimissione_protetta.discharged.v1";
const HOME_SERVICES_ACTIVATED: &str = "raccordo.dimissione_protetta.home_services_activated.v1";
const ACCESS_REGISTERED: &str = "raccordo.pua.access_registered.v1";
const UVM_COMPLETED: &str = "raccordo.pua.uvm_completed.v1";
const PLAN_AGREED: &str = "raccordo.pua.plan_agreed.v1";
const REFERRAL_SENT: &str = "raccordo.centro_famiglia.referral_sent.v1";
const FIRST_CONTACT_MADE: &str = "raccordo.centro_famiglia.first_contact_made.v1";
const ENROLLED: &str = "raccordo.centro_famiglia.enrolled.v1";

/// The event types the indicators read; every other type is skipped.
pub const READ: [&str; 11] = [
    DISCHARGE_REQUESTED,
    DISCHARGE_RECEIVED,
    JOINT_ASSESSMENT_RECORDED,
    DISCHARGED,
    HOME_SERVICES_ACTIVATED,
    ACCESS_REGISTERED,
    UVM_COMPLETED,
    PLAN_AGREED,
    REFERRAL_SENT,
    FIRST_CONTACT_MADE,
    ENROLLED,
];

/// An event of a type the indicators read whose body does not hold what that type must hold.
/// The log is written by `decide` and the view by routing, so this is a foreign writer or a bug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pathway {pathway}: event {event_type} cannot be read for the indicators: {reason}")]
pub struct KpiError {
    pub pathway: PathwayId,
    pub event_type: String,
    pub reason: String,
}

// What the indicators read of each body: the aggregate view keeps all of it. Unknown fields are
// let through, so that these read the aggregate view of a body whatever else it carries.

#[derive(Deserialize)]
struct Opened {
    ambito: AmbitoCode,
}

#[derive(Deserialize)]
struct DischargeRequested {
    ambito: AmbitoCode,
    needs: Vec<Service>,
}

#[derive(Deserialize)]
struct Assessed {
    assessed_on: Date,
    participants: Vec<Participant>,
}

#[derive(Deserialize)]
struct Discharged {
    discharged_on: Date,
    destination: Destination,
}

#[derive(Deserialize)]
struct HomeServices {
    services: Vec<Service>,
}

#[derive(Deserialize)]
struct FirstContact {
    contacted_on: Date,
}

#[derive(Deserialize)]
struct Enrolled {
    enrolled_on: Date,
}

// ---- the indicators -----------------------------------------------------------------------------

/// The indicators, in the order they are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Indicator {
    /// Assessments with a social worker of the Comune or Ambito ÷ all assessments, in percent
    /// (LEPS: a municipal or Ambito social worker in every PUA and UVM team, 001:L1029).
    /// - Denominator: every `dimissione_protetta.joint_assessment_recorded` and every
    ///   `pua.uvm_completed` of a pathway of the Ambito, in the quarter of its `assessed_on`.
    /// - Numerator: those among them with a participant whose organisation is a Comune, an Ambito
    ///   or an ente (a body delivering social services for Comuni) and whose role is
    ///   `social_worker`. An ASST's own social worker does not count.
    /// - Target: at least 50% in 2025, 75% in 2026, 100% in 2027.
    SocialWorkerPresent,
    /// Individual plans ÷ assessments, in percent. The LEPS measures individual projects for the
    /// prevention of children's removal from their family (P.I.P.P.I.); raccordo carries no
    /// family-removal pathway, so this measures the subset it can: the PUA's multidimensional
    /// assessments that lead to an individual plan (PAI, progetto individualizzato, progetto di
    /// vita).
    /// - Denominator: every `pua.uvm_completed` of a pathway of the Ambito, in the quarter of its
    ///   `assessed_on`.
    /// - Numerator: those whose pathway has a `pua.plan_agreed` after the assessment, whenever it
    ///   was agreed among the events observed: the quarter's assessments are followed to their
    ///   plan, so a late quarter's figure can still rise as plans come in.
    /// - Target: at least 40% in 2025, 60% in 2026, 80% in 2027.
    PlansPerAssessment,
    /// Mean wait for a protected discharge home, in days.
    /// - Each protected discharge (first `dimissione_protetta.discharged`) of a pathway of the
    ///   Ambito with destination `home`, in the quarter of its `discharged_on`.
    /// - Its wait: from the local date of the `requested` event to `discharged_on`, in whole days:
    ///   0 when discharged on the day of the request. Never below 0: a request made in the two
    ///   hours after local midnight may carry a discharge on the local day before, because the
    ///   domain checks `discharged_on` against the request's UTC date.
    /// - Numerator: the sum of the waits; denominator: how many discharges.
    /// - Target: falling year on year.
    WaitHome,
    /// Mean wait for a protected discharge to a residential facility, in days: as [`Self::WaitHome`]
    /// for the discharges with destination `residential_facility`.
    /// - Target: falling year on year.
    WaitResidential,
    /// Protected discharges handled through integrated information systems: every protected
    /// discharge (first `dimissione_protetta.discharged`) of a pathway of the Ambito recorded in
    /// raccordo, in the quarter of its `discharged_on`, whatever the destination.
    /// - Target: rising year on year.
    DischargesInRaccordo,
    /// The share of those discharges where the social side took the request in before the patient
    /// left, in percent: what makes the information system integrated rather than a notice.
    /// - Denominator: as [`Self::DischargesInRaccordo`].
    /// - Numerator: those whose pathway holds a `received` before the `discharged` event, on a
    ///   local date no later than `discharged_on`.
    /// - Target: none of its own; it qualifies [`Self::DischargesInRaccordo`].
    ReceivedBeforeDischarge,
    /// SAD plans including a protected discharge ÷ protected discharges needing SAD, in percent.
    /// - Denominator: the protected discharges (first `dimissione_protetta.discharged`) home of a
    ///   pathway of the Ambito whose request's `needs` include `sad`, in the quarter of their
    ///   `discharged_on`. Only a discharge home: SAD is home care, and a patient discharged to a
    ///   facility, to a community hospital or deceased can receive none.
    /// - Numerator: those whose pathway has a `home_services_activated` including `sad`.
    /// - Target: at least 50% in 2026, 75% in 2027 (none in 2025).
    SadAfterDischarge,
    /// Accesses to the Centri per la Famiglia: every `centro_famiglia.first_contact_made` of a
    /// referral of the Ambito, in the quarter of its `contacted_on`.
    /// - Target: 11,000 a year for the whole region (000:L286-304), not per Ambito.
    FamilyCentreAccesses,
    /// Families enrolled in a Centro per la Famiglia's interventions: every
    /// `centro_famiglia.enrolled` of a referral of the Ambito, in the quarter of its `enrolled_on`.
    /// Access and enrolment are different things (000:L42).
    /// - Target: none.
    FamilyCentreEnrolments,
}

impl Indicator {
    pub const ALL: [Indicator; 9] = [
        Self::SocialWorkerPresent,
        Self::PlansPerAssessment,
        Self::WaitHome,
        Self::WaitResidential,
        Self::DischargesInRaccordo,
        Self::ReceivedBeforeDischarge,
        Self::SadAfterDischarge,
        Self::FamilyCentreAccesses,
        Self::FamilyCentreEnrolments,
    ];

    /// A stable name for files and programs, with the unit in it.
    pub fn id(self) -> &'static str {
        match self {
            Self::SocialWorkerPresent => "social_worker_present_pct",
            Self::PlansPerAssessment => "plans_per_assessment_pct",
            Self::WaitHome => "wait_discharge_home_days",
            Self::WaitResidential => "wait_discharge_residential_days",
            Self::DischargesInRaccordo => "discharges_in_raccordo",
            Self::ReceivedBeforeDischarge => "discharges_received_before_pct",
            Self::SadAfterDischarge => "sad_after_discharge_pct",
            Self::FamilyCentreAccesses => "family_centre_accesses",
            Self::FamilyCentreEnrolments => "family_centre_enrolments",
        }
    }

    /// What it measures, as a person reads it.
    pub fn label(self) -> &'static str {
        match self {
            Self::SocialWorkerPresent => "assessments with a Comune/Ambito social worker",
            Self::PlansPerAssessment => "PUA assessments followed by an individual plan",
            Self::WaitHome => "mean wait for protected discharge home (days)",
            Self::WaitResidential => "mean wait for protected discharge to a facility (days)",
            Self::DischargesInRaccordo => "protected discharges handled in raccordo",
            Self::ReceivedBeforeDischarge => "of which taken in by the social side beforehand",
            Self::SadAfterDischarge => "discharges home needing SAD that got SAD",
            Self::FamilyCentreAccesses => "Centro per la Famiglia accesses (first contacts)",
            Self::FamilyCentreEnrolments => "Centro per la Famiglia enrolments",
        }
    }

    /// The target for `year`, if the plan sets one.
    pub fn target(self, year: i32) -> Option<Target> {
        let in_plan = (2025..=2027).contains(&year);
        let percent = |by_year: [Option<u8>; 3]| {
            let index = usize::try_from(year - 2025).ok()?;
            by_year
                .get(index)
                .copied()
                .flatten()
                .map(Target::AtLeastPercent)
        };
        match self {
            Self::SocialWorkerPresent => percent([Some(50), Some(75), Some(100)]),
            Self::PlansPerAssessment => percent([Some(40), Some(60), Some(80)]),
            Self::SadAfterDischarge => percent([None, Some(50), Some(75)]),
            Self::WaitHome | Self::WaitResidential => in_plan.then_some(Target::Falling),
            Self::DischargesInRaccordo => in_plan.then_some(Target::Rising),
            Self::FamilyCentreAccesses => in_plan.then_some(Target::RegionalPerYear(11_000)),
            Self::ReceivedBeforeDischarge | Self::FamilyCentreEnrolments => None,
        }
    }
}

impl fmt::Display for Indicator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// What an indicator must reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// At least this share, in percent.
    AtLeastPercent(u8),
    /// Lower than a year before.
    Falling,
    /// Higher than a year before.
    Rising,
    /// A yearly count for the whole region, not for one Ambito.
    RegionalPerYear(u32),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AtLeastPercent(p) => write!(f, ">= {p}%"),
            Self::Falling => f.write_str("falling year on year"),
            Self::Rising => f.write_str("rising year on year"),
            Self::RegionalPerYear(n) => write!(f, "{n} a year, whole region"),
        }
    }
}

/// An indicator's value with what it is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// `numerator` of `denominator`, as a percentage.
    Share {
        numerator: u64,
        denominator: u64,
    },
    /// A mean in days: `total_days` over `count`.
    MeanDays {
        total_days: u64,
        count: u64,
    },
    Count(u64),
}

impl Measure {
    /// The value: a percentage, a number of days or a count. `None` when there is nothing to
    /// divide by: not applicable.
    pub fn value(&self) -> Option<f64> {
        match *self {
            Self::Share { denominator: 0, .. } | Self::MeanDays { count: 0, .. } => None,
            Self::Share {
                numerator,
                denominator,
            } => Some(100.0 * numerator as f64 / denominator as f64),
            Self::MeanDays { total_days, count } => Some(total_days as f64 / count as f64),
            Self::Count(n) => Some(n as f64),
        }
    }

    /// The numerator and denominator of a share or a mean; `None` for a count.
    pub fn fraction(&self) -> Option<(u64, u64)> {
        match *self {
            Self::Share {
                numerator,
                denominator,
            } => Some((numerator, denominator)),
            Self::MeanDays { total_days, count } => Some((total_days, count)),
            Self::Count(_) => None,
        }
    }
}

/// The indicators of one Ambito in one quarter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indicators {
    pub ambito: AmbitoCode,
    pub quarter: Quarter,
    pub social_worker_present: Measure,
    pub plans_per_assessment: Measure,
    pub wait_home: Measure,
    pub wait_residential: Measure,
    pub discharges_in_raccordo: Measure,
    pub received_before_discharge: Measure,
    pub sad_after_discharge: Measure,
    pub family_centre_accesses: Measure,
    pub family_centre_enrolments: Measure,
}

impl Indicators {
    pub fn get(&self, indicator: Indicator) -> Measure {
        match indicator {
            Indicator::SocialWorkerPresent => self.social_worker_present,
            Indicator::PlansPerAssessment => self.plans_per_assessment,
            Indicator::WaitHome => self.wait_home,
            Indicator::WaitResidential => self.wait_residential,
            Indicator::DischargesInRaccordo => self.discharges_in_raccordo,
            Indicator::ReceivedBeforeDischarge => self.received_before_discharge,
            Indicator::SadAfterDischarge => self.sad_after_discharge,
            Indicator::FamilyCentreAccesses => self.family_centre_accesses,
            Indicator::FamilyCentreEnrolments => self.family_centre_enrolments,
        }
    }

    /// Every indicator with its measure and its target for the quarter's year, in report order.
    pub fn lines(&self) -> impl Iterator<Item = (Indicator, Measure, Option<Target>)> + '_ {
        Indicator::ALL
            .into_iter()
            .map(|i| (i, self.get(i), i.target(self.quarter.year())))
    }
}

// ---- folding the events -------------------------------------------------------------------------

/// What the indicators need of the events an ATS has observed, by pathway.
#[derive(Debug, Clone, Default)]
pub struct Monitor {
    discharges: HashMap<PathwayId, DischargeFacts>,
    intakes: HashMap<PathwayId, IntakeFacts>,
    referrals: HashMap<PathwayId, ReferralFacts>,
    assessments: Vec<Assessment>,
    unattributed: u64,
}

#[derive(Debug, Clone)]
struct DischargeFacts {
    ambito: AmbitoCode,
    /// The local date of the request.
    requested_on: Date,
    needs_sad: bool,
    /// The local date the social side took the request in.
    received_on: Option<Date>,
    /// The protected discharge: the pathway's first.
    discharge: Option<FirstDischarge>,
    sad_activated: bool,
}

#[derive(Debug, Clone, Copy)]
struct FirstDischarge {
    on: Date,
    destination: Destination,
    received_before: bool,
}

#[derive(Debug, Clone)]
struct IntakeFacts {
    ambito: AmbitoCode,
    /// The date of the UVM and whether a plan followed it.
    uvm: Option<(Date, bool)>,
}

#[derive(Debug, Clone)]
struct ReferralFacts {
    ambito: AmbitoCode,
    contacted_on: Option<Date>,
    enrolled_on: Option<Date>,
}

#[derive(Debug, Clone)]
struct Assessment {
    ambito: AmbitoCode,
    on: Date,
    social_worker: bool,
}

impl Monitor {
    /// Takes in the next event, in log order. Types the indicators do not read are skipped.
    pub fn observe(&mut self, event: &AggregateEvent) -> Result<(), KpiError> {
        let id = &event.pathway;
        // `None`: the event's pathway was never opened before it.
        let opened = match event.event_type.as_str() {
            DISCHARGE_REQUESTED => {
                let b: DischargeRequested = body(event)?;
                self.discharges
                    .entry(id.clone())
                    .or_insert_with(|| DischargeFacts {
                        ambito: b.ambito,
                        requested_on: rome_date(event.time),
                        needs_sad: b.needs.contains(&Service::Sad),
                        received_on: None,
                        discharge: None,
                        sad_activated: false,
                    });
                Some(())
            }
            DISCHARGE_RECEIVED => self.discharges.get_mut(id).map(|d| {
                d.received_on.get_or_insert(rome_date(event.time));
            }),
            JOINT_ASSESSMENT_RECORDED => {
                let b: Assessed = body(event)?;
                self.discharges.get(id).map(|d| {
                    self.assessments.push(Assessment::new(&d.ambito, &b));
                })
            }
            DISCHARGED => {
                let b: Discharged = body(event)?;
                self.discharges.get_mut(id).map(|d| {
                    d.discharge.get_or_insert(FirstDischarge {
                        on: b.discharged_on,
                        destination: b.destination,
                        received_before: d.received_on.is_some_and(|r| r <= b.discharged_on),
                    });
                })
            }
            HOME_SERVICES_ACTIVATED => {
                let b: HomeServices = body(event)?;
                self.discharges.get_mut(id).map(|d| {
                    d.sad_activated |= b.services.contains(&Service::Sad);
                })
            }
            ACCESS_REGISTERED => {
                let b: Opened = body(event)?;
                self.intakes.entry(id.clone()).or_insert(IntakeFacts {
                    ambito: b.ambito,
                    uvm: None,
                });
                Some(())
            }
            UVM_COMPLETED => {
                let b: Assessed = body(event)?;
                self.intakes.get_mut(id).map(|i| {
                    i.uvm.get_or_insert((b.assessed_on, false));
                    self.assessments.push(Assessment::new(&i.ambito, &b));
                })
            }
            PLAN_AGREED => self.intakes.get_mut(id).map(|i| {
                if let Some((_, planned)) = &mut i.uvm {
                    *planned = true;
                }
            }),
            REFERRAL_SENT => {
                let b: Opened = body(event)?;
                self.referrals.entry(id.clone()).or_insert(ReferralFacts {
                    ambito: b.ambito,
                    contacted_on: None,
                    enrolled_on: None,
                });
                Some(())
            }
            FIRST_CONTACT_MADE => {
                let b: FirstContact = body(event)?;
                self.referrals.get_mut(id).map(|r| {
                    r.contacted_on.get_or_insert(b.contacted_on);
                })
            }
            ENROLLED => {
                let b: Enrolled = body(event)?;
                self.referrals.get_mut(id).map(|r| {
                    r.enrolled_on.get_or_insert(b.enrolled_on);
                })
            }
            _ => Some(()),
        };
        if opened.is_none() {
            self.unattributed += 1;
        }
        Ok(())
    }

    /// How many events were left out because their pathway's opening event was never observed.
    pub fn unattributed(&self) -> u64 {
        self.unattributed
    }

    /// The indicators of `ambito` in `quarter`, from the events observed so far.
    pub fn indicators(&self, ambito: &AmbitoCode, quarter: Quarter) -> Indicators {
        let counts = |a: &AmbitoCode, on: Date| a == ambito && quarter.contains(on);

        let social_worker_present = share(
            self.assessments
                .iter()
                .filter(|a| counts(&a.ambito, a.on))
                .map(|a| a.social_worker),
        );
        let plans_per_assessment = share(
            self.intakes
                .values()
                .filter_map(|i| i.uvm.filter(|(on, _)| counts(&i.ambito, *on)))
                .map(|(_, planned)| planned),
        );

        let discharges: Vec<(&DischargeFacts, FirstDischarge)> = self
            .discharges
            .values()
            .filter_map(|d| {
                let first = d.discharge.filter(|f| counts(&d.ambito, f.on))?;
                Some((d, first))
            })
            .collect();
        let wait = |destination: Destination| {
            let (total_days, count) = discharges
                .iter()
                .filter(|(_, f)| f.destination == destination)
                .map(|(d, f)| (f.on - d.requested_on).whole_days().max(0).unsigned_abs())
                .fold((0, 0), |(total, n), days| (total + days, n + 1));
            Measure::MeanDays { total_days, count }
        };
        let received_before_discharge = share(discharges.iter().map(|(_, f)| f.received_before));
        let sad_after_discharge = share(
            discharges
                .iter()
                .filter(|(d, f)| f.destination == Destination::Home && d.needs_sad)
                .map(|(d, _)| d.sad_activated),
        );

        let referrals = |date: fn(&ReferralFacts) -> Option<Date>| {
            let n = self
                .referrals
                .values()
                .filter(|r| date(r).is_some_and(|on| counts(&r.ambito, on)))
                .count();
            Measure::Count(n as u64)
        };

        Indicators {
            ambito: ambito.clone(),
            quarter,
            social_worker_present,
            plans_per_assessment,
            wait_home: wait(Destination::Home),
            wait_residential: wait(Destination::ResidentialFacility),
            discharges_in_raccordo: Measure::Count(discharges.len() as u64),
            received_before_discharge,
            sad_after_discharge,
            family_centre_accesses: referrals(|r| r.contacted_on),
            family_centre_enrolments: referrals(|r| r.enrolled_on),
        }
    }
}

impl Assessment {
    fn new(ambito: &AmbitoCode, assessed: &Assessed) -> Self {
        let social_worker = assessed.participants.iter().any(|p| {
            p.role == Role::SocialWorker
                && matches!(
                    p.org.kind(),
                    OrgKind::Comune | OrgKind::Ambito | OrgKind::Ente
                )
        });
        Self {
            ambito: ambito.clone(),
            on: assessed.assessed_on,
            social_worker,
        }
    }
}

/// How many of `hits` are hits, of how many.
fn share(hits: impl Iterator<Item = bool>) -> Measure {
    let (numerator, denominator) = hits.fold((0, 0), |(n, d), hit| (n + u64::from(hit), d + 1));
    Measure::Share {
        numerator,
        denominator,
    }
}

/// Reads what the indicators need of an event's body.
fn body<T: DeserializeOwned>(event: &AggregateEvent) -> Result<T, KpiError> {
    T::deserialize(&event.body).map_err(|e| KpiError {
        pathway: event.pathway.clone(),
        event_type: event.event_type.clone(),
        reason: e.to_string(),
    })
}

/// The indicators of `ambito` in `quarter` from `events`, in log order.
pub fn indicators<'a>(
    events: impl IntoIterator<Item = &'a AggregateEvent>,
    ambito: &AmbitoCode,
    quarter: Quarter,
) -> Result<Indicators, KpiError> {
    let mut monitor = Monitor::default();
    for event in events {
        monitor.observe(event)?;
    }
    Ok(monitor.indicators(ambito, quarter))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::{date, datetime};

    use super::*;
    use crate::ids::{OrgId, PathwayKind};
    use crate::pathway::centro_famiglia as cpf;
    use crate::pathway::dimissione_protetta as dp;
    use crate::pathway::{Actor, Event, EventData, pua};
    use crate::routing::{View, view_of};
    use crate::testing::{org, participant, person};

    use Destination::{CommunityHospital, Home, ResidentialFacility};
    use Role::{Educator, Nurse, Physician, SocialWorker};
    use dp::Service::{CDom, Residential, Sad};

    /// Ambito del Magentino.
    const MAGENTINO: &str = "50032";
    /// Ambito di Cinisello Balsamo.
    const CINISELLO: &str = "50069";

    fn ambito(code: &str) -> AmbitoCode {
        code.parse().expect("a well-formed Ambito code")
    }

    fn quarter(text: &str) -> Quarter {
        text.parse().expect("a well-formed quarter")
    }

    fn pathway(kind: PathwayKind, n: u32) -> PathwayId {
        format!("{}-{n:020x}", kind.prefix())
            .parse()
            .expect("a well-formed pathway id")
    }

    fn discharge(n: u32) -> PathwayId {
        pathway(PathwayKind::DimissioneProtetta, n)
    }

    fn intake(n: u32) -> PathwayId {
        pathway(PathwayKind::Pua, n)
    }

    fn referral(n: u32) -> PathwayId {
        pathway(PathwayKind::CentroFamiglia, n)
    }

    /// The events as the ATS's inbox holds them, in log order: each built as the domain's event
    /// and given the ATS through the aggregate view routing gives it.
    #[derive(Default)]
    struct AtsInbox(Vec<AggregateEvent>);

    impl AtsInbox {
        fn add(&mut self, pathway: &PathwayId, time: OffsetDateTime, data: EventData) {
            let event = Event {
                id: format!("{:032x}", self.0.len() + 1).parse().unwrap(),
                pathway: pathway.clone(),
                command_id: format!("cmd-{}", self.0.len() + 1).parse().unwrap(),
                command_digest: "00".into(),
                actor: Actor {
                    org: org("asst:705"),
                    operator: "operatore.1".parse().unwrap(),
                },
                time,
                data,
            };
            self.0.push(AggregateEvent {
                pathway: event.pathway.clone(),
                event_type: event.data.event_type(),
                time: event.time,
                body: view_of(&event, View::Aggregate),
            });
        }

        /// An event of a type the indicators do not read, as it would come.
        fn add_raw(
            &mut self,
            pathway: &PathwayId,
            time: OffsetDateTime,
            ce_type: &str,
            body: Value,
        ) {
            self.0.push(AggregateEvent {
                pathway: pathway.clone(),
                event_type: ce_type.into(),
                time,
                body,
            });
        }
    }

    // ---- the events -----------------------------------------------------------------------------

    fn requested(ambito_code: &str, residence: &str, needs: &[dp::Service]) -> EventData {
        let OrgId::Comune(residence) = org(residence) else {
            panic!("{residence} is not a Comune");
        };
        EventData::DimissioneProtetta(dp::Event::Requested(dp::Requested {
            subject_ref: person(1),
            asst: "705".parse().unwrap(),
            ward: "Medicina generale - Ospedale di Magenta".into(),
            residence,
            ambito: ambito(ambito_code),
            expected_discharge: date!(2026 - 01 - 01),
            needs: needs.to_vec(),
            lives_alone: true,
            no_caregiver: false,
        }))
    }

    fn received(by: &str) -> EventData {
        EventData::DimissioneProtetta(dp::Event::Received(dp::Received {
            received_by: org(by),
        }))
    }

    fn joint_assessment(assessed_on: Date, participants: &[(&str, Role)]) -> EventData {
        EventData::DimissioneProtetta(dp::Event::JointAssessmentRecorded(
            dp::JointAssessmentRecorded {
                assessed_on,
                participants: participants
                    .iter()
                    .map(|(o, role)| participant(o, *role))
                    .collect(),
            },
        ))
    }

    fn discharged(discharged_on: Date, destination: Destination) -> EventData {
        EventData::DimissioneProtetta(dp::Event::Discharged(dp::Discharged {
            discharged_on,
            destination,
        }))
    }

    fn home_services(services: &[dp::Service], activated_on: Date) -> EventData {
        EventData::DimissioneProtetta(dp::Event::HomeServicesActivated(
            dp::HomeServicesActivated {
                services: services.to_vec(),
                activated_on,
            },
        ))
    }

    fn readmitted(readmitted_on: Date) -> EventData {
        EventData::DimissioneProtetta(dp::Event::Readmitted(dp::Readmitted {
            readmitted_on,
            asst: "701".parse().unwrap(),
        }))
    }

    fn cancelled() -> EventData {
        EventData::DimissioneProtetta(dp::Event::Cancelled(dp::Cancelled {
            reason: dp::CancelReason::PatientRefused,
        }))
    }

    fn access(ambito_code: &str, residence: &str) -> EventData {
        let OrgId::Comune(residence) = org(residence) else {
            panic!("{residence} is not a Comune");
        };
        EventData::Pua(pua::Event::AccessRegistered(pua::AccessRegistered {
            subject_ref: person(2),
            residence,
            ambito: ambito(ambito_code),
            asst: "705".parse().unwrap(),
            channel: pua::Channel::GeneralPractitioner,
        }))
    }

    fn uvm(assessed_on: Date, participants: &[(&str, Role)]) -> EventData {
        EventData::Pua(pua::Event::UvmCompleted(pua::UvmCompleted {
            assessed_on,
            participants: participants
                .iter()
                .map(|(o, role)| participant(o, *role))
                .collect(),
            tools: vec![pua::Tool::Adl],
        }))
    }

    fn plan() -> EventData {
        EventData::Pua(pua::Event::PlanAgreed(pua::PlanAgreed {
            plan_type: pua::PlanType::Pai,
            case_manager: Some(participant("comune:magenta", Role::SocialWorker)),
        }))
    }

    fn referral_sent(ambito_code: &str, residence: &str, centro: &str) -> EventData {
        let (OrgId::Comune(residence), OrgId::Centro(centro)) = (org(residence), org(centro))
        else {
            panic!("{residence} is not a Comune or {centro} not a Centro");
        };
        EventData::CentroFamiglia(cpf::Event::ReferralSent(cpf::ReferralSent {
            subject_ref: person(3),
            residence,
            ambito: ambito(ambito_code),
            centro,
            referrer: cpf::Referrer::ComuneSocialService,
            areas: vec![cpf::SupportArea::ParentingSupport],
        }))
    }

    fn accepted() -> EventData {
        EventData::CentroFamiglia(cpf::Event::Accepted(cpf::Accepted {}))
    }

    fn declined() -> EventData {
        EventData::CentroFamiglia(cpf::Event::Declined(cpf::Declined {
            reason: cpf::DeclineReason::NoCapacity,
        }))
    }

    fn first_contact(contacted_on: Date) -> EventData {
        EventData::CentroFamiglia(cpf::Event::FirstContactMade(cpf::FirstContactMade {
            contacted_on,
            mode: cpf::ContactMode::InPerson,
        }))
    }

    fn enrolled(enrolled_on: Date) -> EventData {
        EventData::CentroFamiglia(cpf::Event::Enrolled(cpf::Enrolled {
            interventions: vec![cpf::SupportArea::ParentingSupport],
            enrolled_on,
        }))
    }

    const SPAZIO_FAMIGLIA: &str = "centro:spazio-famiglia-qui-si-puo";
    const OFFICINA: &str = "centro:officina-dei-legami";

    /// An instant of 2026, in UTC: `at("03-31 22:00")` is 00:00 on 1 April in Rome.
    fn at(month_day_time: &str) -> OffsetDateTime {
        let text = format!("2026-{}:00Z", month_day_time.replace(' ', "T"));
        OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339).unwrap()
    }

    /// A calendar date of 2026: `day("03-31")`.
    fn day(month_day: &str) -> Date {
        at(&format!("{month_day} 12:00")).date()
    }

    /// Two Ambiti of ATS Milano over the first two quarters of 2026, with the quarter boundary
    /// crossed at local midnight (31 March 22:00 UTC is 1 April 00:00 in Rome, CEST), and events
    /// the indicators do not read among them. What each pathway contributes is said beside it.
    fn crafted() -> AtsInbox {
        let mut log = AtsInbox::default();
        let mut add = |p: &PathwayId, t: OffsetDateTime, d: EventData| log.add(p, t, d);

        // D1, Magentino: received before the discharge home on 9 February, 7 days after the
        // request; SAD needed and activated; assessed with a Comune's social worker.
        let d1 = discharge(1);
        add(
            &d1,
            at("02-02 09:00"),
            requested(MAGENTINO, "comune:magenta", &[Sad, CDom]),
        );
        add(&d1, at("02-02 15:00"), received("comune:magenta"));
        add(
            &d1,
            at("02-04 11:00"),
            joint_assessment(
                day("02-04"),
                &[("asst:705", Physician), ("comune:corbetta", SocialWorker)],
            ),
        );
        add(&d1, at("02-09 10:00"), discharged(day("02-09"), Home));
        add(&d1, at("02-10 10:00"), home_services(&[Sad], day("02-10")));

        // D2, Magentino: to a facility on 31 March, 11 days after the request; assessed by the
        // hospital alone. Received before the discharge was recorded, but at 00:05 on 1 April
        // in Rome: after the day of the discharge, so not beforehand.
        let d2 = discharge(2);
        add(
            &d2,
            at("03-20 10:00"),
            requested(MAGENTINO, "comune:corbetta", &[Residential]),
        );
        add(
            &d2,
            at("03-25 10:00"),
            joint_assessment(
                day("03-25"),
                &[("asst:705", Physician), ("asst:705", Nurse)],
            ),
        );
        add(&d2, at("03-31 22:05"), received("comune:corbetta"));
        add(
            &d2,
            at("04-01 08:00"),
            discharged(day("03-31"), ResidentialFacility),
        );

        // D3, Magentino: requested at 00:30 on 1 April in Rome (still 31 March in UTC), home on
        // 3 April: 2 days, in Q2. SAD needed, never activated.
        let d3 = discharge(3);
        add(
            &d3,
            at("03-31 22:30"),
            requested(MAGENTINO, "comune:magenta", &[Sad]),
        );
        add(&d3, at("04-02 08:00"), received("comune:magenta"));
        add(&d3, at("04-03 09:00"), discharged(day("04-03"), Home));

        // D4, Magentino: assessed on 31 March with the ente's social worker, recorded at 00:15 on
        // 1 April in Rome: the assessment counts in Q1. Home on 1 April (Q2), 2 days after the
        // request; SAD activated. Readmitted and discharged again: not a second discharge.
        let d4 = discharge(4);
        add(
            &d4,
            at("03-30 08:00"),
            requested(MAGENTINO, "comune:magenta", &[Sad]),
        );
        add(&d4, at("03-30 12:00"), received("comune:magenta"));
        add(
            &d4,
            at("03-31 22:15"),
            joint_assessment(day("03-31"), &[("ente:ascsp", SocialWorker)]),
        );
        add(&d4, at("04-01 10:00"), discharged(day("04-01"), Home));
        add(
            &d4,
            at("04-02 10:00"),
            home_services(&[CDom, Sad], day("04-02")),
        );
        add(&d4, at("04-10 10:00"), readmitted(day("04-10")));
        add(&d4, at("04-15 10:00"), discharged(day("04-15"), Home));

        // D5, Magentino: received at 23:59 on 31 March in Rome, discharged to a community hospital
        // that day (recorded the morning after): received beforehand; no wait measured.
        let d5 = discharge(5);
        add(
            &d5,
            at("03-31 21:00"),
            requested(MAGENTINO, "comune:magenta", &[CDom]),
        );
        add(&d5, at("03-31 21:59"), received("comune:magenta"));
        add(
            &d5,
            at("04-01 07:00"),
            discharged(day("03-31"), CommunityHospital),
        );

        // D6, Cinisello: home on 12 January, 2 days after the request; the Comune received it
        // the same day but after the discharge was recorded. SAD needed, not activated.
        let d6 = discharge(6);
        add(
            &d6,
            at("01-10 09:00"),
            requested(CINISELLO, "comune:cinisello-balsamo", &[Sad]),
        );
        add(&d6, at("01-12 11:00"), discharged(day("01-12"), Home));
        add(&d6, at("01-12 16:00"), received("comune:cinisello-balsamo"));

        // D7, Magentino: cancelled: no discharge.
        let d7 = discharge(7);
        add(
            &d7,
            at("02-15 09:00"),
            requested(MAGENTINO, "comune:magenta", &[Sad]),
        );
        add(&d7, at("02-16 09:00"), cancelled());

        // D8, Magentino: home on 15 January, 10 days after the request, never received; no SAD.
        let d8 = discharge(8);
        add(
            &d8,
            at("01-05 10:00"),
            requested(MAGENTINO, "comune:magenta", &[CDom]),
        );
        add(&d8, at("01-15 10:00"), discharged(day("01-15"), Home));

        // P1, Magentino: UVM with the Comune's social worker, then a plan.
        let p1 = intake(1);
        add(&p1, at("01-15 09:00"), access(MAGENTINO, "comune:magenta"));
        add(
            &p1,
            at("01-20 09:00"),
            uvm(
                day("01-20"),
                &[("asst:705", Nurse), ("comune:magenta", SocialWorker)],
            ),
        );
        add(&p1, at("01-22 10:00"), plan());

        // P2, Magentino: the Comune sent an educator, not a social worker; no plan.
        let p2 = intake(2);
        add(&p2, at("03-02 09:00"), access(MAGENTINO, "comune:magenta"));
        add(
            &p2,
            at("03-10 09:00"),
            uvm(
                day("03-10"),
                &[("asst:705", Physician), ("comune:magenta", Educator)],
            ),
        );

        // P3, Magentino: the Ambito's social worker; the plan comes in Q2 and still counts for
        // the Q1 assessment.
        let p3 = intake(3);
        add(&p3, at("03-20 09:00"), access(MAGENTINO, "comune:corbetta"));
        add(
            &p3,
            at("03-30 09:00"),
            uvm(day("03-30"), &[("ambito:50032", SocialWorker)]),
        );
        add(&p3, at("04-02 09:00"), plan());

        // P4, Cinisello: IPIS's social worker, then a plan.
        let p4 = intake(4);
        add(&p4, at("02-01 09:00"), access(CINISELLO, "comune:cormano"));
        add(
            &p4,
            at("02-05 09:00"),
            uvm(day("02-05"), &[("ente:ipis", SocialWorker)]),
        );
        add(&p4, at("02-06 09:00"), plan());

        // P5, Magentino, Q2: social workers of the ASST and of a Centro only; no plan.
        let p5 = intake(5);
        add(&p5, at("04-10 09:00"), access(MAGENTINO, "comune:magenta"));
        add(
            &p5,
            at("04-20 09:00"),
            uvm(
                day("04-20"),
                &[("asst:705", SocialWorker), (SPAZIO_FAMIGLIA, SocialWorker)],
            ),
        );

        // C1, Magentino: first contact in January, enrolled in February.
        let c1 = referral(1);
        add(
            &c1,
            at("01-10 09:00"),
            referral_sent(MAGENTINO, "comune:magenta", SPAZIO_FAMIGLIA),
        );
        add(&c1, at("01-12 09:00"), accepted());
        add(&c1, at("01-20 09:00"), first_contact(day("01-20")));
        add(&c1, at("02-01 09:00"), enrolled(day("02-01")));

        // C2, Magentino: first contact on 31 March, recorded at 00:30 on 1 April in Rome: a Q1
        // access; enrolled in Q2.
        let c2 = referral(2);
        add(
            &c2,
            at("03-25 09:00"),
            referral_sent(MAGENTINO, "comune:magenta", SPAZIO_FAMIGLIA),
        );
        add(&c2, at("03-26 09:00"), accepted());
        add(&c2, at("03-31 22:30"), first_contact(day("03-31")));
        add(&c2, at("04-07 09:00"), enrolled(day("04-07")));

        // C3, Magentino: declined.
        let c3 = referral(3);
        add(
            &c3,
            at("02-10 09:00"),
            referral_sent(MAGENTINO, "comune:corbetta", SPAZIO_FAMIGLIA),
        );
        add(&c3, at("02-11 09:00"), declined());

        // C4, Cinisello: a first contact, no enrolment.
        let c4 = referral(4);
        add(
            &c4,
            at("01-05 09:00"),
            referral_sent(CINISELLO, "comune:bresso", OFFICINA),
        );
        add(&c4, at("01-06 09:00"), accepted());
        add(&c4, at("01-08 09:00"), first_contact(day("01-08")));

        // What the indicators do not read: a receipt, a finding, a later version of a type it
        // does read (whose body it could not), and a discharge of a pathway never opened.
        let t = at("02-20 09:00");
        log.add_raw(
            &d1,
            t,
            "raccordo.dimissione_protetta.receipt.v1",
            json!({"event_id": "x"}),
        );
        log.add_raw(
            &p1,
            t,
            "raccordo.pua.finding.v1",
            json!({"rule": "uvm_without_plan", "severity": 3}),
        );
        log.add_raw(
            &d1,
            t,
            "raccordo.dimissione_protetta.discharged.v2",
            json!({"when": "soon"}),
        );
        log.add(&discharge(99), t, discharged(day("02-20"), Home));
        log
    }

    fn share(numerator: u64, denominator: u64) -> Measure {
        Measure::Share {
            numerator,
            denominator,
        }
    }

    fn mean_days(total_days: u64, count: u64) -> Measure {
        Measure::MeanDays { total_days, count }
    }

    #[test]
    fn a_crafted_half_year_of_two_ambiti_gives_the_hand_computed_indicators() {
        let log = crafted();
        let mut monitor = Monitor::default();
        for event in &log.0 {
            monitor.observe(event).unwrap();
        }
        assert_eq!(
            monitor.unattributed(),
            1,
            "the discharge of a pathway never opened"
        );

        assert_eq!(
            monitor.indicators(&ambito(MAGENTINO), quarter("2026Q1")),
            Indicators {
                ambito: ambito(MAGENTINO),
                quarter: quarter("2026Q1"),
                // D1, D2, D4 (31 March, recorded on 1 April local), P1, P2, P3: D1, D4, P1, P3.
                social_worker_present: share(4, 6),
                // P1 and P3 (its plan in Q2) of P1, P2, P3.
                plans_per_assessment: share(2, 3),
                // D1 7 days, D8 10 days.
                wait_home: mean_days(17, 2),
                // D2 11 days.
                wait_residential: mean_days(11, 1),
                // D1, D2, D5, D8.
                discharges_in_raccordo: Measure::Count(4),
                // D1 and D5; not D2 (received 1 April local), not D8 (never).
                received_before_discharge: share(2, 4),
                // D1 of D1.
                sad_after_discharge: share(1, 1),
                // C1 and C2 (31 March, recorded on 1 April local).
                family_centre_accesses: Measure::Count(2),
                // C1.
                family_centre_enrolments: Measure::Count(1),
            }
        );
        assert_eq!(
            monitor.indicators(&ambito(MAGENTINO), quarter("2026Q2")),
            Indicators {
                ambito: ambito(MAGENTINO),
                quarter: quarter("2026Q2"),
                // P5: social workers of the ASST and of a Centro do not count.
                social_worker_present: share(0, 1),
                plans_per_assessment: share(0, 1),
                // D3 2 days from its request at local 1 April (3 from UTC 31 March), D4 2 days.
                wait_home: mean_days(4, 2),
                wait_residential: mean_days(0, 0),
                // D3 and D4; D4's discharge after its readmission is no new one.
                discharges_in_raccordo: Measure::Count(2),
                received_before_discharge: share(2, 2),
                // D4 of D3, D4.
                sad_after_discharge: share(1, 2),
                family_centre_accesses: Measure::Count(0),
                // C2.
                family_centre_enrolments: Measure::Count(1),
            }
        );
        assert_eq!(
            monitor.indicators(&ambito(CINISELLO), quarter("2026Q1")),
            Indicators {
                ambito: ambito(CINISELLO),
                quarter: quarter("2026Q1"),
                social_worker_present: share(1, 1),
                plans_per_assessment: share(1, 1),
                wait_home: mean_days(2, 1),
                wait_residential: mean_days(0, 0),
                discharges_in_raccordo: Measure::Count(1),
                // Received after the discharge was recorded, the same day.
                received_before_discharge: share(0, 1),
                sad_after_discharge: share(0, 1),
                family_centre_accesses: Measure::Count(1),
                family_centre_enrolments: Measure::Count(0),
            }
        );
        assert_eq!(
            monitor.indicators(&ambito(CINISELLO), quarter("2026Q2")),
            Indicators {
                ambito: ambito(CINISELLO),
                quarter: quarter("2026Q2"),
                social_worker_present: share(0, 0),
                plans_per_assessment: share(0, 0),
                wait_home: mean_days(0, 0),
                wait_residential: mean_days(0, 0),
                discharges_in_raccordo: Measure::Count(0),
                received_before_discharge: share(0, 0),
                sad_after_discharge: share(0, 0),
                family_centre_accesses: Measure::Count(0),
                family_centre_enrolments: Measure::Count(0),
            }
        );
        // The one-call form agrees.
        assert_eq!(
            indicators(&log.0, &ambito(MAGENTINO), quarter("2026Q1")).unwrap(),
            monitor.indicators(&ambito(MAGENTINO), quarter("2026Q1"))
        );
    }

    #[test]
    fn values_are_percentages_days_or_counts_and_nothing_to_divide_by_is_not_applicable() {
        let monitor = {
            let mut monitor = Monitor::default();
            for event in &crafted().0 {
                monitor.observe(event).unwrap();
            }
            monitor
        };
        let q1 = monitor.indicators(&ambito(MAGENTINO), quarter("2026Q1"));
        let values: Vec<(&str, Option<f64>, Option<Target>)> =
            q1.lines().map(|(i, m, t)| (i.id(), m.value(), t)).collect();
        assert_eq!(
            values,
            [
                (
                    "social_worker_present_pct",
                    Some(400.0 / 6.0),
                    Some(Target::AtLeastPercent(75))
                ),
                (
                    "plans_per_assessment_pct",
                    Some(200.0 / 3.0),
                    Some(Target::AtLeastPercent(60))
                ),
                ("wait_discharge_home_days", Some(8.5), Some(Target::Falling)),
                (
                    "wait_discharge_residential_days",
                    Some(11.0),
                    Some(Target::Falling)
                ),
                ("discharges_in_raccordo", Some(4.0), Some(Target::Rising)),
                ("discharges_received_before_pct", Some(50.0), None),
                (
                    "sad_after_discharge_pct",
                    Some(100.0),
                    Some(Target::AtLeastPercent(50))
                ),
                (
                    "family_centre_accesses",
                    Some(2.0),
                    Some(Target::RegionalPerYear(11_000))
                ),
                ("family_centre_enrolments", Some(1.0), None),
            ]
        );
        let empty = monitor.indicators(&ambito(CINISELLO), quarter("2026Q2"));
        for (indicator, measure, _) in empty.lines() {
            match measure {
                Measure::Count(n) => assert_eq!(measure.value(), Some(n as f64), "{indicator}"),
                _ => assert_eq!(measure.value(), None, "{indicator} is not applicable"),
            }
        }
        assert_eq!(mean_days(4, 2).fraction(), Some((4, 2)));
        assert_eq!(Measure::Count(3).fraction(), None);
    }

    #[test]
    fn targets_follow_the_plan_year_by_year() {
        use Indicator::*;
        let percent = |i: Indicator, year| i.target(year).map(|t| t.to_string());
        assert_eq!(
            percent(SocialWorkerPresent, 2025).as_deref(),
            Some(">= 50%")
        );
        assert_eq!(
            percent(SocialWorkerPresent, 2027).as_deref(),
            Some(">= 100%")
        );
        assert_eq!(percent(PlansPerAssessment, 2025).as_deref(), Some(">= 40%"));
        assert_eq!(percent(PlansPerAssessment, 2027).as_deref(), Some(">= 80%"));
        assert_eq!(SadAfterDischarge.target(2025), None);
        assert_eq!(
            SadAfterDischarge.target(2027),
            Some(Target::AtLeastPercent(75))
        );
        for indicator in Indicator::ALL {
            assert_eq!(indicator.target(2024), None, "{indicator}");
            assert_eq!(indicator.target(2028), None, "{indicator}");
        }
        let ids: std::collections::BTreeSet<_> = Indicator::ALL.iter().map(|i| i.id()).collect();
        assert_eq!(ids.len(), Indicator::ALL.len());
    }

    #[test]
    fn every_type_read_is_a_published_event_type() {
        let published: Vec<String> = EventData::schemas().into_iter().map(|(t, _)| t).collect();
        for ce_type in READ {
            assert!(published.iter().any(|t| t == ce_type), "{ce_type}");
        }
    }

    #[test]
    fn a_body_that_lacks_what_its_type_holds_is_an_error_naming_the_pathway_and_type() {
        let mut monitor = Monitor::default();
        let event = AggregateEvent {
            pathway: discharge(1),
            event_type: DISCHARGE_REQUESTED.into(),
            time: datetime!(2026-02-02 09:00 UTC),
            body: json!({"needs": ["sad"]}),
        };
        let error = monitor.observe(&event).unwrap_err();
        assert_eq!(error.pathway, discharge(1));
        assert_eq!(error.event_type, DISCHARGE_REQUESTED);
        assert!(error.reason.contains("ambito"), "{error}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("pathway {}: ", discharge(1)))
        );
    }

    // ---- quarters -----------------------------------------------------------------------------

    #[test]
    fn a_quarter_reads_and_prints_as_year_q_number() {
        let q = quarter("2026Q1");
        assert_eq!((q.year(), q.number()), (2026, 1));
        assert_eq!(q.to_string(), "2026Q1");
        assert_eq!(quarter("2027q4").to_string(), "2027Q4");
        assert_eq!(Quarter::new(2026, 3).unwrap(), quarter("2026Q3"));
        assert!(quarter("2025Q4") < quarter("2026Q1"));
        let days = |q: &str| (quarter(q).first_day(), quarter(q).last_day());
        assert_eq!(
            days("2026Q1"),
            (date!(2026 - 01 - 01), date!(2026 - 03 - 31))
        );
        assert_eq!(
            days("2026Q2"),
            (date!(2026 - 04 - 01), date!(2026 - 06 - 30))
        );
        assert_eq!(
            days("2026Q3"),
            (date!(2026 - 07 - 01), date!(2026 - 09 - 30))
        );
        assert_eq!(
            days("2026Q4"),
            (date!(2026 - 10 - 01), date!(2026 - 12 - 31))
        );
        assert_eq!(
            days("2028Q1"),
            (date!(2028 - 01 - 01), date!(2028 - 03 - 31))
        );
        assert!(q.contains(date!(2026 - 03 - 31)) && !q.contains(date!(2026 - 04 - 01)));
    }

    #[test]
    fn a_bad_quarter_is_refused_with_a_clear_error() {
        for bad in ["2026Q5", "2026Q0", "2026Q12"] {
            assert_eq!(
                bad.parse::<Quarter>(),
                Err(QuarterError::Number(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(
            "2026Q5".parse::<Quarter>().unwrap_err().to_string(),
            "'2026Q5' is not a quarter: a year has quarters Q1 to Q4"
        );
        for bad in [
            "", "2026", "Q1", "26Q1", "2026-Q1", "2026Q", "2026 Q1", "Q12026", "２026Q1", "2026Q1x",
        ] {
            assert_eq!(
                bad.parse::<Quarter>(),
                Err(QuarterError::Format(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(
            "2026-1".parse::<Quarter>().unwrap_err().to_string(),
            "'2026-1' is not a quarter: write the year and the quarter, as in 2026Q1"
        );
        assert_eq!(
            Quarter::new(2026, 5),
            Err(QuarterError::Number("2026Q5".into()))
        );
        let long = "9".repeat(500);
        assert!(long.parse::<Quarter>().unwrap_err().to_string().len() < 120);
    }

    #[test]
    fn an_instant_falls_in_the_quarter_of_its_italian_local_date() {
        // Summer time: local midnight of 1 April is 22:00 UTC on 31 March.
        assert_eq!(
            Quarter::of_instant(datetime!(2026-03-31 21:59:59 UTC)),
            quarter("2026Q1")
        );
        assert_eq!(
            Quarter::of_instant(datetime!(2026-03-31 22:00 UTC)),
            quarter("2026Q2")
        );
        // Winter time: local midnight of 1 January is 23:00 UTC on 31 December.
        assert_eq!(
            Quarter::of_instant(datetime!(2026-12-31 22:59:59 UTC)),
            quarter("2026Q4")
        );
        assert_eq!(
            Quarter::of_instant(datetime!(2026-12-31 23:00 UTC)),
            quarter("2027Q1")
        );
        assert_eq!(
            Quarter::of_instant(datetime!(2026-07-01 00:30 +02:00)),
            quarter("2026Q3")
        );
    }
}
