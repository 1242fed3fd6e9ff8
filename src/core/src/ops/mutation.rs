// `Refusal` carries a whole problem+json body; it is built once per request,
// so its size does not matter.
#![allow(clippy::result_large_err)]

//! The pipeline every mutating operation runs through, written once:
//! parse -> authorize -> act -> respond, with one audit record per attempt.
//!
//! 1. body size (413); caller from bearer key or signed webhook (401);
//!    scope (403); per-caller rate limit (429);
//! 2. media type (415) and JSON into the operation's input (400);
//!    ticket and verification requirements (400);
//! 3. `Idempotency-Key` claim: replay a stored outcome, 409 while in
//!    flight, 422 on a different body;
//! 4. the operation's `act` (Graph through [`GraphClient`]);
//! 5. the audit record (refused and failed attempts included), the stored
//!    outcome for retries (never a pass), the answer.

use http::header::{HeaderValue, CACHE_CONTROL};
use http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::api::idempotency::{self, Claim, StoredOutcome};
use crate::api::response::{self, Response};
use crate::api::{input, ErrorCode, Problem, RequestId};
use crate::audit::{self, AuditEntry, Outcome};
use crate::auth::{self, rate_limit, Caller, CredentialKind};
use crate::config::{Config, MutatingOperation, NotifyRecipient, VerificationRequirement};
use crate::graph::client::DEFAULT_BUDGET;
use crate::graph::licences::Licences;
use crate::graph::permissions::Need;
use crate::graph::privileged::{self, ProtectionReason};
use crate::graph::users::{self, DirectoryUser, UserSummary};
use crate::graph::{mail, BatchRequest, GraphClient, GraphError, GraphResponse};
use crate::notify::{self, Audience, Notice};
use crate::ports::Host;
use crate::service::{Body, Request};
use crate::types::{IdempotencyKey, Reason, Scope, Ticket, UserRef, Verification};

/// The fields every mutation input has (API.md "Mutations").
pub trait MutationInput {
    fn user(&self) -> &UserRef;
    fn ticket(&self) -> Option<&Ticket>;
    fn reason(&self) -> Option<&Reason>;
    fn verification(&self) -> Option<&Verification>;
}

/// Implements [`MutationInput`] for an input type with the common members
/// (`user`, `ticket`, `reason`, `verification`).
macro_rules! mutation_input {
    ($t:ty) => {
        impl $crate::ops::mutation::MutationInput for $t {
            fn user(&self) -> &$crate::types::UserRef {
                &self.user
            }
            fn ticket(&self) -> Option<&$crate::types::Ticket> {
                self.ticket.as_ref()
            }
            fn reason(&self) -> Option<&$crate::types::Reason> {
                self.reason.as_ref()
            }
            fn verification(&self) -> Option<&$crate::types::Verification> {
                self.verification.as_ref()
            }
        }
    };
}
pub(crate) use mutation_input;

/// One mutating operation: its input, scope and action.
pub trait Operation {
    type Input: DeserializeOwned + MutationInput;
    const OPERATION: MutatingOperation;
    const SCOPE: Scope;
    #[allow(async_fn_in_trait)]
    async fn act(cx: &Context<'_>, input: Self::Input) -> Result<Done, Refusal>;
}

/// A change made (or, for a dry run, described).
pub struct Done {
    pub status: StatusCode,
    pub body: Value,
    /// What a retry is answered with: `body` without anything secret.
    pub replay_body: Value,
    pub user: Option<UserSummary>,
    /// What the audit record says happened.
    pub details: Value,
    /// The body holds a pass.
    pub no_store: bool,
    /// What to tell the user out of band, for a change that happened
    /// (`None` for a dry run or nothing changed).
    pub notice: Option<Notice>,
}

/// An attempt that stopped: refused by a rule (4xx) or failed upstream.
#[derive(Debug)]
pub struct Refusal {
    pub problem: Problem,
    pub user: Option<UserSummary>,
    /// What had already changed when it stopped (API.md: a throttled answer
    /// says exactly what was and was not changed).
    pub changed: Option<String>,
    /// What the audit record keeps beyond the problem's detail.
    pub details: Option<Value>,
}

impl Refusal {
    pub fn refused(problem: Problem) -> Refusal {
        Refusal {
            problem,
            user: None,
            changed: None,
            details: None,
        }
    }

