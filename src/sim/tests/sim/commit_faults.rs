//! Faults that commit (`"commit": true`): the request runs and changes state, then its
//! answer is replaced (a 504 after the backend committed: https://learn.microsoft.com/graph/errors)
//! or the connection is dropped.

use serde_json::json;

use crate::common::*;

#[test]
fn a_504_after_the_write_took_effect() {
    let s = Sim::start();
    let before = s.user_state(BOB)["signInSessionsValidFromDateTime"].clone();
    s.fault(json!({"pathPattern": "revokeSignInSessions$", "method": "POST", "status": 504, "commit": true}));
    assert_eq!(
        s.control("GET", "/_sim/faults", None).body[0]["commit"],
        true
    );
    let r = s.send_empty("POST", &format!("/v1.0/users/{BOB}/revokeSignInSessions"));
    r.expect(504, "GatewayTimeout");
    assert!(r.body["error"]["innerError"]["request-id"].is_string());
    assert_ne!(
        s.user_state(BOB)["signInSessionsValidFromDateTime"],
        before,
        "the write took effect"
    );
    let log = s.last_request();
    assert_eq!(log["status"], 504);
    assert_eq!(log["graphErrorCode"], "GatewayTimeout");
    // Without commit nothing changes (unchanged behaviour).
    let before = s.user_state(ALICE)["signInSessionsValidFromDateTime"].clone();
    s.fault(json!({"pathPattern": "revokeSignInSessions$", "status": 504}));
    s.send_empty("POST", &format!("/v1.0/users/{ALICE}/revokeSignInSessions"))
        .expect(504, "GatewayTimeout");
    assert_eq!(
        s.user_state(ALICE)["signInSessionsValidFromDateTime"],
        before
    );
    // A committed refusal stays a refusal: the handler's own error is replaced, no state change.
    s.fault(json!({"pathPattern": "temporaryAccessPassMethods$", "status": 503, "retryAfter": 3, "commit": true}));
    let r = s.send(
        "POST",
        &format!("/v1.0/users/{FRANK}/authentication/temporaryAccessPassMethods"),
        &json!({}),
    );
    r.expect(503, "ServiceUnavailable");
    assert_eq!(r.header("retry-after"), Some("3"));
    assert!(s.user_state(FRANK)["temporaryAccessPass"].is_null());
}

#[test]
fn a_dropped_connection_after_the_write() {
    let s = Sim::start();
    s.fault(json!({"pathPattern": "temporaryAccessPassMethods$", "method": "POST", "connectionReset": true, "commit": true}));
    let auth = format!("Bearer {}", s.token);
    let path = format!("/v1.0/users/{BOB}/authentication/temporaryAccessPassMethods");
    let r = s.raw(
        "POST",
        &path,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        Some("{}"),
    );
    assert!(r.is_err(), "connection dropped");
    assert!(
        s.user_state(BOB)["temporaryAccessPass"]["temporaryAccessPass"].is_string(),
        "the pass exists"
    );
    let log = s.last_request();
    assert_eq!(log["status"], 0);
    assert_eq!(log["graphErrorCode"], "connectionReset");
}

#[test]
fn batch_items_and_envelopes_commit() {
    let s = Sim::start();
    let fido = "3691527d-f3b7-54ac-933f-e76d934c612a";
    s.fault(
        json!({"pathPattern": "fido2Methods/", "method": "DELETE", "status": 504, "commit": true}),
    );
    let r = s.send(
        "POST",
        "/v1.0/$batch",
        &json!({"requests": [
            {"id": "del", "method": "DELETE", "url": format!("/users/{ALICE}/authentication/fido2Methods/{fido}")},
            {"id": "after", "method": "GET", "url": format!("/users/{ALICE}/authentication/fido2Methods"), "dependsOn": ["del"]},
        ]}),
    );
    r.expect(200, "");
    let rs = r.body["responses"].as_array().unwrap();
    let del = rs.iter().find(|x| x["id"] == "del").unwrap();
    assert_eq!(del["status"], 504);
    assert_eq!(del["body"]["error"]["code"], "GatewayTimeout");
    assert_eq!(
        rs.iter().find(|x| x["id"] == "after").unwrap()["status"],
        424
    );
    assert!(
        !s.method_ids(ALICE).contains(&fido.to_string()),
        "deleted anyway"
    );
    let inner = s
        .requests()
        .into_iter()
        .find(|e| e["method"] == "DELETE")
        .unwrap();
    assert_eq!(inner["status"], 504);
    assert!(inner["batchParent"].is_u64());
    // The envelope itself: every item ran, the answer is a 503.
    let before = s.user_state(BOB)["signInSessionsValidFromDateTime"].clone();
    s.fault(json!({"pathPattern": "^/v1\\.0/\\$batch$", "status": 503, "commit": true}));
    let r = s.send(
        "POST",
        "/v1.0/$batch",
        &json!({"requests": [{"id": "1", "method": "POST", "url": format!("/users/{BOB}/revokeSignInSessions")}]}),
    );
    r.expect(503, "ServiceUnavailable");
    assert_ne!(s.user_state(BOB)["signInSessionsValidFromDateTime"], before);
    let env = s
        .requests()
        .into_iter()
        .rev()
        .find(|e| e["kind"] == "batch")
        .unwrap();
    assert_eq!(env["status"], 503);
}

#[test]
fn commit_needs_an_answer_to_replace() {
    let s = Sim::start();
    let r = s.control(
        "POST",
        "/_sim/faults",
        Some(json!({"pathPattern": "x", "latencyMs": 10, "commit": true})),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    // The token endpoint: the token is issued but the answer is a 503.
    s.fault(json!({"pathPattern": "/oauth2/v2.0/token$", "status": 503, "commit": true}));
    let before = s.state()["activeTokens"].as_u64().unwrap();
    let scope = format!("{}/.default", s.base);
    let r = s.token_request(
        TENANT_ID,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("scope", &scope),
        ],
    );
    assert_eq!(r.status, 503);
    assert_eq!(s.state()["activeTokens"].as_u64().unwrap(), before + 1);
    assert_eq!(s.last_request()["status"], 503);
}
