//! Callers: who is asking (bearer key, Entra ID access token or signed
//! webhook), with which scopes, and whether they are within their rate
//! limits.
//!
//! The "authorize" step of a request (STYLE.md): [`authenticate`] turns the
//! request headers into a [`Caller`], the operation calls
//! [`Caller::require`] with its scope, then [`rate_limit`] checks the caller
//! and (once the user is resolved) the target.
//!
//! - [`bearer`]: `Authorization: Bearer <api key>`, compared as SHA-256
//!   digests in constant time.
//! - [`entra`]: Entra ID access tokens (`entra_audience`), checked against
//!   the tenant's [`signing_keys`]; app roles are the scopes.
//! - [`webhook`]: Standard Webhooks signatures, timestamp tolerance and the
//!   replay record.
//! - [`rate_limit`]: fixed-window counters in the key-value store.
//!
//! Every failure says only what the caller can fix ("missing header X",
//! "invalid signature", "timestamp outside tolerance"), never which
//! configured caller came closest or what a credential looked like.

pub mod bearer;
pub mod caller;
pub mod entra;
pub mod rate_limit;
pub mod refusals;
pub mod signing_keys;
pub mod webhook;

use http::header::{HeaderMap, AUTHORIZATION, WWW_AUTHENTICATE};
use subtle::{Choice, ConditionallySelectable};

pub use caller::{Caller, CredentialKind};
pub use rate_limit::{Limit, LimitError, RateLimited};

use crate::api::{ErrorCode, Problem};
use crate::config::Config;
use crate::ports::{Host, HostError};
use crate::types::Scope;

/// Why a request is not authorized. Carries header names and scopes, never a
/// header value, key, secret or caller id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing credentials: send `Authorization: Bearer <api key>` or a signed webhook")]
    NoCredentials,
    #[error("missing header `{0}`")]
    MissingHeader(&'static str),
    #[error("header `{header}` is invalid: {expected}")]
    InvalidHeader {
        header: &'static str,
        expected: &'static str,
    },
    #[error("invalid API key")]
    InvalidKey,
    #[error("invalid signature")]
    InvalidSignature,
    #[error(
        "webhook-timestamp is outside the {} s tolerance",
        webhook::TOLERANCE_SECS
    )]
    TimestampOutsideTolerance,
    #[error("this webhook-id was already received; a new delivery needs a new id")]
    Replayed,
    #[error("this operation needs the `{0}` scope")]
    InsufficientScope(Scope),
    /// The replay record could not be written: refusing is safer than
    /// accepting a delivery that might be a replay.
    #[error("webhook replay store: {0}")]
    Storage(HostError),
    /// An Entra ID token that failed a check: which one.
    #[error("invalid token: {0}")]
    InvalidToken(entra::TokenError),
    /// The tenant's signing keys could not be read: a token cannot be
    /// checked, so it is refused (fail closed).
    #[error("{0}")]
    KeysUnavailable(String),
}

impl AuthError {
    pub fn code(&self) -> ErrorCode {
        match self {
            AuthError::Replayed => ErrorCode::ReplayedWebhook,
            AuthError::InsufficientScope(_) => ErrorCode::InsufficientScope,
            AuthError::Storage(_) => ErrorCode::StorageUnavailable,
            AuthError::KeysUnavailable(_) => ErrorCode::SigningKeysUnavailable,
            _ => ErrorCode::Unauthorized,
        }
    }
}

