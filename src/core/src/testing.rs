//! In-memory ports for unit tests: a HashMap key-value store, a real SQLite
//! database in memory, a pinned clock and counting entropy.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crate::ports::{Clock, Database, Entropy, Host, HostError, KeyValue, SqlValue};

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

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0.get()
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
}

impl World {
    pub fn host(&self) -> Host<'_> {
        Host {
            variables: &self.vars,
            kv: &self.kv,
            db: &self.db,
            clock: &self.clock,
            entropy: &self.entropy,
        }
    }
}
