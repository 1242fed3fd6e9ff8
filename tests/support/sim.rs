//! `graph-sim` as a child process on a free loopback port.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use serde_json::{json, Value};

use super::http::Client;

pub struct Sim {
    child: Child,
    url: String,
    client: Client,
}

/// Built once per test run; `SIM_RELEASE=1` (benchmarks) builds it
/// optimised, so the simulator is not what is measured.
fn binary() -> &'static Path {
    static BIN: OnceLock<std::path::PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let release = std::env::var_os("SIM_RELEASE").is_some();
        let mut args = vec!["build", "--quiet", "-p", "graph-sim", "--bin", "graph-sim"];
        if release {
            args.push("--release");
        }
        let status = Command::new(env!("CARGO"))
            .args(&args)
            .current_dir(super::root())
            .status()
            .expect("cargo build graph-sim");
        assert!(status.success(), "building graph-sim failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| super::root().join("target"));
        target
            .join(if release { "release" } else { "debug" })
            .join("graph-sim")
    })
}

impl Sim {
    pub fn start(fixture: &Path) -> Sim {
        let mut child = Command::new(binary())
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--fixture")
            .arg(fixture)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start graph-sim");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut first)
            .expect("graph-sim prints its address");
        let url = first
            .trim()
            .strip_prefix("graph-sim listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from graph-sim: {first:?}"))
            .to_string();
        let client = Client::new(url.clone());
        Sim { child, url, client }
    }

    /// `http://127.0.0.1:PORT`: both `graph_endpoint` and `login_endpoint`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Every request Graph saw, in order (control calls excluded).
    pub fn requests(&self) -> Vec<Value> {
        let r = self.client.get("/_sim/requests");
        assert_eq!(r.status, 200, "{}", r.body);
        r.json().as_array().cloned().unwrap_or_default()
    }

    /// How many token requests the login endpoint answered.
    pub fn token_requests(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r["kind"] == "token")
            .count()
    }

    /// What reached Graph since the log was last cleared.
    pub fn traffic(&self) -> Traffic {
        let log = self.requests();
        let top: Vec<&Value> = log.iter().filter(|r| r["batchParent"].is_null()).collect();
        let kind = |k: &str| top.iter().filter(|r| r["kind"] == k).count();
        Traffic {
            round_trips: top.len(),
            sequential: sequential(&top),
            batches: kind("batch"),
            tokens: kind("token"),
            writes: log
                .iter()
                .filter(|r| r["kind"] == "graph" && r["method"] != "GET")
                .count(),
        }
    }

    /// Every top-level request (Graph, `$batch`, token) waits `ms` before
    /// it is handled: one network round trip (`POST /_sim/latency`; kept
    /// across resets).
    pub fn latency(&self, ms: u64) {
        let r = self
            .client
            .post_json("/_sim/latency", &json!({ "ms": ms }), &[]);
        assert_eq!(r.status, 200, "{}", r.body);
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        assert_eq!(self.client.delete("/_sim/faults").status, 200);
    }

    pub fn clear_requests(&self) {
        assert_eq!(self.client.delete("/_sim/requests").status, 200);
    }

    /// The simulated tenant as it is now.
    pub fn state(&self) -> Value {
        let r = self.client.get("/_sim/state");
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    }

    pub fn reset(&self) {
        let r = self.client.post_json("/_sim/reset", &json!({}), &[]);
        assert_eq!(r.status, 200, "{}", r.body);
    }

    /// Re-seeds from the demo fixture after `edit` (clears the log, faults
    /// and tokens, like [`Sim::reset`]).
    pub fn reseed(&self, edit: impl FnOnce(&mut Value)) {
        let mut f: Value =
            serde_json::from_str(&std::fs::read_to_string(crate::demo_fixture()).unwrap()).unwrap();
        edit(&mut f);
        let seeding = Client::with_timeout(self.url(), std::time::Duration::from_secs(1800));
        let r = seeding.post_json("/_sim/reset", &f, &[]);
        assert_eq!(r.status, 200, "{}", r.body);
    }

    /// Queue a fault (see src/sim/README.md).
    pub fn fault(&self, fault: Value) {
        let r = self.client.post_json("/_sim/faults", &fault, &[]);
        assert!(r.status < 300, "{}", r.body);
    }

    /// Sets real-tenant quirks (`membershipPageSize`, `rolePageSize`,
    /// `replicationLagReads`; see src/sim/README.md) until the next reset.
    pub fn quirks(&self, quirks: Value) {
        let r = self.client.post_json("/_sim/quirks", &quirks, &[]);
        assert!(r.status < 300, "{}", r.body);
    }

    /// Changes what the tenant grants the app `client_id`: tokens issued
    /// afterwards carry these `roles`.
    pub fn grant(&self, client_id: &str, permissions: &[&str]) {
        let r = self.client.post_json(
            &format!("/_sim/apps/{client_id}/permissions"),
            &json!({ "permissions": permissions }),
            &[],
        );
        assert!(r.status < 300, "{}", r.body);
    }

    /// An access token of this tenant from `POST /_sim/tokens` (`spec`:
    /// roles, audience, delegated, forge, ...; see src/sim/README.md).
    pub fn token(&self, spec: Value) -> String {
        let r = self.client.post_json("/_sim/tokens", &spec, &[]);
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["token"].as_str().unwrap().to_string()
    }

    /// Which signing keys the tenant publishes (`current`, `next`, `other`).
    pub fn publish_keys(&self, names: &[&str]) {
        let r = self
            .client
            .post_json("/_sim/signing-keys", &json!({ "published": names }), &[]);
        assert_eq!(r.status, 200, "{}", r.body);
    }

    /// How many times the app read the tenant's signing keys.
    pub fn key_reads(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r["kind"] == "keys")
            .count()
    }

    pub fn advance_clock(&self, seconds: u64) {
        let r = self
            .client
            .post_json("/_sim/clock", &json!({ "advanceSeconds": seconds }), &[]);
        assert!(r.status < 300, "{}", r.body);
    }
}

