//! Entra ID callers (`entra_audience`): access tokens the simulated tenant
//! mints, accepted or refused by the check they fail, app roles as scopes,
//! the operator of a delegated token in the audit trail and the notice,
//! and the signing keys read once and at most once a minute.

use mfa_tests::{demo, Sim, Spin};
use serde_json::{json, Value};

use crate::stack;

const AUDIENCE: &str = "api://mfa-recovery";
const CLIENT: &str = "5c0ffee0-0000-4000-8000-00000000a991";
const ROLES: [&str; 7] = [
    "Tap",
    "Reset",
    "Phone",
    "Failures.Read",
    "Diagnose",
    "Audit.Read",
    "Privileged",
];
const NOTIFY: &str = r#"{"sender":"mfa-notify@contoso.com","recipients":["user"]}"#;

fn entra_stack(extra: &[(&str, Option<&str>)]) -> (Sim, Spin) {
    let mut vars = vec![("entra_audience", Some(AUDIENCE))];
    vars.extend_from_slice(extra);
    stack(&vars)
}

fn tap(app: &Spin, token: &str, user: &str) -> mfa_tests::Reply {
    let auth = format!("Bearer {token}");
    app.client().post_json(
        "/v1/tap",
        &json!({ "user": user, "ticket": "INC-ENTRA" }),
        &[("authorization", auth.as_str())],
    )
}

/// Whether the tenant holds a Temporary Access Pass for `user_id`.
fn holds_a_pass(sim: &Sim, user_id: &str) -> bool {
    sim.state()["users"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|u| u["id"] == user_id)
        .flat_map(|u| u["methods"].as_array().cloned().unwrap_or_default())
        .any(|m| m["@odata.type"] == "#microsoft.graph.temporaryAccessPassAuthenticationMethod")
}

fn get(app: &Spin, token: &str, path: &str) -> mfa_tests::Reply {
    let auth = format!("Bearer {token}");
    app.client()
        .send("GET", path, &[("authorization", auth.as_str())], None)
}

#[test]
fn app_roles_are_the_scopes_and_the_client_is_the_caller() {
    let (sim, app) = entra_stack(&[]);
    let tapper = sim.token(json!({ "roles": ["Tap"] }));
    let r = tap(&app, &tapper, "bob@contoso.com");
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.json()["temporaryAccessPass"].is_string());
    // The tenant holds the pass the token's caller asked for.
    let bob = r.json()["user"]["id"].as_str().unwrap().to_string();
    assert!(holds_a_pass(&sim, &bob), "no pass in the tenant for {bob}");
    // Each role is its scope, and nothing else.
    let r = get(&app, &tapper, "/v1/diagnose?user=bob@contoso.com");
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (403, json!("insufficient_scope")),
        "{}",
        r.body
    );
    let reader = sim.token(json!({ "roles": ["Diagnose", "Audit.Read", "Failures.Read"] }));
    assert_eq!(
        get(&app, &reader, "/v1/diagnose?user=bob@contoso.com").status,
        200
    );
    let records = get(&app, &reader, "/v1/audit?ticket=INC-ENTRA").json();
    assert_eq!(records["records"][0]["caller"], format!("entra:{CLIENT}"));
    assert_eq!(records["records"][0]["operation"], "tap");
    assert!(
        records["records"][0].get("operator").is_none(),
        "app-only: no operator"
    );
    // A protected user needs `Privileged` as well.
    let r = tap(&app, &tapper, "adele.admin@contoso.com");
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (403, json!("protected_user")),
        "{}",
        r.body
    );
    let privileged = sim.token(json!({ "roles": ["Tap", "Privileged"] }));
    assert_eq!(
        tap(&app, &privileged, "adele.admin@contoso.com").status,
        201
    );
    // v2 tokens carry the v2 issuer of the login endpoint, and an API key
    // still works beside the tokens.
    let v2 = sim.token(json!({ "roles": ["Audit.Read"], "version": 2, "issuerBase": sim.url() }));
    assert_eq!(get(&app, &v2, "/v1/audit").status, 200);
    assert_eq!(
        crate::common::get(&app, "/v1/audit", demo::reader_key(), &[]).status,
        200
    );
}