    pub fn graph(e: GraphError) -> Refusal {
        Refusal::refused(e.to_problem())
    }

    /// Names the user the refusal is about, for the audit record.
    pub fn about(mut self, user: &Option<UserSummary>) -> Refusal {
        if self.user.is_none() {
            self.user = user.clone();
        }
        self
    }

    pub fn changed(mut self, what: &str) -> Refusal {
        self.changed = Some(what.to_string());
        self
    }

    pub fn details(mut self, details: Value) -> Refusal {
        self.details = Some(details);
        self
    }
}

impl From<Problem> for Refusal {
    fn from(p: Problem) -> Refusal {
        Refusal::refused(p)
    }
}

/// The user an operation changes, once the common guards let it through.
pub struct Target {
    pub user: DirectoryUser,
    /// Groups and roles the user is in (transitively): id, name.
    pub memberships: Vec<(String, String)>,
    /// Why the user is protected; empty for an ordinary user.
    pub protection: Vec<ProtectionReason>,
    /// Whom a notice of the change would reach (`None`: `notify` unset).
    pub audience: Option<Audience>,
}

impl Target {
    pub fn id(&self) -> &str {
        &self.user.summary.id
    }

    /// For [`Refusal::about`] and [`Done::user`].
    pub fn summary(&self) -> Option<UserSummary> {
        Some(self.user.summary.clone())
    }

    pub fn is_protected(&self) -> bool {
        !self.protection.is_empty()
    }

    /// The notice of `change` (one sentence, no secret), when notices are on.
    pub fn notice(&self, change: String) -> Option<Notice> {
        Some(Notice {
            audience: self.audience.clone()?,
            user: self.user.summary.clone(),
            change,
        })
    }
}

/// What an operation may use while it acts.
pub struct Context<'a> {
    pub host: &'a Host<'a>,
    pub config: &'a Config,
    pub caller: &'a Caller,
    pub graph: &'a GraphClient<'a>,
    pub operation: MutatingOperation,
}

