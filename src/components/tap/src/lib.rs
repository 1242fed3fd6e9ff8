//! Spin component `tap`: `POST /v1/tap`, issue a Temporary Access Pass.

#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
async fn handle(req: spin_sdk::http::IncomingRequest, out: spin_sdk::http::ResponseOutparam) {
    mfa_edge::serve(mfa_edge::Component::TAP, req, out).await
}
