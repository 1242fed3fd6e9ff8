//! mfa-core's ports over Spin's host interfaces.

use std::cell::OnceCell;
use std::time::{Duration, SystemTime};

use spin_sdk::sqlite::{Connection, Value};
use spin_sdk::wit::wasi::keyvalue::{atomics, store};

use mfa_core::ports::{
    Clock, Database, Entropy, HostError, KeyValue, LocalFuture, OutboundRequest, OutboundResponse,
    SqlValue, Transport, TransportError, Variables,
};
use mfa_core::store::create_once::create_once;

/// Spin application variables (`SPIN_VARIABLE_*` or the manifest default).
pub struct SpinVariables;

impl Variables for SpinVariables {
    fn get(&self, name: &str) -> Result<Option<String>, HostError> {
        match spin_sdk::variables::get(name) {
            Ok(v) => Ok(Some(v)),
            Err(spin_sdk::variables::Error::Undefined(_)) => Ok(None),
            Err(e) => Err(HostError(format!("variable {name}: {e:?}"))),
        }
    }
}

fn kv_error(e: store::Error) -> HostError {
    HostError(match e {
        store::Error::NoSuchStore => "no such key-value store".into(),
        store::Error::AccessDenied => "key-value store access denied".into(),
        store::Error::Other(m) => format!("key-value store: {m}"),
    })
}

/// The `default` key-value store through `wasi:keyvalue`, opened on first use.
#[derive(Default)]
pub struct SpinKv(OnceCell<store::Bucket>);

impl SpinKv {
    fn bucket(&self) -> Result<&store::Bucket, HostError> {
        if let Some(b) = self.0.get() {
            return Ok(b);
        }
        let b = store::open("default").map_err(kv_error)?;
        Ok(self.0.get_or_init(|| b))
    }
}

impl KeyValue for SpinKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        self.bucket()?.get(key).map_err(kv_error)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), HostError> {
        self.bucket()?.set(key, value).map_err(kv_error)
    }

    fn delete(&self, key: &str) -> Result<(), HostError> {
        self.bucket()?.delete(key).map_err(kv_error)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, HostError> {
        let Some(expected) = expected else {
            // Spin's SQLite store swaps from "absent" with an upsert.
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            let wait = || std::thread::sleep(Duration::from_millis(5));
            return create_once(self, now, key, value, &wait);
        };
        let cas = atomics::Cas::new(self.bucket()?, key).map_err(kv_error)?;
        if cas.current().map_err(kv_error)?.as_deref() != Some(expected) {
            return Ok(false);
        }
        match atomics::swap(cas, value) {
            Ok(()) | Err(atomics::CasError::CasFailed(_)) => {}
            Err(atomics::CasError::StoreError(e)) => return Err(kv_error(e)),
        }
        // The outcome is read back rather than trusted: Spin's Redis store
        // (key-value-redis, Spin 3.x/4.x) answers CasFailed after a swap
        // that succeeded (its UNWATCH is sent with an argument, which Redis
        // refuses) and Ok after a transaction Redis discarded (a nil EXEC
        // decodes as `()`). Values are unique per writer (`nonce`), so the
        // stored bytes say who won; on the other stores this agrees with
        // the swap's own answer.
        Ok(self.get(key)?.as_deref() == Some(value))
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, HostError> {
        atomics::increment(self.bucket()?, key, delta).map_err(kv_error)
    }
}

/// The `default` SQLite database, opened on first use.
#[derive(Default)]
pub struct SpinDb(OnceCell<Connection>);

impl Database for SpinDb {
    fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, HostError> {
        let conn = match self.0.get() {
            Some(c) => c,
            None => {
                let c = Connection::open_default()
                    .map_err(|e| HostError(format!("sqlite open: {e:?}")))?;
                self.0.get_or_init(|| c)
            }
        };
        let bound: Vec<Value> = params
            .iter()
            .map(|p| match p {
                SqlValue::Null => Value::Null,
                SqlValue::Integer(i) => Value::Integer(*i),
                SqlValue::Real(f) => Value::Real(*f),
                SqlValue::Text(s) => Value::Text(s.clone()),
                SqlValue::Blob(b) => Value::Blob(b.clone()),
            })
            .collect();
        let result = conn
            .execute(sql, &bound)
            .map_err(|e| HostError(format!("sqlite: {e:?}")))?;
        Ok(result
            .rows
            .into_iter()
            .map(|row| {
                row.values
                    .into_iter()
                    .map(|v| match v {
                        Value::Null => SqlValue::Null,
                        Value::Integer(i) => SqlValue::Integer(i),
                        Value::Real(f) => SqlValue::Real(f),
                        Value::Text(s) => SqlValue::Text(s),
                        Value::Blob(b) => SqlValue::Blob(b),
                    })
                    .collect()
            })
            .collect())
    }
}

pub struct SpinClock;

impl Clock for SpinClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

pub struct SpinEntropy;

impl Entropy for SpinEntropy {
    fn fill(&self, buf: &mut [u8]) {
        // wasi:random is always present in a Spin component; failure would
        // mean no randomness at all, and nothing may proceed without it.
        getrandom::fill(buf).expect("wasi:random unavailable");
    }
}

/// Outbound HTTP through Spin; the host enforces `allowed_outbound_hosts`.
pub struct SpinTransport;

impl Transport for SpinTransport {
    fn send(
        &self,
        request: OutboundRequest,
        within: Duration,
    ) -> LocalFuture<'_, Result<OutboundResponse, TransportError>> {
        Box::pin(async move {
            let exchange = std::pin::pin!(spin_sdk::http::send::<_, OutboundResponse>(request));
            // Dropping the losing exchange drops its wasi:http future, which
            // cancels the request in the host.
            let res = match futures::future::select(exchange, Deadline::after(within)).await {
                futures::future::Either::Left((res, _)) => res,
                futures::future::Either::Right(_) => return Err(TransportError::Timeout),
            };
            res.map_err(|e| match e {
                spin_sdk::http::SendError::Http(code) => match code {
                    spin_sdk::http::ErrorCode::HttpRequestDenied => TransportError::Denied,
                    spin_sdk::http::ErrorCode::ConnectionTimeout
                    | spin_sdk::http::ErrorCode::ConnectionReadTimeout
                    | spin_sdk::http::ErrorCode::HttpResponseTimeout => TransportError::Timeout,
                    other => TransportError::Connection(format!("{other:?}")),
                },
                other => TransportError::Connection(other.to_string()),
            })
        })
    }
}

/// Resolves when the monotonic clock passes a deadline. Spin's executor
/// waits on the clock's pollable alongside the request's, so a Graph call
/// that never answers still ends when the request's budget does.
struct Deadline {
    at: wasi::clocks::monotonic_clock::Instant,
    waiting: Option<spin_executor::CancelOnDropToken>,
}

impl Deadline {
    fn after(d: Duration) -> Self {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Deadline {
            at: wasi::clocks::monotonic_clock::now().saturating_add(ns),
            waiting: None,
        }
    }
}

impl std::future::Future for Deadline {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if wasi::clocks::monotonic_clock::now() >= self.at {
            return std::task::Poll::Ready(());
        }
        let pollable = wasi::clocks::monotonic_clock::subscribe_instant(self.at);
        self.waiting =
            Some(spin_executor::push_waker_and_get_token(pollable, cx.waker().clone()).into());
        std::task::Poll::Pending
    }
}
