//! `GET /v1/audit`, `GET /v1/audit/{auditId}`, `GET /v1/audit/verify`,
//! `GET /v1/audit/head` (API.md): the trail, read with the `audit:read`
//! scope. Filters, paging
//! and the chain walk live in [`crate::audit`]; this is the HTTP side.

use http::StatusCode;

use super::access;
use crate::api::endpoints;
use crate::api::request::Request;
use crate::api::response::{self, Response};
use crate::api::{ErrorCode, Problem};
use crate::audit::{self, AuditQuery, Keying, VerifyQuery};
use crate::ports::Host;

/// The route prefix: `/v1/audit` and everything under it.
pub const PATH: &str = "/v1/audit";

pub async fn serve(req: &Request, host: &Host<'_>) -> Result<Response, Problem> {
    let (config, _) = access::admit_read(host, req, &endpoints::AUDIT).await?;
    // Readers join tables a newer schema added: bring it up to date first
    // (one SELECT when it is).
    crate::store::schema::migrate(host.db, &crate::types::rfc3339(host.clock.now()))
        .map_err(|e| Problem::new(ErrorCode::StorageUnavailable, format!("database: {e}")))?;
    let keying = Keying::from_key(config.audit_key.as_ref().map(|k| k.expose().as_slice()));
    let rest = req.uri().path()[PATH.len()..].trim_end_matches('/');
    let raw_query = req.uri().query().unwrap_or("");
    let body = match rest {
        "" => {
            let query = AuditQuery::from_query(raw_query)?;
            serde_json::to_value(audit::list(host.db, &query)?)
        }
        "/verify" => {
            // Records chained before a rotation are held to their own key.
            let previous: Vec<&[u8]> = config
                .audit_previous_keys
                .iter()
                .map(|k| k.expose().as_slice())
                .collect();
            let query = VerifyQuery::from_query(raw_query)?;
            serde_json::to_value(audit::verify(
                host.db, host.clock, keying, &previous, &query,
            )?)
        }
        "/head" => serde_json::to_value(audit::head(host.db, keying)?),
        id => {
            let id = id.trim_start_matches('/');
            let record = audit::looks_like_audit_id(id)
                .then(|| audit::get(host.db, id))
                .transpose()?
                .flatten()
                .ok_or_else(|| {
                    Problem::new(
                        ErrorCode::AuditRecordNotFound,
                        "no audit record with that id".to_string(),
                    )
                })?;
            serde_json::to_value(record)
        }
    }
    .map_err(|_| Problem::new(ErrorCode::Internal, "the answer could not be encoded"))?;
    Ok(response::json(StatusCode::OK, &body))
}
