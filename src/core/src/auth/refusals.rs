//! Requests refused before a caller is known (no or bad credentials, an
//! oversized body): counted per minute in the key-value store and logged by
//! the edge, never chained into the audit trail (API.md "Mutations"), so an
//! anonymous flood costs one counter increment each and cannot hold the
//! audit database's write lock or grow it.
//!
//! One counter per minute; the first refusal of a minute deletes the one
//! from two minutes before (best effort), so at most a few keys remain.

use crate::ports::KeyValue;

const MINUTE: u64 = 60;

fn key(minute: u64) -> String {
    format!("refused/anonymous/{minute}")
}

/// Counts one anonymous refusal. A store failure is ignored: the refusal
/// stands whether or not it was counted.
pub fn count(kv: &dyn KeyValue, now: u64) {
    let minute = now / MINUTE;
    if let Ok(1) = kv.increment(&key(minute), 1) {
        let _ = kv.delete(&key(minute.saturating_sub(2)));
    }
}

/// Refusals counted this minute and the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recent {
    pub this_minute: u64,
    pub last_minute: u64,
}

pub fn recent(kv: &dyn KeyValue, now: u64) -> Recent {
    let minute = now / MINUTE;
    // An increment by 0 reads a counter whatever bytes the store keeps.
    let read = |m: u64| kv.increment(&key(m), 0).map_or(0, |n| n.max(0) as u64);
    Recent {
        this_minute: read(minute),
        last_minute: read(minute.saturating_sub(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryKv;

    #[test]
    fn counts_per_minute_and_keeps_two_minutes() {
        let kv = MemoryKv::default();
        for _ in 0..5 {
            count(&kv, 120);
        }
        count(&kv, 185);
        assert_eq!(
            recent(&kv, 185),
            Recent {
                this_minute: 1,
                last_minute: 5
            }
        );
        count(&kv, 250);
        assert_eq!(kv.0.borrow().len(), 2, "{:?}", kv.0.borrow().keys());
        assert_eq!(recent(&kv, 250).last_minute, 1);
    }
}
