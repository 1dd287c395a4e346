//! What the console calls things: its users are Italian operators, so every name the domain gives
//! in English (pathway kinds, statuses, events, findings, deadlines' outcomes, purposes, the
//! indicators, the fields of an event's data) is shown by its Italian name from these tables.
//! A name missing from a table is shown as it is, never hidden.

use raccordo_domain::ids::{OrgKind, PathwayKind};
use raccordo_domain::kpi::{Indicator, Target};
use raccordo_domain::pathway::finding::FindingKind;
use raccordo_domain::timeline::{Outcome, Purpose};

pub(crate) fn kind(kind: PathwayKind) -> &'static str {
    match kind {
        PathwayKind::DimissioneProtetta => "Dimissione protetta",
        PathwayKind::Pua => "PUA",
        PathwayKind::CentroFamiglia => "Centro per la Famiglia",
    }
}

/// A pathway's status (its wire name).
pub(crate) fn status(status: &str) -> &str {
    match status {
        "requested" => "Richiesta",
        "received" => "Presa in carico",
        "assessed" => "Valutato",
        "plan_agreed" => "Progetto concordato",
        "discharged" => "Dimesso",
        "services_active" => "Servizi attivi",
        "readmitted" => "Nuovo ricovero",
        "closed" => "Chiuso",
        "cancelled" => "Annullato",
        "access_registered" => "Accesso registrato",
        "answered" => "Bisogno semplice, risposto",
        "complex" => "Bisogno complesso",
        "uvm_requested" => "UVM richiesta",
        "service_active" => "Servizio attivo",
        "sent" => "Inviato al Centro",
        "accepted" => "Accettato",
        "declined" => "Rifiutato",
        "contacted" => "Primo contatto avvenuto",
        "enrolled" => "Iscritto",
        other => other,
    }
}

/// An event, by its name within its kind (`requested`, `receipt`, …).
pub(crate) fn event(name: &str) -> &str {
    match name {
        "requested" => "Richiesta di dimissione protetta",
        "received" => "Presa in carico",
        "joint_assessment_recorded" => "Valutazione congiunta",
        "care_plan_agreed" => "Progetto concordato",
        "expected_date_changed" => "Data di dimissione spostata",
        "discharged" => "Dimissione",
        "home_services_activated" => "Servizi domiciliari attivati",
        "readmitted" => "Nuovo ricovero",
        "closed" => "Chiusura",
        "cancelled" => "Annullamento",
        "access_registered" => "Accesso registrato",
        "preliminary_assessment_recorded" => "Valutazione preliminare",
        "uvm_requested" => "Richiesta UVM",
        "uvm_completed" => "Valutazione UVM",
        "plan_agreed" => "Progetto concordato",
        "service_activated" => "Servizio attivato",
        "referral_sent" => "Invio al Centro",
        "accepted" => "Invio accettato",
        "declined" => "Invio rifiutato",
        "first_contact_made" => "Primo contatto",
        "enrolled" => "Iscrizione",
        "receipt" => "Ricevuta di consegna",
        "finding" => "Rilievo",
        other => other,
    }
}

pub(crate) fn finding(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::StepOverdue => "Passo in ritardo",
        FindingKind::OverdueStepClosed => "Passo chiuso in ritardo",
        FindingKind::NeverAcknowledged => "Ricezione mai confermata",
        FindingKind::PossibleDuplicate => "Possibile duplicato",
        FindingKind::AssessmentWithoutSocialWorker => "Valutazione senza assistente sociale",
        FindingKind::AssessmentWithoutPlan => "Valutazione senza progetto",
        FindingKind::PlanWithoutCaseManager => "Progetto senza case manager",
        FindingKind::SadNotActivated => "SAD non attivato",
        FindingKind::DischargeWithoutDestination => "Dimissione senza destinazione",
        FindingKind::Readmission => "Nuovo ricovero dopo la dimissione",
        FindingKind::NoProtocol => "Nessun protocollo in vigore",
        FindingKind::Divergence => "Vista di una parte divergente",
    }
}

pub(crate) fn outcome(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Met => "Scadenza rispettata",
        Outcome::Late => "Scadenza superata",
        Outcome::Pending => "Scadenza in corso",
        Outcome::Overdue => "Scaduta",
        Outcome::Undated => "Senza data",
    }
}

pub(crate) fn purpose(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Care => "Cura (presa in carico della persona)",
        Purpose::Audit => "Verifica (chi ha fatto cosa)",
        Purpose::Governance => "Governo (vista aggregata, senza dati personali)",
    }
}

/// The Italian word for a purpose in the page's address (`?finalita=`).
pub(crate) fn purpose_param(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Care => "cura",
        Purpose::Audit => "verifica",
        Purpose::Governance => "governo",
    }
}

