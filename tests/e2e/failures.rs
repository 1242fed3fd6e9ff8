//! `GET /v1/failures` end to end: the aggregation checked against the
//! simulated tenant's own sign-in log, the `$filter` Graph received,
//! paging across many pages, throttling (retried, or truncated when the
//! budget runs out), the P1 licence, CSV, and bad query values.

use std::collections::HashMap;

use mfa_core::types::Instant;
use mfa_tests::{demo, Reply, Sim, Spin};
use serde_json::{json, Value};

use crate::common;
use crate::stack;

fn get(app: &Spin, path: &str, extra: &[(&str, &str)]) -> Reply {
    common::get(app, path, demo::reader_key(), extra)
}

/// Failures per user id in the answer's `[since, until]` with one of
/// `codes`, counted from the simulator's state (retention applied as Graph
/// applies it).
fn expected(sim: &Sim, answer: &Value, codes: &[u64]) -> HashMap<String, u64> {
    let state = sim.state();
    let at = |k: &str| Instant::parse(answer[k].as_str().unwrap()).unwrap();
    let (since, until) = (at("since"), at("until"));
    let mut out = HashMap::new();
    for e in state["signIns"].as_array().unwrap() {
        let t = Instant::parse(e["createdDateTime"].as_str().unwrap()).unwrap();
        let code = e["status"]["errorCode"].as_u64().unwrap();
        if t >= since && t <= until && codes.contains(&code) {
            *out.entry(e["userId"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    out
}

fn sign_in_requests(sim: &Sim) -> Vec<Value> {
    sim.requests()
        .into_iter()
        .filter(|r| r["path"] == "/v1.0/auditLogs/signIns")
        .collect()
}

#[test]
fn counts_per_user_as_the_tenant_logged_them_sorted_with_meanings() {
    let (sim, app) = stack(&[]);
    let r = get(&app, "/v1/failures?since=P10D&errorCodes=500121,50074", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let b = r.json();
    assert_eq!(b["errorCodes"], json!([50074, 500121]));
    assert_eq!(b["truncated"], false);
    let want = expected(&sim, &b, &[500121, 50074]);
    let users = b["users"].as_array().unwrap();
    let got: HashMap<String, u64> = users
        .iter()
        .map(|u| {
            (
                u["user"]["id"].as_str().unwrap().to_string(),
                u["failures"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want);
    assert!(b["scannedEvents"].as_u64().unwrap() >= want.values().sum::<u64>());
    // Most failures first, ties by UPN.
    for pair in users.windows(2) {
        let (a, z) = (&pair[0], &pair[1]);
        let (fa, fz) = (
            a["failures"].as_u64().unwrap(),
            z["failures"].as_u64().unwrap(),
        );
        assert!(
            fa > fz
                || (fa == fz
                    && a["user"]["userPrincipalName"].as_str()
                        <= z["user"]["userPrincipalName"].as_str()),
            "{a} before {z}"
        );
    }
    let bob = users
        .iter()
        .find(|u| u["user"]["userPrincipalName"] == "bob@contoso.com")
        .unwrap();
    assert!(bob["errorCodes"]["500121"].as_u64().unwrap() >= 3);
    assert!(bob["ipAddresses"]
        .as_array()
        .unwrap()
        .contains(&json!("198.51.100.7")));
    assert!(
        bob["firstFailureDateTime"].as_str().unwrap()
            <= bob["lastFailureDateTime"].as_str().unwrap()
    );
    assert!(b["errorCodeMeanings"]["500121"]
        .as_str()
        .unwrap()
        .contains("MFA"));

    // Graph did the filtering: time, codes, largest page (no `$select`:
    // the sign-in list refuses it).
    let first = &sign_in_requests(&sim)[0];
    let q = first["query"].as_str().unwrap_or_default().to_string();
    let q = percent_decode(&q);
    assert!(
        q.contains("createdDateTime ge ") && q.contains(" and createdDateTime le "),
        "{q}"
    );
    assert!(
        q.contains("(status/errorCode eq 50074 or status/errorCode eq 500121)"),
        "{q}"
    );
    assert!(!q.contains("$select"), "signIns refuses $select: {q}");
    assert!(q.contains("$top=1000"), "{q}");

    // Defaults: the last 24 hours of 500121; the 45-day-old event never shows.
    let d = get(&app, "/v1/failures", &[]).json();
    let want = expected(&sim, &d, &[500121]);
    assert_eq!(d["users"].as_array().unwrap().len(), want.len());
    assert!(want.contains_key("48b85567-7c29-53ed-b888-e7aef7ddc561"));

    // Filters: one user; at least N failures.
    let one = get(&app, "/v1/failures?since=P10D&user=bob@contoso.com", &[]).json();
    let ids: Vec<&str> = one["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["48b85567-7c29-53ed-b888-e7aef7ddc561"]);
    assert!(percent_decode(
        sign_in_requests(&sim).last().unwrap()["query"]
            .as_str()
            .unwrap()
    )
    .contains("userPrincipalName eq 'bob@contoso.com'"));
    let many = get(
        &app,
        "/v1/failures?since=P10D&errorCodes=500121,50074&minFailures=4",
        &[],
    )
    .json();
    let n = many["users"].as_array().unwrap().len();
    assert_eq!(n, got.values().filter(|f| **f >= 4).count());
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[test]
fn every_page_is_read_throttling_is_retried_and_a_spent_budget_truncates() {
    let (sim, app) = stack(&[]);
    sim.reseed(|f| {
        f["signIns"]["generate"]["count"] = json!(6000);
        f["signIns"]["generate"]["days"] = json!(9);
    });
    let all = "/v1/failures?since=P10D&errorCodes=500121,50074,50076,53003,50053,50126";
    let codes = [500121, 50074, 50076, 53003, 50053, 50126];
    let r = get(&app, all, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let b = r.json();
    let want = expected(&sim, &b, &codes);
    let total: u64 = want.values().sum();
    assert!(total > 3000, "{total} failures: enough for several pages");
    assert_eq!(b["scannedEvents"].as_u64().unwrap(), total);
    let pages = sign_in_requests(&sim);
    assert_eq!(pages.len() as u64, total.div_ceil(1000));
    assert_eq!(b["pagesRead"].as_u64().unwrap(), total.div_ceil(1000));
    assert!(pages[1..]
        .iter()
        .all(|p| p["query"].as_str().unwrap().contains("skiptoken")));
    let sum: u64 = b["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["failures"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, total);

    // The first page throttled once: retried after Retry-After, same answer.
    // Past the reports throttle's 10 s window (FACTS §7) on the sim clock.
    sim.advance_clock(11);
    sim.clear_requests();
    sim.fault(json!({ "pathPattern": "^/v1\\.0/auditLogs/signIns$", "status": 429, "retryAfter": 1, "count": 1 }));
    let again = get(&app, all, &[]).json();
    assert_eq!(again["truncated"], false);
    assert_eq!(again["scannedEvents"], b["scannedEvents"]);
    let statuses: Vec<u64> = sign_in_requests(&sim)
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses[..2], [429, 200]);

    // Throttled past the budget after the first page: what was read, truncated.
    sim.advance_clock(11);
    sim.clear_requests();
    sim.fault(
        json!({ "pathPattern": "^/v1\\.0/auditLogs/signIns$", "latencyMs": 1500, "count": 1 }),
    );
    let app2 = &app;
    let partial = std::thread::scope(|s| {
        let h = s.spawn(|| get(app2, all, &[]));
        std::thread::sleep(std::time::Duration::from_millis(400));
        sim.fault(json!({ "pathPattern": "^/v1\\.0/auditLogs/signIns$", "status": 429, "retryAfter": 60, "count": 50 }));
        h.join().unwrap()
    });
    assert_eq!(partial.status, 200, "{}", partial.body);
    let p = partial.json();
    assert_eq!(p["truncated"], true);
    assert_eq!(p["pagesRead"], 1);
    assert_eq!(p["scannedEvents"], 1000);
}

#[test]
fn csv_by_format_or_accept_and_bad_values_name_their_field() {
    let (sim, app) = stack(&[]);
    for (path, accept) in [
        ("/v1/failures?since=P10D&format=csv", "application/json"),
        ("/v1/failures?since=P10D", "text/csv"),
    ] {
        let r = get(&app, path, &[("accept", accept)]);
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.header("content-type").unwrap().starts_with("text/csv"),
            "{path}"
        );
        let lines: Vec<&str> = r.body.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert!(
            lines[0].starts_with("userPrincipalName,displayName,id,failures,"),
            "{}",
            lines[0]
        );
        let json = get(&app, "/v1/failures?since=P10D", &[]).json();
        assert_eq!(lines.len() - 1, json["users"].as_array().unwrap().len());
        assert!(
            lines[1..]
                .iter()
                .any(|l| l.starts_with("bob@contoso.com,Bob Fischer,")),
            "{:?}",
            lines
        );
    }
    sim.clear_requests();
    for (query, code, field) in [
        ("since=P31D", "invalid_request", "since"),
        ("since=yesterday", "invalid_request", "since"),
        ("since=PT1.5H", "invalid_request", "since"),
        ("until=2026-13-01T00:00:00Z", "invalid_request", "until"),
        ("since=PT1H&until=P1D", "invalid_request", "since"),
        ("errorCodes=MFA", "invalid_request", "errorCodes"),
        ("minFailures=0", "invalid_request", "minFailures"),
        ("format=xlsx", "invalid_request", "format"),
        ("user=nobody", "invalid_user", "user"),
        ("top=10", "unknown_field", "top"),
    ] {
        let r = get(&app, &format!("/v1/failures?{query}"), &[]);
        common::assert_refused(&r, 400, code, field, query);
    }
    // Refused before Graph was asked anything.
    assert_eq!(sign_in_requests(&sim), Vec::<Value>::new());
    let r = app.client().get("/v1/failures");
    assert_eq!(r.status, 401);
    let auth = format!("Bearer {}", demo::admin_key());
    let r = app.client().send(
        "GET",
        "/v1/failures",
        &[("authorization", auth.as_str())],
        None,
    );
    assert_eq!(r.status, 200, "the admin has failures:read");
}

#[test]
fn a_tenant_without_p1_is_409_premium_license_required() {
    let (sim, app) = stack(&[]);
    sim.reseed(|f| f["tenant"]["premium"] = json!(false));
    let r = get(&app, "/v1/failures", &[]);
    assert_eq!(r.status, 409, "{}", r.body);
    let p = r.json();
    assert_eq!(p["code"], "premium_license_required");
    assert_eq!(
        p["graphErrorCode"],
        "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
    );
}

fn refresh(app: &Spin) -> Reply {
    common::post(
        app,
        "/v1/failures/refresh",
        demo::reader_key(),
        &json!({}),
        &[],
    )
}

fn counts(b: &Value) -> HashMap<String, u64> {
    b["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["user"]["id"].as_str().unwrap().to_string(),
                u["failures"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// A log too big for one request under the reports throttle: each call
/// stores what it read, the next resumes where it stopped, and once the
/// window is read the answer comes from the store without Graph.
#[test]
fn a_busy_log_is_read_across_calls_then_answered_from_the_store() {
    let (sim, app) = stack(&[]);
    sim.reseed(|f| {
        let g = &mut f["signIns"]["generate"];
        g["count"] = json!(5500);
        g["days"] = json!(9);
        g["errorCodes"] = json!([{ "code": 500121, "weight": 1 }]);
        // Three requests per minute of the sim clock: a call reads three pages.
        f["throttle"] = json!({ "reportsMaxRequests": 3, "reportsWindowSeconds": 60 });
    });
    let q = "/v1/failures?since=P10D";
    let first = get(&app, q, &[]);
    assert_eq!(first.status, 200, "{}", first.body);
    let b = first.json();
    assert_eq!(
        (b["truncated"].clone(), b["source"].clone()),
        (json!(true), json!("store"))
    );
    assert_eq!(b["pagesRead"], 3);
    // Newest first: what was read ends at `until`.
    let cov = b["coverage"].as_array().unwrap();
    assert_eq!(cov.len(), 1, "{cov:?}");
    assert_eq!(cov[0]["until"], b["until"]);
    assert!(cov[0]["since"].as_str().unwrap() > b["since"].as_str().unwrap());

    let mut last = b;
    let mut calls = 1;
    while last["truncated"] == true {
        assert!(calls < 5, "not complete after {calls} calls: {last}");
        sim.advance_clock(61);
        let r = get(&app, q, &[]);
        assert_eq!(r.status, 200, "{}", r.body);
        last = r.json();
        calls += 1;
    }
    // 5,500 events are six pages; a later call first re-reads the newest
    // (one page from just before the watermark), then resumes the gap.
    assert_eq!(calls, 3);
    assert_eq!(
        last["coverage"],
        json!([{ "since": last["since"], "until": last["until"] }])
    );
    let want = expected(&sim, &last, &[500121]);
    assert_eq!(counts(&last), want);
    assert_eq!(
        last["scannedEvents"].as_u64().unwrap(),
        want.values().sum::<u64>()
    );
    // No page of the window was read twice: six, plus one newest per later call.
    let read = sign_in_requests(&sim)
        .iter()
        .filter(|p| p["status"] == 200)
        .count();
    assert!(read <= 6 + (calls - 1), "{read} pages read");

    // Complete: the next answer asks Graph only for what is newer than the
    // store (one page), not for the window.
    sim.advance_clock(61);
    sim.clear_requests();
    let again = get(&app, q, &[]).json();
    let asked = sign_in_requests(&sim);
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(!percent_decode(asked[0]["query"].as_str().unwrap())
        .contains(&format!("ge {}", again["since"].as_str().unwrap())));
    assert_eq!(
        (again["truncated"].clone(), again["pagesRead"].clone()),
        (json!(false), json!(1))
    );
    assert_eq!(counts(&again), want);
    // A narrower window and a minimum come from the same store.
    let day = get(&app, "/v1/failures?since=P1D&minFailures=2", &[]).json();
    let want_day = expected(&sim, &day, &[500121]);
    let want_day: HashMap<String, u64> = want_day.into_iter().filter(|(_, n)| *n >= 2).collect();
    assert_eq!(counts(&day), want_day);
    assert_eq!(
        sign_in_requests(&sim).len(),
        2,
        "one newest read per answer"
    );
}

/// A tenant whose log changed behind the store (a test tenant reseeded)
/// is read again, not answered from what the store held before.
#[test]
fn a_log_that_changed_is_read_again_not_answered_from_the_old_store() {
    let (sim, app) = stack(&[]);
    let q = "/v1/failures?since=P10D";
    let first = get(&app, q, &[]).json();
    assert_eq!(first["truncated"], false);
    sim.reseed(|f| {
        f["signIns"]["generate"]["seed"] = json!(7);
        f["signIns"]["generate"]["count"] = json!(300);
    });
    let r = get(&app, q, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let b = r.json();
    let want = expected(&sim, &b, &[500121]);
    assert_eq!(counts(&b), want);
    assert_eq!(b["truncated"], false);
}

/// `POST /v1/failures/refresh` reads for a scheduler; a sign-in that
/// reaches the log late is picked up by the next refresh's overlap and
/// counted once.
#[test]
fn refresh_fills_the_store_and_catches_late_sign_ins_once() {
    let (sim, app) = stack(&[]);
    let bob = "48b85567-7c29-53ed-b888-e7aef7ddc561";
    sim.reseed(|f| {
        f["signIns"]["ingestionDelaySeconds"] = json!(180);
        let events = f["signIns"]["events"].as_array_mut().unwrap();
        events.push(json!({ "userId": bob, "createdDateTime": "now-2m",
            "status": { "errorCode": 500121, "failureReason": "late", "additionalDetails": null } }));
    });
    let r = refresh(&app);
    assert_eq!(r.status, 200, "{}", r.body);
    let b = r.json();
    assert_eq!(
        (b["truncated"].clone(), b["busy"].clone()),
        (json!(false), json!(false))
    );
    assert_eq!(b["errorCodes"], json!([500121]));
    assert_eq!(b["coverage"].as_array().unwrap().len(), 1);
    assert_eq!(b["newEvents"], b["scannedEvents"]);
    let q = "/v1/failures?since=P10D";
    sim.clear_requests();
    let before = get(&app, q, &[]).json();
    assert_eq!(sign_in_requests(&sim).len(), 1, "the newest read only");
    assert_eq!(before["source"], "store");
    let visible = expected(&sim, &before, &[500121]);
    // The state lists the late event already; Graph did not, yet.
    assert_eq!(counts(&before)[bob] + 1, visible[bob]);

    sim.advance_clock(181);
    let again = refresh(&app).json();
    assert_eq!(again["newEvents"], 1, "{again}");
    assert!(again["scannedEvents"].as_u64().unwrap() >= 1);
    let after = get(&app, q, &[]).json();
    assert_eq!(counts(&after)[bob], visible[bob]);
    let bob_row = after["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user"]["id"] == bob)
        .unwrap()
        .clone();
    assert!(bob_row["failureReasons"]
        .as_array()
        .unwrap()
        .contains(&json!("late")));
    // Read twice, counted once.
    let third = refresh(&app).json();
    assert_eq!(third["newEvents"], 0);
    assert_eq!(counts(&get(&app, q, &[]).json())[bob], visible[bob]);

    // The refresh takes no parameters and needs a key.
    let r = common::post(
        &app,
        "/v1/failures/refresh?since=P1D",
        demo::reader_key(),
        &json!({}),
        &[],
    );
    common::assert_refused(&r, 400, "unknown_field", "since", "refresh?since");
    assert_eq!(
        app.client()
            .send("POST", "/v1/failures/refresh", &[], Some("{}".into()))
            .status,
        401
    );
    let auth = format!("Bearer {}", demo::reader_key());
    let r = app.client().send(
        "GET",
        "/v1/failures/refresh",
        &[("authorization", auth.as_str())],
        None,
    );
    assert_eq!(r.status, 405);
}

/// Two refreshes at once: one reads, the other says so and reads nothing.
#[test]
fn concurrent_refreshes_read_each_page_once() {
    let (sim, app) = stack(&[]);
    sim.latency(700);
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| refresh(&app));
        std::thread::sleep(std::time::Duration::from_millis(300));
        let b = s.spawn(|| refresh(&app));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!((a.status, b.status), (200, 200), "{} {}", a.body, b.body);
    let (a, b) = (a.json(), b.json());
    let busy: Vec<bool> = [&a, &b].iter().map(|r| r["busy"] == true).collect();
    assert_eq!(busy, [false, true], "{a} {b}");
    assert_eq!(b["pagesRead"], 0);
    let firsts = sign_in_requests(&sim)
        .iter()
        .filter(|r| !r["query"].as_str().unwrap_or("").contains("skiptoken"))
        .count();
    assert_eq!(firsts, 1, "one reader asked Graph");
}

/// A page after the first slower than what is left of the budget: what
/// was read, `truncated`, not a 502.
#[test]
fn a_slow_later_page_truncates_instead_of_failing() {
    let (sim, app) = stack(&[]);
    sim.reseed(|f| {
        f["signIns"]["generate"]["count"] = json!(3000);
        f["signIns"]["generate"]["days"] = json!(9);
    });
    sim.fault(
        json!({ "pathPattern": "^/v1\\.0/auditLogs/signIns$", "latencyMs": 30000, "skip": 1 }),
    );
    let all = "/v1/failures?since=P10D&errorCodes=500121,50074,50076,53003,50053,50126";
    let r = get(&app, all, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let b = r.json();
    assert_eq!(
        (b["truncated"].clone(), b["pagesRead"].clone()),
        (json!(true), json!(1))
    );
    assert_eq!(b["scannedEvents"], 1000);
    assert_eq!(b["source"], "graph");
    assert_eq!(b["coverage"].as_array().unwrap().len(), 1);
}