#[test]
fn each_forged_token_is_refused_naming_the_check_and_never_echoed() {
    let (sim, app) = entra_stack(&[]);
    let cases = [
        ("wrong_key", "the signature does not verify"),
        ("wrong_tenant", "the tenant is not this deployment's"),
        ("wrong_audience", "the audience is not this API"),
        ("expired", "the token has expired"),
        ("not_yet_valid", "the token is not valid yet (nbf)"),
        ("alg_none", "alg must be RS256"),
        ("hs256", "alg must be RS256"),
        ("jku", "the token header points at a key (jku)"),
        (
            "unknown_kid",
            "the token is signed by a key the tenant does not publish",
        ),
    ];
    let mut table = Vec::new();
    for (forge, check) in cases {
        let token = sim.token(json!({ "roles": ["Tap", "Privileged"], "forge": forge }));
        let r = tap(&app, &token, "bob@contoso.com");
        let challenge = r.header("www-authenticate").unwrap_or_default().to_string();
        table.push(format!("{forge}: {} {challenge}", r.status));
        assert_eq!(r.status, 401, "{forge}: {}", r.body);
        assert_eq!(r.json()["code"], "unauthorized", "{forge}");
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\"")
                && challenge.contains(&format!("error_description=\"{check}")),
            "{forge}: {challenge}"
        );
        assert!(
            !r.body.contains(&token) && !app.logs().contains(&token),
            "{forge}: token echoed"
        );
    }
    // The issuer of another tenant, a token cut short, garbage after `Bearer`.
    let other_issuer = sim.token(json!({ "claims": { "iss": "https://sts.windows.net/00000000-0000-4000-8000-00000000dead/" } }));
    let valid = sim.token(json!({ "roles": ["Tap"] }));
    for (token, check) in [
        (other_issuer, "the issuer is not this deployment's tenant"),
        (
            valid[..valid.len() - 10].to_string(),
            "the signature does not verify",
        ),
        (
            "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.bm90IGpzb24.c2ln".to_string(),
            "the token is not a well-formed JWT",
        ),
    ] {
        let r = tap(&app, &token, "bob@contoso.com");
        assert_eq!(r.status, 401, "{}", r.body);
        assert!(
            r.header("www-authenticate")
                .unwrap_or_default()
                .contains(check),
            "{check}"
        );
    }
    // Nothing reached Graph but reads of the keys.
    assert!(crate::common::writes(&sim).is_empty());
    println!("refused tokens:\n{}", table.join("\n"));
}

#[test]
fn tokens_are_refused_when_the_deployment_takes_none_and_keys_fail_closed() {
    let (sim, app) = stack(&[]);
    let token = sim.token(json!({ "roles": ["Tap"] }));
    let r = tap(&app, &token, "bob@contoso.com");
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap_or_default()
        .contains("entra_audience is not set"));

    // The keys cannot be read: 503, never an open door.
    let (sim, app) = entra_stack(&[]);
    sim.fault(json!({ "pathPattern": "/discovery/v2\\.0/keys$", "status": 500, "count": 100 }));
    let token = sim.token(json!({ "roles": ["Tap"] }));
    let r = tap(&app, &token, "bob@contoso.com");
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (503, json!("signing_keys_unavailable")),
        "{}",
        r.body
    );
    assert!(crate::common::writes(&sim).is_empty());
}

/// Waits for the next wall-clock minute: the app reads the keys again for
/// an unknown `kid` at most once a minute.
fn next_minute() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    std::thread::sleep(std::time::Duration::from_secs(60 - now % 60 + 1));
}

#[test]
fn the_keys_are_read_once_a_rotated_key_is_picked_up_and_a_kid_flood_reads_once_a_minute() {
    let (sim, app) = entra_stack(&[]);
    let reader = sim.token(json!({ "roles": ["Audit.Read"] }));
    for _ in 0..5 {
        assert_eq!(get(&app, &reader, "/v1/audit").status, 200);
    }
    assert_eq!(sim.key_reads(), 1, "one read for five requests");

    // The tenant rotates: a token signed by the new key is accepted once the
    // app has read the keys again (at most a minute later).
    sim.publish_keys(&["current", "next"]);
    let rotated = sim.token(json!({ "roles": ["Audit.Read"], "key": "next" }));
    next_minute();
    let r = get(&app, &rotated, "/v1/audit");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(sim.key_reads(), 2);

    // A flood of made-up key ids costs no more reads this minute.
    for _ in 0..10 {
        let forged = sim.token(json!({ "roles": ["Audit.Read"], "forge": "unknown_kid" }));
        assert_eq!(get(&app, &forged, "/v1/audit").status, 401);
    }
    assert!(sim.key_reads() <= 3, "{} reads", sim.key_reads());
}

