//! In-memory ports for unit tests: a HashMap key-value store, a real SQLite
//! database in memory, a pinned clock and counting entropy.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crate::ports::{
    Clock, Database, Entropy, Host, HostError, KeyValue, LocalFuture, OutboundRequest,
    OutboundResponse, SqlValue, Transport, TransportError,
};

#[derive(Default)]
pub struct MemoryKv(pub RefCell<HashMap<String, Vec<u8>>>);

impl KeyValue for MemoryKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        Ok(self.0.borrow().get(key).cloned())
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), HostError> {
        self.0.borrow_mut().insert(key.into(), value.into());
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<(), HostError> {
        self.0.borrow_mut().remove(key);
        Ok(())
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, HostError> {
        let mut m = self.0.borrow_mut();
        if m.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        m.insert(key.into(), value.into());
        Ok(true)
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, HostError> {
        let mut m = self.0.borrow_mut();
        let current = m
            .get(key)
            .and_then(|v| std::str::from_utf8(v).ok()?.parse::<i64>().ok())
            .unwrap_or(0);
        let next = current + delta;
        m.insert(key.into(), next.to_string().into_bytes());
        Ok(next)
    }
}

pub struct MemoryDb(pub rusqlite::Connection);

impl Default for MemoryDb {
    fn default() -> Self {
        MemoryDb(rusqlite::Connection::open_in_memory().expect("in-memory sqlite"))
    }
}

impl Database for MemoryDb {
    fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, HostError> {
        use rusqlite::types::{Value, ValueRef};
        let err = |e: rusqlite::Error| HostError(e.to_string());
        let mut stmt = self.0.prepare(sql).map_err(err)?;
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
        let n = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(bound)).map_err(err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(err)? {
            let mut r = Vec::with_capacity(n);
            for i in 0..n {
                r.push(match row.get_ref(i).map_err(err)? {
                    ValueRef::Null => SqlValue::Null,
                    ValueRef::Integer(i) => SqlValue::Integer(i),
                    ValueRef::Real(f) => SqlValue::Real(f),
                    ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into()),
                    ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
                });
            }
            out.push(r);
        }
        Ok(out)
    }
}

pub struct FixedClock(pub Cell<SystemTime>);

impl Default for FixedClock {
    fn default() -> Self {
        // 2026-11-23T08:00:00Z
        FixedClock(Cell::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_420_800),
        ))
    }
}

impl FixedClock {
    pub fn advance(&self, by: Duration) {
        self.0.set(self.0.get() + by);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0.get()
    }
    /// Sleeping moves the pinned clock: tests never wait.
    fn sleep(&self, duration: Duration) {
        self.advance(duration);
    }
}

/// Answers a request by what it asks (a small tenant a test keeps).
pub type Responder = Box<dyn Fn(&OutboundRequest) -> Result<OutboundResponse, TransportError>>;

/// Answers outbound requests from a queue of recorded Graph answers and keeps
/// what was sent, so a test asserts the exact request. With a
/// [`Responder`], requests the queue does not answer go to it, and each
/// such exchange takes a turn of the executor, so requests sent together
/// are in flight together; [`ScriptedTransport::depths`] then says how
/// many round trips each waited behind.
#[derive(Default)]
pub struct ScriptedTransport {
    answers: RefCell<std::collections::VecDeque<Result<OutboundResponse, TransportError>>>,
    sent: RefCell<Vec<OutboundRequest>>,
    within: RefCell<Vec<Duration>>,
    responder: RefCell<Option<Responder>>,
    /// Per request sent: 1 + the depth of the deepest exchange that had
    /// completed when it was sent.
    depths: RefCell<Vec<usize>>,
    deepest_done: Cell<usize>,
}

impl ScriptedTransport {
    pub fn push(&self, status: u16, body: &str) {
        let mut res = OutboundResponse::new(body.as_bytes().to_vec());
        *res.status_mut() = http::StatusCode::from_u16(status).unwrap();
        self.answers.borrow_mut().push_back(Ok(res));
    }

    pub fn push_with(&self, status: u16, body: &str, headers: &[(&str, &str)]) {
        let mut res = OutboundResponse::new(body.as_bytes().to_vec());
        *res.status_mut() = http::StatusCode::from_u16(status).unwrap();
        for (k, v) in headers {
            res.headers_mut().insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        self.answers.borrow_mut().push_back(Ok(res));
    }

    /// The next request gets no HTTP answer.
    pub fn push_err(&self, e: TransportError) {
        self.answers.borrow_mut().push_back(Err(e));
    }

    pub fn sent(&self) -> Vec<OutboundRequest> {
        self.sent.borrow().clone()
    }

    /// The time limit each request was sent with.
    pub fn limits(&self) -> Vec<Duration> {
        self.within.borrow().clone()
    }

    /// Answers what the queue does not (see [`Responder`]).
    pub fn respond_with(
        &self,
        f: impl Fn(&OutboundRequest) -> Result<OutboundResponse, TransportError> + 'static,
    ) {
        *self.responder.borrow_mut() = Some(Box::new(f));
    }

    /// Per request sent, in order: the round trip it went in (1 for the
    /// first; requests in flight together share one).
    pub fn depths(&self) -> Vec<usize> {
        self.depths.borrow().clone()
    }

    /// Round trips one after another: the deepest request.
    pub fn sequential(&self) -> usize {
        self.depths.borrow().iter().copied().max().unwrap_or(0)
    }

    /// Forgets what was sent (the queue and the responder stay).
    pub fn clear(&self) {
        self.sent.borrow_mut().clear();
        self.within.borrow_mut().clear();
        self.depths.borrow_mut().clear();
        self.deepest_done.set(0);
    }
}

/// One exchange: done when polled, after one turn of the executor for an
/// answer from the responder.
struct Exchange<'a> {
    transport: &'a ScriptedTransport,
    depth: usize,
    wait: bool,
    answer: Option<Result<OutboundResponse, TransportError>>,
}

