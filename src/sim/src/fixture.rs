//! Fixture loading: a readable JSON tenant description seeded into [`State`].
//! The format is documented in `src/sim/README.md`; unknown keys are refused so
//! a typo in a fixture fails loudly instead of silently testing less.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::clock::{self, Clock};
use crate::openapi::spec;
use crate::state::{
    App, Group, Kind, Method, PimGroupSchedule, Quirks, RoleDefinition, State, Tenant, ThrottleCfg,
    User,
};

/// Fixed ids (FACTS §4, §5).
pub const PASSWORD_METHOD_ID: &str = "28c10230-6103-485e-b985-444c60001490";
pub const EMAIL_METHOD_ID: &str = "3ddfcfc8-9383-446f-83cc-3ab9be4be18f";
pub const MOBILE_ID: &str = "3179e48a-750b-4051-897c-87b9720928f7";
pub const ALTERNATE_MOBILE_ID: &str = "b6332ec1-7057-4abe-9331-3d72feddfe41";
pub const OFFICE_ID: &str = "e37fc753-ff3b-4958-9484-eaa9425c82bc";

pub fn phone_id(phone_type: &str) -> Option<&'static str> {
    match phone_type {
        "mobile" => Some(MOBILE_ID),
        "alternateMobile" => Some(ALTERNATE_MOBILE_ID),
        "office" => Some(OFFICE_ID),
        _ => None,
    }
}

fn obj<'a>(v: &'a Value, ctx: &str) -> Result<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| anyhow!("{ctx}: expected a JSON object"))
}

fn only(o: &Map<String, Value>, allowed: &[&str], ctx: &str) -> Result<()> {
    for k in o.keys() {
        if !allowed.contains(&k.as_str()) {
            bail!("{ctx}: unknown key '{k}' (allowed: {})", allowed.join(", "));
        }
    }
    Ok(())
}

fn req_str(o: &Map<String, Value>, k: &str, ctx: &str) -> Result<String> {
    o.get(k)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| anyhow!("{ctx}: '{k}' (string) is required"))
}

fn opt_bool(o: &Map<String, Value>, k: &str, default: bool) -> bool {
    o.get(k).and_then(Value::as_bool).unwrap_or(default)
}

fn arr<'a>(o: &'a Map<String, Value>, k: &str) -> Vec<&'a Value> {
    o.get(k)
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// Deterministic PRNG (splitmix64) so generated sign-ins are stable across crate versions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    fn uuid(&mut self) -> String {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.next().to_le_bytes());
        b[8..].copy_from_slice(&self.next().to_le_bytes());
        uuid::Builder::from_random_bytes(b).into_uuid().to_string()
    }
}

pub fn failure_reason(code: i64) -> Value {
    let r = match code {
        0 => return Value::Null,
        500121 => "Authentication failed during strong authentication request.",
        50074 => "Strong Authentication is required.",
        50076 => "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource.",
        50079 => "Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access the resource.",
        53003 => "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
        50053 => "Account is locked because user tried to sign in too many times with an incorrect user ID or password.",
        50126 => "Error validating credentials due to invalid username or password.",
        50057 => "User account is disabled. The account has been disabled by an administrator.",
        50158 => "External security challenge not satisfied.",
        _ => "Other.",
    };
    json!(r)
}

