//! PIM for Groups (v1.0), `GET /groups` and `GET /groups/{id}/owners`
//! (privilegedaccessgroup-list-eligibilityscheduleinstances, …-assignmentscheduleinstances,
//! group-list, group-list-owners on learn.microsoft.com).

use serde_json::{json, Value};

use crate::common::*;

const ELIG: &str = "/v1.0/identityGovernance/privilegedAccess/group/eligibilityScheduleInstances";
const ASSIGN: &str = "/v1.0/identityGovernance/privilegedAccess/group/assignmentScheduleInstances";
const SCOPE: &str = "This method requires the $filter (eq) query parameter to scope the request to a principalId or a groupId.";

fn q(s: &Sim, base: &str, filter: &str, extra: &str) -> Resp {
    s.get(&format!("{base}?$filter={}{extra}", enc(filter)))
}

#[test]
fn eligibility_instances_need_a_scoping_filter() {
    let s = Sim::start();
    for r in [
        s.get(ELIG),
        q(&s, ELIG, "accessId eq 'member'", ""),
        s.get(ASSIGN),
    ] {
        r.expect(400, "BadRequest");
        assert_eq!(r.message(), SCOPE);
    }
    let r = q(&s, ELIG, &format!("groupId eq '{G_HELPDESK_OPS}'"), "");
    r.expect(200, "");
    assert_eq!(
        r.body["@odata.context"],
        format!("{}/v1.0/$metadata#identityGovernance/privilegedAccess/group/eligibilityScheduleInstances", s.base)
    );
    let v = items(&r);
    assert_eq!(v.len(), 1);
    let e = &v[0];
    assert_eq!(e["principalId"], PAUL);
    assert_eq!(e["groupId"], G_HELPDESK_OPS);
    assert_eq!(e["accessId"], "member");
    assert_eq!(e["memberType"], "direct");
    assert_eq!(e["eligibilityScheduleId"], e["id"]);
    assert!(e["startDateTime"].is_string() && e["endDateTime"].is_string());
    assert!(e.get("assignmentType").is_none());
    // principalId scoping, with and.
    let r = q(
        &s,
        ELIG,
        &format!("principalId eq '{PAUL}' and accessId eq 'member'"),
        "",
    );
    assert_eq!(items(&r).len(), 1);
    assert!(items(&q(
        &s,
        ELIG,
        &format!("principalId eq '{PAUL}' and accessId eq 'owner'"),
        ""
    ))
    .is_empty());
    assert!(items(&q(&s, ELIG, &format!("principalId eq '{OLIVIA}'"), "")).is_empty());
    // $select and $expand.
    let r = q(
        &s,
        ELIG,
        &format!("groupId eq '{G_HELPDESK_OPS}'"),
        "&$select=principalId,accessId",
    );
    assert_eq!(
        items(&r)[0],
        json!({"principalId": PAUL, "accessId": "member"})
    );
    q(
        &s,
        ELIG,
        &format!("groupId eq '{G_HELPDESK_OPS}'"),
        "&$select=roleDefinitionId",
    )
    .expect(400, "BadRequest");
    let r = q(
        &s,
        ELIG,
        &format!("principalId eq '{PAUL}'"),
        "&$expand=principal,group",
    );
    r.expect(200, "");
    assert_eq!(
        items(&r)[0]["principal"]["userPrincipalName"],
        "paul@contoso.com"
    );
    assert_eq!(
        items(&r)[0]["principal"]["@odata.type"],
        "#microsoft.graph.user"
    );
    assert_eq!(items(&r)[0]["group"]["displayName"], "Helpdesk-Operators");
    // The docs list $select, $filter and $expand only: no $top, no `or`.
    let r = q(
        &s,
        ELIG,
        &format!("groupId eq '{G_HELPDESK_OPS}'"),
        "&$top=5",
    );
    r.expect(400, "BadRequest");
    assert!(
        r.message().starts_with("Query option 'Top' is not allowed"),
        "{}",
        r.message()
    );
    q(
        &s,
        ELIG,
        &format!("principalId eq '{PAUL}' or principalId eq '{GRACE}'"),
        "",
    )
    .expect(400, "BadRequest");
    q(&s, ELIG, &format!("roleDefinitionId eq '{PAUL}'"), "").expect(400, "BadRequest");
}

