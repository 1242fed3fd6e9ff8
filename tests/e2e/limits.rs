//! Rate limits end to end (API.md "Callers"): the per-caller cap on
//! mutations, `0` allowing none and `null` removing a limit, each refusal
//! made before Graph is asked anything.

use mfa_tests::{demo, Spin};
use serde_json::{json, Value};

use crate::common::{self, audit_rows, writes};
use crate::stack;

fn mutate(app: &Spin, path: &str, key: &str, body: Value) -> mfa_tests::Reply {
    common::post(app, path, key, &body, &[])
}

fn graph_calls(sim: &mfa_tests::Sim) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r["kind"] == "graph")
        .count()
}

#[test]
fn a_caller_is_capped_across_every_mutation_before_graph_is_asked() {
    let (sim, app) = stack(&[(
        "rate_limits",
        Some(r#"{"callerPerMinute":100,"callerMutationsPerDay":2}"#),
    )]);
    let key = demo::helpdesk_key();
    let r = mutate(
        &app,
        "/v1/tap",
        key,
        json!({ "user": "alice@contoso.com", "ticket": "INC-CAP-1" }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = mutate(
        &app,
        "/v1/phone",
        key,
        json!({ "user": "bob@contoso.com", "phoneNumber": "+1 206 555 0100", "ticket": "INC-CAP-2" }),
    );
    assert!(r.status < 300, "{}", r.body);
    let before = (writes(&sim).len(), graph_calls(&sim));

    // The third mutation, whichever operation: 429 with the seconds until
    // a slot frees, and nothing sent to Graph.
    for (path, body) in [
        (
            "/v1/reset",
            json!({ "user": "bob@contoso.com", "ticket": "INC-CAP-3" }),
        ),
        (
            "/v1/tap",
            json!({ "user": "bob@contoso.com", "ticket": "INC-CAP-4" }),
        ),
    ] {
        let r = mutate(&app, path, key, body);
        assert_eq!(r.status, 429, "{path}: {}", r.body);
        let p = r.json();
        assert_eq!(p["code"], "rate_limited", "{p}");
        assert_eq!(p["limit"], 2, "{p}");
        assert_eq!(p["windowSeconds"], 86_400, "{p}");
        let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
        // Both slots were taken seconds ago. By the sliding estimate the
        // first frees once they weigh 1 in the next day window: between
        // 12 h and 36 h from now, depending on the time of day.
        assert!(
            (12 * 3600..=36 * 3600).contains(&retry),
            "Retry-After {retry}"
        );
    }
    assert_eq!(
        (writes(&sim).len(), graph_calls(&sim)),
        before,
        "a capped mutation reached Graph"
    );
    let audit = audit_rows(&app).join("\n");
    assert!(
        audit.contains("|helpdesk|reset|refused|429|Some(\"rate_limited\")"),
        "{audit}"
    );

    // Another caller has its own cap; reads are not mutations.
    let r = mutate(
        &app,
        "/v1/tap",
        demo::admin_key(),
        json!({ "user": "bob@contoso.com", "ticket": "INC-CAP-5" }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = common::get(&app, "/v1/diagnose?user=alice@contoso.com", key, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn zero_allows_none_and_null_removes_a_limit() {
    let (sim, app) = stack(&[(
        "rate_limits",
        Some(r#"{"tapPerUserPerDay":0,"resetPerUserPerDay":null}"#),
    )]);
    let r = mutate(
        &app,
        "/v1/tap",
        demo::helpdesk_key(),
        json!({ "user": "alice@contoso.com", "ticket": "INC-ZERO-1" }),
    );
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.json()["code"], "rate_limited");
    assert!(r.header("retry-after").is_some());
    assert_eq!(graph_calls(&sim), 0, "{:#?}", sim.requests());

    // No per-user limit on resets: more than the default three go through.
    for i in 0..4 {
        let r = mutate(
            &app,
            "/v1/reset",
            demo::helpdesk_key(),
            json!({ "user": "bob@contoso.com", "ticket": format!("INC-NULL-{i}") }),
        );
        assert_eq!(r.status, 200, "reset {i}: {}", r.body);
    }

    // A caller limit of 0 admits nobody, reads included.
    let (sim, app) = stack(&[("rate_limits", Some(r#"{"callerPerMinute":0}"#))]);
    let r = common::get(
        &app,
        "/v1/diagnose?user=alice@contoso.com",
        demo::helpdesk_key(),
        &[],
    );
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(graph_calls(&sim), 0);
}
