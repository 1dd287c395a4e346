//! The `Pathways` queries on the wire: a list request checked into a projection filter, what
//! a party's projection holds turned into the messages the caller reads, and a history request
//! checked and its timeline turned into the items `History` streams.

use raccordo_domain::ids::{AmbitoCode, PathwayId, PathwayKind};
use raccordo_domain::pathway::finding::StepRef;
use raccordo_domain::pathway::{FieldViolation, statuses};
use raccordo_domain::routing::View;
use raccordo_domain::timeline::{Purpose, Timeline};
use raccordo_eventlog::AuditEvent;
use raccordo_projections::{HistoryEntry, ListCursor, ListFilter, PathwaySummary};
use serde_json::Value;
use time::OffsetDateTime;

use crate::from_wire::parse_pathway_id;
use crate::to_wire::{rfc3339, to_struct};
use crate::v1;
use crate::v1::history_item::Item;

/// A page when the caller does not say.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// The largest page served: larger requests are refused, not silently cut.
pub const MAX_PAGE_SIZE: usize = 1000;

/// Checks a list request, reporting every bad field at once. The returned filter asks for one
/// summary more than the page, so the caller can tell whether there is a next page.
pub fn list_filter(request: &v1::ListPathwaysRequest) -> Result<ListFilter, Vec<FieldViolation>> {
    let mut violations = Vec::new();
    let mut bad = |field: &str, description: String| {
        violations.push(FieldViolation::new(field, description));
    };

    let kind = match request.kind.trim() {
        "" => None,
        token => PathwayKind::from_subject_token(token).or_else(|| {
            bad(
                "kind",
                format!(
                    "'{token}' is not a pathway kind: dimissione_protetta, pua or centro_famiglia"
                ),
            );
            None
        }),
    };
    let status = match request.status.trim() {
        "" => None,
        status => {
            let kinds: Vec<PathwayKind> = kind.map_or(PathwayKind::ALL.to_vec(), |k| vec![k]);
            let known = kinds.iter().any(|k| statuses(*k).contains(&status));
            if !known {
                let mut names: Vec<&str> = kinds.iter().flat_map(|k| statuses(*k)).collect();
                names.sort_unstable();
                names.dedup();
                bad(
                    "status",
                    format!(
                        "'{status}' is not a status of {}: one of {}",
                        match kind {
                            Some(k) => k.to_string(),
                            None => "any pathway kind".into(),
                        },
                        names.join(", ")
                    ),
                );
            }
            Some(status.to_owned())
        }
    };
    let ambito = match request.ambito.trim() {
        "" => None,
        code => code
            .parse::<AmbitoCode>()
            .map_err(|e| bad("ambito", e.to_string()))
            .ok(),
    };
    let page_size = match usize::try_from(request.page_size).unwrap_or(usize::MAX) {
        0 => DEFAULT_PAGE_SIZE,
        n if n <= MAX_PAGE_SIZE => n,
        n => {
            bad(
                "page_size",
                format!("{n} is more than the largest page, {MAX_PAGE_SIZE}"),
            );
            MAX_PAGE_SIZE
        }
    };
    let after = match request.page_token.trim() {
        "" => None,
        token => parse_page_token(token)
            .map_err(|reason| bad("page_token", reason))
            .ok(),
    };
    if !violations.is_empty() {
        return Err(violations);
    }
    Ok(ListFilter {
        kind,
        status,
        ambito,
        waiting_on_me: request.waiting_on_me,
        limit: Some(page_size + 1),
        after,
    })
}

/// The token of the page that starts after `summary`: `<updated_at in unix ns>.<pathway id>`.
pub fn page_token(summary: &PathwaySummary) -> String {
    let cursor = ListCursor::after(summary);
    format!("{}.{}", cursor.updated_at.unix_timestamp_nanos(), cursor.id)
}

fn parse_page_token(token: &str) -> Result<ListCursor, String> {
    let not_ours = || {
        format!(
            "'{token}' is not a page token raccordo gave: pass the previous page's next_page_token"
        )
    };
    let (nanos, id) = token.split_once('.').ok_or_else(not_ours)?;
    let nanos: i128 = nanos.parse().map_err(|_| not_ours())?;
    let updated_at = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| not_ours())?;
    let id: PathwayId = id.parse().map_err(|_| not_ours())?;
    Ok(ListCursor { updated_at, id })
}

/// One line of a list.
pub fn pathway_summary(summary: &PathwaySummary) -> v1::PathwaySummary {
    v1::PathwaySummary {
        id: summary.id.to_string(),
        kind: summary.kind.to_string(),
        status: summary.status.clone(),
        ambito: summary.ambito.to_string(),
        opened_at: rfc3339(summary.opened_at),
        updated_at: rfc3339(summary.updated_at),
        events: summary.events,
        last_event_type: summary.last_event_type.clone(),
        waiting_on: summary.waiting_on.iter().map(ToString::to_string).collect(),
        waiting_since: rfc3339(summary.waiting_since),
        last_sequence: summary.last_sequence,
    }
}

