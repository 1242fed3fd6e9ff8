//! mfa-core: everything the mfa-recovery components do, without knowing Spin.
//!
//! A request flows `service::handle` -> parse (`api`) -> authorize -> act
//! (`ops`) -> respond (`api::problem` for errors). The edge crate provides the
//! [`ports`] (variables, key-value, SQLite, outbound HTTP, clock) over Spin;
//! tests provide them in memory.
//!
//! Modules:
//! - [`config`]: the Spin application variables of API.md, parsed and typed.
//! - [`api`]: contract-level pieces shared by every operation (error codes,
//!   problem+json, request ids, responses).
//! - [`ops`]: one module per operation.
//! - [`ports`]: what the host provides.
//! - [`service`]: the routes and the single entry point.
//! - `openapi` (feature `openapi`, native only): the OpenAPI and Swagger
//!   generator, which reads every operation's types.

pub mod api;
pub mod audit;
pub mod auth;
pub mod config;
pub mod graph;
pub mod notify;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod ops;
pub mod ports;
pub mod service;
pub mod store;
pub mod timing;
pub mod types;

#[cfg(test)]
pub(crate) mod testing;

// Parses every request body, the phone operation's too.
#[cfg(all(test, feature = "phone"))]
mod hostile;
