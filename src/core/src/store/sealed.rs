//! Sealed key-value records: what the app caches in the key-value store and
//! later acts on (the Graph app token, the role holders, the licence facts)
//! is encrypted and authenticated, so someone who can read or write the
//! store (a Redis without a password) learns no token and cannot switch the
//! protected-user guard off.
//!
//! - Key: HKDF-SHA256 of `state_key`, or of `client_secret` when it is not
//!   set, with a salt and info naming this purpose and its version.
//! - Cipher: XChaCha20-Poly1305, a fresh 24-byte nonce from the
//!   [`Entropy`] port for every write.
//! - Associated data: the version prefix and the record's key name, so a
//!   record copied under another name does not open.
//! - Stored form: `PREFIX || nonce || ciphertext+tag`; the plaintext is the
//!   time the record was written (unix seconds, 8 bytes big-endian) and the
//!   record's JSON.
//!
//! A record that does not open (another key, edited, copied, truncated, a
//! plaintext record of an earlier version) or that is not fresh is a cache
//! miss, never an error: a rotated `state_key` just means everything is
//! fetched again. What sealing cannot stop: deleting records (a miss),
//! and replaying a record this app sealed under the same name, which
//! [`Sealed::get`]'s `max_age` bounds.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::Sha256;

use crate::config::Config;
use crate::ports::{Entropy, Host, HostError, KeyValue};
use crate::types::Secret;

/// The stored form's version; changing the format changes it.
const PREFIX: &[u8] = b"seal1.";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const AT_LEN: usize = 8;
const SALT: &[u8] = b"mfa-recovery key-value records salt v1";
/// A record written this far ahead of our clock (another instance's clock
/// running fast) still counts; further ahead it is a miss.
pub const SKEW_SECS: u64 = 60;

/// The sealing key, derived once per request.
pub struct StateKey(Secret<[u8; 32]>);

impl StateKey {
    /// From `state_key` when set, else from `client_secret`.
    pub fn derive(config: &Config) -> StateKey {
        match &config.state_key {
            Some(k) => StateKey::from_material(k.expose(), "state_key"),
            None => {
                StateKey::from_material(config.client_secret.expose().as_bytes(), "client_secret")
            }
        }
    }

    /// HKDF-SHA256 of `material`; `source` names the variable it came from.
    pub fn from_material(material: &[u8], source: &str) -> StateKey {
        let hk = hkdf::Hkdf::<Sha256>::new(Some(SALT), material);
        let mut key = [0u8; 32];
        let info =
            format!("mfa-recovery key-value records v1: XChaCha20-Poly1305 key from {source}");
        hk.expand(info.as_bytes(), &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        StateKey(Secret::new(key))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.0.expose().into())
    }
}

fn aad(name: &str) -> Vec<u8> {
    let mut ad = PREFIX.to_vec();
    ad.extend_from_slice(name.as_bytes());
    ad
}

/// Seals `record` (written at `at`) for the key `name`.
pub fn seal(key: &StateKey, entropy: &dyn Entropy, name: &str, at: u64, record: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    entropy.fill(&mut nonce);
    let mut msg = Vec::with_capacity(AT_LEN + record.len());
    msg.extend_from_slice(&at.to_be_bytes());
    msg.extend_from_slice(record);
    let ad = aad(name);
    let ct = key
        .cipher()
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &msg,
                aad: &ad,
            },
        )
        .expect("XChaCha20-Poly1305 seals any length we store");
    let mut out = Vec::with_capacity(PREFIX.len() + NONCE_LEN + ct.len());
    out.extend_from_slice(PREFIX);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// The time written and the record, if `stored` was sealed with `key` for
/// `name` and not changed since; `None` otherwise.
pub fn open(key: &StateKey, name: &str, stored: &[u8]) -> Option<(u64, Vec<u8>)> {
    let rest = stored.strip_prefix(PREFIX)?;
    if rest.len() < NONCE_LEN + TAG_LEN + AT_LEN {
        return None;
    }
    let (nonce, ct) = rest.split_at(NONCE_LEN);
    let ad = aad(name);
    let mut msg = key
        .cipher()
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: &ad })
        .ok()?;
    let at = u64::from_be_bytes(msg[..AT_LEN].try_into().ok()?);
    msg.drain(..AT_LEN);
    Some((at, msg))
}

/// The key-value store as the app's cached records see it: every read
/// opens, every write seals.
pub struct Sealed<'a> {
    kv: &'a dyn KeyValue,
    entropy: &'a dyn Entropy,
    key: StateKey,
}