impl Context<'_> {
    pub fn now_unix(&self) -> u64 {
        unix(self.host)
    }

    /// Reads the user and their memberships in one `$batch` with the
    /// operation's own `reads`, then applies the guards every mutation
    /// shares: unknown (404) and disabled (409) users, protected users
    /// without the `privileged` scope (403), and verification evidence for
    /// protected users where the deployment asks for it. Nothing is written.
    pub async fn target<const N: usize>(
        &self,
        asked: &UserRef,
        verification: Option<&Verification>,
        reads: [BatchRequest; N],
    ) -> Result<(Target, [GraphResponse; N]), Refusal> {
        let mut requests = vec![users::get_user(asked), users::get_memberships(asked)];
        // The manager is read with everything else, so a notice costs no
        // extra round trip before the change.
        let notify = self.config.notify.as_ref();
        let read_manager = notify.is_some_and(|n| n.recipients.contains(&NotifyRecipient::Manager));
        if read_manager {
            requests.push(mail::manager_request(asked));
        }
        requests.extend(reads);
        let mut answers = self
            .graph
            .batch(&requests)
            .await
            .map_err(Refusal::graph)?
            .into_iter();
        let (Some(user), Some(memberships)) = (answers.next(), answers.next()) else {
            return Err(Refusal::graph(GraphError::Malformed("short $batch".into())));
        };
        let manager = if read_manager { answers.next() } else { None };
        let rest: [GraphResponse; N] = answers
            .collect::<Vec<_>>()
            .try_into()
            .map_err(|_| Refusal::graph(GraphError::Malformed("short $batch".into())))?;

        let user = self.resolve_user(asked, user)?;
        let summary = Some(user.summary.clone());
        let memberships = users::all_memberships(self.graph, memberships)
            .await
            .map_err(|e| Refusal::graph(e).about(&summary))?;
        let holders = privileged::role_holders(self.graph, self.host, self.now_unix())
            .await
            .map_err(|e| Refusal::graph(e).about(&summary))?;
        let protection = privileged::reasons(&user, &memberships, &holders, self.config);
        self.guard_protected(&protection)
            .map_err(|r| r.about(&summary))?;
        self.require_verification(!protection.is_empty(), verification)
            .map_err(|r| r.about(&summary))?;
        let audience = notify.map(|n| Audience::of(n, &user, manager.as_ref()));
        Ok((
            Target {
                user,
                memberships,
                protection,
                audience,
            },
            rest,
        ))
    }

    /// The contract's answers for an unknown or disabled user.
    fn resolve_user(&self, asked: &UserRef, res: GraphResponse) -> Result<DirectoryUser, Refusal> {
        let user = users::parse_user(res)
            .map_err(Refusal::graph)?
            .ok_or_else(|| {
                Refusal::refused(Problem::new(
                    ErrorCode::UserNotFound,
                    format!("no user {asked} in the tenant"),
                ))
            })?;
        if !user.account_enabled {
            return Err(Refusal::refused(Problem::new(
                ErrorCode::UserDisabled,
                "the account is disabled: no MFA change will let this user sign in; re-enable it first",
            ))
            .about(&Some(user.summary.clone())));
        }
        Ok(user)
    }

    /// Protected users need the `privileged` scope; refused before any write.
    ///
    /// Only a privileged caller may learn why a user is protected (API.md
    /// "Configuration"), and a privileged caller is never refused here: the
    /// answer names no role or group, so a helpdesk key cannot enumerate
    /// the tenant's administrators. The audit record keeps the reasons, for
    /// `/v1/audit` readers.
    fn guard_protected(&self, reasons: &[ProtectionReason]) -> Result<(), Refusal> {
        if reasons.is_empty() || self.caller.has(Scope::Privileged) {
            return Ok(());
        }
        Err(Refusal::refused(Problem::new(
            ErrorCode::ProtectedUser,
            "the user is protected; only a caller with the privileged scope may change them",
        ))
        .details(json!({ "reasons": reasons })))
    }

    /// `require_verification = protected` can only be judged once the user
    /// is resolved.
    fn require_verification(
        &self,
        protected: bool,
        given: Option<&Verification>,
    ) -> Result<(), Refusal> {
        if protected
            && given.is_none()
            && self.config.require_verification == VerificationRequirement::Protected
        {
            return Err(verification_required());
        }
        Ok(())
    }

    /// The per-target limit (passes, resets, phones per user per 24 h).
    pub fn limit_target(&self, target: rate_limit::Target, user_id: &str) -> Result<(), Refusal> {
        rate_limit::check_target(
            self.host.kv,
            self.now_unix(),
            &self.config.rate_limits,
            target,
            user_id,
        )
        .map_err(|e| Refusal::refused(e.to_problem()))
    }
}

fn verification_required() -> Refusal {
    Refusal::refused(
        Problem::field(
            ErrorCode::VerificationRequired,
            "verification",
            "this deployment requires `verification`: how the helpdesk confirmed the caller is the user",
        ),
    )
}

fn unix(host: &Host<'_>) -> u64 {
    crate::types::unix_secs(host.clock.now())
}

/// What the audit record is built from, filled in as the pipeline learns it.
struct Draft {
    caller: String,
    user: Option<Value>,
    ticket: Option<String>,
    reason: Option<String>,
    verification: Option<Value>,
}

// One per request: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Answer {
    Done(Done),
    Replay(StoredOutcome),
}

