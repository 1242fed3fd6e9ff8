//! Types that carry meaning: parsed once at the boundary, trusted afterwards.

mod instant;
pub mod lookback;
#[cfg(feature = "phone")]
mod numbering_plan;
pub mod object;
#[cfg(feature = "phone")]
mod phone;
mod phone_type;
mod scope;
mod secret;
mod text;
mod time;
mod user_failures;
mod user_ref;
mod verification;

pub use instant::Instant;
pub use object::Object;
#[cfg(feature = "phone")]
pub use phone::{PhoneError, PhoneNumber};
pub use phone_type::PhoneType;
pub use scope::{Scope, UnknownScope};
pub use secret::Secret;
pub use text::{IdempotencyKey, Reason, Ticket};
pub(crate) use time::utc_millis;
pub use time::{rfc3339, unix_secs};
pub use user_failures::{FailingUser, UserFailures};
pub use user_ref::{encode_segment, is_guid, UserRef, UserRefError};
pub use verification::{Verification, VerificationMethod};

/// `v.sort_by_key(key)`: the same stable order (equal keys keep their
/// order), by insertion, for the short lists it sorts (a user's methods, a
/// diagnosis's findings); std's stable sort is 4 KB of wasm per element type.
pub(crate) fn sort_by_key_stable<T, K: Ord>(v: &mut [T], key: impl Fn(&T) -> K) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && key(&v[j - 1]) > key(&v[j]) {
            v.swap(j - 1, j);
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sort_by_key_stable_is_std_stable_sort() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for len in 0..40 {
            for _ in 0..50 {
                let v: Vec<(u8, usize)> = (0..len)
                    .map(|i| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        ((x % 4) as u8, i)
                    })
                    .collect();
                let (mut a, mut b) = (v.clone(), v);
                a.sort_by_key(|e| e.0);
                super::sort_by_key_stable(&mut b, |e| e.0);
                assert_eq!(a, b);
            }
        }
    }
}
