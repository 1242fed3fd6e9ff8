//! `GET /healthz` (liveness: reveals nothing) and `GET /readyz` (readiness:
//! configuration parses, key-value store and database answer, and the tenant
//! grants this app a token — from the cache when one is fresh, so a probe
//! every few seconds costs the login endpoint nothing).

use http::StatusCode;
use serde_json::json;

use crate::api::response::{self, Response};
use crate::api::{ErrorCode, Problem};
use crate::config::Config;
use crate::graph::client::DEFAULT_BUDGET;
use crate::graph::token;
use crate::ports::Host;
use crate::store::{installation, schema};
use crate::types::rfc3339;

/// Liveness: answers as long as the component runs. No tenant, no config.
pub fn healthz() -> Response {
    response::json(StatusCode::OK, &json!({ "status": "ok" }))
}

/// Readiness: everything a mutating operation needs is in place. Names a bad
/// variable (never its value) with `500 misconfigured`.
pub async fn readyz(host: &Host<'_>) -> Result<Response, Problem> {
    let config = Config::load(host.variables).map_err(misconfigured)?;
    let now = rfc3339(host.clock.now());
    let install = installation::ensure(host.kv, host.entropy, &now).map_err(|e| {
        Problem::new(
            ErrorCode::StorageUnavailable,
            format!("key-value store: {e}"),
        )
    })?;
    let version = schema::migrate(host.db, &now)
        .map_err(|e| Problem::new(ErrorCode::StorageUnavailable, format!("database: {e}")))?;
    let migrated_at = schema::applied_at(host.db, version).ok().flatten();
    let token = token::app_token(&config, host, DEFAULT_BUDGET)
        .await
        .map_err(|e| e.to_problem())?;
    Ok(response::json(
        StatusCode::OK,
        &json!({
            "status": "ready",
            "installation": install,
            "schema": { "version": version, "migratedAt": migrated_at },
            "graph": { "token": "ok", "cached": token.cached },
        }),
    ))
}

/// The one mapping of a configuration error to the contract.
pub fn misconfigured(e: crate::config::ConfigError) -> Problem {
    Problem::new(ErrorCode::Misconfigured, e.to_string()).with("variable", e.variable().name())
}