impl<'a> Sealed<'a> {
    pub fn new(host: &Host<'a>, config: &Config) -> Sealed<'a> {
        Sealed::with_key(host.kv, host.entropy, StateKey::derive(config))
    }

    pub fn with_key(kv: &'a dyn KeyValue, entropy: &'a dyn Entropy, key: StateKey) -> Sealed<'a> {
        Sealed { kv, entropy, key }
    }

    /// The record under `name` if it opens, parses, was written no later
    /// than [`SKEW_SECS`] after `now` and (with `max_age`) less than
    /// `max_age` seconds before it. `Err` only when the store failed.
    pub fn get<T: DeserializeOwned>(
        &self,
        name: &str,
        now: u64,
        max_age: Option<u64>,
    ) -> Result<Option<T>, HostError> {
        let Some(stored) = self.kv.get(name)? else {
            return Ok(None);
        };
        let Some((at, record)) = open(&self.key, name, &stored) else {
            return Ok(None);
        };
        let future = at > now.saturating_add(SKEW_SECS);
        let stale = max_age.is_some_and(|age| now >= at.saturating_add(age));
        if future || stale {
            return Ok(None);
        }
        Ok(serde_json::from_slice(&record).ok())
    }

    /// Seals `record`, written at `now`, under `name`.
    pub fn set<T: Serialize>(&self, name: &str, now: u64, record: &T) -> Result<(), HostError> {
        let json = serde_json::to_vec(record).map_err(|e| HostError(e.to_string()))?;
        self.kv
            .set(name, &seal(&self.key, self.entropy, name, now, &json))
    }

    pub fn delete(&self, name: &str) -> Result<(), HostError> {
        self.kv.delete(name)
    }

