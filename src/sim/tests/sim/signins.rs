//! Rule 8: sign-in logs: order, filters, paging, retention, licence, throttle (FACTS §7).

use std::collections::HashSet;

use serde_json::Value;

use crate::common::*;

fn values(r: &Resp) -> Vec<Value> {
    r.body["value"].as_array().unwrap().clone()
}

fn times(v: &[Value]) -> Vec<String> {
    v.iter()
        .map(|x| x["createdDateTime"].as_str().unwrap().to_string())
        .collect()
}

/// Keeps tests under the reports throttle (5 per 10 s) by moving the clock.
fn fresh_window(s: &Sim) {
    s.advance(11);
    // Tokens outlive 11 s many times over; nothing else to do.
}

#[test]
fn newest_first_within_retention() {
    let s = Sim::start();
    let r = s.get("/v1.0/auditLogs/signIns");
    r.expect(200, "");
    let v = values(&r);
    // 200 generated over 10 days + 3 recent explicit events; the 45-day-old one is past retention.
    assert_eq!(v.len(), 203);
    let t = times(&v);
    let mut sorted = t.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(t, sorted, "newest first");
    assert!(r.body.get("@odata.nextLink").is_none());
    assert!(
        t[0].contains('.') && t[0].ends_with('Z') && t[0].len() == 28,
        "{}",
        t[0]
    );
    let codes: HashSet<i64> = v
        .iter()
        .map(|x| x["status"]["errorCode"].as_i64().unwrap())
        .collect();
    for c in [0, 500121, 50074, 50076, 53003, 50053, 50126] {
        assert!(codes.contains(&c), "missing {c}");
    }
    let old = s.get(&format!(
        "/v1.0/auditLogs/signIns?$filter={}",
        enc(&format!(
            "userId eq '{ALICE}' and createdDateTime le {}",
            "2099-01-01T00:00:00Z"
        ))
    ));
    assert!(values(&old)
        .iter()
        .all(|x| !x["status"]["additionalDetails"]
            .as_str()
            .unwrap_or("")
            .contains("retention")));
}

#[test]
fn filters_and_unsupported_clauses() {
    let s = Sim::start();
    let q = |f: &str| s.get(&format!("/v1.0/auditLogs/signIns?$filter={}", enc(f)));
    let r = q("createdDateTime ge 2020-01-01T00:00:00Z and status/errorCode eq 500121");
    r.expect(200, "");
    let v = values(&r);
    assert!(!v.is_empty());
    assert!(v.iter().all(|x| x["status"]["errorCode"] == 500121));
    let r = q(&format!(
        "userId eq '{BOB}' and (status/errorCode eq 500121 or status/errorCode eq 50074)"
    ));
    let v = values(&r);
    assert!(v.len() >= 3);
    assert!(v.iter().all(|x| x["userId"] == BOB));
    let r = q("userPrincipalName eq 'BOB@contoso.com' and status/errorCode ne 0");
    assert!(values(&r).iter().all(|x| x["status"]["errorCode"] != 0));
    fresh_window(&s);
    let r = q("appId eq '1fec8e78-bce4-4aaf-ab1b-5451cc387264'");
    assert!(values(&r)
        .iter()
        .all(|x| x["appDisplayName"] == "Microsoft Teams"));
    let r = q("ipAddress eq '203.0.113.10'");
    r.expect(400, "BadRequest");
    assert_eq!(r.message(), "Invalid filter clause");
    q("status/errorCode eq '500121'").expect(400, "BadRequest");
    q("createdDateTime ge yesterday").expect(400, "BadRequest");
    fresh_window(&s);
    s.get("/v1.0/auditLogs/signIns?$top=1001")
        .expect(400, "BadRequest");
    let r = s.get("/v1.0/auditLogs/signIns?$top=1000");
    r.expect(200, "");
}

#[test]
fn paging_follows_next_link_verbatim() {
    let s = Sim::start();
    let f = enc("createdDateTime ge 2020-01-01T00:00:00Z and status/errorCode ne 12345");
    let mut url = format!("{}/v1.0/auditLogs/signIns?$filter={f}&$top=40", s.base);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let path = url
            .strip_prefix(&s.base)
            .expect("nextLink on the sim's base")
            .to_string();
        let r = s.get(&path);
        r.expect(200, "");
        seen.extend(
            values(&r)
                .iter()
                .map(|v| v["id"].as_str().unwrap().to_string()),
        );
        pages += 1;
        match r.body["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(next.contains("$skiptoken="), "{next}");
                assert!(next.contains(&format!("$filter={f}")), "{next}");
                assert!(next.contains("$top=40"));
                url = next.to_string();
            }
            None => break,
        }
        fresh_window(&s);
    }
    assert_eq!(pages, 6);
    assert_eq!(seen.len(), 203);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 203);
}

