//! Failures store benchmark: a busy tenant's month under Graph's reports
//! throttle (5 requests per 10 s, FACTS §7), read into the store by
//! `POST /v1/failures/refresh` calls as a scheduler would make them, then
//! answered from the store (each answer reading only the newest page). Prints the calls until the 30 days are
//! stored, events per second, the p50 of a complete 30-day answer, the
//! store's rows, and the component instance's peak memory. Prints figures
//! only (release builds of Spin components and graph-sim).
//!
//! `cargo bench -p mfa-tests --bench failures_store` (BENCH_EVENTS, default
//! 1,000,000; BENCH_USERS, default 10,000; BENCH_BURST sign-ins per
//! failing streak, default 10; BENCH_RUNS answers timed, default 20). At
//! Graph's throttle a million events take about forty minutes to read.

use std::time::{Duration, Instant};

use mfa_tests::{demo, fixture_user, Stack};
use serde_json::{json, Value};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn main() {
    let events = env("BENCH_EVENTS", 1_000_000);
    let users = env("BENCH_USERS", 10_000);
    let burst = env("BENCH_BURST", 10);
    let runs = env("BENCH_RUNS", 20) as usize;
    std::env::set_var("SIM_RELEASE", "1");
    let stack = Stack::start(&[("rate_limits", "{\"callerPerMinute\":null}")]);
    let seeding = Instant::now();
    stack.sim.reseed(|f| {
        let bob = fixture_user(f, "bob@contoso.com").clone();
        let ids: Vec<String> = (0..users)
            .map(|i| format!("{:08x}-0000-4000-8000-{:012x}", i, i))
            .collect();
        let list = f["users"].as_array_mut().unwrap();
        for (i, id) in ids.iter().enumerate() {
            let mut u = bob.clone();
            u["id"] = json!(id);
            u["userPrincipalName"] = json!(format!("user{i}@contoso.com"));
            u["displayName"] = json!(format!("User {i}"));
            u["mail"] = json!(format!("user{i}@contoso.com"));
            u["methods"] = json!([]);
            u.as_object_mut().unwrap().remove("defaultMethodId");
            list.push(u);
        }
        let g = &mut f["signIns"]["generate"];
        g["count"] = json!(events);
        g["days"] = json!(30);
        g["users"] = json!(ids);
        g["burst"] = json!(burst);
        g["errorCodes"] = json!([{ "code": 500121, "weight": 1 }]);
        // Graph's own reports throttle, on the simulator's clock.
        f["throttle"] = json!({ "reportsMaxRequests": 5, "reportsWindowSeconds": 10 });
    });
    let seeded = seeding.elapsed();
    let auth = format!("Bearer {}", demo::reader_key());
    let headers = [("authorization", auth.as_str())];

    // A scheduler calling the refresh until the month is stored.
    let t = Instant::now();
    let (mut calls, mut pages, mut read, mut new) = (0u64, 0u64, 0u64, 0u64);
    let mut slowest = Duration::ZERO;
    loop {
        let c = Instant::now();
        let r = stack.spin.client().send(
            "POST",
            "/v1/failures/refresh",
            &headers,
            Some(b"{}".to_vec()),
        );
        slowest = slowest.max(c.elapsed());
        assert_eq!(r.status, 200, "{}", &r.body[..r.body.len().min(500)]);
        let b = r.json();
        calls += 1;
        pages += b["pagesRead"].as_u64().unwrap();
        read += b["scannedEvents"].as_u64().unwrap();
        new += b["newEvents"].as_u64().unwrap();
        eprintln!(
            "  refresh {calls}: {} pages, {} new, {:.1} s, truncated {}",
            b["pagesRead"],
            b["newEvents"],
            c.elapsed().as_secs_f64(),
            b["truncated"]
        );
        if b["truncated"] == false {
            break;
        }
        assert!(calls < 10_000, "no end: {b}");
    }
    let filling = t.elapsed();

    // Complete answers from the store: 30 days, every failing user.
    let q = "/v1/failures?since=P30D";
    let mut times = Vec::with_capacity(runs);
    let mut last = Value::Null;
    let mut bytes = 0;
    stack.sim.clear_requests();
    for _ in 0..runs {
        // Asked now and then: each answer reads the newest page first,
        // outside the throttle window the refreshes used.
        stack.sim.advance_clock(11);
        let c = Instant::now();
        let r = stack.spin.client().send("GET", q, &headers, None);
        times.push(c.elapsed());
        assert_eq!(r.status, 200, "{}", &r.body[..r.body.len().min(500)]);
        bytes = r.body.len();
        last = r.json();
    }
    times.sort();
    let graph_calls = stack
        .sim
        .requests()
        .iter()
        .filter(|r| r["path"] == "/v1.0/auditLogs/signIns")
        .count();
    stack.sim.advance_clock(11);
    let day = Instant::now();
    let r = stack
        .spin
        .client()
        .send("GET", "/v1/failures?since=P1D", &headers, None);
    let day = day.elapsed();
    assert_eq!(r.status, 200);
    let lines: Vec<Value> = stack
        .spin
        .logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["component"] == "failures")
        .collect();
    let memory = lines
        .iter()
        .filter_map(|l| l["memoryKiB"].as_u64())
        .max()
        .unwrap_or(0);
    // The component's own time for the timed answers, and SQLite's share.
    let answers: Vec<&Value> = lines
        .iter()
        .filter(|l| l["method"] == "GET" && l["status"] == 200)
        .collect();
    let median = |f: &dyn Fn(&Value) -> u64| {
        let mut v: Vec<u64> = answers.iter().map(|l| f(l)).collect();
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0) as f64 / 1000.0
    };
    let (own, db_ms, graph_ms) = (
        median(&|l| l["us"].as_u64().unwrap_or(0)),
        median(&|l| l["ports"]["dbUs"].as_u64().unwrap_or(0)),
        median(&|l| l["ports"]["graphUs"].as_u64().unwrap_or(0)),
    );
    let db = stack.spin.state_dir().join("sqlite_db.db");
    let db_size = std::fs::metadata(&db).map_or(0, |m| m.len());

    println!("mfa-recovery failures store benchmark (Spin + graph-sim release builds on loopback)");
    println!(
        "{events} sign-in failures of {users} users over 30 days, in streaks of {burst} (seeding took {:.0} s); reports throttle 5 requests / 10 s\n",
        seeded.as_secs_f64()
    );
    println!(
        "filling by POST /v1/failures/refresh: {calls} calls until complete, {pages} pages, {read} events read ({new} new) in {:.0} s = {:.0} events/s; slowest call {:.1} s",
        filling.as_secs_f64(),
        read as f64 / filling.as_secs_f64(),
        slowest.as_secs_f64()
    );
    println!(
        "complete answer from the store, GET /v1/failures?since=P30D: p50 {:.0} ms, min {:.0} ms, max {:.0} ms over {runs}; {} users, {} events, {:.1} MiB of JSON, truncated {}, {graph_calls} sign-in pages read (the newest, one per answer)",
        times[times.len() / 2].as_secs_f64() * 1000.0,
        times[0].as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0,
        last["users"].as_array().map_or(0, Vec::len),
        last["scannedEvents"],
        bytes as f64 / 1048576.0,
        last["truncated"],
    );
    println!(
        "  of which the component: median {own:.0} ms (the newest page from Graph {graph_ms:.0} ms, SQLite {db_ms:.0} ms, the rest building the JSON); the remainder is Spin and the HTTP transfer"
    );
    println!(
        "the last day (since=P1D): {:.0} ms; SQLite file {:.1} MiB; component instance peak linear memory {memory} KiB ({:.1} MiB)",
        day.as_secs_f64() * 1000.0,
        db_size as f64 / 1048576.0,
        memory as f64 / 1024.0
    );
}
