//! Rule 3: users by id or UPN, `$select`, guests, list filters, manager, memberships.

use serde_json::{json, Value};

use crate::common::*;

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[test]
fn get_user_default_properties_and_select() {
    let s = Sim::start();
    let r = s.get("/v1.0/users/ALICE@Contoso.com");
    r.expect(200, "");
    assert_eq!(r.body["id"], ALICE);
    assert!(r.body.get("accountEnabled").is_none(), "{}", r.body);
    assert!(r.body.get("userType").is_none());
    assert_eq!(
        keys(&r.body),
        [
            "@odata.context",
            "businessPhones",
            "displayName",
            "givenName",
            "id",
            "jobTitle",
            "mail",
            "mobilePhone",
            "officeLocation",
            "preferredLanguage",
            "surname",
            "userPrincipalName"
        ]
    );
    let r = s.get(&format!(
        "/v1.0/users/{ALICE}?$select=id,displayName,userPrincipalName,accountEnabled,userType"
    ));
    r.expect(200, "");
    assert_eq!(r.body["accountEnabled"], true);
    assert_eq!(r.body["userType"], "Member");
    assert_eq!(keys(&r.body).len(), 6);
    assert!(r.body["@odata.context"].as_str().unwrap().ends_with(
        "$metadata#users(id,displayName,userPrincipalName,accountEnabled,userType)/$entity"
    ));
    s.get(&format!("/v1.0/users/{ALICE}?$select=id,shoeSize"))
        .expect(400, "BadRequest");
}

#[test]
fn unknown_user_is_404() {
    let s = Sim::start();
    let r = s.get("/v1.0/users/nobody@contoso.com");
    r.expect(404, "Request_ResourceNotFound");
    assert_eq!(
        r.message(),
        "Resource 'nobody@contoso.com' does not exist or one of its queried reference-property objects are not present."
    );
}

#[test]
fn guest_upn_needs_percent_encoding() {
    let s = Sim::start();
    let r =
        s.get("/v1.0/users/jo_fabrikam.com%23EXT%23@contoso.onmicrosoft.com?$select=id,userType");
    r.expect(200, "");
    assert_eq!(r.body["id"], JO);
    assert_eq!(r.body["userType"], "Guest");
    let log = s.last_request();
    assert_eq!(log["path"], format!("/v1.0/users/{JO_GUEST_UPN}"));
    assert_eq!(
        log["rawPath"],
        "/v1.0/users/jo_fabrikam.com%23EXT%23@contoso.onmicrosoft.com"
    );
    assert_eq!(log["query"], "$select=id,userType");
    // A raw '#' starts a fragment; the client sends only what precedes it (FACTS §2).
    let r = s.get("/v1.0/users/jo_fabrikam.com");
    r.expect(404, "Request_ResourceNotFound");
    assert!(r
        .message()
        .starts_with("Resource 'jo_fabrikam.com' does not exist"));
}

#[test]
fn list_users_with_filters() {
    let s = Sim::start();
    let one = |f: &str| {
        let r = s.get(&format!("/v1.0/users?$filter={}", enc(f)));
        r.expect(200, "");
        r.body["value"].as_array().unwrap().clone()
    };
    let v = one("userPrincipalName eq 'ALICE@contoso.com'");
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["id"], ALICE);
    assert!(v[0].get("accountEnabled").is_none());
    assert_eq!(
        one(&format!("id eq '{BOB}'"))[0]["userPrincipalName"],
        "bob@contoso.com"
    );
    assert_eq!(one("mail eq 'jo@fabrikam.com'")[0]["id"], JO);
    assert_eq!(
        one(&format!("userPrincipalName eq '{JO_GUEST_UPN}'"))[0]["id"],
        JO
    );
    assert_eq!(one("mail eq 'nobody@contoso.com'").len(), 0);
    s.get(&format!("/v1.0/users?$filter={}", enc("jobTitle eq 'CEO'")))
        .expect(400, "Request_UnsupportedQuery");
    s.get(&format!(
        "/v1.0/users?$filter={}",
        enc("userPrincipalName eq")
    ))
    .expect(400, "BadRequest");
    // $count needs ConsistencyLevel: eventual on /users.
    s.get("/v1.0/users?$count=true")
        .expect(400, "Request_UnsupportedQuery");
    let r = s.get_with(
        "/v1.0/users?$count=true&$top=1",
        &[("ConsistencyLevel", "eventual")],
    );
    r.expect(200, "");
    // 20 since olivia and paul joined the demo tenant (PIM for Groups rule).
    assert_eq!(r.body["@odata.count"], 20);
}

