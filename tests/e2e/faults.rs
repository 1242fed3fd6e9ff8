//! The fault matrix: for every Graph call each mutation makes (found from
//! a clean run's request log, writes inside a `$batch` included), inject 429 with `Retry-After`, 503, 504, a
//! connection reset, and throttling past the budget. Every run must end in
//! success with exactly the intended change, or in an honest error (5xx
//! with `changed`) that a plain retry completes; every attempt leaves its
//! audit record. Prints the matrix; fails on a false success.

use mfa_tests::{demo, Sim, Spin};
use serde_json::{json, Value};

use crate::common::{self, audit_rows, methods_of};
use crate::stack;

const BOB_ID: &str = "48b85567-7c29-53ed-b888-e7aef7ddc561";
const CAROL_ID: &str = "cc021cbe-b06c-56d6-adba-dce95908c862";

struct Case {
    op: &'static str,
    path: &'static str,
    body: Value,
    /// The intended end state, read from the tenant.
    done: fn(&Sim) -> bool,
}

fn types_of(sim: &Sim, id: &str) -> Vec<String> {
    methods_of(sim, id)
        .iter()
        .map(|m| {
            m["@odata.type"]
                .as_str()
                .unwrap()
                .trim_start_matches("#microsoft.graph.")
                .to_string()
        })
        .collect()
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            op: "tap",
            path: "/v1/tap",
            body: json!({ "user": "carol@contoso.com", "ticket": "F", "replaceExisting": true }),
            done: |sim| {
                let passes = methods_of(sim, CAROL_ID)
                    .into_iter()
                    .filter(|m| {
                        m["@odata.type"]
                            == "#microsoft.graph.temporaryAccessPassAuthenticationMethod"
                    })
                    .collect::<Vec<_>>();
                // One pass, and not the fixture's old one.
                passes.len() == 1 && passes[0]["temporaryAccessPass"] != "Xk7#pQ2w"
            },
        },
        Case {
            op: "reset",
            path: "/v1/reset",
            body: json!({ "user": "carol@contoso.com", "ticket": "F" }),
            done: |sim| types_of(sim, CAROL_ID) == ["passwordAuthenticationMethod"],
        },
        Case {
            op: "phone",
            path: "/v1/phone",
            body: json!({ "user": "bob@contoso.com", "ticket": "F", "phoneNumber": "+1 (206) 555-0100" }),
            done: |sim| {
                methods_of(sim, BOB_ID)
                    .iter()
                    .any(|m| m["phoneType"] == "mobile" && m["phoneNumber"] == "+1 2065550100")
            },
        },
    ]
}

/// (method, path) of every top-level Graph call a clean run makes, and of
/// every write inside a `$batch` (faults reach batch items too: a reset's
/// deletions and revocation travel in one).
fn steps(sim: &Sim, app: &Spin, case: &Case) -> Vec<(String, String)> {
    sim.reset();
    let r = send(app, case, "clean");
    assert!(r.0 < 300, "{}: clean run {}", case.op, r.1);
    assert!((case.done)(sim), "{}: clean run did not do it", case.op);
    let mut out: Vec<(String, String)> = Vec::new();
    for r in sim.requests() {
        if r["kind"] == "token" || (!r["batchParent"].is_null() && r["method"] == "GET") {
            continue;
        }
        let step = (
            r["method"].as_str().unwrap().to_string(),
            r["path"].as_str().unwrap().to_string(),
        );
        if !out.contains(&step) {
            out.push(step);
        }
    }
    out
}

fn send(app: &Spin, case: &Case, request_id: &str) -> (u16, Value) {
    let r = common::post(
        app,
        case.path,
        demo::admin_key(),
        &case.body,
        &[("x-request-id", request_id)],
    );
    (r.status, r.json())
}

fn faults() -> Vec<(&'static str, Value)> {
    vec![
        (
            "429 Retry-After 1",
            json!({ "status": 429, "retryAfter": 1 }),
        ),
        ("503", json!({ "status": 503 })),
        ("504", json!({ "status": 504 })),
        ("connection reset", json!({ "connectionReset": true })),
        (
            "429 past budget",
            json!({ "status": 429, "retryAfter": 60, "count": 5 }),
        ),
    ]
}

