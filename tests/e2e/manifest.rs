//! `spin.toml` declares exactly the contract's configuration and the
//! capabilities each component needs, in syntax Spin 3.x and 4.x accept;
//! the shipped Redis configs (runtime-config/, deploy/spinkube/) require
//! TLS and a password, and every secret variable comes from a Secret.

use mfa_core::api::endpoints;
use mfa_core::config::Variable;
use mfa_core::service::Component;
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

/// The component Spin routes `path` to: an exact route wins, then the
/// longest `/...` prefix (Spin's rule).
fn spin_target<'a>(triggers: &'a [Value], path: &str) -> &'a str {
    let route = |t: &Value| t["route"].as_str().unwrap().to_string();
    let exact = triggers.iter().find(|t| route(t) == path);
    let wildcard = triggers
        .iter()
        .filter_map(|t| {
            let prefix = route(t).strip_suffix("/...")?.to_string();
            (path == prefix || path.starts_with(&format!("{prefix}/"))).then_some((prefix.len(), t))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, t)| t);
    exact
        .or(wildcard)
        .unwrap_or_else(|| panic!("no route for {path}"))["component"]
        .as_str()
        .unwrap()
}

/// Each endpoint of the contract reaches, through `spin.toml`'s routes, the
/// component whose route table answers it.
#[test]
fn every_endpoint_is_routed_to_the_component_that_serves_it() {
    let m = manifest();
    let triggers = m["trigger"]["http"].as_array().unwrap();
    for e in endpoints::ALL {
        let path = e.path.replace("{auditId}", "aud_x");
        let target = spin_target(triggers, &path);
        let component = Component::ALL
            .iter()
            .find(|c| c.name() == target)
            .unwrap_or_else(|| panic!("{path} goes to {target}, which is no component"));
        assert!(
            component.serves(&e.method, &path),
            "{} {path} goes to {target}, which does not serve it",
            e.method
        );
    }
    // And nothing is routed to a component that is not in the table.
    for t in triggers {
        let target = t["component"].as_str().unwrap();
        assert!(
            Component::ALL.iter().any(|c| c.name() == target),
            "{target}"
        );
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

fn redis_url(runtime_config: &str, what: &str) -> url::Url {
    let rc: Value = runtime_config
        .parse()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let kv = &rc["key_value_store"]["default"];
    assert_eq!(kv["type"].as_str(), Some("redis"), "{what}");
    let raw = kv["url"].as_str().unwrap();
    url::Url::parse(raw).unwrap_or_else(|e| panic!("{what}: {raw}: {e}"))
}

/// What is shipped for a shared Redis: TLS, a password, certificate checks on.
fn assert_protected_redis(url: &url::Url, what: &str) {
    assert_eq!(url.scheme(), "rediss", "{what}: TLS");
    assert!(
        url.password().is_some_and(|p| !p.is_empty()),
        "{what}: a password"
    );
    assert_eq!(url.fragment(), None, "{what}: no #insecure");
    let host = url.host_str().unwrap_or_default();
    assert!(
        !host.is_empty() && host != "127.0.0.1" && host != "localhost",
        "{what}: {host}"
    );
}

#[test]
fn the_shipped_redis_config_uses_tls_and_a_password_and_the_local_one_loopback() {
    let read = |f: &str| std::fs::read_to_string(root().join("runtime-config").join(f)).unwrap();
    assert_protected_redis(&redis_url(&read("redis.toml"), "redis.toml"), "redis.toml");
    let local = redis_url(&read("redis-local.toml"), "redis-local.toml");
    assert_eq!(local.as_str(), "redis://127.0.0.1:6379", "loopback only");
}

/// `deploy/spinkube/spinapp.yaml`, split into its documents (no YAML
/// parser here: the checks read the few lines they need).
fn spinkube_documents() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("deploy/spinkube/spinapp.yaml")).unwrap();
    let mut docs = vec![String::new()];
    for line in text.lines() {
        if line == "---" {
            docs.push(String::new());
        } else if !line.trim_start().starts_with('#') {
            let doc = docs.last_mut().unwrap();
            doc.push_str(line);
            doc.push('\n');
        }
    }
    docs
}

