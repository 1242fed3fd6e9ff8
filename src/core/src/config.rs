//! The Spin application variables of API.md's configuration table, parsed and
//! typed once per request.
//!
//! An error names the variable and what is wrong with it, never its value:
//! `callers` and `client_secret` are secrets, and even the others may be
//! pasted with a secret by mistake. serde's own messages quote the offending
//! input, so they are never passed on; only their category and position.

use std::collections::BTreeSet;
use std::fmt;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::api::endpoints::MutatingOperation;
use crate::api::{ErrorCode, Problem};
use crate::ports::Variables;
use crate::types::{is_guid, Object, Scope, Secret};

/// Every variable of the contract, spelled once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variable {
    TenantId,
    ClientId,
    ClientSecret,
    GraphEndpoint,
    LoginEndpoint,
    Callers,
    TapMaxLifetimeMinutes,
    RequireTicket,
    ProtectedGroupId,
    ProtectedUsers,
    RateLimits,
    Notify,
    RequireVerification,
    TicketPattern,
    AuditKey,
    AuditPreviousKeys,
    StateKey,
    EntraAudience,
}

impl Variable {
    pub const ALL: [Variable; 18] = [
        Variable::TenantId,
        Variable::ClientId,
        Variable::ClientSecret,
        Variable::GraphEndpoint,
        Variable::LoginEndpoint,
        Variable::Callers,
        Variable::TapMaxLifetimeMinutes,
        Variable::RequireTicket,
        Variable::ProtectedGroupId,
        Variable::ProtectedUsers,
        Variable::RateLimits,
        Variable::Notify,
        Variable::RequireVerification,
        Variable::TicketPattern,
        Variable::AuditKey,
        Variable::AuditPreviousKeys,
        Variable::StateKey,
        Variable::EntraAudience,
    ];

    /// The name in `spin.toml` (and `SPIN_VARIABLE_<NAME>` upper-cased).
    pub fn name(self) -> &'static str {
        match self {
            Variable::TenantId => "tenant_id",
            Variable::ClientId => "client_id",
            Variable::ClientSecret => "client_secret",
            Variable::GraphEndpoint => "graph_endpoint",
            Variable::LoginEndpoint => "login_endpoint",
            Variable::Callers => "callers",
            Variable::TapMaxLifetimeMinutes => "tap_max_lifetime_minutes",
            Variable::RequireTicket => "require_ticket",
            Variable::ProtectedGroupId => "protected_group_id",
            Variable::ProtectedUsers => "protected_users",
            Variable::RateLimits => "rate_limits",
            Variable::Notify => "notify",
            Variable::RequireVerification => "require_verification",
            Variable::TicketPattern => "ticket_pattern",
            Variable::AuditKey => "audit_key",
            Variable::AuditPreviousKeys => "audit_previous_keys",
            Variable::StateKey => "state_key",
            Variable::EntraAudience => "entra_audience",
        }
    }

    /// Secrets get `secret = true` in the manifest.
    pub fn is_secret(self) -> bool {
        matches!(
            self,
            Variable::ClientSecret
                | Variable::Callers
                | Variable::AuditKey
                | Variable::AuditPreviousKeys
                | Variable::StateKey
        )
    }

    /// Required variables have no default in the manifest: `spin up` refuses to
    /// start without them.
    pub fn is_required(self) -> bool {
        matches!(
            self,
            Variable::TenantId | Variable::ClientId | Variable::ClientSecret | Variable::Callers
        )
    }
}

impl fmt::Display for Variable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What is wrong with the configuration. Never carries a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("variable `{0}` is not set")]
    Missing(Variable),
    #[error("variable `{variable}` is invalid: {reason}")]
    Invalid { variable: Variable, reason: String },
    #[error("variable `{0}` could not be read from the host")]
    Unreadable(Variable),
}

/// `500 misconfigured` naming the variable to fix, never its value.
impl From<ConfigError> for Problem {
    fn from(e: ConfigError) -> Problem {
        Problem::new(ErrorCode::Misconfigured, e.to_string()).with("variable", e.variable().name())
    }
}

impl ConfigError {
    pub fn variable(&self) -> Variable {
        match self {
            ConfigError::Missing(v) | ConfigError::Unreadable(v) => *v,
            ConfigError::Invalid { variable, .. } => *variable,
        }
    }

    fn invalid(variable: Variable, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            variable,
            reason: reason.into(),
        }
    }
}

/// A Graph or login base URL: scheme and authority only, no trailing slash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl(Url);

impl BaseUrl {
    fn parse(variable: Variable, raw: &str) -> Result<Self, ConfigError> {
        // `url`'s IDNA has no Unicode tables (`idna_adapter` 1.0, see
        // Cargo.toml): a non-ASCII host does not parse.
        let url = Url::parse(raw.trim()).map_err(|_| {
            ConfigError::invalid(
                variable,
                if raw.is_ascii() {
                    "not an absolute URL"
                } else {
                    "not an absolute ASCII URL (give an internationalised host in its xn-- form)"
                },
            )
        })?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(ConfigError::invalid(
                variable,
                "scheme must be https or http",
            ));
        }
        let loopback = match url.host() {
            None => return Err(ConfigError::invalid(variable, "URL has no host")),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        };
        // Tokens and passes cross this connection: plain HTTP only to this
        // machine (a simulator, a local proxy), never across a network.
        if url.scheme() == "http" && !loopback {
            return Err(ConfigError::invalid(
                variable,
                "http is allowed only for a loopback host (127.0.0.0/8, ::1, localhost); use https",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ConfigError::invalid(
                variable,
                "URL must not carry credentials",
            ));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(ConfigError::invalid(
                variable,
                "URL must be scheme and host only (no path, query or fragment)",
            ));
        }
        Ok(BaseUrl(url))
    }

