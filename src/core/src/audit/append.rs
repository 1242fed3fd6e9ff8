//! Appending one record without ever forking the chain, even with several
//! Spin instances writing at once.
//!
//! Two guards, either sufficient on its own:
//! - `BEGIN IMMEDIATE` takes SQLite's write lock before the head of the
//!   chain is read, so no other writer can slip a record in between reading
//!   the predecessor and inserting its successor;
//! - `prev_hash UNIQUE` (and `seq` as primary key) in the schema: a record
//!   computed against a stale head is refused by the database itself.
//!
//! A busy database or a lost race is retried with a short backoff; a
//! missing table (first request of a new deployment) runs the migrations.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::canonical::{Keying, GENESIS};
use super::id::new_audit_id;
use super::record::{AuditEntry, AuditRecord};
use super::redact::{redact_json, redact_text};
use super::row;
use super::AuditError;
use crate::ports::{Clock, Database, Entropy, HostError, SqlValue};
use crate::store::schema;
use crate::types::rfc3339;

/// Attempts before giving up with [`AuditError::Contended`].
const MAX_ATTEMPTS: u32 = 6;

/// Redacts, links and stores `entry`; returns the stored record.
///
/// The record's `time` is taken once, before the first attempt: it says when
/// the operation finished, not when the lock was won. A retry draws a fresh
/// audit id, so even an id collision resolves itself.
pub fn append(
    db: &dyn Database,
    clock: &dyn Clock,
    entropy: &dyn Entropy,
    keying: Keying<'_>,
    entry: AuditEntry,
) -> Result<AuditRecord, AuditError> {
    append_with(db, clock, keying, entry, false, || new_audit_id(entropy))
}

/// Appends `entry` under an id reserved beforehand (the attempt journal's,
/// see [`super::Trail`]), so the answer's `auditId` names the record.
/// The attempt's journal row is deleted in the same transaction, so the
/// chained record and its journal row never both exist, and the end of an
/// attempt costs one commit.
pub fn append_as(
    db: &dyn Database,
    clock: &dyn Clock,
    keying: Keying<'_>,
    audit_id: &str,
    entry: AuditEntry,
) -> Result<AuditRecord, AuditError> {
    append_with(db, clock, keying, entry, true, || audit_id.to_string())
}

/// The retry loop: `next_id` gives each attempt's audit id.
fn append_with(
    db: &dyn Database,
    clock: &dyn Clock,
    keying: Keying<'_>,
    entry: AuditEntry,
    journaled: bool,
    next_id: impl Fn() -> String,
) -> Result<AuditRecord, AuditError> {
    let entry = prepare(entry);
    let time = row::now(clock.now());
    let mut migrated = false;
    for attempt in 1..=MAX_ATTEMPTS {
        match try_append(db, keying, &next_id(), &time, &entry, journaled) {
            Ok(record) => return Ok(record),
            Err(e) if !migrated && row::missing_table(&e) => {
                schema::migrate(db, &rfc3339(clock.now()))?;
                migrated = true;
            }
            // 10, 20, 40, 80, 160 ms: well inside a request's budget.
            Err(e) if is_contention(&e) => clock.sleep(Duration::from_millis(5 << attempt)),
            Err(e) => return Err(e.into()),
        }
    }
    Err(AuditError::Contended(MAX_ATTEMPTS))
}

/// Whether another writer got in the way: the database was locked, or the
/// insert lost the race for a predecessor (or an id) to another record.
fn is_contention(e: &HostError) -> bool {
    let m = e.0.as_str();
    m.contains("database is locked")
        || m.contains("database table is locked")
        || m.contains("busy")
        || m.contains("UNIQUE constraint failed: audit_records.")
}

/// One transaction: read the head, seal the record against it, insert.
fn try_append(
    db: &dyn Database,
    keying: Keying<'_>,
    audit_id: &str,
    time: &str,
    entry: &AuditEntry,
    journaled: bool,
) -> Result<AuditRecord, HostError> {
    db.execute("BEGIN IMMEDIATE", &[])?;
    let result = link_and_insert(db, keying, audit_id, time, entry, journaled).and_then(|record| {
        db.execute("COMMIT", &[])?;
        Ok(record)
    });
    if result.is_err() {
        // Nothing to undo if the transaction already ended; the error that
        // matters is the one above.
        let _ = db.execute("ROLLBACK", &[]);
    }
    result
}

