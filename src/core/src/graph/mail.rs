//! What notifications read and send: the user's manager, and `sendMail`
//! from the configured sender's mailbox (Mail.Send, application).

use serde_json::{json, Value};

use super::client::BatchRequest;
use super::GraphResponse;
use crate::types::UserRef;

/// `GET /users/{ref}/manager`: a directory object; a user has a `mail`.
pub fn manager_request(user: &UserRef) -> BatchRequest {
    BatchRequest::get("manager", format!("/users{}/manager", user.graph_segment()))
}

/// The manager's address, or why there is none to write to.
pub fn parse_manager(res: &GraphResponse) -> Result<String, &'static str> {
    match res.status {
        200 => res
            .body
            .get("mail")
            .and_then(Value::as_str)
            .filter(|m| m.contains('@'))
            .map(str::to_string)
            .ok_or("the manager has no mail address"),
        404 => Err("the user has no manager in the directory"),
        403 => Err("the manager could not be read (permission)"),
        _ => Err("the manager could not be read"),
    }
}

/// One plain-text message from `sender` to `to`, not kept in Sent Items
/// (the audit trail is the record). Members as the OpenAPI names them.
pub fn send_request(
    id: &str,
    sender: &str,
    to: &[String],
    subject: &str,
    text: &str,
) -> BatchRequest {
    // Config::load accepted the sender only as a UPN.
    let sender = UserRef::parse(sender)
        .map(|u| u.graph_segment())
        .unwrap_or_default();
    BatchRequest {
        id: id.to_string(),
        method: "POST",
        // Sending twice is two mails: an ambiguous 503/504 is reported,
        // never retried blindly (no read can settle whether it went out).
        idempotent: false,
        url: format!("/users{sender}/sendMail"),
        body: Some(json!({
            "Message": {
                "subject": subject,
                "body": { "contentType": "text", "content": text },
                "toRecipients": to
                    .iter()
                    .map(|a| json!({ "emailAddress": { "address": a } }))
                    .collect::<Vec<_>>(),
            },
            "SaveToSentItems": false,
        })),
    }
}
