//! `Secret<T>`: a value that must never reach a log line, an error or a body.

use std::fmt;

/// Wraps a credential (client secret, webhook secret, token, pass).
///
/// `Debug` is redacted, there is no `Display` and no `Serialize`; the value is
/// read only through [`Secret::expose`], so every read can be found with grep.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The wrapped value. Call only where the secret is actually used.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl Secret<String> {
    /// Serializes the value itself: for `serialize_with` on the one member
    /// of an answer that delivers the secret to its caller (the pass), so
    /// that place, too, says `expose`.
    pub fn serialize_exposed<S: serde::Serializer>(
        secret: &Option<Secret<String>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match secret {
            Some(v) => s.serialize_str(v.expose()),
            None => s.serialize_none(),
        }
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("hunter2".to_string());
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert!(!format!("{:?}", Some(&s)).contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }
}
