//! Temporary Access Pass creation under the tenant policy (FACTS §3).

use rand::Rng;
use serde_json::{json, Map, Value};

use super::{Ctx, Reply};
use crate::clock;
use crate::errors::{GraphError, GraphResult};
use crate::state::{Kind, Method};

pub const POLICY_REFUSAL: &str = "Converged UserCredentialPolicy does not allow creating or updating this authentication method. AuthMethodType [TemporaryAccessPass].";

/// Characters of a generated pass (letters, digits and a few symbols, as real passes show).
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789@#$%&*+=?!";

fn generate(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

pub fn create(cx: &mut Ctx) -> GraphResult<Reply> {
    let i = cx.user_index()?;
    let uid = cx.st.users[i].id().to_string();
    let cfg = cx
        .st
        .configuration("TemporaryAccessPass")
        .cloned()
        .unwrap_or(json!({"state": "disabled"}));
    if !cx.st.policy_includes(&cfg, &uid, None) {
        return Err(GraphError::method_bad_request(POLICY_REFUSAL));
    }
    let body = cx.body.clone().unwrap_or(Value::Null);
    let min = cfg["minimumLifetimeInMinutes"].as_i64().unwrap_or(60);
    let max = cfg["maximumLifetimeInMinutes"].as_i64().unwrap_or(480);
    let lifetime = body["lifetimeInMinutes"]
        .as_i64()
        .unwrap_or_else(|| cfg["defaultLifetimeInMinutes"].as_i64().unwrap_or(60));
    if lifetime < min || lifetime > max {
        return Err(GraphError::method_bad_request(format!(
            "Invalid LifetimeInMinutes specified. The valid range between {min} and {max}."
        )));
    }
    let policy_once = cfg["isUsableOnce"].as_bool().unwrap_or(false);
    let once = body["isUsableOnce"].as_bool().unwrap_or(policy_once);
    if policy_once && !once {
        return Err(GraphError::method_bad_request(
            "Invalid IsUsableOnce specified. The authentication method policy requires a one-time use Temporary Access Pass.",
        ));
    }
    let now = cx.st.now();
    let start = match body["startDateTime"].as_str() {
        Some(s) => clock::parse(s).ok_or_else(|| {
            GraphError::method_bad_request(format!("Invalid StartDateTime specified: '{s}'."))
        })?,
        None => now,
    };
    let len = cfg["defaultLength"].as_u64().unwrap_or(8).clamp(8, 48) as usize;
    let id = uuid::Uuid::new_v4().to_string();
    let mut props = Map::new();
    props.insert("id".into(), json!(id));
    props.insert("temporaryAccessPass".into(), json!(generate(len)));
    props.insert("createdDateTime".into(), json!(clock::graph(now)));
    props.insert("startDateTime".into(), json!(clock::graph(start)));
    props.insert("lifetimeInMinutes".into(), json!(lifetime));
    props.insert("isUsableOnce".into(), json!(once));
    let u = &mut cx.st.users[i];
    // One pass per user: a new one replaces the old (FACTS §3 [s14][s16]).
    u.methods.retain(|m| m.kind != Kind::TemporaryAccessPass);
    u.methods.push(Method {
        kind: Kind::TemporaryAccessPass,
        props,
        sms_enabled_at: None,
        one_time_used: false,
    });
    let u = &cx.st.users[i];
    let m = u.methods.last().expect("just pushed");
    let mut v = cx.st.render_method(u, m, true);
    v["@odata.context"] = json!(cx.context(&format!(
        "users('{uid}')/authentication/temporaryAccessPassMethods/$entity"
    )));
    let mut r = Reply::created(v);
    r.headers.push(("Cache-Control".into(), "no-store".into()));
    Ok(r)
}
