//! A projector killed at any instant restarts from a whole batch: a child process (this test
//! binary again) applies batches in a loop until it is SIGKILLed; the store it leaves must open
//! as it was and hold exactly the entries up to its checkpoint, byte for byte as a clean store fed
//! those entries.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

use raccordo_projections::{Opened, ProjectionStore, SledStore};

use crate::support::*;

/// Set only in the child: the store it writes.
const CHILD_DIR: &str = "RACCORDO_PROJECTIONS_CRASH_DIR";
const ENTRIES: usize = 40_000;
const SEED: u64 = 9;
const READY: &str = "crash child: applying";

#[test]
#[ignore = "the child process of a_projector_killed_at_any_instant_restarts_from_a_whole_batch"]
fn crash_child_applies_until_killed() {
    let Some(dir) = std::env::var_os(CHILD_DIR).map(PathBuf::from) else {
        return;
    };
    let entries = stream(SEED, ENTRIES);
    let (store, _) = SledStore::open(&dir, &me()).unwrap();
    let from = store.checkpoint().unwrap() as usize;
    // The parent times its kill from here, not from a start slowed down by building the stream.
    println!("{READY}");
    // Batches of varied sizes, flushed now and then as a projector would, so that the kill can
    // land in the middle of a transaction, of a background flush or of an explicit one.
    let mut start = from;
    let mut round = 0;
    while start < entries.len() {
        let end = (start + 1 + (round * 37) % 300).min(entries.len());
        store.apply(&entries[start..end]).unwrap();
        if round % 4 == 0 {
            store.flush().unwrap();
        }
        start = end;
        round += 1;
    }
    // Done before the kill: wait for it, but not forever if the parent is gone.
    sleep(Duration::from_secs(60));
}

/// The child, killed when the test ends however it ends, so that no child outlives a failure.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_projector_killed_at_any_instant_restarts_from_a_whole_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let entries = stream(SEED, ENTRIES);
    let mut checkpoints = Vec::new();
    for kill_after in [150, 700, 1_100, 450] {
        let mut child = Child(
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "crash::crash_child_applies_until_killed",
                    "--ignored",
                    "--test-threads=1",
                    "--nocapture",
                ])
                .env(CHILD_DIR, &dir)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let stdout = BufReader::new(child.0.stdout.take().unwrap());
        for line in stdout.lines() {
            // libtest prints the test's name on the same line, before its output.
            if line.unwrap().ends_with(READY) {
                break;
            }
        }
        sleep(Duration::from_millis(kill_after));
        // SIGKILL: no destructor, no flush, no chance to finish the batch in hand.
        child.0.kill().unwrap();
        child.0.wait().unwrap();

        let (store, opened) = SledStore::open(&dir, &me()).unwrap();
        let Opened::Existing { checkpoint } = opened else {
            panic!("the killed projector's store did not reopen as it was: {opened:?}");
        };
        assert_eq!(store.checkpoint().unwrap(), checkpoint);
        let held = &entries[..checkpoint as usize];
        assert_eq!(
            store.digest().unwrap(),
            clean_digest(held),
            "killed after {kill_after} ms at checkpoint {checkpoint}"
        );
        checkpoints.push(checkpoint);
    }
    assert!(
        checkpoints.windows(2).all(|w| w[0] <= w[1]) && checkpoints[3] > 0,
        "the child made no progress: {checkpoints:?}"
    );
    println!("checkpoints after each kill: {checkpoints:?}");
}
