//! The user-facing store protocol shared by [`Staged`], [`Live`] and
//! [`Namespaced`].
//!
//! [`Staged`]: crate::Staged
//! [`Live`]: crate::Live
//! [`Namespaced`]: crate::Namespaced

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::error::{BoxError, Result};
use crate::object::ObjectId;
use crate::versioned::{MergeResult, OnConflict};

/// A merge function on decoded values: `(old, ours, theirs)`, each `None`
/// where the key is absent on that side, to the merged value.
pub type ValueMergeFn<V> =
    Arc<dyn Fn(Option<&V>, Option<&V>, Option<&V>) -> Result<V, BoxError> + Send + Sync>;

/// Wraps a closure as a [`ValueMergeFn`].
pub fn value_merge_fn<V, F>(f: F) -> ValueMergeFn<V>
where
    F: Fn(Option<&V>, Option<&V>, Option<&V>) -> Result<V, BoxError> + Send + Sync + 'static,
{
    Arc::new(f)
}

/// Decoded-value counter: `ours + theirs - old`, a missing side counting as zero.
pub fn value_counter<V>() -> ValueMergeFn<V>
where
    V: Clone
        + Default
        + std::ops::Add<Output = V>
        + std::ops::Sub<Output = V>
        + Send
        + Sync
        + 'static,
{
    value_merge_fn(|old: Option<&V>, ours: Option<&V>, theirs: Option<&V>| {
        let get = |side: Option<&V>| side.cloned().unwrap_or_default();
        Ok(get(ours) + get(theirs) - get(old))
    })
}

/// Decoded-value last-writer-wins: the other side's value (the head that
/// committed first); a side that removed the key gives the default value.
pub fn value_last_writer_wins<V: Clone + Default + Send + Sync + 'static>() -> ValueMergeFn<V> {
    value_merge_fn(|_old: Option<&V>, _ours: Option<&V>, theirs: Option<&V>| {
        Ok(theirs.cloned().unwrap_or_default())
    })
}

/// Options for committing a store's staged changes.
pub struct StoreCommitOptions<V> {
    /// What to do on a conflict or a lost race.
    pub on_conflict: OnConflict,
    /// Merge functions for this commit, over the registered ones.
    pub merge_fns: HashMap<String, ValueMergeFn<V>>,
    /// The fallback merge function for this commit, over the registered one.
    pub default_merge: Option<ValueMergeFn<V>>,
    /// A JSON object to store with the commit.
    pub info: Option<serde_json::Value>,
}

impl<V> Default for StoreCommitOptions<V> {
    fn default() -> Self {
        StoreCommitOptions {
            on_conflict: OnConflict::Raise,
            merge_fns: HashMap::new(),
            default_merge: None,
            info: None,
        }
    }
}

impl<V> Clone for StoreCommitOptions<V> {
    fn clone(&self) -> Self {
        StoreCommitOptions {
            on_conflict: self.on_conflict,
            merge_fns: self.merge_fns.clone(),
            default_merge: self.default_merge.clone(),
            info: self.info.clone(),
        }
    }
}

impl<V> fmt::Debug for StoreCommitOptions<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreCommitOptions")
            .field("on_conflict", &self.on_conflict)
            .field("merge_fns", &self.merge_fns.keys().collect::<Vec<_>>())
            .field("default_merge", &self.default_merge.is_some())
            .field("info", &self.info)
            .finish()
    }
}

impl<V> StoreCommitOptions<V> {
    /// Default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets what happens on a conflict or a lost race.
    #[must_use]
    pub fn on_conflict(mut self, on_conflict: OnConflict) -> Self {
        self.on_conflict = on_conflict;
        self
    }

    /// Adds a merge function for one key, for this commit only.
    #[must_use]
    pub fn merge_fn(mut self, key: impl Into<String>, merge: ValueMergeFn<V>) -> Self {
        self.merge_fns.insert(key.into(), merge);
        self
    }

    /// Sets the fallback merge function for this commit only.
    #[must_use]
    pub fn default_merge(mut self, merge: ValueMergeFn<V>) -> Self {
        self.default_merge = Some(merge);
        self
    }

