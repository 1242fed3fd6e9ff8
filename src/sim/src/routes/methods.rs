//! Authentication methods: the mixed list, per-type list/get/delete, the
//! default-method rule, and beta signInPreferences / hardwareOath / qrCodePin (FACTS §4).

use serde_json::{json, Value};

use super::{collection, entity, Ctx, ListSpec, Reply};
use crate::errors::{GraphError, GraphResult};
use crate::openapi::Version;
use crate::state::Kind;

/// Exact text of examples/error-400-default-method.json (FACTS §4 [s23]).
pub const DEFAULT_METHOD_MESSAGE: &str =
    "Cannot delete default method with other methods configured. Please change default method before deletion.";

fn base_fragment(uid: &str, seg: &str) -> String {
    format!("users('{uid}')/authentication/{seg}")
}

fn visible(cx: &Ctx, k: Kind) -> bool {
    cx.version == Version::Beta || k.in_v1()
}

fn kind_of(seg: &str) -> GraphResult<Kind> {
    Kind::from_segment(seg).ok_or_else(|| {
        GraphError::bad_request(format!("Resource not found for the segment '{seg}'."))
    })
}

/// Renders a method list as a (possibly lagging) replica returns it, then counts the read
/// against the recently deleted methods it still showed (quirk `replicationLagReads`).
fn lagging_list(
    cx: &mut Ctx,
    i: usize,
    keep: impl Fn(Kind) -> bool,
    fragment: String,
) -> GraphResult<Reply> {
    let u = &cx.st.users[i];
    let uid = u.id().to_string();
    let shown: Vec<&crate::state::Method> = cx
        .st
        .methods_with_ghosts(u)
        .into_iter()
        .filter(|m| keep(m.kind))
        .collect();
    let items: Vec<Value> = shown
        .iter()
        .map(|m| cx.st.render_method(u, m, false))
        .collect();
    let ghost_ids: Vec<String> = shown
        .iter()
        .filter(|m| !u.methods.iter().any(|l| std::ptr::eq(l, **m)))
        .map(|m| m.id().to_string())
        .collect();
    let mut spec = ListSpec::new(fragment);
    spec.paged = false;
    let r = collection(cx, items, spec)?;
    if !ghost_ids.is_empty() {
        cx.st.ghosts_read(&uid, &ghost_ids);
    }
    Ok(r)
}

/// `GET …/authentication/methods`: every method with its `@odata.type` (FACTS §4 [s21]).
pub fn list_all(cx: &mut Ctx) -> GraphResult<Reply> {
    let i = cx.user_index()?;
    let beta = cx.version == Version::Beta;
    let frag = base_fragment(cx.st.users[i].id(), "methods");
    lagging_list(cx, i, |k| beta || k.in_v1(), frag)
}

pub fn get_any(cx: &mut Ctx) -> GraphResult<Reply> {
    let i = cx.user_index()?;
    let u = &cx.st.users[i];
    let id = &cx.params[1];
    let m = u
        .methods
        .iter()
        .find(|m| visible(cx, m.kind) && m.id().eq_ignore_ascii_case(id))
        .ok_or_else(GraphError::item_not_found)?;
    let v = cx.st.render_method(u, m, false);
    let frag = base_fragment(u.id(), "methods");
    entity(cx, v, &frag, false)
}

pub fn list_kind(cx: &mut Ctx, seg: &str) -> GraphResult<Reply> {
    let kind = kind_of(seg)?;
    let i = cx.user_index()?;
    let frag = base_fragment(cx.st.users[i].id(), kind.segment());
    lagging_list(cx, i, |k| k == kind, frag)
}

pub fn get_kind(cx: &mut Ctx, seg: &str) -> GraphResult<Reply> {
    let kind = kind_of(seg)?;
    let i = cx.user_index()?;
    let u = &cx.st.users[i];
    let id = &cx.params[1];
    let m = u
        .methods
        .iter()
        .find(|m| m.kind == kind && m.id().eq_ignore_ascii_case(id))
        .ok_or_else(GraphError::item_not_found)?;
    let v = cx.st.render_method(u, m, false);
    let frag = base_fragment(u.id(), kind.segment());
    entity(cx, v, &frag, false)
}

