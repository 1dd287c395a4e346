//! Where a party's projection lives under raccordo's state folder, and how it is opened or set
//! aside for a rebuild. What happened is said out loud here, once, for every caller.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use raccordo_domain::ids::OrgId;
use raccordo_projections::{Opened, SledStore, StoreError, StorePlace};
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// The directory of `party`'s projection: `<state_dir>/projections/<party subject token>`.
pub fn store_dir(state_dir: &Path, party: &OrgId) -> PathBuf {
    state_dir.join("projections").join(party.subject_token())
}

/// Opens (or creates, or recovers) the party's store under
/// `<state_dir>/projections/<party subject token>`, logging Created at info and Recovered at warn
/// with where the old one was moved and why.
pub fn open_store(state_dir: &Path, party: &OrgId) -> Result<(Arc<SledStore>, Opened), StoreError> {
    let dir = store_dir(state_dir, party);
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|e| StoreError::Open {
            at: Box::new(StorePlace {
                party: party.clone(),
                dir: dir.clone(),
            }),
            reason: format!("cannot create {}: {e}", parent.display()),
        })?;
    }
    let (store, opened) = SledStore::open(&dir, party)?;
    match &opened {
        Opened::Existing { checkpoint } => tracing::debug!(
            %party, dir = %dir.display(), checkpoint,
            "opened the projection"
        ),
        Opened::Created => tracing::info!(
            %party, dir = %dir.display(),
            "created a new projection; it is built from inbox sequence 1"
        ),
        Opened::Recovered { moved_to, reason } => tracing::warn!(
            %party, dir = %dir.display(), moved_to = %moved_to.display(), %reason,
            "the projection could not be used: moved it aside and started a new one, \
             rebuilt from inbox sequence 1"
        ),
    }
    Ok((Arc::new(store), opened))
}

/// Moves the party's store aside to `<dir>.before-rebuild-<yyyymmddThhmmss>` (`now` in UTC; a
/// `-<n>` follows if that name is taken), never deleting it, so that the next [`open_store`]
/// creates a fresh one to rebuild from inbox sequence 1. `None` when there was no store. Refused
/// with [`StoreError::Locked`] while a projector (a running `raccordo up`) has it open.
pub fn set_aside_for_rebuild(
    state_dir: &Path,
    party: &OrgId,
    now: OffsetDateTime,
) -> Result<Option<PathBuf>, StoreError> {
    let dir = store_dir(state_dir, party);
    let stamp = now
        .to_offset(UtcOffset::UTC)
        .format(format_description!(
            "[year][month][day]T[hour][minute][second]"
        ))
        .unwrap_or_else(|_| now.unix_timestamp().to_string());
    let moved = SledStore::set_aside(&dir, party, &format!(".before-rebuild-{stamp}"))?;
    if let Some(moved_to) = &moved {
        tracing::info!(
            %party, dir = %dir.display(), moved_to = %moved_to.display(),
            "moved the projection aside for a rebuild (kept, not deleted)"
        );
    }
    Ok(moved)
}