/// Runs operation `O` for one request.
pub async fn run<O: Operation>(
    req: &Request,
    host: &Host<'_>,
    request_id: &RequestId,
) -> Result<Response, Problem> {
    let config = Config::load(host.variables).map_err(super::meta::misconfigured)?;
    let mut draft = Draft {
        caller: "unauthenticated".into(),
        user: None,
        ticket: None,
        reason: None,
        verification: None,
    };
    let mut caller_seen: Option<Caller> = None;
    let mut claim_token = None;
    let graph = GraphClient::new(host, &config, request_id, DEFAULT_BUDGET);
    let result = pipeline::<O>(
        req,
        host,
        &config,
        &graph,
        &mut draft,
        &mut caller_seen,
        &mut claim_token,
    )
    .await;

    let (status, code, outcome, user, details) = match &result {
        Ok(Answer::Done(d)) => (
            d.status.as_u16(),
            None,
            if d.body.get("dryRun") == Some(&Value::Bool(true)) {
                Outcome::DryRun
            } else {
                Outcome::Succeeded
            },
            d.user.as_ref().map(|u| json!(u)),
            d.details.clone(),
        ),
        Ok(Answer::Replay(o)) => (
            o.status,
            o.body
                .get("code")
                .and_then(Value::as_str)
                .map(str::to_string),
            if o.status < 400 {
                Outcome::Succeeded
            } else {
                Outcome::Refused
            },
            o.body.get("user").cloned(),
            json!({ "idempotentReplay": true, "originalAuditId": o.body.get("auditId") }),
        ),
        Err(r) => (
            r.problem.code.status().as_u16(),
            Some(r.problem.code.as_str().to_string()),
            if r.problem.code.status().is_server_error() {
                Outcome::Failed
            } else {
                Outcome::Refused
            },
            r.user.as_ref().map(|u| json!(u)),
            {
                let mut d = json!({ "detail": r.problem.detail, "changed": r.changed });
                if let Some(more) = &r.details {
                    d["result"] = more.clone();
                }
                d
            },
        ),
    };
    let succeeded = outcome == Outcome::Succeeded;
    let entry = AuditEntry {
        caller: draft.caller.clone(),
        operation: O::OPERATION.as_str().to_string(),
        user: user.or(draft.user.clone()),
        ticket: draft.ticket.clone(),
        reason: draft.reason.clone(),
        outcome,
        status,
        code,
        details,
        request_id: request_id.as_str().to_string(),
        verification: draft.verification.clone(),
    };
    let audit_id = audit::append(host.db, host.clock, host.entropy, entry)
        .ok()
        .map(|r| r.audit_id);

    match result {
        Ok(Answer::Replay(o)) => {
            let mut res = response::json(
                StatusCode::from_u16(o.status).unwrap_or(StatusCode::OK),
                &o.body,
            );
            res.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(res)
        }
        Ok(Answer::Done(mut d)) => {
            let id = Value::from(audit_id.clone());
            d.body["auditId"] = id.clone();
            d.replay_body["auditId"] = id;
            if audit_id.is_none() {
                push_warning(&mut d.body, "the audit record could not be written");
            }
            // After the change and its record, before the stored outcome:
            // a retry waits (409) or replays, and never sends a second one.
            if let (true, Some(n), Some(c)) = (succeeded, &d.notice, &config.notify) {
                let pattern = config.ticket_pattern.as_ref();
                let sent = notice(
                    host,
                    &graph,
                    c,
                    pattern,
                    n,
                    &draft,
                    request_id,
                    audit_id.as_deref(),
                )
                .await;
                for body in [&mut d.body, &mut d.replay_body] {
                    body["notified"] = json!(sent.notified);
                    for w in &sent.warnings {
                        push_warning(body, w);
                    }
                }
            }
            if let Some(token) = claim_token {
                let stored = StoredOutcome {
                    status: d.status.as_u16(),
                    body: d.replay_body.clone(),
                    headers: vec![],
                };
                let _ = idempotency::complete(host.kv, token, unix(host), stored);
            }
            let mut res = response::json(d.status, &d.body);
            if d.no_store {
                res.headers_mut()
                    .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            }
            Ok(res)
        }
        Err(r) => {
            let mut p = r.problem;
            if let Some(id) = audit_id {
                p = p.with("auditId", id);
            }
            if p.code.status().is_server_error() || p.code == ErrorCode::RateLimited {
                p = p.with(
                    "changed",
                    r.changed.unwrap_or_else(|| "nothing was changed".into()),
                );
            }
            // A 5xx or a 429 changed nothing for good: a retry (after
            // `Retry-After`) does the work rather than replaying the refusal.
            let retryable = p.code.status().is_server_error() || p.code == ErrorCode::RateLimited;
            if let Some(token) = claim_token {
                if retryable {
                    let _ = idempotency::release(host.kv, token);
                } else {
                    let stored = StoredOutcome {
                        status: p.code.status().as_u16(),
                        body: p.body(),
                        headers: vec![],
                    };
                    let _ = idempotency::complete(host.kv, token, unix(host), stored);
                }
            }
            // A webhook we failed or deferred must be deliverable again
            // (same webhook-id).
            if retryable {
                if let Some(Caller {
                    id,
                    credential: CredentialKind::Webhook { webhook_id },
                    ..
                }) = &caller_seen
                {
                    let _ = auth::webhook::release(host.kv, id, webhook_id);
                }
            }
            Err(p)
        }
    }
}

