//! Contract-level pieces every operation shares: error codes, problem+json,
//! request ids and JSON responses.

pub mod codes;
pub mod documents;
pub mod endpoints;
pub mod input;
pub mod problem;
pub mod query;
pub mod request;
pub mod request_id;
pub mod response;

pub use codes::ErrorCode;
pub use problem::Problem;
pub use request_id::RequestId;
