//! Phone methods: create, update, enable/disable SMS sign-in (FACTS §5).
//! Deletion goes through [`super::methods::delete_method`].

use std::sync::OnceLock;

use regex::Regex;
use serde_json::{json, Map, Value};

use super::{Ctx, Reply};
use crate::errors::{GraphError, GraphResult};
use crate::fixture::phone_id;
use crate::state::{Kind, Method};

/// `+{country code} {subscriber number}x{extension}` (FACTS §5 [s25][s26]).
fn number_ok(n: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^\+[1-9][0-9]{0,2} [0-9]{4,15}(x[0-9]{1,10})?$").expect("regex"))
        .is_match(n)
}

/// Enum values arrive case-insensitively; store Graph's spelling.
fn canonical_type(t: &str) -> String {
    ["mobile", "alternateMobile", "office", "unknownFutureValue"]
        .iter()
        .find(|c| c.eq_ignore_ascii_case(t))
        .map(|c| c.to_string())
        .unwrap_or_else(|| t.to_string())
}

fn invalid_number(n: &str) -> GraphError {
    GraphError::method_bad_request(format!(
        "Invalid phone number '{n}'. The phone number must be in the format '+{{country code}} {{subscriber number}}x{{extension}}', for example '+1 5555551234' or '+1 5555551234x123'."
    ))
}

fn context(cx: &Ctx, uid: &str) -> String {
    cx.context(&format!(
        "users('{uid}')/authentication/phoneMethods/$entity"
    ))
}

pub fn create(cx: &mut Ctx) -> GraphResult<Reply> {
    let i = cx.user_index()?;
    let body = cx.body.clone().unwrap_or(Value::Null);
    let number = body["phoneNumber"].as_str().unwrap_or_default().to_string();
    let Some(phone_type) = body["phoneType"].as_str().map(canonical_type) else {
        return Err(GraphError::method_bad_request(
            "The phoneType property is required.",
        ));
    };
    if number.is_empty() {
        return Err(GraphError::method_bad_request(
            "The phoneNumber property is required.",
        ));
    }
    if !number_ok(&number) {
        return Err(invalid_number(&number));
    }
    let Some(id) = phone_id(&phone_type) else {
        return Err(GraphError::method_bad_request(format!(
            "Invalid phoneType '{phone_type}'."
        )));
    };
    let u = &cx.st.users[i];
    let has = |t: &str| {
        u.methods
            .iter()
            .any(|m| m.kind == Kind::Phone && m.phone_type() == t)
    };
    if has(&phone_type) {
        return Err(GraphError::method_bad_request(format!(
            "A phone method of type '{phone_type}' already exists for this user. Update it or delete it first."
        )));
    }
    if phone_type == "alternateMobile" && !has("mobile") {
        return Err(GraphError::method_bad_request(
            "An alternateMobile phone method can only be added when the user has a mobile phone method.",
        ));
    }
    let uid = u.id().to_string();
    let now = cx.st.now();
    // FACTS §5: adding a mobile for a user the SMS policy allows registers it for SMS sign-in.
    let sms = (phone_type == "mobile" && cx.st.sms_allowed(&uid)).then_some(now);
    let mut props = Map::new();
    props.insert("id".into(), json!(id));
    props.insert("phoneNumber".into(), json!(number));
    props.insert("phoneType".into(), json!(phone_type));
    let m = Method {
        kind: Kind::Phone,
        props,
        sms_enabled_at: sms,
        one_time_used: false,
    };
    cx.st.users[i].methods.push(m);
    let u = &cx.st.users[i];
    let m = u.methods.last().expect("just pushed");
    let mut v = cx.st.render_method(u, m, false);
    v["@odata.context"] = json!(context(cx, &uid));
    Ok(Reply::created(v))
}

fn find_phone(cx: &Ctx, i: usize) -> GraphResult<usize> {
    let id = &cx.params[1];
    cx.st.users[i]
        .methods
        .iter()
        .position(|m| m.kind == Kind::Phone && m.id().eq_ignore_ascii_case(id))
        .ok_or_else(GraphError::item_not_found)
}

/// PATCH changes the number; the type is fixed (FACTS §5 [s27]).
pub fn update(cx: &mut Ctx) -> GraphResult<Reply> {
    let i = cx.user_index()?;
    let j = find_phone(cx, i)?;
    let body = cx.body.clone().unwrap_or(Value::Null);
    let current_type = cx.st.users[i].methods[j].phone_type().to_string();
    if let Some(t) = body.get("phoneType").filter(|t| !t.is_null()) {
        if t.as_str().map(canonical_type) != Some(current_type) {
            return Err(GraphError::method_bad_request(
                "The phoneType of a phone method cannot be changed. Add a phone method of the new type and delete the old one.",
            ));
        }
    }
    if let Some(n) = body.get("phoneNumber") {
        let n = n.as_str().unwrap_or_default();
        if !number_ok(n) {
            return Err(invalid_number(n));
        }
        let now = cx.st.now();
        let m = &mut cx.st.users[i].methods[j];
        m.props.insert("phoneNumber".into(), json!(n));
        if m.sms_enabled_at.is_some() {
            m.sms_enabled_at = Some(now);
        }
    }
    Ok(Reply::status(204))
}

/// `enableSmsSignIn` / `disableSmsSignIn`: mobile only, policy must allow, number unique (FACTS §5).
pub fn sms_sign_in(cx: &mut Ctx, enable: bool) -> GraphResult<Reply> {
    let i = cx.user_index()?;
    let j = find_phone(cx, i)?;
    let u = &cx.st.users[i];
    let m = &u.methods[j];
    if m.phone_type() != "mobile" {
        return Err(GraphError::method_bad_request(
            "SMS sign-in can only be enabled or disabled on the mobile phone method.",
        ));
    }
    if !enable {
        cx.st.users[i].methods[j].sms_enabled_at = None;
        return Ok(Reply::status(204));
    }
    let uid = u.id().to_string();
    if !cx.st.sms_allowed(&uid) {
        return Err(GraphError::method_bad_request(
            "Cannot enable SMS sign-in on phone auth method as the credential policy is not enabled on user",
        ));
    }
    let number = m.props["phoneNumber"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if cx.st.number_taken_for_sms(&uid, &number) {
        return Err(GraphError::method_bad_request(
            "Cannot enable SMS sign-in on phone auth method as the phone number is already used for SMS sign-in by another user",
        ));
    }
    let now = cx.st.now();
    let m = &mut cx.st.users[i].methods[j];
    if m.sms_enabled_at.is_none() {
        m.sms_enabled_at = Some(now);
    }
    Ok(Reply::status(204))
}
