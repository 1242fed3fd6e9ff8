//! `GET /groups/{id}/transitiveMembers`: nested members, paged 100/999 (FACTS §8).

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

pub fn transitive_members(cx: &mut Ctx) -> GraphResult<Reply> {
    let gid = cx.params[0].clone();
    let g = cx
        .st
        .group(&gid)
        .ok_or_else(|| GraphError::resource_not_found(&gid))?;
    let gid = g.id().to_string();
    let items: Vec<Value> = cx
        .st
        .transitive_members(&gid)
        .iter()
        .filter_map(|id| {
            if let Some(u) = cx.st.user_by_id(id) {
                let mut o = u.props.clone();
                o.insert("@odata.type".into(), json!("#microsoft.graph.user"));
                return Some(Value::Object(o));
            }
            cx.st.render_directory_object(id)
        })
        .collect();
    let mut spec = ListSpec::new("directoryObjects".into());
    spec.filter = Some(&MEMBER_FILTER);
    spec.filter_entity = Some("directoryObject");
    spec.advanced = Advanced::All;
    spec.search = &["displayName"];
    spec.user_defaults = true;
    collection(cx, items, spec)
}