pub(crate) fn purpose_from_param(param: &str) -> Option<Purpose> {
    Purpose::ALL
        .into_iter()
        .find(|p| purpose_param(*p) == param || p.as_str() == param)
}

pub(crate) fn org_kind(kind: OrgKind) -> &'static str {
    match kind {
        OrgKind::Asst => "ASST",
        OrgKind::Ats => "ATS",
        OrgKind::Comune => "Comune",
        OrgKind::Ambito => "Ambito (Ufficio di Piano)",
        OrgKind::Ente => "Ente gestore dei servizi sociali",
        OrgKind::Centro => "Centro per la Famiglia",
    }
}

/// A protocol step's id as words: `dp-presa-in-carico` is "presa in carico".
pub(crate) fn step(id: &str) -> String {
    let words = ["dp-", "pua-", "cf-"]
        .iter()
        .find_map(|prefix| id.strip_prefix(prefix))
        .unwrap_or(id);
    words.replace(['-', '_'], " ")
}

pub(crate) fn indicator(indicator: Indicator) -> &'static str {
    match indicator {
        Indicator::SocialWorkerPresent => "Valutazioni con un assistente sociale del Comune/Ambito",
        Indicator::PlansPerAssessment => "Valutazioni PUA seguite da un progetto individuale",
        Indicator::WaitHome => "Attesa media per la dimissione protetta a domicilio (giorni)",
        Indicator::WaitResidential => {
            "Attesa media per la dimissione protetta in struttura (giorni)"
        }
        Indicator::DischargesInRaccordo => "Dimissioni protette gestite in raccordo",
        Indicator::ReceivedBeforeDischarge => {
            "di cui prese in carico dal sociale prima della dimissione"
        }
        Indicator::SadAfterDischarge => {
            "Dimissioni a domicilio con bisogno di SAD che hanno avuto il SAD"
        }
        Indicator::FamilyCentreAccesses => "Accessi ai Centri per la Famiglia (primi contatti)",
        Indicator::FamilyCentreEnrolments => "Iscrizioni ai Centri per la Famiglia",
    }
}

/// A short name for a chart's bar.
pub(crate) fn indicator_short(indicator: Indicator) -> &'static str {
    match indicator {
        Indicator::SocialWorkerPresent => "Con assistente sociale",
        Indicator::PlansPerAssessment => "Valutazioni PUA con progetto",
        Indicator::WaitHome => "A domicilio",
        Indicator::WaitResidential => "In struttura",
        Indicator::DischargesInRaccordo => "Dimissioni protette",
        Indicator::ReceivedBeforeDischarge => "Prese in carico prima",
        Indicator::SadAfterDischarge => "SAD dopo la dimissione",
        Indicator::FamilyCentreAccesses => "Accessi ai Centri",
        Indicator::FamilyCentreEnrolments => "Iscrizioni ai Centri",
    }
}

pub(crate) fn target(target: Target) -> String {
    match target {
        Target::AtLeastPercent(p) => format!("≥ {p}%"),
        Target::Falling => "in calo rispetto all'anno prima".into(),
        Target::Rising => "in crescita rispetto all'anno prima".into(),
        Target::RegionalPerYear(n) => format!("{} l'anno, intera regione", thousands(n.into())),
    }
}

/// `11000` as `11.000`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

/// A field of an event's data.
pub(crate) fn field(name: &str) -> &str {
    match name {
        "subject_ref" => "Persona (riferimento pseudonimo)",
        // The audit trail's records.
        "pathway" => "Percorso",
        "viewer" => "Organizzazione che consulta",
        "operator" => "Operatore",
        "purpose" => "Finalità",
        "via" => "Canale",
        "at" => "Quando",
        "refused" => "Rifiutata perché",
        "events_shown" => "Eventi mostrati",
        "ward" => "Reparto",
        "residence" => "Comune di residenza",
        "ambito" => "Ambito",
        "asst" => "ASST",
        "expected_discharge" => "Dimissione prevista",
        "previous" => "Data precedente",
        "needs" => "Bisogni",
        "lives_alone" => "Vive da solo",
        "no_caregiver" => "Senza caregiver",
        "assessed_on" => "Valutato il",
        "participants" => "Partecipanti",
        "org" => "Organizzazione",
        "role" => "Ruolo",
        "services" => "Servizi",
        "service" => "Servizio",
        "case_manager" => "Case manager",
        "discharged_on" => "Dimesso il",
        "destination" => "Destinazione",
        "activated_on" => "Attivato il",
        "home_services" => "Servizi domiciliari",
        "readmitted_on" => "Ricoverato di nuovo il",
        "reason" => "Motivo",
        "channel" => "Canale di accesso",
        "triage" => "Esito del triage",
        "tools" => "Strumenti",
        "plan_type" => "Tipo di progetto",
        "centro" => "Centro per la Famiglia",
        "referrer" => "Inviante",
        "areas" => "Aree di sostegno",
        "mode" => "Modalità",
        "contacted_on" => "Contattato il",
        "interventions" => "Interventi",
        "enrolled_on" => "Iscritto il",
        "received_by" => "Presa in carico da",
        "protocol" => "Protocollo",
        "version" => "Versione",
        "event_id" => "Evento",
        "event_type" => "Tipo di evento",
        "sender" => "Mittente",
        "inbox_cursor" => "Posizione nella casella",
        "delivered_at" => "Consegnato il",
        "finding" => "Rilievo",
        "step" => "Passo",
        "party" => "Parte",
        "since" => "Dal",
        "due" => "Scadenza",
        "closed_at" => "Chiuso il",
        "waited_minutes" => "Attesa (minuti)",
        "related_pathway" => "Altro percorso",
        other => other,
    }
}

