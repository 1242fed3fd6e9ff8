//! The deletions, the revocation and the re-read, round trip by round
//! trip, and what Graph answered to each.

use super::plan::{max_rounds, plan, Pending};
use super::Failure;
use crate::graph::methods::{self, Method, MethodType};
use crate::graph::{BatchRequest, GraphError, GraphResponse};
use crate::ops::mutation::Context;

/// What the deletions, the revocation and the re-read did.
#[derive(Default)]
pub(super) struct Sweep {
    pub(super) removed: Vec<Method>,
    pub(super) failed: Vec<Failure>,
    /// Set when Graph stayed throttled past the budget or could not be
    /// reached: the rest was not attempted.
    pub(super) stopped: Option<GraphError>,
    /// Ids of deletions sent in a request that got no answer: they may
    /// have happened, which only a re-read can tell.
    pub(super) unanswered: Vec<String>,
    /// The revocation's outcome; `None` when it was not sent.
    pub(super) revoked: Option<Result<(), GraphError>>,
    /// The revocation went in a request that got no answer.
    pub(super) revoke_unanswered: bool,
    /// The v1.0 list read after the last deletion, in the same round trip,
    /// and beta's hardware OATH list read beside it.
    pub(super) reread: Option<(GraphResponse, Option<Result<GraphResponse, GraphError>>)>,
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
pub(super) async fn sweep(
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
