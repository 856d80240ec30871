//! Key-prefixed views over any store.

use crate::error::{Error, Result};
use crate::object::ObjectId;
use crate::store::{Store, StoreCommitOptions, ValueMergeFn};
use crate::versioned::MergeResult;

/// A view of a [`Store`] confined to the keys under `namespace/`: every key
/// is prefixed on the way in and unprefixed on the way out. Nest views by
/// wrapping one in another (`agent` then `worker` gives `agent/worker`).
/// Commits, resets and branching act on the whole underlying store.
#[derive(Clone)]
pub struct Namespaced<S> {
    inner: S,
    name: String,
    path: String,
    prefix: String,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Namespaced<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespaced")
            .field("namespace", &self.path)
            .field("store", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S: Store> Namespaced<S> {
    /// A view of `store` under `name`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `name` is empty or contains `/`.
    pub fn new(store: S, name: &str) -> Result<Self> {
        if name.is_empty() {
            return Err(Error::InvalidArgument(
                "namespace names must not be empty".into(),
            ));
        }
        if name.contains('/') {
            return Err(Error::InvalidArgument(format!(
                "namespace {name:?} contains '/'; nest namespaces by wrapping one in another"
            )));
        }
        if name.contains('\0') {
            return Err(Error::InvalidArgument(format!(
                "namespace {name:?} contains NUL"
            )));
        }
        let path = match store.namespace() {
            Some(parent) => format!("{parent}/{name}"),
            None => name.to_owned(),
        };
        Ok(Namespaced {
            inner: store,
            name: name.to_owned(),
            prefix: format!("{name}/"),
            path,
        })
    }

    /// The full namespace path, e.g. `agent/worker`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn full(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn strip<'a>(&self, key: &'a str) -> Option<&'a str> {
        key.strip_prefix(&self.prefix)
    }

    /// Every key below this namespace, nested ones included, unprefixed.
    ///
    /// # Errors
    /// A backend failure.
    pub fn descendant_keys(&self) -> Result<Vec<String>> {
        self.keys_with_prefix("")
    }

    fn rewrap(&self, inner: S) -> Self {
        Namespaced {
            inner,
            name: self.name.clone(),
            path: self.path.clone(),
            prefix: self.prefix.clone(),
        }
    }
}

impl<S: Store> Store for Namespaced<S> {
    type Value = S::Value;

    fn get(&self, key: &str) -> Result<Option<S::Value>> {
        self.inner.get(&self.full(key))
    }

    fn get_many(&self, keys: &[&str]) -> Result<Vec<(String, S::Value)>> {
        let full: Vec<String> = keys.iter().map(|key| self.full(key)).collect();
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        Ok(self
            .inner
            .get_many(&refs)?
            .into_iter()
            .filter_map(|(key, value)| Some((self.strip(&key)?.to_owned(), value)))
            .collect())
    }

    /// Every key below this namespace starting with `prefix`, nested ones
    /// included, unprefixed (a range scan of the underlying store).
    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self
            .inner
            .keys_with_prefix(&self.full(prefix))?
            .iter()
            .filter_map(|key| self.strip(key))
            .map(str::to_owned)
            .collect())
    }

    /// Direct children only: keys with no further `/` below the namespace.
    /// [`Namespaced::descendant_keys`] lists the nested ones too.
    fn keys(&self) -> Result<Vec<String>> {
        let mut keys = self.keys_with_prefix("")?;
        keys.retain(|key| !key.contains('/'));
        Ok(keys)
    }

    fn contains(&self, key: &str) -> Result<bool> {
        self.inner.contains(&self.full(key))
    }

    fn len(&self) -> Result<usize> {
        Ok(self.keys()?.len())
    }

    fn set(&self, key: &str, value: S::Value) -> Result<()> {
        self.inner.set(&self.full(key), value)
    }

    fn remove(&self, key: &str) -> Result<bool> {
        self.inner.remove(&self.full(key))
    }

    /// Commits the whole underlying store; per-call merge functions name keys
    /// in this namespace.
    fn commit(&self, options: &StoreCommitOptions<S::Value>) -> Result<MergeResult> {
        let mut options = options.clone();
        options.merge_fns = options
            .merge_fns
            .into_iter()
            .map(|(key, merge)| (self.full(&key), merge))
            .collect();
        self.inner.commit(&options)
    }

    fn reset(&self) -> Result<()> {
        self.inner.reset()
    }

    fn create_branch(&self, name: &str) -> Result<Self> {
        Ok(self.rewrap(self.inner.create_branch(name)?))
    }

    fn checkout(&self, commit: ObjectId, branch: Option<&str>) -> Result<Option<Self>> {
        Ok(self
            .inner
            .checkout(commit, branch)?
            .map(|inner| self.rewrap(inner)))
    }

    fn list_branches(&self) -> Result<Vec<String>> {
        self.inner.list_branches()
    }

    fn set_merge_fn(&self, key: &str, merge: ValueMergeFn<S::Value>) -> Result<()> {
        self.inner.set_merge_fn(&self.full(key), merge)
    }

    /// The default applies store-wide, not only to this namespace.
    fn set_default_merge(&self, merge: ValueMergeFn<S::Value>) -> Result<()> {
        self.inner.set_default_merge(merge)
    }

    fn current_commit(&self) -> Result<ObjectId> {
        self.inner.current_commit()
    }

    fn base_commit(&self) -> Result<ObjectId> {
        self.inner.base_commit()
    }

    fn last_merge_result(&self) -> Result<Option<MergeResult>> {
        self.inner.last_merge_result()
    }

    fn namespace(&self) -> Option<&str> {
        Some(&self.path)
    }
}
