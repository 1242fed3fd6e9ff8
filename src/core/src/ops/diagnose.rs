//! `GET /v1/diagnose` (API.md): the first call when a user says "I can't
//! get in". Every independent read goes in one v1.0 `$batch`; beta's
//! `signInPreferences` (JSON batching is per version) is sent alongside it,
//! concurrently. A source that cannot be read is listed in `unavailable`
//! and never fails the call; only the user themself is required. Reads
//! only: nothing is written to Graph, and the audit record is a read.

use std::collections::BTreeMap;

use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::access;
use crate::api::endpoints;
use crate::api::query::{Query, QueryError};
use crate::api::request::Request;
use crate::api::response::{self, Response};
use crate::api::{ErrorCode, Problem, RequestId};
use crate::audit::{self, AuditEntry, Outcome};
use crate::config::Config;
use crate::graph::client::DEFAULT_BUDGET;
use crate::graph::licences::{self, Licence, Licences};
use crate::graph::methods::{self, Method, MethodType};
use crate::graph::privileged::{self, PimState, ProtectionReason};
use crate::graph::signins::{self, Aggregate};
use crate::graph::users::{self, DirectoryUser, UserSummary};
use crate::graph::{tap, BatchRequest, GraphClient, GraphError, GraphResponse, Version};
use crate::ports::Host;
use crate::types::{Instant, UserRef};

/// The sign-in error codes diagnose reads: every code the meanings table
/// explains (the same table the failures report uses).
fn codes() -> Vec<u32> {
    signins::MEANINGS.iter().map(|(c, _)| *c).collect()
}

/// Codes that mean the MFA step itself failed or was demanded.
const MFA_CODES: [u32; 5] = [500121, 50074, 50076, 50079, 50158];

/// The checked query: `user` (required), `days` (1..=30, default 7).
#[derive(Debug)]
pub struct DiagnoseQuery {
    pub user: UserRef,
    pub days: u32,
}

impl DiagnoseQuery {
    pub const NAMES: [&'static str; 2] = ["user", "days"];

    /// Parses the URL query by [`Query`]'s rules.
    pub fn parse(raw: &str) -> Result<DiagnoseQuery, Problem> {
        let query = Query::parse(raw, &Self::NAMES)?;
        let user = query.user("user")?.ok_or_else(|| {
            QueryError::invalid("user", "is required: a userPrincipalName or object id")
        })?;
        let days = query
            .integer(
                "days",
                1..=30,
                "must be an integer from 1 to 30 (sign-in logs are kept 30 days)",
            )?
            .unwrap_or(7) as u32;
        Ok(DiagnoseQuery { user, days })
    }
}

/// A source that could not be read, and why (stable reason codes).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Unavailable {
    pub source: &'static str,
    pub reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graph_error_code: Option<String>,
    /// The Graph permission to grant, for `permission_missing`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permission: Option<&'static str>,
}

/// Why Graph would not give a source.
fn reason(
    source: &'static str,
    beta: bool,
    res: Result<&GraphResponse, &GraphError>,
) -> Unavailable {
    let (reason, code) = match res {
        Ok(r) => {
            let code = r.error_code().map(str::to_string);
            let reason = match (r.status, code.as_deref()) {
                (403, Some("Authentication_RequestFromNonPremiumTenantOrB2CTenant")) => {
                    "premium_license_required"
                }
                (429 | 503 | 504, _) => "throttled",
                (400..=499, _) if beta => "beta_refused",
                (401 | 403, _) => "permission_missing",
                (404, _) => "not_found",
                _ => "graph_error",
            };
            (reason, code)
        }
        Err(GraphError::Throttled { .. }) => ("throttled", None),
        Err(GraphError::PermissionMissing { permission, .. }) => {
            return Unavailable {
                source,
                reason: "permission_missing",
                graph_error_code: Some("Authorization_RequestDenied".into()),
                permission: Some(permission),
            }
        }
        Err(GraphError::Status { status, code, .. }) => (
            match (status, code.as_deref()) {
                (403, Some(licences::P1_REQUIRED)) => "premium_license_required",
                (403, _) => "permission_missing",
                (404, _) => "not_found",
                _ => "graph_error",
            },
            code.clone(),
        ),
        Err(GraphError::Unreachable(_)) => ("graph_unavailable", None),
        Err(_) => ("graph_error", None),
    };
    Unavailable {
        source,
        reason,
        graph_error_code: code,
        permission: (reason == "permission_missing")
            .then(|| source_permission(source))
            .flatten(),
    }
}

