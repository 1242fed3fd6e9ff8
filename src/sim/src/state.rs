//! The in-memory tenant: directory objects, methods, policies, sign-ins, and the
//! simulator's own bookkeeping (tokens, request log, faults, clock).

use std::collections::{HashMap, VecDeque};

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::clock::{self, Clock};
use crate::faults::Fault;
use crate::reqlog::Entry;

#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    pub display_name: String,
    pub verified_domains: Vec<String>,
    /// Entra ID P1/P2: needed for sign-in logs and reports (FACTS §7).
    pub premium: bool,
    /// Entra ID P2 (or ID Governance): needed for every PIM read (roles and groups).
    /// Without it Graph answers `400 AadPremiumLicenseRequired`
    /// (observed: https://github.com/maester365/maester/issues/1421 ,
    /// https://github.com/cisagov/ScubaGear/issues/981). Defaults to `premium`.
    pub premium_p2: bool,
    pub sign_in_retention_days: i64,
}

/// Real-tenant behaviours a test can switch on without rewriting the fixture
/// (fixture `tenant` keys, or `POST /_sim/quirks`; `POST /_sim/reset` restores the fixture's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quirks {
    /// Server-driven page size of membership reads and `GET /groups`: at most this many
    /// items per page whatever `$top` asks (https://learn.microsoft.com/graph/paging:
    /// "A page of results may contain zero or more results"; "the requested page size might be ignored").
    pub membership_page_size: Option<usize>,
    /// The same cap on `roleManagement/directory/*` lists.
    pub role_page_size: Option<usize>,
    /// Reads of a user's method lists that still show a method after its DELETE
    /// (eventual consistency across directory replicas:
    /// https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/ ,
    /// and the "might have replication delays … recently created, updated, or deleted" notes
    /// on https://learn.microsoft.com/graph/api/user-list and …/group-list).
    pub replication_lag_reads: u32,
    /// The token endpoint answers `expires_in` and `ext_expires_in` as JSON strings
    /// (`"3599"`), as the v1 endpoint documents and tenants have been seen to answer on
    /// v2.0 too (https://github.com/MicrosoftDocs/azure-docs/issues/54997: "/{tenant}/oauth2/v2.0/token,
    /// I get expires_in as string"; client libraries parse both for that reason, e.g.
    /// https://github.com/openid/AppAuth-iOS/pull/228, https://github.com/freizl/hoauth2/pull/97).
    pub token_expires_in_as_string: bool,
}

impl Quirks {
    pub fn to_json(self) -> Value {
        json!({
            "membershipPageSize": self.membership_page_size,
            "rolePageSize": self.role_page_size,
            "replicationLagReads": self.replication_lag_reads,
            "tokenExpiresInAsString": self.token_expires_in_as_string,
        })
    }
}

/// A deleted method that some replicas still return (see [`Quirks::replication_lag_reads`]).
#[derive(Debug, Clone)]
pub struct Ghost {
    pub user_id: String,
    /// Where the method stood in the user's list, so reads show it in its old place.
    pub index: usize,
    pub method: Method,
    pub reads_left: u32,
}

/// A PIM for Groups eligibility or active assignment (fixture `pimGroupEligibilities` /
/// `pimGroupAssignments`); only live ones are listed as instances.
#[derive(Debug, Clone)]
pub struct PimGroupSchedule {
    pub id: String,
    pub group_id: String,
    pub principal_id: String,
    /// `member` or `owner`.
    pub access_id: String,
    pub start: Option<OffsetDateTime>,
    pub end: Option<OffsetDateTime>,
    /// Assignments only: `assigned` or `activated`.
    pub assignment_type: Option<String>,
}

impl PimGroupSchedule {
    pub fn live(&self, now: OffsetDateTime) -> bool {
        self.start.is_none_or(|t| t <= now) && self.end.is_none_or(|t| t > now)
    }
}

#[derive(Debug, Clone)]
pub struct App {
    pub client_id: String,
    /// Object id of the app's service principal in this tenant (`oid`/`sub` of its tokens).
    pub service_principal_id: String,
    pub display_name: String,
    pub client_secret: String,
    pub client_secret_expired: bool,
    pub permissions: Vec<String>,
    pub token_lifetime_seconds: i64,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub client_id: String,
    pub permissions: Vec<String>,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy)]
