//! Rules 11 and 12: `$batch` envelope rules, dependsOn, inner validation/auth/faults/logging.

use serde_json::{json, Value};

use crate::common::*;

fn batch(s: &Sim, requests: Value) -> Resp {
    s.send("POST", "/v1.0/$batch", &json!({ "requests": requests }))
}

fn by_id<'a>(r: &'a Resp, id: &str) -> &'a Value {
    r.body["responses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == id)
        .unwrap_or_else(|| panic!("no response {id}: {}", r.body))
}

#[test]
fn batch_runs_each_request_through_the_pipeline() {
    let s = Sim::start();
    let r = batch(
        &s,
        json!([
            {"id": "user", "method": "GET", "url": format!("/users/{ALICE}?$select=id,accountEnabled")},
            {"id": "tap-policy", "method": "GET", "url": "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/TemporaryAccessPass"},
            {"id": "existing-tap", "method": "GET", "url": format!("users/{BOB}/authentication/temporaryAccessPassMethods")},
            {"id": "bad", "method": "GET", "url": format!("/users/{ALICE}/nope")},
            {"id": "guest", "method": "GET", "url": "/users/jo_fabrikam.com%23EXT%23@contoso.onmicrosoft.com"},
        ]),
    );
    r.expect(200, "");
    assert_eq!(by_id(&r, "user")["status"], 200);
    assert_eq!(by_id(&r, "user")["body"]["accountEnabled"], true);
    assert_eq!(by_id(&r, "tap-policy")["body"]["id"], "TemporaryAccessPass");
    assert_eq!(by_id(&r, "existing-tap")["body"]["value"], json!([]));
    assert_eq!(by_id(&r, "bad")["status"], 400);
    assert_eq!(by_id(&r, "bad")["body"]["error"]["code"], "BadRequest");
    assert_eq!(by_id(&r, "guest")["status"], 200);
    let log = s.requests();
    let env = log.iter().find(|e| e["kind"] == "batch").unwrap();
    let inner: Vec<&Value> = log
        .iter()
        .filter(|e| e["batchParent"] == env["seq"])
        .collect();
    assert_eq!(inner.len(), 5);
    assert!(inner.iter().all(|e| e["kind"] == "graph"));
    assert!(inner
        .iter()
        .all(|e| e["seq"].as_u64() > env["seq"].as_u64()));
    assert!(inner
        .iter()
        .any(|e| e["path"] == format!("/v1.0/users/{JO_GUEST_UPN}")));
    assert!(inner
        .iter()
        .any(|e| e["status"] == 400 && e["graphErrorCode"] == "BadRequest"));
}

