//! App-only tokens are JWTs with a `roles` claim (access-token-claims-reference), and
//! `POST /_sim/apps/{clientId}/permissions` changes what later tokens carry.

use serde_json::{json, Value};

use crate::common::*;

fn token_with_scope(s: &Sim, scope: &str) -> String {
    let r = s.token_request(
        TENANT_ID,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("scope", scope),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["access_token"].as_str().unwrap().to_string()
}

#[test]
fn token_is_a_jwt_with_v1_claims() {
    let s = Sim::start();
    assert_eq!(s.token.split('.').count(), 3);
    let h = jwt_part(&s.token, 0);
    assert_eq!(h, json!({"typ": "JWT", "alg": "RS256", "kid": "sim"}));
    let c = jwt_part(&s.token, 1);
    let iss = format!("https://sts.windows.net/{TENANT_ID}/");
    assert_eq!(c["aud"], s.base.as_str());
    assert_eq!(c["iss"], iss.as_str());
    assert_eq!(c["idp"], iss.as_str());
    assert_eq!(c["appid"], CLIENT_ID);
    assert_eq!(c["appidacr"], "1");
    assert_eq!(c["tid"], TENANT_ID);
    assert_eq!(c["ver"], "1.0");
    let sp = s.state()["apps"][0]["servicePrincipalId"].clone();
    assert!(uuid_like(&sp));
    assert_eq!(c["oid"], sp);
    assert_eq!(c["sub"], sp);
    assert_eq!(c["nbf"], c["iat"]);
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3599
    );
    let now = time_now(&s);
    assert!((c["iat"].as_i64().unwrap() - now).abs() <= 5);
    for k in ["aio", "rh", "uti"] {
        assert!(c[k].as_str().is_some_and(|v| !v.is_empty()), "{k}");
    }
    assert_eq!(c["roles"], Sim::demo_fixture()["apps"][0]["permissions"]);
    // Graph's own scope names Graph as the audience.
    let t = token_with_scope(&s, "https://graph.microsoft.com/.default");
    assert_eq!(jwt_part(&t, 1)["aud"], "https://graph.microsoft.com");
    assert_ne!(jwt_part(&t, 1)["uti"], c["uti"]);
    // The sim clock drives iat/exp.
    s.advance(1000);
    let t = token_with_scope(&s, "https://graph.microsoft.com/.default");
    assert!(jwt_part(&t, 1)["iat"].as_i64().unwrap() >= c["iat"].as_i64().unwrap() + 1000);
}

fn uuid_like(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 36 && s.matches('-').count() == 4)
}

fn time_now(s: &Sim) -> i64 {
    let now = s.state()["now"].as_str().unwrap().to_string();
    time::OffsetDateTime::parse(&now, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp()
}

#[test]
fn roles_claim_absent_without_permissions() {
    let s = Sim::start_with(fixture_with_permissions(&[]));
    let c = jwt_part(&s.token, 1);
    assert!(c.get("roles").is_none(), "{c}");
    s.get(&format!("/v1.0/users/{ALICE}"))
        .expect(403, "Authorization_RequestDenied");
}

#[test]
fn tokens_are_looked_up_whole_and_logged_as_fingerprints() {
    let s = Sim::start();
    s.get(&format!("/v1.0/users/{ALICE}")).expect(200, "");
    let auth = s.last_request()["headers"]["authorization"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        auth.starts_with("Bearer sha256:") && auth.len() == "Bearer sha256:".len() + 12,
        "{auth}"
    );
    let all = serde_json::to_string(&s.requests()).unwrap();
    assert!(!all.contains(&s.token));
    // A client that edits the payload (say, to add a role) is refused.
    use base64::Engine;
    let mut claims = jwt_part(&s.token, 1);
    claims["roles"] = json!(["Directory.ReadWrite.All"]);
    let parts: Vec<&str> = s.token.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    let r = s.get_as(&forged, &format!("/v1.0/users/{ALICE}"));
    r.expect(401, "InvalidAuthenticationToken");
    s.get_as("not-a-token", &format!("/v1.0/users/{ALICE}"))
        .expect(401, "InvalidAuthenticationToken");
}

#[test]
fn changing_an_apps_permissions_affects_later_tokens() {
    let mut s = Sim::start();
    let old = s.token.clone();
    let path = format!("/_sim/apps/{CLIENT_ID}/permissions");
    let r = s.control(
        "POST",
        &path,
        Some(json!({"permissions": ["User.Read.All"]})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"clientId": CLIENT_ID, "permissions": ["User.Read.All"]})
    );
    assert_eq!(s.control("GET", &path, None).body, r.body);
    assert_eq!(
        s.state()["apps"][0]["permissions"],
        json!(["User.Read.All"])
    );
    // The old token keeps the grants it was issued with.
    s.get_as(&old, "/v1.0/auditLogs/signIns?$top=1")
        .expect(200, "");
    s.renew();
    assert_eq!(jwt_part(&s.token, 1)["roles"], json!(["User.Read.All"]));
    s.get("/v1.0/auditLogs/signIns?$top=1")
        .expect(403, "Authorization_RequestDenied");
    s.get(&format!("/v1.0/users/{ALICE}")).expect(200, "");
    // Empty list: the next token has no roles claim.
    s.control("POST", &path, Some(json!({"permissions": []})));
    s.renew();
    assert!(jwt_part(&s.token, 1).get("roles").is_none());
    // Errors.
    assert_eq!(
        s.control(
            "POST",
            "/_sim/apps/00000000-0000-0000-0000-000000000000/permissions",
            Some(json!({"permissions": []}))
        )
        .status,
        404
    );
    for bad in [
        json!({}),
        json!({"permissions": "User.Read.All"}),
        json!({"permissions": [1]}),
        json!({"permissions": [], "x": 1}),
    ] {
        assert_eq!(
            s.control("POST", &path, Some(bad.clone())).status,
            400,
            "{bad}"
        );
    }
    // Reset restores the fixture's grants.
    s.control("POST", "/_sim/reset", None);
    assert_eq!(
        s.state()["apps"][0]["permissions"],
        Sim::demo_fixture()["apps"][0]["permissions"]
    );
}

/// Quirk `tokenExpiresInAsString`: the lifetimes come as JSON strings, as some tenants
/// answer (MicrosoftDocs/azure-docs#54997); the token itself is the same.
#[test]
fn the_string_lifetime_quirk_answers_expires_in_as_a_string() {
    let s = Sim::start();
    let ask = || {
        s.token_request(
            TENANT_ID,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
        )
    };
    let r = ask();
    assert_eq!(r.body["expires_in"], json!(3599));
    let q = s.control(
        "POST",
        "/_sim/quirks",
        Some(json!({"tokenExpiresInAsString": true})),
    );
    assert_eq!(q.body["tokenExpiresInAsString"], true);
    let r = ask();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["expires_in"], json!("3599"));
    assert_eq!(r.body["ext_expires_in"], json!("3599"));
    let token = r.body["access_token"].as_str().unwrap();
    let auth = format!("Bearer {token}");
    let me = s.get_with("/v1.0/users?$top=1", &[("authorization", auth.as_str())]);
    assert_eq!(me.status, 200, "{}", me.body);
}
