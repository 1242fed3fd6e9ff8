//! Users as the operations need them: the contract's `user` summary, account
//! state, and the groups (transitively) the user belongs to, which both the
//! TAP policy's group targets and the protected-user check read.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::BatchRequest;
use super::permissions;
use super::{GraphClient, GraphError, GraphResponse};
use crate::types::UserRef;

/// The user an answer is about: `{ "id", "userPrincipalName", "displayName" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct UserSummary {
    pub id: String,
    pub user_principal_name: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DirectoryUser {
    pub summary: UserSummary,
    pub account_enabled: bool,
    /// `Member` or `Guest` (B2B: `#EXT#` UPN).
    pub user_type: String,
    pub mail: Option<String>,
    /// Addresses outside the tenant (`otherMails`), for notices.
    pub other_mails: Vec<String>,
}

impl DirectoryUser {
    pub fn is_guest(&self) -> bool {
        self.user_type.eq_ignore_ascii_case("guest")
            || self.summary.user_principal_name.contains("#EXT#")
    }
}

/// `GET /users/{ref}` with the properties the default set leaves out
/// (FACTS §2: `accountEnabled` and `userType` need `$select`).
pub fn get_user(user: &UserRef) -> BatchRequest {
    BatchRequest::get(
        "user",
        format!(
            "/users{}?$select=id,displayName,userPrincipalName,accountEnabled,userType,mail,otherMails",
            user.graph_segment()
        ),
    )
}

/// Groups and directory roles the user is in, directly or nested (FACTS §8).
pub fn get_memberships(user: &UserRef) -> BatchRequest {
    BatchRequest::get(
        "memberships",
        format!(
            "/users{}/transitiveMemberOf?$select=id,displayName&$top=999",
            user.graph_segment()
        ),
    )
}

/// `None` for 404 (the contract's `user_not_found`).
pub fn parse_user(res: GraphResponse) -> Result<Option<DirectoryUser>, GraphError> {
    if res.status == 404 {
        return Ok(None);
    }
    let res = res.into_result()?;
    let b = &res.body;
    let s = |k: &str| b.get(k).and_then(Value::as_str).map(str::to_string);
    let (Some(id), Some(upn)) = (s("id"), s("userPrincipalName")) else {
        return Err(GraphError::Malformed("user without id".into()));
    };
    Ok(Some(DirectoryUser {
        summary: UserSummary {
            id: id.to_ascii_lowercase(),
            user_principal_name: upn,
            display_name: s("displayName"),
        },
        // Absent means Graph did not say; only an explicit false is disabled.
        account_enabled: b
            .get("accountEnabled")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        user_type: s("userType").unwrap_or_else(|| "Member".into()),
        mail: s("mail"),
        other_mails: b
            .get("otherMails")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .filter(|m| m.contains('@'))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    }))
}

/// Every membership, the first page's answer followed to the last page:
/// Graph may serve fewer items a page than `$top` asks (server-driven
/// paging, learn.microsoft.com/graph/paging), and a protected group, a
/// role-holding group or the TAP policy's target group may be on any page.
/// More pages than the bound is an error, never a partial list.
pub async fn all_memberships(
    graph: &GraphClient<'_>,
    first: GraphResponse,
) -> Result<Vec<(String, String)>, GraphError> {
    let first = first.into_read(&permissions::USER_READ)?;
    let body = graph
        .collect_pages(first.body, "the user's memberships")
        .await?;
    Ok(parse_memberships(&body))
}

/// Ids (lower-cased) and names of the objects in a membership list.
fn parse_memberships(body: &Value) -> Vec<(String, String)> {
    body.get("value")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|m| {
                    let id = m.get("id")?.as_str()?.to_ascii_lowercase();
                    let name = m
                        .get("displayName")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    Some((id, name))
                })
                .collect()
        })
        .unwrap_or_default()
}
