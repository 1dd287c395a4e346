//! Applying entries: the summary, the history and the worklist they build.

use raccordo_domain::ids::PathwayKind;
use raccordo_domain::routing::View;
use raccordo_projections::{Applied, InboxEntry, ProjectionStore, WorkItem};
use serde_json::json;
use time::macros::datetime;

use crate::support::*;

#[test]
fn an_opening_entry_builds_the_summary_the_history_and_the_worklist() {
    let (_tmp, store) = fresh();
    let p = dp(1);
    let opening = InboxEntry {
        status: "requested".into(),
        waiting_on: orgs(&[ME]),
        ..entry(1, 10, &p)
    };
    let applied = store.apply(std::slice::from_ref(&opening)).unwrap();
    assert_eq!(
        applied,
        Applied {
            applied: 1,
            replayed: 0,
            duplicates: 0,
            checkpoint: 1
        }
    );
    assert_eq!(store.checkpoint().unwrap(), 1);

    let summary = store.pathway(&p).unwrap().unwrap();
    assert_eq!(summary.id, p);
    assert_eq!(summary.kind, PathwayKind::DimissioneProtetta);
    assert_eq!(summary.status, "requested");
    assert_eq!(summary.ambito, ambito(AMBITI[0]));
    assert_eq!(summary.opened_at, minutes(10));
    assert_eq!(summary.updated_at, minutes(10));
    assert_eq!(summary.events, 1);
    assert_eq!(summary.last_event_type, opening.event_type);
    assert_eq!(summary.waiting_on, orgs(&[ME]));
    assert_eq!(summary.waiting_since, minutes(10));
    assert_eq!((summary.first_sequence, summary.last_sequence), (10, 10));

    let history = store.history(&p).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].source_sequence, 10);
    assert_eq!(history[0].event_id, opening.event_id);
    assert_eq!(history[0].event_type, opening.event_type);
    assert_eq!(history[0].time, minutes(10));
    assert_eq!(history[0].source, ME);
    assert_eq!(history[0].operator.as_deref(), Some("cot.operatore"));
    assert_eq!(history[0].command_id.as_deref(), Some("cmd-10"));
    assert_eq!(history[0].view, View::Full);
    assert_eq!(history[0].body, opening.body);

    assert_eq!(
        store.worklist().unwrap(),
        vec![WorkItem {
            pathway: p.clone(),
            kind: PathwayKind::DimissioneProtetta,
            status: "requested".into(),
            ambito: ambito(AMBITI[0]),
            since: minutes(10),
            updated_at: minutes(10),
            last_event_type: opening.event_type.clone(),
        }]
    );
    assert!(store.pathway(&dp(2)).unwrap().is_none());
    assert!(store.history(&dp(2)).unwrap().is_empty());
}

