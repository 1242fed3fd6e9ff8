// `Refusal` carries a whole problem+json body; it is built once per request.
#![allow(clippy::result_large_err)]

//! `POST /v1/reset` (API.md): "require re-register MFA", which Graph has no
//! single call for. Remove every removable method (or the `methodTypes`
//! asked for) through each type's endpoint, the default last, never the
//! password; revoke sign-in sessions; re-read to confirm.
//!
//! Graph traffic: one `$batch` (user, memberships, methods), the beta
//! hardware OATH list, the beta `signInPreferences` when more than one
//! method is to go, one `DELETE` per method (a deletion Graph refuses
//! because of order is retried once the others are gone), the revocation,
//! and the confirming re-read (v1.0 list + beta hardware OATH list).

use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::mutation::{mutation_input, Context, Done, Operation, Refusal, Target};
use crate::api::{ErrorCode, Problem};
use crate::auth::rate_limit;
use crate::config::MutatingOperation;
use crate::graph::methods::{self, Method, MethodType};
use crate::graph::GraphError;
use crate::types::{Reason, Scope, Ticket, UserRef, Verification};

#[derive(Debug, Deserialize, schemars::JsonSchema)]
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

/// A removal that did not happen, with Graph's answer.
#[derive(Debug, Clone, serde::Serialize)]
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
    methods.sort_by_key(|m| {
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

/// What the deletions did.
#[derive(Default)]
struct Sweep {
    removed: Vec<Method>,
    failed: Vec<Failure>,
    /// Set when Graph stayed throttled past the budget or could not be
    /// reached: the rest was not attempted.
    stopped: Option<GraphError>,
}

/// Deletes `order` one by one. A `400` is Graph refusing an order (the
/// default while others remain, a mobile while an alternate exists): such
/// deletions are retried after the others for as long as each round
/// removes something. A `404` means already gone, which is what a retry of
/// an earlier partial reset finds.
async fn sweep(cx: &Context<'_>, user_id: &str, order: Vec<Method>) -> Sweep {
    let mut out = Sweep::default();
    let mut pending = order;
    loop {
        let mut deferred: Vec<(Method, u16, Option<String>)> = Vec::new();
        let mut progress = false;
        let mut rest = pending.into_iter();
        for m in rest.by_ref() {
            match methods::delete(cx.graph, user_id, &m).await {
                None => {}
                Some(Ok(res)) if res.is_success() || res.status == 404 => {
                    out.removed.push(m);
                    progress = true;
                }
                Some(Ok(res)) if res.status == 400 => {
                    let code = res.error_code().map(str::to_string);
                    deferred.push((m, res.status, code));
                }
                Some(Ok(res)) => out.failed.push(Failure {
                    method: m,
                    status: Some(res.status),
                    code: res.error_code().map(str::to_string),
                    reason: format!("Graph answered HTTP {}", res.status),
                }),
                Some(Err(e)) => {
                    out.failed.push(Failure {
                        method: m,
                        status: None,
                        code: None,
                        reason: e.to_string(),
                    });
                    out.stopped = Some(e);
                    break;
                }
            }
        }
        if out.stopped.is_some() {
            let not_tried = rest.chain(deferred.into_iter().map(|(m, _, _)| m));
            out.failed.extend(not_tried.map(|m| Failure {
                method: m,
                status: None,
                code: None,
                reason: "not attempted: Graph stopped answering within the time budget".into(),
            }));
            return out;
        }
        if deferred.is_empty() {
            return out;
        }
        if !progress {
            out.failed
                .extend(deferred.into_iter().map(|(m, status, code)| Failure {
                    reason: order_refusal(&m),
                    method: m,
                    status: Some(status),
                    code,
                }));
            return out;
        }
        pending = deferred.into_iter().map(|(m, _, _)| m).collect();
    }
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
    const OPERATION: MutatingOperation = MutatingOperation::Reset;
    const SCOPE: Scope = Scope::Reset;

    async fn act(cx: &Context<'_>, input: ResetInput) -> Result<Done, Refusal> {
        let asked = input.method_types.as_deref();
        if asked.is_some_and(|a| a.contains(&MethodType::Password)) {
            return Err(Problem::field(
                ErrorCode::InvalidRequest,
                "methodTypes",
                "`methodTypes`: the password is never removed; leave it out",
            )
            .into());
        }
        let (target, [listed]) = cx
            .target(
                &input.user,
                input.verification.as_ref(),
                [methods::list_request(&input.user)],
            )
            .await?;
        let summary = target.summary();
        let graph_err = |e: GraphError| Refusal::graph(e).about(&summary);
        let (before, hardware_listed) =
            methods::read_all(cx.graph, target.id(), Some(listed), true)
                .await
                .map_err(graph_err)?;
        let to_remove: Vec<Method> = before
            .iter()
            .filter(|m| removable(m, asked))
            .cloned()
            .collect();
        let hint = if to_remove.len() > 1 {
            methods::default_hint(cx.graph, target.id()).await
        } else {
            None
        };
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
            let body = json!({
                "user": summary,
                "dryRun": true,
                "wouldRemove": order,
                "remaining": remaining,
                "wouldRevokeSessions": input.revoke_sessions,
                "sessionsRevoked": false,
                "warnings": warnings,
                "ticket": input.ticket,
            });
            return Ok(Done {
                status: StatusCode::OK,
                replay_body: body.clone(),
                details: json!({
                    "wouldRemove": order.iter().map(|m| json!({"id": m.id, "type": m.type_name})).collect::<Vec<_>>(),
                    "protected": target.is_protected(),
                }),
                body,
                user: summary,
                no_store: false,
                notice: None,
            });
        }

        if !order.is_empty() || input.revoke_sessions {
            cx.limit_target(rate_limit::Target::Reset, target.id())
                .map_err(|r| r.about(&summary))?;
        }
        let sweep = sweep(cx, target.id(), order).await;

        let mut revoke_failure = None;
        let sessions_revoked = if input.revoke_sessions && sweep.stopped.is_none() {
            match methods::revoke_sessions(cx.graph, target.id()).await {
                Ok(()) => true,
                Err(e) => {
                    revoke_failure = Some(e);
                    false
                }
            }
        } else {
            false
        };

        finish(
            cx,
            &target,
            &input,
            before,
            sweep,
            sessions_revoked,
            revoke_failure,
            warnings,
        )
        .await
    }
}

/// Pauses between confirming re-reads while a removed method is still
/// listed (replication lag): at most three reads, 3 s in all.
const CONFIRM_WAITS: [std::time::Duration; 3] = [
    std::time::Duration::from_secs(1),
    std::time::Duration::from_secs(2),
    std::time::Duration::ZERO,
];

/// Confirms by re-reading, then answers `200`, or `502 partial_reset` /
/// `503 graph_throttled` with the same three lists.
#[allow(clippy::too_many_arguments)]
async fn finish(
    cx: &Context<'_>,
    target: &Target,
    input: &ResetInput,
    before: Vec<Method>,
    mut sweep: Sweep,
    sessions_revoked: bool,
    revoke_failure: Option<GraphError>,
    mut warnings: Vec<String>,
) -> Result<Done, Refusal> {
    let summary = target.summary();
    let asked = input.method_types.as_deref();
    let after = if sweep.stopped.is_some() {
        None
    } else {
        let hardware = before.iter().any(|m| m.is(MethodType::HardwareOath));
        let still_listed = |all: &[Method]| {
            sweep
                .removed
                .iter()
                .any(|m| all.iter().any(|a| a.id.eq_ignore_ascii_case(&m.id)))
        };
        // Graph's directory is eventually consistent: a replica may list a
        // method a moment after its 204. Look again, briefly and within
        // the budget, before calling a removal failed.
        let mut after = None;
        for wait in CONFIRM_WAITS {
            after = methods::read_all(cx.graph, target.id(), None, hardware)
                .await
                .ok()
                .map(|(all, _)| all);
            match &after {
                Some(all) if still_listed(all) && cx.graph.pause(wait) => continue,
                _ => break,
            }
        }
        after
    };
    let after = match after {
        Some(all) => {
            // Graph said 204 but the method is still listed: not removed.
            let (gone, still): (Vec<Method>, Vec<Method>) = sweep
                .removed
                .into_iter()
                .partition(|m| !all.iter().any(|a| a.id.eq_ignore_ascii_case(&m.id)));
            sweep.removed = gone;
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
    if let Some(e) = &revoke_failure {
        warnings.push(format!("sign-in sessions were not revoked: {e}"));
    }

    let lists = json!({
        "removed": sweep.removed,
        "remaining": remaining,
        "failed": sweep.failed,
        "sessionsRevoked": sessions_revoked,
    });
    let details = json!({
        "removed": sweep.removed.iter().map(|m| json!({"id": m.id, "type": m.type_name})).collect::<Vec<_>>(),
        "failed": sweep.failed.iter().map(|f| json!({"id": f.method.id, "type": f.method.type_name, "status": f.status, "code": f.code})).collect::<Vec<_>>(),
        "remaining": remaining.iter().map(|k| json!({"id": k.method.id, "type": k.method.type_name})).collect::<Vec<_>>(),
        "sessionsRevoked": sessions_revoked,
        "protected": target.is_protected(),
    });

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
        } + if sessions_revoked {
            "; sign-in sessions were revoked"
        } else {
            "; sign-in sessions were not revoked"
        };
        let mut problem = match &sweep.stopped {
            Some(e @ GraphError::Throttled { .. }) => e.to_problem(),
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
        for (k, v) in lists.as_object().expect("object") {
            problem = problem.with(k, v.clone());
        }
        problem = problem
            .with("user", json!(summary))
            .with("dryRun", false)
            .with("warnings", json!(warnings))
            .with("ticket", json!(input.ticket));
        return Err(Refusal::refused(problem)
            .about(&summary)
            .changed(&changed)
            .details(details));
    }

    let mut body = json!({
        "user": summary,
        "dryRun": false,
        "warnings": warnings,
        "ticket": input.ticket,
    });
    for (k, v) in lists.as_object().expect("object") {
        body[k] = v.clone();
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
        replay_body: body.clone(),
        body,
        user: summary,
        details,
        no_store: false,
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
