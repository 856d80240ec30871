//! The in-memory backend.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::{prefix_upper_bound, KvStore};
use crate::error::Result;

/// An in-memory backend: fast, no persistence, every operation thread-safe.
///
/// Cloning gives another handle on the same map.
#[derive(Clone, Default)]
pub struct Memory {
    map: Arc<RwLock<BTreeMap<String, Vec<u8>>>>,
}

impl Memory {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of keys held.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the store holds no keys.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// A copy of the whole map, for debugging and tests.
    pub fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        self.read().clone()
    }

    /// The total size of keys and values held, in bytes.
    pub fn size_bytes(&self) -> usize {
        self.read().iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    // A panic while the lock is held cannot leave the map half-updated (every
    // mutation is a single BTreeMap call), so a poisoned lock is still usable.
    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn range<'a>(
        map: &'a BTreeMap<String, Vec<u8>>,
        prefix: &str,
    ) -> impl Iterator<Item = (&'a String, &'a Vec<u8>)> {
        let upper = prefix_upper_bound(prefix);
        let end = match &upper {
            Some(bound) => Bound::Excluded(bound.as_str()),
            None => Bound::Unbounded,
        };
        map.range::<str, _>((Bound::Included(prefix), end))
    }
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory").field("keys", &self.len()).finish()
    }
}

impl KvStore for Memory {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.read().get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.write().insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn remove(&self, key: &str) -> Result<()> {
        self.write().remove(key);
        Ok(())
    }

    fn cas(&self, key: &str, value: &[u8], expected: Option<&[u8]>) -> Result<bool> {
        let mut map = self.write();
        if map.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        map.insert(key.to_owned(), value.to_vec());
        Ok(true)
    }

    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(Self::range(&self.read(), prefix)
            .map(|(k, _)| k.clone())
            .collect())
    }

    fn scan_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        Ok(Self::range(&self.read(), prefix)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        let map = self.read();
        Ok(keys.iter().map(|key| map.get(*key).cloned()).collect())
    }

    fn set_many(&self, entries: &[(&str, &[u8])]) -> Result<()> {
        let mut map = self.write();
        for (key, value) in entries {
            map.insert((*key).to_owned(), value.to_vec());
        }
        Ok(())
    }

    fn remove_many(&self, keys: &[&str]) -> Result<()> {
        let mut map = self.write();
        for key in keys {
            map.remove(*key);
        }
        Ok(())
    }

    fn remove_if_unchanged(&self, entries: &[(&str, &[u8])]) -> Result<usize> {
        let mut map = self.write();
        let mut removed = 0;
        for (key, expected) in entries {
            if map.get(*key).map(Vec::as_slice) == Some(*expected) {
                map.remove(*key);
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn contains(&self, key: &str) -> Result<bool> {
        Ok(self.read().contains_key(key))
    }

    fn clear(&self) -> Result<()> {
        self.write().clear();
        Ok(())
    }
}