/// A pathway as one party's projection holds it; `state` is the kind's state rebuilt from that
/// history, when the party holds enough of it.
pub fn projected_pathway(
    summary: &PathwaySummary,
    history: &[HistoryEntry],
    state: Option<Value>,
) -> v1::Pathway {
    let aggregate = history.iter().any(|e| e.view == View::Aggregate);
    v1::Pathway {
        id: summary.id.to_string(),
        kind: summary.kind.to_string(),
        status: summary.status.clone(),
        opened_at: rfc3339(summary.opened_at),
        updated_at: rfc3339(summary.updated_at),
        version: summary.events,
        last_sequence: summary.last_sequence,
        state: state.map(to_struct),
        history: history.iter().map(history_event).collect(),
        ambito: summary.ambito.to_string(),
        waiting_on: summary.waiting_on.iter().map(ToString::to_string).collect(),
        waiting_since: rfc3339(summary.waiting_since),
        view: if aggregate { "aggregate" } else { "full" }.to_owned(),
    }
}

fn history_event(entry: &HistoryEntry) -> v1::HistoryEvent {
    v1::HistoryEvent {
        sequence: entry.source_sequence,
        event_id: entry.event_id.to_string(),
        event_type: entry.event_type.clone(),
        time: rfc3339(entry.time),
        source: entry.source.clone(),
        operator: entry.operator.clone().unwrap_or_default(),
        command_id: entry.command_id.clone().unwrap_or_default(),
        data: Some(to_struct(entry.body.clone())),
    }
}

/// Checks a history request, reporting every bad field at once: the pathway and the purpose.
pub fn history_request(
    request: &v1::HistoryRequest,
) -> Result<(PathwayId, Purpose), Vec<FieldViolation>> {
    let mut violations = Vec::new();
    let pathway = parse_pathway_id(&request.pathway_id)
        .map_err(|v| violations.extend(v))
        .ok();
    let purpose = match request.purpose.trim() {
        "" => {
            violations.push(FieldViolation::new(
                "purpose",
                "required: care, audit or governance",
            ));
            None
        }
        purpose => purpose
            .parse::<Purpose>()
            .map_err(|reason| violations.push(FieldViolation::new("purpose", reason)))
            .ok(),
    };
    match (pathway, purpose) {
        (Some(pathway), Some(purpose)) if violations.is_empty() => Ok((pathway, purpose)),
        _ => Err(violations),
    }
}

/// What `History` streams of `timeline`, whose replay `audited` records: the header, then each
/// lane's acts, waits, deadlines and findings, lane by lane in the header's order.
pub fn history_items(timeline: &Timeline, audited: &AuditEvent) -> Vec<v1::HistoryItem> {
    let item = |item| v1::HistoryItem { item: Some(item) };
    let optional = |t: Option<OffsetDateTime>| t.map(rfc3339).unwrap_or_default();
    let mut items = vec![item(Item::Header(v1::TimelineHeader {
        pathway: timeline.pathway.to_string(),
        kind: timeline.kind.to_string(),
        ambito: timeline.ambito.to_string(),
        status: timeline.status.clone(),
        viewer: timeline.viewer.to_string(),
        purpose: timeline.purpose.to_string(),
        view: timeline.view.as_str().to_owned(),
        opened_at: rfc3339(timeline.opened_at),
        updated_at: rfc3339(timeline.updated_at),
        as_of: rfc3339(timeline.as_of),
        waiting_on: timeline.waiting_on.clone(),
        lanes: timeline.lanes.iter().map(|l| l.org.clone()).collect(),
        audit_event_id: audited.id.clone(),
        audit_sequence: audited.sequence,
    }))];
    for lane in &timeline.lanes {
        let name = || lane.org.clone();
        items.extend(lane.acts.iter().map(|act| {
            item(Item::Act(v1::TimelineAct {
                lane: name(),
                sequence: act.sequence,
                event_id: act.event_id.to_string(),
                event_type: act.event_type.clone(),
                name: act.name.clone(),
                time: rfc3339(act.time),
                data: Some(to_struct(act.data.clone())),
                provenance: act.provenance.as_ref().map(|p| v1::Provenance {
                    operator: p.operator.clone(),
                    command_id: p.command_id.clone(),
                }),
            }))
        }));
        items.extend(lane.waits.iter().map(|wait| {
            item(Item::Wait(v1::TimelineWait {
                lane: name(),
                since: rfc3339(wait.since),
                until: optional(wait.until),
                minutes: wait.minutes,
            }))
        }));
        items.extend(lane.deadlines.iter().map(|deadline| {
            item(Item::Deadline(v1::TimelineDeadline {
                lane: name(),
                step: Some(step_ref(&deadline.step)),
                finding: deadline.finding.to_string(),
                opened_by: deadline.opened_by.to_string(),
                since: rfc3339(deadline.since),
                due: optional(deadline.due),
                closed_at: optional(deadline.closed_at),
                closed_by: deadline
                    .closed_by
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                outcome: deadline.outcome.as_str().to_owned(),
            }))
        }));
        items.extend(lane.findings.iter().map(|mark| {
            item(Item::Finding(v1::TimelineFinding {
                lane: name(),
                sequence: mark.sequence,
                event_id: mark.event_id.to_string(),
                recorded_at: rfc3339(mark.recorded_at),
                finding: mark.finding.to_string(),
                step: mark.step.as_ref().map(step_ref),
                about: mark
                    .about
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                due: optional(mark.due),
                waited_minutes: mark.waited_minutes,
                related_pathway: mark
                    .related_pathway
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            }))
        }));
    }
    items
}

