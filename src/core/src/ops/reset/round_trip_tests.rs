//! `POST /v1/reset` against a small in-memory tenant that answers like
//! Graph (per-type deletes, the default refused while others remain, the
//! mobile while an alternate exists, `$batch` with `dependsOn` and `424`):
//! how many round trips a reset waits for, what each envelope carries, and
//! the honest answers when something inside a chain fails.

use std::cell::RefCell;
use std::rc::Rc;

use futures::executor::block_on;
use serde_json::{json, Value};

use super::ResetMfa;
use crate::api::request::Body;
use crate::api::RequestId;
use crate::ops::mutation::run;
use crate::ports::{OutboundRequest, OutboundResponse, TransportError};
use crate::testing::World;

const USER_ID: &str = "2f9c4b7e-83d1-4a6f-b2c5-9e1d7a3f6b80";
const AUTHENTICATOR: &str = "app-1";
const MOBILE: &str = "3179e48a-750b-4051-897c-87b9720928f7";
const ALTERNATE: &str = "b6332ec1-7057-4abe-9331-3d72feddfe41";
const OFFICE: &str = "e37fc753-ff3b-4958-9484-eaa9425c82bc";
const PASSWORD: &str = "28c10230-6103-485e-b985-444c60001490";
const GRAPH: &str = "https://graph.test";

/// A fault on the requests whose path contains `path` (batch items too).
struct Fault {
    path: &'static str,
    method: &'static str,
    status: u16,
    count: u32,
    /// Matching requests let through before it applies.
    skip: u32,
    /// The request runs; only its answer is lost (no HTTP answer at all).
    lost_after_commit: bool,
}

/// The tenant: one user's methods, as Graph lists them.
struct Tenant {
    methods: Vec<Value>,
    default: Option<String>,
    /// `signInPreferences`; `None` answers 403.
    hint: Option<&'static str>,
    faults: Vec<Fault>,
    revoked: u32,
    /// Deletions that took effect, in order.
    deleted: Vec<String>,
}

fn method(odata: &str, id: &str, phone: Option<&str>) -> Value {
    let mut m = json!({ "@odata.type": format!("#microsoft.graph.{odata}"), "id": id });
    if let Some(p) = phone {
        m["phoneType"] = json!(p);
    }
    m
}

/// Alice: every method type, the Authenticator her default.
fn every_type() -> Vec<Value> {
    vec![
        method("passwordAuthenticationMethod", PASSWORD, None),
        method("phoneAuthenticationMethod", MOBILE, Some("mobile")),
        method(
            "phoneAuthenticationMethod",
            ALTERNATE,
            Some("alternateMobile"),
        ),
        method("phoneAuthenticationMethod", OFFICE, Some("office")),
        method("emailAuthenticationMethod", "email-1", None),
        method("fido2AuthenticationMethod", "fido-1", None),
        method(
            "microsoftAuthenticatorAuthenticationMethod",
            AUTHENTICATOR,
            None,
        ),
        method("softwareOathAuthenticationMethod", "soft-1", None),
        method(
            "windowsHelloForBusinessAuthenticationMethod",
            "whfb-1",
            None,
        ),
        method("platformCredentialAuthenticationMethod", "plat-1", None),
        method("externalAuthenticationMethod", "ext-1", None),
        method("qrCodePinAuthenticationMethod", "qr-1", None),
        method("hardwareOathAuthenticationMethod", "hw-1", None),
    ]
}

fn json_response(status: u16, body: &Value) -> OutboundResponse {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(body).unwrap()
    };
    let mut r = OutboundResponse::new(bytes);
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
    r
}

fn graph_error(status: u16, code: &str) -> (u16, Value) {
    (status, json!({ "error": { "code": code, "message": "…" } }))
}

impl Tenant {
    fn new(methods: Vec<Value>, hint: Option<&'static str>) -> Tenant {
        Tenant {
            methods,
            default: Some(AUTHENTICATOR.into()),
            hint,
            faults: Vec::new(),
            revoked: 0,
            deleted: Vec::new(),
        }
    }

