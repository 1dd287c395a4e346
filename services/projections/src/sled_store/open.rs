//! Opening a party's store, and what happens when it cannot be read.
//!
//! A projection is disposable, so a directory that cannot be used as this party's store (sled
//! cannot open it, it is a file, it holds no projection, another format or another party's) is
//! not repaired: it is moved aside to `<dir>.corrupt-<n>` for an operator to look at, never
//! deleted, and a fresh store takes its place for the projector to rebuild from the log. What is
//! not damage is refused instead: a directory locked by a running projector, a permission or a
//! full disk. Moving aside a store in use, or one that is merely out of reach for a moment, would
//! throw away a good projection.
//!
//! raccordo never deletes what it moves aside, but sled writes to the files as it opens them (its
//! crash recovery), and a data file it cannot recognise at all it takes for an empty one and
//! rewrites: in that case what is kept is the directory as sled left it, with the configuration
//! file intact and the data file re-initialised.

use std::fs::{self, File, TryLockError};
use std::io::{self, ErrorKind};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Duration;

use raccordo_domain::ids::OrgId;

use super::{FORMAT_VERSION, SledStore, Trees, keys};
use crate::store::{StoreError, StorePlace};

/// How `SledStore::open` found the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// This party's store, as it was left.
    Existing { checkpoint: u64 },
    /// Nothing was there (no directory, or an empty one): a fresh, empty store.
    Created,
    /// What was there could not be used; it was moved to `moved_to` and a fresh, empty store
    /// created. The caller should say so loudly and rebuild from the log.
    Recovered { moved_to: PathBuf, reason: String },
}

/// What `inspect` found in the directory.
enum Found {
    Store(SledStore, u64),
    /// No directory, or an empty one.
    Empty,
    Unusable(String),
}

impl SledStore {
    /// Opens (creating) the store of `party` in `dir`. If the directory cannot be opened as a
    /// sled database, or its metadata is missing or of another format or party, it is moved aside
    /// to `<dir>.corrupt-<n>` (never deleted), a fresh store is created, and the outcome says so.
    pub fn open(dir: &Path, party: &OrgId) -> Result<(SledStore, Opened), StoreError> {
        let mut waited = Duration::ZERO;
        loop {
            match Self::open_once(dir, party) {
                Err(StoreError::Locked { .. }) if waited < LOCK_GRACE => {
                    std::thread::sleep(LOCK_POLL);
                    waited += LOCK_POLL;
                }
                outcome => return outcome,
            }
        }
    }

    fn open_once(dir: &Path, party: &OrgId) -> Result<(SledStore, Opened), StoreError> {
        let fail = |reason: String| StoreError::Open {
            at: StorePlace::boxed(party, dir),
            reason,
        };
        match inspect(dir, party)? {
            Found::Store(store, checkpoint) => Ok((store, Opened::Existing { checkpoint })),
            Found::Empty => {
                let db = open_db(dir).map_err(|e| fail(e.to_string()))?;
                let store = initialise(db, dir, party)?;
                Ok((store, Opened::Created))
            }
            Found::Unusable(reason) => {
                // Said out loud by the caller, which knows what rebuilds it (see `Opened`).
                let moved_to = move_aside(dir, party, &reason)?;
                let db = open_db(dir).map_err(|e| fail(e.to_string()))?;
                let store = initialise(db, dir, party)?;
                Ok((store, Opened::Recovered { moved_to, reason }))
            }
        }
    }
}

/// How long a store found locked is tried again before the lock is taken for another holder's:
/// sled lets go of its lock from background threads a little after the last handle of a store is
/// dropped, so a store closed and opened again in one process (a projector restarted after an
/// error, a test) can find it still held for a moment. A lock really held is refused a second
/// later.
const LOCK_GRACE: Duration = Duration::from_secs(1);
const LOCK_POLL: Duration = Duration::from_millis(50);

fn open_db(dir: &Path) -> sled::Result<sled::Db> {
    sled::Config::new().path(dir).open()
}

