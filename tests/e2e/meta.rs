//! `GET /healthz`, `GET /readyz`, routing edges and state that survives a
//! restart, all through real `spin up`.

use mfa_tests::{demo, demo_app, demo_fixture, Sim, Spin};
use serde_json::json;

use crate::{common, options, stack};

#[test]
fn healthz_answers_and_reveals_nothing() {
    let (_sim, app) = stack(&[]);
    let r = app.client().get("/healthz");
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!({ "status": "ok" }));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let id = r.header("x-request-id").expect("generated request id");
    assert_eq!(id.len(), 36, "{id}");
    for secret in [
        demo_app().tenant_id.as_str(),
        &demo_app().client_id,
        &demo_app().client_secret,
    ] {
        assert!(!r.body.contains(secret));
    }
}

#[test]
fn request_id_is_echoed_when_safe_and_replaced_when_not() {
    let (_sim, app) = stack(&[]);
    let c = app.client();
    let r = c.send(
        "GET",
        "/healthz",
        &[("x-request-id", "INC0012345.try-2")],
        None,
    );
    assert_eq!(r.header("x-request-id"), Some("INC0012345.try-2"));
    let long = "a".repeat(129);
    for bad in ["has space", "quote\"d", long.as_str()] {
        let r = c.send("GET", "/healthz", &[("x-request-id", bad)], None);
        let id = r.header("x-request-id").unwrap();
        assert_ne!(id, bad);
        assert_eq!(id.len(), 36);
    }
}

#[test]
fn wrong_method_and_unknown_path_are_problems() {
    let (_sim, app) = stack(&[]);
    let c = app.client();
    let r = c.send("POST", "/healthz", &[], Some(b"{}".to_vec()));
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET"));
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(r.json()["code"], "method_not_allowed");

    for path in ["/", "/v1", "/v1/nothing-here", "/healthz/extra"] {
        let r = c.get(path);
        assert_eq!(r.status, 404, "{path}");
        let p = r.json();
        assert_eq!(p["code"], "not_found");
        assert_eq!(p["status"], 404);
        assert!(p["type"].as_str().unwrap().starts_with("https://"));
        assert!(r.header("x-request-id").is_some());
    }
}

#[test]
fn variables_reach_the_component() {
    let (_sim, app) = stack(&[]);
    let r = app.client().get("/readyz");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "ready");

    // Each bad value is named by variable, never echoed.
    let cases = [
        (
            "callers",
            "[{\"id\":\"x\",\"keySha256\":\"NOT-A-HASH-SECRET\",\"scopes\":[\"tap\"]}]",
        ),
        ("callers", "not json SECRET"),
        ("tap_max_lifetime_minutes", "SECRET-forever"),
        ("graph_endpoint", "ftp://SECRET.example"),
        ("require_verification", "SECRET"),
        ("rate_limits", "{\"SECRET\":1}"),
    ];
    for (name, value) in cases {
        let (_sim, app) = stack(&[(name, Some(value))]);
        let r = app.client().get("/readyz");
        assert_eq!(r.status, 500, "{name}: {}", r.body);
        let p = r.json();
        assert_eq!(p["code"], "misconfigured");
        assert_eq!(p["variable"], name);
        assert!(p["detail"].as_str().unwrap().contains(name));
        assert!(
            !r.body.contains("SECRET"),
            "{name} value echoed: {}",
            r.body
        );
        assert!(!app.logs().contains("SECRET"), "{name} value logged");
        // Liveness does not depend on configuration.
        assert_eq!(app.client().get("/healthz").status, 200);
    }
}

#[test]
fn a_missing_required_variable_stops_spin_up() {
    for name in ["tenant_id", "client_id", "client_secret", "callers"] {
        let err = Spin::start(options("http://127.0.0.1:9", &[(name, None)]))
            .err()
            .unwrap_or_else(|| panic!("spin up started without {name}"));
        let text = format!("{err:#}");
        assert!(text.contains("spin up exited"), "{name}: {text}");
        assert!(text.contains(name), "Spin should name {name}: {text}");
    }
}

#[test]
fn state_survives_a_restart_on_the_same_state_dir() {
    let dir = tempfile::Builder::new()
        .prefix("mfa-state-")
        .tempdir()
        .unwrap();
    let sim = Sim::start(&demo_fixture());
    let mut opts = options(&sim.url(), &[]);
    opts.state_dir = Some(dir.path().to_path_buf());

    let mut first = Spin::start(opts.clone()).unwrap();
    let a = common::readyz(&first);
    let pid = first.pid();
    first.stop();

    let second = Spin::start(opts).unwrap();
    assert_ne!(second.pid(), pid);
    let b = common::readyz(&second);
    // The cached token survived too: one token request for both runs.
    assert_eq!(a["graph"]["cached"], false);
    assert_eq!(b["graph"]["cached"], true);
    assert_eq!(sim.token_requests(), 1);
    assert_eq!(a["installation"]["id"].as_str().map(str::len), Some(32));
    assert_eq!(a["installation"], b["installation"], "key-value store lost");
    assert_eq!(a["schema"], b["schema"], "SQLite database lost");
    assert!(dir.path().join("logs").is_dir());

    // A fresh state directory is a fresh installation.
    let (_sim2, other) = stack(&[]);
    let c = common::readyz(&other);
    assert_ne!(c["installation"]["id"], a["installation"]["id"]);
}

