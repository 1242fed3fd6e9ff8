//! Directory roles and PIM: role assignments, eligibility and assignment schedule
//! instances, role definitions, activated directory roles (FACTS §8).

use serde_json::{json, Value};

use super::{collection, Advanced, Ctx, ListSpec, Reply};
use crate::clock;
use crate::errors::{GraphError, GraphResult};
use crate::filter::{Kind, Spec};

static ROLE_FILTER: Spec = Spec {
    clauses: &[
        ("principalId", &["eq", "in"], Kind::Str),
        ("roleDefinitionId", &["eq", "in"], Kind::Str),
        ("directoryScopeId", &["eq"], Kind::Str),
    ],
    allow_or: true,
    allow_not: false,
};

static DEFINITION_FILTER: Spec = Spec {
    clauses: &[
        ("id", &["eq", "in"], Kind::Str),
        ("templateId", &["eq", "in"], Kind::Str),
        ("displayName", &["eq", "startswith"], Kind::Str),
        ("isBuiltIn", &["eq"], Kind::Bool),
    ],
    allow_or: true,
    allow_not: false,
};

static DIRECTORY_ROLE_FILTER: Spec = Spec {
    clauses: &[
        ("roleTemplateId", &["eq"], Kind::Str),
        ("displayName", &["eq"], Kind::Str),
        ("id", &["eq"], Kind::Str),
    ],
    allow_or: false,
    allow_not: false,
};

static MEMBER_FILTER: Spec = Spec {
    clauses: &[
        ("id", &["eq", "in"], Kind::Str),
        ("displayName", &["eq", "startswith"], Kind::Str),
    ],
    allow_or: true,
    allow_not: false,
};

fn expand(cx: &Ctx, mut v: Value) -> Value {
    for e in cx.q.expand.iter().flatten() {
        if e.eq_ignore_ascii_case("principal") {
            let p = v["principalId"].as_str().unwrap_or_default().to_string();
            let mut obj = cx.st.render_directory_object(&p).unwrap_or(Value::Null);
            if let Some(u) = cx.st.user_by_id(&p) {
                let mut o = u.props.clone();
                o.insert("@odata.type".into(), json!("#microsoft.graph.user"));
                obj = Value::Object(o);
            }
            v["principal"] = obj;
        }
        if e.eq_ignore_ascii_case("roleDefinition") {
            let d = v["roleDefinitionId"].clone();
            v["roleDefinition"] = cx
                .st
                .role_definitions
                .iter()
                .find(|r| r.props["id"] == d)
                .map(|r| Value::Object(r.props.clone()))
                .unwrap_or(Value::Null);
        }
    }
    v
}

fn eligibility_instances(cx: &Ctx) -> Vec<Value> {
    let now = cx.st.now();
    cx.st
        .role_eligibility_schedules
        .iter()
        .filter_map(|s| {
            let start = s["scheduleInfo"]["startDateTime"].clone();
            let end = s["scheduleInfo"]["expiration"]["endDateTime"].clone();
            let started = start
                .as_str()
                .and_then(clock::parse)
                .is_none_or(|t| t <= now);
            let live = end.as_str().and_then(clock::parse).is_none_or(|t| t > now);
            (started && live).then(|| {
                json!({
                    "id": s["id"],
                    "principalId": s["principalId"],
                    "roleDefinitionId": s["roleDefinitionId"],
                    "directoryScopeId": s["directoryScopeId"],
                    "appScopeId": s["appScopeId"],
                    "startDateTime": start,
                    "endDateTime": end,
                    "memberType": s.get("memberType").cloned().unwrap_or(json!("Direct")),
                    "roleEligibilityScheduleId": s["id"],
                })
            })
        })
        .collect()
}

/// PIM reads need Entra ID P2 or ID Governance; active `roleAssignments` and
/// `roleDefinitions` do not (https://github.com/maester365/maester/issues/1421 ,
/// https://github.com/cisagov/ScubaGear/issues/981).
pub fn require_p2(cx: &Ctx) -> GraphResult<()> {
    if cx.st.tenant.premium_p2 {
        Ok(())
    } else {
        Err(GraphError::p2_required())
    }
}