#[test]
fn manager_or_404() {
    let s = Sim::start();
    let r = s.get(&format!("/v1.0/users/{ALICE}/manager"));
    r.expect(200, "");
    assert_eq!(r.body["id"], MEGAN);
    assert_eq!(r.body["@odata.type"], "#microsoft.graph.user");
    assert_eq!(r.body["mail"], "megan@contoso.com");
    s.get(&format!("/v1.0/users/{MEGAN}/manager"))
        .expect(404, "Request_ResourceNotFound");
}

fn ids(r: &Resp) -> Vec<String> {
    r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn member_of_direct_and_transitive() {
    let s = Sim::start();
    let direct = s.get(&format!("/v1.0/users/{DIEGO}/memberOf"));
    direct.expect(200, "");
    assert_eq!(ids(&direct), vec![G_EXEC.to_string()]);
    let t = s.get(&format!("/v1.0/users/{DIEGO}/transitiveMemberOf"));
    assert!(ids(&t).contains(&G_PROTECTED.to_string()));
    assert!(ids(&t).contains(&G_EXEC.to_string()));
    // A role held through a role-assignable group shows up transitively.
    let g = s.get(&format!("/v1.0/users/{GRACE}/transitiveMemberOf"));
    let types: Vec<&str> = g.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["@odata.type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"#microsoft.graph.directoryRole"),
        "{}",
        g.body
    );
    assert!(ids(&g).contains(&G_HELPDESK_OPS.to_string()));
    // Advanced queries need ConsistencyLevel: eventual (FACTS §8).
    let path = format!(
        "/v1.0/users/{DIEGO}/transitiveMemberOf?$filter={}&$count=true",
        enc(&format!("id eq '{G_PROTECTED}'"))
    );
    s.get(&path).expect(400, "Request_UnsupportedQuery");
    let r = s.get_with(&path, &[("ConsistencyLevel", "eventual")]);
    r.expect(200, "");
    assert_eq!(r.body["@odata.count"], 1);
    assert_eq!(ids(&r), vec![G_PROTECTED.to_string()]);
}

#[test]
fn check_member_groups_and_objects() {
    let s = Sim::start();
    let r = s.send(
        "POST",
        &format!("/v1.0/users/{DIEGO}/checkMemberGroups"),
        &json!({"groupIds": [G_PROTECTED, G_TAP]}),
    );
    r.expect(200, "");
    assert_eq!(r.body["value"], json!([G_PROTECTED]));
    let many: Vec<String> = (0..21)
        .map(|i| format!("00000000-0000-0000-0000-{i:012}"))
        .collect();
    s.send(
        "POST",
        &format!("/v1.0/users/{DIEGO}/checkMemberGroups"),
        &json!({ "groupIds": many }),
    )
    .expect(400, "Request_BadRequest");
    s.send(
        "POST",
        &format!("/v1.0/users/{DIEGO}/checkMemberGroups"),
        &json!({"groupIds": [G_PROTECTED], "securityEnabledOnly": true}),
    )
    .expect(400, "BadRequest");
    let roles = s.get("/v1.0/directoryRoles");
    let ua = roles.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["displayName"] == "User Administrator")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s.send(
        "POST",
        &format!("/v1.0/users/{GRACE}/checkMemberObjects"),
        &json!({"ids": [ua, G_HELPDESK_OPS, G_PROTECTED]}),
    );
    r.expect(200, "");
    assert_eq!(r.body["value"], json!([ua, G_HELPDESK_OPS]));
}
