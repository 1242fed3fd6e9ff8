//! The audit trail as a mutation sees it: one handle over the database,
//! clock, entropy and the deployment's `audit_key`.
//!
//! A mutation that reaches Graph writes its record in two steps (API.md
//! "Mutations"): [`Trail::begin`] before the first Graph call (nothing is
//! changed if it cannot be written), [`Trail::complete`] after. A request
//! refused before that point writes one finished record with
//! [`Trail::append`].

use super::{AuditEntry, AuditError, AuditRecord};
use crate::config::Config;
use crate::ports::{Clock, Database, Entropy, Host};

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

    /// Whether the chain is keyed (`audit_key` set).
    pub fn keyed(&self) -> bool {
        self.key.is_some()
    }

    /// One finished record.
    pub fn append(&self, entry: AuditEntry) -> Result<AuditRecord, AuditError> {
        super::append(self.db, self.clock, self.entropy, entry)
    }

    /// The record of an attempt, before its first Graph call
    /// (`entry.outcome` is `Pending`).
    pub fn begin(&self, entry: AuditEntry) -> Result<AuditRecord, AuditError> {
        super::append(self.db, self.clock, self.entropy, entry)
    }

    /// Completes the attempt `attempt_id` with how it ended.
    pub fn complete(
        &self,
        attempt_id: &str,
        mut entry: AuditEntry,
    ) -> Result<AuditRecord, AuditError> {
        if let Some(d) = entry.details.as_object_mut() {
            d.insert("attemptAuditId".into(), attempt_id.into());
        }
        super::append(self.db, self.clock, self.entropy, entry)
    }
}
