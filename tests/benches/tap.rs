//! TAP benchmark: Graph round trips per issuance, cold and with
//! warm token and role-holder caches, counted from graph-sim's request log;
//! token requests per 1,000 issuances; p50/p99 latency of `POST /v1/tap`
//! through Spin against a zero-latency simulator. Prints figures only.
//!
//! `cargo bench -p mfa-tests --bench tap` (BENCH_ISSUANCES, default 1000).

use std::time::{Duration, Instant};

use mfa_tests::{demo, Stack};
use serde_json::json;

fn issue(stack: &Stack, user: &str) -> Duration {
    let auth = format!("Bearer {}", demo::admin_key());
    let t = Instant::now();
    let r = stack.spin.client().post_json(
        "/v1/tap",
        &json!({ "user": user, "ticket": "BENCH", "replaceExisting": true }),
        &[("authorization", auth.as_str())],
    );
    let d = t.elapsed();
    assert_eq!(r.status, 201, "{}", r.body);
    d
}

fn main() {
    let n: usize = std::env::var("BENCH_ISSUANCES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    // Limits off: this measures the operation, not the guard rails.
    let stack = Stack::start(&[(
        "rate_limits",
        "{\"callerPerMinute\":null,\"callerMutationsPerDay\":null,\"tapPerUserPerDay\":null}",
    )]);

    issue(&stack, "alice@contoso.com");
    let cold = stack.sim.traffic();
    stack.sim.clear_requests();
    issue(&stack, "bob@contoso.com");
    let warm = stack.sim.traffic();
    stack.sim.clear_requests();

    let mut lat: Vec<Duration> = (0..n)
        .map(|i| {
            issue(
                &stack,
                if i % 2 == 0 {
                    "alice@contoso.com"
                } else {
                    "bob@contoso.com"
                },
            )
        })
        .collect();
    let tokens = stack.sim.traffic().tokens;
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;

    println!("mfa-recovery TAP benchmark (Spin + graph-sim on loopback, zero latency)");
    println!();
    println!("Graph round trips per issuance (HTTP requests; $batch counts once)");
    println!(
        "  cold (no token, no role-holder cache): {:>2} ({} $batch, {} token)",
        cold.round_trips, cold.batches, cold.tokens
    );
    println!(
        "  warm token and caches:                 {:>2} ({} $batch, {} token)",
        warm.round_trips, warm.batches, warm.tokens
    );
    println!("    (warm = one $batch of reads and the create; replacing a pass adds one DELETE)");
    println!();
    println!(
        "token requests over {n} issuances: {tokens} (per 1,000: {:.1})",
        tokens as f64 * 1000.0 / n as f64
    );
    println!(
        "POST /v1/tap latency over {n}: p50 {:.2} ms, p99 {:.2} ms",
        pct(0.50),
        pct(0.99)
    );
}