#[test]
fn a_delegated_token_names_its_operator_in_the_audit_trail_and_the_notice() {
    let (sim, app) = entra_stack(&[("notify", Some(NOTIFY))]);
    let agent =
        json!({ "upn": "agent.smith@contoso.com", "oid": "a9e47000-0000-4000-8000-0000000000a1" });
    let token = sim.token(json!({ "roles": ["Tap", "Audit.Read"], "delegated": agent }));
    let r = tap(&app, &token, "bob@contoso.com");
    assert_eq!(r.status, 201, "{}", r.body);
    let by_upn = get(&app, &token, "/v1/audit?operator=Agent.Smith@contoso.com").json();
    let records = by_upn["records"].as_array().unwrap();
    assert!(!records.is_empty(), "{by_upn}");
    for record in records {
        assert_eq!(record["operator"], agent, "{record}");
    }
    let ops: Vec<&Value> = records.iter().map(|r| &r["operation"]).collect();
    assert!(
        ops.contains(&&json!("tap")) && ops.contains(&&json!("notify")),
        "{ops:?}"
    );
    let by_oid = get(
        &app,
        &token,
        "/v1/audit?operator=a9e47000-0000-4000-8000-0000000000a1",
    )
    .json();
    assert_eq!(by_oid["records"], by_upn["records"]);
    assert_eq!(
        get(&app, &token, "/v1/audit?operator=someone@contoso.com").json()["records"],
        json!([])
    );
    // The chain still verifies with the operators in it.
    assert_eq!(get(&app, &token, "/v1/audit/verify").json()["ok"], true);
    let mails = sim.state()["sentMail"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(mails.len(), 1);
    let text = mails[0]["message"]["body"]["content"].as_str().unwrap();
    assert!(text.contains("Done by: agent.smith@contoso.com"), "{text}");
}

#[test]
fn a_named_client_is_its_configured_caller_and_the_name_grants_nothing() {
    // The demo callers, plus a name for the connector's client application.
    let mut callers: Value = serde_json::from_str(
        &mfa_tests::demo_variables("http://unused")
            .into_iter()
            .find(|(k, _)| k == "callers")
            .unwrap()
            .1,
    )
    .unwrap();
    callers
        .as_array_mut()
        .unwrap()
        .push(json!({ "id": "servicenow-oauth", "entraAppId": CLIENT.to_uppercase() }));
    let callers = callers.to_string();
    let (sim, app) = entra_stack(&[("callers", Some(&callers))]);
    let token = sim.token(json!({ "roles": ["Tap", "Audit.Read"] }));
    let r = tap(&app, &token, "bob@contoso.com");
    assert_eq!(r.status, 201, "{}", r.body);
    let bob = r.json()["user"]["id"].as_str().unwrap().to_string();
    assert!(holds_a_pass(&sim, &bob), "no pass in the tenant for {bob}");
    let records = get(&app, &token, "/v1/audit?caller=servicenow-oauth").json();
    assert_eq!(
        records["records"][0]["caller"], "servicenow-oauth",
        "{records}"
    );
    assert_eq!(records["records"][0]["operation"], "tap");
    // The name is not a grant: without the Diagnose role, no diagnose, and
    // Graph is not asked anything.
    sim.clear_requests();
    let r = get(&app, &token, "/v1/diagnose?user=bob@contoso.com");
    assert_eq!(r.json()["code"], "insufficient_scope", "{}", r.body);
    assert_eq!(sim.requests(), Vec::<Value>::new());
    // Another client is still `entra:<appid>`.
    let other = "0dd0dd00-0000-4000-8000-0000000000b2";
    let token = sim.token(json!({ "roles": ["Tap", "Audit.Read"], "appId": other }));
    let r = tap(&app, &token, "alice@contoso.com");
    assert_eq!(r.status, 201, "{}", r.body);
    let records = get(&app, &token, "/v1/audit?ticket=INC-ENTRA").json();
    let callers: Vec<&str> = records["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["caller"].as_str())
        .collect();
    assert_eq!(
        callers,
        [format!("entra:{other}").as_str(), "servicenow-oauth"]
    );
}

/// Every operation a runbook or connector needs, called with nothing but a
/// token: with its own app role it succeeds (and the tenant shows it), with
/// every other role it is `403 insufficient_scope`.
#[test]
fn every_operation_takes_a_token_alone_and_each_role_opens_only_its_own() {
    let (sim, app) = entra_stack(&[]);
    let all_but = |role: &str| {
        let roles: Vec<&str> = ROLES.iter().copied().filter(|r| *r != role).collect();
        sim.token(json!({ "roles": roles }))
    };
    let send = |token: &str, method: &str, path: &str, body: Option<Value>| {
        let auth = format!("Bearer {token}");
        let mut headers = vec![("authorization", auth.as_str())];
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        app.client().send(
            method,
            path,
            &headers,
            body.map(|b| b.to_string().into_bytes()),
        )
    };
    let ticket = |body: Value| {
        let mut b = body;
        b["ticket"] = json!("INC-ENTRA-ALL");
        Some(b)
    };
    let cases: Vec<(&str, &str, &str, Option<Value>, u16)> = vec![
        (
            "Tap",
            "POST",
            "/v1/tap",
            ticket(json!({ "user": "bob@contoso.com" })),
            201,
        ),
        (
            "Reset",
            "POST",
            "/v1/reset",
            ticket(json!({ "user": "alice@contoso.com" })),
            200,
        ),
        (
            "Phone",
            "POST",
            "/v1/phone",
            ticket(json!({ "user": "carol@contoso.com", "phoneNumber": "+1 206 555 1234" })),
            201,
        ),
        ("Failures.Read", "GET", "/v1/failures?since=P7D", None, 200),
        (
            "Failures.Read",
            "POST",
            "/v1/failures/refresh",
            Some(json!({})),
            200,
        ),
        (
            "Diagnose",
            "GET",
            "/v1/diagnose?user=bob@contoso.com",
            None,
            200,
        ),
        ("Audit.Read", "GET", "/v1/audit", None, 200),
        ("Audit.Read", "GET", "/v1/audit/verify", None, 200),
        ("Audit.Read", "GET", "/v1/audit/head", None, 200),
    ];
    for (role, method, path, body, ok) in cases {
        let r = send(&all_but(role), method, path, body.clone());
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (403, json!("insufficient_scope")),
            "{path} without {role}: {}",
            r.body
        );
        let r = send(&sim.token(json!({ "roles": [role] })), method, path, body);
        assert_eq!(r.status, ok, "{path} with {role}: {}", r.body);
    }
    // What the tenant holds after the three mutations.
    let id = |upn: &str| {
        sim.state()["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["userPrincipalName"] == upn)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(holds_a_pass(&sim, &id("bob@contoso.com")));
    let alice: Vec<Value> = crate::common::methods_of(&sim, &id("alice@contoso.com"));
    assert!(
        alice
            .iter()
            .all(|m| m["@odata.type"] == "#microsoft.graph.passwordAuthenticationMethod"),
        "{alice:?}"
    );
    assert!(crate::common::methods_of(&sim, &id("carol@contoso.com"))
        .iter()
        .any(|m| m["phoneNumber"] == "+1 2065551234"));
    // /readyz shows its permissions part to the token holding Audit.Read.
    let r = send(
        &sim.token(json!({ "roles": ["Audit.Read"] })),
        "GET",
        "/readyz",
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json().get("permissions").is_some(), "{}", r.body);
    // The audit trail names the token's client for each mutation.
    let records = send(
        &sim.token(json!({ "roles": ["Audit.Read"] })),
        "GET",
        "/v1/audit?ticket=INC-ENTRA-ALL",
        None,
    )
    .json();
    let ops: Vec<(&str, &str)> = records["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["operation"].as_str().unwrap(),
                r["caller"].as_str().unwrap(),
            )
        })
        .collect();
    let caller = format!("entra:{CLIENT}");
    assert_eq!(
        ops,
        [
            ("phone", caller.as_str()),
            ("reset", caller.as_str()),
            ("tap", caller.as_str())
        ]
    );
}
