//! What happens to whom, and when: the demo's scenario, generated from a seed.
//!
//! Persons of the two Ambiti come to the three doors raccordo joins up: a hospital ward of the
//! ASST asks for a protected discharge, someone turns up at the PUA, a family is referred to a
//! Centro per la Famiglia. Each pathway is then played by the organisations that really act on
//! it (the requesting ASST, the Comune of residence, IPIS for home care in Cinisello, the
//! Centro…), with the trouble real operators run into: dates that move, readmissions, declined
//! referrals, cancellations, commands sent twice, and mistakes the product must refuse.
//!
//! Everything here is plain data, fixed by the seed with a small PRNG of its own: the same seed
//! gives the same steps in the same order. The driver turns each step into one gRPC call.

use raccordo_api::v1;
use raccordo_domain::ids::PathwayKind;
use time::macros::date;
use time::{Date, Duration, Month, OffsetDateTime, UtcOffset, Weekday};
use tonic::Code;

// ---- the territory ----------------------------------------------------------------------------

/// One of the two Ambiti the demo plays in, as `contracts/registry` has it (a test checks).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Ambito {
    pub code: &'static str,
    pub name: &'static str,
    /// The ASST serving the Ambito: its hospitals discharge the Ambito's residents and its Case
    /// di Comunità host the PUA.
    pub asst: &'static str,
    pub hospitals: &'static [&'static str],
    /// Each Comune with roughly how many thousand people live there, to weight who turns up where.
    pub comuni: &'static [(&'static str, u32)],
    pub centro: &'static str,
    /// The body delivering home care (SAD) for the Comuni, when they do not deliver it themselves.
    pub home_care: Option<&'static str>,
    /// The body delivering family support for the Comuni, which refers families to the Centro too.
    pub family_support: Option<&'static str>,
    /// A body handling the social side of protected discharges for the Comuni, until (exclusive).
    pub discharge_project: Option<(&'static str, Date)>,
}

pub(crate) const AMBITI: [Ambito; 2] = [
    Ambito {
        code: "50032",
        name: "Magentino",
        asst: "705",
        hospitals: &[
            "Ospedale di Magenta",
            "Ospedale di Legnano",
            "Ospedale di Abbiategrasso",
            "Ospedale di Cuggiono",
        ],
        comuni: &[
            ("arluno", 12),
            ("bareggio", 17),
            ("boffalora-sopra-ticino", 5),
            ("casorezzo", 5),
            ("corbetta", 18),
            ("magenta", 24),
            ("marcallo-con-casone", 6),
            ("mesero", 4),
            ("ossona", 4),
            ("robecco-sul-naviglio", 7),
            ("santo-stefano-ticino", 5),
            ("sedriano", 12),
            ("vittuone", 9),
        ],
        centro: "spazio-famiglia-qui-si-puo",
        home_care: None,
        family_support: Some("ascsp"),
        // The PNRR project "Dimissioni protette" entrusted to ASCSP ends in March 2026.
        discharge_project: Some(("ascsp", date!(2026 - 04 - 01))),
    },
    Ambito {
        code: "50069",
        name: "Cinisello Balsamo",
        asst: "707",
        hospitals: &[
            "Ospedale Bassini di Cinisello Balsamo",
            "Ospedale Città di Sesto San Giovanni",
        ],
        comuni: &[
            ("cinisello-balsamo", 75),
            ("bresso", 26),
            ("cormano", 20),
            ("cusano-milanino", 19),
        ],
        centro: "officina-dei-legami",
        home_care: Some("ipis"),
        family_support: Some("ipis"),
        discharge_project: None,
    },
];

const WARDS: &[&str] = &[
    "Medicina generale",
    "Geriatria",
    "Ortopedia e traumatologia",
    "Neurologia",
    "Cardiologia",
    "Pneumologia",
];

fn org(kind: &str, code: &str) -> String {
    format!("{kind}:{code}")
}

impl Ambito {
    pub fn of(residence: &str) -> &'static Ambito {
        AMBITI
            .iter()
            .find(|a| a.comuni.iter().any(|(c, _)| *c == residence))
            .expect("a Comune of the demo's Ambiti")
    }

    fn other(&self) -> &'static Ambito {
        AMBITI
            .iter()
            .find(|a| a.code != self.code)
            .expect("two Ambiti")
    }
}

// ---- time ---------------------------------------------------------------------------------------

const FIRST_HOUR: u32 = 8;
const LAST_HOUR: u32 = 17;

/// When a step happens: a day of the scenario (0 is its first) and an hour of Italian local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Moment {
    pub day: u32,
    pub hour: u32,
}

impl Moment {
    pub const FIRST: Moment = Moment {
        day: 0,
        hour: FIRST_HOUR,
    };

    fn next_hour(self) -> Moment {
        if self.hour < LAST_HOUR {
            Moment {
                day: self.day,
                hour: self.hour + 1,
            }
        } else {
            Moment {
                day: self.day + 1,
                hour: FIRST_HOUR,
            }
        }
    }
}

/// The scenario's days: where they start and how many there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Calendar {
    pub start: Date,
    pub days: u32,
}

impl Calendar {
    pub fn date(&self, day: u32) -> Date {
        self.start + Duration::days(i64::from(day))
    }

    /// The instant of a moment, in UTC: Italian local time is UTC+1, or UTC+2 in summer.
    pub fn instant(&self, at: Moment) -> OffsetDateTime {
        let date = self.date(at.day);
        let hour = u8::try_from(at.hour).expect("an hour of the working day");
        date.with_hms(hour, 0, 0)
            .expect("a valid hour")
            .assume_offset(rome_offset(date))
            .to_offset(UtcOffset::UTC)
    }

    fn is_working_day(&self, day: u32) -> bool {
        !matches!(
            self.date(day).weekday(),
            Weekday::Saturday | Weekday::Sunday
        )
    }

    /// The same moment if it falls on a working day, else the first working day after it.
    fn office(&self, mut at: Moment) -> Moment {
        while !self.is_working_day(at.day) {
            at.day += 1;
        }
        at
    }
}

/// Europe/Rome's offset on a day, at working hours: summer time runs from the last Sunday of
/// March to the last Sunday of October (switching at 01:00 UTC, before any office opens).
fn rome_offset(date: Date) -> UtcOffset {
    let last_sunday = |month: Month| {
        let mut day =
            Date::from_calendar_date(date.year(), month, 31).expect("31 March and October exist");
        while day.weekday() != Weekday::Sunday {
            day = day.previous_day().expect("a day before");
        }
        day
    };
    let summer = date >= last_sunday(Month::March) && date < last_sunday(Month::October);
    UtcOffset::from_hms(if summer { 2 } else { 1 }, 0, 0).expect("a valid offset")
}

// ---- what the steps are -------------------------------------------------------------------------

/// A person, as the seed of their synthetic codice fiscale (`CodiceFiscale::synthetic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Person(pub u64);

/// Someone taking part in an assessment or managing a plan: an organisation and a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Participant {
    pub org: String,
    pub role: v1::Role,
}

