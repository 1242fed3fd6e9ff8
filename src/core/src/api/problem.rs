//! RFC 9457 problem+json, built here once for every error the API returns.

use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use serde_json::{Map, Value};

use super::codes::ErrorCode;
use super::response::Response;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";
/// Base of the `type` URIs: each code's row in docs/api.md's table (a
/// test holds the table to `ErrorCode::ALL`).
const TYPE_BASE: &str = "https://github.com/mfa-recovery/mfa-recovery/blob/main/docs/api.md#error-";

/// An error answer: a contract code, a human `detail`, optional extension
/// members (`graphRequestId`, `removed`, …) and headers (`Retry-After`, `Allow`).
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub code: ErrorCode,
    pub detail: String,
    pub extensions: Map<String, Value>,
    pub headers: Vec<(HeaderName, String)>,
}

impl Problem {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Problem {
            code,
            detail: detail.into(),
            extensions: Map::new(),
            headers: Vec::new(),
        }
    }

    /// A refusal of one input member, named in `field` (API.md: a 400 names
    /// the field at fault).
    pub fn field(code: ErrorCode, field: &str, detail: impl Into<String>) -> Self {
        Problem::new(code, detail).with("field", field)
    }

    /// Adds an extension member. Reserved members cannot be overwritten.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        if !matches!(key, "type" | "title" | "status" | "detail" | "code") {
            self.extensions.insert(key.to_string(), value.into());
        }
        self
    }

    pub fn header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(&self) -> Value {
        let mut m = Map::new();
        m.insert(
            "type".into(),
            format!("{TYPE_BASE}{}", self.code.as_str()).into(),
        );
        m.insert("title".into(), self.code.title().into());
        m.insert("status".into(), self.code.status().as_u16().into());
        m.insert("detail".into(), self.detail.clone().into());
        m.insert("code".into(), self.code.as_str().into());
        for (k, v) in &self.extensions {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }

    pub fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut res = Response::new(body);
        *res.status_mut() = self.code.status();
        res.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_CONTENT_TYPE));
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                res.headers_mut().append(name, v);
            }
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::RETRY_AFTER;

    #[test]
    fn body_has_the_rfc_9457_members_and_the_code() {
        let p = Problem::new(ErrorCode::RateLimited, "60 requests per minute")
            .with("limit", 60)
            .with("status", 200)
            .header(RETRY_AFTER, "12");
        let res = p.into_response();
        assert_eq!(res.status(), 429);
        assert_eq!(res.headers()[CONTENT_TYPE], PROBLEM_CONTENT_TYPE);
        assert_eq!(res.headers()[RETRY_AFTER], "12");
        let v: Value = serde_json::from_slice(res.body()).unwrap();
        assert_eq!(v["code"], "rate_limited");
        assert_eq!(v["status"], 429);
        assert_eq!(v["title"], "Rate limit exceeded");
        assert_eq!(v["detail"], "60 requests per minute");
        assert_eq!(v["limit"], 60);
        assert!(v["type"].as_str().unwrap().ends_with("#error-rate_limited"));
    }
}
