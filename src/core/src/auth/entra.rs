//! Entra ID access tokens as callers (`entra_audience`): the way Power
//! Automate connectors (OAuth 2.0), managed identities and ServiceNow OAuth
//! profiles call Microsoft APIs. App roles assigned in Entra are the scopes.
//!
//! A token is accepted only if every check passes, in this order:
//! its shape (a JWS compact serialization, at most 16 KiB); its header
//! (`alg` `RS256` and nothing else, a `kid`, no `jku`, `x5u` or `jwk`: a
//! key is never taken from where the token points, and no `crit`
//! extension); its signature (RSASSA-PKCS1-v1_5 with SHA-256, by a key of
//! at least 2048 bits from the tenant's published set, [`SigningKeys`]);
//! then its claims: `iss` of the deployment's tenant (v1
//! `https://sts.windows.net/{tid}/` or v2 `{login_endpoint}/{tid}/v2.0`),
//! `aud` the configured audience (or its application id), `tid` the
//! tenant, `exp` and `nbf` with five minutes of skew. A refusal names the
//! check, never the token.

use std::collections::BTreeSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier as _;
use rsa::traits::PublicKeyParts as _;
use rsa::{BigUint, RsaPublicKey};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{Caller, CredentialKind};
use crate::config::{CallerConfig, Config};
use crate::types::Scope;

/// An unnamed app-only caller's id: `entra:<appid>`. Configured ids cannot
/// contain `:`, so no key caller can pose as one.
pub const ENTRA_PREFIX: &str = "entra:";

/// Clock skew allowed on `exp` and `nbf`.
pub const SKEW_SECS: u64 = 300;
/// Larger than any token Entra issues (a few KB), small enough to parse.
const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Entra's keys are 2048-bit; anything weaker is refused.
const MIN_KEY_BITS: usize = 2048;

/// Which check a token failed: the `error_description` of the `401`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("this deployment does not accept Entra ID tokens (entra_audience is not set)")]
    NotAccepted,
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("alg must be RS256")]
    Algorithm,
    #[error(
        "the token header points at a key ({0}); keys come only from the tenant's published set"
    )]
    KeyLocation(&'static str),
    #[error("the token header has critical extensions this API does not know")]
    Critical,
    #[error("the token header names no key (kid)")]
    NoKeyId,
    #[error("the token is signed by a key the tenant does not publish")]
    UnknownKey,
    #[error("the signature does not verify")]
    Signature,
    #[error("the issuer is not this deployment's tenant")]
    Issuer,
    #[error("the audience is not this API")]
    Audience,
    #[error("the tenant is not this deployment's")]
    Tenant,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token names no client application (appid or azp)")]
    NoClient,
}

/// A person signed in to the client (a delegated token): who acted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Operator {
    /// `upn`, else `preferred_username`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub upn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub oid: Option<String>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    jku: Option<serde_json::Value>,
    x5u: Option<serde_json::Value>,
    jwk: Option<serde_json::Value>,
    crit: Option<serde_json::Value>,
}

/// `aud`: one audience (what Entra issues) or a list of them (RFC 7519).
#[derive(Deserialize)]
#[serde(untagged)]
enum Audiences {
    One(String),
    Many(Vec<String>),
}

impl Audiences {
    fn iter(&self) -> impl Iterator<Item = &str> {
        let v: Vec<&str> = match self {
            Audiences::One(a) => vec![a.as_str()],
            Audiences::Many(a) => a.iter().map(String::as_str).collect(),
        };
        v.into_iter()
    }
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    aud: Audiences,
    tid: String,
    exp: u64,
    nbf: Option<u64>,
    #[serde(default)]
    roles: Vec<String>,
    appid: Option<String>,
    azp: Option<String>,
    oid: Option<String>,
    upn: Option<String>,
    preferred_username: Option<String>,
    /// Present on delegated tokens only (a user's consented scopes).
    scp: Option<String>,
    idtyp: Option<String>,
}

/// A token whose shape and header passed: what the signature check needs.
pub struct Unverified<'a> {
    kid: String,
    signed: &'a str,
    signature: Vec<u8>,
    claims: Claims,
}

impl Unverified<'_> {
    /// The key the token says signed it.
    pub fn kid(&self) -> &str {
        &self.kid
    }
}

