//! HTTP/1.1 front door: splits control, login, `$batch` and Graph traffic.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};

use crate::auth;
use crate::faults;
use crate::graph::{self, decode_path, log, GraphReq, GraphResp, LogInfo};
use crate::headers::header;
use crate::reqlog::redact_headers;
use crate::Sim;

/// Returned from the service to make hyper drop the connection without answering.
#[derive(Debug)]
pub struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by injected fault")
    }
}

impl std::error::Error for DropConnection {}

const MAX_BODY: usize = 4 * 1024 * 1024;

type Resp = Response<Full<Bytes>>;

fn build(status: u16, headers: &[(String, String)], body: Option<&Value>) -> Resp {
    let mut b = Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(k.as_str(), v.as_str());
    }
    let bytes = body
        .map(|v| Bytes::from(serde_json::to_vec(v).unwrap_or_default()))
        .unwrap_or_default();
    b.body(Full::new(bytes)).unwrap_or_else(|_| {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

fn from_graph(r: GraphResp) -> Result<Resp, DropConnection> {
    if r.drop {
        return Err(DropConnection);
    }
    Ok(build(r.status, &r.headers, r.body.as_ref()))
}

fn token_tenant(path: &str) -> Option<String> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        [tenant, "oauth2", "v2.0", "token"] => Some(tenant.to_string()),
        _ => None,
    }
}

/// A login-endpoint request arrives: its sequence number and its fault,
/// after the network's latency.
async fn arrive(sim: &Arc<Sim>, method: &str, path: &str) -> (u64, Option<faults::Fault>) {
    let (seq, fault, latency) = {
        let mut st = sim.lock();
        let seq = st.next_seq();
        let fault = faults::take(&mut st.faults, method, path);
        (seq, fault, st.latency_ms)
    };
    graph::wait(latency, fault.as_ref()).await;
    (seq, fault)
}

fn keys_tenant(path: &str) -> Option<String> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        [tenant, "discovery", "v2.0", "keys"] => Some(tenant.to_string()),
        _ => None,
    }
}

/// The tenant's signing keys (`signing`), logged as kind `keys`; faults and
/// latency apply as to any login-endpoint request.
async fn keys(
    sim: &Arc<Sim>,
    method: &str,
    raw_path: &str,
    headers: Vec<(String, String)>,
) -> Result<Resp, DropConnection> {
    let (path, _) = decode_path(raw_path);
    let (seq, fault) = arrive(sim, method, &path).await;
    let mut st = sim.lock();
    let info = LogInfo {
        seq,
        kind: "keys",
        method,
        path,
        raw_path,
        query: None,
        headers: redact_headers(&headers),
        body: Value::Null,
        request_id: "",
        batch_parent: None,
    };
    if fault.as_ref().is_some_and(|f| f.connection_reset) {
        log(&mut st, info, 0, Some("connectionReset".into()));
        return Err(DropConnection);
    }
    let json_type = [("Content-Type".to_string(), "application/json".to_string())];
    if let Some(f) = fault.as_ref().filter(|f| f.status.is_some()) {
        let status = f.status.unwrap_or(500);
        log(&mut st, info, status, Some("fault".into()));
        return Ok(build(
            status,
            &json_type,
            Some(&json!({ "error": "temporarily_unavailable" })),
        ));
    }
    if method != "GET" {
        log(&mut st, info, 405, None);
        return Ok(build(
            405,
            &json_type,
            Some(&json!({ "error": "invalid_request" })),
        ));
    }
    let body = crate::signing::jwks(&st);
    log(&mut st, info, 200, None);
    Ok(build(200, &json_type, Some(&body)))
}