    /// The store itself, for records claimed by compare-and-swap on their
    /// sealed bytes ([`Sealed::seal_json`], [`Sealed::open_json`]).
    pub fn kv(&self) -> &'a dyn KeyValue {
        self.kv
    }

    /// `record` as JSON, sealed for `name`: bytes unique to this write (the
    /// nonce), so a compare-and-swap on them says who won.
    pub fn seal_json<T: Serialize>(&self, name: &str, now: u64, record: &T) -> Vec<u8> {
        let json = serde_json::to_vec(record).expect("records serialise");
        seal(&self.key, self.entropy, name, now, &json)
    }

    /// The record `stored` holds, if it opens for `name` and parses.
    pub fn open_json<T: DeserializeOwned>(&self, name: &str, stored: &[u8]) -> Option<T> {
        let (_, record) = open(&self.key, name, stored)?;
        serde_json::from_slice(&record).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{CountingEntropy, MemoryKv};
    use proptest::prelude::*;
    use serde_json::{json, Value};

    const NAME: &str = "graph/privileged-principals/v2";

    fn key(material: &str) -> StateKey {
        StateKey::from_material(material.as_bytes(), "state_key")
    }

    fn sealed_record() -> Vec<u8> {
        seal(
            &key("k".repeat(32).as_str()),
            &CountingEntropy::default(),
            NAME,
            1000,
            br#"{"active":{}}"#,
        )
    }

    #[test]
    fn a_record_opens_with_its_key_and_name_only() {
        let k = key(&"k".repeat(32));
        let stored = sealed_record();
        assert!(stored.starts_with(PREFIX));
        assert_eq!(
            stored.len(),
            PREFIX.len() + NONCE_LEN + AT_LEN + br#"{"active":{}}"#.len() + TAG_LEN
        );
        assert_eq!(
            open(&k, NAME, &stored),
            Some((1000, br#"{"active":{}}"#.to_vec()))
        );
        assert!(
            !String::from_utf8_lossy(&stored).contains("active"),
            "not readable"
        );
        // Copied under another name.
        assert_eq!(open(&k, "graph/licences/v1", &stored), None);
        // Another key (state_key rotated, or client_secret when state_key
        // is not set).
        assert_eq!(open(&key(&"j".repeat(32)), NAME, &stored), None);
        assert_eq!(
            open(
                &StateKey::from_material("k".repeat(32).as_bytes(), "client_secret"),
                NAME,
                &stored
            ),
            None
        );
        // Truncated anywhere, the empty value, a plaintext legacy record.
        for n in 0..stored.len() {
            assert_eq!(open(&k, NAME, &stored[..n]), None, "truncated to {n}");
        }
        assert_eq!(open(&k, NAME, br#"{"active":{},"fetchedAt":1}"#), None);
    }

    #[test]
    fn nonces_differ_per_write() {
        let k = key(&"k".repeat(32));
        let e = CountingEntropy::default();
        let a = seal(&k, &e, NAME, 1, b"{}");
        let b = seal(&k, &e, NAME, 1, b"{}");
        assert_ne!(a, b);
        assert_eq!(open(&k, NAME, &a), open(&k, NAME, &b));
    }

    #[test]
    fn the_key_comes_from_state_key_else_client_secret() {
        let mut w = crate::testing::World::configured();
        let config = Config::load(&w.vars).unwrap();
        let from_secret = StateKey::derive(&config);
        w.vars.insert("state_key".into(), "s".repeat(32));
        let config = Config::load(&w.vars).unwrap();
        let from_state = StateKey::derive(&config);
        assert_ne!(from_secret.0.expose(), from_state.0.expose());
        assert_eq!(
            from_state.0.expose(),
            StateKey::from_material("s".repeat(32).as_bytes(), "state_key")
                .0
                .expose()
        );
        assert_eq!(
            from_secret.0.expose(),
            StateKey::from_material(b"s3cr3t &=+%", "client_secret")
                .0
                .expose()
        );
        assert_eq!(format!("{:?}", from_state.0), "Secret(<redacted>)");
    }

    #[test]
    fn get_is_a_miss_for_anything_that_does_not_open_or_is_not_fresh() {
        let kv = MemoryKv::default();
        let e = CountingEntropy::default();
        let s = Sealed::with_key(&kv, &e, key(&"k".repeat(32)));
        let get = |now, max_age| s.get::<Value>(NAME, now, max_age).unwrap();
        assert_eq!(get(1000, None), None, "absent");
        s.set(NAME, 1000, &json!({ "a": 1 })).unwrap();
        assert_eq!(get(1000, Some(120)), Some(json!({ "a": 1 })));
        assert_eq!(get(1119, Some(120)), Some(json!({ "a": 1 })));
        assert_eq!(get(1120, Some(120)), None, "as old as its max age");
        assert_eq!(
            get(1_000_000, None),
            Some(json!({ "a": 1 })),
            "no age limit"
        );
        assert_eq!(get(1000 - SKEW_SECS, Some(120)), Some(json!({ "a": 1 })));
        assert_eq!(
            get(1000 - SKEW_SECS - 1, Some(120)),
            None,
            "from the future"
        );
        assert_eq!(get(0, None), None, "from the future, without an age limit");

        // Another key: a miss, and the next write replaces it.
        let other = Sealed::with_key(&kv, &e, key(&"j".repeat(32)));
        assert_eq!(other.get::<Value>(NAME, 1000, None).unwrap(), None);
        // Plaintext in the old format: a miss.
        kv.set(NAME, br#"{"a":1}"#).unwrap();
        assert_eq!(get(1000, None), None);
        // Sealed but not the type asked for: a miss.
        s.set(NAME, 1000, &json!("text")).unwrap();
        assert_eq!(s.get::<Vec<u8>>(NAME, 1000, None).unwrap(), None);
    }

    #[test]
    fn a_store_failure_is_an_error_not_a_miss() {
        use crate::testing::DownKv as Down;
        let e = CountingEntropy::default();
        let s = Sealed::with_key(&Down, &e, key(&"k".repeat(32)));
        assert!(s.get::<Value>(NAME, 0, None).is_err());
        assert!(s.set(NAME, 0, &json!({})).is_err());
    }

    proptest! {
        /// Changing any one byte of a sealed record (prefix, nonce,
        /// ciphertext or tag) to any other value makes it not open.
        #[test]
        fn no_single_byte_mutation_opens(pos in any::<prop::sample::Index>(), delta in 1u8..=255) {
            let k = key(&"k".repeat(32));
            let mut stored = sealed_record();
            let i = pos.index(stored.len());
            stored[i] = stored[i].wrapping_add(delta);
            prop_assert_eq!(open(&k, NAME, &stored), None);
        }

        #[test]
        fn any_record_roundtrips(record in prop::collection::vec(any::<u8>(), 0..512), at in any::<u64>(), name in "[a-z/0-9]{1,40}") {
            let k = key(&"k".repeat(32));
            let stored = seal(&k, &CountingEntropy::default(), &name, at, &record);
            prop_assert_eq!(open(&k, &name, &stored), Some((at, record)));
        }
    }
}
