//! A bounded in-process cache of immutable objects in front of any backend.

use std::sync::Arc;

use super::KvStore;
use crate::error::Result;
use crate::object::is_object_key;

#[derive(Clone)]
struct ByteWeighter;

impl quick_cache::Weighter<String, Arc<[u8]>> for ByteWeighter {
    fn weight(&self, key: &String, value: &Arc<[u8]>) -> u64 {
        (key.len() + value.len() + 32) as u64
    }
}

/// Caches object reads and writes of the wrapped backend in memory, up to a
/// byte budget; branch heads are never cached. Put it in front of a remote
/// backend so repeated reads of the same commit, nodes and values stay local.
pub struct Cached<S> {
    inner: S,
    cache: quick_cache::sync::Cache<String, Arc<[u8]>, ByteWeighter>,
}

impl<S: KvStore> Cached<S> {
    /// Wraps `inner` with a cache of about `capacity_bytes`.
    pub fn new(inner: S, capacity_bytes: u64) -> Self {
        let items = usize::try_from(capacity_bytes / 1024)
            .unwrap_or(usize::MAX)
            .max(16);
        Cached {
            inner,
            cache: quick_cache::sync::Cache::with_weighter(
                items,
                capacity_bytes.max(1),
                ByteWeighter,
            ),
        }
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn remember(&self, key: &str, value: &[u8]) {
        if is_object_key(key) {
            self.cache.insert(key.to_owned(), Arc::from(value));
        }
    }
}

impl<S: KvStore> KvStore for Cached<S> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        if let Some(value) = is_object_key(key).then(|| self.cache.get(key)).flatten() {
            return Ok(Some(value.to_vec()));
        }
        let value = self.inner.get(key)?;
        if let Some(value) = &value {
            self.remember(key, value);
        }
        Ok(value)
    }

    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        let mut values: Vec<Option<Vec<u8>>> = Vec::with_capacity(keys.len());
        let mut missing: Vec<usize> = Vec::new();
        for (index, key) in keys.iter().enumerate() {
            if let Some(value) = is_object_key(key).then(|| self.cache.get(*key)).flatten() {
                values.push(Some(value.to_vec()));
            } else {
                values.push(None);
                missing.push(index);
            }
        }
        if missing.is_empty() {
            return Ok(values);
        }
        let wanted: Vec<&str> = missing.iter().map(|&index| keys[index]).collect();
        for (index, value) in missing.into_iter().zip(self.inner.get_many(&wanted)?) {
            if let Some(value) = &value {
                self.remember(keys[index], value);
            }
            values[index] = value;
        }
        Ok(values)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.inner.set(key, value)?;
        self.remember(key, value);
        Ok(())
    }

    fn set_many(&self, entries: &[(&str, &[u8])]) -> Result<()> {
        self.inner.set_many(entries)?;
        for (key, value) in entries {
            self.remember(key, value);
        }
        Ok(())
    }

    fn remove(&self, key: &str) -> Result<()> {
        // Forget first: a failed removal must not leave a copy the backend lost.
        self.cache.remove(key);
        self.inner.remove(key)
    }

    fn remove_many(&self, keys: &[&str]) -> Result<()> {
        for key in keys {
            self.cache.remove(*key);
        }
        self.inner.remove_many(keys)
    }

    fn remove_if_unchanged(&self, entries: &[(&str, &[u8])]) -> Result<usize> {
        for (key, _) in entries {
            self.cache.remove(*key);
        }
        self.inner.remove_if_unchanged(entries)
    }

    fn cas(&self, key: &str, value: &[u8], expected: Option<&[u8]>) -> Result<bool> {
        self.cache.remove(key);
        self.inner.cas(key, value, expected)
    }

    fn contains(&self, key: &str) -> Result<bool> {
        if is_object_key(key) && self.cache.get(key).is_some() {
            return Ok(true);
        }
        self.inner.contains(key)
    }

    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        self.inner.keys_with_prefix(prefix)
    }

    fn scan_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.inner.scan_prefix(prefix)
    }

    fn clear(&self) -> Result<()> {
        self.cache.clear();
        self.inner.clear()
    }
}
