//! End-to-end tests: the components built by `spin build`, served by real
//! `spin up`, against `graph-sim`. One test binary, a module per area.

mod audit;
mod common;
mod diagnose;
mod docs;
mod entra;
mod failures;
mod faults;
mod hardening;
mod limits;
mod live_check;
mod manifest;
mod meta;
mod notify;
mod openapi;
mod phone;
mod real_tenant;
mod reset;
mod scale;
mod sealed_state;
mod secrets;
mod tap;
mod verification;

use mfa_tests::{demo_fixture, demo_variables, Sim, Spin, SpinOptions};

/// Demo configuration against `sim_url` with `overrides` applied (`None`
/// removes a variable).
pub fn options(sim_url: &str, overrides: &[(&str, Option<&str>)]) -> SpinOptions {
    let mut opts = SpinOptions::default();
    opts.variables.extend(demo_variables(sim_url));
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

/// A fresh demo tenant and the app wired to it.
pub fn stack(overrides: &[(&str, Option<&str>)]) -> (Sim, Spin) {
    let sim = Sim::start(&demo_fixture());
    let spin = Spin::start(options(&sim.url(), overrides)).unwrap_or_else(|e| panic!("{e:#}"));
    (sim, spin)
}
