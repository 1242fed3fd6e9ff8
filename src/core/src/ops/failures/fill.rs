//! Reading the sign-in log into the failures store (`store::failures`):
//! only what is not stored yet, newest first, page by page, each page
//! stored with the range it completes, so a read cut short by the budget or
//! the reports throttle is resumed by the next call where it stopped.
//!
//! Graph lists sign-ins newest first (signin-list: "by default, the most
//! recent sign-ins are returned first"), so after a page every event later
//! than its oldest one has been read.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::graph::{signins, GraphClient, GraphError};
use crate::ports::{nonce, Host};
use crate::store::failures::{self as store, Event, Range, TICKS_PER_SEC};
use crate::types::Instant;

/// The codes the store keeps: the report's default, MFA failed (500121).
/// A question about other codes is read from Graph as it is asked.
pub const STORED_CODES: &[u32] = &[500121];

/// Sign-ins reach Graph minutes after they happen (Entra reporting
/// latencies: 95 % within 2 minutes, 99 % within 5; interactive sign-ins
/// typically 5-15 minutes in practice), so a read starts this far before
/// what is stored; the events' ids keep the overlap from counting twice.
pub const ASKED_OVERLAP_SECS: i64 = 15 * 60;
/// A scheduled refresh re-reads further back for the stragglers: the
/// Entra documentation allows up to two hours before a sign-in shows.
pub const REFRESH_OVERLAP_SECS: i64 = 2 * 3600;
/// Sign-ins are kept 30 days on P1/P2 (FACTS §7 [s36]).
pub const RETENTION_SECS: i64 = 30 * 86_400;

/// One reader at a time: a second instance answers from the store instead
/// of spending the same throttle on the same pages.
const CLAIM_KEY: &str = "failures:reader";
/// Longer than any reading's budget.
const CLAIM_SECS: i64 = 60;

/// What a fill read and where it stopped.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Progress {
    pub pages: u32,
    pub read: u64,
    pub new: u64,
    /// The budget or the throttle ended the reading before the plan did.
    pub cut_short: bool,
    /// Another instance was reading; nothing was read here.
    pub busy: bool,
    /// The store held something before: a Graph that cannot be read now
    /// leaves an answer from the store, not an error.
    stored_before: bool,
    /// What was stored no longer matched the log, and was read again.
    pub reread: bool,
}

/// The reading a call does.
pub struct Plan {
    /// The time the answer is about.
    pub want: Range,
    /// How far before the stored watermark the newest read starts.
    pub overlap_secs: i64,
}

/// The newest read: its range and the watermark it started below, so the
/// sign-ins stored between the two can be checked against what Graph
/// lists now.
#[derive(Clone, Copy)]
struct Newest {
    range: Range,
    watermark: i64,
}

/// The newest read re-reads at least this many stored sign-ins (or the
/// overlap, if longer), so a log that changed behind the store shows: on a
/// quiet tenant that reaches back days and is still one page.
pub const CHECKED_SIGN_INS: u32 = 100;

/// What to read, newest first: from just before the watermark to now (the
/// window reaches it), then the window's gaps. `checked_since`: where the
/// newest [`CHECKED_SIGN_INS`] stored sign-ins begin.
fn plan_ranges(
    covered: &[Range],
    plan: &Plan,
    now: i64,
    checked_since: Option<i64>,
) -> (Vec<Range>, Option<Newest>) {
    let mut ranges = Vec::new();
    let mut planned = covered.to_vec();
    let mut newest = None;
    if let Some(hi) = covered.iter().map(|r| r.until).max() {
        if plan.want.until >= hi {
            // Fewer stored than checked: all of them.
            let checked = checked_since.unwrap_or(now - RETENTION_SECS);
            let since = (hi - plan.overlap_secs).min(checked);
            let range = Range::new(since.max(now - RETENTION_SECS), now);
            ranges.push(range);
            planned.push(range);
            newest = Some(Newest {
                range,
                watermark: hi,
            });
        }
    }
    ranges.extend(plan.want.gaps(&store::merge(planned)));
    ranges.retain(|r| r.since <= r.until);
    (ranges, newest)
}

