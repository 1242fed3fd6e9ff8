//! Verification evidence (`verification`, `require_verification`): how the
//! helpdesk confirmed the caller is the user, required per the deployment,
//! validated, and kept with the ticket in the audit record.

use mfa_tests::{demo, Sim, Spin};
use serde_json::{json, Value};

use crate::common::{self, assert_refused, writes};
use crate::stack;

const EVIDENCE: &str = r#"{"method":"callback","reference":"called back on +1 425 555 0101 from the HR record","verifiedBy":"agent 7"}"#;

fn post(app: &Spin, path: &str, body: Value) -> mfa_tests::Reply {
    common::post(app, path, demo::admin_key(), &body, &[])
}

/// The tenant holds the method a 201 names: the change really happened.
fn held(sim: &Sim, r: &mfa_tests::Reply) {
    assert_eq!(r.status, 201, "{}", r.body);
    let b = r.json();
    let methods = common::methods_of(sim, b["user"]["id"].as_str().unwrap());
    assert!(
        methods.iter().any(|m| m["id"] == b["methodId"]),
        "{} not held: {methods:#?}",
        b["methodId"]
    );
}

fn evidence() -> Value {
    serde_json::from_str(EVIDENCE).unwrap()
}

#[test]
fn each_setting_of_require_verification() {
    // none (the default): evidence is optional.
    let (sim, app) = stack(&[]);
    let r = post(
        &app,
        "/v1/tap",
        json!({ "user": "alice@contoso.com", "ticket": "V1" }),
    );
    held(&sim, &r);

    // all: refused before any Graph call, for every operation.
    let (sim, app) = stack(&[("require_verification", Some("all"))]);
    sim.clear_requests();
    for (path, body) in [
        (
            "/v1/tap",
            json!({ "user": "alice@contoso.com", "ticket": "V2" }),
        ),
        (
            "/v1/reset",
            json!({ "user": "alice@contoso.com", "ticket": "V2" }),
        ),
        (
            "/v1/phone",
            json!({ "user": "bob@contoso.com", "ticket": "V2", "phoneNumber": "+1 206 555 0100" }),
        ),
    ] {
        assert_refused(
            &post(&app, path, body),
            400,
            "verification_required",
            "verification",
            path,
        );
    }
    assert!(
        sim.requests()
            .iter()
            .all(|r| r["kind"] == "token" || r["kind"].is_null()),
        "{:#?}",
        sim.requests()
    );
    let r = post(
        &app,
        "/v1/tap",
        json!({ "user": "alice@contoso.com", "ticket": "V2", "verification": evidence() }),
    );
    held(&sim, &r);

    // protected: only protected users need it, judged once the user is read.
    let (sim, app) = stack(&[("require_verification", Some("protected"))]);
    let r = post(
        &app,
        "/v1/tap",
        json!({ "user": "alice@contoso.com", "ticket": "V3" }),
    );
    held(&sim, &r);
    let admin = json!({ "user": "adele.admin@contoso.com", "ticket": "V3" });
    assert_refused(
        &post(&app, "/v1/tap", admin.clone()),
        400,
        "verification_required",
        "verification",
        "protected",
    );
    assert!(writes(&sim)
        .iter()
        .all(|w| !w["path"].as_str().unwrap().contains("adele")));
    let mut with = admin;
    with["verification"] =
        json!({ "method": "manager_approval", "reference": "CHG0042 approved by the CISO" });
    let r = post(&app, "/v1/tap", with);
    held(&sim, &r);

    // A list of operations: those, and only those.
    let (sim, app) = stack(&[("require_verification", Some("tap,reset"))]);
    assert_refused(
        &post(
            &app,
            "/v1/reset",
            json!({ "user": "alice@contoso.com", "ticket": "V4", "dryRun": true }),
        ),
        400,
        "verification_required",
        "verification",
        "reset listed",
    );
    let r = post(
        &app,
        "/v1/phone",
        json!({ "user": "bob@contoso.com", "ticket": "V4", "phoneNumber": "+1 206 555 0100" }),
    );
    held(&sim, &r); // phone is not listed
}