/// A value of an enumeration in an event's data.
pub(crate) fn value(value: &str) -> &str {
    match value {
        "sad" => "SAD",
        "c_dom" => "C-DOM",
        "residential" => "struttura residenziale",
        "semi_residential" => "struttura semiresidenziale",
        "caregiver_support" => "sostegno al caregiver",
        "economic_support" => "sostegno economico",
        "home_education" => "educativa domiciliare",
        "home" => "domicilio",
        "residential_facility" => "struttura residenziale",
        "community_hospital" => "Ospedale di Comunità",
        "deceased" => "deceduto",
        "other" => "altro",
        "physician" => "medico",
        "nurse" => "infermiere",
        "social_worker" => "assistente sociale",
        "general_practitioner" => "medico di medicina generale",
        "self_referral" => "accesso diretto",
        "family" => "famiglia",
        "hospital" => "ospedale",
        "school" => "scuola",
        "social_services" => "servizi sociali",
        "simple_need" => "bisogno semplice",
        "complex" => "bisogno complesso",
        "pai" => "PAI",
        "progetto_individualizzato" => "progetto individualizzato",
        "progetto_di_vita" => "progetto di vita",
        "comune_social_service" => "servizio sociale del Comune",
        "consultorio" => "consultorio",
        "pua" => "PUA",
        "orientation" => "orientamento",
        "parenting_support" => "sostegno alla genitorialità",
        "listening_desk" => "sportello di ascolto",
        "family_mediation" => "mediazione familiare",
        "in_person" => "in presenza",
        "phone" => "telefono",
        "online" => "online",
        "completed" => "concluso",
        "no_capacity" => "nessun posto disponibile",
        "outside_catchment" => "fuori dal territorio",
        "need_out_of_scope" => "bisogno non di competenza",
        "family_declined" => "la famiglia ha rinunciato",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_event_and_finding_has_an_italian_name() {
        for kind in PathwayKind::ALL {
            for s in raccordo_domain::pathway::statuses(kind) {
                assert_ne!(status(s), s, "status {s} of {kind} has no Italian name");
            }
        }
        use raccordo_domain::pathway::{centro_famiglia, dimissione_protetta, pua};
        let names = dimissione_protetta::Event::NAMES
            .iter()
            .chain(pua::Event::NAMES)
            .chain(centro_famiglia::Event::NAMES)
            .chain(&["receipt", "finding"]);
        for name in names {
            assert_ne!(event(name), *name, "event {name} has no Italian name");
        }
        let names: std::collections::BTreeSet<&str> =
            FindingKind::ALL.into_iter().map(finding).collect();
        assert_eq!(
            names.len(),
            FindingKind::ALL.len(),
            "two findings share a name"
        );
    }

    #[test]
    fn every_field_of_the_published_events_has_an_italian_name() {
        let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../contracts/events/examples");
        fn names(value: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
            match value {
                serde_json::Value::Object(fields) => {
                    for (name, value) in fields {
                        out.insert(name.clone());
                        names(value, out);
                    }
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| names(v, out)),
                _ => {}
            }
        }
        let mut fields = std::collections::BTreeSet::new();
        for kind in std::fs::read_dir(&examples).expect("the contracts' examples") {
            for example in std::fs::read_dir(kind.unwrap().path()).unwrap() {
                let text = std::fs::read_to_string(example.unwrap().path()).unwrap();
                let example: serde_json::Value = serde_json::from_str(&text).unwrap();
                names(&example["data"], &mut fields);
            }
        }
        assert!(fields.len() > 30, "{fields:?}");
        let unnamed: Vec<&String> = fields.iter().filter(|f| field(f) == f.as_str()).collect();
        assert!(
            unnamed.is_empty(),
            "fields with no Italian name: {unnamed:?}"
        );
    }

    #[test]
    fn steps_and_numbers_read_as_words() {
        assert_eq!(step("dp-presa-in-carico"), "presa in carico");
        assert_eq!(step("pua-uvm"), "uvm");
        assert_eq!(thousands(11_000), "11.000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1.234.567");
    }
}
