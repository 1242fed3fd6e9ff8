//! `scripts/live-check` and `scripts/register-app`, the tools for people
//! with a real (test) tenant: the check run against graph-sim, the only
//! tenant here, and the registration script's permissions held to the
//! application's own table.

use std::collections::BTreeSet;
use std::process::Command;

use mfa_core::graph::permissions::Need;
use mfa_tests::{demo_app, demo_fixture, root, Sim};
use serde_json::Value;

use crate::common::methods_of;

const BOB_ID: &str = "48b85567-7c29-53ed-b888-e7aef7ddc561";

fn live_check(sim: &Sim, args: &[&str]) -> (i32, String) {
    mfa_tests::build_once();
    let app = demo_app();
    let out = Command::new(root().join("scripts/live-check"))
        .args(args)
        .current_dir(root())
        .env("SPIN_BIN", mfa_tests::spin_bin())
        .env("MFA_LIVE_TENANT_ID", &app.tenant_id)
        .env("MFA_LIVE_CLIENT_ID", &app.client_id)
        .env("MFA_LIVE_CLIENT_SECRET", &app.client_secret)
        .env("MFA_LIVE_GRAPH_ENDPOINT", sim.url())
        .env("MFA_LIVE_LOGIN_ENDPOINT", sim.url())
        .output()
        .expect("run scripts/live-check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn live_check_reads_writes_and_cleans_up_and_refuses_a_protected_user() {
    let sim = Sim::start(&demo_fixture());
    let (code, out) = live_check(
        &sim,
        &["--user", "bob@contoso.com", "--write", "bob@contoso.com"],
    );
    assert_eq!(code, 0, "{out}");
    for line in [
        "token: ok",
        "permission tap: ok",
        "permission failures: ok",
        "licence p1: true",
        "tap policy: enabled",
        "diagnose bob@contoso.com:",
        "failures (24 h):",
        "write: pass issued methodId=",
        "write: office phone added",
        "write: reset dry run would remove",
        "live-check: ok",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    let deleted = out
        .lines()
        .filter(|l| {
            l.starts_with("write:")
                && l.contains("deleted graph request-id=")
                && l.contains("status=204")
        })
        .count();
    assert_eq!(deleted, 2, "the pass and the office phone: {out}");
    // What it made is gone again; what Bob had is untouched.
    let methods = methods_of(&sim, BOB_ID);
    assert_eq!(methods.len(), 1, "{methods:?}");
    assert_eq!(
        methods[0]["@odata.type"],
        "#microsoft.graph.passwordAuthenticationMethod"
    );
    // No secret and no pass in what it printed.
    assert!(!out.contains(&demo_app().client_secret));
    let issued: Vec<Value> = sim
        .requests()
        .into_iter()
        .filter(|r| {
            r["method"] == "POST"
                && r["path"]
                    .as_str()
                    .unwrap()
                    .ends_with("temporaryAccessPassMethods")
                && r["status"] == 201
        })
        .collect();
    assert_eq!(issued.len(), 1);
    assert!(!out.contains("temporaryAccessPass\""), "{out}");

    // A Global Administrator is refused before any write.
    sim.clear_requests();
    let (code, out) = live_check(&sim, &["--write", "adele.admin@contoso.com"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("refused: adele.admin@contoso.com is protected"),
        "{out}"
    );
    assert!(
        sim.requests()
            .iter()
            .all(|r| r["kind"] != "graph" || r["method"] == "GET"),
        "no Graph write for a protected user"
    );
}

#[test]
fn register_app_grants_exactly_the_permissions_of_the_applications_table() {
    let script = std::fs::read_to_string(root().join("scripts/register-app")).unwrap();
    let block: Vec<&str> = script
        .lines()
        .skip_while(|l| l.trim() != "# BEGIN permissions")
        .skip(1)
        .take_while(|l| l.trim() != "# END permissions")
        .collect();
    assert_eq!(block.len(), Need::ALL.len(), "one line per operation");
    for need in Need::ALL {
        let line = block
            .iter()
            .find(|l| l.split(' ').next() == Some(need.as_str()))
            .unwrap_or_else(|| panic!("no {} line", need.as_str()));
        let script: BTreeSet<&str> = line.split(' ').skip(1).collect();
        let table: BTreeSet<&str> = need.permissions().iter().map(|p| p.least).collect();
        assert_eq!(script, table, "{}", need.as_str());
    }
    // The README's table names every one of them.
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("## Graph permissions")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a Graph permissions section");
    for need in Need::ALL {
        for p in need.permissions() {
            assert!(
                section.contains(&format!("`{}`", p.least)),
                "README lacks {}",
                p.least
            );
        }
    }
    // --dry-run needs no Azure CLI and prints the union.
    let out = Command::new(root().join("scripts/register-app"))
        .args(["--dry-run", "--operations", "failures,notify"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for p in ["AuditLog.Read.All", "Mail.Send", "User.Read.All"] {
        assert!(text.contains(p), "{p} in:\n{text}");
    }
    assert!(!text.contains("UserAuthMethod-TAP.ReadWrite.All"), "{text}");
    // Tokens: v2.0 (the issuer national clouds need), and only for those
    // assigned an app role.
    assert!(
        text.contains("--set api.requestedAccessTokenVersion=2"),
        "{text}"
    );
    assert!(
        text.contains("--set appRoleAssignmentRequired=true"),
        "{text}"
    );
}
