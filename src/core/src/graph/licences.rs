//! What Graph has revealed about the tenant's licences, remembered in the
//! key-value store: Entra ID P1 (sign-in logs and reports answer `403
//! Authentication_RequestFromNonPremiumTenantOrB2CTenant` without it, FACTS
//! §7) and P2 (PIM reads answer `400 AadPremiumLicenseRequired` without it:
//! maester365/maester#1421, cisagov/ScubaGear#981). Most tenants (Microsoft
//! 365 Business Premium) have P1 and not P2, so PIM is read only while P2
//! is not known to be absent; a "no" is asked again after a day, since a
//! tenant may buy the licence. The record is sealed
//! ([`crate::store::sealed`]): a "no P2" planted in the store would skip
//! the PIM reads of the protected-user guard.

use serde::{Deserialize, Serialize};

use super::GraphResponse;
use crate::store::sealed::Sealed;

pub(crate) const KEY: &str = "graph/licences/v1";
/// How long a learned "no" stands before the read is tried again.
pub const RECHECK_SECS: u64 = 86_400;

/// Graph's error code for a PIM read in a tenant without P2.
pub const P2_REQUIRED: &str = "AadPremiumLicenseRequired";
/// Graph's error code for a report read in a tenant without P1.
pub const P1_REQUIRED: &str = "Authentication_RequestFromNonPremiumTenantOrB2CTenant";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Licence {
    P1,
    P2,
}

/// `null` until Graph has answered a read that depends on the licence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Licences {
    pub p1: Option<bool>,
    pub p2: Option<bool>,
    #[serde(default, skip_serializing)]
    p1_at: u64,
    #[serde(default, skip_serializing)]
    p2_at: u64,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    p1: Option<bool>,
    p2: Option<bool>,
    p1_at: u64,
    p2_at: u64,
}

impl Licences {
    /// What is known now; a stale "no" reads as unknown.
    pub fn load(store: &Sealed<'_>, now: u64) -> Licences {
        let Some(s) = store.get::<Stored>(KEY, now, None).ok().flatten() else {
            return Licences::default();
        };
        let fresh = |v: Option<bool>, at: u64| match v {
            Some(false) if now >= at + RECHECK_SECS => None,
            v => v,
        };
        Licences {
            p1: fresh(s.p1, s.p1_at),
            p2: fresh(s.p2, s.p2_at),
            p1_at: s.p1_at,
            p2_at: s.p2_at,
        }
    }

    /// Remembers what a read revealed (a failed write is only a lost hint).
    pub fn record(store: &Sealed<'_>, now: u64, licence: Licence, has: bool) {
        let mut l = Licences::load(store, now);
        let (v, at) = match licence {
            Licence::P1 => (&mut l.p1, &mut l.p1_at),
            Licence::P2 => (&mut l.p2, &mut l.p2_at),
        };
        if *v == Some(has) && has {
            return;
        }
        *v = Some(has);
        *at = now;
        let s = Stored {
            p1: l.p1,
            p2: l.p2,
            p1_at: l.p1_at,
            p2_at: l.p2_at,
        };
        let _ = store.set(KEY, now, &s);
    }

    /// Learns from an answer to a read that needs `licence`: success means
    /// the tenant has it; Graph's licence refusal means it has not.
    pub fn observe(store: &Sealed<'_>, now: u64, licence: Licence, res: &GraphResponse) {
        if res.is_success() {
            Licences::record(store, now, licence, true);
        } else if refused_for(licence, res) {
            Licences::record(store, now, licence, false);
        }
    }
}

/// Whether `res` is Graph's refusal for want of `licence`.
pub fn refused_for(licence: Licence, res: &GraphResponse) -> bool {
    match licence {
        Licence::P1 => res.status == 403 && res.error_code() == Some(P1_REQUIRED),
        Licence::P2 => res.status == 400 && res.error_code() == Some(P2_REQUIRED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sealed::StateKey;
    use crate::testing::{CountingEntropy, MemoryKv};
    use serde_json::json;

    fn res(status: u16, code: &str) -> GraphResponse {
        GraphResponse {
            status,
            body: json!({ "error": { "code": code } }),
            request_id: None,
        }
    }

    #[test]
    fn learned_licences_are_kept_and_a_no_is_asked_again_after_a_day() {
        let (mem, entropy) = (MemoryKv::default(), CountingEntropy::default());
        let kv = Sealed::with_key(&mem, &entropy, StateKey::from_material(b"k", "state_key"));
        assert_eq!(Licences::load(&kv, 0), Licences::default());
        Licences::observe(&kv, 100, Licence::P2, &res(400, P2_REQUIRED));
        Licences::observe(&kv, 100, Licence::P1, &res(200, ""));
        let l = Licences::load(&kv, 200);
        assert_eq!((l.p1, l.p2), (Some(true), Some(false)));
        assert_eq!(
            serde_json::to_value(l).unwrap(),
            json!({ "p1": true, "p2": false })
        );
        assert_eq!(Licences::load(&kv, 100 + RECHECK_SECS).p2, None);
        // Other refusals say nothing about licences.
        Licences::observe(
            &kv,
            300,
            Licence::P2,
            &res(403, "Authorization_RequestDenied"),
        );
        assert_eq!(Licences::load(&kv, 400).p2, Some(false));
        Licences::observe(&kv, 500, Licence::P2, &res(200, ""));
        assert_eq!(Licences::load(&kv, 600).p2, Some(true));
        // Stored sealed: a planted plaintext "no P2" is not believed.
        let stored = mem.0.borrow()[KEY].clone();
        assert!(serde_json::from_slice::<serde_json::Value>(&stored).is_err());
        assert!(!String::from_utf8_lossy(&stored).contains("\"p2\""));
        mem.0.borrow_mut().insert(
            KEY.into(),
            br#"{"p1":true,"p2":false,"p1_at":600,"p2_at":600}"#.to_vec(),
        );
        assert_eq!(Licences::load(&kv, 600), Licences::default());
    }
}
