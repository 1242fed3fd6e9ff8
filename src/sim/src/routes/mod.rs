//! Graph operation handlers and the query-option machinery they share
//! (`$select`, `$filter`, `$search`, `$orderby`, `$count`, `$top`, `$skip`, paging).

pub mod groups;
pub mod mail;
pub mod methods;
pub mod phone;
pub mod pim_groups;
pub mod policies;
pub mod roles;
pub mod signins;
pub mod tap;
pub mod users;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::errors::{GraphError, GraphResult};
use crate::filter;
use crate::openapi::{spec, Operation, Query, Version};
use crate::state::{State, DEFAULT_USER_PROPS};

/// Everything a handler may look at: the parsed request and the tenant.
pub struct Ctx<'a> {
    pub st: &'a mut State,
    pub op: &'a Operation,
    pub params: Vec<String>,
    pub q: Query,
    pub body: Option<Value>,
    pub headers: &'a [(String, String)],
    pub perms: Vec<String>,
    pub client_id: String,
    pub raw_path: String,
    pub raw_query: Option<String>,
    pub version: Version,
}

impl Ctx<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::headers::header(self.headers, name)
    }

    pub fn context(&self, fragment: &str) -> String {
        format!(
            "{}{}/$metadata#{fragment}",
            self.st.base_url,
            self.version.prefix()
        )
    }

    pub fn eventual(&self) -> bool {
        self.header("consistencylevel")
            .is_some_and(|v| v.eq_ignore_ascii_case("eventual"))
    }

    /// The user named by the first path parameter, or Graph's 404 (FACTS §2).
    pub fn user_index(&self) -> GraphResult<usize> {
        let key = &self.params[0];
        self.st
            .find_user(key)
            .ok_or_else(|| GraphError::resource_not_found(key))
    }
}

pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn ok(v: Value) -> Reply {
        Reply {
            status: 200,
            body: Some(v),
            headers: vec![],
        }
    }
    pub fn created(v: Value) -> Reply {
        Reply {
            status: 201,
            body: Some(v),
            headers: vec![],
        }
    }
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            body: None,
            headers: vec![],
        }
    }
}

/// Which query options need `ConsistencyLevel: eventual` (FACTS §8).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Advanced {
    Never,
    /// `/users`: `$search` and `$count`.
    CountSearch,
    /// Directory-object relationships: `$filter`, `$count`, `$search`, `$orderby`.
    All,
}

pub struct ListSpec {
    pub context: String,
    pub filter: Option<&'static filter::Spec>,
    /// Entity name for filter error messages; `None` uses the reports wording.
    pub filter_entity: Option<&'static str>,
    pub page_default: usize,
    pub page_max: usize,
    pub advanced: Advanced,
    pub search: &'static [&'static str],
    pub expandable: &'static [&'static str],
    /// Project user items to Graph's default property set when no `$select` (FACTS §2).
    pub user_defaults: bool,
    pub paged: bool,
    /// The items already passed `$filter` (it is still checked for errors).
    pub prefiltered: bool,
    /// Server-driven page size: at most this many items per page whatever `$top` says
    /// (quirks `membershipPageSize` / `rolePageSize`; https://learn.microsoft.com/graph/paging).
    pub server_page: Option<usize>,
}

impl ListSpec {
    pub fn new(context: String) -> ListSpec {
        ListSpec {
            context,
            filter: None,
            filter_entity: None,
            page_default: 100,
            page_max: 999,
            advanced: Advanced::Never,
            search: &[],
            expandable: &[],
            user_defaults: false,
            paged: true,
            prefiltered: false,
            server_page: None,
        }
    }
}

fn select_error(name: &str, entity: &str) -> GraphError {
    GraphError::bad_request(format!(
        "Parsing OData Select and Expand failed: Could not find a property named '{name}' on type '{entity}'."
    ))
}

fn entity_name(op: &Operation) -> String {
    op.template
        .rsplit('/')
        .find(|s| !s.starts_with('{'))
        .unwrap_or("entity")
        .to_string()
}

pub fn check_select(cx: &Ctx) -> GraphResult<()> {
    let Some(sel) = &cx.q.select else {
        return Ok(());
    };
    let known = spec().item_properties(cx.op);
    for s in sel {
        let ok = s == "*"
            || known
                .as_ref()
                .is_none_or(|k| k.iter().any(|p| p.eq_ignore_ascii_case(s)));
        if !ok {
            return Err(select_error(s, &entity_name(cx.op)));
        }
    }
    Ok(())
}

