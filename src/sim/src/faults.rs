//! Injected faults (`POST /_sim/faults`): throttling, errors, latency, dropped connections.

use regex::Regex;
use serde::{Deserialize, Serialize};

/// One queued fault; applies to the next `count` matching requests, top-level or
/// inside a `$batch` (rule 12), without touching state — unless `commit` is set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fault {
    /// Regex on the decoded path as Graph saw it, e.g. `^/v1\.0/users/[^/]+$`.
    pub path_pattern: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    #[serde(default = "one")]
    pub count: u32,
    /// Matching requests let through untouched before the fault applies
    /// (e.g. `1`: the second page of a list is slow, not the first).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skip: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default)]
    pub latency_ms: u64,
    #[serde(default)]
    pub connection_reset: bool,
    /// The request runs normally (its write takes effect) and only its answer is replaced
    /// by `status` or a dropped connection: the ambiguous failure of a 504 Gateway Timeout,
    /// "did not receive a timely response from the upstream server"
    /// (https://learn.microsoft.com/graph/errors), after the backend committed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub commit: bool,
    #[serde(skip)]
    pub regex: Option<Regex>,
}

fn one() -> u32 {
    1
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Fault {
    pub fn compile(mut self) -> Result<Fault, String> {
        let re = Regex::new(&self.path_pattern).map_err(|e| format!("pathPattern: {e}"))?;
        if self.count == 0 {
            return Err("count must be >= 1".into());
        }
        if self.status.is_none() && self.latency_ms == 0 && !self.connection_reset {
            return Err("a fault needs status, latencyMs or connectionReset".into());
        }
        if self.commit && self.status.is_none() && !self.connection_reset {
            return Err("commit needs status or connectionReset (the answer it replaces)".into());
        }
        if let Some(s) = self.status {
            if !(400..=599).contains(&s) {
                return Err("status must be 400..=599".into());
            }
        }
        self.regex = Some(re);
        Ok(self)
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.regex.as_ref().is_some_and(|r| r.is_match(path))
    }

    /// Graph's code for the injected status when none is given.
    pub fn code(&self) -> String {
        if let Some(c) = &self.error_code {
            return c.clone();
        }
        match self.status.unwrap_or(500) {
            429 => "TooManyRequests",
            503 => "ServiceUnavailable",
            504 => "GatewayTimeout",
            502 => "BadGateway",
            500 => "InternalServerError",
            401 => "InvalidAuthenticationToken",
            403 => "Authorization_RequestDenied",
            404 => "Request_ResourceNotFound",
            _ => "BadRequest",
        }
        .to_string()
    }
}

/// Takes one use of the first matching fault, dropping it when used up.
pub fn take(faults: &mut Vec<Fault>, method: &str, path: &str) -> Option<Fault> {
    let i = faults.iter().position(|f| f.matches(method, path))?;
    if faults[i].skip > 0 {
        faults[i].skip -= 1;
        return None;
    }
    let f = faults[i].clone();
    faults[i].count -= 1;
    if faults[i].count == 0 {
        faults.remove(i);
    }
    Some(f)
}
