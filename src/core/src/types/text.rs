//! Bounded text fields of mutations (API.md "Mutations"): `ticket`, `reason`,
//! and the `Idempotency-Key` header.

use std::fmt;

/// A free-text member: 1..max characters, no control characters.
pub(crate) fn bounded(raw: &str, field: &str, max: usize) -> Result<String, String> {
    let n = raw.chars().count();
    if n == 0 || n > max {
        return Err(format!("{field} must be 1..{max} characters"));
    }
    if raw.chars().any(char::is_control) {
        return Err(format!("{field} has control characters"));
    }
    Ok(raw.to_string())
}

macro_rules! bounded_text {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr, $allowed:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const MAX_CHARS: usize = $max;

            pub fn parse(raw: &str) -> Result<Self, String> {
                let n = raw.chars().count();
                if n == 0 {
                    return Err(format!("{} is empty", $field));
                }
                if n > $max {
                    return Err(format!("{} is longer than {} characters", $field, $max));
                }
                let allowed: fn(char) -> bool = $allowed;
                if !raw.chars().all(allowed) {
                    return Err(format!("{} has characters that are not allowed", $field));
                }
                Ok($name(raw.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        #[cfg(feature = "openapi")]
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn inline_schema() -> bool {
                true
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string", "minLength": 1, "maxLength": $max })
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

bounded_text!(
    /// The helpdesk ticket a change is made under: 1..128 printable characters.
    Ticket, "ticket", 128, |c| !c.is_control()
);

bounded_text!(
    /// Why the change is made: up to 500 characters; newlines allowed.
    Reason, "reason", 500, |c| !c.is_control() || c == '\n' || c == '\t'
);

bounded_text!(
    /// `Idempotency-Key`: 1..255 printable ASCII characters.
    IdempotencyKey, "Idempotency-Key", 255, |c| (' '..='~').contains(&c)
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_characters() {
        assert!(Ticket::parse("INC0012345").is_ok());
        assert!(Ticket::parse("Ticket für Zoë #42").is_ok());
        assert!(Ticket::parse(&"x".repeat(128)).is_ok());
        assert!(Ticket::parse(&"x".repeat(129)).is_err());
        assert!(Ticket::parse("").is_err());
        assert!(Ticket::parse("INC\n1").is_err());
        assert!(Reason::parse("lost phone\nverified by callback").is_ok());
        assert!(Reason::parse(&"r".repeat(501)).is_err());
        assert!(IdempotencyKey::parse("b6a1c1e0-delivery-7").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
        assert!(IdempotencyKey::parse("clé").is_err());
        assert!(IdempotencyKey::parse("a\u{7f}").is_err());
    }
}
