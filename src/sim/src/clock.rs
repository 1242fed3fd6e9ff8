//! Simulator clock and the timestamp formats Graph and AAD use (FACTS §1, §7, §10).

use std::time::Duration;

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

/// Wall clock shifted by `POST /_sim/clock`, so tests can expire tokens and
/// passes without sleeping.
#[derive(Debug, Default, Clone)]
pub struct Clock {
    offset_secs: i64,
}

impl Clock {
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + time::Duration::seconds(self.offset_secs)
    }

    pub fn advance(&mut self, secs: i64) {
        self.offset_secs += secs;
    }

    pub fn offset_secs(&self) -> i64 {
        self.offset_secs
    }
}

/// Graph timestamps carry 7 fraction digits, e.g. `2020-03-13T19:15:41.6195833Z` (FACTS §7).
pub fn graph(t: OffsetDateTime) -> String {
    let f =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:7]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_default()
}

/// `innerError.date` has no zone suffix (FACTS §10 "two traps").
pub fn inner_date(t: OffsetDateTime) -> String {
    let f = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_default()
}

/// AAD error timestamps look like `2026-11-23 09:14:02Z` (examples/token-error-invalid-secret.json).
pub fn aad(t: OffsetDateTime) -> String {
    let f = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_default()
}

/// Plain RFC 3339, used for the request log.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

pub fn parse(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Resolves fixture shorthands `now`, `now-15m`, `now+2h`, `now-3d`, `now-30s`
/// against the seed time, so a fixture stays valid whenever it is loaded.
pub fn relative(s: &str, now: OffsetDateTime) -> Option<OffsetDateTime> {
    let rest = s.strip_prefix("now")?;
    if rest.is_empty() {
        return Some(now);
    }
    let (sign, rest) = match rest.as_bytes().first()? {
        b'+' => (1i64, &rest[1..]),
        b'-' => (-1i64, &rest[1..]),
        _ => return None,
    };
    let unit = rest.chars().last()?;
    let n: i64 = rest[..rest.len() - 1].parse().ok()?;
    let secs = match unit {
        's' => n,
        'm' => n * 60,
        'h' => n * 3600,
        'd' => n * 86400,
        _ => return None,
    };
    Some(now + time::Duration::seconds(sign * secs))
}

/// Walks a fixture document and replaces every relative-time string.
pub fn resolve_relative(v: &mut serde_json::Value, now: OffsetDateTime) {
    match v {
        serde_json::Value::String(s) => {
            if let Some(t) = relative(s, now) {
                *s = graph(t);
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| resolve_relative(x, now)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|x| resolve_relative(x, now)),
        _ => {}
    }
}

pub fn std_secs(d: time::Duration) -> Duration {
    Duration::from_secs(d.whole_seconds().max(0) as u64)
}
