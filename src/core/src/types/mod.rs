//! Types that carry meaning: parsed once at the boundary, trusted afterwards.

mod instant;
pub mod lookback;
#[cfg(feature = "phone")]
mod numbering_plan;
#[cfg(feature = "phone")]
mod phone;
mod phone_type;
mod scope;
mod secret;
mod text;
mod time;
mod user_ref;
mod verification;

pub use instant::Instant;
#[cfg(feature = "phone")]
pub use phone::{PhoneError, PhoneNumber};
pub use phone_type::PhoneType;
pub use scope::{Scope, UnknownScope};
pub use secret::Secret;
pub use text::{IdempotencyKey, Reason, Ticket};
pub(crate) use time::utc_millis;
pub use time::{rfc3339, unix_secs};
pub use user_ref::{encode_segment, is_guid, UserRef, UserRefError};
pub use verification::{Verification, VerificationMethod};
