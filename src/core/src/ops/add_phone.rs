// `Refusal` carries a whole problem+json body; it is built once per request.
#![allow(clippy::result_large_err)]

//! `POST /v1/phone` (API.md): add a backup phone method from what a person
//! typed, checked against the country's numbering plan and sent to Graph
//! in its `+{country code} {number}` form (FACTS §5).
//!
//! Graph traffic: one `$batch` (user, memberships, phone methods), then
//! the `POST` (or, replacing, the `PATCH`), and `enableSmsSignIn` when
//! asked for (plus a re-read of the method if Graph refuses it).

use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::mutation::{mutation_input, Answer, Context, Done, Operation, Refusal};
use crate::api::endpoints::MutatingOperation;
use crate::api::{ErrorCode, Problem};
use crate::graph::phones;
use crate::graph::users::UserSummary;
use crate::types::{PhoneError, PhoneNumber, PhoneType, Reason, Ticket, UserRef, Verification};

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PhoneInput {
    pub user: UserRef,
    /// Parsed in `act`: the rules depend on `phoneType`.
    pub phone_number: String,
    #[serde(default = "mobile")]
    pub phone_type: PhoneType,
    #[serde(default)]
    pub sms_sign_in: bool,
    #[serde(default)]
    pub replace_existing: bool,
    pub ticket: Option<Ticket>,
    pub reason: Option<Reason>,
    pub verification: Option<Verification>,
}

fn mobile() -> PhoneType {
    PhoneType::Mobile
}

mutation_input!(PhoneInput);

/// What an SMS sign-in state means for the helpdesk (FACTS §5).
fn sms_state_meaning(state: &str) -> &'static str {
    match state {
        "phoneNumberNotUnique" => "another user already signs in by SMS with this number",
        "notAllowedByPolicy" => "the tenant's SMS policy does not include this user",
        "notConfigured" => "SMS sign-in needs more setup in the tenant",
        "notSupported" => "only a primary mobile can be used for SMS sign-in",
        "notEnabled" => "SMS sign-in is not enabled for this number",
        _ => "Graph did not enable SMS sign-in",
    }
}

/// The SMS sign-in state Graph's documented refusals of
/// `enableSmsSignIn` stand for (FACTS §5 [s28][s29]).
fn refusal_state(message: &str) -> Option<&'static str> {
    let m = message.to_ascii_lowercase();
    if m.contains("another user") || m.contains("not unique") {
        Some("phoneNumberNotUnique")
    } else if m.contains("policy") {
        Some("notAllowedByPolicy")
    } else {
        None
    }
}

/// `201` (added) or `200` (replaced or already there) of `POST /v1/phone`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct PhoneAnswer {
    pub user: Option<UserSummary>,
    pub method_id: String,
    /// Graph's `+{country code} {number}` form.
    pub phone_number: String,
    pub phone_type: PhoneType,
    pub sms_sign_in_state: Option<String>,
    /// The number was already the user's, as asked: nothing changed.
    pub unchanged: bool,
    /// A number of the same type was replaced.
    pub replaced: bool,
    pub warnings: Vec<String>,
    pub ticket: Option<Ticket>,
    /// For the audit record.
    #[serde(skip)]
    pub previous_phone_number: Option<String>,
    #[serde(skip)]
    pub sms_sign_in_requested: bool,
    #[serde(skip)]
    pub protected: bool,
}

impl Answer for PhoneAnswer {
    fn audit(&self) -> Value {
        json!({
            "methodId": self.method_id,
            "phoneType": self.phone_type,
            "phoneNumber": self.phone_number,
            "previousPhoneNumber": self.previous_phone_number,
            "unchanged": self.unchanged,
            "smsSignInRequested": self.sms_sign_in_requested,
            "smsSignInState": self.sms_sign_in_state,
            "protected": self.protected,
        })
    }
}

pub struct AddPhone;

impl Operation for AddPhone {
    type Input = PhoneInput;
    type Answer = PhoneAnswer;
    const OPERATION: MutatingOperation = MutatingOperation::Phone;

