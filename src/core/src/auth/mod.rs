//! Callers: who is asking (bearer key or signed webhook), with which scopes,
//! and whether they are within their rate limits.
