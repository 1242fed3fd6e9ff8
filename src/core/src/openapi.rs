//! The generator of `GET /v1/openapi.json` (OpenAPI 3.1) and `GET
//! /v1/swagger.json` (Swagger 2.0, for a Power Automate custom connector):
//! native builds only (feature `openapi`); what `meta` serves is its output,
//! committed and embedded (`api::documents`). Built from one
//! table of operations. Request bodies are the operations' own input types
//! (`schemars`), so the documents cannot drift from what the handlers
//! accept; query parameters are checked against the parsers by tests, and
//! response bodies against real answers by the end-to-end tests.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

use crate::api::documents::{valid_host, DEFAULT_HOST};
use crate::api::endpoints::{self, Access, Endpoint};
use crate::api::ErrorCode;
use crate::audit::{AuditPage, AuditRecord, Head, VerifyReport};
use crate::ops::add_phone::{PhoneAnswer, PhoneInput};
use crate::ops::diagnose::Diagnosis;
use crate::ops::failures::{FailuresAnswer, RefreshAnswer};
use crate::ops::issue_tap::{TapAnswer, TapInput};
use crate::ops::meta::Health;
use crate::ops::reset::{ResetAnswer, ResetInput};
use crate::types::Scope;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    OpenApi31,
    Swagger2,
}

struct Param {
    name: &'static str,
    summary: &'static str,
    description: &'static str,
    /// A JSON schema for the value (`type` is all Swagger needs).
    kind: &'static str,
    format: Option<&'static str>,
    required: bool,
}

/// What the documents say of one endpoint beyond its identity (method,
/// path, id and access come from [`endpoints`]).
struct Row {
    endpoint: &'static Endpoint,
    summary: &'static str,
    description: &'static str,
    body: Option<fn(&mut SchemaGenerator) -> schemars::Schema>,
    path_params: &'static [Param],
    query: &'static [Param],
    ok_status: u16,
    ok: fn() -> Value,
    csv: bool,
    errors: &'static [ErrorCode],
}

const GUARDS: &[ErrorCode] = &[
    ErrorCode::InvalidRequest,
    ErrorCode::UnknownField,
    ErrorCode::InvalidUser,
    ErrorCode::VerificationRequired,
    ErrorCode::Unauthorized,
    ErrorCode::ReplayedWebhook,
    ErrorCode::InsufficientScope,
    ErrorCode::ProtectedUser,
    ErrorCode::UserNotFound,
    ErrorCode::UserDisabled,
    ErrorCode::IdempotencyKeyReused,
    ErrorCode::RequestInProgress,
    ErrorCode::PayloadTooLarge,
    ErrorCode::UnsupportedMediaType,
    ErrorCode::RateLimited,
    ErrorCode::Misconfigured,
    ErrorCode::PermissionMissing,
    ErrorCode::ProtectionUnverified,
    ErrorCode::GraphError,
    ErrorCode::GraphUnavailable,
    ErrorCode::GraphAuthFailed,
    ErrorCode::GraphThrottled,
    ErrorCode::StorageUnavailable,
];

fn body_of<T: JsonSchema>(g: &mut SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<T>()
}

/// A response body's schema from its type, inline: responses keep their
/// `null`s (what [`drop_null`] does to the shared input schemas is for
/// inputs only).
fn answer<T: JsonSchema>() -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.inline_subschemas = true;
    settings.meta_schema = None;
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut v = serde_json::to_value(schema).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("title");
    }
    openapi_formats(&mut v);
    any_is_an_object(&mut v);
    drop_null_defaults(&mut v);
    v
}

/// `default: null` (schemars', for a member read with `#[serde(default)]`)
/// says nothing of an answer, and Swagger 2.0 validators refuse it.
fn drop_null_defaults(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if o.get("default") == Some(&Value::Null) {
                o.remove("default");
            }
            o.values_mut().for_each(drop_null_defaults);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_null_defaults),
        _ => {}
    }
}

