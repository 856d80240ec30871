//! Integration tests: one binary, one module per area.

// A failed `unwrap` in a test is a test failure with a backtrace, which is all
// a test needs; the workspace's `unwrap_used` lint is for library code.
#![allow(clippy::unwrap_used)]

mod backends;
mod bad_input;
mod corruption;
mod gc;
mod round_trips;
mod store;
mod tree;
mod versioned;
