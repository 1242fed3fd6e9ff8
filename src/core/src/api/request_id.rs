//! `X-Request-Id` (API.md "Responses and errors"): the caller's if it is safe
//! to echo, else a fresh one. The same id goes to Graph as
//! `client-request-id` and into the audit record.

use std::fmt;

use crate::ports::Entropy;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    pub const HEADER: &'static str = "x-request-id";

    /// 1..128 characters from a set that cannot break a header, a log line or
    /// a JSON string.
    pub fn parse(raw: &str) -> Option<RequestId> {
        let ok = (1..=128).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
        ok.then(|| RequestId(raw.to_string()))
    }

    /// A random UUIDv4-shaped id, so Graph accepts it as `client-request-id`.
    pub fn generate(entropy: &dyn Entropy) -> RequestId {
        let mut b = [0u8; 16];
        entropy.fill(&mut b);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = hex::encode(b);
        RequestId(format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        ))
    }

    /// Echo the caller's header when it is safe, else generate.
    pub fn from_header_or_generate(header: Option<&[u8]>, entropy: &dyn Entropy) -> RequestId {
        header
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(RequestId::parse)
            .unwrap_or_else(|| RequestId::generate(entropy))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl Entropy for Fixed {
        fn fill(&self, buf: &mut [u8]) {
            buf.fill(0xab);
        }
    }

    #[test]
    fn safe_ids_are_echoed_and_others_replaced() {
        let echoed = RequestId::from_header_or_generate(Some(b"INC0012345-retry.2"), &Fixed);
        assert_eq!(echoed.as_str(), "INC0012345-retry.2");
        for bad in [
            &b""[..],
            b"a b",
            b"x\r\ny",
            b"\"quoted\"",
            &[b'a'; 129],
            b"\xff",
        ] {
            let id = RequestId::from_header_or_generate(Some(bad), &Fixed);
            assert_eq!(id.as_str(), "abababab-abab-4bab-abab-abababababab");
        }
        assert_eq!(
            RequestId::from_header_or_generate(None, &Fixed)
                .as_str()
                .len(),
            36
        );
    }
}
