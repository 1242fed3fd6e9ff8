//! Protected users (API.md "Protected users"): holders of an active or
//! PIM-eligible directory role, directly or through a group (nested groups
//! included, via the user's transitive memberships), principals eligible
//! through PIM for Groups for a group that holds a role, owners of
//! role-assignable groups, members of `protected_group_id`, and the
//! accounts in `protected_users`.
//!
//! The tenant-wide picture is read in two steps and cached in the key-value
//! store for [`CACHE_SECS`] (a role granted less than that long ago may not
//! yet protect its holder), sealed ([`crate::store::sealed`]): a record
//! planted or edited in the store is a miss, and one the app sealed is
//! trusted only until [`CACHE_SECS`] after it was fetched, whatever the
//! store's own expiry says:
//! 1. one `$batch`: role definitions, active assignments, role eligibility
//!    (P2 only), the role-assignable groups (only they can hold a role);
//! 2. for those groups, their owners and, with P2, their PIM for Groups
//!    eligible and assigned principals (`$batch`es of 20).
//!
//! Every collection is read to its last page. The guard fails closed: a
//! read Graph refuses for a permission is `permission_missing`; only the
//! documented licence refusal of the PIM reads (no Entra ID P2) is an
//! answer ("PIM not consulted"), remembered in [`super::licences`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::{BatchRequest, GraphClient, GraphResponse, MAX_BATCH};
use super::licences::{self, Licence, Licences};
use super::permissions::{self, Permission};
use super::users::DirectoryUser;
use super::GraphError;
use crate::config::Config;
use crate::store::sealed::Sealed;

pub const CACHE_SECS: u64 = 120;
const CACHE_KEY: &str = "graph/privileged-principals/v2";

/// Why a user is protected: a stable `code` and the role, group or
/// setting's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ProtectionReason {
    pub code: &'static str,
    pub name: String,
}

/// Whether PIM (eligible roles, PIM for Groups) was part of the picture.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct PimState {
    pub consulted: bool,
    /// Why not, when not: `premium_license_required` (no Entra ID P2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Principal id (user or group) -> what makes it privileged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleHolders {
    /// Role names held actively.
    pub active: BTreeMap<String, Vec<String>>,
    /// Role names the principal may activate (PIM for roles, or PIM for
    /// Groups eligibility for a group that holds them).
    pub eligible: BTreeMap<String, Vec<String>>,
    /// Names of the role-assignable groups the principal owns.
    #[serde(default)]
    pub owners: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub pim: PimState,
    pub fetched_at: u64,
}

fn add(into: &mut BTreeMap<String, Vec<String>>, principal: &str, name: &str) {
    let entry = into.entry(principal.to_ascii_lowercase()).or_default();
    if !entry.iter().any(|n| n == name) {
        entry.push(name.to_string());
    }
}

fn items(body: &Value) -> impl Iterator<Item = &Value> {
    body.get("value")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn str_of<'v>(item: &'v Value, key: &str) -> Option<&'v str> {
    item.get(key).and_then(Value::as_str)
}

/// The role holders, from the cache when it is fresh.
pub async fn role_holders(graph: &GraphClient<'_>, now: u64) -> Result<RoleHolders, GraphError> {
    if let Some(h) = cached(graph.sealed(), now)? {
        return Ok(h);
    }
    let reads = requests(graph.sealed(), now);
    let answers = graph.batch(&reads).await?;
    from_answers(graph, now, &reads, answers).await
}

/// The cached role holders, if they open and were fetched less than
/// [`CACHE_SECS`] ago (and not in the future).
pub fn cached(store: &Sealed<'_>, now: u64) -> Result<Option<RoleHolders>, GraphError> {
    Ok(store.get::<RoleHolders>(CACHE_KEY, now, Some(CACHE_SECS))?)
}

const DEFINITIONS: &str = "roleDefinitions";
const ASSIGNMENTS: &str = "roleAssignments";
const ELIGIBLE: &str = "roleEligibility";
const GROUPS: &str = "roleAssignableGroups";

