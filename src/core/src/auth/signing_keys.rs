//! The tenant's token signing keys: read from
//! `{login_endpoint}/{tenant}/discovery/v2.0/keys` (never from a URL a
//! token names), kept sealed in the key-value store (a planted key would be
//! a forged caller), and read again for an unknown `kid` at most once a
//! minute across every instance, so a flood of tokens naming made-up keys
//! costs the login endpoint one request a minute.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::entra::{Jwk, SigningKeys};
use crate::config::Config;
use crate::ports::{Host, HostError};
use crate::store::sealed::Sealed;

const CACHE: &str = "entra/signing-keys/v1";
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Keys are kept a day at most: Entra rotates with weeks of overlap.
const MAX_AGE_SECS: u64 = 24 * 3600;

/// Why no key could be had: fail closed (`503`), never open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    /// The key is not in the published set, read within the last minute.
    #[error("unknown signing key")]
    Unknown,
    #[error("the tenant's signing keys cannot be read: {0}")]
    Unavailable(String),
}

impl From<HostError> for KeysError {
    fn from(e: HostError) -> KeysError {
        KeysError::Unavailable(format!("key-value store: {e}"))
    }
}

#[derive(Serialize, Deserialize)]
struct Cached {
    fetched_at: u64,
    keys: SigningKeys,
}

fn url(config: &Config) -> String {
    format!(
        "{}/{}/discovery/v2.0/keys",
        config.login_endpoint.base(),
        config.tenant_id
    )
}

async fn fetch(host: &Host<'_>, config: &Config) -> Result<SigningKeys, KeysError> {
    let req = http::Request::get(url(config))
        .header("accept", "application/json")
        .body(Vec::new())
        .map_err(|_| KeysError::Unavailable("bad login_endpoint".into()))?;
    let res = host
        .transport
        .send(req, FETCH_TIMEOUT)
        .await
        .map_err(|e| KeysError::Unavailable(e.to_string()))?;
    if res.status() != 200 {
        return Err(KeysError::Unavailable(format!(
            "HTTP {}",
            res.status().as_u16()
        )));
    }
    SigningKeys::from_jwks(res.body())
        .ok_or_else(|| KeysError::Unavailable("the key set is not a JWKS".into()))
}

/// The published key `kid`.
pub async fn key(host: &Host<'_>, config: &Config, kid: &str) -> Result<Jwk, KeysError> {
    let now = crate::types::unix_secs(host.clock.now());
    let sealed = Sealed::new(host, config);
    let cached: Option<Cached> = sealed.get(CACHE, now, Some(MAX_AGE_SECS))?;
    if let Some(k) = cached.as_ref().and_then(|c| c.keys.find(kid)) {
        return Ok(k.clone());
    }
    // One read a minute, whichever instance gets there first.
    let turn = host
        .kv
        .increment(&format!("entra/signing-keys/read:{}", now / 60), 1)?;
    if turn != 1 {
        if cached.is_some() {
            return Err(KeysError::Unknown);
        }
        // A first read is under way elsewhere: wait for it.
        for _ in 0..20 {
            host.clock.sleep(Duration::from_millis(100));
            let now = crate::types::unix_secs(host.clock.now());
            if let Some(c) = sealed.get::<Cached>(CACHE, now, Some(MAX_AGE_SECS))? {
                return c.keys.find(kid).cloned().ok_or(KeysError::Unknown);
            }
        }
        return Err(KeysError::Unavailable(
            "the first read of the keys did not finish".into(),
        ));
    }
    let keys = fetch(host, config).await?;
    sealed.set(
        CACHE,
        now,
        &Cached {
            fetched_at: now,
            keys: keys.clone(),
        },
    )?;
    keys.find(kid).cloned().ok_or(KeysError::Unknown)
}
