//! Reset and phone benchmark: Graph round trips per reset as a
//! function of how many methods the user has (1, 3, 8, 12), and per phone
//! addition, counted from graph-sim's request log; latency of each through
//! Spin against a zero-latency simulator. Prints figures only.
//!
//! `cargo bench -p mfa-tests --bench reset_phone` (BENCH_REPEATS, default 20).

use std::time::{Duration, Instant};

use mfa_tests::{copy_methods, demo, Stack, Traffic};
use serde_json::{json, Value};

const BOB: &str = "bob@contoso.com";

/// The order methods are given to the benchmark user: Alice's, the
/// default (Authenticator) first so every size has one.
const TYPES: [&str; 12] = [
    "microsoftAuthenticator",
    "fido2",
    "email",
    "softwareOath",
    "windowsHelloForBusiness",
    "platformCredential",
    "phone:office",
    "phone:mobile",
    "external",
    "qrCodePin",
    "phone:alternateMobile",
    "hardwareOath",
];

/// Gives Bob the first `n` of Alice's methods (and her default).
fn seed_bob(stack: &Stack, n: usize) {
    stack
        .sim
        .reseed(|f| copy_methods(f, "alice@contoso.com", BOB, &TYPES[..n]));
}

fn post(stack: &Stack, path: &str, body: Value) -> (u16, Value, Duration) {
    let auth = format!("Bearer {}", demo::admin_key());
    let t = Instant::now();
    let r = stack
        .spin
        .client()
        .post_json(path, &body, &[("authorization", auth.as_str())]);
    let d = t.elapsed();
    (r.status, r.json(), d)
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

fn line(what: &str, t: Traffic, ms: f64) {
    println!(
        "  {what:<34} {:>2} round trips ({} $batch, {} writes, {} token)  median {ms:.2} ms",
        t.round_trips, t.batches, t.writes, t.tokens
    );
}

fn main() {
    let repeats: usize = std::env::var("BENCH_REPEATS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    // Limits off: this measures the operations, not the guard rails.
    let stack = Stack::start(&[(
        "rate_limits",
        "{\"callerPerMinute\":null,\"callerMutationsPerDay\":null,\"resetPerUserPerDay\":null,\"phonePerUserPerDay\":null}",
    )]);

    println!("mfa-recovery reset and phone benchmark (Spin + graph-sim on loopback, zero latency)");
    println!("warm token and role-holder caches; {repeats} runs each\n");
    println!("POST /v1/reset, by the number of methods the user has (besides the password)");
    for n in [1, 3, 8, 12] {
        let mut times = Vec::new();
        let mut traffic = None;
        for _ in 0..repeats {
            seed_bob(&stack, n);
            // Warms the token the reseed invalidated; a dry run writes nothing.
            let (s, _, _) = post(
                &stack,
                "/v1/reset",
                json!({ "user": BOB, "ticket": "B", "dryRun": true }),
            );
            assert_eq!(s, 200);
            stack.sim.clear_requests();
            let (s, b, d) = post(&stack, "/v1/reset", json!({ "user": BOB, "ticket": "B" }));
            assert_eq!(s, 200, "{b}");
            assert_eq!(b["removed"].as_array().unwrap().len(), n, "{b}");
            times.push(d);
            traffic.get_or_insert(stack.sim.traffic());
        }
        line(
            &format!("{n:>2} method(s)"),
            traffic.unwrap(),
            median(times),
        );
    }
    println!("  (= the reads' $batch, beta's hardware OATH list and signInPreferences beside it;");
    println!(
        "     one $batch of chained deletions, beta's deletions beside it; one $batch for the"
    );
    println!("     default, revokeSignInSessions and the re-read: the last two one without beta;");
    println!("     run the reset_latency bench for the round trips a caller waits for)");

    println!("\nPOST /v1/phone");
    let mobile = json!({ "phoneNumber": "+1 (206) 555-0100" });
    // (what, requests made first, the measured request)
    let cases: [(&str, Vec<Value>, Value); 5] = [
        ("add a mobile", vec![], mobile.clone()),
        (
            "add a mobile with smsSignIn",
            vec![],
            json!({ "phoneNumber": "+1 (206) 555-0100", "smsSignIn": true }),
        ),
        (
            "same number again (unchanged)",
            vec![mobile.clone()],
            json!({ "phoneNumber": "+12065550100" }),
        ),
        (
            "replace it (replaceExisting)",
            vec![mobile.clone()],
            json!({ "phoneNumber": "+1 206 555 0101", "replaceExisting": true }),
        ),
        (
            "add an office with extension",
            vec![],
            json!({ "phoneNumber": "+1 425 555 0134 x12", "phoneType": "office" }),
        ),
    ];
    let with_bob = |mut b: Value| {
        b["user"] = json!(BOB);
        b["ticket"] = json!("B");
        b
    };
    for (what, before, measured) in cases {
        let mut times = Vec::new();
        let mut traffic = None;
        for _ in 0..repeats {
            seed_bob(&stack, 0);
            // Warms the token the reseed invalidated; a dry run writes nothing.
            post(&stack, "/v1/reset", with_bob(json!({ "dryRun": true })));
            for b in &before {
                assert_eq!(post(&stack, "/v1/phone", with_bob(b.clone())).0, 201);
            }
            stack.sim.clear_requests();
            let (s, b, d) = post(&stack, "/v1/phone", with_bob(measured.clone()));
            assert!(s == 200 || s == 201, "{what}: {b}");
            times.push(d);
            traffic.get_or_insert(stack.sim.traffic());
        }
        line(what, traffic.unwrap(), median(times));
    }
    println!("  (= one $batch of reads + the POST or PATCH; enableSmsSignIn adds one when asked)");
}
