//! Graph as real tenants answer it (graph-sim's rules 13-20, each from
//! Microsoft's docs or a public issue thread): a P1-only tenant without
//! PIM, memberships served a page at a time, PIM for Groups and owners of
//! role-assignable groups, lower-cased sign-in UPNs, permissions checked
//! up front, ambiguous answers to writes that are not idempotent, and
//! replication lag after deletes.

use mfa_tests::{demo, demo_app, root, Sim, Spin};
use serde_json::{json, Value};

use crate::common::{self, audit_rows, get, methods_of, post, writes};
use crate::{options, stack};

const BOB_ID: &str = "48b85567-7c29-53ed-b888-e7aef7ddc561";
const ALICE_ID: &str = "2f9c4b7e-83d1-4a6f-b2c5-9e1d7a3f6b80";
const ADELE_ID: &str = "8f28ab7b-1cbf-5507-8a6a-ee53abb4a0ed";
const PAUL_ID: &str = "9f0b7f72-0072-508b-a6bb-856695ea85d6";
const TAP_TYPE: &str = "#microsoft.graph.temporaryAccessPassAuthenticationMethod";

fn passes_of(sim: &Sim, user_id: &str) -> Vec<Value> {
    methods_of(sim, user_id)
        .into_iter()
        .filter(|m| m["@odata.type"] == TAP_TYPE)
        .collect()
}

fn tap(app: &Spin, key: &str, user: &str) -> mfa_tests::Reply {
    post(
        app,
        "/v1/tap",
        key,
        &json!({ "user": user, "ticket": "INC0014000", "replaceExisting": true }),
        &[],
    )
}

/// Graph requests (not token, not envelopes) whose path matches.
fn graph_calls(sim: &Sim, method: &str, path_contains: &str) -> Vec<Value> {
    sim.requests()
        .into_iter()
        .filter(|r| r["kind"] == "graph" && r["method"] == method)
        .filter(|r| r["path"].as_str().unwrap_or("").contains(path_contains))
        .collect()
}

