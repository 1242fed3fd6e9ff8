//! Every endpoint of the contract, written once: its method, path,
//! operation id and who may call it. The components' routes
//! (`service::Component`), the mutation pipeline's scope check, the OpenAPI
//! rows and the per-target rate limits are taken from here; a test holds
//! `spin.toml` to the components' routes.

use http::Method;

use crate::types::Scope;

/// Who may call an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone: health, readiness's status, the API documents.
    Anonymous,
    /// A bearer key with the scope (the reads).
    Key(Scope),
    /// A bearer key or a signed webhook with the scope (the mutations).
    KeyOrWebhook(Scope),
}

impl Access {
    pub fn scope(self) -> Option<Scope> {
        match self {
            Access::Anonymous => None,
            Access::Key(s) | Access::KeyOrWebhook(s) => Some(s),
        }
    }
}

/// One method on one path.
#[derive(Debug)]
pub struct Endpoint {
    pub method: Method,
    /// The path as the documents write it (`{auditId}` for a segment).
    pub path: &'static str,
    /// The OpenAPI `operationId`, the Power Automate action's name.
    pub id: &'static str,
    pub access: Access,
}

impl Endpoint {
    /// Whether a request path is this endpoint's (a `{..}` segment matches
    /// any one segment).
    pub fn matches_path(&self, path: &str) -> bool {
        let mut want = self.path.split('/');
        let mut got = path.split('/');
        loop {
            match (want.next(), got.next()) {
                (None, None) => return true,
                (Some(w), Some(g)) if w.starts_with('{') && !g.is_empty() => {}
                (Some(w), Some(g)) if w == g => {}
                _ => return false,
            }
        }
    }
}

const fn mutation(path: &'static str, id: &'static str, scope: Scope) -> Endpoint {
    Endpoint {
        method: Method::POST,
        path,
        id,
        access: Access::KeyOrWebhook(scope),
    }
}

const fn read(path: &'static str, id: &'static str, scope: Scope) -> Endpoint {
    Endpoint {
        method: Method::GET,
        path,
        id,
        access: Access::Key(scope),
    }
}

const fn open(path: &'static str, id: &'static str) -> Endpoint {
    Endpoint {
        method: Method::GET,
        path,
        id,
        access: Access::Anonymous,
    }
}

pub static TAP: Endpoint = mutation("/v1/tap", "IssueTemporaryAccessPass", Scope::Tap);
pub static RESET: Endpoint = mutation("/v1/reset", "ResetMfa", Scope::Reset);
pub static PHONE: Endpoint = mutation("/v1/phone", "AddPhoneMethod", Scope::Phone);
pub static FAILURES: Endpoint = read("/v1/failures", "ListMfaFailures", Scope::FailuresRead);
pub static FAILURES_REFRESH: Endpoint = Endpoint {
    method: Method::POST,
    path: "/v1/failures/refresh",
    id: "RefreshMfaFailures",
    access: Access::Key(Scope::FailuresRead),
};
pub static DIAGNOSE: Endpoint = read("/v1/diagnose", "DiagnoseUser", Scope::Diagnose);
pub static AUDIT: Endpoint = read("/v1/audit", "ListAuditRecords", Scope::AuditRead);
pub static AUDIT_VERIFY: Endpoint = read("/v1/audit/verify", "VerifyAuditChain", Scope::AuditRead);
pub static AUDIT_HEAD: Endpoint = read("/v1/audit/head", "GetAuditHead", Scope::AuditRead);
pub static AUDIT_RECORD: Endpoint = read("/v1/audit/{auditId}", "GetAuditRecord", Scope::AuditRead);
pub static HEALTHZ: Endpoint = open("/healthz", "Healthz");
/// Anonymous for its status; a key with `audit:read` sees the details.
pub static READYZ: Endpoint = open("/readyz", "Readyz");
pub static OPENAPI: Endpoint = open("/v1/openapi.json", "GetOpenApi");
pub static SWAGGER: Endpoint = open("/v1/swagger.json", "GetSwagger");

/// The whole contract, in the documents' order.
pub static ALL: [&Endpoint; 14] = [
    &TAP,
    &RESET,
    &PHONE,
    &FAILURES,
    &FAILURES_REFRESH,
    &DIAGNOSE,
    &AUDIT,
    &AUDIT_VERIFY,
    &AUDIT_HEAD,
    &AUDIT_RECORD,
    &HEALTHZ,
    &READYZ,
    &OPENAPI,
    &SWAGGER,
];

/// The operations that change a user: each its own endpoint, scope,
/// per-target limit and audit `operation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MutatingOperation {
    Tap,
    Reset,
    Phone,
}

impl MutatingOperation {
    pub const ALL: [MutatingOperation; 3] = [
        MutatingOperation::Tap,
        MutatingOperation::Reset,
        MutatingOperation::Phone,
    ];

    /// The audit record's `operation`, the rate-limit counter's name and
    /// `require_verification`'s word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            MutatingOperation::Tap => "tap",
            MutatingOperation::Reset => "reset",
            MutatingOperation::Phone => "phone",
        }
    }

    /// The endpoint that runs this operation.
    pub fn endpoint(self) -> &'static Endpoint {
        match self {
            MutatingOperation::Tap => &TAP,
            MutatingOperation::Reset => &RESET,
            MutatingOperation::Phone => &PHONE,
        }
    }

    /// The scope a caller needs for it.
    pub fn scope(self) -> Scope {
        self.endpoint()
            .access
            .scope()
            .expect("a mutation is never anonymous")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_method_paths_are_unique_and_mutations_name_their_scope() {
        for (i, a) in ALL.iter().enumerate() {
            for b in &ALL[i + 1..] {
                assert_ne!(a.id, b.id);
                assert!(a.method != b.method || a.path != b.path, "{}", a.path);
            }
        }
        for (op, scope) in [
            (MutatingOperation::Tap, Scope::Tap),
            (MutatingOperation::Reset, Scope::Reset),
            (MutatingOperation::Phone, Scope::Phone),
        ] {
            assert_eq!(op.scope(), scope);
            assert_eq!(op.endpoint().path, format!("/v1/{}", op.as_str()));
        }
    }

    #[test]
    fn a_template_segment_matches_one_segment() {
        assert!(AUDIT_RECORD.matches_path("/v1/audit/aud_x"));
        assert!(!AUDIT_RECORD.matches_path("/v1/audit/"));
        assert!(!AUDIT_RECORD.matches_path("/v1/audit/a/b"));
        assert!(AUDIT.matches_path("/v1/audit"));
        assert!(!AUDIT.matches_path("/v1/audit/x"));
    }
}
