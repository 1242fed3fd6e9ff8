//! Spin request in, Spin response out: the only translation layer.

use futures::StreamExt;
use spin_sdk::http::{Fields, IncomingRequest, OutgoingResponse, ResponseOutparam};

use mfa_core::ports::Host;
use mfa_core::service::{self, Body, Component, MAX_BODY_BYTES};
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
        // An unparseable method or URI: answer as a bad request.
        Err(_) => http::Request::builder()
            .uri("/")
            .method("GET")
            .header("x-mfa-invalid", "1")
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
    eprintln!(
        "{}",
        serde_json::json!({
            "component": component.name(),
            "requestId": outcome.request_id.as_str(),
            "method": method,
            "path": path,
            "status": status,
            "code": outcome.code,
            "ms": started.elapsed().as_millis() as u64,
            "us": started.elapsed().as_micros() as u64,
            // Where that time went: the stores and Graph (in flight).
            "ports": timings.shares(),
            // Linear memory never shrinks: this is the instance's peak.
            "memoryKiB": core::arch::wasm32::memory_size(0) * 64,
        })
    );

    write_response(outcome.response, out).await;
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