fn diagnose(app: &Spin, user: &str) -> Value {
    let r = get(
        app,
        &format!("/v1/diagnose?user={user}"),
        demo::helpdesk_key(),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn reason_codes(d: &Value) -> Vec<String> {
    d["protected"]["reasons"]
        .as_array()
        .unwrap_or_else(|| panic!("no reasons: {d}"))
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_p1_only_tenant_runs_every_mutation_and_still_refuses_a_global_administrator() {
    let sim = Sim::start(&root().join("src/sim/fixtures/p1-only.json"));
    let app = Spin::start(options(&sim.url(), &[])).unwrap_or_else(|e| panic!("{e:#}"));
    let key = demo::helpdesk_key();

    let r = tap(&app, key, "bob@contoso.com");
    assert_eq!(r.status, 201, "{}", r.body);
    let passes = passes_of(&sim, BOB_ID);
    assert_eq!(passes.len(), 1);
    assert_eq!(passes[0]["id"], r.json()["methodId"]);

    let body = json!({ "user": "alice@contoso.com", "ticket": "INC0014001", "dryRun": true });
    let r = post(&app, "/v1/reset", key, &body, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.json()["wouldRemove"].as_array().unwrap().is_empty());

    let body = json!({ "user": "bob@contoso.com", "phoneNumber": "+1 425 555 0123",
                       "phoneType": "office", "ticket": "INC0014002" });
    let r = post(&app, "/v1/phone", key, &body, &[]);
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(methods_of(&sim, BOB_ID)
        .iter()
        .any(|m| m["phoneNumber"] == "+1 4255550123" && m["phoneType"] == "office"));

    // Active roles still protect: no PIM, yet no hole.
    let before = writes(&sim).len();
    let r = tap(&app, key, "adele.admin@contoso.com");
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["code"], "protected_user");
    assert_eq!(writes(&sim).len(), before, "nothing written for Adele");
    assert!(passes_of(&sim, ADELE_ID).is_empty());

    let d = diagnose(&app, "bob@contoso.com");
    assert_eq!(
        d["protected"]["pim"],
        json!({ "consulted": false, "reason": "premium_license_required" })
    );
    let ready = common::readyz(&app);
    assert_eq!(ready["licences"]["p2"], false, "{ready}");
    assert_eq!(ready["licences"]["p1"], true, "{ready}");
    assert_eq!(ready["permissions"]["operations"]["tap"], "ok");

    // The refused eligibility read was sent once; its answer is remembered
    // (PIM for Groups is never asked in such a tenant).
    let eligibility = graph_calls(&sim, "GET", "roleEligibilityScheduleInstances");
    assert_eq!(eligibility.len(), 1, "{eligibility:?}");
    assert_eq!(
        eligibility[0]["graphErrorCode"],
        "AadPremiumLicenseRequired"
    );
    assert!(graph_calls(&sim, "GET", "privilegedAccess").is_empty());
}

#[test]
fn memberships_served_a_page_at_a_time_still_find_every_protection_reason() {
    let (sim, app) = stack(&[]);
    sim.quirks(json!({ "membershipPageSize": 1, "rolePageSize": 1 }));
    let key = demo::helpdesk_key();
    let cases = [
        ("diego@contoso.com", "protected_group"),
        ("grace@contoso.com", "directory_role"),
        ("breakglass@contoso.onmicrosoft.com", "protected_group"),
        ("henry@contoso.com", "eligible_directory_role"),
        // PIM for Groups: eligible to join a group that holds a role.
        ("paul@contoso.com", "eligible_directory_role"),
        // Owners of a role-assignable group can add themselves to it.
        ("olivia@contoso.com", "role_assignable_group_owner"),
    ];
    for (upn, code) in cases {
        let before = writes(&sim).len();
        let r = tap(&app, key, upn);
        assert_eq!(r.status, 403, "{upn}: {}", r.body);
        assert_eq!(r.json()["code"], "protected_user", "{upn}");
        assert_eq!(writes(&sim).len(), before, "{upn}: nothing written");
        let d = diagnose(&app, upn);
        assert!(reason_codes(&d).iter().any(|c| c == code), "{upn}: {d}");
        assert_eq!(d["protected"]["pim"]["consulted"], true);
    }
    // The TAP policy's group is found on a later page too (mfa-notify is
    // in it only through a nested group).
    let r = tap(&app, key, "mfa-notify@contoso.com");
    assert_eq!(r.status, 201, "{}", r.body);
    let paged = graph_calls(&sim, "GET", "transitiveMemberOf")
        .into_iter()
        .filter(|r| r["query"].as_str().unwrap_or("").contains("skiptoken"))
        .count();
    assert!(paged >= 2, "later pages were read");
    // A privileged caller may act on them.
    let r = tap(&app, demo::admin_key(), "paul@contoso.com");
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(passes_of(&sim, PAUL_ID).len(), 1);
}

#[test]
fn mixed_case_upns_find_the_same_failures() {
    let (sim, app) = stack(&[]);
    let read = |user: &str| {
        let r = get(
            &app,
            &format!("/v1/failures?since=P7D&user={user}"),
            demo::helpdesk_key(),
            &[],
        );
        assert_eq!(r.status, 200, "{user}: {}", r.body);
        r.json()
    };
    let lower = read("bob@contoso.com");
    let mixed = read("Bob@Contoso.COM");
    assert_eq!(lower["users"][0]["user"]["id"], BOB_ID, "{lower}");
    assert!(
        lower["users"][0]["failures"].as_u64().unwrap() >= 3,
        "{lower}"
    );
    assert_eq!(mixed["users"], lower["users"]);
    for r in graph_calls(&sim, "GET", "/auditLogs/signIns") {
        let q = r["query"].as_str().unwrap();
        assert!(!q.contains("select"), "no $select on signIns: {q}");
        let q = urlencoding_decode(q);
        assert!(q.contains("userPrincipalName eq 'bob@contoso.com'"), "{q}");
    }
    // Diagnose by a mixed-case UPN sees them too, and reads the
    // registration report by its key, the resolved object id.
    let d = diagnose(&app, "BOB@contoso.com");
    assert_eq!(
        d["recentFailures"]["byErrorCode"]["500121"]["count"],
        lower["users"][0]["errorCodes"]["500121"],
        "{d}"
    );
    assert!(d["unavailable"].as_array().unwrap().is_empty(), "{d}");
    let reg = graph_calls(&sim, "GET", "userRegistrationDetails");
    assert_eq!(reg.len(), 1);
    assert_eq!(
        reg[0]["path"],
        format!("/v1.0/reports/authenticationMethods/userRegistrationDetails/{BOB_ID}")
    );
}

fn urlencoding_decode(q: &str) -> String {
    percent_encoding::percent_decode_str(q)
        .decode_utf8_lossy()
        .into_owned()
}

#[test]
fn a_missing_permission_is_named_by_readyz_and_refused_before_any_graph_call() {
    let sim = Sim::start(&mfa_tests::demo_fixture());
    // The demo app without the TAP and broad methods write permissions.
    let fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(mfa_tests::demo_fixture()).unwrap()).unwrap();
    let granted: Vec<&str> = fixture["apps"][0]["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .filter(|p| {
            ![
                "UserAuthMethod-TAP.ReadWrite.All",
                "UserAuthenticationMethod.ReadWrite.All",
            ]
            .contains(p)
        })
        .collect();
    sim.grant(&demo_app().client_id, &granted);
    let app = Spin::start(options(&sim.url(), &[])).unwrap_or_else(|e| panic!("{e:#}"));

    let ready = common::readyz(&app);
    let ops = &ready["permissions"]["operations"];
    assert_eq!(
        ops["tap"],
        json!({ "missing": ["UserAuthMethod-TAP.ReadWrite.All"] })
    );
    assert_eq!(
        ops["reset"],
        json!({ "missing": ["UserAuthenticationMethod.ReadWrite.All"] })
    );
    assert_eq!(ops["phone"], "ok", "the granular phone permission suffices");
    assert_eq!(ops["failures"], "ok");
    assert_eq!(
        ready["permissions"]["granted"].as_array().unwrap().len(),
        granted.len()
    );

    sim.clear_requests();
    let r = tap(&app, demo::helpdesk_key(), "bob@contoso.com");
    assert_eq!(r.status, 500, "{}", r.body);
    let p = r.json();
    assert_eq!(p["code"], "permission_missing");
    assert_eq!(p["permission"], "UserAuthMethod-TAP.ReadWrite.All");
    assert!(
        sim.requests().iter().all(|r| r["kind"] == "token"),
        "no Graph call before the refusal: {:?}",
        sim.requests()
    );
    assert!(audit_rows(&app)
        .last()
        .unwrap()
        .contains("|tap|failed|500|Some(\"permission_missing\")|"));

    // Diagnose still answers and names what to grant.
    let d = diagnose(&app, "bob@contoso.com");
    let methods = d["unavailable"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["source"] == "methods")
        .unwrap_or_else(|| panic!("{d}"));
    assert_eq!(methods["reason"], "permission_missing");
    assert_eq!(methods["permission"], "UserAuthenticationMethod.Read.All");

    // The phone operation has what it needs.
    let body = json!({ "user": "bob@contoso.com", "phoneNumber": "+1 425 555 0124",
                       "phoneType": "office", "ticket": "INC0014003" });
    assert_eq!(
        post(&app, "/v1/phone", demo::helpdesk_key(), &body, &[]).status,
        201
    );
}