#[test]
fn tampered_skiptoken_is_refused() {
    let s = Sim::start();
    let r = s.get("/v1.0/auditLogs/signIns?$top=10");
    let next = r.body["@odata.nextLink"].as_str().unwrap().to_string();
    let path = next.strip_prefix(&s.base).unwrap();
    let tampered = path.replace("$skiptoken=a", "$skiptoken=b");
    let tampered = if tampered == path {
        format!("{path}0")
    } else {
        tampered
    };
    s.get(&tampered).expect(400, "BadRequest");
    // The token is bound to the query it came with.
    let token = path.split("$skiptoken=").nth(1).unwrap();
    s.get(&format!(
        "/v1.0/auditLogs/signIns?$top=11&$skiptoken={token}"
    ))
    .expect(400, "BadRequest");
    s.get(path).expect(200, "");
}

#[test]
fn reports_throttle_per_app() {
    let s = Sim::start();
    for _ in 0..5 {
        s.get("/v1.0/auditLogs/signIns?$top=1").expect(200, "");
    }
    let r = s.get("/v1.0/auditLogs/signIns?$top=1");
    r.expect(429, "TooManyRequests");
    let ra: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=10).contains(&ra), "{ra}");
    assert_eq!(r.body["error"]["innerError"]["status"], "429");
    // Other Graph calls are not affected.
    s.get(&format!("/v1.0/users/{BOB}")).expect(200, "");
    s.advance(ra as i64);
    s.get("/v1.0/auditLogs/signIns?$top=1").expect(200, "");
}

#[test]
fn non_premium_tenant_is_403() {
    let s = Sim::start_with(graph_sim::fixture::parse(graph_sim::NO_PREMIUM_FIXTURE).unwrap());
    let r = s.get("/v1.0/auditLogs/signIns");
    r.expect(403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant");
    assert_eq!(
        r.message(),
        "Neither tenant is B2C or tenant doesn't have premium license"
    );
    s.get(&format!("/v1.0/users/{ALICE}")).expect(200, "");
}

#[test]
fn single_sign_in_and_registration_details() {
    let s = Sim::start();
    let r = s.get("/v1.0/auditLogs/signIns?$top=1");
    let id = r.body["value"][0]["id"].as_str().unwrap().to_string();
    let one = s.get(&format!("/v1.0/auditLogs/signIns/{id}"));
    one.expect(200, "");
    assert_eq!(one.body["id"], id);
    let r = s.get(&format!(
        "/v1.0/reports/authenticationMethods/userRegistrationDetails?$filter={}",
        enc(&format!("id eq '{BOB}'"))
    ));
    r.expect(200, "");
    assert_eq!(r.body["value"][0]["isMfaRegistered"], false);
    let r = s.get(&format!(
        "/v1.0/reports/authenticationMethods/userRegistrationDetails/{ADELE}"
    ));
    assert_eq!(r.body["isAdmin"], true);
    assert_eq!(r.body["isMfaRegistered"], true);
}

/// Sign-ins reach the log minutes after they happen (Entra reporting
/// latencies: 95 % within 2 min, 99 % within 5): with
/// `ingestionDelaySeconds` an event is listed only that long after its
/// `createdDateTime`.
#[test]
fn a_sign_in_is_listed_only_after_the_ingestion_delay() {
    let mut f = Sim::demo_fixture();
    f["signIns"]["ingestionDelaySeconds"] = serde_json::json!(180);
    f["signIns"]["events"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({ "id": "late-one", "userId": BOB, "createdDateTime": "now-1m",
            "status": { "errorCode": 500121, "failureReason": "late", "additionalDetails": null } }));
    let s = Sim::start_with(f);
    let ids = |s: &Sim| -> Vec<String> {
        values(&s.get("/v1.0/auditLogs/signIns"))
            .iter()
            .map(|x| x["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(!ids(&s).contains(&"late-one".to_string()));
    // The newest listed is at least the delay old.
    fresh_window(&s);
    s.advance(120);
    assert!(ids(&s).contains(&"late-one".to_string()));
}

/// `burst`: failing users retry, so that many generated sign-ins in a row
/// share a user, an app and an address within ten minutes.
#[test]
fn generated_bursts_share_user_app_and_address() {
    let mut f = Sim::demo_fixture();
    f["signIns"]["events"] = serde_json::json!([]);
    f["signIns"]["generate"]["count"] = serde_json::json!(40);
    f["signIns"]["generate"]["burst"] = serde_json::json!(10);
    let s = Sim::start_with(f);
    let v = values(&s.get("/v1.0/auditLogs/signIns"));
    let key = |x: &Value| format!("{}|{}|{}", x["userId"], x["appDisplayName"], x["ipAddress"]);
    let streaks: HashSet<String> = v.iter().map(key).collect();
    assert!(streaks.len() <= 4, "{} streaks", streaks.len());
    assert!(v.len() >= 30, "within retention: {}", v.len());
}
