// `Refusal` carries a whole problem+json body; it is built once per request.
#![allow(clippy::result_large_err)]

//! `POST /v1/reset` (API.md): "require re-register MFA", which Graph has no
//! single call for. Remove every removable method (or the `methodTypes`
//! asked for) through each type's endpoint, the default last, never the
//! password; revoke sign-in sessions; re-read to confirm.
//!
//! Graph traffic, in three round trips whatever the number of methods:
//! 1. the `$batch` of reads (user, memberships, methods) with beta's
//!    hardware OATH list and `signInPreferences` (the default) beside it;
//! 2. one `$batch` of the v1.0 deletions chained with `dependsOn` (Graph
//!    runs them in that order: an alternate mobile before the mobile),
//!    beside the beta deletions (hardware OATH, QR code + PIN);
//! 3. one `$batch` chaining the default's deletion, the revocation and the
//!    confirming re-read, with beta's hardware OATH list beside it.
//!
//! Without beta deletions, 2 and 3 are one `$batch`. A refusal (the
//! default while others remain), a failure or throttling inside a chain
//! leaves the rest of it unsent (`424`): those go again in the next round,
//! a refused method after them. Replication lag costs further re-reads.

use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::mutation::{mutation_input, Answer, Context, Done, Operation, Refusal, TargetUser};
use crate::api::endpoints::MutatingOperation;
use crate::api::{ErrorCode, Problem};
use crate::graph::client::MAX_BATCH;
use crate::graph::methods::{self, Method, MethodType};
use crate::graph::users::UserSummary;
use crate::graph::{BatchRequest, GraphError, GraphResponse};
use crate::types::{Reason, Ticket, UserRef, Verification};

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetInput {
    pub user: UserRef,
    pub method_types: Option<Vec<MethodType>>,
    #[serde(default = "yes")]
    pub revoke_sessions: bool,
    #[serde(default)]
    pub dry_run: bool,
    pub ticket: Option<Ticket>,
    pub reason: Option<Reason>,
    pub verification: Option<Verification>,
}

fn yes() -> bool {
    true
}

mutation_input!(ResetInput);

/// `200` of `POST /v1/reset` (and, with `502 partial_reset`, the same
/// members beside the problem): a dry run's preview (`wouldRemove`,
/// `wouldRevokeSessions`) or what was done (`removed`, `failed`).
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ResetAnswer {
    pub user: Option<UserSummary>,
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would_remove: Option<Vec<Method>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would_revoke_sessions: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed: Option<Vec<Method>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<Vec<Failure>>,
    pub remaining: Vec<Kept>,
    pub sessions_revoked: bool,
    pub warnings: Vec<String>,
    pub ticket: Option<Ticket>,
    /// For the audit record.
    #[serde(skip)]
    pub protected: bool,
}

fn ids<'a>(methods: impl IntoIterator<Item = &'a Method>) -> Vec<Value> {
    methods
        .into_iter()
        .map(|m| json!({"id": m.id, "type": m.type_name}))
        .collect()
}

impl Answer for ResetAnswer {
    fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    fn audit(&self) -> Value {
        if let Some(would) = &self.would_remove {
            return json!({ "wouldRemove": ids(would), "protected": self.protected });
        }
        json!({
            "removed": ids(self.removed.iter().flatten()),
            "failed": self.failed.iter().flatten().map(|f| json!({"id": f.method.id, "type": f.method.type_name, "status": f.status, "code": f.code})).collect::<Vec<_>>(),
            "remaining": ids(self.remaining.iter().map(|k| &k.method)),
            "sessionsRevoked": self.sessions_revoked,
            "protected": self.protected,
        })
    }
}

/// A removal that did not happen, with Graph's answer.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    #[serde(flatten)]
    pub method: Method,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub reason: String,
}

/// A method left in place, and why.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Kept {
    #[serde(flatten)]
    pub method: Method,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The order deletions are tried in: an alternate mobile before the mobile
