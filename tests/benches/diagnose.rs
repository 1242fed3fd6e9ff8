//! Diagnose benchmark: Graph round trips per `GET /v1/diagnose`
//! (aim: one `$batch`, plus sign-in pages when there are many failures)
//! and its latency through Spin against a zero-latency simulator, counted
//! from graph-sim's request log. Prints figures only.
//!
//! `cargo bench -p mfa-tests --bench diagnose` (BENCH_REPEATS, default 20).

use std::time::{Duration, Instant};

use mfa_tests::{demo, Stack, Traffic};
use serde_json::{json, Value};

const BOB_ID: &str = "48b85567-7c29-53ed-b888-e7aef7ddc561";

fn get(stack: &Stack, user: &str) -> (u16, Value, Duration) {
    let auth = format!("Bearer {}", demo::helpdesk_key());
    let t = Instant::now();
    let r = stack.spin.client().send(
        "GET",
        &format!("/v1/diagnose?user={user}"),
        &[("authorization", auth.as_str())],
        None,
    );
    (r.status, r.json(), t.elapsed())
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

/// Bob fails MFA `n` times in the last days.
fn failing(stack: &Stack, n: usize) {
    stack.sim.reseed(|f| {
        let events: Vec<Value> = (0..n)
            .map(|i| {
                json!({ "userId": BOB_ID, "createdDateTime": format!("now-{}m", 1 + i % 5000),
                        "status": { "errorCode": 500121 }, "ipAddress": "198.51.100.7" })
            })
            .collect();
        f["signIns"] = json!({ "events": events });
        // This measures diagnose, not Graph's reports throttle (5 per 10 s).
        f["throttle"] = json!({ "reportsMaxRequests": 100000, "reportsWindowSeconds": 1 });
    });
}

fn line(what: &str, t: Traffic, pages: &str, ms: f64) {
    println!(
        "  {what:<40} {} HTTP requests ({} $batch, {} writes, {} token){pages}  median {ms:.2} ms",
        t.round_trips, t.batches, t.writes, t.tokens
    );
}

fn main() {
    let repeats: usize = std::env::var("BENCH_REPEATS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let stack = Stack::start(&[("rate_limits", "{\"callerPerMinute\":null}")]);
    println!("mfa-recovery diagnose benchmark (Spin + graph-sim on loopback, zero latency)");

    // First call after start: no token, no role-holder cache.
    stack.sim.clear_requests();
    let (s, b, d) = get(&stack, "alice@contoso.com");
    assert_eq!(s, 200, "{b}");
    line(
        "cold (token + role holders in the $batch)",
        stack.sim.traffic(),
        "",
        d.as_secs_f64() * 1e3,
    );

    println!("warm token and role-holder caches; {repeats} runs each");
    for n in [5, 2_500] {
        failing(&stack, n);
        get(&stack, "bob@contoso.com"); // the reseed forgot the token
        let mut times = Vec::new();
        let mut traffic = None;
        let mut total = 0;
        for _ in 0..repeats {
            stack.sim.clear_requests();
            let (s, b, d) = get(&stack, "bob@contoso.com");
            assert_eq!(s, 200, "{b}");
            total = b["recentFailures"]["total"].as_u64().unwrap();
            times.push(d);
            traffic.get_or_insert(stack.sim.traffic());
        }
        let t = traffic.unwrap();
        // Beside the $batch: the beta signInPreferences read (concurrent);
        // after it: one request per further sign-in page.
        let pages = t.round_trips.saturating_sub(t.batches + t.tokens + 1);
        line(
            &format!("{n:>5} failures in the window (read {total})"),
            t,
            &format!(", {pages} further sign-in page(s)"),
            median(times),
        );
    }
    println!("  (= one v1.0 $batch of 7 reads + beta signInPreferences sent beside it; sign-in");
    println!("     pages of 1,000 after the first are followed in turn; no write, ever)");
}
