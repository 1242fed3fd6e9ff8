//! Standard Webhooks signatures (API.md "Callers";
//! <https://www.standardwebhooks.com/>): for ticketing systems that cannot
//! hold a bearer key, a delivery proves its sender with an HMAC over its id,
//! timestamp and raw body, and is refused if it is stale or seen before.
//!
//! Order of checks: the three headers are present and well-formed, the
//! timestamp is within [`TOLERANCE_SECS`] of the clock, one `v1` signature
//! matches some caller's secret, and only then is the `webhook-id` bound in
//! the key-value store to the endpoint and body it came with. The binding
//! comes last so that forged deliveries cannot fill the store or burn a
//! genuine sender's ids.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::header::HeaderMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use super::{select_match, AuthError, Caller, CredentialKind};
use crate::config::CallerConfig;
use crate::store::sealed::Sealed;

pub const ID: &str = "webhook-id";
pub const TIMESTAMP: &str = "webhook-timestamp";
pub const SIGNATURE: &str = "webhook-signature";

/// How far `webhook-timestamp` may be from the clock, either way (API.md).
pub const TOLERANCE_SECS: u64 = 300;
/// The spec sets no bound; ids are message ids like `msg_2KWPBgLlAfxdpx2AI54pPJ85f4W`.
pub const MAX_ID_CHARS: usize = 256;
pub use crate::store::idempotency::DELIVERY_TTL_SECS;

/// The spec's signatures are padded standard base64; unpadded ones are
/// accepted too, since some senders strip `=`.
const SIGNATURE_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

type HmacSha256 = Hmac<Sha256>;

/// The headers of one delivery, checked for shape but not yet for signature.
struct Delivery<'h> {
    id: &'h str,
    /// As sent: the signed content uses the header's digits, not a re-formatting.
    timestamp: &'h str,
    /// Decoded `v1` signatures; other versions are ignored (spec: a receiver
    /// skips schemes it does not know).
    signatures: Vec<Vec<u8>>,
}

fn header<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, AuthError> {
    let mut values = headers.get_all(name).iter();
    let value = values.next().ok_or(AuthError::MissingHeader(name))?;
    if values.next().is_some() {
        return Err(AuthError::InvalidHeader {
            header: name,
            expected: "it must appear once",
        });
    }
    value.to_str().map_err(|_| AuthError::InvalidHeader {
        header: name,
        expected: "it must be ASCII",
    })
}

fn parse(headers: &HeaderMap) -> Result<Delivery<'_>, AuthError> {
    let id = header(headers, ID)?;
    let timestamp = header(headers, TIMESTAMP)?;
    let signature = header(headers, SIGNATURE)?;

    if id.is_empty() || id.len() > MAX_ID_CHARS || id.chars().any(char::is_control) {
        return Err(AuthError::InvalidHeader {
            header: ID,
            expected: "it must be 1..256 characters without control characters",
        });
    }
    if timestamp.is_empty() || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AuthError::InvalidHeader {
            header: TIMESTAMP,
            expected: "it must be unix seconds",
        });
    }
    let signatures = signature
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, b64)| SIGNATURE_BASE64.decode(b64).ok())
        .collect();
    Ok(Delivery {
        id,
        timestamp,
        signatures,
    })
}

fn signed_content_mac(secret: &[u8], id: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `webhook-signature` entry a sender computes: `v1,<base64 HMAC-SHA256>`
/// over `id.timestamp.body`, with the secret decoded from after `whsec_`.
pub fn sign(secret: &[u8], id: &str, timestamp: u64, body: &[u8]) -> String {
    let tag = signed_content_mac(secret, id, &timestamp.to_string(), body).finalize();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag.into_bytes())
    )
}

