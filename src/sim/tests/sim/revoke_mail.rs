//! Rules 7 and 10: revokeSignInSessions and sendMail.

use serde_json::{json, Value};

use crate::common::*;

#[test]
fn revoke_sets_valid_from() {
    let s = Sim::start();
    let before = s.user_state(BOB)["signInSessionsValidFromDateTime"].clone();
    let r = s.send_empty("POST", &format!("/v1.0/users/{BOB}/revokeSignInSessions"));
    r.expect(200, "");
    assert_eq!(r.body["value"], true);
    assert!(r.body["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("$metadata#Edm.Boolean"));
    let after = s.user_state(BOB)["signInSessionsValidFromDateTime"].clone();
    assert_ne!(before, after);
    assert_eq!(
        after.as_str().unwrap()[..10],
        s.state()["now"].as_str().unwrap()[..10]
    );
    s.send_empty("POST", "/v1.0/users/ghost@contoso.com/revokeSignInSessions")
        .expect(404, "Request_ResourceNotFound");
    s.send_empty("GET", &format!("/v1.0/users/{BOB}/revokeSignInSessions"))
        .expect(405, "Request_BadRequest");
}

fn mail(to: &str) -> Value {
    json!({
        "message": {
            "subject": "Your sign-in methods changed",
            "body": {"contentType": "Text", "content": "A Temporary Access Pass was issued."},
            "toRecipients": [{"emailAddress": {"address": to}}]
        },
        "saveToSentItems": false
    })
}

#[test]
fn send_mail_is_stored() {
    let s = Sim::start();
    let r = s.send(
        "POST",
        "/v1.0/users/mfa-notify@contoso.com/sendMail",
        &mail("megan@contoso.com"),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let sent = s.state()["sentMail"].clone();
    assert_eq!(sent.as_array().unwrap().len(), 1);
    assert_eq!(sent[0]["sender"], "mfa-notify@contoso.com");
    assert_eq!(
        sent[0]["message"]["toRecipients"][0]["emailAddress"]["address"],
        "megan@contoso.com"
    );
}

#[test]
fn send_mail_refusals() {
    let s = Sim::start();
    s.send(
        "POST",
        &format!("/v1.0/users/{FRANK}/sendMail"),
        &mail("a@b.c"),
    )
    .expect(404, "MailboxNotEnabledForRESTAPI");
    s.send(
        "POST",
        "/v1.0/users/ghost@contoso.com/sendMail",
        &mail("a@b.c"),
    )
    .expect(404, "Request_ResourceNotFound");
    let mut m = mail("a@b.c");
    m["message"]["importanceLevel"] = json!("high");
    s.send("POST", "/v1.0/users/mfa-notify@contoso.com/sendMail", &m)
        .expect(400, "BadRequest");
    s.send(
        "POST",
        "/v1.0/users/mfa-notify@contoso.com/sendMail",
        &json!({"message": {"subject": "x"}}),
    )
    .expect(400, "ErrorInvalidRecipients");
    s.send(
        "POST",
        "/v1.0/users/mfa-notify@contoso.com/sendMail",
        &json!({"mail": {}}),
    )
    .expect(400, "BadRequest");
    assert_eq!(s.state()["sentMail"], json!([]));
}