/// One user of a fixture, by UPN, to edit before [`Sim::reseed`].
pub fn fixture_user<'a>(fixture: &'a mut Value, upn: &str) -> &'a mut Value {
    fixture["users"]
        .as_array_mut()
        .expect("users")
        .iter_mut()
        .find(|u| u["userPrincipalName"] == upn)
        .unwrap_or_else(|| panic!("no {upn} in the fixture"))
}

/// Gives `to` copies of `from`'s methods of the given types (`fido2`,
/// `phone:mobile`, ...) and `from`'s default method id: a user with exactly
/// the methods a benchmark or test wants.
pub fn copy_methods(fixture: &mut Value, from: &str, to: &str, types: &[&str]) {
    let source = fixture_user(fixture, from).clone();
    let odata = |name: &str| format!("#microsoft.graph.{name}AuthenticationMethod");
    let picked: Vec<Value> = types
        .iter()
        .map(|t| {
            let (name, phone) = t.split_once(':').map_or((*t, None), |(a, b)| (a, Some(b)));
            source["methods"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| {
                    m["@odata.type"] == odata(name) && phone.is_none_or(|p| m["phoneType"] == p)
                })
                .unwrap_or_else(|| panic!("{from} has no {t}"))
                .clone()
        })
        .collect();
    let user = fixture_user(fixture, to);
    let mut all = user["methods"].as_array().cloned().unwrap_or_default();
    all.extend(picked);
    user["methods"] = Value::Array(all);
    if !types.is_empty() {
        user["defaultMethodId"] = source["defaultMethodId"].clone();
    }
}

/// The longest chain of requests each sent after the previous one was
/// answered (graph-sim's `seq` and `answeredSeq`): what a caller waits for
/// when every round trip costs the same. Requests sent together count once.
fn sequential(top: &[&Value]) -> usize {
    let mut sorted: Vec<(u64, u64)> = top
        .iter()
        .map(|r| {
            let seq = r["seq"].as_u64().unwrap_or(0);
            (seq, r["answeredSeq"].as_u64().unwrap_or(seq))
        })
        .collect();
    sorted.sort();
    let mut depth: Vec<usize> = Vec::with_capacity(sorted.len());
    for (i, (seq, _)) in sorted.iter().enumerate() {
        let before = (0..i)
            .filter(|&j| sorted[j].1 < *seq)
            .map(|j| depth[j])
            .max()
            .unwrap_or(0);
        depth.push(before + 1);
    }
    depth.into_iter().max().unwrap_or(0)
}

/// Requests counted from the simulator's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traffic {
    /// HTTP requests to Graph and its login endpoint; a `$batch` is one.
    pub round_trips: usize,
    /// Round trips one after another (requests in flight together count
    /// once); meaningful when graph-sim adds a latency, so that requests
    /// sent together overlap.
    pub sequential: usize,
    pub batches: usize,
    pub tokens: usize,
    /// Requests that change the tenant (inside a `$batch` too).
    pub writes: usize,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
