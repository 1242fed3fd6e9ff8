//! Rate limits (API.md "Callers"): fixed-window counters in the key-value
//! store, per caller per minute and per target user per 24 hours.
//!
//! A counter is one atomic `increment` per request, and only the value that
//! increment returns is read: fifty concurrent requests see fifty distinct
//! counts, so exactly `max` of them pass. Fixed windows can let through up
//! to twice `max` across a window boundary; for "at most 3 passes per user
//! per day" that is an accepted trade for one store call per check.
//!
//! The store has no expiry, so the first request of a window deletes the
//! previous window's counter (best effort). A subject that never returns
//! leaves its last counter behind: one small key per subject, not per
//! request.

use http::header::RETRY_AFTER;
use sha2::{Digest, Sha256};

use super::Caller;
use crate::api::{ErrorCode, Problem};
use crate::config::RateLimits;
use crate::ports::{HostError, KeyValue};

const MINUTE: u64 = 60;
const DAY: u64 = 24 * 60 * 60;

/// One limit: at most `max` requests per `window_secs` per subject.
///
/// `max == 0` (or `window_secs == 0`) disables the limit rather than refusing
/// everything: `rate_limits` is an override of numbers, and a deployment
/// that wants no passes at all withholds the `tap` scope instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Part of the store key and of the message: `caller`, `tap`, `reset`,
    /// `phone`.
    pub name: &'static str,
    pub max: u32,
    pub window_secs: u64,
}

impl Limit {
    pub fn is_disabled(&self) -> bool {
        self.max == 0 || self.window_secs == 0
    }

    /// "at most 3 passes per user per 24 hours".
    pub fn describe(&self) -> String {
        let what = match self.name {
            "caller" => "requests per caller",
            "tap" => "passes per user",
            "reset" => "resets per user",
            "phone" => "phone changes per user",
            _ => "requests",
        };
        let window = match self.window_secs {
            MINUTE => "minute".to_string(),
            3600 => "hour".to_string(),
            DAY => "24 hours".to_string(),
            s if s % DAY == 0 => format!("{} days", s / DAY),
            s if s % 3600 == 0 => format!("{} hours", s / 3600),
            s if s % MINUTE == 0 => format!("{} minutes", s / MINUTE),
            s => format!("{s} seconds"),
        };
        format!("at most {} {what} per {window}", self.max)
    }
}

/// Over the limit: `429 rate_limited` with `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}; retry in {retry_after_secs} s", limit.describe())]
pub struct RateLimited {
    /// Seconds until the current window ends; at least 1.
    pub retry_after_secs: u64,
    pub limit: Limit,
}

impl RateLimited {
    pub fn to_problem(&self) -> Problem {
        Problem::new(ErrorCode::RateLimited, self.to_string())
            .with("limit", self.limit.max)
            .with("windowSeconds", self.limit.window_secs)
            .header(RETRY_AFTER, self.retry_after_secs.to_string())
    }
}

/// A check that could not be made is refused (503), not waved through: these
/// limits bound what a leaked key can do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error(transparent)]
    Limited(#[from] RateLimited),
    #[error("rate-limit store: {0}")]
    Storage(HostError),
}

impl LimitError {
    pub fn to_problem(&self) -> Problem {
        match self {
            LimitError::Limited(r) => r.to_problem(),
            LimitError::Storage(_) => Problem::new(ErrorCode::StorageUnavailable, self.to_string()),
        }
    }
}

/// The subject is hashed so a UPN never appears in a store key; 128 bits
/// are plenty to keep subjects apart.
fn key(limit: &Limit, subject: &str, window: u64) -> String {
    let digest = hex::encode(Sha256::digest(subject.as_bytes()));
    format!("rl/{}/{}/{window}", limit.name, &digest[..32])
}