#[test]
fn the_worklist_follows_who_the_pathway_waits_on_and_since_when() {
    let (_tmp, store) = fresh();
    let p = dp(1);
    let step = |inbox: u64, source: u64, status: &str, waiting: &[&str]| InboxEntry {
        status: status.into(),
        waiting_on: orgs(waiting),
        ..entry(inbox, source, &p)
    };
    let since = |store: &dyn ProjectionStore| {
        let summary = store.pathway(&p).unwrap().unwrap();
        let work = store.worklist().unwrap();
        (summary.waiting_since, work.first().map(|w| w.since))
    };

    store.apply(&[step(1, 1, "requested", &[ME])]).unwrap();
    assert_eq!(since(&store), (minutes(1), Some(minutes(1))));

    // The same set, listed in another order and with a repeat: not a change.
    store.apply(&[step(2, 2, "received", &[ME, ME])]).unwrap();
    assert_eq!(since(&store), (minutes(1), Some(minutes(1))));
    assert_eq!(store.worklist().unwrap()[0].status, "received");

    // Another party joins the wait: a new set, so a new since; still on my worklist.
    store
        .apply(&[step(3, 3, "assessed", &[COMUNE, ME])])
        .unwrap();
    assert_eq!(since(&store), (minutes(3), Some(minutes(3))));
    assert_eq!(
        store.pathway(&p).unwrap().unwrap().waiting_on,
        orgs(&[ME, COMUNE]),
        "kept as a sorted set"
    );
    assert_eq!(store.worklist().unwrap().len(), 1);

    // The pathway stops waiting on me: off my worklist.
    store.apply(&[step(4, 4, "planned", &[COMUNE])]).unwrap();
    assert_eq!(since(&store), (minutes(4), None));
    store.apply(&[step(5, 5, "planned", &[COMUNE])]).unwrap();
    assert_eq!(since(&store), (minutes(4), None));

    // And back on it, since the event that put it back.
    store.apply(&[step(6, 6, "planned", &[ME])]).unwrap();
    assert_eq!(since(&store), (minutes(6), Some(minutes(6))));
    store.apply(&[step(7, 7, "closed", &[])]).unwrap();
    assert_eq!(since(&store), (minutes(7), None));

    let summary = store.pathway(&p).unwrap().unwrap();
    assert_eq!(summary.events, 7);
    assert_eq!(summary.status, "closed");
    assert_eq!(summary.opened_at, minutes(1));
    assert_eq!(summary.updated_at, minutes(7));
    let sequences: Vec<u64> = store
        .history(&p)
        .unwrap()
        .iter()
        .map(|h| h.source_sequence)
        .collect();
    assert_eq!(sequences, [1, 2, 3, 4, 5, 6, 7]);
}

#[test]
fn the_worklist_holds_only_the_pathways_waiting_on_me_longest_waiting_first() {
    let (_tmp, store) = fresh();
    store
        .apply(&[
            InboxEntry {
                waiting_on: orgs(&[ME]),
                ..entry(1, 5, &dp(1))
            },
            InboxEntry {
                waiting_on: orgs(&[COMUNE]),
                ..entry(2, 6, &dp(2))
            },
            InboxEntry {
                waiting_on: orgs(&[ME, ENTE]),
                ..entry(3, 2, &dp(3))
            },
            InboxEntry {
                waiting_on: orgs(&[ME]),
                ..entry(4, 9, &pathway(PathwayKind::Pua, 4))
            },
        ])
        .unwrap();
    let work: Vec<_> = store
        .worklist()
        .unwrap()
        .into_iter()
        .map(|w| w.pathway)
        .collect();
    assert_eq!(work, [dp(3), dp(1), pathway(PathwayKind::Pua, 4)]);
}

#[test]
fn history_is_in_log_order_across_interleaved_pathways() {
    let (_tmp, store) = fresh();
    // Log sequences that sort differently as text (9 < 10 < 256 < 257 only as numbers).
    let batch = [
        entry(1, 9, &dp(1)),
        entry(2, 10, &dp(2)),
        entry(3, 256, &dp(1)),
        entry(4, 257, &dp(2)),
        entry(5, 65_536, &dp(1)),
    ];
    store.apply(&batch).unwrap();
    let of = |n| -> Vec<u64> {
        store
            .history(&dp(n))
            .unwrap()
            .iter()
            .map(|h| h.source_sequence)
            .collect()
    };
    assert_eq!(of(1), [9, 256, 65_536]);
    assert_eq!(of(2), [10, 257]);
}

