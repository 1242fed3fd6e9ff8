//! A request as the edge hands it over: the HTTP head and the body it read.

/// Largest request body accepted (API.md: over 64 KiB -> 413).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The request body as the edge read it: it stops reading past the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Complete(Vec<u8>),
    TooLarge,
}

pub type Request = http::Request<Body>;