/// Every 401 carries `WWW-Authenticate: Bearer` (API.md "Callers"), for
/// webhook failures too: it is the challenge a client can answer. A 403
/// adds RFC 6750 §3.1's `insufficient_scope` error and the scope.
impl From<&AuthError> for Problem {
    fn from(e: &AuthError) -> Problem {
        let p = Problem::new(e.code(), e.to_string());
        match e {
            AuthError::InsufficientScope(scope) => p.header(
                WWW_AUTHENTICATE,
                format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\""),
            ),
            AuthError::Storage(_) => p,
            // RFC 6750 §3: the check goes in `error_description` (its
            // wording is ours, quote-free).
            AuthError::InvalidToken(t) => p.header(
                WWW_AUTHENTICATE,
                format!("Bearer error=\"invalid_token\", error_description=\"{t}\""),
            ),
            AuthError::KeysUnavailable(_) => p.header(http::header::RETRY_AFTER, "30"),
            _ => p.header(WWW_AUTHENTICATE, "Bearer"),
        }
    }
}

impl From<AuthError> for Problem {
    fn from(e: AuthError) -> Problem {
        Problem::from(&e)
    }
}

/// The caller behind a request.
///
/// A request carrying `webhook-signature` is a webhook delivery, even if it
/// also has an `Authorization` header (a ticketing system may add one of its
/// own). Otherwise `Authorization` is a bearer key; with neither, a stray
/// `webhook-id` or `webhook-timestamp` is reported as a webhook missing its
/// signature, which is more useful than "missing credentials". A bearer
/// credential shaped like a JWT is an Entra ID token.
pub async fn authenticate(
    config: &Config,
    headers: &HeaderMap,
    raw_body: &[u8],
    endpoint: webhook::Destination<'_>,
    host: &Host<'_>,
) -> Result<Caller, AuthError> {
    let callers = &config.callers;
    if headers.contains_key(webhook::SIGNATURE) {
        let now = crate::types::unix_secs(host.clock.now());
        let store = crate::store::sealed::Sealed::new(host, config);
        return webhook::authenticate(callers, headers, raw_body, endpoint, &store, now);
    }
    if headers.contains_key(AUTHORIZATION) {
        if let Some(token) = bearer::presented_token(headers).filter(|t| entra::looks_like_jwt(t)) {
            return entra_caller(config, token, host).await;
        }
        return bearer::authenticate(callers, headers);
    }
    if headers.contains_key(webhook::ID) || headers.contains_key(webhook::TIMESTAMP) {
        return Err(AuthError::MissingHeader(webhook::SIGNATURE));
    }
    Err(AuthError::NoCredentials)
}

async fn entra_caller(config: &Config, token: &str, host: &Host<'_>) -> Result<Caller, AuthError> {
    let invalid = AuthError::InvalidToken;
    let audience = config
        .entra_audience
        .as_deref()
        .ok_or(invalid(entra::TokenError::NotAccepted))?;
    let unverified = entra::parse(token).map_err(invalid)?;
    let key = signing_keys::key(host, config, unverified.kid())
        .await
        .map_err(|e| match e {
            signing_keys::KeysError::Unknown => invalid(entra::TokenError::UnknownKey),
            signing_keys::KeysError::Unavailable(why) => AuthError::KeysUnavailable(why),
        })?;
    let now = crate::types::unix_secs(host.clock.now());
    let caller = entra::verify(&unverified, &key, config, audience, now).map_err(invalid)?;
    Ok(entra::named(caller, &config.callers))
}