/// The permission behind each source diagnose reads (the protection reads
/// name their own through [`GraphError::PermissionMissing`]).
fn source_permission(source: &str) -> Option<&'static str> {
    use crate::graph::permissions as p;
    Some(
        match source {
            "memberships" => p::USER_READ,
            "methods" | "temporaryAccessPass" | "signInPreferences" => p::METHODS_READ,
            "tapPolicy" => p::POLICY_READ,
            "signIns" | "registration" => p::AUDIT_LOG_READ,
            _ => return None,
        }
        .least,
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Blocker,
    Warning,
    Info,
}

/// One finding: a stable code, how much it matters, what it means, and the
/// request to send next where one fits.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggested_action: Option<Value>,
}

fn finding(code: &'static str, severity: Severity, message: String) -> Finding {
    Finding {
        code,
        severity,
        message,
        suggested_action: None,
    }
}

/// What Graph's `userRegistrationDetails` says of the user's MFA.
#[derive(Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    #[serde(default)]
    pub is_mfa_registered: Option<bool>,
    #[serde(default)]
    pub is_mfa_capable: Option<bool>,
    #[serde(default)]
    pub methods_registered: Option<Vec<String>>,
}

/// Everything read, each source either present or unavailable.
pub struct Evidence {
    pub user: DirectoryUser,
    pub protection: Option<Vec<ProtectionReason>>,
    /// Whether PIM was part of the protection check, and why not.
    pub pim: Option<PimState>,
    pub methods: Option<Vec<Method>>,
    pub default_hint: Option<String>,
    pub registration: Option<Registration>,
    pub policy: Option<tap::TapPolicy>,
    pub in_scope: Option<bool>,
    pub existing: Option<Vec<tap::ExistingPass>>,
    pub failures: Option<(Aggregate, bool)>,
}