/// JSON Schema's `true` (anything, as schemars writes a `serde_json::Value`
/// member) is not a Swagger 2.0 schema: `{}` says the same in both.
fn any_is_an_object(v: &mut Value) {
    if let Value::Object(o) = v {
        for (k, child) in o.iter_mut() {
            match (k.as_str(), child) {
                ("properties", Value::Object(props)) => {
                    for p in props.values_mut() {
                        if *p == Value::Bool(true) {
                            *p = json!({});
                        }
                        any_is_an_object(p);
                    }
                }
                ("items", c @ Value::Bool(true)) => *c = json!({}),
                (_, c) => any_is_an_object(c),
            }
        }
    }
}

/// schemars names Rust's unsigned widths (`uint16`, `uint32`); OpenAPI's
/// registry, and AutoRest, know `int32` and `int64`.
fn openapi_formats(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(f)) = o.get_mut("format") {
                match f.as_str() {
                    "uint8" | "uint16" => *f = "int32".into(),
                    "uint32" | "uint64" => *f = "int64".into(),
                    _ => {}
                }
            }
            o.values_mut().for_each(openapi_formats);
        }
        Value::Array(a) => a.iter_mut().for_each(openapi_formats),
        _ => {}
    }
}

/// A mutation's answer as settlement sends it: the operation's members
/// and the pipeline's own.
fn settled<T: JsonSchema>() -> Value {
    let mut v = answer::<T>();
    v["properties"]["auditId"] = json!({ "type": ["string", "null"],
        "description": "The change's audit record (null when it could not be written)" });
    v["properties"]["notified"] = json!({ "type": "array", "items": { "type": "string" },
        "description": "Whom the out-of-band notice reached (when notify is configured)" });
    v
}

fn any_document() -> Value {
    json!({ "type": "object" })
}

const fn q(name: &'static str, summary: &'static str, description: &'static str) -> Param {
    Param {
        name,
        summary,
        description,
        kind: "string",
        format: None,
        required: false,
    }
}

/// `GET /v1/failures` parameters; [`crate::ops::failures::FailuresQuery::NAMES`] must match.
const FAILURES_QUERY: &[Param] = &[
    q("since", "Since", "RFC 3339 instant or ISO 8601 duration back from now (PT24H, P7D); at most 30 days; default PT24H"),
    q("until", "Until", "RFC 3339 instant or ISO 8601 duration back from now; default now"),
    q("user", "User", "userPrincipalName or object id"),
    q("errorCodes", "Error codes", "comma list of sign-in error codes; default 500121"),
    Param { kind: "integer", format: Some("int32"), ..q("minFailures", "Minimum failures", "users with at least this many failures; default 1") },
    q("format", "Format", "json (default) or csv; Accept: text/csv works too"),
];

/// `GET /v1/diagnose` parameters; [`crate::ops::diagnose::DiagnoseQuery::NAMES`] must match.
const DIAGNOSE_QUERY: &[Param] = &[
    Param {
        required: true,
        ..q("user", "User", "userPrincipalName or object id")
    },
    Param {
        kind: "integer",
        format: Some("int32"),
        ..q("days", "Days", "sign-in history to read, 1..30, default 7")
    },
];

/// `GET /v1/audit` parameters; [`crate::audit::AuditQuery::NAMES`] must match.
const AUDIT_QUERY: &[Param] = &[
    q("since", "Since", "RFC 3339 instant, inclusive"),
    q("until", "Until", "RFC 3339 instant, inclusive"),
    q("user", "User", "userPrincipalName or object id"),
    q("ticket", "Ticket", "exact ticket"),
    q("caller", "Caller", "exact caller id"),
    q("operator", "Operator", "who acted (userPrincipalName or object id), for requests made with a delegated Entra ID token"),
    Param {
        kind: "integer",
        format: Some("int32"),
        ..q("limit", "Limit", "1..1000, default 100")
    },
    q("cursor", "Cursor", "nextCursor of the previous page"),
];

