//! Who receives which event of a pathway, and what of it: the pure rule the router applies.
//!
//! Every party of a pathway gets each of its events in its own inbox, reduced to what its role
//! needs (least data). The parties are derived from the pathway as it stands after the event and
//! from the registry on the event's date, so a given history routed with a given registry always
//! gives the same deliveries. The ATS follows the pathways of its Ambiti through an aggregate view,
//! for monitoring and indicators, and never sees a person.
//!
//! A party can join a pathway late: a Comune named in an assessment, a body that starts delivering
//! services for the person's Comune. [`joined`] names it, so that the router hands it the earlier
//! events too and every party holds the whole history it is entitled to.
//!
//! A receipt is the exception: it is news for one party only, the sender of the event it
//! acknowledges, and goes to no one else, not even to the party that acknowledged ([`is_for`]).

use std::collections::{BTreeMap, btree_map};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::Date;

use crate::ids::{OrgId, OrgKind, PathwayKind};
use crate::pathway::{Event, EventData, KindState, Participant, Pathway};
use crate::registry::{Registry, ServiceArea};

/// How much of an event a party sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum View {
    /// The whole event: for the organisations taking part in the pathway.
    Full,
    /// The ATS's monitoring view: what the indicators need, nothing that points to a person.
    Aggregate,
}

impl View {
    /// The view's wire name: `full` or `aggregate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Aggregate => "aggregate",
        }
    }
}

/// The fields an aggregate view drops, at any depth of an event's body: the person's pseudonym,
/// free text (a ward's name, or any note to come, can name anyone), and the Comune of residence,
/// which in a small Comune points to a person; the Ambito stays. A test checks every string field
/// the event contracts leave free against this list.
pub const NOT_IN_AGGREGATE: &[&str] = &["subject_ref", "ward", "residence", "related_pathway"];

/// The service areas whose bodies follow a referral to a Centro per la Famiglia: the bodies running
/// the Comune's home care or its child protection under court orders have no part in it.
const FAMILY_AREAS: &[ServiceArea] = &[ServiceArea::FamilySupport, ServiceArea::SocialService];

/// One event as one party receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub party: OrgId,
    pub view: View,
    /// The event's JSON body as this party may see it.
    pub body: Value,
}

/// The parties of a pathway on a date, each with its view, sorted by organisation. Given the
/// pathway as it stands after an event and that event's date, they are who receives the event.
pub fn parties(pathway: &Pathway, registry: &Registry, on: Date) -> Vec<(OrgId, View)> {
    Parties::of(pathway, registry, on).into_iter().collect()
}

/// An event's body as a party with `view` may see it.
pub fn view_of(event: &Event, view: View) -> Value {
    let mut body = event.data.to_body();
    if view == View::Aggregate {
        drop_not_in_aggregate(&mut body);
    }
    body
}

/// Every delivery of one event, sorted by party: each party of the pathway after the event, on the
/// event's date, receives the event as its view allows (a receipt only its sender: [`is_for`]).
///
/// # Panics
/// If `pathway_after` is not the pathway as it stands right after `event`: routing by another
/// state would hand the event to the wrong parties.
pub fn route(pathway_after: &Pathway, event: &Event, registry: &Registry) -> Vec<Delivery> {
    let is_last = pathway_after
        .applied
        .get(&event.id)
        .is_some_and(|applied| applied.sequence == pathway_after.last_sequence);
    assert!(
        pathway_after.id == event.pathway && is_last,
        "cannot route event {} ({}) of pathway {} by the state of pathway {} at sequence {}: \
         the state must be the pathway right after the event",
        event.id,
        event.data.event_type(),
        event.pathway,
        pathway_after.id,
        pathway_after.last_sequence,
    );
    let parties = Parties::of(pathway_after, registry, event.time.date());
    let full = view_of(event, View::Full);
    let aggregate = view_of(event, View::Aggregate);
    parties
        .into_iter()
        .filter(|(party, view)| is_for(event, party, *view))
        .map(|(party, view)| {
            let body = match view {
                View::Full => full.clone(),
                View::Aggregate => aggregate.clone(),
            };
            Delivery { party, view, body }
        })
        .collect()
}

/// One event as a party should hold it once the router has routed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub event_id: crate::ids::EventId,
    pub sequence: u64,
    pub view: View,
    pub body: Value,
}

/// What each party should hold of one pathway once its whole history (`history`, in log order)
/// is routed: the deliveries of every event, and the earlier events handed to a party that joins
/// late, each party's in log order. The router writes exactly this; the reconciler sets it beside
/// what a party's projection says it holds. An event that does not fit the pathway ends it here,
/// as the router parks it.
pub fn holdings(
    history: &[crate::pathway::RecordedEvent],
    registry: &Registry,
) -> std::collections::BTreeMap<OrgId, Vec<Held>> {
    let mut held: std::collections::BTreeMap<OrgId, std::collections::BTreeMap<u64, Held>> =
        std::collections::BTreeMap::new();
    let mut state: Option<Pathway> = None;
    for (index, recorded) in history.iter().enumerate() {
        let Ok(after) = Pathway::evolve(state.clone(), recorded) else {
            break;
        };
        for (party, view) in joined(state.as_ref(), &after, registry) {
            for earlier in &history[..index] {
                if is_for(&earlier.event, &party, view) {
                    held.entry(party.clone()).or_default().insert(
                        earlier.sequence,
                        Held {
                            event_id: earlier.event.id.clone(),
                            sequence: earlier.sequence,
                            view,
                            body: view_of(&earlier.event, view),
                        },
                    );
                }
            }
        }
        for delivery in route(&after, &recorded.event, registry) {
            held.entry(delivery.party).or_default().insert(
                recorded.sequence,
                Held {
                    event_id: recorded.event.id.clone(),
                    sequence: recorded.sequence,
                    view: delivery.view,
                    body: delivery.body,
                },
            );
        }
        state = Some(after);
    }
    held.into_iter()
        .map(|(party, events)| (party, events.into_values().collect()))
        .collect()
}

/// Whether a party of the event's pathway, with `view`, receives `event`: each party receives every
/// event, except a receipt, which goes to the sender of the acknowledged event alone, in full, and
/// not back to the party that acknowledged (nor anywhere when they are one). A receipt is not
/// monitoring data, so the ATS never receives one. The router asks this also of the earlier events
/// it hands a party that joins late.
pub fn is_for(event: &Event, party: &OrgId, view: View) -> bool {
    match &event.data {
        EventData::Receipt(_, receipt) => {
            view == View::Full && *party == receipt.sender && *party != event.actor.org
        }
        _ => true,
    }
}

/// The parties `after` has that `before` did not (or not with that view), sorted: the router hands
/// each of them the pathway's earlier events, so that a party joining late still holds the whole
/// history. Each side is taken on the date of its last event, so a body the registry starts
/// counting between two events joins like a Comune named in an assessment. Empty when the event
/// opened the pathway (`before` is `None`): there is no earlier history.
pub fn joined(
    before: Option<&Pathway>,
    after: &Pathway,
    registry: &Registry,
) -> Vec<(OrgId, View)> {
    let Some(before) = before else {
        return Vec::new();
    };
    let had = Parties::of(before, registry, before.updated_at.date());
    Parties::of(after, registry, after.updated_at.date())
        .into_iter()
        .filter(|(org, view)| had.view(org) != Some(*view))
        .collect()
}

/// The parties of one pathway, held by organisation so that they come out sorted and once each.
struct Parties {
    kind: PathwayKind,
    views: BTreeMap<OrgId, View>,
}

