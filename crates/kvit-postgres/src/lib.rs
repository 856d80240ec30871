//! kvit-postgres: a kvit byte backend ([`KvStore`](kvit::KvStore)) on
//! PostgreSQL, so many processes on many machines can share one versioned
//! store.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use kvit::{ChangeSet, CommitOptions, Versioned};
//! use kvit_postgres::Postgres;
//!
//! # fn main() -> kvit::Result<()> {
//! let backend = Postgres::open("postgres://kvit:secret@db.internal:5432/app")?;
//! let mut store = Versioned::open(Arc::new(backend))?;
//! let mut changes = ChangeSet::new();
//! changes.set("greeting", b"hello".to_vec())?;
//! store.commit(&changes, &CommitOptions::new())?;
//! assert_eq!(store.get("greeting")?, Some(b"hello".to_vec()));
//! # Ok(())
//! # }
//! ```
//!
//! # Design
//!
//! A store is one table, `(key TEXT COLLATE "C" PRIMARY KEY, value BYTEA NOT
//! NULL)`, created on first use. The `C` collation makes the primary key's
//! order the UTF-8 byte order every kvit backend promises, so prefix scans are
//! range scans on the key's index (never `LIKE`). Every operation is one SQL
//! statement on a pooled connection with the statement prepared once per
//! connection, so one round trip: batches are single statements over arrays,
//! and `cas` — the only operation that must be atomic across writers, since
//! it moves branch heads — is one conditional `INSERT ... ON CONFLICT DO
//! NOTHING` or `UPDATE ... WHERE value = expected`, whose affected-row count
//! says whether it won.
//!
//! Durability is the server's: a statement returns once PostgreSQL has
//! committed it under the server's `synchronous_commit` setting. See
//! `docs/deployment.md` for what to configure so an acknowledged commit is
//! never lost.
//!
//! TLS is negotiated as the URL's `sslmode` says (`prefer` by default), with
//! the system's OpenSSL: certificates are verified against its trust store
//! (`SSL_CERT_FILE` points it elsewhere).
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod error;
mod pool;
mod store;
mod table;

pub use store::{Postgres, PostgresOptions, DEFAULT_CONNECT_TIMEOUT, DEFAULT_POOL_SIZE};
pub use table::TableName;
