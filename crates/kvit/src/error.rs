//! The crate's one error type.

use std::fmt;

use crate::object::ObjectId;

/// A boxed error from outside kvit (a backend driver, a merge function, a codec).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in kvit.
///
/// Expected outcomes of optimistic concurrency (a lost race, a merge conflict)
/// are variants too, so callers can match on them; each carries what a caller
/// needs to retry or report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The storage backend failed (I/O, a driver error, a lost connection).
    #[error("backend error during {operation}: {source}")]
    Backend {
        /// What kvit asked the backend to do.
        operation: &'static str,
        /// The backend's own error.
        #[source]
        source: BoxError,
    },

    /// An object the store needs is not there.
    #[error("object {kind} {id} is missing from the store")]
    MissingObject {
        /// What the object is ("tree node", "value blob", "commit").
        kind: &'static str,
        /// Its content address.
        id: ObjectId,
    },

    /// An object was read but its bytes do not match its address or do not decode.
    #[error("object {kind} {id} is corrupt: {reason}")]
    CorruptObject {
        /// What the object is ("tree node", "value blob", "commit").
        kind: &'static str,
        /// Its content address.
        id: ObjectId,
        /// What is wrong with it.
        reason: String,
    },

    /// A store was written by a format version this build does not understand.
    #[error("unsupported store format: {found} (this build reads format {supported})")]
    UnsupportedFormat {
        /// The version marker found in the store.
        found: String,
        /// The version this build reads and writes.
        supported: u32,
    },

    /// A store location cannot be opened as a kvit store.
    #[error("cannot open store at {path}: {reason}")]
    InvalidStore {
        /// The location given.
        path: String,
        /// Why it cannot be used.
        reason: String,
    },

    /// A key is not acceptable to kvit.
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey {
        /// The key as given.
        key: String,
        /// Why it is refused.
        reason: &'static str,
    },

    /// A value is larger than kvit accepts.
    #[error("value for key {key:?} is {len} bytes, above the limit of {limit}")]
    ValueTooLarge {
        /// The key being written.
        key: String,
        /// The value's length.
        len: usize,
        /// The limit.
        limit: usize,
    },

    /// An argument is out of its allowed range or otherwise unusable.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A branch name breaks the naming rules.
    #[error("invalid branch name {name:?}: {reason}")]
    InvalidBranchName {
        /// The name as given.
        name: String,
        /// The rule it breaks.
        reason: &'static str,
    },

    /// A branch was to be created but already exists.
    #[error("branch {0:?} already exists")]
    BranchExists(String),

    /// A branch head holds something that is not a commit id.
    #[error("branch {branch:?} has a corrupt head: {found:?} is not a commit id")]
    CorruptRef {
        /// The branch.
        branch: String,
        /// What the head holds (at most 64 bytes of it).
        found: String,
    },

    /// A commit that was asked for does not exist (the id or id prefix as given).
    #[error("no commit {0}")]
    CommitNotFound(String),

    /// A short commit id matches more than one commit.
    #[error("commit id prefix {prefix:?} is ambiguous: {candidates} commits start with it; give more characters")]
    AmbiguousCommitPrefix {
        /// The prefix as given.
        prefix: String,
        /// How many commits start with it.
        candidates: usize,
    },

    /// Another writer moved the branch head between our read and our swap.
    #[error("branch {branch:?} moved while committing (expected {expected}, found {found}); refresh and retry")]
    Concurrency {
        /// The branch.
        branch: String,
        /// The head we expected, or "no branch".
        expected: String,
        /// The head found, or "no branch".
        found: String,
    },

    /// A three-way merge found keys that no merge function resolved.
    #[error("{0}")]
    MergeConflict(MergeConflict),

    /// The operation is not supported by this kind of store.
    #[error("{operation} is not supported by {store}")]
    Unsupported {
        /// What was asked.
        operation: &'static str,
        /// The store that cannot do it.
        store: &'static str,
    },

    /// A value could not be encoded or decoded by the store's codec.
    #[error("cannot {action} the value of key {key:?}: {source}")]
    Codec {
        /// "encode" or "decode".
        action: &'static str,
        /// The key whose value failed.
        key: String,
        /// The codec's error.
        #[source]
        source: BoxError,
    },

    /// A key that was required is missing.
    #[error("key {0:?} not found")]
    KeyNotFound(String),

    /// A store was used after it was closed; it is never reopened behind
    /// the caller's back.
    #[error("{store} has been closed; open it again to use it")]
    Closed {
        /// The store, as "Disk store at <path>".
        store: String,
    },
}

/// The keys a three-way merge could not resolve.
#[derive(Debug, Default)]
pub struct MergeConflict {
    /// Every key that could not be resolved, in order.
    pub conflicting_keys: std::collections::BTreeSet<String>,
    /// For keys whose merge function failed, its error.
    pub merge_errors: std::collections::BTreeMap<String, BoxError>,
}

impl fmt::Display for MergeConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self
            .conflicting_keys
            .iter()
            .map(String::as_str)
            .take(10)
            .collect();
        write!(
            f,
            "merge conflict on {} key(s): {}",
            self.conflicting_keys.len(),
            keys.join(", ")
        )?;
        if self.conflicting_keys.len() > keys.len() {
            write!(f, ", ...")?;
        }
        for (key, err) in self.merge_errors.iter().take(3) {
            write!(f, "; merge function for {key:?} failed: {err}")?;
        }
        Ok(())
    }
}

impl Error {
    /// Wraps a backend driver's error.
    pub fn backend(operation: &'static str, source: impl Into<BoxError>) -> Self {
        Error::Backend {
            operation,
            source: source.into(),
        }
    }

    pub(crate) fn corrupt(kind: &'static str, id: ObjectId, reason: impl fmt::Display) -> Self {
        Error::CorruptObject {
            kind,
            id,
            reason: reason.to_string(),
        }
    }
}