impl Participant {
    fn new(org: &str, role: v1::Role) -> Self {
        Self {
            org: org.to_owned(),
            role,
        }
    }
}

/// One command of the gRPC API, as an operator would fill it in (the pathway id aside: the
/// driver knows it once the pathway is open).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    RequestDischarge {
        patient: Person,
        ward: String,
        residence: &'static str,
        expected_discharge: Date,
        needs: Vec<v1::DischargeService>,
        lives_alone: bool,
        no_caregiver: bool,
    },
    ReceiveDischarge,
    RecordJointAssessment {
        assessed_on: Date,
        participants: Vec<Participant>,
    },
    AgreeCarePlan {
        services: Vec<v1::DischargeService>,
        case_manager: Option<Participant>,
    },
    ChangeExpectedDate {
        expected_discharge: Date,
        reason: v1::DateChangeReason,
    },
    RecordDischarge {
        discharged_on: Date,
        destination: v1::Destination,
    },
    ActivateHomeServices {
        services: Vec<v1::DischargeService>,
        activated_on: Date,
    },
    RecordReadmission {
        readmitted_on: Date,
    },
    CloseDischarge {
        reason: v1::DischargeCloseReason,
    },
    CancelDischarge {
        reason: v1::CancelReason,
    },

    RegisterAccess {
        person: Person,
        residence: &'static str,
        asst: &'static str,
        channel: v1::Channel,
    },
    RecordPreliminaryAssessment {
        triage: v1::Triage,
    },
    RequestUvm,
    CompleteUvm {
        assessed_on: Date,
        participants: Vec<Participant>,
        tools: Vec<v1::Tool>,
    },
    AgreePlan {
        plan_type: v1::PlanType,
        case_manager: Option<Participant>,
    },
    ActivateService {
        service: v1::PuaService,
        activated_on: Date,
    },
    ClosePua {
        reason: v1::PuaCloseReason,
    },

    SendReferral {
        family: Person,
        residence: &'static str,
        centro: &'static str,
        referrer: v1::Referrer,
        areas: Vec<v1::SupportArea>,
    },
    AcceptReferral,
    DeclineReferral {
        reason: v1::DeclineReason,
    },
    RecordFirstContact {
        contacted_on: Date,
        mode: v1::ContactMode,
    },
    Enrol {
        interventions: Vec<v1::SupportArea>,
        enrolled_on: Date,
    },
    CloseReferral {
        reason: v1::ReferralCloseReason,
    },

    /// `Pathways.Get`: reading one pathway's history.
    ReadPathway,
}

impl Command {
    /// The rpc, as `grpcurl` names it.
    pub fn rpc(&self) -> &'static str {
        match self {
            Self::RequestDischarge { .. } => "DimissioneProtetta.Request",
            Self::ReceiveDischarge => "DimissioneProtetta.Receive",
            Self::RecordJointAssessment { .. } => "DimissioneProtetta.RecordJointAssessment",
            Self::AgreeCarePlan { .. } => "DimissioneProtetta.AgreeCarePlan",
            Self::ChangeExpectedDate { .. } => "DimissioneProtetta.ChangeExpectedDate",
            Self::RecordDischarge { .. } => "DimissioneProtetta.RecordDischarge",
            Self::ActivateHomeServices { .. } => "DimissioneProtetta.ActivateHomeServices",
            Self::RecordReadmission { .. } => "DimissioneProtetta.RecordReadmission",
            Self::CloseDischarge { .. } => "DimissioneProtetta.Close",
            Self::CancelDischarge { .. } => "DimissioneProtetta.Cancel",
            Self::RegisterAccess { .. } => "Pua.RegisterAccess",
            Self::RecordPreliminaryAssessment { .. } => "Pua.RecordPreliminaryAssessment",
            Self::RequestUvm => "Pua.RequestUvm",
            Self::CompleteUvm { .. } => "Pua.CompleteUvm",
            Self::AgreePlan { .. } => "Pua.AgreePlan",
            Self::ActivateService { .. } => "Pua.ActivateService",
            Self::ClosePua { .. } => "Pua.Close",
            Self::SendReferral { .. } => "CentroFamiglia.SendReferral",
            Self::AcceptReferral => "CentroFamiglia.Accept",
            Self::DeclineReferral { .. } => "CentroFamiglia.Decline",
            Self::RecordFirstContact { .. } => "CentroFamiglia.RecordFirstContact",
            Self::Enrol { .. } => "CentroFamiglia.Enrol",
            Self::CloseReferral { .. } => "CentroFamiglia.Close",
            Self::ReadPathway => "Pathways.Get",
        }
    }

    pub fn opens_pathway(&self) -> bool {
        matches!(
            self,
            Self::RequestDischarge { .. } | Self::RegisterAccess { .. } | Self::SendReferral { .. }
        )
    }

    /// What the command stands for in the story, when it is worth counting in the summary.
    pub fn highlight(&self) -> Option<Highlight> {
        use v1::{Destination as D, Triage as T};
        Some(match self {
            Self::ChangeExpectedDate { .. } => Highlight::DischargeDateMoved,
            Self::RecordDischarge {
                destination: D::Home,
                ..
            } => Highlight::DischargedHome,
            Self::RecordDischarge {
                destination: D::ResidentialFacility,
                ..
            } => Highlight::DischargedToResidentialFacility,
            Self::RecordDischarge { .. } => Highlight::DischargedElsewhere,
            Self::ActivateHomeServices { .. } => Highlight::HomeServicesActivated,
            Self::RecordReadmission { .. } => Highlight::Readmitted,
            Self::CancelDischarge { .. } => Highlight::DischargeCancelled,
            Self::RecordPreliminaryAssessment {
                triage: T::SimpleNeed,
            } => Highlight::NeedAnsweredDirectly,
            Self::RecordPreliminaryAssessment { .. } => Highlight::NeedFoundComplex,
            Self::CompleteUvm { .. } => Highlight::UvmCompleted,
            Self::DeclineReferral { .. } => Highlight::ReferralDeclined,
            Self::Enrol { .. } => Highlight::FamilyEnrolled,
            _ => return None,
        })
    }
}

/// The turns of the story the summary counts, in the order it tells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Highlight {
    DischargeDateMoved,
    DischargedHome,
    DischargedToResidentialFacility,
    DischargedElsewhere,
    HomeServicesActivated,
    Readmitted,
    DischargeCancelled,
    NeedAnsweredDirectly,
    NeedFoundComplex,
    UvmCompleted,
    ReferralDeclined,
    FamilyEnrolled,
}

impl Highlight {
    pub fn label(self) -> &'static str {
        match self {
            Self::DischargeDateMoved => "expected discharge dates moved",
            Self::DischargedHome => "patients discharged home",
            Self::DischargedToResidentialFacility => {
                "patients discharged to a residential facility"
            }
            Self::DischargedElsewhere => {
                "patients discharged elsewhere (Ospedale di Comunità, other, deceased)"
            }
            Self::HomeServicesActivated => "home services activated after a discharge (SAD, C-DOM)",
            Self::Readmitted => "readmissions after a protected discharge",
            Self::DischargeCancelled => "protected discharges cancelled",
            Self::NeedAnsweredDirectly => "PUA needs answered directly",
            Self::NeedFoundComplex => "PUA needs found complex, sent to UVM",
            Self::UvmCompleted => "UVM assessments completed",
            Self::ReferralDeclined => "referrals declined by a Centro per la Famiglia",
            Self::FamilyEnrolled => "families enrolled by a Centro per la Famiglia",
        }
    }
}

