//! One module per operation; each reads parse -> authorize -> act -> respond.

pub mod access;
#[cfg(feature = "phone")]
pub mod add_phone;
pub mod diagnose;
pub mod failures;
pub mod issue_tap;
pub mod meta;
pub mod mutation;
pub mod read_audit;
pub mod reset;