#[test]
fn readyz_gets_a_token_through_spin_outbound_http_once() {
    let (sim, app) = stack(&[]);
    let first = common::readyz(&app);
    assert_eq!(
        first["graph"],
        serde_json::json!({ "token": "ok", "cached": false })
    );
    for _ in 0..5 {
        assert_eq!(common::readyz(&app)["graph"]["cached"], true);
    }
    // Anonymous probes learn the status and nothing else.
    assert_eq!(
        app.client().get("/readyz").json(),
        serde_json::json!({ "status": "ready" })
    );
    let log = sim.requests();
    let tokens: Vec<_> = log.iter().filter(|r| r["kind"] == "token").collect();
    assert_eq!(
        tokens.len(),
        1,
        "one token request per token lifetime: {log:?}"
    );
    let t = tokens[0];
    assert_eq!(t["method"], "POST");
    assert_eq!(
        t["path"],
        format!("/{}/oauth2/v2.0/token", demo_app().tenant_id)
    );
    assert_eq!(t["status"], 200);
}

/// Some tenants answer `expires_in` as a string (`"3599"`, graph-sim quirk
/// `tokenExpiresInAsString`): the token is as good, and cached as long.
#[test]
fn a_token_whose_lifetime_is_a_string_is_used_and_cached() {
    let (sim, app) = stack(&[]);
    sim.quirks(serde_json::json!({ "tokenExpiresInAsString": true }));
    let r = common::post(
        &app,
        "/v1/tap",
        demo::helpdesk_key(),
        &serde_json::json!({ "user": "bob@contoso.com", "ticket": "INC0000042" }),
        &[],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    // The token worked: the tenant holds the pass it created.
    let bob = r.json()["user"]["id"].as_str().unwrap().to_string();
    assert!(common::methods_of(&sim, &bob)
        .iter()
        .any(|m| m["@odata.type"] == "#microsoft.graph.temporaryAccessPassAuthenticationMethod"));
    assert_eq!(common::readyz(&app)["graph"]["cached"], true);
    assert_eq!(sim.token_requests(), 1);
}

#[test]
fn readyz_reports_refused_credentials_without_the_secret() {
    let (sim, app) = stack(&[("client_secret", Some("wrong-SECRET-value"))]);
    let r = app.client().get("/readyz");
    assert_eq!(r.status, 502, "{}", r.body);
    let p = r.json();
    assert_eq!(p["code"], "graph_auth_failed");
    assert_eq!(p["graphErrorCode"], "AADSTS7000215");
    assert!(!r.body.contains("wrong-SECRET-value"));
    assert!(!app.logs().contains("wrong-SECRET-value"));
    let log = serde_json::to_string(&sim.requests()).unwrap();
    assert!(
        !log.contains("wrong-SECRET-value"),
        "the simulator redacts it too"
    );
    // Not cached: the next probe asks again.
    assert_eq!(app.client().get("/readyz").status, 502);
    assert_eq!(sim.token_requests(), 2);
}

#[test]
fn dangerous_configurations_are_refused_by_name() {
    let key = mfa_tests::sha256_hex("SECRET-key");
    let secret = "whsec_U0VDUkVULXdlYmhvb2stc2VjcmV0LTEyMzQ1Ng==";
    let callers_same_key = json!([
        { "id": "a", "keySha256": key, "scopes": ["tap"] },
        { "id": "b", "keySha256": key.to_uppercase(), "scopes": ["audit:read"] },
    ])
    .to_string();
    let callers_same_secret = json!([
        { "id": "a", "webhookSecret": secret, "scopes": ["tap"] },
        { "id": "b", "webhookSecret": secret, "scopes": ["reset"] },
    ])
    .to_string();
    let cases = [
        ("callers", callers_same_key.as_str()),
        ("callers", callers_same_secret.as_str()),
        ("graph_endpoint", "http://graph.SECRET.example"),
        ("login_endpoint", "http://login.SECRET.example:8080"),
        ("ticket_pattern", "^(INC|SECRET"),
        ("ticket_pattern", "\\w{1000}SECRET"),
    ];
    for (name, value) in cases {
        let (_sim, app) = stack(&[(name, Some(value))]);
        let r = app.client().get("/readyz");
        assert_eq!(r.status, 500, "{name}={value}: {}", r.body);
        let p = r.json();
        assert_eq!(p["code"], "misconfigured", "{p}");
        assert_eq!(p["variable"], name, "{p}");
        for leak in ["SECRET", &key[..16], &secret[6..22]] {
            assert!(!r.body.contains(leak), "{name} value echoed: {}", r.body);
            assert!(!app.logs().contains(leak), "{name} value logged");
        }
    }
    // Loopback over plain HTTP stays allowed (graph-sim runs on 127.0.0.1);
    // a good pattern is accepted.
    let (_sim, app) = stack(&[("ticket_pattern", Some(r"^(INC|RITM)\d{7}$"))]);
    assert_eq!(app.client().get("/readyz").status, 200);
}