    /// `https://graph.microsoft.com` (no trailing slash).
    pub fn base(&self) -> &str {
        self.0.as_str().trim_end_matches('/')
    }
}

/// One configured caller (API.md "Callers").
#[derive(Clone, Debug)]
pub struct CallerConfig {
    pub id: String,
    /// SHA-256 of the bearer key; the key itself is never configured.
    pub key_sha256: Option<Secret<[u8; 32]>>,
    /// Decoded `whsec_` secret for Standard Webhooks signatures.
    pub webhook_secret: Option<Secret<Vec<u8>>>,
    /// An Entra ID client (application id, lower case) whose tokens this
    /// entry names: its callers are `id` rather than `entra:<appid>`. Their
    /// scopes still come from the token's app roles, never from `scopes`.
    pub entra_app_id: Option<String>,
    /// What the key or webhook secret may do.
    pub scopes: BTreeSet<Scope>,
}

/// Rate limits (API.md "Callers"); `rate_limits` overrides any of them.
///
/// A member left out keeps its default; `0` allows none; `null` (`None`)
/// removes the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RateLimits {
    pub caller_per_minute: Option<u32>,
    pub caller_mutations_per_day: Option<u32>,
    pub tap_per_user_per_day: Option<u32>,
    pub reset_per_user_per_day: Option<u32>,
    pub phone_per_user_per_day: Option<u32>,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            caller_per_minute: Some(60),
            caller_mutations_per_day: Some(200),
            tap_per_user_per_day: Some(3),
            reset_per_user_per_day: Some(3),
            phone_per_user_per_day: Some(10),
        }
    }
}

/// `ticket_pattern`: a regex every ticket must match as a whole.
///
/// `regex-lite`: ticket numbers are ASCII, so its ASCII-only classes
/// (`\d` is `[0-9]`, `\w` is `[0-9A-Za-z_]`, `(?i)` folds ASCII) are what a
/// helpdesk means by `^(INC|RITM)\d{7}$`, and an Arabic-Indic digit or the
/// Kelvin sign does not pass for one. It links no Unicode tables, which
/// `regex`'s parser and NFA compiler carried into every component.
#[derive(Clone, Debug)]
pub struct TicketPattern(regex_lite::Regex);

/// Longest `ticket_pattern` accepted, in characters.
pub const TICKET_PATTERN_MAX_LEN: usize = 256;
/// Bound on the compiled program, so a pattern cannot make every request
/// (or the configuration load itself) expensive. Ticket shapes need a few
/// KB (`(INC|RITM|REQ|CHG|PRB|SCTASK)\d{7,12}` 1.8 KB, `(?i)[a-z0-9_-]{1,128}`
/// 15 KB); `\w{1000}` needs 64 KB.
const TICKET_PATTERN_SIZE_LIMIT: usize = 32 * 1024;

impl TicketPattern {
    fn parse(raw: &str) -> Result<Self, ConfigError> {
        let v = Variable::TicketPattern;
        let p = raw.trim();
        if p.chars().count() > TICKET_PATTERN_MAX_LEN {
            return Err(ConfigError::invalid(
                v,
                format!("longer than {TICKET_PATTERN_MAX_LEN} characters"),
            ));
        }
        // The whole ticket must match, anchored or not: a pattern that
        // matched anywhere would let any text around a ticket number
        // through, and into mail.
        let anchored = format!("^(?:{p})$");
        regex_lite::RegexBuilder::new(&anchored)
            .size_limit(TICKET_PATTERN_SIZE_LIMIT)
            .build()
            .map(TicketPattern)
            .map_err(|e| {
                // The engine's own reason (it names no part of the pattern):
                // "Unicode character classes are not supported", "compiled
                // regex exceeded size limit"...
                ConfigError::invalid(v, format!("not a valid regular expression: {e}"))
            })
    }

    pub fn matches(&self, ticket: &str) -> bool {
        self.0.is_match(ticket)
    }
}

/// Who hears about a change (API.md "Notifications").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum NotifyRecipient {
    Manager,
    AlternateEmail,
    User,
}

