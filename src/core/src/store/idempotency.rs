//! `Idempotency-Key` (API.md "Mutations"): a webhook delivered twice must
//! not issue two passes. Records live in the key-value store under the
//! caller and key, hold a digest of the body and either an in-flight claim
//! or the stored outcome, and expire after 24 h.
//!
//! The claim is one atomic compare-and-swap from "absent" to "in flight":
//! of fifty concurrent deliveries exactly one wins and reaches Graph; the
//! others see the claim (409) or, once it is done, the outcome (replay).
//! Only deterministic outcomes (below 500) are stored; a 5xx releases the
//! claim so that a retry does the work again (a `partial_reset` retry
//! finishes the job, a throttled create is attempted again).
//!
//! Records are sealed ([`Sealed`]): whoever can write the key-value store
//! cannot plant an outcome a retry would be answered with, nor read one
//! (a record that does not open is treated as absent and claimed over).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::sealed::Sealed;
use crate::api::{ErrorCode, Problem};
use crate::ports::HostError;
use crate::types::IdempotencyKey;

pub const HEADER: &str = "idempotency-key";
/// How long a stored outcome answers retries.
pub const RECORD_TTL_SECS: u64 = 24 * 60 * 60;
/// How long a `webhook-id` stays bound to its first delivery and its
/// outcome answers redeliveries (API.md "Callers": 72 h). Far longer than
/// the timestamp tolerance: senders retry for hours (Standard Webhooks'
/// schedule runs about a day and a half), each retry re-signed with a fresh
/// timestamp, and a retry must still find the outcome rather than run the
/// change again.
pub const DELIVERY_TTL_SECS: u64 = 72 * 60 * 60;
/// An in-flight claim older than this belongs to an instance that died: the
/// request budget is 20 s, so two minutes is well past any live request.
pub const STALE_CLAIM_SECS: u64 = 120;

/// The outcome replayed to a retry. Never holds a pass: the operation
/// redacts its body before handing it over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredOutcome {
    pub status: u16,
    pub body: serde_json::Value,
    /// What the replay's audit record names, kept beside the body rather
    /// than read back out of it: the refusal's code, the user, the
    /// original record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
enum Record {
    #[serde(rename_all = "camelCase")]
    InFlight {
        body_sha256: String,
        claimed_at: u64,
    },
    #[serde(rename_all = "camelCase")]
    Done {
        body_sha256: String,
        outcome: StoredOutcome,
        expires_at: u64,
    },
}

/// Proof of a won claim; pass it back to [`complete`] or [`release`].
#[derive(Debug)]
pub struct ClaimToken {
    key: String,
    claimed: Vec<u8>,
    /// How long the stored outcome answers retries.
    ttl: u64,
}

#[derive(Debug)]
pub enum Claim {
    /// This request does the work.
    Fresh(ClaimToken),
    /// A previous request with this key and body finished: answer this.
    Replay(StoredOutcome),
}

/// Digest of the body's meaning: parsed and re-serialised with sorted keys,
/// so a retry that only changes whitespace or key order still matches.
pub fn body_digest(body: &[u8]) -> String {
    let canonical = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::to_vec(&v).ok())
        .unwrap_or_else(|| body.to_vec());
    hex::encode(Sha256::digest(&canonical))
}

fn store_key(caller: &str, key: &IdempotencyKey) -> String {
    let id = Sha256::digest(format!("{caller}\n{}", key.as_str()).as_bytes());
    format!("idem/{}", hex::encode(id))
}

/// Its own namespace: a caller's `Idempotency-Key` never meets a
/// `webhook-id` of the same text.
fn delivery_key(caller: &str, webhook_id: &str) -> String {
    let id = Sha256::digest(format!("{caller}\n{webhook_id}").as_bytes());
    format!("idem/delivery/{}", hex::encode(id))
}

fn store_error(e: HostError) -> Problem {
    Problem::new(
        ErrorCode::StorageUnavailable,
        format!("idempotency store: {e}"),
    )
}

/// Claims `key` for this caller and body, or says what to answer instead.
pub fn claim(
    store: &Sealed<'_>,
    now: u64,
    caller: &str,
    key: &IdempotencyKey,
    body: &[u8],
) -> Result<Claim, Problem> {
    claim_at(store, now, store_key(caller, key), body, RECORD_TTL_SECS)
}

/// Claims a webhook delivery: its `webhook-id` is its idempotency key
/// (API.md "Callers"), kept as long as the delivery's binding.
pub fn claim_delivery(
    store: &Sealed<'_>,
    now: u64,
    caller: &str,
    webhook_id: &str,
    body: &[u8],
) -> Result<Claim, Problem> {
    let key = delivery_key(caller, webhook_id);
    claim_at(store, now, key, body, DELIVERY_TTL_SECS)
}