/// The first step's reads, for a caller that puts them in its own
/// `$batch`. Role eligibility is left out while the tenant is known to
/// lack P2.
pub fn requests(store: &Sealed<'_>, now: u64) -> Vec<BatchRequest> {
    let mut out = vec![
        BatchRequest::get(
            DEFINITIONS,
            "/roleManagement/directory/roleDefinitions?$select=id,displayName",
        ),
        BatchRequest::get(
            ASSIGNMENTS,
            "/roleManagement/directory/roleAssignments?$select=principalId,roleDefinitionId&$top=999",
        ),
        BatchRequest::get(
            GROUPS,
            "/groups?$filter=isAssignableToRole%20eq%20true&$select=id,displayName&$top=999",
        ),
    ];
    if Licences::load(store, now).p2 != Some(false) {
        out.push(BatchRequest::get(
            ELIGIBLE,
            "/roleManagement/directory/roleEligibilityScheduleInstances?$select=principalId,roleDefinitionId&$top=999",
        ));
    }
    out
}

/// The permission a read of the guard needs, by its batch id.
fn permission_of(id: &str) -> &'static Permission {
    match id.split(':').next().unwrap_or(id) {
        DEFINITIONS | ASSIGNMENTS => &permissions::ROLES_READ,
        ELIGIBLE => &permissions::ROLE_ELIGIBILITY_READ,
        GROUP_ELIGIBLE => &permissions::GROUP_ELIGIBILITY_READ,
        GROUP_ASSIGNED => &permissions::GROUP_ASSIGNMENT_READ,
        _ => &permissions::GROUPS_READ,
    }
}

/// A whole collection, or `None` where Graph answered that the tenant has
/// no P2 (a PIM read).
async fn whole(
    graph: &GraphClient<'_>,
    now: u64,
    id: &str,
    res: GraphResponse,
) -> Result<Option<Value>, GraphError> {
    let pim = matches!(
        id.split(':').next(),
        Some(ELIGIBLE | GROUP_ELIGIBLE | GROUP_ASSIGNED)
    );
    if pim {
        licences::Licences::observe(graph.sealed(), now, Licence::P2, &res);
        if licences::refused_for(Licence::P2, &res) {
            return Ok(None);
        }
    }
    let res = res.into_read(permission_of(id))?;
    graph
        .collect_pages(res.body, "a protection read")
        .await
        .map(Some)
}

const GROUP_ELIGIBLE: &str = "groupEligibility";
const GROUP_ASSIGNED: &str = "groupAssignment";
const OWNERS: &str = "owners";

