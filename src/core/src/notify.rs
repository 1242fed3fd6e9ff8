//! Out-of-band notice of a change (API.md "Notifications"; NIST SP 800-63B-4
//! asks for one whenever an authenticator is bound or recovery happens): the
//! person whose account changed hears of it through a channel the caller
//! does not control, so a helpdesk talked into a change by an impostor is
//! found out. Sent after the change and its audit record; never holds a
//! pass; a failure to send is a warning, not a failure of the operation.

use serde_json::{json, Value};

use crate::config::{NotifyConfig, NotifyRecipient};
use crate::graph::users::{DirectoryUser, UserSummary};
use crate::graph::{mail, GraphClient, GraphResponse};

/// Who can be told, per configured kind: addresses, or why there are none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience(Vec<(NotifyRecipient, Result<Vec<String>, &'static str>)>);

impl Audience {
    /// From the user as read and, when `manager` is configured, the answer
    /// to [`mail::manager_request`] (read in the operation's first `$batch`).
    pub fn of(
        config: &NotifyConfig,
        user: &DirectoryUser,
        manager: Option<&GraphResponse>,
    ) -> Self {
        // The configured kinds sorted and deduplicated, without a sort.
        let kinds = NotifyRecipient::ALL
            .into_iter()
            .filter(|k| config.recipients.contains(k));
        Audience(
            kinds
                .map(|kind| {
                    let to = match kind {
                        NotifyRecipient::Manager => manager
                            .ok_or("the manager was not read")
                            .and_then(mail::parse_manager)
                            .map(|m| vec![m]),
                        NotifyRecipient::AlternateEmail if user.other_mails.is_empty() => {
                            Err("the user has no alternate email address")
                        }
                        NotifyRecipient::AlternateEmail => Ok(user.other_mails.clone()),
                        NotifyRecipient::User => user
                            .mail
                            .clone()
                            .map(|m| vec![m])
                            .ok_or("the user has no mailbox address"),
                    };
                    (kind, to)
                })
                .collect(),
        )
    }
}

/// What an operation tells the user it changed, and whom to tell.
#[derive(Debug, Clone)]
pub struct Notice {
    pub audience: Audience,
    pub user: UserSummary,
    /// One sentence, e.g. "A Temporary Access Pass was issued, valid for 60
    /// minutes from 2026-11-23T08:00:00Z." Never the pass itself.
    pub change: String,
}

/// The facts every notice quotes.
pub struct NoticeFacts<'a> {
    pub time: &'a str,
    /// Only a ticket that matched `ticket_pattern`: otherwise it is text
    /// the caller chose, and a notice must not carry a caller's words to
    /// the user (nor does it ever carry the `reason`).
    pub ticket: Option<&'a str>,
    /// The change's audit record, for the user to quote when they call.
    pub audit_id: Option<&'a str>,
    /// Who acted, when the request was made with a delegated Entra ID
    /// token (the signed-in helpdesk agent's UPN, which Entra vouches for).
    pub operator: Option<&'a str>,
}

/// What was sent: the kinds reached, a warning per kind that was not, and
/// the `notify` audit record's details.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub notified: Vec<&'static str>,
    pub warnings: Vec<String>,
    pub details: Value,
}

/// Sends one mail per reachable kind, all in one `$batch`.
pub async fn send(
    graph: &GraphClient<'_>,
    config: &NotifyConfig,
    notice: &Notice,
    cx: &NoticeFacts<'_>,
) -> Sent {
    let mut notified = Vec::new();
    let mut warnings = Vec::new();
    let mut told = Vec::new();
    let mut not_told = Vec::new();
    let mut requests = Vec::new();
    let mut sending = Vec::new();
    for (kind, to) in &notice.audience.0 {
        match to {
            Ok(addresses) => {
                requests.push(mail::send_request(
                    kind.as_str(),
                    &config.sender,
                    addresses,
                    &subject(notice),
                    &text(notice, *kind, cx),
                ));
                sending.push((*kind, addresses));
            }
            Err(why) => {
                warnings.push(format!("the {} was not notified: {why}", kind.as_str()));
                not_told.push(json!({ "kind": kind, "reason": why }));
            }
        }
    }
    if !requests.is_empty() {
        match graph.batch(&requests).await {
            Ok(answers) => {
                for ((kind, addresses), res) in sending.into_iter().zip(answers) {
                    if (200..300).contains(&res.status) {
                        notified.push(kind.as_str());
                        told.push(json!({ "kind": kind, "to": addresses }));
                    } else if matches!(res.status, 503 | 504) {
                        let why = format!(
                            "sendMail answered HTTP {} with no clear outcome: the mail may or may not have gone out (not retried, so it is never sent twice)",
                            res.status
                        );
                        warnings.push(format!(
                            "the {} may not have been notified: {why}",
                            kind.as_str()
                        ));
                        not_told.push(json!({ "kind": kind, "reason": why, "ambiguous": true }));
                    } else {
                        let code = res.error_code().unwrap_or_default();
                        warnings.push(format!(
                            "the {} was not notified: sendMail answered HTTP {} {code}",
                            kind.as_str(),
                            res.status
                        ));
                        not_told.push(json!({ "kind": kind, "reason": format!("sendMail answered HTTP {} {code}", res.status) }));
                    }
                }
            }
            Err(e) => {
                for (kind, _) in sending {
                    warnings.push(format!("the {} was not notified: {e}", kind.as_str()));
                    not_told.push(json!({ "kind": kind, "reason": e.to_string() }));
                }
            }
        }
    }
    Sent {
        notified,
        warnings,
        details: json!({
            "sender": config.sender,
            "notified": told,
            "notNotified": not_told,
            "aboutAuditId": cx.audit_id,
        }),
    }
}

