//! What the operation tests share: calling the app, and reading what the
//! simulated tenant saw and the app's audit table holds.

use mfa_tests::{Reply, Sim, Spin};
use serde_json::Value;

/// `POST path` with a bearer key and any extra headers.
pub fn post(app: &Spin, path: &str, key: &str, body: &Value, extra: &[(&str, &str)]) -> Reply {
    let auth = format!("Bearer {key}");
    let mut h = vec![("authorization", auth.as_str())];
    h.extend_from_slice(extra);
    app.client().post_json(path, body, &h)
}

/// `GET path` with a bearer key and any extra headers.
pub fn get(app: &Spin, path: &str, key: &str, extra: &[(&str, &str)]) -> Reply {
    let auth = format!("Bearer {key}");
    let mut h = vec![("authorization", auth.as_str())];
    h.extend_from_slice(extra);
    app.client().send("GET", path, &h, None)
}

/// `GET /readyz` as a caller holding `audit:read`: the whole readiness
/// report, permissions and licences included.
pub fn readyz(app: &Spin) -> Value {
    let r = get(app, "/readyz", mfa_tests::demo::admin_key(), &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

/// A problem+json refusal with this status and code, naming `field`.
pub fn assert_refused(r: &Reply, status: u16, code: &str, field: &str, case: &str) {
    assert_eq!(r.status, status, "{case}: {}", r.body);
    assert_eq!(
        r.header("content-type"),
        Some("application/problem+json"),
        "{case}"
    );
    let p = r.json();
    assert_eq!(
        (p["code"].as_str(), p["field"].as_str()),
        (Some(code), Some(field)),
        "{case}"
    );
}

/// Graph writes (anything but GET and the token/batch envelopes) in the log.
pub fn writes(sim: &Sim) -> Vec<Value> {
    sim.requests()
        .into_iter()
        .filter(|r| r["kind"] == "graph" && r["method"] != "GET")
        .collect()
}

/// The methods the tenant holds for a user (`/_sim/state`).
pub fn methods_of(sim: &Sim, user_id: &str) -> Vec<Value> {
    let state = sim.state();
    state["users"]
        .as_array()
        .and_then(|users| users.iter().find(|u| u["id"] == user_id))
        .and_then(|u| u["methods"].as_array().cloned())
        .unwrap_or_default()
}

/// Rows of the audit table, read straight from the app's SQLite file.
pub fn audit_rows(app: &Spin) -> Vec<String> {
    let db = rusqlite::Connection::open(app.state_dir().join("sqlite_db.db")).unwrap();
    let mut stmt = db
        .prepare("SELECT audit_id, caller, operation, outcome, status, code, details, ticket, request_id FROM audit_records ORDER BY seq")
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok(format!(
                "{}|{}|{}|{}|{}|{:?}|{}|{:?}|{}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, Option<String>>(7)?,
                r.get::<_, String>(8)?,
            ))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// Standard Webhooks headers for `body`, signed now with the demo
/// `servicenow` secret (scopes tap, reset, phone).
pub fn webhook_headers(id: &str, body: &str) -> Vec<(String, String)> {
    use base64::Engine as _;
    let secret = base64::engine::general_purpose::STANDARD
        .decode(&mfa_tests::demo::webhook_secret()["whsec_".len()..])
        .unwrap();
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sig = mfa_core::auth::webhook::sign(&secret, id, ts, body.as_bytes());
    [
        ("content-type", "application/json".to_string()),
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", sig),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// POSTs a webhook delivery to `path`.
pub fn send_webhook(app: &Spin, path: &str, headers: &[(String, String)], body: &str) -> Reply {
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    app.client()
        .send("POST", path, &h, Some(body.as_bytes().to_vec()))
}