impl NotifyRecipient {
    /// Every recipient, in `Ord` order.
    pub const ALL: [NotifyRecipient; 3] = [
        NotifyRecipient::Manager,
        NotifyRecipient::AlternateEmail,
        NotifyRecipient::User,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyRecipient::Manager => "manager",
            NotifyRecipient::AlternateEmail => "alternateEmail",
            NotifyRecipient::User => "user",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotifyConfig {
    pub sender: String,
    pub recipients: Vec<NotifyRecipient>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerificationRequirement {
    None,
    /// Only when the target is a protected user.
    Protected,
    All,
    Operations(BTreeSet<MutatingOperation>),
}

/// The whole deployment configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: Secret<String>,
    pub graph_endpoint: BaseUrl,
    pub login_endpoint: BaseUrl,
    pub callers: Vec<CallerConfig>,
    pub tap_max_lifetime_minutes: u32,
    pub require_ticket: bool,
    pub protected_group_id: Option<String>,
    pub protected_users: Vec<String>,
    pub rate_limits: RateLimits,
    pub notify: Option<NotifyConfig>,
    pub require_verification: VerificationRequirement,
    pub ticket_pattern: Option<TicketPattern>,
    /// Accept Entra ID access tokens issued for this audience.
    pub entra_audience: Option<String>,
    /// HMAC key of the audit chain and its signed head (API.md "GET /v1/audit").
    pub audit_key: Option<Secret<Vec<u8>>>,
    /// Keys `audit_key` had before it was rotated: records chained under
    /// them still verify.
    pub audit_previous_keys: Vec<Secret<Vec<u8>>>,
    /// Key material sealing the app's key-value records; `None`: derived
    /// from `client_secret`.
    pub state_key: Option<Secret<Vec<u8>>>,
}

const DEFAULT_GRAPH_ENDPOINT: &str = "https://graph.microsoft.com";
const DEFAULT_LOGIN_ENDPOINT: &str = "https://login.microsoftonline.com";
/// Graph's own ceiling for a pass (FACTS §3: 10 – 43,200 minutes).
const TAP_LIFETIME_RANGE: std::ops::RangeInclusive<u32> = 10..=43_200;

impl Config {
    /// Reads and checks every variable; the first problem found is returned.
    pub fn load(vars: &dyn Variables) -> Result<Config, ConfigError> {
        let read = |v: Variable| -> Result<Option<String>, ConfigError> {
            match vars.get(v.name()) {
                Ok(Some(s)) if !s.trim().is_empty() => Ok(Some(s)),
                Ok(_) => Ok(None),
                Err(_) => Err(ConfigError::Unreadable(v)),
            }
        };
        let required = |v: Variable| read(v)?.ok_or(ConfigError::Missing(v));

        let tenant_id = parse_tenant(&required(Variable::TenantId)?)?;
        let client_id = parse_guid(Variable::ClientId, &required(Variable::ClientId)?)?;
        let client_secret = Secret::new(required(Variable::ClientSecret)?);
        let graph_endpoint = BaseUrl::parse(
            Variable::GraphEndpoint,
            read(Variable::GraphEndpoint)?
                .as_deref()
                .unwrap_or(DEFAULT_GRAPH_ENDPOINT),
        )?;
        let login_endpoint = BaseUrl::parse(
            Variable::LoginEndpoint,
            read(Variable::LoginEndpoint)?
                .as_deref()
                .unwrap_or(DEFAULT_LOGIN_ENDPOINT),
        )?;
        let callers = parse_callers(&required(Variable::Callers)?)?;
        let tap_max_lifetime_minutes = match read(Variable::TapMaxLifetimeMinutes)? {
            None => 480,
            Some(raw) => {
                let v = Variable::TapMaxLifetimeMinutes;
                let n: u32 = raw
                    .trim()
                    .parse()
                    .map_err(|_| ConfigError::invalid(v, "not a whole number of minutes"))?;
                if !TAP_LIFETIME_RANGE.contains(&n) {
                    return Err(ConfigError::invalid(
                        v,
                        "must be between 10 and 43200 minutes",
                    ));
                }
                n
            }
        };
        let require_ticket = match read(Variable::RequireTicket)? {
            None => true,
            Some(raw) => parse_bool(Variable::RequireTicket, &raw)?,
        };
        let protected_group_id = read(Variable::ProtectedGroupId)?
            .map(|raw| parse_guid(Variable::ProtectedGroupId, &raw))
            .transpose()?;
        let protected_users = read(Variable::ProtectedUsers)?
            .map(|raw| parse_protected_users(&raw))
            .transpose()?
            .unwrap_or_default();
        let rate_limits = read(Variable::RateLimits)?
            .map(|raw| parse_json::<Object<RateLimits>>(Variable::RateLimits, &raw).map(|o| o.0))
            .transpose()?
            .unwrap_or_default();
        let notify = read(Variable::Notify)?
            .map(|raw| parse_notify(&raw))
            .transpose()?;
        let require_verification = match read(Variable::RequireVerification)? {
            None => VerificationRequirement::None,
            Some(raw) => parse_verification(&raw)?,
        };
        let ticket_pattern = read(Variable::TicketPattern)?
            .map(|raw| TicketPattern::parse(&raw))
            .transpose()?;
        let audit_key = read(Variable::AuditKey)?
            .map(|raw| parse_key(Variable::AuditKey, &raw))
            .transpose()?;
        let audit_previous_keys = match read(Variable::AuditPreviousKeys)? {
            None => Vec::new(),
            Some(raw) => parse_previous_keys(&raw, audit_key.as_ref())?,
        };
        let state_key = read(Variable::StateKey)?
            .map(|raw| parse_key(Variable::StateKey, &raw))
            .transpose()?;
        let entra_audience = read(Variable::EntraAudience)?
            .map(|raw| parse_audience(&raw))
            .transpose()?;

        Ok(Config {
            tenant_id,
            client_id,
            client_secret,
            graph_endpoint,
            login_endpoint,
            callers,
            tap_max_lifetime_minutes,
            require_ticket,
            protected_group_id,
            protected_users,
            rate_limits,
            notify,
            require_verification,
            ticket_pattern,
            audit_key,
            audit_previous_keys,
            state_key,
            entra_audience,
        })
    }
}

/// `entra_audience`: the app ID URI (`api://…`) or application id the
/// tokens are issued for; printable, no spaces.
fn parse_audience(raw: &str) -> Result<String, ConfigError> {
    let a = raw.trim();
    if a.len() > 256 || a.chars().any(|c| !c.is_ascii_graphic()) {
        return Err(ConfigError::invalid(
            Variable::EntraAudience,
            "must be the API's app ID URI (api://...) or application id",
        ));
    }
    Ok(a.to_string())
}

/// Shortest key accepted: 32 characters (e.g. `openssl rand -base64 32`
/// gives 44), so a key is never guessable by brute force.
const MIN_KEY_CHARS: usize = 32;

/// A key variable is used as given (its bytes, trimmed): any encoding of
/// enough randomness works, and no decoding step can silently shorten it.
fn parse_key(variable: Variable, raw: &str) -> Result<Secret<Vec<u8>>, ConfigError> {
    let key = raw.trim();
    if key.chars().count() < MIN_KEY_CHARS {
        return Err(ConfigError::invalid(
            variable,
            format!("must be at least {MIN_KEY_CHARS} characters of random text"),
        ));
    }
    Ok(Secret::new(key.as_bytes().to_vec()))
}

/// At most this many earlier audit keys: one a rotation, kept for years.
const MAX_PREVIOUS_KEYS: usize = 8;

/// `audit_previous_keys`: a JSON list of the keys `audit_key` had, each
/// held to the rules of a key.
fn parse_previous_keys(
    raw: &str,
    current: Option<&Secret<Vec<u8>>>,
) -> Result<Vec<Secret<Vec<u8>>>, ConfigError> {
    let v = Variable::AuditPreviousKeys;
    let keys: Vec<String> = parse_json(v, raw)?;
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let Some(current) = current else {
        return Err(ConfigError::invalid(
            v,
            "needs audit_key: previous keys are what audit_key was before",
        ));
    };
    if keys.len() > MAX_PREVIOUS_KEYS {
        return Err(ConfigError::invalid(
            v,
            format!("at most {MAX_PREVIOUS_KEYS} keys"),
        ));
    }
    let mut out: Vec<Secret<Vec<u8>>> = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        let key = parse_key(v, k).map_err(|_| {
            ConfigError::invalid(
                v,
                format!("[{i}] must be at least {MIN_KEY_CHARS} characters of random text"),
            )
        })?;
        if key.expose() == current.expose() || out.iter().any(|o| o.expose() == key.expose()) {
            return Err(ConfigError::invalid(
                v,
                format!("[{i}] is audit_key or another previous key"),
            ));
        }
        out.push(key);
    }
    Ok(out)
}

fn parse_guid(variable: Variable, raw: &str) -> Result<String, ConfigError> {
    let s = raw.trim();
    if is_guid(s) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(ConfigError::invalid(variable, "not a GUID"))
    }
}

