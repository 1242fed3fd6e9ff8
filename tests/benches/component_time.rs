//! The component's own time against a Graph that costs a round trip:
//! graph-sim delays every top-level request by `BENCH_LATENCY_MS` (default
//! 100), and for `POST /v1/tap`, `POST /v1/phone` and `GET /v1/diagnose`
//! this prints the p50 through Spin, the sequential round trips (from
//! graph-sim's log), the floor (round trips x latency), p50 / floor, and
//! where the rest went, from the component's own log line (the edge times
//! each port): outside the guest (Spin instantiating the component and
//! serving HTTP), Graph in flight above the floor, the key-value store,
//! SQLite, and the guest's own work (JSON, checks, sealing). With
//! `BENCH_BACKGROUND=N`, N clients hammer `/healthz` meanwhile (a loaded
//! machine). Prints figures only.
//!
//! `cargo bench -p mfa-tests --bench component_time` (BENCH_REPEATS, default 20).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mfa_tests::{demo, Client, Stack};
use serde_json::{json, Value};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// The component's log line for `request_id`.
fn log_line(stack: &Stack, request_id: &str) -> Value {
    let logs = stack.spin.logs();
    logs.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["requestId"] == request_id)
        .unwrap_or_else(|| panic!("no log line for {request_id}"))
}

struct Run {
    total_ms: f64,
    sequential: usize,
    line: Value,
}

fn call(stack: &Stack, op: &Op, i: usize) -> Run {
    let request_id = format!("bench-{}-{i}", op.name);
    let auth = format!("Bearer {}", demo::admin_key());
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
        ("x-request-id", request_id.as_str()),
    ];
    stack.sim.clear_requests();
    let t = Instant::now();
    let r = stack.spin.client().send(
        op.method,
        &op.path,
        &headers,
        op.body.as_ref().map(|b| b(i).to_string().into_bytes()),
    );
    let total_ms = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!(r.status / 100, 2, "{} {}: {}", op.method, op.path, r.body);
    Run {
        total_ms,
        sequential: stack.sim.traffic().sequential,
        line: log_line(stack, &request_id),
    }
}

struct Op {
    name: &'static str,
    method: &'static str,
    path: String,
    body: Option<Box<dyn Fn(usize) -> Value>>,
}

fn main() {
    let repeats = env("BENCH_REPEATS", 20) as usize;
    let latency = env("BENCH_LATENCY_MS", 100);
    let background = env("BENCH_BACKGROUND", 0) as usize;
    // The simulator's own work per request (OpenAPI validation) is not the
    // component's: a release build keeps it out of "Graph above the floor".
    std::env::set_var("SIM_RELEASE", "1");
    let stack = Stack::start(&[(
        "rate_limits",
        "{\"callerPerMinute\":null,\"callerMutationsPerDay\":null,\"tapPerUserPerDay\":null,\"phonePerUserPerDay\":null}",
    )]);
    // Twenty diagnoses in a few seconds would meet the reports throttle (5
    // per 10 s) and time its Retry-After, not the component.
    stack.sim.reseed(|f| {
        f["throttle"] = json!({ "reportsMaxRequests": 100000, "reportsWindowSeconds": 1 });
    });
    stack.sim.latency(latency);

    let stop = Arc::new(AtomicBool::new(false));
    let hammers: Vec<_> = (0..background)
        .map(|_| {
            let c = Client::new(stack.spin.client().base().to_string());
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = c.get("/healthz");
                }
            })
        })
        .collect();

    let ops = [
        Op {
            name: "tap",
            method: "POST",
            path: "/v1/tap".into(),
            body: Some(Box::new(
                |_| json!({ "user": "alice@contoso.com", "ticket": "BENCH", "replaceExisting": true }),
            )),
        },
        Op {
            name: "phone",
            method: "POST",
            path: "/v1/phone".into(),
            body: Some(Box::new(|i| {
                json!({ "user": "bob@contoso.com", "ticket": "BENCH", "phoneType": "mobile",
                        "phoneNumber": format!("+1 206 555 {:04}", 100 + i % 2), "replaceExisting": true })
            })),
        },
        Op {
            name: "diagnose",
            method: "GET",
            path: "/v1/diagnose?user=alice@contoso.com".into(),
            body: None,
        },
    ];

    println!(
        "mfa-recovery component time (Spin + graph-sim on loopback, {latency} ms per Graph round trip, {background} background clients)"
    );
    println!("warm token and caches; {repeats} runs each; medians in ms\n");
    println!(
        "  {:<9} {:>6} {:>6} {:>6} {:>6} | {:>8} {:>10} {:>6} {:>6} {:>7}",
        "op", "p50", "trips", "floor", "ratio", "outside", "graph>flr", "kv", "sqlite", "guest"
    );
    for op in &ops {
        // Two warm-ups: the token, the role holders, the first replace.
        call(&stack, op, 1_000_000);
        call(&stack, op, 1_000_001);
        let runs: Vec<Run> = (0..repeats).map(|i| call(&stack, op, i)).collect();
        let trips = median(runs.iter().map(|r| r.sequential as f64).collect()) as usize;
        let floor = (trips as u64 * latency) as f64;
        let ms = |r: &Run, k: &str| r.line["ports"][k].as_u64().unwrap_or(0) as f64 / 1e3;
        let guest_total = |r: &Run| r.line["us"].as_u64().unwrap_or(0) as f64 / 1e3;
        let p50 = median(runs.iter().map(|r| r.total_ms).collect());
        let outside = median(runs.iter().map(|r| r.total_ms - guest_total(r)).collect());
        let graph_above = median(runs.iter().map(|r| ms(r, "graphUs") - floor).collect());
        let kv = median(runs.iter().map(|r| ms(r, "kvUs")).collect());
        let db = median(runs.iter().map(|r| ms(r, "dbUs")).collect());
        let own = median(
            runs.iter()
                .map(|r| guest_total(r) - ms(r, "graphUs") - ms(r, "kvUs") - ms(r, "dbUs"))
                .collect(),
        );
        let calls = &runs[0].line["ports"];
        println!(
            "  {:<9} {p50:>6.1} {trips:>6} {floor:>6.0} {:>5.2}x | {outside:>8.1} {graph_above:>10.1} {kv:>6.1} {db:>6.1} {own:>7.1}   ({} kv, {} sql, {} graph calls)",
            op.name,
            p50 / floor,
            calls["kvCalls"],
            calls["dbCalls"],
            calls["graphCalls"],
        );
    }
    stop.store(true, Ordering::Relaxed);
    for h in hammers {
        let _ = h.join();
    }
    println!("\n  outside: client time minus the guest's own (Spin instantiating the component,");
    println!("  HTTP in and out); graph>flr: Graph in flight above trips x latency; guest: the");
    println!("  guest's time outside its ports (JSON, checks, sealing)");
}
