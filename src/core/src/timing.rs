//! Where a request's own time goes: the key-value store, the database and
//! Graph, measured at the ports, so the edge can log each share beside the
//! total and a benchmark can say what is left above Graph's latency (JSON
//! work, checks, the component itself).
//!
//! Graph's share is wall time with at least one request in flight, so
//! requests sent together count once, like the round trips they are.

use std::cell::Cell;
use std::time::{Duration, Instant};

use crate::ports::{
    Database, HostError, KeyValue, LocalFuture, OutboundRequest, OutboundResponse, SqlValue,
    Transport, TransportError,
};

/// Time and calls per port, for one request.
#[derive(Default)]
pub struct Timings {
    kv: Cell<(Duration, u32)>,
    db: Cell<(Duration, u32)>,
    graph: Cell<(Duration, u32)>,
    in_flight: Cell<u32>,
    since: Cell<Option<Instant>>,
}

/// What [`Timings`] measured, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Shares {
    pub kv_us: u64,
    pub kv_calls: u32,
    pub db_us: u64,
    pub db_calls: u32,
    pub graph_us: u64,
    pub graph_calls: u32,
}

impl Timings {
    pub fn shares(&self) -> Shares {
        let us = |d: Duration| d.as_micros() as u64;
        let (kv, kv_calls) = self.kv.get();
        let (db, db_calls) = self.db.get();
        let (graph, graph_calls) = self.graph.get();
        Shares {
            kv_us: us(kv),
            kv_calls,
            db_us: us(db),
            db_calls,
            graph_us: us(graph),
            graph_calls,
        }
    }

    fn add(cell: &Cell<(Duration, u32)>, d: Duration, calls: u32) {
        let (t, n) = cell.get();
        cell.set((t + d, n + calls));
    }

    fn timed<T>(cell: &Cell<(Duration, u32)>, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let out = f();
        Timings::add(cell, t.elapsed(), 1);
        out
    }

    fn graph_started(&self) {
        if self.in_flight.get() == 0 {
            self.since.set(Some(Instant::now()));
        }
        self.in_flight.set(self.in_flight.get() + 1);
        Timings::add(&self.graph, Duration::ZERO, 1);
    }

    fn graph_ended(&self) {
        let left = self.in_flight.get().saturating_sub(1);
        self.in_flight.set(left);
        if left == 0 {
            if let Some(t) = self.since.take() {
                Timings::add(&self.graph, t.elapsed(), 0);
            }
        }
    }
}

/// A key-value store whose calls are timed.
pub struct TimedKv<'a>(pub &'a dyn KeyValue, pub &'a Timings);

impl KeyValue for TimedKv<'_> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        Timings::timed(&self.1.kv, || self.0.get(key))
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), HostError> {
        Timings::timed(&self.1.kv, || self.0.set(key, value))
    }
    fn delete(&self, key: &str) -> Result<(), HostError> {
        Timings::timed(&self.1.kv, || self.0.delete(key))
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, HostError> {
        Timings::timed(&self.1.kv, || self.0.compare_and_swap(key, expected, value))
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, HostError> {
        Timings::timed(&self.1.kv, || self.0.increment(key, delta))
    }
}

/// A database whose statements are timed.
pub struct TimedDb<'a>(pub &'a dyn Database, pub &'a Timings);

impl Database for TimedDb<'_> {
    fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, HostError> {
        Timings::timed(&self.1.db, || self.0.execute(sql, params))
    }
}

/// Outbound HTTP whose wall time in flight is measured.
pub struct TimedTransport<'a>(pub &'a dyn Transport, pub &'a Timings);

impl Transport for TimedTransport<'_> {
    fn send(
        &self,
        request: OutboundRequest,
        within: Duration,
    ) -> LocalFuture<'_, Result<OutboundResponse, TransportError>> {
        let inner = self.0.send(request, within);
        let timings = self.1;
        Box::pin(async move {
            timings.graph_started();
            let out = inner.await;
            timings.graph_ended();
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryKv, ScriptedTransport};
    use futures::executor::block_on;

    #[test]
    fn calls_are_counted_and_graph_in_flight_counts_once() {
        let t = Timings::default();
        let kv = MemoryKv::default();
        let timed = TimedKv(&kv, &t);
        timed.set("a", b"1").unwrap();
        assert_eq!(timed.get("a").unwrap().as_deref(), Some(&b"1"[..]));
        let transport = ScriptedTransport::default();
        transport.push(200, "{}");
        transport.push(200, "{}");
        let tt = TimedTransport(&transport, &t);
        let req = || {
            http::Request::builder()
                .uri("https://graph.example/v1.0/x")
                .body(Vec::new())
                .unwrap()
        };
        block_on(async {
            let (a, b) = futures_util::future::join(
                tt.send(req(), Duration::from_secs(1)),
                tt.send(req(), Duration::from_secs(1)),
            )
            .await;
            assert!(a.is_ok() && b.is_ok());
        });
        let s = t.shares();
        assert_eq!((s.kv_calls, s.db_calls, s.graph_calls), (2, 0, 2));
        assert_eq!(t.in_flight.get(), 0);
        assert_eq!(t.since.get(), None);
    }
}
