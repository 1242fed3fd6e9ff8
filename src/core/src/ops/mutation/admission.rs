// `Refusal` carries a whole problem+json body; it is built once per request.
#![allow(clippy::result_large_err)]

//! Admission: everything decided from the request alone, before Graph is
//! asked anything. In order: body size (413), caller (401, counted, never
//! audited), scope (403), the caller's request rate (429), media type and
//! JSON (415, 400), ticket and verification requirements (400), the claim
//! (an `Idempotency-Key`, or a webhook delivery's own id), and the caller's
//! cap on changes (429). What follows a known caller is an [`Attempt`].

use serde_json::{json, Value};

use super::guards::{unix, verification_required};
use super::{Attempt, Facts, Operation, Refusal};
use crate::api::request::{Body, Request};
use crate::api::{input, ErrorCode, Problem, RequestId};
use crate::auth::webhook::Destination;
use crate::auth::{rate_limit, refusals, Caller, CredentialKind};
use crate::config::{Config, VerificationRequirement};
use crate::ports::Host;
use crate::store::idempotency::{self, Claim, StoredOutcome};
use crate::store::sealed::Sealed;
use crate::types::{IdempotencyKey, UserRef, UserRefError};

/// How admission ended.
// One per request: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Admission<I> {
    /// Go on: the attempt and its parsed input.
    Admitted(Attempt, I),
    /// Refused before any caller was known: answered, counted, not audited.
    Anonymous(Problem),
    /// Refused by a rule, from a known caller: one audit record.
    Refused(Attempt, Refusal),
    /// A retry of a finished request: its stored outcome.
    Replay(Attempt, StoredOutcome),
}

pub async fn admit<O: Operation>(
    req: &Request,
    host: &Host<'_>,
    config: &Config,
    request_id: &RequestId,
) -> Admission<O::Input> {
    let raw: &[u8] = match req.body() {
        Body::TooLarge => {
            refusals::count(host.kv, unix(host));
            return Admission::Anonymous(Problem::new(
                ErrorCode::PayloadTooLarge,
                "the request body is over 65536 bytes",
            ));
        }
        Body::Complete(b) => b,
    };
    let endpoint = Destination::Mutation(O::OPERATION.as_str());
    let caller =
        match super::super::access::admit(config, req, raw, host, O::OPERATION.scope(), endpoint)
            .await
        {
            Ok(c) => c,
            Err(denied) => match denied.caller {
                None => return Admission::Anonymous(denied.problem),
                Some(c) => {
                    let attempt = Attempt::new(O::OPERATION, request_id, c);
                    return Admission::Refused(attempt, denied.problem.into());
                }
            },
        };
    let mut attempt = Attempt::new(O::OPERATION, request_id, caller);
    match admit_input::<O>(req, host, config, raw, &mut attempt) {
        Ok(input) => Admission::Admitted(attempt, input),
        Err(Stop::Refused(r)) => Admission::Refused(attempt, r),
        Err(Stop::Replay(o)) => Admission::Replay(attempt, o),
    }
}

enum Stop {
    Refused(Refusal),
    Replay(StoredOutcome),
}

impl<T: Into<Refusal>> From<T> for Stop {
    fn from(r: T) -> Stop {
        Stop::Refused(r.into())
    }
}