fn document<'a>(docs: &'a [String], kind: &str, name: &str) -> &'a str {
    docs.iter()
        .find(|d| {
            d.lines().any(|l| l == format!("kind: {kind}"))
                && d.lines().any(|l| l == format!("  name: {name}"))
        })
        .unwrap_or_else(|| panic!("spinapp.yaml has no {kind} {name}"))
}

/// The indented block under `key: |`, dedented.
fn block(doc: &str, key: &str) -> String {
    let mut lines = doc.lines().skip_while(|l| l.trim() != format!("{key}: |"));
    let header = lines.next().unwrap_or_else(|| panic!("no {key}: | block"));
    let indent = header.len() - header.trim_start().len() + 2;
    lines
        .take_while(|l| l.is_empty() || l.len() - l.trim_start().len() >= indent)
        .map(|l| l.get(indent..).unwrap_or("").to_string() + "\n")
        .collect()
}

#[test]
fn the_spinkube_manifest_uses_protected_redis_and_takes_every_secret_from_a_secret() {
    let docs = spinkube_documents();
    let rc = document(&docs, "Secret", "mfa-recovery-runtime-config");
    let rc = block(rc, "runtime-config.toml");
    assert_protected_redis(&redis_url(&rc, "spinapp runtime config"), "spinapp");

    // Redis itself refuses clients without TLS and a password.
    let redis_conf = block(
        document(&docs, "Secret", "mfa-recovery-redis-config"),
        "redis.conf",
    );
    for line in ["port 0", "tls-port 6379", "user default off"] {
        assert!(redis_conf.lines().any(|l| l == line), "redis.conf: {line}");
    }
    assert!(
        redis_conf
            .lines()
            .any(|l| l.starts_with("user mfa-recovery on >")),
        "redis.conf: the app's ACL user has a password"
    );

    // Every secret variable the SpinApp sets comes from the variables
    // Secret, which holds it; state_key and audit_key are set.
    let secrets = document(&docs, "Secret", "mfa-recovery-variables");
    let app = document(&docs, "SpinApp", "mfa-recovery");
    let vars = app
        .split("\n    - name: ")
        .skip(1)
        .map(|entry| {
            let (name, rest) = entry.split_once('\n').unwrap_or((entry, ""));
            (name.trim().to_string(), rest.to_string())
        })
        .collect::<Vec<_>>();
    for (name, _) in &vars {
        assert!(
            Variable::ALL.iter().any(|v| v.name() == name),
            "spinapp sets unknown variable {name}"
        );
    }
    for v in Variable::ALL.iter().filter(|v| v.is_secret()) {
        let (_, entry) = vars
            .iter()
            .find(|(n, _)| n == v.name())
            .unwrap_or_else(|| panic!("spinapp does not set {}", v.name()));
        assert!(
            entry.contains("secretKeyRef:")
                && entry.contains("name: mfa-recovery-variables")
                && entry.contains(&format!("key: {}", v.name()))
                && !entry.contains("value:"),
            "{} from the Secret: {entry}",
            v.name()
        );
        assert!(
            secrets
                .lines()
                .any(|l| l.starts_with(&format!("  {}: ", v.name()))),
            "the Secret holds {}",
            v.name()
        );
    }
}

/// The app roles `scripts/register-app` declares are the ones the token
/// check maps to scopes, each enabled and assignable to apps and people.
#[test]
fn the_declared_app_roles_are_the_scopes_tokens_carry() {
    let text = std::fs::read_to_string(root().join("deploy/entra/app-roles.json")).unwrap();
    let roles: serde_json::Value = serde_json::from_str(&text).unwrap();
    let declared: Vec<&str> = roles
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["isEnabled"], true);
            assert_eq!(
                r["allowedMemberTypes"],
                serde_json::json!(["Application", "User"])
            );
            r["value"].as_str().unwrap()
        })
        .collect();
    let mapped: Vec<&str> = mfa_core::auth::entra::ROLES
        .iter()
        .map(|(r, _)| *r)
        .collect();
    assert_eq!(declared, mapped);
    let ids: std::collections::BTreeSet<&str> = roles
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), declared.len(), "role ids are unique");
}
