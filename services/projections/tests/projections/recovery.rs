//! Opening: a store survives a reopen; what cannot be this party's store is moved aside, never
//! deleted, and replaced by a fresh one; a store in use is refused, not moved.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use raccordo_domain::ids::OrgId;
use raccordo_projections::{Opened, ProjectionStore, SledStore, StoreError};

use crate::damage::{garbage, garble};
use crate::support::*;

/// A store of `ME` in `dir` holding `n` entries of a stream, closed again.
fn filled(dir: &Path, n: usize) -> String {
    let (store, opened) = SledStore::open(dir, &me()).unwrap();
    assert_eq!(opened, Opened::Created);
    store.apply(&stream(5, n)).unwrap();
    store.digest().unwrap()
}

fn empty_digest() -> String {
    let (_tmp, store) = fresh();
    store.digest().unwrap()
}

/// Opens `dir` with sled itself, right after a store there was closed: sled's background threads
/// let go of the directory's lock a moment after the last handle is dropped.
fn sled_after_close(dir: &Path) -> sled::Db {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match sled::open(dir) {
            Ok(db) => return db,
            Err(e) if Instant::now() >= deadline => panic!("{} does not open: {e}", dir.display()),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Opens `dir` expecting a recovery; checks the fresh store and that the old files were kept.
fn expect_recovered(dir: &Path, party: &OrgId) -> (SledStore, PathBuf, String) {
    let (store, opened) = SledStore::open(dir, party).unwrap();
    let Opened::Recovered { moved_to, reason } = opened else {
        panic!("expected a recovery, got {opened:?}");
    };
    assert!(moved_to.exists(), "{} is gone", moved_to.display());
    assert_eq!(store.checkpoint().unwrap(), 0);
    assert!(store.list(&Default::default()).unwrap().is_empty());
    (store, moved_to, reason)
}

#[test]
fn checkpoint_and_digest_survive_a_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let entries = stream(6, 300);
    let digest = {
        let (store, _) = SledStore::open(&dir, &me()).unwrap();
        store.apply(&entries[..200]).unwrap();
        store.digest().unwrap()
    };
    let (store, opened) = reopen(&dir);
    assert_eq!(opened, Opened::Existing { checkpoint: 200 });
    assert_eq!(store.digest().unwrap(), digest);
    store.apply(&entries).unwrap();
    assert_eq!(store.digest().unwrap(), clean_digest(&entries));
}

#[test]
fn an_empty_directory_becomes_a_fresh_store() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, opened) = SledStore::open(tmp.path(), &me()).unwrap();
    assert_eq!(opened, Opened::Created);
    assert_eq!(store.digest().unwrap(), empty_digest());
}

#[test]
fn garbage_over_the_sled_files_is_moved_aside_and_a_fresh_store_created() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    filled(&dir, 200);
    assert!(!garble(&dir).is_empty());

    let (store, moved_to, reason) = expect_recovered(&dir, &me());
    assert_eq!(moved_to, tmp.path().join("store.corrupt-1"));
    assert!(!reason.is_empty());
    assert_eq!(store.digest().unwrap(), empty_digest());
    // What was there is kept for an operator to look at.
    assert!(moved_to.join("db").exists());
}

#[test]
fn garbage_over_the_data_file_alone_is_moved_aside() {
    // sled takes a data file it cannot recognise for an empty one: no metadata, so moved aside.
    // (sled rewrites that file as it opens it, so what is kept is sled's, not the garbage.)
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    filled(&dir, 200);
    let len = fs::metadata(dir.join("db")).unwrap().len() as usize;
    fs::write(dir.join("db"), garbage(len)).unwrap();
    let (_store, moved_to, reason) = expect_recovered(&dir, &me());
    assert!(reason.contains("no projection metadata"), "{reason}");
    assert!(moved_to.join("db").exists() && moved_to.join("conf").exists());
}

#[test]
fn a_zeroed_data_file_is_moved_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    filled(&dir, 200);
    let len = fs::metadata(dir.join("db")).unwrap().len() as usize;
    fs::write(dir.join("db"), vec![0u8; len]).unwrap();
    expect_recovered(&dir, &me());
}

#[test]
fn a_truncated_database_file_is_moved_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    filled(&dir, 200);
    fs::write(dir.join("conf"), b"not a sled configuration").unwrap();
    let (_store, moved_to, _) = expect_recovered(&dir, &me());
    assert_eq!(
        fs::read(moved_to.join("conf")).unwrap(),
        b"not a sled configuration"
    );
}

