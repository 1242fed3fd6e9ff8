//! `GET /v1/audit/verify`: re-walk the chain from the first record and say
//! whether every record still hashes to its stored `hash` and names its
//! predecessor's.
//!
//! What it catches: an edited column (the record no longer hashes to its
//! `hash`, or its derived user keys disagree), a deleted or reordered record
//! (its successor's `prevHash` no longer matches), an inserted record. What
//! no hash chain alone catches: removing the newest records, or rewriting
//! every record from some point to the end; keep the last `hash` elsewhere
//! (a ticket, a log) to anchor it.

use serde::Serialize;

use super::canonical::GENESIS;
use super::row::{self, StoredRow, COLUMNS};
use super::AuditError;
use crate::ports::{Database, SqlValue};

/// Rows read per statement, so memory stays flat on a long trail.
const BATCH: i64 = 500;

/// `{ "ok", "records", "firstBadAuditId"? }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub ok: bool,
    /// Records walked (all of them, including any after the first bad one).
    pub records: u64,
    /// The first record, in chain order, that fails its check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad_audit_id: Option<String>,
}

pub fn verify(db: &dyn Database) -> Result<VerifyReport, AuditError> {
    let sql = format!("SELECT {COLUMNS} FROM audit_records WHERE seq > ? ORDER BY seq LIMIT ?");
    let mut expected_prev = GENESIS.to_string();
    let mut after = i64::MIN;
    let mut records = 0u64;
    let mut first_bad = None;
    loop {
        let rows = match db.execute(&sql, &[SqlValue::Integer(after), SqlValue::Integer(BATCH)]) {
            Err(e) if row::missing_table(&e) => Vec::new(),
            other => other?,
        };
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            let stored = StoredRow::decode(r)?;
            records += 1;
            after = stored.seq;
            let good = stored
                .record
                .as_ref()
                .is_ok_and(|rec| rec.prev_hash == expected_prev && rec.computed_hash() == rec.hash);
            if !good && first_bad.is_none() {
                first_bad = Some(stored.audit_id.clone());
            }
            // Link to what is stored: after an edited record, its successor
            // still names the stored hash and is judged on its own.
            expected_prev = stored.hash;
        }
    }
    Ok(VerifyReport {
        ok: first_bad.is_none(),
        records,
        first_bad_audit_id: first_bad,
    })
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use serde_json::json;

    use super::*;
    use crate::audit::fixtures::{append_n, entry, migrated, Seeded};
    use crate::testing::World;

    fn unlock(w: &World) {
        for t in ["audit_records_no_update", "audit_records_no_delete"] {
            w.db.execute(&format!("DROP TRIGGER {t}"), &[]).unwrap();
        }
    }

    fn bad(w: &World) -> VerifyReport {
        let r = verify(&w.db).unwrap();
        assert!(!r.ok);
        r
    }

    #[test]
    fn the_triggers_refuse_update_and_delete() {
        let w = migrated();
        append_n(&w, 2);
        for sql in [
            "UPDATE audit_records SET ticket = 'X' WHERE seq = 1",
            "DELETE FROM audit_records WHERE seq = 2",
            "DELETE FROM audit_records",
        ] {
            let err = w.db.execute(sql, &[]).unwrap_err();
            assert!(err.0.contains("append-only"), "{sql}: {err}");
        }
        assert_eq!(verify(&w.db).unwrap().records, 2);
    }

    #[test]
    fn an_edited_field_is_found() {
        for edit in [
            "UPDATE audit_records SET ticket = 'INC9999' WHERE seq = 3",
            "UPDATE audit_records SET outcome = 'failed' WHERE seq = 3",
            "UPDATE audit_records SET status = 200 WHERE seq = 3",
            "UPDATE audit_records SET time = '2026-11-23T07:00:00.000Z' WHERE seq = 3",
            "UPDATE audit_records SET details = '{\"methodId\":\"other\"}' WHERE seq = 3",
            "UPDATE audit_records SET details = 'not json' WHERE seq = 3",
            "UPDATE audit_records SET reason = NULL WHERE seq = 3",
            "UPDATE audit_records SET user_upn = 'someone@else' WHERE seq = 3",
            "UPDATE audit_records SET ticket = 42 WHERE seq = 3",
            "UPDATE audit_records SET hash = substr(hash, 2) || '0' WHERE seq = 3",
        ] {
            let w = migrated();
            let all = append_n(&w, 5);
            unlock(&w);
            w.db.execute(edit, &[]).unwrap();
            let r = bad(&w);
            assert_eq!(r.records, 5, "{edit}");
            assert_eq!(
                r.first_bad_audit_id.as_deref(),
                Some(all[2].audit_id.as_str()),
                "{edit}"
            );
        }
    }

    #[test]
    fn a_deleted_record_is_found_at_its_successor() {
        let w = migrated();
        let all = append_n(&w, 5);
        unlock(&w);
        w.db.execute("DELETE FROM audit_records WHERE seq = 3", &[])
            .unwrap();
        let r = bad(&w);
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({ "ok": false, "records": 4, "firstBadAuditId": all[3].audit_id })
        );

        // Deleting the first record breaks the genesis link.
        let w = migrated();
        let all = append_n(&w, 3);
        unlock(&w);
        w.db.execute("DELETE FROM audit_records WHERE seq = 1", &[])
            .unwrap();
        assert_eq!(bad(&w).first_bad_audit_id, Some(all[1].audit_id.clone()));
    }

    #[test]
    fn reordered_records_are_found() {
        let w = migrated();
        let all = append_n(&w, 4);
        unlock(&w);
        for sql in [
            "UPDATE audit_records SET seq = 100 WHERE seq = 2",
            "UPDATE audit_records SET seq = 2 WHERE seq = 3",
            "UPDATE audit_records SET seq = 3 WHERE seq = 100",
        ] {
            w.db.execute(sql, &[]).unwrap();
        }
        assert_eq!(bad(&w).first_bad_audit_id, Some(all[2].audit_id.clone()));
    }

    #[test]
    fn an_empty_or_missing_trail_verifies() {
        let expected = VerifyReport {
            ok: true,
            records: 0,
            first_bad_audit_id: None,
        };
        assert_eq!(verify(&World::default().db).unwrap(), expected);
        assert_eq!(verify(&migrated().db).unwrap(), expected);
    }

    #[test]
    fn walks_past_one_batch() {
        let w = migrated();
        let n = BATCH as usize + 3;
        let entropy = Seeded(Cell::new(42));
        for i in 0..n {
            crate::audit::append(&w.db, &w.clock, &entropy, entry(i)).unwrap();
        }
        let r = verify(&w.db).unwrap();
        assert!(r.ok, "{r:?}");
        assert_eq!(r.records, n as u64);
    }
}