/// The verdict from the evidence, blockers first.
pub fn findings(
    e: &Evidence,
    unavailable: &[Unavailable],
    config: &Config,
    since: &str,
) -> Vec<Finding> {
    let upn = &e.user.summary.user_principal_name;
    let action = |operation: &str, body: Value| json!({ "operation": operation, "body": body });
    let mut tap_body = json!({ "user": upn, "ticket": "<ticket>", "reason": "<why>" });
    // A new pass replaces the one the user has (only one is allowed).
    if e.existing.as_ref().is_some_and(|x| !x.is_empty()) {
        tap_body["replaceExisting"] = json!(true);
    }
    let mut out = Vec::new();

    if !e.user.account_enabled {
        out.push(finding(
            "account_disabled",
            Severity::Blocker,
            "the account is disabled: no MFA action helps until it is re-enabled in Entra ID"
                .into(),
        ));
    }
    let tap_possible = e.policy.as_ref().is_some_and(|p| p.enabled()) && e.in_scope == Some(true);
    if let Some(methods) = &e.methods {
        let usable = methods.iter().any(|m| {
            !m.is(MethodType::Password)
                && !m.is(MethodType::Email)
                && !m.is(MethodType::TemporaryAccessPass)
        });
        if !usable && e.user.account_enabled {
            let mut f = finding(
                "no_usable_method",
                Severity::Blocker,
                "the user has no MFA method (nothing but a password or email): issue a Temporary Access Pass so they can register one".into(),
            );
            if tap_possible {
                f.suggested_action = Some(action("POST /v1/tap", tap_body.clone()));
            } else {
                f.suggested_action = Some(action(
                    "POST /v1/phone",
                    json!({ "user": upn, "phoneNumber": "<a number from the directory or HR record>", "ticket": "<ticket>" }),
                ));
            }
            out.push(f);
        }
    }
    if let Some((agg, _)) = &e.failures {
        let by_code = by_code(agg);
        let count = |codes: &[u32]| -> u64 {
            codes
                .iter()
                .filter_map(|c| by_code.get(c))
                .map(|(n, _)| *n)
                .sum()
        };
        let mfa = count(&MFA_CODES);
        if mfa > 0 {
            let mut f = finding(
                "repeated_mfa_failures",
                Severity::Warning,
                format!("{mfa} MFA failure(s) since {since} (500121 and related): the user has the password but cannot finish MFA, typically a lost or replaced phone"),
            );
            if tap_possible && e.user.account_enabled {
                f.suggested_action = Some(action("POST /v1/tap", tap_body.clone()));
            }
            out.push(f);
        }
        // Not MFA problems: no MFA change helps.
        for (code, finding_code, what) in [
            (53003, "blocked_by_conditional_access", "blocked by Conditional Access (53003): not an MFA problem; check which policy applied in the sign-in log"),
            (50053, "account_locked", "refused by smart lockout (50053): wait for the lockout to end or reset the password; MFA changes do not unlock it"),
        ] {
            let n = count(&[code]);
            if n > 0 {
                out.push(finding(finding_code, Severity::Warning, format!("{n} sign-in(s) {what}")));
            }
        }
    }
    match &e.policy {
        Some(p) if !p.enabled() => out.push(finding(
            "tap_policy_disabled",
            Severity::Info,
            "the tenant's Temporary Access Pass policy is disabled: POST /v1/tap will be refused".into(),
        )),
        Some(_) if e.in_scope == Some(false) => out.push(finding(
            "user_not_in_tap_policy_scope",
            Severity::Info,
            "the user is outside the Temporary Access Pass policy's targets: POST /v1/tap will be refused".into(),
        )),
        _ => {}
    }
    if let Some(passes) = &e.existing {
        for p in passes {
            out.push(finding(
                "existing_tap",
                Severity::Info,
                format!(
                    "the user already has a Temporary Access Pass{}{}: a new one needs replaceExisting: true",
                    expires(p).map(|x| format!(" expiring {x}")).unwrap_or_default(),
                    if p.is_usable == Some(false) { " (not usable now)" } else { "" }
                ),
            ));
        }
    }
    if let Some(reasons) = e.protection.as_ref().filter(|r| !r.is_empty()) {
        let why: Vec<String> = reasons
            .iter()
            .map(|r| format!("{} ({})", r.code, r.name))
            .collect();
        out.push(finding(
            "protected_user",
            Severity::Warning,
            format!(
                "the user is protected ({}): a change needs a caller with the privileged scope{}",
                why.join(", "),
                if config.require_verification != crate::config::VerificationRequirement::None {
                    " and verification evidence"
                } else {
                    ""
                }
            ),
        ));
    }
    if e.user.is_guest() {
        out.push(finding(
            "guest_user",
            Severity::Warning,
            "the user is a guest: their home tenant may enforce its own MFA, which this tenant cannot reset".into(),
        ));
    }
    if let Some(u) = unavailable.iter().find(|u| u.source == "signIns") {
        out.push(finding(
            "sign_in_logs_unavailable",
            Severity::Info,
            format!(
                "the sign-in log could not be read ({}): failures, Conditional Access blocks and lockouts were not checked",
                u.reason
            ),
        ));
    }
    // Stable: blockers first, then warnings, then info, each in the order above.
    crate::types::sort_by_key_stable(&mut out, |f| f.severity);
    out
}

/// When a pass ends, if Graph said when it starts and for how long.
fn expires(p: &tap::ExistingPass) -> Option<String> {
    p.start_date_time
        .as_deref()
        .and_then(|s| Instant::parse(s).ok())
        .zip(p.lifetime_in_minutes)
        .map(|(s, m)| s.plus_minutes(m).to_rfc3339())
}

