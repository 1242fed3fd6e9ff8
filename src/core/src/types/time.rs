//! RFC 3339 instants as the contract and Graph spell them.
//!
//! Written by hand (the `time` crate only parses here): the two fixed
//! forms below are a few digits each, and `time`'s formatting machinery
//! was 20 KB of every component. A test compares both with `time`'s own.

use std::fmt::Write as _;
use std::time::SystemTime;

use time::OffsetDateTime;

/// `2026-11-23T08:00:00Z` (UTC, whole seconds).
pub fn rfc3339(t: SystemTime) -> String {
    utc_seconds(OffsetDateTime::from(t))
}

/// `t` (in UTC) to the second: `2026-11-23T08:00:00Z`, as `time`'s
/// `Rfc3339` writes it once the nanoseconds are zeroed; empty outside the
/// years RFC 3339 can write (0000..=9999), where that fails.
pub(crate) fn utc_seconds(t: OffsetDateTime) -> String {
    if !(0..=9999).contains(&t.year()) {
        return String::new();
    }
    let mut s = String::with_capacity(20);
    date_time(&mut s, t);
    s.push('Z');
    s
}

/// `t` (in UTC) to the millisecond, truncated: `2026-11-23T08:00:00.123Z`,
/// as `[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z`.
pub(crate) fn utc_millis(t: OffsetDateTime) -> String {
    let mut s = String::with_capacity(24);
    date_time(&mut s, t);
    let _ = write!(s, ".{:03}Z", t.nanosecond() / 1_000_000);
    s
}

/// `YYYY-MM-DDTHH:MM:SS`; a year before 0 gets a `-`, as `[year]` writes it.
fn date_time(s: &mut String, t: OffsetDateTime) {
    let year = t.year();
    if year < 0 {
        s.push('-');
    }
    let _ = write!(
        s,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        year.unsigned_abs(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
}

/// Unix seconds (0 before the epoch): the key-value store's clock.
pub fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;

    fn at(secs: i64, nanos: u32) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(secs)
            .unwrap()
            .replace_nanosecond(nanos)
            .unwrap()
    }

    proptest! {
        /// Byte for byte what `time` writes, over its whole range.
        #[test]
        fn both_forms_are_what_time_writes(
            secs in OffsetDateTime::new_utc(time::Date::MIN, time::Time::MIDNIGHT).unix_timestamp()
                ..=OffsetDateTime::new_utc(time::Date::MAX, time::Time::MIDNIGHT).unix_timestamp(),
            nanos in 0u32..1_000_000_000,
        ) {
            let t = at(secs, nanos);
            let whole = t.replace_nanosecond(0).unwrap();
            prop_assert_eq!(utc_seconds(whole), whole.format(&Rfc3339).unwrap_or_default());
            let millis = format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            );
            prop_assert_eq!(utc_millis(t), t.format(millis).unwrap());
        }
    }

    #[test]
    fn the_edges() {
        assert_eq!(utc_seconds(at(0, 0)), "1970-01-01T00:00:00Z");
        assert_eq!(utc_millis(at(0, 999_999_999)), "1970-01-01T00:00:00.999Z");
        assert_eq!(
            utc_millis(at(-62_198_755_200, 0)),
            "-0001-01-01T00:00:00.000Z"
        );
        assert_eq!(utc_seconds(at(-62_198_755_200, 0)), "");
        assert_eq!(utc_seconds(at(253_402_300_799, 0)), "9999-12-31T23:59:59Z");
    }
}
