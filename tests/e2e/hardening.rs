//! The attacks a reader of the code would try, end to end: a captured
//! webhook delivery sent elsewhere or again, a change the audit trail
//! cannot record, and an anonymous flood against the trail.

use std::sync::Arc;

use mfa_tests::{demo, Sim, Spin};
use serde_json::json;

use crate::common::{self, writes};
use crate::stack;

const ALICE: &str = "alice@contoso.com";
const ALICE_ID: &str = "2f9c4b7e-83d1-4a6f-b2c5-9e1d7a3f6b80";

fn has_pass(sim: &Sim, user_id: &str) -> bool {
    common::methods_of(sim, user_id)
        .iter()
        .any(|m| m["@odata.type"] == "#microsoft.graph.temporaryAccessPassAuthenticationMethod")
}

/// Chained audit records in the app's database.
fn chained_rows(app: &Spin) -> usize {
    common::audit_rows(app).len()
}

#[test]
fn a_captured_reset_delivery_cannot_mint_a_pass() {
    let (sim, app) = stack(&[]);
    // The reset fails upstream once (a 5xx).
    sim.fault(json!({ "pathPattern": "/authentication/methods$", "method": "GET", "status": 500, "errorCode": "generalException", "count": 1 }));
    let body = json!({ "user": ALICE, "ticket": "SN-77" }).to_string();
    let headers = common::webhook_headers("msg_reset_1", &body);
    let first = common::send_webhook(&app, "/v1/reset", &headers, &body);
    assert!(first.status >= 500, "{} {}", first.status, first.body);

    // The attacker replays the captured headers and body to /v1/tap.
    let stolen = common::send_webhook(&app, "/v1/tap", &headers, &body);
    assert_eq!(stolen.status, 401, "{}", stolen.body);
    assert_eq!(stolen.json()["code"], "replayed_webhook");
    assert!(stolen.json().get("temporaryAccessPass").is_none());
    assert!(!has_pass(&sim, ALICE_ID));
    assert!(!writes(&sim).iter().any(|w| w["path"]
        .as_str()
        .unwrap_or_default()
        .contains("temporaryAccessPassMethods")));

    // The sender's own redelivery to /v1/reset finishes the job.
    let retry = common::send_webhook(&app, "/v1/reset", &headers, &body);
    assert_eq!(retry.status, 200, "{}", retry.body);
    assert!(retry.header("idempotent-replayed").is_none());
}

#[test]
fn a_late_redelivery_replays_the_reset_rather_than_running_it_again() {
    let (sim, app) = stack(&[]);
    let body = json!({ "user": ALICE, "ticket": "SN-78" }).to_string();
    let first = common::send_webhook(
        &app,
        "/v1/reset",
        &common::webhook_headers("msg_reset_2", &body),
        &body,
    );
    assert_eq!(first.status, 200, "{}", first.body);
    let deletes = writes(&sim).len();
    assert!(deletes > 0);
    // The user registers a phone afterwards.
    let phone = json!({ "user": ALICE, "phoneNumber": "+1 206 555 0142", "phoneType": "mobile", "ticket": "SN-79" });
    let r = common::post(&app, "/v1/phone", demo::helpdesk_key(), &phone, &[]);
    assert_eq!(r.status, 201, "{}", r.body);
    let deletes = writes(&sim).len();
    let methods = common::methods_of(&sim, ALICE_ID);

    // Re-signed later, same id and body: the stored outcome, no new change.
    let late = common::send_webhook(
        &app,
        "/v1/reset",
        &common::webhook_headers("msg_reset_2", &body),
        &body,
    );
    assert_eq!(late.status, 200, "{}", late.body);
    assert_eq!(late.header("idempotent-replayed"), Some("true"));
    assert_eq!(late.json()["auditId"], first.json()["auditId"]);
    assert_eq!(writes(&sim).len(), deletes, "nothing deleted twice");
    assert_eq!(
        common::methods_of(&sim, ALICE_ID),
        methods,
        "the new phone stays"
    );
}

