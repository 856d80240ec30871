//! The SQLite-backed disk backend.
