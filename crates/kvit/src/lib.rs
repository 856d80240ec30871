//! kvit: a versioned key-value store.
#![deny(missing_docs)]

mod backend;
mod error;
mod format;
mod object;
mod tree;

pub use backend::{Disk, DiskOptions, Durability, KvStore, Memory};
pub use error::{BoxError, Error, Result};
pub use format::{FORMAT_KEY, FORMAT_VERSION};
pub use object::{ObjectId, ParseObjectIdError, WriteBatch};
pub use tree::{Change, Edits, Range, Tree, ValueRef};

/// Test support: the backend conformance suite and instrumented backends.
#[cfg(feature = "testing")]
pub mod testing {
    pub use crate::backend::conformance;
    pub use crate::backend::testing::{CallCounts, Counting, Failing};
}
