//! A small blocking HTTP client for tests: every status is an answer, not an
//! error, so tests can assert on 4xx and 5xx bodies and headers.

use std::time::Duration;

use serde_json::Value;

#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
}

/// One HTTP answer, fully read.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// First header of that (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics with the body text when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): status {} body {}", self.status, self.body))
    }
}

impl Client {
    pub fn new(base: impl Into<String>) -> Client {
        Client::with_timeout(base, Duration::from_secs(60))
    }

    /// A client that waits up to `timeout` for a whole exchange (seeding a
    /// simulator with a million sign-ins takes minutes).
    pub fn with_timeout(base: impl Into<String>, timeout: Duration) -> Client {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build();
        Client {
            agent: ureq::Agent::new_with_config(config),
            base: base.into(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn get(&self, path: &str) -> Reply {
        self.send("GET", path, &[], None)
    }

    /// The status of a `GET`, or `None` when nothing answered (a listener
    /// still starting, or gone): for readiness probes, which retry.
    pub fn probe(&self, path: &str) -> Option<u16> {
        let url = format!("{}{}", self.base, path);
        self.agent
            .get(&url)
            .call()
            .ok()
            .map(|r| r.status().as_u16())
    }

    pub fn post_json(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Reply {
        let mut h = vec![("content-type", "application/json")];
        h.extend_from_slice(headers);
        self.send("POST", path, &h, Some(body.to_string().into_bytes()))
    }

    pub fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, &[], None)
    }

    /// Any method, any headers, optional raw body.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let url = format!("{}{}", self.base, path);
        let mut req = ureq::http::Request::builder().method(method).uri(&url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(body.unwrap_or_default())
            .expect("valid test request");
        let mut res = self
            .agent
            .run(req)
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let body = res
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .unwrap_or_default();
        Reply {
            status,
            headers,
            body,
        }
    }
}
