//! The one way operations talk to Graph: the app token, `client-request-id`,
//! throttling retries within the request's time budget, `$batch`, and
//! Graph's error body reduced to its code and request id (never its
//! message, which can quote input).

use std::cell::{Cell, RefCell};
use std::time::{Duration, SystemTime};

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use serde::Deserialize;
use serde_json::{json, Value};

use super::permissions::Permission;
use super::GraphError;
use super::{licences, token};
use crate::api::RequestId;
use crate::config::Config;
use crate::ports::{Host, TransportError};
use crate::store::sealed::Sealed;
use crate::types::Secret;

/// API.md: throttling is retried within the request's budget (default 20 s).
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(20);
/// With no `Retry-After`, back off 1, 2, 4 … seconds (FACTS §10).
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Graph's `$batch` limit (FACTS §9).
pub const MAX_BATCH: usize = 20;
/// Pages a collection may span before a read that must be whole gives up
/// (at 100 items a page, the smallest Graph serves, 10,000 items).
pub const MAX_PAGES: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    Beta,
}

impl Version {
    fn segment(self) -> &'static str {
        match self {
            Version::V1 => "v1.0",
            Version::Beta => "beta",
        }
    }
}

/// A Graph answer the caller decides about (success or a Graph error).
#[derive(Debug, Clone, PartialEq)]
pub struct GraphResponse {
    pub status: u16,
    pub body: Value,
    /// Graph's `request-id` (header, or `innerError` for batch items).
    pub request_id: Option<String>,
}

impl GraphResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// `error.code` of a Graph error body.
    pub fn error_code(&self) -> Option<&str> {
        self.body.pointer("/error/code").and_then(Value::as_str)
    }

    /// `error.message`, for matching documented refusals (FACTS §4); never
    /// returned to callers.
    pub fn error_message(&self) -> Option<&str> {
        self.body.pointer("/error/message").and_then(Value::as_str)
    }

    /// [`GraphResponse::into_result`] for a read that needs `permission`: a
    /// 403 names it (a licence refusal keeps its own code).
    pub fn into_read(self, permission: &Permission) -> Result<GraphResponse, GraphError> {
        if self.status == 403 && self.error_code() != Some(licences::P1_REQUIRED) {
            return Err(GraphError::PermissionMissing {
                permission: permission.least,
                request_id: self.request_id,
            });
        }
        self.into_result()
    }

    /// Turns a non-2xx answer into an error carrying code and request id.
    pub fn into_result(self) -> Result<GraphResponse, GraphError> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(GraphError::Status {
                status: self.status,
                code: self.error_code().map(sanitize_code),
                request_id: self.request_id.clone(),
            })
        }
    }
}

/// Graph error codes are identifiers; anything else is not passed on.
fn sanitize_code(code: &str) -> String {
    let ok = !code.is_empty()
        && code.len() <= 80
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
    if ok {
        code.to_string()
    } else {
        "unknown".into()
    }
}

/// A page's `@odata.nextLink`, if there is a next page.
pub fn next_link(body: &Value) -> Option<String> {
    body.get("@odata.nextLink")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// One request of a `$batch`, by its id.
#[derive(Debug, Clone)]
pub struct BatchRequest {
    pub id: String,
    pub method: &'static str,
    /// Relative to the version: `/users/…`.
    pub url: String,
    pub body: Option<Value>,
    /// Whether sending it twice does no harm. A 503/504 inside a batch is
    /// retried only for these: a write that is not idempotent (`sendMail`)
    /// may have taken effect, so its ambiguous answer is kept.
    pub idempotent: bool,
}

impl BatchRequest {
    /// The request as a `$batch` body lists it.
    fn item(&self) -> Value {
        let mut item = json!({ "id": self.id, "method": self.method, "url": self.url });
        if let Some(b) = &self.body {
            item["body"] = b.clone();
            item["headers"] = json!({ "Content-Type": "application/json" });
        }
        item
    }

    pub fn get(id: &str, url: impl Into<String>) -> BatchRequest {
        BatchRequest {
            id: id.into(),
            method: "GET",
            url: url.into(),
            body: None,
            idempotent: true,
        }
    }

    /// A `DELETE`: sending it twice does no harm (the second finds `404`).
    pub fn delete(id: &str, url: impl Into<String>) -> BatchRequest {
        BatchRequest {
            method: "DELETE",
            ..BatchRequest::get(id, url)
        }
    }

    /// A bodiless `POST` whose repeat does no harm (`revokeSignInSessions`).
    pub fn action(id: &str, url: impl Into<String>) -> BatchRequest {
        BatchRequest {
            method: "POST",
            ..BatchRequest::get(id, url)
        }
    }
}

/// What [`GraphClient::chain`] did: an answer per request, in order.
#[derive(Debug)]
pub struct Chained {
    /// `424` for a request that never ran because one before it failed.
    pub answers: Vec<GraphResponse>,
    /// Set when a request stayed throttled past the budget: the chain
    /// stopped there (its answer is the last 429, 503 or 504).
    pub throttled: Option<GraphError>,
}

/// Counts of what reached Graph, for benchmarks and throttle reports.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Traffic {
    pub http_requests: u32,
    pub retries: u32,
}

