//! The request log behind `GET /_sim/requests`: what Graph and login saw, secrets redacted.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub seq: u64,
    /// The last `seq` handed out when the answer left: a request whose `seq` is
    /// greater was sent after this one was answered (sequential round trips).
    pub answered_seq: u64,
    pub time: String,
    pub method: String,
    /// Decoded path as Graph saw it, e.g. `/v1.0/users/jo_fabrikam.com#EXT#@contoso.onmicrosoft.com`.
    pub path: String,
    /// As sent, percent-encoded.
    pub raw_path: String,
    pub query: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub body: Value,
    pub status: u16,
    pub graph_error_code: Option<String>,
    pub batch_parent: Option<u64>,
    pub kind: &'static str,
    pub request_id: String,
}

/// `Bearer sha256:<first 12 hex>`: lets tests correlate tokens without logging them.
pub fn token_fingerprint(token: &str) -> String {
    let h = hex::encode(Sha256::digest(token.as_bytes()));
    format!("sha256:{}", &h[..12])
}

/// Lower-cased header names; credentials replaced.
pub fn redact_headers(headers: &[(String, String)]) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in headers {
        let k = k.to_ascii_lowercase();
        let v = if k == "authorization" {
            let mut parts = v.splitn(2, ' ');
            let scheme = parts.next().unwrap_or_default();
            let cred = parts.next().unwrap_or_default().trim();
            if scheme.eq_ignore_ascii_case("bearer") {
                format!("Bearer {}", token_fingerprint(cred))
            } else {
                format!("{scheme} <redacted>")
            }
        } else {
            v.clone()
        };
        out.entry(k)
            .and_modify(|e| {
                e.push_str(", ");
                e.push_str(&v)
            })
            .or_insert(v);
    }
    out
}
