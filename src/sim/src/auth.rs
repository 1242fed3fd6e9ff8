//! Login (`POST /{tenant}/oauth2/v2.0/token`, client credentials) and Graph
//! token/permission checks (FACTS §0, §1).

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::clock;
use crate::errors::GraphError;
use crate::state::{Kind, State, Token};

/// An AAD refusal with the documented JSON shape (FACTS §1).
pub struct AadError {
    pub status: u16,
    pub error: &'static str,
    pub code: u32,
    pub description: String,
}

fn aad(status: u16, error: &'static str, code: u32, description: String) -> AadError {
    AadError {
        status,
        error,
        code,
        description,
    }
}

impl AadError {
    pub fn body(&self, now: time::OffsetDateTime, trace_id: &str, correlation_id: &str) -> Value {
        let ts = clock::aad(now);
        json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {ts}",
                self.code, self.description
            ),
            "error_codes": [self.code],
            "timestamp": ts,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        })
    }
}

fn missing(field: &str) -> AadError {
    aad(
        400,
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{field}'."),
    )
}

/// Issues a client-credentials token, or refuses exactly as FACTS §1 lists.
pub fn issue_token(
    st: &mut State,
    tenant_segment: &str,
    content_type: Option<&str>,
    basic: Option<&str>,
    body: &[u8],
) -> Result<Value, AadError> {
    let t = &st.tenant;
    let seg = tenant_segment.to_ascii_lowercase();
    if ["common", "consumers", "organizations"].contains(&seg.as_str()) {
        return Err(aad(
            400,
            "invalid_request",
            9001023,
            "The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.".into(),
        ));
    }
    let tenant_ok = t.id.eq_ignore_ascii_case(&seg)
        || t.verified_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(&seg));
    if !tenant_ok {
        return Err(aad(
            400,
            "invalid_tenant",
            90002,
            format!("Tenant '{tenant_segment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."),
        ));
    }
    let form_ok = content_type
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
        .unwrap_or(false);
    let mut fields: Map<String, Value> = Map::new();
    if form_ok {
        for (k, v) in form_urlencoded::parse(body) {
            fields.insert(k.to_string(), json!(v.to_string()));
        }
    }
    let get = |k: &str| fields.get(k).and_then(Value::as_str).map(str::to_string);
    // HTTP Basic client authentication (RFC 6749 §2.3.1): form-encoded id and secret.
    let (basic_id, basic_secret) = match basic {
        Some(b) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .ok_or_else(|| {
                    aad(
                        401,
                        "invalid_client",
                        7000215,
                        "Invalid client secret provided.".into(),
                    )
                })?;
            let (i, s) = decoded.split_once(':').unwrap_or((&decoded, ""));
            let dec = |x: &str| {
                form_urlencoded::parse(format!("v={x}").as_bytes())
                    .next()
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_default()
            };
            (Some(dec(i)), Some(dec(s)))
        }
        None => (None, None),
    };
    let grant = get("grant_type").ok_or_else(|| missing("grant_type"))?;
    if get("resource").is_some() {
        return Err(aad(
            400,
            "invalid_request",
            901002,
            "The 'resource' request parameter is not supported.".into(),
        ));
    }
    if grant != "client_credentials" {
        return Err(aad(
            400,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant}'."),
        ));
    }
    let client_id = get("client_id")
        .or(basic_id)
        .ok_or_else(|| missing("client_id"))?;
    let scope = get("scope").ok_or_else(|| missing("scope"))?;
    let tenant_name = st.tenant.display_name.clone();
    let app = st.app(&client_id).cloned().ok_or_else(|| {
        aad(
            400,
            "unauthorized_client",
            700016,
            format!("Application with identifier '{client_id}' was not found in the directory '{tenant_name}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."),
        )
    })?;
    let secret = get("client_secret")
        .or(basic_secret)
        .filter(|s| !s.is_empty());
    let Some(secret) = secret else {
        return Err(aad(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".into(),
        ));
    };
    if secret != app.client_secret {
        return Err(aad(
            401,
            "invalid_client",
            7000215,
            format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.", app.client_id),
        ));
    }
    if app.client_secret_expired {
        return Err(aad(
            401,
            "invalid_client",
            7000222,
            format!("The provided client secret keys for app '{}' are expired. Visit the Azure portal to create new keys for your app.", app.client_id),
        ));
    }
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    let accepted = [
        format!("{}/.default", st.base_url),
        "https://graph.microsoft.com/.default".to_string(),
    ];
    if scopes.len() > 1 && scopes.iter().all(|s| s.ends_with("/.default")) {
        return Err(aad(
            400,
            "invalid_scope",
            700022,
            format!("The provided value for the input parameter scope is not valid because it contains more than one resource. Scope {scope} is not valid."),
        ));
    }
    let Some(resource) = accepted
        .iter()
        .find(|a| scopes.len() == 1 && a.eq_ignore_ascii_case(scopes[0]))
        .map(|a| a.trim_end_matches("/.default").to_string())
    else {
        return Err(aad(
            400,
            "invalid_scope",
            70011,
            format!("The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."),
        ));
    };
    let now = st.now();
    let token = jwt(st, &app, &resource, now);
    st.tokens.insert(
        token.clone(),
        Token {
            client_id: app.client_id.clone(),
            permissions: app.permissions.clone(),
            issued_at: now,
            expires_at: now + time::Duration::seconds(app.token_lifetime_seconds),
        },
    );
    // Quirk: some tenants answer the lifetimes as strings (`Quirks::token_expires_in_as_string`).
    let lifetime = if st.quirks.token_expires_in_as_string {
        json!(app.token_lifetime_seconds.to_string())
    } else {
        json!(app.token_lifetime_seconds)
    };
    Ok(json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": token,
    }))
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn random_bytes(n: usize) -> Vec<u8> {
    use rand::RngCore;
    let mut b = vec![0u8; n];
    rand::rng().fill_bytes(&mut b);
    b
}