    async fn act(cx: &Context<'_>, input: PhoneInput) -> Result<Done<PhoneAnswer>, Refusal> {
        let invalid = |e: PhoneError| {
            Refusal::from(Problem::field(
                ErrorCode::InvalidPhoneNumber,
                "phoneNumber",
                format!("phoneNumber {e}"),
            ))
        };
        // A number off today's plan may still be the one Graph holds (FACTS'
        // own `+44 7700900123`): that refusal waits for the comparison.
        let parsed = PhoneNumber::parse(&input.phone_number, input.phone_type);
        match &parsed {
            Err(PhoneError::NotValidForCountry) | Ok(_) => {}
            Err(e) => return Err(invalid(e.clone())),
        }
        if input.sms_sign_in && input.phone_type != PhoneType::Mobile {
            return Err(Problem::field(
                ErrorCode::InvalidRequest,
                "smsSignIn",
                "`smsSignIn`: only a mobile phone can be used for SMS sign-in (Graph: alternateMobile and office are voice only)",
            )
            .into());
        }
        let (target, [listed]) = cx
            .target(
                &input.user,
                input.verification.as_ref(),
                [phones::list_request(&input.user)],
            )
            .await?;
        let summary = target.summary();
        let graph_err = |e| Refusal::from(e).about(&summary);
        let existing = phones::parse_list(listed).map_err(graph_err)?;
        let same_type = existing.iter().find(|p| p.phone_type == input.phone_type);
        let typed = match &parsed {
            Ok(n) => n.graph_form(),
            Err(_) => input.phone_number.clone(),
        };
        let already = same_type.filter(|p| phones::same_number(&p.phone_number, &typed));
        let mut warnings = Vec::new();
        let wanted = match (parsed, already) {
            (Ok(n), _) => {
                if n.is_fixed_line() {
                    warnings.push(
                        "the number is a landline by its country's numbering plan: calls reach it, text messages do not".to_string(),
                    );
                }
                n.graph_form()
            }
            (Err(_), Some(held)) => held.phone_number.clone(),
            (Err(e), None) => return Err(invalid(e).about(&summary)),
        };

        let (status, method, replaced) = match same_type {
            Some(p) if already.is_some() => (StatusCode::OK, p.clone(), None),
            Some(p) if !input.replace_existing => {
                return Err(Refusal::refused(
                    Problem::new(
                        ErrorCode::PhoneTypeExists,
                        format!(
                            "the user already has a different {} number; send replaceExisting: true to replace it",
                            input.phone_type.as_str()
                        ),
                    )
                    .with("methodId", p.id.as_str()),
                )
                .about(&summary));
            }
            Some(p) => {
                cx.limit_target(target.id())
                    .map_err(|r| r.about(&summary))?;
                phones::update(cx.graph, target.id(), &p.id, &wanted)
                    .await
                    .map_err(graph_err)?;
                let mut updated = p.clone();
                updated.phone_number = wanted.clone();
                (StatusCode::OK, updated, Some(p.phone_number.clone()))
            }
            None => {
                let has_mobile = existing.iter().any(|p| p.phone_type == PhoneType::Mobile);
                if input.phone_type == PhoneType::AlternateMobile && !has_mobile {
                    return Err(Refusal::refused(Problem::new(
                        ErrorCode::MobilePhoneRequired,
                        "an alternateMobile needs a mobile phone method first: add the mobile, then the alternate",
                    ))
                    .about(&summary));
                }
                cx.limit_target(target.id())
                    .map_err(|r| r.about(&summary))?;
                let created = phones::create(cx.graph, target.id(), &wanted, input.phone_type)
                    .await
                    .map_err(|e| {
                        let lost = matches!(
                            e,
                            crate::graph::GraphError::Unreachable(_)
                                | crate::graph::GraphError::Ambiguous { .. }
                        );
                        let r = graph_err(e);
                        if lost {
                            r.changed("unknown: Graph gave no clear answer to the create, which may have added the phone; a retry answers unchanged if it did")
                        } else {
                            r
                        }
                    })?;
                (StatusCode::CREATED, created, None)
            }
        };
        let unchanged = status == StatusCode::OK && replaced.is_none();

        let mut sms_state = method.sms_sign_in_state.clone();
        if input.sms_sign_in && sms_state.as_deref() != Some("ready") {
            match phones::enable_sms_sign_in(cx.graph, target.id(), &method.id).await {
                Ok(res) if res.is_success() => sms_state = Some("ready".into()),
                outcome => {
                    // The method stays (API.md); say why SMS is off: the
                    // state Graph now reports, or the documented refusal
                    // it answered (FACTS §5).
                    if let Ok(Some(now)) = phones::get(cx.graph, target.id(), &method.id).await {
                        sms_state = now.sms_sign_in_state;
                    }
                    let refusal = outcome
                        .as_ref()
                        .ok()
                        .and_then(|r| r.error_message())
                        .and_then(refusal_state);
                    if matches!(sms_state.as_deref(), None | Some("notEnabled" | "ready")) {
                        if let Some(r) = refusal {
                            sms_state = Some(r.to_string());
                        }
                    }
                    let state = sms_state.as_deref().unwrap_or("notEnabled");
                    let graph = match outcome {
                        Ok(res) => format!("HTTP {}", res.status),
                        Err(e) => e.to_string(),
                    };
                    warnings.push(format!(
                        "SMS sign-in was not enabled ({state}: {}; Graph answered {graph}); the phone method was kept",
                        sms_state_meaning(state)
                    ));
                }
            }
        }

        let last_digits: String = {
            let digits: Vec<char> = method
                .phone_number
                .chars()
                .filter(char::is_ascii_digit)
                .collect();
            digits[digits.len().saturating_sub(2)..].iter().collect()
        };
        let notice = (!unchanged)
            .then(|| {
                target.notice(format!(
                    "A phone number ending in {last_digits} was {} as a sign-in method ({}).",
                    if replaced.is_some() {
                        "set, replacing the previous one,"
                    } else {
                        "added"
                    },
                    method.phone_type.as_str()
                ))
            })
            .flatten();
        Ok(Done {
            status,
            notice,
            answer: PhoneAnswer {
                user: summary.clone(),
                method_id: method.id,
                phone_number: method.phone_number,
                phone_type: method.phone_type,
                sms_sign_in_state: sms_state,
                unchanged,
                replaced: replaced.is_some(),
                warnings,
                ticket: input.ticket,
                previous_phone_number: replaced,
                sms_sign_in_requested: input.sms_sign_in,
                protected: target.is_protected(),
            },
            user: summary,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_refusals_name_their_state() {
        assert_eq!(
            refusal_state("Cannot enable SMS sign-in on phone auth method as the credential policy is not enabled on user"),
            Some("notAllowedByPolicy")
        );
        assert_eq!(
            refusal_state("Cannot enable SMS sign-in on phone auth method as the phone number is already used for SMS sign-in by another user"),
            Some("phoneNumberNotUnique")
        );
        assert_eq!(refusal_state("Something else"), None);
    }

    #[test]
    fn every_sms_state_has_a_meaning() {
        for s in [
            "phoneNumberNotUnique",
            "notAllowedByPolicy",
            "notConfigured",
            "notSupported",
            "notEnabled",
        ] {
            assert_ne!(sms_state_meaning(s), sms_state_meaning("other"), "{s}");
        }
    }
}
