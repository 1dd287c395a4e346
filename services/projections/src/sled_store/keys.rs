//! How the projection's keys are laid out in sled, so that each question is one point read or
//! one range scan in key order.
//!
//! | tree       | key                                       | value                         |
//! |------------|-------------------------------------------|-------------------------------|
//! | `meta`     | `format`, `party`, `checkpoint`           | u32 BE, party text, u64 BE    |
//! | `pathways` | pathway id                                | `PathwaySummary` JSON         |
//! | `history`  | pathway id, 0x00, source sequence (u64 BE) | `HistoryEntry` JSON           |
//! | `seen`     | pathway id, 0x00, event id                | source sequence (u64 BE)      |
//! | `worklist` | instant(waiting_since), pathway id        | `WorkItem` JSON               |
//! | `recent`   | !instant(updated_at), pathway id          | empty                         |
//! | `parked`   | inbox sequence (u64 BE)                   | empty                         |
//!
//! Sequences are big-endian so that byte order is numeric order. The 0x00 after a pathway id
//! cannot occur in an id, so a scan of one pathway's prefix never reaches another whose id starts
//! alike. An instant is its Unix time in nanoseconds, sign bit flipped and big-endian, so that
//! byte order is time order; `recent` stores its complement, so a forward scan is newest first.

use raccordo_domain::ids::{EventId, PathwayId};
use time::OffsetDateTime;

pub(crate) const FORMAT: &[u8] = b"format";
pub(crate) const PARTY: &[u8] = b"party";
pub(crate) const CHECKPOINT: &[u8] = b"checkpoint";

const SEPARATOR: u8 = 0;
const INSTANT_LEN: usize = 16;

pub(crate) fn pathway(id: &PathwayId) -> &[u8] {
    id.as_str().as_bytes()
}

/// The prefix of every history key of `id`.
pub(crate) fn history_prefix(id: &PathwayId) -> Vec<u8> {
    let mut key = Vec::with_capacity(id.as_str().len() + 9);
    key.extend_from_slice(id.as_str().as_bytes());
    key.push(SEPARATOR);
    key
}

pub(crate) fn history(id: &PathwayId, source_sequence: u64) -> Vec<u8> {
    let mut key = history_prefix(id);
    key.extend_from_slice(&source_sequence.to_be_bytes());
    key
}

pub(crate) fn seen(id: &PathwayId, event: &EventId) -> Vec<u8> {
    let mut key = history_prefix(id);
    key.extend_from_slice(event.as_str().as_bytes());
    key
}

fn instant(time: OffsetDateTime) -> [u8; INSTANT_LEN] {
    (time.unix_timestamp_nanos().cast_unsigned() ^ (1 << 127)).to_be_bytes()
}

fn with_instant(instant: [u8; INSTANT_LEN], id: &PathwayId) -> Vec<u8> {
    let mut key = Vec::with_capacity(INSTANT_LEN + id.as_str().len());
    key.extend_from_slice(&instant);
    key.extend_from_slice(id.as_str().as_bytes());
    key
}

pub(crate) fn worklist(since: OffsetDateTime, id: &PathwayId) -> Vec<u8> {
    with_instant(instant(since), id)
}

pub(crate) fn recent(updated_at: OffsetDateTime, id: &PathwayId) -> Vec<u8> {
    with_instant(instant(updated_at).map(|b| !b), id)
}

/// The pathway id of a `recent` key.
pub(crate) fn pathway_of_recent(key: &[u8]) -> Result<PathwayId, String> {
    let id = key
        .get(INSTANT_LEN..)
        .ok_or_else(|| format!("key of {} bytes is too short", key.len()))?;
    let id = std::str::from_utf8(id).map_err(|e| e.to_string())?;
    id.parse()
        .map_err(|e: raccordo_domain::ids::IdError| e.to_string())
}

pub(crate) fn u64_value(bytes: &[u8]) -> Result<u64, String> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| format!("expected 8 bytes, found {}", bytes.len()))
}

pub(crate) fn u32_value(bytes: &[u8]) -> Result<u32, String> {
    <[u8; 4]>::try_from(bytes)
        .map(u32::from_be_bytes)
        .map_err(|_| format!("expected 4 bytes, found {}", bytes.len()))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn id(n: u8) -> PathwayId {
        format!("dp-{:020x}", n).parse().unwrap()
    }

    #[test]
    fn history_keys_sort_by_sequence_numerically() {
        let keys: Vec<_> = [1u64, 2, 255, 256, 70_000, u64::MAX]
            .iter()
            .map(|s| history(&id(1), *s))
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert!(keys.iter().all(|k| k.starts_with(&history_prefix(&id(1)))));
        assert!(!history(&id(2), 1).starts_with(&history_prefix(&id(1))));
    }

    #[test]
    fn instants_sort_by_time_before_and_after_1970() {
        let times = [
            datetime!(1900-01-01 0:00 UTC),
            datetime!(1969-12-31 23:59:59.999999999 UTC),
            datetime!(1970-01-01 0:00 UTC),
            datetime!(1970-01-01 0:00:00.000000001 UTC),
            datetime!(2025-06-01 8:00 UTC),
        ];
        let work: Vec<_> = times.iter().map(|t| worklist(*t, &id(9))).collect();
        assert!(work.windows(2).all(|w| w[0] < w[1]));
        let recent: Vec<_> = times.iter().map(|t| recent(*t, &id(9))).collect();
        assert!(recent.windows(2).all(|w| w[0] > w[1]));
        assert_eq!(pathway_of_recent(&recent[2]).unwrap(), id(9));
        // Same instant: ties go by id, ascending, in both.
        assert!(worklist(times[4], &id(1)) < worklist(times[4], &id(2)));
        assert!(super::recent(times[4], &id(1)) < super::recent(times[4], &id(2)));
    }
}
