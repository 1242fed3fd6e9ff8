//! Sign-in logs and registration details: licence, retention, reports throttle,
//! `$filter`, paging (FACTS §7).

use serde_json::{json, Value};

use super::{collection, collection_of, entity, Ctx, ListSpec, Reply};
use crate::clock;
use crate::errors::{GraphError, GraphResult};
use crate::filter::{Expr, Kind, Lit, Op, Spec};
use crate::state::{Kind as MethodKind, State};
use time::OffsetDateTime;

static SIGNIN_FILTER: Spec = Spec {
    clauses: &[
        ("createdDateTime", &["ge", "le", "gt", "lt"], Kind::DateTime),
        ("status/errorCode", &["eq", "ne"], Kind::Int),
        ("userId", &["eq"], Kind::Str),
        ("userPrincipalName", &["eq", "startswith"], Kind::Str),
        ("appId", &["eq"], Kind::Str),
        ("appDisplayName", &["eq", "startswith"], Kind::Str),
    ],
    allow_or: true,
    allow_not: false,
};

/// Sign-in events store `userPrincipalName` in lower case and `$filter` on it compares
/// exactly, so `eq 'Bob@contoso.com'` finds nothing
/// (https://github.com/microsoftgraph/microsoft-graph-docs/issues/13684 ,
/// https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/9049); `startswith`
/// is modelled the same way (the conservative reading: no source says it folds case).
/// `userId` (a GUID) still matches in any case.
const SIGNIN_EXACT: &[&str] = &["userPrincipalName"];

static REGISTRATION_FILTER: Spec = Spec {
    clauses: &[
        ("id", &["eq"], Kind::Str),
        ("userPrincipalName", &["eq", "startswith"], Kind::Str),
        ("isMfaRegistered", &["eq"], Kind::Bool),
        ("isMfaCapable", &["eq"], Kind::Bool),
        ("isAdmin", &["eq"], Kind::Bool),
        ("userType", &["eq"], Kind::Str),
    ],
    allow_or: true,
    allow_not: false,
};

/// Identity and access reports: N requests per window per app on the sim clock (FACTS §7 [s39]).
fn throttle(cx: &mut Ctx) -> GraphResult<()> {
    let now = cx.st.now();
    let cfg = cx.st.throttle;
    let window = time::Duration::seconds(cfg.reports_window_seconds);
    let hits = cx.st.report_hits.entry(cx.client_id.clone()).or_default();
    while hits.front().is_some_and(|t| *t + window <= now) {
        hits.pop_front();
    }
    if hits.len() >= cfg.reports_max_requests {
        let oldest = *hits.front().expect("non-empty");
        let wait = (oldest + window - now).as_seconds_f64().ceil().max(1.0) as u64;
        return Err(GraphError::throttled(wait));
    }
    hits.push_back(now);
    Ok(())
}

/// FACTS §7 [s38]: sign-in logs need P1/P2.
fn licence(cx: &Ctx) -> GraphResult<()> {
    if cx.st.tenant.premium {
        Ok(())
    } else {
        Err(GraphError::new(
            403,
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
            "Neither tenant is B2C or tenant doesn't have premium license",
        ))
    }
}

/// Indices of the sign-ins inside the retention window that have reached
/// the log (`signIns.ingestionDelaySeconds` after they happened), and
/// inside `[lower, upper]` when given: the log is kept in time order, so
/// the range is found by binary search and only it is filtered further.
fn retained(
    st: &State,
    lower: Option<OffsetDateTime>,
    upper: Option<OffsetDateTime>,
) -> Vec<usize> {
    let now = st.now();
    let cutoff = now - time::Duration::days(st.tenant.sign_in_retention_days);
    let arrived = now - time::Duration::seconds(st.sign_in_delay_secs);
    let newest = upper.map_or(arrived, |u| u.min(arrived));
    let oldest = lower.map_or(cutoff, |l| l.max(cutoff));
    let times = &st.sign_in_times;
    // Newest first: the first index at or before `newest`, the first one
    // older than `oldest`.
    let start = times.partition_point(|t| *t > newest);
    let end = times.partition_point(|t| *t >= oldest);
    (start..end.max(start)).collect()
}

/// The `createdDateTime` bounds a filter's top-level conjunction sets
/// (`ge`/`gt` below, `le`/`lt` above); the whole filter still decides.
fn time_bounds(e: &Expr) -> (Option<OffsetDateTime>, Option<OffsetDateTime>) {
    match e {
        Expr::And(a, b) => {
            let (la, ua) = time_bounds(a);
            let (lb, ub) = time_bounds(b);
            (
                la.max(lb),
                match (ua, ub) {
                    (Some(x), Some(y)) => Some(x.min(y)),
                    (x, y) => x.or(y),
                },
            )
        }
        Expr::Cmp {
            prop,
            op,
            lit: Lit::DateTime(t),
        } if prop == "createdDateTime" => match op {
            Op::Ge | Op::Gt => (Some(*t), None),
            Op::Le | Op::Lt => (None, Some(*t)),
            _ => (None, None),
        },
        _ => (None, None),
    }
}

