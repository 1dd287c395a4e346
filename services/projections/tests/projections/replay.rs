//! Idempotence and determinism: replays change nothing, duplicates are skipped, and the same
//! entries give the same digest however they were batched.

use raccordo_projections::{Applied, InboxEntry, ProjectionStore, StoreError};

use crate::support::*;

#[test]
fn replaying_a_batch_or_an_overlapping_one_changes_nothing() {
    let entries = stream(1, 60);
    let (_tmp, store) = fresh();
    store.apply(&entries[..40]).unwrap();
    let digest = store.digest().unwrap();

    let again = store.apply(&entries[..40]).unwrap();
    assert_eq!(
        again,
        Applied {
            applied: 0,
            replayed: 40,
            duplicates: 0,
            checkpoint: 40
        }
    );
    assert_eq!(store.digest().unwrap(), digest);

    let overlap = store.apply(&entries[30..]).unwrap();
    assert_eq!(overlap.replayed, 10);
    assert_eq!(overlap.applied + overlap.duplicates, 20);
    assert_eq!(overlap.checkpoint, 60);
    assert_eq!(store.digest().unwrap(), clean_digest(&entries));
}

#[test]
fn an_entry_at_or_below_the_highest_sequence_before_it_in_its_batch_is_a_replay() {
    let entries = stream(2, 10);
    let (_tmp, store) = fresh();
    let shuffled = [
        entries[0].clone(),
        entries[2].clone(),
        entries[1].clone(),
        entries[2].clone(),
    ];
    let applied = store.apply(&shuffled).unwrap();
    assert_eq!(applied.replayed, 2);
    assert_eq!(applied.checkpoint, 3);
}

#[test]
fn an_event_delivered_twice_is_skipped_but_moves_the_checkpoint() {
    let (_tmp, store) = fresh();
    let p = dp(1);
    let first = InboxEntry {
        waiting_on: orgs(&[ME]),
        ..entry(1, 1, &p)
    };
    store.apply(std::slice::from_ref(&first)).unwrap();
    let summary = store.pathway(&p).unwrap();
    let history = store.history(&p).unwrap();
    let worklist = store.worklist().unwrap();

    // The same event again (e.g. as backfill), at a later inbox position, with a later status.
    let twice = InboxEntry {
        inbox_sequence: 2,
        status: "received".into(),
        ..first.clone()
    };
    let applied = store.apply(&[twice]).unwrap();
    assert_eq!(
        applied,
        Applied {
            applied: 0,
            replayed: 0,
            duplicates: 1,
            checkpoint: 2
        }
    );
    assert_eq!(store.checkpoint().unwrap(), 2);
    assert_eq!(store.pathway(&p).unwrap(), summary);
    assert_eq!(store.history(&p).unwrap(), history);
    assert_eq!(store.worklist().unwrap(), worklist);

    // Twice in one batch too.
    let (_tmp2, other) = fresh();
    let applied = other
        .apply(&[
            first.clone(),
            InboxEntry {
                inbox_sequence: 2,
                ..first
            },
        ])
        .unwrap();
    assert_eq!((applied.applied, applied.duplicates), (1, 1));
    assert_eq!(store.digest().unwrap(), other.digest().unwrap());
}

#[test]
fn another_event_at_a_log_position_already_held_is_refused_and_changes_nothing() {
    let (_tmp, store) = fresh();
    store.apply(&[entry(1, 7, &dp(1))]).unwrap();
    let digest = store.digest().unwrap();
    let impostor = InboxEntry {
        event_id: event_id(99),
        ..entry(3, 7, &dp(1))
    };
    let error = store.apply(&[entry(2, 8, &dp(2)), impostor]).unwrap_err();
    assert!(matches!(error, StoreError::Conflict { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("log sequence 7"), "{message}");
    assert!(message.contains(event_id(7).as_str()), "{message}");
    assert_eq!(store.checkpoint().unwrap(), 1);
    assert_eq!(store.digest().unwrap(), digest);
}

#[test]
fn stores_fed_the_same_entries_in_different_batches_agree_and_one_entry_apart_differ() {
    let entries = stream(3, 400);
    let whole = clean_digest(&entries);

    for size in [1, 7, 64, 399] {
        let (_tmp, store) = fresh();
        for batch in entries.chunks(size) {
            store.apply(batch).unwrap();
        }
        assert_eq!(store.digest().unwrap(), whole, "batches of {size}");
    }

    // One entry different, among those that count: a repeat of an event is skipped whatever
    // it says, and the status of an event older than the pathway's latest is not kept.
    let once = |i: usize| {
        entries
            .iter()
            .filter(|e| e.event_id == entries[i].event_id)
            .count()
            == 1
    };
    let i = (200..).find(|i| once(*i)).unwrap();
    let mut changed = entries.clone();
    changed[i].body["note"]["seq"] = serde_json::json!(-1);
    assert_ne!(clean_digest(&changed), whole);
    let mut changed = entries.clone();
    changed[i].source = COMUNE.into();
    assert_ne!(clean_digest(&changed), whole);
    let last = entries.iter().rposition(|e| {
        e.source_sequence == latest_sequence(&entries, &e.pathway)
            && once(e.inbox_sequence as usize - 1)
    });
    let mut changed = entries.clone();
    changed[last.unwrap()].status = "a different status".into();
    assert_ne!(clean_digest(&changed), whole);
    assert_ne!(clean_digest(&entries[..399]), whole);
}

#[test]
fn an_empty_batch_or_a_batch_of_replays_writes_nothing() {
    let (_tmp, store) = fresh();
    assert_eq!(
        store.apply(&[]).unwrap(),
        Applied {
            checkpoint: 0,
            ..Applied::default()
        }
    );
    store.apply(&stream(4, 5)).unwrap();
    let digest = store.digest().unwrap();
    assert_eq!(store.apply(&stream(4, 5)).unwrap().skipped(), 5);
    assert_eq!(store.digest().unwrap(), digest);
}

/// The latest log sequence of `pathway` in `entries`.
fn latest_sequence(entries: &[InboxEntry], pathway: &raccordo_domain::ids::PathwayId) -> u64 {
    entries
        .iter()
        .filter(|e| e.pathway == *pathway)
        .map(|e| e.source_sequence)
        .max()
        .unwrap()
}