pub struct GraphClient<'a> {
    host: &'a Host<'a>,
    config: &'a Config,
    request_id: &'a RequestId,
    deadline: SystemTime,
    token: RefCell<Option<Secret<String>>>,
    /// The token's `roles` claim (`None`: not a JWT).
    granted: RefCell<Option<Vec<String>>>,
    traffic: Cell<Traffic>,
    /// The cached records the reads keep (role holders, licences).
    sealed: Sealed<'a>,
}

#[derive(Deserialize)]
struct BatchEnvelope {
    responses: Vec<BatchItem>,
}

#[derive(Deserialize)]
struct BatchItem {
    id: String,
    status: u16,
    #[serde(default)]
    headers: serde_json::Map<String, Value>,
    #[serde(default)]
    body: Value,
}

impl BatchItem {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    }

    fn retry_after(&self) -> Option<Duration> {
        parse_retry_after(self.header("retry-after"))
    }

    /// The answer, named by Graph's request id (header or error body).
    fn into_response(self) -> GraphResponse {
        let request_id = self.header("request-id").map(str::to_string).or_else(|| {
            self.body
                .pointer("/error/innerError/request-id")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        GraphResponse {
            status: self.status,
            body: self.body,
            request_id,
        }
    }
}

impl<'a> GraphClient<'a> {
    pub fn new(
        host: &'a Host<'a>,
        config: &'a Config,
        request_id: &'a RequestId,
        budget: Duration,
    ) -> Self {
        GraphClient {
            host,
            config,
            request_id,
            deadline: host.clock.now() + budget,
            token: RefCell::new(None),
            granted: RefCell::new(None),
            traffic: Cell::new(Traffic::default()),
            sealed: Sealed::new(host, config),
        }
    }

    /// The key-value store for the records Graph's answers are cached in.
    pub fn sealed(&self) -> &Sealed<'a> {
        &self.sealed
    }

    /// Gets the token now, so requests sent concurrently share it.
    pub async fn prepare(&self) -> Result<(), GraphError> {
        self.bearer().await.map(|_| ())
    }

    /// The application permissions the app's token carries (its `roles`
    /// claim); `None` when the token does not say.
    pub async fn granted(&self) -> Result<Option<Vec<String>>, GraphError> {
        self.bearer().await?;
        Ok(self.granted.borrow().clone())
    }

    pub fn traffic(&self) -> Traffic {
        self.traffic.get()
    }

    async fn bearer(&self) -> Result<String, GraphError> {
        if let Some(t) = self.token.borrow().as_ref() {
            return Ok(format!("Bearer {}", t.expose()));
        }
        let t = token::app_token(self.config, self.host, self.remaining()?).await?;
        let header = format!("Bearer {}", t.access_token.expose());
        *self.token.borrow_mut() = Some(t.access_token);
        *self.granted.borrow_mut() = t.granted;
        Ok(header)
    }

    fn url(&self, version: Version, path: &str) -> String {
        format!(
            "{}/{}{}",
            self.config.graph_endpoint.base(),
            version.segment(),
            path
        )
    }

    /// Waits out throttling before retry number `attempt`, or says the
    /// budget is spent (`graph_throttled`).
    fn back_off(
        &self,
        retry_after: Option<Duration>,
        attempt: &mut u32,
        request_id: Option<String>,
    ) -> Result<(), GraphError> {
        let wait = self
            .wait_for(retry_after, *attempt)
            .ok_or(GraphError::Throttled {
                retry_after_secs: retry_after.map(|d| d.as_secs().max(1)).unwrap_or(5),
                request_id,
            })?;
        self.host.clock.sleep(wait);
        *attempt += 1;
        let mut t = self.traffic.get();
        t.retries += 1;
        self.traffic.set(t);
        Ok(())
    }

    /// Seconds to wait before a retry, if the budget allows one.
    fn wait_for(&self, retry_after: Option<Duration>, attempt: u32) -> Option<Duration> {
        let wait = retry_after.unwrap_or(FIRST_BACKOFF * 2u32.saturating_pow(attempt));
        let now = self.host.clock.now();
        (now + wait <= self.deadline).then_some(wait)
    }

    /// One HTTP exchange with Graph, no retries.
    async fn exchange(
        &self,
        method: &str,
        url: &str,
        body: Option<&Value>,
    ) -> Result<(GraphResponse, Option<Duration>), GraphError> {
        let mut b = http::Request::builder()
            .method(method)
            .uri(url)
            .header(AUTHORIZATION, self.bearer().await?)
            .header(ACCEPT, "application/json")
            .header("client-request-id", self.request_id.as_str());
        let bytes = match body {
            Some(v) => {
                b = b.header(CONTENT_TYPE, "application/json");
                serde_json::to_vec(v).unwrap_or_default()
            }
            None => Vec::new(),
        };
        let req = b.body(bytes).map_err(|_| GraphError::BadUrl)?;
        let mut t = self.traffic.get();
        t.http_requests += 1;
        self.traffic.set(t);
        let res = self.host.transport.send(req, self.remaining()?).await?;
        let status = res.status().as_u16();
        let request_id = res
            .headers()
            .get("request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let retry_after =
            parse_retry_after(res.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()));
        let body = if res.body().is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(res.body()).unwrap_or(Value::Null)
        };
        Ok((
            GraphResponse {
                status,
                body,
                request_id,
            },
            retry_after,
        ))
    }

    /// Sends one request, retrying throttling (429/503/504) while the budget
    /// lasts and a token Graph no longer accepts once.
    pub async fn send(
        &self,
        version: Version,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<GraphResponse, GraphError> {
        self.send_url(method, &self.url(version, path), body).await
    }

    /// Sends a write that is not idempotent (creating a pass or a phone):
    /// a 429 (Graph did not take it) and a refused token are retried like
    /// [`GraphClient::send`], but a 503, a 504 or a lost connection may
    /// have hidden a write that happened, so it comes back as
    /// [`GraphError::Ambiguous`] for the caller to settle by re-reading.
    pub async fn send_once(
        &self,
        version: Version,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<GraphResponse, GraphError> {
        self.send_url_with(method, &self.url(version, path), body, false)
            .await
    }

    async fn send_url(
        &self,
        method: &str,
        url: &str,
        body: Option<&Value>,
    ) -> Result<GraphResponse, GraphError> {
        self.send_url_with(method, url, body, true).await
    }

    async fn send_url_with(
        &self,
        method: &str,
        url: &str,
        body: Option<&Value>,
        idempotent: bool,
    ) -> Result<GraphResponse, GraphError> {
        let mut attempt = 0;
        let mut refreshed = false;
        loop {
            let (res, retry_after) = match self.exchange(method, url, body).await {
                Err(GraphError::Unreachable(e))
                    if !idempotent && !matches!(e, TransportError::Denied) =>
                {
                    return Err(GraphError::Ambiguous {
                        status: None,
                        request_id: None,
                        transport: Some(e),
                    })
                }
                other => other?,
            };
            if !idempotent && matches!(res.status, 503 | 504) {
                return Err(GraphError::Ambiguous {
                    status: Some(res.status),
                    request_id: res.request_id,
                    transport: None,
                });
            }
            if res.status == 401 && !refreshed {
                // The cached token was revoked or the clocks disagree.
                refreshed = true;
                token::forget(self.config, self.host);
                *self.token.borrow_mut() = None;
                continue;
            }
            if matches!(res.status, 429 | 503 | 504) {
                self.back_off(retry_after, &mut attempt, res.request_id)?;
                continue;
            }
            return Ok(res);
        }
    }

    /// What is left of the budget for one exchange; none left is a timeout
    /// (a call that was never sent is still reported as possibly lost: the
    /// callers only need to know they may not claim it did nothing).
    fn remaining(&self) -> Result<Duration, GraphError> {
        self.deadline
            .duration_since(self.host.clock.now())
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or(GraphError::Unreachable(TransportError::Timeout))
    }

    /// Waits `d` if the budget leaves room for it and for one more
    /// exchange afterwards; `false` (and no wait) otherwise, or for zero.
    pub fn pause(&self, d: Duration) -> bool {
        const RESERVE: Duration = Duration::from_secs(2);
        if d.is_zero() || self.host.clock.now() + d + RESERVE > self.deadline {
            return false;
        }
        self.host.clock.sleep(d);
        true
    }

    /// Whether the request's time budget is spent: a long read (sign-in
    /// pages) stops and answers what it has.
    pub fn budget_spent(&self) -> bool {
        self.host.clock.now() >= self.deadline
    }

    pub async fn get(&self, path: &str) -> Result<GraphResponse, GraphError> {
        self.send(Version::V1, "GET", path, None).await
    }

    /// Fetches an `@odata.nextLink` exactly as Graph gave it (FACTS §7
    /// [s43]); a link to any other host is refused: the token must never
    /// leave Graph.
    pub async fn follow(&self, link: &str) -> Result<GraphResponse, GraphError> {
        let prefix = format!("{}/", self.config.graph_endpoint.base());
        if !link.starts_with(&prefix) {
            return Err(GraphError::Malformed("@odata.nextLink".into()));
        }
        self.send_url("GET", link, None).await
    }

    /// Follows `@odata.nextLink` verbatim (FACTS §7, §43) until the last
    /// page, and returns one body whose `value` holds every item. A link to
    /// any other host is refused: the token must never leave Graph.
    /// More than [`MAX_PAGES`] pages is [`GraphError::TooManyPages`] naming
    /// `what`: the reads that use this must see the whole collection.
    pub async fn collect_pages(
        &self,
        first: Value,
        what: &'static str,
    ) -> Result<Value, GraphError> {
        let mut body = first;
        let mut items: Vec<Value> = body
            .get_mut("value")
            .and_then(Value::as_array_mut)
            .map(std::mem::take)
            .unwrap_or_default();
        let mut next = next_link(&body);
        let mut pages = 0;
        while let Some(link) = next.take() {
            pages += 1;
            if pages >= MAX_PAGES {
                return Err(GraphError::TooManyPages(what));
            }
            let page = self.follow(&link).await?.into_result()?;
            if let Some(v) = page.body.get("value").and_then(Value::as_array) {
                items.extend(v.iter().cloned());
            }
            next = next_link(&page.body);
        }
        if let Some(o) = body.as_object_mut() {
            o.remove("@odata.nextLink");
            o.insert("value".into(), Value::Array(items));
        }
        Ok(body)
    }

    /// Independent requests in one `$batch` round trip (FACTS §9); items
    /// throttled inside the batch are retried together after the longest
    /// `Retry-After`. Answers come back in the order asked.
    pub async fn batch(&self, requests: &[BatchRequest]) -> Result<Vec<GraphResponse>, GraphError> {
        self.batch_within(requests, false).await
    }

    /// [`GraphClient::batch`] for reads that can each be missing: when the
    /// budget runs out, items still throttled keep their last answer (429,
    /// 503 or 504) instead of failing the whole batch.
    pub async fn batch_partial(
        &self,
        requests: &[BatchRequest],
    ) -> Result<Vec<GraphResponse>, GraphError> {
        self.batch_within(requests, true).await
    }

    async fn batch_within(
        &self,
        requests: &[BatchRequest],
        partial: bool,
    ) -> Result<Vec<GraphResponse>, GraphError> {
        assert!(requests.len() <= MAX_BATCH, "callers split batches");
        let mut answers: Vec<Option<GraphResponse>> = vec![None; requests.len()];
        let mut pending: Vec<usize> = (0..requests.len()).collect();
        let mut attempt = 0;
        while !pending.is_empty() {
            let items = pending.iter().map(|&i| requests[i].item()).collect();
            let idempotent = pending.iter().all(|&i| requests[i].idempotent);
            let parsed = self.post_batch(items, idempotent).await?;
            let mut throttled = Vec::new();
            let mut longest: Option<Duration> = None;
            for item in parsed.responses {
                let Some(&i) = pending
                    .iter()
                    .find(|&&i| requests[i].id.eq_ignore_ascii_case(&item.id))
                else {
                    continue;
                };
                let retryable = item.status == 429
                    || (requests[i].idempotent && matches!(item.status, 503 | 504));
                if retryable {
                    longest = longest.max(item.retry_after());
                    throttled.push(i);
                }
                answers[i] = Some(item.into_response());
            }
            // An item Graph did not answer is asked again with the throttled.
            let missing: Vec<usize> = pending
                .iter()
                .copied()
                .filter(|&i| answers[i].is_none())
                .collect();
            pending = throttled.into_iter().chain(missing).collect();
            if pending.is_empty() {
                break;
            }
            match self.back_off(longest, &mut attempt, None) {
                Ok(()) => {}
                Err(_) if partial => break,
                Err(e) => return Err(e),
            }
        }
        Ok(answers
            .into_iter()
            .map(|a| {
                a.unwrap_or(GraphResponse {
                    status: 504,
                    body: Value::Null,
                    request_id: None,
                })
            })
            .collect())
    }
}

impl GraphClient<'_> {
    /// Sends one `$batch` envelope. One carrying a write that is not
    /// idempotent is itself sent once: its 503/504 may hide that write.
    async fn post_batch(
        &self,
        items: Vec<Value>,
        idempotent: bool,
    ) -> Result<BatchEnvelope, GraphError> {
        let body = json!({ "requests": items });
        let envelope = if idempotent {
            self.send(Version::V1, "POST", "/$batch", Some(&body)).await
        } else {
            self.send_once(Version::V1, "POST", "/$batch", Some(&body))
                .await
        }?
        .into_result()?;
        serde_json::from_value(envelope.body)
            .map_err(|_| GraphError::Malformed("$batch answer".into()))
    }

    /// Requests that must run one after another, in one `$batch` round trip:
    /// each `dependsOn` the one before (FACTS §9: a batch is fully
    /// sequential or fully parallel), so Graph runs them in this order and
    /// answers `424` for every request after the first that fails. A
    /// request throttled inside the chain (429, or 503/504 for an
    /// idempotent one) is sent again with everything after it, as a new
    /// chain, once its `Retry-After` has passed, while the budget lasts.
    pub async fn chain(&self, requests: &[BatchRequest]) -> Result<Chained, GraphError> {
        assert!(requests.len() <= MAX_BATCH, "callers split chains");
        let mut answers: Vec<Option<GraphResponse>> = vec![None; requests.len()];
        let mut from = 0;
        let mut attempt = 0;
        while from < requests.len() {
            let pending = &requests[from..];
            let items = pending
                .iter()
                .enumerate()
                .map(|(n, r)| {
                    let mut item = r.item();
                    if n > 0 {
                        item["dependsOn"] = json!([pending[n - 1].id]);
                    }
                    item
                })
                .collect();
            let idempotent = pending.iter().all(|r| r.idempotent);
            let parsed = self.post_batch(items, idempotent).await?;
            let mut got: Vec<Option<(GraphResponse, Option<Duration>)>> = vec![None; pending.len()];
            for item in parsed.responses {
                let Some(n) = pending
                    .iter()
                    .position(|r| r.id.eq_ignore_ascii_case(&item.id))
                else {
                    continue;
                };
                let retry_after = item.retry_after();
                got[n] = Some((item.into_response(), retry_after));
            }
            // The first request not done: throttled, or not answered at all.
            let retry = got.iter().enumerate().position(|(n, a)| match a {
                None => true,
                Some((r, _)) => {
                    r.status == 429 || (pending[n].idempotent && matches!(r.status, 503 | 504))
                }
            });
            let stop = retry.unwrap_or(pending.len());
            for (n, a) in got.iter().enumerate().take(stop) {
                answers[from + n] = a.as_ref().map(|(r, _)| r.clone());
            }
            let Some(n) = retry else {
                break;
            };
            let (last, retry_after) = got[n].clone().unwrap_or((
                GraphResponse {
                    status: 504,
                    body: Value::Null,
                    request_id: None,
                },
                None,
            ));
            if let Err(e) = self.back_off(retry_after, &mut attempt, last.request_id.clone()) {
                answers[from + n] = Some(last);
                return Ok(Chained {
                    answers: fill_not_run(answers),
                    throttled: Some(e),
                });
            }
            from += n;
        }
        Ok(Chained {
            answers: fill_not_run(answers),
            throttled: None,
        })
    }
}