/// The answers to [`requests`] (further pages followed), then the second
/// step; the result is cached.
pub async fn from_answers(
    graph: &GraphClient<'_>,
    now: u64,
    reads: &[BatchRequest],
    answers: Vec<GraphResponse>,
) -> Result<RoleHolders, GraphError> {
    if answers.len() != reads.len() {
        return Err(GraphError::Malformed("role holder reads".into()));
    }
    let mut bodies: BTreeMap<&str, Option<Value>> = BTreeMap::new();
    for (req, res) in reads.iter().zip(answers) {
        bodies.insert(req.id.as_str(), whole(graph, now, &req.id, res).await?);
    }
    let body = |id: &str| bodies.get(id).cloned().flatten().unwrap_or(Value::Null);
    // `extend`, not `collect`: the same map (a later duplicate wins either
    // way), inserted one by one instead of sorted first (a stable sort per
    // element type is 4 KB of wasm).
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    names.extend(items(&body(DEFINITIONS)).filter_map(|d| {
        Some((
            str_of(d, "id")?.to_ascii_lowercase(),
            str_of(d, "displayName")?.to_string(),
        ))
    }));
    let role = |r: &str| {
        names
            .get(&r.to_ascii_lowercase())
            .cloned()
            .unwrap_or_else(|| r.to_string())
    };
    // PIM is consulted unless its read was skipped or refused for P2.
    let pim_licensed = bodies.get(ELIGIBLE).is_some_and(Option::is_some);
    let mut holders = RoleHolders {
        fetched_at: now,
        pim: pim_state(pim_licensed),
        ..RoleHolders::default()
    };
    for (id, into) in [
        (ASSIGNMENTS, &mut holders.active),
        (ELIGIBLE, &mut holders.eligible),
    ] {
        for item in items(&body(id)) {
            if let (Some(p), Some(r)) = (
                str_of(item, "principalId"),
                str_of(item, "roleDefinitionId"),
            ) {
                add(into, p, &role(r));
            }
        }
    }

    // Step 2: the role-assignable groups' owners and PIM for Groups.
    let mut groups: BTreeMap<String, String> = BTreeMap::new();
    groups.extend(items(&body(GROUPS)).filter_map(|g| {
        let id = str_of(g, "id")?.to_ascii_lowercase();
        let name = str_of(g, "displayName").unwrap_or(&id).to_string();
        Some((id, name))
    }));
    let roles_of = |h: &RoleHolders, g: &str| -> BTreeSet<String> {
        let mut roles = BTreeSet::new();
        roles.extend(
            h.active
                .get(g)
                .into_iter()
                .chain(h.eligible.get(g))
                .flatten()
                .cloned(),
        );
        roles
    };
    let mut second = Vec::new();
    for gid in groups.keys() {
        let seg = crate::types::encode_segment(gid);
        second.push(BatchRequest::get(
            &format!("{OWNERS}:{gid}"),
            format!("/groups/{seg}/owners?$select=id&$top=999"),
        ));
        if pim_licensed && !roles_of(&holders, gid).is_empty() {
            for (kind, collection) in [
                (GROUP_ELIGIBLE, "eligibilityScheduleInstances"),
                (GROUP_ASSIGNED, "assignmentScheduleInstances"),
            ] {
                second.push(BatchRequest::get(
                    &format!("{kind}:{gid}"),
                    format!(
                        "/identityGovernance/privilegedAccess/group/{collection}?$filter=groupId%20eq%20'{seg}'&$select=principalId,accessId"
                    ),
                ));
            }
        }
    }
    for chunk in second.chunks(MAX_BATCH) {
        let answers = graph.batch(chunk).await?;
        for (req, res) in chunk.iter().zip(answers) {
            let (kind, gid) = req.id.split_once(':').unwrap_or((&req.id, ""));
            let Some(body) = whole(graph, now, &req.id, res).await? else {
                holders.pim = pim_state(false);
                continue;
            };
            let group_name = groups.get(gid).cloned().unwrap_or_else(|| gid.to_string());
            let group_roles = roles_of(&holders, gid);
            for item in items(&body) {
                let principal = match kind {
                    OWNERS => str_of(item, "id"),
                    _ => str_of(item, "principalId"),
                };
                let Some(principal) = principal else { continue };
                let owner = kind == OWNERS || str_of(item, "accessId") == Some("owner");
                if owner {
                    add(&mut holders.owners, principal, &group_name);
                    continue;
                }
                let into = if kind == GROUP_ASSIGNED {
                    &mut holders.active
                } else {
                    &mut holders.eligible
                };
                for r in &group_roles {
                    add(into, principal, r);
                }
            }
        }
    }
    let _ = graph.sealed().set(CACHE_KEY, now, &holders);
    Ok(holders)
}

fn pim_state(licensed: bool) -> PimState {
    PimState {
        consulted: licensed,
        reason: (!licensed).then(|| "premium_license_required".to_string()),
    }
}