/// What the product must make of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// A new command: it appends exactly one event.
    Appended,
    /// The same command sent again with the same command id: answered with the first reply,
    /// appending nothing.
    Replayed,
    /// A mistake a real operator makes, which the product must refuse with this status.
    Refused { code: Code, why: &'static str },
}

/// One thing one organisation does, at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Step {
    pub at: Moment,
    /// The organisation acting, `kind:code`.
    pub by: String,
    /// Unique within the scenario, except for a step sent again.
    pub command_id: String,
    pub command: Command,
    pub expect: Expect,
}

/// One person's pathway, from the command that opens it to the last step within the scenario's days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathwayPlan {
    /// 1-based, to name the pathway in messages before it has an id.
    pub number: usize,
    pub kind: PathwayKind,
    pub person: Person,
    pub residence: &'static str,
    pub steps: Vec<Step>,
}

impl PathwayPlan {
    /// The organisation that opened the pathway: always a party to it.
    pub fn opener(&self) -> &str {
        self.steps
            .iter()
            .find(|s| s.expect == Expect::Appended && s.command.opens_pathway())
            .map(|s| s.by.as_str())
            .expect("every pathway is opened")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scenario {
    pub seed: u64,
    pub calendar: Calendar,
    pub pathways: Vec<PathwayPlan>,
}

impl Scenario {
    /// How many persons have more than one pathway.
    pub fn persons_in_several_pathways(&self) -> usize {
        let mut persons: Vec<u64> = self.pathways.iter().map(|p| p.person.0).collect();
        persons.sort_unstable();
        let mut repeated: Vec<u64> = persons
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0])
            .collect();
        repeated.dedup();
        repeated.len()
    }
}

// ---- the operators' mistakes ------------------------------------------------------------------

const WRONG_AMBITO_RECEIVES: &str = "a Comune of another Ambito takes in a discharge request";
const PROJECT_ENDED_RECEIVES: &str = "ASCSP takes in a request after its discharge project ended";
const DISCHARGED_TWICE: &str = "the ward records the same discharge a second time";
const SAD_FOR_RESIDENTIAL: &str = "SAD activated for a patient gone to a residential facility";
const PUA_OF_WRONG_ASST: &str =
    "the PUA of an ASST not serving the person's Ambito registers an access";
const UVM_FOR_SIMPLE_NEED: &str = "a UVM requested for a need already answered";
const COMUNE_ACCEPTS_REFERRAL: &str = "the Comune accepts a referral in the Centro's place";
const ENROLLED_BEFORE_CONTACT: &str =
    "the Centro enrols a family before recording the first contact";
const COMMAND_ID_REUSED: &str = "a client reuses an old command id for a different command";
const OUTSIDER_READS: &str =
    "a Comune of the other Ambito asks for a pathway it takes no part in (none of its pathways)";

// ---- generation ---------------------------------------------------------------------------------

/// The scenario for a seed: `pathways` pathways opened over the calendar's days.
pub(crate) fn generate(seed: u64, pathways: usize, calendar: Calendar) -> Scenario {
    let mut rng = Rng(seed);
    let first_person = rng.next() & PERSON_MASK;
    let working_days: Vec<u32> = (0..calendar.days)
        .filter(|d| calendar.is_working_day(*d))
        .collect();
    let comuni: Vec<(&'static str, u32)> = AMBITI
        .iter()
        .flat_map(|a| a.comuni.iter().copied())
        .collect();
    let mut plans: Vec<PathwayPlan> = Vec::with_capacity(pathways);
    for index in 0..pathways {
        let mut plan = Plan {
            number: index + 1,
            calendar,
            rng: Rng(seed ^ (index as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03)),
            steps: Vec::new(),
            issued: 0,
        };
        let kind = plan.rng.weighted(&[
            (PathwayKind::DimissioneProtetta, 45),
            (PathwayKind::Pua, 35),
            (PathwayKind::CentroFamiglia, 20),
        ]);
        // A few people come back through another door: the same person, a second pathway.
        let (person, residence) = if index >= 10 && plan.rng.chance(0.03) {
            let earlier = &plans[plan.rng.below(index as u64) as usize];
            (earlier.person, earlier.residence)
        } else {
            let person = Person((first_person + index as u64) & PERSON_MASK);
            (person, plan.rng.weighted(&comuni))
        };
        let ambito = Ambito::of(residence);
        let day = match kind {
            // Hospitals discharge every day of the week; desks and Centri work on weekdays.
            PathwayKind::DimissioneProtetta => plan.rng.below(u64::from(calendar.days)) as u32,
            _ if working_days.is_empty() => plan.rng.below(u64::from(calendar.days)) as u32,
            _ => *plan.rng.pick(&working_days),
        };
        let opened = Moment {
            day,
            hour: plan.rng.range(FIRST_HOUR, LAST_HOUR),
        };
        match kind {
            PathwayKind::DimissioneProtetta => {
                dimissione_protetta(&mut plan, ambito, residence, person, opened)
            }
            PathwayKind::Pua => pua(&mut plan, ambito, residence, person, opened),
            PathwayKind::CentroFamiglia => {
                centro_famiglia(&mut plan, ambito, residence, person, opened)
            }
        }
        plans.push(plan.finish(kind, person, residence));
    }
    Scenario {
        seed,
        calendar,
        pathways: plans,
    }
}

/// Synthetic codes are distinct for seeds below 2^24.
const PERSON_MASK: u64 = 0xFF_FFFF;

/// One pathway's steps while they are being written.
struct Plan {
    number: usize,
    calendar: Calendar,
    rng: Rng,
    steps: Vec<Step>,
    issued: u32,
}

impl Plan {
    fn next_command_id(&mut self) -> String {
        self.issued += 1;
        format!("p{:04}-{:02}", self.number, self.issued)
    }

    fn act(&mut self, at: Moment, by: &str, command: Command) {
        let command_id = self.next_command_id();
        self.steps.push(Step {
            at,
            by: by.to_owned(),
            command_id,
            command,
            expect: Expect::Appended,
        });
    }

    fn mistake(&mut self, at: Moment, by: &str, command: Command, code: Code, why: &'static str) {
        let command_id = self.next_command_id();
        self.steps.push(Step {
            at,
            by: by.to_owned(),
            command_id,
            command,
            expect: Expect::Refused { code, why },
        });
    }

    fn date(&self, at: Moment) -> Date {
        self.calendar.date(at.day)
    }

    /// A moment some days after `from` (always later than it), on a working day if `office`.
    fn after(&mut self, from: Moment, min_days: u32, max_days: u32, office: bool) -> Moment {
        let mut at = Moment {
            day: from.day + self.rng.range(min_days, max_days),
            hour: self.rng.range(FIRST_HOUR, LAST_HOUR),
        };
        if at <= from {
            at = from.next_hour();
        }
        if office { self.calendar.office(at) } else { at }
    }

    /// Puts the steps in time order, adds the retries, reused ids and curious readers that can
    /// befall any pathway, and cuts what falls after the scenario's last day.
    fn finish(mut self, kind: PathwayKind, person: Person, residence: &'static str) -> PathwayPlan {
        self.steps.sort_by_key(|s| s.at);
        let applied: Vec<Step> = self
            .steps
            .iter()
            .filter(|s| s.expect == Expect::Appended)
            .cloned()
            .collect();
        for step in &applied {
            if self.rng.chance(0.03) {
                // A lost answer retried at once, or a form submitted again days later.
                let at = if self.rng.chance(0.6) {
                    step.at
                } else {
                    self.after(step.at, 1, 3, true)
                };
                self.steps.push(Step {
                    at,
                    expect: Expect::Replayed,
                    ..step.clone()
                });
            }
        }
        let reusable: Vec<&Step> = applied
            .iter()
            .filter(|s| !s.command.opens_pathway())
            .collect();
        if !reusable.is_empty() && self.rng.chance(0.015) {
            let original = reusable[self.rng.below(reusable.len() as u64) as usize];
            let command = match kind {
                PathwayKind::DimissioneProtetta => Command::CancelDischarge {
                    reason: v1::CancelReason::EnteredInError,
                },
                PathwayKind::Pua => Command::ClosePua {
                    reason: v1::PuaCloseReason::Withdrawn,
                },
                PathwayKind::CentroFamiglia => Command::CloseReferral {
                    reason: v1::ReferralCloseReason::FamilyWithdrew,
                },
            };
            if command != original.command {
                let at = self.after(original.at, 1, 5, true);
                self.steps.push(Step {
                    at,
                    by: original.by.clone(),
                    command_id: original.command_id.clone(),
                    command,
                    expect: Expect::Refused {
                        code: Code::AlreadyExists,
                        why: COMMAND_ID_REUSED,
                    },
                });
            }
        }
        if self.rng.chance(0.012) {
            let at = self.after(applied[0].at, 0, 10, true);
            let outsider = org(
                "comune",
                self.rng.pick(Ambito::of(residence).other().comuni).0,
            );
            self.mistake(
                at,
                &outsider,
                Command::ReadPathway,
                Code::NotFound,
                OUTSIDER_READS,
            );
        }
        self.steps.sort_by_key(|s| s.at);
        let days = self.calendar.days;
        self.steps.retain(|s| s.at.day < days);
        PathwayPlan {
            number: self.number,
            kind,
            person,
            residence,
            steps: self.steps,
        }
    }
}

// ---- dimissione protetta ----------------------------------------------------------------------

/// What the patient needs on leaving hospital.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    /// SAD at home, often with C-DOM and support for the caregiver.
    Home,
    /// Health home care only.
    HealthOnly,
    Residential,
}

