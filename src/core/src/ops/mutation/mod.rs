// `Refusal` carries a whole problem+json body; it is built once per request,
// so its size does not matter.
#![allow(clippy::result_large_err)]

//! The pipeline every mutating operation runs through, written once:
//! parse -> authorize -> act -> respond, one [`Attempt`] flowing through
//! three steps.
//!
//! 1. [`admission`]: size, caller, scope, caller limits, body, ticket,
//!    verification, the idempotency or delivery claim; nothing asked of
//!    Graph yet.
//! 2. The attempt's audit record is written (API.md "Mutations": before the
//!    first Graph call; if it cannot be, nothing is changed:
//!    `503 audit_unavailable`), then the [`guards`] (permissions, the
//!    target user) and the operation's `act`.
//! 3. [`settlement`]: the record completed, the notice, the stored outcome
//!    or the released claim, the answer.

mod admission;
mod guards;
mod settlement;

use http::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::api::endpoints::MutatingOperation;
use crate::api::request::Request;
use crate::api::response::Response;
use crate::api::{ErrorCode, Problem, RequestId};
use crate::audit::{AuditEntry, Outcome, Trail};
use crate::auth::Caller;
use crate::config::Config;
use crate::graph::client::DEFAULT_BUDGET;
use crate::graph::users::UserSummary;
use crate::graph::{GraphClient, GraphError};
use crate::notify::Notice;
use crate::ports::Host;
use crate::store::idempotency::ClaimToken;
use crate::types::{Reason, Ticket, UserRef, Verification};

use admission::Admission;
pub use guards::{Context, TargetUser};
use settlement::{Ended, Settlement};

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

/// One mutating operation: its input, its answer and its action; its
/// scope, endpoint and limits follow from [`Operation::OPERATION`].
pub trait Operation {
    type Input: DeserializeOwned + MutationInput;
    type Answer: Answer;
    const OPERATION: MutatingOperation;
    #[allow(async_fn_in_trait)]
    async fn act(cx: &Context<'_>, input: Self::Input) -> Result<Done<Self::Answer>, Refusal>;
}

/// What an operation answers for a change made (or, for a dry run,
/// described): the body's members, typed. The pipeline adds `auditId`,
/// `notified` and its own warnings; what a retry is answered with, whether
/// the answer may be kept, how the attempt is audited and what the audit
/// record keeps are all derived from it here.
pub trait Answer: Serialize {
    /// A dry run describes a change without making it.
    fn is_dry_run(&self) -> bool {
        false
    }
    /// The answer holds a secret (a pass): `Cache-Control: no-store`, and
    /// [`Answer::replay`] must leave it out.
    fn holds_secret(&self) -> bool {
        false
    }
    /// What a retry is answered with: the answer without anything secret.
    fn replay(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
    /// What the audit record keeps of the change (never a secret).
    fn audit(&self) -> Value;
}

/// A change made (or, for a dry run, described).
pub struct Done<A> {
    pub status: StatusCode,
    pub answer: A,
    pub user: Option<UserSummary>,
    /// What to tell the user out of band, for a change that happened
    /// (`None` for a dry run or nothing changed).
    pub notice: Option<Notice>,
}

/// A change as settlement handles it, whatever the operation: the views
/// of its answer, derived once.
pub struct Made {
    status: StatusCode,
    body: Value,
    replay_body: Value,
    dry_run: bool,
    no_store: bool,
    details: Value,
    user: Option<UserSummary>,
    notice: Option<Notice>,
}

impl<A: Answer> From<Done<A>> for Made {
    fn from(d: Done<A>) -> Made {
        Made {
            status: d.status,
            body: serde_json::to_value(&d.answer).unwrap_or_default(),
            replay_body: d.answer.replay(),
            dry_run: d.answer.is_dry_run(),
            no_store: d.answer.holds_secret(),
            details: d.answer.audit(),
            user: d.user,
            notice: d.notice,
        }
    }
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

/// Graph's answer to an operation's request, as the contract reports it.
impl From<GraphError> for Refusal {
    fn from(e: GraphError) -> Refusal {
        Refusal::refused(e.into())
    }
}

impl From<crate::auth::rate_limit::LimitError> for Refusal {
    fn from(e: crate::auth::rate_limit::LimitError) -> Refusal {
        Refusal::refused(e.into())
    }
}

/// One mutation request from the moment its caller is known: what it
/// asked, what it holds (a claim, a begun audit record), and whom for.
pub struct Attempt {
    operation: MutatingOperation,
    request_id: String,
    caller: Caller,
    facts: Facts,
    /// The idempotency or delivery claim this request won.
    claim: Option<ClaimToken>,
    /// The audit id of the attempt's record, once begun.
    record: Option<String>,
}

/// What the caller asked, as the audit record keeps it.
#[derive(Default)]
struct Facts {
    /// `{ "ref": … }` as given, until the user is resolved.
    user: Option<Value>,
    ticket: Option<String>,
    reason: Option<String>,
    verification: Option<Value>,
}

impl Attempt {
    fn new(operation: MutatingOperation, request_id: &RequestId, caller: Caller) -> Attempt {
        Attempt {
            operation,
            request_id: request_id.as_str().to_string(),
            caller,
            facts: Facts::default(),
            claim: None,
            record: None,
        }
    }

