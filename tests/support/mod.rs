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
pub use sim::{copy_methods, fixture_user, Sim, Traffic};
pub use spin::{build_once, spin_bin, Spin, SpinOptions};

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
    /// The "Break-glass / protected" group: `protected_group_id` of the demo.
    pub protected_group_id: String,
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
            protected_group_id: f["groups"]
                .as_array()
                .and_then(|g| {
                    g.iter()
                        .find(|g| g["displayName"] == "Break-glass / protected")
                })
                .map(|g| s(&g["id"]))
                .expect("demo fixture has the protected group"),
        }
    })
}

/// Demo callers' credentials, read from `scripts/demo.env` (the file
/// `scripts/run-local` sources), so the printed curl calls and the tests agree.
pub mod demo {
    use std::collections::HashMap;
    use std::sync::OnceLock;

    fn env() -> &'static HashMap<String, String> {
        static ENV: OnceLock<HashMap<String, String>> = OnceLock::new();
        ENV.get_or_init(|| {
            let text = std::fs::read_to_string(super::root().join("scripts/demo.env"))
                .expect("scripts/demo.env");
            text.lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect()
        })
    }

    fn get(name: &str) -> &'static str {
        env()
            .get(name)
            .unwrap_or_else(|| panic!("{name} in scripts/demo.env"))
    }

    /// Scopes tap, reset, phone, failures:read, diagnose.
    pub fn helpdesk_key() -> &'static str {
        get("DEMO_HELPDESK_KEY")
    }
    /// Every scope, including privileged and audit:read.
    pub fn admin_key() -> &'static str {
        get("DEMO_ADMIN_KEY")
    }
    /// failures:read and audit:read only.
    pub fn reader_key() -> &'static str {
        get("DEMO_READER_KEY")
    }
    /// Caller `servicenow` (tap, reset, phone) signs webhooks with this.
    pub fn webhook_secret() -> &'static str {
        get("DEMO_WEBHOOK_SECRET")
    }
}

/// SHA-256 of a key, hex: what `callers` holds instead of the key.
pub fn sha256_hex(input: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(input.as_bytes()))
}

/// The configuration `scripts/run-local` uses, pointed at `sim_url`.
pub fn demo_variables(sim_url: &str) -> Vec<(String, String)> {
    let callers = serde_json::json!([
        { "id": "helpdesk", "keySha256": sha256_hex(demo::helpdesk_key()),
          "scopes": ["tap", "reset", "phone", "failures:read", "diagnose"] },
        { "id": "admin", "keySha256": sha256_hex(demo::admin_key()),
          "scopes": ["tap", "reset", "phone", "failures:read", "diagnose", "audit:read", "privileged"] },
        { "id": "reader", "keySha256": sha256_hex(demo::reader_key()),
          "scopes": ["failures:read", "audit:read"] },
        { "id": "servicenow", "webhookSecret": demo::webhook_secret(),
          "scopes": ["tap", "reset", "phone"] },
    ]);
    [
        ("tenant_id", demo_app().tenant_id.clone()),
        ("client_id", demo_app().client_id.clone()),
        ("client_secret", demo_app().client_secret.clone()),
        ("graph_endpoint", sim_url.to_string()),
        ("login_endpoint", sim_url.to_string()),
        ("callers", callers.to_string()),
        ("protected_group_id", demo_app().protected_group_id.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
