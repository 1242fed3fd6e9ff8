//! `POST /v1/tap` end to end: status, problem+json code and headers, and
//! what the simulated tenant saw and holds afterwards.

use std::sync::Arc;

use mfa_tests::{demo, Sim, Spin};
use serde_json::{json, Value};

use crate::common::{self, audit_rows, writes};
use crate::stack;

const ALICE: &str = "alice@contoso.com";
const ALICE_ID: &str = "2f9c4b7e-83d1-4a6f-b2c5-9e1d7a3f6b80";

fn post(app: &Spin, key: &str, body: &Value, extra: &[(&str, &str)]) -> mfa_tests::Reply {
    common::post(app, "/v1/tap", key, body, extra)
}

fn tap_of(sim: &Sim, user_id: &str) -> Option<Value> {
    let state = sim.state();
    let user = state["users"]
        .as_array()?
        .iter()
        .find(|u| u["id"] == user_id)?
        .clone();
    user["methods"]
        .as_array()?
        .iter()
        .find(|m| m["@odata.type"] == "#microsoft.graph.temporaryAccessPassAuthenticationMethod")
        .cloned()
}

#[test]
fn issues_a_pass_per_policy_defaults_and_says_nothing_secret_elsewhere() {
    let (sim, app) = stack(&[]);
    let r = post(
        &app,
        demo::helpdesk_key(),
        &json!({ "user": ALICE, "ticket": "INC0012345", "reason": "lost phone" }),
        &[("x-request-id", "req-tap-1")],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("x-request-id"), Some("req-tap-1"));
    let b = r.json();
    assert_eq!(b["user"]["id"], ALICE_ID);
    assert_eq!(b["user"]["userPrincipalName"], ALICE);
    assert_eq!(b["lifetimeInMinutes"], 60);
    assert_eq!(b["isUsableOnce"], false);
    assert_eq!(b["replaced"], false);
    assert_eq!(b["ticket"], "INC0012345");
    assert!(b["auditId"].as_str().unwrap().starts_with("aud_"));
    let pass = b["temporaryAccessPass"].as_str().unwrap().to_string();
    assert_eq!(pass.chars().count(), 8);

    // The tenant holds that pass, created by exactly one write.
    let held = tap_of(&sim, ALICE_ID).expect("alice has a pass");
    assert_eq!(held["temporaryAccessPass"], pass);
    assert_eq!(held["id"], b["methodId"]);
    let w = writes(&sim);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0]["method"], "POST");
    assert_eq!(
        w[0]["path"],
        format!("/v1.0/users/{ALICE_ID}/authentication/temporaryAccessPassMethods")
    );
    assert_eq!(
        w[0]["body"],
        json!({ "lifetimeInMinutes": 60, "isUsableOnce": false })
    );
    // Every Graph call carried our request id.
    for req in sim
        .requests()
        .iter()
        .filter(|r| r["kind"] != "token" && r["batchParent"].is_null())
    {
        assert_eq!(req["headers"]["client-request-id"], "req-tap-1", "{req}");
    }

    // No pass, key or secret in logs or the audit trail.
    let logs = app.logs();
    let audit = audit_rows(&app).join("\n");
    assert!(
        audit.contains("|helpdesk|tap|succeeded|201|None|"),
        "{audit}"
    );
    assert!(audit.contains("req-tap-1"));
    for secret in [
        pass.as_str(),
        demo::helpdesk_key(),
        &mfa_tests::demo_app().client_secret,
    ] {
        assert!(!logs.contains(secret), "secret in logs");
        assert!(!audit.contains(secret), "secret in audit");
    }
}

