//! `GET /v1/failures` (API.md): who is failing MFA. The query is checked,
//! Graph filters the sign-in log server-side, every page is folded into a
//! per-user aggregate as it arrives, and the answer is JSON or CSV.
//!
//! Graph traffic: the first page and each `@odata.nextLink`, throttling
//! retried within the request's budget; when the budget runs out after at
//! least one page, the answer is what was read, `truncated: true`.

use crate::graph::licences::{self, Licence, Licences};
use crate::graph::permissions;
use http::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use http::StatusCode;
use serde_json::{json, Value};

use super::access;
use crate::api::response::{self, Response};
use crate::api::{ErrorCode, Problem, RequestId};
use crate::graph::client::DEFAULT_BUDGET;
use crate::graph::signins::{self, Aggregate, UserFailures};
use crate::graph::{GraphClient, GraphError};
use crate::ports::Host;
use crate::service::Request;
use crate::types::lookback::parse_point;
use crate::types::{Instant, Scope, UserRef};

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

fn bad(field: &str, why: impl std::fmt::Display) -> Problem {
    Problem::field(ErrorCode::InvalidRequest, field, format!("`{field}` {why}"))
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

    /// Parses the URL query; an empty value counts as absent, an unknown or
    /// repeated parameter is refused.
    pub fn parse(raw: &str, now: Instant) -> Result<FailuresQuery, Problem> {
        let mut seen: Vec<String> = Vec::new();
        let mut q = FailuresQuery {
            since: now.minus_seconds(86_400),
            until: now,
            user: None,
            error_codes: vec![500121],
            min_failures: 1,
            format: None,
        };
        for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
            if seen.contains(&name.to_string()) {
                return Err(bad(&name, "is given more than once"));
            }
            seen.push(name.to_string());
            if value.is_empty() {
                continue;
            }
            // A `+` of an offset arrives as a space when sent unencoded.
            let value = value.replace(' ', "+");
            match &*name {
                "since" => q.since = parse_point(&value, now).map_err(|e| bad("since", e))?,
                "until" => q.until = parse_point(&value, now).map_err(|e| bad("until", e))?,
                "user" => {
                    q.user = Some(UserRef::parse(&value).map_err(|e| {
                        Problem::field(ErrorCode::InvalidUser, "user", format!("`user` {e}"))
                    })?)
                }
                "errorCodes" => {
                    let codes: Result<Vec<u32>, _> =
                        value.split(',').map(|c| c.trim().parse::<u32>()).collect();
                    let codes = codes
                        .ok()
                        .filter(|c| !c.is_empty() && c.len() <= MAX_CODES && !c.contains(&0))
                        .ok_or_else(|| {
                            bad("errorCodes", "must be a comma list of up to 20 sign-in error codes such as 500121,50074")
                        })?;
                    q.error_codes = codes;
                }
                "minFailures" => {
                    q.min_failures = value
                        .parse::<u64>()
                        .ok()
                        .filter(|n| (1..=1_000_000).contains(n))
                        .ok_or_else(|| bad("minFailures", "must be an integer from 1"))?;
                }
                "format" => {
                    q.format = Some(match value.as_str() {
                        "json" => Format::Json,
                        "csv" => Format::Csv,
                        _ => return Err(bad("format", "must be json or csv")),
                    })
                }
                other => {
                    return Err(Problem::field(
                        ErrorCode::UnknownField,
                        other,
                        format!("unknown query parameter `{other}`; expected since, until, user, errorCodes, minFailures or format"),
                    ))
                }
            }
        }
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

fn wants_csv(req: &Request, q: &FailuresQuery) -> bool {
    match q.format {
        Some(f) => f == Format::Csv,
        None => req
            .headers()
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.to_ascii_lowercase().contains("text/csv")),
    }
}

/// Reads every page into the aggregate; `truncated` when the time budget
/// ran out after the first page (spent between pages, or throttled past it).
async fn read(
    graph: &GraphClient<'_>,
    host: &Host<'_>,
    q: &FailuresQuery,
) -> Result<(Aggregate, bool, u32), GraphError> {
    let mut agg = Aggregate::default();
    let first = graph
        .get(&signins::first_page_path(
            q.since,
            q.until,
            &q.error_codes,
            q.user.as_ref(),
        ))
        .await?;
    Licences::observe(
        graph.sealed(),
        crate::types::unix_secs(host.clock.now()),
        Licence::P1,
        &first,
    );
    let first = first.into_read(&permissions::AUDIT_LOG_READ)?;
    let (pages, truncated) = signins::fold_pages(graph, &first.body, &mut agg).await?;
    Ok((agg, truncated, pages))
}

