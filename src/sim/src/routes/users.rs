//! Users and their memberships: get/list, manager, memberOf, transitiveMemberOf,
//! checkMemberGroups/Objects, revokeSignInSessions (FACTS §2, §6, §8).

use serde_json::{json, Value};

use super::{collection, entity, Advanced, Ctx, ListSpec, Reply};
use crate::auth::has;
use crate::clock;
use crate::errors::{GraphError, GraphResult};
use crate::filter::{Kind, Spec};
use crate::state::State;

static USER_FILTER: Spec = Spec {
    clauses: &[
        (
            "userPrincipalName",
            &["eq", "ne", "in", "startswith"],
            Kind::Str,
        ),
        ("id", &["eq", "ne", "in"], Kind::Str),
        ("mail", &["eq", "in", "startswith"], Kind::Str),
        ("displayName", &["eq", "in", "startswith"], Kind::Str),
        ("otherMails", &["eq"], Kind::Str),
        ("accountEnabled", &["eq", "ne"], Kind::Bool),
        ("userType", &["eq", "ne"], Kind::Str),
    ],
    allow_or: true,
    allow_not: false,
};

static MEMBER_FILTER: Spec = Spec {
    clauses: &[
        ("id", &["eq", "in"], Kind::Str),
        ("displayName", &["eq", "startswith"], Kind::Str),
        ("securityEnabled", &["eq"], Kind::Bool),
        ("isAssignableToRole", &["eq"], Kind::Bool),
    ],
    allow_or: true,
    allow_not: false,
};

fn full_user(st: &State, i: usize) -> Value {
    Value::Object(st.users[i].props.clone())
}

pub fn list_users(cx: &Ctx) -> Vec<Value> {
    (0..cx.st.users.len())
        .map(|i| full_user(cx.st, i))
        .collect()
}

pub fn list(cx: &mut Ctx) -> GraphResult<Reply> {
    let items = list_users(cx);
    let mut spec = ListSpec::new("users".into());
    spec.filter = Some(&USER_FILTER);
    spec.filter_entity = Some("User");
    spec.advanced = Advanced::CountSearch;
    spec.search = &["displayName", "userPrincipalName", "mail"];
    spec.user_defaults = true;
    collection(cx, items, spec)
}

/// `GET /users/{id|upn}`: default property set unless `$select` (FACTS §2).
pub fn get(cx: &mut Ctx) -> GraphResult<Reply> {
    let i = cx.user_index()?;
    let v = full_user(cx.st, i);
    entity(cx, v, "users", true)
}

pub fn manager(cx: &mut Ctx) -> GraphResult<Reply> {
    let i = cx.user_index()?;
    let Some(m) = cx.st.users[i].manager.clone() else {
        return Err(GraphError::resource_not_found("manager"));
    };
    let v = cx
        .st
        .render_directory_object(&m)
        .ok_or_else(|| GraphError::resource_not_found("manager"))?;
    let mut full = v;
    if let Some(u) = cx.st.user_by_id(&m) {
        let mut o = u.props.clone();
        o.insert("@odata.type".into(), json!("#microsoft.graph.user"));
        full = Value::Object(o);
    }
    entity(cx, full, "directoryObjects", true)
}

/// Items the app may not read come back with only `@odata.type` and `id` (FACTS §0, [s47]).
fn reduce(cx: &Ctx, v: Value) -> Value {
    let t = v["@odata.type"].as_str().unwrap_or_default();
    let p = &cx.perms;
    let readable = match t {
        "#microsoft.graph.group" => {
            has(p, "GroupMember.Read.All")
                || has(p, "Group.Read.All")
                || has(p, "Directory.Read.All")
        }
        "#microsoft.graph.directoryRole" => {
            has(p, "RoleManagement.Read.Directory")
                || has(p, "RoleManagement.ReadWrite.Directory")
                || has(p, "Directory.Read.All")
        }
        _ => true,
    };
    if readable {
        v
    } else {
        json!({ "@odata.type": t, "id": v["id"] })
    }
}