#[test]
fn callers_are_authenticated_and_scoped_before_graph_is_touched() {
    let (sim, app) = stack(&[]);
    let body = json!({ "user": ALICE, "ticket": "INC1" });
    let r = app.client().post_json("/v1/tap", &body, &[]);
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(r.json()["code"], "unauthorized");
    let r = post(&app, "not-a-key", &body, &[]);
    assert_eq!(r.status, 401);
    let r = post(&app, demo::reader_key(), &body, &[]);
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["code"], "insufficient_scope");
    assert!(
        sim.requests()
            .iter()
            .all(|r| r["kind"] == "token" || r["method"] == "GET")
            && writes(&sim).is_empty()
    );
    assert!(
        sim.requests().iter().all(|r| r["kind"] != "graph"),
        "no Graph call before authorization"
    );
    // Refused before a caller was known: counted, not chained.
    let audit = audit_rows(&app).join("\n");
    assert!(!audit.contains("unauthenticated"), "{audit}");
    assert!(!audit.contains("|401|"), "{audit}");
    let ready = common::readyz(&app);
    assert_eq!(
        ready["refusedAnonymous"]["thisMinute"]
            .as_u64()
            .unwrap_or(0)
            + ready["refusedAnonymous"]["lastMinute"]
                .as_u64()
                .unwrap_or(0),
        2,
        "{ready}"
    );
    assert!(
        audit.contains("|reader|tap|refused|403|Some(\"insufficient_scope\")"),
        "{audit}"
    );
}

#[test]
fn every_refusal_of_the_contract_with_no_write() {
    let (sim, app) = stack(&[]);
    let cases: &[(Value, u16, &str)] = &[
        (
            json!({ "user": "dave@contoso.com", "ticket": "T" }),
            409,
            "user_disabled",
        ),
        (
            json!({ "user": "nobody@contoso.com", "ticket": "T" }),
            404,
            "user_not_found",
        ),
        (
            json!({ "user": "alice", "ticket": "T" }),
            400,
            "invalid_user",
        ),
        (json!({ "user": ALICE }), 400, "invalid_request"),
        (
            json!({ "user": ALICE, "ticket": "T", "lifetimeInMinute": 60 }),
            400,
            "unknown_field",
        ),
        (
            json!({ "user": ALICE, "ticket": "T", "lifetimeInMinutes": "60" }),
            400,
            "invalid_request",
        ),
        (
            json!({ "user": ALICE, "ticket": "T", "lifetimeInMinutes": 5000 }),
            400,
            "lifetime_out_of_range",
        ),
        (
            json!({ "user": ALICE, "ticket": "T", "lifetimeInMinutes": 30 }),
            400,
            "lifetime_out_of_range",
        ),
        (
            json!({ "user": "frank@contoso.com", "ticket": "T" }),
            409,
            "user_not_in_tap_policy_scope",
        ),
        (
            json!({ "user": "erin@contoso.com", "ticket": "T" }),
            409,
            "user_not_in_tap_policy_scope",
        ),
        (
            json!({ "user": "carol@contoso.com", "ticket": "T" }),
            409,
            "tap_exists",
        ),
        (
            json!({ "user": "adele.admin@contoso.com", "ticket": "T" }),
            403,
            "protected_user",
        ),
        (
            json!({ "user": "henry@contoso.com", "ticket": "T" }),
            403,
            "protected_user",
        ),
        (
            json!({ "user": "grace@contoso.com", "ticket": "T" }),
            403,
            "protected_user",
        ),
        (
            json!({ "user": "diego@contoso.com", "ticket": "T" }),
            403,
            "protected_user",
        ),
    ];
    for (body, status, code) in cases {
        let r = post(&app, demo::helpdesk_key(), body, &[]);
        assert_eq!(r.status, *status, "{body}: {}", r.body);
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        let p = r.json();
        assert_eq!(p["code"], *code, "{body}: {p}");
        assert_eq!(p["status"], *status);
    }
    let p = post(
        &app,
        demo::helpdesk_key(),
        &json!({ "user": ALICE, "ticket": "T", "lifetimeInMinutes": 5000 }),
        &[],
    )
    .json();
    assert_eq!(
        p["lifetimeBounds"],
        json!({ "minimum": 60, "maximum": 480 })
    );
    assert!(writes(&sim).is_empty(), "{:?}", writes(&sim));
    // Carol still has her original pass.
    assert_eq!(
        tap_of(&sim, "cc021cbe-b06c-56d6-adba-dce95908c862").unwrap()["temporaryAccessPass"],
        "Xk7#pQ2w"
    );
}

