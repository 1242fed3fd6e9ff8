//! The single entry point: a component hands over its request and the host
//! ports; routing, the request id and the final headers happen here once.

use http::header::{HeaderValue, ALLOW};
use std::future::Future;
use std::pin::Pin;

use http::Method;

use crate::api::endpoints::{self, Endpoint};
use crate::api::request::Request;
use crate::api::response::{self, Response};
use crate::api::{ErrorCode, Problem, RequestId};
use crate::ops;
use crate::ports::Host;

/// A Spin component: its name and the routes it owns. Each component crate
/// names its own constant, so its build links only its own operations (the
/// phone component's numbering plans stay out of the others).
#[derive(Clone, Copy)]
pub struct Component {
    name: &'static str,
    routes: &'static [Route],
}

impl std::fmt::Debug for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl Component {
    /// `/healthz`, `/readyz`, and the catch-all 404.
    pub const META: Component = Component {
        name: "meta",
        routes: &[
            Route {
                endpoint: &endpoints::HEALTHZ,
                handler: healthz,
                subtree: false,
            },
            Route {
                endpoint: &endpoints::READYZ,
                handler: readyz,
                subtree: false,
            },
            Route {
                endpoint: &endpoints::OPENAPI,
                handler: openapi,
                subtree: false,
            },
            Route {
                endpoint: &endpoints::SWAGGER,
                handler: swagger,
                subtree: false,
            },
        ],
    };
    /// `POST /v1/tap`.
    pub const TAP: Component = Component {
        name: "tap",
        routes: &[Route {
            endpoint: &endpoints::TAP,
            handler: mutation::<ops::issue_tap::IssueTap>,
            subtree: false,
        }],
    };
    /// `POST /v1/reset`.
    pub const RESET: Component = Component {
        name: "reset",
        routes: &[Route {
            endpoint: &endpoints::RESET,
            handler: mutation::<ops::reset::ResetMfa>,
            subtree: false,
        }],
    };
    /// `POST /v1/phone` (numbering plans: the `phone` feature).
    #[cfg(feature = "phone")]
    pub const PHONE: Component = Component {
        name: "phone",
        routes: &[Route {
            endpoint: &endpoints::PHONE,
            handler: mutation::<ops::add_phone::AddPhone>,
            subtree: false,
        }],
    };

    /// `GET /v1/failures`, `POST /v1/failures/refresh`.
    pub const FAILURES: Component = Component {
        name: "failures",
        routes: &[
            Route {
                endpoint: &endpoints::FAILURES,
                handler: failures,
                subtree: false,
            },
            Route {
                endpoint: &endpoints::FAILURES_REFRESH,
                handler: failures_refresh,
                subtree: false,
            },
        ],
    };
    /// `GET /v1/diagnose`.
    pub const DIAGNOSE: Component = Component {
        name: "diagnose",
        routes: &[Route {
            endpoint: &endpoints::DIAGNOSE,
            handler: diagnose,
            subtree: false,
        }],
    };
    /// `GET /v1/audit`, `/v1/audit/{auditId}`, `/v1/audit/verify`.
    pub const AUDIT: Component = Component {
        name: "audit",
        routes: &[Route {
            endpoint: &endpoints::AUDIT,
            handler: audit,
            subtree: true,
        }],
    };

    /// Every component, as `spin.toml` declares them.
    #[cfg(feature = "phone")]
    pub const ALL: [Component; 7] = [
        Component::META,
        Component::TAP,
        Component::RESET,
        Component::PHONE,
        Component::FAILURES,
        Component::DIAGNOSE,
        Component::AUDIT,
    ];

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The paths this component's routes start from.
    pub fn paths(&self) -> impl Iterator<Item = &'static str> {
        self.routes.iter().map(|r| r.endpoint.path)
    }

    /// Whether this component answers `method` on `path`.
    pub fn serves(&self, method: &Method, path: &str) -> bool {
        self.routes
            .iter()
            .any(|r| r.matches(path) && r.endpoint.method == method)
    }
}

