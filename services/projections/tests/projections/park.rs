//! Parking: an inbox message the projector could not apply moves the checkpoint past it and is
//! recorded, atomically, so that a resumed projector never meets it again and agrees, digest for
//! digest, with a clean rebuild that parked it too.

use raccordo_projections::{ProjectionStore, SledStore};

use crate::support::*;

#[test]
fn parking_moves_the_checkpoint_and_is_recorded() {
    let (_tmp, store) = fresh();
    let entries = stream(11, 20);
    store.apply(&entries[..9]).unwrap();
    assert!(store.park(10).unwrap());
    assert_eq!(store.checkpoint().unwrap(), 10);
    assert_eq!(store.parked().unwrap(), [10]);
    // At or below the checkpoint: already passed, nothing written.
    let digest = store.digest().unwrap();
    assert!(!store.park(10).unwrap());
    assert!(!store.park(3).unwrap());
    assert_eq!(store.digest().unwrap(), digest);
    // The entry at the parked position, met again, is a replay.
    assert_eq!(store.apply(&entries[9..10]).unwrap().replayed, 1);
    store.apply(&entries[10..]).unwrap();
    assert_eq!(store.checkpoint().unwrap(), 20);
    assert_eq!(store.parked().unwrap(), [10]);
}

#[test]
fn a_resumed_store_and_a_clean_one_that_parked_the_same_entries_agree() {
    let entries = stream(12, 300);
    let parked = [40u64, 41, 150, 300];
    let kept: Vec<_> = entries
        .iter()
        .filter(|e| !parked.contains(&e.inbox_sequence))
        .cloned()
        .collect();

    // Clean: one pass, parking as it goes.
    let (_a, clean) = fresh();
    let mut run = Vec::new();
    for entry in &entries {
        if parked.contains(&entry.inbox_sequence) {
            clean.apply(&run).unwrap();
            run.clear();
            clean.park(entry.inbox_sequence).unwrap();
        } else {
            run.push(entry.clone());
        }
    }
    clean.apply(&run).unwrap();
    let digest = clean.digest().unwrap();

    // Resumed: other batches, closed and reopened between them, some work done twice.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let mut done = 0;
    for size in [33usize, 1, 120, 7, 300] {
        let (store, _) = SledStore::open(&dir, &me()).unwrap();
        let from = store.checkpoint().unwrap();
        let upto = (from + size as u64).min(300);
        for entry in entries
            .iter()
            .filter(|e| e.inbox_sequence > from.saturating_sub(5) && e.inbox_sequence <= upto)
        {
            if parked.contains(&entry.inbox_sequence) {
                store.park(entry.inbox_sequence).unwrap();
            } else {
                store.apply(std::slice::from_ref(entry)).unwrap();
            }
        }
        done = store.checkpoint().unwrap();
    }
    assert_eq!(done, 300);
    let (store, _) = reopen(&dir);
    assert_eq!(store.parked().unwrap(), parked);
    assert_eq!(store.digest().unwrap(), digest);

    // The parked positions count: a store that simply never saw those entries differs.
    assert_ne!(clean_digest(&kept), digest);
}
