//! The control API under `/_sim/` (not Graph, never logged, no auth): health,
//! reset, state, request log, faults, clock, quirks, latency, app permissions.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::faults::Fault;
use crate::fixture;
use crate::Sim;

fn bad(msg: impl Into<String>) -> (u16, Value) {
    (400, json!({ "error": msg.into() }))
}

/// `GET`/`POST /_sim/apps/{clientId}/permissions`: the app's granted application
/// permissions; a change affects tokens issued afterwards (a token keeps its grants).
fn app_permissions(sim: &Arc<Sim>, method: &str, rest: &str, body: &[u8]) -> (u16, Value) {
    let Some(client_id) = rest.strip_suffix("/permissions") else {
        return (
            404,
            json!({ "error": format!("no control endpoint {method} /_sim/apps/{rest}") }),
        );
    };
    let client_id = percent_encoding::percent_decode_str(client_id)
        .decode_utf8_lossy()
        .into_owned();
    let mut st = sim.lock();
    let Some(app) = st
        .apps
        .iter_mut()
        .find(|a| a.client_id.eq_ignore_ascii_case(&client_id))
    else {
        return (
            404,
            json!({ "error": format!("no app with client id {client_id}") }),
        );
    };
    match method {
        "GET" => {}
        "POST" => {
            let v: Value = match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(e) => return bad(format!("body is not JSON: {e}")),
            };
            let Some(o) = v.as_object() else {
                return bad("expected {\"permissions\": [\"…\"]}");
            };
            if let Some(k) = o.keys().find(|k| k.as_str() != "permissions") {
                return bad(format!("unknown key '{k}' (allowed: permissions)"));
            }
            let Some(list) = o.get("permissions").and_then(Value::as_array) else {
                return bad("permissions (array of strings) is required");
            };
            let mut perms = Vec::new();
            for p in list {
                match p.as_str() {
                    Some(s) if !s.trim().is_empty() => perms.push(s.to_string()),
                    _ => return bad("permissions must be non-empty strings"),
                }
            }
            app.permissions = perms;
        }
        _ => {
            return (
                404,
                json!({ "error": format!("no control endpoint {method} /_sim/apps/{rest}") }),
            )
        }
    }
    (
        200,
        json!({ "clientId": app.client_id, "permissions": app.permissions }),
    )
}

