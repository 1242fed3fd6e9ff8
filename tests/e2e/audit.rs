//! `GET /v1/audit`, `/v1/audit/{auditId}`, `/v1/audit/verify` and
//! `/v1/audit/head` end to end: filters and cursor paging over records the
//! other operations wrote, the scope, bad queries, `verify` catching
//! records edited and deleted straight in the SQLite file, and with
//! `audit_key` a chain rehashed without the key and a truncation caught
//! from a kept head.

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
    assert_eq!(
        verify(),
        json!({ "ok": true, "records": 5, "keyed": false })
    );

    let ids = chain_ids(&app);

    // An edited ticket: that record no longer hashes to its `hash`.
    db(&app)
        .execute(
            "UPDATE audit_records SET ticket = 'T-forged' WHERE audit_id = ?1",
            [&ids[1]],
        )
        .unwrap();
    assert_eq!(
        verify(),
        json!({ "ok": false, "records": 5, "firstBadAuditId": ids[1], "keyed": false })
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
        json!({ "ok": false, "records": 4, "firstBadAuditId": ids[4], "keyed": false })
    );
}

const AUDIT_KEY: &str = "audit-key-for-tests-0123456789abcdef";

fn chain_ids(app: &Spin) -> Vec<String> {
    let c = db(app);
    let mut s = c
        .prepare("SELECT audit_id FROM audit_records ORDER BY seq")
        .unwrap();
    s.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// What someone who can write the file but lacks `audit_key` does: edits a
/// record, then recomputes every hash from there to the end by the
/// documented rule (plain SHA-256), so each record names its new
/// predecessor.
fn forge_from(app: &Spin, ids: &[String], from: usize, ticket: &str) {
    let c = db(app);
    let mut prev: String = if from == 0 {
        mfa_core::audit::GENESIS.into()
    } else {
        c.query_row(
            "SELECT hash FROM audit_records WHERE audit_id = ?1",
            [&ids[from - 1]],
            |r| r.get(0),
        )
        .unwrap()
    };
    for (i, id) in ids.iter().enumerate().skip(from) {
        let mut record = get(app, demo::reader_key(), &format!("/v1/audit/{id}")).json();
        if i == from {
            record["ticket"] = json!(ticket);
        }
        let body: serde_json::Map<String, Value> = record
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| *k != "prevHash" && *k != "hash")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let hash = mfa_core::audit::chain_hash(
            mfa_core::audit::Keying::Plain,
            &prev,
            &Value::Object(body),
        );
        c.execute(
            "UPDATE audit_records SET ticket = ?1, prev_hash = ?2, hash = ?3 WHERE audit_id = ?4",
            rusqlite::params![record["ticket"].as_str(), prev, hash, id],
        )
        .unwrap();
        prev = hash;
    }
}

#[test]
fn a_chain_rehashed_without_the_key_is_caught_under_audit_key() {
    // Without a key the forgery is perfect: verify cannot tell.
    let (_sim, app) = stack(&[]);
    write_records(&app, 5);
    let ids = chain_ids(&app);
    forge_from(&app, &ids, 1, "T-forged");
    let r = get(&app, demo::reader_key(), "/v1/audit/verify").json();
    assert_eq!(r, json!({ "ok": true, "records": 5, "keyed": false }));
    assert_eq!(
        get(&app, demo::reader_key(), &format!("/v1/audit/{}", ids[1])).json()["ticket"],
        "T-forged"
    );

    // Under audit_key the same forgery is named at the edited record.
    let (_sim, app) = stack(&[("audit_key", Some(AUDIT_KEY))]);
    write_records(&app, 5);
    let verify = || get(&app, demo::reader_key(), "/v1/audit/verify").json();
    assert_eq!(verify(), json!({ "ok": true, "records": 5, "keyed": true }));
    let ids = chain_ids(&app);
    forge_from(&app, &ids, 1, "T-forged");
    assert_eq!(
        verify(),
        json!({ "ok": false, "records": 5, "firstBadAuditId": ids[1], "keyed": true })
    );
    // Rewriting from the very first record is caught at the first record.
    forge_from(&app, &ids, 0, "T-forged-too");
    assert_eq!(verify()["firstBadAuditId"], ids[0].as_str());
    // The stored hashes are HMACs under the key, not SHA-256.
    let logs = app.logs();
    assert!(!logs.contains(AUDIT_KEY), "audit_key in the log");
}