pub fn check_expand(cx: &Ctx, expandable: &[&str]) -> GraphResult<()> {
    for e in cx.q.expand.iter().flatten() {
        let name = e.split('(').next().unwrap_or_default();
        if !expandable.iter().any(|x| x.eq_ignore_ascii_case(name)) {
            return Err(select_error(name, &entity_name(cx.op)));
        }
    }
    Ok(())
}

fn is_user_item(v: &Value) -> bool {
    v.get("@odata.type")
        .is_none_or(|t| t == "#microsoft.graph.user")
}

fn project(v: &Value, sel: Option<&[String]>, user_defaults: bool) -> Value {
    let Some(o) = v.as_object() else {
        return v.clone();
    };
    let keys: Vec<String> = match sel {
        Some(s) if !s.iter().any(|x| x == "*") => s.to_vec(),
        Some(_) => return v.clone(),
        None if user_defaults && is_user_item(v) => {
            DEFAULT_USER_PROPS.iter().map(|s| s.to_string()).collect()
        }
        None => return v.clone(),
    };
    let mut out = Map::new();
    if let Some(t) = o.get("@odata.type") {
        out.insert("@odata.type".into(), t.clone());
    }
    for k in keys {
        let found = o.iter().find(|(ok, _)| ok.eq_ignore_ascii_case(&k));
        out.insert(
            found.map(|(ok, _)| ok.clone()).unwrap_or(k.clone()),
            found.map(|(_, v)| v.clone()).unwrap_or(Value::Null),
        );
    }
    // Expanded navigation properties stay.
    for (k, val) in o {
        if val.is_object() && (k == "principal" || k == "group") {
            out.insert(k.clone(), val.clone());
        }
    }
    Value::Object(out)
}

fn context_with_select(base: &str, sel: Option<&[String]>) -> String {
    match sel {
        Some(s) => format!("{base}({})", s.join(",")),
        None => base.to_string(),
    }
}

/// A single entity with `$select` applied.
pub fn entity(cx: &Ctx, v: Value, fragment: &str, user_defaults: bool) -> GraphResult<Reply> {
    check_select(cx)?;
    check_expand(cx, &[])?;
    let sel = cx.q.select.as_deref();
    let mut out = project(&v, sel, user_defaults);
    let ctx = cx.context(&format!("{}/$entity", context_with_select(fragment, sel)));
    if let Some(o) = out.as_object_mut() {
        o.insert("@odata.context".into(), json!(ctx));
    }
    Ok(Reply::ok(out))
}

fn page_secret_sig(cx: &Ctx, offset: usize) -> String {
    let mut h = Sha256::new();
    h.update(cx.st.page_secret.as_bytes());
    h.update(cx.raw_path.to_ascii_lowercase().as_bytes());
    h.update(query_without_skiptoken(cx.raw_query.as_deref()).as_bytes());
    h.update(offset.to_le_bytes());
    hex::encode(h.finalize())[..24].to_string()
}

