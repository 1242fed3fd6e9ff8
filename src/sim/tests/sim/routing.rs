//! Rule 1: routing, methods, query options and bodies checked against the OpenAPI subset.

use serde_json::json;

use crate::common::*;

#[test]
fn unknown_segment_is_refused_with_request_ids() {
    let s = Sim::start();
    let r = s.get_with(
        &format!("/v1.0/users/{ALICE}/authentication/foo"),
        &[("client-request-id", "e2c7a914-6b3f-4d58-a1e0-9f8b7c6d5e43")],
    );
    r.expect(400, "BadRequest");
    assert_eq!(r.message(), "Resource not found for the segment 'foo'.");
    assert!(uuid_like(r.header("request-id").unwrap()));
    assert_eq!(
        r.header("client-request-id"),
        Some("e2c7a914-6b3f-4d58-a1e0-9f8b7c6d5e43")
    );
    let inner = &r.body["error"]["innerError"];
    assert_eq!(inner["request-id"], r.header("request-id").unwrap());
    assert_eq!(
        inner["client-request-id"],
        "e2c7a914-6b3f-4d58-a1e0-9f8b7c6d5e43"
    );
    let date = inner["date"].as_str().unwrap();
    assert_eq!(date.len(), 19, "no zone suffix: {date}");
    let log = s.last_request();
    assert_eq!(log["status"], 400);
    assert_eq!(log["graphErrorCode"], "BadRequest");
    assert_eq!(log["kind"], "graph");

    // A path that keeps to the subset passes.
    s.get(&format!("/v1.0/users/{ALICE}/authentication/methods"))
        .expect(200, "");
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}

#[test]
fn undeclared_method_is_405() {
    let s = Sim::start();
    // No DELETE on the mixed list (FACTS §4) nor on passwordMethods.
    s.send_empty(
        "DELETE",
        &format!("/v1.0/users/{ALICE}/authentication/methods/{PASSWORD_ID}"),
    )
    .expect(405, "Request_BadRequest");
    s.send_empty(
        "DELETE",
        &format!("/v1.0/users/{ALICE}/authentication/passwordMethods/{PASSWORD_ID}"),
    )
    .expect(405, "Request_BadRequest");
    assert!(s.method_ids(ALICE).contains(&PASSWORD_ID.to_string()));
    s.get(&format!(
        "/v1.0/users/{ALICE}/authentication/passwordMethods/{PASSWORD_ID}"
    ))
    .expect(200, "");
}

#[test]
fn undeclared_query_options_are_refused() {
    let s = Sim::start();
    let r = s.get(&format!("/v1.0/users/{ALICE}?$filter=id%20eq%20'x'"));
    r.expect(400, "BadRequest");
    assert!(r.message().contains("Filter"), "{}", r.message());
    s.get(&format!("/v1.0/users/{ALICE}?foo=bar"))
        .expect(400, "BadRequest");
    s.get(&format!("/v1.0/users/{ALICE}?$select=id&$select=mail"))
        .expect(400, "BadRequest");
    s.get("/v1.0/directoryRoles?$top=1")
        .expect(400, "BadRequest");
    s.get(&format!("/v1.0/users/{ALICE}?$select=id"))
        .expect(200, "");
}

#[test]
fn top_must_be_a_non_negative_integer() {
    let s = Sim::start();
    s.get("/v1.0/users?$top=-1").expect(400, "BadRequest");
    s.get("/v1.0/users?$top=abc").expect(400, "BadRequest");
    s.get("/v1.0/users?$top=1.5").expect(400, "BadRequest");
    let r = s.get("/v1.0/users?$top=2");
    r.expect(200, "");
    assert_eq!(r.body["value"].as_array().unwrap().len(), 2);
    assert!(r.body["@odata.nextLink"].is_string());
}

