//! `UserRef`: a userPrincipalName or an object id (API.md "Common rules"),
//! and how it is spelled inside a Graph URL.

use std::fmt;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Characters left as they are in a path segment; everything else (notably
/// the `#` of guest UPNs, FACTS §2) is percent-encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@');

/// How a caller named the user.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum UserRef {
    /// Object id, lower-cased.
    Id(String),
    /// userPrincipalName as given (Graph matches it case-insensitively).
    Upn(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserRefError {
    #[error("is empty")]
    Empty,
    #[error("is longer than 256 characters")]
    TooLong,
    #[error("is neither a userPrincipalName (name@domain) nor an object id (GUID)")]
    Neither,
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hex: an Entra object id.
pub fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Characters Entra ID allows in a UPN's local part, plus `#` for guests'
/// `#EXT#` and `$` (FACTS §2).
fn upn_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "'.-_!#^~$".contains(c)
}

#[cfg(feature = "openapi")]
impl schemars::JsonSchema for UserRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "UserRef".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string", "minLength": 1, "maxLength": 256,
            "description": "A userPrincipalName (guests' #EXT# UPNs too) or an object id (GUID).",
            "examples": ["alice@contoso.com"]
        })
    }
}

impl UserRef {
    pub fn parse(raw: &str) -> Result<UserRef, UserRefError> {
        if raw.is_empty() {
            return Err(UserRefError::Empty);
        }
        if raw.chars().count() > 256 {
            return Err(UserRefError::TooLong);
        }
        if is_guid(raw) {
            return Ok(UserRef::Id(raw.to_ascii_lowercase()));
        }
        let (local, domain) = raw.rsplit_once('@').ok_or(UserRefError::Neither)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with(['.', '-'])
            && !domain.ends_with(['.', '-'])
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        let local_ok = !local.is_empty()
            && local.chars().all(upn_char)
            && !local.starts_with('.')
            && !local.ends_with('.');
        if domain_ok && local_ok {
            Ok(UserRef::Upn(raw.to_string()))
        } else {
            Err(UserRefError::Neither)
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            UserRef::Id(s) | UserRef::Upn(s) => s,
        }
    }

    /// The `/users/…` path segment: percent-encoded, or the `('…')` key form
    /// for a UPN that starts with `$`, which Graph would read as a system
    /// query option (FACTS §2).
    pub fn graph_segment(&self) -> String {
        let s = self.as_str();
        if s.starts_with('$') {
            let quoted = s.replace('\'', "''");
            format!("('{}')", utf8_percent_encode(&quoted, SEGMENT))
        } else {
            format!("/{}", utf8_percent_encode(s, SEGMENT))
        }
    }
}

impl fmt::Display for UserRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for UserRef {
    type Error = UserRefError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        UserRef::parse(&s)
    }
}

impl<'de> serde::Deserialize<'de> for UserRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        UserRef::parse(&s).map_err(|e| serde::de::Error::custom(format_args!("user {e}")))
    }
}

/// Encodes one path segment for Graph (method ids, group ids).
pub fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ids_and_upns_including_guests() {
        assert_eq!(
            UserRef::parse("2F9C4B7E-83D1-4A6F-B2C5-9E1D7A3F6B80").unwrap(),
            UserRef::Id("2f9c4b7e-83d1-4a6f-b2c5-9e1d7a3f6b80".into())
        );
        let guest = UserRef::parse("jo_fabrikam.com#EXT#@contoso.onmicrosoft.com").unwrap();
        assert_eq!(
            guest.graph_segment(),
            "/jo_fabrikam.com%23EXT%23@contoso.onmicrosoft.com"
        );
        assert_eq!(
            UserRef::parse("o'neil@contoso.com")
                .unwrap()
                .graph_segment(),
            "/o%27neil@contoso.com"
        );
        assert_eq!(
            UserRef::parse("$admin@contoso.com")
                .unwrap()
                .graph_segment(),
            "('%24admin@contoso.com')"
        );
    }

    #[test]
    fn refuses_what_is_neither() {
        for bad in [
            "",
            "alice",
            "alice@",
            "@contoso.com",
            "alice@contoso",
            "al ice@contoso.com",
            "alice@contoso.com/../x",
            "alice@conto?so.com",
            "a/b@contoso.com",
            "alice%40@contoso.com",
            "2f9c4b7e-83d1-4a6f-b2c5-9e1d7a3f6b8",
            ".alice@contoso.com",
            "alice@-contoso.com",
        ] {
            assert!(UserRef::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(UserRef::parse(&"a".repeat(300)), Err(UserRefError::TooLong));
    }

    #[test]
    fn segments_never_contain_path_or_query_delimiters() {
        // Property: whatever parses, its segment has no raw `/?#%` beyond the
        // leading slash and the escapes themselves.
        let alphabet: Vec<char> = "ab.-_'!#^~$@0Z%/?& ".chars().collect();
        let mut seed: u64 = 0x9e3779b97f4a7c15;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 24) as usize;
            let s: String = (0..len)
                .map(|i| alphabet[((seed >> (i % 60)) as usize + i * 7) % alphabet.len()])
                .collect();
            let candidate = format!("{s}@contoso.com");
            if let Ok(u) = UserRef::parse(&candidate) {
                let seg = u.graph_segment();
                let body = seg.trim_start_matches('/');
                assert!(!body.contains(['/', '?', '#', ' ']), "{candidate} -> {seg}");
            }
        }
    }
}
