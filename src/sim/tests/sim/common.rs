//! Test support: start a simulator, get a token, send requests, read `/_sim/*`.

use std::collections::HashMap;

use serde_json::{json, Value};

pub const TENANT_ID: &str = "8f3c2a1e-5b7d-4c9e-a6f0-2d4b8e1c3a57";
pub const CLIENT_ID: &str = "4a7d2c9e-1b3f-4e6a-9c8d-0e5f7a1b2c3d";
pub const CLIENT_SECRET: &str = "sim-demo-secret~Contoso.2026";
pub const READONLY_CLIENT_ID: &str = "b8e0c6a4-2d1f-4b3e-9a7c-5f6e4d3c2b1a";
pub const READONLY_SECRET: &str = "sim-readonly-secret~Contoso.2026";

pub const ALICE: &str = "2f9c4b7e-83d1-4a6f-b2c5-9e1d7a3f6b80";
pub const BOB: &str = "48b85567-7c29-53ed-b888-e7aef7ddc561";
pub const CAROL: &str = "cc021cbe-b06c-56d6-adba-dce95908c862";
pub const JO_GUEST_UPN: &str = "jo_fabrikam.com#EXT#@contoso.onmicrosoft.com";
pub const JO: &str = "128b221c-860e-59be-818b-4828a900d321";
pub const ADELE: &str = "8f28ab7b-1cbf-5507-8a6a-ee53abb4a0ed";
pub const HENRY: &str = "c9fcbe9f-a042-5fe2-85a2-c0fbfd40aebb";
pub const GRACE: &str = "45cbf6f9-513e-57e5-bd19-8af940ba6990";
pub const BREAKGLASS: &str = "5145b0d8-52ce-5035-aff0-4ae8be804bdd";
pub const DIEGO: &str = "57e9fe5e-9090-54bf-9630-9138f69c6863";
pub const IVAN: &str = "09f9bc92-8a40-5507-8611-2aa0f23eb5a1";
pub const JUDY: &str = "a20caf2a-aac6-573d-be35-a7c04badbbcc";
pub const MEGAN: &str = "50785b7a-feb7-5e5d-a209-225587e554d5";
pub const FRANK: &str = "1422f56f-7367-578d-a32c-a398b9eca0af";
pub const ERIN: &str = "8db6edac-7b4d-5e1c-9a4a-1715e4a0625e";
pub const KIM: &str = "064662f7-857d-59d8-b89a-ef8c9c999ad4";
pub const LEE: &str = "91bb9de8-40b9-5399-a9d6-4c426cb64690";
/// Owner (not member) of Helpdesk-Operators; no role.
pub const OLIVIA: &str = "04fc468c-3017-56c3-a4c4-5fd3a99165a5";
/// PIM for Groups eligible member of Helpdesk-Operators; not a member, no role.
pub const PAUL: &str = "9f0b7f72-0072-508b-a6bb-856695ea85d6";

pub const G_TAP: &str = "7c1e5a2d-9f84-4b3c-a6e0-1d2f3b4c5a69";
pub const G_PROTECTED: &str = "04fed1b7-176a-58bf-bb7e-d2925ea95aed";
pub const G_EXEC: &str = "4fbed9f7-acf8-5797-a5d1-8b19bb2868d1";
pub const G_HELPDESK_OPS: &str = "dbc269ae-33d4-51cb-8778-f46d0768b486";

pub const MOBILE_ID: &str = "3179e48a-750b-4051-897c-87b9720928f7";
pub const ALT_MOBILE_ID: &str = "b6332ec1-7057-4abe-9331-3d72feddfe41";
pub const OFFICE_ID: &str = "e37fc753-ff3b-4958-9484-eaa9425c82bc";
pub const PASSWORD_ID: &str = "28c10230-6103-485e-b985-444c60001490";

pub struct Resp {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Value,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    #[track_caller]
    pub fn expect(&self, status: u16, code: &str) -> &Self {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "unexpected answer: {}",
            self.body
        );
        self
    }
}

pub struct Sim {
    pub base: String,
    agent: ureq::Agent,
    pub token: String,
    tenant: String,
    client: (String, String),
}

impl Sim {
    pub fn start() -> Sim {
        Self::start_with(graph_sim::fixture::parse(graph_sim::DEMO_FIXTURE).unwrap())
    }