/// Counts one request by `subject` against `limit` at `now` (unix seconds).
pub fn check(kv: &dyn KeyValue, now: u64, limit: &Limit, subject: &str) -> Result<(), LimitError> {
    if limit.is_disabled() {
        return Ok(());
    }
    let window = now / limit.window_secs;
    let count = kv
        .increment(&key(limit, subject, window), 1)
        .map_err(LimitError::Storage)?;
    if count == 1 && window > 0 {
        // First request of this window: the previous counter is dead.
        let _ = kv.delete(&key(limit, subject, window - 1));
    }
    if count > i64::from(limit.max) {
        let window_end = (window + 1) * limit.window_secs;
        return Err(RateLimited {
            retry_after_secs: window_end.saturating_sub(now).max(1),
            limit: *limit,
        }
        .into());
    }
    Ok(())
}

/// `callerPerMinute` (default 60).
pub fn per_caller(limits: &RateLimits) -> Limit {
    Limit {
        name: "caller",
        max: limits.caller_per_minute,
        window_secs: MINUTE,
    }
}

/// Counts a request against the caller's per-minute limit.
pub fn check_caller(
    kv: &dyn KeyValue,
    now: u64,
    limits: &RateLimits,
    caller: &Caller,
) -> Result<(), LimitError> {
    check(kv, now, &per_caller(limits), &caller.id)
}

/// The mutations limited per target user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Tap,
    Reset,
    Phone,
}

/// `tapPerUserPerDay` (3), `resetPerUserPerDay` (3), `phonePerUserPerDay`
/// (10), each per 24 hours.
pub fn per_target(limits: &RateLimits, target: Target) -> Limit {
    let (name, max) = match target {
        Target::Tap => ("tap", limits.tap_per_user_per_day),
        Target::Reset => ("reset", limits.reset_per_user_per_day),
        Target::Phone => ("phone", limits.phone_per_user_per_day),
    };
    Limit {
        name,
        max,
        window_secs: DAY,
    }
}

