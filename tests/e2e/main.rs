//! End-to-end tests: the components built by `spin build`, served by real
//! `spin up`, against `graph-sim`. One test binary, a module per area.

mod manifest;
mod meta;
mod secrets;

use mfa_tests::{demo_variables, Spin, SpinOptions};

/// Demo configuration with `overrides` applied (`None` removes a variable).
pub fn options(overrides: &[(&str, Option<&str>)]) -> SpinOptions {
    let mut opts = SpinOptions::default();
    // No Graph call is made by meta; the address only has to be well formed.
    opts.variables.extend(demo_variables("http://127.0.0.1:9"));
    for (k, v) in overrides {
        match v {
            Some(v) => {
                opts.variables.insert(k.to_string(), v.to_string());
            }
            None => {
                opts.variables.remove(*k);
            }
        }
    }
    opts
}

pub fn spin(overrides: &[(&str, Option<&str>)]) -> Spin {
    Spin::start(options(overrides)).unwrap_or_else(|e| panic!("{e:#}"))
}
