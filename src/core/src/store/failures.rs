//! The failures store: a rolling aggregate of the sign-in failures read
//! from Graph, per user per hour, kept 30 days (the sign-in log's own
//! retention on P1/P2), so `GET /v1/failures` answers a busy tenant's month
//! from SQLite instead of paging Graph's throttled reports within one
//! request.
//!
//! - `failure_users`: a small integer key per user, with the UPN and name
//!   last seen (sign-ins carry the UPN lower-cased).
//! - `failure_events`: one row per sign-in stored (a 64-bit digest of its
//!   `id`), so a page read twice (the overlap that catches late arrivals, a
//!   retry, two instances at once) counts once, and a window's partial
//!   first and last hours are counted event by event, to the tick.
//! - `failure_hours`: per hour, error code and user: the count and the first
//!   and last failure; a window's whole hours are summed from here.
//! - `failure_details`: the reasons, apps and addresses seen per hour, code
//!   and user (for the partial edge hours these are the hour's, which may
//!   hold a value from just outside the window).
//! - `failure_coverage`: the time ranges read completely, merged.
//!
//! Times are 100 ns ticks since the Unix epoch (Graph writes 7 fraction
//! digits); `first`/`last` are the tick count zero-padded to 20 digits and
//! then Graph's own text, so SQL's `MIN`/`MAX` order them by time and the
//! answer gives back exactly what Graph wrote.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::ports::{Database, HostError, SqlValue};
use crate::types::UserRef;
use crate::types::{FailingUser, UserFailures};

pub const TICKS_PER_SEC: i64 = 10_000_000;
const HOUR_TICKS: i64 = 3600 * TICKS_PER_SEC;
/// What one user's entry lists at most of each detail (as the live answer).
const MAX_DISTINCT: usize = 20;
/// Rows per multi-row statement: well under SQLite's parameter limit.
const CHUNK: usize = 100;

/// The store's tables (schema v4), see the module documentation.
pub const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS failure_users (
        user_key     INTEGER PRIMARY KEY,
        user_id      TEXT NOT NULL UNIQUE,
        upn          TEXT NOT NULL,
        display_name TEXT
    )",
    "CREATE INDEX IF NOT EXISTS failure_users_upn ON failure_users (upn)",
    "CREATE TABLE IF NOT EXISTS failure_events (
        event    INTEGER PRIMARY KEY,
        user_key INTEGER NOT NULL,
        at       INTEGER NOT NULL,
        raw      TEXT NOT NULL,
        code     INTEGER NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS failure_events_at ON failure_events (at)",
    "CREATE TABLE IF NOT EXISTS failure_hours (
        hour     INTEGER NOT NULL,
        code     INTEGER NOT NULL,
        user_key INTEGER NOT NULL,
        failures INTEGER NOT NULL,
        first    TEXT NOT NULL,
        last     TEXT NOT NULL,
        PRIMARY KEY (hour, code, user_key)
    ) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS failure_details (
        hour     INTEGER NOT NULL,
        code     INTEGER NOT NULL,
        user_key INTEGER NOT NULL,
        kind     INTEGER NOT NULL,
        value    TEXT NOT NULL,
        PRIMARY KEY (hour, code, user_key, kind, value)
    ) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS failure_coverage (
        since INTEGER NOT NULL,
        until INTEGER NOT NULL
    )",
];

/// Covering indexes in the answer's order (code, then user): a month is
/// grouped per user as it is read, without sorting (schema v5; 77 -> 33 ms
/// and 185 -> 74 ms natively for 100,000 hours of 10,000 users).
pub const ANSWER_INDEXES: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS failure_hours_by_user
        ON failure_hours (code, user_key, hour, failures, first, last)",
    "CREATE INDEX IF NOT EXISTS failure_details_by_user
        ON failure_details (code, user_key, kind, value, hour)",
];

/// A closed range of time in Unix seconds: every event with
/// `since <= t <= until` (`t` to the tick).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Range {
    pub since: i64,
    pub until: i64,
}

impl Range {
    pub fn new(since: i64, until: i64) -> Range {
        Range { since, until }
    }

    /// The parts of `self` no range of `covered` (sorted, disjoint) holds,
    /// newest first.
    pub fn gaps(self, covered: &[Range]) -> Vec<Range> {
        let mut out = Vec::new();
        // Everything of `self` above `top` is placed; walk down from the newest.
        let mut top = self.until;
        for c in covered.iter().rev() {
            if c.since > top {
                continue;
            }
            if c.until < self.since {
                break;
            }
            if c.until < top {
                out.push(Range::new(c.until.max(self.since), top));
            }
            top = c.since;
            if top <= self.since {
                return out;
            }
        }
        out.push(Range::new(self.since, top));
        out
    }

