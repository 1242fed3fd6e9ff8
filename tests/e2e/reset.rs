//! `POST /v1/reset` end to end: the order Graph saw the deletions in, what
//! the tenant holds afterwards, partial failures and the retry that
//! finishes them, and the guards shared with `/v1/tap`.

use mfa_tests::{demo, fixture_user, Reply, Sim, Spin};
use serde_json::{json, Value};

use crate::common::{self, audit_rows, methods_of, writes};
use crate::stack;

const ALICE: &str = "alice@contoso.com";
const ALICE_ID: &str = "2f9c4b7e-83d1-4a6f-b2c5-9e1d7a3f6b80";
const ALICE_AUTHENTICATOR: &str = "08ed9ce6-1607-535e-8d5a-1d437e323d6f";
const PASSWORD_ID: &str = "28c10230-6103-485e-b985-444c60001490";
const MOBILE_ID: &str = "3179e48a-750b-4051-897c-87b9720928f7";
const ALTERNATE_ID: &str = "b6332ec1-7057-4abe-9331-3d72feddfe41";

fn reset(app: &Spin, key: &str, body: Value) -> Reply {
    common::post(app, "/v1/reset", key, &body, &[])
}

fn types(list: &Value) -> Vec<String> {
    let mut t: Vec<String> = list
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|m| m["type"].as_str().unwrap().to_string())
        .collect();
    t.sort();
    t
}

/// Method ids of the DELETEs Graph received, in order.
fn deletions(sim: &Sim) -> Vec<String> {
    writes(sim)
        .iter()
        .filter(|w| w["method"] == "DELETE")
        .map(|w| w["path"].as_str().unwrap().to_string())
        .collect()
}

fn held_types(sim: &Sim, user_id: &str) -> Vec<String> {
    let mut t: Vec<String> = methods_of(sim, user_id)
        .iter()
        .map(|m| m["@odata.type"].as_str().unwrap().to_string())
        .collect();
    t.sort();
    t
}

const PASSWORD_ONLY: &str = "#microsoft.graph.passwordAuthenticationMethod";

