//! Properties over random inboxes: however the entries are batched, and whatever is replayed
//! after a batch, the projection ends up byte for byte the same, and it says what a plain model
//! of the inbox says.

use std::collections::{BTreeMap, BTreeSet};

use proptest::collection::vec;
use proptest::prelude::*;
use raccordo_domain::ids::PathwayId;
use raccordo_projections::{InboxEntry, ListFilter, ProjectionStore, SledStore};

use crate::support::*;

fn op() -> impl Strategy<Value = Op> {
    let event = (0..6u16, 0..5u8, 0..5u8);
    prop_oneof![
        6 => event.clone().prop_map(|(pathway, status, waiting)| Op::Event { pathway, status, waiting }),
        1 => event.prop_map(|(pathway, status, waiting)| Op::Hold { pathway, status, waiting }),
        1 => Just(Op::Release),
        1 => any::<u16>().prop_map(Op::Again),
    ]
}

/// What the projection must say of each pathway: its events' log sequences, and the latest
/// event in log order (where the pathway stands).
fn model(entries: &[InboxEntry]) -> BTreeMap<PathwayId, (BTreeSet<u64>, InboxEntry)> {
    let mut pathways: BTreeMap<PathwayId, (BTreeSet<u64>, InboxEntry)> = BTreeMap::new();
    for entry in entries {
        let (sequences, latest) = pathways
            .entry(entry.pathway.clone())
            .or_insert_with(|| (BTreeSet::new(), entry.clone()));
        sequences.insert(entry.source_sequence);
        if entry.source_sequence > latest.source_sequence {
            *latest = entry.clone();
        }
    }
    pathways
}

fn check_against_model(store: &SledStore, entries: &[InboxEntry]) {
    let model = model(entries);
    let listed = store.list(&ListFilter::default()).unwrap();
    assert_eq!(listed.len(), model.len());
    let mut waiting_on_me = BTreeSet::new();
    for (id, (sequences, latest)) in &model {
        let summary = store.pathway(id).unwrap().unwrap();
        let history: Vec<u64> = store
            .history(id)
            .unwrap()
            .iter()
            .map(|h| h.source_sequence)
            .collect();
        assert_eq!(history, sequences.iter().copied().collect::<Vec<_>>());
        assert_eq!(summary.events, sequences.len() as u64);
        assert_eq!(summary.status, latest.status);
        assert_eq!(summary.updated_at, latest.time);
        assert_eq!(summary.last_sequence, latest.source_sequence);
        assert_eq!(summary.first_sequence, *sequences.first().unwrap());
        if latest.waiting_on.contains(&me()) {
            waiting_on_me.insert(id.clone());
        }
    }
    let work: BTreeSet<PathwayId> = store
        .worklist()
        .unwrap()
        .into_iter()
        .map(|w| w.pathway)
        .collect();
    assert_eq!(work, waiting_on_me);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn any_batching_with_replays_gives_the_digest_of_applying_everything_at_once(
        ops in vec(op(), 1..150),
        sizes in vec(1..25usize, 1..20),
        replays in vec(any::<bool>(), 1..20),
    ) {
        let entries = inbox(&ops);
        let whole = clean_digest(&entries);
        let (_tmp, store) = fresh();
        let mut start = 0;
        let mut previous = 0;
        for (size, replay) in sizes.iter().cycle().zip(replays.iter().cycle()) {
            if start >= entries.len() {
                break;
            }
            let end = (start + size).min(entries.len());
            store.apply(&entries[start..end]).unwrap();
            if *replay {
                // A projector restarted from an older checkpoint reads this batch and the one
                // before it again.
                let again = store.apply(&entries[previous..end]).unwrap();
                prop_assert_eq!(again.replayed, end - previous);
            }
            previous = start;
            start = end;
        }
        prop_assert_eq!(store.checkpoint().unwrap(), entries.len() as u64);
        prop_assert_eq!(store.digest().unwrap(), whole);
        check_against_model(&store, &entries);
    }
}