/// The login endpoint, logged as kind `token` with the secret redacted (FACTS §1).
async fn token(
    sim: &Arc<Sim>,
    tenant: &str,
    method: &str,
    raw_path: &str,
    query: Option<String>,
    headers: Vec<(String, String)>,
    body: Bytes,
) -> Result<Resp, DropConnection> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let crid = header(&headers, "client-request-id").map(str::to_string);
    let (path, _) = decode_path(raw_path);
    let (seq, fault) = arrive(sim, method, &path).await;
    let ct = header(&headers, "content-type").map(str::to_string);
    let form = ct.as_deref().is_some_and(|c| {
        c.to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    let logged_body = if form {
        let mut m = Map::new();
        for (k, v) in form_urlencoded::parse(&body) {
            let v = if k == "client_secret" || k == "client_assertion" {
                "<redacted>".to_string()
            } else {
                v.to_string()
            };
            m.insert(k.to_string(), json!(v));
        }
        Value::Object(m)
    } else {
        Value::Null
    };
    let mut st = sim.lock();
    let info = LogInfo {
        seq,
        kind: "token",
        method,
        path,
        raw_path,
        query,
        headers: redact_headers(&headers),
        body: logged_body,
        request_id: &request_id,
        batch_parent: None,
    };
    let commit = fault.as_ref().is_some_and(|f| f.commit);
    if fault.as_ref().is_some_and(|f| f.connection_reset) && !commit {
        log(&mut st, info, 0, Some("connectionReset".into()));
        return Err(DropConnection);
    }
    let now = st.now();
    let correlation = crid
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let mut out_headers = vec![
        ("request-id".to_string(), request_id.clone()),
        ("x-ms-request-id".to_string(), request_id.clone()),
        (
            "Cache-Control".to_string(),
            "no-store, no-cache".to_string(),
        ),
        ("Pragma".to_string(), "no-cache".to_string()),
        (
            "Content-Type".to_string(),
            "application/json; charset=utf-8".to_string(),
        ),
    ];
    if let Some(c) = &crid {
        out_headers.push(("client-request-id".into(), c.clone()));
    }
    let basic = header(&headers, "authorization").and_then(|a| {
        let (s, c) = a.split_once(' ')?;
        s.eq_ignore_ascii_case("basic").then(|| c.to_string())
    });
    if commit {
        // The token is issued (and usable) but its answer is lost or replaced.
        if method == "POST" {
            let _ = auth::issue_token(&mut st, tenant, ct.as_deref(), basic.as_deref(), &body);
        }
        if fault.as_ref().is_some_and(|f| f.connection_reset) {
            log(&mut st, info, 0, Some("connectionReset".into()));
            return Err(DropConnection);
        }
    }
    let (status, body, code) = if let Some(f) = fault.as_ref().filter(|f| f.status.is_some()) {
        let e = graph::fault_error(f).expect("status set");
        if let Some(ra) = e.retry_after {
            out_headers.push(("Retry-After".into(), ra.to_string()));
        }
        let err = auth::AadError {
            status: e.status,
            error: "temporarily_unavailable",
            code: 50196,
            description: e.message.clone(),
        };
        (
            e.status,
            err.body(now, &request_id, &correlation),
            Some("temporarily_unavailable".to_string()),
        )
    } else if method != "POST" {
        let e = auth::AadError {
            status: 400,
            error: "invalid_request",
            code: 900561,
            description: format!(
                "The endpoint only accepts POST requests. Received a {method} request."
            ),
        };
        (
            400,
            e.body(now, &request_id, &correlation),
            Some(e.error.to_string()),
        )
    } else {
        match auth::issue_token(&mut st, tenant, ct.as_deref(), basic.as_deref(), &body) {
            Ok(v) => (200, v, None),
            Err(e) => (
                e.status,
                e.body(now, &request_id, &correlation),
                Some(e.error.to_string()),
            ),
        }
    };
    log(&mut st, info, status, code);
    Ok(build(status, &out_headers, Some(&body)))
}

async fn handle(sim: Arc<Sim>, req: Request<Incoming>) -> Result<Resp, DropConnection> {
    let method = req.method().as_str().to_ascii_uppercase();
    let raw_path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(build(
                413,
                &[("Content-Type".into(), "application/json".into())],
                Some(
                    &json!({"error": {"code": "RequestEntityTooLarge", "message": "The request body is too large."}}),
                ),
            ))
        }
    };
    if raw_path.starts_with("/_sim/") {
        let (status, v) = crate::control::handle(&sim, &method, &raw_path, query.as_deref(), &body);
        let headers = [("Content-Type".to_string(), "application/json".to_string())];
        return Ok(build(status, &headers, (status != 204).then_some(&v)));
    }
    if let Some(tenant) = token_tenant(&raw_path) {
        return token(&sim, &tenant, &method, &raw_path, query, headers, body).await;
    }
    if keys_tenant(&raw_path).is_some() {
        return keys(&sim, &method, &raw_path, headers).await;
    }
    let (decoded, _) = decode_path(&raw_path);
    let greq = GraphReq {
        method,
        raw_path: raw_path.clone(),
        query,
        headers,
        body: body.to_vec(),
        batch_parent: None,
    };
    if decoded.eq_ignore_ascii_case("/v1.0/$batch") {
        return from_graph(crate::batch::process(&sim, greq).await);
    }
    if decoded == "/v1.0" || decoded.starts_with("/v1.0/") || decoded.starts_with("/beta/") {
        return from_graph(graph::process(&sim, greq).await);
    }
    Ok(build(
        404,
        &[("Content-Type".into(), "application/json".into())],
        Some(
            &json!({"error": {"code": "NotFound", "message": format!("graph-sim serves /v1.0, /beta, /{{tenant}}/oauth2/v2.0/token and /_sim; not {decoded}")}}),
        ),
    ))
}

/// Accepts connections forever; each is served on its own task.
pub async fn run(listener: tokio::net::TcpListener, sim: Arc<Sim>) -> anyhow::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let sim = sim.clone();
        tokio::spawn(async move {
            let io = TokioIo::new(stream);
            let svc = service_fn(move |req| {
                let sim = sim.clone();
                async move { handle(sim, req).await }
            });
            let _ = http1::Builder::new().serve_connection(io, svc).await;
        });
    }
}
