//! `POST /v1/phone` end to end: what people type becomes Graph's
//! `+{country code} {number}` form (or a `400` saying why), the rules for a
//! type already registered, SMS sign-in that Graph may refuse, the guards,
//! idempotency and the audit trail, checked against what the simulated
//! tenant saw and holds afterwards.

use mfa_tests::{demo, Reply, Sim, Spin};
use serde_json::{json, Value};

use crate::common::{self, audit_rows, methods_of, writes};
use crate::stack;

const BOB: &str = "bob@contoso.com";
const BOB_ID: &str = "48b85567-7c29-53ed-b888-e7aef7ddc561";
const KIM: &str = "kim@contoso.com";
const KIM_ID: &str = "064662f7-857d-59d8-b89a-ef8c9c999ad4";
const IVAN_ID: &str = "09f9bc92-8a40-5507-8611-2aa0f23eb5a1";
const JUDY_ID: &str = "a20caf2a-aac6-573d-be35-a7c04badbbcc";
const ADELE_ID: &str = "8f28ab7b-1cbf-5507-8a6a-ee53abb4a0ed";
const SMS_GROUP_ID: &str = "ac13b54d-2885-5155-86cf-b820165c7bed";

/// Graph's `phoneType` values, short for the tables.
const MOB: &str = "mobile";
const ALT: &str = "alternateMobile";
const OFF: &str = "office";

/// Graph's fixed phone method ids (FACTS §5).
const MOBILE_ID: &str = "3179e48a-750b-4051-897c-87b9720928f7";
const ALTERNATE_ID: &str = "b6332ec1-7057-4abe-9331-3d72feddfe41";
const OFFICE_ID: &str = "e37fc753-ff3b-4958-9484-eaa9425c82bc";

/// Many calls per stack: lift the per-caller and per-user limits.
const ROOMY_LIMITS: (&str, Option<&str>) = (
    "rate_limits",
    Some("{\"callerPerMinute\":1000,\"phonePerUserPerDay\":1000}"),
);

fn post(app: &Spin, key: &str, body: &Value, extra: &[(&str, &str)]) -> Reply {
    common::post(app, "/v1/phone", key, body, extra)
}

/// `body` with the members of `more` added or overridden.
fn merged(mut body: Value, more: Value) -> Value {
    if let (Some(b), Value::Object(m)) = (body.as_object_mut(), more) {
        b.extend(m);
    }
    body
}

/// A phone request for `user` from the helpdesk, with `more` fields merged in.
fn ask(app: &Spin, user: &str, number: &str, phone_type: &str, more: Value) -> Reply {
    let body =
        json!({ "user": user, "phoneNumber": number, "phoneType": phone_type, "ticket": "INC42" });
    post(app, demo::helpdesk_key(), &merged(body, more), &[])
}

fn method_id(phone_type: &str) -> &'static str {
    match phone_type {
        MOB => MOBILE_ID,
        ALT => ALTERNATE_ID,
        OFF => OFFICE_ID,
        other => panic!("no phone type {other}"),
    }
}

fn phones_path(user_id: &str) -> String {
    format!("/v1.0/users/{user_id}/authentication/phoneMethods")
}

fn mobile_path(user_id: &str) -> String {
    format!("{}/{MOBILE_ID}", phones_path(user_id))
}

fn enable_path(user_id: &str) -> String {
    format!("{}/enableSmsSignIn", mobile_path(user_id))
}

/// The user's phone of that type, as the tenant holds it.
fn phone_of(sim: &Sim, user_id: &str, phone_type: &str) -> Option<Value> {
    methods_of(sim, user_id).into_iter().find(|m| {
        m["@odata.type"] == "#microsoft.graph.phoneAuthenticationMethod"
            && m["phoneType"] == phone_type
    })
}

/// The problem+json body, after checking its status and `code`.
fn problem(r: &Reply, status: u16, code: &str) -> Value {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let p = r.json();
    assert_eq!(p["code"], code, "{p}");
    assert_eq!(p["status"], status);
    p
}