/// Whether an `Authorization: Bearer` credential is a JWT rather than an
/// API key: three base64url segments (API keys have no dots).
pub fn looks_like_jwt(credential: &str) -> bool {
    credential.split('.').count() == 3 && credential.starts_with("eyJ")
}

fn segment(s: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD.decode(s).map_err(|_| TokenError::Malformed)
}

/// Shape and header.
pub fn parse(token: &str) -> Result<Unverified<'_>, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let header: Header = serde_json::from_slice(&segment(h)?).map_err(|_| TokenError::Malformed)?;
    if header.alg != "RS256" {
        return Err(TokenError::Algorithm);
    }
    for (name, present) in [
        ("jku", header.jku.is_some()),
        ("x5u", header.x5u.is_some()),
        ("jwk", header.jwk.is_some()),
    ] {
        if present {
            return Err(TokenError::KeyLocation(name));
        }
    }
    if header.crit.is_some() {
        return Err(TokenError::Critical);
    }
    let kid = header
        .kid
        .filter(|k| !k.is_empty() && k.len() <= 256)
        .ok_or(TokenError::NoKeyId)?;
    let claims: Claims = serde_json::from_slice(&segment(p)?).map_err(|_| TokenError::Malformed)?;
    let signature = segment(s)?;
    Ok(Unverified {
        kid,
        signed: &token[..h.len() + 1 + p.len()],
        signature,
        claims,
    })
}

/// One of the tenant's published keys (`n`, `e` as the JWKS gives them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kid: String,
    pub n: String,
    pub e: String,
}

impl Jwk {
    fn public_key(&self) -> Option<RsaPublicKey> {
        let n = URL_SAFE_NO_PAD.decode(&self.n).ok()?;
        let e = URL_SAFE_NO_PAD.decode(&self.e).ok()?;
        let key = RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from_bytes_be(&e)).ok()?;
        (key.size() * 8 >= MIN_KEY_BITS).then_some(key)
    }
}

/// The tenant's published signing keys, as its JWKS lists them: RSA
/// signing keys only, each readable.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeys {
    pub keys: Vec<Jwk>,
}

impl SigningKeys {
    /// Reads `{ "keys": [ { "kty", "use", "kid", "n", "e", ... } ] }`.
    pub fn from_jwks(body: &[u8]) -> Option<SigningKeys> {
        #[derive(Deserialize)]
        struct Raw {
            keys: Vec<RawKey>,
        }
        #[derive(Deserialize)]
        struct RawKey {
            kty: Option<String>,
            #[serde(rename = "use")]
            use_: Option<String>,
            kid: Option<String>,
            n: Option<String>,
            e: Option<String>,
        }
        let raw: Raw = serde_json::from_slice(body).ok()?;
        let keys = raw
            .keys
            .into_iter()
            .filter(|k| {
                k.kty.as_deref() == Some("RSA") && k.use_.as_deref().is_none_or(|u| u == "sig")
            })
            .filter_map(|k| {
                Some(Jwk {
                    kid: k.kid?,
                    n: k.n?,
                    e: k.e?,
                })
            })
            .collect();
        Some(SigningKeys { keys })
    }

    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

/// Signature, then claims; the caller the token stands for.
pub fn verify(
    token: &Unverified<'_>,
    key: &Jwk,
    config: &Config,
    audience: &str,
    now: u64,
) -> Result<Caller, TokenError> {
    let public = key.public_key().ok_or(TokenError::UnknownKey)?;
    let signature =
        Signature::try_from(token.signature.as_slice()).map_err(|_| TokenError::Signature)?;
    VerifyingKey::<Sha256>::new(public)
        .verify(token.signed.as_bytes(), &signature)
        .map_err(|_| TokenError::Signature)?;
    let c = &token.claims;
    let tenant = config.tenant_id.to_ascii_lowercase();
    // v1, v2 at the configured login endpoint, and v2 as the public
    // cloud names itself (the signature is checked against the configured
    // endpoint's keys either way).
    let issuers = [
        format!("https://sts.windows.net/{tenant}/"),
        format!("{}/{tenant}/v2.0", config.login_endpoint.base()),
        format!("https://login.microsoftonline.com/{tenant}/v2.0"),
    ];
    if !issuers.iter().any(|i| i.eq_ignore_ascii_case(&c.iss)) {
        return Err(TokenError::Issuer);
    }
    if !c.aud.iter().any(|aud| audience_matches(audience, aud)) {
        return Err(TokenError::Audience);
    }
    if !c.tid.eq_ignore_ascii_case(&tenant) {
        return Err(TokenError::Tenant);
    }
    if now >= c.exp.saturating_add(SKEW_SECS) {
        return Err(TokenError::Expired);
    }
    if c.nbf.is_some_and(|nbf| now.saturating_add(SKEW_SECS) < nbf) {
        return Err(TokenError::NotYetValid);
    }
    let client = c
        .appid
        .as_deref()
        .or(c.azp.as_deref())
        .filter(|a| !a.is_empty() && a.len() <= 64 && a.chars().all(|ch| ch.is_ascii_graphic()))
        .ok_or(TokenError::NoClient)?;
    let delegated = c.scp.is_some() || c.idtyp.as_deref() == Some("user");
    let operator = delegated.then(|| Operator {
        upn: c.upn.clone().or_else(|| c.preferred_username.clone()),
        oid: c.oid.clone(),
    });
    Ok(Caller {
        id: format!("{ENTRA_PREFIX}{client}"),
        scopes: scopes(&c.roles),
        credential: CredentialKind::EntraToken,
        operator,
    })
}

/// The caller under its configured name (`callers[].entraAppId`), so the
/// audit trail and limits read `servicenow` rather than a GUID; a client
/// no entry names stays `entra:<appid>`.
pub fn named(caller: Caller, callers: &[CallerConfig]) -> Caller {
    let Some(app) = caller.id.strip_prefix(ENTRA_PREFIX) else {
        return caller;
    };
    match callers.iter().find(|c| {
        c.entra_app_id
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case(app))
    }) {
        Some(entry) => Caller {
            id: entry.id.clone(),
            ..caller
        },
        None => caller,
    }
}