/// (FACTS §5), anything that may be the default after everything else
/// (FACTS §4). The sort is stable, so Graph's own order decides the rest.
pub fn removal_order(mut methods: Vec<Method>, default_hint: Option<&str>) -> Vec<Method> {
    crate::types::sort_by_key_stable(&mut methods, |m| {
        let default = default_hint.is_some_and(|h| methods::may_be_default(h, m));
        let mobile = m.is(MethodType::Phone) && m.phone_type.as_deref() == Some("mobile");
        (default, mobile)
    });
    methods
}

/// Why a method stays although nothing failed.
fn kept_reason(m: &Method, asked: Option<&[MethodType]>) -> Option<String> {
    match m.kind {
        Some(MethodType::Password) => Some("the password is never removed".into()),
        None => Some(format!(
            "{} is a method type this service cannot delete through Graph; remove it in the Entra admin center",
            m.type_name
        )),
        Some(k) if asked.is_some_and(|a| !a.contains(&k)) => Some("not in methodTypes".into()),
        Some(_) => None,
    }
}

fn removable(m: &Method, asked: Option<&[MethodType]>) -> bool {
    m.kind
        .is_some_and(|k| k != MethodType::Password && asked.is_none_or(|a| a.contains(&k)))
}

/// One method still to delete, and what Graph said of it so far.
#[derive(Debug, Clone)]
struct Pending {
    method: Method,
    /// Goes after every other deletion, alone at the end of a chain: it may
    /// be the default (the hint names it), or Graph refused it for order.
    last: bool,
    /// How many methods were removed when Graph last refused it: refused
    /// again with nothing removed since, it has failed.
    refused_at: Option<usize>,
}

/// One round trip of deletions: v1.0 chains (each a `$batch` whose
/// requests depend on the one before) and beta deletions, all in flight
/// together. When `closing`, there is one chain and no beta deletion, and
/// the revocation and the confirming re-read end that chain.
#[derive(Debug, PartialEq, Eq)]
struct Round {
    chains: Vec<Vec<usize>>,
    beta: Vec<usize>,
    closing: bool,
}

/// What goes in the next round trip, by index into `pending` (in order).
/// Deletions that may be the default wait until nothing else is in flight;
/// they then end the single chain, followed by the `closing` requests
/// (revocation, re-read) when those fit in the same `$batch`.
fn plan(pending: &[Pending], closing: usize) -> Round {
    let beta = |i: &usize| methods::deleted_through_beta(&pending[*i].method);
    let (last, first): (Vec<usize>, Vec<usize>) =
        (0..pending.len()).partition(|&i| pending[i].last);
    let (first_beta, first_v1): (Vec<usize>, Vec<usize>) = first.iter().partition(|i| beta(i));
    let (last_beta, last_v1): (Vec<usize>, Vec<usize>) = last.iter().partition(|i| beta(i));
    let one_chain = |v1: Vec<usize>| Round {
        chains: vec![v1],
        beta: Vec::new(),
        closing: true,
    };
    if !first.is_empty() {
        if first_beta.is_empty()
            && last_beta.is_empty()
            && first_v1.len() + last_v1.len() + closing <= MAX_BATCH
        {
            return one_chain(first_v1.into_iter().chain(last_v1).collect());
        }
        return Round {
            chains: chunks(pending, first_v1),
            beta: first_beta,
            closing: false,
        };
    }
    if last_beta.is_empty() && last_v1.len() + closing <= MAX_BATCH {
        return one_chain(last_v1);
    }
    Round {
        chains: chunks(pending, last_v1),
        beta: last_beta,
        closing: false,
    }
}