/// Who acts on a protected discharge.
struct DischargeParties {
    asst: String,
    comune: String,
    /// Who activates SAD: the Comune, or the body delivering home care for it.
    home_care: String,
}

fn dimissione_protetta(
    p: &mut Plan,
    ambito: &Ambito,
    residence: &'static str,
    patient: Person,
    opened: Moment,
) {
    use v1::DateChangeReason as Why;
    use v1::DischargeService as S;
    let parties = DischargeParties {
        asst: org("asst", ambito.asst),
        comune: org("comune", residence),
        home_care: ambito
            .home_care
            .map_or_else(|| org("comune", residence), |ente| org("ente", ente)),
    };
    let ward = format!("{} - {}", p.rng.pick(WARDS), p.rng.pick(ambito.hospitals));
    let needs = match p.rng.weighted(&[
        (Needs::Home, 70),
        (Needs::HealthOnly, 10),
        (Needs::Residential, 20),
    ]) {
        Needs::Home => {
            let mut needs = vec![S::Sad];
            if p.rng.chance(0.5) {
                needs.push(S::CDom);
            }
            if p.rng.chance(0.25) {
                needs.push(S::CaregiverSupport);
            }
            needs
        }
        Needs::HealthOnly => vec![S::CDom],
        Needs::Residential if p.rng.chance(0.2) => vec![S::Residential, S::CaregiverSupport],
        Needs::Residential => vec![S::Residential],
    };
    let lives_alone = p.rng.chance(0.4);
    let no_caregiver = p.rng.chance(if lives_alone { 0.6 } else { 0.1 });
    let mut expected_day = opened.day + p.rng.range(4, 12);
    p.act(
        opened,
        &parties.asst,
        Command::RequestDischarge {
            patient,
            ward,
            residence,
            expected_discharge: p.calendar.date(expected_day),
            needs: needs.clone(),
            lives_alone,
            no_caregiver,
        },
    );

    // The territory's side, as it goes if the hospital waits for it. A few requests are never
    // taken in: the reconciler's first case.
    let received = (!p.rng.chance(0.04)).then(|| p.after(opened, 0, 1, true));
    let assessed = received.map(|at| p.after(at, 1, 2, true));
    let planned = assessed.map(|at| p.after(at, 0, 1, true));

    // The hospital's side: the ward moves the expected date while the territory is not ready,
    // or the patient is not.
    let residential = needs.contains(&S::Residential);
    let mut clinical_moves = p.rng.weighted(&[(0, 70), (1, 20), (2, 8), (3, 2)]);
    let mut moves = Vec::new();
    while moves.len() < 3 {
        let due = Moment {
            day: expected_day,
            hour: 10,
        };
        let territory_late = planned.is_none_or(|at| at >= due);
        // Not always: some patients leave before the territory is ready (the reconciler's case).
        let reason = if territory_late && p.rng.chance(0.6) {
            if residential {
                Why::AwaitingResidentialPlace
            } else {
                Why::AwaitingHomeServices
            }
        } else if clinical_moves > 0 {
            clinical_moves -= 1;
            p.rng.weighted(&[
                (Why::ClinicalCondition, 70),
                (Why::FamilyRequest, 20),
                (Why::Other, 10),
            ])
        } else {
            break;
        };
        let at = Moment {
            day: expected_day - 1,
            hour: p.rng.range(12, LAST_HOUR),
        };
        expected_day += p.rng.range(2, 7);
        moves.push((at, expected_day, reason));
    }
    let discharge = Moment {
        day: expected_day,
        hour: p.rng.range(9, 12),
    };
    // A few wards keep the patient days past the expected date without moving it: the
    // reconciler's "discharge date reached with no destination".
    let discharge = if p.rng.chance(0.08) {
        Moment {
            day: discharge.day + p.rng.range(1, 3),
            ..discharge
        }
    } else {
        discharge
    };
    let cancelled = p.rng.chance(0.06).then(|| {
        let at = Moment {
            day: p.rng.range(opened.day, discharge.day - 1),
            hour: p.rng.range(FIRST_HOUR, LAST_HOUR),
        };
        at.max(opened.next_hour())
    });
    // Nothing of this stay happens after the cancellation, and the territory's steps that come
    // after the discharge never happen at all: the patient left without them.
    let end = cancelled.unwrap_or(discharge);

    let mut social_worker = parties.comune.clone();
    if let Some(at) = received.filter(|at| *at < end) {
        if p.rng.chance(0.03) {
            let stranger = p.rng.pick(ambito.other().comuni).0;
            p.mistake(
                at,
                &org("comune", stranger),
                Command::ReceiveDischarge,
                Code::PermissionDenied,
                WRONG_AMBITO_RECEIVES,
            );
        }
        let mut receiver = parties.comune.clone();
        if let Some((ente, until)) = ambito.discharge_project {
            let ente = org("ente", ente);
            if p.date(at) < until && p.rng.chance(0.35) {
                receiver = ente;
            } else if p.date(at) >= until && p.rng.chance(0.3) {
                p.mistake(
                    at,
                    &ente,
                    Command::ReceiveDischarge,
                    Code::PermissionDenied,
                    PROJECT_ENDED_RECEIVES,
                );
            }
        }
        social_worker = receiver.clone();
        p.act(at, &receiver, Command::ReceiveDischarge);
    }
    if let Some(at) = assessed.filter(|at| *at < end) {
        joint_assessment(p, at, &parties, &social_worker);
    }
    let mut plan = None;
    if let Some(at) = planned.filter(|at| *at < end) {
        plan = Some(care_plan(p, at, &parties, needs.clone()));
    }
    for (at, day, reason) in moves {
        if at < end {
            p.act(
                at,
                &parties.asst,
                Command::ChangeExpectedDate {
                    expected_discharge: p.calendar.date(day),
                    reason,
                },
            );
        }
    }
    if let Some(at) = cancelled {
        use v1::CancelReason as R;
        let reason = p.rng.weighted(&[
            (R::NoLongerNeeded, 30),
            (R::PatientRefused, 20),
            (R::PatientDeceased, 10),
            (R::TransferredToAnotherHospital, 25),
            (R::EnteredInError, 15),
        ]);
        let by = if p.calendar.is_working_day(at.day) && p.rng.chance(0.4) {
            &parties.comune
        } else {
            &parties.asst
        };
        p.act(at, by, Command::CancelDischarge { reason });
        return;
    }
    discharge_and_after(p, &parties, discharge, &needs, plan, 1);
}

