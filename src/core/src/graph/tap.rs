//! Temporary Access Pass on Graph (FACTS §3): the tenant policy, a user's
//! existing pass, creation and deletion.

use serde::Deserialize;
use serde_json::{json, Value};

use super::client::BatchRequest;
use super::methods::MethodType;
use super::{GraphClient, GraphError, GraphResponse, Version};
use crate::types::{Secret, UserRef};

pub const POLICY_PATH: &str =
    "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/TemporaryAccessPass";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyTarget {
    pub id: String,
    #[serde(default)]
    pub target_type: Option<String>,
}

/// The parts of the policy a pass is held to.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TapPolicy {
    pub state: String,
    #[serde(default)]
    pub include_targets: Vec<PolicyTarget>,
    #[serde(default)]
    pub exclude_targets: Vec<PolicyTarget>,
    #[serde(default = "d60")]
    pub default_lifetime_in_minutes: u32,
    #[serde(default = "d60")]
    pub minimum_lifetime_in_minutes: u32,
    #[serde(default = "d480")]
    pub maximum_lifetime_in_minutes: u32,
    /// `true` forces every pass to be one-time.
    #[serde(default)]
    pub is_usable_once: bool,
}

fn d60() -> u32 {
    60
}
fn d480() -> u32 {
    480
}

impl TapPolicy {
    /// The lifetime a pass may have: the policy's bounds, capped by the
    /// deployment's `tap_max_lifetime_minutes`. TAP holds a request to them
    /// and diagnose reports them, so both read them here.
    pub fn lifetime_bounds(&self, cap: u32) -> (u32, u32) {
        (
            self.minimum_lifetime_in_minutes,
            self.maximum_lifetime_in_minutes.min(cap),
        )
    }

    pub fn enabled(&self) -> bool {
        self.state.eq_ignore_ascii_case("enabled")
    }

    /// Inside the include targets (`all_users`, the user, or one of the
    /// user's groups) and outside the exclude targets.
    pub fn covers(&self, user_id: &str, group_ids: &[&str]) -> bool {
        let hits = |t: &PolicyTarget| {
            let id = t.id.to_ascii_lowercase();
            id == "all_users" || id == user_id || group_ids.contains(&id.as_str())
        };
        self.include_targets.iter().any(hits) && !self.exclude_targets.iter().any(hits)
    }
}

/// An existing pass, as `GET …/temporaryAccessPassMethods` lists it.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExistingPass {
    pub id: String,
    #[serde(default)]
    pub start_date_time: Option<String>,
    #[serde(default)]
    pub lifetime_in_minutes: Option<u32>,
    #[serde(default)]
    pub is_usable: Option<bool>,
    #[serde(default)]
    pub method_usability_reason: Option<String>,
}

/// What creation answered. The pass is returned only here (FACTS §3).
#[derive(Debug)]
pub struct CreatedPass {
    pub id: String,
    pub pass: Secret<String>,
    pub start_date_time: Option<String>,
    pub lifetime_in_minutes: u32,
    pub is_usable_once: bool,
    pub is_usable: Option<bool>,
    pub method_usability_reason: Option<String>,
}

pub fn policy_request() -> BatchRequest {
    BatchRequest::get("tap-policy", POLICY_PATH)
}

pub fn existing_request(user: &UserRef) -> BatchRequest {
    BatchRequest::get(
        "existing-tap",
        format!(
            "/users{}/authentication/temporaryAccessPassMethods",
            user.graph_segment()
        ),
    )
}

pub fn methods_path(user_id: &str) -> String {
    format!(
        "/users/{}/authentication/temporaryAccessPassMethods",
        crate::types::encode_segment(user_id)
    )
}

pub fn parse_policy(res: GraphResponse) -> Result<TapPolicy, GraphError> {
    let res = res.into_result()?;
    serde_json::from_value(res.body).map_err(|_| GraphError::Malformed("TAP policy".into()))
}