/// Failures per sign-in error code: count and last time.
fn by_code(agg: &Aggregate) -> BTreeMap<u32, (u64, String)> {
    let mut out: BTreeMap<u32, (u64, String)> = BTreeMap::new();
    for u in agg.iter() {
        for (code, n) in &u.error_codes {
            if let Ok(c) = code.parse::<u32>() {
                let e = out.entry(c).or_default();
                e.0 += n;
                if u.last_failure_date_time > e.1 {
                    e.1 = u.last_failure_date_time.clone();
                }
            }
        }
    }
    out
}

/// Reads every source: one v1.0 `$batch`, the beta default-method read
/// beside it, then what needs the first answers (further pages of
/// memberships and sign-ins, the registration row by the resolved id, the
/// role holders' second step), concurrently.
async fn read(
    graph: &GraphClient<'_>,
    host: &Host<'_>,
    config: &Config,
    user: &UserRef,
    since: Instant,
    now: Instant,
) -> Result<(Evidence, Vec<Unavailable>), Problem> {
    let unix = crate::types::unix_secs(host.clock.now());
    // The role holders are cached for minutes; when they are not, their
    // reads join the same `$batch`.
    let cached_holders = privileged::cached(graph.sealed(), unix).ok().flatten();
    let mut requests = vec![
        users::get_user(user),
        users::get_memberships(user),
        methods::list_request(user),
        tap::policy_request(),
        tap::existing_request(user),
        BatchRequest::get(
            "signins",
            signins::first_page_path(since, now, &codes(), Some(user)),
        ),
    ];
    // The registration report is keyed by object id: with an id it joins
    // the batch, with a UPN it waits for the user.
    if let UserRef::Id(id) = user {
        requests.push(BatchRequest::get(
            "registration",
            signins::registration_path(id),
        ));
    }
    let fixed = requests.len();
    let role_reads = match cached_holders {
        Some(_) => Vec::new(),
        None => privileged::requests(graph.sealed(), unix),
    };
    requests.extend(role_reads.iter().cloned());
    let prefs_path = format!(
        "/users{}/authentication/signInPreferences",
        user.graph_segment()
    );
    // One token for both, so two concurrent first requests do not fetch two.
    graph.prepare().await.map_err(Problem::from)?;
    let (answers, prefs) = futures_util::future::join(
        graph.batch_partial(&requests),
        graph.send(Version::Beta, "GET", &prefs_path, None),
    )
    .await;
    let mut answers = answers.map_err(Problem::from)?;
    if answers.len() < fixed {
        return Err(Problem::from(GraphError::Malformed("short $batch".into())));
    }
    let role_answers = answers.split_off(fixed);
    let mut answers = answers.into_iter();
    let mut next = || answers.next().expect("length checked");
    let (user_res, memberships, methods_res, policy, existing, first_signins) =
        (next(), next(), next(), next(), next(), next());
    let registration_in_batch = (fixed == 7).then(next);

    let user = users::parse_user(user_res)
        .map_err(Problem::from)?
        .ok_or_else(|| {
            Problem::new(
                ErrorCode::UserNotFound,
                format!("no user {user} in the tenant"),
            )
        })?;
    let mut unavailable = Vec::new();
    let take = |unavailable: &mut Vec<Unavailable>,
                source: &'static str,
                beta: bool,
                res: &GraphResponse|
     -> bool {
        if res.is_success() {
            return true;
        }
        unavailable.push(reason(source, beta, Ok(res)));
        false
    };

    let methods = take(&mut unavailable, "methods", false, &methods_res)
        .then(|| methods::parse_list(methods_res, None).ok())
        .flatten();
    let policy_ok = take(&mut unavailable, "tapPolicy", false, &policy);
    let policy = policy_ok.then(|| tap::parse_policy(policy).ok()).flatten();
    let existing = take(&mut unavailable, "temporaryAccessPass", false, &existing)
        .then(|| tap::parse_existing(existing).ok())
        .flatten();
    Licences::observe(graph.sealed(), unix, Licence::P1, &first_signins);
    let first_ok = take(&mut unavailable, "signIns", false, &first_signins);
    let default_hint = match &prefs {
        Ok(r) if r.is_success() => r
            .body
            .get("userPreferredMethodForSecondaryAuthentication")
            .and_then(Value::as_str)
            .map(str::to_string),
        other => {
            unavailable.push(reason("signInPreferences", true, other.as_ref()));
            None
        }
    };

    // What depends on the first answers, side by side.
    let user_id = user.summary.id.clone();
    let registration_read = async {
        match registration_in_batch {
            Some(r) => Ok(r),
            None => graph.get(&signins::registration_path(&user_id)).await,
        }
    };
    let failures_read = async {
        if !first_ok {
            return None;
        }
        let mut agg = Aggregate::default();
        Some(
            signins::fold_pages(graph, &first_signins.body, &mut agg)
                .await
                .map(|(_, truncated)| (agg, truncated)),
        )
    };
    let memberships_read = async {
        if !memberships.is_success() {
            return Err(reason("memberships", false, Ok(&memberships)));
        }
        users::all_memberships(graph, memberships)
            .await
            .map_err(|e| reason("memberships", false, Err(&e)))
    };
    let holders_read = async {
        match cached_holders {
            Some(h) => Ok(h),
            None => privileged::from_answers(graph, unix, &role_reads, role_answers)
                .await
                .map_err(|e| reason("protection", false, Err(&e))),
        }
    };
    let (registration, failures, memberships, holders) = futures_util::future::join4(
        registration_read,
        failures_read,
        memberships_read,
        holders_read,
    )
    .await;

    let registration = match registration {
        Ok(r) => {
            Licences::observe(graph.sealed(), unix, Licence::P1, &r);
            take(&mut unavailable, "registration", false, &r)
                .then(|| serde_json::from_value::<Registration>(r.body.clone()).unwrap_or_default())
        }
        Err(e) => {
            unavailable.push(reason("registration", false, Err(&e)));
            None
        }
    };
    let failures = match failures {
        Some(Ok(f)) => Some(f),
        Some(Err(e)) => {
            unavailable.push(reason("signIns", false, Err(&e)));
            None
        }
        None => None,
    };
    let memberships = memberships.map_err(|u| unavailable.push(u)).ok();
    let in_scope = match (&policy, &memberships) {
        (Some(p), Some(m)) => {
            let ids: Vec<&str> = m.iter().map(|(id, _)| id.as_str()).collect();
            Some(p.covers(&user.summary.id, &ids))
        }
        _ => None,
    };
    let (protection, pim) = match (&memberships, holders) {
        (Some(m), Ok(holders)) => (
            Some(privileged::reasons(&user, m, &holders, config)),
            Some(holders.pim),
        ),
        (_, Err(u)) => {
            unavailable.push(u);
            (None, None)
        }
        (None, Ok(_)) => {
            unavailable.push(Unavailable {
                source: "protection",
                reason: "memberships_unavailable",
                graph_error_code: None,
                permission: None,
            });
            (None, None)
        }
    };
    Ok((
        Evidence {
            user,
            protection,
            pim,
            methods,
            default_hint,
            registration,
            policy,
            in_scope,
            existing,
            failures,
        },
        unavailable,
    ))
}