    fn ids(&self) -> Vec<String> {
        self.methods
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    }

    fn fault(&mut self, method: &str, path: &str) -> Option<(u16, bool)> {
        let f = self
            .faults
            .iter_mut()
            .find(|f| f.count > 0 && f.method == method && path.contains(f.path))?;
        if f.skip > 0 {
            f.skip -= 1;
            return None;
        }
        f.count -= 1;
        Some((f.status, f.lost_after_commit))
    }

    /// One request (top-level or a batch item); `None`: no answer at all.
    fn serve(
        &mut self,
        method: &str,
        version: &str,
        path: &str,
        body: &Value,
    ) -> Option<(u16, Value)> {
        let path = path.split('?').next().unwrap();
        let fault = self.fault(method, path);
        if let Some((status, false)) = fault {
            let mut e = graph_error(status, "injected");
            if status == 429 {
                e.1["retryAfter"] = json!(60);
            }
            return Some(e);
        }
        let answer = self.route(method, version, path, body);
        match fault {
            Some((_, true)) => None,
            _ => Some(answer),
        }
    }

    fn route(&mut self, method: &str, version: &str, path: &str, body: &Value) -> (u16, Value) {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method, segs.as_slice()) {
            ("POST", ["$batch"]) => (200, self.batch(body)),
            ("GET", ["users", _]) => (
                200,
                json!({ "id": USER_ID, "userPrincipalName": "alice@contoso.com",
                        "displayName": "Alice", "accountEnabled": true, "userType": "Member" }),
            ),
            ("GET", ["users", _, "transitiveMemberOf"]) => (200, json!({ "value": [] })),
            ("GET", ["roleManagement", ..]) | ("GET", ["groups"]) => (200, json!({ "value": [] })),
            ("GET", ["users", _, "authentication", "methods"]) if version == "v1.0" => {
                let v1: Vec<Value> = self
                    .methods
                    .iter()
                    .filter(|m| !m["@odata.type"].as_str().unwrap().contains("hardwareOath"))
                    .cloned()
                    .collect();
                (200, json!({ "value": v1 }))
            }
            ("GET", ["users", _, "authentication", "hardwareOathMethods"]) if version == "beta" => {
                let hw: Vec<Value> = self
                    .methods
                    .iter()
                    .filter(|m| m["@odata.type"].as_str().unwrap().contains("hardwareOath"))
                    .cloned()
                    .collect();
                (200, json!({ "value": hw }))
            }
            ("GET", ["users", _, "authentication", "signInPreferences"]) if version == "beta" => {
                match self.hint {
                    Some(h) => (
                        200,
                        json!({ "userPreferredMethodForSecondaryAuthentication": h }),
                    ),
                    None => graph_error(403, "accessDenied"),
                }
            }
            ("POST", ["users", _, "revokeSignInSessions"]) => {
                self.revoked += 1;
                (200, json!({ "value": true }))
            }
            ("DELETE", ["users", _, "authentication", "qrCodePinMethod"]) if version == "beta" => {
                let id = self
                    .methods
                    .iter()
                    .find(|m| m["@odata.type"].as_str().unwrap().contains("qrCodePin"))
                    .map(|m| m["id"].as_str().unwrap().to_string());
                match id {
                    Some(id) => self.delete(&id),
                    None => graph_error(404, "itemNotFound"),
                }
            }
            ("DELETE", ["users", _, "authentication", _, id]) => self.delete(id),
            _ => graph_error(400, "BadRequest"),
        }
    }

    fn delete(&mut self, id: &str) -> (u16, Value) {
        let Some(at) = self.methods.iter().position(|m| m["id"] == id) else {
            return graph_error(404, "itemNotFound");
        };
        let others = self
            .methods
            .iter()
            .filter(|m| m["id"] != id && m["id"] != PASSWORD)
            .count();
        if self.default.as_deref() == Some(id) && others > 0 {
            return graph_error(400, "badRequest");
        }
        let phone = |m: &Value, t: &str| m["phoneType"] == t;
        if phone(&self.methods[at], "mobile")
            && self.methods.iter().any(|m| phone(m, "alternateMobile"))
        {
            return graph_error(400, "badRequest");
        }
        self.methods.remove(at);
        self.deleted.push(id.to_string());
        (204, Value::Null)
    }

    /// Graph's JSON batching: requests in `dependsOn` order (array order
    /// here), a dependant of a failed request `424` and never run.
    fn batch(&mut self, body: &Value) -> Value {
        let mut statuses: Vec<(String, u16)> = Vec::new();
        let mut responses = Vec::new();
        for r in body["requests"].as_array().unwrap() {
            let id = r["id"].as_str().unwrap().to_string();
            let failed_dep = r["dependsOn"].as_array().is_some_and(|d| {
                d.iter().any(|d| {
                    statuses
                        .iter()
                        .find(|(i, _)| i == d.as_str().unwrap())
                        .is_none_or(|(_, s)| *s >= 400)
                })
            });
            let (status, body) = if failed_dep {
                graph_error(424, "FailedDependency")
            } else {
                let url = r["url"].as_str().unwrap();
                self.serve(r["method"].as_str().unwrap(), "v1.0", url, &r["body"])
                    .unwrap_or_else(|| graph_error(504, "lost"))
            };
            let mut item = json!({ "id": id, "status": status, "headers": {}, "body": body });
            if status == 429 {
                item["headers"]["Retry-After"] = json!("60");
            }
            statuses.push((id, status));
            responses.push(item);
        }
        json!({ "responses": responses })
    }
}