    pub fn start_with(fixture: Value) -> Sim {
        let running = graph_sim::spawn(fixture.clone(), None).expect("sim starts");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .allow_non_standard_methods(true)
            .build()
            .into();
        let tenant = fixture["tenant"]["id"].as_str().unwrap().to_string();
        let client = (
            fixture["apps"][0]["clientId"].as_str().unwrap().to_string(),
            fixture["apps"][0]["clientSecret"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        let mut sim = Sim {
            base: running.base_url,
            agent,
            token: String::new(),
            tenant,
            client,
        };
        for _ in 0..50 {
            if sim.raw("GET", "/_sim/health", &[], None).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        sim.renew();
        sim
    }

    /// A fresh token for the fixture's first app (after `/_sim/clock` or `/_sim/reset`).
    pub fn renew(&mut self) {
        let (id, secret) = self.client.clone();
        self.token = self.fetch_token(&id, &secret);
    }

    pub fn demo_fixture() -> Value {
        graph_sim::fixture::parse(graph_sim::DEMO_FIXTURE).unwrap()
    }

    /// Follows `@odata.nextLink` from `path`, returning every page.
    pub fn pages(&self, path: &str, headers: &[(&str, &str)]) -> Vec<Resp> {
        let mut out = Vec::new();
        let mut next = Some(path.to_string());
        while let Some(p) = next {
            let r = self.get_with(&p, headers);
            assert_eq!(r.status, 200, "{p}: {}", r.body);
            next = r.body["@odata.nextLink"].as_str().map(|n| {
                n.strip_prefix(&self.base)
                    .expect("nextLink on the sim's base")
                    .to_string()
            });
            out.push(r);
            assert!(out.len() < 100, "paging does not end");
        }
        out
    }

    pub fn get_as(&self, token: &str, path: &str) -> Resp {
        let auth = format!("Bearer {token}");
        self.call("GET", path, &[("authorization", &auth)], None)
    }

    pub fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<Resp, ureq::Error> {
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(body.unwrap_or("").to_string()).unwrap();
        let mut r = self.agent.run(req)?;
        let status = r.status().as_u16();
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let text = r.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Resp {
            status,
            headers,
            body,
        })
    }

    pub fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Resp {
        self.raw(method, path, headers, body).expect("http request")
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    pub fn get(&self, path: &str) -> Resp {
        self.call("GET", path, &[("authorization", &self.bearer())], None)
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        let auth = self.bearer();
        let mut h = vec![("authorization", auth.as_str())];
        h.extend_from_slice(headers);
        self.call("GET", path, &h, None)
    }

    pub fn send(&self, method: &str, path: &str, body: &Value) -> Resp {
        let text = body.to_string();
        self.call(
            method,
            path,
            &[
                ("authorization", &self.bearer()),
                ("content-type", "application/json"),
            ],
            Some(&text),
        )
    }

    pub fn send_empty(&self, method: &str, path: &str) -> Resp {
        self.call(method, path, &[("authorization", &self.bearer())], None)
    }

    pub fn token_request(&self, tenant: &str, form: &[(&str, &str)]) -> Resp {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.call(
            "POST",
            &format!("/{tenant}/oauth2/v2.0/token"),
            &[("content-type", "application/x-www-form-urlencoded")],
            Some(&body),
        )
    }

    pub fn fetch_token(&self, client_id: &str, secret: &str) -> String {
        let scope = format!("{}/.default", self.base);
        let r = self.token_request(
            &self.tenant,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
                ("scope", &scope),
            ],
        );
        assert_eq!(r.status, 200, "token: {}", r.body);
        r.body["access_token"].as_str().unwrap().to_string()
    }

    pub fn control(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        let text = body.map(|b| b.to_string());
        self.call(
            method,
            path,
            &[("content-type", "application/json")],
            text.as_deref(),
        )
    }

    pub fn state(&self) -> Value {
        self.control("GET", "/_sim/state", None).body
    }

    pub fn requests(&self) -> Vec<Value> {
        self.control("GET", "/_sim/requests", None)
            .body
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn last_request(&self) -> Value {
        self.requests().last().cloned().unwrap_or(Value::Null)
    }

    pub fn user_state(&self, id: &str) -> Value {
        self.state()["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    }

    pub fn method_ids(&self, user: &str) -> Vec<String> {
        self.user_state(user)["methods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn fault(&self, f: Value) {
        let r = self.control("POST", "/_sim/faults", Some(f));
        assert_eq!(r.status, 201, "{}", r.body);
    }

    pub fn advance(&self, secs: i64) {
        let r = self.control(
            "POST",
            "/_sim/clock",
            Some(json!({ "advanceSeconds": secs })),
        );
        assert_eq!(r.status, 200);
    }
}

/// A fixture with the main app's permissions replaced.
pub fn fixture_with_permissions(perms: &[&str]) -> Value {
    let mut f = Sim::demo_fixture();
    f["apps"][0]["permissions"] = json!(perms);
    f
}

/// Values of a collection answer.
#[track_caller]
pub fn items(r: &Resp) -> Vec<Value> {
    r.body["value"]
        .as_array()
        .unwrap_or_else(|| panic!("no value array: {}", r.body))
        .clone()
}

pub fn ids(v: &[Value]) -> Vec<String> {
    v.iter()
        .map(|x| x["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The decoded JSON of one part (0 header, 1 payload) of a JWT.
pub fn jwt_part(token: &str, i: usize) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(i).expect("JWT part");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url without padding");
    serde_json::from_slice(&bytes).expect("JSON")
}

pub fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
