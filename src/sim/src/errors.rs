//! Graph error bodies and status codes, built in one place (FACTS §10).

use serde_json::{json, Value};

/// A Graph refusal: status, `error.code`, message. Serialised by [`GraphError::body`]
/// into `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`.
#[derive(Debug, Clone)]
pub struct GraphError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// Repeated inside `innerError.message`, as the default-method refusal does (FACTS §4).
    pub inner_message: Option<String>,
    pub retry_after: Option<u64>,
    pub headers: Vec<(String, String)>,
}

impl GraphError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        GraphError {
            status,
            code: code.to_string(),
            message: message.into(),
            inner_message: None,
            retry_after: None,
            headers: Vec::new(),
        }
    }

    /// OData-layer refusals (routing, query, payload) use `BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// Credential-service refusals (methods, TAP, phone) use lower-case `badRequest` (FACTS §3–§5).
    pub fn method_bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "badRequest", message)
    }

    /// FACTS §2: `Request_ResourceNotFound` with the "does not exist" message.
    pub fn resource_not_found(what: &str) -> Self {
        Self::new(
            404,
            "Request_ResourceNotFound",
            format!(
                "Resource '{what}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    pub fn item_not_found() -> Self {
        Self::new(404, "itemNotFound", "The requested resource was not found.")
    }

    /// FACTS §10: `Authorization_RequestDenied` for a missing permission.
    pub fn denied() -> Self {
        Self::new(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }

    /// PIM reads on a tenant without Entra ID P2 / ID Governance, as observed in
    /// https://github.com/maester365/maester/issues/1421 (v1.0 roleEligibilityScheduleInstances;
    /// also reported for PIM for Groups and roleAssignmentScheduleInstances:
    /// https://github.com/cisagov/ScubaGear/issues/981).
    pub fn p2_required() -> Self {
        Self::new(
            400,
            "AadPremiumLicenseRequired",
            "The tenant needs to have Microsoft Entra ID P2 or Microsoft Entra ID Governance license.",
        )
    }

    pub fn unsupported_query(message: impl Into<String>) -> Self {
        Self::new(400, "Request_UnsupportedQuery", message)
    }

    pub fn throttled(retry_after: u64) -> Self {
        let mut e = Self::new(429, "TooManyRequests", "Please retry again later.");
        e.retry_after = Some(retry_after);
        e
    }

    pub fn with_inner_message(mut self) -> Self {
        self.inner_message = Some(self.message.clone());
        self
    }

    pub fn body(&self, date: &str, request_id: &str, client_request_id: Option<&str>) -> Value {
        let mut inner = serde_json::Map::new();
        if self.status == 429 {
            // Shape of examples/error-429-throttled.json.
            inner.insert("code".into(), json!("429"));
            inner.insert("message".into(), json!("Please retry after"));
            inner.insert("status".into(), json!("429"));
        }
        if let Some(m) = &self.inner_message {
            inner.insert("message".into(), json!(m));
        }
        inner.insert("date".into(), json!(date));
        inner.insert("request-id".into(), json!(request_id));
        if let Some(c) = client_request_id {
            inner.insert("client-request-id".into(), json!(c));
        }
        json!({ "error": { "code": self.code, "message": self.message, "innerError": inner } })
    }
}

pub type GraphResult<T> = Result<T, GraphError>;
