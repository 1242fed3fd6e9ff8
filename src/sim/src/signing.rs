//! The tenant as a token issuer, for callers that sign in with Entra ID:
//! `GET /{tenant}/discovery/v2.0/keys` publishes its signing keys as Entra
//! does (a JWKS of RSA keys: `kty`, `use`, `kid`, `n`, `e`; Microsoft
//! identity platform "Access tokens": validate the signature against the
//! keys of the tenant's OpenID configuration `jwks_uri`), and
//! `POST /_sim/tokens` mints access tokens for tests, well-formed or forged
//! in the ways a hostile caller forges them.
//!
//! Keys: `fixtures/signing-keys/` (test-only 2048-bit RSA). `current` is
//! published at start, `next` after `POST /_sim/signing-keys`
//! `{"published": [...]}`; `other` is never published.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding as _, Signer as _};
use rsa::traits::PublicKeyParts as _;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::state::State;

pub const KEYS: [(&str, &str); 3] = [
    (
        "current",
        include_str!("../fixtures/signing-keys/current.pem"),
    ),
    ("next", include_str!("../fixtures/signing-keys/next.pem")),
    ("other", include_str!("../fixtures/signing-keys/other.pem")),
];

/// The `kid` of key `name`.
pub fn kid(name: &str) -> String {
    format!("sim-{name}")
}

fn private(name: &str) -> Option<RsaPrivateKey> {
    let pem = KEYS.iter().find(|(n, _)| *n == name)?.1;
    RsaPrivateKey::from_pkcs1_pem(pem).ok()
}

/// The JWKS `GET /{tenant}/discovery/v2.0/keys` answers.
pub fn jwks(st: &State) -> Value {
    let keys: Vec<Value> = st
        .published_keys
        .iter()
        .filter_map(|name| {
            let public = private(name)?.to_public_key();
            Some(json!({
                "kty": "RSA", "use": "sig", "kid": kid(name), "x5t": kid(name),
                "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
                "issuer": format!("https://login.microsoftonline.com/{}/v2.0", st.tenant.id),
            }))
        })
        .collect();
    json!({ "keys": keys })
}