fn claim_at(
    store: &Sealed<'_>,
    now: u64,
    skey: String,
    body: &[u8],
    ttl: u64,
) -> Result<Claim, Problem> {
    let kv = store.kv();
    let digest = body_digest(body);
    // Sealing makes the bytes unique to this claim (its random nonce), so
    // a store that cannot report a compare-and-swap outcome reliably can
    // be read back (`KeyValue`).
    let fresh = store.seal_json(
        &skey,
        now,
        &Record::InFlight {
            body_sha256: digest.clone(),
            claimed_at: now,
        },
    );

    // Two rounds are enough: absent -> claim, or expired/stale -> take over.
    for _ in 0..2 {
        if kv
            .compare_and_swap(&skey, None, &fresh)
            .map_err(store_error)?
        {
            return Ok(Claim::Fresh(ClaimToken {
                key: skey,
                claimed: fresh,
                ttl,
            }));
        }
        let Some(current) = kv.get(&skey).map_err(store_error)? else {
            continue; // released in between: try to claim again
        };
        let record: Option<Record> = store.open_json(&skey, &current);
        let take_over = match &record {
            None => true, // unreadable or not ours: treat as absent
            Some(Record::Done { expires_at, .. }) => *expires_at <= now,
            Some(Record::InFlight { claimed_at, .. }) => now >= claimed_at + STALE_CLAIM_SECS,
        };
        if take_over {
            if kv
                .compare_and_swap(&skey, Some(&current), &fresh)
                .map_err(store_error)?
            {
                return Ok(Claim::Fresh(ClaimToken {
                    key: skey,
                    claimed: fresh,
                    ttl,
                }));
            }
            continue;
        }
        return match record.expect("checked above") {
            Record::InFlight { body_sha256, .. } | Record::Done { body_sha256, .. }
                if body_sha256 != digest =>
            {
                Err(Problem::new(
                    ErrorCode::IdempotencyKeyReused,
                    "this Idempotency-Key was already used with a different body; use a new key for a new request",
                ))
            }
            Record::InFlight { .. } => Err(Problem::new(
                ErrorCode::RequestInProgress,
                "a request with this Idempotency-Key is still being processed; retry shortly",
            )
            .header(http::header::RETRY_AFTER, "2")),
            Record::Done { outcome, .. } => Ok(Claim::Replay(outcome)),
        };
    }
    Err(Problem::new(
        ErrorCode::RequestInProgress,
        "this Idempotency-Key is contended; retry shortly",
    )
    .header(http::header::RETRY_AFTER, "2"))
}

/// Stores the outcome for retries (status below 500), or releases the claim.
pub fn complete(
    store: &Sealed<'_>,
    token: ClaimToken,
    now: u64,
    outcome: StoredOutcome,
) -> Result<(), HostError> {
    if outcome.status >= 500 {
        return release(store, token);
    }
    let Some(Record::InFlight { body_sha256, .. }) = store.open_json(&token.key, &token.claimed)
    else {
        return Ok(());
    };
    let done = store.seal_json(
        &token.key,
        now,
        &Record::Done {
            body_sha256,
            outcome,
            expires_at: now + token.ttl,
        },
    );
    // If another instance took a stale claim over, its outcome wins.
    store
        .kv()
        .compare_and_swap(&token.key, Some(&token.claimed), &done)?;
    Ok(())
}