/// Checks a delivery's headers, timestamp and signature, without touching
/// the replay record: the configured caller whose secret signed it, and the
/// delivery's `webhook-id`.
///
/// Every caller with a webhook secret is tried, and every `v1` signature is
/// compared with each in constant time, so neither the position of the valid
/// signature nor of the matching caller shows in the timing.
pub fn verify<'c>(
    callers: &'c [CallerConfig],
    headers: &HeaderMap,
    raw_body: &[u8],
    now: u64,
) -> Result<(&'c CallerConfig, String), AuthError> {
    let delivery = parse(headers)?;
    // Digits only; a value too large for u64 is simply far in the future.
    let sent_at = delivery.timestamp.parse::<u64>().unwrap_or(u64::MAX);
    if sent_at.abs_diff(now) > TOLERANCE_SECS {
        return Err(AuthError::TimestampOutsideTolerance);
    }
    let matches = callers.iter().map(|c| match &c.webhook_secret {
        Some(secret) => {
            let mac =
                signed_content_mac(secret.expose(), delivery.id, delivery.timestamp, raw_body);
            let expected = mac.finalize().into_bytes();
            delivery
                .signatures
                .iter()
                .fold(Choice::from(0), |any, sig| {
                    any | expected.as_slice().ct_eq(sig)
                })
        }
        None => Choice::from(0),
    });
    let index = select_match(matches).ok_or(AuthError::InvalidSignature)?;
    Ok((&callers[index], delivery.id.to_string()))
}

/// Where a delivery was sent. A mutation's redelivery (same endpoint, same
/// body) is its sender retrying; any other reuse of an id is a replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination<'a> {
    /// A change: the `webhook-id` is the delivery's idempotency key, so a
    /// redelivery finishes or replays the job (API.md "Callers").
    Mutation(&'a str),
    /// A read: answered once per id; a redelivery is refused.
    Read(&'a str),
}

impl Destination<'_> {
    fn path(&self) -> &str {
        match self {
            Destination::Mutation(p) | Destination::Read(p) => p,
        }
    }
}

/// The binding of a `webhook-id` to the delivery that first used it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Binding {
    /// A record of the older shape (no binding) has none: it matches
    /// nothing, so its id stays a replay until it expires.
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    body_sha256: String,
    expires_at: u64,
}

/// Per caller, so two senders' ids never collide; hashed, so an id's bytes
/// never shape a store key.
fn seen_key(caller: &str, webhook_id: &str) -> String {
    format!(
        "webhook/seen/{caller}/{}",
        hex::encode(Sha256::digest(webhook_id.as_bytes()))
    )
}

/// Binds `webhook_id` to this endpoint and body for `caller`, or refuses it
/// as a replay.
///
/// The first delivery wins one atomic compare-and-swap from "absent"; a
/// binding past its expiry is reclaimed with a compare-and-swap on the old
/// value, so a racing reclaim also has one winner. A live binding lets in
/// only a redelivery of the same body to the same mutation endpoint: the
/// signature covers id, timestamp and body but not the path, so without
/// the binding a captured delivery could be sent to another endpoint.
/// Bindings are sealed: whoever can write the key-value store cannot plant
/// one that lets a captured delivery in at another endpoint.
fn bind(
    store: &Sealed<'_>,
    caller: &str,
    webhook_id: &str,
    endpoint: Destination<'_>,
    raw_body: &[u8],
    now: u64,
) -> Result<(), AuthError> {
    let kv = store.kv();
    let key = seen_key(caller, webhook_id);
    let body_sha256 = hex::encode(Sha256::digest(raw_body));
    // Sealed bytes are unique per claim (see `KeyValue::compare_and_swap`).
    let fresh = store.seal_json(
        &key,
        now,
        &Binding {
            endpoint: endpoint.path().to_string(),
            body_sha256: body_sha256.clone(),
            expires_at: now + DELIVERY_TTL_SECS,
        },
    );
    // Two rounds: the record may vanish between the failed claim and the read.
    for _ in 0..2 {
        if kv
            .compare_and_swap(&key, None, &fresh)
            .map_err(AuthError::Storage)?
        {
            return Ok(());
        }
        let Some(current) = kv.get(&key).map_err(AuthError::Storage)? else {
            continue;
        };
        let bound = store.open_json::<Binding>(&key, &current);
        let live = bound.as_ref().filter(|b| b.expires_at > now);
        if let Some(b) = live {
            let redelivery = matches!(endpoint, Destination::Mutation(p) if b.endpoint == p)
                && b.body_sha256 == body_sha256;
            return if redelivery {
                Ok(())
            } else {
                Err(AuthError::Replayed)
            };
        }
        // Expired or unreadable: ours to reclaim.
        return if kv
            .compare_and_swap(&key, Some(&current), &fresh)
            .map_err(AuthError::Storage)?
        {
            Ok(())
        } else {
            Err(AuthError::Replayed)
        };
    }
    Err(AuthError::Replayed)
}

