//! `graph-sim`: a strict simulated Microsoft Entra ID / Microsoft Graph tenant.
//!
//! One HTTP/1.1 server serves Graph v1.0 (every operation of the OpenAPI subset
//! in `openapi/`), a few beta paths, `$batch`, the client-credentials login
//! endpoint, and a control API under `/_sim/`. It refuses what real Graph refuses
//! (each rule and its source: `README.md` beside this crate; "§N" cites the
//! project's collected Graph facts).
//!
//! Map of the crate:
//! - [`server`]: HTTP front door; [`graph`]: the per-request pipeline; [`batch`]: `$batch`.
//! - [`openapi`]: routing table and request validation; [`filter`]: `$filter`.
//! - [`auth`]: token issue/check and permissions; [`faults`]: injected faults.
//! - [`state`] and [`fixture`]: the tenant; [`routes`]: operation handlers.
//! - [`control`]: `/_sim/*`; [`reqlog`]: the request log; [`errors`]: Graph error bodies.

pub mod auth;
pub mod batch;
pub mod clock;
pub mod control;
pub mod errors;
pub mod faults;
pub mod filter;
pub mod fixture;
pub mod graph;
pub mod headers;
pub mod openapi;
pub mod reqlog;
pub mod routes;
pub mod server;
pub mod signing;
pub mod state;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context;
use serde_json::Value;

/// The demo tenant shipped with the crate (`fixtures/demo.json`).
pub const DEMO_FIXTURE: &str = include_str!("../fixtures/demo.json");
/// A tenant without Entra ID P1 (`fixtures/no-premium.json`).
pub const NO_PREMIUM_FIXTURE: &str = include_str!("../fixtures/no-premium.json");
/// The demo tenant with Entra ID P1 but not P2 (`fixtures/p1-only.json`): PIM reads answer 400.
pub const P1_ONLY_FIXTURE: &str = include_str!("../fixtures/p1-only.json");

/// Shared simulator: the tenant behind one lock, never held across an await.
pub struct Sim {
    state: Mutex<state::State>,
    fixture_path: Option<PathBuf>,
}

impl Sim {
    pub fn lock(&self) -> MutexGuard<'_, state::State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The fixture `POST /_sim/reset` re-seeds from: the file if one was given (re-read), else the original.
    pub fn reload_fixture(&self) -> anyhow::Result<Value> {
        match &self.fixture_path {
            Some(p) => read_fixture(p),
            None => Ok(self.lock().fixture_doc.clone()),
        }
    }
}

pub fn read_fixture(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading fixture {}", path.display()))?;
    fixture::parse(&text)
}

pub fn base_url(addr: SocketAddr) -> String {
    let ip = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    format!("http://{ip}:{}", addr.port())
}

/// Serves a fixture on an already-bound listener until the process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    fixture: Value,
    fixture_path: Option<PathBuf>,
) -> anyhow::Result<()> {
    let base = base_url(listener.local_addr()?);
    let st = fixture::build_state(&fixture, &base)?;
    let sim = Arc::new(Sim {
        state: Mutex::new(st),
        fixture_path,
    });
    server::run(listener, sim).await
}

/// A simulator running on its own thread (for in-process tests).
pub struct Running {
    pub base_url: String,
    pub addr: SocketAddr,
}

/// Binds `127.0.0.1:0`, starts the server on a background runtime, returns once it accepts.
pub fn spawn(fixture: Value, fixture_path: Option<PathBuf>) -> anyhow::Result<Running> {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    // Build the state up front so a bad fixture fails the caller, not the thread.
    fixture::build_state(&fixture, &base_url(addr))?;
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
            if let Err(e) = serve(listener, fixture, fixture_path).await {
                eprintln!("graph-sim stopped: {e:#}");
            }
        });
    });
    Ok(Running {
        base_url: base_url(addr),
        addr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `p1-only.json` is `demo.json` with `premiumP2: false` (and its own comment).
    #[test]
    fn p1_only_fixture_tracks_demo() {
        let mut demo = fixture::parse(DEMO_FIXTURE).unwrap();
        let mut p1 = fixture::parse(P1_ONLY_FIXTURE).unwrap();
        assert_eq!(p1["tenant"]["premium"], true);
        assert_eq!(p1["tenant"]["premiumP2"], false);
        for f in [&mut demo, &mut p1] {
            f.as_object_mut().unwrap().remove("$comment");
            f["tenant"].as_object_mut().unwrap().remove("premiumP2");
        }
        assert_eq!(demo, p1, "p1-only.json drifted from demo.json");
    }
}
