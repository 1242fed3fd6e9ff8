//! SQLite schema, created and migrated by the components themselves (a Spin
//! app has no deploy-time migration step). Every statement is idempotent, so
//! concurrent first requests on several instances cannot conflict.
//!
//! A migration is a list of single statements because both Spin's SQLite
//! host and rusqlite prepare exactly one statement per call.

use crate::ports::{Database, HostError, SqlValue};

/// The audit trail (API.md "GET /v1/audit"), see `crate::audit`.
///
/// - `seq` is the chain order: `audit::append` writes `last + 1` inside
///   `BEGIN IMMEDIATE`, so it is dense and a gap means a deleted row.
/// - `prev_hash UNIQUE` is the schema's own guard against a forked chain: two
///   records can never share a predecessor, even if a writer skipped the
///   transaction. `hash UNIQUE` keeps a record from being stored twice.
/// - `user_json`, `details`, `verification` hold canonical JSON; `user_id`
///   and `user_upn` are lower-cased keys derived from `user_json` for the
///   `user` filter (not hashed, but `audit::verify` re-derives them).
/// - `time` is fixed-width UTC with milliseconds
///   (`2026-11-23T08:00:00.000Z`), so string comparison is time comparison.
/// - The triggers make the table append-only through SQL; an edit through
///   another path (the file itself) is still caught by `audit::verify`.
const AUDIT_V1: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS audit_records (
        seq          INTEGER PRIMARY KEY,
        audit_id     TEXT NOT NULL UNIQUE,
        time         TEXT NOT NULL,
        caller       TEXT NOT NULL,
        operation    TEXT NOT NULL,
        user_json    TEXT,
        user_id      TEXT,
        user_upn     TEXT,
        ticket       TEXT,
        reason       TEXT,
        outcome      TEXT NOT NULL,
        status       INTEGER NOT NULL,
        code         TEXT,
        details      TEXT NOT NULL,
        request_id   TEXT NOT NULL,
        verification TEXT,
        prev_hash    TEXT NOT NULL UNIQUE CHECK (length(prev_hash) = 64),
        hash         TEXT NOT NULL UNIQUE CHECK (length(hash) = 64)
    )",
    "CREATE INDEX IF NOT EXISTS audit_records_time ON audit_records (time)",
    "CREATE INDEX IF NOT EXISTS audit_records_caller ON audit_records (caller, seq)",
    "CREATE INDEX IF NOT EXISTS audit_records_ticket ON audit_records (ticket, seq)",
    "CREATE INDEX IF NOT EXISTS audit_records_user_id ON audit_records (user_id, seq)",
    "CREATE INDEX IF NOT EXISTS audit_records_user_upn ON audit_records (user_upn, seq)",
    "CREATE TRIGGER IF NOT EXISTS audit_records_no_update
        BEFORE UPDATE ON audit_records
        BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_records_no_delete
        BEFORE DELETE ON audit_records
        BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END",
];

/// The write-ahead journal of mutation attempts (API.md "Mutations"): a row
/// is written before an attempt's first Graph call and deleted when its
/// chained record (same `audit_id`) is appended. A row left behind is an
/// attempt whose end was never recorded (the instance died mid-request).
/// Not chained: it holds no outcome, only who asked what, and when.
const AUDIT_V2: &[&str] = &["CREATE TABLE IF NOT EXISTS audit_attempts (
        audit_id   TEXT PRIMARY KEY,
        time       TEXT NOT NULL,
        caller     TEXT NOT NULL,
        operation  TEXT NOT NULL,
        request_id TEXT NOT NULL,
        entry      TEXT NOT NULL
    )"];

/// Where the chain's records begin to be keyed under `audit_key` (see
/// `audit::keying`): one row, MAC'd under the key, append-only.
const AUDIT_V3: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS audit_keying (
        seq INTEGER PRIMARY KEY,
        mac TEXT NOT NULL
    )",
    "CREATE TRIGGER IF NOT EXISTS audit_keying_no_update
        BEFORE UPDATE ON audit_keying
        BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_keying_no_delete
        BEFORE DELETE ON audit_keying
        BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END",
];

