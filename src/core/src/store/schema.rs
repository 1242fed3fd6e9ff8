//! SQLite schema, created and migrated by the components themselves (a Spin
//! app has no deploy-time migration step). Every statement is idempotent, so
//! concurrent first requests on several instances cannot conflict.

use crate::ports::{Database, HostError, SqlValue};

/// Ordered migrations; a migration is never edited once shipped.
const MIGRATIONS: &[(i64, &str)] = &[(
    1,
    "CREATE TABLE IF NOT EXISTS audit_records (
        seq         INTEGER PRIMARY KEY,
        audit_id    TEXT NOT NULL UNIQUE,
        time        TEXT NOT NULL,
        caller      TEXT NOT NULL,
        operation   TEXT NOT NULL,
        user_ref    TEXT,
        ticket      TEXT,
        reason      TEXT,
        outcome     TEXT NOT NULL,
        status      INTEGER NOT NULL,
        code        TEXT,
        details     TEXT NOT NULL,
        request_id  TEXT NOT NULL,
        prev_hash   TEXT NOT NULL,
        hash        TEXT NOT NULL UNIQUE
    )",
)];

pub const CURRENT_VERSION: i64 = 1;

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
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > applied) {
        db.execute(sql, &[])?;
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