/// A world whose Graph is `tenant`; the caller holds `reset`.
fn world(tenant: &Rc<RefCell<Tenant>>) -> World {
    let mut w = World::configured();
    w.vars.insert("graph_endpoint".into(), GRAPH.into());
    w.vars
        .insert("login_endpoint".into(), "https://login.test".into());
    w.vars.insert(
        "callers".into(),
        r#"[{"id":"a","keySha256":"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8","scopes":["reset","privileged"]}]"#.into(),
    );
    let t = tenant.clone();
    w.transport.respond_with(move |req: &OutboundRequest| {
        let uri = req.uri().to_string();
        if uri.starts_with("https://login.test/") {
            return Ok(json_response(
                200,
                &json!({ "access_token": "opaque", "expires_in": 3600, "token_type": "Bearer" }),
            ));
        }
        let rest = uri.strip_prefix(GRAPH).expect("a Graph call");
        let (version, path) = rest[1..].split_once('/').expect("a version");
        let body: Value = serde_json::from_slice(req.body()).unwrap_or(Value::Null);
        match t
            .borrow_mut()
            .serve(req.method().as_str(), version, &format!("/{path}"), &body)
        {
            Some((status, body)) => Ok(json_response(status, &body)),
            None => Err(TransportError::Connection("reset by peer".into())),
        }
    });
    w
}

fn reset(w: &World, body: Value) -> (u16, Value) {
    let req = http::Request::builder()
        .method("POST")
        .uri("/v1/reset")
        .header("content-type", "application/json")
        .header("authorization", "Bearer password")
        .body(Body::Complete(serde_json::to_vec(&body).unwrap()))
        .unwrap();
    let id = RequestId::parse("req-1").unwrap();
    match block_on(run::<ResetMfa>(&req, &w.host(), &id)) {
        Ok(res) => (
            res.status().as_u16(),
            serde_json::from_slice(res.body()).unwrap(),
        ),
        Err(p) => {
            let res = p.into_response();
            (
                res.status().as_u16(),
                serde_json::from_slice(res.body()).unwrap(),
            )
        }
    }
}

/// Warms the token and role-holder caches with a dry run, then resets.
fn warm_reset(w: &World) -> (u16, Value) {
    let (s, b) = reset(
        w,
        json!({ "user": "alice@contoso.com", "ticket": "T", "dryRun": true }),
    );
    assert_eq!(s, 200, "{b}");
    w.transport.clear();
    reset(w, json!({ "user": "alice@contoso.com", "ticket": "T" }))
}