fn subject(notice: &Notice) -> String {
    format!(
        "Security notice: the sign-in methods of {} were changed",
        notice.user.user_principal_name
    )
}

fn text(notice: &Notice, kind: NotifyRecipient, cx: &NoticeFacts<'_>) -> String {
    let who = notice
        .user
        .display_name
        .as_deref()
        .map(|n| format!("{n} ({})", notice.user.user_principal_name))
        .unwrap_or_else(|| notice.user.user_principal_name.clone());
    let why = match kind {
        NotifyRecipient::Manager => format!("You are receiving this as the manager of {who}."),
        NotifyRecipient::AlternateEmail | NotifyRecipient::User => {
            format!("You are receiving this as {who}.")
        }
    };
    format!(
        "{why}\n\n\
         On {time} the IT helpdesk changed how this account signs in:\n\n  {change}\n\n\
         {ticket}{operator}Reference: {reference}\n\n\
         If this was not asked for, contact your IT helpdesk or security team now \
         through a number or address you already know (not one given in a call or a message), \
         and quote the reference above. Nobody from IT will ask you for a code or a password.\n",
        time = cx.time,
        change = notice.change,
        ticket = cx
            .ticket
            .map(|t| format!("Ticket: {t}\n"))
            .unwrap_or_default(),
        operator = cx
            .operator
            .map(|o| format!("Done by: {o}\n"))
            .unwrap_or_default(),
        reference = cx.audit_id.unwrap_or("unavailable"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(mail: Option<&str>, other: &[&str]) -> DirectoryUser {
        DirectoryUser {
            summary: UserSummary {
                id: "u1".into(),
                user_principal_name: "alice@contoso.com".into(),
                display_name: Some("Alice".into()),
            },
            account_enabled: true,
            user_type: "Member".into(),
            mail: mail.map(str::to_string),
            other_mails: other.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn config(recipients: &[NotifyRecipient]) -> NotifyConfig {
        NotifyConfig {
            sender: "mfa-notify@contoso.com".into(),
            recipients: recipients.to_vec(),
        }
    }

    fn answer(status: u16, body: Value) -> GraphResponse {
        GraphResponse {
            status,
            body,
            request_id: None,
        }
    }

    #[test]
    fn each_kind_has_its_addresses_or_a_reason() {
        use NotifyRecipient::*;
        let c = config(&[User, Manager, AlternateEmail, User]);
        let m = answer(200, json!({ "mail": "boss@contoso.com" }));
        let a = Audience::of(
            &c,
            &user(Some("alice@contoso.com"), &["a@example.net"]),
            Some(&m),
        );
        assert_eq!(
            a.0,
            [
                (Manager, Ok(vec!["boss@contoso.com".to_string()])),
                (AlternateEmail, Ok(vec!["a@example.net".to_string()])),
                (User, Ok(vec!["alice@contoso.com".to_string()])),
            ]
        );
        let none = answer(404, json!({}));
        let a = Audience::of(&c, &user(None, &[]), Some(&none));
        assert_eq!(
            a.0,
            [
                (Manager, Err("the user has no manager in the directory")),
                (
                    AlternateEmail,
                    Err("the user has no alternate email address")
                ),
                (User, Err("the user has no mailbox address")),
            ]
        );
        let no_mail = answer(200, json!({ "displayName": "Boss" }));
        let a = Audience::of(&config(&[Manager]), &user(None, &[]), Some(&no_mail));
        assert_eq!(a.0, [(Manager, Err("the manager has no mail address"))]);
    }

    #[test]
    fn the_text_says_what_when_which_ticket_and_whom_to_call() {
        let n = Notice {
            audience: Audience(vec![]),
            user: user(None, &[]).summary,
            change: "A Temporary Access Pass was issued.".into(),
        };
        let cx = NoticeFacts {
            time: "2026-11-23T08:00:00Z",
            ticket: Some("INC1"),
            audit_id: Some("a-1"),
            operator: None,
        };
        let t = text(&n, NotifyRecipient::Manager, &cx);
        for part in [
            "manager of Alice (alice@contoso.com)",
            "2026-11-23T08:00:00Z",
            "A Temporary Access Pass was issued.",
            "Ticket: INC1",
            "Reference: a-1",
            "contact your IT helpdesk",
        ] {
            assert!(t.contains(part), "{part} missing from {t}");
        }
    }

    #[test]
    fn no_ticket_line_without_a_vouched_ticket() {
        let n = Notice {
            audience: Audience(vec![]),
            user: user(None, &[]).summary,
            change: "A Temporary Access Pass was issued.".into(),
        };
        let cx = NoticeFacts {
            time: "2026-11-23T08:00:00Z",
            ticket: None,
            audit_id: Some("a-1"),
            operator: None,
        };
        let t = text(&n, NotifyRecipient::User, &cx);
        assert!(!t.contains("Ticket"), "{t}");
        assert!(t.contains("Reference: a-1"), "{t}");
    }
}