/// The index of the (last) matching candidate, chosen without branching on
/// any single comparison, so timing does not tell how many candidates were
/// tried before the match.
fn select_match(matches: impl IntoIterator<Item = Choice>) -> Option<usize> {
    let mut found = Choice::from(0);
    let mut index = 0u64;
    for (i, m) in matches.into_iter().enumerate() {
        index.conditional_assign(&(i as u64), m);
        found |= m;
    }
    bool::from(found).then_some(index as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The async check, run to completion (the tests' hosts answer at once).
    fn authenticate(
        config: &Config,
        headers: &HeaderMap,
        raw_body: &[u8],
        endpoint: webhook::Destination<'_>,
        host: &Host<'_>,
    ) -> Result<Caller, AuthError> {
        futures::executor::block_on(super::authenticate(
            config, headers, raw_body, endpoint, host,
        ))
    }
    use crate::testing::World;
    use http::HeaderValue;

    #[test]
    fn select_match_finds_the_match_anywhere() {
        let c = |b: bool| Choice::from(u8::from(b));
        assert_eq!(select_match([]), None);
        assert_eq!(select_match([c(false), c(false)]), None);
        assert_eq!(select_match([c(true), c(false), c(false)]), Some(0));
        assert_eq!(select_match([c(false), c(false), c(true)]), Some(2));
    }

    #[test]
    fn no_credentials_is_a_401_with_the_bearer_challenge() {
        let w = World::configured();
        let config = Config::load(&w.vars).unwrap();
        let err = authenticate(
            &config,
            &HeaderMap::new(),
            b"",
            webhook::Destination::Mutation("tap"),
            &w.host(),
        )
        .unwrap_err();
        assert_eq!(err, AuthError::NoCredentials);
        let p = Problem::from(&err);
        assert_eq!(p.code, ErrorCode::Unauthorized);
        assert_eq!(
            p.headers,
            [(WWW_AUTHENTICATE, "Bearer".to_string())],
            "{p:?}"
        );
    }

    #[test]
    fn dispatches_on_the_headers_present() {
        let w = World::configured();
        let config = Config::load(&w.vars).unwrap();
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer password"));
        let c = authenticate(
            &config,
            &h,
            b"",
            webhook::Destination::Mutation("tap"),
            &w.host(),
        )
        .unwrap();
        assert_eq!(c.id, "a");
        assert_eq!(c.credential, CredentialKind::BearerKey);

        // A webhook signature wins over a bearer key.
        h.insert(webhook::SIGNATURE, HeaderValue::from_static("v1,AAAA"));
        assert_eq!(
            authenticate(
                &config,
                &h,
                b"",
                webhook::Destination::Mutation("tap"),
                &w.host()
            )
            .unwrap_err(),
            AuthError::MissingHeader(webhook::ID)
        );

        let mut h = HeaderMap::new();
        h.insert(webhook::ID, HeaderValue::from_static("msg_1"));
        assert_eq!(
            authenticate(
                &config,
                &h,
                b"",
                webhook::Destination::Mutation("tap"),
                &w.host()
            )
            .unwrap_err(),
            AuthError::MissingHeader(webhook::SIGNATURE)
        );
    }

    #[test]
    fn problems_map_to_the_contract_codes_and_never_echo_values() {
        let cases = [
            (AuthError::NoCredentials, 401, "unauthorized"),
            (AuthError::MissingHeader("webhook-id"), 401, "unauthorized"),
            (AuthError::InvalidKey, 401, "unauthorized"),
            (AuthError::InvalidSignature, 401, "unauthorized"),
            (AuthError::TimestampOutsideTolerance, 401, "unauthorized"),
            (AuthError::Replayed, 401, "replayed_webhook"),
            (
                AuthError::InsufficientScope(Scope::Tap),
                403,
                "insufficient_scope",
            ),
            (
                AuthError::Storage(HostError("kv down".into())),
                503,
                "storage_unavailable",
            ),
        ];
        for (err, status, code) in cases {
            let p = Problem::from(&err);
            assert_eq!(p.code.status().as_u16(), status, "{err:?}");
            assert_eq!(p.code.as_str(), code);
            let challenge = p
                .headers
                .iter()
                .find(|(n, _)| n == WWW_AUTHENTICATE)
                .map(|(_, v)| v.as_str());
            match status {
                401 => assert_eq!(challenge, Some("Bearer"), "{err:?}"),
                403 => assert_eq!(
                    challenge,
                    Some("Bearer error=\"insufficient_scope\", scope=\"tap\"")
                ),
                _ => assert_eq!(challenge, None),
            }
        }
        assert_eq!(
            AuthError::TimestampOutsideTolerance.to_string(),
            "webhook-timestamp is outside the 300 s tolerance"
        );
    }
}