/// What was sent: (round trip, method, path after the host, JSON body).
fn sent(w: &World) -> Vec<(usize, String, String, Value)> {
    w.transport
        .sent()
        .iter()
        .zip(w.transport.depths())
        .map(|(r, d)| {
            let uri = r.uri().to_string();
            (
                d,
                r.method().to_string(),
                uri.strip_prefix(GRAPH).unwrap_or(&uri).to_string(),
                serde_json::from_slice(r.body()).unwrap_or(Value::Null),
            )
        })
        .collect()
}

fn envelopes(w: &World) -> Vec<(usize, Vec<Value>)> {
    sent(w)
        .into_iter()
        .filter(|(_, _, p, _)| p == "/v1.0/$batch")
        .map(|(d, _, _, b)| (d, b["requests"].as_array().unwrap().clone()))
        .collect()
}

/// Every request after the first depends on the one before it.
fn assert_chained(items: &[Value]) {
    assert!(items[0].get("dependsOn").is_none(), "{items:#?}");
    for pair in items.windows(2) {
        assert_eq!(pair[1]["dependsOn"], json!([pair[0]["id"]]), "{items:#?}");
    }
}

fn urls(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| {
            format!(
                "{} {}",
                i["method"].as_str().unwrap(),
                i["url"].as_str().unwrap()
            )
        })
        .collect()
}

fn types(list: &Value) -> Vec<String> {
    let mut t: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].as_str().unwrap().to_string())
        .collect();
    t.sort();
    t
}

#[test]
fn every_method_type_is_removed_in_three_round_trips() {
    let tenant = Rc::new(RefCell::new(Tenant::new(every_type(), Some("push"))));
    let w = world(&tenant);
    let (s, b) = warm_reset(&w);
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["removed"].as_array().unwrap().len(), 12, "{b}");
    assert_eq!(b["failed"], json!([]));
    assert_eq!(b["sessionsRevoked"], true);
    assert_eq!(tenant.borrow().ids(), [PASSWORD]);
    assert_eq!(tenant.borrow().revoked, 1);

    assert_eq!(w.transport.sequential(), 3, "{:#?}", sent(&w));
    let env = envelopes(&w);
    assert_eq!(env.len(), 3, "{env:#?}");
    // 1: the reads, with the beta lists beside them.
    assert_eq!(env[0].0, 1);
    let first_trip: Vec<String> = sent(&w)
        .into_iter()
        .filter(|(d, ..)| *d == 1)
        .map(|(_, m, p, _)| format!("{m} {p}"))
        .collect();
    assert_eq!(first_trip.len(), 3, "{first_trip:#?}");
    assert!(first_trip
        .iter()
        .any(|p| p.ends_with("/hardwareOathMethods")));
    assert!(first_trip.iter().any(|p| p.ends_with("/signInPreferences")));
    // 2: the nine v1.0 deletions chained, the alternate before the mobile,
    // the default not among them; the two beta deletions beside the chain.
    let (depth, chain) = &env[1];
    assert_eq!(*depth, 2);
    assert_eq!(chain.len(), 9, "{chain:#?}");
    assert_chained(chain);
    let u = urls(chain);
    assert!(u.iter().all(|u| u.starts_with("DELETE /users/")), "{u:#?}");
    let at = |id: &str| u.iter().position(|x| x.ends_with(id)).unwrap();
    assert!(at(ALTERNATE) < at(MOBILE));
    assert!(!u.iter().any(|x| x.ends_with(AUTHENTICATOR)));
    let beta: Vec<(usize, String)> = sent(&w)
        .into_iter()
        .filter(|(_, m, p, _)| m == "DELETE" && p.starts_with("/beta/"))
        .map(|(d, _, p, _)| (d, p))
        .collect();
    assert_eq!(beta.len(), 2, "{beta:#?}");
    assert!(beta.iter().all(|(d, _)| *d == 2));
    // 3: the default, the revocation and the re-read, chained; the beta
    // hardware list read again beside them.
    let (depth, last) = &env[2];
    assert_eq!(*depth, 3);
    assert_chained(last);
    let u = urls(last);
    assert_eq!(u.len(), 3, "{u:#?}");
    assert!(u[0].starts_with("DELETE ") && u[0].ends_with(AUTHENTICATOR));
    assert_eq!(u[1], format!("POST /users/{USER_ID}/revokeSignInSessions"));
    assert_eq!(u[2], format!("GET /users/{USER_ID}/authentication/methods"));
    assert!(sent(&w)
        .iter()
        .any(|(d, m, p, _)| *d == 3 && m == "GET" && p.ends_with("/hardwareOathMethods")));
    // The default went last of all.
    assert_eq!(tenant.borrow().deleted.last().unwrap(), AUTHENTICATOR);
}