/// `GET /v1/audit/verify` parameters; [`crate::audit::VerifyQuery::NAMES`] must match.
const VERIFY_QUERY: &[Param] = &[
    q("cursor", "Cursor", "nextCursor of the previous answer: the walk goes on from there"),
    q("head", "Head", "hash of a head kept elsewhere (GET /v1/audit/head); ok is false if it is no longer in the chain"),
    Param {
        kind: "integer",
        format: Some("int32"),
        ..q("limit", "Limit", "records to walk in this request, 1..1000000; a request stops within its time budget anyway")
    },
];

const AUDIT_ID: &[Param] = &[q("auditId", "Audit id", "aud_ and 26 base32 characters")];

const ROWS: &[Row] = &[
    Row {
        endpoint: &endpoints::TAP,
        summary: "Issue a Temporary Access Pass",
        description: "Checks the user, their protection and the tenant's TAP policy, then creates a pass. The pass is returned once, with Cache-Control: no-store.", body: Some(body_of::<TapInput>), path_params: &[], query: &[],
        ok_status: 201, ok: settled::<TapAnswer>, csv: false,
        errors: &[ErrorCode::TapPolicyDisabled, ErrorCode::UserNotInTapPolicyScope, ErrorCode::LifetimeOutOfRange, ErrorCode::UsableOnceRequired, ErrorCode::TapExists],
    },
    Row {
        endpoint: &endpoints::RESET,
        summary: "Require re-registration of MFA",
        description: "Removes every removable authentication method (all but the password, or only methodTypes), the default last, revokes sign-in sessions and re-reads the methods. A partial reset is 502 partial_reset; retrying finishes it.", body: Some(body_of::<ResetInput>), path_params: &[], query: &[],
        ok_status: 200, ok: settled::<ResetAnswer>, csv: false,
        errors: &[ErrorCode::PartialReset],
    },
    Row {
        endpoint: &endpoints::PHONE,
        summary: "Add a backup phone method",
        description: "Parses the number against its country's numbering plan and registers it in Graph's +{country code} {number} form.", body: Some(body_of::<PhoneInput>), path_params: &[], query: &[],
        ok_status: 201, ok: settled::<PhoneAnswer>, csv: false,
        errors: &[ErrorCode::InvalidPhoneNumber, ErrorCode::PhoneTypeExists, ErrorCode::MobilePhoneRequired],
    },
    Row {
        endpoint: &endpoints::FAILURES,
        summary: "Who is failing MFA",
        description: "Sign-in failures per user from the sign-in logs (Entra ID P1/P2), sorted by failures, as JSON or CSV.", body: None, path_params: &[], query: FAILURES_QUERY,
        ok_status: 200, ok: answer::<FailuresAnswer>, csv: true,
        errors: &[ErrorCode::PremiumLicenseRequired],
    },
    Row {
        endpoint: &endpoints::FAILURES_REFRESH,
        summary: "Read new sign-in failures into the store",
        description: "For a scheduler: reads the sign-ins the failures store does not have yet (the newest since its watermark, re-reading two hours for late arrivals, then the oldest unread part of the last 30 days) within one request's budget, and says how much of the 30 days is stored. Answers nothing about users.", body: None, path_params: &[], query: &[],
        ok_status: 200, ok: answer::<RefreshAnswer>, csv: false,
        errors: &[ErrorCode::PremiumLicenseRequired],
    },
    Row {
        endpoint: &endpoints::DIAGNOSE,
        summary: "Why is this user locked out?",
        description: "Reads the account, its methods, default method, registration, the TAP policy and the user's passes, recent failed sign-ins and protection in one $batch, and answers findings (blockers first) with the request to send next. A source that cannot be read is listed in unavailable and never fails the call. Reads only.", body: None, path_params: &[], query: DIAGNOSE_QUERY,
        ok_status: 200, ok: answer::<Diagnosis>, csv: false,
        errors: &[ErrorCode::UserNotFound, ErrorCode::GraphUnavailable],
    },
    Row {
        endpoint: &endpoints::AUDIT,
        summary: "List audit records",
        description: "The audit trail, newest first, filtered and paged by cursor.", body: None, path_params: &[], query: AUDIT_QUERY,
        ok_status: 200, ok: answer::<AuditPage>, csv: false, errors: &[],
    },
    Row {
        endpoint: &endpoints::AUDIT_VERIFY,
        summary: "Verify the audit chain",
        description: "Re-walks the hash chain (HMACs under audit_key when it is set) and names the first record that was edited, deleted or inserted. A long chain answers nextCursor: call again with it. With head, also proves that head is still in the chain (catches deleted newest records).", body: None, path_params: &[], query: VERIFY_QUERY,
        ok_status: 200, ok: answer::<VerifyReport>, csv: false, errors: &[],
    },
    Row {
        endpoint: &endpoints::AUDIT_HEAD,
        summary: "Get the signed head of the audit chain",
        description: "The newest record's seq, auditId, hash and time, signed (HMAC-SHA256) under audit_key. Ship it to a SIEM on a schedule; verify?head=<hash> later proves the chain still runs through it.", body: None, path_params: &[], query: &[],
        ok_status: 200, ok: answer::<Head>, csv: false, errors: &[],
    },
    Row {
        endpoint: &endpoints::AUDIT_RECORD,
        summary: "Get one audit record",
        description: "One record by its id.", body: None, path_params: AUDIT_ID, query: &[],
        ok_status: 200, ok: answer::<AuditRecord>, csv: false, errors: &[ErrorCode::AuditRecordNotFound],
    },
    Row {
        endpoint: &endpoints::HEALTHZ, summary: "Liveness",
        description: "Answers without configuration; reveals nothing.", body: None, path_params: &[], query: &[],
        ok_status: 200, ok: answer::<Health>, csv: false, errors: &[],
    },
    Row {
        endpoint: &endpoints::READYZ, summary: "Readiness",
        description: "Configuration, state stores and a Graph token.", body: None, path_params: &[], query: &[],
        ok_status: 200, ok: any_document, csv: false, errors: &[ErrorCode::Misconfigured, ErrorCode::GraphAuthFailed],
    },
    Row {
        endpoint: &endpoints::OPENAPI, summary: "This API as OpenAPI 3.1",
        description: "The OpenAPI 3.1 description of this API.", body: None, path_params: &[], query: &[],
        ok_status: 200, ok: any_document, csv: false, errors: &[],
    },
    Row {
        endpoint: &endpoints::SWAGGER, summary: "This API as Swagger 2.0",
        description: "The Swagger 2.0 description, for a Power Automate custom connector.", body: None, path_params: &[], query: &[],
        ok_status: 200, ok: any_document, csv: false, errors: &[],
    },
];