/// Gives the key back so a retry does the work again.
pub fn release(store: &Sealed<'_>, token: ClaimToken) -> Result<(), HostError> {
    let kv = store.kv();
    if kv.get(&token.key)?.as_deref() == Some(token.claimed.as_slice()) {
        kv.delete(&token.key)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{Entropy, KeyValue};
    use crate::store::sealed::StateKey;
    use crate::testing::{CountingEntropy, MemoryKv};
    use serde_json::json;

    fn store<'a>(kv: &'a dyn KeyValue, entropy: &'a dyn Entropy) -> Sealed<'a> {
        Sealed::with_key(kv, entropy, StateKey::from_material(&[7; 32], "state_key"))
    }

    // The records' functions over a fixed sealing key.
    fn claim(
        kv: &dyn KeyValue,
        entropy: &dyn Entropy,
        now: u64,
        caller: &str,
        key: &IdempotencyKey,
        body: &[u8],
    ) -> Result<Claim, Problem> {
        super::claim(&store(kv, entropy), now, caller, key, body)
    }

    fn complete(
        kv: &dyn KeyValue,
        token: ClaimToken,
        now: u64,
        o: StoredOutcome,
    ) -> Result<(), HostError> {
        super::complete(&store(kv, &CountingEntropy::default()), token, now, o)
    }

    /// What the store holds is sealed: no body digest, no outcome, no user
    /// in the clear, and a record planted in the clear is not believed.
    #[test]
    fn records_are_sealed_and_a_planted_one_is_claimed_over() {
        let kv = MemoryKv::default();
        let e = CountingEntropy::default();
        let Claim::Fresh(token) = claim(&kv, &e, 100, "sn", &key("k1"), b"{}").unwrap() else {
            panic!()
        };
        complete(&kv, token, 101, outcome(201)).unwrap();
        for (name, value) in kv.0.borrow().iter() {
            assert!(value.starts_with(b"seal1."), "{name}");
            assert!(
                !String::from_utf8_lossy(value).contains("methodId"),
                "{name}"
            );
        }
        // Someone with write access plants a plaintext outcome for k2.
        let planted = serde_json::to_vec(&Record::Done {
            body_sha256: body_digest(b"{}"),
            outcome: StoredOutcome {
                status: 201,
                body: json!({ "forged": true }),
                code: None,
                user: None,
                audit_id: None,
            },
            expires_at: u64::MAX,
        })
        .unwrap();
        kv.set(&store_key("sn", &key("k2")), &planted).unwrap();
        assert!(matches!(
            claim(&kv, &e, 102, "sn", &key("k2"), b"{}").unwrap(),
            Claim::Fresh(_)
        ));
    }

    fn key(s: &str) -> IdempotencyKey {
        IdempotencyKey::parse(s).unwrap()
    }

    fn outcome(status: u16) -> StoredOutcome {
        StoredOutcome {
            status,
            body: json!({ "methodId": "m1", "passRedacted": true }),
            code: None,
            user: None,
            audit_id: None,
        }
    }

    #[test]
    fn first_claims_then_in_flight_then_replay() {
        let kv = MemoryKv::default();
        let body = br#"{"user":"a@b.co","ticket":"T1"}"#;
        let Claim::Fresh(token) = claim(
            &kv,
            &CountingEntropy::default(),
            100,
            "sn",
            &key("k1"),
            body,
        )
        .unwrap() else {
            panic!("first request must win the claim")
        };
        let p = claim(
            &kv,
            &CountingEntropy::default(),
            101,
            "sn",
            &key("k1"),
            body,
        )
        .unwrap_err();
        assert_eq!(p.code, ErrorCode::RequestInProgress);
        complete(&kv, token, 102, outcome(201)).unwrap();
        // Same meaning, different whitespace and order: a replay.
        let again = br#"{ "ticket":"T1", "user":"a@b.co" }"#;
        match claim(
            &kv,
            &CountingEntropy::default(),
            103,
            "sn",
            &key("k1"),
            again,
        )
        .unwrap()
        {
            Claim::Replay(o) => assert_eq!(o, outcome(201)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn different_body_same_key_is_refused_while_in_flight_and_after() {
        let kv = MemoryKv::default();
        let Claim::Fresh(t) = claim(
            &kv,
            &CountingEntropy::default(),
            0,
            "sn",
            &key("k"),
            b"{\"a\":1}",
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(
            claim(
                &kv,
                &CountingEntropy::default(),
                1,
                "sn",
                &key("k"),
                b"{\"a\":2}"
            )
            .unwrap_err()
            .code,
            ErrorCode::IdempotencyKeyReused
        );
        complete(&kv, t, 2, outcome(409)).unwrap();
        assert_eq!(
            claim(
                &kv,
                &CountingEntropy::default(),
                3,
                "sn",
                &key("k"),
                b"{\"a\":2}"
            )
            .unwrap_err()
            .code,
            ErrorCode::IdempotencyKeyReused
        );
    }

    #[test]
    fn keys_are_per_caller_and_expire() {
        let kv = MemoryKv::default();
        let Claim::Fresh(t) =
            claim(&kv, &CountingEntropy::default(), 0, "sn", &key("k"), b"{}").unwrap()
        else {
            panic!()
        };
        complete(&kv, t, 0, outcome(201)).unwrap();
        assert!(matches!(
            claim(
                &kv,
                &CountingEntropy::default(),
                1,
                "jira",
                &key("k"),
                b"{}"
            )
            .unwrap(),
            Claim::Fresh(_)
        ));
        assert!(matches!(
            claim(
                &kv,
                &CountingEntropy::default(),
                RECORD_TTL_SECS - 1,
                "sn",
                &key("k"),
                b"{}"
            )
            .unwrap(),
            Claim::Replay(_)
        ));
        assert!(matches!(
            claim(
                &kv,
                &CountingEntropy::default(),
                RECORD_TTL_SECS,
                "sn",
                &key("k"),
                b"{\"new\":1}"
            )
            .unwrap(),
            Claim::Fresh(_)
        ));
    }

    #[test]
    fn server_errors_release_and_stale_claims_are_taken_over() {
        let kv = MemoryKv::default();
        let Claim::Fresh(t) =
            claim(&kv, &CountingEntropy::default(), 0, "sn", &key("k"), b"{}").unwrap()
        else {
            panic!()
        };
        complete(&kv, t, 1, outcome(503)).unwrap();
        assert!(kv.0.borrow().is_empty(), "a 503 is not stored");
        let Claim::Fresh(_dead) =
            claim(&kv, &CountingEntropy::default(), 10, "sn", &key("k"), b"{}").unwrap()
        else {
            panic!()
        };
        assert!(claim(
            &kv,
            &CountingEntropy::default(),
            10 + STALE_CLAIM_SECS - 1,
            "sn",
            &key("k"),
            b"{}"
        )
        .is_err());
        assert!(matches!(
            claim(
                &kv,
                &CountingEntropy::default(),
                10 + STALE_CLAIM_SECS,
                "sn",
                &key("k"),
                b"{}"
            )
            .unwrap(),
            Claim::Fresh(_)
        ));
    }
}