/// A verified delivery's caller: first seen, or a redelivery of the same
/// body to the same mutation endpoint.
pub fn authenticate(
    callers: &[CallerConfig],
    headers: &HeaderMap,
    raw_body: &[u8],
    endpoint: Destination<'_>,
    store: &Sealed<'_>,
    now: u64,
) -> Result<Caller, AuthError> {
    let (config, webhook_id) = verify(callers, headers, raw_body, now)?;
    bind(store, &config.id, &webhook_id, endpoint, raw_body, now)?;
    Ok(Caller::from_config(
        config,
        CredentialKind::Webhook { webhook_id },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{Entropy, KeyValue};
    use crate::store::sealed::StateKey;

    /// The check over a fixed sealing key.
    fn authenticate(
        callers: &[CallerConfig],
        headers: &HeaderMap,
        raw_body: &[u8],
        endpoint: Destination<'_>,
        kv: &dyn KeyValue,
        entropy: &dyn Entropy,
        now: u64,
    ) -> Result<Caller, AuthError> {
        let store = Sealed::with_key(kv, entropy, StateKey::from_material(&[7; 32], "state_key"));
        super::authenticate(callers, headers, raw_body, endpoint, &store, now)
    }
    use crate::api::Problem;
    use crate::config::Config;
    use crate::ports::HostError;
    use crate::testing::{MemoryKv, World};
    use crate::types::Scope;
    use http::HeaderValue;
    use std::time::Duration;

    /// The Standard Webhooks test vector (standard-webhooks spec, reference
    /// libraries' tests); verified independently with Python's `hmac`.
    const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const VECTOR_TS: u64 = 1_614_265_330;
    const VECTOR_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const VECTOR_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    /// A second secret (24 bytes of 0x01), for the `ops` caller.
    const OTHER_SECRET: &str = "whsec_AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB";

    fn secret_bytes(whsec: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(whsec.strip_prefix("whsec_").unwrap())
            .unwrap()
    }

    /// `a`: bearer only; `ops`: OTHER_SECRET with `phone`; `hook`: the
    /// vector's secret with `tap` (deliberately not first).
    fn world() -> (World, Config) {
        let mut w = World::configured();
        w.vars.insert(
            "callers".into(),
            format!(
                r#"[{{"id":"a","keySha256":"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8","scopes":["tap"]}},
                    {{"id":"ops","webhookSecret":"{OTHER_SECRET}","scopes":["phone"]}},
                    {{"id":"hook","webhookSecret":"{VECTOR_SECRET}","scopes":["tap"]}}]"#
            ),
        );
        let config = Config::load(&w.vars).unwrap();
        (w, config)
    }

    fn now(w: &World) -> u64 {
        crate::types::unix_secs(crate::ports::Clock::now(&w.clock))
    }

    fn headers(id: &str, ts: &str, sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(ID, HeaderValue::from_str(id).unwrap());
        h.insert(TIMESTAMP, HeaderValue::from_str(ts).unwrap());
        h.insert(SIGNATURE, HeaderValue::from_str(sig).unwrap());
        h
    }

    /// A delivery from `hook` signed now.
    fn signed(w: &World, id: &str, body: &[u8]) -> HeaderMap {
        let ts = now(w);
        let sig = sign(&secret_bytes(VECTOR_SECRET), id, ts, body);
        headers(id, &ts.to_string(), &sig)
    }

    const TAP: Destination<'static> = Destination::Mutation("tap");

    fn auth(w: &World, config: &Config, h: &HeaderMap, body: &[u8]) -> Result<Caller, AuthError> {
        auth_at(w, config, h, body, TAP)
    }

    fn auth_at(
        w: &World,
        config: &Config,
        h: &HeaderMap,
        body: &[u8],
        endpoint: Destination<'_>,
    ) -> Result<Caller, AuthError> {
        authenticate(
            &config.callers,
            h,
            body,
            endpoint,
            &w.kv,
            &w.entropy,
            now(w),
        )
    }

    #[test]
    fn the_standard_webhooks_test_vector_verifies() {
        let secret = secret_bytes(VECTOR_SECRET);
        assert_eq!(sign(&secret, VECTOR_ID, VECTOR_TS, VECTOR_BODY), VECTOR_SIG);

        let (w, config) = world();
        w.clock
            .0
            .set(std::time::UNIX_EPOCH + Duration::from_secs(VECTOR_TS));
        let h = headers(VECTOR_ID, &VECTOR_TS.to_string(), VECTOR_SIG);
        let caller = auth(&w, &config, &h, VECTOR_BODY).unwrap();
        assert_eq!(caller.id, "hook");
        assert_eq!(caller.scopes, [Scope::Tap].into());
        assert_eq!(
            caller.credential,
            CredentialKind::Webhook {
                webhook_id: VECTOR_ID.into()
            }
        );
    }

    #[test]
    fn any_one_valid_signature_suffices_wherever_it_is() {
        let (w, config) = world();
        let ts = now(&w);
        let good = sign(&secret_bytes(VECTOR_SECRET), "msg_1", ts, b"{}");
        let wrong = sign(&secret_bytes(VECTOR_SECRET), "msg_1", ts, b"{ }");
        let list = format!("v2,abc {wrong} v1,!!notbase64 v1a,xyz {good} v1,AAAA");
        let caller = auth(
            &w,
            &config,
            &headers("msg_1", &ts.to_string(), &list),
            b"{}",
        )
        .unwrap();
        assert_eq!(caller.id, "hook");

        // The other caller's secret finds the other caller.
        let sig = sign(&secret_bytes(OTHER_SECRET), "msg_2", ts, b"{}");
        let caller = auth(&w, &config, &headers("msg_2", &ts.to_string(), &sig), b"{}").unwrap();
        assert_eq!(caller.id, "ops");
        assert_eq!(caller.scopes, [Scope::Phone].into());

        // Unpadded base64 is accepted.
        let sig = sign(&secret_bytes(OTHER_SECRET), "msg_3", ts, b"{}");
        let unpadded = sig.trim_end_matches('=');
        assert!(auth(
            &w,
            &config,
            &headers("msg_3", &ts.to_string(), unpadded),
            b"{}"
        )
        .is_ok());
    }

    #[test]
    fn tampering_or_a_wrong_secret_is_an_invalid_signature() {
        let (w, config) = world();
        let h = signed(&w, "msg_1", br#"{"user":"a@contoso.com"}"#);
        let err = auth(&w, &config, &h, br#"{"user":"b@contoso.com"}"#).unwrap_err();
        assert_eq!(err, AuthError::InvalidSignature);
        assert_eq!(Problem::from(&err).detail, "invalid signature");

        let ts = now(&w);
        let forged = sign(b"not the secret at all, 24+", "msg_1", ts, b"{}");
        assert_eq!(
            auth(
                &w,
                &config,
                &headers("msg_1", &ts.to_string(), &forged),
                b"{}"
            ),
            Err(AuthError::InvalidSignature)
        );

        // A signature for another id or timestamp does not carry over.
        let other_id = sign(&secret_bytes(VECTOR_SECRET), "msg_0", ts, b"{}");
        assert_eq!(
            auth(
                &w,
                &config,
                &headers("msg_1", &ts.to_string(), &other_id),
                b"{}"
            ),
            Err(AuthError::InvalidSignature)
        );
        let other_ts = sign(&secret_bytes(VECTOR_SECRET), "msg_1", ts - 1, b"{}");
        assert_eq!(
            auth(
                &w,
                &config,
                &headers("msg_1", &ts.to_string(), &other_ts),
                b"{}"
            ),
            Err(AuthError::InvalidSignature)
        );
        assert!(w.kv.0.borrow().is_empty(), "a forgery claims nothing");
    }

    #[test]
    fn non_v1_signatures_alone_are_invalid() {
        let (w, config) = world();
        let ts = now(&w);
        let good = sign(&secret_bytes(VECTOR_SECRET), "msg_1", ts, b"{}");
        let as_v2 = good.replacen("v1,", "v2,", 1);
        let as_v1a = good.replacen("v1,", "v1a,", 1);
        for sig in [as_v2.as_str(), as_v1a.as_str(), "", "   ", ",", "v1,", "v1"] {
            assert_eq!(
                auth(&w, &config, &headers("msg_1", &ts.to_string(), sig), b"{}"),
                Err(AuthError::InvalidSignature),
                "{sig:?}"
            );
        }
    }

    #[test]
    fn timestamps_within_300_seconds_either_way_only() {
        let (w, config) = world();
        let secret = secret_bytes(VECTOR_SECRET);
        let n = now(&w);
        let at = |id: &str, ts: u64| {
            let h = headers(id, &ts.to_string(), &sign(&secret, id, ts, b"{}"));
            auth(&w, &config, &h, b"{}")
        };
        assert!(at("old-300", n - 300).is_ok());
        assert!(at("new-300", n + 300).is_ok());
        for (id, ts) in [("old-301", n - 301), ("new-301", n + 301), ("zero", 0)] {
            let err = at(id, ts).unwrap_err();
            assert_eq!(err, AuthError::TimestampOutsideTolerance, "{id}");
            let p = Problem::from(&err);
            assert_eq!(p.code.status(), 401);
            assert_eq!(p.detail, "webhook-timestamp is outside the 300 s tolerance");
        }
        let huge = headers("huge", "99999999999999999999999", "v1,AAAA");
        assert_eq!(
            auth(&w, &config, &huge, b"{}"),
            Err(AuthError::TimestampOutsideTolerance)
        );
    }

    #[test]
    fn each_missing_or_malformed_header_is_named() {
        let (w, config) = world();
        let full = signed(&w, "msg_1", b"{}");
        for name in [ID, TIMESTAMP, SIGNATURE] {
            let mut h = full.clone();
            h.remove(name);
            let err = auth(&w, &config, &h, b"{}").unwrap_err();
            assert_eq!(err, AuthError::MissingHeader(name));
            let p = Problem::from(&err);
            assert_eq!(p.detail, format!("missing header `{name}`"));
            assert_eq!(p.code.status(), 401);
        }

        let ts = now(&w).to_string();
        let long_id = "m".repeat(257);
        let cases: &[(&str, &[u8], &str)] = &[
            (ID, b"", ID),
            (ID, long_id.as_bytes(), ID),
            (ID, b"msg\t1", ID),
            (ID, b"msg\x801", ID),
            (TIMESTAMP, b"", TIMESTAMP),
            (TIMESTAMP, b"-5", TIMESTAMP),
            (TIMESTAMP, b"1614265330.5", TIMESTAMP),
            (TIMESTAMP, b" 1614265330", TIMESTAMP),
            (TIMESTAMP, b"2021-02-25T15:02:10Z", TIMESTAMP),
            (SIGNATURE, b"v1,\xff", SIGNATURE),
        ];
        for (name, value, named) in cases {
            let mut h = full.clone();
            h.insert(*name, HeaderValue::from_bytes(value).unwrap());
            let err = auth(&w, &config, &h, b"{}").unwrap_err();
            assert!(
                matches!(err, AuthError::InvalidHeader { header, .. } if header == *named),
                "{name}={:?} -> {err:?}",
                String::from_utf8_lossy(value)
            );
        }
        // 256 characters is fine (the signature then decides).
        let id = "m".repeat(256);
        let mut h = signed(&w, &id, b"{}");
        assert!(auth(&w, &config, &h, b"{}").is_ok());
        // A repeated header is ambiguous.
        h.append(TIMESTAMP, HeaderValue::from_str(&ts).unwrap());
        assert!(matches!(
            auth(&w, &config, &h, b"{}"),
            Err(AuthError::InvalidHeader {
                header: TIMESTAMP,
                ..
            })
        ));
    }

    #[test]
    fn an_id_is_bound_to_its_endpoint_and_body() {
        let (w, config) = world();
        let body = br#"{"user":"a@contoso.com","ticket":"INC1"}"#;
        let reset = Destination::Mutation("reset");
        let h = signed(&w, "msg_1", body);
        assert!(auth_at(&w, &config, &h, body, reset).is_ok());

        // The captured delivery sent to another endpoint: a replay, now and
        // an hour later, whatever happened to the first.
        assert_eq!(auth(&w, &config, &h, body), Err(AuthError::Replayed));
        w.clock.advance(Duration::from_secs(3600));
        let again = signed(&w, "msg_1", body);
        assert_eq!(auth(&w, &config, &again, body), Err(AuthError::Replayed));
        let p = Problem::from(AuthError::Replayed);
        assert_eq!(p.code.as_str(), "replayed_webhook");
        assert_eq!(p.code.status(), 401);

        // The sender's retry, re-signed an hour later: let in (the delivery
        // claim then finishes or replays the job).
        assert!(auth_at(&w, &config, &again, body, reset).is_ok());
        // The same id with another body: refused.
        let other = br#"{"user":"b@contoso.com","ticket":"INC1"}"#;
        let h = signed(&w, "msg_1", other);
        assert_eq!(
            auth_at(&w, &config, &h, other, reset),
            Err(AuthError::Replayed)
        );

        // A read is answered once per id.
        let read = Destination::Read("failures");
        let h = signed(&w, "msg_r", b"");
        assert!(auth_at(&w, &config, &h, b"", read).is_ok());
        assert_eq!(
            auth_at(&w, &config, &h, b"", read),
            Err(AuthError::Replayed)
        );

        // The binding is per caller: another sender may use the same id.
        let ts = now(&w);
        let sig = sign(&secret_bytes(OTHER_SECRET), "msg_1", ts, b"{}");
        assert!(auth(&w, &config, &headers("msg_1", &ts.to_string(), &sig), b"{}").is_ok());

        // The key hashes the id rather than embedding it.
        let kv = w.kv.0.borrow();
        let expected = format!(
            "webhook/seen/hook/{}",
            hex::encode(Sha256::digest(b"msg_1"))
        );
        assert!(kv.contains_key(&expected), "{:?}", kv.keys());
    }

    #[test]
    fn a_binding_lasts_72_hours_then_is_reclaimed_atomically() {
        let (w, config) = world();
        let phone = Destination::Mutation("phone");
        let h = signed(&w, "msg_1", b"{}");
        assert!(auth(&w, &config, &h, b"{}").is_ok());
        w.clock.advance(Duration::from_secs(DELIVERY_TTL_SECS - 1));
        let h = signed(&w, "msg_1", b"{}");
        assert_eq!(
            auth_at(&w, &config, &h, b"{}", phone),
            Err(AuthError::Replayed)
        );
        w.clock.advance(Duration::from_secs(1));
        let h = signed(&w, "msg_1", b"{}");
        assert!(
            auth_at(&w, &config, &h, b"{}", phone).is_ok(),
            "expired binding reclaimed"
        );
        assert_eq!(auth(&w, &config, &h, b"{}"), Err(AuthError::Replayed));

        // A record that does not open is ours to reclaim: garbage, or one
        // planted in the clear (here binding msg_3 to another body), which
        // is not believed; the binding then written is sealed.
        let key = seen_key("hook", "msg_2");
        w.kv.0.borrow_mut().insert(key, b"garbage".to_vec());
        let h = signed(&w, "msg_2", b"{}");
        assert!(auth(&w, &config, &h, b"{}").is_ok());
        let planted = format!(
            r#"{{"endpoint":"tap","bodySha256":"{}","expiresAt":{}}}"#,
            hex::encode(Sha256::digest(b"{\"other\":1}")),
            now(&w) + 600
        );
        w.kv.0
            .borrow_mut()
            .insert(seen_key("hook", "msg_3"), planted.into_bytes());
        let h = signed(&w, "msg_3", b"{}");
        assert!(auth(&w, &config, &h, b"{}").is_ok());
        assert!(w.kv.0.borrow()[&seen_key("hook", "msg_3")].starts_with(b"seal1."));
        let other = signed(&w, "msg_3", b"{\"other\":1}");
        assert_eq!(
            auth(&w, &config, &other, b"{\"other\":1}"),
            Err(AuthError::Replayed),
            "the planted binding let nothing in"
        );
    }

    /// A store whose compare-and-swap always loses and whose reads always
    /// show a live record: a concurrent duplicate.
    struct AlwaysSeen;
    impl KeyValue for AlwaysSeen {
        fn get(&self, _: &str) -> Result<Option<Vec<u8>>, HostError> {
            Ok(Some(br#"{"expiresAt":18446744073709551615}"#.to_vec()))
        }
        fn set(&self, _: &str, _: &[u8]) -> Result<(), HostError> {
            unreachable!("claims never use set")
        }
        fn delete(&self, _: &str) -> Result<(), HostError> {
            unreachable!()
        }
        fn compare_and_swap(&self, _: &str, _: Option<&[u8]>, _: &[u8]) -> Result<bool, HostError> {
            Ok(false)
        }
        fn increment(&self, _: &str, _: i64) -> Result<i64, HostError> {
            unreachable!()
        }
    }

    struct Down;
    impl KeyValue for Down {
        fn get(&self, _: &str) -> Result<Option<Vec<u8>>, HostError> {
            Err(HostError("store down".into()))
        }
        fn set(&self, _: &str, _: &[u8]) -> Result<(), HostError> {
            Err(HostError("store down".into()))
        }
        fn delete(&self, _: &str) -> Result<(), HostError> {
            Err(HostError("store down".into()))
        }
        fn compare_and_swap(&self, _: &str, _: Option<&[u8]>, _: &[u8]) -> Result<bool, HostError> {
            Err(HostError("store down".into()))
        }
        fn increment(&self, _: &str, _: i64) -> Result<i64, HostError> {
            Err(HostError("store down".into()))
        }
    }

    #[test]
    fn a_lost_claim_is_a_replay_and_a_dead_store_is_a_503() {
        let (w, config) = world();
        let h = signed(&w, "msg_1", b"{}");
        assert_eq!(
            authenticate(
                &config.callers,
                &h,
                b"{}",
                TAP,
                &AlwaysSeen,
                &w.entropy,
                now(&w)
            ),
            Err(AuthError::Replayed)
        );
        let err =
            authenticate(&config.callers, &h, b"{}", TAP, &Down, &w.entropy, now(&w)).unwrap_err();
        assert_eq!(Problem::from(&err).code.as_str(), "storage_unavailable");
        assert_eq!(Problem::from(&err).code.status(), 503);
    }

    #[test]
    fn never_panics_on_arbitrary_header_bytes() {
        let (w, config) = world();
        let kv = MemoryKv::default();
        let n = now(&w);
        let good_ts = n.to_string();
        let alphabet: Vec<u8> = b"v1,2 =+/AZaz09._-\t\x7f\x80\xff"
            .iter()
            .copied()
            .chain(good_ts.bytes())
            .collect();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..20_000u32 {
            let mut h = HeaderMap::new();
            for name in [ID, TIMESTAMP, SIGNATURE] {
                let r = next();
                if r % 11 == 0 {
                    continue; // sometimes absent
                }
                let len = (r >> 8) as usize % 60;
                let bytes: Vec<u8> = (0..len)
                    .map(|i| {
                        let x = r.rotate_left(i as u32 * 7);
                        if x & 7 == 0 {
                            (x >> 16) as u8
                        } else {
                            alphabet[(x >> 16) as usize % alphabet.len()]
                        }
                    })
                    .collect();
                let value = if name == TIMESTAMP && r % 3 == 0 {
                    good_ts.clone().into_bytes()
                } else {
                    bytes
                };
                if let Ok(v) = HeaderValue::from_bytes(&value) {
                    h.insert(name, v);
                }
            }
            let body = round.to_be_bytes();
            // Random bytes never carry a valid HMAC.
            assert!(
                authenticate(&config.callers, &h, &body, TAP, &kv, &w.entropy, n).is_err(),
                "{h:?}"
            );
        }
    }
}