fn sign_in_defaults(
    users: &[User],
    ev: &mut Map<String, Value>,
    rng: &mut Rng,
    tenant_id: &str,
) -> Result<()> {
    let uid = ev
        .get("userId")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("signIns.events: 'userId' is required"))?
        .to_string();
    let u = users
        .iter()
        .find(|u| u.id() == uid)
        .ok_or_else(|| anyhow!("signIns.events: unknown userId {uid}"))?;
    let code = ev["status"]["errorCode"].as_i64().unwrap_or(0);
    let defaults = json!({
        "id": rng.uuid(),
        "userPrincipalName": u.upn(),
        "userDisplayName": u.props.get("displayName"),
        "appId": "00000002-0000-0ff1-ce00-000000000000",
        "appDisplayName": "Office 365 Exchange Online",
        "ipAddress": "203.0.113.10",
        "clientAppUsed": "Browser",
        "correlationId": rng.uuid(),
        "conditionalAccessStatus": if code == 53003 { "failure" } else if code == 0 { "success" } else { "notApplied" },
        "isInteractive": true,
        "riskDetail": "none",
        "riskLevelAggregated": "none",
        "riskLevelDuringSignIn": "none",
        "riskState": "none",
        "riskEventTypes": [],
        "riskEventTypes_v2": [],
        "resourceDisplayName": "Office 365 Exchange Online",
        "resourceId": "00000002-0000-0ff1-ce00-000000000000",
        "resourceTenantId": tenant_id,
        "homeTenantId": tenant_id,
        "status": { "errorCode": code, "failureReason": failure_reason(code), "additionalDetails": null },
        "deviceDetail": { "deviceId": "", "displayName": null, "operatingSystem": "Windows 10", "browser": "Edge 131.0.0", "isCompliant": null, "isManaged": null, "trustType": null },
        "location": { "city": "Seattle", "state": "Washington", "countryOrRegion": "US", "geoCoordinates": { "altitude": null, "latitude": 47.6062, "longitude": -122.3321 } },
        "appliedConditionalAccessPolicies": [],
    });
    for (k, v) in defaults.as_object().into_iter().flatten() {
        ev.entry(k.clone()).or_insert_with(|| v.clone());
    }
    Ok(())
}

