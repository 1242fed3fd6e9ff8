//! Test records: varied callers, operations, users and tickets.

use std::cell::Cell;
use std::time::Duration;

use serde_json::json;

use super::{append, verify, AuditEntry, AuditRecord, Keying, Outcome, VerifyQuery, VerifyReport};
use crate::ports::Database;
use crate::ports::Entropy;
use crate::store::schema;
use crate::testing::FixedClock;
use crate::testing::World;

/// Entry `i`: caller alternates `helpdesk`/`servicenow`, operation cycles
/// `tap`/`reset`/`phone`, user `i % 4`, ticket `INC000{i % 5}`.
pub(crate) fn entry(i: usize) -> AuditEntry {
    let u = i % 4;
    AuditEntry {
        caller: ["helpdesk", "servicenow"][i % 2].into(),
        operation: ["tap", "reset", "phone"][i % 3].into(),
        user: Some(json!({
            "id": format!("00000000-0000-4000-8000-{u:012}"),
            "userPrincipalName": format!("User{u}@Contoso.com"),
            "displayName": format!("User {u}"),
        })),
        ticket: Some(format!("INC{:04}", i % 5)),
        reason: Some("lost phone".into()),
        outcome: Outcome::Succeeded,
        status: 201,
        code: None,
        details: json!({ "methodId": format!("m{i}"), "note": "é \"q\"" }),
        request_id: format!("req-{i}"),
        verification: Some(json!({ "method": "callback", "verifiedBy": format!("agent {i}") })),
        operator: None,
    }
}

/// A world whose database is migrated.
pub(crate) fn migrated() -> World {
    let w = World::default();
    schema::migrate(&w.db, "2026-11-23T08:00:00Z").unwrap();
    w
}

/// Appends entries `0..n`, one second apart.
pub(crate) fn append_n(w: &World, n: usize) -> Vec<AuditRecord> {
    (0..n)
        .map(|i| {
            let r = append(&w.db, &w.clock, &w.entropy, Keying::Plain, entry(i)).unwrap();
            w.clock.advance(Duration::from_secs(1));
            r
        })
        .collect()
}

/// Distinct pseudo-random bytes from a seed (xorshift64): unlike
/// `CountingEntropy`, it does not repeat after 256 ids.
pub(crate) struct Seeded(pub Cell<u64>);

impl Entropy for Seeded {
    fn fill(&self, buf: &mut [u8]) {
        for b in buf.iter_mut() {
            let mut x = self.0.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0.set(x);
            *b = x as u8;
        }
    }
}

/// The whole unkeyed chain verified in one go.
pub(crate) fn check(db: &dyn Database) -> VerifyReport {
    verify(
        db,
        &FixedClock::default(),
        Keying::Plain,
        &[],
        &VerifyQuery::default(),
    )
    .unwrap()
}