/// Counts a mutation of `user_id` against its per-user limit, whichever
/// caller asks. Pass the resolved object id, so a UPN and an id of the same
/// user share one counter.
pub fn check_target(
    kv: &dyn KeyValue,
    now: u64,
    limits: &RateLimits,
    target: Target,
    user_id: &str,
) -> Result<(), LimitError> {
    check(kv, now, &per_target(limits, target), user_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::CredentialKind;
    use crate::testing::World;

    const TAP: Limit = Limit {
        name: "tap",
        max: 3,
        window_secs: DAY,
    };

    fn limited(r: Result<(), LimitError>) -> RateLimited {
        match r {
            Err(LimitError::Limited(l)) => l,
            other => panic!("expected a 429, got {other:?}"),
        }
    }

    #[test]
    fn max_allowed_then_429_with_the_window_remainder() {
        let w = World::configured();
        // 2026-11-23T08:00:00Z: 16 hours left in the UTC day window.
        let now = 1_795_420_800;
        for _ in 0..3 {
            check(&w.kv, now, &TAP, "u1").unwrap();
        }
        let r = limited(check(&w.kv, now + 5, &TAP, "u1"));
        assert_eq!(r.retry_after_secs, 16 * 3600 - 5);
        assert_eq!(r.limit, TAP);
        let p = r.to_problem();
        assert_eq!(p.code, ErrorCode::RateLimited);
        assert_eq!(p.code.status(), 429);
        assert!(
            p.detail
                .starts_with("at most 3 passes per user per 24 hours"),
            "{}",
            p.detail
        );
        assert_eq!(p.headers, [(RETRY_AFTER, (16 * 3600 - 5).to_string())]);
        // Still refused in the last second of the window, with Retry-After 1.
        let last = (now / DAY + 1) * DAY - 1;
        assert_eq!(limited(check(&w.kv, last, &TAP, "u1")).retry_after_secs, 1);
    }

    #[test]
    fn the_next_window_allows_again_and_drops_the_old_counter() {
        let w = World::configured();
        let now = 1_795_420_800;
        let minute = Limit {
            name: "caller",
            max: 2,
            window_secs: 60,
        };
        check(&w.kv, now, &minute, "sn").unwrap();
        check(&w.kv, now, &minute, "sn").unwrap();
        assert_eq!(
            limited(check(&w.kv, now + 59, &minute, "sn")).retry_after_secs,
            1
        );
        check(&w.kv, now + 60, &minute, "sn").unwrap();
        let keys: Vec<String> = w.kv.0.borrow().keys().cloned().collect();
        assert_eq!(keys.len(), 1, "{keys:?}");
        let digest = hex::encode(Sha256::digest(b"sn"));
        assert_eq!(
            keys[0],
            format!("rl/caller/{}/{}", &digest[..32], (now + 60) / 60)
        );
    }

    #[test]
    fn subjects_and_limits_are_independent() {
        let w = World::configured();
        let now = 1_795_420_800;
        let one = Limit {
            name: "tap",
            max: 1,
            window_secs: DAY,
        };
        check(&w.kv, now, &one, "u1").unwrap();
        check(&w.kv, now, &one, "u2").unwrap();
        limited(check(&w.kv, now, &one, "u1"));
        let reset = Limit {
            name: "reset",
            ..one
        };
        check(&w.kv, now, &reset, "u1").unwrap();
        assert!(
            w.kv.0.borrow().keys().all(|k| !k.contains("u1")),
            "subjects are hashed"
        );
    }

    #[test]
    fn zero_disables_a_limit() {
        let w = World::configured();
        let off = Limit { max: 0, ..TAP };
        for _ in 0..100 {
            check(&w.kv, 1_795_420_800, &off, "u1").unwrap();
        }
        assert!(w.kv.0.borrow().is_empty());
    }

    #[test]
    fn contract_helpers_use_the_configured_numbers() {
        let w = World::configured();
        let limits = RateLimits::default();
        assert_eq!(
            per_caller(&limits).describe(),
            "at most 60 requests per caller per minute"
        );
        assert_eq!(
            per_target(&limits, Target::Reset).describe(),
            "at most 3 resets per user per 24 hours"
        );
        assert_eq!(per_target(&limits, Target::Phone).max, 10);

        let now = 1_795_420_800;
        let caller = Caller {
            id: "sn".into(),
            scopes: Default::default(),
            credential: CredentialKind::BearerKey,
        };
        for _ in 0..60 {
            check_caller(&w.kv, now, &limits, &caller).unwrap();
        }
        let r = limited(check_caller(&w.kv, now, &limits, &caller));
        assert_eq!(r.retry_after_secs, 60);

        for _ in 0..3 {
            check_target(&w.kv, now, &limits, Target::Tap, "id-1").unwrap();
        }
        limited(check_target(&w.kv, now, &limits, Target::Tap, "id-1"));
        check_target(&w.kv, now, &limits, Target::Reset, "id-1").unwrap();
    }

    #[test]
    fn a_dead_store_refuses_with_503() {
        struct Down;
        impl KeyValue for Down {
            fn get(&self, _: &str) -> Result<Option<Vec<u8>>, HostError> {
                unreachable!("limits never read")
            }
            fn set(&self, _: &str, _: &[u8]) -> Result<(), HostError> {
                unreachable!("limits never set")
            }
            fn delete(&self, _: &str) -> Result<(), HostError> {
                Err(HostError("down".into()))
            }
            fn compare_and_swap(
                &self,
                _: &str,
                _: Option<&[u8]>,
                _: &[u8],
            ) -> Result<bool, HostError> {
                unreachable!()
            }
            fn increment(&self, _: &str, _: i64) -> Result<i64, HostError> {
                Err(HostError("down".into()))
            }
        }
        let err = check(&Down, 0, &TAP, "u1").unwrap_err();
        assert_eq!(err.to_problem().code, ErrorCode::StorageUnavailable);
    }
}