/// Reads what `plan` needs and the store lacks. An error of Graph before
/// anything was read is the caller's (licence, permission, outage); after
/// that the reading stops and keeps what it has.
pub async fn fill(
    graph: &GraphClient<'_>,
    host: &Host<'_>,
    plan: &Plan,
) -> Result<Progress, GraphError> {
    let now = crate::types::unix_secs(host.clock.now()) as i64;
    let covered = store::coverage(host.db)?;
    let checked_since = match covered.last() {
        Some(last) => store::nth_newest(host.db, last.until, CHECKED_SIGN_INS)?,
        None => None,
    };
    let (ranges, newest) = plan_ranges(&covered, plan, now, checked_since);
    let mut progress = Progress {
        stored_before: !covered.is_empty(),
        ..Progress::default()
    };
    if ranges.is_empty() {
        return Ok(progress);
    }
    let Some(claim) = Lease::take(host, now)? else {
        progress.busy = true;
        return Ok(progress);
    };
    let result = read(graph, host, plan, now, ranges, newest, &mut progress).await;
    claim.release(host);
    result.map(|()| progress)
}

async fn read(
    graph: &GraphClient<'_>,
    host: &Host<'_>,
    plan: &Plan,
    now: i64,
    ranges: Vec<Range>,
    newest: Option<Newest>,
    progress: &mut Progress,
) -> Result<(), GraphError> {
    // The reader keeps the store to the log's retention (a write; answers
    // that read nothing take no lock).
    store::prune(host.db, now - RETENTION_SECS)?;
    if read_ranges(graph, host, &ranges, newest, progress).await? == Matched::No {
        // A real tenant's log never changes behind the store; a test
        // tenant that was reset does. Start again from nothing, once.
        store::forget(host.db)?;
        progress.reread = true;
        progress.stored_before = false;
        let (ranges, _) = plan_ranges(&[], plan, now, None);
        read_ranges(graph, host, &ranges, None, progress).await?;
    }
    Ok(())
}

/// Whether the log Graph lists is still the one the store read.
#[derive(Debug, PartialEq, Eq)]
enum Matched {
    Yes,
    No,
}

async fn read_ranges(
    graph: &GraphClient<'_>,
    host: &Host<'_>,
    ranges: &[Range],
    newest: Option<Newest>,
    progress: &mut Progress,
) -> Result<Matched, GraphError> {
    for (i, r) in ranges.iter().enumerate() {
        if graph.budget_spent() {
            progress.cut_short = true;
            return Ok(Matched::Yes);
        }
        // The newest read's sign-ins, to compare with what is stored.
        let check = newest.filter(|_| i == 0);
        let mut listed: BTreeSet<i64> = BTreeSet::new();
        let path = signins::first_page_path(
            Instant::from_unix(r.since),
            Instant::from_unix(r.until),
            STORED_CODES,
            None,
        );
        let now = crate::types::unix_secs(host.clock.now());
        let mut page = match signins::first_page(graph, now, &path).await {
            Ok(body) => body,
            Err(e) => return stop(e, progress).map(|()| Matched::Yes),
        };
        loop {
            let items = page
                .get("value")
                .and_then(serde_json::Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            let events: Vec<Event> = items.iter().filter_map(Event::from_item).collect();
            let next = crate::graph::client::next_link(&page);
            let covered = match (&next, events.iter().map(|e| e.ticks).min()) {
                (None, _) => Some(*r),
                // Every event after the oldest of this page has been read.
                (Some(_), Some(oldest)) => {
                    let since = oldest.div_euclid(TICKS_PER_SEC) + 1;
                    (since <= r.until).then(|| Range::new(since.max(r.since), r.until))
                }
                (Some(_), None) => None,
            };
            let stored = store::ingest(host.db, &events, covered)?;
            progress.pages += 1;
            progress.read += items.len() as u64;
            progress.new += stored.new;
            if stored.rewritten {
                return Ok(Matched::No);
            }
            if check.is_some() {
                listed.extend(events.iter().map(|e| e.digest));
            }
            let Some(link) = next else { break };
            if graph.budget_spent() {
                progress.cut_short = true;
                return Ok(Matched::Yes);
            }
            page = match graph.follow(&link).await.and_then(|p| p.into_result()) {
                Ok(p) => p.body,
                Err(e) => return stop(e, progress).map(|()| Matched::Yes),
            };
        }
        // Read whole: every sign-in stored between its start and the
        // watermark must still be listed.
        if let Some(n) = check {
            let stored = store::stored_between(host.db, n.range.since, n.watermark)?;
            if stored.iter().any(|d| !listed.contains(d)) {
                return Ok(Matched::No);
            }
        }
    }
    Ok(Matched::Yes)
}

/// Once the store holds something, running out of time (throttled, a slow
/// page, the budget) or an unreachable Graph ends the reading with what it
/// has; before, and for every other refusal, it is the caller's error.
fn stop(e: GraphError, progress: &mut Progress) -> Result<(), GraphError> {
    let transient = matches!(e, GraphError::Throttled { .. } | GraphError::Unreachable(_));
    if transient && (progress.pages > 0 || progress.stored_before) {
        progress.cut_short = true;
        Ok(())
    } else {
        Err(e)
    }
}

/// The reader's lease in the key-value store: `<expiry>:<nonce>`, taken
/// and given back by compare-and-swap only.
struct Lease {
    value: String,
}

impl Lease {
    fn take(host: &Host<'_>, now: i64) -> Result<Option<Lease>, GraphError> {
        let value = format!("{}:{}", now + CLAIM_SECS, nonce(host.entropy));
        let current = host.kv.get(CLAIM_KEY)?;
        let expired = current.as_deref().is_none_or(|v| {
            std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.split(':').next()?.parse::<i64>().ok())
                .is_none_or(|expiry| expiry <= now)
        });
        if !expired {
            return Ok(None);
        }
        let won = host
            .kv
            .compare_and_swap(CLAIM_KEY, current.as_deref(), value.as_bytes())?;
        Ok(won.then_some(Lease { value }))
    }

    fn release(self, host: &Host<'_>) {
        let _ = host
            .kv
            .compare_and_swap(CLAIM_KEY, Some(self.value.as_bytes()), b"0:released");
    }
}

