//! No secret of the configuration reaches a response or a log line.

use mfa_tests::{demo, demo_app};

use crate::stack;

#[test]
fn configuration_secrets_never_reach_logs_or_bodies() {
    let (_sim, app) = stack(&[]);
    let c = app.client();
    let mut bodies = String::new();
    for path in ["/healthz", "/readyz", "/nope", "/v1/tap"] {
        bodies.push_str(&c.get(path).body);
    }
    bodies.push_str(
        &c.send(
            "GET",
            "/readyz",
            &[("authorization", &format!("Bearer {}", demo::ADMIN_KEY))],
            None,
        )
        .body,
    );
    let logs = app.logs();
    assert!(
        logs.contains("\"path\":\"/readyz\""),
        "component log captured: {logs}"
    );
    for secret in [
        demo_app().client_secret.as_str(),
        demo::HELPDESK_KEY,
        demo::ADMIN_KEY,
        demo::READER_KEY,
        demo::WEBHOOK_SECRET,
        &demo::WEBHOOK_SECRET["whsec_".len()..],
    ] {
        assert!(!logs.contains(secret), "secret in logs");
        assert!(!bodies.contains(secret), "secret in a body");
    }
}
