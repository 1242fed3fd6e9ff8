//! Durable state the service owns: the SQLite schema and the key-value layout.

pub mod create_once;
pub mod failures;
pub mod idempotency;
pub mod installation;
pub mod schema;
pub mod sealed;
