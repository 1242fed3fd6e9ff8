//! `GET /v1/diagnose` end to end: each finding from a fixture user built to
//! trigger it, each `unavailable` reason, and what the simulated tenant saw:
//! one `$batch` (plus the beta default-method read beside it) and no write.

use mfa_tests::{demo, Sim, Spin};
use serde_json::{json, Value};

use crate::common::{self, assert_refused, audit_rows, writes};
use crate::stack;

const BOB_ID: &str = "48b85567-7c29-53ed-b888-e7aef7ddc561";

fn diagnose(app: &Spin, query: &str) -> mfa_tests::Reply {
    common::get(
        app,
        &format!("/v1/diagnose?{query}"),
        demo::helpdesk_key(),
        &[],
    )
}

/// Diagnoses `user` and checks the traffic: one `$batch`, no write.
fn read(sim: &Sim, app: &Spin, user: &str) -> Value {
    sim.clear_requests();
    let r = diagnose(app, &format!("user={}", user.replace('#', "%23")));
    assert_eq!(r.status, 200, "{user}: {}", r.body);
    let log = sim.requests();
    // A reseeded tenant forgets the app's token: a 401 answered batch is
    // the token refresh, not a second read.
    // The protection check's second step (owners and PIM for Groups of the
    // role-assignable groups, read only when its cache is cold) depends on
    // the first batch's answers, so it is a batch of its own.
    let second_step = |envelope: &Value| {
        let items: Vec<&Value> = log
            .iter()
            .filter(|r| r["batchParent"] == envelope["seq"])
            .collect();
        !items.is_empty()
            && items.iter().all(|r| {
                let p = r["path"].as_str().unwrap_or_default();
                p.starts_with("/v1.0/groups/") || p.starts_with("/v1.0/identityGovernance/")
            })
    };
    let batches = log
        .iter()
        .filter(|r| r["kind"] == "batch" && r["status"] != 401 && !second_step(r))
        .count();
    assert_eq!(batches, 1, "{user}: {log:#?}");
    assert!(
        writes(sim).is_empty(),
        "{user}: diagnose wrote {:#?}",
        writes(sim)
    );
    r.json()
}

fn codes(b: &Value) -> Vec<(String, String)> {
    b["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn finding<'a>(b: &'a Value, code: &str) -> &'a Value {
    b["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in {:#}", b["findings"]))
}

fn event(code: u32, ago: &str) -> Value {
    json!({ "userId": BOB_ID, "createdDateTime": ago, "status": { "errorCode": code }, "ipAddress": "198.51.100.7" })
}

/// Bob has only a password; his sign-ins are the ones given.
fn bob_failing(f: &mut Value) {
    f["signIns"] = json!({ "events": [
        event(500121, "now-3h"), event(500121, "now-2h"), event(500121, "now-1h"),
        event(53003, "now-50m"), event(50053, "now-40m"),
    ] });
}

#[test]
fn a_user_with_only_a_password_gets_a_blocker_and_the_request_that_fixes_it() {
    let (sim, app) = stack(&[]);
    sim.reseed(bob_failing);
    let b = read(&sim, &app, "bob@contoso.com");
    assert_eq!(
        codes(&b),
        [
            ("no_usable_method".to_string(), "blocker".to_string()),
            ("repeated_mfa_failures".into(), "warning".into()),
            ("blocked_by_conditional_access".into(), "warning".into()),
            ("account_locked".into(), "warning".into()),
        ]
    );
    assert_eq!(b["user"]["id"], BOB_ID);
    assert_eq!(
        (b["accountEnabled"].clone(), b["userType"].clone()),
        (json!(true), json!("Member"))
    );
    // Power Automate sends an optional parameter left empty as `days=`:
    // the default, as if absent.
    let connector = diagnose(&app, "user=bob@contoso.com&days=");
    assert_eq!(connector.status, 200, "{}", connector.body);
    assert_eq!(codes(&connector.json()), codes(&b));
    assert_eq!(b["methods"].as_array().unwrap().len(), 1);
    assert_eq!(b["methods"][0]["type"], "password");
    assert_eq!(b["registration"]["isMfaRegistered"], false);
    assert_eq!(
        b["protected"],
        json!({ "isProtected": false, "reasons": [], "pim": { "consulted": true } })
    );
    assert_eq!(b["temporaryAccessPass"]["policyState"], "enabled");
    assert_eq!(b["temporaryAccessPass"]["userInScope"], true);
    assert_eq!(
        b["temporaryAccessPass"]["lifetimeBounds"],
        json!({ "minimum": 60, "maximum": 480 })
    );
    assert_eq!(b["temporaryAccessPass"]["existing"], Value::Null);
    assert_eq!(b["unavailable"], json!([]));
    let recent = &b["recentFailures"];
    assert_eq!(recent["total"], 5);
    assert_eq!(recent["byErrorCode"]["500121"]["count"], 3);
    assert_eq!(recent["byErrorCode"]["53003"]["count"], 1);

    // The meanings come from the table the failures report uses.
    let report = common::get(
        &app,
        "/v1/failures?since=P1D&errorCodes=500121,53003,50053",
        demo::reader_key(),
        &[],
    );
    let meanings = &report.json()["errorCodeMeanings"];
    for code in ["500121", "53003", "50053"] {
        assert_eq!(
            recent["byErrorCode"][code]["meaning"], meanings[code],
            "{code}"
        );
        assert!(meanings[code].is_string());
    }

    // The suggested request is the one to send: filled in, it issues a pass.
    let action = &finding(&b, "no_usable_method")["suggestedAction"];
    assert_eq!(action["operation"], "POST /v1/tap");
    let mut body = action["body"].clone();
    assert_eq!(body["user"], "bob@contoso.com");
    body["ticket"] = json!("INC-D1");
    body["reason"] = json!("locked out");
    let r = common::post(&app, "/v1/tap", demo::helpdesk_key(), &body, &[]);
    assert_eq!(r.status, 201, "{}", r.body);

    // A read record, not a mutation.
    let rows = audit_rows(&app);
    assert!(
        rows.iter()
            .any(|r| r.contains("|helpdesk|diagnose|succeeded|200|")),
        "{rows:#?}"
    );
}