fn generate_sign_ins(
    gen: &Map<String, Value>,
    users: &[User],
    now: OffsetDateTime,
    tenant_id: &str,
) -> Result<Vec<Value>> {
    only(
        gen,
        &[
            "count",
            "days",
            "seed",
            "users",
            "apps",
            "ipAddresses",
            "errorCodes",
            "burst",
        ],
        "signIns.generate",
    )?;
    // Failing users retry: `burst` sign-ins in a row share a user, an app
    // and an address within ten minutes (1: every sign-in independent).
    let burst = gen.get("burst").and_then(Value::as_u64).unwrap_or(1).max(1);
    let count = gen.get("count").and_then(Value::as_u64).unwrap_or(200);
    let days = gen.get("days").and_then(Value::as_u64).unwrap_or(10).max(1);
    let mut rng = Rng(gen.get("seed").and_then(Value::as_u64).unwrap_or(1));
    let ids: Vec<String> = match gen.get("users").and_then(Value::as_array) {
        Some(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        None => users.iter().map(|u| u.id().to_string()).collect(),
    };
    let apps: Vec<&Value> = arr(gen, "apps");
    let ips: Vec<&Value> = arr(gen, "ipAddresses");
    let codes: Vec<(i64, u64)> = arr(gen, "errorCodes")
        .iter()
        .map(|c| {
            (
                c["code"].as_i64().unwrap_or(0),
                c["weight"].as_u64().unwrap_or(1),
            )
        })
        .collect();
    let total_weight: u64 = codes.iter().map(|c| c.1).sum();
    let mut out = Vec::new();
    let (mut uid, mut base, mut app, mut ip) = (&ids[0], 0u64, 0usize, 0usize);
    for i in 0..count {
        if i % burst == 0 {
            uid = &ids[rng.below(ids.len() as u64) as usize];
            base = rng.below(days * 86400);
            app = rng.below(apps.len().max(1) as u64) as usize;
            ip = rng.below(ips.len().max(1) as u64) as usize;
        }
        let mut pick = rng.below(total_weight.max(1));
        let mut code = 0;
        for (c, w) in &codes {
            if pick < *w {
                code = *c;
                break;
            }
            pick -= w;
        }
        let secs_ago = if burst == 1 {
            rng.below(days * 86400)
        } else {
            (base + rng.below(600)).min(days * 86400 - 1)
        };
        let micros = rng.below(1_000_000) as i64;
        let t =
            now - time::Duration::seconds(secs_ago as i64) - time::Duration::microseconds(micros);
        let mut ev = Map::new();
        ev.insert("userId".into(), json!(uid));
        ev.insert("createdDateTime".into(), json!(clock::graph(t)));
        ev.insert(
            "status".into(),
            json!({"errorCode": code, "failureReason": failure_reason(code), "additionalDetails": null}),
        );
        if !apps.is_empty() {
            let a = apps[if burst == 1 {
                rng.below(apps.len() as u64) as usize
            } else {
                app
            }];
            ev.insert("appId".into(), a["appId"].clone());
            ev.insert("appDisplayName".into(), a["appDisplayName"].clone());
        }
        if !ips.is_empty() {
            let i = if burst == 1 {
                rng.below(ips.len() as u64) as usize
            } else {
                ip
            };
            ev.insert("ipAddress".into(), ips[i].clone());
        }
        sign_in_defaults(users, &mut ev, &mut rng, tenant_id)?;
        out.push(Value::Object(ev));
    }
    Ok(out)
}

fn load_method(v: &Value, ctx: &str, seq: &mut i64, now: OffsetDateTime) -> Result<Method> {
    let mut props = obj(v, ctx)?.clone();
    let t = props
        .remove("@odata.type")
        .and_then(|t| t.as_str().map(str::to_string))
        .ok_or_else(|| anyhow!("{ctx}: '@odata.type' is required"))?;
    let kind = Kind::from_odata_type(&t).ok_or_else(|| anyhow!("{ctx}: unknown type {t}"))?;
    let ready = props.get("smsSignInState").and_then(Value::as_str) == Some("ready");
    props.remove("smsSignInState");
    let one_time_used = props
        .remove("oneTimeUsed")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let fixed = match kind {
        Kind::Password => Some(PASSWORD_METHOD_ID),
        Kind::Email => Some(EMAIL_METHOD_ID),
        Kind::Phone => phone_id(props.get("phoneType").and_then(Value::as_str).unwrap_or("")),
        _ => None,
    };
    if let Some(f) = fixed {
        if let Some(given) = props.get("id").and_then(Value::as_str) {
            if given != f {
                bail!("{ctx}: a {} always has id {f}", kind.type_name());
            }
        }
        props.insert("id".into(), json!(f));
    }
    if props.get("id").and_then(Value::as_str).is_none() {
        bail!("{ctx}: 'id' is required");
    }
    if kind != Kind::HardwareOath {
        spec()
            .validate_named(
                &Value::Object(props.clone()),
                &format!("microsoft.graph.{}", kind.type_name()),
            )
            .map_err(|e| anyhow!("{ctx}: {e}"))?;
    }
    if kind == Kind::TemporaryAccessPass {
        props.entry("lifetimeInMinutes").or_insert(json!(60));
        props.entry("isUsableOnce").or_insert(json!(false));
        props
            .entry("createdDateTime")
            .or_insert(json!(clock::graph(now)));
        let created = props["createdDateTime"].clone();
        props.entry("startDateTime").or_insert(created);
        props.remove("isUsable");
        props.remove("methodUsabilityReason");
    }
    *seq += 1;
    Ok(Method {
        kind,
        props,
        sms_enabled_at: ready
            .then(|| now - time::Duration::days(30) + time::Duration::seconds(*seq)),
        one_time_used,
    })
}

const USER_SIM_KEYS: [&str; 7] = [
    "manager",
    "mailbox",
    "defaultMethodId",
    "defaultPhoneMode",
    "systemPreferredAuthenticationMethodEnabled",
    "signInPreferencesUnreadable",
    "methods",
];

fn load_user(v: &Value, i: usize, seq: &mut i64, now: OffsetDateTime) -> Result<User> {
    let ctx = format!("users[{i}]");
    let o = obj(v, &ctx)?;
    let mut props = Map::new();
    for (k, val) in o {
        if !USER_SIM_KEYS.contains(&k.as_str()) {
            props.insert(k.clone(), val.clone());
        }
    }
    for k in ["id", "userPrincipalName", "displayName"] {
        req_str(&props, k, &ctx)?;
    }
    spec()
        .validate_named(&Value::Object(props.clone()), "microsoft.graph.user")
        .map_err(|e| anyhow!("{ctx}: {e}"))?;
    props.entry("accountEnabled").or_insert(json!(true));
    props.entry("userType").or_insert(json!("Member"));
    props.entry("businessPhones").or_insert(json!([]));
    props.entry("otherMails").or_insert(json!([]));
    props
        .entry("signInSessionsValidFromDateTime")
        .or_insert(json!(clock::graph(now - time::Duration::days(90))));
    let methods = arr(o, "methods")
        .iter()
        .enumerate()
        .map(|(j, m)| load_method(m, &format!("{ctx}.methods[{j}]"), seq, now))
        .collect::<Result<Vec<_>>>()?;
    let default_method_id = o
        .get("defaultMethodId")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(d) = &default_method_id {
        if !methods.iter().any(|m| m.id() == d) {
            bail!("{ctx}: defaultMethodId {d} is not one of the user's methods");
        }
    }
    let voice = match o.get("defaultPhoneMode").and_then(Value::as_str) {
        None | Some("sms") => false,
        Some("voice") => true,
        Some(other) => bail!("{ctx}: defaultPhoneMode must be sms or voice, not {other}"),
    };
    Ok(User {
        props,
        manager: o.get("manager").and_then(Value::as_str).map(str::to_string),
        mailbox: opt_bool(o, "mailbox", false),
        methods,
        default_method_id,
        default_phone_mode_voice: voice,
        system_preferred_enabled: opt_bool(o, "systemPreferredAuthenticationMethodEnabled", false),
        sign_in_preferences_unreadable: opt_bool(o, "signInPreferencesUnreadable", false),
    })
}

/// A stable UUID from some names (service principal ids and the like).
pub fn stable_uuid(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.to_ascii_lowercase().as_bytes());
        h.update([0u8]);
    }
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Builder::from_random_bytes(b).into_uuid().to_string()
}

