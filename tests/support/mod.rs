//! Test harness: builds the Spin app once per test run, starts `graph-sim`
//! and real `spin up` on free loopback ports with a fresh state directory,
//! and gives tests an HTTP client for both, the component logs, and the
//! simulator's request log and state.
//!
//! Nothing here imitates Spin: the app under test is what `spin build`
//! produced, served by the Spin CLI that `scripts/setup` found, configured
//! through `SPIN_VARIABLE_*` exactly as a deployment is.

mod http;
mod sim;
mod spin;

pub use http::{Client, Reply};
pub use sim::Sim;
pub use spin::{Spin, SpinOptions};

use std::path::{Path, PathBuf};

/// The workspace root (where `spin.toml` is).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
}

/// The demo tenant fixture of graph-sim.
pub fn demo_fixture() -> PathBuf {
    root().join("src/sim/fixtures/demo.json")
}

/// A simulator and an app wired to it, stopped (by process id) on drop.
pub struct Stack {
    pub sim: Sim,
    pub spin: Spin,
}

impl Stack {
    /// Demo tenant, demo configuration plus `overrides`.
    pub fn start(overrides: &[(&str, &str)]) -> Stack {
        Stack::start_with(SpinOptions::default(), overrides)
    }

    pub fn start_with(mut opts: SpinOptions, overrides: &[(&str, &str)]) -> Stack {
        let sim = Sim::start(&demo_fixture());
        opts.variables.extend(demo_variables(&sim.url()));
        for (k, v) in overrides {
            opts.variables.insert((*k).to_string(), (*v).to_string());
        }
        let spin = Spin::start(opts).unwrap_or_else(|e| panic!("spin up failed: {e:#}"));
        Stack { sim, spin }
    }
}

/// The demo tenant's app registration, read from the fixture itself so the
/// two never drift.
pub struct AppRegistration {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
}

pub fn demo_app() -> &'static AppRegistration {
    static APP: std::sync::OnceLock<AppRegistration> = std::sync::OnceLock::new();
    APP.get_or_init(|| {
        let text = std::fs::read_to_string(demo_fixture()).expect("demo fixture");
        let f: serde_json::Value = serde_json::from_str(&text).expect("demo fixture is JSON");
        let s = |v: &serde_json::Value| v.as_str().expect("fixture string").to_string();
        AppRegistration {
            tenant_id: s(&f["tenant"]["id"]),
            client_id: s(&f["apps"][0]["clientId"]),
            client_secret: s(&f["apps"][0]["clientSecret"]),
        }
    })
}

/// Demo callers' credentials (the same as `scripts/run-local` prints).
pub mod demo {
    /// Plain demo API keys; only their SHA-256 digests are configured.
    pub const HELPDESK_KEY: &str = "mfa_demo_helpdesk_5e1c0a9b7d3f4e2a";
    pub const ADMIN_KEY: &str = "mfa_demo_admin_8c2d4e6f0a1b3c5d";
    pub const READER_KEY: &str = "mfa_demo_reader_1a2b3c4d5e6f7a8b";
    pub const WEBHOOK_SECRET: &str = "whsec_ZGVtby13ZWJob29rLXNlY3JldC1mb3ItbWZhLXJlY292ZXJ5";
}

/// SHA-256 of a key, hex: what `callers` holds instead of the key.
pub fn sha256_hex(input: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(input.as_bytes()))
}

/// The configuration `scripts/run-local` uses, pointed at `sim_url`.
pub fn demo_variables(sim_url: &str) -> Vec<(String, String)> {
    let callers = serde_json::json!([
        { "id": "helpdesk", "keySha256": sha256_hex(demo::HELPDESK_KEY),
          "scopes": ["tap", "reset", "phone", "failures:read", "diagnose"] },
        { "id": "admin", "keySha256": sha256_hex(demo::ADMIN_KEY),
          "scopes": ["tap", "reset", "phone", "failures:read", "diagnose", "audit:read", "privileged"] },
        { "id": "reader", "keySha256": sha256_hex(demo::READER_KEY),
          "scopes": ["failures:read", "audit:read"] },
        { "id": "servicenow", "webhookSecret": demo::WEBHOOK_SECRET,
          "scopes": ["tap", "reset", "phone"] },
    ]);
    [
        ("tenant_id", demo_app().tenant_id.clone()),
        ("client_id", demo_app().client_id.clone()),
        ("client_secret", demo_app().client_secret.clone()),
        ("graph_endpoint", sim_url.to_string()),
        ("login_endpoint", sim_url.to_string()),
        ("callers", callers.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
