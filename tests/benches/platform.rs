//! Platform benchmark: `GET /healthz` through real `spin up` on
//! loopback at 1 and 32 concurrent clients (requests per second, p50/p99),
//! cold start (process start to first 200), and each component's `.wasm`
//! size. Prints figures; asserts nothing.
//!
//! `cargo bench -p mfa-tests --bench platform` (BENCH_SECS per level, default 5).

use std::time::{Duration, Instant};

use mfa_tests::{demo_variables, root, Client, Spin, SpinOptions};

fn options() -> SpinOptions {
    let mut o = SpinOptions::default();
    o.variables.extend(demo_variables("http://127.0.0.1:9"));
    o
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn load(base: &str, clients: usize, secs: u64) -> (usize, f64, Duration, Duration) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let c = Client::new(base.to_string());
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let r = c.get("/healthz");
                    assert_eq!(r.status, 200);
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut all: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    (
        all.len(),
        all.len() as f64 / elapsed,
        percentile(&all, 0.50),
        percentile(&all, 0.99),
    )
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);

    // Cold start: median of five fresh `spin up`s on fresh state directories.
    let mut cold: Vec<Duration> = (0..5)
        .map(|_| Spin::start(options()).expect("spin up").ready_after())
        .collect();
    cold.sort();

    let app = Spin::start(options()).expect("spin up");
    let base = app.client().base().to_string();
    // Warm the instance pool before measuring.
    let _ = load(&base, 4, 1);

    println!("mfa-recovery platform benchmark (Spin on loopback, {secs} s per level)");
    println!();
    println!("GET /healthz");
    println!(
        "{:>8} {:>10} {:>12} {:>10} {:>10}",
        "clients", "requests", "req/s", "p50 ms", "p99 ms"
    );
    for clients in [1, 32] {
        let (n, rps, p50, p99) = load(&base, clients, secs);
        println!(
            "{clients:>8} {n:>10} {rps:>12.0} {:>10.2} {:>10.2}",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    println!();
    println!(
        "cold start (spin up -> first 200 on /healthz), 5 runs: min {:.0} ms, median {:.0} ms, max {:.0} ms",
        cold[0].as_secs_f64() * 1e3,
        cold[2].as_secs_f64() * 1e3,
        cold[4].as_secs_f64() * 1e3
    );
    println!();
    println!("component sizes (target/wasm32-wasip2/release)");
    let manifest: toml::Value = std::fs::read_to_string(root().join("spin.toml"))
        .unwrap()
        .parse()
        .unwrap();
    for (id, c) in manifest["component"].as_table().unwrap() {
        let path = root().join(c["source"].as_str().unwrap());
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!(
            "{id:>10} {:>10} bytes ({:.1} KiB)",
            bytes,
            bytes as f64 / 1024.0
        );
    }
}