#[test]
fn without_beta_methods_the_deletions_revocation_and_re_read_share_one_batch() {
    let methods: Vec<Value> = every_type()
        .into_iter()
        .filter(|m| {
            let t = m["@odata.type"].as_str().unwrap();
            !t.contains("hardwareOath") && !t.contains("qrCodePin")
        })
        .collect();
    let tenant = Rc::new(RefCell::new(Tenant::new(methods, Some("push"))));
    let w = world(&tenant);
    let (s, b) = warm_reset(&w);
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["removed"].as_array().unwrap().len(), 10);
    assert_eq!(tenant.borrow().ids(), [PASSWORD]);
    assert_eq!(w.transport.sequential(), 2, "{:#?}", sent(&w));
    let env = envelopes(&w);
    assert_eq!(env.len(), 2);
    let u = urls(&env[1].1);
    assert_eq!(u.len(), 12, "{u:#?}");
    assert_chained(&env[1].1);
    assert!(u[9].ends_with(AUTHENTICATOR), "the default last: {u:#?}");
    assert!(u[10].ends_with("/revokeSignInSessions"));
    assert!(u[11].ends_with("/authentication/methods"));
}

#[test]
fn an_unreadable_default_is_refused_once_and_retried_within_three_round_trips() {
    let tenant = Rc::new(RefCell::new(Tenant::new(every_type(), None)));
    let w = world(&tenant);
    let (s, b) = warm_reset(&w);
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["failed"], json!([]));
    assert_eq!(tenant.borrow().ids(), [PASSWORD]);
    assert_eq!(tenant.borrow().deleted.last().unwrap(), AUTHENTICATOR);
    assert_eq!(w.transport.sequential(), 3, "{:#?}", sent(&w));
    let env = envelopes(&w);
    assert_eq!(env.len(), 3);
    // Round 2 tried the default where Graph's order put it; the rest of
    // that chain did not run, and went again before it in round 3.
    let second = urls(&env[1].1);
    let refused_at = second
        .iter()
        .position(|u| u.ends_with(AUTHENTICATOR))
        .unwrap();
    let third = urls(&env[2].1);
    let mut again = third[..third.len() - 3].to_vec();
    let mut not_run = second[refused_at + 1..].to_vec();
    again.sort();
    not_run.sort();
    assert_eq!(again, not_run);
    assert!(third[third.len() - 3].ends_with(AUTHENTICATOR));
    for u in [&second, &third] {
        let at = |id: &str| u.iter().position(|x| x.ends_with(id));
        assert!(at(ALTERNATE) < at(MOBILE), "{u:#?}");
    }
    assert_chained(&env[2].1);
}

