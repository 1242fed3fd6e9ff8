//! The control API: faults, reset, request log, clock, state.

use std::time::Instant;

use serde_json::json;

use crate::common::*;

#[test]
fn health_and_unlogged_control() {
    let s = Sim::start();
    let r = s.control("GET", "/_sim/health", None);
    assert_eq!(r.status, 200);
    s.control("DELETE", "/_sim/requests", None);
    s.state();
    assert!(s.requests().is_empty(), "control calls are not logged");
}

#[test]
fn faults_apply_count_times_then_clear() {
    let s = Sim::start();
    let path = format!("/v1.0/users/{ALICE}");
    s.fault(json!({"pathPattern": format!("^/v1\\.0/users/{ALICE}$"), "status": 503, "retryAfter": 2, "count": 2}));
    let listed = s.control("GET", "/_sim/faults", None);
    assert_eq!(listed.body[0]["count"], 2);
    for _ in 0..2 {
        let r = s.get_with(
            &path,
            &[("client-request-id", "11111111-2222-3333-4444-555555555555")],
        );
        r.expect(503, "ServiceUnavailable");
        assert_eq!(r.header("retry-after"), Some("2"));
        assert_eq!(
            r.header("client-request-id"),
            Some("11111111-2222-3333-4444-555555555555")
        );
        assert_eq!(
            r.body["error"]["innerError"]["client-request-id"],
            "11111111-2222-3333-4444-555555555555"
        );
    }
    s.get(&path).expect(200, "");
    assert_eq!(s.control("GET", "/_sim/faults", None).body, json!([]));
    // `skip`: the first matching requests pass untouched, then the fault.
    s.fault(json!({"pathPattern": format!("^/v1\\.0/users/{ALICE}$"), "status": 503, "skip": 2}));
    s.get(&path).expect(200, "");
    s.get(&path).expect(200, "");
    s.get(&path).expect(503, "ServiceUnavailable");
    s.get(&path).expect(200, "");
    // Method filter and explicit code.
    s.fault(json!({"pathPattern": "revokeSignInSessions", "method": "POST", "status": 429, "errorCode": "TooManyRequests", "retryAfter": 5, "count": 1}));
    s.get(&path).expect(200, "");
    let before = s.user_state(BOB)["signInSessionsValidFromDateTime"].clone();
    let r = s.send_empty("POST", &format!("/v1.0/users/{BOB}/revokeSignInSessions"));
    r.expect(429, "TooManyRequests");
    assert_eq!(r.header("retry-after"), Some("5"));
    assert_eq!(
        s.user_state(BOB)["signInSessionsValidFromDateTime"],
        before,
        "faults change nothing"
    );
    s.fault(json!({"pathPattern": ".*", "status": 500, "count": 5}));
    assert_eq!(s.control("DELETE", "/_sim/faults", None).body["cleared"], 1);
    s.get(&path).expect(200, "");
    assert_eq!(
        s.control(
            "POST",
            "/_sim/faults",
            Some(json!({"pathPattern": "(", "status": 500}))
        )
        .status,
        400
    );
    assert_eq!(
        s.control(
            "POST",
            "/_sim/faults",
            Some(json!({"pathPattern": "x", "status": 500, "oops": 1}))
        )
        .status,
        400
    );
}

#[test]
fn latency_and_connection_reset() {
    let s = Sim::start();
    let path = format!("/v1.0/users/{ALICE}");
    s.fault(json!({"pathPattern": "/users/", "latencyMs": 300, "count": 1}));
    let t = Instant::now();
    s.get(&path).expect(200, "");
    assert!(t.elapsed().as_millis() >= 300);
    s.fault(json!({"pathPattern": "/users/", "connectionReset": true, "count": 1}));
    let auth = format!("Bearer {}", s.token);
    assert!(s
        .raw("GET", &path, &[("authorization", &auth)], None)
        .is_err());
    assert_eq!(s.last_request()["status"], 0);
    s.get(&path).expect(200, "");
    // Faults reach the token endpoint too.
    s.fault(json!({"pathPattern": "/oauth2/v2.0/token$", "status": 503, "retryAfter": 1}));
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
    assert_eq!(r.header("retry-after"), Some("1"));
}

#[test]
fn reset_restores_fixture_and_clears_everything() {
    let s = Sim::start();
    s.send(
        "POST",
        &format!("/v1.0/users/{BOB}/authentication/temporaryAccessPassMethods"),
        &json!({}),
    )
    .expect(201, "");
    s.fault(json!({"pathPattern": "x", "status": 500, "count": 3}));
    s.advance(100);
    assert_eq!(s.state()["clockOffsetSeconds"], 100);
    let r = s.control("POST", "/_sim/reset", Some(json!({})));
    assert_eq!(r.status, 200, "{}", r.body);
    let st = s.state();
    assert_eq!(st["clockOffsetSeconds"], 0);
    assert_eq!(st["faults"], json!([]));
    assert_eq!(st["activeTokens"], 0);
    assert!(s.requests().is_empty());
    assert_eq!(s.method_ids(BOB), vec![PASSWORD_ID.to_string()]);
    s.get(&format!("/v1.0/users/{BOB}"))
        .expect(401, "InvalidAuthenticationToken");
    // Reset with a fixture body.
    let r = s.control(
        "POST",
        "/_sim/reset",
        Some(graph_sim::fixture::parse(graph_sim::NO_PREMIUM_FIXTURE).unwrap()),
    );
    assert_eq!(r.status, 200);
    assert_eq!(s.state()["tenant"]["premium"], false);
    let bad = s.control(
        "POST",
        "/_sim/reset",
        Some(json!({"tenant": {"id": "x", "displayName": "y"}, "users": [{"id": "u"}]})),
    );
    assert_eq!(bad.status, 400);
    let bad = s.control("POST", "/_sim/reset", Some(json!({"tenantt": {}})));
    assert_eq!(bad.status, 400);
}