/// A request of a chain that never ran answers as Graph's dependants do.
fn fill_not_run(answers: Vec<Option<GraphResponse>>) -> Vec<GraphResponse> {
    answers
        .into_iter()
        .map(|a| {
            a.unwrap_or(GraphResponse {
                status: 424,
                body: json!({ "error": { "code": "FailedDependency" } }),
                request_id: None,
            })
        })
        .collect()
}

/// `Retry-After` as seconds (Graph sends seconds; an HTTP date is rare and
/// treated as absent).
fn parse_retry_after(v: Option<&str>) -> Option<Duration> {
    v?.trim()
        .parse::<u64>()
        .ok()
        .map(|s| Duration::from_secs(s.min(3600)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Clock;
    use crate::testing::World;
    use futures::executor::block_on;

    use crate::testing::TOKEN_RESPONSE as TOKEN;

    fn setup() -> (World, Config, RequestId) {
        crate::testing::graph_world()
    }

    #[test]
    fn sends_token_and_client_request_id_and_retries_after_429() {
        let (w, c, id) = setup();
        let host = w.host();
        let g = GraphClient::new(&host, &c, &id, DEFAULT_BUDGET);
        w.transport.push(200, TOKEN);
        w.transport.push_with(
            429,
            r#"{"error":{"code":"TooManyRequests"}}"#,
            &[("retry-after", "3")],
        );
        w.transport
            .push_with(200, r#"{"id":"u1"}"#, &[("request-id", "g-1")]);
        let start = w.clock.now();
        let r = block_on(g.get("/users/u1")).unwrap();
        assert_eq!(r.body["id"], "u1");
        assert_eq!(r.request_id.as_deref(), Some("g-1"));
        assert_eq!(
            w.clock.now().duration_since(start).unwrap(),
            Duration::from_secs(3)
        );
        let sent = w.transport.sent();
        assert_eq!(sent.len(), 3);
        for s in &sent[1..] {
            assert_eq!(s.uri().to_string(), "https://graph.example/v1.0/users/u1");
            assert_eq!(s.headers()["authorization"], "Bearer tok");
            assert_eq!(s.headers()["client-request-id"], "req-1");
        }
        assert_eq!(
            g.traffic(),
            Traffic {
                http_requests: 2,
                retries: 1
            }
        );
    }

    #[test]
    fn gives_up_when_the_budget_would_be_exceeded() {
        let (w, c, id) = setup();
        let host = w.host();
        let g = GraphClient::new(&host, &c, &id, Duration::from_secs(5));
        w.transport.push(200, TOKEN);
        w.transport.push_with(429, "{}", &[("retry-after", "4")]);
        w.transport
            .push_with(503, "{}", &[("retry-after", "4"), ("request-id", "g-2")]);
        let err = block_on(g.get("/x")).unwrap_err();
        assert_eq!(
            err,
            GraphError::Throttled {
                retry_after_secs: 4,
                request_id: Some("g-2".into())
            }
        );
    }

    #[test]
    fn each_exchange_may_take_only_what_is_left_of_the_budget() {
        let (w, c, id) = setup();
        let host = w.host();
        let g = GraphClient::new(&host, &c, &id, Duration::from_secs(20));
        w.transport.push(200, TOKEN);
        w.transport.push_with(429, "{}", &[("retry-after", "3")]);
        w.transport.push(200, "{}");
        block_on(g.get("/x")).unwrap();
        let secs: Vec<u64> = w.transport.limits().iter().map(|d| d.as_secs()).collect();
        assert_eq!(secs, [20, 20, 17], "token, first try, retry after 3 s");

        // A response the transport gave up on is `Unreachable`, and once the
        // budget is gone nothing more is sent.
        w.transport.push_err(TransportError::Timeout);
        let err = block_on(g.get("/y")).unwrap_err();
        assert_eq!(err, GraphError::Unreachable(TransportError::Timeout));
        w.clock.advance(Duration::from_secs(17));
        let sent = w.transport.sent().len();
        let err = block_on(g.get("/z")).unwrap_err();
        assert_eq!(err, GraphError::Unreachable(TransportError::Timeout));
        assert_eq!(
            w.transport.sent().len(),
            sent,
            "nothing sent past the budget"
        );
    }

    #[test]
    fn errors_keep_code_and_request_id_only() {
        let (w, c, id) = setup();
        let host = w.host();
        let g = GraphClient::new(&host, &c, &id, DEFAULT_BUDGET);
        w.transport.push(200, TOKEN);
        w.transport.push_with(
            404,
            r#"{"error":{"code":"Request_ResourceNotFound","message":"Resource 'x' does not exist"}}"#,
            &[("request-id", "g-3")],
        );
        let err = block_on(g.get("/users/x"))
            .unwrap()
            .into_result()
            .unwrap_err();
        assert_eq!(
            err,
            GraphError::Status {
                status: 404,
                code: Some("Request_ResourceNotFound".into()),
                request_id: Some("g-3".into())
            }
        );
    }

    #[test]
    fn a_rejected_token_is_refreshed_once() {
        let (w, c, id) = setup();
        let host = w.host();
        let g = GraphClient::new(&host, &c, &id, DEFAULT_BUDGET);
        w.transport.push(200, TOKEN);
        w.transport
            .push(401, r#"{"error":{"code":"InvalidAuthenticationToken"}}"#);
        w.transport.push(
            200,
            r#"{"token_type":"Bearer","expires_in":3599,"access_token":"tok2"}"#,
        );
        w.transport.push(200, "{}");
        assert!(block_on(g.get("/users/u")).unwrap().is_success());
        let sent = w.transport.sent();
        assert_eq!(sent[3].headers()["authorization"], "Bearer tok2");
    }

    #[test]
    fn batch_retries_only_throttled_items_after_the_longest_retry_after() {
        let (w, c, id) = setup();
        let host = w.host();
        let g = GraphClient::new(&host, &c, &id, DEFAULT_BUDGET);
        w.transport.push(200, TOKEN);
        w.transport.push(200, r#"{"responses":[
            {"id":"b","status":429,"headers":{"Retry-After":"7"},"body":{"error":{"code":"TooManyRequests"}}},
            {"id":"a","status":200,"headers":{},"body":{"v":1}},
            {"id":"c","status":429,"headers":{"Retry-After":"2"},"body":{}}]}"#);
        w.transport.push(200, r#"{"responses":[
            {"id":"c","status":200,"body":{"v":3}},{"id":"b","status":404,"body":{"error":{"code":"x"}}}]}"#);
        let start = w.clock.now();
        let out = block_on(g.batch(&[
            BatchRequest::get("a", "/a"),
            BatchRequest::get("b", "/b"),
            BatchRequest::get("c", "/c"),
        ]))
        .unwrap();
        assert_eq!(out[0].body["v"], 1);
        assert_eq!(out[1].status, 404);
        assert_eq!(out[2].body["v"], 3);
        assert_eq!(
            w.clock.now().duration_since(start).unwrap(),
            Duration::from_secs(7)
        );
        let second: Value = serde_json::from_slice(w.transport.sent()[2].body()).unwrap();
        let ids: Vec<&str> = second["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["b", "c"]);
    }

    #[test]
    fn a_chain_depends_on_each_step_and_resends_from_a_throttled_one() {
        let (w, c, id) = setup();
        let host = w.host();
        let g = GraphClient::new(&host, &c, &id, DEFAULT_BUDGET);
        w.transport.push(200, TOKEN);
        w.transport.push(200, r#"{"responses":[
            {"id":"c","status":424,"body":{"error":{"code":"FailedDependency"}}},
            {"id":"a","status":204},
            {"id":"b","status":429,"headers":{"Retry-After":"3"},"body":{"error":{"code":"TooManyRequests"}}}]}"#);
        w.transport.push(
            200,
            r#"{"responses":[{"id":"b","status":204},{"id":"c","status":404,"body":{"error":{"code":"x"}}}]}"#,
        );
        let steps = [
            BatchRequest::delete("a", "/a"),
            BatchRequest::delete("b", "/b"),
            BatchRequest::delete("c", "/c"),
        ];
        let start = w.clock.now();
        let out = block_on(g.chain(&steps)).unwrap();
        assert!(out.throttled.is_none());
        let statuses: Vec<u16> = out.answers.iter().map(|a| a.status).collect();
        assert_eq!(statuses, [204, 204, 404]);
        assert_eq!(
            w.clock.now().duration_since(start).unwrap(),
            Duration::from_secs(3)
        );
        let body =
            |n: usize| -> Value { serde_json::from_slice(w.transport.sent()[n].body()).unwrap() };
        assert_eq!(
            body(1)["requests"],
            json!([
                {"id": "a", "method": "DELETE", "url": "/a"},
                {"id": "b", "method": "DELETE", "url": "/b", "dependsOn": ["a"]},
                {"id": "c", "method": "DELETE", "url": "/c", "dependsOn": ["b"]},
            ])
        );
        // Sent again from the throttled step on, as a chain of its own.
        assert_eq!(
            body(2)["requests"],
            json!([
                {"id": "b", "method": "DELETE", "url": "/b"},
                {"id": "c", "method": "DELETE", "url": "/c", "dependsOn": ["b"]},
            ])
        );

        // Throttled past the budget: the chain stops there, the rest unsent.
        w.transport.push(
            200,
            r#"{"responses":[
            {"id":"a","status":403,"body":{"error":{"code":"accessDenied"}}},
            {"id":"b","status":424},{"id":"c","status":424}]}"#,
        );
        let out = block_on(g.chain(&steps)).unwrap();
        let statuses: Vec<u16> = out.answers.iter().map(|a| a.status).collect();
        assert_eq!(statuses, [403, 424, 424], "a failure is not retried");
        w.transport.push(
            200,
            r#"{"responses":[
            {"id":"a","status":204},
            {"id":"b","status":429,"headers":{"Retry-After":"60"},"body":{}},
            {"id":"c","status":424}]}"#,
        );
        let out = block_on(g.chain(&steps)).unwrap();
        let statuses: Vec<u16> = out.answers.iter().map(|a| a.status).collect();
        assert_eq!(statuses, [204, 429, 424]);
        assert!(matches!(
            out.throttled,
            Some(GraphError::Throttled {
                retry_after_secs: 60,
                ..
            })
        ));
    }

    #[test]
    fn a_write_that_is_not_idempotent_retries_429_but_not_an_ambiguous_answer() {
        let (w, c, id) = setup();
        let host = w.host();
        let g = GraphClient::new(&host, &c, &id, DEFAULT_BUDGET);
        w.transport.push(200, TOKEN);
        w.transport.push_with(429, "{}", &[("retry-after", "1")]);
        w.transport.push_with(504, "{}", &[("request-id", "g-9")]);
        let err = block_on(g.send_once(Version::V1, "POST", "/x", Some(&json!({})))).unwrap_err();
        assert_eq!(
            err,
            GraphError::Ambiguous {
                status: Some(504),
                request_id: Some("g-9".into()),
                transport: None
            }
        );
        assert_eq!(
            w.transport.sent().len(),
            3,
            "token, 429, 504: no retry after the 504"
        );
        w.transport
            .push_err(TransportError::Connection("reset".into()));
        assert!(matches!(
            block_on(g.send_once(Version::V1, "POST", "/x", None)),
            Err(GraphError::Ambiguous { status: None, .. })
        ));
        // The same answer to an idempotent request is retried.
        w.transport.push_with(503, "{}", &[("retry-after", "1")]);
        w.transport.push(204, "");
        assert_eq!(
            block_on(g.send(Version::V1, "DELETE", "/x", None))
                .unwrap()
                .status,
            204
        );
    }
}