fn step_ref(step: &StepRef) -> v1::StepRef {
    v1::StepRef {
        protocol: step.protocol.clone(),
        version: step.version,
        step: step.step.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> v1::ListPathwaysRequest {
        v1::ListPathwaysRequest::default()
    }

    fn fields(result: Result<ListFilter, Vec<FieldViolation>>) -> Vec<String> {
        result
            .expect_err("the request is refused")
            .into_iter()
            .map(|v| v.field)
            .collect()
    }

    #[test]
    fn an_empty_request_lists_a_default_page_of_everything() {
        let filter = list_filter(&request()).unwrap();
        assert_eq!(
            filter,
            ListFilter {
                limit: Some(DEFAULT_PAGE_SIZE + 1),
                ..ListFilter::default()
            }
        );
    }

    #[test]
    fn every_filter_is_read() {
        let filter = list_filter(&v1::ListPathwaysRequest {
            kind: "pua".into(),
            status: "plan_agreed".into(),
            ambito: "50032".into(),
            waiting_on_me: true,
            page_size: 10,
            page_token: String::new(),
        })
        .unwrap();
        assert_eq!(filter.kind, Some(PathwayKind::Pua));
        assert_eq!(filter.status.as_deref(), Some("plan_agreed"));
        assert_eq!(filter.ambito, Some("50032".parse().unwrap()));
        assert!(filter.waiting_on_me);
        assert_eq!(filter.limit, Some(11));
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let bad = v1::ListPathwaysRequest {
            kind: "ricovero".into(),
            status: "lost".into(),
            ambito: "12345".into(),
            waiting_on_me: false,
            page_size: 5000,
            page_token: "yesterday".into(),
        };
        assert_eq!(
            fields(list_filter(&bad)),
            ["kind", "status", "ambito", "page_size", "page_token"]
        );
    }

    #[test]
    fn a_status_of_another_kind_is_refused() {
        let bad = v1::ListPathwaysRequest {
            kind: "centro_famiglia".into(),
            status: "uvm_requested".into(),
            ..request()
        };
        let violations = list_filter(&bad).unwrap_err();
        assert_eq!(violations[0].field, "status");
        assert!(
            violations[0].description.contains("accepted"),
            "{}",
            violations[0].description
        );
    }

    #[test]
    fn a_history_request_names_a_pathway_and_a_purpose() {
        let request = v1::HistoryRequest {
            pathway_id: "dp-0123456789abcdef0123".into(),
            purpose: "governance".into(),
        };
        let (pathway, purpose) = history_request(&request).unwrap();
        assert_eq!(pathway.as_str(), "dp-0123456789abcdef0123");
        assert_eq!(purpose, Purpose::Governance);
    }

    #[test]
    fn every_bad_field_of_a_history_request_is_reported_at_once() {
        let fields = |pathway_id: &str, purpose: &str| -> Vec<String> {
            let request = v1::HistoryRequest {
                pathway_id: pathway_id.into(),
                purpose: purpose.into(),
            };
            history_request(&request)
                .expect_err("the request is refused")
                .into_iter()
                .map(|v| format!("{}: {}", v.field, v.description))
                .collect()
        };
        let refused = fields("", "cura");
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert!(refused[0].starts_with("pathway_id: "), "{refused:?}");
        assert_eq!(
            refused[1],
            "purpose: 'cura' is not a purpose: use care, audit or governance"
        );
        assert_eq!(
            fields("dp-0123456789abcdef0123", " "),
            ["purpose: required: care, audit or governance"]
        );
    }

    #[test]
    fn a_page_token_names_the_place_after_a_summary() {
        let time = time::macros::datetime!(2026-03-02 09:00:00.123456789 UTC);
        let id: PathwayId = "pua-0123456789abcdef0123".parse().unwrap();
        let summary = PathwaySummary {
            id: id.clone(),
            kind: PathwayKind::Pua,
            status: "complex".into(),
            ambito: "50032".parse().unwrap(),
            opened_at: time,
            updated_at: time,
            events: 2,
            last_event_type: "raccordo.pua.assessed.v1".into(),
            waiting_on: Vec::new(),
            waiting_since: time,
            first_sequence: 1,
            last_sequence: 2,
        };
        let filter = list_filter(&v1::ListPathwaysRequest {
            page_token: page_token(&summary),
            ..request()
        })
        .unwrap();
        assert_eq!(filter.after, Some(ListCursor::after(&summary)));
    }
}