pub(crate) fn query_without_skiptoken(raw: Option<&str>) -> String {
    raw.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let name = p.split('=').next().unwrap_or_default();
            let name = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
            !name.eq_ignore_ascii_case("$skiptoken")
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn decode_skiptoken(cx: &Ctx, tok: &str) -> GraphResult<usize> {
    let bad = || GraphError::bad_request(format!("Invalid skip token '{tok}'."));
    let (off, sig) = tok.split_once('x').ok_or_else(bad)?;
    let offset = usize::from_str_radix(off, 16).map_err(|_| bad())?;
    if page_secret_sig(cx, offset) != sig {
        return Err(bad());
    }
    Ok(offset)
}

fn sort_key(v: &Value) -> (u8, String, f64) {
    match v {
        Value::Null => (0, String::new(), 0.0),
        Value::Number(n) => (1, String::new(), n.as_f64().unwrap_or_default()),
        Value::Bool(b) => (1, String::new(), f64::from(u8::from(*b))),
        Value::String(s) => (2, s.to_lowercase(), 0.0),
        other => (3, other.to_string(), 0.0),
    }
}

/// Applies the collection query options and renders `{"@odata.context", "value", "@odata.nextLink"}`.
pub fn collection(cx: &Ctx, items: Vec<Value>, spec_: ListSpec) -> GraphResult<Reply> {
    collection_of(cx, items.iter().collect(), spec_)
}

/// [`collection`] over borrowed items: a large store (200,000 sign-ins)
/// is filtered and paged without copying what the page does not return.
pub fn collection_of(cx: &Ctx, mut items: Vec<&Value>, spec_: ListSpec) -> GraphResult<Reply> {
    let q = &cx.q;
    let needs_eventual = match spec_.advanced {
        Advanced::Never => false,
        Advanced::CountSearch => q.count || q.search.is_some(),
        Advanced::All => q.count || q.search.is_some() || q.filter.is_some() || q.orderby.is_some(),
    };
    if needs_eventual && !cx.eventual() {
        return Err(GraphError::unsupported_query(
            "Request with $filter, $search, $count or $orderby on this resource requires the ConsistencyLevel:eventual header and $count=true.",
        ));
    }
    check_select(cx)?;
    check_expand(cx, spec_.expandable)?;
    if let Some(f) = &q.filter {
        let filter_err = |prop: Option<String>| {
            match (spec_.filter_entity, prop) {
            (Some(entity), Some(p)) => GraphError::unsupported_query(format!(
                "Unsupported or invalid query filter clause specified for property '{p}' of resource '{entity}'."
            )),
            (Some(_), None) => GraphError::bad_request("Invalid filter clause"),
            (None, _) => GraphError::bad_request("Invalid filter clause"),
        }
        };
        let Some(fspec) = spec_.filter else {
            return Err(filter_err(None));
        };
        let expr = filter::parse(f).map_err(|_| filter_err(None))?;
        filter::check(&expr, fspec).map_err(|_| filter_err(Some(filter::first_property(&expr))))?;
        if !spec_.prefiltered {
            items.retain(|i| filter::eval(&expr, i));
        }
    }
    if let Some(s) = &q.search {
        let bad = || GraphError::unsupported_query(format!("Invalid $search value: {s}"));
        if spec_.search.is_empty() {
            return Err(GraphError::unsupported_query(
                "Search is not supported on this resource.",
            ));
        }
        let inner = s
            .trim()
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .ok_or_else(bad)?;
        let (prop, needle) = inner.split_once(':').ok_or_else(bad)?;
        if !spec_.search.iter().any(|p| p.eq_ignore_ascii_case(prop)) {
            return Err(bad());
        }
        let needle = needle.to_lowercase();
        items.retain(|i| {
            i[prop]
                .as_str()
                .is_some_and(|v| v.to_lowercase().contains(&needle))
        });
    }
    if let Some(ob) = &q.orderby {
        let mut parts = ob.split_whitespace();
        let prop = parts.next().unwrap_or_default().to_string();
        let desc = match parts.next() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(_) => return Err(GraphError::bad_request(format!("Invalid $orderby: {ob}"))),
        };
        let known = spec().item_properties(cx.op).unwrap_or_default();
        if ob.contains(',') || !known.iter().any(|k| k.eq_ignore_ascii_case(&prop)) {
            return Err(GraphError::unsupported_query(format!(
                "Sorting by '{ob}' is not supported."
            )));
        }
        let path: Vec<&str> = prop.split('/').collect();
        let key = |v: &Value| {
            let mut cur = v;
            for p in &path {
                cur = &cur[*p];
            }
            sort_key(cur)
        };
        items.sort_by(|a, b| {
            let o = key(a)
                .partial_cmp(&key(b))
                .unwrap_or(std::cmp::Ordering::Equal);
            if desc {
                o.reverse()
            } else {
                o
            }
        });
    }
    let total = items.len();
    if let Some(top) = q.top {
        if top as usize > spec_.page_max {
            return Err(GraphError::bad_request(format!(
                "Invalid page size specified: '{top}'. Must be between 1 and {} inclusive.",
                spec_.page_max
            )));
        }
    }
    let start = match &q.skiptoken {
        Some(t) => decode_skiptoken(cx, t)?,
        None => q.skip.unwrap_or(0) as usize,
    };
    let page = if spec_.paged {
        let asked = q.top.map(|t| t as usize).unwrap_or(spec_.page_default);
        spec_.server_page.map_or(asked, |cap| asked.min(cap))
    } else {
        q.top.map(|t| t as usize).unwrap_or(usize::MAX)
    };
    let end = start.saturating_add(page).min(total);
    let sel = q.select.as_deref();
    let value: Vec<Value> = items
        .get(start.min(total)..end)
        .unwrap_or_default()
        .iter()
        .map(|v| project(v, sel, spec_.user_defaults))
        .collect();
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        json!(cx.context(&context_with_select(&spec_.context, sel))),
    );
    if q.count {
        out.insert("@odata.count".into(), json!(total));
    }
    if spec_.paged && page > 0 && end < total {
        let rest = query_without_skiptoken(cx.raw_query.as_deref());
        let token = format!("{:x}x{}", end, page_secret_sig(cx, end));
        let sep = if rest.is_empty() { "" } else { "&" };
        out.insert(
            "@odata.nextLink".into(),
            json!(format!(
                "{}{}?{rest}{sep}$skiptoken={token}",
                cx.st.base_url, cx.raw_path
            )),
        );
    }
    out.insert("value".into(), Value::Array(value));
    Ok(Reply::ok(Value::Object(out)))
}

