//! The reconciler's own sled store: what it tracks of each pathway (its steps with their
//! deadlines), the keys of the findings made, and where it is in the log, written together in one
//! transaction per batch so that a restart resumes exactly where the last batch ended. The
//! deadline index lives in memory only: loading the store rebuilds it from the tracked pathways,
//! so a batch writes each pathway it touched once and reads nothing back.

use std::collections::BTreeSet;
use std::path::Path;

use raccordo_domain::ids::PathwayId;
use raccordo_domain::reconcile::{Book, Tracked};
use sled::Transactional;
use sled::transaction::TransactionError;

const PATHWAYS: &str = "pathways";
/// A deadline index earlier versions also kept on disk, never read back: dropped on open.
const OLD_DEADLINES: &str = "deadlines";
const FOUND: &str = "found";
const META: &str = "meta";
const SEQUENCE: &[u8] = b"sequence";
const CLOCK: &[u8] = b"clock";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the reconciler's store at {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("the reconciler's store: {0}")]
    Sled(#[from] sled::Error),
    #[error("the reconciler's store holds an unreadable record under {key}: {reason}")]
    Corrupt { key: String, reason: String },
}

#[derive(Debug, Clone)]
pub struct Store {
    db: sled::Db,
    pathways: sled::Tree,
    found: sled::Tree,
    meta: sled::Tree,
}

fn found_key(pathway: &PathwayId, key: &str) -> Vec<u8> {
    let mut k = pathway.as_str().as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let db = sled::open(dir).map_err(|e| StoreError::Open {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        db.drop_tree(OLD_DEADLINES)?;
        Ok(Store {
            pathways: db.open_tree(PATHWAYS)?,
            found: db.open_tree(FOUND)?,
            meta: db.open_tree(META)?,
            db,
        })
    }

    /// The book as the last batch left it (empty for a new store).
    pub fn load(&self) -> Result<Book, StoreError> {
        let mut book = Book::default();
        for entry in &self.pathways {
            let (key, value) = entry?;
            let tracked: Tracked =
                serde_json::from_slice(&value).map_err(|e| StoreError::Corrupt {
                    key: String::from_utf8_lossy(&key).into_owned(),
                    reason: e.to_string(),
                })?;
            book.restore(tracked);
        }
        for entry in &self.found {
            let (key, _) = entry?;
            let text = String::from_utf8_lossy(&key).into_owned();
            let (pathway, finding) = text.split_once('\0').ok_or_else(|| StoreError::Corrupt {
                key: text.clone(),
                reason: "no separator".into(),
            })?;
            let pathway: PathwayId = pathway.parse().map_err(|e| StoreError::Corrupt {
                key: text.clone(),
                reason: format!("{e}"),
            })?;
            book.found.insert((pathway, finding.to_owned()));
        }
        if let Some(value) = self.meta.get(SEQUENCE)? {
            book.sequence =
                u64::from_be_bytes(value.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    key: "sequence".into(),
                    reason: "not 8 bytes".into(),
                })?);
        }
        if let Some(value) = self.meta.get(CLOCK)? {
            book.clock = serde_json::from_slice(&value).map_err(|e| StoreError::Corrupt {
                key: "clock".into(),
                reason: e.to_string(),
            })?;
        }
        Ok(book)
    }

    /// Writes what a batch changed: the pathways it touched (as the book holds them now, or
    /// removed), their deadlines, the findings made, and the book's place in the log.
    pub fn save(
        &self,
        book: &Book,
        touched: &BTreeSet<PathwayId>,
        new_findings: &[(PathwayId, String)],
    ) -> Result<(), StoreError> {
        let clock = serde_json::to_vec(&book.clock).expect("an instant serialises");
        let result: Result<(), TransactionError<String>> =
            (&self.pathways, &self.found, &self.meta).transaction(|(pathways, found, meta)| {
                for id in touched {
                    let key = id.as_str().as_bytes();
                    match book.pathways.get(id) {
                        Some(tracked) => {
                            let value =
                                serde_json::to_vec(tracked).expect("tracked records serialise");
                            pathways.insert(key, value)?;
                        }
                        None => {
                            pathways.remove(key)?;
                        }
                    }
                }
                for (pathway, key) in new_findings {
                    found.insert(found_key(pathway, key), &[])?;
                }
                meta.insert(SEQUENCE, &book.sequence.to_be_bytes())?;
                meta.insert(CLOCK, clock.as_slice())?;
                Ok(())
            });
        match result {
            Ok(()) => Ok(()),
            Err(TransactionError::Abort(reason)) => Err(StoreError::Corrupt {
                key: "pathways".into(),
                reason,
            }),
            Err(TransactionError::Storage(e)) => Err(StoreError::Sled(e)),
        }
    }

    pub async fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_async().await?;
        Ok(())
    }
}
