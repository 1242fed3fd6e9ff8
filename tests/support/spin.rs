//! The app under test: `spin build` once per run, then real `spin up`.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::http::Client;

/// The Spin CLI `scripts/setup` chose (or `SPIN_BIN`, or `spin` on PATH).
pub fn spin_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SPIN_BIN") {
        return p.into();
    }
    let local = super::root().join(".tools/bin/spin");
    if local.exists() {
        return local;
    }
    PathBuf::from("spin")
}

/// `spin build` for every component, once per test run.
pub fn build_once() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = Command::new(spin_bin())
            .arg("build")
            .current_dir(super::root())
            .output()
            .expect("run `spin build` (run scripts/setup first)");
        assert!(
            out.status.success(),
            "spin build failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

#[derive(Default, Clone)]
pub struct SpinOptions {
    /// Application variables, passed as `SPIN_VARIABLE_<NAME>`.
    pub variables: BTreeMap<String, String>,
    /// Reuse a state directory (key-value store, SQLite, logs); else fresh.
    pub state_dir: Option<PathBuf>,
    pub runtime_config: Option<PathBuf>,
    /// Further environment of `spin up` (e.g. `SSL_CERT_FILE` for a test CA).
    pub env: BTreeMap<String, String>,
    /// Another manifest than the workspace's `spin.toml` (a benchmark
    /// pointing at other builds); still built by `spin build` first.
    pub manifest: Option<PathBuf>,
}

pub struct Spin {
    /// `None` once stopped: a reaped child's pid may already belong to
    /// another process group (pids wrap at 32768 on a busy machine), so the
    /// group is signalled exactly once, while its leader is unreaped.
    child: Option<Child>,
    ready_after: Duration,
    client: Client,
    state_dir: PathBuf,
    _fresh: Option<tempfile::TempDir>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Spin {
    /// Starts `spin up` and waits until `/healthz` answers; fails with Spin's
    /// own output if it exits first (e.g. a required variable is missing).
    pub fn start(opts: SpinOptions) -> Result<Spin> {
        build_once();
        let (state_dir, fresh) = match &opts.state_dir {
            Some(p) => (p.clone(), None),
            None => {
                let t = tempfile::Builder::new().prefix("mfa-spin-").tempdir()?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        std::fs::create_dir_all(&state_dir)?;
        let mut last_err = None;
        // A port picked free can be taken before Spin binds it: retry.
        for _ in 0..3 {
            match Spin::spawn(&opts, &state_dir) {
                Ok((child, client, ready_after)) => {
                    return Ok(Spin {
                        child: Some(child),
                        ready_after,
                        client,
                        state_dir,
                        _fresh: fresh,
                    })
                }
                Err(e) if format!("{e:#}").contains("in use") => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.expect("at least one attempt"))
    }

    fn spawn(opts: &SpinOptions, state_dir: &Path) -> Result<(Child, Client, Duration)> {
        let port = free_port();
        let out = std::fs::File::create(state_dir.join("spin-up.stdout"))?;
        let err = std::fs::File::create(state_dir.join("spin-up.stderr"))?;
        let mut cmd = Command::new(spin_bin());
        cmd.arg("up")
            .arg("--from")
            .arg(
                opts.manifest
                    .clone()
                    .unwrap_or_else(|| super::root().join("spin.toml")),
            )
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--state-dir")
            .arg(state_dir);
        if let Some(rc) = &opts.runtime_config {
            cmd.arg("--runtime-config-file").arg(rc);
        }
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("SPIN_VARIABLE_") {
                cmd.env_remove(k);
            }
        }
        for (k, v) in &opts.variables {
            cmd.env(format!("SPIN_VARIABLE_{}", k.to_ascii_uppercase()), v);
        }
        cmd.envs(&opts.env);
        let started = Instant::now();
        // Its own process group: `spin up` starts `spin trigger` children,
        // and stopping the test must stop them too.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .context("spawn spin up")?;
        let client = Client::new(format!("http://127.0.0.1:{port}"));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait()? {
                let stderr = std::fs::read_to_string(state_dir.join("spin-up.stderr"))?;
                bail!("spin up exited with {status}: {stderr}");
            }
            // A probe that finds nothing listening (yet) tries again.
            if client.probe("/healthz") == Some(200) {
                return Ok((child, client, started.elapsed()));
            }
            if Instant::now() > deadline {
                kill_group(&mut child);
                bail!("spin up did not answer /healthz within 60 s");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// From process start to the first `200` on `/healthz` (cold start).
    pub fn ready_after(&self) -> Duration {
        self.ready_after
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Everything the components and Spin printed so far: the component
    /// stdout/stderr files under `<state-dir>/logs` and Spin's own output.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.state_dir.join("logs"))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.push(self.state_dir.join("spin-up.stdout"));
        files.push(self.state_dir.join("spin-up.stderr"));
        files.sort();
        for f in files {
            if let Ok(text) = std::fs::read_to_string(&f) {
                all.push_str(&format!("==> {}\n{text}\n", f.display()));
            }
        }
        all
    }

    /// Stops Spin and the trigger processes it started, and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(&mut child);
        }
    }
}

/// Kills the process group `child` leads (see [`Spin::spawn`]), then reaps
/// it. Only for a child not yet reaped: until then its pid cannot be reused.
fn kill_group(child: &mut Child) {
    if !matches!(child.try_wait(), Ok(None)) {
        // Exited: reaped now; its group may already be gone or reused.
        return;
    }
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg("--")
        .arg(format!("-{}", child.id()))
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Spin {
    fn drop(&mut self) {
        self.stop();
    }
}
