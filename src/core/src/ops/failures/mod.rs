//! `GET /v1/failures` (API.md): who is failing MFA, and
//! `POST /v1/failures/refresh`, which keeps the answer's store current.
//!
//! The default question (500121) is answered from the failures store
//! (`store::failures`): each call first reads what the store lacks (newest
//! first from its watermark, then the window's older gaps, resuming where
//! the last call stopped) and then answers from SQLite, saying in
//! `coverage` which time it has read. Other codes, or one user over a
//! window not stored yet, are read from Graph as they are asked: Graph
//! filters server-side and every page is folded into a per-user aggregate.
//! Either way the budget bounds the reading and a cut-short answer says
//! `truncated: true`.

mod csv;
pub mod fill;
mod query;

pub use csv::csv;
pub use query::{FailuresQuery, Format};

use http::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use http::StatusCode;
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::json;

use super::access;
use crate::api::endpoints;
use crate::api::query::Query;
use crate::api::request::Request;
use crate::api::response::{self, Response};
use crate::api::{ErrorCode, Problem, RequestId};
use crate::graph::client::DEFAULT_BUDGET;
use crate::graph::licences;
use crate::graph::signins::{self, Aggregate};
use crate::graph::{GraphClient, GraphError};
use crate::ports::Host;
use crate::store::failures::{self as store, Question, Range};
use crate::types::Instant;
use crate::types::UserFailures;
use fill::{Plan, Progress};

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
        _ => Problem::from(&e),
    }
}

/// What an answer reports, from the store or from Graph.
struct Report {
    users: Vec<UserFailures>,
    scanned: u64,
    pages: u32,
    truncated: bool,
    coverage: Vec<Range>,
    source: Source,
}

pub async fn serve(
    req: &Request,
    host: &Host<'_>,
    request_id: &RequestId,
) -> Result<Response, Problem> {
    let (config, _caller) = access::admit_read(host, req, &endpoints::FAILURES).await?;
    let now = Instant::from_system(host.clock.now());
    let q = FailuresQuery::parse(req.uri().query().unwrap_or(""), now)?;
    let graph = GraphClient::new(host, &config, request_id, DEFAULT_BUDGET);
    let report = match from_store(&graph, host, &q).await {
        Ok(Some(report)) => report,
        Ok(None) => from_graph(&graph, host, &q)
            .await
            .map_err(licence_problem)?,
        // A store that cannot be used is not a reason to refuse: Graph
        // still answers, as it did before there was a store.
        Err(GraphError::Store(e)) => {
            eprintln!(
                "{}",
                json!({ "level": "warn", "component": "failures", "requestId": request_id.as_str(),
                        "msg": "failures store unavailable; reading Graph directly", "error": e.0 })
            );
            from_graph(&graph, host, &q)
                .await
                .map_err(licence_problem)?
        }
        Err(e) => return Err(licence_problem(e)),
    };
    Ok(respond(req, &q, report))
}

/// The store's answer, after reading what it lacks; `None` when the
/// question is one the store does not keep (codes other than
/// [`fill::STORED_CODES`]) or one Graph answers faster itself (one user:
/// Graph filters by them).
async fn from_store(
    graph: &GraphClient<'_>,
    host: &Host<'_>,
    q: &FailuresQuery,
) -> Result<Option<Report>, GraphError> {
    if !q.error_codes.iter().all(|c| fill::STORED_CODES.contains(c)) {
        return Ok(None);
    }
    if q.user.is_some() {
        return Ok(None);
    }
    let want = Range::new(q.since.unix(), q.until.unix());
    let plan = Plan {
        want,
        overlap_secs: fill::ASKED_OVERLAP_SECS,
    };
    let progress = fill::fill(graph, host, &plan).await?;
    let covered = store::coverage(host.db)?;
    let (mut users, scanned) = store::answer(
        host.db,
        &Question {
            window: want,
            codes: &q.error_codes,
            user: q.user.as_ref(),
            min_failures: q.min_failures,
        },
    )?;
    signins::sort(&mut users);
    Ok(Some(Report {
        users,
        scanned,
        pages: progress.pages,
        truncated: !want.gaps(&covered).is_empty(),
        coverage: want.clip(&covered),
        source: Source::Store,
    }))
}

/// Reads every page of the question from Graph into an aggregate;
/// `truncated` when the budget ran out after the first page (spent between
/// pages, throttled past it, or a page slower than what was left).
async fn from_graph(
    graph: &GraphClient<'_>,
    host: &Host<'_>,
    q: &FailuresQuery,
) -> Result<Report, GraphError> {
    let mut agg = Aggregate::default();
    let path = signins::first_page_path(q.since, q.until, &q.error_codes, q.user.as_ref());
    let first =
        signins::first_page(graph, crate::types::unix_secs(host.clock.now()), &path).await?;
    let (pages, truncated) = signins::fold_pages(graph, &first, &mut agg).await?;
    let window = Range::new(q.since.unix(), q.until.unix());
    // Pages come newest first: a cut-short read covers from its oldest event.
    let coverage = if !truncated {
        vec![window]
    } else {
        agg.iter()
            .filter_map(|u| store::ticks(&u.first_failure_date_time))
            .min()
            .map(|t| t.div_euclid(store::TICKS_PER_SEC) + 1)
            .filter(|since| *since <= window.until)
            .map(|since| Range::new(since, window.until))
            .into_iter()
            .collect()
    };
    Ok(Report {
        scanned: agg.scanned,
        users: agg.into_sorted(q.min_failures),
        pages,
        truncated,
        coverage,
        source: Source::Graph,
    })
}