/// Splits v1.0 deletions into chains of at most [`MAX_BATCH`], run side
/// by side, keeping an alternate mobile in the chain of the mobile after it
/// (Graph refuses the mobile while an alternate exists: FACTS §5).
fn chunks(pending: &[Pending], v1: Vec<usize>) -> Vec<Vec<usize>> {
    let phone = |i: usize, t: &str| {
        let m = &pending[i].method;
        m.is(MethodType::Phone) && m.phone_type.as_deref() == Some(t)
    };
    let alternate = v1.iter().copied().find(|&i| phone(i, "alternateMobile"));
    let mobile = v1.iter().copied().find(|&i| phone(i, "mobile"));
    // The alternate moves to just before the mobile: still before it, and
    // in the same chain.
    let mut units: Vec<Vec<usize>> = Vec::new();
    for &i in &v1 {
        if Some(i) == alternate && mobile.is_some() {
            continue;
        }
        if Some(i) == mobile {
            units.push(alternate.into_iter().chain([i]).collect());
        } else {
            units.push(vec![i]);
        }
    }
    let mut out: Vec<Vec<usize>> = Vec::new();
    for u in units {
        match out.last_mut() {
            Some(c) if c.len() + u.len() <= MAX_BATCH => c.extend(u),
            _ => out.push(u),
        }
    }
    out
}

/// What the deletions, the revocation and the re-read did.
#[derive(Default)]
struct Sweep {
    removed: Vec<Method>,
    failed: Vec<Failure>,
    /// Set when Graph stayed throttled past the budget or could not be
    /// reached: the rest was not attempted.
    stopped: Option<GraphError>,
    /// Ids of deletions sent in a request that got no answer: they may
    /// have happened, which only a re-read can tell.
    unanswered: Vec<String>,
    /// The revocation's outcome; `None` when it was not sent.
    revoked: Option<Result<(), GraphError>>,
    /// The revocation went in a request that got no answer.
    revoke_unanswered: bool,
    /// The v1.0 list read after the last deletion, in the same round trip,
    /// and beta's hardware OATH list read beside it.
    reread: Option<(GraphResponse, Option<Result<GraphResponse, GraphError>>)>,
}

/// Rounds a sweep may take before what is left is reported as not
/// attempted (each round settles at least one request; this bounds it).
fn max_rounds(methods: usize) -> usize {
    2 * methods + 4
}

