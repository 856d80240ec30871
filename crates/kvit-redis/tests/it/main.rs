//! kvit-redis against a real server. Each test reads the server's URL from
//! `KVIT_REDIS_URL` (`make test` starts a loopback server and sets it); where
//! it is unset, a test says it was skipped and passes. Every test works under
//! a key prefix of its own, so tests run in parallel, and removes its keys at
//! the end.
//!
//! A few tests start a private `redis-server` of their own (for TLS, a
//! password, a restart, or exact command counts); they are skipped where that
//! binary is not installed.

#![allow(clippy::unwrap_used)]

mod conformance;
mod errors;
mod prefixes;
mod private_server;
mod processes;
mod replication;
mod support;
#[cfg(feature = "tls")]
mod tls;