#[test]
fn assignment_instances_and_schedules_on_the_clock() {
    let mut s = Sim::start();
    let r = q(&s, ASSIGN, &format!("groupId eq '{G_HELPDESK_OPS}'"), "");
    r.expect(200, "");
    let v = items(&r);
    assert_eq!(v.len(), 2);
    let grace = v.iter().find(|x| x["principalId"] == GRACE).unwrap();
    assert_eq!(grace["accessId"], "member");
    assert_eq!(grace["assignmentType"], "assigned");
    assert_eq!(grace["memberType"], "direct");
    assert_eq!(grace["assignmentScheduleId"], grace["id"]);
    assert!(grace["endDateTime"].is_null());
    let olivia = v.iter().find(|x| x["principalId"] == OLIVIA).unwrap();
    assert_eq!(olivia["accessId"], "owner");
    let r = q(
        &s,
        ASSIGN,
        &format!("groupId eq '{G_HELPDESK_OPS}' and accessId eq 'owner'"),
        "",
    );
    assert_eq!(
        ids(&items(&r)),
        vec![olivia["id"].as_str().unwrap().to_string()]
    );
    assert!(items(&q(&s, ASSIGN, &format!("principalId eq '{PAUL}'"), "")).is_empty());
    // Paul's eligibility ends in 160 days; then it is no longer an instance.
    s.advance(161 * 86400);
    s.renew();
    assert!(items(&q(&s, ELIG, &format!("principalId eq '{PAUL}'"), "")).is_empty());
}

#[test]
fn pim_group_permissions() {
    let s = Sim::start_with(fixture_with_permissions(&[
        "GroupMember.Read.All",
        "RoleManagement.Read.Directory",
    ]));
    q(&s, ELIG, &format!("principalId eq '{PAUL}'"), "").expect(403, "Authorization_RequestDenied");
    q(&s, ASSIGN, &format!("principalId eq '{PAUL}'"), "")
        .expect(403, "Authorization_RequestDenied");
    let s = Sim::start_with(fixture_with_permissions(&[
        "PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup",
        "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup",
    ]));
    q(&s, ELIG, &format!("principalId eq '{PAUL}'"), "").expect(200, "");
    q(&s, ASSIGN, &format!("principalId eq '{GRACE}'"), "").expect(200, "");
    let s = Sim::start_with(fixture_with_permissions(&[
        "PrivilegedEligibilitySchedule.Read.AzureADGroup",
    ]));
    q(&s, ELIG, &format!("principalId eq '{PAUL}'"), "").expect(200, "");
    q(&s, ASSIGN, &format!("principalId eq '{PAUL}'"), "")
        .expect(403, "Authorization_RequestDenied");
}

#[test]
fn eligible_and_owner_are_not_members() {
    let s = Sim::start();
    for who in [PAUL, OLIVIA] {
        let r = s.get(&format!("/v1.0/users/{who}/transitiveMemberOf"));
        r.expect(200, "");
        assert!(
            !ids(&items(&r)).contains(&G_HELPDESK_OPS.to_string()),
            "{who}"
        );
        let r = s.send(
            "POST",
            &format!("/v1.0/users/{who}/checkMemberGroups"),
            &json!({"groupIds": [G_HELPDESK_OPS]}),
        );
        assert_eq!(r.body["value"], json!([]));
        // Neither holds a role.
        let r = s.get(&format!(
            "/v1.0/roleManagement/directory/roleAssignments?$filter={}",
            enc(&format!("principalId eq '{who}'"))
        ));
        assert!(items(&r).is_empty());
    }
    let r = s.get(&format!("/v1.0/groups/{G_HELPDESK_OPS}/transitiveMembers"));
    assert_eq!(ids(&items(&r)), vec![GRACE.to_string()]);
    // Both are ordinary TAP-eligible users: a pass can be issued.
    for who in [PAUL, OLIVIA] {
        s.send(
            "POST",
            &format!("/v1.0/users/{who}/authentication/temporaryAccessPassMethods"),
            &json!({}),
        )
        .expect(201, "");
        assert_eq!(s.user_state(who)["mailbox"], false);
    }
}