/// Sends the notice and records it as its own audit record (operation
/// `notify`, same request id).
// The request's facts, passed as they are rather than bundled for one call.
#[allow(clippy::too_many_arguments)]
async fn notice(
    host: &Host<'_>,
    graph: &GraphClient<'_>,
    config: &crate::config::NotifyConfig,
    ticket_pattern: Option<&crate::config::TicketPattern>,
    n: &Notice,
    draft: &Draft,
    request_id: &RequestId,
    audit_id: Option<&str>,
) -> notify::Sent {
    let time = crate::types::rfc3339(host.clock.now());
    // The ticket is caller-supplied text: it goes into mail only when
    // `ticket_pattern` vouches for its shape (API.md "Mutations").
    let ticket = draft
        .ticket
        .as_deref()
        .filter(|t| ticket_pattern.is_some_and(|p| p.matches(t)));
    let cx = notify::Context {
        time: &time,
        ticket,
        audit_id,
    };
    let sent = notify::send(graph, config, n, &cx).await;
    let entry = AuditEntry {
        caller: draft.caller.clone(),
        operation: "notify".into(),
        user: Some(json!(n.user)),
        ticket: draft.ticket.clone(),
        reason: draft.reason.clone(),
        outcome: if sent.notified.is_empty() {
            Outcome::Failed
        } else {
            Outcome::Succeeded
        },
        status: if sent.notified.is_empty() { 502 } else { 202 },
        code: None,
        details: sent.details.clone(),
        request_id: request_id.as_str().to_string(),
        verification: None,
    };
    if audit::append(host.db, host.clock, host.entropy, entry).is_err() {
        let mut sent = sent;
        sent.warnings
            .push("the notice's audit record could not be written".into());
        return sent;
    }
    sent
}

/// A `user` that is neither a UPN nor an object id has its own contract
/// code (API.md "Common rules").
fn invalid_user(mut p: Problem) -> Problem {
    if p.code == ErrorCode::InvalidRequest
        && p.extensions.get("field") == Some(&Value::from("user"))
        && p.detail.contains("neither")
    {
        p.code = ErrorCode::InvalidUser;
    }
    p
}

fn push_warning(body: &mut Value, warning: &str) {
    if let Some(w) = body.get_mut("warnings").and_then(Value::as_array_mut) {
        w.push(Value::from(warning));
    }
}