#[test]
fn every_step_under_every_fault_ends_done_or_honest_and_a_retry_finishes() {
    let (sim, app) = stack(&[("rate_limits", Some(NO_LIMITS))]);
    let mut m = Matrix::default();
    for case in cases() {
        for step in steps(&sim, &app, &case) {
            for (fault, spec) in faults() {
                m.run(&sim, &app, &case, &step, fault, &spec);
            }
        }
    }
    m.finish();
}

/// Every Graph call slower than the whole 20 s budget: the transport gives
/// up at the deadline instead of hanging, and the answer is as honest as
/// for a dropped connection. Each run waits out the budget, so the three
/// operations run side by side, each on its own stack.
#[test]
fn every_graph_call_slower_than_the_budget_is_cut_off_honestly() {
    let slow = json!({ "latencyMs": 23_000 });
    let runs: Vec<_> = cases()
        .into_iter()
        .map(|case| {
            let slow = slow.clone();
            std::thread::spawn(move || {
                let (sim, app) = stack(&[("rate_limits", Some(NO_LIMITS))]);
                let mut m = Matrix::default();
                for step in steps(&sim, &app, &case) {
                    m.run(&sim, &app, &case, &step, "slower than budget", &slow);
                }
                m
            })
        })
        .collect();
    let mut all = Matrix::default();
    for run in runs {
        let m = run.join().expect("an operation's runs");
        all.rows.extend(m.rows);
        all.bad.extend(m.bad);
    }
    all.finish();
}

const NO_LIMITS: &str = r#"{"callerPerMinute":null,"callerMutationsPerDay":null,"tapPerUserPerDay":null,"resetPerUserPerDay":null,"phonePerUserPerDay":null}"#;

/// Runs and outcomes, printed as operation x step x fault -> outcome.
#[derive(Default)]
struct Matrix {
    rows: Vec<String>,
    bad: Vec<String>,
}

impl Matrix {
    /// One run with `fault` on `step`, then (if it failed) a plain retry.
    fn run(
        &mut self,
        sim: &Sim,
        app: &Spin,
        case: &Case,
        (method, path): &(String, String),
        fault: &str,
        spec: &Value,
    ) {
        let n = self.rows.len() + 1;
        let bad = &mut self.bad;
        sim.reset();
        let mut f = spec.clone();
        f["pathPattern"] = json!(format!("^{}$", regex_escape(path)));
        f["method"] = json!(method);
        sim.fault(f);
        let rid = format!("fault-{n}");
        let (status, body) = send(app, case, &rid);
        let outcome = if status < 300 {
            if (case.done)(sim) {
                "done".to_string()
            } else {
                bad.push(format!(
                    "{} {method} {path} {fault}: FALSE SUCCESS {body}",
                    case.op
                ));
                "FALSE SUCCESS".into()
            }
        } else {
            let code = body["code"].as_str().unwrap_or("?").to_string();
            if status >= 500 && body["changed"].as_str().is_none_or(str::is_empty) {
                bad.push(format!(
                    "{} {method} {path} {fault}: {status} without `changed`",
                    case.op
                ));
            }
            // A write whose answer was lost is never called harmless.
            let lost = fault == "connection reset" || fault == "slower than budget";
            if lost
                && method != "GET"
                && !path.ends_with("$batch")
                && body["changed"] == "nothing was changed"
            {
                bad.push(format!(
                    "{} {method} {path} {fault}: {status} calls a lost write harmless",
                    case.op
                ));
            }
            // A plain retry, the fault gone, completes the job.
            sim.clear_faults();
            let (again, retry_body) = send(app, case, &format!("{rid}-retry"));
            if again >= 300 || !(case.done)(sim) {
                bad.push(format!(
                    "{} {method} {path} {fault}: retry {again} {retry_body}",
                    case.op
                ));
            }
            format!("{status} {code}, retry {again}")
        };
        if !audit_rows(app)
            .iter()
            .any(|r| r.ends_with(&format!("|{rid}")))
        {
            bad.push(format!(
                "{} {method} {path} {fault}: no audit record",
                case.op
            ));
        }
        self.rows.push(format!(
            "{:<6} {method:<6} {:<70} {fault:<18} -> {outcome}",
            case.op, path
        ));
    }

    fn finish(self) {
        println!(
            "fault matrix ({} runs):\n{}",
            self.rows.len(),
            self.rows.join("\n")
        );
        assert!(self.bad.is_empty(), "{}", self.bad.join("\n"));
    }
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if "\\.+*?()|[]{}^$".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}
