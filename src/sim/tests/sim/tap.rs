//! Rule 4: the TAP policy and pass creation under it (FACTS §3).

use serde_json::{json, Value};

use crate::common::*;

fn tap_path(user: &str) -> String {
    format!("/v1.0/users/{user}/authentication/temporaryAccessPassMethods")
}

fn taps(s: &Sim, user: &str) -> Vec<Value> {
    s.user_state(user)["methods"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["@odata.type"] == "#microsoft.graph.temporaryAccessPassAuthenticationMethod")
        .cloned()
        .collect()
}

#[test]
fn policy_is_readable_under_both_spellings() {
    let s = Sim::start();
    for id in ["TemporaryAccessPass", "temporaryAccessPass"] {
        let r = s.get(&format!(
            "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/{id}"
        ));
        r.expect(200, "");
        assert_eq!(r.body["id"], "TemporaryAccessPass");
        assert_eq!(r.body["minimumLifetimeInMinutes"], 60);
        assert_eq!(r.body["maximumLifetimeInMinutes"], 480);
        assert_eq!(r.body["defaultLength"], 8);
        assert_eq!(r.body["includeTargets"][0]["id"], G_TAP);
    }
    let r =
        s.get("/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/Sms");
    assert_eq!(
        r.body["@odata.type"],
        "#microsoft.graph.smsAuthenticationMethodConfiguration"
    );
    let r = s.get("/v1.0/policies/authenticationMethodsPolicy");
    r.expect(200, "");
    assert!(
        r.body["authenticationMethodConfigurations"]
            .as_array()
            .unwrap()
            .len()
            >= 5
    );
    s.get("/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/Pager")
        .expect(404, "NotFound");
}

#[test]
fn create_returns_pass_once_and_state_holds_it() {
    let s = Sim::start();
    let r = s.send("POST", &tap_path(BOB), &json!({}));
    r.expect(201, "");
    let pass = r.body["temporaryAccessPass"].as_str().unwrap().to_string();
    assert_eq!(pass.chars().count(), 8);
    assert_eq!(r.body["lifetimeInMinutes"], 60);
    assert_eq!(r.body["isUsableOnce"], false);
    assert_eq!(r.body["isUsable"], true);
    assert_eq!(r.body["methodUsabilityReason"], "EnabledByPolicy");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let st = taps(&s, BOB);
    assert_eq!(st.len(), 1);
    assert_eq!(st[0]["temporaryAccessPass"], pass);
    let list = s.get(&tap_path(BOB));
    assert_eq!(list.body["value"][0]["temporaryAccessPass"], Value::Null);
    let all = s.get(&format!("/v1.0/users/{BOB}/authentication/methods"));
    assert!(!all.body.to_string().contains(&pass));
    let log = serde_json::to_string(&s.requests()).unwrap();
    assert!(log.contains("\"status\":201"));
}

#[test]
fn future_start_is_not_yet_valid_then_expires() {
    let mut s = Sim::start();
    let start = "2099-01-01T00:00:00Z";
    let r = s.send(
        "POST",
        &tap_path(BOB),
        &json!({"startDateTime": start, "lifetimeInMinutes": 120, "isUsableOnce": true}),
    );
    r.expect(201, "");
    assert_eq!(r.body["isUsable"], false);
    assert_eq!(r.body["methodUsabilityReason"], "NotYetValid");
    assert_eq!(r.body["isUsableOnce"], true);
    let r = s.send("POST", &tap_path(BOB), &json!({"lifetimeInMinutes": 60}));
    r.expect(201, "");
    s.advance(3601);
    s.renew();
    let r = s.get(&tap_path(BOB));
    assert_eq!(r.body["value"][0]["methodUsabilityReason"], "Expired");
    assert_eq!(r.body["value"][0]["isUsable"], false);
}

