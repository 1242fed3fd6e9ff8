//! The app-only access token (client credentials, FACTS §1), cached in the
//! key-value store until shortly before it expires, so a deployment asks the
//! login endpoint once per token lifetime rather than once per request.

use http::header::{ACCEPT, CONTENT_TYPE};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::GraphError;
use crate::config::Config;
use crate::ports::Host;
use crate::store::sealed::Sealed;
use crate::types::Secret;
use std::time::Duration;

/// Refresh this long before expiry (or a quarter of a short lifetime), so a
/// request never starts with a token that dies mid-way.
const REFRESH_MARGIN_SECS: u64 = 300;

#[derive(Debug)]
pub struct AppToken {
    pub access_token: Secret<String>,
    /// Unix seconds.
    pub expires_at: u64,
    /// Served from the key-value cache rather than the login endpoint.
    pub cached: bool,
    /// The application permissions granted, from the token's `roles`
    /// claim; `None` when the token is not a JWT we can read.
    pub granted: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CachedToken {
    access_token: String,
    expires_at: u64,
    refresh_at: u64,
    #[serde(default)]
    roles: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(deserialize_with = "lifetime_secs")]
    expires_in: u64,
    token_type: String,
}

/// Longest lifetime believed: Entra's tokens live 60-90 minutes, and a
/// garbled huge `expires_in` must neither overflow nor pin a token for ever.
const MAX_LIFETIME_SECS: u64 = 24 * 3600;

/// `expires_in` as RFC 6749 §5.1 has it, a number, or as some tenants
/// answer even on the v2.0 endpoint, a string of digits (`"3599"`,
/// MicrosoftDocs/azure-docs#54997).
fn lifetime_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Lifetime {
        Number(u64),
        Text(String),
    }
    let secs = match Lifetime::deserialize(d)? {
        Lifetime::Number(n) => n,
        Lifetime::Text(t) => t
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom("expires_in is not a number of seconds"))?,
    };
    Ok(secs.min(MAX_LIFETIME_SECS))
}

#[derive(Deserialize)]
struct TokenErrorResponse {
    error: String,
    #[serde(default)]
    error_codes: Vec<u32>,
    #[serde(default)]
    error_description: String,
}

/// The cache key names the credential's audience, not the secret: a token is
/// for one tenant, one app and one cloud (FACTS §1 "National clouds").
fn cache_key(config: &Config) -> String {
    let id = Sha256::digest(
        format!(
            "{}|{}|{}|{}",
            config.login_endpoint.base(),
            config.tenant_id,
            config.client_id,
            config.graph_endpoint.base()
        )
        .as_bytes(),
    );
    format!("graph/token/{}", &hex::encode(id)[..24])
}

/// The token endpoint's URL and form body (FACTS §1).
fn token_request(config: &Config) -> crate::ports::OutboundRequest {
    let url = format!(
        "{}/{}/oauth2/v2.0/token",
        config.login_endpoint.base(),
        config.tenant_id
    );
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &config.client_id)
        .append_pair("client_secret", config.client_secret.expose())
        .append_pair(
            "scope",
            &format!("{}/.default", config.graph_endpoint.base()),
        )
        .append_pair("grant_type", "client_credentials")
        .finish();
    http::Request::builder()
        .method("POST")
        .uri(url)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ACCEPT, "application/json")
        .body(body.into_bytes())
        .expect("static token request")
}

