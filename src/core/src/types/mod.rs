//! Types that carry meaning: parsed once at the boundary, trusted afterwards.

mod scope;
mod secret;
mod time;

pub use scope::{Scope, UnknownScope};
pub use secret::Secret;
pub use time::rfc3339;