fn assert_no_write(sim: &Sim, case: &str) {
    let w = writes(sim);
    assert!(w.is_empty(), "{case}: Graph writes {w:?}");
}

/// The (method, path, status) of every Graph write, in order.
fn write_summary(sim: &Sim) -> Vec<(String, String, u64)> {
    writes(sim)
        .iter()
        .map(|w| {
            (
                w["method"].as_str().unwrap_or_default().to_string(),
                w["path"].as_str().unwrap_or_default().to_string(),
                w["status"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

/// Re-seeds `sim` with the demo tenant, `extra` added to the SMS sign-in
/// group (which also clears the request log).
fn reseed_with_sms_members(sim: &Sim, extra: &[&str]) {
    sim.reseed(|f| {
        let group = f["groups"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|g| g["id"] == SMS_GROUP_ID)
            .expect("the SMS sign-in group");
        let members = group["members"].as_array_mut().unwrap();
        members.extend(extra.iter().map(|id| json!(id)));
    });
}

/// Whom a table row adds the phone to: an alternate needs a mobile (Kim
/// has one, no alternate); Bob has nothing but a password.
fn user_for(phone_type: &str) -> (&'static str, &'static str) {
    match phone_type {
        ALT => (KIM, KIM_ID),
        _ => (BOB, BOB_ID),
    }
}

/// What a person typed, the type, and Graph's form, with whether the
/// country's plan says it is a landline (answered with a warning).
const ACCEPTED: &[(&str, &str, &str, bool)] = &[
    // US / CA
    ("+1 (206) 555-1234", MOB, "+1 2065551234", false),
    ("+12065551234", MOB, "+1 2065551234", false),
    ("+1.206.555.1234", OFF, "+1 2065551234", false),
    ("001 212 555 1234", MOB, "+1 2125551234", false),
    ("+1 425 555 0134 x123", OFF, "+1 4255550134x123", false),
    ("+1 425-555-0134 ext. 77", OFF, "+1 4255550134x77", false),
    ("+1 416 555 0123", MOB, "+1 4165550123", false),
    ("+1 (604) 555-0199", ALT, "+1 6045550199", false),
    // UK
    ("0044 7400-123-456", ALT, "+44 7400123456", false),
    ("+44 (0)7400 123456", MOB, "+44 7400123456", false),
    ("+44 20 7946 0958", OFF, "+44 2079460958", true),
    ("+44 20 7946 0958", MOB, "+44 2079460958", true),
    // DE
    ("+49 151 23456789", MOB, "+49 15123456789", false),
    ("+49 (0)151 2345 6789", ALT, "+49 15123456789", false),
    ("+49 30 12345678", OFF, "+49 3012345678", true),
    // FR
    ("+33 6 12 34 56 78", MOB, "+33 612345678", false),
    ("+33 1 42 68 53 00", OFF, "+33 142685300", true),
    // IT: the leading 0 of a landline is part of the number
    ("+39 347 123 4567", MOB, "+39 3471234567", false),
    ("+39 06 6982 1234", OFF, "+39 0669821234", false),
    // IN
    ("+91 98765 43210", MOB, "+91 9876543210", false),
    ("+91-98765-43210", ALT, "+91 9876543210", false),
    // JP
    ("+81 90-1234-5678", MOB, "+81 9012345678", false),
    ("+81 3-1234-5678", OFF, "+81 312345678", true),
    // AU
    ("+61 412 345 678", MOB, "+61 412345678", false),
    ("+61 (0)412 345 678", ALT, "+61 412345678", false),
    ("+61 2 9374 4000", OFF, "+61 293744000", true),
    // BR, ES, MX, ZA, AE, KR
    ("+55 (11) 91234-5678", MOB, "+55 11912345678", false),
    ("+34 612 34 56 78", MOB, "+34 612345678", false),
    ("+52 55 1234 5678", MOB, "+52 5512345678", false),
    ("+27 82 123 4567", MOB, "+27 821234567", false),
    ("+971 50 123 4567", MOB, "+971 501234567", false),
    ("+82 10-1234-5678", MOB, "+82 1012345678", false),
];

/// What a person typed, the type, and what the refusal's detail must say.
const REFUSED: &[(&str, &str, &str)] = &[
    ("+1 20", MOB, "is too short"),
    ("+44 7400", MOB, "is too short"),
    ("+49 123", OFF, "is too short"),
    ("+44 7400 1234567890123", MOB, "is too long"),
    ("+999 1234567", MOB, "unknown country code"),
    ("+1 0005551234", MOB, "not a valid number"),
    ("+33 0 12 34 56 78", MOB, "not a valid number"),
    ("+61 012 345 678", OFF, "not a valid number"),
    ("+81 00-1234-5678", MOB, "not a valid number"),
    // Mexico dropped the mobile "1" in 2019.
    ("+52 1 55 1234 5678", MOB, "not a valid number"),
    ("+1 425 555 0134 x123", MOB, "extension"),
    ("+44 7400 123456 x12", ALT, "extension"),
    ("2065551234", MOB, "no country code"),
    ("07400 123456", MOB, "no country code"),
    ("(206) 555-1234", OFF, "no country code"),
    ("+1 206 555 1234; DROP", MOB, "characters"),
    ("", MOB, "is empty"),
];

#[test]
fn real_world_numbers_reach_graph_in_its_form_or_are_refused_saying_why() {
    let (sim, app) = stack(&[ROOMY_LIMITS]);
    for (raw, phone_type, want, landline) in ACCEPTED {
        sim.reset();
        let case = format!("{raw:?} as {phone_type}");
        let (user, user_id) = user_for(phone_type);
        let r = ask(&app, user, raw, phone_type, json!({}));
        assert_eq!(r.status, 201, "{case}: {}", r.body);
        let b = r.json();
        assert_eq!(b["user"]["id"], user_id, "{case}");
        assert_eq!(b["user"]["userPrincipalName"], user, "{case}");
        assert_eq!(b["methodId"], method_id(phone_type), "{case}");
        assert_eq!(b["phoneNumber"], *want, "{case}");
        assert_eq!(b["phoneType"], *phone_type, "{case}");
        // Bob is outside the SMS policy; only a mobile can ever sign in by SMS.
        let sms = if *phone_type == MOB {
            "notAllowedByPolicy"
        } else {
            "notSupported"
        };
        assert_eq!(b["smsSignInState"], sms, "{case}");
        assert_eq!(b["unchanged"], false, "{case}");
        assert_eq!(b["replaced"], false, "{case}");
        assert_eq!(b["ticket"], "INC42", "{case}");
        assert!(b["auditId"].as_str().unwrap().starts_with("aud_"), "{case}");
        let warnings = b["warnings"].as_array().unwrap();
        if *landline {
            assert_eq!(warnings.len(), 1, "{case}: {warnings:?}");
            assert!(warnings[0].as_str().unwrap().contains("landline"), "{case}");
        } else {
            assert!(warnings.is_empty(), "{case}: {warnings:?}");
        }

        // Exactly one create, carrying Graph's form.
        let w = writes(&sim);
        assert_eq!(w.len(), 1, "{case}: {w:?}");
        assert_eq!(w[0]["method"], "POST", "{case}");
        assert_eq!(w[0]["path"], phones_path(user_id), "{case}");
        assert_eq!(
            w[0]["body"],
            json!({ "phoneNumber": want, "phoneType": phone_type }),
            "{case}"
        );
        assert_eq!(w[0]["status"], 201, "{case}");
        let held = phone_of(&sim, user_id, phone_type).expect("the phone was created");
        assert_eq!(held["phoneNumber"], *want, "{case}");
        assert_eq!(held["id"], method_id(phone_type), "{case}");
    }

    sim.reset();
    for (raw, phone_type, why) in REFUSED {
        let case = format!("{raw:?} as {phone_type}");
        let (user, _) = user_for(phone_type);
        let p = problem(
            &ask(&app, user, raw, phone_type, json!({})),
            400,
            "invalid_phone_number",
        );
        assert_eq!(p["field"], "phoneNumber", "{case}: {p}");
        let detail = p["detail"].as_str().unwrap();
        assert!(
            detail.contains(why),
            "{case}: {detail:?} should say {why:?}"
        );
        assert_no_write(&sim, &case);
    }
    assert!(phone_of(&sim, BOB_ID, MOB).is_none());
    assert!(phone_of(&sim, BOB_ID, OFF).is_none());
    assert!(phone_of(&sim, KIM_ID, ALT).is_none());
}

#[test]
fn a_registered_type_is_kept_refused_or_replaced() {
    let (sim, app) = stack(&[]);
    let unchanged = |user: &str, raw: &str, phone_type: &str, graph: &str| {
        let r = ask(&app, user, raw, phone_type, json!({}));
        assert_eq!(r.status, 200, "{user} {raw}: {}", r.body);
        let b = r.json();
        assert_eq!(b["unchanged"], true, "{b}");
        assert_eq!(b["replaced"], false, "{b}");
        assert_eq!(b["methodId"], method_id(phone_type), "{b}");
        assert_eq!(b["phoneNumber"], graph, "{b}");
        assert_eq!(b["phoneType"], phone_type, "{b}");
        assert_no_write(&sim, raw);
        b
    };
    // Typed another way, the number Graph already holds.
    let b = unchanged(
        "ivan@contoso.com",
        "+1 (425) 555-0199",
        MOB,
        "+1 4255550199",
    );
    assert_eq!(b["smsSignInState"], "ready");
    unchanged(KIM, "+44 20 7946 0000", OFF, "+44 2079460000");
    unchanged(
        "alice@contoso.com",
        "+1 425-555-0150 x123",
        OFF,
        "+1 4255550150x123",
    );

    // A different number for a type that exists: refused, then replaced.
    let p = problem(
        &ask(&app, KIM, "+44 7400 123456", MOB, json!({})),
        409,
        "phone_type_exists",
    );
    assert_eq!(p["methodId"], MOBILE_ID);
    assert_no_write(&sim, "phone_type_exists");
    let r = ask(
        &app,
        KIM,
        "+44 7400 123456",
        MOB,
        json!({ "replaceExisting": true }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let b = r.json();
    assert_eq!(b["replaced"], true);
    assert_eq!(b["unchanged"], false);
    assert_eq!(b["methodId"], MOBILE_ID);
    assert_eq!(b["phoneNumber"], "+44 7400123456");
    let w = writes(&sim);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0]["method"], "PATCH");
    assert_eq!(w[0]["path"], mobile_path(KIM_ID));
    assert_eq!(w[0]["body"], json!({ "phoneNumber": "+44 7400123456" }));
    assert_eq!(
        phone_of(&sim, KIM_ID, MOB).unwrap()["phoneNumber"],
        "+44 7400123456"
    );
    assert_eq!(
        phone_of(&sim, KIM_ID, OFF).unwrap()["phoneNumber"],
        "+44 2079460000",
        "the office phone is untouched"
    );
    let audit = audit_rows(&app).join("\n");
    assert!(
        audit.contains("\"previousPhoneNumber\":\"+44 7700900123\""),
        "{audit}"
    );

    // An alternate needs a mobile first.
    sim.clear_requests();
    problem(
        &ask(&app, BOB, "+44 7400 123456", ALT, json!({})),
        409,
        "mobile_phone_required",
    );
    assert_no_write(&sim, "mobile_phone_required");
    assert!(methods_of(&sim, BOB_ID)
        .iter()
        .all(|m| m["@odata.type"] != "#microsoft.graph.phoneAuthenticationMethod"));

    // Kim's own mobile as she would type it: Graph holds it, although
    // the UK plan keeps 07700 900xxx for drama and calls it invalid.
    sim.reset();
    unchanged(KIM, "+44 7700 900123", MOB, "+44 7700900123");
}

#[test]
fn sms_sign_in_is_switched_on_or_reported_but_never_costs_the_phone() {
    let (sim, app) = stack(&[ROOMY_LIMITS]);
    let sms = json!({ "smsSignIn": true });

    // Only a mobile signs in by SMS: refused before Graph.
    for (user, phone_type) in [(BOB, OFF), (KIM, ALT)] {
        let p = problem(
            &ask(&app, user, "+1 206 555 1234", phone_type, sms.clone()),
            400,
            "invalid_request",
        );
        assert_eq!(p["field"], "smsSignIn", "{p}");
    }
    assert_no_write(&sim, "smsSignIn on a voice-only phone");

    // Bob is outside the SMS policy: the phone stays, the answer says why.
    let r = ask(&app, BOB, "+1 206 555 1234", MOB, sms.clone());
    assert_eq!(r.status, 201, "{}", r.body);
    let b = r.json();
    assert_eq!(b["smsSignInState"], "notAllowedByPolicy");
    assert_sms_warning(&b, "policy");
    assert_eq!(
        write_summary(&sim),
        [
            ("POST".into(), phones_path(BOB_ID), 201),
            ("POST".into(), enable_path(BOB_ID), 400),
        ]
    );
    assert_eq!(
        phone_of(&sim, BOB_ID, MOB).unwrap()["phoneNumber"],
        "+1 2065551234"
    );

    // In the policy, Graph registers a new mobile for SMS sign-in itself
    // (FACTS §5): ready, with no extra call.
    reseed_with_sms_members(&sim, &[BOB_ID]);
    let r = ask(&app, BOB, "+1 206 555 1234", MOB, sms.clone());
    assert_eq!(r.status, 201, "{}", r.body);
    let b = r.json();
    assert_eq!(b["smsSignInState"], "ready");
    assert_eq!(b["warnings"], json!([]));
    assert_eq!(
        write_summary(&sim),
        [("POST".into(), phones_path(BOB_ID), 201)]
    );
    assert_eq!(
        phone_of(&sim, BOB_ID, MOB).unwrap()["smsSignInState"],
        "ready"
    );

    // Ivan already signs in by SMS with this number: Bob keeps the phone.
    reseed_with_sms_members(&sim, &[BOB_ID]);
    let r = ask(&app, BOB, "+1 425 555 0199", MOB, sms.clone());
    assert_eq!(r.status, 201, "{}", r.body);
    let b = r.json();
    assert_eq!(b["smsSignInState"], "phoneNumberNotUnique");
    assert_sms_warning(&b, "another user");
    assert_eq!(
        write_summary(&sim),
        [
            ("POST".into(), phones_path(BOB_ID), 201),
            ("POST".into(), enable_path(BOB_ID), 400),
        ]
    );
    let held = phone_of(&sim, BOB_ID, MOB).expect("the phone was kept");
    assert_eq!(held["phoneNumber"], "+1 4255550199");
    assert_eq!(
        phone_of(&sim, IVAN_ID, MOB).unwrap()["smsSignInState"],
        "ready"
    );

    // A renumbered mobile is switched on by enableSmsSignIn after the PATCH.
    sim.reset();
    let r = ask(
        &app,
        KIM,
        "+44 7400 123456",
        MOB,
        json!({ "smsSignIn": true, "replaceExisting": true }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let b = r.json();
    assert_eq!(b["replaced"], true);
    assert_eq!(b["smsSignInState"], "ready");
    assert_eq!(b["warnings"], json!([]));
    assert_eq!(
        write_summary(&sim),
        [
            ("PATCH".into(), mobile_path(KIM_ID), 204),
            ("POST".into(), enable_path(KIM_ID), 204),
        ]
    );
    let held = phone_of(&sim, KIM_ID, MOB).unwrap();
    assert_eq!(held["phoneNumber"], "+44 7400123456");
    assert_eq!(held["smsSignInState"], "ready");

    // Judy's mobile is Ivan's number: Graph refuses SMS sign-in, the
    // number she has stays as it was.
    sim.reset();
    let r = ask(&app, "judy@contoso.com", "+1 425 555 0199", MOB, sms);
    assert_eq!(r.status, 200, "{}", r.body);
    let b = r.json();
    assert_eq!(b["unchanged"], true);
    assert_ne!(b["smsSignInState"], "ready");
    assert_eq!(
        write_summary(&sim),
        [("POST".into(), enable_path(JUDY_ID), 400)]
    );
    assert_eq!(
        phone_of(&sim, JUDY_ID, MOB).unwrap()["phoneNumber"],
        "+1 4255550199"
    );
    assert_sms_warning(&b, "another user");
}

/// One warning says SMS sign-in was not enabled and names `why`.
fn assert_sms_warning(body: &Value, why: &str) {
    let warnings = body["warnings"].as_array().expect("warnings");
    assert!(
        warnings
            .iter()
            .filter_map(Value::as_str)
            .any(|w| w.contains("SMS sign-in") && w.contains(why)),
        "a warning should say SMS sign-in was not enabled because of {why:?}: {warnings:?}"
    );
}

#[test]
fn guards_refuse_before_any_graph_write() {
    let (sim, app) = stack(&[]);
    let base = json!({ "user": BOB, "phoneNumber": "+1 206 555 1234", "ticket": "T" });
    let with = |more: Value| merged(base.clone(), more);
    let without = |field: &str| {
        let mut b = base.clone();
        b.as_object_mut().unwrap().remove(field);
        b
    };
    let cases: Vec<(&str, Value, u16, &str, Option<&str>)> = vec![
        (
            demo::helpdesk_key(),
            with(json!({ "user": "nobody@contoso.com" })),
            404,
            "user_not_found",
            None,
        ),
        (
            demo::helpdesk_key(),
            with(json!({ "user": "dave@contoso.com" })),
            409,
            "user_disabled",
            None,
        ),
        (
            demo::helpdesk_key(),
            with(json!({ "user": "adele.admin@contoso.com" })),
            403,
            "protected_user",
            None,
        ),
        (
            demo::helpdesk_key(),
            with(json!({ "user": "bob" })),
            400,
            "invalid_user",
            None,
        ),
        (
            demo::reader_key(),
            base.clone(),
            403,
            "insufficient_scope",
            None,
        ),
        (
            demo::helpdesk_key(),
            without("ticket"),
            400,
            "invalid_request",
            Some("ticket"),
        ),
        (
            demo::helpdesk_key(),
            without("phoneNumber"),
            400,
            "invalid_request",
            Some("phoneNumber"),
        ),
        (
            demo::helpdesk_key(),
            with(json!({ "phonenumber": "+1 206 555 1234" })),
            400,
            "unknown_field",
            Some("phonenumber"),
        ),
        (
            demo::helpdesk_key(),
            with(json!({ "phoneType": "landline" })),
            400,
            "invalid_request",
            Some("phoneType"),
        ),
        (
            demo::helpdesk_key(),
            with(json!({ "phoneNumber": 12065551234u64 })),
            400,
            "invalid_request",
            Some("phoneNumber"),
        ),
        (
            demo::helpdesk_key(),
            with(json!({ "smsSignIn": "yes" })),
            400,
            "invalid_request",
            Some("smsSignIn"),
        ),
    ];
    for (key, body, status, code, field) in &cases {
        let p = problem(&post(&app, key, body, &[]), *status, code);
        if let Some(field) = field {
            assert_eq!(p["field"], *field, "{body}: {p}");
        }
    }
    let r = app.client().post_json("/v1/phone", &base, &[]);
    problem(&r, 401, "unauthorized");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_no_write(&sim, "guards");
    assert!(phone_of(&sim, BOB_ID, MOB).is_none());

    let audit = audit_rows(&app).join("\n");
    for row in [
        "|helpdesk|phone|refused|404|Some(\"user_not_found\")",
        "|helpdesk|phone|refused|409|Some(\"user_disabled\")",
        "|helpdesk|phone|refused|403|Some(\"protected_user\")",
        "|reader|phone|refused|403|Some(\"insufficient_scope\")",
    ] {
        assert!(audit.contains(row), "{row} in\n{audit}");
    }
    // Refused before a caller was known: counted, not chained.
    assert!(!audit.contains("|401|"), "{audit}");

    // The privileged scope may act on a protected user.
    let r = post(
        &app,
        demo::admin_key(),
        &with(json!({ "user": "adele.admin@contoso.com" })),
        &[],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["user"]["id"], ADELE_ID);
    assert_eq!(
        write_summary(&sim),
        [("POST".into(), phones_path(ADELE_ID), 201)]
    );
    assert_eq!(
        phone_of(&sim, ADELE_ID, MOB).unwrap()["phoneNumber"],
        "+1 2065551234"
    );
    assert!(audit_rows(&app)
        .join("\n")
        .contains("|admin|phone|succeeded|201|None|"));
}

#[test]
fn a_retry_is_replayed_once_and_nothing_secret_is_logged() {
    let (sim, app) = stack(&[]);
    let body = json!({ "user": BOB, "phoneNumber": "+44 7400 123456", "ticket": "INC7" });
    let headers = [
        ("idempotency-key", "phone-delivery-7"),
        ("x-request-id", "req-phone-7"),
    ];
    let first = post(&app, demo::helpdesk_key(), &body, &headers);
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.header("idempotent-replayed"), None);
    assert_eq!(first.header("x-request-id"), Some("req-phone-7"));
    let again = post(&app, demo::helpdesk_key(), &body, &headers);
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let (f, a) = (first.json(), again.json());
    for member in ["methodId", "phoneNumber", "phoneType", "auditId", "user"] {
        assert_eq!(a[member], f[member], "{member}");
    }
    assert_eq!(a["phoneNumber"], "+44 7400123456");
    let other = post(
        &app,
        demo::helpdesk_key(),
        &json!({ "user": BOB, "phoneNumber": "+44 7400 654321", "ticket": "INC7" }),
        &headers,
    );
    problem(&other, 422, "idempotency_key_reused");
    assert_eq!(
        write_summary(&sim),
        [("POST".into(), phones_path(BOB_ID), 201)]
    );
    assert_eq!(
        phone_of(&sim, BOB_ID, MOB).unwrap()["phoneNumber"],
        "+44 7400123456"
    );
    // Every Graph call carried our request id.
    for req in sim
        .requests()
        .iter()
        .filter(|r| r["kind"] != "token" && r["batchParent"].is_null())
    {
        assert_eq!(req["headers"]["client-request-id"], "req-phone-7", "{req}");
    }

    // The admin key is used too, so that it could leak.
    let r = post(
        &app,
        demo::admin_key(),
        &json!({ "user": BOB, "phoneNumber": "+1 425 555 0134 x9", "phoneType": "office", "ticket": "INC8" }),
        &[],
    );
    assert_eq!(r.status, 201, "{}", r.body);

    let rows = audit_rows(&app);
    let audit = rows.join("\n");
    let created = rows
        .iter()
        .find(|r| r.contains("|helpdesk|phone|succeeded|201|None|") && r.contains("req-phone-7"))
        .unwrap_or_else(|| panic!("the create is audited:\n{audit}"));
    assert!(
        created.contains("\"phoneNumber\":\"+44 7400123456\""),
        "{created}"
    );
    assert!(created.contains("|Some(\"INC7\")|"), "{created}");
    assert!(audit.contains("\"idempotentReplay\":true"), "{audit}");
    assert!(
        audit.contains("|helpdesk|phone|refused|422|Some(\"idempotency_key_reused\")"),
        "{audit}"
    );
    assert!(
        audit.contains("|admin|phone|succeeded|201|None|"),
        "{audit}"
    );
    let logs = app.logs();
    for secret in [
        demo::helpdesk_key(),
        demo::admin_key(),
        &mfa_tests::demo_app().client_secret,
    ] {
        assert!(!logs.contains(secret), "secret in logs");
        assert!(!audit.contains(secret), "secret in audit");
    }
}
