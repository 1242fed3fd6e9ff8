//! `Authorization: Bearer <api key>` (API.md "Callers", RFC 6750 §2.1): the
//! presented key is hashed and compared with every configured digest.
//!
//! Keys are configured as SHA-256 digests, so the plain key exists only in
//! the request. Comparing digests rather than keys means the comparison time
//! does not depend on how much of a key an attacker guessed, and every
//! configured caller is compared (no early exit), so timing does not tell
//! which one matched or how many there are before it.

use http::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use super::{select_match, AuthError, Caller, CredentialKind};
use crate::config::CallerConfig;

const EXPECTED: &str = "`Bearer <api key>`";

fn invalid() -> AuthError {
    AuthError::InvalidHeader {
        header: "authorization",
        expected: EXPECTED,
    }
}

/// The key in an `Authorization` value.
///
/// RFC 6750 §2.1: `"Bearer" 1*SP b64token`. The scheme is case-insensitive
/// (RFC 9110 §11.1); one or more spaces separate it from the key; optional
/// whitespace around the field value is ignored (RFC 9110 §5.5). The key may
/// be any visible ASCII, a superset of `b64token`, so keys generated with
/// another alphabet still work; it may not be empty or contain whitespace.
fn presented_key(value: &HeaderValue) -> Result<&str, AuthError> {
    let value = value.to_str().map_err(|_| invalid())?;
    let value = value.trim_matches([' ', '\t']);
    let (scheme, rest) = value.split_once(' ').ok_or_else(invalid)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(invalid());
    }
    let key = rest.trim_start_matches(' ');
    if key.is_empty() || key.contains([' ', '\t']) {
        return Err(invalid());
    }
    Ok(key)
}

/// The caller whose key digest matches the presented key.
///
/// More than one `Authorization` header is ambiguous and refused. If two
/// callers were configured with the same digest, the later one wins.
/// The one `Authorization: Bearer` credential, if the header is well formed.
pub fn presented_token(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    presented_key(value).ok()
}

