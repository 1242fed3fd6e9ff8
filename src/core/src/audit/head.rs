//! `GET /v1/audit/head`: the newest record's place in the chain, signed
//! under `audit_key`, for a SIEM (or a ticket) to keep. A kept head later
//! given to `verify?head=` proves the chain still runs through it, which
//! catches what a chain alone cannot: deletion of the newest records.
//!
//! ```text
//! signature = lowercase_hex( HMAC-SHA256( audit_key,
//!     "mfa-recovery audit head v1" \n seq \n auditId \n hash \n time ) )
//! ```
//!
//! `seq` in decimal; an empty chain's head is `seq` 0 with the genesis hash
//! and empty `auditId` and `time` in the signed text. Without `audit_key`
//! the head is unsigned (`signature: null`): it still anchors truncation,
//! but whoever can write the database could also have served it.

use serde::Serialize;

use super::canonical::{Keying, GENESIS};
use super::row;
use super::AuditError;
use crate::ports::{Database, SqlValue};

const PURPOSE: &str = "mfa-recovery audit head v1";

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Head {
    pub seq: i64,
    pub audit_id: Option<String>,
    pub hash: String,
    pub time: Option<String>,
    pub signature: Option<String>,
}

impl Head {
    /// The signature this head should carry under `keying`.
    pub fn expected_signature(&self, keying: Keying<'_>) -> Option<String> {
        keying.mac(&[
            PURPOSE,
            &self.seq.to_string(),
            self.audit_id.as_deref().unwrap_or(""),
            &self.hash,
            self.time.as_deref().unwrap_or(""),
        ])
    }
}

pub fn head(db: &dyn Database, keying: Keying<'_>) -> Result<Head, AuditError> {
    let rows = match db.execute(
        "SELECT seq, audit_id, hash, time FROM audit_records ORDER BY seq DESC LIMIT 1",
        &[],
    ) {
        Err(e) if row::missing_table(&e) => Vec::new(),
        other => other?,
    };
    let mut head = match rows.first().map(Vec::as_slice) {
        None => Head {
            seq: 0,
            audit_id: None,
            hash: GENESIS.to_string(),
            time: None,
            signature: None,
        },
        Some(
            [SqlValue::Integer(seq), SqlValue::Text(id), SqlValue::Text(hash), SqlValue::Text(time)],
        ) => Head {
            seq: *seq,
            audit_id: Some(id.clone()),
            hash: hash.clone(),
            time: Some(time.clone()),
            signature: None,
        },
        Some(_) => {
            return Err(AuditError::Corrupt {
                audit_id: "head".into(),
                what: "the newest row does not read as a head".into(),
            })
        }
    };
    head.signature = head.expected_signature(keying);
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::fixtures::{append_n, migrated};
    use crate::testing::World;

    #[test]
    fn the_head_is_the_newest_record_signed_under_the_key() {
        let key = Keying::Keyed(b"k-0123456789abcdef0123456789abcdef");
        assert_eq!(
            head(&World::default().db, key).unwrap(),
            Head {
                seq: 0,
                audit_id: None,
                hash: GENESIS.into(),
                time: None,
                signature: key.mac(&[PURPOSE, "0", "", GENESIS, ""]),
            }
        );
        let w = migrated();
        let all = append_n(&w, 3);
        let h = head(&w.db, key).unwrap();
        assert_eq!((h.seq, h.hash.as_str()), (3, all[2].hash.as_str()));
        assert_eq!(h.audit_id.as_deref(), Some(all[2].audit_id.as_str()));
        let sig = h.signature.clone().unwrap();
        assert_eq!(sig.len(), 64);
        assert_eq!(
            Some(sig),
            key.mac(&[PURPOSE, "3", &all[2].audit_id, &all[2].hash, &all[2].time])
        );
        // Another key signs differently; no key, no signature.
        assert_ne!(
            h.signature,
            head(&w.db, Keying::Keyed(b"another key of at least 32 chars!!"))
                .unwrap()
                .signature
        );
        assert_eq!(head(&w.db, Keying::Plain).unwrap().signature, None);
    }
}
