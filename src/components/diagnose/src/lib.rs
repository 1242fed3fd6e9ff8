//! Spin component `diagnose`: `GET /v1/diagnose`, why a user is locked out.

#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
async fn handle(req: spin_sdk::http::IncomingRequest, out: spin_sdk::http::ResponseOutparam) {
    mfa_edge::serve(mfa_edge::Component::DIAGNOSE, req, out).await
}