#[test]
fn a_file_where_the_directory_should_be_is_moved_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    fs::write(&dir, b"I am not a directory").unwrap();
    let (store, moved_to, reason) = expect_recovered(&dir, &me());
    assert!(reason.contains("not a directory"), "{reason}");
    assert_eq!(fs::read(&moved_to).unwrap(), b"I am not a directory");
    assert!(dir.is_dir());
    drop(store);
    assert!(matches!(reopen(&dir).1, Opened::Existing { checkpoint: 0 }));
}

#[test]
fn another_partys_store_is_moved_aside_not_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let digest = filled(&dir, 50);
    let comune: OrgId = COMUNE.parse().unwrap();
    let (store, moved_to, reason) = expect_recovered(&dir, &comune);
    assert!(reason.contains(ME) && reason.contains(COMUNE), "{reason}");
    assert_eq!(store.party(), &comune);
    drop(store);
    // The moved store is intact: it opens as what it was.
    let (kept, opened) = SledStore::open(&moved_to, &me()).unwrap();
    assert_eq!(opened, Opened::Existing { checkpoint: 50 });
    assert_eq!(kept.digest().unwrap(), digest);
}

#[test]
fn a_database_that_is_not_a_projection_is_moved_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    {
        let db = sled::open(&dir).unwrap();
        db.insert("someone else's", "data").unwrap();
        db.flush().unwrap();
    }
    let (_store, _, reason) = expect_recovered(&dir, &me());
    assert!(reason.contains("no projection metadata"), "{reason}");
}

#[test]
fn a_store_of_another_format_is_moved_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    filled(&dir, 10);
    {
        let db = sled_after_close(&dir);
        let meta = db.open_tree("meta").unwrap();
        meta.insert("format", &99u32.to_be_bytes()[..]).unwrap();
        db.flush().unwrap();
    }
    let (_store, _, reason) = expect_recovered(&dir, &me());
    assert!(reason.contains("format 99"), "{reason}");
}

#[test]
fn a_database_without_metadata_is_moved_aside_even_when_empty() {
    // What a creation cut short before its metadata leaves, and what sled makes of a data file it
    // cannot read: an empty database. Only an empty directory is taken as nothing at all.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    {
        let db = sled::open(&dir).unwrap();
        db.open_tree("pathways").unwrap();
        db.flush().unwrap();
    }
    let (_store, moved_to, reason) = expect_recovered(&dir, &me());
    assert!(reason.contains("no projection metadata"), "{reason}");
    assert!(moved_to.join("conf").exists());
}

#[test]
fn each_recovery_takes_the_next_free_name() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    for n in 1..=3 {
        filled(&dir, 5);
        let (store, moved_to, _) = expect_recovered(&dir, &"ente:ipis".parse().unwrap());
        drop(store);
        assert_eq!(moved_to, tmp.path().join(format!("store.corrupt-{n}")));
        fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn a_store_in_use_is_refused_not_moved_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let (store, _) = SledStore::open(&dir, &me()).unwrap();
    store.apply(&stream(7, 20)).unwrap();
    let error = SledStore::open(&dir, &me()).unwrap_err();
    assert!(matches!(error, StoreError::Locked { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains(ME) && message.contains("locked"),
        "{message}"
    );
    assert!(!tmp.path().join("store.corrupt-1").exists());
    assert_eq!(store.checkpoint().unwrap(), 20);
}

#[test]
fn a_store_set_aside_for_a_rebuild_is_kept_whole_and_a_fresh_one_takes_its_place() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    assert_eq!(SledStore::set_aside(&dir, &me(), ".before").unwrap(), None);

    let digest = filled(&dir, 50);
    let aside = SledStore::set_aside(&dir, &me(), ".before")
        .unwrap()
        .unwrap();
    assert_eq!(aside, tmp.path().join("store.before"));
    assert!(!dir.exists());
    let (kept, opened) = SledStore::open(&aside, &me()).unwrap();
    assert_eq!(opened, Opened::Existing { checkpoint: 50 });
    assert_eq!(kept.digest().unwrap(), digest);
    drop(kept);

    let (fresh, opened) = SledStore::open(&dir, &me()).unwrap();
    assert_eq!(opened, Opened::Created);
    // In use: refused, and left where it is.
    let error = SledStore::set_aside(&dir, &me(), ".before").unwrap_err();
    assert!(matches!(error, StoreError::Locked { .. }), "{error}");
    assert!(dir.exists());
    drop(fresh);
    // The name taken: the next free one.
    let again = SledStore::set_aside(&dir, &me(), ".before")
        .unwrap()
        .unwrap();
    assert_eq!(again, tmp.path().join("store.before-2"));
}