#[test]
fn list_groups_filter_select_and_paging() {
    let s = Sim::start();
    let r = s.get(&format!(
        "/v1.0/groups?$filter={}",
        enc("isAssignableToRole eq true")
    ));
    r.expect(200, "");
    assert_eq!(
        r.body["@odata.context"],
        format!("{}/v1.0/$metadata#groups", s.base)
    );
    assert_eq!(ids(&items(&r)), vec![G_HELPDESK_OPS.to_string()]);
    assert!(items(&r)[0].get("@odata.type").is_none());
    let r = s.get(&format!(
        "/v1.0/groups?$filter={}&$select=id,displayName",
        enc("isAssignableToRole eq false")
    ));
    let v = items(&r);
    assert!(v.len() >= 6);
    assert!(v.iter().all(|g| g.as_object().unwrap().len() == 2), "{v:?}");
    let all: Vec<Value> = s
        .pages("/v1.0/groups?$top=3", &[])
        .iter()
        .flat_map(items)
        .collect();
    assert_eq!(
        all.len(),
        Sim::demo_fixture()["groups"].as_array().unwrap().len()
    );
    s.get("/v1.0/groups?$top=1000").expect(400, "BadRequest");
    let r = s.get("/v1.0/groups?$skip=1");
    r.expect(400, "BadRequest");
    assert!(r
        .message()
        .starts_with("Query option 'Skip' is not allowed"));
    s.get("/v1.0/groups?$count=true")
        .expect(400, "Request_UnsupportedQuery");
    let r = s.get_with(
        "/v1.0/groups?$count=true&$top=1",
        &[("ConsistencyLevel", "eventual")],
    );
    assert_eq!(r.body["@odata.count"], all.len());
    s.get(&format!(
        "/v1.0/groups?$filter={}",
        enc("isAssignableToRole ne true")
    ))
    .expect(400, "Request_UnsupportedQuery");
    s.get(&format!(
        "/v1.0/groups?$filter={}&$orderby=displayName",
        enc("isAssignableToRole eq true")
    ))
    .expect(400, "Request_UnsupportedQuery");
    s.get("/v1.0/groups?$select=nope").expect(400, "BadRequest");
}

#[test]
fn group_owners() {
    let s = Sim::start();
    let r = s.get(&format!("/v1.0/groups/{G_HELPDESK_OPS}/owners"));
    r.expect(200, "");
    let v = items(&r);
    assert_eq!(ids(&v), vec![OLIVIA.to_string()]);
    assert_eq!(v[0]["@odata.type"], "#microsoft.graph.user");
    assert_eq!(v[0]["userPrincipalName"], "olivia@contoso.com");
    assert!(v[0].get("accountEnabled").is_none(), "default properties");
    let r = s.get(&format!(
        "/v1.0/groups/{G_HELPDESK_OPS}/owners?$select=id,accountEnabled"
    ));
    assert_eq!(items(&r)[0]["accountEnabled"], true);
    assert!(items(&s.get(&format!("/v1.0/groups/{G_TAP}/owners"))).is_empty());
    s.get("/v1.0/groups/00000000-0000-0000-0000-000000000000/owners")
        .expect(404, "Request_ResourceNotFound");
    s.get(&format!("/v1.0/groups/{G_HELPDESK_OPS}/owners?$count=true"))
        .expect(400, "Request_UnsupportedQuery");
}

#[test]
fn group_permissions() {
    let s = Sim::start_with(fixture_with_permissions(&["GroupMember.ReadBasic.All"]));
    s.get(&format!("/v1.0/groups/{G_TAP}/transitiveMembers"))
        .expect(200, "");
    s.get("/v1.0/groups")
        .expect(403, "Authorization_RequestDenied");
    s.get(&format!("/v1.0/groups/{G_HELPDESK_OPS}/owners"))
        .expect(403, "Authorization_RequestDenied");
    for p in ["Group.Read.All", "Directory.Read.All"] {
        let s = Sim::start_with(fixture_with_permissions(&[p]));
        s.get("/v1.0/groups").expect(200, "");
        s.get(&format!("/v1.0/groups/{G_HELPDESK_OPS}/owners"))
            .expect(200, "");
    }
}

#[test]
fn fixture_keeps_pim_for_groups_consistent() {
    let s = Sim::start();
    let bad = |f: Value| {
        let r = s.control("POST", "/_sim/reset", Some(f));
        assert_eq!(r.status, 400, "{}", r.body);
        r.body["error"].as_str().unwrap().to_string()
    };
    // An active member assignment is a membership: the principal must be a member.
    let mut f = Sim::demo_fixture();
    f["pimGroupAssignments"][0]["principalId"] = json!(PAUL);
    assert!(bad(f).contains("members"));
    let mut f = Sim::demo_fixture();
    f["pimGroupEligibilities"][0]["groupId"] = json!("00000000-0000-0000-0000-000000000000");
    assert!(bad(f).contains("unknown groupId"));
    let mut f = Sim::demo_fixture();
    f["pimGroupEligibilities"][0]["accessId"] = json!("admin");
    assert!(bad(f).contains("accessId"));
    let mut f = Sim::demo_fixture();
    f["groups"][0]["owners"] = json!(["00000000-0000-0000-0000-000000000000"]);
    assert!(bad(f).contains("owner"));
    let mut f = Sim::demo_fixture();
    f["pimGroupEligibilities"][0]["assignmentType"] = json!("assigned");
    assert!(bad(f).contains("unknown key"));
}