#[test]
fn body_edges_are_4xx() {
    let (_sim, app) = stack(&[]);
    let auth = format!("Bearer {}", demo::helpdesk_key());
    let c = app.client();
    let r = c.send(
        "POST",
        "/v1/tap",
        &[("authorization", &auth), ("content-type", "text/plain")],
        Some(b"{}".to_vec()),
    );
    assert_eq!(r.status, 415);
    let big = vec![b' '; 70 * 1024];
    let r = c.send(
        "POST",
        "/v1/tap",
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        Some(big),
    );
    assert_eq!(r.status, 413);
    let r = c.send(
        "POST",
        "/v1/tap",
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        Some(b"{not json".to_vec()),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], "invalid_request");
    let r = c.get("/v1/tap");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
}

#[test]
fn privileged_callers_may_act_on_protected_users_and_replace_passes() {
    let (sim, app) = stack(&[]);
    let r = post(
        &app,
        demo::admin_key(),
        &json!({ "user": "adele.admin@contoso.com", "ticket": "T" }),
        &[],
    );
    assert_eq!(r.status, 201, "{}", r.body);

    let carol = "cc021cbe-b06c-56d6-adba-dce95908c862";
    sim.clear_requests();
    let r = post(
        &app,
        demo::helpdesk_key(),
        &json!({ "user": "carol@contoso.com", "ticket": "T", "replaceExisting": true, "lifetimeInMinutes": 120, "isUsableOnce": true }),
        &[],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let b = r.json();
    assert_eq!(b["replaced"], true);
    assert_eq!(b["lifetimeInMinutes"], 120);
    let w = writes(&sim);
    assert_eq!(w.len(), 2, "{w:?}");
    assert_eq!(w[0]["method"], "DELETE");
    assert_eq!(w[1]["method"], "POST");
    assert_eq!(
        w[1]["body"],
        json!({ "lifetimeInMinutes": 120, "isUsableOnce": true })
    );
    assert_eq!(
        tap_of(&sim, carol).unwrap()["temporaryAccessPass"],
        b["temporaryAccessPass"]
    );
}

#[test]
fn idempotency_replays_without_the_pass_and_refuses_a_changed_body() {
    let (sim, app) = stack(&[]);
    let body = json!({ "user": ALICE, "ticket": "INC7" });
    let key = [("idempotency-key", "delivery-7")];
    let first = post(&app, demo::helpdesk_key(), &body, &key);
    assert_eq!(first.status, 201, "{}", first.body);
    let again = post(&app, demo::helpdesk_key(), &body, &key);
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let a = again.json();
    assert!(a.get("temporaryAccessPass").is_none());
    assert_eq!(a["passRedacted"], true);
    assert_eq!(a["methodId"], first.json()["methodId"]);
    let other = post(
        &app,
        demo::helpdesk_key(),
        &json!({ "user": ALICE, "ticket": "INC8" }),
        &key,
    );
    assert_eq!(other.status, 422);
    assert_eq!(other.json()["code"], "idempotency_key_reused");
    assert_eq!(writes(&sim).len(), 1);
}

#[test]
fn fifty_concurrent_deliveries_make_one_graph_write() {
    let (sim, app) = stack(&[("rate_limits", Some("{\"callerPerMinute\":1000}"))]);
    let app = Arc::new(app);
    let threads: Vec<_> = (0..50)
        .map(|_| {
            let app = app.clone();
            std::thread::spawn(move || {
                post(
                    &app,
                    demo::helpdesk_key(),
                    &json!({ "user": ALICE, "ticket": "INC50" }),
                    &[("idempotency-key", "storm-1")],
                )
                .status
            })
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    assert!(statuses.contains(&201));
    let creates: Vec<_> = writes(&sim)
        .into_iter()
        .filter(|w| w["method"] == "POST")
        .collect();
    assert_eq!(creates.len(), 1, "{creates:?}");

    // Fifty concurrent audit appends, one unforked chain.
    let db = rusqlite::Connection::open(app.state_dir().join("sqlite_db.db")).unwrap();
    let mut stmt = db
        .prepare("SELECT prev_hash, hash FROM audit_records ORDER BY seq")
        .unwrap();
    let links: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(links.len(), 50);
    assert_eq!(links[0].0, "0".repeat(64));
    for pair in links.windows(2) {
        assert_eq!(pair[1].0, pair[0].1, "chain forked");
    }
}

#[test]
fn a_throttled_create_is_retried_after_retry_after_and_creates_one_pass() {
    let (sim, app) = stack(&[]);
    sim.fault(json!({ "pathPattern": "temporaryAccessPassMethods$", "method": "POST", "status": 429, "retryAfter": 1, "count": 1 }));
    let r = post(
        &app,
        demo::helpdesk_key(),
        &json!({ "user": ALICE, "ticket": "T" }),
        &[],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let creates: Vec<_> = writes(&sim)
        .into_iter()
        .filter(|w| w["method"] == "POST")
        .collect();
    assert_eq!(
        creates
            .iter()
            .map(|c| c["status"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [429, 201]
    );
    assert_eq!(
        tap_of(&sim, ALICE_ID).unwrap()["temporaryAccessPass"],
        r.json()["temporaryAccessPass"]
    );

    // Throttled past the budget: 503 graph_throttled saying nothing changed.
    sim.fault(json!({ "pathPattern": "temporaryAccessPassMethods$", "method": "POST", "status": 429, "retryAfter": 30, "count": 1 }));
    let r = post(
        &app,
        demo::helpdesk_key(),
        &json!({ "user": "bob@contoso.com", "ticket": "T" }),
        &[],
    );
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    let p = r.json();
    assert_eq!(p["code"], "graph_throttled");
    assert_eq!(p["changed"], "nothing was changed");
    assert!(tap_of(&sim, "48b85567-7c29-53ed-b888-e7aef7ddc561").is_none());
}

#[test]
fn a_signed_webhook_is_done_once_and_its_redelivery_replays_without_the_pass() {
    let (sim, app) = stack(&[]);
    let body = json!({ "user": "bob@contoso.com", "ticket": "SN-1" }).to_string();
    let headers = common::webhook_headers("msg_1", &body);
    let r = common::send_webhook(&app, "/v1/tap", &headers, &body);
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.json()["temporaryAccessPass"].is_string());
    // The sender retries (its own timeout, say): the delivery's outcome.
    let again = common::send_webhook(
        &app,
        "/v1/tap",
        &common::webhook_headers("msg_1", &body),
        &body,
    );
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert!(
        again.json().get("temporaryAccessPass").is_none(),
        "{}",
        again.body
    );
    assert_eq!(again.json()["passRedacted"], true);
    assert_eq!(again.json()["auditId"], r.json()["auditId"]);
    // The same id with another body is not a redelivery.
    let other = json!({ "user": "bob@contoso.com", "ticket": "SN-2" }).to_string();
    let r = common::send_webhook(
        &app,
        "/v1/tap",
        &common::webhook_headers("msg_1", &other),
        &other,
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["code"], "replayed_webhook");
    assert_eq!(writes(&sim).len(), 1);
    assert!(!app
        .logs()
        .contains(&demo::webhook_secret()["whsec_".len()..]));
}

/// A ticketing system that delivers one webhook many times at once (its
/// retry timer and a redelivery racing): one pass is made, every other
/// copy waits (`409 request_in_progress`) or replays the outcome, and no
/// copy is refused as a replay.
#[test]
fn simultaneous_copies_of_one_delivery_make_one_pass() {
    let (sim, app) = stack(&[("rate_limits", Some(r#"{"callerPerMinute":1000}"#))]);
    let app = Arc::new(app);
    let body = json!({ "user": "bob@contoso.com", "ticket": "SN-STORM" }).to_string();
    let headers = common::webhook_headers("msg_storm", &body);
    let copies: Vec<_> = (0..16)
        .map(|_| {
            let (app, headers, body) = (app.clone(), headers.clone(), body.clone());
            std::thread::spawn(move || {
                let r = common::send_webhook(&app, "/v1/tap", &headers, &body);
                (r.status, r.json()["code"].clone())
            })
        })
        .collect();
    let answers: Vec<(u16, Value)> = copies.into_iter().map(|t| t.join().unwrap()).collect();
    for (status, code) in &answers {
        assert!(
            *status == 201 || (*status == 409 && code == "request_in_progress"),
            "{answers:?}"
        );
    }
    assert_eq!(writes(&sim).len(), 1, "{:#?}", writes(&sim));
    let again = common::send_webhook(&app, "/v1/tap", &headers, &body);
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(writes(&sim).len(), 1);
}

/// The demo fixture with its TAP policy changed by `edit`, loaded into `sim`.
fn reseed_with_policy(sim: &Sim, edit: impl Fn(&mut Value)) {
    sim.reseed(|f| {
        for c in f["authenticationMethodsPolicy"]["configurations"]
            .as_array_mut()
            .unwrap()
        {
            if c["id"] == "TemporaryAccessPass" {
                edit(c);
            }
        }
    });
}

#[test]
fn tenant_policy_rules_disabled_and_one_time_only() {
    let (sim, app) = stack(&[]);
    reseed_with_policy(&sim, |c| c["state"] = json!("disabled"));
    let r = post(
        &app,
        demo::helpdesk_key(),
        &json!({ "user": ALICE, "ticket": "T" }),
        &[],
    );
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (409, json!("tap_policy_disabled")),
        "{}",
        r.body
    );

    reseed_with_policy(&sim, |c| c["isUsableOnce"] = json!(true));
    let r = post(
        &app,
        demo::helpdesk_key(),
        &json!({ "user": ALICE, "ticket": "T", "isUsableOnce": false }),
        &[],
    );
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (400, json!("usable_once_required")),
        "{}",
        r.body
    );
    assert!(writes(&sim).is_empty());
    // The policy default applies when the caller does not say.
    let r = post(
        &app,
        demo::helpdesk_key(),
        &json!({ "user": ALICE, "ticket": "T" }),
        &[],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["isUsableOnce"], true);
}

#[test]
fn deployment_cap_bounds_the_lifetime() {
    let (_sim, app) = stack(&[("tap_max_lifetime_minutes", Some("120"))]);
    let r = post(
        &app,
        demo::helpdesk_key(),
        &json!({ "user": ALICE, "ticket": "T", "lifetimeInMinutes": 240 }),
        &[],
    );
    assert_eq!(r.status, 400);
    let p = r.json();
    assert_eq!(p["code"], "lifetime_out_of_range");
    assert_eq!(
        p["lifetimeBounds"],
        json!({ "minimum": 60, "maximum": 120 })
    );
    assert!(
        p["detail"].as_str().unwrap().contains("60")
            && p["detail"].as_str().unwrap().contains("120")
    );
}

#[test]
fn rate_limits_answer_429_with_retry_after() {
    let (sim, app) = stack(&[(
        "rate_limits",
        Some("{\"callerPerMinute\":100,\"tapPerUserPerDay\":2}"),
    )]);
    let body = json!({ "user": "bob@contoso.com", "ticket": "T", "replaceExisting": true });
    for _ in 0..2 {
        assert_eq!(post(&app, demo::helpdesk_key(), &body, &[]).status, 201);
    }
    let r = post(&app, demo::helpdesk_key(), &body, &[]);
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.json()["code"], "rate_limited");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    // The sliding estimate: both passes weigh on the next window too.
    assert!((1..=2 * 86_400).contains(&retry), "Retry-After {retry}");
    assert_eq!(
        writes(&sim)
            .iter()
            .filter(|w| w["method"] == "POST")
            .count(),
        2
    );

    let (_sim2, app2) = stack(&[("rate_limits", Some("{\"callerPerMinute\":2}"))]);
    let probe = json!({ "user": "nobody@contoso.com", "ticket": "T" });
    assert_eq!(post(&app2, demo::helpdesk_key(), &probe, &[]).status, 404);
    assert_eq!(post(&app2, demo::helpdesk_key(), &probe, &[]).status, 404);
    let r = post(&app2, demo::helpdesk_key(), &probe, &[]);
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    // Another caller has its own budget.
    assert_eq!(post(&app2, demo::admin_key(), &probe, &[]).status, 404);
}

#[test]
fn bad_configuration_is_500_misconfigured_naming_the_variable() {
    let (_sim, app) = stack(&[(
        "callers",
        Some("[{\"id\":\"x\",\"keySha256\":\"SECRET-NOT-HEX\",\"scopes\":[\"tap\"]}]"),
    )]);
    let r = post(
        &app,
        demo::helpdesk_key(),
        &json!({ "user": ALICE, "ticket": "T" }),
        &[],
    );
    assert_eq!(r.status, 500);
    let p = r.json();
    assert_eq!(p["code"], "misconfigured");
    assert_eq!(p["variable"], "callers");
    assert!(!r.body.contains("SECRET") && !app.logs().contains("SECRET"));
    // The operator reading the log learns which variable to fix.
    let line: serde_json::Value = app
        .logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["code"] == "misconfigured")
        .expect("a log line for the refused request");
    assert_eq!(line["variable"], "callers", "{line}");
}

#[test]
fn graph_errors_keep_graphs_code_and_request_id() {
    let (sim, app) = stack(&[]);
    sim.fault(json!({ "pathPattern": "temporaryAccessPassMethods$", "method": "POST", "status": 403, "errorCode": "Authorization_RequestDenied", "count": 1 }));
    let r = post(
        &app,
        demo::helpdesk_key(),
        &json!({ "user": ALICE, "ticket": "T" }),
        &[],
    );
    assert_eq!(r.status, 502, "{}", r.body);
    let p = r.json();
    assert_eq!(p["code"], "graph_error");
    assert_eq!(p["graphErrorCode"], "Authorization_RequestDenied");
    let logged = writes(&sim)
        .into_iter()
        .find(|w| w["method"] == "POST")
        .unwrap();
    assert_eq!(p["graphRequestId"], logged["requestId"]);
}

#[test]
fn guest_upns_are_percent_encoded_for_graph() {
    let (sim, app) = stack(&[]);
    let guest = "jo_fabrikam.com#EXT#@contoso.onmicrosoft.com";
    let r = post(
        &app,
        demo::helpdesk_key(),
        &json!({ "user": guest, "ticket": "T" }),
        &[],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let b = r.json();
    assert_eq!(b["user"]["userPrincipalName"], guest);
    assert!(b["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("guest")));
    let user_read = sim
        .requests()
        .into_iter()
        .find(|r| r["path"] == format!("/v1.0/users/{guest}"))
        .expect("the guest was read by UPN");
    assert_eq!(
        user_read["rawPath"],
        "/v1.0/users/jo_fabrikam.com%23EXT%23@contoso.onmicrosoft.com"
    );
}

#[test]
fn a_webhook_answered_with_a_5xx_can_be_redelivered() {
    let (sim, app) = stack(&[]);
    sim.fault(json!({ "pathPattern": "temporaryAccessPassMethods$", "method": "POST", "status": 500, "errorCode": "generalException", "count": 1 }));
    let body = json!({ "user": ALICE, "ticket": "SN-9" }).to_string();
    let mut headers = common::webhook_headers("msg_retry", &body);
    headers.push(("idempotency-key".into(), "sn-9".into()));
    let first = common::send_webhook(&app, "/v1/tap", &headers, &body);
    assert_eq!(first.status, 502, "{}", first.body);
    let retry = common::send_webhook(&app, "/v1/tap", &headers, &body);
    assert_eq!(retry.status, 201, "{}", retry.body);
    assert!(tap_of(&sim, ALICE_ID).is_some());
}

#[test]
fn a_protected_users_refusal_names_no_role_or_group_and_the_audit_keeps_them() {
    let (sim, app) = stack(&[]);
    for (i, upn) in [
        "adele.admin@contoso.com",
        "henry@contoso.com",
        "grace@contoso.com",
        "diego@contoso.com",
    ]
    .into_iter()
    .enumerate()
    {
        // `@` is not a request-id character: the id would be replaced.
        let request_id = format!("prot-{i}");
        // What protects the user, as an admin's diagnose tells it.
        let d = common::get(
            &app,
            &format!("/v1/diagnose?user={upn}"),
            demo::admin_key(),
            &[],
        )
        .json();
        let names: Vec<String> = d["protected"]["reasons"]
            .as_array()
            .unwrap_or_else(|| panic!("{upn}: {d}"))
            .iter()
            .filter_map(|r| r["name"].as_str().map(str::to_string))
            .collect();
        assert!(!names.is_empty(), "{upn}: {d}");

        let r = post(
            &app,
            demo::helpdesk_key(),
            &json!({ "user": upn, "ticket": "T" }),
            &[("x-request-id", &request_id)],
        );
        assert_eq!(r.status, 403, "{upn}: {}", r.body);
        let p = r.json();
        assert_eq!(p["code"], "protected_user");
        assert!(p.get("reasons").is_none(), "{upn}: {p}");
        assert!(
            p["detail"].as_str().unwrap().contains("privileged"),
            "{upn}: {p}"
        );
        for name in &names {
            assert!(
                !r.body.contains(name.as_str()),
                "{upn}: {name} in {}",
                r.body
            );
        }
        for code in ["directory_role", "protected_group", "listed"] {
            assert!(!r.body.contains(code), "{upn}: {code} in {}", r.body);
        }
        // The audit record still says why, for /v1/audit readers.
        let row = audit_rows(&app)
            .into_iter()
            .find(|row| row.ends_with(&format!("|{request_id}")))
            .unwrap_or_else(|| panic!("{upn}: no audit record"));
        assert!(
            names.iter().any(|n| row.contains(n.as_str())),
            "{upn}: {row}"
        );
    }
    assert!(writes(&sim).is_empty());
}

#[test]
fn ticket_pattern_refuses_a_ticket_that_does_not_match_before_graph() {
    let (sim, app) = stack(&[("ticket_pattern", Some(r"^(INC|RITM)\d{7}$"))]);
    for ticket in [
        "T",
        "INC123",
        "inc0012345",
        "INC0012345 call 555-0100",
        "xINC0012345",
    ] {
        let r = post(
            &app,
            demo::helpdesk_key(),
            &json!({ "user": ALICE, "ticket": ticket }),
            &[],
        );
        common::assert_refused(&r, 400, "invalid_request", "ticket", ticket);
        assert!(!r.body.contains("555-0100"), "{}", r.body);
    }
    assert!(
        sim.requests().iter().all(|r| r["kind"] != "graph"),
        "a refused ticket reached Graph"
    );
    let r = post(
        &app,
        demo::helpdesk_key(),
        &json!({ "user": ALICE, "ticket": "RITM0012345" }),
        &[],
    );
    assert_eq!(r.status, 201, "{}", r.body);
}