#[test]
fn bad_evidence_is_refused_naming_the_member() {
    let (sim, app) = stack(&[]);
    sim.clear_requests();
    let long = "x".repeat(201);
    for (v, code, field) in [
        (json!("callback"), "invalid_request", "verification"),
        // serde's derive alone reads a struct from an array of its fields.
        (json!(["callback"]), "invalid_request", "verification"),
        (
            json!(["callback", "INC-1", "agent"]),
            "invalid_request",
            "verification",
        ),
        (json!({}), "invalid_request", "verification.method"),
        (
            json!({ "method": "phone" }),
            "invalid_request",
            "verification.method",
        ),
        (
            json!({ "method": "callback", "reference": long }),
            "invalid_request",
            "verification.reference",
        ),
        (
            json!({ "method": "callback", "reference": "" }),
            "invalid_request",
            "verification.reference",
        ),
        (
            json!({ "method": "video", "verifiedBy": "y".repeat(129) }),
            "invalid_request",
            "verification.verifiedBy",
        ),
        (
            json!({ "method": "video", "approvedBy": "me" }),
            "unknown_field",
            "verification.approvedBy",
        ),
    ] {
        let r = post(
            &app,
            "/v1/tap",
            json!({ "user": "alice@contoso.com", "ticket": "V5", "verification": v }),
        );
        assert_refused(&r, 400, code, field, &v.to_string());
    }
    // A whole body given as an array of the fields, on every mutation.
    for (path, body) in [
        (
            "/v1/tap",
            json!(["alice@contoso.com", null, null, null, false, "V5"]),
        ),
        ("/v1/reset", json!(["alice@contoso.com"])),
        ("/v1/phone", json!(["alice@contoso.com", "+14255550100"])),
    ] {
        let r = post(&app, path, body);
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        let p = r.json();
        assert_eq!(p["code"], "invalid_request", "{path}: {p}");
        assert!(p["detail"].as_str().unwrap().contains("JSON object"), "{p}");
    }
    assert!(writes(&sim).is_empty());
}

#[test]
fn the_evidence_is_kept_with_the_ticket_and_returned_by_the_audit_trail() {
    let (sim, app) = stack(&[("require_verification", Some("all"))]);
    let r = post(
        &app,
        "/v1/tap",
        json!({ "user": "alice@contoso.com", "ticket": "INC-V6", "verification": evidence() }),
    );
    held(&sim, &r);
    let audit_id = r.json()["auditId"].as_str().unwrap().to_string();
    let list = common::get(&app, "/v1/audit?ticket=INC-V6", demo::reader_key(), &[]);
    let records = list.json()["records"].clone();
    assert_eq!(records.as_array().unwrap().len(), 1, "{records:#}");
    assert_eq!(records[0]["verification"], evidence());
    assert_eq!(records[0]["ticket"], "INC-V6");
    let one = common::get(
        &app,
        &format!("/v1/audit/{audit_id}"),
        demo::reader_key(),
        &[],
    );
    assert_eq!(one.json()["verification"], evidence());

    // A refused attempt keeps what it was given, too.
    let r = post(
        &app,
        "/v1/tap",
        json!({ "user": "alice@contoso.com", "ticket": "INC-V7", "verification": { "method": "in_person" } }),
    );
    assert_eq!(r.status, 409, "a pass exists: {}", r.body);
    let list = common::get(&app, "/v1/audit?ticket=INC-V7", demo::reader_key(), &[]);
    assert_eq!(
        list.json()["records"][0]["verification"],
        json!({ "method": "in_person" })
    );
    let verify = common::get(&app, "/v1/audit/verify", demo::reader_key(), &[]);
    assert_eq!(verify.json()["ok"], true);
}
