//! A point in the past as a report query gives it: an RFC 3339 instant
//! (`2026-11-30T08:00:00Z`) or an ISO 8601 duration back from now (`PT24H`,
//! `P7D`, `P1DT12H`, `P1W`). Durations are read by the `iso8601` crate;
//! what it would read wrongly or ambiguously is refused first: fractions
//! (it drops them), an empty `PT`, signs, and months or years (their
//! length depends on the calendar).

use super::Instant;

/// Seconds in `raw` read as a duration, or why not.
pub fn duration_seconds(raw: &str) -> Result<i64, String> {
    const HOW: &str = "is not an RFC 3339 date-time or an ISO 8601 duration such as PT24H or P7D";
    if raw.len() > 40 || raw.contains(['.', ',', '-', '+']) || !raw.starts_with('P') {
        return Err(HOW.into());
    }
    let d = iso8601::duration(raw).map_err(|_| HOW.to_string())?;
    let secs: u64 = match d {
        iso8601::Duration::Weeks(w) => u64::from(w) * 7 * 86_400,
        iso8601::Duration::YMDHMS {
            year,
            month,
            day,
            hour,
            minute,
            second,
            millisecond,
        } => {
            if year != 0 || month != 0 {
                return Err("uses months or years; give days instead (P30D)".into());
            }
            u64::from(day) * 86_400
                + u64::from(hour) * 3_600
                + u64::from(minute) * 60
                + u64::from(second)
                + u64::from(millisecond) / 1000
        }
    };
    if secs == 0 {
        return Err("is an empty duration".into());
    }
    i64::try_from(secs).map_err(|_| HOW.to_string())
}

/// `raw` as an instant: given, or `now` minus a duration.
pub fn parse_point(raw: &str, now: Instant) -> Result<Instant, String> {
    if raw.starts_with('P') {
        let secs = duration_seconds(raw)?;
        // Anything over a century back is refused later as too far anyway.
        Ok(now.minus_seconds(secs.min(100 * 366 * 86_400)))
    } else {
        Instant::parse(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_people_write() {
        for (raw, secs) in [
            ("PT24H", 86_400),
            ("P7D", 7 * 86_400),
            ("P1DT12H", 129_600),
            ("PT90M", 5_400),
            ("PT30S", 30),
            ("P1W", 604_800),
            ("P30D", 2_592_000),
        ] {
            assert_eq!(duration_seconds(raw), Ok(secs), "{raw}");
        }
        for bad in [
            "", "24h", "P", "PT", "PT1.5H", "PT1,5H", "-P1D", "P1M", "P1Y", "P0D", "7D",
        ] {
            assert!(duration_seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn points_are_instants_or_durations_back() {
        let now = Instant::parse("2026-12-01T12:00:00Z").unwrap();
        assert_eq!(
            parse_point("PT24H", now).unwrap().to_rfc3339(),
            "2026-11-30T12:00:00Z"
        );
        assert_eq!(
            parse_point("2026-11-30T09:00:00+01:00", now)
                .unwrap()
                .to_rfc3339(),
            "2026-11-30T08:00:00Z"
        );
        assert!(parse_point("yesterday", now).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let now = Instant::parse("2026-12-01T12:00:00Z").unwrap();
            let _ = parse_point(&s, now);
        }

        #[test]
        fn day_hour_minute_durations_add_up(d in 0u32..40, h in 0u32..48, m in 0u32..120) {
            let raw = format!("P{d}DT{h}H{m}M");
            let want = i64::from(d) * 86_400 + i64::from(h) * 3_600 + i64::from(m) * 60;
            let got = duration_seconds(&raw);
            if want == 0 {
                proptest::prop_assert!(got.is_err());
            } else {
                proptest::prop_assert_eq!(got, Ok(want));
            }
        }
    }
}
