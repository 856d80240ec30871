//! Integration tests against a real PostgreSQL server: one binary, one module
//! per area.
//!
//! The server comes from `KVIT_POSTGRES_URL` (`scripts/services.sh start`
//! prints it; `make test` sets it). Without it, every test that needs a server
//! says it was skipped and passes. Each test works in a table of its own,
//! named after the test and the process, so tests run in parallel; the table
//! is dropped when the test ends.

// A failed `unwrap` in a test is a test failure with a backtrace, which is all
// a test needs; the workspace's `unwrap_used` lint is for library code.
#![allow(clippy::unwrap_used)]

mod common;
mod concurrency;
mod conformance;
mod connection;
