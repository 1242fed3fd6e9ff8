//! Sign-in logs on Graph (FACTS §7): the filtered first page, aggregation
//! per user while pages stream in, and what Entra's error codes mean.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

use crate::types::{FailingUser, Instant, UserFailures, UserRef};

/// Graph's largest sign-in page (FACTS §7 [s34]).
pub const PAGE_SIZE: u32 = 1000;

/// Entra's short meaning of the sign-in error codes a helpdesk meets
/// (FACTS §7 [s2][s44]).
pub const MEANINGS: &[(u32, &str)] = &[
    (
        500121,
        "the MFA step failed: someone has the password but could not complete MFA",
    ),
    (
        50074,
        "strong authentication was required and not completed",
    ),
    (
        50076,
        "MFA required by policy, per-user enforcement or a new location",
    ),
    (
        50079,
        "MFA required, but the user must first register security info",
    ),
    (50158, "an external security challenge was not satisfied"),
    (53003, "blocked by Conditional Access"),
    (50126, "wrong username or password"),
    (
        50053,
        "account locked after repeated bad sign-ins, or a known malicious IP",
    ),
    (50057, "the account is disabled"),
];

pub fn meaning(code: u32) -> Option<&'static str> {
    MEANINGS.iter().find(|(c, _)| *c == code).map(|(_, m)| *m)
}

/// OData string literals double their single quotes; the rest is
/// percent-encoded for the query string.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `/auditLogs/signIns?$filter=…&$top=1000`: time, error codes and user
/// filtered by Graph, not here. No `$select`: the list supports only
/// `$filter`, `$top` and `$skiptoken`, and Graph has answered `$select`
/// with `400 "Query option 'Select' is not allowed"` (signin-list docs;
/// learn.microsoft.com Q&A 1116053; msgraph-sdk-powershell#1251). Sign-ins
/// store the UPN lower-cased and the `userPrincipalName` filter is
/// case-sensitive (microsoft-graph-docs#13684, docs-contrib#9049), so a
/// UPN is lower-cased; an object id is matched on `userId`.
pub fn first_page_path(
    since: Instant,
    until: Instant,
    codes: &[u32],
    user: Option<&UserRef>,
) -> String {
    let mut filter = format!(
        "createdDateTime ge {} and createdDateTime le {}",
        since.to_rfc3339(),
        until.to_rfc3339()
    );
    let codes: Vec<String> = codes
        .iter()
        .map(|c| format!("status/errorCode eq {c}"))
        .collect();
    filter.push_str(&format!(" and ({})", codes.join(" or ")));
    if let Some(u) = user {
        let clause = match u {
            UserRef::Id(id) => format!("userId eq {}", literal(id)),
            UserRef::Upn(upn) => format!("userPrincipalName eq {}", literal(&upn.to_lowercase())),
        };
        filter.push_str(&format!(" and {clause}"));
    }
    format!(
        "/auditLogs/signIns?$filter={}&$top={PAGE_SIZE}",
        utf8_percent_encode(&filter, QUERY)
    )
}

/// The user's row of the registration report (FACTS §7: P1/P2 like the
/// sign-in log), by its documented key, the user's object id
/// (`GET /reports/authenticationMethods/userRegistrationDetails/{id}`).
pub fn registration_path(user_id: &str) -> String {
    format!(
        "/reports/authenticationMethods/userRegistrationDetails/{}",
        crate::types::encode_segment(user_id)
    )
}

/// The first page of a sign-in query: what it says of the tenant's P1
/// licence is remembered, and a 403 names `AuditLog.Read.All` (or keeps
/// the licence refusal's own code).
pub async fn first_page(
    graph: &super::GraphClient<'_>,
    now_secs: u64,
    path: &str,
) -> Result<Value, super::GraphError> {
    let first = graph.get(path).await?;
    super::licences::Licences::observe(
        graph.sealed(),
        now_secs,
        super::licences::Licence::P1,
        &first,
    );
    Ok(first.into_read(&super::permissions::AUDIT_LOG_READ)?.body)
}