type Reply<'a> = Pin<Box<dyn Future<Output = Result<Response, Problem>> + 'a>>;
type Handler = for<'a> fn(&'a Request, &'a Host<'a>, &'a RequestId) -> Reply<'a>;

/// One route: an endpoint of the contract and its handler.
struct Route {
    endpoint: &'static Endpoint,
    handler: Handler,
    /// Also answers every path under the endpoint's (its handler routes
    /// further: `GET /v1/audit/...`).
    subtree: bool,
}

impl Route {
    fn matches(&self, path: &str) -> bool {
        self.endpoint.matches_path(path)
            || (self.subtree
                && path
                    .strip_prefix(self.endpoint.path)
                    .is_some_and(|rest| rest.starts_with('/')))
    }
}

fn healthz<'a>(_: &'a Request, _: &'a Host<'a>, _: &'a RequestId) -> Reply<'a> {
    Box::pin(async { Ok(ops::meta::healthz()) })
}

fn readyz<'a>(req: &'a Request, host: &'a Host<'a>, _: &'a RequestId) -> Reply<'a> {
    Box::pin(ops::meta::readyz(req, host))
}

fn openapi<'a>(_: &'a Request, _: &'a Host<'a>, _: &'a RequestId) -> Reply<'a> {
    let doc = crate::api::documents::openapi();
    Box::pin(async move { Ok(response::json_text(http::StatusCode::OK, doc)) })
}

fn swagger<'a>(req: &'a Request, _: &'a Host<'a>, _: &'a RequestId) -> Reply<'a> {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok());
    let doc = crate::api::documents::swagger(host);
    Box::pin(async move { Ok(response::json_text(http::StatusCode::OK, doc)) })
}

fn audit<'a>(req: &'a Request, host: &'a Host<'a>, _: &'a RequestId) -> Reply<'a> {
    Box::pin(ops::read_audit::serve(req, host))
}

fn failures<'a>(req: &'a Request, host: &'a Host<'a>, id: &'a RequestId) -> Reply<'a> {
    Box::pin(ops::failures::serve(req, host, id))
}

fn failures_refresh<'a>(req: &'a Request, host: &'a Host<'a>, id: &'a RequestId) -> Reply<'a> {
    Box::pin(ops::failures::refresh(req, host, id))
}

fn diagnose<'a>(req: &'a Request, host: &'a Host<'a>, id: &'a RequestId) -> Reply<'a> {
    Box::pin(ops::diagnose::serve(req, host, id))
}

fn mutation<'a, O: ops::mutation::Operation + 'static>(
    req: &'a Request,
    host: &'a Host<'a>,
    request_id: &'a RequestId,
) -> Reply<'a> {
    Box::pin(ops::mutation::run::<O>(req, host, request_id))
}

/// What the edge logs about a request: never a header value or a body.
#[derive(Debug)]
pub struct Served {
    pub response: Response,
    pub request_id: RequestId,
    /// The error code, if the answer was a problem.
    pub code: Option<&'static str>,
    /// The variable to fix, when the answer was `misconfigured` (its
    /// name, never its value).
    pub variable: Option<String>,
}

pub async fn handle(component: Component, req: Request, host: &Host<'_>) -> Served {
    let request_id = RequestId::from_header_or_generate(
        req.headers()
            .get(RequestId::HEADER)
            .map(HeaderValue::as_bytes),
        host.entropy,
    );
    let result = dispatch(component, &req, host, &request_id).await;
    let (res, code, variable) = match result {
        Ok(res) => (res, None, None),
        Err(p) => {
            let code = p.code.as_str();
            let variable = (p.code == ErrorCode::Misconfigured)
                .then(|| p.extensions.get("variable")?.as_str().map(str::to_string))
                .flatten();
            (p.into_response(), Some(code), variable)
        }
    };
    Served {
        response: response::finish(res, &request_id),
        request_id,
        code,
        variable,
    }
}

