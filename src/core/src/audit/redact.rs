//! Defence in depth for API.md "a pass, a client secret, an API key, a
//! webhook secret or a token never appears in ... an audit record": an
//! operation should never hand one over, but if it does, the member is
//! replaced before the record is hashed and stored.
//!
//! - In JSON (`details`, `verification`): a member whose key, lower-cased
//!   with `_` and `-` removed, is or ends with `temporaryaccesspass`,
//!   `password`, `secret`, `token` or `apikey` (so `access_token`,
//!   `client_secret`, `clientSecret`, `refreshToken`, `x-api-key`) gets the
//!   value `"<redacted>"`, at any depth.
//! - In free text (`reason`, and string values inside that JSON): a value
//!   written after `password`, `secret`, `token` or `temporaryAccessPass`
//!   (any case, hence also `client_secret=`, `access_token:`) and `:` or `=`
//!   is replaced, up to the next whitespace or its closing quote.

use serde_json::Value;

/// What replaces a secret.
pub const REDACTED: &str = "<redacted>";

const KEY_SUFFIXES: &[&str] = &[
    "temporaryaccesspass",
    "password",
    "secret",
    "token",
    "apikey",
];
const TEXT_TERMS: &[&str] = &["temporaryaccesspass", "password", "secret", "token"];

fn is_secret_key(key: &str) -> bool {
    let norm: String = key
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    KEY_SUFFIXES.iter().any(|s| norm.ends_with(s))
}

/// Redacts secret-named members and secret-looking text, recursively.
pub(super) fn redact_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, member) in map.iter_mut() {
                if is_secret_key(key) {
                    *member = Value::String(REDACTED.into());
                } else {
                    redact_json(member);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        Value::String(s) => {
            if let Some(clean) = redact_text(s) {
                *s = clean;
            }
        }
        _ => {}
    }
}

/// `Some(cleaned)` when `text` holds `term[:=]value` for a secret term.
pub(super) fn redact_text(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut copied, mut i, mut changed) = (0, 0, false);
    while i < bytes.len() {
        let Some(term) = TEXT_TERMS.iter().find(|t| {
            bytes.len() - i >= t.len() && bytes[i..i + t.len()].eq_ignore_ascii_case(t.as_bytes())
        }) else {
            i += 1;
            continue;
        };
        let after_term = i + term.len();
        match secret_value(bytes, after_term) {
            Some((start, end)) => {
                // Every boundary here sits next to an ASCII byte, so it is a
                // char boundary.
                out.push_str(&text[copied..start]);
                out.push_str(REDACTED);
                copied = end;
                i = end;
                changed = true;
            }
            None => i = after_term,
        }
    }
    changed.then(|| {
        out.push_str(&text[copied..]);
        out
    })
}

/// The span of the value after a term: `["']? ws* [:=] ws* (quoted | \S+)`.
fn secret_value(b: &[u8], mut i: usize) -> Option<(usize, usize)> {
    if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
        i += 1;
    }
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    if i >= b.len() || (b[i] != b':' && b[i] != b'=') {
        return None;
    }
    i += 1;
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    let start = i;
    if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
        let quote = b[i];
        i += 1;
        while i < b.len() && b[i] != quote {
            i += 1;
        }
        i = (i + 1).min(b.len());
    } else {
        while i < b.len() && !b[i].is_ascii_whitespace() {
            i += 1;
        }
    }
    (i > start).then_some((start, i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_named_members_are_replaced_at_any_depth() {
        let mut v = json!({
            "methodId": "m1",
            "temporaryAccessPass": "Xy7#kP2q",
            "nested": [{ "ACCESS_TOKEN": "eyJ0", "client_secret": { "x": 1 } }],
            "Password": 5,
            "secret": null,
            "token": "t",
            "refreshToken": "r",
            "x-api-key": "k",
            "tokenLifetime": 60,
            "passRedacted": true,
            "replaced": ["a"]
        });
        redact_json(&mut v);
        assert_eq!(
            v,
            json!({
                "methodId": "m1",
                "temporaryAccessPass": REDACTED,
                "nested": [{ "ACCESS_TOKEN": REDACTED, "client_secret": REDACTED }],
                "Password": REDACTED,
                "secret": REDACTED,
                "token": REDACTED,
                "refreshToken": REDACTED,
                "x-api-key": REDACTED,
                "tokenLifetime": 60,
                "passRedacted": true,
                "replaced": ["a"]
            })
        );
    }

    #[test]
    fn secret_values_in_text_are_replaced() {
        for (raw, clean) in [
            ("user lost phone", None),
            ("tokens expired, re-register", None),
            (
                "password=hunter2 please",
                Some("password=<redacted> please"),
            ),
            (
                "TAP temporaryAccessPass: Xy7#kP2q",
                Some("TAP temporaryAccessPass: <redacted>"),
            ),
            (
                "client_secret = 'a b c' leaked",
                Some("client_secret = <redacted> leaked"),
            ),
            (
                r#"{"access_token": "eyJ0 x"}"#,
                Some(r#"{"access_token": <redacted>}"#),
            ),
            (
                "Token:abc secret=def",
                Some("Token:<redacted> secret=<redacted>"),
            ),
            ("é token: ü", Some("é token: <redacted>")),
            ("password:", None),
        ] {
            assert_eq!(redact_text(raw).as_deref(), clean, "{raw}");
        }
        let mut v = json!({ "note": "password=hunter2" });
        redact_json(&mut v);
        assert_eq!(v, json!({ "note": "password=<redacted>" }));
    }
}