#[test]
fn a_refused_protection_read_fails_closed_naming_the_permission() {
    let (sim, app) = stack(&[]);
    sim.fault(json!({ "pathPattern": "^/v1.0/groups$", "status": 403,
                      "errorCode": "Authorization_RequestDenied", "count": 5 }));
    let r = tap(&app, demo::helpdesk_key(), "bob@contoso.com");
    assert_eq!(r.status, 500, "{}", r.body);
    let p = r.json();
    assert_eq!(p["code"], "permission_missing");
    assert_eq!(p["permission"], "GroupMember.Read.All");
    assert!(
        writes(&sim).is_empty(),
        "the guard fails closed: nothing written"
    );
}

#[test]
fn ambiguous_answers_to_writes_are_settled_by_reading_never_blindly_retried() {
    let (sim, app) = stack(&[]);
    let key = demo::helpdesk_key();

    // The create took effect but its answer was a 504: the lost pass is
    // found, deleted, and one pass the caller holds is left.
    sim.fault(
        json!({ "pathPattern": "temporaryAccessPassMethods$", "method": "POST",
                      "status": 504, "commit": true, "count": 1 }),
    );
    let r = tap(&app, key, "bob@contoso.com");
    assert_eq!(r.status, 201, "{}", r.body);
    let b = r.json();
    let passes = passes_of(&sim, BOB_ID);
    assert_eq!(passes.len(), 1, "{passes:?}");
    assert_eq!(passes[0]["id"], b["methodId"]);
    assert!(b["warnings"].to_string().contains("no clear answer"), "{b}");
    let posts = graph_calls(&sim, "POST", "temporaryAccessPassMethods");
    assert_eq!(posts.len(), 2);
    assert_eq!(
        graph_calls(&sim, "DELETE", "temporaryAccessPassMethods").len(),
        1
    );

    // A phone whose create took effect behind a 504 is not added twice.
    sim.clear_requests();
    sim.fault(json!({ "pathPattern": "phoneMethods$", "method": "POST",
                      "status": 504, "commit": true, "count": 1 }));
    let body = json!({ "user": "bob@contoso.com", "phoneNumber": "+1 425 555 0125",
                       "phoneType": "office", "ticket": "INC0014004" });
    let r = post(&app, "/v1/phone", key, &body, &[]);
    assert_eq!(r.status, 201, "{}", r.body);
    let office: Vec<Value> = methods_of(&sim, BOB_ID)
        .into_iter()
        .filter(|m| m["phoneType"] == "office")
        .collect();
    assert_eq!(office.len(), 1);
    assert_eq!(office[0]["phoneNumber"], "+1 4255550125");
    assert_eq!(r.json()["methodId"], office[0]["id"]);
    assert_eq!(
        graph_calls(&sim, "POST", "phoneMethods").len(),
        1,
        "settled, not resent"
    );

    // A connection lost before Graph acted: the read shows nothing, and
    // the create is sent once more.
    sim.clear_requests();
    sim.fault(json!({ "pathPattern": "phoneMethods$", "method": "POST",
                      "connectionReset": true, "count": 1 }));
    let body = json!({ "user": "alice@contoso.com", "phoneNumber": "+44 20 7946 0958",
                       "phoneType": "alternateMobile", "ticket": "INC0014005",
                       "replaceExisting": true });
    let r = post(&app, "/v1/phone", key, &body, &[]);
    assert!(r.status < 300, "{}", r.body);
}

