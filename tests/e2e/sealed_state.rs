//! What the app keeps in the key-value store is sealed: one real
//! `redis-server` (runtime-config/redis-local.toml) read and edited behind
//! the app's back, as anyone who reaches an unprotected Redis could.
//! - The Graph token is not readable there.
//! - A forged or foreign role-holder record is not trusted: the guard reads
//!   the role holders from Graph again and a protected user stays protected.
//! - An edited token record is a cache miss: a new token is fetched before
//!   any Graph call; so is everything after `state_key` changes.
//! - The shipped Redis shape (TLS, ACL user and password) works.

use std::collections::BTreeSet;

use mfa_tests::{demo, demo_fixture, Sim, Spin};
use serde_json::{json, Value};

use crate::common::{self, Redis};
use crate::options;

const ADELE: &str = "adele.admin@contoso.com";
const ALICE: &str = "alice@contoso.com";
const TOKEN_PREFIX: &str = "graph/token/";
const HOLDERS_PREFIX: &str = "graph/privileged-principals/";
const LICENCES_PREFIX: &str = "graph/licences/";

/// One instance on `redis`; the per-user pass limit is lifted so a test
/// may ask for the same user several times.
fn app(sim: &Sim, redis: &Redis, dir: &std::path::Path) -> Spin {
    let mut o = options(
        &sim.url(),
        &[("rate_limits", Some(r#"{"tapPerUserPerDay":null}"#))],
    );
    o.runtime_config = Some(redis.runtime_config(dir, ""));
    Spin::start(o).unwrap_or_else(|e| panic!("{e:#}"))
}

fn tap(app: &Spin, user: &str) -> mfa_tests::Reply {
    common::post(
        app,
        "/v1/tap",
        demo::helpdesk_key(),
        &json!({ "user": user, "ticket": "INC-SEAL" }),
        &[],
    )
}

/// The one key starting with `prefix`.
fn key_with(redis: &Redis, prefix: &str) -> String {
    let keys = redis.keys();
    let found: Vec<&String> = keys.iter().filter(|k| k.starts_with(prefix)).collect();
    assert_eq!(found.len(), 1, "one {prefix}* key in {keys:?}");
    found[0].clone()
}

/// The fingerprints (`sha256:<12 hex>`) graph-sim logged for the bearer
/// tokens the app presented.
fn presented_tokens(sim: &Sim) -> BTreeSet<String> {
    sim.requests()
        .iter()
        .filter_map(|r| r["headers"]["authorization"].as_str())
        .filter_map(|a| a.strip_prefix("Bearer "))
        .map(str::to_string)
        .collect()
}

fn fingerprint(token: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", &hex::encode(sha2::Sha256::digest(token))[..12])
}

fn role_reads(sim: &Sim) -> usize {
    sim.requests()
        .iter()
        .filter(|r| {
            r["method"] == "GET"
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.contains("/roleManagement/directory/roleAssignments"))
        })
        .count()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn no_stored_value_reveals_the_graph_token_and_the_records_are_sealed() {
    let redis = Redis::start();
    let sim = Sim::start(&demo_fixture());
    let dir = tempfile::tempdir().unwrap();
    let app = app(&sim, &redis, dir.path());

    // Token, role holders and licences are all written by these.
    assert_eq!(common::readyz(&app)["graph"]["cached"], false);
    let r = tap(&app, ALICE);
    assert_eq!(r.status, 201, "{}", r.body);
    let r = tap(&app, ADELE);
    assert_eq!(r.status, 403, "{}", r.body);
    // A retried request's record: its outcome is stored for the retry.
    let keyed = |key: &str| {
        common::post(
            &app,
            "/v1/tap",
            demo::helpdesk_key(),
            &json!({ "user": ALICE, "ticket": "INC-SEAL" }),
            &[("idempotency-key", key)],
        )
    };
    assert_eq!(keyed("INC-SEAL-retry").status, 409);
    let again = keyed("INC-SEAL-retry");
    assert_eq!(
        again.header("idempotent-replayed"),
        Some("true"),
        "{}",
        again.body
    );

    let tokens = presented_tokens(&sim);
    assert!(!tokens.is_empty(), "graph-sim saw the app's token");
    let keys = redis.keys();
    assert!(!keys.is_empty());
    for key in &keys {
        let Some(value) = redis.get(key) else {
            continue; // not a string (none today)
        };
        let text = String::from_utf8_lossy(&value);
        for needle in ["eyJ", "access_token", "accessToken"] {
            assert!(!text.contains(needle), "{key} holds {needle:?}: {text}");
        }
        // No token-shaped run of the value is a token the app presented.
        for piece in value.split(|b| !(b.is_ascii_alphanumeric() || b"-_.~+/=".contains(b))) {
            if piece.len() >= 16 {
                assert!(
                    !tokens.contains(&fingerprint(piece)),
                    "{key} holds the Graph access token"
                );
            }
        }
    }
    // The cache records exist, and none is readable: not JSON, no field
    // name of the records they replace.
    for prefix in [TOKEN_PREFIX, HOLDERS_PREFIX, LICENCES_PREFIX] {
        let key = key_with(&redis, prefix);
        let value = redis.get(&key).unwrap();
        assert!(
            serde_json::from_slice::<Value>(&value).is_err(),
            "{key} is plain JSON: {}",
            String::from_utf8_lossy(&value)
        );
        let text = String::from_utf8_lossy(&value);
        for field in ["expiresAt", "refreshAt", "fetchedAt", "active"] {
            assert!(!text.contains(field), "{key} shows {field}: {text}");
        }
    }

    // The idempotency record is sealed too: neither its outcome nor its
    // body digest can be read, nor a forged one planted.
    let idem: Vec<String> = keys
        .iter()
        // (beside each, its create-once lock counter, a number)
        .filter(|k| k.starts_with("idem/") && !k.contains("\u{1f}creating:"))
        .cloned()
        .collect();
    assert!(!idem.is_empty(), "{keys:?}");
    for key in idem {
        let value = redis.get(&key).unwrap();
        assert!(
            value.starts_with(b"seal1."),
            "{key}: {}",
            String::from_utf8_lossy(&value)
        );
        let text = String::from_utf8_lossy(&value);
        for field in ["tap_exists", "bodySha256", "state"] {
            assert!(!text.contains(field), "{key} shows {field}");
        }
    }

    // What the app sealed still serves it: the token comes from the cache.
    assert_eq!(common::readyz(&app)["graph"]["cached"], true);
}

#[test]
fn a_forged_or_foreign_role_holder_record_is_not_trusted() {
    let redis = Redis::start();
    let sim = Sim::start(&demo_fixture());
    let dir = tempfile::tempdir().unwrap();
    let app = app(&sim, &redis, dir.path());

    // Adele is protected by her directory role alone (Global Administrator):
    // an empty role-holder set would leave her unprotected.
    let r = tap(&app, ADELE);
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["code"], "protected_user");
    assert!(role_reads(&sim) >= 1);
    let holders = key_with(&redis, HOLDERS_PREFIX);
    let licences = redis.get(&key_with(&redis, LICENCES_PREFIX)).unwrap();

    // What a Redis writer might put there.
    let empty = json!({
        "active": {}, "eligible": {}, "owners": {},
        "pim": { "consulted": true }, "fetchedAt": unix_now(),
    })
    .to_string()
    .into_bytes();
    let forgeries: Vec<(&str, Vec<u8>)> = vec![
        ("an empty set in the plaintext format", empty),
        ("arbitrary bytes", b"\x00\x01not a record\xff".to_vec()),
        ("the sealed licences record, copied", licences),
    ];
    for (what, bytes) in forgeries {
        redis.set(&holders, &bytes);
        sim.clear_requests();
        let r = tap(&app, ADELE);
        assert_eq!(r.status, 403, "{what}: {}", r.body);
        assert_eq!(r.json()["code"], "protected_user", "{what}");
        assert_eq!(role_reads(&sim), 1, "{what}: role holders read again");
        assert!(common::writes(&sim).is_empty(), "{what}: no pass created");
    }
}

#[test]
fn an_edited_token_record_is_a_miss_and_a_new_token_is_fetched() {
    let redis = Redis::start();
    let sim = Sim::start(&demo_fixture());
    let dir = tempfile::tempdir().unwrap();
    let app = app(&sim, &redis, dir.path());

    assert_eq!(common::readyz(&app)["graph"]["cached"], false);
    let key = key_with(&redis, TOKEN_PREFIX);
    let mut value = redis.get(&key).unwrap();
    let mid = value.len() / 2;
    value[mid] ^= 0x01;
    redis.set(&key, &value);

    sim.clear_requests();
    let ready = common::readyz(&app);
    assert_eq!(ready["graph"]["cached"], false, "{ready}");
    let r = tap(&app, ALICE);
    assert_eq!(r.status, 201, "{}", r.body);
    let log = sim.requests();
    let top: Vec<&Value> = log.iter().filter(|r| r["batchParent"].is_null()).collect();
    assert_eq!(
        top.first().map(|r| r["kind"].clone()),
        Some(json!("token")),
        "a new token first: {top:?}"
    );
    assert_eq!(
        top.iter().filter(|r| r["kind"] == "token").count(),
        1,
        "one new token, then cached"
    );
    assert!(
        log.iter().all(|r| r["status"] != 401),
        "the edited token never reached Graph"
    );
}

#[test]
fn a_new_state_key_only_costs_a_refetch() {
    let redis = Redis::start();
    let sim = Sim::start(&demo_fixture());
    let dir = tempfile::tempdir().unwrap();
    let before = app(&sim, &redis, dir.path());
    assert_eq!(common::readyz(&before)["graph"]["cached"], false);
    assert_eq!(tap(&before, ADELE).status, 403);
    drop(before);

    // Same Redis, `state_key` now set: nothing sealed before opens.
    let mut o = options(
        &sim.url(),
        &[(
            "state_key",
            Some("a-new-state-key-of-at-least-32-characters"),
        )],
    );
    o.runtime_config = Some(redis.runtime_config(dir.path(), ""));
    let after = Spin::start(o).unwrap_or_else(|e| panic!("{e:#}"));
    sim.clear_requests();
    assert_eq!(common::readyz(&after)["graph"]["cached"], false);
    assert_eq!(common::readyz(&after)["graph"]["cached"], true);
    let r = tap(&after, ADELE);
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        role_reads(&sim),
        1,
        "role holders read again under the new key"
    );
}

/// The shipped shape, on a local server: `rediss://` with an ACL user's
/// password (runtime-config/redis.toml) against a Redis that takes only
/// TLS and only that user, with the ACL rule of deploy/spinkube's redis.conf.
#[test]
fn the_app_runs_on_redis_over_tls_as_the_shipped_acl_user() {
    // URL-reserved characters, percent-encoded in the URL as documented.
    let password = "Tls+pass/w@rd:1";
    let encoded = "Tls%2Bpass%2Fw%40rd%3A1";
    let spinapp =
        std::fs::read_to_string(mfa_tests::root().join("deploy/spinkube/spinapp.yaml")).unwrap();
    let acl = spinapp
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("user mfa-recovery on >"))
        .expect("spinapp.yaml's redis.conf has the app's ACL user")
        .replace("REPLACE_WITH_REDIS_PASSWORD", password);
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start_tls(dir.path(), &acl);

    let shipped =
        std::fs::read_to_string(mfa_tests::root().join("runtime-config/redis.toml")).unwrap();
    let from = "REPLACE_WITH_REDIS_PASSWORD@mfa-recovery-redis.example.internal:6379";
    assert!(shipped.contains(&format!("rediss://mfa-recovery:{from}")));
    let rc = dir.path().join("runtime-config.toml");
    std::fs::write(
        &rc,
        shipped.replace(from, &format!("{encoded}@localhost:{}", redis.port())),
    )
    .unwrap();

    let sim = Sim::start(&demo_fixture());
    let mut o = options(&sim.url(), &[]);
    o.runtime_config = Some(rc);
    // The test CA, through OpenSSL's own variable: the certificate is
    // checked, as in production.
    o.env.insert(
        "SSL_CERT_FILE".into(),
        dir.path().join("ca.crt").display().to_string(),
    );
    let app = Spin::start(o).unwrap_or_else(|e| panic!("{e:#}"));

    assert_eq!(common::readyz(&app)["graph"]["cached"], false);
    assert_eq!(common::readyz(&app)["graph"]["cached"], true);
    let body = json!({ "user": ALICE, "ticket": "INC-TLS" });
    let key = [("idempotency-key", "INC-TLS-1")];
    let first = common::post(&app, "/v1/tap", demo::helpdesk_key(), &body, &key);
    assert_eq!(first.status, 201, "{}", first.body);
    let again = common::post(&app, "/v1/tap", demo::helpdesk_key(), &body, &key);
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));

    // It is all in that Redis, seen as the app's user.
    let out = std::process::Command::new("redis-cli")
        .args(["--tls", "--cacert"])
        .arg(dir.path().join("ca.crt"))
        .args(["-h", "localhost", "-p", &redis.port().to_string()])
        .args([
            "--user",
            "mfa-recovery",
            "--pass",
            password,
            "--no-auth-warning",
        ])
        .arg("--scan")
        .output()
        .unwrap();
    let keys = String::from_utf8_lossy(&out.stdout);
    for prefix in [TOKEN_PREFIX, HOLDERS_PREFIX] {
        assert!(
            keys.lines().any(|k| k.starts_with(prefix)),
            "{prefix}* in {keys}"
        );
    }
}
