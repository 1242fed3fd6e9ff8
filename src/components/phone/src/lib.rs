//! Spin component `phone`: POST /v1/phone (add a backup phone method).

#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
async fn handle(req: spin_sdk::http::IncomingRequest, out: spin_sdk::http::ResponseOutparam) {
    mfa_edge::serve(mfa_edge::Component::PHONE, req, out).await
}
