//! `POST /v1/tap` (API.md): issue a Temporary Access Pass after checking the
//! user, their protection and the tenant's TAP policy.
//!
//! Graph traffic: one `$batch` of reads (user, memberships, policy, existing
//! pass), the role-holder `$batch` when its cache is cold, a `DELETE` of the
//! old pass when replacing, and the create.

use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::mutation::{mutation_input, Answer, Context, Done, Operation, Refusal};
use crate::api::endpoints::MutatingOperation;
use crate::api::{ErrorCode, Problem};
use crate::graph::methods::MethodType;
use crate::graph::users::UserSummary;
use crate::graph::{tap, GraphError};
use crate::types::{Instant, Reason, Secret, Ticket, UserRef, Verification};

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TapInput {
    pub user: UserRef,
    pub lifetime_in_minutes: Option<u32>,
    pub is_usable_once: Option<bool>,
    pub start_date_time: Option<Instant>,
    #[serde(default)]
    pub replace_existing: bool,
    pub ticket: Option<Ticket>,
    pub reason: Option<Reason>,
    pub verification: Option<Verification>,
}

mutation_input!(TapInput);

/// `201` of `POST /v1/tap`: the pass, once.
#[derive(Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct TapAnswer {
    pub user: Option<UserSummary>,
    /// The pass; only in this answer, never stored or logged.
    #[serde(
        rename = "temporaryAccessPass",
        serialize_with = "Secret::serialize_exposed",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schemars(with = "Option<String>"))]
    pub pass: Option<Secret<String>>,
    /// The replay of a retry: the pass was issued and is not repeated.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pass_redacted: bool,
    pub method_id: String,
    pub start_date_time: Instant,
    pub expires_date_time: Instant,
    pub lifetime_in_minutes: u32,
    pub is_usable_once: bool,
    /// An earlier pass was deleted for this one.
    pub replaced: bool,
    pub ticket: Option<Ticket>,
    pub warnings: Vec<String>,
    /// For the audit record: the passes deleted, and one made by a create
    /// whose answer was lost (deleted too).
    #[serde(skip)]
    pub replaced_ids: Vec<String>,
    #[serde(skip)]
    pub lost_and_deleted: Vec<String>,
    #[serde(skip)]
    pub protected: bool,
}

impl Answer for TapAnswer {
    fn holds_secret(&self) -> bool {
        self.pass.is_some()
    }

    fn replay(&self) -> Value {
        serde_json::to_value(TapAnswer {
            pass: None,
            pass_redacted: true,
            ..self.clone()
        })
        .unwrap_or_default()
    }

    fn audit(&self) -> Value {
        json!({
            "methodId": self.method_id,
            "lifetimeInMinutes": self.lifetime_in_minutes,
            "isUsableOnce": self.is_usable_once,
            "replaced": self.replaced_ids,
            "lostAndDeleted": self.lost_and_deleted,
            "protected": self.protected,
        })
    }
}

pub struct IssueTap;

impl Operation for IssueTap {
    type Input = TapInput;
    type Answer = TapAnswer;
    const OPERATION: MutatingOperation = MutatingOperation::Tap;