/// A change to the demo fixture before a case.
type Edit = Box<dyn Fn(&mut Value)>;

#[test]
fn each_finding_comes_from_a_user_built_to_trigger_it() {
    let (sim, app) = stack(&[]);
    let quiet = |f: &mut Value| f["signIns"] = json!({ "events": [] });
    let cases: Vec<(&str, Edit, &str, &str)> = vec![
        (
            "dave@contoso.com",
            Box::new(quiet),
            "account_disabled",
            "blocker",
        ),
        ("carol@contoso.com", Box::new(quiet), "existing_tap", "info"),
        (
            "adele.admin@contoso.com",
            Box::new(quiet),
            "protected_user",
            "warning",
        ),
        (
            "jo_fabrikam.com#EXT#@contoso.onmicrosoft.com",
            Box::new(quiet),
            "guest_user",
            "warning",
        ),
        (
            "frank@contoso.com",
            Box::new(quiet),
            "user_not_in_tap_policy_scope",
            "info",
        ),
        (
            "bob@contoso.com",
            Box::new(move |f: &mut Value| {
                quiet(f);
                for c in f["authenticationMethodsPolicy"]["configurations"]
                    .as_array_mut()
                    .unwrap()
                {
                    if c["id"] == "TemporaryAccessPass" {
                        c["state"] = json!("disabled");
                    }
                }
            }),
            "tap_policy_disabled",
            "info",
        ),
        (
            "bob@contoso.com",
            Box::new(bob_failing),
            "repeated_mfa_failures",
            "warning",
        ),
    ];
    for (user, edit, code, severity) in cases {
        sim.reseed(|f| edit(f));
        let b = read(&sim, &app, user);
        let f = finding(&b, code);
        assert_eq!(f["severity"], severity, "{user}: {f}");
        assert!(
            f["message"].as_str().is_some_and(|m| m.len() > 20),
            "{user}: {f}"
        );
        // Blockers first, then warnings, then info.
        let order: Vec<u8> = codes(&b)
            .iter()
            .map(|(_, s)| match s.as_str() {
                "blocker" => 0,
                "warning" => 1,
                _ => 2,
            })
            .collect();
        assert!(order.windows(2).all(|w| w[0] <= w[1]), "{user}: {order:?}");
        match code {
            "account_disabled" => assert_eq!(b["accountEnabled"], false),
            "existing_tap" => {
                let existing = &b["temporaryAccessPass"]["existing"];
                assert!(existing["id"].is_string(), "{existing}");
                let expires = existing["expiresDateTime"].as_str().unwrap();
                assert!(f["message"].as_str().unwrap().contains(expires), "{f}");
                assert!(
                    !b.to_string().contains("Xk7#pQ2w"),
                    "diagnose never shows a pass"
                );
            }
            "protected_user" => {
                assert_eq!(b["protected"]["isProtected"], true);
                assert!(!b["protected"]["reasons"].as_array().unwrap().is_empty());
            }
            "guest_user" => assert_eq!(b["userType"], "Guest"),
            "user_not_in_tap_policy_scope" => {
                assert_eq!(b["temporaryAccessPass"]["userInScope"], false)
            }
            "tap_policy_disabled" => {
                // No pass possible: the blocker points at a phone instead.
                let action = &finding(&b, "no_usable_method")["suggestedAction"];
                assert_eq!(action["operation"], "POST /v1/phone", "{action}");
            }
            _ => {}
        }
    }
}