#[test]
fn malformed_batches_are_400() {
    let s = Sim::start();
    let one = json!({"id": "1", "method": "GET", "url": "/users"});
    let many: Vec<Value> = (0..21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users"}))
        .collect();
    batch(&s, json!(many)).expect(400, "BadRequest");
    batch(&s, json!([])).expect(400, "BadRequest");
    batch(&s, json!([{"id": "a", "method": "GET", "url": "/users"}, {"id": "A", "method": "GET", "url": "/users"}]))
        .expect(400, "BadRequest");
    batch(&s, json!([{"id": "a", "method": "POST", "url": format!("/users/{BOB}/authentication/temporaryAccessPassMethods"), "body": {}}]))
        .expect(400, "BadRequest");
    batch(
        &s,
        json!([{"id": "a", "method": "GET", "url": "https://graph.microsoft.com/v1.0/users"}]),
    )
    .expect(400, "BadRequest");
    batch(
        &s,
        json!([{"id": "a", "method": "GET", "url": "/users", "dependsOn": ["zzz"]}]),
    )
    .expect(400, "BadRequest");
    batch(&s, json!([{"id": "a", "method": "GET"}])).expect(400, "BadRequest");
    s.send(
        "POST",
        "/v1.0/$batch",
        &json!({"requests": [one.clone()], "extra": 1}),
    )
    .expect(400, "BadRequest");
    // No inner request ran.
    assert!(s.requests().iter().all(|e| e["batchParent"].is_null()));
    // Auth is checked on the envelope.
    s.call(
        "POST",
        "/v1.0/$batch",
        &[("content-type", "application/json")],
        Some(&json!({"requests": [one]}).to_string()),
    )
    .expect(401, "InvalidAuthenticationToken");
    batch(
        &s,
        json!([{"id": "1", "method": "GET", "url": "/users?$top=1"}]),
    )
    .expect(200, "");
}

#[test]
fn depends_on_orders_and_fails_dependants() {
    let s = Sim::start();
    let tap = format!("/users/{BOB}/authentication/temporaryAccessPassMethods");
    let r = batch(
        &s,
        json!([
            {"id": "list", "method": "GET", "url": tap, "dependsOn": ["create"]},
            {"id": "create", "method": "POST", "url": tap, "headers": {"Content-Type": "application/json"}, "body": {"lifetimeInMinutes": 60}},
            {"id": "ghost", "method": "GET", "url": "/users/ghost@contoso.com"},
            {"id": "after-ghost", "method": "GET", "url": "/users", "dependsOn": ["ghost"]},
        ]),
    );
    r.expect(200, "");
    assert_eq!(by_id(&r, "create")["status"], 201);
    assert!(by_id(&r, "create")["body"]["temporaryAccessPass"].is_string());
    assert_eq!(
        by_id(&r, "list")["body"]["value"].as_array().unwrap().len(),
        1
    );
    assert_eq!(by_id(&r, "ghost")["status"], 404);
    assert_eq!(by_id(&r, "after-ghost")["status"], 424);
    let log = s.requests();
    let create = log
        .iter()
        .position(|e| e["method"] == "POST" && e["kind"] == "graph")
        .unwrap();
    let list = log
        .iter()
        .position(|e| {
            e["method"] == "GET"
                && e["path"]
                    .as_str()
                    .unwrap()
                    .ends_with("temporaryAccessPassMethods")
        })
        .unwrap();
    assert!(create < list, "create ran first");
    assert_eq!(
        log.iter().filter(|e| e["kind"] == "graph").count(),
        3,
        "the 424 item never ran"
    );
    // Cycles are malformed.
    batch(
        &s,
        json!([
            {"id": "a", "method": "GET", "url": "/users", "dependsOn": ["b"]},
            {"id": "b", "method": "GET", "url": "/users", "dependsOn": ["a"]},
        ]),
    )
    .expect(400, "BadRequest");
}

#[test]
fn inner_requests_use_outer_token_and_permissions() {
    let s = Sim::start();
    let ro = s.fetch_token(READONLY_CLIENT_ID, READONLY_SECRET);
    let body = json!({"requests": [
        {"id": "u", "method": "GET", "url": format!("/users/{BOB}")},
        {"id": "t", "method": "POST", "url": format!("/users/{BOB}/authentication/temporaryAccessPassMethods"), "headers": {"content-type": "application/json"}, "body": {}},
        {"id": "p", "method": "POST", "url": format!("/users/{BOB}/authentication/phoneMethods"), "headers": {"content-type": "application/json"}, "body": {"phoneNumber": "+1 4255550111", "phoneType": "mobile", "bogus": true}},
    ]});
    let r = s.call(
        "POST",
        "/v1.0/$batch",
        &[
            ("authorization", &format!("Bearer {ro}")),
            ("content-type", "application/json"),
        ],
        Some(&body.to_string()),
    );
    r.expect(200, "");
    assert_eq!(by_id(&r, "u")["status"], 200);
    assert_eq!(by_id(&r, "t")["status"], 403);
    assert_eq!(
        by_id(&r, "t")["body"]["error"]["code"],
        "Authorization_RequestDenied"
    );
    // Permission is checked before the body.
    assert_eq!(by_id(&r, "p")["status"], 403);
    assert_eq!(s.method_ids(BOB), vec![PASSWORD_ID.to_string()]);
    // Inner Authorization headers are not allowed to override the envelope's.
    batch(&s, json!([{"id": "x", "method": "GET", "url": "/users", "headers": {"Authorization": "Bearer x"}}]))
        .expect(400, "BadRequest");
}

#[test]
fn throttled_inner_item_carries_its_own_retry_after() {
    let s = Sim::start();
    s.fault(json!({
        "pathPattern": "authenticationMethodConfigurations/TemporaryAccessPass$",
        "status": 429, "retryAfter": 7, "count": 1
    }));
    let reqs = json!([
        {"id": "user", "method": "GET", "url": format!("/users/{ALICE}")},
        {"id": "tap-policy", "method": "GET", "url": "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/TemporaryAccessPass"},
    ]);
    let r = batch(&s, reqs.clone());
    r.expect(200, "");
    assert_eq!(by_id(&r, "user")["status"], 200);
    let t = by_id(&r, "tap-policy");
    assert_eq!(t["status"], 429);
    assert_eq!(t["headers"]["Retry-After"], "7");
    assert_eq!(t["body"]["error"]["code"], "TooManyRequests");
    // Count honoured: the next batch is clean.
    let r = batch(&s, reqs);
    assert_eq!(by_id(&r, "tap-policy")["status"], 200);
    // A throttled create changed nothing.
    s.fault(json!({"pathPattern": "temporaryAccessPassMethods$", "method": "POST", "status": 429, "retryAfter": 3}));
    let r = batch(
        &s,
        json!([{"id": "c", "method": "POST", "url": format!("/users/{BOB}/authentication/temporaryAccessPassMethods"), "headers": {"Content-Type": "application/json"}, "body": {}}]),
    );
    assert_eq!(by_id(&r, "c")["status"], 429);
    assert_eq!(s.method_ids(BOB), vec![PASSWORD_ID.to_string()]);
}

/// What `POST /v1/reset` relies on (rule 11): a serial chain of deletions
/// runs in `dependsOn` order whatever the array order, and the first
/// refusal stops it: everything after answers 424, untouched and unlogged.
#[test]
fn a_chain_of_deletions_runs_in_depends_on_order_and_stops_at_a_refusal() {
    let s = Sim::start();
    let base = format!("/users/{ALICE}/authentication");
    // The mobile goes after the alternate only because of dependsOn: in
    // array order Graph would refuse it (an alternate still exists).
    let r = batch(
        &s,
        json!([
            {"id": "mobile", "method": "DELETE", "url": format!("{base}/phoneMethods/{MOBILE_ID}"), "dependsOn": ["alternate"]},
            {"id": "alternate", "method": "DELETE", "url": format!("{base}/phoneMethods/{ALT_MOBILE_ID}")},
        ]),
    );
    r.expect(200, "");
    assert_eq!(by_id(&r, "alternate")["status"], 204);
    assert_eq!(by_id(&r, "mobile")["status"], 204);

    // The default (Authenticator) refused while others remain: 400, and the
    // request chained after it never runs.
    s.control("DELETE", "/_sim/requests", None);
    let authenticator = "08ed9ce6-1607-535e-8d5a-1d437e323d6f";
    let fido2 = "3691527d-f3b7-54ac-933f-e76d934c612a";
    let office = format!("{base}/phoneMethods/{OFFICE_ID}");
    let r = batch(
        &s,
        json!([
            {"id": "office", "method": "DELETE", "url": office, "dependsOn": ["default"]},
            {"id": "default", "method": "DELETE", "url": format!("{base}/microsoftAuthenticatorMethods/{authenticator}"), "dependsOn": ["fido2"]},
            {"id": "fido2", "method": "DELETE", "url": format!("{base}/fido2Methods/{fido2}")},
        ]),
    );
    r.expect(200, "");
    assert_eq!(by_id(&r, "fido2")["status"], 204);
    assert_eq!(by_id(&r, "default")["status"], 400);
    assert_eq!(by_id(&r, "default")["body"]["error"]["code"], "badRequest");
    assert_eq!(by_id(&r, "office")["status"], 424);
    assert_eq!(
        by_id(&r, "office")["body"]["error"]["code"],
        "FailedDependency"
    );
    let ran: Vec<String> = s
        .requests()
        .iter()
        .filter(|e| e["kind"] == "graph")
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ran.len(), 2, "{ran:#?}");
    assert!(ran[0].ends_with(fido2) && ran[1].ends_with(authenticator));
    let held = s.method_ids(ALICE);
    assert!(!held.contains(&fido2.to_string()));
    assert!(held.contains(&authenticator.to_string()) && held.contains(&OFFICE_ID.to_string()));
}