    async fn act(cx: &Context<'_>, input: TapInput) -> Result<Done<TapAnswer>, Refusal> {
        let (target, [policy, existing]) = cx
            .target(
                &input.user,
                input.verification.as_ref(),
                [tap::policy_request(), tap::existing_request(&input.user)],
            )
            .await?;
        let summary = target.summary();
        let user = &target.user;
        let memberships = &target.memberships;
        let reasons = &target.protection;

        let policy = tap::parse_policy(policy).map_err(|e| Refusal::from(e).about(&summary))?;
        let refuse = |code: ErrorCode, detail: String| {
            Refusal::refused(Problem::new(code, detail)).about(&summary)
        };
        if !policy.enabled() {
            return Err(refuse(
                ErrorCode::TapPolicyDisabled,
                "the tenant's Temporary Access Pass policy is disabled".into(),
            ));
        }
        let group_ids: Vec<&str> = memberships.iter().map(|(id, _)| id.as_str()).collect();
        if !policy.covers(&user.summary.id, &group_ids) {
            return Err(refuse(
                ErrorCode::UserNotInTapPolicyScope,
                "the user is not in the Temporary Access Pass policy's include targets, or is excluded".into(),
            ));
        }
        let (min, max) = policy.lifetime_bounds(cx.config.tap_max_lifetime_minutes);
        let lifetime = input
            .lifetime_in_minutes
            .unwrap_or(policy.default_lifetime_in_minutes.min(max));
        if lifetime < min || lifetime > max {
            return Err(Refusal::refused(
                Problem::new(
                    ErrorCode::LifetimeOutOfRange,
                    format!("lifetimeInMinutes must be between {min} and {max} (tenant policy, capped by this deployment)"),
                )
                .with("lifetimeBounds", json!({ "minimum": min, "maximum": max })),
            )
            .about(&summary));
        }
        if policy.is_usable_once && input.is_usable_once == Some(false) {
            return Err(refuse(
                ErrorCode::UsableOnceRequired,
                "the tenant policy allows only one-time passes: omit isUsableOnce or set it to true".into(),
            ));
        }
        let usable_once = input.is_usable_once.unwrap_or(policy.is_usable_once);

        let existing =
            tap::parse_existing(existing).map_err(|e| Refusal::from(e).about(&summary))?;
        if !existing.is_empty() && !input.replace_existing {
            return Err(Refusal::refused(
                Problem::new(
                    ErrorCode::TapExists,
                    "the user already has a Temporary Access Pass; send replaceExisting: true to replace it",
                )
                .with("existing", json!(existing)),
            )
            .about(&summary));
        }

        cx.limit_target(&user.summary.id)
            .map_err(|r| r.about(&summary))?;

        // Replace explicitly rather than relying on Graph's silent swap
        // (FACTS §3), so the answer can say what was replaced.
        for old in &existing {
            let (version, delete) = MethodType::TemporaryAccessPass
                .delete_path(&user.summary.id, &old.id)
                .expect("a pass has an endpoint");
            let lost = |e: GraphError| {
                let unknown = matches!(e, GraphError::Unreachable(_));
                let r = Refusal::from(e).about(&summary);
                if unknown {
                    r.changed("unknown: the connection to Graph failed while deleting the old pass, which may be gone; no new pass was created; retry with replaceExisting: true")
                } else {
                    r
                }
            };
            let res = cx
                .graph
                .send(version, "DELETE", &delete, None)
                .await
                .map_err(lost)?;
            if res.status != 404 {
                res.into_result().map_err(lost)?;
            }
        }
        let start = input.start_date_time.map(Instant::to_rfc3339);
        let body = tap::create_body(lifetime, usable_once, start.as_deref());
        let tap::Creation { pass: created, lost } =
            tap::create(cx.graph, &user.summary.id, &body)
                .await
                .map_err(|e: GraphError| {
                    // No clear answer twice, or a lost connection while
                    // settling: a pass nobody will see may exist.
                    let unknown =
                        matches!(e, GraphError::Unreachable(_) | GraphError::Ambiguous { .. });
                    let r = Refusal::from(e).about(&summary);
                    match (unknown, existing.is_empty()) {
                        (true, _) => r.changed("unknown: Graph gave no clear answer to the create, which may have made a pass; retry with replaceExisting: true to end with exactly one"),
                        (false, false) => r.changed("the existing pass was deleted; no new pass was created"),
                        (false, true) => r,
                    }
                })?;

        let start_at = created
            .start_date_time
            .as_deref()
            .and_then(|s| Instant::parse(s).ok())
            .unwrap_or_else(|| Instant::from_system(cx.host.clock.now()));
        let mut warnings = Vec::new();
        if user.is_guest() {
            warnings
                .push("the user is a guest: their home tenant may enforce its own MFA".to_string());
        }
        if !lost.is_empty() {
            warnings.push(
                "Graph gave no clear answer to the first create; the pass it had made (its code never arrived) was deleted and this one issued".to_string(),
            );
        }
        if created.is_usable == Some(false) {
            warnings.push(format!(
                "the pass is not usable yet ({})",
                created
                    .method_usability_reason
                    .as_deref()
                    .unwrap_or("NotYetValid")
            ));
        }
        let expires_at = start_at.plus_minutes(created.lifetime_in_minutes);
        let notice = target.notice(format!(
            "A Temporary Access Pass (a time-limited sign-in code) was issued, valid from {} until {}{}{}.",
            start_at.to_rfc3339(),
            expires_at.to_rfc3339(),
            if created.is_usable_once { ", for one sign-in" } else { "" },
            if existing.is_empty() { "" } else { "; it replaced an earlier pass" },
        ));
        Ok(Done {
            status: StatusCode::CREATED,
            notice,
            answer: TapAnswer {
                user: Some(user.summary.clone()),
                pass: Some(created.pass),
                pass_redacted: false,
                method_id: created.id,
                start_date_time: start_at,
                expires_date_time: expires_at,
                lifetime_in_minutes: created.lifetime_in_minutes,
                is_usable_once: created.is_usable_once,
                replaced: !existing.is_empty(),
                ticket: input.ticket,
                warnings,
                replaced_ids: existing.into_iter().map(|e| e.id).collect(),
                lost_and_deleted: lost,
                protected: !reasons.is_empty(),
            },
            user: summary,
        })
    }
}
