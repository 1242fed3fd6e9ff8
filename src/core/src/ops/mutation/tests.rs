//! The pipeline's orders, natively, with a stand-in operation: what is
//! written, sent and stored, and in which order, for each way an attempt
//! can end.

use std::cell::{Cell, RefCell};

use futures::executor::block_on;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::*;
use crate::api::request::Body;
use crate::graph::users::DirectoryUser;
use crate::notify::Audience;
use crate::ports::SqlValue;
use crate::testing::World;
use crate::types::{Reason, Ticket, UserRef, Verification};

/// The `a` caller's key in [`World::configured`].
const KEY: &str = "password";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProbeInput {
    user: UserRef,
    ticket: Option<Ticket>,
    reason: Option<Reason>,
    verification: Option<Verification>,
}
mutation_input!(ProbeInput);

/// How the stand-in operation ends.
#[derive(Clone, Copy)]
enum Script {
    Change,
    ChangeAndNotify,
    Fail(ErrorCode),
}

thread_local! {
    static SCRIPT: Cell<Script> = const { Cell::new(Script::Change) };
    static ACTED: Cell<u32> = const { Cell::new(0) };
    /// Audit ids the operation found already written when it acted.
    static RECORDS_WHEN_ACTING: RefCell<Vec<i64>> = const { RefCell::new(Vec::new()) };
}

struct Probe;

/// An answer with a secret in it, as TAP's.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ProbeAnswer {
    temporary_access_pass: &'static str,
    warnings: Vec<String>,
}

impl Answer for ProbeAnswer {
    fn holds_secret(&self) -> bool {
        true
    }
    fn replay(&self) -> Value {
        json!({ "passRedacted": true, "warnings": [] })
    }
    fn audit(&self) -> Value {
        json!({ "made": true })
    }
}

impl Operation for Probe {
    type Input = ProbeInput;
    type Answer = ProbeAnswer;
    const OPERATION: MutatingOperation = MutatingOperation::Tap;
    async fn act(cx: &Context<'_>, input: ProbeInput) -> Result<Done<ProbeAnswer>, Refusal> {
        ACTED.set(ACTED.get() + 1);
        RECORDS_WHEN_ACTING.with_borrow_mut(|r| r.push(rows(cx.host.db)));
        let user = DirectoryUser {
            summary: UserSummary {
                id: "00000000-0000-4000-8000-00000000a11c".into(),
                user_principal_name: input.user.as_str().into(),
                display_name: None,
            },
            account_enabled: true,
            user_type: "Member".into(),
            mail: Some("alice@contoso.com".into()),
            other_mails: vec![],
        };
        let notice = match (SCRIPT.get(), &cx.config.notify) {
            (Script::ChangeAndNotify, Some(n)) => Some(Notice {
                audience: Audience::of(n, &user, None),
                user: user.summary.clone(),
                change: "A probe changed something.".into(),
            }),
            _ => None,
        };
        match SCRIPT.get() {
            Script::Fail(code) => Err(Refusal::refused(Problem::new(code, "scripted"))),
            Script::Change | Script::ChangeAndNotify => Ok(Done {
                status: StatusCode::CREATED,
                answer: ProbeAnswer {
                    temporary_access_pass: "Secret-Pass-1",
                    warnings: vec![],
                },
                user: Some(user.summary.clone()),
                notice,
            }),
        }
    }
}

fn rows(db: &dyn crate::ports::Database) -> i64 {
    count(db, "audit_records") + count(db, "audit_attempts").max(0)
}

fn journal(db: &dyn crate::ports::Database) -> i64 {
    count(db, "audit_attempts")
}

fn count(db: &dyn crate::ports::Database, table: &str) -> i64 {
    match db.execute(&format!("SELECT COUNT(*) FROM {table}"), &[]) {
        Ok(r) => match r.first().and_then(|r| r.first()) {
            Some(SqlValue::Integer(n)) => *n,
            _ => -1,
        },
        Err(_) => 0,
    }
}

fn world(script: Script) -> World {
    SCRIPT.set(script);
    ACTED.set(0);
    RECORDS_WHEN_ACTING.with_borrow_mut(Vec::clear);
    World::configured()
}

/// A token that is not a JWT: the permission pre-check lets it through.
fn token(w: &World) {
    w.transport.push(
        200,
        r#"{"access_token":"opaque","expires_in":3600,"token_type":"Bearer"}"#,
    );
}

fn post(w: &World, body: &str, idempotency_key: Option<&str>) -> Result<Response, Problem> {
    let mut req = http::Request::builder()
        .method("POST")
        .uri("/v1/tap")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {KEY}"));
    if let Some(k) = idempotency_key {
        req = req.header("idempotency-key", k);
    }
    let req = req.body(Body::Complete(body.as_bytes().to_vec())).unwrap();
    let id = RequestId::parse("req-1").unwrap();
    block_on(run::<Probe>(&req, &w.host(), &id))
}

const BODY: &str = r#"{"user":"alice@contoso.com","ticket":"INC0001"}"#;

fn body_of(res: &Response) -> Value {
    serde_json::from_slice(res.body()).unwrap()
}

#[test]
fn the_attempt_is_recorded_before_the_operation_acts() {
    let w = world(Script::Change);
    token(&w);
    let res = post(&w, BODY, None).unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(ACTED.get(), 1);
    // Journaled, not yet chained, when it acted; chained under that id after.
    assert_eq!(RECORDS_WHEN_ACTING.with_borrow(Clone::clone), [1]);
    let id = body_of(&res)["auditId"].as_str().unwrap().to_string();
    assert!(id.starts_with("aud_"), "{id}");
    let record = crate::audit::get(&w.db, &id).unwrap().unwrap();
    assert_eq!(record.entry.outcome, crate::audit::Outcome::Succeeded);
    assert_eq!(record.entry.details["made"], true);
    assert_eq!(journal(&w.db), 0);
    assert_eq!(res.headers()["cache-control"], "no-store");
}