#[test]
fn a_failure_inside_the_chain_is_a_partial_reset_the_rest_sent_again() {
    let tenant = Rc::new(RefCell::new(Tenant::new(every_type(), Some("push"))));
    tenant.borrow_mut().faults.push(Fault {
        path: "/fido2Methods/",
        method: "DELETE",
        status: 403,
        count: 1,
        skip: 0,
        lost_after_commit: false,
    });
    let w = world(&tenant);
    let (s, p) = warm_reset(&w);
    assert_eq!(s, 502, "{p}");
    assert_eq!(p["code"], "partial_reset");
    assert_eq!(p["removed"].as_array().unwrap().len(), 10, "{p}");
    let failed = p["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 2, "{p}");
    let fido = failed.iter().find(|f| f["type"] == "fido2").unwrap();
    assert_eq!(
        (fido["status"].clone(), fido["code"].clone()),
        (json!(403), json!("injected"))
    );
    let app = failed.iter().find(|f| f["id"] == AUTHENTICATOR).unwrap();
    assert_eq!(app["status"], 400, "refused: the FIDO2 key remains");
    assert_eq!(p["sessionsRevoked"], true);
    assert_eq!(
        types(&p["remaining"]),
        ["fido2", "microsoftAuthenticator", "password"]
    );
    // The chain after the FIDO2 key went again, then the default with the
    // revocation (refused, so they did not run), then those two alone.
    assert_eq!(w.transport.sequential(), 4, "{:#?}", sent(&w));
    let env = envelopes(&w);
    assert_eq!(env.len(), 4);
    let last = urls(&env[3].1);
    assert_eq!(last.len(), 2, "{last:#?}");
    assert!(last[0].ends_with("/revokeSignInSessions"));
    assert_eq!(tenant.borrow().revoked, 1);

    // A retry finishes the job in two round trips.
    w.transport.clear();
    let (s, b) = reset(&w, json!({ "user": "alice@contoso.com", "ticket": "T" }));
    assert_eq!(s, 200, "{b}");
    assert_eq!(types(&b["removed"]), ["fido2", "microsoftAuthenticator"]);
    assert_eq!(tenant.borrow().ids(), [PASSWORD]);
    assert_eq!(w.transport.sequential(), 2);
}

#[test]
fn throttled_past_the_budget_stops_the_chain_where_it_was_and_revokes_nothing() {
    let tenant = Rc::new(RefCell::new(Tenant::new(every_type(), Some("push"))));
    tenant.borrow_mut().faults.push(Fault {
        path: "/softwareOathMethods/",
        method: "DELETE",
        status: 429,
        count: 5,
        skip: 0,
        lost_after_commit: false,
    });
    let w = world(&tenant);
    let (s, p) = warm_reset(&w);
    assert_eq!(s, 503, "{p}");
    assert_eq!(p["code"], "graph_throttled");
    let removed = p["removed"].as_array().unwrap().len();
    let env = envelopes(&w);
    let chain = urls(&env[1].1);
    let soft = chain
        .iter()
        .position(|u| u.contains("/softwareOathMethods/"))
        .unwrap();
    // What ran before it in the chain, and the two beta deletions beside.
    assert_eq!(removed, soft + 2, "{p}");
    assert_eq!(tenant.borrow().deleted.len(), removed);
    assert!(p["changed"]
        .as_str()
        .unwrap()
        .starts_with(&format!("removed {removed} method(s)")));
    let failed = p["failed"].as_array().unwrap();
    assert!(failed
        .iter()
        .any(|f| f["type"] == "softwareOath" && f["status"] == 429));
    assert!(failed
        .iter()
        .filter(|f| f["type"] != "softwareOath")
        .all(|f| f["reason"].as_str().unwrap().starts_with("not attempted")));
    assert_eq!(failed.len(), 12 - removed);
    assert_eq!(tenant.borrow().revoked, 0);
    assert_eq!(p["sessionsRevoked"], false);
}

#[test]
fn a_deletion_batch_without_an_answer_is_settled_by_re_reading() {
    let tenant = Rc::new(RefCell::new(Tenant::new(every_type(), Some("push"))));
    // The fourth `$batch` (the dry run's reads and role holders, the
    // reset's reads, then the deletions) runs, but its answer is lost.
    tenant.borrow_mut().faults.push(Fault {
        path: "/$batch",
        method: "POST",
        status: 0,
        count: 1,
        skip: 3,
        lost_after_commit: true,
    });
    let w = world(&tenant);
    let (s, p) = warm_reset(&w);
    assert_eq!(s, 502, "{p}");
    assert_eq!(p["code"], "partial_reset");
    // The re-read shows the chain's deletions happened: they are removed,
    // not failed; the default was never sent.
    assert_eq!(p["removed"].as_array().unwrap().len(), 11, "{p}");
    let failed = p["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{p}");
    assert_eq!(failed[0]["id"], AUTHENTICATOR);
    assert_eq!(
        types(&p["remaining"]),
        ["microsoftAuthenticator", "password"]
    );
    assert_eq!(p["sessionsRevoked"], false);
    assert!(!p["changed"].as_str().unwrap().contains("no answer"), "{p}");

    w.transport.clear();
    let (s, b) = reset(&w, json!({ "user": "alice@contoso.com", "ticket": "T" }));
    assert_eq!(s, 200, "{b}");
    assert_eq!(tenant.borrow().ids(), [PASSWORD]);
}

#[test]
fn more_methods_than_a_batch_holds_go_in_chains_side_by_side() {
    let mut methods = vec![
        method("passwordAuthenticationMethod", PASSWORD, None),
        method("phoneAuthenticationMethod", MOBILE, Some("mobile")),
        method(
            "microsoftAuthenticatorAuthenticationMethod",
            AUTHENTICATOR,
            None,
        ),
    ];
    for i in 0..30 {
        methods.push(method(
            "fido2AuthenticationMethod",
            &format!("key-{i:02}"),
            None,
        ));
    }
    methods.push(method(
        "phoneAuthenticationMethod",
        ALTERNATE,
        Some("alternateMobile"),
    ));
    let tenant = Rc::new(RefCell::new(Tenant::new(methods, Some("push"))));
    let w = world(&tenant);
    let (s, b) = warm_reset(&w);
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["removed"].as_array().unwrap().len(), 33);
    assert_eq!(tenant.borrow().ids(), [PASSWORD]);
    assert_eq!(w.transport.sequential(), 3, "{:#?}", sent(&w));
    let env = envelopes(&w);
    assert_eq!(env.len(), 4, "reads, two chains side by side, the last");
    assert_eq!((env[1].0, env[2].0, env[3].0), (2, 2, 3));
    for (_, items) in &env {
        assert!(items.len() <= 20);
    }
    let with_mobile = env[1..3]
        .iter()
        .map(|(_, i)| urls(i))
        .find(|u| u.iter().any(|x| x.ends_with(MOBILE)))
        .unwrap();
    let at = |id: &str| with_mobile.iter().position(|x| x.ends_with(id));
    assert!(at(ALTERNATE).unwrap() < at(MOBILE).unwrap());
    assert!(urls(&env[3].1)[0].ends_with(AUTHENTICATOR));
}