pub struct ThrottleCfg {
    pub reports_max_requests: usize,
    pub reports_window_seconds: i64,
}

/// Authentication method types: path segment, `@odata.type`, granular permission (FACTS §0, §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Password,
    Phone,
    Email,
    Fido2,
    MicrosoftAuthenticator,
    SoftwareOath,
    TemporaryAccessPass,
    WindowsHelloForBusiness,
    PlatformCredential,
    External,
    QrCodePin,
    HardwareOath,
}

pub const KINDS: [Kind; 12] = [
    Kind::Password,
    Kind::Phone,
    Kind::Email,
    Kind::Fido2,
    Kind::MicrosoftAuthenticator,
    Kind::SoftwareOath,
    Kind::TemporaryAccessPass,
    Kind::WindowsHelloForBusiness,
    Kind::PlatformCredential,
    Kind::External,
    Kind::QrCodePin,
    Kind::HardwareOath,
];

impl Kind {
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::Password => "passwordAuthenticationMethod",
            Kind::Phone => "phoneAuthenticationMethod",
            Kind::Email => "emailAuthenticationMethod",
            Kind::Fido2 => "fido2AuthenticationMethod",
            Kind::MicrosoftAuthenticator => "microsoftAuthenticatorAuthenticationMethod",
            Kind::SoftwareOath => "softwareOathAuthenticationMethod",
            Kind::TemporaryAccessPass => "temporaryAccessPassAuthenticationMethod",
            Kind::WindowsHelloForBusiness => "windowsHelloForBusinessAuthenticationMethod",
            Kind::PlatformCredential => "platformCredentialAuthenticationMethod",
            Kind::External => "externalAuthenticationMethod",
            Kind::QrCodePin => "qrCodePinAuthenticationMethod",
            Kind::HardwareOath => "hardwareOathAuthenticationMethod",
        }
    }

    pub fn odata_type(self) -> String {
        format!("#microsoft.graph.{}", self.type_name())
    }

    pub fn segment(self) -> &'static str {
        match self {
            Kind::Password => "passwordMethods",
            Kind::Phone => "phoneMethods",
            Kind::Email => "emailMethods",
            Kind::Fido2 => "fido2Methods",
            Kind::MicrosoftAuthenticator => "microsoftAuthenticatorMethods",
            Kind::SoftwareOath => "softwareOathMethods",
            Kind::TemporaryAccessPass => "temporaryAccessPassMethods",
            Kind::WindowsHelloForBusiness => "windowsHelloForBusinessMethods",
            Kind::PlatformCredential => "platformCredentialMethods",
            Kind::External => "externalAuthenticationMethods",
            Kind::QrCodePin => "qrCodePinMethod",
            Kind::HardwareOath => "hardwareOathMethods",
        }
    }

    /// The `X` of `UserAuthMethod-X.ReadWrite.All` (FACTS §0).
    pub fn granular(self) -> &'static str {
        match self {
            Kind::Password => "Password",
            Kind::Phone => "Phone",
            Kind::Email => "Email",
            Kind::Fido2 => "Passkey",
            Kind::MicrosoftAuthenticator => "MicrosoftAuthApp",
            Kind::SoftwareOath => "SoftwareOATH",
            Kind::TemporaryAccessPass => "TAP",
            Kind::WindowsHelloForBusiness => "WindowsHello",
            Kind::PlatformCredential => "PlatformCred",
            Kind::External => "External",
            Kind::QrCodePin => "QR",
            Kind::HardwareOath => "HardwareOATH",
        }
    }

    pub fn from_segment(s: &str) -> Option<Kind> {
        KINDS
            .iter()
            .copied()
            .find(|k| k.segment().eq_ignore_ascii_case(s))
    }

    pub fn from_odata_type(s: &str) -> Option<Kind> {
        let s = s
            .trim_start_matches('#')
            .trim_start_matches("microsoft.graph.");
        KINDS.iter().copied().find(|k| k.type_name() == s)
    }

    /// `hardwareOathMethods` is beta-only, so v1.0's mixed list omits it (FACTS §4).
    pub fn in_v1(self) -> bool {
        self != Kind::HardwareOath
    }
}

