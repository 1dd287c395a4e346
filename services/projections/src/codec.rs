//! The canonical encoding of stored values.
//!
//! Values are JSON (serde_json): readable with any tool when an operator opens a projection that
//! was moved aside, and the same encoding the bus already uses. The projection's digest is taken
//! over the stored bytes, so values equal as data must encode to equal bytes. Three things would
//! otherwise break that, and are normalised before anything is stored:
//! - object keys, which keep their insertion order (the workspace enables `preserve_order`) while
//!   two maps with the same entries in another order compare equal: keys are sorted, at any depth;
//! - times, whose offset is kept by `OffsetDateTime` while equality compares instants: stored in UTC;
//! - `waiting_on`, a set carried as a list: sorted and without repeats.
//!
//! Struct fields serialise in declaration order and serde_json writes numbers one way only, so the
//! rest is deterministic as it stands.

use raccordo_domain::ids::OrgId;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use time::{OffsetDateTime, UtcOffset};

/// `time` in UTC, provided RFC 3339 can write it (years 0 to 9999), so that storing never fails
/// halfway through a transaction.
pub(crate) fn utc(time: OffsetDateTime) -> Result<OffsetDateTime, String> {
    time.checked_to_offset(UtcOffset::UTC)
        .filter(|t| (0..10_000).contains(&t.year()))
        .ok_or_else(|| format!("time {time} is outside the years 0 to 9999 in UTC"))
}

/// The set `orgs`, sorted and without repeats.
pub(crate) fn set_of(orgs: &[OrgId]) -> Vec<OrgId> {
    let mut set = orgs.to_vec();
    set.sort();
    set.dedup();
    set
}

/// `value` with the keys of every object sorted.
pub(crate) fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut sorted: serde_json::Map<String, Value> = map
                .iter()
                .map(|(key, value)| (key.clone(), canonical(value)))
                .collect();
            sorted.sort_keys();
            Value::Object(sorted)
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

pub(crate) fn to_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    serde_json::to_vec(value).map_err(|e| e.to_string())
}

pub(crate) fn from_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    #[test]
    fn equal_maps_in_another_order_encode_alike() {
        let a = json!({"b": 1, "a": {"y": [ {"q": 1, "p": 2} ], "x": null}});
        let b = json!({"a": {"x": null, "y": [ {"p": 2, "q": 1} ]}, "b": 1});
        assert_eq!(a, b);
        assert_ne!(to_bytes(&a).unwrap(), to_bytes(&b).unwrap());
        assert_eq!(
            to_bytes(&canonical(&a)).unwrap(),
            to_bytes(&canonical(&b)).unwrap()
        );
    }

    #[test]
    fn times_are_stored_in_utc_and_within_rfc_3339() {
        let rome = datetime!(2025-03-01 10:00 +1);
        assert_eq!(utc(rome).unwrap().offset(), UtcOffset::UTC);
        assert_eq!(utc(rome).unwrap(), rome);
        assert!(utc(datetime!(-0001-12-31 23:00 UTC)).is_err());
        assert!(utc(datetime!(0000-01-01 00:30 +1)).is_err());
    }
}
