//! Types that carry meaning: parsed once at the boundary, trusted afterwards.

mod scope;
mod secret;
mod text;
mod time;
mod user_ref;

pub use scope::{Scope, UnknownScope};
pub use secret::Secret;
pub use text::{IdempotencyKey, Reason, Ticket};
pub use time::rfc3339;
pub use user_ref::{encode_segment, UserRef, UserRefError};