#[test]
fn removes_every_method_default_last_keeps_the_password_and_revokes_sessions() {
    let (sim, app) = stack(&[]);
    let before = sim.state();
    let r = common::post(
        &app,
        "/v1/reset",
        demo::helpdesk_key(),
        &json!({ "user": ALICE, "ticket": "INC0012345", "reason": "lost phone" }),
        &[("x-request-id", "req-reset-1")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let b = r.json();
    assert_eq!(b["user"]["id"], ALICE_ID);
    assert_eq!(b["dryRun"], false);
    assert_eq!(b["failed"], json!([]));
    assert_eq!(b["sessionsRevoked"], true);
    assert_eq!(b["ticket"], "INC0012345");
    assert_eq!(
        types(&b["removed"]),
        [
            "email",
            "external",
            "fido2",
            "hardwareOath",
            "microsoftAuthenticator",
            "phone",
            "phone",
            "phone",
            "platformCredential",
            "qrCodePin",
            "softwareOath",
            "windowsHelloForBusiness"
        ]
    );
    assert_eq!(
        b["remaining"],
        json!([{ "id": PASSWORD_ID, "type": "password", "reason": "the password is never removed" }])
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));

    // The tenant holds the password and nothing else.
    assert_eq!(held_types(&sim, ALICE_ID), [PASSWORD_ONLY]);

    // Each through its own endpoint, the default (Authenticator) last, the
    // alternate mobile before the mobile, never the password.
    let d = deletions(&sim);
    assert_eq!(d.len(), 12, "{d:#?}");
    let base = format!("/users/{ALICE_ID}/authentication");
    assert_eq!(
        d.last().unwrap(),
        &format!("/v1.0{base}/microsoftAuthenticatorMethods/{ALICE_AUTHENTICATOR}")
    );
    let at = |suffix: &str| d.iter().position(|p| p.ends_with(suffix)).unwrap();
    assert!(at(ALTERNATE_ID) < at(MOBILE_ID));
    assert!(d.contains(&format!("/beta{base}/qrCodePinMethod")));
    assert!(d
        .iter()
        .any(|p| p.starts_with(&format!("/beta{base}/hardwareOathMethods/"))));
    assert!(d.iter().all(|p| !p.contains("passwordMethods")));

    // Sessions revoked once, after the deletions; then the confirming re-read.
    let log = sim.requests();
    let graph: Vec<&Value> = log.iter().filter(|r| r["kind"] == "graph").collect();
    let revoke = graph
        .iter()
        .position(|r| {
            r["method"] == "POST"
                && r["path"] == format!("/v1.0/users/{ALICE_ID}/revokeSignInSessions")
        })
        .expect("revoked");
    let last_delete = graph.iter().rposition(|r| r["method"] == "DELETE").unwrap();
    assert!(revoke > last_delete);
    assert!(graph[revoke + 1..]
        .iter()
        .any(|r| r["method"] == "GET" && r["path"] == format!("/v1.0{base}/methods")));
    let user_after = |s: &Value| {
        s["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["id"] == ALICE_ID)
            .unwrap()["signInSessionsValidFromDateTime"]
            .clone()
    };
    assert_ne!(user_after(&sim.state()), user_after(&before));
    for req in log
        .iter()
        .filter(|r| r["kind"] != "token" && r["batchParent"].is_null())
    {
        assert_eq!(req["headers"]["client-request-id"], "req-reset-1", "{req}");
    }

    // One audit record, and nothing secret in logs or audit.
    let audit = audit_rows(&app).join("\n");
    assert!(
        audit.contains("|helpdesk|reset|succeeded|200|None|"),
        "{audit}"
    );
    assert!(audit.contains(ALICE_AUTHENTICATOR) && audit.contains("INC0012345"));
    let logs = app.logs();
    for secret in [demo::helpdesk_key(), &mfa_tests::demo_app().client_secret] {
        assert!(!logs.contains(secret), "secret in logs");
        assert!(!audit.contains(secret), "secret in audit");
    }
}

#[test]
fn a_dry_run_says_what_would_go_and_writes_nothing() {
    let (sim, app) = stack(&[]);
    let before = methods_of(&sim, ALICE_ID);
    let r = reset(
        &app,
        demo::helpdesk_key(),
        json!({ "user": ALICE, "ticket": "T", "dryRun": true }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let b = r.json();
    assert_eq!(b["dryRun"], true);
    assert_eq!(b["wouldRemove"].as_array().unwrap().len(), 12);
    // Listed in the order they would go: the default last.
    assert_eq!(b["wouldRemove"][11]["id"], ALICE_AUTHENTICATOR);
    assert_eq!(b["remaining"][0]["type"], "password");
    assert_eq!(b["sessionsRevoked"], false);
    assert!(b.get("removed").is_none());
    assert_eq!(writes(&sim), Vec::<Value>::new());
    assert_eq!(methods_of(&sim, ALICE_ID), before);
    assert!(audit_rows(&app)
        .join("\n")
        .contains("|helpdesk|reset|dry_run|200|"));
}

#[test]
fn method_types_narrow_the_removal_and_bad_types_are_400() {
    let (sim, app) = stack(&[]);
    let r = reset(
        &app,
        demo::helpdesk_key(),
        json!({ "user": ALICE, "ticket": "T", "methodTypes": ["phone", "fido2"], "revokeSessions": false }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let b = r.json();
    assert_eq!(types(&b["removed"]), ["fido2", "phone", "phone", "phone"]);
    assert_eq!(b["sessionsRevoked"], false);
    let kept = b["remaining"].as_array().unwrap();
    assert!(kept
        .iter()
        .any(|m| m["id"] == ALICE_AUTHENTICATOR && m["reason"] == "not in methodTypes"));
    let w = writes(&sim);
    assert_eq!(w.len(), 4, "{w:#?}");
    assert!(w.iter().all(|w| w["method"] == "DELETE"), "no revocation");
    assert!(held_types(&sim, ALICE_ID)
        .contains(&"#microsoft.graph.microsoftAuthenticatorAuthenticationMethod".to_string()));

    for bad in [
        json!(["sms"]),
        json!(["password"]),
        json!("phone"),
        json!([1]),
    ] {
        let r = reset(
            &app,
            demo::helpdesk_key(),
            json!({ "user": ALICE, "ticket": "T", "methodTypes": bad }),
        );
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        let p = r.json();
        assert_eq!(p["code"], "invalid_request", "{p}");
        assert!(
            p["field"].as_str().unwrap().starts_with("methodTypes"),
            "{p}"
        );
    }
    assert_eq!(writes(&sim).len(), 4, "bad input wrote nothing");
}

#[test]
fn a_failed_removal_is_502_partial_reset_and_a_retry_finishes_the_job() {
    let (sim, app) = stack(&[]);
    sim.fault(json!({
        "pathPattern": "/fido2Methods/", "method": "DELETE", "status": 403,
        "errorCode": "accessDenied", "count": 1
    }));
    let body = json!({ "user": ALICE, "ticket": "INC7" });
    let r = common::post(
        &app,
        "/v1/reset",
        demo::helpdesk_key(),
        &body,
        &[("idempotency-key", "INC7-1")],
    );
    assert_eq!(r.status, 502, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let p = r.json();
    assert_eq!(p["code"], "partial_reset");
    // The FIDO2 key failed with Graph's answer; the default could then not
    // go either (Graph keeps it while others remain): both are reported.
    let failed = p["failed"].as_array().unwrap();
    let fido = failed
        .iter()
        .find(|f| f["type"] == "fido2")
        .expect("fido2 failed");
    assert_eq!(fido["status"], 403);
    assert_eq!(fido["code"], "accessDenied");
    let app_failure = failed
        .iter()
        .find(|f| f["id"] == ALICE_AUTHENTICATOR)
        .expect("default deferred then failed");
    assert_eq!(app_failure["status"], 400);
    assert_eq!(p["removed"].as_array().unwrap().len(), 10);
    assert_eq!(
        types(&p["remaining"]),
        ["fido2", "microsoftAuthenticator", "password"]
    );
    assert_eq!(p["sessionsRevoked"], true);
    assert!(
        p["changed"]
            .as_str()
            .unwrap()
            .starts_with("removed 10 method(s)"),
        "{p}"
    );
    assert!(p["auditId"].as_str().is_some());
    assert_eq!(
        held_types(&sim, ALICE_ID),
        [
            "#microsoft.graph.fido2AuthenticationMethod",
            "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
            PASSWORD_ONLY
        ]
    );

    // The same delivery again (a 5xx is not stored): it finishes the job.
    sim.clear_requests();
    let r = common::post(
        &app,
        "/v1/reset",
        demo::helpdesk_key(),
        &body,
        &[("idempotency-key", "INC7-1")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("idempotent-replayed").is_none());
    let b = r.json();
    assert_eq!(types(&b["removed"]), ["fido2", "microsoftAuthenticator"]);
    assert_eq!(b["failed"], json!([]));
    assert_eq!(types(&b["remaining"]), ["password"]);
    assert_eq!(held_types(&sim, ALICE_ID), [PASSWORD_ONLY]);
    let d = deletions(&sim);
    assert_eq!(d.len(), 2, "{d:#?}");
    assert!(d[1].ends_with(ALICE_AUTHENTICATOR));

    let audit = audit_rows(&app).join("\n");
    assert!(
        audit.contains("|helpdesk|reset|failed|502|Some(\"partial_reset\")|"),
        "{audit}"
    );
    assert!(
        audit.contains("|helpdesk|reset|succeeded|200|None|"),
        "{audit}"
    );
}

#[test]
fn the_default_is_found_by_deferral_when_sign_in_preferences_are_unreadable() {
    let (sim, app) = stack(&[]);
    sim.reseed(|f| fixture_user(f, ALICE)["signInPreferencesUnreadable"] = json!(true));
    let r = reset(
        &app,
        demo::helpdesk_key(),
        json!({ "user": ALICE, "ticket": "T" }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["failed"], json!([]));
    assert_eq!(held_types(&sim, ALICE_ID), [PASSWORD_ONLY]);
    // Graph refused the default once (400), and took it after the others.
    let tries: Vec<Value> = writes(&sim)
        .into_iter()
        .filter(|w| w["path"].as_str().unwrap().ends_with(ALICE_AUTHENTICATOR))
        .collect();
    assert_eq!(tries.len(), 2, "{tries:#?}");
    assert_eq!(tries[0]["status"], 400);
    assert_eq!(tries[1]["status"], 204);
    assert_eq!(
        deletions(&sim).last().unwrap(),
        tries[1]["path"].as_str().unwrap()
    );
}

#[test]
fn throttled_past_the_budget_is_503_saying_what_changed() {
    let (sim, app) = stack(&[]);
    sim.fault(json!({
        "pathPattern": "/softwareOathMethods/", "method": "DELETE", "status": 429,
        "retryAfter": 60, "count": 5
    }));
    let r = reset(
        &app,
        demo::helpdesk_key(),
        json!({ "user": ALICE, "ticket": "T" }),
    );
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    let p = r.json();
    assert_eq!(p["code"], "graph_throttled");
    let removed = p["removed"].as_array().unwrap().len();
    assert!(removed > 0 && removed < 12, "{p}");
    assert!(
        p["changed"]
            .as_str()
            .unwrap()
            .contains(&format!("removed {removed} method(s)")),
        "{p}"
    );
    assert!(p["failed"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["type"] == "softwareOath"));
    // Nothing was attempted after the throttled step, and no revocation.
    assert_eq!(deletions(&sim).len(), removed + 1);
    assert!(writes(&sim).iter().all(|w| w["method"] == "DELETE"));
}

#[test]
fn guards_refuse_unknown_disabled_and_protected_users_without_a_write() {
    let (sim, app) = stack(&[]);
    let cases = [
        (
            "nobody@contoso.com",
            demo::helpdesk_key(),
            404,
            "user_not_found",
        ),
        (
            "dave@contoso.com",
            demo::helpdesk_key(),
            409,
            "user_disabled",
        ),
        (
            "adele.admin@contoso.com",
            demo::helpdesk_key(),
            403,
            "protected_user",
        ),
        ("not a user", demo::helpdesk_key(), 400, "invalid_user"),
        (ALICE, demo::reader_key(), 403, "insufficient_scope"),
        (ALICE, "wrong-key", 401, "unauthorized"),
    ];
    for (user, key, status, code) in cases {
        let r = reset(&app, key, json!({ "user": user, "ticket": "T" }));
        assert_eq!(r.status, status, "{user}: {}", r.body);
        assert_eq!(r.json()["code"], code, "{user}");
    }
    let r = reset(&app, demo::helpdesk_key(), json!({ "user": ALICE }));
    assert_eq!(
        (r.status, r.json()["field"].clone()),
        (400, json!("ticket"))
    );
    let r = reset(
        &app,
        demo::helpdesk_key(),
        json!({ "user": ALICE, "ticket": "T", "dryrun": true }),
    );
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (400, json!("unknown_field"))
    );
    assert_eq!(writes(&sim), Vec::<Value>::new());

    // A privileged caller may reset a protected user.
    let r = reset(
        &app,
        demo::admin_key(),
        json!({ "user": "adele.admin@contoso.com", "ticket": "T" }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        types(&r.json()["removed"]),
        ["fido2", "microsoftAuthenticator"]
    );
}

#[test]
fn a_guest_is_warned_that_their_home_tenant_keeps_its_sessions() {
    let (_sim, app) = stack(&[]);
    let r = reset(
        &app,
        demo::helpdesk_key(),
        json!({ "user": "jo_fabrikam.com#EXT#@contoso.onmicrosoft.com", "ticket": "T" }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let b = r.json();
    assert_eq!(types(&b["removed"]), ["email"]);
    assert!(
        b["warnings"][0].as_str().unwrap().contains("home tenant"),
        "{b}"
    );
}

#[test]
fn retries_replay_and_the_per_user_limit_holds() {
    let (sim, app) = stack(&[("rate_limits", Some(r#"{"resetPerUserPerDay":1}"#))]);
    let body = json!({ "user": "carol@contoso.com", "ticket": "T" });
    let first = common::post(
        &app,
        "/v1/reset",
        demo::helpdesk_key(),
        &body,
        &[("idempotency-key", "k1")],
    );
    assert_eq!(first.status, 200, "{}", first.body);
    let again = common::post(
        &app,
        "/v1/reset",
        demo::helpdesk_key(),
        &body,
        &[("idempotency-key", "k1")],
    );
    assert_eq!(again.status, 200);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json()["removed"], first.json()["removed"]);
    assert_eq!(deletions(&sim).len(), 2, "a replay repeats no deletion");

    // A new request for the same user is over the per-user limit; a dry
    // run is not a reset and is not counted.
    let dry = reset(
        &app,
        demo::helpdesk_key(),
        json!({ "user": "carol@contoso.com", "ticket": "T", "dryRun": true }),
    );
    assert_eq!(dry.status, 200, "{}", dry.body);
    let r = reset(&app, demo::helpdesk_key(), body);
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.json()["code"], "rate_limited");
    assert!(r.header("retry-after").is_some());
}

/// One reset as graph-sim's log saw it, every Graph round trip costing
/// `ms`: the token and role holders warmed by a dry run first.
fn timed_reset(sim: &Sim, app: &Spin, ms: u64) -> (Value, Vec<Value>) {
    sim.latency(ms);
    let dry = reset(
        app,
        demo::helpdesk_key(),
        json!({ "user": ALICE, "ticket": "T", "dryRun": true }),
    );
    assert_eq!(dry.status, 200, "{}", dry.body);
    sim.clear_requests();
    let r = reset(
        app,
        demo::helpdesk_key(),
        json!({ "user": ALICE, "ticket": "T" }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    (r.json(), sim.requests())
}

/// The `$batch` envelopes of a log, with what each asked.
fn envelopes(log: &[Value]) -> Vec<(&Value, Vec<Value>)> {
    log.iter()
        .filter(|r| r["kind"] == "batch")
        .map(|r| (r, r["body"]["requests"].as_array().unwrap().clone()))
        .collect()
}

/// Each request after the first depends on the one before it.
fn chained(items: &[Value]) -> bool {
    items[0].get("dependsOn").is_none()
        && items
            .windows(2)
            .all(|p| p[1]["dependsOn"] == json!([p[0]["id"]]))
}

/// Whether two logged requests were in flight together.
fn overlapped(a: &Value, b: &Value) -> bool {
    let n = |r: &Value, k: &str| r[k].as_u64().unwrap();
    n(a, "seq") <= n(b, "answeredSeq") && n(b, "seq") <= n(a, "answeredSeq")
}

#[test]
fn every_method_type_goes_in_three_round_trips_the_deletions_chained_in_one_batch() {
    let (sim, app) = stack(&[]);
    let (b, log) = timed_reset(&sim, &app, 40);
    assert_eq!(b["removed"].as_array().unwrap().len(), 12, "{b}");
    assert_eq!(held_types(&sim, ALICE_ID), [PASSWORD_ONLY]);
    let t = sim.traffic();
    assert_eq!(t.sequential, 3, "{log:#?}");
    assert_eq!((t.batches, t.tokens), (3, 0));

    let env = envelopes(&log);
    // 1: the reads; beta's hardware OATH list and default method beside.
    let beta_reads: Vec<&Value> = log
        .iter()
        .filter(|r| r["kind"] == "graph" && r["batchParent"].is_null() && r["method"] == "GET")
        .collect();
    let first: Vec<&&Value> = beta_reads
        .iter()
        .filter(|r| overlapped(r, env[0].0))
        .collect();
    assert_eq!(first.len(), 2, "{beta_reads:#?}");
    // 2: the nine v1.0 deletions, chained, the alternate before the mobile;
    // the two beta deletions in flight beside them.
    let (second, items) = &env[1];
    assert_eq!(items.len(), 9, "{items:#?}");
    assert!(chained(items), "{items:#?}");
    let url = |i: &Value| i["url"].as_str().unwrap().to_string();
    let at = |id: &str| items.iter().position(|i| url(i).ends_with(id)).unwrap();
    assert!(at(ALTERNATE_ID) < at(MOBILE_ID));
    assert!(items.iter().all(|i| i["method"] == "DELETE"));
    let beta_deletes: Vec<&Value> = log
        .iter()
        .filter(|r| r["method"] == "DELETE" && r["path"].as_str().unwrap().starts_with("/beta/"))
        .collect();
    assert_eq!(beta_deletes.len(), 2);
    assert!(beta_deletes.iter().all(|d| overlapped(d, second)));
    // 3: the default, then the revocation and the confirming re-read.
    let (_, last) = &env[2];
    assert!(chained(last), "{last:#?}");
    let base = format!("/users/{ALICE_ID}");
    assert_eq!(
        last.iter().map(url).collect::<Vec<_>>(),
        [
            format!("{base}/authentication/microsoftAuthenticatorMethods/{ALICE_AUTHENTICATOR}"),
            format!("{base}/revokeSignInSessions"),
            format!("{base}/authentication/methods"),
        ]
    );
}

#[test]
fn the_deferred_default_and_a_user_without_beta_methods_stay_within_three_round_trips() {
    let (sim, app) = stack(&[]);
    sim.reseed(|f| fixture_user(f, ALICE)["signInPreferencesUnreadable"] = json!(true));
    let (b, log) = timed_reset(&sim, &app, 40);
    assert_eq!(b["failed"], json!([]), "{b}");
    assert_eq!(held_types(&sim, ALICE_ID), [PASSWORD_ONLY]);
    assert_eq!(sim.traffic().sequential, 3, "{log:#?}");
    let refused = log
        .iter()
        .filter(|r| {
            r["status"] == 400 && r["path"].as_str().unwrap().ends_with(ALICE_AUTHENTICATOR)
        })
        .count();
    assert_eq!(refused, 1, "refused once, then taken last");

    // Only v1.0 methods: the deletions, the revocation and the re-read
    // share one `$batch`.
    sim.reseed(|f| {
        let alice = fixture_user(f, ALICE);
        let kept: Vec<Value> = alice["methods"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| {
                let t = m["@odata.type"].as_str().unwrap();
                !t.contains("hardwareOath") && !t.contains("qrCodePin")
            })
            .cloned()
            .collect();
        alice["methods"] = Value::Array(kept);
    });
    let (b, log) = timed_reset(&sim, &app, 40);
    assert_eq!(b["removed"].as_array().unwrap().len(), 10, "{b}");
    assert_eq!(sim.traffic().sequential, 2, "{log:#?}");
    let env = envelopes(&log);
    assert_eq!(env.len(), 2);
    assert_eq!(env[1].1.len(), 12, "10 deletions, revocation, re-read");
    assert!(chained(&env[1].1));
}
