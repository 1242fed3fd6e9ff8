//! Server-driven paging: quirks `membershipPageSize` / `rolePageSize` cap pages whatever
//! `$top` says (https://learn.microsoft.com/graph/paging), set in the fixture or by
//! `POST /_sim/quirks`, and restored by `POST /_sim/reset`.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::common::*;

const EVENTUAL: [(&str, &str); 1] = [("ConsistencyLevel", "eventual")];

fn all(s: &Sim, path: &str, headers: &[(&str, &str)], cap: usize) -> (Vec<Value>, usize) {
    let pages = s.pages(path, headers);
    for p in &pages {
        assert!(items(p).len() <= cap, "{path}: page over {cap}: {}", p.body);
    }
    let n = pages.len();
    (pages.iter().flat_map(items).collect(), n)
}

fn set(v: &[Value]) -> HashSet<String> {
    ids(v).into_iter().collect()
}

#[test]
fn membership_pages_are_capped_by_the_server() {
    let s = Sim::start();
    let uncapped = items(&s.get(&format!("/v1.0/users/{GRACE}/transitiveMemberOf")));
    assert!(uncapped.len() >= 3);
    let r = s.control(
        "POST",
        "/_sim/quirks",
        Some(json!({"membershipPageSize": 1})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["membershipPageSize"], 1);
    let (got, pages) = all(
        &s,
        &format!("/v1.0/users/{GRACE}/transitiveMemberOf?$top=100"),
        &[],
        1,
    );
    assert_eq!(pages, uncapped.len());
    assert_eq!(set(&got), set(&uncapped));
    let (_, pages) = all(
        &s,
        &format!("/v1.0/users/{GRACE}/memberOf?$top=999"),
        &[],
        1,
    );
    assert!(pages >= 2);
    // transitiveMembers: 19 objects, one per page; $count stays the total.
    let (got, pages) = all(
        &s,
        &format!("/v1.0/groups/{G_TAP}/transitiveMembers?$top=50&$count=true"),
        &EVENTUAL,
        1,
    );
    assert_eq!((got.len(), pages), (19, 19));
    let (groups, _) = all(&s, "/v1.0/groups?$top=999", &[], 1);
    assert_eq!(
        groups.len(),
        Sim::demo_fixture()["groups"].as_array().unwrap().len()
    );
    let (owners, _) = all(
        &s,
        &format!("/v1.0/groups/{G_HELPDESK_OPS}/owners?$top=10"),
        &[],
        1,
    );
    assert_eq!(ids(&owners), vec![OLIVIA.to_string()]);
    // $top still has its maximum.
    s.get(&format!("/v1.0/users/{ALICE}/transitiveMemberOf?$top=1000"))
        .expect(400, "BadRequest");
    // Role reads are not capped by the membership quirk.
    let r = s.get("/v1.0/roleManagement/directory/roleDefinitions?$top=50");
    assert_eq!(items(&r).len(), 5);
}

#[test]
fn role_pages_are_capped_by_the_server() {
    let s = Sim::start();
    s.control("POST", "/_sim/quirks", Some(json!({"rolePageSize": 1})));
    let (defs, pages) = all(
        &s,
        "/v1.0/roleManagement/directory/roleDefinitions?$top=100",
        &[],
        1,
    );
    assert_eq!((defs.len(), pages), (5, 5));
    let (assignments, _) = all(&s, "/v1.0/roleManagement/directory/roleAssignments", &[], 1);
    assert_eq!(assignments.len(), 3);
    let (henry, pages) = all(
        &s,
        &format!(
            "/v1.0/roleManagement/directory/roleEligibilityScheduleInstances?$filter={}&$top=10",
            enc(&format!("principalId eq '{HENRY}'"))
        ),
        &[],
        1,
    );
    assert_eq!((henry.len(), pages), (2, 2));
    // Membership reads are not capped by the role quirk.
    let r = s.get(&format!("/v1.0/groups/{G_TAP}/transitiveMembers?$top=50"));
    assert_eq!(items(&r).len(), 19);
}

#[test]
fn quirks_come_from_the_fixture_and_reset_restores_them() {
    let mut f = Sim::demo_fixture();
    f["tenant"]["membershipPageSize"] = json!(2);
    f["tenant"]["replicationLagReads"] = json!(1);
    let s = Sim::start_with(f);
    let q = s.control("GET", "/_sim/quirks", None);
    assert_eq!(
        q.body,
        json!({"membershipPageSize": 2, "rolePageSize": null, "replicationLagReads": 1, "tokenExpiresInAsString": false})
    );
    let r = s.get(&format!("/v1.0/users/{GRACE}/transitiveMemberOf?$top=999"));
    assert_eq!(items(&r).len(), 2);
    assert!(r.body["@odata.nextLink"].is_string());
    // Partial update; null clears.
    let r = s.control(
        "POST",
        "/_sim/quirks",
        Some(json!({"membershipPageSize": null, "rolePageSize": 3})),
    );
    assert_eq!(
        r.body,
        json!({"membershipPageSize": null, "rolePageSize": 3, "replicationLagReads": 1, "tokenExpiresInAsString": false})
    );
    assert_eq!(s.state()["quirks"], r.body);
    for bad in [
        json!({"membershipPageSize": 0}),
        json!({"rolePageSize": "2"}),
        json!({"replicationLagReads": -1}),
        json!({"tokenExpiresInAsString": "yes"}),
        json!({"pageSize": 1}),
        json!([1]),
    ] {
        assert_eq!(
            s.control("POST", "/_sim/quirks", Some(bad.clone())).status,
            400,
            "{bad}"
        );
    }
    s.control("POST", "/_sim/reset", None);
    assert_eq!(
        s.control("GET", "/_sim/quirks", None).body,
        json!({"membershipPageSize": 2, "rolePageSize": null, "replicationLagReads": 1, "tokenExpiresInAsString": false})
    );
    // A fixture with a bad value is refused.
    let mut bad = Sim::demo_fixture();
    bad["tenant"]["rolePageSize"] = json!(0);
    assert_eq!(s.control("POST", "/_sim/reset", Some(bad)).status, 400);
}