/// Object ids of groups and activated roles the user is in (optionally transitively).
pub fn memberships(st: &State, user_id: &str, transitive: bool) -> Vec<String> {
    let groups: Vec<String> = if transitive {
        st.transitive_groups(user_id)
    } else {
        st.direct_groups(user_id)
            .iter()
            .map(|g| g.id().to_string())
            .collect()
    };
    let mut principals = vec![user_id.to_string()];
    if transitive {
        principals.extend(groups.iter().cloned());
    }
    let mut out = groups.clone();
    for p in principals {
        for d in st.roles_held_by(&p) {
            if let Some(r) = &d.directory_role_id {
                if !out.contains(r) {
                    out.push(r.clone());
                }
            }
        }
    }
    out
}

pub fn member_of(cx: &mut Ctx, transitive: bool) -> GraphResult<Reply> {
    let i = cx.user_index()?;
    let uid = cx.st.users[i].id().to_string();
    let items: Vec<Value> = memberships(cx.st, &uid, transitive)
        .iter()
        .filter_map(|id| cx.st.render_directory_object(id))
        .map(|v| reduce(cx, v))
        .collect();
    let mut spec = ListSpec::new("directoryObjects".into());
    spec.filter = Some(&MEMBER_FILTER);
    spec.filter_entity = Some("directoryObject");
    spec.advanced = Advanced::All;
    spec.search = &["displayName"];
    spec.server_page = cx.st.quirks.membership_page_size;
    collection(cx, items, spec)
}

fn string_list(cx: &Ctx, key: &str) -> GraphResult<Vec<String>> {
    let v = cx.body.as_ref().and_then(|b| b.get(key));
    let Some(a) = v.and_then(Value::as_array) else {
        return Err(GraphError::new(
            400,
            "Request_BadRequest",
            format!("The parameter '{key}' is required and must be a collection of strings."),
        ));
    };
    Ok(a.iter()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect())
}

/// At most 20 ids; checked transitively (FACTS §8 [s49]).
pub fn check_member_groups(cx: &mut Ctx) -> GraphResult<Reply> {
    let i = cx.user_index()?;
    let ids = string_list(cx, "groupIds")?;
    if ids.len() > 20 {
        return Err(GraphError::new(
            400,
            "Request_BadRequest",
            "The number of group ids in the request exceeds the limit of 20.",
        ));
    }
    let uid = cx.st.users[i].id().to_string();
    let mine = cx.st.transitive_groups(&uid);
    let value: Vec<String> = ids
        .into_iter()
        .filter(|g| mine.iter().any(|m| m.eq_ignore_ascii_case(g)))
        .collect();
    Ok(Reply::ok(json!({
        "@odata.context": cx.context("Collection(Edm.String)"),
        "value": value,
    })))
}

pub fn check_member_objects(cx: &mut Ctx) -> GraphResult<Reply> {
    let i = cx.user_index()?;
    let ids = string_list(cx, "ids")?;
    let uid = cx.st.users[i].id().to_string();
    let mine = memberships(cx.st, &uid, true);
    let value: Vec<String> = ids
        .into_iter()
        .filter(|g| mine.iter().any(|m| m.eq_ignore_ascii_case(g)))
        .collect();
    Ok(Reply::ok(json!({
        "@odata.context": cx.context("Collection(Edm.String)"),
        "value": value,
    })))
}

/// FACTS §6: `200` with an `Edm.Boolean` body; resets `signInSessionsValidFromDateTime`.
pub fn revoke(cx: &mut Ctx) -> GraphResult<Reply> {
    let i = cx.user_index()?;
    let now = clock::graph(cx.st.now());
    cx.st.users[i]
        .props
        .insert("signInSessionsValidFromDateTime".into(), json!(now));
    Ok(Reply::ok(json!({
        "@odata.context": cx.context("Edm.Boolean"),
        "value": true,
    })))
}