/// Looks at `dir` without changing what is in it.
fn inspect(dir: &Path, party: &OrgId) -> Result<Found, StoreError> {
    let fail = |reason: String| StoreError::Open {
        at: StorePlace::boxed(party, dir),
        reason,
    };
    // `metadata` follows a symlink: a store linked from elsewhere is a deployment's choice.
    match fs::metadata(dir) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Found::Empty),
        Err(e) => return Err(fail(e.to_string())),
        Ok(meta) if !meta.is_dir() => {
            return Ok(Found::Unusable("it is not a directory".into()));
        }
        Ok(_) => {}
    }
    let mut entries = fs::read_dir(dir).map_err(|e| fail(e.to_string()))?;
    if entries.next().is_none() {
        return Ok(Found::Empty);
    }
    if locked(dir).map_err(|e| fail(format!("checking its lock: {e}")))? {
        return Err(StoreError::Locked {
            at: StorePlace::boxed(party, dir),
        });
    }
    // sled may panic rather than fail on some damage; that is damage all the same.
    let opened = panic::catch_unwind(AssertUnwindSafe(|| -> sled::Result<Found> {
        let db = open_db(dir)?;
        read_meta(db, dir, party)
    }));
    match opened {
        Ok(Ok(found)) => Ok(found),
        Ok(Err(e)) if is_lock(&e) => Err(StoreError::Locked {
            at: StorePlace::boxed(party, dir),
        }),
        Ok(Err(e)) if is_damage(&e) => Ok(Found::Unusable(format!("sled cannot read it: {e}"))),
        Ok(Err(e)) => Err(fail(e.to_string())),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            Ok(Found::Unusable(format!(
                "sled panicked reading it: {message}"
            )))
        }
    }
}

/// Whether another process (or another store in this one) holds sled's lock on `dir`. sled would
/// say so too, but only as an opaque I/O error, which must not pass for damage.
fn locked(dir: &Path) -> io::Result<bool> {
    Ok(matches!(lock(dir)?, Lock::Held))
}

/// sled's lock on a store directory, as `lock` finds it.
enum Lock {
    /// Another process, or another open store in this one, holds it.
    Held,
    /// Free: taken by this file until it is dropped (`None` when there is no lock file, or the
    /// filesystem has no locks).
    Taken(Option<File>),
}

