//! Reading the trail: `GET /v1/audit` (filters, newest first, cursor
//! paging) and `GET /v1/audit/{auditId}`.
//!
//! Filters: `since` / `until` are inclusive bounds on `time`, parsed as
//! RFC 3339 with any offset and compared in UTC (to the millisecond, the
//! stored precision); `user` matches the stored summary's `id` or
//! `userPrincipalName`, case-insensitively; `ticket` and `caller` match
//! exactly. The cursor is opaque to callers: base64url (no padding) of the
//! decimal `seq` of the last record served; the next page holds the records
//! appended before it. Every input is an SQL parameter.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::record::AuditRecord;
use super::row::{self, StoredRow, COLUMNS, RECORDS};
use super::AuditError;
use crate::api::query::{Query, QueryError};
use crate::ports::{Database, SqlValue};

pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;

/// The query of `GET /v1/audit`, as given; [`list`] validates it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub since: Option<String>,
    pub until: Option<String>,
    pub user: Option<String>,
    pub ticket: Option<String>,
    pub caller: Option<String>,
    /// The person who acted (upn or object id, any case).
    pub operator: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// One page: `{ "records": [...], "nextCursor"? }`, the response body.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn invalid(field: &'static str, reason: &str) -> AuditError {
    AuditError::InvalidQuery {
        field,
        reason: reason.into(),
    }
}

impl AuditQuery {
    /// Every parameter [`AuditQuery::from_query`] knows, in document order.
    pub const NAMES: [&'static str; 8] = [
        "since", "until", "user", "ticket", "caller", "operator", "limit", "cursor",
    ];

    /// Parses a URL query by [`Query`]'s rules; the values are checked by
    /// [`list`].
    pub fn from_query(raw: &str) -> Result<AuditQuery, QueryError> {
        let query = Query::parse(raw, &Self::NAMES)?;
        let text = |name: &str| query.get(name).map(str::to_string);
        Ok(AuditQuery {
            since: query.date_time("since"),
            until: query.date_time("until"),
            user: text("user"),
            ticket: text("ticket"),
            caller: text("caller"),
            operator: text("operator"),
            limit: query.parsed("limit", |v| {
                v.parse::<u32>()
                    .map_err(|_| "must be an integer from 1 to 1000")
            })?,
            cursor: text("cursor"),
        })
    }
}

/// `time` bound in the stored form. A bound finer than a millisecond is
/// rounded inwards (`since` up, `until` down), so inclusion stays exact.
fn bound(raw: &str, field: &'static str, round_up: bool) -> Result<String, AuditError> {
    let bad = || {
        invalid(
            field,
            "is not an RFC 3339 date-time such as 2026-11-23T08:00:00Z",
        )
    };
    let t = OffsetDateTime::parse(raw, &Rfc3339)
        .map_err(|_| bad())?
        .checked_to_offset(time::UtcOffset::UTC)
        .ok_or_else(bad)?;
    let sub_ms = t.nanosecond() % 1_000_000;
    let t = if round_up && sub_ms != 0 {
        t.checked_add(time::Duration::nanoseconds(i64::from(1_000_000 - sub_ms)))
            .ok_or_else(bad)?
    } else {
        t
    };
    if !(0..=9999).contains(&t.year()) {
        return Err(bad());
    }
    Ok(row::format_time(t))
}

fn encode_cursor(seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(seq.to_string())
}

fn decode_cursor(cursor: &str) -> Result<i64, AuditError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|seq| *seq > 0)
        .ok_or_else(|| invalid("cursor", "is not a cursor from a previous page"))
}

/// One page of records matching `query`, newest first.
pub fn list(db: &dyn Database, query: &AuditQuery) -> Result<AuditPage, AuditError> {
    let limit = match query.limit {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => return Err(invalid("limit", "must be an integer from 1 to 1000")),
    };
    // Fixed SQL fragments only; every value is a parameter.
    let mut sql = format!("SELECT {COLUMNS} FROM {RECORDS} WHERE 1 = 1");
    let mut params = Vec::new();
    if let Some(cursor) = &query.cursor {
        sql.push_str(" AND seq < ?");
        params.push(SqlValue::Integer(decode_cursor(cursor)?));
    }
    if let Some(since) = &query.since {
        sql.push_str(" AND time >= ?");
        params.push(SqlValue::Text(bound(since, "since", true)?));
    }
    if let Some(until) = &query.until {
        sql.push_str(" AND time <= ?");
        params.push(SqlValue::Text(bound(until, "until", false)?));
    }
    if let Some(user) = &query.user {
        let key = user.to_lowercase();
        sql.push_str(" AND (user_id = ? OR user_upn = ?)");
        params.extend([SqlValue::Text(key.clone()), SqlValue::Text(key)]);
    }
    if let Some(ticket) = &query.ticket {
        sql.push_str(" AND ticket = ?");
        params.push(SqlValue::Text(ticket.clone()));
    }
    if let Some(caller) = &query.caller {
        sql.push_str(" AND caller = ?");
        params.push(SqlValue::Text(caller.clone()));
    }
    if let Some(operator) = &query.operator {
        sql.push_str(" AND seq IN (SELECT seq FROM audit_operators WHERE upn = ? OR oid = ?)");
        let key = operator.to_lowercase();
        params.push(SqlValue::Text(key.clone()));
        params.push(SqlValue::Text(key));
    }
    // One more than asked: whether another page exists.
    sql.push_str(" ORDER BY seq DESC LIMIT ?");
    params.push(SqlValue::Integer(i64::from(limit) + 1));

    let rows = match db.execute(&sql, &params) {
        Err(e) if row::missing_table(&e) => Vec::new(),
        other => other?,
    };
    let more = rows.len() > limit as usize;
    let mut records = Vec::with_capacity(rows.len().min(limit as usize));
    let mut last_seq = None;
    for r in rows.iter().take(limit as usize) {
        let stored = StoredRow::decode(r)?;
        last_seq = Some(stored.seq);
        records.push(stored.into_record()?);
    }
    Ok(AuditPage {
        records,
        next_cursor: last_seq.filter(|_| more).map(encode_cursor),
    })
}