fn problem_schema() -> Value {
    json!({ "type": "object", "required": ["type", "title", "status", "code"], "properties": {
        "type": { "type": "string" }, "title": { "type": "string" }, "status": { "type": "integer" },
        "detail": { "type": "string" }, "code": { "type": "string" },
        "field": { "type": "string" }, "auditId": { "type": "string" },
        "graphErrorCode": { "type": "string" }, "graphRequestId": { "type": "string" },
        "changed": { "type": "string" } } })
}

/// An absent member and `null` mean the same to the handlers; the
/// documents say "optional" once instead of `type: [T, "null"]` or an
/// `anyOf` with a null branch.
fn drop_null(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if let Some(Value::Array(types)) = o.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let t = types.remove(0);
                    o.insert("type".into(), t);
                }
            }
            if let Some(Value::Array(any)) = o.get("anyOf") {
                let kept: Vec<Value> = any
                    .iter()
                    .filter(|b| b.get("type") != Some(&json!("null")))
                    .cloned()
                    .collect();
                if kept.len() == 1 && any.len() == 2 {
                    o.remove("anyOf");
                    if let Value::Object(k) = &kept[0] {
                        o.extend(k.clone());
                    }
                }
            }
            o.values_mut().for_each(drop_null);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_null),
        _ => {}
    }
}