#[test]
fn a_hardware_token_as_the_default_goes_alone_through_beta_one_round_trip_more() {
    let methods: Vec<Value> = every_type()
        .into_iter()
        .filter(|m| m["id"] != "soft-1")
        .collect();
    let tenant = Rc::new(RefCell::new(Tenant::new(methods, Some("oath"))));
    tenant.borrow_mut().default = Some("hw-1".into());
    let w = world(&tenant);
    let (s, b) = warm_reset(&w);
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["failed"], json!([]));
    assert_eq!(tenant.borrow().ids(), [PASSWORD]);
    assert_eq!(tenant.borrow().deleted.last().unwrap(), "hw-1");
    // Reads; every v1.0 method and the QR code; the token alone; then the
    // revocation and the re-read.
    assert_eq!(w.transport.sequential(), 4, "{:#?}", sent(&w));
    let alone: Vec<String> = sent(&w)
        .into_iter()
        .filter(|(d, ..)| *d == 3)
        .map(|(_, m, p, _)| format!("{m} {p}"))
        .collect();
    assert_eq!(alone.len(), 1, "{alone:#?}");
    assert!(alone[0].starts_with("DELETE /beta/") && alone[0].ends_with("hw-1"));
    assert_eq!(tenant.borrow().revoked, 1);
}
