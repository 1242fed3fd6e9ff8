//! The OpenAPI v1.0 subset as routing table and request validator (FACTS §10 "two traps").
//!
//! Every Graph request is matched against the subset's paths (plus the few beta
//! paths the service uses), its query options against the operation's declared
//! parameters, and its body against the operation's `requestBody` schema with a
//! focused validator: `$ref`, `allOf` (properties merged), `anyOf`, `oneOf`,
//! `type`, `enum`, `pattern`, `format` (int32/int64/uuid), `minimum`/`maximum`,
//! `nullable`, `items`. Unknown properties are always rejected; `@odata.type`
//! is never required (the converter lists it as required on every schema).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};

use regex::Regex;
use serde_json::{Map, Value};

use crate::errors::{GraphError, GraphResult};

pub const SPEC_JSON: &str = include_str!("../openapi/openapi-v1.0-subset.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    Beta,
}

impl Version {
    pub fn prefix(self) -> &'static str {
        match self {
            Version::V1 => "/v1.0",
            Version::Beta => "/beta",
        }
    }
}

#[derive(Debug)]
pub struct Operation {
    pub method: String,
    pub template: String,
    pub version: Version,
    /// Declared query option names, lower-cased (`$select`, `$top`, …).
    pub query: Vec<String>,
    pub headers: Vec<String>,
    pub body_schema: Option<Value>,
    pub response_schema: Option<Value>,
    /// Item properties of a hand-described collection whose schema is not in the subset.
    pub item_props: Option<&'static [&'static str]>,
}

impl Operation {
    pub fn template_segments(&self) -> Vec<&str> {
        self.template.trim_start_matches('/').split('/').collect()
    }

    pub fn declares(&self, name: &str) -> bool {
        self.query.iter().any(|q| q == name)
    }

    /// Collections that declare `$top` may also be paged with `$skiptoken` (FACTS §7, §8).
    pub fn is_paged(&self) -> bool {
        self.declares("$top")
    }
}

#[derive(Debug)]
pub struct Route {
    pub version: Version,
    pub template: String,
    /// `None` for paths of the OpenAPI subset; the documentation URL for hand-described ones.
    pub source: Option<&'static str>,
    segs: Vec<Option<String>>,
    pub ops: Vec<Operation>,
}

pub struct Spec {
    pub routes: Vec<Route>,
    doc: Value,
}

pub enum RouteMatch<'a> {
    Found {
        route: &'a Route,
        params: Vec<String>,
    },
    NotFound {
        segment: String,
    },
}

static SPEC: OnceLock<Spec> = OnceLock::new();

/// Subset operations whose documentation allows fewer query options than the
/// metadata-generated OpenAPI declares; the docs win. (template, method, options, source)
const QUERY_OVERRIDES: &[(&str, &str, &[&str], &str)] = &[(
    // "This method supports the $top, $skiptoken, and $filter OData query parameters"
    // (https://learn.microsoft.com/graph/api/signin-list). `$select` is refused with
    // "Query option 'Select' is not allowed. To allow it, set the 'AllowedQueryOptions'
    // property on EnableQueryAttribute or QueryValidationSettings."
    // (https://github.com/microsoftgraph/msgraph-sdk-powershell/issues/1251 ,
    // https://github.com/microsoftgraph/microsoft-graph-devx-api/issues/1250).
    // `$skiptoken` is implied by `$top` (`Operation::is_paged`).
    "/auditLogs/signIns",
    "GET",
    &["$filter", "$top"],
    "https://learn.microsoft.com/graph/api/signin-list",
)];

/// What a hand-described collection returns, for `$select`/`$orderby` checks.
#[derive(Clone, Copy)]
enum Items {
    /// An entity type of the subset (`microsoft.graph.directoryObject` means the polymorphic union).
    Entity(&'static str),
    /// Property names, for types the subset does not carry.
    Props(&'static [&'static str]),
}

struct Extra {
    template: &'static str,
    method: &'static str,
    query: &'static [&'static str],
    headers: &'static [&'static str],
    items: Items,
    source: &'static str,
}

