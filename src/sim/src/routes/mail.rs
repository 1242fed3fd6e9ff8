//! `POST /users/{sender}/sendMail`: stored, never delivered (rule 10).

use serde_json::{json, Value};

use super::{Ctx, Reply};
use crate::clock;
use crate::errors::{GraphError, GraphResult};

pub fn send(cx: &mut Ctx) -> GraphResult<Reply> {
    let i = cx.user_index()?;
    if !cx.st.users[i].mailbox {
        return Err(GraphError::new(
            404,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        ));
    }
    let body = cx.body.clone().unwrap_or(Value::Null);
    let Some(message) = body.get("Message").filter(|m| m.is_object()) else {
        return Err(GraphError::new(
            400,
            "ErrorInvalidParameter",
            "The value of the parameter 'Message' is empty.",
        ));
    };
    let recipients = ["toRecipients", "ccRecipients", "bccRecipients"]
        .iter()
        .filter_map(|k| message[*k].as_array())
        .flatten()
        .count();
    if recipients == 0 {
        return Err(GraphError::new(
            400,
            "ErrorInvalidRecipients",
            "At least one recipient is required, but none were found.",
        ));
    }
    let sender = cx.st.users[i].upn().to_string();
    let now = clock::graph(cx.st.now());
    cx.st.sent_mail.push(json!({
        "sender": sender,
        "senderId": cx.st.users[i].id(),
        "sentDateTime": now,
        "saveToSentItems": body.get("SaveToSentItems").cloned().unwrap_or(Value::Null),
        "message": message,
    }));
    Ok(Reply::status(202))
}