pub fn parse_existing(res: GraphResponse) -> Result<Vec<ExistingPass>, GraphError> {
    let res = res.into_result()?;
    let items = res
        .body
        .get("value")
        .cloned()
        .unwrap_or(Value::Array(vec![]));
    serde_json::from_value(items).map_err(|_| GraphError::Malformed("TAP list".into()))
}

/// The create body: only what the caller decided (FACTS §3: all optional).
pub fn create_body(lifetime: u32, usable_once: bool, start: Option<&str>) -> Value {
    let mut b = json!({ "lifetimeInMinutes": lifetime, "isUsableOnce": usable_once });
    if let Some(s) = start {
        b["startDateTime"] = Value::String(s.to_string());
    }
    b
}

/// What creating a pass came to.
pub struct Creation {
    pub pass: CreatedPass,
    /// Ids of passes an ambiguous first attempt made (their code never
    /// reached us), deleted before the second attempt.
    pub lost: Vec<String>,
}

/// Creates the user's pass. Creating is not idempotent, so an ambiguous
/// answer (503, 504, lost connection) is settled by reading before any
/// second attempt: the user held no pass when this started (an old one was
/// deleted first, or `tap_exists` refused), so a pass listed now was made
/// by that attempt and its code is lost; it is deleted, and the create is
/// sent once more. A second ambiguous answer is the caller's to report.
pub async fn create(
    graph: &GraphClient<'_>,
    user_id: &str,
    body: &Value,
) -> Result<Creation, GraphError> {
    let path = methods_path(user_id);
    let mut lost = Vec::new();
    let mut settled = false;
    loop {
        match graph
            .send_once(Version::V1, "POST", &path, Some(body))
            .await
        {
            Ok(res) => return parse_created(res).map(|pass| Creation { pass, lost }),
            Err(GraphError::Ambiguous { .. }) if !settled => {
                settled = true;
                for stray in parse_existing(graph.get(&path).await?)? {
                    let (version, delete) = MethodType::TemporaryAccessPass
                        .delete_path(user_id, &stray.id)
                        .expect("a pass has an endpoint");
                    let res = graph.send(version, "DELETE", &delete, None).await?;
                    if res.status != 404 {
                        res.into_result()?;
                    }
                    lost.push(stray.id);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

pub fn parse_created(res: GraphResponse) -> Result<CreatedPass, GraphError> {
    let res = res.into_result()?;
    let b = &res.body;
    let s = |k: &str| b.get(k).and_then(Value::as_str).map(str::to_string);
    let (Some(id), Some(pass)) = (s("id"), s("temporaryAccessPass")) else {
        return Err(GraphError::Malformed("TAP creation answer".into()));
    };
    Ok(CreatedPass {
        id,
        pass: Secret::new(pass),
        start_date_time: s("startDateTime"),
        lifetime_in_minutes: b
            .get("lifetimeInMinutes")
            .and_then(Value::as_u64)
            .unwrap_or(0) as u32,
        is_usable_once: b
            .get("isUsableOnce")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        is_usable: b.get("isUsable").and_then(Value::as_bool),
        method_usability_reason: s("methodUsabilityReason"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_scope_follows_include_and_exclude_targets() {
        let p: TapPolicy = serde_json::from_value(json!({
            "state": "enabled",
            "includeTargets": [{ "id": "G-IN", "targetType": "group" }],
            "excludeTargets": [{ "id": "g-out", "targetType": "group" }],
        }))
        .unwrap();
        assert!(p.covers("u1", &["g-in"]));
        assert!(!p.covers("u1", &[]));
        assert!(!p.covers("u1", &["g-in", "g-out"]));
        let all: TapPolicy = serde_json::from_value(json!({
            "state": "disabled", "includeTargets": [{ "id": "all_users" }] }))
        .unwrap();
        assert!(all.covers("u9", &[]));
        assert!(!all.enabled());
        assert_eq!(all.minimum_lifetime_in_minutes, 60);
    }
}
