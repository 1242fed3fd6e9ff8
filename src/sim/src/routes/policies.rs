//! Authentication methods policy and its per-method configurations (FACTS §3).

use serde_json::{json, Value};

use super::{Ctx, Reply};
use crate::errors::{GraphError, GraphResult};
use crate::openapi::spec;

fn select(cx: &Ctx, mut v: Value, type_name: &str) -> GraphResult<Value> {
    let Some(sel) = &cx.q.select else {
        return Ok(v);
    };
    let known = spec().entity_properties(type_name);
    for s in sel {
        if !known.iter().any(|k| k.eq_ignore_ascii_case(s)) {
            return Err(GraphError::bad_request(format!(
                "Parsing OData Select and Expand failed: Could not find a property named '{s}' on type '{type_name}'."
            )));
        }
    }
    if let Some(o) = v.as_object_mut() {
        o.retain(|k, _| k == "@odata.type" || sel.iter().any(|s| s.eq_ignore_ascii_case(k)));
    }
    Ok(v)
}

fn no_expand(cx: &Ctx) -> GraphResult<()> {
    match cx.q.expand.as_ref().and_then(|e| e.first()) {
        Some(e) => Err(GraphError::bad_request(format!(
            "Parsing OData Select and Expand failed: Could not find a property named '{e}' on type 'microsoft.graph.authenticationMethodConfiguration'."
        ))),
        None => Ok(()),
    }
}

pub fn get_policy(cx: &mut Ctx) -> GraphResult<Reply> {
    no_expand(cx)?;
    let mut v = Value::Object(cx.st.policy.clone());
    v["@odata.type"] = json!("#microsoft.graph.authenticationMethodsPolicy");
    v["authenticationMethodConfigurations"] = json!(cx.st.configurations);
    let mut v = select(cx, v, "microsoft.graph.authenticationMethodsPolicy")?;
    v["@odata.context"] = json!(cx.context("policies/authenticationMethodsPolicy/$entity"));
    if v.get("authenticationMethodConfigurations").is_some() {
        v["authenticationMethodConfigurations@odata.context"] = json!(
            cx.context("policies/authenticationMethodsPolicy/authenticationMethodConfigurations")
        );
    }
    Ok(Reply::ok(v))
}

/// Both `TemporaryAccessPass` and `temporaryAccessPass` resolve (FACTS §3 [s13]).
pub fn get_configuration(cx: &mut Ctx) -> GraphResult<Reply> {
    no_expand(cx)?;
    let id = cx.params[0].clone();
    let cfg = cx.st.configuration(&id).cloned().ok_or_else(|| {
        GraphError::new(
            404,
            "NotFound",
            format!("Authentication method configuration '{id}' was not found."),
        )
    })?;
    let type_name = cfg["@odata.type"]
        .as_str()
        .unwrap_or("#microsoft.graph.authenticationMethodConfiguration")
        .trim_start_matches('#')
        .to_string();
    let mut v = select(cx, cfg, &type_name)?;
    let real_id = v["id"].as_str().unwrap_or(&id).to_string();
    v["@odata.context"] = json!(cx.context("authenticationMethodConfigurations/$entity"));
    if v.get("includeTargets").is_some() {
        v["includeTargets@odata.context"] = json!(cx.context(&format!(
            "policies/authenticationMethodsPolicy/authenticationMethodConfigurations('{real_id}')/{type_name}/includeTargets"
        )));
    }
    Ok(Reply::ok(v))
}
