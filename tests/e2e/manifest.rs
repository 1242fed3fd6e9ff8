//! `spin.toml` declares exactly the contract's configuration and the
//! capabilities each component needs, in syntax Spin 3.x and 4.x accept.

use mfa_core::config::Variable;
use mfa_tests::root;
use toml::Value;

fn manifest() -> Value {
    let text = std::fs::read_to_string(root().join("spin.toml")).unwrap();
    text.parse().unwrap()
}

#[test]
fn every_contract_variable_is_declared_with_its_kind() {
    let m = manifest();
    assert_eq!(m["spin_manifest_version"].as_integer(), Some(2));
    let vars = m["variables"].as_table().unwrap();
    assert_eq!(
        vars.len(),
        Variable::ALL.len(),
        "variables: {:?}",
        vars.keys().collect::<Vec<_>>()
    );
    for v in Variable::ALL {
        let decl = vars
            .get(v.name())
            .unwrap_or_else(|| panic!("{} not declared", v.name()))
            .as_table()
            .unwrap();
        let secret = decl.get("secret").and_then(Value::as_bool).unwrap_or(false);
        assert_eq!(secret, v.is_secret(), "{}: secret", v.name());
        let required = decl
            .get("required")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        assert_eq!(required, v.is_required(), "{}: required", v.name());
        assert_eq!(
            decl.contains_key("default"),
            !v.is_required(),
            "{}: default",
            v.name()
        );
    }
    assert_eq!(
        vars["graph_endpoint"]["default"].as_str(),
        Some("https://graph.microsoft.com")
    );
    assert_eq!(
        vars["login_endpoint"]["default"].as_str(),
        Some("https://login.microsoftonline.com")
    );
    assert_eq!(
        vars["tap_max_lifetime_minutes"]["default"].as_str(),
        Some("480")
    );
    assert_eq!(vars["require_ticket"]["default"].as_str(), Some("true"));
    assert_eq!(
        vars["require_verification"]["default"].as_str(),
        Some("none")
    );
}

#[test]
fn every_component_is_built_for_wasip2_and_wired_the_same_way() {
    let m = manifest();
    let components = m["component"].as_table().unwrap();
    let triggers = m["trigger"]["http"].as_array().unwrap();
    assert!(components.contains_key("meta"));
    for (id, c) in components {
        let source = c["source"].as_str().unwrap();
        let crate_name = format!("mfa_{}", id.replace('-', "_"));
        assert_eq!(
            source,
            format!("target/wasm32-wasip2/release/{crate_name}.wasm"),
            "{id}"
        );
        let build = c["build"]["command"].as_str().unwrap();
        assert!(
            build.contains("--target wasm32-wasip2") && build.contains("--release"),
            "{id}: {build}"
        );
        assert!(build.ends_with(&format!("-p mfa-{id}")), "{id}: {build}");
        assert_eq!(
            c["key_value_stores"].as_array().unwrap(),
            &[Value::from("default")],
            "{id}"
        );
        assert_eq!(
            c["sqlite_databases"].as_array().unwrap(),
            &[Value::from("default")],
            "{id}"
        );
        // Graph and login hosts come only from the two variables.
        assert_eq!(
            c["allowed_outbound_hosts"].as_array().unwrap(),
            &[
                Value::from("{{ graph_endpoint }}"),
                Value::from("{{ login_endpoint }}")
            ],
            "{id}"
        );
        // Every application variable reaches every component.
        let cv = c["variables"].as_table().unwrap();
        for v in Variable::ALL {
            assert_eq!(
                cv[v.name()].as_str(),
                Some(format!("{{{{ {} }}}}", v.name()).as_str()),
                "{id}"
            );
        }
        assert!(
            triggers.iter().any(|t| t["component"].as_str() == Some(id)),
            "{id} has no route"
        );
    }
    for t in triggers {
        let target = t["component"].as_str().unwrap();
        assert!(
            components.contains_key(target),
            "route to unknown component {target}"
        );
        assert!(t["route"].as_str().unwrap().starts_with('/'));
    }
}

#[test]
fn release_profile_is_size_minded() {
    let text = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let cargo: Value = text.parse().unwrap();
    let p = &cargo["profile"]["release"];
    assert_eq!(p["opt-level"].as_str(), Some("z"));
    assert_eq!(p["lto"].as_bool(), Some(true));
    assert_eq!(p["codegen-units"].as_integer(), Some(1));
    assert_eq!(p["panic"].as_str(), Some("abort"));
    assert_eq!(p["strip"].as_bool(), Some(true));
}
