//! Scale-out: two `spin up` instances behind one "load balancer" (the test
//! alternating between them) share a real `redis-server` for the key-value
//! store and one SQLite file for the audit trail, as production shares
//! Redis/Valkey and libSQL (runtime-config/, deploy/spinkube/); the local
//! Redis is runtime-config/redis-local.toml (plain, loopback only).
//! Duplicate deliveries split across both still make one Graph write; the
//! rate limit and the token cache are shared; the audit chain stays one.

use mfa_tests::{demo, demo_fixture, Sim, Spin};
use serde_json::{json, Value};

use crate::common::{self, Redis};
use crate::options;

/// Two instances sharing `redis` and one SQLite file.
fn two_instances(sim: &Sim, redis: &Redis, shared: &std::path::Path) -> (Spin, Spin) {
    let rc = redis.runtime_config(
        shared,
        &format!(
            "\n[sqlite_database.default]\ntype = \"spin\"\npath = \"{}\"\n",
            shared.join("audit.db").display()
        ),
    );
    let start = || {
        let mut o = options(&sim.url(), &[]);
        o.runtime_config = Some(rc.clone());
        Spin::start(o).unwrap_or_else(|e| panic!("{e:#}"))
    };
    (start(), start())
}

#[test]
fn two_instances_share_idempotency_rate_limits_tokens_and_the_audit_chain() {
    let redis = Redis::start();
    let sim = Sim::start(&demo_fixture());
    let shared = tempfile::tempdir().unwrap();
    let (a, b) = two_instances(&sim, &redis, shared.path());

    // The token the first instance fetched serves the second.
    let ra = common::readyz(&a);
    let rb = common::readyz(&b);
    assert_eq!(ra["graph"]["cached"], false, "{ra}");
    assert_eq!(rb["graph"]["cached"], true, "{rb}");
    assert_eq!(
        ra["installation"], rb["installation"],
        "one installation record"
    );
    assert_eq!(sim.token_requests(), 1);

    // 50 concurrent deliveries of one request, split across both.
    let body = json!({ "user": "alice@contoso.com", "ticket": "INC-SCALE" });
    let answers: Vec<(u16, Option<String>, Value)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..50)
            .map(|i| {
                let (app, body) = (if i % 2 == 0 { &a } else { &b }, &body);
                s.spawn(move || {
                    let r = common::post(
                        app,
                        "/v1/tap",
                        demo::helpdesk_key(),
                        body,
                        &[("idempotency-key", "INC-SCALE-1")],
                    );
                    (
                        r.status,
                        r.header("idempotent-replayed").map(str::to_string),
                        r.json(),
                    )
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let creates: Vec<Value> = sim
        .requests()
        .into_iter()
        .filter(|r| {
            r["method"] == "POST"
                && r["path"]
                    .as_str()
                    .unwrap()
                    .ends_with("/temporaryAccessPassMethods")
        })
        .collect();
    let not_409: Vec<_> = answers.iter().filter(|a| a.0 != 409).collect();
    assert_eq!(creates.len(), 1, "exactly one Graph write: {not_409:?}");
    let fresh = answers
        .iter()
        .filter(|(s, replay, _)| *s == 201 && replay.is_none())
        .count();
    assert_eq!(fresh, 1, "one answer carries the pass");
    for (status, replay, b) in &answers {
        match status {
            201 if replay.is_some() => assert_eq!(b["passRedacted"], true),
            201 => assert!(b["temporaryAccessPass"].is_string()),
            409 => assert_eq!(b["code"], "request_in_progress"),
            other => panic!("unexpected {other}: {b}"),
        }
    }

    // The per-caller limit (60 per minute) counts across both instances.
    let statuses: Vec<u16> = (0..61)
        .map(|i| {
            let app = if i % 2 == 0 { &a } else { &b };
            common::get(app, "/v1/audit?limit=1", demo::reader_key(), &[]).status
        })
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        60,
        "{statuses:?}"
    );
    assert_eq!(statuses[60], 429);

    // One audit chain, written by both.
    let v = common::get(&a, "/v1/audit/verify", demo::admin_key(), &[]).json();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["records"], 50, "{v}");
}
