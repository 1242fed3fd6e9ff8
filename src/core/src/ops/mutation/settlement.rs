//! Settlement: how an attempt ends, in the order that keeps its promises.
//!
//! 1. The audit record: the attempt's own record completed (or, for a
//!    request refused before it began, one finished record).
//! 2. For a change that happened: the notice, after its record and before
//!    the stored outcome, so a concurrent retry waits (409) or replays and
//!    never sends a second one.
//! 3. The claim: the outcome stored for retries (never a pass), or, for a
//!    failure a retry could fix (a 5xx, a 429), released so the retry does
//!    the work; a webhook delivery's claim is its `webhook-id`, so this is
//!    also what lets a sender's redelivery in.
//! 4. The answer.

use http::header::{HeaderValue, CACHE_CONTROL};
use http::StatusCode;
use serde_json::{json, Value};

use super::{Attempt, Made, Refusal};
use crate::api::response::{self, Response};
use crate::api::{ErrorCode, Problem};
use crate::audit::{AuditEntry, Outcome, Trail};
use crate::config::{Config, NotifyConfig};
use crate::graph::GraphClient;
use crate::notify::{self, Notice};
use crate::ports::Host;
use crate::store::idempotency::{self, StoredOutcome};
use crate::store::sealed::Sealed;

/// How the attempt ended, before settlement.
// One per request: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Ended {
    Done(Made),
    Refused(Refusal),
    Replay(StoredOutcome),
}

/// What settlement needs of the request's world.
pub struct Settlement<'a> {
    pub host: &'a Host<'a>,
    pub config: &'a Config,
    pub graph: &'a GraphClient<'a>,
    pub trail: &'a Trail<'a>,
}

/// Where the attempt's audit record stands.
struct Recorded {
    /// The record's id, when there is one.
    id: Option<String>,
    /// Whether it says how the attempt ended (a journaled attempt whose
    /// record could not be appended is left unfinished).
    complete: bool,
}