    fn overlaps(self, o: Range) -> bool {
        o.since <= self.until && self.since <= o.until
    }

    /// The parts of `covered` inside `self`.
    pub fn clip(self, covered: &[Range]) -> Vec<Range> {
        covered
            .iter()
            .filter(|c| c.overlaps(self))
            .map(|c| Range::new(c.since.max(self.since), c.until.min(self.until)))
            .collect()
    }
}

/// Sorted, merged: ranges that share a second (or more) become one.
pub fn merge(mut ranges: Vec<Range>) -> Vec<Range> {
    ranges.sort();
    let mut out: Vec<Range> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.since <= last.until => last.until = last.until.max(r.until),
            _ => out.push(r),
        }
    }
    out
}

/// One sign-in failure as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub digest: i64,
    pub user_id: String,
    pub upn: String,
    pub display_name: Option<String>,
    pub raw: String,
    pub ticks: i64,
    pub code: i64,
    pub reason: Option<String>,
    pub app: Option<String>,
    pub ip: Option<String>,
}

/// Graph's `createdDateTime` as ticks; `None` when it is not RFC 3339.
pub fn ticks(raw: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 100).ok()
}

impl Event {
    /// A sign-in item of a page; `None` without a user or a readable time.
    pub fn from_item(e: &Value) -> Option<Event> {
        let s = |k: &str| e.get(k).and_then(Value::as_str).filter(|v| !v.is_empty());
        let user_id = s("userId")?.to_ascii_lowercase();
        let raw = s("createdDateTime")?;
        let ticks = ticks(raw).filter(|t| *t >= 0)?;
        let code = e
            .pointer("/status/errorCode")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        // The id is what makes a sign-in the same one when read twice.
        let identity = match s("id") {
            Some(id) => id.to_ascii_lowercase(),
            None => format!("{user_id}|{raw}|{code}"),
        };
        let d = Sha256::digest(identity.as_bytes());
        let digest = i64::from_be_bytes(d[..8].try_into().expect("8 bytes"));
        Some(Event {
            digest,
            user_id,
            upn: s("userPrincipalName").unwrap_or_default().to_lowercase(),
            display_name: s("userDisplayName").map(str::to_string),
            raw: raw.to_string(),
            ticks,
            code,
            reason: e
                .pointer("/status/failureReason")
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .map(str::to_string),
            app: s("appDisplayName").map(str::to_string),
            ip: s("ipAddress").map(str::to_string),
        })
    }

    fn key(&self) -> String {
        format!("{:020}{}", self.ticks, self.raw)
    }
}

fn int(v: &SqlValue) -> i64 {
    match v {
        SqlValue::Integer(i) => *i,
        _ => 0,
    }
}

fn text(v: &SqlValue) -> Option<String> {
    match v {
        SqlValue::Text(s) => Some(s.clone()),
        _ => None,
    }
}

fn placeholders(rows: usize, per_row: usize) -> String {
    let row = format!("({})", vec!["?"; per_row].join(","));
    vec![row; rows].join(",")
}

/// Creates the tables when missing (the components migrate themselves).
fn ensure(db: &dyn Database) -> Result<(), HostError> {
    for sql in SCHEMA.iter().chain(ANSWER_INDEXES) {
        db.execute(sql, &[])?;
    }
    Ok(())
}

/// Runs `f` inside `BEGIN IMMEDIATE`; creates the tables first when the
/// database has none yet.
fn write<T>(db: &dyn Database, f: impl Fn() -> Result<T, HostError>) -> Result<T, HostError> {
    for attempt in 0..2 {
        db.execute("BEGIN IMMEDIATE", &[])?;
        match f() {
            Ok(v) => {
                db.execute("COMMIT", &[])?;
                return Ok(v);
            }
            Err(e) => {
                let _ = db.execute("ROLLBACK", &[]);
                if attempt == 0 && e.0.contains("no such table") {
                    ensure(db)?;
                    continue;
                }
                return Err(e);
            }
        }
    }
    unreachable!("the loop returns")
}

fn read<T>(db: &dyn Database, f: impl Fn() -> Result<T, HostError>) -> Result<T, HostError> {
    match f() {
        Err(e) if e.0.contains("no such table") => {
            ensure(db)?;
            f()
        }
        other => other,
    }
}