#[test]
fn truncation_is_caught_from_a_kept_head() {
    let (_sim, app) = stack(&[("audit_key", Some(AUDIT_KEY))]);
    write_records(&app, 3);
    let r = get(&app, demo::reader_key(), "/v1/audit/head");
    assert_eq!(r.status, 200, "{}", r.body);
    let head = r.json();
    let ids = chain_ids(&app);
    assert_eq!(head["seq"], 3);
    assert_eq!(head["auditId"], ids[2].as_str());
    let newest = get(&app, demo::reader_key(), &format!("/v1/audit/{}", ids[2])).json();
    assert_eq!(head["hash"], newest["hash"]);
    assert_eq!(head["time"], newest["time"]);
    // The signature is the documented HMAC, checkable with the key alone.
    let message = format!(
        "mfa-recovery audit head v1\n3\n{}\n{}\n{}",
        ids[2],
        newest["hash"].as_str().unwrap(),
        newest["time"].as_str().unwrap()
    );
    assert_eq!(
        head["signature"],
        mfa_core::audit::Keying::Keyed(AUDIT_KEY.as_bytes())
            .mac(&[&message])
            .unwrap()
            .as_str()
    );
    let kept = head["hash"].as_str().unwrap().to_string();

    write_records(&app, 2);
    let check = |head: &str| {
        get(
            &app,
            demo::reader_key(),
            &format!("/v1/audit/verify?head={head}"),
        )
        .json()
    };
    let r = check(&kept);
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["head"], json!({ "hash": kept, "found": true, "seq": 3 }));

    // Someone with the file deletes the newest records, the kept head's
    // included: what is left is a valid chain on its own...
    db(&app)
        .execute("DELETE FROM audit_records WHERE seq >= 3", [])
        .unwrap();
    let r = get(&app, demo::reader_key(), "/v1/audit/verify").json();
    assert_eq!(r, json!({ "ok": true, "records": 2, "keyed": true }));
    // ...but not one that runs through the kept head.
    assert_eq!(
        check(&kept),
        json!({ "ok": false, "records": 2, "keyed": true,
                "head": { "hash": kept, "found": false } })
    );
}

#[test]
fn a_long_verify_resumes_with_its_cursor_and_bad_queries_are_refused() {
    let (_sim, app) = stack(&[("audit_key", Some(AUDIT_KEY))]);
    write_records(&app, 5);
    let mut path = "/v1/audit/verify?limit=2".to_string();
    let mut seen = Vec::new();
    loop {
        let r = get(&app, demo::reader_key(), &path);
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        assert_eq!(v["ok"], true);
        seen.push(v["records"].as_u64().unwrap());
        match v["nextCursor"].as_str() {
            Some(c) => path = format!("/v1/audit/verify?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, [2, 4, 5]);
    for (query, code, field) in [
        ("head=abc", "invalid_request", "head"),
        ("limit=0", "invalid_request", "limit"),
        ("cursor=!!", "invalid_request", "cursor"),
        ("since=2026-01-01T00:00:00Z", "unknown_field", "since"),
    ] {
        let r = get(
            &app,
            demo::reader_key(),
            &format!("/v1/audit/verify?{query}"),
        );
        common::assert_refused(&r, 400, code, field, query);
    }
    let r = get(&app, demo::helpdesk_key(), "/v1/audit/head");
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["code"], "insufficient_scope");
}

/// Rotating `audit_key`: the new key chains from the rotation on, and the
/// records under the old one verify while it is in `audit_previous_keys`;
/// without it `verify` fails at the first of them, and the log holds
/// neither key.
#[test]
fn a_rotated_audit_key_keeps_the_old_records_verifiable() {
    const NEW_KEY: &str = "rotated-audit-key-SECRET-0123456789abcdef";
    let dir = tempfile::Builder::new()
        .prefix("mfa-rotate-")
        .tempdir()
        .unwrap();
    let sim = mfa_tests::Sim::start(&mfa_tests::demo_fixture());
    let run = |vars: &[(&str, Option<&str>)]| {
        let mut opts = crate::options(&sim.url(), vars);
        opts.state_dir = Some(dir.path().to_path_buf());
        Spin::start(opts).unwrap()
    };
    let verify = |app: &Spin| get(app, demo::reader_key(), "/v1/audit/verify").json();

    let mut app = run(&[("audit_key", Some(AUDIT_KEY))]);
    write_records(&app, 2);
    app.stop();
    let previous = format!(r#"["{AUDIT_KEY}"]"#);
    let mut app = run(&[
        ("audit_key", Some(NEW_KEY)),
        ("audit_previous_keys", Some(&previous)),
    ]);
    write_records(&app, 3);
    let r = verify(&app);
    assert_eq!(
        (
            &r["ok"],
            &r["records"],
            &r["previousKeyRecords"],
            &r["keyed"]
        ),
        (&json!(true), &json!(5), &json!(2), &json!(true)),
        "{r}"
    );
    // The head is signed under the new key.
    let head = get(&app, demo::reader_key(), "/v1/audit/head").json();
    assert_eq!(head["seq"], 5);
    let message = format!(
        "mfa-recovery audit head v1\n5\n{}\n{}\n{}",
        head["auditId"].as_str().unwrap(),
        head["hash"].as_str().unwrap(),
        head["time"].as_str().unwrap()
    );
    assert_eq!(
        head["signature"],
        mfa_core::audit::Keying::Keyed(NEW_KEY.as_bytes())
            .mac(&[&message])
            .unwrap()
            .as_str()
    );
    let logs = app.logs();
    app.stop();
    assert!(
        !logs.contains(AUDIT_KEY) && !logs.contains(NEW_KEY),
        "a key in the log"
    );

    // The old key dropped: its records can no longer be checked.
    let app = run(&[("audit_key", Some(NEW_KEY))]);
    let r = verify(&app);
    let ids = chain_ids(&app);
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["firstBadAuditId"], ids[0].as_str(), "{r}");
    assert!(!r.to_string().contains(AUDIT_KEY));
}
