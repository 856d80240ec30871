//! kvit: a versioned key-value store — a dict you can commit, branch, merge
//! and roll back, shared by many threads and processes.
//!
//! # Quickstart
//!
//! ```
//! use kvit::{value_counter, Json, Memory, Staged, Store, StoreCommitOptions, Versioned};
//! use std::sync::Arc;
//!
//! # fn main() -> kvit::Result<()> {
//! let backend = Arc::new(Memory::new());
//! let alice = Staged::new(Versioned::open(backend.clone())?, Json::<i64>::new());
//! let bob = Staged::new(Versioned::open(backend.clone())?, Json::<i64>::new());
//! bob.set_merge_fn("visits", value_counter())?;
//!
//! alice.set("visits", 1)?;
//! alice.commit(&StoreCommitOptions::new())?;      // fast-forward: the head had not moved
//!
//! bob.set("visits", 1)?;                          // bob started before alice's commit
//! let result = bob.commit(&StoreCommitOptions::new())?;
//! assert_eq!(result.strategy.as_str(), "three_way");
//! assert_eq!(bob.get("visits")?, Some(2));        // both increments kept
//! # Ok(())
//! # }
//! ```
//!
//! # Design
//!
//! Layers, each knowing only the one below: the store layer ([`Staged`],
//! [`Live`], [`Namespaced`], with [`Codec`]s) over the versioned engine
//! ([`Versioned`]: commits, branch heads, three-way merge) over immutable
//! content-addressed objects and the key map ([`Tree`], a prolly tree) over a
//! byte backend ([`KvStore`]: [`Memory`], [`Disk`]).
//!
//! The main decision: **the only mutable state is a branch head**, one
//! backend key moved by compare-and-swap. A commit writes every object it
//! needs first and then swaps the head, so a crash at any point leaves every
//! head on a complete commit, and concurrency needs no locks: a writer that
//! loses the swap merges with the winner and tries once more. The key map is
//! history-independent, so equal contents have equal roots and a commit
//! rewrites only the paths to the keys it changed.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

/// A named failpoint (tikv's fail-rs) with the `failpoints` feature, and no
/// code at all without it, so release builds carry none. A point configured
/// with `return` makes the enclosing function fail with a backend error that
/// names it, as a dead disk would at that step. The names are listed in
/// [`FAILPOINTS`] and their places in `docs/reliability.md`.
macro_rules! failpoint {
    ($name:literal) => {
        #[cfg(feature = "failpoints")]
        fail::fail_point!($name, |_| Err($crate::error::Error::backend(
            "failpoint",
            concat!("injected at ", $name)
        )));
    };
}

/// Every named failpoint, in the order a commit and a collection reach them
/// (`docs/reliability.md` says where each one sits).
#[cfg(feature = "failpoints")]
pub const FAILPOINTS: &[&str] = &[
    "commit::after-blobs",
    "commit::after-nodes",
    "commit::after-commit-object",
    "commit::before-head-cas",
    "commit::after-head-cas",
    "merge::before-head-cas",
    "merge::after-head-cas",
    "gc::mark",
    "gc::sweep",
    "gc::rebase-before-head",
];

mod backend;
mod builder;
mod codec;
mod commit;
mod error;
mod format;
mod gc;
mod live;
mod merge;
mod namespaced;
mod object;
mod refs;
mod staged;
mod store;
mod tree;
mod verify;
mod versioned;

pub use backend::{
    prefix_upper_bound, Cached, Composite, Disk, DiskOptions, DiskPragmas, Durability, KvStore,
    Memory,
};
pub use builder::{store, Storage, StoreBuilder};
pub use codec::{Codec, Json, MessagePack, Raw};
pub use commit::Commit;
pub use error::{BoxError, Error, MergeConflict, Result};
pub use format::{FORMAT_KEY, FORMAT_VERSION};
pub use gc::{
    clean_orphans, is_system_key, GcOptions, GcVersioned, RebaseResult, DEFAULT_ORPHAN_GRACE,
};
pub use live::Live;
pub use merge::{counter, last_writer_wins, merge_fn, MergeFn};
pub use namespaced::Namespaced;
pub use object::{ObjectId, ParseObjectIdError, WriteBatch, RESTAMP_AFTER};
pub use refs::{BranchName, Expected, MAX_BRANCH_NAME_LEN};
pub use staged::{Engine, Staged, VALUE_CACHE_LIMIT};
pub use store::{
    value_counter, value_last_writer_wins, value_merge_fn, Store, StoreCommitOptions, ValueMergeFn,
};
pub use tree::{Change, Edits, Range, Tree, ValueRef};
pub use verify::{verify, VerifyReport};
pub use versioned::{
    validate_key, ChangeSet, CommitOptions, DiffResult, MergeResult, OnConflict, OpenOptions,
    Strategy, Versioned, MAX_KEY_LEN, MAX_VALUE_LEN,
};

// The README's Rust example, compiled and run as a doctest so it cannot rot.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
struct ReadmeDoctests;

/// Entry points for the fuzz targets (`fuzz/`), behind the `fuzzing`
/// feature; not part of the supported API.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

/// Test support: the backend conformance suite and instrumented backends.
#[cfg(feature = "testing")]
pub mod testing {
    pub use crate::backend::testing::{CallCounts, Counting, Failing};
    pub use crate::backend::{conformance, counter_race};
}
