//! JSON success responses and the headers every response carries.

use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::StatusCode;
use serde::Serialize;

use super::request_id::RequestId;

pub type Response = http::Response<Vec<u8>>;

/// A JSON body with the given status.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    json_text(status, serde_json::to_vec(body).unwrap_or_default())
}

/// A body that is JSON text already (the embedded API documents).
pub fn json_text(status: StatusCode, body: impl Into<Vec<u8>>) -> Response {
    let mut res = Response::new(body.into());
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// Headers on every answer: the request id, and no caching of anything that
/// could hold a pass or tenant data.
pub fn finish(mut res: Response, request_id: &RequestId) -> Response {
    if let Ok(v) = HeaderValue::from_str(request_id.as_str()) {
        res.headers_mut().insert(RequestId::HEADER, v);
    }
    res.headers_mut()
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    res
}
