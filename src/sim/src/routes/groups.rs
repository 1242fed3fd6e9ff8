//! Groups: `GET /groups` (hand-described v1.0), `GET /groups/{id}/owners`
//! (hand-described v1.0) and `GET /groups/{id}/transitiveMembers` (FACTS §8).

use serde_json::{json, Value};

use super::{collection, Advanced, Ctx, ListSpec, Reply};
use crate::errors::{GraphError, GraphResult};
use crate::filter::{Kind, Spec};

static MEMBER_FILTER: Spec = Spec {
    clauses: &[
        ("id", &["eq", "in"], Kind::Str),
        ("displayName", &["eq", "startswith"], Kind::Str),
        ("userPrincipalName", &["eq"], Kind::Str),
        ("accountEnabled", &["eq"], Kind::Bool),
        ("userType", &["eq"], Kind::Str),
    ],
    allow_or: true,
    allow_not: false,
};

/// `isAssignableToRole` "Supports $filter (eq, ne, not)"; `eq` works without advanced
/// query parameters, `ne`/`not` need them (https://learn.microsoft.com/graph/aad-advanced-queries)
/// and are not modelled (refused).
static GROUP_FILTER: Spec = Spec {
    clauses: &[
        ("id", &["eq", "in"], Kind::Str),
        ("displayName", &["eq", "in", "startswith"], Kind::Str),
        ("isAssignableToRole", &["eq"], Kind::Bool),
        ("securityEnabled", &["eq"], Kind::Bool),
        ("mailEnabled", &["eq"], Kind::Bool),
        ("mailNickname", &["eq", "startswith"], Kind::Str),
    ],
    allow_or: true,
    allow_not: false,
};

fn directory_object(cx: &Ctx, id: &str) -> Option<Value> {
    if let Some(u) = cx.st.user_by_id(id) {
        let mut o = u.props.clone();
        o.insert("@odata.type".into(), json!("#microsoft.graph.user"));
        return Some(Value::Object(o));
    }
    cx.st.render_directory_object(id)
}

fn group_id(cx: &Ctx) -> GraphResult<String> {
    let gid = cx.params[0].clone();
    let g = cx
        .st
        .group(&gid)
        .ok_or_else(|| GraphError::resource_not_found(&gid))?;
    Ok(g.id().to_string())
}

pub fn transitive_members(cx: &mut Ctx) -> GraphResult<Reply> {
    let gid = group_id(cx)?;
    let ids = cx.st.transitive_members(&gid);
    directory_objects(cx, &ids)
}

/// A page of directory objects by id, as membership lists serve them:
/// advanced queries, `displayName` search, the server's page cap.
fn directory_objects(cx: &mut Ctx, ids: &[String]) -> GraphResult<Reply> {
    let items: Vec<Value> = ids
        .iter()
        .filter_map(|id| directory_object(cx, id))
        .collect();
    let mut spec = ListSpec::new("directoryObjects".into());
    spec.filter = Some(&MEMBER_FILTER);
    spec.filter_entity = Some("directoryObject");
    spec.advanced = Advanced::All;
    spec.search = &["displayName"];
    spec.user_defaults = true;
    spec.server_page = cx.st.quirks.membership_page_size;
    collection(cx, items, spec)
}

/// `GET /groups/{id}/owners`: the users allowed to manage the group; owners are not
/// members (https://learn.microsoft.com/graph/api/group-list-owners).
pub fn owners(cx: &mut Ctx) -> GraphResult<Reply> {
    let gid = group_id(cx)?;
    let owners = cx
        .st
        .group(&gid)
        .map(|g| g.owners.clone())
        .unwrap_or_default();
    directory_objects(cx, &owners)
}

/// `GET /groups` (https://learn.microsoft.com/graph/api/group-list): 100 per page by
/// default, `$top` up to 999, no `$skip`; `$count`/`$search` need `ConsistencyLevel:
/// eventual`, and so does `$orderby` combined with `$filter` (example 4 of that page).
pub fn list(cx: &mut Ctx) -> GraphResult<Reply> {
    if cx.q.orderby.is_some() && cx.q.filter.is_some() && !cx.eventual() {
        return Err(GraphError::unsupported_query(
            "Sorting and filtering on this resource together requires the ConsistencyLevel:eventual header and $count=true.",
        ));
    }
    let items: Vec<Value> = cx
        .st
        .groups
        .iter()
        .map(|g| Value::Object(g.props.clone()))
        .collect();
    let mut spec = ListSpec::new("groups".into());
    spec.filter = Some(&GROUP_FILTER);
    spec.filter_entity = Some("Group");
    spec.advanced = Advanced::CountSearch;
    spec.search = &["displayName", "description"];
    spec.server_page = cx.st.quirks.membership_page_size;
    collection(cx, items, spec)
}
