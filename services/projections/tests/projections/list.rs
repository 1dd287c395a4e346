//! Listing pathways: filters, the newest-first order, and paging with a cursor.

use raccordo_domain::ids::{PathwayId, PathwayKind};
use raccordo_projections::{InboxEntry, ListCursor, ListFilter, ProjectionStore, SledStore};
use tempfile::TempDir;

use crate::support::*;

fn pua(n: u64) -> PathwayId {
    pathway(PathwayKind::Pua, n)
}

fn cpf(n: u64) -> PathwayId {
    pathway(PathwayKind::CentroFamiglia, n)
}

/// Seven pathways of every kind, status, Ambito and wait; three share one `updated_at`.
fn seeded() -> (TempDir, SledStore) {
    let (tmp, store) = fresh();
    let rows: [(PathwayId, &str, usize, &[&str], u64); 7] = [
        (dp(1), "requested", 0, &[ME], 10),
        (dp(2), "closed", 1, &[], 20),
        (pua(3), "requested", 0, &[COMUNE], 30),
        (cpf(4), "received", 1, &[ME, COMUNE], 30),
        (dp(5), "requested", 1, &[ME], 40),
        (pua(6), "closed", 0, &[], 5),
        (dp(7), "requested", 0, &[ME], 30),
    ];
    let batch: Vec<InboxEntry> = rows
        .iter()
        .zip(1..)
        .map(|((id, status, a, waiting, minute), n)| InboxEntry {
            status: (*status).into(),
            ambito: ambito(AMBITI[*a]),
            waiting_on: orgs(waiting),
            time: minutes(*minute),
            ..entry(n, n, id)
        })
        .collect();
    store.apply(&batch).unwrap();
    (tmp, store)
}

fn ids(store: &SledStore, filter: &ListFilter) -> Vec<PathwayId> {
    store
        .list(filter)
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect()
}

#[test]
fn pathways_come_newest_first_then_by_id() {
    let (_tmp, store) = seeded();
    assert_eq!(
        ids(&store, &ListFilter::default()),
        [dp(5), cpf(4), dp(7), pua(3), dp(2), dp(1), pua(6)]
    );
}

#[test]
fn filters_by_kind_status_ambito_and_wait_combine() {
    let (_tmp, store) = seeded();
    let filter = |f: ListFilter| ids(&store, &f);
    assert_eq!(
        filter(ListFilter {
            kind: Some(PathwayKind::DimissioneProtetta),
            ..Default::default()
        }),
        [dp(5), dp(7), dp(2), dp(1)]
    );
    assert_eq!(
        filter(ListFilter {
            kind: Some(PathwayKind::CentroFamiglia),
            ..Default::default()
        }),
        [cpf(4)]
    );
    assert_eq!(
        filter(ListFilter {
            status: Some("requested".into()),
            ..Default::default()
        }),
        [dp(5), dp(7), pua(3), dp(1)]
    );
    assert_eq!(
        filter(ListFilter {
            ambito: Some(ambito(AMBITI[0])),
            ..Default::default()
        }),
        [dp(7), pua(3), dp(1), pua(6)]
    );
    assert_eq!(
        filter(ListFilter {
            waiting_on_me: true,
            ..Default::default()
        }),
        [dp(5), cpf(4), dp(7), dp(1)]
    );
    assert_eq!(
        filter(ListFilter {
            kind: Some(PathwayKind::DimissioneProtetta),
            ambito: Some(ambito(AMBITI[0])),
            waiting_on_me: true,
            ..Default::default()
        }),
        [dp(7), dp(1)]
    );
    assert!(
        filter(ListFilter {
            status: Some("no such status".into()),
            ..Default::default()
        })
        .is_empty()
    );
}

/// Every page of `filter` with `size` per page, following the cursor.
fn pages(store: &SledStore, filter: &ListFilter, size: usize) -> Vec<Vec<PathwayId>> {
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list(&ListFilter {
                limit: Some(size),
                after: after.clone(),
                ..filter.clone()
            })
            .unwrap();
        let Some(last) = page.last() else {
            return pages;
        };
        after = Some(ListCursor::after(last));
        assert!(page.len() <= size);
        pages.push(page.into_iter().map(|s| s.id).collect());
    }
}

#[test]
fn pages_follow_the_cursor_through_everything_once() {
    let (_tmp, store) = seeded();
    for filter in [
        ListFilter::default(),
        ListFilter {
            waiting_on_me: true,
            ..Default::default()
        },
        ListFilter {
            status: Some("requested".into()),
            ..Default::default()
        },
    ] {
        let all = ids(&store, &filter);
        for size in 1..=8 {
            let pages = pages(&store, &filter, size);
            assert_eq!(
                pages.len(),
                all.len().div_ceil(size),
                "{filter:?} by {size}"
            );
            assert_eq!(pages.concat(), all, "{filter:?} by {size}");
        }
    }
    assert!(
        store
            .list(&ListFilter {
                limit: Some(0),
                ..Default::default()
            })
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_pathway_updated_between_two_pages_is_not_listed_twice() {
    let (_tmp, store) = seeded();
    let first = store
        .list(&ListFilter {
            limit: Some(3),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(first[2].id, dp(7));
    // dp-5 (already seen) and pua-6 (not yet) move to the front.
    store
        .apply(&[
            InboxEntry {
                time: minutes(50),
                ..entry(8, 8, &dp(5))
            },
            InboxEntry {
                time: minutes(60),
                ..entry(9, 9, &pua(6))
            },
        ])
        .unwrap();
    let rest = ids(
        &store,
        &ListFilter {
            after: Some(ListCursor::after(&first[2])),
            ..Default::default()
        },
    );
    assert_eq!(rest, [pua(3), dp(2), dp(1)]);
    assert_eq!(ids(&store, &ListFilter::default())[..2], [pua(6), dp(5)]);
}