/// Who acted, for records of requests made with a delegated Entra ID token:
/// beside the chain rather than in a new column, so the migration stays
/// idempotent (`CREATE ... IF NOT EXISTS`). The operator is part of the
/// record and of its hash; `upn` and `oid` are lower-cased keys for the
/// `operator` filter. Append-only like the records.
const AUDIT_V6: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS audit_operators (
        seq           INTEGER PRIMARY KEY,
        operator_json TEXT NOT NULL,
        upn           TEXT,
        oid           TEXT
    )",
    "CREATE INDEX IF NOT EXISTS audit_operators_upn ON audit_operators (upn)",
    "CREATE INDEX IF NOT EXISTS audit_operators_oid ON audit_operators (oid)",
    "CREATE TRIGGER IF NOT EXISTS audit_operators_no_update
        BEFORE UPDATE ON audit_operators
        BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_operators_no_delete
        BEFORE DELETE ON audit_operators
        BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END",
];

/// Ordered migrations; a migration is never edited once shipped.
const MIGRATIONS: &[(i64, &[&str])] = &[
    (1, AUDIT_V1),
    (2, AUDIT_V2),
    (3, AUDIT_V3),
    // The failures store (`store::failures`), which also creates its own
    // tables when it finds them missing.
    (4, super::failures::SCHEMA),
    (5, super::failures::ANSWER_INDEXES),
    (6, AUDIT_V6),
];

pub const CURRENT_VERSION: i64 = 6;

/// Brings the database to [`CURRENT_VERSION`]; returns the version found.
pub fn migrate(db: &dyn Database, now_rfc3339: &str) -> Result<i64, HostError> {
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            applied_at TEXT NOT NULL
        )",
        &[],
    )?;
    let applied = current_version(db)?;
    for (version, statements) in MIGRATIONS.iter().filter(|(v, _)| *v > applied) {
        for sql in statements.iter() {
            db.execute(sql, &[])?;
        }
        db.execute(
            "INSERT OR IGNORE INTO schema_migrations (version, applied_at) VALUES (?, ?)",
            &[
                SqlValue::Integer(*version),
                SqlValue::Text(now_rfc3339.into()),
            ],
        )?;
    }
    current_version(db)
}

fn current_version(db: &dyn Database) -> Result<i64, HostError> {
    let rows = db.execute("SELECT MAX(version) FROM schema_migrations", &[])?;
    Ok(match rows.first().and_then(|r| r.first()) {
        Some(SqlValue::Integer(v)) => *v,
        _ => 0,
    })
}

/// When a migration was first applied (stable across restarts).
pub fn applied_at(db: &dyn Database, version: i64) -> Result<Option<String>, HostError> {
    let rows = db.execute(
        "SELECT applied_at FROM schema_migrations WHERE version = ?",
        &[SqlValue::Integer(version)],
    )?;
    Ok(match rows.first().and_then(|r| r.first()) {
        Some(SqlValue::Text(t)) => Some(t.clone()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryDb;

    #[test]
    fn migrates_once_and_reruns_harmlessly() {
        let db = MemoryDb::default();
        assert_eq!(
            migrate(&db, "2026-11-23T08:00:00Z").unwrap(),
            CURRENT_VERSION
        );
        // Every statement is idempotent: a second instance racing the first
        // (simulated by re-running every statement) changes nothing.
        for (_, statements) in MIGRATIONS {
            for sql in statements.iter() {
                db.execute(sql, &[]).unwrap();
            }
        }
        assert_eq!(
            migrate(&db, "2026-11-24T08:00:00Z").unwrap(),
            CURRENT_VERSION
        );
        assert_eq!(
            applied_at(&db, 1).unwrap().as_deref(),
            Some("2026-11-23T08:00:00Z")
        );
        let triggers = db
            .execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name",
                &[],
            )
            .unwrap();
        assert_eq!(triggers.len(), 6);
    }
}