#[test]
fn a_mail_whose_send_was_ambiguous_is_reported_not_sent_twice() {
    let (sim, app) = stack(&[(
        "notify",
        Some(r#"{"sender":"mfa-notify@contoso.com","recipients":["manager"]}"#),
    )]);
    sim.fault(json!({ "pathPattern": "sendMail$", "status": 504, "commit": true, "count": 3 }));
    let r = tap(&app, demo::helpdesk_key(), "bob@contoso.com");
    assert_eq!(r.status, 201, "{}", r.body);
    let b = r.json();
    assert_eq!(b["notified"], json!([]));
    assert!(
        b["warnings"]
            .to_string()
            .contains("may not have been notified"),
        "{b}"
    );
    assert_eq!(
        graph_calls(&sim, "POST", "sendMail").len(),
        1,
        "never retried"
    );
    assert_eq!(sim.state()["sentMail"].as_array().unwrap().len(), 1);
}

#[test]
fn a_resets_confirming_read_waits_out_replication_lag() {
    let (sim, app) = stack(&[]);
    sim.quirks(json!({ "replicationLagReads": 1 }));
    let body = json!({ "user": "alice@contoso.com", "ticket": "INC0014006" });
    let r = post(&app, "/v1/reset", demo::helpdesk_key(), &body, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let b = r.json();
    assert_eq!(b["failed"], json!([]), "{b}");
    let types: Vec<_> = methods_of(&sim, ALICE_ID)
        .iter()
        .map(|m| m["@odata.type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(types, ["#microsoft.graph.passwordAuthenticationMethod"]);
    let reads = graph_calls(&sim, "GET", "/authentication/methods");
    assert!(
        reads.len() >= 3,
        "a read before, and the confirming read twice: {}",
        reads.len()
    );
}
