//! Rule 6: phone methods and SMS sign-in (FACTS §5).

use serde_json::{json, Value};

use crate::common::*;

fn phones(s: &Sim, user: &str) -> Vec<Value> {
    s.user_state(user)["methods"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["@odata.type"] == "#microsoft.graph.phoneAuthenticationMethod")
        .cloned()
        .collect()
}

fn path(user: &str) -> String {
    format!("/v1.0/users/{user}/authentication/phoneMethods")
}

#[test]
fn number_format_is_enforced() {
    let s = Sim::start();
    for n in [
        "+14255550123",
        "425 555 0123",
        "+1 42-5555",
        "+1 425",
        "+0 4255550123",
        "+1 4255550123 x12",
    ] {
        let r = s.send(
            "POST",
            &path(BOB),
            &json!({"phoneNumber": n, "phoneType": "mobile"}),
        );
        r.expect(400, "badRequest");
        assert!(
            r.message().starts_with("Invalid phone number"),
            "{}",
            r.message()
        );
    }
    assert!(phones(&s, BOB).is_empty());
    let r = s.send(
        "POST",
        &path(BOB),
        &json!({"phoneNumber": "+1 4255550111", "phoneType": "mobile"}),
    );
    r.expect(201, "");
    assert_eq!(r.body["id"], MOBILE_ID);
    assert_eq!(r.body["smsSignInState"], "notAllowedByPolicy");
    let r = s.send(
        "POST",
        &path(BOB),
        &json!({"phoneNumber": "+1 4255550150x123", "phoneType": "office"}),
    );
    r.expect(201, "");
    assert_eq!(r.body["id"], OFFICE_ID);
    assert_eq!(r.body["smsSignInState"], "notSupported");
    assert_eq!(phones(&s, BOB).len(), 2);
}

#[test]
fn one_per_type_and_alternate_needs_mobile() {
    let s = Sim::start();
    s.send(
        "POST",
        &path(FRANK),
        &json!({"phoneNumber": "+1 4255550112", "phoneType": "alternateMobile"}),
    )
    .expect(400, "badRequest");
    s.send(
        "POST",
        &path(FRANK),
        &json!({"phoneNumber": "+1 4255550111", "phoneType": "mobile"}),
    )
    .expect(201, "");
    s.send(
        "POST",
        &path(FRANK),
        &json!({"phoneNumber": "+1 4255550113", "phoneType": "mobile"}),
    )
    .expect(400, "badRequest");
    let r = s.send(
        "POST",
        &path(FRANK),
        &json!({"phoneNumber": "+1 4255550112", "phoneType": "alternateMobile"}),
    );
    r.expect(201, "");
    assert_eq!(r.body["id"], ALT_MOBILE_ID);
    assert_eq!(phones(&s, FRANK).len(), 2);
}

#[test]
fn patch_changes_number_not_type() {
    let s = Sim::start();
    let m = format!("{}/{MOBILE_ID}", path(ALICE));
    let r = s.send("PATCH", &m, &json!({"phoneNumber": "+1 2065550100"}));
    assert_eq!(r.status, 204, "{}", r.body);
    let p = phones(&s, ALICE);
    assert!(p
        .iter()
        .any(|x| x["id"] == MOBILE_ID && x["phoneNumber"] == "+1 2065550100"));
    s.send("PATCH", &m, &json!({"phoneType": "office"}))
        .expect(400, "badRequest");
    s.send("PATCH", &m, &json!({"phoneNumber": "2065550100"}))
        .expect(400, "badRequest");
    s.send("PATCH", &m, &json!({"smsSignInState": "ready"}))
        .expect(400, "BadRequest");
    s.send(
        "PATCH",
        &format!("{}/{MOBILE_ID}", path(BOB)),
        &json!({"phoneNumber": "+1 2065550100"}),
    )
    .expect(404, "itemNotFound");
}

#[test]
fn mobile_cannot_go_before_alternate() {
    let s = Sim::start();
    s.send_empty("DELETE", &format!("{}/{MOBILE_ID}", path(ALICE)))
        .expect(400, "badRequest");
    assert_eq!(phones(&s, ALICE).len(), 3);
    assert_eq!(
        s.send_empty("DELETE", &format!("{}/{ALT_MOBILE_ID}", path(ALICE)))
            .status,
        204
    );
    assert_eq!(
        s.send_empty("DELETE", &format!("{}/{MOBILE_ID}", path(ALICE)))
            .status,
        204
    );
    assert_eq!(phones(&s, ALICE).len(), 1);
}

#[test]
fn sms_sign_in_rules() {
    let s = Sim::start();
    let enable =
        |u: &str, id: &str| s.send_empty("POST", &format!("{}/{id}/enableSmsSignIn", path(u)));
    // Alice is in the SMS policy and her number is unique.
    assert_eq!(enable(ALICE, MOBILE_ID).status, 204);
    let st = |u: &str, id: &str| {
        phones(&s, u).iter().find(|p| p["id"] == id).unwrap()["smsSignInState"].clone()
    };
    assert_eq!(st(ALICE, MOBILE_ID), "ready");
    assert_eq!(st(ALICE, OFFICE_ID), "notSupported");
    // Not a mobile.
    enable(ALICE, ALT_MOBILE_ID).expect(400, "badRequest");
    // Dave is outside the SMS policy.
    let r = enable("dave@contoso.com", MOBILE_ID);
    r.expect(400, "badRequest");
    assert_eq!(
        r.message(),
        "Cannot enable SMS sign-in on phone auth method as the credential policy is not enabled on user"
    );
    // Judy shares Ivan's number, and Ivan already signs in with it.
    assert_eq!(st(IVAN, MOBILE_ID), "ready");
    enable(JUDY, MOBILE_ID).expect(400, "badRequest");
    assert_eq!(st(JUDY, MOBILE_ID), "notEnabled");
    // A body is not accepted.
    s.send(
        "POST",
        &format!("{}/{MOBILE_ID}/enableSmsSignIn", path(ALICE)),
        &json!({"x": 1}),
    )
    .expect(400, "BadRequest");
    // Disable, then Judy may take the number.
    assert_eq!(
        s.send_empty(
            "POST",
            &format!("{}/{MOBILE_ID}/disableSmsSignIn", path(IVAN))
        )
        .status,
        204
    );
    assert_eq!(st(IVAN, MOBILE_ID), "notEnabled");
    assert_eq!(enable(JUDY, MOBILE_ID).status, 204);
    assert_eq!(st(JUDY, MOBILE_ID), "ready");
    // Ivan re-enabling now collides with Judy.
    enable(IVAN, MOBILE_ID).expect(400, "badRequest");
}

#[test]
fn adding_a_mobile_for_an_sms_user_registers_it() {
    let mut f = Sim::demo_fixture();
    for g in f["groups"].as_array_mut().unwrap() {
        if g["displayName"] == "SMS-SignIn" {
            let m = g["members"].as_array_mut().unwrap();
            m.push(json!(FRANK));
            m.push(json!(ERIN));
        }
    }
    let s = Sim::start_with(f);
    let r = s.send(
        "POST",
        &path(FRANK),
        &json!({"phoneNumber": "+1 4255550177", "phoneType": "mobile"}),
    );
    r.expect(201, "");
    assert_eq!(r.body["smsSignInState"], "ready");
    // Ivan already signs in with this number: registered, but not unique.
    let r = s.send(
        "POST",
        &path(ERIN),
        &json!({"phoneNumber": "+1 4255550199", "phoneType": "mobile"}),
    );
    r.expect(201, "");
    assert_eq!(r.body["smsSignInState"], "phoneNumberNotUnique");
}