/// Swagger 2.0 schemas are an older JSON Schema: `examples` becomes
/// `example`, `const` an `enum`, a `$ref` stands alone, `[T, "null"]` is
/// `T` with `x-nullable` (AutoRest's, which Power Automate reads).
fn downgrade(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if let Some(Value::Array(types)) = o.get("type").cloned() {
                let kept: Vec<Value> = types.into_iter().filter(|t| t != "null").collect();
                if let [one] = kept.as_slice() {
                    o.insert("type".into(), one.clone());
                    o.insert("x-nullable".into(), Value::Bool(true));
                }
            }
            if let Some(Value::Array(ex)) = o.remove("examples") {
                if let Some(first) = ex.into_iter().next() {
                    o.insert("example".into(), first);
                }
            }
            if let Some(c) = o.remove("const") {
                o.insert("enum".into(), json!([c]));
            }
            o.remove("$schema");
            if let Some(r) = o.get("$ref").cloned() {
                o.clear();
                o.insert("$ref".into(), r);
            }
            o.values_mut().for_each(downgrade);
        }
        Value::Array(a) => a.iter_mut().for_each(downgrade),
        _ => {}
    }
}

fn refs(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::OpenApi31 => "#/components/schemas/",
        Flavor::Swagger2 => "#/definitions/",
    }
}

fn param(flavor: Flavor, p: &Param, location: &str, required: bool) -> Value {
    let mut v = json!({ "name": p.name, "in": location, "required": required,
        "description": p.description, "x-ms-summary": p.summary });
    let mut schema = json!({ "type": p.kind });
    if let Some(f) = p.format {
        schema["format"] = json!(f);
    }
    match flavor {
        Flavor::OpenApi31 => v["schema"] = schema,
        Flavor::Swagger2 => {
            if let Value::Object(s) = schema {
                v.as_object_mut().expect("object").extend(s);
            }
        }
    }
    v
}

fn responses(flavor: Flavor, op: &Row) -> Value {
    let problem = json!({ "$ref": format!("{}Problem", refs(flavor)) });
    let mut out = Map::new();
    let ok = (op.ok)();
    out.insert(
        op.ok_status.to_string(),
        match flavor {
            Flavor::OpenApi31 => {
                let mut content = json!({ "application/json": { "schema": ok } });
                if op.csv {
                    content["text/csv"] = json!({ "schema": { "type": "string" } });
                }
                json!({ "description": op.summary, "content": content })
            }
            Flavor::Swagger2 => json!({ "description": op.summary, "schema": ok }),
        },
    );
    let mut codes: Vec<ErrorCode> = op.errors.to_vec();
    if op.endpoint.access != Access::Anonymous {
        let shared: &[ErrorCode] = match op.endpoint.access {
            Access::KeyOrWebhook(_) => GUARDS,
            _ => &[
                ErrorCode::InvalidRequest,
                ErrorCode::UnknownField,
                ErrorCode::Unauthorized,
                ErrorCode::InsufficientScope,
                ErrorCode::RateLimited,
                ErrorCode::Misconfigured,
                ErrorCode::StorageUnavailable,
            ],
        };
        codes.extend_from_slice(shared);
        if matches!(
            op.endpoint.access,
            Access::Key(Scope::FailuresRead | Scope::Diagnose)
        ) {
            codes.extend([
                ErrorCode::InvalidUser,
                ErrorCode::GraphError,
                ErrorCode::GraphThrottled,
                ErrorCode::GraphAuthFailed,
            ]);
        }
    }
    codes.push(ErrorCode::MethodNotAllowed);
    let mut by_status: std::collections::BTreeMap<u16, Vec<&'static str>> = Default::default();
    for c in codes {
        let list = by_status.entry(c.status().as_u16()).or_default();
        if !list.contains(&c.as_str()) {
            list.push(c.as_str());
        }
    }
    for (status, list) in by_status {
        let description = format!("problem+json; code: {}", list.join(", "));
        out.insert(
            status.to_string(),
            match flavor {
                Flavor::OpenApi31 => json!({ "description": description,
                    "content": { "application/problem+json": { "schema": problem } } }),
                Flavor::Swagger2 => json!({ "description": description, "schema": problem }),
            },
        );
    }
    Value::Object(out)
}

