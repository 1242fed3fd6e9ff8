//! mfa-edge: the only crate that knows Spin. It implements mfa-core's ports
//! over spin-sdk 5.2 (variables, key-value with wasi:keyvalue atomics,
//! SQLite, clocks, randomness), reads the request body with the 64 KiB
//! limit, calls `mfa_core::service::handle` and writes one log line.
//!
//! Components call [`serve`] and nothing else.

#[cfg(target_arch = "wasm32")]
mod serve;
#[cfg(target_arch = "wasm32")]
mod spin_ports;

#[cfg(target_arch = "wasm32")]
pub use serve::serve;

pub use mfa_core::service::Component;