/// `aud` is the configured audience, or the application id it names
/// (`api://<app id>`), in either direction: v1 tokens carry the app ID
/// URI, v2 tokens the application id.
fn audience_matches(configured: &str, aud: &str) -> bool {
    let app_id = |s: &str| s.strip_prefix("api://").unwrap_or(s).to_ascii_lowercase();
    configured.eq_ignore_ascii_case(aud)
        || (crate::types::is_guid(&app_id(configured)) && app_id(configured) == app_id(aud))
}

/// App roles, as the app registration's manifest declares them, to scopes.
pub const ROLES: [(&str, Scope); 7] = [
    ("Tap", Scope::Tap),
    ("Reset", Scope::Reset),
    ("Phone", Scope::Phone),
    ("Failures.Read", Scope::FailuresRead),
    ("Diagnose", Scope::Diagnose),
    ("Audit.Read", Scope::AuditRead),
    ("Privileged", Scope::Privileged),
];

fn scopes(roles: &[String]) -> BTreeSet<Scope> {
    ROLES
        .iter()
        .filter(|(role, _)| roles.iter().any(|r| r == role))
        .map(|(_, scope)| *scope)
        .collect()
}

#[cfg(test)]
pub(crate) mod testing {
    //! Tokens signed with the simulated tenant's test keys.
    use super::*;
    use rsa::pkcs1::DecodeRsaPrivateKey as _;
    use rsa::pkcs1v15::SigningKey;
    use rsa::signature::{SignatureEncoding as _, Signer as _};
    use rsa::RsaPrivateKey;

    pub const CURRENT: &str = include_str!("../../../sim/fixtures/signing-keys/current.pem");
    pub const OTHER: &str = include_str!("../../../sim/fixtures/signing-keys/other.pem");

    pub fn private(pem: &str) -> RsaPrivateKey {
        RsaPrivateKey::from_pkcs1_pem(pem).expect("test key")
    }

    pub fn jwk(pem: &str, kid: &str) -> Jwk {
        let public = private(pem).to_public_key();
        Jwk {
            kid: kid.into(),
            n: URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            e: URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        }
    }

