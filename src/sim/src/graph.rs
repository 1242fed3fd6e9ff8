//! The Graph request pipeline shared by top-level and `$batch` inner requests:
//! token → fault → route → method → query → permission → body → handler → log.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::auth;
use crate::clock;
use crate::errors::{GraphError, GraphResult};
use crate::faults::{self, Fault};
use crate::headers::header;
use crate::openapi::{check_body, parse_query, spec, RouteMatch, Version};
use crate::reqlog::{redact_headers, Entry};
use crate::routes::{self, Ctx, Reply};
use crate::state::{State, Token};
use crate::Sim;

pub struct GraphReq {
    pub method: String,
    /// As sent, percent-encoded, including the version prefix.
    pub raw_path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub batch_parent: Option<u64>,
}

pub struct GraphResp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    /// Drop the connection instead of answering (fault `connectionReset`).
    pub drop: bool,
}

/// Splits a raw path into decoded segments; `%23` becomes `#`, `%2F` stays inside its segment.
pub fn decode_path(raw: &str) -> (String, Vec<String>) {
    let segs: Vec<String> = raw
        .trim_start_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    (format!("/{}", segs.join("/")), segs)
}

pub fn log_body(body: &[u8]) -> Value {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

pub fn fault_error(f: &Fault) -> Option<GraphError> {
    let status = f.status?;
    let msg = f.message.clone().unwrap_or_else(|| {
        if status == 429 {
            "Please retry again later.".into()
        } else {
            "The service is unavailable (injected fault).".into()
        }
    });
    let mut e = GraphError::new(status, &f.code(), msg);
    e.retry_after = f.retry_after;
    Some(e)
}

#[allow(clippy::too_many_arguments)]
fn run(
    st: &mut State,
    req: &GraphReq,
    segs: &[String],
    auth: Result<(String, Token), GraphError>,
    fault: Option<Fault>,
) -> GraphResult<Reply> {
    let (_, token) = auth?;
    if let Some(e) = fault.as_ref().filter(|f| !f.commit).and_then(fault_error) {
        return Err(e);
    }
    let version = match segs.first().map(String::as_str) {
        Some("v1.0") => Version::V1,
        Some("beta") => Version::Beta,
        other => {
            return Err(GraphError::bad_request(format!(
                "Invalid version: {}",
                other.unwrap_or_default()
            )))
        }
    };
    let rest = &segs[1..];
    let (route, params) = match spec().match_path(version, rest) {
        RouteMatch::Found { route, params } => (route, params),
        RouteMatch::NotFound { segment } => {
            return Err(GraphError::bad_request(format!(
                "Resource not found for the segment '{segment}'."
            )))
        }
    };
    let Some(op) = route.ops.iter().find(|o| o.method == req.method) else {
        return Err(GraphError::new(
            405,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        ));
    };
    let q = parse_query(op, req.query.as_deref())?;
    let alternatives = auth::required(&op.method, &op.template_segments());
    if !auth::permitted(&token.permissions, &alternatives) {
        return Err(GraphError::denied());
    }
    let body = check_body(op, header(&req.headers, "content-type"), &req.body)?;
    let mut cx = Ctx {
        st,
        op,
        params,
        q,
        body,
        headers: &req.headers,
        perms: token.permissions.clone(),
        client_id: token.client_id.clone(),
        raw_path: req.raw_path.clone(),
        raw_query: req.query.clone(),
        version,
    };
    routes::dispatch(&mut cx)
}

/// Turns a handler outcome into headers and body; shared with the token endpoint's shape.
pub fn respond(
    outcome: GraphResult<Reply>,
    now: time::OffsetDateTime,
    request_id: &str,
    client_request_id: Option<&str>,
) -> (GraphResp, Option<String>) {
    let mut headers = vec![
        ("request-id".to_string(), request_id.to_string()),
        ("OData-Version".to_string(), "4.0".to_string()),
    ];
    if let Some(c) = client_request_id {
        headers.push(("client-request-id".into(), c.to_string()));
    }
    match outcome {
        Ok(r) => {
            if !r
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("cache-control"))
            {
                headers.push(("Cache-Control".into(), "no-cache".into()));
            }
            headers.extend(r.headers);
            if r.body.is_some() {
                headers.push((
                    "Content-Type".into(),
                    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8".into(),
                ));
            }
            (
                GraphResp {
                    status: r.status,
                    headers,
                    body: r.body,
                    drop: false,
                },
                None,
            )
        }
        Err(e) => {
            headers.push(("Cache-Control".into(), "no-cache".into()));
            headers.push(("Content-Type".into(), "application/json".into()));
            if let Some(ra) = e.retry_after {
                headers.push(("Retry-After".into(), ra.to_string()));
            }
            headers.extend(e.headers.clone());
            let body = e.body(&clock::inner_date(now), request_id, client_request_id);
            (
                GraphResp {
                    status: e.status,
                    headers,
                    body: Some(body),
                    drop: false,
                },
                Some(e.code.clone()),
            )
        }
    }
}