/// An app-only access token shaped like Entra's v1.0 tokens for Graph: a JWT whose `roles`
/// claim lists the granted application permissions and is absent when there are none
/// ("Claims are present only if a value exists to fill it":
/// https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference).
/// The signature is random bytes: Graph tokens are opaque to clients, who must not
/// validate them ("you can't validate tokens for Microsoft Graph … due to their proprietary
/// format": https://learn.microsoft.com/entra/identity-platform/access-tokens). Graph-sim
/// looks a token up by the whole string, so a client that edits the payload gets a 401.
pub fn jwt(
    st: &State,
    app: &crate::state::App,
    resource: &str,
    now: time::OffsetDateTime,
) -> String {
    let tid = &st.tenant.id;
    let iss = format!("https://sts.windows.net/{tid}/");
    let iat = now.unix_timestamp();
    let header = json!({ "typ": "JWT", "alg": "RS256", "kid": "sim" });
    let mut claims = Map::new();
    claims.insert("aud".into(), json!(resource));
    claims.insert("iss".into(), json!(iss));
    claims.insert("iat".into(), json!(iat));
    claims.insert("nbf".into(), json!(iat));
    claims.insert("exp".into(), json!(iat + app.token_lifetime_seconds));
    claims.insert("aio".into(), json!(b64url(&random_bytes(48))));
    claims.insert("appid".into(), json!(app.client_id));
    claims.insert("appidacr".into(), json!("1"));
    claims.insert("idp".into(), json!(iss));
    claims.insert("oid".into(), json!(app.service_principal_id));
    claims.insert(
        "rh".into(),
        json!(format!("0.A{}.", b64url(&random_bytes(30)))),
    );
    if !app.permissions.is_empty() {
        claims.insert("roles".into(), json!(app.permissions));
    }
    claims.insert("sub".into(), json!(app.service_principal_id));
    claims.insert("tid".into(), json!(tid));
    claims.insert("uti".into(), json!(b64url(&random_bytes(16))));
    claims.insert("ver".into(), json!("1.0"));
    format!(
        "{}.{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(Value::Object(claims).to_string().as_bytes()),
        b64url(&random_bytes(256))
    )
}