/// `200` of `GET /v1/diagnose`: what was read, each source `null` when it
/// could not be (and listed in `unavailable`), and the findings.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Diagnosis<'a> {
    user: &'a UserSummary,
    account_enabled: bool,
    user_type: &'a str,
    protected: Option<Protection<'a>>,
    methods: Option<Vec<DiagnosedMethod<'a>>>,
    registration: Option<&'a Registration>,
    temporary_access_pass: PassPicture<'a>,
    recent_failures: Option<RecentFailures>,
    findings: &'a [Finding],
    unavailable: &'a [Unavailable],
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
struct Protection<'a> {
    is_protected: bool,
    reasons: &'a [ProtectionReason],
    pim: Option<&'a PimState>,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
struct DiagnosedMethod<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    type_name: &'a str,
    display_name: Option<&'a str>,
    /// The method Graph's sign-in preferences name as the default.
    is_default: bool,
}

/// The TAP policy as it applies to this user, and their pass.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
struct PassPicture<'a> {
    policy_state: Option<&'a str>,
    user_in_scope: Option<bool>,
    lifetime_bounds: Option<LifetimeBounds>,
    existing: Option<ExistingPass<'a>>,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
struct LifetimeBounds {
    minimum: u32,
    maximum: u32,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
struct ExistingPass<'a> {
    id: &'a str,
    start_date_time: Option<&'a str>,
    expires_date_time: Option<String>,
    lifetime_in_minutes: Option<u32>,
    is_usable: Option<bool>,
    method_usability_reason: Option<&'a str>,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
struct RecentFailures {
    since: String,
    total: u64,
    last_failure_date_time: Option<String>,
    /// Per sign-in error code: how many, and what the code means.
    by_error_code: BTreeMap<String, CodeCount>,
    truncated: bool,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
struct CodeCount {
    count: u64,
    meaning: Option<&'static str>,
}

fn answer<'a>(
    e: &'a Evidence,
    unavailable: &'a [Unavailable],
    findings: &'a [Finding],
    since: &str,
    config: &Config,
) -> Diagnosis<'a> {
    let mut default_seen = false;
    let methods = e.methods.as_ref().map(|ms| {
        ms.iter()
            .map(|m| {
                let is_default = !default_seen
                    && e.default_hint
                        .as_deref()
                        .is_some_and(|h| methods::may_be_default(h, m));
                default_seen |= is_default;
                DiagnosedMethod {
                    id: &m.id,
                    type_name: &m.type_name,
                    display_name: m.display_name.as_deref(),
                    is_default,
                }
            })
            .collect()
    });
    let recent_failures = e.failures.as_ref().map(|(agg, truncated)| {
        let by = by_code(agg);
        RecentFailures {
            since: since.to_string(),
            total: by.values().map(|(n, _)| n).sum::<u64>(),
            last_failure_date_time: by.values().map(|(_, t)| t.clone()).max(),
            by_error_code: by
                .iter()
                .map(|(c, (n, _))| {
                    (
                        c.to_string(),
                        CodeCount {
                            count: *n,
                            meaning: signins::meaning(*c),
                        },
                    )
                })
                .collect(),
            truncated: *truncated,
        }
    });
    let existing = e
        .existing
        .as_ref()
        .and_then(|x| x.first())
        .map(|p| ExistingPass {
            id: &p.id,
            start_date_time: p.start_date_time.as_deref(),
            expires_date_time: expires(p),
            lifetime_in_minutes: p.lifetime_in_minutes,
            is_usable: p.is_usable,
            method_usability_reason: p.method_usability_reason.as_deref(),
        });
    Diagnosis {
        user: &e.user.summary,
        account_enabled: e.user.account_enabled,
        user_type: &e.user.user_type,
        protected: e.protection.as_ref().map(|r| Protection {
            is_protected: !r.is_empty(),
            reasons: r,
            pim: e.pim.as_ref(),
        }),
        methods,
        registration: e.registration.as_ref(),
        temporary_access_pass: PassPicture {
            policy_state: e.policy.as_ref().map(|p| p.state.as_str()),
            user_in_scope: e.in_scope,
            lifetime_bounds: e.policy.as_ref().map(|p| {
                let (minimum, maximum) = p.lifetime_bounds(config.tap_max_lifetime_minutes);
                LifetimeBounds { minimum, maximum }
            }),
            existing,
        },
        recent_failures,
        findings,
        unavailable,
    }
}