/// Removes one method, enforcing the default-method and mobile/alternateMobile rules.
pub fn delete_method(cx: &mut Ctx, user: usize, kind: Kind, id: &str) -> GraphResult<Reply> {
    let u = &cx.st.users[user];
    let Some(pos) = u
        .methods
        .iter()
        .position(|m| m.kind == kind && m.id().eq_ignore_ascii_case(id))
    else {
        return Err(GraphError::item_not_found());
    };
    let m = &u.methods[pos];
    // FACTS §5: a mobile cannot go while an alternateMobile exists.
    if kind == Kind::Phone
        && m.phone_type() == "mobile"
        && u.methods
            .iter()
            .any(|o| o.kind == Kind::Phone && o.phone_type() == "alternateMobile")
    {
        return Err(GraphError::method_bad_request(
            "Cannot delete the mobile phone method while an alternateMobile phone method exists. Update the mobile number instead, then delete the alternateMobile phone method.",
        ));
    }
    // FACTS §4: the default goes last.
    let is_default = u
        .default_method_id
        .as_deref()
        .is_some_and(|d| d.eq_ignore_ascii_case(m.id()));
    if is_default {
        let others = u
            .methods
            .iter()
            .enumerate()
            .filter(|(j, o)| *j != pos && o.kind != Kind::Password)
            .count();
        if others > 0 {
            return Err(GraphError::method_bad_request(DEFAULT_METHOD_MESSAGE).with_inner_message());
        }
    }
    let u = &mut cx.st.users[user];
    let gone = u.methods.remove(pos);
    if is_default {
        u.default_method_id = None;
    }
    let lag = cx.st.quirks.replication_lag_reads;
    if lag > 0 {
        let user_id = cx.st.users[user].id().to_string();
        cx.st.ghosts.push(crate::state::Ghost {
            user_id,
            index: pos,
            method: gone,
            reads_left: lag,
        });
    }
    Ok(Reply::status(204))
}

pub fn delete_kind(cx: &mut Ctx, seg: &str) -> GraphResult<Reply> {
    let kind = kind_of(seg)?;
    let i = cx.user_index()?;
    let id = cx.params[1].clone();
    delete_method(cx, i, kind, &id)
}

/// Beta `signInPreferences`: the default method as `userPreferredMethodForSecondaryAuthentication`.
pub fn sign_in_preferences(cx: &mut Ctx) -> GraphResult<Reply> {
    let i = cx.user_index()?;
    let u = &cx.st.users[i];
    if u.sign_in_preferences_unreadable {
        return Err(GraphError::new(
            403,
            "accessDenied",
            "Request Authorization failed",
        ));
    }
    let v = json!({
        "isSystemPreferredAuthenticationMethodEnabled": u.system_preferred_enabled,
        "userPreferredMethodForSecondaryAuthentication": crate::state::State::preferred_secondary(u),
    });
    let uid = u.id().to_string();
    let mut r = entity(
        cx,
        v,
        &format!("users('{uid}')/authentication/signInPreferences"),
        false,
    )?;
    // A complex property, not an entity: no `/$entity` suffix.
    if let Some(b) = r.body.as_mut() {
        b["@odata.context"] =
            json!(cx.context(&format!("users('{uid}')/authentication/signInPreferences")));
    }
    Ok(r)
}

/// Beta single-valued `qrCodePinMethod` (FACTS §4 [s32]); a lagging replica still
/// returns a just-deleted one (quirk `replicationLagReads`).
pub fn qr_code_pin(cx: &mut Ctx) -> GraphResult<Reply> {
    let i = cx.user_index()?;
    let u = &cx.st.users[i];
    if cx.op.method == "GET" {
        let Some(m) = cx
            .st
            .methods_with_ghosts(u)
            .into_iter()
            .find(|m| m.kind == Kind::QrCodePin)
        else {
            return Err(GraphError::item_not_found());
        };
        let ghost = !u.methods.iter().any(|l| std::ptr::eq(l, m));
        let v = cx.st.render_method(u, m, false);
        let (uid, mid) = (u.id().to_string(), m.id().to_string());
        let frag = format!("users('{uid}')/authentication/qrCodePinMethod");
        let r = entity(cx, v, &frag, false)?;
        if ghost {
            cx.st.ghosts_read(&uid, &[mid]);
        }
        return Ok(r);
    }
    let Some(m) = u.methods.iter().find(|m| m.kind == Kind::QrCodePin) else {
        return Err(GraphError::item_not_found());
    };
    let id = m.id().to_string();
    delete_method(cx, i, Kind::QrCodePin, &id)
}