/// Folds the pages after `first` into `agg` while the budget lasts:
/// `(pages read, truncated)`, truncated when the budget ran out (spent
/// between pages, or throttled past it) before the last page.
pub async fn fold_pages(
    graph: &super::GraphClient<'_>,
    first: &Value,
    agg: &mut Aggregate,
) -> Result<(u32, bool), super::GraphError> {
    agg.add_page(page_items(first));
    let mut next = super::client::next_link(first);
    let mut pages = 1;
    while let Some(link) = next.take() {
        if graph.budget_spent() {
            return Ok((pages, true));
        }
        match graph
            .follow(&link)
            .await
            .and_then(super::GraphResponse::into_result)
        {
            Ok(page) => {
                pages += 1;
                agg.add_page(page_items(&page.body));
                next = super::client::next_link(&page.body);
            }
            // Out of time after a page: throttled past the budget, or a
            // page slower than what was left of it.
            Err(super::GraphError::Throttled { .. } | super::GraphError::Unreachable(_)) => {
                return Ok((pages, true))
            }
            Err(e) => return Err(e),
        }
    }
    Ok((pages, false))
}

fn page_items(body: &Value) -> &[Value] {
    body.get("value")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Bounds what one user's entry may grow to: a user failing from a
/// thousand addresses must not make the answer unbounded.
const MAX_DISTINCT: usize = 20;

/// Failures per user, fed page by page: memory grows with the number of
/// distinct users, not of events.
#[derive(Debug, Default)]
pub struct Aggregate {
    by_user: HashMap<String, UserFailures>,
    pub scanned: u64,
}

fn insert_bounded(set: &mut BTreeSet<String>, value: Option<&str>) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        if set.len() < MAX_DISTINCT || set.contains(v) {
            set.insert(v.to_string());
        }
    }
}

impl Aggregate {
    /// Adds one page's `value` items.
    pub fn add_page(&mut self, items: &[Value]) {
        for e in items {
            self.scanned += 1;
            let s = |k: &str| e.get(k).and_then(Value::as_str);
            let (Some(user_id), Some(time)) = (s("userId"), s("createdDateTime")) else {
                continue;
            };
            let code = e
                .pointer("/status/errorCode")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let entry = self
                .by_user
                .entry(user_id.to_ascii_lowercase())
                .or_insert_with(|| UserFailures {
                    user: FailingUser {
                        id: user_id.to_ascii_lowercase(),
                        user_principal_name: s("userPrincipalName").unwrap_or_default().to_string(),
                        display_name: s("userDisplayName").map(str::to_string),
                    },
                    failures: 0,
                    first_failure_date_time: time.to_string(),
                    last_failure_date_time: time.to_string(),
                    error_codes: BTreeMap::new(),
                    failure_reasons: BTreeSet::new(),
                    apps: BTreeSet::new(),
                    ip_addresses: BTreeSet::new(),
                });
            entry.failures += 1;
            // Graph's fixed-width UTC times order as strings.
            if time < entry.first_failure_date_time.as_str() {
                entry.first_failure_date_time = time.to_string();
            }
            if time > entry.last_failure_date_time.as_str() {
                entry.last_failure_date_time = time.to_string();
            }
            *entry.error_codes.entry(code.to_string()).or_default() += 1;
            insert_bounded(
                &mut entry.failure_reasons,
                e.pointer("/status/failureReason").and_then(Value::as_str),
            );
            insert_bounded(&mut entry.apps, s("appDisplayName"));
            insert_bounded(&mut entry.ip_addresses, s("ipAddress"));
        }
    }

    pub fn users(&self) -> usize {
        self.by_user.len()
    }

    /// Each user's failures so far, in no order.
    pub fn iter(&self) -> impl Iterator<Item = &UserFailures> {
        self.by_user.values()
    }

    /// Users with at least `min` failures: most failures first, then UPN.
    pub fn into_sorted(self, min: u64) -> Vec<UserFailures> {
        let mut v: Vec<UserFailures> = self
            .by_user
            .into_values()
            .filter(|u| u.failures >= min)
            .collect();
        sort(&mut v);
        v
    }
}

/// The answer's order: most failures first, then UPN (case folded once
/// per user, not per comparison: a month of a busy tenant is 10,000 users).
pub fn sort(v: &mut [UserFailures]) {
    v.sort_by_cached_key(|u| {
        (
            std::cmp::Reverse(u.failures),
            u.user.user_principal_name.to_lowercase(),
        )
    });
}