const PIM_GROUP_ELIGIBILITY_PROPS: &[&str] = &[
    "id",
    "accessId",
    "eligibilityScheduleId",
    "endDateTime",
    "groupId",
    "memberType",
    "principalId",
    "startDateTime",
];

const PIM_GROUP_ASSIGNMENT_PROPS: &[&str] = &[
    "id",
    "accessId",
    "assignmentScheduleId",
    "assignmentType",
    "endDateTime",
    "groupId",
    "memberType",
    "principalId",
    "startDateTime",
];

/// v1.0 paths the service uses that the subset (which cannot be regenerated here) lacks,
/// described by hand from their documentation pages.
const V1_EXTRAS: &[Extra] = &[
    Extra {
        // "supports the $count, $expand, $filter, $orderBy, $search, $select, and $top …
        // $skip isn't supported. The default and maximum page sizes are 100 and 999".
        template: "/groups",
        method: "GET",
        query: &[
            "$count", "$expand", "$filter", "$orderby", "$search", "$select", "$top",
        ],
        headers: &["consistencylevel"],
        items: Items::Entity("microsoft.graph.group"),
        source: "https://learn.microsoft.com/graph/api/group-list",
    },
    Extra {
        // "This method supports the OData Query Parameters"; owners are among the
        // relationships with advanced query capabilities (https://learn.microsoft.com/graph/aad-advanced-queries).
        template: "/groups/{group-id}/owners",
        method: "GET",
        query: &[
            "$count", "$expand", "$filter", "$orderby", "$search", "$select", "$top",
        ],
        headers: &["consistencylevel"],
        items: Items::Entity("microsoft.graph.directoryObject"),
        source: "https://learn.microsoft.com/graph/api/group-list-owners",
    },
    Extra {
        // "This method requires the $filter (eq) query parameter to scope the request to a
        // principalId or a groupId. This method supports the $select, $filter, and $expand
        // OData query parameters" — no `$top`/`$skiptoken`, so none is accepted.
        template: "/identityGovernance/privilegedAccess/group/eligibilityScheduleInstances",
        method: "GET",
        query: &["$filter", "$select", "$expand"],
        headers: &[],
        items: Items::Props(PIM_GROUP_ELIGIBILITY_PROPS),
        source: "https://learn.microsoft.com/graph/api/privilegedaccessgroup-list-eligibilityscheduleinstances",
    },
    Extra {
        template: "/identityGovernance/privilegedAccess/group/assignmentScheduleInstances",
        method: "GET",
        query: &["$filter", "$select", "$expand"],
        headers: &[],
        items: Items::Props(PIM_GROUP_ASSIGNMENT_PROPS),
        source: "https://learn.microsoft.com/graph/api/privilegedaccessgroup-list-assignmentscheduleinstances",
    },
];

pub fn spec() -> &'static Spec {
    SPEC.get_or_init(|| Spec::load(SPEC_JSON).expect("embedded OpenAPI subset parses"))
}

fn split_template(t: &str) -> Vec<Option<String>> {
    t.trim_start_matches('/')
        .split('/')
        .map(|s| {
            if s.starts_with('{') {
                None
            } else {
                Some(s.to_string())
            }
        })
        .collect()
}

