//! Between [`AuditRecord`] and a row of `audit_records` (DDL in
//! `store::schema`): one column list, one encoder, one decoder, shared by
//! append, the readers and verify.

use std::time::SystemTime;

use serde_json::Value;
use time::OffsetDateTime;

use super::canonical::canonical_json;
use super::record::{AuditEntry, AuditRecord, Outcome};
use crate::ports::{HostError, SqlValue};

/// Every column, in the order [`StoredRow::decode`] reads them.
pub(super) const COLUMNS: &str = "seq, audit_id, time, caller, operation, user_json, user_id, \
    user_upn, ticket, reason, outcome, status, code, details, request_id, verification, \
    prev_hash, hash, operator_json";

/// The records with their operators (`audit_operators`, one row per record
/// made with a delegated token).
pub(super) const RECORDS: &str = "audit_records LEFT JOIN audit_operators USING (seq)";

pub(super) const INSERT_OPERATOR: &str =
    "INSERT INTO audit_operators (seq, operator_json, upn, oid) VALUES (?, ?, ?, ?)";

/// The `audit_operators` row of `record` at `seq`, if it has an operator.
pub(super) fn operator_params(seq: i64, record: &AuditRecord) -> Option<Vec<SqlValue>> {
    let o = record.entry.operator.as_ref()?;
    let json = serde_json::to_value(o).ok()?;
    let lower = |s: &Option<String>| s.as_ref().map(|v| v.to_lowercase());
    Some(vec![
        SqlValue::Integer(seq),
        SqlValue::Text(canonical_json(&json)),
        text(&lower(&o.upn)),
        text(&lower(&o.oid)),
    ])
}

pub(super) const INSERT: &str = "INSERT INTO audit_records (seq, audit_id, time, caller, \
    operation, user_json, user_id, user_upn, ticket, reason, outcome, status, code, details, \
    request_id, verification, prev_hash, hash) \
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// Whether the audit table does not exist yet (a deployment's first
/// request): readers answer "nothing", `append` migrates.
pub(super) fn missing_table(e: &HostError) -> bool {
    e.0.contains("no such table: audit_")
}

/// `2026-11-23T08:00:00.123Z`: UTC, milliseconds, always 24 characters, so
/// the `time` column sorts as text in time order.
/// `t` must already be in UTC.
pub(super) fn format_time(t: OffsetDateTime) -> String {
    crate::types::utc_millis(t)
}

pub(super) fn now(t: SystemTime) -> String {
    format_time(OffsetDateTime::from(t))
}

/// The `user` filter's keys: the summary's `id` and `userPrincipalName`
/// lower-cased (a raw reference string serves as both), so matching is
/// case-insensitive without relying on SQLite's ASCII-only `lower()`.
pub(super) fn user_keys(user: Option<&Value>) -> (Option<String>, Option<String>) {
    let lower = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_lowercase);
    match user {
        Some(Value::String(raw)) => (Some(raw.to_lowercase()), Some(raw.to_lowercase())),
        Some(Value::Object(summary)) => (
            lower(summary.get("id")),
            lower(summary.get("userPrincipalName")),
        ),
        _ => (None, None),
    }
}

fn text(s: &Option<String>) -> SqlValue {
    s.clone().map_or(SqlValue::Null, SqlValue::Text)
}

/// The INSERT parameters for `record` at `seq`.
pub(super) fn params(seq: i64, record: &AuditRecord) -> Vec<SqlValue> {
    let e = &record.entry;
    let (user_id, user_upn) = user_keys(e.user.as_ref());
    vec![
        SqlValue::Integer(seq),
        SqlValue::Text(record.audit_id.clone()),
        SqlValue::Text(record.time.clone()),
        SqlValue::Text(e.caller.clone()),
        SqlValue::Text(e.operation.clone()),
        text(&e.user.as_ref().map(canonical_json)),
        text(&user_id),
        text(&user_upn),
        text(&e.ticket),
        text(&e.reason),
        SqlValue::Text(e.outcome.as_str().into()),
        SqlValue::Integer(e.status.into()),
        text(&e.code),
        SqlValue::Text(canonical_json(&e.details)),
        SqlValue::Text(e.request_id.clone()),
        text(&e.verification.as_ref().map(canonical_json)),
        SqlValue::Text(record.prev_hash.clone()),
        SqlValue::Text(record.hash.clone()),
    ]
}

/// A row as stored, before it is trusted to be a record.
pub(super) struct StoredRow {
    pub seq: i64,
    /// Rendered whatever the stored type, so a broken row can be named.
    pub audit_id: String,
    pub hash: String,
    /// The record, or why the row does not read as one.
    pub record: Result<AuditRecord, String>,
}