fn operation(flavor: Flavor, op: &Row, g: &mut SchemaGenerator) -> Value {
    let mut v = json!({ "operationId": op.endpoint.id, "summary": op.summary, "description": op.description });
    let mut params: Vec<Value> = op
        .path_params
        .iter()
        .map(|p| param(flavor, p, "path", true))
        .chain(
            op.query
                .iter()
                .map(|p| param(flavor, p, "query", p.required)),
        )
        .collect();
    if let Some(body) = op.body {
        let schema = serde_json::to_value(body(g)).unwrap_or(Value::Null);
        match flavor {
            Flavor::OpenApi31 => {
                v["requestBody"] = json!({ "required": true,
                    "content": { "application/json": { "schema": schema } } });
            }
            Flavor::Swagger2 => params
                .push(json!({ "name": "body", "in": "body", "required": true,
                "x-ms-summary": "Request", "schema": schema })),
        }
        params.push(match flavor {
            Flavor::OpenApi31 => json!({ "name": "Idempotency-Key", "in": "header", "required": false,
                "description": "1..255 printable ASCII: a retry with the same key replays the outcome",
                "schema": { "type": "string" } }),
            Flavor::Swagger2 => json!({ "name": "Idempotency-Key", "in": "header", "required": false,
                "description": "1..255 printable ASCII: a retry with the same key replays the outcome",
                "x-ms-summary": "Idempotency key", "type": "string" }),
        });
    }
    if !params.is_empty() {
        v["parameters"] = Value::Array(params);
    }
    v["responses"] = responses(flavor, op);
    let (key, entra, hook) = match flavor {
        Flavor::OpenApi31 => ("bearerAuth", "entraId", "webhookSignature"),
        Flavor::Swagger2 => ("api_key", "oauth2_auth", "webhook_signature"),
    };
    match op.endpoint.access {
        Access::Anonymous => v["security"] = json!([]),
        Access::Key(scope) => {
            v["security"] = json!([{ key: [] }, { entra: [] }]);
            v["x-scope"] = json!(scope.as_str());
        }
        Access::KeyOrWebhook(scope) => {
            v["security"] = json!([{ key: [] }, { entra: [] }, { hook: [] }]);
            v["x-scope"] = json!(scope.as_str());
        }
    }
    if flavor == Flavor::Swagger2 && op.csv {
        v["produces"] = json!(["application/json", "text/csv", "application/problem+json"]);
    }
    v
}