pub async fn serve(
    req: &Request,
    host: &Host<'_>,
    request_id: &RequestId,
) -> Result<Response, Problem> {
    let (config, caller) = access::admit_read(host, req, &endpoints::DIAGNOSE).await?;
    let q = DiagnoseQuery::parse(req.uri().query().unwrap_or(""))?;
    let now = Instant::from_system(host.clock.now());
    let since = now.minus_seconds(i64::from(q.days) * 86_400);
    let graph = GraphClient::new(host, &config, request_id, DEFAULT_BUDGET);
    let (evidence, unavailable) = read(&graph, host, &config, &q.user, since, now).await?;
    let since = since.to_rfc3339();
    let found = findings(&evidence, &unavailable, &config, &since);
    let body = answer(&evidence, &unavailable, &found, &since, &config);
    // Who looked at whom: a read record, not a mutation.
    let _ = audit::Trail::new(host, &config).append(AuditEntry {
        caller: caller.id.clone(),
        operation: "diagnose".into(),
        user: Some(json!(evidence.user.summary)),
        ticket: None,
        reason: None,
        outcome: Outcome::Succeeded,
        status: 200,
        code: None,
        details: json!({
            "findings": found.iter().map(|f| f.code).collect::<Vec<_>>(),
            "unavailable": unavailable,
        }),
        request_id: request_id.as_str().to_string(),
        verification: None,
        operator: caller.operator.clone(),
    });
    Ok(response::json(StatusCode::OK, &body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::users::UserSummary;

    fn res(status: u16, code: &str) -> GraphResponse {
        GraphResponse {
            status,
            body: json!({ "error": { "code": code } }),
            request_id: None,
        }
    }

    #[test]
    fn each_refusal_has_its_reason() {
        let r = |status, code, beta| reason("x", beta, Ok(&res(status, code))).reason;
        assert_eq!(
            r(
                403,
                "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                false
            ),
            "premium_license_required"
        );
        assert_eq!(
            r(403, "Authorization_RequestDenied", false),
            "permission_missing"
        );
        assert_eq!(r(403, "accessDenied", true), "beta_refused");
        assert_eq!(r(429, "TooManyRequests", false), "throttled");
        assert_eq!(r(429, "TooManyRequests", true), "throttled");
        assert_eq!(r(404, "Request_ResourceNotFound", false), "not_found");
        assert_eq!(r(500, "InternalServerError", false), "graph_error");
        let e = GraphError::Unreachable(crate::ports::TransportError::Timeout);
        assert_eq!(reason("x", false, Err(&e)).reason, "graph_unavailable");
    }

    fn evidence(enabled: bool, methods: Vec<Method>) -> Evidence {
        Evidence {
            user: DirectoryUser {
                summary: UserSummary {
                    id: "u1".into(),
                    user_principal_name: "u@contoso.com".into(),
                    display_name: None,
                },
                account_enabled: enabled,
                user_type: "Member".into(),
                mail: None,
                other_mails: vec![],
            },
            protection: Some(vec![]),
            pim: None,
            methods: Some(methods),
            default_hint: None,
            registration: None,
            policy: None,
            in_scope: None,
            existing: Some(vec![]),
            failures: None,
        }
    }

    #[test]
    fn a_disabled_account_is_the_one_blocker_and_unread_sources_are_not_guessed() {
        let config = Config::load(&crate::testing::World::configured().vars).unwrap();
        let f = findings(&evidence(false, vec![]), &[], &config, "since");
        assert_eq!(
            f.iter().map(|f| f.code).collect::<Vec<_>>(),
            ["account_disabled"]
        );

        // Methods unread: no claim that there are none.
        let mut e = evidence(true, vec![]);
        e.methods = None;
        assert!(findings(&e, &[], &config, "since").is_empty());
        let f = findings(&evidence(true, vec![]), &[], &config, "since");
        assert_eq!(f[0].code, "no_usable_method");
        assert_eq!(
            f[0].suggested_action.as_ref().unwrap()["operation"],
            "POST /v1/phone"
        );
    }
}
