//! `GET /v1/audit/verify`: re-walk the chain from the first record and say
//! whether every record still hashes to its stored `hash` and names its
//! predecessor's.
//!
//! What it catches: an edited column (the record no longer hashes to its
//! `hash`, or its derived user keys disagree), a deleted or reordered record
//! (its successor's `prevHash` no longer matches), an inserted record. With
//! `audit_key`, also a chain edited and recomputed by someone without the
//! key. What no chain alone catches: removing the newest records, or (with
//! no key) rewriting every record from some point to the end; a head kept
//! elsewhere (`GET /v1/audit/head` shipped to a SIEM) and checked with
//! `head=` catches both.
//!
//! A long chain is walked over several requests: each stops within
//! [`BUDGET`] (or after `limit` records) and hands back a `nextCursor` that
//! carries the walk's state; the last one answers for the whole chain.
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::canonical::{Keying, GENESIS};
use super::keying::stretches;
use super::row::{self, StoredRow, COLUMNS, RECORDS};
use super::AuditError;
use crate::api::query::{Query, QueryError};
use crate::ports::{Clock, Database, SqlValue};

/// Rows read per statement, so memory stays flat on a long trail.
const BATCH: i64 = 500;

/// Walking time per request: half the request's budget, so the answer (and
/// a slow database) fit in the rest.
pub const BUDGET: Duration = Duration::from_secs(10);

/// Most records one request walks when `limit` asks for fewer.
pub const MAX_LIMIT: u32 = 1_000_000;

/// The query of `GET /v1/audit/verify`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyQuery {
    /// Where a previous request stopped.
    pub cursor: Option<String>,
    /// A head hash kept elsewhere, lower-case hex: it must still be in the
    /// chain.
    pub head: Option<String>,
    /// Records to walk in this request at most.
    pub limit: Option<u32>,
}

fn invalid(field: &'static str, reason: &str) -> AuditError {
    AuditError::InvalidQuery {
        field,
        reason: reason.into(),
    }
}

impl VerifyQuery {
    pub const NAMES: [&'static str; 3] = ["cursor", "head", "limit"];

    /// Parses a URL query by [`Query`]'s rules.
    pub fn from_query(raw: &str) -> Result<VerifyQuery, QueryError> {
        let query = Query::parse(raw, &Self::NAMES)?;
        Ok(VerifyQuery {
            cursor: query.get("cursor").map(str::to_string),
            head: query.parsed("head", |v| {
                let hash = v.to_ascii_lowercase();
                if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                    Ok(hash)
                } else {
                    Err("is not a head hash (64 hex digits, the `hash` of GET /v1/audit/head)")
                }
            })?,
            limit: query
                .integer(
                    "limit",
                    1..=u64::from(MAX_LIMIT),
                    "must be an integer from 1 to 1000000",
                )?
                .map(|n| n as u32),
        })
    }
}

/// `{ "ok", "records", "firstBadAuditId"?, "keyed", "unkeyedRecords"?,
/// "previousKeyRecords"?, "head"?, "nextCursor"? }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// No break found in the records walked so far (all of them when there
    /// is no `nextCursor`), and the `head` asked about is in the chain.
    pub ok: bool,
    /// Records walked, in this request and those before it.
    pub records: u64,
    /// The first record, in chain order, that fails its check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad_audit_id: Option<String>,
    /// Whether the hashes were checked as HMACs under `audit_key`.
    pub keyed: bool,
    /// Records from before `audit_key` was set, checked as plain SHA-256.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unkeyed_records: u64,
    /// Records walked that are chained under an earlier key (one of
    /// `audit_previous_keys`): they stay verifiable while it is kept.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub previous_key_records: u64,
    /// The `head=` asked about, answered when the walk is complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<HeadCheck>,
    /// Present while records are left to walk: call again with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct HeadCheck {
    pub hash: String,
    /// Whether a record with that hash is still in the chain.
    pub found: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
}

