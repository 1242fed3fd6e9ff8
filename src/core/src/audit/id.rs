//! Audit ids: `aud_` + 128 random bits as 26 characters of lower-case
//! RFC 4648 base32 (`a-z`, `2-7`, no padding). Random rather than derived
//! from `seq`, so an id reveals neither volume nor order.

use crate::ports::Entropy;

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
const PREFIX: &str = "aud_";
const LEN: usize = 26;

pub(super) fn new_audit_id(entropy: &dyn Entropy) -> String {
    let mut raw = [0u8; 16];
    entropy.fill(&mut raw);
    format!("{PREFIX}{}", base32(&raw))
}

/// Whether `s` has the shape of an audit id, so `GET /v1/audit/{auditId}`
/// can answer 404 for junk without a query.
pub fn looks_like_audit_id(s: &str) -> bool {
    s.strip_prefix(PREFIX)
        .is_some_and(|rest| rest.len() == LEN && rest.bytes().all(|b| ALPHABET.contains(&b)))
}

fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::CountingEntropy;

    #[test]
    fn ids_are_prefixed_base32_of_128_bits() {
        // RFC 4648 test vectors, lower-cased and unpadded.
        assert_eq!(base32(b"foobar"), "mzxw6ytboi");
        assert_eq!(base32(b"f"), "my");
        assert_eq!(base32(&[0xff; 16]), format!("{}4", "7".repeat(25)));
        let e = CountingEntropy::default();
        let (a, b) = (new_audit_id(&e), new_audit_id(&e));
        assert_ne!(a, b);
        assert!(looks_like_audit_id(&a), "{a}");
        assert_eq!(a.len(), 30);
        for bad in [
            "",
            "aud_",
            "aud_ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "xyz_abcdefghijklmnopqrstuvwxyz",
        ] {
            assert!(!looks_like_audit_id(bad), "{bad}");
        }
    }
}
