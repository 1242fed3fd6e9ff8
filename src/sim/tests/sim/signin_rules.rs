//! Sign-in list query options and UPN case (signin-list docs; msgraph-sdk-powershell#1251;
//! microsoft-graph-docs#13684; microsoft-graph-docs-contrib#9049).

use serde_json::Value;

use crate::common::*;

fn fresh_window(s: &Sim) {
    s.advance(11);
}

fn not_allowed(option: &str) -> String {
    format!("Query option '{option}' is not allowed. To allow it, set the 'AllowedQueryOptions' property on EnableQueryAttribute or QueryValidationSettings.")
}

#[test]
fn only_filter_top_and_skiptoken_are_accepted() {
    let s = Sim::start();
    for (q, name) in [
        ("$select=id,userPrincipalName", "Select"),
        ("$count=true", "Count"),
        ("$orderby=createdDateTime", "OrderBy"),
        ("$skip=5", "Skip"),
        ("$expand=x", "Expand"),
        ("$search=%22a%22", "Search"),
    ] {
        let r = s.get(&format!("/v1.0/auditLogs/signIns?{q}"));
        r.expect(400, "BadRequest");
        assert_eq!(r.message(), not_allowed(name), "{q}");
    }
    // Refusals happen before the reports throttle counts the request.
    let r = s.get("/v1.0/auditLogs/signIns?$top=2&$filter=status/errorCode%20eq%20500121");
    r.expect(200, "");
    let next = r.body["@odata.nextLink"].as_str().unwrap();
    assert!(next.contains("$skiptoken="));
    s.get(next.strip_prefix(&s.base).unwrap()).expect(200, "");
    // In $batch too.
    let r = s.send(
        "POST",
        "/v1.0/$batch",
        &serde_json::json!({"requests": [{"id": "1", "method": "GET", "url": "/auditLogs/signIns?$select=id"}]}),
    );
    assert_eq!(r.body["responses"][0]["status"], 400);
    assert_eq!(
        r.body["responses"][0]["body"]["error"]["message"],
        not_allowed("Select")
    );
}

#[test]
fn single_sign_in_keeps_select() {
    // signin-get: "This method supports OData query parameters" (no observed refusal).
    let s = Sim::start();
    let r = s.get("/v1.0/auditLogs/signIns?$top=1");
    let id = items(&r)[0]["id"].as_str().unwrap().to_string();
    let one = s.get(&format!("/v1.0/auditLogs/signIns/{id}?$select=id,userId"));
    one.expect(200, "");
    assert_eq!(one.body["id"], id);
    assert!(one.body.get("ipAddress").is_none());
}

fn upn_filter(s: &Sim, f: &str) -> Vec<Value> {
    let r = s.get(&format!("/v1.0/auditLogs/signIns?$filter={}", enc(f)));
    r.expect(200, "");
    items(&r)
}

#[test]
fn upn_filter_is_case_sensitive() {
    let s = Sim::start();
    let bob = upn_filter(&s, "userPrincipalName eq 'bob@contoso.com'");
    assert!(bob.len() >= 3, "{}", bob.len());
    assert!(bob.iter().all(|x| x["userId"] == BOB));
    assert!(upn_filter(&s, "userPrincipalName eq 'Bob@contoso.com'").is_empty());
    assert!(upn_filter(&s, "userPrincipalName eq 'BOB@CONTOSO.COM'").is_empty());
    fresh_window(&s);
    assert!(upn_filter(&s, "startswith(userPrincipalName,'Bob')").is_empty());
    let sw = upn_filter(&s, "startswith(userPrincipalName,'bob@')");
    assert_eq!(sw.len(), bob.len());
    // userId is a GUID and matches in any case.
    let up = upn_filter(&s, &format!("userId eq '{}'", BOB.to_uppercase()));
    assert_eq!(up.len(), bob.len());
}

#[test]
fn sign_ins_carry_the_upn_in_lower_case() {
    let mut f = Sim::demo_fixture();
    let bob = f["users"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|u| u["id"] == BOB)
        .unwrap();
    bob["userPrincipalName"] = "Bob.Builder@Contoso.com".into();
    let s = Sim::start_with(f);
    // The directory keeps its case …
    let u = s.get(&format!("/v1.0/users/{BOB}"));
    assert_eq!(u.body["userPrincipalName"], "Bob.Builder@Contoso.com");
    // … the sign-in log does not.
    let found = upn_filter(&s, "userPrincipalName eq 'bob.builder@contoso.com'");
    assert!(found.len() >= 3);
    assert!(found
        .iter()
        .all(|x| x["userPrincipalName"] == "bob.builder@contoso.com"));
    assert!(upn_filter(&s, "userPrincipalName eq 'Bob.Builder@Contoso.com'").is_empty());
    let st = s.state();
    assert!(st["signIns"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["userPrincipalName"]
            .as_str()
            .is_none_or(|u| u == u.to_lowercase())));
}