pub fn list(cx: &mut Ctx, which: &str) -> GraphResult<Reply> {
    if matches!(
        which,
        "roleEligibilitySchedules"
            | "roleEligibilityScheduleInstances"
            | "roleAssignmentScheduleInstances"
            | "roleAssignmentSchedules"
    ) {
        require_p2(cx)?;
    }
    let (items, filter, expandable): (Vec<Value>, &'static Spec, &'static [&'static str]) =
        match which {
            "roleAssignments" => (
                cx.st.role_assignments.clone(),
                &ROLE_FILTER,
                &["principal", "roleDefinition"],
            ),
            "roleEligibilitySchedules" => (
                cx.st
                    .role_eligibility_schedules
                    .iter()
                    .map(|s| {
                        let mut s = s.clone();
                        for (k, d) in [
                            ("status", json!("Provisioned")),
                            ("memberType", json!("Direct")),
                            ("createdUsing", s["id"].clone()),
                        ] {
                            if s.get(k).is_none() {
                                s[k] = d;
                            }
                        }
                        s
                    })
                    .collect(),
                &ROLE_FILTER,
                &["principal", "roleDefinition"],
            ),
            "roleEligibilityScheduleInstances" => (
                eligibility_instances(cx),
                &ROLE_FILTER,
                &["principal", "roleDefinition"],
            ),
            "roleAssignmentScheduleInstances" => (
                cx.st
                    .role_assignments
                    .iter()
                    .map(|a| {
                        json!({
                            "id": a["id"],
                            "principalId": a["principalId"],
                            "roleDefinitionId": a["roleDefinitionId"],
                            "directoryScopeId": a["directoryScopeId"],
                            "appScopeId": a["appScopeId"],
                            "startDateTime": null,
                            "endDateTime": null,
                            "assignmentType": "Assigned",
                            "memberType": "Direct",
                            "roleAssignmentOriginId": a["id"],
                            "roleAssignmentScheduleId": a["id"],
                        })
                    })
                    .collect(),
                &ROLE_FILTER,
                &["principal", "roleDefinition"],
            ),
            "roleDefinitions" => (
                cx.st
                    .role_definitions
                    .iter()
                    .map(|d| Value::Object(d.props.clone()))
                    .collect(),
                &DEFINITION_FILTER,
                &[],
            ),
            other => {
                return Err(GraphError::bad_request(format!(
                    "Resource not found for the segment '{other}'."
                )))
            }
        };
    let items = items.into_iter().map(|v| expand(cx, v)).collect();
    let mut spec = ListSpec::new(format!("roleManagement/directory/{which}"));
    spec.filter = Some(filter);
    spec.expandable = expandable;
    spec.server_page = cx.st.quirks.role_page_size;
    collection(cx, items, spec)
}

pub fn directory_roles(cx: &mut Ctx) -> GraphResult<Reply> {
    let items = cx
        .st
        .role_definitions
        .iter()
        .filter(|d| d.directory_role_id.is_some())
        .map(crate::state::State::render_directory_role)
        .collect();
    let mut spec = ListSpec::new("directoryRoles".into());
    spec.filter = Some(&DIRECTORY_ROLE_FILTER);
    spec.filter_entity = Some("directoryRole");
    spec.paged = false;
    collection(cx, items, spec)
}

/// Members by directoryRole object id, or `roleTemplateId=…` alternate key.
pub fn directory_role_members(cx: &mut Ctx) -> GraphResult<Reply> {
    let key = cx.params[0].clone();
    let template = key
        .strip_prefix("roleTemplateId=")
        .map(|t| t.trim_matches('\'').to_string());
    let def = cx
        .st
        .role_definitions
        .iter()
        .find(|d| match &template {
            Some(t) => d.props["templateId"].as_str() == Some(t.as_str()),
            None => d
                .directory_role_id
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case(&key)),
        })
        .filter(|d| d.directory_role_id.is_some())
        .ok_or_else(|| GraphError::resource_not_found(&key))?;
    let items = cx
        .st
        .role_members(def)
        .iter()
        .filter_map(|id| cx.st.render_directory_object(id))
        .map(|v| {
            if let Some(u) = v["id"].as_str().and_then(|i| cx.st.user_by_id(i)) {
                let mut o = u.props.clone();
                o.insert("@odata.type".into(), json!("#microsoft.graph.user"));
                Value::Object(o)
            } else {
                v
            }
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