#[test]
fn body_unknown_property_wrong_type_and_enum_are_refused() {
    let s = Sim::start();
    let path = format!("/v1.0/users/{BOB}/authentication/phoneMethods");
    let r = s.send(
        "POST",
        &path,
        &json!({"phoneNumber": "+1 4255550111", "phoneType": "mobile", "phoneTyp": "x"}),
    );
    r.expect(400, "BadRequest");
    assert!(r.message().contains("'phoneTyp'"), "{}", r.message());
    assert!(r
        .message()
        .contains("microsoft.graph.phoneAuthenticationMethod"));
    s.send(
        "POST",
        &path,
        &json!({"phoneNumber": "+1 4255550111", "phoneType": "pager"}),
    )
    .expect(400, "BadRequest");
    s.send(
        "POST",
        &path,
        &json!({"phoneNumber": 4255550111u64, "phoneType": "mobile"}),
    )
    .expect(400, "BadRequest");
    let tap = format!("/v1.0/users/{BOB}/authentication/temporaryAccessPassMethods");
    s.send("POST", &tap, &json!({"lifetimeInMinutes": "60"}))
        .expect(400, "BadRequest");
    s.send("POST", &tap, &json!({"startDateTime": "tomorrow"}))
        .expect(400, "BadRequest");
    // Nothing was created.
    assert_eq!(s.method_ids(BOB), vec![PASSWORD_ID.to_string()]);
    s.send(
        "POST",
        &path,
        &json!({"phoneNumber": "+1 4255550111", "phoneType": "mobile"}),
    )
    .expect(201, "");
    assert!(s.method_ids(BOB).contains(&MOBILE_ID.to_string()));
}

#[test]
fn read_only_properties_are_refused_on_create() {
    let s = Sim::start();
    let path = format!("/v1.0/users/{BOB}/authentication/phoneMethods");
    for extra in [json!({"smsSignInState": "ready"}), json!({"id": MOBILE_ID})] {
        let mut b = json!({"phoneNumber": "+1 4255550111", "phoneType": "mobile"});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        s.send("POST", &path, &b).expect(400, "BadRequest");
    }
    let tap = format!("/v1.0/users/{BOB}/authentication/temporaryAccessPassMethods");
    for b in [
        json!({"temporaryAccessPass": "abcdefgh"}),
        json!({"isUsable": true}),
        json!({"methodUsabilityReason": "EnabledByPolicy"}),
        json!({"id": "x"}),
        json!({"createdDateTime": "2026-01-01T00:00:00Z"}),
    ] {
        s.send("POST", &tap, &b).expect(400, "BadRequest");
    }
    assert_eq!(s.method_ids(BOB), vec![PASSWORD_ID.to_string()]);
    s.send("POST", &tap, &json!({})).expect(201, "");
}

#[test]
fn body_on_parameterless_action_is_refused() {
    let s = Sim::start();
    let path = format!("/v1.0/users/{BOB}/revokeSignInSessions");
    let before = s.user_state(BOB)["signInSessionsValidFromDateTime"].clone();
    s.send("POST", &path, &json!({"force": true}))
        .expect(400, "BadRequest");
    assert_eq!(s.user_state(BOB)["signInSessionsValidFromDateTime"], before);
    s.send_empty("POST", &path).expect(200, "");
    s.send("POST", &path, &json!({})).expect(200, "");
}

#[test]
fn non_json_content_type_is_415() {
    let s = Sim::start();
    let auth = format!("Bearer {}", s.token);
    let r = s.call(
        "POST",
        &format!("/v1.0/users/{BOB}/authentication/phoneMethods"),
        &[("authorization", &auth), ("content-type", "text/plain")],
        Some(r#"{"phoneNumber":"+1 4255550111","phoneType":"mobile"}"#),
    );
    assert_eq!(r.status, 415, "{}", r.body);
    let r = s.call(
        "POST",
        &format!("/v1.0/users/{BOB}/authentication/phoneMethods"),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        Some("{not json"),
    );
    r.expect(400, "BadRequest");
    let r = s.call(
        "POST",
        &format!("/v1.0/users/{BOB}/authentication/phoneMethods"),
        &[
            ("authorization", &auth),
            ("content-type", "application/json; charset=utf-8"),
        ],
        Some(r#"{"phoneNumber":"+1 4255550111","phoneType":"mobile"}"#),
    );
    r.expect(201, "");
}