impl Spec {
    fn load(text: &str) -> anyhow::Result<Spec> {
        let doc: Value = serde_json::from_str(text)?;
        let mut routes = Vec::new();
        let paths = doc["paths"]
            .as_object()
            .ok_or_else(|| anyhow::anyhow!("no paths"))?;
        for (template, item) in paths {
            let mut ops = Vec::new();
            for (m, op) in item.as_object().into_iter().flatten() {
                if m == "parameters" {
                    continue;
                }
                let mut query = Vec::new();
                let mut headers = Vec::new();
                for p in op["parameters"].as_array().into_iter().flatten() {
                    let p = Self::deref_in(&doc, p);
                    let name = p["name"].as_str().unwrap_or_default().to_string();
                    match p["in"].as_str() {
                        Some("query") => query.push(name.to_ascii_lowercase()),
                        Some("header") => headers.push(name.to_ascii_lowercase()),
                        _ => {}
                    }
                }
                let body_schema = op
                    .get("requestBody")
                    .map(|rb| rb["content"]["application/json"]["schema"].clone());
                let resp = Self::deref_in(&doc, &op["responses"]["2XX"]);
                let response_schema = resp
                    .get("content")
                    .map(|c| c["application/json"]["schema"].clone());
                let method = m.to_ascii_uppercase();
                if let Some((_, _, only, _)) = QUERY_OVERRIDES
                    .iter()
                    .find(|(t, om, _, _)| *t == template && *om == method)
                {
                    query = only.iter().map(|q| q.to_string()).collect();
                }
                ops.push(Operation {
                    method,
                    template: template.clone(),
                    version: Version::V1,
                    query,
                    headers,
                    body_schema,
                    response_schema,
                    item_props: None,
                });
            }
            routes.push(Route {
                version: Version::V1,
                source: None,
                template: template.clone(),
                segs: split_template(template),
                ops,
            });
        }
        // Beta paths the service uses (FACTS §4); not in the v1.0 subset, described by hand.
        let beta: &[(&str, &[&str], &str)] = &[
            (
                "/users/{user-id}/authentication/signInPreferences",
                &["GET"],
                "",
            ),
            (
                "/users/{user-id}/authentication/hardwareOathMethods",
                &["GET"],
                "",
            ),
            (
                "/users/{user-id}/authentication/hardwareOathMethods/{hardwareOathAuthenticationMethod-id}",
                &["GET", "DELETE"],
                "",
            ),
            (
                "/users/{user-id}/authentication/qrCodePinMethod",
                &["GET", "DELETE"],
                "",
            ),
        ];
        for (template, methods, _) in beta {
            let ops = methods
                .iter()
                .map(|m| Operation {
                    method: m.to_string(),
                    template: template.to_string(),
                    version: Version::Beta,
                    query: if *m == "GET" {
                        vec!["$select".into()]
                    } else {
                        vec![]
                    },
                    headers: vec![],
                    body_schema: None,
                    response_schema: None,
                    item_props: None,
                })
                .collect();
            routes.push(Route {
                version: Version::Beta,
                source: Some("FACTS §4"),
                template: template.to_string(),
                segs: split_template(template),
                ops,
            });
        }
        for x in V1_EXTRAS {
            let response_schema = match x.items {
                Items::Entity(name) => Some(serde_json::json!({
                    "type": "object",
                    "properties": { "value": { "type": "array",
                        "items": { "$ref": format!("#/components/schemas/{name}") } } }
                })),
                Items::Props(_) => None,
            };
            let op = Operation {
                method: x.method.to_string(),
                template: x.template.to_string(),
                version: Version::V1,
                query: x.query.iter().map(|q| q.to_string()).collect(),
                headers: x.headers.iter().map(|h| h.to_string()).collect(),
                body_schema: None,
                response_schema,
                item_props: match x.items {
                    Items::Props(p) => Some(p),
                    Items::Entity(_) => None,
                },
            };
            match routes
                .iter_mut()
                .find(|r| r.version == Version::V1 && r.template == x.template)
            {
                Some(r) => r.ops.push(op),
                None => routes.push(Route {
                    version: Version::V1,
                    source: Some(x.source),
                    template: x.template.to_string(),
                    segs: split_template(x.template),
                    ops: vec![op],
                }),
            }
        }
        Ok(Spec { routes, doc })
    }

