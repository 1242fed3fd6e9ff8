//! Rate limits (API.md "Callers"): sliding windows over counters in the
//! key-value store, per caller per minute, per caller's mutations per 24
//! hours and per target user per 24 hours.
//!
//! Each limit keeps one counter per fixed window (a minute, a day) and
//! judges a request by the sliding-window estimate: the current window's
//! count plus the previous window's, weighted by how much of the previous
//! window the last `window_secs` still cover. The previous window's
//! requests are taken as spread evenly across it, so there is no reset at
//! midnight or at the top of a minute; a burst early in a window holds its
//! slots a little longer than the window, one late in it frees them a
//! little sooner. `Retry-After` is computed from the same estimate: the
//! seconds until it would let one more request through.
//!
//! A request is one atomic `increment` of the current counter (only the
//! value it returns is read) and one `get` of the previous one: fifty
//! concurrent requests see fifty distinct counts, so at most `max` of them
//! pass. A refused request gives its count back (`increment` by -1), so
//! refusals do not prolong a refusal.
//!
//! The store has no expiry, so the first request of a window deletes the
//! counter before the previous one (best effort). A subject that never
//! returns leaves its last two counters behind: small keys per subject, not
//! per request.

use http::header::RETRY_AFTER;
use sha2::{Digest, Sha256};

use super::Caller;
use crate::api::endpoints::MutatingOperation;
use crate::api::{ErrorCode, Problem};
use crate::config::RateLimits;
use crate::ports::{HostError, KeyValue};

const MINUTE: u64 = 60;
const DAY: u64 = 24 * 60 * 60;

/// One limit: at most `max` requests per sliding `window_secs` per subject.
/// `max == 0` allows none. A limit configured `null` is no `Limit` at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Part of the store key and of the message: `caller`, `mutations`,
    /// `tap`, `reset`, `phone`.
    pub name: &'static str,
    pub max: u32,
    pub window_secs: u64,
}