/// Deletes `order` in as few round trips as the order allows, then revokes
/// the sessions (`revoke`) and re-reads the methods, the last two at the
/// end of the last deletions' `$batch` when they fit.
///
/// Each round: v1.0 deletions go in one `$batch` chained with `dependsOn`
/// (so Graph runs them in order, and the first failure makes the rest
/// `424`, to be sent again), beta deletions beside it. A method that may be
/// the default waits until it can end the only chain in flight. A `400` is
/// Graph refusing an order (the default while others remain, a mobile while
/// an alternate exists): the method is tried again after the others for as
/// long as something is removed in between. A `404` means already gone,
/// which is what a retry of an earlier partial reset finds.
async fn sweep(
    cx: &Context<'_>,
    user_id: &str,
    order: Vec<Method>,
    hint: Option<&str>,
    revoke: bool,
    hardware: bool,
) -> Sweep {
    let graph = cx.graph;
    let mut out = Sweep::default();
    let rounds = max_rounds(order.len());
    let mut pending: Vec<Pending> = order
        .into_iter()
        .map(|m| Pending {
            last: hint.is_some_and(|h| methods::may_be_default(h, &m)),
            method: m,
            refused_at: None,
        })
        .collect();
    let mut revoke_pending = revoke;
    let mut reread_pending = true;
    for _ in 0..rounds {
        if pending.is_empty() && !revoke_pending && !reread_pending {
            break;
        }
        let closing_len = usize::from(revoke_pending) + usize::from(reread_pending);
        let round = plan(&pending, closing_len);
        let requests: Vec<Vec<BatchRequest>> = round
            .chains
            .iter()
            .map(|chain| {
                let mut reqs: Vec<BatchRequest> = chain
                    .iter()
                    .filter_map(|&i| {
                        match methods::deletion(user_id, &pending[i].method, &format!("d{i}")) {
                            Some(methods::Deletion::V1(r)) => Some(r),
                            _ => None,
                        }
                    })
                    .collect();
                if round.closing {
                    if revoke_pending {
                        reqs.push(methods::revoke_request(user_id));
                    }
                    if reread_pending {
                        reqs.push(methods::reread_request(user_id));
                    }
                }
                reqs
            })
            .filter(|reqs| !reqs.is_empty())
            .collect();
        let tokens_path = methods::id_path(user_id, "hardwareOathMethods");
        let read_tokens = round.closing && reread_pending && hardware;
        let (chained, beta, tokens) = futures_util::future::join3(
            futures_util::future::join_all(requests.iter().map(|r| graph.chain(r))),
            futures_util::future::join_all(
                round
                    .beta
                    .iter()
                    .map(|&i| methods::delete(graph, user_id, &pending[i].method)),
            ),
            async {
                if read_tokens {
                    Some(methods::hardware_list(graph, &tokens_path).await)
                } else {
                    None
                }
            },
        )
        .await;

        // What each request said, by index into `pending`.
        let mut answers: Vec<(usize, DeletionAnswer)> = Vec::new();
        let mut reread: Option<GraphResponse> = None;
        for (reqs, result) in requests.iter().zip(chained) {
            match result {
                Ok(c) => {
                    if let Some(e) = c.throttled {
                        out.stopped.get_or_insert(e);
                    }
                    for (req, res) in reqs.iter().zip(c.answers) {
                        match req.id.as_str() {
                            "revoke" => match res.status {
                                424 => {}
                                _ => {
                                    revoke_pending = false;
                                    out.revoked = Some(res.into_result().map(|_| ()));
                                }
                            },
                            "reread" => {
                                if res.status != 424 {
                                    reread_pending = false;
                                    reread = Some(res);
                                }
                            }
                            id => {
                                let i = id[1..].parse::<usize>().expect("our own batch id");
                                answers.push((i, DeletionAnswer::Status(res)));
                            }
                        }
                    }
                }
                Err(e) => {
                    if reqs.iter().any(|r| r.id == "revoke") {
                        out.revoke_unanswered = true;
                        out.revoked = Some(Err(e.clone()));
                    }
                    for req in reqs {
                        if let Some(i) = req.id.strip_prefix('d').and_then(|n| n.parse().ok()) {
                            answers.push((i, DeletionAnswer::Lost(e.clone())));
                        }
                    }
                    out.stopped.get_or_insert(e);
                }
            }
        }
        for (&i, res) in round.beta.iter().zip(beta) {
            answers.push((
                i,
                match res {
                    Some(Ok(r)) => DeletionAnswer::Status(r),
                    Some(Err(e)) => {
                        out.stopped.get_or_insert(e.clone());
                        DeletionAnswer::Lost(e)
                    }
                    None => continue,
                },
            ));
        }
        if let Some(r) = reread {
            out.reread = Some((r, tokens));
        }

        // Settle what was answered; keep what must be sent again.
        let concurrent = round.chains.len() + round.beta.len() > 1;
        let mut done: Vec<usize> = Vec::new();
        let mut refused: Vec<(usize, u16, Option<String>)> = Vec::new();
        for (i, a) in answers {
            let m = pending[i].method.clone();
            match a {
                DeletionAnswer::Status(res) if res.is_success() || res.status == 404 => {
                    out.removed.push(m);
                    done.push(i);
                }
                DeletionAnswer::Status(res) if res.status == 424 => {}
                DeletionAnswer::Status(res) if res.status == 400 => {
                    refused.push((i, res.status, res.error_code().map(str::to_string)));
                }
                DeletionAnswer::Status(res) => {
                    out.failed.push(Failure {
                        method: m,
                        status: Some(res.status),
                        code: res.error_code().map(str::to_string),
                        reason: match &out.stopped {
                            Some(e) if matches!(res.status, 429 | 503 | 504) => e.to_string(),
                            _ => format!("Graph answered HTTP {}", res.status),
                        },
                    });
                    done.push(i);
                }
                DeletionAnswer::Lost(e) => {
                    out.unanswered.push(m.id.clone());
                    out.failed.push(Failure {
                        method: m,
                        status: None,
                        code: None,
                        reason: e.to_string(),
                    });
                    done.push(i);
                }
            }
        }
        // A refusal is final when nothing else is left to go before it and
        // nothing went beside it, or when nothing was removed since Graph
        // last refused it.
        let others_left =
            (0..pending.len()).any(|i| !done.contains(&i) && !refused.iter().any(|r| r.0 == i));
        for &(i, status, ref code) in &refused {
            let p = &mut pending[i];
            let again = (others_left || concurrent) && p.refused_at != Some(out.removed.len());
            if again && out.stopped.is_none() {
                p.last = true;
                p.refused_at = Some(out.removed.len());
            } else {
                out.failed.push(Failure {
                    reason: order_refusal(&p.method),
                    method: p.method.clone(),
                    status: Some(status),
                    code: code.clone(),
                });
                done.push(i);
            }
        }
        // The refused go after the rest, in the order they were refused.
        let refused_ids: Vec<usize> = refused
            .iter()
            .map(|r| r.0)
            .filter(|i| !done.contains(i))
            .collect();
        let mut next: Vec<Pending> = Vec::new();
        for (i, p) in pending.iter().enumerate() {
            if !done.contains(&i) && !refused_ids.contains(&i) {
                next.push(p.clone());
            }
        }
        next.extend(refused_ids.iter().map(|&i| pending[i].clone()));
        pending = next;
        if out.stopped.is_some() {
            break;
        }
    }
    if revoke_pending && out.stopped.is_none() && out.revoked.is_none() {
        // Only reachable past `max_rounds`: never claim a revocation.
        out.revoked = Some(Err(GraphError::Malformed(
            "the revocation was never answered".into(),
        )));
    }
    out.failed.extend(pending.into_iter().map(|p| Failure {
        method: p.method,
        status: None,
        code: None,
        reason: "not attempted: Graph stopped answering within the time budget".into(),
    }));
    out
}

