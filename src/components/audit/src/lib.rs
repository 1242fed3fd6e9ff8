//! Spin component `audit`: `GET /v1/audit`, `/v1/audit/{auditId}` and
//! `/v1/audit/verify`, the audit trail.

#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
async fn handle(req: spin_sdk::http::IncomingRequest, out: spin_sdk::http::ResponseOutparam) {
    mfa_edge::serve(mfa_edge::Component::AUDIT, req, out).await
}