/// The input, its requirements and the claim; fills in the attempt's facts
/// as soon as they are known, so a refusal is audited with them.
fn admit_input<O: Operation>(
    req: &Request,
    host: &Host<'_>,
    config: &Config,
    raw: &[u8],
    attempt: &mut Attempt,
) -> Result<O::Input, Stop> {
    use super::MutationInput as _;
    let input: O::Input = input::json_body(req).map_err(|p| invalid_user(p, raw))?;
    attempt.facts = Facts {
        user: Some(json!({ "ref": input.user().as_str() })),
        ticket: input.ticket().map(|t| t.as_str().to_string()),
        reason: input.reason().map(|r| r.as_str().to_string()),
        verification: input.verification().map(|v| json!(v)),
    };
    if config.require_ticket && input.ticket().is_none() {
        return Err(Problem::field(
            ErrorCode::InvalidRequest,
            "ticket",
            "`ticket`: a ticket is required for every change",
        )
        .into());
    }
    if let (Some(pattern), Some(ticket)) = (&config.ticket_pattern, input.ticket()) {
        if !pattern.matches(ticket.as_str()) {
            return Err(Problem::field(
                ErrorCode::InvalidRequest,
                "ticket",
                "`ticket` does not match this deployment's ticket pattern (`ticket_pattern`)",
            )
            .into());
        }
    }
    let must_verify = match &config.require_verification {
        VerificationRequirement::All => true,
        VerificationRequirement::Operations(ops) => ops.contains(&O::OPERATION),
        VerificationRequirement::None | VerificationRequirement::Protected => false,
    };
    if must_verify && input.verification().is_none() {
        return Err(Stop::Refused(verification_required()));
    }

    match claim(req, host, config, raw, &attempt.caller)? {
        Some(Claim::Replay(outcome)) => return Err(Stop::Replay(outcome)),
        Some(Claim::Fresh(token)) => attempt.claim = Some(token),
        None => {}
    }

    // Before Graph is asked anything: a per-user limit of 0, which no user
    // can pass, and the caller's cap on changes (a leaked key cannot take
    // over a tenant overnight). Replays above were not counted.
    let now = unix(host);
    if let Some(none) =
        rate_limit::per_target(&config.rate_limits, O::OPERATION).filter(|l| l.max == 0)
    {
        rate_limit::check(host.kv, now, &none, "").map_err(Refusal::from)?;
    }
    rate_limit::check_caller_mutations(host.kv, now, &config.rate_limits, &attempt.caller)
        .map_err(Refusal::from)?;
    Ok(input)
}

/// A webhook delivery's `webhook-id` is its idempotency key (API.md
/// "Callers"): the signature already binds it to the body, and the
/// binding to the endpoint was checked when the caller was. An
/// `Idempotency-Key` header is still checked for shape, but the delivery's
/// own id decides. Other callers claim their `Idempotency-Key`, if any.
fn claim(
    req: &Request,
    host: &Host<'_>,
    config: &Config,
    raw: &[u8],
    caller: &Caller,
) -> Result<Option<Claim>, Stop> {
    let header = match req.headers().get(idempotency::HEADER) {
        None => None,
        Some(h) => Some(
            h.to_str()
                .ok()
                .and_then(|s| IdempotencyKey::parse(s).ok())
                .ok_or_else(|| {
                    Problem::field(
                        ErrorCode::InvalidRequest,
                        "Idempotency-Key",
                        "`Idempotency-Key` must be 1..255 printable ASCII characters",
                    )
                })?,
        ),
    };
    let (store, now) = (Sealed::new(host, config), unix(host));
    let claim = match (&caller.credential, header) {
        (CredentialKind::Webhook { webhook_id }, _) => {
            idempotency::claim_delivery(&store, now, &caller.id, webhook_id, raw)?
        }
        (_, Some(key)) => idempotency::claim(&store, now, &caller.id, &key, raw)?,
        (_, None) => return Ok(None),
    };
    Ok(Some(claim))
}

/// A `user` that is neither a UPN nor an object id has its own contract
/// code (API.md "Common rules"). `UserRef`'s own error decides, read again
/// from the body only when the input was refused for its `user`.
fn invalid_user(mut p: Problem, raw: &[u8]) -> Problem {
    #[derive(serde::Deserialize)]
    struct UserMember {
        user: Option<Value>,
    }
    if p.code == ErrorCode::InvalidRequest
        && p.extensions.get("field") == Some(&Value::from("user"))
    {
        if let Ok(UserMember {
            user: Some(Value::String(user)),
        }) = serde_json::from_slice(raw)
        {
            if UserRef::parse(&user) == Err(UserRefError::Neither) {
                p.code = ErrorCode::InvalidUser;
            }
        }
    }
    p
}