fn link_and_insert(
    db: &dyn Database,
    keying: Keying<'_>,
    audit_id: &str,
    time: &str,
    entry: &AuditEntry,
    journaled: bool,
) -> Result<AuditRecord, HostError> {
    let head = db.execute(
        "SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1",
        &[],
    )?;
    let (seq, prev_hash) = match head.first().map(Vec::as_slice) {
        None => (0, GENESIS.to_string()),
        Some([SqlValue::Integer(seq), SqlValue::Text(hash)]) => (*seq, hash.clone()),
        Some(_) => return Err(HostError("the audit chain's head is unreadable".into())),
    };
    super::keying::note_keyed_append(db, keying, seq)?;
    let record = AuditRecord::seal(
        audit_id.into(),
        time.into(),
        entry.clone(),
        prev_hash,
        keying,
    );
    db.execute(row::INSERT, &row::params(seq + 1, &record))?;
    if let Some(params) = row::operator_params(seq + 1, &record) {
        db.execute(row::INSERT_OPERATOR, &params)?;
    }
    if journaled {
        // The attempt this record ends.
        db.execute(
            "DELETE FROM audit_attempts WHERE audit_id = ?",
            &[SqlValue::Text(record.audit_id.clone())],
        )?;
    }
    Ok(record)
}

