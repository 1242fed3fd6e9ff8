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

mod finish;
mod plan;
mod sweep;

use finish::finish;
use plan::{kept_reason, removable, removal_order};
use sweep::sweep;

use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::mutation::{mutation_input, Answer, Context, Done, Operation, Refusal};
use crate::api::endpoints::MutatingOperation;
use crate::api::{ErrorCode, Problem};
use crate::graph::methods::{self, Method, MethodType};
use crate::graph::users::UserSummary;
use crate::graph::GraphError;
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

#[cfg(test)]
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