pub struct LogInfo<'a> {
    pub seq: u64,
    pub kind: &'static str,
    pub method: &'a str,
    pub path: String,
    pub raw_path: &'a str,
    pub query: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub body: Value,
    pub request_id: &'a str,
    pub batch_parent: Option<u64>,
}

pub fn log(st: &mut State, info: LogInfo, status: u16, code: Option<String>) {
    let time = clock::rfc3339(st.now());
    let answered_seq = st.next_seq;
    st.log.push(Entry {
        seq: info.seq,
        answered_seq,
        time,
        method: info.method.to_string(),
        path: info.path,
        raw_path: info.raw_path.to_string(),
        query: info.query,
        headers: info.headers,
        body: info.body,
        status,
        graph_error_code: code,
        batch_parent: info.batch_parent,
        kind: info.kind,
        request_id: info.request_id.to_string(),
    });
}

/// One Graph request (top-level or inner), fully processed and logged.
pub async fn process(sim: &Arc<Sim>, req: GraphReq) -> GraphResp {
    let request_id = uuid::Uuid::new_v4().to_string();
    let crid = header(&req.headers, "client-request-id").map(str::to_string);
    let (path, segs) = decode_path(&req.raw_path);
    let (seq, auth, fault, latency) = {
        let mut st = sim.lock();
        let seq = st.next_seq();
        let auth = auth::check_bearer(&st, header(&req.headers, "authorization"));
        let fault = if auth.is_ok() {
            faults::take(&mut st.faults, &req.method, &path)
        } else {
            None
        };
        // A `$batch` item shares its envelope's round trip.
        let latency = if req.batch_parent.is_none() {
            st.latency_ms
        } else {
            0
        };
        (seq, auth, fault, latency)
    };
    wait(latency, fault.as_ref()).await;
    let mut st = sim.lock();
    let info = LogInfo {
        seq,
        kind: "graph",
        method: &req.method,
        path,
        raw_path: &req.raw_path,
        query: req.query.clone(),
        headers: redact_headers(&req.headers),
        body: log_body(&req.body),
        request_id: &request_id,
        batch_parent: req.batch_parent,
    };
    let commit = fault.as_ref().is_some_and(|f| f.commit);
    if fault.as_ref().is_some_and(|f| f.connection_reset) && !commit {
        log(&mut st, info, 0, Some("connectionReset".into()));
        return dropped();
    }
    let mut outcome = run(&mut st, &req, &segs, auth, fault.clone());
    if let Some(f) = fault.as_ref().filter(|f| f.commit) {
        // The request ran (state changed); only its answer is lost or replaced.
        if f.connection_reset {
            log(&mut st, info, 0, Some("connectionReset".into()));
            return dropped();
        }
        if let Some(e) = fault_error(f) {
            outcome = Err(e);
        }
    }
    let now = st.now();
    let (resp, code) = respond(outcome, now, &request_id, crid.as_deref());
    log(&mut st, info, resp.status, code);
    resp
}

/// The round trip's latency (`POST /_sim/latency`), then a fault's own `latencyMs`.
pub async fn wait(round_trip_ms: u64, fault: Option<&Fault>) {
    let ms = round_trip_ms + fault.map_or(0, |f| f.latency_ms);
    if ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}

pub fn dropped() -> GraphResp {
    GraphResp {
        status: 0,
        headers: vec![],
        body: None,
        drop: true,
    }
}
