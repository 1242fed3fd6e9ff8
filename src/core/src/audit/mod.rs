//! The tamper-evident audit trail in the Spin SQLite database (API.md
//! "GET /v1/audit — the audit trail"): every mutation, refused or done,
//! appends one record; records are never changed; each record's `hash`
//! covers its predecessor's, so an edited or deleted record is detectable.
//!
//! API:
//! - [`append`]`(db, clock, entropy, keying, AuditEntry) -> AuditRecord`: redacts,
//!   links and stores one record inside `BEGIN IMMEDIATE`, retrying on
//!   contention; creates the schema on first use.
//! - [`get`]`(db, audit_id) -> Option<AuditRecord>`: `GET /v1/audit/{auditId}`.
//! - [`list`]`(db, &AuditQuery) -> AuditPage`: `GET /v1/audit`, newest first;
//!   [`AuditQuery::from_query`] parses the query string.
//! - [`verify`]`(db, clock, keying, &VerifyQuery) -> VerifyReport`:
//!   `GET /v1/audit/verify`, within a budget, resumable by cursor.
//! - [`head`]`(db, keying) -> Head`: `GET /v1/audit/head`, signed.
//!
//! With `audit_key` set every hash is an HMAC under it ([`Keying`]).
//!
//! The hash rule, with a Python check an auditor can run, is in
//! [`canonical`]. The record shape is in [`record`].

mod append;
pub mod canonical;
mod error;
mod head;
mod id;
mod keying;
mod query;
pub mod record;
mod redact;
mod row;
mod trail;
mod verify;

#[cfg(test)]
mod fixtures;

pub use append::append;
pub use canonical::{canonical_json, chain_hash, Keying, GENESIS};
pub use error::AuditError;
pub use head::{head, Head};
pub use id::looks_like_audit_id;
pub use query::{get, list, AuditPage, AuditQuery, DEFAULT_LIMIT, MAX_LIMIT};
pub use record::{AuditEntry, AuditRecord, Outcome};
pub use redact::REDACTED;
pub use trail::{Trail, Unfinished};
pub use verify::{verify, HeadCheck, VerifyQuery, VerifyReport};
