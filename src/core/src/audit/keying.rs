//! Where the keyed part of a chain begins.
//!
//! A deployment that sets `audit_key` after records were written keeps
//! those records as they are (plain SHA-256) and hashes every later one
//! under the key. The seq of the first keyed record is stored in
//! `audit_keying` with a MAC under the key, so whoever can write the
//! database cannot move the boundary to pass off rewritten records as
//! "from before the key": without a marker that opens, every record must
//! be keyed. A removed marker therefore makes `verify` fail at the first
//! plain record, never pass a forged one.

use super::canonical::Keying;
use super::row::{StoredRow, COLUMNS, RECORDS};
use crate::ports::{Database, HostError, SqlValue};

const PURPOSE: &str = "mfa-recovery audit keyed from v1";

fn marker_mac(keying: Keying<'_>, seq: i64) -> Option<String> {
    keying.mac(&[PURPOSE, &seq.to_string()])
}

/// Inside the append transaction of a keyed record at `head_seq + 1`:
/// records the boundary the first time the chain is appended to under the
/// key. A chain keyed from its first record gets the marker at seq 1.
pub(super) fn note_keyed_append(
    db: &dyn Database,
    keying: Keying<'_>,
    head_seq: i64,
) -> Result<(), HostError> {
    if !keying.is_keyed() {
        return Ok(());
    }
    if !db
        .execute("SELECT seq FROM audit_keying LIMIT 1", &[])?
        .is_empty()
    {
        return Ok(());
    }
    if head_seq > 0 && head_is_keyed(db, keying, head_seq)? {
        // The marker was removed by someone else; without it `verify` holds
        // every record to the key, which keyed records satisfy.
        return Ok(());
    }
    let from = head_seq + 1;
    let mac = marker_mac(keying, from).unwrap_or_default();
    db.execute(
        "INSERT OR IGNORE INTO audit_keying (seq, mac) VALUES (?, ?)",
        &[SqlValue::Integer(from), SqlValue::Text(mac)],
    )?;
    Ok(())
}

fn head_is_keyed(db: &dyn Database, keying: Keying<'_>, seq: i64) -> Result<bool, HostError> {
    let rows = db.execute(
        &format!("SELECT {COLUMNS} FROM {RECORDS} WHERE seq = ?"),
        &[SqlValue::Integer(seq)],
    )?;
    Ok(match rows.first() {
        Some(r) => StoredRow::decode(r)?
            .record
            .is_ok_and(|rec| rec.computed_hash(keying) == rec.hash),
        None => false,
    })
}

/// The seq of the first record held to the key: the marker's, when its
/// MAC opens under `keying`, else 1 (every record). Unkeyed: `i64::MAX`
/// (no record is).
pub(super) fn keyed_from(db: &dyn Database, keying: Keying<'_>) -> Result<i64, HostError> {
    if !keying.is_keyed() {
        return Ok(i64::MAX);
    }
    let rows = match db.execute("SELECT seq, mac FROM audit_keying ORDER BY seq", &[]) {
        Err(e) if super::row::missing_table(&e) => return Ok(1),
        other => other?,
    };
    Ok(rows
        .iter()
        .find_map(|r| match r.as_slice() {
            [SqlValue::Integer(seq), SqlValue::Text(mac)] => {
                let expected = marker_mac(keying, *seq)?;
                let same: bool =
                    subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), mac.as_bytes()).into();
                same.then_some(*seq)
            }
            _ => None,
        })
        .unwrap_or(1))
}