/// A tenant GUID or a verified domain (FACTS §1); it goes into the token URL.
fn parse_tenant(raw: &str) -> Result<String, ConfigError> {
    let s = raw.trim();
    let domain_like = !s.is_empty()
        && s.len() <= 253
        && s.contains('.')
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-');
    if is_guid(s) || domain_like {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(ConfigError::invalid(
            Variable::TenantId,
            "not a tenant GUID or a domain name",
        ))
    }
}

fn parse_bool(variable: Variable, raw: &str) -> Result<bool, ConfigError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ConfigError::invalid(variable, "must be true or false")),
    }
}

/// JSON with serde's message withheld: it quotes the input.
fn parse_json<T: serde::de::DeserializeOwned>(
    variable: Variable,
    raw: &str,
) -> Result<T, ConfigError> {
    serde_json::from_str(raw).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "not valid JSON"
            }
            _ => "JSON does not have the expected shape (unknown, missing or mistyped field)",
        };
        ConfigError::invalid(
            variable,
            format!("{what} at line {}, column {}", e.line(), e.column()),
        )
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawCaller {
    id: String,
    key_sha256: Option<String>,
    webhook_secret: Option<String>,
    entra_app_id: Option<String>,
    scopes: Option<Vec<String>>,
}

fn parse_callers(raw: &str) -> Result<Vec<CallerConfig>, ConfigError> {
    let v = Variable::Callers;
    // Each entry an object, never an array of its fields.
    let raw: Vec<RawCaller> = parse_json::<Vec<Object<RawCaller>>>(v, raw)?
        .into_iter()
        .map(|o| o.0)
        .collect();
    if raw.is_empty() {
        return Err(ConfigError::invalid(v, "no callers configured"));
    }
    let mut seen = BTreeSet::new();
    let mut callers = Vec::with_capacity(raw.len());
    for (i, c) in raw.into_iter().enumerate() {
        let at = |what: &str| ConfigError::invalid(v, format!("callers[{i}]: {what}"));
        let id_ok = !c.id.is_empty()
            && c.id.len() <= 64
            && c.id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b));
        if !id_ok {
            return Err(at(
                "id must be 1..64 characters of letters, digits, - _ . @",
            ));
        }
        if !seen.insert(c.id.clone()) {
            return Err(at("id is used by another caller"));
        }
        let key_sha256 = c
            .key_sha256
            .map(|hex_digest| {
                let mut out = [0u8; 32];
                if hex_digest.len() != 64 {
                    return Err(at("keySha256 is not 64 hex digits"));
                }
                hex::decode_to_slice(&hex_digest, &mut out)
                    .map_err(|_| at("keySha256 is not 64 hex digits"))?;
                Ok(Secret::new(out))
            })
            .transpose()?;
        let webhook_secret = c
            .webhook_secret
            .map(|s| {
                let b64 = s
                    .strip_prefix("whsec_")
                    .ok_or_else(|| at("webhookSecret must start with whsec_"))?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|_| at("webhookSecret is not whsec_ followed by base64"))?;
                if bytes.len() < 24 {
                    return Err(at("webhookSecret is shorter than 24 bytes"));
                }
                Ok(Secret::new(bytes))
            })
            .transpose()?;
        let entra_app_id = c
            .entra_app_id
            .map(|app| {
                let app = app.to_ascii_lowercase();
                if !crate::types::is_guid(&app) {
                    return Err(at("entraAppId is not an application id (a GUID)"));
                }
                match callers
                    .iter()
                    .position(|o: &CallerConfig| o.entra_app_id.as_ref() == Some(&app))
                {
                    Some(j) => Err(at(&format!("entraAppId is the same as callers[{j}]'s"))),
                    None => Ok(app),
                }
            })
            .transpose()?;
        let has_secret = key_sha256.is_some() || webhook_secret.is_some();
        if !has_secret && entra_app_id.is_none() {
            return Err(at("needs keySha256, webhookSecret or entraAppId"));
        }
        // A token's scopes are its app roles; scopes on a name-only entry
        // would read as a grant that is never made.
        let raw_scopes = match (c.scopes, has_secret) {
            (Some(s), true) => s,
            (None, true) => return Err(at("needs scopes")),
            (Some(s), false) if !s.is_empty() => return Err(at(
                "scopes apply to keys and webhook secrets; an Entra app's scopes are its app roles",
            )),
            (_, false) => Vec::new(),
        };
        let mut scopes = BTreeSet::new();
        for s in &raw_scopes {
            let scope = s
                .parse::<Scope>()
                .map_err(|_| at("scopes has an unknown scope"))?;
            scopes.insert(scope);
        }
        // Two callers with one credential would make either's requests
        // indistinguishable in the audit trail and limits; the index, never
        // the value, is named.
        let same = |other: &CallerConfig| {
            let key = matches!((&key_sha256, &other.key_sha256), (Some(a), Some(b)) if a.expose() == b.expose());
            let secret = matches!((&webhook_secret, &other.webhook_secret), (Some(a), Some(b)) if a.expose() == b.expose());
            (key, secret)
        };
        for (j, other) in callers.iter().enumerate() {
            match same(other) {
                (true, _) => return Err(at(&format!("keySha256 is the same as callers[{j}]'s"))),
                (_, true) => {
                    return Err(at(&format!("webhookSecret is the same as callers[{j}]'s")))
                }
                _ => {}
            }
        }
        callers.push(CallerConfig {
            id: c.id,
            key_sha256,
            webhook_secret,
            entra_app_id,
            scopes,
        });
    }
    Ok(callers)
}

