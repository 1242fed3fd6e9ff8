//! The `GET /v1/failures` query: checked once, then trusted.

use crate::api::query::{Query, QueryError};
use crate::api::Problem;
use crate::types::lookback::parse_point;
use crate::types::{Instant, UserRef};

/// Sign-ins are kept 30 days on P1/P2 (FACTS §7 [s36]); further back is
/// nothing to read.
const MAX_BACK_SECS: i64 = 30 * 86_400;
const MAX_CODES: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

/// The checked query.
#[derive(Debug)]
pub struct FailuresQuery {
    pub since: Instant,
    pub until: Instant,
    pub user: Option<UserRef>,
    pub error_codes: Vec<u32>,
    pub min_failures: u64,
    pub format: Option<Format>,
}

fn bad(field: &'static str, why: impl std::fmt::Display) -> Problem {
    QueryError::invalid(field, why).into()
}

impl FailuresQuery {
    /// Every parameter [`FailuresQuery::parse`] knows, in document order.
    pub const NAMES: [&'static str; 6] = [
        "since",
        "until",
        "user",
        "errorCodes",
        "minFailures",
        "format",
    ];

    /// Parses the URL query by [`Query`]'s rules.
    pub fn parse(raw: &str, now: Instant) -> Result<FailuresQuery, Problem> {
        let query = Query::parse(raw, &Self::NAMES)?;
        let point = |name: &'static str, default: Instant| {
            query
                .date_time(name)
                .map(|v| parse_point(&v, now).map_err(|e| bad(name, e)))
                .unwrap_or(Ok(default))
        };
        let mut q = FailuresQuery {
            since: point("since", now.minus_seconds(86_400))?,
            until: point("until", now)?,
            user: query.user("user")?,
            error_codes: query
                .parsed("errorCodes", |v| {
                    let codes: Result<Vec<u32>, _> =
                        v.split(',').map(|c| c.trim().parse::<u32>()).collect();
                    codes
                        .ok()
                        .filter(|c| !c.is_empty() && c.len() <= MAX_CODES && !c.contains(&0))
                        .ok_or("must be a comma list of up to 20 sign-in error codes such as 500121,50074")
                })?
                .unwrap_or_else(|| vec![500121]),
            min_failures: query
                .integer("minFailures", 1..=1_000_000, "must be an integer from 1")?
                .unwrap_or(1),
            format: query
                .parsed("format", |v| match v {
                    "json" => Ok(Format::Json),
                    "csv" => Ok(Format::Csv),
                    _ => Err("must be json or csv"),
                })?,
        };
        q.error_codes.sort_unstable();
        q.error_codes.dedup();
        if q.until > now {
            q.until = now;
        }
        if q.since < now.minus_seconds(MAX_BACK_SECS + 60) {
            return Err(bad(
                "since",
                "is more than 30 days back; sign-in logs are kept 30 days",
            ));
        }
        if q.since > q.until {
            return Err(bad("since", "is after `until`"));
        }
        Ok(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ErrorCode;

    fn now() -> Instant {
        Instant::parse("2026-12-01T12:00:00Z").unwrap()
    }

    #[test]
    fn the_query_has_defaults_and_names_each_bad_field() {
        let q = FailuresQuery::parse("", now()).unwrap();
        assert_eq!(q.since.to_rfc3339(), "2026-11-30T12:00:00Z");
        assert_eq!(q.error_codes, [500121]);
        let q = FailuresQuery::parse(
            "since=P7D&errorCodes=50074,500121,50074&minFailures=3&format=csv&user=bob@contoso.com",
            now(),
        )
        .unwrap();
        assert_eq!(q.since.to_rfc3339(), "2026-11-24T12:00:00Z");
        assert_eq!(q.error_codes, [50074, 500121]);
        assert_eq!((q.min_failures, q.format), (3, Some(Format::Csv)));
        let q = FailuresQuery::parse("since=2026-11-30T09:00:00+01:00", now()).unwrap();
        assert_eq!(q.since.to_rfc3339(), "2026-11-30T08:00:00Z");
        for (raw, field) in [
            ("since=P31D", "since"),
            ("since=yesterday", "since"),
            ("since=PT1H&until=P1D", "since"),
            ("until=noon", "until"),
            ("errorCodes=abc", "errorCodes"),
            ("errorCodes=", "-"),
            ("minFailures=0", "minFailures"),
            ("format=xml", "format"),
            ("user=not%20a%20user", "user"),
            ("since=P1D&since=P2D", "since"),
            ("top=5", "top"),
        ] {
            match FailuresQuery::parse(raw, now()) {
                Err(p) => assert_eq!(p.extensions["field"], field, "{raw}"),
                Ok(_) => assert_eq!(field, "-", "{raw} was accepted"),
            }
        }
        assert_eq!(
            FailuresQuery::parse("top=5", now()).unwrap_err().code,
            ErrorCode::UnknownField
        );
    }

    #[test]
    fn every_documented_parameter_is_accepted() {
        let samples = [
            "P1D",
            "2026-12-01T00:00:00Z",
            "bob@contoso.com",
            "500121",
            "2",
            "json",
        ];
        for (name, value) in FailuresQuery::NAMES.iter().zip(samples) {
            FailuresQuery::parse(&format!("{name}={value}"), now())
                .unwrap_or_else(|p| panic!("{name}: {}", p.detail));
        }
    }
}