/// What a walk carries from one request to the next (the cursor, opaque to
/// callers: base64url of this JSON). A caller who edits it only misleads
/// their own check.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Walk {
    /// Last seq walked.
    after: i64,
    /// The stored hash of that record: its successor must name it.
    prev: String,
    records: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    previous_key_records: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first_bad: Option<String>,
}

impl Walk {
    fn start() -> Walk {
        Walk {
            after: i64::MIN,
            prev: GENESIS.to_string(),
            ..Walk::default()
        }
    }

    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(cursor: &str) -> Result<Walk, AuditError> {
        URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|b| serde_json::from_slice::<Walk>(&b).ok())
            .filter(|w| w.prev.len() == 64)
            .ok_or_else(|| invalid("cursor", "is not a cursor from a previous verify"))
    }
}

pub fn verify(
    db: &dyn Database,
    clock: &dyn Clock,
    keying: Keying<'_>,
    previous: &[&[u8]],
    query: &VerifyQuery,
) -> Result<VerifyReport, AuditError> {
    let started = clock.now();
    let mut walk = match &query.cursor {
        Some(c) => Walk::decode(c)?,
        None => Walk::start(),
    };
    let stretches = stretches(db, keying, previous)?;
    let limit = query.limit.unwrap_or(MAX_LIMIT);
    let sql = format!("SELECT {COLUMNS} FROM {RECORDS} WHERE seq > ? ORDER BY seq LIMIT ?");
    let mut walked = 0u32;
    let mut more = false;
    loop {
        let out_of_time = clock.now().duration_since(started).unwrap_or_default() >= BUDGET;
        if walked >= limit || out_of_time {
            // Only worth a cursor if a record is left.
            more = !db
                .execute(
                    "SELECT 1 FROM audit_records WHERE seq > ? LIMIT 1",
                    &[SqlValue::Integer(walk.after)],
                )?
                .is_empty();
            break;
        }
        let batch = BATCH.min(i64::from(limit - walked));
        let rows = match db.execute(
            &sql,
            &[SqlValue::Integer(walk.after), SqlValue::Integer(batch)],
        ) {
            Err(e) if row::missing_table(&e) => Vec::new(),
            other => other?,
        };
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            let stored = StoredRow::decode(r)?;
            walked += 1;
            walk.records += 1;
            walk.after = stored.seq;
            // A record from before the key was set is held to plain SHA-256,
            // one from before a rotation to the key it was chained under.
            let (rule, previous_key) = stretches.rule(stored.seq);
            walk.previous_key_records += u64::from(previous_key);
            let good = stored
                .record
                .as_ref()
                .is_ok_and(|rec| rec.prev_hash == walk.prev && rec.computed_hash(rule) == rec.hash);
            if !good && walk.first_bad.is_none() {
                walk.first_bad = Some(stored.audit_id.clone());
            }
            // Link to what is stored: after an edited record, its successor
            // still names the stored hash and is judged on its own.
            walk.prev = stored.hash;
        }
    }
    let head = match (&query.head, more) {
        (Some(hash), false) => Some(find_head(db, hash)?),
        _ => None,
    };
    Ok(VerifyReport {
        ok: walk.first_bad.is_none() && head.as_ref().is_none_or(|h| h.found),
        records: walk.records,
        first_bad_audit_id: walk.first_bad.clone(),
        keyed: keying.is_keyed(),
        unkeyed_records: if keying.is_keyed() {
            u64::try_from(stretches.plain_records())
                .unwrap_or(0)
                .min(walk.records)
        } else {
            0
        },
        previous_key_records: walk.previous_key_records,
        head,
        next_cursor: more.then(|| walk.encode()),
    })
}

