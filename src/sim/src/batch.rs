//! `POST /v1.0/$batch` (FACTS §9): 1..20 requests, unique ids, `dependsOn` with
//! 424 for dependants of a failure; every inner request runs the full pipeline.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::auth;
use crate::clock;
use crate::errors::{GraphError, GraphResult};
use crate::faults;
use crate::graph::{self, decode_path, log, log_body, GraphReq, GraphResp, LogInfo};
use crate::headers::header;
use crate::reqlog::redact_headers;
use crate::routes::Reply;
use crate::Sim;

struct Item {
    id: String,
    method: String,
    raw_path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    depends_on: Vec<String>,
}

fn malformed(msg: impl Into<String>) -> GraphError {
    GraphError::bad_request(msg)
}

fn parse_envelope(content_type: Option<&str>, body: &[u8]) -> GraphResult<Vec<Item>> {
    if !content_type.is_some_and(|c| {
        c.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .eq_ignore_ascii_case("application/json")
    }) {
        return Err(GraphError::new(
            415,
            "UnsupportedMediaType",
            "A $batch request body must be application/json.",
        ));
    }
    let v: Value =
        serde_json::from_slice(body).map_err(|_| malformed("Invalid batch payload format."))?;
    let Some(obj) = v.as_object() else {
        return Err(malformed("Invalid batch payload format."));
    };
    if let Some(k) = obj.keys().find(|k| k.as_str() != "requests") {
        return Err(malformed(format!(
            "Invalid batch payload format: unknown property '{k}'."
        )));
    }
    let Some(reqs) = obj.get("requests").and_then(Value::as_array) else {
        return Err(malformed(
            "Invalid batch payload format: 'requests' must be an array.",
        ));
    };
    if reqs.is_empty() {
        return Err(malformed(
            "Invalid batch payload format: the batch contains no requests.",
        ));
    }
    if reqs.len() > 20 {
        return Err(malformed(format!(
            "The number of requests in the batch ({}) exceeds the limit of 20.",
            reqs.len()
        )));
    }
    let mut items: Vec<Item> = Vec::new();
    for (n, r) in reqs.iter().enumerate() {
        let Some(r) = r.as_object() else {
            return Err(malformed(format!("Request {n} is not a JSON object.")));
        };
        if let Some(k) = r.keys().find(|k| {
            ![
                "id",
                "method",
                "url",
                "headers",
                "body",
                "dependsOn",
                "atomicityGroup",
            ]
            .contains(&k.as_str())
        }) {
            return Err(malformed(format!("Request {n}: unknown property '{k}'.")));
        }
        let id = match &r.get("id") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(x)) => x.to_string(),
            _ => return Err(malformed(format!("Request {n}: 'id' is required."))),
        };
        if items.iter().any(|i| i.id.eq_ignore_ascii_case(&id)) {
            return Err(malformed(format!(
                "Batch request ids must be unique; '{id}' is used more than once."
            )));
        }
        let method = r
            .get("method")
            .and_then(Value::as_str)
            .map(|m| m.to_ascii_uppercase())
            .ok_or_else(|| malformed(format!("Request '{id}': 'method' is required.")))?;
        if !["GET", "POST", "PATCH", "PUT", "DELETE"].contains(&method.as_str()) {
            return Err(malformed(format!(
                "Request '{id}': invalid method '{method}'."
            )));
        }
        let url = r
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed(format!("Request '{id}': 'url' is required.")))?;
        if url.contains("://") || url.starts_with("/v1.0") || url.starts_with("/beta") {
            return Err(malformed(format!(
                "Request '{id}': the url must be relative to the version, e.g. '/users/…'."
            )));
        }
        let url = url.trim_start_matches('/');
        let (p, q) = match url.split_once('?') {
            Some((p, q)) => (p, Some(q.to_string())),
            None => (url, None),
        };
        if p.eq_ignore_ascii_case("$batch") {
            return Err(malformed(format!(
                "Request '{id}': a $batch cannot be nested."
            )));
        }
        let mut headers = Vec::new();
        if let Some(h) = r.get("headers") {
            let Some(h) = h.as_object() else {
                return Err(malformed(format!(
                    "Request '{id}': 'headers' must be an object."
                )));
            };
            for (k, v) in h {
                let v = v.as_str().ok_or_else(|| {
                    malformed(format!("Request '{id}': header '{k}' must be a string."))
                })?;
                if k.eq_ignore_ascii_case("authorization") {
                    return Err(malformed(format!(
                        "Request '{id}': inner requests use the batch's own Authorization."
                    )));
                }
                headers.push((k.to_ascii_lowercase(), v.to_string()));
            }
        }
        let body = match r.get("body") {
            None | Some(Value::Null) => Vec::new(),
            Some(b) => {
                if header(&headers, "content-type").is_none() {
                    return Err(malformed(format!(
                        "Request '{id}' has a body but no Content-Type header."
                    )));
                }
                match b {
                    Value::String(s) => s.clone().into_bytes(),
                    other => serde_json::to_vec(other).unwrap_or_default(),
                }
            }
        };
        let depends_on = match r.get("dependsOn") {
            None => vec![],
            Some(Value::Array(a)) => a
                .iter()
                .map(|d| {
                    d.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| malformed(format!("Request '{id}': dependsOn holds ids.")))
                })
                .collect::<GraphResult<Vec<_>>>()?,
            Some(_) => {
                return Err(malformed(format!(
                    "Request '{id}': dependsOn must be an array."
                )))
            }
        };
        items.push(Item {
            id,
            method,
            raw_path: format!("/v1.0/{p}"),
            query: q,
            headers,
            body,
            depends_on,
        });
    }
    // Every dependency exists and the graph has no cycle.
    for it in &items {
        for d in &it.depends_on {
            if !items.iter().any(|o| o.id.eq_ignore_ascii_case(d)) || d.eq_ignore_ascii_case(&it.id)
            {
                return Err(malformed(format!(
                    "Request '{}' depends on unknown request '{d}'.",
                    it.id
                )));
            }
        }
    }
    if order(&items).is_none() {
        return Err(malformed("The dependsOn references form a cycle."));
    }
    Ok(items)
}

