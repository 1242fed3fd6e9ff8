//! The control API under `/_sim/` (not Graph, never logged, no auth): health,
//! reset, state, request log, faults, clock.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::faults::Fault;
use crate::fixture;
use crate::Sim;

fn bad(msg: impl Into<String>) -> (u16, Value) {
    (400, json!({ "error": msg.into() }))
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
    match (method, path) {
        ("GET", "/_sim/health") => (200, json!({ "status": "ok" })),
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
                    *cur = st;
                    (200, json!({ "status": "reset", "users": users }))
                }
                Err(e) => bad(format!("{e:#}")),
            }
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