    fn deref_in<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
        let mut cur = v;
        for _ in 0..16 {
            match cur.get("$ref").and_then(Value::as_str) {
                Some(r) => {
                    let ptr = r.trim_start_matches('#');
                    match doc.pointer(ptr) {
                        Some(t) => cur = t,
                        None => return cur,
                    }
                }
                None => return cur,
            }
        }
        cur
    }

    /// Operations of the OpenAPI subset (hand-described v1.0 paths not counted).
    pub fn operation_count(&self) -> usize {
        self.routes
            .iter()
            .filter(|r| r.version == Version::V1 && r.source.is_none())
            .map(|r| r.ops.len())
            .sum()
    }

    /// Matches decoded path segments (after the version prefix). Literal segments
    /// compare case-insensitively, as Graph does; the best match has most literals.
    pub fn match_path(&self, version: Version, segs: &[String]) -> RouteMatch<'_> {
        let mut best: Option<(&Route, usize)> = None;
        let mut longest_prefix = 0usize;
        for r in self.routes.iter().filter(|r| r.version == version) {
            let mut n = 0;
            for (i, s) in segs.iter().enumerate() {
                match r.segs.get(i) {
                    Some(Some(lit)) if lit.eq_ignore_ascii_case(s) => n += 1,
                    Some(None) if !s.is_empty() => n += 1,
                    _ => break,
                }
            }
            longest_prefix = longest_prefix.max(n);
            if n == segs.len() && r.segs.len() == segs.len() {
                let literals = r.segs.iter().filter(|s| s.is_some()).count();
                if best.is_none_or(|(_, l)| literals > l) {
                    best = Some((r, literals));
                }
            }
        }
        match best {
            Some((route, _)) => {
                let params = route
                    .segs
                    .iter()
                    .zip(segs)
                    .filter(|(t, _)| t.is_none())
                    .map(|(_, s)| s.clone())
                    .collect();
                RouteMatch::Found { route, params }
            }
            None => {
                let idx = longest_prefix.min(segs.len().saturating_sub(1));
                RouteMatch::NotFound {
                    segment: segs.get(idx).cloned().unwrap_or_default(),
                }
            }
        }
    }

    fn schema_named(&self, name: &str) -> Option<&Value> {
        self.doc["components"]["schemas"].get(name)
    }

    /// Follows `$ref`s; returns the target and the last schema name seen.
    fn deref<'a>(&'a self, v: &'a Value) -> (&'a Value, Option<String>) {
        let mut cur = v;
        let mut name = None;
        for _ in 0..16 {
            match cur.get("$ref").and_then(Value::as_str) {
                Some(r) => {
                    name = r.rsplit('/').next().map(str::to_string);
                    match self.doc.pointer(r.trim_start_matches('#')) {
                        Some(t) => cur = t,
                        None => break,
                    }
                }
                None => break,
            }
        }
        (cur, name)
    }

    /// Properties of a schema with `allOf` parts merged (base types first).
    pub fn merged_properties(&self, schema: &Value) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        self.merge_into(schema, &mut out, 0);
        out
    }

    fn merge_into(&self, schema: &Value, out: &mut BTreeMap<String, Value>, depth: usize) {
        if depth > 16 {
            return;
        }
        let (s, _) = self.deref(schema);
        for part in s["allOf"].as_array().into_iter().flatten() {
            self.merge_into(part, out, depth + 1);
        }
        for (k, v) in s["properties"].as_object().into_iter().flatten() {
            out.insert(k.clone(), v.clone());
        }
    }

    /// Property names of an entity type, e.g. `microsoft.graph.user`.
    pub fn entity_properties(&self, name: &str) -> Vec<String> {
        self.schema_named(name)
            .map(|s| self.merged_properties(s).into_keys().collect())
            .unwrap_or_default()
    }

    /// Property names of the items an operation returns, for `$select`/`$orderby` checks.
    /// Directory-object collections are polymorphic: the union of user, group,
    /// directoryRole and administrativeUnit properties is accepted.
    pub fn item_properties(&self, op: &Operation) -> Option<Vec<String>> {
        if let Some(p) = op.item_props {
            return Some(p.iter().map(|s| s.to_string()).collect());
        }
        let schema = op.response_schema.as_ref()?;
        let (_, mut name) = self.deref(schema);
        let props = self.merged_properties(schema);
        if let Some(value) = props.get("value") {
            if let Some(items) = value.get("items") {
                name = self.deref(items).1;
                name.as_ref()?;
            }
        }
        let name = name?;
        if name == "microsoft.graph.directoryObject" {
            let mut all: Vec<String> = [
                "microsoft.graph.user",
                "microsoft.graph.group",
                "microsoft.graph.directoryRole",
                "microsoft.graph.administrativeUnit",
            ]
            .iter()
            .flat_map(|n| self.entity_properties(n))
            .collect();
            all.sort();
            all.dedup();
            return Some(all);
        }
        Some(self.entity_properties(&name))
    }

    fn nullable(&self, schema: &Value) -> bool {
        let (s, _) = self.deref(schema);
        if s["nullable"].as_bool() == Some(true) {
            return true;
        }
        s["anyOf"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(s["oneOf"].as_array().into_iter().flatten())
            .any(|b| self.nullable(b))
    }

    /// `{"type":"object","nullable":true}` inside `anyOf` is the converter's way of
    /// saying "or null"; it is not a licence to send any object.
    fn null_placeholder(b: &Value) -> bool {
        b.get("$ref").is_none()
            && b.get("allOf").is_none()
            && b.get("properties").is_none()
            && b["type"] == "object"
            && b["nullable"] == true
    }

    /// Validates a request value. The error names the property path and the
    /// type, the way Graph's OData reader does.
    pub fn validate(&self, v: &Value, schema: &Value, path: &str) -> Result<(), String> {
        let (s, name) = self.deref(schema);
        if v.is_null() {
            return if self.nullable(s) {
                Ok(())
            } else {
                Err(format!(
                    "Cannot convert a null value for the non-nullable property '{path}'."
                ))
            };
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(branches) = s[key].as_array() {
                let mut first = None;
                for b in branches.iter().filter(|b| !Self::null_placeholder(b)) {
                    match self.validate(v, b, path) {
                        Ok(()) => return Ok(()),
                        Err(e) => {
                            first.get_or_insert(e);
                        }
                    }
                }
                return Err(first.unwrap_or_else(|| format!("Invalid value for '{path}'.")));
            }
        }
        if s.get("allOf").is_some() || s["type"] == "object" || s.get("properties").is_some() {
            return self.validate_object(v, s, name, path);
        }
        let shown = || {
            let t = v.to_string();
            if t.len() > 60 {
                format!("{}…", &t[..60])
            } else {
                t
            }
        };
        match s["type"].as_str() {
            Some("string") => {
                let Some(text) = v.as_str() else {
                    return Err(format!(
                        "Cannot convert the literal '{}' to the expected type 'Edm.String' for property '{path}'.",
                        shown()
                    ));
                };
                if let Some(allowed) = s["enum"].as_array() {
                    // OData enum members parse case-insensitively (Graph's own examples send "Text").
                    if !allowed
                        .iter()
                        .any(|a| a.as_str().is_some_and(|a| a.eq_ignore_ascii_case(text)))
                    {
                        return Err(format!(
                            "The value '{text}' is not a valid value of enumeration '{}' for property '{path}'.",
                            s["title"].as_str().unwrap_or("enum")
                        ));
                    }
                }
                if let Some(p) = s["pattern"].as_str() {
                    if !pattern(p).is_some_and(|re| re.is_match(text)) {
                        let what = if s["format"] == "date-time" {
                            "Edm.DateTimeOffset"
                        } else {
                            "the declared pattern"
                        };
                        return Err(format!(
                            "Cannot convert the literal '{text}' to the expected type '{what}' for property '{path}'."
                        ));
                    }
                }
                if s["format"] == "uuid" && uuid::Uuid::parse_str(text).is_err() {
                    return Err(format!(
                        "Cannot convert the literal '{text}' to the expected type 'Edm.Guid' for property '{path}'."
                    ));
                }
                Ok(())
            }
            Some("boolean") => v.as_bool().map(|_| ()).ok_or_else(|| {
                format!(
                    "Cannot convert the literal '{}' to the expected type 'Edm.Boolean' for property '{path}'.",
                    shown()
                )
            }),
            Some("integer") | Some("number") => {
                let integral = matches!(s["format"].as_str(), Some("int32") | Some("int64"))
                    || s["type"] == "integer";
                let ok = if integral {
                    v.as_i64().is_some()
                } else {
                    v.is_number()
                };
                if !ok {
                    let edm = match s["format"].as_str() {
                        Some("int64") => "Edm.Int64",
                        Some("int32") => "Edm.Int32",
                        _ => "Edm.Double",
                    };
                    return Err(format!(
                        "Cannot convert the literal '{}' to the expected type '{edm}' for property '{path}'.",
                        shown()
                    ));
                }
                let n = v.as_f64().unwrap_or_default();
                if s["minimum"].as_f64().is_some_and(|m| n < m)
                    || s["maximum"].as_f64().is_some_and(|m| n > m)
                {
                    return Err(format!("The value '{n}' is out of range for property '{path}'."));
                }
                Ok(())
            }
            Some("array") => {
                let Some(items) = v.as_array() else {
                    return Err(format!(
                        "Cannot convert the literal '{}' to a collection for property '{path}'.",
                        shown()
                    ));
                };
                for (i, it) in items.iter().enumerate() {
                    self.validate(it, &s["items"], &format!("{path}[{i}]"))?;
                }
                Ok(())
            }
            _ => {
                if let Some(allowed) = s["enum"].as_array() {
                    if !allowed.contains(v) {
                        return Err(format!("The value {} is not valid for '{path}'.", shown()));
                    }
                }
                Ok(())
            }
        }
    }

    fn validate_object(
        &self,
        v: &Value,
        s: &Value,
        name: Option<String>,
        path: &str,
    ) -> Result<(), String> {
        let type_name = name
            .or_else(|| {
                s["x-ms-discriminator-value"]
                    .as_str()
                    .map(|d| d.trim_start_matches('#').to_string())
            })
            .unwrap_or_else(|| "object".into());
        let Some(obj) = v.as_object() else {
            return Err(format!(
                "Cannot convert the literal '{v}' to the expected type '{type_name}' for property '{path}'."
            ));
        };
        let props = self.merged_properties(s);
        for (k, val) in obj {
            let here = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if k == "@odata.type" {
                let expected = props
                    .get("@odata.type")
                    .and_then(|p| p["default"].as_str())
                    .map(|d| d.trim_start_matches('#').to_string());
                let given = val.as_str().map(|g| g.trim_start_matches('#').to_string());
                match (given, expected) {
                    (Some(g), Some(e)) if g != e => {
                        return Err(format!(
                            "A type named '{g}' could not be resolved by the model as '{e}'."
                        ))
                    }
                    (None, _) => return Err(format!("Invalid value for '{here}'.")),
                    _ => continue,
                }
            }
            match props.get(k) {
                Some(ps) => self.validate(val, ps, &here)?,
                None => {
                    return Err(format!(
                        "The property '{k}' does not exist on type '{type_name}'. Make sure to only use property names that are defined by the type or mark the type as open type."
                    ))
                }
            }
        }
        Ok(())
    }

    /// Validates an entity document against a named schema (used for fixtures too).
    pub fn validate_named(&self, v: &Value, name: &str) -> Result<(), String> {
        let schema = serde_json::json!({ "$ref": format!("#/components/schemas/{name}") });
        self.validate(v, &schema, "")
    }
}