/// A time range read completely.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Span {
    since: Instant,
    until: Instant,
}

fn ranges(coverage: &[Range]) -> Vec<Span> {
    coverage
        .iter()
        .map(|r| Span {
            since: Instant::from_unix(r.since),
            until: Instant::from_unix(r.until),
        })
        .collect()
}

/// Where an answer was read from: the failures store, or Graph's sign-in
/// log directly.
#[derive(Clone, Copy, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum Source {
    Store,
    Graph,
}

/// `200` of `GET /v1/failures` (JSON), serialized straight from the
/// report: a month of a busy tenant is megabytes of JSON, not worth
/// building as a `Value` first.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct FailuresAnswer<'a> {
    since: Instant,
    until: Instant,
    error_codes: &'a [u32],
    error_code_meanings: BTreeMap<String, &'static str>,
    min_failures: u64,
    scanned_events: u64,
    pages_read: u32,
    /// Part of the window is unread: what is listed is what was read.
    truncated: bool,
    coverage: Vec<Span>,
    source: Source,
    users: &'a [UserFailures],
}

/// `200` of `POST /v1/failures/refresh`: how much of the last 30 days the
/// store holds now, and what this call read.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct RefreshAnswer {
    since: Instant,
    until: Instant,
    error_codes: &'static [u32],
    coverage: Vec<Span>,
    /// Part of the 30 days is still unread.
    truncated: bool,
    pages_read: u32,
    scanned_events: u64,
    new_events: u64,
    /// Another reader held the lease: this call read nothing.
    busy: bool,
    /// The log changed behind the store, which was forgotten and is being
    /// read again.
    reread: bool,
}

fn respond(req: &Request, q: &FailuresQuery, report: Report) -> Response {
    if wants_csv(req, q) {
        let mut res = Response::new(csv(&report.users));
        res.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8; header=present"),
        );
        if report.truncated {
            res.headers_mut()
                .insert("x-truncated", HeaderValue::from_static("true"));
        }
        return res;
    }
    // Why, not just a number: every code asked for or seen.
    let mut codes: BTreeSet<u32> = q.error_codes.iter().copied().collect();
    codes.extend(
        report
            .users
            .iter()
            .flat_map(|u| u.error_codes.keys().filter_map(|k| k.parse::<u32>().ok())),
    );
    let error_code_meanings = codes
        .into_iter()
        .filter_map(|c| signins::meaning(c).map(|m| (c.to_string(), m)))
        .collect();
    response::json(
        StatusCode::OK,
        &FailuresAnswer {
            since: q.since,
            until: q.until,
            error_codes: &q.error_codes,
            error_code_meanings,
            min_failures: q.min_failures,
            scanned_events: report.scanned,
            pages_read: report.pages,
            truncated: report.truncated,
            coverage: ranges(&report.coverage),
            source: report.source,
            users: &report.users,
        },
    )
}

/// `POST /v1/failures/refresh`: only the reading, for a scheduler (a
/// SpinKube `CronJob`, a Power Automate recurrence): the newest sign-ins
/// since the watermark (re-reading [`fill::REFRESH_OVERLAP_SECS`] for late
/// arrivals), then the oldest unread part of the last 30 days.
pub async fn refresh(
    req: &Request,
    host: &Host<'_>,
    request_id: &RequestId,
) -> Result<Response, Problem> {
    let (config, _caller) = access::admit_read(host, req, &endpoints::FAILURES_REFRESH).await?;
    Query::parse(req.uri().query().unwrap_or(""), &[])?;
    let graph = GraphClient::new(host, &config, request_id, fill::REFRESH_BUDGET);
    let now = crate::types::unix_secs(host.clock.now()) as i64;
    let want = Range::new(now - fill::RETENTION_SECS, now);
    let plan = Plan {
        want,
        overlap_secs: fill::REFRESH_OVERLAP_SECS,
    };
    let progress: Progress = fill::fill(&graph, host, &plan)
        .await
        .map_err(licence_problem)?;
    let covered = store::coverage(host.db).map_err(|e| Problem::from(GraphError::Store(e)))?;
    Ok(response::json(
        StatusCode::OK,
        &RefreshAnswer {
            since: Instant::from_unix(want.since),
            until: Instant::from_unix(want.until),
            error_codes: fill::STORED_CODES,
            coverage: ranges(&want.clip(&covered)),
            truncated: !want.gaps(&covered).is_empty(),
            pages_read: progress.pages,
            scanned_events: progress.read,
            new_events: progress.new,
            busy: progress.busy,
            reread: progress.reread,
        },
    ))
}