fn joint_assessment(p: &mut Plan, at: Moment, parties: &DischargeParties, social_worker: &str) {
    let mut participants = Vec::new();
    // Not every assessment has the municipal social worker: the LEPS indicator counts them.
    if p.rng.chance(0.85) {
        participants.push(Participant::new(social_worker, v1::Role::SocialWorker));
    }
    participants.push(Participant::new(&parties.asst, v1::Role::Physician));
    if p.rng.chance(0.5) {
        participants.push(Participant::new(&parties.asst, v1::Role::Nurse));
    }
    let by = if p.calendar.is_working_day(at.day) && p.rng.chance(0.55) {
        parties.comune.clone()
    } else {
        parties.asst.clone()
    };
    let assessed_on = p.date(at);
    p.act(
        at,
        &by,
        Command::RecordJointAssessment {
            assessed_on,
            participants,
        },
    );
}

fn care_plan(
    p: &mut Plan,
    at: Moment,
    parties: &DischargeParties,
    services: Vec<v1::DischargeService>,
) -> Vec<v1::DischargeService> {
    let case_manager = match p.rng.below(20) {
        0..=14 => Some(Participant::new(&parties.comune, v1::Role::SocialWorker)),
        15..=17 => Some(Participant::new(&parties.asst, v1::Role::Nurse)),
        _ => None,
    };
    let by = if p.rng.chance(0.6) {
        &parties.comune
    } else {
        &parties.asst
    };
    p.act(
        at,
        by,
        Command::AgreeCarePlan {
            services: services.clone(),
            case_manager,
        },
    );
    services
}

/// The discharge and what follows it: services at home, a readmission, the follow-up's close.
fn discharge_and_after(
    p: &mut Plan,
    parties: &DischargeParties,
    at: Moment,
    needs: &[v1::DischargeService],
    plan: Option<Vec<v1::DischargeService>>,
    readmissions_left: u32,
) {
    use v1::Destination as D;
    use v1::DischargeService as S;
    let destination = if needs.contains(&S::Residential) {
        p.rng
            .weighted(&[(D::ResidentialFacility, 85), (D::Home, 15)])
    } else {
        p.rng.weighted(&[
            (D::Home, 88),
            (D::CommunityHospital, 6),
            (D::Deceased, 2),
            (D::Other, 4),
        ])
    };
    let discharged_on = p.date(at);
    p.act(
        at,
        &parties.asst,
        Command::RecordDischarge {
            discharged_on,
            destination,
        },
    );
    if p.rng.chance(0.03) {
        let again = p.after(at, 0, 1, false);
        p.mistake(
            again,
            &parties.asst,
            Command::RecordDischarge {
                discharged_on,
                destination,
            },
            Code::FailedPrecondition,
            DISCHARGED_TWICE,
        );
    }
    let mut last = at;
    if destination == D::Home {
        // With a plan, services start within days; without one, late, if at all.
        let (services, min_days, max_days) = match &plan {
            Some(services) => (services.clone(), 1, 3),
            None if p.rng.chance(0.5) => (needs.to_vec(), 3, 6),
            None => (Vec::new(), 0, 0),
        };
        let health: Vec<S> = services.iter().copied().filter(|s| *s == S::CDom).collect();
        let social: Vec<S> = services
            .iter()
            .copied()
            .filter(|s| matches!(s, S::Sad | S::CaregiverSupport))
            .collect();
        if !health.is_empty() {
            let on = p.after(at, 0, 2, false);
            let activated_on = p.date(on);
            p.act(
                on,
                &parties.asst,
                Command::ActivateHomeServices {
                    services: health,
                    activated_on,
                },
            );
            last = last.max(on);
        }
        if !social.is_empty() {
            let on = p.after(at, min_days, max_days, true);
            let activated_on = p.date(on);
            p.act(
                on,
                &parties.home_care,
                Command::ActivateHomeServices {
                    services: social,
                    activated_on,
                },
            );
            last = last.max(on);
        }
    } else if destination == D::ResidentialFacility && p.rng.chance(0.12) {
        let on = p.after(at, 1, 2, true);
        let activated_on = p.date(on);
        p.mistake(
            on,
            &parties.home_care,
            Command::ActivateHomeServices {
                services: vec![S::Sad],
                activated_on,
            },
            Code::FailedPrecondition,
            SAD_FOR_RESIDENTIAL,
        );
    }

    if readmissions_left > 0 && matches!(destination, D::Home | D::Other) && p.rng.chance(0.12) {
        let readmitted = p.after(last, 2, 20, false);
        let readmitted_on = p.date(readmitted);
        p.act(
            readmitted,
            &parties.asst,
            Command::RecordReadmission { readmitted_on },
        );
        let assessed = p.after(readmitted, 1, 3, true);
        let planned = p.after(assessed, 0, 2, true);
        let day = (readmitted.day + p.rng.range(5, 12)).max(planned.day + 1);
        let moved = p.after(readmitted, 0, 1, false);
        p.act(
            moved,
            &parties.asst,
            Command::ChangeExpectedDate {
                expected_discharge: p.calendar.date(day),
                reason: v1::DateChangeReason::ClinicalCondition,
            },
        );
        let social_worker = parties.comune.clone();
        joint_assessment(p, assessed, parties, &social_worker);
        let services = care_plan(p, planned, parties, needs.to_vec());
        let discharge = Moment {
            day,
            hour: p.rng.range(9, 12),
        };
        discharge_and_after(
            p,
            parties,
            discharge,
            needs,
            Some(services),
            readmissions_left - 1,
        );
        return;
    }

    // Most follow-ups are closed; some are simply never closed on either side.
    if p.rng.chance(0.9) {
        use v1::DischargeCloseReason as R;
        let (on, reason) = match destination {
            D::Deceased => (p.after(at, 1, 3, true), R::PatientDeceased),
            D::Home => (p.after(last, 14, 40, true), R::Completed),
            _ => (p.after(at, 3, 10, true), R::HandedOver),
        };
        let by = if p.rng.chance(0.7) {
            &parties.comune
        } else {
            &parties.asst
        };
        p.act(on, by, Command::CloseDischarge { reason });
    }
}

