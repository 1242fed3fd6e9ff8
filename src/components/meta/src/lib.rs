//! Spin component `meta`: liveness, readiness and the catch-all 404.

#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
async fn handle(req: spin_sdk::http::IncomingRequest, out: spin_sdk::http::ResponseOutparam) {
    mfa_edge::serve(mfa_edge::Component::META, req, out).await
}
