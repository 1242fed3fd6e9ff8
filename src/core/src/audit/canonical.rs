//! The chain rule: how a record's `hash` is computed, precisely enough that
//! an auditor can re-verify an export without this code.
//!
//! ```text
//! hash = lowercase_hex( SHA-256( prevHash || 0x0a || canonical_json(body) ) )
//! hash = lowercase_hex( HMAC-SHA256( audit_key, prevHash || 0x0a || canonical_json(body) ) )
//! ```
//!
//! The second form when the deployment sets `audit_key` (its UTF-8 bytes
//! are the HMAC key): whoever can write the database but not read the key
//! cannot recompute a chain after editing it. A chain begun before the key
//! was set keeps its plain prefix, and one whose key was rotated keeps the
//! old key from its first record to the rotation; the seq where each
//! key's stretch begins is stored beside the chain under that key's own
//! MAC (`audit_keying`, see `keying`), and an export is checked stretch by
//! stretch, each under its key.
//!
//! - `prevHash` is the predecessor's `hash` as its 64 lower-case hex ASCII
//!   bytes; the first record's is [`GENESIS`] (64 `0`s).
//! - `0x0a` is one newline byte.
//! - `body` is the record exactly as `GET /v1/audit` serves it without its
//!   `prevHash` and `hash` members: `auditId`, `time`, `caller`,
//!   `operation`, `user`, `ticket`, `reason`, `outcome`, `status`,
//!   `details`, `requestId`, and `code` / `verification` only when present
//!   (absent members are absent, not `null`; `user`, `ticket`, `reason` are
//!   `null` when unknown).
//! - `canonical_json` is UTF-8 JSON with object members sorted by key
//!   (byte order of the UTF-8 key, which is Unicode code point order) at
//!   every depth, array order kept, no whitespace outside strings, and
//!   serde_json's leaf encoding: strings escape only `"`, `\` and control
//!   characters below U+0020 (`\b \f \n \r \t`, others `\u00xx` in
//!   lower-case hex), everything else is raw UTF-8; integers in plain
//!   decimal; `true`, `false`, `null`. Non-integer numbers use serde_json's
//!   shortest round-trip form (`0.5`, `1e300`); records this service writes
//!   hold integers only, which Python encodes identically.
//!
//! Python's `json.dumps(v, sort_keys=True, separators=(",", ":"),
//! ensure_ascii=False)` produces the same bytes. Checking an export (pages
//! of `GET /v1/audit` concatenated; they arrive newest first):
//!
//! ```text
//! import hashlib, hmac, json
//! def check(records):                 # as listed: newest first
//!     prev = "0" * 64
//!     for r in reversed(records):         # oldest first
//!         body = {k: v for k, v in r.items() if k not in ("prevHash", "hash")}
//!         canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
//!         msg = prev.encode() + b"\n" + canon.encode("utf-8")
//!         h = hashlib.sha256(msg).hexdigest()   # with audit_key:
//!         # h = hmac.new(audit_key.encode(), msg, hashlib.sha256).hexdigest()
//!         assert r["prevHash"] == prev and r["hash"] == h, r["auditId"]
//!         prev = h
//! ```
//!
//! Order matters: walk oldest to newest (the reverse of the listing), not
//! by `time`, since clocks on different instances may disagree slightly.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// How the chain's hashes are computed: plain SHA-256, or HMAC-SHA256 under
/// the deployment's `audit_key`.
#[derive(Clone, Copy, Debug)]
pub enum Keying<'a> {
    Plain,
    Keyed(&'a [u8]),
}

impl<'a> Keying<'a> {
    pub fn from_key(key: Option<&'a [u8]>) -> Keying<'a> {
        key.map_or(Keying::Plain, Keying::Keyed)
    }

    pub fn is_keyed(self) -> bool {
        matches!(self, Keying::Keyed(_))
    }

    /// `hex(HMAC-SHA256(key, parts joined by "\n"))`, or `None` unkeyed: the
    /// MAC of a head or of the keying marker, never of a record.
    pub fn mac(self, parts: &[&str]) -> Option<String> {
        let Keying::Keyed(key) = self else {
            return None;
        };
        let mut m = hmac(key);
        m.update(parts.join("\n").as_bytes());
        Some(hex::encode(m.finalize().into_bytes()))
    }
}

fn hmac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length")
}

/// The predecessor of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// `value` in the canonical encoding described in the module doc. Written
/// by hand rather than relying on `serde_json::Map` being sorted: a
/// dependency enabling `preserve_order` anywhere in the build would
/// silently change that.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, member)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write(member, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        // serde_json's compact encoding of a leaf.
        leaf => out.push_str(&leaf.to_string()),
    }
}

/// `hex(SHA-256(prev_hash || "\n" || canonical_json(body)))`, or its HMAC
/// form under `audit_key`.
pub fn chain_hash(keying: Keying<'_>, prev_hash: &str, body: &Value) -> String {
    let canon = canonical_json(body);
    match keying {
        Keying::Plain => {
            let mut h = Sha256::new();
            h.update(prev_hash.as_bytes());
            h.update(b"\n");
            h.update(canon.as_bytes());
            hex::encode(h.finalize())
        }
        Keying::Keyed(key) => {
            let mut m = hmac(key);
            m.update(prev_hash.as_bytes());
            m.update(b"\n");
            m.update(canon.as_bytes());
            hex::encode(m.finalize().into_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_at_every_depth_without_whitespace() {
        let v = json!({
            "b": [ { "z": 1, "a": null } , true ],
            "a": "x\"\\\n\u{1}é€ \u{7f}",
            "é": -3,
            "B": { "d": 1.5, "c": [] }
        });
        assert_eq!(
            canonical_json(&v),
            r#"{"B":{"c":[],"d":1.5},"a":"x\"\\\n\u0001é€ "#.to_string()
                + "\u{7f}"
                + r#"","b":[{"a":null,"z":1},true],"é":-3}"#
        );
    }

    #[test]
    fn hash_is_sha256_of_prev_newline_body() {
        let body = json!({ "k": "v" });
        let mut h = Sha256::new();
        h.update(format!("{GENESIS}\n{{\"k\":\"v\"}}").as_bytes());
        assert_eq!(
            chain_hash(Keying::Plain, GENESIS, &body),
            hex::encode(h.finalize())
        );
        assert_eq!(GENESIS.len(), 64);
    }

    #[test]
    fn keyed_hash_is_hmac_of_the_same_message() {
        let body = json!({ "k": "v" });
        let key = b"0123456789abcdef0123456789abcdef";
        let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
        m.update(format!("{GENESIS}\n{{\"k\":\"v\"}}").as_bytes());
        let expected = hex::encode(m.finalize().into_bytes());
        assert_eq!(chain_hash(Keying::Keyed(key), GENESIS, &body), expected);
        assert_ne!(expected, chain_hash(Keying::Plain, GENESIS, &body));
        // RFC 4231 test case 2, so an auditor's HMAC agrees with ours.
        assert_eq!(
            Keying::Keyed(b"Jefe")
                .mac(&["what do ya want for nothing?"])
                .unwrap(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(Keying::Plain.mac(&["x"]), None);
    }
}
