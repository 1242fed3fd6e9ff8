//! One module per operation; each reads parse -> authorize -> act -> respond.

pub mod add_phone;
pub mod issue_tap;
pub mod meta;
pub mod mutation;
pub mod reset;