// ---- PUA ----------------------------------------------------------------------------------------

fn pua(p: &mut Plan, ambito: &Ambito, residence: &'static str, person: Person, opened: Moment) {
    use v1::PuaService as S;
    let asst = org("asst", ambito.asst);
    let comune = org("comune", residence);
    // The PUA desk is staffed by the ASST with a municipal social worker: either registers.
    let desk = if p.rng.chance(0.6) {
        asst.clone()
    } else {
        comune.clone()
    };
    let channel = p.rng.weighted(&[
        (v1::Channel::SelfReferral, 20),
        (v1::Channel::Family, 25),
        (v1::Channel::GeneralPractitioner, 25),
        (v1::Channel::Hospital, 15),
        (v1::Channel::School, 5),
        (v1::Channel::SocialServices, 10),
    ]);
    if p.rng.chance(0.03) {
        let wrong = ambito.other().asst;
        p.mistake(
            opened,
            &org("asst", wrong),
            Command::RegisterAccess {
                person,
                residence,
                asst: wrong,
                channel,
            },
            Code::InvalidArgument,
            PUA_OF_WRONG_ASST,
        );
    }
    p.act(
        opened,
        &desk,
        Command::RegisterAccess {
            person,
            residence,
            asst: ambito.asst,
            channel,
        },
    );
    let triaged = p.after(opened, 0, 2, true);
    if p.rng.chance(0.55) {
        p.act(
            triaged,
            &desk,
            Command::RecordPreliminaryAssessment {
                triage: v1::Triage::SimpleNeed,
            },
        );
        if p.rng.chance(0.04) {
            p.mistake(
                triaged,
                &desk,
                Command::RequestUvm,
                Code::FailedPrecondition,
                UVM_FOR_SIMPLE_NEED,
            );
        }
        let closed = p.after(triaged, 0, 1, true);
        p.act(
            closed,
            &desk,
            Command::ClosePua {
                reason: v1::PuaCloseReason::NeedAnswered,
            },
        );
        return;
    }
    p.act(
        triaged,
        &desk,
        Command::RecordPreliminaryAssessment {
            triage: v1::Triage::Complex,
        },
    );
    let mut at = p.after(triaged, 0, 2, true);
    p.act(at, &desk, Command::RequestUvm);
    if p.rng.chance(0.06) {
        at = p.after(at, 2, 15, true);
        let reason = p.rng.weighted(&[
            (v1::PuaCloseReason::Withdrawn, 75),
            (v1::PuaCloseReason::Deceased, 25),
        ]);
        p.act(at, &desk, Command::ClosePua { reason });
        return;
    }

    at = p.after(at, 5, 15, true);
    let mut participants = Vec::new();
    if p.rng.chance(0.8) {
        participants.push(Participant::new(&comune, v1::Role::SocialWorker));
    }
    participants.push(Participant::new(&asst, v1::Role::Physician));
    if p.rng.chance(0.6) {
        participants.push(Participant::new(&asst, v1::Role::Nurse));
    }
    let mut tools = vec![v1::Tool::Adl, v1::Tool::Iadl];
    if p.rng.chance(0.5) {
        tools.push(v1::Tool::Fna);
    }
    let recorder = if p.rng.chance(0.5) { &asst } else { &comune };
    let assessed_on = p.date(at);
    p.act(
        at,
        recorder,
        Command::CompleteUvm {
            assessed_on,
            participants,
            tools,
        },
    );

    at = p.after(at, 2, 7, true);
    let plan_type = p.rng.weighted(&[
        (v1::PlanType::Pai, 60),
        (v1::PlanType::ProgettoIndividualizzato, 30),
        (v1::PlanType::ProgettoDiVita, 10),
    ]);
    // The case manager is "preferably the local authority".
    let case_manager = match p.rng.below(20) {
        0..=14 => Some(Participant::new(&comune, v1::Role::SocialWorker)),
        15..=17 => Some(Participant::new(&asst, v1::Role::Nurse)),
        _ => None,
    };
    p.act(
        at,
        &comune,
        Command::AgreePlan {
            plan_type,
            case_manager,
        },
    );

    let catalogue = [
        (S::Sad, 30),
        (S::CDom, 25),
        (S::SemiResidential, 10),
        (S::EconomicSupport, 15),
        (S::HomeEducation, 10),
        (S::Residential, 10),
    ];
    let first = p.rng.weighted(&catalogue);
    let mut services = vec![first];
    if p.rng.chance(0.35) {
        let second = p.rng.weighted(&catalogue);
        if second != first {
            services.push(second);
        }
    }
    for service in services {
        at = p.after(at, 3, 10, true);
        let by = if service == S::CDom { &asst } else { &comune };
        let activated_on = p.date(at);
        p.act(
            at,
            by,
            Command::ActivateService {
                service,
                activated_on,
            },
        );
    }
    if p.rng.chance(0.85) {
        at = p.after(at, 30, 60, true);
        p.act(
            at,
            &desk,
            Command::ClosePua {
                reason: v1::PuaCloseReason::Completed,
            },
        );
    }
}

// ---- Centro per la Famiglia ---------------------------------------------------------------------