fn invalid_token(message: &str) -> GraphError {
    let mut e = GraphError::new(401, "InvalidAuthenticationToken", message);
    e.headers.push((
        "WWW-Authenticate".into(),
        "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"".into(),
    ));
    e
}

/// Graph requests need a bearer token this simulator issued, unexpired on the sim clock.
pub fn check_bearer(
    st: &State,
    authorization: Option<&str>,
) -> Result<(String, Token), GraphError> {
    let Some(h) = authorization else {
        return Err(invalid_token("Access token is empty."));
    };
    let (scheme, tok) = h.trim().split_once(' ').unwrap_or((h, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || tok.trim().is_empty() {
        return Err(invalid_token("Access token is empty."));
    }
    let tok = tok.trim();
    let Some(t) = st.tokens.get(tok) else {
        if !tok.contains('.') {
            return Err(invalid_token(
                "IDX14100: JWT is not well formed, there are no dots (.). The token needs to be in JWS or JWE Compact Serialization Format.",
            ));
        }
        // A JWT this tenant never issued (or one a client edited); Graph's exact text unconfirmed.
        return Err(invalid_token("Access token validation failure."));
    };
    if st.now() >= t.expires_at {
        return Err(invalid_token(
            "Lifetime validation failed, the token is expired.",
        ));
    }
    Ok((tok.to_string(), t.clone()))
}

fn any_of(perms: &[&'static str]) -> Vec<Vec<&'static str>> {
    perms.iter().map(|p| vec![*p]).collect()
}

fn leak(s: String) -> &'static str {
    // A handful of distinct strings, built once per permission name in practice.
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let set = NAMES.get_or_init(Default::default);
    let mut set = set.lock().expect("permission names lock");
    if let Some(x) = set.get(s.as_str()) {
        return x;
    }
    let x: &'static str = Box::leak(s.into_boxed_str());
    set.insert(x);
    x
}

/// Application permissions an operation accepts: a list of alternatives, each a
/// set that must all be granted (FACTS §0 "least" and "broader" columns).
pub fn required(method: &str, segs: &[&str]) -> Vec<Vec<&'static str>> {
    const AUTH_READ: &str = "UserAuthenticationMethod.Read.All";
    const AUTH_RW: &str = "UserAuthenticationMethod.ReadWrite.All";
    match segs {
        ["users"] | ["users", _] | ["users", _, "manager"] => any_of(&[
            "User.Read.All",
            "User.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ]),
        ["users", _, "memberOf"] | ["users", _, "transitiveMemberOf"] => any_of(&[
            "User.Read.All",
            "GroupMember.Read.All",
            "Directory.Read.All",
        ]),
        ["users", _, "checkMemberGroups"] | ["users", _, "checkMemberObjects"] => vec![
            vec!["User.Read.All", "GroupMember.Read.All"],
            vec!["Directory.Read.All"],
        ],
        ["users", _, "revokeSignInSessions"] => any_of(&[
            "User.RevokeSessions.All",
            "User.ReadWrite.All",
            "Directory.ReadWrite.All",
        ]),
        ["users", _, "sendMail"] => any_of(&["Mail.Send"]),
        ["users", _, "authentication", "methods", ..]
        | ["users", _, "authentication", "signInPreferences"] => any_of(&[AUTH_READ, AUTH_RW]),
        ["users", _, "authentication", seg, ..] => {
            let Some(kind) = Kind::from_segment(seg) else {
                return vec![];
            };
            let g = kind.granular();
            let rw = leak(format!("UserAuthMethod-{g}.ReadWrite.All"));
            let r = leak(format!("UserAuthMethod-{g}.Read.All"));
            if method != "GET" {
                any_of(&[rw, AUTH_RW])
            } else {
                any_of(&[r, rw, AUTH_READ, AUTH_RW])
            }
        }
        ["policies", ..] => any_of(&[
            "Policy.Read.AuthenticationMethod",
            "Policy.ReadWrite.AuthenticationMethod",
            "Policy.Read.All",
        ]),
        ["auditLogs", ..] => any_of(&["AuditLog.Read.All"]),
        ["reports", ..] => any_of(&["AuditLog.Read.All"]),
        ["roleManagement", "directory", "roleEligibilitySchedules"]
        | ["roleManagement", "directory", "roleEligibilityScheduleInstances"] => any_of(&[
            "RoleEligibilitySchedule.Read.Directory",
            "RoleEligibilitySchedule.ReadWrite.Directory",
            "RoleManagement.Read.Directory",
            "RoleManagement.ReadWrite.Directory",
        ]),
        ["roleManagement", "directory", "roleAssignmentScheduleInstances"] => any_of(&[
            "RoleAssignmentSchedule.Read.Directory",
            "RoleAssignmentSchedule.ReadWrite.Directory",
            "RoleManagement.Read.Directory",
            "RoleManagement.ReadWrite.Directory",
        ]),
        ["roleManagement", ..] | ["directoryRoles", ..] => any_of(&[
            "RoleManagement.Read.Directory",
            "RoleManagement.ReadWrite.Directory",
            "Directory.Read.All",
        ]),
        // https://learn.microsoft.com/graph/api/group-list
        ["groups"] => any_of(&[
            "GroupMember.Read.All",
            "Group.Read.All",
            "Directory.Read.All",
            "Group.ReadWrite.All",
            "Directory.ReadWrite.All",
        ]),
        // https://learn.microsoft.com/graph/api/group-list-owners
        ["groups", _, "owners"] => any_of(&[
            "GroupMember.Read.All",
            "Group.Read.All",
            "GroupMember.ReadWrite.All",
            "Group.ReadWrite.All",
            "Directory.Read.All",
        ]),
        // https://learn.microsoft.com/graph/api/privilegedaccessgroup-list-eligibilityscheduleinstances
        ["identityGovernance", "privilegedAccess", "group", "eligibilityScheduleInstances"] => {
            any_of(&[
                "PrivilegedEligibilitySchedule.Read.AzureADGroup",
                "PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup",
            ])
        }
        // https://learn.microsoft.com/graph/api/privilegedaccessgroup-list-assignmentscheduleinstances
        ["identityGovernance", "privilegedAccess", "group", "assignmentScheduleInstances"] => {
            any_of(&[
                "PrivilegedAssignmentSchedule.Read.AzureADGroup",
                "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup",
            ])
        }
        ["groups", ..] => any_of(&[
            "GroupMember.ReadBasic.All",
            "GroupMember.Read.All",
            "Group.Read.All",
            "Directory.Read.All",
        ]),
        _ => vec![],
    }
}

pub fn permitted(granted: &[String], alternatives: &[Vec<&'static str>]) -> bool {
    alternatives.iter().any(|set| {
        set.iter()
            .all(|p| granted.iter().any(|g| g.eq_ignore_ascii_case(p)))
    })
}

pub fn has(granted: &[String], perm: &str) -> bool {
    granted.iter().any(|g| g.eq_ignore_ascii_case(perm))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_write_accepts_granular_or_broad() {
        let req = required(
            "POST",
            &[
                "users",
                "{user-id}",
                "authentication",
                "temporaryAccessPassMethods",
            ],
        );
        assert!(permitted(
            &["UserAuthMethod-TAP.ReadWrite.All".into()],
            &req
        ));
        assert!(permitted(
            &["UserAuthenticationMethod.ReadWrite.All".into()],
            &req
        ));
        assert!(!permitted(&["UserAuthMethod-TAP.Read.All".into()], &req));
    }

    #[test]
    fn check_member_groups_needs_both() {
        let req = required("POST", &["users", "{user-id}", "checkMemberGroups"]);
        assert!(!permitted(&["User.Read.All".into()], &req));
        assert!(permitted(
            &["User.Read.All".into(), "GroupMember.Read.All".into()],
            &req
        ));
    }
}
