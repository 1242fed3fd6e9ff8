//! Hostile input, property-tested: every parser of untrusted input (request
//! bodies, user references, `Idempotency-Key`, webhook and bearer headers,
//! report queries) answers a typed refusal, never a panic, and nothing it
//! accepts breaks the invariants later steps trust.
//!
//! Case counts follow `PROPTEST_CASES` (default 256 per property here; CI's
//! run); `scripts/fuzz` runs them far longer.

use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;

use crate::api::input::parse_json;
use crate::api::ErrorCode;
use crate::audit::{AuditQuery, VerifyQuery};
use crate::config::Config;
use crate::ops::add_phone::PhoneInput;
use crate::ops::diagnose::DiagnoseQuery;
use crate::ops::failures::FailuresQuery;
use crate::ops::issue_tap::TapInput;
use crate::ops::reset::ResetInput;
use crate::testing::World;
use crate::types::{IdempotencyKey, Instant, UserRef};

/// JSON-ish bytes: mostly well-formed objects with the contract's member
/// names and hostile values, sometimes raw noise.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let name = prop::sample::select(vec![
        "user",
        "ticket",
        "reason",
        "lifetimeInMinutes",
        "isUsableOnce",
        "startDateTime",
        "replaceExisting",
        "methodTypes",
        "revokeSessions",
        "dryRun",
        "phoneNumber",
        "phoneType",
        "smsSignIn",
        "verification",
        "method",
        "x",
    ]);
    let value = prop_oneof![
        "\\PC{0,40}".prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        any::<bool>().prop_map(serde_json::Value::from),
        Just(serde_json::Value::Null),
        Just(serde_json::json!(["phone", "sms", 1])),
        Just(serde_json::json!({ "method": "callback", "reference": "x" })),
    ];
    prop_oneof![
        4 => prop::collection::btree_map(name, value, 0..8)
            .prop_map(|m| serde_json::to_vec(&m).unwrap()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
    ]
}

fn four_xx(code: ErrorCode) -> bool {
    code.status().is_client_error()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn request_bodies_parse_or_are_refused_with_a_4xx(b in body()) {
        if let Err(p) = parse_json::<TapInput>(&b) { prop_assert!(four_xx(p.code)); }
        if let Err(p) = parse_json::<ResetInput>(&b) { prop_assert!(four_xx(p.code)); }
        if let Err(p) = parse_json::<PhoneInput>(&b) { prop_assert!(four_xx(p.code)); }
    }

    /// An accepted reference never lets a `/`, `?`, `#` or space reach the
    /// Graph path unencoded.
    #[test]
    fn user_references_encode_safely(s in "\\PC{0,80}") {
        if let Ok(u) = UserRef::parse(&s) {
            let seg = u.graph_segment();
            prop_assert!(!seg[1..].contains(['/', '?', '#', ' ']), "{s:?} -> {seg}");
        }
    }

    #[test]
    fn idempotency_keys_are_printable_ascii(s in "\\PC{0,300}") {
        if let Ok(k) = IdempotencyKey::parse(&s) {
            prop_assert!((1..=255).contains(&k.as_str().len()));
            prop_assert!(k.as_str().bytes().all(|b| b.is_ascii_graphic() || b == b' '));
        }
    }

    /// Arbitrary credentials: a refusal, never a caller, never a panic.
    #[test]
    fn forged_headers_are_refused(
        auth in "\\PC{0,80}",
        id in "\\PC{0,40}",
        ts in "[0-9]{0,12}|\\PC{0,12}",
        sig in "(v1,[A-Za-z0-9+/=]{0,60} ?){0,3}|\\PC{0,60}",
        body in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut w = World::configured();
        w.vars.insert(
            "callers".into(),
            r#"[{"id":"k","keySha256":"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8","scopes":["tap"]},
                {"id":"hook","webhookSecret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw","scopes":["tap"]}]"#.into(),
        );
        let config = Config::load(&w.vars).unwrap();
        let mut h = HeaderMap::new();
        for (name, value) in [("authorization", &auth), ("webhook-id", &id), ("webhook-timestamp", &ts), ("webhook-signature", &sig)] {
            if let Ok(v) = HeaderValue::from_str(value) {
                if !value.is_empty() {
                    h.insert(HeaderName::from_static(name), v);
                }
            }
        }
        // "password" is the one configured key; a generated header equal to
        // it would be a right answer, not a forgery.
        prop_assume!(auth != "Bearer password");
        prop_assert!(futures::executor::block_on(crate::auth::authenticate(&config, &h, &body, crate::auth::webhook::Destination::Mutation("tap"), &w.host())).is_err());
    }

    #[test]
    fn report_queries_parse_or_name_a_field(raw in "([a-zA-Z]{0,12}=[\\PC&&[^&]]{0,24}&?){0,5}") {
        let now = Instant::parse("2026-12-01T12:00:00Z").unwrap();
        if let Err(p) = FailuresQuery::parse(&raw, now) {
            prop_assert!(four_xx(p.code));
            prop_assert!(p.extensions.contains_key("field"), "{raw}: {}", p.detail);
        }
        if let Err(e) = AuditQuery::from_query(&raw) {
            prop_assert!(four_xx(e.code()), "{raw}: {e}");
        }
        match DiagnoseQuery::parse(&raw) {
            Err(p) => {
                prop_assert!(four_xx(p.code));
                prop_assert!(p.extensions.contains_key("field"), "{raw}: {}", p.detail);
            }
            // What is accepted is what the reads trust.
            Ok(q) => prop_assert!((1..=30).contains(&q.days)),
        }
    }

    /// Power Automate sends an optional parameter left empty as `x=`:
    /// every query reader takes it as absent, whichever parameters it is
    /// and whatever else the query holds.
    #[test]
    fn an_empty_parameter_is_an_absent_one(mask in 0u32..128, days in 1u32..=30) {
        let empties = |names: &[&str], skip: &str| -> String {
            names
                .iter()
                .enumerate()
                .filter(|(i, n)| mask >> i & 1 == 1 && **n != skip)
                .map(|(_, n)| format!("&{n}="))
                .collect()
        };
        let now = Instant::parse("2026-12-01T12:00:00Z").unwrap();
        let failures = |raw: &str| format!("{:?}", FailuresQuery::parse(raw, now));
        prop_assert_eq!(
            failures(&format!("minFailures=2{}", empties(&FailuresQuery::NAMES, "minFailures"))),
            failures("minFailures=2")
        );
        let diagnose = |raw: &str| format!("{:?}", DiagnoseQuery::parse(raw));
        prop_assert_eq!(
            diagnose(&format!("user=bob@contoso.com{}", empties(&DiagnoseQuery::NAMES, "user"))),
            diagnose("user=bob@contoso.com&days=7")
        );
        prop_assert_eq!(
            diagnose(&format!("days={days}{}", empties(&DiagnoseQuery::NAMES, "days"))),
            diagnose(&format!("days={days}&user="))
        );
        prop_assert_eq!(
            AuditQuery::from_query(&empties(&AuditQuery::NAMES, "")),
            Ok(AuditQuery::default())
        );
        prop_assert_eq!(
            VerifyQuery::from_query(&empties(&VerifyQuery::NAMES, "")),
            Ok(VerifyQuery::default())
        );
    }

    #[test]
    fn diagnose_queries_with_a_user_and_days_parse(user in "[a-z]{1,12}@[a-z]{1,8}\\.com", days in 1u32..=30) {
        let q = DiagnoseQuery::parse(&format!("user={user}&days={days}")).unwrap();
        prop_assert_eq!((q.user.as_str(), q.days), (user.as_str(), days));
    }
}
