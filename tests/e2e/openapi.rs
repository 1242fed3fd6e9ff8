//! `GET /v1/openapi.json` and `GET /v1/swagger.json` end to end: both
//! documents pass a real validator (Python's `openapi-spec-validator`,
//! installed by scripts/setup), name every route of spin.toml, describe the
//! bodies real answers have, and the Power Automate connector files match.

use std::process::Command;

use mfa_core::openapi::{document, Flavor};
use mfa_tests::{demo, root, Spin};
use serde_json::{json, Value};

use crate::common;
use crate::stack;

fn served(app: &Spin, path: &str) -> Value {
    let r = app.client().get(path);
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    r.json()
}

fn validate(doc: &Value, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::write(&file, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    let out = Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{name}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn spin_routes() -> Vec<String> {
    let m: toml::Value = std::fs::read_to_string(root().join("spin.toml"))
        .unwrap()
        .parse()
        .unwrap();
    m["trigger"]["http"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["route"].as_str().unwrap().to_string())
        .collect()
}

/// The documented properties of `operationId`'s success answer.
fn documented(doc: &Value, path: &str, method: &str, status: &str) -> Vec<String> {
    let r = &doc["paths"][path][method]["responses"][status];
    let schema = if r.get("content").is_some() {
        &r["content"]["application/json"]["schema"]
    } else {
        &r["schema"]
    };
    schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

fn assert_described(doc: &Value, path: &str, method: &str, status: u16, body: &Value) {
    let props = documented(doc, path, method, &status.to_string());
    for k in body.as_object().unwrap().keys() {
        assert!(
            props.contains(k),
            "{method} {path} {status}: `{k}` is not in the document"
        );
    }
}

#[test]
fn both_documents_validate_cover_every_route_and_describe_real_answers() {
    let (_sim, app) = stack(&[]);
    let openapi = served(&app, "/v1/openapi.json");
    let swagger = served(&app, "/v1/swagger.json");
    assert_eq!(openapi["openapi"], "3.1.0");
    assert_eq!(swagger["swagger"], "2.0");
    let host = app.client().base().trim_start_matches("http://");
    assert_eq!(swagger["host"], host);
    // What `meta` embeds is what the generator writes today.
    assert_eq!(openapi, document(Flavor::OpenApi31, None));
    assert_eq!(swagger, document(Flavor::Swagger2, Some(host)));
    validate(&openapi, "openapi.json");
    validate(&swagger, "swagger.json");

    for route in spin_routes() {
        for doc in [&openapi, &swagger] {
            let paths = doc["paths"].as_object().unwrap();
            let covered = match route.strip_suffix("/...") {
                Some("") => true, // the catch-all 404
                Some(prefix) => paths.keys().any(|p| p.starts_with(&format!("{prefix}/"))),
                None => paths.contains_key(&route),
            };
            assert!(covered, "{route} is not in the document");
        }
    }

    // The three security schemes, and every mutation accepts any of them.
    assert_eq!(
        openapi["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );
    assert_eq!(
        openapi["components"]["securitySchemes"]["webhookSignature"]["name"],
        "webhook-signature"
    );
    assert_eq!(
        openapi["components"]["securitySchemes"]["entraId"]["type"],
        "oauth2"
    );
    assert_eq!(swagger["securityDefinitions"]["api_key"]["type"], "apiKey");
    assert_eq!(
        swagger["securityDefinitions"]["oauth2_auth"]["type"],
        "oauth2"
    );
    assert_eq!(
        swagger["paths"]["/v1/reset"]["post"]["security"],
        json!([{ "api_key": [] }, { "oauth2_auth": [] }, { "webhook_signature": [] }])
    );
    assert_eq!(
        swagger["paths"]["/v1/audit"]["get"]["security"],
        json!([{ "api_key": [] }, { "oauth2_auth": [] }])
    );

    // Real answers have only documented members.
    let key = demo::admin_key();
    let tap = common::post(
        &app,
        "/v1/tap",
        key,
        &json!({ "user": "bob@contoso.com", "ticket": "T" }),
        &[],
    );
    assert_described(&openapi, "/v1/tap", "post", 201, &tap.json());
    let reset = common::post(
        &app,
        "/v1/reset",
        key,
        &json!({ "user": "carol@contoso.com", "ticket": "T" }),
        &[],
    );
    assert_described(&openapi, "/v1/reset", "post", 200, &reset.json());
    let dry = common::post(
        &app,
        "/v1/reset",
        key,
        &json!({ "user": "alice@contoso.com", "ticket": "T", "dryRun": true }),
        &[],
    );
    assert_described(&openapi, "/v1/reset", "post", 200, &dry.json());
    let phone = common::post(
        &app,
        "/v1/phone",
        key,
        &json!({ "user": "bob@contoso.com", "ticket": "T", "phoneNumber": "+1 206 555 0100" }),
        &[],
    );
    assert_described(&swagger, "/v1/phone", "post", 201, &phone.json());
    let read = |path: &str| common::get(&app, path, demo::reader_key(), &[]).json();
    let failures = read("/v1/failures?since=P7D");
    assert_described(&openapi, "/v1/failures", "get", 200, &failures);
    let user = &failures["users"][0];
    let item_props = openapi["paths"]["/v1/failures"]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"]["properties"]["users"]["items"]["properties"]
        .as_object()
        .unwrap()
        .clone();
    for k in user.as_object().unwrap().keys() {
        assert!(item_props.contains_key(k), "failures user member `{k}`");
    }
    let audit = read("/v1/audit?limit=2");
    assert_described(&openapi, "/v1/audit", "get", 200, &audit);
    let record = &audit["records"][0];
    assert_described(&openapi, "/v1/audit/{auditId}", "get", 200, record);
    let verify = read("/v1/audit/verify");
    assert_described(&openapi, "/v1/audit/verify", "get", 200, &verify);
}

#[test]
fn the_power_automate_connector_files_match_the_document() {
    let dir = root().join("connector");
    let generated = serde_json::to_string_pretty(&document(Flavor::Swagger2, None)).unwrap() + "\n";
    let file = dir.join("apiDefinition.swagger.json");
    if std::env::var_os("UPDATE_CONNECTOR").is_some() {
        std::fs::write(&file, &generated).unwrap();
    }
    let stored = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        stored == generated,
        "connector/apiDefinition.swagger.json is stale: run UPDATE_CONNECTOR=1 cargo test -p mfa-tests --test e2e openapi::"
    );
    let swagger: Value = serde_json::from_str(&stored).unwrap();
    validate(&swagger, "apiDefinition.swagger.json");

    // What paconn and the designer need: operation ids, summaries on every
    // parameter, and the API key connection parameter the security
    // definition names.
    let props: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("apiProperties.json")).unwrap())
            .unwrap();
    // Two ways in, the user's choice: the API key, or Entra ID (OAuth 2.0).
    let sets = props["properties"]["connectionParameterSets"]["values"]
        .as_array()
        .unwrap();
    let set = |name: &str| {
        sets.iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no {name} parameter set"))["parameters"]
            .clone()
    };
    for name in swagger["securityDefinitions"].as_object().unwrap().keys() {
        if swagger["securityDefinitions"][name]["name"] == "Authorization" {
            assert_eq!(set("apiKey")[name]["type"], "securestring", "{name}");
        }
    }
    let entra = set("entraId")["token"].clone();
    assert_eq!(entra["type"], "oauthSetting");
    assert_eq!(entra["oAuthSettings"]["identityProvider"], "aad");
    assert_eq!(
        swagger["securityDefinitions"]["oauth2_auth"]["type"],
        "oauth2"
    );
    for (path, item) in swagger["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                op["operationId"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path}"
            );
            assert!(op["summary"].is_string(), "{method} {path}");
            for p in op["parameters"].as_array().into_iter().flatten() {
                assert!(
                    p["x-ms-summary"].is_string(),
                    "{method} {path} {}",
                    p["name"]
                );
            }
        }
    }
}
