// `Refusal` carries a whole problem+json body; it is built once per request.
#![allow(clippy::result_large_err)]

//! The target guards: what must hold before a change is made to a user,
//! whatever the operation. The app may do it (its Graph permissions), the
//! user exists and is enabled, a protected user is changed only by a
//! privileged caller (with verification where the deployment asks), and
//! the per-user limit. Nothing here writes to Graph.

use serde_json::json;

use super::Refusal;
use crate::api::endpoints::MutatingOperation;
use crate::api::{ErrorCode, Problem};
use crate::auth::{rate_limit, Caller};
use crate::config::{Config, NotifyRecipient, VerificationRequirement};
use crate::graph::licences::Licences;
use crate::graph::permissions::Need;
use crate::graph::privileged::{self, ProtectionReason};
use crate::graph::users::{self, DirectoryUser, UserSummary};
use crate::graph::{mail, BatchRequest, GraphClient, GraphError, GraphResponse};
use crate::notify::{Audience, Notice};
use crate::ports::Host;
use crate::types::{Scope, UserRef, Verification};

/// The user an operation changes, once the common guards let it through.
pub struct TargetUser {
    pub user: DirectoryUser,
    /// Groups and roles the user is in (transitively): id, name.
    pub memberships: Vec<(String, String)>,
    /// Why the user is protected; empty for an ordinary user.
    pub protection: Vec<ProtectionReason>,
    /// Whom a notice of the change would reach (`None`: `notify` unset).
    pub audience: Option<Audience>,
}

impl TargetUser {
    pub fn id(&self) -> &str {
        &self.user.summary.id
    }

    /// For [`Refusal::about`] and [`super::Done::user`].
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
    ) -> Result<(TargetUser, [GraphResponse; N]), Refusal> {
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
            .map_err(Refusal::from)?
            .into_iter();
        let (Some(user), Some(memberships)) = (answers.next(), answers.next()) else {
            return Err(Refusal::from(GraphError::Malformed("short $batch".into())));
        };
        let manager = if read_manager { answers.next() } else { None };
        let rest: [GraphResponse; N] = answers
            .collect::<Vec<_>>()
            .try_into()
            .map_err(|_| Refusal::from(GraphError::Malformed("short $batch".into())))?;

        let user = resolve_user(asked, user)?;
        let summary = Some(user.summary.clone());
        let memberships = users::all_memberships(self.graph, memberships)
            .await
            .map_err(|e| Refusal::from(e).about(&summary))?;
        let holders = privileged::role_holders(self.graph, self.now_unix())
            .await
            .map_err(|e| Refusal::from(e).about(&summary))?;
        let protection = privileged::reasons(&user, &memberships, &holders, self.config);
        self.guard_protected(&protection)
            .map_err(|r| r.about(&summary))?;
        self.require_verification(!protection.is_empty(), verification)
            .map_err(|r| r.about(&summary))?;
        let audience = notify.map(|n| Audience::of(n, &user, manager.as_ref()));
        Ok((
            TargetUser {
                user,
                memberships,
                protection,
                audience,
            },
            rest,
        ))
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

    /// Counts this operation against `user_id`'s per-user limit (passes,
    /// resets, phones per 24 h).
    pub fn limit_target(&self, user_id: &str) -> Result<(), Refusal> {
        rate_limit::check_target(
            self.host.kv,
            self.now_unix(),
            &self.config.rate_limits,
            self.operation,
            user_id,
        )
        .map_err(Refusal::from)
    }
}

/// The contract's answers for an unknown or disabled user.
fn resolve_user(asked: &UserRef, res: GraphResponse) -> Result<DirectoryUser, Refusal> {
    let user = users::parse_user(res)
        .map_err(Refusal::from)?
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

pub(super) fn verification_required() -> Refusal {
    Refusal::refused(Problem::field(
        ErrorCode::VerificationRequired,
        "verification",
        "this deployment requires `verification`: how the helpdesk confirmed the caller is the user",
    ))
}

/// Refuses an operation whose Graph permissions the app's token does not
/// carry (`500 permission_missing`, naming them), before any Graph call
/// that could change something. A token that does not say (not a JWT) is
/// let through: Graph's own 403 then names the permission.
pub(super) async fn require_permissions(
    host: &Host<'_>,
    graph: &GraphClient<'_>,
    op: MutatingOperation,
) -> Result<(), Refusal> {
    let Some(granted) = graph.granted().await.map_err(Refusal::from)? else {
        return Ok(());
    };
    let p2 = Licences::load(graph.sealed(), unix(host)).p2;
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

pub(super) fn unix(host: &Host<'_>) -> u64 {
    crate::types::unix_secs(host.clock.now())
}