/// The record with this id, if any.
pub fn get(db: &dyn Database, audit_id: &str) -> Result<Option<AuditRecord>, AuditError> {
    let sql = format!("SELECT {COLUMNS} FROM {RECORDS} WHERE audit_id = ?");
    let rows = match db.execute(&sql, &[SqlValue::Text(audit_id.into())]) {
        Err(e) if row::missing_table(&e) => return Ok(None),
        other => other?,
    };
    rows.first()
        .map(|r| StoredRow::decode(r)?.into_record())
        .transpose()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::audit::fixtures::{append_n, migrated};
    use crate::testing::World;

    fn ids(page: &AuditPage) -> Vec<&str> {
        page.records.iter().map(|r| r.audit_id.as_str()).collect()
    }

    fn q(raw: &str) -> AuditQuery {
        AuditQuery::from_query(raw).unwrap()
    }

    #[test]
    fn every_documented_parameter_is_accepted() {
        for name in AuditQuery::NAMES {
            let value = if name == "limit" { "5" } else { "x" };
            AuditQuery::from_query(&format!("{name}={value}"))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn pages_newest_first_with_a_cursor() {
        let w = migrated();
        let all = append_n(&w, 25);
        let first = list(&w.db, &q("limit=10")).unwrap();
        assert_eq!(first.records.len(), 10);
        assert_eq!(first.records[0], all[24]);
        assert_eq!(first.records[9], all[15]);
        let cursor = first.next_cursor.clone().unwrap();
        assert_eq!(cursor, URL_SAFE_NO_PAD.encode("16"));
        let second = list(&w.db, &q(&format!("limit=10&cursor={cursor}"))).unwrap();
        assert_eq!(second.records[0], all[14]);
        let third = list(
            &w.db,
            &q(&format!(
                "limit=10&cursor={}",
                second.next_cursor.clone().unwrap()
            )),
        )
        .unwrap();
        assert_eq!(third.records.len(), 5);
        assert_eq!(third.records[4], all[0]);
        assert_eq!(third.next_cursor, None);
        let seen: HashSet<&str> = [&first, &second, &third]
            .iter()
            .flat_map(|p| ids(p))
            .collect();
        assert_eq!(seen.len(), 25);

        // Default limit holds everything; an exact fit has no next page.
        let everything = list(&w.db, &AuditQuery::default()).unwrap();
        assert_eq!(
            (everything.records.len(), everything.next_cursor),
            (25, None)
        );
        let exact = list(&w.db, &q("limit=25")).unwrap();
        assert_eq!(exact.next_cursor, None);
        let json = serde_json::to_value(list(&w.db, &q("limit=1")).unwrap()).unwrap();
        assert_eq!(json["records"].as_array().unwrap().len(), 1);
        assert!(json["nextCursor"].is_string());
        assert!(json["records"][0]["prevHash"].is_string());
    }

    #[test]
    fn filters_by_time_user_ticket_and_caller() {
        let w = migrated();
        let all = append_n(&w, 25); // record i at 08:00:0i
                                    // Inclusive bounds, any offset, compared as instants.
        let page = list(
            &w.db,
            &q("since=2026-11-23T09:00:05%2B01:00&until=2026-11-23T08:00:09Z"),
        )
        .unwrap();
        let expected: Vec<&str> = all[5..=9]
            .iter()
            .rev()
            .map(|r| r.audit_id.as_str())
            .collect();
        assert_eq!(ids(&page), expected);
        // Unencoded `+` arrives as a space and is read back.
        assert_eq!(
            list(
                &w.db,
                &q("since=2026-11-23T09:00:05+01:00&until=2026-11-23T08:00:09Z")
            )
            .unwrap(),
            page
        );
        // Sub-millisecond bounds round inwards.
        let p = list(
            &w.db,
            &q("since=2026-11-23T08:00:05.0001Z&until=2026-11-23T08:00:06.9999Z"),
        )
        .unwrap();
        assert_eq!(ids(&p), vec![all[6].audit_id.as_str()]);

        // user: by id (any case) or UPN (any case); i % 4 == 1.
        let by_upn = list(&w.db, &q("user=USER1%40contoso.COM")).unwrap();
        let by_id = list(&w.db, &q("user=00000000-0000-4000-8000-000000000001")).unwrap();
        assert_eq!(by_upn, by_id);
        assert_eq!(by_upn.records.len(), 6); // 1, 5, 9, 13, 17, 21
        assert!(by_upn.records.iter().all(
            |r| r.entry.user.as_ref().unwrap()["id"] == "00000000-0000-4000-8000-000000000001"
        ));

        let tickets = list(&w.db, &q("ticket=INC0003")).unwrap();
        assert_eq!(tickets.records.len(), 5);
        assert!(list(&w.db, &q("ticket=inc0003"))
            .unwrap()
            .records
            .is_empty());
        let callers = list(&w.db, &q("caller=servicenow")).unwrap();
        assert_eq!(callers.records.len(), 12);

        // Combined, and paged: servicenow (odd i) on user 1 (i%4==1) in INC0001 (i%5==1):
        // i in {1, 21}.
        let combo = q("caller=servicenow&user=user1@contoso.com&ticket=INC0001&limit=1");
        let p1 = list(&w.db, &combo).unwrap();
        assert_eq!(ids(&p1), vec![all[21].audit_id.as_str()]);
        let mut next = combo.clone();
        next.cursor = p1.next_cursor;
        let p2 = list(&w.db, &next).unwrap();
        assert_eq!(ids(&p2), vec![all[1].audit_id.as_str()]);
        assert_eq!(p2.next_cursor, None);

        // Hostile input is just a value.
        assert!(list(&w.db, &q("ticket=x'%20OR%20'1'%3D'1"))
            .unwrap()
            .records
            .is_empty());
    }

    #[test]
    fn raw_user_references_are_found_too() {
        let w = migrated();
        let mut e = crate::audit::fixtures::entry(0);
        e.user = Some(serde_json::json!(
            "Jo_Fabrikam.com#EXT#@Contoso.onmicrosoft.com"
        ));
        let r = crate::audit::append(&w.db, &w.clock, &w.entropy, crate::audit::Keying::Plain, e)
            .unwrap();
        let p = list(
            &w.db,
            &q("user=jo_fabrikam.com%23ext%23%40contoso.onmicrosoft.com"),
        )
        .unwrap();
        assert_eq!(p.records, vec![r]);
    }

    #[test]
    fn get_finds_one_record() {
        let w = migrated();
        let all = append_n(&w, 3);
        assert_eq!(get(&w.db, &all[1].audit_id).unwrap(), Some(all[1].clone()));
        assert_eq!(get(&w.db, "aud_nope").unwrap(), None);
        // Before the first append there is no table: nothing, not an error.
        let fresh = World::default();
        assert_eq!(get(&fresh.db, &all[1].audit_id).unwrap(), None);
        assert_eq!(
            list(&fresh.db, &AuditQuery::default()).unwrap().records,
            vec![]
        );
    }

    #[test]
    fn bad_queries_name_the_parameter() {
        let field = |raw: &str| match AuditQuery::from_query(raw) {
            Err(e @ QueryError::Unknown { .. }) => format!("unknown {}", e.field()),
            Err(e) => e.field().to_string(),
            Ok(q) => match list(&MemoryDbNone, &q) {
                Err(AuditError::InvalidQuery { field, .. }) => field.to_string(),
                r => panic!("{raw}: {r:?}"),
            },
        };
        assert_eq!(field("limit=0"), "limit");
        assert_eq!(field("limit=1001"), "limit");
        assert_eq!(field("limit=ten"), "limit");
        assert_eq!(field("limit=-1"), "limit");
        assert_eq!(field("since=yesterday"), "since");
        assert_eq!(field("until=2026-11-23"), "until");
        assert_eq!(field("until=9999-12-31T23:59:59-01:00"), "until");
        assert_eq!(field("cursor=%21%21"), "cursor");
        assert_eq!(
            field(&format!("cursor={}", URL_SAFE_NO_PAD.encode("-3"))),
            "cursor"
        );
        assert_eq!(field("ticket=a&ticket=b"), "ticket");
        assert_eq!(field("tikcet=a"), "unknown tikcet");
        let e = AuditQuery::from_query("limit=0").unwrap();
        assert_eq!(
            list(&MemoryDbNone, &e).unwrap_err().code(),
            crate::api::ErrorCode::InvalidRequest
        );
        // Empty values are absent; limit=1000 is allowed.
        assert_eq!(
            q("?user=&limit=1000"),
            AuditQuery {
                limit: Some(1000),
                ..Default::default()
            }
        );
    }

    /// Validation must fail before any statement runs.
    struct MemoryDbNone;

    impl Database for MemoryDbNone {
        fn execute(
            &self,
            _: &str,
            _: &[SqlValue],
        ) -> Result<Vec<Vec<SqlValue>>, crate::ports::HostError> {
            panic!("queried the database with an invalid query")
        }
    }
}