fn centro_famiglia(
    p: &mut Plan,
    ambito: &Ambito,
    residence: &'static str,
    family: Person,
    opened: Moment,
) {
    use v1::Referrer as R;
    use v1::SupportArea as A;
    let comune = org("comune", residence);
    let asst = org("asst", ambito.asst);
    let referrer = p.rng.weighted(&[
        (R::ComuneSocialService, 45),
        (R::Consultorio, 20),
        (R::Pua, 15),
        (R::School, 20),
    ]);
    // Now and then a family is sent to the Centro of the other Ambito, which declines it.
    let misdirected = p.rng.chance(0.07);
    let own_centro = org("centro", ambito.centro);
    let by = match referrer {
        R::ComuneSocialService => match ambito.family_support {
            Some(ente) if p.rng.chance(0.3) => org("ente", ente),
            _ => comune.clone(),
        },
        R::Consultorio => asst.clone(),
        R::Pua if p.rng.chance(0.5) => asst.clone(),
        R::School if !misdirected && p.rng.chance(0.6) => own_centro.clone(),
        _ => comune.clone(),
    };
    let centro_slug = if misdirected && by != own_centro {
        ambito.other().centro
    } else {
        ambito.centro
    };
    let centro = org("centro", centro_slug);
    let catalogue = [
        (A::Orientation, 30),
        (A::ParentingSupport, 30),
        (A::ListeningDesk, 15),
        (A::CaregiverSupport, 15),
        (A::FamilyMediation, 10),
    ];
    let first = p.rng.weighted(&catalogue);
    let mut areas = vec![first];
    if p.rng.chance(0.4) {
        let second = p.rng.weighted(&catalogue);
        if second != first {
            areas.push(second);
        }
    }
    p.act(
        opened,
        &by,
        Command::SendReferral {
            family,
            residence,
            centro: centro_slug,
            referrer,
            areas: areas.clone(),
        },
    );

    let decided = p.after(opened, 1, 5, true);
    if p.rng.chance(0.03) {
        p.mistake(
            decided,
            &comune,
            Command::AcceptReferral,
            Code::PermissionDenied,
            COMUNE_ACCEPTS_REFERRAL,
        );
    }
    if centro != own_centro {
        p.act(
            decided,
            &centro,
            Command::DeclineReferral {
                reason: v1::DeclineReason::OutsideCatchment,
            },
        );
        return;
    }
    if p.rng.chance(0.14) {
        let reason = p.rng.weighted(&[
            (v1::DeclineReason::NeedOutOfScope, 40),
            (v1::DeclineReason::NoCapacity, 35),
            (v1::DeclineReason::FamilyDeclined, 25),
        ]);
        p.act(decided, &centro, Command::DeclineReferral { reason });
        return;
    }
    p.act(decided, &centro, Command::AcceptReferral);

    if p.rng.chance(0.08) {
        let closed = p.after(decided, 14, 21, true);
        p.act(
            closed,
            &centro,
            Command::CloseReferral {
                reason: v1::ReferralCloseReason::NotReachable,
            },
        );
        return;
    }
    let contacted = p.after(decided, 2, 10, true);
    let contacted_on = p.date(contacted);
    if p.rng.chance(0.03) {
        p.mistake(
            contacted,
            &centro,
            Command::Enrol {
                interventions: areas.clone(),
                enrolled_on: contacted_on,
            },
            Code::FailedPrecondition,
            ENROLLED_BEFORE_CONTACT,
        );
    }
    let mode = p.rng.weighted(&[
        (v1::ContactMode::InPerson, 55),
        (v1::ContactMode::Phone, 35),
        (v1::ContactMode::Online, 10),
    ]);
    p.act(
        contacted,
        &centro,
        Command::RecordFirstContact { contacted_on, mode },
    );

    // Access is not enrolment: many families are oriented and go their way.
    if p.rng.chance(0.3) {
        if p.rng.chance(0.8) {
            let closed = p.after(contacted, 7, 20, true);
            p.act(
                closed,
                &centro,
                Command::CloseReferral {
                    reason: v1::ReferralCloseReason::Completed,
                },
            );
        }
        return;
    }
    let enrolled = p.after(contacted, 3, 14, true);
    let enrolled_on = p.date(enrolled);
    p.act(
        enrolled,
        &centro,
        Command::Enrol {
            interventions: areas,
            enrolled_on,
        },
    );
    if p.rng.chance(0.85) {
        let closed = p.after(enrolled, 30, 75, true);
        let reason = p.rng.weighted(&[
            (v1::ReferralCloseReason::Completed, 70),
            (v1::ReferralCloseReason::FamilyWithdrew, 20),
            (v1::ReferralCloseReason::ReferredElsewhere, 10),
        ]);
        p.act(closed, &centro, Command::CloseReferral { reason });
    }
}

// ---- the PRNG -----------------------------------------------------------------------------------

