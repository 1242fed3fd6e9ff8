//! What the host provides. The edge implements these over Spin; tests
//! implement them in memory. Core code reaches the outside world only here.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

/// A host call failed (store unavailable, permission missing in the manifest).
/// Carries the host's message, which never contains stored values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HostError(pub String);

/// Spin application variables.
pub trait Variables {
    /// `Ok(None)` when the variable is not set or not declared.
    fn get(&self, name: &str) -> Result<Option<String>, HostError>;
}

impl Variables for HashMap<String, String> {
    fn get(&self, name: &str) -> Result<Option<String>, HostError> {
        Ok(HashMap::get(self, name).cloned())
    }
}

/// The key-value store: token cache, idempotency records, rate limits.
pub trait KeyValue {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), HostError>;
    fn delete(&self, key: &str) -> Result<(), HostError>;
    /// Atomically replaces the value only if it still equals `expected`
    /// (`None`: only if absent). `Ok(false)` when another writer got there
    /// first. This is the only way to claim a key: never get-then-set.
    /// Callers write values unique to themselves ([`nonce`]): an adapter
    /// over a store that cannot report the outcome may read the key back.
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, HostError>;
    /// Atomically adds `delta` and returns the new value.
    fn increment(&self, key: &str, delta: i64) -> Result<i64, HostError>;
}

/// A value bound to an SQL parameter or read from a row.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// The SQLite database: the audit trail.
pub trait Database {
    /// Runs one statement; returns the rows it produced.
    fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, HostError>;
}

/// Wall-clock time; a port so tests can pin it.
pub trait Clock {
    fn now(&self) -> SystemTime;
    /// Waits (Graph's `Retry-After`). A component serves one request, so
    /// blocking its instance is the honest way to wait.
    fn sleep(&self, duration: Duration);
}

/// An outbound HTTP request: method, absolute URL, headers, body.
pub type OutboundRequest = http::Request<Vec<u8>>;
pub type OutboundResponse = http::Response<Vec<u8>>;

/// Why an outbound request got no HTTP answer at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The host is not in `allowed_outbound_hosts`.
    #[error("outbound request to this host is not allowed by the manifest")]
    Denied,
    #[error("connection failed: {0}")]
    Connection(String),
    #[error("timed out")]
    Timeout,
}

/// A boxed future, so `Transport` stays object-safe without `Send` (wasm is
/// single-threaded).
pub type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Outbound HTTP (Spin's `wasi:http/outgoing-handler`).
pub trait Transport {
    /// Sends `request` and gives up (`TransportError::Timeout`) when no
    /// complete answer arrived `within` that time: a Graph call may not
    /// outlive the request's budget.
    fn send(
        &self,
        request: OutboundRequest,
        within: Duration,
    ) -> LocalFuture<'_, Result<OutboundResponse, TransportError>>;
}

/// Cryptographically secure random bytes.
pub trait Entropy {
    fn fill(&self, buf: &mut [u8]);
}

/// 64 random bits as hex: what makes a compare-and-swap value unique to
/// its writer (see [`KeyValue::compare_and_swap`]).
pub fn nonce(entropy: &dyn Entropy) -> String {
    let mut b = [0u8; 8];
    entropy.fill(&mut b);
    hex::encode(b)
}

/// Everything an operation may touch, borrowed for one request.
pub struct Host<'a> {
    pub variables: &'a dyn Variables,
    pub kv: &'a dyn KeyValue,
    pub db: &'a dyn Database,
    pub clock: &'a dyn Clock,
    pub entropy: &'a dyn Entropy,
    pub transport: &'a dyn Transport,
}