impl std::future::Future for Exchange<'_> {
    type Output = Result<OutboundResponse, TransportError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        if self.wait {
            self.wait = false;
            cx.waker().wake_by_ref();
            return std::task::Poll::Pending;
        }
        let done = &self.transport.deepest_done;
        done.set(done.get().max(self.depth));
        std::task::Poll::Ready(self.answer.take().expect("polled after done"))
    }
}

impl Transport for ScriptedTransport {
    fn send(
        &self,
        request: OutboundRequest,
        within: Duration,
    ) -> LocalFuture<'_, Result<OutboundResponse, TransportError>> {
        let depth = self.deepest_done.get() + 1;
        self.depths.borrow_mut().push(depth);
        let queued = self.answers.borrow_mut().pop_front();
        let (answer, wait) = match (queued, self.responder.borrow().as_ref()) {
            (Some(a), _) => (a, false),
            (None, Some(f)) => (f(&request), true),
            (None, None) => panic!("unexpected outbound request to {}", request.uri()),
        };
        self.sent.borrow_mut().push(request);
        self.within.borrow_mut().push(within);
        Box::pin(Exchange {
            transport: self,
            depth,
            wait,
            answer: Some(answer),
        })
    }
}

/// Deterministic, distinct bytes per call.
#[derive(Default)]
pub struct CountingEntropy(pub Cell<u8>);

impl Entropy for CountingEntropy {
    fn fill(&self, buf: &mut [u8]) {
        let n = self.0.get().wrapping_add(1);
        self.0.set(n);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = n.wrapping_mul(31).wrapping_add(i as u8);
        }
    }
}

/// Owns one of each port; `host()` borrows them for a request.
#[derive(Default)]
pub struct World {
    pub vars: HashMap<String, String>,
    pub kv: MemoryKv,
    pub db: MemoryDb,
    pub clock: FixedClock,
    pub entropy: CountingEntropy,
    pub transport: ScriptedTransport,
}

impl World {
    /// The required variables set to valid values.
    pub fn configured() -> World {
        let mut w = World::default();
        for (k, v) in [
            ("tenant_id", "contoso.onmicrosoft.com"),
            ("client_id", "9b1d3c5e-0000-4000-8000-000000000002"),
            ("client_secret", "s3cr3t &=+%"),
            (
                "callers",
                r#"[{"id":"a","keySha256":"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8","scopes":["tap"]}]"#,
            ),
        ] {
            w.vars.insert(k.into(), v.into());
        }
        w
    }

    pub fn host(&self) -> Host<'_> {
        Host {
            variables: &self.vars,
            kv: &self.kv,
            db: &self.db,
            clock: &self.clock,
            entropy: &self.entropy,
            transport: &self.transport,
        }
    }
}

/// A token endpoint's answer, for a transport script's first response.
pub const TOKEN_RESPONSE: &str =
    r#"{"token_type":"Bearer","expires_in":3599,"access_token":"tok"}"#;

/// A configured world whose Graph is `https://graph.example`, its
/// configuration, and a request id: what a Graph client under test needs.
pub fn graph_world() -> (World, crate::config::Config, crate::api::RequestId) {
    let mut w = World::configured();
    w.vars
        .insert("graph_endpoint".into(), "https://graph.example".into());
    let c = crate::config::Config::load(&w.vars).expect("a configured world loads");
    (
        w,
        c,
        crate::api::RequestId::parse("req-1").expect("a request id"),
    )
}

/// A key-value store that is down: every call fails.
pub struct DownKv;

impl KeyValue for DownKv {
    fn get(&self, _: &str) -> Result<Option<Vec<u8>>, HostError> {
        Err(HostError("down".into()))
    }
    fn set(&self, _: &str, _: &[u8]) -> Result<(), HostError> {
        Err(HostError("down".into()))
    }
    fn delete(&self, _: &str) -> Result<(), HostError> {
        Err(HostError("down".into()))
    }
    fn compare_and_swap(&self, _: &str, _: Option<&[u8]>, _: &[u8]) -> Result<bool, HostError> {
        Err(HostError("down".into()))
    }
    fn increment(&self, _: &str, _: i64) -> Result<i64, HostError> {
        Err(HostError("down".into()))
    }
}
