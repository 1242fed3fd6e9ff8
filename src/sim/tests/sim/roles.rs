//! Rule 9: role assignments, PIM eligibility, directory roles, group transitive members.

use std::collections::HashSet;

use serde_json::Value;

use crate::common::*;

const GA: &str = "62e90394-69f5-4237-9190-012177145e10";

fn vals(r: &Resp) -> Vec<Value> {
    r.body["value"].as_array().unwrap().clone()
}

fn f(s: &Sim, path: &str, filter: &str) -> Resp {
    s.get(&format!("{path}?$filter={}", enc(filter)))
}

#[test]
fn role_assignments_by_principal_and_definition() {
    let s = Sim::start();
    let p = "/v1.0/roleManagement/directory/roleAssignments";
    let r = f(&s, p, &format!("principalId eq '{ADELE}'"));
    r.expect(200, "");
    assert_eq!(vals(&r).len(), 1);
    assert_eq!(vals(&r)[0]["roleDefinitionId"], GA);
    assert_eq!(vals(&r)[0]["directoryScopeId"], "/");
    let r = f(&s, p, &format!("roleDefinitionId eq '{GA}'"));
    let who: HashSet<String> = vals(&r)
        .iter()
        .map(|v| v["principalId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        who,
        [ADELE.to_string(), BREAKGLASS.to_string()]
            .into_iter()
            .collect()
    );
    let r = s.get(&format!(
        "{p}?$filter={}&$expand=principal",
        enc(&format!("principalId eq '{ADELE}'"))
    ));
    r.expect(200, "");
    assert_eq!(
        vals(&r)[0]["principal"]["displayName"],
        "Adele Vance (Admin)"
    );
    s.get(&format!("{p}?$expand=manager"))
        .expect(400, "BadRequest");
    f(&s, p, "appScopeId eq '/'").expect(400, "BadRequest");
    // Eligible-only and group-held roles are not the user's active assignments.
    assert!(vals(&f(&s, p, &format!("principalId eq '{HENRY}'"))).is_empty());
    assert!(vals(&f(&s, p, &format!("principalId eq '{GRACE}'"))).is_empty());
    assert_eq!(
        vals(&f(&s, p, &format!("principalId eq '{G_HELPDESK_OPS}'"))).len(),
        1
    );
}

#[test]
fn pim_eligibility_and_assignment_instances() {
    let s = Sim::start();
    let r = f(
        &s,
        "/v1.0/roleManagement/directory/roleEligibilityScheduleInstances",
        &format!("principalId eq '{HENRY}'"),
    );
    r.expect(200, "");
    let v = vals(&r);
    assert_eq!(v.len(), 2);
    assert!(v
        .iter()
        .all(|i| i["memberType"] == "Direct" && i["roleEligibilityScheduleId"].is_string()));
    let r = f(
        &s,
        "/v1.0/roleManagement/directory/roleEligibilitySchedules",
        &format!("principalId eq '{HENRY}'"),
    );
    assert_eq!(vals(&r).len(), 2);
    assert!(vals(&r)[0]["scheduleInfo"]["startDateTime"].is_string());
    let r = f(
        &s,
        "/v1.0/roleManagement/directory/roleAssignmentScheduleInstances",
        &format!("principalId eq '{ADELE}'"),
    );
    assert_eq!(vals(&r)[0]["assignmentType"], "Assigned");
    let r = s.get("/v1.0/roleManagement/directory/roleDefinitions");
    assert_eq!(vals(&r).len(), 5);
    f(
        &s,
        "/v1.0/roleManagement/directory/roleEligibilityScheduleInstances",
        "status eq 'x'",
    )
    .expect(400, "BadRequest");
}

#[test]
fn directory_roles_and_members() {
    let s = Sim::start();
    let r = s.get("/v1.0/directoryRoles");
    r.expect(200, "");
    let roles = vals(&r);
    assert_eq!(roles.len(), 3);
    let ga = roles.iter().find(|r| r["roleTemplateId"] == GA).unwrap();
    let m = s.get(&format!(
        "/v1.0/directoryRoles/{}/members",
        ga["id"].as_str().unwrap()
    ));
    m.expect(200, "");
    let ids: HashSet<String> = vals(&m)
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ids,
        [ADELE.to_string(), BREAKGLASS.to_string()]
            .into_iter()
            .collect()
    );
    let m = s.get(&format!("/v1.0/directoryRoles/roleTemplateId={GA}/members"));
    assert_eq!(vals(&m).len(), 2);
    s.get("/v1.0/directoryRoles/00000000-0000-0000-0000-000000000000/members")
        .expect(404, "Request_ResourceNotFound");
}

#[test]
fn group_transitive_members_nested_and_paged() {
    let s = Sim::start();
    let r = s.get(&format!("/v1.0/groups/{G_PROTECTED}/transitiveMembers"));
    r.expect(200, "");
    let ids: HashSet<String> = vals(&r)
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ids,
        [
            BREAKGLASS.to_string(),
            G_EXEC.to_string(),
            DIEGO.to_string()
        ]
        .into_iter()
        .collect()
    );
    let user = vals(&r).into_iter().find(|v| v["id"] == DIEGO).unwrap();
    assert!(
        user.get("accountEnabled").is_none(),
        "default user properties only"
    );
    // TAP-Eligible: 17 users (olivia and paul since the PIM for Groups rule) + a nested
    // group + its member = 19 objects.
    let mut path = format!("/v1.0/groups/{G_TAP}/transitiveMembers?$top=5");
    let mut all = Vec::new();
    loop {
        let r = s.get(&path);
        r.expect(200, "");
        all.extend(vals(&r));
        match r.body["@odata.nextLink"].as_str() {
            Some(n) => path = n.strip_prefix(&s.base).unwrap().to_string(),
            None => break,
        }
    }
    assert_eq!(all.len(), 19);
    s.get(&format!("/v1.0/groups/{G_TAP}/transitiveMembers?$top=1000"))
        .expect(400, "BadRequest");
    s.get(&format!(
        "/v1.0/groups/{G_TAP}/transitiveMembers?$count=true"
    ))
    .expect(400, "Request_UnsupportedQuery");
    let r = s.get_with(
        &format!("/v1.0/groups/{G_TAP}/transitiveMembers?$count=true&$top=1"),
        &[("ConsistencyLevel", "eventual")],
    );
    assert_eq!(r.body["@odata.count"], 19);
    s.get("/v1.0/groups/00000000-0000-0000-0000-000000000000/transitiveMembers")
        .expect(404, "Request_ResourceNotFound");
}