/// The ranges read completely, sorted and merged.
pub fn coverage(db: &dyn Database) -> Result<Vec<Range>, HostError> {
    read(db, || {
        let rows = db.execute("SELECT since, until FROM failure_coverage", &[])?;
        Ok(merge(
            rows.iter()
                .map(|r| Range::new(int(&r[0]), int(&r[1])))
                .collect(),
        ))
    })
}

/// What [`ingest`] stored.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    /// Events new to the store (the rest had been read before).
    pub new: u64,
    /// A sign-in the store holds came back with another time: the log is
    /// not the one the store read (a sign-in never moves in a real
    /// tenant; a test tenant that was reset does that).
    pub rewritten: bool,
}

/// Stores one page's failures and, in the same transaction, the range the
/// reading has now covered: a page is stored whole or not at all.
pub fn ingest(
    db: &dyn Database,
    events: &[Event],
    covered: Option<Range>,
) -> Result<Ingested, HostError> {
    write(db, || {
        let keys = upsert_users(db, events)?;
        let (fresh, rewritten) = insert_events(db, events, &keys)?;
        let new: Vec<&Event> = events
            .iter()
            .filter(|e| fresh.contains(&e.digest))
            .collect();
        add_hours(db, &new, &keys)?;
        if let Some(r) = covered {
            let rows = db.execute("SELECT since, until FROM failure_coverage", &[])?;
            let mut all: Vec<Range> = rows
                .iter()
                .map(|r| Range::new(int(&r[0]), int(&r[1])))
                .collect();
            all.push(r);
            replace_coverage(db, &merge(all))?;
        }
        Ok(Ingested {
            new: new.len() as u64,
            rewritten,
        })
    })
}

fn replace_coverage(db: &dyn Database, ranges: &[Range]) -> Result<(), HostError> {
    db.execute("DELETE FROM failure_coverage", &[])?;
    for r in ranges {
        db.execute(
            "INSERT INTO failure_coverage (since, until) VALUES (?, ?)",
            &[SqlValue::Integer(r.since), SqlValue::Integer(r.until)],
        )?;
    }
    Ok(())
}

fn upsert_users(db: &dyn Database, events: &[Event]) -> Result<HashMap<String, i64>, HostError> {
    // The newest sighting names the user (pages come newest first).
    let mut users: Vec<&Event> = Vec::new();
    let mut seen = BTreeSet::new();
    for e in events {
        if seen.insert(e.user_id.as_str()) {
            users.push(e);
        }
    }
    let mut keys = HashMap::with_capacity(users.len());
    for chunk in users.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO failure_users (user_id, upn, display_name) VALUES {}
             ON CONFLICT (user_id) DO UPDATE SET
                upn = CASE WHEN excluded.upn = '' THEN upn ELSE excluded.upn END,
                display_name = COALESCE(excluded.display_name, display_name)
             RETURNING user_key, user_id",
            placeholders(chunk.len(), 3)
        );
        let mut params = Vec::with_capacity(chunk.len() * 3);
        for e in chunk {
            params.push(SqlValue::Text(e.user_id.clone()));
            params.push(SqlValue::Text(e.upn.clone()));
            params.push(
                e.display_name
                    .clone()
                    .map_or(SqlValue::Null, SqlValue::Text),
            );
        }
        for row in db.execute(&sql, &params)? {
            if let Some(id) = text(&row[1]) {
                keys.insert(id, int(&row[0]));
            }
        }
    }
    Ok(keys)
}