/// A deletion's answer: Graph's, or the error of a request that got none.
enum DeletionAnswer {
    Status(GraphResponse),
    Lost(GraphError),
}

fn order_refusal(m: &Method) -> String {
    if m.is(MethodType::Phone) && m.phone_type.as_deref() == Some("mobile") {
        "Graph refused to delete it: a mobile cannot go while an alternate mobile or other methods remain (it may be the default method)".into()
    } else {
        "Graph refused to delete it: the user's default method cannot go while other methods remain; remove those too, or change the default in the admin center".into()
    }
}

pub struct ResetMfa;

impl Operation for ResetMfa {
    type Input = ResetInput;
    type Answer = ResetAnswer;
    const OPERATION: MutatingOperation = MutatingOperation::Reset;

    async fn act(cx: &Context<'_>, input: ResetInput) -> Result<Done<ResetAnswer>, Refusal> {
        let asked = input.method_types.as_deref();
        if asked.is_some_and(|a| a.contains(&MethodType::Password)) {
            return Err(Problem::field(
                ErrorCode::InvalidRequest,
                "methodTypes",
                "`methodTypes`: the password is never removed; leave it out",
            )
            .into());
        }
        // One round trip: the v1.0 `$batch` (user, memberships, methods)
        // and, beside it, beta's hardware OATH list and default method
        // (JSON batching is per version), by the reference as given.
        let tokens_path = methods::ref_path(&input.user, "hardwareOathMethods");
        let prefs_path = methods::ref_path(&input.user, "signInPreferences");
        let (targeted, tokens, hint) = futures_util::future::join3(
            cx.target(
                &input.user,
                input.verification.as_ref(),
                [methods::list_request(&input.user)],
            ),
            methods::hardware_list(cx.graph, &tokens_path),
            methods::default_hint(cx.graph, &prefs_path),
        )
        .await;
        let (target, [listed]) = targeted?;
        let summary = target.summary();
        let graph_err = |e: GraphError| Refusal::from(e).about(&summary);
        let (before, hardware_listed) =
            methods::combine(listed, Some(tokens)).map_err(graph_err)?;
        let to_remove: Vec<Method> = before
            .iter()
            .filter(|m| removable(m, asked))
            .cloned()
            .collect();
        let order = removal_order(to_remove, hint.as_deref());
        let mut warnings = Vec::new();
        if !hardware_listed {
            warnings.push(
                "hardware OATH tokens could not be listed (Graph beta refused): any the user has were left in place".to_string(),
            );
        }
        if target.user.is_guest() && input.revoke_sessions {
            warnings.push(
                "the user is a guest: revoking sessions does not reach their home tenant, which keeps its own sessions and MFA".to_string(),
            );
        }

        if input.dry_run {
            let remaining: Vec<Kept> = before
                .iter()
                .filter(|m| !removable(m, asked))
                .map(|m| Kept {
                    method: m.clone(),
                    reason: kept_reason(m, asked),
                })
                .collect();
            return Ok(Done {
                status: StatusCode::OK,
                answer: ResetAnswer {
                    user: summary.clone(),
                    dry_run: true,
                    would_remove: Some(order),
                    would_revoke_sessions: Some(input.revoke_sessions),
                    removed: None,
                    failed: None,
                    remaining,
                    sessions_revoked: false,
                    warnings,
                    ticket: input.ticket,
                    protected: target.is_protected(),
                },
                user: summary,
                notice: None,
            });
        }

        if !order.is_empty() || input.revoke_sessions {
            cx.limit_target(target.id())
                .map_err(|r| r.about(&summary))?;
        }
        let hardware = before.iter().any(|m| m.is(MethodType::HardwareOath));
        let sweep = sweep(
            cx,
            target.id(),
            order,
            hint.as_deref(),
            input.revoke_sessions,
            hardware,
        )
        .await;
        finish(cx, &target, &input, before, sweep, warnings).await
    }
}