fn parse_protected_users(raw: &str) -> Result<Vec<String>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            if is_guid(s) || (s.contains('@') && !s.contains(char::is_whitespace)) {
                Ok(s.to_ascii_lowercase())
            } else {
                Err(ConfigError::invalid(
                    Variable::ProtectedUsers,
                    "entries must be userPrincipalNames or object ids",
                ))
            }
        })
        .collect()
}

fn parse_notify(raw: &str) -> Result<NotifyConfig, ConfigError> {
    let v = Variable::Notify;
    let n: NotifyConfig = parse_json::<Object<NotifyConfig>>(v, raw)?.0;
    if !matches!(
        crate::types::UserRef::parse(&n.sender),
        Ok(crate::types::UserRef::Upn(_))
    ) {
        return Err(ConfigError::invalid(v, "sender must be a mailbox UPN"));
    }
    if n.recipients.is_empty() {
        return Err(ConfigError::invalid(v, "recipients is empty"));
    }
    Ok(n)
}

fn parse_verification(raw: &str) -> Result<VerificationRequirement, ConfigError> {
    let v = Variable::RequireVerification;
    match raw.trim() {
        "none" => return Ok(VerificationRequirement::None),
        "protected" => return Ok(VerificationRequirement::Protected),
        "all" => return Ok(VerificationRequirement::All),
        _ => {}
    }
    let mut ops = BTreeSet::new();
    for part in raw.split(',').map(str::trim) {
        let op = MutatingOperation::ALL
            .into_iter()
            .find(|op| op.as_str() == part)
            .ok_or_else(|| {
                ConfigError::invalid(
                    v,
                    "must be none, protected, all, or a comma list of tap, reset, phone",
                )
            })?;
        ops.insert(op);
    }
    Ok(VerificationRequirement::Operations(ops))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const KEY_HASH: &str = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        let mut m: HashMap<String, String> = [
            ("tenant_id", "4a7c1e2f-0000-4000-8000-000000000001"),
            ("client_id", "9b1d3c5e-0000-4000-8000-000000000002"),
            ("client_secret", "s3cr3t-value"),
            (
                "callers",
                r#"[{"id":"servicenow","keySha256":"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8","scopes":["tap","reset"]}]"#,
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in pairs {
            m.insert(k.to_string(), v.to_string());
        }
        m
    }

    #[test]
    fn defaults_apply_when_optional_variables_are_empty() {
        let c = Config::load(&vars(&[("graph_endpoint", ""), ("protected_users", "")])).unwrap();
        assert_eq!(c.graph_endpoint.base(), "https://graph.microsoft.com");
        assert_eq!(c.login_endpoint.base(), "https://login.microsoftonline.com");
        assert_eq!(c.tap_max_lifetime_minutes, 480);
        assert!(c.require_ticket);
        assert_eq!(c.rate_limits, RateLimits::default());
        assert_eq!(c.require_verification, VerificationRequirement::None);
        assert!(c.protected_users.is_empty());
        assert_eq!(c.callers[0].scopes.len(), 2);
        assert_eq!(
            hex::encode(c.callers[0].key_sha256.as_ref().unwrap().expose()),
            KEY_HASH
        );
    }

    #[test]
    fn an_entra_app_id_entry_names_a_client_and_may_share_a_keyed_entry() {
        let c = Config::load(&vars(&[(
            "callers",
            r#"[{"id":"servicenow","keySha256":"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8","scopes":["tap"],"entraAppId":"AAAAAAAA-2222-4333-8444-555555555555"},
                {"id":"runbook","entraAppId":"bbbbbbbb-2222-4333-8444-555555555555","scopes":[]}]"#,
        )]))
        .unwrap();
        assert_eq!(
            c.callers[0].entra_app_id.as_deref(),
            Some("aaaaaaaa-2222-4333-8444-555555555555")
        );
        assert_eq!(c.callers[0].scopes, [Scope::Tap].into());
        assert!(c.callers[1].key_sha256.is_none() && c.callers[1].scopes.is_empty());
        let err = |callers: &str| {
            Config::load(&vars(&[("callers", callers)]))
                .unwrap_err()
                .to_string()
        };
        assert!(err(
            r#"[{"id":"x","entraAppId":"aaaaaaaa-2222-4333-8444-555555555555","scopes":["tap"]}]"#
        )
        .contains("app roles"));
        assert!(err(r#"[{"id":"x"}]"#).contains("needs keySha256, webhookSecret or entraAppId"));
    }

    #[test]
    fn every_required_variable_is_reported_missing_by_name() {
        for v in Variable::ALL.into_iter().filter(|v| v.is_required()) {
            let mut m = vars(&[]);
            m.remove(v.name());
            assert_eq!(Config::load(&m).unwrap_err(), ConfigError::Missing(v));
        }
    }

    #[test]
    fn errors_name_the_variable_and_never_quote_the_value() {
        let cases: &[(&str, &str)] = &[
            (
                "callers",
                r#"[{"id":"x","keySha256":"SECRETVALUE","scopes":[]}]"#,
            ),
            ("callers", r#"[{"id":"x","keySha256":"#),
            ("callers", r#"[{"id":"x","key":"SECRETVALUE","scopes":[]}]"#),
            (
                "callers",
                r#"[{"id":"x","webhookSecret":"SECRETVALUE","scopes":[]}]"#,
            ),
            (
                "callers",
                r#"[{"id":"x","webhookSecret":"whsec_SECRETVALUE!","scopes":[]}]"#,
            ),
            (
                "callers",
                r#"[{"id":"x","keySha256":"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8","scopes":["SECRETVALUE"]}]"#,
            ),
            ("callers", "[]"),
            ("callers", r#"[{"id":"x","entraAppId":"SECRETVALUE"}]"#),
            (
                "callers",
                r#"[{"id":"x","entraAppId":"11111111-2222-4333-8444-555555555555","scopes":["SECRETVALUE"]}]"#,
            ),
            (
                "callers",
                r#"[{"id":"x","keySha256":"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"}]"#,
            ),
            (
                "callers",
                r#"[{"id":"x","entraAppId":"11111111-2222-4333-8444-555555555555"},{"id":"y","entraAppId":"11111111-2222-4333-8444-555555555555"}]"#,
            ),
            // Objects given as arrays of their fields (serde's derive alone
            // reads those).
            (
                "callers",
                r#"[["SECRETVALUE","5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",null,["tap"]]]"#,
            ),
            ("rate_limits", "[5, 10]"),
            ("notify", r#"["SECRETVALUE@contoso.com", ["user"]]"#),
            ("graph_endpoint", "ftp://SECRETVALUE"),
            (
                "graph_endpoint",
                "https://graph.microsoft.com/v1.0/SECRETVALUE",
            ),
            ("login_endpoint", "SECRETVALUE"),
            ("tap_max_lifetime_minutes", "SECRETVALUE"),
            ("tap_max_lifetime_minutes", "5"),
            ("require_ticket", "SECRETVALUE"),
            ("protected_group_id", "SECRETVALUE"),
            ("protected_users", "SECRETVALUE"),
            ("rate_limits", r#"{"callerPerMinute":"SECRETVALUE"}"#),
            ("rate_limits", r#"{"SECRETVALUE":1}"#),
            (
                "notify",
                r#"{"sender":"SECRETVALUE","recipients":["manager"]}"#,
            ),
            ("require_verification", "SECRETVALUE"),
            ("graph_endpoint", "http://SECRETVALUE.example"),
            ("login_endpoint", "http://10.0.0.1:8080"),
            ("graph_endpoint", "http://127.0.0.1.SECRETVALUE.example"),
            ("ticket_pattern", "(SECRETVALUE"),
            ("ticket_pattern", r"\w{1000}SECRETVALUE"),
            ("rate_limits", r#"{"callerMutationsPerDay":-1}"#),
            (
                "callers",
                r#"[{"id":"a","keySha256":"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8","scopes":[]},{"id":"b","keySha256":"5E884898DA28047151D0E56F8DC6292773603D0D6AABBDD62A11EF721D1542D8","scopes":[]}]"#,
            ),
            (
                "callers",
                r#"[{"id":"a","webhookSecret":"whsec_U0VDUkVULXdlYmhvb2stc2VjcmV0LTEyMzQ1Ng==","scopes":[]},{"id":"b","keySha256":"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8","webhookSecret":"whsec_U0VDUkVULXdlYmhvb2stc2VjcmV0LTEyMzQ1Ng==","scopes":[]}]"#,
            ),
            ("tenant_id", "SECRET VALUE"),
            ("client_id", "SECRETVALUE"),
        ];
        for (name, value) in cases {
            let err = Config::load(&vars(&[(name, value)])).unwrap_err();
            assert_eq!(err.variable().name(), *name, "{name}={value}");
            let text = err.to_string();
            assert!(text.contains(name), "{text}");
            assert!(!text.contains("SECRET"), "{name} leaked its value: {text}");
        }
    }

    #[test]
    fn overrides_are_parsed() {
        let c = Config::load(&vars(&[
            ("graph_endpoint", "http://127.0.0.1:8081/"),
            ("tap_max_lifetime_minutes", "120"),
            ("require_ticket", "false"),
            (
                "protected_users",
                "Boss@Contoso.com, 11111111-2222-3333-4444-555555555555",
            ),
            ("rate_limits", r#"{"callerPerMinute":5}"#),
            (
                "notify",
                r#"{"sender":"helpdesk@contoso.com","recipients":["manager","user"]}"#,
            ),
            ("require_verification", "tap, reset"),
        ]))
        .unwrap();
        assert_eq!(c.graph_endpoint.base(), "http://127.0.0.1:8081");
        assert_eq!(c.tap_max_lifetime_minutes, 120);
        assert!(!c.require_ticket);
        assert_eq!(
            c.protected_users,
            ["boss@contoso.com", "11111111-2222-3333-4444-555555555555"]
        );
        assert_eq!(c.rate_limits.caller_per_minute, Some(5));
        assert_eq!(c.rate_limits.tap_per_user_per_day, Some(3));
        assert_eq!(c.rate_limits.caller_mutations_per_day, Some(200));
        assert_eq!(c.notify.unwrap().recipients.len(), 2);
        assert_eq!(
            c.require_verification,
            VerificationRequirement::Operations(
                [MutatingOperation::Tap, MutatingOperation::Reset].into()
            )
        );
    }

    #[test]
    fn zero_allows_none_and_null_removes_a_limit() {
        let c = Config::load(&vars(&[(
            "rate_limits",
            r#"{"tapPerUserPerDay":0,"callerMutationsPerDay":null,"callerPerMinute":7}"#,
        )]))
        .unwrap();
        assert_eq!(
            c.rate_limits,
            RateLimits {
                caller_per_minute: Some(7),
                caller_mutations_per_day: None,
                tap_per_user_per_day: Some(0),
                reset_per_user_per_day: Some(3),
                phone_per_user_per_day: Some(10),
            }
        );
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "http://127.0.0.1:8081",
            "http://127.9.8.7",
            "http://[::1]:3000",
            "http://localhost:8080",
            "http://LocalHost",
            "https://graph.microsoft.us",
        ] {
            for name in ["graph_endpoint", "login_endpoint"] {
                let c = Config::load(&vars(&[(name, ok)]));
                assert!(c.is_ok(), "{name}={ok}: {:?}", c.err());
            }
        }
        for bad in [
            "http://graph.microsoft.com",
            "http://10.0.0.1",
            "http://128.0.0.1",
            "http://[::2]",
            "http://localhost.evil.example",
            "http://0.0.0.0",
        ] {
            let e = Config::load(&vars(&[("graph_endpoint", bad)])).unwrap_err();
            assert_eq!(e.variable(), Variable::GraphEndpoint, "{bad}");
            assert!(e.to_string().contains("loopback"), "{bad}: {e}");
        }
    }

    #[test]
    fn an_internationalised_host_is_given_in_its_ascii_form() {
        let e = Config::load(&vars(&[("graph_endpoint", "https://bücher.example")])).unwrap_err();
        assert_eq!(e.variable(), Variable::GraphEndpoint);
        assert!(e.to_string().contains("xn--"), "{e}");
        let c = Config::load(&vars(&[(
            "graph_endpoint",
            "https://xn--bcher-kva.example",
        )]))
        .unwrap();
        assert_eq!(c.graph_endpoint.base(), "https://xn--bcher-kva.example");
    }

    #[test]
    fn callers_may_not_share_a_credential() {
        let upper = KEY_HASH.to_uppercase();
        let two = format!(
            r#"[{{"id":"a","keySha256":"{KEY_HASH}","scopes":[]}},{{"id":"b","keySha256":"{upper}","scopes":[]}}]"#
        );
        let e = Config::load(&vars(&[("callers", &two)])).unwrap_err();
        assert_eq!(e.variable(), Variable::Callers);
        assert!(
            e.to_string()
                .contains("callers[1]: keySha256 is the same as callers[0]'s"),
            "{e}"
        );
        assert!(!e.to_string().to_lowercase().contains(KEY_HASH), "{e}");

        let secret = "whsec_MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0";
        let two = format!(
            r#"[{{"id":"a","webhookSecret":"{secret}","scopes":[]}},{{"id":"b","webhookSecret":"{secret}","scopes":[]}}]"#
        );
        let e = Config::load(&vars(&[("callers", &two)])).unwrap_err();
        assert!(
            e.to_string()
                .contains("webhookSecret is the same as callers[0]'s"),
            "{e}"
        );
        assert!(!e.to_string().contains(&secret[6..]), "{e}");

        // Distinct credentials of each kind are fine.
        let other = "0".repeat(64);
        let ok = format!(
            r#"[{{"id":"a","keySha256":"{KEY_HASH}","webhookSecret":"{secret}","scopes":[]}},{{"id":"b","keySha256":"{other}","scopes":[]}}]"#
        );
        assert_eq!(
            Config::load(&vars(&[("callers", &ok)]))
                .unwrap()
                .callers
                .len(),
            2
        );
    }

    #[test]
    fn ticket_pattern_matches_whole_tickets_and_is_bounded() {
        let c = Config::load(&vars(&[("ticket_pattern", r"(INC|RITM)\d{7}")])).unwrap();
        let p = c.ticket_pattern.unwrap();
        assert!(p.matches("INC0012345"));
        assert!(p.matches("RITM0012345"));
        for bad in [
            "INC001234",
            "xINC0012345",
            "INC0012345\ncall me",
            "inc0012345",
            "",
        ] {
            assert!(!p.matches(bad), "{bad}");
        }
        assert!(Config::load(&vars(&[])).unwrap().ticket_pattern.is_none());
        let long = "a".repeat(TICKET_PATTERN_MAX_LEN + 1);
        let e = Config::load(&vars(&[("ticket_pattern", &long)])).unwrap_err();
        assert_eq!(e.variable(), Variable::TicketPattern);
        let e = Config::load(&vars(&[("ticket_pattern", r"\w{1000}")])).unwrap_err();
        assert!(e.to_string().contains("size limit"), "{e}");
        assert!(Config::load(&vars(&[("ticket_pattern", r"(?i)[a-z0-9_-]{1,128}")])).is_ok());
    }

    #[test]
    fn notify_recipients_all_is_every_one_in_order() {
        let all = NotifyRecipient::ALL;
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        for r in all {
            // A new variant fails to compile here until it is listed.
            match r {
                NotifyRecipient::Manager
                | NotifyRecipient::AlternateEmail
                | NotifyRecipient::User => {}
            }
        }
        assert_eq!(all.len(), 3);
    }

    #[test]
    fn ticket_pattern_classes_and_case_are_ascii() {
        for p in [
            r"\p{L}+",
            r"INC\pN{7}",
            r"[\P{Greek}0-9]+",
            r"(?i)[a-z\p{Latin}]+",
        ] {
            let e = Config::load(&vars(&[("ticket_pattern", p)])).unwrap_err();
            assert_eq!(e.variable(), Variable::TicketPattern);
            assert!(
                e.to_string().contains("Unicode character classes"),
                "{p}: {e}"
            );
        }
        let c = Config::load(&vars(&[("ticket_pattern", r"(?i)k\d{3}\w\b\s?")])).unwrap();
        let p = c.ticket_pattern.unwrap();
        assert!(p.matches("K123x"));
        assert!(p.matches("k123_ "));
        assert!(!p.matches("K12x"));
        // A digit, letter or case fold from outside ASCII does not pass for
        // one in a ticket number.
        assert!(!p.matches("k١٢٣x"), "Arabic-Indic digits are not \\d");
        assert!(!p.matches("K123é"), "é is not \\w");
        assert!(!p.matches("\u{212A}123_"), "the Kelvin sign is not k");
        // Literal non-ASCII text still matches itself.
        let c = Config::load(&vars(&[("ticket_pattern", r"Störung-\d+")])).unwrap();
        assert!(c.ticket_pattern.unwrap().matches("Störung-42"));
    }

    #[test]
    fn the_credentials_and_keys_are_secret() {
        let secret: Vec<_> = Variable::ALL
            .into_iter()
            .filter(|v| v.is_secret())
            .collect();
        assert_eq!(
            secret,
            [
                Variable::ClientSecret,
                Variable::Callers,
                Variable::AuditKey,
                Variable::AuditPreviousKeys,
                Variable::StateKey
            ]
        );
    }

    #[test]
    fn keys_are_at_least_32_characters_and_never_echoed() {
        for name in ["audit_key", "state_key"] {
            let short = "SHORTKEY-0123456789-0123456789a";
            let e = Config::load(&vars(&[(name, short)])).unwrap_err();
            assert_eq!(e.variable().name(), name);
            assert!(!e.to_string().contains(short), "{e}");
            let long = "k".repeat(32);
            let c = Config::load(&vars(&[(name, long.as_str())])).unwrap();
            let key = if name == "audit_key" {
                c.audit_key
            } else {
                c.state_key
            };
            assert_eq!(key.unwrap().expose(), long.as_bytes());
        }
    }

    #[test]
    fn previous_audit_keys_are_keys_beside_a_current_one() {
        let (current, old) = ("c".repeat(32), "o".repeat(32));
        let list = format!(r#"["{old}"]"#);
        let c = Config::load(&vars(&[
            ("audit_key", current.as_str()),
            ("audit_previous_keys", list.as_str()),
        ]))
        .unwrap();
        assert_eq!(c.audit_previous_keys.len(), 1);
        assert_eq!(c.audit_previous_keys[0].expose(), old.as_bytes());
        // An empty list is none, with or without a key.
        let c = Config::load(&vars(&[("audit_previous_keys", "[]")])).unwrap();
        assert!(c.audit_previous_keys.is_empty());
        let secret = "SECRETVALUE-0123456789-0123456789";
        for (key, previous, why) in [
            (None, format!(r#"["{secret}"]"#), "needs audit_key"),
            (
                Some(current.as_str()),
                r#"["SECRETVALUE"]"#.to_string(),
                "at least 32",
            ),
            (
                Some(current.as_str()),
                format!(r#"["{current}"]"#),
                "is audit_key",
            ),
            (
                Some(current.as_str()),
                format!(r#"["{secret}","{secret}"]"#),
                "another previous key",
            ),
            (Some(current.as_str()), format!(r#""{secret}""#), "JSON"),
            (
                Some(current.as_str()),
                format!(r#"[{}]"#, vec![format!(r#""{secret}""#); 9].join(",")),
                "at most 8",
            ),
        ] {
            let mut pairs = vec![("audit_previous_keys", previous.as_str())];
            if let Some(k) = key {
                pairs.push(("audit_key", k));
            }
            let e = Config::load(&vars(&pairs)).unwrap_err();
            assert_eq!(e.variable(), Variable::AuditPreviousKeys, "{previous}");
            let text = e.to_string();
            assert!(text.contains(why), "{previous}: {text}");
            assert!(
                !text.contains("SECRETVALUE") && !text.contains(&current),
                "{text}"
            );
        }
    }
}
