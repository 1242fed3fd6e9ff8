//! `GET /v1/audit`, `/v1/audit/{auditId}` and `/v1/audit/verify` end to
//! end: filters and cursor paging over records the other operations wrote,
//! the scope, bad queries, and `verify` catching records edited and
//! deleted straight in the SQLite file.

use mfa_tests::{demo, Reply, Spin};
use serde_json::{json, Value};

use crate::common;
use crate::stack;

fn get(app: &Spin, key: &str, path: &str) -> Reply {
    common::get(app, path, key, &[])
}

/// Writes `n` audit records: dry-run resets under tickets T1..Tn, by the
/// helpdesk, except every third by the admin.
fn write_records(app: &Spin, n: usize) {
    for i in 1..=n {
        let key = if i % 3 == 0 {
            demo::admin_key()
        } else {
            demo::helpdesk_key()
        };
        let r = common::post(
            app,
            "/v1/reset",
            key,
            &json!({ "user": "alice@contoso.com", "ticket": format!("T{i}"), "dryRun": true }),
            &[],
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

fn tickets(page: &Value) -> Vec<String> {
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ticket"].as_str().unwrap_or("-").to_string())
        .collect()
}

fn db(app: &Spin) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(app.state_dir().join("sqlite_db.db")).unwrap();
    // What someone with the file can do: the triggers do not stop them.
    c.execute_batch(
        "DROP TRIGGER IF EXISTS audit_records_no_update; DROP TRIGGER IF EXISTS audit_records_no_delete;",
    )
    .unwrap();
    c
}

#[test]
fn lists_newest_first_filters_pages_and_fetches_one() {
    let (_sim, app) = stack(&[]);
    write_records(&app, 7);
    let reader = demo::reader_key();

    let r = get(&app, reader, "/v1/audit");
    assert_eq!(r.status, 200, "{}", r.body);
    let all = r.json();
    assert_eq!(tickets(&all), ["T7", "T6", "T5", "T4", "T3", "T2", "T1"]);
    assert!(all.get("nextCursor").is_none());
    let first = &all["records"][0];
    assert_eq!(first["operation"], "reset");
    assert_eq!(first["outcome"], "dry_run");
    assert_eq!(first["status"], 200);
    assert_eq!(first["caller"], "helpdesk");
    assert_eq!(first["user"]["userPrincipalName"], "alice@contoso.com");
    assert!(first["hash"].as_str().unwrap().len() == 64);
    assert_eq!(all["records"][1]["hash"], first["prevHash"]);

    // Filters.
    let by = |q: &str| tickets(&get(&app, reader, &format!("/v1/audit?{q}")).json());
    assert_eq!(by("ticket=T3"), ["T3"]);
    assert_eq!(by("caller=admin"), ["T6", "T3"]);
    assert_eq!(by("user=ALICE@contoso.com").len(), 7);
    assert_eq!(by("user=2f9c4b7e-83d1-4a6f-b2c5-9e1d7a3f6b80").len(), 7);
    assert_eq!(by("user=bob@contoso.com"), Vec::<String>::new());
    assert_eq!(
        by("since=2000-01-01T00:00:00Z&until=2001-01-01T00:00:00Z"),
        Vec::<String>::new()
    );
    assert_eq!(by("since=2000-01-01T00:00:00%2B01:00").len(), 7);

    // Cursor paging: three pages of 3, 3, 1, no record twice.
    let mut seen = Vec::new();
    let mut path = "/v1/audit?limit=3".to_string();
    loop {
        let page = get(&app, reader, &path).json();
        seen.extend(tickets(&page));
        match page["nextCursor"].as_str() {
            Some(c) => path = format!("/v1/audit?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, tickets(&all));

    // One record by id; an unknown one.
    let id = first["auditId"].as_str().unwrap();
    let one = get(&app, reader, &format!("/v1/audit/{id}"));
    assert_eq!(one.status, 200);
    assert_eq!(&one.json(), first);
    for missing in ["aud_aaaaaaaaaaaaaaaaaaaaaaaaaa", "nope"] {
        let r = get(&app, reader, &format!("/v1/audit/{missing}"));
        assert_eq!(r.status, 404, "{}", r.body);
        assert_eq!(r.json()["code"], "audit_record_not_found");
    }
}

#[test]
fn the_scope_and_every_bad_query_are_refused() {
    let (_sim, app) = stack(&[]);
    let r = get(&app, demo::helpdesk_key(), "/v1/audit");
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["code"], "insufficient_scope");
    let r = app.client().get("/v1/audit/verify");
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    for (query, code, field) in [
        ("limit=0", "invalid_request", "limit"),
        ("limit=1001", "invalid_request", "limit"),
        ("limit=ten", "invalid_request", "limit"),
        ("since=yesterday", "invalid_request", "since"),
        ("until=2026-13-01T00:00:00Z", "invalid_request", "until"),
        ("cursor=!!", "invalid_request", "cursor"),
        ("ticket=a&ticket=b", "invalid_request", "ticket"),
        ("tickets=T1", "unknown_field", "tickets"),
    ] {
        let r = get(&app, demo::reader_key(), &format!("/v1/audit?{query}"));
        common::assert_refused(&r, 400, code, field, query);
    }
    let auth = format!("Bearer {}", demo::reader_key());
    let r = app.client().send(
        "POST",
        "/v1/audit",
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ],
        Some(b"{}".to_vec()),
    );
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET"));
}

#[test]
fn verify_names_the_first_edited_or_deleted_record() {
    let (_sim, app) = stack(&[]);
    write_records(&app, 5);
    let verify = || get(&app, demo::reader_key(), "/v1/audit/verify").json();
    assert_eq!(verify(), json!({ "ok": true, "records": 5 }));

    let ids: Vec<String> = {
        let c = db(&app);
        let mut s = c
            .prepare("SELECT audit_id FROM audit_records ORDER BY seq")
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };

    // An edited ticket: that record no longer hashes to its `hash`.
    db(&app)
        .execute(
            "UPDATE audit_records SET ticket = 'T-forged' WHERE audit_id = ?1",
            [&ids[1]],
        )
        .unwrap();
    assert_eq!(
        verify(),
        json!({ "ok": false, "records": 5, "firstBadAuditId": ids[1] })
    );
    db(&app)
        .execute(
            "UPDATE audit_records SET ticket = 'T2' WHERE audit_id = ?1",
            [&ids[1]],
        )
        .unwrap();
    assert_eq!(verify()["ok"], true, "restored");

    // An edited outcome in the details column.
    db(&app)
        .execute(
            "UPDATE audit_records SET details = replace(details, 'wouldRemove', 'removed') WHERE audit_id = ?1",
            [&ids[2]],
        )
        .unwrap();
    assert_eq!(verify()["firstBadAuditId"], ids[2].as_str());
    db(&app)
        .execute(
            "UPDATE audit_records SET details = replace(details, 'removed', 'wouldRemove') WHERE audit_id = ?1",
            [&ids[2]],
        )
        .unwrap();
    assert_eq!(verify()["ok"], true, "restored");

    // A deleted record: its successor no longer names its predecessor.
    db(&app)
        .execute("DELETE FROM audit_records WHERE audit_id = ?1", [&ids[3]])
        .unwrap();
    assert_eq!(
        verify(),
        json!({ "ok": false, "records": 4, "firstBadAuditId": ids[4] })
    );
}
