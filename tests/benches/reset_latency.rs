//! Reset against a Graph that costs a round trip: graph-sim delays every
//! top-level request (Graph call, `$batch` envelope, token request) by
//! `BENCH_LATENCY_MS` (default 100, production sees 100-300 ms), and this
//! prints, per user, the p50 of `POST /v1/reset` through Spin, the
//! sequential round trips counted from graph-sim's request log (requests in
//! flight together count once), the floor (3 round trips x the latency)
//! and p50 / floor. Prints figures only.
//!
//! `cargo bench -p mfa-tests --bench reset_latency` (BENCH_REPEATS, default 20).

use std::time::{Duration, Instant};

use mfa_tests::{copy_methods, demo, fixture_user, Stack, Traffic};
use serde_json::{json, Value};

const ALICE: &str = "alice@contoso.com";
const BOB: &str = "bob@contoso.com";
/// The round trips reset is allowed: reads, deletions, revocation + re-read.
const BUDGET: usize = 3;

/// Alice's methods but the password, in the order Bob is given them (her
/// default, the Authenticator, first so every size has one).
const TYPES: [&str; 8] = [
    "microsoftAuthenticator",
    "fido2",
    "email",
    "softwareOath",
    "windowsHelloForBusiness",
    "platformCredential",
    "phone:office",
    "phone:mobile",
];

/// Gives Bob the first `n` of Alice's methods and her default.
fn seed_bob(f: &mut Value, n: usize) {
    copy_methods(f, ALICE, BOB, &TYPES[..n]);
}

fn post(stack: &Stack, body: Value) -> (u16, Value, Duration) {
    let auth = format!("Bearer {}", demo::admin_key());
    let t = Instant::now();
    let r = stack
        .spin
        .client()
        .post_json("/v1/reset", &body, &[("authorization", auth.as_str())]);
    let d = t.elapsed();
    (r.status, r.json(), d)
}

fn p50(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

fn main() {
    let repeats: usize = std::env::var("BENCH_REPEATS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let latency: u64 = std::env::var("BENCH_LATENCY_MS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    // Limits off: this measures the operation, not the guard rails.
    let stack = Stack::start(&[(
        "rate_limits",
        "{\"callerPerMinute\":null,\"callerMutationsPerDay\":null,\"resetPerUserPerDay\":null}",
    )]);
    stack.sim.latency(latency);
    let floor = (BUDGET as u64 * latency) as f64;

    println!(
        "mfa-recovery reset benchmark (Spin + graph-sim on loopback, {latency} ms per Graph round trip)"
    );
    println!(
        "warm token and role-holder caches; {repeats} runs each; floor = {BUDGET} round trips x {latency} ms = {floor:.0} ms\n"
    );
    println!(
        "  {:<52} {:>10} {:>8} {:>9} {:>9} {:>6}",
        "POST /v1/reset of", "sequential", "requests", "p50 ms", "floor ms", "ratio"
    );
    type Seed = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(String, &str, usize, Seed)> = vec![
        (
            "alice: every method type (12, two through beta)".into(),
            ALICE,
            12,
            Box::new(|_| {}),
        ),
        (
            "alice, signInPreferences unreadable (default deferred)".into(),
            ALICE,
            12,
            Box::new(|f| fixture_user(f, ALICE)["signInPreferencesUnreadable"] = json!(true)),
        ),
        ("bob: 1 method".into(), BOB, 1, Box::new(|f| seed_bob(f, 1))),
        (
            "bob: 8 methods (v1.0 only)".into(),
            BOB,
            8,
            Box::new(|f| seed_bob(f, 8)),
        ),
    ];
    for (what, user, removed, seed) in cases {
        let mut times = Vec::new();
        let mut traffic: Option<Traffic> = None;
        for _ in 0..repeats {
            stack.sim.reseed(|f| seed(f));
            // Warms the token the reseed invalidated; a dry run writes nothing.
            let (s, b, _) = post(
                &stack,
                json!({ "user": user, "ticket": "B", "dryRun": true }),
            );
            assert_eq!(s, 200, "{b}");
            stack.sim.clear_requests();
            let (s, b, d) = post(&stack, json!({ "user": user, "ticket": "B" }));
            assert_eq!(s, 200, "{b}");
            assert_eq!(b["removed"].as_array().unwrap().len(), removed, "{b}");
            times.push(d);
            let t = stack.sim.traffic();
            // The worst run's count: every run must fit.
            if traffic.is_none_or(|w| t.sequential > w.sequential) {
                traffic = Some(t);
            }
        }
        let t = traffic.unwrap();
        let ms = p50(times);
        println!(
            "  {what:<52} {:>10} {:>8} {ms:>9.1} {floor:>9.0} {:>5.2}x",
            t.sequential,
            t.round_trips,
            ms / floor
        );
    }
    println!("\n  (sequential: the longest chain of Graph requests each sent after the previous");
    println!("   one was answered, the worst of the runs; requests: every top-level request)");
}