/// Routes an authorised, validated request to its handler.
pub fn dispatch(cx: &mut Ctx) -> GraphResult<Reply> {
    let template = cx.op.template.clone();
    let segs: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    let m = cx.op.method.clone();
    match (m.as_str(), segs.as_slice()) {
        ("GET", ["users"]) => users::list(cx),
        ("GET", ["users", _]) => users::get(cx),
        ("GET", ["users", _, "manager"]) => users::manager(cx),
        ("GET", ["users", _, "memberOf"]) => users::member_of(cx, false),
        ("GET", ["users", _, "transitiveMemberOf"]) => users::member_of(cx, true),
        ("POST", ["users", _, "checkMemberGroups"]) => users::check_member_groups(cx),
        ("POST", ["users", _, "checkMemberObjects"]) => users::check_member_objects(cx),
        ("POST", ["users", _, "revokeSignInSessions"]) => users::revoke(cx),
        ("POST", ["users", _, "sendMail"]) => mail::send(cx),
        ("GET", ["users", _, "authentication", "methods"]) => methods::list_all(cx),
        ("GET", ["users", _, "authentication", "methods", _]) => methods::get_any(cx),
        ("GET", ["users", _, "authentication", "signInPreferences"]) => {
            methods::sign_in_preferences(cx)
        }
        (_, ["users", _, "authentication", "qrCodePinMethod"]) => methods::qr_code_pin(cx),
        ("POST", ["users", _, "authentication", "phoneMethods", _, "enableSmsSignIn"]) => {
            phone::sms_sign_in(cx, true)
        }
        ("POST", ["users", _, "authentication", "phoneMethods", _, "disableSmsSignIn"]) => {
            phone::sms_sign_in(cx, false)
        }
        ("POST", ["users", _, "authentication", "phoneMethods"]) => phone::create(cx),
        ("PATCH", ["users", _, "authentication", "phoneMethods", _]) => phone::update(cx),
        ("POST", ["users", _, "authentication", "temporaryAccessPassMethods"]) => tap::create(cx),
        ("GET", ["users", _, "authentication", kind]) => methods::list_kind(cx, kind),
        ("GET", ["users", _, "authentication", kind, _]) => methods::get_kind(cx, kind),
        ("DELETE", ["users", _, "authentication", kind, _]) => methods::delete_kind(cx, kind),
        ("GET", ["policies", "authenticationMethodsPolicy"]) => policies::get_policy(cx),
        (
            "GET",
            ["policies", "authenticationMethodsPolicy", "authenticationMethodConfigurations", _],
        ) => policies::get_configuration(cx),
        ("GET", ["auditLogs", "signIns"]) => signins::list(cx),
        ("GET", ["auditLogs", "signIns", _]) => signins::get(cx),
        ("GET", ["reports", "authenticationMethods", "userRegistrationDetails"]) => {
            signins::registration_details(cx, false)
        }
        ("GET", ["reports", "authenticationMethods", "userRegistrationDetails", _]) => {
            signins::registration_details(cx, true)
        }
        ("GET", ["roleManagement", "directory", which]) => roles::list(cx, which),
        ("GET", ["directoryRoles"]) => roles::directory_roles(cx),
        ("GET", ["directoryRoles", _, "members"]) => roles::directory_role_members(cx),
        ("GET", ["groups", _, "transitiveMembers"]) => groups::transitive_members(cx),
        ("GET", ["groups"]) => groups::list(cx),
        ("GET", ["groups", _, "owners"]) => groups::owners(cx),
        ("GET", ["identityGovernance", "privilegedAccess", "group", which]) => {
            pim_groups::list(cx, which)
        }
        _ => Err(GraphError::new(
            501,
            "NotImplemented",
            format!("graph-sim does not implement {m} {template}."),
        )),
    }
}
