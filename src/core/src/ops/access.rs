//! Admission, the first step of every authenticated endpoint: who is
//! calling (bearer key or signed webhook, 401), whether they hold the
//! endpoint's scope (403), and their per-caller rate limit (429). A
//! refusal before the caller is known is counted, never audited
//! ([`refusals`]).

// `Denied` carries a whole problem+json body; it is built once per request.
#![allow(clippy::result_large_err)]

use crate::api::endpoints::Endpoint;
use crate::api::request::{Body, Request};
use crate::api::Problem;
use crate::auth::webhook::Destination;
use crate::auth::{self, rate_limit, refusals, Caller};
use crate::config::Config;
use crate::ports::Host;
use crate::types::Scope;

/// Why a request was not admitted, and who it came from when that was
/// established (a mutation audits the caller of a refused attempt).
pub struct Denied {
    pub caller: Option<Caller>,
    pub problem: Problem,
}

pub async fn admit(
    config: &Config,
    req: &Request,
    raw: &[u8],
    host: &Host<'_>,
    scope: Scope,
    endpoint: Destination<'_>,
) -> Result<Caller, Denied> {
    let caller = auth::authenticate(config, req.headers(), raw, endpoint, host)
        .await
        .map_err(|e| {
            refusals::count(host.kv, crate::types::unix_secs(host.clock.now()));
            Denied {
                caller: None,
                problem: e.into(),
            }
        })?;
    let deny = |problem: Problem| Denied {
        caller: Some(caller.clone()),
        problem,
    };
    caller.require(scope).map_err(|e| deny(e.into()))?;
    let now = crate::types::unix_secs(host.clock.now());
    rate_limit::check_caller(host.kv, now, &config.rate_limits, &caller)
        .map_err(|e| deny(e.into()))?;
    Ok(caller)
}

/// A read endpoint's admission: configuration, then [`admit`] with the
/// endpoint's scope on an empty or absent body.
pub async fn admit_read(
    host: &Host<'_>,
    req: &Request,
    endpoint: &Endpoint,
) -> Result<(Config, Caller), Problem> {
    let scope = endpoint
        .access
        .scope()
        .expect("a read that admits callers names its scope");
    let config = Config::load(host.variables)?;
    let raw: &[u8] = match req.body() {
        Body::Complete(b) => b,
        Body::TooLarge => &[],
    };
    let destination = Destination::Read(req.uri().path());
    let caller = admit(&config, req, raw, host, scope, destination)
        .await
        .map_err(|d| d.problem)?;
    Ok((config, caller))
}