impl Settlement<'_> {
    pub async fn settle(&self, attempt: Attempt, ended: Ended) -> Result<Response, Problem> {
        let recorded = self.record(&attempt, &ended);
        match ended {
            Ended::Replay(o) => Ok(replay(o)),
            Ended::Done(d) => Ok(self.done(attempt, d, recorded).await),
            Ended::Refused(r) => Err(self.refused(attempt, r, recorded)),
        }
    }

    fn record(&self, attempt: &Attempt, ended: &Ended) -> Recorded {
        if let Ended::Refused(r) = ended {
            if r.problem.code == ErrorCode::AuditUnavailable {
                return Recorded {
                    id: None,
                    complete: false,
                };
            }
        }
        let entry = entry_of(attempt, ended);
        match &attempt.record {
            Some(id) => Recorded {
                complete: self.trail.complete(id, entry).is_ok(),
                id: Some(id.clone()),
            },
            None => {
                let id = self.trail.append(entry).ok().map(|r| r.audit_id);
                Recorded {
                    complete: id.is_some(),
                    id,
                }
            }
        }
    }

    async fn done(&self, attempt: Attempt, mut d: Made, recorded: Recorded) -> Response {
        let id = Value::from(recorded.id.clone());
        d.body["auditId"] = id.clone();
        d.replay_body["auditId"] = id;
        match (&recorded.id, recorded.complete) {
            (None, _) => push_warning(&mut d.body, "the audit record could not be written"),
            (Some(_), false) => push_warning(
                &mut d.body,
                "the audit record of this change could not be written: only its attempt is journaled",
            ),
            (Some(_), true) => {}
        }
        if let (Some(n), Some(c)) = (&d.notice, &self.config.notify) {
            let sent = self.notice(&attempt, c, n, recorded.id.as_deref()).await;
            for body in [&mut d.body, &mut d.replay_body] {
                body["notified"] = json!(sent.notified);
                for w in &sent.warnings {
                    push_warning(body, w);
                }
            }
        }
        if let Some(token) = attempt.claim {
            let stored = StoredOutcome {
                status: d.status.as_u16(),
                body: d.replay_body.clone(),
                code: None,
                user: d.user.as_ref().map(|u| json!(u)),
                audit_id: recorded.id.clone(),
            };
            let _ = idempotency::complete(&self.sealed(), token, self.now(), stored);
        }
        let mut res = response::json(d.status, &d.body);
        if d.no_store {
            res.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        res
    }

    fn refused(&self, attempt: Attempt, r: Refusal, recorded: Recorded) -> Problem {
        let mut p = r.problem;
        let audit_id = recorded.id;
        if let Some(id) = &audit_id {
            p = p.with("auditId", id.as_str());
        }
        // A 5xx or a 429 changed nothing for good: a retry (after
        // `Retry-After`) does the work rather than replaying the refusal.
        let retryable = p.code.status().is_server_error() || p.code == ErrorCode::RateLimited;
        if retryable {
            p = p.with(
                "changed",
                r.changed.unwrap_or_else(|| "nothing was changed".into()),
            );
        }
        if let Some(token) = attempt.claim {
            if retryable {
                let _ = idempotency::release(&self.sealed(), token);
            } else {
                let stored = StoredOutcome {
                    status: p.code.status().as_u16(),
                    body: p.body(),
                    code: Some(p.code.as_str().to_string()),
                    user: r.user.as_ref().map(|u| json!(u)),
                    audit_id: audit_id.clone(),
                };
                let _ = idempotency::complete(&self.sealed(), token, self.now(), stored);
            }
        }
        p
    }

    /// Sends the notice and records it as its own audit record (operation
    /// `notify`, same request id).
    async fn notice(
        &self,
        attempt: &Attempt,
        config: &NotifyConfig,
        n: &Notice,
        audit_id: Option<&str>,
    ) -> notify::Sent {
        let time = crate::types::rfc3339(self.host.clock.now());
        // The ticket is caller-supplied text: it goes into mail only when
        // `ticket_pattern` vouches for its shape (API.md "Mutations").
        let pattern = self.config.ticket_pattern.as_ref();
        let ticket = attempt
            .facts
            .ticket
            .as_deref()
            .filter(|t| pattern.is_some_and(|p| p.matches(t)));
        let cx = notify::NoticeFacts {
            time: &time,
            ticket,
            audit_id,
            operator: attempt
                .caller
                .operator
                .as_ref()
                .and_then(|o| o.upn.as_deref()),
        };
        let mut sent = notify::send(self.graph, config, n, &cx).await;
        let reached = !sent.notified.is_empty();
        let entry = AuditEntry {
            user: Some(json!(n.user)),
            outcome: if reached {
                Outcome::Succeeded
            } else {
                Outcome::Failed
            },
            status: if reached { 202 } else { 502 },
            details: sent.details.clone(),
            verification: None,
            ..attempt.entry("notify")
        };
        if self.trail.append(entry).is_err() {
            sent.warnings
                .push("the notice's audit record could not be written".into());
        }
        sent
    }

    fn now(&self) -> u64 {
        super::guards::unix(self.host)
    }

    /// The idempotency records' store: sealed like every record acted on.
    fn sealed(&self) -> Sealed<'_> {
        Sealed::new(self.host, self.config)
    }
}

/// The audit record of how the attempt ended.
fn entry_of(attempt: &Attempt, ended: &Ended) -> AuditEntry {
    let base = attempt.entry(attempt.operation.as_str());
    match ended {
        Ended::Done(d) => AuditEntry {
            status: d.status.as_u16(),
            outcome: if d.dry_run {
                Outcome::DryRun
            } else {
                Outcome::Succeeded
            },
            user: d.user.as_ref().map(|u| json!(u)).or(base.user.clone()),
            details: d.details.clone(),
            ..base
        },
        Ended::Replay(o) => AuditEntry {
            status: o.status,
            code: o.code.clone(),
            outcome: if o.status < 400 {
                Outcome::Succeeded
            } else {
                Outcome::Refused
            },
            user: o.user.clone().or(base.user.clone()),
            details: json!({ "idempotentReplay": true, "originalAuditId": o.audit_id }),
            ..base
        },
        Ended::Refused(r) => {
            let mut details = json!({ "detail": r.problem.detail, "changed": r.changed });
            if let Some(more) = &r.details {
                details["result"] = more.clone();
            }
            AuditEntry {
                status: r.problem.code.status().as_u16(),
                code: Some(r.problem.code.as_str().to_string()),
                outcome: if r.problem.code.status().is_server_error() {
                    Outcome::Failed
                } else {
                    Outcome::Refused
                },
                user: r.user.as_ref().map(|u| json!(u)).or(base.user.clone()),
                details,
                ..base
            }
        }
    }
}

fn replay(o: StoredOutcome) -> Response {
    let mut res = response::json(
        StatusCode::from_u16(o.status).unwrap_or(StatusCode::OK),
        &o.body,
    );
    res.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    res
}

fn push_warning(body: &mut Value, warning: &str) {
    if let Some(w) = body.get_mut("warnings").and_then(Value::as_array_mut) {
        w.push(Value::from(warning));
    }
}