/// Inserts the events not stored yet; returns the digests it inserted, and
/// whether a stored one came back with another time.
fn insert_events(
    db: &dyn Database,
    events: &[Event],
    keys: &HashMap<String, i64>,
) -> Result<(BTreeSet<i64>, bool), HostError> {
    let mut fresh = BTreeSet::new();
    let mut rewritten = false;
    // A digest twice in one page (Graph repeating an item across a page
    // boundary) is one event.
    let mut unique: Vec<&Event> = Vec::with_capacity(events.len());
    let mut seen = BTreeSet::new();
    for e in events {
        if seen.insert(e.digest) {
            unique.push(e);
        }
    }
    for chunk in unique.chunks(CHUNK) {
        // RETURNING gives the rows inserted, and (through the no-op
        // update) a stored row whose time differs, with the stored time.
        let sql = format!(
            "INSERT INTO failure_events (event, user_key, at, raw, code) VALUES {}
             ON CONFLICT (event) DO UPDATE SET at = at WHERE at != excluded.at
             RETURNING event, at",
            placeholders(chunk.len(), 5)
        );
        let mut params = Vec::with_capacity(chunk.len() * 5);
        for e in chunk {
            params.push(SqlValue::Integer(e.digest));
            params.push(SqlValue::Integer(
                keys.get(&e.user_id).copied().unwrap_or(0),
            ));
            params.push(SqlValue::Integer(e.ticks));
            params.push(SqlValue::Text(e.raw.clone()));
            params.push(SqlValue::Integer(e.code));
        }
        let ticks: HashMap<i64, i64> = chunk.iter().map(|e| (e.digest, e.ticks)).collect();
        for row in db.execute(&sql, &params)? {
            let digest = int(&row[0]);
            if ticks.get(&digest) == Some(&int(&row[1])) {
                fresh.insert(digest);
            } else {
                rewritten = true;
            }
        }
    }
    Ok((fresh, rewritten))
}

/// The sign-ins stored between two instants (Unix seconds, inclusive).
pub fn stored_between(db: &dyn Database, since: i64, until: i64) -> Result<Vec<i64>, HostError> {
    let rows = db.execute(
        "SELECT event FROM failure_events WHERE at >= ? AND at < ?",
        &[
            SqlValue::Integer(since.saturating_mul(TICKS_PER_SEC)),
            SqlValue::Integer(until.saturating_mul(TICKS_PER_SEC).saturating_add(1)),
        ],
    )?;
    Ok(rows.iter().map(|r| int(&r[0])).collect())
}

/// The time (Unix seconds, rounded down) of the `n`th newest sign-in stored
/// at or before `until`; `None` when fewer are stored.
pub fn nth_newest(db: &dyn Database, until: i64, n: u32) -> Result<Option<i64>, HostError> {
    read(db, || {
        let rows = db.execute(
            "SELECT at FROM failure_events WHERE at < ? ORDER BY at DESC LIMIT 1 OFFSET ?",
            &[
                SqlValue::Integer(until.saturating_mul(TICKS_PER_SEC).saturating_add(1)),
                SqlValue::Integer(i64::from(n.saturating_sub(1))),
            ],
        )?;
        Ok(rows.first().map(|r| int(&r[0]).div_euclid(TICKS_PER_SEC)))
    })
}

/// Forgets every sign-in and range read (the user names stay): what is
/// stored no longer matches the log.
pub fn forget(db: &dyn Database) -> Result<(), HostError> {
    write(db, || {
        for table in [
            "failure_events",
            "failure_hours",
            "failure_details",
            "failure_coverage",
        ] {
            db.execute(&format!("DELETE FROM {table}"), &[])?;
        }
        Ok(())
    })
}

#[derive(Default)]
struct Bucket {
    failures: i64,
    first: String,
    last: String,
    details: [BTreeSet<String>; 3],
}

fn add_hours(
    db: &dyn Database,
    events: &[&Event],
    keys: &HashMap<String, i64>,
) -> Result<(), HostError> {
    let mut buckets: BTreeMap<(i64, i64, i64), Bucket> = BTreeMap::new();
    for e in events {
        let user = keys.get(&e.user_id).copied().unwrap_or(0);
        let b = buckets
            .entry((e.ticks / HOUR_TICKS, e.code, user))
            .or_default();
        let key = e.key();
        b.failures += 1;
        if b.first.is_empty() || key < b.first {
            b.first = key.clone();
        }
        if key > b.last {
            b.last = key;
        }
        for (i, v) in [&e.reason, &e.app, &e.ip].into_iter().enumerate() {
            if let Some(v) = v {
                if b.details[i].len() < MAX_DISTINCT {
                    b.details[i].insert(v.clone());
                }
            }
        }
    }
    let rows: Vec<_> = buckets.iter().collect();
    for chunk in rows.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO failure_hours (hour, code, user_key, failures, first, last) VALUES {}
             ON CONFLICT (hour, code, user_key) DO UPDATE SET
                failures = failures + excluded.failures,
                first = MIN(first, excluded.first),
                last = MAX(last, excluded.last)",
            placeholders(chunk.len(), 6)
        );
        let mut params = Vec::with_capacity(chunk.len() * 6);
        for ((hour, code, user), b) in chunk {
            params.extend([
                SqlValue::Integer(*hour),
                SqlValue::Integer(*code),
                SqlValue::Integer(*user),
                SqlValue::Integer(b.failures),
                SqlValue::Text(b.first.clone()),
                SqlValue::Text(b.last.clone()),
            ]);
        }
        db.execute(&sql, &params)?;
    }
    let details: Vec<(i64, i64, i64, i64, &String)> = buckets
        .iter()
        .flat_map(|((h, c, u), b)| {
            b.details
                .iter()
                .enumerate()
                .flat_map(move |(k, set)| set.iter().map(move |v| (*h, *c, *u, k as i64, v)))
        })
        .collect();
    for chunk in details.chunks(CHUNK) {
        let sql = format!(
            "INSERT OR IGNORE INTO failure_details (hour, code, user_key, kind, value) VALUES {}",
            placeholders(chunk.len(), 5)
        );
        let mut params = Vec::with_capacity(chunk.len() * 5);
        for (h, c, u, k, v) in chunk {
            params.extend([
                SqlValue::Integer(*h),
                SqlValue::Integer(*c),
                SqlValue::Integer(*u),
                SqlValue::Integer(*k),
                SqlValue::Text((*v).clone()),
            ]);
        }
        db.execute(&sql, &params)?;
    }
    Ok(())
}