/// splitmix64: tiny, fast, and plenty good enough to decide who turns up where.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "nothing to choose from");
        self.next() % n
    }

    /// A number in `lo..=hi`.
    fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.below(u64::from(hi - lo) + 1) as u32
    }

    fn chance(&mut self, probability: f64) -> bool {
        ((self.next() >> 11) as f64) / ((1u64 << 53) as f64) < probability
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn weighted<T: Copy>(&mut self, items: &[(T, u32)]) -> T {
        let total: u64 = items.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut draw = self.below(total);
        for (item, weight) in items {
            let weight = u64::from(*weight);
            if draw < weight {
                return *item;
            }
            draw -= weight;
        }
        unreachable!("the draw is below the total weight")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};

    use raccordo_domain::ids::{AmbitoCode, ComuneId, OrgId};
    use raccordo_domain::registry::{Registry, ServiceArea};
    use time::macros::datetime;

    use super::*;

    const CALENDAR: Calendar = Calendar {
        start: date!(2026 - 01 - 12),
        days: 90,
    };

    fn default_scenario() -> Scenario {
        generate(2167, 360, CALENDAR)
    }

    fn steps(scenario: &Scenario) -> impl Iterator<Item = &Step> {
        scenario.pathways.iter().flat_map(|p| &p.steps)
    }

    fn applied<'a>(scenario: &'a Scenario, rpc: &'a str) -> impl Iterator<Item = &'a Step> + 'a {
        steps(scenario).filter(move |s| s.expect == Expect::Appended && s.command.rpc() == rpc)
    }

    #[test]
    fn the_same_seed_gives_the_same_scenario_and_another_seed_another() {
        assert_eq!(default_scenario(), default_scenario());
        assert_ne!(
            default_scenario().pathways,
            generate(2168, 360, CALENDAR).pathways
        );
    }

    #[test]
    fn all_three_kinds_come_in_roughly_the_planned_shares() {
        let scenario = default_scenario();
        let share =
            |kind| scenario.pathways.iter().filter(|p| p.kind == kind).count() as f64 / 360.0;
        assert!((0.35..0.55).contains(&share(PathwayKind::DimissioneProtetta)));
        assert!((0.25..0.45).contains(&share(PathwayKind::Pua)));
        assert!((0.12..0.28).contains(&share(PathwayKind::CentroFamiglia)));
    }

    #[test]
    fn the_story_has_the_trouble_real_pathways_have() {
        let scenario = default_scenario();
        let count = |rpc| applied(&scenario, rpc).count();
        assert!(count("CentroFamiglia.Decline") >= 5, "declines");
        assert!(
            count("DimissioneProtetta.RecordReadmission") >= 5,
            "readmissions"
        );
        assert!(count("DimissioneProtetta.Cancel") >= 3, "cancellations");
        assert!(count("Pua.RequestUvm") >= 20, "complex needs go to UVM");
        assert!(
            applied(&scenario, "Pua.Close").any(|s| s.command
                == Command::ClosePua {
                    reason: v1::PuaCloseReason::NeedAnswered
                }),
            "simple needs answered directly"
        );
        assert!(
            applied(&scenario, "DimissioneProtetta.RecordDischarge").any(|s| matches!(
                s.command,
                Command::RecordDischarge {
                    destination: v1::Destination::ResidentialFacility,
                    ..
                }
            )),
            "discharges to residential facilities"
        );
        assert!(
            applied(&scenario, "CentroFamiglia.Decline").any(|s| s.command
                == Command::DeclineReferral {
                    reason: v1::DeclineReason::OutsideCatchment
                }),
            "a referral sent to the wrong Centro is declined"
        );
        let moves_per_pathway: Vec<usize> = scenario
            .pathways
            .iter()
            .map(|p| {
                p.steps
                    .iter()
                    .filter(|s| {
                        s.expect == Expect::Appended
                            && s.command.rpc() == "DimissioneProtetta.ChangeExpectedDate"
                    })
                    .count()
            })
            .collect();
        assert!(
            moves_per_pathway.iter().filter(|n| **n >= 1).count() >= 20,
            "moved discharge dates"
        );
        assert!(
            moves_per_pathway.iter().any(|n| *n >= 2),
            "a date moved more than once"
        );
        assert!(
            moves_per_pathway.iter().all(|n| *n <= 4),
            "at most three moves, and one after a readmission"
        );
        assert!(
            steps(&scenario)
                .filter(|s| s.expect == Expect::Replayed)
                .count()
                >= 20,
            "duplicates"
        );
        assert!(
            scenario.persons_in_several_pathways() >= 3,
            "persons in two pathways"
        );
        let open = scenario
            .pathways
            .iter()
            .filter(|p| {
                !p.steps.iter().any(|s| {
                    s.expect == Expect::Appended
                        && matches!(
                            s.command,
                            Command::CloseDischarge { .. }
                                | Command::CancelDischarge { .. }
                                | Command::ClosePua { .. }
                                | Command::CloseReferral { .. }
                                | Command::DeclineReferral { .. }
                        )
                })
            })
            .count();
        assert!(open >= 30, "pathways still in progress at the end");
    }

    #[test]
    fn the_expected_refusals_are_a_handful_of_several_kinds() {
        let scenario = default_scenario();
        let refusals: Vec<(Code, &str)> = steps(&scenario)
            .filter_map(|s| match s.expect {
                Expect::Refused { code, why } => Some((code, why)),
                _ => None,
            })
            .collect();
        assert!(
            (10..=60).contains(&refusals.len()),
            "{} refusals",
            refusals.len()
        );
        let codes: HashSet<Code> = refusals.iter().map(|(c, _)| *c).collect();
        for code in [
            Code::PermissionDenied,
            Code::FailedPrecondition,
            Code::InvalidArgument,
        ] {
            assert!(codes.contains(&code), "a refusal with {code:?}");
        }
        assert!(
            refusals
                .iter()
                .any(|(_, why)| *why == WRONG_AMBITO_RECEIVES)
        );
        assert!(refusals.iter().any(|(_, why)| *why == DISCHARGED_TWICE));
    }

    #[test]
    fn each_pathway_is_opened_first_and_runs_in_time_order_within_the_days() {
        let scenario = default_scenario();
        let mut ids = HashSet::new();
        for pathway in &scenario.pathways {
            let first_applied = pathway
                .steps
                .iter()
                .find(|s| s.expect == Expect::Appended)
                .unwrap();
            assert!(
                first_applied.command.opens_pathway(),
                "pathway {} opens first",
                pathway.number
            );
            assert!(pathway.steps.windows(2).all(|w| w[0].at <= w[1].at));
            assert!(pathway.steps.iter().all(|s| s.at.day < CALENDAR.days));
            assert!(
                pathway
                    .steps
                    .iter()
                    .all(|s| (FIRST_HOUR..=LAST_HOUR).contains(&s.at.hour))
            );
            for step in &pathway.steps {
                assert!(
                    step.by.parse::<OrgId>().is_ok(),
                    "{} is an organisation",
                    step.by
                );
                if step.expect == Expect::Appended {
                    assert!(
                        ids.insert(step.command_id.clone()),
                        "{} is used once",
                        step.command_id
                    );
                }
            }
        }
    }

    #[test]
    fn the_territory_is_the_registrys() {
        let registry = Registry::embedded();
        let on = CALENDAR.start;
        for ambito in &AMBITI {
            let code: AmbitoCode = ambito.code.parse().unwrap();
            let comuni: BTreeSet<&str> = registry
                .comuni_of_ambito(&code, on)
                .iter()
                .map(|c| c.as_str())
                .collect();
            let ours: BTreeSet<&str> = ambito.comuni.iter().map(|(c, _)| *c).collect();
            assert_eq!(comuni, ours, "the Comuni of {}", ambito.name);
            let asst: Vec<&str> = registry
                .asst_of_ambito(&code, on)
                .iter()
                .map(|a| a.as_str())
                .collect();
            assert_eq!(asst, [ambito.asst]);
            let centri: Vec<&str> = registry
                .centri_of_ambito(&code, on)
                .iter()
                .map(|c| c.as_str())
                .collect();
            assert_eq!(centri, [ambito.centro]);
            for (comune, _) in ambito.comuni {
                let comune: ComuneId = comune.parse().unwrap();
                let bodies = |area, on| -> Vec<String> {
                    registry
                        .delivering_bodies(&comune, area, on)
                        .iter()
                        .map(|e| e.to_string())
                        .collect()
                };
                assert_eq!(
                    bodies(ServiceArea::HomeCare, on),
                    Vec::from_iter(ambito.home_care.map(String::from))
                );
                assert_eq!(
                    bodies(ServiceArea::FamilySupport, on),
                    Vec::from_iter(ambito.family_support.map(String::from))
                );
                match ambito.discharge_project {
                    Some((ente, until)) => {
                        assert_eq!(
                            bodies(ServiceArea::SocialService, until.previous_day().unwrap()),
                            [ente]
                        );
                        assert!(bodies(ServiceArea::SocialService, until).is_empty());
                    }
                    None => assert!(bodies(ServiceArea::SocialService, on).is_empty()),
                }
            }
        }
    }

    #[test]
    fn moments_are_italian_office_hours_expressed_in_utc() {
        assert_eq!(
            CALENDAR.instant(Moment::FIRST),
            datetime!(2026-01-12 07:00 UTC)
        );
        // Summer time starts on Sunday 29 March 2026.
        assert_eq!(
            CALENDAR.instant(Moment { day: 75, hour: 9 }),
            datetime!(2026-03-28 08:00 UTC)
        );
        assert_eq!(
            CALENDAR.instant(Moment { day: 77, hour: 9 }),
            datetime!(2026-03-30 07:00 UTC)
        );
    }
}