    /// Stores a JSON object with the commit.
    #[must_use]
    pub fn info(mut self, info: serde_json::Value) -> Self {
        self.info = Some(info);
        self
    }
}

/// A dict with commit semantics: the protocol every store implements.
///
/// Handles are cheap to clone and share their state, so methods take `&self`.
/// Versioning operations on a store without versions ([`Live`](crate::Live))
/// return [`Error::Unsupported`](crate::Error::Unsupported).
pub trait Store: Send + Sync {
    /// The values the store holds.
    type Value: Clone + Send + Sync + 'static;

    /// The value of `key`, if present.
    ///
    /// # Errors
    /// A backend or decoding failure.
    fn get(&self, key: &str) -> Result<Option<Self::Value>>;

    /// The present keys among `keys`, with their values.
    ///
    /// # Errors
    /// As [`Store::get`].
    fn get_many(&self, keys: &[&str]) -> Result<Vec<(String, Self::Value)>> {
        let mut found = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(value) = self.get(key)? {
                found.push(((*key).to_owned(), value));
            }
        }
        Ok(found)
    }

    /// The keys starting with `prefix`, in ascending order.
    ///
    /// # Errors
    /// A backend failure.
    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>>;

    /// Every key, in ascending order.
    ///
    /// # Errors
    /// A backend failure.
    fn keys(&self) -> Result<Vec<String>> {
        self.keys_with_prefix("")
    }

    /// Whether `key` is present.
    ///
    /// # Errors
    /// A backend failure.
    fn contains(&self, key: &str) -> Result<bool>;

    /// The number of keys.
    ///
    /// # Errors
    /// A backend failure.
    fn len(&self) -> Result<usize>;

    /// Whether the store holds no keys.
    ///
    /// # Errors
    /// A backend failure.
    fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Sets `key` to `value`.
    ///
    /// # Errors
    /// An invalid key.
    fn set(&self, key: &str, value: Self::Value) -> Result<()>;

    /// Removes `key`; returns whether it was present.
    ///
    /// # Errors
    /// An invalid key or a backend failure.
    fn remove(&self, key: &str) -> Result<bool>;

    /// Flushes the staged changes as one atomic commit.
    ///
    /// # Errors
    /// Merge conflicts, lost races, encoding or backend failures.
    fn commit(&self, options: &StoreCommitOptions<Self::Value>) -> Result<MergeResult>;

    /// Discards the staged changes.
    ///
    /// # Errors
    /// [`Error::Unsupported`](crate::Error::Unsupported) on a store without versions.
    fn reset(&self) -> Result<()>;

    /// Forks the current commit onto a new branch and returns a store on it.
    ///
    /// # Errors
    /// An existing or invalid name, or a store without versions.
    fn create_branch(&self, name: &str) -> Result<Self>
    where
        Self: Sized;

    /// A store at `commit` (on this branch or `branch`); `None` if there is no such commit.
    ///
    /// # Errors
    /// An invalid branch name, or a store without versions.
    fn checkout(&self, commit: ObjectId, branch: Option<&str>) -> Result<Option<Self>>
    where
        Self: Sized;

    /// Every branch name, sorted.
    ///
    /// # Errors
    /// A backend failure, or a store without versions.
    fn list_branches(&self) -> Result<Vec<String>>;

    /// Registers a merge function for `key`.
    ///
    /// # Errors
    /// A store without versions.
    fn set_merge_fn(&self, key: &str, merge: ValueMergeFn<Self::Value>) -> Result<()>;

    /// Registers the fallback merge function.
    ///
    /// # Errors
    /// A store without versions.
    fn set_default_merge(&self, merge: ValueMergeFn<Self::Value>) -> Result<()>;

    /// The commit reads come from.
    ///
    /// # Errors
    /// A store without versions.
    fn current_commit(&self) -> Result<ObjectId>;

    /// The head the store last synchronised with.
    ///
    /// # Errors
    /// A store without versions.
    fn base_commit(&self) -> Result<ObjectId>;

    /// The result of the last commit.
    ///
    /// # Errors
    /// A store without versions.
    fn last_merge_result(&self) -> Result<Option<MergeResult>>;

    /// The namespace path this view is confined to, if any.
    fn namespace(&self) -> Option<&str> {
        None
    }
}
