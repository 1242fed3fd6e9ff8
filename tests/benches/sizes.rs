//! Component sizes and cold start: each component's `.wasm` (and its core
//! module's code and data sections), the time from starting `spin up` to
//! the first `200` on `/healthz` (Spin compiles every component before it
//! listens), and per component the first request after that (its first
//! instance: a `401`, no Graph call, so only the component itself is
//! timed; `meta` serves its document), its first real operation, and the
//! median of the next ones
//! (warm), through real `spin up` against graph-sim on loopback. Medians
//! over fresh `spin up`s. Prints figures; asserts only the statuses.
//!
//! `cargo bench -p mfa-tests --bench sizes` (BENCH_RUNS fresh starts,
//! default 5; BENCH_WARM requests per component, default 20;
//! BENCH_WASM_DIR times other builds of the same components, e.g. a copy
//! of an older `target/wasm32-wasip2/release`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mfa_tests::{demo, root, Client, SpinOptions, Stack};
use serde_json::{json, Value};

/// A component, the request that reaches it without credentials (`401`),
/// and one real operation with its success status.
struct Probe {
    id: &'static str,
    method: &'static str,
    path: &'static str,
    key: fn() -> &'static str,
    body: Option<fn() -> Value>,
    ok: &'static [u16],
}

const PROBES: &[Probe] = &[
    Probe {
        id: "meta",
        method: "GET",
        path: "/v1/openapi.json",
        key: demo::admin_key,
        body: None,
        ok: &[200],
    },
    Probe {
        id: "tap",
        method: "POST",
        path: "/v1/tap",
        key: demo::admin_key,
        body: Some(
            || json!({ "user": "bob@contoso.com", "ticket": "BENCH", "replaceExisting": true }),
        ),
        ok: &[201],
    },
    Probe {
        id: "reset",
        method: "POST",
        path: "/v1/reset",
        key: demo::admin_key,
        body: Some(|| json!({ "user": "alice@contoso.com", "ticket": "BENCH", "dryRun": true })),
        ok: &[200],
    },
    Probe {
        id: "phone",
        method: "POST",
        path: "/v1/phone",
        key: demo::admin_key,
        body: Some(
            || json!({ "user": "bob@contoso.com", "ticket": "BENCH", "phoneNumber": "+1 206 555 0100" }),
        ),
        // Added once, then unchanged.
        ok: &[200, 201],
    },
    Probe {
        id: "failures",
        method: "GET",
        path: "/v1/failures?since=P7D",
        key: demo::reader_key,
        body: None,
        ok: &[200],
    },
    Probe {
        id: "diagnose",
        method: "GET",
        path: "/v1/diagnose?user=bob@contoso.com",
        key: demo::admin_key,
        body: None,
        ok: &[200],
    },
    Probe {
        id: "audit",
        method: "GET",
        path: "/v1/audit?limit=2",
        key: demo::reader_key,
        body: None,
        ok: &[200],
    },
];