/// Whether a head kept elsewhere is still in the chain. Every record was
/// just walked and checked, so a record found by its hash is a checked one.
fn find_head(db: &dyn Database, hash: &str) -> Result<HeadCheck, AuditError> {
    let rows = match db.execute(
        "SELECT seq FROM audit_records WHERE hash = ?",
        &[SqlValue::Text(hash.to_string())],
    ) {
        Err(e) if row::missing_table(&e) => Vec::new(),
        other => other?,
    };
    let seq = rows.first().and_then(|r| match r.first() {
        Some(SqlValue::Integer(seq)) => Some(*seq),
        _ => None,
    });
    // The empty chain's head is the genesis hash.
    let found = seq.is_some() || hash == GENESIS;
    Ok(HeadCheck {
        hash: hash.to_string(),
        found,
        seq,
    })
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use serde_json::json;

    use super::*;
    use crate::audit::fixtures::{append_n, check, entry, migrated, Seeded};
    use crate::audit::AuditRecord;
    use crate::testing::{FixedClock, World};

    fn unlock(w: &World) {
        for t in ["audit_records_no_update", "audit_records_no_delete"] {
            w.db.execute(&format!("DROP TRIGGER IF EXISTS {t}"), &[])
                .unwrap();
        }
    }

    fn bad(w: &World) -> VerifyReport {
        let r = check(&w.db);
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
        assert_eq!(check(&w.db).records, 2);
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
            json!({ "ok": false, "records": 4, "firstBadAuditId": all[3].audit_id, "keyed": false })
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
            keyed: false,
            unkeyed_records: 0,
            previous_key_records: 0,
            head: None,
            next_cursor: None,
        };
        assert_eq!(check(&World::default().db), expected);
        assert_eq!(check(&migrated().db), expected);
    }

    #[test]
    fn walks_past_one_batch() {
        let w = migrated();
        let n = BATCH as usize + 3;
        let entropy = Seeded(Cell::new(42));
        for i in 0..n {
            crate::audit::append(&w.db, &w.clock, &entropy, Keying::Plain, entry(i)).unwrap();
        }
        let r = check(&w.db);
        assert!(r.ok, "{r:?}");
        assert_eq!(r.records, n as u64);
    }

    const KEY: Keying<'static> = Keying::Keyed(b"audit-key-0123456789abcdef0123456789");

    fn append_keyed(w: &World, keying: Keying<'_>, from: usize, n: usize) -> Vec<AuditRecord> {
        (from..from + n)
            .map(|i| crate::audit::append(&w.db, &w.clock, &w.entropy, keying, entry(i)).unwrap())
            .collect()
    }

    fn run(w: &World, keying: Keying<'_>, query: &str) -> VerifyReport {
        run_with(w, keying, &[], query)
    }

    fn run_with(w: &World, keying: Keying<'_>, previous: &[&[u8]], query: &str) -> VerifyReport {
        verify(
            &w.db,
            &w.clock,
            keying,
            previous,
            &VerifyQuery::from_query(query).unwrap(),
        )
        .unwrap()
    }

    /// What someone with write access but not the key can do: edit a
    /// record and recompute every hash from there on.
    fn rehash_from(w: &World, seq: i64, edit: &str) {
        unlock(w);
        w.db.execute(edit, &[]).unwrap();
        let rows =
            w.db.execute(
                &format!("SELECT {COLUMNS} FROM {RECORDS} WHERE seq >= ? ORDER BY seq"),
                &[SqlValue::Integer(seq)],
            )
            .unwrap();
        let mut prev = match w
            .db
            .execute(
                "SELECT hash FROM audit_records WHERE seq = ?",
                &[SqlValue::Integer(seq - 1)],
            )
            .unwrap()
            .first()
            .map(|r| r[0].clone())
        {
            Some(SqlValue::Text(h)) => h,
            _ => GENESIS.to_string(),
        };
        for r in &rows {
            let stored = StoredRow::decode(r).unwrap();
            let mut rec = stored.record.unwrap();
            rec.prev_hash = prev.clone();
            rec.hash = rec.computed_hash(Keying::Plain);
            w.db.execute(
                "UPDATE audit_records SET prev_hash = ?, hash = ? WHERE seq = ?",
                &[
                    SqlValue::Text(rec.prev_hash.clone()),
                    SqlValue::Text(rec.hash.clone()),
                    SqlValue::Integer(stored.seq),
                ],
            )
            .unwrap();
            prev = rec.hash;
        }
    }

    #[test]
    fn a_chain_rehashed_without_the_key_is_found_under_it() {
        let edit = "UPDATE audit_records SET ticket = 'INC-FORGED' WHERE seq = 3";
        // Unkeyed, the forgery passes: that is what the key is for.
        let w = migrated();
        append_keyed(&w, Keying::Plain, 0, 5);
        rehash_from(&w, 3, edit);
        assert!(check(&w.db).ok);

        let w = migrated();
        let all = append_keyed(&w, KEY, 0, 5);
        assert_eq!(
            run(&w, KEY, ""),
            VerifyReport {
                ok: true,
                records: 5,
                first_bad_audit_id: None,
                keyed: true,
                unkeyed_records: 0,
                previous_key_records: 0,
                head: None,
                next_cursor: None,
            }
        );
        rehash_from(&w, 3, edit);
        let r = run(&w, KEY, "");
        assert!(!r.ok);
        assert_eq!(
            r.first_bad_audit_id.as_deref(),
            Some(all[2].audit_id.as_str())
        );

        // Rewriting from the first record, or with the wrong key, is no better.
        let w = migrated();
        let all = append_keyed(&w, KEY, 0, 3);
        rehash_from(&w, 1, "UPDATE audit_records SET reason = 'x' WHERE seq = 1");
        assert_eq!(
            run(&w, KEY, "").first_bad_audit_id.as_deref(),
            Some(all[0].audit_id.as_str())
        );
        let w = migrated();
        append_keyed(&w, KEY, 0, 2);
        assert!(!run(&w, Keying::Keyed(b"some-other-key-0123456789abcdef012"), "").ok);
        // Without the key a keyed chain cannot be checked.
        assert!(!run(&w, Keying::Plain, "").ok);
    }

    #[test]
    fn a_key_set_later_keeps_the_plain_prefix_and_no_one_can_move_it() {
        let w = migrated();
        append_keyed(&w, Keying::Plain, 0, 3);
        let keyed = append_keyed(&w, KEY, 3, 2);
        let r = run(&w, KEY, "");
        assert!(r.ok, "{r:?}");
        assert_eq!((r.records, r.unkeyed_records, r.keyed), (5, 3, true));

        // The boundary cannot be moved past keyed records...
        unlock(&w);
        for t in ["audit_keying_no_update", "audit_keying_no_delete"] {
            w.db.execute(&format!("DROP TRIGGER IF EXISTS {t}"), &[])
                .unwrap();
        }
        w.db.execute("UPDATE audit_keying SET seq = 6", &[])
            .unwrap();
        rehash_from(
            &w,
            4,
            "UPDATE audit_records SET ticket = 'INC-FORGED' WHERE seq = 4",
        );
        let r = run(&w, KEY, "");
        assert!(!r.ok);
        // ...and without a marker that opens, every record is held to the key.
        assert_eq!(
            r.first_bad_audit_id,
            Some(
                crate::audit::list(
                    &w.db,
                    &crate::audit::AuditQuery::from_query("limit=1000").unwrap()
                )
                .unwrap()
                .records
                .last()
                .unwrap()
                .audit_id
                .clone()
            )
        );
        assert_ne!(
            r.first_bad_audit_id.as_deref(),
            Some(keyed[0].audit_id.as_str())
        );

        // A removed marker is not re-added at the wrong place: the next
        // keyed append after it finds its head keyed already.
        let w = migrated();
        append_keyed(&w, KEY, 0, 2);
        w.db.execute("DROP TRIGGER audit_keying_no_delete", &[])
            .unwrap();
        w.db.execute("DELETE FROM audit_keying", &[]).unwrap();
        append_keyed(&w, KEY, 2, 1);
        assert!(run(&w, KEY, "").ok);
        assert!(w
            .db
            .execute("SELECT * FROM audit_keying", &[])
            .unwrap()
            .is_empty());
    }

    const NEXT: &[u8] = b"audit-key-rotated-0123456789abcdef0123";

    #[test]
    fn a_rotated_key_keeps_the_old_records_verifiable_under_the_previous_key() {
        let w = migrated();
        append_keyed(&w, Keying::Plain, 0, 2);
        let old = append_keyed(&w, KEY, 2, 3);
        let Keying::Keyed(old_key) = KEY else {
            unreachable!()
        };
        // Rotated: the new key chains from here on.
        let new = append_keyed(&w, Keying::Keyed(NEXT), 5, 2);
        let r = run_with(&w, Keying::Keyed(NEXT), &[old_key], "");
        assert!(r.ok, "{r:?}");
        assert_eq!(
            (r.records, r.unkeyed_records, r.previous_key_records),
            (7, 2, 3)
        );
        // Without the previous key, its records cannot be checked: the walk
        // fails at the first of them, not at the new key's.
        let r = run(&w, Keying::Keyed(NEXT), "");
        assert!(!r.ok);
        assert_eq!(
            r.first_bad_audit_id.as_deref(),
            Some(old[0].audit_id.as_str())
        );
        // Rotating back to an older key marks a stretch of its own.
        append_keyed(&w, KEY, 7, 1);
        let r = run_with(&w, KEY, &[NEXT], "");
        assert!(r.ok, "{r:?}");
        assert_eq!(r.previous_key_records, 2);
        let markers =
            w.db.execute("SELECT seq FROM audit_keying ORDER BY seq", &[])
                .unwrap();
        assert_eq!(
            markers,
            vec![
                vec![SqlValue::Integer(3)],
                vec![SqlValue::Integer(6)],
                vec![SqlValue::Integer(8)]
            ]
        );

        // A removed boundary fails the records of the stretch, never passes
        // them: without the new key's marker they are held to the old key.
        unlock(&w);
        w.db.execute("DROP TRIGGER audit_keying_no_delete", &[])
            .unwrap();
        w.db.execute("DELETE FROM audit_keying WHERE seq = 6", &[])
            .unwrap();
        let r = run_with(&w, KEY, &[NEXT], "");
        assert!(!r.ok);
        assert_eq!(
            r.first_bad_audit_id.as_deref(),
            Some(new[0].audit_id.as_str())
        );
        // A marker MAC'd under neither key is no boundary either.
        w.db.execute(
            "INSERT INTO audit_keying (seq, mac) VALUES (6, ?)",
            &[SqlValue::Text("0".repeat(64))],
        )
        .unwrap();
        assert!(!run_with(&w, KEY, &[NEXT], "").ok);
    }

    #[test]
    fn a_stored_head_proves_the_newest_records_are_still_there() {
        let w = migrated();
        append_keyed(&w, KEY, 0, 4);
        let kept = crate::audit::head(&w.db, KEY).unwrap();
        let r = run(&w, KEY, &format!("head={}", kept.hash.to_uppercase()));
        assert!(r.ok);
        assert_eq!(
            r.head,
            Some(HeadCheck {
                hash: kept.hash.clone(),
                found: true,
                seq: Some(4)
            })
        );
        // Later records do not hide it.
        append_keyed(&w, KEY, 4, 2);
        assert!(run(&w, KEY, &format!("head={}", kept.hash)).ok);

        // Truncation: the newest records deleted. The chain that is left
        // verifies on its own; the kept head does not.
        let w = migrated();
        append_keyed(&w, KEY, 0, 4);
        let kept = crate::audit::head(&w.db, KEY).unwrap();
        unlock(&w);
        w.db.execute("DELETE FROM audit_records WHERE seq >= 3", &[])
            .unwrap();
        assert!(run(&w, KEY, "").ok);
        let r = run(&w, KEY, &format!("head={}", kept.hash));
        assert!(!r.ok);
        assert_eq!(r.first_bad_audit_id, None);
        assert_eq!(
            r.head,
            Some(HeadCheck {
                hash: kept.hash,
                found: false,
                seq: None
            })
        );
    }

    #[test]
    fn a_long_walk_resumes_with_its_cursor() {
        let w = migrated();
        let all = append_keyed(&w, KEY, 0, 7);
        let head = crate::audit::head(&w.db, KEY).unwrap().hash;
        let mut query = format!("limit=3&head={head}");
        let mut pages = Vec::new();
        loop {
            let r = run(&w, KEY, &query);
            pages.push(r.clone());
            match r.next_cursor {
                Some(c) => query = format!("limit=3&head={head}&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(
            pages.iter().map(|p| p.records).collect::<Vec<_>>(),
            [3, 6, 7]
        );
        assert!(pages.iter().all(|p| p.ok));
        assert!(pages[..2].iter().all(|p| p.head.is_none()));
        assert_eq!(pages[2].head.as_ref().map(|h| h.found), Some(true));

        // A break before the cursor is carried to the last page; one after
        // it is found there.
        unlock(&w);
        w.db.execute("UPDATE audit_records SET ticket = 'X' WHERE seq = 2", &[])
            .unwrap();
        let first = run(&w, KEY, "limit=3");
        assert!(!first.ok);
        let last = run(&w, KEY, &format!("cursor={}", first.next_cursor.unwrap()));
        assert_eq!((last.ok, last.records), (false, 7));
        assert_eq!(
            last.first_bad_audit_id.as_deref(),
            Some(all[1].audit_id.as_str())
        );
        // A record deleted at the boundary while the walk is paused.
        let w = migrated();
        append_keyed(&w, KEY, 0, 6);
        let first = run(&w, KEY, "limit=3");
        unlock(&w);
        w.db.execute("DELETE FROM audit_records WHERE seq = 4", &[])
            .unwrap();
        let last = run(&w, KEY, &format!("cursor={}", first.next_cursor.unwrap()));
        assert!(!last.ok);
    }

    /// A clock that moves 4 s every time it is read: the walk stops
    /// at its budget.
    struct Slow(Cell<std::time::SystemTime>);
    impl Clock for Slow {
        fn now(&self) -> std::time::SystemTime {
            let t = self.0.get() + Duration::from_secs(4);
            self.0.set(t);
            t
        }
        fn sleep(&self, _: Duration) {}
    }

    #[test]
    fn the_walk_stops_within_its_budget() {
        let w = migrated();
        let n = 6 * BATCH as usize;
        let entropy = Seeded(Cell::new(7));
        for i in 0..n {
            crate::audit::append(&w.db, &w.clock, &entropy, Keying::Plain, entry(i)).unwrap();
        }
        let clock = Slow(Cell::new(std::time::SystemTime::UNIX_EPOCH));
        let mut cursor = None;
        let mut requests = 0;
        let last = loop {
            requests += 1;
            let q = VerifyQuery {
                cursor: cursor.take(),
                ..VerifyQuery::default()
            };
            let r = verify(&w.db, &clock, Keying::Plain, &[], &q).unwrap();
            match r.next_cursor.clone() {
                Some(c) => cursor = Some(c),
                None => break r,
            }
        };
        assert!(requests > 1, "one request walked it all");
        assert_eq!((last.ok, last.records), (true, n as u64));
    }

    #[test]
    fn the_query_is_checked() {
        for (raw, field) in [
            ("head=abc", "head"),
            (&format!("head={}", "g".repeat(64)) as &str, "head"),
            ("limit=0", "limit"),
            ("limit=x", "limit"),
            ("limit=1&limit=2", "limit"),
            ("cursor=%%%", "cursor"),
        ] {
            let named = match VerifyQuery::from_query(raw) {
                Ok(q) => match verify(
                    &migrated().db,
                    &FixedClock::default(),
                    Keying::Plain,
                    &[],
                    &q,
                ) {
                    Err(AuditError::InvalidQuery { field, .. }) => field.to_string(),
                    other => format!("{other:?}"),
                },
                Err(e) => e.field().to_string(),
            };
            assert_eq!(named, field, "{raw}");
        }
        assert!(matches!(
            VerifyQuery::from_query("since=x"),
            Err(e @ QueryError::Unknown { .. }) if e.field() == "since"
        ));
        assert_eq!(
            VerifyQuery::from_query("head=&limit=").unwrap(),
            VerifyQuery::default()
        );
        let c = URL_SAFE_NO_PAD.encode(b"{\"after\":1}");
        assert!(verify(
            &migrated().db,
            &FixedClock::default(),
            Keying::Plain,
            &[],
            &VerifyQuery {
                cursor: Some(c),
                ..Default::default()
            }
        )
        .is_err());
    }
}