fn licence_problem(e: GraphError) -> Problem {
    match &e {
        GraphError::Status { status: 403, code: Some(c), .. } if c == licences::P1_REQUIRED =>
        {
            Problem::new(
                ErrorCode::PremiumLicenseRequired,
                "Graph serves sign-in logs only to tenants with Microsoft Entra ID P1 or P2; this tenant has neither",
            )
            .with("graphErrorCode", c.as_str())
        }
        _ => e.to_problem(),
    }
}

pub async fn serve(
    req: &Request,
    host: &Host<'_>,
    request_id: &RequestId,
) -> Result<Response, Problem> {
    let (config, _caller) = access::admit_read(host, req, Scope::FailuresRead)?;
    let now = Instant::from_system(host.clock.now());
    let q = FailuresQuery::parse(req.uri().query().unwrap_or(""), now)?;
    let graph = GraphClient::new(host, &config, request_id, DEFAULT_BUDGET);
    let (agg, truncated, pages) = read(&graph, host, &q).await.map_err(licence_problem)?;
    let scanned = agg.scanned;
    let users = agg.into_sorted(q.min_failures);

    if wants_csv(req, &q) {
        let mut res = Response::new(csv(&users));
        res.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8; header=present"),
        );
        if truncated {
            res.headers_mut()
                .insert("x-truncated", HeaderValue::from_static("true"));
        }
        return Ok(res);
    }
    // Why, not just a number: every code asked for or seen.
    let mut codes: std::collections::BTreeSet<u32> = q.error_codes.iter().copied().collect();
    codes.extend(
        users
            .iter()
            .flat_map(|u| u.error_codes.keys().filter_map(|k| k.parse::<u32>().ok())),
    );
    let meanings: serde_json::Map<String, Value> = codes
        .into_iter()
        .filter_map(|c| signins::meaning(c).map(|m| (c.to_string(), Value::from(m))))
        .collect();
    Ok(response::json(
        StatusCode::OK,
        &json!({
            "since": q.since.to_rfc3339(),
            "until": q.until.to_rfc3339(),
            "errorCodes": q.error_codes,
            "errorCodeMeanings": meanings,
            "minFailures": q.min_failures,
            "scannedEvents": scanned,
            "pagesRead": pages,
            "truncated": truncated,
            "users": users,
        }),
    ))
}

/// A cell a spreadsheet would run as a formula is prefixed with `'` (OWASP
/// CSV injection); the `csv` crate does RFC 4180 quoting.
fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

/// One row per user, a header line, CRLF line ends (RFC 4180).
pub fn csv(users: &[UserFailures]) -> Vec<u8> {
    let mut w = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let join = |s: &std::collections::BTreeSet<String>| {
        s.iter().map(String::as_str).collect::<Vec<_>>().join("; ")
    };
    let _ = w.write_record([
        "userPrincipalName",
        "displayName",
        "id",
        "failures",
        "firstFailureDateTime",
        "lastFailureDateTime",
        "errorCodes",
        "failureReasons",
        "apps",
        "ipAddresses",
    ]);
    for u in users {
        let codes = u
            .error_codes
            .iter()
            .map(|(c, n)| format!("{c}:{n}"))
            .collect::<Vec<_>>()
            .join(" ");
        let row = [
            u.user.user_principal_name.clone(),
            u.user.display_name.clone().unwrap_or_default(),
            u.user.id.clone(),
            u.failures.to_string(),
            u.first_failure_date_time.clone(),
            u.last_failure_date_time.clone(),
            codes,
            join(&u.failure_reasons),
            join(&u.apps),
            join(&u.ip_addresses),
        ];
        let _ = w.write_record(row.iter().map(|c| cell(c)));
    }
    w.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::signins::Aggregate;

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

    #[test]
    fn csv_quotes_and_neutralises_formulas() {
        let mut a = Aggregate::default();
        a.add_page(&[
            serde_json::json!({ "userId": "u1", "userPrincipalName": "=HYPERLINK(\"x\")@c.com",
                "userDisplayName": "Zoë, \"the\" admin", "createdDateTime": "2026-11-30T10:00:00Z",
                "appDisplayName": "+cmd|' /C calc'!A0", "ipAddress": "-1",
                "status": { "errorCode": 500121, "failureReason": "@SUM(1)\r\nx" } }),
        ]);
        let out = String::from_utf8(csv(&a.into_sorted(1))).unwrap();
        let mut lines = out.split("\r\n");
        assert_eq!(lines.next().unwrap(), "userPrincipalName,displayName,id,failures,firstFailureDateTime,lastFailureDateTime,errorCodes,failureReasons,apps,ipAddresses");
        let row = lines.next().unwrap();
        assert!(
            row.starts_with("\"'=HYPERLINK(\"\"x\"\")@c.com\",\"Zoë, \"\"the\"\" admin\",u1,1,"),
            "{row}"
        );
        assert!(out.contains("\"'@SUM(1)\r\nx\""), "{out}");
        assert!(out.contains(",'+cmd|' /C calc'!A0,'-1\r\n"), "{out}");
    }
}