#[test]
fn request_log_shape_and_since() {
    let s = Sim::start();
    s.control("DELETE", "/_sim/requests", None);
    s.get_with(
        &format!("/v1.0/users/{ALICE}?$select=id"),
        &[("client-request-id", "abc")],
    );
    s.send(
        "POST",
        &format!("/v1.0/users/{BOB}/authentication/phoneMethods"),
        &json!({"phoneNumber": "+1 4255550111", "phoneType": "mobile"}),
    );
    let log = s.requests();
    assert_eq!(log.len(), 2);
    let e = &log[0];
    for k in [
        "seq",
        "answeredSeq",
        "time",
        "method",
        "path",
        "rawPath",
        "query",
        "headers",
        "body",
        "status",
        "graphErrorCode",
        "batchParent",
        "kind",
    ] {
        assert!(e.get(k).is_some(), "missing {k}");
    }
    assert_eq!(e["headers"]["client-request-id"], "abc");
    assert_eq!(e["query"], "$select=id");
    assert_eq!(e["body"], serde_json::Value::Null);
    assert_eq!(log[1]["body"]["phoneType"], "mobile");
    assert_eq!(log[1]["status"], 201);
    let since = e["seq"].as_u64().unwrap();
    let later = s.control("GET", &format!("/_sim/requests?since={since}"), None);
    assert_eq!(later.body.as_array().unwrap().len(), 1);
    assert_eq!(s.control("DELETE", "/_sim/requests", None).status, 200);
    assert!(s.requests().is_empty());
}

#[test]
fn clock_moves_forward_only() {
    let s = Sim::start();
    let r = s.control(
        "POST",
        "/_sim/clock",
        Some(json!({"advanceSeconds": 86400})),
    );
    assert_eq!(r.body["offsetSeconds"], 86400);
    assert_eq!(
        s.control("POST", "/_sim/clock", Some(json!({"advanceSeconds": -5})))
            .status,
        400
    );
    assert_eq!(
        s.control("POST", "/_sim/clock", Some(json!({}))).status,
        400
    );
    // Carol's 8-hour pass has expired a day later.
    let r = s.get(&format!(
        "/v1.0/users/{CAROL}/authentication/temporaryAccessPassMethods"
    ));
    assert_eq!(r.status, 401, "the token expired too");
}

#[test]
fn round_trip_latency_delays_each_request_once_and_the_log_orders_round_trips() {
    let s = Sim::start();
    let r = s.control("POST", "/_sim/latency", Some(json!({"ms": 200})));
    assert_eq!((r.status, r.body["ms"].clone()), (200, json!(200)));
    assert_eq!(s.control("GET", "/_sim/latency", None).body["ms"], 200);
    let user = format!("/v1.0/users/{ALICE}");
    let t = Instant::now();
    s.get(&user).expect(200, "");
    assert!(t.elapsed().as_millis() >= 200);
    // A `$batch` is one round trip: its items do not wait again.
    let items: Vec<_> = (0..4)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": format!("/users/{ALICE}")}))
        .collect();
    let t = Instant::now();
    s.send("POST", "/v1.0/$batch", &json!({ "requests": items }))
        .expect(200, "");
    let ms = t.elapsed().as_millis();
    assert!((200..800).contains(&ms), "{ms} ms");
    // The token endpoint waits too.
    let scope = format!("{}/.default", s.base);
    let t = Instant::now();
    let r = s.token_request(
        TENANT_ID,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("scope", &scope),
        ],
    );
    assert_eq!(r.status, 200);
    assert!(t.elapsed().as_millis() >= 200);

    // Two requests in flight together: each was sent before the other was
    // answered. One sent after both answers has a greater seq than both.
    s.control("DELETE", "/_sim/requests", None);
    std::thread::scope(|sc| {
        let a = sc.spawn(|| s.get(&user).status);
        let b = sc.spawn(|| s.get(&format!("/v1.0/users/{BOB}")).status);
        assert_eq!((a.join().unwrap(), b.join().unwrap()), (200, 200));
    });
    s.get(&user).expect(200, "");
    let log = s.requests();
    let seq = |i: usize| log[i]["seq"].as_u64().unwrap();
    let answered = |i: usize| log[i]["answeredSeq"].as_u64().unwrap();
    assert!(seq(1) <= answered(0) && seq(0) <= answered(1), "{log:#?}");
    assert!(seq(2) > answered(0) && seq(2) > answered(1), "{log:#?}");

    // It is the network's, not the tenant's: a reset keeps it; 0 turns it off.
    s.control("POST", "/_sim/reset", Some(json!({})));
    assert_eq!(s.control("GET", "/_sim/latency", None).body["ms"], 200);
    for bad in [
        json!({}),
        json!({"ms": -1}),
        json!({"ms": 1, "x": 1}),
        json!({"ms": 60001}),
    ] {
        assert_eq!(s.control("POST", "/_sim/latency", Some(bad)).status, 400);
    }
    let r = s.control("POST", "/_sim/latency", Some(json!({"ms": 0})));
    assert_eq!(r.status, 200);
}