fn opt_page_size(v: Option<&Value>, key: &str, ctx: &str) -> Result<Option<usize>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(x) => match x.as_u64() {
            Some(n) if n >= 1 => Ok(Some(n as usize)),
            _ => bail!("{ctx}: '{key}' must be an integer >= 1 or null"),
        },
    }
}

/// `membershipPageSize`, `rolePageSize`, `replicationLagReads`, `tokenExpiresInAsString`
/// from the tenant block.
pub fn quirks_from(o: &Map<String, Value>, ctx: &str) -> Result<Quirks> {
    let lag = match o.get("replicationLagReads") {
        None | Some(Value::Null) => 0,
        Some(x) => x
            .as_u64()
            .filter(|n| *n <= u64::from(u32::MAX))
            .ok_or_else(|| anyhow!("{ctx}: 'replicationLagReads' must be an integer >= 0"))?
            as u32,
    };
    Ok(Quirks {
        membership_page_size: opt_page_size(
            o.get("membershipPageSize"),
            "membershipPageSize",
            ctx,
        )?,
        role_page_size: opt_page_size(o.get("rolePageSize"), "rolePageSize", ctx)?,
        replication_lag_reads: lag,
        token_expires_in_as_string: match o.get("tokenExpiresInAsString") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => bail!("{ctx}: 'tokenExpiresInAsString' must be true or false"),
        },
    })
}

/// `pimGroupEligibilities` / `pimGroupAssignments`: PIM for Groups schedules. An active
/// assignment *is* the membership or ownership (PIM for Groups writes it), so an assignment's
/// principal must also be listed in the group's `members` / `owners`; an eligibility must not
/// make anyone a member.
fn load_pim_groups(
    root: &Map<String, Value>,
    key: &str,
    assignment: bool,
    users: &[User],
    groups: &[Group],
    now: OffsetDateTime,
) -> Result<Vec<PimGroupSchedule>> {
    let mut out = Vec::new();
    for (i, v) in arr(root, key).iter().enumerate() {
        let ctx = format!("{key}[{i}]");
        let o = obj(v, &ctx)?;
        let mut allowed = vec![
            "id",
            "groupId",
            "principalId",
            "accessId",
            "startDateTime",
            "endDateTime",
        ];
        if assignment {
            allowed.push("assignmentType");
        }
        only(o, &allowed, &ctx)?;
        let group_id = req_str(o, "groupId", &ctx)?;
        let principal_id = req_str(o, "principalId", &ctx)?;
        let access_id = req_str(o, "accessId", &ctx)?;
        if access_id != "member" && access_id != "owner" {
            bail!("{ctx}: accessId must be member or owner, not {access_id}");
        }
        let g = groups
            .iter()
            .find(|g| g.id().eq_ignore_ascii_case(&group_id))
            .ok_or_else(|| anyhow!("{ctx}: unknown groupId {group_id}"))?;
        let known = users
            .iter()
            .any(|u| u.id().eq_ignore_ascii_case(&principal_id))
            || groups
                .iter()
                .any(|x| x.id().eq_ignore_ascii_case(&principal_id));
        if !known {
            bail!("{ctx}: unknown principalId {principal_id}");
        }
        if assignment {
            let list = if access_id == "member" {
                &g.members
            } else {
                &g.owners
            };
            if !list.iter().any(|m| m.eq_ignore_ascii_case(&principal_id)) {
                bail!("{ctx}: an active {access_id} assignment needs {principal_id} in the group's {access_id}s");
            }
        }
        let assignment_type = match o.get("assignmentType").and_then(Value::as_str) {
            None if assignment => Some("assigned".to_string()),
            None => None,
            Some(t @ ("assigned" | "activated")) => Some(t.to_string()),
            Some(t) => bail!("{ctx}: assignmentType must be assigned or activated, not {t}"),
        };
        let time = |k: &str| -> Result<Option<OffsetDateTime>> {
            match o.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => clock::parse(s)
                    .map(Some)
                    .ok_or_else(|| anyhow!("{ctx}: '{k}' is not a date-time")),
                Some(_) => bail!("{ctx}: '{k}' must be a date-time string"),
            }
        };
        let start = time("startDateTime")?.or(Some(now - time::Duration::days(30)));
        let id = o
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{group_id}_{access_id}_{principal_id}"));
        out.push(PimGroupSchedule {
            id,
            group_id: g.id().to_string(),
            principal_id,
            access_id,
            start,
            end: time("endDateTime")?,
            assignment_type,
        });
    }
    Ok(out)
}

