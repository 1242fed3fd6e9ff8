//! `GET /healthz` (liveness: reveals nothing) and `GET /readyz` (readiness:
//! configuration parses, key-value store and database answer, and the tenant
//! grants this app a token — from the cache when one is fresh, so a probe
//! every few seconds costs the login endpoint nothing).

use http::StatusCode;
use serde_json::json;

use crate::api::request::Request;
use crate::api::response::{self, Response};
use crate::api::{ErrorCode, Problem};
use crate::auth;
use crate::auth::webhook::Destination;
use crate::config::Config;
use crate::graph::client::DEFAULT_BUDGET;
use crate::graph::licences::Licences;
use crate::graph::permissions::{self, Need};
use crate::graph::token;
use crate::ports::Host;
use crate::store::sealed::Sealed;
use crate::store::{installation, schema};
use crate::types::rfc3339;
use crate::types::Scope;

/// Liveness: answers as long as the component runs. No tenant, no config.
/// `200` of `GET /healthz`: `{ "status": "ok" }`, and nothing else.
#[derive(serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Health {
    pub status: &'static str,
}

pub fn healthz() -> Response {
    response::json(StatusCode::OK, &Health { status: "ok" })
}

/// Readiness: everything a mutating operation needs is in place. Names a bad
/// variable (never its value) with `500 misconfigured`. What the app
/// registration can do (granted permissions per operation, licences) is
/// shown only to a caller holding `audit:read`; anonymous probes get the
/// status alone. A missing permission does not make the app unready: that
/// operation answers `500 permission_missing` itself.
pub async fn readyz(req: &Request, host: &Host<'_>) -> Result<Response, Problem> {
    let config = Config::load(host.variables)?;
    // A probe without credentials is welcome; wrong credentials are not.
    let viewer = match req.headers().contains_key(http::header::AUTHORIZATION) {
        false => None,
        true => Some(
            auth::authenticate(
                &config,
                req.headers(),
                &[],
                Destination::Read("readyz"),
                host,
            )
            .await
            .map_err(|e| {
                auth::refusals::count(host.kv, crate::types::unix_secs(host.clock.now()));
                Problem::from(&e)
            })?,
        ),
    };
    let now = rfc3339(host.clock.now());
    let install = installation::ensure(host.kv, host.entropy, &now).map_err(|e| {
        Problem::new(
            ErrorCode::StorageUnavailable,
            format!("key-value store: {e}"),
        )
    })?;
    let version = schema::migrate(host.db, &now)
        .map_err(|e| Problem::new(ErrorCode::StorageUnavailable, format!("database: {e}")))?;
    let token = token::app_token(&config, host, DEFAULT_BUDGET)
        .await
        .map_err(Problem::from)?;
    if !viewer.is_some_and(|c| c.has(Scope::AuditRead)) {
        return Ok(response::json(
            StatusCode::OK,
            &json!({ "status": "ready" }),
        ));
    }
    let migrated_at = schema::applied_at(host.db, version).ok().flatten();
    let trail = crate::audit::Trail::new(host, &config);
    let licences = Licences::load(
        &Sealed::new(host, &config),
        crate::types::unix_secs(host.clock.now()),
    );
    // `extend`, not `collect`: the same map without a sort first (4 KB).
    let mut operations = serde_json::Map::new();
    operations.extend(Need::ALL.iter().map(|n| {
        let line = match &token.granted {
            Some(g) => json!(permissions::readiness(*n, g, licences.p2)),
            None => json!("unknown"),
        };
        (n.as_str().to_string(), line)
    }));
    Ok(response::json(
        StatusCode::OK,
        &json!({
            "status": "ready",
            "installation": install,
            "schema": { "version": version, "migratedAt": migrated_at },
            "graph": { "token": "ok", "cached": token.cached },
            "permissions": { "granted": token.granted, "operations": operations },
            "licences": licences,
            // Requests refused before a caller was known: counted here,
            // never chained into the audit trail.
            "refusedAnonymous": auth::refusals::recent(host.kv, crate::types::unix_secs(host.clock.now())),
            "audit": {
                "keyed": trail.keying().is_keyed(),
                // Attempts older than any request could run: the instance
                // died before their end was recorded.
                "unfinished": trail.unfinished(2 * DEFAULT_BUDGET).unwrap_or_default(),
            },
        }),
    ))
}
