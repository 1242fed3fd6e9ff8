//! The tamper-evident audit trail in the Spin SQLite database.
