//! Rule 5: the mixed methods list, per-type endpoints, the default-method rule, beta extras.

use serde_json::Value;

use crate::common::*;

fn methods(s: &Sim, user: &str) -> Vec<Value> {
    let r = s.get(&format!("/v1.0/users/{user}/authentication/methods"));
    r.expect(200, "");
    r.body["value"].as_array().unwrap().clone()
}

fn find(ms: &[Value], t: &str) -> String {
    ms.iter()
        .find(|m| m["@odata.type"] == format!("#microsoft.graph.{t}"))
        .unwrap_or_else(|| panic!("no {t}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn mixed_list_has_odata_type_on_each() {
    let s = Sim::start();
    let ms = methods(&s, ALICE);
    let mut types: Vec<&str> = ms
        .iter()
        .map(|m| m["@odata.type"].as_str().unwrap())
        .collect();
    types.sort();
    types.dedup();
    assert_eq!(types.len(), 10, "{types:?}");
    assert!(
        !types.contains(&"#microsoft.graph.hardwareOathAuthenticationMethod"),
        "beta only"
    );
    assert!(ms.iter().all(|m| m["id"].is_string()));
    let pw = ms.iter().find(|m| m["id"] == PASSWORD_ID).unwrap();
    assert_eq!(pw["password"], Value::Null);
    let r = s.get(&format!(
        "/v1.0/users/{ALICE}/authentication/methods/{PASSWORD_ID}"
    ));
    r.expect(200, "");
    assert_eq!(
        r.body["@odata.type"],
        "#microsoft.graph.passwordAuthenticationMethod"
    );
    s.get(
        &format!("/v1.0/users/{ALICE}/authentication/methods?$filter=id eq 'x'")
            .replace(' ', "%20"),
    )
    .expect(400, "BadRequest");
}

#[test]
fn per_type_get_list_delete() {
    let s = Sim::start();
    let ms = methods(&s, ALICE);
    let fido = find(&ms, "fido2AuthenticationMethod");
    let r = s.get(&format!(
        "/v1.0/users/{ALICE}/authentication/fido2Methods/{fido}"
    ));
    r.expect(200, "");
    assert_eq!(r.body["model"], "YubiKey 5 Series with NFC");
    s.get(&format!(
        "/v1.0/users/{ALICE}/authentication/softwareOathMethods/{fido}"
    ))
    .expect(404, "itemNotFound");
    let list = s.get(&format!(
        "/v1.0/users/{ALICE}/authentication/windowsHelloForBusinessMethods"
    ));
    assert_eq!(list.body["value"].as_array().unwrap().len(), 1);
    for (seg, t) in [
        ("fido2Methods", "fido2AuthenticationMethod"),
        ("softwareOathMethods", "softwareOathAuthenticationMethod"),
        (
            "windowsHelloForBusinessMethods",
            "windowsHelloForBusinessAuthenticationMethod",
        ),
        (
            "platformCredentialMethods",
            "platformCredentialAuthenticationMethod",
        ),
        (
            "externalAuthenticationMethods",
            "externalAuthenticationMethod",
        ),
        ("emailMethods", "emailAuthenticationMethod"),
    ] {
        let id = find(&ms, t);
        let r = s.send_empty(
            "DELETE",
            &format!("/v1.0/users/{ALICE}/authentication/{seg}/{id}"),
        );
        assert_eq!(r.status, 204, "{seg}: {}", r.body);
        assert!(!s.method_ids(ALICE).contains(&id));
    }
}

#[test]
fn default_method_goes_last() {
    let s = Sim::start();
    let ms = methods(&s, CAROL);
    let authn = find(&ms, "microsoftAuthenticatorAuthenticationMethod");
    let tap = find(&ms, "temporaryAccessPassAuthenticationMethod");
    let path = format!("/v1.0/users/{CAROL}/authentication/microsoftAuthenticatorMethods/{authn}");
    let r = s.send_empty("DELETE", &path);
    r.expect(400, "badRequest");
    let expected = "Cannot delete default method with other methods configured. Please change default method before deletion.";
    assert_eq!(r.message(), expected);
    assert_eq!(r.body["error"]["innerError"]["message"], expected);
    assert!(s.method_ids(CAROL).contains(&authn));
    assert_eq!(
        s.send_empty(
            "DELETE",
            &format!("/v1.0/users/{CAROL}/authentication/temporaryAccessPassMethods/{tap}")
        )
        .status,
        204
    );
    assert_eq!(s.send_empty("DELETE", &path).status, 204);
    let st = s.user_state(CAROL);
    assert_eq!(st["defaultMethodId"], Value::Null);
    assert_eq!(s.method_ids(CAROL), vec![PASSWORD_ID.to_string()]);
}

#[test]
fn sign_in_preferences_beta() {
    let s = Sim::start();
    let pref = |u: &str| {
        let r = s.get(&format!("/beta/users/{u}/authentication/signInPreferences"));
        r.expect(200, "");
        r.body
    };
    let a = pref(ALICE);
    assert_eq!(a["userPreferredMethodForSecondaryAuthentication"], "push");
    assert_eq!(a["isSystemPreferredAuthenticationMethodEnabled"], false);
    let k = pref(KIM);
    assert_eq!(k["userPreferredMethodForSecondaryAuthentication"], "sms");
    assert_eq!(k["isSystemPreferredAuthenticationMethodEnabled"], true);
    assert_eq!(
        pref(BOB)["userPreferredMethodForSecondaryAuthentication"],
        Value::Null
    );
    s.get(&format!(
        "/beta/users/{LEE}/authentication/signInPreferences"
    ))
    .expect(403, "accessDenied");
    // Only the listed beta paths exist.
    s.get(&format!("/beta/users/{ALICE}/authentication/methods"))
        .expect(400, "BadRequest");
    s.get(&format!(
        "/beta/users/{ALICE}/authentication/signInPreferences?$filter=x"
    ))
    .expect(400, "BadRequest");
}

#[test]
fn beta_hardware_oath_and_qr_code_pin() {
    let s = Sim::start();
    let r = s.get(&format!(
        "/beta/users/{ALICE}/authentication/hardwareOathMethods"
    ));
    r.expect(200, "");
    let id = r.body["value"][0]["id"].as_str().unwrap().to_string();
    s.get(&format!(
        "/beta/users/{ALICE}/authentication/hardwareOathMethods/{id}"
    ))
    .expect(200, "");
    assert_eq!(
        s.send_empty(
            "DELETE",
            &format!("/beta/users/{ALICE}/authentication/hardwareOathMethods/{id}")
        )
        .status,
        204
    );
    assert!(!s.method_ids(ALICE).contains(&id));
    let qr = format!("/beta/users/{ALICE}/authentication/qrCodePinMethod");
    assert_eq!(s.send_empty("DELETE", &qr).status, 204);
    s.send_empty("DELETE", &qr).expect(404, "itemNotFound");
    s.send_empty("PUT", &qr).expect(405, "Request_BadRequest");
}
