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
            &[("authorization", &format!("Bearer {}", demo::admin_key()))],
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
        demo::helpdesk_key(),
        demo::admin_key(),
        demo::reader_key(),
        demo::webhook_secret(),
        &demo::webhook_secret()["whsec_".len()..],
    ] {
        assert!(!logs.contains(secret), "secret in logs");
        assert!(!bodies.contains(secret), "secret in a body");
    }
}
