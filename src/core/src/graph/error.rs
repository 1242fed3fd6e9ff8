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
}

impl GraphError {
    pub fn to_problem(&self) -> Problem {
        match self {
            GraphError::TokenRefused { error, aadsts, .. } => Problem::new(
                ErrorCode::GraphAuthFailed,
                format!(
                    "the tenant refused this app's credentials ({error}, AADSTS{aadsts}): \
                     check tenant_id, client_id and client_secret"
                ),
            )
            .with("graphErrorCode", format!("AADSTS{aadsts}")),
            GraphError::TokenMalformed { .. } => {
                Problem::new(ErrorCode::GraphAuthFailed, self.to_string())
            }
            GraphError::Unreachable(_) => {
                Problem::new(ErrorCode::GraphUnavailable, self.to_string())
            }
            GraphError::Store(_) => Problem::new(ErrorCode::StorageUnavailable, self.to_string()),
        }
    }
}