/// `POST /_sim/signing-keys {"published": ["current", "next"]}`.
pub fn publish(st: &mut State, body: &Value) -> Result<Value, String> {
    let names: Vec<String> = body["published"]
        .as_array()
        .ok_or("`published` must be a list of key names")?
        .iter()
        .map(|n| {
            n.as_str()
                .map(str::to_string)
                .ok_or("key names are strings")
        })
        .collect::<Result<_, _>>()?;
    if let Some(bad) = names.iter().find(|n| !KEYS.iter().any(|(k, _)| k == *n)) {
        return Err(format!("no key named {bad}; keys: current, next, other"));
    }
    st.published_keys = names;
    Ok(jwks(st))
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn rs256(key: &str, header: &Value, claims: &Value) -> Result<String, String> {
    let signed = format!("{}.{}", b64(header), b64(claims));
    let key = private(key).ok_or_else(|| format!("no key named {key}"))?;
    let sig = SigningKey::<Sha256>::new(key).sign(signed.as_bytes());
    Ok(format!(
        "{signed}.{}",
        URL_SAFE_NO_PAD.encode(sig.to_bytes())
    ))
}

/// `POST /_sim/tokens`: an access token for this tenant.
///
/// Body (every member optional): `audience` (default `api://mfa-recovery`),
/// `roles` (app roles), `appId` (the client), `version` (1: `sts.windows.net`
/// issuer, the default; 2: `{login}/{tid}/v2.0`), `issuerBase` (v2's
/// login URL, default `https://login.microsoftonline.com`), `delegated`
/// (`{ "upn", "oid" }`: a person signed in to the client), `key` (default
/// `current`), `claims` (members merged over the rest), and `forge`: one of
/// `wrong_key` (signed by a key the tenant does not publish),
/// `wrong_tenant`, `wrong_audience`, `expired`, `not_yet_valid`,
/// `alg_none` (unsigned), `hs256` (HMAC-signed with the published public
/// key as the secret), `unknown_kid`, `jku` (a header pointing at another
/// key set).
pub fn mint(st: &State, body: &Value) -> Result<Value, String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let tenant = st.tenant.id.clone();
    let forge = body["forge"].as_str().unwrap_or("");
    let key = body["key"].as_str().unwrap_or("current");
    let audience = body["audience"].as_str().unwrap_or("api://mfa-recovery");
    let app_id = body["appId"]
        .as_str()
        .unwrap_or("5c0ffee0-0000-4000-8000-00000000a991");
    let issuer = match body["version"].as_u64() {
        Some(2) => format!(
            "{}/{tenant}/v2.0",
            body["issuerBase"]
                .as_str()
                .unwrap_or("https://login.microsoftonline.com")
        ),
        _ => format!("https://sts.windows.net/{tenant}/"),
    };
    let mut claims = json!({
        "aud": audience, "iss": issuer, "tid": tenant,
        "iat": now - 60, "nbf": now - 60, "exp": now + 3600,
        "appid": app_id, "azp": app_id, "ver": if body["version"].as_u64() == Some(2) { "2.0" } else { "1.0" },
        "roles": body.get("roles").cloned().unwrap_or(json!([])),
        "idtyp": "app",
        "oid": "7e57a991-0000-4000-8000-00000000a991", "sub": "7e57a991-0000-4000-8000-00000000a991",
    });
    if let Some(d) = body.get("delegated").filter(|d| d.is_object()) {
        claims["idtyp"] = json!("user");
        claims["scp"] = json!("user_impersonation");
        claims["upn"] = d["upn"].clone();
        claims["oid"] = d["oid"].clone();
        claims["sub"] = d["oid"].clone();
    }
    match forge {
        "wrong_tenant" => claims["tid"] = json!("00000000-0000-4000-8000-00000000dead"),
        "wrong_audience" => claims["aud"] = json!("api://someone-else"),
        "expired" => {
            claims["nbf"] = json!(now - 7200);
            claims["exp"] = json!(now - 3600);
        }
        "not_yet_valid" => {
            claims["nbf"] = json!(now + 3600);
            claims["exp"] = json!(now + 7200);
        }
        _ => {}
    }
    if let Some(extra) = body["claims"].as_object() {
        for (k, v) in extra {
            claims[k] = v.clone();
        }
    }
    let mut header = json!({ "typ": "JWT", "alg": "RS256", "kid": kid(key), "x5t": kid(key) });
    let token = match forge {
        "wrong_key" => rs256("other", &header, &claims)?,
        "unknown_kid" => {
            header["kid"] = json!(format!("sim-unknown-{now}"));
            rs256(key, &header, &claims)?
        }
        "jku" => {
            header["jku"] = json!("https://attacker.example/keys");
            rs256("other", &header, &claims)?
        }
        "alg_none" => {
            header["alg"] = json!("none");
            format!("{}.{}.", b64(&header), b64(&claims))
        }
        "hs256" => {
            use hmac::Mac as _;
            header["alg"] = json!("HS256");
            let signed = format!("{}.{}", b64(&header), b64(&claims));
            // The published key as the HMAC secret: the classic confusion.
            let public = private(key).ok_or("no such key")?.to_public_key();
            let secret = URL_SAFE_NO_PAD.encode(public.n().to_bytes_be());
            let mut mac = hmac::Hmac::<Sha256>::new_from_slice(secret.as_bytes())
                .map_err(|e| e.to_string())?;
            mac.update(signed.as_bytes());
            format!(
                "{signed}.{}",
                URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
            )
        }
        "" | "wrong_tenant" | "wrong_audience" | "expired" | "not_yet_valid" => {
            rs256(key, &header, &claims)?
        }
        other => return Err(format!("unknown forge {other}")),
    };
    Ok(json!({ "token": token, "claims": claims }))
}