pub fn list_sign_ins(cx: &mut Ctx) -> GraphResult<Reply> {
    throttle(cx)?;
    licence(cx)?;
    let mut spec = ListSpec::new("auditLogs/signIns".into());
    spec.filter = Some(&SIGNIN_FILTER);
    spec.page_default = 1000;
    spec.page_max = 1000;
    // A filter that parses and is allowed is applied here, once per query;
    // anything else goes to `collection_of`, which refuses it as Graph does.
    let expr =
        cx.q.filter
            .as_deref()
            .and_then(|f| crate::filter::parse(f).ok())
            .filter(|e| crate::filter::check(e, &SIGNIN_FILTER).is_ok());
    spec.prefiltered = expr.is_some();
    let key = format!(
        "{}|{}",
        super::query_without_skiptoken(cx.raw_query.as_deref()),
        cx.st.now().unix_timestamp() / 60
    );
    let matches = match &cx.st.sign_in_matches {
        Some((k, m)) if *k == key => m.clone(),
        _ => {
            let (lower, upper) = expr.as_ref().map_or((None, None), time_bounds);
            let m: Vec<usize> = retained(cx.st, lower, upper)
                .into_iter()
                .filter(|&i| {
                    expr.as_ref().is_none_or(|e| {
                        crate::filter::eval_case(e, &cx.st.sign_ins[i], SIGNIN_EXACT)
                    })
                })
                .collect();
            cx.st.sign_in_matches = Some((key, m.clone()));
            m
        }
    };
    let items = matches.iter().map(|&i| &cx.st.sign_ins[i]).collect();
    collection_of(cx, items, spec)
}

pub fn list(cx: &mut Ctx) -> GraphResult<Reply> {
    list_sign_ins(cx)
}

pub fn get(cx: &mut Ctx) -> GraphResult<Reply> {
    throttle(cx)?;
    licence(cx)?;
    let id = cx.params[0].clone();
    let v = retained(cx.st, None, None)
        .into_iter()
        .map(|i| cx.st.sign_ins[i].clone())
        .find(|s| {
            s["id"]
                .as_str()
                .is_some_and(|i| i.eq_ignore_ascii_case(&id))
        })
        .ok_or_else(|| GraphError::resource_not_found(&id))?;
    entity(cx, v, "auditLogs/signIns", false)
}

fn method_names(u: &crate::state::User) -> Vec<&'static str> {
    let mut out = Vec::new();
    for m in &u.methods {
        let name = match m.kind {
            MethodKind::Phone => match m.phone_type() {
                "mobile" => "mobilePhone",
                "alternateMobile" => "alternateMobilePhone",
                _ => "officePhone",
            },
            MethodKind::MicrosoftAuthenticator => "microsoftAuthenticatorPush",
            MethodKind::SoftwareOath => "softwareOneTimePasscode",
            MethodKind::HardwareOath => "hardwareOneTimePasscode",
            MethodKind::Fido2 => "passKeyDeviceBound",
            MethodKind::WindowsHelloForBusiness => "windowsHelloForBusiness",
            MethodKind::Email => "email",
            MethodKind::TemporaryAccessPass => "temporaryAccessPass",
            MethodKind::PlatformCredential => "macOsSecureEnclaveKey",
            MethodKind::External => "externalAuthMethod",
            MethodKind::QrCodePin => "qrCodePin",
            MethodKind::Password => continue,
        };
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

fn registration(st: &State, u: &crate::state::User) -> Value {
    let names = method_names(u);
    let mfa = names
        .iter()
        .any(|n| !matches!(*n, "email" | "temporaryAccessPass"));
    let admin = st.roles_held_by(u.id()).len()
        + st.transitive_groups(u.id())
            .iter()
            .map(|g| st.roles_held_by(g).len())
            .sum::<usize>()
        > 0;
    let preferred = State::preferred_secondary(u);
    json!({
        "id": u.id(),
        "userPrincipalName": u.upn(),
        "userDisplayName": u.props.get("displayName"),
        "userType": if u.props.get("userType") == Some(&json!("Guest")) { "guest" } else { "member" },
        "isAdmin": admin,
        "isMfaRegistered": mfa,
        "isMfaCapable": mfa && u.props.get("accountEnabled") != Some(&json!(false)),
        "isPasswordlessCapable": names.iter().any(|n| matches!(*n, "passKeyDeviceBound" | "windowsHelloForBusiness")),
        "isSsprRegistered": mfa || names.contains(&"email"),
        "isSsprEnabled": false,
        "isSsprCapable": false,
        "isSystemPreferredAuthenticationMethodEnabled": u.system_preferred_enabled,
        "lastUpdatedDateTime": clock::graph(st.seeded_at),
        "methodsRegistered": names,
        "systemPreferredAuthenticationMethods": [],
        "userPreferredMethodForSecondaryAuthentication": if preferred.is_null() { json!("none") } else { preferred },
    })
}

pub fn registration_details(cx: &mut Ctx, single: bool) -> GraphResult<Reply> {
    throttle(cx)?;
    licence(cx)?;
    let items: Vec<Value> = cx.st.users.iter().map(|u| registration(cx.st, u)).collect();
    if single {
        let id = cx.params[0].clone();
        let v = items
            .into_iter()
            .find(|v| {
                v["id"]
                    .as_str()
                    .is_some_and(|i| i.eq_ignore_ascii_case(&id))
            })
            .ok_or_else(|| GraphError::resource_not_found(&id))?;
        return entity(
            cx,
            v,
            "reports/authenticationMethods/userRegistrationDetails",
            false,
        );
    }
    let mut spec = ListSpec::new("reports/authenticationMethods/userRegistrationDetails".into());
    spec.filter = Some(&REGISTRATION_FILTER);
    spec.filter_entity = Some("userRegistrationDetails");
    spec.page_default = 1000;
    spec.page_max = 1000;
    collection(cx, items, spec)
}