fn pattern(p: &str) -> Option<Regex> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut c = cache.lock().ok()?;
    c.entry(p.to_string())
        .or_insert_with(|| Regex::new(p).ok())
        .clone()
}

/// Query options as parsed and checked against the operation.
#[derive(Debug, Default, Clone)]
pub struct Query {
    pub select: Option<Vec<String>>,
    pub expand: Option<Vec<String>>,
    pub filter: Option<String>,
    pub search: Option<String>,
    pub orderby: Option<String>,
    pub top: Option<u64>,
    pub skip: Option<u64>,
    pub count: bool,
    pub skiptoken: Option<String>,
}

/// FACTS §10 / rule 1: undeclared options are refused; `$top`/`$skip` must be
/// integers >= 0; an option given twice is refused.
pub fn parse_query(op: &Operation, raw: Option<&str>) -> GraphResult<Query> {
    let mut q = Query::default();
    let mut seen: Vec<String> = Vec::new();
    let Some(raw) = raw else { return Ok(q) };
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        let key = k.to_ascii_lowercase();
        if key.is_empty() {
            continue;
        }
        if seen.contains(&key) {
            return Err(GraphError::bad_request(format!(
                "Query option '{k}' was specified more than once, but it must be specified at most once."
            )));
        }
        seen.push(key.clone());
        let declared = op.declares(&key) || (key == "$skiptoken" && op.is_paged());
        if !declared {
            let known = [
                "$select",
                "$expand",
                "$filter",
                "$search",
                "$orderby",
                "$top",
                "$skip",
                "$count",
                "$skiptoken",
                "$format",
            ];
            return Err(if known.contains(&key.as_str()) {
                // Names as in OData's AllowedQueryOptions (`Select`, `OrderBy`, `SkipToken`, …).
                let cap = match key.as_str() {
                    "$orderby" => "OrderBy".to_string(),
                    "$skiptoken" => "SkipToken".to_string(),
                    other => {
                        let mut c = other.trim_start_matches('$').to_string();
                        if let Some(f) = c.get_mut(0..1) {
                            f.make_ascii_uppercase();
                        }
                        c
                    }
                };
                GraphError::bad_request(format!(
                    "Query option '{cap}' is not allowed. To allow it, set the 'AllowedQueryOptions' property on EnableQueryAttribute or QueryValidationSettings."
                ))
            } else {
                GraphError::bad_request(format!("Unrecognized query argument specified: '{k}'."))
            });
        }
        let list = |v: &str| -> Vec<String> {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let int = |v: &str| -> GraphResult<u64> {
            v.trim().parse::<u64>().map_err(|_| {
                GraphError::bad_request(format!(
                    "Invalid value '{v}' for query option '{k}'. It must be an integer greater than or equal to 0."
                ))
            })
        };
        match key.as_str() {
            "$select" => q.select = Some(list(&v)),
            "$expand" => q.expand = Some(list(&v)),
            "$filter" => q.filter = Some(v.to_string()),
            "$search" => q.search = Some(v.to_string()),
            "$orderby" => q.orderby = Some(v.to_string()),
            "$top" => q.top = Some(int(&v)?),
            "$skip" => q.skip = Some(int(&v)?),
            "$skiptoken" => q.skiptoken = Some(v.to_string()),
            "$count" => {
                q.count = match v.as_ref() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(GraphError::bad_request(format!(
                    "Invalid value '{v}' for query option '$count'. It must be 'true' or 'false'."
                )))
                    }
                }
            }
            _ => {}
        }
    }
    Ok(q)
}

