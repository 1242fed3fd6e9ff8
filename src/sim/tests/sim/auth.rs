//! Rule 2: the token endpoint's errors, bearer checks, expiry on the sim clock, permissions.

use serde_json::json;

use crate::common::*;

fn form(scope: &str) -> Vec<(&str, &str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("scope", scope),
    ]
}

fn without<'a>(f: &[(&'a str, &'a str)], key: &str) -> Vec<(&'a str, &'a str)> {
    f.iter().filter(|(k, _)| *k != key).cloned().collect()
}

fn with<'a>(f: &[(&'a str, &'a str)], key: &'a str, v: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut out = without(f, key);
    out.push((key, v));
    out
}

#[track_caller]
fn aad(r: &Resp, status: u16, error: &str, code: u64) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.body["error"], error, "{}", r.body);
    assert_eq!(r.body["error_codes"], json!([code]));
    let d = r.body["error_description"].as_str().unwrap();
    assert!(d.starts_with(&format!("AADSTS{code}:")), "{d}");
    for k in ["timestamp", "trace_id", "correlation_id"] {
        assert!(r.body[k].is_string(), "{k} missing: {}", r.body);
    }
    assert!(r.header("request-id").is_some());
}

#[test]
fn token_success_shape_and_redacted_log() {
    let s = Sim::start();
    let scope = format!("{}/.default", s.base);
    let r = s.token_request("contoso.com", &form(&scope));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 3599);
    assert_eq!(r.body["ext_expires_in"], 3599);
    assert!(r.body["access_token"].as_str().unwrap().len() > 20);
    // Graph's own scope works too (FACTS §1).
    let r = s.token_request(
        TENANT_ID,
        &with(
            &form(&scope),
            "scope",
            "https://graph.microsoft.com/.default",
        ),
    );
    assert_eq!(r.status, 200);
    let log = s.last_request();
    assert_eq!(log["kind"], "token");
    assert_eq!(log["body"]["client_secret"], "<redacted>");
    assert_eq!(log["body"]["client_id"], CLIENT_ID);
    let all = serde_json::to_string(&s.requests()).unwrap();
    assert!(!all.contains(CLIENT_SECRET), "secret leaked into the log");
    assert!(!all.contains(&s.token), "token leaked into the log");
}

#[test]
fn token_errors_match_aad() {
    let s = Sim::start();
    let scope = format!("{}/.default", s.base);
    let f = form(&scope);
    aad(
        &s.token_request(TENANT_ID, &with(&f, "client_secret", "wrong")),
        401,
        "invalid_client",
        7000215,
    );
    aad(
        &s.token_request(
            TENANT_ID,
            &with(&f, "client_id", "00000000-0000-0000-0000-000000000001"),
        ),
        400,
        "unauthorized_client",
        700016,
    );
    aad(
        &s.token_request("fabrikam.com", &f),
        400,
        "invalid_tenant",
        90002,
    );
    aad(
        &s.token_request(TENANT_ID, &without(&f, "client_secret")),
        401,
        "invalid_client",
        7000218,
    );
    aad(
        &s.token_request(TENANT_ID, &without(&f, "grant_type")),
        400,
        "invalid_request",
        900144,
    );
    aad(
        &s.token_request(TENANT_ID, &without(&f, "scope")),
        400,
        "invalid_request",
        900144,
    );
    aad(
        &s.token_request(TENANT_ID, &with(&f, "scope", "User.Read")),
        400,
        "invalid_scope",
        70011,
    );
    aad(
        &s.token_request(
            TENANT_ID,
            &with(&f, "scope", "https://graph.microsoft.us/.default"),
        ),
        400,
        "invalid_scope",
        70011,
    );
    // Wrong content type: the form fields are not read.
    let body = "grant_type=client_credentials";
    let r = s.call(
        "POST",
        &format!("/{TENANT_ID}/oauth2/v2.0/token"),
        &[("content-type", "application/json")],
        Some(body),
    );
    aad(&r, 400, "invalid_request", 900144);
    let log = s.last_request();
    assert_eq!(log["graphErrorCode"], "invalid_request");
    // No token was issued by any of these.
    assert_eq!(s.state()["activeTokens"], 1);
}