async fn dispatch(
    component: Component,
    req: &Request,
    host: &Host<'_>,
    request_id: &RequestId,
) -> Result<Response, Problem> {
    let path = req.uri().path();
    let routes: Vec<&Route> = component
        .routes
        .iter()
        .filter(|r| r.matches(path))
        .collect();
    if routes.is_empty() {
        return Err(Problem::new(
            ErrorCode::NotFound,
            format!("no endpoint at {}", safe_path(path)),
        ));
    }
    let Some(route) = routes.iter().find(|r| r.endpoint.method == req.method()) else {
        let allow = routes
            .iter()
            .map(|r| r.endpoint.method.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(Problem::new(
            ErrorCode::MethodNotAllowed,
            format!(
                "{} does not answer {}; allowed: {allow}",
                routes[0].endpoint.path,
                req.method()
            ),
        )
        .header(ALLOW, allow));
    };
    (route.handler)(req, host, request_id).await
}

/// A path quoted back in an error: printable ASCII only, bounded.
fn safe_path(path: &str) -> String {
    path.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::request::Body;
    use crate::ports::Database as _;
    use crate::testing::World;
    use futures::executor::block_on;
    use serde_json::Value;

    fn get(world: &World, method: Method, path: &str) -> Served {
        get_as(world, method, path, None)
    }

    fn get_as(world: &World, method: Method, path: &str, key: Option<&str>) -> Served {
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("x-request-id", "test-1");
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let req = req.body(Body::Complete(Vec::new())).unwrap();
        block_on(handle(Component::META, req, &world.host()))
    }

    /// The routes are the contract's endpoints, each answered by exactly
    /// one component.
    #[test]
    fn every_endpoint_has_exactly_one_component() {
        for e in endpoints::ALL {
            let path = e.path.replace("{auditId}", "aud_x");
            let serving: Vec<_> = Component::ALL
                .iter()
                .filter(|c| c.serves(&e.method, &path))
                .map(Component::name)
                .collect();
            assert_eq!(serving.len(), 1, "{} {}: {serving:?}", e.method, e.path);
        }
        for c in Component::ALL {
            for r in c.routes {
                assert!(
                    endpoints::ALL.iter().any(|e| std::ptr::eq(*e, r.endpoint)),
                    "{}",
                    r.endpoint.path
                );
            }
        }
    }

    fn configured() -> World {
        World::configured()
    }

    #[test]
    fn healthz_answers_without_any_configuration() {
        let out = get(&World::default(), Method::GET, "/healthz");
        assert_eq!(out.response.status(), 200);
        assert_eq!(out.response.headers()["x-request-id"], "test-1");
        assert_eq!(out.response.body(), br#"{"status":"ok"}"#);
    }

    #[test]
    fn wrong_method_is_405_with_allow() {
        let out = get(&World::default(), Method::POST, "/healthz");
        assert_eq!(out.response.status(), 405);
        assert_eq!(out.response.headers()["allow"], "GET");
        assert_eq!(out.code, Some("method_not_allowed"));
    }

    #[test]
    fn unknown_path_is_problem_404() {
        let out = get(&World::default(), Method::GET, "/v1/nope");
        assert_eq!(out.response.status(), 404);
        assert_eq!(
            out.response.headers()["content-type"],
            "application/problem+json"
        );
        let v: Value = serde_json::from_slice(out.response.body()).unwrap();
        assert_eq!(v["code"], "not_found");
    }

    #[test]
    fn readyz_names_the_bad_variable() {
        let mut w = configured();
        w.vars.insert(
            "callers".into(),
            "[{\"id\":\"a\",\"keySha256\":\"TOPSECRET\",\"scopes\":[]}]".into(),
        );
        let out = get(&w, Method::GET, "/readyz");
        assert_eq!(out.response.status(), 500);
        let body = String::from_utf8(out.response.body().clone()).unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["code"], "misconfigured");
        assert_eq!(v["variable"], "callers");
        assert!(!body.contains("TOPSECRET"));
    }

    /// `password`'s SHA-256, the configured caller's key, now auditing.
    fn auditor() -> World {
        let mut w = configured();
        w.vars.insert(
            "callers".into(),
            r#"[{"id":"a","keySha256":"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8","scopes":["audit:read"]}]"#.into(),
        );
        w
    }

    #[test]
    fn readyz_creates_state_once_and_then_reads_it_back() {
        let w = auditor();
        w.transport.push(
            200,
            r#"{"token_type":"Bearer","expires_in":3599,"access_token":"t"}"#,
        );
        let first = get_as(&w, Method::GET, "/readyz", Some("password"));
        assert_eq!(
            first.response.status(),
            200,
            "{:?}",
            String::from_utf8_lossy(first.response.body())
        );
        let a: Value = serde_json::from_slice(first.response.body()).unwrap();
        let b: Value = serde_json::from_slice(
            get_as(&w, Method::GET, "/readyz", Some("password"))
                .response
                .body(),
        )
        .unwrap();
        assert_eq!(a["installation"], b["installation"]);
        assert_eq!(
            a["schema"]["version"],
            crate::store::schema::CURRENT_VERSION
        );
        assert_eq!(a["schema"], b["schema"]);
        assert_eq!(a["graph"]["cached"], false);
        assert_eq!(b["graph"]["cached"], true);
        assert_eq!(w.transport.sent().len(), 1);
        // An opaque token says nothing about its permissions.
        assert_eq!(a["permissions"]["granted"], Value::Null);
        assert_eq!(a["permissions"]["operations"]["tap"], "unknown");
        assert_eq!(a["licences"], serde_json::json!({ "p1": null, "p2": null }));
        assert_eq!(
            a["audit"],
            serde_json::json!({ "keyed": false, "unfinished": [] })
        );
        // An attempt journaled and never ended is listed once it is older
        // than any request could run.
        w.db.execute(
            "INSERT INTO audit_attempts (audit_id, time, caller, operation, request_id, entry)
             VALUES ('aud_x', '2026-11-23T07:58:00.000Z', 'a', 'tap', 'req-died', '{}')",
            &[],
        )
        .unwrap();
        let c: Value = serde_json::from_slice(
            get_as(&w, Method::GET, "/readyz", Some("password"))
                .response
                .body(),
        )
        .unwrap();
        assert_eq!(
            c["audit"]["unfinished"],
            serde_json::json!([{ "auditId": "aud_x", "time": "2026-11-23T07:58:00.000Z",
                "operation": "tap", "requestId": "req-died" }])
        );

        // Anonymous probes get the status alone; a wrong key is refused.
        let anon: Value =
            serde_json::from_slice(get(&w, Method::GET, "/readyz").response.body()).unwrap();
        assert_eq!(anon, serde_json::json!({ "status": "ready" }));
        let wrong = get_as(&w, Method::GET, "/readyz", Some("guess"));
        assert_eq!(wrong.response.status(), 401);
    }

    #[test]
    fn readyz_compares_the_tokens_roles_with_each_operations_needs() {
        use base64::Engine;
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let jwt = format!(
            "{}.{}.sig",
            enc(r#"{"alg":"RS256"}"#),
            enc(
                r#"{"roles":["User.Read.All","AuditLog.Read.All","UserAuthMethod-Phone.ReadWrite.All","RoleManagement.Read.Directory","GroupMember.Read.All"]}"#
            )
        );
        let w = auditor();
        w.transport.push(
            200,
            &format!(r#"{{"token_type":"Bearer","expires_in":3599,"access_token":"{jwt}"}}"#),
        );
        let v: Value = serde_json::from_slice(
            get_as(&w, Method::GET, "/readyz", Some("password"))
                .response
                .body(),
        )
        .unwrap();
        let ops = &v["permissions"]["operations"];
        assert_eq!(ops["failures"], "ok");
        assert_eq!(
            ops["phone"]["missing"],
            serde_json::json!([
                "PrivilegedEligibilitySchedule.Read.AzureADGroup",
                "PrivilegedAssignmentSchedule.Read.AzureADGroup"
            ])
        );
        assert_eq!(ops["notify"]["missing"], serde_json::json!(["Mail.Send"]));
        assert_eq!(v["permissions"]["granted"][1], "AuditLog.Read.All");
    }
}