/// Normalises and redacts: `details` is always an object, `null` user or
/// verification is absent, no secret-named member or secret-looking text
/// survives (see `redact`).
pub(super) fn prepare(mut entry: AuditEntry) -> AuditEntry {
    entry.details = match entry.details {
        Value::Object(map) => Value::Object(map),
        Value::Null => Value::Object(Map::new()),
        other => json!({ "value": other }),
    };
    redact_json(&mut entry.details);
    if let Some(clean) = entry.reason.as_deref().and_then(redact_text) {
        entry.reason = Some(clean);
    }
    entry.verification = entry.verification.filter(|v| !v.is_null()).map(|mut v| {
        redact_json(&mut v);
        v
    });
    entry.user = entry.user.filter(|u| !u.is_null());
    entry
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};

    use serde_json::json;
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::audit::fixtures::check;
    use crate::audit::fixtures::{append_n, entry, migrated, Seeded};
    use crate::audit::{get, Outcome, REDACTED};
    use crate::testing::{CountingEntropy, FixedClock, MemoryDb, World};

    #[test]
    fn three_records_link_into_a_verified_chain() {
        // No migration first: the first append creates the schema.
        let w = World::default();
        let records = append_n(&w, 3);
        assert_eq!(records[0].prev_hash, GENESIS);
        assert_eq!(records[1].prev_hash, records[0].hash);
        assert_eq!(records[2].prev_hash, records[1].hash);
        for r in &records {
            assert_eq!(r.hash, r.computed_hash(Keying::Plain));
            assert_eq!(get(&w.db, &r.audit_id).unwrap().as_ref(), Some(r));
        }
        assert_eq!(records[0].time, "2026-11-23T08:00:00.000Z");
        assert_eq!(records[1].time, "2026-11-23T08:00:01.000Z");
        let report = check(&w.db);
        assert!(report.ok);
        assert_eq!(report.records, 3);
        assert_eq!(
            serde_json::to_value(report).unwrap(),
            json!({ "ok": true, "records": 3, "keyed": false })
        );
    }

    #[test]
    fn hash_matches_an_independent_recomputation() {
        let w = migrated();
        let mut e = entry(7);
        e.code = Some("tap_exists".into());
        e.outcome = Outcome::Refused;
        e.status = 409;
        let r = append(&w.db, &w.clock, &w.entropy, Keying::Plain, e).unwrap();
        // The canonical body, spelled out by hand from the documented rule.
        let expected_body = format!(
            concat!(
                r#"{{"auditId":"{id}","caller":"servicenow","code":"tap_exists","#,
                r#""details":{{"methodId":"m7","note":"é \"q\""}},"#,
                r#""operation":"reset","outcome":"refused","reason":"lost phone","#,
                r#""requestId":"req-7","status":409,"ticket":"INC0002","time":"{time}","#,
                r#""user":{{"displayName":"User 3","id":"00000000-0000-4000-8000-000000000003","#,
                r#""userPrincipalName":"User3@Contoso.com"}},"#,
                r#""verification":{{"method":"callback","verifiedBy":"agent 7"}}}}"#,
            ),
            id = r.audit_id,
            time = r.time,
        );
        let mut h = Sha256::new();
        h.update(GENESIS.as_bytes());
        h.update(b"\n");
        h.update(expected_body.as_bytes());
        assert_eq!(r.hash, hex::encode(h.finalize()));
        // And the served JSON minus prevHash/hash is that body.
        let mut served = serde_json::to_value(&r).unwrap();
        served.as_object_mut().unwrap().remove("prevHash");
        served.as_object_mut().unwrap().remove("hash");
        assert_eq!(
            served,
            serde_json::from_str::<Value>(&expected_body).unwrap()
        );
    }

    #[test]
    fn secrets_are_redacted_before_storing() {
        let w = migrated();
        let mut e = entry(1);
        e.details = json!({
            "methodId": "m1",
            "temporaryAccessPass": "Xy7#kP2qLm",
            "graph": { "access_token": "eyJ0eXAi.payload" },
        });
        e.reason = Some("user called; client_secret=s3cr3tValue leaked".into());
        e.verification = Some(json!({ "method": "other", "token": "abc123tok" }));
        let r = append(&w.db, &w.clock, &w.entropy, Keying::Plain, e).unwrap();
        assert_eq!(r.entry.details["temporaryAccessPass"], json!(REDACTED));
        assert_eq!(r.entry.details["graph"]["access_token"], json!(REDACTED));
        assert_eq!(r.entry.details["methodId"], json!("m1"));
        assert_eq!(
            r.entry.reason.as_deref(),
            Some("user called; client_secret=<redacted> leaked")
        );
        // Nothing secret anywhere in the table.
        let dump = format!(
            "{:?}",
            w.db.execute("SELECT * FROM audit_records", &[]).unwrap()
        );
        for secret in ["Xy7#kP2qLm", "eyJ0eXAi", "s3cr3tValue", "abc123tok"] {
            assert!(!dump.contains(secret), "{secret} stored");
        }
        assert!(check(&w.db).ok);
    }

    #[test]
    fn details_are_always_an_object() {
        let w = migrated();
        let mut e = entry(1);
        e.details = Value::Null;
        e.user = Some(Value::Null);
        e.verification = Some(Value::Null);
        let r = append(&w.db, &w.clock, &w.entropy, Keying::Plain, e).unwrap();
        assert_eq!(r.entry.details, json!({}));
        assert_eq!((r.entry.user, r.entry.verification), (None, None));
        let mut e = entry(2);
        e.details = json!([1, 2]);
        let r = append(&w.db, &w.clock, &w.entropy, Keying::Plain, e).unwrap();
        assert_eq!(r.entry.details, json!({ "value": [1, 2] }));
    }

    #[test]
    fn the_schema_refuses_a_second_successor() {
        let w = migrated();
        let records = append_n(&w, 2);
        // A record computed against records[0] as head, stored directly
        // (no transaction, fresh seq and id): the schema refuses it.
        let rival = AuditRecord::seal(
            "aud_rival".into(),
            records[1].time.clone(),
            entry(9),
            records[0].hash.clone(),
            Keying::Plain,
        );
        let err =
            w.db.execute(row::INSERT, &row::params(99, &rival))
                .unwrap_err();
        assert!(
            err.0
                .contains("UNIQUE constraint failed: audit_records.prev_hash"),
            "{err}"
        );
        // A second genesis is refused the same way.
        let genesis = AuditRecord::seal(
            "aud_g".into(),
            "t".into(),
            entry(9),
            GENESIS.into(),
            Keying::Plain,
        );
        assert!(w
            .db
            .execute(row::INSERT, &row::params(100, &genesis))
            .is_err());
        assert!(check(&w.db).ok);
    }

    /// A database whose first read of the chain's head is stale (answers
    /// with the head's predecessor) and that ignores the transaction
    /// statements: what two instances racing without `BEGIN IMMEDIATE`
    /// would see.
    struct StaleHead<'a> {
        inner: &'a MemoryDb,
        stale: RefCell<Option<Vec<Vec<SqlValue>>>>,
        failures: RefCell<Vec<String>>,
    }

    impl Database for StaleHead<'_> {
        fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, HostError> {
            if matches!(sql, "BEGIN IMMEDIATE" | "COMMIT" | "ROLLBACK") {
                return Ok(vec![]);
            }
            if sql.starts_with("SELECT seq, hash") {
                if let Some(rows) = self.stale.borrow_mut().take() {
                    return Ok(rows);
                }
            }
            self.inner.execute(sql, params).inspect_err(|e| {
                self.failures.borrow_mut().push(e.0.clone());
            })
        }
    }

    #[test]
    fn an_append_against_a_stale_head_is_refused_then_retried() {
        let w = migrated();
        let records = append_n(&w, 2);
        let db = StaleHead {
            inner: &w.db,
            stale: RefCell::new(Some(vec![vec![
                SqlValue::Integer(1),
                SqlValue::Text(records[0].hash.clone()),
            ]])),
            failures: RefCell::default(),
        };
        let before = w.clock.now();
        let r = append(&db, &w.clock, &w.entropy, Keying::Plain, entry(5)).unwrap();
        let failures = db.failures.borrow();
        assert_eq!(failures.len(), 1);
        assert!(
            failures[0].contains("UNIQUE constraint failed"),
            "{failures:?}"
        );
        assert!(w.clock.now() > before, "backed off before retrying");
        assert_eq!(r.prev_hash, records[1].hash);
        let report = check(&w.db);
        assert!(report.ok && report.records == 3, "{report:?}");
    }

    /// Always busy.
    struct Locked(Cell<u32>);

    impl Database for Locked {
        fn execute(&self, _: &str, _: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, HostError> {
            self.0.set(self.0.get() + 1);
            Err(HostError("Io(\"database is locked\")".into()))
        }
    }

    #[test]
    fn gives_up_after_bounded_attempts() {
        let (clock, entropy, db) = (
            FixedClock::default(),
            CountingEntropy::default(),
            Locked(Cell::new(0)),
        );
        let err = append(&db, &clock, &entropy, Keying::Plain, entry(1)).unwrap_err();
        assert_eq!(err, AuditError::Contended(MAX_ATTEMPTS));
        assert_eq!(db.0.get(), MAX_ATTEMPTS);
        assert_eq!(err.code(), crate::api::ErrorCode::StorageUnavailable);
    }

    #[test]
    fn concurrent_writers_on_one_file_keep_one_chain() {
        let path = std::env::temp_dir().join(format!(
            "mfa-audit-{}-{:?}.sqlite",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        {
            let db = MemoryDb(rusqlite::Connection::open(&path).unwrap());
            schema::migrate(&db, "2026-11-23T08:00:00Z").unwrap();
        }
        let writers: Vec<_> = (0..4u64)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let db = MemoryDb(rusqlite::Connection::open(path).unwrap());
                    let (clock, entropy) = (FixedClock::default(), Seeded(Cell::new(t * 7919 + 1)));
                    for i in 0..10 {
                        append(&db, &clock, &entropy, Keying::Plain, entry(i)).unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let db = MemoryDb(rusqlite::Connection::open(&path).unwrap());
        let report = check(&db);
        drop(db);
        let _ = std::fs::remove_file(&path);
        assert!(report.ok, "{report:?}");
        assert_eq!(report.records, 40);
    }
}