/// The document; `host` (the request's `Host`) fills Swagger's `host`.
pub fn document(flavor: Flavor, host: Option<&str>) -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = refs(flavor).into();
    settings.meta_schema = None;
    let mut g = settings.into_generator();

    let mut paths = Map::new();
    for op in ROWS {
        let item = paths.entry(op.endpoint.path).or_insert_with(|| json!({}));
        item[op.endpoint.method.as_str().to_ascii_lowercase()] = operation(flavor, op, &mut g);
    }
    let mut schemas: Map<String, Value> = g.take_definitions(true).into_iter().collect();
    // Inputs: absent and `null` mean the same to the handlers.
    schemas.values_mut().for_each(drop_null);
    schemas.insert("Problem".into(), problem_schema());
    let info = json!({ "title": "mfa-recovery", "version": env!("CARGO_PKG_VERSION"),
        "description": "Get users locked out of MFA in Microsoft Entra ID back in, safely: Temporary Access Passes, MFA resets, backup phones, failure reports and a tamper-evident audit trail." });
    let key_help = "Authorization: Bearer <api key> (configured hashed in the callers variable)";
    let entra_help = "Authorization: Bearer <Entra ID access token> for the entra_audience app; its app roles (Tap, Reset, Phone, Failures.Read, Diagnose, Audit.Read, Privileged) are the scopes";
    let hook_help = "Standard Webhooks: webhook-id, webhook-timestamp and webhook-signature (v1,<base64 HMAC-SHA256>)";
    let mut doc = match flavor {
        Flavor::OpenApi31 => json!({
            "openapi": "3.1.0", "info": info, "servers": [{ "url": "/" }],
            "paths": paths,
            "components": { "schemas": schemas, "securitySchemes": {
                "bearerAuth": { "type": "http", "scheme": "bearer", "description": key_help },
                "entraId": { "type": "oauth2", "description": entra_help, "flows": {
                    "clientCredentials": { "tokenUrl": "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token", "scopes": {} },
                    "authorizationCode": { "authorizationUrl": "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
                        "tokenUrl": "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token", "scopes": {} } } },
                "webhookSignature": { "type": "apiKey", "in": "header", "name": "webhook-signature", "description": hook_help } } },
        }),
        Flavor::Swagger2 => json!({
            "swagger": "2.0", "info": info,
            "host": host.filter(|h| valid_host(h)).unwrap_or(DEFAULT_HOST),
            "basePath": "/", "schemes": ["https"],
            "consumes": ["application/json"], "produces": ["application/json", "application/problem+json"],
            "paths": paths, "definitions": schemas,
            "securityDefinitions": {
                "api_key": { "type": "apiKey", "in": "header", "name": "Authorization", "description": key_help },
                // Power Automate's "Azure Active Directory" identity provider.
                "oauth2_auth": { "type": "oauth2", "flow": "accessCode", "description": entra_help,
                    "authorizationUrl": "https://login.microsoftonline.com/common/oauth2/authorize",
                    "tokenUrl": "https://login.windows.net/common/oauth2/authorize", "scopes": {} },
                "webhook_signature": { "type": "apiKey", "in": "header", "name": "webhook-signature", "description": hook_help } },
        }),
    };
    if flavor == Flavor::Swagger2 {
        downgrade(&mut doc);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bodies_are_the_input_types() {
        let doc = document(Flavor::OpenApi31, None);
        let tap = &doc["components"]["schemas"]["TapInput"];
        assert_eq!(tap["additionalProperties"], false);
        assert_eq!(tap["required"], json!(["user"]));
        for p in [
            "user",
            "lifetimeInMinutes",
            "isUsableOnce",
            "startDateTime",
            "replaceExisting",
            "ticket",
            "reason",
            "verification",
        ] {
            assert!(tap["properties"].get(p).is_some(), "{p}");
        }
        let reset = &doc["components"]["schemas"]["ResetInput"]["properties"];
        assert!(reset["methodTypes"]["items"]["$ref"]
            .as_str()
            .unwrap()
            .ends_with("MethodType"));
        let phone = &doc["components"]["schemas"]["PhoneInput"];
        assert_eq!(phone["required"], json!(["user", "phoneNumber"]));
        let s = document(Flavor::Swagger2, Some("helpdesk.contoso.com"));
        assert_eq!(s["host"], "helpdesk.contoso.com");
        assert!(s["definitions"]["TapInput"].is_object());
        let body = &s["paths"]["/v1/tap"]["post"]["parameters"][0];
        assert_eq!(body["in"], "body");
        assert_eq!(body["schema"]["$ref"], "#/definitions/TapInput");
        assert!(!s.to_string().contains("\"examples\""));
        assert_eq!(
            document(Flavor::Swagger2, Some("bad host/\"x"))["host"],
            "mfa-recovery.example.com"
        );
    }

    #[test]
    fn every_endpoint_is_documented_once() {
        let documented: Vec<&str> = ROWS.iter().map(|r| r.endpoint.id).collect();
        let all: Vec<&str> = endpoints::ALL.iter().map(|e| e.id).collect();
        assert_eq!(documented, all);
    }

    #[test]
    fn query_parameters_are_what_the_parsers_accept() {
        let names = |ps: &[Param]| ps.iter().map(|p| p.name).collect::<Vec<_>>();
        assert_eq!(
            names(FAILURES_QUERY),
            crate::ops::failures::FailuresQuery::NAMES
        );
        assert_eq!(names(AUDIT_QUERY), crate::audit::AuditQuery::NAMES);
        assert_eq!(names(VERIFY_QUERY), crate::audit::VerifyQuery::NAMES);
        assert_eq!(
            names(DIAGNOSE_QUERY),
            crate::ops::diagnose::DiagnoseQuery::NAMES
        );
    }

    #[test]
    fn every_operation_has_an_id_a_scope_and_its_errors() {
        let doc = document(Flavor::Swagger2, None);
        let mut ids = std::collections::HashSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                assert!(
                    ids.insert(op["operationId"].as_str().unwrap().to_string()),
                    "{path}"
                );
                if path.starts_with("/v1/") && !path.ends_with(".json") {
                    assert!(
                        op["responses"]["401"]["description"]
                            .as_str()
                            .unwrap()
                            .contains("unauthorized"),
                        "{method} {path}"
                    );
                    assert!(op["x-scope"].is_string(), "{path}");
                }
            }
        }
        assert!(
            doc["paths"]["/v1/reset"]["post"]["responses"]["502"]["description"]
                .as_str()
                .unwrap()
                .contains("partial_reset")
        );
    }
}