#[test]
fn basic_client_authentication_works() {
    use base64::Engine;
    let s = Sim::start();
    let scope = format!("{}/.default", s.base);
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{CLIENT_ID}:{}", enc(CLIENT_SECRET)));
    let body = format!("grant_type=client_credentials&scope={}", enc(&scope));
    let r = s.call(
        "POST",
        &format!("/{TENANT_ID}/oauth2/v2.0/token"),
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", &format!("Basic {basic}")),
        ],
        Some(&body),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(s.last_request()["headers"]["authorization"]
        .as_str()
        .unwrap()
        .ends_with("<redacted>"));
    let bad = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:nope"));
    let r = s.call(
        "POST",
        &format!("/{TENANT_ID}/oauth2/v2.0/token"),
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", &format!("Basic {bad}")),
        ],
        Some(&body),
    );
    aad(&r, 401, "invalid_client", 7000215);
}

#[test]
fn graph_needs_an_issued_unexpired_token() {
    let s = Sim::start();
    let path = format!("/v1.0/users/{ALICE}");
    let r = s.call("GET", &path, &[], None);
    r.expect(401, "InvalidAuthenticationToken");
    assert!(r.header("www-authenticate").is_some());
    s.call(
        "GET",
        &path,
        &[("authorization", "Bearer not-a-token")],
        None,
    )
    .expect(401, "InvalidAuthenticationToken");
    s.get(&path).expect(200, "");
    let log = s.last_request();
    let fp = log["headers"]["authorization"].as_str().unwrap();
    assert!(
        fp.starts_with("Bearer sha256:") && fp.len() == "Bearer sha256:".len() + 12,
        "{fp}"
    );
    // Expiry on the sim clock.
    s.advance(3599);
    s.get(&path).expect(401, "InvalidAuthenticationToken");
    let fresh = s.fetch_token(CLIENT_ID, CLIENT_SECRET);
    s.call(
        "GET",
        &path,
        &[("authorization", &format!("Bearer {fresh}"))],
        None,
    )
    .expect(200, "");
}

#[test]
fn missing_permission_is_403() {
    let s = Sim::start();
    let ro = s.fetch_token(READONLY_CLIENT_ID, READONLY_SECRET);
    let auth = format!("Bearer {ro}");
    let r = s.call(
        "POST",
        &format!("/v1.0/users/{BOB}/authentication/temporaryAccessPassMethods"),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        Some("{}"),
    );
    r.expect(403, "Authorization_RequestDenied");
    assert_eq!(
        r.message(),
        "Insufficient privileges to complete the operation."
    );
    assert_eq!(s.method_ids(BOB), vec![PASSWORD_ID.to_string()]);
    s.call(
        "GET",
        &format!("/v1.0/users/{BOB}"),
        &[("authorization", &auth)],
        None,
    )
    .expect(200, "");
    s.call(
        "GET",
        "/v1.0/auditLogs/signIns?$top=1",
        &[("authorization", &auth)],
        None,
    )
    .expect(403, "Authorization_RequestDenied");
}

#[test]
fn fixture_without_a_permission_denies_that_call() {
    // The demo set minus Mail.Send and GroupMember.Read.All.
    let s = Sim::start_with(fixture_with_permissions(&[
        "UserAuthMethod-TAP.ReadWrite.All",
        "User.Read.All",
    ]));
    s.send(
        "POST",
        "/v1.0/users/mfa-notify@contoso.com/sendMail",
        &json!({"message": {"subject": "x", "toRecipients": [{"emailAddress": {"address": "a@b.c"}}]}}),
    )
    .expect(403, "Authorization_RequestDenied");
    assert_eq!(s.state()["sentMail"], json!([]));
    // checkMemberGroups needs User.Read.All and GroupMember.Read.All (FACTS §0).
    s.send(
        "POST",
        &format!("/v1.0/users/{DIEGO}/checkMemberGroups"),
        &json!({"groupIds": [G_PROTECTED]}),
    )
    .expect(403, "Authorization_RequestDenied");
    // The granular TAP permission is enough for TAP, not for the mixed methods list.
    s.send(
        "POST",
        &format!("/v1.0/users/{BOB}/authentication/temporaryAccessPassMethods"),
        &json!({}),
    )
    .expect(201, "");
    s.get(&format!("/v1.0/users/{BOB}/authentication/methods"))
        .expect(403, "Authorization_RequestDenied");
    s.get(&format!(
        "/v1.0/users/{BOB}/authentication/temporaryAccessPassMethods"
    ))
    .expect(200, "");
}
