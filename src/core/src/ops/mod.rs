//! One module per operation; each reads parse -> authorize -> act -> respond.

pub mod issue_tap;
pub mod meta;
pub mod mutation;