/// A cached token if one is still fresh, else a new one (then cached).
pub async fn app_token(
    config: &Config,
    host: &Host<'_>,
    within: Duration,
) -> Result<AppToken, GraphError> {
    let now = crate::types::unix_secs(host.clock.now());
    let key = cache_key(config);
    let store = Sealed::new(host, config);
    // Sealed: a reader of the store learns no token, and a record that was
    // edited or copied there is a miss. Fresh until its own `refresh_at`.
    if let Some(c) = store.get::<CachedToken>(&key, now, None)? {
        if now < c.refresh_at {
            return Ok(AppToken {
                access_token: Secret::new(c.access_token),
                expires_at: c.expires_at,
                cached: true,
                granted: c.roles,
            });
        }
    }

    let res = host.transport.send(token_request(config), within).await?;
    let status = res.status().as_u16();
    if status != 200 {
        return Err(
            match serde_json::from_slice::<TokenErrorResponse>(res.body()) {
                Ok(e) => GraphError::TokenRefused {
                    status,
                    error: sanitize_oauth_code(&e.error),
                    aadsts: e
                        .error_codes
                        .first()
                        .copied()
                        .or_else(|| aadsts_from_description(&e.error_description))
                        .unwrap_or(0),
                },
                Err(_) => GraphError::TokenMalformed { status },
            },
        );
    }
    let t: TokenResponse =
        serde_json::from_slice(res.body()).map_err(|_| GraphError::TokenMalformed { status })?;
    if !t.token_type.eq_ignore_ascii_case("bearer") || t.access_token.is_empty() {
        return Err(GraphError::TokenMalformed { status });
    }
    let margin = REFRESH_MARGIN_SECS.min(t.expires_in / 4);
    let cached = CachedToken {
        roles: roles_claim(&t.access_token),
        access_token: t.access_token,
        expires_at: now + t.expires_in,
        refresh_at: now + t.expires_in - margin,
    };
    // A failed cache write costs one extra token request later, not this one.
    let _ = store.set(&key, now, &cached);
    Ok(AppToken {
        access_token: Secret::new(cached.access_token),
        expires_at: cached.expires_at,
        cached: false,
        granted: cached.roles,
    })
}

