//! A store without versions: writes take effect at once.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::error::{Error, Result};
use crate::object::ObjectId;
use crate::store::{Store, StoreCommitOptions, ValueMergeFn};
use crate::versioned::{validate_key, MergeResult};

/// An in-memory map with the [`Store`] protocol and no versioning: every
/// versioning operation returns [`Error::Unsupported`]. Clones share the map.
pub struct Live<V> {
    map: Arc<RwLock<BTreeMap<String, V>>>,
}

impl<V> Clone for Live<V> {
    fn clone(&self) -> Self {
        Live {
            map: self.map.clone(),
        }
    }
}

impl<V> Default for Live<V> {
    fn default() -> Self {
        Live {
            map: Arc::default(),
        }
    }
}

impl<V> std::fmt::Debug for Live<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("keys", &self.read().len())
            .finish()
    }
}

impl<V> Live<V> {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    // Every mutation is one BTreeMap call, so a poisoned lock holds a whole map.
    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<String, V>> {
        self.map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<String, V>> {
        self.map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn unsupported<T>(operation: &'static str) -> Result<T> {
    Err(Error::Unsupported {
        operation,
        store: "Live (a store without versions)",
    })
}

impl<V: Clone + Send + Sync + 'static> Store for Live<V> {
    type Value = V;

    fn get(&self, key: &str) -> Result<Option<V>> {
        Ok(self.read().get(key).cloned())
    }

    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let map = self.read();
        Ok(map
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, _)| key.clone())
            .collect())
    }

    fn contains(&self, key: &str) -> Result<bool> {
        Ok(self.read().contains_key(key))
    }

    fn len(&self) -> Result<usize> {
        Ok(self.read().len())
    }

    fn set(&self, key: &str, value: V) -> Result<()> {
        validate_key(key)?;
        self.write().insert(key.to_owned(), value);
        Ok(())
    }

    fn remove(&self, key: &str) -> Result<bool> {
        Ok(self.write().remove(key).is_some())
    }

    fn commit(&self, _options: &StoreCommitOptions<V>) -> Result<MergeResult> {
        unsupported("commit")
    }

    fn reset(&self) -> Result<()> {
        unsupported("reset")
    }

    fn create_branch(&self, _name: &str) -> Result<Self> {
        unsupported("create_branch")
    }

    fn checkout(&self, _commit: ObjectId, _branch: Option<&str>) -> Result<Option<Self>> {
        unsupported("checkout")
    }

    fn list_branches(&self) -> Result<Vec<String>> {
        unsupported("list_branches")
    }

    fn set_merge_fn(&self, _key: &str, _merge: ValueMergeFn<V>) -> Result<()> {
        unsupported("set_merge_fn")
    }

    fn set_default_merge(&self, _merge: ValueMergeFn<V>) -> Result<()> {
        unsupported("set_default_merge")
    }

    fn current_commit(&self) -> Result<ObjectId> {
        unsupported("current_commit")
    }

    fn base_commit(&self) -> Result<ObjectId> {
        unsupported("base_commit")
    }

    fn last_merge_result(&self) -> Result<Option<MergeResult>> {
        unsupported("last_merge_result")
    }
}