/// The budget a refresh gets: a scheduler waits where a helpdesk would
/// not, but under the 60 s an ingress (NGINX's `proxy-read-timeout`)
/// allows by default. At Graph's reports throttle that is ~25 pages.
pub const REFRESH_BUDGET: Duration = Duration::from_secs(50);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::RequestId;
    use crate::config::Config;
    use crate::ports::{Clock, Database, KeyValue, TransportError};
    use crate::testing::World;
    use futures::executor::block_on;
    use serde_json::json;

    use crate::testing::TOKEN_RESPONSE as TOKEN;

    fn setup() -> (World, Config, RequestId) {
        crate::testing::graph_world()
    }

    fn page(now: i64, ids: std::ops::Range<i64>, next: bool) -> String {
        let items: Vec<_> = ids
            .map(|i| {
                json!({ "id": format!("s{i}"), "userId": "u1", "userPrincipalName": "u1@c.com",
                        "createdDateTime": Instant::from_unix(now - i * 60).to_rfc3339(),
                        "status": { "errorCode": 500121 } })
            })
            .collect();
        let mut body = json!({ "value": items });
        if next {
            body["@odata.nextLink"] =
                json!("https://graph.example/v1.0/auditLogs/signIns?$skiptoken=x");
        }
        body.to_string()
    }

    fn plan(now: i64) -> Plan {
        Plan {
            want: Range::new(now - 3600, now),
            overlap_secs: ASKED_OVERLAP_SECS,
        }
    }

    #[test]
    fn a_cut_short_read_keeps_its_pages_and_the_next_resumes_below_them() {
        let (w, c, id) = setup();
        let host = w.host();
        let now = crate::types::unix_secs(w.clock.now()) as i64;
        let day = |now| Plan {
            want: Range::new(now - 86_400, now),
            overlap_secs: ASKED_OVERLAP_SECS,
        };
        let g = GraphClient::new(&host, &c, &id, DEFAULT_BUDGET_FOR_TESTS);
        w.transport.push(200, TOKEN);
        // One a minute: 150 minutes back, then the read is cut short.
        w.transport.push(200, &page(now, 0..150, true));
        w.transport.push_err(TransportError::Timeout);
        let p = block_on(fill(&g, &host, &day(now))).unwrap();
        assert_eq!((p.pages, p.read, p.new, p.cut_short), (1, 150, 150, true));
        // Covered from just after the oldest event read.
        assert_eq!(
            store::coverage(&w.db).unwrap(),
            [Range::new(now - 149 * 60 + 1, now)]
        );
        // The next call re-reads the newest (back to the 100th newest
        // stored sign-in, checking them), then only the gap below.
        w.clock.advance(Duration::from_secs(10));
        let now2 = now + 10;
        let g = GraphClient::new(&host, &c, &id, DEFAULT_BUDGET_FOR_TESTS);
        w.transport.clear();
        w.transport.push(200, &page(now, 0..100, false));
        w.transport.push(200, &page(now, 149..300, false));
        let p = block_on(fill(&g, &host, &day(now2))).unwrap();
        assert_eq!(
            (p.pages, p.new, p.cut_short, p.reread),
            (2, 150, false, false)
        );
        let sent = w.transport.sent();
        assert_eq!(sent.len(), 2);
        let query = |i: usize| {
            percent_encoding::percent_decode_str(sent[i].uri().query().unwrap())
                .decode_utf8()
                .unwrap()
                .into_owned()
        };
        let at = |secs: i64| Instant::from_unix(secs).to_rfc3339();
        assert!(
            query(0).contains(&format!("ge {}", at(now - 99 * 60))),
            "{}",
            query(0)
        );
        assert!(
            query(1).contains(&format!("le {}", at(now - 149 * 60 + 1))),
            "{}",
            query(1)
        );
        assert_eq!(
            store::coverage(&w.db).unwrap(),
            [Range::new(now2 - 86_400, now2)]
        );
    }

    /// A log that lost sign-ins the store holds (a test tenant reset) is
    /// read again from nothing, not merged with the old one.
    #[test]
    fn a_log_that_changed_behind_the_store_is_read_again() {
        let (w, c, id) = setup();
        let host = w.host();
        let now = crate::types::unix_secs(w.clock.now()) as i64;
        let g = GraphClient::new(&host, &c, &id, DEFAULT_BUDGET_FOR_TESTS);
        w.transport.push(200, TOKEN);
        w.transport.push(200, &page(now, 0..10, false));
        block_on(fill(&g, &host, &plan(now))).unwrap();
        w.clock.advance(Duration::from_secs(10));
        w.transport.clear();
        // The newest read lists only half of what is stored; then the
        // whole window, as it is now.
        w.transport.push(200, &page(now, 0..5, false));
        w.transport.push(200, &page(now, 0..5, false));
        let p = block_on(fill(&g, &host, &plan(now + 10))).unwrap();
        assert!(p.reread);
        let n =
            w.db.execute("SELECT COUNT(*) FROM failure_events", &[])
                .unwrap();
        assert_eq!(n[0][0], crate::ports::SqlValue::Integer(5));
    }

    #[test]
    fn an_error_before_anything_is_stored_is_the_callers() {
        let (w, c, id) = setup();
        let host = w.host();
        let now = crate::types::unix_secs(w.clock.now()) as i64;
        let g = GraphClient::new(&host, &c, &id, DEFAULT_BUDGET_FOR_TESTS);
        w.transport.push(200, TOKEN);
        w.transport
            .push_err(TransportError::Connection("refused".into()));
        assert!(matches!(
            block_on(fill(&g, &host, &plan(now))),
            Err(GraphError::Unreachable(_))
        ));
        assert_eq!(store::coverage(&w.db).unwrap(), []);
    }

    #[test]
    fn a_held_lease_leaves_the_reading_to_its_holder() {
        let (w, c, id) = setup();
        let host = w.host();
        let now = crate::types::unix_secs(w.clock.now()) as i64;
        let held = format!("{}:other", now + 30);
        w.kv.set(CLAIM_KEY, held.as_bytes()).unwrap();
        let g = GraphClient::new(&host, &c, &id, DEFAULT_BUDGET_FOR_TESTS);
        let p = block_on(fill(&g, &host, &plan(now))).unwrap();
        assert!(p.busy);
        assert!(w.transport.sent().is_empty());
        // An expired lease is taken over, and given back after reading.
        w.kv.set(CLAIM_KEY, format!("{}:other", now - 1).as_bytes())
            .unwrap();
        w.transport.push(200, TOKEN);
        w.transport.push(200, &page(now, 0..3, false));
        let p = block_on(fill(&g, &host, &plan(now))).unwrap();
        assert!(!p.busy);
        assert_eq!(w.kv.get(CLAIM_KEY).unwrap().unwrap(), b"0:released");
    }

    const DEFAULT_BUDGET_FOR_TESTS: Duration = Duration::from_secs(20);
}
