//! One module per operation; each reads parse -> authorize -> act -> respond.

pub mod meta;
