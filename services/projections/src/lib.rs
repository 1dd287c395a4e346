//! One party's projection of raccordo: what an organisation knows of the pathways it takes part
//! in, derived from its inbox and kept in an embedded database of its own.
//!
//! The log is the truth and a projection is disposable (ARCHITECTURE.md §3, invariant 3): every
//! batch of inbox entries is written together with the inbox sequence it reaches (the checkpoint),
//! in one transaction, so a projector killed at any instant restarts from a state that some clean
//! rebuild would also have passed through. An inbox message the projector cannot apply is parked
//! the same way: the checkpoint moves past it and the position is recorded in one transaction, so
//! a resumed projection and a clean rebuild agree on it too. A store that cannot be read is moved
//! aside, never deleted, and rebuilt from the log.
//!
//! [`ProjectionStore`] is what the rest of raccordo sees; [`SledStore`] is its only implementation
//! and the only code in raccordo that knows sled. The rules that turn an entry into a pathway's
//! summary live apart from both, in `summary`, so that another engine would reuse them unchanged.

mod codec;
mod model;
mod sled_store;
mod store;
mod summary;

pub use model::{
    Applied, HistoryEntry, InboxEntry, ListCursor, ListFilter, PathwaySummary, WorkItem,
};
pub use sled_store::{FORMAT_VERSION, Opened, SledStore};
pub use store::{ProjectionStore, StoreError, StorePlace};

/// A digest of one event as a party holds it: the event, the view and the body (keys sorted).
/// Projectors publish it for what their store holds; the reconciler computes it for what the log
/// says the party should hold. Equal digests mean the party holds the event as it should.
pub fn entry_digest(
    event_id: &raccordo_domain::ids::EventId,
    view: raccordo_domain::routing::View,
    body: &serde_json::Value,
) -> String {
    use sha2::Digest as _;
    let text =
        serde_json::to_vec(&(event_id, view, codec::canonical(body))).expect("an entry serialises");
    hex::encode(&sha2::Sha256::digest(&text)[..16])
}

impl HistoryEntry {
    /// See [`entry_digest`].
    pub fn digest(&self) -> String {
        entry_digest(&self.event_id, self.view, &self.body)
    }
}