#[test]
fn an_earlier_event_handed_over_late_extends_the_history_without_moving_the_pathway_back() {
    let (_tmp, store) = fresh();
    let p = dp(1);
    // The party joins at event 5 and receives the pathway's events 2 and 3 afterwards.
    store
        .apply(&[InboxEntry {
            status: "assessed".into(),
            waiting_on: orgs(&[ME]),
            ..entry(1, 5, &p)
        }])
        .unwrap();
    store
        .apply(&[
            InboxEntry {
                status: "requested".into(),
                waiting_on: orgs(&[COMUNE]),
                ..entry(2, 2, &p)
            },
            InboxEntry {
                status: "received".into(),
                waiting_on: orgs(&[ME]),
                ..entry(3, 3, &p)
            },
        ])
        .unwrap();
    let summary = store.pathway(&p).unwrap().unwrap();
    assert_eq!(summary.status, "assessed");
    assert_eq!(summary.waiting_on, orgs(&[ME]));
    assert_eq!(summary.updated_at, minutes(5));
    assert_eq!(summary.waiting_since, minutes(5));
    assert_eq!(summary.opened_at, minutes(2));
    assert_eq!(summary.events, 3);
    assert_eq!((summary.first_sequence, summary.last_sequence), (2, 5));
    let sequences: Vec<u64> = store
        .history(&p)
        .unwrap()
        .iter()
        .map(|h| h.source_sequence)
        .collect();
    assert_eq!(sequences, [2, 3, 5]);
    assert_eq!(store.worklist().unwrap().len(), 1);
}

#[test]
fn times_are_kept_in_utc_and_bodies_as_data_not_as_key_order() {
    let in_rome = InboxEntry {
        time: datetime!(2025-03-03 10:00 +1),
        body: json!({"b": 1, "a": {"y": 2, "x": 1}}),
        ..entry(1, 1, &dp(1))
    };
    let in_utc = InboxEntry {
        time: datetime!(2025-03-03 9:00 UTC),
        body: json!({"a": {"x": 1, "y": 2}, "b": 1}),
        ..entry(1, 1, &dp(1))
    };
    let (_a, rome) = fresh();
    rome.apply(&[in_rome]).unwrap();
    let (_b, utc) = fresh();
    utc.apply(&[in_utc]).unwrap();
    assert_eq!(rome.digest().unwrap(), utc.digest().unwrap());
    let summary = rome.pathway(&dp(1)).unwrap().unwrap();
    assert_eq!(summary.updated_at.offset(), time::UtcOffset::UTC);
    assert_eq!(summary.updated_at, datetime!(2025-03-03 9:00 UTC));
}

#[test]
fn an_entry_that_cannot_be_stored_fails_its_whole_batch() {
    let (_tmp, store) = fresh();
    let empty = store.digest().unwrap();
    let batch = [
        entry(1, 1, &dp(1)),
        InboxEntry {
            time: datetime!(9999-12-31 23:30 -1),
            ..entry(2, 2, &dp(1))
        },
    ];
    let error = store.apply(&batch).unwrap_err().to_string();
    assert!(error.contains("asst:705"), "{error}");
    assert!(error.contains("inbox entry 2"), "{error}");
    assert!(error.contains(dp(1).as_str()), "{error}");
    assert!(
        error.contains(&store.dir().display().to_string()),
        "{error}"
    );
    assert_eq!(store.checkpoint().unwrap(), 0);
    assert_eq!(store.digest().unwrap(), empty);
}

#[test]
fn who_acted_and_for_which_command_is_kept_and_counts_in_the_digest() {
    let p = dp(1);
    let aggregate = InboxEntry {
        source: "asst".into(),
        operator: None,
        view: View::Aggregate,
        ..entry(1, 1, &p)
    };
    let (_tmp, store) = fresh();
    store.apply(std::slice::from_ref(&aggregate)).unwrap();
    let history = store.history(&p).unwrap();
    assert_eq!(history[0].source, "asst");
    assert_eq!(history[0].operator, None);
    assert_eq!(history[0].command_id.as_deref(), Some("cmd-1"));
    assert_eq!(history[0].view, View::Aggregate);

    let digest = store.digest().unwrap();
    for changed in [
        InboxEntry {
            operator: Some("someone".into()),
            ..aggregate.clone()
        },
        InboxEntry {
            command_id: None,
            ..aggregate.clone()
        },
        InboxEntry {
            command_id: Some("cmd-other".into()),
            ..aggregate.clone()
        },
    ] {
        assert_ne!(clean_digest(&[changed]), digest);
    }
}