/// Forgets what is older than `cutoff` (Unix seconds): Graph no longer has
/// it either, so the store stays the size of the log's retention.
pub fn prune(db: &dyn Database, cutoff: i64) -> Result<(), HostError> {
    // The reader also brings a store made before the answer's indexes up
    // to date (each statement is a no-op once done).
    ensure(db)?;
    let ticks = cutoff.saturating_mul(TICKS_PER_SEC);
    let hour = ticks / HOUR_TICKS;
    write(db, || {
        db.execute(
            "DELETE FROM failure_events WHERE at < ?",
            &[SqlValue::Integer(ticks)],
        )?;
        for table in ["failure_hours", "failure_details"] {
            db.execute(
                &format!("DELETE FROM {table} WHERE hour < ?"),
                &[SqlValue::Integer(hour)],
            )?;
        }
        let rows = db.execute("SELECT since, until FROM failure_coverage", &[])?;
        let kept: Vec<Range> = rows
            .iter()
            .map(|r| Range::new(int(&r[0]), int(&r[1])))
            .filter(|r| r.until >= cutoff)
            .map(|r| Range::new(r.since.max(cutoff), r.until))
            .collect();
        if kept.len() != rows.len() || kept.iter().zip(&rows).any(|(k, r)| k.since != int(&r[0])) {
            replace_coverage(db, &merge(kept))?;
        }
        Ok(())
    })
}

/// What a window asks the store.
pub struct Question<'a> {
    pub window: Range,
    pub codes: &'a [u32],
    pub user: Option<&'a UserRef>,
    pub min_failures: u64,
}

/// The answer from the store: every user with at least `min_failures`
/// in the window (unsorted), and how many events the window holds.
pub fn answer(db: &dyn Database, q: &Question<'_>) -> Result<(Vec<UserFailures>, u64), HostError> {
    read(db, || answer_once(db, q))
}

