//! kvit-redis: a [`kvit::KvStore`] on Redis, so threads, processes and
//! machines can share one versioned kvit store.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//!
//! use kvit::{ChangeSet, CommitOptions, KvStore, Versioned};
//! use kvit_redis::RedisOptions;
//!
//! # fn main() -> kvit::Result<()> {
//! # let Ok(url) = std::env::var("KVIT_REDIS_URL") else { return Ok(()) };
//! # let prefix = format!("kvit-doc-example:{}:", std::process::id());
//! // Several stores can share one Redis: each sees only the keys under its prefix.
//! let redis = RedisOptions::new(url).prefix(prefix).open()?;
//! let mut store = Versioned::open(Arc::new(redis.clone()))?;
//!
//! let mut changes = ChangeSet::new();
//! changes.set("greeting", b"hello".to_vec())?;
//! store.commit(&changes, &CommitOptions::new())?;
//! assert_eq!(store.get("greeting")?, Some(b"hello".to_vec()));
//! # redis.clear()?;
//! # Ok(())
//! # }
//! ```
//!
//! # Design
//!
//! kvit's only mutable state is a branch head moved by [`kvit::KvStore::cas`], so the
//! one thing this backend must get right is that `cas` is atomic *on the
//! server*: it is a single Lua script (sent by hash, `EVALSHA`) that compares
//! and sets, never a read followed by a write from the client. Every other
//! operation is one command in one round trip (`GET`, `SET`, `UNLINK`,
//! `EXISTS`, `MGET`, `MSET`), except prefix scans, which walk the key space
//! with `SCAN MATCH` (never `KEYS`) and fetch values with `MGET` in batches.
//!
//! A [`Redis`] handle is a cheap `Arc` clone holding a small pool of
//! connections: a thread takes one for each operation and gives it back, so
//! any number of threads can share a handle. A connection that fails is
//! dropped and replaced; see [`Redis`] for which operations are retried.
//!
//! Durability is the server's: see `docs/deployment.md` for the Redis
//! settings under which an acknowledged commit is never lost.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod error;
mod options;
mod pattern;
mod pool;
mod store;

pub use options::RedisOptions;
pub use store::Redis;
