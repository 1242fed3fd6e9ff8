//! Load: 50 concurrent TAP requests for 50 different users, then
//! a fixed number of mixed requests (TAP, reset dry runs, phones, failures,
//! audit) from 16 concurrent clients through Spin against graph-sim on
//! loopback: requests per second, p50/p99, errors (must be 0) and Graph
//! writes per logical operation (must be 1). Prints figures only.
//!
//! `cargo bench -p mfa-tests --bench load` (BENCH_REQUESTS, default 600).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mfa_tests::{demo, fixture_user, Stack};
use serde_json::{json, Value};

const USERS: usize = 50;

fn upn(i: usize) -> String {
    format!("load{i:02}@contoso.com")
}

fn post(stack: &Stack, path: &str, key: &str, body: &Value) -> (u16, Duration) {
    let auth = format!("Bearer {key}");
    let t = Instant::now();
    let r = stack
        .spin
        .client()
        .post_json(path, body, &[("authorization", auth.as_str())]);
    (r.status, t.elapsed())
}

fn get(stack: &Stack, path: &str) -> (u16, Duration) {
    let auth = format!("Bearer {}", demo::admin_key());
    let t = Instant::now();
    let r = stack
        .spin
        .client()
        .send("GET", path, &[("authorization", auth.as_str())], None);
    (r.status, t.elapsed())
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3
}

fn main() {
    let total: usize = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    std::env::set_var("SIM_RELEASE", "1");
    let stack = Stack::start(&[(
        "rate_limits",
        "{\"callerPerMinute\":null,\"callerMutationsPerDay\":null,\"tapPerUserPerDay\":null,\"resetPerUserPerDay\":null,\"phonePerUserPerDay\":null}",
    )]);
    stack.sim.reseed(|f| {
        let bob = fixture_user(f, "bob@contoso.com").clone();
        let ids: Vec<String> = (0..USERS)
            .map(|i| format!("0000{i:04}-0000-4000-8000-00000000{i:04}"))
            .collect();
        // The clones are in Bob's groups (the TAP policy targets one).
        for g in f["groups"].as_array_mut().unwrap() {
            let members = g["members"].as_array_mut().unwrap();
            if members.contains(&bob["id"]) {
                members.extend(ids.iter().map(|id| json!(id)));
            }
        }
        let users = f["users"].as_array_mut().unwrap();
        for (i, id) in ids.iter().enumerate() {
            let mut u = bob.clone();
            u["id"] = json!(id);
            u["userPrincipalName"] = json!(upn(i));
            u["displayName"] = json!(format!("Load {i}"));
            u["mail"] = json!(upn(i));
            users.push(u);
        }
        f["throttle"] = json!({ "reportsMaxRequests": 100000, "reportsWindowSeconds": 1 });
    });
    let _ = get(&stack, "/readyz");

    // 50 concurrent passes for 50 different users.
    stack.sim.clear_requests();
    let t = Instant::now();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..USERS)
            .map(|i| {
                let stack = &stack;
                s.spawn(move || {
                    post(
                        stack,
                        "/v1/tap",
                        demo::admin_key(),
                        &json!({ "user": upn(i), "ticket": "LOAD" }),
                    )
                    .0
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let burst = t.elapsed();
    let created = stack
        .sim
        .requests()
        .iter()
        .filter(|r| {
            r["method"] == "POST"
                && r["path"]
                    .as_str()
                    .unwrap()
                    .ends_with("/temporaryAccessPassMethods")
        })
        .count();

    // Mixed traffic.
    stack.sim.clear_requests();
    let next = AtomicUsize::new(0);
    let counts = [
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    ];
    let t = Instant::now();
    let results: Vec<(usize, u16, Duration)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..16)
            .map(|_| {
                let (stack, next, counts) = (&stack, &next, &counts);
                s.spawn(move || {
                    let mut out = Vec::new();
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        if n >= total {
                            return out;
                        }
                        let kind = n % 5;
                        counts[kind].fetch_add(1, Ordering::Relaxed);
                        let user = upn(n % USERS);
                        let (status, d) = match kind {
                            0 => post(stack, "/v1/tap", demo::admin_key(), &json!({ "user": user, "ticket": "MIX", "replaceExisting": true })),
                            1 => post(stack, "/v1/reset", demo::admin_key(), &json!({ "user": user, "ticket": "MIX", "dryRun": true })),
                            2 => post(stack, "/v1/phone", demo::admin_key(), &json!({ "user": user, "ticket": "MIX", "phoneNumber": format!("+1 206 555 {:04}", n % USERS), "replaceExisting": true })),
                            3 => get(stack, "/v1/failures?since=PT24H"),
                            _ => get(stack, "/v1/audit?limit=20"),
                        };
                        out.push((kind, status, d));
                    }
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let elapsed = t.elapsed();
    let log = stack.sim.requests();
    let writes = |suffix: &str, method: &str| {
        log.iter()
            .filter(|r| r["method"] == method && r["path"].as_str().unwrap().ends_with(suffix))
            .count()
    };
    let errors = results.iter().filter(|(_, s, _)| *s >= 300).count();
    let mut all: Vec<Duration> = results.iter().map(|r| r.2).collect();
    let taps = counts[0].load(Ordering::Relaxed);
    let phones = counts[2].load(Ordering::Relaxed);
    let phone_writes =
        writes("/phoneMethods", "POST") + log.iter().filter(|r| r["method"] == "PATCH").count();
    let phone_changes = results
        .iter()
        .filter(|(k, s, _)| *k == 2 && *s == 201)
        .count()
        + results
            .iter()
            .filter(|(k, s, _)| *k == 2 && *s == 200)
            .count();

    println!(
        "mfa-recovery load benchmark (Spin + graph-sim release build on loopback, zero latency)\n"
    );
    println!(
        "50 concurrent POST /v1/tap for 50 users: {} x 201 of {}, {created} Graph creates, {:.2} s",
        statuses.iter().filter(|s| **s == 201).count(),
        statuses.len(),
        burst.as_secs_f64()
    );
    println!(
        "mixed traffic, 16 clients, {total} requests ({taps} tap, {} reset dry runs, {phones} phone, {} failures, {} audit):",
        counts[1].load(Ordering::Relaxed),
        counts[3].load(Ordering::Relaxed),
        counts[4].load(Ordering::Relaxed)
    );
    println!(
        "  {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, errors {errors}",
        total as f64 / elapsed.as_secs_f64(),
        pct(&mut all, 0.5),
        pct(&mut all, 0.99)
    );
    println!(
        "  Graph writes per logical operation: TAP creates {:.2} per issuance; phone writes {phone_writes} for {phone_changes} phone requests (unchanged ones write nothing); reset dry runs wrote {}",
        writes("/temporaryAccessPassMethods", "POST") as f64 / taps as f64,
        writes("/revokeSignInSessions", "POST")
    );
}