/// Execution order honouring `dependsOn` (array order otherwise).
fn order(items: &[Item]) -> Option<Vec<usize>> {
    let mut done: Vec<String> = Vec::new();
    let mut out = Vec::new();
    while out.len() < items.len() {
        let next = (0..items.len()).find(|i| {
            !out.contains(i)
                && items[*i]
                    .depends_on
                    .iter()
                    .all(|d| done.iter().any(|x| x.eq_ignore_ascii_case(d)))
        })?;
        done.push(items[next].id.clone());
        out.push(next);
    }
    Some(out)
}

fn inner_response(id: &str, r: &GraphResp) -> Value {
    let mut h = Map::new();
    for (k, v) in &r.headers {
        if k.eq_ignore_ascii_case("request-id") {
            continue;
        }
        h.insert(k.clone(), json!(v));
    }
    let mut o = Map::new();
    o.insert("id".into(), json!(id));
    o.insert("status".into(), json!(r.status));
    o.insert("headers".into(), Value::Object(h));
    if let Some(b) = &r.body {
        o.insert("body".into(), b.clone());
    }
    Value::Object(o)
}

pub async fn process(sim: &Arc<Sim>, req: GraphReq) -> GraphResp {
    let request_id = uuid::Uuid::new_v4().to_string();
    let crid = header(&req.headers, "client-request-id").map(str::to_string);
    let (path, _) = decode_path(&req.raw_path);
    let (seq, auth, fault, latency) = {
        let mut st = sim.lock();
        let seq = st.next_seq();
        let auth = auth::check_bearer(&st, header(&req.headers, "authorization"));
        let fault = if auth.is_ok() {
            faults::take(&mut st.faults, &req.method, &path)
        } else {
            None
        };
        (seq, auth, fault, st.latency_ms)
    };
    graph::wait(latency, fault.as_ref()).await;
    let info = || LogInfo {
        seq,
        kind: "batch",
        method: &req.method,
        path: path.clone(),
        raw_path: &req.raw_path,
        query: req.query.clone(),
        headers: redact_headers(&req.headers),
        body: log_body(&req.body),
        request_id: &request_id,
        batch_parent: None,
    };
    let finish = |outcome: GraphResult<Reply>| {
        let mut st = sim.lock();
        let now = st.now();
        let (resp, code) = graph::respond(outcome, now, &request_id, crid.as_deref());
        log(&mut st, info(), resp.status, code);
        resp
    };
    let commit = fault.as_ref().is_some_and(|f| f.commit);
    if fault.as_ref().is_some_and(|f| f.connection_reset) && !commit {
        let mut st = sim.lock();
        log(&mut st, info(), 0, Some("connectionReset".into()));
        return graph::dropped();
    }
    if let Err(e) = auth {
        return finish(Err(e));
    }
    if let Some(e) = fault
        .as_ref()
        .filter(|f| !f.commit)
        .and_then(graph::fault_error)
    {
        return finish(Err(e));
    }
    if req.method != "POST" {
        return finish(Err(GraphError::new(
            405,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        )));
    }
    let items = match parse_envelope(header(&req.headers, "content-type"), &req.body) {
        Ok(i) => i,
        Err(e) => return finish(Err(e)),
    };
    let auth_header = header(&req.headers, "authorization").map(str::to_string);
    let mut statuses: HashMap<String, u16> = HashMap::new();
    let mut responses = Vec::new();
    for idx in order(&items).unwrap_or_default() {
        let it = &items[idx];
        let failed_dep = it.depends_on.iter().any(|d| {
            statuses
                .get(&d.to_ascii_lowercase())
                .is_none_or(|s| *s >= 400)
        });
        let resp = if failed_dep {
            let now = sim.lock().now();
            let e = GraphError::new(
                424,
                "FailedDependency",
                "The request was not executed because a request it depends on failed.",
            );
            GraphResp {
                status: 424,
                headers: vec![("Content-Type".into(), "application/json".into())],
                body: Some(e.body(
                    &clock::inner_date(now),
                    &uuid::Uuid::new_v4().to_string(),
                    None,
                )),
                drop: false,
            }
        } else {
            let mut headers = it.headers.clone();
            if let Some(a) = &auth_header {
                headers.push(("authorization".into(), a.clone()));
            }
            let inner = GraphReq {
                method: it.method.clone(),
                raw_path: it.raw_path.clone(),
                query: it.query.clone(),
                headers,
                body: it.body.clone(),
                batch_parent: Some(seq),
            };
            let r = graph::process(sim, inner).await;
            if r.drop {
                let mut st = sim.lock();
                log(&mut st, info(), 0, Some("connectionReset".into()));
                return r;
            }
            r
        };
        statuses.insert(it.id.to_ascii_lowercase(), resp.status);
        responses.push(inner_response(&it.id, &resp));
    }
    // A committing fault on the envelope: every item ran, the answer is lost or replaced.
    if let Some(f) = fault.as_ref().filter(|f| f.commit) {
        if f.connection_reset {
            let mut st = sim.lock();
            log(&mut st, info(), 0, Some("connectionReset".into()));
            return graph::dropped();
        }
        if let Some(e) = graph::fault_error(f) {
            return finish(Err(e));
        }
    }
    finish(Ok(Reply::ok(json!({ "responses": responses }))))
}
