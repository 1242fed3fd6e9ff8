//! Spin request in, Spin response out: the only translation layer.

use futures::StreamExt;
use spin_sdk::http::{Fields, IncomingRequest, OutgoingResponse, ResponseOutparam};

use mfa_core::api::request::{Body, MAX_BODY_BYTES};
use mfa_core::ports::Host;
use mfa_core::service::{self, Component};
use mfa_core::timing::{TimedDb, TimedKv, TimedTransport, Timings};

use crate::spin_ports::{SpinClock, SpinDb, SpinEntropy, SpinKv, SpinTransport, SpinVariables};

/// Serves one request for `component`.
pub async fn serve(component: Component, req: IncomingRequest, out: ResponseOutparam) {
    let started = std::time::Instant::now();
    let method = req.method().to_string();
    let path_and_query = req.path_with_query().unwrap_or_default();
    let path = path_and_query.split('?').next().unwrap_or("/").to_string();

    let mut builder = http::Request::builder()
        .method(method.as_str())
        .uri(&path_and_query);
    let mut has_host = false;
    for (name, value) in req.headers().entries() {
        has_host |= name.eq_ignore_ascii_case("host");
        builder = builder.header(name, value);
    }
    // wasi:http carries the Host header as the request's authority.
    if let (false, Some(authority)) = (has_host, req.authority()) {
        builder = builder.header("host", authority);
    }
    let body = read_body(req).await;
    let request = match builder.body(body) {
        Ok(r) => r,
        // Spin hands over only what its HTTP parser accepted, so this is
        // out of reach; were it not, the request is answered as a bare
        // `GET /` (the catch-all's 404), never a panic.
        Err(_) => http::Request::builder()
            .uri("/")
            .method("GET")
            .body(Body::Complete(Vec::new()))
            .expect("static request"),
    };

    let (kv, db) = (SpinKv::default(), SpinDb::default());
    let timings = Timings::default();
    let (kv, db, transport) = (
        TimedKv(&kv, &timings),
        TimedDb(&db, &timings),
        TimedTransport(&SpinTransport, &timings),
    );
    let host = Host {
        variables: &SpinVariables,
        kv: &kv,
        db: &db,
        clock: &SpinClock,
        entropy: &SpinEntropy,
        transport: &transport,
    };
    let outcome = service::handle(component, request, &host).await;
    let status = outcome.response.status().as_u16();

    // One line per request: no header values, no body, no query string.
    let ms = started.elapsed().as_millis() as u64;
    let us = started.elapsed().as_micros() as u64;
    let shares = timings.shares();
    let line = LogLine {
        code: outcome.code,
        component: component.name(),
        // Linear memory never shrinks: this is the instance's peak.
        memory_kib: core::arch::wasm32::memory_size(0) * 64,
        method: &method,
        ms,
        path: &path,
        // Where that time went: the stores and Graph (in flight).
        ports: Ports {
            db_calls: shares.db_calls,
            db_us: shares.db_us,
            graph_calls: shares.graph_calls,
            graph_us: shares.graph_us,
            kv_calls: shares.kv_calls,
            kv_us: shares.kv_us,
        },
        request_id: outcome.request_id.as_str(),
        status,
        us,
        variable: outcome.variable.as_deref(),
    };
    eprintln!("{}", serde_json::to_string(&line).unwrap_or_default());

    write_response(outcome.response, out).await;
}

/// The log line, its members in the sorted order the `json!` object it
/// replaces printed them in (a struct serializes without building a map).
#[derive(serde::Serialize)]
struct LogLine<'a> {
    code: Option<&'static str>,
    component: &'static str,
    #[serde(rename = "memoryKiB")]
    memory_kib: usize,
    method: &'a str,
    ms: u64,
    path: &'a str,
    ports: Ports,
    #[serde(rename = "requestId")]
    request_id: &'a str,
    status: u16,
    us: u64,
    /// The variable a `misconfigured` answer names.
    #[serde(skip_serializing_if = "Option::is_none")]
    variable: Option<&'a str>,
}

/// `timing::Shares`, its members sorted likewise.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Ports {
    db_calls: u32,
    db_us: u64,
    graph_calls: u32,
    graph_us: u64,
    kv_calls: u32,
    kv_us: u64,
}

/// Reads at most `MAX_BODY_BYTES`; stops early past the limit.
async fn read_body(req: IncomingRequest) -> Body {
    let mut stream = req.into_body_stream();
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => {
                body.extend_from_slice(&bytes);
                if body.len() > MAX_BODY_BYTES {
                    return Body::TooLarge;
                }
            }
            Err(_) => break,
        }
    }
    Body::Complete(body)
}

async fn write_response(res: http::Response<Vec<u8>>, out: ResponseOutparam) {
    let entries: Vec<(String, Vec<u8>)> = res
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
        .collect();
    let headers = Fields::from_list(&entries).unwrap_or_else(|_| Fields::new());
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(res.status().as_u16());
    let body = res.into_body();
    let _ = out.set_with_body(response, body).await;
}