#[test]
fn each_source_that_cannot_be_read_is_listed_with_its_reason() {
    let (sim, app) = stack(&[]);
    let has = |b: &Value, source: &str, reason: &str| {
        b["unavailable"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["source"] == source && u["reason"] == reason)
    };

    // No P1: no sign-in log and no registration report.
    sim.reseed(|f| f["tenant"]["premium"] = json!(false));
    let b = read(&sim, &app, "bob@contoso.com");
    assert!(
        has(&b, "signIns", "premium_license_required"),
        "{:#}",
        b["unavailable"]
    );
    assert!(
        has(&b, "registration", "premium_license_required"),
        "{:#}",
        b["unavailable"]
    );
    assert_eq!(b["recentFailures"], Value::Null);
    assert_eq!(b["registration"], Value::Null);
    assert_eq!(finding(&b, "sign_in_logs_unavailable")["severity"], "info");
    assert_eq!(
        finding(&b, "no_usable_method")["severity"],
        "blocker",
        "the rest still judged"
    );

    // Beta refused: the default method is unknown, the rest is there.
    sim.reset();
    let b = read(&sim, &app, "lee@contoso.com");
    assert!(
        has(&b, "signInPreferences", "beta_refused"),
        "{:#}",
        b["unavailable"]
    );
    assert!(b["methods"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["isDefault"] == false));

    // Throttled past the budget: that source only.
    sim.reset();
    sim.fault(json!({ "pathPattern": "^/v1\\.0/auditLogs/signIns$", "status": 429, "retryAfter": 60, "count": 5 }));
    let b = read(&sim, &app, "bob@contoso.com");
    assert!(has(&b, "signIns", "throttled"), "{:#}", b["unavailable"]);
    assert!(b["methods"].is_array());

    // Permissions not granted: each source says so; the user is still read.
    // (A fresh stack: the first one's token carries the full grant.)
    let (sim2, app2) = stack(&[]);
    sim2.reseed(|f| f["apps"][0]["permissions"] = json!(["User.Read.All", "GroupMember.Read.All"]));
    let b = read(&sim2, &app2, "bob@contoso.com");
    for source in [
        "methods",
        "tapPolicy",
        "temporaryAccessPass",
        "signIns",
        "registration",
        "protection",
    ] {
        assert!(
            has(&b, source, "permission_missing"),
            "{source}: {:#}",
            b["unavailable"]
        );
    }
    assert_eq!(b["user"]["id"], BOB_ID);
    assert_eq!(b["methods"], Value::Null);
}

#[test]
fn bad_queries_and_callers_are_refused_before_any_graph_call() {
    let (sim, app) = stack(&[]);
    sim.clear_requests();
    for (query, status, code, field) in [
        ("", 400, "invalid_request", "user"),
        ("days=3", 400, "invalid_request", "user"),
        ("user=&days=3", 400, "invalid_request", "user"),
        (
            "user=bob@contoso.com&days=0",
            400,
            "invalid_request",
            "days",
        ),
        (
            "user=bob@contoso.com&days=31",
            400,
            "invalid_request",
            "days",
        ),
        (
            "user=bob@contoso.com&days=seven",
            400,
            "invalid_request",
            "days",
        ),
        (
            "user=bob@contoso.com&user=carol@contoso.com",
            400,
            "invalid_request",
            "user",
        ),
        (
            "user=bob@contoso.com&verbose=1",
            400,
            "unknown_field",
            "verbose",
        ),
        ("user=not%20a%20user", 400, "invalid_user", "user"),
    ] {
        assert_refused(&diagnose(&app, query), status, code, field, query);
    }
    let none = app
        .client()
        .send("GET", "/v1/diagnose?user=bob@contoso.com", &[], None);
    assert_eq!(none.status, 401);
    let reader = common::get(
        &app,
        "/v1/diagnose?user=bob@contoso.com",
        demo::reader_key(),
        &[],
    );
    assert_eq!(
        (reader.status, reader.json()["code"].clone()),
        (403, json!("insufficient_scope"))
    );
    let post = app.client().send("POST", "/v1/diagnose", &[], None);
    assert_eq!(post.status, 405);
    assert!(
        sim.requests()
            .iter()
            .all(|r| r["kind"] != "graph" && r["kind"] != "batch"),
        "{:#?}",
        sim.requests()
    );

    let r = diagnose(&app, "user=nobody@contoso.com");
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (404, json!("user_not_found"))
    );
    assert!(writes(&sim).is_empty());
}
