//! The audit record: what an operation hands over ([`AuditEntry`]) and what
//! the trail stores and serves ([`AuditRecord`]), in the contract's
//! camelCase shape (API.md "GET /v1/audit").

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::canonical::{chain_hash, Keying};
use crate::auth::entra::Operator;

/// How the request ended, as the contract spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed,
    Refused,
    DryRun,
    // An attempt journaled before its first Graph call (see `Trail`);
    // never in the chain.
    Pending,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Refused => "refused",
            Outcome::DryRun => "dry_run",
            Outcome::Pending => "pending",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        [
            Outcome::Succeeded,
            Outcome::Failed,
            Outcome::Refused,
            Outcome::DryRun,
            Outcome::Pending,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// One mutation's account, as the operation knows it. It must never carry a
/// pass, token or key; `append` redacts defensively anyway
/// (see `redact`).
///
/// JSON values, not typed structs, for `user`, `details` and `verification`:
/// a record is history and must still read (and re-hash) after those types
/// evolve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// The caller id from configuration (API key or webhook caller).
    pub caller: String,
    /// `tap`, `reset`, `phone`, `notify`, …: the component id.
    pub operation: String,
    /// `{ id, userPrincipalName, displayName }` once resolved; the raw user
    /// reference (a JSON string) when it was not; `null` when there was none.
    #[serde(default)]
    pub user: Option<Value>,
    #[serde(default)]
    pub ticket: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    pub outcome: Outcome,
    /// The HTTP status answered.
    pub status: u16,
    /// The contract `code` when the answer was a problem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Operation-specific facts (method ids, lifetimes, who was notified);
    /// always an object.
    pub details: Value,
    /// `X-Request-Id`, also Graph's `client-request-id`.
    pub request_id: String,
    /// The `verification` evidence the caller sent: how the helpdesk
    /// checked who was asking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Value>,
    /// The person who acted, for a request made with a delegated Entra ID
    /// token (`{ upn, oid }`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<Operator>,
}

/// A stored record. Serialises as
/// `{ "auditId", "time", "caller", "operation", "user", "ticket", "reason",
/// "outcome", "status", "code"?, "details", "requestId", "verification"?,
/// "prevHash", "hash" }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// `aud_` + 26 base32 characters (see `id`).
    pub audit_id: String,
    /// RFC 3339, UTC, milliseconds, fixed width: `2026-11-23T08:00:00.000Z`.
    pub time: String,
    #[serde(flatten)]
    pub entry: AuditEntry,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRecord {
    /// Links a record to its predecessor: computes `hash`.
    pub(super) fn seal(
        audit_id: String,
        time: String,
        entry: AuditEntry,
        prev_hash: String,
        keying: Keying<'_>,
    ) -> AuditRecord {
        let mut record = AuditRecord {
            audit_id,
            time,
            entry,
            prev_hash,
            hash: String::new(),
        };
        record.hash = record.computed_hash(keying);
        record
    }

    /// What the hash covers: the record exactly as served, minus `prevHash`
    /// and `hash`. Built through `Serialize` so the served shape and the
    /// hashed shape cannot drift apart.
    pub fn hashed_body(&self) -> Value {
        let mut body = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(map) = body.as_object_mut() {
            map.remove("prevHash");
            map.remove("hash");
        }
        body
    }

    /// The hash this record should carry given its stored `prev_hash`.
    pub fn computed_hash(&self, keying: Keying<'_>) -> String {
        chain_hash(keying, &self.prev_hash, &self.hashed_body())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::fixtures::entry;
    use serde_json::json;

    #[test]
    fn serialises_in_the_contract_shape_and_back() {
        let mut e = entry(1);
        e.code = Some("tap_exists".into());
        let r = AuditRecord::seal("aud_x".into(), "t".into(), e, "0".repeat(64), Keying::Plain);
        let v = serde_json::to_value(&r).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut expected = vec![
            "auditId",
            "time",
            "caller",
            "operation",
            "user",
            "ticket",
            "reason",
            "outcome",
            "status",
            "code",
            "details",
            "requestId",
            "verification",
            "prevHash",
            "hash",
        ];
        expected.sort_unstable();
        let mut keys_sorted = keys.clone();
        keys_sorted.sort_unstable();
        assert_eq!(keys_sorted, expected);
        assert_eq!(v["outcome"], json!("succeeded"));
        assert_eq!(serde_json::from_value::<AuditRecord>(v).unwrap(), r);

        // Optional members are absent, not null; `user` is null when unknown.
        let mut bare = entry(2);
        bare.user = None;
        bare.verification = None;
        bare.outcome = Outcome::DryRun;
        let v = serde_json::to_value(AuditRecord::seal(
            "aud_y".into(),
            "t".into(),
            bare,
            "0".repeat(64),
            Keying::Plain,
        ))
        .unwrap();
        assert!(v.get("code").is_none() && v.get("verification").is_none());
        assert_eq!(v["user"], Value::Null);
        assert_eq!(v["outcome"], json!("dry_run"));
        assert_eq!(Outcome::parse("dry_run"), Some(Outcome::DryRun));
        assert_eq!(Outcome::parse("DryRun"), None);
    }
}
