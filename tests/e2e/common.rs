//! What the operation tests share: calling the app, and reading what the
//! simulated tenant saw and the app's audit table holds.

use mfa_tests::{Reply, Sim, Spin};
use serde_json::Value;

/// `POST path` with a bearer key and any extra headers.
pub fn post(app: &Spin, path: &str, key: &str, body: &Value, extra: &[(&str, &str)]) -> Reply {
    let auth = format!("Bearer {key}");
    let mut h = vec![("authorization", auth.as_str())];
    h.extend_from_slice(extra);
    app.client().post_json(path, body, &h)
}

/// `GET path` with a bearer key and any extra headers.
pub fn get(app: &Spin, path: &str, key: &str, extra: &[(&str, &str)]) -> Reply {
    let auth = format!("Bearer {key}");
    let mut h = vec![("authorization", auth.as_str())];
    h.extend_from_slice(extra);
    app.client().send("GET", path, &h, None)
}

/// `GET /readyz` as a caller holding `audit:read`: the whole readiness
/// report, permissions and licences included.
pub fn readyz(app: &Spin) -> Value {
    let r = get(app, "/readyz", mfa_tests::demo::admin_key(), &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

/// A problem+json refusal with this status and code, naming `field`.
pub fn assert_refused(r: &Reply, status: u16, code: &str, field: &str, case: &str) {
    assert_eq!(r.status, status, "{case}: {}", r.body);
    assert_eq!(
        r.header("content-type"),
        Some("application/problem+json"),
        "{case}"
    );
    let p = r.json();
    assert_eq!(
        (p["code"].as_str(), p["field"].as_str()),
        (Some(code), Some(field)),
        "{case}"
    );
}

/// Graph writes (anything but GET and the token/batch envelopes) in the log.
pub fn writes(sim: &Sim) -> Vec<Value> {
    sim.requests()
        .into_iter()
        .filter(|r| r["kind"] == "graph" && r["method"] != "GET")
        .collect()
}

/// The methods the tenant holds for a user (`/_sim/state`).
pub fn methods_of(sim: &Sim, user_id: &str) -> Vec<Value> {
    let state = sim.state();
    state["users"]
        .as_array()
        .and_then(|users| users.iter().find(|u| u["id"] == user_id))
        .and_then(|u| u["methods"].as_array().cloned())
        .unwrap_or_default()
}

/// Rows of the audit table, read straight from the app's SQLite file.
pub fn audit_rows(app: &Spin) -> Vec<String> {
    let db = rusqlite::Connection::open(app.state_dir().join("sqlite_db.db")).unwrap();
    let mut stmt = db
        .prepare("SELECT audit_id, caller, operation, outcome, status, code, details, ticket, request_id FROM audit_records ORDER BY seq")
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok(format!(
                "{}|{}|{}|{}|{}|{:?}|{}|{:?}|{}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, Option<String>>(7)?,
                r.get::<_, String>(8)?,
            ))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// Standard Webhooks headers for `body`, signed now with the demo
/// `servicenow` secret (scopes tap, reset, phone).
pub fn webhook_headers(id: &str, body: &str) -> Vec<(String, String)> {
    use base64::Engine as _;
    let secret = base64::engine::general_purpose::STANDARD
        .decode(&mfa_tests::demo::webhook_secret()["whsec_".len()..])
        .unwrap();
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sig = mfa_core::auth::webhook::sign(&secret, id, ts, body.as_bytes());
    [
        ("content-type", "application/json".to_string()),
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", sig),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// POSTs a webhook delivery to `path`.
pub fn send_webhook(app: &Spin, path: &str, headers: &[(String, String)], body: &str) -> Reply {
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    app.client()
        .send("POST", path, &h, Some(body.as_bytes().to_vec()))
}

/// A real `redis-server` on a free loopback port, killed and reaped on drop,
/// with a minimal RESP client for looking at and editing what the app stored.
pub struct Redis {
    child: std::process::Child,
    port: u16,
}

impl Redis {
    /// Plain and unauthenticated on loopback (runtime-config/redis-local.toml).
    pub fn start() -> Redis {
        let port = Redis::free_port();
        let redis = Redis::spawn(port, &["--port", &port.to_string()]);
        redis.wait_until(
            || matches!(redis.try_command(&[b"PING"]), Ok(Resp::Simple(s)) if s == "PONG"),
        );
        redis
    }

    /// TLS only (a certificate for `localhost` from a CA made here, left in
    /// `dir` as `ca.crt`), the default user off, and `acl_user` (a
    /// `redis.conf` `user …` line) the one way in.
    pub fn start_tls(dir: &std::path::Path, acl_user: &str) -> Redis {
        use std::process::Command;
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .expect("openssl");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "1",
            "-subj",
            "/CN=mfa-recovery test CA",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        std::fs::write(dir.join("ext.cnf"), "subjectAltName=DNS:localhost\n").unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
        ]);
        let port = Redis::free_port();
        let conf = dir.join("redis.conf");
        let file = |f: &str| dir.join(f).display().to_string();
        std::fs::write(
            &conf,
            format!(
                "port 0\ntls-port {port}\ntls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\ntls-auth-clients no\nuser default off\n{acl_user}\n",
                file("server.crt"),
                file("server.key"),
                file("ca.crt"),
            ),
        )
        .unwrap();
        let redis = Redis::spawn(port, &[&conf.display().to_string()]);
        // Up once it refuses an anonymous PING over TLS.
        redis.wait_until(|| {
            Command::new("redis-cli")
                .args([
                    "--tls",
                    "--cacert",
                    &file("ca.crt"),
                    "-h",
                    "localhost",
                    "-p",
                    &port.to_string(),
                    "PING",
                ])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("NOAUTH"))
        });
        redis
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    fn spawn(port: u16, args: &[&str]) -> Redis {
        use std::process::{Command, Stdio};
        // Owned by `Redis` at once: dropped (killed and reaped) on any exit.
        Redis {
            child: Command::new("redis-server")
                .args(args)
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server (scripts/setup installs it)"),
            port,
        }
    }

    fn wait_until(&self, up: impl Fn() -> bool) {
        use std::time::{Duration, Instant};
        let deadline = Instant::now() + Duration::from_secs(10);
        while !up() {
            assert!(Instant::now() < deadline, "redis-server did not answer");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `runtime-config/redis-local.toml` pointed at this server, plus
    /// `extra` (e.g. a shared `[sqlite_database.default]`), written to `dir`.
    pub fn runtime_config(&self, dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
        let base =
            std::fs::read_to_string(mfa_tests::root().join("runtime-config/redis-local.toml"))
                .unwrap();
        assert!(base.contains("redis://127.0.0.1:6379"), "{base}");
        let config = base.replace(
            "redis://127.0.0.1:6379",
            &format!("redis://127.0.0.1:{}", self.port),
        ) + extra;
        let path = dir.join("runtime-config.toml");
        std::fs::write(&path, config).unwrap();
        path
    }

    fn try_command(&self, args: &[&[u8]]) -> std::io::Result<Resp> {
        use std::io::{BufReader, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port))?;
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            req.extend_from_slice(a);
            req.extend_from_slice(b"\r\n");
        }
        s.write_all(&req)?;
        Resp::read(&mut BufReader::new(s))
    }

    /// One command and its reply.
    pub fn command(&self, args: &[&[u8]]) -> Resp {
        self.try_command(args).expect("redis command")
    }

    /// Every key (`SCAN` to the end).
    pub fn keys(&self) -> Vec<String> {
        let mut cursor = b"0".to_vec();
        let mut out = Vec::new();
        loop {
            let Resp::Array(reply) = self.command(&[b"SCAN", &cursor, b"COUNT", b"1000"]) else {
                panic!("SCAN");
            };
            let (Resp::Bulk(Some(next)), Resp::Array(keys)) = (&reply[0], &reply[1]) else {
                panic!("SCAN reply");
            };
            for k in keys {
                if let Resp::Bulk(Some(k)) = k {
                    out.push(String::from_utf8(k.clone()).expect("keys are text"));
                }
            }
            if next == b"0" {
                out.sort();
                return out;
            }
            cursor = next.clone();
        }
    }

    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self.command(&[b"GET", key.as_bytes()]) {
            Resp::Bulk(v) => v,
            other => panic!("GET {key}: {other:?}"),
        }
    }

    /// `SET`, keeping the key's TTL as the app set it.
    pub fn set(&self, key: &str, value: &[u8]) {
        let r = self.command(&[b"SET", key.as_bytes(), value, b"KEEPTTL"]);
        assert!(
            matches!(r, Resp::Simple(ref s) if s == "OK"),
            "SET {key}: {r:?}"
        );
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Redis reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Resp {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Resp>),
}

impl Resp {
    fn read(r: &mut impl std::io::BufRead) -> std::io::Result<Resp> {
        let mut line = Vec::new();
        r.read_until(b'\n', &mut line)?;
        let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "RESP");
        if line.len() < 3 {
            return Err(bad());
        }
        let text = String::from_utf8_lossy(&line[1..line.len() - 2]).to_string();
        let n = || text.parse::<i64>().map_err(|_| bad());
        Ok(match line[0] {
            b'+' => Resp::Simple(text),
            b'-' => Resp::Error(text),
            b':' => Resp::Integer(n()?),
            b'$' if n()? < 0 => Resp::Bulk(None),
            b'$' => {
                let mut buf = vec![0u8; n()? as usize + 2];
                r.read_exact(&mut buf)?;
                buf.truncate(buf.len() - 2);
                Resp::Bulk(Some(buf))
            }
            b'*' => {
                let mut items = Vec::new();
                for _ in 0..n()?.max(0) {
                    items.push(Resp::read(r)?);
                }
                Resp::Array(items)
            }
            _ => return Err(bad()),
        })
    }
}
