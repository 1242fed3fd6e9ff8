//! Caller scopes (API.md "Callers"): what a key or webhook secret may do.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Tap,
    Reset,
    Phone,
    FailuresRead,
    Diagnose,
    AuditRead,
    /// May act on protected users (role holders, protected group, listed).
    Privileged,
}

impl Scope {
    pub const ALL: [Scope; 7] = [
        Scope::Tap,
        Scope::Reset,
        Scope::Phone,
        Scope::FailuresRead,
        Scope::Diagnose,
        Scope::AuditRead,
        Scope::Privileged,
    ];

    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Tap => "tap",
            Scope::Reset => "reset",
            Scope::Phone => "phone",
            Scope::FailuresRead => "failures:read",
            Scope::Diagnose => "diagnose",
            Scope::AuditRead => "audit:read",
            Scope::Privileged => "privileged",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope")]
pub struct UnknownScope;

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or(UnknownScope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_round_trips_through_its_contract_name() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
        }
        assert_eq!("Tap".parse::<Scope>(), Err(UnknownScope));
        assert_eq!("failures".parse::<Scope>(), Err(UnknownScope));
    }
}
