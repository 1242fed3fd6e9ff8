//! The audit trail as a mutation sees it: one handle over the database,
//! clock, entropy and the deployment's `audit_key`.
//!
//! A mutation that goes on to Graph is recorded in two steps (API.md
//! "Mutations"): [`Trail::begin`] writes the attempt to the write-ahead
//! journal (`audit_attempts`) before the first Graph call, so a trail that
//! cannot be written stops the change before it starts; [`Trail::complete`]
//! appends the chained record under the same audit id and clears the
//! journal row in the same transaction. A journal row left behind names an attempt whose end was
//! never recorded. A request refused before that point writes one chained
//! record with [`Trail::append`].

use std::time::Duration;

use super::id::new_audit_id;
use super::{row, AuditEntry, AuditError, AuditRecord, Keying};
use crate::config::Config;
use crate::ports::{Clock, Database, Entropy, Host, HostError, SqlValue};
use crate::store::schema;
use crate::types::rfc3339;

pub struct Trail<'a> {
    db: &'a dyn Database,
    clock: &'a dyn Clock,
    entropy: &'a dyn Entropy,
    key: Option<&'a [u8]>,
}

impl<'a> Trail<'a> {
    pub fn new(host: &Host<'a>, config: &'a Config) -> Trail<'a> {
        Trail {
            db: host.db,
            clock: host.clock,
            entropy: host.entropy,
            key: config.audit_key.as_ref().map(|k| k.expose().as_slice()),
        }
    }

    /// How the chain is hashed: under `audit_key` when it is set.
    pub fn keying(&self) -> Keying<'a> {
        Keying::from_key(self.key)
    }

    /// One finished record.
    pub fn append(&self, entry: AuditEntry) -> Result<AuditRecord, AuditError> {
        super::append(self.db, self.clock, self.entropy, self.keying(), entry)
    }

    /// Journals an attempt before its first Graph call; returns the audit id
    /// its record will carry.
    pub fn begin(&self, entry: AuditEntry) -> Result<String, AuditError> {
        let id = new_audit_id(self.entropy);
        // Redacted like a chained record: the journal is no place for a secret.
        let entry = super::append::prepare(entry);
        let json = serde_json::to_string(&entry).unwrap_or_default();
        let params = [
            SqlValue::Text(id.clone()),
            SqlValue::Text(row::now(self.clock.now())),
            SqlValue::Text(entry.caller),
            SqlValue::Text(entry.operation),
            SqlValue::Text(entry.request_id),
            SqlValue::Text(json),
        ];
        let insert = || -> Result<(), HostError> {
            self.db.execute(
                "INSERT INTO audit_attempts (audit_id, time, caller, operation, request_id, entry)
                 VALUES (?, ?, ?, ?, ?, ?)",
                &params,
            )?;
            Ok(())
        };
        match insert() {
            Err(e) if row::missing_table(&e) => {
                schema::migrate(self.db, &rfc3339(self.clock.now()))?;
                insert()?;
            }
            other => other?,
        }
        Ok(id)
    }

    /// Appends the attempt's chained record (how it ended) under its audit
    /// id, then clears its journal row.
    pub fn complete(&self, attempt_id: &str, entry: AuditEntry) -> Result<AuditRecord, AuditError> {
        super::append::append_as(self.db, self.clock, self.keying(), attempt_id, entry)
    }

    /// Attempts journaled at least `age` ago and never completed, oldest
    /// first. With an `age` past the request budget, none is still running:
    /// each is an instance that died mid-request, to be looked up in Graph's
    /// own audit log by its request id.
    pub fn unfinished(&self, age: Duration) -> Result<Vec<Unfinished>, AuditError> {
        let before = row::now(self.clock.now() - age);
        let rows = match self.db.execute(
            "SELECT audit_id, time, operation, request_id FROM audit_attempts
             WHERE time <= ? ORDER BY time",
            &[SqlValue::Text(before)],
        ) {
            Err(e) if row::missing_table(&e) => return Ok(vec![]),
            other => other?,
        };
        Ok(rows
            .into_iter()
            .filter_map(|r| match r.as_slice() {
                [SqlValue::Text(a), SqlValue::Text(t), SqlValue::Text(o), SqlValue::Text(q)] => {
                    Some(Unfinished {
                        audit_id: a.clone(),
                        time: t.clone(),
                        operation: o.clone(),
                        request_id: q.clone(),
                    })
                }
                _ => None,
            })
            .collect())
    }
}

/// A journaled attempt whose end was never recorded.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unfinished {
    pub audit_id: String,
    pub time: String,
    pub operation: String,
    pub request_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::fixtures::entry;
    use crate::testing::World;

    #[test]
    fn an_attempt_is_journaled_then_recorded_under_its_id() {
        let w = World::configured();
        let config = Config::load(&w.vars).unwrap();
        let host = w.host();
        let trail = Trail::new(&host, &config);
        let id = trail.begin(entry(1)).unwrap();
        assert_eq!(trail.unfinished(Duration::ZERO).unwrap().len(), 1);
        assert_eq!(trail.unfinished(Duration::ZERO).unwrap()[0].audit_id, id);
        // Younger than the age asked about: still running, not listed.
        assert!(trail
            .unfinished(Duration::from_secs(60))
            .unwrap()
            .is_empty());
        let record = trail.complete(&id, entry(1)).unwrap();
        assert_eq!(record.audit_id, id);
        assert!(trail.unfinished(Duration::ZERO).unwrap().is_empty());
        let got = crate::audit::get(&w.db, &id).unwrap().unwrap();
        assert_eq!(got.hash, record.hash);
        assert!(crate::audit::fixtures::check(&w.db).ok);

        // What the journal keeps is redacted like the chain.
        let mut e = entry(2);
        e.reason = Some("lost phone; password=Hunter2-Secret".into());
        let _ = trail.begin(e).unwrap();
        let rows =
            w.db.execute("SELECT entry FROM audit_attempts", &[])
                .unwrap();
        let text = format!("{rows:?}");
        assert!(!text.contains("Hunter2-Secret"), "{text}");
    }
}