#[derive(Debug, Clone)]
pub struct Method {
    pub kind: Kind,
    /// Graph properties as stored (`id`, `createdDateTime`, …). For a TAP this
    /// includes the pass itself; it is only ever shown by `/_sim/state` and the 201.
    pub props: Map<String, Value>,
    /// When SMS sign-in was turned on for this mobile phone (earliest holder wins a shared number).
    pub sms_enabled_at: Option<OffsetDateTime>,
    pub one_time_used: bool,
}

impl Method {
    pub fn id(&self) -> &str {
        self.props["id"].as_str().unwrap_or_default()
    }

    pub fn phone_type(&self) -> &str {
        self.props
            .get("phoneType")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub props: Map<String, Value>,
    pub manager: Option<String>,
    pub mailbox: bool,
    pub methods: Vec<Method>,
    pub default_method_id: Option<String>,
    pub default_phone_mode_voice: bool,
    pub system_preferred_enabled: bool,
    pub sign_in_preferences_unreadable: bool,
}

impl User {
    pub fn id(&self) -> &str {
        self.props["id"].as_str().unwrap_or_default()
    }

    pub fn upn(&self) -> &str {
        self.props["userPrincipalName"].as_str().unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
pub struct Group {
    pub props: Map<String, Value>,
    pub members: Vec<String>,
    /// Owners are not members: they never appear in memberOf/transitiveMembers.
    pub owners: Vec<String>,
}

impl Group {
    pub fn id(&self) -> &str {
        self.props["id"].as_str().unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
pub struct RoleDefinition {
    pub props: Map<String, Value>,
    /// Object id of the activated `directoryRole`, if the role is activated.
    pub directory_role_id: Option<String>,
}

pub struct State {
    pub fixture_doc: Value,
    pub seeded_at: OffsetDateTime,
    pub clock: Clock,
    pub tenant: Tenant,
    pub apps: Vec<App>,
    pub throttle: ThrottleCfg,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub role_definitions: Vec<RoleDefinition>,
    pub role_assignments: Vec<Value>,
    pub role_eligibility_schedules: Vec<Value>,
    pub pim_group_eligibilities: Vec<PimGroupSchedule>,
    pub pim_group_assignments: Vec<PimGroupSchedule>,
    pub quirks: Quirks,
    pub ghosts: Vec<Ghost>,
    pub policy: Map<String, Value>,
    pub configurations: Vec<Value>,
    /// Newest first.
    pub sign_ins: Vec<Value>,
    /// Each sign-in's `createdDateTime`, in the same order (newest first).
    pub sign_in_times: Vec<time::OffsetDateTime>,
    /// How long after `createdDateTime` a sign-in is listed: Entra's
    /// reporting latency (95 % within 2 minutes, 99 % within 5; "up to two
    /// hours" in the portal: reference-reports-latencies, MS Learn
    /// "Analyze and investigate sign-in logs").
    pub sign_in_delay_secs: i64,
    /// The sign-ins one query matched (key: the query without
    /// `$skiptoken`, and the minute): paging through 200,000 events filters
    /// them once, as Graph's paging serves one consistent result.
    pub sign_in_matches: Option<(String, Vec<usize>)>,
    pub sent_mail: Vec<Value>,
    pub tokens: HashMap<String, Token>,
    pub log: Vec<Entry>,
    pub next_seq: u64,
    /// `POST /_sim/latency`: milliseconds every top-level Graph, `$batch` and
    /// token request waits before it is handled (one network round trip);
    /// kept across `POST /_sim/reset`, as it is the network's, not the tenant's.
    pub latency_ms: u64,
    pub faults: Vec<Fault>,
    pub report_hits: HashMap<String, VecDeque<OffsetDateTime>>,
    pub page_secret: String,
    /// The signing keys `/{tenant}/discovery/v2.0/keys` publishes (names of
    /// `signing::KEYS`); `POST /_sim/signing-keys` rotates them.
    pub published_keys: Vec<String>,
    pub base_url: String,
}

impl State {
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// By object id or UPN, case-insensitively (FACTS §2).
    pub fn find_user(&self, key: &str) -> Option<usize> {
        self.users
            .iter()
            .position(|u| u.id().eq_ignore_ascii_case(key) || u.upn().eq_ignore_ascii_case(key))
    }

    pub fn user_by_id(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id().eq_ignore_ascii_case(id))
    }

    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.id().eq_ignore_ascii_case(id))
    }

    pub fn app(&self, client_id: &str) -> Option<&App> {
        self.apps
            .iter()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    pub fn direct_groups(&self, object_id: &str) -> Vec<&Group> {
        self.groups
            .iter()
            .filter(|g| g.members.iter().any(|m| m.eq_ignore_ascii_case(object_id)))
            .collect()
    }

    /// Groups the object belongs to, directly or through nesting (FACTS §8).
    pub fn transitive_groups(&self, object_id: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut queue = vec![object_id.to_string()];
        while let Some(cur) = queue.pop() {
            for g in self.direct_groups(&cur) {
                if !out.iter().any(|o| o.eq_ignore_ascii_case(g.id())) {
                    out.push(g.id().to_string());
                    queue.push(g.id().to_string());
                }
            }
        }
        out
    }

    /// Members of a group including those of nested groups (and the nested groups).
    pub fn transitive_members(&self, group_id: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut queue = vec![group_id.to_string()];
        while let Some(cur) = queue.pop() {
            if let Some(g) = self.group(&cur) {
                for m in &g.members {
                    if !out.iter().any(|o| o.eq_ignore_ascii_case(m)) {
                        out.push(m.clone());
                        queue.push(m.clone());
                    }
                }
            }
        }
        out
    }

    pub fn in_group_transitively(&self, user_id: &str, group_id: &str) -> bool {
        self.transitive_groups(user_id)
            .iter()
            .any(|g| g.eq_ignore_ascii_case(group_id))
    }

    /// Activated directory roles whose active assignments name `principal` (tenant scope).
    pub fn roles_held_by(&self, principal: &str) -> Vec<&RoleDefinition> {
        self.role_definitions
            .iter()
            .filter(|d| d.directory_role_id.is_some())
            .filter(|d| {
                self.role_assignments.iter().any(|a| {
                    a["principalId"]
                        .as_str()
                        .is_some_and(|p| p.eq_ignore_ascii_case(principal))
                        && a["roleDefinitionId"] == d.props["id"]
                        && a["directoryScopeId"] == "/"
                })
            })
            .collect()
    }

    pub fn role_members(&self, def: &RoleDefinition) -> Vec<String> {
        self.role_assignments
            .iter()
            .filter(|a| a["roleDefinitionId"] == def.props["id"] && a["directoryScopeId"] == "/")
            .filter_map(|a| a["principalId"].as_str().map(str::to_string))
            .collect()
    }

    pub fn render_directory_role(def: &RoleDefinition) -> Value {
        json!({
            "@odata.type": "#microsoft.graph.directoryRole",
            "id": def.directory_role_id,
            "deletedDateTime": null,
            "description": def.props.get("description").cloned().unwrap_or(Value::Null),
            "displayName": def.props.get("displayName").cloned().unwrap_or(Value::Null),
            "roleTemplateId": def.props.get("templateId").cloned().unwrap_or_else(|| def.props["id"].clone()),
        })
    }

    pub fn render_group(g: &Group) -> Value {
        let mut o = g.props.clone();
        o.insert("@odata.type".into(), json!("#microsoft.graph.group"));
        Value::Object(o)
    }

    /// A directory object (user, group or role) by id, as a polymorphic collection item.
    pub fn render_directory_object(&self, id: &str) -> Option<Value> {
        if let Some(u) = self.user_by_id(id) {
            let mut v = render_user(u, None);
            v["@odata.type"] = json!("#microsoft.graph.user");
            return Some(v);
        }
        if let Some(g) = self.group(id) {
            return Some(Self::render_group(g));
        }
        self.role_definitions
            .iter()
            .find(|d| {
                d.directory_role_id
                    .as_deref()
                    .is_some_and(|r| r.eq_ignore_ascii_case(id))
            })
            .map(Self::render_directory_role)
    }

    pub fn configuration(&self, id: &str) -> Option<&Value> {
        self.configurations
            .iter()
            .find(|c| c["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(id)))
    }

    fn target_matches(&self, user_id: &str, target: &Value) -> bool {
        let tid = target["id"].as_str().unwrap_or_default();
        if tid.eq_ignore_ascii_case("all_users") {
            return true;
        }
        match target["targetType"].as_str() {
            Some("user") => tid.eq_ignore_ascii_case(user_id),
            Some("group") => self.in_group_transitively(user_id, tid),
            _ => false,
        }
    }

    /// Policy scope: enabled, user in an include target (groups transitively) and in no exclude target.
    pub fn policy_includes(&self, cfg: &Value, user_id: &str, need: Option<&str>) -> bool {
        if cfg["state"] != "enabled" {
            return false;
        }
        let included = cfg["includeTargets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| need.is_none_or(|flag| t[flag] != false))
            .any(|t| self.target_matches(user_id, t));
        let excluded = cfg["excludeTargets"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| self.target_matches(user_id, t));
        included && !excluded
    }

    /// The SMS policy allows this user SMS sign-in (FACTS §5).
    pub fn sms_allowed(&self, user_id: &str) -> bool {
        self.configuration("Sms")
            .is_some_and(|c| self.policy_includes(c, user_id, Some("isUsableForSignIn")))
    }

    fn normalized(n: &str) -> String {
        n.chars().filter(|c| !c.is_whitespace()).collect()
    }

    /// `smsSignInState` derived from policy, the method and other users' numbers (FACTS §5).
    pub fn sms_state(&self, user: &User, m: &Method) -> &'static str {
        if m.kind != Kind::Phone || m.phone_type() != "mobile" {
            return "notSupported";
        }
        if !self.sms_allowed(user.id()) {
            return "notAllowedByPolicy";
        }
        let Some(at) = m.sms_enabled_at else {
            return "notEnabled";
        };
        let number = Self::normalized(m.props["phoneNumber"].as_str().unwrap_or_default());
        let earlier = self.users.iter().any(|o| {
            o.id() != user.id()
                && self.sms_allowed(o.id())
                && o.methods.iter().any(|om| {
                    om.kind == Kind::Phone
                        && om.phone_type() == "mobile"
                        && Self::normalized(om.props["phoneNumber"].as_str().unwrap_or_default())
                            == number
                        && om
                            .sms_enabled_at
                            .is_some_and(|t| t < at || (t == at && o.id() < user.id()))
                })
        });
        if earlier {
            "phoneNumberNotUnique"
        } else {
            "ready"
        }
    }

    /// Another user already signs in by SMS with this number.
    pub fn number_taken_for_sms(&self, user_id: &str, number: &str) -> bool {
        let number = Self::normalized(number);
        self.users.iter().filter(|o| o.id() != user_id).any(|o| {
            o.methods.iter().any(|om| {
                om.kind == Kind::Phone
                    && om.phone_type() == "mobile"
                    && Self::normalized(om.props["phoneNumber"].as_str().unwrap_or_default())
                        == number
                    && self.sms_state(o, om) == "ready"
            })
        })
    }

    /// `isUsable` / `methodUsabilityReason` of a pass at `now` (FACTS §3).
    pub fn tap_usability(&self, m: &Method, now: OffsetDateTime) -> (bool, &'static str) {
        let enabled = self
            .configuration("TemporaryAccessPass")
            .is_some_and(|c| c["state"] == "enabled");
        if !enabled {
            return (false, "DisabledByPolicy");
        }
        let start = m
            .props
            .get("startDateTime")
            .and_then(Value::as_str)
            .and_then(clock::parse)
            .unwrap_or(now);
        let lifetime = m
            .props
            .get("lifetimeInMinutes")
            .and_then(Value::as_i64)
            .unwrap_or(60);
        if m.one_time_used {
            return (false, "OneTimeUsed");
        }
        if now < start {
            return (false, "NotYetValid");
        }
        if now >= start + time::Duration::minutes(lifetime) {
            return (false, "Expired");
        }
        (true, "EnabledByPolicy")
    }

    /// A method as Graph shows it: `@odata.type` first, the pass hidden, derived fields filled.
    pub fn render_method(&self, user: &User, m: &Method, reveal_pass: bool) -> Value {
        let mut o = Map::new();
        o.insert("@odata.type".into(), json!(m.kind.odata_type()));
        for (k, v) in &m.props {
            o.insert(k.clone(), v.clone());
        }
        match m.kind {
            Kind::TemporaryAccessPass => {
                let (usable, reason) = self.tap_usability(m, self.now());
                if !reveal_pass {
                    o.insert("temporaryAccessPass".into(), Value::Null);
                }
                o.insert("isUsable".into(), json!(usable));
                o.insert("methodUsabilityReason".into(), json!(reason));
            }
            Kind::Phone => {
                o.insert("smsSignInState".into(), json!(self.sms_state(user, m)));
            }
            Kind::Password => {
                o.insert("password".into(), Value::Null);
            }
            Kind::SoftwareOath => {
                o.insert("secretKey".into(), Value::Null);
            }
            _ => {}
        }
        Value::Object(o)
    }

    /// The beta `userPreferredMethodForSecondaryAuthentication` of the default method (FACTS §4).
    pub fn preferred_secondary(user: &User) -> Value {
        let Some(id) = &user.default_method_id else {
            return Value::Null;
        };
        let Some(m) = user.methods.iter().find(|m| m.id() == id) else {
            return Value::Null;
        };
        let v = match m.kind {
            Kind::MicrosoftAuthenticator => "push",
            Kind::SoftwareOath | Kind::HardwareOath => "oath",
            Kind::Phone => match m.phone_type() {
                "mobile" if user.default_phone_mode_voice => "voiceMobile",
                "mobile" => "sms",
                "alternateMobile" => "voiceAlternateMobile",
                "office" => "voiceOffice",
                _ => "unknownFutureValue",
            },
            _ => return Value::Null,
        };
        json!(v)
    }

    /// A PIM for Groups schedule instance as Graph shows it
    /// (https://learn.microsoft.com/graph/api/resources/privilegedaccessgroupeligibilityscheduleinstance ,
    /// …/privilegedaccessgroupassignmentscheduleinstance). Enum members are lower-case as the
    /// resource pages define them (`direct`, `assigned`); the pages' sample responses show
    /// `Direct`/`Assigned`, so clients should compare these case-insensitively.
    pub fn render_pim_group(&self, p: &PimGroupSchedule, assignment: bool) -> Value {
        let mut v = json!({
            "id": p.id,
            "groupId": p.group_id,
            "principalId": p.principal_id,
            "accessId": p.access_id,
            "memberType": "direct",
            "startDateTime": p.start.map(clock::graph),
            "endDateTime": p.end.map(clock::graph),
        });
        if assignment {
            v["assignmentType"] = json!(p.assignment_type.as_deref().unwrap_or("assigned"));
            v["assignmentScheduleId"] = json!(p.id);
        } else {
            v["eligibilityScheduleId"] = json!(p.id);
        }
        v
    }

    /// A user's methods as a lagging replica shows them: the live list with
    /// recently deleted methods (ghosts) back in their old places.
    pub fn methods_with_ghosts<'a>(&'a self, user: &'a User) -> Vec<&'a Method> {
        let mut out: Vec<&Method> = user.methods.iter().collect();
        for g in self
            .ghosts
            .iter()
            .filter(|g| g.reads_left > 0 && g.user_id.eq_ignore_ascii_case(user.id()))
            .filter(|g| {
                !user
                    .methods
                    .iter()
                    .any(|m| m.id().eq_ignore_ascii_case(g.method.id()))
            })
        {
            out.insert(g.index.min(out.len()), &g.method);
        }
        out
    }

    /// One read has seen these ghosts; drop those that no replica returns any more.
    pub fn ghosts_read(&mut self, user_id: &str, ids: &[String]) {
        for g in self.ghosts.iter_mut().filter(|g| {
            g.user_id.eq_ignore_ascii_case(user_id)
                && ids.iter().any(|i| i.eq_ignore_ascii_case(g.method.id()))
        }) {
            g.reads_left = g.reads_left.saturating_sub(1);
        }
        self.ghosts.retain(|g| g.reads_left > 0);
    }

    /// The test's view of everything (`GET /_sim/state`), passes included.
    pub fn snapshot(&self) -> Value {
        let users: Vec<Value> = self
            .users
            .iter()
            .map(|u| {
                let methods: Vec<Value> = u
                    .methods
                    .iter()
                    .map(|m| {
                        let mut v = self.render_method(u, m, true);
                        v["smsSignInEnabledDateTime"] =
                            json!(m.sms_enabled_at.map(clock::graph));
                        if m.kind == Kind::TemporaryAccessPass {
                            v["oneTimeUsed"] = json!(m.one_time_used);
                        }
                        v
                    })
                    .collect();
                json!({
                    "id": u.id(),
                    "userPrincipalName": u.upn(),
                    "properties": u.props,
                    "manager": u.manager,
                    "mailbox": u.mailbox,
                    "defaultMethodId": u.default_method_id,
                    "userPreferredMethodForSecondaryAuthentication": Self::preferred_secondary(u),
                    "systemPreferredAuthenticationMethodEnabled": u.system_preferred_enabled,
                    "signInPreferencesUnreadable": u.sign_in_preferences_unreadable,
                    "signInSessionsValidFromDateTime": u.props.get("signInSessionsValidFromDateTime"),
                    "methods": methods,
                    "temporaryAccessPass": u.methods.iter().find(|m| m.kind == Kind::TemporaryAccessPass).map(|m| self.render_method(u, m, true)),
                })
            })
            .collect();
        json!({
            "now": clock::graph(self.now()),
            "clockOffsetSeconds": self.clock.offset_secs(),
            "seededAt": clock::graph(self.seeded_at),
            "baseUrl": self.base_url,
            "tenant": {
                "id": self.tenant.id,
                "displayName": self.tenant.display_name,
                "verifiedDomains": self.tenant.verified_domains,
                "premium": self.tenant.premium,
                "premiumP2": self.tenant.premium_p2,
                "signInRetentionDays": self.tenant.sign_in_retention_days,
            },
            "quirks": self.quirks.to_json(),
            "ghostMethods": self.ghosts.iter().map(|g| json!({
                "userId": g.user_id,
                "id": g.method.id(),
                "@odata.type": g.method.kind.odata_type(),
                "readsLeft": g.reads_left,
            })).collect::<Vec<_>>(),
            "apps": self.apps.iter().map(|a| json!({
                "clientId": a.client_id,
                "servicePrincipalId": a.service_principal_id,
                "displayName": a.display_name,
                "permissions": a.permissions,
                "tokenLifetimeSeconds": a.token_lifetime_seconds,
            })).collect::<Vec<_>>(),
            "users": users,
            "groups": self.groups.iter().map(|g| {
                let mut v = Value::Object(g.props.clone());
                v["members"] = json!(g.members);
                v["owners"] = json!(g.owners);
                v
            }).collect::<Vec<_>>(),
            "roleDefinitions": self.role_definitions.iter().map(|d| {
                let mut v = Value::Object(d.props.clone());
                v["directoryRoleId"] = json!(d.directory_role_id);
                v
            }).collect::<Vec<_>>(),
            "roleAssignments": self.role_assignments,
            "roleEligibilitySchedules": self.role_eligibility_schedules,
            "pimGroupEligibilities": self.pim_group_eligibilities.iter().map(|p| self.render_pim_group(p, false)).collect::<Vec<_>>(),
            "pimGroupAssignments": self.pim_group_assignments.iter().map(|p| self.render_pim_group(p, true)).collect::<Vec<_>>(),
            "authenticationMethodsPolicy": {
                "policy": self.policy,
                "configurations": self.configurations,
            },
            "signInCount": self.sign_ins.len(),
            "signIns": self.sign_ins,
            "sentMail": self.sent_mail,
            "faults": self.faults,
            "activeTokens": self.tokens.values().filter(|t| t.expires_at > self.now()).count(),
            "requestCount": self.log.len(),
        })
    }
}

/// Without `$select` Graph returns only this set (FACTS §2).
pub const DEFAULT_USER_PROPS: [&str; 11] = [
    "businessPhones",
    "displayName",
    "givenName",
    "id",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
];

pub fn render_user(u: &User, select: Option<&[String]>) -> Value {
    let mut o = Map::new();
    let pick = |o: &mut Map<String, Value>, k: &str| {
        let v = u.props.get(k).cloned().unwrap_or(match k {
            "businessPhones" | "otherMails" | "proxyAddresses" | "imAddresses" => json!([]),
            _ => Value::Null,
        });
        o.insert(k.to_string(), v);
    };
    match select {
        Some(sel) => sel.iter().for_each(|k| pick(&mut o, k)),
        None => DEFAULT_USER_PROPS.iter().for_each(|k| pick(&mut o, k)),
    }
    Value::Object(o)
}
