//! Protected users (API.md "Protected users"): holders of an active or
//! PIM-eligible directory role, directly or through a group (nested groups
//! included, via the user's transitive memberships), members of
//! `protected_group_id`, and the accounts in `protected_users`.
//!
//! The tenant-wide set of role-holding principals is read with one `$batch`
//! (role definitions, assignments, eligibility instances; FACTS §8) and
//! cached in the key-value store for [`CACHE_SECS`]: a role granted less
//! than that long ago may not yet protect its holder.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::{BatchRequest, GraphClient, GraphResponse};
use super::users::DirectoryUser;
use super::GraphError;
use crate::config::Config;
use crate::ports::Host;

pub const CACHE_SECS: u64 = 120;
const CACHE_KEY: &str = "graph/privileged-principals/v1";

/// Why a user is protected; `code` as in API.md's diagnose `reasons`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProtectionReason {
    pub code: &'static str,
    pub name: String,
}

/// Principal id (user or group) -> role names, active and eligible.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleHolders {
    pub active: BTreeMap<String, Vec<String>>,
    pub eligible: BTreeMap<String, Vec<String>>,
    pub fetched_at: u64,
}

fn collect(
    value: &Value,
    names: &BTreeMap<String, String>,
    into: &mut BTreeMap<String, Vec<String>>,
) {
    for item in value
        .get("value")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(p), Some(r)) = (
            item.get("principalId").and_then(Value::as_str),
            item.get("roleDefinitionId").and_then(Value::as_str),
        ) else {
            continue;
        };
        let name = names
            .get(&r.to_ascii_lowercase())
            .cloned()
            .unwrap_or_else(|| r.to_string());
        let entry = into.entry(p.to_ascii_lowercase()).or_default();
        if !entry.contains(&name) {
            entry.push(name);
        }
    }
}

/// The role holders, from the cache when it is fresh.
pub async fn role_holders(
    graph: &GraphClient<'_>,
    host: &Host<'_>,
    now: u64,
) -> Result<RoleHolders, GraphError> {
    if let Some(h) = cached(host, now)? {
        return Ok(h);
    }
    let answers = graph.batch(&requests()).await?;
    from_answers(graph, host, now, answers).await
}

/// The cached role holders, if fresh.
pub fn cached(host: &Host<'_>, now: u64) -> Result<Option<RoleHolders>, GraphError> {
    Ok(host
        .kv
        .get(CACHE_KEY)?
        .and_then(|bytes| serde_json::from_slice::<RoleHolders>(&bytes).ok())
        .filter(|h| now < h.fetched_at + CACHE_SECS))
}

/// The reads behind [`RoleHolders`], for a caller that puts them in its
/// own `$batch`.
pub fn requests() -> [BatchRequest; 3] {
    [
        BatchRequest::get("definitions", "/roleManagement/directory/roleDefinitions?$select=id,displayName"),
        BatchRequest::get(
            "assignments",
            "/roleManagement/directory/roleAssignments?$select=principalId,roleDefinitionId&$top=999",
        ),
        BatchRequest::get(
            "eligible",
            "/roleManagement/directory/roleEligibilityScheduleInstances?$select=principalId,roleDefinitionId&$top=999",
        ),
    ]
}

/// The answers to [`requests`] (further pages followed), cached.
pub async fn from_answers(
    graph: &GraphClient<'_>,
    host: &Host<'_>,
    now: u64,
    answers: Vec<GraphResponse>,
) -> Result<RoleHolders, GraphError> {
    let mut pages = Vec::with_capacity(3);
    for a in answers {
        let a = a.into_result()?;
        pages.push(graph.collect_pages(a.body).await?);
    }
    if pages.len() != 3 {
        return Err(GraphError::Malformed("role holder reads".into()));
    }
    let names: BTreeMap<String, String> = pages[0]
        .get("value")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|d| {
            Some((
                d.get("id")?.as_str()?.to_ascii_lowercase(),
                d.get("displayName")?.as_str()?.to_string(),
            ))
        })
        .collect();
    let mut holders = RoleHolders {
        fetched_at: now,
        ..RoleHolders::default()
    };
    collect(&pages[1], &names, &mut holders.active);
    collect(&pages[2], &names, &mut holders.eligible);
    if let Ok(bytes) = serde_json::to_vec(&holders) {
        let _ = host.kv.set(CACHE_KEY, &bytes);
    }
    Ok(holders)
}

/// Every reason the user is protected; empty when they are not.
pub fn reasons(
    user: &DirectoryUser,
    memberships: &[(String, String)],
    holders: &RoleHolders,
    config: &Config,
) -> Vec<ProtectionReason> {
    let mut out = Vec::new();
    let mut principals: Vec<&str> = vec![user.summary.id.as_str()];
    principals.extend(memberships.iter().map(|(id, _)| id.as_str()));
    for p in &principals {
        for name in holders.active.get(*p).into_iter().flatten() {
            out.push(ProtectionReason {
                code: "directory_role",
                name: name.clone(),
            });
        }
        for name in holders.eligible.get(*p).into_iter().flatten() {
            out.push(ProtectionReason {
                code: "eligible_directory_role",
                name: name.clone(),
            });
        }
    }
    if let Some(group) = &config.protected_group_id {
        if let Some((_, name)) = memberships.iter().find(|(id, _)| id == group) {
            out.push(ProtectionReason {
                code: "protected_group",
                name: name.clone(),
            });
        }
    }
    let upn = user.summary.user_principal_name.to_ascii_lowercase();
    if config
        .protected_users
        .iter()
        .any(|p| *p == upn || *p == user.summary.id)
    {
        out.push(ProtectionReason {
            code: "listed",
            name: "protected_users".into(),
        });
    }
    out.dedup();
    out
}