/// Pauses between confirming re-reads while a removed method is still
/// listed (replication lag): the read that ended the last deletions'
/// `$batch`, then at most two more, 3 s in all.
const CONFIRM_WAITS: [std::time::Duration; 2] = [
    std::time::Duration::from_secs(1),
    std::time::Duration::from_secs(2),
];

/// Confirms by re-reading, then answers `200`, or `502 partial_reset` /
/// `503 graph_throttled` with the same three lists.
async fn finish(
    cx: &Context<'_>,
    target: &TargetUser,
    input: &ResetInput,
    before: Vec<Method>,
    mut sweep: Sweep,
    mut warnings: Vec<String>,
) -> Result<Done<ResetAnswer>, Refusal> {
    let summary = target.summary();
    let asked = input.method_types.as_deref();
    let (sessions_revoked, revoke_failure) = match sweep.revoked.take() {
        Some(Ok(())) => (true, None),
        Some(Err(e)) => (false, Some(e)),
        None => (false, None),
    };
    let hardware = before.iter().any(|m| m.is(MethodType::HardwareOath));
    // Throttled past the budget: a read would be throttled too. Otherwise
    // read, also after a request that got no answer: what is still listed
    // says whether its deletions happened.
    let after = if matches!(sweep.stopped, Some(GraphError::Throttled { .. })) {
        None
    } else {
        let still_listed = |all: &[Method]| {
            sweep
                .removed
                .iter()
                .any(|m| all.iter().any(|a| a.id.eq_ignore_ascii_case(&m.id)))
        };
        let mut after = match sweep.reread.take() {
            Some((v1, tokens)) if v1.is_success() => {
                methods::combine(v1, tokens).ok().map(|(all, _)| all)
            }
            _ => None,
        };
        if after.is_none() {
            after = methods::read_all(cx.graph, target.id(), hardware)
                .await
                .ok()
                .map(|(all, _)| all);
        }
        // Graph's directory is eventually consistent: a replica may list a
        // method a moment after its 204. Look again, briefly and within
        // the budget, before calling a removal failed.
        for wait in CONFIRM_WAITS {
            match &after {
                Some(all) if still_listed(all) && cx.graph.pause(wait) => {
                    after = methods::read_all(cx.graph, target.id(), hardware)
                        .await
                        .ok()
                        .map(|(all, _)| all);
                }
                _ => break,
            }
        }
        after
    };
    let after = match after {
        Some(all) => {
            let listed = |m: &Method| all.iter().any(|a| a.id.eq_ignore_ascii_case(&m.id));
            // Graph said 204 but the method is still listed: not removed.
            let (still, gone): (Vec<Method>, Vec<Method>) =
                sweep.removed.into_iter().partition(|m| listed(m));
            sweep.removed = gone;
            // A deletion that got no answer and is no longer listed happened.
            let unanswered = std::mem::take(&mut sweep.unanswered);
            let (happened, failed): (Vec<Failure>, Vec<Failure>) = sweep
                .failed
                .into_iter()
                .partition(|f| unanswered.contains(&f.method.id) && !listed(&f.method));
            sweep.failed = failed;
            // One still listed did not happen: a plain failure now.
            sweep.removed.extend(happened.into_iter().map(|f| f.method));
            sweep.failed.extend(still.into_iter().map(|m| Failure {
                method: m,
                status: None,
                code: None,
                reason: "Graph accepted the deletion but still lists the method".into(),
            }));
            all
        }
        None => {
            warnings.push(
                "the methods could not be re-read to confirm; `remaining` is what should be left"
                    .into(),
            );
            before
                .into_iter()
                .filter(|m| !sweep.removed.iter().any(|r| r.id == m.id))
                .collect()
        }
    };
    let remaining: Vec<Kept> = after
        .iter()
        .map(|m| Kept {
            method: m.clone(),
            reason: kept_reason(m, asked).or_else(|| {
                sweep
                    .failed
                    .iter()
                    .any(|f| f.method.id == m.id)
                    .then(|| "its removal failed (see failed)".to_string())
            }),
        })
        .collect();
    match &revoke_failure {
        Some(e) if sweep.revoke_unanswered => warnings.push(format!(
            "the revocation of sign-in sessions got no answer ({e}): they may have been revoked"
        )),
        Some(e) => warnings.push(format!("sign-in sessions were not revoked: {e}")),
        None => {}
    }

    let report = ResetAnswer {
        user: summary.clone(),
        dry_run: false,
        would_remove: None,
        would_revoke_sessions: None,
        removed: Some(sweep.removed.clone()),
        failed: Some(sweep.failed.clone()),
        remaining,
        sessions_revoked,
        warnings,
        ticket: input.ticket.clone(),
        protected: target.is_protected(),
    };

    if !sweep.failed.is_empty() || revoke_failure.is_some() {
        let changed = if sweep.removed.is_empty() {
            "no method was removed".to_string()
        } else {
            format!(
                "removed {} method(s): {}",
                sweep.removed.len(),
                sweep
                    .removed
                    .iter()
                    .map(|m| format!("{} {}", m.type_name, m.id))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } + &if sweep.unanswered.is_empty() {
            String::new()
        } else {
            format!(
                "; {} deletion(s) got no answer from Graph and may have happened: {}",
                sweep.unanswered.len(),
                sweep.unanswered.join(", ")
            )
        } + if sessions_revoked {
            "; sign-in sessions were revoked"
        } else if sweep.revoke_unanswered {
            "; the revocation of sign-in sessions got no answer: they may have been revoked"
        } else {
            "; sign-in sessions were not revoked"
        };
        let mut problem = match &sweep.stopped {
            Some(e @ GraphError::Throttled { .. }) => Problem::from(e),
            _ if sweep.revoke_unanswered && sweep.failed.is_empty() => Problem::new(
                ErrorCode::PartialReset,
                "every method asked for was removed, but the revocation of sign-in sessions got no answer from Graph; retry the same request to finish",
            ),
            _ if revoke_failure.is_some() && sweep.failed.is_empty() => Problem::new(
                ErrorCode::PartialReset,
                "every method asked for was removed, but Graph did not revoke the sign-in sessions; retry the same request to finish",
            ),
            _ => Problem::new(
                ErrorCode::PartialReset,
                format!(
                    "{} method(s) could not be removed; retry the same request to finish the reset",
                    sweep.failed.len()
                ),
            ),
        };
        if let Some(GraphError::Status {
            status,
            code,
            request_id,
        }) = &revoke_failure
        {
            problem = problem.with("revokeStatus", *status);
            if let Some(c) = code {
                problem = problem.with("graphErrorCode", c.as_str());
            }
            if let Some(r) = request_id {
                problem = problem.with("graphRequestId", r.as_str());
            }
        }
        // The same members as a `200`, beside the problem.
        let details = report.audit();
        if let Ok(Value::Object(members)) = serde_json::to_value(&report) {
            for (k, v) in members {
                problem = problem.with(k.as_str(), v);
            }
        }
        return Err(Refusal::refused(problem)
            .about(&summary)
            .changed(&changed)
            .details(details));
    }

    let notice = (!sweep.removed.is_empty() || sessions_revoked)
        .then(|| {
            target.notice(format!(
                "{} multi-factor sign-in method(s) were removed, so the account must register again at its next sign-in{}.",
                sweep.removed.len(),
                if sessions_revoked { "; every signed-in session was ended" } else { "" }
            ))
        })
        .flatten();
    Ok(Done {
        status: StatusCode::OK,
        answer: report,
        user: summary,
        notice,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str, kind: MethodType, phone: Option<&str>) -> Method {
        Method {
            id: id.into(),
            type_name: kind.as_str().into(),
            kind: Some(kind),
            display_name: None,
            phone_type: phone.map(str::to_string),
        }
    }

    #[test]
    fn the_default_goes_last_and_the_mobile_after_its_alternate() {
        let list = vec![
            m("mob", MethodType::Phone, Some("mobile")),
            m("app", MethodType::MicrosoftAuthenticator, None),
            m("alt", MethodType::Phone, Some("alternateMobile")),
            m("key", MethodType::Fido2, None),
        ];
        let ids = |v: Vec<Method>| v.into_iter().map(|m| m.id).collect::<Vec<_>>();
        assert_eq!(
            ids(removal_order(list.clone(), Some("push"))),
            ["alt", "key", "mob", "app"]
        );
        assert_eq!(
            ids(removal_order(list.clone(), Some("sms"))),
            ["app", "alt", "key", "mob"]
        );
        assert_eq!(ids(removal_order(list, None)), ["app", "alt", "key", "mob"]);
    }

    #[test]
    fn the_password_and_unknown_types_stay_with_a_reason() {
        let pw = m("pw", MethodType::Password, None);
        let mut future = m("f", MethodType::Email, None);
        future.kind = None;
        future.type_name = "futureAuthenticationMethod".into();
        let key = m("key", MethodType::Fido2, None);
        assert!(!removable(&pw, None) && !removable(&future, None) && removable(&key, None));
        assert!(!removable(&key, Some(&[MethodType::Phone])));
        assert_eq!(
            kept_reason(&pw, None).unwrap(),
            "the password is never removed"
        );
        assert!(kept_reason(&future, None)
            .unwrap()
            .contains("futureAuthenticationMethod"));
        assert_eq!(
            kept_reason(&key, Some(&[MethodType::Phone])).unwrap(),
            "not in methodTypes"
        );
        assert_eq!(kept_reason(&key, None), None);
    }
}

#[cfg(test)]
#[path = "reset_tests.rs"]
mod round_trip_tests;

#[cfg(test)]
mod input_tests {
    use super::*;
    use crate::api::input::parse_json;

    #[test]
    fn bad_method_types_name_the_field() {
        for (bad, field) in [
            (r#"["sms"]"#, "methodTypes[0]"),
            (r#""phone""#, "methodTypes"),
            ("[1]", "methodTypes[0]"),
            (r#"["phone", null]"#, "methodTypes[1]"),
        ] {
            let body = format!(r#"{{"user":"a@b.c","ticket":"T","methodTypes":{bad}}}"#);
            let p = parse_json::<ResetInput>(body.as_bytes()).unwrap_err();
            assert_eq!(p.code, ErrorCode::InvalidRequest, "{bad}");
            assert_eq!(p.extensions["field"], field, "{bad}");
        }
    }
}
