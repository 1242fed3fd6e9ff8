//! Writing a value at an absent key once, whoever else tries at the same
//! time, on a store whose swap from "absent" is not conditional.
//!
//! Spin's SQLite key-value store (`key-value-spin`, Spin 3.x and 4.x: what
//! `spin up` and a SpinApp without a runtime config use) answers a
//! `wasi:keyvalue` swap from "absent" with an upsert. Two requests that both
//! saw a key absent both succeed, and each reads its own value back: a
//! webhook delivered twice at once would be acted on twice. Its `increment`
//! is one transaction under the store's lock (Redis's is `INCRBY`), so the
//! step from absent to present is taken under a lock counter per key: the
//! first increment holds it. The lock is per minute, and a creator also
//! defers to one still at work in the minute before, so a holder that dies
//! blocks that key's creation for two minutes at most.

use crate::ports::{HostError, KeyValue};

fn lock(key: &str, minute: u64) -> String {
    format!("{key}\u{1f}creating:{minute}")
}

/// Writes `value` at `key` if it is absent; `Ok(false)` when the key was
/// there or another creator holds the lock. A loser calls `wait` (a few
/// milliseconds) until the winner's value is readable, so that its caller,
/// reading the key next, finds it.
pub fn create_once(
    kv: &dyn KeyValue,
    now_secs: u64,
    key: &str,
    value: &[u8],
    wait: &dyn Fn(),
) -> Result<bool, HostError> {
    let minute = now_secs / 60;
    let mine = lock(key, minute);
    let held = kv.increment(&mine, 1)? == 1;
    let created = (|| {
        if !held || kv.increment(&lock(key, minute.saturating_sub(1)), 0)? > 0 {
            return Ok(false);
        }
        if kv.get(key)?.is_some() {
            return Ok(false);
        }
        kv.set(key, value)?;
        Ok(true)
    })();
    let _ = kv.increment(&mine, -1);
    if matches!(created, Ok(false)) {
        for _ in 0..20 {
            if kv.get(key)?.is_some() {
                break;
            }
            wait();
        }
    }
    created
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryKv;
    use std::cell::Cell;

    const NOW: u64 = 1_795_420_800;

    /// A swap from "absent" as Spin's SQLite store does it: an upsert.
    struct UpsertOnAbsent(MemoryKv);

    impl KeyValue for UpsertOnAbsent {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
            self.0.get(key)
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), HostError> {
            self.0.set(key, value)
        }
        fn delete(&self, key: &str) -> Result<(), HostError> {
            self.0.delete(key)
        }
        fn compare_and_swap(
            &self,
            key: &str,
            expected: Option<&[u8]>,
            value: &[u8],
        ) -> Result<bool, HostError> {
            match expected {
                None => self.0.set(key, value).map(|()| true),
                Some(_) => self.0.compare_and_swap(key, expected, value),
            }
        }
        fn increment(&self, key: &str, delta: i64) -> Result<i64, HostError> {
            self.0.increment(key, delta)
        }
    }

    #[test]
    fn the_hosts_swap_from_absent_lets_two_creators_win() {
        let kv = UpsertOnAbsent(MemoryKv::default());
        // Both saw the key absent; both swap.
        assert!(kv.compare_and_swap("k", None, b"first").unwrap());
        assert!(kv.compare_and_swap("k", None, b"second").unwrap());
        assert_eq!(kv.get("k").unwrap().as_deref(), Some(&b"second"[..]));
    }

    #[test]
    fn one_creator_wins_and_a_present_key_is_kept() {
        let kv = UpsertOnAbsent(MemoryKv::default());
        let waited = Cell::new(0);
        let wait = || waited.set(waited.get() + 1);
        assert!(create_once(&kv, NOW, "k", b"first", &wait).unwrap());
        assert!(!create_once(&kv, NOW, "k", b"second", &wait).unwrap());
        assert_eq!(kv.get("k").unwrap().as_deref(), Some(&b"first"[..]));
        // The loser found the value at once, and the lock is free again.
        assert_eq!(waited.get(), 0);
        assert_eq!(kv.increment(&lock("k", NOW / 60), 0).unwrap(), 0);
    }

    #[test]
    fn a_creator_in_the_lock_keeps_the_others_out_until_it_is_done() {
        let kv = UpsertOnAbsent(MemoryKv::default());
        let waited = Cell::new(0);
        let wait = || waited.set(waited.get() + 1);
        // Another request holds this minute's lock, or the minute before's.
        for held in [NOW / 60, NOW / 60 - 1] {
            kv.increment(&lock("k", held), 1).unwrap();
            assert!(!create_once(&kv, NOW, "k", b"mine", &wait).unwrap());
            assert_eq!(kv.get("k").unwrap(), None);
            kv.increment(&lock("k", held), -1).unwrap();
        }
        // It waited for the holder's value, which never came.
        assert_eq!(waited.get(), 40);
        // A holder that died blocks the key two minutes at most.
        kv.increment(&lock("k", NOW / 60), 1).unwrap();
        assert!(!create_once(&kv, NOW + 60, "k", b"mine", &wait).unwrap());
        assert!(create_once(&kv, NOW + 120, "k", b"mine", &wait).unwrap());
    }
}
