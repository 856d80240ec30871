//! kvit: a versioned key-value store.
#![deny(missing_docs)]

mod backend;
mod codec;
mod commit;
mod error;
mod format;
mod live;
mod merge;
mod namespaced;
mod object;
mod refs;
mod staged;
mod store;
mod tree;
mod versioned;

pub use backend::{Disk, DiskOptions, Durability, KvStore, Memory};
pub use codec::{Codec, Json, MessagePack, Raw};
pub use commit::Commit;
pub use live::Live;
pub use namespaced::Namespaced;
pub use staged::Staged;
pub use store::{value_counter, value_last_writer_wins, value_merge_fn, Store, StoreCommitOptions, ValueMergeFn};
pub use error::{BoxError, Error, MergeConflict, Result};
pub use format::{FORMAT_KEY, FORMAT_VERSION};
pub use merge::{counter, last_writer_wins, merge_fn, MergeFn};
pub use object::{ObjectId, ParseObjectIdError, WriteBatch};
pub use refs::{BranchName, Expected, MAX_BRANCH_NAME_LEN};
pub use tree::{Change, Edits, Range, Tree, ValueRef};
pub use versioned::{
    validate_key, ChangeSet, CommitOptions, DiffResult, MergeResult, OnConflict, OpenOptions,
    Strategy, Versioned, MAX_KEY_LEN, MAX_VALUE_LEN,
};

/// Test support: the backend conformance suite and instrumented backends.
#[cfg(feature = "testing")]
pub mod testing {
    pub use crate::backend::conformance;
    pub use crate::backend::testing::{CallCounts, Counting, Failing};
}