pub fn handle(
    sim: &Arc<Sim>,
    method: &str,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> (u16, Value) {
    let blank = body.iter().all(|b| b.is_ascii_whitespace());
    let parsed = || -> Result<Value, (u16, Value)> {
        serde_json::from_slice(body).map_err(|e| bad(format!("body is not JSON: {e}")))
    };
    if let Some(rest) = path.strip_prefix("/_sim/apps/") {
        return app_permissions(sim, method, rest, body);
    }
    match (method, path) {
        ("GET", "/_sim/health") => (200, json!({ "status": "ok" })),
        ("POST", "/_sim/tokens") => {
            let body = if blank { Ok(json!({})) } else { parsed() };
            match body.and_then(|b| crate::signing::mint(&sim.lock(), &b).map_err(bad)) {
                Ok(v) => (200, v),
                Err(e) => e,
            }
        }
        ("POST", "/_sim/signing-keys") => {
            match parsed().and_then(|b| crate::signing::publish(&mut sim.lock(), &b).map_err(bad)) {
                Ok(v) => (200, v),
                Err(e) => e,
            }
        }
        ("GET", "/_sim/quirks") => (200, sim.lock().quirks.to_json()),
        ("POST", "/_sim/quirks") => {
            let v = match parsed() {
                Ok(v) => v,
                Err(e) => return e,
            };
            let Some(o) = v.as_object() else {
                return bad("quirks: expected a JSON object");
            };
            const KEYS: [&str; 4] = [
                "membershipPageSize",
                "rolePageSize",
                "replicationLagReads",
                "tokenExpiresInAsString",
            ];
            if let Some(k) = o.keys().find(|k| !KEYS.contains(&k.as_str())) {
                return bad(format!(
                    "quirks: unknown key '{k}' (allowed: {})",
                    KEYS.join(", ")
                ));
            }
            let mut st = sim.lock();
            // Keys not sent keep their value; `null` clears a page size.
            let mut merged = st.quirks.to_json();
            for (k, val) in o {
                merged[k] = val.clone();
            }
            match fixture::quirks_from(merged.as_object().expect("object"), "quirks") {
                Ok(q) => {
                    st.quirks = q;
                    (200, q.to_json())
                }
                Err(e) => bad(format!("{e:#}")),
            }
        }
        ("POST", "/_sim/reset") => {
            // No body, or `{}`, re-seeds from the fixture file.
            let empty_object = serde_json::from_slice::<Value>(body)
                .ok()
                .is_some_and(|v| v.as_object().is_some_and(|o| o.is_empty()));
            let doc = if blank || empty_object {
                match sim.reload_fixture() {
                    Ok(d) => d,
                    Err(e) => return bad(format!("{e:#}")),
                }
            } else {
                match parsed() {
                    Ok(d) => d,
                    Err(e) => return e,
                }
            };
            let base = sim.lock().base_url.clone();
            match fixture::build_state(&doc, &base) {
                Ok(mut st) => {
                    let users = st.users.len();
                    let mut cur = sim.lock();
                    // Sequence numbers stay monotonic so `?since=` never goes back in time.
                    st.next_seq = cur.next_seq;
                    st.latency_ms = cur.latency_ms;
                    *cur = st;
                    (200, json!({ "status": "reset", "users": users }))
                }
                Err(e) => bad(format!("{e:#}")),
            }
        }
        ("GET", "/_sim/latency") => (200, json!({ "ms": sim.lock().latency_ms })),
        ("POST", "/_sim/latency") => {
            let v = match parsed() {
                Ok(v) => v,
                Err(e) => return e,
            };
            let Some(o) = v.as_object() else {
                return bad("latency: expected {\"ms\": n}");
            };
            if let Some(k) = o.keys().find(|k| k.as_str() != "ms") {
                return bad(format!("latency: unknown key '{k}' (allowed: ms)"));
            }
            let Some(ms) = o
                .get("ms")
                .and_then(Value::as_u64)
                .filter(|&ms| ms <= 60_000)
            else {
                return bad("latency: ms (integer, 0..=60000) is required");
            };
            sim.lock().latency_ms = ms;
            (200, json!({ "ms": ms }))
        }
        ("GET", "/_sim/state") => (200, sim.lock().snapshot()),
        ("GET", "/_sim/requests") => {
            let since = query
                .and_then(|q| {
                    form_urlencoded::parse(q.as_bytes())
                        .find(|(k, _)| k == "since")
                        .map(|(_, v)| v.to_string())
                })
                .map(|v| v.parse::<u64>());
            let since = match since {
                None => 0,
                Some(Ok(n)) => n,
                Some(Err(_)) => return bad("since must be a sequence number"),
            };
            let st = sim.lock();
            let mut entries: Vec<_> = st.log.iter().filter(|e| e.seq > since).cloned().collect();
            entries.sort_by_key(|e| e.seq);
            (200, serde_json::to_value(entries).unwrap_or(Value::Null))
        }
        ("DELETE", "/_sim/requests") => {
            let mut st = sim.lock();
            let n = st.log.len();
            st.log.clear();
            (200, json!({ "cleared": n }))
        }
        ("GET", "/_sim/faults") => (200, json!(sim.lock().faults)),
        ("DELETE", "/_sim/faults") => {
            let mut st = sim.lock();
            let n = st.faults.len();
            st.faults.clear();
            (200, json!({ "cleared": n }))
        }
        ("POST", "/_sim/faults") => {
            let v = match parsed() {
                Ok(v) => v,
                Err(e) => return e,
            };
            let list = match v {
                Value::Array(a) => a,
                other => vec![other],
            };
            let mut compiled = Vec::new();
            for f in list {
                let f: Fault = match serde_json::from_value(f) {
                    Ok(f) => f,
                    Err(e) => return bad(format!("fault: {e}")),
                };
                match f.compile() {
                    Ok(f) => compiled.push(f),
                    Err(e) => return bad(format!("fault: {e}")),
                }
            }
            let mut st = sim.lock();
            st.faults.extend(compiled);
            (201, json!(st.faults))
        }
        ("GET", "/_sim/clock") | ("POST", "/_sim/clock") => {
            let mut st = sim.lock();
            if method == "POST" {
                let v: Value = match serde_json::from_slice(body) {
                    Ok(v) => v,
                    Err(e) => return bad(format!("body is not JSON: {e}")),
                };
                let Some(n) = v.get("advanceSeconds").and_then(Value::as_i64) else {
                    return bad("advanceSeconds (integer) is required");
                };
                if n < 0 {
                    return bad("the clock only moves forward");
                }
                st.clock.advance(n);
            }
            (
                200,
                json!({ "now": crate::clock::graph(st.now()), "offsetSeconds": st.clock.offset_secs() }),
            )
        }
        _ => (
            404,
            json!({ "error": format!("no control endpoint {method} {path}") }),
        ),
    }
}
