//! Entra ID P2 licence gate: every PIM read answers `400 AadPremiumLicenseRequired`
//! without P2 (maester365/maester#1421, cisagov/ScubaGear#981); active role
//! assignments, definitions, groups and memberships keep working.

use serde_json::{json, Value};

use crate::common::*;

const MESSAGE: &str =
    "The tenant needs to have Microsoft Entra ID P2 or Microsoft Entra ID Governance license.";

fn p1_only() -> Value {
    graph_sim::fixture::parse(graph_sim::P1_ONLY_FIXTURE).unwrap()
}

const PIM_READS: [&str; 5] = [
    "/v1.0/roleManagement/directory/roleEligibilitySchedules",
    "/v1.0/roleManagement/directory/roleEligibilityScheduleInstances",
    "/v1.0/roleManagement/directory/roleAssignmentScheduleInstances",
    "/v1.0/identityGovernance/privilegedAccess/group/eligibilityScheduleInstances?$filter=groupId%20eq%20'dbc269ae-33d4-51cb-8778-f46d0768b486'",
    "/v1.0/identityGovernance/privilegedAccess/group/assignmentScheduleInstances?$filter=groupId%20eq%20'dbc269ae-33d4-51cb-8778-f46d0768b486'",
];

#[test]
fn pim_reads_need_p2() {
    let s = Sim::start_with(p1_only());
    assert_eq!(s.state()["tenant"]["premium"], true);
    assert_eq!(s.state()["tenant"]["premiumP2"], false);
    for p in PIM_READS {
        let r = s.get(p);
        r.expect(400, "AadPremiumLicenseRequired");
        assert_eq!(r.message(), MESSAGE, "{p}");
        assert!(r.body["error"]["innerError"]["request-id"].is_string());
        assert_eq!(
            s.last_request()["graphErrorCode"],
            "AadPremiumLicenseRequired"
        );
    }
    // Active assignments, definitions, groups, memberships and P1 features still work.
    let r = s.get(&format!(
        "/v1.0/roleManagement/directory/roleAssignments?$filter={}",
        enc(&format!("principalId eq '{ADELE}'"))
    ));
    r.expect(200, "");
    assert_eq!(items(&r).len(), 1);
    s.get("/v1.0/roleManagement/directory/roleDefinitions")
        .expect(200, "");
    s.get("/v1.0/directoryRoles").expect(200, "");
    s.get(&format!("/v1.0/users/{GRACE}/transitiveMemberOf"))
        .expect(200, "");
    s.get(&format!("/v1.0/groups/{G_HELPDESK_OPS}/transitiveMembers"))
        .expect(200, "");
    s.get(&format!("/v1.0/groups/{G_HELPDESK_OPS}/owners"))
        .expect(200, "");
    s.get("/v1.0/groups?$filter=isAssignableToRole%20eq%20true")
        .expect(200, "");
    s.get("/v1.0/auditLogs/signIns?$top=1").expect(200, "");
}

#[test]
fn batch_items_get_the_licence_error_too() {
    let s = Sim::start_with(p1_only());
    let r = s.send(
        "POST",
        "/v1.0/$batch",
        &json!({"requests": [
            {"id": "1", "method": "GET", "url": "/roleManagement/directory/roleEligibilityScheduleInstances"},
            {"id": "2", "method": "GET", "url": "/roleManagement/directory/roleAssignments"},
        ]}),
    );
    r.expect(200, "");
    let rs = r.body["responses"].as_array().unwrap();
    let one = rs.iter().find(|x| x["id"] == "1").unwrap();
    assert_eq!(one["status"], 400);
    assert_eq!(one["body"]["error"]["code"], "AadPremiumLicenseRequired");
    assert_eq!(rs.iter().find(|x| x["id"] == "2").unwrap()["status"], 200);
}

#[test]
fn p2_defaults_to_premium() {
    // No P1 means no P2 either.
    let s = Sim::start_with(graph_sim::fixture::parse(graph_sim::NO_PREMIUM_FIXTURE).unwrap());
    assert_eq!(s.state()["tenant"]["premiumP2"], false);
    s.get("/v1.0/roleManagement/directory/roleEligibilityScheduleInstances")
        .expect(400, "AadPremiumLicenseRequired");
    // A premium fixture without the key keeps its PIM data.
    let mut f = Sim::demo_fixture();
    f["tenant"].as_object_mut().unwrap().remove("premiumP2");
    let s = Sim::start_with(f);
    assert_eq!(s.state()["tenant"]["premiumP2"], true);
    let r = s.get(&format!(
        "/v1.0/roleManagement/directory/roleEligibilityScheduleInstances?$filter={}",
        enc(&format!("principalId eq '{HENRY}'"))
    ));
    r.expect(200, "");
    assert_eq!(items(&r).len(), 2);
    // Permission is checked before the licence: an app without PIM rights gets 403.
    let s = Sim::start_with({
        let mut f = p1_only();
        f["apps"][0]["permissions"] = json!(["User.Read.All"]);
        f
    });
    s.get("/v1.0/roleManagement/directory/roleEligibilityScheduleInstances")
        .expect(403, "Authorization_RequestDenied");
}