/// The committed and the served documents are the generator's output.
#[cfg(test)]
mod committed {
    use super::{document, Flavor};
    use crate::api::documents::{openapi, swagger, swagger_default};

    const UPDATE: &str = "UPDATE_CONNECTOR";

    fn root() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// The committed documents are what the generator writes today.
    #[test]
    fn the_committed_documents_are_current() {
        for (file, flavor) in [
            ("src/core/openapi/openapi.json", Flavor::OpenApi31),
            ("connector/apiDefinition.swagger.json", Flavor::Swagger2),
        ] {
            let path = root().join(file);
            let generated = serde_json::to_string_pretty(&document(flavor, None)).unwrap() + "\n";
            if std::env::var_os(UPDATE).is_some() {
                std::fs::write(&path, &generated).unwrap();
            }
            let stored = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                stored == generated,
                "{file} is stale: run UPDATE_CONNECTOR=1 cargo test -p mfa-core openapi"
            );
        }
    }

    /// What `meta` serves is the generated document, byte for byte, as
    /// `serde_json::to_vec` of it was served before it was embedded.
    #[test]
    fn the_served_documents_are_the_generated_ones() {
        if std::env::var_os(UPDATE).is_some() {
            return; // the files were just rewritten; the next build embeds them
        }
        let compact = |d: serde_json::Value| serde_json::to_string(&d).unwrap();
        assert_eq!(openapi(), compact(document(Flavor::OpenApi31, None)));
        assert_eq!(swagger(None), compact(document(Flavor::Swagger2, None)));
        for host in ["helpdesk.contoso.com", "127.0.0.1:3000", "[::1]:8080"] {
            assert_eq!(
                swagger(Some(host)),
                compact(document(Flavor::Swagger2, Some(host))),
                "{host}"
            );
        }
        for bad in ["", "bad host/\"x", "a\\b"] {
            assert_eq!(swagger(Some(bad)), swagger(None), "{bad:?}");
        }
        assert_eq!(swagger_default().matches("\"host\":").count(), 1);
    }
}