#[test]
fn out_of_scope_users_are_refused() {
    let s = Sim::start();
    for user in [FRANK, ERIN] {
        let r = s.send("POST", &tap_path(user), &json!({}));
        r.expect(400, "badRequest");
        assert_eq!(
            r.message(),
            "Converged UserCredentialPolicy does not allow creating or updating this authentication method. AuthMethodType [TemporaryAccessPass]."
        );
        assert!(taps(&s, user).is_empty());
    }
    // Nested group membership counts (mfa-notify is in Support-Staff, inside TAP-Eligible).
    s.send("POST", &tap_path("mfa-notify@contoso.com"), &json!({}))
        .expect(201, "");
}

#[test]
fn disabled_policy_refuses_everyone() {
    let mut f = Sim::demo_fixture();
    f["authenticationMethodsPolicy"]["configurations"][0]["state"] = json!("disabled");
    let s = Sim::start_with(f);
    s.send("POST", &tap_path(BOB), &json!({}))
        .expect(400, "badRequest");
    // An existing pass now reads as disabled by policy.
    let r = s.get(&tap_path(CAROL));
    assert_eq!(
        r.body["value"][0]["methodUsabilityReason"],
        "DisabledByPolicy"
    );
}

#[test]
fn all_users_target_includes_everyone() {
    let mut f = Sim::demo_fixture();
    f["authenticationMethodsPolicy"]["configurations"][0]["includeTargets"] =
        json!([{"targetType": "group", "id": "all_users", "isRegistrationRequired": false}]);
    let s = Sim::start_with(f);
    s.send("POST", &tap_path(FRANK), &json!({})).expect(201, "");
    s.send("POST", &tap_path(ERIN), &json!({}))
        .expect(400, "badRequest");
}

#[test]
fn lifetime_outside_policy_is_refused() {
    let s = Sim::start();
    for l in [30, 59, 481, 43200] {
        let r = s.send("POST", &tap_path(BOB), &json!({"lifetimeInMinutes": l}));
        r.expect(400, "badRequest");
        assert_eq!(
            r.message(),
            "Invalid LifetimeInMinutes specified. The valid range between 60 and 480."
        );
    }
    assert!(taps(&s, BOB).is_empty());
    let r = s.send("POST", &tap_path(BOB), &json!({"lifetimeInMinutes": 480}));
    r.expect(201, "");
    assert_eq!(r.body["lifetimeInMinutes"], 480);
}

#[test]
fn policy_forcing_one_time_use() {
    let mut f = Sim::demo_fixture();
    f["authenticationMethodsPolicy"]["configurations"][0]["isUsableOnce"] = json!(true);
    f["authenticationMethodsPolicy"]["configurations"][0]["defaultLength"] = json!(12);
    let s = Sim::start_with(f);
    s.send("POST", &tap_path(BOB), &json!({"isUsableOnce": false}))
        .expect(400, "badRequest");
    let r = s.send("POST", &tap_path(BOB), &json!({}));
    r.expect(201, "");
    assert_eq!(r.body["isUsableOnce"], true);
    assert_eq!(
        r.body["temporaryAccessPass"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        12
    );
}

#[test]
fn create_replaces_existing_and_delete_removes() {
    let s = Sim::start();
    let old = taps(&s, CAROL);
    assert_eq!(old.len(), 1);
    assert_eq!(old[0]["temporaryAccessPass"], "Xk7#pQ2w");
    let r = s.send("POST", &tap_path(CAROL), &json!({"lifetimeInMinutes": 90}));
    r.expect(201, "");
    let new = taps(&s, CAROL);
    assert_eq!(new.len(), 1, "one pass per user");
    assert_ne!(new[0]["id"], old[0]["id"]);
    let id = new[0]["id"].as_str().unwrap();
    s.send_empty(
        "DELETE",
        &format!("{}/{}", tap_path(CAROL), old[0]["id"].as_str().unwrap()),
    )
    .expect(404, "itemNotFound");
    let r = s.send_empty("DELETE", &format!("{}/{id}", tap_path(CAROL)));
    assert_eq!(r.status, 204);
    assert!(taps(&s, CAROL).is_empty());
}