/// Read-only properties Graph does not accept on create/update (rule 1, FACTS §3, §5).
fn read_only(op: &Operation) -> &'static [&'static str] {
    let t = op.template.as_str();
    match op.method.as_str() {
        "POST" | "PATCH"
            if t.ends_with("/phoneMethods") || t.ends_with("phoneAuthenticationMethod-id}") =>
        {
            &["id", "smsSignInState", "createdDateTime"]
        }
        "POST" if t.ends_with("/temporaryAccessPassMethods") => &[
            "id",
            "temporaryAccessPass",
            "isUsable",
            "methodUsabilityReason",
            "createdDateTime",
        ],
        _ => &[],
    }
}

fn is_json_content_type(ct: &str) -> bool {
    let main = ct.split(';').next().unwrap_or_default().trim();
    main.eq_ignore_ascii_case("application/json")
}

/// Checks Content-Type and the body against the operation (rule 1).
/// Returns the parsed body (action parameter names normalised to their declared case).
pub fn check_body(
    op: &Operation,
    content_type: Option<&str>,
    body: &[u8],
) -> GraphResult<Option<Value>> {
    let blank = body.iter().all(|b| b.is_ascii_whitespace());
    let Some(schema) = &op.body_schema else {
        if blank {
            return Ok(None);
        }
        // An empty object is tolerated; anything else is a body the action does not take.
        return match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(o)) if o.is_empty() => Ok(None),
            _ => Err(GraphError::bad_request(format!(
                "The request body is not allowed for '{} {}': this operation takes no parameters.",
                op.method, op.template
            ))),
        };
    };
    if blank {
        return Err(GraphError::bad_request(
            "Empty Payload. JSON content expected.",
        ));
    }
    match content_type {
        Some(ct) if is_json_content_type(ct) => {}
        other => {
            return Err(GraphError::new(
                415,
                "UnsupportedMediaType",
                format!(
                    "The content type '{}' is not supported; use application/json.",
                    other.unwrap_or("")
                ),
            ))
        }
    }
    let mut value: Value = serde_json::from_slice(body).map_err(|_| {
        GraphError::bad_request(
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )
    })?;
    let s = spec();
    if !value.is_object() {
        return Err(GraphError::bad_request(
            "Unable to read JSON request payload: a JSON object is expected.",
        ));
    }
    if schema.get("additionalProperties").is_some() {
        // An action: parameter names match case-insensitively; unknown ones are refused.
        let declared = s.merged_properties(schema);
        let action = op.template.rsplit('/').next().unwrap_or_default();
        let mut fixed = Map::new();
        for (k, v) in value.as_object().cloned().unwrap_or_default() {
            match declared.keys().find(|d| d.eq_ignore_ascii_case(&k)) {
                Some(d) => {
                    fixed.insert(d.clone(), v);
                }
                None => {
                    return Err(GraphError::bad_request(format!(
                        "The parameter '{k}' in the request payload is not a valid parameter for the operation '{action}'."
                    )))
                }
            }
        }
        value = Value::Object(fixed);
    }
    for ro in read_only(op) {
        if value.get(*ro).is_some() {
            return Err(GraphError::bad_request(format!(
                "The property '{ro}' is read-only and cannot be set."
            )));
        }
    }
    s.validate(&value, schema, "")
        .map_err(GraphError::bad_request)?;
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_has_all_operations() {
        assert_eq!(spec().operation_count(), 59);
        assert_eq!(
            spec()
                .routes
                .iter()
                .filter(|r| r.version == Version::V1 && r.source.is_none())
                .count(),
            47
        );
    }

    #[test]
    fn hand_described_v1_routes_are_separate_from_the_subset() {
        let extra: Vec<&Route> = spec()
            .routes
            .iter()
            .filter(|r| r.version == Version::V1 && r.source.is_some())
            .collect();
        assert_eq!(extra.len(), 4);
        assert!(extra.iter().all(|r| r
            .source
            .unwrap()
            .starts_with("https://learn.microsoft.com/graph/api/")));
        let signins = spec()
            .routes
            .iter()
            .find(|r| r.template == "/auditLogs/signIns")
            .unwrap();
        assert_eq!(signins.ops[0].query, vec!["$filter", "$top"]);
    }

    #[test]
    fn unknown_property_is_named_with_type() {
        let e = spec()
            .validate_named(
                &serde_json::json!({"phoneNumber": "+1 5555551234", "phoneTyp": "mobile"}),
                "microsoft.graph.phoneAuthenticationMethod",
            )
            .unwrap_err();
        assert!(
            e.contains("'phoneTyp'") && e.contains("phoneAuthenticationMethod"),
            "{e}"
        );
    }

    #[test]
    fn enum_and_int32_checked() {
        let s = spec();
        assert!(s
            .validate_named(
                &serde_json::json!({"phoneType": "pager"}),
                "microsoft.graph.phoneAuthenticationMethod"
            )
            .is_err());
        assert!(s
            .validate_named(
                &serde_json::json!({"lifetimeInMinutes": 1.5}),
                "microsoft.graph.temporaryAccessPassAuthenticationMethod"
            )
            .is_err());
        assert!(s
            .validate_named(
                &serde_json::json!({"lifetimeInMinutes": 60, "isUsableOnce": true, "startDateTime": "2026-01-01T00:00:00Z"}),
                "microsoft.graph.temporaryAccessPassAuthenticationMethod"
            )
            .is_ok());
        assert!(s
            .validate_named(
                &serde_json::json!({"startDateTime": "tomorrow"}),
                "microsoft.graph.temporaryAccessPassAuthenticationMethod"
            )
            .is_err());
    }
}