impl Limit {
    /// "at most 3 passes per user per 24 hours".
    pub fn describe(&self) -> String {
        let what = match self.name {
            "caller" => "requests per caller",
            "mutations" => "changes (tap, reset, phone) per caller",
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
        if self.max == 0 {
            return format!("this deployment allows no {what} (limit 0 per {window})");
        }
        format!("at most {} {what} per {window}", self.max)
    }
}

/// Over the limit: `429 rate_limited` with `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}; retry in {retry_after_secs} s", limit.describe())]
pub struct RateLimited {
    /// Seconds until a slot frees (by the sliding estimate); at least 1.
    /// For a limit of 0, which never frees, the window's length.
    pub retry_after_secs: u64,
    pub limit: Limit,
}

impl From<&RateLimited> for Problem {
    fn from(e: &RateLimited) -> Problem {
        Problem::new(ErrorCode::RateLimited, e.to_string())
            .with("limit", e.limit.max)
            .with("windowSeconds", e.limit.window_secs)
            .header(RETRY_AFTER, e.retry_after_secs.to_string())
    }
}

impl From<RateLimited> for Problem {
    fn from(e: RateLimited) -> Problem {
        Problem::from(&e)
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

impl From<&LimitError> for Problem {
    fn from(e: &LimitError) -> Problem {
        match e {
            LimitError::Limited(r) => Problem::from(r),
            LimitError::Storage(_) => Problem::new(ErrorCode::StorageUnavailable, e.to_string()),
        }
    }
}

impl From<LimitError> for Problem {
    fn from(e: LimitError) -> Problem {
        Problem::from(&e)
    }
}

/// The subject is hashed so a UPN never appears in a store key; 128 bits
/// are plenty to keep subjects apart.
fn key(limit: &Limit, subject: &str, window: u64) -> String {
    let digest = hex::encode(Sha256::digest(subject.as_bytes()));
    format!("rl/{}/{}/{window}", limit.name, &digest[..32])
}

/// A counter's value, read as an increment by 0: how a store keeps a
/// counter's bytes is its own business (Spin's SQLite store does not keep
/// decimal text), so `get` cannot be trusted to parse it.
fn count_of(kv: &dyn KeyValue, key: &str) -> Result<u64, HostError> {
    Ok(kv.increment(key, 0)?.max(0) as u64)
}

/// Whether one more request fits: `prev` weighted by `overlap` seconds of
/// the previous window, plus `current` (this request included), against
/// `max`, all in integer request-seconds.
fn fits(max: u64, w: u64, overlap: u64, prev: u64, current: u64) -> bool {
    prev * overlap + current * w <= max * w
}

/// Seconds from `elapsed` (into the current window) until one more request
/// fits, given `prev` and `others` (the current window's count without this
/// request) and no other request meanwhile.
fn retry_after(max: u64, w: u64, elapsed: u64, prev: u64, others: u64) -> u64 {
    let wait = if others < max && prev > 0 {
        // Room in this window once enough of the previous one slides out:
        // the overlap may be at most t seconds.
        let t = (max - others - 1) * w / prev;
        (w - elapsed).saturating_sub(t)
    } else {
        // This window is full: into the next, where it is the previous one.
        // others >= max >= 1 here.
        let t = (max - 1) * w / others.max(1);
        (w - elapsed) + w.saturating_sub(t)
    };
    wait.max(1)
}

/// Counts one request by `subject` against `limit` at `now` (unix seconds).
pub fn check(kv: &dyn KeyValue, now: u64, limit: &Limit, subject: &str) -> Result<(), LimitError> {
    let w = limit.window_secs.max(1);
    if limit.max == 0 {
        return Err(RateLimited {
            retry_after_secs: w,
            limit: *limit,
        }
        .into());
    }
    let max = u64::from(limit.max);
    let window = now / w;
    let elapsed = now % w;
    let current_key = key(limit, subject, window);
    let current = kv
        .increment(&current_key, 1)
        .map_err(LimitError::Storage)?
        .max(1) as u64;
    if current == 1 && window > 1 {
        // First request of this window: the one before the previous is dead.
        let _ = kv.delete(&key(limit, subject, window - 2));
    }
    let prev = if window > 0 {
        count_of(kv, &key(limit, subject, window - 1)).map_err(LimitError::Storage)?
    } else {
        0
    };
    let overlap = w - elapsed;
    if fits(max, w, overlap, prev, current) {
        return Ok(());
    }
    // Refused: not counted, so a caller that keeps asking is not held longer.
    let _ = kv.increment(&current_key, -1);
    Err(RateLimited {
        retry_after_secs: retry_after(max, w, elapsed, prev, current - 1),
        limit: *limit,
    }
    .into())
}

fn limit(name: &'static str, max: Option<u32>, window_secs: u64) -> Option<Limit> {
    max.map(|max| Limit {
        name,
        max,
        window_secs,
    })
}

/// `callerPerMinute` (default 60).
pub fn per_caller(limits: &RateLimits) -> Option<Limit> {
    limit("caller", limits.caller_per_minute, MINUTE)
}

/// `callerMutationsPerDay` (default 200): tap, reset and phone together.
pub fn per_caller_mutations(limits: &RateLimits) -> Option<Limit> {
    limit("mutations", limits.caller_mutations_per_day, DAY)
}

/// Counts a request against the caller's per-minute limit.
pub fn check_caller(
    kv: &dyn KeyValue,
    now: u64,
    limits: &RateLimits,
    caller: &Caller,
) -> Result<(), LimitError> {
    match per_caller(limits) {
        Some(l) => check(kv, now, &l, &caller.id),
        None => Ok(()),
    }
}

/// Counts a mutation against the caller's per-day cap on mutations.
pub fn check_caller_mutations(
    kv: &dyn KeyValue,
    now: u64,
    limits: &RateLimits,
    caller: &Caller,
) -> Result<(), LimitError> {
    match per_caller_mutations(limits) {
        Some(l) => check(kv, now, &l, &caller.id),
        None => Ok(()),
    }
}

/// `tapPerUserPerDay` (3), `resetPerUserPerDay` (3), `phonePerUserPerDay`
/// (10), each per 24 hours.
pub fn per_target(limits: &RateLimits, op: MutatingOperation) -> Option<Limit> {
    let max = match op {
        MutatingOperation::Tap => limits.tap_per_user_per_day,
        MutatingOperation::Reset => limits.reset_per_user_per_day,
        MutatingOperation::Phone => limits.phone_per_user_per_day,
    };
    limit(op.as_str(), max, DAY)
}

/// Counts a mutation of `user_id` against its per-user limit, whichever
/// caller asks. Pass the resolved object id, so a UPN and an id of the same
/// user share one counter.
pub fn check_target(
    kv: &dyn KeyValue,
    now: u64,
    limits: &RateLimits,
    op: MutatingOperation,
    user_id: &str,
) -> Result<(), LimitError> {
    match per_target(limits, op) {
        Some(l) => check(kv, now, &l, user_id),
        None => Ok(()),
    }
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
    /// 2026-11-23T08:00:00Z: 8 hours into the UTC day window.
    const NOW: u64 = 1_795_420_800;

    fn limited(r: Result<(), LimitError>) -> RateLimited {
        match r {
            Err(LimitError::Limited(l)) => l,
            other => panic!("expected a 429, got {other:?}"),
        }
    }

    fn caller(id: &str) -> Caller {
        Caller {
            id: id.into(),
            scopes: Default::default(),
            credential: CredentialKind::BearerKey,
            operator: None,
        }
    }

    #[test]
    fn max_allowed_then_429_until_a_slot_slides_free() {
        let w = World::configured();
        for _ in 0..3 {
            check(&w.kv, NOW, &TAP, "u1").unwrap();
        }
        let r = limited(check(&w.kv, NOW + 5, &TAP, "u1"));
        // The three sit in this window; once it is the previous one, a
        // fourth fits when a third of it (8 h) has slid out: 16 h to
        // midnight, then 8 h.
        assert_eq!(r.retry_after_secs, 16 * 3600 - 5 + 8 * 3600);
        assert_eq!(r.limit, TAP);
        let p = Problem::from(&r);
        assert_eq!(p.code, ErrorCode::RateLimited);
        assert_eq!(p.code.status(), 429);
        assert!(
            p.detail
                .starts_with("at most 3 passes per user per 24 hours"),
            "{}",
            p.detail
        );
        assert_eq!(p.headers, [(RETRY_AFTER, (24 * 3600 - 5).to_string())]);
    }

    #[test]
    fn midnight_does_not_reset_a_window() {
        // The exploit of fixed windows: three just before midnight, three
        // more just after. The window slides, so the second three wait.
        let w = World::configured();
        let midnight = (NOW / DAY + 1) * DAY;
        for _ in 0..3 {
            check(&w.kv, midnight - 10, &TAP, "u1").unwrap();
        }
        let r = limited(check(&w.kv, midnight + 10, &TAP, "u1"));
        // 3 * overlap / day + 1 <= 3 once overlap <= 16 h: 8 h after midnight.
        assert_eq!(r.retry_after_secs, 8 * 3600 - 10);
        // Refusals are not counted: asking again does not push it back.
        for _ in 0..5 {
            limited(check(&w.kv, midnight + 20, &TAP, "u1"));
        }
        assert_eq!(
            limited(check(&w.kv, midnight + 8 * 3600 - 1, &TAP, "u1")).retry_after_secs,
            1
        );
        check(&w.kv, midnight + 8 * 3600, &TAP, "u1").unwrap();
        limited(check(&w.kv, midnight + 8 * 3600, &TAP, "u1"));
    }

    #[test]
    fn a_minute_slides_too_and_old_counters_are_dropped() {
        let w = World::configured();
        let minute = Limit {
            name: "caller",
            max: 2,
            window_secs: 60,
        };
        check(&w.kv, NOW + 50, &minute, "sn").unwrap();
        check(&w.kv, NOW + 50, &minute, "sn").unwrap();
        // The top of the minute frees nothing: both are 15 s old.
        let r = limited(check(&w.kv, NOW + 65, &minute, "sn"));
        // 2 * overlap / 60 + 1 <= 2 once overlap <= 30 s: at NOW + 90.
        assert_eq!(r.retry_after_secs, 25);
        check(&w.kv, NOW + 90, &minute, "sn").unwrap();
        // Two windows on, the oldest counter goes.
        check(&w.kv, NOW + 125, &minute, "sn").unwrap();
        let digest = hex::encode(Sha256::digest(b"sn"));
        let mut keys: Vec<String> = w.kv.0.borrow().keys().cloned().collect();
        keys.sort();
        let at = |m: u64| format!("rl/caller/{}/{}", &digest[..32], m);
        assert_eq!(keys, [at(NOW / 60 + 1), at(NOW / 60 + 2)]);
    }

    #[test]
    fn subjects_and_limits_are_independent() {
        let w = World::configured();
        let one = Limit {
            name: "tap",
            max: 1,
            window_secs: DAY,
        };
        check(&w.kv, NOW, &one, "u1").unwrap();
        check(&w.kv, NOW, &one, "u2").unwrap();
        limited(check(&w.kv, NOW, &one, "u1"));
        let reset = Limit {
            name: "reset",
            ..one
        };
        check(&w.kv, NOW, &reset, "u1").unwrap();
        assert!(
            w.kv.0.borrow().keys().all(|k| !k.contains("u1")),
            "subjects are hashed"
        );
    }

    #[test]
    fn zero_allows_none_and_null_removes_the_limit() {
        let w = World::configured();
        let none = Limit { max: 0, ..TAP };
        let r = limited(check(&w.kv, NOW, &none, "u1"));
        assert_eq!(r.retry_after_secs, DAY);
        assert!(r.to_string().contains("allows no passes per user"), "{r}");
        assert!(w.kv.0.borrow().is_empty(), "nothing counted");

        let limits = RateLimits {
            tap_per_user_per_day: Some(0),
            caller_per_minute: None,
            caller_mutations_per_day: None,
            ..RateLimits::default()
        };
        limited(check_target(
            &w.kv,
            NOW,
            &limits,
            MutatingOperation::Tap,
            "id-1",
        ));
        for _ in 0..1000 {
            check_caller(&w.kv, NOW, &limits, &caller("sn")).unwrap();
            check_caller_mutations(&w.kv, NOW, &limits, &caller("sn")).unwrap();
        }
        assert!(w.kv.0.borrow().is_empty());
    }

    #[test]
    fn contract_helpers_use_the_configured_numbers() {
        let w = World::configured();
        let limits = RateLimits::default();
        assert_eq!(
            per_caller(&limits).unwrap().describe(),
            "at most 60 requests per caller per minute"
        );
        assert_eq!(
            per_caller_mutations(&limits).unwrap().describe(),
            "at most 200 changes (tap, reset, phone) per caller per 24 hours"
        );
        assert_eq!(
            per_target(&limits, MutatingOperation::Reset)
                .unwrap()
                .describe(),
            "at most 3 resets per user per 24 hours"
        );
        assert_eq!(
            per_target(&limits, MutatingOperation::Phone).unwrap().max,
            10
        );

        // NOW is 0 s into its minute: the window is all current.
        for _ in 0..60 {
            check_caller(&w.kv, NOW, &limits, &caller("sn")).unwrap();
        }
        let r = limited(check_caller(&w.kv, NOW, &limits, &caller("sn")));
        assert_eq!(r.retry_after_secs, 60 + 1);

        for _ in 0..200 {
            check_caller_mutations(&w.kv, NOW, &limits, &caller("sn")).unwrap();
        }
        let r = limited(check_caller_mutations(&w.kv, NOW, &limits, &caller("sn")));
        assert_eq!(r.limit.name, "mutations");
        check_caller_mutations(&w.kv, NOW, &limits, &caller("other")).unwrap();

        for _ in 0..3 {
            check_target(&w.kv, NOW, &limits, MutatingOperation::Tap, "id-1").unwrap();
        }
        limited(check_target(
            &w.kv,
            NOW,
            &limits,
            MutatingOperation::Tap,
            "id-1",
        ));
        check_target(&w.kv, NOW, &limits, MutatingOperation::Reset, "id-1").unwrap();
    }

    #[test]
    fn retry_after_is_when_the_estimate_first_admits() {
        // Brute force against the estimate itself, second by second.
        for (max, w) in [(1u64, 60u64), (2, 60), (3, 600), (5, 60)] {
            for prev in 0..=max + 1 {
                for others in 0..=max {
                    for elapsed in (0..w).step_by(7) {
                        if fits(max, w, w - elapsed, prev, others + 1) {
                            continue;
                        }
                        let d = retry_after(max, w, elapsed, prev, others);
                        let admits = |d: u64| {
                            let t = elapsed + d;
                            if t < w {
                                fits(max, w, w - t, prev, others + 1)
                            } else if t < 2 * w {
                                fits(max, w, 2 * w - t, others, 1)
                            } else {
                                true
                            }
                        };
                        assert!(admits(d), "{max} {w} {elapsed} {prev} {others}: {d}");
                        assert!(
                            d == 1 || !admits(d - 1),
                            "{max} {w} {elapsed} {prev} {others}: {d} not the first"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_dead_store_refuses_with_503() {
        use crate::testing::DownKv as Down;
        let err = check(&Down, 0, &TAP, "u1").unwrap_err();
        assert_eq!(Problem::from(&err).code, ErrorCode::StorageUnavailable);
    }
}
