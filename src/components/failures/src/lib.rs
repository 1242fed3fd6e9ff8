//! Spin component `failures`: `GET /v1/failures`, who is failing MFA.

#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
async fn handle(req: spin_sdk::http::IncomingRequest, out: spin_sdk::http::ResponseOutparam) {
    mfa_edge::serve(mfa_edge::Component::FAILURES, req, out).await
}