/// Takes sled's lock on `dir` (the same lock sled takes on its `db` file), if it is free.
fn lock(dir: &Path) -> io::Result<Lock> {
    let file = match File::open(dir.join("db")) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Lock::Taken(None)),
        Err(e) => return Err(e),
    };
    match file.try_lock() {
        Ok(()) => Ok(Lock::Taken(Some(file))),
        Err(TryLockError::WouldBlock) => Ok(Lock::Held),
        // A filesystem without locks: let sled decide.
        Err(TryLockError::Error(e)) if e.kind() == ErrorKind::Unsupported => Ok(Lock::Taken(None)),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// sled's own lock failure, in case the lock was taken between `locked` and sled's open.
fn is_lock(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}

/// Whether `e` says the files are damaged, as opposed to out of reach (permissions, a full or
/// read-only disk), which moving them aside would not cure.
fn is_damage(e: &sled::Error) -> bool {
    match e {
        sled::Error::Corruption { .. }
        | sled::Error::Unsupported(_)
        | sled::Error::ReportableBug(_)
        | sled::Error::CollectionNotFound(_) => true,
        sled::Error::Io(io) => !matches!(
            io.kind(),
            ErrorKind::PermissionDenied
                | ErrorKind::StorageFull
                | ErrorKind::ReadOnlyFilesystem
                | ErrorKind::QuotaExceeded
                | ErrorKind::OutOfMemory
                | ErrorKind::Interrupted
                | ErrorKind::WouldBlock
                | ErrorKind::ResourceBusy
        ),
    }
}

/// Checks the metadata of an opened database: this party's store of this format, or unusable.
fn read_meta(db: sled::Db, dir: &Path, party: &OrgId) -> sled::Result<Found> {
    // sled opens a data file of garbage or zeros as an empty database, so an empty database in a
    // directory that held files is no evidence of a creation cut short: it is moved aside too.
    // Opening a tree would create it: only look at one that exists.
    if !db.tree_names().iter().any(|name| name == b"meta") {
        return Ok(Found::Unusable(
            "it holds no projection metadata (not a projection, or its data file is unreadable)"
                .into(),
        ));
    }
    let meta = db.open_tree("meta")?;
    let (Some(format), Some(owner), Some(checkpoint)) = (
        meta.get(keys::FORMAT)?,
        meta.get(keys::PARTY)?,
        meta.get(keys::CHECKPOINT)?,
    ) else {
        return Ok(Found::Unusable(
            "its metadata is incomplete (format, party or checkpoint missing)".into(),
        ));
    };
    let format = match keys::u32_value(&format) {
        Ok(format) => format,
        Err(e) => return Ok(Found::Unusable(format!("its format is unreadable: {e}"))),
    };
    if format != FORMAT_VERSION {
        return Ok(Found::Unusable(format!(
            "it is of format {format}, this build reads format {FORMAT_VERSION}"
        )));
    }
    if owner != party.to_string().as_bytes() {
        return Ok(Found::Unusable(format!(
            "it is the projection of {}, not of {party}",
            String::from_utf8_lossy(&owner)
        )));
    }
    let checkpoint = match keys::u64_value(&checkpoint) {
        Ok(checkpoint) => checkpoint,
        Err(e) => {
            return Ok(Found::Unusable(format!(
                "its checkpoint is unreadable: {e}"
            )));
        }
    };
    let trees = Trees::open(&db)?;
    Ok(Found::Store(
        SledStore::new(party, dir, db, trees),
        checkpoint,
    ))
}

/// Makes `db` a fresh store of `party`: the metadata in one atomic batch, then flushed. A crash
/// before the flush leaves a database without metadata, which the next open moves aside like any
/// other: rare, harmless, and never a store taken for what it is not.
fn initialise(db: sled::Db, dir: &Path, party: &OrgId) -> Result<SledStore, StoreError> {
    let fail = |e: sled::Error| StoreError::Storage {
        at: StorePlace::boxed(party, dir),
        action: "creating a fresh store".into(),
        reason: e.to_string(),
    };
    let trees = Trees::open(&db).map_err(fail)?;
    let mut meta = sled::Batch::default();
    meta.insert(keys::FORMAT, &FORMAT_VERSION.to_be_bytes()[..]);
    meta.insert(keys::PARTY, party.to_string().as_bytes());
    meta.insert(keys::CHECKPOINT, &0u64.to_be_bytes()[..]);
    trees.meta.apply_batch(meta).map_err(fail)?;
    db.flush().map_err(fail)?;
    Ok(SledStore::new(party, dir, db, trees))
}

/// Renames `dir` to the first free `<dir>.corrupt-<n>`, n from 1.
fn move_aside(dir: &Path, party: &OrgId, why: &str) -> Result<PathBuf, StoreError> {
    rename_aside(dir, party, why, |n| format!(".corrupt-{n}"))
}

/// Renames `dir` to the first free name `suffix(n)` gives, n from 1. A rename keeps every byte and
/// stays on the same filesystem, so it is atomic and cannot fail halfway.
fn rename_aside(
    dir: &Path,
    party: &OrgId,
    why: &str,
    suffix: impl Fn(u32) -> String,
) -> Result<PathBuf, StoreError> {
    let fail = |to: PathBuf, reason: String| StoreError::MoveAside {
        at: StorePlace::boxed(party, dir),
        to,
        why_aside: why.to_owned(),
        reason,
    };
    let Some(name) = dir.file_name() else {
        return Err(fail(
            dir.to_owned(),
            "the path has no final component".into(),
        ));
    };
    for n in 1..=u32::MAX {
        let mut aside = name.to_owned();
        aside.push(suffix(n));
        let to = dir.with_file_name(aside);
        // `symlink_metadata`: a dangling link there still takes the name.
        if fs::symlink_metadata(&to).is_ok() {
            continue;
        }
        return match fs::rename(dir, &to) {
            Ok(()) => Ok(to),
            Err(e) => Err(fail(to, e.to_string())),
        };
    }
    Err(fail(
        dir.to_owned(),
        format!("every {}<n> name is taken", suffix(0)),
    ))
}

impl SledStore {
    /// Moves the store in `dir` aside to `<dir><suffix>` (`<dir><suffix>-<n>` from n = 2 if that
    /// is taken), never deleting it, so that the next open creates a fresh store: how an operator
    /// asks for a rebuild while keeping the old projection to compare. `None` when there is
    /// nothing to move. Refused with [`StoreError::Locked`] while a projector has the store open:
    /// a store in use cannot be swapped underneath it.
    pub fn set_aside(
        dir: &Path,
        party: &OrgId,
        suffix: &str,
    ) -> Result<Option<PathBuf>, StoreError> {
        let fail = |reason: String| StoreError::Open {
            at: StorePlace::boxed(party, dir),
            reason,
        };
        match fs::symlink_metadata(dir) {
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(fail(e.to_string())),
            Ok(_) => {}
        }
        // Held until the rename is done, so that no projector opens the store in between.
        let _lock = match lock(dir).map_err(|e| fail(format!("checking its lock: {e}")))? {
            Lock::Held => {
                return Err(StoreError::Locked {
                    at: StorePlace::boxed(party, dir),
                });
            }
            Lock::Taken(file) => file,
        };
        let moved = rename_aside(dir, party, "a rebuild was asked for", |n| match n {
            1 => suffix.to_owned(),
            n => format!("{suffix}-{n}"),
        })?;
        Ok(Some(moved))
    }
}
