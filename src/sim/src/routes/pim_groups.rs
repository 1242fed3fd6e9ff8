//! PIM for Groups (v1.0, hand-described): eligibility and assignment schedule instances.
//!
//! Sources: https://learn.microsoft.com/graph/api/privilegedaccessgroup-list-eligibilityscheduleinstances ,
//! https://learn.microsoft.com/graph/api/privilegedaccessgroup-list-assignmentscheduleinstances
//! ("This method requires the $filter (eq) query parameter to scope the request to a
//! principalId or a groupId. This method supports the $select, $filter, and $expand OData
//! query parameters"), the resource pages for the properties and their `$filter` support,
//! and the P2 licence gate of [`super::roles::require_p2`].

use serde_json::{json, Value};

use super::roles::require_p2;
use super::{collection, Ctx, ListSpec, Reply};
use crate::errors::{GraphError, GraphResult};
use crate::filter::{self, Expr, Kind, Lit, Op, Spec};

/// Properties that "Support $filter (eq)" (ids also `ne`) on the resource pages. `or` is not
/// documented for these lists and is refused (the conservative reading).
static ELIGIBILITY_FILTER: Spec = Spec {
    clauses: &[
        ("groupId", &["eq"], Kind::Str),
        ("principalId", &["eq"], Kind::Str),
        ("accessId", &["eq"], Kind::Str),
        ("memberType", &["eq"], Kind::Str),
        ("id", &["eq", "ne"], Kind::Str),
        ("eligibilityScheduleId", &["eq", "ne"], Kind::Str),
    ],
    allow_or: false,
    allow_not: false,
};

static ASSIGNMENT_FILTER: Spec = Spec {
    clauses: &[
        ("groupId", &["eq"], Kind::Str),
        ("principalId", &["eq"], Kind::Str),
        ("accessId", &["eq"], Kind::Str),
        ("memberType", &["eq"], Kind::Str),
        ("assignmentType", &["eq"], Kind::Str),
        ("id", &["eq", "ne"], Kind::Str),
        ("assignmentScheduleId", &["eq", "ne"], Kind::Str),
    ],
    allow_or: false,
    allow_not: false,
};

/// Message of the 400 for a request not scoped to a principal or group. The docs say the
/// filter is required; Graph's exact wording and code for the refusal are unconfirmed.
pub const SCOPE_REQUIRED_MESSAGE: &str =
    "This method requires the $filter (eq) query parameter to scope the request to a principalId or a groupId.";

/// The filter pins every match to one principal or group: a `groupId eq` or
/// `principalId eq` clause that the whole expression is ANDed with.
fn scoped(e: &Expr) -> bool {
    match e {
        Expr::Cmp {
            prop,
            op: Op::Eq,
            lit: Lit::Str(_),
        } => prop.eq_ignore_ascii_case("groupId") || prop.eq_ignore_ascii_case("principalId"),
        Expr::And(a, b) => scoped(a) || scoped(b),
        _ => false,
    }
}

fn expand(cx: &Ctx, mut v: Value) -> Value {
    for e in cx.q.expand.iter().flatten() {
        let name = e.split('(').next().unwrap_or_default();
        if name.eq_ignore_ascii_case("principal") {
            let p = v["principalId"].as_str().unwrap_or_default().to_string();
            v["principal"] = match cx.st.user_by_id(&p) {
                Some(u) => {
                    let mut o = u.props.clone();
                    o.insert("@odata.type".into(), json!("#microsoft.graph.user"));
                    Value::Object(o)
                }
                None => cx.st.render_directory_object(&p).unwrap_or(Value::Null),
            };
        }
        if name.eq_ignore_ascii_case("group") {
            let g = v["groupId"].as_str().unwrap_or_default().to_string();
            v["group"] = cx
                .st
                .group(&g)
                .map(crate::state::State::render_group)
                .unwrap_or(Value::Null);
        }
    }
    v
}

pub fn list(cx: &mut Ctx, which: &str) -> GraphResult<Reply> {
    let (assignment, fspec): (bool, &'static Spec) = match which {
        "eligibilityScheduleInstances" => (false, &ELIGIBILITY_FILTER),
        "assignmentScheduleInstances" => (true, &ASSIGNMENT_FILTER),
        other => {
            return Err(GraphError::bad_request(format!(
                "Resource not found for the segment '{other}'."
            )))
        }
    };
    require_p2(cx)?;
    let is_scoped =
        cx.q.filter
            .as_deref()
            .and_then(|f| filter::parse(f).ok())
            .filter(|e| filter::check(e, fspec).is_ok())
            .map(|e| scoped(&e));
    // An unparsable or unsupported filter is refused by `collection` with its own error.
    if is_scoped == Some(false) || cx.q.filter.is_none() {
        return Err(GraphError::bad_request(SCOPE_REQUIRED_MESSAGE));
    }
    let now = cx.st.now();
    let source = if assignment {
        &cx.st.pim_group_assignments
    } else {
        &cx.st.pim_group_eligibilities
    };
    let items: Vec<Value> = source
        .iter()
        .filter(|p| p.live(now))
        .map(|p| cx.st.render_pim_group(p, assignment))
        .map(|v| expand(cx, v))
        .collect();
    let mut spec = ListSpec::new(format!("identityGovernance/privilegedAccess/group/{which}"));
    spec.filter = Some(fspec);
    spec.expandable = &["principal", "group"];
    spec.paged = false;
    collection(cx, items, spec)
}
