//! One user's sign-in failures as `GET /v1/failures` lists them: what the
//! live report folds from Graph's pages and the failures store answers from
//! SQLite.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// One user's failures, as the answer lists them.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct UserFailures {
    pub user: FailingUser,
    pub failures: u64,
    pub first_failure_date_time: String,
    pub last_failure_date_time: String,
    pub error_codes: BTreeMap<String, u64>,
    pub failure_reasons: BTreeSet<String>,
    pub apps: BTreeSet<String>,
    pub ip_addresses: BTreeSet<String>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct FailingUser {
    pub id: String,
    pub user_principal_name: String,
    pub display_name: Option<String>,
}
