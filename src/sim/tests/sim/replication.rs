//! Replication lag on deletes (quirk `replicationLagReads`): after a DELETE of a method,
//! the next N reads of the user's method lists still show it (eventual consistency:
//! https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/).

use serde_json::json;

use crate::common::*;

const FIDO2: &str = "3691527d-f3b7-54ac-933f-e76d934c612a";
const HW_OATH: &str = "62fa6516-c78e-5ff7-99b1-53813615690a";

fn listed(s: &Sim, path: &str, id: &str) -> bool {
    let r = s.get(path);
    r.expect(200, "");
    ids(&items(&r)).iter().any(|x| x == id)
}

#[test]
fn deleted_method_lingers_for_n_reads() {
    let s = Sim::start();
    s.control(
        "POST",
        "/_sim/quirks",
        Some(json!({"replicationLagReads": 2})),
    );
    let all = format!("/v1.0/users/{ALICE}/authentication/methods");
    let kind = format!("/v1.0/users/{ALICE}/authentication/fido2Methods");
    s.send_empty("DELETE", &format!("{kind}/{FIDO2}"))
        .expect(204, "");
    // The write took effect …
    assert!(!s.method_ids(ALICE).contains(&FIDO2.to_string()));
    let st = s.state();
    assert_eq!(st["ghostMethods"][0]["id"], FIDO2);
    assert_eq!(st["ghostMethods"][0]["readsLeft"], 2);
    // A read the handler refuses does not count …
    s.get(&format!("{kind}?$select=nope"))
        .expect(400, "BadRequest");
    // … but two reads (of either list) still show it, in its old place and shape.
    let r = s.get(&all);
    let v = items(&r);
    let pos = ids(&v)
        .iter()
        .position(|x| x == FIDO2)
        .expect("still listed");
    assert_eq!(
        v[pos]["@odata.type"],
        "#microsoft.graph.fido2AuthenticationMethod"
    );
    assert!(listed(&s, &kind, FIDO2));
    assert!(!listed(&s, &all, FIDO2));
    assert!(!listed(&s, &kind, FIDO2));
    assert_eq!(s.state()["ghostMethods"], json!([]));
    // A second DELETE finds nothing.
    s.send_empty("DELETE", &format!("{kind}/{FIDO2}"))
        .expect(404, "itemNotFound");
}

#[test]
fn beta_and_other_users_and_failed_reads() {
    let s = Sim::start();
    s.control(
        "POST",
        "/_sim/quirks",
        Some(json!({"replicationLagReads": 1})),
    );
    s.send_empty(
        "DELETE",
        &format!("/beta/users/{ALICE}/authentication/hardwareOathMethods/{HW_OATH}"),
    )
    .expect(204, "");
    // v1.0's mixed list never shows hardware OATH, so it does not use up the lag.
    assert!(!listed(
        &s,
        &format!("/v1.0/users/{ALICE}/authentication/methods"),
        HW_OATH
    ));
    // Another user's list is unaffected.
    assert!(!listed(
        &s,
        &format!("/v1.0/users/{BOB}/authentication/methods"),
        HW_OATH
    ));
    // A refused read does not count either.
    let hw = format!("/beta/users/{ALICE}/authentication/hardwareOathMethods");
    s.get(&format!("{hw}?$top=1")).expect(400, "BadRequest");
    assert!(listed(&s, &hw, HW_OATH));
    assert!(!listed(&s, &hw, HW_OATH));
    // The single-valued QR method lingers the same way.
    let qr = format!("/beta/users/{ALICE}/authentication/qrCodePinMethod");
    s.send_empty("DELETE", &qr).expect(204, "");
    s.get(&qr).expect(200, "");
    s.get(&qr).expect(404, "itemNotFound");
}

#[test]
fn no_lag_by_default_and_reset_clears_ghosts() {
    let mut s = Sim::start();
    let kind = format!("/v1.0/users/{ALICE}/authentication/fido2Methods");
    s.send_empty("DELETE", &format!("{kind}/{FIDO2}"))
        .expect(204, "");
    assert!(!listed(&s, &kind, FIDO2));
    s.control("POST", "/_sim/reset", None);
    s.renew();
    s.control(
        "POST",
        "/_sim/quirks",
        Some(json!({"replicationLagReads": 5})),
    );
    s.send_empty("DELETE", &format!("{kind}/{FIDO2}"))
        .expect(204, "");
    s.control("POST", "/_sim/reset", None);
    assert_eq!(s.state()["ghostMethods"], json!([]));
    assert_eq!(s.state()["quirks"]["replicationLagReads"], 0);
}