fn answer_once(db: &dyn Database, q: &Question<'_>) -> Result<(Vec<UserFailures>, u64), HostError> {
    let (s, u) = (q.window.since, q.window.until);
    // Whole hours inside the window come from `failure_hours`; the partial
    // hours at either end are counted from the events, to the tick.
    let full_lo = s.div_euclid(3600) + i64::from(s.rem_euclid(3600) != 0);
    let full_hi = u.div_euclid(3600) - 1;
    let t = |secs: i64| SqlValue::Integer(secs.saturating_mul(TICKS_PER_SEC));
    // `until` itself is in the window (Graph's `le`); a tick after it is not.
    let end = SqlValue::Integer(u.saturating_mul(TICKS_PER_SEC).saturating_add(1));
    let (edges, hours) = if full_lo > full_hi {
        ([t(s), end, t(1), t(0)], (1, 0))
    } else {
        (
            [t(s), t(full_lo * 3600), t((full_hi + 1) * 3600), end],
            (full_lo, full_hi),
        )
    };
    let codes = q
        .codes
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",");
    // One user: its key first, so both reads below use it in their scans.
    let user_key = match q.user {
        None => None,
        Some(user) => {
            let (sql, key) = match user {
                UserRef::Id(id) => (
                    "SELECT user_key FROM failure_users WHERE user_id = ?",
                    id.to_ascii_lowercase(),
                ),
                UserRef::Upn(upn) => (
                    "SELECT user_key FROM failure_users WHERE upn = ?",
                    upn.to_lowercase(),
                ),
            };
            match db.execute(sql, &[SqlValue::Text(key)])?.first() {
                Some(row) => Some(int(&row[0])),
                None => return Ok((Vec::new(), 0)),
            }
        }
    };
    let user_filter = match user_key {
        Some(k) => format!("AND user_key = {k}"),
        None => String::new(),
    };
    // Grouped before the join: the names are looked up once per user.
    let sql = format!(
        "SELECT g.user_key, u.user_id, u.upn, u.display_name, g.code, g.n, g.first, g.last
         FROM (
            SELECT user_key, code, SUM(n) AS n, MIN(first) AS first, MAX(last) AS last FROM (
                SELECT user_key, code, failures AS n, first, last FROM failure_hours
                 WHERE hour >= ? AND hour <= ? AND code IN ({codes}) {user_filter}
                UNION ALL
                SELECT user_key, code, 1, printf('%020d', at) || raw, printf('%020d', at) || raw
                  FROM failure_events
                 WHERE ((at >= ? AND at < ?) OR (at >= ? AND at < ?)) AND code IN ({codes}) {user_filter}
            ) GROUP BY user_key, code
         ) g JOIN failure_users u ON u.user_key = g.user_key"
    );
    let mut params = vec![SqlValue::Integer(hours.0), SqlValue::Integer(hours.1)];
    params.extend(edges);
    let rows = db.execute(&sql, &params)?;

    let mut by_user: HashMap<i64, UserFailures> = HashMap::new();
    let mut scanned = 0u64;
    for r in &rows {
        let n = int(&r[5]).max(0) as u64;
        scanned += n;
        let first = text(&r[6]).unwrap_or_default();
        let last = text(&r[7]).unwrap_or_default();
        let e = by_user.entry(int(&r[0])).or_insert_with(|| UserFailures {
            user: FailingUser {
                id: text(&r[1]).unwrap_or_default(),
                user_principal_name: text(&r[2]).unwrap_or_default(),
                display_name: text(&r[3]),
            },
            failures: 0,
            first_failure_date_time: first.clone(),
            last_failure_date_time: last.clone(),
            error_codes: BTreeMap::new(),
            failure_reasons: BTreeSet::new(),
            apps: BTreeSet::new(),
            ip_addresses: BTreeSet::new(),
        });
        e.failures += n;
        if first < e.first_failure_date_time {
            e.first_failure_date_time = first;
        }
        if last > e.last_failure_date_time {
            e.last_failure_date_time = last;
        }
        *e.error_codes.entry(int(&r[4]).to_string()).or_default() += n;
    }
    by_user.retain(|_, e| e.failures >= q.min_failures);
    for e in by_user.values_mut() {
        // Drop the sort prefix: the answer gives Graph's own text.
        for t in [
            &mut e.first_failure_date_time,
            &mut e.last_failure_date_time,
        ] {
            if t.len() >= 20 {
                t.drain(..20);
            }
        }
    }
    if by_user.is_empty() {
        return Ok((Vec::new(), scanned));
    }

    // One row per user and kind, the distinct values joined: a tenth of
    // the rows to carry out of SQLite than one per value.
    let sql = format!(
        "SELECT user_key, kind, group_concat(value, char(31)) FROM (
            SELECT DISTINCT user_key, kind, value FROM failure_details
             WHERE hour >= ? AND hour <= ? AND code IN ({codes}) {user_filter}
         ) GROUP BY user_key, kind"
    );
    let params = vec![
        SqlValue::Integer(s.div_euclid(3600)),
        SqlValue::Integer(u.div_euclid(3600)),
    ];
    for r in db.execute(&sql, &params)? {
        let Some(e) = by_user.get_mut(&int(&r[0])) else {
            continue;
        };
        let set = match int(&r[1]) {
            0 => &mut e.failure_reasons,
            1 => &mut e.apps,
            _ => &mut e.ip_addresses,
        };
        let joined = text(&r[2]).unwrap_or_default();
        for v in joined.split('\u{1f}').filter(|v| !v.is_empty()) {
            if set.len() >= MAX_DISTINCT {
                break;
            }
            set.insert(v.to_string());
        }
    }
    Ok((by_user.into_values().collect(), scanned))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryDb;
    use serde_json::json;

    fn item(id: &str, user: &str, time: &str, code: u32, ip: &str) -> Value {
        json!({ "id": id, "userId": user, "userPrincipalName": format!("{user}@c.com"),
                "userDisplayName": user, "createdDateTime": time, "appDisplayName": "Office",
                "ipAddress": ip, "status": { "errorCode": code, "failureReason": format!("reason {code}") } })
    }

    fn events(items: &[Value]) -> Vec<Event> {
        items.iter().filter_map(Event::from_item).collect()
    }

    fn secs(t: &str) -> i64 {
        ticks(t).unwrap() / TICKS_PER_SEC
    }

    fn ask(db: &MemoryDb, since: &str, until: &str) -> Vec<UserFailures> {
        let mut v = answer(
            db,
            &Question {
                window: Range::new(secs(since), secs(until)),
                codes: &[500121],
                user: None,
                min_failures: 1,
            },
        )
        .unwrap()
        .0;
        v.sort_by(|a, b| a.user.id.cmp(&b.user.id));
        v
    }

    #[test]
    fn a_page_read_twice_counts_once() {
        let db = MemoryDb::default();
        let page = events(&[
            item("a", "u1", "2026-11-30T10:15:00.1234567Z", 500121, "1.1.1.1"),
            item("b", "u1", "2026-11-30T10:45:00Z", 500121, "2.2.2.2"),
            item("c", "u2", "2026-11-30T11:05:00Z", 500121, "3.3.3.3"),
        ]);
        assert_eq!(ingest(&db, &page, None).unwrap().new, 3);
        assert_eq!(ingest(&db, &page, None).unwrap().new, 0);
        let v = ask(&db, "2026-11-30T00:00:00Z", "2026-11-30T23:00:00Z");
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].failures, 2);
        assert_eq!(v[0].first_failure_date_time, "2026-11-30T10:15:00.1234567Z");
        assert_eq!(v[0].last_failure_date_time, "2026-11-30T10:45:00Z");
        assert_eq!(v[0].ip_addresses.len(), 2);
        assert_eq!(v[0].user.user_principal_name, "u1@c.com");
        assert_eq!(v[1].error_codes["500121"], 1);
    }

    #[test]
    fn a_sign_in_back_with_another_time_is_a_rewritten_log() {
        let db = MemoryDb::default();
        let at = |t: &str| events(&[item("a", "u1", t, 500121, "1.1.1.1")]);
        assert!(
            !ingest(&db, &at("2026-11-30T10:00:00Z"), None)
                .unwrap()
                .rewritten
        );
        assert!(
            !ingest(&db, &at("2026-11-30T10:00:00Z"), None)
                .unwrap()
                .rewritten
        );
        let moved = ingest(&db, &at("2026-11-30T12:00:00Z"), None).unwrap();
        assert_eq!((moved.new, moved.rewritten), (0, true));
        assert_eq!(
            stored_between(
                &db,
                secs("2026-11-30T10:00:00Z"),
                secs("2026-11-30T10:00:00Z")
            )
            .unwrap()
            .len(),
            1
        );
        forget(&db).unwrap();
        assert!(ask(&db, "2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z").is_empty());
        assert_eq!(coverage(&db).unwrap(), []);
    }

    #[test]
    fn partial_hours_at_the_edges_count_to_the_tick() {
        let db = MemoryDb::default();
        let page = events(&[
            item("a", "u1", "2026-11-30T10:14:59.9999999Z", 500121, "1.1.1.1"),
            item("b", "u1", "2026-11-30T10:15:00Z", 500121, "1.1.1.1"),
            item("c", "u1", "2026-11-30T11:30:00Z", 500121, "1.1.1.1"),
            item("d", "u1", "2026-11-30T13:20:00Z", 500121, "1.1.1.1"),
            item("e", "u1", "2026-11-30T13:20:00.5Z", 500121, "1.1.1.1"),
        ]);
        ingest(&db, &page, None).unwrap();
        // 10:15:00 ..= 13:20:00: b, c, d (e is half a second late, a early).
        let v = ask(&db, "2026-11-30T10:15:00Z", "2026-11-30T13:20:00Z");
        assert_eq!(v[0].failures, 3);
        assert_eq!(v[0].first_failure_date_time, "2026-11-30T10:15:00Z");
        assert_eq!(v[0].last_failure_date_time, "2026-11-30T13:20:00Z");
        // Inside one hour.
        assert_eq!(
            ask(&db, "2026-11-30T13:00:00Z", "2026-11-30T13:59:59Z")[0].failures,
            2
        );
        // Whole hours only.
        assert_eq!(
            ask(&db, "2026-11-30T10:00:00Z", "2026-11-30T12:00:00Z")[0].failures,
            3
        );
        assert!(ask(&db, "2026-11-30T14:00:00Z", "2026-11-30T15:00:00Z").is_empty());
    }

    #[test]
    fn codes_users_and_minimum_filter_in_the_store() {
        let db = MemoryDb::default();
        ingest(
            &db,
            &events(&[
                item("a", "u1", "2026-11-30T10:00:00Z", 500121, "1.1.1.1"),
                item("b", "u1", "2026-11-30T10:01:00Z", 50074, "1.1.1.1"),
                item("c", "u2", "2026-11-30T10:02:00Z", 500121, "1.1.1.1"),
                item("d", "u2", "2026-11-30T10:03:00Z", 500121, "1.1.1.1"),
            ]),
            None,
        )
        .unwrap();
        let w = Range::new(secs("2026-11-30T00:00:00Z"), secs("2026-12-01T00:00:00Z"));
        let user = UserRef::parse("U1@c.com").unwrap();
        let q = |codes: &[u32], user: Option<&UserRef>, min| {
            let q = Question {
                window: w,
                codes,
                user,
                min_failures: min,
            };
            answer(&db, &q).unwrap().0
        };
        let both = q(&[500121, 50074], None, 1);
        let u1 = both.iter().find(|u| u.user.id == "u1").unwrap();
        assert_eq!((u1.failures, u1.error_codes.len()), (2, 2));
        assert_eq!(q(&[500121], None, 2).len(), 1);
        let only = q(&[500121, 50074], Some(&user), 1);
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].user.id, "u1");
    }

    #[test]
    fn coverage_merges_and_gaps_are_newest_first() {
        let db = MemoryDb::default();
        ingest(&db, &[], Some(Range::new(100, 200))).unwrap();
        ingest(&db, &[], Some(Range::new(300, 400))).unwrap();
        ingest(&db, &[], Some(Range::new(200, 250))).unwrap();
        let c = coverage(&db).unwrap();
        assert_eq!(c, [Range::new(100, 250), Range::new(300, 400)]);
        assert_eq!(
            Range::new(0, 500).gaps(&c),
            [
                Range::new(400, 500),
                Range::new(250, 300),
                Range::new(0, 100)
            ]
        );
        assert_eq!(Range::new(120, 240).gaps(&c), []);
        assert_eq!(Range::new(260, 290).gaps(&c), [Range::new(260, 290)]);
        assert_eq!(Range::new(0, 50).gaps(&[]), [Range::new(0, 50)]);
        assert_eq!(
            Range::new(150, 350).clip(&c),
            [Range::new(150, 250), Range::new(300, 350)]
        );
        prune(&db, 320).unwrap();
        assert_eq!(coverage(&db).unwrap(), [Range::new(320, 400)]);
    }

    #[test]
    fn prune_forgets_what_graph_no_longer_keeps() {
        let db = MemoryDb::default();
        ingest(
            &db,
            &events(&[
                item("a", "u1", "2026-10-01T10:00:00Z", 500121, "1.1.1.1"),
                item("b", "u1", "2026-11-30T10:00:00Z", 500121, "1.1.1.1"),
            ]),
            None,
        )
        .unwrap();
        prune(&db, secs("2026-11-01T00:00:00Z")).unwrap();
        let v = ask(&db, "2026-09-01T00:00:00Z", "2026-12-01T00:00:00Z");
        assert_eq!(v[0].failures, 1);
        let n = db
            .execute("SELECT COUNT(*) FROM failure_events", &[])
            .unwrap();
        assert_eq!(n[0][0], SqlValue::Integer(1));
    }

    #[test]
    fn an_item_without_user_or_time_is_skipped() {
        assert!(
            Event::from_item(&json!({ "id": "x", "createdDateTime": "2026-11-30T10:00:00Z" }))
                .is_none()
        );
        assert!(
            Event::from_item(&json!({ "id": "x", "userId": "u", "createdDateTime": "noon" }))
                .is_none()
        );
        let a = Event::from_item(&item("Id-1", "U1", "2026-11-30T10:00:00Z", 1, "")).unwrap();
        let b = Event::from_item(&item("id-1", "u1", "2026-11-30T10:00:00Z", 1, "")).unwrap();
        assert_eq!(a.digest, b.digest);
        assert_eq!(a.ip, None);
    }
}