pub fn authenticate(callers: &[CallerConfig], headers: &HeaderMap) -> Result<Caller, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next().ok_or(AuthError::NoCredentials)?;
    if values.next().is_some() {
        return Err(invalid());
    }
    let digest: [u8; 32] = Sha256::digest(presented_key(value)?.as_bytes()).into();
    let matches = callers.iter().map(|c| match &c.key_sha256 {
        Some(configured) => configured.expose().ct_eq(&digest),
        None => Choice::from(0),
    });
    select_match(matches)
        .map(|i| Caller::from_config(&callers[i], CredentialKind::BearerKey))
        .ok_or(AuthError::InvalidKey)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Problem;
    use crate::config::Config;
    use crate::testing::World;
    use crate::types::Scope;

    /// Caller `a` holds key `password` (World::configured); `b` holds
    /// `letmein`; `hook` has only a webhook secret.
    fn config() -> Config {
        let mut w = World::configured();
        let digest = |k: &str| hex::encode(Sha256::digest(k.as_bytes()));
        w.vars.insert(
            "callers".into(),
            format!(
                r#"[{{"id":"a","keySha256":"{}","scopes":["tap"]}},
                    {{"id":"hook","webhookSecret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw","scopes":["tap"]}},
                    {{"id":"b","keySha256":"{}","scopes":["reset","privileged"]}}]"#,
                digest("password"),
                digest("letmein"),
            ),
        );
        Config::load(&w.vars).unwrap()
    }

    fn auth(config: &Config, value: &[u8]) -> Result<Caller, AuthError> {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
        authenticate(&config.callers, &h)
    }

    #[test]
    fn a_valid_key_yields_its_callers_scopes() {
        let c = config();
        let a = auth(&c, b"Bearer password").unwrap();
        assert_eq!(a.id, "a");
        assert_eq!(a.scopes, [Scope::Tap].into());
        assert_eq!(a.credential, CredentialKind::BearerKey);

        let b = auth(&c, b"Bearer letmein").unwrap();
        assert_eq!(b.id, "b");
        assert_eq!(b.scopes, [Scope::Reset, Scope::Privileged].into());
    }

    #[test]
    fn a_wrong_key_is_refused_without_saying_more() {
        let c = config();
        for key in ["Bearer passwore", "Bearer Password", "Bearer password2"] {
            let err = auth(&c, key.as_bytes()).unwrap_err();
            assert_eq!(err, AuthError::InvalidKey, "{key}");
            assert_eq!(Problem::from(&err).detail, "invalid API key");
        }
    }

    #[test]
    fn tolerated_spellings() {
        let c = config();
        for ok in [
            "bearer password",
            "BEARER password",
            "BeArEr password",
            "Bearer  password",
            " Bearer password\t",
            "Bearer password ",
        ] {
            assert_eq!(auth(&c, ok.as_bytes()).unwrap().id, "a", "{ok:?}");
        }
    }

    #[test]
    fn malformed_headers_table() {
        let c = config();
        let cases: &[&[u8]] = &[
            b"",
            b"Bearer",
            b"Bearer ",
            b"Bearer    ",
            b"Bearerpassword",
            b"Bearer\tpassword",
            b"Basic cGFzc3dvcmQ=",
            b"Token password",
            b"password",
            b"Bearer pass word",
            b"Bearer password\tx",
            b"Bearer,password",
            b"Bearer: password",
            b"Bearer \xffpassword",
            b"Bearer p\xc3\xa4ssword",
        ];
        for value in cases {
            let err = auth(&c, value).unwrap_err();
            assert!(
                matches!(
                    err,
                    AuthError::InvalidHeader {
                        header: "authorization",
                        ..
                    }
                ),
                "{:?} -> {err:?}",
                String::from_utf8_lossy(value)
            );
            let p = Problem::from(&err);
            assert_eq!(p.code.status(), 401);
            assert!(!p.detail.contains("password"), "{}", p.detail);
        }

        let mut h = HeaderMap::new();
        h.append(AUTHORIZATION, HeaderValue::from_static("Bearer password"));
        h.append(AUTHORIZATION, HeaderValue::from_static("Bearer password"));
        assert!(matches!(
            authenticate(&c.callers, &h),
            Err(AuthError::InvalidHeader { .. })
        ));
        assert_eq!(
            authenticate(&c.callers, &HeaderMap::new()),
            Err(AuthError::NoCredentials)
        );
    }

    #[test]
    fn a_webhook_only_caller_has_no_key() {
        let c = config();
        // The hook's secret is not a key, and neither is an empty digest.
        for key in [
            "Bearer whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "Bearer MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ] {
            assert_eq!(auth(&c, key.as_bytes()), Err(AuthError::InvalidKey));
        }
    }

    #[test]
    fn never_panics_on_arbitrary_header_bytes() {
        let c = config();
        let edges: &[&[u8]] = &[
            b"Bearer \x80",
            b"\t",
            b" ",
            b"bearer password",
            b"Bearer \"password\"",
            b"Bearer =",
        ];
        let mut inputs: Vec<Vec<u8>> = edges.iter().map(|e| e.to_vec()).collect();
        let alphabet = b"Bb eEaArR\t\x7f\x80\xff,=:password\"";
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| {
                    let r = seed.rotate_left(i as u32 * 5);
                    if r & 3 == 0 {
                        (r >> 8) as u8
                    } else {
                        alphabet[(r >> 8) as usize % alphabet.len()]
                    }
                })
                .collect();
            inputs.push(bytes);
        }
        inputs.push(b"Bearer ".iter().chain(&[b'x'; 70_000]).copied().collect());
        for bytes in inputs {
            let Ok(v) = HeaderValue::from_bytes(&bytes) else {
                continue;
            };
            let mut h = HeaderMap::new();
            h.insert(AUTHORIZATION, v);
            if let Ok(caller) = authenticate(&c.callers, &h) {
                assert_eq!(caller.id, "a", "{:?}", String::from_utf8_lossy(&bytes));
            }
        }
    }
}