    pub fn sign(pem: &str, header: &serde_json::Value, claims: &serde_json::Value) -> String {
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = SigningKey::<Sha256>::new(private(pem)).sign(signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use crate::testing::World;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    const NOW: u64 = 1_795_420_800;
    const AUDIENCE: &str = "api://mfa-recovery";

    fn config() -> Config {
        Config::load(&World::configured().vars).unwrap()
    }

    fn claims() -> Value {
        let tenant = config().tenant_id;
        json!({
            "iss": format!("https://sts.windows.net/{tenant}/"),
            "aud": AUDIENCE, "tid": tenant, "exp": NOW + 3600, "nbf": NOW - 60,
            "appid": "11111111-2222-4333-8444-555555555555", "roles": ["Tap", "Audit.Read", "Unknown"],
            "idtyp": "app",
        })
    }

    fn header() -> Value {
        json!({ "typ": "JWT", "alg": "RS256", "kid": "k1" })
    }

    fn check(token: &str) -> Result<Caller, TokenError> {
        let t = parse(token)?;
        verify(&t, &jwk(CURRENT, "k1"), &config(), AUDIENCE, NOW)
    }

    #[test]
    fn a_valid_app_token_is_its_client_with_its_roles_as_scopes() {
        let c = check(&sign(CURRENT, &header(), &claims())).unwrap();
        assert_eq!(c.id, "entra:11111111-2222-4333-8444-555555555555");
        assert_eq!(c.scopes, [Scope::Tap, Scope::AuditRead].into());
        assert_eq!(c.operator, None);
        let mut all = claims();
        all["roles"] = json!(ROLES.iter().map(|(r, _)| *r).collect::<Vec<_>>());
        assert_eq!(
            check(&sign(CURRENT, &header(), &all)).unwrap().scopes,
            Scope::ALL.into()
        );
    }

    #[test]
    fn a_configured_entra_app_id_names_the_caller_but_grants_nothing() {
        let mut vars = World::configured().vars;
        let callers = r#"[{"id":"key","keySha256":"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8","scopes":["privileged"]},
            {"id":"servicenow","entraAppId":"11111111-2222-4333-8444-555555555555"}]"#;
        vars.insert("callers".into(), callers.into());
        let named_config = Config::load(&vars).unwrap();
        let caller = check(&sign(CURRENT, &header(), &claims())).unwrap();
        let caller = named(caller, &named_config.callers);
        assert_eq!(caller.id, "servicenow");
        // The roles still decide: Tap and Audit.Read, not the key's privileged.
        assert_eq!(caller.scopes, [Scope::Tap, Scope::AuditRead].into());
        assert_eq!(caller.credential, CredentialKind::EntraToken);
        let mut other = claims();
        other["appid"] = json!("99999999-2222-4333-8444-555555555555");
        let unnamed = named(
            check(&sign(CURRENT, &header(), &other)).unwrap(),
            &named_config.callers,
        );
        assert_eq!(unnamed.id, "entra:99999999-2222-4333-8444-555555555555");
    }

    #[test]
    fn a_delegated_token_names_its_operator() {
        let mut c = claims();
        c["scp"] = json!("user_impersonation");
        c["idtyp"] = Value::Null;
        c["preferred_username"] = json!("agent@contoso.com");
        c["oid"] = json!("aaaaaaaa-0000-4000-8000-000000000001");
        let caller = check(&sign(CURRENT, &header(), &c)).unwrap();
        assert_eq!(
            caller.operator,
            Some(Operator {
                upn: Some("agent@contoso.com".into()),
                oid: Some("aaaaaaaa-0000-4000-8000-000000000001".into())
            })
        );
    }

    #[test]
    fn each_check_refuses_with_its_own_reason() {
        let tenant = config().tenant_id;
        let with = |k: &str, v: Value| {
            let mut c = claims();
            c[k] = v;
            sign(CURRENT, &header(), &c)
        };
        let head = |h: Value| sign(CURRENT, &h, &claims());
        let unsigned = |h: Value| {
            format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode(h.to_string()),
                URL_SAFE_NO_PAD.encode(claims().to_string())
            )
        };
        let hs256 = {
            use hmac::Mac as _;
            let h = json!({ "alg": "HS256", "kid": "k1" });
            let signed = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(h.to_string()),
                URL_SAFE_NO_PAD.encode(claims().to_string())
            );
            let mut mac =
                hmac::Hmac::<Sha256>::new_from_slice(jwk(CURRENT, "k1").n.as_bytes()).unwrap();
            mac.update(signed.as_bytes());
            format!(
                "{signed}.{}",
                URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
            )
        };
        let cases: Vec<(String, TokenError)> = vec![
            ("not.a.jwt".into(), TokenError::Malformed),
            (
                unsigned(json!({ "alg": "none", "kid": "k1" })),
                TokenError::Algorithm,
            ),
            (hs256, TokenError::Algorithm),
            (
                head(json!({ "alg": "RS256", "kid": "k1", "jku": "https://evil.example/keys" })),
                TokenError::KeyLocation("jku"),
            ),
            (
                head(json!({ "alg": "RS256", "kid": "k1", "x5u": "https://evil.example/cert" })),
                TokenError::KeyLocation("x5u"),
            ),
            (
                head(json!({ "alg": "RS256", "kid": "k1", "crit": ["exp"] })),
                TokenError::Critical,
            ),
            (head(json!({ "alg": "RS256" })), TokenError::NoKeyId),
            (sign(OTHER, &header(), &claims()), TokenError::Signature),
            (
                with(
                    "iss",
                    json!("https://sts.windows.net/00000000-0000-4000-8000-000000000000/"),
                ),
                TokenError::Issuer,
            ),
            (
                with("aud", json!("api://someone-else")),
                TokenError::Audience,
            ),
            (
                with("tid", json!("00000000-0000-4000-8000-000000000000")),
                TokenError::Tenant,
            ),
            (with("exp", json!(NOW - SKEW_SECS)), TokenError::Expired),
            (
                with("nbf", json!(NOW + SKEW_SECS + 1)),
                TokenError::NotYetValid,
            ),
            (with("appid", Value::Null), TokenError::NoClient),
        ];
        for (token, expected) in cases {
            assert_eq!(check(&token).err(), Some(expected.clone()), "{expected}");
        }
        // Within the skew: accepted.
        assert!(check(&with("exp", json!(NOW - SKEW_SECS + 1))).is_ok());
        assert!(check(&with("nbf", json!(NOW + SKEW_SECS))).is_ok());
        // The v2 issuer, and the application id as the audience.
        let mut v2 = claims();
        v2["iss"] = json!(format!("{}/{tenant}/v2.0", config().login_endpoint.base()));
        assert!(check(&sign(CURRENT, &header(), &v2)).is_ok());
        let t = sign(CURRENT, &header(), &{
            let mut c = claims();
            c["aud"] = json!("11111111-2222-4333-8444-555555555555");
            c
        });
        let parsed = parse(&t).unwrap();
        let app = "api://11111111-2222-4333-8444-555555555555";
        assert!(verify(&parsed, &jwk(CURRENT, "k1"), &config(), app, NOW).is_ok());
        // A list of audiences that holds this API's, and the public cloud's
        // v2 issuer.
        assert!(check(&with("aud", json!(["api://other", AUDIENCE]))).is_ok());
        assert_eq!(
            check(&with("aud", json!(["api://other"]))).err(),
            Some(TokenError::Audience)
        );
        assert!(check(&with(
            "iss",
            json!(format!("https://login.microsoftonline.com/{tenant}/v2.0"))
        ))
        .is_ok());
    }

    #[test]
    fn the_jwks_gives_rsa_signing_keys_and_weak_keys_are_refused() {
        let k = jwk(CURRENT, "k1");
        let body = json!({ "keys": [
            { "kty": "RSA", "use": "sig", "kid": "k1", "n": k.n, "e": k.e, "x5c": ["..."] },
            { "kty": "EC", "kid": "ec", "crv": "P-256" },
            { "kty": "RSA", "use": "enc", "kid": "enc", "n": k.n, "e": k.e },
        ] });
        let keys = SigningKeys::from_jwks(body.to_string().as_bytes()).unwrap();
        assert_eq!(keys.keys, vec![k.clone()]);
        let weak = Jwk {
            n: URL_SAFE_NO_PAD.encode([0xffu8; 128]),
            ..k
        };
        let t = sign(CURRENT, &header(), &claims());
        assert_eq!(
            verify(&parse(&t).unwrap(), &weak, &config(), AUDIENCE, NOW).err(),
            Some(TokenError::UnknownKey)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// No change to a valid token's bytes is accepted: one byte of its
        /// header, payload or signature flipped.
        #[test]
        fn no_mutation_of_a_valid_token_is_accepted(at in any::<prop::sample::Index>(), bit in 0u8..8) {
            let token = sign(CURRENT, &header(), &claims());
            let mut bytes = token.into_bytes();
            let i = at.index(bytes.len());
            bytes[i] ^= 1 << bit;
            if let Ok(mutated) = String::from_utf8(bytes) {
                prop_assert!(check(&mutated).is_err(), "accepted a change at byte {i}");
            }
        }
    }
}
