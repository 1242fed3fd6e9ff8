//! Failures benchmark: `GET /v1/failures` over 200,000 sign-in
//! failures in the simulator (release build): events per second through
//! the component, pages fetched, bytes read, the component instance's peak
//! memory, and the same pages read by a client that only reads them, so
//! the parser and aggregation can be compared with the transport. Prints
//! figures only.
//!
//! `cargo bench -p mfa-tests --bench failures` (BENCH_EVENTS, default 200000).

use std::time::Instant;

use mfa_tests::{demo, demo_app, Stack};
use serde_json::{json, Value};

fn main() {
    let events: u64 = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    std::env::set_var("SIM_RELEASE", "1");
    let stack = Stack::start(&[("rate_limits", "{\"callerPerMinute\":null}")]);
    let seeding = Instant::now();
    stack.sim.reseed(|f| {
        let g = &mut f["signIns"]["generate"];
        g["count"] = json!(events);
        g["days"] = json!(9);
        // Failures only, so every generated event is read.
        g["errorCodes"] = json!([{ "code": 500121, "weight": 3 }, { "code": 50074, "weight": 1 }]);
        // This measures reading, not Graph's reports throttle.
        f["throttle"] = json!({ "reportsMaxRequests": 100000, "reportsWindowSeconds": 1 });
    });
    let seeded = seeding.elapsed();
    let query = "/v1/failures?since=P10D&errorCodes=500121,50074";

    // Through Spin: the component reads, parses and aggregates every page.
    let auth = format!("Bearer {}", demo::reader_key());
    let _warm = stack.spin.client().send(
        "GET",
        "/v1/failures?since=PT1H",
        &[("authorization", auth.as_str())],
        None,
    );
    stack.sim.clear_requests();
    let t = Instant::now();
    let r = stack
        .spin
        .client()
        .send("GET", query, &[("authorization", auth.as_str())], None);
    let through = t.elapsed();
    assert_eq!(r.status, 200, "{}", &r.body[..r.body.len().min(500)]);
    let b = r.json();
    let scanned = b["scannedEvents"].as_u64().unwrap();
    let pages = b["pagesRead"].as_u64().unwrap();
    let users = b["users"].as_array().unwrap().len();
    let memory = stack
        .spin
        .logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["component"] == "failures")
        .filter_map(|l| l["memoryKiB"].as_u64())
        .max()
        .unwrap_or(0);
    let first_query = stack.sim.requests()[0]["query"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    // The same pages to a client that only reads them.
    let app = demo_app();
    let sim = stack.sim.url();
    let token: String = ureq::post(&format!("{sim}/{}/oauth2/v2.0/token", app.tenant_id))
        .send_form([
            ("grant_type", "client_credentials"),
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .expect("token")
        .body_mut()
        .read_to_string()
        .expect("token body");
    let token: Value = serde_json::from_str(&token).expect("token json");
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    let mut next = Some(format!("{sim}/v1.0/auditLogs/signIns?{first_query}"));
    let (mut raw_pages, mut raw_bytes, mut raw_events) = (0u64, 0u64, 0u64);
    let t = Instant::now();
    // The pages the component read (all of them unless it was truncated).
    while let Some(url) = next.take().filter(|_| raw_pages < pages) {
        let body = ureq::get(&url)
            .header("authorization", &bearer)
            .call()
            .expect("page")
            .body_mut()
            .read_to_vec()
            .expect("body");
        raw_pages += 1;
        raw_bytes += body.len() as u64;
        let v: Value = serde_json::from_slice(&body).unwrap();
        raw_events += v["value"].as_array().map_or(0, |a| a.len() as u64);
        next = v["@odata.nextLink"].as_str().map(str::to_string);
    }
    let direct = t.elapsed();

    println!("mfa-recovery failures benchmark (Spin + graph-sim release build on loopback)");
    println!(
        "{events} sign-in failures generated over 9 days (seeding took {:.1} s)\n",
        seeded.as_secs_f64()
    );
    println!(
        "through GET /v1/failures: {scanned} events, {pages} pages, {users} users, truncated {} in {:.2} s = {:.0} events/s",
        b["truncated"],
        through.as_secs_f64(),
        scanned as f64 / through.as_secs_f64()
    );
    println!(
        "  component instance peak linear memory: {memory} KiB ({:.1} MiB)",
        memory as f64 / 1024.0
    );
    println!(
        "reading the same pages directly:  {raw_events} events, {raw_pages} pages, {:.1} MiB in {:.2} s = {:.0} events/s",
        raw_bytes as f64 / 1048576.0,
        direct.as_secs_f64(),
        raw_events as f64 / direct.as_secs_f64()
    );
    println!(
        "  the component's parsing and aggregation cost {:.0}% on top of transport and the simulator",
        (through.as_secs_f64() / direct.as_secs_f64() - 1.0) * 100.0
    );
}