#[test]
fn no_change_is_made_that_the_audit_trail_cannot_record() {
    let (sim, app) = stack(&[]);
    // Make sure the schema exists, then make every insert fail.
    common::readyz(&app);
    let db = rusqlite::Connection::open(app.state_dir().join("sqlite_db.db")).unwrap();
    db.execute_batch(
        "CREATE TRIGGER full BEFORE INSERT ON audit_attempts
         BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
    )
    .unwrap();
    let body = json!({ "user": ALICE, "ticket": "INC0000001" });
    let extra = [("idempotency-key", "full-1")];
    let r = common::post(&app, "/v1/tap", demo::helpdesk_key(), &body, &extra);
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json()["code"], "audit_unavailable");
    assert_eq!(r.json()["changed"], "nothing was changed");
    assert!(r.header("retry-after").is_some());
    assert!(writes(&sim).is_empty());
    assert!(!has_pass(&sim, ALICE_ID));

    // Once the trail is writable, the same retry issues the pass, recorded.
    db.execute_batch("DROP TRIGGER full;").unwrap();
    let r = common::post(&app, "/v1/tap", demo::helpdesk_key(), &body, &extra);
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["auditId"].as_str().unwrap().to_string();
    let rec = common::get(&app, &format!("/v1/audit/{id}"), demo::reader_key(), &[]);
    assert_eq!(rec.status, 200, "{}", rec.body);
    assert_eq!(rec.json()["outcome"], "succeeded");
    // Its journal row is cleared once the record is chained.
    let journaled: i64 = db
        .query_row("SELECT COUNT(*) FROM audit_attempts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journaled, 0);
}

#[test]
fn an_anonymous_flood_adds_no_record_and_a_real_pass_keeps_its_own() {
    let (_sim, app) = stack(&[("rate_limits", Some(r#"{"callerPerMinute":null}"#))]);
    let app = Arc::new(app);
    common::readyz(&app);
    let before = chained_rows(&app);
    let flood: Vec<_> = (0..4)
        .map(|t| {
            let app = Arc::clone(&app);
            std::thread::spawn(move || {
                let mut statuses = Vec::new();
                for i in 0..500 {
                    let body = json!({ "user": ALICE, "ticket": format!("F{t}-{i}") });
                    let r = match i % 3 {
                        0 => common::post(&app, "/v1/tap", "not-a-key", &body, &[]),
                        1 => app.client().send(
                            "POST",
                            "/v1/reset",
                            &[("content-type", "application/json")],
                            Some(body.to_string().into_bytes()),
                        ),
                        _ => app.client().send(
                            "POST",
                            "/v1/phone",
                            &[("content-type", "application/json")],
                            Some(vec![b' '; 70_000]),
                        ),
                    };
                    statuses.push(r.status);
                }
                statuses
            })
        })
        .collect();
    // A real pass while the flood runs.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let real = common::post(
        &app,
        "/v1/tap",
        demo::helpdesk_key(),
        &json!({ "user": ALICE, "ticket": "INC0000002" }),
        &[],
    );
    let statuses: Vec<u16> = flood.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert_eq!(statuses.len(), 2000);
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 413),
        "{:?}",
        statuses
            .iter()
            .filter(|s| **s != 401 && **s != 413)
            .take(5)
            .collect::<Vec<_>>()
    );
    assert_eq!(real.status, 201, "{}", real.body);
    let id = real.json()["auditId"].as_str().unwrap().to_string();
    let rec = common::get(&app, &format!("/v1/audit/{id}"), demo::reader_key(), &[]);
    assert_eq!(rec.status, 200, "{}", rec.body);
    assert_eq!(rec.json()["caller"], "helpdesk");

    // The flood wrote nothing to the chain: only the real pass's rows.
    let rows = common::audit_rows(&app);
    assert!(rows.len() - before <= 2, "{rows:#?}");
    assert!(
        rows.iter().all(|r| !r.contains("unauthenticated")),
        "{rows:#?}"
    );
    let ready = common::readyz(&app);
    let counted = ready["refusedAnonymous"]["thisMinute"]
        .as_u64()
        .unwrap_or(0)
        + ready["refusedAnonymous"]["lastMinute"]
            .as_u64()
            .unwrap_or(0);
    assert!(counted >= 2000, "{ready}");
    let v = common::get(&app, "/v1/audit/verify", demo::reader_key(), &[]).json();
    assert_eq!(v["ok"], true, "{v}");
}