impl Parties {
    fn of(pathway: &Pathway, registry: &Registry, on: Date) -> Self {
        let mut parties = Parties {
            kind: pathway.kind(),
            views: BTreeMap::new(),
        };
        let (residence, ambito, areas): (_, _, &[ServiceArea]) = match &pathway.state {
            KindState::DimissioneProtetta(s) => {
                parties.add(OrgId::Asst(s.asst.clone()));
                for asst in registry.asst_of_ambito(&s.ambito, on) {
                    parties.add(OrgId::Asst(asst.clone()));
                }
                if let Some(receiver) = &s.received_by {
                    parties.add(receiver.clone());
                }
                // A hospital outside the person's territory that readmitted them follows the
                // pathway from then on (and is handed its earlier events).
                for readmission in &s.readmissions {
                    parties.add(OrgId::Asst(readmission.asst.clone()));
                }
                parties.add_named(
                    s.assessment
                        .iter()
                        .flat_map(|a| &a.participants)
                        .chain(s.plan.iter().flat_map(|p| &p.case_manager)),
                );
                (&s.residence, &s.ambito, &ServiceArea::ALL)
            }
            KindState::Pua(s) => {
                parties.add(OrgId::Asst(s.asst.clone()));
                parties.add_named(
                    s.uvm
                        .iter()
                        .flat_map(|u| &u.participants)
                        .chain(s.plan.iter().flat_map(|p| &p.case_manager)),
                );
                (&s.residence, &s.ambito, &ServiceArea::ALL)
            }
            KindState::CentroFamiglia(s) => {
                parties.add(OrgId::Centro(s.centro.clone()));
                parties.add(s.referred_by.clone());
                (&s.residence, &s.ambito, FAMILY_AREAS)
            }
        };
        parties.add(OrgId::Comune(residence.clone()));
        for area in areas {
            for ente in registry.delivering_bodies(residence, *area, on) {
                parties.add(OrgId::Ente(ente.clone()));
            }
        }
        // Every row of Allegato C about an Ambito names the same ATS (the registry refuses
        // otherwise), so the ATS needs no date.
        if let Some(ambito) = registry.ambito(ambito) {
            parties.add(OrgId::Ats(ambito.ats.clone()));
        }
        parties
    }

    /// Admits an organisation with the view its kind gets, or leaves it out.
    fn add(&mut self, org: OrgId) {
        let view = match org.kind() {
            OrgKind::Ats => View::Aggregate,
            // An Ambito's Ufficio di Piano has no inbox yet.
            OrgKind::Ambito => return,
            // A Centro per la Famiglia holds no health data: it takes part in its own referrals
            // only, even when named in the assessment of a discharge or a PUA intake.
            OrgKind::Centro if self.kind != PathwayKind::CentroFamiglia => return,
            OrgKind::Asst | OrgKind::Comune | OrgKind::Ente | OrgKind::Centro => View::Full,
        };
        self.views.insert(org, view);
    }

    fn add_named<'a>(&mut self, named: impl IntoIterator<Item = &'a Participant>) {
        for participant in named {
            self.add(participant.org.clone());
        }
    }

    fn view(&self, org: &OrgId) -> Option<View> {
        self.views.get(org).copied()
    }
}

impl IntoIterator for Parties {
    type Item = (OrgId, View);
    type IntoIter = btree_map::IntoIter<OrgId, View>;

    fn into_iter(self) -> Self::IntoIter {
        self.views.into_iter()
    }
}