/// The `roles` claim of an app-only access token: the application
/// permissions the tenant granted (Entra's access-token claims reference;
/// the claim is absent when none are). Read, never verified: the token is
/// Graph's to check, and this only tells `/readyz` and the pre-write check
/// what Graph will allow. `None` when the token is not a JWT.
pub fn roles_claim(token: &str) -> Option<Vec<String>> {
    use base64::Engine;
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let claims = claims.as_object()?;
    Some(
        claims
            .get("roles")
            .and_then(|r| r.as_array())
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str())
                    .filter(|s| s.len() <= 128)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// Drops the cached token (Graph refused it before its expiry).
pub fn forget(config: &Config, host: &Host<'_>) {
    let _ = host.kv.delete(&cache_key(config));
}

/// OAuth `error` values are snake_case words; anything else is dropped.
fn sanitize_oauth_code(s: &str) -> String {
    let ok =
        !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if ok {
        s.to_string()
    } else {
        "unknown_error".into()
    }
}

/// `AADSTS7000215: Invalid client secret…` -> 7000215.
fn aadsts_from_description(d: &str) -> Option<u32> {
    let digits: String = d
        .strip_prefix("AADSTS")?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Problem;
    use crate::graph::client::DEFAULT_BUDGET;
    use crate::testing::World;
    use futures::executor::block_on;

    fn world() -> World {
        let mut w = World::configured();
        w.vars
            .insert("login_endpoint".into(), "https://login.example".into());
        w.vars
            .insert("graph_endpoint".into(), "https://graph.example".into());
        w
    }

    #[test]
    fn fetches_once_then_serves_from_cache_until_the_margin() {
        let w = world();
        let config = Config::load(&w.vars).unwrap();
        w.transport.push(
            200,
            r#"{"token_type":"Bearer","expires_in":3599,"access_token":"tok-1"}"#,
        );
        let t = block_on(app_token(&config, &w.host(), DEFAULT_BUDGET)).unwrap();
        assert_eq!(t.access_token.expose(), "tok-1");
        assert!(!t.cached);

        let sent = w.transport.sent();
        assert_eq!(sent.len(), 1);
        let req = &sent[0];
        assert_eq!(req.method(), "POST");
        assert_eq!(
            req.uri().to_string(),
            "https://login.example/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(
            req.headers()[CONTENT_TYPE],
            "application/x-www-form-urlencoded"
        );
        let form: Vec<(String, String)> = url::form_urlencoded::parse(req.body())
            .into_owned()
            .collect();
        assert_eq!(
            form,
            [
                (
                    "client_id".into(),
                    "9b1d3c5e-0000-4000-8000-000000000002".into()
                ),
                ("client_secret".into(), "s3cr3t &=+%".into()),
                ("scope".into(), "https://graph.example/.default".into()),
                ("grant_type".into(), "client_credentials".into()),
            ]
        );

        // Within the lifetime minus margin: no new request.
        w.clock.advance(Duration::from_secs(3599 - 300 - 1));
        let t = block_on(app_token(&config, &w.host(), DEFAULT_BUDGET)).unwrap();
        assert!(t.cached);
        assert_eq!(w.transport.sent().len(), 1);

        // Past the refresh point: a new token.
        w.clock.advance(Duration::from_secs(2));
        w.transport.push(
            200,
            r#"{"token_type":"Bearer","expires_in":3599,"access_token":"tok-2"}"#,
        );
        let t = block_on(app_token(&config, &w.host(), DEFAULT_BUDGET)).unwrap();
        assert_eq!(t.access_token.expose(), "tok-2");
        assert_eq!(w.transport.sent().len(), 2);
    }

    #[test]
    fn a_lifetime_is_a_number_or_a_string_of_digits_and_at_most_a_day() {
        let expires = |body: &str| {
            let w = world();
            let config = Config::load(&w.vars).unwrap();
            w.transport.push(200, body);
            block_on(app_token(&config, &w.host(), DEFAULT_BUDGET))
                .map(|t| t.expires_at - crate::types::unix_secs(crate::ports::Clock::now(&w.clock)))
        };
        let body =
            |e: &str| format!(r#"{{"token_type":"Bearer","expires_in":{e},"access_token":"t"}}"#);
        assert_eq!(expires(&body("3599")).unwrap(), 3599);
        assert_eq!(expires(&body(r#""3599""#)).unwrap(), 3599);
        assert_eq!(
            expires(&body(&u64::MAX.to_string())).unwrap(),
            MAX_LIFETIME_SECS
        );
        for bad in [r#""soon""#, "-1", "null", r#""""#] {
            assert!(
                matches!(
                    expires(&body(bad)),
                    Err(GraphError::TokenMalformed { status: 200 })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_cached_token_is_sealed_and_an_edited_or_planted_record_is_a_miss() {
        let w = world();
        let config = Config::load(&w.vars).unwrap();
        let answer = |t: &str| {
            format!(r#"{{"token_type":"Bearer","expires_in":3599,"access_token":"{t}"}}"#)
        };
        w.transport.push(200, &answer("tok-secret-1"));
        block_on(app_token(&config, &w.host(), DEFAULT_BUDGET)).unwrap();
        let key = cache_key(&config);
        let stored = w.kv.0.borrow()[&key].clone();
        let text = String::from_utf8_lossy(&stored);
        assert!(text.starts_with("seal1."), "{text}");
        assert!(!text.contains("tok-secret-1") && !text.contains("accessToken"));

        // Every byte flipped in turn: a miss each time, so a new token.
        for i in [0, 6, 6 + 24, stored.len() / 2, stored.len() - 1] {
            let mut edited = stored.clone();
            edited[i] ^= 0x01;
            w.kv.0.borrow_mut().insert(key.clone(), edited);
            w.transport.push(200, &answer(&format!("tok-{i}")));
            let t = block_on(app_token(&config, &w.host(), DEFAULT_BUDGET)).unwrap();
            assert!(!t.cached, "byte {i}");
            assert_eq!(t.access_token.expose(), &format!("tok-{i}"));
        }
        // A plaintext record of the old format: not believed either.
        let planted =
            br#"{"accessToken":"planted","expiresAt":99999999999,"refreshAt":99999999999}"#;
        w.kv.0.borrow_mut().insert(key.clone(), planted.to_vec());
        w.transport.push(200, &answer("tok-after-plant"));
        let t = block_on(app_token(&config, &w.host(), DEFAULT_BUDGET)).unwrap();
        assert_eq!(t.access_token.expose(), "tok-after-plant");

        // A rotated state_key opens nothing sealed before: one refetch.
        let mut w2 = world();
        w2.vars.insert("state_key".into(), "n".repeat(40));
        let rotated = Config::load(&w2.vars).unwrap();
        let host = w.host();
        w.transport.push(200, &answer("tok-rotated"));
        let t = block_on(app_token(&rotated, &host, DEFAULT_BUDGET)).unwrap();
        assert!(!t.cached);
        let t = block_on(app_token(&rotated, &host, DEFAULT_BUDGET)).unwrap();
        assert!(t.cached);
        assert_eq!(t.access_token.expose(), "tok-rotated");
    }

    #[test]
    fn the_roles_claim_is_read_from_a_jwt_and_absent_means_none_granted() {
        use base64::Engine;
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let jwt = |claims: &str| format!("{}.{}.sig", enc(r#"{"alg":"RS256"}"#), enc(claims));
        assert_eq!(
            roles_claim(&jwt(r#"{"roles":["User.Read.All","AuditLog.Read.All"]}"#)),
            Some(vec![
                "User.Read.All".to_string(),
                "AuditLog.Read.All".to_string()
            ])
        );
        assert_eq!(roles_claim(&jwt(r#"{"appid":"x"}"#)), Some(vec![]));
        assert_eq!(roles_claim("opaque-token"), None);
        assert_eq!(roles_claim("a.!!!.c"), None);

        let w = world();
        let config = Config::load(&w.vars).unwrap();
        let token = jwt(r#"{"roles":["Mail.Send"]}"#);
        w.transport.push(
            200,
            &format!(r#"{{"token_type":"Bearer","expires_in":3599,"access_token":"{token}"}}"#),
        );
        let t = block_on(app_token(&config, &w.host(), DEFAULT_BUDGET)).unwrap();
        assert_eq!(t.granted, Some(vec!["Mail.Send".to_string()]));
        let t = block_on(app_token(&config, &w.host(), DEFAULT_BUDGET)).unwrap();
        assert!(t.cached);
        assert_eq!(
            t.granted,
            Some(vec!["Mail.Send".to_string()]),
            "kept with the cached token"
        );
    }

    #[test]
    fn refusals_keep_the_aadsts_code_and_drop_the_description() {
        let w = world();
        let config = Config::load(&w.vars).unwrap();
        w.transport.push(
            401,
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. s3cr3t","error_codes":[7000215]}"#,
        );
        let err = block_on(app_token(&config, &w.host(), DEFAULT_BUDGET)).unwrap_err();
        assert_eq!(
            err,
            GraphError::TokenRefused {
                status: 401,
                error: "invalid_client".into(),
                aadsts: 7000215
            }
        );
        let body = Problem::from(&err).body().to_string();
        assert!(body.contains("AADSTS7000215") && body.contains("graph_auth_failed"));
        assert!(!body.contains("s3cr3t"));
        assert!(w.kv.0.borrow().is_empty(), "a refusal is not cached");

        w.transport.push(
            400,
            r#"{"error":"<script>","error_description":"AADSTS90002: Tenant not found"}"#,
        );
        let err = block_on(app_token(&config, &w.host(), DEFAULT_BUDGET)).unwrap_err();
        assert_eq!(
            err,
            GraphError::TokenRefused {
                status: 400,
                error: "unknown_error".into(),
                aadsts: 90002
            }
        );

        w.transport.push(502, "<html>bad gateway</html>");
        assert_eq!(
            block_on(app_token(&config, &w.host(), DEFAULT_BUDGET)).unwrap_err(),
            GraphError::TokenMalformed { status: 502 }
        );
    }
}