impl StoredRow {
    pub fn decode(row: &[SqlValue]) -> Result<StoredRow, HostError> {
        if row.len() != 19 {
            return Err(HostError(format!(
                "expected 19 audit columns, got {}",
                row.len()
            )));
        }
        let seq = match row[0] {
            SqlValue::Integer(i) => i,
            _ => return Err(HostError("audit seq is not an integer".into())),
        };
        let user_id = opt_text(&row[6], "user_id");
        let user_upn = opt_text(&row[7], "user_upn");
        Ok(StoredRow {
            seq,
            audit_id: lossy(&row[1]),
            hash: lossy(&row[17]),
            record: record(row).and_then(|r| {
                // Derived keys that disagree with `user_json` were edited.
                let derived = user_keys(r.entry.user.as_ref());
                (derived == (user_id?, user_upn?))
                    .then_some(r)
                    .ok_or_else(|| "user_id/user_upn do not match user_json".to_string())
            }),
        })
    }

    /// The record, for readers: a broken row is an error, not a guess.
    pub fn into_record(self) -> Result<AuditRecord, super::AuditError> {
        let audit_id = self.audit_id;
        self.record
            .map_err(|what| super::AuditError::Corrupt { audit_id, what })
    }
}

fn record(row: &[SqlValue]) -> Result<AuditRecord, String> {
    let outcome = req_text(&row[10], "outcome")?;
    let status = match row[11] {
        SqlValue::Integer(i) => u16::try_from(i).map_err(|_| "status is out of range")?,
        _ => return Err("status is not an integer".into()),
    };
    Ok(AuditRecord {
        audit_id: req_text(&row[1], "audit_id")?,
        time: req_text(&row[2], "time")?,
        entry: AuditEntry {
            caller: req_text(&row[3], "caller")?,
            operation: req_text(&row[4], "operation")?,
            user: opt_json(&row[5], "user_json")?,
            ticket: opt_text(&row[8], "ticket")?,
            reason: opt_text(&row[9], "reason")?,
            outcome: Outcome::parse(&outcome).ok_or("outcome is not a known outcome")?,
            status,
            code: opt_text(&row[12], "code")?,
            details: opt_json(&row[13], "details")?.ok_or("details is null")?,
            request_id: req_text(&row[14], "request_id")?,
            verification: opt_json(&row[15], "verification")?,
            operator: opt_json(&row[18], "operator_json")?
                .map(serde_json::from_value)
                .transpose()
                .map_err(|_| "operator_json is not an operator")?,
        },
        prev_hash: req_text(&row[16], "prev_hash")?,
        hash: req_text(&row[17], "hash")?,
    })
}

fn lossy(v: &SqlValue) -> String {
    match v {
        SqlValue::Null => String::new(),
        SqlValue::Integer(i) => i.to_string(),
        SqlValue::Real(f) => f.to_string(),
        SqlValue::Text(s) => s.clone(),
        SqlValue::Blob(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

fn opt_text(v: &SqlValue, column: &str) -> Result<Option<String>, String> {
    match v {
        SqlValue::Null => Ok(None),
        SqlValue::Text(s) => Ok(Some(s.clone())),
        _ => Err(format!("{column} is not text")),
    }
}

fn req_text(v: &SqlValue, column: &str) -> Result<String, String> {
    opt_text(v, column)?.ok_or_else(|| format!("{column} is null"))
}

fn opt_json(v: &SqlValue, column: &str) -> Result<Option<Value>, String> {
    opt_text(v, column)?
        .map(|s| serde_json::from_str(&s).map_err(|_| format!("{column} is not JSON")))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    #[test]
    fn time_is_fixed_width_utc_milliseconds() {
        assert_eq!(
            format_time(datetime!(2026-11-23 08:00:00.123456 UTC)),
            "2026-11-23T08:00:00.123Z"
        );
        assert_eq!(
            format_time(datetime!(2026-01-02 03:04:05 UTC)),
            "2026-01-02T03:04:05.000Z"
        );
    }

    #[test]
    fn user_keys_are_lowercased_id_and_upn() {
        let summary =
            json!({ "id": "ABC", "userPrincipalName": "Jo@Contoso.com", "displayName": "Jo" });
        assert_eq!(
            user_keys(Some(&summary)),
            (Some("abc".into()), Some("jo@contoso.com".into()))
        );
        assert_eq!(
            user_keys(Some(&json!("Ünïcode@X.com"))),
            (Some("ünïcode@x.com".into()), Some("ünïcode@x.com".into()))
        );
        assert_eq!(user_keys(None), (None, None));
    }
}