fn drop_not_in_aggregate(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            fields.retain(|name, _| !NOT_IN_AGGREGATE.contains(&name.as_str()));
            fields.values_mut().for_each(drop_not_in_aggregate);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_not_in_aggregate),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;
    use proptest::sample::{Index, select};
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use time::macros::datetime;
    use time::{Duration, OffsetDateTime};

    use super::*;
    use crate::ids::{ComuneId, EventId};
    use crate::pathway::centro_famiglia as cpf;
    use crate::pathway::dimissione_protetta as dp;
    use crate::pathway::finding::{Finding, FindingKind, RecordFinding};
    use crate::pathway::pua;
    use crate::pathway::{
        Actor, Command, CommandBody, Context, Decision, RecordedEvent, Rejection, Role, decide,
        receipt,
    };
    use crate::registry::RegistryFile;
    use crate::testing::{
        complete_uvm, comune, joint_assessment, org, participant, person, pua_plan,
    };

    use View::{Aggregate, Full};

    // ---- the parties ----------------------------------------------------------------------------

    /// ASST Ovest Milanese: serves the Magentino (Ambito 50032).
    const ASST_OVEST_MILANESE: &str = "asst:705";
    /// ASST Nord Milano: serves Cinisello Balsamo (Ambito 50069).
    const ASST_NORD_MILANO: &str = "asst:707";
    /// ASST Niguarda, in Milano: serves neither Ambito.
    const NIGUARDA: &str = "asst:701";
    /// Monitors both Ambiti.
    const ATS_MILANO: &str = "ats:321";
    const MAGENTA: &str = "comune:magenta";
    const CORBETTA: &str = "comune:corbetta";
    const CORMANO: &str = "comune:cormano";
    const BRESSO: &str = "comune:bresso";
    const CINISELLO: &str = "comune:cinisello-balsamo";
    /// Delivers services for the Comuni of the Magentino.
    const ASCSP: &str = "ente:ascsp";
    /// Delivers services for the Comuni of Cinisello Balsamo's Ambito.
    const IPIS: &str = "ente:ipis";
    /// The Centro per la Famiglia of Cinisello Balsamo's Ambito.
    const OFFICINA: &str = "centro:officina-dei-legami";
    /// A Centro per la Famiglia of the Magentino.
    const SPAZIO_FAMIGLIA: &str = "centro:spazio-famiglia-qui-si-puo";
    const CINISELLO_AMBITO: &str = "50069";

    /// Parties as a test writes them, in the order `parties` gives them: by kind (ATS, ASST,
    /// Comune, ente, Centro), then by code.
    fn listed(parties: &[(&str, View)]) -> Vec<(OrgId, View)> {
        parties.iter().map(|(id, view)| (org(id), *view)).collect()
    }

    /// A Monday in 2026; the registry is in force from 2025.
    const START: OffsetDateTime = datetime!(2026-03-02 09:00 UTC);

    fn day(n: i64) -> OffsetDateTime {
        START + Duration::days(n)
    }

    // ---- playing a pathway as the gateway and the router will --------------------------------------

    /// One pathway played as the gateway and the router will play it: each command decided and
    /// evolved, each event routed, and the earlier history handed to every party that joins.
    struct Trail<'r> {
        registry: &'r Registry,
        /// Prefixes the command ids, so that trails opened by one organisation are distinct pathways.
        name: String,
        pathway: Option<Pathway>,
        history: Vec<Event>,
        /// The events of the pathway each organisation holds in its inbox.
        inboxes: BTreeMap<OrgId, BTreeSet<EventId>>,
    }

    /// What the router is given for one event and what it does with it.
    #[derive(Debug)]
    struct Routed {
        before: Option<Pathway>,
        event: Event,
        deliveries: Vec<Delivery>,
        joined: Vec<(OrgId, View)>,
    }

    impl Routed {
        fn receivers(&self) -> Vec<String> {
            self.deliveries
                .iter()
                .map(|d| d.party.to_string())
                .collect()
        }
    }

    impl<'r> Trail<'r> {
        fn new(registry: &'r Registry, name: &str) -> Self {
            Self {
                registry,
                name: name.to_owned(),
                pathway: None,
                history: Vec::new(),
                inboxes: BTreeMap::new(),
            }
        }

        fn pathway(&self) -> &Pathway {
            self.pathway.as_ref().expect("the pathway is open")
        }

        /// The parties as of the pathway's last event.
        fn parties(&self) -> Vec<(OrgId, View)> {
            let pathway = self.pathway();
            parties(pathway, self.registry, pathway.updated_at.date())
        }

        /// Whether `party` holds every event of the pathway meant for it: all of them, but the
        /// receipts of others' events.
        fn holds_everything(&self, party: &OrgId) -> bool {
            let view = if party.kind() == OrgKind::Ats {
                Aggregate
            } else {
                Full
            };
            let inbox = self.inboxes.get(party);
            self.history
                .iter()
                .filter(|event| is_for(event, party, view))
                .all(|event| inbox.is_some_and(|held| held.contains(&event.id)))
        }

        /// Decides `body` for `who` at `now`; an accepted command's event is evolved into the
        /// pathway, routed, and the earlier history backfilled to whoever joined with it.
        fn submit(
            &mut self,
            who: &OrgId,
            now: OffsetDateTime,
            body: CommandBody,
        ) -> Result<Routed, Rejection> {
            let id = format!("{}-{}", self.name, self.history.len());
            let command = Command {
                id: id.parse().expect("a well-formed command id"),
                pathway: self.pathway.as_ref().map(|p| p.id.clone()),
                body,
            };
            self.submit_command(who, now, &command)
        }

        /// `who` acknowledges the pathway's `n`th event at `now`, as its software would on finding
        /// it in its inbox.
        fn acknowledge(
            &mut self,
            who: &OrgId,
            now: OffsetDateTime,
            n: usize,
        ) -> Result<Routed, Rejection> {
            let command = receipt::Acknowledge::command(
                self.pathway().id.clone(),
                self.history[n].id.clone(),
                n as u64 + 1,
                now,
            );
            self.submit_command(who, now, &command)
        }

        fn submit_command(
            &mut self,
            who: &OrgId,
            now: OffsetDateTime,
            command: &Command,
        ) -> Result<Routed, Rejection> {
            let id = &command.id;
            let operator = match command.body {
                CommandBody::RecordFinding(_) => crate::pathway::finding::OPERATOR,
                _ => "operatore.1",
            };
            let actor = Actor {
                org: who.clone(),
                operator: operator.parse().expect("a well-formed operator id"),
            };
            let ctx = Context {
                actor: &actor,
                now,
                registry: self.registry,
            };
            let Decision::Append(event) = decide(self.pathway.as_ref(), command, &ctx)? else {
                panic!("command {id} was never sent before, yet it is already applied");
            };
            let before = self.pathway.take();
            let recorded = RecordedEvent {
                sequence: self.history.len() as u64 + 1,
                event,
            };
            let after = Pathway::evolve(before.clone(), &recorded)
                .unwrap_or_else(|e| panic!("decide accepted an event that evolve refuses: {e}"));
            let event = recorded.event;
            let joined = joined(before.as_ref(), &after, self.registry);
            for (party, view) in &joined {
                let earlier = self
                    .history
                    .iter()
                    .filter(|e| is_for(e, party, *view))
                    .map(|e| e.id.clone());
                self.inboxes
                    .entry(party.clone())
                    .or_default()
                    .extend(earlier);
            }
            let deliveries = route(&after, &event, self.registry);
            for delivery in &deliveries {
                let inbox = self.inboxes.entry(delivery.party.clone()).or_default();
                inbox.insert(event.id.clone());
            }
            self.history.push(event.clone());
            self.pathway = Some(after);
            Ok(Routed {
                before,
                event,
                deliveries,
                joined,
            })
        }

        /// Plays a command the domain must accept.
        fn run(&mut self, who: &str, now: OffsetDateTime, body: impl Into<CommandBody>) -> Routed {
            let body = body.into();
            let name = body.name();
            self.submit(&org(who), now, body)
                .unwrap_or_else(|e| panic!("{who} {name} at {now}: {e}"))
        }

        /// Plays an acknowledgement of the `n`th event the domain must accept.
        fn acknowledged(&mut self, who: &str, now: OffsetDateTime, n: usize) -> Routed {
            self.acknowledge(&org(who), now, n)
                .unwrap_or_else(|e| panic!("{who} acknowledge event {n} at {now}: {e}"))
        }

        /// The reconciler records a finding about the `n`th event, naming `party`.
        fn found(
            &mut self,
            kind: FindingKind,
            party: &str,
            now: OffsetDateTime,
            n: usize,
        ) -> Routed {
            let mut finding = Finding::new(kind);
            finding.event_id = Some(self.history[n].id.clone());
            finding.party = Some(org(party));
            finding.related_pathway = Some(self.pathway().id.clone());
            let command = RecordFinding::command(self.pathway().id.clone(), finding);
            self.submit_command(&org(ATS_MILANO), now, &command)
                .unwrap_or_else(|e| panic!("finding on event {n} at {now}: {e}"))
        }
    }

    // ---- the commands -------------------------------------------------------------------------

    fn discharge_request(residence: &str, expected_discharge: Date) -> dp::Command {
        dp::Command::Request(dp::Request {
            subject_ref: person(1),
            ward: "Medicina generale - Ospedale di Magenta".into(),
            residence: comune(residence),
            expected_discharge,
            needs: vec![dp::Service::Sad, dp::Service::CDom],
            lives_alone: true,
            no_caregiver: true,
        })
    }

    fn care_plan(case_manager: Option<Participant>) -> dp::Command {
        dp::Command::AgreeCarePlan(dp::AgreeCarePlan {
            services: vec![dp::Service::Sad, dp::Service::CDom],
            case_manager,
        })
    }

    fn record_discharge(discharged_on: Date) -> dp::Command {
        dp::Command::RecordDischarge(dp::RecordDischarge {
            discharged_on,
            destination: dp::Destination::Home,
        })
    }

    fn pua_access(residence: &str, asst: &str, subject: u8) -> pua::Command {
        let OrgId::Asst(asst) = org(asst) else {
            panic!("{asst} is not an ASST");
        };
        pua::Command::RegisterAccess(pua::RegisterAccess {
            subject_ref: person(subject),
            residence: comune(residence),
            asst,
            channel: pua::Channel::GeneralPractitioner,
        })
    }

    fn referral(
        residence: &str,
        centro: &str,
        referrer: cpf::Referrer,
        subject: u8,
    ) -> cpf::Command {
        let OrgId::Centro(centro) = org(centro) else {
            panic!("{centro} is not a Centro per la Famiglia");
        };
        cpf::Command::SendReferral(cpf::SendReferral {
            subject_ref: person(subject),
            residence: comune(residence),
            centro,
            referrer,
            areas: vec![cpf::SupportArea::ParentingSupport],
        })
    }

    // ---- the journeys -------------------------------------------------------------------------

    /// A Magentino discharge through every step, readmitted once at another hospital.
    fn magentino_discharge(registry: &Registry) -> Trail<'_> {
        let mut trail = Trail::new(registry, "magentino");
        trail.run(
            ASST_OVEST_MILANESE,
            day(0),
            discharge_request(MAGENTA, day(10).date()),
        );
        trail.run(MAGENTA, day(1), dp::Command::Receive);
        trail.acknowledged(MAGENTA, day(1), 0);
        trail.found(FindingKind::StepOverdue, MAGENTA, day(1), 0);
        trail.run(
            ASST_OVEST_MILANESE,
            day(2),
            dp::Command::ChangeExpectedDate(dp::ChangeExpectedDate {
                expected_discharge: day(12).date(),
                reason: dp::DateChangeReason::AwaitingHomeServices,
            }),
        );
        trail.run(
            ASST_OVEST_MILANESE,
            day(3),
            joint_assessment(
                day(3).date(),
                vec![
                    participant(ASST_OVEST_MILANESE, Role::Physician),
                    participant(CORBETTA, Role::SocialWorker),
                ],
            ),
        );
        trail.run(
            MAGENTA,
            day(4),
            care_plan(Some(participant(MAGENTA, Role::SocialWorker))),
        );
        trail.run(
            ASST_OVEST_MILANESE,
            day(12),
            record_discharge(day(12).date()),
        );
        trail.run(
            MAGENTA,
            day(13),
            dp::Command::ActivateHomeServices(dp::ActivateHomeServices {
                services: vec![dp::Service::Sad],
                activated_on: day(13).date(),
            }),
        );
        trail.run(
            NIGUARDA,
            day(20),
            dp::Command::RecordReadmission(dp::RecordReadmission {
                readmitted_on: day(20).date(),
            }),
        );
        trail.run(
            ASST_OVEST_MILANESE,
            day(25),
            record_discharge(day(25).date()),
        );
        trail.run(
            MAGENTA,
            day(40),
            dp::Command::Close {
                reason: dp::CloseReason::Completed,
            },
        );
        trail
    }

    fn cancelled_discharge(registry: &Registry) -> Trail<'_> {
        let mut trail = Trail::new(registry, "cancelled");
        trail.run(
            ASST_NORD_MILANO,
            day(0),
            discharge_request(CINISELLO, day(5).date()),
        );
        trail.run(
            ASST_NORD_MILANO,
            day(1),
            dp::Command::Cancel {
                reason: dp::CancelReason::PatientRefused,
            },
        );
        trail
    }

    /// A Cinisello PUA intake of a resident of Cormano through every step.
    fn cinisello_pua(registry: &Registry) -> Trail<'_> {
        let mut trail = Trail::new(registry, "pua");
        trail.run(
            ASST_NORD_MILANO,
            day(0),
            pua_access(CORMANO, ASST_NORD_MILANO, 2),
        );
        trail.acknowledged(CORMANO, day(0), 0);
        trail.found(FindingKind::NoProtocol, CORMANO, day(0), 0);
        trail.run(
            ASST_NORD_MILANO,
            day(1),
            pua::Command::RecordPreliminaryAssessment {
                triage: pua::Triage::Complex,
            },
        );
        trail.run(CORMANO, day(2), pua::Command::RequestUvm);
        trail.run(
            ASST_NORD_MILANO,
            day(5),
            complete_uvm(
                day(5).date(),
                vec![
                    participant(ASST_NORD_MILANO, Role::Nurse),
                    participant(CORMANO, Role::SocialWorker),
                ],
            ),
        );
        trail.run(
            CORMANO,
            day(6),
            pua_plan(Some(participant(CORMANO, Role::SocialWorker))),
        );
        trail.run(
            CORMANO,
            day(8),
            pua::Command::ActivateService(pua::ActivateService {
                service: pua::PuaService::Sad,
                activated_on: day(8).date(),
            }),
        );
        trail.run(
            ASST_NORD_MILANO,
            day(60),
            pua::Command::Close {
                reason: pua::CloseReason::Completed,
            },
        );
        trail
    }

    /// A Cormano family referred by its Comune to the Officina dei Legami, enrolled and closed.
    fn cormano_referral(registry: &Registry) -> Trail<'_> {
        let mut trail = Trail::new(registry, "referral");
        trail.run(
            CORMANO,
            day(0),
            referral(CORMANO, OFFICINA, cpf::Referrer::ComuneSocialService, 3),
        );
        trail.run(OFFICINA, day(1), cpf::Command::Accept);
        trail.acknowledged(OFFICINA, day(1), 0);
        trail.found(FindingKind::NeverAcknowledged, OFFICINA, day(1), 0);
        trail.run(
            OFFICINA,
            day(3),
            cpf::Command::RecordFirstContact(cpf::RecordFirstContact {
                contacted_on: day(3).date(),
                mode: cpf::ContactMode::InPerson,
            }),
        );
        trail.run(
            OFFICINA,
            day(10),
            cpf::Command::Enrol(cpf::Enrol {
                interventions: vec![cpf::SupportArea::ParentingSupport],
                enrolled_on: day(10).date(),
            }),
        );
        trail.run(
            OFFICINA,
            day(90),
            cpf::Command::Close {
                reason: cpf::CloseReason::Completed,
            },
        );
        trail
    }

    /// A Bresso family referred by ASST Nord Milano's consultorio and declined.
    fn declined_referral(registry: &Registry) -> Trail<'_> {
        let mut trail = Trail::new(registry, "declined");
        trail.run(
            ASST_NORD_MILANO,
            day(0),
            referral(BRESSO, OFFICINA, cpf::Referrer::Consultorio, 4),
        );
        trail.run(
            OFFICINA,
            day(2),
            cpf::Command::Decline {
                reason: cpf::DeclineReason::NoCapacity,
            },
        );
        trail
    }

    // ---- who receives -------------------------------------------------------------------------

    #[test]
    fn a_magentino_discharge_goes_to_its_hospital_comune_bodies_and_ats_and_to_a_comune_named_later()
     {
        let registry = Registry::embedded();
        let mut trail = Trail::new(registry, "magentino");
        let requested = trail.run(
            ASST_OVEST_MILANESE,
            day(0),
            discharge_request(MAGENTA, day(10).date()),
        );
        let first = listed(&[
            (ATS_MILANO, Aggregate),
            (ASST_OVEST_MILANESE, Full),
            (MAGENTA, Full),
            (ASCSP, Full),
        ]);
        assert_eq!(trail.parties(), first);
        // ASCSP is there because the registry has it deliver services for Magenta.
        let bodies: BTreeSet<String> = ServiceArea::ALL
            .into_iter()
            .flat_map(|area| registry.delivering_bodies(&comune(MAGENTA), area, day(0).date()))
            .map(|ente| OrgId::Ente(ente.clone()).to_string())
            .collect();
        assert_eq!(bodies, BTreeSet::from([ASCSP.to_owned()]));
        let received: Vec<_> = requested
            .deliveries
            .iter()
            .map(|d| (d.party.clone(), d.view))
            .collect();
        assert_eq!(received, first);
        assert!(
            requested.joined.is_empty(),
            "an opening event has no history"
        );
        let full_body = requested.event.data.to_body();
        for delivery in &requested.deliveries {
            match delivery.view {
                Full => assert_eq!(delivery.body, full_body),
                Aggregate => {
                    assert_eq!(delivery.body["ambito"], "50032");
                    assert_eq!(delivery.body["asst"], "705");
                    for field in ["subject_ref", "ward", "residence"] {
                        assert!(
                            delivery.body.get(field).is_none(),
                            "{field} reached the ATS"
                        );
                    }
                }
            }
        }

        let received = trail.run(MAGENTA, day(1), dp::Command::Receive);
        assert!(received.joined.is_empty());
        let assessed = trail.run(
            ASST_OVEST_MILANESE,
            day(3),
            joint_assessment(
                day(3).date(),
                vec![
                    participant(ASST_OVEST_MILANESE, Role::Physician),
                    participant(CORBETTA, Role::SocialWorker),
                ],
            ),
        );
        assert_eq!(assessed.joined, listed(&[(CORBETTA, Full)]));
        assert!(assessed.receivers().contains(&CORBETTA.to_owned()));
        assert!(
            trail.holds_everything(&org(CORBETTA)),
            "the router hands Corbetta the request and its receipt as well"
        );

        let planned = trail.run(MAGENTA, day(4), care_plan(None));
        assert!(planned.joined.is_empty());
        assert_eq!(
            planned.receivers(),
            [ATS_MILANO, ASST_OVEST_MILANESE, CORBETTA, MAGENTA, ASCSP]
        );
        assert_eq!(
            route(trail.pathway(), &planned.event, registry),
            planned.deliveries,
            "routing the same event twice gives the same deliveries"
        );
    }

    #[test]
    fn a_hospital_outside_the_territory_that_readmits_follows_the_pathway_from_then_on() {
        let trail = magentino_discharge(Registry::embedded());
        let niguarda = org(NIGUARDA);
        assert!(
            trail.history.iter().any(|e| e.data.name() == "readmitted"),
            "the journey has a readmission"
        );
        assert!(trail.parties().contains(&(niguarda.clone(), Full)));
        // Handed the earlier events when it joined, it holds the whole history.
        assert!(trail.holds_everything(&niguarda));
    }

    #[test]
    fn a_cinisello_pua_intake_goes_to_ipis_and_the_ats_and_not_to_the_magentino() {
        let registry = Registry::embedded();
        let mut trail = Trail::new(registry, "pua");
        trail.run(
            ASST_NORD_MILANO,
            day(0),
            pua_access(CORMANO, ASST_NORD_MILANO, 2),
        );
        assert_eq!(
            trail.parties(),
            listed(&[
                (ATS_MILANO, Aggregate),
                (ASST_NORD_MILANO, Full),
                (CORMANO, Full),
                (IPIS, Full),
            ])
        );
        assert!(
            ServiceArea::ALL.into_iter().any(|area| registry
                .delivering_bodies(&comune(CORMANO), area, day(0).date())
                .iter()
                .any(|ente| ente.as_str() == "ipis")),
            "IPIS is a party because it delivers for Cormano"
        );

        let trail = cinisello_pua(registry);
        for party in [ASST_OVEST_MILANESE, MAGENTA, ASCSP, OFFICINA] {
            assert!(
                !trail.inboxes.contains_key(&org(party)),
                "{party} received a Cinisello PUA intake"
            );
        }
        assert!(trail.holds_everything(&org(ATS_MILANO)));
        assert!(trail.holds_everything(&org(IPIS)));
    }

    #[test]
    fn a_referral_goes_to_the_centro_and_to_an_asst_only_when_it_referred() {
        let registry = Registry::embedded();
        let trail = cormano_referral(registry);
        assert_eq!(
            trail.parties(),
            listed(&[
                (ATS_MILANO, Aggregate),
                (CORMANO, Full),
                (IPIS, Full),
                (OFFICINA, Full),
            ])
        );
        assert!(trail.holds_everything(&org(OFFICINA)));
        assert!(
            !trail
                .inboxes
                .keys()
                .any(|party| party.kind() == OrgKind::Asst),
            "no ASST hears of a referral it did not send"
        );

        let trail = declined_referral(registry);
        assert_eq!(
            trail.parties(),
            listed(&[
                (ATS_MILANO, Aggregate),
                (ASST_NORD_MILANO, Full),
                (BRESSO, Full),
                (IPIS, Full),
                (OFFICINA, Full),
            ])
        );
        assert!(trail.holds_everything(&org(ASST_NORD_MILANO)));
    }

    #[test]
    fn a_centro_never_receives_a_discharge_or_a_pua_intake_even_when_named_in_one() {
        let registry = Registry::embedded();
        let everyone_named = || {
            vec![
                participant(ASST_NORD_MILANO, Role::Physician),
                participant(BRESSO, Role::SocialWorker),
                participant(OFFICINA, Role::Educator),
                participant(SPAZIO_FAMIGLIA, Role::Educator),
                participant("ambito:50069", Role::Other),
                participant(ATS_MILANO, Role::Other),
            ]
        };
        let mut discharge = Trail::new(registry, "discharge");
        discharge.run(
            ASST_NORD_MILANO,
            day(0),
            discharge_request(BRESSO, day(10).date()),
        );
        discharge.run(BRESSO, day(1), dp::Command::Receive);
        let assessed = discharge.run(
            BRESSO,
            day(2),
            joint_assessment(day(2).date(), everyone_named()),
        );
        assert!(assessed.joined.is_empty(), "{:?}", assessed.joined);
        discharge.run(
            BRESSO,
            day(3),
            care_plan(Some(participant(OFFICINA, Role::Educator))),
        );

        let mut intake = Trail::new(registry, "intake");
        intake.run(
            CINISELLO,
            day(0),
            pua_access(CINISELLO, ASST_NORD_MILANO, 5),
        );
        intake.run(
            CINISELLO,
            day(1),
            pua::Command::RecordPreliminaryAssessment {
                triage: pua::Triage::Complex,
            },
        );
        intake.run(CINISELLO, day(1), pua::Command::RequestUvm);
        intake.run(
            CINISELLO,
            day(4),
            complete_uvm(day(4).date(), everyone_named()),
        );
        intake.run(
            CINISELLO,
            day(5),
            pua_plan(Some(participant(SPAZIO_FAMIGLIA, Role::Educator))),
        );

        for trail in [&discharge, &intake] {
            for party in trail.inboxes.keys() {
                assert!(
                    !matches!(party.kind(), OrgKind::Centro | OrgKind::Ambito),
                    "{party} received {}",
                    trail.pathway().id
                );
            }
            let ats = trail
                .parties()
                .into_iter()
                .find(|(p, _)| *p == org(ATS_MILANO));
            assert_eq!(
                ats,
                Some((org(ATS_MILANO), Aggregate)),
                "named, it is still the ATS"
            );
        }
    }

    #[test]
    fn a_comune_of_the_ambito_that_takes_the_request_in_joins_the_discharge() {
        let mut trail = Trail::new(Registry::embedded(), "bresso");
        trail.run(
            ASST_NORD_MILANO,
            day(0),
            discharge_request(BRESSO, day(10).date()),
        );
        let received = trail.run(CINISELLO, day(1), dp::Command::Receive);
        assert_eq!(received.joined, listed(&[(CINISELLO, Full)]));
        assert!(trail.holds_everything(&org(CINISELLO)));
    }

    /// A one-Ambito registry in which ASCSP takes over Magenta's home care, and nothing else, on
    /// 1 April 2026.
    fn home_care_takeover() -> Registry {
        let tables = [
            "ats_code|ats_name|ambito_code|ambito_name|sioss_code|asst_code|asst_name|distretto_code|distretto_name|valid_from|valid_until
321|ATS MILANO|50032|Magentino|lom_57|705|ASST OVEST MILANESE|22004|MAGENTINO|2025-01-01|",
            "comune_id|name|ambito_code|distretto_code|valid_from|valid_until
magenta|Magenta|50032|22004|2025-01-01|",
            "ente_id|name|ambito_code|valid_from|valid_until
ascsp|ASCSP|50032|2025-01-01|",
            "comune_id|ente_id|service_area|valid_from|valid_until
magenta|ascsp|home_care|2026-04-01|",
            "centro_id|name|ambito_code|run_by|valid_from|valid_until
spazio-famiglia-qui-si-puo|Spazio famiglia|50032||2025-01-01|",
        ]
        .map(|table| table.replace('|', "\t"));
        let files: Vec<RegistryFile<'_>> = Registry::FILE_NAMES
            .iter()
            .zip(&tables)
            .map(|(name, contents)| RegistryFile { name, contents })
            .collect();
        Registry::parse(&files).expect("the fixture registry parses")
    }

    #[test]
    fn a_body_that_starts_delivering_for_the_comune_joins_at_the_next_event() {
        let registry = home_care_takeover();
        let mut trail = Trail::new(&registry, "takeover");
        trail.run(
            ASST_OVEST_MILANESE,
            day(0),
            discharge_request(MAGENTA, day(40).date()),
        );
        assert_eq!(
            trail.parties(),
            listed(&[
                (ATS_MILANO, Aggregate),
                (ASST_OVEST_MILANESE, Full),
                (MAGENTA, Full),
            ])
        );
        let received = trail.run(MAGENTA, day(40), dp::Command::Receive);
        assert_eq!(received.joined, listed(&[(ASCSP, Full)]));
        assert!(trail.holds_everything(&org(ASCSP)));
    }

    #[test]
    fn a_referral_does_not_go_to_a_body_that_only_runs_the_comunes_home_care() {
        let registry = home_care_takeover();
        let mut trail = Trail::new(&registry, "family");
        trail.run(
            MAGENTA,
            day(40),
            referral(
                MAGENTA,
                SPAZIO_FAMIGLIA,
                cpf::Referrer::ComuneSocialService,
                6,
            ),
        );
        assert_eq!(
            trail.parties(),
            listed(&[
                (ATS_MILANO, Aggregate),
                (MAGENTA, Full),
                (SPAZIO_FAMIGLIA, Full),
            ])
        );
    }

    #[test]
    #[should_panic(expected = "the state must be the pathway right after the event")]
    fn routing_by_the_state_before_the_event_is_refused() {
        let registry = Registry::embedded();
        let mut trail = Trail::new(registry, "early");
        trail.run(
            ASST_OVEST_MILANESE,
            day(0),
            discharge_request(MAGENTA, day(10).date()),
        );
        let before = trail.pathway().clone();
        let received = trail.run(MAGENTA, day(1), dp::Command::Receive);
        route(&before, &received.event, registry);
    }

    #[test]
    fn a_receipt_goes_to_the_sender_of_the_acknowledged_event_only() {
        let registry = Registry::embedded();
        let mut trail = Trail::new(registry, "receipts");
        trail.run(
            ASST_OVEST_MILANESE,
            day(0),
            discharge_request(MAGENTA, day(10).date()),
        );
        trail.run(MAGENTA, day(1), dp::Command::Receive);
        let parties = trail.parties();

        let by_comune = trail.acknowledged(MAGENTA, day(1), 0);
        assert_eq!(by_comune.receivers(), [ASST_OVEST_MILANESE]);
        assert_eq!(by_comune.deliveries[0].view, Full);
        assert_eq!(by_comune.deliveries[0].body, by_comune.event.data.to_body());
        assert!(by_comune.joined.is_empty());
        assert_eq!(trail.parties(), parties, "a receipt changes no one's part");

        let by_body = trail.acknowledged(ASCSP, day(2), 0);
        assert_eq!(by_body.receivers(), [ASST_OVEST_MILANESE]);
        let by_hospital = trail.acknowledged(ASST_OVEST_MILANESE, day(2), 1);
        assert_eq!(by_hospital.receivers(), [MAGENTA]);
        let own = trail.acknowledged(ASST_OVEST_MILANESE, day(2), 0);
        assert!(own.deliveries.is_empty(), "no receipt of one's own event");
        let refused = trail.acknowledge(&org(ATS_MILANO), day(2), 0);
        assert!(
            matches!(refused, Err(Rejection::NotPermitted { .. })),
            "{refused:?}"
        );

        // Corbetta, named in the assessment, is handed the earlier events, not others' receipts.
        let assessed = trail.run(
            ASST_OVEST_MILANESE,
            day(3),
            joint_assessment(
                day(3).date(),
                vec![participant(CORBETTA, Role::SocialWorker)],
            ),
        );
        assert_eq!(assessed.joined, listed(&[(CORBETTA, Full)]));
        let corbetta = &trail.inboxes[&org(CORBETTA)];
        for event in &trail.history {
            assert_eq!(
                corbetta.contains(&event.id),
                !event.data.is_receipt(),
                "{}",
                event.data.event_type()
            );
        }
        let ats = &trail.inboxes[&org(ATS_MILANO)];
        assert!(
            trail
                .history
                .iter()
                .filter(|e| e.data.is_receipt())
                .all(|e| !ats.contains(&e.id)),
            "the ATS receives no receipt"
        );
    }

    // ---- what the ATS sees --------------------------------------------------------------------

    /// Whether `field` is a key anywhere in `value`.
    fn mentions(value: &Value, field: &str) -> bool {
        match value {
            Value::Object(fields) => fields
                .iter()
                .any(|(name, inner)| name == field || mentions(inner, field)),
            Value::Array(items) => items.iter().any(|item| mentions(item, field)),
            _ => false,
        }
    }

    /// Whether `part` is `whole` with some object fields left out.
    fn within(part: &Value, whole: &Value) -> bool {
        match (part, whole) {
            (Value::Object(part), Value::Object(whole)) => part
                .iter()
                .all(|(name, inner)| whole.get(name).is_some_and(|w| within(inner, w))),
            (Value::Array(part), Value::Array(whole)) => {
                part.len() == whole.len() && part.iter().zip(whole).all(|(p, w)| within(p, w))
            }
            _ => part == whole,
        }
    }

    #[test]
    fn an_aggregate_view_of_any_event_type_keeps_no_person_free_text_or_residence() {
        let registry = Registry::embedded();
        let trails = [
            magentino_discharge(registry),
            cancelled_discharge(registry),
            cinisello_pua(registry),
            cormano_referral(registry),
            declined_referral(registry),
        ];
        let mut seen = BTreeSet::new();
        for event in trails.iter().flat_map(|t| &t.history) {
            let event_type = event.data.event_type();
            let full = view_of(event, Full);
            assert_eq!(full, event.data.to_body(), "{event_type}");
            let aggregate = view_of(event, Aggregate);
            for field in NOT_IN_AGGREGATE {
                assert!(!mentions(&aggregate, field), "{event_type}: {field}");
            }
            assert!(
                within(&aggregate, &full),
                "{event_type}: {aggregate} is not part of {full}"
            );
            seen.insert(event_type);
        }
        let every_type: BTreeSet<String> = crate::pathway::EventData::schemas()
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        assert_eq!(seen, every_type, "the journeys must cover every event type");
        // Every field kept from the ATS is there in full for the parties: a request carries the
        // person, a finding the pathway it may duplicate.
        let in_full: Vec<Value> = trails[0]
            .history
            .iter()
            .map(|event| view_of(event, Full))
            .collect();
        for field in NOT_IN_AGGREGATE {
            assert!(
                in_full.iter().any(|body| mentions(body, field)),
                "some event carries {field} in full"
            );
        }
    }

    /// The properties of every object in a schema, nested ones and definitions included.
    fn properties<'a>(schema: &'a Value, found: &mut Vec<(&'a str, &'a Value)>) {
        match schema {
            Value::Object(fields) => {
                if let Some(Value::Object(properties)) = fields.get("properties") {
                    found.extend(properties.iter().map(|(name, p)| (name.as_str(), p)));
                }
                fields.values().for_each(|inner| properties(inner, found));
            }
            Value::Array(items) => items.iter().for_each(|item| properties(item, found)),
            _ => {}
        }
    }

    /// A string the contract leaves free (no pattern, format or fixed values): text someone
    /// typed, which can name anyone.
    fn is_free_text(root: &Value, schema: &Value) -> bool {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let target = root
                .pointer(reference.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("unresolved {reference}"));
            return is_free_text(root, target);
        }
        let either = ["anyOf", "oneOf"].into_iter().any(|key| {
            schema
                .get(key)
                .and_then(Value::as_array)
                .is_some_and(|branches| branches.iter().any(|b| is_free_text(root, b)))
        });
        let is_type = |name: &str| match schema.get("type") {
            Some(Value::String(t)) => t == name,
            Some(Value::Array(types)) => types.iter().any(|t| t == name),
            _ => false,
        };
        let items_free = is_type("array")
            && schema
                .get("items")
                .is_some_and(|items| is_free_text(root, items));
        let string_free = is_type("string")
            && ["pattern", "format", "const", "enum"]
                .into_iter()
                .all(|key| schema.get(key).is_none());
        either || items_free || string_free
    }

    #[test]
    fn every_free_text_field_of_the_event_contracts_is_kept_from_the_aggregate_view() {
        let mut free_text = BTreeSet::new();
        for (event_type, schema) in crate::pathway::EventData::schemas() {
            let root = schema.as_value();
            let mut found = Vec::new();
            properties(root, &mut found);
            for (field, property) in found {
                if is_free_text(root, property) {
                    assert!(
                        NOT_IN_AGGREGATE.contains(&field),
                        "{event_type}: '{field}' is free text: add it to NOT_IN_AGGREGATE"
                    );
                    free_text.insert(field.to_owned());
                }
            }
        }
        assert!(free_text.contains("ward"), "the check finds the ward");
    }

    // ---- random histories ---------------------------------------------------------------------

    const RESIDENCES: &[&str] = &[MAGENTA, CORBETTA, CORMANO, BRESSO, CINISELLO];
    /// Everyone a random step may act as or name: both Ambiti's parties, a hospital serving
    /// neither, the ATS, the Ambiti themselves and the Centri.
    const ORGS: &[&str] = &[
        ASST_OVEST_MILANESE,
        ASST_NORD_MILANO,
        NIGUARDA,
        MAGENTA,
        CORBETTA,
        CORMANO,
        BRESSO,
        CINISELLO,
        ASCSP,
        IPIS,
        OFFICINA,
        SPAZIO_FAMIGLIA,
        ATS_MILANO,
        "ambito:50032",
        "ambito:50069",
    ];
    const ROLES: &[Role] = &[
        Role::SocialWorker,
        Role::Physician,
        Role::Nurse,
        Role::Educator,
    ];

    /// A pathway a random history opens: its kind, the person's Comune, a choice among those who
    /// may open it, and the Centro a referral goes to.
    #[derive(Debug, Clone)]
    struct Opening {
        kind: PathwayKind,
        residence: &'static str,
        opener: Index,
        centro: &'static str,
    }

    /// One random step: on which pathway, by whom (one of its parties, or anyone), whether it
    /// tries to end the pathway, from which of its kind's commands on, with which details, and how
    /// many days after the previous step.
    #[derive(Debug, Clone)]
    struct Move {
        pathway: Index,
        by_party: bool,
        who: Index,
        ends: bool,
        command: Index,
        back: i64,
        named: Vec<(Index, Index)>,
        case_manager: Option<(Index, Index)>,
        flag: bool,
        days: i64,
        /// The step acknowledges one of the pathway's events instead.
        acknowledges: Option<Index>,
    }

    fn opening() -> impl Strategy<Value = Opening> {
        (
            select(PathwayKind::ALL.to_vec()),
            select(RESIDENCES),
            any::<Index>(),
            select(&[OFFICINA, SPAZIO_FAMIGLIA][..]),
        )
            .prop_map(|(kind, residence, opener, centro)| Opening {
                kind,
                residence,
                opener,
                centro,
            })
    }

    fn a_move() -> impl Strategy<Value = Move> {
        let named = || (any::<Index>(), any::<Index>());
        (
            any::<Index>(),
            prop::bool::weighted(0.6),
            any::<Index>(),
            // Rarely: a pathway ended early never reaches its assessment or its discharge.
            prop::bool::weighted(0.05),
            any::<Index>(),
            0..3i64,
            prop::collection::vec(named(), 1..4),
            prop::option::of(named()),
            any::<bool>(),
            0..4i64,
            prop::option::weighted(0.2, any::<Index>()),
        )
            .prop_map(
                |(
                    pathway,
                    by_party,
                    who,
                    ends,
                    command,
                    back,
                    named,
                    case_manager,
                    flag,
                    days,
                    acknowledges,
                )| {
                    Move {
                        pathway,
                        by_party,
                        who,
                        ends,
                        command,
                        back,
                        named,
                        case_manager,
                        flag,
                        days,
                        acknowledges,
                    }
                },
            )
    }

    fn history() -> impl Strategy<Value = (Vec<Opening>, Vec<Move>)> {
        (
            prop::collection::vec(opening(), 1..6),
            prop::collection::vec(a_move(), 0..60),
        )
    }

    fn someone((org_at, role_at): &(Index, Index)) -> Participant {
        participant(org_at.get::<&str>(ORGS), *role_at.get(ROLES))
    }

    /// The opening command of `opening` and who sends it.
    fn open(opening: &Opening, registry: &Registry, today: Date, n: u8) -> (OrgId, CommandBody) {
        let home = org(opening.residence);
        let ambito = registry
            .ambito_of_comune(&comune(opening.residence), today)
            .expect("the residence is in the registry");
        let serving = OrgId::Asst(registry.asst_of_ambito(ambito, today)[0].clone());
        match opening.kind {
            PathwayKind::DimissioneProtetta => {
                let opener = opening.opener.get(&[serving, org(NIGUARDA)]).clone();
                let expected = today + Duration::days(7);
                let request = discharge_request(opening.residence, expected);
                (opener, request.into())
            }
            PathwayKind::Pua => {
                let access = pua_access(opening.residence, &serving.to_string(), n);
                (opening.opener.get(&[serving, home]).clone(), access.into())
            }
            PathwayKind::CentroFamiglia => {
                let centro = org(opening.centro);
                let (referrer, by) = opening
                    .opener
                    .get(&[
                        (cpf::Referrer::ComuneSocialService, home),
                        (cpf::Referrer::Consultorio, serving.clone()),
                        (cpf::Referrer::Pua, serving),
                        (cpf::Referrer::School, centro),
                    ])
                    .clone();
                let sent = referral(opening.residence, opening.centro, referrer, n);
                (by, sent.into())
            }
        }
    }

    /// The commands of `kind` that end an open pathway, or those that move it on, as `step`
    /// details them.
    fn commands_for(kind: PathwayKind, step: &Move, today: Date) -> Vec<CommandBody> {
        let earlier = today - Duration::days(step.back);
        let case_manager = step.case_manager.as_ref().map(someone);
        let named = step.named.iter().map(someone).collect();
        match kind {
            PathwayKind::DimissioneProtetta => {
                let destination = if step.flag {
                    dp::Destination::Home
                } else {
                    dp::Destination::ResidentialFacility
                };
                let service = if step.flag {
                    dp::Service::Sad
                } else {
                    dp::Service::CDom
                };
                let commands = if step.ends {
                    vec![
                        dp::Command::Close {
                            reason: dp::CloseReason::Completed,
                        },
                        dp::Command::Cancel {
                            reason: dp::CancelReason::NoLongerNeeded,
                        },
                    ]
                } else {
                    vec![
                        dp::Command::Receive,
                        joint_assessment(earlier, named),
                        care_plan(case_manager),
                        dp::Command::ChangeExpectedDate(dp::ChangeExpectedDate {
                            expected_discharge: today + Duration::days(1 + step.back),
                            reason: dp::DateChangeReason::Other,
                        }),
                        dp::Command::RecordDischarge(dp::RecordDischarge {
                            discharged_on: earlier,
                            destination,
                        }),
                        dp::Command::ActivateHomeServices(dp::ActivateHomeServices {
                            services: vec![service],
                            activated_on: today,
                        }),
                        dp::Command::RecordReadmission(dp::RecordReadmission {
                            readmitted_on: today,
                        }),
                    ]
                };
                commands.into_iter().map(CommandBody::from).collect()
            }
            PathwayKind::Pua => {
                let commands = if step.ends {
                    vec![
                        pua::Command::RecordPreliminaryAssessment {
                            triage: pua::Triage::SimpleNeed,
                        },
                        pua::Command::Close {
                            reason: pua::CloseReason::Completed,
                        },
                    ]
                } else {
                    vec![
                        pua::Command::RecordPreliminaryAssessment {
                            triage: pua::Triage::Complex,
                        },
                        pua::Command::RequestUvm,
                        complete_uvm(earlier, named),
                        pua_plan(case_manager),
                        pua::Command::ActivateService(pua::ActivateService {
                            service: pua::PuaService::Sad,
                            activated_on: today,
                        }),
                    ]
                };
                commands.into_iter().map(CommandBody::from).collect()
            }
            PathwayKind::CentroFamiglia => {
                let commands = if step.ends {
                    vec![
                        cpf::Command::Decline {
                            reason: cpf::DeclineReason::NoCapacity,
                        },
                        cpf::Command::Close {
                            reason: cpf::CloseReason::Completed,
                        },
                    ]
                } else {
                    vec![
                        cpf::Command::Accept,
                        cpf::Command::RecordFirstContact(cpf::RecordFirstContact {
                            contacted_on: today,
                            mode: cpf::ContactMode::Phone,
                        }),
                        cpf::Command::Enrol(cpf::Enrol {
                            interventions: vec![cpf::SupportArea::Orientation],
                            enrolled_on: today,
                        }),
                    ]
                };
                commands.into_iter().map(CommandBody::from).collect()
            }
        }
    }

    /// What random histories went through, so that a test can tell they exercised the rule.
    #[derive(Debug, Default)]
    struct Seen {
        events: usize,
        joins: usize,
        receipts_to_sender: usize,
        magenta_named_for_cinisello: usize,
        readmitted_elsewhere: usize,
    }

    /// The person's Comune and every organisation the pathway names (receiver, referrer,
    /// participants, case manager).
    fn residence_and_named(state: &KindState) -> (&ComuneId, Vec<&OrgId>) {
        match state {
            KindState::DimissioneProtetta(s) => {
                let named = s
                    .assessment
                    .iter()
                    .flat_map(|a| &a.participants)
                    .chain(s.plan.iter().flat_map(|p| &p.case_manager))
                    .map(|p| &p.org)
                    .chain(&s.received_by)
                    .collect();
                (&s.residence, named)
            }
            KindState::Pua(s) => {
                let named = s
                    .uvm
                    .iter()
                    .flat_map(|u| &u.participants)
                    .chain(s.plan.iter().flat_map(|p| &p.case_manager))
                    .map(|p| &p.org)
                    .collect();
                (&s.residence, named)
            }
            KindState::CentroFamiglia(s) => (&s.residence, vec![&s.referred_by]),
        }
    }

    /// Checks one routed event against the rule: every party receives it, nobody else does, each
    /// as its view allows, and with the backfill every party holds the whole history.
    fn check(trail: &Trail<'_>, routed: &Routed, seen: &mut Seen) {
        let registry = trail.registry;
        let after = trail.pathway();
        let event = &routed.event;
        let on = event.time.date();
        let what = format!("{} {}", event.data.event_type(), event.pathway);

        assert_eq!(route(after, event, registry), routed.deliveries, "{what}");
        assert!(
            routed
                .deliveries
                .windows(2)
                .all(|w| w[0].party < w[1].party),
            "{what}: deliveries not sorted by party"
        );

        let expected = parties(after, registry, on);
        if let crate::pathway::EventData::DimissioneProtetta(dp::Event::Readmitted(r)) = &event.data
        {
            let hospital = OrgId::Asst(r.asst.clone());
            assert!(
                expected.contains(&(hospital.clone(), Full)),
                "{what}: the readmitting hospital follows the pathway"
            );
            let KindState::DimissioneProtetta(s) = &after.state else {
                unreachable!("a readmission is of a protected discharge")
            };
            let territory = registry.asst_of_ambito(&s.ambito, on);
            if s.asst != r.asst && !territory.contains(&&r.asst) {
                seen.readmitted_elsewhere += 1;
            }
        }
        let received: Vec<(OrgId, View)> = routed
            .deliveries
            .iter()
            .map(|d| (d.party.clone(), d.view))
            .collect();
        let meant: Vec<(OrgId, View)> = expected
            .iter()
            .filter(|(party, view)| is_for(event, party, *view))
            .cloned()
            .collect();
        assert_eq!(received, meant, "{what}");
        if let crate::pathway::EventData::Receipt(_, r) = &event.data {
            assert!(
                routed.joined.is_empty(),
                "{what}: a receipt brings no one in"
            );
            let sender_follows = expected.contains(&(r.sender.clone(), Full));
            if r.sender != event.actor.org && sender_follows {
                assert_eq!(received, [(r.sender.clone(), Full)], "{what}");
                seen.receipts_to_sender += 1;
            } else {
                assert!(received.is_empty(), "{what}: {received:?}");
            }
        }

        for delivery in &routed.deliveries {
            let party = &delivery.party;
            match party.kind() {
                OrgKind::Ats => assert_eq!(delivery.view, Aggregate, "{what}: {party}"),
                OrgKind::Ambito => panic!("{what}: {party} has no inbox"),
                OrgKind::Centro => assert_eq!(after.kind(), PathwayKind::CentroFamiglia),
                OrgKind::Asst | OrgKind::Comune | OrgKind::Ente => {
                    assert_eq!(delivery.view, Full, "{what}: {party}")
                }
            }
            assert_eq!(delivery.body, view_of(event, delivery.view), "{what}");
            if delivery.view == Aggregate {
                for field in NOT_IN_AGGREGATE {
                    assert!(!mentions(&delivery.body, field), "{what}: {field}");
                }
            }
        }

        // A Comune receives its residents' pathways, and another's only when the pathway names it.
        let (residence, named) = residence_and_named(&after.state);
        let cinisello_resident = registry
            .ambito_of_comune(residence, on)
            .is_some_and(|a| a.as_str() == CINISELLO_AMBITO);
        for delivery in &routed.deliveries {
            let OrgId::Comune(comune) = &delivery.party else {
                continue;
            };
            assert!(
                comune == residence || named.contains(&&delivery.party),
                "{what}: {comune} received an event of a resident of {residence}"
            );
            if delivery.party == org(MAGENTA) && cinisello_resident {
                seen.magenta_named_for_cinisello += 1;
            }
        }

        // A receipt is no update of the pathway: its parties stay those of its last update.
        let allowed = parties(after, registry, after.updated_at.date());
        match &routed.before {
            None => assert!(routed.joined.is_empty(), "{what}"),
            Some(before) => {
                let had = parties(before, registry, before.updated_at.date());
                for party in &routed.joined {
                    assert!(allowed.contains(party), "{what}: {party:?} joined");
                    assert!(!had.contains(party), "{what}: {party:?} was already there");
                }
            }
        }
        seen.joins += routed.joined.len();
        for (party, _) in &allowed {
            assert!(
                trail.holds_everything(party),
                "{what}: {party} misses part of the history"
            );
        }
        seen.events += 1;
    }

    /// Plays a random history over several pathways, checking every event it routes.
    fn play(openings: &[Opening], moves: &[Move], seen: &mut Seen) {
        let registry = Registry::embedded();
        let mut now = START;
        let mut trails = Vec::new();
        for (n, opening) in (0u8..).zip(openings) {
            let mut trail = Trail::new(registry, &format!("p{n}"));
            let (who, body) = open(opening, registry, now.date(), n);
            let routed = trail
                .submit(&who, now, body)
                .unwrap_or_else(|e| panic!("{opening:?}: {e}"));
            check(&trail, &routed, seen);
            trails.push(trail);
        }
        for step in moves {
            now += Duration::days(step.days);
            let trail = step.pathway.get_mut(&mut trails);
            let who = if step.by_party {
                step.who.get(&trail.parties()).0.clone()
            } else {
                org(step.who.get::<&str>(ORGS))
            };
            if let Some(event) = &step.acknowledges {
                let n = event.index(trail.history.len());
                let pathway = &trail.pathway().id;
                let command_id = receipt::command_id(&trail.history[n].id);
                if trail.pathway().applied.contains_key(&EventId::derive_on(
                    &who,
                    &command_id,
                    pathway,
                )) {
                    continue; // acknowledged before: the first receipt stands, nothing is routed
                }
                // Refused for an ATS or a receipt: nothing to route.
                if let Ok(routed) = trail.acknowledge(&who, now, n) {
                    check(trail, &routed, seen);
                }
                continue;
            }
            // The first of the kind's commands, from a random one on, that the domain accepts:
            // most steps move the pathway on instead of being refused.
            let commands = commands_for(trail.pathway().kind(), step, now.date());
            let first = step.command.index(commands.len());
            for body in commands.iter().cycle().skip(first).take(commands.len()) {
                if let Ok(routed) = trail.submit(&who, now, body.clone()) {
                    check(trail, &routed, seen);
                    break;
                }
            }
        }
    }

    proptest! {
        #[test]
        fn no_one_outside_a_pathway_ever_receives_its_events((openings, moves) in history()) {
            play(&openings, &moves, &mut Seen::default());
        }
    }

    #[test]
    fn random_histories_reach_late_joins_named_comuni_of_another_ambito_and_outside_readmissions() {
        let mut runner = TestRunner::deterministic();
        let mut seen = Seen::default();
        for _ in 0..200 {
            let (openings, moves) = history()
                .new_tree(&mut runner)
                .expect("a random history")
                .current();
            play(&openings, &moves, &mut seen);
        }
        assert!(seen.events > 1_000, "{seen:?}");
        assert!(seen.joins > 0, "{seen:?}");
        assert!(seen.receipts_to_sender > 0, "{seen:?}");
        assert!(seen.magenta_named_for_cinisello > 0, "{seen:?}");
        assert!(seen.readmitted_elsewhere > 0, "{seen:?}");
    }
}