/// Builds a fresh [`State`] from a fixture document, seeded at the current wall-clock time.
pub fn build_state(doc: &Value, base_url: &str) -> Result<State> {
    let clock = Clock::default();
    let now = clock.now();
    let mut resolved = doc.clone();
    clock::resolve_relative(&mut resolved, now);
    let root = obj(&resolved, "fixture")?;
    only(
        root,
        &[
            "$comment",
            "tenant",
            "apps",
            "throttle",
            "groups",
            "users",
            "roleDefinitions",
            "roleAssignments",
            "roleEligibilitySchedules",
            "pimGroupEligibilities",
            "pimGroupAssignments",
            "authenticationMethodsPolicy",
            "signIns",
        ],
        "fixture",
    )?;

    let t = obj(root.get("tenant").unwrap_or(&Value::Null), "tenant")?;
    only(
        t,
        &[
            "id",
            "displayName",
            "verifiedDomains",
            "premium",
            "premiumP2",
            "signInRetentionDays",
            "membershipPageSize",
            "rolePageSize",
            "replicationLagReads",
            "tokenExpiresInAsString",
        ],
        "tenant",
    )?;
    let premium = opt_bool(t, "premium", true);
    let quirks = quirks_from(t, "tenant")?;
    let tenant = Tenant {
        id: req_str(t, "id", "tenant")?,
        display_name: req_str(t, "displayName", "tenant")?,
        verified_domains: arr(t, "verifiedDomains")
            .iter()
            .filter_map(|d| d.as_str().map(str::to_string))
            .collect(),
        premium,
        premium_p2: opt_bool(t, "premiumP2", premium),
        sign_in_retention_days: t
            .get("signInRetentionDays")
            .and_then(Value::as_i64)
            .unwrap_or(if premium { 30 } else { 7 }),
    };

    let mut apps = Vec::new();
    for (i, a) in arr(root, "apps").iter().enumerate() {
        let ctx = format!("apps[{i}]");
        let a = obj(a, &ctx)?;
        only(
            a,
            &[
                "clientId",
                "displayName",
                "clientSecret",
                "clientSecretExpired",
                "permissions",
                "tokenLifetimeSeconds",
                "servicePrincipalId",
            ],
            &ctx,
        )?;
        let client_id = req_str(a, "clientId", &ctx)?;
        apps.push(App {
            service_principal_id: a
                .get("servicePrincipalId")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| stable_uuid(&["servicePrincipal", &tenant.id, &client_id])),
            client_id,
            display_name: a
                .get("displayName")
                .and_then(Value::as_str)
                .unwrap_or("app")
                .to_string(),
            client_secret: req_str(a, "clientSecret", &ctx)?,
            client_secret_expired: opt_bool(a, "clientSecretExpired", false),
            permissions: arr(a, "permissions")
                .iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect(),
            token_lifetime_seconds: a
                .get("tokenLifetimeSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(3599),
        });
    }

    let th = root.get("throttle").cloned().unwrap_or(json!({}));
    let th = obj(&th, "throttle")?;
    only(
        th,
        &["reportsMaxRequests", "reportsWindowSeconds"],
        "throttle",
    )?;
    let throttle = ThrottleCfg {
        reports_max_requests: th
            .get("reportsMaxRequests")
            .and_then(Value::as_u64)
            .unwrap_or(5) as usize,
        reports_window_seconds: th
            .get("reportsWindowSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(10),
    };

    let mut groups = Vec::new();
    for (i, g) in arr(root, "groups").iter().enumerate() {
        let ctx = format!("groups[{i}]");
        let g = obj(g, &ctx)?;
        let mut props = g.clone();
        let mut ids = |key: &str| -> Vec<String> {
            props
                .remove(key)
                .and_then(|m| m.as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|m| m.as_str().map(str::to_string))
                .collect()
        };
        let members = ids("members");
        let owners = ids("owners");
        req_str(&props, "id", &ctx)?;
        req_str(&props, "displayName", &ctx)?;
        spec()
            .validate_named(&Value::Object(props.clone()), "microsoft.graph.group")
            .map_err(|e| anyhow!("{ctx}: {e}"))?;
        props.entry("securityEnabled").or_insert(json!(true));
        props.entry("mailEnabled").or_insert(json!(false));
        props.entry("isAssignableToRole").or_insert(json!(false));
        props.entry("groupTypes").or_insert(json!([]));
        props.entry("description").or_insert(Value::Null);
        groups.push(Group {
            props,
            members,
            owners,
        });
    }

    let mut seq = 0i64;
    let users = arr(root, "users")
        .iter()
        .enumerate()
        .map(|(i, u)| load_user(u, i, &mut seq, now))
        .collect::<Result<Vec<_>>>()?;
    let mut seen = HashMap::new();
    for u in &users {
        if let Some(prev) = seen.insert(u.id().to_ascii_lowercase(), u.upn().to_string()) {
            bail!("users: duplicate id {} ({prev})", u.id());
        }
        if let Some(m) = &u.manager {
            if !users.iter().any(|x| x.id() == m) {
                bail!("users: {} has unknown manager {m}", u.upn());
            }
        }
    }

    let mut role_definitions = Vec::new();
    for (i, d) in arr(root, "roleDefinitions").iter().enumerate() {
        let ctx = format!("roleDefinitions[{i}]");
        let mut props = obj(d, &ctx)?.clone();
        let directory_role_id = props
            .remove("directoryRoleId")
            .and_then(|v| v.as_str().map(str::to_string));
        req_str(&props, "id", &ctx)?;
        spec()
            .validate_named(
                &Value::Object(props.clone()),
                "microsoft.graph.unifiedRoleDefinition",
            )
            .map_err(|e| anyhow!("{ctx}: {e}"))?;
        let id = props["id"].clone();
        props.entry("templateId").or_insert(id);
        props.entry("isBuiltIn").or_insert(json!(true));
        props.entry("isEnabled").or_insert(json!(true));
        role_definitions.push(RoleDefinition {
            props,
            directory_role_id,
        });
    }
    let load_list = |key: &str, schema: &str| -> Result<Vec<Value>> {
        arr(root, key)
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let ctx = format!("{key}[{i}]");
                let mut o = obj(a, &ctx)?.clone();
                for k in ["id", "principalId", "roleDefinitionId"] {
                    req_str(&o, k, &ctx)?;
                }
                spec()
                    .validate_named(&Value::Object(o.clone()), schema)
                    .map_err(|e| anyhow!("{ctx}: {e}"))?;
                o.entry("directoryScopeId").or_insert(json!("/"));
                o.entry("appScopeId").or_insert(Value::Null);
                Ok(Value::Object(o))
            })
            .collect()
    };
    for g in &groups {
        for o in &g.owners {
            if !users.iter().any(|u| u.id().eq_ignore_ascii_case(o)) {
                bail!(
                    "groups: {} has unknown owner {o} (owners are users)",
                    g.id()
                );
            }
        }
    }
    let pim_group_eligibilities =
        load_pim_groups(root, "pimGroupEligibilities", false, &users, &groups, now)?;
    let pim_group_assignments =
        load_pim_groups(root, "pimGroupAssignments", true, &users, &groups, now)?;
    let role_assignments = load_list("roleAssignments", "microsoft.graph.unifiedRoleAssignment")?;
    let role_eligibility_schedules = load_list(
        "roleEligibilitySchedules",
        "microsoft.graph.unifiedRoleEligibilitySchedule",
    )?;

    let pol = root
        .get("authenticationMethodsPolicy")
        .cloned()
        .unwrap_or(json!({}));
    let mut policy = obj(&pol, "authenticationMethodsPolicy")?.clone();
    let configurations = policy
        .remove("configurations")
        .and_then(|c| c.as_array().cloned())
        .unwrap_or_default();
    for (i, c) in configurations.iter().enumerate() {
        if c["id"].as_str().is_none() || c["@odata.type"].as_str().is_none() {
            bail!("authenticationMethodsPolicy.configurations[{i}]: 'id' and '@odata.type' are required");
        }
    }
    policy
        .entry("id")
        .or_insert(json!("authenticationMethodsPolicy"));
    policy
        .entry("displayName")
        .or_insert(json!("Authentication Methods Policy"));
    policy.entry("description").or_insert(json!(
        "The tenant-wide policy that controls which authentication methods are allowed in the tenant, authentication method registration requirements, and self-service password reset settings"
    ));
    policy.entry("policyVersion").or_insert(json!("1.5"));
    policy
        .entry("policyMigrationState")
        .or_insert(json!("migrationComplete"));
    policy.entry("reconfirmationInDays").or_insert(json!(0));

    let si = root.get("signIns").cloned().unwrap_or(json!({}));
    let si = obj(&si, "signIns")?;
    only(
        si,
        &["generate", "events", "ingestionDelaySeconds"],
        "signIns",
    )?;
    let sign_in_delay_secs = si
        .get("ingestionDelaySeconds")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .max(0);
    let mut sign_ins = match si.get("generate") {
        Some(g) => generate_sign_ins(obj(g, "signIns.generate")?, &users, now, &tenant.id)?,
        None => Vec::new(),
    };
    let mut rng = Rng(0x5EED);
    for (i, e) in arr(si, "events").iter().enumerate() {
        let mut ev = obj(e, &format!("signIns.events[{i}]"))?.clone();
        sign_in_defaults(&users, &mut ev, &mut rng, &tenant.id)?;
        spec()
            .validate_named(&Value::Object(ev.clone()), "microsoft.graph.signIn")
            .map_err(|e| anyhow!("signIns.events[{i}]: {e}"))?;
        sign_ins.push(Value::Object(ev));
    }
    // Sign-in events carry the UPN in lower case whatever the directory's case
    // (https://github.com/microsoftgraph/microsoft-graph-docs/issues/13684 ,
    // https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/9049).
    for ev in &mut sign_ins {
        if let Some(Value::String(upn)) = ev.get_mut("userPrincipalName") {
            *upn = upn.to_lowercase();
        }
    }
    sign_ins.sort_by_key(|s| {
        std::cmp::Reverse(
            s["createdDateTime"]
                .as_str()
                .and_then(clock::parse)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        )
    });
    let sign_in_times: Vec<OffsetDateTime> = sign_ins
        .iter()
        .map(|s| {
            s["createdDateTime"]
                .as_str()
                .and_then(clock::parse)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        })
        .collect();

    Ok(State {
        fixture_doc: doc.clone(),
        seeded_at: now,
        clock,
        tenant,
        apps,
        throttle,
        users,
        groups,
        role_definitions,
        role_assignments,
        role_eligibility_schedules,
        pim_group_eligibilities,
        pim_group_assignments,
        quirks,
        ghosts: Vec::new(),
        policy,
        configurations,
        sign_ins,
        sign_in_times,
        sign_in_delay_secs,
        sign_in_matches: None,
        sent_mail: Vec::new(),
        tokens: HashMap::new(),
        log: Vec::new(),
        next_seq: 0,
        latency_ms: 0,
        faults: Vec::new(),
        report_hits: HashMap::new(),
        page_secret: uuid::Uuid::new_v4().to_string(),
        published_keys: vec!["current".into()],
        base_url: base_url.to_string(),
    })
}

/// Parses fixture text (file or `POST /_sim/reset` body) with a readable error.
pub fn parse(text: &str) -> Result<Value> {
    serde_json::from_str(text).context("fixture is not valid JSON")
}
