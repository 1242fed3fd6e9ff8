//! What goes in each round trip of a reset: the order deletions are tried
//! in, which methods stay and why, and how deletions are grouped into
//! `$batch` chains.

use crate::graph::client::MAX_BATCH;
use crate::graph::methods::{self, Method, MethodType};

/// The order deletions are tried in: an alternate mobile before the mobile
/// (FACTS §5), anything that may be the default after everything else
/// (FACTS §4). The sort is stable, so Graph's own order decides the rest.
pub(super) fn removal_order(mut methods: Vec<Method>, default_hint: Option<&str>) -> Vec<Method> {
    crate::types::sort_by_key_stable(&mut methods, |m| {
        let default = default_hint.is_some_and(|h| methods::may_be_default(h, m));
        let mobile = m.is(MethodType::Phone) && m.phone_type.as_deref() == Some("mobile");
        (default, mobile)
    });
    methods
}

/// Why a method stays although nothing failed.
pub(super) fn kept_reason(m: &Method, asked: Option<&[MethodType]>) -> Option<String> {
    match m.kind {
        Some(MethodType::Password) => Some("the password is never removed".into()),
        None => Some(format!(
            "{} is a method type this service cannot delete through Graph; remove it in the Entra admin center",
            m.type_name
        )),
        Some(k) if asked.is_some_and(|a| !a.contains(&k)) => Some("not in methodTypes".into()),
        Some(_) => None,
    }
}

pub(super) fn removable(m: &Method, asked: Option<&[MethodType]>) -> bool {
    m.kind
        .is_some_and(|k| k != MethodType::Password && asked.is_none_or(|a| a.contains(&k)))
}

/// One method still to delete, and what Graph said of it so far.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    pub(super) method: Method,
    /// Goes after every other deletion, alone at the end of a chain: it may
    /// be the default (the hint names it), or Graph refused it for order.
    pub(super) last: bool,
    /// How many methods were removed when Graph last refused it: refused
    /// again with nothing removed since, it has failed.
    pub(super) refused_at: Option<usize>,
}

/// One round trip of deletions: v1.0 chains (each a `$batch` whose
/// requests depend on the one before) and beta deletions, all in flight
/// together. When `closing`, there is one chain and no beta deletion, and
/// the revocation and the confirming re-read end that chain.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Round {
    pub(super) chains: Vec<Vec<usize>>,
    pub(super) beta: Vec<usize>,
    pub(super) closing: bool,
}

/// What goes in the next round trip, by index into `pending` (in order).
/// Deletions that may be the default wait until nothing else is in flight;
/// they then end the single chain, followed by the `closing` requests
/// (revocation, re-read) when those fit in the same `$batch`.
pub(super) fn plan(pending: &[Pending], closing: usize) -> Round {
    let beta = |i: &usize| methods::deleted_through_beta(&pending[*i].method);
    let (last, first): (Vec<usize>, Vec<usize>) =
        (0..pending.len()).partition(|&i| pending[i].last);
    let (first_beta, first_v1): (Vec<usize>, Vec<usize>) = first.iter().partition(|i| beta(i));
    let (last_beta, last_v1): (Vec<usize>, Vec<usize>) = last.iter().partition(|i| beta(i));
    let one_chain = |v1: Vec<usize>| Round {
        chains: vec![v1],
        beta: Vec::new(),
        closing: true,
    };
    if !first.is_empty() {
        if first_beta.is_empty()
            && last_beta.is_empty()
            && first_v1.len() + last_v1.len() + closing <= MAX_BATCH
        {
            return one_chain(first_v1.into_iter().chain(last_v1).collect());
        }
        return Round {
            chains: chunks(pending, first_v1),
            beta: first_beta,
            closing: false,
        };
    }
    if last_beta.is_empty() && last_v1.len() + closing <= MAX_BATCH {
        return one_chain(last_v1);
    }
    Round {
        chains: chunks(pending, last_v1),
        beta: last_beta,
        closing: false,
    }
}

/// Splits v1.0 deletions into chains of at most [`MAX_BATCH`], run side
/// by side, keeping an alternate mobile in the chain of the mobile after it
/// (Graph refuses the mobile while an alternate exists: FACTS §5).
fn chunks(pending: &[Pending], v1: Vec<usize>) -> Vec<Vec<usize>> {
    let phone = |i: usize, t: &str| {
        let m = &pending[i].method;
        m.is(MethodType::Phone) && m.phone_type.as_deref() == Some(t)
    };
    let alternate = v1.iter().copied().find(|&i| phone(i, "alternateMobile"));
    let mobile = v1.iter().copied().find(|&i| phone(i, "mobile"));
    // The alternate moves to just before the mobile: still before it, and
    // in the same chain.
    let mut units: Vec<Vec<usize>> = Vec::new();
    for &i in &v1 {
        if Some(i) == alternate && mobile.is_some() {
            continue;
        }
        if Some(i) == mobile {
            units.push(alternate.into_iter().chain([i]).collect());
        } else {
            units.push(vec![i]);
        }
    }
    let mut out: Vec<Vec<usize>> = Vec::new();
    for u in units {
        match out.last_mut() {
            Some(c) if c.len() + u.len() <= MAX_BATCH => c.extend(u),
            _ => out.push(u),
        }
    }
    out
}

/// Rounds a sweep may take before what is left is reported as not
/// attempted (each round settles at least one request; this bounds it).
pub(super) fn max_rounds(methods: usize) -> usize {
    2 * methods + 4
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str, kind: MethodType, phone: Option<&str>) -> Method {
        Method {
            id: id.into(),
            type_name: kind.as_str().into(),
            kind: Some(kind),
            display_name: None,
            phone_type: phone.map(str::to_string),
        }
    }

    #[test]
    fn the_default_goes_last_and_the_mobile_after_its_alternate() {
        let list = vec![
            m("mob", MethodType::Phone, Some("mobile")),
            m("app", MethodType::MicrosoftAuthenticator, None),
            m("alt", MethodType::Phone, Some("alternateMobile")),
            m("key", MethodType::Fido2, None),
        ];
        let ids = |v: Vec<Method>| v.into_iter().map(|m| m.id).collect::<Vec<_>>();
        assert_eq!(
            ids(removal_order(list.clone(), Some("push"))),
            ["alt", "key", "mob", "app"]
        );
        assert_eq!(
            ids(removal_order(list.clone(), Some("sms"))),
            ["app", "alt", "key", "mob"]
        );
        assert_eq!(ids(removal_order(list, None)), ["app", "alt", "key", "mob"]);
    }

    #[test]
    fn the_password_and_unknown_types_stay_with_a_reason() {
        let pw = m("pw", MethodType::Password, None);
        let mut future = m("f", MethodType::Email, None);
        future.kind = None;
        future.type_name = "futureAuthenticationMethod".into();
        let key = m("key", MethodType::Fido2, None);
        assert!(!removable(&pw, None) && !removable(&future, None) && removable(&key, None));
        assert!(!removable(&key, Some(&[MethodType::Phone])));
        assert_eq!(
            kept_reason(&pw, None).unwrap(),
            "the password is never removed"
        );
        assert!(kept_reason(&future, None)
            .unwrap()
            .contains("futureAuthenticationMethod"));
        assert_eq!(
            kept_reason(&key, Some(&[MethodType::Phone])).unwrap(),
            "not in methodTypes"
        );
        assert_eq!(kept_reason(&key, None), None);
    }
}
