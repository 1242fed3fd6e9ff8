//! After the sweep: confirm by re-reading, then the answer, the audit
//! details and the notice.

use super::plan::kept_reason;
use super::sweep::Sweep;
use http::StatusCode;
use serde_json::Value;

use super::{Failure, Kept, ResetAnswer, ResetInput};
use crate::api::{ErrorCode, Problem};
use crate::graph::methods::{self, Method, MethodType};
use crate::graph::GraphError;
use crate::ops::mutation::Answer as _;
use crate::ops::mutation::{Context, Done, Refusal, TargetUser};

/// Pauses between confirming re-reads while a removed method is still
/// listed (replication lag): the read that ended the last deletions'
/// `$batch`, then at most two more, 3 s in all.
const CONFIRM_WAITS: [std::time::Duration; 2] = [
    std::time::Duration::from_secs(1),
    std::time::Duration::from_secs(2),
];

/// Confirms by re-reading, then answers `200`, or `502 partial_reset` /
/// `503 graph_throttled` with the same three lists.
pub(super) async fn finish(
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
