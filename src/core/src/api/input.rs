//! Parsing a request body into an operation's typed input (API.md
//! "Responses and errors"): 413 over 64 KiB, 415 unless JSON, 400
//! `unknown_field` for a field the input type does not have (a runbook typo
//! must not be ignored), 400 `invalid_request` naming the bad field.

use http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use super::{ErrorCode, Problem};
use crate::api::request::{Body, Request};

/// Whether the request says its body is JSON (`application/json`, with
/// parameters, or a `+json` type).
fn is_json(req: &Request) -> bool {
    let Some(ct) = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The raw body, after the size and media-type checks.
pub fn json_bytes(req: &Request) -> Result<&[u8], Problem> {
    let bytes = match req.body() {
        Body::TooLarge => {
            return Err(Problem::new(
                ErrorCode::PayloadTooLarge,
                "the request body is over 65536 bytes",
            ))
        }
        Body::Complete(b) => b.as_slice(),
    };
    if !is_json(req) {
        return Err(Problem::new(
            ErrorCode::UnsupportedMediaType,
            "send the body as Content-Type: application/json",
        ));
    }
    Ok(bytes)
}

/// Deserializes `bytes` into `T`; the problem names the field at fault.
/// The body is a JSON object: serde's derive would also read a struct from
/// an array of its fields in order.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let Some(&first) = bytes.iter().find(|b| !b.is_ascii_whitespace()) else {
        return Err(Problem::new(
            ErrorCode::InvalidRequest,
            "the request body is empty",
        ));
    };
    if first != b'{' && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
        return Err(Problem::new(
            ErrorCode::InvalidRequest,
            "the request body must be a JSON object",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(de);
    result.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        // serde's own wording for `deny_unknown_fields`.
        if let Some(rest) = message.strip_prefix("unknown field `") {
            let name = rest.split('`').next().unwrap_or("");
            // The path already ends at the unknown field.
            let field = if path == "." || path.is_empty() {
                name.to_string()
            } else {
                path
            };
            let expected = rest.split_once(", expected ").map(|(_, e)| e).unwrap_or("");
            return Problem::new(
                ErrorCode::UnknownField,
                format!(
                    "unknown field `{field}`; expected {}",
                    strip_position(expected)
                ),
            )
            .with("field", field);
        }
        let syntax = matches!(
            inner.classify(),
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof
        );
        // serde_json reports a number where an enum's name belongs as a
        // syntax error; the body is valid JSON with a wrong value.
        if syntax
            && path != "."
            && !path.is_empty()
            && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
        {
            return Problem::new(
                ErrorCode::InvalidRequest,
                format!("`{path}`: not one of the accepted values"),
            )
            .with("field", path);
        }
        match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => Problem::new(
                ErrorCode::InvalidRequest,
                format!(
                    "the body is not valid JSON (line {}, column {})",
                    inner.line(),
                    inner.column()
                ),
            ),
            _ => {
                let field = missing_field(&message).map(|m| {
                    if path == "." || path.is_empty() {
                        m.to_string()
                    } else {
                        format!("{path}.{m}")
                    }
                });
                let field = field.unwrap_or(path);
                Problem::new(
                    ErrorCode::InvalidRequest,
                    format!("`{field}`: {}", strip_position(&message)),
                )
                .with("field", field)
            }
        }
    })
}

/// Size, media type and JSON in one step.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, Problem> {
    parse_json(json_bytes(req)?)
}

fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// serde_json appends " at line L column C"; the field name says more.
fn strip_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Ticket, UserRef};
    use serde::Deserialize;
    use serde_json::Value;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Input {
        user: UserRef,
        ticket: Ticket,
        lifetime_in_minutes: Option<u32>,
    }

    fn req(ct: Option<&str>, body: Body) -> Request {
        let mut b = http::Request::builder().method("POST").uri("/v1/tap");
        if let Some(ct) = ct {
            b = b.header(CONTENT_TYPE, ct);
        }
        b.body(body).unwrap()
    }

    fn problem(body: &str) -> Value {
        let r = req(
            Some("application/json"),
            Body::Complete(body.as_bytes().to_vec()),
        );
        json_body::<Input>(&r).unwrap_err().body()
    }

    /// serde's derive also reads a struct from an array of its fields in
    /// order; a body or an object field given as an array is refused,
    /// naming the field.
    #[test]
    fn an_object_given_as_an_array_is_refused() {
        let p = problem(r#"["alice@contoso.com","INC1"]"#);
        assert_eq!(p["code"], "invalid_request", "{p}");
        assert!(p["detail"].as_str().unwrap().contains("object"), "{p}");

        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Outer {
            verification: Option<crate::types::Verification>,
        }
        let err = parse_json::<Outer>(br#"{"verification":["callback"]}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidRequest);
        assert_eq!(err.extensions["field"], "verification", "{}", err.detail);
        let ok = parse_json::<Outer>(br#"{"verification":{"method":"callback"}}"#).unwrap();
        assert!(ok.verification.is_some());
        assert!(parse_json::<Outer>(br#"{"verification":null}"#)
            .unwrap()
            .verification
            .is_none());
        assert!(parse_json::<Outer>(br#"{}"#)
            .unwrap()
            .verification
            .is_none());
        // Inside the object the usual rules hold.
        let err = parse_json::<Outer>(br#"{"verification":{"method":"fax"}}"#).unwrap_err();
        assert_eq!(
            err.extensions["field"], "verification.method",
            "{}",
            err.detail
        );
    }

    #[test]
    fn accepts_json_with_parameters() {
        let body = br#"{"user":"alice@contoso.com","ticket":"INC1"}"#.to_vec();
        let r = req(
            Some("application/json; charset=utf-8"),
            Body::Complete(body),
        );
        let i: Input = json_body(&r).unwrap();
        assert_eq!(i.user.as_str(), "alice@contoso.com");
    }

    #[test]
    fn size_and_media_type() {
        let r = req(Some("application/json"), Body::TooLarge);
        assert_eq!(
            json_body::<Input>(&r).unwrap_err().code,
            ErrorCode::PayloadTooLarge
        );
        for ct in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
        ] {
            let r = req(ct, Body::Complete(b"{}".to_vec()));
            assert_eq!(
                json_body::<Input>(&r).unwrap_err().code,
                ErrorCode::UnsupportedMediaType
            );
        }
    }

    #[test]
    fn errors_name_the_field() {
        let p = problem(r#"{"user":"alice@contoso.com","ticket":"INC1","lifetimeInMinute":60}"#);
        assert_eq!(p["code"], "unknown_field");
        assert_eq!(p["field"], "lifetimeInMinute");

        let p = problem(r#"{"user":"alice@contoso.com","ticket":"INC1","lifetimeInMinutes":"60"}"#);
        assert_eq!(p["code"], "invalid_request");
        assert_eq!(p["field"], "lifetimeInMinutes");

        let p = problem(r#"{"user":"alice","ticket":"INC1"}"#);
        assert_eq!(p["field"], "user");
        assert!(p["detail"].as_str().unwrap().contains("neither"), "{p}");

        let p = problem(r#"{"user":"alice@contoso.com"}"#);
        assert_eq!(p["field"], "ticket");

        let p = problem(r#"{"user":"alice@contoso.com","ticket":"INC1""#);
        assert_eq!(p["code"], "invalid_request");
        assert!(p.get("field").is_none());

        assert_eq!(problem("  ")["code"], "invalid_request");
        assert_eq!(problem("[1]")["code"], "invalid_request");
    }
}
