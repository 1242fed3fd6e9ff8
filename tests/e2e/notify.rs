//! Out-of-band notices (`notify`): one mail per configured kind through
//! Graph `sendMail`, after the change and its audit record, never holding a
//! pass, never twice for one logical operation, and a failed send a warning.

use std::sync::Arc;

use mfa_tests::{demo, Sim, Spin};
use serde_json::{json, Value};

use crate::common::{self, audit_rows};
use crate::stack;

const ALL: &str =
    r#"{"sender":"mfa-notify@contoso.com","recipients":["manager","alternateEmail","user"]}"#;

fn mails(sim: &Sim) -> Vec<Value> {
    sim.state()["sentMail"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn to(mail: &Value) -> Vec<String> {
    mail["message"]["toRecipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["emailAddress"]["address"].as_str().unwrap().to_string())
        .collect()
}

fn text(mail: &Value) -> &str {
    mail["message"]["body"]["content"].as_str().unwrap()
}

fn tap(app: &Spin, body: Value, extra: &[(&str, &str)]) -> mfa_tests::Reply {
    common::post(app, "/v1/tap", demo::admin_key(), &body, extra)
}

#[test]
fn a_pass_is_announced_to_every_kind_after_the_change_and_without_the_pass() {
    let (sim, app) = stack(&[("notify", Some(ALL))]);
    let r = tap(
        &app,
        json!({ "user": "alice@contoso.com", "ticket": "INC-N1" }),
        &[("x-request-id", "notify-1")],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let b = r.json();
    assert_eq!(b["notified"], json!(["manager", "alternateEmail", "user"]));
    assert_eq!(b["warnings"], json!([]));
    let pass = b["temporaryAccessPass"].as_str().unwrap();
    let audit_id = b["auditId"].as_str().unwrap();

    let sent = mails(&sim);
    assert_eq!(sent.len(), 3, "{sent:#?}");
    let mut recipients: Vec<Vec<String>> = sent.iter().map(to).collect();
    recipients.sort();
    assert_eq!(
        recipients,
        [
            vec!["alice.private@example.net".to_string()],
            vec!["alice@contoso.com".to_string()],
            vec!["megan@contoso.com".to_string()],
        ]
    );
    for m in &sent {
        assert_eq!(m["sender"], "mfa-notify@contoso.com");
        let t = text(m);
        assert!(!m.to_string().contains(pass), "a mail holds the pass: {m}");
        // No `ticket_pattern`: the ticket is not vouched for, so not quoted.
        assert!(!t.contains("INC-N1"), "{t}");
        for part in [
            "Temporary Access Pass",
            audit_id,
            "contact your IT helpdesk",
        ] {
            assert!(t.contains(part), "{part} missing: {t}");
        }
    }
    assert!(
        text(&sent[0]).contains("manager of")
            || sent.iter().any(|m| text(m).contains("manager of"))
    );

    // The manager was read in the first $batch; the mails went after the
    // pass was created, in one more $batch.
    let log = sim.requests();
    let at = |pred: &dyn Fn(&Value) -> bool| log.iter().position(pred).unwrap();
    let manager = at(&|r| r["path"].as_str().unwrap_or("").ends_with("/manager"));
    let create = at(&|r| {
        r["method"] == "POST"
            && r["path"]
                .as_str()
                .unwrap_or("")
                .ends_with("temporaryAccessPassMethods")
    });
    let send = at(&|r| r["path"].as_str().unwrap_or("").ends_with("/sendMail"));
    assert!(
        manager < create && create < send,
        "manager {manager}, create {create}, send {send}"
    );

    // Its own audit record, after the change's, naming who was told.
    let rows: Vec<String> = audit_rows(&app)
        .into_iter()
        .filter(|r| r.ends_with("|notify-1"))
        .collect();
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert!(rows[0].contains("|tap|succeeded|201|"), "{}", rows[0]);
    assert!(rows[1].contains("|notify|succeeded|202|"), "{}", rows[1]);
    assert!(
        rows[1].contains("megan@contoso.com") && rows[1].contains(audit_id),
        "{}",
        rows[1]
    );
    assert!(!rows.iter().any(|r| r.contains(pass)));
    assert!(!app.logs().contains(pass), "the pass in a log line");
}

#[test]
fn only_the_configured_kinds_that_exist_are_told_and_the_rest_are_warnings() {
    let (sim, app) = stack(&[(
        "notify",
        Some(r#"{"sender":"mfa-notify@contoso.com","recipients":["user"]}"#),
    )]);
    let r = tap(
        &app,
        json!({ "user": "alice@contoso.com", "ticket": "INC-N2" }),
        &[],
    );
    assert_eq!(r.json()["notified"], json!(["user"]));
    let sent = mails(&sim);
    assert_eq!(
        sent.iter().map(to).collect::<Vec<_>>(),
        [vec!["alice@contoso.com".to_string()]]
    );
    // `manager` not configured: not read either.
    assert!(!sim
        .requests()
        .iter()
        .any(|r| r["path"].as_str().unwrap_or("").ends_with("/manager")));

    // Carol has neither a manager nor an alternate address.
    let (sim, app) = stack(&[("notify", Some(ALL))]);
    let r = tap(
        &app,
        json!({ "user": "carol@contoso.com", "ticket": "INC-N3", "replaceExisting": true }),
        &[],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let b = r.json();
    assert_eq!(b["notified"], json!(["user"]));
    let w = b["warnings"].to_string();
    assert!(
        w.contains("the manager was not notified: the user has no manager"),
        "{w}"
    );
    assert!(w.contains("the alternateEmail was not notified"), "{w}");
    assert_eq!(mails(&sim).len(), 1);
}

#[test]
fn retries_and_concurrent_duplicates_send_one_notice() {
    let (sim, app) = stack(&[
        ("notify", Some(ALL)),
        ("rate_limits", Some(r#"{"callerPerMinute":1000}"#)),
    ]);
    let app = Arc::new(app);
    let threads: Vec<_> = (0..12)
        .map(|_| {
            let app = app.clone();
            std::thread::spawn(move || {
                tap(
                    &app,
                    json!({ "user": "bob@contoso.com", "ticket": "INC-N4" }),
                    &[("idempotency-key", "notify-storm")],
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
    // A later retry replays, saying who was told, and sends nothing.
    let r = tap(
        &app,
        json!({ "user": "bob@contoso.com", "ticket": "INC-N4" }),
        &[("idempotency-key", "notify-storm")],
    );
    assert_eq!(r.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        r.json()["notified"],
        json!(["manager", "alternateEmail", "user"])
    );
    assert_eq!(mails(&sim).len(), 3, "one mail per kind, once");
    let notices = audit_rows(&app)
        .iter()
        .filter(|r| r.contains("|notify|"))
        .count();
    assert_eq!(notices, 1);
}

#[test]
fn a_failed_send_is_a_warning_and_an_audit_fact_not_a_failure() {
    let (sim, app) = stack(&[("notify", Some(ALL))]);
    sim.fault(json!({ "pathPattern": "/sendMail$", "status": 500, "count": 10 }));
    let r = tap(
        &app,
        json!({ "user": "alice@contoso.com", "ticket": "INC-N5" }),
        &[("x-request-id", "notify-5")],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let b = r.json();
    assert_eq!(b["notified"], json!([]));
    let w = b["warnings"].to_string();
    for kind in ["manager", "alternateEmail", "user"] {
        assert!(
            w.contains(&format!(
                "the {kind} was not notified: sendMail answered HTTP 500"
            )),
            "{w}"
        );
    }
    assert!(mails(&sim).is_empty());
    assert!(
        common::methods_of(&sim, "2f9c4b7e-83d1-4a6f-b2c5-9e1d7a3f6b80")
            .iter()
            .any(|m| m["temporaryAccessPass"] == b["temporaryAccessPass"])
    );
    let rows = audit_rows(&app);
    let notice = rows
        .iter()
        .find(|r| r.contains("|notify|") && r.ends_with("|notify-5"))
        .expect("notify audit record");
    assert!(notice.contains("|failed|502|"), "{notice}");
    assert!(notice.contains("sendMail answered HTTP 500"), "{notice}");
}

#[test]
fn resets_and_phones_are_announced_but_dry_runs_and_no_ops_are_not() {
    let (sim, app) = stack(&[("notify", Some(ALL))]);
    let key = demo::admin_key();
    let dry = common::post(
        &app,
        "/v1/reset",
        key,
        &json!({ "user": "alice@contoso.com", "ticket": "INC-N6", "dryRun": true }),
        &[],
    );
    assert_eq!(dry.status, 200, "{}", dry.body);
    assert!(dry.json().get("notified").is_none());
    assert!(mails(&sim).is_empty());

    let r = common::post(
        &app,
        "/v1/reset",
        key,
        &json!({ "user": "alice@contoso.com", "ticket": "INC-N6" }),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["notified"],
        json!(["manager", "alternateEmail", "user"])
    );
    let sent = mails(&sim);
    assert_eq!(sent.len(), 3);
    assert!(
        text(&sent[0]).contains("must register again"),
        "{}",
        text(&sent[0])
    );
    // What the mail announces is what the tenant holds.
    let alice: Vec<Value> = common::methods_of(&sim, "2f9c4b7e-83d1-4a6f-b2c5-9e1d7a3f6b80");
    assert_eq!(alice.len(), 1, "only the password is left: {alice:#?}");

    let phone = json!({ "user": "bob@contoso.com", "ticket": "INC-N7", "phoneNumber": "+1 (206) 555-0100" });
    let r = common::post(&app, "/v1/phone", key, &phone, &[]);
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(
        common::methods_of(&sim, "48b85567-7c29-53ed-b888-e7aef7ddc561")
            .iter()
            .any(|m| m["phoneNumber"] == "+1 2065550100")
    );
    let sent = mails(&sim);
    assert_eq!(sent.len(), 6);
    let t = text(&sent[5]);
    assert!(
        t.contains("ending in 00") && !t.contains("2065550100"),
        "{t}"
    );

    // The same number again changes nothing and tells nobody.
    let r = common::post(&app, "/v1/phone", key, &phone, &[]);
    assert_eq!(
        (r.status, r.json()["unchanged"].clone()),
        (200, json!(true))
    );
    assert_eq!(mails(&sim).len(), 6);
}

#[test]
fn a_ticket_is_in_the_mail_only_when_it_matches_ticket_pattern_and_a_reason_never() {
    // No pattern: the ticket is free text from the caller, so the mail
    // leaves it out (the reference to quote is the audit id).
    let (sim, app) = stack(&[("notify", Some(ALL))]);
    let r = tap(
        &app,
        json!({ "user": "alice@contoso.com", "ticket": "Call-555-0199-now",
                "reason": "URGENT-call-555-0142" }),
        &[],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let audit_id = r.json()["auditId"].as_str().unwrap().to_string();
    let sent = mails(&sim);
    assert_eq!(sent.len(), 3);
    for m in &sent {
        let all = m.to_string();
        assert!(
            !all.contains("555-0199"),
            "an unchecked ticket in mail: {m}"
        );
        assert!(!all.contains("555-0142"), "the reason in mail: {m}");
        assert!(text(m).contains(&audit_id), "{m}");
    }

    // A pattern: the ticket (which had to match it) is quoted; the reason
    // still never is.
    let (sim, app) = stack(&[
        ("notify", Some(ALL)),
        ("ticket_pattern", Some(r"^(INC|RITM)\d{7}$")),
    ]);
    let r = tap(
        &app,
        json!({ "user": "alice@contoso.com", "ticket": "INC0012345",
                "reason": "URGENT-call-555-0142" }),
        &[],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let sent = mails(&sim);
    assert_eq!(sent.len(), 3);
    for m in &sent {
        assert!(text(m).contains("Ticket: INC0012345"), "{m}");
        assert!(
            !m.to_string().contains("555-0142"),
            "the reason in mail: {m}"
        );
    }
}