async fn pipeline<O: Operation>(
    req: &Request,
    host: &Host<'_>,
    config: &Config,
    graph: &GraphClient<'_>,
    draft: &mut Draft,
    caller_seen: &mut Option<Caller>,
    claim_token: &mut Option<idempotency::ClaimToken>,
) -> Result<Answer, Refusal> {
    let raw: &[u8] = match req.body() {
        Body::TooLarge => {
            return Err(Problem::new(
                ErrorCode::PayloadTooLarge,
                "the request body is over 65536 bytes",
            )
            .into())
        }
        Body::Complete(b) => b,
    };
    let caller = super::access::admit(config, req, raw, host, O::SCOPE).map_err(|d| {
        if let Some(c) = d.caller {
            draft.caller = c.id.clone();
            *caller_seen = Some(c);
        }
        Refusal::refused(d.problem)
    })?;
    draft.caller = caller.id.clone();
    *caller_seen = Some(caller.clone());

    let input: O::Input = input::json_body(req).map_err(invalid_user)?;
    draft.user = Some(json!({ "ref": input.user().as_str() }));
    draft.ticket = input.ticket().map(|t| t.as_str().to_string());
    draft.reason = input.reason().map(|r| r.as_str().to_string());
    draft.verification = input.verification().map(|v| json!(v));
    if config.require_ticket && input.ticket().is_none() {
        return Err(Problem::field(
            ErrorCode::InvalidRequest,
            "ticket",
            "`ticket`: a ticket is required for every change",
        )
        .into());
    }
    if let (Some(pattern), Some(ticket)) = (&config.ticket_pattern, input.ticket()) {
        if !pattern.matches(ticket.as_str()) {
            return Err(Problem::field(
                ErrorCode::InvalidRequest,
                "ticket",
                "`ticket` does not match this deployment's ticket pattern (`ticket_pattern`)",
            )
            .into());
        }
    }
    let must_verify = match &config.require_verification {
        VerificationRequirement::All => true,
        VerificationRequirement::Operations(ops) => ops.contains(&O::OPERATION),
        VerificationRequirement::None | VerificationRequirement::Protected => false,
    };
    if must_verify && input.verification().is_none() {
        return Err(verification_required());
    }

    if let Some(header) = req.headers().get(idempotency::HEADER) {
        let key = header
            .to_str()
            .ok()
            .and_then(|s| IdempotencyKey::parse(s).ok())
            .ok_or_else(|| {
                Refusal::from(Problem::field(
                    ErrorCode::InvalidRequest,
                    "Idempotency-Key",
                    "`Idempotency-Key` must be 1..255 printable ASCII characters",
                ))
            })?;
        match idempotency::claim(host.kv, host.entropy, unix(host), &caller.id, &key, raw)? {
            Claim::Replay(outcome) => return Ok(Answer::Replay(outcome)),
            Claim::Fresh(token) => *claim_token = Some(token),
        }
    }

    // Before Graph is asked anything: a per-user limit of 0, which no user
    // can pass, and the caller's cap on changes (a leaked key cannot take
    // over a tenant overnight). Replays above were not counted.
    let now = unix(host);
    let refused = |e: rate_limit::LimitError| Refusal::refused(e.to_problem());
    if let Some(none) =
        rate_limit::per_target(&config.rate_limits, O::OPERATION.into()).filter(|l| l.max == 0)
    {
        rate_limit::check(host.kv, now, &none, "").map_err(refused)?;
    }
    rate_limit::check_caller_mutations(host.kv, now, &config.rate_limits, &caller)
        .map_err(refused)?;

    require_permissions(host, graph, O::OPERATION).await?;
    let cx = Context {
        host,
        config,
        caller: &caller,
        graph,
        operation: O::OPERATION,
    };
    O::act(&cx, input).await.map(Answer::Done)
}

/// Refuses an operation whose Graph permissions the app's token does not
/// carry (`500 permission_missing`, naming them), before any Graph call
/// that could change something. A token that does not say (not a JWT) is
/// let through: Graph's own 403 then names the permission.
async fn require_permissions(
    host: &Host<'_>,
    graph: &GraphClient<'_>,
    op: MutatingOperation,
) -> Result<(), Refusal> {
    let Some(granted) = graph.granted().await.map_err(Refusal::graph)? else {
        return Ok(());
    };
    let p2 = Licences::load(host.kv, unix(host)).p2;
    let missing = Need::from(op).missing(&granted, p2);
    let Some(first) = missing.first() else {
        return Ok(());
    };
    Err(Refusal::refused(
        Problem::new(
            ErrorCode::PermissionMissing,
            format!(
                "the app registration lacks the Graph application permission{} {}: grant {} with admin consent; nothing was changed",
                if missing.len() > 1 { "s" } else { "" },
                missing.join(", "),
                if missing.len() > 1 { "them" } else { "it" },
            ),
        )
        .with("permission", *first)
        .with("missing", json!(missing)),
    ))
}
