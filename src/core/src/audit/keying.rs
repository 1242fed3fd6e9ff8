//! Where each keyed stretch of a chain begins, and under which key.
//!
//! A deployment that sets `audit_key` after records were written keeps
//! those records as they are (plain SHA-256) and hashes every later one
//! under the key; one that rotates `audit_key` hashes every later record
//! under the new key. The seq where each stretch begins is stored in
//! `audit_keying` with a MAC under that stretch's key, so whoever can write
//! the database cannot move a boundary to pass off rewritten records as
//! "from before the key" or "under the old key": without a marker that
//! opens, every record must be keyed under the current key. A removed
//! marker therefore makes `verify` fail, never pass a forged record.
//! Records under an earlier key verify while that key is among
//! `audit_previous_keys`.

use super::canonical::Keying;
use super::row::{StoredRow, COLUMNS, RECORDS};
use crate::ports::{Database, HostError, SqlValue};

const PURPOSE: &str = "mfa-recovery audit keyed from v1";

fn marker_mac(keying: Keying<'_>, seq: i64) -> Option<String> {
    keying.mac(&[PURPOSE, &seq.to_string()])
}

/// Inside the append transaction of a keyed record at `head_seq + 1`:
/// records a boundary the first time the chain is appended to under this
/// key (the newest marker is another key's, or there is none). A chain
/// keyed from its first record gets the marker at seq 1.
pub(super) fn note_keyed_append(
    db: &dyn Database,
    keying: Keying<'_>,
    head_seq: i64,
) -> Result<(), HostError> {
    if !keying.is_keyed() {
        return Ok(());
    }
    let newest = db.execute(
        "SELECT seq, mac FROM audit_keying ORDER BY seq DESC LIMIT 1",
        &[],
    )?;
    if newest.first().is_some_and(|m| opens(m, keying).is_some()) {
        return Ok(());
    }
    if head_seq > 0 && head_is_keyed(db, keying, head_seq)? {
        // The marker was removed by someone else; without it `verify` holds
        // these records to an older stretch's rule, and fails them.
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

/// The seq of a marker row whose MAC opens under `keying`.
fn opens(row: &[SqlValue], keying: Keying<'_>) -> Option<i64> {
    match row {
        [SqlValue::Integer(seq), SqlValue::Text(mac)] => {
            let expected = marker_mac(keying, *seq)?;
            let same: bool =
                subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), mac.as_bytes()).into();
            same.then_some(*seq)
        }
        _ => None,
    }
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

/// Which rule holds each record: the stretches that begin at a marker
/// opening under the current key or a previous one.
#[derive(Clone, Debug)]
pub(super) struct Stretches<'a> {
    /// `(first seq, key, is the current key)`, by seq.
    starts: Vec<(i64, Keying<'a>, bool)>,
    current: Keying<'a>,
}

impl<'a> Stretches<'a> {
    /// The rule of record `seq`, and whether it is a previous key's.
    pub fn rule(&self, seq: i64) -> (Keying<'a>, bool) {
        if self.starts.is_empty() {
            // No marker opens: every record is held to the current key
            // (plain when there is none).
            return (self.current, false);
        }
        match self.starts.iter().rev().find(|(from, ..)| *from <= seq) {
            Some((_, k, current)) => (*k, !current),
            None => (Keying::Plain, false),
        }
    }

    /// How many records come before the first keyed stretch.
    pub fn plain_records(&self) -> i64 {
        self.starts.first().map_or(0, |(from, ..)| from - 1)
    }
}

/// The chain's stretches under the current key and the previous ones.
/// Unkeyed: every record is plain.
pub(super) fn stretches<'a>(
    db: &dyn Database,
    current: Keying<'a>,
    previous: &[&'a [u8]],
) -> Result<Stretches<'a>, HostError> {
    let mut out = Stretches {
        starts: Vec::new(),
        current,
    };
    if !current.is_keyed() {
        return Ok(out);
    }
    let rows = match db.execute("SELECT seq, mac FROM audit_keying ORDER BY seq", &[]) {
        Err(e) if super::row::missing_table(&e) => return Ok(out),
        other => other?,
    };
    let candidates: Vec<(Keying<'a>, bool)> = std::iter::once((current, true))
        .chain(previous.iter().map(|k| (Keying::Keyed(k), false)))
        .collect();
    for r in &rows {
        if let Some((seq, k, is_current)) = candidates
            .iter()
            .find_map(|(k, c)| opens(r, *k).map(|seq| (seq, *k, *c)))
        {
            out.starts.push((seq, k, is_current));
        }
    }
    Ok(out)
}
