//! Entra ID token benchmark: what checking an access token costs a request
//! (signing keys cached), next to the same request with an API key, both
//! through Spin against a zero-latency simulator. Prints figures only.
//!
//! `cargo bench -p mfa-tests --bench entra` (BENCH_REPEATS, default 200).

use std::time::{Duration, Instant};

use mfa_tests::{demo, Stack};
use serde_json::json;

fn median_ms(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

fn timed(stack: &Stack, credential: &str, repeats: usize) -> Vec<Duration> {
    let auth = format!("Bearer {credential}");
    (0..repeats)
        .map(|_| {
            let t = Instant::now();
            let r = stack.spin.client().send(
                "GET",
                "/v1/audit?limit=1",
                &[("authorization", auth.as_str())],
                None,
            );
            assert_eq!(r.status, 200, "{}", r.body);
            t.elapsed()
        })
        .collect()
}

fn main() {
    let repeats: usize = std::env::var("BENCH_REPEATS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let stack = Stack::start(&[
        ("entra_audience", "api://mfa-recovery"),
        ("rate_limits", "{\"callerPerMinute\":null}"),
    ]);
    let token = stack.sim.token(json!({ "roles": ["Audit.Read"] }));
    println!("mfa-recovery Entra ID token benchmark (GET /v1/audit?limit=1, Spin + graph-sim on loopback)");
    // Warm both paths (the first token request reads and seals the keys).
    timed(&stack, &token, 5);
    timed(&stack, demo::reader_key(), 5);
    let mut key = Vec::new();
    let mut entra = Vec::new();
    // Interleaved, so both see the same machine.
    for _ in 0..repeats / 10 {
        key.extend(timed(&stack, demo::reader_key(), 10));
        entra.extend(timed(&stack, &token, 10));
    }
    let (k, e) = (median_ms(key), median_ms(entra));
    println!("  API key            median {k:.2} ms");
    println!(
        "  Entra ID token     median {e:.2} ms  (+{:.2} ms: parse, sealed key read, RS256 verify)",
        e - k
    );
    println!(
        "  signing-key reads  {} (one for the whole run)",
        stack.sim.key_reads()
    );
}