fn send(client: &Client, p: &Probe, key: Option<&str>) -> (u16, Duration) {
    let auth = key.map(|k| format!("Bearer {k}"));
    let mut headers = vec![];
    if let Some(a) = &auth {
        headers.push(("authorization", a.as_str()));
    }
    let body = p.body.map(|b| b().to_string().into_bytes());
    if body.is_some() {
        headers.push(("content-type", "application/json"));
    }
    let t = Instant::now();
    let r = client.send(p.method, p.path, &headers, body);
    let d = t.elapsed();
    (r.status, d)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `spin.toml` with every component's `source` in `dir`.
fn manifest_for(dir: &Path, tmp: &Path) -> PathBuf {
    let text = std::fs::read_to_string(root().join("spin.toml")).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        match line
            .strip_prefix("source = \"target/wasm32-wasip2/release/")
            .and_then(|s| s.strip_suffix('"'))
        {
            Some(file) => out.push_str(&format!("source = {:?}\n", dir.join(file))),
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    let path = tmp.join("spin.toml");
    std::fs::write(&path, out).unwrap();
    path
}

fn leb(b: &[u8], i: &mut usize) -> usize {
    let (mut r, mut s) = (0usize, 0);
    loop {
        let x = b[*i];
        *i += 1;
        r |= ((x & 0x7f) as usize) << s;
        s += 7;
        if x < 0x80 {
            return r;
        }
    }
}

/// Top-level sections of a module or component: `(id, start, end)`.
fn sections(b: &[u8]) -> Vec<(u8, usize, usize)> {
    let mut out = vec![];
    let mut i = 8;
    while i < b.len() {
        let id = b[i];
        i += 1;
        let len = leb(b, &mut i);
        out.push((id, i, i + len));
        i += len;
    }
    out
}

/// The component's largest core module: its code and data section sizes.
fn code_and_data(component: &[u8]) -> (usize, usize) {
    let Some(&(_, s, e)) = sections(component)
        .iter()
        .filter(|(id, ..)| *id == 1)
        .max_by_key(|(_, s, e)| e - s)
    else {
        return (0, 0);
    };
    let module = &component[s..e];
    let size = |want: u8| {
        sections(module)
            .iter()
            .filter(|(id, ..)| *id == want)
            .map(|(_, s, e)| e - s)
            .sum()
    };
    (size(10), size(11))
}

fn main() {
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let (runs, warm) = (env("BENCH_RUNS", 5).max(1), env("BENCH_WARM", 20).max(1));
    let wasm_dir = std::env::var_os("BENCH_WASM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/wasm32-wasip2/release"));
    let tmp = tempfile::tempdir().unwrap();
    let manifest = manifest_for(&wasm_dir, tmp.path());

    let mut ready = vec![];
    let mut first = vec![vec![]; PROBES.len()];
    let mut first_op = vec![vec![]; PROBES.len()];
    let mut warm_op = vec![vec![]; PROBES.len()];
    for _ in 0..runs {
        let opts = SpinOptions {
            manifest: Some(manifest.clone()),
            ..SpinOptions::default()
        };
        // Limits off: the same user is served many times.
        let stack = Stack::start_with(
            opts,
            &[(
                "rate_limits",
                r#"{"callerPerMinute":null,"callerMutationsPerDay":null,"tapPerUserPerDay":null,"resetPerUserPerDay":null,"phonePerUserPerDay":null}"#,
            )],
        );
        ready.push(stack.spin.ready_after());
        // Twenty failures reports and diagnoses in a few seconds would meet
        // the reports throttle (5 per 10 s) and time its Retry-After.
        stack.sim.reseed(|f| {
            f["throttle"] = json!({ "reportsMaxRequests": 100000, "reportsWindowSeconds": 1 });
        });
        let client = stack.spin.client();
        // The app token, cached for every component from here on.
        assert_eq!(client.get("/readyz").status, 200);
        for (i, p) in PROBES.iter().enumerate() {
            let (status, d) = send(client, p, None);
            // Not a `404`/`405`: the probe reaches the operation.
            let want = if p.id == "meta" { 200 } else { 401 };
            assert_eq!(status, want, "{}", p.id);
            first[i].push(d);
            let (status, d) = send(client, p, Some((p.key)()));
            assert!(p.ok.contains(&status), "{}: {status}", p.id);
            first_op[i].push(d);
            let mut times = vec![];
            for _ in 0..warm {
                let (status, d) = send(client, p, Some((p.key)()));
                assert!(p.ok.contains(&status), "{}: {status}", p.id);
                times.push(d);
            }
            warm_op[i].push(median(times));
        }
    }

    println!(
        "mfa-recovery component sizes and cold start ({})",
        wasm_dir.display()
    );
    println!("(Spin + graph-sim on loopback; medians of {runs} fresh `spin up`s, warm = median of {warm})");
    println!();
    println!(
        "spin up -> first 200 on /healthz: {:.0} ms (min {:.0}, max {:.0})",
        ms(median(ready.clone())),
        ms(*ready.iter().min().unwrap()),
        ms(*ready.iter().max().unwrap())
    );
    println!();
    println!(
        "{:>9} {:>10} {:>9} {:>9} {:>11} {:>11} {:>10}  operation",
        "component", "bytes", "code KiB", "data KiB", "1st req ms", "1st op ms", "warm ms"
    );
    for (i, p) in PROBES.iter().enumerate() {
        let wasm = std::fs::read(wasm_dir.join(format!("mfa_{}.wasm", p.id))).unwrap_or_default();
        let (code, data) = code_and_data(&wasm);
        println!(
            "{:>9} {:>10} {:>9.0} {:>9.0} {:>11.2} {:>11.2} {:>10.2}  {} {}",
            p.id,
            wasm.len(),
            code as f64 / 1024.0,
            data as f64 / 1024.0,
            ms(median(first[i].clone())),
            ms(median(first_op[i].clone())),
            ms(median(warm_op[i].clone())),
            p.method,
            p.path
        );
    }
    println!();
    println!(
        "1st req: the component's first request after start, without credentials (401; meta's"
    );
    println!(
        "document needs none: 200); 1st op: the first real operation right after it (the token"
    );
    println!("cached by a GET /readyz before, other caches cold); warm: the median after that.");
}