    /// An audit entry of this attempt's facts, for `operation`; the outcome
    /// is filled in by whoever knows it.
    fn entry(&self, operation: &str) -> AuditEntry {
        AuditEntry {
            caller: self.caller.id.clone(),
            operation: operation.to_string(),
            user: self.facts.user.clone(),
            ticket: self.facts.ticket.clone(),
            reason: self.facts.reason.clone(),
            outcome: Outcome::Pending,
            status: 0,
            code: None,
            details: json!({}),
            request_id: self.request_id.clone(),
            verification: self.facts.verification.clone(),
            operator: self.caller.operator.clone(),
        }
    }

    /// Writes the attempt's record before Graph is asked anything.
    fn begin(&mut self, trail: &Trail<'_>) -> Result<(), Refusal> {
        let entry = self.entry(self.operation.as_str());
        let id = trail.begin(entry).map_err(|_| {
            Refusal::refused(
                Problem::new(
                    ErrorCode::AuditUnavailable,
                    "the audit trail cannot be written, so nothing was changed; retry later",
                )
                .header(http::header::RETRY_AFTER, "5"),
            )
        })?;
        self.record = Some(id);
        Ok(())
    }
}

/// Runs operation `O` for one request.
pub async fn run<O: Operation>(
    req: &Request,
    host: &Host<'_>,
    request_id: &RequestId,
) -> Result<Response, Problem> {
    let config = Config::load(host.variables)?;
    let graph = GraphClient::new(host, &config, request_id, DEFAULT_BUDGET);
    let trail = Trail::new(host, &config);
    let settlement = Settlement {
        host,
        config: &config,
        graph: &graph,
        trail: &trail,
    };
    let (mut attempt, input) = match admission::admit::<O>(req, host, &config, request_id).await {
        Admission::Admitted(attempt, input) => (attempt, input),
        Admission::Anonymous(problem) => return Err(problem),
        Admission::Refused(attempt, r) => {
            return settlement.settle(attempt, Ended::Refused(r)).await
        }
        Admission::Replay(attempt, o) => return settlement.settle(attempt, Ended::Replay(o)).await,
    };
    if let Err(r) = attempt.begin(&trail) {
        return settlement.settle(attempt, Ended::Refused(r)).await;
    }
    let ended = match guards::require_permissions(host, &graph, O::OPERATION).await {
        Err(r) => Ended::Refused(r),
        Ok(()) => {
            let cx = Context {
                host,
                config: &config,
                caller: &attempt.caller,
                graph: &graph,
                operation: O::OPERATION,
            };
            match O::act(&cx, input).await {
                Ok(done) => Ended::Done(done.into()),
                Err(r) => Ended::Refused(r),
            }
        }
    };
    settlement.settle(attempt, ended).await
}

#[cfg(test)]
mod tests;
