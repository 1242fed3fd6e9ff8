//! The one reader of URL queries (`GET /v1/failures`, `/v1/diagnose`,
//! `/v1/audit`, `/v1/audit/verify`), so every endpoint has the same rules
//! and the same errors:
//!
//! - form decoding (`%XX`, `+` for a space), with or without a leading `?`;
//! - each parameter at most once;
//! - an empty value counts as absent: Power Automate sends an optional
//!   parameter left empty as `x=`;
//! - an unknown parameter is refused, named: a runbook's typo must not
//!   silently widen an answer.
//!
//! Values are typed by the endpoint's own query type; a bad one is
//! `400 invalid_request` (or the parameter's own code, `invalid_user`)
//! naming the field.

use std::fmt::Display;

use crate::api::{ErrorCode, Problem};
use crate::types::UserRef;

/// A query read against the names an endpoint knows.
#[derive(Debug)]
pub struct Query {
    values: Vec<(&'static str, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("unknown query parameter `{name}`; expected {expected}")]
    Unknown { name: String, expected: String },
    #[error("`{0}` is given more than once")]
    Repeated(&'static str),
    #[error("`{field}` {reason}")]
    Invalid {
        field: &'static str,
        reason: String,
        code: ErrorCode,
    },
}

impl QueryError {
    /// A value the endpoint cannot take: `invalid_request` naming `field`.
    pub fn invalid(field: &'static str, reason: impl Display) -> QueryError {
        QueryError::Invalid {
            field,
            reason: reason.to_string(),
            code: ErrorCode::InvalidRequest,
        }
    }

    /// The parameter the error is about.
    pub fn field(&self) -> &str {
        match self {
            QueryError::Unknown { name, .. } => name,
            QueryError::Repeated(f) | QueryError::Invalid { field: f, .. } => f,
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            QueryError::Unknown { .. } => ErrorCode::UnknownField,
            QueryError::Repeated(_) => ErrorCode::InvalidRequest,
            QueryError::Invalid { code, .. } => *code,
        }
    }
}

impl From<QueryError> for Problem {
    fn from(e: QueryError) -> Problem {
        Problem::field(e.code(), e.field(), e.to_string())
    }
}

/// "a, b or c".
fn expected(names: &[&str]) -> String {
    match names {
        [] => "no parameters".into(),
        [one] => (*one).into(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

impl Query {
    /// Reads `raw` against `names`, the endpoint's parameters in document
    /// order (which the unknown-parameter error lists).
    pub fn parse(raw: &str, names: &'static [&'static str]) -> Result<Query, QueryError> {
        let raw = raw.strip_prefix('?').unwrap_or(raw);
        let mut seen: Vec<&'static str> = Vec::new();
        let mut values = Vec::new();
        for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
            let Some(known) = names.iter().copied().find(|n| *n == name) else {
                return Err(QueryError::Unknown {
                    name: name.chars().filter(|c| !c.is_control()).take(100).collect(),
                    expected: expected(names),
                });
            };
            if seen.contains(&known) {
                return Err(QueryError::Repeated(known));
            }
            seen.push(known);
            if !value.is_empty() {
                values.push((known, value.into_owned()));
            }
        }
        Ok(Query { values })
    }

    /// The value of `name` as given, `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A date-time or duration: a space is read back as the `+` of an
    /// offset (`...T09:00:00+01:00` sent unencoded decodes to a space).
    pub fn date_time(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| v.replace(' ', "+"))
    }

    /// `name` typed by `parse`; its error becomes the reason.
    pub fn parsed<T, E: Display>(
        &self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>, QueryError> {
        self.get(name)
            .map(|v| parse(v).map_err(|e| QueryError::invalid(name, e)))
            .transpose()
    }

    /// An integer in `range`, else `reason`.
    pub fn integer(
        &self,
        name: &'static str,
        range: std::ops::RangeInclusive<u64>,
        reason: &str,
    ) -> Result<Option<u64>, QueryError> {
        self.parsed(name, |v| {
            v.parse::<u64>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or(reason)
        })
    }

    /// A user (`userPrincipalName` or object id): `invalid_user`.
    pub fn user(&self, name: &'static str) -> Result<Option<UserRef>, QueryError> {
        self.get(name)
            .map(|v| {
                UserRef::parse(v).map_err(|e| QueryError::Invalid {
                    field: name,
                    reason: e.to_string(),
                    code: ErrorCode::InvalidUser,
                })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NAMES: &[&str] = &["since", "user", "limit"];

    #[test]
    fn the_rules_and_their_errors() {
        let q = Query::parse("?since=P1D&user=&limit=5", NAMES).unwrap();
        assert_eq!(q.get("since"), Some("P1D"));
        assert_eq!(q.get("user"), None);
        assert_eq!(q.integer("limit", 1..=10, "bad").unwrap(), Some(5));
        assert_eq!(
            q.integer("limit", 6..=10, "must be 6 to 10").unwrap_err(),
            QueryError::invalid("limit", "must be 6 to 10")
        );
        let e = Query::parse("top=5", NAMES).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown query parameter `top`; expected since, user or limit"
        );
        let p = Problem::from(e);
        assert_eq!(
            (p.code, &p.extensions["field"]),
            (ErrorCode::UnknownField, &"top".into())
        );
        let e = Query::parse("user=&user=", NAMES).unwrap_err();
        assert_eq!(e, QueryError::Repeated("user"));
        assert_eq!(Problem::from(e).code, ErrorCode::InvalidRequest);
        let q = Query::parse("since=2026-11-30T09:00:00+01:00&user=not%20a%20user", NAMES).unwrap();
        assert_eq!(q.date_time("since").unwrap(), "2026-11-30T09:00:00+01:00");
        assert_eq!(q.user("user").unwrap_err().code(), ErrorCode::InvalidUser);
    }

    fn encode(pairs: &[(String, String)]) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            s.append_pair(k, v);
        }
        s.finish()
    }

    proptest! {
        /// Whatever arrives, the reader answers (never panics), and an
        /// error names a parameter.
        #[test]
        fn any_query_is_read_or_refused_naming_a_field(raw in ".{0,200}") {
            if let Err(e) = Query::parse(&raw, NAMES) {
                let named = !e.field().is_empty() || matches!(e, QueryError::Unknown { .. });
                prop_assert!(named);
            }
        }

        /// Known names, each once, read back as sent; empty ones as absent.
        #[test]
        fn known_parameters_read_back_as_sent(
            values in proptest::collection::vec(proptest::option::of(".{0,20}"), 3),
        ) {
            let pairs: Vec<(String, String)> = NAMES
                .iter()
                .zip(&values)
                .filter_map(|(n, v)| v.clone().map(|v| (n.to_string(), v)))
                .collect();
            let q = Query::parse(&encode(&pairs), NAMES).unwrap();
            for (n, v) in &pairs {
                prop_assert_eq!(q.get(n), (!v.is_empty()).then_some(v.as_str()));
            }
        }

        /// Any other name, anywhere in the query, is refused by name.
        #[test]
        fn an_unknown_name_is_refused(name in "[a-zA-Z]{1,12}", at in 0usize..3) {
            prop_assume!(!NAMES.contains(&name.as_str()));
            let mut pairs: Vec<(String, String)> =
                NAMES.iter().map(|n| (n.to_string(), "1".to_string())).collect();
            pairs.insert(at, (name.clone(), "x".into()));
            let e = Query::parse(&encode(&pairs), NAMES).unwrap_err();
            prop_assert_eq!(e.field(), name.as_str());
        }

        /// A name given twice is refused, whatever the values.
        #[test]
        fn a_repeated_name_is_refused(i in 0usize..3, a in ".{0,10}", b in ".{0,10}") {
            let n = NAMES[i].to_string();
            let pairs = vec![(n.clone(), a), (n, b)];
            prop_assert_eq!(
                Query::parse(&encode(&pairs), NAMES).unwrap_err(),
                QueryError::Repeated(NAMES[i])
            );
        }
    }
}
