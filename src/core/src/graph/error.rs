//! What can go wrong talking to Graph or its login endpoint, and its one
//! mapping to the contract's problem+json.

use crate::api::{ErrorCode, Problem};
use crate::ports::{HostError, TransportError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// The login endpoint refused the app's credentials (FACTS §1). Carries
    /// the OAuth `error` and the AADSTS number, never the description (it
    /// may quote the request).
    #[error("the login endpoint refused the app's credentials ({error}, AADSTS{aadsts})")]
    TokenRefused {
        status: u16,
        error: String,
        aadsts: u32,
    },
    /// The token endpoint answered something that is not a token.
    #[error("the login endpoint answered HTTP {status} without a usable token")]
    TokenMalformed { status: u16 },
    #[error("Graph or its login endpoint could not be reached: {0}")]
    Unreachable(#[from] TransportError),
    #[error("state store: {0}")]
    Store(#[from] HostError),
    /// Graph answered an error status.
    #[error("Graph answered HTTP {status} ({code:?})")]
    Status {
        status: u16,
        code: Option<String>,
        request_id: Option<String>,
    },
    /// Still throttled when the request's time budget ran out.
    #[error("Graph is throttling; retry after {retry_after_secs} s")]
    Throttled {
        retry_after_secs: u64,
        request_id: Option<String>,
    },
    #[error("Graph answered an unexpected {0}")]
    Malformed(String),
    /// A write that is not idempotent got no clear answer (503, 504, or a
    /// lost connection): it may or may not have taken effect.
    #[error("Graph gave no clear answer to a write ({})", match (status, transport) {
        (Some(s), _) => format!("HTTP {s}"),
        (None, Some(t)) => t.to_string(),
        (None, None) => "no answer".into(),
    })]
    Ambiguous {
        status: Option<u16>,
        request_id: Option<String>,
        transport: Option<TransportError>,
    },
    /// Graph refused a read (403) for want of an application permission.
    #[error("the app registration lacks the Graph permission {permission}")]
    PermissionMissing {
        permission: &'static str,
        request_id: Option<String>,
    },
    /// A collection had more pages than the guard reads: what it would
    /// decide from part of it is a guess, so it decides nothing.
    #[error("{0} has more than {max} pages", max = super::client::MAX_PAGES)]
    TooManyPages(&'static str),
    #[error("a Graph URL could not be built")]
    BadUrl,
}

impl From<&GraphError> for Problem {
    fn from(e: &GraphError) -> Problem {
        match e {
            GraphError::TokenRefused { error, aadsts, .. } => Problem::new(
                ErrorCode::GraphAuthFailed,
                format!(
                    "the tenant refused this app's credentials ({error}, AADSTS{aadsts}): \
                     check tenant_id, client_id and client_secret"
                ),
            )
            .with("graphErrorCode", format!("AADSTS{aadsts}")),
            GraphError::TokenMalformed { .. } => {
                Problem::new(ErrorCode::GraphAuthFailed, e.to_string())
            }
            GraphError::Unreachable(_) => Problem::new(ErrorCode::GraphUnavailable, e.to_string()),
            GraphError::Ambiguous {
                status, request_id, ..
            } => {
                let mut p = Problem::new(ErrorCode::GraphUnavailable, e.to_string());
                if let Some(s) = status {
                    p = p.with("graphStatus", *s);
                }
                if let Some(r) = request_id {
                    p = p.with("graphRequestId", r.clone());
                }
                p
            }
            GraphError::Store(_) => Problem::new(ErrorCode::StorageUnavailable, e.to_string()),
            GraphError::Status {
                status,
                code,
                request_id,
            } => {
                let mut p = Problem::new(
                    ErrorCode::GraphError,
                    format!("Microsoft Graph answered HTTP {status}"),
                )
                .with("graphStatus", *status);
                if let Some(c) = code {
                    p = p.with("graphErrorCode", c.clone());
                }
                if let Some(r) = request_id {
                    p = p.with("graphRequestId", r.clone());
                }
                p
            }
            GraphError::Throttled {
                retry_after_secs,
                request_id,
            } => {
                let mut p = Problem::new(
                    ErrorCode::GraphThrottled,
                    format!(
                        "Microsoft Graph is throttling this app; retry after {retry_after_secs} s"
                    ),
                )
                .with("graphErrorCode", "TooManyRequests")
                .header(http::header::RETRY_AFTER, retry_after_secs.to_string());
                if let Some(r) = request_id {
                    p = p.with("graphRequestId", r.clone());
                }
                p
            }
            GraphError::PermissionMissing {
                permission,
                request_id,
            } => {
                let mut p = Problem::new(
                    ErrorCode::PermissionMissing,
                    format!(
                        "Graph refused a read this operation needs: grant the app registration the \
                         application permission {permission} (with admin consent); nothing was changed"
                    ),
                )
                .with("permission", *permission)
                .with("graphErrorCode", "Authorization_RequestDenied");
                if let Some(r) = request_id {
                    p = p.with("graphRequestId", r.clone());
                }
                p
            }
            GraphError::TooManyPages(what) => Problem::new(
                ErrorCode::ProtectionUnverified,
                format!(
                    "{what} has more than {} pages: whether the user is protected cannot be \
                     established, so nothing was changed",
                    super::client::MAX_PAGES
                ),
            ),
            GraphError::Malformed(_) | GraphError::BadUrl => {
                Problem::new(ErrorCode::GraphError, e.to_string())
            }
        }
    }
}

impl From<GraphError> for Problem {
    fn from(e: GraphError) -> Problem {
        Problem::from(&e)
    }
}