/// Every reason the user is protected; empty when they are not.
pub fn reasons(
    user: &DirectoryUser,
    memberships: &[(String, String)],
    holders: &RoleHolders,
    config: &Config,
) -> Vec<ProtectionReason> {
    let mut out = Vec::new();
    let mut principals: Vec<&str> = vec![user.summary.id.as_str()];
    principals.extend(memberships.iter().map(|(id, _)| id.as_str()));
    for p in &principals {
        for (code, map) in [
            ("directory_role", &holders.active),
            ("eligible_directory_role", &holders.eligible),
            ("role_assignable_group_owner", &holders.owners),
        ] {
            for name in map.get(*p).into_iter().flatten() {
                out.push(ProtectionReason {
                    code,
                    name: name.clone(),
                });
            }
        }
    }
    if let Some(group) = &config.protected_group_id {
        if let Some((_, name)) = memberships.iter().find(|(id, _)| id == group) {
            out.push(ProtectionReason {
                code: "protected_group",
                name: name.clone(),
            });
        }
    }
    let upn = user.summary.user_principal_name.to_ascii_lowercase();
    if config
        .protected_users
        .iter()
        .any(|p| *p == upn || *p == user.summary.id)
    {
        out.push(ProtectionReason {
            code: "listed",
            name: "protected_users".into(),
        });
    }
    let mut seen = BTreeSet::new();
    out.retain(|r| seen.insert((r.code, r.name.clone())));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Problem;
    use crate::api::RequestId;
    use crate::graph::client::DEFAULT_BUDGET;
    use crate::testing::World;
    use futures::executor::block_on;
    use serde_json::json;

    use crate::testing::TOKEN_RESPONSE as TOKEN;
    const ROLE: &str = "fe930be7-5e62-47db-91af-98c3a49a38b1";

    fn batch_answer(items: Value) -> String {
        json!({ "responses": items }).to_string()
    }

    fn sent_ids(w: &World, n: usize) -> Vec<String> {
        let body: Value = serde_json::from_slice(w.transport.sent()[n].body()).unwrap();
        body["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    }

    fn first_step(eligible: Value) -> String {
        let mut items = json!([
            { "id": DEFINITIONS, "status": 200, "body": { "value": [{ "id": ROLE, "displayName": "User Administrator" }] } },
            { "id": ASSIGNMENTS, "status": 200, "body": { "value": [{ "principalId": "G1", "roleDefinitionId": ROLE }] } },
            { "id": GROUPS, "status": 200, "body": { "value": [{ "id": "G1", "displayName": "Helpdesk-Operators" }] } },
        ]);
        if !eligible.is_null() {
            items.as_array_mut().unwrap().push(eligible);
        }
        batch_answer(items)
    }

    #[test]
    fn without_p2_the_guard_rests_on_active_roles_groups_and_owners() {
        let w = World::configured();
        let config = Config::load(&w.vars).unwrap();
        let host = w.host();
        let id = RequestId::parse("r").unwrap();
        let g = GraphClient::new(&host, &config, &id, DEFAULT_BUDGET);
        w.transport.push(200, TOKEN);
        w.transport.push(200, &first_step(json!({ "id": ELIGIBLE, "status": 400, "body": { "error": {
            "code": "AadPremiumLicenseRequired",
            "message": "The tenant needs to have Microsoft Entra ID P2 or Microsoft Entra ID Governance license." } } })));
        w.transport.push(
            200,
            &batch_answer(json!([
            { "id": "owners:g1", "status": 200, "body": { "value": [{ "id": "O1" }] } }])),
        );
        let h = block_on(role_holders(&g, 1000)).unwrap();
        assert_eq!(h.active["g1"], ["User Administrator"]);
        assert_eq!(h.owners["o1"], ["Helpdesk-Operators"]);
        assert!(h.eligible.is_empty());
        assert_eq!(
            serde_json::to_value(&h.pim).unwrap(),
            json!({ "consulted": false, "reason": "premium_license_required" })
        );
        assert_eq!(
            sent_ids(&w, 2),
            ["owners:g1"],
            "no PIM for Groups read without P2"
        );
        assert_eq!(Licences::load(g.sealed(), 1000).p2, Some(false));

        // Cached, then read again without the eligibility read.
        assert_eq!(
            block_on(role_holders(&g, 1000 + CACHE_SECS - 1)).unwrap(),
            h
        );
        assert_eq!(w.transport.sent().len(), 3);
        w.transport.push(200, &first_step(json!(null)));
        w.transport.push(
            200,
            &batch_answer(json!([
            { "id": "owners:g1", "status": 200, "body": { "value": [] } }])),
        );
        block_on(role_holders(&g, 1000 + CACHE_SECS)).unwrap();
        assert_eq!(sent_ids(&w, 3), [DEFINITIONS, ASSIGNMENTS, GROUPS]);
    }

    #[test]
    fn the_cache_is_sealed_and_trusted_only_within_its_own_lifetime() {
        let w = World::configured();
        let config = Config::load(&w.vars).unwrap();
        let host = w.host();
        let id = RequestId::parse("r").unwrap();
        let g = GraphClient::new(&host, &config, &id, DEFAULT_BUDGET);
        let answer_both_steps = || {
            w.transport.push(
                200,
                &first_step(json!({ "id": ELIGIBLE, "status": 200, "body": { "value": [] } })),
            );
            w.transport.push(
                200,
                &batch_answer(json!([
                    { "id": "owners:g1", "status": 200, "body": { "value": [] } },
                    { "id": "groupEligibility:g1", "status": 200, "body": { "value": [] } },
                    { "id": "groupAssignment:g1", "status": 200, "body": { "value": [] } }])),
            );
        };
        w.transport.push(200, TOKEN);
        answer_both_steps();
        let h = block_on(role_holders(&g, 1000)).unwrap();
        assert_eq!(h.active["g1"], ["User Administrator"]);
        let sent = w.transport.sent().len();
        let stored = w.kv.0.borrow()[CACHE_KEY].clone();
        assert!(serde_json::from_slice::<Value>(&stored).is_err(), "sealed");
        assert_eq!(block_on(role_holders(&g, 1001)).unwrap(), h);
        assert_eq!(w.transport.sent().len(), sent, "served from the cache");

        // A plaintext empty set planted in the old format: read again.
        let empty = RoleHolders {
            fetched_at: 1001,
            ..RoleHolders::default()
        };
        w.kv.0
            .borrow_mut()
            .insert(CACHE_KEY.into(), serde_json::to_vec(&empty).unwrap());
        answer_both_steps();
        assert_eq!(block_on(role_holders(&g, 1001)).unwrap().active, h.active);
        assert_eq!(w.transport.sent().len(), sent + 2);

        // A record the app sealed, fetched in the future (beyond the skew)
        // or longer ago than CACHE_SECS, is a miss whatever the store keeps.
        let sealed = g.sealed();
        sealed.set(CACHE_KEY, 1001 + 61, &empty).unwrap();
        assert_eq!(cached(sealed, 1001).unwrap(), None, "from the future");
        sealed.set(CACHE_KEY, 1001 + 60, &empty).unwrap();
        assert_eq!(
            cached(sealed, 1001).unwrap(),
            Some(empty.clone()),
            "within the skew"
        );
        sealed.set(CACHE_KEY, 1001, &empty).unwrap();
        assert_eq!(
            cached(sealed, 1001 + CACHE_SECS - 1).unwrap(),
            Some(empty.clone())
        );
        assert_eq!(cached(sealed, 1001 + CACHE_SECS).unwrap(), None, "expired");

        // Another record's sealed bytes copied under this key: a miss.
        Licences::record(sealed, 1001, Licence::P2, true);
        let licences = w.kv.0.borrow()[licences::KEY].clone();
        w.kv.0.borrow_mut().insert(CACHE_KEY.into(), licences);
        assert_eq!(cached(sealed, 1001).unwrap(), None, "copied");
    }

    #[test]
    fn pim_for_groups_eligibility_protects_and_a_403_names_the_permission() {
        let w = World::configured();
        let config = Config::load(&w.vars).unwrap();
        let host = w.host();
        let id = RequestId::parse("r").unwrap();
        let g = GraphClient::new(&host, &config, &id, DEFAULT_BUDGET);
        w.transport.push(200, TOKEN);
        w.transport.push(
            200,
            &first_step(json!({ "id": ELIGIBLE, "status": 200, "body": { "value": [] } })),
        );
        w.transport.push(200, &batch_answer(json!([
            { "id": "owners:g1", "status": 200, "body": { "value": [] } },
            { "id": "groupEligibility:g1", "status": 200, "body": { "value": [
                { "principalId": "P1", "accessId": "member" }, { "principalId": "P2", "accessId": "owner" }] } },
            { "id": "groupAssignment:g1", "status": 200, "body": { "value": [] } }])));
        let h = block_on(role_holders(&g, 1000)).unwrap();
        assert_eq!(h.eligible["p1"], ["User Administrator"]);
        assert_eq!(h.owners["p2"], ["Helpdesk-Operators"]);
        assert!(h.pim.consulted);

        let user = |id: &str| DirectoryUser {
            summary: crate::graph::users::UserSummary {
                id: id.into(),
                user_principal_name: format!("{id}@contoso.com"),
                display_name: None,
            },
            account_enabled: true,
            user_type: "Member".into(),
            mail: None,
            other_mails: vec![],
        };
        let r = reasons(&user("p1"), &[], &h, &config);
        assert_eq!(r[0].code, "eligible_directory_role");
        let r = reasons(&user("p2"), &[], &h, &config);
        assert_eq!(r[0].code, "role_assignable_group_owner");
        assert!(reasons(&user("x"), &[("g2".into(), "Other".into())], &h, &config).is_empty());

        // A protection read refused for a permission fails closed.
        w.transport.push(
            200,
            &first_step(json!({ "id": ELIGIBLE, "status": 403,
            "body": { "error": { "code": "Authorization_RequestDenied" } } })),
        );
        let err = block_on(role_holders(&g, 1000 + CACHE_SECS)).unwrap_err();
        assert_eq!(
            err,
            GraphError::PermissionMissing {
                permission: "RoleEligibilitySchedule.Read.Directory",
                request_id: None
            }
        );
        assert_eq!(Problem::from(&err).code.as_str(), "permission_missing");
    }
}