#[test]
fn no_graph_call_when_the_attempt_cannot_be_recorded() {
    let w = world(Script::Change);
    crate::store::schema::migrate(&w.db, "2026-12-02T00:00:00Z").unwrap();
    w.db.0
        .execute_batch(
            "CREATE TRIGGER block BEFORE INSERT ON audit_attempts
             BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
        )
        .unwrap();
    token(&w);
    let p = post(&w, BODY, Some("k1")).unwrap_err();
    assert_eq!(p.code, ErrorCode::AuditUnavailable);
    assert_eq!(p.code.status(), 503);
    assert_eq!(p.extensions["changed"], "nothing was changed");
    assert!(p.extensions.get("auditId").is_none());
    assert_eq!(ACTED.get(), 0);
    assert!(w.transport.sent().is_empty(), "not even a token request");

    // The claim was released: once the trail is back, the retry acts.
    w.db.0.execute_batch("DROP TRIGGER block;").unwrap();
    assert_eq!(post(&w, BODY, Some("k1")).unwrap().status(), 201);
    assert_eq!(ACTED.get(), 1);
}

#[test]
fn a_retryable_failure_releases_the_claim_and_a_refusal_by_rule_is_stored() {
    let w = world(Script::Fail(ErrorCode::GraphThrottled));
    token(&w);
    let p = post(&w, BODY, Some("k1")).unwrap_err();
    assert_eq!(p.code, ErrorCode::GraphThrottled);
    assert!(p.extensions["auditId"].is_string());
    // Released: the retry does the work.
    SCRIPT.set(Script::Fail(ErrorCode::TapExists));
    let p = post(&w, BODY, Some("k1")).unwrap_err();
    assert_eq!(p.code, ErrorCode::TapExists);
    assert_eq!(ACTED.get(), 2);
    // Stored: the next retry replays it without acting.
    SCRIPT.set(Script::Change);
    let res = post(&w, BODY, Some("k1")).unwrap();
    assert_eq!(res.status(), 409);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    assert_eq!(body_of(&res)["code"], "tap_exists");
    assert_eq!(ACTED.get(), 2);
}

#[test]
fn a_replay_never_holds_the_pass_nor_sends_a_second_notice() {
    let mut w = world(Script::ChangeAndNotify);
    w.vars.insert(
        "notify".into(),
        r#"{"sender":"helpdesk@contoso.com","recipients":["user"]}"#.into(),
    );
    token(&w);
    // The sendMail `$batch`: one item, accepted.
    w.transport.push(
        200,
        r#"{"responses":[{"id":"user","status":202,"headers":{},"body":null}]}"#,
    );
    let first = post(&w, BODY, Some("k1")).unwrap();
    assert_eq!(first.status(), 201);
    let b = body_of(&first);
    assert_eq!(b["temporaryAccessPass"], "Secret-Pass-1");
    assert_eq!(b["notified"], json!(["user"]), "{b}");
    let sent = w.transport.sent().len();
    assert_eq!(sent, 2, "token and one sendMail batch");

    let again = post(&w, BODY, Some("k1")).unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let b = body_of(&again);
    assert!(b.get("temporaryAccessPass").is_none(), "{b}");
    assert_eq!(b["passRedacted"], true);
    assert_eq!(b["notified"], json!(["user"]));
    assert_eq!(b["auditId"], body_of(&first)["auditId"]);
    assert_eq!(ACTED.get(), 1);
    assert_eq!(w.transport.sent().len(), sent, "no second notice");

    // Nothing secret in the trail.
    let all: Vec<String> = {
        let mut stmt = w.db.0.prepare("SELECT details FROM audit_records").unwrap();
        stmt.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert!(!all.iter().any(|d| d.contains("Secret-Pass-1")), "{all:?}");
}

#[test]
fn refusals_before_a_caller_is_known_are_counted_not_audited() {
    let w = world(Script::Change);
    let mut req = http::Request::builder()
        .method("POST")
        .uri("/v1/tap")
        .header("content-type", "application/json")
        .header("authorization", "Bearer wrong")
        .body(Body::Complete(BODY.as_bytes().to_vec()))
        .unwrap();
    let id = RequestId::parse("req-1").unwrap();
    for _ in 0..3 {
        let p = block_on(run::<Probe>(&req, &w.host(), &id)).unwrap_err();
        assert_eq!(p.code, ErrorCode::Unauthorized);
    }
    *req.body_mut() = Body::TooLarge;
    let p = block_on(run::<Probe>(&req, &w.host(), &id)).unwrap_err();
    assert_eq!(p.code, ErrorCode::PayloadTooLarge);
    assert_eq!(rows(&w.db), 0, "no audit record");
    let now = crate::types::unix_secs(crate::ports::Clock::now(&w.clock));
    assert_eq!(crate::auth::refusals::recent(&w.kv, now).this_minute, 4);
    assert!(w.transport.sent().is_empty());

    // A known caller's refusal is audited.
    let mut w2 = world(Script::Change);
    w2.vars.insert("require_ticket".into(), "true".into());
    let p = post(&w2, r#"{"user":"alice@contoso.com"}"#, None).unwrap_err();
    assert_eq!(p.extensions["field"], "ticket");
    assert_eq!(rows(&w2.db), 1);
    assert_eq!(ACTED.get(), 0);
}
