//! The authenticated caller (API.md "Callers"): who is asking, with which
//! scopes, and how they proved it. Holds no secret, so it may be logged.

use std::collections::BTreeSet;

use super::entra::Operator;
use super::AuthError;
use crate::config::CallerConfig;
use crate::types::Scope;

/// How the caller proved who it is; kept for the audit record and so the
/// webhook id can be echoed back in logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    /// `Authorization: Bearer <api key>`.
    BearerKey,
    /// A Standard Webhooks delivery; `webhook_id` is the sender's message id
    /// (already checked: at most 256 characters, no control characters).
    Webhook { webhook_id: String },
    /// An Entra ID access token (`entra_audience`).
    EntraToken,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The configured caller id (`callers[].id`).
    pub id: String,
    pub scopes: BTreeSet<Scope>,
    pub credential: CredentialKind,
    /// The person signed in to the client, for a delegated Entra ID token.
    pub operator: Option<Operator>,
}

impl Caller {
    /// The caller behind a matched configuration entry. Copies only the id
    /// and scopes: the key digest and webhook secret stay in the config.
    pub(crate) fn from_config(config: &CallerConfig, credential: CredentialKind) -> Caller {
        Caller {
            id: config.id.clone(),
            scopes: config.scopes.clone(),
            credential,
            operator: None,
        }
    }

    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// `403 insufficient_scope` naming the scope when the caller lacks it
    /// (API.md "Callers": a valid key without the needed scope).
    pub fn require(&self, scope: Scope) -> Result<(), AuthError> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(AuthError::InsufficientScope(scope))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ErrorCode;
    use crate::api::Problem;

    #[test]
    fn require_names_the_missing_scope() {
        let c = Caller {
            id: "sn".into(),
            scopes: [Scope::Tap, Scope::Reset].into(),
            credential: CredentialKind::BearerKey,
            operator: None,
        };
        assert!(c.has(Scope::Tap));
        assert!(!c.has(Scope::Privileged));
        assert_eq!(c.require(Scope::Reset), Ok(()));
        let err = c.require(Scope::FailuresRead).unwrap_err();
        assert_eq!(err, AuthError::InsufficientScope(Scope::FailuresRead));
        let p = Problem::from(&err);
        assert_eq!(p.code, ErrorCode::InsufficientScope);
        assert_eq!(p.code.status(), 403);
        assert!(p.detail.contains("`failures:read`"), "{}", p.detail);
    }
}
