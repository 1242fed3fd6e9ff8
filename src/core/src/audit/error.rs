//! What can go wrong reading or writing the audit trail, and the contract
//! code each becomes at the edge.

use crate::api::{ErrorCode, Problem};
use crate::ports::HostError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// The database refused or failed a statement. The message is the
    /// host's (SQLite's): column names, never stored values.
    #[error("audit store: {0}")]
    Store(#[from] HostError),
    /// Other instances kept winning the race for the chain's head.
    #[error("the audit chain stayed contended after {0} attempts")]
    Contended(u32),
    /// A `GET /v1/audit` query parameter is malformed; names it.
    #[error("`{field}` {reason}")]
    InvalidQuery { field: &'static str, reason: String },
    /// A stored row no longer reads as a record (edited outside SQL);
    /// `verify` reports where the chain breaks.
    #[error("audit record {audit_id} is unreadable: {what}")]
    Corrupt { audit_id: String, what: String },
}

impl AuditError {
    /// The problem+json `code` (API.md "Responses and errors"): bad input is
    /// 4xx, a store problem 503, a corrupt row 500.
    pub fn code(&self) -> ErrorCode {
        match self {
            AuditError::Store(_) | AuditError::Contended(_) => ErrorCode::StorageUnavailable,
            AuditError::InvalidQuery { .. } => ErrorCode::InvalidRequest,
            AuditError::Corrupt { .. } => ErrorCode::Internal,
        }
    }
}

/// The one mapping to problem+json: a bad query names its field.
impl From<AuditError> for Problem {
    fn from(e: AuditError) -> Problem {
        let p = Problem::new(e.code(), e.to_string());
        match e {
            AuditError::InvalidQuery { field, .. } => p.with("field", field),
            _ => p,
        }
    }
}
